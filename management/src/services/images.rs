//! The downloader of images into secondary storage, ISOs and templates alike: one unit of
//! work per image and zone (`iso_zones`, `template_zones`, worked by the same statements
//! in `db::images`), claimed by a management server with `FOR UPDATE SKIP LOCKED` under
//! a lease it renews with every progress update. The bytes go through the one streamed,
//! checked pipeline (`services::downloads`), which also checks what the file is: an
//! ISO's signature, a template's disk image header (its virtual size recorded).
//!
//! Why leases: CloudStack's known pain is an image stuck at "Downloading" after the
//! process doing it died. Here a dead server's lease runs out (30 s) and any server
//! (itself, restarted) claims the copy again and starts over after removing the partial
//! file; every write is fenced on the owner, so a server that lost its claim (or whose
//! image was deleted meanwhile) stops at its next progress update. A bounded number of
//! downloads run per server (`iso.download.concurrency`, shared by both kinds).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::ids::{AccountId, ZoneId};
use tokio::sync::{watch, Semaphore};
use uuid::Uuid;

use crate::clients::nfs::{NfsClient, NfsUrl};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::{self, images::CopyRow};
use crate::error::{Error, Result};
use crate::rules::download_policy::Policy;
use crate::rules::states::CopyState;
use crate::services::downloads::guard::Guard;
use crate::services::downloads::{self, Checksum, DownloadSpec, ImageFormat};
use crate::settings;

pub use crate::db::images::Kind;

/// A claim lasts this long unless renewed (progress updates renew it every second).
pub const LEASE_SECS: i64 = 30;
/// Attempts (claims) before a copy whose downloader keeps dying is given up.
pub const MAX_ATTEMPTS: i32 = 3;

/// The directory of an image's files in an image store.
pub fn install_dir(kind: Kind, id: Uuid) -> String {
    match kind {
        Kind::Iso => format!("iso/{id}"),
        Kind::Template => format!("template/{id}"),
    }
}

/// Where an image lives in an image store: `iso/ID/ID.iso`, `template/ID/ID.qcow2`.
pub fn install_path(kind: Kind, id: Uuid, format: ImageFormat) -> String {
    format!("{}/{id}.{}", install_dir(kind, id), format.extension())
}

/// What the downloader needs to know about an image.
struct Source {
    name: String,
    url: String,
    checksum: Option<String>,
    account_id: AccountId,
    format: ImageFormat,
}

async fn source(ctx: &Ctx, kind: Kind, id: Uuid) -> Result<Option<Source>> {
    Ok(match kind {
        Kind::Iso => db::isos::iso_fetch(&ctx.pool, id.into())
            .await?
            .map(|i| Source {
                name: i.name,
                url: i.url,
                checksum: i.checksum,
                account_id: i.account_id,
                format: ImageFormat::Iso,
            }),
        Kind::Template => db::templates::template_fetch(&ctx.pool, id.into())
            .await?
            .and_then(|t| {
                Some(Source {
                    format: ImageFormat::template_format(&t.format)?,
                    name: t.name,
                    // A template made from a volume has nothing to download (its
                    // copies are never queued).
                    url: t.url?,
                    checksum: t.checksum,
                    account_id: t.account_id,
                })
            }),
    })
}

/// The event's resource type and the event names' prefix.
fn labels(kind: Kind) -> (ResourceType, &'static str) {
    match kind {
        Kind::Iso => (ResourceType::Iso, "ISO"),
        Kind::Template => (ResourceType::Template, "TEMPLATE"),
    }
}

/// What the status column of listIsos and listTemplates says for a copy.
pub fn status_text(
    state: CopyState,
    done: i64,
    total: Option<i64>,
    error: Option<&str>,
    has_store: bool,
) -> String {
    match state {
        CopyState::Ready => "Successfully Installed".into(),
        CopyState::Error => error.unwrap_or("Download failed").into(),
        CopyState::Deleting => "Being deleted".into(),
        CopyState::Creating => "Being created from a volume".into(),
        CopyState::Downloading => match total {
            Some(t) if t > 0 => format!(
                "{}% Downloaded",
                (done.max(0) as i128 * 100 / t as i128).min(100)
            ),
            _ => format!("{} Downloaded", downloads::format_bytes(done.max(0) as u64)),
        },
        _ if !has_store => "Waiting for secondary storage in this zone (addImageStore)".into(),
        _ => "Download pending".into(),
    }
}

