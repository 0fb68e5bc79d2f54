//! Live migration of a running VM to another host (`migrateVirtualMachine`,
//! `findHostsForMigration`; issue 16), as CloudStack's KVM support does it: the source
//! host's libvirtd sends the running guest to the destination's over TLS with the
//! cloud's certificates (see `stratus_api::agent::migration`). The disks are NFS network
//! disks every host of the zone reaches at the same address, so no storage moves
//! (`requiresStorageMotion` is false); only the config drive is made anew on the
//! destination first.
//!
//! Why the VM's `host_id` changes only after the move: until the destination runs the
//! VM, the source does (libvirt resumes it there when a migration fails), so a failed or
//! interrupted migration leaves the record right. When the agent's answer is lost (a
//! timeout), the destination is asked whether it runs the VM before deciding. Capacity
//! follows `host_id` (what a host holds is summed from its VMs), so it moves with it.
//!
//! A migration is the VmMigrate workflow (issue 17: every multi-step operation on the
//! engine): Hold (the destination's room), Prepare (its bridge, DHCP and config drive),
//! Move (libvirt's), Record (the VM's host and leases). A server that dies mid-way leaves
//! the workflow to whoever re-runs its job (or the maintenance that moved it), which
//! resumes at the step it was in: Move first asks where the VM runs, so a move libvirt
//! finished is recorded, not done twice; unwinding Move does the same, so a workflow that
//! is given up never leaves the record on a host the VM has left (whose reports would
//! then take the VM for dead there and for a stray on its new host).

use std::time::Duration;

use crate::ids::{JobId, VmId, ZoneId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stratus_api::agent::migration::{Incoming, MigrateVm};
use stratus_api::agent::{DomainState, VmStatus};
use stratus_api::{ApiError, ErrorCode};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db::{self, hosts::HostRow};
use crate::error::{Error, Result};
use crate::ids::HostId;
use crate::rules::placement::{self, Candidate, Factors, Request};
use crate::rules::vmstate::VmState;
use crate::services::agents::Agent;
use crate::services::workflow::{self, Kind, Outputs, Resource, Steps, Workflow};
use crate::settings::{self, Scope};

/// How long a migration may take (a guest that dirties memory faster than the link
/// carries it never converges; libvirt is given this long).
pub const MIGRATION_BUDGET: Duration = Duration::from_secs(600);

/// A host as `findHostsForMigration` shows it.
#[derive(Debug, Clone)]
pub struct MigrationTarget {
    pub host: HostRow,
    /// Whether placement would take the VM there (Up, Enabled, tags, free capacity).
    pub suitable: bool,
}

/// The VM, checked to be migratable: Running on a host.
async fn running_vm(ctx: &Ctx, vm_id: VmId) -> Result<(db::vms::VmRow, HostRow)> {
    let vm = db::vms::vm_fetch(&ctx.pool, vm_id)
        .await?
        .ok_or_else(|| ApiError::param(format!("Unable to find the VM by id={vm_id}")))?;
    if vm.state != VmState::Running {
        return Err(ApiError::param(format!(
            "VM is not Running, unable to migrate the vm {} (it is {})",
            vm.display_name,
            vm.state.as_str()
        ))
        .into());
    }
    let source = super::host_of(ctx, &vm).await?;
    Ok((vm, source))
}

fn request(vm: &db::vms::VmRow, host_tags: Vec<String>) -> Request {
    Request {
        cpu_mhz: i64::from(vm.cpu_number) * i64::from(vm.cpu_mhz),
        memory_bytes: i64::from(vm.memory_mb) << 20,
        host_tags,
        // The root volume exists and stays where it is (shared NFS).
        storage_tags: vec![],
    }
}

fn factors(ctx: &Ctx, zone: ZoneId) -> impl Fn(crate::ids::ClusterId) -> Factors + '_ {
    move |cluster| {
        let at = Scope::cluster(zone, cluster);
        Factors {
            cpu: ctx.get_in(&settings::CPU_OVERPROVISIONING_FACTOR, at),
            memory: ctx.get_in(&settings::MEM_OVERPROVISIONING_FACTOR, at),
        }
    }
}

