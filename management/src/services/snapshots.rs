//! Volume snapshots (issue 16): CloudStack's on KVM — a volume's point-in-time copy,
//! flattened into a standalone qcow2 on the zone's secondary storage (so it outlives the
//! primary pool), reverted onto its volume, or made into a new volume.
//!
//! **Taking one** ([`Create`], the SnapshotCreate workflow; createSnapshot's job). Its
//! resource is the volume's VM when the volume is attached (so the VM cannot start, stop
//! or be restored while its disk is read), else the volume (so two snapshots or a revert
//! of one volume never overlap). How the copy is made consistent:
//! - a detached volume or a Stopped VM's: nothing writes it, so this server copies it
//!   (`qemu-img convert` over NFS, the base of a root volume read through);
//! - a Running VM's: its host's agent pauses the VM (QEMU drains and flushes the disk as
//!   it stops the CPUs), copies, and resumes it in the same call, whatever the copy does
//!   (`stratus_api::agent::volume_snapshots`). The guest is paused for the copy's
//!   duration — the price of consistency without libvirt's backup API, which the `virt`
//!   crate does not expose (see docs/operations.md "Volume snapshots"); the pause is
//!   logged and recorded in the SNAPSHOT.CREATE event.
//!
//! | step | do | undo |
//! |---|---|---|
//! | Place | the image store and path chosen, Creating | — (the row is Error after the unwind) |
//! | Backup | BackingUp; copy to `<path>.part`, checked as a standalone qcow2, renamed | remove both files |
//! | Done | BackedUp with the file's size | — |
//!
//! **Reverting** ([`Revert`], SnapshotRevert; revertSnapshot's job): only while nothing
//! uses the volume (detached, or its VM Stopped). The snapshot is written next to the
//! volume's file (`.revert.part`; a root volume's as an overlay on its template base
//! again, since its domain names that base) and renamed over it, so a failure before the
//! rename leaves the volume as it was.

use std::time::Duration;

use crate::ids::{ImageStoreId, JobId, SnapshotId, VmId, VolumeId};
use serde_json::{json, Value};
use stratus_api::agent::NfsFile;
use stratus_api::{ApiError, ErrorCode};

use crate::clients::nfs::{NfsClient, NfsUrl};
use crate::ctx::Ctx;
use crate::db;
use crate::db::events::{EventResource, ResourceType};
use crate::db::snapshots::SnapshotRow;
use crate::db::volumes::DataVolumeRow;
use crate::error::{Error, Result};
use crate::rules::snapshots::SnapshotState;
use crate::rules::states::VolumeState;
use crate::rules::vmstate::VmState;
use crate::services::agents::Agent;
use crate::services::vms::volumes;
use crate::services::workflow::{self, Outputs, Resource, Steps, Workflow};

/// How long a copy may take.
const COPY_TIMEOUT: Duration = Duration::from_secs(3600);

fn unavailable(text: String) -> Error {
    ApiError::new(ErrorCode::ResourceUnavailable, text).into()
}

/// A copy that could not be put in its place on secondary storage: the store's fault is
/// the admin's to fix (535), a copy of the wrong shape is ours (530).
pub(crate) fn published(what: &str, e: volumes::PublishError) -> Error {
    match e {
        volumes::PublishError::Store(e) => unavailable(format!("Secondary storage: {e}")),
        volumes::PublishError::NotStandalone(v) => {
            Error::internal(format!("{what} is not a standalone qcow2: {v}"))
        }
    }
}

/// Where a snapshot's file goes in its image store.
pub fn install_path(volume: VolumeId, snapshot: SnapshotId) -> String {
    format!("snapshots/{volume}/{snapshot}.qcow2")
}

fn part_of(path: &str) -> String {
    format!("{path}.part")
}

fn store_url(store: &db::storage::StoreRow) -> Result<NfsUrl> {
    NfsUrl::parse(&store.url)
        .map_err(|e| Error::internal(format!("image store {} URL: {e}", store.name)))
}

fn pool_url(v: &DataVolumeRow) -> Result<NfsUrl> {
    NfsUrl::parse(&v.pool_url)
        .map_err(|e| Error::internal(format!("pool {} URL: {e}", v.pool_name)))
}