/// Claims and runs downloads of both kinds until shutdown; wakes on `ctx.isos` and
/// every 2 s.
pub async fn run(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(
        ctx.get(&settings::ISO_DOWNLOAD_CONCURRENCY) as usize
    ));
    let mut tasks = tokio::task::JoinSet::new();
    let mut last_cleanup = std::time::Instant::now();
    loop {
        if last_cleanup.elapsed() >= Duration::from_secs(5) {
            last_cleanup = std::time::Instant::now();
            crate::services::tasks::pass(
                &ctx,
                "iso-partial-cleanup",
                Duration::from_secs(5),
                clean_up_partials(&ctx),
                |_| "partial downloads of deleted or failed ISOs and templates removed".into(),
            )
            .await;
        }
        for kind in Kind::ALL {
            let free = slots.available_permits() as i64;
            if free == 0 {
                break;
            }
            match db::images::copy_claim(&ctx.pool, kind, ctx.ms_id, LEASE_SECS, free).await {
                Ok(claims) => {
                    for c in claims {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        let (ctx, stop) = (ctx.clone(), shutdown.clone());
                        tasks.spawn(async move {
                            let _permit = permit;
                            download_copy(&ctx, kind, c, stop).await;
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, ?kind, "claiming downloads"),
            }
        }
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = ctx.isos.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    // Downloads in flight stop at their next progress check; their claims run out and
    // another server (or this one, restarted) starts them over.
    tasks.shutdown().await;
}

async fn record(ctx: &Ctx, kind: Kind, c: &CopyRow, level: &str, event_type: &str, text: String) {
    let name = source(ctx, kind, c.image_id)
        .await
        .ok()
        .flatten()
        .map(|i| i.name)
        .unwrap_or_default();
    let r = async {
        let mut conn = ctx.pool.acquire().await?;
        crate::db::events::system_event(
            &mut conn,
            event_type,
            level,
            text,
            Some(EventResource::new(labels(kind).0, c.image_id, name)),
        )
        .await
    }
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "recording a download event");
    }
}

/// Downloads one copy; every outcome is written to its row (fenced on this server).
async fn download_copy(ctx: &Ctx, kind: Kind, c: CopyRow, shutdown: watch::Receiver<bool>) {
    let outcome = attempt(ctx, kind, &c, shutdown)
        .await
        .map_err(Failure::split);
    let (id, zone, me) = (c.image_id, c.zone_id, ctx.ms_id);
    let finished = match &outcome {
        Ok(Some(d)) => {
            let f = db::images::Finished {
                size: d.size as i64,
                checksum: &d.checksum.to_cloudstack(),
                virtual_size: d.virtual_size.map(|v| v as i64),
            };
            db::images::copy_finish(&ctx.pool, kind, id, zone, me, Ok(f)).await
        }
        Ok(None) => return, // no longer ours: deleted, or shutting down
        Err((text, partial)) => {
            db::images::copy_finish(
                &ctx.pool,
                kind,
                id,
                zone,
                me,
                Err((text, partial.as_deref())),
            )
            .await
        }
    };
    let prefix = labels(kind).1;
    match (finished, outcome) {
        (Ok(true), Ok(Some(d))) => {
            tracing::info!(image = %id, zone = %zone, ?kind, size = d.size, "image downloaded");
            let what = match kind {
                Kind::Iso => "ISO",
                Kind::Template => "Template",
            };
            let size = match d.virtual_size {
                Some(v) if kind == Kind::Template => format!(
                    "{}, virtual size {}",
                    downloads::format_bytes(d.size),
                    downloads::format_bytes(v)
                ),
                _ => downloads::format_bytes(d.size),
            };
            record(
                ctx,
                kind,
                &c,
                "INFO",
                &format!("{prefix}.DOWNLOAD.SUCCESS"),
                format!("{what} copied to secondary storage ({size})"),
            )
            .await;
        }
        (Ok(true), Err((text, _))) => {
            tracing::warn!(image = %id, zone = %zone, ?kind, error = %text, "download failed");
            record(
                ctx,
                kind,
                &c,
                "ERROR",
                &format!("{prefix}.DOWNLOAD.FAILED"),
                text,
            )
            .await;
        }
        (Ok(false), _) | (Ok(true), Ok(None)) => {}
        (Err(e), _) => tracing::warn!(error = %e, "recording a download's outcome"),
    }
}

/// Why a download attempt failed: a text for the image's status, or a download error
/// (which may have left a partial file behind).
enum Failure {
    Text(String),
    Download(downloads::DownloadError),
    /// A text that hides the download error, and the partial file it may have left.
    Refused(String, Option<String>),
}

impl From<String> for Failure {
    fn from(t: String) -> Self {
        Failure::Text(t)
    }
}

impl Failure {
    /// The status text, and the partial file left behind (storage down) if any, for
    /// [`clean_up_partials`].
    fn split(self) -> (String, Option<String>) {
        match self {
            Failure::Text(t) => (t, None),
            Failure::Refused(t, partial) => (t, partial),
            Failure::Download(e) => {
                let partial = e.partial_left().map(str::to_string);
                (e.to_string(), partial)
            }
        }
    }
}

/// `Ok(Some(downloaded))` when downloaded, `Ok(None)` when it stopped being ours.
async fn attempt(
    ctx: &Ctx,
    kind: Kind,
    c: &CopyRow,
    shutdown: watch::Receiver<bool>,
) -> std::result::Result<Option<downloads::Downloaded>, Failure> {
    let internal = |e: Error| format!("Internal error while downloading: {e}");
    if c.attempts > MAX_ATTEMPTS {
        return Err(format!(
            "Gave up after {MAX_ATTEMPTS} attempts: the management servers downloading it stopped"
        )
        .into());
    }
    let image = match source(ctx, kind, c.image_id).await.map_err(internal)? {
        Some(i) => i,
        None => return Ok(None),
    };
    let store = match c.image_store_id {
        Some(id) => db::storage::store_fetch(&ctx.pool, id)
            .await
            .map_err(internal)?,
        None => db::storage::store_pick_for_zone(&ctx.pool, c.zone_id)
            .await
            .map_err(internal)?,
    }
    .ok_or_else(|| "No secondary storage in this zone".to_string())?;
    let dest = install_path(kind, c.image_id, image.format);
    if !db::images::copy_set_store(
        &ctx.pool, kind, c.image_id, c.zone_id, ctx.ms_id, store.id, &dest,
    )
    .await
    .map_err(internal)?
    {
        return Ok(None);
    }
    let url = NfsUrl::parse(&store.url).map_err(|e| e.to_string())?;
    let mut nfs = NfsClient::connect(&url, Duration::from_secs(10))
        .await
        .map_err(|e| format!("Secondary storage {}: {e}", store.name))?;
    // A previous attempt (a server that died) may have left a partial file.
    downloads::remove_partial(&mut nfs, &dest)
        .await
        .map_err(|e| format!("Secondary storage {}: {e}", store.name))?;
    let source =
        url::Url::parse(&image.url).map_err(|e| format!("Invalid URL {}: {e}", image.url))?;
    // The download policy, for the image's owner, on every connection (see download_guard).
    let owner_is_root_admin = db::accounts::account_fetch(&ctx.pool, image.account_id)
        .await
        .map_err(internal)?
        .is_some_and(|a| a.account_type == 1);
    let guard = Guard::new(Policy::from_setting(
        Some(
            ctx.get(&settings::SECSTORAGE_ALLOWED_INTERNAL_SITES)
                .as_str(),
        ),
        owner_is_root_admin,
    ));
    let shown_url = downloads::shown(&source);
    guard
        .check_url(&source)
        .map_err(|r| format!("Cannot download {shown_url}: {r}"))?;
    let http = guard
        .client(Duration::from_secs(30))
        .map_err(|e| format!("Internal error while downloading: no HTTP client: {e}"))?;
    // A copy between zones expects the source zone's digest; else the one registered.
    let expected = c.expected_checksum.as_deref().or(image.checksum.as_deref());
    let spec = DownloadSpec {
        url: source,
        format: image.format,
        max_bytes: (ctx.get(&settings::MAX_TEMPLATE_ISO_SIZE) as u64) << 30,
        connect_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(ctx.get(&settings::ISO_DOWNLOAD_IDLE_TIMEOUT) as u64),
        expected: match expected {
            Some(s) => Some(Checksum::parse(s).map_err(|e| format!("Invalid checksum: {e}"))?),
            None => None,
        },
    };
    // Progress goes to the database from a side task once a second, which also renews the
    // lease and notices when the copy is no longer ours.
    let done = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(u64::MAX));
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (ctx, c, done, total, stop) = (
            ctx.clone(),
            c.clone(),
            done.clone(),
            total.clone(),
            stop.clone(),
        );
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => { stop.store(true, Ordering::SeqCst); return; }
                }
                let t = total.load(Ordering::Relaxed);
                let ours = db::images::copy_progress(
                    &ctx.pool,
                    kind,
                    c.image_id,
                    c.zone_id,
                    ctx.ms_id,
                    done.load(Ordering::Relaxed) as i64,
                    (t != u64::MAX).then_some(t as i64),
                    LEASE_SECS,
                )
                .await;
                match ours {
                    Ok(true) => {}
                    Ok(false) => {
                        stop.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "recording download progress"),
                }
            }
        })
    };
    let result = downloads::download_to_nfs(&http, &spec, &mut nfs, &dest, |p| {
        done.store(p.done, Ordering::Relaxed);
        if let Some(t) = p.total {
            total.store(t, Ordering::Relaxed);
        }
        if stop.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await;
    reporter.abort();
    match result {
        Ok(d) => Ok(Some(d)),
        Err(_) if stop.load(Ordering::SeqCst) => Ok(None),
        Err(e) => Err(owner_text(&guard, owner_is_root_admin, &shown_url, e)),
    }
}

/// What the owner reads about a failed download: a refusal by the policy as such; a
/// failure on an allowed internal address in full only for root admins (for a tenant it
/// would tell what answers on the internal network), else as the download error says.
fn owner_text(
    guard: &Guard,
    owner_is_root_admin: bool,
    url: &str,
    e: downloads::DownloadError,
) -> Failure {
    if let Some(r) = guard.refusal() {
        let partial = e.partial_left().map(str::to_string);
        tracing::info!(%url, error = %e, "download refused by the download policy");
        return Failure::Refused(format!("Cannot download {url}: {r}"), partial);
    }
    if guard.touched_internal() && !owner_is_root_admin {
        let partial = e.partial_left().map(str::to_string);
        tracing::warn!(%url, error = %e, "download from an internal site failed");
        return Failure::Refused(
            format!("The download of {url} from an internal site failed (the details are in the management server's log)"),
            partial,
        );
    }
    Failure::Download(e)
}

/// Removes partial files failed downloads had to leave behind (their storage was down),
/// once the storage answers. Idempotent; runs with the downloader.
pub async fn clean_up_partials(ctx: &Ctx) -> Result<()> {
    for kind in Kind::ALL {
        for (id, zone_id, path, url) in db::images::copy_list_cleanup(&ctx.pool, kind).await? {
            let Ok(url) = NfsUrl::parse(&url) else {
                continue;
            };
            let Ok(mut nfs) = NfsClient::connect(&url, Duration::from_secs(5)).await else {
                continue;
            };
            match nfs.remove(&path).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    tracing::debug!(error = %e, path, "partial file not removed yet");
                    continue;
                }
            }
            tracing::info!(path, "removed a partial download left by a storage failure");
            db::images::copy_cleanup_done(&ctx.pool, kind, id, zone_id, &path).await?;
        }
    }
    Ok(())
}

