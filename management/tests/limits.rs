//! Resource limits through the signed API, as CloudStack has them: listResourceLimits
//! (defaults, an account's own, filters), updateResourceLimit (and what it refuses),
//! updateResourceCount, the limit fields of listAccounts, and enforcement at deploy,
//! recover, registerIso and changeServiceForVirtualMachine — under concurrency: 50
//! parallel deploys into room for 10 make exactly 10 VMs.

use stratus_testkit::db as common;

use common::Client;
use serde_json::Value;

const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";
const ROOT_DOMAIN: &str = "00000000-0000-4000-8000-000000000001";

async fn limit_of(c: &Client, params: &[(&str, &str)]) -> Value {
    let b = c.ok("listResourceLimits", params).await;
    assert_eq!(b["count"], 1, "{b}");
    b["resourcelimit"][0].clone()
}

async fn set_limit(admin: &Client, account: &str, kind: &str, max: &str) -> Value {
    admin
        .ok(
            "updateResourceLimit",
            &[
                ("account", account),
                ("domainid", ROOT_DOMAIN),
                ("resourcetype", kind),
                ("max", max),
            ],
        )
        .await["resourcelimit"]
        .clone()
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

/// Deploys and waits for the job: the VM's id.
async fn deployed(c: &Client, zone: &str, iso: &str) -> String {
    let a = deploy(c, zone, iso).await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let job = c.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(job["jobstatus"], 1, "{job}");
    job["jobresult"]["virtualmachine"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn account(admin: &Client, name: &str) -> Value {
    let b = admin
        .ok("listAccounts", &[("name", name), ("listall", "true")])
        .await;
    b["account"][0].clone()
}

#[tokio::test]
async fn fifty_parallel_deploys_into_room_for_ten_make_ten() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("limits-z").await;
    let alice = admin.user("alice").await;

    // The defaults, as CloudStack's max.account.* settings have them.
    let all = alice.ok("listResourceLimits", &[]).await;
    assert_eq!(all["count"], 12, "{all}");
    let vm = &all["resourcelimit"][0];
    assert_eq!(vm["resourcetype"], "0");
    assert_eq!(vm["resourcetypename"], "user_vm");
    assert_eq!(vm["max"], 20);
    assert_eq!(vm["account"], "alice");
    assert_eq!(vm["domainid"], ROOT_DOMAIN);
    assert_eq!(all["resourcelimit"][8]["max"], 40, "cpu");
    assert_eq!(
        all["resourcelimit"][10]["max"], 200,
        "primary storage in GiB"
    );

    // Her own limit; setting it again is no change.
    let l = set_limit(&admin, "alice", "0", "10").await;
    assert_eq!(l["max"], 10);
    assert_eq!(l["resourcetypename"], "user_vm");
    assert_eq!(set_limit(&admin, "alice", "0", "10").await, l);
    assert_eq!(
        limit_of(&alice, &[("resourcetypename", "user_vm")]).await["max"],
        10
    );

    let mut tasks = vec![];
    for _ in 0..50 {
        let (c, zone, iso) = (alice.clone_handle(), zone.clone(), iso.clone());
        tasks.push(tokio::spawn(async move {
            let a = deploy(&c, &zone, &iso).await;
            (a.status.as_u16(), a.errortext())
        }));
    }
    let mut made = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, _) => made += 1,
            (535, text) => {
                assert!(
                    text.starts_with(
                        "Maximum amount of resources of Type = 'user_vm' for Account Name = alice"
                    ),
                    "{text}"
                );
                assert!(text.contains("Resource Limit = 10,"), "{text}");
            }
            (status, text) => panic!("unexpected {status}: {text}"),
        }
    }
    assert_eq!(made, 10);
    let vms = alice.ok("listVirtualMachines", &[]).await;
    assert_eq!(vms["count"], 10, "{vms}");

    // Her account answers what she has and what is left.
    let a = account(&admin, "alice").await;
    assert_eq!(a["vmlimit"], "10");
    assert_eq!(a["vmtotal"], 10);
    assert_eq!(a["vmavailable"], "0");
    assert_eq!(a["cpulimit"], "40");
    assert_eq!(a["cputotal"], 10);
    assert_eq!(a["cpuavailable"], "30");
    assert_eq!(a["memorytotal"], 10 * 512);
    assert_eq!(a["volumetotal"], 10);
    assert_eq!(a["primarystoragetotal"], 50, "ten 5 GiB root disks");
    assert_eq!(a["primarystorageavailable"], "150");
    assert_eq!(a["iplimit"], "20");
    assert_eq!(a["vmstopped"], 10);
    assert_eq!(a["vmrunning"], 0);

    let counts = admin
        .ok(
            "updateResourceCount",
            &[("domainid", ROOT_DOMAIN), ("account", "alice")],
        )
        .await;
    assert_eq!(counts["count"], 12, "{counts}");
    let count_of = |name: &str| {
        counts["resourcecount"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["resourcetypename"] == name)
            .unwrap()["resourcecount"]
            .clone()
    };
    assert_eq!(count_of("user_vm"), 10);
    assert_eq!(count_of("primary_storage"), 50i64 << 30);
    assert_eq!(count_of("snapshot"), 0);

    // A destroyed VM gives its room back; recovering it needs room again.
    let first = vms["virtualmachine"][0]["id"].as_str().unwrap().to_string();
    let j = admin
        .ok("destroyVirtualMachine", &[("id", first.as_str())])
        .await;
    let done = admin.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    assert_eq!(account(&admin, "alice").await["vmavailable"], "1");
    deployed(&alice, &zone, &iso).await;
    let refused = admin
        .err("recoverVirtualMachine", &[("id", first.as_str())], 535)
        .await;
    assert!(refused.contains("'user_vm'"), "{refused}");
    set_limit(&admin, "alice", "0", "-1").await;
    admin
        .ok("recoverVirtualMachine", &[("id", first.as_str())])
        .await;
    assert_eq!(account(&admin, "alice").await["vmtotal"], 11);
    assert_eq!(account(&admin, "alice").await["vmlimit"], "Unlimited");
}

