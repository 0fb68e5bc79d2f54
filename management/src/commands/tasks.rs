//! listBackgroundTasks: every management server's background tasks and their last pass
//! (`crate::services::tasks`). A Stratus command; CloudStack shows no such thing.

use super::requests;
use stratus_api::envelope::Reply;
use stratus_api::types::BackgroundTaskResponse;
use stratus_api::ApiError;

use crate::ctx::Ctx;
use crate::db;
use crate::error::Result;
use crate::services::tasks::{health, Health};

const STATES: [Health; 4] = [
    Health::Ok,
    Health::Failing,
    Health::Late,
    Health::ServerStopped,
];

pub async fn list(ctx: &Ctx, r: &requests::ListBackgroundTasks<'_>) -> Result<Reply> {
    let want = match r.state() {
        None => None,
        Some(s) => Some(
            STATES
                .into_iter()
                .find(|h| h.as_str().eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    ApiError::param(format!(
                        "Invalid state '{s}': use OK, Failing, Late or ServerStopped"
                    ))
                })?,
        ),
    };
    let now = chrono::Utc::now();
    let keyword = r.keyword().map(str::to_lowercase);
    let items: Vec<BackgroundTaskResponse> = db::tasks::task_list(&ctx.pool, r.name())
        .await?
        .iter()
        .map(|t| (health(t, now), t))
        .filter(|(h, _)| want.is_none_or(|w| w == *h))
        .filter(|(_, t)| {
            keyword
                .as_ref()
                .is_none_or(|k| t.name.to_lowercase().contains(k))
        })
        .map(|(h, t)| BackgroundTaskResponse {
            name: Some(t.name.clone()),
            managementserverid: Some(t.ms_id.into()),
            managementservername: Some(t.ms_name.clone()),
            state: Some(h.as_str().into()),
            interval: Some(t.interval_secs),
            runs: Some(t.runs),
            failures: Some(t.failures),
            lastrun: Some(t.last_run_at.into()),
            lastduration: Some(t.last_duration_ms),
            lastsuccess: t.last_ok_at.map(Into::into),
            lastresult: t.last_detail.clone(),
            lasterror: t.last_error.clone(),
            lasterrortime: t.last_error_at.map(Into::into),
        })
        .collect();
    let (total, items) = super::page_of(ctx, r.wire(), items)?;
    Ok(Reply::list("backgroundtask", total, items))
}
