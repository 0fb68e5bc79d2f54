//! `background_tasks`: one row per management server and task, the last pass's outcome.

use crate::ids::ManagementServerId;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use super::RowShape;
use crate::error::Result;

#[derive(Debug, Clone, FromRow, RowShape)]
pub struct TaskRow {
    pub ms_id: ManagementServerId,
    pub ms_name: String,
    pub ms_last_seen: DateTime<Utc>,
    pub name: String,
    pub interval_secs: i32,
    pub runs: i64,
    pub failures: i64,
    pub last_run_at: DateTime<Utc>,
    pub last_duration_ms: i32,
    pub last_ok_at: Option<DateTime<Utc>>,
    pub last_detail: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// The outcome of one pass: `Ok(detail)` or `Err(error)`.
pub struct TaskPass<'a> {
    pub ms_id: ManagementServerId,
    pub name: &'a str,
    pub interval_secs: i32,
    pub duration_ms: i32,
    pub outcome: std::result::Result<&'a str, &'a str>,
}

stmt!(
    TASK_RECORD = "INSERT INTO background_tasks AS t
             (ms_id, name, interval_secs, runs, failures, last_run_at, last_duration_ms,
              last_ok_at, last_detail, last_error, last_error_at)
         VALUES ($1, $2, $3, 1, CASE WHEN $5::text IS NULL THEN 0 ELSE 1 END, now(), $4,
                 CASE WHEN $5::text IS NULL THEN now() END, $6,
                 $5, CASE WHEN $5::text IS NULL THEN NULL ELSE now() END)
         ON CONFLICT (ms_id, name) DO UPDATE SET
             interval_secs = EXCLUDED.interval_secs,
             runs = t.runs + 1,
             failures = t.failures + EXCLUDED.failures,
             last_run_at = now(),
             last_duration_ms = EXCLUDED.last_duration_ms,
             last_ok_at = COALESCE(EXCLUDED.last_ok_at, t.last_ok_at),
             last_detail = COALESCE(EXCLUDED.last_detail, t.last_detail),
             last_error = COALESCE(EXCLUDED.last_error, t.last_error),
             last_error_at = COALESCE(EXCLUDED.last_error_at, t.last_error_at)"
);

/// Records a pass (one statement: an upsert).
pub async fn task_record(db: impl PgExecutor<'_>, p: &TaskPass<'_>) -> Result<()> {
    let (detail, error) = match p.outcome {
        Ok(d) => (Some(d), None),
        Err(e) => (None, Some(e)),
    };
    TASK_RECORD
        .query()
        .bind(p.ms_id)
        .bind(p.name)
        .bind(p.interval_secs)
        .bind(p.duration_ms)
        .bind(error)
        .bind(detail)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(TASK_LIST: TaskRow = "SELECT t.ms_id, m.name AS ms_name, m.last_seen AS ms_last_seen, t.name,
                t.interval_secs, t.runs, t.failures, t.last_run_at, t.last_duration_ms,
                t.last_ok_at, t.last_detail, t.last_error, t.last_error_at
         FROM background_tasks t JOIN management_servers m ON m.id = t.ms_id
         WHERE $1::text IS NULL OR t.name = $1
         ORDER BY m.name, t.ms_id, t.name");

/// Every server's tasks, optionally one task by name, ordered by server and task.
pub async fn task_list(db: impl PgExecutor<'_>, name: Option<&str>) -> Result<Vec<TaskRow>> {
    Ok(TASK_LIST.query_as().bind(name).fetch_all(db).await?)
}

statements![TASK_RECORD, TASK_LIST];
