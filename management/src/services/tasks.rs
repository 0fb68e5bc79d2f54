//! The status of background tasks, for admins. Every management server runs the same
//! idempotent reconcilers on timers (housekeeping, the host monitor, ISO downloads); a
//! pass that fails is logged and retried next time, which is right for the cloud but
//! invisible to the admin. So each pass also records its outcome in `background_tasks`
//! (per server and task), and `listBackgroundTasks` and the console's Background tasks
//! page show them with a health judged here: failing, late, or on a server that stopped.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::ctx::Ctx;
use crate::db;
use crate::db::tasks::{TaskPass, TaskRow};

/// A server that has not heartbeated for this long is taken as stopped (it heartbeats
/// every 10 s in housekeeping).
const SERVER_SILENT: Duration = Duration::from_secs(60);

/// How a task is doing, as the admin sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The last pass succeeded and the next is not overdue.
    Ok,
    /// The last pass failed (its error is shown); it is retried every interval.
    Failing,
    /// No pass for three intervals (and 30 s of slack): the task is stuck or starved.
    Late,
    /// Its management server stopped heartbeating; the row is what it did last.
    ServerStopped,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Failing => "Failing",
            Health::Late => "Late",
            Health::ServerStopped => "ServerStopped",
        }
    }
}

pub fn health(t: &TaskRow, now: DateTime<Utc>) -> Health {
    let ago = |at: DateTime<Utc>| (now - at).to_std().unwrap_or_default();
    if ago(t.ms_last_seen) > SERVER_SILENT {
        return Health::ServerStopped;
    }
    let late_after = Duration::from_secs(3 * t.interval_secs.max(1) as u64 + 30);
    if ago(t.last_run_at) > late_after {
        return Health::Late;
    }
    match (t.last_error_at, t.last_ok_at) {
        (Some(e), Some(ok)) if e > ok => Health::Failing,
        (Some(_), None) => Health::Failing,
        _ => Health::Ok,
    }
}

/// Runs one pass of task `name` (due every `every`), records its outcome and duration,
/// and logs a failure. The pass's value is returned when it succeeded; `describe` says in
/// a few words what it did ("3 expunged").
pub async fn pass<T>(
    ctx: &Ctx,
    name: &str,
    every: Duration,
    work: impl Future<Output = crate::error::Result<T>>,
    describe: impl FnOnce(&T) -> String,
) -> Option<T> {
    let started = Instant::now();
    let result = work.await;
    let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let (detail, error) = match &result {
        Ok(v) => (describe(v), None),
        Err(e) => {
            tracing::warn!(task = name, error = %e, "background task pass failed; retried next interval");
            (String::new(), Some(e.to_string()))
        }
    };
    let record = TaskPass {
        ms_id: ctx.ms_id,
        name,
        interval_secs: every.as_secs().clamp(1, i32::MAX as u64) as i32,
        duration_ms,
        outcome: match &error {
            None => Ok(detail.as_str()),
            Some(e) => Err(e.as_str()),
        },
    };
    if let Err(e) = db::tasks::task_record(&ctx.pool, &record).await {
        tracing::debug!(task = name, error = %e, "recording a background task pass failed");
    }
    result.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn row(now: DateTime<Utc>) -> TaskRow {
        TaskRow {
            ms_id: Uuid::nil().into(),
            ms_name: "ms".into(),
            ms_last_seen: now,
            name: "expunge".into(),
            interval_secs: 10,
            runs: 3,
            failures: 0,
            last_run_at: now,
            last_duration_ms: 5,
            last_ok_at: Some(now),
            last_detail: None,
            last_error: None,
            last_error_at: None,
        }
    }

    #[test]
    fn health_of_a_task() {
        let now = Utc::now();
        let s = chrono::Duration::seconds;
        let mut t = row(now);
        assert_eq!(health(&t, now), Health::Ok);
        // An old error followed by a success is healed.
        t.last_error_at = Some(now - s(30));
        assert_eq!(health(&t, now), Health::Ok);
        // The last pass failed.
        t.last_error_at = Some(now);
        t.last_ok_at = Some(now - s(10));
        assert_eq!(health(&t, now), Health::Failing);
        t.last_ok_at = None;
        assert_eq!(health(&t, now), Health::Failing);
        // No pass for 3 intervals + 30 s: late, whatever the last outcome.
        let mut t = row(now);
        t.last_run_at = now - s(59);
        assert_eq!(health(&t, now), Health::Ok);
        t.last_run_at = now - s(61);
        assert_eq!(health(&t, now), Health::Late);
        // A server that went silent says so first.
        t.ms_last_seen = now - s(61);
        assert_eq!(health(&t, now), Health::ServerStopped);
    }
}
