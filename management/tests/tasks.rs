//! Background tasks' status: each reconciler pass is recorded per server, and
//! listBackgroundTasks and the console show which pass failed, with its error.

use stratus_testkit::db as common;

use std::time::Duration;

use common::Client;
use stratus_management::error::Error;
use stratus_management::{services::reconcile, services::tasks};

#[tokio::test]
async fn passes_are_recorded_and_a_failing_task_shows_its_error() {
    let c = Client::admin().await;
    // Housekeeping's first pass runs at once.
    let (stop, rx) = tokio::sync::watch::channel(false);
    let housekeeping = tokio::spawn(reconcile::run(c.ctx.clone(), rx));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let names = loop {
        let l = c.ok("listBackgroundTasks", &[]).await;
        let names: Vec<String> = l["backgroundtask"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if names.contains(&"abandoned-work".to_string()) || std::time::Instant::now() > deadline {
            break names;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop.send(true).unwrap();
    housekeeping.await.unwrap();
    for want in [
        "abandoned-work",
        "expunge",
        "session-expiry",
        "settings",
        "storage-capacity",
    ] {
        assert!(names.contains(&want.to_string()), "{want} in {names:?}");
    }
    let l = c.ok("listBackgroundTasks", &[("name", "expunge")]).await;
    let t = &l["backgroundtask"][0];
    assert_eq!(l["count"], 1);
    assert_eq!(t["state"], "OK");
    assert_eq!(t["runs"], 1);
    assert_eq!(t["failures"], 0);
    assert_eq!(t["interval"], 86400, "expunge.interval");
    assert_eq!(t["lastresult"], "0 destroyed VMs expunged");
    assert_eq!(t["managementservername"], "test");
    assert!(t["lastrun"].as_str().is_some() && t.get("lasterror").is_none());

    // A pass that fails, then one that succeeds.
    let every = Duration::from_secs(30);
    let failed: Option<()> = tasks::pass(
        &c.ctx,
        "probe",
        every,
        async { Err(Error::internal("the NFS server 10.0.0.9 did not answer")) },
        |_| String::new(),
    )
    .await;
    assert!(failed.is_none());
    let l = c.ok("listBackgroundTasks", &[("state", "Failing")]).await;
    assert_eq!(l["count"], 1, "{l}");
    let t = &l["backgroundtask"][0];
    assert_eq!(t["name"], "probe");
    assert!(t["lasterror"]
        .as_str()
        .unwrap()
        .contains("10.0.0.9 did not answer"));
    assert_eq!(
        (t["runs"].as_i64(), t["failures"].as_i64()),
        (Some(1), Some(1))
    );
    assert!(t.get("lastsuccess").is_none());

    // The console shows the failure.
    let page = {
        let c2 = &c;
        let a = c2
            .raw(
                axum::http::Request::post("/console/login")
                    .header(
                        axum::http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(axum::body::Body::from(format!(
                        "username=admin&password={}",
                        common::ADMIN_PASSWORD
                    )))
                    .unwrap(),
            )
            .await;
        let cookie = a
            .headers
            .get_all(axum::http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
            .collect::<Vec<_>>()
            .join("; ");
        c2.raw(
            axum::http::Request::get("/console/background-tasks")
                .header(axum::http::header::COOKIE, cookie)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
    };
    assert_eq!(page.status, axum::http::StatusCode::OK);
    let doc = scraper::Html::parse_document(&page.text);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    let row = doc
        .select(&sel("table#list tbody tr"))
        .find(|r| r.value().attr("data-id").unwrap_or("").ends_with(":probe"))
        .expect("a row for the probe");
    let cells: Vec<String> = row
        .select(&sel("td"))
        .map(|td| td.text().collect::<String>().trim().to_string())
        .collect();
    assert_eq!(cells[2], "Failing");
    assert!(cells[7].contains("10.0.0.9 did not answer"), "{cells:?}");
    assert_eq!(
        doc.select(&sel("meta[http-equiv=refresh]")).count(),
        1,
        "the page refreshes itself"
    );

    tasks::pass(&c.ctx, "probe", every, async { Ok(7) }, |n| {
        format!("{n} things done")
    })
    .await;
    let l = c.ok("listBackgroundTasks", &[("name", "probe")]).await;
    let t = &l["backgroundtask"][0];
    assert_eq!(t["state"], "OK", "a success heals it");
    assert_eq!(t["lastresult"], "7 things done");
    assert_eq!(
        (t["runs"].as_i64(), t["failures"].as_i64()),
        (Some(2), Some(1))
    );
    assert!(t["lasterror"].as_str().is_some(), "the last error is kept");

    let e = c
        .err("listBackgroundTasks", &[("state", "Sleeping")], 431)
        .await;
    assert!(e.contains("Invalid state"), "{e}");
}
