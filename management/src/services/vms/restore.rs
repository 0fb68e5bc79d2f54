//! restoreVirtualMachine: the VM gets a new root volume — an overlay on its template
//! (or another template), or for a VM installed from an ISO a blank disk of the same
//! size with the ISO still attached — and the old volume is removed. The VM keeps its
//! id, name, address, key pairs and user data; a Running VM is stopped first and
//! started again by the command once the workflow is over.
//!
//! | step | do | undo |
//! |---|---|---|
//! | Stop | a Running VM is stopped (graceful) | — (the command starts it again) |
//! | Volume | the new volume (no VM yet) and its file, on the old volume's pool | remove it |
//! | Swap | one transaction: the new volume is the VM's root, the old one retired, the VM names its new template/ISO | swap back |
//! | RemoveOld | the old volume's file removed, the volume Expunged | — (cannot be undone; idempotent) |
//!
//! Why the new volume is written before the old one is touched: a failure anywhere
//! before RemoveOld leaves the VM exactly as it was, with its disk.

use crate::ids::{IsoId, TemplateId, VmId, VolumeId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stratus_api::ApiError;
use uuid::Uuid;

use super::{bases, state_of, template_file, write_volume};
use crate::ctx::Ctx;
use crate::db;
use crate::db::events::{EventResource, ResourceType};
use crate::error::{Error, Result};
use crate::rules::states::VolumeState;
use crate::rules::vmstate::VmState;
use crate::services::workflow::{Kind, Outputs, Resource, Steps, Workflow};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Restore {
    pub vm: VmId,
    /// The root volume being replaced.
    pub old_volume: VolumeId,
    /// The replacement's id, chosen by the command (so a repeated step finds it).
    pub new_volume: VolumeId,
    /// What the VM is based on afterwards, and before (for the undo).
    pub template: Option<TemplateId>,
    pub iso: Option<IsoId>,
    pub old_template: Option<TemplateId>,
    pub old_iso: Option<IsoId>,
    pub size_bytes: i64,
    /// Whether the VM was Running (the command starts it again afterwards).
    pub was_running: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreStep {
    Stop,
    Volume,
    Swap,
    RemoveOld,
}

impl Steps for RestoreStep {
    const ALL: &'static [Self] = &[
        RestoreStep::Stop,
        RestoreStep::Volume,
        RestoreStep::Swap,
        RestoreStep::RemoveOld,
    ];
    fn name(self) -> &'static str {
        match self {
            RestoreStep::Stop => "Stop",
            RestoreStep::Volume => "Volume",
            RestoreStep::Swap => "Swap",
            RestoreStep::RemoveOld => "RemoveOld",
        }
    }
}

async fn vm_row(ctx: &Ctx, id: Uuid) -> Result<db::vms::VmRow> {
    db::vms::vm_fetch(&ctx.pool, id.into())
        .await?
        .ok_or_else(|| Error::internal("the VM vanished"))
}

async fn volume(ctx: &Ctx, id: Uuid) -> Result<Option<db::volumes::VolumeRow>> {
    db::volumes::volume_fetch(&ctx.pool, id.into()).await
}

fn nfs_of(pool: &db::storage::PoolRow) -> Result<crate::clients::nfs::NfsUrl> {
    crate::clients::nfs::NfsUrl::parse(&pool.url)
        .map_err(|e| Error::internal(format!("pool {} has a bad URL: {e}", pool.name)))
}

/// Removes a volume's file and marks it Expunged (idempotent).
async fn remove_volume(ctx: &Ctx, v: &db::volumes::VolumeRow) -> Result<()> {
    let pool = db::storage::pool_fetch(&ctx.pool, v.pool_id)
        .await?
        .ok_or_else(|| Error::internal("the volume's pool vanished"))?;
    super::volumes::remove(&nfs_of(&pool)?, &v.path)
        .await
        .map_err(|why| {
            ApiError::new(
                stratus_api::ErrorCode::ResourceUnavailable,
                format!(
                    "Removing volume {} from primary storage {} failed: {why}",
                    v.name, pool.name
                ),
            )
        })?;
    db::volumes::volume_mark_expunged(&ctx.pool, v.id).await
}

