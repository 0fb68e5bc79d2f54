//! Projects through the signed API (issue 22), as CloudStack has them: create, list,
//! update, suspend, activate and delete; members added directly or invited
//! (project.invite.required); a member deploys into the project and the VM is the
//! project's; non-members get 531; the project's limits hold; the project's own account
//! is not listed by listAccounts.

use stratus_testkit::db as common;

use common::Client;
use serde_json::Value;

const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";
const ROOT_DOMAIN: &str = "00000000-0000-4000-8000-000000000001";

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

/// Runs an async command that must fail: its error code and text.
async fn failed(c: &Client, command: &str, params: &[(&str, &str)]) -> (i64, String) {
    let j = job(c, command, params).await;
    assert_eq!(j["jobstatus"], 2, "{command} {params:?}: {j}");
    (
        j["jobresult"]["errorcode"].as_i64().unwrap(),
        j["jobresult"]["errortext"].as_str().unwrap().to_string(),
    )
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn deploy(c: &Client, zone: &str, iso: &str, project: Option<&str>) -> common::Answer {
    let mut p = vec![
        ("zoneid", zone),
        ("serviceofferingid", SMALL),
        ("templateid", iso),
        ("diskofferingid", DISK_5GB),
        ("startvm", "false"),
    ];
    if let Some(project) = project {
        p.push(("projectid", project));
    }
    c.call("deployVirtualMachine", &p).await
}

async fn deployed(c: &Client, zone: &str, iso: &str, project: Option<&str>) -> Value {
    let a = deploy(c, zone, iso, project).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let j = c.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    j["jobresult"]["virtualmachine"].clone()
}

async fn vm_ids(c: &Client, params: &[(&str, &str)]) -> Vec<String> {
    let b = c.ok("listVirtualMachines", params).await;
    b["virtualmachine"]
        .as_array()
        .map(|a| a.iter().map(id).collect())
        .unwrap_or_default()
}

async fn members(c: &Client, project: &str) -> Vec<(String, String)> {
    let b = c.ok("listProjectAccounts", &[("projectid", project)]).await;
    let mut out: Vec<(String, String)> = b["projectaccount"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m["account"].as_str().unwrap().to_string(),
                        m["role"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn a_project_is_created_listed_updated_suspended_activated_and_deleted() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let alice = admin.user("alice").await;
    let bob = admin.user("bob").await;

    let created = job(
        &alice,
        "createProject",
        &[("name", "web"), ("displaytext", "The web team")],
    )
    .await;
    let p = created["jobresult"]["project"].clone();
    // The job names what it made, as CloudStack's does.
    assert_eq!(created["jobinstancetype"], "Project", "{created}");
    assert_eq!(created["jobinstanceid"], p["id"], "{created}");
    assert_eq!(p["name"], "web");
    assert_eq!(p["displaytext"], "The web team");
    assert_eq!(p["state"], "Active");
    assert_eq!(p["domainid"], ROOT_DOMAIN);
    assert_eq!(p["domain"], "ROOT");
    assert_eq!(p["owner"][0]["account"], "alice", "{p}");
    assert!(p["projectaccountname"]
        .as_str()
        .unwrap()
        .starts_with("PrjAcct-web-"));
    // Its limits are the max.project.* defaults.
    assert_eq!(p["vmlimit"], "20", "{p}");
    assert_eq!(p["cpulimit"], "40");
    assert_eq!(p["vmtotal"], 0);
    let pid = id(&p);

    // The same name in the domain is refused.
    let (code, text) = failed(
        &bob,
        "createProject",
        &[("name", "WEB"), ("displaytext", "again")],
    )
    .await;
    assert_eq!(code, 431, "{text}");
    assert!(text.contains("already exists"), "{text}");

    // Alice lists it; Bob, no member, does not; an admin's listall does.
    let l = alice.ok("listProjects", &[]).await;
    assert_eq!(l["count"], 1, "{l}");
    assert_eq!(l["project"][0]["id"], pid.as_str());
    assert_eq!(bob.ok("listProjects", &[]).await["count"], Value::Null);
    let all = admin.ok("listProjects", &[("listall", "true")]).await;
    assert_eq!(all["count"], 1, "{all}");
    let by_account = admin
        .ok(
            "listProjects",
            &[("account", "alice"), ("domainid", ROOT_DOMAIN)],
        )
        .await;
    assert_eq!(by_account["count"], 1, "{by_account}");

    // Bob may not touch it: CloudStack's 531.
    let (code, text) = failed(
        &bob,
        "updateProject",
        &[("id", &pid), ("displaytext", "mine")],
    )
    .await;
    assert_eq!(code, 531, "{text}");
    assert!(text.contains("does not have permission"), "{text}");

    let u = done(
        &alice,
        "updateProject",
        &[("id", &pid), ("displaytext", "Web"), ("name", "www")],
    )
    .await["project"]
        .clone();
    assert_eq!(u["displaytext"], "Web");
    assert_eq!(u["name"], "www");

    let s = done(&alice, "suspendProject", &[("id", &pid)]).await["project"].clone();
    assert_eq!(s["state"], "Suspended");
    let (code, text) = failed(&alice, "suspendProject", &[("id", &pid)]).await;
    assert_eq!(code, 431, "{text}");
    let listed = alice.ok("listProjects", &[("state", "Suspended")]).await;
    assert_eq!(listed["count"], 1, "{listed}");
    let a = done(&alice, "activateProject", &[("id", &pid)]).await["project"].clone();
    assert_eq!(a["state"], "Active");

    // Her account's project limit (max.account.projects) holds: 535.
    let acc = admin.ok("listAccounts", &[("name", "alice")]).await["account"][0].clone();
    assert_eq!(acc["projecttotal"], 1, "{acc}");
    admin
        .ok(
            "updateResourceLimit",
            &[
                ("account", "alice"),
                ("domainid", ROOT_DOMAIN),
                ("resourcetype", "5"),
                ("max", "1"),
            ],
        )
        .await;
    let (code, text) = failed(
        &alice,
        "createProject",
        &[("name", "second"), ("displaytext", "second")],
    )
    .await;
    assert_eq!(code, 535, "{text}");
    assert!(text.contains("'project'"), "{text}");

    done(&alice, "deleteProject", &[("id", &pid)]).await;
    assert_eq!(alice.ok("listProjects", &[]).await["count"], Value::Null);
    let e = admin.ok("listEvents", &[("type", "PROJECT.DELETE")]).await;
    assert_eq!(e["count"], 1, "{e}");
}

#[tokio::test]
async fn members_are_added_directly_or_invited_as_the_setting_says() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let alice = admin.user("alice").await;
    let bob = admin.user("bob").await;
    let carol = admin.user("carol").await;
    let pid = id(&done(
        &alice,
        "createProject",
        &[("name", "team"), ("displaytext", "team")],
    )
    .await["project"]);

    // project.invite.required is false by default: Bob joins at once.
    done(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("account", "bob")],
    )
    .await;
    assert_eq!(
        members(&alice, &pid).await,
        vec![
            ("alice".to_string(), "Admin".to_string()),
            ("bob".to_string(), "Regular".to_string())
        ]
    );
    // Bob, a Regular member, sees the project and its members but cannot add anyone.
    assert_eq!(bob.ok("listProjects", &[]).await["count"], 1);
    let (code, _) = failed(
        &bob,
        "addAccountToProject",
        &[("projectid", &pid), ("account", "carol")],
    )
    .await;
    assert_eq!(code, 531);
    // Carol, no member, cannot even list its members.
    carol
        .err("listProjectAccounts", &[("projectid", &pid)], 531)
        .await;
    // Adding a member twice is refused.
    let (code, text) = failed(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("account", "bob")],
    )
    .await;
    assert_eq!(code, 431, "{text}");

    // With invitations required, Carol is invited, and joins when she accepts.
    admin
        .ok(
            "updateConfiguration",
            &[("name", "project.invite.required"), ("value", "true")],
        )
        .await;
    done(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("account", "carol")],
    )
    .await;
    assert_eq!(members(&alice, &pid).await.len(), 2, "not yet a member");
    let inv = carol.ok("listProjectInvitations", &[]).await;
    assert_eq!(inv["count"], 1, "{inv}");
    assert_eq!(inv["projectinvitation"][0]["state"], "Pending");
    assert_eq!(inv["projectinvitation"][0]["account"], "carol");
    assert_eq!(inv["projectinvitation"][0]["projectid"], pid.as_str());
    // Alice, the project's admin, sees it too; Bob does not.
    assert_eq!(alice.ok("listProjectInvitations", &[]).await["count"], 1);
    assert_eq!(
        bob.ok("listProjectInvitations", &[]).await["count"],
        Value::Null
    );
    done(&carol, "updateProjectInvitation", &[("projectid", &pid)]).await;
    assert!(members(&alice, &pid)
        .await
        .contains(&("carol".to_string(), "Regular".to_string())));
    let inv = carol
        .ok("listProjectInvitations", &[("state", "Completed")])
        .await;
    assert_eq!(inv["count"], 1, "{inv}");
    // Nothing pending is left to answer.
    let (code, text) = failed(&carol, "updateProjectInvitation", &[("projectid", &pid)]).await;
    assert_eq!(code, 431, "{text}");
    assert!(text.contains("Unable to find invitation"), "{text}");

    // A declined invitation adds nothing; a deleted one is gone.
    done(
        &alice,
        "deleteAccountFromProject",
        &[("projectid", &pid), ("account", "carol")],
    )
    .await;
    done(
        &alice,
        "addAccountToProject",
        &[
            ("projectid", &pid),
            ("account", "carol"),
            ("roletype", "Admin"),
        ],
    )
    .await;
    done(
        &carol,
        "updateProjectInvitation",
        &[("projectid", &pid), ("accept", "false")],
    )
    .await;
    assert!(!members(&alice, &pid).await.iter().any(|m| m.0 == "carol"));
    // By email only with a mail server to send the token (an_invitation_by_email_...).
    let (code, text) = failed(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("email", "dave@example.org")],
    )
    .await;
    assert_eq!(code, 431, "{text}");
    assert!(text.contains("project.smtp.host"), "{text}");
    assert_eq!(
        alice
            .ok("listProjectInvitations", &[("state", "Pending")])
            .await["count"],
        Value::Null
    );

    // The owner cannot be removed; ownership moves with updateProject's account.
    let (code, text) = failed(
        &alice,
        "deleteAccountFromProject",
        &[("projectid", &pid), ("account", "alice")],
    )
    .await;
    assert_eq!(code, 431, "{text}");
    assert!(text.contains("owner"), "{text}");
    let u =
        done(&alice, "updateProject", &[("id", &pid), ("account", "bob")]).await["project"].clone();
    assert_eq!(u["owner"][0]["account"], "bob", "{u}");
    assert_eq!(
        members(&bob, &pid).await,
        vec![
            ("alice".to_string(), "Regular".to_string()),
            ("bob".to_string(), "Admin".to_string())
        ]
    );
}

