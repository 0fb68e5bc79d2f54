//! The VM operations that are workflows (`services::workflow`): deploy and start (the
//! same four steps), reboot and expunge.
//!
//! Deploy and start differ only in what an undo gives back: a failed start keeps the
//! VM's disk and address and leaves it Stopped; a failed deploy keeps nothing and leaves
//! it Error, both with the reason.
//!
//! | step | do | undo |
//! |---|---|---|
//! | Allocate | place on a host (capacity) and take a guest address (one transaction) | release capacity; on deploy also the address |
//! | Volume | a qcow2 root disk on a primary pool the host reaches | deploy only: remove the file |
//! | Network | the host's bridge + dnsmasq with this VM's static lease | push the leases without it |
//! | Domain | the agent defines and starts the domain | the agent destroys and undefines it |
//!
//! Expunge: Expunging (the VM leaves its host) → DeleteDomain → DeleteVolume →
//! ReleaseAddresses, then the row is marked Expunged. Removing a domain or a file cannot
//! be undone and each is safe to repeat, so an expunge that fails puts the VM back in the
//! state it had, with the reason, and a later expunge repeats what is left.

use crate::ids::{HostId, StoragePoolId, VmId, VolumeId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_api::agent::PowerOptions;
use stratus_api::ApiError;
use uuid::Uuid;

use super::{
    create_root_volume, host_of, push_leases, remove_root_volume, spec_for, state_of, Options,
};
use crate::ctx::Ctx;
use crate::db;
use crate::db::events::{EventResource, ResourceType};
use crate::error::{Error, Result};
use crate::rules::vmstate::{VmEvent, VmState};
use crate::services::agents::Agent;
use crate::services::workflow::{Kind, Outputs, Resource, Steps, Workflow};

async fn vm_row(ctx: &Ctx, id: Uuid) -> Result<db::vms::VmRow> {
    db::vms::vm_fetch(&ctx.pool, id.into())
        .await?
        .ok_or_else(|| Error::internal("the VM vanished"))
}

async fn host(ctx: &Ctx, id: Uuid) -> Result<Option<db::hosts::HostRow>> {
    db::hosts::host_fetch(&ctx.pool, id.into()).await
}

/// The steps of a deploy and of a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartStep {
    Allocate,
    Volume,
    Network,
    Domain,
}

impl Steps for StartStep {
    const ALL: &'static [Self] = &[
        StartStep::Allocate,
        StartStep::Volume,
        StartStep::Network,
        StartStep::Domain,
    ];
    fn name(self) -> &'static str {
        match self {
            StartStep::Allocate => "Allocate",
            StartStep::Volume => "Volume",
            StartStep::Network => "Network",
            StartStep::Domain => "Domain",
        }
    }
}

/// Allocate's output: where the VM was placed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Placed {
    pub host_id: HostId,
}

/// Volume's output: the root disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RootVolume {
    pub volume_id: VolumeId,
    pub pool_id: StoragePoolId,
    pub path: String,
}

/// deployVirtualMachine's job: the VM recorded by the command, started for the first time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deploy {
    pub vm: VmId,
    #[serde(flatten)]
    pub opts: Options,
}

/// startVirtualMachine: a Stopped VM (it keeps its address and disk) started again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Start {
    pub vm: VmId,
    /// The host an admin asked for.
    pub host: Option<HostId>,
}

async fn check_startable(ctx: &Ctx, vm: VmId) -> Result<()> {
    let vm = vm_row(ctx, vm.into_uuid()).await?;
    state_of(&vm)?.require(VmEvent::Start, &vm.display_name)?;
    Ok(())
}

/// The host a step works on: Allocate's choice, else where the VM row says.
fn placed_host(out: &Outputs, vm: &db::vms::VmRow) -> Option<Uuid> {
    out.get::<Placed>(StartStep::Allocate)
        .map(|p| p.host_id)
        .or(vm.host_id)
        .map(Into::into)
}

