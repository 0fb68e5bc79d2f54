//! VM snapshots end to end (issue 16), with real parts only: the management server,
//! nfs-ganesha for primary and secondary storage, and one simulated host (libvirtd) whose
//! iPXE guest runs under TCG with a data volume attached.
//!
//! - Running: `createVMSnapshot snapshotmemory=true` is a libvirt internal snapshot with
//!   the guest's memory (QEMU's savevm into the root volume's qcow2 on NFS; the data
//!   volume's qcow2 has it too); a disk-only one of the running VM is refused as
//!   CloudStack's KVM refuses it; migrateVirtualMachine is refused while it exists;
//!   revertToVMSnapshot leaves the VM Running.
//! - Stopped: a marker written into the data volume, a disk-only snapshot (qemu-img over
//!   NFS), the marker changed, reverted: the first marker is back, the VM still Stopped;
//!   a memory snapshot cannot be reverted to while Stopped (CloudStack's rule).
//! - Started again (its domain defined anew, libvirt's record of the memory snapshot gone
//!   with the old definition): reverting to the memory snapshot defines it again from
//!   the XML the management server kept, and the VM runs; both snapshots are deleted
//!   from the running VM (the disk-only one described by the agent) and leave the files.
//!
//! (Why iPXE rather than a guest with SSH: the marker is checked in the volume itself;
//! what the memory holds is QEMU's to restore.)

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use stratus_tests::{wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost};

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const HOST_INDEX: u8 = 244;
const NFS_INDEX: u8 = 245;
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn qemu_io(file: &Path, cmd: &str) -> String {
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", cmd])
        .arg(file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "qemu-io {cmd}: {text}");
    text
}

/// The internal snapshots of a qcow2 (read while a guest may have it open), as
/// (name, VM state size) pairs.
fn snapshots(file: &Path) -> Vec<(String, String)> {
    let out = Command::new("qemu-img")
        .args(["snapshot", "-l", "-U"])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .skip_while(|l| !l.starts_with("ID"))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3).then(|| (f[1].to_string(), format!("{} {}", f[2], f[3])))
        })
        .collect()
}

fn names(file: &Path) -> Vec<String> {
    snapshots(file).into_iter().map(|(n, _)| n).collect()
}

