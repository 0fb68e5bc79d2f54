//! Issue 5's concurrency rule at the allocation layer: 50 deploys at once against two
//! hosts with room for 8 VMs and a guest range of 6 addresses. The winners get distinct
//! addresses, no host is over its capacity, and each loser fails with 533 and holds
//! nothing (no address, no reservation).

use stratus_testkit::db as common;

use std::collections::{HashMap, HashSet};

use common::Client;
use stratus_api::agent::{Acceleration, Heartbeat, HostFacts, HostMetrics, PROTOCOL_VERSION};
use stratus_management::{db, services::hosts, services::vms::allocate};
use uuid::Uuid;

fn facts(cores: u32, mhz: u32, memory_bytes: u64) -> Heartbeat {
    Heartbeat {
        protocol: PROTOCOL_VERSION,
        generation: 1,
        facts: HostFacts {
            hostname: "sim".into(),
            arch: "x86_64".into(),
            cpu_sockets: 1,
            cpu_cores: cores,
            cpu_mhz: mhz,
            memory_bytes,
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

/// `n` Stopped VMs of the 500 MHz / 512 MiB offering, named `prefix0`…, owned by `admin`.
/// A host registered in (zone, pod, cluster) at 192.0.2.`n` and Up with `hb`'s facts.
async fn host_up(
    c: &Client,
    admin: &db::accounts::UserRow,
    (zone, pod, cluster): (&str, &str, &str),
    name: &str,
    n: u8,
    hb: &Heartbeat,
) -> stratus_management::ids::HostId {
    let (h, token) = hosts::register(
        &c.ctx,
        admin,
        zone.parse().unwrap(),
        pod.parse().unwrap(),
        cluster.parse().unwrap(),
        format!("192.0.2.{n}").parse().unwrap(),
        8250,
        name,
    )
    .await
    .unwrap();
    hosts::heartbeat(&c.ctx, h.id, Some(&token), hb, None)
        .await
        .unwrap();
    h.id
}

async fn small_vms(
    c: &Client,
    admin: &db::accounts::UserRow,
    zone: &str,
    n: usize,
    prefix: &str,
) -> Vec<Uuid> {
    let offering = db::offerings::service_offering_fetch(
        &c.ctx.pool,
        "00000000-0000-4000-8003-000000000001".parse().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let mut vms = vec![];
    for i in 0..n {
        let id = Uuid::new_v4();
        let name = format!("{prefix}{i}");
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
                service_offering_id: offering.id,
                disk_offering_id: None,
                iso_id: None,
                cpu_number: offering.cpu_number,
                cpu_mhz: offering.cpu_speed,
                memory_mb: offering.memory_mb,
                keypair: None,
                instance_suffix: "VM",
                ..Default::default()
            },
        )
        .await
        .unwrap();
        vms.push(id);
    }
    vms
}

/// A guest range `start`-`end` of 10.0.`net`.0/24 in the pod, and the admin user.
async fn range_and_admin(
    c: &Client,
    (zid, pid): (&str, &str),
    net: u8,
    (start, end): (u8, u8),
) -> db::accounts::UserRow {
    let (gateway, startip, endip) = (
        format!("10.0.{net}.1"),
        format!("10.0.{net}.{start}"),
        format!("10.0.{net}.{end}"),
    );
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", zid),
            ("podid", pid),
            ("gateway", &gateway),
            ("netmask", "255.255.255.0"),
            ("startip", &startip),
            ("endip", &endip),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn fifty_concurrent_deploys_never_double_allocate() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("alloc").await;
    let admin = range_and_admin(&c, (&zid, &pid), 1, (10, 15)).await;
    // Two Up hosts: 2 cores × 1000 MHz and 2 GiB each → four 500 MHz / 512 MiB VMs each.
    let mut host_ids = vec![];
    for i in 0..2u8 {
        let (h, token) = hosts::register(
            &c.ctx,
            &admin,
            zid.parse().unwrap(),
            pid.parse().unwrap(),
            cid.parse().unwrap(),
            format!("192.0.2.{}", 10 + i).parse().unwrap(),
            8250,
            &format!("h{i}"),
        )
        .await
        .unwrap();
        hosts::heartbeat(&c.ctx, h.id, Some(&token), &facts(2, 1000, 2 << 30), None)
            .await
            .unwrap();
        host_ids.push(h.id);
    }
    // A third host is Up but disabled: nothing may land there.
    let (off, token) = hosts::register(
        &c.ctx,
        &admin,
        zid.parse().unwrap(),
        pid.parse().unwrap(),
        cid.parse().unwrap(),
        "192.0.2.99".parse().unwrap(),
        8250,
        "off",
    )
    .await
    .unwrap();
    hosts::heartbeat(
        &c.ctx,
        off.id,
        Some(&token),
        &facts(64, 3000, 64 << 30),
        None,
    )
    .await
    .unwrap();
    c.ok(
        "updateHost",
        &[("id", &off.id.to_string()), ("allocationstate", "Disable")],
    )
    .await;

    let vms = small_vms(&c, &admin, &zid, 50, "vm-").await;
    let tasks: Vec<_> = vms
        .iter()
        .map(|&vm| {
            let ctx = c.ctx.clone();
            tokio::spawn(async move { (vm, allocate::allocate(&ctx, vm.into(), None, None).await) })
        })
        .collect();
    let mut winners = vec![];
    let mut losers = vec![];
    for t in tasks {
        let (vm, r) = t.await.unwrap();
        match r {
            Ok(a) => winners.push((vm, a)),
            Err(e) => {
                let api = e.to_api();
                assert_eq!(api.code.http_status(), 533, "{}", api.text);
                assert!(
                    api.text.contains("Unable to create a deployment"),
                    "{}",
                    api.text
                );
                losers.push(vm);
            }
        }
    }
    assert_eq!(
        winners.len(),
        6,
        "six addresses, room for eight: six winners"
    );
    assert_eq!(losers.len(), 44);
    let ips: HashSet<_> = winners.iter().map(|(_, a)| a.ip).collect();
    assert_eq!(ips.len(), 6, "distinct addresses");
    let macs: HashSet<_> = winners.iter().map(|(_, a)| a.mac.clone()).collect();
    assert_eq!(macs.len(), 6, "distinct MACs");
    let mut per_host: HashMap<Uuid, usize> = HashMap::new();
    for (_, a) in &winners {
        assert!(host_ids.contains(&a.host_id), "never the disabled host");
        *per_host.entry(a.host_id.into_uuid()).or_default() += 1;
    }
    assert!(
        per_host.values().all(|n| *n <= 4),
        "no host over capacity: {per_host:?}"
    );
    for vm in &losers {
        let mut conn = c.ctx.pool.acquire().await.unwrap();
        let row = db::vms::vm_fetch(&mut *conn, (*vm).into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.state,
            stratus_management::rules::vmstate::VmState::Stopped,
            "a loser holds nothing"
        );
        assert!(row.host_id.is_none());
    }
    let nics: i64 = sqlx::query_scalar("SELECT count(*) FROM nics")
        .fetch_one(&c.ctx.pool)
        .await
        .unwrap();
    assert_eq!(nics, 6, "only the winners hold addresses");

    // Releasing a winner frees its address and capacity for the next deploy.
    let (first, a) = winners[0].clone();
    allocate::release(
        &c.ctx,
        first.into(),
        stratus_management::rules::vmstate::VmState::Stopped,
        None,
    )
    .await
    .unwrap();
    let again = allocate::allocate(&c.ctx, (losers[0]).into(), None, None)
        .await
        .unwrap();
    assert_eq!(again.ip, a.ip, "the freed address is the lowest free one");

    // With a wide range, capacity is the limit: of 43 concurrent deploys exactly two more
    // fit (8 in all), and no host is over.
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zid),
            ("podid", &pid),
            ("gateway", "10.0.1.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "10.0.1.100"),
            ("endip", "10.0.1.200"),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    let tasks: Vec<_> = losers[1..]
        .iter()
        .map(|&vm| {
            let ctx = c.ctx.clone();
            tokio::spawn(async move { allocate::allocate(&ctx, vm.into(), None, None).await })
        })
        .collect();
    let mut placed = 6;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => placed += 1,
            Err(e) => assert!(
                e.to_api().text.contains("no host has"),
                "{}",
                e.to_api().text
            ),
        }
    }
    let reserved: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT host_id, count(*) FROM vms WHERE state = 'Starting' GROUP BY host_id",
    )
    .fetch_all(&c.ctx.pool)
    .await
    .unwrap();
    assert!(
        reserved.iter().all(|(_, n)| *n <= 4),
        "no host over capacity: {reserved:?}"
    );
    assert_eq!(placed, 8, "two hosts × four VMs");
}