async fn start_do(ctx: &Ctx, vm_id: VmId, step: StartStep, opts: &Options) -> Result<Value> {
    let vm = vm_row(ctx, vm_id.into_uuid()).await?;
    match step {
        StartStep::Allocate => {
            let placed = [VmState::Starting, VmState::Running].contains(&vm.state);
            let host_id = match vm.host_id {
                Some(h) if placed => h, // done before a takeover
                _ => {
                    super::allocate::allocate(ctx, vm_id, opts.ip, opts.host_id)
                        .await?
                        .host_id
                }
            };
            Ok(json!(Placed { host_id }))
        }
        StartStep::Volume => {
            let v = create_root_volume(ctx, &vm, opts).await?;
            Ok(json!(RootVolume {
                volume_id: v.id,
                pool_id: v.pool_id,
                path: v.path
            }))
        }
        StartStep::Network => {
            let host = host_of(ctx, &vm).await?;
            push_leases(ctx, &host, vm_id, None).await?;
            // The host filters the guest (its security groups, anti-spoofing) before it
            // runs: the reconciler would catch up within seconds, but the guest's first
            // seconds would be unfiltered.
            crate::services::security_groups::push(ctx, &host).await?;
            Ok(Value::Null)
        }
        StartStep::Domain => {
            let host = host_of(ctx, &vm).await?;
            let spec = spec_for(ctx, &vm, &host).await?;
            let budget =
                std::time::Duration::from_secs(ctx.get(&crate::settings::VM_START_TIMEOUT) as u64);
            Agent::of(ctx, &host).put_vm(&spec, budget).await?;
            Ok(Value::Null)
        }
    }
}

async fn start_undo(
    ctx: &Ctx,
    vm_id: VmId,
    deploy: bool,
    step: StartStep,
    out: &Outputs,
) -> Result<()> {
    let Some(vm) = db::vms::vm_fetch(&ctx.pool, vm_id).await? else {
        return Ok(());
    };
    match step {
        StartStep::Allocate => {
            let mut tx = ctx.pool.begin().await?;
            if deploy {
                db::nics::nic_release_all(&mut tx, vm_id).await?;
            }
            db::capacity::vm_release_host(&mut tx, vm_id, vm.state, vm.error_text.as_deref())
                .await?;
            tx.commit().await?;
        }
        StartStep::Volume => {
            if deploy {
                remove_root_volume(ctx, vm_id).await?;
            }
        }
        StartStep::Network => {
            if let Some(h) = placed_host(out, &vm) {
                if let Some(host) = host(ctx, h).await? {
                    push_leases(ctx, &host, vm_id, Some(vm_id.into_uuid())).await?;
                }
            }
        }
        StartStep::Domain => {
            if let Some(h) = placed_host(out, &vm) {
                if let Some(host) = host(ctx, h).await? {
                    Agent::of(ctx, &host).delete_vm(vm_id).await?;
                }
            }
        }
    }
    Ok(())
}

async fn start_succeeded(ctx: &Ctx, vm: VmId) -> Result<()> {
    // The agent holds a new password now (it serves it to the guest once).
    db::vms::vm_password_delivered(&ctx.pool, vm).await?;
    db::vms::vm_set_state(&ctx.pool, vm, VmState::Running, None).await
}

