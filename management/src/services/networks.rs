//! Isolated guest networks (issue 15): implementing one (its VXLAN/VLAN id, its source
//! NAT address, its router on a host), keeping its router and its hosts' segments in line
//! with the network's VMs, public addresses and rules, and shutting it down.
//!
//! Why a workflow for the implement ([`Implement`], `Kind::NetworkImplement`): it touches
//! three places — the id pool and the public addresses in Postgres, and a host's kernel —
//! and a management server may die between any two. It runs without a job of its own (a
//! deploy's step or restartNetwork runs it), so a dead server's half-done implement is
//! carried on by the next housekeeping pass (`reconcile::resume_orphaned_work`) or by the
//! next deploy into the network, and a failing one gives back what it took.
//!
//! | step | do | undo |
//! |---|---|---|
//! | Vnet | a free VXLAN/VLAN id of the physical network (random, `FOR UPDATE SKIP LOCKED`) | give it back |
//! | SourceNat | the network's source NAT address from the zone's public ranges (when its offering has SourceNat) | kept: the network's until it is deleted |
//! | Router | the router's row: a host (the first VM's, else the one with fewest routers), its legs' MACs | forget it |
//! | Apply | the segment on the router's host and the router itself ([`apply`]) | the agent removes the router |
//!
//! Every change that the router must enforce (a VM's lease, a public address, a rule)
//! ends in [`apply`], which rebuilds the whole [`RouterSpec`] from the database and
//! hands it to the router's host: the agent applies it idempotently, so two applies in a
//! row or an apply after a crash converge on the same state.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_api::agent::StaticLease;
use stratus_api::router::{GuestSegment, Isolation, RouterGuestLeg, RouterPublicLeg, RouterSpec};
use stratus_api::{ApiError, ErrorCode};

use crate::ctx::Ctx;
use crate::db;
use crate::db::networks::NetworkRow;
use crate::db::routers::RouterRow;
use crate::error::{Error, Result};
use crate::ids::{HostId, NetworkId, RouterId, VmId};
use crate::rules::iprange::ipv4_of;
use crate::rules::physical_networks::TrafficType;
use crate::services::agents::Agent;
use crate::services::workflow::{self, Kind, Outputs, Resource, Steps, Workflow};

/// The host bridge a guest label defaults to when the zone's Guest traffic type names
/// none (CloudStack's KVM default).
const DEFAULT_LABEL: &str = "cloudbr0";

/// How long a deploy waits for another deploy's implement of the same network.
const IMPLEMENT_WAIT: Duration = Duration::from_secs(180);

/// The network, with everything its router needs.
pub async fn network(ctx: &Ctx, id: NetworkId) -> Result<NetworkRow> {
    let f = db::ListFilter {
        id: Some(id.into_uuid()),
        ..Default::default()
    };
    db::networks::network_list(&ctx.pool, &f, None, &Default::default())
        .await?
        .0
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::param(format!("Unable to find network {id}")).into())
}

/// An account's network (isolated), as opposed to a Basic zone's shared one.
pub fn is_isolated(n: &NetworkRow) -> bool {
    n.account_id.is_some()
}

/// The isolation of `n`'s segment with id `vnet`, by its physical network's method
/// (peers left empty).
fn isolation(n: &NetworkRow, vnet: i32) -> Isolation {
    match n.isolation.as_deref() {
        Some("VXLAN") => Isolation::Vxlan {
            vni: vnet as u32,
            peers: vec![],
        },
        _ => Isolation::Vlan { id: vnet as u16 },
    }
}

/// The isolation of an implemented network's segment (peers left empty).
fn isolation_of(n: &NetworkRow) -> Result<Isolation> {
    let vnet = n
        .vnet
        .ok_or_else(|| Error::internal(format!("network {} holds no VXLAN/VLAN id", n.name)))?;
    Ok(isolation(n, vnet))
}

/// The zone's KVM label of `t` traffic (the host bridge or NIC it rides).
async fn label(ctx: &Ctx, n: &NetworkRow, t: TrafficType) -> Result<String> {
    Ok(db::physical_networks::tt_in_zone(&ctx.pool, n.zone_id, t)
        .await?
        .and_then(|t| t.kvm_label)
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| DEFAULT_LABEL.into()))
}

