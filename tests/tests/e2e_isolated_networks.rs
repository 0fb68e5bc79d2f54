//! Isolated networks end to end (issue 15), with real parts only: the management server,
//! nfs-ganesha, two simulated hosts A and B (network namespaces with sshd, libvirtd and
//! the agent `addHost` installs) and three TCG guests from the test bed's Debian cloud
//! image. The zone is Advanced: a VXLAN physical network whose Guest traffic rides each
//! host's `eth0` (the test-bed bridge is the trunk between the hosts) and whose Public
//! traffic is each host's bridge `pubbr0`. A namespace of the test's own, `e2einpub`,
//! stands in for the outside: a bridge joined to both hosts' `pubbr0` by veth pairs, with
//! the public range's gateway 198.51.100.1 and a TCP service that answers each caller
//! the address it came from.
//!
//! Two accounts, `alice` and `bob`, each log in with their own keys, create a network
//! (10.1.1.0/24 and 10.2.2.0/24) and deploy into it. alice's `web1` runs on A (which
//! makes her router there), `web2` on B, whose DHCP and gateway are that router on A,
//! across the VXLAN trunk; bob's `db1` runs on B with its own router. Shown:
//!
//! - every guest's address came by DHCP from its own network's router (the lease is in
//!   that router's dnsmasq lease file, the guest's address is the one the API answered);
//! - nothing leaves until an egress rule allows it (the default offering denies egress,
//!   as CloudStack's); then each reaches the outside through source NAT: the outside sees
//!   the network's source NAT address (listPublicIpAddresses `issourcenat`);
//! - web1 reaches web2 (one network over two hosts) but neither reaches db1, nor db1
//!   either of them;
//! - alice's port forward 2222 → web1:22 is closed until a firewall rule opens the public
//!   port, then SSH from the outside on the public address logs in to web1; deleting the
//!   forward closes it; bob's static NAT of a second address to db1 with a firewall rule
//!   likewise, and while it holds, db1's traffic leaves from that address. Times from the
//!   command to the port's state (probed every 0.1 s) are printed (docs/benchmarks.md);
//! - each guest asks its gateway, as CloudStack's templates ask the virtual router, and
//!   hears about itself: the router's metadata service (`:80`) answers its id, name,
//!   keys and user data (web2's from the router on the other host), the password service
//!   (`:8080`) its password until it says it saved it, and a reset password after that.
//!
//! Test-bed indexes 218 (NFS server `e2einn`), 219 and 220 (hosts `e2eina`, `e2einb`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_tests::{
    guest_image, ssh_keygen, wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost,
};

const NFS_INDEX: u8 = 218;
const HOST_A: u8 = 219;
const HOST_B: u8 = 220;
const PASSWORD: &str = "in-host-pw";
/// Seeded by migration 0007: "Small Instance" (1 vCPU, 500 MHz, 512 MiB).
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
/// Power-on to SSH login under TCG, three guests booting on two cores.
const SSH_WITHIN: u64 = 600;
/// The outside: a namespace of the test's own on both hosts' public bridges.
const PUB_NS: &str = "e2einpub";
/// web2's user data, which its router's metadata service answers it.
const WEB2_USER_DATA: &str = "#cloud-config\n# web2's user data, from alice's router\n";
const PUB_GATEWAY: &str = "198.51.100.1";
/// The outside's TCP service: answers each connection with the caller's address.
const ECHO_PORT: u16 = 8080;
const ECHO_PY: &str = r#"import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.1", 8080))
s.listen(16)
while True:
    c, a = s.accept()
    c.sendall((a[0] + "\n").encode())
    c.close()
"#;

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
}

/// The outside: its namespace, the veth pairs to the hosts' public bridges and the echo
/// service; all removed on drop.
struct Outside {
    echo: Option<Child>,
}

