//! Resource tags on every resource type Stratus has that CloudStack tags (issue 22 item
//! 5): createTags, listTags and deleteTags on VMs, volumes, ISOs, templates, networks,
//! projects, accounts and users; `tags` in the list answers of those CloudStack answers
//! them in, and the lists' `tags[n].key`/`tags[n].value` filter (every pair must match);
//! tags go with their resource; only those who may act for a resource's owner tag it
//! (others are told it does not exist); what CloudStack refuses (zones, offerings,
//! storage, domains) is refused; hostile input gets clear errors, never a 500.

use serde_json::Value;
use stratus_management::db;
use stratus_testkit::db as common;
use uuid::Uuid;

use common::Client;

const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";
const DEBIAN12: &str = "00000000-0000-4000-8002-000000000011";

/// Runs an async command to its end: its final job.
async fn job(c: &Client, command: &str, params: &[(&str, &str)]) -> Value {
    let started = c.ok(command, params).await;
    c.wait_job(started["jobid"].as_str().unwrap()).await
}

/// Runs an async command that must succeed: its job result.
async fn done(c: &Client, command: &str, params: &[(&str, &str)]) -> Value {
    let j = job(c, command, params).await;
    assert_eq!(j["jobstatus"], 1, "{command} {params:?}: {j}");
    j["jobresult"].clone()
}

/// Runs an async command that must fail with a client error (431): its text.
async fn refused(c: &Client, command: &str, params: &[(&str, &str)]) -> String {
    let j = job(c, command, params).await;
    assert_eq!(j["jobstatus"], 2, "{command} {params:?}: {j}");
    assert_eq!(
        j["jobresult"]["errorcode"], 431,
        "{command} {params:?}: {j}"
    );
    j["jobresult"]["errortext"].as_str().unwrap().to_string()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn items<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    items(v, key).into_iter().map(id).collect()
}

