//! Deploy latency: `deployVirtualMachine` accepted → Running, on simulated hosts.
//!
//! Run (root: the hosts are network namespaces): `cargo bench -p stratus-management
//! --bench deploy` (options after `--`: `--vms N` (40), `--concurrency C` (4),
//! `--template-vms N` (10), `--sg-reps N` (10)). Two
//! simulated hosts (tests/testbed, each with its sshd and an agent added by addHost)
//! drive libvirt's test driver, so a deploy does everything but run QEMU: placement and
//! address, a qcow2 root volume created over NFS on a real nfs-ganesha, the host's bridge
//! and dnsmasq leases, the domain defined and started. The management server runs in this
//! process over a private Postgres. Then the template rounds (issue 13) and the security
//! group rounds (issue 14: authorize → enforced in the host's kernel at 1, 10 and 100 VMs
//! of one host, against `nft -f` of the same file). Results: docs/benchmarks.md.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use stratus_management::ids::ManagementServerId;

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
        let j = db::jobs::job_fetch(&ctx.pool, job.into())
            .await
            .unwrap()
            .unwrap();
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
    let t_vms: usize = arg(&args, "--template-vms", 10);
    let sg_reps: usize = arg(&args, "--sg-reps", 10);

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
    let ms = ManagementServerId::new_v4();
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
    tokio::spawn(stratus_management::services::security_groups::run(
        ctx.clone(),
        rx.clone(),
    ));
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
        // The images are served from this process on loopback.
        ("secstorage.allowed.internal.sites", "127.0.0.1/32"),
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

    // --- Deploy from a template (issue 13) -------------------------------------------
    // The ISO rounds' VMs go first (the hosts' memory), then the test bed's Debian cloud
    // image is registered as a template.
    expunge_all(&ctx, &c).await?;
    template_rounds(&ctx, &c, &zone, &tiny, &nfs.url(&primary), t_vms).await?;
    sg_rounds(&ctx, &c, &zone, &iso, &h1, sg_reps).await?;
    let _ = files;
    pool.close().await;
    pg.stop();
    drop((h1, h2, nfs));
    Ok(())
}