#[tokio::test]
async fn a_members_vm_is_the_projects_and_its_limits_hold() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("projects-z").await;
    let alice = admin.user("alice").await;
    let bob = admin.user("bob").await;
    let carol = admin.user("carol").await;
    let pid = id(&done(
        &alice,
        "createProject",
        &[("name", "ops"), ("displaytext", "ops")],
    )
    .await["project"]);
    done(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("account", "bob")],
    )
    .await;

    // Bob, a Regular member, deploys into the project: the VM is the project's.
    let vm = deployed(&bob, &zone, &iso, Some(&pid)).await;
    assert_eq!(vm["projectid"], pid.as_str(), "{vm}");
    assert_eq!(vm["project"], "ops");
    let vm_id = id(&vm);
    assert_eq!(
        vm_ids(&bob, &[("projectid", &pid)]).await,
        vec![vm_id.clone()]
    );
    assert_eq!(
        vm_ids(&alice, &[("projectid", &pid)]).await,
        vec![vm_id.clone()]
    );
    assert_eq!(
        vm_ids(&alice, &[("projectid", "-1")]).await,
        vec![vm_id.clone()]
    );
    // Without projectid, the member's own list does not show it (CloudStack's default).
    assert!(vm_ids(&bob, &[]).await.is_empty());
    // (Not started: its root volume is made when it first starts.)
    bob.ok("listVolumes", &[("projectid", &pid)]).await;
    carol.err("listVolumes", &[("projectid", &pid)], 531).await;
    // Carol, no member, may not list or deploy into it.
    carol
        .err("listVirtualMachines", &[("projectid", &pid)], 531)
        .await;
    assert!(vm_ids(&carol, &[("projectid", "-1")]).await.is_empty());
    let a = deploy(&carol, &zone, &iso, Some(&pid)).await;
    assert_eq!(a.status.as_u16(), 531, "{}", a.text);
    let p = alice.ok("listProjects", &[("id", &pid)]).await["project"][0].clone();
    assert_eq!(p["vmtotal"], 1, "{p}");

    // The project's VM limit, set with projectid, holds: 535 naming the project.
    let l = admin
        .ok(
            "updateResourceLimit",
            &[("projectid", &pid), ("resourcetype", "0"), ("max", "2")],
        )
        .await["resourcelimit"]
        .clone();
    assert_eq!(l["max"], 2, "{l}");
    assert_eq!(l["projectid"], pid.as_str());
    let listed = bob
        .ok(
            "listResourceLimits",
            &[("projectid", &pid), ("resourcetype", "0")],
        )
        .await;
    assert_eq!(listed["resourcelimit"][0]["max"], 2, "{listed}");
    // A project admin cannot raise its own limits (only its domain's admins).
    alice
        .err(
            "updateResourceLimit",
            &[("projectid", &pid), ("resourcetype", "0"), ("max", "5")],
            // Users do not have the command at all.
            432,
        )
        .await;
    deployed(&alice, &zone, &iso, Some(&pid)).await;
    let a = deploy(&bob, &zone, &iso, Some(&pid)).await;
    assert_eq!(a.status.as_u16(), 535, "{}", a.text);
    let text = a.errortext();
    assert!(
        text.contains("Type = 'user_vm' for Project Name = ops"),
        "{text}"
    );
    // Bob's own account is not limited by the project's.
    deployed(&bob, &zone, &iso, None).await;

    // The project's own (private) ISO goes into the project's VM for any member; an ISO
    // private to another account does not, and is not even named.
    let register = |name: &'static str, project: Option<String>| {
        let admin = &admin;
        let zone = zone.clone();
        async move {
            let url = format!("http://127.0.0.1:9/{name}.iso");
            let mut p = vec![
                ("name", name),
                ("zoneid", zone.as_str()),
                ("url", url.as_str()),
            ];
            if let Some(project) = project.as_deref() {
                p.push(("projectid", project));
            }
            let iso = id(&admin.ok("registerIso", &p).await["iso"][0]);
            admin
                .iso_ready(&iso, &zone, &format!("iso/{name}.iso"))
                .await;
            iso
        }
    };
    let tools = register("tools", Some(pid.clone())).await;
    let private = register("private", None).await;
    // (Deployed from the boot ISO, the VM holds it still.)
    done(&bob, "detachIso", &[("virtualmachineid", &vm_id)]).await;
    let attached = done(
        &bob,
        "attachIso",
        &[("id", &tools), ("virtualmachineid", &vm_id)],
    )
    .await;
    assert_eq!(
        attached["virtualmachine"]["isoid"],
        tools.as_str(),
        "{attached}"
    );
    done(&bob, "detachIso", &[("virtualmachineid", &vm_id)]).await;
    let (code, text) = failed(
        &bob,
        "attachIso",
        &[("id", &private), ("virtualmachineid", &vm_id)],
    )
    .await;
    assert_eq!(code, 431, "{text}");
    assert!(!text.contains("private"), "{text}");
    admin.ok("deleteIso", &[("id", &private)]).await;

    // A suspended project takes no new VMs; its VMs are still its members'.
    done(&alice, "suspendProject", &[("id", &pid)]).await;
    admin
        .ok(
            "updateResourceLimit",
            &[("projectid", &pid), ("resourcetype", "0"), ("max", "-1")],
        )
        .await;
    let a = deploy(&bob, &zone, &iso, Some(&pid)).await;
    assert_eq!(a.status.as_u16(), 534, "{}", a.text);
    assert!(a.errortext().contains("Suspended"), "{}", a.text);
    done(&alice, "activateProject", &[("id", &pid)]).await;

    // deleteProject refuses while the project owns VMs, naming what remains.
    let (code, text) = failed(&alice, "deleteProject", &[("id", &pid)]).await;
    assert_eq!(code, 536, "{text}");
    assert!(text.contains("2 virtual machine(s)"), "{text}");
    let (code, _) = failed(
        &alice,
        "deleteProject",
        &[("id", &pid), ("cleanup", "true")],
    )
    .await;
    assert_eq!(code, 536);

    // A member's lifecycle commands reach the project's VM.
    done(&bob, "destroyVirtualMachine", &[("id", &vm_id)]).await;
    let (code, text) = failed(&alice, "deleteProject", &[("id", &pid)]).await;
    assert_eq!(code, 536, "{text}");
    assert!(text.contains("1 virtual machine(s)"), "{text}");
}

