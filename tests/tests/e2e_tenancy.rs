//! Tenancy and the seed's admin flow as Ansible sets them up (issue 22): the real
//! `stratus-management` binary on its embedded default, driven by the unmodified
//! ngine_io.cloudstack collection (PyPI `ansible`). Tenancy: cs_account, cs_user (a second
//! user, locked), cs_resourcelimit (account and domain), cs_configuration (global and
//! account scope), cs_domain (a tree with a domain admin account in it) and cs_project (an
//! active and a suspended project of the tenant's). The admin
//! flow: cs_zone, cs_pod, cs_cluster, cs_vlan_ip_range, cs_storage_pool and cs_image_store
//! (NFS on the test bed), cs_iso, cs_service_offering, cs_disk_offering and
//! cs_configuration at global, zone, cluster, account and storage pool scope. Each
//! playbook runs twice — the second run changes nothing and the ids stay the same — and
//! what it set is read back through the `cs` client.

use serde_json::{json, Value};
use stratus_tests::{CsApi, HttpFiles, NfsServer, Served, Server};

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
        changed, 14,
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

    // The tenant's projects, owned by its account.
    let projects = |name: &str| {
        let p = k.ok("listProjects", &["listall=true", &format!("name={name}")]);
        assert_eq!(p["count"], 1, "{p}");
        p["project"][0].clone()
    };
    let web = projects("tenant-web");
    assert_eq!(web["state"], "Active", "{web}");
    assert_eq!(web["displaytext"], "The tenant's web servers");
    assert_eq!(web["owner"][0]["account"], "tenant", "{web}");
    assert_eq!(web["vmlimit"], "20", "max.project.user.vms");
    assert_eq!(projects("tenant-lab")["state"], "Suspended");

    let (changed, text) = k.ansible_playbook(PLAYBOOK, vars, home.path());
    assert_eq!(changed, 0, "the second run must change nothing:\n{text}");
    assert_eq!(
        k.ok("listDomains", &["name=acme"])["domain"][0]["id"],
        acme_id
    );
    assert_eq!(projects("tenant-web")["id"], web["id"]);
    let again = k.ok("listAccounts", &["name=tenant"]);
    assert_eq!(again["account"][0]["id"], id);
    assert_eq!(limit(&k, "user_vm"), 10);
}

const ADMIN_PLAYBOOK: &str = "tests/clients/ansible_admin.yml";
/// This test's NFS server on the test bed (docs/testbed.md, "Who uses which address").
const ADMIN_NFS_INDEX: u8 = 217;
const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
/// The playbook's tasks: each changes something on the first run.
const ADMIN_TASKS: u32 = 16;

/// The one item a list answers (asserting there is exactly one).
fn one(k: &CsApi, command: &str, key: &str, args: &[&str]) -> Value {
    let l = k.ok(command, args);
    assert_eq!(l["count"], 1, "{command} {args:?}: {l}");
    l[key][0].clone()
}

/// A setting's value as listConfigurations answers it at a scope (`zoneid=…`) or globally.
fn setting(k: &CsApi, name: &str, scope: Option<&str>) -> Value {
    let mut args = vec![format!("name={name}")];
    args.extend(scope.map(str::to_string));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = one(k, "listConfigurations", "configuration", &a);
    assert_eq!(c["name"], name);
    c
}

/// The ids of what the playbook made, by name.
fn admin_ids(k: &CsApi) -> Vec<(&'static str, Value)> {
    vec![
        (
            "zone",
            one(k, "listZones", "zone", &["name=seed"])["id"].clone(),
        ),
        (
            "pod",
            one(k, "listPods", "pod", &["name=seed-pod1"])["id"].clone(),
        ),
        (
            "cluster",
            one(k, "listClusters", "cluster", &["name=seed-cluster1"])["id"].clone(),
        ),
        (
            "pool",
            one(k, "listStoragePools", "storagepool", &["name=seed-primary"])["id"].clone(),
        ),
        (
            "store",
            one(k, "listImageStores", "imagestore", &["name=seed-secondary"])["id"].clone(),
        ),
        (
            "iso",
            one(k, "listIsos", "iso", &["name=seed-ipxe", "isofilter=all"])["id"].clone(),
        ),
        ("iso for every zone", {
            // One row per zone, all of the one ISO.
            let l = k.ok("listIsos", &["name=seed-ipxe-all", "isofilter=all"]);
            assert_eq!(l["count"], 2, "{l}");
            assert_eq!(l["iso"][0]["id"], l["iso"][1]["id"]);
            l["iso"][0]["id"].clone()
        }),
        (
            "service offering",
            one(
                k,
                "listServiceOfferings",
                "serviceoffering",
                &["name=seed-medium"],
            )["id"]
                .clone(),
        ),
        (
            "disk offering",
            one(k, "listDiskOfferings", "diskoffering", &["name=seed-20gb"])["id"].clone(),
        ),
    ]
}

