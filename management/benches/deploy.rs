//! Deploy latency: `deployVirtualMachine` accepted → Running, on simulated hosts.
//!
//! Run (root: the hosts are network namespaces): `cargo bench -p stratus-management
//! --bench deploy` (options after `--`: `--vms N` (40), `--concurrency C` (4)). Two
//! simulated hosts (tests/testbed, each with its sshd and an agent added by addHost)
//! drive libvirt's test driver, so a deploy does everything but run QEMU: placement and
//! address, a qcow2 root volume created over NFS on a real nfs-ganesha, the host's bridge
//! and dnsmasq leases, the domain defined and started. The management server runs in this
//! process over a private Postgres. Results: docs/benchmarks.md.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stratus_management::embedded_pg::{EmbeddedPostgres, Options};
use stratus_management::services::auth::Caller;
use stratus_management::{
    ctx::Ctx, db, front::jobs, services::accounts, services::hosts, services::isos,
};
use stratus_tests::{HttpFiles, NfsServer, Served, SimHost};
use tokio::sync::watch;
use uuid::Uuid;

/// The seeded "Custom" disk offering: each root disk is 1 GB (`size=1`).
const DISK_CUSTOM: &str = "00000000-0000-4000-8004-000000000004";

use stratus_testkit::bench as support;
use support::arg;

async fn run(ctx: &Ctx, caller: &Caller, name: &str, params: &[(&str, &str)]) -> serde_json::Value {
    let owned: Vec<(&str, String)> = params.iter().map(|(k, v)| (*k, v.to_string())).collect();
    support::dispatch(ctx, caller, name, &owned).await
}

/// The `p` quantile of sorted latencies, in seconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    support::percentile(sorted, p).as_secs_f64()
}

