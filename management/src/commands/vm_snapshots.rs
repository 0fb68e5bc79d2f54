//! VM snapshots (issue 16): createVMSnapshot, listVMSnapshot, revertToVMSnapshot and
//! deleteVMSnapshot with CloudStack's parameters, rules, texts and answers
//! (VMSnapshotResponse). The work is `services::vms::vm_snapshots` (workflows); which VM
//! state allows what is `rules::vmsnapshot`.
//!
//! createVMSnapshot is async-create, as CloudStack's (BaseAsyncCreateCmd): the request is
//! checked and the snapshot recorded (Allocated) at once, so its refusals are immediate;
//! the job takes it.

use super::requests;
use crate::db::tags::TagType;
use stratus_api::envelope::Reply;
use stratus_api::types::VmSnapshotResponse;
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use super::{list_filter, not_found};
use crate::ctx::Ctx;
use crate::db;
use crate::db::vm_snapshots::{VmSnapshotListRow, VmSnapshotRow};
use crate::error::Result;
use crate::ids::VmSnapshotId;
use crate::rules::vmsnapshot::{self, VmSnapshotState, VmSnapshotType};
use crate::services::auth::Caller;
use crate::services::vms::vm_snapshots as work;
use crate::settings;

/// The live snapshot `p[name]` names, if the caller may use its VM's owner's things.
async fn owned(ctx: &Ctx, caller: &Caller, p: &Params, name: &str) -> Result<VmSnapshotRow> {
    let id = VmSnapshotId::from(p.required_uuid(name)?);
    match db::vm_snapshots::vmsnap_fetch(&ctx.pool, id).await? {
        Some(s) if super::projects::may_use(ctx, caller, s.account_id.into_uuid()).await? => Ok(s),
        _ => Err(not_found(p, name)),
    }
}

/// The synchronous half of createVMSnapshot: CloudStack's checks (allocVMSnapshot), then
/// the snapshot recorded, Allocated, under the VM's row lock (so two requests cannot
/// both take the last of `vmsnapshot.max`). Answers its id.
pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateVMSnapshot<'_>,
) -> Result<Uuid> {
    let vm = super::vms::owned(ctx, caller, r.wire(), "virtualmachineid").await?;
    let vm = vm.vm;
    let memory = r.snapshotmemory() == Some(true);
    let now = chrono::Utc::now();
    let name = format!("{}_VS_{}", vm.name, now.format("%Y%m%d%H%M%S"));
    let display = match r.name().map(str::to_string) {
        Some(n) if n.trim().is_empty() || n.chars().any(char::is_control) => {
            return Err(ApiError::param("The VM snapshot's name must be printable text").into())
        }
        Some(n) => n,
        None => name.clone(),
    };
    let description = r.description().map(str::to_string);
    let mut tx = ctx.pool.begin().await?;
    let locked = db::vms::vm_fetch_for_update(&mut *tx, vm.id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "virtualmachineid"))?;
    if db::vm_snapshots::vmsnap_display_name_taken(&mut *tx, vm.id, &display).await? {
        return Err(ApiError::param(format!(
            "Creating VM snapshot failed due to VM snapshot with name{display}  already exists"
        ))
        .into());
    }
    vmsnapshot::may_create(&vm.id.to_string(), locked.state, memory).map_err(ApiError::param)?;
    let max = ctx.get(&settings::VMSNAPSHOT_MAX);
    if db::vm_snapshots::vmsnap_count_of_vm(&mut *tx, vm.id).await? >= max {
        return Err(ApiError::new(
            ErrorCode::Internal,
            format!(
                "Creating vm snapshot failed due to a VM can just have : {max} VM snapshots. Please delete old ones"
            ),
        )
        .into());
    }
    let parent = db::vm_snapshots::vmsnap_of_vm(&mut *tx, vm.id)
        .await?
        .into_iter()
        .find(|s| s.is_current)
        .map(|s| s.id);
    let id = VmSnapshotId::new_v4();
    db::vm_snapshots::vmsnap_insert(
        &mut *tx,
        &db::vm_snapshots::NewVmSnapshot {
            id,
            vm_id: vm.id,
            name: &name,
            display_name: &display,
            description: description.as_deref(),
            snapshot_type: if memory {
                VmSnapshotType::DiskAndMemory
            } else {
                VmSnapshotType::Disk
            },
            parent_id: parent,
            account_id: vm.account_id,
            domain_id: vm.domain_id,
            zone_id: vm.zone_id,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id.into_uuid())
}

