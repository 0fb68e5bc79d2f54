//! Data volumes (issue 16): createVolume, attachVolume, detachVolume, resizeVolume,
//! deleteVolume and migrateVolume, with CloudStack's parameters, rules and answers (the
//! volume as listVolumes shows it). The work on files and hosts is in
//! `crate::services::vms::data_volumes`; the rules (devices, sizes) in `rules::volumes`.
//!
//! A volume is the caller's to use when its owner is (`projects::may_use`); one that is
//! not answers as if it did not exist. A volume and the VM it is attached to have the same
//! owner, as CloudStack requires.

use super::requests;
use crate::ids::VolumeId;
use stratus_api::envelope::Reply;
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use super::{ensure_manages, not_found};
use crate::ctx::Ctx;
use crate::db;
use crate::db::events::{event, EventResource, ResourceType};
use crate::db::tags::TagType;
use crate::db::volumes::DataVolumeRow;
use crate::error::{Error, Result};
use crate::rules::limits::ResourceKind;
use crate::rules::vmstate::VmState;
use crate::services::auth::Caller;
use crate::services::limits;
use crate::services::vms::data_volumes;

/// The live volume `p[name]` names, if the caller may use it.
async fn owned(ctx: &Ctx, caller: &Caller, p: &Params, name: &str) -> Result<DataVolumeRow> {
    let id = p.required_uuid(name)?;
    match db::volumes::data_volume_fetch(&ctx.pool, id.into()).await? {
        Some(v) => match v.account_id {
            Some(a) if super::projects::may_use(ctx, caller, a.into_uuid()).await? => Ok(v),
            None if caller.is_root_admin() => Ok(v),
            _ => Err(not_found(p, name)),
        },
        None => Err(not_found(p, name)),
    }
}

/// A data volume, or CloudStack's refusal for a root volume.
fn data_only(v: &DataVolumeRow, what: &str) -> Result<()> {
    if v.volume_type != "DATADISK" {
        return Err(ApiError::param(format!(
            "Volume {} is a ROOT volume: only data volumes can be {what}",
            v.name
        ))
        .into());
    }
    Ok(())
}

/// The VM `p[name]` names, if the caller may use it.
async fn owned_vm(ctx: &Ctx, caller: &Caller, p: &Params, name: &str) -> Result<db::vms::VmRow> {
    let id = p.required_uuid(name)?;
    match db::vms::vm_fetch(&ctx.pool, id.into()).await? {
        Some(vm)
            if vm.removed.is_none()
                && super::projects::may_use(ctx, caller, vm.account_id.into_uuid()).await? =>
        {
            Ok(vm)
        }
        _ => Err(not_found(p, name)),
    }
}

/// The answer of every volume command: the volume as listVolumes shows it.
async fn volume_reply(ctx: &Ctx, caller: &Caller, id: Uuid) -> Result<Reply> {
    let f = db::volumes::VolumeFilter {
        common: db::ListFilter {
            id: Some(id),
            ..Default::default()
        },
        ..Default::default()
    };
    let (rows, _) = db::volumes::volume_list(&ctx.pool, &f).await?;
    let r = rows
        .first()
        .ok_or_else(|| Error::internal("the volume vanished"))?;
    let tags = super::tags::tags_of_one(ctx, TagType::Volume, id).await?;
    let v = super::vms::volume_response(r, caller.is_root_admin(), tags);
    Ok(Reply::object("volume", &v))
}

