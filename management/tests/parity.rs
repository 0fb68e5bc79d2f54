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
    let (z1, p1, c1) = c.basic_topology("cap1").await;
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

    // Pods and clusters: the same entries (no secondary storage, which is the zone's; a
    // cluster no guest addresses, which are its pod's), counted over their own hosts,
    // pools and ranges.
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &z1),
            ("podid", &p1),
            ("gateway", "10.0.0.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "10.0.0.100"),
            ("endip", "10.0.0.109"),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    let c2 = c
        .ok(
            "addCluster",
            &[
                ("zoneid", &z1),
                ("podid", &p1),
                ("clustername", "c2"),
                ("clustertype", "CloudManaged"),
                ("hypervisor", "KVM"),
            ],
        )
        .await["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    up_host(&c, &z1, &p1, &c1).await;
    let l = c.ok("listPods", &[("zoneid", &z1)]).await;
    assert!(l["pod"][0].get("capacity").is_none(), "{l}");
    let pod = first(
        &c.ok("listPods", &[("id", &p1), ("showcapacities", "true")])
            .await,
        "pod",
    );
    let caps = pod["capacity"].as_array().unwrap();
    let types: Vec<i64> = caps.iter().map(|k| k["type"].as_i64().unwrap()).collect();
    assert_eq!(types, [0, 1, 2, 3, 8, 90], "{pod}");
    assert!(caps
        .iter()
        .all(|k| k["podid"] == p1.as_str() && k["zoneid"] == z1.as_str()));
    let of = |caps: &[Value], t: i64| caps.iter().find(|k| k["type"] == t).unwrap().clone();
    assert_eq!(of(caps, 8)["capacitytotal"], 10, "the pod's guest range");
    assert_eq!(of(caps, 90)["capacitytotal"], 8, "the host's cores");
    let zone_caps = c.ok("listCapacity", &[("zoneid", &z1)]).await["capacity"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        of(caps, 0)["capacitytotal"],
        of(&zone_caps, 0)["capacitytotal"],
        "the zone's one host is the pod's"
    );
    let clusters = c
        .ok(
            "listClusters",
            &[("podid", &p1), ("showcapacities", "true")],
        )
        .await;
    let clusters = clusters["cluster"].as_array().unwrap();
    assert_eq!(clusters.len(), 2);
    for cl in clusters {
        let caps = cl["capacity"].as_array().unwrap();
        let types: Vec<i64> = caps.iter().map(|k| k["type"].as_i64().unwrap()).collect();
        assert_eq!(types, [0, 1, 2, 3, 90], "{cl}");
        assert!(caps.iter().all(|k| k["clusterid"] == cl["id"]));
        let cores = &of(caps, 90)["capacitytotal"];
        if cl["id"] == c1.as_str() {
            assert_eq!(*cores, 8, "{cl}");
            assert_eq!(
                of(caps, 0)["capacitytotal"],
                of(&zone_caps, 0)["capacitytotal"]
            );
        } else {
            assert_eq!(cl["id"], c2.as_str());
            assert_eq!(*cores, 0, "no host in {cl}");
            assert_eq!(of(caps, 0)["capacitytotal"], 0);
        }
    }
}

/// CloudStack's fields of `object` that Stratus answers: its list less what is `na` or
/// `later` (api/tests/cloudstack_fields).
fn answered_fields(object: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../api/tests/cloudstack_fields")
        .join(format!("{object}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut fields = vec![];
    let mut excused = HashSet::new();
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("field", f)) => fields.push(f.to_string()),
            Some(("na" | "later", rest)) => {
                excused.insert(rest.split_once(':').unwrap().0.to_string());
            }
            _ => {}
        }
    }
    fields.retain(|f| !excused.contains(f));
    fields
}

/// Which of `object`'s answered fields `answer` lacks, less those `absent` allows (each
/// with why this answer may lack it).
fn lacking(object: &str, answer: &Value, absent: &[(&str, &str)]) -> Vec<String> {
    let obj = answer
        .as_object()
        .unwrap_or_else(|| panic!("{object}: not an object: {answer}"));
    answered_fields(object)
        .into_iter()
        .filter(|f| !obj.contains_key(f) && !absent.iter().any(|(a, _)| a == f))
        .map(|f| format!("{object}: {f} missing from {answer}"))
        .collect()
}