#[tokio::test]
async fn project_accounts_are_not_listed_and_domain_admins_manage_their_projects() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let d = admin.ok("createDomain", &[("name", "acme")]).await["domain"].clone();
    let did = id(&d);
    let boss = admin.user_in(&did, "boss", "2").await;
    let _emp = admin.user_in(&did, "emp", "0").await;
    // The domain admin makes a project owned by an account of its domain.
    let p = done(
        &boss,
        "createProject",
        &[
            ("name", "acme-web"),
            ("displaytext", "web"),
            ("account", "emp"),
            ("domainid", &did),
        ],
    )
    .await["project"]
        .clone();
    assert_eq!(p["domainid"], did.as_str());
    assert_eq!(p["owner"][0]["account"], "emp", "{p}");
    let pid = id(&p);

    // No PrjAcct-… account in listAccounts, for the root admin or the domain admin.
    for c in [&admin, &boss] {
        let accounts = c.ok("listAccounts", &[("listall", "true")]).await;
        let names: Vec<&str> = accounts["account"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with("PrjAcct-")),
            "{names:?}"
        );
        assert!(names.contains(&"emp"), "{names:?}");
    }
    // The domain admin lists it with listall and manages it.
    let l = boss.ok("listProjects", &[("listall", "true")]).await;
    assert_eq!(l["count"], 1, "{l}");
    done(&boss, "suspendProject", &[("id", &pid)]).await;
    // A user of another domain cannot.
    let other = admin.user("stranger").await;
    let (code, _) = failed(&other, "activateProject", &[("id", &pid)]).await;
    assert_eq!(code, 531);
    // An empty project goes, with its own account.
    done(&boss, "deleteProject", &[("id", &pid)]).await;
    assert_eq!(
        boss.ok("listProjects", &[("listall", "true")]).await["count"],
        Value::Null
    );
}

