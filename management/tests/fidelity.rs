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
        (_, "domainid") => Some(ROOT_DOMAIN.to_string()),
        (_, "accountid") => Some(ids.account.clone()),
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
        (_, "state") => Some(
            match command {
                "listVirtualMachines" | "listVirtualMachinesMetrics" => "Running",
                "listHosts" | "listHostsMetrics" => "Up",
                "listBackgroundTasks" => "OK",
                "listWorkflows" => "Running",
                "listAccounts" | "listUsers" => "enabled",
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
    zone: String,
    pod: String,
    cluster: String,
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
    let ids = Ids {
        account,
        zone,
        pod,
        cluster,
    };
    let mut failures = vec![];
    for spec in COMMANDS.iter().filter(|s| s.kind == ResponseKind::List) {
        let given: Vec<(String, String)> = spec
            .params
            .iter()
            .filter(|p| p.refused.is_none())
            .map(|p| (p.name.to_string(), value_for(spec.name, p.name, p.kind, &ids)))
            .collect();
        // Mutually exclusive parameters: the first of each group in the main call, each
        // other one in a call of its own.
        let exclusive: &[&str] = match spec.name {
            "listConfigurations" => &["zoneid", "clusterid", "accountid", "domainid"],
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
            if a.status != 200 {
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
            assert!(!p.required, "{}.{} is required and refused", spec.name, p.name);
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
            // Required parameters are absent: the refusal comes first or the missing
            // parameter does; give the refused one alone to see it.
            let a = c.call(spec.name, &[(key.as_str(), value.as_str())]).await;
            if spec.params.iter().any(|q| q.required) {
                assert_eq!(a.status, 431, "{}: {}", spec.name, a.text);
                continue;
            }
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
    // A boolean asks for the feature only when true.
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
    assert_eq!(z["zone"]["securitygroupsenabled"], false);
    let t = c
        .err(
            "createZone",
            &[
                ("name", "sg"),
                ("networktype", "Basic"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
                ("securitygroupenabled", "true"),
            ],
            431,
        )
        .await;
    assert!(t.contains("securitygroupenabled") && t.contains("security groups"), "{t}");
    // listApis still describes refused parameters, with the reason.
    let apis = c
        .ok("listApis", &[("name", "deployVirtualMachine")])
        .await;
    let sg = apis["api"][0]["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "securitygroupids")
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

/// deployVirtualMachine with security or affinity groups is refused before anything is
/// recorded; a Basic zone says it has no security groups, in listZones and
/// listCapabilities.
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
    for (name, value) in [
        ("securitygroupids", uuid::Uuid::new_v4().to_string()),
        ("securitygroupnames", "default".to_string()),
        ("affinitygroupids", uuid::Uuid::new_v4().to_string()),
        ("affinitygroupnames", "ag1".to_string()),
        ("projectid", uuid::Uuid::new_v4().to_string()),
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
    assert_eq!(z["zone"][0]["securitygroupsenabled"], false, "{z}");
    let caps = c.ok("listCapabilities", &[]).await;
    assert_eq!(caps["capability"]["securitygroupsenabled"], false);
}

pub fn items<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}
