//! VM snapshots (issue 16): createVMSnapshot, revertToVMSnapshot and deleteVMSnapshot
//! on the workflow engine, the way CloudStack's KVM does them: qcow2 internal snapshots
//! inside every volume of the VM (its root and attached data volumes), named by the
//! snapshot's id.
//!
//! - A **running** VM's snapshot includes its memory (`DiskAndMemory`): its host's agent
//!   has libvirt take an internal snapshot (QEMU's savevm writes the disks' state and the
//!   guest's memory into the volumes' own files on NFS). CloudStack's KVM refuses a
//!   disk-only snapshot of a running VM, and so does Stratus (`rules::vmsnapshot`): QEMU
//!   has no consistent disk-only internal snapshot of a running guest across disks that
//!   libvirt 9.0 drives, and an external one would turn the volumes into chains.
//! - A **stopped** VM's snapshot is disk-only (`Disk`): this server runs `qemu-img
//!   snapshot` on each volume over NFS (as it creates volumes), nothing on a host.
//!
//! Where the snapshot lives: in the volumes, so it survives any restart and is the same
//! from every host. libvirt's record of a snapshot with memory lives on one host and goes
//! whenever the domain is undefined (every stop), so the XML the agent answered is kept
//! in the row and handed back: the agent defines it again before a revert or a delete.
//! Because the snapshot is inside the volumes, a VM with snapshots cannot move (live
//! migration: libvirt refuses snapshots' metadata there too, and CloudStack refuses) and
//! its volumes cannot be attached, detached or resized (CloudStack's rules; checked in
//! the commands and in `migrate`).
//!
//! | workflow | step | do | undo |
//! |---|---|---|---|
//! | Create | Prepare | the row Creating | — (`failed`: Error, as CloudStack) |
//! | Create | Take | the snapshot taken (agent, or qemu-img on each volume) | deleted again |
//! | Create | Record | Ready, the VM's current snapshot | — |
//! | Revert | Prepare | the VM's state allows it; the row Reverting | Ready again |
//! | Revert | Revert | the VM's disks (and memory) back at the snapshot | — (the disks changed) |
//! | Revert | Record | the snapshot is current, Ready | — |
//! | Delete | Prepare | the row Expunging | Ready again |
//! | Delete | Remove | the snapshot deleted from the volumes | — |
//! | Delete | Record | the row Removed (children take its parent) | — |

use std::time::Duration;

use crate::ids::{JobId, VmId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stratus_api::agent::vm_snapshots::{CreateVmSnapshot, DeleteVmSnapshot, RevertVmSnapshot};
use stratus_api::{ApiError, ErrorCode};
use uuid::Uuid;

use super::{host_of, volumes};
use crate::clients::nfs::NfsUrl;
use crate::ctx::Ctx;
use crate::db;
use crate::db::events::{EventResource, ResourceType};
use crate::db::vm_snapshots::VmSnapshotRow;
use crate::error::{Error, Result};
use crate::ids::VmSnapshotId;
use crate::rules::states::VolumeState;
use crate::rules::vmsnapshot::{self, VmSnapshotState, VmSnapshotType};
use crate::rules::vmstate::VmState;
use crate::services::agents::Agent;
use crate::services::workflow::{self, Kind, Outputs, Resource, Steps, Workflow};

/// How long a host may take to write a guest's memory and disks' state (TCG guests on
/// NFS: tens of seconds for 512 MiB), or load them back.
const SNAPSHOT_BUDGET: Duration = Duration::from_secs(600);

pub async fn create(ctx: &Ctx, job: Option<JobId>, w: Create) -> Result<()> {
    workflow::run(ctx, job, w).await
}
pub async fn revert(ctx: &Ctx, job: Option<JobId>, w: Revert) -> Result<()> {
    workflow::run(ctx, job, w).await
}
pub async fn delete(ctx: &Ctx, job: Option<JobId>, w: Delete) -> Result<()> {
    workflow::run(ctx, job, w).await
}

/// Whether the VM has snapshots (which keep it and its volumes where they are).
pub async fn vm_has_snapshots(ctx: &Ctx, vm: VmId) -> Result<bool> {
    Ok(db::vm_snapshots::vmsnap_count_of_vm(&ctx.pool, vm).await? > 0)
}

async fn vm_row(ctx: &Ctx, id: Uuid) -> Result<db::vms::VmRow> {
    db::vms::vm_fetch(&ctx.pool, id.into())
        .await?
        .ok_or_else(|| Error::internal("the VM vanished"))
}

async fn snap_row(ctx: &Ctx, id: VmSnapshotId) -> Result<VmSnapshotRow> {
    db::vm_snapshots::vmsnap_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("the VM snapshot vanished"))
}

