//! The embedded Postgres is supervised: restarted when it dies, and while it is away the
//! server says so at once (`/healthz` 503 with the reason, API calls 530 "the database is
//! unavailable") instead of hanging on the pool, then recovers by itself.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use stratus_management::embedded_pg::{EmbeddedPostgres, Options, PgStatus};
use stratus_management::{ctx::Ctx, db, dbstatus, front, services::accounts};
use tower::ServiceExt;
use uuid::Uuid;

fn opts() -> Options {
    Options {
        unsafe_fast: true,
        ..Default::default()
    }
}

async fn wait_status(
    rx: &mut tokio::sync::watch::Receiver<PgStatus>,
    what: &str,
    f: impl Fn(&PgStatus) -> bool,
) -> PgStatus {
    tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| f(s)))
        .await
        .unwrap_or_else(|_| panic!("waiting for {what}"))
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_killed_postgres_is_restarted_and_never_signalled_after_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let pg = EmbeddedPostgres::start(dir.path(), opts()).await.unwrap();
    let mut status = pg.status();
    let first = pg.pid();
    assert!(first > 0);

    assert!(pg.signal(libc::SIGKILL));
    let exited = wait_status(&mut status, "the exit", |s| {
        matches!(s, PgStatus::Exited { .. })
    })
    .await;
    assert!(
        exited.to_string().contains("killed by signal 9"),
        "{exited}"
    );
    // Exited and reaped: its PID is no longer ours, so nothing is sent to it.
    assert_eq!(pg.pid(), 0);
    assert!(!pg.signal(0));

    let running = wait_status(&mut status, "the restart", |s| {
        matches!(s, PgStatus::Running { restarts: 1, .. })
    })
    .await;
    let PgStatus::Running { pid, .. } = running else {
        unreachable!()
    };
    assert_ne!(pid, first);
    // It answers again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        use sqlx::Connection;
        if let Ok(mut c) = sqlx::PgConnection::connect_with(&pg.options("postgres")).await {
            c.ping().await.unwrap();
            break;
        }
        assert!(Instant::now() < deadline, "Postgres did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Killed again and stopped while it waits to be restarted: stop is immediate and
    // the supervisor does not start it again.
    assert!(pg.signal(libc::SIGKILL));
    wait_status(&mut status, "the second exit", |s| {
        matches!(s, PgStatus::Exited { .. })
    })
    .await;
    let t = Instant::now();
    pg.stop();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(*status.borrow(), PgStatus::Stopped);
    assert!(!pg.signal(0));
}

/// The postmaster and its children (from /proc).
fn cluster_pids(postmaster: i32) -> Vec<i32> {
    let mut pids = vec![postmaster];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse::<i32>().ok());
        if ppid == Some(postmaster) {
            pids.push(pid);
        }
    }
    pids
}

fn signal_all(pids: &[i32], sig: i32) {
    for &pid in pids {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on the Postgres processes this test started.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String, Duration) {
    let t = Instant::now();
    let r = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&body).to_string(),
        t.elapsed(),
    )
}

#[tokio::test]
async fn while_the_database_is_away_calls_fail_fast_and_recover_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let pg = EmbeddedPostgres::start(dir.path(), opts()).await.unwrap();
    stratus_management::db::server::database_ensure(&pg.options("postgres"), "stratus")
        .await
        .unwrap();
    let pool = db::connect(pg.options("stratus"), 8).await.unwrap();
    db::migrate(&pool).await.unwrap();
    accounts::ensure_admin(&pool, Some("password"))
        .await
        .unwrap();
    let ms = Uuid::new_v4();
    db::mgmt::ms_register(&pool, ms.into(), "test", "0")
        .await
        .unwrap();
    let ctx = Ctx::new(
        pool.clone(),
        ms.into(),
        stratus_management::secrets::SecretKey::generate(),
    )
    .await
    .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watchdog = tokio::spawn(dbstatus::run(
        dbstatus::Watchdog {
            status: ctx.db_status.clone(),
            options: pg.options("stratus"),
            embedded: Some(pg.status()),
            pool: pool.clone(),
            ms_id: ms.into(),
        },
        stop_rx,
    ));
    let router = front::router(ctx.clone());
    let (s, body, _) = get(&router, "/healthz").await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "ok\n"));

    // The database goes away: its processes (the postmaster and its children, each in a
    // process group of its own) are frozen, so connections neither fail nor answer (the
    // worst case: before, every call waited the pool's 10 s).
    // The postmaster first: stopped, it forks no backend after the children are listed
    // (listing first let a backend forked meanwhile, e.g. the watchdog's, keep answering).
    signal_all(&[pg.pid()], libc::SIGSTOP);
    let frozen = cluster_pids(pg.pid());
    signal_all(&frozen, libc::SIGSTOP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ctx.db_status.is_up() {
        assert!(Instant::now() < deadline, "the watchdog did not notice");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, body, took) = get(&router, "/healthz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("database unavailable"), "{body}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (s, body, took) = get(
        &router,
        "/client/api?command=listZones&response=json&apikey=x&signature=y",
    )
    .await;
    assert_eq!(s.as_u16(), 530, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["listzonesresponse"]["errorcode"], 530, "{body}");
    assert!(
        v["listzonesresponse"]["errortext"]
            .as_str()
            .unwrap()
            .contains("database is unavailable"),
        "{body}"
    );
    assert!(took < Duration::from_millis(500), "{took:?}");

    // Back: everything works again by itself.
    signal_all(&frozen, libc::SIGCONT);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, _, _) = get(&router, "/healthz").await;
        if s == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, body, _) = get(
        &router,
        "/client/api?command=listZones&response=json&apikey=x&signature=y",
    )
    .await;
    // Past the gate: the (bogus) credentials are judged again.
    assert_eq!(s.as_u16(), 401, "{body}");

    // The outage is on record for the admin.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = db::tasks::task_list(&pool, Some("database")).await.unwrap();
        if let Some(t) = rows.iter().find(|t| t.name == "database" && t.failures > 0) {
            assert!(
                t.last_error
                    .as_deref()
                    .unwrap()
                    .contains("database was unavailable"),
                "{t:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no record of the outage");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop_tx.send(true);
    watchdog.await.unwrap();
    pool.close().await;
    pg.stop();
}
