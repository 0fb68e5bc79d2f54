//! Public addresses and their rules (issue 15, migration 0056). An address is a row of
//! `public_ips` while an account holds it; the free ones are the addresses of the zone's
//! public ranges without a row. Taking one inserts the lowest free address with
//! `ON CONFLICT DO NOTHING` and tries again when another request got there first (as
//! [`super::nics::nic_allocate_in_txn`]): the unique `(zone_id, address)` decides, never a
//! prior check, so concurrent requests never hold one address twice, and the partial
//! unique index on source NAT keeps a network from getting two source NAT addresses.
//!
//! Rules (`network_rules`) are CloudStack's firewall rules: port forwarding and the
//! ingress firewall of an address, the egress firewall of a guest network.

use crate::db::networks::NetworkRow;
use crate::ids::{
    AccountId, DomainId, FirewallRuleId, IpRangeId, NetworkId, PhysicalNetworkId, ProjectId,
    PublicIpId, VmId, ZoneId,
};
use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Binds, Counted, RowShape, Scalar};
use crate::error::Result;

/// How often an allocation tries again after losing an address to a concurrent one.
/// Each round someone wins, so this bounds the requests racing for one zone's addresses
/// at once, not the size of the pool.
const ALLOCATION_ATTEMPTS: usize = 64;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct PublicIpRow {
    pub id: PublicIpId,
    pub zone_id: ZoneId,
    pub zone_name: String,
    pub range_id: IpRangeId,
    pub address: IpNetwork,
    pub network_id: NetworkId,
    pub network_name: String,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub account_name: String,
    pub domain_name: String,
    pub domain_path: String,
    pub project_id: Option<ProjectId>,
    pub project_name: Option<String>,
    pub is_source_nat: bool,
    /// `Allocating`, `Allocated`, `Releasing`.
    pub state: String,
    /// Static NAT: the VM and its guest address.
    pub vm_id: Option<VmId>,
    pub vm_ip: Option<IpNetwork>,
    pub vm_name: Option<String>,
    pub vm_display_name: Option<String>,
    pub display: bool,
    pub allocated: DateTime<Utc>,
    /// The range's VLAN (`untagged` or the id), gateway, netmask and physical network.
    pub vlan: String,
    pub gateway: IpNetwork,
    pub netmask: IpNetwork,
    pub physical_network_id: Option<PhysicalNetworkId>,
    pub has_rules: bool,
}

impl PublicIpRow {
    pub fn is_static_nat(&self) -> bool {
        self.vm_id.is_some()
    }
}

const IP_SELECT: &str = "SELECT p.id, p.zone_id, z.name AS zone_name, p.range_id, p.address,
            p.network_id, n.name AS network_name, p.account_id, p.domain_id,
            a.name AS account_name, d.name AS domain_name, d.path AS domain_path,
            pr.id AS project_id, pr.name AS project_name, p.is_source_nat, p.state,
            p.vm_id, p.vm_ip, v.name AS vm_name, v.display_name AS vm_display_name,
            p.display, p.allocated, r.vlan, r.gateway, r.netmask, r.physical_network_id,
            EXISTS (SELECT 1 FROM network_rules x WHERE x.public_ip_id = p.id) AS has_rules";
const IP_JOINS: &str = "FROM public_ips p
         JOIN zones z ON z.id = p.zone_id
         JOIN ip_ranges r ON r.id = p.range_id
         JOIN networks n ON n.id = p.network_id
         JOIN accounts a ON a.id = p.account_id
         JOIN domains d ON d.id = p.domain_id
         LEFT JOIN projects pr ON pr.account_id = p.account_id
         LEFT JOIN vms v ON v.id = p.vm_id";

stmt!(PUBLIC_IP_FETCH: PublicIpRow = format!("{IP_SELECT} {IP_JOINS} WHERE p.id = $1"));