/// `key=value` pairs of a resource's `tags[]`, sorted.
fn tag_pairs(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        t["key"].as_str().unwrap().to_string(),
                        t["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn tag(c: &Client, kind: &str, resource: &str, pairs: &[(&str, &str)]) -> Value {
    let mut p = vec![
        ("resourcetype".to_string(), kind.to_string()),
        ("resourceids".to_string(), resource.to_string()),
    ];
    for (i, (k, v)) in pairs.iter().enumerate() {
        p.push((format!("tags[{i}].key"), k.to_string()));
        p.push((format!("tags[{i}].value"), v.to_string()));
    }
    let refs: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    job(c, "createTags", &refs).await
}

/// The tags listTags shows on one resource (the caller's scope, `listall`).
/// listTags' scope for tags of `kind`: a project's tags are its own account's, which
/// `listall` alone leaves out (CloudStack's SkipProjectResources): `projectid=-1` asks.
fn scope_of(kind: &str) -> Vec<(&'static str, &'static str)> {
    let mut p = vec![("listall", "true")];
    if kind == "Project" {
        p.push(("projectid", "-1"));
    }
    p
}

async fn listed(c: &Client, kind: &str, resource: &str) -> Vec<(String, String)> {
    let mut p = vec![("resourcetype", kind), ("resourceid", resource)];
    p.extend(scope_of(kind));
    let l = c.ok("listTags", &p).await;
    let mut out: Vec<(String, String)> = items(&l, "tag")
        .into_iter()
        .map(|t| {
            assert_eq!(t["resourceid"], resource, "{l}");
            (
                t["key"].as_str().unwrap().to_string(),
                t["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// How many tag rows name `resource`, whatever listTags would show.
async fn stored(c: &Client, resource: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM resource_tags WHERE resource_id = $1::uuid")
        .bind(resource)
        .fetch_one(&c.ctx.pool)
        .await
        .unwrap()
}

/// A signed POST form of `command` (as CloudStack clients send long requests).
async fn post(c: &Client, command: &str, mut form: Vec<(String, String)>) -> common::Answer {
    form.push(("command".into(), command.into()));
    form.push(("response".into(), "json".into()));
    form.push(("apiKey".into(), c.api_key.clone()));
    let sig = stratus_api::signing::sign(&form, &c.secret);
    form.push(("signature".into(), sig));
    let req = axum::http::Request::post("/client/api")
        .header(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(axum::body::Body::from(common::query_string(&form)))
        .unwrap();
    c.raw(req).await
}

/// A list command (with its base parameters) and its answer's key.
type Listing = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// One taggable type's case: two resources of it and how to list them.
struct Case {
    /// The `resourcetype` as sent (any case) and as answered.
    kind: &'static str,
    answered: &'static str,
    /// The list command answering it with `tags[]` and its answer's key; `None` when
    /// CloudStack's list has neither (accounts, users).
    list: Option<Listing>,
    tagged: String,
    sibling: String,
}

/// A primary storage pool row (no NFS here: listing only reads rows).
async fn pool_in(c: &Client, zone: &str) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO storage_pools (id, name, zone_id, scope, url, server, path)
         VALUES ($1, 'tp', $2::uuid, 'ZONE', 'nfs://192.0.2.9/tp', '192.0.2.9', '/tp')",
    )
    .bind(id)
    .bind(zone)
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    id
}

/// A root volume row of `vm` on `pool`.
async fn volume_of(c: &Client, vm: &str, pool: Uuid, name: &str) -> String {
    let id = Uuid::new_v4();
    db::volumes::volume_insert(
        &c.ctx.pool,
        &db::volumes::VolumeRow {
            id: id.into(),
            vm_id: Some(vm.parse().unwrap()),
            name: name.into(),
            volume_type: "ROOT".into(),
            pool_id: pool.into(),
            path: format!("volumes/{id}.qcow2"),
            size_bytes: 5 << 30,
            state: stratus_management::rules::states::VolumeState::Ready,
            created: chrono::Utc::now(),
            removed: None,
            template_id: None,
        },
    )
    .await
    .unwrap();
    id.to_string()
}

async fn deployed(c: &Client, zone: &str, iso: &str, name: &str) -> String {
    let r = done(
        c,
        "deployVirtualMachine",
        &[
            ("zoneid", zone),
            ("serviceofferingid", SMALL),
            ("templateid", iso),
            ("diskofferingid", DISK_5GB),
            ("startvm", "false"),
            ("name", name),
        ],
    )
    .await;
    id(&r["virtualmachine"])
}

async fn template(c: &Client, zone: &str, name: &str) -> String {
    let r = c
        .ok(
            "registerTemplate",
            &[
                ("name", name),
                ("displaytext", name),
                ("zoneid", zone),
                ("url", "http://127.0.0.1:9/t.qcow2"),
                ("format", "QCOW2"),
                ("hypervisor", "KVM"),
                ("ostypeid", DEBIAN12),
            ],
        )
        .await;
    id(&r["template"][0])
}

async fn iso(c: &Client, zone: &str, name: &str) -> String {
    let r = c
        .ok(
            "registerIso",
            &[
                ("name", name),
                ("zoneid", zone),
                ("url", "http://127.0.0.1:9/x.iso"),
            ],
        )
        .await;
    id(&r["iso"][0])
}

async fn project(c: &Client, name: &str) -> String {
    id(&done(c, "createProject", &[("name", name), ("displaytext", name)]).await["project"])
}

async fn account_id(c: &Client, name: &str) -> String {
    id(&c
        .ok("listAccounts", &[("name", name), ("listall", "true")])
        .await["account"][0])
}

async fn user_id(c: &Client, name: &str) -> String {
    id(&c
        .ok("listUsers", &[("username", name), ("listall", "true")])
        .await["user"][0])
}

#[tokio::test]
async fn every_taggable_type_is_tagged_listed_filtered_and_untagged() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, boot) = admin.deployable_iso("tz1").await;
    let (zone2, _, _) = admin.basic_topology("tz2").await;
    let vm1 = deployed(&admin, &zone, &boot, "tagged-vm").await;
    let vm2 = deployed(&admin, &zone, &boot, "plain-vm").await;
    let pool = pool_in(&admin, &zone).await;
    let vol1 = volume_of(&admin, &vm1, pool, "ROOT-tagged").await;
    let vol2 = volume_of(&admin, &vm2, pool, "ROOT-plain").await;
    let iso2 = iso(&admin, &zone, "other-iso").await;
    let t1 = template(&admin, &zone, "tagged-tpl").await;
    let t2 = template(&admin, &zone, "plain-tpl").await;
    let nets = admin.ok("listNetworks", &[]).await;
    let net_of = |z: &str| {
        items(&nets, "network")
            .into_iter()
            .find(|n| n["zoneid"] == z)
            .map(id)
            .unwrap()
    };
    let (net1, net2) = (net_of(&zone), net_of(&zone2));
    let p1 = project(&admin, "tagged-prj").await;
    let p2 = project(&admin, "plain-prj").await;
    admin.user("tagged-acct").await;
    admin.user("plain-acct").await;
    let (a1, a2) = (
        account_id(&admin, "tagged-acct").await,
        account_id(&admin, "plain-acct").await,
    );
    let (u1, u2) = (
        user_id(&admin, "tagged-acct").await,
        user_id(&admin, "plain-acct").await,
    );

    let listall = vec![("listall", "true")];
    let cases = vec![
        Case {
            kind: "uservm",
            answered: "UserVm",
            list: Some(("listVirtualMachines", "virtualmachine", listall.clone())),
            tagged: vm1,
            sibling: vm2,
        },
        Case {
            kind: "Volume",
            answered: "Volume",
            list: Some(("listVolumes", "volume", listall.clone())),
            tagged: vol1,
            sibling: vol2,
        },
        Case {
            kind: "iso",
            answered: "ISO",
            list: Some(("listIsos", "iso", vec![("isofilter", "self")])),
            tagged: boot,
            sibling: iso2,
        },
        Case {
            kind: "Template",
            answered: "Template",
            list: Some((
                "listTemplates",
                "template",
                vec![("templatefilter", "self")],
            )),
            tagged: t1,
            sibling: t2,
        },
        Case {
            kind: "network",
            answered: "Network",
            list: Some(("listNetworks", "network", vec![])),
            tagged: net1,
            sibling: net2,
        },
        Case {
            kind: "Project",
            answered: "Project",
            list: Some(("listProjects", "project", listall.clone())),
            tagged: p1,
            sibling: p2,
        },
        Case {
            kind: "Account",
            answered: "Account",
            list: None,
            tagged: a1,
            sibling: a2,
        },
        Case {
            kind: "user",
            answered: "User",
            list: None,
            tagged: u1,
            sibling: u2,
        },
    ];

    for c in &cases {
        let what = c.answered;
        // createTags → listTags (by type, in CloudStack's spelling) shows both.
        let j = tag(
            &admin,
            c.kind,
            &c.tagged,
            &[("env", "prod"), ("owner", "team a")],
        )
        .await;
        assert_eq!(j["jobstatus"], 1, "{what}: {j}");
        let want = vec![
            ("env".to_string(), "prod".to_string()),
            ("owner".to_string(), "team a".to_string()),
        ];
        assert_eq!(listed(&admin, c.kind, &c.tagged).await, want, "{what}");
        let mut p = vec![("resourcetype", c.kind)];
        p.extend(scope_of(c.kind));
        let by_type = admin.ok("listTags", &p).await;
        let of_type = items(&by_type, "tag");
        assert_eq!(of_type.len(), 2, "{what}: {by_type}");
        assert!(
            of_type.iter().all(|t| t["resourcetype"] == what),
            "{what}: {by_type}"
        );
        assert!(
            listed(&admin, c.kind, &c.sibling).await.is_empty(),
            "{what}"
        );

        if let Some((command, key, base)) = &c.list {
            let call = |extra: &[(&'static str, &'static str)]| {
                let mut p = base.clone();
                p.extend_from_slice(extra);
                p
            };
            // The list answer carries them; the sibling has none.
            let all = admin.ok(command, &call(&[])).await;
            let mine: Vec<&Value> = items(&all, key)
                .into_iter()
                .filter(|r| r["id"] == c.tagged.as_str())
                .collect();
            assert!(!mine.is_empty(), "{what}: {all}");
            for r in &mine {
                assert_eq!(tag_pairs(r), want, "{what}: {r}");
            }
            assert!(ids(&all, key).contains(&c.sibling), "{what}: {all}");
            for r in items(&all, key)
                .into_iter()
                .filter(|r| r["id"] == c.sibling.as_str())
            {
                assert!(tag_pairs(r).is_empty(), "{what}: {r}");
            }
            // tags[0].key/value finds it and not the sibling; every pair must match.
            for (filter, found) in [
                (
                    vec![("tags[0].key", "env"), ("tags[0].value", "prod")],
                    true,
                ),
                (
                    vec![
                        ("tags[0].key", "env"),
                        ("tags[0].value", "prod"),
                        ("tags[1].key", "owner"),
                        ("tags[1].value", "team a"),
                    ],
                    true,
                ),
                (
                    vec![("tags[0].key", "env"), ("tags[0].value", "dev")],
                    false,
                ),
                (
                    vec![
                        ("tags[0].key", "env"),
                        ("tags[0].value", "prod"),
                        ("tags[1].key", "owner"),
                        ("tags[1].value", "team b"),
                    ],
                    false,
                ),
                (
                    vec![("tags[0].key", "prod"), ("tags[0].value", "env")],
                    false,
                ),
            ] {
                let l = admin.ok(command, &call(&filter)).await;
                let got = ids(&l, key);
                assert_eq!(got.contains(&c.tagged), found, "{what} {filter:?}: {l}");
                assert!(!got.contains(&c.sibling), "{what} {filter:?}: {l}");
                if found {
                    assert!(got.iter().all(|i| *i == c.tagged), "{what} {filter:?}: {l}");
                    assert!(l["count"].as_i64().unwrap() >= 1, "{l}");
                } else {
                    assert!(l.get("count").is_none_or(|n| n == 0), "{what}: {l}");
                }
            }
        }

        // deleteTags by key, then the rest; the answers follow.
        let j = job(
            &admin,
            "deleteTags",
            &[
                ("resourcetype", c.kind),
                ("resourceids", &c.tagged),
                ("tags[0].key", "env"),
            ],
        )
        .await;
        assert_eq!(j["jobstatus"], 1, "{what}: {j}");
        assert_eq!(
            listed(&admin, c.kind, &c.tagged).await,
            vec![("owner".to_string(), "team a".to_string())],
            "{what}"
        );
        let j = job(
            &admin,
            "deleteTags",
            &[("resourcetype", c.kind), ("resourceids", &c.tagged)],
        )
        .await;
        assert_eq!(j["jobstatus"], 1, "{what}: {j}");
        assert!(listed(&admin, c.kind, &c.tagged).await.is_empty(), "{what}");
        if let Some((command, key, base)) = &c.list {
            let all = admin.ok(command, base).await;
            for r in items(&all, key)
                .into_iter()
                .filter(|r| r["id"] == c.tagged.as_str())
            {
                assert!(tag_pairs(r).is_empty(), "{what}: {r}");
            }
            let mut p = base.clone();
            p.extend([("tags[0].key", "env"), ("tags[0].value", "prod")]);
            assert!(ids(&admin.ok(command, &p).await, key).is_empty(), "{what}");
        }
    }

    // Single answers carry tags too: updateVirtualMachine, updateIso, updateProject.
    let vm = &cases[0].tagged;
    tag(&admin, "UserVm", vm, &[("k", "v")]).await;
    let r = admin
        .ok(
            "updateVirtualMachine",
            &[("id", vm), ("displayname", "shown")],
        )
        .await;
    assert_eq!(
        tag_pairs(&r["virtualmachine"]),
        [("k".to_string(), "v".to_string())],
        "{r}"
    );
    let boot = &cases[2].tagged;
    tag(&admin, "ISO", boot, &[("k", "v")]).await;
    let r = admin
        .ok("updateIso", &[("id", boot), ("displaytext", "d")])
        .await;
    assert_eq!(
        tag_pairs(&r["iso"]),
        [("k".to_string(), "v".to_string())],
        "{r}"
    );
    let prj = &cases[5].tagged;
    tag(&admin, "Project", prj, &[("k", "v")]).await;
    let r = done(
        &admin,
        "updateProject",
        &[("id", prj), ("displaytext", "d")],
    )
    .await;
    assert_eq!(
        tag_pairs(&r["project"]),
        [("k".to_string(), "v".to_string())],
        "{r}"
    );

    // listTags by project: the project's tags (its account's).
    let l = admin.ok("listTags", &[("projectid", prj)]).await;
    assert_eq!(l["count"], 1, "{l}");
    assert_eq!(l["tag"][0]["resourcetype"], "Project", "{l}");
}

#[tokio::test]
async fn tags_go_with_their_resource() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, boot) = admin.deployable_iso("gone").await;

    // An ISO deleted: its tags too.
    let i = iso(&admin, &zone, "short-lived").await;
    tag(&admin, "ISO", &i, &[("a", "b")]).await;
    assert_eq!(stored(&admin, &i).await, 1);
    done(&admin, "deleteIso", &[("id", &i)]).await;
    assert_eq!(stored(&admin, &i).await, 0, "ISO tags outlived it");

    // A project deleted.
    let p = project(&admin, "gone-prj").await;
    tag(&admin, "Project", &p, &[("a", "b")]).await;
    assert_eq!(stored(&admin, &p).await, 1);
    done(&admin, "deleteProject", &[("id", &p)]).await;
    assert_eq!(stored(&admin, &p).await, 0, "project tags outlived it");

    // A user deleted (its account stays), then an account with its users.
    let alice = admin.user("alice").await;
    admin
        .ok(
            "createUser",
            &[
                ("account", "alice"),
                ("username", "alice2"),
                ("password", "alice2-pw-1"),
                ("email", "a2@example.org"),
                ("firstname", "A"),
                ("lastname", "Two"),
            ],
        )
        .await;
    let (acct, u1, u2) = (
        account_id(&admin, "alice").await,
        user_id(&admin, "alice").await,
        user_id(&admin, "alice2").await,
    );
    // (Tagged by the admin: an account with jobs on record is not deleted.) The tags are
    // alice's, the owner's, whoever made them.
    for (kind, r) in [("Account", &acct), ("User", &u1), ("User", &u2)] {
        let j = tag(&admin, kind, r, &[("a", "b")]).await;
        assert_eq!(j["jobstatus"], 1, "{kind}: {j}");
        assert_eq!(stored(&admin, r).await, 1);
    }
    let l = alice.ok("listTags", &[]).await;
    assert_eq!(l["count"], 3, "{l}");
    assert!(
        items(&l, "tag").iter().all(|t| t["account"] == "alice"),
        "{l}"
    );
    admin.ok("deleteUser", &[("id", &u2)]).await;
    assert_eq!(stored(&admin, &u2).await, 0, "user tags outlived it");
    assert_eq!(stored(&admin, &u1).await, 1);
    done(&admin, "deleteAccount", &[("id", &acct)]).await;
    assert_eq!(stored(&admin, &acct).await, 0, "account tags outlived it");
    assert_eq!(stored(&admin, &u1).await, 0, "its users' tags outlived it");

    // A zone deleted: its guest network's tags.
    let z = admin
        .ok(
            "createZone",
            &[
                ("name", "bare"),
                ("networktype", "Basic"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
            ],
        )
        .await;
    let z = id(&z["zone"]);
    let net = id(&admin.ok("listNetworks", &[("zoneid", &z)]).await["network"][0]);
    tag(&admin, "Network", &net, &[("a", "b")]).await;
    assert_eq!(stored(&admin, &net).await, 1);
    admin.ok("deleteZone", &[("id", &z)]).await;
    assert_eq!(stored(&admin, &net).await, 0, "network tags outlived it");

    // A VM expunged: its tags (a destroyed one, recoverable, keeps them).
    let vm = deployed(&admin, &zone, &boot, "short-vm").await;
    tag(&admin, "UserVm", &vm, &[("a", "b")]).await;
    let r = done(
        &admin,
        "destroyVirtualMachine",
        &[("id", &vm), ("expunge", "true")],
    )
    .await;
    assert_eq!(r["virtualmachine"]["state"], "Expunged", "{r}");
    assert_eq!(stored(&admin, &vm).await, 0, "VM tags outlived it");
}

#[tokio::test]
async fn only_those_who_may_act_for_the_owner_tag() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, _) = admin.deployable_iso("own").await;
    let alice = admin.user("alice").await;
    let bob = admin.user("bob").await;
    let bob_acct = account_id(&admin, "bob").await;
    let bob_user = user_id(&admin, "bob").await;
    let admin_acct = account_id(&admin, "admin").await;
    let net = id(&admin.ok("listNetworks", &[("zoneid", &zone)]).await["network"][0]);
    let bob_prj = project(&bob, "bobs").await;
    let admin_tpl = template(&admin, &zone, "private-tpl").await;

    // Another account's resources and the shared network: answered as ids that name
    // nothing, exactly as a random id is (nothing to probe), and no tag is made.
    let nothing = Uuid::new_v4().to_string();
    for (kind, r) in [
        ("Account", &bob_acct),
        ("User", &bob_user),
        ("Project", &bob_prj),
        ("Template", &admin_tpl),
        ("Network", &net),
        ("Account", &admin_acct),
    ] {
        let mut p = vec![
            ("resourcetype", kind),
            ("resourceids", r.as_str()),
            ("tags[0].key", "x"),
            ("tags[0].value", "y"),
        ];
        let t = refused(&alice, "createTags", &p).await;
        p[1] = ("resourceids", &nothing);
        let unknown = refused(&alice, "createTags", &p).await;
        assert_eq!(
            t.replace(r.as_str(), "ID"),
            unknown.replace(&nothing, "ID"),
            "{kind}"
        );
        assert!(t.contains("resourceids"), "{t}");
        assert_eq!(stored(&admin, r).await, 0, "{kind}");
    }
    // Alice tags her own account and user (CloudStack lets an account tag itself).
    let (alice_acct, alice_user) = (
        account_id(&admin, "alice").await,
        user_id(&admin, "alice").await,
    );
    for (kind, r) in [("Account", &alice_acct), ("User", &alice_user)] {
        let j = tag(&alice, kind, r, &[("mine", "1")]).await;
        assert_eq!(j["jobstatus"], 1, "{kind}: {j}");
    }
    assert_eq!(alice.ok("listTags", &[]).await["count"], 2);
    // Nor untag them: bob's own tag on his account stays.
    assert_eq!(
        tag(&bob, "Account", &bob_acct, &[("mine", "1")]).await["jobstatus"],
        1
    );
    let t = refused(
        &alice,
        "deleteTags",
        &[("resourcetype", "Account"), ("resourceids", &bob_acct)],
    )
    .await;
    assert!(t.contains("resourceids"), "{t}");
    assert_eq!(stored(&admin, &bob_acct).await, 1);
    let l = alice.ok("listTags", &[("listall", "true")]).await;
    assert_eq!(l["count"], 2, "only her own: {l}");
    assert!(
        items(&l, "tag").iter().all(|t| t["account"] == "alice"),
        "{l}"
    );

    // Bob's project is his to tag; a member too once added; alice not before.
    assert_eq!(
        tag(&bob, "Project", &bob_prj, &[("p", "1")]).await["jobstatus"],
        1
    );
    done(
        &bob,
        "addAccountToProject",
        &[("projectid", &bob_prj), ("account", "alice")],
    )
    .await;
    assert_eq!(
        tag(&alice, "Project", &bob_prj, &[("q", "2")]).await["jobstatus"],
        1
    );
    // The tags are the project's (its account's), whoever made them.
    let l = admin
        .ok(
            "listTags",
            &[
                ("resourceid", &bob_prj),
                ("listall", "true"),
                ("projectid", "-1"),
            ],
        )
        .await;
    assert_eq!(l["count"], 2, "{l}");
    assert!(
        items(&l, "tag")
            .iter()
            .all(|t| t["account"].as_str().unwrap().starts_with("PrjAcct-bobs-")),
        "{l}"
    );

    // Root admins tag the shared network; the tag is theirs.
    assert_eq!(
        tag(&admin, "Network", &net, &[("n", "1")]).await["jobstatus"],
        1
    );
    let l = admin.ok("listTags", &[("resourcetype", "Network")]).await;
    assert_eq!(l["tag"][0]["account"], "admin", "{l}");
    // Everyone sees a network's tags in listNetworks (the network is everyone's).
    let n = alice.ok("listNetworks", &[("id", &net)]).await;
    assert_eq!(
        tag_pairs(&n["network"][0]),
        [("n".to_string(), "1".to_string())],
        "{n}"
    );

    // A domain admin tags the accounts of its subtree, not those outside it.
    let d = admin.ok("createDomain", &[("name", "sub")]).await;
    let sub = id(&d["domain"]);
    let dadmin = admin.user_in(&sub, "dadmin", "2").await;
    admin.user_in(&sub, "carol", "0").await;
    let carol = id(&admin
        .ok("listAccounts", &[("name", "carol"), ("domainid", &sub)])
        .await["account"][0]);
    assert_eq!(
        tag(&dadmin, "Account", &carol, &[("d", "1")]).await["jobstatus"],
        1
    );
    let t = refused(
        &dadmin,
        "createTags",
        &[
            ("resourcetype", "Account"),
            ("resourceids", &bob_acct),
            ("tags[0].key", "d"),
            ("tags[0].value", "1"),
        ],
    )
    .await;
    assert!(t.contains("resourceids"), "{t}");
}

