//! Templates for the work above the database: their copies are downloaded by the shared
//! image downloader (`services::images`, kind `Template`), and the deploy path asks here
//! for the file a VM's root disk is based on.
//!
//! **Deploy from a template**: [`ready_file`] answers, for a caller, a template and a
//! zone, the Ready copy ([`TemplateFile`]: image store URL/server/path, install path,
//! format, virtual size, password/SSH key support, names, OS type), or the CloudStack
//! error to give: 431 for a template the caller may not use (unknown, deleted, or
//! private and not shared with it: the same answer, so ids are not probed), 431 naming
//! the state when it is not Ready in that zone.

use stratus_api::ApiError;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db;
pub use crate::db::templates::TemplateFile;
use crate::error::Result;
use crate::services::auth::Caller;
use crate::services::images::{self, Kind};

/// The Ready file of `template_id` in `zone_id` that `caller` may deploy (see the
/// module's documentation).
pub async fn ready_file(
    ctx: &Ctx,
    caller: &Caller,
    template_id: Uuid,
    zone_id: Uuid,
) -> Result<TemplateFile> {
    let unknown = || {
        ApiError::param(format!(
            "Unable to find a template with id {template_id} that you may use"
        ))
    };
    if !caller.is_root_admin()
        && !db::templates::template_visible_to(&ctx.pool, template_id, caller.account_id()).await?
    {
        return Err(unknown().into());
    }
    if let Some(file) =
        db::templates::template_ready_in_zone(&ctx.pool, template_id, zone_id).await?
    {
        return Ok(file);
    }
    let t = db::templates::template_fetch(&ctx.pool, template_id)
        .await?
        .ok_or_else(unknown)?;
    let copies = db::templates::template_zone_list(&ctx.pool, template_id).await?;
    let text = match copies.iter().find(|c| c.zone_id == zone_id) {
        None => format!(
            "Template {} is not available in that zone (copyTemplate)",
            t.name
        ),
        Some(c) => format!(
            "Template {} is not ready in that zone: {}",
            t.name,
            images::status_text(
                &c.state,
                c.bytes_done,
                c.bytes_total,
                c.error_text.as_deref(),
                true
            )
        ),
    };
    Err(ApiError::param(text).into())
}

/// Removes a template's copy in one zone (its files and its row). Idempotent.
pub async fn remove_copy(ctx: &Ctx, template_id: Uuid, zone_id: Uuid) -> Result<()> {
    images::remove_copy(ctx, Kind::Template, template_id, zone_id).await
}
