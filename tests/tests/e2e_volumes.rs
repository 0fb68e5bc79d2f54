//! Data volumes end to end (issue 16), with real parts only: the management server, nfs-
//! ganesha for primary and secondary storage, and one simulated host (libvirtd) whose
//! two iPXE guests run under TCG. `cs createVolume virtualmachineid=A` hot-plugs the new
//! volume into running VM A: its live XML (`virsh dumpxml`) has it as a virtio disk `vdb`
//! on the volume's NFS file. iPXE has no ACPI hot-unplug, so `cs detachVolume` waits
//! for a guest that never lets go and fails with that reason, the disk still there. Once
//! A is stopped the volume is detached; a marker is written into its qcow2 with qemu-io,
//! and it is hot-plugged into running VM B, where the marker is read back through the
//! file B's QEMU has open; resizeVolume grows it live on B (B's disk and the file), a
//! live shrink refused. A, started again, no longer has the disk. Then snapshots: one
//! taken while B runs (its agent pauses B for the copy, B runs on), the marker in the
//! copy on secondary storage; the marker overwritten while B is stopped and brought back
//! by revertSnapshot; a new volume from the snapshot, hot-plugged into A, holding it.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use stratus_tests::{wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost};

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const HOST_INDEX: u8 = 233;
const NFS_INDEX: u8 = 234;
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";
/// Seeded by migration 0007: the "Custom" disk offering (size given with the request).
const CUSTOM: &str = "00000000-0000-4000-8004-000000000004";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn qemu_io(file: &Path, read_only: bool, cmd: &str) -> String {
    let mut c = Command::new("qemu-io");
    if read_only {
        c.args(["-r", "-U"]);
    }
    let out = c
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

#[test]
fn hot_plug_detach_and_move_a_data_volume() {
    assert!(
        Path::new(IPXE).exists(),
        "{IPXE}: scripts/test installs ipxe"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2edvn",
        NFS_INDEX,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let host = SimHost::up(
        "e2edvh",
        HOST_INDEX,
        "vol-host-pw",
        &tmp.path().join("hosts"),
    );
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "admin-pw-dv", &host.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-dv");
    api.allow_loopback_downloads();
    let files = HttpFiles::start(vec![("/ipxe.iso", Served::File(IPXE.into()))]);

    let zone = id(&api.ok(
        "createZone",
        &[
            "name=dvz",
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
            "name=dvp",
            "gateway=10.231.233.1",
            "netmask=255.255.255.0",
            "startip=10.231.233.100",
            "endip=10.231.233.120",
        ],
    )["pod"]);
    let p = format!("podid={pod}");
    api.ok(
        "createVlanIpRange",
        &[
            &z,
            &p,
            "gateway=192.168.233.1",
            "netmask=255.255.255.0",
            "startip=192.168.233.10",
            "endip=192.168.233.12",
            "forvirtualnetwork=false",
        ],
    );
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &z,
            &p,
            "clustername=dvc",
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
            "password=vol-host-pw",
        ],
    );
    api.ok(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=dvprimary",
            &format!("url={}", nfs.url(&primary)),
        ],
    );
    api.ok(
        "addImageStore",
        &[
            &z,
            "provider=NFS",
            "name=dvsecondary",
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
    let (a, b) = (deploy("dva"), deploy("dvb"));

    // Created for running A: hot-plugged, in A's live XML as virtio vdb on its NFS file.
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
    assert_eq!(v["state"], "Ready", "{v}");
    assert_eq!(v["deviceid"], 1, "{v}");
    assert_eq!(v["virtualmachineid"], a.as_str());
    assert_eq!(v["vmstate"], "Running");
    let file = primary.join(format!("{vol}.qcow2"));
    let nfs_name = format!("{}/{vol}.qcow2", primary.display());
    let live = host.virsh(&["dumpxml", &a]);
    let disk = live
        .split("<disk ")
        .find(|d| d.contains(&nfs_name))
        .unwrap_or_else(|| panic!("no disk on {nfs_name} in A's live XML:\n{live}"));
    assert!(
        disk.contains("dev='vdb'") && disk.contains("bus='virtio'"),
        "{disk}"
    );
    assert!(host
        .virsh(&["dumpxml", "--inactive", &a])
        .contains(&nfs_name));

    // iPXE never releases a disk: a clear refusal, and it stays attached (live and here).
    let e = api.err("detachVolume", &[&format!("id={vol}")], 534);
    assert!(e.contains("did not release disk vdb"), "{e}");
    assert!(host.virsh(&["dumpxml", &a]).contains(&nfs_name));
    let l = api.ok("listVolumes", &[&format!("id={vol}")]);
    assert_eq!(l["volume"][0]["virtualmachineid"], a.as_str(), "{l}");

    // A stopped: the detach is A's record only; the data is written while detached.
    api.ok("stopVirtualMachine", &[&format!("id={a}"), "forced=true"]);
    let d = api.ok("detachVolume", &[&format!("id={vol}")])["volume"].clone();
    assert!(d.get("virtualmachineid").is_none(), "{d}");
    // Through NFS, as a guest writes (ganesha caches a file's size: a write beside it
    // would not be seen through the export).
    let file_url = format!("{}/{vol}.qcow2", nfs.url(&primary).trim_end_matches('/'));
    qemu_io(Path::new(&file_url), false, "write -P 0x5a 1M 64k");

    // Hot-plugged into running B; B's QEMU has the file, and the marker is in it.
    let v = api.ok(
        "attachVolume",
        &[&format!("id={vol}"), &format!("virtualmachineid={b}")],
    )["volume"]
        .clone();
    assert_eq!(v["virtualmachineid"], b.as_str());
    assert_eq!(v["deviceid"], 1);
    assert!(host.virsh(&["dumpxml", &b]).contains(&nfs_name));
    let read = qemu_io(&file, true, "read -P 0x5a 1M 64k");
    assert!(
        read.contains("read 65536/65536") && !read.contains("verification failed"),
        "{read}"
    );

    // Grown live on running B (resizeVolume to a custom 7 GB): B's QEMU grows the file
    // and its disk at once; the data is still there. A live shrink is refused (it would
    // cut the guest's file system under it), even with shrinkok.
    let r = api.ok(
        "resizeVolume",
        &[
            &format!("id={vol}"),
            &format!("diskofferingid={CUSTOM}"),
            "size=7",
        ],
    )["volume"]
        .clone();
    assert_eq!(r["size"], 7i64 << 30, "{r}");
    assert_eq!(r["vmstate"], "Running", "{r}");
    let info = host.virsh(&["domblkinfo", &b, "vdb"]);
    assert!(
        info.lines()
            .any(|l| l.starts_with("Capacity:") && l.ends_with(&(7u64 << 30).to_string())),
        "B's disk after the live grow:\n{info}"
    );
    let img = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(&file)
        .output()
        .unwrap();
    let img: Value = serde_json::from_slice(&img.stdout).unwrap();
    assert_eq!(img["virtual-size"], 7u64 << 30, "{img}");
    let read = qemu_io(&file, true, "read -P 0x5a 1M 64k");
    assert!(!read.contains("verification failed"), "{read}");
    let e = api.err(
        "resizeVolume",
        &[&format!("id={vol}"), "size=6", "shrinkok=true"],
        431,
    );
    assert!(e.contains("only grows"), "{e}");
    assert!(host
        .virsh(&["domblkinfo", &b, "vdb"])
        .contains(&(7u64 << 30).to_string()));

    // A starts without it; deleting it while on B is refused.
    api.ok("startVirtualMachine", &[&format!("id={a}")]);
    assert!(!host.virsh(&["dumpxml", &a]).contains(&nfs_name));
    let e = api.err("deleteVolume", &[&format!("id={vol}")], 536);
    assert!(e.contains("not attached"), "{e}");

    // Volume snapshots (issue 16). iPXE has no shell to log into, so the guest's view is
    // checked through the files its QEMU uses. Taken while B runs: its agent pauses B,
    // copies the volume to secondary storage and resumes it; B runs on, and the copy is a
    // standalone qcow2 holding the marker.
    let sn =
        api.ok("createSnapshot", &[&format!("volumeid={vol}"), "name=live"])["snapshot"].clone();
    assert_eq!(sn["state"], "BackedUp", "{sn}");
    let snap = id(&sn);
    assert!(
        host.virsh(&["domstate", &b]).trim().starts_with("running"),
        "B resumed"
    );
    let snap_file = secondary
        .join("snapshots")
        .join(&vol)
        .join(format!("{snap}.qcow2"));
    let read = qemu_io(&snap_file, true, "read -P 0x5a 1M 64k");
    assert!(!read.contains("verification failed"), "{read}");
    let ev = api.ok("listEvents", &["type=SNAPSHOT.CREATE", "level=INFO"]);
    assert!(
        ev.to_string().contains("paused"),
        "the pause is recorded: {ev}"
    );
    // Reverting needs B stopped; then the marker, overwritten, is back.
    let e = api.err("revertSnapshot", &[&format!("id={snap}")], 431);
    assert!(e.contains("stop it"), "{e}");
    api.ok("stopVirtualMachine", &[&format!("id={b}"), "forced=true"]);
    qemu_io(Path::new(&file_url), false, "write -P 0x77 1M 64k");
    let read = qemu_io(&file, true, "read -P 0x77 1M 64k");
    assert!(!read.contains("verification failed"), "overwritten: {read}");
    api.ok("revertSnapshot", &[&format!("id={snap}")]);
    let read = qemu_io(&file, true, "read -P 0x5a 1M 64k");
    assert!(!read.contains("verification failed"), "{read}");
    api.ok("startVirtualMachine", &[&format!("id={b}")]);
    assert!(host.virsh(&["dumpxml", &b]).contains(&nfs_name));
    // A new volume from the snapshot, hot-plugged into running A, holds the marker.
    let nv = api.ok(
        "createVolume",
        &[
            "name=fromsnap",
            &format!("snapshotid={snap}"),
            &format!("virtualmachineid={a}"),
        ],
    )["volume"]
        .clone();
    assert_eq!(nv["state"], "Ready", "{nv}");
    let nv_name = format!("{}/{}.qcow2", primary.display(), id(&nv));
    assert!(host.virsh(&["dumpxml", &a]).contains(&nv_name));
    let read = qemu_io(
        &primary.join(format!("{}.qcow2", id(&nv))),
        true,
        "read -P 0x5a 1M 64k",
    );
    assert!(!read.contains("verification failed"), "{read}");
    api.ok("deleteSnapshot", &[&format!("id={snap}")]);
    assert!(!snap_file.exists());
}
