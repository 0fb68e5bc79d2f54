//! Instances, and the two allocations a deploy makes under concurrency: capacity on a
//! host and a guest address. Both run inside the caller's transaction.

use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use std::sync::LazyLock;

use super::{Counted, ListFilter};
use crate::error::Result;
use crate::rules::placement::Candidate;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VmRow {
    pub id: Uuid,
    pub instance_number: i64,
    pub name: String,
    pub display_name: String,
    pub account_id: Uuid,
    pub domain_id: Uuid,
    pub user_id: Uuid,
    pub zone_id: Uuid,
    pub service_offering_id: Uuid,
    pub disk_offering_id: Option<Uuid>,
    pub iso_id: Option<Uuid>,
    pub state: String,
    pub host_id: Option<Uuid>,
    pub last_host_id: Option<Uuid>,
    pub cpu_number: i32,
    pub cpu_mhz: i32,
    pub memory_mb: i32,
    pub error_text: Option<String>,
    pub created: DateTime<Utc>,
    pub destroyed: Option<DateTime<Utc>>,
    pub removed: Option<DateTime<Utc>>,
    pub keypair: Option<String>,
    pub state_changed: DateTime<Utc>,
}

/// A new VM (state Stopped, no host yet).
#[derive(Debug, Clone)]
pub struct NewVm<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub display_name: &'a str,
    pub account_id: Uuid,
    pub domain_id: Uuid,
    pub user_id: Uuid,
    pub zone_id: Uuid,
    pub service_offering_id: Uuid,
    pub disk_offering_id: Option<Uuid>,
    pub iso_id: Option<Uuid>,
    pub cpu_number: i32,
    pub cpu_mhz: i32,
    pub memory_mb: i32,
    pub keypair: Option<&'a str>,
    /// The `instance.name` setting when it was created: its instance name's last part.
    pub instance_suffix: &'a str,
}

pub async fn vm_insert(db: &mut PgConnection, v: &NewVm<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO vms (id, name, display_name, account_id, domain_id, user_id, zone_id,
            service_offering_id, disk_offering_id, iso_id, cpu_number, cpu_mhz, memory_mb, keypair,
            instance_suffix)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
    )
    .bind(v.id)
    .bind(v.name)
    .bind(v.display_name)
    .bind(v.account_id)
    .bind(v.domain_id)
    .bind(v.user_id)
    .bind(v.zone_id)
    .bind(v.service_offering_id)
    .bind(v.disk_offering_id)
    .bind(v.iso_id)
    .bind(v.cpu_number)
    .bind(v.cpu_mhz)
    .bind(v.memory_mb)
    .bind(v.keypair)
    .bind(v.instance_suffix)
    .execute(&mut *db)
    .await?;
    Ok(())
}