fn unavailable(text: String) -> Error {
    ApiError::new(ErrorCode::ResourceUnavailable, text).into()
}

/// The NFS URLs of the VM's volumes: its root volume and its attached data volumes.
async fn volume_urls(ctx: &Ctx, vm: VmId) -> Result<Vec<String>> {
    let mut urls = vec![];
    // (A root volume is Ready once its file is made: a VM never started has none yet.)
    if let Some(root) = db::volumes::volume_root_of_vm(&ctx.pool, vm)
        .await?
        .filter(|r| r.state == VolumeState::Ready)
    {
        let pool = db::storage::pool_fetch(&ctx.pool, root.pool_id)
            .await?
            .ok_or_else(|| Error::internal("the root volume's pool vanished"))?;
        let url = NfsUrl::parse(&pool.url)
            .map_err(|e| Error::internal(format!("pool {} has a bad URL: {e}", pool.name)))?;
        urls.push(volumes::nfs_file_url(&url, &root.path));
    }
    for v in db::volumes::data_volumes_of_vm(&ctx.pool, vm).await? {
        if v.state != VolumeState::Ready {
            continue;
        }
        let url = NfsUrl::parse(&v.pool_url)
            .map_err(|e| Error::internal(format!("pool {} has a bad URL: {e}", v.pool_name)))?;
        urls.push(volumes::nfs_file_url(&url, &v.path));
    }
    Ok(urls)
}

/// `qemu-img snapshot` on each of a stopped VM's volumes.
async fn on_volumes(ctx: &Ctx, vm: VmId, op: volumes::SnapshotOp, name: &str) -> Result<()> {
    for url in volume_urls(ctx, vm).await? {
        volumes::snapshot_qcow2(&url, op, name)
            .await
            .map_err(|e| unavailable(format!("VM snapshot {name}: {e}")))?;
    }
    Ok(())
}

/// The running VM's host, or a refusal naming the state it is in.
async fn running_host(ctx: &Ctx, vm: &db::vms::VmRow) -> Result<db::hosts::HostRow> {
    if vm.state != VmState::Running {
        return Err(ApiError::param(format!(
            "VM {} is {}, not Running",
            vm.display_name, vm.state
        ))
        .into());
    }
    host_of(ctx, vm).await
}

/// Deletes the snapshot from the VM's volumes, wherever the VM is: through its host's
/// agent while it runs (QEMU has the files open), else with qemu-img. Idempotent.
async fn remove_from_volumes(ctx: &Ctx, snap: &VmSnapshotRow) -> Result<()> {
    let vm = vm_row(ctx, snap.vm_id.into_uuid()).await?;
    let name = snap.id.to_string();
    if vm.state == VmState::Running {
        let host = host_of(ctx, &vm).await?;
        let order = DeleteVmSnapshot {
            xml: snap.libvirt_xml.clone(),
            metadata_only: false,
        };
        Agent::of(ctx, &host)
            .delete_vm_snapshot(vm.id, &name, &order, SNAPSHOT_BUDGET)
            .await?
            .ok_or_else(|| unavailable(format!("VM {} is not on its host", vm.display_name)))?;
        Ok(())
    } else {
        on_volumes(ctx, vm.id, volumes::SnapshotOp::Delete, &name).await
    }
}

