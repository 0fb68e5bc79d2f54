//! Volume files on a real NFS export (nfs-ganesha): qemu-img creates a thin qcow2 over
//! NFS, a path that is not exported gives qemu-img's reason, removal is idempotent; and
//! listVolumes' physicalsize is what the file takes on the export, as measured.

use stratus_management::clients::nfs::NfsUrl;
use stratus_management::services::vms::volumes;
use stratus_tests::NfsServer;

#[tokio::test]
async fn qcow2_volumes_over_nfs() {
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("primary");
    let nfs = NfsServer::up("volt", 215, &tmp.path().join("state"), &[&export]);
    let pool = NfsUrl::parse(&nfs.url(&export)).unwrap();
    let id = uuid::Uuid::new_v4();
    let rel = volumes::volume_path(id);
    volumes::create_qcow2(&pool, &rel, 1 << 30).await.unwrap();
    let file = export.join(&rel);
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&file)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 1u64 << 30);
    assert!(std::fs::metadata(&file).unwrap().len() < 1 << 20, "thin");

    let bad = NfsUrl::parse(&format!("nfs://{}/not/exported", nfs.address)).unwrap();
    let e = volumes::create_qcow2(&bad, "x.qcow2", 1 << 30)
        .await
        .unwrap_err();
    assert!(
        e.contains("qemu-img create") && e.contains("Failed to mount"),
        "{e}"
    );

    volumes::remove(&pool, &rel).await.unwrap();
    assert!(!file.exists());
    volumes::remove(&pool, &rel).await.unwrap();
}

/// listVolumes' `physicalsize`: what the volume's file takes on its pool (NFS `used`),
/// measured with the pool's capacity by the storage pass. None before the first pass (as
/// CloudStack before its volume stats); after it, what the file really takes — far less
/// than the size of a thin qcow2 — and more once more is written.
#[tokio::test]
async fn volumes_answer_what_their_file_takes_on_the_pool() {
    use std::os::unix::fs::MetadataExt;
    use stratus_management::{db, services::reconcile};
    use stratus_testkit::db::Client;

    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("primary");
    let nfs = NfsServer::up("volps", 227, &tmp.path().join("state"), &[&export]);
    let c = Client::admin().await;
    let (zone, pod, cluster) = c.basic_topology("psz").await;
    let pool = c
        .ok(
            "createStoragePool",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clusterid", &cluster),
                ("name", "primary"),
                ("url", &nfs.url(&export)),
            ],
        )
        .await["storagepool"]["id"]
        .as_str()
        .unwrap()
        .parse::<uuid::Uuid>()
        .unwrap();
    let id = uuid::Uuid::new_v4();
    let rel = volumes::volume_path(id);
    volumes::create_qcow2(&NfsUrl::parse(&nfs.url(&export)).unwrap(), &rel, 1 << 30)
        .await
        .unwrap();
    db::volumes::volume_insert(
        &c.ctx.pool,
        &db::volumes::VolumeRow {
            id: id.into(),
            vm_id: None,
            name: "ROOT-psz".into(),
            volume_type: "ROOT".into(),
            pool_id: pool.into(),
            path: rel.clone(),
            size_bytes: 1 << 30,
            state: stratus_management::rules::states::VolumeState::Ready,
            created: chrono::Utc::now(),
            removed: None,
            template_id: None,
        },
    )
    .await
    .unwrap();
    let listed = || {
        let c = c.clone_handle();
        let id = id.to_string();
        async move { c.ok("listVolumes", &[("id", &id)]).await["volume"][0].clone() }
    };
    let v = listed().await;
    assert!(v.get("physicalsize").is_none(), "not measured yet: {v}");
    assert_eq!(v["size"], 1i64 << 30);

    let file = export.join(&rel);
    let on_disk = |f: &std::path::Path| std::fs::metadata(f).unwrap().blocks() as i64 * 512;
    reconcile::refresh_storage_stats(&c.ctx).await.unwrap();
    let v = listed().await;
    let measured = v["physicalsize"].as_i64().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(measured, on_disk(&file), "{v}");
    assert!(measured > 0 && measured < 1 << 20, "thin: {v}");

    // Rewritten through the export (as qemu writes it) with 8 MiB, it is measured again.
    let mut client = stratus_management::clients::nfs::NfsClient::connect(
        &NfsUrl::parse(&nfs.url(&export)).unwrap(),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut w = client.create(&rel).await.unwrap();
    w.write(&vec![0xa5u8; 8 << 20]).await.unwrap();
    w.finish().await.unwrap();
    reconcile::refresh_storage_stats(&c.ctx).await.unwrap();
    let grown = listed().await["physicalsize"].as_i64().unwrap();
    assert_eq!(grown, on_disk(&file));
    assert!(grown >= 8 << 20, "{measured} then {grown}");
}

