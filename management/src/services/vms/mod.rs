//! Running VMs: deploy, start, reboot and expunge as workflows (`workflows`, run by
//! `services::workflow`), and the operations that stop and destroy them, the state sync
//! with hosts' reports, and what they share (the root volume, a host's leases, the
//! agent's spec).
//!
//! Why workflows: starting a VM touches four systems (Postgres, primary storage, the
//! host's network and its libvirt); a management server may die between any two, and a
//! failure must give back everything the steps before it took. See `workflows` for the
//! steps and what each undo gives back.

pub mod allocate;
pub mod bases;
pub mod data_volumes;
pub mod guest;
pub mod migrate;
pub mod restore;
pub mod vm_snapshots;
pub mod volumes;
pub mod workflows;

use crate::ids::{HostId, IsoId, JobId, VmId, ZoneId};
use crate::ids::{TemplateId, VolumeId};
use stratus_api::agent::{
    Acceleration, DiskFormat, GuestNetwork, NfsFile, Nic, NicModel, PowerOptions, RootDisk,
    StaticLease, VmSpec,
};
use stratus_api::{ApiError, ErrorCode};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::{self, hosts::HostRow, vms::VmListRow};
use crate::error::{Error, Result};
use crate::rules::iprange::ipv4_of;
use crate::rules::states::VolumeState;
use crate::rules::vmstate::{VmEvent, VmState};
use crate::services::agents::Agent;
use crate::services::workflow;

/// What a deploy asked for beyond the VM row.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Options {
    pub ip: Option<std::net::IpAddr>,
    pub host_id: Option<HostId>,
    /// The root disk's size when the disk offering is customized.
    pub size_bytes: Option<i64>,
}

/// The VM with everything around it (names, NICs, root volume) — listVirtualMachines' row.
pub async fn view(ctx: &Ctx, id: Uuid) -> Result<VmListRow> {
    let f = db::vms::VmFilter {
        common: db::ListFilter {
            id: Some(id),
            ..Default::default()
        },
        ..Default::default()
    };
    let (mut rows, _) = db::vms::vm_list(&ctx.pool, &f).await?;
    rows.pop()
        .ok_or_else(|| ApiError::param(format!("Unable to find the virtual machine {id}")).into())
}

/// The VM's state (rows decode into `VmState`; an unknown spelling fails the fetch).
pub(crate) fn state_of(vm: &db::vms::VmRow) -> Result<VmState> {
    Ok(vm.state)
}

/// Deploys the VM `create` recorded (the job half of deployVirtualMachine): Running, or
/// Error holding nothing, with the reason. `job`: the async job running it, whose re-run
/// after a takeover resumes the workflow.
pub async fn deploy(ctx: &Ctx, job: Option<JobId>, vm: VmId, opts: Options) -> Result<()> {
    workflow::run(ctx, job, workflows::Deploy { vm, opts }).await
}

/// Starts a Stopped VM (`host`: an admin's choice): Running, or Stopped with the reason.
pub async fn start(ctx: &Ctx, job: Option<JobId>, vm: VmId, host: Option<HostId>) -> Result<()> {
    workflow::run(ctx, job, workflows::Start { vm, host }).await
}

/// Reboots a Running VM on its host.
pub async fn reboot(ctx: &Ctx, job: Option<JobId>, vm: VmId, forced: bool) -> Result<()> {
    workflow::run(ctx, job, workflows::Reboot { vm, forced }).await
}

/// Expunges a Destroyed (or Error) VM: its domain (if a host still has it), its root
/// volume file and its addresses are removed, then the row is marked Expunged.
/// restoreVirtualMachine's workflow (see `restore`).
pub async fn restore(ctx: &Ctx, job: Option<JobId>, r: restore::Restore) -> Result<()> {
    workflow::run(ctx, job, r).await
}

pub async fn expunge(ctx: &Ctx, job: Option<JobId>, vm: VmId) -> Result<()> {
    workflow::run(ctx, job, workflows::Expunge { vm }).await
}

pub(crate) async fn host_of(ctx: &Ctx, vm: &db::vms::VmRow) -> Result<HostRow> {
    let id = vm
        .host_id
        .ok_or_else(|| Error::internal("the VM has no host yet"))?;
    db::hosts::host_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("the VM's host vanished"))
}