async fn connect(url: &NfsUrl) -> Result<NfsClient> {
    NfsClient::connect(url, Duration::from_secs(10))
        .await
        .map_err(|e| unavailable(format!("Secondary storage: {e}")))
}

/// The volume's template base on its pool (a root volume's overlay), as a file URL.
async fn base_url(ctx: &Ctx, v: &DataVolumeRow, pool: &NfsUrl) -> Result<Option<String>> {
    Ok(match v.template_id {
        Some(t) => db::bases::base_fetch(&ctx.pool, t.into(), v.pool_id)
            .await?
            .map(|b| volumes::nfs_file_url(pool, &b.path)),
        None => None,
    })
}

/// Removes a snapshot's file (and a partial one) from its store. Idempotent.
pub async fn remove_files(ctx: &Ctx, s: &SnapshotRow) -> Result<()> {
    let (Some(store_id), Some(path)) = (s.image_store_id, s.install_path.as_deref()) else {
        return Ok(());
    };
    let Some(store) = db::storage::store_fetch(&ctx.pool, store_id).await? else {
        return Ok(());
    };
    let mut nfs = connect(&store_url(&store)?).await?;
    for f in [part_of(path), path.to_string()] {
        match nfs.remove(&f).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(unavailable(format!(
                    "Removing {f} from secondary storage {}: {e}",
                    store.name
                )))
            }
        }
    }
    Ok(())
}

/// The BackedUp snapshot's file as an NFS URL (createTemplate from a snapshot).
pub async fn file_url(ctx: &Ctx, s: &SnapshotRow) -> Result<String> {
    backed_up_file(ctx, s).await
}

/// The snapshot's file as an NFS URL, with its store (it must be BackedUp).
async fn backed_up_file(ctx: &Ctx, s: &SnapshotRow) -> Result<String> {
    if s.state != SnapshotState::BackedUp || s.removed.is_some() {
        return Err(ApiError::param(format!(
            "Snapshot {} is {}: only a BackedUp snapshot can be used",
            s.name, s.state
        ))
        .into());
    }
    let (Some(store_id), Some(path)) = (s.image_store_id, s.install_path.as_deref()) else {
        return Err(Error::internal("a BackedUp snapshot without a file"));
    };
    let store = db::storage::store_fetch(&ctx.pool, store_id)
        .await?
        .ok_or_else(|| unavailable(format!("Snapshot {}'s image store is gone", s.name)))?;
    Ok(volumes::nfs_file_url(&store_url(&store)?, path))
}

// --- createSnapshot ---------------------------------------------------------------

/// createSnapshot's job (see the module's documentation).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Create {
    pub snapshot: SnapshotId,
    pub volume: VolumeId,
    /// The VM the volume was attached to when the snapshot was asked for.
    pub vm: Option<VmId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateStep {
    Place,
    Backup,
    Done,
}

impl Steps for CreateStep {
    const ALL: &'static [Self] = &[CreateStep::Place, CreateStep::Backup, CreateStep::Done];
    fn name(self) -> &'static str {
        match self {
            CreateStep::Place => "Place",
            CreateStep::Backup => "Backup",
            CreateStep::Done => "Done",
        }
    }
}

/// Place's output.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Placement {
    pub store_id: ImageStoreId,
    pub install_path: String,
}

/// Backup's output.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct BackedUp {
    pub size: i64,
    /// How long the VM was paused for the copy (None: it was not running).
    pub paused_ms: Option<u64>,
}

impl Create {
    async fn row(&self, ctx: &Ctx) -> Result<SnapshotRow> {
        db::snapshots::snapshot_fetch(&ctx.pool, self.snapshot)
            .await?
            .filter(|s| s.removed.is_none())
            .ok_or_else(|| unavailable("The snapshot was deleted".into()))
    }

    async fn volume_row(&self, ctx: &Ctx) -> Result<DataVolumeRow> {
        db::volumes::data_volume_fetch(&ctx.pool, self.volume)
            .await?
            .filter(|v| v.state == VolumeState::Ready)
            .ok_or_else(|| unavailable("The volume is no longer there (or not Ready)".into()))
    }

