//! Volumes, snapshot policies and VM snapshots as Ansible manages them (issue 16): the
//! unmodified ngine_io.cloudstack collection (PyPI `ansible`) against the real management
//! server, nfs-ganesha for primary and secondary storage and one simulated host whose
//! iPXE guest runs under TCG. `tests/clients/ansible_volumes.yml` runs in three stages,
//! each twice: the second run of a stage reports `changed=0` and every id stays the same.
//!
//! - up: cs_volume creates a 2 GB volume of the custom disk offering, tags it and
//!   attaches it to the running VM; cs_snapshot_policy sets an hourly and a daily policy on the VM's ROOT
//!   volume; cs_vmsnapshot takes a snapshot with the guest's memory.
//! - change: the daily policy gets a new schedule and retention (same policy id),
//!   cs_vmsnapshot reverts the VM to its snapshot (first run only: the module reports a
//!   revert as a change every time) and removes it; the VM runs on.
//! - down: the test stops the VM (forced through the API: iPXE ignores ACPI, so a
//!   graceful stop or a hot unplug would wait out its timeout), cs_snapshot_policy
//!   removes the hourly policy, cs_volume detaches the volume and grows it to 3 GB.
//!
//! What each stage set is read back through the API and, for the sizes, from the
//! volume's qcow2 on the NFS export.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};
use stratus_tests::{wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost};

const PLAYBOOK: &str = "tests/clients/ansible_volumes.yml";
const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const HOST_INDEX: u8 = 208;
const NFS_INDEX: u8 = 209;
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const GIB: i64 = 1 << 30;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The virtual size of a qcow2 (read while a guest may have it open).
fn virtual_size(file: &Path) -> i64 {
    let out = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(file)
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("qemu-img info {}: {e}", file.display()));
    info["virtual-size"].as_i64().unwrap()
}

/// The data volume as listVolumes answers it.
fn volume(api: &CsApi) -> Value {
    let l = api.ok("listVolumes", &["name=ansdata", "type=DATADISK"]);
    assert_eq!(l["count"], 1, "{l}");
    l["volume"][0].clone()
}

/// The root volume's policies, by CloudStack's interval number (0 hourly, 1 daily).
fn policies(api: &CsApi, root: &str) -> Vec<Value> {
    let l = api.ok("listSnapshotPolicies", &[&format!("volumeid={root}")]);
    let mut items = l["snapshotpolicy"].as_array().cloned().unwrap_or_default();
    items.sort_by_key(|p| p["intervaltype"].as_i64());
    items
}

fn vm_snapshots(api: &CsApi, vm: &str) -> Vec<Value> {
    let l = api.ok("listVMSnapshot", &[&format!("virtualmachineid={vm}")]);
    l["vmSnapshot"].as_array().cloned().unwrap_or_default()
}