/// The root disk: created once (Allocated → Ready); a retry after a crash re-creates a
/// file that never became Ready.
pub(crate) async fn create_root_volume(
    ctx: &Ctx,
    vm: &db::vms::VmRow,
    opts: &Options,
) -> Result<db::volumes::VolumeRow> {
    if let Some(v) = db::volumes::volume_root_of_vm(&ctx.pool, vm.id).await? {
        if v.state == VolumeState::Ready {
            return Ok(v);
        }
        let template = match vm.template_id {
            Some(t) => Some(template_file(ctx, t, vm.zone_id).await?),
            None => None,
        };
        let pool = db::storage::pool_fetch(&ctx.pool, v.pool_id)
            .await?
            .ok_or_else(|| Error::internal("the volume's pool vanished"))?;
        let base = match &template {
            Some(t) => Some(bases::ensure_base(ctx, t, &pool).await?),
            None => None,
        };
        write_volume(ctx, &pool, &v, base.as_deref()).await?;
        return Ok(v);
    }
    let template = match vm.template_id {
        Some(t) => Some(template_file(ctx, t, vm.zone_id).await?),
        None => None,
    };
    let size = match &template {
        // Never smaller than the template (the deploy refused that already).
        Some(t) => opts.size_bytes.unwrap_or(0).max(t.virtual_size),
        None => root_size(ctx, vm, opts).await?,
    };
    // The pool is chosen and the volume recorded under the zone's pool lock, so two
    // first starts never both take a pool's last room; the base and the file follow.
    let mut tx = ctx.pool.begin().await?;
    let pool = choose_root_pool_in(ctx, &mut tx, vm, size).await?;
    let id = VolumeId::new_v4();
    let v = db::volumes::VolumeRow {
        id,
        vm_id: Some(vm.id),
        name: format!("ROOT-{}", vm.instance_number),
        volume_type: "ROOT".into(),
        pool_id: pool.id,
        path: crate::services::vms::volumes::volume_path(id.into()),
        size_bytes: size,
        state: VolumeState::Allocated,
        created: chrono::Utc::now(),
        removed: None,
        template_id: vm.template_id.map(Into::into),
    };
    db::volumes::volume_insert(&mut *tx, &v).await?;
    tx.commit().await?;
    let base = match &template {
        Some(t) => Some(bases::ensure_base(ctx, t, &pool).await?),
        None => None,
    };
    write_volume(ctx, &pool, &v, base.as_deref()).await?;
    Ok(v)
}

/// The storage overprovisioning factor of each pool of `zone`: the pool's own where one is
/// set (CloudStack's StoragePool scope), else the zone's (else the global value).
pub fn storage_factor_of(ctx: &Ctx, zone: ZoneId) -> impl Fn(crate::ids::StoragePoolId) -> f64 {
    let f = &crate::settings::STORAGE_OVERPROVISIONING_FACTOR;
    let factor = ctx.get_in(f, crate::settings::Scope::Zone(zone));
    let per_pool = ctx.stored_at(f, crate::settings::ScopeKind::StoragePool);
    move |id| {
        let id: Uuid = id.into();
        per_pool
            .iter()
            .find(|(p, _)| *p == id)
            .map_or(factor, |(_, f)| *f)
    }
}

/// The primary pool a new root volume of `size` bytes goes to (`rules::placement::
/// choose_pool`): Up, reached by the VM's host, carrying every storage tag the volume asks
/// for (its service offering's, and an ISO deploy's disk offering's), with room. None
/// fits: 533 saying why. (Only the choice: `create_root_volume` chooses and records the
/// volume under the zone's pool lock, `choose_root_pool_in`.)
pub async fn choose_root_pool(
    ctx: &Ctx,
    vm: &db::vms::VmRow,
    size: i64,
) -> Result<db::storage::PoolRow> {
    let mut tx = ctx.pool.begin().await?;
    let pool = choose_root_pool_in(ctx, &mut tx, vm, size).await?;
    tx.commit().await?;
    Ok(pool)
}

/// `choose_root_pool` under the zone's pool lock, held by `tx` until the caller has
/// recorded the volume.
async fn choose_root_pool_in(
    ctx: &Ctx,
    tx: &mut sqlx::PgConnection,
    vm: &db::vms::VmRow,
    size: i64,
) -> Result<db::storage::PoolRow> {
    let host_id = vm
        .host_id
        .ok_or_else(|| Error::internal("the VM has no host yet"))?;
    let factor_of = storage_factor_of(ctx, vm.zone_id);
    let host = db::hosts::host_fetch(&ctx.pool, host_id)
        .await?
        .ok_or_else(|| Error::internal("the VM's host vanished"))?;
    let want =
        allocate::root_storage_tags(&db::offerings::vm_tags(&ctx.pool, vm.id.into_uuid()).await?);
    db::capacity::pool_lock_in_txn(&mut *tx, vm.zone_id).await?;
    let pools = db::capacity::pool_candidates(&mut *tx, vm.zone_id).await?;
    let pool_id =
        crate::rules::placement::choose_pool(&pools, host.cluster_id, size, factor_of, &want)
            .map_err(|why| {
                ApiError::new(
                    ErrorCode::InsufficientCapacity,
                    format!("Unable to create the root volume of VM {}: {why}", vm.name),
                )
            })?;
    db::storage::pool_fetch(&ctx.pool, pool_id)
        .await?
        .ok_or_else(|| Error::internal("the chosen pool vanished"))
}