#[tokio::test]
async fn cpu_storage_and_template_limits_are_enforced() {
    let admin = Client::admin().await;
    let _jobs = admin.spawn_job_worker();
    let (zone, iso) = admin.deployable_iso("limits-y").await;
    let bob = admin.user("bob").await;

    // Primary storage in GiB: a 5 GiB root disk does not fit in 4.
    set_limit(&admin, "bob", "10", "4").await;
    let a = deploy(&bob, &zone, &iso).await;
    assert_eq!(a.status.as_u16(), 535, "{}", a.text);
    assert!(
        a.errortext().contains("'primary_storage'")
            && a.errortext().contains("Resource Limit = 4 GiB"),
        "{}",
        a.errortext()
    );
    set_limit(&admin, "bob", "10", "-1").await;

    // One CPU: the first small VM fits, the second does not.
    set_limit(&admin, "bob", "8", "1").await;
    let vm = deployed(&bob, &zone, &iso).await;
    let a = deploy(&bob, &zone, &iso).await;
    assert_eq!(a.status.as_u16(), 535, "{}", a.text);
    assert!(a.errortext().contains("'cpu'"), "{}", a.errortext());
    // A bigger offering is refused too, a smaller one (none) or the same is fine.
    let medium = admin
        .ok(
            "createServiceOffering",
            &[
                ("name", "two"),
                ("displaytext", "two cores"),
                ("cpunumber", "2"),
                ("cpuspeed", "500"),
                ("memory", "512"),
            ],
        )
        .await["serviceoffering"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = bob
        .err(
            "changeServiceForVirtualMachine",
            &[("id", vm.as_str()), ("serviceofferingid", medium.as_str())],
            535,
        )
        .await;
    assert!(refused.contains("'cpu'"), "{refused}");
    bob.ok(
        "changeServiceForVirtualMachine",
        &[("id", vm.as_str()), ("serviceofferingid", SMALL)],
    )
    .await;

    // ISOs count as templates (the address is one users may name; nothing is fetched).
    admin
        .ok(
            "updateConfiguration",
            &[
                ("name", "secstorage.allowed.internal.sites"),
                ("value", "10.99.0.0/16"),
            ],
        )
        .await;
    set_limit(&admin, "bob", "4", "0").await;
    let refused = bob
        .err(
            "registerIso",
            &[
                ("name", "mine"),
                ("displaytext", "mine"),
                ("zoneid", zone.as_str()),
                ("url", "http://10.99.0.1:9/mine.iso"),
            ],
            535,
        )
        .await;
    assert!(refused.contains("'template'"), "{refused}");
    assert_eq!(account(&admin, "bob").await["templatetotal"], 0);
}

#[tokio::test]
async fn what_update_resource_limit_refuses() {
    let admin = Client::admin().await;
    admin.user("carol").await;
    // Root admins are never limited.
    let own = admin.ok("listResourceLimits", &[]).await;
    assert!(own["resourcelimit"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["max"] == -1));
    let e = admin
        .err(
            "updateResourceLimit",
            &[("account", "admin"), ("resourcetype", "0"), ("max", "5")],
            431,
        )
        .await;
    assert_eq!(e, "Only -1 limit is supported for Root Admin accounts");
    let e = admin
        .err(
            "updateResourceLimit",
            &[
                ("domainid", ROOT_DOMAIN),
                ("resourcetype", "0"),
                ("max", "5"),
            ],
            531,
        )
        .await;
    assert!(e.contains("ROOT domain"), "{e}");
    for (kind, max) in [("12", "5"), ("-1", "5"), ("0", "-2")] {
        admin
            .err(
                "updateResourceLimit",
                &[("account", "carol"), ("resourcetype", kind), ("max", max)],
                431,
            )
            .await;
    }
    admin
        .err(
            "updateResourceLimit",
            &[("resourcetype", "0"), ("max", "5")],
            431,
        )
        .await;
    admin
        .err("listResourceLimits", &[("resourcetypename", "gpu")], 431)
        .await;
    // No max is unlimited; by name wins over by number.
    let l = admin
        .ok(
            "updateResourceLimit",
            &[("account", "carol"), ("resourcetype", "9")],
        )
        .await;
    assert_eq!(l["resourcelimit"]["max"], -1);
    let l = limit_of(
        &admin,
        &[
            ("account", "carol"),
            ("resourcetype", "0"),
            ("resourcetypename", "memory"),
        ],
    )
    .await;
    assert_eq!(l["resourcetypename"], "memory");
    assert_eq!(l["max"], -1);
    // A user sees only their own, whatever they name.
    let carol = Client::for_user(admin.ctx.clone(), "carol").await;
    let l = limit_of(&carol, &[("account", "admin"), ("resourcetype", "0")]).await;
    assert_eq!(l["account"], "carol");
    assert_eq!(l["max"], 20);
    carol
        .err(
            "updateResourceLimit",
            &[("account", "carol"), ("resourcetype", "0"), ("max", "100")],
            432,
        )
        .await;
}