fn first(v: &Value, key: &str) -> Value {
    v[key]
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// One object's check: its list's name, a real answer, and the fields that answer may
/// lack, each with why.
type Check = (&'static str, Value, Vec<(&'static str, &'static str)>);

/// The async job answer names the management server that ran it.
fn deploy_job_name_is_set(checks: &[Check]) -> bool {
    let j = &checks.iter().find(|c| c.0 == "asyncjob").unwrap().1;
    j["managementservername"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
}

/// An Up host in the cluster (registered and heartbeating, no agent needed).
async fn up_host(c: &Client, zone: &str, pod: &str, cluster: &str) -> String {
    use stratus_api::agent::{Acceleration, Heartbeat, HostFacts, HostMetrics, PROTOCOL_VERSION};
    use stratus_management::{db, services::hosts};
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let (h, token) = hosts::register(
        &c.ctx,
        &admin,
        zone.parse().unwrap(),
        pod.parse().unwrap(),
        cluster.parse().unwrap(),
        "192.0.2.77".parse().unwrap(),
        8250,
        "parity-host",
    )
    .await
    .unwrap();
    let beat = Heartbeat {
        protocol: PROTOCOL_VERSION,
        generation: 1,
        facts: HostFacts {
            hostname: "sim".into(),
            arch: "x86_64".into(),
            cpu_sockets: 1,
            cpu_cores: 8,
            cpu_mhz: 2000,
            memory_bytes: 16 << 30,
            os: "test".into(),
            kernel: "test".into(),
            libvirt_version: "9.0.0".into(),
            hypervisor_version: "7.2.0".into(),
            acceleration: Acceleration::Kvm,
            agent_version: "0".into(),
        },
        metrics: HostMetrics {
            cpu_used_percent: 5.0,
            memory_used_bytes: 1 << 30,
            network_rx_bytes: 4096,
            network_tx_bytes: 4096,
        },
        domains: vec![],
        domain_stats: vec![],
        sg_generation: None,
    };
    hosts::heartbeat(&c.ctx, h.id, Some(&token), &beat, None)
        .await
        .unwrap();
    h.id.to_string()
}

/// One real answer of every object, each holding every CloudStack field Stratus says it
/// answers (its list less `na` and `later`), save those this answer may lack, each said why.
/// A field added to a struct but never filled fails here.
#[tokio::test]
async fn real_answers_carry_cloudstacks_fields() {
    use stratus_management::db;
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let (zone, iso) = c.deployable_iso("pz").await;
    let z = first(
        &c.ok("listZones", &[("id", &zone), ("showcapacities", "true")])
            .await,
        "zone",
    );
    let pod = first(
        &c.ok("listPods", &[("zoneid", &zone), ("showcapacities", "true")])
            .await,
        "pod",
    );
    let podid = pod["id"].as_str().unwrap().to_string();
    let cluster = first(
        &c.ok(
            "listClusters",
            &[("zoneid", &zone), ("showcapacities", "true")],
        )
        .await,
        "cluster",
    );
    let clusterid = cluster["id"].as_str().unwrap().to_string();
    let hostid = up_host(&c, &zone, &podid, &clusterid).await;
    c.ok("updateHost", &[("id", &hostid), ("hosttags", "fast")])
        .await;
    let vlan = c
        .ok(
            "createVlanIpRange",
            &[
                ("zoneid", &zone),
                ("podid", &podid),
                ("gateway", "10.0.1.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.0.1.10"),
                ("endip", "10.0.1.50"),
                ("forvirtualnetwork", "false"),
            ],
        )
        .await["vlan"]
        .clone();
    // A primary pool in the cluster (a row: no NFS server here), with a tag.
    let pool = db::storage::PoolRow {
        id: uuid::Uuid::new_v4().into(),
        name: "pp".into(),
        zone_id: zone.parse().unwrap(),
        pod_id: Some(podid.parse().unwrap()),
        cluster_id: Some(clusterid.parse().unwrap()),
        scope: "CLUSTER".into(),
        url: "nfs://127.0.0.1/export/pp".into(),
        server: "127.0.0.1".into(),
        path: "/export/pp".into(),
        tags: vec!["gold".into()],
        state: stratus_management::rules::poolstate::PoolState::Up,
        capacity_bytes: 1 << 40,
        used_bytes: 1 << 30,
        allocated_bytes: 0,
        stats_at: None,
        stats_error: None,
        created: chrono::Utc::now(),
        zone_name: String::new(),
        pod_name: None,
        cluster_name: None,
    };
    db::storage::pool_insert(&c.ctx.pool, &pool).await.unwrap();
    let so = c
        .ok(
            "createServiceOffering",
            &[
                ("name", "par"),
                ("displaytext", "parity"),
                ("cpunumber", "1"),
                ("cpuspeed", "500"),
                ("memory", "256"),
                ("hosttags", "fast"),
                ("tags", "gold"),
            ],
        )
        .await["serviceoffering"]
        .clone();
    let so_id = so["id"].as_str().unwrap().to_string();
    let dof = c
        .ok(
            "createDiskOffering",
            &[("name", "pard"), ("disksize", "5"), ("tags", "gold")],
        )
        .await["diskoffering"]
        .clone();
    let dof_id = dof["id"].as_str().unwrap().to_string();
    c.ok("createSSHKeyPair", &[("name", "pk")]).await;
    c.ok(
        "registerUserData",
        &[("name", "pud"), ("userdata", "I2Nsb3VkLWNvbmZpZwo=")],
    )
    .await;
    // A VM from the ISO, then placed on the host and Running, with its root volume.
    let j = c
        .ok(
            "deployVirtualMachine",
            &[
                ("zoneid", &zone),
                ("serviceofferingid", &so_id),
                ("templateid", &iso),
                ("diskofferingid", &dof_id),
                ("keypair", "pk"),
                ("startvm", "false"),
            ],
        )
        .await;
    let job = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(job["jobstatus"], 1, "{job}");
    let vmid = job["jobresult"]["virtualmachine"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sqlx::query("UPDATE vms SET host_id = $1::uuid, last_host_id = $1::uuid, state = 'Running' WHERE id = $2::uuid")
        .bind(&hostid)
        .bind(&vmid)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let net = first(&c.ok("listNetworks", &[("zoneid", &zone)]).await, "network");
    let mut tx = c.ctx.pool.begin().await.unwrap();
    db::nics::nic_allocate_in_txn(
        &mut tx,
        vmid.parse().unwrap(),
        net["id"].as_str().unwrap().parse().unwrap(),
    )
    .await
    .unwrap()
    .expect("a guest address");
    tx.commit().await.unwrap();
    db::volumes::volume_insert(
        &c.ctx.pool,
        &db::volumes::VolumeRow {
            id: uuid::Uuid::new_v4().into(),
            vm_id: Some(vmid.parse().unwrap()),
            name: "ROOT-1".into(),
            volume_type: "ROOT".into(),
            pool_id: pool.id,
            path: "root-1.qcow2".into(),
            size_bytes: 5 << 30,
            state: stratus_management::rules::states::VolumeState::Ready,
            created: chrono::Utc::now(),
            removed: None,
            template_id: None,
        },
    )
    .await
    .unwrap();
    let template = c
        .ok(
            "registerTemplate",
            &[
                ("name", "ptpl"),
                ("displaytext", "parity template"),
                ("zoneid", &zone),
                ("url", "http://127.0.0.1:9/p.qcow2"),
                ("format", "QCOW2"),
                ("hypervisor", "KVM"),
                ("ostypeid", "00000000-0000-4000-8002-000000000011"),
            ],
        )
        .await["template"][0]
        .clone();
    let pj = c
        .ok(
            "createProject",
            &[("name", "pp"), ("displaytext", "parity")],
        )
        .await;
    let project = c.wait_job(pj["jobid"].as_str().unwrap()).await["jobresult"]["project"].clone();
    let user = c.user("paru").await;
    let vm = first(
        &c.ok("listVirtualMachines", &[("id", &vmid)]).await,
        "virtualmachine",
    );
    // listNics answers the VM's NIC as listVirtualMachines shows it.
    let nic = first(
        &c.ok("listNics", &[("virtualmachineid", &vmid)]).await,
        "nic",
    );
    assert_eq!(nic, vm["nic"][0], "listNics and listVirtualMachines' nic");

    let jobs = c.ok("listAsyncJobs", &[]).await;
    let deploy_job = jobs["asyncjobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["jobinstancetype"] == "VirtualMachine")
        .cloned()
        .unwrap_or_else(|| panic!("{jobs}"));

    // Each object: (its list's name, a real answer, what that answer may lack and why).
    let ip_state = "the VM is Running on a host, so it has no ISO-only or stopped-only field";
    let _ = ip_state;
    let checks: Vec<Check> = vec![
        ("zone", z, vec![
            ("ip6dns1", "the zone was created without IPv6 DNS"),
            ("ip6dns2", "the zone was created without IPv6 DNS"),
            ("dns2", "the zone was created with one DNS"),
            ("internaldns2", "the zone was created with one internal DNS"),
            ("guestcidraddress", "a Basic zone has none"),
            ("domain", "no network domain was set"),
            ("description", "no description was given"),
            ("displaytext", "no description was given"),
        ]),
        ("pod", pod, vec![]),
        ("cluster", cluster, vec![
            ("arch", "the cluster has no host that said its arch when listed"),
        ]),
        ("host", first(&c.ok("listHosts", &[("id", &hostid)]).await, "host"), vec![
            ("disconnected", "the host is Up: it has not disconnected"),
        ]),
        ("vlaniprange", vlan, vec![
            ("account", "the range is not dedicated"),
            ("domainid", "the range is not dedicated"),
            ("domain", "the range is not dedicated"),
            ("description", "no description was given"),
            ("physicalnetworkid", "a Basic zone's guest range rides no physical network (Advanced zones' public ranges do)"),
        ]),
        ("storagepool", first(&c.ok("listStoragePools", &[("id", &pool.id.to_string())]).await, "storagepool"), vec![]),
        ("imagestore", first(&c.ok("listImageStores", &[]).await, "imagestore"), vec![]),
        ("account", first(&c.ok("listAccounts", &[("name", "paru")]).await, "account"), vec![
            ("networkdomain", "no network domain was set"),
        ]),
        ("user", first(&c.ok("listUsers", &[("username", "paru")]).await, "user"), vec![
            ("apikey", "answered only to the user and root admins when keys exist: listed by the admin it is present; see below"),
            ("timezone", "none was set"),
        ]),
        ("domain", first(&c.ok("listDomains", &[("name", "ROOT")]).await, "domain"), vec![
            ("parentdomainid", "ROOT has no parent"),
            ("parentdomainname", "ROOT has no parent"),
            ("networkdomain", "no network domain was set"),
        ]),
        ("role", first(&c.ok("listRoles", &[]).await, "role"), vec![]),
        ("serviceoffering", first(&c.ok("listServiceOfferings", &[("id", &so_id)]).await, "serviceoffering"), vec![
            ("domainid", "public: offered to every domain"),
            ("domain", "public: offered to every domain"),
        ]),
        ("diskoffering", first(&c.ok("listDiskOfferings", &[("id", &dof_id)]).await, "diskoffering"), vec![
            ("domainid", "public: offered to every domain"),
            ("domain", "public: offered to every domain"),
        ]),
        ("networkoffering", first(&c.ok("listNetworkOfferings", &[]).await, "networkoffering"), vec![
            ("zoneid", "offered in every zone (CloudStack names zones only for restricted offerings)"),
            ("zone", "offered in every zone (CloudStack names zones only for restricted offerings)"),
            ("tags", "the default offerings have no tags"),
            ("networkrate", "the default offerings set no rate limit"),
            ("maxconnections", "the default offerings set no connection limit"),
        ]),
        ("template", first(&c.ok("listTemplates", &[("templatefilter", "self"), ("id", template["id"].as_str().unwrap())]).await, "template"), vec![
            ("removed", "not removed"),
            ("size", "not downloaded yet (no secondary storage answers here)"),
            ("physicalsize", "not downloaded yet"),
            ("checksum", "none was given"),
            ("details", "none were given"),
            ("projectid", "the admin's, not a project's"),
            ("project", "the admin's, not a project's"),
        ]),
        ("iso", first(&c.ok("listIsos", &[("id", &iso)]).await, "iso"), vec![
            ("checksum", "none was given"),
            ("projectid", "the admin's, not a project's"),
            ("project", "the admin's, not a project's"),
        ]),
        ("ostype", first(&c.ok("listOsTypes", &[]).await, "ostype"), vec![]),
        ("oscategory", first(&c.ok("listOsCategories", &[]).await, "oscategory"), vec![]),
        ("virtualmachine", vm.clone(), vec![
            ("templatetype", ""), // checked below, with the ISO's own values
            ("password", "answered once, by the command that set it"),
            ("userdata", "answered only with userdata=true"),
            ("userdataid", "deployed without user data"),
            ("userdataname", "deployed without user data"),
            ("userdatapolicy", "deployed without user data"),
            ("cpuused", "no stats sample yet"),
            ("networkkbsread", "no stats sample yet"),
            ("networkkbswrite", "no stats sample yet"),
            ("diskkbsread", "no stats sample yet"),
            ("diskkbswrite", "no stats sample yet"),
            ("diskioread", "no stats sample yet"),
            ("diskiowrite", "no stats sample yet"),
            ("memorykbs", "no stats sample yet"),
            ("memoryintfreekbs", "no stats sample yet"),
            ("projectid", "not a project's"),
            ("project", "not a project's"),
        ]),
        ("nic", nic.clone(), vec![]),
        ("volume", first(&c.ok("listVolumes", &[("virtualmachineid", &vmid)]).await, "volume"), vec![
            ("physicalsize", "not measured: no storage pass has run (management/tests/volumes.rs measures it)"),
            ("templateid", "its VM was deployed from an ISO: no template under it"),
            ("templatename", "its VM was deployed from an ISO: no template under it"),
            ("templatedisplaytext", "its VM was deployed from an ISO: no template under it"),
            ("projectid", "not a project's"),
            ("project", "not a project's"),
        ]),
        ("network", first(&c.ok("listNetworks", &[("zoneid", &zone)]).await, "network"), vec![
            ("vlan", "a Basic zone's network is untagged"),
            ("broadcasturi", "a Basic zone's network is untagged"),
            ("dns2", "the zone was created with one DNS"),
            ("related", "a Basic zone's network relates to none"),
            ("ip6dns1", "the zone was created without IPv6 DNS"),
            ("ip6dns2", "the zone was created without IPv6 DNS"),
            ("networkdomain", "the zone was created without a network domain"),
            ("account", "a Basic zone's network is its domain's (acltype Domain), no account's"),
            ("projectid", "a Basic zone's network is its domain's, no project's"),
            ("project", "a Basic zone's network is its domain's, no project's"),
            ("physicalnetworkid", "Stratus's Basic zones have no physical network record (Advanced zones do)"),
        ]),
        ("project", project.clone(), vec![]),
        ("resourcelimit", first(&c.ok("listResourceLimits", &[]).await, "resourcelimit"), vec![
            ("projectid", "an account's limit"),
            ("project", "an account's limit"),
            ("domainpath", "an account's limit names its domain by id and name"),
        ]),
        ("event", first(&c.ok("listEvents", &[]).await, "event"), vec![
            ("parentid", "a top-level event"),
        ]),
        ("asyncjob", deploy_job, vec![]),
        ("sshkeypair", first(&c.ok("listSSHKeyPairs", &[("name", "pk")]).await, "sshkeypair"), vec![
            ("privatekey", "answered only by createSSHKeyPair"),
        ]),
        ("userdata", first(&c.ok("listUserData", &[("name", "pud")]).await, "userdata"), vec![
            ("params", "registered without parameters"),
            ("projectid", "the admin's, not a project's"),
            ("project", "the admin's, not a project's"),
        ]),
        ("capacity", first(&c.ok("listCapacity", &[("zoneid", &zone)]).await, "capacity"), vec![
            ("podid", "listCapacity answers per zone"),
            ("podname", "listCapacity answers per zone"),
            ("clusterid", "listCapacity answers per zone"),
            ("clustername", "listCapacity answers per zone"),
        ]),
        ("configuration", first(&c.ok("listConfigurations", &[("name", "expunge.delay")]).await, "configuration"), vec![
            ("id", "a global setting has no scope id"),
        ]),
        ("capabilities", c.ok("listCapabilities", &[]).await["capability"].clone(), vec![
            ("apilimitinterval", "API rate limits are not configured"),
            ("apilimitmax", "API rate limits are not configured"),
        ]),
        ("hypervisorcapabilities", first(&c.ok("listHypervisorCapabilities", &[]).await, "hypervisorCapabilities"), vec![
            ("maxguestslimit", "Stratus caps no guests per host (placement goes by capacity)"),
            ("maxhostspercluster", "Stratus caps no hosts per cluster"),
        ]),
        ("storageprovider", first(&c.ok("listStorageProviders", &[("type", "primary")]).await, "dataStoreProvider"), vec![]),
        ("hosttag", first(&c.ok("listHostTags", &[]).await, "hosttag"), vec![]),
        ("storagetag", first(&c.ok("listStorageTags", &[]).await, "storagetag"), vec![]),
    ];
    let _ = user;
    let mut failures = vec![];
    for (object, answer, absent) in &checks {
        failures.extend(lacking(object, answer, absent));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The named gaps of the issue, filled with the right values.
    let v = &checks.iter().find(|c| c.0 == "vlaniprange").unwrap().1;
    assert_eq!(v["networkid"], net["id"], "the zone's guest network: {v}");
    let by_net = c
        .ok(
            "listVlanIpRanges",
            &[("networkid", net["id"].as_str().unwrap())],
        )
        .await;
    assert_eq!(by_net["count"], 1, "{by_net}");
    let t = c
        .err(
            "createVlanIpRange",
            &[
                ("zoneid", &zone),
                ("podid", &podid),
                ("gateway", "10.0.2.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.0.2.10"),
                ("endip", "10.0.2.50"),
                ("networkid", &uuid::Uuid::new_v4().to_string()),
            ],
            431,
        )
        .await;
    assert!(t.contains("networkid"), "another zone's or no network: {t}");
    // Stratus has no physical networks: an id naming one is refused, not stored.
    let ranges = c.ok("listVlanIpRanges", &[("zoneid", &zone)]).await["count"].clone();
    let pn = uuid::Uuid::new_v4().to_string();
    let t = c
        .err(
            "createVlanIpRange",
            &[
                ("zoneid", &zone),
                ("podid", &podid),
                ("gateway", "10.0.2.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.0.2.10"),
                ("endip", "10.0.2.50"),
                ("physicalnetworkid", &pn),
            ],
            431,
        )
        .await;
    assert_eq!(t, format!("Unable to find Physical Network with id={pn}"));
    assert_eq!(
        c.ok("listVlanIpRanges", &[("zoneid", &zone)]).await["count"],
        ranges,
        "nothing was stored"
    );
    let p = &checks.iter().find(|c| c.0 == "storagepool").unwrap().1;
    assert_eq!(p["podid"], podid.as_str());
    assert_eq!(p["clusterid"], clusterid.as_str());
    assert_eq!(vm["hostid"], hostid.as_str());
    assert_eq!(vm["templateformat"], "ISO");
    assert_eq!(vm["vmtype"], "User");
    let vol = &checks.iter().find(|c| c.0 == "volume").unwrap().1;
    assert_eq!(vol["podid"], podid.as_str(), "the pool's pod: {vol}");
    assert_eq!(vol["clusterid"], clusterid.as_str());
    assert_eq!(
        vol["isoid"],
        iso.as_str(),
        "a ROOT volume names its VM's ISO"
    );
    assert_eq!(vol["serviceofferingid"], so_id.as_str());
    assert_eq!(vol["diskofferingdisplaytext"], dof["displaytext"]);
    assert_eq!(vol["domainpath"], "ROOT");
    // Made with its VM, a root volume was attached when it was made.
    assert_eq!(vol["attached"], vol["created"], "{vol}");
    // restoreVirtualMachine's new root is made without a VM, then attached in its place
    // (and detached again if the restore is undone).
    let spare = uuid::Uuid::new_v4();
    db::volumes::volume_insert(
        &c.ctx.pool,
        &db::volumes::VolumeRow {
            id: spare.into(),
            vm_id: None,
            name: "ROOT-spare".into(),
            volume_type: "ROOT".into(),
            pool_id: pool.id,
            path: "spare.qcow2".into(),
            size_bytes: 5 << 30,
            state: stratus_management::rules::states::VolumeState::Ready,
            created: chrono::Utc::now(),
            removed: None,
            template_id: None,
        },
    )
    .await
    .unwrap();
    let spare_s = spare.to_string();
    let listed = |c: &Client| {
        let c = c.clone_handle();
        let id = spare_s.clone();
        async move { first(&c.ok("listVolumes", &[("id", &id)]).await, "volume") }
    };
    assert!(listed(&c).await.get("attached").is_none());
    let old_root: uuid::Uuid = vol["id"].as_str().unwrap().parse().unwrap();
    let mut tx = c.ctx.pool.begin().await.unwrap();
    db::volumes::volume_replace_root(&mut tx, vmid.parse().unwrap(), old_root, spare, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let swapped = listed(&c).await;
    assert_eq!(swapped["virtualmachineid"], vmid.as_str());
    assert!(swapped["attached"].is_string(), "{swapped}");
    let mut tx = c.ctx.pool.begin().await.unwrap();
    db::volumes::volume_unreplace_root(&mut tx, old_root, spare)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(listed(&c).await.get("attached").is_none());
    let n = &checks.iter().find(|c| c.0 == "network").unwrap().1;
    assert_eq!(n["service"][0]["name"], "Dhcp", "{n}");
    assert_eq!(n["networkofferingavailability"], "Optional");
    let ev = &checks.iter().find(|c| c.0 == "event").unwrap().1;
    assert_eq!(ev["domainpath"], "ROOT");
    assert!(deploy_job_name_is_set(&checks));
    assert_eq!(vm["pooltype"], "NetworkFilesystem");
    // User data a project owns names it.
    let pid = project["id"].as_str().unwrap();
    c.ok(
        "registerUserData",
        &[
            ("name", "projud"),
            ("userdata", "I2Nsb3VkLWNvbmZpZwo="),
            ("projectid", pid),
        ],
    )
    .await;
    let ud = first(
        // (listall alone leaves out projects', as CloudStack's: projectid=-1 asks.)
        &c.ok(
            "listUserData",
            &[("name", "projud"), ("listall", "true"), ("projectid", "-1")],
        )
        .await,
        "userdata",
    );
    assert_eq!(ud["projectid"], pid, "{ud}");
    assert_eq!(ud["project"], "pp");
    let caps = &checks.iter().find(|c| c.0 == "capabilities").unwrap().1;
    assert_eq!(
        caps["instancesstatsretentiontime"], 720,
        "vm.stats.max.retention.time: {caps}"
    );
    assert_eq!(
        caps["allowusercreateprojects"], true,
        "allow.user.create.projects"
    );
    c.ok(
        "updateConfiguration",
        &[("name", "allow.user.create.projects"), ("value", "false")],
    )
    .await;
    let caps = c.ok("listCapabilities", &[]).await;
    assert_eq!(
        caps["capability"]["allowusercreateprojects"], false,
        "{caps}"
    );
    let h = &checks.iter().find(|c| c.0 == "host").unwrap().1;
    // 1 × 500 MHz of 8 × 2000 MHz; 256 MiB of 16 GiB.
    assert_eq!(h["cpuallocatedvalue"], 500, "{h}");
    assert_eq!(h["cpuallocated"], "3.12%");
    assert_eq!(h["memoryallocated"], 256 << 20);
    assert_eq!(h["memoryallocatedpercentage"], "1.56%");
    assert_eq!(h["explicithosttags"], "fast");
    let a = &checks.iter().find(|c| c.0 == "account").unwrap().1;
    assert_eq!(a["vmtotal"], 0, "{a}");
    let d = &checks.iter().find(|c| c.0 == "domain").unwrap().1;
    assert_eq!(d["vmtotal"], 1, "the admin's VM counts in ROOT: {d}");
}