/// The template's Ready copy in the zone's secondary storage (also for a template
/// deleted since the VM was made: its files are gone then, but its base on the pool
/// is what the volume needs, and only a new base needs the file).
pub(crate) async fn template_file(
    ctx: &Ctx,
    template_id: TemplateId,
    zone_id: ZoneId,
) -> Result<db::templates::TemplateFile> {
    db::templates::template_ready_in_zone(&ctx.pool, template_id, zone_id)
        .await?
        .ok_or_else(|| {
            ApiError::param(format!(
                "Template {template_id} is not ready in the VM's zone (it has not been downloaded to its secondary storage)"
            ))
            .into()
        })
}

/// The base a template VM's root volume is on, on that volume's pool.
async fn base_of(ctx: &Ctx, v: &db::volumes::VolumeRow) -> Result<Option<String>> {
    let Some(t) = v.template_id else {
        return Ok(None);
    };
    match db::bases::base_fetch(&ctx.pool, t.into(), v.pool_id).await? {
        Some(b) if b.state == crate::rules::states::BaseState::Ready => Ok(Some(b.path)),
        _ => Err(ApiError::new(
            ErrorCode::ResourceUnavailable,
            format!(
                "The template copy volume {} is based on is missing from its primary storage",
                v.name
            ),
        )
        .into()),
    }
}

async fn write_volume(
    ctx: &Ctx,
    pool: &db::storage::PoolRow,
    v: &db::volumes::VolumeRow,
    base: Option<&str>,
) -> Result<()> {
    let url = crate::clients::nfs::NfsUrl::parse(&pool.url)
        .map_err(|e| Error::internal(format!("pool {} has a bad URL: {e}", pool.name)))?;
    let made = match base {
        Some(b) => bases::create_overlay(&url, &v.path, b, v.size_bytes as u64).await,
        None => {
            crate::services::vms::volumes::create_qcow2(&url, &v.path, v.size_bytes as u64).await
        }
    };
    made.map_err(|why| {
        ApiError::new(
            ErrorCode::ResourceUnavailable,
            format!(
                "Creating the root volume on primary storage {} failed: {why}",
                pool.name
            ),
        )
    })?;
    db::volumes::volume_set_state(&ctx.pool, v.id, VolumeState::Ready).await?;
    Ok(())
}

async fn root_size(ctx: &Ctx, vm: &db::vms::VmRow, opts: &Options) -> Result<i64> {
    if let Some(s) = opts.size_bytes {
        return Ok(s);
    }
    if let Some(id) = vm.disk_offering_id {
        if let Some(o) = db::offerings::disk_offering_fetch(&ctx.pool, id).await? {
            if let Some(gb) = o.disk_size_gb {
                return Ok(gb << 30);
            }
        }
    }
    Err(ApiError::param(
        "The VM's root disk size is unknown: give a disk offering with a size, or size=",
    )
    .into())
}

/// Removes the VM's root volume file and marks it expunged. Idempotent.
pub async fn remove_root_volume(ctx: &Ctx, vm_id: VmId) -> Result<()> {
    // Its data volumes stay, detached (issue 16).
    db::volumes::data_volumes_release(&ctx.pool, vm_id).await?;
    let Some(v) = db::volumes::volume_root_of_vm(&ctx.pool, vm_id).await? else {
        return Ok(());
    };
    let pool = db::storage::pool_fetch(&ctx.pool, v.pool_id)
        .await?
        .ok_or_else(|| Error::internal("the volume's pool vanished"))?;
    let url = crate::clients::nfs::NfsUrl::parse(&pool.url)
        .map_err(|e| Error::internal(format!("pool {} has a bad URL: {e}", pool.name)))?;
    crate::services::vms::volumes::remove(&url, &v.path)
        .await
        .map_err(|why| {
            ApiError::new(
                ErrorCode::ResourceUnavailable,
                format!(
                    "Removing volume {} from primary storage {} failed: {why}",
                    v.name, pool.name
                ),
            )
        })?;
    db::volumes::volume_mark_expunged(&ctx.pool, v.id).await?;
    Ok(())
}

