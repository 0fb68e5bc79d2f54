//! VM snapshots (issue 16) through the signed API against a real NFS pool, with Stopped
//! VMs (no host: their snapshots are disk-only, `qemu-img snapshot` over NFS on each of
//! their volumes — the running VM's snapshot with memory, through a host's libvirt, is
//! tests/tests/e2e_vmsnapshots.rs): createVMSnapshot's refusals and CloudStack's texts,
//! the snapshot inside the volume's file, listVMSnapshot's fields and filters,
//! parent/current, `vmsnapshot.max`, the volume changes refused while a VM has snapshots,
//! revertToVMSnapshot (a Stopped VM to a Disk snapshot: the file's data back), the
//! workflows' every step twice and a failure at each step unwinding, deleteVMSnapshot,
//! and an expunged VM's snapshots gone.

use serde_json::Value;
use stratus_management::services::vms::{vm_snapshots, volumes};
use stratus_testkit::db::Client;
use stratus_tests::NfsServer;
use uuid::Uuid;

const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

async fn job(c: &Client, command: &str, params: &[(&str, &str)]) -> Value {
    let a = c.call(command, params).await;
    assert_eq!(a.status.as_u16(), 200, "{command} {params:?}: {}", a.text);
    c.wait_job(a.body()["jobid"].as_str().unwrap()).await
}

async fn job_ok(c: &Client, command: &str, params: &[(&str, &str)]) -> Value {
    let j = job(c, command, params).await;
    assert_eq!(j["jobstatus"], 1, "{command} {params:?}: {j}");
    j["jobresult"].clone()
}

async fn snapshots_in(file: &std::path::Path) -> Vec<String> {
    volumes::snapshot_names(&file.display().to_string())
        .await
        .unwrap()
}

