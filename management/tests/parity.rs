//! CloudStack's catalogues and answers field for field (issue 22, item 7): the guest OS
//! catalogue CloudStack ships, listHypervisorCapabilities, listZones' capacities, and real
//! answers of every object carrying the CloudStack fields Stratus has the feature for
//! (`api/tests/cloudstack_fields/` holds CloudStack's field lists and what does not apply).

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;
use stratus_testkit::db as common;

use common::Client;

/// Every entry of a list answer, all pages (pagesize 100).
async fn all_pages(c: &Client, command: &str, key: &str, extra: &[(&str, &str)]) -> Vec<Value> {
    let mut out = vec![];
    for page in 1.. {
        let p = page.to_string();
        let mut args = vec![("page", p.as_str()), ("pagesize", "100")];
        args.extend_from_slice(extra);
        let v = c.ok(command, &args).await;
        let items = v[key].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        out.extend(items);
        assert!(page < 20, "{command} pages on forever");
    }
    out
}

/// CloudStack's guest OS names for KVM, as generated with migration 0033.
fn cloudstack_kvm_names() -> Vec<String> {
    include_str!("data/cloudstack_kvm_guest_os.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn guest_os_catalogue_is_cloudstacks() {
    let c = Client::admin().await;
    let kvm = cloudstack_kvm_names();
    assert_eq!(kvm.len(), 198, "the generated KVM list");

    // Paging walks the whole list; count is the total on every page.
    let all = all_pages(&c, "listOsTypes", "ostype", &[]).await;
    let first = c
        .ok("listOsTypes", &[("pagesize", "10"), ("page", "1")])
        .await;
    assert_eq!(first["count"].as_u64().unwrap() as usize, all.len());
    assert!(all.len() >= kvm.len(), "{} listed", all.len());
    assert_eq!(all.len(), 373, "one row per CloudStack display name");
    let names: HashSet<&str> = all
        .iter()
        .map(|o| o["description"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), all.len(), "no name twice");
    let missing: Vec<&String> = kvm.iter().filter(|n| !names.contains(n.as_str())).collect();
    assert!(missing.is_empty(), "KVM names not listed: {missing:?}");
    for well_known in [
        "Ubuntu 22.04 LTS",
        "Ubuntu 24.04 LTS",
        "Debian GNU/Linux 12 (64-bit)",
        "CentOS 7",
        "Windows Server 2022 (64-bit)",
        "Windows Server 2025",
        "Rocky Linux 8",
        "Other PV Virtio-SCSI (64-bit)",
        "Windows Server 2003 Enterprise Edition(64-bit)",
    ] {
        assert!(names.contains(well_known), "{well_known}");
    }
    // Rows that existed keep their ids (templates refer to them).
    let debian12 = c
        .ok(
            "listOsTypes",
            &[("description", "Debian GNU/Linux 12 (64-bit)")],
        )
        .await;
    assert_eq!(debian12["count"], 1);
    assert_eq!(
        debian12["ostype"][0]["id"],
        "00000000-0000-4000-8002-000000000011"
    );
    assert_eq!(debian12["ostype"][0]["oscategoryname"], "Debian");
    assert_eq!(
        debian12["ostype"][0]["name"],
        debian12["ostype"][0]["description"]
    );

    // CloudStack 4.21's categories: Fedora added; Novel, None and Unix retired.
    let cats = c.ok("listOsCategories", &[]).await;
    let cat_names: BTreeSet<&str> = cats["oscategory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cat_names,
        BTreeSet::from([
            "AlmaLinux",
            "CentOS",
            "Debian",
            "Fedora",
            "Oracle",
            "Other",
            "RedHat",
            "Rocky Linux",
            "SUSE",
            "Ubuntu",
            "Windows"
        ])
    );
    let fedora = cats["oscategory"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Fedora")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Filters over the bigger list: oscategoryid, keyword, id, description; with paging.
    let f = all_pages(&c, "listOsTypes", "ostype", &[("oscategoryid", &fedora)]).await;
    assert!(f.len() >= 5, "{f:?}");
    assert!(f.iter().all(|o| o["oscategoryname"] == "Fedora"));
    let w = c
        .ok(
            "listOsTypes",
            &[
                ("keyword", "windows server 20"),
                ("pagesize", "500"),
                ("page", "1"),
            ],
        )
        .await;
    let wn = w["count"].as_u64().unwrap();
    assert!(wn >= 10, "{w}");
    assert!(w["ostype"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["description"]
            .as_str()
            .unwrap()
            .starts_with("Windows Server 20")));
    let p2 = c
        .ok(
            "listOsTypes",
            &[
                ("keyword", "windows server 20"),
                ("pagesize", "4"),
                ("page", "2"),
            ],
        )
        .await;
    assert_eq!(p2["count"].as_u64().unwrap(), wn);
    assert_eq!(p2["ostype"].as_array().unwrap().len(), 4);
    let one = all
        .iter()
        .find(|o| o["description"] == "Rocky Linux 8")
        .unwrap();
    let by_id = c
        .ok("listOsTypes", &[("id", one["id"].as_str().unwrap())])
        .await;
    assert_eq!(by_id["count"], 1);
    assert_eq!(by_id["ostype"][0]["oscategoryname"], "Rocky Linux");
    let none = c.ok("listOsTypes", &[("description", "Windows 12")]).await;
    assert!(none.get("ostype").is_none(), "{none}");
}

#[tokio::test]
async fn hypervisor_capabilities_say_what_stratus_does() {
    let c = Client::admin().await;
    let l = c.ok("listHypervisorCapabilities", &[]).await;
    assert_eq!(l["count"], 1, "{l}");
    let kvm = &l["hypervisorCapabilities"][0];
    assert_eq!(kvm["hypervisor"], "KVM");
    assert_eq!(kvm["hypervisorversion"], "default");
    assert_eq!(kvm["securitygroupenabled"], false);
    assert_eq!(kvm["storagemotionenabled"], false);
    assert_eq!(kvm["vmsnapshotenabled"], false);
    assert_eq!(kvm["maxdatavolumeslimit"], 0, "no data volumes yet");
    // No cap on guests per host or hosts per cluster: left out, as CloudStack leaves NULL.
    assert!(kvm.get("maxguestslimit").is_none() && kvm.get("maxhostspercluster").is_none());
    let id = kvm["id"].as_str().unwrap();
    // Filters: id, hypervisor (any case), keyword; another hypervisor or id lists nothing.
    for args in [
        vec![("id", id)],
        vec![("hypervisor", "kvm")],
        vec![("keyword", "KV")],
    ] {
        assert_eq!(
            c.ok("listHypervisorCapabilities", &args).await["count"],
            1,
            "{args:?}"
        );
    }
    let other = uuid::Uuid::new_v4().to_string();
    for args in [
        vec![("id", other.as_str())],
        vec![("hypervisor", "VMware")],
        vec![("keyword", "xen")],
    ] {
        let v = c.ok("listHypervisorCapabilities", &args).await;
        assert!(v.get("hypervisorCapabilities").is_none(), "{args:?}: {v}");
    }
    let p2 = c
        .ok(
            "listHypervisorCapabilities",
            &[("page", "2"), ("pagesize", "1")],
        )
        .await;
    assert!(p2.get("hypervisorCapabilities").is_none(), "{p2}");
    c.err("listHypervisorCapabilities", &[("id", "nope")], 431)
        .await;
    // Root admins only, as CloudStack's.
    let u = c.user("hvcap").await;
    u.err("listHypervisorCapabilities", &[], 432).await;
}

#[tokio::test]
async fn zones_show_their_capacities() {
    let c = Client::admin().await;
    let (z1, _, _) = c.basic_topology("cap1").await;
    let (z2, _, _) = c.basic_topology("cap2").await;
    // Without showcapacities (or with false): no capacity field, as CloudStack.
    for args in [vec![], vec![("showcapacities", "false")]] {
        let l = c.ok("listZones", &args).await;
        assert!(l["zone"]
            .as_array()
            .unwrap()
            .iter()
            .all(|z| z.get("capacity").is_none()));
    }
    let l = c.ok("listZones", &[("showcapacities", "true")]).await;
    let zones = l["zone"].as_array().unwrap();
    assert_eq!(zones.len(), 2);
    for z in zones {
        let id = z["id"].as_str().unwrap();
        let caps = z["capacity"].as_array().unwrap();
        // The same entries listCapacity answers for that zone.
        let want = c.ok("listCapacity", &[("zoneid", id)]).await;
        assert_eq!(caps, want["capacity"].as_array().unwrap(), "{id}");
        assert!(caps
            .iter()
            .all(|k| k["zoneid"] == id && k["zonename"] == z["name"]));
        let types: Vec<i64> = caps.iter().map(|k| k["type"].as_i64().unwrap()).collect();
        assert_eq!(types, [0, 1, 2, 3, 6, 8, 90]);
        // No hosts yet: no memory or CPU.
        let mem = caps.iter().find(|k| k["type"] == 0).unwrap();
        assert_eq!(mem["capacitytotal"], 0, "{mem}");
    }
    // One zone by id carries only its own.
    let one = c
        .ok("listZones", &[("id", &z2), ("showcapacities", "true")])
        .await;
    assert!(one["zone"][0]["capacity"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["zoneid"] == z2.as_str()));
    let _ = z1;
    // Pods and clusters still refuse it, naming why.
    let t = c.err("listPods", &[("showcapacities", "true")], 431).await;
    assert!(t.contains("showcapacities"), "{t}");
}
