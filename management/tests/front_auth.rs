//! The front door under abuse (issue 19): bounded password hashing, lockout after failed
//! logins, per-address throttling, malformed credentials, internal parameters, jobs of
//! disabled users, hashed sessions, cookie flags, login CSRF and API rate limits.

use stratus_testkit::db as common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use common::{Answer, Client};
use sqlx::Row;
use stratus_management::{db, services::auth};

fn api_login(body: &str) -> Request<Body> {
    Request::post("/client/api")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("{body}&response=json")))
        .unwrap()
}

fn from(mut r: Request<Body>, addr: &str) -> Request<Body> {
    let a: SocketAddr = addr.parse().unwrap();
    r.extensions_mut().insert(ConnectInfo(a));
    r
}

fn login_as(user: &str, password: &str) -> Request<Body> {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("command", "login")
        .append_pair("username", user)
        .append_pair("password", password)
        .finish();
    api_login(&q)
}

fn set_cookies(a: &Answer) -> Vec<String> {
    a.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// A user account (`accounttype` 0 user, 1 admin); returns the user's id.
async fn account(c: &Client, name: &str, password: &str, accounttype: &str) -> String {
    let a = c
        .ok(
            "createAccount",
            &[
                ("accounttype", accounttype),
                ("email", "x@example.org"),
                ("firstname", "F"),
                ("lastname", "L"),
                ("password", password),
                ("username", name),
            ],
        )
        .await;
    a["account"]["user"][0]["id"].as_str().unwrap().to_string()
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bad_logins_keep_memory_bounded() {
    let c = Client::admin().await;
    // Warm up: the dummy hash for unknown users, the pool's threads.
    let a = c.raw(login_as("nobody-0", "x")).await;
    assert_eq!(a.status.as_u16(), 531, "{}", a.text);

    let base = rss_bytes();
    let peak = Arc::new(AtomicU64::new(base));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut tasks = vec![];
    for i in 0..64 {
        let router = c.router.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let r = router
                .oneshot(login_as(&format!("nobody-{i}"), "wrong"))
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    let mut codes = vec![];
    for t in tasks {
        codes.push(t.await.expect("every login is answered"));
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    // Every one answered: refused as a failed login, or "busy, retry" (never dropped).
    assert!(
        codes.iter().all(|c| *c == 531 || *c == 429),
        "answers: {codes:?}"
    );
    let grew = peak.load(Ordering::Relaxed).saturating_sub(base);
    let stats = auth::password_pool_stats();
    eprintln!(
        "64 concurrent bad logins: RSS grew {} MiB; pool {stats:?}",
        grew >> 20
    );
    // Unbounded, 64 Argon2 runs at ~19 MiB each grew the process by over 1 GiB.
    assert!(
        grew < 400 << 20,
        "RSS grew {} MiB during 64 concurrent logins",
        grew >> 20
    );
    assert!(
        stats.peak <= stats.threads,
        "at most one hash per pool thread at once: {stats:?}"
    );
}

#[tokio::test]
async fn consecutive_failures_disable_the_user_until_enabled() {
    let c = Client::admin().await;
    let bob = account(&c, "bob", "bob-pw-123", "0").await;
    let login = |pw: &'static str| c.raw(login_as("bob", pw));

    // A success resets the count: 4 failures, success, 4 failures leave bob enabled.
    for _ in 0..4 {
        assert_eq!(login("wrong").await.status.as_u16(), 531);
    }
    assert_eq!(login("bob-pw-123").await.status, StatusCode::OK);
    for _ in 0..4 {
        assert_eq!(login("wrong").await.status.as_u16(), 531);
    }
    let u = c.ok("listUsers", &[("id", &bob)]).await;
    assert_eq!(u["user"][0]["state"], "enabled");

    // The fifth consecutive failure (incorrect.login.attempts.allowed = 5) disables bob:
    // even the right password is refused now, with the same answer as a wrong one.
    let a = login("wrong").await;
    assert_eq!(a.status.as_u16(), 531);
    let a = login("bob-pw-123").await;
    assert_eq!(a.status.as_u16(), 531, "{}", a.text);
    assert!(a.errortext().contains("Failed to authenticate user bob"));
    let u = c.ok("listUsers", &[("id", &bob)]).await;
    assert_eq!(u["user"][0]["state"], "disabled");

    // An event and an alert say why.
    let ev = c
        .ok(
            "listEvents",
            &[("type", "USER.DISABLE"), ("listall", "true")],
        )
        .await;
    let texts: Vec<String> = ev["event"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["description"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("bob") && t.contains("5 consecutive failed login")),
        "{ev}"
    );
    let alerts = c.ok("listAlerts", &[]).await;
    assert!(alerts.to_string().contains("ALERT.USER.LOCKED"), "{alerts}");

    // An admin enables bob again; the count starts over.
    c.ok("enableUser", &[("id", &bob)]).await;
    assert_eq!(login("bob-pw-123").await.status, StatusCode::OK);
    let attempts: i32 =
        sqlx::query_scalar("SELECT incorrect_login_attempts FROM users WHERE username = 'bob'")
            .fetch_one(&c.ctx.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 0);

    // Zero switches the lockout off.
    c.ok(
        "updateConfiguration",
        &[("name", "incorrect.login.attempts.allowed"), ("value", "0")],
    )
    .await;
    for _ in 0..6 {
        assert_eq!(login("wrong").await.status.as_u16(), 531);
    }
    assert_eq!(login("bob-pw-123").await.status, StatusCode::OK);
}

#[tokio::test]
async fn one_address_cannot_keep_guessing() {
    let c = Client::admin().await;
    let attacker = "198.51.100.7:40000";
    // Unknown usernames (no user is locked by this): the address is throttled.
    for i in 0..stratus_management::guard::FREE_LOGIN_FAILURES {
        let a = c
            .raw(from(login_as(&format!("guess-{i}"), "x"), attacker))
            .await;
        assert_eq!(a.status.as_u16(), 531, "{}", a.text);
    }
    let a = c.raw(from(login_as("guess-x", "x"), attacker)).await;
    assert_eq!(a.status.as_u16(), 531, "this failure starts the backoff");
    let t = std::time::Instant::now();
    let a = c
        .raw(from(login_as("admin", common::ADMIN_PASSWORD), attacker))
        .await;
    assert_eq!(a.status.as_u16(), 429, "{}", a.text);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "answered before hashing"
    );
    assert_eq!(a.body()["errorcode"], 429);
    assert!(
        a.errortext().contains("Too many failed logins"),
        "{}",
        a.text
    );
    let retry: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry));
    // Another address is not affected, and admin was not locked.
    let a = c
        .raw(from(
            login_as("admin", common::ADMIN_PASSWORD),
            "203.0.113.9:5000",
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    // The console's login form is throttled the same way.
    let a = c
        .raw(from(
            Request::post("/console/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("username=admin&password=password"))
                .unwrap(),
            attacker,
        ))
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn malformed_credentials_get_an_answer_not_a_panic() {
    // Log lines are evaluated only with a subscriber, as in the server: the old panic was in one.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::INFO)
        .try_init();
    let c = Client::admin().await;
    // An expired v3 request whose apiKey is not ASCII (the log line sliced it mid-character).
    let q = common::query_string(&common::pairs(&[
        ("command", "listZones"),
        ("response", "json"),
        ("apiKey", "aéééééé"),
        ("signatureVersion", "3"),
        ("expires", "2001-01-01T00:00:00+0000"),
        ("signature", "x"),
    ]));
    let a = c
        .raw(
            Request::get(format!("/client/api?{q}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
    assert!(a.errortext().contains("expired"), "{}", a.text);
    // An unparsable expires is quoted back, bounded.
    let long = "é".repeat(5000);
    let q = common::query_string(&common::pairs(&[
        ("command", "listZones"),
        ("response", "json"),
        ("apiKey", "k"),
        ("signatureVersion", "3"),
        ("expires", &long),
        ("signature", "x"),
    ]));
    let a = c
        .raw(
            Request::get(format!("/client/api?{q}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.errortext().chars().count() < 300, "{}", a.text);
    // A domain with a character across byte 5 (domain paths were sliced there too).
    let a = c
        .raw(api_login(
            "command=login&username=admin&password=password&domain=ROOT%C3%A9x",
        ))
        .await;
    assert_eq!(a.status.as_u16(), 531, "{}", a.text);
}

#[tokio::test]
async fn a_queued_job_of_a_disabled_user_does_not_run() {
    let c = Client::admin().await;
    account(&c, "ops", "ops-pw-123", "1").await;
    let carol = account(&c, "carol", "carol-pw-1", "0").await;
    let ops = Client::for_user(c.ctx.clone(), "ops").await;
    // ops queues a job (no worker runs yet)...
    let j = ops.ok("disableUser", &[("id", &carol)]).await;
    let jobid = j["jobid"].as_str().unwrap().to_string();
    // ...then is locked out by failed logins before it runs.
    for _ in 0..5 {
        assert_eq!(c.raw(login_as("ops", "wrong")).await.status.as_u16(), 531);
    }
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let done = c.wait_job(&jobid).await;
    assert_eq!(done["jobstatus"], 2, "{done}");
    assert_eq!(done["jobresultcode"], 531, "{done}");
    let text = done["jobresult"]["errortext"].as_str().unwrap();
    assert!(text.contains("user ops is disabled"), "{text}");
    let u = c.ok("listUsers", &[("id", &carol)]).await;
    assert_eq!(u["user"][0]["state"], "enabled", "the job did nothing");
    let _ = stop.send(true);
}

#[tokio::test]
async fn sessions_are_stored_hashed_and_still_work() {
    let c = Client::admin().await;
    let a = c.raw(login_as("admin", common::ADMIN_PASSWORD)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let key = a.body()["sessionkey"].as_str().unwrap().to_string();
    let sid = set_cookies(&a)
        .iter()
        .find_map(|c| c.strip_prefix("JSESSIONID="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // Nothing in the table is the cookie or the key.
    let rows = sqlx::query("SELECT to_jsonb(s)::text AS row FROM sessions s")
        .fetch_all(&c.ctx.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row: String = rows[0].get("row");
    assert!(!row.contains(&sid), "{row}");
    assert!(!row.contains(&key), "{row}");
    assert!(row.contains(&auth::session_id_hash(&sid)), "{row}");

    // The session works with its key, not without, and not with another's.
    let call = |key: &str| {
        Request::get(format!(
            "/client/api?command=listZones&response=json&sessionkey={key}"
        ))
        .header(header::COOKIE, format!("JSESSIONID={sid}"))
        .body(Body::empty())
        .unwrap()
    };
    assert_eq!(c.raw(call(&key)).await.status, StatusCode::OK);
    assert_eq!(c.raw(call("nope")).await.status, StatusCode::UNAUTHORIZED);
    // Logout removes the row.
    let a = c
        .raw(
            Request::get(format!(
                "/client/api?command=logout&response=json&sessionkey={key}"
            ))
            .header(header::COOKIE, format!("JSESSIONID={sid}"))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(c.raw(call(&key)).await.status, StatusCode::UNAUTHORIZED);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&c.ctx.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn cookies_are_secure_over_tls() {
    let c = Client::admin().await;
    let over_tls = |mut r: Request<Body>| {
        r.extensions_mut()
            .insert(stratus_management::front::listen::Tls(true));
        r
    };
    // The API's cookies.
    let a = c
        .raw(over_tls(login_as("admin", common::ADMIN_PASSWORD)))
        .await;
    let cookies = set_cookies(&a);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for ck in &cookies {
        assert!(ck.contains("; Secure"), "{ck}");
        assert!(
            ck.contains("HttpOnly") && ck.contains("SameSite=Lax"),
            "{ck}"
        );
    }
    // Plain HTTP: no Secure (the browser would drop the cookie).
    let a = c.raw(login_as("admin", common::ADMIN_PASSWORD)).await;
    assert!(set_cookies(&a).iter().all(|c| !c.contains("Secure")));
    // The console's session cookie.
    let console = |tls: bool| {
        let r = Request::post("/console/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("username=admin&password=password"))
            .unwrap();
        if tls {
            over_tls(r)
        } else {
            r
        }
    };
    let a = c.raw(console(true)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let ck = set_cookies(&a).join(" | ");
    assert!(
        ck.starts_with("JSESSIONID=") && ck.contains("; Secure"),
        "{ck}"
    );
    assert!(
        ck.contains("HttpOnly") && ck.contains("SameSite=Lax"),
        "{ck}"
    );
    let a = c.raw(console(false)).await;
    assert!(!set_cookies(&a).join(" ").contains("Secure"));
}

#[tokio::test]
async fn a_login_posted_from_another_site_is_refused() {
    let c = Client::admin().await;
    let post = |headers: &[(&str, &str)]| {
        let mut r = Request::post("/console/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "cloud.example:8080");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(Body::from("username=admin&password=password"))
            .unwrap()
    };
    for h in [
        &[("origin", "https://evil.example")][..],
        &[("sec-fetch-site", "cross-site")][..],
        &[("referer", "https://evil.example/login.html")][..],
        &[("origin", "null")][..],
    ] {
        let a = c.raw(post(h)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{h:?}");
        assert!(a.headers.get(header::SET_COOKIE).is_none(), "{h:?}");
    }
    // The console's own form, and clients that send none of these headers, sign in.
    for h in [
        &[("origin", "http://cloud.example:8080")][..],
        &[("sec-fetch-site", "same-origin")][..],
        &[][..],
    ] {
        let a = c.raw(post(h)).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{h:?}");
    }
}

#[tokio::test]
async fn api_rate_limit_answers_429_with_retry_after() {
    let c = Client::admin().await;
    account(&c, "tina", "tina-pw-123", "0").await;
    let tina = Client::for_user(c.ctx.clone(), "tina").await;
    for (name, value) in [
        ("api.throttling.enabled", "true"),
        ("api.throttling.interval", "60"),
        ("api.throttling.max", "3"),
    ] {
        c.ok("updateConfiguration", &[("name", name), ("value", value)])
            .await;
    }
    for _ in 0..3 {
        tina.ok("listZones", &[]).await;
    }
    let a = tina.call("listZones", &[]).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text);
    assert_eq!(a.body()["errorcode"], 429);
    assert!(a.errortext().contains("api limit"), "{}", a.text);
    let retry: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Root admins are not limited (as in CloudStack); other accounts count apart.
    for _ in 0..5 {
        c.ok("listZones", &[]).await;
    }
    // Off again: tina is served.
    c.ok(
        "updateConfiguration",
        &[("name", "api.throttling.enabled"), ("value", "false")],
    )
    .await;
    tina.ok("listZones", &[]).await;
    let _ = db::accounts::ROOT_DOMAIN;
}