impl Outside {
    fn up(hosts: &[&SimHost]) -> Outside {
        // A crashed run's leftover goes first.
        let _ = Command::new("ip")
            .args(["netns", "del", PUB_NS])
            .stderr(Stdio::null())
            .status();
        sh(&["ip", "netns", "add", PUB_NS]);
        let o = Outside { echo: None };
        let n = |args: &[&str]| {
            let mut v = vec!["ip", "-n", PUB_NS];
            v.extend_from_slice(args);
            sh(&v);
        };
        n(&["link", "set", "lo", "up"]);
        n(&["link", "add", "pub0", "type", "bridge"]);
        n(&["link", "set", "pub0", "up"]);
        n(&["addr", "add", &format!("{PUB_GATEWAY}/24"), "dev", "pub0"]);
        for (i, h) in hosts.iter().enumerate() {
            let (here, there) = (format!("inpub{i}"), format!("inpub{i}h"));
            let host_ns = format!("stratus-{}", h.name);
            sh(&[
                "ip", "-n", PUB_NS, "link", "add", &here, "type", "veth", "peer", "name", &there,
                "netns", &host_ns,
            ]);
            n(&["link", "set", &here, "master", "pub0", "up"]);
            sh(&[
                "ip", "-n", &host_ns, "link", "set", &there, "master", "pubbr0", "up",
            ]);
        }
        o
    }

    fn start_echo(&mut self) {
        let child = Command::new("ip")
            .args(["netns", "exec", PUB_NS, "python3", "-c", ECHO_PY])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.echo = Some(child);
        wait_for("the outside's echo service", 10, || {
            tcp_open_from_outside(PUB_GATEWAY, ECHO_PORT, 0.5).then_some(())
        });
    }

    /// Runs `command` from the outside.
    fn exec(args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", PUB_NS])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        if let Some(mut c) = self.echo.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", PUB_NS]).status();
    }
}

fn tcp_open_from_outside(ip: &str, port: u16, secs: f64) -> bool {
    Outside::exec(&[
        "timeout",
        &format!("{secs}"),
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{ip}/{port}"),
    ])
    .status
    .success()
}

const SSH_OPTS: [&str; 10] = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
];

