//! listWorkflows: the multi-step operations (`crate::services::workflow`) and the step
//! each is in, so an admin sees where a deploy is (or got stuck) without SQL. A Stratus
//! command; CloudStack shows no such thing.

use super::requests;
use stratus_api::envelope::Reply;
use stratus_api::types::WorkflowResponse;
use stratus_api::ApiError;

use crate::ctx::Ctx;
use crate::db::workflows::{workflow_list, WorkflowFilter};
use crate::error::Result;
use crate::rules::workflow::State;

pub async fn list(ctx: &Ctx, r: &requests::ListWorkflows<'_>) -> Result<Reply> {
    let state = match r.state() {
        None => None,
        Some(s) => Some(State::parse_any_case(s).ok_or_else(|| {
            ApiError::param(format!(
                "Invalid state '{s}': use Running, Unwinding, Succeeded or Failed"
            ))
        })?),
    };
    let page = r.wire().page(ctx.page_size())?;
    let f = WorkflowFilter {
        id: r.id().map(Into::into),
        resource_id: r.resourceid(),
        state,
        offset: page.offset,
        limit: page.limit,
    };
    let (rows, total) = workflow_list(&ctx.pool, &f).await?;
    let items: Vec<WorkflowResponse> = rows
        .into_iter()
        .map(|w| WorkflowResponse {
            id: Some(w.id.into()),
            kind: Some(w.kind.to_string()),
            resourcetype: Some(w.resource_type),
            resourceid: Some(w.resource_id),
            jobid: w.job_id.map(Into::into),
            state: Some(w.state.to_string()),
            step: w.step,
            stepindex: Some(w.step_index),
            stepcount: Some(w.step_count),
            stepstarted: Some(w.step_started.into()),
            created: Some(w.created.into()),
            error: w.error,
            managementserverid: w.owner_ms.map(Into::into),
        })
        .collect();
    Ok(Reply::list("workflow", total, items))
}