#[test]
fn vm_snapshots_with_memory_and_of_disks() {
    assert!(
        Path::new(IPXE).exists(),
        "{IPXE}: scripts/test installs ipxe"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2evsn",
        NFS_INDEX,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let host = SimHost::up(
        "e2evsh",
        HOST_INDEX,
        "vs-host-pw",
        &tmp.path().join("hosts"),
    );
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "admin-pw-vs", &host.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-vs");
    api.allow_loopback_downloads();
    let files = HttpFiles::start(vec![("/ipxe.iso", Served::File(IPXE.into()))]);

    let zone = id(&api.ok(
        "createZone",
        &[
            "name=vsz",
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
            "name=vsp",
            "gateway=10.231.244.1",
            "netmask=255.255.255.0",
            "startip=10.231.244.100",
            "endip=10.231.244.120",
        ],
    )["pod"]);
    let p = format!("podid={pod}");
    api.ok(
        "createVlanIpRange",
        &[
            &z,
            &p,
            "gateway=192.168.244.1",
            "netmask=255.255.255.0",
            "startip=192.168.244.10",
            "endip=192.168.244.12",
            "forvirtualnetwork=false",
        ],
    );
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &z,
            &p,
            "clustername=vsc",
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
            "password=vs-host-pw",
        ],
    );
    api.ok(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=vsprimary",
            &format!("url={}", nfs.url(&primary)),
        ],
    );
    api.ok(
        "addImageStore",
        &[
            &z,
            "provider=NFS",
            "name=vssecondary",
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
    let deploy = |name: &str| {
        id(&api.ok(
            "deployVirtualMachine",
            &[
                &z,
                &format!("serviceofferingid={SMALL}"),
                &format!("templateid={iso}"),
                &format!("diskofferingid={DISK_5GB}"),
                "hypervisor=KVM",
                &format!("name={name}"),
            ],
        )["virtualmachine"])
    };
    let a = deploy("vsa");
    let v = api.ok(
        "createVolume",
        &[
            &z,
            "name=data",
            &format!("diskofferingid={DISK_5GB}"),
            &format!("virtualmachineid={a}"),
        ],
    )["volume"]
        .clone();
    let vol = id(&v);
    let data_file = primary.join(format!("{vol}.qcow2"));
    let root = api.ok(
        "listVolumes",
        &[&format!("virtualmachineid={a}"), "type=ROOT"],
    )["volume"][0]
        .clone();
    let root_file = primary.join(root["path"].as_str().unwrap());
    assert!(root_file.exists() && data_file.exists());
    let vmid = format!("virtualmachineid={a}");

    // Running: a disk-only snapshot is refused (KVM), one with memory is taken.
    let e = api.err("createVMSnapshot", &[&vmid, "name=nomem"], 431);
    assert!(
        e.contains("disk-only snapshot when VM is in running state"),
        "{e}"
    );
    let mem = api.ok(
        "createVMSnapshot",
        &[&vmid, "name=withmem", "snapshotmemory=true"],
    )["vmsnapshot"]
        .clone();
    assert_eq!(mem["type"], "DiskAndMemory", "{mem}");
    assert_eq!(mem["state"], "Ready", "{mem}");
    assert_eq!(mem["current"], true, "{mem}");
    let mem_id = id(&mem);
    let in_root = snapshots(&root_file);
    let (_, vmsize) = in_root
        .iter()
        .find(|(n, _)| *n == mem_id)
        .unwrap_or_else(|| panic!("no snapshot {mem_id} in the root volume: {in_root:?}"));
    assert_ne!(vmsize, "0 B", "the guest's memory is in it: {in_root:?}");
    assert!(
        names(&data_file).contains(&mem_id),
        "the data volume has it too"
    );
    assert!(host
        .virsh(&["snapshot-list", &a, "--name"])
        .contains(&mem_id));

    // It keeps the VM where it is.
    let e = api.err(
        "migrateVirtualMachine",
        &[&format!("virtualmachineid={a}")],
        431,
    );
    assert!(e.contains("VM snapshots"), "{e}");

    // Reverted while Running: Running again, at the snapshot.
    let r = api.ok("revertToVMSnapshot", &[&format!("vmsnapshotid={mem_id}")])["virtualmachine"]
        .clone();
    assert_eq!(r["state"], "Running", "{r}");
    assert_eq!(host.virsh(&["domstate", &a]).trim(), "running");

    // Stopped: a disk-only snapshot of the marker, changed, reverted: back.
    api.ok("stopVirtualMachine", &[&format!("id={a}"), "forced=true"]);
    let e = api.err(
        "revertToVMSnapshot",
        &[&format!("vmsnapshotid={mem_id}")],
        431,
    );
    assert!(
        e.contains("You can revert running VM to disk and memory type snapshot"),
        "{e}"
    );
    qemu_io(&data_file, "write -P 0x41 0 64k");
    let disk = api.ok("createVMSnapshot", &[&vmid, "name=disk"])["vmsnapshot"].clone();
    assert_eq!(disk["type"], "Disk", "{disk}");
    assert_eq!(disk["parent"], mem_id.as_str(), "{disk}");
    let disk_id = id(&disk);
    assert!(names(&data_file).contains(&disk_id) && names(&root_file).contains(&disk_id));
    qemu_io(&data_file, "write -P 0x42 0 64k");
    let r = api.ok("revertToVMSnapshot", &[&format!("vmsnapshotid={disk_id}")])["virtualmachine"]
        .clone();
    assert_eq!(r["state"], "Stopped", "{r}");
    let read = qemu_io(&data_file, "read -P 0x41 0 64k");
    assert!(
        !read.contains("verification failed"),
        "the first marker is back: {read}"
    );

    // Started again (a new definition: libvirt's record of the snapshot went at the
    // stop), reverted to the memory snapshot: defined again from the kept XML.
    api.ok("startVirtualMachine", &[&format!("id={a}")]);
    assert!(!host
        .virsh(&["snapshot-list", &a, "--name"])
        .contains(&mem_id));
    let r = api.ok("revertToVMSnapshot", &[&format!("vmsnapshotid={mem_id}")])["virtualmachine"]
        .clone();
    assert_eq!(r["state"], "Running", "{r}");
    assert_eq!(host.virsh(&["domstate", &a]).trim(), "running");

    // Both deleted from the running VM; the files no longer hold them.
    api.ok("deleteVMSnapshot", &[&format!("vmsnapshotid={disk_id}")]);
    api.ok("deleteVMSnapshot", &[&format!("vmsnapshotid={mem_id}")]);
    assert_eq!(
        api.ok("listVMSnapshot", &[&vmid])["count"]
            .as_i64()
            .unwrap_or(0),
        0
    );
    assert!(names(&root_file).is_empty(), "{:?}", snapshots(&root_file));
    assert!(names(&data_file).is_empty(), "{:?}", snapshots(&data_file));
    assert_eq!(host.virsh(&["domstate", &a]).trim(), "running");
}
