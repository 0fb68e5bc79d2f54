//! Data volumes (issue 16): their files on primary storage and their place on VMs.
//!
//! As in CloudStack, createVolume records a volume (with the pool it will live on, so the
//! pool's allocated capacity counts it at once) that stays Allocated until its first
//! attach creates its qcow2 there (over NFS by this server, as root volumes are); then it
//! is Ready and keeps its data through detaches and re-attaches. A Running VM gets a
//! volume hot-plugged by its host's agent (virtio, live and in its definition) and loses
//! it the same way once its guest releases it; a Stopped VM (whose domain is undefined)
//! only has it recorded, and its next start's domain holds it ([`disks_of`]).
//!
//! Each change is a short sequence with its own undo rather than a workflow: the
//! database records the attach first (the unique (VM, device) index decides races), the
//! agent is asked second, and a refusal there takes the record back; a detach asks the
//! agent first, so a guest that keeps the disk leaves it attached and recorded.

use crate::ids::{VmId, ZoneId};
use stratus_api::agent::{DataDisk, DiskFormat, NfsFile};
use stratus_api::{ApiError, ErrorCode};
use uuid::Uuid;

use super::{host_of, state_of, volumes};
use crate::clients::nfs::NfsUrl;
use crate::ctx::Ctx;
use crate::db;
use crate::db::volumes::DataVolumeRow;
use crate::error::{Error, Result};
use crate::rules::placement::{choose_pool, Pool};
use crate::rules::states::VolumeState;
use crate::rules::vmstate::VmState;
use crate::services::agents::Agent;

/// The disks of a VM's Ready data volumes, for its domain.
pub async fn disks_of(ctx: &Ctx, vm_id: VmId) -> Result<Vec<DataDisk>> {
    let vols = db::volumes::data_volumes_of_vm(&ctx.pool, vm_id).await?;
    vols.iter()
        .filter(|v| v.state == VolumeState::Ready)
        .map(disk_of)
        .collect()
}

fn disk_of(v: &DataVolumeRow) -> Result<DataDisk> {
    let device = v
        .device_id
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| Error::internal("an attached data volume has no device"))?;
    Ok(DataDisk {
        file: NfsFile {
            server: v.pool_server.clone(),
            export: v.pool_export.clone(),
            path: v.path.clone(),
        },
        format: DiskFormat::Qcow2,
        device_id: device,
        volume_id: v.id.into_uuid(),
    })
}

fn unavailable(text: String) -> Error {
    ApiError::new(ErrorCode::ResourceUnavailable, text).into()
}

fn pool_url(v: &DataVolumeRow) -> Result<NfsUrl> {
    NfsUrl::parse(&v.pool_url)
        .map_err(|e| Error::internal(format!("pool {} has a bad URL: {e}", v.pool_name)))
}

/// The pool a new data volume of `size` bytes goes to: Up, carrying the offering's
/// storage tags, with room; reached from `cluster` when the volume is for a VM there
/// (else any pool of the zone). None fits: 533 naming the constraint.
pub async fn choose_data_pool(
    ctx: &Ctx,
    tx: &mut sqlx::PgConnection,
    zone_id: ZoneId,
    cluster: Option<Uuid>,
    size: i64,
    want: &[String],
) -> Result<Uuid> {
    let factor_of = super::storage_factor_of(ctx, zone_id);
    // Under the lock of the zone's pools, so two placements never both take the last room
    // of a pool; the caller records the volume in the same transaction.
    db::capacity::pool_lock_in_txn(&mut *tx, zone_id).await?;
    let mut pools: Vec<Pool> = db::capacity::pool_candidates(&mut *tx, zone_id).await?;
    let cluster = match cluster {
        Some(c) => c.into(),
        None => {
            // Any cluster: every pool of the zone is a candidate.
            for p in &mut pools {
                p.cluster_id = None;
            }
            Uuid::nil().into()
        }
    };
    let id = choose_pool(&pools, cluster, size, factor_of, want).map_err(|why| {
        ApiError::new(
            ErrorCode::InsufficientCapacity,
            format!("Unable to find primary storage for a volume of {size} bytes: {why}"),
        )
    })?;
    Ok(id.into())
}

/// The cluster a VM's volumes must be reachable from: its root volume's pool's (none for
/// a zone-wide pool or a VM without a root volume yet).
async fn cluster_of_vm(ctx: &Ctx, vm_id: VmId) -> Result<Option<Uuid>> {
    let Some(root) = db::volumes::volume_root_of_vm(&ctx.pool, vm_id).await? else {
        return Ok(None);
    };
    Ok((db::storage::pool_fetch(&ctx.pool, root.pool_id)
        .await?
        .and_then(|p| p.cluster_id))
    .map(Into::into))
}