#[test]
fn ansible_manages_volumes_policies_and_vm_snapshots_and_a_second_run_changes_nothing() {
    assert!(
        Path::new(IPXE).exists(),
        "{IPXE}: scripts/test installs ipxe"
    );
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2eavn",
        NFS_INDEX,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let host = SimHost::up(
        "e2eavh",
        HOST_INDEX,
        "av-host-pw",
        &tmp.path().join("hosts"),
    );
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "admin-pw-av", &host.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-av");
    api.allow_loopback_downloads();
    let files = HttpFiles::start(vec![("/ipxe.iso", Served::File(IPXE.into()))]);

    let zone = id(&api.ok(
        "createZone",
        &[
            "name=avz",
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
            "name=avp",
            "gateway=10.231.208.1",
            "netmask=255.255.255.0",
            "startip=10.231.208.100",
            "endip=10.231.208.120",
        ],
    )["pod"]);
    let p = format!("podid={pod}");
    api.ok(
        "createVlanIpRange",
        &[
            &z,
            &p,
            "gateway=192.168.208.1",
            "netmask=255.255.255.0",
            "startip=192.168.208.10",
            "endip=192.168.208.12",
            "forvirtualnetwork=false",
        ],
    );
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &z,
            &p,
            "clustername=avc",
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
            "password=av-host-pw",
        ],
    );
    api.ok(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=avprimary",
            &format!("url={}", nfs.url(&primary)),
        ],
    );
    api.ok(
        "addImageStore",
        &[
            &z,
            "provider=NFS",
            "name=avsecondary",
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
    let vm = id(&api.ok(
        "deployVirtualMachine",
        &[
            &z,
            &format!("serviceofferingid={SMALL}"),
            &format!("templateid={iso}"),
            "diskofferingid=00000000-0000-4000-8004-000000000001",
            "hypervisor=KVM",
            "name=ansvm",
        ],
    )["virtualmachine"]);
    let root = id(&api.ok(
        "listVolumes",
        &[&format!("virtualmachineid={vm}"), "type=ROOT"],
    )["volume"][0]);
    eprintln!("test bed and VM up in {} s", started.elapsed().as_secs());

    // --- up ---
    let up = json!({
        "stage": "up", "zone": "avz", "vm": "ansvm", "volume": "ansdata", "size": 2,
        "daily_schedule": "30:02", "daily_max": 7, "revert": false,
    });
    let t = Instant::now();
    let (changed, text) = api.ansible_playbook(PLAYBOOK, up.clone(), home.path());
    eprintln!("ansible up: {} s", t.elapsed().as_secs());
    assert_eq!(changed, 4, "volume, two policies, VM snapshot:\n{text}");
    let v = volume(&api);
    assert_eq!(v["virtualmachineid"], vm.as_str(), "{v}");
    assert!(v.get("attached").is_some(), "{v}");
    assert_eq!(v["size"], 2 * GIB, "{v}");
    assert_eq!(v["diskofferingname"], "Custom", "{v}");
    let tags: Vec<_> = v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].clone(),
                t["value"].clone(),
                t["resourcetype"].clone(),
            )
        })
        .collect();
    assert_eq!(
        tags,
        [(json!("purpose"), json!("ansible"), json!("Volume"))],
        "{v}"
    );
    let data_file = primary.join(v["path"].as_str().unwrap());
    assert_eq!(virtual_size(&data_file), 2 * GIB);
    let pols = policies(&api, &root);
    assert_eq!(pols.len(), 2, "{pols:?}");
    assert_eq!(
        (
            &pols[0]["intervaltype"],
            &pols[0]["schedule"],
            &pols[0]["maxsnaps"],
            &pols[0]["timezone"]
        ),
        (&json!(0), &json!("15"), &json!(4), &json!("UTC")),
    );
    assert_eq!(
        (
            &pols[1]["intervaltype"],
            &pols[1]["schedule"],
            &pols[1]["maxsnaps"],
            &pols[1]["timezone"]
        ),
        (&json!(1), &json!("30:02"), &json!(7), &json!("GMT+01:00")),
    );
    let snaps = vm_snapshots(&api, &vm);
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_eq!(snaps[0]["displayname"], "before-change", "{snaps:?}");
    assert_eq!(snaps[0]["description"], "taken by Ansible");
    assert_eq!(snaps[0]["type"], "DiskAndMemory");
    assert_eq!(snaps[0]["state"], "Ready");
    let ids = |v: &Value, pols: &[Value]| -> Vec<Value> {
        let mut all = vec![v["id"].clone()];
        all.extend(pols.iter().map(|p| p["id"].clone()));
        all
    };
    let up_ids = ids(&v, &pols);

    let t = Instant::now();
    let (changed, text) = api.ansible_playbook(PLAYBOOK, up, home.path());
    eprintln!("ansible up again: {} s", t.elapsed().as_secs());
    assert_eq!(changed, 0, "a second run changes nothing:\n{text}");
    assert_eq!(ids(&volume(&api), &policies(&api, &root)), up_ids);
    assert_eq!(vm_snapshots(&api, &vm)[0]["id"], snaps[0]["id"]);

    // --- change ---
    let change = json!({
        "stage": "change", "zone": "avz", "vm": "ansvm", "volume": "ansdata", "size": 2,
        "daily_schedule": "45:03", "daily_max": 3, "revert": true,
    });
    let t = Instant::now();
    let (changed, text) = api.ansible_playbook(PLAYBOOK, change.clone(), home.path());
    eprintln!("ansible change: {} s", t.elapsed().as_secs());
    assert_eq!(
        changed, 3,
        "daily policy, revert, VM snapshot gone:\n{text}"
    );
    assert!(
        text.contains("TASK [the VM back at its snapshot]"),
        "the revert ran:\n{text}"
    );
    let pols = policies(&api, &root);
    assert_eq!(
        (&pols[0]["schedule"], &pols[0]["maxsnaps"]),
        (&json!("15"), &json!(4))
    );
    assert_eq!(
        (
            &pols[1]["schedule"],
            &pols[1]["maxsnaps"],
            &pols[1]["timezone"]
        ),
        (&json!("45:03"), &json!(3), &json!("GMT+01:00"))
    );
    assert_eq!(ids(&volume(&api), &pols), up_ids, "updated in place");
    assert!(vm_snapshots(&api, &vm).is_empty());
    let state = || {
        api.ok("listVirtualMachines", &[&format!("id={vm}")])["virtualmachine"][0]["state"].clone()
    };
    assert_eq!(state(), "Running", "as at its snapshot");

    let mut again = change;
    again["revert"] = json!(false);
    let t = Instant::now();
    let (changed, text) = api.ansible_playbook(PLAYBOOK, again, home.path());
    eprintln!("ansible change again: {} s", t.elapsed().as_secs());
    assert_eq!(changed, 0, "a second run changes nothing:\n{text}");
    assert_eq!(ids(&volume(&api), &policies(&api, &root)), up_ids);

    // --- down --- (iPXE ignores ACPI: a graceful stop would wait out its minute)
    api.ok("stopVirtualMachine", &[&format!("id={vm}"), "forced=true"]);
    let down = json!({
        "stage": "down", "zone": "avz", "vm": "ansvm", "volume": "ansdata", "size": 3,
        "daily_schedule": "45:03", "daily_max": 3, "revert": false,
    });
    let t = Instant::now();
    let (changed, text) = api.ansible_playbook(PLAYBOOK, down.clone(), home.path());
    eprintln!("ansible down: {} s", t.elapsed().as_secs());
    assert_eq!(changed, 3, "hourly policy gone, detach, resize:\n{text}");
    let pols = policies(&api, &root);
    assert_eq!(pols.len(), 1, "{pols:?}");
    assert_eq!(pols[0]["intervaltype"], 1, "the daily one is left");
    let v = volume(&api);
    assert!(v.get("virtualmachineid").is_none(), "{v}");
    assert!(v.get("attached").is_none(), "{v}");
    assert_eq!(v["size"], 3 * GIB, "{v}");
    assert_eq!(virtual_size(&data_file), 3 * GIB);
    assert_eq!(state(), "Stopped");

    let t = Instant::now();
    let (changed, text) = api.ansible_playbook(PLAYBOOK, down, home.path());
    eprintln!("ansible down again: {} s", t.elapsed().as_secs());
    assert_eq!(changed, 0, "a second run changes nothing:\n{text}");
    let v = volume(&api);
    assert_eq!(v["size"], 3 * GIB, "{v}");
    assert_eq!(
        ids(&v, &policies(&api, &root)),
        [up_ids[0].clone(), up_ids[2].clone()]
    );
    eprintln!("whole test: {} s", started.elapsed().as_secs());
}
