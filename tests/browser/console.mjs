// Drives the Stratus web console in Debian's Chromium, as an admin would on a first day:
// log in, tune two settings, build a Basic zone with the Add Zone wizard (a wrong host
// password and a wrong NFS path first, each sending the admin back to its step with the
// input kept), register ISOs and watch them download, visit every page, then launch an
// instance with the Add Instance wizard, see it Running with its address, open its
// console (noVNC) and see iPXE's screen, and stop it; register a password-enabled
// template, edit its permissions, launch from it (the password shown once, a list in
// another tab gaining and losing the row without a reload), reset the password, and
// share it with a project whose wizard then offers it. It saves a screenshot of every page
// it visits into SHOTS (NN-name.png), and the console's screen alone as console-screen.png
// for the Rust side to read.
//
// Run by tests/tests/browser_console.rs, which starts the management server, a simulated
// host, an NFS server and an HTTP server for the ISOs, and passes them in the environment.
// The steps are a list, run in order.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};

const cfg = {
  url: env('STRATUS_URL'),
  password: env('STRATUS_ADMIN_PASSWORD'),
  shots: env('SHOTS', 'target/browser-shots'),
  hostAddress: env('HOST_ADDRESS'),
  hostPassword: env('HOST_PASSWORD'),
  nfsServer: env('NFS_SERVER'),
  primaryPath: env('PRIMARY_PATH'),
  secondaryPath: env('SECONDARY_PATH'),
  primary2Path: env('PRIMARY2_PATH'),
  isoUrl: env('ISO_URL'),
  slowIsoUrl: env('SLOW_ISO_URL', ''),
  templateUrl: env('TEMPLATE_URL'), // a QCOW2 to register as a password-enabled template
  podNet: env('POD_NET'), // e.g. 10.231.170 (the /24 the pod's range comes from)
  guestNet: env('GUEST_NET'), // e.g. 192.168.170 (the /24 of the guests' range)
  chromium: env('CHROMIUM', '/usr/bin/chromium'),
};

fs.mkdirSync(cfg.shots, { recursive: true });
let shotNo = 0;

/** Saves a full-page screenshot named after the step. */
async function shot(page, name) {
  shotNo += 1;
  const file = path.join(cfg.shots, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${file}`);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function text(page, selector) {
  return (await page.locator(selector).first().textContent())?.trim() ?? '';
}

/** Goes to a console page, checks it rendered in the frame, and takes its picture. */
async function visit(page, p, name) {
  const r = await page.goto(cfg.url + p);
  check(r && r.ok(), `${p} answered ${r && r.status()}`);
  check(await page.locator('nav.side').count() === 1, `${p} has the navigation`);
  await shot(page, name);
}

/** Fills the wizard step's inputs and presses a button (go = next, back, launch). */
async function wizardStep(page, values, go = 'next') {
  for (const [name, value] of Object.entries(values)) {
    await page.fill(`#wizard [name="${name}"]`, value);
  }
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'commit' }),
    page.click(`#wizard .buttons button[name=go][value="${go}"]`),
  ]);
}

/** Presses Enter in an input (implicit submission: the form's default button). */
async function pressEnter(page, selector) {
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'commit' }),
    page.press(selector, 'Enter'),
  ]);
  await page.waitForSelector('main');
}

/** Asserts the page does not scroll sideways at the current width. */
async function noSideScroll(page, what) {
  const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(sw <= iw, `${what}: no horizontal scroll at ${iw} px (scrollWidth ${sw})`);
}

/** Presses a button of the Add Instance wizard and returns the step it shows next. */
async function launchGo(page, go = 'next') {
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'commit' }),
    page.click(go.startsWith('edit:') ? `#launch button[name=go][value="${go}"]` : `#launch .buttons button[name=go][value="${go}"]`),
  ]);
  await page.waitForSelector('#launch, .head h1');
  return page.locator('#launch').getAttribute('data-step').catch(() => null);
}

/** Picks the row of the wizard's choices whose name is `name`. */
async function choose(page, name) {
  await page.locator('#choices tbody tr').filter({ has: page.locator('label', { hasText: new RegExp(`^${name}$`) }) })
    .locator('input[type=radio]').check();
}

async function chosen(page) {
  return (await page.locator('#choices tbody tr:has(input:checked) label').textContent())?.trim();
}

async function currentStep(page) {
  return page.locator('#wizard').getAttribute('data-step');
}

/** Launches the build and waits for the streamed page to end; returns the error or ''. */
async function launch(page, name, values = {}) {
  await wizardStep(page, values, 'launch');
  await page.waitForSelector('#progress li');
  await shot(page, `${name}-building`);
  await page.waitForSelector('#build-done, #build-error', { timeout: 300_000 });
  await shot(page, name);
  return (await page.locator('#build-error').count()) ? text(page, '#build-error') : '';
}

