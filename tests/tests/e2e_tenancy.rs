//! Tenancy as Ansible sets it up (issue 22): the real `stratus-management` binary on its
//! embedded default, driven by the unmodified ngine_io.cloudstack collection (PyPI
//! `ansible`): cs_account, cs_user (a second user, locked), cs_resourcelimit (account and
//! domain), cs_configuration (global and account scope) and cs_domain (a tree with a
//! domain admin account), run twice — the second run changes nothing and the ids stay the same — and
//! what it set read back through the `cs` client.

use serde_json::Value;
use stratus_tests::{CsApi, Server};

const PLAYBOOK: &str = "tests/clients/ansible_tenancy.yml";

fn limit(k: &CsApi, kind: &str) -> Value {
    let l = k.ok(
        "listResourceLimits",
        &["account=tenant", &format!("resourcetypename={kind}")],
    );
    l["resourcelimit"][0]["max"].clone()
}

#[test]
fn ansible_sets_up_a_tenant_and_a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "tenancy-password");
    let k = CsApi::login(&server, "admin", "tenancy-password");
    let vars = serde_json::json!({ "tenant": "tenant" });

    let (changed, text) = k.ansible_playbook(PLAYBOOK, vars.clone(), home.path());
    assert_eq!(
        changed, 12,
        "every task changes something the first time:\n{text}"
    );
    let account = k.ok("listAccounts", &["name=tenant"]);
    let id = account["account"][0]["id"].clone();
    assert_eq!(account["account"][0]["vmlimit"], "10");
    assert_eq!(account["account"][0]["cpulimit"], "8");
    assert_eq!(account["account"][0]["primarystoragelimit"], "100");
    assert_eq!(account["account"][0]["vmtotal"], 0);
    let ops = k.ok("listUsers", &["username=tenant-ops"]);
    assert_eq!(ops["user"][0]["state"], "locked", "{ops}");
    assert_eq!(ops["user"][0]["account"], "tenant");
    assert_eq!(limit(&k, "user_vm"), 10);
    assert_eq!(limit(&k, "cpu"), 8);
    assert_eq!(limit(&k, "primary_storage"), 100);
    // The tenant's own setting, and the global default new accounts get.
    let scoped = k.ok(
        "listConfigurations",
        &[
            "name=allow.user.expunge.recover.vm",
            &format!("accountid={}", id.as_str().unwrap()),
        ],
    );
    assert_eq!(scoped["configuration"][0]["value"], "true", "{scoped}");
    assert_eq!(limit(&k, "memory"), 40960, "the default where none was set");
    k.ok(
        "createAccount",
        &[
            "accounttype=0",
            "email=n@example.org",
            "firstname=N",
            "lastname=Ew",
            "password=newcomer-1",
            "username=newcomer",
        ],
    );
    let newcomer = k.ok(
        "listResourceLimits",
        &["account=newcomer", "resourcetype=0"],
    );
    assert_eq!(newcomer["resourcelimit"][0]["max"], 5);

    // The domain tree, its domain admin and the domain's limit.
    let acme = k.ok("listDomains", &["name=acme"]);
    assert_eq!(acme["domain"][0]["path"], "ROOT/customers/acme", "{acme}");
    assert_eq!(acme["domain"][0]["vmlimit"], "20", "{acme}");
    let acme_id = acme["domain"][0]["id"].clone();
    let customers = k.ok("listDomains", &["name=customers"]);
    assert_eq!(customers["domain"][0]["networkdomain"], "customers.example");
    assert_eq!(customers["domain"][0]["haschild"], true);
    let da = k.ok(
        "listAccounts",
        &["name=acme-admin", "listall=true", "isrecursive=true"],
    );
    assert_eq!(da["account"][0]["accounttype"], 2, "{da}");
    assert_eq!(da["account"][0]["domainid"], acme_id);

    let (changed, text) = k.ansible_playbook(PLAYBOOK, vars, home.path());
    assert_eq!(changed, 0, "the second run must change nothing:\n{text}");
    assert_eq!(
        k.ok("listDomains", &["name=acme"])["domain"][0]["id"],
        acme_id
    );
    let again = k.ok("listAccounts", &["name=tenant"]);
    assert_eq!(again["account"][0]["id"], id);
    assert_eq!(limit(&k, "user_vm"), 10);
}