/// Waits for the job; answers whether it succeeded.
async fn finished(ctx: &Ctx, job: Uuid) -> bool {
    loop {
        let j = db::jobs::job_fetch(&ctx.pool, job).await.unwrap().unwrap();
        use stratus_management::rules::jobstate::JobStatus;
        if j.status.0 != JobStatus::Pending {
            return j.status.0 == JobStatus::Succeeded;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (n, conc): (usize, usize) = (arg(&args, "--vms", 40), arg(&args, "--concurrency", 4));

    let tmp = tempfile::tempdir()?;
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up("bdn", 199, &tmp.path().join("nfs"), &[&primary, &secondary]);
    let h1 = SimHost::up("bdh1", 197, "bench-pw", &tmp.path().join("hosts"));
    let h2 = SimHost::up("bdh2", 198, "bench-pw", &tmp.path().join("hosts"));

    let pg = EmbeddedPostgres::start(&tmp.path().join("pg"), Options::default()).await?;
    stratus_management::db::server::database_ensure(&pg.options("postgres"), "bench").await?;
    let pool = db::connect(pg.options("bench"), 16).await?;
    db::migrate(&pool).await?;
    accounts::ensure_admin(&pool, Some("bench-password")).await?;
    let ms = Uuid::new_v4();
    db::mgmt::ms_register(&pool, ms, "bench", "0").await?;
    let mut ctx = Ctx::new(
        pool.clone(),
        ms,
        stratus_management::secrets::SecretKey::generate(),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(format!("{}:0", h1.mgmt_ip)).await?;
    ctx.listen = Some(listener.local_addr()?);
    let router = stratus_management::front::router(ctx.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let (_stop, rx) = watch::channel(false);
    tokio::spawn(hosts::run_monitor(ctx.clone(), rx.clone()));
    tokio::spawn(jobs::run_worker(ctx.clone(), rx.clone()));
    tokio::spawn(isos::run(ctx.clone(), rx));
    let admin = db::accounts::user_fetch_by_name(&pool, db::accounts::ROOT_DOMAIN, "admin")
        .await?
        .expect("admin");
    let caller = Caller {
        user: admin,
        session_id: None,
    };
    let c = |name: &'static str, p: Vec<(&'static str, String)>| {
        let (ctx, caller) = (ctx.clone(), caller.clone());
        async move {
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            run(&ctx, &caller, name, &p).await
        }
    };
    for (k, v) in [
        ("kvm.libvirt.uri", "test:///default"),
        ("kvm.acceleration", "qemu"),
    ] {
        c(
            "updateConfiguration",
            vec![("name", k.into()), ("value", v.into())],
        )
        .await;
    }
    let zone = c(
        "createZone",
        vec![
            ("name", "bz".into()),
            ("networktype", "Basic".into()),
            ("dns1", "192.0.2.53".into()),
            ("internaldns1", "10.231.0.1".into()),
        ],
    )
    .await["zone"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pod = c(
        "createPod",
        vec![
            ("zoneid", zone.clone()),
            ("name", "p".into()),
            ("gateway", "172.31.0.1".into()),
            ("netmask", "255.255.255.0".into()),
            ("startip", "172.31.0.10".into()),
            ("endip", "172.31.0.20".into()),
        ],
    )
    .await["pod"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    c(
        "createVlanIpRange",
        vec![
            ("zoneid", zone.clone()),
            ("podid", pod.clone()),
            ("gateway", "192.168.197.1".into()),
            ("netmask", "255.255.255.0".into()),
            ("startip", "192.168.197.10".into()),
            ("endip", "192.168.197.250".into()),
            ("forvirtualnetwork", "false".into()),
        ],
    )
    .await;
    let cluster = c(
        "addCluster",
        vec![
            ("zoneid", zone.clone()),
            ("podid", pod.clone()),
            ("clustername", "c".into()),
            ("clustertype", "CloudManaged".into()),
            ("hypervisor", "KVM".into()),
        ],
    )
    .await["cluster"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for h in [&h1, &h2] {
        c(
            "addHost",
            vec![
                ("zoneid", zone.clone()),
                ("podid", pod.clone()),
                ("clusterid", cluster.clone()),
                ("hypervisor", "KVM".into()),
                ("url", format!("http://{}", h.address)),
                ("username", "root".into()),
                ("password", "bench-pw".into()),
            ],
        )
        .await;
    }
    c(
        "createStoragePool",
        vec![
            ("zoneid", zone.clone()),
            ("podid", pod.clone()),
            ("clusterid", cluster.clone()),
            ("name", "primary".into()),
            ("url", nfs.url(&primary)),
        ],
    )
    .await;
    c(
        "addImageStore",
        vec![
            ("zoneid", zone.clone()),
            ("provider", "NFS".into()),
            ("name", "secondary".into()),
            ("url", nfs.url(&secondary)),
        ],
    )
    .await;
    let files = HttpFiles::start(vec![(
        "/ipxe.iso",
        Served::File("/usr/lib/ipxe/ipxe.iso".into()),
    )]);
    let iso = c(
        "registerIso",
        vec![
            ("zoneid", zone.clone()),
            ("name", "ipxe".into()),
            ("displaytext", "iPXE".into()),
            ("url", files.url("/ipxe.iso")),
        ],
    )
    .await["iso"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    loop {
        let l = c(
            "listIsos",
            vec![("id", iso.clone()), ("isofilter", "all".into())],
        )
        .await;
        if l["iso"][0]["isready"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 64 MiB VMs: the test driver's 3 GiB hosts take 48 each, room for both rounds.
    let tiny = c(
        "createServiceOffering",
        vec![
            ("name", "tiny".into()),
            ("displaytext", "tiny".into()),
            ("cpunumber", "1".into()),
            ("cpuspeed", "100".into()),
            ("memory", "64".into()),
        ],
    )
    .await["serviceoffering"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    println!("| deploys | at once | p50 s | p99 s | max s | deploys/s |\n|---:|---:|---:|---:|---:|---:|");
    for (round, at_once) in [(0usize, 1usize), (1, conc)] {
        let start = Instant::now();
        let mut lat = vec![];
        for chunk in (0..n).collect::<Vec<_>>().chunks(at_once) {
            let mut set = tokio::task::JoinSet::new();
            for i in chunk {
                let (ctx, caller) = (ctx.clone(), caller.clone());
                let (zone, iso, tiny) = (zone.clone(), iso.clone(), tiny.clone());
                let name = format!("r{round}v{i}");
                set.spawn(async move {
                    let t = Instant::now();
                    let b = run(
                        &ctx,
                        &caller,
                        "deployVirtualMachine",
                        &[
                            ("zoneid", &zone),
                            ("serviceofferingid", &tiny),
                            ("templateid", &iso),
                            ("diskofferingid", DISK_CUSTOM),
                            ("size", "1"),
                            ("hypervisor", "KVM"),
                            ("name", &name),
                        ],
                    )
                    .await;
                    let job: Uuid = b["jobid"].as_str().unwrap().parse().unwrap();
                    assert!(finished(&ctx, job).await, "deploy {name} failed");
                    t.elapsed()
                });
            }
            while let Some(d) = set.join_next().await {
                lat.push(d?);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        lat.sort();
        println!(
            "| {n} | {at_once} | {:.2} | {:.2} | {:.2} | {:.1} |",
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            lat.last().unwrap().as_secs_f64(),
            n as f64 / secs
        );
    }
    let _ = files;
    pool.close().await;
    pg.stop();
    drop((h1, h2, nfs));
    Ok(())
}
