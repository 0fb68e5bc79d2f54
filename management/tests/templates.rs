//! Templates through the API. Without storage: every `templatefilter` seen by two
//! tenants and an admin (featured, community, private, shared, not yet ready),
//! list/updateTemplatePermissions (add, remove, reset; accounts and projects), updateTemplate by owner and
//! stranger, copyTemplate queueing a copy that expects the source's digest, deleteTemplate
//! soft-deleting, the deploy path's `template_ready_in_zone`/`images::visible_to`, and
//! hostile input. With a real NFS server (nfs-ganesha on the test bed, root only): a
//! `qemu-img` QCOW2 and a RAW image downloaded over loopback HTTP to Ready with their
//! virtual sizes; a QCOW2 with a backing file, a web page and a QCOW2 posing as RAW
//! refused with their reasons; a copy into a second zone; deletion removing the files.

use std::time::Duration;

use stratus_management::db;
use stratus_management::db::images::{self, Kind};
use stratus_testkit::db as common;
use stratus_testkit::http::{files_under, is_root, HttpServer, NfsServer, Reply, Source};
use uuid::Uuid;

use common::Client;

const DEBIAN12: &str = "00000000-0000-4000-8002-000000000011";

async fn tenant(admin: &Client, name: &str) -> Client {
    admin
        .ok(
            "createAccount",
            &[
                ("username", name),
                ("password", "pw-123456-x"),
                ("email", "t@example.org"),
                ("firstname", name),
                ("lastname", "T"),
                ("accounttype", "0"),
            ],
        )
        .await;
    Client::for_user(admin.ctx.clone(), name).await
}

/// A zone with an image store recorded (no NFS behind it).
async fn zone_with_store(c: &Client, name: &str) -> (String, Uuid) {
    let (zone, _, _) = c.basic_topology(name).await;
    let zone_id = Uuid::parse_str(&zone).unwrap();
    let store = db::storage::StoreRow {
        id: Uuid::new_v4().into(),
        name: format!("{name}-store"),
        zone_id: zone_id.into(),
        provider: "NFS".into(),
        url: format!("nfs://127.0.0.1/export/{name}"),
        server: "127.0.0.1".into(),
        path: format!("/export/{name}"),
        readonly: false,
        capacity_bytes: 1 << 40,
        used_bytes: 0,
        stats_at: None,
        stats_error: None,
        created: chrono::Utc::now(),
        zone_name: String::new(),
    };
    db::storage::store_insert(&c.ctx.pool, &store)
        .await
        .unwrap();
    (zone, store.id.into())
}

async fn register(c: &Client, name: &str, zone: &str, extra: &[(&str, &str)]) -> String {
    let mut a = vec![
        ("name", name),
        ("zoneid", zone),
        ("url", "http://127.0.0.1:9/t.qcow2"),
        ("format", "QCOW2"),
        ("hypervisor", "KVM"),
        ("ostypeid", DEBIAN12),
    ];
    for (k, v) in extra {
        a.retain(|(n, _)| n != k);
        a.push((k, v));
    }
    let r = c.ok("registerTemplate", &a).await;
    r["template"][0]["id"].as_str().unwrap().to_string()
}

/// Marks every queued template copy Ready as the downloader would (1 GiB virtual).
async fn make_ready(c: &Client, store_of: &[(Uuid, Uuid)]) {
    let ms = c.ctx.ms_id;
    let claimed = images::copy_claim(&c.ctx.pool, Kind::Template, ms, 60, 100)
        .await
        .unwrap();
    for row in claimed {
        let store = store_of.iter().find(|(z, _)| *z == row.zone_id).unwrap().1;
        let path = format!("template/{0}/{0}.qcow2", row.image_id);
        assert!(images::copy_set_store(
            &c.ctx.pool,
            Kind::Template,
            row.image_id,
            row.zone_id,
            ms,
            store.into(),
            &path
        )
        .await
        .unwrap());
        let f = images::Finished {
            size: 200 << 20,
            checksum: "{sha256}00ff",
            virtual_size: Some(1 << 30),
        };
        assert!(images::copy_finish(
            &c.ctx.pool,
            Kind::Template,
            row.image_id,
            row.zone_id,
            ms,
            Ok(f)
        )
        .await
        .unwrap());
    }
}

