//! Volume snapshots and snapshot policies (issue 16): createSnapshot, listSnapshots,
//! deleteSnapshot, revertSnapshot; createSnapshotPolicy, listSnapshotPolicies,
//! updateSnapshotPolicy, deleteSnapshotPolicies — CloudStack's parameters, rules and
//! answers. The work on files and hosts is `crate::services::snapshots`; schedules are
//! `rules::snapshots`.
//!
//! A snapshot belongs to its volume's owner and is the caller's to use when that owner
//! is (`projects::may_use`); one that is not answers as if it did not exist.
//! createSnapshot is async-create as in CloudStack: the row is recorded Allocated (and
//! counted against the owner's `snapshot` limit) before the job, whose id comes back
//! with the snapshot's.

use super::requests;
use crate::db::tags::TagType;
use stratus_api::envelope::Reply;
use stratus_api::types::{SnapshotPolicyResponse, SnapshotResponse};
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use super::{list_filter, not_found};
use crate::ctx::Ctx;
use crate::db;
use crate::db::events::{event, EventResource, ResourceType};
use crate::db::snapshots::{PolicyRow, SnapshotListRow, SnapshotRow};
use crate::db::volumes::DataVolumeRow;
use crate::error::{Error, Result};
use crate::ids::{SnapshotId, SnapshotPolicyId};
use crate::rules::limits::ResourceKind;
use crate::rules::snapshots::{self as rules, IntervalType, SnapshotState};
use crate::rules::states::VolumeState;
use crate::rules::vmstate::VmState;
use crate::services::auth::Caller;
use crate::services::{limits, snapshots};

/// The live volume `p[name]` names, if the caller may use it.
async fn owned_volume(ctx: &Ctx, caller: &Caller, p: &Params, name: &str) -> Result<DataVolumeRow> {
    let id = p.required_uuid(name)?;
    match db::volumes::data_volume_fetch(&ctx.pool, id.into()).await? {
        Some(v) => match v.account_id {
            Some(a) if super::projects::may_use(ctx, caller, a.into_uuid()).await? => Ok(v),
            _ => Err(not_found(p, name)),
        },
        None => Err(not_found(p, name)),
    }
}

/// The live snapshot `p[name]` names, if the caller may use it.
pub(super) async fn owned(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    name: &str,
) -> Result<SnapshotRow> {
    let id: SnapshotId = p.required_uuid(name)?.into();
    match db::snapshots::snapshot_fetch(&ctx.pool, id).await? {
        Some(s)
            if s.removed.is_none()
                && super::projects::may_use(ctx, caller, s.account_id.into_uuid()).await? =>
        {
            Ok(s)
        }
        _ => Err(not_found(p, name)),
    }
}

fn response(r: &SnapshotListRow, tags: Vec<serde_json::Value>) -> SnapshotResponse {
    let s = &r.snapshot;
    SnapshotResponse {
        id: Some(s.id.into()),
        account: Some(r.account_name.clone()),
        domainid: Some(s.domain_id.into_uuid()),
        domain: Some(r.domain_name.clone()),
        domainpath: Some(r.domain_path.clone()),
        projectid: r.project_id,
        project: r.project_name.clone(),
        snapshottype: Some(s.interval_type.snapshot_type().into()),
        volumeid: Some(s.volume_id.into_uuid()),
        volumename: Some(r.volume_name.clone()),
        volumetype: Some(r.volume_type.clone()),
        volumestate: Some(r.volume_state.clone()),
        created: Some(s.created.into()),
        name: Some(s.name.clone()),
        intervaltype: Some(s.interval_type.as_str().into()),
        state: Some(s.state.as_str().into()),
        physicalsize: Some(s.physical_size),
        virtualsize: Some(s.virtual_size),
        zoneid: Some(s.zone_id.into_uuid()),
        zonename: Some(r.zone_name.clone()),
        // A BackedUp snapshot of a live volume can be written back onto it.
        revertable: Some(s.state == SnapshotState::BackedUp && r.volume_state == "Ready"),
        ostypeid: r.os_type_id.map(Into::into),
        osdisplayname: r.os_display_name.clone(),
        locationtype: None,
        datastoreid: s.image_store_id.map(Into::into),
        datastorename: r.store_name.clone(),
        datastoretype: s.image_store_id.map(|_| "ImageStore".into()),
        hasannotations: Some(false),
        tags,
    }
}

