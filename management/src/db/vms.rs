//! Instances, and the two allocations a deploy makes under concurrency: capacity on a
//! host and a guest address. Both run inside the caller's transaction.

use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::placement::Candidate;
use crate::error::Result;

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
}

pub async fn vm_insert(db: &mut PgConnection, v: &NewVm<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO vms (id, name, display_name, account_id, domain_id, user_id, zone_id,
            service_offering_id, disk_offering_id, iso_id, cpu_number, cpu_mhz, memory_mb)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
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
    .execute(&mut *db)
    .await?;
    Ok(())
}

pub async fn vm_fetch(db: &mut PgConnection, id: Uuid) -> Result<Option<VmRow>> {
    Ok(sqlx::query_as("SELECT * FROM vms WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *db)
        .await?)
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
        if inserted.rows_affected() == 1 {
            return Ok(Some((ip, mac)));
        }
    }
    Ok(None)
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