async fn snap_event(
    ctx: &Ctx,
    kind: &str,
    level: &str,
    snap: &VmSnapshotRow,
    text: String,
) -> Result<()> {
    let mut tx = ctx.pool.begin().await?;
    db::events::system_event(
        &mut tx,
        kind,
        level,
        text,
        Some(EventResource::new(
            ResourceType::VirtualMachine,
            snap.vm_id,
            snap.display_name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// --- Create -------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Create {
    pub snapshot: VmSnapshotId,
    pub vm: VmId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateStep {
    Prepare,
    Take,
    Record,
}

impl Steps for CreateStep {
    const ALL: &'static [Self] = &[CreateStep::Prepare, CreateStep::Take, CreateStep::Record];
    fn name(self) -> &'static str {
        match self {
            CreateStep::Prepare => "Prepare",
            CreateStep::Take => "Take",
            CreateStep::Record => "Record",
        }
    }
}

impl Workflow for Create {
    const KIND: Kind = Kind::VmSnapshotCreate;
    type Step = CreateStep;
    fn resource(&self) -> Resource {
        Resource::vm(self.vm.into_uuid())
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        let snap = snap_row(ctx, self.snapshot).await?;
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        vmsnapshot::may_create(
            &vm.id.to_string(),
            vm.state,
            snap.snapshot_type == VmSnapshotType::DiskAndMemory,
        )
        .map_err(ApiError::param)?;
        Ok(())
    }
    async fn do_step(&self, ctx: &Ctx, step: CreateStep, _: &Outputs) -> Result<Value> {
        match step {
            CreateStep::Prepare => {
                db::vm_snapshots::vmsnap_set_state(
                    &ctx.pool,
                    self.snapshot,
                    VmSnapshotState::Creating,
                )
                .await?;
            }
            CreateStep::Take => {
                let snap = snap_row(ctx, self.snapshot).await?;
                let vm = vm_row(ctx, self.vm.into_uuid()).await?;
                let name = snap.id.to_string();
                match snap.snapshot_type {
                    VmSnapshotType::DiskAndMemory => {
                        let host = running_host(ctx, &vm).await?;
                        let order = CreateVmSnapshot {
                            name,
                            description: snap.description.clone(),
                        };
                        let taken = Agent::of(ctx, &host)
                            .create_vm_snapshot(vm.id, &order, SNAPSHOT_BUDGET)
                            .await?;
                        db::vm_snapshots::vmsnap_set_xml(&ctx.pool, snap.id, &taken.xml).await?;
                    }
                    VmSnapshotType::Disk => {
                        if vm.state != VmState::Stopped {
                            return Err(ApiError::param(format!(
                                "VM {} is {}, not Stopped: its disks cannot be snapshotted alone",
                                vm.display_name, vm.state
                            ))
                            .into());
                        }
                        on_volumes(ctx, vm.id, volumes::SnapshotOp::Create, &name).await?;
                    }
                }
            }
            CreateStep::Record => {
                let mut tx = ctx.pool.begin().await?;
                db::vm_snapshots::vmsnap_set_state(&mut *tx, self.snapshot, VmSnapshotState::Ready)
                    .await?;
                db::vm_snapshots::vmsnap_make_current(&mut tx, self.vm, self.snapshot).await?;
                tx.commit().await?;
            }
        }
        Ok(Value::Null)
    }
    async fn undo_step(&self, ctx: &Ctx, step: CreateStep, _: &Outputs) -> Result<()> {
        match step {
            CreateStep::Prepare | CreateStep::Record => Ok(()),
            CreateStep::Take => {
                let snap = snap_row(ctx, self.snapshot).await?;
                remove_from_volumes(ctx, &snap).await
            }
        }
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        let snap = snap_row(ctx, self.snapshot).await?;
        let text = format!(
            "VM snapshot {} ({}) taken",
            snap.display_name,
            snap.snapshot_type.as_str()
        );
        snap_event(ctx, "VMSNAPSHOT.CREATE", "INFO", &snap, text).await
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        // As CloudStack: the record stays, in Error, until deleted.
        db::vm_snapshots::vmsnap_set_state(&ctx.pool, self.snapshot, VmSnapshotState::Error)
            .await?;
        let snap = snap_row(ctx, self.snapshot).await?;
        let text = format!(
            "Taking VM snapshot {} failed and was undone: {}",
            snap.display_name, why.text
        );
        snap_event(ctx, "VMSNAPSHOT.CREATE", "ERROR", &snap, text).await
    }
}

/// A snapshot's state before Revert or Delete marked it busy, for the undo.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Before {
    state: VmSnapshotState,
}

/// The first step of Revert and Delete: the row shows the work (`busy`) and the state it
/// had is kept for the undo. A row already `busy` is a resumed run of a Ready snapshot.
async fn mark_busy(ctx: &Ctx, id: VmSnapshotId, busy: VmSnapshotState) -> Result<Value> {
    let snap = snap_row(ctx, id).await?;
    db::vm_snapshots::vmsnap_set_state(&ctx.pool, id, busy).await?;
    let state = if snap.state == busy {
        VmSnapshotState::Ready
    } else {
        snap.state
    };
    Ok(serde_json::json!(Before { state }))
}

/// The undo of [`mark_busy`]: the state it had (Ready when unknown).
async fn unmark(ctx: &Ctx, id: VmSnapshotId, before: Option<Before>) -> Result<()> {
    let state = before.map_or(VmSnapshotState::Ready, |b| b.state);
    db::vm_snapshots::vmsnap_set_state(&ctx.pool, id, state).await?;
    Ok(())
}

// --- Revert -------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revert {
    pub snapshot: VmSnapshotId,
    pub vm: VmId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevertStep {
    Prepare,
    Revert,
    Record,
}

impl Steps for RevertStep {
    const ALL: &'static [Self] = &[RevertStep::Prepare, RevertStep::Revert, RevertStep::Record];
    fn name(self) -> &'static str {
        match self {
            RevertStep::Prepare => "Prepare",
            RevertStep::Revert => "Revert",
            RevertStep::Record => "Record",
        }
    }
}

impl Workflow for Revert {
    const KIND: Kind = Kind::VmSnapshotRevert;
    type Step = RevertStep;
    fn resource(&self) -> Resource {
        Resource::vm(self.vm.into_uuid())
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        let snap = snap_row(ctx, self.snapshot).await?;
        if !matches!(
            snap.state,
            VmSnapshotState::Ready | VmSnapshotState::Reverting
        ) {
            return Err(ApiError::param(
                "VM Snapshot reverting failed due to vm snapshot is not in the state of Created.",
            )
            .into());
        }
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        vmsnapshot::may_revert(vm.state, snap.snapshot_type).map_err(ApiError::param)?;
        Ok(())
    }
    async fn do_step(&self, ctx: &Ctx, step: RevertStep, _: &Outputs) -> Result<Value> {
        match step {
            RevertStep::Prepare => {
                return mark_busy(ctx, self.snapshot, VmSnapshotState::Reverting).await
            }
            RevertStep::Revert => {
                let snap = snap_row(ctx, self.snapshot).await?;
                let vm = vm_row(ctx, self.vm.into_uuid()).await?;
                vmsnapshot::may_revert(vm.state, snap.snapshot_type).map_err(ApiError::param)?;
                let name = snap.id.to_string();
                match snap.snapshot_type {
                    VmSnapshotType::DiskAndMemory => {
                        let host = running_host(ctx, &vm).await?;
                        let xml = snap.libvirt_xml.clone().ok_or_else(|| {
                            Error::internal("a snapshot with memory has no libvirt XML")
                        })?;
                        Agent::of(ctx, &host)
                            .revert_vm_snapshot(
                                vm.id,
                                &name,
                                &RevertVmSnapshot { xml },
                                SNAPSHOT_BUDGET,
                            )
                            .await?;
                    }
                    VmSnapshotType::Disk => {
                        on_volumes(ctx, vm.id, volumes::SnapshotOp::Apply, &name).await?;
                    }
                }
            }
            RevertStep::Record => {
                let mut tx = ctx.pool.begin().await?;
                db::vm_snapshots::vmsnap_set_state(&mut *tx, self.snapshot, VmSnapshotState::Ready)
                    .await?;
                db::vm_snapshots::vmsnap_make_current(&mut tx, self.vm, self.snapshot).await?;
                tx.commit().await?;
            }
        }
        Ok(Value::Null)
    }
    async fn undo_step(&self, ctx: &Ctx, step: RevertStep, out: &Outputs) -> Result<()> {
        if step == RevertStep::Prepare {
            unmark(ctx, self.snapshot, out.get::<Before>(step)).await?;
        }
        Ok(())
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        let snap = snap_row(ctx, self.snapshot).await?;
        let text = format!("VM reverted to its snapshot {}", snap.display_name);
        snap_event(ctx, "VMSNAPSHOT.REVERTTO", "INFO", &snap, text).await
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        let snap = snap_row(ctx, self.snapshot).await?;
        let text = format!(
            "Reverting to VM snapshot {} failed: {}",
            snap.display_name, why.text
        );
        snap_event(ctx, "VMSNAPSHOT.REVERTTO", "ERROR", &snap, text).await
    }
}

// --- Delete -------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delete {
    pub snapshot: VmSnapshotId,
    pub vm: VmId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteStep {
    Prepare,
    Remove,
    Record,
}

impl Steps for DeleteStep {
    const ALL: &'static [Self] = &[DeleteStep::Prepare, DeleteStep::Remove, DeleteStep::Record];
    fn name(self) -> &'static str {
        match self {
            DeleteStep::Prepare => "Prepare",
            DeleteStep::Remove => "Remove",
            DeleteStep::Record => "Record",
        }
    }
}