#[tokio::test]
async fn a_members_iso_is_the_projects() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, _) = admin.deployable_iso("projects-iso").await;
    let alice = admin.user("alice").await;
    let carol = admin.user("carol").await;
    let pid = id(&done(
        &alice,
        "createProject",
        &[("name", "media"), ("displaytext", "media")],
    )
    .await["project"]);
    // (Only a root admin may download from loopback, the test's address; it registers
    // into any project.)
    let r = admin
        .ok(
            "registerIso",
            &[
                ("name", "installer"),
                ("zoneid", &zone),
                ("url", "http://127.0.0.1:9/installer.iso"),
                ("projectid", &pid),
            ],
        )
        .await;
    let iso = id(&r["iso"][0]);
    assert!(
        r["iso"][0]["account"]
            .as_str()
            .unwrap()
            .starts_with("PrjAcct-media-"),
        "{r}"
    );
    let ids = |b: &Value| -> Vec<String> {
        b["iso"]
            .as_array()
            .map(|a| a.iter().map(id).collect())
            .unwrap_or_default()
    };
    let mine = alice
        .ok("listIsos", &[("isofilter", "self"), ("projectid", &pid)])
        .await;
    assert_eq!(ids(&mine), vec![iso.clone()], "{mine}");
    // Her own list leaves the project's out; a non-member gets 531 (and cannot register
    // into the project either).
    let own = alice.ok("listIsos", &[("isofilter", "self")]).await;
    assert!(!ids(&own).contains(&iso), "{own}");
    carol
        .err(
            "listIsos",
            &[("isofilter", "self"), ("projectid", &pid)],
            531,
        )
        .await;
    carol
        .err(
            "registerIso",
            &[
                ("name", "x"),
                ("zoneid", &zone),
                ("url", "http://127.0.0.1:9/x.iso"),
                ("projectid", &pid),
            ],
            531,
        )
        .await;
    // Templates likewise.
    let t = admin
        .ok(
            "registerTemplate",
            &[
                ("name", "golden"),
                ("zoneid", &zone),
                ("url", "http://127.0.0.1:9/golden.qcow2"),
                ("format", "QCOW2"),
                ("hypervisor", "KVM"),
                ("ostypeid", "00000000-0000-4000-8002-000000000011"),
                ("projectid", &pid),
            ],
        )
        .await["template"][0]
        .clone();
    let tid = id(&t);
    let tids = |b: &Value| -> Vec<String> {
        b["template"]
            .as_array()
            .map(|a| a.iter().map(id).collect())
            .unwrap_or_default()
    };
    let listed = alice
        .ok(
            "listTemplates",
            &[("templatefilter", "self"), ("projectid", &pid)],
        )
        .await;
    assert_eq!(tids(&listed), vec![tid.clone()], "{listed}");
    let own = alice
        .ok("listTemplates", &[("templatefilter", "self")])
        .await;
    assert!(!tids(&own).contains(&tid), "{own}");
    carol
        .err(
            "listTemplates",
            &[("templatefilter", "self"), ("projectid", &pid)],
            531,
        )
        .await;
    let p = alice.ok("listProjects", &[("id", &pid)]).await["project"][0].clone();
    assert_eq!(p["templatetotal"], 2, "ISOs count as templates: {p}");
    done(&alice, "deleteTemplate", &[("id", &tid)]).await;
    // deleteProject names the ISO it still owns; once it is gone, the project goes.
    let (code, text) = failed(&alice, "deleteProject", &[("id", &pid)]).await;
    assert_eq!(code, 536, "{text}");
    assert!(text.contains("1 template(s) or ISO(s)"), "{text}");
    done(&alice, "deleteIso", &[("id", &iso)]).await;
    done(&alice, "deleteProject", &[("id", &pid)]).await;
    // Removed, its name is free again.
    let again = done(
        &alice,
        "createProject",
        &[("name", "media"), ("displaytext", "media again")],
    )
    .await["project"]
        .clone();
    assert_ne!(id(&again), pid);
    assert_eq!(alice.ok("listProjects", &[]).await["count"], 1);
}

