//! Hosts end to end: the real management binary adds a simulated KVM host (a network
//! namespace with its own sshd and libvirtd, tests/testbed/simhost.sh) through
//! `cs addHost`, over SSH with root's password; the host's agent drives the host's real
//! libvirtd (`qemu:///system`, TCG: `kvm.acceleration=qemu`) and reports Up with the facts
//! `virsh` shows on that host; killing the agent makes it Disconnected then Alert (sshd
//! still answers the probe); starting it again brings it Up; forged agent credentials are
//! refused and logged; bad passwords, a host with no libvirtd running and missing
//! prerequisites are refused at their step with nothing left behind.

use std::time::{Duration, Instant};

use stratus_tests::{running, CsApi, Server, SimHost};

/// The host's status as listHosts reports it.
fn host_state(api: &CsApi, id: &str) -> String {
    api.ok("listHosts", &[&format!("id={id}")])["host"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn wait_state(api: &CsApi, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while host_state(api, id) != want {
        assert!(Instant::now() < deadline, "host never reached {want}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The value of `key: value` in virsh's output.
fn virsh_field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no '{key}' in virsh output:\n{out}"))
        .trim_start_matches(':')
        .trim()
        .to_string()
}

/// MemTotal of this machine (and so of every simulated host), in bytes.
fn machine_memory_bytes() -> i64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: i64 = virsh_field(&meminfo, "MemTotal")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

#[test]
fn add_a_simulated_host_over_ssh_and_follow_its_agent() {
    let state = tempfile::tempdir().unwrap();
    let host = SimHost::up("e2eh1", 211, "host-root-pw", state.path());
    let data = tempfile::tempdir().unwrap();
    // The management server listens on the test-bed bridge, where the agent reports; the
    // bridge exists once a host is attached, so the server starts after the host.
    let server = Server::start_on(data.path(), "admin-pw-1", &host.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-1");

    let zid = api.ok(
        "createZone",
        &[
            "name=hz",
            "networktype=Basic",
            "dns1=8.8.8.8",
            "internaldns1=10.231.211.1",
        ],
    )["zone"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pid = api.ok(
        "createPod",
        &[
            &format!("zoneid={zid}"),
            "name=hp",
            "gateway=10.231.211.1",
            "netmask=255.255.255.0",
            "startip=10.231.211.100",
            "endip=10.231.211.120",
        ],
    )["pod"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cid = api.ok(
        "addCluster",
        &[
            &format!("zoneid={zid}"),
            &format!("podid={pid}"),
            "clustername=hc",
            "clustertype=CloudManaged",
            "hypervisor=KVM",
        ],
    )["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The host's own libvirtd at the default qemu:///system; TCG (KVM guests crash here).
    for (k, v) in [
        ("kvm.acceleration", "qemu"),
        ("ping.interval", "1"),
        ("ping.timeout", "3"),
    ] {
        api.ok(
            "updateConfiguration",
            &[&format!("name={k}"), &format!("value={v}")],
        );
    }
    let url = format!("url=http://{}", host.address);
    let add = |password: &str| -> Vec<String> {
        vec![
            format!("zoneid={zid}"),
            format!("podid={pid}"),
            format!("clusterid={cid}"),
            url.clone(),
            "username=root".into(),
            format!("password={password}"),
            "hypervisor=KVM".into(),
        ]
    };

    // Wrong password: refused at the connect step.
    let wrong = add("not-the-password");
    let t = api.err("addHost", &args(&wrong), 534);
    assert!(
        t.contains("step 'connect'") && t.contains("authentication as root failed"),
        "{t}"
    );
    // Nothing at that address (on the test-bed network, no machine): refused at connect.
    let nobody = vec![
        format!("zoneid={zid}"),
        format!("podid={pid}"),
        format!("clusterid={cid}"),
        "url=http://10.231.211.3".into(),
        "username=root".into(),
        "password=x".into(),
        "hypervisor=KVM".into(),
    ];
    let t = api.err("addHost", &args(&nobody), 534);
    assert!(
        t.contains("step 'connect'") && t.contains("cannot connect"),
        "{t}"
    );
    // Missing prerequisites (libvirtd not running on the host): named, nothing left.
    host.stop_libvirtd();
    let good = add("host-root-pw");
    let t = api.err("addHost", &args(&good), 534);
    assert!(
        t.contains("step 'check prerequisites'") && t.contains("libvirt is not reachable"),
        "{t}"
    );
    assert!(
        api.ok("listHosts", &[]).get("host").is_none(),
        "nothing half-registered"
    );
    assert!(
        !host.file_exists("agent/bin/stratus-agent"),
        "the copied agent was removed"
    );
    host.start_libvirtd();

    // The real thing: the agent reports what the host's libvirtd says.
    let added = api.ok("addHost", &args(&good));
    let h = &added["host"][0];
    assert_eq!(h["state"], "Up", "{added}");
    assert_eq!(h["ipaddress"], host.address.as_str());
    assert_eq!(h["name"], host.name.as_str(), "the host's own hostname");
    assert_eq!(h["details"]["acceleration"], "qemu");
    let version = host.virsh(&["version", "--daemon"]);
    let hypervisor = virsh_field(&version, "Running hypervisor");
    assert_eq!(
        h["hypervisorversion"].as_str().map(|v| format!("QEMU {v}")),
        Some(hypervisor),
        "{version}"
    );
    assert_eq!(
        h["details"]["libvirtversion"],
        virsh_field(&version, "Running against daemon").as_str(),
        "{version}"
    );
    let nodeinfo = host.virsh(&["nodeinfo"]);
    let fact = |key: &str| -> i64 {
        virsh_field(&nodeinfo, key)
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(h["cpunumber"], fact("CPU(s)"), "{nodeinfo}");
    assert_eq!(
        h["cpunumber"].as_u64(),
        std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as u64),
        "the machine's CPUs"
    );
    assert_eq!(h["cpuspeed"], fact("CPU frequency"), "{nodeinfo}");
    assert_eq!(h["cpusockets"], fact("CPU socket(s)"), "{nodeinfo}");
    assert_eq!(
        h["memorytotal"],
        machine_memory_bytes(),
        "the machine's MemTotal"
    );
    let hid = h["id"].as_str().unwrap().to_string();
    for f in ["agent.properties", "agent.crt", "agent.key", "ca.crt"] {
        assert!(
            host.file_exists(&format!("etc-stratus/{f}")),
            "{f} installed"
        );
    }
    let t = api.err("addHost", &args(&good), 431);
    assert!(t.contains("already exists"), "re-adding is refused: {t}");

    // Forged agent credentials: refused and logged, nothing changes.
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/agent/v1/hosts/{hid}/heartbeat", server.url))
        .bearer_auth("forged")
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert!(r.status() == 401 || r.status() == 400, "{}", r.status());
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/agent/v1/hosts/{hid}/heartbeat", server.url))
        .bearer_auth("forged")
        .body(
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("testbed/forged-heartbeat.json"),
            )
            .unwrap(),
        )
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.log_text().contains("agent credentials refused"),
        "the refusal is logged"
    );

    // The agent dies; sshd still answers: Disconnected, then Alert.
    host.kill_agent();
    wait_state(&api, &hid, "Alert");
    let alerts = api.ok("listAlerts", &[]);
    assert!(alerts["count"].as_i64().unwrap() >= 2);
    // It is started again: Up.
    host.start_agent();
    wait_state(&api, &hid, "Up");

    // reconnectHost goes through the agent's command API (HTTPS with mutual TLS, port
    // 8250 inside the host's namespace) and brings fresh facts.
    let r = api.ok("reconnectHost", &[&format!("id={hid}")]);
    assert_eq!(r["host"]["state"], "Up", "{r}");
    // Anyone else is refused by that API, even when ignoring who the agent is.
    let rogue = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("https://{}:8250/v1/facts", host.address))
        .send();
    assert!(
        rogue.is_err(),
        "a client without the management certificate got {rogue:?}"
    );

    let ev = api.ok("listEvents", &[&format!("resourceid={hid}"), "pagesize=-1"]);
    let types: Vec<&str> = ev["event"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for t in [
        "HOST.ADD",
        "HOST.UP",
        "HOST.DISCONNECTED",
        "HOST.ALERT",
        "HOST.CONNECTING",
        "HOST.RECONNECT",
    ] {
        assert!(types.contains(&t), "{t} missing: {types:?}");
    }

    // Maintenance and back, through cs (async jobs).
    assert_eq!(
        api.ok("prepareHostForMaintenance", &[&format!("id={hid}")])["host"]["resourcestate"],
        "Maintenance"
    );
    assert_eq!(
        api.ok("cancelHostMaintenance", &[&format!("id={hid}")])["host"]["resourcestate"],
        "Enabled"
    );

    // deleteHost: in maintenance, the agent is told to remove itself; nothing is left.
    let t = api.err("deleteHost", &[&format!("id={hid}")], 431);
    assert!(t.contains("maintenance"), "{t}");
    api.ok("prepareHostForMaintenance", &[&format!("id={hid}")]);
    let pid = host.agent_pid().expect("agent runs");
    assert_eq!(
        api.ok("deleteHost", &[&format!("id={hid}")])["success"],
        true
    );
    assert!(api.ok("listHosts", &[]).get("host").is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(pid) {
        assert!(Instant::now() < deadline, "the agent did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
    for f in ["agent.properties", "agent.crt", "agent.key", "ca.crt"] {
        assert!(
            !host.file_exists(&format!("etc-stratus/{f}")),
            "{f} removed"
        );
    }
    assert!(
        !host.file_exists("agent/bin/stratus-agent"),
        "agent removed"
    );
}