pub async fn vm_fetch(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<VmRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM vms WHERE id = $1 AND removed IS NULL")
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// The VM's row, locked until the transaction ends (state changes are made under it).
pub async fn vm_fetch_for_update(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<VmRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM vms WHERE id = $1 AND removed IS NULL FOR UPDATE")
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// Sets the state (and the error text: cleared unless given).
pub async fn vm_set_state(
    db: impl PgExecutor<'_>,
    id: Uuid,
    state: &str,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE vms SET state = $2, error_text = $3,
                state_changed = CASE WHEN state = $2 THEN state_changed ELSE now() END
         WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn vm_set_iso(db: impl PgExecutor<'_>, id: Uuid, iso: Option<Uuid>) -> Result<()> {
    sqlx::query("UPDATE vms SET iso_id = $2 WHERE id = $1")
        .bind(id)
        .bind(iso)
        .execute(db)
        .await?;
    Ok(())
}

/// destroyVirtualMachine: Destroyed, capacity released, `destroyed` stamped.
pub async fn vm_mark_destroyed(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE vms SET state = 'Destroyed', host_id = NULL, destroyed = now(),
                state_changed = now(), error_text = NULL
         WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// recoverVirtualMachine: back to Stopped.
pub async fn vm_mark_recovered(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE vms SET state = 'Stopped', destroyed = NULL, state_changed = now() WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// The VM is gone: Expunged and removed (its name is free again).
pub async fn vm_mark_expunged(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE vms SET state = 'Expunged', host_id = NULL, removed = now(),
                state_changed = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Destroyed VMs whose `expunge.delay` has passed, oldest first.
pub async fn vm_list_due_for_expunge(
    db: impl PgExecutor<'_>,
    delay_secs: i64,
    limit: i64,
) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM vms
         WHERE state IN ('Destroyed', 'Expunging') AND removed IS NULL
           AND destroyed < now() - make_interval(secs => $1)
         ORDER BY destroyed LIMIT $2",
    )
    .bind(delay_secs as f64)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// The VMs the database places on a host (what its agent should be running).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HostedVm {
    pub id: Uuid,
    pub name: String,
    pub state: String,
    /// The kind of the workflow running on it (`services::workflow`), if one is.
    pub work: Option<String>,
    /// Its state has not changed for `settle_secs` (a report cannot predate the change).
    pub settled: bool,
}

pub async fn vm_list_on_host(
    db: impl PgExecutor<'_>,
    host_id: Uuid,
    settle_secs: i64,
) -> Result<Vec<HostedVm>> {
    Ok(sqlx::query_as(
        "SELECT id, display_name AS name, state,
                (SELECT w.kind FROM workflows w WHERE w.resource_id = vms.id AND w.state IN ('Running', 'Unwinding') LIMIT 1) AS work,
                state_changed < now() - make_interval(secs => $2) AS settled
         FROM vms WHERE host_id = $1 AND removed IS NULL",
    )
    .bind(host_id)
    .bind(settle_secs as f64)
    .fetch_all(db)
    .await?)
}

/// The Running VMs on `host_id` (id, display name).
pub async fn vm_running_on_host(
    db: impl PgExecutor<'_>,
    host_id: Uuid,
) -> Result<Vec<(Uuid, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, display_name FROM vms
         WHERE host_id = $1 AND state = 'Running'
           AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.resource_id = vms.id AND w.state IN ('Running', 'Unwinding')) AND removed IS NULL
         ORDER BY instance_number",
    )
    .bind(host_id)
    .fetch_all(db)
    .await?)
}

/// Marks (or unmarks) a VM to be started at the embedded default's next start.
pub async fn vm_set_resume(db: impl PgExecutor<'_>, id: Uuid, resume: bool) -> Result<()> {
    sqlx::query("UPDATE vms SET resume_on_start = $2 WHERE id = $1")
        .bind(id)
        .bind(resume)
        .execute(db)
        .await?;
    Ok(())
}

/// The Stopped VMs marked to be started again (id, display name); the marks are cleared.
pub async fn vm_take_resumable(db: impl PgExecutor<'_>) -> Result<Vec<(Uuid, String)>> {
    Ok(sqlx::query_as(
        "UPDATE vms SET resume_on_start = false
         WHERE resume_on_start AND removed IS NULL
         RETURNING id, display_name, state",
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .filter(|(_, _, state): &(Uuid, String, String)| state == "Stopped")
    .map(|(id, name, _)| (id, name))
    .collect())
}

/// A VM of this cloud whose UUID a host reported as a domain.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnownVm {
    pub id: Uuid,
    pub name: String,
    pub host_id: Option<Uuid>,
    pub state: String,
    /// The kind of the workflow running on it (`services::workflow`), if one is.
    pub work: Option<String>,
    /// No state change within the settle time.
    pub settled: bool,
    /// Expunged.
    pub removed: bool,
}

/// Which of `ids` are VMs of this cloud, expunged ones included.
pub async fn vm_known(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
    settle_secs: i64,
) -> Result<Vec<KnownVm>> {
    Ok(sqlx::query_as(
        "SELECT id, display_name AS name, host_id, state,
                (SELECT w.kind FROM workflows w WHERE w.resource_id = vms.id AND w.state IN ('Running', 'Unwinding') LIMIT 1) AS work,
                state_changed < now() - make_interval(secs => $2) AS settled,
                removed IS NOT NULL AS removed
         FROM vms WHERE id = ANY($1)",
    )
    .bind(ids)
    .bind(settle_secs as f64)
    .fetch_all(db)
    .await?)
}

/// A VM found dead on its host: Stopped, capacity released (only if it is still the
/// Running VM the caller saw there).
pub async fn vm_mark_died(db: impl PgExecutor<'_>, id: Uuid, host_id: Uuid) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE vms SET state = 'Stopped', host_id = NULL, state_changed = now(),
                error_text = 'The VM stopped outside Stratus (reported by its host)'
         WHERE id = $1 AND host_id = $2 AND state = 'Running'
           AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.resource_id = vms.id AND w.state IN ('Running', 'Unwinding'))",
    )
    .bind(id)
    .bind(host_id)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Remembers a domain nobody owns; true the first time it is seen on that host.
