//! Host and storage tags (issue 22): hosts' tags through addHost/updateHost/listHosts,
//! pools' through create/update/listStoragePools, offerings' host and storage tags,
//! listHostTags and listStorageTags with paging; hostile lists refused with 431; and
//! placement honouring them: a tagged offering lands only on the tagged host (and its
//! root volume only on a tagged pool), a tag nobody has fails with 533 naming it.

use stratus_testkit::db as common;

use common::Client;
use serde_json::Value;
use stratus_api::agent::{Acceleration, Heartbeat, HostFacts, HostMetrics, PROTOCOL_VERSION};
use stratus_management::{db, services::hosts, services::vms};
use uuid::Uuid;

const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";

fn facts(memory_gib: u64) -> Heartbeat {
    Heartbeat {
        protocol: PROTOCOL_VERSION,
        generation: 1,
        facts: HostFacts {
            hostname: "sim".into(),
            arch: "x86_64".into(),
            cpu_sockets: 1,
            cpu_cores: 8,
            cpu_mhz: 2000,
            memory_bytes: memory_gib << 30,
            os: "test".into(),
            kernel: "test".into(),
            libvirt_version: "9.0.0".into(),
            hypervisor_version: "7.2.0".into(),
            acceleration: Acceleration::Qemu,
            agent_version: "0".into(),
        },
        metrics: HostMetrics {
            cpu_used_percent: 0.0,
            memory_used_bytes: 0,
            network_rx_bytes: 0,
            network_tx_bytes: 0,
        },
        domains: vec![],
        domain_stats: vec![],
        sg_generation: None,
    }
}

/// An Up host in the cluster with `memory_gib` of memory; its id.
async fn up_host(
    c: &Client,
    zone: &str,
    pod: &str,
    cluster: &str,
    n: u8,
    memory_gib: u64,
) -> String {
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
        format!("192.0.2.{n}").parse().unwrap(),
        8250,
        &format!("host{n}"),
    )
    .await
    .unwrap();
    hosts::heartbeat(&c.ctx, h.id, Some(&token), &facts(memory_gib), None)
        .await
        .unwrap();
    h.id.to_string()
}

/// A primary pool seeded directly (no NFS server: placement only reads the row).
async fn pool(
    c: &Client,
    zone: &str,
    place: Option<(&str, &str)>,
    name: &str,
    tags: &[&str],
    capacity_gib: i64,
) -> String {
    let p = db::storage::PoolRow {
        id: Uuid::new_v4().into(),
        name: name.into(),
        zone_id: zone.parse().unwrap(),
        pod_id: place.map(|p| p.0.parse().unwrap()),
        cluster_id: place.map(|p| p.1.parse().unwrap()),
        scope: if place.is_some() { "CLUSTER" } else { "ZONE" }.into(),
        url: format!("nfs://127.0.0.1/export/{name}"),
        server: "127.0.0.1".into(),
        path: format!("/export/{name}"),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        state: stratus_management::rules::poolstate::PoolState::Up,
        capacity_bytes: capacity_gib << 30,
        used_bytes: 0,
        allocated_bytes: 0,
        stats_at: None,
        stats_error: None,
        created: chrono::Utc::now(),
        zone_name: String::new(),
        pod_name: None,
        cluster_name: None,
    };
    db::storage::pool_insert(&c.ctx.pool, &p).await.unwrap();
    p.id.to_string()
}