/// Creates an Allocated volume's file (on a pool the VM reaches, moving it there first if
/// needed): Ready. A Ready volume is left as it is.
async fn ensure_file(ctx: &Ctx, v: &DataVolumeRow, vm_id: VmId) -> Result<DataVolumeRow> {
    if v.state != VolumeState::Allocated {
        return Ok(v.clone());
    }
    let cluster = cluster_of_vm(ctx, vm_id).await?;
    let reached = match (cluster, v.pool_cluster_id) {
        (Some(c), Some(pc)) => c == pc,
        _ => true,
    };
    if !reached {
        let want = match v.disk_offering_id {
            Some(o) => offering_tags(ctx, o.into_uuid()).await?,
            None => vec![],
        };
        let mut tx = ctx.pool.begin().await?;
        let pool = choose_data_pool(
            ctx,
            &mut tx,
            v.zone_id.unwrap_or_default(),
            cluster,
            v.size_bytes,
            &want,
        )
        .await?;
        db::volumes::volume_set_pool(&mut *tx, v.id, pool.into()).await?;
        tx.commit().await?;
    }
    let v = db::volumes::data_volume_fetch(&ctx.pool, v.id)
        .await?
        .ok_or_else(|| Error::internal("the volume vanished"))?;
    volumes::create_qcow2(&pool_url(&v)?, &v.path, v.size_bytes as u64)
        .await
        .map_err(|why| {
            unavailable(format!(
                "Creating volume {} on primary storage {} failed: {why}",
                v.name, v.pool_name
            ))
        })?;
    db::volumes::volume_set_state(&ctx.pool, v.id, VolumeState::Ready).await?;
    Ok(DataVolumeRow {
        state: VolumeState::Ready,
        ..v
    })
}