/// The segment of an implemented network as host `on` must have it: the flood list is
/// every other host of the network. A host registered by a loopback address (the
/// embedded default's own, 127.0.0.1) is no peer: no other host can reach it there, and
/// it does not flood to itself.
async fn segment(ctx: &Ctx, n: &NetworkRow, hosts: &[db::hosts::HostRow]) -> Result<GuestSegment> {
    let mut isolation = isolation_of(n)?;
    if let Isolation::Vxlan { peers, .. } = &mut isolation {
        *peers = hosts
            .iter()
            .filter_map(|h| ipv4_of(&h.address))
            .filter(|ip| !ip.is_loopback())
            .collect();
        peers.sort();
        peers.dedup();
    }
    Ok(GuestSegment {
        label: label(ctx, n, TrafficType::Guest).await?,
        isolation,
    })
}

async fn hosts_of(ctx: &Ctx, ids: &[HostId]) -> Result<Vec<db::hosts::HostRow>> {
    let mut hosts = vec![];
    for id in ids {
        if let Some(h) = db::hosts::host_fetch(&ctx.pool, *id).await? {
            hosts.push(h);
        }
    }
    Ok(hosts)
}

/// Brings the segment of an implemented isolated network onto `host` (a VM is about to
/// run there) and the flood lists of every host of the network in line (each learns of
/// the others). `without`: a VM leaving, whose host need not be a peer for it.
pub async fn join_segment(
    ctx: &Ctx,
    network_id: NetworkId,
    host: Option<HostId>,
    without: Option<VmId>,
) -> Result<()> {
    let n = network(ctx, network_id).await?;
    if !is_isolated(&n) || n.vnet.is_none() {
        return Ok(());
    }
    let mut ids = db::routers::network_hosts(&ctx.pool, network_id, without).await?;
    ids.extend(host);
    ids.sort();
    ids.dedup();
    let hosts = hosts_of(ctx, &ids).await?;
    let seg = segment(ctx, &n, &hosts).await?;
    // A host that is not Up is left alone (a lost host's calls would only time out); it
    // gets the segment again when its VMs start there.
    for h in hosts
        .iter()
        .filter(|h| h.status == crate::rules::hoststate::Status::Up)
    {
        Agent::of(ctx, h).put_segment(&seg).await?;
    }
    Ok(())
}

/// Pushes the network's router spec (leases, public addresses, NAT and firewall rules)
/// to its router's host. A network that is not implemented (no router yet) has nothing
/// to push: its rules are applied when it is.
pub async fn apply(ctx: &Ctx, network: NetworkId) -> Result<()> {
    apply_without(ctx, network, None).await
}

/// [`apply`], leaving `without`'s leases out (a VM being unwound).
pub async fn apply_without(ctx: &Ctx, network_id: NetworkId, without: Option<VmId>) -> Result<()> {
    let Some(router) = db::routers::router_of_network(&ctx.pool, network_id).await? else {
        return Ok(());
    };
    if router.state == "Stopped" || router.state == "Stopping" {
        return Ok(());
    }
    let Some(host_id) = router.host_id else {
        return Ok(());
    };
    let host = db::hosts::host_fetch(&ctx.pool, host_id)
        .await?
        .ok_or_else(|| Error::internal("the router's host vanished"))?;
    let n = network(ctx, network_id).await?;
    let (spec, vms) = spec(ctx, &n, &router, without).await?;
    // The router's leg joins the segment with every host of the network as a peer.
    join_segment(ctx, network_id, Some(host_id), without).await?;
    let agent = Agent::of(ctx, &host);
    let status = agent.put_router(&spec).await?;
    // Its metadata and password services get the guest data of the VMs they lack (all
    // of them when the router is new on its host: implemented, restarted, failed over).
    // The rules are in force already: a VM whose data does not go through is named in
    // the log and tried again by the next apply (the router still lacks it), and its
    // guest still has its config drive.
    for vm in vms {
        if !status.guests.contains(&vm.into_uuid()) {
            if let Err(e) = put_guest(ctx, &agent, &router, vm).await {
                tracing::warn!(router = %router.name, %vm, error = %e, "sending a VM's guest data to its router");
            }
        }
    }
    Ok(())
}