/// Issue 20: `vm.allocation.algorithm` orders the hosts, set through the API as an admin
/// would. Three equal hosts (room for eight small VMs each): `firstfit` fills the first
/// host (by id) before any other; `userdispersing` then puts the account's next VMs on the
/// hosts where it has fewest; the default, `firstfitleastconsumed`, takes the host with
/// the most free memory; a value that is no algorithm is refused with the list.
#[tokio::test]
async fn the_allocation_algorithm_setting_orders_the_hosts() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("algo").await;
    let admin = range_and_admin(&c, (&zid, &pid), 2, (10, 60)).await;
    let mut hosts = vec![];
    for i in 0..3u8 {
        hosts.push(
            host_up(
                &c,
                &admin,
                (&zid, &pid, &cid),
                &format!("a{i}"),
                40 + i,
                &facts(4, 1000, 4 << 30),
            )
            .await,
        );
    }
    hosts.sort();
    let vms = small_vms(&c, &admin, &zid, 10, "algo-").await;
    let on = |a: &allocate::Allocation, count: &mut HashMap<Uuid, usize>| {
        *count.entry(a.host_id.into_uuid()).or_default() += 1;
    };
    let set = |v: &'static str| {
        let c = &c;
        async move {
            c.ok(
                "updateConfiguration",
                &[("name", "vm.allocation.algorithm"), ("value", v)],
            )
            .await
        }
    };
    let mut count: HashMap<Uuid, usize> = HashMap::new();

    set("firstfit").await;
    for vm in &vms[..3] {
        let a = allocate::allocate(&c.ctx, (*vm).into(), None, None)
            .await
            .unwrap();
        assert_eq!(
            a.host_id, hosts[0],
            "firstfit: the first host until it is full"
        );
        on(&a, &mut count);
    }

    set("userdispersing").await;
    let mut dispersed = vec![];
    for vm in &vms[3..6] {
        let a = allocate::allocate(&c.ctx, (*vm).into(), None, None)
            .await
            .unwrap();
        dispersed.push(a.host_id);
        on(&a, &mut count);
    }
    // The account has 3 on the first host and none elsewhere: the others first, one each,
    // then whichever of them is least consumed (never the first, which has 3).
    assert!(!dispersed.contains(&hosts[0]), "{dispersed:?} {hosts:?}");
    assert!(dispersed[..2].contains(&hosts[1]) && dispersed[..2].contains(&hosts[2]));

    // The default again: the most free memory (the first host has 3, the others 1 or 2).
    c.ok("resetConfiguration", &[("name", "vm.allocation.algorithm")])
        .await;
    let a = allocate::allocate(&c.ctx, vms[6].into(), None, None)
        .await
        .unwrap();
    let least = hosts[1..]
        .iter()
        .min_by_key(|h| (count.get(&h.into_uuid()).copied().unwrap_or(0), **h))
        .copied()
        .unwrap();
    assert_eq!(a.host_id, least, "{count:?}");

    let r = c
        .call(
            "updateConfiguration",
            &[("name", "vm.allocation.algorithm"), ("value", "bestfit")],
        )
        .await;
    assert_eq!(r.status, 431, "{}", r.text);
    assert!(
        r.errortext().contains("userconcentratedpod_firstfit"),
        "{}",
        r.text
    );
    let listed = c
        .ok("listConfigurations", &[("name", "vm.allocation.algorithm")])
        .await;
    assert_eq!(
        listed["configuration"][0]["defaultvalue"], "firstfitleastconsumed",
        "{listed}"
    );
}

