//! Housekeeping on a timer: keep this server's registration fresh, pick up settings
//! changed through other servers, drop expired sessions, refresh the capacity of primary
//! and secondary storage (FSSTAT every `storage.stats.interval`, and with it what each
//! volume's file takes on its pool), expunge destroyed VMs
//! that are due, unwind workflows whose job was given up, carry on workflows of synchronous
//! commands (addHost) whose server died. Each pass is idempotent, so every management
//! server may run it, and each records its outcome for admins (`crate::services::tasks`).

use crate::ids::VolumeId;
use std::time::Duration;

use tokio::sync::watch;

use crate::ctx::Ctx;
use crate::db;
use crate::services::tasks::pass;
use crate::settings;

pub async fn run(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    const TICK: Duration = Duration::from_secs(10);
    let mut tick = tokio::time::interval(TICK);
    let mut last_stats: Option<std::time::Instant> = None;
    let mut last_expunge: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = db::mgmt::ms_heartbeat(&ctx.pool, ctx.ms_id).await {
            tracing::warn!(error = %e, "management server heartbeat failed");
        }
        // Each pass is recorded for admins (`tasks`, listBackgroundTasks).
        pass(&ctx, "settings", TICK, ctx.refresh_settings(), |_| {
            "settings reloaded".into()
        })
        .await;
        pass(
            &ctx,
            "session-expiry",
            TICK,
            db::sessions::session_purge_expired(&ctx.pool),
            |n| format!("{n} expired sessions removed"),
        )
        .await;
        let every = Duration::from_secs(ctx.get(&settings::STORAGE_STATS_INTERVAL) as u64);
        if last_stats.is_none_or(|t| t.elapsed() >= every) {
            last_stats = Some(std::time::Instant::now());
            pass(
                &ctx,
                "storage-capacity",
                every,
                refresh_storage_stats(&ctx),
                |_| "capacity of primary and secondary storage read".into(),
            )
            .await;
        }
        let every = Duration::from_secs(ctx.get(&settings::EXPUNGE_INTERVAL) as u64);
        if last_expunge.is_none_or(|t| t.elapsed() >= every) {
            last_expunge = Some(std::time::Instant::now());
            pass(&ctx, "expunge", every, expunge_due(&ctx), |n| {
                format!("{n} destroyed VMs expunged")
            })
            .await;
        }
        pass(
            &ctx,
            "template-bases",
            TICK,
            crate::services::vms::bases::remove_unused(&ctx),
            |n| format!("{n} unused template copies removed from primary storage"),
        )
        .await;
        pass(
            &ctx,
            "abandoned-work",
            TICK,
            unwind_abandoned_work(&ctx),
            |n| format!("{n} abandoned workflows unwound"),
        )
        .await;
        pass(
            &ctx,
            "orphaned-work",
            TICK,
            resume_orphaned_work(&ctx),
            |n| format!("{n} orphaned workflows resumed"),
        )
        .await;
        pass(
            &ctx,
            "router-failover",
            TICK,
            crate::services::networks::fail_over(&ctx),
            |n| format!("{n} routers moved off lost hosts"),
        )
        .await;
    }
}

/// Expunges destroyed VMs whose `expunge.delay` has passed. One failing VM (its storage
/// down, say) does not stop the others; it is tried again next time.
pub async fn expunge_due(ctx: &Ctx) -> crate::error::Result<usize> {
    let delay = ctx.get(&settings::EXPUNGE_DELAY);
    let due = db::vms::vm_list_due_for_expunge(&ctx.pool, delay, 100).await?;
    let mut done = 0;
    for id in due {
        match crate::services::vms::expunge(ctx, None, id.into()).await {
            Ok(()) => done += 1,
            Err(e) => {
                tracing::warn!(vm = %id, error = %e, "expunging a destroyed VM failed; will retry")
            }
        }
    }
    Ok(done)
}

/// Workflows whose job was abandoned (every server running it died, see
/// `jobs::MAX_ATTEMPTS`) are unwound, so a half-done deploy does not hold capacity and
/// an address forever. Workflows without a job are the reconcilers' own: their next
/// pass resumes them.
pub async fn unwind_abandoned_work(ctx: &Ctx) -> crate::error::Result<usize> {
    use crate::services::vms::workflows as vm;
    use crate::services::workflow::{abandon, Kind};
    const WHY: &str = "its job was abandoned: the management servers running it stopped";
    let mut n = 0;
    for row in db::workflows::workflow_list_abandoned(&ctx.pool).await? {
        let r = match row.kind {
            Kind::VmDeploy => abandon::<vm::Deploy>(ctx, &row, WHY).await,
            Kind::VmStart => abandon::<vm::Start>(ctx, &row, WHY).await,
            Kind::VmReboot => abandon::<vm::Reboot>(ctx, &row, WHY).await,
            Kind::VmExpunge => abandon::<vm::Expunge>(ctx, &row, WHY).await,
            Kind::VmRestore => {
                abandon::<crate::services::vms::restore::Restore>(ctx, &row, WHY).await
            }
            Kind::TemplateCreate => {
                abandon::<crate::services::templates::Create>(ctx, &row, WHY).await
            }
            Kind::SnapshotCreate => {
                abandon::<crate::services::snapshots::Create>(ctx, &row, WHY).await
            }
            Kind::SnapshotRevert => {
                abandon::<crate::services::snapshots::Revert>(ctx, &row, WHY).await
            }
            Kind::VmSnapshotCreate => {
                abandon::<crate::services::vms::vm_snapshots::Create>(ctx, &row, WHY).await
            }
            Kind::VmSnapshotRevert => {
                abandon::<crate::services::vms::vm_snapshots::Revert>(ctx, &row, WHY).await
            }
            Kind::VmSnapshotDelete => {
                abandon::<crate::services::vms::vm_snapshots::Delete>(ctx, &row, WHY).await
            }
            Kind::VmMigrate => {
                abandon::<crate::services::vms::migrate::Migrate>(ctx, &row, WHY).await
            }
            // Run by no job; carried on by `resume_orphaned_work`.
            Kind::HostAdd | Kind::NetworkImplement | Kind::Test => continue,
        };
        match r {
            Ok(()) => n += 1,
            Err(e) => {
                tracing::warn!(workflow = %row.id, kind = %row.kind, error = %e, "unwinding an abandoned workflow failed; will retry")
            }
        }
    }
    Ok(n)
}