#[tokio::test]
async fn key_pairs_user_data_events_and_counts_take_projectid() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("projects-keys-z").await;
    let alice = admin.user("pkalice").await;
    let bob = admin.user("pkbob").await;
    let carol = admin.user("pkcarol").await;
    let pid = id(&done(
        &alice,
        "createProject",
        &[("name", "keys"), ("displaytext", "keys")],
    )
    .await["project"]);
    done(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("account", "pkbob")],
    )
    .await;

    // Bob makes a key pair in the project: the project's, seen by members with projectid.
    let k = bob
        .ok("createSSHKeyPair", &[("name", "team"), ("projectid", &pid)])
        .await;
    assert!(k["keypair"]["privatekey"].is_string(), "{k}");
    let listed = alice.ok("listSSHKeyPairs", &[("projectid", &pid)]).await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["sshkeypair"][0]["name"], "team");
    // (An empty list answers no count, as CloudStack.)
    assert!(bob.ok("listSSHKeyPairs", &[]).await["count"].is_null());
    carol
        .err("listSSHKeyPairs", &[("projectid", &pid)], 531)
        .await;
    carol
        .err(
            "createSSHKeyPair",
            &[("name", "x"), ("projectid", &pid)],
            531,
        )
        .await;

    // A project VM takes the project's key pair, not the member's own.
    bob.ok("createSSHKeyPair", &[("name", "mine")]).await;
    let mut p = vec![
        ("zoneid", zone.as_str()),
        ("serviceofferingid", SMALL),
        ("templateid", iso.as_str()),
        ("diskofferingid", DISK_5GB),
        ("startvm", "false"),
        ("projectid", pid.as_str()),
        ("keypair", "mine"),
    ];
    let a = bob.call("deployVirtualMachine", &p).await;
    assert_eq!(a.status.as_u16(), 431, "{}", a.text);
    p[6] = ("keypair", "team");
    let a = bob.call("deployVirtualMachine", &p).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let j = bob.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    assert_eq!(j["jobresult"]["virtualmachine"]["keypair"], "team", "{j}");

    // User data, registered for the project, is listed by and usable for its members.
    let ud = bob
        .ok(
            "registerUserData",
            &[
                ("name", "boot"),
                ("userdata", "I2Nsb3VkLWNvbmZpZwo="),
                ("projectid", &pid),
            ],
        )
        .await;
    let ud_id = ud["userdata"]["id"].as_str().unwrap().to_string();
    let l = alice.ok("listUserData", &[("projectid", &pid)]).await;
    assert_eq!(l["count"], 1, "{l}");
    carol.err("deleteUserData", &[("id", &ud_id)], 431).await;
    alice.ok("deleteUserData", &[("id", &ud_id)]).await;

    // The zone's shared networks serve the project too; a non-member is refused.
    let nets = bob.ok("listNetworks", &[("projectid", &pid)]).await;
    assert!(nets["count"].as_i64().unwrap_or(0) >= 1, "{nets}");
    carol.err("listNetworks", &[("projectid", &pid)], 531).await;

    // Events of the project: its members see them by projectid.
    let ev = alice
        .ok(
            "listEvents",
            &[("projectid", &pid), ("type", "CREATE.SSH.KEYPAIR")],
        )
        .await;
    assert_eq!(ev["count"], 1, "{ev}");

    // updateResourceCount for the project counts its VM.
    let counts = admin
        .ok(
            "updateResourceCount",
            &[
                ("domainid", ROOT_DOMAIN),
                ("projectid", &pid),
                ("resourcetype", "0"),
            ],
        )
        .await;
    let c = &counts["resourcecount"][0];
    assert_eq!(c["resourcecount"], 1, "{counts}");
    assert_eq!(c["projectid"], pid.as_str(), "{counts}");
    assert_eq!(c["project"], "keys");
    bob.ok("deleteSSHKeyPair", &[("name", "team"), ("projectid", &pid)])
        .await;
    assert!(alice.ok("listSSHKeyPairs", &[("projectid", &pid)]).await["count"].is_null());
}

