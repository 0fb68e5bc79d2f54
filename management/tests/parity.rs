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