fn names(v: &serde_json::Value) -> Vec<String> {
    let mut n: Vec<String> = v["template"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

async fn filter(c: &Client, f: &str) -> Vec<String> {
    names(&c.ok("listTemplates", &[("templatefilter", f)]).await)
}

#[tokio::test]
async fn template_filters_permissions_and_input() {
    let admin = Client::admin().await;
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        admin.ctx.clone(),
        rx,
    ));
    let (z1, s1) = zone_with_store(&admin, "tz1").await;
    let (z2, s2) = zone_with_store(&admin, "tz2").await;
    let (z1_id, z2_id) = (Uuid::parse_str(&z1).unwrap(), Uuid::parse_str(&z2).unwrap());
    let stores = [(z1_id, s1), (z2_id, s2)];
    admin.allow_loopback_downloads().await;
    let alice = tenant(&admin, "alice").await;
    let bob = tenant(&admin, "bob").await;

    // Hostile and wrong input, refused with CloudStack's 431 and a reason.
    let huge: Vec<(String, String)> = (0..65)
        .map(|i| (format!("details[{i}].k{i}"), "v".to_string()))
        .collect();
    let huge_ref: Vec<(&str, &str)> = huge.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let long_value = "x".repeat(5000);
    let long_name = "n".repeat(256);
    for (args, want) in [
        (vec![("url", "ftp://h/x.qcow2")], "http or https"),
        (vec![("url", "file:///etc/shadow")], "http or https"),
        (vec![("format", "VHD")], "QCOW2 or RAW"),
        (vec![("hypervisor", "XenServer")], "KVM"),
        (vec![("checksum", "{md5}xyz")], "Invalid checksum"),
        (
            vec![("ostypeid", "00000000-0000-0000-0000-000000000000")],
            "ostypeid",
        ),
        (vec![("zoneid", "nope")], "zoneid"),
        (vec![("bits", "16")], "32 or 64"),
        (vec![("details[0].bad name", "v")], "Invalid detail name"),
        (huge_ref.clone(), "Too many details"),
        (
            vec![("details[0].k", long_value.as_str())],
            "max allowed length",
        ),
        (vec![("name", long_name.as_str())], "max allowed length"),
        (vec![("isfeatured", "true")], "Only administrators"),
        (
            vec![("url", "http://169.254.169.254/latest/")],
            "link-local",
        ),
    ] {
        let mut a = vec![
            ("name", "bad"),
            ("zoneid", z1.as_str()),
            ("url", "http://127.0.0.1:9/t.qcow2"),
            ("format", "QCOW2"),
            ("hypervisor", "KVM"),
            ("ostypeid", DEBIAN12),
        ];
        // Later pairs replace earlier ones of the same name.
        for (k, v) in args {
            a.retain(|(n, _)| *n != k);
            a.push((k, v));
        }
        let t = alice.err("registerTemplate", &a, 431).await;
        assert!(t.contains(want), "{want}: {t}");
    }
    let t = alice
        .err(
            "registerTemplate",
            &[
                ("name", "no-os"),
                ("zoneid", &z1),
                ("url", "http://127.0.0.1:9/t.qcow2"),
                ("format", "QCOW2"),
                ("hypervisor", "KVM"),
            ],
            431,
        )
        .await;
    assert!(t.contains("guest OS type"), "{t}");
    // Loopback is for root admins only, even when allowed.
    let t = alice
        .err(
            "registerTemplate",
            &[
                ("name", "lo"),
                ("zoneid", &z1),
                ("url", "http://127.0.0.1:9/t.qcow2"),
                ("format", "RAW"),
                ("hypervisor", "KVM"),
                ("ostypeid", DEBIAN12),
            ],
            431,
        )
        .await;
    assert!(t.contains("loopback"), "{t}");

    // Tenants register from a public address (never fetched: no downloader runs here).
    let url = ("url", "http://93.184.215.14/t.qcow2");
    // Admin: featured; -1 registers in every zone with a store (one row per zone).
    let r = admin
        .ok(
            "registerTemplate",
            &[
                ("name", "featured"),
                ("zoneid", "-1"),
                ("url", "http://127.0.0.1:9/f.qcow2"),
                ("format", "qcow2"),
                ("hypervisor", "KVM"),
                ("ostypeid", DEBIAN12),
                ("ispublic", "true"),
                ("isfeatured", "true"),
                ("passwordenabled", "true"),
                ("details[0].key", "rootDiskController"),
                ("details[0].value", "virtio"),
            ],
        )
        .await;
    assert_eq!(r["count"], 2, "{r}");
    let t0 = &r["template"][0];
    assert_eq!(t0["crossZones"], true);
    assert_eq!(t0["templatetype"], "USER");
    assert_eq!(t0["format"], "QCOW2");
    assert_eq!(t0["hypervisor"], "KVM");
    assert_eq!(t0["passwordenabled"], true);
    assert_eq!(t0["sshkeyenabled"], false);
    assert_eq!(t0["requireshvm"], true);
    assert_eq!(t0["isready"], false);
    assert_eq!(t0["details"]["rootDiskController"], "virtio");
    assert_eq!(t0["status"], "Download pending");
    let featured = t0["id"].as_str().unwrap().to_string();

    let community = register(&alice, "community", &z1, &[url, ("ispublic", "true")]).await;
    let private = register(&alice, "private", &z1, &[url]).await;
    let shared = register(&alice, "shared", &z1, &[url, ("sshkeyenabled", "true")]).await;
    make_ready(&admin, &stores).await;
    // Registered after the others were made ready: stays Queued.
    let pending = register(&alice, "pending", &z1, &[url]).await;

    let ok = alice
        .ok(
            "updateTemplatePermissions",
            &[("id", &shared), ("accounts", "bob"), ("op", "add")],
        )
        .await;
    assert_eq!(ok["success"], true, "{ok}");
    let t = alice
        .err(
            "updateTemplatePermissions",
            &[("id", &shared), ("accounts", "nobody"), ("op", "add")],
            431,
        )
        .await;
    assert!(t.contains("account not found"), "{t}");
    let t = alice
        .err(
            "updateTemplatePermissions",
            &[("id", &shared), ("accounts", "bob")],
            431,
        )
        .await;
    assert!(t.contains("Invalid operation"), "{t}");
    bob.err(
        "updateTemplatePermissions",
        &[("id", &shared), ("ispublic", "true")],
        531,
    )
    .await;
    let perms = bob.ok("listTemplatePermissions", &[("id", &shared)]).await;
    let p = &perms["templatepermission"];
    assert_eq!(p["ispublic"], false);
    let mut accounts: Vec<&str> = p["account"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    accounts.sort();
    assert_eq!(accounts, ["alice", "bob"], "shared with bob, and the owner");
    bob.err("listTemplatePermissions", &[("id", &private)], 531)
        .await;

    // Every filter, as each account sees it (one row per template and zone).
    assert_eq!(filter(&bob, "featured").await, ["featured", "featured"]);
    assert_eq!(filter(&bob, "community").await, ["community"]);
    assert_eq!(filter(&bob, "self").await, Vec::<String>::new());
    assert_eq!(filter(&bob, "selfexecutable").await, Vec::<String>::new());
    assert_eq!(filter(&bob, "sharedexecutable").await, ["shared"]);
    assert_eq!(
        filter(&bob, "executable").await,
        ["community", "featured", "featured"]
    );
    bob.err("listTemplates", &[("templatefilter", "all")], 431)
        .await;
    bob.err("listTemplates", &[("templatefilter", "mine")], 431)
        .await;
    assert_eq!(
        filter(&alice, "self").await,
        ["community", "pending", "private", "shared"]
    );
    assert_eq!(
        filter(&alice, "selfexecutable").await,
        ["community", "private", "shared"]
    );
    assert_eq!(
        filter(&alice, "sharedexecutable").await,
        Vec::<String>::new()
    );
    assert_eq!(
        filter(&alice, "executable").await,
        [
            "community",
            "featured",
            "featured",
            "pending",
            "private",
            "shared"
        ]
    );
    assert_eq!(
        filter(&admin, "all").await,
        [
            "community",
            "featured",
            "featured",
            "pending",
            "private",
            "shared"
        ]
    );
    assert_eq!(filter(&admin, "self").await, ["featured", "featured"]);
    let by_zone = admin
        .ok(
            "listTemplates",
            &[("templatefilter", "all"), ("zoneid", &z2)],
        )
        .await;
    assert_eq!(names(&by_zone), ["featured"]);
    // A Ready row: size is the virtual size, physicalsize the file's.
    let row = &by_zone["template"][0];
    assert_eq!(row["isready"], true);
    assert_eq!(row["status"], "Successfully Installed");
    assert_eq!(row["size"], 1i64 << 30);
    assert_eq!(row["physicalsize"], 200i64 << 20);
    // By id: a template the caller may not see is refused, not listed.
    bob.err(
        "listTemplates",
        &[("templatefilter", "self"), ("id", &private)],
        531,
    )
    .await;
    let by_id = bob
        .ok(
            "listTemplates",
            &[("templatefilter", "executable"), ("id", &shared)],
        )
        .await;
    assert_eq!(names(&by_id), ["shared"]);

    // What the deploy path reads.
    let pool = &admin.ctx.pool;
    let shared_id = Uuid::parse_str(&shared).unwrap();
    let bob_account = db::accounts::user_fetch_by_name(pool, db::accounts::ROOT_DOMAIN, "bob")
        .await
        .unwrap()
        .unwrap()
        .account_id;
    assert!(
        db::images::visible_to(pool, db::images::Kind::Template, shared_id, bob_account)
            .await
            .unwrap()
    );
    assert!(!db::images::visible_to(
        pool,
        db::images::Kind::Template,
        Uuid::parse_str(&private).unwrap(),
        bob_account
    )
    .await
    .unwrap());
    let file = db::templates::template_ready_in_zone(pool, shared_id.into(), z1_id.into())
        .await
        .unwrap()
        .expect("ready in z1");
    assert_eq!(file.format, "QCOW2");
    assert_eq!(file.virtual_size, 1 << 30);
    assert_eq!(
        file.install_path,
        format!("template/{shared}/{shared}.qcow2")
    );
    assert_eq!(file.store_url, "nfs://127.0.0.1/export/tz1");
    assert!(file.sshkey_enabled && !file.password_enabled);
    assert!(
        db::templates::template_ready_in_zone(pool, shared_id.into(), z2_id.into())
            .await
            .unwrap()
            .is_none()
    );

    // Permissions: remove, then reset (also makes it private and not featured).
    alice
        .ok(
            "updateTemplatePermissions",
            &[("id", &shared), ("accounts", "bob"), ("op", "remove")],
        )
        .await;
    assert_eq!(filter(&bob, "sharedexecutable").await, Vec::<String>::new());
    alice
        .ok(
            "updateTemplatePermissions",
            &[("id", &private), ("ispublic", "true")],
        )
        .await;
    assert_eq!(filter(&bob, "community").await, ["community", "private"]);
    alice
        .ok(
            "updateTemplatePermissions",
            &[("id", &private), ("op", "reset")],
        )
        .await;
    assert_eq!(filter(&bob, "community").await, ["community"]);
    alice
        .err(
            "updateTemplatePermissions",
            &[("id", &private), ("isfeatured", "true")],
            431,
        )
        .await;

    // updateTemplate: the owner may, a stranger may not.
    bob.err("updateTemplate", &[("id", &private), ("name", "mine")], 531)
        .await;
    let u = alice
        .ok(
            "updateTemplate",
            &[
                ("id", &private),
                ("name", "renamed"),
                ("passwordenabled", "true"),
                ("details[0].nicAdapter", "virtio"),
            ],
        )
        .await;
    assert_eq!(u["template"]["name"], "renamed");
    assert_eq!(u["template"]["passwordenabled"], true);
    assert_eq!(u["template"]["details"]["nicAdapter"], "virtio");
    let t = alice
        .err(
            "updateTemplate",
            &[("id", &private), ("format", "RAW")],
            431,
        )
        .await;
    assert!(t.contains("cannot be changed"), "{t}");

    // copyTemplate: a copy in z2 queued, expecting the source's digest.
    let j = bob
        .ok("copyTemplate", &[("id", &community), ("destzoneid", &z2)])
        .await;
    let refused = bob.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(refused["jobresult"]["errorcode"], 531, "{refused}");
    let j = alice
        .ok("copyTemplate", &[("id", &community), ("destzoneid", &z2)])
        .await;
    let done = alice.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    assert_eq!(
        done["jobresult"]["template"]["zoneid"],
        z2.as_str(),
        "{done}"
    );
    let copies =
        db::templates::template_zone_list(pool, Uuid::parse_str(&community).unwrap().into())
            .await
            .unwrap();
    let z2_copy = copies.iter().find(|c| c.zone_id == z2_id).unwrap();
    assert_eq!(
        z2_copy.state,
        stratus_management::rules::states::CopyState::Queued
    );
    assert_eq!(z2_copy.expected_checksum.as_deref(), Some("{sha256}00ff"));
    let j = alice
        .ok("copyTemplate", &[("id", &pending), ("destzoneid", &z2)])
        .await;
    let failed = alice.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(failed["jobstatus"], 2, "{failed}");
    assert!(
        failed["jobresult"]["errortext"]
            .as_str()
            .unwrap()
            .contains("not ready in the source zone"),
        "{failed}"
    );

    // deleteTemplate: the row stays, removed (VMs may still name it).
    let j = bob.ok("deleteTemplate", &[("id", &pending)]).await;
    let refused = bob.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(refused["jobresult"]["errorcode"], 531, "{refused}");
    let j = alice.ok("deleteTemplate", &[("id", &pending)]).await;
    let done = alice.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    assert!(!filter(&alice, "self")
        .await
        .contains(&"pending".to_string()));
    let gone = db::templates::template_fetch_any(pool, Uuid::parse_str(&pending).unwrap().into())
        .await
        .unwrap()
        .unwrap();
    assert!(gone.removed.is_some());
    let _ = featured;
}

/// Launch permissions for projects (`projectids`, as CloudStack): a project stands for its
/// own account. A member shares a template with its project, which then lists it with
/// `sharedexecutable` and may deploy it; listTemplatePermissions answers the project by
/// id (a project-owned private template too); a project the caller is not a member of,
/// an unknown one, junk and one of another domain are refused with CloudStack's words;
/// remove and reset take it back.
#[tokio::test]
async fn templates_are_shared_with_projects() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (z, s) = zone_with_store(&admin, "ptz").await;
    let z_id = Uuid::parse_str(&z).unwrap();
    let alice = tenant(&admin, "alice").await;
    let bob = tenant(&admin, "bob").await;
    let project = |c: &Client, name: &'static str| {
        let c = c.clone_handle();
        async move {
            let j = c
                .ok("createProject", &[("name", name), ("displaytext", name)])
                .await;
            c.wait_job(j["jobid"].as_str().unwrap()).await["jobresult"]["project"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let web = project(&alice, "web").await;
    let bobs = project(&bob, "bobs").await;
    let url = ("url", "http://93.184.215.14/t.qcow2");
    let tpl = register(&alice, "shared-tpl", &z, &[url]).await;
    let owned = register(&alice, "team-tpl", &z, &[url, ("projectid", &web)]).await;
    make_ready(&admin, &[(z_id, s)]).await;
    let in_project = |f: &'static str| {
        let alice = alice.clone_handle();
        let web = web.clone();
        async move {
            names(
                &alice
                    .ok(
                        "listTemplates",
                        &[("templatefilter", f), ("projectid", &web)],
                    )
                    .await,
            )
        }
    };
    assert_eq!(in_project("sharedexecutable").await, Vec::<String>::new());

    alice
        .ok(
            "updateTemplatePermissions",
            &[("id", &tpl), ("projectids", &web), ("op", "add")],
        )
        .await;
    assert_eq!(in_project("sharedexecutable").await, ["shared-tpl"]);
    let perms =
        alice.ok("listTemplatePermissions", &[("id", &tpl)]).await["templatepermission"].clone();
    assert_eq!(perms["projectids"], serde_json::json!([web]));
    assert_eq!(
        perms["account"],
        serde_json::json!(["alice"]),
        "the owner, by name"
    );
    // The project may deploy it (what deployVirtualMachine asks).
    let project_account = db::projects::project_fetch(&admin.ctx.pool, web.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .account_id;
    assert!(db::images::visible_to(
        &admin.ctx.pool,
        db::images::Kind::Template,
        tpl.parse().unwrap(),
        project_account
    )
    .await
    .unwrap());
    // A project's own private template: its owner listed by the project's id.
    let perms =
        alice.ok("listTemplatePermissions", &[("id", &owned)]).await["templatepermission"].clone();
    assert_eq!(perms["projectids"], serde_json::json!([web]));
    assert_eq!(perms["account"], serde_json::json!([]));

    // Refusals: another's project, an unknown one, junk, no operation.
    let unknown = Uuid::new_v4().to_string();
    for (ids, op, want) in [
        (bobs.as_str(), "add", "can't access project"),
        (unknown.as_str(), "add", "Unable to find project by id"),
        ("<b>x</b>", "add", "Unable to find project by id"),
        (web.as_str(), "", "Invalid operation"),
        (web.as_str(), "grant", "Invalid operation"),
    ] {
        let mut args = vec![("id", tpl.as_str()), ("projectids", ids)];
        if !op.is_empty() {
            args.push(("op", op));
        }
        let e = alice.err("updateTemplatePermissions", &args, 431).await;
        assert!(e.contains(want), "{ids} {op}: {e}");
    }
    // A project of another domain is not found in the template's (as CloudStack's lookup
    // by name in the owner's domain).
    let d = admin.ok("createDomain", &[("name", "elsewhere")]).await["domain"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let eve = admin.user_in(&d, "eve", "0").await;
    let far = project(&eve, "far").await;
    let e = admin
        .err(
            "updateTemplatePermissions",
            &[("id", &tpl), ("projectids", &far), ("op", "add")],
            431,
        )
        .await;
    assert!(e.contains("account not found"), "{e}");
    // Too many at once: accounts and projects count together.
    let many = vec!["x"; 100].join(",");
    let e = alice
        .err(
            "updateTemplatePermissions",
            &[
                ("id", &tpl),
                ("accounts", &many),
                ("projectids", &web),
                ("op", "add"),
            ],
            431,
        )
        .await;
    assert!(e.contains("At most"), "{e}");

    // Removed, added again, then reset.
    alice
        .ok(
            "updateTemplatePermissions",
            &[("id", &tpl), ("projectids", &web), ("op", "remove")],
        )
        .await;
    assert_eq!(in_project("sharedexecutable").await, Vec::<String>::new());
    alice
        .ok(
            "updateTemplatePermissions",
            &[
                ("id", &tpl),
                ("projectids", &web),
                ("accounts", "bob"),
                ("op", "add"),
            ],
        )
        .await;
    assert_eq!(in_project("sharedexecutable").await, ["shared-tpl"]);
    assert_eq!(filter(&bob, "sharedexecutable").await, ["shared-tpl"]);
    alice
        .ok(
            "updateTemplatePermissions",
            &[("id", &tpl), ("op", "reset")],
        )
        .await;
    assert_eq!(in_project("sharedexecutable").await, Vec::<String>::new());
    let perms =
        alice.ok("listTemplatePermissions", &[("id", &tpl)]).await["templatepermission"].clone();
    assert_eq!(perms["projectids"], serde_json::json!([]));
}

// --- downloads into a real NFS server ---

/// The test bed's address 10.231.INDEX.2 (230–239 are the download tests').
const INDEX: u8 = 236;
const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";

fn qemu_img(args: &[&str]) {
    let out = std::process::Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img");
    assert!(out.status.success(), "qemu-img {args:?}: {:?}", out);
}

async fn wait_settled(c: &Client, id: &str) -> serde_json::Value {
    for _ in 0..600 {
        let r = c
            .ok("listTemplates", &[("templatefilter", "all"), ("id", id)])
            .await;
        let row = r["template"][0].clone();
        let state = &row["downloaddetails"][0]["downloadState"];
        if state == "DOWNLOADED" || state == "DOWNLOAD_ERROR" {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("template {id} did not settle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_downloads_into_ganesha() {
    if !is_root() {
        eprintln!("skipping template_downloads_into_ganesha: needs root (network namespaces)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (ex1, ex2) = (tmp.path().join("ss1"), tmp.path().join("ss2"));
    let nfs = NfsServer::up("tplnfs", INDEX, &tmp.path().join("state"), &[&ex1, &ex2]);

    // Images made by qemu-img, served from memory over loopback HTTP.
    let img = tmp.path().join("img");
    std::fs::create_dir_all(&img).unwrap();
    let p = |n: &str| img.join(n).display().to_string();
    qemu_img(&["create", "-q", "-f", "qcow2", &p("good.qcow2"), "64M"]);
    qemu_img(&["create", "-q", "-f", "qcow2", &p("base.qcow2"), "32M"]);
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        &p("base.qcow2"),
        "-F",
        "qcow2",
        &p("over.qcow2"),
    ]);
    let read = |n: &str| std::fs::read(img.join(n)).unwrap();
    let good = read("good.qcow2");
    let mut raw = vec![0u8; 3 << 20];
    raw[510] = 0x55;
    raw[511] = 0xaa;
    let http = HttpServer::start(vec![
        ("/good.qcow2", Reply::ok(Source::bytes(good.clone()))),
        ("/disk.raw", Reply::ok(Source::bytes(raw.clone()))),
        ("/over.qcow2", Reply::ok(Source::bytes(read("over.qcow2")))),
        (
            "/page.qcow2",
            Reply::ok(Source::bytes(
                b"<!DOCTYPE html><html>download here</html>".to_vec(),
            )),
        ),
        ("/posing.raw", Reply::ok(Source::bytes(good.clone()))),
        ("/ipxe.iso", Reply::ok(Source::File(IPXE.into()))),
    ])
    .await;

    let c = Client::admin().await;
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx.clone(),
    ));
    tokio::spawn(stratus_management::services::images::run(c.ctx.clone(), rx));
    let (z1, _, _) = c.basic_topology("dl-z1").await;
    let (z2, _, _) = c.basic_topology("dl-z2").await;
    for (z, ex, name) in [(&z1, &ex1, "ss1"), (&z2, &ex2, "ss2")] {
        c.ok(
            "addImageStore",
            &[
                ("zoneid", z.as_str()),
                ("name", name),
                ("provider", "NFS"),
                ("url", &nfs.url(ex)),
            ],
        )
        .await;
    }
    c.allow_loopback_downloads().await;
    let reg = |path: &'static str, format: &'static str| {
        let c = c.clone_handle();
        let url = http.url(path).to_string();
        let z1 = z1.clone();
        async move {
            register(
                &c,
                path.trim_start_matches('/'),
                &z1,
                &[("url", url.as_str()), ("format", format)],
            )
            .await
        }
    };
    // An ISO goes through the same downloader, with its own check (CD001).
    let iso = c
        .ok(
            "registerIso",
            &[
                ("name", "ipxe"),
                ("zoneid", z1.as_str()),
                ("url", http.url("/ipxe.iso").as_str()),
            ],
        )
        .await["iso"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let good_id = reg("/good.qcow2", "QCOW2").await;
    let raw_id = reg("/disk.raw", "RAW").await;
    let over_id = reg("/over.qcow2", "QCOW2").await;
    let page_id = reg("/page.qcow2", "QCOW2").await;
    let posing_id = reg("/posing.raw", "RAW").await;

    let row = wait_settled(&c, &good_id).await;
    assert_eq!(row["isready"], true, "{row}");
    assert_eq!(
        row["size"],
        64i64 << 20,
        "virtual size from the header: {row}"
    );
    assert_eq!(row["physicalsize"], good.len() as i64, "{row}");
    assert_eq!(row["status"], "Successfully Installed");
    let on_disk = ex1.join(format!("template/{good_id}/{good_id}.qcow2"));
    assert_eq!(std::fs::read(&on_disk).unwrap(), good, "byte for byte");

    let ipxe_len = std::fs::metadata(IPXE).unwrap().len() as i64;
    let mut iso_row = serde_json::Value::Null;
    for _ in 0..300 {
        iso_row = c
            .ok("listIsos", &[("id", iso.as_str()), ("isofilter", "all")])
            .await["iso"][0]
            .clone();
        if iso_row["isready"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(iso_row["isready"], true, "{iso_row}");
    assert_eq!(iso_row["size"], ipxe_len, "{iso_row}");
    assert!(ex1.join(format!("iso/{iso}/{iso}.iso")).exists());

    let row = wait_settled(&c, &raw_id).await;
    assert_eq!(row["isready"], true, "{row}");
    assert_eq!(row["size"], 3i64 << 20);
    assert_eq!(row["physicalsize"], 3i64 << 20);

    for (id, want) in [
        (&over_id, "is not a QCOW2 image: it names a backing file"),
        (
            &page_id,
            "is not a QCOW2 image: it does not start with the QCOW2 magic",
        ),
        (&posing_id, "is not a RAW image: it is a QCOW2 image"),
    ] {
        let row = wait_settled(&c, id).await;
        assert_eq!(row["isready"], false, "{row}");
        let status = row["status"].as_str().unwrap();
        assert!(status.contains(want), "{want}: {status}");
        assert_eq!(row["downloaddetails"][0]["downloadState"], "DOWNLOAD_ERROR");
    }
    let left: Vec<String> = files_under(&ex1)
        .into_iter()
        .filter(|f| f.contains(over_id.as_str()) || f.ends_with(".part"))
        .collect();
    assert!(left.is_empty(), "refused images leave nothing: {left:?}");

    // copyTemplate: into z2's store, the same bytes.
    let j = c
        .ok("copyTemplate", &[("id", &good_id), ("destzoneid", &z2)])
        .await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    let z2_id = Uuid::parse_str(&z2).unwrap();
    let good_uuid = Uuid::parse_str(&good_id).unwrap();
    let mut copied = None;
    for _ in 0..300 {
        copied = db::templates::template_ready_in_zone(&c.ctx.pool, good_uuid.into(), z2_id.into())
            .await
            .unwrap();
        if copied.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let copied = copied.expect("the copy in z2 is Ready");
    assert_eq!(copied.virtual_size, 64 << 20);
    assert_eq!(
        std::fs::read(ex2.join(&copied.install_path)).unwrap(),
        good,
        "byte for byte in z2"
    );

    // deleteTemplate: files gone from both stores; the row stays, removed.
    let j = c.ok("deleteTemplate", &[("id", &good_id)]).await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    for ex in [&ex1, &ex2] {
        assert!(
            !files_under(ex).iter().any(|f| f.contains(good_id.as_str())),
            "{:?}",
            files_under(ex)
        );
    }
    assert!(
        db::templates::template_ready_in_zone(&c.ctx.pool, good_uuid.into(), z2_id.into())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db::templates::template_fetch_any(&c.ctx.pool, good_uuid.into())
            .await
            .unwrap()
            .unwrap()
            .removed
            .is_some()
    );
    nfs.down();
}
