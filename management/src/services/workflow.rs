//! The workflow engine: every multi-step operation (deploy, start, reboot, expunge, addHost; next
//! template copies, volume migrations, snapshots, virtual routers) is a [`Workflow`] —
//! a typed input and an ordered list of steps, each with a *do* and an *undo* — run by
//! [`run`]. Why one engine: an operation that touches several systems (Postgres, NFS,
//! a host's libvirt) must survive the management server dying between two of them, and
//! every such operation needs the same four things, written once here:
//!
//! - **Persisted progress.** The workflow is a row (`workflows`, `db::workflows`): its
//!   input, the step it is in and since when, and each done step's output (JSON), so a
//!   later step or an undo can use what an earlier step produced (the host chosen, the
//!   volume made).
//! - **Resume by any server.** A workflow run by an async job is found again by the job's
//!   id: a job taken over after its server died re-runs its handler, whose [`run`] claims
//!   the workflow and carries on at the step it was in. That step is done again, so every
//!   *do* must be idempotent. A workflow whose job was given up is unwound by the
//!   housekeeping reconciler ([`abandon`]).
//! - **Unwinding.** A failing step undoes itself (its *do* may have half happened) and
//!   every step before it, in reverse; then [`Workflow::failed`] leaves the resource in
//!   its failure state. An undo that fails is logged and the unwind goes on.
//! - **Fencing.** The row is claimed under a lease (renewed while it runs) and every write
//!   is fenced on the owner, so a server that lost its claim cannot record a step or an
//!   outcome over the new owner's.
//!
//! - **Collisions are not failures.** A *do* that Postgres rolled back for colliding with a
//!   concurrent transaction (deadlock, serialization failure) is done again, being
//!   idempotent, a few times before the workflow unwinds.
//!
//! `Faults` (test hooks) are checked by step name before each *do*.
//! A finished workflow answers again what it came to: [`run`] for a job whose workflow
//! already succeeded returns `Ok`, one that failed returns its recorded error.

use std::future::Future;
use std::time::Duration;

use crate::ids::{JobId, WorkflowId};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use stratus_api::{ApiError, ErrorCode};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db::events::ResourceType;
use crate::db::{self, workflows::WorkflowRow};
use crate::error::{Error, Result};

/// How long a claim lasts without renewal, and how often it is renewed.
pub const LEASE_SECS: i64 = 30;
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// How many times a step rolled back by a deadlock or serialization failure is done
/// again before it fails the workflow (0.1, 0.2, 0.4 s apart).
const TRANSIENT_RETRIES: u32 = 3;

/// The kinds of workflow (and their states) are typed in `rules::workflow`, so that the
/// rows carry them; the table's `kind` is checked against the same list.
pub use crate::rules::workflow::{Kind, State};

/// A workflow's steps: an enum listing them in order.
pub trait Steps: Copy + Eq + std::fmt::Debug + Send + Sync + 'static {
    /// Every step, in the order they are done.
    const ALL: &'static [Self];
    /// The step's name: stored, shown to admins, and what `Faults` match.
    fn name(self) -> &'static str;
}

/// What a workflow works on, as CloudStack names resource types ("VirtualMachine").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub kind: &'static str,
    pub id: Uuid,
}

impl Resource {
    pub fn vm(id: Uuid) -> Resource {
        Resource {
            kind: ResourceType::VirtualMachine.as_str(),
            id,
        }
    }
    /// A volume (issue 16: a detached volume's snapshot or revert).
    pub fn volume(id: Uuid) -> Resource {
        Resource {
            kind: ResourceType::Volume.as_str(),
            id,
        }
    }
    /// An isolated network (issue 15: its implement).
    pub fn network(id: crate::ids::NetworkId) -> Resource {
        Resource {
            kind: ResourceType::Network.as_str(),
            id: id.into(),
        }
    }
    pub fn host(id: crate::ids::HostId) -> Resource {
        Resource {
            kind: ResourceType::Host.as_str(),
            id: id.into(),
        }
    }
}

/// The outputs of the steps done so far, by step.
#[derive(Debug, Clone, Default)]
pub struct Outputs(serde_json::Map<String, Value>);

impl Outputs {
    /// What `step` produced, if it is done and its output reads as `T`.
    pub fn get<T: DeserializeOwned>(&self, step: impl Steps) -> Option<T> {
        let v = self.0.get(step.name())?;
        match serde_json::from_value(v.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(step = step.name(), error = %e, "a step's output does not read as expected");
                None
            }
        }
    }
    pub fn is_done(&self, step: impl Steps) -> bool {
        self.0.contains_key(step.name())
    }
}

