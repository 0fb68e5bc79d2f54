//! Workflow rows (`services::workflow`). A workflow is claimed by one management server
//! under a lease, like a job; every later write is fenced on the owner, so a server that
//! lost its claim (another took the workflow over) cannot record a step or an outcome.

use crate::ids::{JobId, ManagementServerId, WorkflowId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Counted, RowShape, Scalar};
use crate::error::Result;
use crate::rules::workflow::{Kind, State};

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct WorkflowRow {
    pub id: WorkflowId,
    pub kind: Kind,
    pub resource_type: String,
    pub resource_id: Uuid,
    pub job_id: Option<JobId>,
    pub state: State,
    pub step_index: i32,
    pub step_count: i32,
    pub step: Option<String>,
    pub step_started: DateTime<Utc>,
    pub input: serde_json::Value,
    pub outputs: serde_json::Value,
    pub error: Option<String>,
    pub error_code: Option<i32>,
    pub owner_ms: Option<ManagementServerId>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewWorkflow<'a> {
    pub id: WorkflowId,
    pub kind: Kind,
    pub resource_type: &'a str,
    pub resource_id: Uuid,
    pub job_id: Option<JobId>,
    pub step_count: i32,
    pub first_step: &'a str,
    pub input: serde_json::Value,
}

stmt!(WORKFLOW_INSERT: WorkflowRow = "INSERT INTO workflows (id, kind, resource_type, resource_id, job_id, step_count, step,
                                input, owner_ms, lease_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10))
         RETURNING *");

/// A new workflow, Running at step 0 and claimed by `ms` until now + `lease_secs`.
pub async fn workflow_insert(
    db: impl PgExecutor<'_>,
    w: &NewWorkflow<'_>,
    ms: ManagementServerId,
    lease_secs: i64,
) -> Result<WorkflowRow> {
    Ok(WORKFLOW_INSERT
        .query_as()
        .bind(w.id)
        .bind(w.kind)
        .bind(w.resource_type)
        .bind(w.resource_id)
        .bind(w.job_id)
        .bind(w.step_count)
        .bind(w.first_step)
        .bind(&w.input)
        .bind(ms)
        .bind(lease_secs as f64)
        .fetch_one(db)
        .await?)
}

stmt!(WORKFLOW_FETCH: WorkflowRow = "SELECT * FROM workflows WHERE id = $1");