pub async fn unknown_domain_note(
    db: impl PgExecutor<'_>,
    host_id: Uuid,
    uuid: Uuid,
    name: &str,
) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO unknown_domains (host_id, uuid, name) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(host_id)
    .bind(uuid)
    .bind(name)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Forgets unknown domains of a host that are no longer reported.
pub async fn unknown_domain_forget_others(
    db: impl PgExecutor<'_>,
    host_id: Uuid,
    still: &[Uuid],
) -> Result<()> {
    sqlx::query("DELETE FROM unknown_domains WHERE host_id = $1 AND NOT (uuid = ANY($2))")
        .bind(host_id)
        .bind(still)
        .execute(db)
        .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
struct CandidateRow {
    id: Uuid,
    status: String,
    resource_state: String,
    cluster_state: String,
    cpu_cores: Option<i32>,
    cpu_mhz: Option<i32>,
    memory_bytes: Option<i64>,
    reserved_mhz: i64,
    reserved_bytes: i64,
}

/// The zone's hosts as placement candidates, their rows locked (in id order, so
/// concurrent deploys queue instead of deadlocking) until the transaction ends; what is
/// reserved on each is summed under that lock, so two deploys never both take the last
/// capacity.
pub async fn host_candidates_for_update_in_txn(
    db: &mut PgConnection,
    zone_id: Uuid,
) -> Result<Vec<Candidate>> {
    let locked: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM hosts WHERE zone_id = $1 ORDER BY id FOR UPDATE")
            .bind(zone_id)
            .fetch_all(&mut *db)
            .await?;
    if locked.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<CandidateRow> = sqlx::query_as(
        "SELECT h.id, h.status, h.resource_state, c.allocation_state AS cluster_state,
                h.cpu_cores, h.cpu_mhz, h.memory_bytes,
                COALESCE(SUM(v.cpu_number::bigint * v.cpu_mhz), 0)::bigint AS reserved_mhz,
                COALESCE(SUM(v.memory_mb::bigint * 1048576), 0)::bigint AS reserved_bytes
         FROM hosts h
         JOIN clusters c ON c.id = h.cluster_id
         LEFT JOIN vms v ON v.host_id = h.id AND v.state IN ('Starting', 'Running', 'Stopping')
         WHERE h.id = ANY($1)
         GROUP BY h.id, c.allocation_state
         ORDER BY h.id",
    )
    .bind(&locked)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Candidate {
            id: r.id,
            up: r.status == "Up",
            enabled: r.resource_state == "Enabled",
            cluster_enabled: r.cluster_state == "Enabled",
            tags: vec![],
            cpu_total_mhz: i64::from(r.cpu_cores.unwrap_or(0)) * i64::from(r.cpu_mhz.unwrap_or(0)),
            memory_total_bytes: r.memory_bytes.unwrap_or(0),
            cpu_reserved_mhz: r.reserved_mhz,
            memory_reserved_bytes: r.reserved_bytes,
        })
        .collect())
}