/// Leaves the VM Error (deploy) or Stopped (start), off its host, with the reason.
async fn start_failed(ctx: &Ctx, vm_id: VmId, deploy: bool, why: &ApiError) -> Result<()> {
    let (state, event, what) = if deploy {
        (VmState::Error, "VM.CREATE", "Deploy")
    } else {
        (VmState::Stopped, "VM.START", "Start")
    };
    let mut tx = ctx.pool.begin().await?;
    db::capacity::vm_release_host(&mut tx, vm_id, state, Some(&why.text)).await?;
    if let Some(vm) = db::vms::vm_fetch(&mut *tx, vm_id).await? {
        db::events::system_event(
            &mut tx,
            event,
            "ERROR",
            format!(
                "{what} of VM {} failed and was undone: {}",
                vm.display_name, why.text
            ),
            Some(EventResource::new(
                ResourceType::VirtualMachine,
                vm.id,
                vm.display_name.clone(),
            )),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

impl Workflow for Deploy {
    const KIND: Kind = Kind::VmDeploy;
    type Step = StartStep;
    fn resource(&self) -> Resource {
        Resource::vm(self.vm.into_uuid())
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        check_startable(ctx, self.vm).await
    }
    async fn do_step(&self, ctx: &Ctx, step: StartStep, _: &Outputs) -> Result<Value> {
        start_do(ctx, self.vm, step, &self.opts).await
    }
    async fn undo_step(&self, ctx: &Ctx, step: StartStep, out: &Outputs) -> Result<()> {
        start_undo(ctx, self.vm, true, step, out).await
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        start_succeeded(ctx, self.vm).await
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        start_failed(ctx, self.vm, true, why).await
    }
}

impl Workflow for Start {
    const KIND: Kind = Kind::VmStart;
    type Step = StartStep;
    fn resource(&self) -> Resource {
        Resource::vm(self.vm.into_uuid())
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        check_startable(ctx, self.vm).await
    }
    async fn do_step(&self, ctx: &Ctx, step: StartStep, _: &Outputs) -> Result<Value> {
        let opts = Options {
            host_id: self.host,
            ..Default::default()
        };
        start_do(ctx, self.vm, step, &opts).await
    }
    async fn undo_step(&self, ctx: &Ctx, step: StartStep, out: &Outputs) -> Result<()> {
        start_undo(ctx, self.vm, false, step, out).await
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        start_succeeded(ctx, self.vm).await
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        start_failed(ctx, self.vm, false, why).await
    }
}

/// rebootVirtualMachine: one step, so that while the domain is briefly down the state
/// sync sees an operation in progress rather than a death.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reboot {
    pub vm: VmId,
    pub forced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootStep {
    Reboot,
}

impl Steps for RebootStep {
    const ALL: &'static [Self] = &[RebootStep::Reboot];
    fn name(self) -> &'static str {
        "Reboot"
    }
}

impl Workflow for Reboot {
    const KIND: Kind = Kind::VmReboot;
    type Step = RebootStep;
    fn resource(&self) -> Resource {
        Resource::vm(self.vm.into_uuid())
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        state_of(&vm)?.require(VmEvent::Reboot, &vm.display_name)?;
        Ok(())
    }
    async fn do_step(&self, ctx: &Ctx, _: RebootStep, _: &Outputs) -> Result<Value> {
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        let host = host_of(ctx, &vm).await?;
        let o = if self.forced {
            PowerOptions::forced()
        } else {
            PowerOptions::default()
        };
        Agent::of(ctx, &host).reboot_vm(self.vm, o).await?;
        Ok(Value::Null)
    }
    async fn undo_step(&self, _: &Ctx, _: RebootStep, _: &Outputs) -> Result<()> {
        Ok(()) // a reboot has nothing to give back
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        start_succeeded(ctx, self.vm).await
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, _: &ApiError) -> Result<()> {
        // Whether it still runs is the state sync's to find out.
        start_succeeded(ctx, self.vm).await
    }
}

/// expungeVirtualMachine, destroyVirtualMachine's `expunge`, and the reconciler's expunge
/// of destroyed VMs after `expunge.delay`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expunge {
    pub vm: VmId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpungeStep {
    Expunging,
    DeleteDomain,
    DeleteVolume,
    ReleaseAddresses,
}

impl Steps for ExpungeStep {
    const ALL: &'static [Self] = &[
        ExpungeStep::Expunging,
        ExpungeStep::DeleteDomain,
        ExpungeStep::DeleteVolume,
        ExpungeStep::ReleaseAddresses,
    ];
    fn name(self) -> &'static str {
        match self {
            ExpungeStep::Expunging => "Expunging",
            ExpungeStep::DeleteDomain => "DeleteDomain",
            ExpungeStep::DeleteVolume => "DeleteVolume",
            ExpungeStep::ReleaseAddresses => "ReleaseAddresses",
        }
    }
}