#[tokio::test]
async fn what_cloudstack_does_not_tag_and_hostile_input_are_refused_clearly() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, boot) = admin.deployable_iso("hostile").await;
    let vm = deployed(&admin, &zone, &boot, "h-vm").await;
    let with = |kind: &'static str, r: &str, extra: &[(&'static str, &'static str)]| {
        let mut p: Vec<(String, String)> = vec![
            ("resourcetype".into(), kind.into()),
            ("resourceids".into(), r.into()),
        ];
        p.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        p
    };
    // createTags as a signed POST form (some of these are too long for a URL), run to
    // its end; it must fail with 431: its text.
    let run = |p: Vec<(String, String)>| {
        let admin = admin.clone_handle();
        async move {
            let a = post(&admin, "createTags", p).await;
            assert_eq!(a.status.as_u16(), 200, "{}", a.text);
            let j = admin.wait_job(a.body()["jobid"].as_str().unwrap()).await;
            assert_eq!(j["jobresult"]["errorcode"], 431, "{j}");
            j["jobresult"]["errortext"].as_str().unwrap().to_string()
        }
    };
    let kv = [("tags[0].key", "a"), ("tags[0].value", "b")];

    // Zones, offerings, primary storage and domains: CloudStack's refusal, for anyone.
    for kind in [
        "Zone",
        "ServiceOffering",
        "DiskOffering",
        "Storage",
        "Domain",
    ] {
        let t = run(with(kind, &zone, &kv)).await;
        assert!(t.contains("doesn't support resource tags"), "{kind}: {t}");
        // listTags of such a type is valid and empty.
        let l = admin
            .ok("listTags", &[("resourcetype", kind), ("listall", "true")])
            .await;
        assert!(l.get("tag").is_none(), "{kind}: {l}");
    }
    // A zone carries no tags, so listZones' tags filter finds none.
    let z = admin
        .ok("listZones", &[("tags[0].key", "a"), ("tags[0].value", "b")])
        .await;
    assert!(z.get("zone").is_none(), "{z}");
    // CloudStack types Stratus has none of, and names that are no type.
    let t = run(with("Backup", &vm, &kv)).await;
    assert!(t.contains("no resources of type Backup"), "{t}");
    for bogus in ["Bogus", "UserVm;DROP", "Zone'--"] {
        let t = run(with(bogus, &vm, &kv)).await;
        assert!(t.contains("Invalid resource type"), "{bogus}: {t}");
        admin.err("listTags", &[("resourcetype", bogus)], 431).await;
    }
    // An id of another type is no resource of this one.
    let t = run(with("Volume", &vm, &kv)).await;
    assert!(t.contains("resourceids"), "{t}");

    // 10k tags in one request, 1500 resources: refused before any work, nothing stored.
    let mut many = with("UserVm", &vm, &[]);
    for i in 0..10_000 {
        many.push((format!("tags[{i}].key"), format!("k{i}")));
        many.push((format!("tags[{i}].value"), "v".into()));
    }
    let t = run(many).await;
    assert!(t.contains("Too many tags"), "{t}");
    let ids2k: Vec<String> = (0..1500).map(|_| Uuid::new_v4().to_string()).collect();
    let t = run(with("UserVm", &ids2k.join(","), &kv)).await;
    assert!(t.contains("Too many tags"), "{t}");
    assert_eq!(stored(&admin, &vm).await, 0);

    // Keys and values: longer than 255 refused by the handler; longer than any parameter
    // may be refused at the door; empty keys, missing values.
    let long = "k".repeat(300);
    let huge = "k".repeat(100_000);
    let mut p = with("UserVm", &vm, &[("tags[0].value", "v")]);
    p.push(("tags[0].key".into(), long.clone()));
    assert!(run(p).await.contains("at most 255"));
    let mut p = with("UserVm", &vm, &[("tags[0].key", "k")]);
    p.push(("tags[0].value".into(), long.clone()));
    assert!(run(p).await.contains("at most 255"));
    let mut p = with("UserVm", &vm, &[("tags[0].value", "v")]);
    p.push(("tags[0].key".into(), huge));
    let a = post(&admin, "createTags", p).await;
    assert_eq!(a.status.as_u16(), 431, "{}", a.text);
    assert!(a.errortext().contains("max allowed length"), "{}", a.text);
    assert!(a.text.len() < 2000, "the huge key is not echoed whole");
    let t = run(with(
        "UserVm",
        &vm,
        &[("tags[0].key", " "), ("tags[0].value", "v")],
    ))
    .await;
    assert!(t.contains("key must not be empty"), "{t}");
    let t = run(with("UserVm", &vm, &[("tags[0].key", "k")])).await;
    assert!(t.contains("null or empty"), "{t}");
    assert_eq!(stored(&admin, &vm).await, 0, "nothing half-done");

    // A list's filter: each pair needs a value; at most 64 pairs; long keys match none.
    let e = admin
        .err("listVirtualMachines", &[("tags[0].key", "k")], 431)
        .await;
    assert!(e.contains("null or empty"), "{e}");
    let mut p: Vec<(String, String)> = vec![];
    for i in 0..65 {
        p.push((format!("tags[{i}].key"), format!("k{i}")));
        p.push((format!("tags[{i}].value"), "v".into()));
    }
    let r: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let e = admin.err("listVirtualMachines", &r, 431).await;
    assert!(e.contains("at most 64"), "{e}");
    let e = admin
        .err(
            "listVolumes",
            &[("tags[0].key", &long), ("tags[0].value", "v")],
            431,
        )
        .await;
    assert!(e.contains("at most 255"), "{e}");
    // 64 pairs are fine (and match nothing here).
    let r: Vec<(&str, &str)> = r[..128].to_vec();
    let l = admin.ok("listVirtualMachines", &r).await;
    assert!(l.get("virtualmachine").is_none(), "{l}");
}