/// Reserves the VM's capacity on `host_id` (it becomes Starting there).
pub async fn vm_reserve_on_host_in_txn(
    db: &mut PgConnection,
    vm_id: Uuid,
    host_id: Uuid,
) -> Result<()> {
    sqlx::query("UPDATE vms SET host_id = $2, last_host_id = $2, state = 'Starting' WHERE id = $1")
        .bind(vm_id)
        .bind(host_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// The VM's NIC on a network, if it has one (a stopped VM keeps its address).
pub async fn nic_of_vm(db: impl PgExecutor<'_>, vm_id: Uuid) -> Result<Option<NicRow>> {
    Ok(sqlx::query_as(
        "SELECT n.id, n.vm_id, n.network_id, n.ip_address, n.mac_address::text AS mac_address,
                n.is_default
         FROM nics n WHERE n.vm_id = $1 ORDER BY n.is_default DESC, n.created LIMIT 1",
    )
    .bind(vm_id)
    .fetch_optional(db)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NicRow {
    pub id: Uuid,
    pub vm_id: Uuid,
    pub network_id: Uuid,
    pub ip_address: IpNetwork,
    pub mac_address: String,
    pub is_default: bool,
}

/// A static DHCP lease a host serves on a network.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeaseRow {
    pub mac: String,
    pub ip: IpNetwork,
    pub name: String,
}

/// The leases a host's dnsmasq serves on a network: the NICs of the VMs placed there
/// (Starting, Running, Stopping), except `without` (a VM being unwound).
pub async fn lease_list_for_host(
    db: impl PgExecutor<'_>,
    host_id: Uuid,
    network_id: Uuid,
    without: Option<Uuid>,
) -> Result<Vec<LeaseRow>> {
    Ok(sqlx::query_as(
        "SELECT n.mac_address::text AS mac, n.ip_address AS ip, v.display_name AS name
         FROM nics n JOIN vms v ON v.id = n.vm_id
         WHERE v.host_id = $1 AND n.network_id = $2
           AND v.state IN ('Starting', 'Running', 'Stopping')
           AND ($3::uuid IS NULL OR v.id <> $3)
         ORDER BY n.ip_address",
    )
    .bind(host_id)
    .bind(network_id)
    .bind(without)
    .fetch_all(db)
    .await?)
}

/// Releases what a VM holds on its host (capacity), leaving it in `state`.
pub async fn vm_release_host(
    db: &mut PgConnection,
    vm_id: Uuid,
    state: &str,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE vms SET host_id = NULL, state = $2, error_text = $3 WHERE id = $1")
        .bind(vm_id)
        .bind(state)
        .bind(error)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// A NIC on `network_id` with the lowest free address of the zone's guest ranges and a
/// random locally administered MAC, or `None` when every address is taken. The unique
/// constraints make a double allocation impossible; callers also hold the zone's host
/// locks ([`host_candidates_for_update_in_txn`]), which serialises allocations in a zone
/// so the retry on a conflicting insert is rare.
pub async fn nic_allocate_in_txn(
    db: &mut PgConnection,
    vm_id: Uuid,
    network_id: Uuid,
) -> Result<Option<(IpNetwork, String)>> {
    for _ in 0..16 {
        let ip: Option<IpNetwork> = sqlx::query_scalar(
            "SELECT a.ip FROM networks n
             JOIN ip_ranges r ON r.zone_id = n.zone_id AND r.purpose = 'guest'
             CROSS JOIN LATERAL (
                 SELECT r.start_ip + g AS ip
                 FROM generate_series(0::bigint, (r.end_ip - r.start_ip)) g) a
             WHERE n.id = $1
               AND NOT EXISTS (SELECT 1 FROM nics x WHERE x.network_id = $1 AND x.ip_address = a.ip)
             ORDER BY a.ip LIMIT 1",
        )
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

/// A NIC with exactly `ip`, if it lies in one of the zone's guest ranges and is free.
pub async fn nic_allocate_ip_in_txn(
    db: &mut PgConnection,
    vm_id: Uuid,
    network_id: Uuid,
    ip: std::net::IpAddr,
) -> Result<Option<(IpNetwork, String)>> {
    let in_range: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM networks n
                        JOIN ip_ranges r ON r.zone_id = n.zone_id AND r.purpose = 'guest'
                        WHERE n.id = $1 AND $2::inet BETWEEN r.start_ip AND r.end_ip)",
    )
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
        let taken: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM nics WHERE network_id = $1 AND ip_address = $2)",
        )
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

/// Inserts a NIC with `ip` and a fresh random MAC; `None` when the address (or, rarely,
/// the MAC) is already taken — the unique constraints decide, never a prior check.
async fn nic_insert_in_txn(
    db: &mut PgConnection,
    vm_id: Uuid,
    network_id: Uuid,
    ip: IpNetwork,
) -> Result<Option<String>> {
    let mac = random_mac();
    let inserted = sqlx::query(
        "INSERT INTO nics (id, vm_id, network_id, ip_address, mac_address)
         VALUES ($1, $2, $3, $4, $5::macaddr) ON CONFLICT DO NOTHING",
    )
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
fn random_mac() -> String {
    use rand::Rng;
    let b: [u8; 5] = rand::thread_rng().gen();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

pub async fn nic_release_all(db: &mut PgConnection, vm_id: Uuid) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM nics WHERE vm_id = $1")
        .bind(vm_id)
        .execute(&mut *db)
        .await?
        .rows_affected())
}

/// Live volumes on a storage pool (it cannot be deleted while any exist).
pub async fn volume_count_on_pool(db: &mut PgConnection, pool_id: Uuid) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM volumes WHERE pool_id = $1 AND removed IS NULL")
            .bind(pool_id)
            .fetch_one(&mut *db)
            .await?,
    )
}

// --- volumes ---------------------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VolumeRow {
    pub id: Uuid,
    pub vm_id: Option<Uuid>,
    pub name: String,
    pub volume_type: String,
    pub pool_id: Uuid,
    pub path: String,
    pub size_bytes: i64,
    pub state: String,
    pub created: DateTime<Utc>,
    pub removed: Option<DateTime<Utc>>,
}