/// A mail relay on 127.0.0.1 that speaks just enough SMTP: it keeps each mail's
/// recipients and text, or (`refuse`) answers every recipient 550.
struct Relay {
    port: u16,
    mails: std::sync::Arc<std::sync::Mutex<Vec<Mailed>>>,
}

/// A mail's recipients and text, as the relay received it.
type Mailed = (Vec<String>, String);

impl Relay {
    async fn start(refuse: bool) -> Relay {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
        let kept = mails.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    w.write_all(b"220 relay ESMTP\r\n").await.unwrap();
                    let mut rcpts = vec![];
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-relay\r\n250 8BITMIME\r\n",
                            "RCPT" if refuse => b"550 5.1.1 mailbox unavailable\r\n",
                            "RCPT" => {
                                rcpts.push(line[8..].trim_matches(['<', '>', ' ']).to_string());
                                b"250 OK\r\n"
                            }
                            "DATA" => {
                                w.write_all(b"354 go on\r\n").await.unwrap();
                                let mut text = String::new();
                                while let Ok(Some(l)) = lines.next_line().await {
                                    if l == "." {
                                        break;
                                    }
                                    text.push_str(&l);
                                    text.push('\n');
                                }
                                kept.lock()
                                    .unwrap()
                                    .push((std::mem::take(&mut rcpts), text));
                                b"250 OK queued\r\n"
                            }
                            "QUIT" => {
                                let _ = w.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 OK\r\n",
                        };
                        if w.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Relay { port, mails }
    }