/// The hosts of the VM's zone other than its own, each with whether placement would take
/// the VM there (`findHostsForMigration`): the suitable ones first, by name. Answers how
/// many there are and the `page` of them. Every host is ranked (from its capacity row and
/// name), but only the page's hosts are read whole: a zone of 25,000 hosts is not listed
/// to show 500 of them.
pub async fn targets(
    ctx: &Ctx,
    vm_id: VmId,
    page: stratus_api::params::Page,
) -> Result<(i64, Vec<MigrationTarget>)> {
    let (vm, source) = running_vm(ctx, vm_id).await?;
    // Showing where the VM could go takes no locks (a page view must not hold up
    // deploys); the migration itself decides under them.
    let mut conn = ctx.pool.acquire().await?;
    let candidates: Vec<Candidate> = db::capacity::host_candidates(&mut conn, vm.zone_id).await?;
    let wanted = db::offerings::vm_tags(&mut *conn, vm.id.into_uuid()).await?;
    let names: std::collections::HashMap<HostId, String> =
        db::hosts::host_names_in_zone(&mut *conn, vm.zone_id)
            .await?
            .into_iter()
            .collect();
    let req = request(
        &vm,
        crate::rules::tags::parse_stored(wanted.host_tags.as_deref()),
    );
    let mut ranked: Vec<(bool, &str, HostId)> = candidates
        .iter()
        .filter(|c| c.id != source.id)
        .filter_map(|c| {
            let suitable =
                placement::choose(std::slice::from_ref(c), &[], &req, factors(ctx, vm.zone_id))
                    .is_ok();
            names.get(&c.id).map(|n| (suitable, n.as_str(), c.id))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let total = ranked.len() as i64;
    let shown: Vec<(bool, HostId)> = ranked
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(
            page.limit
                .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(0)),
        )
        .map(|(suitable, _, id)| (suitable, id))
        .collect();
    if shown.is_empty() {
        return Ok((total, vec![]));
    }
    let ids: Vec<HostId> = shown.iter().map(|(_, id)| *id).collect();
    let hosts = db::hosts::host_fetch_many(&mut *conn, &ids).await?;
    drop(conn);
    let mut hosts: std::collections::HashMap<HostId, HostRow> =
        hosts.into_iter().map(|h| (h.id, h)).collect();
    let out = shown
        .into_iter()
        .filter_map(|(suitable, id)| {
            hosts
                .remove(&id)
                .map(|host| MigrationTarget { host, suitable })
        })
        .collect();
    Ok((total, out))
}

/// Where the VM goes: `want` (admins name a host) if placement takes it there, else the
/// best host by the deploy's placement rules, never its own.
async fn destination(
    ctx: &Ctx,
    vm: &db::vms::VmRow,
    source: &HostRow,
    want: Option<Uuid>,
) -> Result<HostRow> {
    if want == Some(source.id.into()) {
        return Err(ApiError::param(format!(
            "Cannot migrate VM {}, the destination host is the host it runs on",
            vm.display_name
        ))
        .into());
    }
    // Ranked from an unlocked read; the destination's row then stays locked until its
    // room is held for the VM, so no deploy or other migration takes it meanwhile.
    let mut tx = ctx.pool.begin().await?;
    let mut candidates = db::capacity::host_candidates(&mut tx, vm.zone_id).await?;
    let wanted = db::offerings::vm_tags(&mut *tx, vm.id.into_uuid()).await?;
    if db::vms::vm_migrating(&mut *tx, vm.id).await? {
        return Err(already_migrating(vm));
    }
    candidates.retain(|c| c.id != source.id);
    if let Some(h) = want {
        candidates.retain(|c| Uuid::from(c.id) == h);
        if candidates.is_empty() {
            return Err(ApiError::param(format!(
                "Unable to find the destination host by id={h} in the VM's zone"
            ))
            .into());
        }
    }
    let req = request(
        vm,
        crate::rules::tags::parse_stored(wanted.host_tags.as_deref()),
    );
    let unable = |why: placement::NoHost| -> Error {
        ApiError::new(
            ErrorCode::InsufficientCapacity,
            format!("Unable to migrate VM {}: {why}", vm.display_name),
        )
        .into()
    };
    let ranked = placement::rank(
        &candidates,
        &[],
        &req,
        factors(ctx, vm.zone_id),
        &placement::Order::default(),
    )
    .map_err(unable)?;
    let id = super::allocate::take_first_fitting(
        &mut tx,
        vm.zone_id,
        &ranked,
        &req,
        factors(ctx, vm.zone_id),
    )
    .await?
    .map_err(unable)?;
    // Held a little longer than the migration may take, then it lapses by itself.
    let hold = MIGRATION_BUDGET.as_secs_f64() + 120.0;
    if !db::vms::vm_migration_hold(&mut *tx, vm.id, id, hold).await? {
        return Err(already_migrating(vm));
    }
    tx.commit().await?;
    db::hosts::host_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("the destination host vanished"))
}