    async fn backup(&self, ctx: &Ctx, out: &Outputs) -> Result<BackedUp> {
        let place = out
            .get::<Placement>(CreateStep::Place)
            .ok_or_else(|| Error::internal("the snapshot's placement is missing"))?;
        db::snapshots::snapshot_set_state(&ctx.pool, self.snapshot, SnapshotState::BackingUp)
            .await?;
        let store = db::storage::store_fetch(&ctx.pool, place.store_id)
            .await?
            .ok_or_else(|| unavailable("The snapshot's image store was removed".into()))?;
        let surl = store_url(&store)?;
        let vol = self.volume_row(ctx).await?;
        let purl = pool_url(&vol)?;
        let part = part_of(&place.install_path);
        let mut nfs = volumes::open_place(&surl, &place.install_path)
            .await
            .map_err(|e| published("the copy", e))?;
        let base = base_url(ctx, &vol, &purl).await?;
        let failed = |why: String| {
            unavailable(format!(
                "Backing up volume {} to secondary storage failed: {why}",
                vol.name
            ))
        };
        let vm = match vol.vm_id {
            Some(id) => db::vms::vm_fetch(&ctx.pool, id).await?,
            None => None,
        };
        let paused_ms = match vm {
            Some(vm) if vm.state == VmState::Running => {
                let host = crate::services::vms::host_of(ctx, &vm).await?;
                let nfs_file = |url: &NfsUrl, path: &str| NfsFile {
                    server: url.host().to_string(),
                    export: url.path().to_string(),
                    path: path.to_string(),
                };
                let base_file = match vol.template_id {
                    Some(t) => db::bases::base_fetch(&ctx.pool, t.into(), vol.pool_id)
                        .await?
                        .map(|b| nfs_file(&purl, &b.path)),
                    None => None,
                };
                let order = stratus_api::agent::volume_snapshots::DiskBackup {
                    source: nfs_file(&purl, &vol.path),
                    backing: base_file,
                    target: nfs_file(&surl, &part),
                    max_pause_secs: None,
                };
                let done = Agent::of(ctx, &host)
                    .backup_disk(vm.id, &order, COPY_TIMEOUT)
                    .await
                    .map_err(|e| failed(e.text))?;
                tracing::info!(vm = %vm.id, volume = %vol.id, paused_ms = done.paused_ms,
                    "volume of a running VM backed up: the VM was paused for the copy");
                done.was_running.then_some(done.paused_ms)
            }
            Some(vm) if vm.state != VmState::Stopped => {
                return Err(ApiError::new(
                    ErrorCode::ResourceInUse,
                    format!(
                    "VM {} is {}: a snapshot of its volume is taken while it is Running or Stopped",
                    vm.display_name, vm.state
                ),
                )
                .into())
            }
            _ => {
                // Nothing writes the volume: an overlay's base is named by its full URL
                // while it is read, and by its relative name again after (see
                // `volumes::set_backing`), as createTemplate does.
                let src = volumes::nfs_file_url(&purl, &vol.path);
                let relative = match vol.template_id {
                    Some(t) => db::bases::base_fetch(&ctx.pool, t.into(), vol.pool_id)
                        .await?
                        .map(|b| b.path),
                    None => None,
                };
                if let Some(b) = &base {
                    volumes::set_backing(&src, b).await.map_err(failed)?;
                }
                let converted = volumes::convert_chain(
                    &src,
                    &volumes::nfs_file_url(&surl, &part),
                    None,
                    COPY_TIMEOUT,
                )
                .await;
                if let Some(r) = &relative {
                    volumes::set_backing(&src, r).await.map_err(failed)?;
                }
                converted.map_err(failed)?;
                None
            }
        };
        let (size, _) = volumes::publish_standalone(&mut nfs, &part, &place.install_path)
            .await
            .map_err(|e| published("the snapshot's copy", e))?;
        Ok(BackedUp {
            size: size as i64,
            paused_ms,
        })
    }
}

