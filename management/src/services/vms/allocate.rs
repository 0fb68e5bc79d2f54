//! Instances: the allocations a deploy makes before anything runs — capacity on a host
//! and the guest address — in one transaction, so a deploy either holds both or nothing.
//!
//! Why one transaction with the chosen host's row locked: placement reads what is already
//! reserved and writes a new reservation; under concurrent deploys both must happen under
//! the same lock, or two deploys could take the last capacity of a host. Only that one
//! row is locked (issue 20): hosts are ranked from an unlocked read by
//! `vm.allocation.algorithm`, then the first that still fits under its lock is taken
//! ([`take_first_fitting`]), so deploys to different hosts, and the heartbeats of every
//! other host, go on in parallel (a lock on every host of the zone serialised them all).
//! Addresses are taken one network at a time (`db::nics`) and protected by the NIC table's
//! unique constraints. A deploy that loses gets 533 (insufficient capacity) with the
//! reason and holds nothing.

use crate::ids::{ClusterId, HostId, NetworkId, VmId, ZoneId};
use ipnetwork::IpNetwork;
use stratus_api::{ApiError, ErrorCode};

use crate::ctx::Ctx;
use crate::db;
use crate::error::{Error, Result};
use crate::rules::placement::{self, Algorithm, Factors, NoHost, Order, Request};
use crate::rules::tags;
use crate::settings::{self, Scope};

/// What a deploy got.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub host_id: HostId,
    pub network_id: NetworkId,
    pub ip: IpNetwork,
    pub mac: String,
}

/// Reserves capacity and a guest address for a Stopped VM; it becomes Starting on the
/// chosen host. A VM that already has an address (a stopped VM keeps its own) keeps it;
/// `ip` asks for a specific address, `host` for a specific host (admins). On failure
/// nothing is held (the transaction rolls back).
pub async fn allocate(
    ctx: &Ctx,
    vm_id: VmId,
    ip: Option<std::net::IpAddr>,
    host: Option<HostId>,
) -> Result<Allocation> {
    let mut tx = ctx.pool.begin().await?;
    let vm = db::vms::vm_fetch(&mut *tx, vm_id)
        .await?
        .ok_or_else(|| Error::internal("the VM vanished"))?;
    let insufficient = |why: String| -> Error {
        ApiError::new(
            ErrorCode::InsufficientCapacity,
            format!("Unable to create a deployment for VM {}: {why}", vm.name),
        )
        .into()
    };
    // Ranked from an unlocked read, then the first that still fits once its row is
    // locked: deploys to different hosts (and heartbeats) never wait for each other.
    let mut candidates = db::capacity::host_candidates(&mut tx, vm.zone_id).await?;
    if let Some(h) = host {
        candidates.retain(|c| c.id == h);
        if candidates.is_empty() {
            return Err(ApiError::param(format!("Host {h} is not a host of the VM's zone")).into());
        }
    }
    // The host must carry every host tag of the VM's offering; and while the VM has no
    // root volume yet, reach a pool carrying every storage tag that volume asks for.
    let wanted = db::offerings::vm_tags(&mut *tx, vm.id.into_uuid()).await?;
    let has_volume = db::volumes::volume_root_of_vm(&mut *tx, vm.id)
        .await?
        .is_some();
    let req = Request {
        cpu_mhz: i64::from(vm.cpu_number) * i64::from(vm.cpu_mhz),
        memory_bytes: i64::from(vm.memory_mb) << 20,
        host_tags: tags::parse_stored(wanted.host_tags.as_deref()),
        storage_tags: if has_volume {
            vec![]
        } else {
            root_storage_tags(&wanted)
        },
    };
    let pools = if req.storage_tags.is_empty() {
        vec![]
    } else {
        db::capacity::pool_candidates(&mut *tx, vm.zone_id).await?
    };
    let factors = |cluster: crate::ids::ClusterId| {
        let at = Scope::cluster(vm.zone_id, cluster);
        Factors {
            cpu: ctx.get_in(&settings::CPU_OVERPROVISIONING_FACTOR, at),
            memory: ctx.get_in(&settings::MEM_OVERPROVISIONING_FACTOR, at),
        }
    };
    let order = order_for(ctx, &mut tx, &vm).await?;
    let ranked = placement::rank(&candidates, &pools, &req, factors, &order)
        .map_err(|why| insufficient(why.to_string()))?;
    let host_id = take_first_fitting(&mut tx, vm.zone_id, &ranked, &req, factors)
        .await?
        .map_err(|why| insufficient(why.to_string()))?;
    db::capacity::vm_reserve_on_host_in_txn(&mut tx, vm.id, host_id).await?;
    // A VM keeps its addresses (a stopped VM's, and those deployVirtualMachine took in
    // an isolated network); else it gets one on the zone's shared network.
    let (network_id, ip, mac) = if let Some(nic) = db::nics::nic_of_vm(&mut *tx, vm.id).await? {
        (nic.network_id, nic.ip_address, nic.mac_address)
    } else {
        let network = db::networks::zone_shared_network(&mut *tx, vm.zone_id)
            .await?
            .ok_or_else(|| insufficient("the zone has no guest network".into()))?;
        let (ip, mac) = if let Some(want) = ip {
            db::nics::nic_allocate_ip_in_txn(&mut tx, vm.id, network.id, want)
                .await?
                .ok_or_else(|| -> Error {
                    ApiError::new(
                        ErrorCode::InsufficientCapacity,
                        format!(
                            "The IP address {want} is not available in network {}: it is outside the zone's guest ranges or already in use",
                            network.name
                        ),
                    )
                    .into()
                })?
        } else {
            db::nics::nic_allocate_in_txn(&mut tx, vm.id, network.id)
                .await?
                .ok_or_else(|| {
                    insufficient(format!(
                        "every address of the guest IP ranges of zone {} is allocated",
                        network.zone_name
                    ))
                })?
        };
        (network.id, ip, mac)
    };
    tx.commit().await?;
    Ok(Allocation {
        host_id,
        network_id,
        ip,
        mac,
    })
}

