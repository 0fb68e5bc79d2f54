//! What must hold under concurrency and crashes, against a real Postgres: overlapping
//! ranges and duplicate names cannot slip in through races, every job is claimed by one
//! server at a time, and a dead server's job is taken over and finished.

use stratus_management::ids::ManagementServerId;
use stratus_management::rules::jobstate::JobStatus;
use stratus_testkit::db as common;

use std::time::Duration;

use common::Client;
use stratus_management::db::{self, jobs::NewJob};
use uuid::Uuid;

#[tokio::test]
async fn concurrent_overlapping_ranges_admit_exactly_one() {
    let c = Client::admin().await;
    let (zid, pid, _) = c.basic_topology("race").await;
    let mut tasks = vec![];
    for i in 0..20 {
        let (c2, zid, pid) = (
            Client {
                ctx: c.ctx.clone(),
                router: c.router.clone(),
                api_key: c.api_key.clone(),
                secret: c.secret.clone(),
            },
            zid.clone(),
            pid.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Every range overlaps every other one (all contain .150).
            let start = format!("10.0.0.{}", 100 + i);
            let end = format!("10.0.0.{}", 150 + i);
            let a = c2
                .call(
                    "createVlanIpRange",
                    &[
                        ("zoneid", &zid),
                        ("podid", &pid),
                        ("gateway", "10.0.0.1"),
                        ("netmask", "255.255.255.0"),
                        ("startip", &start),
                        ("endip", &end),
                    ],
                )
                .await;
            (a.status.as_u16(), a.errortext())
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (status, text) = t.await.unwrap();
        match status {
            200 => ok += 1,
            431 => assert!(text.contains("overlaps"), "{text}"),
            other => panic!("unexpected {other}: {text}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(c.ok("listVlanIpRanges", &[]).await["count"], 1);
}

#[tokio::test]
async fn concurrent_duplicate_zone_names_admit_exactly_one() {
    let c = Client::admin().await;
    let mut tasks = vec![];
    for _ in 0..10 {
        let c2 = Client {
            ctx: c.ctx.clone(),
            router: c.router.clone(),
            api_key: c.api_key.clone(),
            secret: c.secret.clone(),
        };
        tasks.push(tokio::spawn(async move {
            c2.call(
                "createZone",
                &[
                    ("name", "same"),
                    ("networktype", "Basic"),
                    ("dns1", "8.8.8.8"),
                    ("internaldns1", "10.0.0.2"),
                ],
            )
            .await
            .status
            .as_u16()
        }));
    }
    let mut codes = vec![];
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 431), "{codes:?}");
}

async fn queue(c: &Client, command: &str, params: serde_json::Value) -> Uuid {
    let id = Uuid::new_v4();
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    db::jobs::job_insert(
        &c.ctx.pool,
        &NewJob {
            id: id.into(),
            command,
            cmd_class: "test".into(),
            params,
            user_id: admin.id,
            account_id: admin.account_id,
            instance_type: None,
            instance_id: None,
        },
    )
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn each_job_is_claimed_once_among_competing_servers() {
    let c = Client::admin().await;
    let mut ids = vec![];
    for _ in 0..30 {
        ids.push(
            queue(
                &c,
                "disableUser",
                serde_json::json!({"id": Uuid::new_v4().to_string()}),
            )
            .await,
        );
    }
    let mut servers = vec![];
    for _ in 0..5 {
        let ms = ManagementServerId::new_v4();
        db::mgmt::ms_register(&c.ctx.pool, ms, "claimer", "0")
            .await
            .unwrap();
        servers.push(ms);
    }
    let mut tasks = vec![];
    for ms in servers {
        let pool = c.ctx.pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = vec![];
            while let Some(j) = db::jobs::job_claim(&pool, ms, 30).await.unwrap() {
                got.push(j.id);
            }
            got
        }));
    }
    let mut claimed = vec![];
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    claimed.sort();
    ids.sort();
    assert_eq!(claimed, ids, "every job claimed exactly once");
    // Held under a live lease, nobody can claim them again.
    let other = ManagementServerId::new_v4();
    db::mgmt::ms_register(&c.ctx.pool, other, "late", "0")
        .await
        .unwrap();
    assert!(db::jobs::job_claim(&c.ctx.pool, other, 30)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_dead_servers_job_is_taken_over_and_the_old_owner_is_fenced() {
    let c = Client::admin().await;
    let a = c
        .ok(
            "createAccount",
            &[
                ("accounttype", "0"),
                ("email", "e@x"),
                ("firstname", "f"),
                ("lastname", "l"),
                ("password", "secret1"),
                ("username", "carol"),
            ],
        )
        .await;
    let user = a["account"]["user"][0]["id"].as_str().unwrap().to_string();

    // Server A claims the job, then "dies": its lease lapses without a result.
    let dead = ManagementServerId::new_v4();
    db::mgmt::ms_register(&c.ctx.pool, dead, "dead", "0")
        .await
        .unwrap();
    let job = queue(&c, "disableUser", serde_json::json!({"id": user})).await;
    let claimed = db::jobs::job_claim(&c.ctx.pool, dead, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, job);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Server B's worker takes it over and finishes it.
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let done = c.wait_job(&job.to_string()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    assert_eq!(done["managementserverid"], c.ctx.ms_id.to_string());
    let row = db::jobs::job_fetch(&c.ctx.pool, job.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.attempts, 2);

    // A comes back and tries to record a result: refused, B's result stands.
    let wrote = db::jobs::job_complete(
        &c.ctx.pool,
        job.into(),
        dead,
        JobStatus::Failed,
        530,
        &serde_json::json!({}),
        None,
    )
    .await
    .unwrap();
    assert!(!wrote);
    assert_eq!(
        db::jobs::job_fetch(&c.ctx.pool, job.into())
            .await
            .unwrap()
            .unwrap()
            .status
            .0,
        JobStatus::Succeeded
    );
}

#[tokio::test]
async fn a_job_that_keeps_losing_its_server_fails_clearly() {
    let c = Client::admin().await;
    let job = queue(
        &c,
        "disableUser",
        serde_json::json!({"id": Uuid::new_v4().to_string()}),
    )
    .await;
    for _ in 0..3 {
        let ms = ManagementServerId::new_v4();
        db::mgmt::ms_register(&c.ctx.pool, ms, "crashy", "0")
            .await
            .unwrap();
        db::jobs::job_claim(&c.ctx.pool, ms, 0)
            .await
            .unwrap()
            .unwrap();
    }
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let done = c.wait_job(&job.to_string()).await;
    assert_eq!(done["jobstatus"], 2);
    assert_eq!(done["jobresultcode"], 530);
    assert!(
        done["jobresult"]["errortext"]
            .as_str()
            .unwrap()
            .contains("abandoned after 3 attempts"),
        "{done}"
    );
}