/// Brings the VM's networks on `host` in line with the VMs placed there (`without`:
/// leave that VM out, e.g. while unwinding it): for a Basic zone's shared network the
/// host's bridge and dnsmasq with its static leases; for an isolated network (issue 15)
/// the network implemented if it is not (its VXLAN/VLAN id, its router), its segment on
/// the host with every other host of the network as a peer, and its router's leases.
pub async fn push_leases(
    ctx: &Ctx,
    host: &HostRow,
    vm_id: VmId,
    without: Option<Uuid>,
) -> Result<()> {
    let leaving = without.map(VmId::from);
    for nic in db::nics::nics_of_vm(&ctx.pool, vm_id).await? {
        let n = crate::services::networks::network(ctx, nic.network_id).await?;
        if crate::services::networks::is_isolated(&n) {
            use crate::services::networks as nets;
            if leaving.is_none() {
                nets::ensure_implemented(ctx, n.id, Some(host.id)).await?;
                nets::join_segment(ctx, n.id, Some(host.id), None).await?;
            }
            nets::apply_without(ctx, n.id, leaving).await?;
            if leaving.is_none() {
                // Its data as of now (a password set while it was stopped, say).
                nets::push_guest_on(ctx, n.id, vm_id).await?;
            }
            continue;
        }
        let net = guest_network(ctx, host, &n, without).await?;
        Agent::of(ctx, host).put_network(&net).await?;
    }
    Ok(())
}

async fn guest_network(
    ctx: &Ctx,
    host: &HostRow,
    n: &db::networks::NetworkRow,
    without: Option<Uuid>,
) -> Result<GuestNetwork> {
    let v4 = |ip: Option<ipnetwork::IpNetwork>| ip.as_ref().and_then(ipv4_of);
    let gateway = v4(n.gateway).ok_or_else(|| {
        ApiError::param(format!(
            "Network {} has no IPv4 guest range with a gateway",
            n.name
        ))
    })?;
    let netmask = v4(n.netmask).unwrap_or(std::net::Ipv4Addr::new(255, 255, 255, 0));
    let leases = db::nics::lease_list_for_host(&ctx.pool, host.id, n.id, without)
        .await?
        .into_iter()
        .filter_map(|l| match l.ip.ip() {
            std::net::IpAddr::V4(ip) => Some(StaticLease {
                mac: l.mac,
                ip,
                hostname: hostname(&l.name),
            }),
            _ => None,
        })
        .collect();
    Ok(GuestNetwork {
        bridge: n.bridge.clone(),
        gateway,
        prefix_len: u32::from(netmask).count_ones() as u8,
        dhcp_address: None,
        dns: [n.dns1, n.dns2].into_iter().filter_map(v4).collect(),
        leases,
    })
}

/// A DHCP host name from a display name (letters, digits, '-'), or none.
pub(crate) fn hostname(name: &str) -> Option<String> {
    let h: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(63)
        .collect();
    (!h.is_empty()).then_some(h)
}

/// The agent's [`VmSpec`] for a placed VM.
pub(crate) async fn spec_for(ctx: &Ctx, vm: &db::vms::VmRow, host: &HostRow) -> Result<VmSpec> {
    let view = view(ctx, vm.id.into_uuid()).await?;
    let vol = db::volumes::volume_root_of_vm(&ctx.pool, vm.id)
        .await?
        .ok_or_else(|| Error::internal("the VM has no root volume"))?;
    let pool = db::storage::pool_fetch(&ctx.pool, vol.pool_id)
        .await?
        .ok_or_else(|| Error::internal("the volume's pool vanished"))?;
    let iso = match vm.iso_id {
        Some(iso_id) => Some(iso_file(ctx, iso_id, vm.zone_id).await?),
        None => None,
    };
    let acceleration = match host.acceleration.as_deref() {
        Some("kvm") => Acceleration::Kvm,
        _ => Acceleration::Qemu,
    };
    Ok(VmSpec {
        id: vm.id.into_uuid(),
        name: view.instance_name.clone(),
        vcpus: vm.cpu_number as u32,
        cpu_mhz: vm.cpu_mhz as u32,
        memory_mib: vm.memory_mb as u64,
        acceleration,
        root_disk: RootDisk {
            file: NfsFile {
                server: pool.server.clone(),
                export: pool.path.clone(),
                path: vol.path.clone(),
            },
            format: DiskFormat::Qcow2,
            virtual_size_bytes: vol.size_bytes as u64,
            backing: base_of(ctx, &vol).await?.map(|path| NfsFile {
                server: pool.server.clone(),
                export: pool.path.clone(),
                path,
            }),
        },
        iso,
        nics: view
            .nics
            .iter()
            .map(|n| Nic {
                mac: n.mac_address.clone(),
                bridge: n.bridge.clone(),
                model: NicModel::Virtio,
            })
            .collect(),
        console_password: None,
        guest: Some(guest::guest_data(ctx, &view).await?),
        data_disks: data_volumes::disks_of(ctx, vm.id).await?,
    })
}