pub async fn volume_insert(db: impl PgExecutor<'_>, v: &VolumeRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO volumes (id, vm_id, name, volume_type, pool_id, path, size_bytes, state)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(v.id)
    .bind(v.vm_id)
    .bind(&v.name)
    .bind(&v.volume_type)
    .bind(v.pool_id)
    .bind(&v.path)
    .bind(v.size_bytes)
    .bind(&v.state)
    .execute(db)
    .await?;
    Ok(())
}

/// The VM's live root volume.
pub async fn volume_root_of_vm(db: impl PgExecutor<'_>, vm_id: Uuid) -> Result<Option<VolumeRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM volumes WHERE vm_id = $1 AND volume_type = 'ROOT' AND removed IS NULL",
    )
    .bind(vm_id)
    .fetch_optional(db)
    .await?)
}

pub async fn volume_set_state(db: impl PgExecutor<'_>, id: Uuid, state: &str) -> Result<()> {
    sqlx::query("UPDATE volumes SET state = $2 WHERE id = $1")
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

/// The volume's file is gone: Expunged and removed (no longer counted on its pool).
pub async fn volume_mark_expunged(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE volumes SET state = 'Expunged', removed = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A primary pool for a new volume of `size` on `host_id`: Up, in the host's cluster
/// (cluster scope) or its zone (zone scope), with the most unallocated space that still
/// fits `size` within `overprovisioning` × capacity.
pub async fn pool_choose_for_host(
    db: impl PgExecutor<'_>,
    host_id: Uuid,
    size: i64,
    overprovisioning: f64,
) -> Result<Option<super::storage::PoolRow>> {
    Ok(sqlx::query_as(
        "SELECT p.*, COALESCE(a.allocated, 0)::bigint AS allocated_bytes
         FROM hosts h
         JOIN storage_pools p ON p.zone_id = h.zone_id
              AND (p.scope = 'ZONE' OR (p.scope = 'CLUSTER' AND p.cluster_id = h.cluster_id))
         LEFT JOIN LATERAL (SELECT sum(v.size_bytes) AS allocated FROM volumes v
                            WHERE v.pool_id = p.id AND v.removed IS NULL) a ON true
         WHERE h.id = $1 AND p.state = 'Up'
           AND p.capacity_bytes * $3 - COALESCE(a.allocated, 0) >= $2
         ORDER BY p.capacity_bytes * $3 - COALESCE(a.allocated, 0) DESC, p.id
         LIMIT 1",
    )
    .bind(host_id)
    .bind(size)
    .bind(overprovisioning)
    .fetch_optional(db)
    .await?)
}

/// A listVolumes row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VolumeListRow {
    #[sqlx(flatten)]
    pub volume: VolumeRow,
    pub zone_id: Uuid,
    pub zone_name: String,
    pub pool_name: String,
    pub pool_scope: String,
    pub vm_name: Option<String>,
    pub vm_display_name: Option<String>,
    pub vm_state: Option<String>,
    pub account_id: Option<Uuid>,
    pub account_name: Option<String>,
    pub domain_id: Option<Uuid>,
    pub domain_name: Option<String>,
    pub disk_offering_id: Option<Uuid>,
    pub disk_offering_name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    pub common: ListFilter,
    pub account_id: Option<Uuid>,
    pub vm_id: Option<Uuid>,
    pub zone_id: Option<Uuid>,
    pub pool_id: Option<Uuid>,
    pub volume_type: Option<String>,
}

pub async fn volume_list(
    db: impl PgExecutor<'_>,
    f: &VolumeFilter,
) -> Result<(Vec<VolumeListRow>, i64)> {
    let rows: Vec<Counted<_>> = sqlx::query_as(
        "SELECT vol.*, p.zone_id, z.name AS zone_name, p.name AS pool_name, p.scope AS pool_scope,
                v.name AS vm_name, v.display_name AS vm_display_name, v.state AS vm_state,
                v.account_id, a.name AS account_name, v.domain_id, d.name AS domain_name,
                v.disk_offering_id, o.name AS disk_offering_name,
                count(*) OVER () AS total
         FROM volumes vol
         JOIN storage_pools p ON p.id = vol.pool_id
         JOIN zones z ON z.id = p.zone_id
         LEFT JOIN vms v ON v.id = vol.vm_id
         LEFT JOIN accounts a ON a.id = v.account_id
         LEFT JOIN domains d ON d.id = v.domain_id
         LEFT JOIN disk_offerings o ON o.id = v.disk_offering_id
         WHERE vol.removed IS NULL
           AND ($1::uuid IS NULL OR vol.id = $1)
           AND ($2::text IS NULL OR vol.name = $2)
           AND ($3::text IS NULL OR vol.name ILIKE $3)
           AND ($4::uuid IS NULL OR v.account_id = $4)
           AND ($5::uuid IS NULL OR vol.vm_id = $5)
           AND ($6::uuid IS NULL OR p.zone_id = $6)
           AND ($7::uuid IS NULL OR vol.pool_id = $7)
           AND ($8::text IS NULL OR vol.volume_type = upper($8))
           AND ($9::uuid[] IS NULL OR vol.id = ANY($9))
         ORDER BY vol.created, vol.id OFFSET $10 LIMIT $11",
    )
    .bind(f.common.id)
    .bind(&f.common.name)
    .bind(f.common.keyword_pattern())
    .bind(f.account_id)
    .bind(f.vm_id)
    .bind(f.zone_id)
    .bind(f.pool_id)
    .bind(&f.volume_type)
    .bind(&f.common.ids)
    .bind(f.common.offset)
    .bind(f.common.limit())
    .fetch_all(db)
    .await?;
    Ok(Counted::split(rows))
}

// --- listing VMs -------------------------------------------------------------------------

/// A NIC as listVirtualMachines shows it (aggregated as JSON in [`VmListRow`]).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NicView {
    pub id: Uuid,
    pub network_id: Uuid,
    pub network_name: String,
    pub ip_address: String,
    pub mac_address: String,
    pub is_default: bool,
    pub gateway: Option<String>,
    pub netmask: Option<String>,
    pub bridge: String,
}

