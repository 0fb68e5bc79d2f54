//! NICs and the DHCP leases hosts serve for them. A NIC's guest address is the second
//! allocation a deploy makes under concurrency (after capacity, in `capacity`); the unique
//! constraints, not a prior check, decide who gets an address.

use crate::ids::{NetworkId, NicId, VmId};
use ipnetwork::IpNetwork;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{RowShape, Scalar};
use crate::error::Result;
use crate::ids::HostId;

stmt!(NIC_OF_VM: NicRow = "SELECT n.id, n.vm_id, n.network_id, n.ip_address, n.mac_address::text AS mac_address,
                n.is_default
         FROM nics n WHERE n.vm_id = $1 ORDER BY n.is_default DESC, n.created LIMIT 1");

/// The VM's NIC on a network, if it has one (a stopped VM keeps its address).
pub async fn nic_of_vm(db: impl PgExecutor<'_>, vm_id: VmId) -> Result<Option<NicRow>> {
    Ok(NIC_OF_VM.query_as().bind(vm_id).fetch_optional(db).await?)
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct NicRow {
    pub id: NicId,
    pub vm_id: VmId,
    pub network_id: NetworkId,
    pub ip_address: IpNetwork,
    pub mac_address: String,
    pub is_default: bool,
}

/// A static DHCP lease a host serves on a network.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct LeaseRow {
    pub vm_id: VmId,
    pub mac: String,
    pub ip: IpNetwork,
    pub name: String,
}

stmt!(LEASE_LIST_FOR_HOST: LeaseRow = "SELECT n.vm_id, n.mac_address::text AS mac, n.ip_address AS ip, v.display_name AS name
         FROM nics n JOIN vms v ON v.id = n.vm_id
         WHERE v.host_id = $1 AND n.network_id = $2
           AND v.state IN ('Starting', 'Running', 'Stopping')
           AND ($3::uuid IS NULL OR v.id <> $3)
         ORDER BY n.ip_address");

/// The leases a host's dnsmasq serves on a network: the NICs of the VMs placed there
/// (Starting, Running, Stopping), except `without` (a VM being unwound).
pub async fn lease_list_for_host(
    db: impl PgExecutor<'_>,
    host_id: HostId,
    network_id: NetworkId,
    without: Option<Uuid>,
) -> Result<Vec<LeaseRow>> {
    Ok(LEASE_LIST_FOR_HOST
        .query_as()
        .bind(host_id)
        .bind(network_id)
        .bind(without)
        .fetch_all(db)
        .await?)
}

stmt!(LEASE_LIST_FOR_NETWORK: LeaseRow = "SELECT n.vm_id, n.mac_address::text AS mac, n.ip_address AS ip, v.display_name AS name
         FROM nics n JOIN vms v ON v.id = n.vm_id
         WHERE n.network_id = $1 AND v.removed IS NULL
           AND ($2::uuid IS NULL OR v.id <> $2)
         ORDER BY n.ip_address");

/// The leases an isolated network's router serves: every NIC of the network whose VM is
/// not removed (a stopped VM keeps its address), except `without`'s.
pub async fn lease_list_for_network(
    db: impl PgExecutor<'_>,
    network_id: NetworkId,
    without: Option<VmId>,
) -> Result<Vec<LeaseRow>> {
    Ok(LEASE_LIST_FOR_NETWORK
        .query_as()
        .bind(network_id)
        .bind(without)
        .fetch_all(db)
        .await?)
}

stmt!(NICS_OF_VM: NicRow = "SELECT n.id, n.vm_id, n.network_id, n.ip_address, n.mac_address::text AS mac_address,
                n.is_default
         FROM nics n WHERE n.vm_id = $1 ORDER BY n.is_default DESC, n.created, n.id");

/// Every NIC of a VM, the default first.
pub async fn nics_of_vm(db: impl PgExecutor<'_>, vm_id: VmId) -> Result<Vec<NicRow>> {
    Ok(NICS_OF_VM.query_as().bind(vm_id).fetch_all(db).await?)
}

// The lowest free address of the zone's guest ranges, found from the gaps between the
// addresses in use (one ordered walk of the (network_id, ip_address) index per range,
// stopping at the first gap), not by probing every address of the ranges in turn.
stmt!(NIC_LOWEST_FREE_IP: Scalar<IpNetwork> = "SELECT c.ip FROM networks n
             JOIN ip_ranges r ON r.zone_id = n.zone_id AND r.purpose = 'guest'
             CROSS JOIN LATERAL (
                 (SELECT r.start_ip AS ip
                   WHERE NOT EXISTS (SELECT 1 FROM nics y
                                     WHERE y.network_id = $1 AND y.ip_address = r.start_ip))
                 UNION ALL
                 (SELECT g.ip + 1 FROM (
                     SELECT x.ip_address AS ip,
                            lead(x.ip_address) OVER (ORDER BY x.ip_address) AS next
                     FROM nics x
                     WHERE x.network_id = $1 AND x.ip_address >= r.start_ip
                       AND x.ip_address <= r.end_ip) g
                   WHERE g.ip < r.end_ip AND (g.next IS NULL OR g.next <> g.ip + 1)
                   ORDER BY g.ip LIMIT 1)) c
             WHERE n.id = $1
             ORDER BY c.ip LIMIT 1");

// An isolated network's lowest free host address of its own subnet: the first gap after
// the network address among the addresses in use and the gateway (the router's), below
// the broadcast address.
stmt!(NIC_LOWEST_FREE_OWN_IP: Scalar<IpNetwork> = "SELECT g.ip + 1 FROM networks n
             CROSS JOIN LATERAL (
                 SELECT u.ip, lead(u.ip) OVER (ORDER BY u.ip) AS next FROM (
                     SELECT set_masklen(network(n.net_cidr), 32) AS ip
                     UNION SELECT set_masklen(n.net_gateway, 32) WHERE n.net_gateway IS NOT NULL
                     UNION SELECT set_masklen(x.ip_address, 32) FROM nics x WHERE x.network_id = n.id
                 ) u) g
             WHERE n.id = $1 AND n.net_cidr IS NOT NULL
               AND (g.next IS NULL OR g.next <> g.ip + 1)
               AND g.ip + 1 < set_masklen(broadcast(n.net_cidr), 32)
             ORDER BY g.ip LIMIT 1");

// Serialises address allocation in one network until the transaction ends, and says
// whether the network has a subnet of its own (isolated) or takes the zone's guest
// ranges (a Basic zone's shared network). None: no such network.
stmt!(NIC_NETWORK_LOCK: Scalar<bool> = "SELECT n.net_cidr IS NOT NULL FROM networks n
             CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock(
                 hashtextextended('nic-allocation:' || n.id::text, 0))) l
             WHERE n.id = $1");

/// A NIC on `network_id` with its lowest free address and a random locally administered
/// MAC, or `None` when every address is taken. Allocations in one network take turns
/// (`NIC_NETWORK_LOCK`, until the caller's transaction ends), so concurrent deploys do
/// not all find the same address; the unique constraints still make a double allocation
/// impossible (an address given by `nic_allocate_ip_in_txn` meanwhile: the next is tried).
pub async fn nic_allocate_in_txn(
    db: &mut PgConnection,
    vm_id: VmId,
    network_id: NetworkId,
) -> Result<Option<(IpNetwork, String)>> {
    let Some(own_subnet) = NIC_NETWORK_LOCK
        .query_scalar()
        .bind(network_id)
        .fetch_optional(&mut *db)
        .await?
    else {
        return Ok(None);
    };
    // An isolated network's own subnet (every host address but the gateway, the
    // router's), else the zone's guest ranges (a Basic zone's shared network).
    let lowest = if own_subnet {
        &NIC_LOWEST_FREE_OWN_IP
    } else {
        &NIC_LOWEST_FREE_IP
    };
    for _ in 0..16 {
        let ip: Option<IpNetwork> = lowest
            .query_scalar()
            .bind(network_id)
            .fetch_optional(&mut *db)
            .await?;
        let Some(ip) = ip else { return Ok(None) };
        if let Some(mac) = nic_insert_in_txn(db, vm_id, network_id, ip).await? {
            return Ok(Some((ip, mac)));
        }
    }
    Ok(None)
}

stmt!(NIC_IP_IN_GUEST_RANGE: Scalar<bool> = "SELECT EXISTS (SELECT 1 FROM networks n
                        JOIN ip_ranges r ON r.zone_id = n.zone_id AND r.purpose = 'guest'
                        WHERE n.id = $1 AND n.net_cidr IS NULL
                          AND $2::inet BETWEEN r.start_ip AND r.end_ip)
                     OR EXISTS (SELECT 1 FROM networks n
                        WHERE n.id = $1 AND $2::inet << n.net_cidr
                          AND host($2::inet) NOT IN (host(n.net_gateway), host(network(n.net_cidr)),
                                                     host(broadcast(n.net_cidr))))");
stmt!(NIC_IP_TAKEN: Scalar<bool> = "SELECT EXISTS (SELECT 1 FROM nics WHERE network_id = $1 AND ip_address = $2)");

/// A NIC with exactly `ip`, if it lies in one of the zone's guest ranges (an isolated
/// network: its subnet, not its gateway) and is free.
pub async fn nic_allocate_ip_in_txn(
    db: &mut PgConnection,
    vm_id: VmId,
    network_id: NetworkId,
    ip: std::net::IpAddr,
) -> Result<Option<(IpNetwork, String)>> {
    let in_range: bool = NIC_IP_IN_GUEST_RANGE
        .query_scalar()
        .bind(network_id)
        .bind(IpNetwork::from(ip))
        .fetch_one(&mut *db)
        .await?;
    if !in_range {
        return Ok(None);
    }
    for _ in 0..4 {
        if let Some(mac) = nic_insert_in_txn(db, vm_id, network_id, IpNetwork::from(ip)).await? {
            return Ok(Some((IpNetwork::from(ip), mac)));
        }
        let taken: bool = NIC_IP_TAKEN
            .query_scalar()
            .bind(network_id)
            .bind(IpNetwork::from(ip))
            .fetch_one(&mut *db)
            .await?;
        if taken {
            return Ok(None);
        }
    }
    Ok(None)
}

stmt!(
    NIC_INSERT_IN_TXN = "INSERT INTO nics (id, vm_id, network_id, ip_address, mac_address)
         VALUES ($1, $2, $3, $4, $5::macaddr) ON CONFLICT DO NOTHING"
);

/// Inserts a NIC with `ip` and a fresh random MAC; `None` when the address (or, rarely,
/// the MAC) is already taken — the unique constraints decide, never a prior check.
async fn nic_insert_in_txn(
    db: &mut PgConnection,
    vm_id: VmId,
    network_id: NetworkId,
    ip: IpNetwork,
) -> Result<Option<String>> {
    let mac = random_mac();
    let inserted = NIC_INSERT_IN_TXN
        .query()
        .bind(Uuid::new_v4())
        .bind(vm_id)
        .bind(network_id)
        .bind(ip)
        .bind(&mac)
        .execute(&mut *db)
        .await?;
    Ok((inserted.rows_affected() == 1).then_some(mac))
}

/// `02:xx:xx:xx:xx:xx`: locally administered, unicast.
pub fn random_mac() -> String {
    use rand::Rng;
    let b: [u8; 5] = rand::thread_rng().gen();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

stmt!(NIC_SET_DEFAULT = "UPDATE nics SET is_default = (network_id = $2) WHERE vm_id = $1");

/// The VM's NIC on `network` becomes its default, the others not.
pub async fn nic_set_default(db: &mut PgConnection, vm_id: VmId, network: NetworkId) -> Result<()> {
    NIC_SET_DEFAULT
        .query()
        .bind(vm_id)
        .bind(network)
        .execute(&mut *db)
        .await?;
    Ok(())
}

stmt!(NIC_RELEASE_ALL = "DELETE FROM nics WHERE vm_id = $1");

pub async fn nic_release_all(db: &mut PgConnection, vm_id: VmId) -> Result<u64> {
    Ok(NIC_RELEASE_ALL
        .query()
        .bind(vm_id)
        .execute(&mut *db)
        .await?
        .rows_affected())
}

statements![
    NIC_OF_VM,
    NICS_OF_VM,
    LEASE_LIST_FOR_NETWORK,
    LEASE_LIST_FOR_HOST,
    NIC_LOWEST_FREE_IP,
    NIC_LOWEST_FREE_OWN_IP,
    NIC_NETWORK_LOCK,
    NIC_IP_IN_GUEST_RANGE,
    NIC_IP_TAKEN,
    NIC_INSERT_IN_TXN,
    NIC_SET_DEFAULT,
    NIC_RELEASE_ALL
];