/// Where a Ready ISO lies on the zone's secondary storage.
pub async fn iso_file(ctx: &Ctx, iso_id: IsoId, zone_id: ZoneId) -> Result<NfsFile> {
    let copies = db::isos::iso_zone_list(&ctx.pool, iso_id).await?;
    let copy = copies
        .iter()
        .find(|c| c.zone_id == zone_id && c.state == crate::rules::states::CopyState::Ready)
        .ok_or_else(|| {
            ApiError::param(format!(
                "ISO {iso_id} is not ready in the VM's zone (it has not been downloaded to its secondary storage)"
            ))
        })?;
    let store_id = copy
        .image_store_id
        .ok_or_else(|| Error::internal("a Ready ISO copy has no store"))?;
    let store = db::storage::store_fetch(&ctx.pool, store_id)
        .await?
        .ok_or_else(|| Error::internal("the ISO's store vanished"))?;
    Ok(NfsFile {
        server: store.server,
        export: store.path,
        path: copy
            .install_path
            .clone()
            .unwrap_or_else(|| crate::services::isos::install_path(iso_id)),
    })
}

/// Stops a Running VM: the guest is shut down (forced: powered off), its domain
/// undefined, its capacity released and its lease withdrawn; it keeps its address and
/// disk. Without `forced`, a failure leaves it Running; with it, the VM is marked
/// Stopped even when the host cannot be told (CloudStack's `forced`).
pub async fn stop(ctx: &Ctx, vm_id: VmId, forced: bool) -> Result<()> {
    let o = if forced {
        PowerOptions::forced()
    } else {
        PowerOptions::default()
    };
    stop_with(ctx, vm_id, o).await
}

/// [`stop`] with the guest's shutdown time chosen (`o.timeout_secs`).
pub async fn stop_with(ctx: &Ctx, vm_id: VmId, o: PowerOptions) -> Result<()> {
    let forced = o.forced;
    let vm = {
        let mut tx = ctx.pool.begin().await?;
        let vm = db::vms::vm_fetch_for_update(&mut *tx, vm_id)
            .await?
            .ok_or_else(|| Error::internal("the VM vanished"))?;
        let next = state_of(&vm)?.require(VmEvent::Stop, &vm.display_name)?;
        db::vms::vm_set_state(&mut *tx, vm_id, next, None).await?;
        tx.commit().await?;
        vm
    };
    let result = async {
        let host = host_of(ctx, &vm).await?;
        let agent = Agent::of(ctx, &host);
        agent.stop_vm(vm_id, o).await?;
        agent.delete_vm(vm_id).await?;
        Ok::<_, Error>(host)
    }
    .await;
    match result {
        Ok(host) => {
            let mut tx = ctx.pool.begin().await?;
            db::capacity::vm_release_host(&mut tx, vm_id, VmState::Stopped, None).await?;
            tx.commit().await?;
            if let Err(e) = push_leases(ctx, &host, vm_id, Some(vm_id.into_uuid())).await {
                tracing::warn!(vm = %vm.name, error = %e, "withdrawing the stopped VM's lease failed");
            }
            Ok(())
        }
        Err(e) if forced => {
            tracing::warn!(vm = %vm.name, error = %e, "forced stop: the host could not be told; marking Stopped");
            db::capacity::vm_release_host(
                &mut *ctx.pool.acquire().await?,
                vm_id,
                VmState::Stopped,
                None,
            )
            .await?;
            Ok(())
        }
        Err(e) => {
            db::vms::vm_set_state(&ctx.pool, vm_id, VmState::Running, None).await?;
            Err(e)
        }
    }
}