/// A listVirtualMachines row: the VM with the names around it, its NICs and root volume.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VmListRow {
    #[sqlx(flatten)]
    pub vm: VmRow,
    pub zone_name: String,
    pub host_name: Option<String>,
    pub account_name: String,
    pub domain_name: String,
    pub domain_path: String,
    pub user_name: String,
    pub service_offering_name: String,
    pub disk_offering_name: Option<String>,
    pub iso_name: Option<String>,
    pub iso_display_text: Option<String>,
    pub os_type_id: Option<Uuid>,
    pub os_display_name: Option<String>,
    pub root_volume_id: Option<Uuid>,
    pub root_size_bytes: Option<i64>,
    pub instance_name: String,
    pub nics: sqlx::types::Json<Vec<NicView>>,
}

#[derive(Debug, Clone, Default)]
pub struct VmFilter {
    pub common: ListFilter,
    pub account_id: Option<Uuid>,
    pub domain_id: Option<Uuid>,
    pub zone_id: Option<Uuid>,
    pub host_id: Option<Uuid>,
    pub state: Option<String>,
    pub iso_id: Option<Uuid>,
    pub network_id: Option<Uuid>,
    pub service_offering_id: Option<Uuid>,
}

const VM_LIST_SELECT: &str = "v.*, z.name AS zone_name, h.name AS host_name,
    a.name AS account_name, d.name AS domain_name, d.path AS domain_path, u.username AS user_name,
    so.name AS service_offering_name, dof.name AS disk_offering_name,
    i.name AS iso_name, i.display_text AS iso_display_text,
    i.os_type_id, ot.description AS os_display_name,
    rv.id AS root_volume_id, rv.size_bytes AS root_size_bytes,
    'i-' || a.number || '-' || v.instance_number || '-' || v.instance_suffix AS instance_name,
    COALESCE((SELECT jsonb_agg(jsonb_build_object(
            'id', n.id, 'network_id', n.network_id, 'network_name', net.name,
            'ip_address', host(n.ip_address), 'mac_address', n.mac_address::text,
            'is_default', n.is_default, 'bridge', net.bridge,
            'gateway', host(g.gateway), 'netmask', host(g.netmask))
            ORDER BY n.is_default DESC, n.created)
        FROM nics n JOIN networks net ON net.id = n.network_id
        LEFT JOIN LATERAL (SELECT r.gateway, r.netmask FROM ip_ranges r
                           WHERE r.zone_id = net.zone_id AND r.purpose = 'guest'
                           ORDER BY r.created, r.id LIMIT 1) g ON true
        WHERE n.vm_id = v.id), '[]'::jsonb) AS nics";

