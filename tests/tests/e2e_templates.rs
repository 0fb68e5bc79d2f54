//! Issue 13 end to end, with real parts only: a deployment tool provisions a VM it can log
//! in to. The management server (its own Postgres), nfs-ganesha for primary and secondary
//! storage and one simulated host (network namespace, sshd, libvirtd) as in e2e_vms.rs.
//!
//! The test bed's real cloud image (Debian bookworm with cloud-init, built from Debian
//! packages by tests/testbed/guest-image.sh and cached between runs) is served over HTTP
//! and registered as a QCOW2 template; it becomes ready with its virtual size. A VM
//! deployed from it with a key pair and `#cloud-config` user data boots under TCG; the
//! real cloud-init in the guest applies the agent's config drive; the test logs in over
//! SSH (from inside the host's namespace, which holds the guest bridge) to the VM's
//! allocated address with the private key, finds the file the user data wrote, the
//! hostname set to the VM's name, cloud-init done, and the metadata service answering the
//! VM's name. Expunged, its overlay leaves primary storage and the template's base stays.
//! Then the same through unmodified clients: Apache libcloud's `create_node` with an image
//! from `list_images()` and a key pair (SSH works), and Ansible's `cs_instance` (PyPI's
//! `ansible`, collection ngine_io.cloudstack) deploying by template name, whose second
//! run reports no change. The VMs boot one after another: two cores under TCG.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use stratus_tests::{guest_image, wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost};

const HOST_INDEX: u8 = 197;
const NFS_INDEX: u8 = 198;
const USERDATA_FILE: &str = "/var/tmp/stratus-userdata-ok";
const KEYPAIR: &str = "e2e-key";
const OFFERING: &str = "Medium 1G";
const TEMPLATE: &str = "bookworm-cloud";
/// Power-on to SSH login takes 60-120 s under TCG here; more when the cores are busy.
const SSH_WITHIN: u64 = 360;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn vm(api: &CsApi, vm: &str) -> Value {
    let l = api.ok("listVirtualMachines", &[&format!("id={vm}")]);
    assert_eq!(l["count"], 1, "{l}");
    l["virtualmachine"][0].clone()
}