pub async fn workflow_fetch(
    db: impl PgExecutor<'_>,
    id: WorkflowId,
) -> Result<Option<WorkflowRow>> {
    Ok(WORKFLOW_FETCH
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(WORKFLOW_FETCH_BY_JOB: WorkflowRow = "SELECT * FROM workflows WHERE job_id = $1");

/// The workflow an async job runs, if it has started one.
pub async fn workflow_fetch_by_job(
    db: impl PgExecutor<'_>,
    job_id: JobId,
) -> Result<Option<WorkflowRow>> {
    Ok(WORKFLOW_FETCH_BY_JOB
        .query_as()
        .bind(job_id)
        .fetch_optional(db)
        .await?)
}

stmt!(WORKFLOW_FETCH_ACTIVE: WorkflowRow = "SELECT * FROM workflows
         WHERE kind = $1 AND resource_type = $2 AND resource_id = $3
           AND state IN ('Running', 'Unwinding')");

/// The unfinished workflow of `kind` on a resource (at most one workflow of any kind is
/// unfinished per resource).
pub async fn workflow_fetch_active(
    db: impl PgExecutor<'_>,
    kind: Kind,
    resource_type: &str,
    resource_id: Uuid,
) -> Result<Option<WorkflowRow>> {
    Ok(WORKFLOW_FETCH_ACTIVE
        .query_as()
        .bind(kind)
        .bind(resource_type)
        .bind(resource_id)
        .fetch_optional(db)
        .await?)
}

stmt!(WORKFLOW_FETCH_ACTIVE_BY_INPUT: WorkflowRow = "SELECT * FROM workflows
         WHERE kind = $1 AND input ->> $2 = $3 AND state IN ('Running', 'Unwinding')");

/// The unfinished workflow of `kind` whose input has `key` = `value` (addHost: the
/// address being added; a partial unique index keeps it to one).
pub async fn workflow_fetch_active_by_input(
    db: impl PgExecutor<'_>,
    kind: Kind,
    key: &str,
    value: &str,
) -> Result<Option<WorkflowRow>> {
    Ok(WORKFLOW_FETCH_ACTIVE_BY_INPUT
        .query_as()
        .bind(kind)
        .bind(key)
        .bind(value)
        .fetch_optional(db)
        .await?)
}

stmt!(WORKFLOW_LIST_ORPHANED: WorkflowRow = "SELECT * FROM workflows
         WHERE kind = $1 AND job_id IS NULL AND state IN ('Running', 'Unwinding')
           AND lease_until < now() AND updated < now() - interval '1 minute'
         ORDER BY created");

/// Unfinished workflows of `kind` run by no job whose server stopped holding them a
/// while ago (a synchronous command's work, e.g. addHost, whose server died).
pub async fn workflow_list_orphaned(
    db: impl PgExecutor<'_>,
    kind: Kind,
) -> Result<Vec<WorkflowRow>> {
    Ok(WORKFLOW_LIST_ORPHANED
        .query_as()
        .bind(kind)
        .fetch_all(db)
        .await?)
}

stmt!(WORKFLOW_CLAIM: WorkflowRow = "UPDATE workflows w SET owner_ms = $2, lease_until = now() + make_interval(secs => $3),
                updated = now()
         WHERE w.id = $1 AND w.state IN ('Running', 'Unwinding')
           AND (w.owner_ms IS NULL OR w.owner_ms = $2 OR w.lease_until IS NULL
                OR w.lease_until < now()
                OR EXISTS (SELECT 1 FROM async_jobs j
                           WHERE j.id = w.job_id AND j.owner_ms = $2 AND j.status = 0))
         RETURNING *");

/// Claims an unfinished workflow for `ms`: when nobody holds it, `ms` already does, its
/// lease lapsed, or `ms` owns the pending job it belongs to (the job runner's claim is
/// the word on who runs a job's work). None when another server holds it.
pub async fn workflow_claim(
    db: impl PgExecutor<'_>,
    id: WorkflowId,
    ms: ManagementServerId,
    lease_secs: i64,
) -> Result<Option<WorkflowRow>> {
    Ok(WORKFLOW_CLAIM
        .query_as()
        .bind(id)
        .bind(ms)
        .bind(lease_secs as f64)
        .fetch_optional(db)
        .await?)
}

stmt!(
    WORKFLOW_RENEW = "UPDATE workflows SET lease_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND owner_ms = $2 AND state IN ('Running', 'Unwinding')"
);

/// Extends the lease; false when `ms` no longer owns the workflow.
pub async fn workflow_renew(
    db: impl PgExecutor<'_>,
    id: WorkflowId,
    ms: ManagementServerId,
    lease_secs: i64,
) -> Result<bool> {
    Ok(WORKFLOW_RENEW
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
    WORKFLOW_SET_STEP =
        "UPDATE workflows SET step_index = $3, step = $4, step_started = now(), updated = now()
         WHERE id = $1 AND owner_ms = $2 AND state IN ('Running', 'Unwinding')"
);

/// The step being worked on now (done or undone): its index, its name, since now.
pub async fn workflow_set_step(
    db: impl PgExecutor<'_>,
    id: WorkflowId,
    ms: ManagementServerId,
    index: i32,
    step: Option<&str>,
) -> Result<bool> {
    Ok(WORKFLOW_SET_STEP
        .query()
        .bind(id)
        .bind(ms)
        .bind(index)
        .bind(step)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(
    WORKFLOW_STEP_DONE: Scalar<i64> =
        "WITH w AS (
             UPDATE workflows SET outputs = outputs || jsonb_build_object($3::text, $4::jsonb),
                    step_index = $5, step = $6, step_started = now(), updated = now()
              WHERE id = $1 AND owner_ms = $2 AND state = 'Running'
             RETURNING job_id),
         j AS (
             UPDATE async_jobs SET proc_status = $5
               FROM w WHERE async_jobs.id = w.job_id AND async_jobs.status = 0)
         SELECT count(*) FROM w"
);

/// A step done: its output recorded under its name, the next step (`next_index`, its
/// name, None past the last) current, and the workflow's job's progress
/// (`jobprocstatus`) moved to `next_index` in the same statement, so a client never
/// sees the workflow one step further than its job.
pub async fn workflow_step_done(
    db: impl PgExecutor<'_>,
    id: WorkflowId,
    ms: ManagementServerId,
    done: &str,
    output: &serde_json::Value,
    next_index: i32,
    next: Option<&str>,
) -> Result<bool> {
    Ok(WORKFLOW_STEP_DONE
        .query_scalar()
        .bind(id)
        .bind(ms)
        .bind(done)
        .bind(output)
        .bind(next_index)
        .bind(next)
        .fetch_one(db)
        .await?
        == 1)
}

stmt!(
    WORKFLOW_SET_UNWINDING =
        "UPDATE workflows SET state = 'Unwinding', step_index = $3, error = $4, error_code = $5,
                step_started = now(), updated = now()
         WHERE id = $1 AND owner_ms = $2 AND state = 'Running'"
);

/// A step failed: the workflow unwinds `to_undo` steps (the failed one included), and
/// remembers why.
pub async fn workflow_set_unwinding(
    db: impl PgExecutor<'_>,
    id: WorkflowId,
    ms: ManagementServerId,
    to_undo: i32,
    error: &str,
    error_code: i32,
) -> Result<bool> {
    Ok(WORKFLOW_SET_UNWINDING
        .query()
        .bind(id)
        .bind(ms)
        .bind(to_undo)
        .bind(error)
        .bind(error_code)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(
    WORKFLOW_FINISH =
        "UPDATE workflows SET state = $4, step = NULL, lease_until = NULL, updated = now(),
                step_index = CASE WHEN $4 = 'Succeeded' THEN step_count ELSE 0 END,
                input = COALESCE($5, input)
         WHERE id = $1 AND owner_ms = $2 AND state = $3"
);

/// The outcome: Succeeded (from Running, every step done) or Failed (from Unwinding,
/// nothing left to undo). The lease ends; `input`, when given, replaces the stored input
/// (what the workflow keeps once over, see `Workflow::finished_input`).
pub async fn workflow_finish(
    db: impl PgExecutor<'_>,
    id: WorkflowId,
    ms: ManagementServerId,
    succeeded: bool,
    input: Option<&serde_json::Value>,
) -> Result<bool> {
    let (from, to) = if succeeded {
        (State::Running, State::Succeeded)
    } else {
        (State::Unwinding, State::Failed)
    };
    Ok(WORKFLOW_FINISH
        .query()
        .bind(id)
        .bind(ms)
        .bind(from)
        .bind(to)
        .bind(input)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(WORKFLOW_LIST_ABANDONED: WorkflowRow = "SELECT w.* FROM workflows w
         WHERE w.state IN ('Running', 'Unwinding')
           AND (w.lease_until IS NULL OR w.lease_until < now())
           AND w.updated < now() - interval '1 minute'
           AND NOT EXISTS (SELECT 1 FROM async_jobs j WHERE j.id = w.job_id AND j.status = 0)
           AND (w.job_id IS NOT NULL OR w.owner_ms IS NULL)
         ORDER BY w.created");

/// Unfinished workflows whose job is over (it was abandoned after its servers died, see
/// the job runner's attempts) or gone, and nobody holds: nothing will resume them.
pub async fn workflow_list_abandoned(db: impl PgExecutor<'_>) -> Result<Vec<WorkflowRow>> {
    Ok(WORKFLOW_LIST_ABANDONED.query_as().fetch_all(db).await?)
}

#[derive(Debug, Clone, Default)]
pub struct WorkflowFilter {
    pub id: Option<WorkflowId>,
    pub resource_id: Option<Uuid>,
    pub state: Option<State>,
    pub offset: i64,
    pub limit: Option<i64>,
}

stmt!(WORKFLOW_LIST: Counted<WorkflowRow> = "SELECT w.*, count(*) OVER () AS total FROM workflows w
         WHERE ($1::uuid IS NULL OR w.id = $1)
           AND ($2::uuid IS NULL OR w.resource_id = $2)
           AND ($3::text IS NULL OR w.state = $3)
         ORDER BY w.created DESC, w.id OFFSET $4 LIMIT $5");

/// Newest first.
pub async fn workflow_list(
    db: impl PgExecutor<'_>,
    f: &WorkflowFilter,
) -> Result<(Vec<WorkflowRow>, i64)> {
    let rows: Vec<Counted<WorkflowRow>> = WORKFLOW_LIST
        .query_as()
        .bind(f.id)
        .bind(f.resource_id)
        .bind(f.state)
        .bind(f.offset)
        .bind(f.limit.unwrap_or(i64::MAX))
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

statements![
    WORKFLOW_INSERT,
    WORKFLOW_FETCH,
    WORKFLOW_FETCH_BY_JOB,
    WORKFLOW_FETCH_ACTIVE,
    WORKFLOW_CLAIM,
    WORKFLOW_RENEW,
    WORKFLOW_SET_STEP,
    WORKFLOW_STEP_DONE,
    WORKFLOW_SET_UNWINDING,
    WORKFLOW_FINISH,
    WORKFLOW_LIST_ABANDONED,
    WORKFLOW_FETCH_ACTIVE_BY_INPUT,
    WORKFLOW_LIST_ORPHANED,
    WORKFLOW_LIST
];