/// Removes an image's copy in one zone: stops its download, deletes its files from the
/// image store, then its row. Idempotent.
pub async fn remove_copy(ctx: &Ctx, kind: Kind, id: Uuid, zone_id: ZoneId) -> Result<()> {
    let Some(row) = db::images::copy_mark_deleting(&ctx.pool, kind, id, zone_id).await? else {
        return Ok(());
    };
    if let Some(store_id) = row.image_store_id {
        if let Some(store) = db::storage::store_fetch(&ctx.pool, store_id).await? {
            let url = NfsUrl::parse(&store.url).map_err(|e| Error::internal(e.to_string()))?;
            let what = match kind {
                Kind::Iso => "ISO",
                Kind::Template => "template",
            };
            let fail = |e: crate::clients::nfs::NfsError| {
                stratus_api::ApiError::new(
                    stratus_api::ErrorCode::ResourceUnavailable,
                    format!(
                        "Could not remove the {what}'s files from secondary storage {}: {e}",
                        store.name
                    ),
                )
            };
            let mut nfs = NfsClient::connect(&url, Duration::from_secs(10))
                .await
                .map_err(fail)?;
            // A download in flight notices within a second and removes its partial file;
            // removing the directory covers both orders.
            nfs.remove_dir_all(&install_dir(kind, id))
                .await
                .or_else(|e| {
                    if e.is_not_found() {
                        Ok(())
                    } else {
                        Err(fail(e))
                    }
                })?;
        }
    }
    db::images::copy_delete(&ctx.pool, kind, id, zone_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_texts() {
        assert_eq!(
            status_text(CopyState::Ready, 5, Some(5), None, true),
            "Successfully Installed"
        );
        assert_eq!(
            status_text(CopyState::Downloading, 50, Some(200), None, true),
            "25% Downloaded"
        );
        assert_eq!(
            status_text(CopyState::Downloading, 200, Some(200), None, true),
            "100% Downloaded"
        );
        assert_eq!(
            status_text(
                CopyState::Error,
                0,
                None,
                Some("The server answered 404 Not Found"),
                true
            ),
            "The server answered 404 Not Found"
        );
        assert_eq!(
            status_text(CopyState::Queued, 0, None, None, true),
            "Download pending"
        );
        assert!(status_text(CopyState::Queued, 0, None, None, false)
            .contains("Waiting for secondary storage"));
    }

    #[test]
    fn tenants_are_not_told_what_answered_on_internal_sites() {
        use crate::rules::download_policy::Policy;
        let not_found = || downloads::DownloadError::HttpStatus {
            url: "http://10.1.2.3/x.iso".into(),
            status: "404 Not Found".into(),
            code: 404,
            requested: None,
        };
        let split = |f: Failure| f.split().0;
        for admin in [false, true] {
            let g = Guard::new(Policy::from_setting(Some("10.0.0.0/8"), admin));
            g.check("10.1.2.3".parse().unwrap()).unwrap();
            let text = split(owner_text(&g, admin, "http://10.1.2.3/x.iso", not_found()));
            assert_eq!(text.contains("404"), admin, "{text}");
            // A public site's answer is told to everyone.
            let g = Guard::new(Policy::from_setting(None, admin));
            g.check("8.8.8.8".parse().unwrap()).unwrap();
            let text = split(owner_text(&g, admin, "http://10.1.2.3/x.iso", not_found()));
            assert!(text.contains("404"), "{text}");
        }
        // A refusal says what was refused, not what is there.
        let g = Guard::new(Policy::from_setting(None, false));
        g.check("169.254.169.254".parse().unwrap()).unwrap_err();
        let text = split(owner_text(&g, false, "http://x/", not_found()));
        assert!(
            text.contains("169.254.169.254") && !text.contains("404"),
            "{text}"
        );
    }

    #[test]
    fn paths() {
        let id = Uuid::nil();
        assert_eq!(
            install_path(Kind::Iso, id, ImageFormat::Iso),
            format!("iso/{id}/{id}.iso")
        );
        assert_eq!(
            install_path(Kind::Template, id, ImageFormat::Qcow2),
            format!("template/{id}/{id}.qcow2")
        );
        assert!(install_path(Kind::Template, id, ImageFormat::Raw)
            .starts_with(&install_dir(Kind::Template, id)));
    }
}