// --- Data volumes (issue 16) ---------------------------------------------------------------

const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";
const ROOT_DOMAIN: &str = "00000000-0000-4000-8000-000000000001";

fn s(v: &serde_json::Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// Runs an async volume command to its end: the job's result (or its error).
async fn job(
    c: &stratus_testkit::db::Client,
    command: &str,
    params: &[(&str, &str)],
) -> serde_json::Value {
    let a = c.call(command, params).await;
    assert_eq!(a.status.as_u16(), 200, "{command} {params:?}: {}", a.text);
    c.wait_job(a.body()["jobid"].as_str().unwrap()).await
}

async fn job_ok(
    c: &stratus_testkit::db::Client,
    command: &str,
    params: &[(&str, &str)],
) -> serde_json::Value {
    let j = job(c, command, params).await;
    assert_eq!(j["jobstatus"], 1, "{command} {params:?}: {j}");
    j["jobresult"]["volume"].clone()
}

/// The failed job's error text (asserting its code).
async fn job_err(
    c: &stratus_testkit::db::Client,
    command: &str,
    params: &[(&str, &str)],
    code: i64,
) -> String {
    let j = job(c, command, params).await;
    assert_eq!(j["jobstatus"], 2, "{command} {params:?}: {j}");
    assert_eq!(j["jobresult"]["errorcode"], code, "{j}");
    s(&j["jobresult"]["errortext"])
}

/// Sets alice's limit of `resourcetype` (CloudStack's number) to `max` (-1: none).
async fn alice_limit(admin: &stratus_testkit::db::Client, resourcetype: &str, max: &str) {
    admin
        .ok(
            "updateResourceLimit",
            &[
                ("account", "alice"),
                ("domainid", ROOT_DOMAIN),
                ("resourcetype", resourcetype),
                ("max", max),
            ],
        )
        .await;
}

fn virtual_size(file: &std::path::Path) -> u64 {
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(file)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    info["virtual-size"].as_u64().unwrap()
}

/// Every data volume verb through the signed API against a real NFS pool (no host: the
/// VMs are Stopped, so attaching records the volume and creates its file, and the VM's
/// next start would hold it — the hot-plug itself is tests/tests/e2e_volumes.rs):
/// createVolume (fixed and custom offerings; Allocated with no file and no storage shown)
/// and its refusals (sizes, hostile input, limits naming the type), attachVolume (file
/// made, Ready, device ids as CloudStack allocates them, 3 and taken ones refused, another
/// account's VM or volume unknown), listVolumes' fields and filters, deleteVolume of an
/// attached volume refused, detachVolume by id and by VM + device, resizeVolume (fixed
/// offering refused, grow, shrink only with shrinkok), migrateVolume to another pool, and
/// deleteVolume removing the file.
#[tokio::test]
async fn data_volumes_through_the_api() {
    use stratus_testkit::db::Client;

    let tmp = tempfile::tempdir().unwrap();
    let (export, export2) = (tmp.path().join("primary"), tmp.path().join("primary2"));
    let nfs = NfsServer::up(
        "voldv",
        231,
        &tmp.path().join("state"),
        &[&export, &export2],
    );
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("dvz").await;
    let cluster = s(&admin.ok("listClusters", &[("zoneid", &zone)]).await["cluster"][0]["id"]);
    let pod = s(&admin.ok("listPods", &[("zoneid", &zone)]).await["pod"][0]["id"]);
    let pool = |name: &'static str, dir: std::path::PathBuf| {
        let (admin, zone, pod, cluster, url) = (
            admin.clone_handle(),
            zone.clone(),
            pod.clone(),
            cluster.clone(),
            nfs.url(&dir),
        );
        async move {
            s(&admin
                .ok(
                    "createStoragePool",
                    &[
                        ("zoneid", &zone),
                        ("podid", &pod),
                        ("clusterid", &cluster),
                        ("name", name),
                        ("url", &url),
                    ],
                )
                .await["storagepool"]["id"])
        }
    };
    let pool1 = pool("dv-primary", export.clone()).await;
    let custom = s(&admin
        .ok(
            "createDiskOffering",
            &[
                ("name", "custom"),
                ("displaytext", "Custom"),
                ("customized", "true"),
            ],
        )
        .await["diskoffering"]["id"]);
    let alice = admin.user("alice").await;
    let bob = admin.user("bob").await;
    let vm = |c: &Client| {
        let (c, zone, iso) = (c.clone_handle(), zone.clone(), iso.clone());
        async move {
            let a = c
                .call(
                    "deployVirtualMachine",
                    &[
                        ("zoneid", &zone),
                        ("serviceofferingid", SMALL),
                        ("templateid", &iso),
                        ("diskofferingid", DISK_5GB),
                        ("startvm", "false"),
                    ],
                )
                .await;
            assert_eq!(a.status.as_u16(), 200, "{}", a.text);
            let j = c.wait_job(a.body()["jobid"].as_str().unwrap()).await;
            s(&j["jobresult"]["virtualmachine"]["id"])
        }
    };
    let alice_vm = vm(&alice).await;
    let bob_vm = vm(&bob).await;

    // createVolume: async-create (the id with the job's), Allocated, no file, no storage.
    let a = alice
        .call(
            "createVolume",
            &[
                ("name", "data1"),
                ("diskofferingid", DISK_5GB),
                ("zoneid", &zone),
            ],
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let v1_id = s(&a.body()["id"]);
    let j = alice.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    let v1 = j["jobresult"]["volume"].clone();
    assert_eq!(v1["id"], v1_id.as_str());
    assert_eq!(v1["name"], "data1");
    assert_eq!(v1["type"], "DATADISK");
    assert_eq!(v1["state"], "Allocated");
    assert_eq!(v1["size"], 5i64 << 30);
    assert_eq!(v1["account"], "alice");
    assert_eq!(v1["domainid"], ROOT_DOMAIN);
    assert_eq!(v1["zoneid"], zone.as_str());
    assert_eq!(v1["diskofferingid"], DISK_5GB);
    assert!(v1["diskofferingname"].is_string(), "{v1}");
    assert!(
        v1.get("storage").is_none() && v1.get("virtualmachineid").is_none(),
        "{v1}"
    );
    assert!(
        v1.get("deviceid").is_none() && v1.get("attached").is_none(),
        "{v1}"
    );
    let file1 = export.join(format!("{v1_id}.qcow2"));
    assert!(!file1.exists(), "made lazily, at the first attach");
    // A custom offering takes the size (GB).
    let v2 = job_ok(
        &alice,
        "createVolume",
        &[
            ("name", "data2"),
            ("diskofferingid", &custom),
            ("size", "2"),
            ("zoneid", &zone),
        ],
    )
    .await;
    assert_eq!(v2["size"], 2i64 << 30);
    let v2_id = s(&v2["id"]);

    // Refusals, before anything is recorded.
    for (params, want) in [
        (
            vec![("diskofferingid", DISK_5GB), ("size", "2")],
            "custom disk offering",
        ),
        (
            vec![("diskofferingid", custom.as_str())],
            "give the volume's size",
        ),
        (
            vec![("diskofferingid", custom.as_str()), ("size", "0")],
            "must be 1-1024 GB",
        ),
        (
            vec![("diskofferingid", custom.as_str()), ("size", "-5")],
            "must be 1-1024 GB",
        ),
        (
            vec![
                ("diskofferingid", custom.as_str()),
                ("size", "99999999999999"),
            ],
            "must be 1-1024 GB",
        ),
        (
            vec![("diskofferingid", DISK_5GB), ("name", "bad\u{1}name")],
            "printable",
        ),
        (
            vec![("size", "2")],
            "Either diskofferingid or snapshotid must be passed in",
        ),
    ] {
        let mut p = params.clone();
        p.push(("zoneid", &zone));
        let e = alice.err("createVolume", &p, 431).await;
        assert!(e.contains(want), "{p:?}: {e}");
    }
    let e = alice
        .err("createVolume", &[("diskofferingid", DISK_5GB)], 431)
        .await;
    assert!(e.contains("zoneid is required"), "{e}");
    let e = alice
        .err(
            "createVolume",
            &[("diskofferingid", DISK_5GB), ("zoneid", "<script>")],
            431,
        )
        .await;
    assert!(e.contains("Invalid parameter zoneid"), "{e}");
    alice
        .err(
            "createVolume",
            &[
                ("diskofferingid", DISK_5GB),
                ("size", "x"),
                ("zoneid", &zone),
            ],
            431,
        )
        .await;
    // Another account's VM is unknown to her.
    alice
        .err(
            "createVolume",
            &[("diskofferingid", DISK_5GB), ("virtualmachineid", &bob_vm)],
            431,
        )
        .await;

    // Limits: her VM counts one volume, data1 and data2 two more; a limit of 3 is full.
    alice_limit(&admin, "2", "3").await;
    let e = alice
        .err(
            "createVolume",
            &[("diskofferingid", DISK_5GB), ("zoneid", &zone)],
            535,
        )
        .await;
    assert!(e.contains("Type = 'volume'") && e.contains("alice"), "{e}");
    alice_limit(&admin, "2", "-1").await;
    // Primary storage: 5 (root, as admitted) + 5 + 2 GiB used; 15 GiB leaves no room for 10.
    alice_limit(&admin, "10", "15").await;
    let e = alice
        .err(
            "createVolume",
            &[
                ("diskofferingid", &custom),
                ("size", "10"),
                ("zoneid", &zone),
            ],
            535,
        )
        .await;
    assert!(e.contains("primary_storage"), "{e}");
    alice_limit(&admin, "10", "-1").await;

    // attachVolume to her Stopped VM: the file is made, Ready, device 1.
    let a1 = job_ok(
        &alice,
        "attachVolume",
        &[("id", &v1_id), ("virtualmachineid", &alice_vm)],
    )
    .await;
    assert_eq!(a1["state"], "Ready", "{a1}");
    assert_eq!(a1["deviceid"], 1);
    assert_eq!(a1["virtualmachineid"], alice_vm.as_str());
    assert_eq!(a1["vmstate"], "Stopped");
    assert!(
        a1["vmname"].is_string() && a1["attached"].is_string(),
        "{a1}"
    );
    assert_eq!(a1["storage"], "dv-primary");
    assert!(a1.get("storageid").is_none(), "admins only: {a1}");
    assert_eq!(virtual_size(&file1), 5 << 30);
    // Again: attached already.
    let e = job_err(
        &alice,
        "attachVolume",
        &[("id", &v1_id), ("virtualmachineid", &alice_vm)],
        431,
    )
    .await;
    assert!(e.contains("attached to VM"), "{e}");
    // Device ids: 3 is the CD-ROM's, 1 is taken, 0 the root's, 8 past the maximum.
    for (d, want) in [
        ("3", "deviceId should be 1,2,4-7"),
        ("0", "deviceId should be"),
        ("8", "deviceId should be"),
        ("1", "used by another volume"),
    ] {
        let e = job_err(
            &alice,
            "attachVolume",
            &[
                ("id", &v2_id),
                ("virtualmachineid", &alice_vm),
                ("deviceid", d),
            ],
            431,
        )
        .await;
        assert!(e.contains(want), "{d}: {e}");
    }
    // Bob: her volume and her VM are unknown to him; his volume cannot go to her VM.
    let bv = job_ok(
        &bob,
        "createVolume",
        &[("diskofferingid", DISK_5GB), ("zoneid", &zone)],
    )
    .await;
    let bv_id = s(&bv["id"]);
    job_err(
        &bob,
        "attachVolume",
        &[("id", &v2_id), ("virtualmachineid", &bob_vm)],
        431,
    )
    .await;
    job_err(
        &bob,
        "attachVolume",
        &[("id", &bv_id), ("virtualmachineid", &alice_vm)],
        431,
    )
    .await;
    let e = job_err(
        &admin,
        "attachVolume",
        &[("id", &bv_id), ("virtualmachineid", &alice_vm)],
        431,
    )
    .await;
    assert!(e.contains("same account"), "{e}");
    let a2 = job_ok(
        &alice,
        "attachVolume",
        &[
            ("id", &v2_id),
            ("virtualmachineid", &alice_vm),
            ("deviceid", "4"),
        ],
    )
    .await;
    assert_eq!(a2["deviceid"], 4);

    // listVolumes: her VM's data volumes, by device; filters.
    let l = alice
        .ok("listVolumes", &[("virtualmachineid", &alice_vm)])
        .await;
    assert_eq!(l["count"], 2, "{l}");
    let devices: Vec<_> = l["volume"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["deviceid"].clone())
        .collect();
    assert_eq!(devices, [1, 4]);
    assert_eq!(
        alice.ok("listVolumes", &[("type", "datadisk")]).await["count"],
        2
    );
    assert_eq!(
        alice.ok("listVolumes", &[("keyword", "ata2")]).await["volume"][0]["id"],
        v2_id.as_str()
    );
    assert_eq!(
        alice.ok("listVolumes", &[("name", "data1")]).await["count"],
        1
    );
    assert!(
        bob.ok("listVolumes", &[("id", &v1_id)])
            .await
            .get("volume")
            .is_none(),
        "not his"
    );
    let all = admin
        .ok("listVolumes", &[("listall", "true"), ("type", "DATADISK")])
        .await;
    assert_eq!(all["count"], 3, "{all}");
    let mine = admin.ok("listVolumes", &[("id", &v1_id)]).await["volume"][0].clone();
    assert_eq!(mine["storageid"], pool1.as_str(), "{mine}");

    // deleteVolume of an attached volume: refused.
    let e = alice.err("deleteVolume", &[("id", &v1_id)], 536).await;
    assert!(e.contains("not attached"), "{e}");
    // A root volume is not a data volume's to detach (her VM has none yet: bob's neither),
    // and detachVolume needs an id or the VM and device.
    let e = job_err(
        &alice,
        "detachVolume",
        &[("virtualmachineid", &alice_vm)],
        431,
    )
    .await;
    assert!(e.contains("either a volume id"), "{e}");
    let e = job_err(
        &alice,
        "detachVolume",
        &[("virtualmachineid", &alice_vm), ("deviceid", "2")],
        431,
    )
    .await;
    assert!(e.contains("no volume at deviceId 2"), "{e}");

    // detachVolume: by VM + device, and by id; the files stay.
    let d2 = job_ok(
        &alice,
        "detachVolume",
        &[("virtualmachineid", &alice_vm), ("deviceid", "4")],
    )
    .await;
    assert!(
        d2.get("virtualmachineid").is_none() && d2.get("deviceid").is_none(),
        "{d2}"
    );
    assert_eq!(d2["state"], "Ready");
    let d1 = job_ok(&alice, "detachVolume", &[("id", &v1_id)]).await;
    assert!(d1.get("vmname").is_none(), "{d1}");
    assert!(file1.exists());
    let e = job_err(&alice, "detachVolume", &[("id", &v1_id)], 431).await;
    assert!(e.contains("not attached"), "{e}");

    // resizeVolume: a fixed offering's size is the offering's; grow to a custom 8 GB;
    // shrinking needs shrinkok.
    let e = job_err(
        &alice,
        "resizeVolume",
        &[("id", &v1_id), ("size", "8")],
        431,
    )
    .await;
    assert!(e.contains("fixed size"), "{e}");
    let r = job_ok(
        &alice,
        "resizeVolume",
        &[("id", &v1_id), ("diskofferingid", &custom), ("size", "8")],
    )
    .await;
    assert_eq!(r["size"], 8i64 << 30);
    assert_eq!(r["diskofferingid"], custom.as_str());
    assert_eq!(virtual_size(&file1), 8 << 30);
    let e = job_err(
        &alice,
        "resizeVolume",
        &[("id", &v1_id), ("size", "3")],
        431,
    )
    .await;
    assert!(e.contains("shrinkok"), "{e}");
    assert_eq!(virtual_size(&file1), 8 << 30);
    let r = job_ok(
        &alice,
        "resizeVolume",
        &[("id", &v1_id), ("size", "3"), ("shrinkok", "true")],
    )
    .await;
    assert_eq!(r["size"], 3i64 << 30);
    assert_eq!(virtual_size(&file1), 3 << 30);
    job_err(&alice, "resizeVolume", &[("id", &v1_id)], 431).await;

    // migrateVolume: data2 (detached, Ready) to a second pool; the file moves.
    let pool2 = pool("dv-primary2", export2.clone()).await;
    let file2 = export.join(format!("{v2_id}.qcow2"));
    assert!(file2.exists());
    let m = job_ok(
        &admin,
        "migrateVolume",
        &[("volumeid", &v2_id), ("storageid", &pool2)],
    )
    .await;
    assert_eq!(m["storage"], "dv-primary2");
    assert_eq!(m["storageid"], pool2.as_str());
    assert!(!file2.exists());
    assert_eq!(
        virtual_size(&export2.join(format!("{v2_id}.qcow2"))),
        2 << 30
    );
    let e = job_err(
        &admin,
        "migrateVolume",
        &[("volumeid", &v2_id), ("storageid", &pool2)],
        431,
    )
    .await;
    assert!(e.contains("already"), "{e}");

    // deleteVolume: gone from the list and the pool; bob cannot delete hers.
    bob.err("deleteVolume", &[("id", &v2_id)], 431).await;
    alice.ok("deleteVolume", &[("id", &v1_id)]).await;
    assert!(!file1.exists());
    assert!(alice
        .ok("listVolumes", &[("id", &v1_id)])
        .await
        .get("volume")
        .is_none());
    alice.err("deleteVolume", &[("id", &v1_id)], 431).await;
    alice
        .err("deleteVolume", &[("id", "not-a-uuid")], 431)
        .await;
}

/// Concurrent createVolume calls never over-commit a pool: with room for one more 5 GB
/// volume (capacitybytes × storage.overprovisioning.factor), of two created at once one
/// is recorded and the other refused (533, naming the pool's lack of room), whatever the
/// order the two transactions run in.
#[tokio::test]
async fn concurrent_volumes_do_not_overcommit_a_pool() {
    use stratus_testkit::db::Client;

    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("primary");
    let nfs = NfsServer::up("volcc", 232, &tmp.path().join("state"), &[&export]);
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, _) = admin.deployable_iso("ccz").await;
    let cluster = s(&admin.ok("listClusters", &[("zoneid", &zone)]).await["cluster"][0]["id"]);
    let pod = s(&admin.ok("listPods", &[("zoneid", &zone)]).await["pod"][0]["id"]);
    let pool = s(&admin
        .ok(
            "createStoragePool",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clusterid", &cluster),
                ("name", "cc-primary"),
                ("url", &nfs.url(&export)),
            ],
        )
        .await["storagepool"]["id"]);
    admin
        .ok(
            "updateConfiguration",
            &[("name", "storage.overprovisioning.factor"), ("value", "1")],
        )
        .await;
    // Room for one 5 GB volume, not two.
    admin
        .ok(
            "updateStoragePool",
            &[("id", &pool), ("capacitybytes", &(8i64 << 30).to_string())],
        )
        .await;
    for round in 0..3 {
        let create = |name: String| {
            let (c, zone) = (admin.clone_handle(), zone.clone());
            async move {
                c.call(
                    "createVolume",
                    &[
                        ("name", name.as_str()),
                        ("diskofferingid", DISK_5GB),
                        ("zoneid", zone.as_str()),
                    ],
                )
                .await
            }
        };
        let (a, b) = tokio::join!(create(format!("a{round}")), create(format!("b{round}")));
        let mut codes = [a.status.as_u16(), b.status.as_u16()];
        codes.sort();
        assert_eq!(codes, [200, 533], "{} / {}", a.text, b.text);
        let refused = if a.status.as_u16() == 533 { &a } else { &b };
        assert!(
            refused.errortext().contains("primary storage"),
            "{}",
            refused.text
        );
        let made = if a.status.as_u16() == 200 { &a } else { &b };
        let id = s(&made.body()["id"]);
        admin.wait_job(made.body()["jobid"].as_str().unwrap()).await;
        let listed = admin
            .ok("listVolumes", &[("storageid", &pool), ("listall", "true")])
            .await;
        // (Allocated volumes list no storage: count the zone's.)
        let all = admin
            .ok("listVolumes", &[("zoneid", &zone), ("listall", "true")])
            .await;
        assert_eq!(all["count"], 1, "{all} {listed}");
        admin.ok("deleteVolume", &[("id", &id)]).await;
    }
}