const VM_LIST_JOINS: &str = "JOIN zones z ON z.id = v.zone_id
    LEFT JOIN hosts h ON h.id = COALESCE(v.host_id, v.last_host_id)
    JOIN accounts a ON a.id = v.account_id
    JOIN domains d ON d.id = v.domain_id
    JOIN users u ON u.id = v.user_id
    JOIN service_offerings so ON so.id = v.service_offering_id
    LEFT JOIN disk_offerings dof ON dof.id = v.disk_offering_id
    LEFT JOIN isos i ON i.id = v.iso_id
    LEFT JOIN os_types ot ON ot.id = i.os_type_id
    LEFT JOIN volumes rv ON rv.vm_id = v.id AND rv.volume_type = 'ROOT' AND rv.removed IS NULL";

pub async fn vm_list(db: impl PgExecutor<'_>, f: &VmFilter) -> Result<(Vec<VmListRow>, i64)> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        super::paged_sql(
            VM_LIST_SELECT,
            "vms",
            "v",
            VM_LIST_JOINS,
            "{a}.removed IS NULL
             AND ($1::uuid IS NULL OR {a}.id = $1)
             AND ($2::text IS NULL OR {a}.name = $2)
             AND ($3::text IS NULL OR {a}.name ILIKE $3 OR {a}.display_name ILIKE $3)
             AND ($4::uuid IS NULL OR {a}.account_id = $4)
             AND ($5::uuid IS NULL OR {a}.domain_id = $5)
             AND ($6::uuid IS NULL OR {a}.zone_id = $6)
             AND ($7::uuid IS NULL OR {a}.host_id = $7)
             AND ($8::text IS NULL OR lower({a}.state) = lower($8))
             AND ($9::uuid IS NULL OR {a}.iso_id = $9)
             AND ($10::uuid IS NULL OR EXISTS (SELECT 1 FROM nics xn
                                              WHERE xn.vm_id = {a}.id AND xn.network_id = $10))
             AND ($11::uuid IS NULL OR {a}.service_offering_id = $11)
             AND ($12::uuid[] IS NULL OR {a}.id = ANY($12))",
            "v.created, v.id",
            13,
        )
    });
    let rows: Vec<Counted<_>> = sqlx::query_as(&SQL)
        .bind(f.common.id)
        .bind(&f.common.name)
        .bind(f.common.keyword_pattern())
        .bind(f.account_id)
        .bind(f.domain_id)
        .bind(f.zone_id)
        .bind(f.host_id)
        .bind(&f.state)
        .bind(f.iso_id)
        .bind(f.network_id)
        .bind(f.service_offering_id)
        .bind(&f.common.ids)
        .bind(f.common.offset)
        .bind(f.common.limit())
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

// --- capacity ----------------------------------------------------------------------------

/// One listCapacity row: a capacity type in a zone (totals before overprovisioning).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ZoneCapacityRow {
    pub zone_id: Uuid,
    pub zone_name: String,
    pub memory_total: i64,
    pub memory_used: i64,
    pub cpu_total_mhz: i64,
    pub cpu_used_mhz: i64,
    pub cpu_cores_total: i64,
    pub cpu_cores_used: i64,
    pub primary_total: i64,
    pub primary_used: i64,
    pub primary_allocated: i64,
    pub secondary_total: i64,
    pub secondary_used: i64,
    pub guest_ips_total: i64,
    pub guest_ips_used: i64,
}