/// Writes `byte` over the first MiB of the guest's view of the qcow2 (qemu-io).
fn write_pattern(file: &std::path::Path, byte: u8) {
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", &format!("write -P {byte} 0 1M")])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the first MiB reads back as `byte`.
fn reads_pattern(file: &std::path::Path, byte: u8) -> bool {
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", &format!("read -P {byte} 0 1M")])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && !text.contains("Pattern verification failed")
}

#[tokio::test]
async fn vm_snapshots_of_a_stopped_vm_through_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("primary");
    let nfs = NfsServer::up("vsnap", 249, &tmp.path().join("state"), &[&export]);
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("vsz").await;
    let cluster = s(&admin.ok("listClusters", &[("zoneid", &zone)]).await["cluster"][0]["id"]);
    let pod = s(&admin.ok("listPods", &[("zoneid", &zone)]).await["pod"][0]["id"]);
    admin
        .ok(
            "createStoragePool",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clusterid", &cluster),
                ("name", "vs-primary"),
                ("url", &nfs.url(&export)),
            ],
        )
        .await;
    let alice = admin.user("alice").await;
    let bob = admin.user("bob").await;
    let deploy = |c: &Client| {
        let (c, zone, iso) = (c.clone_handle(), zone.clone(), iso.clone());
        async move {
            let j = job(
                &c,
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
            s(&j["jobresult"]["virtualmachine"]["id"])
        }
    };
    let vm = deploy(&alice).await;
    let vm_name =
        s(&alice.ok("listVirtualMachines", &[("id", &vm)]).await["virtualmachine"][0]["name"]);
    // A data volume attached (its file made): the snapshot's disk here.
    let vol = job_ok(
        &alice,
        "createVolume",
        &[
            ("name", "data"),
            ("diskofferingid", DISK_5GB),
            ("virtualmachineid", &vm),
        ],
    )
    .await["volume"]
        .clone();
    let vol_id = s(&vol["id"]);
    let file = export.join(format!("{vol_id}.qcow2"));
    assert!(file.exists());
    write_pattern(&file, 0x11);

    // Refusals with CloudStack's texts, before anything is recorded.
    let e = alice
        .err(
            "createVMSnapshot",
            &[("virtualmachineid", &vm), ("snapshotmemory", "true")],
            431,
        )
        .await;
    assert!(
        e.contains("Can not snapshot memory when VM is not in Running state"),
        "{e}"
    );
    let e = alice
        .err(
            "createVMSnapshot",
            &[("virtualmachineid", &vm), ("quiescevm", "true")],
            431,
        )
        .await;
    assert!(e.contains("quiescevm"), "{e}");
    bob.err("createVMSnapshot", &[("virtualmachineid", &vm)], 431)
        .await;
    alice
        .err("createVMSnapshot", &[("virtualmachineid", "<script>")], 431)
        .await;
    let e = alice
        .err(
            "createVMSnapshot",
            &[("virtualmachineid", &vm), ("name", "bad\u{1}")],
            431,
        )
        .await;
    assert!(e.contains("printable"), "{e}");

    // createVMSnapshot: async-create, the snapshot in the volume's own file.
    let a = alice
        .call(
            "createVMSnapshot",
            &[
                ("virtualmachineid", &vm),
                ("name", "first"),
                ("description", "before the change"),
            ],
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let s1 = s(&a.body()["id"]);
    let j = alice.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    let v = &j["jobresult"]["vmsnapshot"];
    assert_eq!(v["id"], s1.as_str());
    assert_eq!(v["displayname"], "first");
    assert!(s(&v["name"]).starts_with(&format!("{vm_name}_VS_")), "{v}");
    assert_eq!(v["description"], "before the change");
    assert_eq!(v["state"], "Ready");
    assert_eq!(v["type"], "Disk");
    assert_eq!(v["current"], true);
    assert_eq!(v["virtualmachineid"], vm.as_str());
    assert_eq!(v["account"], "alice");
    assert_eq!(v["zoneid"], zone.as_str());
    assert_eq!(v["hypervisor"], "KVM");
    assert!(v["created"].is_string() && v["domainid"].is_string(), "{v}");
    assert!(v.get("parent").is_none(), "{v}");
    assert_eq!(snapshots_in(&file).await, std::slice::from_ref(&s1));

    // The same display name again: refused.
    let e = alice
        .err(
            "createVMSnapshot",
            &[("virtualmachineid", &vm), ("name", "first")],
            431,
        )
        .await;
    assert!(e.contains("already exists"), "{e}");

    // The VM's volumes cannot change while it has snapshots (CloudStack's rules).
    let other = job_ok(
        &alice,
        "createVolume",
        &[("diskofferingid", DISK_5GB), ("zoneid", &zone)],
    )
    .await["volume"]["id"]
        .clone();
    let j = job(
        &alice,
        "attachVolume",
        &[("id", &s(&other)), ("virtualmachineid", &vm)],
    )
    .await;
    assert_eq!(j["jobresult"]["errorcode"], 431, "{j}");
    assert!(
        s(&j["jobresult"]["errortext"]).contains("does not have VM snapshots"),
        "{j}"
    );
    let j = job(&alice, "detachVolume", &[("id", &vol_id)]).await;
    assert_eq!(j["jobresult"]["errorcode"], 431, "{j}");
    assert!(
        s(&j["jobresult"]["errortext"]).contains("Unable to detach volume"),
        "{j}"
    );
    let j = job(&alice, "resizeVolume", &[("id", &vol_id), ("size", "9")]).await;
    assert_eq!(j["jobresult"]["errorcode"], 431, "{j}");
    assert!(
        s(&j["jobresult"]["errortext"]).contains("cannot be resized"),
        "{j}"
    );
    let j = job(
        &alice,
        "restoreVirtualMachine",
        &[("virtualmachineid", &vm)],
    )
    .await;
    assert_eq!(j["jobresult"]["errorcode"], 431, "{j}");
    assert!(
        s(&j["jobresult"]["errortext"]).contains("remove VM snapshots"),
        "{j}"
    );
    // Nor a new offering (CloudStack's scaleVirtualMachine text, for both verbs).
    let e = alice
        .err(
            "changeServiceForVirtualMachine",
            &[
                ("id", &vm),
                ("serviceofferingid", "00000000-0000-4000-8003-000000000001"),
            ],
            431,
        )
        .await;
    assert!(e.contains("remove VM snapshots before scaling"), "{e}");

    // The data changes; a second snapshot is the first's child and current.
    write_pattern(&file, 0x22);
    let s2 = s(&job_ok(
        &alice,
        "createVMSnapshot",
        &[("virtualmachineid", &vm), ("name", "second")],
    )
    .await["vmsnapshot"]["id"]);
    let l = alice.ok("listVMSnapshot", &[("vmsnapshotid", &s2)]).await;
    assert_eq!(l["count"], 1, "{l}");
    let v2 = &l["vmSnapshot"][0];
    assert_eq!(v2["parent"], s1.as_str(), "{v2}");
    assert_eq!(v2["parentName"], "first", "{v2}");
    assert_eq!(v2["current"], true);
    let l = alice.ok("listVMSnapshot", &[("vmsnapshotid", &s1)]).await;
    assert_eq!(l["vmSnapshot"][0]["current"], false, "{l}");

    // Filters: by VM, name (display or CloudStack's), state, keyword, ids; paging.
    let count = |p: Vec<(&'static str, String)>| {
        let alice = alice.clone_handle();
        async move {
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            alice.ok("listVMSnapshot", &p).await["count"]
                .as_i64()
                .unwrap_or(0)
        }
    };
    assert_eq!(count(vec![("virtualmachineid", vm.clone())]).await, 2);
    assert_eq!(count(vec![("name", "first".into())]).await, 1);
    assert_eq!(count(vec![("state", "ready".into())]).await, 2);
    assert_eq!(count(vec![("state", "Error".into())]).await, 0);
    assert_eq!(count(vec![("keyword", "seco".into())]).await, 1);
    assert_eq!(count(vec![("keyword", "the change".into())]).await, 1);
    assert_eq!(
        count(vec![("vmsnapshotids", format!("{s1},{s2}"))]).await,
        2
    );
    let page = alice
        .ok("listVMSnapshot", &[("page", "1"), ("pagesize", "1")])
        .await;
    assert_eq!(
        (
            page["count"].as_i64(),
            page["vmSnapshot"].as_array().map(Vec::len)
        ),
        (Some(2), Some(1))
    );
    assert_eq!(count(vec![("state", "Sleeping".into())]).await, 0);
    // A tag no snapshot carries matches none.
    assert_eq!(
        count(vec![
            ("tags[0].key", "a".into()),
            ("tags[0].value", "b".into())
        ])
        .await,
        0
    );
    // Bob sees none of hers; the root admin sees them with listall.
    assert_eq!(
        bob.ok("listVMSnapshot", &[]).await["count"]
            .as_i64()
            .unwrap_or(0),
        0
    );
    assert_eq!(
        bob.ok("listVMSnapshot", &[("vmsnapshotid", &s1)]).await["count"]
            .as_i64()
            .unwrap_or(0),
        0
    );
    assert_eq!(
        admin.ok("listVMSnapshot", &[("listall", "true")]).await["count"],
        2
    );
    let j = job(&bob, "deleteVMSnapshot", &[("vmsnapshotid", &s1)]).await;
    assert_eq!(j["jobstatus"], 2, "{j}");

    // vmsnapshot.max: the third of two is refused (CloudStack: 530).
    admin
        .ok(
            "updateConfiguration",
            &[("name", "vmsnapshot.max"), ("value", "2")],
        )
        .await;
    let e = alice
        .err("createVMSnapshot", &[("virtualmachineid", &vm)], 530)
        .await;
    assert!(e.contains("a VM can just have : 2 VM snapshots"), "{e}");
    admin
        .ok(
            "updateConfiguration",
            &[("name", "vmsnapshot.max"), ("value", "10")],
        )
        .await;

    // Revert: a Stopped VM to a Disk snapshot; the data is back, it is current.
    write_pattern(&file, 0x33);
    let r = job_ok(&alice, "revertToVMSnapshot", &[("vmsnapshotid", &s1)]).await;
    assert_eq!(r["virtualmachine"]["id"], vm.as_str(), "{r}");
    assert_eq!(r["virtualmachine"]["state"], "Stopped", "{r}");
    assert!(reads_pattern(&file, 0x11), "the first snapshot's data");
    let l = alice.ok("listVMSnapshot", &[("vmsnapshotid", &s1)]).await;
    assert_eq!(l["vmSnapshot"][0]["current"], true, "{l}");
    let j = job_ok(&alice, "revertToVMSnapshot", &[("vmsnapshotid", &s2)]).await;
    assert_eq!(j["virtualmachine"]["state"], "Stopped");
    assert!(reads_pattern(&file, 0x22), "the second snapshot's data");

    // Every step twice: the revert to s1 rewound to its first step and run again.
    let j = job(&alice, "revertToVMSnapshot", &[("vmsnapshotid", &s1)]).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    let ctx = &admin.ctx;
    let jid: Uuid = s(&j["jobid"]).parse().unwrap();
    sqlx::query("UPDATE workflows SET state = 'Running', step_index = 0, step = 'Prepare' WHERE job_id = $1")
        .bind(jid)
        .execute(&ctx.pool)
        .await
        .unwrap();
    vm_snapshots::revert(
        ctx,
        Some(jid.into()),
        vm_snapshots::Revert {
            snapshot: s1.parse::<Uuid>().unwrap().into(),
            vm: vm.parse().unwrap(),
        },
    )
    .await
    .unwrap();
    assert!(reads_pattern(&file, 0x11));
    assert_eq!(snapshots_in(&file).await.len(), 2);

    // A failure at each step unwinds: create leaves the file without a new snapshot and
    // the record in Error (as CloudStack); delete leaves the snapshot Ready and in place.
    for (i, step) in ["Prepare", "Take", "Record"].into_iter().enumerate() {
        ctx.faults.set(&format!("fail:{step}"));
        let name = format!("failing-{i}");
        let j = job(
            &alice,
            "createVMSnapshot",
            &[("virtualmachineid", &vm), ("name", &name)],
        )
        .await;
        ctx.faults.clear();
        assert_eq!(j["jobstatus"], 2, "{step}: {j}");
        assert_eq!(
            snapshots_in(&file).await.len(),
            2,
            "{step}: nothing left in the file"
        );
        let l = alice.ok("listVMSnapshot", &[("name", &name)]).await;
        assert_eq!(l["vmSnapshot"][0]["state"], "Error", "{step}: {l}");
        // An Error snapshot is deleted (only its record: nothing is in the file).
        let id = s(&l["vmSnapshot"][0]["id"]);
        job_ok(&alice, "deleteVMSnapshot", &[("vmsnapshotid", &id)]).await;
    }
    for step in ["Prepare", "Remove", "Record"] {
        ctx.faults.set(&format!("fail:{step}"));
        let j = job(&alice, "deleteVMSnapshot", &[("vmsnapshotid", &s2)]).await;
        ctx.faults.clear();
        assert_eq!(j["jobstatus"], 2, "{step}: {j}");
        let l = alice.ok("listVMSnapshot", &[("vmsnapshotid", &s2)]).await;
        assert_eq!(l["vmSnapshot"][0]["state"], "Ready", "{step}: {l}");
    }
    // (The Remove step is idempotent: the undo cannot put a deleted snapshot back, so a
    // failure at Record leaves the record Ready over a file without it — deleting again
    // finishes the job.)
    for step in ["Prepare", "Revert"] {
        ctx.faults.set(&format!("fail:{step}"));
        let j = job(&alice, "revertToVMSnapshot", &[("vmsnapshotid", &s1)]).await;
        ctx.faults.clear();
        assert_eq!(j["jobstatus"], 2, "{step}: {j}");
        let l = alice.ok("listVMSnapshot", &[("vmsnapshotid", &s1)]).await;
        assert_eq!(l["vmSnapshot"][0]["state"], "Ready", "{step}: {l}");
    }

    // Tags (CloudStack's resource type VMSnapshot): in the answer and the list's filter.
    job_ok(
        &alice,
        "createTags",
        &[
            ("resourcetype", "VMSnapshot"),
            ("resourceids", &s1),
            ("tags[0].key", "stage"),
            ("tags[0].value", "before-upgrade"),
        ],
    )
    .await;
    let l = alice
        .ok(
            "listVMSnapshot",
            &[
                ("tags[0].key", "stage"),
                ("tags[0].value", "before-upgrade"),
            ],
        )
        .await;
    assert_eq!(l["count"], 1, "{l}");
    assert_eq!(l["vmSnapshot"][0]["id"], s1.as_str(), "{l}");
    assert_eq!(
        l["vmSnapshot"][0]["tags"][0]["resourcetype"], "VMSnapshot",
        "{l}"
    );
    let tagged = |c: &Client| {
        let c = c.clone_handle();
        async move {
            c.ok("listTags", &[("resourcetype", "VMSnapshot")]).await["count"]
                .as_i64()
                .unwrap_or(0)
        }
    };
    assert_eq!(tagged(&alice).await, 1);

    // deleteVMSnapshot: gone from the list and the file (its tags with it); the child
    // takes its parent.
    job_ok(&alice, "deleteVMSnapshot", &[("vmsnapshotid", &s1)]).await;
    assert_eq!(tagged(&alice).await, 0);
    assert_eq!(count(vec![("virtualmachineid", vm.clone())]).await, 1);
    let l = alice.ok("listVMSnapshot", &[("vmsnapshotid", &s2)]).await;
    assert!(l["vmSnapshot"][0].get("parent").is_none(), "{l}");
    assert!(!snapshots_in(&file).await.contains(&s1));
    let j = job(&alice, "deleteVMSnapshot", &[("vmsnapshotid", &s1)]).await;
    assert_eq!(j["jobresult"]["errorcode"], 431, "deleted twice: {j}");

    // Destroyed (recoverable): kept. Expunged: gone.
    let j = job(&alice, "destroyVirtualMachine", &[("id", &vm)]).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    assert_eq!(count(vec![("virtualmachineid", vm.clone())]).await, 1);
    let j = job(&admin, "expungeVirtualMachine", &[("id", &vm)]).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    assert_eq!(
        admin.ok("listVMSnapshot", &[("listall", "true")]).await["count"]
            .as_i64()
            .unwrap_or(0),
        0
    );
}