fn many_tags(n: usize) -> String {
    (0..n)
        .map(|i| format!("t{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The names of a list answer's entries.
fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn host_tags_through_the_api() {
    let c = Client::admin().await;
    let (zone, pod, cluster) = c.basic_topology("ht").await;
    let a = up_host(&c, &zone, &pod, &cluster, 10, 8).await;
    let b = up_host(&c, &zone, &pod, &cluster, 11, 8).await;

    // Replaced whole: blanks, empties and repeats (in any case) dropped, first spelling kept.
    let r = c
        .ok(
            "updateHost",
            &[("id", &a), ("hosttags", " ssd, GPU,,ssd ,gpu")],
        )
        .await;
    assert_eq!(r["host"]["hosttags"], "ssd,GPU");
    assert_eq!(r["host"]["istagarule"], false);
    c.ok("updateHost", &[("id", &b), ("hosttags", "ssd")]).await;
    let l = c.ok("listHosts", &[("id", &a)]).await;
    assert_eq!(l["host"][0]["hosttags"], "ssd,GPU");
    let r = c
        .ok("updateHost", &[("id", &a), ("hosttags", "fpga,ssd,gpu")])
        .await;
    assert_eq!(
        r["host"]["hosttags"], "fpga,ssd,gpu",
        "replaced, not merged"
    );

    // listHostTags: one entry per tag of each host, paged, with stable ids.
    let t = c.ok("listHostTags", &[]).await;
    assert_eq!(t["count"], 4, "{t}");
    let entries = t["hosttag"].as_array().unwrap();
    let of_a: Vec<&str> = entries
        .iter()
        .filter(|e| e["hostid"] == a.as_str())
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(of_a, ["fpga", "ssd", "gpu"]);
    assert!(entries.iter().all(|e| e["hostname"].is_string()));
    let ids: std::collections::HashSet<&str> =
        entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "distinct ids, also for ssd on both hosts");
    let again = c.ok("listHostTags", &[]).await;
    assert_eq!(again["hosttag"], t["hosttag"], "the same ids on every call");
    let p2 = c
        .ok("listHostTags", &[("page", "2"), ("pagesize", "3")])
        .await;
    assert_eq!(p2["count"], 4, "count is the total");
    assert_eq!(p2["hosttag"].as_array().unwrap().len(), 1);
    let k = c.ok("listHostTags", &[("keyword", "FP")]).await;
    assert_eq!(names(&k, "hosttag"), ["fpga"]);

    // Empty clears them; the field is then absent, as CloudStack's.
    let r = c.ok("updateHost", &[("id", &a), ("hosttags", "")]).await;
    assert!(r["host"].get("hosttags").is_none(), "{r}");
    assert_eq!(c.ok("listHostTags", &[]).await["count"], 1);
    // Other updates leave them alone.
    let r = c.ok("updateHost", &[("id", &b), ("name", "renamed")]).await;
    assert_eq!(r["host"]["hosttags"], "ssd");

    // Hostile lists: 431, nothing changed.
    for (bad, why) in [
        (many_tags(65), "at most 64"),
        ("x".repeat(256), "longer than 255"),
    ] {
        let e = c
            .err("updateHost", &[("id", &b), ("hosttags", &bad)], 431)
            .await;
        assert!(e.contains(why), "{e}");
    }
    c.err("updateHost", &[("id", &b), ("hosttags", "a\u{1}b")], 431)
        .await;
    let e = c
        .err("updateHost", &[("id", &b), ("istagarule", "true")], 431)
        .await;
    assert!(
        e.contains("istagarule") && e.contains("not supported"),
        "{e}"
    );
    c.ok("updateHost", &[("id", &b), ("istagarule", "false")])
        .await;
    assert_eq!(
        c.ok("listHosts", &[("id", &b)]).await["host"][0]["hosttags"],
        "ssd"
    );
    // 64 tags are fine.
    let r = c
        .ok("updateHost", &[("id", &b), ("hosttags", &many_tags(64))])
        .await;
    assert_eq!(
        r["host"]["hosttags"].as_str().unwrap().split(',').count(),
        64
    );
    // addHost checks its tags before it touches the machine.
    let e = c
        .err(
            "addHost",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clusterid", &cluster),
                ("url", "http://192.0.2.200"),
                ("username", "root"),
                ("password", "x"),
                ("hypervisor", "KVM"),
                ("hosttags", &many_tags(65)),
            ],
            431,
        )
        .await;
    assert!(e.contains("Invalid hosttags"), "{e}");
}

#[tokio::test]
async fn storage_and_offering_tags_through_the_api() {
    let c = Client::admin().await;
    let (zone, pod, cluster) = c.basic_topology("st").await;
    let p1 = pool(&c, &zone, None, "p1", &["fast", "ssd"], 100).await;
    let p2 = pool(&c, &zone, Some((&pod, &cluster)), "p2", &[], 100).await;
    let l = c.ok("listStoragePools", &[("id", &p1)]).await;
    assert_eq!(l["storagepool"][0]["tags"], "fast,ssd");
    let r = c
        .ok(
            "updateStoragePool",
            &[("id", &p2), ("tags", "gold, Gold ,silver")],
        )
        .await;
    assert_eq!(r["storagepool"]["tags"], "gold,silver");

    let t = c.ok("listStorageTags", &[]).await;
    assert_eq!(t["count"], 4, "{t}");
    let e = &t["storagetag"][0];
    assert_eq!(e["poolid"], p1.as_str());
    assert_eq!(e["poolname"], "p1");
    assert_eq!(e["name"], "fast");
    assert!(e["id"].is_string());
    let p = c
        .ok("listStorageTags", &[("page", "2"), ("pagesize", "3")])
        .await;
    assert_eq!(names(&p, "storagetag"), ["silver"]);

    let r = c
        .ok("updateStoragePool", &[("id", &p2), ("tags", "")])
        .await;
    assert!(r["storagepool"].get("tags").is_none(), "cleared: {r}");
    let e = c
        .err(
            "updateStoragePool",
            &[("id", &p1), ("tags", &many_tags(65))],
            431,
        )
        .await;
    assert!(e.contains("Invalid tags"), "{e}");
    c.err(
        "updateStoragePool",
        &[("id", &p1), ("istagarule", "true")],
        431,
    )
    .await;
    // createStoragePool checks its tags before it mounts anything.
    let e = c
        .err(
            "createStoragePool",
            &[
                ("name", "p3"),
                ("zoneid", &zone),
                ("url", "nfs://192.0.2.1/export"),
                ("tags", &"y".repeat(256)),
            ],
            431,
        )
        .await;
    assert!(e.contains("longer than 255"), "{e}");
    assert_eq!(
        c.ok("listStoragePools", &[("id", &p1)]).await["storagepool"][0]["tags"],
        "fast,ssd",
        "refused updates change nothing"
    );

    // Service offerings: host tags and (createServiceOffering's `tags`) storage tags.
    let so = c
        .ok(
            "createServiceOffering",
            &[
                ("name", "tagged"),
                ("cpunumber", "1"),
                ("cpuspeed", "500"),
                ("memory", "512"),
                ("hosttags", "gpu, gpu"),
                ("tags", "fast,ssd"),
            ],
        )
        .await["serviceoffering"]
        .clone();
    assert_eq!(so["hosttags"], "gpu");
    assert_eq!(so["storagetags"], "fast,ssd");
    let id = so["id"].as_str().unwrap();
    let l = c.ok("listServiceOfferings", &[("id", id)]).await;
    assert_eq!(l["serviceoffering"][0]["storagetags"], "fast,ssd");
    let u = c
        .ok(
            "updateServiceOffering",
            &[("id", id), ("storagetags", "gold")],
        )
        .await;
    assert_eq!(u["serviceoffering"]["storagetags"], "gold");
    assert_eq!(u["serviceoffering"]["hosttags"], "gpu", "untouched");
    let u = c
        .ok(
            "updateServiceOffering",
            &[("id", id), ("hosttags", ""), ("storagetags", "")],
        )
        .await;
    assert!(u["serviceoffering"].get("hosttags").is_none(), "{u}");
    assert!(u["serviceoffering"].get("storagetags").is_none(), "{u}");
    c.err(
        "updateServiceOffering",
        &[("id", id), ("hosttags", &many_tags(65))],
        431,
    )
    .await;
    c.err(
        "createServiceOffering",
        &[
            ("name", "bad"),
            ("cpunumber", "1"),
            ("cpuspeed", "500"),
            ("memory", "512"),
            ("tags", &many_tags(65)),
        ],
        431,
    )
    .await;

    // Disk offerings answer their tags on create and list.
    let d = c
        .ok(
            "createDiskOffering",
            &[
                ("name", "fastdisk"),
                ("disksize", "5"),
                ("tags", "fast ,ssd"),
            ],
        )
        .await["diskoffering"]
        .clone();
    assert_eq!(d["tags"], "fast,ssd");
    let l = c
        .ok("listDiskOfferings", &[("id", d["id"].as_str().unwrap())])
        .await;
    assert_eq!(l["diskoffering"][0]["tags"], "fast,ssd");
}

/// A service offering with host and storage tags; its id.
async fn offering(c: &Client, name: &str, hosttags: &str, storagetags: &str) -> String {
    let mut p = vec![
        ("name", name),
        ("cpunumber", "1"),
        ("cpuspeed", "500"),
        ("memory", "512"),
    ];
    if !hosttags.is_empty() {
        p.push(("hosttags", hosttags));
    }
    if !storagetags.is_empty() {
        p.push(("tags", storagetags));
    }
    c.ok("createServiceOffering", &p).await["serviceoffering"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A VM row of `offering` (not yet placed), as deployVirtualMachine records it.
async fn vm_of(c: &Client, zone: &str, offering: &str, n: usize) -> Uuid {
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let id = Uuid::new_v4();
    let name = format!("vm-{n}");
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    db::vms::vm_insert(
        &mut conn,
        &db::vms::NewVm {
            id: id.into(),
            name: &name,
            display_name: &name,
            account_id: admin.account_id,
            domain_id: admin.domain_id,
            user_id: admin.id,
            zone_id: zone.parse().unwrap(),
            service_offering_id: offering.parse().unwrap(),
            cpu_number: 1,
            cpu_mhz: 500,
            memory_mb: 512,
            instance_suffix: "VM",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn placement_honours_host_and_storage_tags() {
    let c = Client::admin().await;
    let (zone, pod, c1) = c.basic_topology("place").await;
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zone),
            ("podid", &pod),
            ("gateway", "10.0.1.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "10.0.1.10"),
            ("endip", "10.0.1.60"),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    let c2 = c
        .ok(
            "addCluster",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clustername", "c2"),
                ("clustertype", "CloudManaged"),
                ("hypervisor", "KVM"),
            ],
        )
        .await["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The untagged host has by far the most room: without tags, everything goes there.
    let big = up_host(&c, &zone, &pod, &c1, 20, 256).await;
    let gpu = up_host(&c, &zone, &pod, &c1, 21, 16).await;
    let far = up_host(&c, &zone, &pod, &c2, 22, 16).await;
    c.ok("updateHost", &[("id", &gpu), ("hosttags", "GPU,ssd")])
        .await;
    let zone_pool = pool(&c, &zone, None, "everywhere", &["bulk"], 1000).await;
    let fast_pool = pool(
        &c,
        &zone,
        Some((&pod, &c2)),
        "fast-c2",
        &["fast", "ssd"],
        100,
    )
    .await;
    let host_of = |a: vms::allocate::Allocation| a.host_id.to_string();

    // A tagged offering lands only on the tagged host, every time.
    let tagged = offering(&c, "gpu-vm", "gpu", "").await;
    for n in 0..5 {
        let vm = vm_of(&c, &zone, &tagged, n).await;
        let a = vms::allocate::allocate(&c.ctx, vm.into(), None, None)
            .await
            .unwrap();
        assert_eq!(host_of(a), gpu, "VM {n}");
    }
    let plain = offering(&c, "plain", "", "").await;
    let vm = vm_of(&c, &zone, &plain, 10).await;
    let a = vms::allocate::allocate(&c.ctx, vm.into(), None, None)
        .await
        .unwrap();
    assert_eq!(host_of(a), big, "untagged: the most free memory");
    // Storage tags: only the host that reaches the tagged pool; the root volume goes there.
    let fast = offering(&c, "fast-vm", "", "FAST").await;
    let vm = vm_of(&c, &zone, &fast, 11).await;
    let a = vms::allocate::allocate(&c.ctx, vm.into(), None, None)
        .await
        .unwrap();
    assert_eq!(host_of(a), far);
    let fast_row = db::vms::vm_fetch(&mut *c.ctx.pool.acquire().await.unwrap(), vm.into())
        .await
        .unwrap()
        .unwrap();
    let chosen = vms::choose_root_pool(&c.ctx, &fast_row, 5 << 30)
        .await
        .unwrap();
    assert_eq!(chosen.id.to_string(), fast_pool);
    // Too big for the tagged pool: 533 with the reason, never the untagged pool.
    let e = vms::choose_root_pool(&c.ctx, &fast_row, 500 << 30)
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.code.http_status(), 533, "{}", e.text);
    assert!(
        e.text.contains("room for a 500 GiB root disk"),
        "{}",
        e.text
    );
    // Untagged: the zone-wide pool with the most room.
    let mut row = db::vms::vm_fetch(
        &mut *c.ctx.pool.acquire().await.unwrap(),
        (vm_of(&c, &zone, &plain, 12).await).into(),
    )
    .await
    .unwrap()
    .unwrap();
    row.host_id = Some(far.parse().unwrap());
    let chosen = vms::choose_root_pool(&c.ctx, &row, 5 << 30).await.unwrap();
    assert_eq!(chosen.id.to_string(), zone_pool);

    // Tags nobody has: 533 naming them, and the VM holds nothing.
    for (n, (name, host_tags, storage_tags, want)) in [
        (
            "nvme-vm",
            "gpu,nvme",
            "",
            "no available host has the host tag 'nvme'",
        ),
        (
            "apart-vm",
            "gpu",
            "fast",
            "no Up primary storage pool that an available host reaches has the storage tag 'fast'",
        ),
        (
            "gold-vm",
            "",
            "gold",
            "no Up primary storage pool that an available host reaches has the storage tag 'gold'",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let o = offering(&c, name, host_tags, storage_tags).await;
        let vm = vm_of(&c, &zone, &o, 30 + n).await;
        let e = vms::allocate::allocate(&c.ctx, vm.into(), None, None)
            .await
            .unwrap_err()
            .to_api();
        assert_eq!(e.code.http_status(), 533, "{}", e.text);
        assert!(e.text.contains(want), "{name}: {}", e.text);
        let row = db::vms::vm_fetch(&mut *c.ctx.pool.acquire().await.unwrap(), vm.into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.host_id, None, "{name} holds no host");
    }
    // An admin's hostid does not bypass the tags.
    let vm = vm_of(&c, &zone, &tagged, 40).await;
    let e = vms::allocate::allocate(&c.ctx, vm.into(), None, Some(big.parse().unwrap()))
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.code.http_status(), 533, "{}", e.text);
}

#[tokio::test]
async fn a_deploy_asking_for_a_tag_nobody_has_fails_with_533() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let (zone, iso) = c.deployable_iso("deploy-tags").await;
    let pods = c.ok("listPods", &[("zoneid", &zone)]).await;
    let pod = pods["pod"][0]["id"].as_str().unwrap().to_string();
    let clusters = c.ok("listClusters", &[("zoneid", &zone)]).await;
    let cluster = clusters["cluster"][0]["id"].as_str().unwrap().to_string();
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zone),
            ("podid", &pod),
            ("gateway", "10.0.1.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "10.0.1.10"),
            ("endip", "10.0.1.20"),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    let h = up_host(&c, &zone, &pod, &cluster, 30, 64).await;
    c.ok("updateHost", &[("id", &h), ("hosttags", "ssd")]).await;
    let o = offering(&c, "needs-gpu", "ssd,gpu", "").await;
    let a = c
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &zone),
                ("serviceofferingid", &o),
                ("templateid", &iso),
                ("diskofferingid", DISK_5GB),
                ("hypervisor", "KVM"),
                ("name", "wants-gpu"),
            ],
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let job = c.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(job["jobstatus"], 2, "{job}");
    assert_eq!(job["jobresult"]["errorcode"], 533, "{job}");
    let text = job["jobresult"]["errortext"].as_str().unwrap();
    assert!(
        text.contains("no available host has the host tag 'gpu'"),
        "{text}"
    );
    let vm = c.ok("listVirtualMachines", &[("name", "wants-gpu")]).await;
    assert_eq!(vm["virtualmachine"][0]["state"], "Error", "{vm}");
    assert!(vm["virtualmachine"][0].get("hostid").is_none(), "{vm}");
}

#[tokio::test]
async fn a_stopped_vm_changes_only_to_an_offering_its_pool_has_the_tags_for() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let (zone, iso) = c.deployable_iso("change-tags").await;
    let a = c
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &zone),
                ("serviceofferingid", "00000000-0000-4000-8003-000000000001"),
                ("templateid", &iso),
                ("diskofferingid", DISK_5GB),
                ("startvm", "false"),
            ],
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    let job = c.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    assert_eq!(job["jobstatus"], 1, "{job}");
    let vm = job["jobresult"]["virtualmachine"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Its root volume, on an untagged pool (seeded: no NFS here).
    let p = pool(&c, &zone, None, "plainpool", &[], 100).await;
    db::volumes::volume_insert(
        &c.ctx.pool,
        &db::volumes::VolumeRow {
            id: Uuid::new_v4().into(),
            vm_id: Some(vm.parse().unwrap()),
            name: "ROOT-1".into(),
            volume_type: "ROOT".into(),
            pool_id: p.parse().unwrap(),
            path: "volumes/root-1.qcow2".into(),
            size_bytes: 5 << 30,
            state: stratus_management::rules::states::VolumeState::Ready,
            created: chrono::Utc::now(),
            removed: None,
            template_id: None,
        },
    )
    .await
    .unwrap();
    let fast = offering(&c, "fast-only", "", "fast").await;
    let e = c
        .err(
            "changeServiceForVirtualMachine",
            &[("id", &vm), ("serviceofferingid", &fast)],
            431,
        )
        .await;
    assert!(
        e.contains("primary storage plainpool, which does not have the storage tag 'fast'"),
        "{e}"
    );
    // Host tags need no move now: they count when the VM next starts.
    let gpu = offering(&c, "gpu-only", "gpu", "").await;
    c.ok(
        "changeServiceForVirtualMachine",
        &[("id", &vm), ("serviceofferingid", &gpu)],
    )
    .await;
    c.ok("updateStoragePool", &[("id", &p), ("tags", "FAST")])
        .await;
    let r = c
        .ok(
            "changeServiceForVirtualMachine",
            &[("id", &vm), ("serviceofferingid", &fast)],
        )
        .await;
    assert_eq!(r["virtualmachine"]["serviceofferingid"], fast.as_str());
}