/// A multi-step operation. The value itself is the input: it is stored when the workflow
/// starts, and a server resuming it works from the stored copy.
///
/// Write `async fn` for the methods; the futures must be `Send` (they run in jobs).
pub trait Workflow: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: Kind;
    type Step: Steps;

    /// What it works on (at most one workflow runs on a resource at a time).
    fn resource(&self) -> Resource;

    /// Refuses to start (the resource's state does not allow it). Called before a new
    /// workflow is recorded, never on a resume; a refusal records nothing.
    fn check(&self, ctx: &Ctx) -> impl Future<Output = Result<()>> + Send;

    /// Does `step` and answers its output (`Value::Null` when it has none). Must be
    /// idempotent: after a crash it runs again, maybe after it had (half) happened.
    fn do_step(
        &self,
        ctx: &Ctx,
        step: Self::Step,
        out: &Outputs,
    ) -> impl Future<Output = Result<Value>> + Send;

    /// Undoes `step`, also when its *do* failed half-way or never ran to the end (then
    /// `out` has no output for it). Must be idempotent.
    fn undo_step(
        &self,
        ctx: &Ctx,
        step: Self::Step,
        out: &Outputs,
    ) -> impl Future<Output = Result<()>> + Send;

    /// After the last step: the resource's success state.
    fn succeeded(&self, ctx: &Ctx, out: &Outputs) -> impl Future<Output = Result<()>> + Send;

    /// After unwinding: the resource's failure state, with the reason.
    fn failed(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        why: &ApiError,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The input as kept once the workflow is over, when it differs from what it ran
    /// with: a secret needed only while it runs (addHost's SSH password) is dropped here.
    fn finished_input(&self) -> Option<Value> {
        None
    }
}

/// Runs `w` to its end: the workflow of async job `job` (found again when the job is
/// re-run), or with no job the unfinished workflow of this kind on the resource (a
/// reconciler's work, resumed by its next pass), else a new one. Answers its outcome:
/// `Ok` when every step was done, else the error that made it unwind.
pub async fn run<W: Workflow>(ctx: &Ctx, job: Option<JobId>, w: W) -> Result<()> {
    let r = w.resource();
    let found = match job {
        Some(j) => db::workflows::workflow_fetch_by_job(&ctx.pool, j).await?,
        None => db::workflows::workflow_fetch_active(&ctx.pool, W::KIND, r.kind, r.id).await?,
    };
    let row = match found {
        Some(row) => {
            if row.kind != W::KIND {
                return Err(Error::internal(format!(
                    "job {job:?} has a {} workflow, not {}",
                    row.kind,
                    W::KIND.as_str()
                )));
            }
            match row.state {
                State::Succeeded => return Ok(()),
                State::Failed => return Err(recorded_error(&row).into()),
                State::Running | State::Unwinding => claim(ctx, &row).await?,
            }
        }
        None => {
            w.check(ctx).await?;
            let first = W::Step::ALL
                .first()
                .ok_or_else(|| Error::internal("a workflow without steps"))?;
            let new = db::workflows::NewWorkflow {
                id: WorkflowId::new_v4(),
                kind: W::KIND,
                resource_type: r.kind,
                resource_id: r.id,
                job_id: job,
                step_count: W::Step::ALL.len() as i32,
                first_step: first.name(),
                input: serde_json::to_value(&w)
                    .map_err(|e| Error::internal(format!("a workflow's input: {e}")))?,
            };
            db::workflows::workflow_insert(&ctx.pool, &new, ctx.ms_id, LEASE_SECS).await?
        }
    };
    drive::<W>(ctx, row).await
}

