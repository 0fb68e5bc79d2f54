//! Security groups end to end (issue 14), with real parts only: the management server,
//! nfs-ganesha for primary and secondary storage, two simulated hosts A and B (each its
//! own network namespace, sshd, libvirtd and the agent `addHost` installs, which enforces
//! the groups with nftables), and four TCG guests of 512 MiB from the test bed's Debian
//! cloud image, placed with `hostid`. Once both hosts have their guest bridge
//! (`cloudbr0`, the same gateway address and MAC on both) a veth pair joins the two, so
//! the guest network spans both hosts: a guest's gateway is still its own host, and
//! guests on A and B talk to each other directly. The pair is deleted at the end.
//!
//! - `open1` (A, group `ssh`: tcp/22 from the guest subnet) answers SSH from its host,
//!   whose traffic to its guests leaves from the bridge's (gateway) address.
//! - `closed1` (A, group `locked`, no rules) does not, though its sshd runs: read in the
//!   guest once it is open, sshd's start predates refused attempts. Authorizing tcp/22 on
//!   `locked` opens it within a second, revoking closes it again as fast (port 22 is
//!   probed every 0.1 s from the moment the command is sent; the times after sending and
//!   relative to the job's end as `cs` saw it are printed, with the first SSH login after
//!   the job), and the guest ran on all along: the same domain id, its uptime grown by the
//!   time between (a narrower rule, the hosts' address only, lets the test back in).
//! - Group to group across hosts: `db1` (B, groups `ssh` and `db`, which admits tcp/5432
//!   from the group `app`) runs a listener; `app1` (A, `ssh` and `app`) connects to it;
//!   `open1` (A, not in `app`) cannot, though it reaches db1's SSH over the same path.
//! - Anti-spoofing: `open1` sending from an address that is not its own (static
//!   neighbour entries on every side, so no ARP is involved and only the source address
//!   can stop it) reaches neither another guest nor the host while its own address still
//!   does; with another MAC it reaches nothing until it takes its own back. A table of
//!   counters the test adds on host A shows those frames left the guest and none got
//!   past the bridge.
//! - Expunged, a VM leaves its host's rules: `open1`'s tap is gone from `table bridge
//!   stratus_sg`, its chains and map entries from `table inet stratus_sg`.
//!
//! Test-bed indexes 204 (NFS server `e2esgn`), 205 and 206 (hosts `e2esga`, `e2esgb`);
//! guests get 192.168.205.10-20.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_tests::{
    guest_image, ssh_keygen, wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost,
};

const NFS_INDEX: u8 = 204;
const HOST_A: u8 = 205;
const HOST_B: u8 = 206;
const PASSWORD: &str = "sg-host-pw";
/// Seeded by migration 0007: "Small Instance" (1 vCPU, 500 MHz, 512 MiB).
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
/// Power-on to SSH login takes 60-120 s under TCG for one guest; four boot at once on
/// two cores here.
const SSH_WITHIN: u64 = 600;
/// The guest network's bridge on every host (`guest.network.bridge`).
const BRIDGE: &str = "cloudbr0";
/// The guest subnet (the zone's Basic network), its gateway (every host's bridge).
const NET: &str = "192.168.205";
const GATEWAY: &str = "192.168.205.1";
/// `GuestNetwork::gateway_mac` of 192.168.205.1.
const GATEWAY_MAC: &str = "02:5e:c0:a8:cd:01";
const DB_PORT: u16 = 5432;
/// An address of the subnet no VM has (the range is .10-.20).
const SPOOFED: &str = "192.168.205.50";
const OTHER_MAC: &str = "52:54:00:5e:5e:5e";
/// The veth pair joining the hosts' bridges (one end in each host's namespace).
const VETH_A: &str = "sgx-a";
const VETH_B: &str = "sgx-b";
/// A table of counters the test adds on host A (never the agent's).
const PROBE_TABLE: &str = "e2e_sg_probe";

/// TCP connections from a guest: `probe.py SRC|- HOST:PORT...` prints, per target,
/// `HOST:PORT open` or `HOST:PORT failed ERROR`.
const PROBE_PY: &str = r#"import socket, sys
src = None if sys.argv[1] == "-" else sys.argv[1]
for t in sys.argv[2:]:
    h, p = t.rsplit(":", 1)
    try:
        s = socket.create_connection((h, int(p)), timeout=4, source_address=(src, 0) if src else None)
        s.close()
        print(t, "open")
    except OSError as e:
        print(t, "failed", type(e).__name__, e)
"#;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// A deployed guest.
#[derive(Clone, Debug)]
struct Guest {
    name: String,
    id: String,
    ip: String,
    mac: String,
}