impl Workflow for Delete {
    const KIND: Kind = Kind::VmSnapshotDelete;
    type Step = DeleteStep;
    fn resource(&self) -> Resource {
        Resource::vm(self.vm.into_uuid())
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        let snap = snap_row(ctx, self.snapshot).await?;
        match snap.state {
            VmSnapshotState::Ready | VmSnapshotState::Error | VmSnapshotState::Expunging => {}
            s => {
                return Err(ApiError::param(format!(
                    "VM snapshot {} is {s}: it can be deleted when Ready or Error",
                    snap.display_name
                ))
                .into())
            }
        }
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        match vm.state {
            VmState::Running | VmState::Stopped | VmState::Destroyed | VmState::Expunging => Ok(()),
            s => Err(ApiError::param(format!(
                "VM {} is {s}: its snapshots can be deleted when it is Running or Stopped",
                vm.display_name
            ))
            .into()),
        }
    }
    async fn do_step(&self, ctx: &Ctx, step: DeleteStep, _: &Outputs) -> Result<Value> {
        match step {
            DeleteStep::Prepare => mark_busy(ctx, self.snapshot, VmSnapshotState::Expunging).await,
            DeleteStep::Remove => {
                let snap = snap_row(ctx, self.snapshot).await?;
                remove_from_volumes(ctx, &snap).await?;
                Ok(Value::Null)
            }
            DeleteStep::Record => {
                let mut tx = ctx.pool.begin().await?;
                db::vm_snapshots::vmsnap_remove(&mut tx, self.snapshot).await?;
                tx.commit().await?;
                Ok(Value::Null)
            }
        }
    }
    async fn undo_step(&self, ctx: &Ctx, step: DeleteStep, out: &Outputs) -> Result<()> {
        if step == DeleteStep::Prepare {
            unmark(ctx, self.snapshot, out.get::<Before>(step)).await?;
        }
        Ok(())
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        let Some(snap) = db::vm_snapshots::vmsnap_fetch_any(&ctx.pool, self.snapshot).await? else {
            return Ok(());
        };
        let text = format!("VM snapshot {} deleted", snap.display_name);
        snap_event(ctx, "VMSNAPSHOT.DELETE", "INFO", &snap, text).await
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        let snap = snap_row(ctx, self.snapshot).await?;
        let text = format!(
            "Deleting VM snapshot {} failed: {}",
            snap.display_name, why.text
        );
        snap_event(ctx, "VMSNAPSHOT.DELETE", "ERROR", &snap, text).await
    }
}

/// An expunged VM's snapshots: their data went with its volumes; the records go too.
pub async fn forget_all_of_vm(tx: &mut sqlx::PgConnection, vm: VmId) -> Result<()> {
    for s in db::vm_snapshots::vmsnap_of_vm(&mut *tx, vm).await? {
        db::vm_snapshots::vmsnap_remove(&mut *tx, s.id).await?;
    }
    Ok(())
}