/// Unwinds an unfinished workflow nothing will resume (its job was given up), as if its
/// current step had failed with `why`. Another server holding it is left alone.
pub async fn abandon<W: Workflow>(ctx: &Ctx, row: &WorkflowRow, why: &str) -> Result<()> {
    let Some(row) = db::workflows::workflow_claim(&ctx.pool, row.id, ctx.ms_id, LEASE_SECS).await?
    else {
        return Ok(());
    };
    if row.state == State::Running {
        let to_undo = (row.step_index + 1).min(row.step_count);
        let ok = db::workflows::workflow_set_unwinding(
            &ctx.pool,
            row.id,
            ctx.ms_id,
            to_undo,
            why,
            ErrorCode::ResourceUnavailable.http_status().into(),
        )
        .await?;
        fenced(ok, row.id.into())?;
    }
    let row = db::workflows::workflow_fetch(&ctx.pool, row.id)
        .await?
        .ok_or_else(|| Error::internal("the workflow vanished"))?;
    match drive::<W>(ctx, row).await {
        Ok(()) => Ok(()),
        // It was unwound, which is what we wanted.
        Err(Error::Api(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn claim(ctx: &Ctx, row: &WorkflowRow) -> Result<WorkflowRow> {
    if let Some(r) = db::workflows::workflow_claim(&ctx.pool, row.id, ctx.ms_id, LEASE_SECS).await?
    {
        tracing::info!(workflow = %r.id, kind = %r.kind, step = ?r.step, "resuming");
        return Ok(r);
    }
    Err(ApiError::new(
        ErrorCode::ResourceInUse,
        format!(
            "The {} of {} {} is being run by management server {} (step {} since {})",
            row.kind,
            row.resource_type,
            row.resource_id,
            row.owner_ms.map(|m| m.to_string()).unwrap_or_default(),
            row.step.as_deref().unwrap_or("-"),
            row.step_started
        ),
    )
    .into())
}

/// The workflows this process is driving, with the server they run as (tests run several
/// servers in one process). A server's claim succeeds on a workflow it already owns (so a
/// restarted server resumes its own), which would let two requests of one server drive
/// the same workflow at once (two deploys needing one network's implement); the second
/// is refused here as if another server held it, and waits or fails as its caller says.
static DRIVING: std::sync::Mutex<Vec<(Uuid, WorkflowId)>> = std::sync::Mutex::new(Vec::new());

/// This process's hold on driving one workflow; released on drop.
struct Driving(Uuid, WorkflowId);

impl Driving {
    fn take(ctx: &Ctx, row: &WorkflowRow) -> Result<Driving> {
        let key = (ctx.ms_id.into_uuid(), row.id);
        let mut held = DRIVING.lock().unwrap_or_else(|e| e.into_inner());
        if held.contains(&key) {
            return Err(ApiError::new(
                ErrorCode::ResourceInUse,
                format!(
                    "The {} of {} {} is being run by this management server (step {})",
                    row.kind,
                    row.resource_type,
                    row.resource_id,
                    row.step.as_deref().unwrap_or("-"),
                ),
            )
            .into());
        }
        held.push(key);
        Ok(Driving(key.0, key.1))
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        let mut held = DRIVING.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|k| *k != (self.0, self.1));
    }
}

/// The claimed workflow, run from where its row says, under a renewed lease.
async fn drive<W: Workflow>(ctx: &Ctx, row: WorkflowRow) -> Result<()> {
    let _driving = Driving::take(ctx, &row)?;
    let id = row.id;
    let w: W = serde_json::from_value(row.input.clone())
        .map_err(|e| Error::internal(format!("workflow {id}'s input does not read: {e}")))?;
    tokio::select! {
        r = steps(ctx, &w, row) => r,
        () = keep_lease(ctx, id.into()) => Err(lost(id.into())),
    }
}

async fn steps<W: Workflow>(ctx: &Ctx, w: &W, row: WorkflowRow) -> Result<()> {
    let all = W::Step::ALL;
    let (id, ms, pool) = (row.id, ctx.ms_id, &ctx.pool);
    let mut out = Outputs(match &row.outputs {
        Value::Object(m) => m.clone(),
        _ => Default::default(),
    });
    let mut index = (row.step_index.max(0) as usize).min(all.len());
    // The first run's error (with its kind, internal or not) or the recorded one.
    let mut failure: Option<(Error, ApiError)> = None;
    if row.state == State::Unwinding {
        let e = recorded_error(&row);
        failure = Some((e.clone().into(), e));
    } else {
        if let (Some(stored), Some(step)) = (row.step.as_deref(), all.get(index)) {
            if stored != step.name() {
                return Err(Error::internal(format!(
                    "workflow {id} is at step {stored}, which {} no longer has at {index}",
                    W::KIND.as_str()
                )));
            }
        }
        while let Some(&step) = all.get(index) {
            fenced(
                db::workflows::workflow_set_step(pool, id, ms, index as i32, Some(step.name()))
                    .await?,
                id.into(),
            )?;
            // Every step is safe to repeat, so one Postgres rolled back for colliding with
            // a concurrent transaction is simply done again (a few times) before it counts
            // as failed.
            let mut tries = 0u32;
            let done = loop {
                let r = match ctx.faults.check(step.name()).await {
                    Ok(()) => w.do_step(ctx, step, &out).await,
                    Err(e) => Err(e.into()),
                };
                match r {
                    Err(e) if e.is_transient() && tries < TRANSIENT_RETRIES => {
                        tries += 1;
                        tracing::info!(workflow = %id, kind = W::KIND.as_str(), step = step.name(),
                            error = %e, tries, "step collided with a concurrent transaction; again");
                        tokio::time::sleep(Duration::from_millis(50 << tries)).await;
                    }
                    r => break r,
                }
            };
            match done {
                Ok(output) => {
                    let next = all.get(index + 1).map(|s| s.name());
                    let ok = db::workflows::workflow_step_done(
                        pool,
                        id,
                        ms,
                        step.name(),
                        &output,
                        index as i32 + 1,
                        next,
                    )
                    .await?;
                    fenced(ok, id.into())?;
                    out.0.insert(step.name().to_string(), output);
                    index += 1;
                }
                Err(e) => {
                    let api = e.to_api();
                    // The cause, not the client's text: an internal error's answer is generic.
                    tracing::warn!(workflow = %id, kind = W::KIND.as_str(), step = step.name(),
                        error = %e, "step failed; unwinding");
                    index += 1; // the failed step is undone too
                    let ok = db::workflows::workflow_set_unwinding(
                        pool,
                        id,
                        ms,
                        index as i32,
                        &api.text,
                        api.code.http_status().into(),
                    )
                    .await?;
                    fenced(ok, id.into())?;
                    failure = Some((e, api));
                    break;
                }
            }
        }
    }
    let Some((error, api)) = failure else {
        w.succeeded(ctx, &out).await?;
        fenced(
            db::workflows::workflow_finish(pool, id, ms, true, w.finished_input().as_ref()).await?,
            id.into(),
        )?;
        return Ok(());
    };
    while index > 0 {
        let step = all[index - 1];
        fenced(
            db::workflows::workflow_set_step(pool, id, ms, index as i32, Some(step.name())).await?,
            id.into(),
        )?;
        if let Err(e) = w.undo_step(ctx, step, &out).await {
            // Keep going: the rest must still be given back.
            tracing::error!(workflow = %id, kind = W::KIND.as_str(), step = step.name(),
                error = %e, "undo failed");
        }
        index -= 1;
    }
    w.failed(ctx, &out, &api).await?;
    fenced(
        db::workflows::workflow_finish(pool, id, ms, false, w.finished_input().as_ref()).await?,
        id.into(),
    )?;
    Err(error)
}

/// Renews the lease until it is lost (then returns).
async fn keep_lease(ctx: &Ctx, id: Uuid) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match db::workflows::workflow_renew(&ctx.pool, id.into(), ctx.ms_id, LEASE_SECS).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(workflow = %id, error = %e, "renewing a workflow lease failed")
            }
        }
    }
}