/// Expunging's output: the state to go back to if the expunge fails, and the host that
/// may still have the VM's domain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeftHost {
    pub state: VmState,
    pub host_id: Option<HostId>,
}

impl Workflow for Expunge {
    const KIND: Kind = Kind::VmExpunge;
    type Step = ExpungeStep;
    fn resource(&self) -> Resource {
        Resource::vm(self.vm.into_uuid())
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        state_of(&vm)?.require(VmEvent::Expunge, &vm.display_name)?;
        Ok(())
    }
    async fn do_step(&self, ctx: &Ctx, step: ExpungeStep, out: &Outputs) -> Result<Value> {
        match step {
            ExpungeStep::Expunging => {
                let mut tx = ctx.pool.begin().await?;
                let vm = db::vms::vm_fetch_for_update(&mut *tx, self.vm)
                    .await?
                    .ok_or_else(|| Error::internal("the VM vanished"))?;
                let next = state_of(&vm)?.require(VmEvent::Expunge, &vm.display_name)?;
                db::capacity::vm_release_host(&mut tx, self.vm, next, vm.error_text.as_deref())
                    .await?;
                tx.commit().await?;
                Ok(json!(LeftHost {
                    state: vm.state,
                    host_id: vm.host_id.or(vm.last_host_id),
                }))
            }
            ExpungeStep::DeleteDomain => {
                let vm = vm_row(ctx, self.vm.into_uuid()).await?;
                let host_id = out
                    .get::<LeftHost>(ExpungeStep::Expunging)
                    .and_then(|l| l.host_id)
                    .or(vm.last_host_id);
                if let Some(h) = host_id {
                    if let Some(host) = host(ctx, h.into_uuid()).await? {
                        if host.status == crate::rules::hoststate::Status::Up {
                            Agent::of(ctx, &host).delete_vm(self.vm).await?;
                        }
                    }
                }
                Ok(Value::Null)
            }
            ExpungeStep::DeleteVolume => {
                remove_root_volume(ctx, self.vm).await?;
                Ok(Value::Null)
            }
            ExpungeStep::ReleaseAddresses => {
                let mut tx = ctx.pool.begin().await?;
                db::nics::nic_release_all(&mut tx, self.vm).await?;
                tx.commit().await?;
                Ok(Value::Null)
            }
        }
    }
    async fn undo_step(&self, ctx: &Ctx, step: ExpungeStep, out: &Outputs) -> Result<()> {
        // Only leaving the host is undone; what was removed stays removed.
        if step == ExpungeStep::Expunging {
            if let Some(left) = out.get::<LeftHost>(ExpungeStep::Expunging) {
                db::vms::vm_set_state(&ctx.pool, self.vm, left.state, None).await?;
            }
        }
        Ok(())
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        let vm = vm_row(ctx, self.vm.into_uuid()).await?;
        let mut tx = ctx.pool.begin().await?;
        db::vms::vm_mark_expunged(&mut *tx, self.vm).await?;
        // Its VM snapshots went with its volumes (issue 16).
        super::vm_snapshots::forget_all_of_vm(&mut tx, self.vm).await?;
        db::events::system_event(
            &mut tx,
            "VM.EXPUNGE",
            "INFO",
            format!("VM {} expunged", vm.display_name),
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
            "VM.EXPUNGE",
            "ERROR",
            format!(
                "Expunging VM {} failed (it is {} again; a later expunge repeats what is left): {}",
                vm.display_name, vm.state, why.text
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