async fn volume_event(
    ctx: &Ctx,
    caller: &Caller,
    kind: &str,
    id: Uuid,
    name: &str,
    what: &str,
) -> Result<()> {
    let mut tx = ctx.pool.begin().await?;
    event(
        &mut tx,
        &caller.user,
        kind,
        format!("Volume {name} {what}"),
        Some(EventResource::new(ResourceType::Volume, id, name)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Who a new volume belongs to: a project's account (`projectid`), the account an admin
/// names (`account` + `domainid`), else the caller's. Answers (account, domain).
async fn new_owner(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<(Uuid, Uuid)> {
    if let Some(project) = super::projects::owner_for_create(ctx, caller, p).await? {
        p.mark_read("account");
        p.mark_read("domainid");
        return Ok((
            project.account_id.into_uuid(),
            project.domain_id.into_uuid(),
        ));
    }
    let Some(name) = p.str("account") else {
        p.mark_read("domainid");
        return Ok((
            caller.account_id().into_uuid(),
            caller.domain_id().into_uuid(),
        ));
    };
    if !(caller.is_root_admin() || caller.is_domain_admin()) {
        if name == caller.user.account_name {
            p.mark_read("domainid");
            return Ok((
                caller.account_id().into_uuid(),
                caller.domain_id().into_uuid(),
            ));
        }
        return Err(not_found(p, "account"));
    }
    let domain_id = match p.uuid("domainid")? {
        Some(id) => {
            let d = db::accounts::domain_fetch(&ctx.pool, id.into())
                .await?
                .ok_or_else(|| not_found(p, "domainid"))?;
            ensure_manages(caller, &d.path)?;
            d.id
        }
        None => caller.domain_id(),
    };
    let a = db::accounts::account_fetch_by_name(&ctx.pool, domain_id, name)
        .await?
        .ok_or_else(|| not_found(p, "account"))?;
    Ok((a.id.into_uuid(), a.domain_id.into_uuid()))
}

/// The synchronous half of createVolume (CloudStack's create phase): checks the request,
/// admits it against the owner's limits, picks its pool and records the volume,
/// Allocated. Answers its id; the job then attaches it when `virtualmachineid` is given.
pub async fn create(ctx: &Ctx, caller: &Caller, r: &requests::CreateVolume<'_>) -> Result<Uuid> {
    let (owner, owner_domain) = new_owner(ctx, caller, r.wire()).await?;
    let vm = match r.virtualmachineid() {
        Some(_) => {
            let vm = owned_vm(ctx, caller, r.wire(), "virtualmachineid").await?;
            if vm.account_id != owner {
                return Err(ApiError::param(
                    "The volume and the VM it is attached to must belong to the same account",
                )
                .into());
            }
            Some(vm)
        }
        None => None,
    };
    let snapshot_zone = match r.snapshotid() {
        Some(_) => Some(
            super::snapshots::owned(ctx, caller, r.wire(), "snapshotid")
                .await?
                .zone_id,
        ),
        None => None,
    };
    let zone_id = match (r.zoneid().or(snapshot_zone), &vm) {
        (Some(z), Some(vm)) if z != vm.zone_id => {
            return Err(ApiError::param(
                "The volume's zone must be the zone of the VM it is attached to",
            )
            .into())
        }
        (Some(z), _) => z,
        (None, Some(vm)) => vm.zone_id,
        (None, None) => {
            return Err(ApiError::param("zoneid is required (or virtualmachineid)").into())
        }
    };
    let zone = db::topology::zone_fetch(&ctx.pool, zone_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "zoneid"))?;
    if zone.allocation_state != crate::rules::states::AllocationState::Enabled
        && !caller.is_root_admin()
    {
        return Err(ApiError::new(
            ErrorCode::ResourceUnavailable,
            format!(
                "Cannot create a volume in zone {}: it is disabled",
                zone.name
            ),
        )
        .into());
    }
    // From a snapshot (issue 16): its size, its zone, its source volume's offering unless
    // one is given; the job writes the snapshot into the new volume's file.
    let snapshot = match r.snapshotid() {
        Some(_) => {
            let s = super::snapshots::owned(ctx, caller, r.wire(), "snapshotid").await?;
            if s.state != crate::rules::snapshots::SnapshotState::BackedUp {
                return Err(ApiError::param(format!(
                    "Snapshot {} is {}: a volume is created from a BackedUp snapshot only",
                    s.name, s.state
                ))
                .into());
            }
            if s.zone_id != zone_id {
                return Err(ApiError::param(format!(
                    "Snapshot {} is in another zone than the one given",
                    s.name
                ))
                .into());
            }
            Some(s)
        }
        None => None,
    };
    let offering_id = match (r.diskofferingid(), &snapshot) {
        (Some(o), _) => o,
        (None, Some(s)) => db::volumes::data_volume_fetch(&ctx.pool, s.volume_id)
            .await?
            .and_then(|v| v.disk_offering_id)
            .ok_or_else(|| {
                ApiError::param(format!(
                    "Snapshot {}'s volume has no disk offering of its own: give diskofferingid",
                    s.name
                ))
            })?,
        (None, None) => {
            return Err(
                ApiError::param("Either diskofferingid or snapshotid must be passed in").into(),
            )
        }
    };
    let offering = db::offerings::disk_offering_fetch(&ctx.pool, offering_id)
        .await?
        .filter(|o| o.removed.is_none())
        .ok_or_else(|| not_found(r.wire(), "diskofferingid"))?;
    let size = match &snapshot {
        // The snapshot's virtual size (CloudStack's too; a given size is not applied).
        Some(s) => {
            r.wire().mark_read("size");
            s.virtual_size
        }
        None => crate::rules::volumes::create_size(offering.disk_size_gb, r.size())
            .map_err(ApiError::param)?,
    };
    let id = VolumeId::new_v4();
    let name = match r.name().map(str::to_string) {
        Some(n) if n.trim().is_empty() || n.chars().any(char::is_control) => {
            return Err(ApiError::param("The volume's name must be printable text").into())
        }
        Some(n) => n,
        None => format!("DATA-{}", id.into_uuid().simple()),
    };
    r.wire().mark_read("displayvolume");
    let want = data_volumes::offering_tags(ctx, offering.id.into_uuid()).await?;
    let cluster = match &vm {
        Some(vm) => {
            let root = db::volumes::volume_root_of_vm(&ctx.pool, vm.id).await?;
            match root {
                Some(r) => db::storage::pool_fetch(&ctx.pool, r.pool_id)
                    .await?
                    .and_then(|p| p.cluster_id),
                None => None,
            }
        }
        None => None,
    };
    let mut tx = ctx.pool.begin().await?;
    // Locks in the order every transaction takes them: the owner's limits, then the
    // zone's pools.
    limits::admit(
        ctx,
        &mut tx,
        owner.into(),
        &[
            (ResourceKind::Volume, 1),
            (ResourceKind::PrimaryStorage, size),
        ],
    )
    .await?;
    let pool =
        data_volumes::choose_data_pool(ctx, &mut tx, zone_id, cluster.map(Into::into), size, &want)
            .await?;
    db::volumes::data_volume_insert(
        &mut *tx,
        &db::volumes::NewDataVolume {
            id,
            name: name.clone(),
            pool_id: pool.into(),
            path: crate::services::vms::volumes::volume_path(id.into()),
            size_bytes: size,
            account_id: owner.into(),
            domain_id: owner_domain.into(),
            zone_id,
            disk_offering_id: offering.id,
        },
    )
    .await?;
    event(
        &mut tx,
        &caller.user,
        "VOLUME.CREATE",
        format!("Volume {name} created"),
        Some(EventResource::new(ResourceType::Volume, id, name.clone())),
    )
    .await?;
    tx.commit().await?;
    Ok(id.into())
}

/// The job half of createVolume: attaches the volume `create` recorded (`id`) when a VM
/// was named, and answers it.
pub async fn create_job(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateVolume<'_>,
) -> Result<Reply> {
    // The create half read these.
    for n in [
        "name",
        "diskofferingid",
        "size",
        "zoneid",
        "account",
        "domainid",
        "projectid",
        "displayvolume",
    ] {
        r.wire().mark_read(n);
    }
    let mut v = owned(ctx, caller, r.wire(), "id").await?;
    if r.snapshotid().is_some() {
        let s = super::snapshots::owned(ctx, caller, r.wire(), "snapshotid").await?;
        if let Err(e) = crate::services::snapshots::fill_volume(ctx, &s, &v).await {
            // No empty volume is left to pass for the snapshot's copy.
            if let Err(d) = data_volumes::delete(ctx, &v).await {
                tracing::warn!(volume = %v.id, error = %d, "removing a volume whose copy failed");
            }
            return Err(e);
        }
        v = owned(ctx, caller, r.wire(), "id").await?;
    }
    if r.virtualmachineid().is_some() {
        let vm = owned_vm(ctx, caller, r.wire(), "virtualmachineid").await?;
        attach_to(ctx, caller, &v, &vm, None).await?;
    }
    volume_reply(ctx, caller, v.id.into_uuid()).await
}

/// A volume being snapshotted is not attached, moved, resized or deleted under the copy
/// (issue 16): 536 until the snapshot is BackedUp or Error.
async fn not_being_snapshotted(ctx: &Ctx, v: &DataVolumeRow) -> Result<()> {
    if db::snapshots::snapshots_in_progress_of_volume(&ctx.pool, v.id.into_uuid()).await? > 0 {
        return Err(ApiError::new(
            ErrorCode::ResourceInUse,
            format!(
                "Volume {} has a snapshot being taken: try again when it is BackedUp",
                v.name
            ),
        )
        .into());
    }
    Ok(())
}

async fn attach_to(
    ctx: &Ctx,
    caller: &Caller,
    v: &DataVolumeRow,
    vm: &db::vms::VmRow,
    device: Option<i64>,
) -> Result<()> {
    data_only(v, "attached")?;
    not_being_snapshotted(ctx, v).await?;
    if let Some(other) = v.vm_id {
        let text = if other == vm.id {
            format!(
                "Volume {} is attached to VM {} already",
                v.name, vm.display_name
            )
        } else {
            format!(
                "Volume {} is attached to another VM: detach it first",
                v.name
            )
        };
        return Err(ApiError::param(text).into());
    }
    if v.account_id != Some(vm.account_id) {
        return Err(ApiError::param(
            "The volume and the VM it is attached to must belong to the same account",
        )
        .into());
    }
    if v.zone_id != Some(vm.zone_id) {
        return Err(ApiError::param(format!(
            "Volume {} is not in the zone of VM {}",
            v.name, vm.display_name
        ))
        .into());
    }
    refuse_with_vm_snapshots(
        ctx,
        vm.id.into_uuid(),
        "Unable to attach volume, please specify a VM that does not have VM snapshots",
    )
    .await?;
    let used = db::volumes::volume_devices_of_vm(&ctx.pool, vm.id).await?;
    let device = crate::rules::volumes::device_for(&used, device).map_err(ApiError::param)?;
    data_volumes::attach(ctx, v, vm.id, device).await?;
    volume_event(
        ctx,
        caller,
        "VOLUME.ATTACH",
        v.id.into_uuid(),
        &v.name,
        &format!("attached to VM {} as device {device}", vm.display_name),
    )
    .await
}

pub async fn attach(ctx: &Ctx, caller: &Caller, r: &requests::AttachVolume<'_>) -> Result<Reply> {
    let v = owned(ctx, caller, r.wire(), "id").await?;
    let vm = owned_vm(ctx, caller, r.wire(), "virtualmachineid").await?;
    attach_to(ctx, caller, &v, &vm, r.deviceid()).await?;
    volume_reply(ctx, caller, v.id.into_uuid()).await
}

pub async fn detach(ctx: &Ctx, caller: &Caller, r: &requests::DetachVolume<'_>) -> Result<Reply> {
    let v = match (r.id(), r.virtualmachineid(), r.deviceid()) {
        (Some(_), None, None) => owned(ctx, caller, r.wire(), "id").await?,
        (None, Some(_), Some(device)) => {
            let vm = owned_vm(ctx, caller, r.wire(), "virtualmachineid").await?;
            let found = match i32::try_from(device) {
                Ok(d) => db::volumes::data_volume_at_device(&ctx.pool, vm.id, d).await?,
                Err(_) => None,
            };
            found.ok_or_else(|| {
                ApiError::param(format!(
                    "VM {} has no volume at deviceId {device}",
                    vm.display_name
                ))
            })?
        }
        _ => {
            return Err(ApiError::param(
                "Please provide either a volume id, or a tuple(device id, instance id)",
            )
            .into())
        }
    };
    data_only(&v, "detached")?;
    if let Some(vm) = v.vm_id {
        refuse_with_vm_snapshots(
            ctx,
            vm.into_uuid(),
            "Unable to detach volume, please specify a VM that does not have VM snapshots",
        )
        .await?;
    }
    let vm_name = match v.vm_id {
        Some(id) => db::vms::vm_fetch(&ctx.pool, id)
            .await?
            .map(|vm| vm.display_name)
            .unwrap_or_default(),
        None => {
            return Err(
                ApiError::param(format!("Volume {} is not attached to a VM", v.name)).into(),
            )
        }
    };
    data_volumes::detach(ctx, &v).await?;
    volume_event(
        ctx,
        caller,
        "VOLUME.DETACH",
        v.id.into_uuid(),
        &v.name,
        &format!("detached from VM {vm_name}"),
    )
    .await?;
    volume_reply(ctx, caller, v.id.into_uuid()).await
}

/// CloudStack's refusal (431) of a change to the volumes of a VM with VM snapshots
/// (issue 16): the snapshots are inside the volumes the VM had when they were taken.
async fn refuse_with_vm_snapshots(ctx: &Ctx, vm: Uuid, text: &str) -> Result<()> {
    if crate::services::vms::vm_snapshots::vm_has_snapshots(ctx, vm.into()).await? {
        return Err(ApiError::param(text).into());
    }
    Ok(())
}

/// The volume's VM, if it has one that is not Stopped.
async fn vm_not_stopped(ctx: &Ctx, v: &DataVolumeRow) -> Result<Option<db::vms::VmRow>> {
    let Some(id) = v.vm_id else {
        return Ok(None);
    };
    Ok(db::vms::vm_fetch(&ctx.pool, id)
        .await?
        .filter(|vm| vm.state != VmState::Stopped))
}

/// The name of the volume's VM if it is not Stopped: what a migration cannot work with.
async fn vm_running(ctx: &Ctx, v: &DataVolumeRow) -> Result<Option<String>> {
    Ok(vm_not_stopped(ctx, v).await?.map(|vm| vm.display_name))
}

pub async fn resize(ctx: &Ctx, caller: &Caller, r: &requests::ResizeVolume<'_>) -> Result<Reply> {
    let v = owned(ctx, caller, r.wire(), "id").await?;
    data_only(&v, "resized")?;
    not_being_snapshotted(ctx, &v).await?;
    if let Some(vm) = v.vm_id {
        refuse_with_vm_snapshots(
            ctx,
            vm.into_uuid(),
            "A volume that is attached to a VM with any VM snapshots cannot be resized.",
        )
        .await?;
    }
    let current = match v.disk_offering_id {
        Some(o) => db::offerings::disk_offering_fetch(&ctx.pool, o).await?,
        None => None,
    };
    let (size, offering) = match (r.diskofferingid(), r.size()) {
        (Some(offering), _) => {
            let o = db::offerings::disk_offering_fetch(&ctx.pool, offering)
                .await?
                .filter(|o| o.removed.is_none())
                .ok_or_else(|| not_found(r.wire(), "diskofferingid"))?;
            let size = crate::rules::volumes::create_size(o.disk_size_gb, r.size())
                .map_err(ApiError::param)?;
            (size, Some(o.id))
        }
        (None, Some(gb)) => {
            if current.as_ref().is_some_and(|o| o.disk_size_gb.is_some()) {
                return Err(ApiError::param(
                    "The volume's disk offering has a fixed size: give a new diskofferingid, or resize a volume of a custom offering",
                )
                .into());
            }
            (
                crate::rules::volumes::gb_bytes(gb).map_err(ApiError::param)?,
                None,
            )
        }
        (None, None) => {
            return Err(ApiError::param("give the new size (in GB) or a diskofferingid").into())
        }
    };
    let shrink_ok = r.shrinkok() == Some(true);
    if !crate::rules::volumes::resize_allowed(v.size_bytes, size, shrink_ok)
        .map_err(ApiError::param)?
    {
        return volume_reply(ctx, caller, v.id.into_uuid()).await;
    }
    // A running VM's volume grows live; it shrinks only with the VM stopped (a live
    // shrink would cut the guest's file system under it). A VM in a transition waits.
    if let Some(vm) = vm_not_stopped(ctx, &v).await? {
        if vm.state != VmState::Running {
            return Err(ApiError::param(format!(
                "Volume {} is attached to VM {}, which is {}: resize it when the VM is Running or Stopped",
                v.name,
                vm.display_name,
                vm.state.as_str()
            ))
            .into());
        }
        if size < v.size_bytes {
            return Err(ApiError::param(format!(
                "Volume {} is attached to VM {}, which is Running: a running VM's volume only grows; stop the VM to shrink it",
                v.name, vm.display_name
            ))
            .into());
        }
    }
    if size > v.size_bytes {
        let owner = v
            .account_id
            .ok_or_else(|| Error::internal("a data volume without an owner"))?;
        let mut tx = ctx.pool.begin().await?;
        limits::admit(
            ctx,
            &mut tx,
            owner,
            &[(ResourceKind::PrimaryStorage, size - v.size_bytes)],
        )
        .await?;
        // The lock on the owner is held while the file grows, so two resizes cannot
        // both take the last room.
        data_volumes::resize(ctx, &v, size, offering.map(Into::into)).await?;
        tx.commit().await?;
    } else {
        data_volumes::resize(ctx, &v, size, offering.map(Into::into)).await?;
    }
    volume_event(
        ctx,
        caller,
        "VOLUME.RESIZE",
        v.id.into_uuid(),
        &v.name,
        &format!("resized from {} to {size} bytes", v.size_bytes),
    )
    .await?;
    volume_reply(ctx, caller, v.id.into_uuid()).await
}

pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteVolume<'_>) -> Result<Reply> {
    let v = owned(ctx, caller, r.wire(), "id").await?;
    data_only(&v, "deleted")?;
    if v.vm_id.is_some() {
        return Err(ApiError::new(
            ErrorCode::ResourceInUse,
            format!(
                "Please specify a volume that is not attached to any VM: volume {} is attached",
                v.name
            ),
        )
        .into());
    }
    not_being_snapshotted(ctx, &v).await?;
    data_volumes::delete(ctx, &v).await?;
    // Its snapshots stay (they are the point of having them); its policies go.
    db::snapshots::policies_delete_of_volume(&ctx.pool, v.id.into_uuid()).await?;
    volume_event(
        ctx,
        caller,
        "VOLUME.DELETE",
        v.id.into_uuid(),
        &v.name,
        "deleted",
    )
    .await?;
    Ok(Reply::Success { displaytext: None })
}

pub async fn migrate(ctx: &Ctx, caller: &Caller, r: &requests::MigrateVolume<'_>) -> Result<Reply> {
    let v = owned(ctx, caller, r.wire(), "volumeid").await?;
    if let Some(vm) = vm_running(ctx, &v).await? {
        let live = r.livemigrate() == Some(true);
        return Err(ApiError::param(format!(
            "Volume {} is attached to VM {vm}, which is not Stopped: {}",
            v.name,
            if live {
                "live volume migration is not available yet; stop the VM"
            } else {
                "stop the VM or detach the volume to migrate it"
            }
        ))
        .into());
    }
    r.wire().mark_read("livemigrate");
    not_being_snapshotted(ctx, &v).await?;
    let pool = db::storage::pool_fetch(&ctx.pool, r.storageid())
        .await?
        .ok_or_else(|| not_found(r.wire(), "storageid"))?;
    if Some(pool.zone_id) != v.zone_id {
        return Err(ApiError::param(format!(
            "Storage pool {} is not in the volume's zone",
            pool.name
        ))
        .into());
    }
    if pool.id == v.pool_id {
        return Err(ApiError::param(format!(
            "Volume {} is on storage pool {} already",
            v.name, pool.name
        ))
        .into());
    }
    if !pool.state.takes_volumes() {
        return Err(ApiError::param(format!(
            "Storage pool {} is {}: volumes go to Up pools only",
            pool.name, pool.state
        ))
        .into());
    }
    if v.volume_type == "ROOT" || v.vm_id.is_some() {
        // A stopped VM's volumes must stay where its cluster reaches them.
        if let (Some(c), Some(root_pool)) = (
            pool.cluster_id,
            match v.vm_id {
                Some(vm) => db::volumes::volume_root_of_vm(&ctx.pool, vm).await?,
                None => None,
            },
        ) {
            let root = db::storage::pool_fetch(&ctx.pool, root_pool.pool_id).await?;
            if root.and_then(|r| r.cluster_id).is_some_and(|rc| rc != c) {
                return Err(ApiError::param(format!(
                    "Storage pool {} is not reached by the cluster of the volume's VM",
                    pool.name
                ))
                .into());
            }
        }
    }
    if v.volume_type == "ROOT" && v.template_id.is_some() {
        return Err(ApiError::param(format!(
            "Volume {} is an overlay on a template copy: migrating it is not available yet",
            v.name
        ))
        .into());
    }
    data_volumes::migrate(ctx, &v, &pool).await?;
    volume_event(
        ctx,
        caller,
        "VOLUME.MIGRATE",
        v.id.into_uuid(),
        &v.name,
        &format!("migrated to storage pool {}", pool.name),
    )
    .await?;
    volume_reply(ctx, caller, v.id.into_uuid()).await
}