impl Guest {
    fn tap(&self) -> String {
        format!("vm{}", self.mac.replace(':', ""))
    }
}

/// The veth pair joining the two hosts' bridges; deleted on drop (it goes with the
/// namespaces anyway).
struct Veth {
    ns: String,
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["-n", &self.ns, "link", "del", VETH_A])
            .status();
    }
}

fn ip_cmd(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// What to look at when something fails: both hosts' rulesets, links and agent logs,
/// and the server's log tail.
fn diagnostics(server: &Server, hosts: &[&SimHost]) -> String {
    let mut s = String::new();
    let tail = |t: &str, n: usize| {
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    };
    for h in hosts {
        s += &format!(
            "--- {}: nft list ruleset\n{}\n--- ip -br link / addr\n{}{}\n--- bridge link\n{}\n--- agent log\n{}\n",
            h.name,
            text(&h.exec(&["nft", "list", "ruleset"])),
            text(&h.exec(&["ip", "-br", "link"])),
            text(&h.exec(&["ip", "-br", "addr"])),
            text(&h.exec(&["bridge", "link"])),
            tail(
                &std::fs::read_to_string(h.state.join("agent/agent.log")).unwrap_or_default(),
                40
            ),
        );
    }
    s += &format!("--- server log\n{}\n", tail(&server.log_text(), 60));
    s
}

/// Whether a TCP connection from `host`'s namespace to `ip:port` opens within `secs`.
fn tcp_open(host: &SimHost, ip: &str, port: u16, secs: f64) -> bool {
    host.exec(&[
        "timeout",
        &format!("{secs}"),
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{ip}/{port}"),
    ])
    .status
    .success()
}

/// Runs `command` in the guest over SSH from `host`; panics unless ssh itself worked.
fn in_guest(host: &SimHost, key: &Path, g: &Guest, command: &str) -> (bool, String) {
    host.guest_ssh(key, &g.ip, command)
        .unwrap_or_else(|| panic!("no SSH to {} ({}) from {}", g.name, g.ip, host.name))
}

/// Waits for an SSH login to `g` from `host`; answers the seconds since `since`.
fn wait_for_ssh(
    host: &SimHost,
    key: &Path,
    g: &Guest,
    since: Instant,
    diag: &dyn Fn() -> String,
) -> u64 {
    let deadline = since + Duration::from_secs(SSH_WITHIN);
    loop {
        if let Some((true, _)) = host.guest_ssh(key, &g.ip, "true") {
            let s = since.elapsed().as_secs();
            eprintln!(
                "{}: SSH login from {} {s} s after its deploy",
                g.name, host.name
            );
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "no SSH login to {} ({}) from {} within {SSH_WITHIN} s\n{}",
            g.name,
            g.ip,
            host.name,
            diag()
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// Runs probe.py in the guest: (target, opened, its line) per target.
fn probe(
    host: &SimHost,
    key: &Path,
    g: &Guest,
    src: Option<&str>,
    targets: &[String],
) -> Vec<(String, bool, String)> {
    let (ok, out) = in_guest(
        host,
        key,
        g,
        &format!(
            "python3 /var/tmp/probe.py {} {}",
            src.unwrap_or("-"),
            targets.join(" ")
        ),
    );
    assert!(ok, "probe.py in {}: {out}", g.name);
    parse_probe(&out)
}

fn parse_probe(out: &str) -> Vec<(String, bool, String)> {
    out.lines()
        .filter_map(|l| {
            let (t, rest) = l.split_once(' ')?;
            Some((t.to_string(), rest == "open", l.to_string()))
        })
        .collect()
}

fn install_probe(host: &SimHost, key: &Path, g: &Guest) {
    let (ok, out) = in_guest(
        host,
        key,
        g,
        &format!("cat > /var/tmp/probe.py <<'EOF'\n{PROBE_PY}EOF"),
    );
    assert!(ok, "{out}");
}

/// The name of the guest's NIC (the image keeps udev's predictable names: `ens3`).
fn nic_of(host: &SimHost, key: &Path, g: &Guest) -> String {
    let (ok, out) = in_guest(host, key, g, "ip -o -4 addr show");
    assert!(ok, "{out}");
    out.lines()
        .find(|l| l.contains(&format!(" {}/", g.ip)))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("{}'s NIC: {out}", g.name))
        .to_string()
}

/// The counters of the test's own table on `host`, by comment.
fn counters(host: &SimHost) -> HashMap<String, u64> {
    let out = host.exec(&["nft", "list", "table", "bridge", PROBE_TABLE]);
    assert!(out.status.success(), "{}", text(&out));
    let mut m = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (Some(c), Some(p)) = (
            line.split("comment \"").nth(1),
            line.split("counter packets ").nth(1),
        ) else {
            continue;
        };
        let name = c.trim_end_matches('"').to_string();
        let packets = p.split_whitespace().next().unwrap().parse().unwrap();
        m.insert(name, packets);
    }
    m
}

fn bridge_table(host: &SimHost) -> String {
    text(&host.exec(&["nft", "list", "table", "bridge", "stratus_sg"]))
}

/// When a command was sent, when `cs` saw its job done (it polls every 0.5 s), and when
/// a probe first saw the port in the state wanted.
struct PortTiming {
    sent: Instant,
    sent_at: std::time::SystemTime,
    done: Instant,
    seen: Instant,
}

impl PortTiming {
    fn after_sent(&self) -> Duration {
        self.seen - self.sent
    }

    fn describe(&self, state: &str) -> String {
        let job = (self.done - self.sent).as_secs_f64();
        let seen = self.after_sent().as_secs_f64();
        format!(
            "port 22 {state} {seen:.2} s after the command was sent; the job done (as cs \
             polled it) at {job:.2} s: {:+.2} s from the job's end",
            seen - job
        )
    }
}

/// Runs `f` (a command changing `ip`'s rules) while `host` probes `ip:22` every 0.1 s
/// (a connection attempt of at most 0.5 s) until it is open (`open`) or not: f's result,
/// and when the first probe to find that state (to stay, when closed) was started.
fn watch_port<T>(host: &SimHost, ip: &str, open: bool, f: impl FnOnce() -> T) -> (T, PortTiming) {
    let (sent, sent_at) = (Instant::now(), std::time::SystemTime::now());
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let deadline = sent + Duration::from_secs(60);
            // Closed counts from the first of three failed attempts in a row (one may
            // fail on a busy guest); open from the first that opens.
            let need = if open { 1 } else { 3 };
            let mut run: Vec<Instant> = vec![];
            loop {
                let t = Instant::now();
                if tcp_open(host, ip, 22, 0.5) == open {
                    run.push(t);
                    if run.len() == need {
                        return Some(run[0]);
                    }
                } else {
                    run.clear();
                }
                if t > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let out = f();
        let done = Instant::now();
        let seen = watcher.join().unwrap().unwrap_or_else(|| {
            panic!(
                "{ip}:22 not {} within 60 s",
                if open { "open" } else { "closed" }
            )
        });
        (
            out,
            PortTiming {
                sent,
                sent_at,
                done,
                seen,
            },
        )
    })
}

/// When host's agent next applied a rule set after `since` (its log's "security groups
/// applied" lines, UTC timestamps): seconds after `since`, and the line.
fn agent_applied_after(host: &SimHost, since: std::time::SystemTime) -> Option<(f64, String)> {
    let since = since
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let day = (since / 86400.0).floor() * 86400.0;
    let log = std::fs::read_to_string(host.state.join("agent/agent.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("security groups applied"))
        .find_map(|l| {
            // "2026-01-01T12:34:56.789012Z  INFO ...": the time of day.
            let t = l.split_whitespace().next()?.split('T').nth(1)?;
            let t = t.trim_end_matches('Z');
            let mut hms = t.split(':');
            let (h, m, s): (f64, f64, f64) = (
                hms.next()?.parse().ok()?,
                hms.next()?.parse().ok()?,
                hms.next()?.parse().ok()?,
            );
            let at = day + h * 3600.0 + m * 60.0 + s;
            (at >= since).then(|| (at - since, l.to_string()))
        })
}

fn epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `virsh domid`: a new number each time the domain starts.
fn domid(host: &SimHost, vm: &str) -> String {
    host.virsh(&["domid", vm]).trim().to_string()
}

#[test]
fn security_groups_filter_guests_across_two_hosts() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2esgn",
        NFS_INDEX,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let hosts = tmp.path().join("hosts");
    let a = SimHost::up("e2esga", HOST_A, PASSWORD, &hosts);
    let b = SimHost::up("e2esgb", HOST_B, PASSWORD, &hosts);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "admin-pw-sg", &a.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-sg");
    api.allow_loopback_downloads();
    let files = HttpFiles::start(vec![("/bookworm-cloud.qcow2", Served::File(guest_image()))]);
    let diag = || diagnostics(&server, &[&a, &b]);

    // The cloud: a Basic zone (security groups enforced), guests in 192.168.205.10-20.
    let zone = id(&api.ok(
        "createZone",
        &[
            "name=sgz",
            "networktype=Basic",
            "dns1=192.0.2.53",
            "internaldns1=10.231.0.1",
        ],
    )["zone"]);
    let z = format!("zoneid={zone}");
    let listed = api.ok("listZones", &[&format!("id={zone}")]);
    assert_eq!(listed["zone"][0]["securitygroupsenabled"], true, "{listed}");
    api.ok(
        "updateConfiguration",
        &["name=kvm.acceleration", "value=qemu"],
    );
    let pod = id(&api.ok(
        "createPod",
        &[
            &z,
            "name=sgp",
            "gateway=10.231.205.1",
            "netmask=255.255.255.0",
            "startip=10.231.205.100",
            "endip=10.231.205.120",
        ],
    )["pod"]);
    let p = format!("podid={pod}");
    api.ok(
        "createVlanIpRange",
        &[
            &z,
            &p,
            &format!("gateway={GATEWAY}"),
            "netmask=255.255.255.0",
            &format!("startip={NET}.10"),
            &format!("endip={NET}.20"),
            "forvirtualnetwork=false",
        ],
    );
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &z,
            &p,
            "clustername=sgc",
            "clustertype=CloudManaged",
            "hypervisor=KVM",
        ],
    )["cluster"][0]);
    let c = format!("clusterid={cluster}");
    let add = |h: &SimHost| {
        id(&api.ok(
            "addHost",
            &[
                &z,
                &p,
                &c,
                "hypervisor=KVM",
                &format!("url=http://{}", h.address),
                "username=root",
                &format!("password={PASSWORD}"),
            ],
        )["host"][0])
    };
    let host_a = add(&a);
    let host_b = add(&b);
    api.ok(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=sgprimary",
            &format!("url={}", nfs.url(&primary)),
        ],
    );
    api.ok(
        "addImageStore",
        &[
            &z,
            "provider=NFS",
            "name=sgsecondary",
            &format!("url={}", nfs.url(&secondary)),
        ],
    );
    let os = api.ok("listOsTypes", &["keyword=Debian"]);
    let template = id(&api.ok(
        "registerTemplate",
        &[
            &z,
            "name=bookworm",
            "displaytext=Debian 12 cloud image (test bed)",
            &format!("url={}", files.url("/bookworm-cloud.qcow2")),
            "format=QCOW2",
            "hypervisor=KVM",
            &format!("ostypeid={}", id(&os["ostype"][0])),
        ],
    )["template"][0]);
    wait_for("the template ready", 300, || {
        let l = api.ok(
            "listTemplates",
            &["templatefilter=self", &format!("id={template}")],
        );
        (l["template"][0]["isready"] == true).then_some(())
    });
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("id");
    let public = ssh_keygen(&key);
    api.ok(
        "registerSSHKeyPair",
        &["name=sg-key", &format!("publickey={public}")],
    );

    // The groups, before any VM: `ssh` lets the hosts (the bridges' address) log in,
    // `db` admits tcp/5432 from the members of `app`, `locked` nothing.
    for name in ["ssh", "app", "db", "locked"] {
        api.ok(
            "createSecurityGroup",
            &[&format!("name={name}"), "description=e2e"],
        );
    }
    let r = api.ok(
        "authorizeSecurityGroupIngress",
        &[
            "securitygroupname=ssh",
            "protocol=tcp",
            "startport=22",
            "endport=22",
            &format!("cidrlist={NET}.0/24"),
        ],
    );
    assert_eq!(
        r["securitygroup"]["ingressrule"][0]["cidr"],
        format!("{NET}.0/24"),
        "{r}"
    );
    let r = api.ok(
        "authorizeSecurityGroupIngress",
        &[
            "securitygroupname=db",
            "protocol=tcp",
            &format!("startport={DB_PORT}"),
            &format!("endport={DB_PORT}"),
            "usersecuritygrouplist[0].account=admin",
            "usersecuritygrouplist[0].group=app",
        ],
    );
    assert_eq!(
        r["securitygroup"]["ingressrule"][0]["securitygroupname"], "app",
        "{r}"
    );

    // The VMs: open1 first (it copies the template's base to the pool), then the other
    // three at once.
    let deploy = |name: &str, host: &str, groups: &str| -> Guest {
        let d = api.ok(
            "deployVirtualMachine",
            &[
                &z,
                &format!("serviceofferingid={SMALL}"),
                &format!("templateid={template}"),
                &format!("hostid={host}"),
                "keypair=sg-key",
                &format!("name={name}"),
                &format!("securitygroupnames={groups}"),
            ],
        );
        let v = &d["virtualmachine"];
        assert_eq!(v["state"], "Running", "{d}");
        assert_eq!(v["hostid"], host, "{d}");
        let mut names: Vec<&str> = v["securitygroup"]
            .as_array()
            .unwrap_or_else(|| panic!("{d}"))
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        names.sort();
        let mut want: Vec<&str> = groups.split(',').collect();
        want.sort();
        assert_eq!(names, want, "{d}");
        Guest {
            name: name.into(),
            id: id(v),
            ip: v["nic"][0]["ipaddress"].as_str().unwrap().into(),
            mac: v["nic"][0]["macaddress"]
                .as_str()
                .unwrap()
                .to_ascii_lowercase(),
        }
    };
    let deployed = Instant::now();
    let open1 = deploy("open1", &host_a, "ssh");
    let (closed1, app1, db1) = std::thread::scope(|s| {
        let c = s.spawn(|| deploy("closed1", &host_a, "locked"));
        let p = s.spawn(|| deploy("app1", &host_a, "ssh,app"));
        let d = s.spawn(|| deploy("db1", &host_b, "ssh,db"));
        (c.join().unwrap(), p.join().unwrap(), d.join().unwrap())
    });
    eprintln!(
        "four VMs Running {} s after the first deploy: {:?}",
        deployed.elapsed().as_secs(),
        [&open1, &closed1, &app1, &db1]
    );

    // One guest segment over both hosts: a veth pair between their bridges. The bridges
    // keep the gateway's MAC (set by the agent, not taken from a new port).
    let (ns_a, ns_b) = (format!("stratus-{}", a.name), format!("stratus-{}", b.name));
    ip_cmd(&[
        "link", "add", VETH_A, "netns", &ns_a, "type", "veth", "peer", "name", VETH_B, "netns",
        &ns_b,
    ]);
    let veth = Veth { ns: ns_a.clone() };
    ip_cmd(&["-n", &ns_a, "link", "set", VETH_A, "master", BRIDGE, "up"]);
    ip_cmd(&["-n", &ns_b, "link", "set", VETH_B, "master", BRIDGE, "up"]);
    for h in [&a, &b] {
        let mac = text(&h.exec(&["cat", &format!("/sys/class/net/{BRIDGE}/address")]));
        assert_eq!(mac.trim(), GATEWAY_MAC, "{}'s bridge", h.name);
    }

    wait_for_ssh(&a, &key, &open1, deployed, &diag);
    wait_for_ssh(&a, &key, &app1, deployed, &diag);
    wait_for_ssh(&b, &key, &db1, deployed, &diag);

    // Each host filters its own guests (their taps in the bridge table).
    let (ta, tb) = (bridge_table(&a), bridge_table(&b));
    for g in [&open1, &closed1, &app1] {
        assert!(ta.contains(&g.tap()), "{} on A:\n{ta}", g.tap());
        assert!(!tb.contains(&g.tap()), "{} not on B:\n{tb}", g.tap());
    }
    assert!(tb.contains(&db1.tap()), "{tb}");

    // closed1: booted (its DHCP lease was handed out) but nothing gets in. Attempts go on
    // until a minute after the lease (its sshd starts well within that); the guest's own
    // account, read once it is open, shows its sshd listened during some of them.
    let leases = a.state.join(format!("agent/networks/{BRIDGE}/leases"));
    // dnsmasq's lease file: "EXPIRY MAC IP ..." (1 h leases).
    let leased_at = wait_for("closed1's DHCP lease", SSH_WITHIN, || {
        std::fs::read_to_string(&leases)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains(&closed1.mac))
            .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .map(|expiry| expiry - 3600)
    });
    let domid_before = domid(&a, &closed1.id);
    let mut refusals: Vec<Instant> = vec![];
    while refusals.len() < 3 || epoch() < leased_at + 60 {
        let t = Instant::now();
        assert!(
            a.guest_ssh(&key, &closed1.ip, "true").is_none(),
            "closed1 is in `locked` only, which admits nothing"
        );
        assert!(!tcp_open(&a, &closed1.ip, 22, 3.0));
        refusals.push(t);
    }

    // Authorize tcp/22 on `locked`: SSH works within seconds, without a restart. The
    // port is probed every 0.1 s from the moment the command is sent.
    let (r, timing_open) = watch_port(&a, &closed1.ip, true, || {
        api.ok(
            "authorizeSecurityGroupIngress",
            &[
                "securitygroupname=locked",
                "protocol=tcp",
                "startport=22",
                "endport=22",
                "cidrlist=0.0.0.0/0",
            ],
        )
    });
    let rule = r["securitygroup"]["ingressrule"][0]["ruleid"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let (ok, out) = in_guest(
        &a,
        &key,
        &closed1,
        "cat /proc/uptime; sudo systemctl show -p ActiveEnterTimestampMonotonic ssh.service",
    );
    let login_after = timing_open.done.elapsed();
    assert!(ok, "{out}");
    let uptime1: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    let at_uptime1 = Instant::now();
    let ssh_since: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("ActiveEnterTimestampMonotonic="))
        .unwrap_or_else(|| panic!("{out}"))
        .trim()
        .parse::<f64>()
        .unwrap()
        / 1e6;
    let sshd_running = uptime1 - ssh_since;
    let sshd_started = at_uptime1 - Duration::from_secs_f64(sshd_running);
    let refused_while_up = refusals
        .iter()
        .filter(|t| **t > sshd_started + Duration::from_secs(1))
        .count();
    eprintln!(
        "closed1: authorize: {}; an SSH login done {:.1} s after the job; its sshd had been \
         running for {sshd_running:.0} s (since {} s after its DHCP lease): {refused_while_up} \
         of {} refused attempts came while it ran",
        timing_open.describe("open"),
        login_after.as_secs_f64(),
        epoch() as i64 - sshd_running as i64 - leased_at as i64,
        refusals.len()
    );
    assert!(
        refused_while_up > 0,
        "closed1's sshd started {sshd_running:.0} s before the login, after every refused \
         attempt: nothing shows SSH was refused while it listened"
    );
    let open_after = timing_open.after_sent();
    assert!(
        open_after < Duration::from_secs(15),
        "authorize -> reachable took {open_after:?}"
    );

    // Revoke it: closed again within seconds.
    let (_, timing_closed) = watch_port(&a, &closed1.ip, false, || {
        api.ok("revokeSecurityGroupIngress", &[&format!("id={rule}")])
    });
    eprintln!("closed1: revoke: {}", timing_closed.describe("closed"));
    for (what, t) in [("authorize", &timing_open), ("revoke", &timing_closed)] {
        match agent_applied_after(&a, t.sent_at) {
            Some((after, line)) => eprintln!(
                "closed1: host A's agent applied the {what}'s rule set {after:.2} s after the \
                 command was sent: {line}"
            ),
            None => eprintln!("closed1: no rule set applied on A after the {what} in its log"),
        }
    }
    let closed_after = timing_closed.after_sent();
    assert!(
        a.guest_ssh(&key, &closed1.ip, "true").is_none(),
        "no SSH after the revoke"
    );
    assert!(
        closed_after < Duration::from_secs(15),
        "revoke -> closed took {closed_after:?}"
    );
    // The same guest ran on: a narrower rule (the hosts' address only) lets the host in
    // again, and the uptime grew by the time between.
    api.ok(
        "authorizeSecurityGroupIngress",
        &[
            "securitygroupname=locked",
            "protocol=tcp",
            "startport=22",
            "endport=22",
            &format!("cidrlist={GATEWAY}/32"),
        ],
    );
    let again = wait_for("SSH to closed1 with a /32 rule", 60, || {
        a.guest_ssh(&key, &closed1.ip, "cat /proc/uptime")
            .filter(|(ok, _)| *ok)
    });
    let uptime2: f64 = again.1.split_whitespace().next().unwrap().parse().unwrap();
    let between = at_uptime1.elapsed().as_secs_f64();
    assert!(
        (uptime2 - uptime1 - between).abs() < 10.0,
        "closed1 never restarted: uptime {uptime1} s, then {uptime2} s, {between:.0} s later"
    );
    assert_eq!(domid(&a, &closed1.id), domid_before, "the same domain run");

    // Group to group, across the hosts: db1 (on B) admits tcp/5432 from `app` only.
    for (h, g) in [(&a, &open1), (&a, &app1), (&b, &db1)] {
        install_probe(h, &key, g);
    }
    let (ok, out) = in_guest(
        &b,
        &key,
        &db1,
        &format!(
            "nohup python3 -m http.server {DB_PORT} --bind 0.0.0.0 >/dev/null 2>&1 </dev/null &"
        ),
    );
    assert!(ok, "{out}");
    wait_for("db1's listener", 60, || {
        let p = probe(&b, &key, &db1, None, &[format!("127.0.0.1:{DB_PORT}")]);
        p[0].1.then_some(())
    });
    let db = format!("{}:{DB_PORT}", db1.ip);
    let from_app = probe(&a, &key, &app1, None, std::slice::from_ref(&db));
    assert!(
        from_app[0].1,
        "app1 (in `app`, on A) reaches db1:{DB_PORT} on B: {from_app:?}\n{}",
        diag()
    );
    let from_open = probe(
        &a,
        &key,
        &open1,
        None,
        &[db.clone(), format!("{}:22", db1.ip)],
    );
    assert!(
        !from_open[0].1,
        "open1 (not in `app`) does not reach db1:{DB_PORT}: {from_open:?}"
    );
    assert!(
        from_open[1].1,
        "open1 reaches db1's SSH (allowed from the subnet) over the same path: {from_open:?}"
    );
    eprintln!(
        "group to group across hosts: from app1 {}; from open1 {}, {}",
        from_app[0].2, from_open[0].2, from_open[1].2
    );

    // Anti-spoofing. Counters of what open1 sends from SPOOFED or OTHER_MAC on host A's
    // bridge before the agent's table (prerouting) and after it (forward and input).
    let rules = tmp.path().join("probe.nft");
    std::fs::write(
        &rules,
        format!(
            "table bridge {PROBE_TABLE} {{\n\
             \tchain count_pre {{\n\t\ttype filter hook prerouting priority -300; policy accept;\n\
             \t\tether saddr {mac} ip saddr {SPOOFED} counter comment \"ip-sent\"\n\
             \t\tether saddr {OTHER_MAC} counter comment \"mac-sent\"\n\t}}\n\
             \tchain count_fwd {{\n\t\ttype filter hook forward priority 0; policy accept;\n\
             \t\tip saddr {SPOOFED} counter comment \"ip-forwarded\"\n\
             \t\tether saddr {OTHER_MAC} counter comment \"mac-forwarded\"\n\t}}\n\
             \tchain count_in {{\n\t\ttype filter hook input priority 0; policy accept;\n\
             \t\tip saddr {SPOOFED} counter comment \"ip-to-host\"\n\
             \t\tether saddr {OTHER_MAC} counter comment \"mac-to-host\"\n\t}}\n}}\n",
            mac = open1.mac
        ),
    )
    .unwrap();
    let out = a.exec(&["nft", "-f", rules.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    // Targets that admit open1: app1's SSH (from the subnet, SPOOFED included) and the
    // host's metadata service. Static neighbours on every side: no ARP needed, so only
    // the source address can be what stops it.
    let targets = [format!("{}:22", app1.ip), format!("{GATEWAY}:80")];
    let nic = nic_of(&a, &key, &open1);
    let (ok, out) = in_guest(
        &a,
        &key,
        &open1,
        &format!(
            "sudo ip neigh replace {} lladdr {} dev {nic} nud permanent 2>&1 && \
             sudo ip neigh replace {GATEWAY} lladdr {GATEWAY_MAC} dev {nic} nud permanent 2>&1",
            app1.ip, app1.mac
        ),
    );
    assert!(ok, "{out}");
    let (ok, out) = in_guest(
        &a,
        &key,
        &app1,
        &format!(
            "sudo ip neigh replace {SPOOFED} lladdr {} dev {} nud permanent 2>&1",
            open1.mac,
            nic_of(&a, &key, &app1)
        ),
    );
    assert!(ok, "{out}");
    let out = a.exec(&[
        "ip",
        "neigh",
        "replace",
        SPOOFED,
        "lladdr",
        &open1.mac,
        "dev",
        BRIDGE,
        "nud",
        "permanent",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let real = probe(&a, &key, &open1, None, &targets);
    assert!(real.iter().all(|t| t.1), "open1 as itself: {real:?}");
    let (ok, out) = in_guest(
        &a,
        &key,
        &open1,
        &format!("sudo ip addr add {SPOOFED}/24 dev {nic} 2>&1"),
    );
    assert!(ok, "{out}");
    let spoofed = probe(&a, &key, &open1, Some(SPOOFED), &targets);
    let real_too = probe(&a, &key, &open1, Some(open1.ip.as_str()), &targets);
    let n = counters(&a);
    eprintln!("open1 from {SPOOFED}: {spoofed:?}; from its own address: {real_too:?}; {n:?}");
    assert!(
        spoofed.iter().all(|t| !t.1),
        "open1 from {SPOOFED} reaches nothing: {spoofed:?}"
    );
    assert!(
        real_too.iter().all(|t| t.1),
        "open1 from its own address: {real_too:?}"
    );
    assert!(n["ip-sent"] > 0, "open1 did send from {SPOOFED}: {n:?}");
    assert_eq!(
        (n["ip-forwarded"], n["ip-to-host"]),
        (0, 0),
        "nothing from {SPOOFED} got past the bridge: {n:?}\n{}",
        diag()
    );
    let (ok, out) = in_guest(
        &a,
        &key,
        &open1,
        &format!(
            "sudo ip addr del {SPOOFED}/24 dev {nic}; sudo ip neigh del {} dev {nic}; \
             sudo ip neigh del {GATEWAY} dev {nic} 2>&1",
            app1.ip
        ),
    );
    assert!(ok, "{out}");
    let _ = a.exec(&["ip", "neigh", "del", SPOOFED, "dev", BRIDGE]);

    // Another MAC: the guest changes it, tries both targets, takes its own back and
    // tries again (it cannot be reached meanwhile: the test reads what it wrote after).
    let script = format!(
        "exec >/var/tmp/mac.out 2>&1\n\
         ip link set dev {nic} address {OTHER_MAC}\n\
         echo changed $(cat /sys/class/net/{nic}/address)\n\
         python3 /var/tmp/probe.py - {t}\n\
         ip link set dev {nic} address {own}\n\
         echo restored $(cat /sys/class/net/{nic}/address)\n\
         sleep 1\n\
         python3 /var/tmp/probe.py - {t}\n\
         echo done\n",
        t = targets.join(" "),
        own = open1.mac
    );
    let (ok, out) = in_guest(
        &a,
        &key,
        &open1,
        &format!(
            "cat > /var/tmp/mac.sh <<'EOF'\n{script}EOF\n\
             sudo sh -c 'nohup sh /var/tmp/mac.sh >/dev/null 2>&1 </dev/null &'"
        ),
    );
    assert!(ok, "{out}");
    let report = wait_for("open1 back with its own MAC", 120, || {
        a.guest_ssh(&key, &open1.ip, "cat /var/tmp/mac.out")
            .filter(|(ok, out)| *ok && out.contains("done"))
            .map(|(_, out)| out)
    });
    let n = counters(&a);
    eprintln!("open1 with MAC {OTHER_MAC}, then its own:\n{report}{n:?}");
    let (before, after) = report
        .split_once("restored")
        .unwrap_or_else(|| panic!("{report}"));
    assert!(before.contains(&format!("changed {OTHER_MAC}")), "{report}");
    assert!(after.trim_start().starts_with(&open1.mac), "{report}");
    let of_targets = |part: &str| {
        parse_probe(part)
            .into_iter()
            .filter(|t| targets.contains(&t.0))
            .collect::<Vec<_>>()
    };
    let (with_other, with_own) = (of_targets(before), of_targets(after));
    assert_eq!((with_other.len(), with_own.len()), (2, 2), "{report}");
    assert!(
        with_other.iter().all(|t| !t.1),
        "with another MAC open1 reaches nothing: {report}"
    );
    assert!(
        with_own.iter().all(|t| t.1),
        "with its own MAC again: {report}"
    );
    assert!(n["mac-sent"] > 0, "open1 did send as {OTHER_MAC}: {n:?}");
    assert_eq!(
        (n["mac-forwarded"], n["mac-to-host"]),
        (0, 0),
        "nothing from {OTHER_MAC} got past the bridge: {n:?}"
    );
    let out = a.exec(&["nft", "delete", "table", "bridge", PROBE_TABLE]);
    assert!(out.status.success(), "{}", text(&out));

    // Expunged: open1's rules leave host A (its tap, its chains); the others stay.
    let hex = open1.mac.replace(':', "");
    assert!(bridge_table(&a).contains(&open1.tap()));
    api.ok(
        "destroyVirtualMachine",
        &[&format!("id={}", open1.id), "expunge=true"],
    );
    let expunged = Instant::now();
    let left = wait_for("open1's rules gone from host A", 30, || {
        let t = bridge_table(&a);
        (!t.contains(&open1.tap())).then_some(t)
    });
    eprintln!(
        "open1 expunged: its tap left host A's bridge table within {:.1} s",
        expunged.elapsed().as_secs_f64()
    );
    let inet = text(&a.exec(&["nft", "list", "table", "inet", "stratus_sg"]));
    assert!(!inet.contains(&format!("in_{hex}")), "{inet}");
    assert!(!inet.contains(&format!("{} :", open1.ip)), "{inet}");
    for g in [&closed1, &app1] {
        assert!(left.contains(&g.tap()), "{} stays:\n{left}", g.tap());
    }

    // What the reconciler met on the way (retried by design; printed, not judged).
    let log = server.log_text();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("rule sets not applied"))
        .collect();
    eprintln!(
        "sg-sync: {} failed passes in the server's log{}",
        failed.len(),
        failed
            .first()
            .map(|l| format!(", the first: {l}"))
            .unwrap_or_default()
    );
    drop(veth);
    for ns in [&ns_a, &ns_b] {
        let out = Command::new("ip")
            .args(["-n", ns, "link"])
            .output()
            .unwrap();
        let links = String::from_utf8_lossy(&out.stdout);
        assert!(!links.contains("sgx-"), "the veth pair is gone: {links}");
    }
    eprintln!(
        "measured: authorize: {}; SSH login {:.1} s after the job; revoke: {}; whole test {} s",
        timing_open.describe("open"),
        login_after.as_secs_f64(),
        timing_closed.describe("closed"),
        started.elapsed().as_secs()
    );
    drop(nfs);
}
