//! ISO copies into secondary storage: the ISO's face of the shared image downloader
//! (`services::images`, which runs ISOs and templates through one claimed, leased,
//! streamed and checked pipeline). Kept so callers name ISOs as ISOs.

use crate::ids::{IsoId, ZoneId};

use crate::ctx::Ctx;
use crate::db;
use crate::error::Result;
use crate::services::downloads::ImageFormat;
use crate::services::images::{self, Kind};

pub use crate::services::images::{clean_up_partials, run, status_text, LEASE_SECS, MAX_ATTEMPTS};

/// Where an ISO lives in an image store.
pub fn install_path(iso_id: IsoId) -> String {
    images::install_path(Kind::Iso, iso_id.into_uuid(), ImageFormat::Iso)
}

pub fn install_dir(iso_id: IsoId) -> String {
    images::install_dir(Kind::Iso, iso_id.into_uuid())
}

/// Queues copies of the cross-zone ISOs and templates in `zone_id` (a zone that just got
/// storage).
pub async fn queue_cross_zone(ctx: &Ctx, zone_id: ZoneId) -> Result<()> {
    let isos = db::isos::iso_zone_insert_cross_zone(&ctx.pool, zone_id).await?;
    let templates = db::templates::template_zone_insert_cross_zone(&ctx.pool, zone_id).await?;
    if isos + templates > 0 {
        ctx.isos.notify_one();
    }
    Ok(())
}

/// Removes an ISO's copy in one zone: stops its download, deletes its files from the
/// image store, then its row. Idempotent.
pub async fn remove_copy(ctx: &Ctx, iso_id: IsoId, zone_id: ZoneId) -> Result<()> {
    images::remove_copy(ctx, Kind::Iso, iso_id.into_uuid(), zone_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let id = IsoId::default();
        assert_eq!(install_path(id), format!("iso/{id}/{id}.iso"));
        assert!(install_path(id).starts_with(&install_dir(id)));
    }
}
