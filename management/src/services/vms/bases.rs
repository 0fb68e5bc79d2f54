//! Templates on primary storage: the first root volume deployed from a template onto a
//! pool copies the template there once (its "base", flattened to qcow2); every root
//! volume is then a thin qcow2 overlay on that base, grown to the VM's root disk size.
//!
//! Why this shape: copying a 2 GiB image for each VM would make deploys take minutes and
//! fill the pool; an overlay takes a second. Concurrent deploys must not copy twice or
//! use a half-written base: the copy is claimed in `template_pool_copies` (a lease the
//! copier renews), written under a temporary name and renamed when whole; the others
//! wait for Ready; a copier that died is taken over when its lease lapses. Each copy has
//! its own file name, so the reconciler that removes unused bases can never remove a
//! newer copy of the same template.

use std::time::Duration;

use stratus_api::{ApiError, ErrorCode};
use uuid::Uuid;

use crate::clients::nfs::{NfsClient, NfsUrl};
use crate::ctx::Ctx;
use crate::db;
use crate::db::templates::TemplateFile;
use crate::error::{Error, Result};

/// A copier's claim holds this long without renewal.
const LEASE_SECS: f64 = 60.0;
/// How often the copier renews its claim.
const RENEW_EVERY: Duration = Duration::from_secs(15);
/// How long a copy may take before it is given up (2 GiB at ~10 MiB/s is 3.5 min).
const COPY_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long a deploy waits for another server's copy.
const WAIT_TIMEOUT: Duration = Duration::from_secs(3600);
/// A base no volume has used for this long is removed.
pub const UNUSED_FOR_SECS: f64 = 600.0;

fn pool_url(pool: &db::storage::PoolRow) -> Result<NfsUrl> {
    NfsUrl::parse(&pool.url)
        .map_err(|e| Error::internal(format!("pool {} has a bad URL: {e}", pool.name)))
}

fn storage_error(what: String) -> Error {
    ApiError::new(ErrorCode::ResourceUnavailable, what).into()
}

