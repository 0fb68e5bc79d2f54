//! Live migration end to end (issue 16), with real parts only: the management server,
//! nfs-ganesha for primary and secondary storage, and two simulated hosts (each its own
//! network namespace, sshd and libvirtd with its TLS listener) added with `cs addHost`,
//! which gives each its libvirt certificate from the cloud's CA. A VM booting iPXE under
//! TCG is deployed on host A, then `migrateVirtualMachine` moves it live to B over
//! libvirt's TLS channel: it runs on B, is gone from A, and the API shows B as its host.
//! `findHostsForMigration` lists A as suitable without storage motion; the API's
//! refusals (the same host, an unknown host, a stopped VM) are checked.
//! `prepareHostForMaintenance` on B then migrates the VM back to A and ends in
//! Maintenance; on A (B being in maintenance, no host can take it) it ends in
//! ErrorInMaintenance with the VM still running there; `deleteHost` refuses a host with
//! a VM; `cancelHostMaintenance` enables both again.

use std::path::Path;

use serde_json::Value;
use stratus_tests::{wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost};

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const NFS_INDEX: u8 = 160;
const HOST_A: u8 = 161;
const HOST_B: u8 = 162;
/// Seeded by migration 0007: "Small Instance" (1 vCPU, 500 MHz, 512 MiB) and the 5 GB disk.
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// `virsh list --all --uuid` on the host.
fn domains(host: &SimHost) -> Vec<String> {
    host.virsh(&["list", "--all", "--uuid"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn vm(api: &CsApi, vm: &str) -> Value {
    let l = api.ok("listVirtualMachines", &[&format!("id={vm}")]);
    l["virtualmachine"][0].clone()
}

#[test]
fn a_running_vm_moves_live_between_two_hosts() {
    assert!(
        Path::new(IPXE).exists(),
        "{IPXE}: scripts/test installs ipxe"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2emn",
        NFS_INDEX,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let hosts = tmp.path().join("hosts");
    let a = SimHost::up("e2ema", HOST_A, "mig-host-pw", &hosts);
    let b = SimHost::up("e2emb", HOST_B, "mig-host-pw", &hosts);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "admin-pw-m", &a.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-m");
    api.allow_loopback_downloads();
    let files = HttpFiles::start(vec![("/ipxe.iso", Served::File(IPXE.into()))]);

    let zone = id(&api.ok(
        "createZone",
        &[
            "name=mz",
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
            "name=mp",
            "gateway=10.231.160.1",
            "netmask=255.255.255.0",
            "startip=10.231.160.100",
            "endip=10.231.160.120",
        ],
    )["pod"]);
    let p = format!("podid={pod}");
    api.ok(
        "createVlanIpRange",
        &[
            &z,
            &p,
            "gateway=192.168.160.1",
            "netmask=255.255.255.0",
            "startip=192.168.160.10",
            "endip=192.168.160.12",
            "forvirtualnetwork=false",
        ],
    );
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &z,
            &p,
            "clustername=mc",
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
                "password=mig-host-pw",
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
            "name=mprimary",
            &format!("url={}", nfs.url(&primary)),
        ],
    );
    api.ok(
        "addImageStore",
        &[
            &z,
            "provider=NFS",
            "name=msecondary",
            &format!("url={}", nfs.url(&secondary)),
        ],
    );
    let iso = id(&api.ok(
        "registerIso",
        &[
            &z,
            "name=ipxe",
            "displaytext=iPXE",
            &format!("url={}", files.url("/ipxe.iso")),
            "bootable=true",
        ],
    )["iso"][0]);
    wait_for("ipxe.iso Ready", 60, || {
        let i = api.ok("listIsos", &[&format!("id={iso}"), "isofilter=all"]);
        (i["iso"][0]["isready"] == true).then_some(())
    });

    let d = api.ok(
        "deployVirtualMachine",
        &[
            &z,
            &format!("serviceofferingid={SMALL}"),
            &format!("templateid={iso}"),
            &format!("diskofferingid={DISK_5GB}"),
            &format!("hostid={host_a}"),
            "hypervisor=KVM",
            "name=mig1",
        ],
    );
    let vm_id = id(&d["virtualmachine"]);
    assert_eq!(d["virtualmachine"]["hostid"], host_a.as_str(), "{d}");
    assert_eq!(domains(&a), vec![vm_id.clone()]);
    assert!(domains(&b).is_empty());

    // Where it could go: B, suitable, no storage motion (shared NFS).
    let f = api.ok("findHostsForMigration", &[&format!("id={vm_id}")]);
    assert_eq!(f["count"], 1, "{f}");
    assert_eq!(f["host"][0]["id"], host_b.as_str(), "{f}");
    assert_eq!(f["host"][0]["suitableformigration"], true, "{f}");
    assert_eq!(f["host"][0]["requiresStorageMotion"], false, "{f}");

    // Refusals: its own host, a host that does not exist.
    let vmid = format!("virtualmachineid={vm_id}");
    let t = api.err(
        "migrateVirtualMachine",
        &[&vmid, &format!("hostid={host_a}")],
        431,
    );
    assert!(t.contains("the host it runs on"), "{t}");
    let t = api.err(
        "migrateVirtualMachine",
        &[&vmid, "hostid=00000000-0000-4000-8000-00000000dead"],
        431,
    );
    assert!(t.contains("destination host"), "{t}");

    // The move: running on B, gone from A, B in the API.
    let started = std::time::Instant::now();
    let m = api.ok(
        "migrateVirtualMachine",
        &[&vmid, &format!("hostid={host_b}")],
    );
    eprintln!("migration took {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(m["virtualmachine"]["hostid"], host_b.as_str(), "{m}");
    assert_eq!(m["virtualmachine"]["state"], "Running", "{m}");
    assert_eq!(domains(&b), vec![vm_id.clone()]);
    assert_eq!(b.virsh(&["domstate", &vm_id]).trim(), "running");
    assert!(domains(&a).is_empty(), "the source keeps no definition");
    assert_eq!(vm(&api, &vm_id)["hostid"], host_b.as_str());
    // Persistent on B (defined there, not only running).
    assert!(b
        .virsh(&["dominfo", &vm_id])
        .contains("Persistent:     yes"));

    // Maintenance empties B: the VM moves live back to A (the only other host).
    let hid = |h: &str| format!("id={h}");
    let r = api.ok("prepareHostForMaintenance", &[&hid(&host_b)]);
    assert_eq!(r["host"]["resourcestate"], "Maintenance", "{r}");
    assert_eq!(vm(&api, &vm_id)["hostid"], host_a.as_str());
    assert_eq!(vm(&api, &vm_id)["state"], "Running");
    assert_eq!(domains(&a), vec![vm_id.clone()]);
    assert_eq!(a.virsh(&["domstate", &vm_id]).trim(), "running");
    assert!(domains(&b).is_empty());
    // A host with a VM on it cannot be deleted (even forced).
    let t = api.err("deleteHost", &[&hid(&host_a), "forced=true"], 431);
    assert!(t.contains("assigned to it"), "{t}");
    // With B in maintenance, A cannot be emptied: ErrorInMaintenance, the VM stays.
    let r = api.ok("prepareHostForMaintenance", &[&hid(&host_a)]);
    assert_eq!(r["host"]["resourcestate"], "ErrorInMaintenance", "{r}");
    assert_eq!(vm(&api, &vm_id)["hostid"], host_a.as_str());
    assert_eq!(a.virsh(&["domstate", &vm_id]).trim(), "running");
    let ev = api.ok("listEvents", &["type=MAINT.PREPARE", "level=ERROR"]);
    assert!(ev.to_string().contains("could not be migrated"), "{ev}");
    for h in [&host_a, &host_b] {
        let r = api.ok("cancelHostMaintenance", &[&hid(h)]);
        assert_eq!(r["host"]["resourcestate"], "Enabled", "{r}");
    }

    // A stopped VM does not migrate.
    api.ok(
        "stopVirtualMachine",
        &[&format!("id={vm_id}"), "forced=true"],
    );
    let t = api.err(
        "migrateVirtualMachine",
        &[&vmid, &format!("hostid={host_b}")],
        431,
    );
    assert!(t.contains("not Running"), "{t}");
}
