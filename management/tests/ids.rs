//! Typed ids and host states against a real Postgres: an id binds and decodes as the
//! `uuid` it wraps (alone, as `Option`, as `Vec` for `= ANY($1)`, in `FromRow` rows), and
//! a host's states decode straight into their enums, with the schema refusing what the
//! enums cannot spell.

use stratus_testkit::db as common;

use common::Client;
use stratus_management::db;
use stratus_management::ids::{ClusterId, HostId, PodId, ZoneId};
use stratus_management::rules::hoststate::{ResourceState, Status};
use stratus_management::services::hosts;
use uuid::Uuid;

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Row {
    id: ZoneId,
    pod: Option<PodId>,
}

#[tokio::test]
async fn typed_ids_bind_and_decode_as_uuids() {
    let pool = common::fresh_db().await;
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("CREATE TEMP TABLE t (id uuid PRIMARY KEY, pod uuid)")
        .execute(&mut *conn)
        .await
        .unwrap();
    let (a, b, c) = (ZoneId::new_v4(), ZoneId::new_v4(), ZoneId::new_v4());
    let pod = PodId::new_v4();
    for (id, p) in [(a, Some(pod)), (b, None), (c, None)] {
        sqlx::query("INSERT INTO t (id, pod) VALUES ($1, $2)")
            .bind(id)
            .bind(p)
            .execute(&mut *conn)
            .await
            .unwrap();
    }

    // One id, bound and decoded; it is the very UUID underneath.
    let got: ZoneId = sqlx::query_scalar("SELECT id FROM t WHERE id = $1")
        .bind(a)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(got, a);
    let raw: Uuid = sqlx::query_scalar("SELECT id FROM t WHERE id = $1")
        .bind(a.into_uuid())
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(raw, a);

    // Option, both ways: Some and NULL.
    let rows: Vec<Row> = sqlx::query_as("SELECT id, pod FROM t WHERE id = ANY($1) ORDER BY pod")
        .bind(vec![a, b])
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            Row {
                id: a,
                pod: Some(pod)
            },
            Row { id: b, pod: None }
        ]
    );
    let none: Option<PodId> = None;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t WHERE ($1::uuid IS NULL OR pod = $1)")
        .bind(none)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(n, 3, "a NULL id filters nothing");

    // Vec for `= ANY($1)` (a slice too), an absent list, and an array decoded back.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t WHERE id = ANY($1)")
        .bind(&[a, c][..])
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let no_list: Option<Vec<ZoneId>> = None;
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM t WHERE ($1::uuid[] IS NULL OR id = ANY($1))")
            .bind(no_list)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(n, 3);
    let mut all: Vec<ZoneId> = sqlx::query_scalar("SELECT array_agg(id) FROM t")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    all.sort();
    let mut want = vec![a, b, c];
    want.sort();
    assert_eq!(all, want);
    conn.close().await.ok();
}

#[tokio::test]
async fn host_states_are_enums_in_the_row_and_the_schema() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("ids-zone").await;
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let (zone, pod, cluster): (ZoneId, PodId, ClusterId) = (
        zid.parse().unwrap(),
        pid.parse().unwrap(),
        cid.parse().unwrap(),
    );
    let (h, _token) = hosts::register(
        &c.ctx,
        &admin,
        zone,
        pod,
        cluster,
        "192.0.2.7".parse().unwrap(),
        8250,
        "ids-host",
    )
    .await
    .unwrap();
    assert_eq!((h.zone_id, h.pod_id, h.cluster_id), (zone, pod, cluster));
    assert_eq!(h.status, Status::Connecting);
    assert_eq!(h.resource_state, ResourceState::Enabled);

    // Written as the enum, read back as the enum; the column holds the same spelling.
    db::hosts::host_set_status(&c.ctx.pool, h.id, Status::Alert)
        .await
        .unwrap();
    db::hosts::host_set_resource_state(&c.ctx.pool, h.id, ResourceState::Maintenance)
        .await
        .unwrap();
    let back = db::hosts::host_fetch(&c.ctx.pool, h.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.status, Status::Alert);
    assert_eq!(back.resource_state, ResourceState::Maintenance);
    let text: (String, String) =
        sqlx::query_as("SELECT status, resource_state FROM hosts WHERE id = $1")
            .bind(h.id)
            .fetch_one(&c.ctx.pool)
            .await
            .unwrap();
    assert_eq!(text, ("Alert".into(), "Maintenance".into()));

    // The schema admits exactly the enums' spellings (0018 dropped CloudStack states
    // Stratus never writes), so every stored row decodes.
    for (column, value) in [
        ("status", "Removed"),
        ("status", "Creating"),
        ("status", "up"),
        ("resource_state", "Creating"),
    ] {
        let e = sqlx::query(&format!("UPDATE hosts SET {column} = $2 WHERE id = $1"))
            .bind(h.id)
            .bind(value)
            .execute(&c.ctx.pool)
            .await
            .unwrap_err();
        let constraint = e
            .as_database_error()
            .and_then(|d| d.constraint())
            .map(str::to_string);
        assert_eq!(
            constraint.as_deref(),
            Some(format!("hosts_{column}_check").as_str()),
            "{column} = {value}: {e}"
        );
    }
    for s in Status::ALL {
        sqlx::query("UPDATE hosts SET status = $2 WHERE id = $1")
            .bind(h.id)
            .bind(s)
            .execute(&c.ctx.pool)
            .await
            .unwrap();
        assert_eq!(
            db::hosts::host_fetch(&c.ctx.pool, h.id)
                .await
                .unwrap()
                .unwrap()
                .status,
            s
        );
    }

    // A spelling outside the mapping is a decode error, not a string to re-parse later.
    let bad = sqlx::query_scalar::<_, Status>("SELECT 'Removed'::text")
        .fetch_one(&c.ctx.pool)
        .await
        .unwrap_err();
    assert!(
        bad.to_string().contains("unknown host status \"Removed\""),
        "{bad}"
    );
    let unknown = db::hosts::host_fetch(&c.ctx.pool, HostId::new_v4())
        .await
        .unwrap();
    assert!(unknown.is_none());
}
