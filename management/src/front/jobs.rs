//! The async job runner. Each management server runs one: it claims pending jobs with
//! `FOR UPDATE SKIP LOCKED`, holds them under a lease it keeps renewing while the job
//! runs, and records the result fenced on its ownership. A job whose server died (lease
//! lapsed) is claimed again by any server; after `MAX_ATTEMPTS` it fails with a clear text
//! rather than looping forever.

use std::sync::Arc;
use std::time::Duration;

use stratus_api::{command, ApiError, Params};
use tokio::sync::{watch, Semaphore};

use crate::ctx::Ctx;
use crate::db::{self, jobs::JobRow};
use crate::error::Result;
use crate::rules::jobstate::JobStatus;
use crate::services::auth::Caller;

pub const LEASE_SECS: i64 = 30;
const RENEW_EVERY: Duration = Duration::from_secs(10);
const MAX_ATTEMPTS: i32 = 3;
const CONCURRENT_JOBS: usize = 8;

/// Runs until `shutdown` turns true, then waits for running jobs to finish.
pub async fn run_worker(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(CONCURRENT_JOBS));
    loop {
        if *shutdown.borrow() {
            break;
        }
        let permit = match slots.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => break,
        };
        match db::jobs::job_claim(&ctx.pool, ctx.ms_id, LEASE_SECS).await {
            Ok(Some(job)) => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    run_job(&ctx, job).await;
                    drop(permit);
                });
                continue;
            }
            Ok(None) => drop(permit),
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %e, "claiming jobs failed; retrying");
            }
        }
        tokio::select! {
            _ = ctx.jobs.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Let running jobs finish (their leases would otherwise hand them to another server).
    let _ = slots.acquire_many(CONCURRENT_JOBS as u32).await;
}

/// Executes one claimed job and records its outcome.
pub async fn run_job(ctx: &Ctx, job: JobRow) {
    let id = job.id;
    let outcome = tokio::select! {
        r = execute(ctx, &job) => Some(r),
        _ = keep_lease(ctx, id.into_uuid()) => None,
    };
    let Some(outcome) = outcome else {
        tracing::warn!(job = %id, "lost the lease on a running job; another server owns it now");
        return;
    };
    let (status, code, result) = match outcome {
        Ok(reply) => (JobStatus::Succeeded, 0, reply.body()),
        Err(e) => (
            JobStatus::Failed,
            e.code.http_status() as i32,
            failure_body(&e),
        ),
    };
    // A create command's job (createProject…) names what it made, as CloudStack's
    // jobinstanceid does: the id of the one object its result holds.
    let created = match (status, &job.instance_type, job.instance_id) {
        (JobStatus::Succeeded, Some(_), None) => result
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.values().next())
            .and_then(|v| v.get("id"))
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<uuid::Uuid>().ok()),
        _ => None,
    };
    match db::jobs::job_complete(&ctx.pool, id, ctx.ms_id, status, code, &result, created).await {
        Ok(true) => {
            tracing::info!(job = %id, command = %job.command, status = ?status, "job finished")
        }
        Ok(false) => tracing::warn!(job = %id, "job result not recorded: no longer owned"),
        Err(e) => {
            tracing::error!(job = %id, error = %e, "recording the job result failed; it will be retried")
        }
    }
}

/// CloudStack's failed `jobresult`: `{"errorcode":530,"errortext":"..."}`.
fn failure_body(e: &ApiError) -> serde_json::Value {
    let mut b = e.body();
    if let Some(o) = b.as_object_mut() {
        o.remove("uuidList");
    }
    b
}

async fn execute(ctx: &Ctx, job: &JobRow) -> Result<stratus_api::envelope::Reply, ApiError> {
    if job.attempts > MAX_ATTEMPTS {
        return Err(ApiError::internal(format!(
            "The job was abandoned after {} attempts: the management servers running it stopped before it finished",
            job.attempts - 1
        )));
    }
    let spec = command::find(&job.command)
        .filter(|s| s.is_async())
        .ok_or_else(|| ApiError::internal(format!("Unknown async command {}", job.command)))?;
    let user = match job.user_id {
        Some(id) => db::accounts::user_fetch(&ctx.pool, id)
            .await
            .map_err(|e| e.to_api())?,
        None => None,
    };
    let user = user.ok_or_else(|| {
        ApiError::new(
            stratus_api::ErrorCode::Account,
            "The user who submitted the job no longer exists",
        )
    })?;
    // The job runs as its user: if that user or its account was disabled (or locked out)
    // while the job waited, it does not run.
    if !user.state.is_enabled() || !user.account_state.is_enabled() {
        let what = if !user.state.is_enabled() {
            format!("user {} is {}", user.username, user.state)
        } else {
            format!("account {} is {}", user.account_name, user.account_state)
        };
        tracing::info!(job = %job.id, command = %job.command, "job not run: {what}");
        return Err(ApiError::new(
            stratus_api::ErrorCode::Account,
            format!("The job was not run: the {what}"),
        ));
    }
    let caller = Caller {
        user,
        session_id: None,
    };
    // A job taken over from a dead server runs its handler again with the same
    // parameters; a handler whose work is a workflow finds it by the job's id and
    // resumes it (`services::workflow`).
    let params = Params::from_json(&job.command, &job.params);
    crate::commands::execute(ctx, &caller, spec, &params, Some(job.id.into_uuid()))
        .await
        .map_err(|e| crate::commands::log_and_convert(spec.name, e))
}

/// Renews the lease until it is lost (then returns) — it never returns while we own it.
async fn keep_lease(ctx: &Ctx, id: uuid::Uuid) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match db::jobs::job_renew(&ctx.pool, id.into(), ctx.ms_id, LEASE_SECS).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(job = %id, error = %e, "renewing a job lease failed"),
        }
    }
}