fn already_migrating(vm: &db::vms::VmRow) -> Error {
    ApiError::new(
        ErrorCode::ResourceInUse,
        format!("VM {} is already being migrated", vm.display_name),
    )
    .into()
}

/// Chooses the VM's destination as `migrateVirtualMachine` does and holds its room, without
/// moving anything (`release_destination` frees it): how tests show that concurrent
/// migrations never both take a host's last room.
pub async fn hold_destination(ctx: &Ctx, vm_id: VmId, want: Option<Uuid>) -> Result<HostRow> {
    let (vm, source) = running_vm(ctx, vm_id).await?;
    destination(ctx, &vm, &source, want).await
}

/// Frees what `hold_destination` (or a migration that did not move the VM) held.
pub async fn release_destination(ctx: &Ctx, vm_id: VmId) -> Result<()> {
    db::vms::vm_migration_release(&ctx.pool, vm_id).await
}

/// A VM moved: where to, and libvirt's own move (unknown when the source's answer was
/// lost).
#[derive(Debug)]
pub struct Migrated {
    pub host: HostRow,
    pub libvirt: Option<Move>,
}

/// libvirt's own move: how long it took (the floor under the whole operation) and
/// whether the guest ran meanwhile (under KVM; an emulated guest moves paused).
#[derive(Debug, Clone, Copy)]
pub struct Move {
    pub took: Duration,
    pub live: bool,
}

/// Moves the running VM live to `want` (or the best host): the VmMigrate workflow of
/// `job` (a re-run job resumes it), or of the maintenance that moves it (`None`; its
/// re-run finds the workflow by the VM). Answers the destination, and libvirt's own move
/// when the job's workflow recorded it.
pub async fn migrate(
    ctx: &Ctx,
    job: Option<JobId>,
    vm_id: VmId,
    want: Option<Uuid>,
) -> Result<Migrated> {
    workflow::run(ctx, job, Migrate { vm: vm_id, want }).await?;
    let vm = db::vms::vm_fetch(&ctx.pool, vm_id)
        .await?
        .ok_or_else(|| Error::internal("the migrated VM vanished"))?;
    let host = super::host_of(ctx, &vm).await?;
    let libvirt = match job {
        Some(j) => db::workflows::workflow_fetch_by_job(&ctx.pool, j)
            .await?
            .and_then(|w| w.outputs.get(MigrateStep::Move.name()).cloned())
            .and_then(|v| serde_json::from_value::<Option<MoveOutput>>(v).ok())
            .flatten()
            .map(|m| Move {
                took: Duration::from_millis(m.took_ms),
                live: m.live,
            }),
        None => None,
    };
    Ok(Migrated { host, libvirt })
}

/// The VmMigrate workflow's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Migrate {
    pub vm: VmId,
    /// The host the admin named, if any.
    pub want: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateStep {
    /// The destination chosen and its room held (`vms.migrating_to`).
    Hold,
    /// The destination's guest bridge and DHCP, and the VM's config drive there.
    Prepare,
    /// libvirt's move, source to destination.
    Move,
    /// The VM's record on its new host, its lease moved.
    Record,
}

impl Steps for MigrateStep {
    const ALL: &'static [Self] = &[
        MigrateStep::Hold,
        MigrateStep::Prepare,
        MigrateStep::Move,
        MigrateStep::Record,
    ];
    fn name(self) -> &'static str {
        match self {
            MigrateStep::Hold => "HoldDestination",
            MigrateStep::Prepare => "PrepareDestination",
            MigrateStep::Move => "Move",
            MigrateStep::Record => "RecordHost",
        }
    }
}

/// Hold's output: from where to where.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Held {
    source: HostId,
    dest: HostId,
}

/// Move's output: libvirt's own move (`null` when its answer was lost but the VM moved).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct MoveOutput {
    took_ms: u64,
    live: bool,
}

impl Migrate {
    async fn held(&self, ctx: &Ctx, out: &Outputs) -> Result<(db::vms::VmRow, HostRow, HostRow)> {
        let held: Held = out
            .get(MigrateStep::Hold)
            .ok_or_else(|| Error::internal("a migration step before its hold"))?;
        let vm = db::vms::vm_fetch(&ctx.pool, self.vm)
            .await?
            .ok_or_else(|| Error::internal("the migrating VM vanished"))?;
        let host = |id: HostId| async move {
            db::hosts::host_fetch(&ctx.pool, id)
                .await?
                .ok_or_else(|| Error::internal("a migration's host vanished"))
        };
        Ok((vm, host(held.source).await?, host(held.dest).await?))
    }