/// Sends VM `vm`'s guest data (keys, user data, a password not yet delivered) to the
/// router of each isolated network it is on: what the router's metadata and password
/// services answer it ([`stratus_api::router::api::ROUTER_GUEST`]). A router that is
/// not running gets it with its next apply.
pub async fn push_guest(ctx: &Ctx, vm: VmId) -> Result<()> {
    for nic in db::nics::nics_of_vm(&ctx.pool, vm).await? {
        let n = network(ctx, nic.network_id).await?;
        if is_isolated(&n) {
            push_guest_on(ctx, n.id, vm).await?;
        }
    }
    Ok(())
}

/// [`push_guest`] to one network's router.
pub async fn push_guest_on(ctx: &Ctx, network: NetworkId, vm: VmId) -> Result<()> {
    let Some(router) = db::routers::router_of_network(&ctx.pool, network).await? else {
        return Ok(());
    };
    let Some(host_id) = router.host_id.filter(|_| router.state == "Running") else {
        return Ok(());
    };
    let Some(host) = db::hosts::host_fetch(&ctx.pool, host_id).await? else {
        return Ok(());
    };
    put_guest(ctx, &Agent::of(ctx, &host), &router, vm).await
}

async fn put_guest(ctx: &Ctx, agent: &Agent<'_>, router: &RouterRow, vm: VmId) -> Result<()> {
    let view = super::vms::view(ctx, vm.into_uuid()).await?;
    let data = super::vms::guest::guest_data(ctx, &view).await?;
    agent.put_router_guest(&router.name, vm, &data).await?;
    Ok(())
}

/// The whole router of `n` as the agent is to make it.
async fn spec(
    ctx: &Ctx,
    n: &NetworkRow,
    router: &RouterRow,
    without: Option<VmId>,
) -> Result<(RouterSpec, Vec<VmId>)> {
    let gateway = n
        .gateway
        .as_ref()
        .and_then(ipv4_of)
        .ok_or_else(|| Error::internal(format!("network {} has no IPv4 gateway", n.name)))?;
    let netmask = n
        .netmask
        .as_ref()
        .and_then(ipv4_of)
        .unwrap_or(Ipv4Addr::new(255, 255, 255, 0));
    let mut ids = db::routers::network_hosts(&ctx.pool, n.id, without).await?;
    ids.sort();
    ids.dedup();
    let hosts = hosts_of(ctx, &ids).await?;
    let seg = segment(ctx, n, &hosts).await?;
    let rows = db::nics::lease_list_for_network(&ctx.pool, n.id, without).await?;
    let mut vms: Vec<VmId> = rows.iter().map(|l| l.vm_id).collect();
    vms.sort();
    vms.dedup();
    let leases = rows
        .into_iter()
        .filter_map(|l| {
            ipv4_of(&l.ip).map(|ip| StaticLease {
                mac: l.mac,
                ip,
                hostname: super::vms::hostname(&l.name),
            })
        })
        .collect();
    let rules = super::public_ips::router_rules(ctx, n).await?;
    let public = rules.public.map(|p| RouterPublicLeg {
        label: p.label.unwrap_or_else(|| DEFAULT_LABEL.into()),
        isolation: match p.vlan {
            Some(id) => Isolation::Vlan { id: id as u16 },
            None => Isolation::Untagged,
        },
        addresses: p.addresses,
        prefix_len: p.prefix_len,
        gateway: p.gateway,
        mac: router.public_mac.clone(),
    });
    let spec = RouterSpec {
        name: router.name.clone(),
        guest: RouterGuestLeg {
            label: seg.label,
            isolation: seg.isolation,
            gateway,
            prefix_len: u32::from(netmask).count_ones() as u8,
            mac: router.guest_mac.clone(),
            dns_domain: n.network_domain.clone(),
            dns: [n.dns1, n.dns2]
                .iter()
                .flatten()
                .filter_map(ipv4_of)
                .collect(),
            leases,
        },
        public,
        source_nat: rules.source_nat,
        static_nat: rules.static_nat,
        port_forwards: rules.port_forwards,
        firewall: rules.firewall,
        egress: rules.egress,
    };
    Ok((spec, vms))
}

/// The router's agent name: `r-` and the first 8 hex digits of its id (an interface
/// name must fit: `api::router::MAX_NAME_LEN`).
pub fn router_name(id: RouterId) -> String {
    format!("r-{}", &id.into_uuid().simple().to_string()[..8])
}

