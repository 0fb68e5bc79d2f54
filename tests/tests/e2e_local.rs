//! The embedded default end to end: `stratus-management --local-host` (what `scripts/run`
//! starts) makes the machine it runs on the cloud's first host without the admin doing
//! anything. The "machine" is a simulated host (tests/testbed/simhost.sh) so that its
//! libvirtd, hostname and 127.0.0.1 are its own; the server runs inside its namespaces.
//! Checked: the default zone, pod and cluster appear with the given NFS exports as their
//! primary and secondary storage, the host comes Up with the facts its libvirtd reports, reconnectHost reaches the agent's command API, a restart keeps one
//! host (new credentials, no duplicates) and stopping the server stops the agent. The
//! default zone is enabled once its host and storage are up; a VM deployed on the
//! machine is shut down when the server stops (no domain left on storage about to go)
//! and runs again when the server starts again.

use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_tests::{
    running, wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost, TESTBED_GATEWAY,
};

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
/// Seeded by migration 0007: "Small Instance" and the 5 GB disk offering.
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";

fn vm_state(api: &CsApi, name: &str) -> String {
    let l = api.ok("listVirtualMachines", &[&format!("name={name}")]);
    l["virtualmachine"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

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

    // Ready for tenants: the zone is enabled once its host and storage are up.
    let zone = api.ok("listZones", &[])["zone"][0].clone();
    assert_eq!(zone["allocationstate"], "Enabled", "{zone}");
    let z = format!("zoneid={}", zone["id"].as_str().unwrap());

    // A VM on this machine. (Its ISO comes from the test bed's gateway, a private address
    // the download policy refuses unless an admin lists it.)
    api.ok(
        "updateConfiguration",
        &[
            "name=secstorage.allowed.internal.sites",
            &format!("value={TESTBED_GATEWAY}/32"),
        ],
    );
    let files = HttpFiles::start_on(
        TESTBED_GATEWAY,
        vec![("/ipxe.iso", Served::File(IPXE.into()))],
    );
    let iso = api.ok(
        "registerIso",
        &[
            &z,
            "name=ipxe",
            "displaytext=iPXE",
            &format!("url={}", files.url("/ipxe.iso")),
            "bootable=true",
        ],
    )["iso"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for("ipxe.iso Ready", 60, || {
        let i = api.ok("listIsos", &[&format!("id={iso}"), "isofilter=all"]);
        (i["iso"][0]["isready"] == true).then_some(())
    });
    let started = Instant::now();
    api.ok(
        "deployVirtualMachine",
        &[
            &z,
            &format!("templateid={iso}"),
            &format!("serviceofferingid={SMALL}"),
            &format!("diskofferingid={DISK_5GB}"),
            "name=local1",
        ],
    );
    assert_eq!(vm_state(&api, "local1"), "Running");
    println!(
        "deploy on the embedded default: Running in {:?}",
        started.elapsed()
    );
    let running_domains = || machine.virsh(&["list", "--name"]).trim().to_string();
    assert!(running_domains().starts_with("i-"), "{}", running_domains());

    // A restart: still one host, the same one, Up again with a new agent; nothing doubled.
    // The VM is shut down first (its storage goes with the cloud), and said so.
    server.stop();
    assert!(!running(first_agent), "the agent stops with the server");
    assert!(
        server
            .log_text()
            .contains("stopping 1 VM(s) on this machine"),
        "the shutdown says it stops the VM"
    );
    assert_eq!(
        machine.virsh(&["list", "--all", "--name"]).trim(),
        "",
        "no domain is left running or defined"
    );
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
    // The VM that ran when the cloud stopped runs again.
    wait_for("the VM started again", 120, || {
        (vm_state(&api, "local1") == "Running").then_some(())
    });
    assert!(running_domains().starts_with("i-"), "{}", running_domains());
    let second_agent = agent_pids(&server)[0];
    drop(server);
    assert!(!running(second_agent), "the agent stops with the server");
}