/// The template's base on `pool`, copied there first if need be (or waited for while
/// another deploy copies it). Answers the base's path relative to the pool's export.
pub async fn ensure_base(
    ctx: &Ctx,
    t: &TemplateFile,
    pool: &db::storage::PoolRow,
) -> Result<String> {
    let started = std::time::Instant::now();
    loop {
        let path = format!(
            "template-{}-{}.qcow2",
            t.template_id,
            &Uuid::new_v4().simple().to_string()[..8]
        );
        if let Some(claim) = db::bases::base_claim(
            &ctx.pool,
            t.template_id,
            pool.id,
            &path,
            ctx.ms_id,
            LEASE_SECS,
        )
        .await?
        {
            return copy(ctx, t, pool, &claim.path).await;
        }
        if let Some(path) = db::bases::base_touch(&ctx.pool, t.template_id, pool.id).await? {
            return Ok(path);
        }
        // Copying elsewhere (or gone between the two statements): wait, then look again.
        if started.elapsed() >= WAIT_TIMEOUT {
            return Err(storage_error(format!(
                "Template {} is still being copied to primary storage {} after {} s",
                t.name,
                pool.name,
                WAIT_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Copies while renewing the claim; records Ready or Error.
async fn copy(
    ctx: &Ctx,
    t: &TemplateFile,
    pool: &db::storage::PoolRow,
    path: &str,
) -> Result<String> {
    let renew = {
        let (ctx, tid, pid) = (ctx.clone(), t.template_id, pool.id);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                match db::bases::base_renew(&ctx.pool, tid, pid, ctx.ms_id, LEASE_SECS).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(error = %e, "renewing a template copy's claim failed"),
                }
            }
        })
    };
    let started = std::time::Instant::now();
    let outcome = convert(t, pool, path).await;
    renew.abort();
    match outcome {
        Ok(size) => {
            tracing::info!(
                template = %t.template_id, pool = %pool.name, bytes = size,
                secs = started.elapsed().as_secs_f64(), "template copied to primary storage"
            );
            if !db::bases::base_finish(
                &ctx.pool,
                t.template_id,
                pool.id,
                ctx.ms_id,
                Ok(size as i64),
            )
            .await?
            {
                return Err(storage_error(format!(
                    "the copy of template {} to {} was taken over by another server",
                    t.name, pool.name
                )));
            }
            Ok(path.to_string())
        }
        Err(why) => {
            let text = format!(
                "Copying template {} to primary storage {} failed: {why}",
                t.name, pool.name
            );
            db::bases::base_finish(&ctx.pool, t.template_id, pool.id, ctx.ms_id, Err(&text))
                .await?;
            Err(storage_error(text))
        }
    }
}

/// `qemu-img convert` from secondary storage to `<path>.part` on the pool, then renamed:
/// a base exists under its name only when whole. Answers the file's size.
async fn convert(
    t: &TemplateFile,
    pool: &db::storage::PoolRow,
    path: &str,
) -> std::result::Result<u64, String> {
    let store = NfsUrl::parse(&t.store_url).map_err(|e| format!("image store URL: {e}"))?;
    let dest = pool_url(pool).map_err(|e| e.to_string())?;
    let src = super::volumes::nfs_file_url(&store, &t.install_path);
    let part = format!("{path}.part");
    let dst = super::volumes::nfs_file_url(&dest, &part);
    let format = if t.format.eq_ignore_ascii_case("RAW") {
        "raw"
    } else {
        "qcow2"
    };
    let converted = super::volumes::convert_to_qcow2(&src, format, &dst, COPY_TIMEOUT).await;
    let mut c = NfsClient::connect(&dest, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    if let Err(why) = converted {
        let _ = c.remove(&part).await;
        return Err(why);
    }
    c.rename(&part, path).await.map_err(|e| e.to_string())?;
    c.size(path).await.map_err(|e| e.to_string())
}

/// Creates the overlay `rel` on `base` (both relative to the pool's export; the overlay
/// names its base by that relative name, so it survives a change of the pool's address),
/// of `size_bytes` (never smaller than the base: qemu-img refuses nothing smaller here,
/// the deploy checked it).
pub async fn create_overlay(
    pool: &NfsUrl,
    rel: &str,
    base: &str,
    size_bytes: u64,
) -> std::result::Result<(), String> {
    let url = super::volumes::nfs_file_url(pool, rel);
    let run = tokio::process::Command::new("qemu-img")
        .args([
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            base,
            "-F",
            "qcow2",
            &url,
            &size_bytes.to_string(),
        ])
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(Duration::from_secs(60), run).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(format!("running qemu-img: {e} (is qemu-utils installed?)")),
        Err(_) => return Err(format!("qemu-img create {url} did not finish within 60 s")),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "qemu-img create {url} on {base} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The reconciler: removes bases no volume has used for [`UNUSED_FOR_SECS`] (the row
/// first, only if still unused, then the file). Answers how many were removed.
pub async fn remove_unused(ctx: &Ctx) -> Result<usize> {
    let mut removed = 0;
    for b in db::bases::base_unused(&ctx.pool, UNUSED_FOR_SECS, 50).await? {
        let Some(pool) = db::storage::pool_fetch(&ctx.pool, b.pool_id).await? else {
            continue;
        };
        if !db::bases::base_delete_if_unused(&ctx.pool, b.template_id, b.pool_id).await? {
            continue;
        }
        let url = pool_url(&pool)?;
        for f in [b.path.clone(), format!("{}.part", b.path)] {
            if let Err(e) = super::volumes::remove(&url, &f).await {
                tracing::warn!(pool = %pool.name, file = %f, error = %e, "removing an unused template base failed");
            }
        }
        removed += 1;
    }
    Ok(removed)
}