/// Destroyed: the domain is gone, capacity released; disk and address stay until expunge
/// (recoverVirtualMachine brings it back Stopped).
pub async fn destroy(ctx: &Ctx, vm_id: VmId) -> Result<()> {
    // A running VM is Stopping while its domain goes, as CloudStack stops a VM it
    // destroys: a heartbeat taken meanwhile sees a VM in transition, not one that died
    // out of band (which it would mark Stopped, with an alert).
    let vm = {
        let mut tx = ctx.pool.begin().await?;
        let vm = db::vms::vm_fetch_for_update(&mut *tx, vm_id)
            .await?
            .ok_or_else(|| Error::internal("the VM vanished"))?;
        let state = state_of(&vm)?;
        state.require(VmEvent::Destroy, &vm.display_name)?;
        if state == VmState::Running {
            db::vms::vm_set_state(&mut *tx, vm_id, VmState::Stopping, None).await?;
        }
        tx.commit().await?;
        vm
    };
    if let Some(host_id) = vm.host_id.or(vm.last_host_id) {
        if let Some(host) = db::hosts::host_fetch(&ctx.pool, host_id).await? {
            if let Err(e) = Agent::of(ctx, &host).delete_vm(vm_id).await {
                db::vms::vm_set_state(&ctx.pool, vm_id, vm.state, vm.error_text.as_deref()).await?;
                return Err(e.into());
            }
            db::vms::vm_mark_destroyed(&ctx.pool, vm_id).await?;
            if vm.host_id.is_some() {
                if let Err(e) = push_leases(ctx, &host, vm_id, Some(vm_id.into_uuid())).await {
                    tracing::warn!(vm = %vm.name, error = %e, "withdrawing the destroyed VM's lease failed");
                }
            }
            return Ok(());
        }
    }
    db::vms::vm_mark_destroyed(&ctx.pool, vm_id).await?;
    Ok(())
}

/// Inserts (Some) or ejects (None) an ISO; live when the VM runs.
pub async fn change_iso(ctx: &Ctx, vm_id: VmId, iso: Option<IsoId>) -> Result<()> {
    let vm = db::vms::vm_fetch(&ctx.pool, vm_id)
        .await?
        .ok_or_else(|| Error::internal("the VM vanished"))?;
    let state = state_of(&vm)?;
    state.require(VmEvent::ChangeIso, &vm.display_name)?;
    if state == VmState::Running {
        let host = host_of(ctx, &vm).await?;
        let agent = Agent::of(ctx, &host);
        match iso {
            Some(iso_id) => {
                let file = iso_file(ctx, iso_id, vm.zone_id).await?;
                agent.insert_iso(vm_id, &file).await?;
            }
            None => {
                agent.eject_iso(vm_id).await?;
            }
        }
    }
    db::vms::vm_set_iso(&ctx.pool, vm_id, iso).await?;
    Ok(())
}

/// What a host's report means for the VMs the database places there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAction {
    /// Running in the database, not running on its host: it died out of band.
    Died { vm: VmId, name: String },
    /// A domain on the host no VM owns: alert, never destroy.
    Unknown { uuid: Uuid, name: String },
    /// A domain of one of our VMs that must not run on this host (its deploy or start was
    /// unwound, it was stopped, destroyed or expunged, or it is placed elsewhere), e.g.
    /// started by a libvirt call that finished after its caller gave up: destroyed.
    Stray { vm: VmId, name: String },
}

/// Applies a host's domain report (called with each accepted heartbeat, in its
/// transaction): VMs that died out of band become Stopped with an event and an alert;
/// domains nobody owns are alerted once and left running. Answers the stray domains of
/// our VMs, which the caller destroys after the transaction ([`destroy_strays`]).
pub async fn sync_report(
    conn: &mut sqlx::PgConnection,
    host: &HostRow,
    reported: &[stratus_api::agent::DomainReport],
    settle_secs: i64,
) -> Result<Vec<(VmId, String)>> {
    let placed = db::vms::vm_list_on_host(&mut *conn, host.id, settle_secs).await?;
    let uuids: Vec<Uuid> = reported.iter().map(|d| d.uuid).collect();
    let known = db::vms::vm_known(&mut *conn, &uuids, settle_secs).await?;
    let mut strays = vec![];
    for a in reconcile_report(host.id, &placed, reported, &known) {
        match a {
            SyncAction::Stray { vm, name } => strays.push((vm, name)),
            SyncAction::Died { vm, name } => {
                if !db::vms::vm_mark_died(&mut *conn, vm, host.id).await? {
                    continue;
                }
                let text = format!(
                    "VM {name} stopped outside Stratus on host {}: marked Stopped",
                    host.name
                );
                tracing::warn!(vm = %name, host = %host.name, "VM died out of band");
                crate::db::events::system_event(
                    &mut *conn,
                    "VM.STOP",
                    "WARN",
                    text.clone(),
                    Some(EventResource::new(ResourceType::VirtualMachine, vm, name)),
                )
                .await?;
                db::hosts::alert_insert(&mut *conn, ALERT_TYPE_USERVM, "ALERT.USERVM", &text, host)
                    .await?;
            }
            SyncAction::Unknown { uuid, name } => {
                if db::vms::unknown_domain_note(&mut *conn, host.id, uuid, &name).await? {
                    let text = format!(
                        "Host {} runs domain {name} ({uuid}) that is not a VM of this cloud; it is left alone",
                        host.name
                    );
                    tracing::warn!(host = %host.name, domain = %name, "unknown domain");
                    db::hosts::alert_insert(
                        &mut *conn,
                        ALERT_TYPE_USERVM,
                        "ALERT.UNKNOWN.DOMAIN",
                        &text,
                        host,
                    )
                    .await?;
                }
            }
        }
    }
    db::vms::unknown_domain_forget_others(&mut *conn, host.id, &uuids).await?;
    Ok(strays)
}