    fn mails(&self) -> Vec<Mailed> {
        self.mails.lock().unwrap().clone()
    }
}

/// CloudStack mails an email invitation's token (project.smtp.*); the invitee's account
/// joins with it. Where the mail cannot go, the caller is told why and no invitation is
/// left that nobody could accept.
#[tokio::test]
async fn an_invitation_by_email_is_mailed_and_its_token_lets_the_invitee_join() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let alice = admin.user("alice").await;
    let dave = admin.user("dave").await;
    let pid = id(&done(
        &alice,
        "createProject",
        &[("name", "mailed"), ("displaytext", "mailed")],
    )
    .await["project"]);
    let relay = Relay::start(false).await;
    let port = relay.port.to_string();
    for (name, value) in [
        ("project.invite.required", "true"),
        ("project.smtp.host", "127.0.0.1"),
        ("project.smtp.port", port.as_str()),
        ("project.email.sender", "cloud@example.org"),
    ] {
        admin
            .ok("updateConfiguration", &[("name", name), ("value", value)])
            .await;
    }

    // A malformed address is refused before anything is sent: a header smuggled in at
    // the front door, the others when the job reads them.
    alice
        .err(
            "addAccountToProject",
            &[
                ("projectid", &pid),
                ("email", "dave@example.org\r\nBcc: eve@example.org"),
            ],
            431,
        )
        .await;
    for bad in ["dave", "Eve <e@x.org>", "a@example.org, b@example.org"] {
        let (code, text) = failed(
            &alice,
            "addAccountToProject",
            &[("projectid", &pid), ("email", bad)],
        )
        .await;
        assert_eq!(code, 431, "{bad:?}: {text}");
    }
    assert!(relay.mails().is_empty());

    done(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("email", "dave@example.org")],
    )
    .await;
    let mails = relay.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (rcpts, text) = &mails[0];
    assert_eq!(rcpts, &vec!["dave@example.org".to_string()]);
    assert!(text.contains("From: cloud@example.org"), "{text}");
    assert!(text.contains("mailed"), "the project is named: {text}");
    assert!(text.contains(&format!("Project id: {pid}")), "{text}");
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("Token: "))
        .unwrap_or_else(|| panic!("a token in {text}"))
        .to_string();
    // The token is in the mail only.
    let pending = alice
        .ok("listProjectInvitations", &[("state", "Pending")])
        .await;
    assert_eq!(pending["projectinvitation"][0]["email"], "dave@example.org");
    assert!(!pending.to_string().contains(&token), "{pending}");

    // A wrong token is not an invitation; the mailed one makes Dave's account a member.
    let (code, text) = failed(
        &dave,
        "updateProjectInvitation",
        &[("projectid", &pid), ("token", "not-the-token")],
    )
    .await;
    assert_eq!(code, 431, "{text}");
    done(
        &dave,
        "updateProjectInvitation",
        &[("projectid", &pid), ("token", &token)],
    )
    .await;
    assert!(members(&alice, &pid)
        .await
        .contains(&("dave".to_string(), "Regular".to_string())));

    // A relay that refuses the recipient: the caller reads why, nothing is pending.
    let refusing = Relay::start(true).await;
    admin
        .ok(
            "updateConfiguration",
            &[
                ("name", "project.smtp.port"),
                ("value", &refusing.port.to_string()),
            ],
        )
        .await;
    let (code, text) = failed(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("email", "erin@example.org")],
    )
    .await;
    assert_eq!(code, 534, "{text}");
    assert!(
        text.contains("erin@example.org") && text.contains("550"),
        "{text}"
    );
    // Authentication means TLS (as CloudStack pairs them): a relay without STARTTLS is
    // not sent the password in the clear.
    for (name, value) in [
        ("project.smtp.port", port.as_str()),
        ("project.smtp.useAuth", "true"),
        ("project.smtp.useStartTLS", "true"),
        ("project.smtp.username", "cloud"),
        ("project.smtp.password", "relay-secret"),
    ] {
        admin
            .ok("updateConfiguration", &[("name", name), ("value", value)])
            .await;
    }
    let (code, text) = failed(
        &alice,
        "addAccountToProject",
        &[("projectid", &pid), ("email", "frank@example.org")],
    )
    .await;
    assert_eq!(code, 534, "{text}");
    assert_eq!(relay.mails().len(), 1, "nothing more was sent");
    assert_eq!(
        alice
            .ok("listProjectInvitations", &[("state", "Pending")])
            .await["count"],
        Value::Null,
        "no invitation is left that nobody received"
    );
    // The password is a Secure setting: never shown.
    let conf = admin
        .ok("listConfigurations", &[("name", "project.smtp.password")])
        .await;
    assert!(!conf.to_string().contains("relay-secret"), "{conf}");
    let events = admin
        .ok("listEvents", &[("keyword", "project.smtp.password")])
        .await;
    assert!(!events.to_string().contains("relay-secret"), "{events}");
}

