//! Hosts, their metric samples, and alerts.

use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use sqlx::PgExecutor;
use stratus_api::agent::Heartbeat;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::ids::{AlertId, ClusterId, HostId, ManagementServerId, PodId, ZoneId};
use crate::rules::hoststate::{ResourceState, Status};

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct HostRow {
    pub id: HostId,
    pub name: String,
    pub zone_id: ZoneId,
    pub pod_id: PodId,
    pub cluster_id: ClusterId,
    pub address: IpNetwork,
    pub status: Status,
    pub resource_state: ResourceState,
    pub token_hash: Vec<u8>,
    pub hypervisor: String,
    pub hypervisor_version: Option<String>,
    pub libvirt_version: Option<String>,
    pub agent_version: Option<String>,
    pub os: Option<String>,
    pub kernel: Option<String>,
    pub arch: Option<String>,
    pub acceleration: Option<String>,
    pub cpu_sockets: Option<i32>,
    pub cpu_cores: Option<i32>,
    pub cpu_mhz: Option<i32>,
    pub memory_bytes: Option<i64>,
    pub cpu_used_percent: Option<f64>,
    pub memory_used_bytes: Option<i64>,
    pub network_rx_bytes: Option<i64>,
    pub network_tx_bytes: Option<i64>,
    pub report_generation: i64,
    pub last_pinged: Option<DateTime<Utc>>,
    pub status_changed: DateTime<Utc>,
    pub management_server_id: Option<ManagementServerId>,
    pub decommission: bool,
    /// Where the agent serves its command API (HTTPS, mutual TLS).
    pub agent_port: i32,
    /// Host tags (`rules::tags`): what service offerings' host tags match.
    pub tags: Vec<String>,
    pub created: DateTime<Utc>,
    #[sqlx(default)]
    pub zone_name: String,
    #[sqlx(default)]
    pub pod_name: String,
    #[sqlx(default)]
    pub cluster_name: String,
    /// What the VMs placed on it (Starting, Running, Stopping) reserve: MHz and bytes.
    #[sqlx(default)]
    pub allocated_mhz: i64,
    #[sqlx(default)]
    pub allocated_bytes: i64,
    /// The VMs placed on it (what CloudStack's listByHostId finds), and those Running.
    #[sqlx(default)]
    pub vms_total: i64,
    #[sqlx(default)]
    pub vms_running: i64,
    #[sqlx(default)]
    pub management_server_name: Option<String>,
}

/// A host to add; its token is stored only as a hash.
#[derive(Debug, Clone)]
pub struct NewHost<'a> {
    pub id: HostId,
    pub name: &'a str,
    pub zone_id: ZoneId,
    pub pod_id: PodId,
    pub cluster_id: ClusterId,
    pub address: IpNetwork,
    pub token_hash: &'a [u8],
    pub agent_port: u16,
    pub tags: &'a [String],
}

stmt!(
    HOST_INSERT =
        "INSERT INTO hosts (id, name, zone_id, pod_id, cluster_id, address, token_hash, agent_port, tags)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
);

pub async fn host_insert(db: impl PgExecutor<'_>, h: &NewHost<'_>) -> Result<()> {
    HOST_INSERT
        .query()
        .bind(h.id)
        .bind(h.name)
        .bind(h.zone_id)
        .bind(h.pod_id)
        .bind(h.cluster_id)
        .bind(h.address)
        .bind(h.token_hash)
        .bind(i32::from(h.agent_port))
        .bind(h.tags)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(HOST_SET_TAGS = "UPDATE hosts SET tags = $2 WHERE id = $1");

/// Replaces the host's tags (updateHost `hosttags`).
pub async fn host_set_tags(db: impl PgExecutor<'_>, id: HostId, tags: &[String]) -> Result<()> {
    HOST_SET_TAGS
        .query()
        .bind(id)
        .bind(tags)
        .execute(db)
        .await?;
    Ok(())
}

/// One tag of one host (listHostTags).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct HostTagRow {
    pub host_id: HostId,
    pub host_name: String,
    pub name: String,
}