impl Workflow for Restore {
    const KIND: Kind = Kind::VmRestore;
    type Step = RestoreStep;
    fn resource(&self) -> Resource {
        Resource::vm(self.vm.into_uuid())
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        match state_of(&vm)? {
            VmState::Running | VmState::Stopped => Ok(()),
            s => Err(ApiError::param(format!(
                "VM {} must be Running or Stopped to be restored (it is {})",
                vm.display_name,
                s.as_str()
            ))
            .into()),
        }
    }
    async fn do_step(&self, ctx: &Ctx, step: RestoreStep, _: &Outputs) -> Result<Value> {
        match step {
            RestoreStep::Stop => {
                let vm = vm_row(ctx, self.vm.into_uuid()).await?;
                if state_of(&vm)? == VmState::Running {
                    super::stop(ctx, self.vm, false).await?;
                }
                Ok(Value::Null)
            }
            RestoreStep::Volume => {
                let vm = vm_row(ctx, self.vm.into_uuid()).await?;
                if state_of(&vm)? != VmState::Stopped {
                    return Err(ApiError::param(format!(
                        "VM {} is {}, not Stopped: its volume cannot be replaced",
                        vm.display_name, vm.state
                    ))
                    .into());
                }
                if let Some(v) = volume(ctx, self.new_volume.into()).await? {
                    if v.state == VolumeState::Ready {
                        return Ok(Value::Null);
                    }
                }
                let old = volume(ctx, self.old_volume.into())
                    .await?
                    .ok_or_else(|| Error::internal("the old root volume vanished"))?;
                let pool = db::storage::pool_fetch(&ctx.pool, old.pool_id)
                    .await?
                    .ok_or_else(|| Error::internal("the volume's pool vanished"))?;
                let base = match self.template {
                    Some(t) => {
                        let file = template_file(ctx, t, vm.zone_id).await?;
                        Some(bases::ensure_base(ctx, &file, &pool).await?)
                    }
                    None => None,
                };
                let v = db::volumes::VolumeRow {
                    id: self.new_volume,
                    vm_id: None,
                    name: format!("ROOT-{}", vm.instance_number),
                    volume_type: "ROOT".into(),
                    pool_id: pool.id,
                    path: super::volumes::volume_path(self.new_volume.into()),
                    size_bytes: self.size_bytes,
                    state: VolumeState::Allocated,
                    created: chrono::Utc::now(),
                    removed: None,
                    template_id: self.template.map(Into::into),
                };
                db::volumes::volume_insert(&ctx.pool, &v).await?;
                write_volume(ctx, &pool, &v, base.as_deref()).await?;
                Ok(Value::Null)
            }
            RestoreStep::Swap => {
                let mut tx = ctx.pool.begin().await?;
                db::volumes::volume_replace_root(
                    &mut tx,
                    self.vm,
                    self.old_volume.into(),
                    self.new_volume.into(),
                    self.template.map(Into::into),
                )
                .await?;
                db::vms::vm_set_image(&mut *tx, self.vm, self.template, self.iso).await?;
                tx.commit().await?;
                Ok(Value::Null)
            }
            RestoreStep::RemoveOld => {
                if let Some(old) = volume(ctx, self.old_volume.into()).await? {
                    if old.state != VolumeState::Expunged {
                        remove_volume(ctx, &old).await?;
                    }
                }
                Ok(Value::Null)
            }
        }
    }
    async fn undo_step(&self, ctx: &Ctx, step: RestoreStep, _: &Outputs) -> Result<()> {
        match step {
            RestoreStep::Stop | RestoreStep::RemoveOld => Ok(()),
            // Not once it is the VM's root (the swap could not be undone).
            RestoreStep::Volume => match volume(ctx, self.new_volume.into()).await? {
                Some(v) if v.state != VolumeState::Expunged && v.vm_id.is_none() => {
                    remove_volume(ctx, &v).await
                }
                _ => Ok(()),
            },
            RestoreStep::Swap => {
                // Once the old file is removed there is nothing to go back to.
                if volume(ctx, self.old_volume.into())
                    .await?
                    .is_some_and(|v| v.state == VolumeState::Expunged)
                {
                    return Ok(());
                }
                let mut tx = ctx.pool.begin().await?;
                db::volumes::volume_unreplace_root(
                    &mut tx,
                    self.old_volume.into(),
                    self.new_volume.into(),
                )
                .await?;
                db::vms::vm_set_image(&mut *tx, self.vm, self.old_template, self.old_iso).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        let mut tx = ctx.pool.begin().await?;
        db::vms::vm_set_state(&mut *tx, self.vm, vm.state, None).await?;
        db::events::system_event(
            &mut tx,
            "VM.RESTORE",
            "INFO",
            format!("VM {} has a new root volume", vm.display_name),
            Some(EventResource::new(
                ResourceType::VirtualMachine,
                vm.id,
                vm.display_name.clone(),
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        let mut tx = ctx.pool.begin().await?;
        db::vms::vm_set_state(&mut *tx, self.vm, vm.state, Some(&why.text)).await?;
        db::events::system_event(
            &mut tx,
            "VM.RESTORE",
            "ERROR",
            format!(
                "Restoring VM {} failed and was undone (it keeps its disk): {}",
                vm.display_name, why.text
            ),
            Some(EventResource::new(
                ResourceType::VirtualMachine,
                vm.id,
                vm.display_name.clone(),
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