/// The seed's admin flow (chapter 2) as Ansible runs it (issue 22): a second zone next to
/// the one the cloud has, with a pod, a KVM cluster, the Basic zone's guest range, NFS
/// primary and secondary storage on the test bed's NFS server, an ISO downloaded from a
/// local HTTP server, compute and disk offerings, and settings at global, zone, cluster,
/// account and storage pool scope; run twice, the second run changes nothing and every
/// id stays the same; what it made is read back through the `cs` client.
#[test]
fn ansible_builds_a_zone_as_the_seed_does_and_a_second_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2eans",
        ADMIN_NFS_INDEX,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "admin-flow-password");
    let k = CsApi::login(&server, "admin", "admin-flow-password");
    k.allow_loopback_downloads();
    // The cloud's first zone (the embedded default's `default`), which must stay as it is.
    let default = k.ok(
        "createZone",
        &[
            "name=default",
            "networktype=Basic",
            "dns1=10.231.0.1",
            "internaldns1=10.231.0.1",
        ],
    )["zone"]
        .clone();
    let http = HttpFiles::start(vec![("/ipxe.iso", Served::File(IPXE.into()))]);
    let vars = serde_json::json!({
        "zone": "seed",
        "primary_url": nfs.url(&primary),
        "secondary_url": nfs.url(&secondary),
        "iso_url": http.url("/ipxe.iso"),
    });

    let started = std::time::Instant::now();
    let (changed, text) = k.ansible_playbook(ADMIN_PLAYBOOK, vars.clone(), home.path());
    assert_eq!(
        changed, ADMIN_TASKS,
        "every task changes something the first time:\n{text}"
    );
    let first = started.elapsed();
    let ids = admin_ids(&k);
    let id = |what: &str| {
        ids.iter()
            .find(|(w, _)| *w == what)
            .unwrap()
            .1
            .as_str()
            .unwrap()
            .to_string()
    };
    let (zone, pod, cluster, pool) = (id("zone"), id("pod"), id("cluster"), id("pool"));

    // What each task made, as the API answers it.
    let zones = k.ok("listZones", &[]);
    assert_eq!(zones["count"], 2, "{zones}");
    let still = one(&k, "listZones", "zone", &["name=default"]);
    assert_eq!(
        (&still["id"], &still["dns1"], &still["allocationstate"]),
        (
            &default["id"],
            &default["dns1"],
            &default["allocationstate"]
        )
    );
    let z = one(&k, "listZones", "zone", &[&format!("id={zone}")]);
    assert_eq!(z["networktype"], "Basic");
    assert_eq!(z["dns1"], "8.8.8.8");
    assert_eq!(z["dns2"], "8.8.4.4");
    assert_eq!(z["internaldns1"], "10.231.0.1");
    assert_eq!(
        z["allocationstate"], "Enabled",
        "enabled last, as the seed does"
    );
    let p = one(&k, "listPods", "pod", &[&format!("id={pod}")]);
    assert_eq!(p["zoneid"], zone.as_str());
    assert_eq!(p["gateway"], "192.168.217.1");
    assert_eq!(p["netmask"], "255.255.255.0");
    let c = one(&k, "listClusters", "cluster", &[&format!("id={cluster}")]);
    assert_eq!(
        (c["podid"].as_str(), c["zoneid"].as_str()),
        (Some(pod.as_str()), Some(zone.as_str()))
    );
    assert_eq!(c["hypervisortype"], "KVM");
    assert_eq!(c["clustertype"], "CloudManaged");
    let r = one(
        &k,
        "listVlanIpRanges",
        "vlaniprange",
        &[&format!("zoneid={zone}")],
    );
    assert_eq!(r["podid"], pod.as_str());
    assert_eq!(
        (
            r["startip"].as_str(),
            r["endip"].as_str(),
            r["gateway"].as_str()
        ),
        (
            Some("192.168.217.131"),
            Some("192.168.217.140"),
            Some("192.168.217.1")
        )
    );
    assert_eq!(r["forvirtualnetwork"], false);
    let sp = one(
        &k,
        "listStoragePools",
        "storagepool",
        &[&format!("id={pool}")],
    );
    assert_eq!(sp["state"], "Up", "{sp}");
    assert_eq!(sp["type"], "NetworkFilesystem");
    assert_eq!(sp["scope"], "CLUSTER");
    assert_eq!(sp["clusterid"], cluster.as_str());
    assert_eq!(sp["ipaddress"], nfs.address.as_str());
    assert_eq!(sp["path"], primary.display().to_string());
    assert!(sp["disksizetotal"].as_i64().unwrap() > 0, "{sp}");
    let st = one(
        &k,
        "listImageStores",
        "imagestore",
        &[&format!("zoneid={zone}")],
    );
    assert_eq!(st["protocol"], "nfs");
    assert_eq!(st["providername"], "NFS");
    assert_eq!(st["url"], nfs.url(&secondary));
    let so = one(
        &k,
        "listServiceOfferings",
        "serviceoffering",
        &["name=seed-medium"],
    );
    assert_eq!(
        (&so["cpunumber"], &so["cpuspeed"], &so["memory"]),
        (&Value::from(2), &Value::from(1000), &Value::from(2048)),
        "{so}"
    );
    assert_eq!(so["storagetype"], "shared");
    assert_eq!(so["displaytext"], "Medium Instance (2 cores, 2 GiB)");
    let d = one(&k, "listDiskOfferings", "diskoffering", &["name=seed-20gb"]);
    assert_eq!(d["disksize"], 20, "{d}");
    assert_eq!(d["iscustomized"], false);
    // The ISO is downloaded into the new zone's secondary storage.
    let size = std::fs::metadata(IPXE).unwrap().len();
    let iso = stratus_tests::wait_for("the ISO Ready in the new zone", 60, || {
        let i = one(&k, "listIsos", "iso", &["name=seed-ipxe", "isofilter=all"]);
        (i["isready"] == true).then_some(i)
    });
    assert_eq!(iso["zoneid"], zone.as_str());
    assert_eq!(iso["bootable"], true);
    assert_eq!(iso["ostypename"], "Other (64-bit)");
    assert_eq!(iso["size"], size, "{iso}");
    let everywhere = k.ok("listIsos", &["name=seed-ipxe-all", "isofilter=all"]);
    let mut in_zones: Vec<&str> = everywhere["iso"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(
                (&i["crossZones"], &i["isfeatured"]),
                (&json!(true), &json!(true))
            );
            i["zonename"].as_str().unwrap()
        })
        .collect();
    in_zones.sort();
    assert_eq!(in_zones, ["default", "seed"], "{everywhere}");
    // Settings: each at its scope, the global values beside them as they were.
    assert_eq!(setting(&k, "expunge.delay", None)["value"], "600");
    let at_zone = setting(&k, "guest.domain.suffix", Some(&format!("zoneid={zone}")));
    assert_eq!(
        (at_zone["value"].as_str(), at_zone["scope"].as_str()),
        (Some("seed.internal"), Some("zone"))
    );
    assert_eq!(
        setting(&k, "guest.domain.suffix", None)["value"],
        "cloud.internal"
    );
    let at_cluster = setting(
        &k,
        "cpu.overprovisioning.factor",
        Some(&format!("clusterid={cluster}")),
    );
    assert_eq!(
        (at_cluster["value"].as_str(), at_cluster["scope"].as_str()),
        (Some("2.5"), Some("cluster"))
    );
    assert_eq!(c["cpuovercommitratio"], "2.5", "the cluster's factor: {c}");
    assert_eq!(
        setting(&k, "cpu.overprovisioning.factor", None)["value"],
        "1.0"
    );
    let admin = one(&k, "listAccounts", "account", &["name=admin"])["id"].clone();
    let at_account = setting(
        &k,
        "allow.user.expunge.recover.vm",
        Some(&format!("accountid={}", admin.as_str().unwrap())),
    );
    assert_eq!(
        (at_account["value"].as_str(), at_account["scope"].as_str()),
        (Some("true"), Some("account"))
    );
    let at_pool = setting(
        &k,
        "storage.overprovisioning.factor",
        Some(&format!("storageid={pool}")),
    );
    assert_eq!(
        (at_pool["value"].as_str(), at_pool["scope"].as_str()),
        (Some("3"), Some("storagepool"))
    );
    assert_eq!(sp["overprovisionfactor"], "3.0", "the pool's factor: {sp}");
    assert_eq!(
        setting(&k, "storage.overprovisioning.factor", None)["value"],
        "2"
    );

    let started = std::time::Instant::now();
    let (changed, text) = k.ansible_playbook(ADMIN_PLAYBOOK, vars, home.path());
    assert_eq!(changed, 0, "the second run must change nothing:\n{text}");
    eprintln!(
        "the admin playbook: first run {:.1} s, second {:.1} s",
        first.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(admin_ids(&k), ids, "the second run made nothing new");
    assert_eq!(k.ok("listZones", &[])["count"], 2);
    assert_eq!(
        k.ok("listIsos", &["isofilter=all"])["count"],
        3,
        "one ISO in the new zone, one in both"
    );
}