stmt!(HOST_TAG_LIST: Counted<HostTagRow> = named "SELECT h.id AS host_id, h.name AS host_name, t.name,
                count(*) OVER () AS total
         FROM hosts h CROSS JOIN LATERAL unnest(h.tags) WITH ORDINALITY AS t(name, n)
         WHERE ($keyword::text IS NULL OR t.name ILIKE $keyword)
         ORDER BY h.created, h.id, t.n OFFSET $offset LIMIT $limit");

/// Every host's tags, one row each (by host, in the order given), paged.
pub async fn host_tag_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
) -> Result<(Vec<HostTagRow>, i64)> {
    let rows: Vec<Counted<_>> = HOST_TAG_LIST
        .query_as_with(
            Binds::new()
                .set("keyword", f.keyword_pattern())
                .set("offset", f.offset)
                .set("limit", f.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

// A host row's columns: its own, its zone's, pod's and cluster's names, what runs on it
// (allocated CPU and memory, its VMs) and its management server's name. One text for the
// single-host reads and the paged list, so the two cannot drift.
macro_rules! host_columns {
    () => {
        "h.*, z.name AS zone_name, p.name AS pod_name, c.name AS cluster_name,
    (SELECT COALESCE(SUM(v.cpu_number::bigint * v.cpu_mhz), 0) FROM vms v
      WHERE v.host_id = h.id AND v.state IN ('Starting', 'Running', 'Stopping'))::bigint AS allocated_mhz,
    (SELECT COALESCE(SUM(v.memory_mb::bigint * 1048576), 0) FROM vms v
      WHERE v.host_id = h.id AND v.state IN ('Starting', 'Running', 'Stopping'))::bigint AS allocated_bytes,
    (SELECT count(*) FROM vms v WHERE v.host_id = h.id AND v.removed IS NULL)::bigint AS vms_total,
    (SELECT count(*) FROM vms v WHERE v.host_id = h.id AND v.removed IS NULL
      AND v.state = 'Running')::bigint AS vms_running,
    (SELECT m.name FROM management_servers m WHERE m.id = h.management_server_id) AS management_server_name"
    };
}
macro_rules! host_joins {
    () => {
        "JOIN zones z ON z.id = h.zone_id JOIN pods p ON p.id = h.pod_id JOIN clusters c ON c.id = h.cluster_id"
    };
}
const HOST_SELECT: &str = concat!("SELECT ", host_columns!(), " FROM hosts h ", host_joins!());

stmt!(HOST_FETCH: HostRow = format!("{HOST_SELECT} WHERE h.id = $1"));

pub async fn host_fetch(db: impl PgExecutor<'_>, id: HostId) -> Result<Option<HostRow>> {
    Ok(HOST_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(HOST_FETCH_MANY: HostRow = format!("{HOST_SELECT} WHERE h.id = ANY($1)"));

/// The hosts of `ids` that exist, in no particular order (one index probe each, whatever
/// plan Postgres keeps for the statement).
pub async fn host_fetch_many(db: impl PgExecutor<'_>, ids: &[HostId]) -> Result<Vec<HostRow>> {
    Ok(HOST_FETCH_MANY.query_as().bind(ids).fetch_all(db).await?)
}

stmt!(HOST_NAMES_IN_ZONE: (HostId, String) = "SELECT id, name FROM hosts WHERE zone_id = $1");

/// Every host of the zone by name: what ranks them, without reading them whole.
pub async fn host_names_in_zone(
    db: impl PgExecutor<'_>,
    zone: ZoneId,
) -> Result<Vec<(HostId, String)>> {
    Ok(HOST_NAMES_IN_ZONE
        .query_as()
        .bind(zone)
        .fetch_all(db)
        .await?)
}

stmt!(HOST_FETCH_FOR_UPDATE: HostRow = format!("{HOST_SELECT} WHERE h.id = $1 FOR UPDATE OF h"));

pub async fn host_fetch_for_update(db: impl PgExecutor<'_>, id: HostId) -> Result<Option<HostRow>> {
    Ok(HOST_FETCH_FOR_UPDATE
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct HostFilter {
    pub common: ListFilter,
    pub zone_id: Option<ZoneId>,
    pub pod_id: Option<PodId>,
    pub cluster_id: Option<ClusterId>,
    pub status: Option<Status>,
    pub resource_state: Option<ResourceState>,
    pub hypervisor: Option<String>,
}

stmt!(HOST_LIST: Counted<HostRow> = named paged_sql(
    host_columns!(),
    "hosts",
    "h",
    host_joins!(),
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword OR host({a}.address) ILIKE $keyword)
             AND ($zone_id::uuid IS NULL OR {a}.zone_id = $zone_id)
             AND ($pod_id::uuid IS NULL OR {a}.pod_id = $pod_id)
             AND ($cluster_id::uuid IS NULL OR {a}.cluster_id = $cluster_id)
             AND ($status::text IS NULL OR {a}.status = $status)
             AND ($resource_state::text IS NULL OR {a}.resource_state = $resource_state)
             AND ($hypervisor::text IS NULL OR lower({a}.hypervisor) = lower($hypervisor))
             AND ($ids::uuid[] IS NULL OR {a}.id = ANY($ids))",
    "h.created, h.id",
));

pub async fn host_list(db: impl PgExecutor<'_>, f: &HostFilter) -> Result<(Vec<HostRow>, i64)> {
    let rows: Vec<Counted<_>> = HOST_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("zone_id", f.zone_id)
                .set("pod_id", f.pod_id)
                .set("cluster_id", f.cluster_id)
                .set("status", f.status)
                .set("resource_state", f.resource_state)
                .set("hypervisor", &f.hypervisor)
                .set("ids", &f.common.ids)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(
    HOST_APPLY_REPORT =
        "UPDATE hosts SET hypervisor_version=$3, libvirt_version=$4, agent_version=$5, os=$6,
            kernel=$7, arch=$8, acceleration=$9, cpu_sockets=$10, cpu_cores=$11, cpu_mhz=$12,
            memory_bytes=$13, cpu_used_percent=$14, memory_used_bytes=$15, network_rx_bytes=$16,
            network_tx_bytes=$17, report_generation=$18, last_pinged=now(), management_server_id=$2
         WHERE id=$1"
);

/// Applies a report's facts and metrics (the caller has checked its generation).
pub async fn host_apply_report(
    db: impl PgExecutor<'_>,
    id: HostId,
    ms: ManagementServerId,
    hb: &Heartbeat,
) -> Result<()> {
    let f = &hb.facts;
    let m = &hb.metrics;
    HOST_APPLY_REPORT
        .query()
        .bind(id)
        .bind(ms)
        .bind(&f.hypervisor_version)
        .bind(&f.libvirt_version)
        .bind(&f.agent_version)
        .bind(&f.os)
        .bind(&f.kernel)
        .bind(&f.arch)
        .bind(f.acceleration.as_str())
        .bind(f.cpu_sockets as i32)
        .bind(f.cpu_cores as i32)
        .bind(f.cpu_mhz as i32)
        .bind(f.memory_bytes as i64)
        .bind(m.cpu_used_percent)
        .bind(m.memory_used_bytes as i64)
        .bind(m.network_rx_bytes as i64)
        .bind(m.network_tx_bytes as i64)
        .bind(hb.generation as i64)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(HOST_SET_TOKEN = "UPDATE hosts SET token_hash=$2 WHERE id=$1");

/// A new agent token (only its hash is stored), e.g. when the local agent is restarted.
pub async fn host_set_token(db: impl PgExecutor<'_>, id: HostId, token_hash: &[u8]) -> Result<()> {
    HOST_SET_TOKEN
        .query()
        .bind(id)
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(HOST_SET_STATUS = "UPDATE hosts SET status=$2, status_changed=now() WHERE id=$1");

pub async fn host_set_status(db: impl PgExecutor<'_>, id: HostId, status: Status) -> Result<()> {
    HOST_SET_STATUS
        .query()
        .bind(id)
        .bind(status)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(HOST_SET_RESOURCE_STATE = "UPDATE hosts SET resource_state=$2 WHERE id=$1");

pub async fn host_set_resource_state(
    db: impl PgExecutor<'_>,
    id: HostId,
    state: ResourceState,
) -> Result<()> {
    HOST_SET_RESOURCE_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(HOST_LIST_SILENT: HostRow = format!(
    "{HOST_SELECT} WHERE h.status IN ('Up', 'Connecting')
           AND COALESCE(h.last_pinged, h.created) < now() - make_interval(secs => $1)"
));

/// Hosts that should be reporting but have been silent for more than `silence_secs`
/// (Connecting hosts count from when they were added).
pub async fn host_list_silent(db: impl PgExecutor<'_>, silence_secs: f64) -> Result<Vec<HostRow>> {
    Ok(HOST_LIST_SILENT
        .query_as()
        .bind(silence_secs)
        .fetch_all(db)
        .await?)
}

stmt!(HOST_LIST_UNREPORTING: HostRow = format!(
    "{HOST_SELECT} WHERE h.status IN ('Disconnected', 'Alert', 'Down')"
));

/// Hosts whose agents are gone, for the probe to judge.
pub async fn host_list_unreporting(db: impl PgExecutor<'_>) -> Result<Vec<HostRow>> {
    Ok(HOST_LIST_UNREPORTING.query_as().fetch_all(db).await?)
}

stmt!(HOST_METRICS_INSERT = "INSERT INTO host_metrics (host_id, at, cpu_used_percent, memory_used_bytes, network_rx_bytes, network_tx_bytes)
         VALUES ($1, now(), $2, $3, $4, $5) ON CONFLICT DO NOTHING");

pub async fn host_metrics_insert(
    db: impl PgExecutor<'_>,
    id: HostId,
    hb: &Heartbeat,
) -> Result<()> {
    let m = &hb.metrics;
    HOST_METRICS_INSERT
        .query()
        .bind(id)
        .bind(m.cpu_used_percent)
        .bind(m.memory_used_bytes as i64)
        .bind(m.network_rx_bytes as i64)
        .bind(m.network_tx_bytes as i64)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    HOST_METRICS_PURGE = "DELETE FROM host_metrics WHERE at < now() - make_interval(hours => $1)"
);

pub async fn host_metrics_purge(db: impl PgExecutor<'_>, keep_hours: i64) -> Result<u64> {
    Ok(HOST_METRICS_PURGE
        .query()
        .bind(keep_hours as i32)
        .execute(db)
        .await?
        .rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct MetricRow {
    pub at: DateTime<Utc>,
    pub cpu_used_percent: f64,
    pub memory_used_bytes: i64,
    pub network_rx_bytes: i64,
    pub network_tx_bytes: i64,
}

stmt!(HOST_METRICS_LIST: MetricRow = "SELECT at, cpu_used_percent, memory_used_bytes, network_rx_bytes, network_tx_bytes
         FROM host_metrics WHERE host_id = $1 AND at >= $2 ORDER BY at");

pub async fn host_metrics_list(
    db: impl PgExecutor<'_>,
    id: HostId,
    since: DateTime<Utc>,
) -> Result<Vec<MetricRow>> {
    Ok(HOST_METRICS_LIST
        .query_as()
        .bind(id)
        .bind(since)
        .fetch_all(db)
        .await?)
}

stmt!(HOST_COUNT_IN_CLUSTER: Scalar<i64> = "SELECT count(*) FROM hosts WHERE cluster_id = $1");

pub async fn host_count_in_cluster(db: impl PgExecutor<'_>, cluster_id: ClusterId) -> Result<i64> {
    Ok(HOST_COUNT_IN_CLUSTER
        .query_scalar()
        .bind(cluster_id)
        .fetch_one(db)
        .await?)
}

stmt!(HOST_DELETE = "DELETE FROM hosts WHERE id = $1");

pub async fn host_delete(db: impl PgExecutor<'_>, id: HostId) -> Result<bool> {
    Ok(HOST_DELETE
        .query()
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

/// CloudStack's alert type for hosts (`AlertManager.AlertType.ALERT_TYPE_HOST`).
pub const ALERT_TYPE_HOST: i16 = 7;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct AlertRow {
    pub id: AlertId,
    pub alert_type: i16,
    pub name: String,
    pub description: String,
    pub created: DateTime<Utc>,
}

stmt!(ALERT_INSERT = "INSERT INTO alerts (id, alert_type, name, description, zone_id, pod_id, cluster_id, host_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)");

pub async fn alert_insert(
    db: impl PgExecutor<'_>,
    alert_type: i16,
    name: &str,
    description: &str,
    host: &HostRow,
) -> Result<()> {
    ALERT_INSERT
        .query()
        .bind(AlertId::new_v4())
        .bind(alert_type)
        .bind(name)
        .bind(description)
        .bind(host.zone_id)
        .bind(host.pod_id)
        .bind(host.cluster_id)
        .bind(host.id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    ALERT_INSERT_GLOBAL =
        "INSERT INTO alerts (id, alert_type, name, description) VALUES ($1,$2,$3,$4)"
);

/// An alert about no particular place (a user locked out after failed logins).
pub async fn alert_insert_global(
    db: impl PgExecutor<'_>,
    alert_type: i16,
    name: &str,
    description: &str,
) -> Result<()> {
    ALERT_INSERT_GLOBAL
        .query()
        .bind(AlertId::new_v4())
        .bind(alert_type)
        .bind(name)
        .bind(description)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(ALERT_LIST: Counted<AlertRow> = named paged_sql(
    "al.id, al.alert_type, al.name, al.description, al.created",
    "alerts",
    "al",
    "",
    "NOT {a}.archived
             AND ($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.description ILIKE $keyword)
             AND ($alert_type::bigint IS NULL OR {a}.alert_type = $alert_type)",
    "al.created DESC, al.id",
));

pub async fn alert_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    alert_type: Option<i64>,
) -> Result<(Vec<AlertRow>, i64)> {
    let rows: Vec<Counted<_>> = ALERT_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.id)
                .set("name", &f.name)
                .set("keyword", f.keyword_pattern())
                .set("alert_type", alert_type)
                .set("offset", f.offset)
                .set("limit", f.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(HOST_RENAME = "UPDATE hosts SET name=$2 WHERE id=$1");

pub async fn host_rename(db: impl PgExecutor<'_>, id: HostId, name: &str) -> Result<()> {
    HOST_RENAME.query().bind(id).bind(name).execute(db).await?;
    Ok(())
}

stmt!(HOST_FETCH_BY_ADDRESS: HostRow = format!("{HOST_SELECT} WHERE h.address = $1"));

pub async fn host_fetch_by_address(
    db: impl PgExecutor<'_>,
    address: IpNetwork,
) -> Result<Option<HostRow>> {
    Ok(HOST_FETCH_BY_ADDRESS
        .query_as()
        .bind(address)
        .fetch_optional(db)
        .await?)
}

stmt!(HOST_SET_DECOMMISSION = "UPDATE hosts SET decommission = true WHERE id = $1");

pub async fn host_set_decommission(db: impl PgExecutor<'_>, id: HostId) -> Result<()> {
    HOST_SET_DECOMMISSION.query().bind(id).execute(db).await?;
    Ok(())
}

statements![
    HOST_INSERT,
    HOST_FETCH,
    HOST_FETCH_FOR_UPDATE,
    HOST_LIST,
    HOST_APPLY_REPORT,
    HOST_SET_TOKEN,
    HOST_SET_STATUS,
    HOST_SET_RESOURCE_STATE,
    HOST_LIST_SILENT,
    HOST_LIST_UNREPORTING,
    HOST_METRICS_INSERT,
    HOST_METRICS_PURGE,
    HOST_METRICS_LIST,
    HOST_COUNT_IN_CLUSTER,
    HOST_DELETE,
    ALERT_INSERT,
    ALERT_INSERT_GLOBAL,
    ALERT_LIST,
    HOST_RENAME,
    HOST_FETCH_BY_ADDRESS,
    HOST_SET_DECOMMISSION,
    HOST_SET_TAGS,
    HOST_TAG_LIST,
    HOST_FETCH_MANY,
    HOST_NAMES_IN_ZONE
];
