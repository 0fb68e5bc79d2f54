//! Placement at scale: 1,000 Up hosts and 10,000 Running VMs (each with a guest address)
//! in the database; how many placements (capacity + address, `allocate::allocate`, one
//! transaction each) per second, one at a time and 8 at once (by the default order and
//! by `random`), next to the floor measured in the same run (raw SQL that locks a host
//! and reserves on it, with no search), and the p50/p99 of the
//! list commands an admin or a client calls at that size, and of the web console's
//! pages (rendered through the router, signed in).
//!
//! Run: `cargo bench -p stratus-management --bench placement` (options after `--`:
//! `--hosts N` (1000), `--vms N` (10000), `--placements N` (500), `--accounts N` and
//! `--events N` (as many as VMs)). A private Postgres (fsync off) in a temporary
//! directory; placements through the service layer, lists over HTTP on loopback (signed,
//! JSON and XML, with a raw-SQL and a bare-HTTP floor each), console pages through the
//! router in process. Results: docs/benchmarks.md.

use std::time::{Duration, Instant};

use stratus_api::agent::{Acceleration, Heartbeat, HostFacts, HostMetrics, PROTOCOL_VERSION};
use stratus_management::embedded_pg::{EmbeddedPostgres, Options};
use stratus_management::{
    ctx::Ctx, db, services::accounts, services::auth::Caller, services::hosts,
    services::vms::allocate,
};
use uuid::Uuid;

use stratus_testkit::bench as support;
use support::{arg, dispatch};

/// The `p` quantile of sorted latencies, in milliseconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    support::percentile(sorted, p).as_secs_f64() * 1000.0
}

/// Runs `work(i, ids[i])` for every id, `concurrency` at a time (each round waits for
/// its slowest): the wall time in seconds and every call's latency, sorted.
async fn rounds<F, Fut>(
    ids: &[Uuid],
    concurrency: usize,
    work: F,
) -> anyhow::Result<(f64, Vec<Duration>)>
where
    F: Fn(usize, Uuid) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let mut lat = vec![];
    for (k, chunk) in ids.chunks(concurrency).enumerate() {
        let mut set = tokio::task::JoinSet::new();
        for (j, id) in chunk.iter().enumerate() {
            let fut = work(k * concurrency + j, *id);
            set.spawn(async move {
                let t = Instant::now();
                fut.await;
                t.elapsed()
            });
        }
        while let Some(d) = set.join_next().await {
            lat.push(d?);
        }
    }
    lat.sort();
    Ok((start.elapsed().as_secs_f64(), lat))
}