fn domains(host: &SimHost) -> Vec<String> {
    host.virsh(&["list", "--all", "--uuid"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Runs `command` in the guest at `ip` as `debian` (see [`SimHost::guest_ssh`]).
fn ssh(host: &SimHost, key: &Path, ip: &str, command: &str) -> Option<(bool, String)> {
    host.guest_ssh(key, ip, command)
}

/// What to look at when a guest does not answer: the VM as the API lists it, recent
/// events, QEMU's log on the host, the console read by OCR and the server's log tail.
fn diagnostics(api: &CsApi, server: &Server, host: &SimHost, vm_id: &str, dir: &Path) -> String {
    let mut s = String::new();
    let l = api.run(&[], "listVirtualMachines", &[&format!("id={vm_id}")]);
    s += &format!("listVirtualMachines: {}\n", l.json);
    let e = api.run(&[], "listEvents", &["listall=true", "pagesize=20"]);
    s += &format!("listEvents: {}\n", e.json);
    let logs = host.state.join("libvirt/log/qemu");
    for f in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        s += &format!(
            "{}:\n{}\n",
            f.path().display(),
            lines[lines.len().saturating_sub(15)..].join("\n")
        );
    }
    let net = host.state.join("agent/networks/cloudbr0");
    for f in ["hosts", "leases", "dnsmasq.log"] {
        let text = std::fs::read_to_string(net.join(f)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        s += &format!(
            "dnsmasq's {f}:\n{}\n",
            lines[lines.len().saturating_sub(20)..].join("\n")
        );
    }
    let png = dir.join(format!("{vm_id}.png"));
    let shot = host.exec(&[
        "virsh",
        "-c",
        "qemu:///system",
        "screenshot",
        vm_id,
        png.to_str().unwrap(),
    ]);
    if shot.status.success() {
        if let Ok(o) = Command::new("tesseract").arg(&png).arg("-").output() {
            s += &format!("console (OCR):\n{}\n", String::from_utf8_lossy(&o.stdout));
        }
    } else {
        s += &format!("no screenshot: {}\n", String::from_utf8_lossy(&shot.stderr));
    }
    let log = server.log_text();
    let lines: Vec<&str> = log.lines().collect();
    s += &format!(
        "server log tail:\n{}\n",
        lines[lines.len().saturating_sub(30)..].join("\n")
    );
    s
}

/// Waits for an SSH login to the guest and answers what `cat USERDATA_FILE` printed.
#[allow(clippy::too_many_arguments)]
fn wait_for_login(
    api: &CsApi,
    server: &Server,
    host: &SimHost,
    key: &Path,
    vm_id: &str,
    ip: &str,
    dir: &Path,
    since: Instant,
) -> String {
    let deadline = since + Duration::from_secs(SSH_WITHIN);
    loop {
        if let Some((ok, out)) = ssh(host, key, ip, &format!("cat {USERDATA_FILE}")) {
            if ok {
                eprintln!(
                    "{vm_id}: SSH login {} s after the deploy was sent",
                    since.elapsed().as_secs()
                );
                return out;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no SSH login with the user data's file to debian@{ip} within {SSH_WITHIN} s\n{}",
            diagnostics(api, server, host, vm_id, dir)
        );
        std::thread::sleep(Duration::from_secs(5));
    }
}

fn python() -> String {
    stratus_tests::python()
}

/// Runs tests/clients/libcloud_templates.py; its JSON lines.
fn libcloud(args: &[&str]) -> Vec<Value> {
    let out = Command::new(python())
        .arg(stratus_tests::workspace_root().join("tests/clients/libcloud_templates.py"))
        .args(args)
        .output()
        .expect("python with libcloud (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "libcloud {}: {stdout}\n{}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn step(steps: &[Value], name: &str) -> Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {steps:?}"))
        .clone()
}

/// Runs the Ansible playbook once; (its `changed` count in the recap, its output).
fn ansible(api: &CsApi, zone: &str, home: &Path) -> (u32, String) {
    api.ansible_playbook(
        "tests/clients/ansible_instance.yml",
        serde_json::json!({
            "vm_name": "ans1",
            "template": TEMPLATE,
            "offering": OFFERING,
            "zone": zone,
            "ssh_key": KEYPAIR,
        }),
        home,
    )
}

/// Files directly in the primary export whose names start with `prefix`.
fn files_starting(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Destroys with expunge; nothing of the VM is left on the host.
fn expunge(api: &CsApi, host: &SimHost, vm_id: &str) {
    api.ok(
        "destroyVirtualMachine",
        &[&format!("id={vm_id}"), "expunge=true"],
    );
    let l = api.ok(
        "listVirtualMachines",
        &[&format!("id={vm_id}"), "listall=true"],
    );
    assert!(l.get("virtualmachine").is_none(), "{l}");
    assert!(!domains(host).contains(&vm_id.to_string()));
}

#[test]
fn provision_a_vm_from_a_template_and_log_in() {
    let test_started = Instant::now();
    let image = guest_image();
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&image)
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    let virtual_size = info["virtual-size"].as_i64().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2etn",
        NFS_INDEX,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let host = SimHost::up(
        "e2eth",
        HOST_INDEX,
        "tmpl-host-pw",
        &tmp.path().join("hosts"),
    );
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "admin-pw-t", &host.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-t");
    api.allow_loopback_downloads();
    let files = HttpFiles::start(vec![("/bookworm-cloud.qcow2", Served::File(image.clone()))]);

    // The cloud: a Basic zone whose guests get 192.168.197.10-12 on the host's cloudbr0.
    let zone = id(&api.ok(
        "createZone",
        &[
            "name=tz",
            "networktype=Basic",
            "dns1=192.0.2.53",
            "internaldns1=10.231.0.1",
        ],
    )["zone"]);
    let z = format!("zoneid={zone}");
    api.ok(
        "updateConfiguration",
        &["name=kvm.acceleration", "value=qemu"],
    );
    let pod = id(&api.ok(
        "createPod",
        &[
            &z,
            "name=tp",
            "gateway=10.231.197.1",
            "netmask=255.255.255.0",
            "startip=10.231.197.100",
            "endip=10.231.197.120",
        ],
    )["pod"]);
    let p = format!("podid={pod}");
    api.ok(
        "createVlanIpRange",
        &[
            &z,
            &p,
            "gateway=192.168.197.1",
            "netmask=255.255.255.0",
            "startip=192.168.197.10",
            "endip=192.168.197.12",
            "forvirtualnetwork=false",
        ],
    );
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &z,
            &p,
            "clustername=tc",
            "clustertype=CloudManaged",
            "hypervisor=KVM",
        ],
    )["cluster"][0]);
    let c = format!("clusterid={cluster}");
    api.ok(
        "addHost",
        &[
            &z,
            &p,
            &c,
            "hypervisor=KVM",
            &format!("url=http://{}", host.address),
            "username=root",
            "password=tmpl-host-pw",
        ],
    );
    api.ok(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=tprimary",
            &format!("url={}", nfs.url(&primary)),
        ],
    );
    api.ok(
        "addImageStore",
        &[
            &z,
            "provider=NFS",
            "name=tsecondary",
            &format!("url={}", nfs.url(&secondary)),
        ],
    );

    // 1. The image, served over HTTP, registered as a template: ready with its virtual size.
    let os = api.ok("listOsTypes", &["keyword=Debian"]);
    let os_types = os["ostype"].as_array().expect("Debian OS types");
    let debian = os_types
        .iter()
        .find(|o| {
            o["description"]
                .as_str()
                .unwrap_or_default()
                .contains("Debian GNU/Linux 12")
        })
        .unwrap_or(&os_types[0]);
    let r = api.ok(
        "registerTemplate",
        &[
            &z,
            &format!("name={TEMPLATE}"),
            "displaytext=Debian 12 cloud image (test bed)",
            &format!("url={}", files.url("/bookworm-cloud.qcow2")),
            "format=QCOW2",
            "hypervisor=KVM",
            &format!("ostypeid={}", id(debian)),
            "passwordenabled=false",
        ],
    );
    let template = id(&r["template"][0]);
    let registered = Instant::now();
    let row = wait_for("the template ready", 300, || {
        let l = api.ok(
            "listTemplates",
            &["templatefilter=self", &format!("id={template}")],
        );
        let row = l["template"][0].clone();
        (row["isready"] == true).then_some(row)
    });
    eprintln!(
        "template ready {} s after registration: {row}",
        registered.elapsed().as_secs()
    );
    assert_eq!(row["size"], virtual_size, "the image's virtual size: {row}");
    assert_eq!(row["format"], "QCOW2");
    assert_eq!(row["passwordenabled"], false);

    // 2. A key pair and an offering with 1 GiB of memory; a VM from the template.
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("id");
    let public = stratus_tests::ssh_keygen(&key);
    api.ok(
        "registerSSHKeyPair",
        &[
            &format!("name={KEYPAIR}"),
            &format!("publickey={}", public.trim()),
        ],
    );
    let offering = id(&api.ok(
        "createServiceOffering",
        &[
            &format!("name={OFFERING}"),
            "displaytext=1 vCPU, 1 GiB",
            "cpunumber=1",
            "cpuspeed=500",
            "memory=1024",
        ],
    )["serviceoffering"]);
    let user_data = format!(
        "#cloud-config\nwrite_files:\n  - path: {USERDATA_FILE}\n    content: \"user data applied\\n\"\n"
    );
    let user_data = base64::engine::general_purpose::STANDARD.encode(user_data);

    // A guest joins its account's `default` security group, which lets nothing in (the
    // hosts' own traffic included): open SSH and ping, with which the test reaches it.
    for rule in [
        ["protocol=tcp", "startport=22", "endport=22"],
        ["protocol=icmp", "icmptype=-1", "icmpcode=-1"],
    ] {
        let mut args = vec!["securitygroupname=default", "cidrlist=0.0.0.0/0"];
        args.extend(rule);
        api.ok("authorizeSecurityGroupIngress", &args);
    }
    let before_deploy = Instant::now();
    let d = api.ok(
        "deployVirtualMachine",
        &[
            &z,
            &format!("templateid={template}"),
            &format!("serviceofferingid={offering}"),
            &format!("keypair={KEYPAIR}"),
            "name=tmplvm1",
            &format!("userdata={user_data}"),
        ],
    );
    let v = &d["virtualmachine"];
    let vm_id = id(v);
    eprintln!(
        "deploy: Running in {} s (the template's base copied to the pool first)",
        before_deploy.elapsed().as_secs()
    );
    assert_eq!(v["state"], "Running", "{d}");
    assert_eq!(v["templateid"], template.as_str());
    assert_eq!(v["keypair"], KEYPAIR, "{d}");
    assert_eq!(v["memory"], 1024);
    let ip = v["nic"][0]["ipaddress"].as_str().unwrap().to_string();
    let gateway = v["nic"][0]["gateway"].as_str().unwrap().to_string();
    assert_eq!(ip, "192.168.197.10");
    let vols = api.ok("listVolumes", &[&format!("virtualmachineid={vm_id}")]);
    let vol = &vols["volume"][0];
    assert_eq!(vol["type"], "ROOT");
    assert_eq!(
        vol["size"], virtual_size,
        "the root disk is the template's size"
    );
    let vol_file = primary.join(vol["path"].as_str().unwrap());
    assert!(vol_file.exists(), "{} exists", vol_file.display());
    let bases = files_starting(&primary, &format!("template-{template}-"));
    assert_eq!(
        bases.len(),
        1,
        "one base of the template on the pool: {bases:?}"
    );

    // The real cloud-init applies the config drive: the key, the user data, the name.
    let written = wait_for_login(
        &api,
        &server,
        &host,
        &key,
        &vm_id,
        &ip,
        tmp.path(),
        before_deploy,
    );
    assert_eq!(
        written, "user data applied\n",
        "the file the user data writes"
    );
    let (_, name) = ssh(&host, &key, &ip, "hostname").expect("ssh hostname");
    assert_eq!(name.trim(), "tmplvm1", "cloud-init set the VM's name");
    let (_, status) = ssh(&host, &key, &ip, "cloud-init status --wait").expect("ssh cloud-init");
    assert!(status.contains("status: done"), "cloud-init: {status}");
    let (_, ds) = ssh(&host, &key, &ip, "sudo cat /run/cloud-init/result.json").expect("ssh");
    assert!(ds.contains("DataSourceConfigDrive"), "{ds}");
    // The metadata service on the guest's gateway knows the VM (the image has python3,
    // not curl).
    let (ok, md) = ssh(
        &host,
        &key,
        &ip,
        &format!(
            "python3 -c \"import urllib.request as u; \
             print(u.urlopen('http://{gateway}/latest/meta-data/local-hostname', timeout=10).read().decode())\""
        ),
    )
    .expect("ssh metadata");
    assert!(ok, "metadata service: {md}");
    assert_eq!(
        md.trim(),
        "tmplvm1",
        "local-hostname from the metadata service"
    );
    eprintln!(
        "tmplvm1 checked {} s after the deploy was sent",
        before_deploy.elapsed().as_secs()
    );

    // 2b. createTemplate from tmplvm1's root volume (stopped), password-enabled: a VM
    // from it boots tmplvm1's disk (the user data's file is there) under its own name,
    // and the password answered once by the deploy is what the guest's password service
    // (the gateway's port 8080, as CloudStack's router serves it) hands out.
    let stop = api.ok("stopVirtualMachine", &[&format!("id={vm_id}")]);
    assert_eq!(stop["virtualmachine"]["state"], "Stopped", "{stop}");
    let made_at = Instant::now();
    let clone = api.ok(
        "createTemplate",
        &[
            &format!("virtualmachineid={vm_id}"),
            "name=tmplvm1-image",
            &format!("ostypeid={}", id(debian)),
            "passwordenabled=true",
        ],
    );
    let clone = clone["template"].clone();
    let clone_id = id(&clone);
    eprintln!(
        "createTemplate: Ready in {} s ({} bytes written)",
        made_at.elapsed().as_secs(),
        clone["physicalsize"]
    );
    assert_eq!(clone["isready"], true, "{clone}");
    assert_eq!(clone["size"], virtual_size, "{clone}");
    assert_eq!(clone["passwordenabled"], true);
    let before_clone = Instant::now();
    let d2 = api.ok(
        "deployVirtualMachine",
        &[
            &z,
            &format!("templateid={clone_id}"),
            &format!("serviceofferingid={offering}"),
            &format!("keypair={KEYPAIR}"),
            "name=tmplvm2",
        ],
    );
    let v2 = &d2["virtualmachine"];
    let vm2 = id(v2);
    let password = v2["password"]
        .as_str()
        .expect("a password, once")
        .to_string();
    assert_eq!(password.len(), 12, "{d2}");
    let ip2 = v2["nic"][0]["ipaddress"].as_str().unwrap().to_string();
    let written = wait_for_login(
        &api,
        &server,
        &host,
        &key,
        &vm2,
        &ip2,
        tmp.path(),
        before_clone,
    );
    assert_eq!(written, "user data applied\n", "tmplvm1's disk, copied");
    let (_, name) = ssh(&host, &key, &ip2, "hostname").expect("ssh hostname");
    assert_eq!(name.trim(), "tmplvm2");
    let fetch_password = format!(
        "python3 -c \"import urllib.request as u; \
         r = u.Request('http://{gateway}:8080/', headers={{'DomU_Request': 'send_my_password'}}); \
         print(u.urlopen(r, timeout=10).read().decode())\""
    );
    let (ok, served) = ssh(&host, &key, &ip2, &fetch_password).expect("ssh password");
    assert!(ok, "password service: {served}");
    assert_eq!(
        served.trim(),
        password,
        "the password service serves the deploy's password"
    );

    // 2c. restoreVirtualMachine on the Running tmplvm2: a fresh disk from the template
    // (a file written since is gone), started again with a new password.
    let (ok, _) = ssh(
        &host,
        &key,
        &ip2,
        "sudo touch /var/tmp/before-restore && sync",
    )
    .expect("ssh marker");
    assert!(ok);
    let old_root =
        api.ok("listVolumes", &[&format!("virtualmachineid={vm2}")])["volume"][0].clone();
    let before_restore = Instant::now();
    let r = api.ok(
        "restoreVirtualMachine",
        &[&format!("virtualmachineid={vm2}")],
    );
    let rv = &r["virtualmachine"];
    assert_eq!(rv["state"], "Running", "{r}");
    let new_password = rv["password"].as_str().expect("a new password").to_string();
    assert_ne!(new_password, password);
    let new_root =
        api.ok("listVolumes", &[&format!("virtualmachineid={vm2}")])["volume"][0].clone();
    assert_ne!(new_root["id"], old_root["id"], "a new root volume");
    assert!(!primary.join(old_root["path"].as_str().unwrap()).exists());
    wait_for_login(
        &api,
        &server,
        &host,
        &key,
        &vm2,
        &ip2,
        tmp.path(),
        before_restore,
    );
    let (ok, _) = ssh(&host, &key, &ip2, "test -e /var/tmp/before-restore").expect("ssh");
    assert!(!ok, "the restored disk is the template's, not the old one");
    let (ok, served) = ssh(&host, &key, &ip2, &fetch_password).expect("ssh password");
    assert!(ok, "password service: {served}");
    assert_eq!(served.trim(), new_password);
    eprintln!(
        "tmplvm2 restored and logged in again {} s after restoreVirtualMachine",
        before_restore.elapsed().as_secs()
    );
    expunge(&api, &host, &vm2);
    let clone_bases = files_starting(&primary, &format!("template-{clone_id}-"));
    assert_eq!(clone_bases.len(), 1, "{clone_bases:?}");

    // 3. Expunged: its overlay leaves primary storage; the base stays for the next VM.
    expunge(&api, &host, &vm_id);
    assert!(!vol_file.exists(), "the overlay is removed");
    assert_eq!(
        files_starting(&primary, &format!("template-{template}-")),
        bases,
        "the base remains"
    );

    // 4. Apache libcloud, unmodified: an image from list_images(), a key pair; SSH works.
    let lc_started = Instant::now();
    let steps = libcloud(&[
        "create",
        &api.url,
        &api.key,
        &api.secret,
        &template,
        OFFERING,
        KEYPAIR,
        "lcvm1",
    ]);
    assert!(
        step(&steps, "images")["ids"]
            .as_array()
            .unwrap()
            .contains(&Value::from(template.clone())),
        "{steps:?}"
    );
    let running = step(&steps, "running");
    assert_eq!(running["name"], "lcvm1");
    let lc_id = running["id"].as_str().unwrap().to_string();
    let lc_ip = running["private_ips"][0].as_str().unwrap().to_string();
    assert_eq!(vm(&api, &lc_id)["templateid"], template.as_str());
    assert_eq!(vm(&api, &lc_id)["keypair"], KEYPAIR);
    // No user data: log in and look at the name.
    let deadline = lc_started + Duration::from_secs(SSH_WITHIN);
    let name = loop {
        if let Some((true, out)) = ssh(&host, &key, &lc_ip, "hostname") {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "no SSH login to libcloud's node {lc_ip}\n{}",
            diagnostics(&api, &server, &host, &lc_id, tmp.path())
        );
        std::thread::sleep(Duration::from_secs(5));
    };
    assert_eq!(name.trim(), "lcvm1");
    eprintln!(
        "libcloud's node: SSH login {} s after create_node",
        lc_started.elapsed().as_secs()
    );
    let steps = libcloud(&["destroy", &api.url, &api.key, &api.secret, &lc_id]);
    assert_eq!(step(&steps, "destroyed")["ok"], true);
    assert!(step(&steps, "destroyed")["left"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(!domains(&host).contains(&lc_id));

    // 5. Ansible's cs_instance by template name: changed, then nothing to change.
    let home = tempfile::tempdir().unwrap();
    let ans_started = Instant::now();
    let (changed, text) = ansible(&api, "tz", home.path());
    assert_eq!(changed, 1, "the first run deploys:\n{text}");
    eprintln!("ansible: deployed in {} s", ans_started.elapsed().as_secs());
    let l = api.ok("listVirtualMachines", &["name=ans1"]);
    let a = &l["virtualmachine"][0];
    assert_eq!(a["state"], "Running", "{l}");
    assert_eq!(a["templateid"], template.as_str());
    assert_eq!(a["keypair"], KEYPAIR);
    assert_eq!(a["serviceofferingname"], OFFERING);
    let (changed, text) = ansible(&api, "tz", home.path());
    assert_eq!(changed, 0, "the second run changes nothing:\n{text}");
    let l = api.ok("listVirtualMachines", &["name=ans1"]);
    assert_eq!(l["count"], 1, "still one VM: {l}");
    assert_eq!(l["virtualmachine"][0]["state"], "Running");
    expunge(&api, &host, &id(a));

    assert!(domains(&host).is_empty(), "no domain left");
    let mut left = files_starting(&primary, "");
    let mut expected_left = [bases.clone(), clone_bases].concat();
    left.sort();
    expected_left.sort();
    assert_eq!(
        left, expected_left,
        "only the templates' bases are left on primary storage"
    );
    eprintln!("whole test: {} s", test_started.elapsed().as_secs());
    drop(nfs);
}