/// Implements the network if it is not (a deploy's step): waits for another server's or
/// deploy's implement of it rather than failing.
pub async fn ensure_implemented(ctx: &Ctx, id: NetworkId, host: Option<HostId>) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let n = network(ctx, id).await?;
        if !is_isolated(&n) {
            return Ok(());
        }
        if n.state == "Implemented"
            && db::routers::router_of_network(&ctx.pool, id)
                .await?
                .is_some_and(|r| r.state == "Running")
        {
            return Ok(());
        }
        match workflow::run(ctx, None, Implement { network: id, host }).await {
            // Another server or deploy drives it (536 from the engine), or inserted it
            // first (the one-active-workflow index refused this insert: a database
            // error that answers 536 too).
            Err(e)
                if e.to_api().code == ErrorCode::ResourceInUse
                    && started.elapsed() < IMPLEMENT_WAIT =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// The implement of an isolated network (see the module's table).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Implement {
    pub network: NetworkId,
    /// Where the router should go (the host of the VM that needs the network).
    pub host: Option<HostId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImplementStep {
    Vnet,
    SourceNat,
    Router,
    Apply,
}

impl Steps for ImplementStep {
    const ALL: &'static [Self] = &[
        ImplementStep::Vnet,
        ImplementStep::SourceNat,
        ImplementStep::Router,
        ImplementStep::Apply,
    ];
    fn name(self) -> &'static str {
        match self {
            ImplementStep::Vnet => "Vnet",
            ImplementStep::SourceNat => "SourceNat",
            ImplementStep::Router => "Router",
            ImplementStep::Apply => "Apply",
        }
    }
}

fn insufficient(text: String) -> Error {
    ApiError::new(ErrorCode::InsufficientCapacity, text).into()
}

async fn has_service(ctx: &Ctx, n: &NetworkRow, service: &str) -> Result<bool> {
    let o = db::network_offerings::offering_fetch_any(&ctx.pool, n.offering_id)
        .await?
        .ok_or_else(|| Error::internal("the network's offering vanished"))?;
    Ok(o.services
        .iter()
        .any(|s| s.split(':').next() == Some(service)))
}

