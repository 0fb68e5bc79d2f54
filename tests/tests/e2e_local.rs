//! The embedded default end to end: `stratus-management --local-host` (what `scripts/run`
//! starts) makes the machine it runs on the cloud's first host without the admin doing
//! anything. The "machine" is a simulated host (tests/testbed/simhost.sh) so that its
//! libvirtd, hostname and 127.0.0.1 are its own; the server runs inside its namespaces.
//! Checked: the default zone, pod and cluster appear with the given NFS exports as their
//! primary and secondary storage, the host comes Up with the facts its libvirtd reports, reconnectHost reaches the agent's command API, a restart keeps one
//! host (new credentials, no duplicates) and stopping the server stops the agent.

use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_tests::{running, CsApi, NfsServer, Server, SimHost};

fn wait_up(api: &CsApi) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = api.ok("listHosts", &[]);
        if r["host"][0]["state"] == "Up" {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "the local host never came Up: {r}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn agent_pids(server: &Server) -> Vec<i32> {
    server
        .log_text()
        .lines()
        .filter_map(|l| l.split("agent_pid=").nth(1))
        .filter_map(|p| {
            p.trim()
                .trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn the_embedded_default_makes_this_machine_a_host() {
    let state = tempfile::tempdir().unwrap();
    let machine = SimHost::up("e2el1", 212, "unused-pw", state.path());
    let data = tempfile::tempdir().unwrap();
    // What scripts/run adds: a local NFS server for the default zone's storage.
    let (primary, secondary) = (state.path().join("primary"), state.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2eln",
        214,
        &state.path().join("nfs"),
        &[&primary, &secondary],
    );
    let (p_url, s_url) = (nfs.url(&primary), nfs.url(&secondary));
    let args = [
        "--local-host",
        "--local-primary",
        p_url.as_str(),
        "--local-secondary",
        s_url.as_str(),
    ];
    let mut server = Server::start_in(&machine, data.path(), "admin-pw-l", &args);
    let api = CsApi::login(&server, "admin", "admin-pw-l");

    let hosts = wait_up(&api);
    assert_eq!(hosts["count"], 1, "{hosts}");
    let h = &hosts["host"][0];
    assert_eq!(h["ipaddress"], "127.0.0.1");
    assert_eq!(h["zonename"], "default");
    assert_eq!(h["podname"], "default");
    assert_eq!(h["clustername"], "default");
    assert_eq!(h["hypervisor"], "KVM");
    // Real facts from the machine's libvirtd.
    let version = machine.virsh(&["version", "--daemon"]);
    let qemu = version
        .lines()
        .find_map(|l| l.strip_prefix("Running hypervisor: QEMU "))
        .unwrap()
        .trim();
    assert_eq!(h["hypervisorversion"], qemu, "{version}");
    let hostname = String::from_utf8(machine.exec(&["hostname"]).stdout).unwrap();
    assert_eq!(h["name"], hostname.trim());
    assert!(h["cpunumber"].as_i64().unwrap() > 0);
    for (list, key) in [("listZones", "zone"), ("listPods", "pod")] {
        assert_eq!(api.ok(list, &[])[key][0]["name"], "default", "{list}");
    }
    assert_eq!(
        api.ok("listClusters", &[])["cluster"][0]["hypervisortype"],
        "KVM"
    );
    let hid = h["id"].as_str().unwrap().to_string();
    let r = api.ok("reconnectHost", &[&format!("id={hid}")]);
    assert_eq!(r["host"]["state"], "Up", "{r}");
    let first_agent = *agent_pids(&server).first().expect("agent pid logged");
    assert!(running(first_agent));

    // A restart: still one host, the same one, Up again with a new agent; nothing doubled.
    server.stop();
    assert!(!running(first_agent), "the agent stops with the server");
    let server = Server::start_in(&machine, data.path(), "admin-pw-l", &args);
    let api = CsApi::login(&server, "admin", "admin-pw-l");
    let deadline = Instant::now() + Duration::from_secs(60);
    while agent_pids(&server).is_empty() {
        assert!(Instant::now() < deadline, "the agent did not start again");
        std::thread::sleep(Duration::from_millis(300));
    }
    let hosts = wait_up(&api);
    assert_eq!(hosts["count"], 1);
    assert_eq!(hosts["host"][0]["id"], hid.as_str());
    assert_eq!(api.ok("listZones", &[])["count"], 1);
    assert_eq!(
        api.ok("listStoragePools", &[])["count"],
        1,
        "storage not doubled"
    );
    assert_eq!(api.ok("listImageStores", &[])["count"], 1);
    let second_agent = agent_pids(&server)[0];
    drop(server);
    assert!(!running(second_agent), "the agent stops with the server");
}
