//! Domains through the signed API (issue 22), as CloudStack has them: the tree
//! (createDomain, updateDomain moving a subtree's paths, listDomains' path, level, parent
//! and haschild, listDomainChildren), deleteDomain with and without cleanup; domain
//! admins who manage their own subtree and nothing else; moveUser; and domain limits,
//! enforced over everything a subtree's accounts use — under concurrency too.

use stratus_testkit::db as common;

use common::Client;
use serde_json::Value;

const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";
const ROOT: &str = "00000000-0000-4000-8000-000000000001";

async fn create(c: &Client, name: &str, parent: Option<&str>) -> Value {
    let mut p = vec![("name", name)];
    if let Some(parent) = parent {
        p.push(("parentdomainid", parent));
    }
    c.ok("createDomain", &p).await["domain"].clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn one(c: &Client, domain: &str) -> Value {
    let b = c.ok("listDomains", &[("id", domain)]).await;
    assert_eq!(b["count"], 1, "{b}");
    b["domain"][0].clone()
}

/// Runs an async command to its end: its final job.
async fn job(c: &Client, command: &str, params: &[(&str, &str)]) -> Value {
    let started = c.ok(command, params).await;
    c.wait_job(started["jobid"].as_str().unwrap()).await
}

async fn deploy(c: &Client, zone: &str, iso: &str) -> common::Answer {
    c.call(
        "deployVirtualMachine",
        &[
            ("zoneid", zone),
            ("serviceofferingid", SMALL),
            ("templateid", iso),
            ("diskofferingid", DISK_5GB),
            ("startvm", "false"),
        ],
    )
    .await
}

#[tokio::test]
async fn the_tree_is_created_renamed_listed_and_deleted_as_cloudstack_does() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let customers = create(&admin, "customers", None).await;
    assert_eq!(customers["path"], "ROOT/customers");
    assert_eq!(customers["level"], 1);
    assert_eq!(customers["parentdomainname"], "ROOT");
    assert_eq!(customers["haschild"], false);
    // Without a limit of its own, a domain has the max.domain.* default.
    assert_eq!(customers["vmlimit"], "40", "{customers}");
    assert_eq!(customers["vmtotal"], 0);
    let cid = id(&customers);
    let acme = create(&admin, "acme", Some(&cid)).await;
    assert_eq!(acme["path"], "ROOT/customers/acme");
    assert_eq!(acme["level"], 2);
    assert_eq!(acme["parentdomainid"], cid.as_str());
    assert_eq!(one(&admin, &cid).await["haschild"], true);
    let aid = id(&acme);

    // Names are unique among siblings, whatever their case, and hold no '/'.
    let e = admin
        .err(
            "createDomain",
            &[("name", "ACME"), ("parentdomainid", &cid)],
            536,
        )
        .await;
    assert!(e.contains("already exists"), "{e}");
    admin
        .err(
            "createDomain",
            &[("name", "a/b"), ("parentdomainid", &cid)],
            431,
        )
        .await;
    admin
        .err(
            "createDomain",
            &[("name", "x"), ("networkdomain", "-bad-.example")],
            431,
        )
        .await;
    // The same name in another branch is fine.
    create(&admin, "acme", None).await;

    let children = admin.ok("listDomainChildren", &[("id", &cid)]).await;
    assert_eq!(children["count"], 1, "{children}");
    assert_eq!(children["domain"][0]["name"], "acme");
    let below_root = admin.ok("listDomainChildren", &[]).await;
    let names: Vec<&str> = below_root["domain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["ROOT/acme", "ROOT/customers"]);
    let all = admin
        .ok("listDomainChildren", &[("isrecursive", "true")])
        .await;
    assert_eq!(all["count"], 3, "{all}");

    // A rename moves the whole subtree.
    let renamed = admin
        .ok(
            "updateDomain",
            &[
                ("id", &cid),
                ("name", "clients"),
                ("networkdomain", "clients.example"),
            ],
        )
        .await["domain"]
        .clone();
    assert_eq!(renamed["path"], "ROOT/clients");
    assert_eq!(renamed["networkdomain"], "clients.example");
    assert_eq!(one(&admin, &aid).await["path"], "ROOT/clients/acme");
    let root = admin.ok("listDomains", &[("level", "0")]).await["domain"][0].clone();
    admin
        .err(
            "updateDomain",
            &[("id", root["id"].as_str().unwrap()), ("name", "TOP")],
            431,
        )
        .await;

    // Accounts live in domains; isrecursive reaches into the subtree.
    admin.user_in(&aid, "bob", "0").await;
    let direct = admin
        .ok("listAccounts", &[("domainid", &cid), ("name", "bob")])
        .await;
    assert_eq!(direct["count"].as_i64().unwrap_or(0), 0, "{direct}");
    let deep = admin
        .ok(
            "listAccounts",
            &[("domainid", &cid), ("isrecursive", "true"), ("name", "bob")],
        )
        .await;
    assert_eq!(
        deep["account"][0]["domainpath"], "ROOT/clients/acme",
        "{deep}"
    );

    // Without cleanup, a domain with subdomains or accounts stays.
    let failed = job(&admin, "deleteDomain", &[("id", &cid)]).await;
    assert_eq!(failed["jobstatus"], 2, "{failed}");
    assert!(
        failed["jobresult"]["errortext"]
            .as_str()
            .unwrap()
            .contains("sub-domain"),
        "{failed}"
    );
    let failed = job(&admin, "deleteDomain", &[("id", &aid)]).await;
    assert_eq!(failed["jobstatus"], 2, "{failed}");
    assert!(
        failed["jobresult"]["errortext"]
            .as_str()
            .unwrap()
            .contains("bob"),
        "{failed}"
    );
    // With cleanup, the subtree and its (empty) accounts go.
    let done = job(&admin, "deleteDomain", &[("id", &cid), ("cleanup", "true")]).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    let gone = admin.ok("listDomains", &[("name", "clients")]).await;
    assert_eq!(gone["count"].as_i64().unwrap_or(0), 0, "{gone}");
    let gone = admin
        .ok("listAccounts", &[("name", "bob"), ("listall", "true")])
        .await;
    assert_eq!(gone["count"].as_i64().unwrap_or(0), 0, "{gone}");
    let failed = job(
        &admin,
        "deleteDomain",
        &[("id", root["id"].as_str().unwrap())],
    )
    .await;
    assert_eq!(failed["jobstatus"], 2, "{failed}");
}

#[tokio::test]
async fn a_domain_admin_manages_its_subtree_and_nothing_else() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("domains-z").await;
    let east = id(&create(&admin, "east", None).await);
    let west = id(&create(&admin, "west", None).await);
    let eve = admin.user_in(&east, "eve", "2").await;
    admin.user_in(&west, "wendy", "0").await;

    // Her commands are there; the infrastructure's are not.
    let apis = eve.ok("listApis", &[]).await;
    let names: Vec<&str> = apis["api"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"createDomain") && names.contains(&"createAccount"));
    assert!(!names.contains(&"createZone") && !names.contains(&"addHost"));
    eve.err("createZone", &[("name", "z")], 432).await;

    // Below her own domain by default; nowhere else.
    let team = create(&eve, "team", None).await;
    assert_eq!(team["path"], "ROOT/east/team");
    let team = id(&team);
    eve.err(
        "createDomain",
        &[("name", "x"), ("parentdomainid", &west)],
        531,
    )
    .await;
    eve.err("updateDomain", &[("id", &east), ("name", "north")], 531)
        .await;
    let mine = eve.ok("listDomains", &[]).await;
    assert_eq!(mine["count"], 2, "{mine}");

    // Accounts and users of her subtree, not root admins, not elsewhere.
    let tom = eve.user_in(&team, "tom", "0").await;
    let root_admin = [
        ("username", "evil"),
        ("password", "evil-pw-1"),
        ("email", "e@example.org"),
        ("firstname", "E"),
        ("lastname", "Vil"),
        ("accounttype", "1"),
        ("domainid", team.as_str()),
    ];
    eve.err("createAccount", &root_admin, 531).await;
    let mut elsewhere = root_admin;
    elsewhere[5] = ("accounttype", "0");
    elsewhere[6] = ("domainid", west.as_str());
    eve.err("createAccount", &elsewhere, 531).await;
    let accounts = eve.ok("listAccounts", &[]).await;
    let names: Vec<&str> = accounts["account"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["eve", "tom"], "{accounts}");
    let wendy = admin.ok("listUsers", &[("username", "wendy")]).await["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    eve.err("lockUser", &[("id", &wendy)], 431).await;
    let admin_user = admin.ok("listUsers", &[("username", "admin")]).await["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = job(&eve, "disableUser", &[("id", &admin_user)]).await;
    assert_eq!(refused["jobstatus"], 2, "{refused}");
    assert_eq!(refused["jobresult"]["errorcode"], 431, "{refused}");
    let refused = job(
        &eve,
        "disableAccount",
        &[("account", "wendy"), ("domainid", &west), ("lock", "false")],
    )
    .await;
    assert_eq!(refused["jobresult"]["errorcode"], 531, "{refused}");

    // Limits: of the domains below hers, not her own.
    eve.err(
        "updateResourceLimit",
        &[("domainid", &east), ("resourcetype", "0"), ("max", "100")],
        531,
    )
    .await;
    let set = eve
        .ok(
            "updateResourceLimit",
            &[("domainid", &team), ("resourcetype", "0"), ("max", "1")],
        )
        .await;
    assert_eq!(set["resourcelimit"]["max"], 1, "{set}");
    let first = deploy(&tom, &zone, &iso).await;
    assert_eq!(first.status.as_u16(), 200, "{}", first.text);
    let first = tom.wait_job(first.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(first["jobstatus"], 1, "{first}");
    let second = deploy(&tom, &zone, &iso).await;
    assert_eq!(second.status.as_u16(), 535, "{}", second.text);
    assert!(
        second.errortext().contains("ROOT/east/team"),
        "the error names the domain: {}",
        second.text
    );
    let counted = eve.ok("listDomains", &[("id", &team)]).await["domain"][0].clone();
    assert_eq!(counted["vmlimit"], "1", "{counted}");
    assert_eq!(counted["vmtotal"], 1, "{counted}");
    assert_eq!(counted["vmavailable"], "0", "{counted}");

    // moveUser: to another account of the same domain only.
    eve.ok(
        "createUser",
        &[
            ("account", "tom"),
            ("domainid", &team),
            ("username", "tom2"),
            ("password", "tom2-pw-1"),
            ("email", "t2@example.org"),
            ("firstname", "T"),
            ("lastname", "Two"),
        ],
    )
    .await;
    eve.user_in(&team, "tim", "0").await;
    let tom2 = eve.ok("listUsers", &[("username", "tom2")]).await["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    eve.ok("moveUser", &[("id", &tom2), ("account", "tim")])
        .await;
    let moved = eve.ok("listUsers", &[("username", "tom2")]).await;
    assert_eq!(moved["user"][0]["account"], "tim", "{moved}");
    let wendy_account = admin
        .ok("listAccounts", &[("name", "wendy"), ("listall", "true")])
        .await["account"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin
        .err(
            "moveUser",
            &[("id", &tom2), ("accountid", &wendy_account)],
            431,
        )
        .await;
    drop(tom);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_domain_limit_holds_across_its_accounts_under_concurrency() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("domlim-z").await;
    let d = id(&create(&admin, "shared", None).await);
    admin
        .ok(
            "updateResourceLimit",
            &[("domainid", &d), ("resourcetype", "0"), ("max", "5")],
        )
        .await;
    // Ten accounts, so that admissions of different accounts race: only the domain's
    // row serialises them.
    let mut clients = Vec::new();
    for i in 0..10 {
        clients.push(admin.user_in(&d, &format!("dl-{i}"), "0").await);
    }
    let mut tasks = Vec::new();
    for i in 0..30 {
        let c = clients[i % 10].clone_handle();
        let (zone, iso) = (zone.clone(), iso.clone());
        tasks.push(tokio::spawn(async move {
            deploy(&c, &zone, &iso).await.status.as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 5, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 535),
        "{statuses:?}"
    );
    let counted = admin.ok("listDomains", &[("id", &d)]).await["domain"][0].clone();
    assert_eq!(counted["vmtotal"], 5, "{counted}");
}

#[tokio::test]
async fn a_domains_password_policy_holds_for_its_users_only() {
    let admin = Client::admin().await;
    let strict = id(&create(&admin, "strict", None).await);
    for (name, value) in [
        ("password.policy.minimum.digits", "2"),
        ("password.policy.minimum.uppercase.letters", "1"),
        ("password.policy.allowPasswordToContainUsername", "false"),
    ] {
        admin
            .ok(
                "updateConfiguration",
                &[("name", name), ("value", value), ("domainid", &strict)],
            )
            .await;
    }
    fn account<'a>(domain: &'a str, password: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("username", "pat"),
            ("password", password),
            ("email", "p@example.org"),
            ("firstname", "P"),
            ("lastname", "At"),
            ("accounttype", "0"),
            ("domainid", domain),
        ]
    }
    let strict = strict.as_str();
    let e = admin
        .err("createAccount", &account(strict, "pat-password-1"), 431)
        .await;
    assert!(e.contains("at least 2 digits"), "{e}");
    assert!(e.contains("uppercase"), "{e}");
    assert!(e.contains("username"), "{e}");
    admin
        .ok("createAccount", &account(strict, "Secret-42"))
        .await;
    // The policy is the domain's: ROOT still takes the same weak password.
    let root = admin.ok("listDomains", &[("level", "0")]).await["domain"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let root = root.as_str();
    admin
        .ok("createAccount", &account(root, "pat-password-1"))
        .await;
    // A password change meets it too.
    let pat = admin
        .ok("listUsers", &[("username", "pat"), ("domainid", strict)])
        .await["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = admin
        .err("updateUser", &[("id", &pat), ("password", "weakweak")], 431)
        .await;
    assert!(e.contains("digits"), "{e}");
    admin
        .ok("updateUser", &[("id", &pat), ("password", "Stronger-77")])
        .await;
    // An expression that cannot be compiled is refused when set.
    admin
        .err(
            "updateConfiguration",
            &[("name", "password.policy.regex"), ("value", "(")],
            431,
        )
        .await;
}

/// The names of the SSH key pairs a list answers, sorted.
async fn key_names(c: &Client, params: &[(&str, &str)]) -> Vec<String> {
    let b = c.ok("listSSHKeyPairs", params).await;
    let mut names: Vec<String> = b["sshkeypair"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|k| k["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn resource_lists_follow_listall_domainid_and_isrecursive_within_a_domain_admins_subtree() {
    let admin = Client::admin().await;
    let north = id(&create(&admin, "north", None).await);
    let south = id(&create(&admin, "south", None).await);
    let nora = admin.user_in(&north, "nora", "2").await;
    let team = id(&create(&nora, "nteam", None).await);
    let ned = admin.user_in(&north, "ned", "0").await;
    let tim = admin.user_in(&team, "tim", "0").await;
    let sam = admin.user_in(&south, "sam", "0").await;
    for (c, key) in [
        (&admin, "k-admin"),
        (&nora, "k-nora"),
        (&ned, "k-ned"),
        (&tim, "k-tim"),
        (&sam, "k-sam"),
    ] {
        c.ok("createSSHKeyPair", &[("name", key)]).await;
    }

    // Everyone sees their own by default; a user only ever their own.
    assert_eq!(key_names(&nora, &[]).await, ["k-nora"]);
    assert_eq!(key_names(&ned, &[("listall", "true")]).await, ["k-ned"]);
    assert_eq!(key_names(&ned, &[("domainid", &south)]).await, ["k-ned"]);

    // A domain admin's listall: its subtree, not the root admin's, not south's.
    assert_eq!(
        key_names(&nora, &[("listall", "true")]).await,
        ["k-ned", "k-nora", "k-tim"]
    );
    // domainid: that domain's accounts; isrecursive: its subdomains' too.
    assert_eq!(
        key_names(&nora, &[("domainid", &north)]).await,
        ["k-ned", "k-nora"]
    );
    assert_eq!(
        key_names(&nora, &[("domainid", &north), ("isrecursive", "true")]).await,
        ["k-ned", "k-nora", "k-tim"]
    );
    assert_eq!(key_names(&nora, &[("domainid", &team)]).await, ["k-tim"]);
    // One account of her subtree by name (in her domain unless domainid says).
    assert_eq!(key_names(&nora, &[("account", "ned")]).await, ["k-ned"]);
    assert_eq!(
        key_names(&nora, &[("account", "tim"), ("domainid", &team)]).await,
        ["k-tim"]
    );
    // Outside her subtree: refused, as CloudStack does.
    nora.err("listSSHKeyPairs", &[("domainid", &south)], 531)
        .await;
    nora.err(
        "listSSHKeyPairs",
        &[("account", "sam"), ("domainid", &south)],
        531,
    )
    .await;
    // A name that is in no domain she manages is no account of hers.
    nora.err("listSSHKeyPairs", &[("account", "sam")], 431)
        .await;

    // The root admin: its own by default, everything with listall, a subtree by domain.
    assert_eq!(key_names(&admin, &[]).await, ["k-admin"]);
    let all = key_names(&admin, &[("listall", "true")]).await;
    for k in ["k-admin", "k-nora", "k-ned", "k-tim", "k-sam"] {
        assert!(all.iter().any(|n| n == k), "{k} missing from {all:?}");
    }
    assert_eq!(
        key_names(&admin, &[("domainid", &north), ("isrecursive", "true")]).await,
        ["k-ned", "k-nora", "k-tim"]
    );

    // Events and async jobs follow the same rule: her listall shows her subtree's.
    let ev = nora
        .ok(
            "listEvents",
            &[("listall", "true"), ("type", "CREATE.SSH.KEYPAIR")],
        )
        .await;
    let mut who: Vec<&str> = ev["event"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["account"].as_str()).collect())
        .unwrap_or_default();
    who.sort();
    who.dedup();
    assert_eq!(who, ["ned", "nora", "tim"], "{ev}");
}

#[tokio::test]
async fn an_account_that_ran_jobs_is_deleted_once_its_vms_are_expunged() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("delete-acct-z").await;
    let dora = admin.user("dora").await;
    // Dora deploys (an async job on record, a VM row).
    let a = deploy(&dora, &zone, &iso).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let j = dora.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    let vm = j["jobresult"]["virtualmachine"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let acct = admin.ok("listAccounts", &[("name", "dora")]).await["account"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // While the VM lives, the account stays, and the answer says why.
    let r = job(&admin, "deleteAccount", &[("id", &acct)]).await;
    assert_eq!(r["jobstatus"], 2, "{r}");
    let text = r["jobresult"]["errortext"].as_str().unwrap();
    assert!(text.contains("virtual machines"), "{text}");
    assert_eq!(
        admin.ok("listAccounts", &[("name", "dora")]).await["count"],
        1
    );

    // Expunged, it is history: the account, its users and its jobs go.
    let r = job(
        &admin,
        "destroyVirtualMachine",
        &[("id", &vm), ("expunge", "true")],
    )
    .await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let r = job(&admin, "deleteAccount", &[("id", &acct)]).await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    // (An empty list answers no count, as CloudStack.)
    let left = admin.ok("listAccounts", &[("name", "dora")]).await;
    assert!(left["account"].is_null(), "{left}");
    let left = admin.ok("listUsers", &[("username", "dora")]).await;
    assert!(left["user"].is_null(), "{left}");
    // The name is free again.
    admin.user("dora").await;
}

/// A domain's limit of one type, as listResourceLimits answers it.
async fn domain_limit(c: &Client, domain: &str, kind: &str) -> Value {
    let b = c
        .ok(
            "listResourceLimits",
            &[("domainid", domain), ("resourcetype", kind)],
        )
        .await;
    assert_eq!(b["count"], 1, "{b}");
    b["resourcelimit"][0]["max"].clone()
}

#[tokio::test]
async fn a_domain_without_its_own_limit_has_its_ancestors_or_the_max_domain_default() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("domdef-z").await;
    let parent = id(&create(&admin, "dflt", None).await);
    let child = id(&create(&admin, "inner", Some(&parent)).await);

    // CloudStack's max.domain.* defaults; ROOT is never limited.
    for (kind, max) in [
        ("0", 40),
        ("1", 40),
        ("2", 40),
        ("3", 40),
        ("4", 40),
        ("5", 50),
        ("6", 40),
        ("7", 40),
        ("8", 80),
        ("9", 81920),
        ("10", 400),
        ("11", 800),
    ] {
        assert_eq!(
            domain_limit(&admin, &parent, kind).await,
            max,
            "type {kind}"
        );
    }
    assert_eq!(domain_limit(&admin, ROOT, "0").await, -1);
    assert_eq!(one(&admin, &parent).await["vmlimit"], "40");
    assert_eq!(one(&admin, &parent).await["cpulimit"], "80");
    assert_eq!(one(&admin, ROOT).await["vmlimit"], "Unlimited");

    // A limit set on the parent holds for the child that has none of its own.
    admin
        .ok(
            "updateResourceLimit",
            &[("domainid", &parent), ("resourcetype", "8"), ("max", "7")],
        )
        .await;
    assert_eq!(domain_limit(&admin, &child, "8").await, 7);
    admin
        .ok(
            "updateResourceLimit",
            &[("domainid", &child), ("resourcetype", "8"), ("max", "9")],
        )
        .await;
    assert_eq!(domain_limit(&admin, &child, "8").await, 9);

    // The setting is the default, and allocations count against it: two accounts of
    // the child share the default of 2 VMs.
    admin
        .ok(
            "updateConfiguration",
            &[("name", "max.domain.user.vms"), ("value", "2")],
        )
        .await;
    assert_eq!(domain_limit(&admin, &child, "0").await, 2);
    assert_eq!(one(&admin, &child).await["vmlimit"], "2");
    let a = admin.user_in(&child, "dd-a", "0").await;
    let b = admin.user_in(&child, "dd-b", "0").await;
    for c in [&a, &b] {
        let made = deploy(c, &zone, &iso).await;
        assert_eq!(made.status.as_u16(), 200, "{}", made.text);
        let made = c.wait_job(made.body()["jobid"].as_str().unwrap()).await;
        assert_eq!(made["jobstatus"], 1, "{made}");
    }
    let third = deploy(&a, &zone, &iso).await;
    assert_eq!(third.status.as_u16(), 535, "{}", third.text);
    assert!(
        third.errortext().contains("ROOT/dflt/inner"),
        "the error names the domain: {}",
        third.text
    );
    let counted = one(&admin, &child).await;
    assert_eq!(counted["vmtotal"], 2, "{counted}");
    assert_eq!(counted["vmavailable"], "0", "{counted}");
    // The parent's default (2 too) holds its subtree's VMs: counted once, not per level.
    assert_eq!(one(&admin, &parent).await["vmtotal"], 2);

    // -1 makes the default unlimited again.
    admin
        .ok(
            "updateConfiguration",
            &[("name", "max.domain.user.vms"), ("value", "-1")],
        )
        .await;
    assert_eq!(domain_limit(&admin, &child, "0").await, -1);
    let fourth = deploy(&a, &zone, &iso).await;
    assert_eq!(fourth.status.as_u16(), 200, "{}", fourth.text);
}

/// deleteUser as CloudStack's: a user who deployed VMs and ran jobs is deleted; the VMs
/// stay its account's and the jobs stay on the account's record.
#[tokio::test]
async fn a_user_with_live_vms_and_jobs_on_record_is_deleted() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("delete-user-z").await;
    let erin = admin.user("erin").await;
    admin
        .ok(
            "createUser",
            &[
                ("account", "erin"),
                ("username", "erin2"),
                ("password", "erin2-pw-1"),
                ("email", "e2@example.org"),
                ("firstname", "E"),
                ("lastname", "Two"),
            ],
        )
        .await;
    let erin2 = Client::for_user(admin.ctx.clone(), "erin2").await;
    let a = deploy(&erin2, &zone, &iso).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let jobid = a.body()["jobid"].as_str().unwrap().to_string();
    let j = erin2.wait_job(&jobid).await;
    assert_eq!(j["jobstatus"], 1, "{j}");
    let vm = j["jobresult"]["virtualmachine"].clone();
    assert_eq!(vm["username"], "erin2", "{vm}");
    let uid = admin.ok("listUsers", &[("username", "erin2")]).await["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    admin.ok("deleteUser", &[("id", &uid)]).await;
    let gone = admin.ok("listUsers", &[("username", "erin2")]).await;
    assert!(gone["user"].is_null(), "{gone}");
    // Her VM is still the account's, seen by its other user, naming no user.
    let vms = erin.ok("listVirtualMachines", &[]).await;
    assert_eq!(vms["count"], 1, "{vms}");
    assert_eq!(vms["virtualmachine"][0]["id"], vm["id"]);
    assert_eq!(vms["virtualmachine"][0]["account"], "erin");
    assert!(vms["virtualmachine"][0]["username"].is_null(), "{vms}");
    // Her job too.
    let jobs = erin.ok("listAsyncJobs", &[]).await;
    let listed = jobs["asyncjobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["jobid"] == jobid.as_str())
        .unwrap_or_else(|| panic!("{jobs}"))
        .clone();
    assert!(listed["userid"].is_null(), "{listed}");
    assert_eq!(listed["jobstatus"], 1);
    // The name is free again.
    admin
        .ok(
            "createUser",
            &[
                ("account", "erin"),
                ("username", "erin2"),
                ("password", "erin2-pw-1"),
                ("email", "e2@example.org"),
                ("firstname", "E"),
                ("lastname", "Two"),
            ],
        )
        .await;
}