pub async fn capacity_by_zone(
    db: impl PgExecutor<'_>,
    zone_id: Option<Uuid>,
) -> Result<Vec<ZoneCapacityRow>> {
    Ok(sqlx::query_as(
        "SELECT z.id AS zone_id, z.name AS zone_name,
            COALESCE((SELECT sum(h.memory_bytes) FROM hosts h WHERE h.zone_id = z.id), 0)::bigint AS memory_total,
            COALESCE((SELECT sum(v.memory_mb::bigint * 1048576) FROM vms v WHERE v.zone_id = z.id
                      AND v.state IN ('Starting', 'Running', 'Stopping') AND v.host_id IS NOT NULL), 0)::bigint AS memory_used,
            COALESCE((SELECT sum(h.cpu_cores::bigint * h.cpu_mhz) FROM hosts h WHERE h.zone_id = z.id), 0)::bigint AS cpu_total_mhz,
            COALESCE((SELECT sum(v.cpu_number::bigint * v.cpu_mhz) FROM vms v WHERE v.zone_id = z.id
                      AND v.state IN ('Starting', 'Running', 'Stopping') AND v.host_id IS NOT NULL), 0)::bigint AS cpu_used_mhz,
            COALESCE((SELECT sum(h.cpu_cores) FROM hosts h WHERE h.zone_id = z.id), 0)::bigint AS cpu_cores_total,
            COALESCE((SELECT sum(v.cpu_number) FROM vms v WHERE v.zone_id = z.id
                      AND v.state IN ('Starting', 'Running', 'Stopping') AND v.host_id IS NOT NULL), 0)::bigint AS cpu_cores_used,
            COALESCE((SELECT sum(p.capacity_bytes) FROM storage_pools p WHERE p.zone_id = z.id), 0)::bigint AS primary_total,
            COALESCE((SELECT sum(p.used_bytes) FROM storage_pools p WHERE p.zone_id = z.id), 0)::bigint AS primary_used,
            COALESCE((SELECT sum(vol.size_bytes) FROM volumes vol JOIN storage_pools p ON p.id = vol.pool_id
                      WHERE p.zone_id = z.id AND vol.removed IS NULL), 0)::bigint AS primary_allocated,
            COALESCE((SELECT sum(s.capacity_bytes) FROM image_stores s WHERE s.zone_id = z.id), 0)::bigint AS secondary_total,
            COALESCE((SELECT sum(s.used_bytes) FROM image_stores s WHERE s.zone_id = z.id), 0)::bigint AS secondary_used,
            COALESCE((SELECT sum(r.end_ip - r.start_ip + 1) FROM ip_ranges r
                      WHERE r.zone_id = z.id AND r.purpose = 'guest'), 0)::bigint AS guest_ips_total,
            COALESCE((SELECT count(*) FROM nics n JOIN networks net ON net.id = n.network_id
                      WHERE net.zone_id = z.id), 0)::bigint AS guest_ips_used
         FROM zones z
         WHERE ($1::uuid IS NULL OR z.id = $1)
         ORDER BY z.created, z.id",
    )
    .bind(zone_id)
    .fetch_all(db)
    .await?)
}

/// Benchmark seeding: `n` Running VMs spread over `hosts` round-robin, each with a NIC
/// taking the guest range's addresses in order from its start. One statement each, so
/// 10,000 VMs take seconds, not the minutes one allocation at a time would.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub async fn vm_seed_placed_bulk(
    db: &mut PgConnection,
    n: i64,
    zone_id: Uuid,
    owner: (Uuid, Uuid, Uuid),
    offering: (Uuid, i32, i32, i32),
    hosts: &[Uuid],
    network_id: Uuid,
) -> Result<()> {
    let (account, domain, user) = owner;
    let (so, cpus, mhz, mem) = offering;
    sqlx::query(
        "INSERT INTO vms (id, name, display_name, account_id, domain_id, user_id, zone_id,
             service_offering_id, state, host_id, last_host_id, cpu_number, cpu_mhz, memory_mb)
         SELECT gen_random_uuid(), 'seed-' || g, 'seed-' || g, $2, $3, $4, $5, $6, 'Running',
                ($7::uuid[])[1 + g % array_length($7::uuid[], 1)],
                ($7::uuid[])[1 + g % array_length($7::uuid[], 1)], $8, $9, $10
         FROM generate_series(1, $1) g",
    )
    .bind(n)
    .bind(account)
    .bind(domain)
    .bind(user)
    .bind(zone_id)
    .bind(so)
    .bind(hosts)
    .bind(cpus)
    .bind(mhz)
    .bind(mem)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "INSERT INTO nics (id, vm_id, network_id, ip_address, mac_address)
         SELECT gen_random_uuid(), v.id, $1,
                (SELECT r.start_ip FROM networks n JOIN ip_ranges r
                   ON r.zone_id = n.zone_id AND r.purpose = 'guest'
                 WHERE n.id = $1 ORDER BY r.start_ip LIMIT 1) + (v.rn - 1),
                ('02:5e:' || lpad(to_hex((v.rn >> 24) & 255), 2, '0') || ':'
                    || lpad(to_hex((v.rn >> 16) & 255), 2, '0') || ':'
                    || lpad(to_hex((v.rn >> 8) & 255), 2, '0') || ':'
                    || lpad(to_hex(v.rn & 255), 2, '0'))::macaddr
         FROM (SELECT id, row_number() OVER (ORDER BY instance_number) AS rn
               FROM vms WHERE name LIKE 'seed-%') v",
    )
    .bind(network_id)
    .execute(&mut *db)
    .await?;
    Ok(())
}
