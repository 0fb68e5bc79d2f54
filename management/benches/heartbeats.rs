//! 1,000 simulated hosts heartbeating: the management server's CPU share and heartbeat
//! round-trip latency.
//!
//! Run: `cargo bench -p stratus-management --bench heartbeats` (options after `--`:
//! `--hosts N` (1000), `--interval S` (ping.interval; CloudStack's default 60),
//! `--seconds S` (measuring window, 120)). The simulated hosts run the real agent
//! reporting code (`stratus_agent::heartbeat::Reporter`, libvirt's test driver), all in
//! this process; the management server is the real binary in its own process, over a
//! private Postgres, so its CPU time is read from /proc alone. Results: docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stratus_agent::config::AgentConfig;
use stratus_agent::heartbeat::Reporter;
use stratus_agent::hypervisor::Libvirt;
use stratus_api::agent::Acceleration;
use stratus_management::embedded_pg::{EmbeddedPostgres, Options};
use stratus_management::{ctx::Ctx, db, services::accounts, services::hosts};

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// PIDs whose command line mentions `needle` (the Postgres processes of our cluster).
fn pids_matching(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

fn pg_ticks(dir: &str) -> u64 {
    // Backends are forked from the postmaster and keep its command line prefix; count all
    // processes that belong to it (their parent is the postmaster).
    let post = pids_matching(dir);
    let mut total = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid: i32 = stat
                .rsplit_once(')')
                .and_then(|x| x.1.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if post.contains(&pid) || post.contains(&ppid) {
                total += cpu_ticks(pid);
            }
        }
    }
    total
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n_hosts = arg("--hosts", 1000) as usize;
    let interval = arg("--interval", 60);
    let window = arg("--seconds", 120);
    let ticks_per_sec = 100.0; // Linux USER_HZ
                               // Each simulated host holds a libvirt test connection and a keep-alive socket, and the
                               // server (which inherits this limit) a socket per host: 25,000 hosts pass the 20,000
                               // this machine allows by default. As root the hard limit is raised too.
    let want = 4 * n_hosts as u64 + 4096;
    let (_, files) = stratus_management::process::raise_open_files_limit(Some(want))?;
    if files < want {
        eprintln!("warning: open files limited to {files}, {want} wanted: run as root or raise `ulimit -Hn`");
    }

    let dir = tempfile::tempdir()?;
    let pg = EmbeddedPostgres::start(dir.path(), Options::default()).await?;
    stratus_management::db::server::database_ensure(&pg.options("postgres"), "bench").await?;
    let pool = db::connect(pg.options("bench"), 8).await?;
    db::migrate(&pool).await?;
    accounts::ensure_admin(&pool, Some("bench-password")).await?;
    db::config::config_set_global(&pool, "ping.interval", Some(&interval.to_string())).await?;
    let ms = uuid::Uuid::new_v4();
    db::mgmt::ms_register(&pool, ms.into(), "bench-setup", "0").await?;
    // The server started below must open what this setup seals (the CA's key), so both
    // use one management key file, as management servers sharing a database do.
    let key_file = dir.path().join("management.key");
    let key = stratus_management::secrets::SecretKey::load_or_create(&key_file)?;
    let ctx = Ctx::new(pool.clone(), ms.into(), key).await?;
    let admin = db::accounts::user_fetch_by_name(&pool, db::accounts::ROOT_DOMAIN, "admin")
        .await?
        .expect("admin");

    // Topology and hosts, through the command layer's own registration path.
    let caller = stratus_management::services::auth::Caller {
        user: admin.clone(),
        session_id: None,
    };
    let run = |name: &'static str, params: Vec<(&'static str, String)>| {
        let (ctx, caller) = (ctx.clone(), caller.clone());
        async move {
            let mut p = stratus_api::Params::new(name);
            for (k, v) in params {
                p = p.with(k, v);
            }
            let spec = stratus_api::command::find(name).unwrap();
            stratus_management::commands::dispatch(&ctx, &caller, spec, &p)
                .await
                .unwrap()
                .body()
        }
    };
    let z = run(
        "createZone",
        vec![
            ("name", "bench".into()),
            ("networktype", "Basic".into()),
            ("dns1", "8.8.8.8".into()),
            ("internaldns1", "10.0.0.2".into()),
        ],
    )
    .await;
    let zid = z["zone"]["id"].as_str().unwrap().to_string();
    let p = run(
        "createPod",
        vec![("zoneid", zid.clone()), ("name", "p".into())],
    )
    .await;
    let pid = p["pod"]["id"].as_str().unwrap().to_string();
    let c = run(
        "addCluster",
        vec![
            ("zoneid", zid.clone()),
            ("podid", pid.clone()),
            ("clustername", "c".into()),
            ("clustertype", "CloudManaged".into()),
            ("hypervisor", "KVM".into()),
        ],
    )
    .await;
    let cid = c["cluster"][0]["id"].as_str().unwrap().to_string();
    let mut creds = Vec::with_capacity(n_hosts);
    for i in 0..n_hosts {
        let addr: std::net::IpAddr =
            format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256).parse()?;
        let (h, token) = hosts::register(
            &ctx,
            &admin,
            zid.parse()?,
            pid.parse()?,
            cid.parse()?,
            addr,
            8250,
            &format!("sim-{i}"),
        )
        .await?;
        creds.push((h.id.into(), token));
    }

    // The real management server, in its own process, on the same database.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_stratus-management"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("mgmt"))
        .arg("--key-file")
        .arg(&key_file)
        .env("DATABASE_URL", pg.url("bench"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        if let Some(status) = server.try_wait()? {
            anyhow::bail!("the management server exited before it served ({status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Simulated hosts: spread their first report over one interval, as real agents are.
    let stop_at = Instant::now() + Duration::from_secs(interval + window);
    let measure_from = Instant::now() + Duration::from_secs(interval);
    let mut tasks = vec![];
    for (i, (id, token)) in creds.into_iter().enumerate() {
        let cfg = AgentConfig {
            host_id: id,
            token,
            management_urls: vec![url.clone()],
            libvirt_uri: "test:///default".into(),
            heartbeat_interval: Duration::from_secs(interval),
            acceleration: Some(Acceleration::Qemu),
            api: None,
        };
        let reporter = Arc::new(Reporter::new(
            cfg,
            Arc::new(Libvirt::new("test:///default")),
        )?);
        let offset = Duration::from_millis(interval * 1000 * i as u64 / n_hosts as u64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let (mut lat, mut errors) = (vec![], 0u32);
            while Instant::now() < stop_at {
                let next = Instant::now() + Duration::from_secs(interval);
                let hb = reporter.collect().await.expect("collect");
                let t = Instant::now();
                let ok = reporter.send(&hb).await.is_ok();
                if t >= measure_from {
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                tokio::time::sleep_until(next.into()).await;
            }
            (lat, errors)
        }));
    }
    // Warm-up interval: every host reports once; then measure CPU over the window.
    tokio::time::sleep_until(measure_from.into()).await;
    let pg_dir = dir.path().join("pgdata").to_string_lossy().to_string();
    let (s0, p0, t0) = (
        cpu_ticks(server.id() as i32),
        pg_ticks(&pg_dir),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(window)).await;
    let (s1, p1, secs) = (
        cpu_ticks(server.id() as i32),
        pg_ticks(&pg_dir),
        t0.elapsed().as_secs_f64(),
    );
    let mut all = vec![];
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    let up: i64 = db::hosts::host_list(&pool, &Default::default())
        .await?
        .0
        .iter()
        .filter(|h| h.status == stratus_management::rules::hoststate::Status::Up)
        .count() as i64;
    println!("{n_hosts} simulated hosts, ping.interval {interval} s, window {window} s");
    println!("| heartbeats/s | server CPU (% of one core) | Postgres CPU (% of one core) | p50 ms | p99 ms | max ms | errors | hosts Up |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {errors} | {up} |",
        all.len() as f64 / secs,
        (s1 - s0) as f64 / ticks_per_sec / secs * 100.0,
        (p1 - p0) as f64 / ticks_per_sec / secs * 100.0,
        pct(0.5),
        pct(0.99),
        all.last().map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0),
    );
    let _ = std::process::Command::new("kill")
        .arg("-INT")
        .arg(server.id().to_string())
        .status();
    let _ = server.wait();
    pool.close().await;
    pg.stop();
    Ok(())
}
