//! Async commands: submitting them as job rows, and `queryAsyncJobResult`/`listAsyncJobs`.

use super::requests;
use crate::ids::JobId;
use stratus_api::command::CommandSpec;
use stratus_api::envelope::Reply;
use stratus_api::types::AsyncJobResponse;
use stratus_api::Params;
use uuid::Uuid;

use super::not_found;
use crate::ctx::Ctx;
use crate::db::jobs::{self as j, JobRow, NewJob};
use crate::error::Result;
use crate::services::auth::Caller;

/// Queues an async command; the worker executes it with the caller's identity.
/// `created` is the resource an async-create command made (answered with the job id).
pub async fn submit(
    ctx: &Ctx,
    caller: &Caller,
    spec: &CommandSpec,
    p: &Params,
    created: Option<Uuid>,
) -> Result<Reply> {
    let id = JobId::new_v4();
    j::job_insert(
        &ctx.pool,
        &NewJob {
            id,
            command: spec.name,
            cmd_class: cmd_class(spec.name),
            params: p.to_json(),
            user_id: caller.user_id(),
            account_id: caller.account_id(),
            instance_type: spec.instance_type,
            // attachIso's `id` is the ISO; the VM is `virtualmachineid`.
            instance_id: created
                .or(p.uuid("virtualmachineid").ok().flatten())
                .or(p.uuid("id").ok().flatten())
                .map(Into::into),
        },
    )
    .await?;
    ctx.jobs.notify_one();
    Ok(Reply::Job {
        jobid: id.into(),
        id: created,
    })
}

/// CloudStack reports the Java command class in `cmd` (`stratus_api::job_class`; every
/// async command has one, which its test holds).
fn cmd_class(command: &str) -> String {
    stratus_api::job_class::class_of(command)
        .unwrap_or_else(|| format!("{}.{command}", stratus_api::job_class::PACKAGE))
}

pub fn job_response(job: &JobRow) -> AsyncJobResponse {
    AsyncJobResponse {
        jobid: Some(job.id.into_uuid()),
        accountid: Some(job.account_id.into_uuid()),
        account: job.account_name.clone(),
        domainid: job.domain_id.map(Into::into),
        domainpath: job.domain_path.clone(),
        managementservername: job.owner_ms_name.clone(),
        userid: job.user_id.map(Into::into),
        cmd: Some(job.cmd_class.clone()),
        jobstatus: Some(job.status.0),
        jobprocstatus: Some(job.proc_status),
        // Always present (0 while pending): cs treats a missing key as a failure.
        jobresultcode: Some(job.result_code),
        jobresulttype: Some(job.result_type.clone()),
        jobresult: job.result.clone(),
        jobinstancetype: job.instance_type.clone(),
        jobinstanceid: job.instance_id.map(Into::into),
        created: Some(job.created.into()),
        completed: job.completed.map(Into::into),
        managementserverid: job.owner_ms.or(Some(Uuid::nil())),
    }
}

fn visible(caller: &Caller, job: &JobRow) -> bool {
    caller.is_root_admin() || job.account_id == caller.account_id()
}

pub async fn query(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::QueryAsyncJobResult<'_>,
) -> Result<Reply> {
    let id = r.jobid();
    let job = j::job_fetch(&ctx.pool, id)
        .await?
        .filter(|job| visible(caller, job))
        .ok_or_else(|| not_found(r.wire(), "jobid"))?;
    // queryAsyncJobResult answers the job's fields directly in the envelope.
    Ok(Reply::Flat(
        serde_json::to_value(job_response(&job)).unwrap_or_default(),
    ))
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListAsyncJobs<'_>) -> Result<Reply> {
    let page = r.wire().page(ctx.page_size())?;
    let (account_id, account_ids, skip_projects) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::Own)
            .await?
            .split();
    let f = j::JobFilter {
        account_id: account_id.map(Into::into),
        account_ids,
        skip_projects,
        domain_id: None,
        start: super::accounts::parse_date(r.wire(), "startdate")?,
        keyword: r.keyword().map(str::to_string),
        offset: page.offset,
        limit: page.limit,
    };
    let (rows, total) = j::job_list(&ctx.pool, &f).await?;
    let items: Vec<AsyncJobResponse> = rows.iter().map(job_response).collect();
    Ok(Reply::list("asyncjobs", total, items))
}
