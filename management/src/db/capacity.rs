//! Capacity on hosts: the first of the two allocations a deploy makes under concurrency
//! (the other is a guest address, in `nics`), run inside the caller's transaction so two
//! deploys never both take the last of a host; and listCapacity's per-zone totals (and
//! per pod and cluster, for listPods' and listClusters' `showcapacities`).

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{RowShape, Scalar};
use crate::error::Result;
use crate::ids::{AccountId, ClusterId, HostId, PodId, StoragePoolId, VmId, ZoneId};
use crate::rules::hoststate::{ResourceState, Status};
use crate::rules::placement::{Candidate, Pool};
use crate::rules::states::AllocationState;

#[derive(Debug, sqlx::FromRow, RowShape)]
struct CandidateRow {
    id: HostId,
    pod_id: PodId,
    cluster_id: ClusterId,
    status: Status,
    resource_state: ResourceState,
    cluster_state: AllocationState,
    cpu_cores: Option<i32>,
    cpu_mhz: Option<i32>,
    memory_bytes: Option<i64>,
    tags: Vec<String>,
    reserved_mhz: i64,
    reserved_bytes: i64,
}

// The zone's hosts with what each has reserved, summed once per zone in one hash
// aggregate: handing Postgres the zone's host ids as an array to match (as the one-host
// form below does) cost 75 ms of planning and 86 ms of execution at 25,000 hosts. Sorted
// here, not by Postgres: with the default work_mem its sort of 25,000 rows spilled to disk.
stmt!(HOST_CANDIDATES_IN_ZONE: CandidateRow = candidates_sql(
    "h.zone_id = $1",
    |col| format!("v.zone_id = $1 AND v.{col} IS NOT NULL")
));
stmt!(HOST_CANDIDATES: CandidateRow = candidates_sql("h.id = ANY($1)", |col| format!("v.{col} = ANY($1)")));

// What each candidate reserves: its VMs in the states that hold capacity, plus the VMs
// migrating to it (their hold, 0046). Two index scans joined by UNION ALL; one join `ON
// host_id = h.id OR migrating_to = h.id` could use no index and compared every VM with
// every host (800 ms a placement at 1,000 hosts and 10,000 VMs). `hosts` selects the
// hosts; `held(column)` the VMs whose `host_id` or `migrating_to` may name one of them.
fn candidates_sql(hosts: &str, held: fn(&str) -> String) -> String {
    format!(
        "SELECT h.id, h.pod_id, h.cluster_id, h.status, h.resource_state, c.allocation_state AS cluster_state,
                h.cpu_cores, h.cpu_mhz, h.memory_bytes, h.tags,
                COALESCE(r.mhz, 0)::bigint AS reserved_mhz,
                COALESCE(r.bytes, 0)::bigint AS reserved_bytes
         FROM hosts h
         JOIN clusters c ON c.id = h.cluster_id
         LEFT JOIN (SELECT on_host, SUM(cpu_number::bigint * cpu_mhz) AS mhz,
                           SUM(memory_mb::bigint * 1048576) AS bytes
                    FROM (SELECT v.host_id AS on_host, v.cpu_number, v.cpu_mhz, v.memory_mb
                          FROM vms v
                          WHERE {on_host} AND v.state IN ('Starting', 'Running', 'Stopping')
                          UNION ALL
                          SELECT v.migrating_to, v.cpu_number, v.cpu_mhz, v.memory_mb FROM vms v
                          WHERE {migrating} AND v.migrating_until > now()
                            AND v.state IN ('Starting', 'Running', 'Stopping')) held
                    GROUP BY on_host) r ON r.on_host = h.id
         WHERE {hosts}",
        on_host = held("host_id"),
        migrating = held("migrating_to"),
    )
}

stmt!(POOLS_LOCK_IN_ZONE: Scalar<StoragePoolId> = "SELECT id FROM storage_pools WHERE zone_id = $1 ORDER BY id FOR UPDATE");

/// Locks the zone's primary pools (in id order) until the transaction ends: whatever
/// places a volume into the zone under this lock reads the pools' room, records its
/// volume and commits before the next one reads, so two never both take the last room
/// of a pool. (A deploy takes its host's lock first, then this one.)
pub async fn pool_lock_in_txn(db: &mut PgConnection, zone_id: ZoneId) -> Result<()> {
    POOLS_LOCK_IN_ZONE
        .query_scalar()
        .bind(zone_id)
        .fetch_all(&mut *db)
        .await?;
    Ok(())
}

