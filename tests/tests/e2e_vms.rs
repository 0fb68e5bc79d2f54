//! Instances end to end, with real parts only: the management server (its own Postgres),
//! nfs-ganesha for primary and secondary storage, and one simulated host (network
//! namespace, sshd, libvirtd) added with `cs addHost`. ipxe.iso is registered and
//! downloaded; `cs deployVirtualMachine` boots it under TCG: Running within 60 s, the
//! guest's DHCP lease is exactly the allocated address, and `virsh screenshot` of its
//! console, read by OCR, shows the iPXE banner. Stop, start, reboot, detach/attach ISO,
//! destroy, recover and expunge are each checked in libvirt and in the API; after expunge
//! nothing is left (no domain, no volume file, the address and capacity free). A deploy
//! whose primary storage is down fails at the volume step, and one whose ISO vanished
//! fails at the domain step, and one whose domain start hangs (libvirtd frozen) fails
//! when `vm.start.timeout` is up while the start libvirt finishes later is undone; each
//! unwinds and holds nothing. A domain of one of our VMs that must not run is destroyed
//! when its host reports it; a foreign one is left alone. Apache
//! libcloud's CloudStack driver, unmodified, then creates, lists and destroys a node.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_tests::{wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost};

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const HOST_INDEX: u8 = 190;
const NFS_INDEX: u8 = 191;
/// Seeded by migration 0007: "Small Instance" (1 vCPU, 500 MHz, 512 MiB) and the 5 GB disk.
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn vm(api: &CsApi, vm: &str) -> Value {
    let l = api.ok("listVirtualMachines", &[&format!("id={vm}")]);
    assert_eq!(l["count"], 1, "{l}");
    l["virtualmachine"][0].clone()
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

fn domstate(host: &SimHost, vm: &str) -> String {
    host.virsh(&["domstate", vm]).trim().to_string()
}

/// The CD-ROM's source in libvirt (`-` when empty).
fn cdrom(host: &SimHost, vm: &str) -> String {
    host.virsh(&["domblklist", vm])
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("hdc")).then(|| w.next().unwrap_or("-").to_string())
        })
        .unwrap_or_else(|| "-".into())
}

/// A capacity type's used amount in the zone.
fn capacity_used(api: &CsApi, zone: &str, kind: i64) -> i64 {
    let l = api.ok(
        "listCapacity",
        &[&format!("zoneid={zone}"), &format!("type={kind}")],
    );
    l["capacity"][0]["capacityused"].as_i64().unwrap()
}