/// Issue 17: a cluster's overcommit factor changes placement. Two clusters with one
/// 1-core 1000 MHz host each; a 2 × 1000 MHz VM fits neither at the global factor 1.0.
/// With `cpu.overprovisioning.factor` = 4 set on the second cluster through the API, it
/// is placed on that cluster's host, never on the other; the lists show the cluster's
/// value and its overcommitted totals.
#[tokio::test]
async fn a_clusters_overcommit_factor_changes_placement() {
    let c = Client::admin().await;
    let (zid, pid, c1) = c.basic_topology("overcommit").await;
    let c2 = c
        .ok(
            "addCluster",
            &[
                ("zoneid", &zid),
                ("podid", &pid),
                ("clustername", "c2"),
                ("clustertype", "CloudManaged"),
                ("hypervisor", "KVM"),
            ],
        )
        .await["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zid),
            ("podid", &pid),
            ("gateway", "10.0.1.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "10.0.1.10"),
            ("endip", "10.0.1.20"),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let mut hosts_by_cluster = vec![];
    for (i, cid) in [&c1, &c2].into_iter().enumerate() {
        let (h, token) = hosts::register(
            &c.ctx,
            &admin,
            zid.parse().unwrap(),
            pid.parse().unwrap(),
            cid.parse().unwrap(),
            format!("192.0.2.{}", 20 + i).parse().unwrap(),
            8250,
            &format!("oc{i}"),
        )
        .await
        .unwrap();
        hosts::heartbeat(&c.ctx, h.id, Some(&token), &facts(1, 1000, 4 << 30), None)
            .await
            .unwrap();
        hosts_by_cluster.push(h.id);
    }
    let (h1, h2) = (hosts_by_cluster[0], hosts_by_cluster[1]);
    let offering = db::offerings::service_offering_fetch(
        &c.ctx.pool,
        "00000000-0000-4000-8003-000000000001".parse().unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .id
    .into_uuid();
    let new_vm = |name: &'static str| {
        let c = c.clone_handle();
        let admin = admin.clone();
        let zid = zid.clone();
        async move {
            let id = Uuid::new_v4();
            let mut conn = c.ctx.pool.acquire().await.unwrap();
            db::vms::vm_insert(
                &mut conn,
                &db::vms::NewVm {
                    id: id.into(),
                    name,
                    display_name: name,
                    account_id: admin.account_id,
                    domain_id: admin.domain_id,
                    user_id: admin.id,
                    zone_id: zid.parse().unwrap(),
                    service_offering_id: offering.into(),
                    disk_offering_id: None,
                    iso_id: None,
                    cpu_number: 2,
                    cpu_mhz: 1000,
                    memory_mb: 512,
                    keypair: None,
                    instance_suffix: "VM",
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            id
        }
    };
    let vm = new_vm("big").await;
    let e = allocate::allocate(&c.ctx, vm.into(), None, None)
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.code.http_status(), 533, "{}", e.text);

    let u = c
        .ok(
            "updateConfiguration",
            &[
                ("name", "cpu.overprovisioning.factor"),
                ("value", "4"),
                ("clusterid", &c2),
            ],
        )
        .await;
    assert_eq!(u["configuration"]["value"], "4");
    let listed = |cid: String| {
        let c = c.clone_handle();
        async move {
            c.ok(
                "listConfigurations",
                &[("name", "cpu.overprovisioning.factor"), ("clusterid", &cid)],
            )
            .await["configuration"][0]
                .clone()
        }
    };
    let l2 = listed(c2.clone()).await;
    assert_eq!(
        (l2["value"].as_str(), l2["scope"].as_str()),
        (Some("4"), Some("cluster"))
    );
    assert_eq!(listed(c1.clone()).await["value"], "1.0", "the global value");

    // Placed on the generous cluster's host, and only there.
    let a = allocate::allocate(&c.ctx, vm.into(), None, None)
        .await
        .unwrap();
    assert_eq!(a.host_id, h2);
    let other = new_vm("other").await;
    let e = allocate::allocate(&c.ctx, other.into(), None, Some(h1))
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.code.http_status(), 533, "not on c1's host: {}", e.text);
    // c2's host holds 4000 MHz at factor 4: a second 2000 MHz VM still fits there.
    assert_eq!(
        allocate::allocate(&c.ctx, other.into(), None, None)
            .await
            .unwrap()
            .host_id,
        h2
    );

    // The lists show each cluster's factor and the overcommitted totals.
    let cl = c.ok("listClusters", &[("id", &c2)]).await;
    assert_eq!(cl["cluster"][0]["cpuovercommitratio"], "4.0");
    let cl = c.ok("listClusters", &[("id", &c1)]).await;
    assert_eq!(cl["cluster"][0]["cpuovercommitratio"], "1.0");
    let h = c.ok("listHosts", &[("id", &h2.to_string())]).await;
    assert_eq!(h["host"][0]["cpuwithoverprovisioning"], "4000.0");
    let h = c.ok("listHosts", &[("id", &h1.to_string())]).await;
    assert_eq!(h["host"][0]["cpuwithoverprovisioning"], "1000.0");
    let cap = c
        .ok("listCapacity", &[("zoneid", &zid), ("type", "1")])
        .await;
    assert_eq!(cap["capacity"][0]["capacitytotal"], 5000, "1000 + 4 × 1000");

    // Reset: the cluster reads the global value again.
    c.ok(
        "resetConfiguration",
        &[("name", "cpu.overprovisioning.factor"), ("clusterid", &c2)],
    )
    .await;
    let cl = c.ok("listClusters", &[("id", &c2)]).await;
    assert_eq!(cl["cluster"][0]["cpuovercommitratio"], "1.0");
    // A factor the registry cannot use is refused, not ignored.
    let t = c
        .err(
            "updateConfiguration",
            &[
                ("name", "cpu.overprovisioning.factor"),
                ("value", "0"),
                ("clusterid", &c2),
            ],
            431,
        )
        .await;
    assert!(t.contains("not positive"), "{t}");
}

/// A primary storage pool's own `storage.overprovisioning.factor` (set with `storageid`,
/// CloudStack's StoragePool scope) decides whether a root disk fits it, before its
/// zone's value and the global one.
#[tokio::test]
async fn a_pools_own_storage_factor_changes_placement() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("poolfactor").await;
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let (host, _) = hosts::register(
        &c.ctx,
        &admin,
        zid.parse().unwrap(),
        pid.parse().unwrap(),
        cid.parse().unwrap(),
        "192.0.2.40".parse().unwrap(),
        8250,
        "pf0",
    )
    .await
    .unwrap();
    // A 10 GiB pool for the host's cluster.
    let pool = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO storage_pools (id, name, zone_id, pod_id, cluster_id, scope, url, server,
                                    path, capacity_bytes)
         VALUES ($1, 'pf', $2::uuid, $3::uuid, $4::uuid, 'CLUSTER', 'nfs://192.0.2.9/pf',
                 '192.0.2.9', '/pf', 10737418240)",
    )
    .bind(pool)
    .bind(&zid)
    .bind(&pid)
    .bind(&cid)
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    // The pool choice placement makes: its candidates, its factor per pool.
    let choose = |size: i64| {
        let ctx = c.ctx.clone();
        let zone: Uuid = zid.parse().unwrap();
        let cluster = host.cluster_id;
        async move {
            let pools = db::capacity::pool_candidates(&ctx.pool, zone.into())
                .await
                .unwrap();
            let factor_of = stratus_management::services::vms::storage_factor_of(&ctx, zone.into());
            stratus_management::rules::placement::choose_pool(&pools, cluster, size, factor_of, &[])
                .ok()
                .map(Uuid::from)
        }
    };
    let gib = 1i64 << 30;
    assert_eq!(choose(20 * gib).await, Some(pool), "2 × 10 GiB by default");
    assert_eq!(choose(25 * gib).await, None);
    let name = ("name", "storage.overprovisioning.factor");
    c.ok(
        "updateConfiguration",
        &[name, ("value", "3"), ("storageid", &pool.to_string())],
    )
    .await;
    assert_eq!(choose(25 * gib).await, Some(pool), "the pool's own 3");
    c.ok(
        "updateConfiguration",
        &[name, ("value", "1"), ("zoneid", &zid)],
    )
    .await;
    assert_eq!(
        choose(25 * gib).await,
        Some(pool),
        "still its own, not the zone's"
    );
    c.ok(
        "resetConfiguration",
        &[name, ("storageid", &pool.to_string())],
    )
    .await;
    assert_eq!(choose(15 * gib).await, None, "the zone's 1");
}