/// The zone's hosts as placement would see them, without locking anything: for showing
/// where a VM could go (`findHostsForMigration`, the instance page) and for ranking a
/// deploy's hosts, never for taking capacity, which only
/// [`host_candidate_for_update_in_txn`] may decide.
pub async fn host_candidates(db: &mut PgConnection, zone_id: ZoneId) -> Result<Vec<Candidate>> {
    let mut rows: Vec<CandidateRow> = HOST_CANDIDATES_IN_ZONE
        .query_as()
        .bind(zone_id)
        .fetch_all(&mut *db)
        .await?;
    rows.sort_unstable_by_key(|r| r.id);
    Ok(rows.into_iter().map(candidate).collect())
}

stmt!(HOST_LOCK: Scalar<HostId> = "SELECT id FROM hosts WHERE id = $1 FOR UPDATE");

/// One host as a placement candidate, its row locked until the transaction (or the
/// savepoint) ends, what it has reserved read under that lock: whoever reserves on a
/// host holds its row, so a deploy that finds room here keeps it. None: no such host.
pub async fn host_candidate_for_update_in_txn(
    db: &mut PgConnection,
    host: HostId,
) -> Result<Option<Candidate>> {
    let locked = HOST_LOCK
        .query_scalar()
        .bind(host)
        .fetch_optional(&mut *db)
        .await?;
    if locked.is_none() {
        return Ok(None);
    }
    Ok(candidates_of(db, &[host]).await?.pop())
}

stmt!(ACCOUNT_VMS_BY_HOST: (HostId, PodId, i64) = "SELECT h.id, h.pod_id, count(*)
         FROM vms v JOIN hosts h ON h.id = v.host_id
         WHERE v.account_id = $1 AND v.zone_id = $2 AND v.state IN ('Starting', 'Running', 'Stopping')
         GROUP BY h.id, h.pod_id");

/// Where an account's VMs run in a zone: (host, its pod, how many), for the allocation
/// algorithms that disperse or concentrate them.
pub async fn account_vms_by_host(
    db: impl PgExecutor<'_>,
    account: AccountId,
    zone_id: ZoneId,
) -> Result<Vec<(HostId, PodId, i64)>> {
    Ok(ACCOUNT_VMS_BY_HOST
        .query_as()
        .bind(account)
        .bind(zone_id)
        .fetch_all(db)
        .await?)
}

/// The hosts `ids` with what each has and has reserved.
async fn candidates_of(db: &mut PgConnection, ids: &[HostId]) -> Result<Vec<Candidate>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<CandidateRow> = HOST_CANDIDATES
        .query_as()
        .bind(ids)
        .fetch_all(&mut *db)
        .await?;
    Ok(rows.into_iter().map(candidate).collect())
}

fn candidate(r: CandidateRow) -> Candidate {
    Candidate {
        id: r.id,
        pod_id: r.pod_id,
        cluster_id: r.cluster_id,
        up: r.status == Status::Up,
        enabled: r.resource_state == ResourceState::Enabled,
        cluster_enabled: r.cluster_state == AllocationState::Enabled,
        tags: r.tags,
        cpu_total_mhz: i64::from(r.cpu_cores.unwrap_or(0)) * i64::from(r.cpu_mhz.unwrap_or(0)),
        memory_total_bytes: r.memory_bytes.unwrap_or(0),
        cpu_reserved_mhz: r.reserved_mhz,
        memory_reserved_bytes: r.reserved_bytes,
    }
}

#[derive(Debug, sqlx::FromRow, RowShape)]
struct PoolCandidateRow {
    id: StoragePoolId,
    cluster_id: Option<ClusterId>,
    state: crate::rules::poolstate::PoolState,
    tags: Vec<String>,
    capacity_bytes: i64,
    allocated_bytes: i64,
}

stmt!(POOL_CANDIDATES: PoolCandidateRow = "SELECT p.id, p.cluster_id, p.state, p.tags, p.capacity_bytes,
                (SELECT COALESCE(sum(v.size_bytes), 0)::bigint FROM volumes v
                 WHERE v.pool_id = p.id AND v.removed IS NULL) AS allocated_bytes
         FROM storage_pools p WHERE p.zone_id = $1 ORDER BY p.id");

/// The zone's primary pools as placement sees them (`rules::placement::Pool`): where a
/// host's new root volume may go, by state, reach, tags and room.
pub async fn pool_candidates(db: impl PgExecutor<'_>, zone_id: ZoneId) -> Result<Vec<Pool>> {
    let rows: Vec<PoolCandidateRow> = POOL_CANDIDATES
        .query_as()
        .bind(zone_id)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Pool {
            id: r.id,
            cluster_id: r.cluster_id,
            up: r.state.takes_volumes(),
            tags: r.tags,
            capacity_bytes: r.capacity_bytes,
            allocated_bytes: r.allocated_bytes,
        })
        .collect())
}

stmt!(
    VM_RESERVE_ON_HOST_IN_TXN =
        "UPDATE vms SET host_id = $2, last_host_id = $2, state = 'Starting' WHERE id = $1"
);