/// One row of the placements table.
fn rate_row(label: &str, n: usize, secs: f64, lat: &[Duration]) {
    println!(
        "| {label} | {:.0} | {:.2} | {:.2} |",
        n as f64 / secs,
        pct(lat, 0.5),
        pct(lat, 0.99)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (n_hosts, n_vms, n_place): (usize, i64, usize) = (
        arg(&args, "--hosts", 1000),
        arg(&args, "--vms", 10000),
        arg(&args, "--placements", 500),
    );
    // Accounts and events to list; as many as VMs unless told.
    let (n_accounts, n_events): (i64, i64) = (
        arg(&args, "--accounts", n_vms),
        arg(&args, "--events", n_vms),
    );

    let dir = tempfile::tempdir()?;
    let pg = EmbeddedPostgres::start(dir.path(), Options::default()).await?;
    stratus_management::db::server::database_ensure(&pg.options("postgres"), "bench").await?;
    let pool = db::connect(pg.options("bench"), 16).await?;
    db::migrate(&pool).await?;
    accounts::ensure_admin(&pool, Some("bench-password")).await?;
    let ms = Uuid::new_v4();
    db::mgmt::ms_register(&pool, ms.into(), "bench", "0").await?;
    let ctx = Ctx::new(
        pool.clone(),
        ms.into(),
        stratus_management::secrets::SecretKey::generate(),
    )
    .await?;
    let admin = db::accounts::user_fetch_by_name(&pool, db::accounts::ROOT_DOMAIN, "admin")
        .await?
        .expect("admin");
    let caller = Caller {
        user: admin.clone(),
        session_id: None,
    };

    let t0 = Instant::now();
    let z = dispatch(
        &ctx,
        &caller,
        "createZone",
        &[
            ("name", "bench".into()),
            ("networktype", "Basic".into()),
            ("dns1", "8.8.8.8".into()),
            ("internaldns1", "10.0.0.2".into()),
        ],
    )
    .await;
    let zid: Uuid = z["zone"]["id"].as_str().unwrap().parse()?;
    let p = dispatch(
        &ctx,
        &caller,
        "createPod",
        &[("zoneid", zid.to_string()), ("name", "p".into())],
    )
    .await;
    let pid: Uuid = p["pod"]["id"].as_str().unwrap().parse()?;
    // A /16 of guest addresses: 65,534 for 10,000 VMs and the placements.
    dispatch(
        &ctx,
        &caller,
        "createVlanIpRange",
        &[
            ("zoneid", zid.to_string()),
            ("podid", pid.to_string()),
            ("gateway", "10.200.0.1".into()),
            ("netmask", "255.255.0.0".into()),
            ("startip", "10.200.0.10".into()),
            ("endip", "10.200.255.250".into()),
            ("forvirtualnetwork", "false".into()),
        ],
    )
    .await;
    let mut cids = vec![];
    for i in 0..10 {
        let c = dispatch(
            &ctx,
            &caller,
            "addCluster",
            &[
                ("zoneid", zid.to_string()),
                ("podid", pid.to_string()),
                ("clustername", format!("c{i}")),
                ("clustertype", "CloudManaged".into()),
                ("hypervisor", "KVM".into()),
            ],
        )
        .await;
        cids.push(c["cluster"][0]["id"].as_str().unwrap().parse::<Uuid>()?);
    }
    // Hosts: registered, then Up with facts (32 cores × 2.4 GHz, 256 GiB) by a report.
    let mut host_ids = Vec::with_capacity(n_hosts);
    for i in 0..n_hosts {
        let addr: std::net::IpAddr =
            format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256).parse()?;
        let (h, token) = hosts::register(
            &ctx,
            &admin,
            zid.into(),
            pid.into(),
            cids[i % cids.len()].into(),
            addr,
            8250,
            &format!("sim-{i}"),
        )
        .await?;
        let hb = Heartbeat {
            protocol: PROTOCOL_VERSION,
            generation: 1,
            facts: HostFacts {
                hostname: format!("sim-{i}"),
                arch: "x86_64".into(),
                cpu_sockets: 2,
                cpu_cores: 32,
                cpu_mhz: 2400,
                memory_bytes: 256 << 30,
                os: "Debian GNU/Linux 12".into(),
                kernel: "6.1".into(),
                libvirt_version: "9.0.0".into(),
                hypervisor_version: "7.2.0".into(),
                acceleration: Acceleration::Kvm,
                agent_version: "bench".into(),
            },
            metrics: HostMetrics {
                cpu_used_percent: 10.0,
                memory_used_bytes: 8 << 30,
                network_rx_bytes: 0,
                network_tx_bytes: 0,
            },
            domains: vec![],
            domain_stats: vec![],
            sg_generation: None,
        };
        hosts::heartbeat(&ctx, h.id, Some(&token), &hb, None)
            .await
            .map_err(|e| anyhow::anyhow!("heartbeat: {e:?}"))?;
        host_ids.push(h.id.into());
    }
    let (nets, _) = db::networks::network_list(
        &pool,
        &Default::default(),
        Some(zid.into()),
        &Default::default(),
    )
    .await?;
    let so = db::offerings::service_offering_fetch(
        &pool,
        "00000000-0000-4000-8003-000000000001".parse()?,
    )
    .await?
    .expect("Small Instance");
    let mut conn = pool.acquire().await?;
    db::seed::vm_seed_placed_bulk(
        &mut conn,
        n_vms,
        zid,
        (
            admin.account_id.into_uuid(),
            admin.domain_id.into_uuid(),
            admin.id.into_uuid(),
        ),
        (so.id.into_uuid(), so.cpu_number, so.cpu_speed, so.memory_mb),
        &host_ids,
        nets[0].id.into(),
    )
    .await?;
    db::seed::volume_seed_roots_bulk(&mut conn, zid).await?;
    db::seed::account_seed_bulk(&mut conn, n_accounts, admin.domain_id.into_uuid()).await?;
    db::seed::event_seed_bulk(
        &mut conn,
        n_events,
        (
            admin.account_id.into_uuid(),
            admin.domain_id.into_uuid(),
            admin.id.into_uuid(),
        ),
    )
    .await?;
    // As autovacuum would after a bulk load: plans from real row counts.
    sqlx::query("ANALYZE").execute(&mut *conn).await?;
    drop(conn);
    println!(
        "seeded {n_hosts} hosts, {n_vms} VMs (each with a ROOT volume), {n_accounts} accounts, \
         {n_events} events in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // Placements: new Stopped VMs, each allocated (capacity + address) in one transaction.
    let new_vm = |i: usize| {
        let (pool, admin, so) = (pool.clone(), admin.clone(), so.clone());
        async move {
            let id = Uuid::new_v4();
            let name = format!("new-{i}");
            let mut conn = pool.acquire().await.unwrap();
            db::vms::vm_insert(
                &mut conn,
                &db::vms::NewVm {
                    id: id.into(),
                    name: &name,
                    display_name: &name,
                    account_id: admin.account_id,
                    domain_id: admin.domain_id,
                    user_id: admin.id,
                    zone_id: zid.into(),
                    service_offering_id: so.id,
                    disk_offering_id: None,
                    iso_id: None,
                    cpu_number: so.cpu_number,
                    cpu_mhz: so.cpu_speed,
                    memory_mb: so.memory_mb,
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
    println!("| scenario | placements/s | p50 ms | p99 ms |\n|---|---:|---:|---:|");
    // The default order (the most free memory first: concurrent deploys all rank the
    // same host first and take turns on its row), then `random` (they spread over hosts);
    // every deploy of a zone also takes turns on its network's address allocation.
    let scenarios = [
        (1usize, "firstfitleastconsumed"),
        (8, "firstfitleastconsumed"),
        (8, "random"),
    ];
    for (round, (concurrency, algorithm)) in scenarios.into_iter().enumerate() {
        dispatch(
            &ctx,
            &caller,
            "updateConfiguration",
            &[
                ("name", "vm.allocation.algorithm".into()),
                ("value", algorithm.into()),
            ],
        )
        .await;
        let mut ids = vec![];
        for i in 0..n_place {
            ids.push(new_vm(i + (round + 1) * 100_000).await);
        }
        let (secs, lat) = rounds(&ids, concurrency, |_, id| {
            let ctx = ctx.clone();
            async move {
                allocate::allocate(&ctx, id.into(), None, None)
                    .await
                    .unwrap();
            }
        })
        .await?;
        rate_row(
            &format!("allocate, {concurrency} at a time, {algorithm}"),
            n_place,
            secs,
            &lat,
        );
    }
    // The floor, in the same run: what any placement must write, by hand in raw SQL with
    // no search — one transaction that locks a host row and reserves a new VM there.
    for concurrency in [1usize, 8] {
        let mut ids = vec![];
        for i in 0..n_place {
            ids.push(new_vm(i + (10 + concurrency) * 100_000).await);
        }
        let (secs, lat) = rounds(&ids, concurrency, |i, id| {
            let pool = pool.clone();
            let host = host_ids[i % host_ids.len()];
            async move {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("SELECT id FROM hosts WHERE id = $1 FOR UPDATE")
                    .bind(host)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query(
                    "UPDATE vms SET host_id = $2, last_host_id = $2, state = 'Starting' WHERE id = $1",
                )
                .bind(id)
                .bind(host)
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }
        })
        .await?;
        rate_row(
            &format!("floor: raw SQL, lock one host and reserve on it, {concurrency} at a time"),
            n_place,
            secs,
            &lat,
        );
    }

    // Lists at this size, over HTTP as a client sends them: signed, JSON and XML. Beside
    // each, two floors from the same run: the page's base-table rows and the total fetched
    // by one hand-written SQL statement returning JSON, and a bare HTTP answer of the same
    // size from the same server process.
    let keys = dispatch(
        &ctx,
        &caller,
        "registerUserKeys",
        &[("id", admin.id.to_string())],
    )
    .await;
    let api_key = keys["userkeys"]["apikey"].as_str().unwrap().to_string();
    let secret = keys["userkeys"]["secretkey"].as_str().unwrap().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = stratus_management::front::router(ctx.clone()).route(
        "/floor/{bytes}",
        axum::routing::get(
            |axum::extract::Path(n): axum::extract::Path<usize>| async move {
                vec![b'x'; n.min(64 << 20)]
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    println!(
        "\n| list (signed HTTP, 1 client) | JSON p50 ms | JSON p99 ms | XML p50 ms | XML p99 ms | items | JSON KiB | floor: SQL → JSON p50 ms | floor: bare HTTP p50 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let page10 = |extra: &[(&'static str, &str)]| -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = vec![
            ("pagesize".into(), "500".into()),
            ("page".into(), "10".into()),
        ];
        p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        p
    };
    // (command, parameters, the floor's table and filter)
    type Params = Vec<(String, String)>;
    let lists: Vec<(&str, Params, &str)> = vec![
        (
            "listVirtualMachines",
            vec![
                ("listall".into(), "true".into()),
                ("pagesize".into(), "100".into()),
                ("page".into(), "1".into()),
            ],
            "vms WHERE removed IS NULL ORDER BY created, id LIMIT 100",
        ),
        (
            "listVirtualMachines",
            page10(&[("listall", "true")]),
            "vms WHERE removed IS NULL ORDER BY created, id OFFSET 4500 LIMIT 500",
        ),
        (
            "listVirtualMachines",
            vec![
                ("listall".into(), "true".into()),
                ("keyword".into(), "seed-4242".into()),
            ],
            "vms WHERE removed IS NULL AND name ILIKE '%seed-4242%' ORDER BY created, id",
        ),
        (
            "listHosts",
            page10(&[]),
            "hosts ORDER BY created, id OFFSET 4500 LIMIT 500",
        ),
        (
            "listVolumes",
            page10(&[("listall", "true")]),
            "volumes WHERE removed IS NULL ORDER BY created, id OFFSET 4500 LIMIT 500",
        ),
        (
            // The first page holds the admin, who owns every seeded VM: its usage counts
            // read all of them.
            "listAccounts",
            vec![
                ("listall".into(), "true".into()),
                ("pagesize".into(), "500".into()),
                ("page".into(), "1".into()),
            ],
            "accounts ORDER BY created, id LIMIT 500",
        ),
        (
            "listAccounts",
            page10(&[("listall", "true")]),
            "accounts ORDER BY created, id OFFSET 4500 LIMIT 500",
        ),
        (
            "listEvents",
            page10(&[("listall", "true")]),
            "events ORDER BY created DESC, id OFFSET 4500 LIMIT 500",
        ),
        (
            "listCapacity",
            vec![("zoneid".into(), zid.to_string())],
            "hosts LIMIT 0",
        ),
    ];
    let get = |params: Vec<(String, String)>| {
        let http = http.clone();
        async move {
            let t = Instant::now();
            let r = http
                .get(format!("http://{addr}/client/api"))
                .query(&params)
                .send()
                .await
                .expect("request");
            let ok = r.status().is_success();
            let body = r.bytes().await.expect("body");
            assert!(ok, "{}", String::from_utf8_lossy(&body));
            (t.elapsed(), body)
        }
    };
    for (name, params, floor) in lists {
        let mut cells = vec![];
        let (mut items, mut json_bytes) = (0, 0);
        for format in ["json", "xml"] {
            let mut base = vec![("command".to_string(), name.to_string())];
            base.extend(params.iter().cloned());
            base.push(("response".into(), format.into()));
            base.push(("apiKey".into(), api_key.clone()));
            let mut lat = vec![];
            for i in 0..55 {
                // Each request is signed anew, as a client does.
                let mut p = base.clone();
                p.push(("signature".into(), stratus_api::signing::sign(&p, &secret)));
                let (d, body) = get(p).await;
                if i < 5 {
                    continue; // warm-up
                }
                lat.push(d);
                if format == "json" {
                    json_bytes = body.len();
                    let v: serde_json::Value = serde_json::from_slice(&body)?;
                    items = v
                        .as_object()
                        .and_then(|o| o.values().next())
                        .and_then(|r| r.as_object())
                        .map(|o| {
                            o.values()
                                .filter_map(|v| v.as_array())
                                .map(Vec::len)
                                .sum::<usize>()
                        })
                        .unwrap_or(0);
                }
            }
            lat.sort();
            cells.push(format!("{:.2} | {:.2}", pct(&lat, 0.5), pct(&lat, 0.99)));
        }
        let sql = format!(
            "SELECT json_build_object('count', (SELECT count(*) FROM {matching}), 'items', \
             (SELECT COALESCE(json_agg(t), '[]') FROM (SELECT * FROM {floor}) t))::text",
            matching = floor
                .split(" ORDER BY ")
                .next()
                .unwrap()
                .split(" LIMIT ")
                .next()
                .unwrap(),
        );
        let mut sql_lat = vec![];
        let mut bare_lat = vec![];
        for i in 0..55 {
            let t = Instant::now();
            let _: String = sqlx::query_scalar(&sql).fetch_one(&pool).await?;
            let d = t.elapsed();
            let t = Instant::now();
            let r = http
                .get(format!("http://{addr}/floor/{json_bytes}"))
                .send()
                .await?;
            r.bytes().await?;
            if i >= 5 {
                sql_lat.push(d);
                bare_lat.push(t.elapsed());
            }
        }
        sql_lat.sort();
        bare_lat.sort();
        let shown: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "| {name} {} | {} | {items} | {:.0} | {:.2} | {:.2} |",
            shown.join(" "),
            cells.join(" | "),
            json_bytes as f64 / 1024.0,
            pct(&sql_lat, 0.5),
            pct(&bare_lat, 0.5),
        );
    }

    // Web console pages at this size: through the router (HTML rendered), signed in.
    println!("\n| console page | p50 ms | p99 ms | KiB |\n|---|---:|---:|---:|");
    use axum::body::Body;
    use axum::http::{header, Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let app = stratus_management::front::router(ctx.clone());
    let login = app
        .clone()
        .oneshot(
            Request::post("/console/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("username=admin&password=bench-password"))?,
        )
        .await?;
    let cookie = login
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ");
    let some_vm = dispatch(
        &ctx,
        &caller,
        "listVirtualMachines",
        &[
            ("listall", "true".into()),
            ("pagesize", "1".into()),
            ("page", "1".into()),
        ],
    )
    .await["virtualmachine"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for path in [
        "/console/dashboard".to_string(),
        "/console/instances".to_string(),
        format!("/console/instances/{some_vm}"),
        "/console/hosts".to_string(),
        "/console/hosts/metrics".to_string(),
        "/console/instances/new".to_string(),
    ] {
        let mut lat = vec![];
        let mut size = 0;
        for _ in 0..50 {
            let t = Instant::now();
            let r = app
                .clone()
                .oneshot(
                    Request::get(path.as_str())
                        .header(header::COOKIE, &cookie)
                        .body(Body::empty())?,
                )
                .await?;
            anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
            size = r.into_body().collect().await?.to_bytes().len();
            lat.push(t.elapsed());
        }
        lat.sort();
        let shown = if some_vm.is_empty() {
            path.clone()
        } else {
            path.replace(&some_vm, "{id}")
        };
        println!(
            "| {shown} | {:.2} | {:.2} | {:.0} |",
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            size as f64 / 1024.0
        );
    }
    pool.close().await;
    pg.stop();
    Ok(())
}