pub async fn public_ip_fetch(
    db: impl PgExecutor<'_>,
    id: PublicIpId,
) -> Result<Option<PublicIpRow>> {
    Ok(PUBLIC_IP_FETCH
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(PUBLIC_IP_LOCK: Scalar<Uuid> = "SELECT id FROM public_ips WHERE id = $1 FOR UPDATE");

/// Locks the address's row until the transaction ends; false if there is none.
pub async fn public_ip_lock(db: impl PgExecutor<'_>, id: PublicIpId) -> Result<bool> {
    Ok(PUBLIC_IP_LOCK
        .query_scalar()
        .bind(id)
        .fetch_optional(db)
        .await?
        .is_some())
}

/// What listPublicIpAddresses narrows by.
#[derive(Debug, Clone, Default)]
pub struct PublicIpFilter {
    pub id: Option<PublicIpId>,
    pub address: Option<IpNetwork>,
    pub keyword: Option<String>,
    pub zone_id: Option<ZoneId>,
    pub network_id: Option<NetworkId>,
    pub range_id: Option<IpRangeId>,
    pub physical_network_id: Option<PhysicalNetworkId>,
    /// None: everyone's.
    pub account_ids: Option<Vec<Uuid>>,
    /// Leave projects' addresses out (a root admin's `listall`).
    pub skip_projects: bool,
    pub is_source_nat: Option<bool>,
    pub is_static_nat: Option<bool>,
    pub state: Option<String>,
    pub display: Option<bool>,
    pub offset: i64,
    pub limit: Option<i64>,
}

stmt!(PUBLIC_IP_LIST: Counted<PublicIpRow> = named format!(
    "{IP_SELECT}, count(*) OVER () AS total {IP_JOINS}
     WHERE ($id::uuid IS NULL OR p.id = $id)
       AND ($address::inet IS NULL OR p.address = $address)
       AND ($keyword::text IS NULL OR host(p.address) LIKE $keyword)
       AND ($zone_id::uuid IS NULL OR p.zone_id = $zone_id)
       AND ($network_id::uuid IS NULL OR p.network_id = $network_id)
       AND ($range_id::uuid IS NULL OR p.range_id = $range_id)
       AND ($physical_network_id::uuid IS NULL OR r.physical_network_id = $physical_network_id)
       AND ($account_ids::uuid[] IS NULL OR p.account_id = ANY($account_ids))
       AND NOT ($skip_projects::bool AND pr.id IS NOT NULL)
       AND ($is_source_nat::bool IS NULL OR p.is_source_nat = $is_source_nat)
       AND ($is_static_nat::bool IS NULL OR (p.vm_id IS NOT NULL) = $is_static_nat)
       AND ($state::text IS NULL OR lower(p.state) = lower($state))
       AND ($display::bool IS NULL OR p.display = $display)
     ORDER BY p.address, p.id OFFSET $offset LIMIT $limit"
));

pub async fn public_ip_list(
    db: impl PgExecutor<'_>,
    f: &PublicIpFilter,
) -> Result<(Vec<PublicIpRow>, i64)> {
    let rows: Vec<Counted<_>> = PUBLIC_IP_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.id)
                .set("address", f.address)
                .set("keyword", f.keyword.as_ref().map(|k| format!("%{k}%")))
                .set("zone_id", f.zone_id)
                .set("network_id", f.network_id)
                .set("range_id", f.range_id)
                .set("physical_network_id", f.physical_network_id)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
                .set("is_source_nat", f.is_source_nat)
                .set("is_static_nat", f.is_static_nat)
                .set("state", &f.state)
                .set("display", f.display)
                .set("offset", f.offset)
                .set("limit", f.limit.unwrap_or(i64::MAX)),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

/// The public addresses of a network, lowest first.
pub async fn public_ips_of_network(
    db: impl PgExecutor<'_>,
    network: NetworkId,
) -> Result<Vec<PublicIpRow>> {
    let f = PublicIpFilter {
        network_id: Some(network),
        ..Default::default()
    };
    Ok(public_ip_list(db, &f).await?.0)
}

stmt!(PUBLIC_IP_LOWEST_FREE: (IpRangeId, IpNetwork) = "SELECT r.id, a.ip FROM ip_ranges r
         CROSS JOIN LATERAL (
             SELECT r.start_ip + g AS ip
             FROM generate_series(0::bigint, (r.end_ip - r.start_ip)) g) a
         WHERE r.zone_id = $1 AND r.purpose = 'public'
           AND NOT EXISTS (SELECT 1 FROM public_ips p WHERE p.zone_id = $1 AND p.address = a.ip)
         ORDER BY a.ip LIMIT 1");

stmt!(PUBLIC_IP_RANGE_OF: Scalar<IpRangeId> = "SELECT r.id FROM ip_ranges r
         WHERE r.zone_id = $1 AND r.purpose = 'public' AND $2::inet BETWEEN r.start_ip AND r.end_ip
         LIMIT 1");

stmt!(PUBLIC_IP_SOURCE_NAT_OF: Scalar<PublicIpId> = "SELECT id FROM public_ips WHERE network_id = $1 AND is_source_nat");

/// The network's source NAT address, if it has one.
pub async fn source_nat_of(
    db: impl PgExecutor<'_>,
    network: NetworkId,
) -> Result<Option<PublicIpId>> {
    Ok(PUBLIC_IP_SOURCE_NAT_OF
        .query_scalar()
        .bind(network)
        .fetch_optional(db)
        .await?)
}

stmt!(
    PUBLIC_IP_INSERT = "INSERT INTO public_ips (id, zone_id, range_id, address, network_id,
            account_id, domain_id, is_source_nat, state, display)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"
);

/// What a new address is for.
#[derive(Debug, Clone, Copy)]
pub struct Allocation {
    pub zone_id: ZoneId,
    pub network_id: NetworkId,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    /// `Allocating` (associateIpAddress, until its job is done) or `Allocated`.
    pub state: &'static str,
    pub display: bool,
}

/// Inserts `address` of `range` for `a`; false when the address (or, with
/// `source_nat`, the network's source NAT) is taken.
async fn insert(
    db: &mut PgConnection,
    a: &Allocation,
    id: PublicIpId,
    range: IpRangeId,
    address: IpNetwork,
    source_nat: bool,
) -> Result<bool> {
    let done = PUBLIC_IP_INSERT
        .query()
        .bind(id)
        .bind(a.zone_id)
        .bind(range)
        .bind(address)
        .bind(a.network_id)
        .bind(a.account_id)
        .bind(a.domain_id)
        .bind(source_nat)
        .bind(a.state)
        .bind(a.display)
        .execute(&mut *db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A new address for `a.network_id`: `address` if given (and free and in one of the
/// zone's public ranges), else the lowest free one. It is the network's source NAT
/// address when the network has none yet (CloudStack's `associateIPToGuestNetwork`).
/// `None` when there is no such free address.
pub async fn public_ip_allocate_in_txn(
    db: &mut PgConnection,
    a: &Allocation,
    address: Option<IpNetwork>,
) -> Result<Option<PublicIpId>> {
    for _ in 0..ALLOCATION_ATTEMPTS {
        let source_nat = source_nat_of(&mut *db, a.network_id).await?.is_none();
        let (range, ip) = match address {
            Some(ip) => {
                let range: Option<IpRangeId> = PUBLIC_IP_RANGE_OF
                    .query_scalar()
                    .bind(a.zone_id)
                    .bind(ip)
                    .fetch_optional(&mut *db)
                    .await?;
                match range {
                    Some(r) => (r, ip),
                    None => return Ok(None),
                }
            }
            None => {
                let free: Option<(IpRangeId, IpNetwork)> = PUBLIC_IP_LOWEST_FREE
                    .query_as()
                    .bind(a.zone_id)
                    .fetch_optional(&mut *db)
                    .await?;
                match free {
                    Some(f) => f,
                    None => return Ok(None),
                }
            }
        };
        let id = PublicIpId::new_v4();
        if insert(db, a, id, range, ip, source_nat).await? {
            return Ok(Some(id));
        }
        if address.is_some() && address_taken(&mut *db, a.zone_id, ip).await? {
            return Ok(None);
        }
    }
    Ok(None)
}

stmt!(PUBLIC_IP_TAKEN: Scalar<bool> = "SELECT EXISTS (SELECT 1 FROM public_ips WHERE zone_id = $1 AND address = $2)");

async fn address_taken(db: &mut PgConnection, zone: ZoneId, ip: IpNetwork) -> Result<bool> {
    Ok(PUBLIC_IP_TAKEN
        .query_scalar()
        .bind(zone)
        .bind(ip)
        .fetch_one(&mut *db)
        .await?)
}

/// The network's source NAT address: the one it has, else a new one (the lowest free of
/// the zone's public ranges), Allocated, owned by the network's owner. Idempotent: taking
/// twice is taking once, and concurrent takes for one network get the same address (the
/// partial unique index makes the loser see the winner's). `None` when the network has no
/// owner (a Basic zone's shared network) or the zone has no free public address.
///
/// Account limits are not checked here: CloudStack does not refuse a network its source
/// NAT for the owner's `public_ip` limit (the address counts once it is held).
pub async fn source_nat_take_in_txn(
    db: &mut PgConnection,
    network: &NetworkRow,
) -> Result<Option<PublicIpRow>> {
    let (Some(account_id), Some(domain_id)) = (network.account_id, network.domain_id) else {
        return Ok(None);
    };
    let a = Allocation {
        zone_id: network.zone_id,
        network_id: network.id,
        account_id,
        domain_id,
        state: "Allocated",
        display: true,
    };
    for _ in 0..ALLOCATION_ATTEMPTS {
        if let Some(id) = source_nat_of(&mut *db, network.id).await? {
            return public_ip_fetch(&mut *db, id).await;
        }
        let free: Option<(IpRangeId, IpNetwork)> = PUBLIC_IP_LOWEST_FREE
            .query_as()
            .bind(network.zone_id)
            .fetch_optional(&mut *db)
            .await?;
        let Some((range, ip)) = free else {
            return Ok(None);
        };
        let id = PublicIpId::new_v4();
        if insert(db, &a, id, range, ip, true).await? {
            return public_ip_fetch(&mut *db, id).await;
        }
    }
    Ok(None)
}

stmt!(RULES_DELETE_OF_NETWORK = "DELETE FROM network_rules WHERE network_id = $1");
stmt!(PUBLIC_IPS_DELETE_OF_NETWORK = "DELETE FROM public_ips WHERE network_id = $1");

/// Gives back every public address of the network (its source NAT one too) and deletes
/// the network's rules (port forwarding, firewall, egress; static NAT goes with the
/// addresses): the network is being shut down or deleted, its router with it. Answers
/// how many addresses were released.
pub async fn release_all_of_network(db: &mut PgConnection, network: NetworkId) -> Result<u64> {
    RULES_DELETE_OF_NETWORK
        .query()
        .bind(network)
        .execute(&mut *db)
        .await?;
    Ok(PUBLIC_IPS_DELETE_OF_NETWORK
        .query()
        .bind(network)
        .execute(&mut *db)
        .await?
        .rows_affected())
}

stmt!(PUBLIC_IP_SET_STATE = "UPDATE public_ips SET state = $2 WHERE id = $1");

pub async fn public_ip_set_state(
    db: impl PgExecutor<'_>,
    id: PublicIpId,
    state: &str,
) -> Result<()> {
    PUBLIC_IP_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(PUBLIC_IP_DELETE = "DELETE FROM public_ips WHERE id = $1");

/// Releases the address (its rules go with it: `ON DELETE CASCADE`).
pub async fn public_ip_delete(db: impl PgExecutor<'_>, id: PublicIpId) -> Result<bool> {
    Ok(PUBLIC_IP_DELETE
        .query()
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(PUBLIC_IP_SET_STATIC_NAT = "UPDATE public_ips SET vm_id = $2, vm_ip = $3 WHERE id = $1");

/// Sets (or with `None` clears) the address's static NAT target. Fails on
/// `public_ips_one_static_nat` when the guest address already has another.
pub async fn public_ip_set_static_nat(
    db: impl PgExecutor<'_>,
    id: PublicIpId,
    target: Option<(VmId, IpNetwork)>,
) -> Result<()> {
    PUBLIC_IP_SET_STATIC_NAT
        .query()
        .bind(id)
        .bind(target.map(|t| t.0))
        .bind(target.map(|t| t.1))
        .execute(db)
        .await?;
    Ok(())
}

stmt!(STATIC_NAT_OF_GUEST: Scalar<PublicIpId> = "SELECT id FROM public_ips
         WHERE network_id = $1 AND vm_ip = $2 AND vm_id IS NOT NULL AND id <> $3 LIMIT 1");

/// Another address of the network that already static-NATs to `guest`.
pub async fn static_nat_of_guest(
    db: impl PgExecutor<'_>,
    network: NetworkId,
    guest: IpNetwork,
    except: PublicIpId,
) -> Result<Option<PublicIpId>> {
    Ok(STATIC_NAT_OF_GUEST
        .query_scalar()
        .bind(network)
        .bind(guest)
        .bind(except)
        .fetch_optional(db)
        .await?)
}

stmt!(NIC_IP_IN_NETWORK: Scalar<IpNetwork> = "SELECT ip_address FROM nics WHERE vm_id = $1 AND network_id = $2
         ORDER BY created LIMIT 1");

/// The VM's guest address in the network, if it has a NIC there.
pub async fn nic_ip_in_network(
    db: impl PgExecutor<'_>,
    vm: VmId,
    network: NetworkId,
) -> Result<Option<IpNetwork>> {
    Ok(NIC_IP_IN_NETWORK
        .query_scalar()
        .bind(vm)
        .bind(network)
        .fetch_optional(db)
        .await?)
}

// --- rules ---

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct RuleRow {
    pub id: FirewallRuleId,
    pub network_id: NetworkId,
    pub public_ip_id: Option<PublicIpId>,
    pub address: Option<IpNetwork>,
    /// `PortForwarding` or `Firewall`.
    pub purpose: String,
    /// `Ingress` or `Egress`.
    pub traffic: String,
    pub protocol: String,
    pub start_port: Option<i32>,
    pub end_port: Option<i32>,
    pub icmp_type: Option<i32>,
    pub icmp_code: Option<i32>,
    pub cidrs: Vec<String>,
    pub dest_cidrs: Vec<String>,
    pub vm_id: Option<VmId>,
    pub vm_ip: Option<IpNetwork>,
    pub vm_name: Option<String>,
    pub vm_display_name: Option<String>,
    pub private_start: Option<i32>,
    pub private_end: Option<i32>,
    pub related_id: Option<FirewallRuleId>,
    /// `Add`, `Active`, `Revoke`.
    pub state: String,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub display: bool,
    pub created: DateTime<Utc>,
}

const RULE_SELECT: &str = "SELECT x.id, x.network_id, x.public_ip_id, p.address, x.purpose,
            x.traffic, x.protocol, x.start_port, x.end_port, x.icmp_type, x.icmp_code, x.cidrs,
            x.dest_cidrs, x.vm_id, x.vm_ip, v.name AS vm_name, v.display_name AS vm_display_name,
            x.private_start, x.private_end, x.related_id, x.state, x.account_id, x.domain_id,
            x.display, x.created";
const RULE_JOINS: &str = "FROM network_rules x
         LEFT JOIN public_ips p ON p.id = x.public_ip_id
         LEFT JOIN vms v ON v.id = x.vm_id
         LEFT JOIN projects pr ON pr.account_id = x.account_id";

/// What the rule lists (and the conflict checks) narrow by.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    pub id: Option<FirewallRuleId>,
    pub network_id: Option<NetworkId>,
    pub public_ip_id: Option<PublicIpId>,
    /// `PortForwarding` or `Firewall`.
    pub purpose: Option<&'static str>,
    /// `Ingress` or `Egress`.
    pub traffic: Option<&'static str>,
    pub account_ids: Option<Vec<Uuid>>,
    pub skip_projects: bool,
    pub display: Option<bool>,
    /// Leave rules being revoked out.
    pub live_only: bool,
    /// A substring of the protocol or the public address.
    pub keyword: Option<String>,
    pub offset: i64,
    pub limit: Option<i64>,
}

stmt!(RULE_LIST: Counted<RuleRow> = named format!(
    "{RULE_SELECT}, count(*) OVER () AS total {RULE_JOINS}
     WHERE ($id::uuid IS NULL OR x.id = $id)
       AND ($network_id::uuid IS NULL OR x.network_id = $network_id)
       AND ($public_ip_id::uuid IS NULL OR x.public_ip_id = $public_ip_id)
       AND ($purpose::text IS NULL OR x.purpose = $purpose)
       AND ($traffic::text IS NULL OR x.traffic = $traffic)
       AND ($account_ids::uuid[] IS NULL OR x.account_id = ANY($account_ids))
       AND NOT ($skip_projects::bool AND pr.id IS NOT NULL)
       AND ($display::bool IS NULL OR x.display = $display)
       AND NOT ($live_only::bool AND x.state = 'Revoke')
       AND ($keyword::text IS NULL OR x.protocol ILIKE $keyword OR host(p.address) LIKE $keyword)
     ORDER BY x.created, x.id OFFSET $offset LIMIT $limit"
));

pub async fn rule_list(db: impl PgExecutor<'_>, f: &RuleFilter) -> Result<(Vec<RuleRow>, i64)> {
    let rows: Vec<Counted<_>> = RULE_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.id)
                .set("network_id", f.network_id)
                .set("public_ip_id", f.public_ip_id)
                .set("purpose", f.purpose)
                .set("traffic", f.traffic)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
                .set("display", f.display)
                .set("live_only", f.live_only)
                .set("keyword", f.keyword.as_ref().map(|k| format!("%{k}%")))
                .set("offset", f.offset)
                .set("limit", f.limit.unwrap_or(i64::MAX)),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

pub async fn rule_fetch(db: impl PgExecutor<'_>, id: FirewallRuleId) -> Result<Option<RuleRow>> {
    let f = RuleFilter {
        id: Some(id),
        ..Default::default()
    };
    Ok(rule_list(db, &f).await?.0.into_iter().next())
}

/// A rule to record.
#[derive(Debug, Clone)]
pub struct NewRule<'a> {
    pub id: FirewallRuleId,
    pub network_id: NetworkId,
    pub public_ip_id: Option<PublicIpId>,
    pub purpose: &'static str,
    pub traffic: &'static str,
    pub protocol: &'static str,
    pub start_port: Option<i32>,
    pub end_port: Option<i32>,
    pub icmp_type: Option<i32>,
    pub icmp_code: Option<i32>,
    pub cidrs: &'a [String],
    pub dest_cidrs: &'a [String],
    pub vm: Option<(VmId, IpNetwork)>,
    pub private_ports: Option<(i32, i32)>,
    pub related_id: Option<FirewallRuleId>,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub display: bool,
}

stmt!(
    RULE_INSERT = "INSERT INTO network_rules (id, network_id, public_ip_id, purpose, traffic,
            protocol, start_port, end_port, icmp_type, icmp_code, cidrs, dest_cidrs, vm_id, vm_ip,
            private_start, private_end, related_id, account_id, domain_id, display)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)"
);

pub async fn rule_insert(db: impl PgExecutor<'_>, r: &NewRule<'_>) -> Result<()> {
    RULE_INSERT
        .query()
        .bind(r.id)
        .bind(r.network_id)
        .bind(r.public_ip_id)
        .bind(r.purpose)
        .bind(r.traffic)
        .bind(r.protocol)
        .bind(r.start_port)
        .bind(r.end_port)
        .bind(r.icmp_type)
        .bind(r.icmp_code)
        .bind(r.cidrs)
        .bind(r.dest_cidrs)
        .bind(r.vm.map(|v| v.0))
        .bind(r.vm.map(|v| v.1))
        .bind(r.private_ports.map(|p| p.0))
        .bind(r.private_ports.map(|p| p.1))
        .bind(r.related_id)
        .bind(r.account_id)
        .bind(r.domain_id)
        .bind(r.display)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    RULE_SET_STATE = "UPDATE network_rules SET state = $2 WHERE id = ANY($1) AND state <> 'Revoke'"
);

/// Sets the state of these rules (`Active` once applied, `Revoke` while being deleted);
/// a rule being revoked stays so.
pub async fn rules_set_state(
    db: impl PgExecutor<'_>,
    ids: &[FirewallRuleId],
    state: &str,
) -> Result<()> {
    RULE_SET_STATE
        .query()
        .bind(ids)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    RULE_REVOKE_RELATED =
        "UPDATE network_rules SET state = 'Revoke' WHERE id = $1 OR related_id = $1"
);

/// Marks a rule and the rules related to it (its openfirewall rule) as being revoked.
pub async fn rule_revoke(db: impl PgExecutor<'_>, id: FirewallRuleId) -> Result<()> {
    RULE_REVOKE_RELATED.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(RULE_DELETE = "DELETE FROM network_rules WHERE id = $1 OR related_id = $1");

/// Deletes a rule and the rules related to it.
pub async fn rule_delete(db: impl PgExecutor<'_>, id: FirewallRuleId) -> Result<()> {
    RULE_DELETE.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(
    RULE_REVOKE_OF_IP = "UPDATE network_rules SET state = 'Revoke'
         WHERE public_ip_id = $1 AND ($2::text IS NULL OR purpose = $2)"
);

/// Marks the address's rules (of `purpose`, or all) as being revoked.
pub async fn rules_revoke_of_ip(
    db: impl PgExecutor<'_>,
    ip: PublicIpId,
    purpose: Option<&str>,
) -> Result<()> {
    RULE_REVOKE_OF_IP
        .query()
        .bind(ip)
        .bind(purpose)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    RULE_DELETE_REVOKED_OF_IP =
        "DELETE FROM network_rules WHERE public_ip_id = $1 AND state = 'Revoke'"
);

/// Deletes the address's rules that were being revoked.
pub async fn rules_delete_revoked_of_ip(db: impl PgExecutor<'_>, ip: PublicIpId) -> Result<()> {
    RULE_DELETE_REVOKED_OF_IP
        .query()
        .bind(ip)
        .execute(db)
        .await?;
    Ok(())
}

statements![
    PUBLIC_IP_FETCH,
    PUBLIC_IP_LOCK,
    PUBLIC_IP_LIST,
    PUBLIC_IP_LOWEST_FREE,
    PUBLIC_IP_RANGE_OF,
    PUBLIC_IP_SOURCE_NAT_OF,
    PUBLIC_IP_INSERT,
    PUBLIC_IP_TAKEN,
    RULES_DELETE_OF_NETWORK,
    PUBLIC_IPS_DELETE_OF_NETWORK,
    PUBLIC_IP_SET_STATE,
    PUBLIC_IP_DELETE,
    PUBLIC_IP_SET_STATIC_NAT,
    STATIC_NAT_OF_GUEST,
    NIC_IP_IN_NETWORK,
    RULE_LIST,
    RULE_INSERT,
    RULE_SET_STATE,
    RULE_REVOKE_RELATED,
    RULE_DELETE,
    RULE_REVOKE_OF_IP,
    RULE_DELETE_REVOKED_OF_IP,
];
