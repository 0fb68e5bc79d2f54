//! No silent drops (issue 13, item 7): a parameter CloudStack honours that Stratus does not
//! implement is refused naming it; every other declared parameter is read by its handler.
//! And the first calls deployment tools make answer truthfully: listStorageProviders,
//! listProjects, listNetworkOfferings, listAffinityGroups, the tags commands.

use serde_json::Value;
use stratus_api::command::{ParamType, ResponseKind, COMMANDS};
use stratus_management::db::accounts::ROOT_DOMAIN;
use stratus_testkit::db as common;

use common::Client;

/// A value each declared parameter of a list command accepts, so the call succeeds.
fn value_for(command: &str, name: &str, kind: ParamType, ids: &Ids) -> String {
    let special = match (command, name) {
        (_, "zoneid") => Some(ids.zone.clone()),
        (_, "podid") => Some(ids.pod.clone()),
        (_, "clusterid") => Some(ids.cluster.clone()),
        (_, "storageid") => Some(ids.pool.clone()),
        (_, "domainid") => Some(ROOT_DOMAIN.to_string()),
        (_, "accountid") => Some(ids.account.clone()),
        (_, "projectid") => Some(ids.project.clone()),
        (_, "account") => Some("admin".into()),
        (_, "page") => Some("1".into()),
        (_, "pagesize") => Some("1".into()),
        ("listApis", "name") => Some("listZones".into()),
        (_, "vlan") => Some("untagged".into()),
        ("listAlerts", "type") => Some("1".into()),
        ("listTemplates", "templatefilter") => Some("executable".into()),
        ("listIsos", "isofilter") => Some("executable".into()),
        ("listStorageProviders", "type") => Some("primary".into()),
        ("listRoles", "type") => Some("Admin".into()),
        ("listNetworks", "type") => Some("Shared".into()),
        ("listNetworks", "traffictype") => Some("Guest".into()),
        ("listVolumes", "type") => Some("ROOT".into()),
        ("listHosts" | "listHostsMetrics", "type") => Some("Routing".into()),
        ("listTags", "resourcetype") => Some("UserVm".into()),
        ("listResourceLimits", "resourcetypename") => Some("cpu".into()),
        // CloudStack refuses other spellings (and an interval type without RECURRING).
        ("listSnapshots", "snapshottype") => Some("RECURRING".into()),
        ("listSnapshots", "intervaltype") => Some("HOURLY".into()),
        (_, "state") => Some(
            match command {
                "listVirtualMachines" | "listVirtualMachinesMetrics" => "Running",
                "listHosts" | "listHostsMetrics" => "Up",
                "listBackgroundTasks" => "OK",
                "listWorkflows" => "Running",
                "listAccounts" | "listUsers" => "enabled",
                "listProjects" => "Active",
                "listProjectInvitations" => "Pending",
                _ => "Up",
            }
            .into(),
        ),
        (_, "resourcestate") => Some("Enabled".into()),
        (_, "allocationstate") => Some("Enabled".into()),
        (_, "hypervisor") => Some("KVM".into()),
        (_, "clustertype") => Some("CloudManaged".into()),
        (_, "managedstate") => Some("Managed".into()),
        (_, "level") if command == "listEvents" => Some("INFO".into()),
        (_, "accounttype") => Some("1".into()),
        (_, "details") => Some("all".into()),
        (_, "scope") => Some("ZONE".into()),
        (_, "provider") => Some("NFS".into()),
        (_, "protocol") => Some("nfs".into()),
        (_, "sortby") => Some("usage".into()),
        _ => None,
    };
    if let Some(v) = special {
        return v;
    }
    match kind {
        ParamType::Uuid => uuid::Uuid::new_v4().to_string(),
        ParamType::Boolean => "true".into(),
        ParamType::Integer | ParamType::Long | ParamType::Short => "0".into(),
        ParamType::Float => "1.0".into(),
        ParamType::Date => "2020-01-01".into(),
        ParamType::List if name.ends_with("ids") => uuid::Uuid::new_v4().to_string(),
        _ => "x".into(),
    }
}

