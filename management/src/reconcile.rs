//! Housekeeping on a timer: keep this server's registration fresh, pick up settings
//! changed through other servers, drop expired sessions. Each pass is idempotent.

use std::time::Duration;

use tokio::sync::watch;

use crate::ctx::Ctx;
use crate::db;

pub async fn run(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = db::mgmt::ms_heartbeat(&ctx.pool, ctx.ms_id).await {
            tracing::warn!(error = %e, "management server heartbeat failed");
        }
        if let Err(e) = ctx.refresh_settings().await {
            tracing::warn!(error = %e, "refreshing settings failed");
        }
        match db::sessions::session_purge_expired(&ctx.pool).await {
            Ok(n) if n > 0 => tracing::debug!(sessions = n, "expired sessions removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging sessions failed"),
        }
    }
}