/// Workflows run by no job (addHost, a synchronous command; a maintenance's moves) whose
/// management server died: nothing
/// else resumes them (the caller's connection went with the server), so any server's
/// pass carries them on where they were — the admin asked for the host — in the
/// background (adding a host can take minutes). A retried addHost for the same address
/// resumes it sooner. Each is claimed, so a workflow is resumed by one server.
pub async fn resume_orphaned_work(ctx: &Ctx) -> crate::error::Result<usize> {
    use crate::services::hosts::bootstrap::HostAdd;
    use crate::services::vms::migrate::Migrate;
    use crate::services::workflow::Kind;
    let mut n = resume_orphaned::<HostAdd>(ctx, Kind::HostAdd).await?;
    // A maintenance's moves run without a job of their own (the maintenance's job moves
    // many VMs): one whose server died is carried on here, so a VM libvirt moved has
    // its record follow it.
    n += resume_orphaned::<Migrate>(ctx, Kind::VmMigrate).await?;
    // An isolated network's implement runs inside a deploy's step: one whose server
    // died is finished (or unwound) here, so it does not hold its VXLAN id and public
    // address while no deploy comes back for it.
    n += resume_orphaned::<crate::services::networks::Implement>(ctx, Kind::NetworkImplement)
        .await?;
    Ok(n)
}

async fn resume_orphaned<W: crate::services::workflow::Workflow>(
    ctx: &Ctx,
    kind: crate::services::workflow::Kind,
) -> crate::error::Result<usize> {
    let rows = db::workflows::workflow_list_orphaned(&ctx.pool, kind).await?;
    let n = rows.len();
    for row in rows {
        let w: W = match serde_json::from_value(row.input) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(workflow = %row.id, %kind, error = %e, "an orphaned workflow's input does not read");
                continue;
            }
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::services::workflow::run(&ctx, None, w).await {
                tracing::warn!(workflow = %row.id, %kind, error = %e, "a resumed workflow did not succeed");
            }
        });
    }
    Ok(n)
}

async fn fsstat(url: &str) -> Result<(i64, i64), String> {
    let url = crate::clients::nfs::NfsUrl::parse(url).map_err(|e| e.to_string())?;
    let cap = crate::clients::nfs::NfsClient::capacity_of(&url, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    let b = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Ok((b(cap.total), b(cap.used)))
}

/// FSSTAT of every pool and image store; a failure is recorded on the row (and shown
/// to admins), the previous numbers stay.
pub async fn refresh_storage_stats(ctx: &Ctx) -> crate::error::Result<()> {
    use db::storage::StorageKind;
    let (pools, _) = db::storage::pool_list(&ctx.pool, &Default::default()).await?;
    let (stores, _) = db::storage::store_list(&ctx.pool, &Default::default()).await?;
    let all = pools
        .iter()
        .map(|p| (StorageKind::Pool, p.id.into_uuid(), p.url.as_str()))
        .chain(
            stores
                .iter()
                .map(|s| (StorageKind::Store, s.id.into_uuid(), s.url.as_str())),
        );
    for (kind, id, url) in all {
        let r = fsstat(url).await;
        let r = r.as_ref().map(|v| *v).map_err(String::as_str);
        db::storage::storage_set_stats(&ctx.pool, kind, id, r).await?;
    }
    for p in &pools {
        measure_volumes(ctx, p.id.into(), &p.url).await?;
    }
    Ok(())
}

/// What each live volume's file on the pool takes on its disk (NFS `used`; a thin qcow2
/// takes what has been written), recorded for listVolumes' `physicalsize`. A pool that
/// does not answer keeps its volumes' last numbers (its FSSTAT failure is what admins
/// see); a file not there yet (still being written) is skipped.
async fn measure_volumes(ctx: &Ctx, pool: uuid::Uuid, url: &str) -> crate::error::Result<()> {
    use crate::clients::nfs::{NfsClient, NfsUrl};
    let files = db::volumes::volume_files_on_pool(&ctx.pool, pool.into()).await?;
    if files.is_empty() {
        return Ok(());
    }
    let Ok(url) = NfsUrl::parse(url) else {
        return Ok(());
    };
    let mut nfs = match NfsClient::connect(&url, Duration::from_secs(5)).await {
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(%pool, error = %e, "volume sizes not measured");
            return Ok(());
        }
    };
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    for (id, path) in files {
        match nfs.used(&path).await {
            Ok(b) => {
                ids.push(VolumeId::from(id));
                sizes.push(i64::try_from(b).unwrap_or(i64::MAX));
            }
            Err(e) if e.is_not_found() => {}
            // After a transport error the connection is unusable: the rest wait for the
            // next pass.
            Err(e) => {
                tracing::warn!(%pool, volume = %id, error = %e, "volume size not measured");
                break;
            }
        }
    }
    db::volumes::volume_set_physical(&ctx.pool, &ids, &sizes).await
}