/// `ssh` as the guest's `debian` from the outside to `ip:port`: (ok, stdout), None if ssh
/// itself failed.
fn ssh_from_outside(key: &Path, ip: &str, port: u16, command: &str) -> Option<(bool, String)> {
    let port = port.to_string();
    let target = format!("debian@{ip}");
    let mut args = vec!["ssh", "-i", key.to_str().unwrap(), "-p", &port];
    args.extend_from_slice(&SSH_OPTS);
    args.extend_from_slice(&[&target, command]);
    let out = Outside::exec(&args);
    (out.status.code() != Some(255)).then(|| {
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
}

/// A deployed guest and the router that serves it.
#[derive(Clone, Debug)]
struct Guest {
    id: String,
    name: String,
    ip: String,
    mac: String,
    /// The router's host and namespace: the way in before any rule exists.
    router_host: usize,
    router_ns: String,
    router_name: String,
}

/// `ssh` to the guest from inside its router's namespace on the router's host.
fn in_guest_via_router(
    hosts: &[&SimHost],
    key: &Path,
    g: &Guest,
    command: &str,
) -> Option<(bool, String)> {
    let target = format!("debian@{}", g.ip);
    let mut args = vec![
        "ip",
        "netns",
        "exec",
        &g.router_ns,
        "ssh",
        "-i",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(&SSH_OPTS);
    args.extend_from_slice(&[&target, command]);
    let out = hosts[g.router_host].exec(&args);
    (out.status.code() != Some(255)).then(|| {
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
}

/// Runs `command` in a guest already known to be up. SSH itself failing (exit 255: the
/// 5 s connect timeout, with two lanes of TCG guests on two cores) is tried again, twice;
/// the command failing is not.
fn in_guest(hosts: &[&SimHost], key: &Path, g: &Guest, command: &str) -> String {
    let mut result = None;
    for _ in 0..3 {
        result = in_guest_via_router(hosts, key, g, command);
        if result.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    match result {
        Some((true, out)) => out,
        other => panic!("{} in {}: {other:?}", command, g.name),
    }
}

/// Whether `g` opens a TCP connection to `ip:port` within 4 s.
fn guest_reaches(hosts: &[&SimHost], key: &Path, g: &Guest, ip: &str, port: u16) -> bool {
    let out = in_guest(
        hosts,
        key,
        g,
        &format!("timeout 4 bash -c 'exec 3<>/dev/tcp/{ip}/{port}' && echo open || echo closed"),
    );
    out.trim() == "open"
}

/// The address the outside's echo service saw `g` come from.
fn seen_from_outside(hosts: &[&SimHost], key: &Path, g: &Guest) -> String {
    in_guest(
        hosts,
        key,
        g,
        &format!(
            "python3 -c \"import socket; s = socket.create_connection(('{PUB_GATEWAY}', {ECHO_PORT}), timeout=5); print(s.recv(64).decode().strip())\""
        ),
    )
    .trim()
    .to_string()
}

/// Probes `ip:port` from the outside every 0.1 s while `f` runs until it is `open` (or
/// closed: three failures in a row): f's result, seconds from the call to f's return and
/// to the state being seen.
fn watch_port<T>(ip: &str, port: u16, open: bool, f: impl FnOnce() -> T) -> (T, f64, f64) {
    let sent = Instant::now();
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let need = if open { 1 } else { 3 };
            let mut run: Vec<Instant> = vec![];
            loop {
                let t = Instant::now();
                if tcp_open_from_outside(ip, port, 0.5) == open {
                    run.push(t);
                    if run.len() == need {
                        return Some(run[0]);
                    }
                } else {
                    run.clear();
                }
                if t > sent + Duration::from_secs(60) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let out = f();
        let done = sent.elapsed().as_secs_f64();
        let seen = watcher.join().unwrap().unwrap_or_else(|| {
            panic!(
                "{ip}:{port} not {} within 60 s",
                if open { "open" } else { "closed" }
            )
        });
        (out, done, (seen - sent).as_secs_f64())
    })
}

fn diagnostics(server: &Server, hosts: &[&SimHost]) -> String {
    let tail = |t: &str, n: usize| {
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    };
    let mut s = String::new();
    for h in hosts {
        s += &format!(
            "--- {}: ip -br addr\n{}\n--- bridge link\n{}\n--- agent log\n{}\n",
            h.name,
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

#[test]
fn two_accounts_isolated_networks_nat_port_forwarding_and_static_nat_with_real_guests() {
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2einn",
        NFS_INDEX,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let state = tmp.path().join("hosts");
    let a = SimHost::up("e2eina", HOST_A, PASSWORD, &state);
    let b = SimHost::up("e2einb", HOST_B, PASSWORD, &state);
    let hosts = [&a, &b];
    // Each host's public bridge, before the zone names it as the Public label.
    for h in hosts {
        for cmd in [
            &["ip", "link", "add", "pubbr0", "type", "bridge"][..],
            &["ip", "link", "set", "pubbr0", "up"][..],
        ] {
            let out = h.exec(cmd);
            assert!(out.status.success(), "{cmd:?}: {}", text(&out));
        }
    }
    let mut outside = Outside::up(&hosts);
    outside.start_echo();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "admin-pw-in", &a.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-in");
    api.allow_loopback_downloads();
    let files = HttpFiles::start(vec![("/bookworm-cloud.qcow2", Served::File(guest_image()))]);
    let diag = || diagnostics(&server, &hosts);

    // The Advanced zone.
    let zone = id(&api.ok(
        "createZone",
        &[
            "name=inz",
            "networktype=Advanced",
            "dns1=192.0.2.53",
            "internaldns1=10.231.0.1",
        ],
    )["zone"]);
    let z = format!("zoneid={zone}");
    api.ok(
        "updateConfiguration",
        &["name=kvm.acceleration", "value=qemu"],
    );
    let pn = id(&api.ok(
        "createPhysicalNetwork",
        &[&z, "name=phys", "vlan=5100-5109", "isolationmethods=VXLAN"],
    )["physicalnetwork"]);
    for (t, label) in [
        ("Guest", "eth0"),
        ("Public", "pubbr0"),
        ("Management", "eth0"),
    ] {
        api.ok(
            "addTrafficType",
            &[
                &format!("physicalnetworkid={pn}"),
                &format!("traffictype={t}"),
                &format!("kvmnetworklabel={label}"),
            ],
        );
    }
    api.ok(
        "updatePhysicalNetwork",
        &[&format!("id={pn}"), "state=Enabled"],
    );
    api.ok(
        "createVlanIpRange",
        &[
            &z,
            "forvirtualnetwork=true",
            &format!("gateway={PUB_GATEWAY}"),
            "netmask=255.255.255.0",
            "startip=198.51.100.10",
            "endip=198.51.100.20",
        ],
    );
    let pod = id(&api.ok(
        "createPod",
        &[
            &z,
            "name=inp",
            "gateway=10.231.219.1",
            "netmask=255.255.255.0",
            "startip=10.231.219.100",
            "endip=10.231.219.120",
        ],
    )["pod"]);
    let p = format!("podid={pod}");
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &z,
            &p,
            "clustername=inc",
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
    let host_ids = [add(&a), add(&b)];
    api.ok(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=inprimary",
            &format!("url={}", nfs.url(&primary)),
        ],
    );
    api.ok(
        "addImageStore",
        &[
            &z,
            "provider=NFS",
            "name=insecondary",
            &format!("url={}", nfs.url(&secondary)),
        ],
    );
    api.ok(
        "updateZone",
        &[&format!("id={zone}"), "allocationstate=Enabled"],
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
            "ispublic=true",
            "passwordenabled=true",
            &format!("ostypeid={}", id(&os["ostype"][0])),
        ],
    )["template"][0]);
    wait_for("the template ready", 300, || {
        let l = api.ok(
            "listTemplates",
            &["templatefilter=all", &format!("id={template}")],
        );
        (l["template"][0]["isready"] == true).then_some(())
    });
    let offering = api.ok(
        "listNetworkOfferings",
        &[
            "guestiptype=Isolated",
            "supportedservices=SourceNat",
            "state=Enabled",
        ],
    );
    let offering = offering["networkoffering"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|o| o["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService")
        })
        .map(id)
        .unwrap_or_else(|| panic!("the default isolated offering: {offering}"));

    // Two accounts, each on its own keys.
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("id");
    let public_key = ssh_keygen(&key);
    let account = |name: &str| -> CsApi {
        api.ok(
            "createAccount",
            &[
                "accounttype=0",
                &format!("email={name}@example.org"),
                "firstname=E2e",
                &format!("lastname={name}"),
                &format!("password={name}-pw-1"),
                &format!("username={name}"),
            ],
        );
        let u = CsApi::login(&server, name, &format!("{name}-pw-1"));
        u.ok(
            "registerSSHKeyPair",
            &["name=k", &format!("publickey={public_key}")],
        );
        u
    };
    let alice = account("alice");
    let bob = account("bob");

    // Placement by the admin's hand: only the wanted host is Enabled while a user deploys.
    let only = |host: usize| {
        for (i, h) in host_ids.iter().enumerate() {
            let state = if i == host { "Enable" } else { "Disable" };
            api.ok(
                "updateHost",
                &[&format!("id={h}"), &format!("allocationstate={state}")],
            );
        }
    };
    let routers = |net: &str| -> (usize, String) {
        let r = api.ok(
            "listRouters",
            &[&format!("networkid={net}"), "listall=true"],
        );
        let router = &r["router"][0];
        assert_eq!(router["state"], "Running", "{r}");
        let host = host_ids
            .iter()
            .position(|h| router["hostid"] == h.as_str())
            .unwrap_or_else(|| panic!("router on neither host: {r}"));
        (host, router["name"].as_str().unwrap().to_string())
    };
    let create_network = |u: &CsApi, name: &str, gateway: &str| -> (String, Instant) {
        let t = Instant::now();
        let n = u.ok(
            "createNetwork",
            &[
                &z,
                &format!("name={name}"),
                &format!("displaytext={name}"),
                &format!("networkofferingid={offering}"),
                &format!("gateway={gateway}"),
                "netmask=255.255.255.0",
            ],
        );
        assert_eq!(n["network"]["state"], "Allocated", "{n}");
        (id(&n["network"]), t)
    };
    let deploy = |u: &CsApi, name: &str, net: &str, host: usize, extra: &[&str]| {
        only(host);
        let t = Instant::now();
        let mut args = vec![
            z.clone(),
            format!("serviceofferingid={SMALL}"),
            format!("templateid={template}"),
            format!("networkids={net}"),
            "keypair=k".into(),
            format!("name={name}"),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let d = u.ok("deployVirtualMachine", &args);
        let took = t.elapsed().as_secs_f64();
        let v = &d["virtualmachine"];
        assert_eq!(v["state"], "Running", "{d}");
        assert_eq!(v["hostid"], host_ids[host].as_str(), "{d}");
        assert_eq!(v["nic"][0]["networkid"], net, "{d}");
        let (router_host, router_name) = routers(net);
        (
            Guest {
                id: id(v),
                name: name.into(),
                ip: v["nic"][0]["ipaddress"].as_str().unwrap().into(),
                mac: v["nic"][0]["macaddress"]
                    .as_str()
                    .unwrap()
                    .to_ascii_lowercase(),
                router_host,
                router_ns: format!("stratus-{router_name}"),
                router_name,
            },
            took,
            v["password"].as_str().unwrap_or_default().to_string(),
        )
    };

    let (alice_net, created) = create_network(&alice, "alice-net", "10.1.1.1");
    let (web1, web1_deploy, web1_password) = deploy(&alice, "web1", &alice_net, 0, &[]);
    assert!(
        !web1_password.is_empty(),
        "a password-enabled template's deploy answers one"
    );
    let network_to_running = created.elapsed().as_secs_f64();
    assert_eq!(
        web1.router_host, 0,
        "alice's router goes with her first VM, on A"
    );
    let (web2, web2_deploy, _) = deploy(
        &alice,
        "web2",
        &alice_net,
        1,
        &[&format!("userdata={}", base64_of(WEB2_USER_DATA))],
    );
    assert_eq!(web2.router_host, 0, "web2 is served by alice's router on A");
    let (bob_net, _) = create_network(&bob, "bob-net", "10.2.2.1");
    let (db1, db1_deploy, _) = deploy(&bob, "db1", &bob_net, 1, &[]);
    assert_eq!(db1.router_host, 1, "bob's router goes with db1, on B");
    for h in &host_ids {
        api.ok(
            "updateHost",
            &[&format!("id={h}"), "allocationstate=Enable"],
        );
    }
    eprintln!(
        "createNetwork → first VM Running: {network_to_running:.2} s (web1's deploy, which \
         implements the network: {web1_deploy:.2} s); web2's deploy into the implemented \
         network on the other host: {web2_deploy:.2} s; db1's (bob's first): {db1_deploy:.2} s"
    );
    for (u, net) in [(&alice, &alice_net), (&bob, &bob_net)] {
        let n = u.ok("listNetworks", &[&format!("id={net}")]);
        assert_eq!(n["network"][0]["state"], "Implemented", "{n}");
    }

    // DHCP from their own router: the guest holds the address the API answered, the
    // router's dnsmasq handed it out.
    let booted = Instant::now();
    for g in [&web1, &web2, &db1] {
        wait_for(
            &format!("an SSH login to {} through its router", g.name),
            SSH_WITHIN,
            || {
                matches!(
                    in_guest_via_router(&hosts, &key, g, "true"),
                    Some((true, _))
                )
                .then_some(())
            },
        );
        eprintln!(
            "{}: SSH login {} s after the deploys",
            g.name,
            booted.elapsed().as_secs()
        );
        let addrs = in_guest(&hosts, &key, g, "ip -4 -o addr show scope global");
        assert!(
            addrs.contains(&format!(" {}/24", g.ip)),
            "{}: {addrs}",
            g.name
        );
        let leases = hosts[g.router_host]
            .state
            .join(format!("agent/routers/{}/leases", g.router_name));
        let leases = std::fs::read_to_string(&leases).unwrap_or_default();
        assert!(
            leases
                .lines()
                .any(|l| l.contains(&g.mac) && l.contains(&g.ip)),
            "{}'s lease ({} {}) in its router's dnsmasq leases:\n{leases}\n{}",
            g.name,
            g.mac,
            g.ip,
            diag()
        );
        let route = in_guest(&hosts, &key, g, "ip -4 route show default");
        let gw = if g.ip.starts_with("10.1.1.") {
            "10.1.1.1"
        } else {
            "10.2.2.1"
        };
        assert!(route.contains(&format!("via {gw}")), "{}: {route}", g.name);
    }

    // The routers' metadata and password services: each guest asks its gateway (its
    // DHCP server, where CloudStack's templates look) and hears about itself only.
    let fetch = |g: &Guest, port: u16, path: &str, request: Option<&str>| -> String {
        let gw = if g.ip.starts_with("10.1.1.") {
            "10.1.1.1"
        } else {
            "10.2.2.1"
        };
        let headers = request
            .map(|r| format!("{{'DomU_Request': '{r}'}}"))
            .unwrap_or_else(|| "{}".into());
        in_guest(
            &hosts,
            &key,
            g,
            &format!(
                "python3 -c \"import sys, urllib.request as u; r = u.Request('http://{gw}:{port}{path}', headers={headers}); sys.stdout.write(u.urlopen(r, timeout=10).read().decode())\""
            ),
        )
    };
    for g in [&web1, &web2, &db1] {
        let md = |key: &str| fetch(g, 80, &format!("/latest/meta-data/{key}"), None);
        assert_eq!(md("instance-id"), g.id, "{}", g.name);
        assert_eq!(md("local-hostname"), g.name, "{}", g.name);
        assert_eq!(md("local-ipv4"), g.ip, "{}", g.name);
        // The key as registered: its type and body (the comment is not kept).
        let key_body = |k: &str| k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        assert_eq!(
            key_body(&md("public-keys")),
            key_body(&public_key),
            "{}",
            g.name
        );
        let cloud = md("cloud-identifier");
        assert!(
            cloud.starts_with("CloudStack-{") && cloud.ends_with('}') && cloud.len() == 12 + 36 + 1,
            "{}: cloud-identifier {cloud}",
            g.name
        );
    }
    assert_eq!(fetch(&web2, 80, "/latest/user-data", None), WEB2_USER_DATA);
    let send = |g: &Guest| fetch(g, 8080, "/", Some("send_my_password"));
    assert_eq!(
        send(&web1),
        web1_password,
        "the deploy's password, from the router"
    );
    assert_eq!(
        fetch(&web1, 8080, "/", Some("saved_password")),
        "saved_password"
    );
    assert_eq!(send(&web1), "saved_password", "not served again once saved");
    let reset = alice.ok(
        "resetPasswordForVirtualMachine",
        &[&format!("id={}", web1.id)],
    );
    let new_password = reset["virtualmachine"]["password"]
        .as_str()
        .unwrap_or_else(|| panic!("{reset}"))
        .to_string();
    assert_ne!(new_password, web1_password);
    assert_eq!(
        send(&web1),
        new_password,
        "a reset password reaches the router"
    );

    // Source NAT: the outside sees each network's source NAT address.
    let source_nat = |u: &CsApi, net: &str| -> String {
        let l = u.ok(
            "listPublicIpAddresses",
            &[&format!("associatednetworkid={net}"), "issourcenat=true"],
        );
        assert_eq!(l["count"], 1, "{l}");
        l["publicipaddress"][0]["ipaddress"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (alice_snat, bob_snat) = (source_nat(&alice, &alice_net), source_nat(&bob, &bob_net));
    assert_ne!(alice_snat, bob_snat);
    // CloudStack's default isolated offering denies egress until a rule allows it.
    assert!(
        !guest_reaches(&hosts, &key, &web1, PUB_GATEWAY, ECHO_PORT),
        "egress is denied by default"
    );
    for (u, net, cidr) in [
        (&alice, &alice_net, "10.1.1.0/24"),
        (&bob, &bob_net, "10.2.2.0/24"),
    ] {
        u.ok(
            "createEgressFirewallRule",
            &[
                &format!("networkid={net}"),
                "protocol=all",
                &format!("cidrlist={cidr}"),
            ],
        );
    }
    for (g, want) in [
        (&web1, &alice_snat),
        (&web2, &alice_snat),
        (&db1, &bob_snat),
    ] {
        assert_eq!(&seen_from_outside(&hosts, &key, g), want, "{}", g.name);
    }

    // Isolation: one network spans both hosts; the two networks never meet.
    assert!(
        guest_reaches(&hosts, &key, &web1, &web2.ip, 22),
        "web1 → web2 (alice's network across A and B)"
    );
    for (from, to) in [(&web1, &db1), (&web2, &db1), (&db1, &web1), (&db1, &web2)] {
        assert!(
            !guest_reaches(&hosts, &key, from, &to.ip, 22),
            "{} must not reach {} ({})",
            from.name,
            to.name,
            to.ip
        );
    }
    // Nor through the other's source NAT address: nothing is forwarded without a rule.
    assert!(!guest_reaches(&hosts, &key, &web1, &bob_snat, 22));
    assert!(!tcp_open_from_outside(&alice_snat, 22, 2.0));

    // Port forwarding: a second address of alice's, 2222 → web1:22; the firewall keeps
    // the public port closed until a rule opens it.
    let ip1 = alice.ok("associateIpAddress", &[&format!("networkid={alice_net}")]);
    let (ip1_id, ip1) = (
        id(&ip1["ipaddress"]),
        ip1["ipaddress"]["ipaddress"].as_str().unwrap().to_string(),
    );
    let vm_id = |u: &CsApi, name: &str| {
        id(&u.ok("listVirtualMachines", &[&format!("name={name}")])["virtualmachine"][0])
    };
    let pf = alice.ok(
        "createPortForwardingRule",
        &[
            &format!("ipaddressid={ip1_id}"),
            "protocol=tcp",
            "publicport=2222",
            "privateport=22",
            &format!("virtualmachineid={}", vm_id(&alice, "web1")),
            "openfirewall=false",
        ],
    );
    let pf_id = id(&pf["portforwardingrule"]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !tcp_open_from_outside(&ip1, 2222, 2.0),
        "a forward without a firewall rule stays closed"
    );
    let (_, fw_done, fw_open) = watch_port(&ip1, 2222, true, || {
        alice.ok(
            "createFirewallRule",
            &[
                &format!("ipaddressid={ip1_id}"),
                "protocol=tcp",
                "startport=2222",
                "endport=2222",
                "cidrlist=198.51.100.0/24",
            ],
        )
    });
    let who = ssh_from_outside(&key, &ip1, 2222, "hostname")
        .unwrap_or_else(|| panic!("no SSH to {ip1}:2222 from the outside\n{}", diag()));
    assert!(who.0 && who.1.trim() == "web1", "{who:?}");
    let (_, pf_del_done, pf_closed) = watch_port(&ip1, 2222, false, || {
        alice.ok("deletePortForwardingRule", &[&format!("id={pf_id}")])
    });
    assert!(ssh_from_outside(&key, &ip1, 2222, "true").is_none());
    eprintln!(
        "port forward: createFirewallRule → job done {fw_done:.2} s, {ip1}:2222 open {fw_open:.2} s; \
         deletePortForwardingRule → job done {pf_del_done:.2} s, closed {pf_closed:.2} s"
    );

    // Static NAT: a second address of bob's is db1's, in and out.
    let ip2 = bob.ok("associateIpAddress", &[&format!("networkid={bob_net}")]);
    let (ip2_id, ip2) = (
        id(&ip2["ipaddress"]),
        ip2["ipaddress"]["ipaddress"].as_str().unwrap().to_string(),
    );
    bob.ok(
        "enableStaticNat",
        &[
            &format!("ipaddressid={ip2_id}"),
            &format!("virtualmachineid={}", vm_id(&bob, "db1")),
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !tcp_open_from_outside(&ip2, 22, 2.0),
        "static NAT without a firewall rule"
    );
    let (_, snat_done, snat_open) = watch_port(&ip2, 22, true, || {
        bob.ok(
            "createFirewallRule",
            &[
                &format!("ipaddressid={ip2_id}"),
                "protocol=tcp",
                "startport=22",
                "endport=22",
                "cidrlist=0.0.0.0/0",
            ],
        )
    });
    let who = ssh_from_outside(&key, &ip2, 22, "hostname")
        .unwrap_or_else(|| panic!("no SSH to {ip2}:22 from the outside\n{}", diag()));
    assert!(who.0 && who.1.trim() == "db1", "{who:?}");
    assert_eq!(
        seen_from_outside(&hosts, &key, &db1),
        ip2,
        "db1 leaves from its static NAT address"
    );
    let (_, dis_done, dis_closed) = watch_port(&ip2, 22, false, || {
        bob.ok("disableStaticNat", &[&format!("ipaddressid={ip2_id}")])
    });
    assert_eq!(
        seen_from_outside(&hosts, &key, &db1),
        bob_snat,
        "back to source NAT"
    );
    eprintln!(
        "static NAT: createFirewallRule → job done {snat_done:.2} s, {ip2}:22 open {snat_open:.2} s; \
         disableStaticNat → job done {dis_done:.2} s, closed {dis_closed:.2} s"
    );
    // Floor, in the same run: loading the router's own rule file again in its namespace
    // (what the agent does for every rule change), timed on the host, five times.
    let rules = format!(
        "/var/lib/stratus-agent/routers/{}/rules.nft",
        db1.router_name
    );
    let mut floor: Vec<f64> = (0..5)
        .map(|_| {
            let out = hosts[db1.router_host].exec(&[
                "bash",
                "-c",
                &format!(
                    "t=$(date +%s%N); ip netns exec {} nft -f {rules} && echo $(( $(date +%s%N) - t ))",
                    db1.router_ns
                ),
            ]);
            assert!(out.status.success(), "{}", text(&out));
            String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().unwrap() / 1e9
        })
        .collect();
    floor.sort_by(f64::total_cmp);
    eprintln!(
        "floor: nft -f of db1's router's rules.nft in its namespace, p50 {:.3} s",
        floor[2]
    );
    for t in [fw_open, pf_closed, snat_open, dis_closed] {
        assert!(t < 15.0, "a rule took {t:.1} s to be in force\n{}", diag());
    }

    // Clean up by the API: the VMs go, then the networks (their routers with them).
    for (u, name) in [(&alice, "web1"), (&alice, "web2"), (&bob, "db1")] {
        api.ok(
            "destroyVirtualMachine",
            &[&format!("id={}", vm_id(u, name)), "expunge=true"],
        );
    }
    for (u, net) in [(&alice, &alice_net), (&bob, &bob_net)] {
        u.ok("deleteNetwork", &[&format!("id={net}")]);
    }
    for g in [&web1, &db1] {
        let out = hosts[g.router_host].exec(&["ip", "netns", "list"]);
        assert!(
            !text(&out).contains(&g.router_ns),
            "{} left: {}",
            g.router_ns,
            text(&out)
        );
    }
    drop(outside);
}
