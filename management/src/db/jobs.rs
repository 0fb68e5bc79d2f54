//! Async job rows. A pending job is claimed with `FOR UPDATE SKIP LOCKED` under a lease;
//! every later write is fenced on the owner, so a server whose lease lapsed (and whose job
//! another server took over) cannot overwrite the new owner's result.

use crate::ids::{AccountId, DomainId, JobId, ManagementServerId, UserId, VmId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Counted, RowShape, Scalar};
use crate::error::Result;
use crate::rules::jobstate::{JobStatus, Stored};

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct JobRow {
    pub id: JobId,
    pub command: String,
    pub cmd_class: String,
    pub params: serde_json::Value,
    /// `None` once the user who submitted it was deleted.
    pub user_id: Option<UserId>,
    pub account_id: AccountId,
    pub instance_type: Option<String>,
    pub instance_id: Option<VmId>,
    pub status: Stored,
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
    pub domain_id: Option<DomainId>,
    #[sqlx(default)]
    pub domain_path: Option<String>,
    /// The name of the management server that runs (or ran) it.
    #[sqlx(default)]
    pub owner_ms_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub id: JobId,
    pub command: &'a str,
    pub cmd_class: String,
    pub params: serde_json::Value,
    pub user_id: UserId,
    pub account_id: AccountId,
    pub instance_type: Option<&'a str>,
    pub instance_id: Option<VmId>,
}

stmt!(JOB_INSERT = "INSERT INTO async_jobs (id, command, cmd_class, params, user_id, account_id, instance_type, instance_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)");

pub async fn job_insert(db: impl PgExecutor<'_>, j: &NewJob<'_>) -> Result<()> {
    JOB_INSERT
        .query()
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

const JOB_SELECT: &str = "SELECT j.*, a.name AS account_name, a.domain_id, d.path AS domain_path,
    (SELECT m.name FROM management_servers m WHERE m.id = j.owner_ms) AS owner_ms_name
    FROM async_jobs j JOIN accounts a ON a.id = j.account_id JOIN domains d ON d.id = a.domain_id";

stmt!(JOB_FETCH: JobRow = format!("{JOB_SELECT} WHERE j.id = $1"));

pub async fn job_fetch(db: impl PgExecutor<'_>, id: JobId) -> Result<Option<JobRow>> {
    Ok(JOB_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(JOB_CLAIM: JobRow = "UPDATE async_jobs SET owner_ms = $1, lease_until = now() + make_interval(secs => $2),
                attempts = attempts + 1
         WHERE id = (SELECT id FROM async_jobs
                     WHERE status = 0 AND (owner_ms IS NULL OR lease_until IS NULL OR lease_until < now())
                     ORDER BY created LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING *");

/// Claims the oldest pending job that nobody holds (never claimed, owner gone, or lease
/// lapsed) for `ms` until now + `lease_secs`.
pub async fn job_claim(
    db: impl PgExecutor<'_>,
    ms: ManagementServerId,
    lease_secs: i64,
) -> Result<Option<JobRow>> {
    Ok(JOB_CLAIM
        .query_as()
        .bind(ms)
        .bind(lease_secs as f64)
        .fetch_optional(db)
        .await?)
}

stmt!(
    JOB_RENEW = "UPDATE async_jobs SET lease_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND owner_ms = $2 AND status = 0"
);

/// Extends the lease; false when this server no longer owns the job.
pub async fn job_renew(
    db: impl PgExecutor<'_>,
    id: JobId,
    ms: ManagementServerId,
    lease_secs: i64,
) -> Result<bool> {
    Ok(JOB_RENEW
        .query()
        .bind(id)
        .bind(ms)
        .bind(lease_secs as f64)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(
    JOB_COMPLETE =
        "UPDATE async_jobs SET status = $3, result_code = $4, result = $5, completed = now(),
                lease_until = NULL, instance_id = COALESCE(instance_id, $6)
         WHERE id = $1 AND owner_ms = $2 AND status = 0"
);

/// Records the outcome (and `created`, the resource a create command made, as the job's
/// instance unless it names one already); false when this server no longer owns the job.
pub async fn job_complete(
    db: impl PgExecutor<'_>,
    id: JobId,
    ms: ManagementServerId,
    status: JobStatus,
    result_code: i32,
    result: &serde_json::Value,
    created: Option<Uuid>,
) -> Result<bool> {
    Ok(JOB_COMPLETE
        .query()
        .bind(id)
        .bind(ms)
        .bind(Stored(status))
        .bind(result_code)
        .bind(result)
        .bind(created)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub account_id: Option<AccountId>,
    /// Any of these accounts' (a domain's, a project's).
    pub account_ids: Option<Vec<Uuid>>,
    /// Leave out what projects' own accounts own (CloudStack's `SkipProjectResources`:
    /// `listall` without `projectid`).
    pub skip_projects: bool,
    pub domain_id: Option<DomainId>,
    pub start: Option<DateTime<Utc>>,
    pub keyword: Option<String>,
    pub offset: i64,
    pub limit: Option<i64>,
}

stmt!(JOB_LIST: Counted<JobRow> = format!(
    "SELECT q.*, count(*) OVER () AS total FROM ({JOB_SELECT}) q
         WHERE ($1::uuid IS NULL OR q.account_id = $1)
           AND ($2::uuid IS NULL OR q.domain_id = $2)
           AND ($3::timestamptz IS NULL OR q.created >= $3)
           AND ($4::text IS NULL OR q.command ILIKE $4)
           AND ($7::uuid[] IS NULL OR q.account_id = ANY($7))
           AND (NOT $8 OR NOT EXISTS (SELECT 1 FROM accounts xpa
                WHERE xpa.id = q.account_id AND xpa.account_type = 5))
         ORDER BY q.created DESC, q.id OFFSET $5 LIMIT $6"
));

pub async fn job_list(db: impl PgExecutor<'_>, f: &JobFilter) -> Result<(Vec<JobRow>, i64)> {
    let rows: Vec<Counted<_>> = JOB_LIST
        .query_as()
        .bind(f.account_id)
        .bind(f.domain_id)
        .bind(f.start)
        .bind(f.keyword.as_ref().map(|k| format!("%{k}%")))
        .bind(f.offset)
        .bind(f.limit.unwrap_or(i64::MAX))
        .bind(&f.account_ids)
        .bind(f.skip_projects)
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(JOB_COUNT_PENDING: Scalar<i64> = "SELECT count(*) FROM async_jobs WHERE status = 0");

pub async fn job_count_pending(db: impl PgExecutor<'_>) -> Result<i64> {
    Ok(JOB_COUNT_PENDING.query_scalar().fetch_one(db).await?)
}

statements![
    JOB_INSERT,
    JOB_FETCH,
    JOB_CLAIM,
    JOB_RENEW,
    JOB_COMPLETE,
    JOB_LIST,
    JOB_COUNT_PENDING
];