    /// The VM's record follows it to `dest` (if it is still on `source`), and its lease.
    async fn record(ctx: &Ctx, vm: VmId, source: &HostRow, dest: &HostRow) -> Result<()> {
        if !db::vms::vm_move_host(&ctx.pool, vm, source.id, dest.id).await? {
            // Something else moved the record meanwhile; the hold is not needed any more.
            db::vms::vm_migration_release(&ctx.pool, vm).await?;
        }
        // Its DHCP lease moves with it (leases are per host, from the VMs placed there).
        for h in [dest, source] {
            if let Err(e) = super::push_leases(ctx, h, vm, None).await {
                tracing::warn!(vm = %vm, host = %h.name, error = %e, "moving a migrated VM's lease");
            }
        }
        Ok(())
    }
}

impl Workflow for Migrate {
    const KIND: Kind = Kind::VmMigrate;
    type Step = MigrateStep;

    fn resource(&self) -> Resource {
        Resource::vm(self.vm.into_uuid())
    }

    async fn check(&self, ctx: &Ctx) -> Result<()> {
        let (vm, _) = running_vm(ctx, self.vm).await?;
        // As CloudStack: the VM's snapshots live in its volumes and libvirt's record of
        // them on this host; libvirt will not migrate a domain with snapshots.
        if super::vm_snapshots::vm_has_snapshots(ctx, vm.id).await? {
            return Err(ApiError::param(format!(
                "VM {} has VM snapshots: a VM with VM snapshots cannot be migrated, please remove all the VM snapshots first",
                vm.display_name
            ))
            .into());
        }
        if db::vms::vm_migrating(&ctx.pool, vm.id).await? {
            return Err(already_migrating(&vm));
        }
        Ok(())
    }

    async fn do_step(&self, ctx: &Ctx, step: MigrateStep, out: &Outputs) -> Result<Value> {
        match step {
            MigrateStep::Hold => {
                let (vm, source) = running_vm(ctx, self.vm).await?;
                // Done again after a crash: the hold this workflow took is still there.
                let dest = match db::vms::vm_migration_target(&ctx.pool, vm.id).await? {
                    Some(d) => d,
                    None => destination(ctx, &vm, &source, self.want).await?.id,
                };
                json(&Held {
                    source: source.id,
                    dest,
                })
            }
            MigrateStep::Prepare => {
                let (vm, _, dest) = self.held(ctx, out).await?;
                // The destination's guest bridge (and DHCP) first: the VM's NIC plugs in.
                super::push_leases(ctx, &dest, vm.id, None).await?;
                let view = super::view(ctx, vm.id.into_uuid()).await?;
                let guest = super::guest::guest_data(ctx, &view).await?;
                let ready = Agent::of(ctx, &dest)
                    .prepare_incoming(vm.id, &Incoming { guest: Some(guest) })
                    .await?;
                json(&ready.config_drive)
            }
            MigrateStep::Move => {
                let (vm, source, dest) = self.held(ctx, out).await?;
                // Done again after a crash: libvirt may have finished the move meanwhile.
                if vm.host_id == Some(dest.id)
                    || settled_on(ctx, vm.id, &source, &dest).await == Some(true)
                {
                    return Ok(Value::Null);
                }
                let config_drive: Option<String> = out.get(MigrateStep::Prepare).flatten();
                let order = MigrateVm {
                    destination: dest.address.ip(),
                    config_drive,
                };
                let moved = Agent::of(ctx, &source)
                    .migrate_vm(vm.id, &order, MIGRATION_BUDGET)
                    .await;
                match moved {
                    Ok(m) => json(&MoveOutput {
                        took_ms: m.elapsed_ms,
                        live: m.live,
                    }),
                    // The answer may be lost while the VM did move: where it runs now says.
                    Err(e) => {
                        if moved_after_all(ctx, vm.id, &source, &dest).await {
                            tracing::warn!(vm = %vm.id, to = %dest.name, "the migration's answer was lost but the VM runs on the destination");
                            Ok(Value::Null)
                        } else {
                            tracing::warn!(vm = %vm.id, from = %source.name, to = %dest.name, error = %e.text, "live migration failed; the VM stays where it runs");
                            Err(e.into())
                        }
                    }
                }
            }
            MigrateStep::Record => {
                let (vm, source, dest) = self.held(ctx, out).await?;
                Self::record(ctx, vm.id, &source, &dest).await?;
                tracing::info!(vm = %vm.id, from = %source.name, to = %dest.name, "VM migrated");
                Ok(Value::Null)
            }
        }
    }