/// The storage tags a VM's root volume asks for: its service offering's, and those of the
/// disk offering that sized it (an ISO deploy's), each once.
pub fn root_storage_tags(wanted: &db::offerings::VmTagsRow) -> Vec<String> {
    tags::union(
        &tags::parse_stored(wanted.storage_tags.as_deref()),
        &tags::parse_stored(wanted.disk_tags.as_deref()),
    )
}

/// Undoes [`allocate`]: the address and the capacity are released; the VM is left in
/// `state` (Stopped, or Error with the reason). Idempotent.
pub async fn release(
    ctx: &Ctx,
    vm_id: VmId,
    state: crate::rules::vmstate::VmState,
    error: Option<&str>,
) -> Result<()> {
    let mut tx = ctx.pool.begin().await?;
    db::nics::nic_release_all(&mut tx, vm_id).await?;
    db::capacity::vm_release_host(&mut tx, vm_id, state, error).await?;
    tx.commit().await?;
    Ok(())
}

/// How `vm.allocation.algorithm` orders the hosts for `vm`'s deploy, with where the
/// account's VMs are when the algorithm asks for it, and a fresh seed for its shuffles.
async fn order_for(ctx: &Ctx, conn: &mut sqlx::PgConnection, vm: &db::vms::VmRow) -> Result<Order> {
    // The setting's check admits only the algorithms' names.
    let algorithm =
        Algorithm::parse(&ctx.get(&settings::VM_ALLOCATION_ALGORITHM)).unwrap_or_default();
    let mut order = Order {
        algorithm,
        seed: rand::random(),
        ..Default::default()
    };
    if algorithm.needs_account_placement() {
        for (host, pod, n) in
            db::capacity::account_vms_by_host(&mut *conn, vm.account_id, vm.zone_id).await?
        {
            order.account_vms_on_host.insert(host, n);
            *order.account_vms_in_pod.entry(pod).or_default() += n;
        }
    }
    Ok(order)
}

/// The first host of `ranked` that still fits `req` once its row is locked, the lock
/// kept until `conn`'s transaction ends; or why none did. Each try is a savepoint: a host
/// that no longer fits (a concurrent deploy took its room since the ranking's read) is
/// unlocked before the next is locked, so a deploy holds at most one host row and two
/// deploys cannot deadlock over hosts. With storage tags the zone's pools are locked and
/// read again under the host's lock too.
pub(crate) async fn take_first_fitting(
    conn: &mut sqlx::PgConnection,
    zone_id: ZoneId,
    ranked: &[HostId],
    req: &Request,
    factors: impl Fn(ClusterId) -> Factors,
) -> Result<Result<HostId, NoHost>> {
    let mut why = NoHost::NoneAvailable;
    for &h in ranked {
        let mut sp = sqlx::Connection::begin(&mut *conn).await?;
        let Some(fresh) = db::capacity::host_candidate_for_update_in_txn(&mut sp, h).await? else {
            sp.rollback().await?;
            continue;
        };
        let pools = if req.storage_tags.is_empty() {
            vec![]
        } else {
            db::capacity::pool_lock_in_txn(&mut sp, zone_id).await?;
            db::capacity::pool_candidates(&mut *sp, zone_id).await?
        };
        match placement::choose(std::slice::from_ref(&fresh), &pools, req, &factors) {
            Ok(id) => {
                sp.commit().await?;
                return Ok(Ok(id));
            }
            Err(e) => {
                sp.rollback().await?;
                why = e;
            }
        }
    }
    Ok(Err(why))
}
