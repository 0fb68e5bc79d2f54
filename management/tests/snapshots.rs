//! Volume snapshots (issue 16) through the signed API against real NFS exports
//! (nfs-ganesha: a primary pool and an image store) with real qemu-img, no host (the VM
//! is Stopped, so this server copies; a Running VM's copy by its agent is
//! tests/tests/e2e_volumes.rs):
//! - createSnapshot of an attached data volume: async-create, BackedUp, a standalone
//!   qcow2 in secondary storage holding the volume's data; listSnapshots' fields and
//!   filters; refusals (quiescevm, locationtype, an Allocated volume, another account's
//!   volume, the `snapshot` limit with CloudStack's 535);
//! - revertSnapshot writes the first data back; createVolume with a snapshotid makes a
//!   Ready volume holding it, createTemplate with one a Ready template; deleteSnapshot
//!   removes the file;
//! - the SnapshotCreate workflow: a failure at each step unwinds (no file, the snapshot
//!   Error and no longer counted); every step twice gives one file;
//! - snapshot policies: schedules and time zones checked (431), one snapshot per due slot
//!   whatever the number of passes, the oldest deleted beyond maxsnaps.

use serde_json::Value;
use stratus_testkit::db::Client;
use stratus_tests::NfsServer;

const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";
const ROOT_DOMAIN: &str = "00000000-0000-4000-8000-000000000001";

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

async fn job_err(c: &Client, command: &str, params: &[(&str, &str)], code: i64) -> String {
    let j = job(c, command, params).await;
    assert_eq!(j["jobstatus"], 2, "{command} {params:?}: {j}");
    assert_eq!(j["jobresult"]["errorcode"], code, "{j}");
    s(&j["jobresult"]["errortext"])
}