/// Reads the console: `virsh screenshot`, then OCR.
fn console_text(host: &SimHost, vm: &str, dir: &Path, name: &str) -> String {
    let png = dir.join(format!("{name}.png"));
    host.virsh(&["screenshot", vm, png.to_str().unwrap()]);
    if let Ok(keep) = std::env::var("STRATUS_SCREENSHOT_DIR") {
        let _ = std::fs::copy(&png, Path::new(&keep).join(format!("e2e_vms-{name}.png")));
    }
    let out = Command::new("tesseract")
        .arg(&png)
        .arg("-")
        .output()
        .expect("tesseract (scripts/test installs tesseract-ocr)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn deploy_boot_and_run_a_vm_from_an_iso() {
    assert!(
        Path::new(IPXE).exists(),
        "{IPXE}: scripts/test installs ipxe"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs_state = tmp.path().join("nfs");
    let nfs = NfsServer::up("e2evn", NFS_INDEX, &nfs_state, &[&primary, &secondary]);
    let host = SimHost::up("e2evh", HOST_INDEX, "vm-host-pw", &tmp.path().join("hosts"));
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "admin-pw-v", &host.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-v");
    api.allow_loopback_downloads();
    let files = HttpFiles::start(vec![("/ipxe.iso", Served::File(IPXE.into()))]);

    // The cloud: a Basic zone whose guests get 192.168.190.10-12 on the hosts' cloudbr0.
    let zone = id(&api.ok(
        "createZone",
        &[
            "name=vz",
            "networktype=Basic",
            "dns1=192.0.2.53",
            "internaldns1=10.231.0.1",
        ],
    )["zone"]);
    let z = format!("zoneid={zone}");
    // Agents report every 5 s here, so a VM dying out of band is noticed quickly.
    api.ok("updateConfiguration", &["name=ping.interval", "value=5"]);
    // This machine's /dev/kvm opens but cannot run guests: TCG (as the brief says).
    api.ok(
        "updateConfiguration",
        &["name=kvm.acceleration", "value=qemu"],
    );
    let pod = id(&api.ok(
        "createPod",
        &[
            &z,
            "name=vp",
            "gateway=10.231.190.1",
            "netmask=255.255.255.0",
            "startip=10.231.190.100",
            "endip=10.231.190.120",
        ],
    )["pod"]);
    let p = format!("podid={pod}");
    api.ok(
        "createVlanIpRange",
        &[
            &z,
            &p,
            "gateway=192.168.190.1",
            "netmask=255.255.255.0",
            "startip=192.168.190.10",
            "endip=192.168.190.12",
            "forvirtualnetwork=false",
        ],
    );
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &z,
            &p,
            "clustername=vc",
            "clustertype=CloudManaged",
            "hypervisor=KVM",
        ],
    )["cluster"][0]);
    let c = format!("clusterid={cluster}");
    let added = api.ok(
        "addHost",
        &[
            &z,
            &p,
            &c,
            "hypervisor=KVM",
            &format!("url=http://{}", host.address),
            "username=root",
            "password=vm-host-pw",
        ],
    );
    let host_id = id(&added["host"][0]);
    let pool = id(&api.ok(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=vprimary",
            &format!("url={}", nfs.url(&primary)),
        ],
    )["storagepool"]);
    api.ok(
        "addImageStore",
        &[
            &z,
            "provider=NFS",
            "name=vsecondary",
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
    let iso_path = format!("{}/iso/{iso}/{iso}.iso", secondary.display());

    // Bad requests are refused before anything is made.
    let deploy = |extra: &[&str]| -> Vec<String> {
        let mut a = vec![
            z.clone(),
            format!("serviceofferingid={SMALL}"),
            format!("templateid={iso}"),
            "hypervisor=KVM".to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let t = api.err(
        "deployVirtualMachine",
        &args(&deploy(&["name=nodisk"])),
        431,
    );
    assert!(t.contains("requires a disk offering"), "{t}");
    let t = api.err(
        "deployVirtualMachine",
        &args(&deploy(&[
            &format!("diskofferingid={DISK_5GB}"),
            "name=9bad",
        ])),
        431,
    );
    assert!(t.contains("Invalid name"), "{t}");
    let t = api.err(
        "deployVirtualMachine",
        &args(&deploy(&[
            &format!("diskofferingid={DISK_5GB}"),
            "hypervisor=XenServer",
        ])),
        431,
    );
    assert!(t.contains("KVM"), "{t}");

    // Deploy: Running within 60 s, on the host, with the first guest address.
    let started = Instant::now();
    let d = api.ok(
        "deployVirtualMachine",
        &args(&deploy(&[
            &format!("diskofferingid={DISK_5GB}"),
            "name=web1",
            "displayname=Web 1",
        ])),
    );
    let deploy_secs = started.elapsed().as_secs_f64();
    let v = &d["virtualmachine"];
    let vm_id = id(v);
    assert_eq!(v["state"], "Running", "{d}");
    assert!(deploy_secs < 60.0, "deploy took {deploy_secs:.1} s");
    eprintln!("deploy: accepted → Running in {deploy_secs:.1} s");
    assert_eq!(v["hostid"], host_id.as_str());
    assert_eq!(v["name"], "web1");
    assert_eq!(v["displayname"], "Web 1");
    assert_eq!(v["isoid"], iso.as_str());
    assert_eq!(v["cpunumber"], 1);
    assert_eq!(v["memory"], 512);
    let nic = &v["nic"][0];
    assert_eq!(nic["ipaddress"], "192.168.190.10");
    assert_eq!(nic["gateway"], "192.168.190.1");
    assert_eq!(nic["netmask"], "255.255.255.0");
    assert_eq!(nic["isdefault"], true);
    let mac = nic["macaddress"].as_str().unwrap().to_string();
    let instance = v["instancename"].as_str().unwrap().to_string();
    // i-<account>-<number>-<instance.name>, the cloud's own suffix (VM + 4 hex digits).
    let cfg = api.ok("listConfigurations", &["name=instance.name"]);
    let suffix = cfg["configuration"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        suffix.len() == 6 && suffix.starts_with("VM"),
        "a fresh cloud names itself: {cfg}"
    );
    assert!(
        instance.starts_with("i-") && instance.ends_with(&format!("-{suffix}")),
        "{instance}"
    );

    // libvirt agrees: one running domain, TCG, the ISO in its CD-ROM, its disk on NFS.
    assert_eq!(domains(&host), vec![vm_id.clone()]);
    assert_eq!(domstate(&host, &vm_id), "running");
    assert_eq!(host.virsh(&["domname", &vm_id]).trim(), instance);
    assert_eq!(cdrom(&host, &vm_id), iso_path);
    let vols = api.ok("listVolumes", &[&format!("virtualmachineid={vm_id}")]);
    let vol = &vols["volume"][0];
    assert_eq!(vol["type"], "ROOT");
    assert_eq!(vol["size"], 5i64 << 30);
    assert_eq!(vol["storageid"], pool.as_str());
    let vol_file = primary.join(vol["path"].as_str().unwrap());
    assert!(vol_file.exists(), "{} exists", vol_file.display());

    // The guest asks DHCP and gets exactly its address.
    let leases = host.state.join("agent/networks/cloudbr0/leases");
    wait_for("the guest's DHCP lease", 60, || {
        let text = std::fs::read_to_string(&leases).unwrap_or_default();
        text.lines().find(|l| l.contains(&mac)).map(|l| {
            assert!(l.contains(&format!("{mac} 192.168.190.10 ")), "{text}");
        })
    });
    eprintln!("lease after {:.1} s", started.elapsed().as_secs_f64());
    // Its console shows the iPXE banner.
    let text = wait_for("the iPXE banner on the console", 30, || {
        let t = console_text(&host, &vm_id, tmp.path(), "console");
        t.contains("iPXE").then_some(t)
    });
    eprintln!("console reads:\n{text}");

    // Capacity: the VM's CPU, memory and address are held.
    assert_eq!(capacity_used(&api, &zone, 0), 512 << 20);
    assert_eq!(capacity_used(&api, &zone, 1), 500);
    assert_eq!(capacity_used(&api, &zone, 8), 1);
    let m = api.ok("listVirtualMachinesMetrics", &[&format!("id={vm_id}")]);
    assert_eq!(m["virtualmachine"][0]["ipaddresses"], "192.168.190.10");

    // Illegal transitions get a clear error.
    let t = api.err("startVirtualMachine", &[&format!("id={vm_id}")], 431);
    assert!(t.contains("Running"), "{t}");
    let t = api.err("expungeVirtualMachine", &[&format!("id={vm_id}")], 431);
    assert!(t.contains("destroy it first"), "{t}");

    // Detach and attach the ISO, live.
    let r = api.ok("detachIso", &[&format!("virtualmachineid={vm_id}")]);
    assert!(r["virtualmachine"].get("isoid").is_none(), "{r}");
    assert_eq!(cdrom(&host, &vm_id), "-");
    let t = api.err("detachIso", &[&format!("virtualmachineid={vm_id}")], 431);
    assert!(t.contains("no ISO"), "{t}");
    let r = api.ok(
        "attachIso",
        &[&format!("id={iso}"), &format!("virtualmachineid={vm_id}")],
    );
    assert_eq!(r["virtualmachine"]["isoid"], iso.as_str());
    assert_eq!(cdrom(&host, &vm_id), iso_path);

    // Reboot: a new QEMU process, still running.
    let qemu = host.virsh(&["domid", &vm_id]).trim().to_string();
    // (forced: iPXE ignores ACPI, so a graceful reboot would wait out the 60 s timeout)
    let r = api.ok(
        "rebootVirtualMachine",
        &[&format!("id={vm_id}"), "forced=true"],
    );
    assert_eq!(r["virtualmachine"]["state"], "Running");
    assert_eq!(domstate(&host, &vm_id), "running");
    assert_ne!(host.virsh(&["domid", &vm_id]).trim(), qemu, "a new QEMU");

    // Stop: the domain is gone from the host, capacity released, the address kept.
    let r = api.ok(
        "stopVirtualMachine",
        &[&format!("id={vm_id}"), "forced=true"],
    );
    assert_eq!(r["virtualmachine"]["state"], "Stopped");
    assert!(r["virtualmachine"].get("hostid").is_none(), "{r}");
    assert!(domains(&host).is_empty(), "undefined on stop");
    assert_eq!(capacity_used(&api, &zone, 0), 0);
    assert_eq!(
        capacity_used(&api, &zone, 8),
        1,
        "a stopped VM keeps its address"
    );
    // Stopping a stopped VM changes nothing (as in CloudStack).
    let r = api.ok("stopVirtualMachine", &[&format!("id={vm_id}")]);
    assert_eq!(r["virtualmachine"]["state"], "Stopped");

    // Start: the same address, running again.
    let r = api.ok("startVirtualMachine", &[&format!("id={vm_id}")]);
    assert_eq!(r["virtualmachine"]["state"], "Running");
    assert_eq!(r["virtualmachine"]["nic"][0]["ipaddress"], "192.168.190.10");
    assert_eq!(domstate(&host, &vm_id), "running");

    // Out of band: the domain is destroyed behind our back → Stopped, with an event.
    host.virsh(&["destroy", &vm_id]);
    wait_for("the dead VM noticed", 60, || {
        (vm(&api, &vm_id)["state"] == "Stopped").then_some(())
    });
    let ev = api.ok(
        "listEvents",
        &["type=VM.STOP", "level=WARN", "listall=true"],
    );
    assert!(
        ev["event"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["description"]
                .as_str()
                .unwrap_or_default()
                .contains("stopped outside Stratus")),
        "{ev}"
    );
    assert_eq!(capacity_used(&api, &zone, 0), 0);
    host.virsh(&["undefine", &vm_id]);

    // Destroy, recover, destroy, expunge: then nothing is left.
    api.ok("startVirtualMachine", &[&format!("id={vm_id}")]);
    let r = api.ok("destroyVirtualMachine", &[&format!("id={vm_id}")]);
    assert_eq!(r["virtualmachine"]["state"], "Destroyed");
    assert!(domains(&host).is_empty());
    assert!(
        vol_file.exists(),
        "a destroyed VM keeps its disk until expunged"
    );
    let t = api.err("startVirtualMachine", &[&format!("id={vm_id}")], 431);
    assert!(t.contains("recover it first"), "{t}");
    let r = api.ok("recoverVirtualMachine", &[&format!("id={vm_id}")]);
    assert_eq!(r["virtualmachine"]["state"], "Stopped");
    api.ok("destroyVirtualMachine", &[&format!("id={vm_id}")]);
    api.ok("expungeVirtualMachine", &[&format!("id={vm_id}")]);
    let l = api.ok("listVirtualMachines", &["listall=true"]);
    assert!(l.get("virtualmachine").is_none(), "{l}");
    assert!(!vol_file.exists(), "the volume file is removed");
    assert!(domains(&host).is_empty());
    assert_eq!(capacity_used(&api, &zone, 8), 0, "the address is free");
    assert_eq!(capacity_used(&api, &zone, 0), 0);
    let hosts = std::fs::read_to_string(host.state.join("agent/networks/cloudbr0/hosts"))
        .unwrap_or_default();
    assert!(!hosts.contains(&mac), "the lease is withdrawn: {hosts}");

    // A deploy whose primary storage is down fails at the volume step and holds nothing.
    nfs.down();
    let o = api.run(
        &[],
        "deployVirtualMachine",
        &args(&deploy(&[
            &format!("diskofferingid={DISK_5GB}"),
            "name=broken",
        ])),
    );
    assert!(!o.success, "{}", o.json);
    let broken = api.ok("listVirtualMachines", &["name=broken"]);
    let b = &broken["virtualmachine"][0];
    assert_eq!(b["state"], "Error", "{broken}");
    let why = b["errortext"].as_str().unwrap_or_default();
    assert!(why.contains("Creating the root volume"), "{why}");
    assert!(
        b["nic"].as_array().unwrap().is_empty(),
        "no address held: {b}"
    );
    assert_eq!(capacity_used(&api, &zone, 0), 0, "no capacity held");
    assert_eq!(capacity_used(&api, &zone, 8), 0);
    assert!(domains(&host).is_empty());
    drop(nfs); // (its Drop stops by name: never let it run after the new one is up)
    let nfs = NfsServer::up("e2evn", NFS_INDEX, &nfs_state, &[&primary, &secondary]);
    // Once the storage is back (its address may take a moment to answer again), the
    // failed VM is expunged like any other.
    wait_for("expunging the failed VM", 60, || {
        let o = api.run(
            &[],
            "destroyVirtualMachine",
            &[&format!("id={}", id(b)), "expunge=true"],
        );
        o.success.then_some(())
    });

    // A deploy whose last step fails (the ISO file vanished from secondary storage, so
    // QEMU cannot open its CD-ROM) unwinds every step: no domain, no volume file, no lease.
    let iso_file = Path::new(&iso_path);
    let hidden = iso_file.with_extension("hidden");
    std::fs::rename(iso_file, &hidden).unwrap();
    let o = api.run(
        &[],
        "deployVirtualMachine",
        &args(&deploy(&[
            &format!("diskofferingid={DISK_5GB}"),
            "name=noiso",
        ])),
    );
    assert!(!o.success, "{}", o.json);
    std::fs::rename(&hidden, iso_file).unwrap();
    let l = api.ok("listVirtualMachines", &["name=noiso"]);
    let n = &l["virtualmachine"][0];
    assert_eq!(n["state"], "Error", "{l}");
    assert!(
        n["errortext"]
            .as_str()
            .unwrap_or_default()
            .contains("Host e2evh"),
        "the agent's reason: {n}"
    );
    assert!(n["nic"].as_array().unwrap().is_empty(), "{n}");
    assert!(domains(&host).is_empty(), "the domain is undone");
    assert_eq!(capacity_used(&api, &zone, 0), 0);
    assert_eq!(capacity_used(&api, &zone, 8), 0);
    let hosts = std::fs::read_to_string(host.state.join("agent/networks/cloudbr0/hosts"))
        .unwrap_or_default();
    assert!(hosts.trim().is_empty(), "no lease left: {hosts}");
    let vols = api.ok("listVolumes", &["listall=true"]);
    assert!(vols.get("volume").is_none(), "the volume is undone: {vols}");
    api.ok(
        "destroyVirtualMachine",
        &[&format!("id={}", id(n)), "expunge=true"],
    );

    // A deploy whose domain start hangs (the host's libvirtd frozen) fails once its time
    // is up (vm.start.timeout), saying why; the start libvirt finishes later is undone by
    // the agent. Nothing is left: no domain, volume, lease, address or capacity.
    api.ok("updateConfiguration", &["name=vm.start.timeout", "value=5"]);
    host.pause_libvirtd();
    let thaw = std::thread::scope(|s| {
        let thaw = s.spawn(|| {
            std::thread::sleep(Duration::from_secs(12));
            host.resume_libvirtd();
            Instant::now()
        });
        let o = api.run(
            &[],
            "deployVirtualMachine",
            &args(&deploy(&[
                &format!("diskofferingid={DISK_5GB}"),
                "name=hang",
            ])),
        );
        assert!(!o.success, "{}", o.json);
        thaw.join().unwrap()
    });
    api.ok(
        "updateConfiguration",
        &["name=vm.start.timeout", "value=120"],
    );
    let l = api.ok("listVirtualMachines", &["name=hang"]);
    let h = &l["virtualmachine"][0];
    assert_eq!(h["state"], "Error", "{l}");
    let why = h["errortext"].as_str().unwrap_or_default();
    assert!(
        why.contains("did not finish within 5.0 s") && why.contains("Host e2evh"),
        "the reason: {why}"
    );
    // libvirt started the domain once thawed; the agent destroyed it then.
    wait_for("the late start undone", 60, || {
        domains(&host).is_empty().then_some(())
    });
    println!(
        "late start undone {:?} after libvirtd thawed",
        thaw.elapsed()
    );
    assert!(h["nic"].as_array().unwrap().is_empty(), "{h}");
    assert_eq!(capacity_used(&api, &zone, 0), 0);
    assert_eq!(capacity_used(&api, &zone, 8), 0);
    let vols = api.ok("listVolumes", &["listall=true"]);
    assert!(vols.get("volume").is_none(), "the volume is undone: {vols}");
    let hosts = std::fs::read_to_string(host.state.join("agent/networks/cloudbr0/hosts"))
        .unwrap_or_default();
    assert!(hosts.trim().is_empty(), "no lease left: {hosts}");

    // A domain of one of our VMs that must not run (the failed VM's, started behind
    // Stratus's back) is destroyed when its host reports it, with an event; a domain
    // that is not ours is only reported.
    let hang_id = id(h);
    let xml = tmp.path().join("stray.xml");
    for (name, uuid) in [
        ("stray", hang_id.as_str()),
        ("foreign", "6c0f4c38-0000-4000-8000-00000000f00d"),
    ] {
        std::fs::write(
            &xml,
            format!(
                "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid>\
                 <memory unit='MiB'>32</memory><os><type arch='x86_64'>hvm</type></os></domain>"
            ),
        )
        .unwrap();
        let out = host.exec(&[
            "virsh",
            "-c",
            "qemu:///system",
            "create",
            xml.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        // The agent may report (and so destroy) the stray while QEMU is still starting:
        // libvirtd then stops it and `virsh create` fails. The event below shows it was
        // the agent; any other failure is one.
        assert!(
            out.status.success() || (name == "stray" && err.contains("signal 15")),
            "virsh create {name}: {err}"
        );
    }
    wait_for("the stray domain destroyed", 90, || {
        (domains(&host) == ["6c0f4c38-0000-4000-8000-00000000f00d"]).then_some(())
    });
    let ev = api.ok(
        "listEvents",
        &["type=VM.DESTROY", "level=WARN", "listall=true"],
    );
    assert!(
        ev.to_string().contains("must not run there"),
        "the stray's destruction is an event: {ev}"
    );
    host.virsh(&["destroy", "foreign"]);
    api.ok(
        "destroyVirtualMachine",
        &[&format!("id={hang_id}"), "expunge=true"],
    );
    wait_for("the host Up again", 60, || {
        let l = api.ok("listHosts", &[&format!("id={host_id}")]);
        (l["host"][0]["state"] == "Up").then_some(())
    });

    // Apache libcloud, unmodified: create (stopped), start, list, destroy.
    let py = std::env::var("STRATUS_PYTHON").unwrap_or_else(|_| {
        stratus_tests::workspace_root()
            .join(".venv/bin/python")
            .display()
            .to_string()
    });
    let out = Command::new(py)
        .arg(stratus_tests::workspace_root().join("tests/clients/libcloud_instances.py"))
        .args([&api.url, &api.key, &api.secret, &iso, DISK_5GB])
        .output()
        .expect("python with libcloud (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "libcloud: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let step = |name: &str| steps.iter().find(|s| s["step"] == name).unwrap().clone();
    assert_eq!(step("locations")["names"][0], "vz");
    assert!(step("sizes")["names"]
        .to_string()
        .contains("Small Instance"));
    let running = step("running");
    assert_eq!(running["name"], "lc1");
    assert_eq!(running["private_ips"][0], "192.168.190.10");
    assert_eq!(step("destroyed")["ok"], true);
    assert!(step("destroyed")["left"].as_array().unwrap().is_empty());
    assert!(
        domains(&host).is_empty(),
        "libcloud's node is gone from the host"
    );
    assert_eq!(capacity_used(&api, &zone, 8), 0);
    let left: Vec<_> = std::fs::read_dir(&primary)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "no volume files left: {left:?}");
    drop(nfs);
}
