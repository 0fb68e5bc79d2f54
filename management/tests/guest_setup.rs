//! Guest setup through the API, on VM rows (no host needed; the real boot with cloud-init
//! is tests/tests/e2e_templates.rs and the README's template walkthrough): named user
//! data and its use by VMs, user data checks, key pair and password commands, and the
//! changes tools make on a second run (updateVirtualMachine, changeServiceForVirtualMachine,
//! scaleVirtualMachine), each refused on a VM in the wrong state or of another account.

use stratus_testkit::db as common;

use base64::Engine;
use common::Client;
use stratus_management::db;
use uuid::Uuid;

const SMALL: &str = "00000000-0000-4000-8003-000000000001";

async fn new_vm(c: &Client, owner: &str, zone: Uuid, name: &str) -> String {
    let u = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, owner)
        .await
        .unwrap()
        .unwrap();
    let id = Uuid::new_v4();
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    db::vms::vm_insert(
        &mut conn,
        &db::vms::NewVm {
            id: id.into(),
            name,
            display_name: name,
            account_id: u.account_id,
            domain_id: u.domain_id,
            user_id: u.id,
            zone_id: zone.into(),
            service_offering_id: SMALL.parse().unwrap(),
            disk_offering_id: None,
            iso_id: None,
            cpu_number: 1,
            cpu_mhz: 500,
            memory_mb: 512,
            keypair: None,
            instance_suffix: "VM",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    id.to_string()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn alice(admin: &Client) -> Client {
    admin
        .ok(
            "createAccount",
            &[
                ("username", "alice"),
                ("password", "alice-pw-1"),
                ("email", "alice@example.org"),
                ("firstname", "Alice"),
                ("lastname", "Liddell"),
                ("accounttype", "0"),
            ],
        )
        .await;
    Client::for_user(admin.ctx.clone(), "alice").await
}

#[tokio::test]
async fn user_data_keys_and_passwords() {
    let c = Client::admin().await;
    // resetSSHKey, resetPassword and scale are jobs: a worker runs them.
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let (zone, _, _) = c.basic_topology("gz").await;
    let zone: Uuid = zone.parse().unwrap();
    let vm = new_vm(&c, "admin", zone, "g1").await;
    let doc = "#cloud-config\nhostname: g1\n";

    // Named user data, used by a VM, cannot be deleted while the VM names it.
    let ud = c
        .ok(
            "registerUserData",
            &[
                ("name", "base"),
                ("userdata", &b64(doc)),
                ("params", "a, b,a"),
            ],
        )
        .await;
    let ud_id = ud["userdata"]["id"].as_str().unwrap().to_string();
    assert_eq!(ud["userdata"]["params"], "a,b");
    assert_eq!(ud["userdata"]["userdata"], b64(doc));
    let e = c
        .err(
            "registerUserData",
            &[("name", "base"), ("userdata", &b64("x"))],
            431,
        )
        .await;
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(c.ok("listUserData", &[("name", "base")]).await["count"], 1);
    let r = c
        .ok(
            "resetUserDataForVirtualMachine",
            &[("id", &vm), ("userdataid", &ud_id)],
        )
        .await;
    assert_eq!(r["virtualmachine"]["userdataid"], ud_id.as_str());
    assert_eq!(r["virtualmachine"]["userdataname"], "base");
    let got = c
        .ok("getVirtualMachineUserData", &[("virtualmachineid", &vm)])
        .await;
    assert_eq!(got["virtualmachineuserdata"]["userdata"], b64(doc));
    // listVirtualMachines answers the user data itself only with userdata=true, as
    // CloudStack's (4.18 on).
    let l = c.ok("listVirtualMachines", &[("id", &vm)]).await;
    assert!(l["virtualmachine"][0].get("userdata").is_none(), "{l}");
    let l = c
        .ok("listVirtualMachines", &[("id", &vm), ("userdata", "true")])
        .await;
    assert_eq!(l["virtualmachine"][0]["userdata"], b64(doc), "{l}");
    let e = c.err("deleteUserData", &[("id", &ud_id)], 431).await;
    assert!(e.contains("in use by VMs (g1)"), "{e}");
    // Plain user data replaces it; then the named one can go.
    c.ok(
        "resetUserDataForVirtualMachine",
        &[("id", &vm), ("userdata", &b64("#!/bin/sh\ntrue\n"))],
    )
    .await;
    c.ok("deleteUserData", &[("id", &ud_id)]).await;

    // Both at once, not base64, over the configured length: refused with the reason.
    let e = c
        .err(
            "resetUserDataForVirtualMachine",
            &[("id", &vm), ("userdata", "eA=="), ("userdataid", &ud_id)],
            431,
        )
        .await;
    assert!(e.contains("cannot be specified together"), "{e}");
    let e = c
        .err(
            "resetUserDataForVirtualMachine",
            &[("id", &vm), ("userdata", "not base64!")],
            431,
        )
        .await;
    assert!(e.contains("not valid base64"), "{e}");
    c.ok(
        "updateConfiguration",
        &[("name", "vm.userdata.max.length"), ("value", "16")],
    )
    .await;
    let e = c
        .err(
            "resetUserDataForVirtualMachine",
            &[("id", &vm), ("userdata", &b64(doc))],
            431,
        )
        .await;
    assert!(
        e.contains("too long") && e.contains("vm.userdata.max.length"),
        "{e}"
    );
    c.ok(
        "updateConfiguration",
        &[("name", "vm.userdata.max.length"), ("value", "32768")],
    )
    .await;

    // Key pairs: only the owner's names; the VM records them; no password without a
    // password-enabled template.
    let r = c
        .ok(
            "resetSSHKeyForVirtualMachine",
            &[("id", &vm), ("keypair", "nope")],
        )
        .await;
    let r = c.wait_job(r["jobid"].as_str().unwrap()).await;
    let e = r["jobresult"]["errortext"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(e.contains("'nope' was not found"), "{r}");
    c.ok("createSSHKeyPair", &[("name", "k1")]).await;
    let r = c
        .ok(
            "resetSSHKeyForVirtualMachine",
            &[("id", &vm), ("keypair", "k1")],
        )
        .await;
    let r = c.wait_job(r["jobid"].as_str().unwrap()).await;
    let v = &r["jobresult"]["virtualmachine"];
    assert_eq!(v["keypairs"], "k1", "{r}");
    assert_eq!(v["keypair"], "k1");
    assert!(v.get("password").is_none(), "{v}");
    let e = c.err("getVMPassword", &[("id", &vm)], 431).await;
    assert_eq!(e, "No password for VM with specified id found.");
    let r = c.ok("resetPasswordForVirtualMachine", &[("id", &vm)]).await;
    let r = c.wait_job(r["jobid"].as_str().unwrap()).await;
    assert!(
        r["jobresult"]["errortext"]
            .as_str()
            .unwrap_or("")
            .contains("not password enabled"),
        "{r}"
    );

    // A running VM keeps its user data and keys until stopped.
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    db::vms::vm_set_state(
        &mut *conn,
        vm.parse().unwrap(),
        stratus_management::rules::vmstate::VmState::Running,
        None,
    )
    .await
    .unwrap();
    drop(conn);
    let e = c
        .err(
            "resetUserDataForVirtualMachine",
            &[("id", &vm), ("userdata", &b64("x"))],
            431,
        )
        .await;
    assert!(e.contains("should be stopped"), "{e}");

    // Another account sees none of it.
    let a = alice(&c).await;
    a.err(
        "getVirtualMachineUserData",
        &[("virtualmachineid", &vm)],
        431,
    )
    .await;
    a.err("getVMPassword", &[("id", &vm)], 431).await;
    assert_eq!(
        a.ok("listUserData", &[])
            .await
            .get("count")
            .and_then(|v| v.as_i64())
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn second_run_changes_update_and_change_service() {
    let c = Client::admin().await;
    // resetSSHKey, resetPassword and scale are jobs: a worker runs them.
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let (zone, _, _) = c.basic_topology("cz").await;
    let vm = new_vm(&c, "admin", zone.parse().unwrap(), "c1").await;
    let big = c
        .ok(
            "createServiceOffering",
            &[
                ("name", "big"),
                ("displaytext", "2x1G"),
                ("cpunumber", "2"),
                ("cpuspeed", "1000"),
                ("memory", "1024"),
            ],
        )
        .await["serviceoffering"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .ok(
            "updateVirtualMachine",
            &[("id", &vm), ("displayname", "Web One"), ("name", "web-1")],
        )
        .await;
    assert_eq!(r["virtualmachine"]["displayname"], "Web One");
    assert_eq!(r["virtualmachine"]["name"], "web-1");
    let e = c
        .err(
            "updateVirtualMachine",
            &[("id", &vm), ("name", "1bad")],
            431,
        )
        .await;
    assert!(e.contains("Invalid name"), "{e}");
    let e = c
        .err(
            "updateVirtualMachine",
            &[("id", &vm), ("haenable", "true")],
            431,
        )
        .await;
    assert!(e.contains("haenable"), "{e}");
    let r = c
        .ok(
            "changeServiceForVirtualMachine",
            &[("id", &vm), ("serviceofferingid", &big)],
        )
        .await;
    let v = &r["virtualmachine"];
    assert_eq!(
        (v["cpunumber"].as_i64(), v["memory"].as_i64()),
        (Some(2), Some(1024)),
        "{v}"
    );
    assert_eq!(v["serviceofferingname"], "big");
    let r = c
        .ok(
            "scaleVirtualMachine",
            &[("id", &vm), ("serviceofferingid", SMALL)],
        )
        .await;
    c.wait_job(r["jobid"].as_str().unwrap()).await;
    let l = c.ok("listVirtualMachines", &[("id", &vm)]).await;
    assert_eq!(l["virtualmachine"][0]["memory"], 512);
    // Running: the name and the offering wait for a stop; the display name does not.
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    db::vms::vm_set_state(
        &mut *conn,
        vm.parse().unwrap(),
        stratus_management::rules::vmstate::VmState::Running,
        None,
    )
    .await
    .unwrap();
    drop(conn);
    let e = c
        .err(
            "changeServiceForVirtualMachine",
            &[("id", &vm), ("serviceofferingid", &big)],
            431,
        )
        .await;
    assert!(e.contains("must be Stopped"), "{e}");
    let e = c
        .err(
            "updateVirtualMachine",
            &[("id", &vm), ("name", "web-2")],
            431,
        )
        .await;
    assert!(e.contains("should be stopped"), "{e}");
    c.ok(
        "updateVirtualMachine",
        &[("id", &vm), ("displayname", "Web 1")],
    )
    .await;
    let a = alice(&c).await;
    a.err(
        "updateVirtualMachine",
        &[("id", &vm), ("displayname", "mine")],
        431,
    )
    .await;
}