fn lost(id: Uuid) -> Error {
    Error::internal(format!(
        "workflow {id} was taken over by another management server; this one stopped"
    ))
}

fn fenced(ok: bool, id: Uuid) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(lost(id))
    }
}

/// The error a failed (or unwinding) workflow recorded, as the client saw it.
pub fn recorded_error(row: &WorkflowRow) -> ApiError {
    const CODES: [ErrorCode; 14] = [
        ErrorCode::Unauthorized,
        ErrorCode::MethodNotAllowed,
        ErrorCode::ApiLimitExceeded,
        ErrorCode::MalformedParameter,
        ErrorCode::ParamError,
        ErrorCode::UnsupportedAction,
        ErrorCode::Internal,
        ErrorCode::Account,
        ErrorCode::ResourceLimit,
        ErrorCode::InsufficientCapacity,
        ErrorCode::ResourceUnavailable,
        ErrorCode::ResourceAllocation,
        ErrorCode::ResourceInUse,
        ErrorCode::NetworkRuleConflict,
    ];
    let code = CODES
        .into_iter()
        .find(|c| Some(i32::from(c.http_status())) == row.error_code)
        .unwrap_or(ErrorCode::Internal);
    ApiError::new(
        code,
        row.error
            .clone()
            .unwrap_or_else(|| format!("the {} failed", row.kind)),
    )
}