impl Workflow for Implement {
    const KIND: Kind = Kind::NetworkImplement;
    type Step = ImplementStep;
    fn resource(&self) -> Resource {
        Resource::network(self.network)
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        let n = network(ctx, self.network).await?;
        match n.state.as_str() {
            "Allocated" | "Implementing" | "Implemented" | "Shutdown" => Ok(()),
            s => Err(ApiError::param(format!(
                "Network {} is {s}: it cannot be implemented",
                n.name
            ))
            .into()),
        }
    }
    async fn do_step(&self, ctx: &Ctx, step: ImplementStep, out: &Outputs) -> Result<Value> {
        let n = network(ctx, self.network).await?;
        match step {
            ImplementStep::Vnet => {
                let pn = n.physical_network_id.ok_or_else(|| {
                    Error::internal(format!("network {} has no physical network", n.name))
                })?;
                let mut tx = ctx.pool.begin().await?;
                let vnet = db::physical_networks::vnet_take(&mut tx, pn, n.id)
                    .await?
                    .ok_or_else(|| {
                        insufficient(format!(
                            "Unable to implement network {}: every guest VLAN/VXLAN id of its physical network is in use",
                            n.name
                        ))
                    })?;
                let isolation = isolation(&n, vnet);
                let label = label(ctx, &n, TrafficType::Guest).await?;
                db::networks::network_set_state(
                    &mut *tx,
                    n.id,
                    "Implementing",
                    Some(&isolation.bridge_name(&label)),
                )
                .await?;
                tx.commit().await?;
                Ok(json!({ "vnet": vnet }))
            }
            ImplementStep::SourceNat => {
                let _ = out;
                if !has_service(ctx, &n, "SourceNat").await? {
                    return Ok(Value::Null);
                }
                let mut tx = ctx.pool.begin().await?;
                let ip = db::public_ips::source_nat_take_in_txn(&mut tx, &n)
                    .await?
                    .ok_or_else(|| {
                        insufficient(format!(
                            "Insufficient address capacity: unable to implement network {}: zone {} has no free public IP address for its source NAT (add a public range: createVlanIpRange forvirtualnetwork=true)",
                            n.name, n.zone_name
                        ))
                    })?;
                tx.commit().await?;
                Ok(json!({ "source_nat": ip.address.ip().to_string() }))
            }
            ImplementStep::Router => {
                if let Some(r) = db::routers::router_of_network(&ctx.pool, n.id).await? {
                    if r.host_id.is_some() {
                        return Ok(json!({ "router": r.id }));
                    }
                }
                let hosts =
                    db::routers::router_host_candidates(&ctx.pool, n.zone_id, self.host).await?;
                let host = *hosts.first().ok_or_else(|| {
                    insufficient(format!(
                        "Unable to implement network {}: zone {} has no Up and Enabled host for its router",
                        n.name, n.zone_name
                    ))
                })?;
                let id = RouterId::new_v4();
                let row = RouterRow {
                    id,
                    network_id: n.id,
                    zone_id: n.zone_id,
                    host_id: Some(host),
                    name: router_name(id),
                    state: "Starting".into(),
                    guest_mac: db::nics::random_mac(),
                    public_mac: db::nics::random_mac(),
                    error_text: None,
                    created: chrono::Utc::now(),
                };
                if !db::routers::router_insert(&ctx.pool, &row).await? {
                    // Made by an earlier run of this step: use it, on this host.
                    let r = db::routers::router_of_network(&ctx.pool, n.id)
                        .await?
                        .ok_or_else(|| Error::internal("the router vanished"))?;
                    db::routers::router_set(&ctx.pool, r.id, "Starting", Some(host), None).await?;
                    return Ok(json!({ "router": r.id }));
                }
                Ok(json!({ "router": id }))
            }
            ImplementStep::Apply => {
                let r = db::routers::router_of_network(&ctx.pool, n.id)
                    .await?
                    .ok_or_else(|| Error::internal("the router vanished"))?;
                db::routers::router_set(&ctx.pool, r.id, "Running", r.host_id, None).await?;
                apply(ctx, n.id).await?;
                Ok(Value::Null)
            }
        }
    }
    async fn undo_step(&self, ctx: &Ctx, step: ImplementStep, _: &Outputs) -> Result<()> {
        match step {
            ImplementStep::Vnet => {
                let n = network(ctx, self.network).await?;
                let mut tx = ctx.pool.begin().await?;
                db::physical_networks::vnet_release(&mut *tx, n.id).await?;
                let label = label(ctx, &n, TrafficType::Guest).await?;
                db::networks::network_set_state(&mut *tx, n.id, "Allocated", Some(&label)).await?;
                tx.commit().await?;
            }
            // The source NAT address stays the network's (an address the account
            // associated before the first deploy may be it), counted against the
            // account's limit, and the next implement takes it again; it goes with the
            // network (deleteNetwork).
            ImplementStep::SourceNat => {}
            ImplementStep::Router => {
                if let Some(r) = db::routers::router_of_network(&ctx.pool, self.network).await? {
                    db::routers::router_delete(&ctx.pool, r.id).await?;
                }
            }
            ImplementStep::Apply => {
                if let Some(r) = db::routers::router_of_network(&ctx.pool, self.network).await? {
                    remove_from_host(ctx, &r).await?;
                    db::routers::router_set(&ctx.pool, r.id, "Stopped", r.host_id, None).await?;
                }
            }
        }
        Ok(())
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        db::networks::network_set_state(&ctx.pool, self.network, "Implemented", None).await
    }
    async fn failed(&self, _: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        tracing::warn!(network = %self.network, error = %why.text, "implementing a network failed and was undone");
        Ok(())
    }
}

/// Takes the router off its host (a host that is gone has nothing to take off).
async fn remove_from_host(ctx: &Ctx, r: &RouterRow) -> Result<()> {
    let Some(h) = r.host_id else { return Ok(()) };
    let Some(host) = db::hosts::host_fetch(&ctx.pool, h).await? else {
        return Ok(());
    };
    Agent::of(ctx, &host).delete_router(&r.name).await?;
    Ok(())
}