/// The job half of createVMSnapshot: the snapshot `create` recorded (`id`) is taken.
pub async fn create_job(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateVMSnapshot<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    for n in ["name", "description", "snapshotmemory", "virtualmachineid"] {
        r.wire().mark_read(n);
    }
    let snap = owned(ctx, caller, r.wire(), "id").await?;
    work::create(
        ctx,
        job.map(Into::into),
        work::Create {
            snapshot: snap.id,
            vm: snap.vm_id,
        },
    )
    .await?;
    reply(ctx, snap.id).await
}

pub async fn revert(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RevertToVMSnapshot<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let snap = owned(ctx, caller, r.wire(), "vmsnapshotid").await?;
    work::revert(
        ctx,
        job.map(Into::into),
        work::Revert {
            snapshot: snap.id,
            vm: snap.vm_id,
        },
    )
    .await?;
    let vm = crate::services::vms::view(ctx, snap.vm_id.into_uuid()).await?;
    super::vms::vm_reply(ctx, &vm).await
}

pub async fn delete(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteVMSnapshot<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let snap = owned(ctx, caller, r.wire(), "vmsnapshotid").await?;
    work::delete(
        ctx,
        job.map(Into::into),
        work::Delete {
            snapshot: snap.id,
            vm: snap.vm_id,
        },
    )
    .await?;
    Ok(Reply::Success { displaytext: None })
}

async fn reply(ctx: &Ctx, id: VmSnapshotId) -> Result<Reply> {
    let f = db::vm_snapshots::VmSnapshotFilter {
        common: db::ListFilter {
            id: Some(id.into_uuid()),
            ..Default::default()
        },
        ..Default::default()
    };
    let (rows, _) = db::vm_snapshots::vmsnap_list(&ctx.pool, &f).await?;
    let r = rows
        .first()
        .ok_or_else(|| crate::error::Error::internal("the VM snapshot vanished"))?;
    let tags = super::tags::tags_of_one(ctx, TagType::VmSnapshot, id.into_uuid()).await?;
    Ok(Reply::object("vmsnapshot", &response(r, tags)))
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListVMSnapshot<'_>) -> Result<Reply> {
    let (account_id, account_ids, skip_projects) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::Own)
            .await?
            .split();
    let mut common = list_filter(ctx, r.wire())?;
    common.id = r.vmsnapshotid().map(Into::into);
    common.ids = r
        .vmsnapshotids()
        .map(|l| l.iter().map(|i| i.into_uuid()).collect());
    // CloudStack's spelling of a state whatever the case; an unknown one matches none.
    let state = r.state().map(|s| match VmSnapshotState::parse_any_case(s) {
        Some(st) => st.as_str().to_string(),
        None => s.to_string(),
    });
    let f = db::vm_snapshots::VmSnapshotFilter {
        common,
        account_id: account_id.map(Into::into),
        account_ids,
        skip_projects,
        vm_id: r.virtualmachineid(),
        state,
        tags: super::tags::wanted(r.wire())?,
    };
    let (rows, total) = db::vm_snapshots::vmsnap_list(&ctx.pool, &f).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.snap.id.into_uuid()).collect();
    let mut tags = super::tags::tags_of(ctx, TagType::VmSnapshot, &ids).await?;
    let items: Vec<VmSnapshotResponse> = rows
        .iter()
        .map(|r| response(r, tags.remove(&r.snap.id.into_uuid()).unwrap_or_default()))
        .collect();
    Ok(Reply::list("vmSnapshot", total, &items))
}

fn response(r: &VmSnapshotListRow, tags: Vec<serde_json::Value>) -> VmSnapshotResponse {
    let s = &r.snap;
    VmSnapshotResponse {
        id: Some(s.id.into_uuid()),
        name: Some(s.name.clone()),
        state: Some(s.state.to_string()),
        description: s.description.clone(),
        displayname: Some(s.display_name.clone()),
        zoneid: Some(s.zone_id.into_uuid()),
        zonename: Some(r.zone_name.clone()),
        virtualmachineid: Some(s.vm_id.into_uuid()),
        virtualmachinename: Some(r.vm_display_name.clone()),
        parent: s.parent_id.map(|p| p.into_uuid()),
        parentName: r.parent_name.clone(),
        current: Some(s.is_current),
        r#type: Some(s.snapshot_type.as_str().to_string()),
        created: Some(s.created.into()),
        account: Some(r.account_name.clone()),
        projectid: r.project_id,
        project: r.project_name.clone(),
        domainid: Some(s.domain_id.into_uuid()),
        domain: Some(r.domain_name.clone()),
        domainpath: Some(r.domain_path.clone()),
        hypervisor: Some("KVM".into()),
        tags,
    }
}