    async fn undo_step(&self, ctx: &Ctx, step: MigrateStep, out: &Outputs) -> Result<()> {
        match step {
            MigrateStep::Hold => db::vms::vm_migration_release(&ctx.pool, self.vm).await,
            // The destination's leases follow the VMs placed there; its config drive for
            // this VM is made anew by the next migration there.
            MigrateStep::Prepare => Ok(()),
            // A move cannot be taken back: if libvirt finished it (an answer lost, a
            // workflow given up mid-move), the record follows the VM instead.
            MigrateStep::Move | MigrateStep::Record => {
                let (vm, source, dest) = match self.held(ctx, out).await {
                    Ok(h) => h,
                    Err(_) => return Ok(()),
                };
                if vm.host_id == Some(source.id)
                    && moved_after_all(ctx, vm.id, &source, &dest).await
                {
                    tracing::warn!(vm = %vm.id, to = %dest.name, "an unwound migration had moved the VM: recorded where it runs");
                    Self::record(ctx, vm.id, &source, &dest).await?;
                }
                Ok(())
            }
        }
    }

    async fn succeeded(&self, _: &Ctx, _: &Outputs) -> Result<()> {
        Ok(())
    }

    async fn failed(&self, ctx: &Ctx, _: &Outputs, _: &ApiError) -> Result<()> {
        // The VM runs where it ran (or its record followed it, see Move's undo); the
        // destination's room is free again.
        db::vms::vm_migration_release(&ctx.pool, self.vm).await
    }
}

/// A step's output as stored.
fn json<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("a migration step's output: {e}")))
}

/// Whether the move is over, source to destination, as the hosts answer now (one
/// asking, no waiting): `Some(true)` moved, `Some(false)` still on the source, `None`
/// undecided.
async fn settled_on(ctx: &Ctx, vm: VmId, source: &HostRow, dest: &HostRow) -> Option<bool> {
    let there = Agent::of(ctx, dest).get_vm(vm).await;
    let here = Agent::of(ctx, source).get_vm(vm).await;
    match (here, there) {
        (Ok(h), Ok(None)) if active(&h) => Some(false),
        (Ok(h), Ok(Some(t))) if !active(&h) && t.state == DomainState::Running => Some(true),
        _ => None,
    }
}

fn active(s: &Option<VmStatus>) -> bool {
    s.as_ref()
        .is_some_and(|s| matches!(s.state, DomainState::Running | DomainState::Paused))
}

/// After a migration call that failed (or whose answer was lost): whether the VM moved
/// after all. Only when the source no longer runs it and the destination does: a failed
/// move leaves the destination's incoming domain for a moment (even running, when it
/// failed at the very end) while libvirt resumes the VM on the source, and a record
/// moved on that glimpse would point at a host the VM is not on. Undecided answers are
/// asked again for a few seconds; still undecided, it did not move.
async fn moved_after_all(ctx: &Ctx, vm: VmId, source: &HostRow, dest: &HostRow) -> bool {
    for _ in 0..10 {
        match settled_on(ctx, vm, source, dest).await {
            Some(moved) => return moved,
            None => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    false
}

/// Live-migrates every running VM off `host` (prepareHostForMaintenance), each to the
/// best other host; answers why each VM that could not move did not (empty: the host
/// is empty). VMs in other states placed there count as failures too: a host in
/// Maintenance holds nothing.
pub async fn empty_host(ctx: &Ctx, host: crate::ids::HostId) -> Result<Vec<String>> {
    let mut failures = vec![];
    for (vm, name) in db::vms::vm_running_on_host(&ctx.pool, host).await? {
        if let Err(e) = migrate(ctx, None, vm.into(), None).await {
            let text = match &e {
                Error::Api(a) => a.text.clone(),
                other => other.to_string(),
            };
            failures.push(format!("VM {name} could not be migrated: {text}"));
        }
    }
    for left in db::vms::vm_list_on_host(&ctx.pool, host, 0).await? {
        if !failures
            .iter()
            .any(|f| f.contains(&format!("VM {} ", left.name)))
        {
            failures.push(format!("VM {} is still on the host", left.name));
        }
    }
    Ok(failures)
}