/// The end of a deleted network (deleteNetwork, after it is marked Destroy): its router
/// off its host and forgotten, its VXLAN/VLAN id given back, its row gone. Idempotent.
pub async fn destroy(ctx: &Ctx, id: NetworkId) -> Result<()> {
    if let Some(r) = db::routers::router_of_network(&ctx.pool, id).await? {
        remove_from_host(ctx, &r).await?;
        db::routers::router_delete(&ctx.pool, r.id).await?;
    }
    let mut tx = ctx.pool.begin().await?;
    db::physical_networks::vnet_release(&mut *tx, id).await?;
    db::networks::network_delete(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(())
}

/// restartNetwork of an implemented isolated network: its router made again from the
/// records — in place, or (`cleanup`) removed from its host first and made anew. A router
/// whose host is not Up and Enabled moves to one that is (same addresses, same rules).
pub async fn restart(ctx: &Ctx, id: NetworkId, cleanup: bool) -> Result<()> {
    let Some(r) = db::routers::router_of_network(&ctx.pool, id).await? else {
        return ensure_implemented(ctx, id, None).await;
    };
    let here = match r.host_id {
        Some(h) => db::hosts::host_fetch(&ctx.pool, h).await?,
        None => None,
    };
    let usable = here.as_ref().is_some_and(|h| {
        h.status == crate::rules::hoststate::Status::Up
            && h.resource_state == crate::rules::hoststate::ResourceState::Enabled
    });
    let mut host = r.host_id;
    if cleanup || !usable {
        if usable {
            remove_from_host(ctx, &r).await?;
        }
        let n = network(ctx, id).await?;
        let to = if usable {
            r.host_id
        } else {
            db::routers::router_host_candidates(&ctx.pool, n.zone_id, None)
                .await?
                .first()
                .copied()
        };
        let to = to.ok_or_else(|| {
            insufficient(format!(
                "Unable to restart network {}: zone {} has no Up and Enabled host for its router",
                n.name, n.zone_name
            ))
        })?;
        db::routers::router_set(&ctx.pool, r.id, "Starting", Some(to), None).await?;
        host = Some(to);
    }
    db::routers::router_set(&ctx.pool, r.id, "Running", host, None).await?;
    apply(ctx, id).await
}

/// stopRouter: the router leaves its host (its guests lose their gateway, DHCP and NAT
/// until it starts); its row, addresses and rules stay.
pub async fn router_stop(ctx: &Ctx, id: RouterId) -> Result<()> {
    let r = db::routers::router_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("the router vanished"))?;
    db::routers::router_set(&ctx.pool, id, "Stopping", r.host_id, None).await?;
    remove_from_host(ctx, &r).await?;
    db::routers::router_set(&ctx.pool, id, "Stopped", r.host_id, None).await
}

/// startRouter: the router made again from the records (on its host, or another if
/// that one is not usable).
pub async fn router_start(ctx: &Ctx, id: RouterId) -> Result<()> {
    let r = db::routers::router_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("the router vanished"))?;
    if r.state == "Running" {
        return Ok(());
    }
    db::routers::router_set(&ctx.pool, id, "Starting", r.host_id, None).await?;
    restart(ctx, r.network_id, false).await
}

/// destroyRouter: the router off its host and forgotten; the network keeps its state,
/// VXLAN/VLAN id, addresses and rules, and its next deploy, start or restartNetwork
/// makes a new router (the implement's steps find what they took still held).
pub async fn router_destroy(ctx: &Ctx, id: RouterId) -> Result<()> {
    let Some(r) = db::routers::router_fetch(&ctx.pool, id).await? else {
        return Ok(());
    };
    remove_from_host(ctx, &r).await?;
    db::routers::router_delete(&ctx.pool, id).await
}

/// Housekeeping's `router-failover` pass: every Running router whose host is lost (Down:
/// it answers neither its agent's heartbeats nor the monitor's probe) is made again on
/// another Up and Enabled host of its zone, with the same addresses, MACs and rules, so
/// its guests get their gateway back within the host monitor's detection time plus one
/// pass. A host that is merely Disconnected or in Alert may still be routing, and two
/// routers answering for one gateway would be worse than a short wait. One router that
/// cannot move (no host left) does not stop the others; the next pass tries again.
pub async fn fail_over(ctx: &Ctx) -> Result<usize> {
    let mut moved = 0;
    for r in db::routers::routers_on_lost_hosts(&ctx.pool).await? {
        match restart(ctx, r.network_id, false).await {
            Ok(()) => {
                moved += 1;
                tracing::warn!(router = %r.name, network = %r.network_id, "router moved off its lost host");
            }
            Err(e) => {
                tracing::warn!(router = %r.name, error = %e, "moving a router off its lost host failed; will retry")
            }
        }
    }
    Ok(moved)
}