/// listHostsMetrics' `instances`, as CloudStack's: "running / total" of the VMs placed on
/// each host (Starting counts in the total, a Stopped VM on no host in neither).
#[tokio::test]
async fn host_metrics_count_the_instances_placed_on_each_host() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("hostvms").await;
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zid),
            ("podid", &pid),
            ("gateway", "10.0.3.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "10.0.3.10"),
            ("endip", "10.0.3.50"),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let mut host_ids = vec![];
    for i in 0..2u8 {
        let (h, token) = hosts::register(
            &c.ctx,
            &admin,
            zid.parse().unwrap(),
            pid.parse().unwrap(),
            cid.parse().unwrap(),
            format!("192.0.2.{}", 40 + i).parse().unwrap(),
            8250,
            &format!("hm{i}"),
        )
        .await
        .unwrap();
        hosts::heartbeat(&c.ctx, h.id, Some(&token), &facts(8, 2000, 8 << 30), None)
            .await
            .unwrap();
        host_ids.push(h.id);
    }
    // Only the first takes VMs.
    c.ok(
        "updateHost",
        &[
            ("id", &host_ids[1].to_string()),
            ("allocationstate", "Disable"),
        ],
    )
    .await;
    let vms = small_vms(&c, &admin, &zid, 4, "hm-vm-").await;
    // Three placed (Starting), one of them then Running; the fourth never placed.
    for vm in &vms[..3] {
        let a = allocate::allocate(&c.ctx, (*vm).into(), None, None)
            .await
            .unwrap();
        assert_eq!(a.host_id, Uuid::from(host_ids[0]));
    }
    db::vms::vm_set_state(
        &c.ctx.pool,
        (vms[0]).into(),
        stratus_management::rules::vmstate::VmState::Running,
        None,
    )
    .await
    .unwrap();
    let instances = |h: stratus_management::ids::HostId| {
        let c = c.clone_handle();
        async move {
            let m = c.ok("listHostsMetrics", &[("id", &h.to_string())]).await;
            m["host"][0]["instances"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(instances(host_ids[0]).await, "1 / 3");
    assert_eq!(instances(host_ids[1]).await, "0 / 0");
    // Stopped (released), a VM is on no host.
    allocate::release(
        &c.ctx,
        (vms[1]).into(),
        stratus_management::rules::vmstate::VmState::Stopped,
        None,
    )
    .await
    .unwrap();
    assert_eq!(instances(host_ids[0]).await, "1 / 2");
}

/// Issue 16: a live migration holds its destination's room from the moment it is chosen,
/// so concurrent migrations (and deploys) never both take a host's last room; the rules
/// of `migrateVirtualMachine` and `findHostsForMigration` about which hosts qualify.
/// Five VMs run on host A; host B has room for two; host C is big but disabled. Of five
/// concurrent migrations exactly two hold B, none holds A or C. (Holding, not moving: the
/// move itself, over libvirt, is `tests/tests/e2e_migrate.rs`'s.)
#[tokio::test]
async fn concurrent_migrations_never_overcommit_the_destination() {
    use stratus_management::services::vms::migrate;
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("migr").await;
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let topo = (zid.as_str(), pid.as_str(), cid.as_str());
    let a = host_up(&c, &admin, topo, "a", 20, &facts(8, 1000, 8 << 30)).await;
    let b = host_up(&c, &admin, topo, "b", 21, &facts(1, 1000, 1 << 30)).await;
    let off = host_up(&c, &admin, topo, "c", 22, &facts(64, 1000, 64 << 30)).await;
    c.ok(
        "updateHost",
        &[("id", &off.to_string()), ("allocationstate", "Disable")],
    )
    .await;
    // The 500 MHz / 512 MiB offering: B takes two of them.
    let vms = small_vms(&c, &admin, &zid, 6, "mig-").await;
    // Five run on A; the sixth stays Stopped.
    sqlx::query("UPDATE vms SET host_id = $1, state = 'Running' WHERE id = ANY($2)")
        .bind(Uuid::from(a))
        .bind(&vms[..5])
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let code = |r: Result<_, stratus_management::error::Error>| match r {
        Ok(_) => 0,
        Err(e) => e.to_api().code.http_status(),
    };

    // Only a running VM moves; never to its own host, a disabled one, or one not in its zone.
    let (id5, id0) = (vms[5].to_string(), vms[0].to_string());
    let text = c.err("findHostsForMigration", &[("id", &id5)], 431).await;
    assert!(text.contains("not Running"), "{text}");
    assert_eq!(
        code(migrate::hold_destination(&c.ctx, (vms[5]).into(), None).await),
        431
    );
    let own = migrate::hold_destination(&c.ctx, (vms[0]).into(), Some(a.into())).await;
    assert!(
        own.as_ref()
            .is_err_and(|e| e.to_api().text.contains("the host it runs on")),
        "{:?}",
        own.map(|h| h.name)
    );
    assert_eq!(
        code(migrate::hold_destination(&c.ctx, (vms[0]).into(), Some(off.into())).await),
        533
    );
    assert_eq!(
        code(migrate::hold_destination(&c.ctx, (vms[0]).into(), Some(Uuid::new_v4())).await),
        431
    );
    // findHostsForMigration: the other hosts, the suitable first; never the VM's own.
    let found = c.ok("findHostsForMigration", &[("id", &id0)]).await;
    let rows = found["host"].as_array().unwrap().clone();
    let seen: Vec<(String, bool)> = rows
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_string(),
                h["suitableformigration"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [("b".to_string(), true), ("c".to_string(), false)]);
    assert_eq!(found["count"], 2, "{found}");
    // Pages of that order, each counting them all; past the end, nothing (CloudStack's
    // empty list).
    for (page, name) in [("1", Some("b")), ("2", Some("c")), ("3", None)] {
        let p = c
            .ok(
                "findHostsForMigration",
                &[("id", &id0), ("pagesize", "1"), ("page", page)],
            )
            .await;
        match name {
            Some(name) => {
                assert_eq!(p["count"], 2, "{p}");
                assert_eq!(p["host"].as_array().map(Vec::len), Some(1), "{p}");
                assert_eq!(p["host"][0]["name"], name, "page {page}: {p}");
            }
            None => assert!(p.get("host").is_none(), "page {page}: {p}"),
        }
    }

    // Five at once: B has room for two.
    let tasks: Vec<_> = vms[..5]
        .iter()
        .map(|&vm| {
            let ctx = c.ctx.clone();
            tokio::spawn(
                async move { (vm, migrate::hold_destination(&ctx, vm.into(), None).await) },
            )
        })
        .collect();
    let mut held = vec![];
    for t in tasks {
        let (vm, r) = t.await.unwrap();
        match r {
            Ok(h) => {
                assert_eq!(h.id, b, "only B qualifies");
                held.push(vm);
            }
            Err(e) => {
                let api = e.to_api();
                assert_eq!(api.code.http_status(), 533, "{}", api.text);
            }
        }
    }
    assert_eq!(held.len(), 2, "B has room for two");
    // B is full while they hold it: it is listed, not suitable.
    let found = c
        .ok("findHostsForMigration", &[("id", &vms[4].to_string())])
        .await;
    let b_row = found["host"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "b")
        .unwrap();
    assert_eq!(b_row["name"], "b", "{found}");
    assert_eq!(b_row["suitableformigration"], false, "{found}");
    // A VM already migrating is not migrated twice.
    assert_eq!(
        code(migrate::hold_destination(&c.ctx, (held[0]).into(), None).await),
        536
    );
    // A released hold frees the room; a lapsed one (its server died) does too.
    migrate::release_destination(&c.ctx, (held[0]).into())
        .await
        .unwrap();
    let next = vms[..5]
        .iter()
        .copied()
        .find(|v| !held.contains(v))
        .unwrap();
    assert_eq!(
        migrate::hold_destination(&c.ctx, next.into(), None)
            .await
            .unwrap()
            .id,
        b
    );
    let last = vms[..5]
        .iter()
        .copied()
        .find(|v| !held.contains(v) && *v != next)
        .unwrap();
    assert_eq!(
        code(migrate::hold_destination(&c.ctx, last.into(), None).await),
        533
    );
    sqlx::query("UPDATE vms SET migrating_until = now() - interval '1 second' WHERE id = $1")
        .bind(next)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    assert_eq!(
        migrate::hold_destination(&c.ctx, last.into(), None)
            .await
            .unwrap()
            .id,
        b
    );
}

/// Two equal hosts, A and B (`{prefix}a`, `{prefix}b`), and one small VM Running on A
/// for an hour (settled): what the migration tests start from.
async fn one_vm_running_on_a(
    c: &Client,
    prefix: &str,
) -> (
    stratus_management::ids::HostId,
    stratus_management::ids::HostId,
    Uuid,
) {
    let (zid, pid, cid) = c.basic_topology(prefix).await;
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let topo = (zid.as_str(), pid.as_str(), cid.as_str());
    let a = host_up(
        c,
        &admin,
        topo,
        &format!("{prefix}a"),
        30,
        &facts(8, 1000, 8 << 30),
    )
    .await;
    let b = host_up(
        c,
        &admin,
        topo,
        &format!("{prefix}b"),
        31,
        &facts(8, 1000, 8 << 30),
    )
    .await;
    let vm = small_vms(c, &admin, &zid, 1, &format!("{prefix}-")).await[0];
    sqlx::query(
        "UPDATE vms SET host_id = $1, state = 'Running', state_changed = now() - interval '1 hour' WHERE id = $2",
    )
    .bind(Uuid::from(a))
    .bind(vm)
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    (a, b, vm)
}

/// Issue 16: while a VM moves, its domain is on the destination before its record is,
/// and gone from the source before the record leaves it. The hosts' reports in that time
/// (and for the settle time after) neither destroy the domain on the destination as a
/// stray nor mark the VM dead on the source; the same reports without a migration do.
/// (In CI, a destination's report destroyed a VM that maintenance had just moved there.)
#[tokio::test]
async fn reports_during_a_migration_leave_the_moving_vm_alone() {
    use stratus_api::agent::{DomainReport, DomainState};
    use stratus_management::services::vms::{self, migrate};
    let c = Client::admin().await;
    let (a, b, vm) = one_vm_running_on_a(&c, "mrep").await;
    let host = |id| {
        let pool = c.ctx.pool.clone();
        async move { db::hosts::host_fetch(&pool, id).await.unwrap().unwrap() }
    };
    let (ha, hb) = (host(a).await, host(b).await);
    let running = vec![DomainReport {
        name: "i-2-1-VM".into(),
        uuid: vm,
        state: DomainState::Running,
    }];
    // What each host's report does to the VM: the strays it names, and the VM's state.
    let report = |h: db::hosts::HostRow, domains: Vec<DomainReport>| {
        let pool = c.ctx.pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            let strays = vms::sync_report(&mut tx, &h, &domains, 15).await.unwrap();
            tx.rollback().await.unwrap();
            strays.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
        }
    };
    let died = |h: db::hosts::HostRow| {
        let pool = c.ctx.pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            vms::sync_report(&mut tx, &h, &[], 15).await.unwrap();
            let state: String = sqlx::query_scalar("SELECT state FROM vms WHERE id = $1")
                .bind(vm)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            state == "Stopped"
        }
    };
    // Without a migration: B running it is a stray; A not running it means it died.
    assert_eq!(report(hb.clone(), running.clone()).await, [vm]);
    assert!(died(ha.clone()).await);

    // Moving (the destination held): neither.
    migrate::hold_destination(&c.ctx, vm.into(), Some(b.into()))
        .await
        .unwrap();
    assert!(report(hb.clone(), running.clone()).await.is_empty());
    assert!(!died(ha.clone()).await);
    // Moved (the record on B): A's late report still running it, and B's from before the
    // move without it, are both left alone for the settle time.
    assert!(db::vms::vm_move_host(&c.ctx.pool, vm.into(), a, b)
        .await
        .unwrap());
    assert!(report(ha.clone(), running.clone()).await.is_empty());
    assert!(!died(hb.clone()).await);
    // Settled again: the reports count.
    sqlx::query("UPDATE vms SET migrating_until = now() - interval '1 minute' WHERE id = $1")
        .bind(vm)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    assert_eq!(report(ha, running).await, [vm]);
    assert!(died(hb).await);
}

/// Issue 17: a live migration is the VmMigrate workflow. Its Hold step done twice (a
/// resumed workflow) keeps the one destination it held; a failure at Hold or at Prepare
/// unwinds: the VM stays on its host and no room stays held. (The steps that talk to
/// hosts, Prepare's *do*, Move and Record, run against real hosts in
/// `tests/tests/e2e_migrate.rs`; hosts here are rows, so no step may reach an agent.)
#[tokio::test]
async fn a_migration_holds_once_and_unwinds_before_the_move() {
    use stratus_management::services::vms::migrate::{self, Migrate, MigrateStep};
    use stratus_management::services::workflow::{Outputs, Workflow};
    let c = Client::admin().await;
    let (a, b, vm) = one_vm_running_on_a(&c, "mwf").await;
    let target = || async {
        db::vms::vm_migration_target(&c.ctx.pool, vm.into())
            .await
            .unwrap()
    };
    // The VM's unfinished VmMigrate workflow, if any.
    let active = || async {
        db::workflows::workflow_fetch_active(
            &c.ctx.pool,
            stratus_management::services::workflow::Kind::VmMigrate,
            "VirtualMachine",
            vm,
        )
        .await
        .unwrap()
    };
    let host_of = || async {
        db::vms::vm_fetch(&c.ctx.pool, vm.into())
            .await
            .unwrap()
            .unwrap()
            .host_id
    };

    // Hold, twice: the same destination, held once.
    let w = Migrate {
        vm: vm.into(),
        want: None,
    };
    let first = w
        .do_step(&c.ctx, MigrateStep::Hold, &Outputs::default())
        .await
        .unwrap();
    let again = w
        .do_step(&c.ctx, MigrateStep::Hold, &Outputs::default())
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first["dest"], b.to_string(), "{first}");
    assert_eq!(first["source"], a.to_string(), "{first}");
    assert_eq!(target().await, Some(b));
    // While it holds, another migration of the VM is refused.
    let e = migrate::migrate(&c.ctx, None, vm.into(), None)
        .await
        .unwrap_err()
        .to_api();
    assert_eq!(e.code.http_status(), 536, "{}", e.text);
    assert!(e.text.contains("already being migrated"), "{}", e.text);
    w.undo_step(&c.ctx, MigrateStep::Hold, &Outputs::default())
        .await
        .unwrap();
    assert_eq!(target().await, None);

    // A failure at each step before the move unwinds everything before it.
    for step in ["HoldDestination", "PrepareDestination"] {
        c.ctx.faults.set(&format!("fail:{step}"));
        let e = migrate::migrate(&c.ctx, None, vm.into(), None)
            .await
            .unwrap_err();
        c.ctx.faults.clear();
        assert!(
            e.to_string()
                .contains(&format!("injected failure at step {step}")),
            "{step}: {e}"
        );
        assert_eq!(host_of().await, Some(a), "{step}");
        assert_eq!(target().await, None, "{step}: the room stays held");
        assert!(active().await.is_none(), "{step}: the workflow is over");
    }
    let (rows, _) = db::workflows::workflow_list(
        &c.ctx.pool,
        &db::workflows::WorkflowFilter {
            resource_id: Some(vm),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| r.kind == stratus_management::services::workflow::Kind::VmMigrate)
        .map(|r| (r.state.as_str(), r.step.clone().unwrap_or_default()))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|(s, _)| *s == "Failed"), "{failed:?}");

    // A maintenance's move (no job) whose server dies at Prepare is carried on by
    // housekeeping: here Prepare fails again, so it unwinds and frees the room.
    c.ctx.faults.set("hang:PrepareDestination");
    let ctx = c.ctx.clone();
    let dying = tokio::spawn(async move { migrate::migrate(&ctx, None, vm.into(), None).await });
    let row = loop {
        if let Some(w) = active()
            .await
            .filter(|w| w.step.as_deref() == Some("PrepareDestination"))
        {
            break w;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    dying.abort();
    assert_eq!(target().await, Some(b), "held while it ran");
    // Its server is gone: the lease and the last update lie in the past.
    sqlx::query(
        "UPDATE workflows SET owner_ms = $2, lease_until = now() - interval '1 minute',
                updated = now() - interval '2 minutes' WHERE id = $1",
    )
    .bind(row.id)
    .bind(Uuid::new_v4())
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    c.ctx.faults.clear();
    c.ctx.faults.set("fail:PrepareDestination");
    let n = stratus_management::services::reconcile::resume_orphaned_work(&c.ctx)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let over = loop {
        let r = db::workflows::workflow_fetch(&c.ctx.pool, row.id)
            .await
            .unwrap()
            .unwrap();
        if !r.state.is_active() {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "not resumed: {r:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    c.ctx.faults.clear();
    assert_eq!(over.state.as_str(), "Failed", "{over:?}");
    assert_eq!(
        target().await,
        None,
        "the resumed migration unwound its hold"
    );
    assert_eq!(host_of().await, Some(a));
}