/** Polls a self-refreshing page until `selector`'s text matches `re`. */
async function waitForText(page, selector, re, timeoutMs, onTick) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await page.locator(selector).first().textContent({ timeout: 2000 }).catch(() => '');
    if (re.test(t ?? '')) return t;
    if (onTick) await onTick(t ?? '');
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${selector} to match ${re}; last: ${t}`);
    await page.waitForTimeout(500);
  }
}

const g = cfg.podNet;

/** Refusals a step provokes on purpose: [status, end of the URL], each expected once. */
const refusals = [];
function expectRefusal(status, urlSuffix) {
  refusals.push([status, urlSuffix]);
}

const STEPS = [
  ['log in', async (page) => {
    await page.goto(cfg.url + '/');
    check(page.url().endsWith('/console/login'), 'the console asks to log in first');
    await shot(page, 'login');
    await page.fill('#username', 'admin');
    await page.fill('#password', 'not-the-password');
    await page.click('button[type=submit]');
    check((await text(page, 'p.error')).includes('Failed to authenticate'), 'a wrong password is refused');
    await shot(page, 'login-refused');
    await page.fill('#password', cfg.password);
    await page.click('button[type=submit]');
    await page.waitForURL('**/console/dashboard');
    await shot(page, 'dashboard-empty');
  }],

  ['settings: TCG guests and frequent heartbeats', async (page) => {
    // Heartbeats every 2 s give the host's charts samples quickly; a loaded machine may
    // delay one, so a host is judged silent only after 2 s × 10.
    for (const [name, value] of [['kvm.acceleration', 'qemu'], ['ping.interval', '2'], ['ping.timeout', '10']]) {
      await page.goto(`${cfg.url}/console/settings?keyword=${name}`);
      const row = page.locator(`tr[data-id="${name}"]`);
      await row.locator('input[name=value]').fill(value);
      await row.locator('button[type=submit]').first().click();
      await page.waitForSelector('.flash.ok');
      check((await text(page, '.flash.ok')).includes(`${name} is now '${value}'`), `${name} saved`);
    }
    await shot(page, 'settings');
  }],

  ['add a Basic zone with the wizard', async (page) => {
    await visit(page, '/console/zones', 'zones-empty');
    await page.click('text=+ Add zone');
    await page.check('input[name="type.networktype"][value=Basic]');
    await shot(page, 'wizard-type');
    // Enter goes forward (the first submit button of each step is a hidden Next).
    await pressEnter(page, 'input[name="type.networktype"][value=Basic]');
    check(await currentStep(page) === 'zone', 'Enter on the zone type goes to the zone step');
    check(await page.locator('#steps li[aria-current=step]').textContent() === 'Zone', 'aria-current marks the step');
    // An address the API would refuse is refused on its own step, with the input kept.
    await page.fill('#wizard [name="zone.name"]', 'Zone1');
    await page.fill('#wizard [name="zone.dns1"]', 'not-an-ip');
    await page.fill('#wizard [name="zone.internaldns1"]', `${g}.1`);
    expectRefusal(422, '/console/zones/new');
    await pressEnter(page, '#wizard [name="zone.dns1"]');
    check(await currentStep(page) === 'zone', 'a DNS server that is not an address is refused on the zone step');
    check((await text(page, '#wizard-error')).includes("'not-an-ip'"), 'the error names it');
    await shot(page, 'wizard-zone-refused');
    await page.fill('#wizard [name="zone.dns1"]', '8.8.8.8');
    await pressEnter(page, '#wizard [name="zone.name"]');
    check(await currentStep(page) === 'pod', 'Enter on the zone step goes to the pod step, not Back');
    await wizardStep(page, {
      'pod.name': 'Pod1', 'pod.gateway': `${g}.1`, 'pod.netmask': '255.255.255.0',
      'pod.startip': `${g}.20`, 'pod.endip': `${g}.30`,
    });
    check(await currentStep(page) === 'guest', 'then the guest network');
    const guest = {
      // The guests' own segment: the host's guest bridge takes its gateway.
      'guest.gateway': `${cfg.guestNet}.1`, 'guest.netmask': '255.255.255.0',
      'guest.startip': `${cfg.guestNet}.10`, 'guest.endip': `${cfg.guestNet}.20`,
    };
    for (const [bad, want] of [
      [{ 'guest.endip': '172.31.1.999' }, "'172.31.1.999' is not an IP address"],
      [{ 'guest.gateway': `${g}.1`, 'guest.startip': `${g}.25`, 'guest.endip': `${g}.40` }, 'overlaps with the management IP range of pod Pod1'],
    ]) {
      for (const [name, value] of Object.entries({ ...guest, ...bad })) await page.fill(`#wizard [name="${name}"]`, value);
      expectRefusal(422, '/console/zones/new');
      await pressEnter(page, '#wizard [name="guest.endip"]');
      check(await currentStep(page) === 'guest', `refused on the guest step: ${JSON.stringify(bad)}`);
      check((await text(page, '#wizard-error')).includes(want), `the error says ${want}: ${await text(page, '#wizard-error')}`);
    }
    await shot(page, 'wizard-guest-refused');
    await wizardStep(page, guest);
    check(await currentStep(page) === 'cluster', 'a good range goes on to the cluster');
    await wizardStep(page, { 'cluster.name': 'Cluster1' });
    // A wrong password first.
    await wizardStep(page, { 'host.address': cfg.hostAddress, 'host.username': 'root', 'host.password': 'wrong-password' });
    await wizardStep(page, {
      'primary.name': 'Primary1', 'primary.server': cfg.nfsServer, 'primary.path': cfg.primaryPath + '-typo',
    });
    await shot(page, 'wizard-primary');
    await wizardStep(page, {
      'secondary.name': 'Secondary1', 'secondary.server': cfg.nfsServer, 'secondary.path': cfg.secondaryPath,
    });
    check(await currentStep(page) === 'launch', 'the review comes last');
    await shot(page, 'wizard-review');

    let err = await launch(page, 'build-host-refused');
    check(await currentStep(page) === 'host', `a refused host returns to the host step (${err})`);
    check(await page.inputValue('#wizard [name="host.address"]') === cfg.hostAddress, 'the address is kept');

    err = await launch(page, 'build-nfs-refused', { 'host.password': cfg.hostPassword });
    check(await currentStep(page) === 'primary', `a bad NFS path returns to the primary step (${err})`);
    check(err.includes('-typo'), `the error names the path: ${err}`);
    check(await page.inputValue('#wizard [name="primary.name"]') === 'Primary1', 'the name is kept');

    err = await launch(page, 'build-done', { 'primary.path': cfg.primaryPath });
    check(err === '', `the build finished: ${err}`);
    check((await text(page, '#build-done')).includes('Zone1'), 'cloud setup successful');
    await page.click('text=Go to the zone');
    await shot(page, 'zone');
  }],

  ['register ISOs and watch them download', async (page) => {
    await visit(page, '/console/isos', 'isos-empty');
    const register = async (name, url, shotName) => {
      await page.click('text=+ Register ISO');
      await page.fill('#f-name', name);
      await page.fill('#f-displaytext', `${name} (browser test)`);
      await page.fill('#f-url', url);
      await page.selectOption('#f-zoneid', { label: 'All zones' });
      await page.check('#f-ispublic');
      if (shotName) await shot(page, shotName);
      await page.click('#form button[type=submit]');
      await page.waitForSelector('table#zones');
    };
    if (cfg.slowIsoUrl) {
      await register('big-download', cfg.slowIsoUrl);
      let seen = false;
      await waitForText(page, 'table#zones tbody', /Successfully Installed/, 120_000, async (t) => {
        if (!seen && /\d+% Downloaded/.test(t)) {
          seen = true;
          await shot(page, 'iso-downloading');
        }
      });
      check(seen, 'a percentage was shown while downloading');
      await page.goto(cfg.url + '/console/isos');
    }
    await register('ipxe', cfg.isoUrl, 'iso-register');
    await waitForText(page, 'table#zones tbody', /Successfully Installed/, 120_000);
    await page.reload();
    await shot(page, 'iso-ready');
    await visit(page, '/console/isos', 'isos');
  }],

  ['visit every page', async (page) => {
    await visit(page, '/console/dashboard', 'dashboard');
    check(await text(page, '[data-tile=hosts] .big') === '1', 'one host on the dashboard');
    if (await page.locator('nav.side a[href="/console/instances"]').count()) {
      await visit(page, '/console/instances', 'instances');
    }
    await visit(page, '/console/zones', 'zones');
    await visit(page, '/console/pods', 'pods');
    await page.click('table#list tbody tr td a');
    await shot(page, 'pod');
    await visit(page, '/console/clusters', 'clusters');
    await page.click('table#list tbody tr td a');
    await shot(page, 'cluster');
    await visit(page, '/console/hosts', 'hosts');
    check((await text(page, 'table#list tbody tr .badge')) === 'Up', 'the host is Up');
    await page.click('table#list tbody tr td a');
    await page.waitForTimeout(6000); // a few heartbeats (ping.interval=2) for the charts
    await page.reload();
    check(await page.locator('.charts polyline.series').count() >= 2, 'the host has charts');
    await shot(page, 'host');
    await page.click('#actions [data-action=disable] button');
    await page.waitForSelector('.flash.ok');
    await shot(page, 'host-disabled');
    await page.click('#actions [data-action=enable] button');
    await page.waitForSelector('.flash.ok');
    await visit(page, '/console/hosts/metrics', 'host-metrics');
    await visit(page, '/console/primary-storage', 'primary-storage');
    await page.click('table#list tbody tr td a');
    await shot(page, 'primary-storage-detail');
    // A second pool, zone-wide, with its own form: a wrong path first.
    await visit(page, '/console/primary-storage', 'primary-storage-list');
    await page.click('text=+ Add primary storage');
    await page.fill('#f-name', 'Primary2');
    await page.selectOption('#f-scope', { label: 'Zone Zone1 (zone-wide)' });
    await page.fill('#f-server', cfg.nfsServer);
    await page.fill('#f-path', cfg.primary2Path + '-typo');
    expectRefusal(422, '/console/primary-storage/new');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('#form .error');
    check((await text(page, '#form .error')).includes('does not export'), 'the wrong path is named');
    check(await page.inputValue('#f-name') === 'Primary2', 'the input is kept');
    await shot(page, 'primary-storage-add-refused');
    await page.fill('#f-path', cfg.primary2Path);
    await page.click('#form button[type=submit]');
    await page.waitForSelector('.flash.ok');
    check((await text(page, '.head h1')) === 'Primary2', "the new pool's page");
    await shot(page, 'primary-storage-added');
    await visit(page, '/console/secondary-storage', 'secondary-storage');
    await page.click('text=+ Add secondary storage');
    await shot(page, 'secondary-storage-add');
    await visit(page, '/console/events', 'events');
    await visit(page, '/console/alerts', 'alerts');
    await visit(page, '/console/accounts', 'accounts');
    await page.click('table#list tbody tr td a');
    await shot(page, 'account');
    // Networks (issue 15): the Basic zone's shared network is listed, with its page.
    await visit(page, '/console/networks', 'networks');
    check((await text(page, 'table#list tbody')).includes('guestNetworkForBasicZone'), "the zone's guest network is listed");
    await page.click('table#list tbody tr td a');
    check((await text(page, '.head h1')) === 'guestNetworkForBasicZone', "the network's page");
    await shot(page, 'network');
    await visit(page, '/console/public-ips', 'public-ips');
    await visit(page, '/console/settings', 'settings-all');
    await visit(page, '/console/background-tasks', 'background-tasks');
    const tasks = await text(page, 'table#list tbody');
    for (const t of ['host-monitor', 'expunge', 'storage-capacity']) check(tasks.includes(t), `the ${t} task is listed`);
    check(!tasks.includes('Failing'), `no background task is failing: ${tasks}`);
    await visit(page, '/console/api-keys', 'api-keys');
    await page.click('#actions [data-action=keys] button');
    await page.waitForSelector('#secretkey');
    await shot(page, 'api-keys-new');
  }],

  ['create an SSH key pair', async (page) => {
    await visit(page, '/console/ssh-keys', 'ssh-keys-empty');
    await page.goto(cfg.url + '/console/ssh-keys/new');
    await page.fill('#f-name', 'browser-key');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('#privatekey');
    check((await text(page, '#privatekey')).startsWith('-----BEGIN OPENSSH PRIVATE KEY-----'), 'the private key is shown once');
    await shot(page, 'ssh-key-created');
    await visit(page, '/console/ssh-keys', 'ssh-keys');
    check((await text(page, 'table#list tbody')).includes('browser-key'), 'the key pair is listed');
  }],

  ['security groups: a group, its ingress and egress rules, one rule from another group', async (page) => {
    await visit(page, '/console/security-groups', 'security-groups');
    // An admin sees every account's groups: the admin account's default is one of them.
    const def = page.locator('table#list tbody tr', { hasText: 'default' }).filter({ has: page.locator('td:last-of-type', { hasText: /^admin$/ }) });
    check(await def.count() === 1, `the account has its default group: ${await text(page, 'table#list tbody')}`);
    check(await def.locator('[data-action=delete]').count() === 0, 'which offers no Delete');
    await page.click('text=+ Add security group');
    await page.fill('#f-name', 'web');
    await page.fill('#f-description', 'Web servers');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('.flash.ok');
    check((await text(page, '.head h1')) === 'web', "the new group's own page");
    check((await text(page, 'table#ingress, #section-1 ~ .muted.empty')).includes('nothing gets in'), 'no ingress rule yet: nothing gets in');
    const add = async (direction, values) => {
      const form = page.locator(`form[data-action=add-${direction}]`);
      for (const [k, v] of Object.entries(values)) {
        if (k === 'protocol') await form.locator('select[name=protocol]').selectOption(v);
        else await form.locator(`input[name=${k}]`).fill(v);
      }
      await Promise.all([page.waitForNavigation({ waitUntil: 'commit' }), form.locator('button').click()]);
      await page.waitForSelector('.flash');
    };
    await add('ingress', { protocol: 'tcp', startport: '22', cidrlist: '10.0.0.0/8' });
    check((await text(page, '.flash.ok')).includes('rule was added'), `the rule is added: ${await text(page, '.flash')}`);
    await add('ingress', { protocol: 'icmp', icmptype: '8' });
    await add('ingress', { protocol: 'tcp', startport: '80', endport: '81', group: 'default' });
    // A TCP rule without ports: the API's refusal, on the page.
    await add('ingress', { protocol: 'tcp' });
    check(await page.locator('.flash.error').count() === 1, `a TCP rule needs its ports: ${await text(page, '.flash')}`);
    await add('egress', { protocol: 'udp', startport: '53', cidrlist: '192.0.2.0/24' });
    const ingress = await text(page, 'table#ingress tbody');
    for (const want of ['TCP', '22', '10.0.0.0/8', 'ICMP', 'type 8, code 0', '0.0.0.0/0', '80–81', 'group admin/default']) {
      check(ingress.includes(want), `the ingress rules show ${want}: ${ingress}`);
    }
    check(await page.locator('table#ingress tbody tr').count() === 3, 'three ingress rules');
    check((await text(page, 'table#egress tbody')).includes('192.0.2.0/24'), 'the egress rule');
    await shot(page, 'security-group');
    // Remove the group rule.
    const r80 = page.locator('table#ingress tbody tr', { hasText: '80–81' });
    await r80.locator('input[name=confirm]').check();
    await Promise.all([page.waitForNavigation({ waitUntil: 'commit' }), r80.locator('button').click()]);
    await page.waitForSelector('.flash.ok');
    check(await page.locator('table#ingress tbody tr').count() === 2, 'two ingress rules left');
    await visit(page, '/console/security-groups', 'security-groups-two');
    const web = page.locator('table#list tbody tr', { hasText: 'Web servers' });
    check((await web.textContent()).includes('2'), 'the list counts its rules');
  }],

  ['launch an instance with the wizard', async (page) => {
    await visit(page, '/console/instances', 'instances-empty');
    await page.click('text=+ Add instance');
    await page.waitForSelector('#launch[data-step=zone]');
    check(await chosen(page) === 'Zone1', 'the only zone is chosen already');
    await shot(page, 'launch-zone');
    check(await launchGo(page) === 'iso', 'the ISO comes after the zone');
    // Two ISOs are ready: nothing is chosen for the admin, and Next says so.
    check(await page.locator('#choices tbody tr').count() === 2, 'both ready ISOs are offered');
    expectRefusal(422, '/console/instances/new');
    check(await launchGo(page) === 'iso', 'Next without an ISO stays');
    check((await text(page, '#launch-error')).includes('choose one'), 'and says what is missing');
    await choose(page, 'ipxe');
    await shot(page, 'launch-iso');
    check(await launchGo(page) === 'offering', 'then the compute offering');
    await choose(page, 'Small Instance');
    await shot(page, 'launch-offering');
    // Enter on a choice goes forward.
    await pressEnter(page, '#choices tbody tr:has(input:checked) input[type=radio]');
    check(await page.locator('#launch').getAttribute('data-step') === 'disk', 'Enter on the offering goes to the disk offering');
    await choose(page, 'Small');
    await shot(page, 'launch-disk');
    check(await launchGo(page) === 'network', 'then the network');
    check(await page.locator('#choices tbody tr').count() === 1, "the zone's guest network");
    check(!!(await chosen(page)), 'the only network is chosen already');
    await shot(page, 'launch-network');
    check(await launchGo(page) === 'securitygroups', 'then its security groups');
    const ticked = async () => (await page.locator('#choices tbody tr:has(input:checked) label').allTextContents()).map((t) => t.trim());
    check(JSON.stringify(await ticked()) === '["default"]', `the default group is ticked at first: ${await ticked()}`);
    await page.locator('#choices tbody tr', { hasText: 'Web servers' }).locator('input[type=checkbox]').check();
    await shot(page, 'launch-securitygroups');
    check(await launchGo(page) === 'sshkey', 'then the key pair');
    check(await launchGo(page, 'back') === 'securitygroups', 'back to the groups');
    check(JSON.stringify(await ticked()) === '["default","web"]', `both groups are kept: ${await ticked()}`);
    check(await launchGo(page) === 'sshkey', 'then the key pair');
    check(await chosen(page) === 'No key pair', 'no key pair by default');
    await choose(page, 'browser-key');
    await shot(page, 'launch-sshkey');
    check(await launchGo(page) === 'review', 'then the review');
    // Back and forward again keeps every choice.
    check(await launchGo(page, 'edit:iso') === 'iso', 'Edit goes back to the ISO');
    check(await chosen(page) === 'ipxe', 'the ISO is kept');
    for (const step of ['offering', 'disk', 'network', 'securitygroups', 'sshkey', 'review']) {
      check(await launchGo(page) === step, `forward to ${step}`);
    }
    const review = await text(page, '#review');
    for (const want of ['Zone1', 'ipxe', 'Small Instance', 'Small', 'default, web', 'browser-key']) {
      check(review.includes(want), `the review shows ${want}: ${review}`);
    }
    await page.fill('#f-name', 'web-1');
    await page.fill('#f-displayname', 'Web server 1');
    await shot(page, 'launch-review');
    // Enter in the name launches (the review's Edit buttons come first on the page but
    // are never the default).
    await Promise.all([
      page.waitForNavigation({ waitUntil: 'commit', timeout: 300_000 }),
      page.press('#f-name', 'Enter'),
    ]);
    // A slow boot goes by the job's page first.
    if (page.url().includes('/console/jobs/')) {
      await waitForText(page, '#job-status', /Succeeded|Failed/, 300_000);
      await page.click('text=Continue');
    }
    await page.waitForURL('**/console/instances/*');
    await waitForText(page, '.head .badge', /^Running$/, 120_000);
    check((await text(page, '.flash')).includes('running'), 'the launch says it is running');
    const ip = await text(page, 'dt:text-is("IP address") + dd');
    check(new RegExp(`^${cfg.guestNet.replaceAll('.', '\\.')}\\.(1[0-9]|20)$`).test(ip), `an address of the guest range: ${ip}`);
    check((await text(page, 'table#nics tbody')).includes(ip), 'the NIC has it');
    await shot(page, 'instance-running');
    await visit(page, '/console/dashboard', 'dashboard-running');
    check(await text(page, '[data-tile=instances] .badge') === 'Running 1', 'the dashboard counts it');
    await visit(page, '/console/instances', 'instances');
    const row = page.locator('table#list tbody tr', { hasText: 'web-1' });
    check((await row.locator('.badge').textContent()).trim() === 'Running', 'the list says Running');
    check((await row.textContent()).includes(ip), 'the list shows its address');
    await row.locator('a', { hasText: 'web-1' }).click();
  }],

  ["the instance's metrics and its own events", async (page) => {
    const vmPage = page.url();
    // The agent samples the running domain with every heartbeat (ping.interval=2): the
    // page charts them once there are a few.
    const deadline = Date.now() + 60_000;
    for (;;) {
      await page.goto(vmPage);
      if (await page.locator('#metrics').count() === 1) break;
      check(Date.now() < deadline, 'the instance page shows its metrics within a minute');
      await page.waitForTimeout(2000);
    }
    await page.waitForTimeout(6000); // a few more samples, so the rates have lines
    await page.goto(vmPage);
    const captions = await page.locator('.charts figcaption').allTextContents();
    check(JSON.stringify(captions) === '["CPU used","Memory","Disk","Disk operations","Network"]', `the charts: ${captions}`);
    check(await page.locator('.charts figure svg').count() === 5, 'each chart is an SVG (no script needed)');
    check(await page.locator('nav.tabs a[href="#metrics"]').count() === 1, 'a Metrics tab');
    check(/^\d+\.\d\d%$/.test(await text(page, 'dt:text-is("CPU used") + dd')), `CPU used: ${await text(page, 'dt:text-is("CPU used") + dd')}`);
    const events = await text(page, 'table#events tbody');
    check(events.includes('Web server 1'), `its own events: ${events}`);
    await page.locator('#metrics').scrollIntoViewIfNeeded();
    await shot(page, 'instance-metrics');
    // Every label of every chart lies inside its SVG (the memory axis's "767.93 MiB" too).
    const uncut = async (width) => {
      const cut = await page.evaluate(() => [...document.querySelectorAll('.charts svg.chart')].flatMap((svg) => {
        const vb = svg.viewBox.baseVal;
        return [...svg.querySelectorAll('text')].filter((t) => {
          const b = t.getBBox();
          return b.x < vb.x - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 || b.y < vb.y - 0.5 || b.y + b.height > vb.y + vb.height + 0.5;
        }).map((t) => `${svg.getAttribute('aria-label')}: ${t.textContent}`);
      }));
      check(cut.length === 0, `no chart label is cut off at ${width} px: ${cut}`);
    };
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(vmPage);
    await noSideScroll(page, 'the instance page with its metrics');
    await uncut(1440);
    await page.locator('#metrics').scrollIntoViewIfNeeded();
    await shot(page, 'instance-metrics-1440');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(vmPage);
    await noSideScroll(page, 'the instance page with its metrics');
    await uncut(390);
    await page.locator('#metrics').scrollIntoViewIfNeeded();
    await shot(page, 'instance-metrics-390');
    await page.setViewportSize({ width: 1366, height: 860 });
    await page.goto(vmPage);
  }],

  ["open the instance's console and see iPXE", async (page) => {
    await Promise.all([
      page.waitForURL('**/console/vms/*/vnc**'),
      page.click('#actions [data-action=console] button'),
    ]);
    await page.waitForSelector('#vnc[data-state=connected]', { timeout: 30_000 });
    check(!page.url().includes('token='), 'the spent token leaves the address bar');
    // Wait until the guest's screen has been drawn: text on black.
    const canvas = page.locator('#vnc-screen canvas');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const lit = await canvas.evaluate((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 200) n += 1;
        return n;
      });
      if (lit > 500) break;
      check(Date.now() < deadline, `the console shows the guest's screen (${lit} lit pixels)`);
      await page.waitForTimeout(500);
    }
    await page.waitForTimeout(1000);
    await shot(page, 'console');
    await canvas.screenshot({ path: path.join(cfg.shots, 'console-screen.png') });
    await Promise.all([page.waitForURL('**/console/instances/*'), page.click('text=← Back')]);
  }],

  ['stop the instance; the list and the job tray follow without a reload', async (page) => {
    // A second tab shows the instance list; its script keeps the state current.
    const list = await page.context().newPage();
    await list.goto(cfg.url + '/console/instances');
    const row = list.locator('table#list tbody tr', { hasText: 'web-1' });
    check((await row.locator('.badge').textContent()).trim() === 'Running', 'the list says Running');
    check(await list.locator('table#list[data-live]').count() === 1, 'the list is live');
    const tray = await text(list, '#job-tray');
    check(/^Jobs: .*done/.test(tray), `the tray counts the deploy: ${tray}`);
    await list.evaluate(() => { window.stillThisPage = true; });
    // iPXE ignores ACPI, so a clean shutdown would only time out: power it off.
    await page.bringToFront();
    await page.click('#actions [data-action=forcestop] button');
    await page.waitForSelector('.flash.ok', { timeout: 120_000 });
    check((await text(page, '.head .badge')) === 'Stopped', 'the instance is Stopped');
    await list.bringToFront();
    await list.waitForFunction(() => {
      const r = [...document.querySelectorAll('table#list tbody tr')].find((tr) => tr.textContent.includes('web-1'));
      return r && r.querySelector('.badge')?.textContent.trim() === 'Stopped';
    }, null, { timeout: 30_000 });
    check(await list.evaluate(() => window.stillThisPage === true), 'the list changed without a reload');
    check(await row.locator('[data-action=start]').count() === 1, 'its actions follow the new state');
    // The tray is fetched again too: a mark on the old element goes with it.
    await list.evaluate(() => document.querySelector('#job-tray').setAttribute('data-old', '1'));
    await list.waitForFunction(() => !document.querySelector('#job-tray').hasAttribute('data-old'), null, { timeout: 30_000 });
    const after = await text(list, '#job-tray');
    check(/^Jobs: .*done/.test(after), `the tray after the stop: ${after}`);
    await shot(list, 'instances-live');
    await Promise.all([list.waitForURL('**/console/jobs'), list.click('#job-tray')]);
    check((await text(list, 'table#list tbody')).includes('stopVirtualMachine'), 'the tray leads to the Jobs page');
    await list.close();
    await page.bringToFront();
    check(await page.locator('#actions [data-action=start]').count() === 1, 'and can be started again');
    await shot(page, 'instance-stopped');
  }],

  ["a stopped instance's security groups are changed on its page; a group in use is not deleted", async (page) => {
    const vmPage = page.url();
    const groups = async () => (await page.locator('table#securitygroups tbody tr td:first-child').allTextContents()).map((t) => t.trim());
    check(JSON.stringify(await groups()) === '["default","web"]', `the instance's groups: ${await groups()}`);
    const change = page.locator('form[data-action=securitygroups]');
    // None ticked: refused with a reason.
    for (const box of await change.locator('input[type=checkbox]').all()) await box.uncheck();
    await Promise.all([page.waitForNavigation({ waitUntil: 'commit' }), change.locator('button').click()]);
    check((await text(page, '.flash.error')).includes('at least one'), 'an instance stays in a group');
    await page.locator('form[data-action=securitygroups] label', { hasText: 'web' }).locator('input').check();
    await page.locator('form[data-action=securitygroups] label', { hasText: 'default' }).locator('input').uncheck();
    await Promise.all([page.waitForNavigation({ waitUntil: 'commit' }), page.locator('form[data-action=securitygroups] button').click()]);
    await page.waitForSelector('.flash.ok', { timeout: 120_000 });
    check(JSON.stringify(await groups()) === '["web"]', `now only web: ${await groups()}`);
    await page.locator('#section-3, table#securitygroups').first().scrollIntoViewIfNeeded();
    await shot(page, 'instance-securitygroups');
    await page.click('table#securitygroups a');
    check((await text(page, 'table#members tbody')).includes('web-1'), "the group's page lists the instance");
    const del = page.locator('#actions form[data-action=delete]');
    await del.locator('input[name=confirm]').check();
    await Promise.all([page.waitForNavigation({ waitUntil: 'commit' }), del.locator('button').click()]);
    check((await text(page, '.flash.error')).length > 0, `a group in use is not deleted: ${await text(page, '.flash')}`);
    await page.goto(vmPage);
  }],

  ['snapshots: a VM snapshot of the stopped instance; its root volume on the Snapshots page', async (page) => {
    // web-1 is Stopped: its disks are snapshotted (qemu-img over NFS), no memory box.
    const take = 'form[data-action=vmsnapshot]';
    check(await page.locator(`${take} input[name=snapshotmemory]`).count() === 0, 'no memory box while Stopped');
    await page.fill(`${take} input[name=name]`, 'before-change');
    await page.fill(`${take} input[name=description]`, 'first boot done');
    await page.click(`${take} button`);
    await page.waitForSelector('.flash', { timeout: 60_000 });
    check((await text(page, '.flash')).includes('VM snapshot is taken'), `taken: ${await text(page, '.flash')}`);
    const row = page.locator('table#vmsnapshots tbody tr', { hasText: 'before-change' });
    check((await row.locator('.badge').textContent()).trim() === 'Ready', 'the VM snapshot is Ready');
    await shot(page, 'instance-vm-snapshot');
    // Deleted again (a VM with VM snapshots keeps its volumes as they are).
    await row.locator('[data-action=vmsnapshotdelete] input[name=confirm]').check();
    await row.locator('[data-action=vmsnapshotdelete] button').click();
    await page.waitForSelector('.flash', { timeout: 60_000 });
    check((await text(page, '.flash')).includes('VM snapshot is deleted'), `deleted: ${await text(page, '.flash')}`);
    check(await page.locator('table#vmsnapshots tbody tr').count() === 0, 'no VM snapshot left');
    // A snapshot of its root volume, then the Snapshots page lists it with its actions.
    await Promise.all([page.waitForURL('**/console/volumes/*'), page.locator('table#volumes a').first().click()]);
    await page.fill('#actions form[data-action=snapshot] input[name=name]', 'root-snap');
    await page.click('#actions form[data-action=snapshot] button');
    await page.waitForSelector('.flash', { timeout: 120_000 });
    check((await text(page, '.flash')).includes('snapshot is taken'), `volume snapshot: ${await text(page, '.flash')}`);
    await visit(page, '/console/snapshots', 'snapshots');
    const snap = page.locator('table#list tbody tr', { hasText: 'root-snap' });
    check((await snap.locator('.badge').textContent()).trim() === 'BackedUp', 'the snapshot is BackedUp');
    const acts = await snap.locator('form').evaluateAll((fs) => fs.map((f) => f.dataset.action));
    check(JSON.stringify(acts) === '["revert","createvolume","createtemplate","delete"]', `its actions: ${acts}`);
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'snapshots-390');
    await page.setViewportSize({ width: 1366, height: 860 });
    await snap.locator('[data-action=delete] input[name=confirm]').check();
    await snap.locator('[data-action=delete] button').click();
    await page.waitForSelector('.flash', { timeout: 60_000 });
    check((await text(page, '.flash')).includes('snapshot is deleted'), `deleted: ${await text(page, '.flash')}`);
    check(await page.locator('table#list tbody tr', { hasText: 'root-snap' }).count() === 0, 'the list lost it');
  }],

  ['offerings: create and edit a compute and a disk offering', async (page) => {
    await visit(page, '/console/compute-offerings', 'compute-offerings');
    await page.click('text=+ Add compute offering');
    // Too big for any host: the next step launches it to see a failed deploy explained.
    await page.fill('#f-name', 'Huge');
    await page.fill('#f-cpunumber', '128');
    await page.fill('#f-cpuspeed', '4000');
    await page.fill('#f-memory', '1024');
    await page.check('#f-offerha');
    await shot(page, 'compute-offering-new');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('.flash.ok');
    const row = page.locator('table#list tbody tr', { hasText: 'Huge' });
    check((await row.textContent()).includes('128'), 'the offering is listed with its CPUs');
    await row.locator('a', { hasText: 'Huge' }).click();
    await page.fill('#f-displaytext', 'Huge (more than any host)');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('.flash.ok');
    check((await text(page, 'table#list tbody')).includes('Huge (more than any host)'), 'the edit is listed');
    await shot(page, 'compute-offerings-edited');
    await visit(page, '/console/disk-offerings', 'disk-offerings');
    await page.click('text=+ Add disk offering');
    await page.fill('#f-name', 'Data 5');
    await page.fill('#f-disksize', '5');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('.flash.ok');
    const d = page.locator('table#list tbody tr', { hasText: 'Data 5' });
    check((await d.textContent()).includes('5 GB'), 'the disk offering is listed with its size');
    await d.locator('a', { hasText: 'Data 5' }).click();
    await page.fill('#f-tags', 'fast');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('.flash.ok');
    check((await page.locator('table#list tbody tr', { hasText: 'Data 5' }).textContent()).includes('fast'), 'its tags are saved');
    await shot(page, 'disk-offerings-edited');
  }],

  ['a failed deploy explains itself', async (page) => {
    await page.goto(cfg.url + '/console/instances/new');
    check(await launchGo(page) === 'iso', 'zone first');
    await choose(page, 'ipxe');
    check(await launchGo(page) === 'offering', 'then the offering');
    await choose(page, 'Huge');
    for (const step of ['disk', 'network', 'securitygroups', 'sshkey', 'review']) {
      if (step !== 'disk') {
        check(await launchGo(page) === step, `forward to ${step}`);
      } else {
        check(await launchGo(page) === step, `forward to ${step}`);
        await choose(page, 'Small');
      }
    }
    await page.fill('#f-name', 'huge-1');
    await Promise.all([
      page.waitForNavigation({ waitUntil: 'commit', timeout: 300_000 }),
      page.press('#f-name', 'Enter'),
    ]);
    if (page.url().includes('/console/jobs/')) {
      await waitForText(page, '#job-status', /Succeeded|Failed/, 300_000);
      await page.click('text=Continue');
    }
    await page.waitForURL('**/console/instances/*');
    await page.waitForSelector('#banner');
    check((await text(page, '.head .badge')) === 'Error', 'the instance is in Error');
    check((await text(page, '#banner h2')) === 'This instance failed to deploy', 'a banner says so');
    check((await text(page, '#banner-cause')).startsWith('Cause: '), 'with its cause');
    check(await page.locator('#banner a[href^="/console/events?keyword="]').count() === 1, 'a link to its events');
    check(await page.locator('#banner a[href="/console/hosts"]').count() === 1, 'a link to the hosts');
    check(await page.locator('#banner-next li').count() >= 2, 'and what to do next');
    const empty = await page.locator('p.empty').allTextContents();
    check(empty.some((t) => t.includes('rolled back')), `the empty sections say the deploy was rolled back: ${empty}`);
    await shot(page, 'instance-failed');
  }],

  ['the instance list sorts and filters', async (page) => {
    await visit(page, '/console/instances', 'instances-two');
    const names = async () => (await page.locator('table#list tbody tr td:first-child').allTextContents()).map((t) => t.trim());
    await page.click('table#list th a:text-is("Name")');
    check(JSON.stringify(await names()) === '["huge-1","web-1"]', `sorted by name: ${await names()}`);
    check(await page.locator('table#list th[aria-sort=ascending]').count() === 1, 'aria-sort says how');
    await page.click('table#list th a.sort >> nth=0');
    check(JSON.stringify(await names()) === '["web-1","huge-1"]', `and the other way: ${await names()}`);
    await shot(page, 'instances-sorted');
    await page.selectOption('#filter-state', 'Error');
    await page.click('#list-filters button[type=submit]');
    await page.waitForURL((u) => u.searchParams.get('state') === 'Error');
    check(JSON.stringify(await names()) === '["huge-1"]', `filtered by state: ${await names()}`);
    await page.selectOption('#filter-state', 'Stopped');
    await page.selectOption('#filter-zoneid', { label: 'Zone1' });
    await page.click('#list-filters button[type=submit]');
    await page.waitForURL((u) => !!u.searchParams.get('zoneid'));
    check(JSON.stringify(await names()) === '["web-1"]', `filtered by state and zone: ${await names()}`);
    await shot(page, 'instances-filtered');
    // A row's quick action: destroy the failed one from the list.
    await page.goto(cfg.url + '/console/instances?state=Error');
    const row = page.locator('table#list tbody tr', { hasText: 'huge-1' });
    await row.locator('form[data-action=destroy] input[name=confirm]').check();
    await row.locator('form[data-action=destroy] button').click();
    await page.waitForSelector('.flash.ok', { timeout: 120_000 });
    check(page.url().includes('/console/instances?'), `back on the list: ${page.url()}`);
  }],

  ['a password-enabled template: permissions, a launch showing the password once, a live list, Reset password', async (page) => {
    await visit(page, '/console/templates', 'templates');
    await page.click('text=+ Register template');
    await page.fill('#f-name', 'pw-tpl');
    await page.fill('#f-displaytext', 'Password template (browser test)');
    await page.fill('#f-url', cfg.templateUrl);
    await page.selectOption('#f-zoneid', { label: 'Zone1' });
    await page.check('#f-passwordenabled');
    await shot(page, 'template-register');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('table#zones');
    await waitForText(page, 'table#zones tbody', /Successfully Installed/, 120_000);
    await page.reload();
    const tplPage = page.url();
    check((await text(page, 'dt:text-is("Password enabled") + dd')) === 'Yes', 'password-enabled');
    // Its permissions: private and shared with nobody; made extractable with the section's form.
    const vis = page.locator('form[data-action=visibility]');
    check(!(await vis.locator('input[name=ispublic]').isChecked()), 'it is private');
    check(await page.locator('table#permissions').count() === 0, 'shared with nobody yet');
    await vis.locator('input[name=isextractable]').check();
    await vis.locator('button').click();
    await page.waitForSelector('.flash.ok');
    check((await text(page, '.flash.ok')).includes('permissions are saved'), `saved: ${await text(page, '.flash')}`);
    check((await text(page, 'dt:text-is("Extractable") + dd')) === 'Yes', 'extractable now');
    check(await page.locator('form[data-action=visibility] input[name=isextractable]').isChecked(), 'the box stays ticked');
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(tplPage);
    await noSideScroll(page, 'the template page');
    await shot(page, 'template-permissions-1440');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(tplPage);
    await noSideScroll(page, 'the template page');
    await page.locator('#section-2').scrollIntoViewIfNeeded();
    await shot(page, 'template-permissions-390');
    await page.setViewportSize({ width: 1366, height: 860 });

    // A second tab shows the instance list; the launch adds a row to it without a reload.
    const list = await page.context().newPage();
    await list.goto(cfg.url + '/console/instances');
    check(await list.locator('table#list tbody tr', { hasText: 'pw-1' }).count() === 0, 'no pw-1 yet');
    const counted = async () => Number((await text(list, '.head h1 .count')).replace(/[()]/g, ''));
    const before = await counted();
    await list.evaluate(() => { window.stillThisPage = true; });
    await page.bringToFront();

    // Launched from the wizard: the template is offered, needs no disk offering.
    await page.goto(cfg.url + '/console/instances/new');
    check(await launchGo(page) === 'iso', 'zone first');
    const offered = page.locator('#choices tbody tr', { hasText: 'pw-tpl' });
    check((await offered.textContent()).includes('Template'), 'the template is offered as one');
    await choose(page, 'pw-tpl');
    check(await launchGo(page) === 'offering', 'then the offering');
    await choose(page, 'Small Instance');
    for (const step of ['disk', 'network', 'securitygroups', 'sshkey', 'review']) {
      check(await launchGo(page) === step, `forward to ${step} (a template needs no disk offering)`);
    }
    await page.fill('#f-name', 'pw-1');
    await Promise.all([
      page.waitForNavigation({ waitUntil: 'commit', timeout: 300_000 }),
      page.press('#f-name', 'Enter'),
    ]);
    // Shown when the launch ends: on this answer, or on the job's page for a slow one.
    await page.waitForSelector('#password', { timeout: 300_000 });
    const pw = await page.inputValue('#password');
    check(pw.length >= 8, `a generated password: ${pw.length} characters`);
    check((await text(page, '#new-password')).includes('shown only this once'), 'it says it is shown once');
    await shot(page, 'template-launch-password');
    await Promise.all([page.waitForURL('**/console/instances/*'), page.click('text=Continue to the instance')]);
    const vmPage = page.url();
    check(!(await page.content()).includes(pw), 'not on the instance page');
    await waitForText(page, '.head .badge', /^Running$/, 120_000, async () => { await page.reload(); });

    await list.bringToFront();
    await list.waitForFunction(() => !!document.querySelector('table#list tbody tr[data-added]')
      && [...document.querySelectorAll('table#list tbody tr')].some((r) => r.textContent.includes('pw-1')), null, { timeout: 30_000 });
    check(await list.evaluate(() => window.stillThisPage === true), 'the row came without a reload');
    check((await list.locator('table#list tbody tr', { hasText: 'pw-1' }).locator('.badge').textContent()).trim() === 'Running', 'and says Running');
    check(await counted() === before + 1, `the count follows: ${await counted()} after ${before}`);
    await shot(list, 'instances-live-added');
    await page.bringToFront();

    // Reset password: the instance is stopped first (the guest has nothing to shut down).
    await page.goto(vmPage);
    await page.click('#actions [data-action=forcestop] button');
    await page.waitForSelector('.flash.ok', { timeout: 120_000 });
    check((await text(page, '.head .badge')) === 'Stopped', 'stopped');
    await page.click('#actions [data-action=resetpassword] button');
    await page.waitForSelector('#password', { timeout: 120_000 });
    const pw2 = await page.inputValue('#password');
    check(pw2.length >= 8 && pw2 !== pw, 'a new password');
    await shot(page, 'template-password-reset');
    await Promise.all([page.waitForURL('**/console/instances/*'), page.click('text=Continue to the instance')]);

    // Destroyed and expunged here, the row leaves the other tab's list.
    const gone = page.locator('#actions form[data-action=destroyexpunge]');
    await gone.locator('input[name=confirm]').check();
    await gone.locator('button').click();
    await page.waitForSelector('.flash.ok', { timeout: 120_000 });
    await list.bringToFront();
    await list.waitForFunction(() => ![...document.querySelectorAll('table#list tbody tr')].some((r) => r.textContent.includes('pw-1')), null, { timeout: 30_000 });
    check(await list.evaluate(() => window.stillThisPage === true), 'the row went without a reload');
    await list.close();
    await page.bringToFront();
  }],

  ['workflows, 404 pages', async (page) => {
    await visit(page, '/console/workflows', 'workflows');
    check(await page.locator('table#list, p.empty').count() === 1, 'the workflows (or none) are listed');
    if (await page.locator('table#list').count()) {
      check(/Vm[A-Z]/.test(await text(page, 'table#list tbody')), 'with their kind');
    }
    expectRefusal(404, '/console/no-such-page');
    const r = await page.goto(cfg.url + '/console/no-such-page');
    check(r.status() === 404, `an unknown page is a 404: ${r.status()}`);
    check(await page.locator('nav.side').count() === 1, 'with the navigation');
    await shot(page, 'not-found');
    expectRefusal(404, '/console/instances/00000000-0000-4000-8000-000000000000');
    const m = await page.goto(cfg.url + '/console/instances/00000000-0000-4000-8000-000000000000');
    check(m.status() === 404, `a missing instance is a 404, not 431: ${m.status()}`);
  }],

  ['a half-built zone: resumed in the wizard, then removed with everything in it', async (page) => {
    await page.goto(cfg.url + '/console/zones/new');
    await pressEnter(page, 'input[name="type.networktype"][value=Basic]');
    await wizardStep(page, { 'zone.name': 'Zone2', 'zone.dns1': '8.8.8.8', 'zone.internaldns1': '172.30.5.1' });
    await wizardStep(page, {
      'pod.name': 'Pod2', 'pod.gateway': '172.30.5.1', 'pod.netmask': '255.255.255.0',
      'pod.startip': '172.30.5.20', 'pod.endip': '172.30.5.30',
    });
    await wizardStep(page, {
      'guest.gateway': '172.30.6.1', 'guest.netmask': '255.255.255.0',
      'guest.startip': '172.30.6.10', 'guest.endip': '172.30.6.20',
    });
    await wizardStep(page, { 'cluster.name': 'Cluster2' });
    await wizardStep(page, { 'host.address': cfg.hostAddress, 'host.username': 'root', 'host.password': 'wrong-password' });
    await wizardStep(page, { 'primary.name': 'P2', 'primary.server': cfg.nfsServer, 'primary.path': cfg.primaryPath });
    await wizardStep(page, { 'secondary.name': 'S2', 'secondary.server': cfg.nfsServer, 'secondary.path': cfg.secondaryPath });
    const err = await launch(page, 'zone2-build-stopped');
    check(await currentStep(page) === 'host', `the build stopped at the host (${err})`);
    // The admin walks away; the zone is Disabled with a pod, a range and a cluster.
    await visit(page, '/console/zones', 'zones-half-built');
    await page.click('table#list a:text-is("Zone2")');
    check((await text(page, '.head .badge')) === 'Disabled', 'Zone2 is Disabled');
    await shot(page, 'zone2-half-built');
    await page.click('text=Continue setting up this zone');
    await page.waitForSelector('#wizard');
    check(await currentStep(page) === 'host', `resumed at the host step: ${await currentStep(page)}`);
    check(await page.locator('#steps li.done').count() >= 4, 'zone, pod, guest range and cluster count as built');
    await shot(page, 'zone2-resumed');
    await page.click('#wizard .buttons a:text-is("Cancel")');
    await page.click('table#list a:text-is("Zone2")');
    const zoneUrl = page.url();
    const remove = page.locator('#actions form[data-action=remove]');
    await remove.locator('input[name=confirm]').check();
    await remove.locator('button').click();
    await page.waitForSelector('.flash');
    check((await text(page, '.flash')).includes('Zone2 and everything in it were removed'), `removed: ${await text(page, '.flash')}`);
    check(!(await text(page, 'table#list tbody')).includes('Zone2'), 'Zone2 is gone');
    check(zoneUrl.includes('/console/zones/'), 'from its page');
    await shot(page, 'zone2-removed');
  }],

  ['hosts and volumes sorted and filtered', async (page) => {
    await visit(page, '/console/hosts', 'hosts-list');
    await Promise.all([page.waitForNavigation(), page.click('table#list th a.sort:text("Name")')]);
    check(await page.getAttribute('table#list th[aria-sort]', 'aria-sort') === 'ascending', 'sorted by name');
    await page.selectOption('#filter-state', 'Up');
    await Promise.all([page.waitForNavigation(), page.click('#list-filters button[type=submit]')]);
    check(page.url().includes('state=Up') && page.url().includes('sort=name'), `the filter keeps the sort: ${page.url()}`);
    check((await page.locator('table#list tbody tr').count()) === 1, 'the Up host');
    await page.selectOption('#filter-state', 'Down');
    await Promise.all([page.waitForNavigation(), page.click('#list-filters button[type=submit]')]);
    check(await page.locator('table#list tbody tr').count() === 0, 'no host is Down');
    await page.goto(cfg.url + '/console/volumes');
    const vols = async () => (await page.locator('table#list tbody td:nth-child(1)').allTextContents()).map((t) => t.trim());
    const all = await vols();
    check(all.length >= 1, `the instances' root volumes: ${all}`);
    await Promise.all([page.waitForNavigation(), page.click('table#list th a.sort:text("Name")')]);
    await Promise.all([page.waitForNavigation(), page.click('table#list th a.sort:text("Name")')]);
    const desc = await vols();
    check(JSON.stringify(desc) === JSON.stringify([...all].sort().reverse()), `descending by name: ${desc}`);
    await page.selectOption('#filter-state', 'Destroy');
    await Promise.all([page.waitForNavigation(), page.click('#list-filters button[type=submit]')]);
    check(await page.locator('table#list tbody tr').count() === 0, 'no destroyed volume');
    await page.selectOption('#filter-state', 'Ready');
    await Promise.all([page.waitForNavigation(), page.click('#list-filters button[type=submit]')]);
    check((await vols()).length >= 1, 'the ready root volumes');
    await shot(page, 'volumes-sorted-filtered');
  }],

  ['tenancy: a subdomain in the tree, a project and its switcher, an account limit, tags', async (page) => {
    // Domains: a subdomain under a new domain, shown indented under it in the tree.
    await visit(page, '/console/domains', 'domains');
    await page.click('text=+ Add domain');
    await page.fill('#f-name', 'customers');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('.flash.ok');
    check((await text(page, '.flash.ok')).includes('ROOT/customers'), 'the domain is created');
    await page.click('table#list a:text-is("customers")');
    await page.click('text=+ Add subdomain');
    check((await page.locator('#f-parentdomainid option[selected]').textContent()).trim() === 'ROOT/customers', 'the parent is chosen');
    await shot(page, 'domain-add-subdomain');
    await page.fill('#f-name', 'acme');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('.flash.ok');
    const names = (await page.locator('table#list tbody td:first-child').allTextContents()).map((t) => t.trim());
    check(JSON.stringify(names.slice(0, 3)) === '["ROOT","customers","acme"]', `the tree: ${names}`);
    check(await page.locator('table#list tbody tr:nth-child(3) td.lvl2').count() === 1, 'acme is indented two levels');
    await shot(page, 'domains-tree');
    await page.click('table#list a:text-is("customers")');
    check((await text(page, 'table#subdomains tbody')).includes('acme'), 'its page lists the subdomain');
    await shot(page, 'domain');

    // Projects: create one, switch to it with the header's menu, see the lists scoped.
    await visit(page, '/console/projects', 'projects-empty');
    await page.click('text=+ New project');
    await page.fill('#f-name', 'team-web');
    await page.fill('#f-displaytext', 'The web team');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('.flash.ok', { timeout: 120_000 });
    check((await text(page, '.head h1')) === 'team-web', "the new project's page");
    check((await text(page, 'table#members tbody')).includes('admin'), 'its creator is a member');
    await shot(page, 'project');
    await page.goto(cfg.url + '/console/instances');
    check((await page.locator('table#list tbody tr', { hasText: 'web-1' }).count()) === 1, 'the default view lists web-1');
    // The switcher sends itself when a project is chosen (live.js); without a script its button does.
    await Promise.all([page.waitForNavigation(), page.selectOption('#project-select', { label: 'team-web' })]);
    check(page.url().endsWith('/console/instances'), `back on the instances: ${page.url()}`);
    check(await page.locator('#project-switch.in-project').count() === 1, 'the header shows the project');
    check((await text(page, '.flash.ok')).includes('Project team-web'), 'and says so');
    check(await page.locator('table#list').count() === 0, 'the project has no instances yet');
    check((await text(page, 'main p.muted')).includes('Project team-web'), 'the list says whose it is');
    await shot(page, 'project-instances');
    for (const p of ['/console/volumes', '/console/isos', '/console/templates']) {
      await page.goto(cfg.url + p);
      check((await text(page, 'main p.muted')).includes('Project team-web'), `${p} is the project's`);
    }
    await shot(page, 'project-templates');
    // The project's wizard offers public images only, until the private template is
    // shared with the project (on the template's page, in the default view).
    const images = async () => {
      await page.goto(cfg.url + '/console/instances/new');
      check(await launchGo(page) === 'iso', 'the image step');
      return (await page.locator('#choices tbody tr label').allTextContents()).map((t) => t.trim());
    };
    let offered = await images();
    check(offered.includes('ipxe') && !offered.includes('pw-tpl'), `the project's images before sharing: ${offered}`);
    await Promise.all([page.waitForNavigation(), page.selectOption('#project-select', { label: 'Default view' })]);
    await page.goto(cfg.url + '/console/templates');
    await page.click('table#list a:text-is("pw-tpl")');
    const share = page.locator('form[data-action=share]');
    for (const [width, height] of [[1440, 900], [390, 844]]) {
      await page.setViewportSize({ width, height });
      await noSideScroll(page, 'the template page with its share form');
      await page.locator('#section-2').scrollIntoViewIfNeeded();
      await shot(page, `template-share-${width}`);
    }
    await page.setViewportSize({ width: 1366, height: 860 });
    await share.locator('select[name=with]').selectOption({ label: 'Project team-web' });
    await share.locator('button').click();
    await page.waitForSelector('.flash.ok');
    check((await text(page, 'table#permissions tbody')).includes('team-web'), 'shared with the project');
    check((await text(page, 'table#permissions tbody')).includes('Project'), 'listed as a project');
    await page.locator('#section-2').scrollIntoViewIfNeeded();
    await shot(page, 'template-shared-with-project');
    await Promise.all([page.waitForNavigation(), page.selectOption('#project-select', { label: 'team-web' })]);
    offered = await images();
    check(offered.includes('pw-tpl') && offered.includes('ipxe'), `the project's wizard offers the shared template: ${offered}`);
    await shot(page, 'project-launch-images');
    await Promise.all([page.waitForNavigation(), page.selectOption('#project-select', { label: 'Default view' })]);
    check(await page.locator('#project-switch.in-project').count() === 0, 'the default view again');
    await page.goto(cfg.url + '/console/instances');
    check((await page.locator('table#list tbody tr', { hasText: 'web-1' }).count()) === 1, 'web-1 is listed again');

    // An account's limit, edited on its page.
    await visit(page, '/console/accounts/new', 'account-new');
    await page.fill('#f-username', 'carol');
    await page.fill('#f-password', 'carol-pw-123');
    await page.fill('#f-email', 'carol@example.org');
    await page.fill('#f-firstname', 'Carol');
    await page.fill('#f-lastname', 'Tester');
    await page.click('#form button[type=submit]');
    await page.waitForSelector('table#limits');
    const limit = page.locator('table#limits tr[data-id=user_vm]');
    await limit.locator('input[name=max]').fill('5');
    await limit.locator('button').click();
    await page.waitForSelector('.flash.ok');
    check((await text(page, '.flash.ok')).includes('The limit of instances is now 5'), 'the limit is saved');
    const row = (await page.locator('table#limits tr[data-id=user_vm]').textContent()).replace(/\s+/g, ' ');
    check(row.includes('0 of 5'), `the row shows it: ${row}`);
    await shot(page, 'account-limits');

    // Tags on the instance's page: added, shown, removed.
    await page.goto(cfg.url + '/console/instances');
    await page.click('table#list a:text-is("web-1")');
    const add = page.locator('.section-forms form[data-action=add]');
    await add.locator('input[name=key]').fill('env');
    await add.locator('input[name=value]').fill('production');
    await add.locator('button').click();
    await page.waitForSelector('.flash.ok', { timeout: 120_000 });
    check((await text(page, 'table#tags tbody')).includes('production'), 'the tag is shown');
    await page.locator('#section-4').scrollIntoViewIfNeeded();
    await shot(page, 'instance-tagged');
    await page.click('table#tags tr[data-id=env] form[data-action=remove] button');
    await page.waitForSelector('.flash.ok', { timeout: 120_000 });
    check((await text(page, '.flash.ok')).includes('Tag env removed'), 'removed');
    check(await page.locator('table#tags').count() === 0, 'no tags left');
  }],

  ['no page scrolls sideways, at 1440 and at 390 px', async (page) => {
    const pages = ['/console/dashboard', '/console/instances', '/console/settings', '/console/hosts',
      '/console/zones/new', '/console/compute-offerings', '/console/events', '/console/volumes',
      '/console/hosts?sort=name&state=Up', '/console/jobs', '/console/domains', '/console/projects',
      '/console/networks'];
    await page.setViewportSize({ width: 1440, height: 900 });
    for (const p of pages) {
      await page.goto(cfg.url + p);
      await noSideScroll(page, p);
    }
    await page.goto(cfg.url + '/console/settings');
    // Descriptions wrap: the whole settings table fits the page at 1440 px.
    const [tw, ww] = await page.evaluate(() => {
      const w = document.querySelector('.table-wrap');
      return [w.scrollWidth, w.clientWidth];
    });
    check(tw <= ww, `the settings table fits without scrolling at 1440 px (${tw} > ${ww})`);
    await shot(page, 'settings-1440');
    await page.setViewportSize({ width: 390, height: 844 });
    for (const p of pages) {
      await page.goto(cfg.url + p);
      await noSideScroll(page, p);
      check(!(await page.locator('nav.side .links').isVisible()), `${p}: the navigation is folded at 390 px`);
    }
    await page.goto(cfg.url + '/console/instances');
    await shot(page, 'instances-390');
    await page.click('label[for=nav-toggle]');
    check(await page.locator('nav.side a[href="/console/hosts"]').isVisible(), 'Menu opens the navigation');
    await shot(page, 'menu-390');
    await page.goto(cfg.url + '/console/settings');
    await shot(page, 'settings-390');
    await page.goto(cfg.url + '/console/volumes');
    await shot(page, 'volumes-390');
    check(await page.locator('#job-tray').isVisible(), 'the job tray shows at 390 px');
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(cfg.url + '/console/volumes');
    await shot(page, 'volumes-1440');
    await page.setViewportSize({ width: 1366, height: 860 });
  }],
];

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  page.setDefaultNavigationTimeout(300_000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Script errors, CSP violations and failed requests, except the refused login (401)
  // and the refusals a step provoked on purpose (expectRefusal).
  page.on('console', (m) => {
    // noVNC warns on every page that is not a secure context (the test bed serves plain
    // HTTP on a test address; localhost or TLS would not warn). Its WebCrypto is needed
    // only for VNC passwords and RA2 logins, which Stratus's consoles do not use.
    const insecure = m.text().startsWith('noVNC requires a secure context');
    if (m.type() === 'error' && !insecure && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('response', (r) => {
    const at = refusals.findIndex(([status, suffix]) => r.status() === status && r.url().endsWith(suffix));
    if (at >= 0) {
      refusals.splice(at, 1);
      return;
    }
    const expected = r.status() === 401 && r.url().endsWith('/console/login');
    if (r.status() >= 400 && !expected) errors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  for (const [name, run] of STEPS) {
    const t0 = Date.now();
    console.log(`step: ${name}`);
    try {
      await run(page);
    } catch (e) {
      await shot(page, 'FAILED').catch(() => {});
      throw new Error(`step "${name}" failed at ${page.url()}: ${e.stack || e}`);
    }
    console.log(`  ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  check(errors.length === 0, `no errors in the pages' console: ${errors.join('; ')}`);
  check(refusals.length === 0, `every provoked refusal happened: ${JSON.stringify(refusals)}`);
  console.log(`all ${STEPS.length} steps passed; ${shotNo} screenshots in ${cfg.shots}`);
} catch (e) {
  failed = true;
  console.error(String(e.message || e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