impl Workflow for Create {
    const KIND: workflow::Kind = workflow::Kind::SnapshotCreate;
    type Step = CreateStep;
    fn resource(&self) -> Resource {
        match self.vm {
            Some(vm) => Resource::vm(vm.into_uuid()),
            None => Resource::volume(self.volume.into_uuid()),
        }
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        self.row(ctx).await?;
        let v = self.volume_row(ctx).await?;
        if v.vm_id != self.vm {
            return Err(ApiError::new(
                ErrorCode::ResourceInUse,
                format!(
                    "Volume {} was attached or detached meanwhile: try again",
                    v.name
                ),
            )
            .into());
        }
        Ok(())
    }
    async fn do_step(&self, ctx: &Ctx, step: CreateStep, out: &Outputs) -> Result<Value> {
        match step {
            CreateStep::Place => {
                let s = self.row(ctx).await?;
                if let (Some(store_id), Some(install_path)) = (s.image_store_id, s.install_path) {
                    return Ok(json!(Placement {
                        store_id,
                        install_path
                    }));
                }
                let store = db::storage::store_pick_for_zone(&ctx.pool, s.zone_id)
                    .await?
                    .ok_or_else(|| {
                        unavailable("The volume's zone has no writable secondary storage".into())
                    })?;
                let install_path = install_path(self.volume, self.snapshot);
                db::snapshots::snapshot_place(&ctx.pool, self.snapshot, store.id, &install_path)
                    .await?;
                Ok(json!(Placement {
                    store_id: store.id,
                    install_path
                }))
            }
            CreateStep::Backup => Ok(json!(self.backup(ctx, out).await?)),
            CreateStep::Done => {
                let b = out
                    .get::<BackedUp>(CreateStep::Backup)
                    .ok_or_else(|| Error::internal("the backup's size is missing"))?;
                if !db::snapshots::snapshot_backed_up(&ctx.pool, self.snapshot, b.size).await? {
                    return Err(unavailable(
                        "The snapshot was deleted while it was being taken".into(),
                    ));
                }
                Ok(Value::Null)
            }
        }
    }
    async fn undo_step(&self, ctx: &Ctx, step: CreateStep, _: &Outputs) -> Result<()> {
        match step {
            CreateStep::Backup => {
                if let Some(s) = db::snapshots::snapshot_fetch(&ctx.pool, self.snapshot).await? {
                    remove_files(ctx, &s).await?;
                }
                Ok(())
            }
            CreateStep::Place | CreateStep::Done => Ok(()),
        }
    }
    async fn succeeded(&self, ctx: &Ctx, out: &Outputs) -> Result<()> {
        let s = self.row(ctx).await?;
        let paused = out
            .get::<BackedUp>(CreateStep::Backup)
            .and_then(|b| b.paused_ms)
            .map(|ms| format!(" (the VM was paused {ms} ms for the copy)"))
            .unwrap_or_default();
        let mut tx = ctx.pool.begin().await?;
        db::events::system_event(
            &mut tx,
            "SNAPSHOT.CREATE",
            "INFO",
            format!(
                "Snapshot {} of volume {} backed up{paused}",
                s.name, self.volume
            ),
            Some(EventResource::new(
                ResourceType::Volume,
                self.volume,
                s.name.clone(),
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        db::snapshots::snapshot_failed(&ctx.pool, self.snapshot, &why.text).await?;
        let mut tx = ctx.pool.begin().await?;
        db::events::system_event(
            &mut tx,
            "SNAPSHOT.CREATE",
            "ERROR",
            format!(
                "Snapshot {} of volume {} failed and was undone: {}",
                self.snapshot, self.volume, why.text
            ),
            Some(EventResource::new(
                ResourceType::Volume,
                self.volume,
                self.volume.to_string(),
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Runs createSnapshot's workflow (see [`Create`]).
pub async fn create(ctx: &Ctx, job: Option<JobId>, c: Create) -> Result<()> {
    workflow::run(ctx, job, c).await
}

// --- revertSnapshot ---------------------------------------------------------------

/// revertSnapshot's job (see the module's documentation).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Revert {
    pub snapshot: SnapshotId,
    pub volume: VolumeId,
    pub vm: Option<VmId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevertStep {
    Copy,
    Swap,
}

impl Steps for RevertStep {
    const ALL: &'static [Self] = &[RevertStep::Copy, RevertStep::Swap];
    fn name(self) -> &'static str {
        match self {
            RevertStep::Copy => "Copy",
            RevertStep::Swap => "Swap",
        }
    }
}

impl Revert {
    fn part(v: &DataVolumeRow) -> String {
        format!("{}.revert.part", v.path)
    }

    /// The volume, unused: detached, or its VM Stopped.
    async fn idle_volume(&self, ctx: &Ctx) -> Result<DataVolumeRow> {
        let v = db::volumes::data_volume_fetch(&ctx.pool, self.volume)
            .await?
            .filter(|v| v.state == VolumeState::Ready)
            .ok_or_else(|| unavailable("The snapshot's volume is no longer there".into()))?;
        if v.vm_id != self.vm {
            return Err(ApiError::new(
                ErrorCode::ResourceInUse,
                format!(
                    "Volume {} was attached or detached meanwhile: try again",
                    v.name
                ),
            )
            .into());
        }
        if let Some(id) = v.vm_id {
            let vm = db::vms::vm_fetch(&ctx.pool, id)
                .await?
                .ok_or_else(|| Error::internal("the volume's VM vanished"))?;
            if vm.state != VmState::Stopped {
                return Err(ApiError::param(format!(
                    "VM {} is {}: stop it to revert its volume to a snapshot",
                    vm.display_name, vm.state
                ))
                .into());
            }
        }
        Ok(v)
    }
}

impl Workflow for Revert {
    const KIND: workflow::Kind = workflow::Kind::SnapshotRevert;
    type Step = RevertStep;
    fn resource(&self) -> Resource {
        match self.vm {
            Some(vm) => Resource::vm(vm.into_uuid()),
            None => Resource::volume(self.volume.into_uuid()),
        }
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        self.idle_volume(ctx).await?;
        Ok(())
    }
    async fn do_step(&self, ctx: &Ctx, step: RevertStep, _: &Outputs) -> Result<Value> {
        let v = self.idle_volume(ctx).await?;
        let purl = pool_url(&v)?;
        match step {
            RevertStep::Copy => {
                let s = db::snapshots::snapshot_fetch(&ctx.pool, self.snapshot)
                    .await?
                    .ok_or_else(|| unavailable("The snapshot was deleted".into()))?;
                let src = backed_up_file(ctx, &s).await?;
                let base = match v.template_id {
                    Some(t) => db::bases::base_fetch(&ctx.pool, t.into(), v.pool_id).await?,
                    None => None,
                };
                let part = Self::part(&v);
                let dst = volumes::nfs_file_url(&purl, &part);
                let base_full = base.as_ref().map(|b| volumes::nfs_file_url(&purl, &b.path));
                let failed =
                    |why: String| unavailable(format!("Reverting volume {} failed: {why}", v.name));
                volumes::convert_chain(&src, &dst, base_full.as_deref(), COPY_TIMEOUT)
                    .await
                    .map_err(failed)?;
                if let Some(b) = &base {
                    // Named relative to the overlay again, as every root volume's base.
                    volumes::set_backing(&dst, &b.path).await.map_err(failed)?;
                }
                Ok(json!({ "virtual_size": s.virtual_size }))
            }
            RevertStep::Swap => {
                let mut nfs = NfsClient::connect(&purl, Duration::from_secs(10))
                    .await
                    .map_err(|e| unavailable(format!("Primary storage: {e}")))?;
                let part = Self::part(&v);
                match nfs.rename(&part, &v.path).await {
                    Ok(()) => {}
                    // Renamed already (this step again after a crash).
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(unavailable(format!("Primary storage: {e}"))),
                }
                let s = db::snapshots::snapshot_fetch(&ctx.pool, self.snapshot).await?;
                if let Some(s) = s {
                    if s.virtual_size != v.size_bytes && s.virtual_size > 0 {
                        db::volumes::volume_set_size(&ctx.pool, v.id, s.virtual_size, None).await?;
                    }
                }
                Ok(Value::Null)
            }
        }
    }
    async fn undo_step(&self, ctx: &Ctx, step: RevertStep, _: &Outputs) -> Result<()> {
        match step {
            RevertStep::Copy => {
                let Some(v) = db::volumes::data_volume_fetch(&ctx.pool, self.volume).await? else {
                    return Ok(());
                };
                volumes::remove(&pool_url(&v)?, &Self::part(&v))
                    .await
                    .map_err(|e| unavailable(format!("Primary storage: {e}")))
            }
            RevertStep::Swap => Ok(()),
        }
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        let mut tx = ctx.pool.begin().await?;
        db::events::system_event(
            &mut tx,
            "SNAPSHOT.REVERT",
            "INFO",
            format!(
                "Volume {} reverted to snapshot {}",
                self.volume, self.snapshot
            ),
            Some(EventResource::new(
                ResourceType::Volume,
                self.volume,
                self.volume.to_string(),
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        let mut tx = ctx.pool.begin().await?;
        db::events::system_event(
            &mut tx,
            "SNAPSHOT.REVERT",
            "ERROR",
            format!(
                "Reverting volume {} to snapshot {} failed and was undone: {}",
                self.volume, self.snapshot, why.text
            ),
            Some(EventResource::new(
                ResourceType::Volume,
                self.volume,
                self.volume.to_string(),
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Runs revertSnapshot's workflow (see [`Revert`]).
pub async fn revert(ctx: &Ctx, job: Option<JobId>, r: Revert) -> Result<()> {
    workflow::run(ctx, job, r).await
}

// --- deleteSnapshot, and volumes from snapshots ------------------------------------

/// deleteSnapshot: the file removed from secondary storage, then the row Destroyed.
/// A snapshot still being taken is refused (536).
pub async fn delete(ctx: &Ctx, s: &SnapshotRow) -> Result<()> {
    if matches!(
        s.state,
        SnapshotState::Allocated | SnapshotState::Creating | SnapshotState::BackingUp
    ) {
        return Err(ApiError::new(
            ErrorCode::ResourceInUse,
            format!(
                "Snapshot {} is {}: wait until it is BackedUp (or Error) to delete it",
                s.name, s.state
            ),
        )
        .into());
    }
    remove_files(ctx, s).await?;
    db::snapshots::snapshot_destroy(&ctx.pool, s.id).await
}

/// Writes snapshot `s` as the content of the new data volume `v` (createVolume with a
/// snapshotid; the volume is Allocated, its file not made yet), then makes it Ready.
/// Again after a crash: the copy is made anew into the partial file.
pub async fn fill_volume(ctx: &Ctx, s: &SnapshotRow, v: &DataVolumeRow) -> Result<()> {
    if v.state == VolumeState::Ready {
        return Ok(());
    }
    let src = backed_up_file(ctx, s).await?;
    let purl = pool_url(v)?;
    let part = format!("{}.part", v.path);
    volumes::convert_chain(
        &src,
        &volumes::nfs_file_url(&purl, &part),
        None,
        COPY_TIMEOUT,
    )
    .await
    .map_err(|why| {
        unavailable(format!(
            "Creating volume {} from snapshot {} failed: {why}",
            v.name, s.name
        ))
    })?;
    let mut nfs = NfsClient::connect(&purl, Duration::from_secs(10))
        .await
        .map_err(|e| unavailable(format!("Primary storage: {e}")))?;
    nfs.rename(&part, &v.path)
        .await
        .map_err(|e| unavailable(format!("Primary storage: {e}")))?;
    db::volumes::volume_set_state(&ctx.pool, v.id, VolumeState::Ready).await
}

// --- Snapshot policies: the reconciler ---------------------------------------------

/// What one policy pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyPass {
    /// Snapshots taken for due slots.
    pub taken: usize,
    /// Snapshots deleted beyond a policy's `maxsnaps`.
    pub pruned: usize,
    /// Due slots that failed (limit reached, copy failed): said in the log and events.
    pub failed: usize,
}

/// One pass over every policy at instant `now` (the timer gives the clock's; tests their
/// own): a policy whose latest slot is due and fresh ([`crate::rules::snapshots`]) and not
/// yet taken gets one snapshot — the slot is claimed with one conditional `UPDATE`, and
/// the snapshot row is unique per (policy, slot), so each slot is taken at most once
/// whatever the number of servers running this — and each policy keeps at most its
/// `maxsnaps` BackedUp snapshots, the oldest deleted first. Idempotent.
pub async fn policy_pass(ctx: &Ctx, now: chrono::DateTime<chrono::Utc>) -> Result<PolicyPass> {
    use crate::rules::snapshots as rules;
    let mut done = PolicyPass::default();
    for pol in db::snapshots::policies_active(&ctx.pool).await? {
        let (Ok(schedule), Ok(tz)) = (
            rules::parse_schedule(pol.interval_type, &pol.schedule),
            rules::parse_timezone(&pol.timezone),
        ) else {
            continue;
        };
        if let Some(slot) = tz.last_slot(&schedule, now) {
            let due = rules::slot_fresh(pol.interval_type, slot, now)
                && pol.last_slot.is_none_or(|l| l < slot);
            if due && db::snapshots::policy_take_slot(&ctx.pool, pol.id, slot).await? {
                match take_for_policy(ctx, &pol, slot).await {
                    Ok(true) => done.taken += 1,
                    Ok(false) => {}
                    Err(e) => {
                        done.failed += 1;
                        tracing::warn!(policy = %pol.id, volume = %pol.volume_id, error = %e,
                            "a scheduled snapshot failed");
                    }
                }
            }
        }
        let kept = db::snapshots::snapshots_of_policy(&ctx.pool, pol.id).await?;
        for s in rules::beyond_retention(&kept, pol.max_snaps.max(1) as usize) {
            delete(ctx, &s).await?;
            done.pruned += 1;
        }
    }
    Ok(done)
}

/// Records and takes the policy's snapshot for `slot`; false when another server's pass
/// recorded it first.
async fn take_for_policy(
    ctx: &Ctx,
    pol: &db::snapshots::PolicyRow,
    slot: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    let Some(v) = db::volumes::data_volume_fetch(&ctx.pool, pol.volume_id).await? else {
        return Ok(false);
    };
    let (Some(owner), Some(domain), Some(zone)) = (v.account_id, v.domain_id, v.zone_id) else {
        return Ok(false);
    };
    let id = SnapshotId::new_v4();
    let vm_name = match v.vm_id {
        Some(id) => db::vms::vm_fetch(&ctx.pool, id)
            .await?
            .map(|vm| vm.display_name)
            .unwrap_or_default(),
        None => "detached".into(),
    };
    let mut tx = ctx.pool.begin().await?;
    crate::services::limits::admit(
        ctx,
        &mut tx,
        owner,
        &[(crate::rules::limits::ResourceKind::Snapshot, 1)],
    )
    .await?;
    let recorded = db::snapshots::snapshot_insert(
        &mut *tx,
        &db::snapshots::NewSnapshot {
            id,
            name: format!("{vm_name}_{}_{}", v.name, slot.format("%Y%m%d%H%M%S")),
            account_id: owner,
            domain_id: domain,
            volume_id: v.id,
            zone_id: zone,
            virtual_size: v.size_bytes,
            interval_type: pol.interval_type,
            policy_id: Some(pol.id),
            slot: Some(slot),
        },
    )
    .await?;
    tx.commit().await?;
    if !recorded {
        return Ok(false);
    }
    create(
        ctx,
        None,
        Create {
            snapshot: id,
            volume: v.id,
            vm: v.vm_id,
        },
    )
    .await?;
    Ok(true)
}

/// How often the policy pass runs.
pub const POLICY_TICK: Duration = Duration::from_secs(60);

/// The snapshot policies' timer (its own task: a pass may copy volumes for minutes, which
/// must not hold up the other housekeeping). Every management server runs it; each pass
/// is recorded as background task `snapshot-policies` (listBackgroundTasks).
pub async fn run(ctx: Ctx, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(POLICY_TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        crate::services::tasks::pass(
            &ctx,
            "snapshot-policies",
            POLICY_TICK,
            policy_pass(&ctx, chrono::Utc::now()),
            |p| {
                format!(
                    "{} scheduled snapshots taken, {} failed, {} beyond maxsnaps deleted",
                    p.taken, p.failed, p.pruned
                )
            },
        )
        .await;
    }
}