async fn snapshot_reply(ctx: &Ctx, id: SnapshotId) -> Result<Reply> {
    let f = db::snapshots::SnapshotFilter {
        common: db::ListFilter {
            id: Some(id.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let (rows, _) = db::snapshots::snapshot_list(&ctx.pool, &f).await?;
    let r = rows
        .first()
        .ok_or_else(|| Error::internal("the snapshot vanished"))?;
    let tags = super::tags::tags_of_one(ctx, TagType::Snapshot, id.into()).await?;
    Ok(Reply::object("snapshot", &response(r, tags)))
}

async fn snapshot_event(
    ctx: &Ctx,
    caller: &Caller,
    kind: &str,
    s: &SnapshotRow,
    what: &str,
) -> Result<()> {
    let mut tx = ctx.pool.begin().await?;
    event(
        &mut tx,
        &caller.user,
        kind,
        format!("Snapshot {} {what}", s.name),
        Some(EventResource::new(
            ResourceType::Volume,
            s.volume_id,
            s.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The synchronous half of createSnapshot: checks the request, admits it against the
/// owner's `snapshot` limit and records the snapshot, Allocated. Answers its id.
pub async fn create(ctx: &Ctx, caller: &Caller, r: &requests::CreateSnapshot<'_>) -> Result<Uuid> {
    let v = owned_volume(ctx, caller, r.wire(), "volumeid").await?;
    // CloudStack's KVM refuses to quiesce (no guest agent freeze): so do we, rather than
    // claim a consistency we did not give.
    if r.quiescevm() == Some(true) {
        return Err(ApiError::param(
            "Quiesce VM is not supported for KVM volume snapshots: take it without quiescevm",
        )
        .into());
    }
    // The copy always goes to secondary storage, and the job answers once it is there:
    // both values are fine; others are not.
    match r.locationtype() {
        None => {}
        Some(l) if l.eq_ignore_ascii_case("primary") || l.eq_ignore_ascii_case("secondary") => {}
        Some(l) => {
            return Err(ApiError::param(format!(
            "Invalid locationType {} specified for volume {}. Valid values are: primary,secondary",
            stratus_api::params::shown(l),
            v.id
        ))
            .into())
        }
    }
    r.wire().mark_read("asyncbackup");
    // `account`/`domainid` only name whose volume it is: the snapshot is the volume's owner's.
    r.wire().mark_read("account");
    r.wire().mark_read("domainid");
    if v.state != VolumeState::Ready {
        return Err(ApiError::param(format!(
            "Volume {} is {}: only a Ready volume (one that has been attached once) can be snapshotted",
            v.name, v.state
        ))
        .into());
    }
    let (interval, policy) = match r.policyid() {
        None => (IntervalType::Manual, None),
        Some(id) => {
            let pol = db::snapshots::policy_fetch(&ctx.pool, id.into())
                .await?
                .filter(|pol| pol.volume_id == v.id)
                .ok_or_else(|| not_found(r.wire(), "policyid"))?;
            (pol.interval_type, Some(pol.id))
        }
    };
    let vm = match v.vm_id {
        Some(id) => db::vms::vm_fetch(&ctx.pool, id).await?,
        None => None,
    };
    if let Some(vm) = &vm {
        if !matches!(vm.state, VmState::Running | VmState::Stopped) {
            return Err(ApiError::new(
                ErrorCode::ResourceInUse,
                format!(
                    "VM {} is {}: a snapshot of its volume is taken while it is Running or Stopped",
                    vm.display_name, vm.state
                ),
            )
            .into());
        }
    }
    let owner = v
        .account_id
        .ok_or_else(|| Error::internal("a volume without an owner"))?;
    let domain = v
        .domain_id
        .ok_or_else(|| Error::internal("a volume without a domain"))?;
    let zone_id = v
        .zone_id
        .ok_or_else(|| Error::internal("a volume without a zone"))?;
    let id = SnapshotId::new_v4();
    let name = match r.name().map(str::to_string) {
        Some(n) if n.trim().is_empty() || n.chars().any(char::is_control) => {
            return Err(ApiError::param("The snapshot's name must be printable text").into())
        }
        Some(n) => n,
        // CloudStack's: <vm>_<volume>_<yyyyMMddHHmmss> ("detached" for no VM).
        None => format!(
            "{}_{}_{}",
            vm.as_ref()
                .map(|vm| vm.display_name.clone())
                .unwrap_or_else(|| "detached".into()),
            v.name,
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        ),
    };
    let mut tx = ctx.pool.begin().await?;
    limits::admit(ctx, &mut tx, owner, &[(ResourceKind::Snapshot, 1)]).await?;
    db::snapshots::snapshot_insert(
        &mut *tx,
        &db::snapshots::NewSnapshot {
            id,
            name: name.clone(),
            account_id: owner,
            domain_id: domain,
            volume_id: v.id,
            zone_id,
            virtual_size: v.size_bytes,
            interval_type: interval,
            policy_id: policy,
            slot: None,
        },
    )
    .await?;
    event(
        &mut tx,
        &caller.user,
        "SNAPSHOT.CREATE",
        format!("Snapshot {name} of volume {} requested", v.name),
        Some(EventResource::new(
            ResourceType::Volume,
            v.id,
            v.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(id.into())
}

/// The job half of createSnapshot: the workflow, then the snapshot as listSnapshots
/// shows it.
pub async fn create_job(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateSnapshot<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    for n in [
        "volumeid",
        "name",
        "policyid",
        "quiescevm",
        "asyncbackup",
        "locationtype",
        "account",
        "domainid",
    ] {
        r.wire().mark_read(n);
    }
    let s = owned(ctx, caller, r.wire(), "id").await?;
    let vol = db::volumes::data_volume_fetch(&ctx.pool, s.volume_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "volumeid"))?;
    snapshots::create(
        ctx,
        job.map(Into::into),
        snapshots::Create {
            snapshot: s.id,
            volume: s.volume_id,
            vm: vol.vm_id,
        },
    )
    .await?;
    snapshot_reply(ctx, s.id).await
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListSnapshots<'_>) -> Result<Reply> {
    let (account_id, account_ids, skip_projects) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::Own)
            .await?
            .split();
    let recurring = match r.snapshottype() {
        None => None,
        Some(t) if t.eq_ignore_ascii_case("MANUAL") => Some(false),
        Some(t) if t.eq_ignore_ascii_case("RECURRING") => Some(true),
        Some(t) => {
            return Err(ApiError::param(format!(
                "Unsupported snapshot type {}: valid values are MANUAL and RECURRING",
                stratus_api::params::shown(t)
            ))
            .into())
        }
    };
    let interval_type = match r.intervaltype() {
        None => None,
        Some(t) => Some(IntervalType::parse_policy(t).ok_or_else(|| {
            ApiError::param(format!(
                "Unsupported interval type {}: valid values are HOURLY, DAILY, WEEKLY and MONTHLY",
                stratus_api::params::shown(t)
            ))
        })?),
    };
    let f = db::snapshots::SnapshotFilter {
        common: list_filter(ctx, r.wire())?,
        account_id: account_id.map(Into::into),
        account_ids,
        skip_projects,
        volume_id: r.volumeid(),
        zone_id: r.zoneid(),
        interval_type,
        recurring,
        policy_id: None,
        tags: super::tags::wanted(r.wire())?,
    };
    let (rows, total) = db::snapshots::snapshot_list(&ctx.pool, &f).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.snapshot.id.into()).collect();
    let mut tags = super::tags::tags_of(ctx, TagType::Snapshot, &ids).await?;
    let items: Vec<SnapshotResponse> = rows
        .iter()
        .map(|r| response(r, tags.remove(&r.snapshot.id.into()).unwrap_or_default()))
        .collect();
    Ok(Reply::list("snapshot", total, items))
}

pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteSnapshot<'_>) -> Result<Reply> {
    let s = owned(ctx, caller, r.wire(), "id").await?;
    snapshots::delete(ctx, &s).await?;
    snapshot_event(ctx, caller, "SNAPSHOT.DELETE", &s, "deleted").await?;
    Ok(Reply::Success { displaytext: None })
}

pub async fn revert(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RevertSnapshot<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let s = owned(ctx, caller, r.wire(), "id").await?;
    if s.state != SnapshotState::BackedUp {
        return Err(ApiError::param(format!(
            "Snapshot {} is {}: only a BackedUp snapshot can be reverted to",
            s.name, s.state
        ))
        .into());
    }
    let v = db::volumes::data_volume_fetch(&ctx.pool, s.volume_id)
        .await?
        .filter(|v| v.state == VolumeState::Ready)
        .ok_or_else(|| {
            ApiError::param(format!(
                "Snapshot {}'s volume is gone: create a volume from it instead",
                s.name
            ))
        })?;
    if let Some(id) = v.vm_id {
        if let Some(vm) = db::vms::vm_fetch(&ctx.pool, id).await? {
            if vm.state != VmState::Stopped {
                return Err(ApiError::param(format!(
                    "VM {} is {}: stop it (or detach the volume) to revert volume {} to a snapshot",
                    vm.display_name, vm.state, v.name
                ))
                .into());
            }
        }
    }
    snapshots::revert(
        ctx,
        job.map(Into::into),
        snapshots::Revert {
            snapshot: s.id,
            volume: v.id,
            vm: v.vm_id,
        },
    )
    .await?;
    snapshot_event(
        ctx,
        caller,
        "SNAPSHOT.REVERT",
        &s,
        &format!("written back onto volume {}", v.name),
    )
    .await?;
    snapshot_reply(ctx, s.id).await
}

// --- Snapshot policies ----------------------------------------------------------------

/// CloudStack's `intervaltype` of a policy: HOURLY 0, DAILY 1, WEEKLY 2, MONTHLY 3.
fn interval_ordinal(i: IntervalType) -> i32 {
    match i {
        IntervalType::Hourly => 0,
        IntervalType::Daily => 1,
        IntervalType::Weekly => 2,
        IntervalType::Monthly => 3,
        IntervalType::Manual => 4,
    }
}

/// A policy as CloudStack answers it: `fordisplay` is a root admin's field only
/// (`authorized = {RoleType.Admin}` in its SnapshotPolicyResponse).
fn policy_response(r: &PolicyRow, admin: bool) -> SnapshotPolicyResponse {
    SnapshotPolicyResponse {
        id: Some(r.id.into()),
        volumeid: Some(r.volume_id.into_uuid()),
        schedule: Some(r.schedule.clone()),
        intervaltype: Some(interval_ordinal(r.interval_type)),
        maxsnaps: Some(r.max_snaps),
        timezone: Some(r.timezone.clone()),
        fordisplay: admin.then_some(r.display),
        tags: vec![],
    }
}

/// The most snapshots a policy may keep (CloudStack's `snapshot.max.<interval>`
/// defaults are 8; its ceiling per policy is the account's snapshot limit).
const MAX_SNAPS_CEILING: i64 = 1000;

pub async fn create_policy(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateSnapshotPolicy<'_>,
) -> Result<Reply> {
    let v = owned_volume(ctx, caller, r.wire(), "volumeid").await?;
    let raw = r.intervaltype();
    let interval = IntervalType::parse_policy(raw).ok_or_else(|| {
        ApiError::param(format!(
            "Unsupported interval type {}: valid values are HOURLY, DAILY, WEEKLY and MONTHLY",
            stratus_api::params::shown(raw)
        ))
    })?;
    let schedule = r.schedule();
    rules::parse_schedule(interval, schedule).map_err(ApiError::param)?;
    let tz = r.timezone();
    rules::parse_timezone(tz).map_err(ApiError::param)?;
    let max = r.maxsnaps();
    if !(1..=MAX_SNAPS_CEILING).contains(&max) {
        return Err(ApiError::param(format!(
            "maxSnaps must be 1 to {MAX_SNAPS_CEILING}, not {max}"
        ))
        .into());
    }
    r.wire().mark_read("tags");
    let display = r.fordisplay().unwrap_or(true);
    let row = db::snapshots::policy_upsert(
        &ctx.pool,
        SnapshotPolicyId::new_v4(),
        v.id.into_uuid(),
        interval,
        schedule,
        tz,
        max as i32,
        display,
    )
    .await?;
    let mut tx = ctx.pool.begin().await?;
    event(
        &mut tx,
        &caller.user,
        "SNAPSHOTPOLICY.CREATE",
        format!(
            "Snapshot policy {} ({schedule} {tz}, keep {max}) for volume {}",
            interval.as_str(),
            v.name
        ),
        Some(EventResource::new(
            ResourceType::Volume,
            v.id,
            v.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object(
        "snapshotpolicy",
        &policy_response(&row, caller.is_root_admin()),
    ))
}

/// The policy `p[name]` names, if the caller may use its volume.
async fn owned_policy(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    id: Uuid,
    name: &str,
) -> Result<PolicyRow> {
    let pol = db::snapshots::policy_fetch(&ctx.pool, id.into())
        .await?
        .ok_or_else(|| not_found(p, name))?;
    let v = db::volumes::data_volume_fetch(&ctx.pool, pol.volume_id)
        .await?
        .ok_or_else(|| not_found(p, name))?;
    match v.account_id {
        Some(a) if super::projects::may_use(ctx, caller, a.into_uuid()).await? => Ok(pol),
        _ => Err(not_found(p, name)),
    }
}

pub async fn list_policies(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListSnapshotPolicies<'_>,
) -> Result<Reply> {
    let rows = match (r.volumeid(), r.id()) {
        (Some(_), id) => {
            let v = owned_volume(ctx, caller, r.wire(), "volumeid").await?;
            db::snapshots::policies_of_volume(&ctx.pool, Some(v.id.into_uuid()), id).await?
        }
        (None, Some(id)) => vec![owned_policy(ctx, caller, r.wire(), id.into_uuid(), "id").await?],
        (None, None) => return Err(ApiError::param("Either volumeid or id is required").into()),
    };
    let display = r.fordisplay();
    let items: Vec<SnapshotPolicyResponse> = rows
        .iter()
        .filter(|r| display.is_none_or(|d| r.display == d))
        .map(|r| policy_response(r, caller.is_root_admin()))
        .collect();
    let page = r.wire().page(ctx.page_size())?;
    let total = items.len() as i64;
    let items: Vec<_> = items
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit.map_or(usize::MAX, |l| l as usize))
        .collect();
    Ok(Reply::list("snapshotpolicy", total, items))
}

pub async fn update_policy(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateSnapshotPolicy<'_>,
) -> Result<Reply> {
    let id = r.id();
    owned_policy(ctx, caller, r.wire(), id.into_uuid(), "id").await?;
    r.wire().mark_read("customid");
    let row = db::snapshots::policy_update(&ctx.pool, id, r.fordisplay())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    Ok(Reply::object(
        "snapshotpolicy",
        &policy_response(&row, caller.is_root_admin()),
    ))
}

pub async fn delete_policies(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteSnapshotPolicies<'_>,
) -> Result<Reply> {
    let ids: Vec<Uuid> = match (
        r.id(),
        r.ids()
            .map(|l| l.iter().map(|i| i.into_uuid()).collect::<Vec<_>>()),
    ) {
        (Some(id), None) => vec![id.into_uuid()],
        (None, Some(ids)) if !ids.is_empty() => ids,
        _ => return Err(ApiError::param("Either id or ids must be given (not both)").into()),
    };
    // All checked before any is deleted: one the caller may not touch refuses the lot.
    for id in &ids {
        owned_policy(
            ctx,
            caller,
            r.wire(),
            *id,
            if r.id().is_some() { "id" } else { "ids" },
        )
        .await?;
    }
    for id in ids {
        db::snapshots::policy_delete(&ctx.pool, id.into()).await?;
    }
    Ok(Reply::Success { displaytext: None })
}