/// Reserves the VM's capacity on `host_id` (it becomes Starting there).
pub async fn vm_reserve_on_host_in_txn(
    db: &mut PgConnection,
    vm_id: VmId,
    host_id: HostId,
) -> Result<()> {
    VM_RESERVE_ON_HOST_IN_TXN
        .query()
        .bind(vm_id)
        .bind(host_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

stmt!(VM_RELEASE_HOST = "UPDATE vms SET host_id = NULL, state = $2, error_text = $3 WHERE id = $1");

/// Releases what a VM holds on its host (capacity), leaving it in `state`.
pub async fn vm_release_host(
    db: &mut PgConnection,
    vm_id: VmId,
    state: crate::rules::vmstate::VmState,
    error: Option<&str>,
) -> Result<()> {
    VM_RELEASE_HOST
        .query()
        .bind(vm_id)
        .bind(state)
        .bind(error)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// What listCapacity counts per zone besides CPU and memory totals (those are summed per
/// cluster, `capacity_by_cluster`, because each cluster has its own overcommit factors).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ZoneCapacityRow {
    pub zone_id: ZoneId,
    pub zone_name: String,
    pub memory_used: i64,
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

stmt!(CAPACITY_BY_ZONE: ZoneCapacityRow = "SELECT z.id AS zone_id, z.name AS zone_name,
            COALESCE(held.memory, 0)::bigint AS memory_used,
            COALESCE(held.mhz, 0)::bigint AS cpu_used_mhz,
            COALESCE((SELECT sum(h.cpu_cores) FROM hosts h WHERE h.zone_id = z.id), 0)::bigint AS cpu_cores_total,
            COALESCE(held.cores, 0)::bigint AS cpu_cores_used,
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
         -- What the zone's placed VMs hold, in one pass over them (not one per figure).
         CROSS JOIN LATERAL (SELECT sum(v.memory_mb::bigint * 1048576) AS memory,
                                    sum(v.cpu_number::bigint * v.cpu_mhz) AS mhz,
                                    sum(v.cpu_number) AS cores
                             FROM vms v WHERE v.zone_id = z.id
                               AND v.state IN ('Starting', 'Running', 'Stopping')
                               AND v.host_id IS NOT NULL) held
         WHERE ($1::uuid IS NULL OR z.id = $1)
         ORDER BY z.created, z.id");

pub async fn capacity_by_zone(
    db: impl PgExecutor<'_>,
    zone_id: Option<ZoneId>,
) -> Result<Vec<ZoneCapacityRow>> {
    Ok(CAPACITY_BY_ZONE
        .query_as()
        .bind(zone_id)
        .fetch_all(db)
        .await?)
}

/// One cluster's physical CPU and memory: what listCapacity multiplies by the cluster's
/// overprovisioning factors (they may differ per cluster, so the zone's sum cannot).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ClusterCapacityRow {
    pub zone_id: ZoneId,
    pub pod_id: PodId,
    pub cluster_id: ClusterId,
    pub cpu_total_mhz: i64,
    pub memory_total: i64,
}

stmt!(CAPACITY_BY_CLUSTER: ClusterCapacityRow = "SELECT zone_id, pod_id, cluster_id,
                COALESCE(SUM(cpu_cores::bigint * cpu_mhz), 0)::bigint AS cpu_total_mhz,
                COALESCE(SUM(memory_bytes), 0)::bigint AS memory_total
         FROM hosts WHERE ($1::uuid IS NULL OR zone_id = $1)
         GROUP BY zone_id, pod_id, cluster_id");

/// A pod's or a cluster's share of what listCapacity counts per zone: what runs on its
/// hosts, its hosts' cores, its primary storage, and (a pod's) the guest addresses of
/// its ranges. Secondary storage is the zone's alone, as in CloudStack.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ScopedCapacityRow {
    /// The pod's or the cluster's id.
    pub scope_id: Uuid,
    pub zone_id: ZoneId,
    pub zone_name: String,
    pub pod_id: PodId,
    pub pod_name: String,
    pub cluster_id: Option<ClusterId>,
    pub cluster_name: Option<String>,
    pub memory_used: i64,
    pub cpu_used_mhz: i64,
    pub cpu_cores_total: i64,
    pub cpu_cores_used: i64,
    pub primary_total: i64,
    pub primary_used: i64,
    pub primary_allocated: i64,
    pub guest_ips_total: i64,
    pub guest_ips_used: i64,
}

/// The capacity columns pods and clusters share: what runs on, and is stored in, the
/// hosts and pools whose `{col}` is `{id}` (the scope's id column).
fn scoped_capacity_columns(col: &str, id: &str) -> String {
    format!(
        "COALESCE((SELECT sum(v.memory_mb::bigint * 1048576) FROM vms v JOIN hosts h ON h.id = v.host_id
                      WHERE h.{col} = {id} AND v.state IN ('Starting', 'Running', 'Stopping')), 0)::bigint AS memory_used,
            COALESCE((SELECT sum(v.cpu_number::bigint * v.cpu_mhz) FROM vms v JOIN hosts h ON h.id = v.host_id
                      WHERE h.{col} = {id} AND v.state IN ('Starting', 'Running', 'Stopping')), 0)::bigint AS cpu_used_mhz,
            COALESCE((SELECT sum(h.cpu_cores) FROM hosts h WHERE h.{col} = {id}), 0)::bigint AS cpu_cores_total,
            COALESCE((SELECT sum(v.cpu_number) FROM vms v JOIN hosts h ON h.id = v.host_id
                      WHERE h.{col} = {id} AND v.state IN ('Starting', 'Running', 'Stopping')), 0)::bigint AS cpu_cores_used,
            COALESCE((SELECT sum(sp.capacity_bytes) FROM storage_pools sp WHERE sp.{col} = {id}), 0)::bigint AS primary_total,
            COALESCE((SELECT sum(sp.used_bytes) FROM storage_pools sp WHERE sp.{col} = {id}), 0)::bigint AS primary_used,
            COALESCE((SELECT sum(vol.size_bytes) FROM volumes vol JOIN storage_pools sp ON sp.id = vol.pool_id
                      WHERE sp.{col} = {id} AND vol.removed IS NULL), 0)::bigint AS primary_allocated"
    )
}

stmt!(CAPACITY_BY_POD: ScopedCapacityRow = format!("SELECT p.id AS scope_id, p.zone_id, z.name AS zone_name,
            p.id AS pod_id, p.name AS pod_name, NULL::uuid AS cluster_id, NULL::text AS cluster_name,
            {},
            COALESCE((SELECT sum(r.end_ip - r.start_ip + 1) FROM ip_ranges r
                      WHERE r.pod_id = p.id AND r.purpose = 'guest'), 0)::bigint AS guest_ips_total,
            COALESCE((SELECT count(*) FROM nics n JOIN ip_ranges r
                        ON r.pod_id = p.id AND r.purpose = 'guest'
                       AND n.ip_address >= r.start_ip AND n.ip_address <= r.end_ip), 0)::bigint AS guest_ips_used
         FROM pods p JOIN zones z ON z.id = p.zone_id
         WHERE p.id = ANY($1)", scoped_capacity_columns("pod_id", "p.id")));

/// The capacities of `pods` (one row each).
pub async fn capacity_by_pod(
    db: impl PgExecutor<'_>,
    pods: &[PodId],
) -> Result<Vec<ScopedCapacityRow>> {
    Ok(CAPACITY_BY_POD.query_as().bind(pods).fetch_all(db).await?)
}

stmt!(CAPACITY_OF_CLUSTERS: ScopedCapacityRow = format!("SELECT c.id AS scope_id, c.zone_id, z.name AS zone_name,
            c.pod_id, p.name AS pod_name, c.id AS cluster_id, c.name AS cluster_name,
            {},
            0::bigint AS guest_ips_total, 0::bigint AS guest_ips_used
         FROM clusters c JOIN pods p ON p.id = c.pod_id JOIN zones z ON z.id = c.zone_id
         WHERE c.id = ANY($1)", scoped_capacity_columns("cluster_id", "c.id")));

/// The capacities of `clusters` (one row each; no guest addresses: ranges are a pod's).
pub async fn capacity_of_clusters(
    db: impl PgExecutor<'_>,
    clusters: &[ClusterId],
) -> Result<Vec<ScopedCapacityRow>> {
    Ok(CAPACITY_OF_CLUSTERS
        .query_as()
        .bind(clusters)
        .fetch_all(db)
        .await?)
}

/// Per cluster (of one zone, or all), the hosts' CPU (cores × MHz) and memory.
pub async fn capacity_by_cluster(
    db: impl PgExecutor<'_>,
    zone: Option<ZoneId>,
) -> Result<Vec<ClusterCapacityRow>> {
    Ok(CAPACITY_BY_CLUSTER
        .query_as()
        .bind(zone)
        .fetch_all(db)
        .await?)
}

statements![
    POOLS_LOCK_IN_ZONE,
    HOST_CANDIDATES_IN_ZONE,
    HOST_LOCK,
    ACCOUNT_VMS_BY_HOST,
    HOST_CANDIDATES,
    VM_RESERVE_ON_HOST_IN_TXN,
    POOL_CANDIDATES,
    VM_RELEASE_HOST,
    CAPACITY_BY_ZONE,
    CAPACITY_BY_CLUSTER,
    CAPACITY_BY_POD,
    CAPACITY_OF_CLUSTERS
];