/// A pool's state (issue 17: typed, one mapping): the admin's moves between Up, Disabled
/// and Maintenance as CloudStack allows them, the `status` filter in any case (a state no
/// pool can be in finds none), and placement leaving a pool that is not Up.
#[tokio::test]
async fn a_pools_state_moves_as_cloudstack_allows_and_placement_follows_it() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let (zone, pod, cluster) = c.basic_topology("states").await;
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zone),
            ("podid", &pod),
            ("gateway", "10.0.2.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "10.0.2.10"),
            ("endip", "10.0.2.60"),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    up_host(&c, &zone, &pod, &cluster, 30, 64).await;
    let only = pool(&c, &zone, None, "only", &[], 1000).await;
    let state = |v: Value| v["storagepool"]["state"].as_str().unwrap_or("").to_string();
    let listed = |status: &'static str| {
        let c = &c;
        async move {
            c.ok("listStoragePools", &[("status", status)]).await["count"]
                .as_i64()
                .unwrap_or(0)
        }
    };
    assert_eq!(listed("up").await, 1);
    assert_eq!(listed("Maintenance").await, 0);
    assert_eq!(listed("no-such-state").await, 0);

    let plain = offering(&c, "plain-states", "", "").await;
    let placed = |n: usize| {
        let (c, zone, plain) = (&c, &zone, &plain);
        async move {
            let vm = vm_of(c, zone, plain, n).await;
            vms::allocate::allocate(&c.ctx, vm.into(), None, None)
                .await
                .unwrap();
            let row = db::vms::vm_fetch(&mut *c.ctx.pool.acquire().await.unwrap(), vm.into())
                .await
                .unwrap()
                .unwrap();
            vms::choose_root_pool(&c.ctx, &row, 5 << 30).await
        }
    };
    assert_eq!(
        placed(1).await.unwrap().id.to_string(),
        only,
        "an Up pool takes the root volume"
    );

    let v = c
        .ok("updateStoragePool", &[("id", &only), ("enabled", "false")])
        .await;
    assert_eq!(state(v), "Disabled");
    assert_eq!(listed("DISABLED").await, 1);
    assert!(placed(2).await.is_err(), "a Disabled pool takes no volume");

    let j = c
        .wait_job(
            c.ok("enableStorageMaintenance", &[("id", &only)]).await["jobid"]
                .as_str()
                .unwrap(),
        )
        .await;
    assert_eq!(j["jobresult"]["storagepool"]["state"], "Maintenance", "{j}");
    let text = c
        .err(
            "updateStoragePool",
            &[("id", &only), ("enabled", "true")],
            431,
        )
        .await;
    assert!(text.contains("cancel maintenance first"), "{text}");
    assert!(
        placed(3).await.is_err(),
        "a pool in maintenance takes no volume"
    );

    let cancel = || async {
        let started = c.ok("cancelStorageMaintenance", &[("id", &only)]).await;
        c.wait_job(started["jobid"].as_str().unwrap()).await
    };
    let j = cancel().await;
    assert_eq!(j["jobresult"]["storagepool"]["state"], "Up", "{j}");
    let j = cancel().await;
    assert_eq!(j["jobstatus"], 2, "not in maintenance: {j}");
    assert!(
        j["jobresult"]["errortext"]
            .as_str()
            .unwrap_or("")
            .contains("not in maintenance"),
        "{j}"
    );
    assert!(placed(4).await.is_ok(), "Up again: it takes volumes");
}
