//! Async job rows. A pending job is claimed with `FOR UPDATE SKIP LOCKED` under a lease;
//! every later write is fenced on the owner, so a server whose lease lapsed (and whose job
//! another server took over) cannot overwrite the new owner's result.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::Counted;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub command: String,
    pub cmd_class: String,
    pub params: serde_json::Value,
    pub user_id: Uuid,
    pub account_id: Uuid,
    pub instance_type: Option<String>,
    pub instance_id: Option<Uuid>,
    pub status: i32,
    pub proc_status: i32,
    pub result_code: i32,
    pub result_type: String,
    pub result: Option<serde_json::Value>,
    pub owner_ms: Option<Uuid>,
    pub lease_until: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub created: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
    #[sqlx(default)]
    pub account_name: Option<String>,
    #[sqlx(default)]
    pub domain_id: Option<Uuid>,
    #[sqlx(default)]
    pub domain_path: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub id: Uuid,
    pub command: &'a str,
    pub cmd_class: String,
    pub params: serde_json::Value,
    pub user_id: Uuid,
    pub account_id: Uuid,
    pub instance_type: Option<&'a str>,
    pub instance_id: Option<Uuid>,
}

pub async fn job_insert(db: impl PgExecutor<'_>, j: &NewJob<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO async_jobs (id, command, cmd_class, params, user_id, account_id, instance_type, instance_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(j.id)
    .bind(j.command)
    .bind(&j.cmd_class)
    .bind(&j.params)
    .bind(j.user_id)
    .bind(j.account_id)
    .bind(j.instance_type)
    .bind(j.instance_id)
    .execute(db)
    .await?;
    Ok(())
}

/// A pending job's progress (`jobprocstatus`) for the object it works on: the steps of a
/// VM's deploy or start done so far.
pub async fn job_set_progress_of(
    db: impl PgExecutor<'_>,
    instance_id: Uuid,
    done: i32,
) -> Result<()> {
    sqlx::query("UPDATE async_jobs SET proc_status = $2 WHERE instance_id = $1 AND status = 0")
        .bind(instance_id)
        .bind(done)
        .execute(db)
        .await?;
    Ok(())
}

/// A pending job's progress (`jobprocstatus`): the steps of its workflow done so far.
pub async fn job_set_progress(db: impl PgExecutor<'_>, id: Uuid, done: i32) -> Result<()> {
    sqlx::query("UPDATE async_jobs SET proc_status = $2 WHERE id = $1 AND status = 0")
        .bind(id)
        .bind(done)
        .execute(db)
        .await?;
    Ok(())
}

const JOB_SELECT: &str = "SELECT j.*, a.name AS account_name, a.domain_id, d.path AS domain_path
    FROM async_jobs j JOIN accounts a ON a.id = j.account_id JOIN domains d ON d.id = a.domain_id";

pub async fn job_fetch(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<JobRow>> {
    Ok(sqlx::query_as(&format!("{JOB_SELECT} WHERE j.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// Claims the oldest pending job that nobody holds (never claimed, owner gone, or lease
/// lapsed) for `ms` until now + `lease_secs`.
pub async fn job_claim(
    db: impl PgExecutor<'_>,
    ms: Uuid,
    lease_secs: i64,
) -> Result<Option<JobRow>> {
    Ok(sqlx::query_as(
        "UPDATE async_jobs SET owner_ms = $1, lease_until = now() + make_interval(secs => $2),
                attempts = attempts + 1
         WHERE id = (SELECT id FROM async_jobs
                     WHERE status = 0 AND (owner_ms IS NULL OR lease_until IS NULL OR lease_until < now())
                     ORDER BY created LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING *",
    )
    .bind(ms)
    .bind(lease_secs as f64)
    .fetch_optional(db)
    .await?)
}

/// Extends the lease; false when this server no longer owns the job.
pub async fn job_renew(
    db: impl PgExecutor<'_>,
    id: Uuid,
    ms: Uuid,
    lease_secs: i64,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE async_jobs SET lease_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND owner_ms = $2 AND status = 0",
    )
    .bind(id)
    .bind(ms)
    .bind(lease_secs as f64)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Records the outcome; false when this server no longer owns the job.
pub async fn job_complete(
    db: impl PgExecutor<'_>,
    id: Uuid,
    ms: Uuid,
    status: i32,
    result_code: i32,
    result: &serde_json::Value,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE async_jobs SET status = $3, result_code = $4, result = $5, completed = now(),
                lease_until = NULL
         WHERE id = $1 AND owner_ms = $2 AND status = 0",
    )
    .bind(id)
    .bind(ms)
    .bind(status)
    .bind(result_code)
    .bind(result)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub account_id: Option<Uuid>,
    pub domain_id: Option<Uuid>,
    pub start: Option<DateTime<Utc>>,
    pub keyword: Option<String>,
    pub offset: i64,
    pub limit: Option<i64>,
}

pub async fn job_list(db: impl PgExecutor<'_>, f: &JobFilter) -> Result<(Vec<JobRow>, i64)> {
    let rows: Vec<Counted<_>> = sqlx::query_as(&format!(
        "SELECT q.*, count(*) OVER () AS total FROM ({JOB_SELECT}) q
         WHERE ($1::uuid IS NULL OR q.account_id = $1)
           AND ($2::uuid IS NULL OR q.domain_id = $2)
           AND ($3::timestamptz IS NULL OR q.created >= $3)
           AND ($4::text IS NULL OR q.command ILIKE $4)
         ORDER BY q.created DESC, q.id OFFSET $5 LIMIT $6"
    ))
    .bind(f.account_id)
    .bind(f.domain_id)
    .bind(f.start)
    .bind(f.keyword.as_ref().map(|k| format!("%{k}%")))
    .bind(f.offset)
    .bind(f.limit.unwrap_or(i64::MAX))
    .fetch_all(db)
    .await?;
    Ok(Counted::split(rows))
}

pub async fn job_count_pending(db: impl PgExecutor<'_>) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM async_jobs WHERE status = 0")
            .fetch_one(db)
            .await?,
    )
}