/// CloudStack's `SkipProjectResources`: an admin's `listall` (or a domain's list) shows no
/// project's VMs or key pairs; `projectid=-1`, `projectid` or an `id` does.
#[tokio::test]
async fn an_admins_listall_leaves_out_projects_resources_unless_projectid_says() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("skip-z").await;
    let alice = admin.user("alice").await;
    let pid = id(&done(
        &alice,
        "createProject",
        &[("name", "hidden"), ("displaytext", "h")],
    )
    .await["project"]);
    let in_project = id(&deployed(&alice, &zone, &iso, Some(&pid)).await);
    let own = id(&deployed(&alice, &zone, &iso, None).await);
    alice
        .ok(
            "createSSHKeyPair",
            &[("name", "k-project"), ("projectid", &pid)],
        )
        .await;
    alice.ok("createSSHKeyPair", &[("name", "k-own")]).await;

    for scope in [
        vec![("listall", "true")],
        vec![("domainid", ROOT_DOMAIN), ("isrecursive", "true")],
        vec![("domainid", ROOT_DOMAIN), ("listall", "true")],
    ] {
        assert_eq!(vm_ids(&admin, &scope).await, vec![own.clone()], "{scope:?}");
        let keys = admin.ok("listSSHKeyPairs", &scope).await;
        assert_eq!(keys["count"], 1, "{scope:?}: {keys}");
        assert_eq!(keys["sshkeypair"][0]["name"], "k-own");
    }
    assert_eq!(
        vm_ids(&admin, &[("listall", "true"), ("projectid", "-1")]).await,
        vec![in_project.clone()],
        "projectid=-1: the projects' only"
    );
    assert_eq!(
        vm_ids(&admin, &[("projectid", &pid)]).await,
        vec![in_project.clone()]
    );
    // An id finds it whoever owns it.
    assert_eq!(
        vm_ids(&admin, &[("id", &in_project)]).await,
        vec![in_project.clone()]
    );
    assert_eq!(
        vm_ids(&admin, &[("id", &in_project), ("listall", "true")]).await,
        vec![in_project.clone()]
    );
}