/// Destroys stray domains of our VMs on `host` through its agent, each recorded as an
/// event. Idempotent: a failure is logged and the next report finds the domain again.
pub async fn destroy_strays(ctx: &Ctx, host: &HostRow, strays: &[(VmId, String)]) {
    for (vm, name) in strays {
        match Agent::of(ctx, host).delete_vm(*vm).await {
            Ok(d) if d.existed => {
                let text = format!(
                    "Host {} ran a domain of VM {name} that must not run there (its \
                     operation was undone, or it was stopped, destroyed or moved): destroyed",
                    host.name
                );
                tracing::warn!(vm = %name, host = %host.name, "stray domain destroyed");
                let recorded = async {
                    let mut tx = ctx.pool.begin().await?;
                    crate::db::events::system_event(
                        &mut tx,
                        "VM.DESTROY",
                        "WARN",
                        text,
                        Some(EventResource::new(
                            ResourceType::VirtualMachine,
                            *vm,
                            name.clone(),
                        )),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok::<(), Error>(())
                };
                if let Err(e) = recorded.await {
                    tracing::error!(error = %e, "recording a stray domain's destruction");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(vm = %name, host = %host.name, error = %e.text,
                "destroying a stray domain failed; the next report retries"),
        }
    }
}

/// CloudStack's `ALERT_TYPE_USERVM`.
pub const ALERT_TYPE_USERVM: i16 = 8;

/// Compares the database's view of a host with its agent's report. VMs in the middle
/// of an operation (a `work`, or a state change younger than `settled`) are left alone:
/// the report may predate what the operation just did.
pub fn reconcile_report(
    host_id: HostId,
    placed: &[db::vms::HostedVm],
    reported: &[stratus_api::agent::DomainReport],
    known: &[db::vms::KnownVm],
) -> Vec<SyncAction> {
    use stratus_api::agent::DomainState;
    let mut actions = vec![];
    for vm in placed {
        if vm.state != VmState::Running || vm.work.is_some() || !vm.settled {
            continue;
        }
        let running = reported.iter().any(|d| {
            d.uuid == vm.id && matches!(d.state, DomainState::Running | DomainState::Paused)
        });
        if !running {
            actions.push(SyncAction::Died {
                vm: vm.id,
                name: vm.name.clone(),
            });
        }
    }
    for d in reported {
        let Some(vm) = known.iter().find(|v| v.id == d.uuid) else {
            actions.push(SyncAction::Unknown {
                uuid: d.uuid,
                name: d.name.clone(),
            });
            continue;
        };
        // In an operation, or just changed: the report may predate it.
        if vm.work.is_some() || !vm.settled {
            continue;
        }
        let belongs_here = !vm.removed
            && vm.host_id == Some(host_id)
            && [VmState::Running, VmState::Starting, VmState::Stopping].contains(&vm.state);
        if !belongs_here {
            actions.push(SyncAction::Stray {
                vm: vm.id,
                name: vm.name.clone(),
            });
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_api::agent::{DomainReport, DomainState};

    fn hosted(id: u128, state: &str, work: Option<&str>, settled: bool) -> db::vms::HostedVm {
        db::vms::HostedVm {
            id: Uuid::from_u128(id).into(),
            name: format!("vm{id}"),
            state: VmState::parse(state).unwrap(),
            work: work.map(str::to_string),
            settled,
        }
    }

    const HOST: Uuid = Uuid::from_u128(0xA);

    fn known(id: u128, host: Option<HostId>, state: &str, removed: bool) -> db::vms::KnownVm {
        db::vms::KnownVm {
            id: Uuid::from_u128(id).into(),
            name: format!("vm{id}"),
            host_id: host,
            state: VmState::parse(state).unwrap(),
            work: None,
            settled: true,
            removed,
        }
    }

    fn dom(id: u128, state: DomainState) -> DomainReport {
        DomainReport {
            name: format!("i-2-{id}-VM"),
            uuid: Uuid::from_u128(id),
            state,
        }
    }

    #[test]
    fn a_running_vm_missing_or_shut_off_on_its_host_died() {
        let placed = vec![
            hosted(1, "Running", None, true),
            hosted(2, "Running", None, true),
            hosted(3, "Running", None, true),
        ];
        let reported = vec![dom(1, DomainState::Running), dom(2, DomainState::Shutoff)];
        let k = vec![
            known(1, Some(HOST.into()), "Running", false),
            known(2, Some(HOST.into()), "Running", false),
        ];
        let a = reconcile_report(HOST.into(), &placed, &reported, &k);
        assert_eq!(
            a,
            vec![
                SyncAction::Died {
                    vm: VmId::from_u128(2),
                    name: "vm2".into()
                },
                SyncAction::Died {
                    vm: VmId::from_u128(3),
                    name: "vm3".into()
                },
            ]
        );
    }

    #[test]
    fn vms_in_an_operation_or_just_changed_are_left_alone() {
        let placed = vec![
            hosted(1, "Starting", Some("Deploy"), true),
            hosted(2, "Running", Some("Start"), true),
            hosted(3, "Running", None, false),
            hosted(4, "Stopping", None, true),
        ];
        assert!(reconcile_report(HOST.into(), &placed, &[], &[]).is_empty());
        // Their domains are not strays either, whatever the state says.
        let reported: Vec<_> = (1..=4).map(|i| dom(i, DomainState::Running)).collect();
        let mut k: Vec<_> = (1..=4).map(|i| known(i, None, "Error", false)).collect();
        k[0].work = Some("Deploy".into());
        k[1].work = Some("Start".into());
        k[2].settled = false;
        k[3] = known(4, Some(HOST.into()), "Stopping", false);
        assert!(reconcile_report(HOST.into(), &placed, &reported, &k).is_empty());
    }

    #[test]
    fn domains_of_our_vms_that_must_not_run_here_are_strays() {
        let elsewhere = Uuid::from_u128(0xB);
        let reported: Vec<_> = (1..=6).map(|i| dom(i, DomainState::Running)).collect();
        let k = vec![
            known(1, Some(HOST.into()), "Running", false), // belongs here
            known(2, None, "Error", false),                // its deploy was unwound
            known(3, None, "Stopped", false),              // stopped: no domain any more
            known(4, Some(elsewhere.into()), "Running", false), // placed on another host
            known(5, None, "Expunging", true),             // expunged
            known(6, Some(HOST.into()), "Destroyed", false),
        ];
        let placed = vec![hosted(1, "Running", None, true)];
        let strays: Vec<u128> = reconcile_report(HOST.into(), &placed, &reported, &k)
            .into_iter()
            .map(|a| match a {
                SyncAction::Stray { vm, .. } => vm.into_uuid().as_u128(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(strays, [2, 3, 4, 5, 6]);
    }

    #[test]
    fn unknown_domains_are_reported_not_destroyed() {
        let placed = vec![hosted(1, "Running", None, true)];
        let reported = vec![
            dom(1, DomainState::Running),
            dom(9, DomainState::Running),
            dom(5, DomainState::Shutoff),
        ];
        // 5 is a VM of this cloud, in an operation; 9 nobody knows.
        let mut five = known(5, None, "Starting", false);
        five.work = Some("Start".into());
        let k = vec![known(1, Some(HOST.into()), "Running", false), five];
        let a = reconcile_report(HOST.into(), &placed, &reported, &k);
        assert_eq!(
            a,
            vec![SyncAction::Unknown {
                uuid: Uuid::from_u128(9),
                name: "i-2-9-VM".into()
            }]
        );
    }

    #[test]
    fn host_names_from_display_names() {
        assert_eq!(hostname("web 1").as_deref(), Some("web-1"));
        assert_eq!(hostname("--x--").as_deref(), Some("x"));
        assert_eq!(hostname("ü"), None);
    }

    #[test]
    fn steps_are_in_order_and_named() {
        use crate::services::workflow::Steps;
        let names: Vec<_> = workflows::StartStep::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["Allocate", "Volume", "Network", "Domain"]);
        let names: Vec<_> = workflows::ExpungeStep::ALL
            .iter()
            .map(|s| s.name())
            .collect();
        assert_eq!(
            names,
            [
                "Expunging",
                "DeleteDomain",
                "DeleteVolume",
                "ReleaseAddresses"
            ]
        );
    }
}
