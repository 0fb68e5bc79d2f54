//! The ISO registry through the API, without storage: registering for every zone
//! (zoneid=-1) queues a copy per zone that waits for secondary storage, updateIso and the
//! OS catalogue, bad input refused with CloudStack's codes, deleteIso removing every copy.

use stratus_testkit::db as common;

use common::Client;
use serde_json::Value;

#[tokio::test]
async fn iso_registry_without_storage() {
    let c = Client::admin().await;
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let (z1, _, _) = c.basic_topology("iso-z1").await;
    let (z2, _, _) = c.basic_topology("iso-z2").await;
    let cats = c.ok("listOsCategories", &[]).await;
    assert_eq!(cats["count"], 11, "{cats}");
    let debian = c
        .ok("listOsTypes", &[("keyword", "Debian GNU/Linux 12")])
        .await["ostype"][0]
        .clone();
    assert_eq!(debian["oscategoryname"], "Debian");

    for (args, code, want) in [
        (vec![("url", "ftp://x/y.iso")], 431, "http or https"),
        (
            vec![("url", "http://h/x.iso"), ("checksum", "{md5}xyz")],
            431,
            "Invalid checksum",
        ),
        (
            vec![
                ("url", "http://h/x.iso"),
                ("ostypeid", "00000000-0000-0000-0000-000000000000"),
            ],
            431,
            "ostypeid",
        ),
    ] {
        let mut a = vec![("name", "bad"), ("zoneid", z1.as_str())];
        a.extend(args);
        let t = c.err("registerIso", &a, code).await;
        assert!(t.contains(want), "{t}");
    }
    let t = c
        .err(
            "registerIso",
            &[
                ("name", "bad"),
                ("zoneid", "nope"),
                ("url", "http://h/x.iso"),
            ],
            431,
        )
        .await;
    assert!(t.contains("zoneid"), "{t}");

    // The download policy: loopback only once a root admin lists it.
    let t = c
        .err(
            "registerIso",
            &[
                ("name", "everywhere"),
                ("zoneid", "-1"),
                ("url", "http://127.0.0.1:9/x.iso"),
            ],
            431,
        )
        .await;
    assert!(t.contains("loopback"), "{t}");
    c.allow_loopback_downloads().await;
    let r = c
        .ok(
            "registerIso",
            &[
                ("name", "everywhere"),
                ("zoneid", "-1"),
                ("url", "http://127.0.0.1:9/x.iso"),
                ("ostypeid", debian["id"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(r["count"], 2, "one copy per zone: {r}");
    let id = r["iso"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(r["iso"][0]["crossZones"], true);
    assert_eq!(
        r["iso"][0]["displaytext"], "everywhere",
        "defaults to the name"
    );
    let zones: Vec<&str> = r["iso"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["zoneid"].as_str().unwrap())
        .collect();
    assert!(zones.contains(&z1.as_str()) && zones.contains(&z2.as_str()));
    for i in r["iso"].as_array().unwrap() {
        assert_eq!(i["isready"], false);
        assert!(
            i["status"]
                .as_str()
                .unwrap()
                .contains("Waiting for secondary storage"),
            "{i}"
        );
    }
    assert_eq!(c.ok("listIsos", &[("zoneid", &z2)]).await["count"], 1);

    let u = c
        .ok(
            "updateIso",
            &[("id", &id), ("name", "renamed"), ("bootable", "false")],
        )
        .await;
    assert_eq!(u["iso"]["name"], "renamed");
    assert_eq!(u["iso"]["bootable"], false);
    assert_eq!(
        c.ok("listIsos", &[("bootable", "false")]).await["count"],
        2,
        "both copies"
    );

    let t = c
        .err(
            "addSecondaryStorage",
            &[("url", "http://x/y"), ("zoneid", &z1)],
            431,
        )
        .await;
    assert!(t.contains("Invalid secondary storage URL"), "{t}");

    let j = c.ok("deleteIso", &[("id", &id), ("zoneid", &z1)]).await;
    c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(
        c.ok("listIsos", &[("id", &id)]).await["count"],
        1,
        "only z1's copy went"
    );
    let j = c.ok("deleteIso", &[("id", &id)]).await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    assert!(c.ok("listIsos", &[("id", &id)]).await.get("iso").is_none());
}

/// Ansible's cs_iso looks its ISO up with `isready=false` (its `is_ready` default): in
/// CloudStack that asks for no readiness at all (ListIsosCmd.listInReadyState), so a Ready
/// ISO is found and not registered a second time; `isready=true` and the executable
/// filters show only Ready ones.
#[tokio::test]
async fn isready_false_is_no_filter_as_in_cloudstack() {
    let c = Client::admin().await;
    let (z, _, _) = c.basic_topology("ready-z").await;
    c.allow_loopback_downloads().await;
    let mut ids = vec![];
    for name in ["done", "pending"] {
        let r = c
            .ok(
                "registerIso",
                &[
                    ("name", name),
                    ("zoneid", z.as_str()),
                    ("url", "http://127.0.0.1:9/x.iso"),
                    ("ispublic", "true"),
                    ("isfeatured", "true"),
                ],
            )
            .await;
        ids.push(r["iso"][0]["id"].as_str().unwrap().to_string());
    }
    // Its download done (no secondary storage here to do it).
    sqlx::query("UPDATE iso_zones SET state = 'Ready', size = 1 WHERE iso_id = $1::uuid")
        .bind(&ids[0])
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let names = |v: Value| -> Vec<String> {
        v["iso"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| i["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    // What cs_iso sends on its second run finds the Ready ISO.
    let found = c
        .ok(
            "listIsos",
            &[
                ("isready", "false"),
                ("isofilter", "self"),
                ("zoneid", z.as_str()),
                ("name", "done"),
            ],
        )
        .await;
    assert_eq!(names(found), ["done"]);
    for (args, want) in [
        (vec![("isready", "false")], vec!["done", "pending"]),
        (vec![], vec!["done", "pending"]),
        (vec![("isready", "true")], vec!["done"]),
        (
            vec![("isofilter", "self"), ("isready", "true")],
            vec!["done"],
        ),
        (vec![("isofilter", "featured")], vec!["done"]),
        (
            vec![("isofilter", "featured"), ("isready", "false")],
            vec!["done"],
        ),
        (vec![("isofilter", "selfexecutable")], vec!["done"]),
        (vec![("isofilter", "executable")], vec!["done", "pending"]),
        (vec![("isofilter", "all")], vec!["done", "pending"]),
    ] {
        let got = names(c.ok("listIsos", &args).await);
        assert_eq!(got, want, "listIsos {args:?}");
    }
}

/// updateIsoPermissions/listIsoPermissions, as templates have them: a private ISO shared
/// with an account is listed (`sharedexecutable`), deployed from and attached by it, and
/// stops being usable when the permission is removed; only its owner changes them.
#[tokio::test]
async fn a_private_iso_shared_with_an_account_is_its_to_use_until_removed() {
    const SMALL: &str = "00000000-0000-4000-8003-000000000001";
    const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, boot) = admin.deployable_iso("isos-shared").await;
    let bob = admin.user("bob").await;
    let carol = admin.user("carol").await;
    let iso = admin
        .ok(
            "registerIso",
            &[
                ("name", "tools"),
                ("zoneid", &zone),
                ("url", "http://127.0.0.1:9/tools.iso"),
            ],
        )
        .await["iso"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin.iso_ready(&iso, &zone, "iso/tools.iso").await;
    let shared = |c: &Client| {
        let c = c.clone_handle();
        async move {
            let r = c.ok("listIsos", &[("isofilter", "sharedexecutable")]).await;
            r["iso"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| i["id"].as_str().unwrap().to_string())
                        .collect::<Vec<String>>()
                })
                .unwrap_or_default()
        }
    };
    let no: Vec<String> = vec![];
    assert_eq!(shared(&bob).await, no);
    bob.err("listIsoPermissions", &[("id", &iso)], 531).await;
    let deploy = |c: &Client, image: &str| {
        let (c, zone, image) = (c.clone_handle(), zone.clone(), image.to_string());
        async move {
            c.call(
                "deployVirtualMachine",
                &[
                    ("zoneid", zone.as_str()),
                    ("serviceofferingid", SMALL),
                    ("templateid", image.as_str()),
                    ("diskofferingid", DISK_5GB),
                    ("startvm", "false"),
                ],
            )
            .await
        }
    };
    let refused = deploy(&bob, &iso).await;
    assert_eq!(refused.status.as_u16(), 431, "{}", refused.text);

    let ok = admin
        .ok(
            "updateIsoPermissions",
            &[("id", &iso), ("accounts", "bob"), ("op", "add")],
        )
        .await;
    assert_eq!(ok["success"], true, "{ok}");
    assert_eq!(shared(&bob).await, vec![iso.clone()]);
    assert_eq!(shared(&carol).await, no);
    let perms = bob.ok("listIsoPermissions", &[("id", &iso)]).await;
    let p = &perms["templatepermission"];
    assert_eq!(p["ispublic"], false, "{perms}");
    let mut accounts: Vec<&str> = p["account"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    accounts.sort();
    assert_eq!(accounts, vec!["admin", "bob"], "{perms}");
    // Bob may use it but not change who else may.
    bob.err(
        "updateIsoPermissions",
        &[("id", &iso), ("accounts", "carol"), ("op", "add")],
        531,
    )
    .await;

    // Deployed from, and attached to another of bob's VMs.
    let a = deploy(&bob, &iso).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let job = a.body()["jobid"].as_str().unwrap().to_string();
    let vm = bob.wait_job(&job).await["jobresult"]["virtualmachine"].clone();
    assert_eq!(vm["isoid"], iso.as_str(), "{vm}");
    let a = deploy(&bob, &boot).await;
    let job = a.body()["jobid"].as_str().unwrap().to_string();
    let other = bob.wait_job(&job).await["jobresult"]["virtualmachine"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let detach = bob.ok("detachIso", &[("virtualmachineid", &other)]).await;
    bob.wait_job(detach["jobid"].as_str().unwrap()).await;
    let attach = bob
        .ok("attachIso", &[("id", &iso), ("virtualmachineid", &other)])
        .await;
    let done = bob.wait_job(attach["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    let detach = bob.ok("detachIso", &[("virtualmachineid", &other)]).await;
    bob.wait_job(detach["jobid"].as_str().unwrap()).await;

    // Removed: no longer listed or attachable, and not named to bob.
    admin
        .ok(
            "updateIsoPermissions",
            &[("id", &iso), ("accounts", "bob"), ("op", "remove")],
        )
        .await;
    assert_eq!(shared(&bob).await, no);
    let attach = bob
        .ok("attachIso", &[("id", &iso), ("virtualmachineid", &other)])
        .await;
    let failed = bob.wait_job(attach["jobid"].as_str().unwrap()).await;
    assert_eq!(failed["jobstatus"], 2, "{failed}");
    assert_eq!(failed["jobresult"]["errorcode"], 431, "{failed}");
    assert!(
        !failed["jobresult"]["errortext"]
            .as_str()
            .unwrap()
            .contains("tools"),
        "{failed}"
    );

    // Reset also makes it private; a bad op is refused with CloudStack's words.
    admin
        .ok(
            "updateIsoPermissions",
            &[("id", &iso), ("accounts", "bob"), ("op", "add")],
        )
        .await;
    admin
        .ok("updateIsoPermissions", &[("id", &iso), ("op", "reset")])
        .await;
    assert_eq!(shared(&bob).await, no);
    let t = admin
        .err(
            "updateIsoPermissions",
            &[("id", &iso), ("accounts", "bob")],
            431,
        )
        .await;
    assert!(t.contains("Invalid operation"), "{t}");

    // Users publish ISOs only while allow.public.user.templates says so.
    admin
        .ok(
            "updateConfiguration",
            &[("name", "allow.public.user.templates"), ("value", "false")],
        )
        .await;
    let t = bob
        .err(
            "registerIso",
            &[
                ("name", "mine"),
                ("zoneid", &zone),
                ("url", "http://127.0.0.1:9/mine.iso"),
                ("ispublic", "true"),
            ],
            431,
        )
        .await;
    assert!(t.contains("Only private ISOs"), "{t}");
}
