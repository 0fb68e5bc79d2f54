//! API throughput and latency: signed `listZones` and `listPods` over real HTTP against a
//! server with 100 zones and 1,000 pods in a private Postgres.
//!
//! Run: `cargo bench -p stratus-management --bench api` (options: `-- --requests N
//! --concurrency C`). Client and server share the machine, so the numbers are a floor for
//! the server alone. Results are recorded in docs/benchmarks.md.

use std::time::Instant;

use stratus_api::{command, envelope, signing, Params};
use stratus_management::embedded_pg::{EmbeddedPostgres, Options};
use stratus_management::services::auth::Caller;
use stratus_management::{commands, ctx::Ctx, db, front, front::jobs, services::accounts};
use stratus_testkit::bench::percentile;

const ZONES: usize = 100;
const PODS_PER_ZONE: usize = 10;

async fn run(c: &Ctx, caller: &Caller, name: &str, params: &[(&str, String)]) -> serde_json::Value {
    let spec = command::find(name).expect("known command");
    let mut p = Params::new(name);
    for (k, v) in params {
        p = p.with(k, v);
    }
    commands::dispatch(c, caller, spec, &p)
        .await
        .expect("seeding command")
        .body()
}

struct Scenario {
    label: &'static str,
    params: Vec<(String, String)>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let requests = arg("--requests", 4000);
    let concurrency = arg("--concurrency", 16);

    let dir = tempfile::tempdir()?;
    let pg = EmbeddedPostgres::start(
        dir.path(),
        Options {
            unsafe_fast: true,
            ..Default::default()
        },
    )
    .await?;
    stratus_management::db::server::database_ensure(&pg.options("postgres"), "bench").await?;
    let pool = db::connect(pg.options("bench"), 32).await?;
    db::migrate(&pool).await?;
    accounts::ensure_admin(&pool, Some("bench-password")).await?;
    let ms = uuid::Uuid::new_v4();
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
    let mut first_zone = String::new();
    for z in 0..ZONES {
        let zone = run(
            &ctx,
            &caller,
            "createZone",
            &[
                ("name", format!("zone-{z:03}")),
                ("networktype", "Basic".into()),
                ("dns1", "8.8.8.8".into()),
                ("internaldns1", "10.0.0.2".into()),
            ],
        )
        .await;
        let zid = zone["zone"]["id"].as_str().unwrap().to_string();
        if z == 0 {
            first_zone = zid.clone();
        }
        for p in 0..PODS_PER_ZONE {
            run(
                &ctx,
                &caller,
                "createPod",
                &[
                    ("zoneid", zid.clone()),
                    ("name", format!("pod-{p}")),
                    ("gateway", format!("10.{z}.{p}.1")),
                    ("netmask", "255.255.255.0".into()),
                    ("startip", format!("10.{z}.{p}.10")),
                    ("endip", format!("10.{z}.{p}.200")),
                ],
            )
            .await;
        }
    }
    let seed_time = t0.elapsed();
    let keys = run(
        &ctx,
        &caller,
        "registerUserKeys",
        &[("id", admin.id.to_string())],
    )
    .await;
    let api_key = keys["userkeys"]["apikey"].as_str().unwrap().to_string();
    let secret = keys["userkeys"]["secretkey"].as_str().unwrap().to_string();

    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(jobs::run_worker(ctx.clone(), rx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = front::router(ctx.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let scenarios = vec![
        Scenario {
            label: "listZones (all 100)",
            params: vec![("command".into(), "listZones".into())],
        },
        Scenario {
            label: "listPods zoneid=… (10)",
            params: vec![
                ("command".into(), "listPods".into()),
                ("zoneid".into(), first_zone.clone()),
            ],
        },
        Scenario {
            label: "listPods page=1 pagesize=100",
            params: vec![
                ("command".into(), "listPods".into()),
                ("page".into(), "1".into()),
                ("pagesize".into(), "100".into()),
            ],
        },
        Scenario {
            label: "listPods (default page: 500 of 1000)",
            params: vec![("command".into(), "listPods".into())],
        },
    ];
    println!(
        "seeded {ZONES} zones and {} pods through the command layer in {:.1} s",
        ZONES * PODS_PER_ZONE,
        seed_time.as_secs_f64()
    );
    println!("{requests} signed GET requests per scenario, {concurrency} concurrent clients, HTTP/1.1 keep-alive\n");
    println!("| scenario | requests/s | p50 ms | p99 ms | max ms | bytes/answer |");
    println!("|---|---:|---:|---:|---:|---:|");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    for s in scenarios {
        let mut base = s.params.clone();
        base.push(("response".into(), "json".into()));
        base.push(("apiKey".into(), api_key.clone()));
        // Warm up.
        let mut size = 0;
        for _ in 0..20 {
            let mut p = base.clone();
            p.push(("signature".into(), signing::sign(&p, &secret)));
            let r = http
                .get(format!("http://{addr}/client/api"))
                .query(&p)
                .send()
                .await?;
            assert!(r.status().is_success(), "{}", r.text().await?);
            size = r.bytes().await?.len();
        }
        let started = Instant::now();
        let mut tasks = vec![];
        for w in 0..concurrency {
            let (http, base, secret) = (http.clone(), base.clone(), secret.clone());
            let n = requests / concurrency + usize::from(w < requests % concurrency);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    // Each request is signed anew, as a client does.
                    let mut p = base.clone();
                    p.push(("signature".into(), signing::sign(&p, &secret)));
                    let r = http
                        .get(format!("http://{addr}/client/api"))
                        .query(&p)
                        .send()
                        .await
                        .expect("request");
                    assert!(r.status().is_success());
                    r.bytes().await.expect("body");
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut all = vec![];
        for t in tasks {
            all.extend(t.await?);
        }
        let wall = started.elapsed();
        all.sort();
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            s.label,
            all.len() as f64 / wall.as_secs_f64(),
            percentile(&all, 0.50).as_secs_f64() * 1e3,
            percentile(&all, 0.99).as_secs_f64() * 1e3,
            all.last().unwrap().as_secs_f64() * 1e3,
            size
        );
    }

    // Writing the answer of a page of 500 pods, in this process: straight from the typed
    // rows (what the front door does) against the old way through `serde_json::Value`
    // (each row to a value, the envelope's copies, then the text) in the same run.
    let spec = command::find("listPods").expect("listPods");
    let reply = commands::dispatch(&ctx, &caller, spec, &Params::new("listPods"))
        .await
        .expect("listPods");
    println!("\nWriting the answer of listPods (500 of 1000) in process, 200 times each\n");
    println!("| format | from typed rows p50 ms | through serde_json::Value p50 ms | bytes |");
    println!("|---|---:|---:|---:|");
    for format in [envelope::Format::Json, envelope::Format::Xml] {
        let time = |f: &dyn Fn() -> String| {
            let mut lat = Vec::with_capacity(200);
            let mut size = 0;
            for _ in 0..200 {
                let t = Instant::now();
                size = std::hint::black_box(f()).len();
                lat.push(t.elapsed());
            }
            lat.sort();
            (percentile(&lat, 0.50).as_secs_f64() * 1e3, size)
        };
        let (rows, size) = time(&|| reply.render("listpodsresponse", format));
        let (values, _) = time(&|| envelope::render("listpodsresponse", &reply.body(), format));
        println!("| {format:?} | {rows:.2} | {values:.2} | {size} |");
    }
    pool.close().await;
    pg.stop();
    Ok(())
}