/// The storage tags a disk offering asks for.
pub async fn offering_tags(ctx: &Ctx, offering: Uuid) -> Result<Vec<String>> {
    Ok(
        db::offerings::disk_offering_fetch(&ctx.pool, offering.into())
            .await?
            .and_then(|o| o.tags)
            .map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// attachVolume's work: `v` (detached, in the VM's zone; checked by the caller) at
/// `device` of the VM — hot-plugged if it runs.
pub async fn attach(ctx: &Ctx, v: &DataVolumeRow, vm_id: VmId, device: i32) -> Result<()> {
    let vm = db::vms::vm_fetch(&ctx.pool, vm_id)
        .await?
        .ok_or_else(|| Error::internal("the VM vanished"))?;
    let state = state_of(&vm)?;
    if !matches!(state, VmState::Running | VmState::Stopped) {
        return Err(ApiError::param(format!(
            "VM {} is {}: volumes are attached to Running or Stopped VMs only",
            vm.display_name,
            state.as_str()
        ))
        .into());
    }
    let v = ensure_file(ctx, v, vm_id).await?;
    match db::volumes::data_volume_attach(&ctx.pool, v.id, vm_id, device).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(
                ApiError::param(format!("Volume {} is attached to a VM already", v.name)).into(),
            )
        }
        // A device taken meanwhile: the unique (VM, device) index's message.
        Err(e) => return Err(e),
    }
    if state == VmState::Running {
        let attached = DataVolumeRow {
            device_id: Some(device),
            vm_id: Some(vm_id),
            ..v.clone()
        };
        let plugged = async {
            let host = host_of(ctx, &vm).await?;
            Agent::of(ctx, &host)
                .attach_disk(vm_id, &disk_of(&attached)?)
                .await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = plugged {
            db::volumes::data_volume_detach(&ctx.pool, v.id).await?;
            return Err(e);
        }
    }
    Ok(())
}

/// detachVolume's work: `v` off its VM — hot-unplugged first if the VM runs (a guest
/// that keeps it leaves it attached) — and recorded detached. Its file stays.
pub async fn detach(ctx: &Ctx, v: &DataVolumeRow) -> Result<()> {
    let (Some(vm_id), Some(device)) = (v.vm_id, v.device_id) else {
        return Err(ApiError::param(format!("Volume {} is not attached to a VM", v.name)).into());
    };
    let vm = db::vms::vm_fetch(&ctx.pool, vm_id)
        .await?
        .ok_or_else(|| Error::internal("the VM vanished"))?;
    let state = state_of(&vm)?;
    match state {
        VmState::Running => {
            let host = host_of(ctx, &vm).await?;
            let device =
                u32::try_from(device).map_err(|_| Error::internal("a negative device id"))?;
            Agent::of(ctx, &host).detach_disk(vm_id, device).await?;
        }
        VmState::Stopped | VmState::Destroyed | VmState::Error => {}
        other => {
            return Err(ApiError::param(format!(
                "VM {} is {}: volumes are detached from Running or Stopped VMs only",
                vm.display_name,
                other.as_str()
            ))
            .into())
        }
    }
    db::volumes::data_volume_detach(&ctx.pool, v.id).await?;
    Ok(())
}

/// resizeVolume's work (the caller refused a shrink of a running VM's volume and a VM
/// in a transition): attached to a running VM, the volume grows live through its host's
/// agent (QEMU grows the file, the guest sees the new size at once); otherwise an
/// Allocated one has no file yet (only its size changes) and a Ready one's qcow2 is
/// resized on its pool.
pub async fn resize(ctx: &Ctx, v: &DataVolumeRow, size: i64, offering: Option<Uuid>) -> Result<()> {
    let running = match v.vm_id {
        Some(id) => db::vms::vm_fetch(&ctx.pool, id)
            .await?
            .filter(|vm| vm.state == VmState::Running),
        None => None,
    };
    if let Some(vm) = running {
        let host = host_of(ctx, &vm).await?;
        let device = v
            .device_id
            .and_then(|d| u32::try_from(d).ok())
            .ok_or_else(|| Error::internal("an attached volume without a device id"))?;
        let bytes = u64::try_from(size).map_err(|_| Error::internal("a negative volume size"))?;
        Agent::of(ctx, &host)
            .resize_disk(vm.id, device, bytes)
            .await?;
    } else if v.state == VolumeState::Ready {
        let url = volumes::nfs_file_url(&pool_url(v)?, &v.path);
        volumes::resize_qcow2(&url, size as u64, size < v.size_bytes)
            .await
            .map_err(|why| unavailable(format!("Resizing volume {} failed: {why}", v.name)))?;
    }
    db::volumes::volume_set_size(&ctx.pool, v.id, size, offering).await?;
    Ok(())
}

/// deleteVolume's work on a detached volume: its file removed from its pool (if it has
/// one), then the volume Expunged.
pub async fn delete(ctx: &Ctx, v: &DataVolumeRow) -> Result<()> {
    if v.state == VolumeState::Ready {
        volumes::remove(&pool_url(v)?, &v.path)
            .await
            .map_err(|why| {
                unavailable(format!(
                    "Removing volume {} from primary storage {} failed: {why}",
                    v.name, v.pool_name
                ))
            })?;
    }
    db::volumes::volume_mark_expunged(&ctx.pool, v.id).await?;
    Ok(())
}

/// How long copying a volume between pools may take.
const COPY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// migrateVolume's work on a volume whose VM (if any) is stopped: its file copied to
/// `pool` (a flattened qcow2), the volume switched there, the old file removed. A failed
/// copy leaves the volume where it was (and removes the partial copy).
pub async fn migrate(ctx: &Ctx, v: &DataVolumeRow, pool: &db::storage::PoolRow) -> Result<()> {
    if v.state != VolumeState::Ready {
        // No file yet: only where it will be made changes.
        db::volumes::volume_set_pool(&ctx.pool, v.id, pool.id).await?;
        return Ok(());
    }
    let dst_pool = NfsUrl::parse(&pool.url)
        .map_err(|e| Error::internal(format!("pool {} has a bad URL: {e}", pool.name)))?;
    let src = volumes::nfs_file_url(&pool_url(v)?, &v.path);
    let dst = volumes::nfs_file_url(&dst_pool, &v.path);
    if let Err(why) = volumes::convert_to_qcow2(&src, "qcow2", &dst, COPY_TIMEOUT).await {
        let _ = volumes::remove(&dst_pool, &v.path).await;
        return Err(unavailable(format!(
            "Copying volume {} to primary storage {} failed: {why}",
            v.name, pool.name
        )));
    }
    db::volumes::volume_set_pool(&ctx.pool, v.id, pool.id).await?;
    if let Err(why) = volumes::remove(&pool_url(v)?, &v.path).await {
        tracing::warn!(volume = %v.id, error = %why, "the migrated volume's old file stays behind");
    }
    Ok(())
}