/// `qemu-io` on a qcow2: writes or checks a pattern. Writes go through NFS (ganesha
/// caches a file's attributes, so what is written beside it is not seen through it);
/// reads of the export's files are local.
fn qemu_io(file: impl AsRef<std::ffi::OsStr>, cmd: &str) -> bool {
    let out = std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", cmd])
        .arg(file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    out.status.success()
        && !text.contains("Pattern verification failed")
        && !text.contains("failed")
}

fn backing_of(file: &std::path::Path) -> Option<String> {
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(file)
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    info.get("backing-filename").map(|b| b.to_string())
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p.file_name().unwrap().to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn volume_snapshots_through_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "snpn",
        247,
        &tmp.path().join("state"),
        &[&primary, &secondary],
    );
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("snz").await;
    let cluster = s(&admin.ok("listClusters", &[("zoneid", &zone)]).await["cluster"][0]["id"]);
    let pod = s(&admin.ok("listPods", &[("zoneid", &zone)]).await["pod"][0]["id"]);
    admin
        .ok(
            "createStoragePool",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clusterid", &cluster),
                ("name", "sn-primary"),
                ("url", &nfs.url(&primary)),
            ],
        )
        .await;
    let alice = admin.user("alice").await;
    let bob = admin.user("bob").await;
    let a = alice
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &zone),
                ("serviceofferingid", SMALL),
                ("templateid", &iso),
                ("diskofferingid", DISK_5GB),
                ("startvm", "false"),
                ("displayname", "snapvm"),
            ],
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let j = alice.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    let vm = s(&j["jobresult"]["virtualmachine"]["id"]);

    // A data volume attached to the stopped VM (its file made), with data written.
    let v = job_ok(
        &alice,
        "createVolume",
        &[
            ("name", "data1"),
            ("diskofferingid", DISK_5GB),
            ("zoneid", &zone),
        ],
    )
    .await["volume"]
        .clone();
    let vol = s(&v["id"]);
    // Not Ready yet (no file): nothing to snapshot.
    let e = alice
        .err("createSnapshot", &[("volumeid", &vol)], 431)
        .await;
    assert!(e.contains("Allocated"), "{e}");
    job_ok(
        &alice,
        "attachVolume",
        &[("id", &vol), ("virtualmachineid", &vm)],
    )
    .await;
    let vol_file = primary.join(format!("{vol}.qcow2"));
    let vol_url = format!("{}/{vol}.qcow2", nfs.url(&primary).trim_end_matches('/'));
    assert!(qemu_io(&vol_url, "write -P 0xab 0 1M"));

    // Refusals before anything is recorded.
    let e = alice
        .err(
            "createSnapshot",
            &[("volumeid", &vol), ("quiescevm", "true")],
            431,
        )
        .await;
    assert!(e.contains("Quiesce"), "{e}");
    let e = alice
        .err(
            "createSnapshot",
            &[("volumeid", &vol), ("locationtype", "tape")],
            431,
        )
        .await;
    assert!(e.contains("locationType"), "{e}");
    bob.err("createSnapshot", &[("volumeid", &vol)], 431).await;

    // No writable image store yet (the test zone's own is a placeholder, made read-only
    // here): the job fails, the snapshot is Error, nothing is counted.
    sqlx::query("UPDATE image_stores SET readonly = true")
        .execute(&admin.ctx.pool)
        .await
        .unwrap();
    let j = job(
        &alice,
        "createSnapshot",
        &[("volumeid", &vol), ("name", "nostore")],
    )
    .await;
    assert_eq!(j["jobstatus"], 2, "{j}");
    assert_eq!(j["jobresult"]["errorcode"], 534, "{j}");
    let l = alice.ok("listSnapshots", &[("name", "nostore")]).await;
    assert_eq!(l["snapshot"][0]["state"], "Error", "{l}");
    admin
        .ok(
            "addImageStore",
            &[
                ("zoneid", &zone),
                ("provider", "NFS"),
                ("name", "sn-secondary"),
                ("url", &nfs.url(&secondary)),
            ],
        )
        .await;

    // createSnapshot: async-create, BackedUp, CloudStack's fields.
    let a = alice
        .call(
            "createSnapshot",
            &[
                ("volumeid", &vol),
                ("name", "first"),
                ("asyncbackup", "true"),
            ],
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let snap = s(&a.body()["id"]);
    let j = alice.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    let sn = j["jobresult"]["snapshot"].clone();
    assert_eq!(sn["id"], snap.as_str());
    assert_eq!(sn["name"], "first");
    assert_eq!(sn["volumeid"], vol.as_str());
    assert_eq!(sn["volumename"], "data1");
    assert_eq!(sn["volumetype"], "DATADISK");
    assert_eq!(sn["snapshottype"], "MANUAL");
    assert_eq!(sn["intervaltype"], "MANUAL");
    assert_eq!(sn["state"], "BackedUp");
    assert_eq!(sn["account"], "alice");
    assert_eq!(sn["domainid"], ROOT_DOMAIN);
    assert_eq!(sn["zoneid"], zone.as_str());
    assert_eq!(sn["virtualsize"], 5i64 << 30);
    assert_eq!(sn["revertable"], true);
    let phys = sn["physicalsize"].as_i64().unwrap();
    assert!(phys > 1 << 20 && phys < 64 << 20, "{sn}");
    let snap_file = secondary
        .join("snapshots")
        .join(&vol)
        .join(format!("{snap}.qcow2"));
    assert!(
        qemu_io(&snap_file, "read -P 0xab 0 1M"),
        "the data is in the snapshot"
    );
    assert_eq!(backing_of(&snap_file), None, "standalone");
    assert_eq!(std::fs::metadata(&snap_file).unwrap().len() as i64, phys);

    // listSnapshots: filters, and another account sees nothing.
    let l = alice.ok("listSnapshots", &[("volumeid", &vol)]).await;
    assert_eq!(l["count"], 2, "{l}");
    let l = alice.ok("listSnapshots", &[("id", &snap)]).await;
    assert_eq!(l["count"], 1, "{l}");
    let l = alice.ok("listSnapshots", &[("keyword", "firs")]).await;
    assert_eq!(l["count"], 1, "{l}");
    let l = alice
        .ok("listSnapshots", &[("snapshottype", "RECURRING")])
        .await;
    assert_eq!(l["count"].as_i64().unwrap_or(0), 0, "{l}");
    let l = alice
        .ok("listSnapshots", &[("snapshottype", "manual")])
        .await;
    assert_eq!(l["count"], 2, "{l}");
    alice
        .err("listSnapshots", &[("snapshottype", "sometimes")], 431)
        .await;
    alice
        .err("listSnapshots", &[("intervaltype", "yearly")], 431)
        .await;
    let l = bob.ok("listSnapshots", &[]).await;
    assert_eq!(l["count"].as_i64().unwrap_or(0), 0, "{l}");
    let l = admin
        .ok("listSnapshots", &[("listall", "true"), ("name", "first")])
        .await;
    assert_eq!(l["count"], 1, "{l}");
    job_err(&bob, "deleteSnapshot", &[("id", &snap)], 431).await;

    // The limit: alice may have 2 snapshots (the failed one does not count).
    admin
        .ok(
            "updateResourceLimit",
            &[
                ("account", "alice"),
                ("domainid", ROOT_DOMAIN),
                ("resourcetype", "3"),
                ("max", "2"),
            ],
        )
        .await;
    let second = job_ok(
        &alice,
        "createSnapshot",
        &[("volumeid", &vol), ("name", "second")],
    )
    .await["snapshot"]["id"]
        .clone();
    let e = alice
        .err("createSnapshot", &[("volumeid", &vol)], 535)
        .await;
    assert!(e.contains("snapshot"), "{e}");
    job_ok(&alice, "deleteSnapshot", &[("id", &s(&second))]).await;

    // Revert: the volume changed, the stopped VM's volume gets the first data back.
    assert!(qemu_io(&vol_url, "write -P 0xcd 0 1M"));
    assert!(!qemu_io(&vol_file, "read -P 0xab 0 1M"), "changed");
    let r = job_ok(&alice, "revertSnapshot", &[("id", &snap)]).await;
    assert_eq!(r["snapshot"]["id"], snap.as_str(), "{r}");
    assert!(qemu_io(&vol_file, "read -P 0xab 0 1M"), "reverted");
    assert_eq!(backing_of(&vol_file), None);
    assert!(
        !files_under(&primary).iter().any(|f| f.ends_with(".part")),
        "no partial file: {:?}",
        files_under(&primary)
    );

    // A new volume from the snapshot: Ready, holding the data.
    let nv = job_ok(
        &alice,
        "createVolume",
        &[
            ("name", "fromsnap"),
            ("snapshotid", &snap),
            ("zoneid", &zone),
        ],
    )
    .await["volume"]
        .clone();
    assert_eq!(nv["state"], "Ready", "{nv}");
    assert_eq!(nv["size"], 5i64 << 30, "{nv}");
    let nv_file = primary.join(format!("{}.qcow2", s(&nv["id"])));
    assert!(
        qemu_io(&nv_file, "read -P 0xab 0 1M"),
        "the new volume holds the data"
    );

    // A template from the snapshot (createTemplate with snapshotid): Ready, a standalone
    // qcow2 in secondary storage holding the data.
    let os = s(&admin.ok("listOsTypes", &[]).await["ostype"][0]["id"]);
    let t = job_ok(
        &alice,
        "createTemplate",
        &[
            ("name", "from-snap"),
            ("displaytext", "from a snapshot"),
            ("ostypeid", &os),
            ("snapshotid", &snap),
        ],
    )
    .await["template"]
        .clone();
    assert_eq!(t["isready"], true, "{t}");
    let tfile = secondary
        .join("template")
        .join(s(&t["id"]))
        .join(format!("{}.qcow2", s(&t["id"])));
    assert!(
        qemu_io(&tfile, "read -P 0xab 0 1M"),
        "the template holds the data"
    );
    assert_eq!(backing_of(&tfile), None);

    // The SnapshotCreate workflow: a failure at each step unwinds.
    for step in ["Place", "Backup", "Done"] {
        admin.ctx.faults.set(&format!("fail:{step}"));
        let j = job(
            &alice,
            "createSnapshot",
            &[("volumeid", &vol), ("name", step)],
        )
        .await;
        admin.ctx.faults.clear();
        assert_eq!(j["jobstatus"], 2, "{step}: {j}");
        let l = alice.ok("listSnapshots", &[("name", step)]).await;
        assert_eq!(l["snapshot"][0]["state"], "Error", "{step}: {l}");
        assert_eq!(
            files_under(&secondary.join("snapshots")),
            vec![format!("{snap}.qcow2")],
            "{step}: only the first snapshot's file"
        );
    }
    // Every step twice: the workflow rewound to its first step gives one file.
    let a = alice
        .call("createSnapshot", &[("volumeid", &vol), ("name", "twice")])
        .await;
    let (tsnap, tjob) = (s(&a.body()["id"]), s(&a.body()["jobid"]));
    assert_eq!(alice.wait_job(&tjob).await["jobstatus"], 1);
    let tj: uuid::Uuid = tjob.parse().unwrap();
    sqlx::query(
        "UPDATE workflows SET state = 'Running', step_index = 0, step = 'Place' WHERE job_id = $1",
    )
    .bind(tj)
    .execute(&admin.ctx.pool)
    .await
    .unwrap();
    let input: Value = sqlx::query_scalar("SELECT input FROM workflows WHERE job_id = $1")
        .bind(tj)
        .fetch_one(&admin.ctx.pool)
        .await
        .unwrap();
    let again: stratus_management::services::snapshots::Create =
        serde_json::from_value(input).unwrap();
    stratus_management::services::snapshots::create(&admin.ctx, Some(tj.into()), again)
        .await
        .unwrap();
    let l = alice.ok("listSnapshots", &[("id", &tsnap)]).await;
    assert_eq!(l["snapshot"][0]["state"], "BackedUp", "{l}");
    assert_eq!(files_under(&secondary.join("snapshots")), {
        let mut v = vec![format!("{snap}.qcow2"), format!("{tsnap}.qcow2")];
        v.sort();
        v
    });
    job_ok(&alice, "deleteSnapshot", &[("id", &tsnap)]).await;

    // Tags (CloudStack's resource type Snapshot): in the answer and the list's filter.
    job_ok(
        &alice,
        "createTags",
        &[
            ("resourcetype", "Snapshot"),
            ("resourceids", &snap),
            ("tags[0].key", "backup"),
            ("tags[0].value", "nightly"),
        ],
    )
    .await;
    let by_tag = |v: &'static str| {
        let alice = alice.clone_handle();
        async move {
            alice
                .ok(
                    "listSnapshots",
                    &[("tags[0].key", "backup"), ("tags[0].value", v)],
                )
                .await
        }
    };
    let l = by_tag("nightly").await;
    assert_eq!(l["count"], 1, "{l}");
    assert_eq!(l["snapshot"][0]["id"], snap.as_str(), "{l}");
    assert_eq!(
        l["snapshot"][0]["tags"][0]["resourcetype"], "Snapshot",
        "{l}"
    );
    assert_eq!(l["snapshot"][0]["tags"][0]["value"], "nightly", "{l}");
    assert_eq!(by_tag("weekly").await["count"].as_i64().unwrap_or(0), 0);

    // deleteSnapshot removes the file (and the snapshot's tags); the snapshot is gone
    // from the list.
    job_ok(&alice, "deleteSnapshot", &[("id", &snap)]).await;
    let l = alice.ok("listTags", &[("resourcetype", "Snapshot")]).await;
    assert_eq!(l["count"].as_i64().unwrap_or(0), 0, "{l}");
    assert!(!snap_file.exists());
    let l = alice.ok("listSnapshots", &[("id", &snap)]).await;
    assert_eq!(l["count"].as_i64().unwrap_or(0), 0, "{l}");
    job_err(&alice, "revertSnapshot", &[("id", &snap)], 431).await;

    // Snapshot policies.
    for (sched, tz, what) in [
        ("61", "UTC", "minute"),
        ("05:23", "Mars/Olympus", "time zone"),
        ("5:24", "UTC", "hour"),
    ] {
        let e = alice
            .err(
                "createSnapshotPolicy",
                &[
                    ("volumeid", &vol),
                    (
                        "intervaltype",
                        if sched.contains(':') {
                            "DAILY"
                        } else {
                            "HOURLY"
                        },
                    ),
                    ("schedule", sched),
                    ("timezone", tz),
                    ("maxsnaps", "2"),
                ],
                431,
            )
            .await;
        assert!(e.to_lowercase().contains(what), "{what}: {e}");
    }
    // A tz database name, as CloudStack's UI sends them, is a time zone too.
    let paris = alice
        .ok(
            "createSnapshotPolicy",
            &[
                ("volumeid", &vol),
                ("intervaltype", "DAILY"),
                ("schedule", "05:23"),
                ("timezone", "Europe/Paris"),
                ("maxsnaps", "2"),
            ],
        )
        .await["snapshotpolicy"]
        .clone();
    assert_eq!(paris["timezone"], "Europe/Paris", "{paris}");
    alice
        .ok("deleteSnapshotPolicies", &[("id", &s(&paris["id"]))])
        .await;
    let pol = alice
        .ok(
            "createSnapshotPolicy",
            &[
                ("volumeid", &vol),
                ("intervaltype", "hourly"),
                ("schedule", "30"),
                ("timezone", "UTC"),
                ("maxsnaps", "1"),
            ],
        )
        .await["snapshotpolicy"]
        .clone();
    assert_eq!(pol["intervaltype"], 0, "{pol}");
    assert_eq!(pol["maxsnaps"], 1, "{pol}");
    let pid = s(&pol["id"]);
    let l = alice
        .ok("listSnapshotPolicies", &[("volumeid", &vol)])
        .await;
    assert_eq!(l["count"], 1, "{l}");
    // `fordisplay` is a root admin's field (CloudStack: authorized = Admin).
    assert!(pol.get("fordisplay").is_none(), "{pol}");
    assert!(l["snapshotpolicy"][0].get("fordisplay").is_none(), "{l}");
    let l = admin
        .ok("listSnapshotPolicies", &[("volumeid", &vol)])
        .await;
    assert_eq!(l["snapshotpolicy"][0]["fordisplay"], true, "{l}");
    bob.err("listSnapshotPolicies", &[("volumeid", &vol)], 431)
        .await;
    admin
        .ok(
            "updateResourceLimit",
            &[
                ("account", "alice"),
                ("domainid", ROOT_DOMAIN),
                ("resourcetype", "3"),
                ("max", "-1"),
            ],
        )
        .await;
    let t = |x: &str| {
        chrono::DateTime::parse_from_rfc3339(x)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    use stratus_management::services::snapshots::policy_pass;
    let recurring = || async {
        alice
            .ok("listSnapshots", &[("snapshottype", "RECURRING")])
            .await
    };
    // Before the slot's minute: nothing due (the last slot is an hour old: stale).
    let p = policy_pass(&admin.ctx, t("2030-01-01T10:29:00Z"))
        .await
        .unwrap();
    assert_eq!(p.taken, 0, "{p:?}");
    // Due: one snapshot, however many passes (servers) run.
    let p = policy_pass(&admin.ctx, t("2030-01-01T10:31:00Z"))
        .await
        .unwrap();
    assert_eq!(p.taken, 1, "{p:?}");
    let p = policy_pass(&admin.ctx, t("2030-01-01T10:32:00Z"))
        .await
        .unwrap();
    assert_eq!(p.taken, 0, "{p:?}");
    let (a, b) = tokio::join!(
        policy_pass(&admin.ctx, t("2030-01-01T11:30:30Z")),
        policy_pass(&admin.ctx, t("2030-01-01T11:30:40Z"))
    );
    assert_eq!(a.unwrap().taken + b.unwrap().taken, 1);
    // maxsnaps 1: the older one is deleted.
    let l = recurring().await;
    assert_eq!(l["count"], 1, "{l}");
    assert_eq!(l["snapshot"][0]["intervaltype"], "HOURLY", "{l}");
    assert!(
        s(&l["snapshot"][0]["name"]).ends_with("20300101113000"),
        "{l}"
    );
    alice.ok("deleteSnapshotPolicies", &[("id", &pid)]).await;
    let l = alice
        .ok("listSnapshotPolicies", &[("volumeid", &vol)])
        .await;
    assert_eq!(l["count"].as_i64().unwrap_or(0), 0, "{l}");
    let p = policy_pass(&admin.ctx, t("2030-01-01T12:31:00Z"))
        .await
        .unwrap();
    assert_eq!(p.taken, 0, "no policy, no snapshot: {p:?}");
}