/// The template rounds: register the test bed's cloud image; the raw NFS write rate
/// (the floor); the first VM on the pool (the template's base is copied there: its copy
/// rate against the floor); `n` more with the base present; createTemplate from one of
/// them, stopped (the volume flattened back into secondary storage).
async fn template_rounds<F, Fut>(
    ctx: &Ctx,
    c: &F,
    zone: &str,
    offering: &str,
    primary_url: &str,
    n: usize,
) -> anyhow::Result<()>
where
    F: Fn(&'static str, Vec<(&'static str, String)>) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    use stratus_management::clients::nfs::{NfsClient, NfsUrl};
    let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
    let image = stratus_tests::guest_image();
    let files = HttpFiles::start(vec![("/cloud.qcow2", Served::File(image.clone()))]);
    let os = c("listOsTypes", vec![]).await["ostype"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = Instant::now();
    let t = c(
        "registerTemplate",
        vec![
            ("zoneid", zone.to_string()),
            ("name", "cloud".into()),
            ("format", "QCOW2".into()),
            ("hypervisor", "KVM".into()),
            ("ostypeid", os.clone()),
            ("url", files.url("/cloud.qcow2")),
        ],
    )
    .await["template"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let virtual_size = loop {
        let l = c(
            "listTemplates",
            vec![("id", t.clone()), ("templatefilter", "all".into())],
        )
        .await;
        if l["template"][0]["isready"] == true {
            break l["template"][0]["size"].as_i64().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let download = started.elapsed();
    let image_bytes = std::fs::metadata(&image)?.len();

    // The floor: writing zeros to the primary export over NFS, in this run.
    let url = NfsUrl::parse(primary_url)?;
    let mut nfs = NfsClient::connect(&url, Duration::from_secs(10)).await?;
    let floor = nfs
        .measure_write_rate("bench-write-rate", 512 << 20)
        .await?;

    let deploy = |name: String| {
        let (zone, offering, t) = (zone.to_string(), offering.to_string(), t.clone());
        async move {
            let started = Instant::now();
            let b = c(
                "deployVirtualMachine",
                vec![
                    ("zoneid", zone),
                    ("serviceofferingid", offering),
                    ("templateid", t),
                    ("name", name.clone()),
                ],
            )
            .await;
            let job: Uuid = b["jobid"].as_str().unwrap().parse().unwrap();
            assert!(finished(ctx, job).await, "deploy {name} failed");
            (b["id"].as_str().unwrap().to_string(), started.elapsed())
        }
    };
    let (first_vm, first) = deploy("t-first".into()).await;
    let root = db::volumes::volume_root_of_vm(&ctx.pool, first_vm.parse()?)
        .await?
        .expect("a root volume");
    let pool_id = root.pool_id;
    let base = db::bases::base_fetch(&ctx.pool, t.parse()?, pool_id)
        .await?
        .expect("the base");
    let copy_secs = (base.updated - base.created).as_seconds_f64();
    let base_bytes = base.size_bytes.unwrap_or(0) as f64;
    let mut lat = vec![];
    for i in 0..n {
        lat.push(deploy(format!("t{i}")).await.1);
    }
    lat.sort();

    // createTemplate from the first VM, stopped: its overlay read through the base.
    let b = c(
        "stopVirtualMachine",
        vec![("id", first_vm.clone()), ("forced", "true".into())],
    )
    .await;
    assert!(finished(ctx, b["jobid"].as_str().unwrap().parse()?).await);
    let started = Instant::now();
    let b = c(
        "createTemplate",
        vec![
            ("virtualmachineid", first_vm),
            ("name", "from-first".into()),
            ("ostypeid", os),
        ],
    )
    .await;
    assert!(finished(ctx, b["jobid"].as_str().unwrap().parse()?).await);
    let created = started.elapsed();
    let l = c(
        "listTemplates",
        vec![
            ("name", "from-first".into()),
            ("templatefilter", "all".into()),
        ],
    )
    .await;
    let created_bytes = l["template"][0]["physicalsize"].as_f64().unwrap_or(0.0);

    // createSnapshot of the same stopped VM's root volume: the overlay read through its
    // base and backed up to secondary storage as a standalone qcow2 (issue 16).
    let started = Instant::now();
    let b = c("createSnapshot", vec![("volumeid", root.id.to_string())]).await;
    assert!(finished(ctx, b["jobid"].as_str().unwrap().parse()?).await);
    let snapped = started.elapsed();
    let l = c("listSnapshots", vec![("volumeid", root.id.to_string())]).await;
    let snap_bytes = l["snapshot"][0]["physicalsize"].as_f64().unwrap_or(0.0);

    println!();
    println!(
        "template: {:.0} MiB qcow2 (virtual {:.0} MiB), registered → Ready in {:.2} s",
        mib(image_bytes as f64),
        mib(virtual_size as f64),
        download.as_secs_f64()
    );
    println!("| case | result | floor in the same run |\n|---|---|---|");
    println!(
        "| deploy, first VM of the template on the pool (accepted → Running, base copied) | {:.2} s | — |",
        first.as_secs_f64()
    );
    println!(
        "| deploy, base present ({n} VMs, one at a time) | p50 {:.2} s, p99 {:.2} s, max {:.2} s | — |",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().unwrap().as_secs_f64()
    );
    println!(
        "| template copy to the pool (flattened qcow2 written) | {:.0} MiB in {:.2} s = {:.0} MiB/s | raw NFS write {:.0} MiB/s |",
        mib(base_bytes),
        copy_secs,
        mib(base_bytes) / copy_secs.max(1e-9),
        floor.mib_per_second()
    );
    println!(
        "| createTemplate from the stopped VM (flattened into secondary) | {:.0} MiB in {:.2} s = {:.0} MiB/s | raw NFS write {:.0} MiB/s |",
        mib(created_bytes),
        created.as_secs_f64(),
        mib(created_bytes) / created.as_secs_f64().max(1e-9),
        floor.mib_per_second()
    );
    println!(
        "| createSnapshot of the stopped VM's root volume (backed up to secondary) | {:.0} MiB in {:.2} s = {:.0} MiB/s | raw NFS write {:.0} MiB/s |",
        mib(snap_bytes),
        snapped.as_secs_f64(),
        mib(snap_bytes) / snapped.as_secs_f64().max(1e-9),
        floor.mib_per_second()
    );
    drop(files);
    Ok(())
}

/// Security groups (issue 14): authorizeSecurityGroupIngress accepted → the rule in force
/// in the host's kernel (its agent confirmed the `nft -f` that loaded it), with 1, 10 and
/// 100 VMs of the group on one host; next to the floor, `nft -f` of the agent's own file
/// for as many VMs, timed on the host itself. Each authorize adds a port to the `default`
/// group every VM is in, so every VM's chain changes.
async fn sg_rounds<F, Fut>(
    ctx: &Ctx,
    c: &F,
    zone: &str,
    iso: &str,
    host: &SimHost,
    reps: usize,
) -> anyhow::Result<()>
where
    F: Fn(&'static str, Vec<(&'static str, String)>) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    // The earlier rounds' VMs go first: these are all on one host.
    expunge_all(ctx, c).await?;
    let hosts = c("listHosts", vec![("type", "Routing".into())]).await;
    let host_id: Uuid = hosts["host"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["ipaddress"] == host.address.as_str())
        .and_then(|h| h["id"].as_str())
        .expect("the host")
        .parse()?;
    // 16 MiB VMs: a hundred fit the test driver's host.
    let small = c(
        "createServiceOffering",
        vec![
            ("name", "sg".into()),
            ("displaytext", "sg".into()),
            ("cpunumber", "1".into()),
            ("cpuspeed", "10".into()),
            ("memory", "16".into()),
        ],
    )
    .await["serviceoffering"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let group = c(
        "listSecurityGroups",
        vec![("securitygroupname", "default".into())],
    )
    .await["securitygroup"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut deployed = 0usize;
    let mut port = 40_000u32;
    println!(
        "\n| VMs on the host | authorize → job done p50 s | → enforced p50 s | p99 s | max s | floor: nft -f p50 s | rule set |\n|---:|---:|---:|---:|---:|---:|---:|"
    );
    for size in [1usize, 10, 100] {
        while deployed < size {
            let mut set = tokio::task::JoinSet::new();
            for i in deployed..size.min(deployed + 4) {
                let b = c(
                    "deployVirtualMachine",
                    vec![
                        ("zoneid", zone.to_string()),
                        ("serviceofferingid", small.clone()),
                        ("templateid", iso.to_string()),
                        ("diskofferingid", DISK_CUSTOM.into()),
                        ("size", "1".into()),
                        ("hostid", host_id.to_string()),
                        ("name", format!("sg{i}")),
                    ],
                )
                .await;
                let job: Uuid = b["jobid"].as_str().unwrap().parse()?;
                let ctx = ctx.clone();
                set.spawn(async move { finished(&ctx, job).await });
            }
            while let Some(ok) = set.join_next().await {
                assert!(ok?, "a deploy failed");
                deployed += 1;
            }
        }
        let (mut job_done, mut enforced) = (vec![], vec![]);
        for _ in 0..reps {
            port += 1;
            let t = Instant::now();
            let b = c(
                "authorizeSecurityGroupIngress",
                vec![
                    ("securitygroupid", group.clone()),
                    ("protocol", "tcp".into()),
                    ("startport", port.to_string()),
                    ("endport", port.to_string()),
                    ("cidrlist", "198.51.100.0/24".into()),
                ],
            )
            .await;
            let job: Uuid = b["jobid"].as_str().unwrap().parse()?;
            assert!(finished(ctx, job).await, "authorize failed");
            job_done.push(t.elapsed());
            loop {
                let st = db::security_groups::host_sg_state(&ctx.pool, host_id.into())
                    .await?
                    .expect("the host's filter state");
                assert!(st.error.is_none(), "the push failed: {:?}", st.error);
                if st.applied >= st.generation {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            enforced.push(t.elapsed());
        }
        // In the host's kernel: the last port, in each VM's chain.
        let listed = host.exec(&["nft", "list", "table", "inet", "stratus_sg"]);
        let listed = String::from_utf8_lossy(&listed.stdout);
        let chains = listed.matches(&format!("dport {port}")).count();
        assert!(
            chains >= size,
            "tcp/{port} is in force for every VM ({chains} of {size})"
        );
        // The floor: the agent's own file loaded again, timed on the host.
        let mut floor = vec![];
        let mut bytes = 0;
        for _ in 0..reps {
            let out = host.exec(&[
                "sh",
                "-c",
                "f=/var/lib/stratus-agent/firewall/rules.nft; wc -c < $f; s=$(date +%s%N); nft -f $f || exit 1; e=$(date +%s%N); echo $((e - s))",
            ]);
            assert!(out.status.success(), "nft -f: {out:?}");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let mut lines = text.lines();
            bytes = lines.next().unwrap_or("0").trim().parse::<u64>()?;
            let ns: u64 = lines.next().unwrap_or("0").trim().parse()?;
            floor.push(Duration::from_nanos(ns));
        }
        for v in [&mut job_done, &mut enforced, &mut floor] {
            v.sort();
        }
        println!(
            "| {size} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} KiB |",
            pct(&job_done, 0.5),
            pct(&enforced, 0.5),
            pct(&enforced, 0.99),
            enforced.last().unwrap().as_secs_f64(),
            pct(&floor, 0.5),
            bytes / 1024
        );
    }
    Ok(())
}

/// Destroys and expunges every VM (the next round's hosts start empty).
async fn expunge_all<F, Fut>(ctx: &Ctx, c: &F) -> anyhow::Result<()>
where
    F: Fn(&'static str, Vec<(&'static str, String)>) -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    let vms = c("listVirtualMachines", vec![("listall", "true".into())]).await;
    let mut jobs = vec![];
    for v in vms["virtualmachine"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let id = v["id"].as_str().unwrap().to_string();
        let b = c(
            "destroyVirtualMachine",
            vec![("id", id), ("expunge", "true".into())],
        )
        .await;
        jobs.push(b["jobid"].as_str().unwrap().parse::<Uuid>()?);
    }
    for j in jobs {
        assert!(finished(ctx, j).await, "expunge failed");
    }
    Ok(())
}