struct Ids {
    account: String,
    project: String,
    zone: String,
    pod: String,
    cluster: String,
    pool: String,
}

/// Every list command, called by the root admin with every parameter it declares and does
/// not refuse, succeeds; and the dispatcher fails a call whose handler left a given
/// parameter unread (debug builds, `commands::check_read`). So each list's every filter
/// is either read or refused, checked from the catalog itself: a parameter added to the
/// catalog later is covered without touching this test. (Commands that change things are
/// covered by the same check in every test that passes their parameters; that is what
/// the debug-build check is for.)
#[tokio::test]
async fn every_list_parameter_is_read_or_refused() {
    let c = Client::admin().await;
    let (zone, pod, cluster) = c.basic_topology("fz").await;
    let account = c.ok("listAccounts", &[("name", "admin")]).await["account"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A primary storage pool (a row: no NFS server here).
    let pool = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO storage_pools (id, name, zone_id, scope, url, server, path)
         VALUES ($1, 'fp', $2::uuid, 'ZONE', 'nfs://192.0.2.9/fp', '192.0.2.9', '/fp')",
    )
    .bind(pool)
    .bind(&zone)
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    // A project of the admin's (createProject is async).
    let _jobs = c.spawn_job_worker();
    let job = c
        .ok("createProject", &[("name", "fp"), ("displaytext", "fp")])
        .await;
    let project = c.wait_job(job["jobid"].as_str().unwrap()).await["jobresult"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = Ids {
        account,
        project,
        zone,
        pod,
        cluster,
        pool: pool.to_string(),
    };
    let mut failures = vec![];
    for spec in COMMANDS.iter().filter(|s| s.kind == ResponseKind::List) {
        let given: Vec<(String, String)> = spec
            .params
            .iter()
            .filter(|p| p.refused.is_none())
            .map(|p| {
                (
                    p.name.to_string(),
                    value_for(spec.name, p.name, p.kind, &ids),
                )
            })
            .collect();
        // Mutually exclusive parameters: the first of each group in the main call, each
        // other one in a call of its own.
        let exclusive: &[&str] = match spec.name {
            "listConfigurations" => &["zoneid", "clusterid", "storageid", "accountid", "domainid"],
            _ => &["id", "ids"],
        };
        let required: Vec<(String, String)> = given
            .iter()
            .filter(|(k, _)| spec.param(k).is_some_and(|p| p.required))
            .cloned()
            .collect();
        let others = |k: &str| exclusive.iter().skip(1).any(|e| *e == k);
        let mut calls = vec![given
            .iter()
            .filter(|(k, _)| !others(k))
            .cloned()
            .collect::<Vec<_>>()];
        for kv in given.iter().filter(|(k, _)| others(k)) {
            let mut only = required.clone();
            only.push(kv.clone());
            calls.push(only);
        }
        for call in calls {
            let refs: Vec<(&str, &str)> =
                call.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let a = c.call(spec.name, &refs).await;
            // listTemplates looks an id up before filtering, as CloudStack does;
            // listDomainChildren's id is the parent to list under, findHostsForMigration's
            // the VM to move, listSnapshotPolicies' volumeid the volume whose policies
            // are listed, listNics' virtualmachineid the VM whose NICs are listed: an
            // unknown one is refused (which shows the id was read).
            let refused_id = (spec.name == "listTemplates"
                && a.status == 431
                && a.text.contains("Please specify a valid template ID."))
                || (matches!(spec.name, "listDomainChildren" | "findHostsForMigration")
                    && a.status == 431
                    && a.text.contains("Invalid parameter id value="))
                || (spec.name == "listSnapshotPolicies"
                    && a.status == 431
                    && a.text.contains("Invalid parameter volumeid value="))
                // listNics lists one VM's NICs (a required id), as listSnapshotPolicies.
                || (spec.name == "listNics"
                    && a.status == 431
                    && a.text.contains("Invalid parameter virtualmachineid value="))
                // listTrafficTypes lists one physical network's (a required id);
                // listSupportedNetworkServices refuses an unknown provider, as CloudStack.
                || (spec.name == "listTrafficTypes"
                    && a.status == 431
                    && a.text.contains("Invalid parameter physicalnetworkid value="))
                || (spec.name == "listSupportedNetworkServices"
                    && a.status == 431
                    && a.text.contains("Invalid Network Service"));
            if a.status != 200 && !refused_id {
                failures.push(format!("{} {refs:?}: {}", spec.name, a.text));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The catalog's refusals: each refused parameter is optional, and given a value it is
/// refused before the handler runs, with CloudStack's 431 naming it and saying why.
#[tokio::test]
async fn refused_parameters_are_refused_naming_them() {
    let c = Client::admin().await;
    for spec in COMMANDS {
        for p in spec.params.iter().filter(|p| p.refused.is_some()) {
            assert!(
                !p.required,
                "{}.{} is required and refused",
                spec.name, p.name
            );
            let value = match p.kind {
                ParamType::Boolean => "true".to_string(),
                ParamType::Uuid | ParamType::List => uuid::Uuid::new_v4().to_string(),
                ParamType::Integer | ParamType::Long => "1".into(),
                _ => "x".into(),
            };
            let key = if p.kind == ParamType::Map {
                format!("{}[0].key", p.name)
            } else {
                p.name.to_string()
            };
            // Required parameters get well-formed values: validation refuses before any
            // handler looks them up.
            let mut given: Vec<(String, String)> = spec
                .params
                .iter()
                .filter(|q| q.required)
                .map(|q| {
                    let v = match q.kind {
                        ParamType::Uuid => uuid::Uuid::new_v4().to_string(),
                        ParamType::Boolean => "false".into(),
                        ParamType::Integer | ParamType::Long | ParamType::Short => "1".into(),
                        _ => "x".into(),
                    };
                    let k = if q.kind == ParamType::Map {
                        format!("{}[0].key", q.name)
                    } else {
                        q.name.to_string()
                    };
                    (k, v)
                })
                .collect();
            given.push((key.clone(), value.clone()));
            let refs: Vec<(&str, &str)> = given
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            let a = c.call(spec.name, &refs).await;
            assert_eq!(a.status, 431, "{}.{}: {}", spec.name, p.name, a.text);
            let t = a.errortext();
            assert!(
                t.contains(&format!("parameter {} is not supported by Stratus", p.name)),
                "{}.{}: {t}",
                spec.name,
                p.name
            );
            assert_eq!(a.body()["cserrorcode"], 4350, "{}", a.text);
        }
    }
    // A Basic zone enforces security groups whatever `securitygroupenabled` says (as in
    // CloudStack); an Advanced zone with them is not available, and says so.
    let z = c
        .ok(
            "createZone",
            &[
                ("name", "nosg"),
                ("networktype", "Basic"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
                ("securitygroupenabled", "false"),
            ],
        )
        .await;
    assert_eq!(z["zone"]["securitygroupsenabled"], true);
    let t = c
        .err(
            "createZone",
            &[
                ("name", "sg"),
                ("networktype", "Advanced"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
                ("securitygroupenabled", "true"),
            ],
            432,
        )
        .await;
    assert!(t.contains("Security groups in Advanced zones"), "{t}");
    // listApis still describes refused parameters, with the reason.
    let apis = c.ok("listApis", &[("name", "deployVirtualMachine")]).await;
    let sg = apis["api"][0]["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "affinitygroupids")
        .cloned()
        .unwrap();
    assert!(
        sg["description"]
            .as_str()
            .unwrap()
            .contains("not supported by Stratus"),
        "{sg}"
    );
}

/// deployVirtualMachine with affinity groups is refused before anything is recorded, and
/// with security groups it does not know or given both ways; a Basic zone says it has
/// security groups, in listZones and listCapabilities.
#[tokio::test]
async fn deploy_refuses_security_and_affinity_groups() {
    let c = Client::admin().await;
    let (zid, _, _) = c.basic_topology("sgzone").await;
    let so = uuid::Uuid::new_v4().to_string();
    let iso = uuid::Uuid::new_v4().to_string();
    let base = [
        ("zoneid", zid.as_str()),
        ("serviceofferingid", so.as_str()),
        ("templateid", iso.as_str()),
    ];
    let unknown = uuid::Uuid::new_v4().to_string();
    let mut p = base.to_vec();
    p.push(("securitygroupids", &unknown));
    let t = c.err("deployVirtualMachine", &p, 431).await;
    assert!(t.contains("Unable to find security group by id"), "{t}");
    p.push(("securitygroupnames", "default"));
    let t = c.err("deployVirtualMachine", &p, 431).await;
    assert_eq!(
        t,
        "securitygroupids parameter is mutually exclusive with securitygroupnames parameter"
    );
    for (name, value) in [
        ("affinitygroupids", uuid::Uuid::new_v4().to_string()),
        ("affinitygroupnames", "ag1".to_string()),
        ("iptonetworklist[0].ip", "10.0.0.9".to_string()),
    ] {
        let mut p = base.to_vec();
        p.push((name, &value));
        let t = c.err("deployVirtualMachine", &p, 431).await;
        let shown = name.split('[').next().unwrap();
        assert!(
            t.contains(&format!("parameter {shown} is not supported by Stratus")),
            "{name}: {t}"
        );
    }
    // An empty value is absent, as in CloudStack: not refused (the deploy fails further
    // on, on the offering that does not exist).
    let mut p = base.to_vec();
    p.push(("securitygroupids", ""));
    let t = c.err("deployVirtualMachine", &p, 431).await;
    assert!(t.contains("serviceofferingid"), "{t}");
    assert!(c
        .ok("listVirtualMachines", &[("listall", "true")])
        .await
        .get("virtualmachine")
        .is_none());

    let z = c.ok("listZones", &[("id", &zid)]).await;
    assert_eq!(z["zone"][0]["securitygroupsenabled"], true, "{z}");
    let caps = c.ok("listCapabilities", &[]).await;
    assert_eq!(caps["capability"]["securitygroupsenabled"], true);
}

pub fn items<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

async fn user_client(admin: &Client, name: &str) -> Client {
    admin
        .ok(
            "createAccount",
            &[
                ("accounttype", "0"),
                ("email", "u@example.org"),
                ("firstname", "U"),
                ("lastname", "Ser"),
                ("password", "secret1"),
                ("username", name),
            ],
        )
        .await;
    Client::for_user(admin.ctx.clone(), name).await
}

/// A VM row owned by `username` (no host, Stopped): enough to tag and list.
async fn vm_of(c: &Client, username: &str, zone: &str, name: &str) -> String {
    use stratus_management::db;
    let owner = db::accounts::user_fetch_by_name(&c.ctx.pool, ROOT_DOMAIN, username)
        .await
        .unwrap()
        .unwrap();
    let offering = db::offerings::service_offering_fetch(
        &c.ctx.pool,
        "00000000-0000-4000-8003-000000000001".parse().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let id = uuid::Uuid::new_v4();
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    db::vms::vm_insert(
        &mut conn,
        &db::vms::NewVm {
            id: id.into(),
            name,
            display_name: name,
            account_id: owner.account_id,
            domain_id: owner.domain_id,
            user_id: owner.id,
            zone_id: zone.parse().unwrap(),
            service_offering_id: offering.id,
            disk_offering_id: None,
            iso_id: None,
            cpu_number: 1,
            cpu_mhz: 500,
            memory_mb: 128,
            keypair: None,
            instance_suffix: "VM",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    id.to_string()
}

/// Runs an async command to its end; the final queryAsyncJobResult body.
async fn run(c: &Client, command: &str, params: &[(&str, &str)]) -> Value {
    let j = c.ok(command, params).await;
    c.wait_job(j["jobid"].as_str().unwrap()).await
}

fn job_error(j: &Value) -> String {
    assert_eq!(j["jobstatus"], 2, "expected a failed job: {j}");
    j["jobresult"]["errortext"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn tags_on_vms_and_isos_between_two_accounts() {
    let admin = Client::admin().await;
    // createTags and deleteTags are jobs: a worker runs them.
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        admin.ctx.clone(),
        rx,
    ));
    let (zid, _, _) = admin.basic_topology("tagzone").await;
    let alice = user_client(&admin, "alice").await;
    let bob = user_client(&admin, "bob").await;
    let avm = vm_of(&admin, "alice", &zid, "alice-vm").await;
    let bvm = vm_of(&admin, "bob", &zid, "bob-vm").await;

    // Alice tags her VM (createTags is async, as in CloudStack).
    let j = run(
        &alice,
        "createTags",
        &[
            ("resourcetype", "uservm"),
            ("resourceids", &avm),
            ("tags[0].key", "env"),
            ("tags[0].value", "prod"),
            ("tags[1].key", "team"),
            ("tags[1].value", "a b"),
        ],
    )
    .await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    assert_eq!(j["jobresult"]["success"], true, "{j}");
    let l = alice.ok("listTags", &[]).await;
    assert_eq!(l["count"], 2, "{l}");
    let env = items(&l, "tag")
        .into_iter()
        .find(|t| t["key"] == "env")
        .cloned()
        .unwrap();
    assert_eq!(env["value"], "prod");
    assert_eq!(env["resourcetype"], "UserVm");
    assert_eq!(env["resourceid"], avm.as_str());
    assert_eq!(env["account"], "alice");
    assert_eq!(env["domain"], "ROOT");
    assert!(env["domainid"].is_string());
    // Filters.
    for (f, n) in [
        (("key", "team"), 1),
        (("value", "prod"), 1),
        (("resourcetype", "UserVm"), 2),
        (("resourcetype", "ISO"), 0),
        (("resourceid", bvm.as_str()), 0),
    ] {
        let l = alice.ok("listTags", &[f]).await;
        assert_eq!(l["count"].as_i64().unwrap_or(0), n, "{f:?}: {l}");
    }
    // tags[] on the VM.
    let v = alice.ok("listVirtualMachines", &[("id", &avm)]).await;
    let tags = v["virtualmachine"][0]["tags"].as_array().unwrap().clone();
    assert_eq!(tags.len(), 2, "{v}");
    assert!(tags
        .iter()
        .any(|t| t["key"] == "team" && t["value"] == "a b"));

    // Bob can neither tag, untag nor see Alice's VM's tags; it answers as a VM that
    // does not exist.
    let t = job_error(
        &run(
            &bob,
            "createTags",
            &[
                ("resourcetype", "UserVm"),
                ("resourceids", &avm),
                ("tags[0].key", "x"),
                ("tags[0].value", "y"),
            ],
        )
        .await,
    );
    assert!(t.contains("resourceids") && t.contains(&avm), "{t}");
    let t = job_error(
        &run(
            &bob,
            "deleteTags",
            &[("resourcetype", "UserVm"), ("resourceids", &avm)],
        )
        .await,
    );
    assert!(t.contains("resourceids"), "{t}");
    assert!(bob
        .ok("listTags", &[("listall", "true")])
        .await
        .get("tag")
        .is_none());
    assert!(bob
        .ok("listTags", &[("resourceid", &avm)])
        .await
        .get("tag")
        .is_none());
    // Bob tags his own; the admin sees both accounts' with listall.
    let j = run(
        &bob,
        "createTags",
        &[
            ("resourcetype", "UserVm"),
            ("resourceids", &bvm),
            ("tags[0].key", "env"),
            ("tags[0].value", "dev"),
        ],
    )
    .await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    assert_eq!(
        admin.ok("listTags", &[("listall", "true")]).await["count"],
        3
    );
    assert_eq!(
        admin
            .ok(
                "listTags",
                &[("account", "bob"), ("domainid", &ROOT_DOMAIN.to_string())]
            )
            .await["count"],
        1
    );
    assert_eq!(alice.ok("listTags", &[]).await["count"], 2);

    // A key once per resource; empty keys and values, long ones, unknown types and
    // templates are refused with clear errors.
    let t = job_error(
        &run(
            &alice,
            "createTags",
            &[
                ("resourcetype", "UserVm"),
                ("resourceids", &avm),
                ("tags[0].key", "env"),
                ("tags[0].value", "again"),
            ],
        )
        .await,
    );
    assert!(t.contains("already has a tag with that key"), "{t}");
    let long = "k".repeat(300);
    for (tags, want) in [
        (
            vec![("tags[0].key", ""), ("tags[0].value", "v")],
            "key must not be empty",
        ),
        (vec![("tags[0].key", "k")], "null or empty"),
        (
            vec![("tags[0].key", long.as_str()), ("tags[0].value", "v")],
            "at most 255",
        ),
    ] {
        let mut p = vec![("resourcetype", "UserVm"), ("resourceids", avm.as_str())];
        p.extend(tags);
        let t = job_error(&run(&alice, "createTags", &p).await);
        assert!(t.contains(want), "{want}: {t}");
    }
    for (kind, want) in [("Bogus", "Invalid resource type")] {
        let t = job_error(
            &run(
                &alice,
                "createTags",
                &[
                    ("resourcetype", kind),
                    ("resourceids", &avm),
                    ("tags[0].key", "a"),
                    ("tags[0].value", "b"),
                ],
            )
            .await,
        );
        assert!(t.contains(want), "{kind}: {t}");
    }
    let t = job_error(
        &run(
            &alice,
            "createTags",
            &[
                ("resourcetype", "UserVm"),
                ("resourceids", "not-a-uuid"),
                ("tags[0].key", "a"),
                ("tags[0].value", "b"),
            ],
        )
        .await,
    );
    assert!(t.contains("resourceids"), "{t}");
    // Control characters never reach a handler.
    alice
        .err(
            "createTags",
            &[
                ("resourcetype", "UserVm"),
                ("resourceids", &avm),
                ("tags[0].key", "a\u{1}b"),
                ("tags[0].value", "b"),
            ],
            431,
        )
        .await;
    assert_eq!(
        alice.ok("listTags", &[]).await["count"],
        2,
        "nothing half-done"
    );

    // deleteTags: by key, then all; nothing left to delete is an error.
    let j = run(
        &alice,
        "deleteTags",
        &[
            ("resourcetype", "UserVm"),
            ("resourceids", &avm),
            ("tags[0].key", "env"),
        ],
    )
    .await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    assert_eq!(alice.ok("listTags", &[]).await["count"], 1);
    let j = run(
        &alice,
        "deleteTags",
        &[("resourcetype", "UserVm"), ("resourceids", &avm)],
    )
    .await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    assert!(alice.ok("listTags", &[]).await.get("tag").is_none());
    let t = job_error(
        &run(
            &alice,
            "deleteTags",
            &[("resourcetype", "UserVm"), ("resourceids", &avm)],
        )
        .await,
    );
    assert!(t.contains("Unable to find any tags"), "{t}");

    // ISOs: only the owner tags them, even a public one others may use.
    admin.allow_loopback_downloads().await;
    let r = admin
        .ok(
            "registerIso",
            &[
                ("name", "shared"),
                ("zoneid", &zid),
                ("url", "http://127.0.0.1:9/x.iso"),
                ("ispublic", "true"),
                ("ostypeid", "00000000-0000-4000-8002-000000000001"),
            ],
        )
        .await;
    let iso = r["iso"][0]["id"].as_str().unwrap().to_string();
    let t = job_error(
        &run(
            &alice,
            "createTags",
            &[
                ("resourcetype", "ISO"),
                ("resourceids", &iso),
                ("tags[0].key", "x"),
                ("tags[0].value", "y"),
            ],
        )
        .await,
    );
    assert!(t.contains("resourceids"), "{t}");
    let j = run(
        &admin,
        "createTags",
        &[
            ("resourcetype", "ISO"),
            ("resourceids", &iso),
            ("tags[0].key", "os"),
            ("tags[0].value", "debian"),
        ],
    )
    .await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    let l = admin.ok("listTags", &[("resourcetype", "iso")]).await;
    assert_eq!(l["count"], 1, "{l}");
    assert_eq!(l["tag"][0]["resourcetype"], "ISO", "{l}");
    assert_eq!(l["tag"][0]["account"], "admin", "{l}");
    assert!(alice
        .ok("listTags", &[("resourcetype", "ISO")])
        .await
        .get("tag")
        .is_none());
}

#[tokio::test]
async fn first_calls_answer_truthfully() {
    let admin = Client::admin().await;
    let (zid, _, _) = admin.basic_topology("fc").await;
    let alice = user_client(&admin, "alice").await;

    // listStorageProviders: the providers createStoragePool and addImageStore take.
    let p = admin
        .ok("listStorageProviders", &[("type", "primary")])
        .await;
    assert_eq!(p["count"], 1);
    assert_eq!(p["dataStoreProvider"][0]["name"], "DefaultPrimary");
    assert_eq!(p["dataStoreProvider"][0]["type"], "primary");
    let i = admin.ok("listStorageProviders", &[("type", "image")]).await;
    assert_eq!(i["dataStoreProvider"][0]["name"], "NFS");
    let t = admin
        .err("listStorageProviders", &[("type", "cache\u{7f}x")], 431)
        .await;
    assert!(!t.is_empty());
    admin
        .err("listStorageProviders", &[("type", "s3")], 431)
        .await;
    admin.err("listStorageProviders", &[], 431).await;
    alice
        .err("listStorageProviders", &[("type", "primary")], 432)
        .await;

    // Projects and affinity groups: none (yet), well-formed empty lists for everyone.
    for who in [&admin, &alice] {
        for cmd in [
            "listProjects",
            "listAffinityGroups",
            "listAffinityGroupTypes",
        ] {
            let b = who.ok(cmd, &[("listall", "true")]).await;
            assert_eq!(b, serde_json::json!({}), "{cmd}: {b}");
        }
    }
    assert_eq!(
        admin
            .ok(
                "listProjects",
                &[("page", "1"), ("pagesize", "10"), ("name", "x")]
            )
            .await,
        serde_json::json!({})
    );

    // listNetworkOfferings: the offering the Basic zone's guest network really uses.
    let net = admin.ok("listNetworks", &[("zoneid", &zid)]).await["network"][0].clone();
    for who in [&admin, &alice] {
        // The shared offering and CloudStack's default isolated one (issue 15).
        let o = who.ok("listNetworkOfferings", &[]).await;
        assert_eq!(o["count"], 2, "{o}");
        let o = who
            .ok("listNetworkOfferings", &[("guestiptype", "Shared")])
            .await;
        let o = &o["networkoffering"][0];
        assert_eq!(o["id"], net["networkofferingid"], "{o} vs {net}");
        assert_eq!(o["name"], net["networkofferingname"]);
        assert_eq!(o["guestiptype"], "Shared");
        assert_eq!(o["traffictype"], "Guest");
        assert_eq!(o["state"], "Enabled");
        assert_eq!(o["specifyvlan"], false);
        let services: Vec<&str> = o["service"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            services,
            ["Dhcp"],
            "no DNS, security groups or load balancing"
        );
    }
    let oid = net["networkofferingid"].as_str().unwrap().to_string();
    for (f, n) in [
        (vec![("id", oid.as_str())], 1),
        (vec![("zoneid", zid.as_str())], 1),
        (vec![("networkid", net["id"].as_str().unwrap())], 1),
        (vec![("guestiptype", "shared"), ("isdefault", "true")], 1),
        (vec![("supportedservices", "Dhcp")], 2),
        (
            vec![("supportedservices", "Dhcp"), ("zoneid", zid.as_str())],
            1,
        ),
        (
            vec![("guestiptype", "Isolated"), ("zoneid", zid.as_str())],
            0,
        ),
        (vec![("guestiptype", "Isolated")], 1),
        (vec![("supportedservices", "SecurityGroup")], 0),
        (vec![("sourcenatsupported", "true")], 1),
        (
            vec![("sourcenatsupported", "true"), ("zoneid", zid.as_str())],
            0,
        ),
        (vec![("forvpc", "true")], 0),
        (vec![("keyword", "isolated")], 1),
    ] {
        let o = admin.ok("listNetworkOfferings", &f).await;
        assert_eq!(o["count"].as_i64().unwrap_or(0), n, "{f:?}: {o}");
    }
    let random = uuid::Uuid::new_v4().to_string();
    assert!(admin
        .ok("listNetworkOfferings", &[("networkid", &random)])
        .await
        .get("networkoffering")
        .is_none());
}
