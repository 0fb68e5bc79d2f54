//! The routers of isolated networks (issue 15, migration 0055): one row per network, the
//! host its namespace runs on and its state. What the router enforces is not here: it is
//! rebuilt from the network's NICs, public addresses and rules each time
//! (`services::networks::apply`).

use crate::ids::{AccountId, DomainId, HostId, NetworkId, RouterId, ZoneId};
use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use sqlx::PgExecutor;

use super::{Binds, Counted, RowShape};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct RouterRow {
    pub id: RouterId,
    pub network_id: NetworkId,
    pub zone_id: ZoneId,
    pub host_id: Option<HostId>,
    pub name: String,
    pub state: String,
    pub guest_mac: String,
    pub public_mac: String,
    pub error_text: Option<String>,
    pub created: DateTime<Utc>,
}

const ROUTER_COLUMNS: &str = "r.id, r.network_id, r.zone_id, r.host_id, r.name, r.state,
    r.guest_mac::text AS guest_mac, r.public_mac::text AS public_mac, r.error_text, r.created";

stmt!(
    ROUTER_INSERT =
        "INSERT INTO routers (id, network_id, zone_id, host_id, name, state, guest_mac, public_mac)
        VALUES ($1, $2, $3, $4, $5, $6, $7::macaddr, $8::macaddr)
        ON CONFLICT (network_id) DO NOTHING"
);

/// Records a network's router; `false` when the network has one already (the caller
/// reads it back: making the router twice is making it once).
pub async fn router_insert(db: impl PgExecutor<'_>, r: &RouterRow) -> Result<bool> {
    Ok(ROUTER_INSERT
        .query()
        .bind(r.id)
        .bind(r.network_id)
        .bind(r.zone_id)
        .bind(r.host_id)
        .bind(&r.name)
        .bind(&r.state)
        .bind(&r.guest_mac)
        .bind(&r.public_mac)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(ROUTER_OF_NETWORK: RouterRow = format!(
    "SELECT {ROUTER_COLUMNS} FROM routers r WHERE r.network_id = $1"
));

pub async fn router_of_network(
    db: impl PgExecutor<'_>,
    network: NetworkId,
) -> Result<Option<RouterRow>> {
    Ok(ROUTER_OF_NETWORK
        .query_as()
        .bind(network)
        .fetch_optional(db)
        .await?)
}

stmt!(ROUTER_FETCH: RouterRow = format!(
    "SELECT {ROUTER_COLUMNS} FROM routers r WHERE r.id = $1"
));

pub async fn router_fetch(db: impl PgExecutor<'_>, id: RouterId) -> Result<Option<RouterRow>> {
    Ok(ROUTER_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(ROUTER_SET = "UPDATE routers SET state = $2, host_id = $3, error_text = $4 WHERE id = $1");

/// Its state, host (None: on no host) and the reason it is not running.
pub async fn router_set(
    db: impl PgExecutor<'_>,
    id: RouterId,
    state: &str,
    host: Option<HostId>,
    error: Option<&str>,
) -> Result<()> {
    ROUTER_SET
        .query()
        .bind(id)
        .bind(state)
        .bind(host)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(ROUTER_DELETE = "DELETE FROM routers WHERE id = $1");

pub async fn router_delete(db: impl PgExecutor<'_>, id: RouterId) -> Result<()> {
    ROUTER_DELETE.query().bind(id).execute(db).await?;
    Ok(())
}

/// A router as listRouters answers it: with its network, owner, host and addresses.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct RouterListRow {
    pub id: RouterId,
    pub network_id: NetworkId,
    pub zone_id: ZoneId,
    pub host_id: Option<HostId>,
    pub name: String,
    pub state: String,
    pub guest_mac: String,
    pub public_mac: String,
    pub error_text: Option<String>,
    pub created: DateTime<Utc>,
    pub zone_name: String,
    pub host_name: Option<String>,
    pub network_name: String,
    pub network_domain: Option<String>,
    pub gateway: Option<IpNetwork>,
    pub cidr: Option<IpNetwork>,
    pub dns1: Option<IpNetwork>,
    pub dns2: Option<IpNetwork>,
    pub account_id: Option<AccountId>,
    pub account_name: Option<String>,
    pub domain_id: Option<DomainId>,
    pub domain_name: Option<String>,
    pub domain_path: Option<String>,
    pub project_id: Option<crate::ids::ProjectId>,
    pub project_name: Option<String>,
    pub pod_id: Option<crate::ids::PodId>,
    pub pod_name: Option<String>,
    pub cluster_id: Option<crate::ids::ClusterId>,
    pub cluster_name: Option<String>,
    /// The network's source NAT address, its range's gateway and netmask (the router's
    /// public leg, as CloudStack's router answers them).
    #[sqlx(default)]
    pub public_ip: Option<IpNetwork>,
    #[sqlx(default)]
    pub public_gateway: Option<IpNetwork>,
    #[sqlx(default)]
    pub public_netmask: Option<IpNetwork>,
}

/// What listRouters narrows by.
#[derive(Debug, Default, Clone)]
pub struct RouterFilter {
    pub id: Option<RouterId>,
    pub name: Option<String>,
    /// A LIKE pattern (`ListFilter::keyword_pattern`).
    pub keyword: Option<String>,
    pub zone_id: Option<ZoneId>,
    pub host_id: Option<HostId>,
    pub network_id: Option<NetworkId>,
    pub state: Option<String>,
    pub pod_id: Option<crate::ids::PodId>,
    pub cluster_id: Option<crate::ids::ClusterId>,
    /// Routers of these owners' networks only.
    pub account_ids: Option<Vec<uuid::Uuid>>,
    pub offset: i64,
    pub limit: Option<i64>,
}

stmt!(ROUTER_LIST: Counted<RouterListRow> = named format!(
    "SELECT {ROUTER_COLUMNS}, z.name AS zone_name, h.name AS host_name, n.name AS network_name,
            COALESCE(n.net_domain, z.network_domain) AS network_domain,
            n.net_gateway AS gateway, n.net_cidr::inet AS cidr, z.dns1, z.dns2,
            n.account_id, a.name AS account_name, n.domain_id, d.name AS domain_name,
            d.path AS domain_path, pr.id AS project_id, pr.name AS project_name,
            h.pod_id, p.name AS pod_name, h.cluster_id, c.name AS cluster_name,
            sn.address AS public_ip, pir.gateway AS public_gateway, pir.netmask AS public_netmask,
            count(*) OVER () AS total
     FROM routers r
     JOIN networks n ON n.id = r.network_id
     JOIN zones z ON z.id = r.zone_id
     LEFT JOIN public_ips sn ON sn.network_id = r.network_id AND sn.is_source_nat
     LEFT JOIN ip_ranges pir ON pir.id = sn.range_id
     LEFT JOIN hosts h ON h.id = r.host_id
     LEFT JOIN pods p ON p.id = h.pod_id
     LEFT JOIN clusters c ON c.id = h.cluster_id
     LEFT JOIN accounts a ON a.id = n.account_id
     LEFT JOIN domains d ON d.id = n.domain_id
     LEFT JOIN projects pr ON pr.account_id = n.account_id
     WHERE ($id::uuid IS NULL OR r.id = $id)
       AND ($name::text IS NULL OR r.name = $name)
       AND ($keyword::text IS NULL OR r.name ILIKE $keyword OR n.name ILIKE $keyword)
       AND ($zone_id::uuid IS NULL OR r.zone_id = $zone_id)
       AND ($host_id::uuid IS NULL OR r.host_id = $host_id)
       AND ($network_id::uuid IS NULL OR r.network_id = $network_id)
       AND ($state::text IS NULL OR lower(r.state) = lower($state))
       AND ($pod_id::uuid IS NULL OR h.pod_id = $pod_id)
       AND ($cluster_id::uuid IS NULL OR h.cluster_id = $cluster_id)
       AND ($account_ids::uuid[] IS NULL OR n.account_id = ANY($account_ids))
     ORDER BY r.created, r.id OFFSET $offset LIMIT $limit"
));

pub async fn router_list(
    db: impl PgExecutor<'_>,
    f: &RouterFilter,
) -> Result<(Vec<RouterListRow>, i64)> {
    let rows: Vec<Counted<_>> = ROUTER_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.id)
                .set("name", &f.name)
                .set("keyword", &f.keyword)
                .set("zone_id", f.zone_id)
                .set("host_id", f.host_id)
                .set("network_id", f.network_id)
                .set("state", &f.state)
                .set("pod_id", f.pod_id)
                .set("cluster_id", f.cluster_id)
                .set("account_ids", &f.account_ids)
                .set("offset", f.offset)
                .set("limit", f.limit),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(ROUTERS_ON_HOST: RouterRow = format!(
    "SELECT {ROUTER_COLUMNS} FROM routers r WHERE r.host_id = $1 ORDER BY r.created, r.id"
));

/// The routers placed on a host (its failover moves them).
pub async fn routers_on_host(db: impl PgExecutor<'_>, host: HostId) -> Result<Vec<RouterRow>> {
    Ok(ROUTERS_ON_HOST.query_as().bind(host).fetch_all(db).await?)
}

stmt!(ROUTER_HOST_CANDIDATES: super::Scalar<uuid::Uuid> = "SELECT h.id FROM hosts h
     WHERE h.zone_id = $1 AND h.status = 'Up' AND h.resource_state = 'Enabled'
     ORDER BY (h.id = $2) DESC,
              (SELECT count(*) FROM routers r WHERE r.host_id = h.id), h.created, h.id");

/// The zone's Up and Enabled hosts a router can go to: `preferred` first (the host of the
/// network's first VM), then the host with the fewest routers.
pub async fn router_host_candidates(
    db: impl PgExecutor<'_>,
    zone: ZoneId,
    preferred: Option<HostId>,
) -> Result<Vec<HostId>> {
    Ok(ROUTER_HOST_CANDIDATES
        .query_scalar()
        .bind(zone)
        .bind(preferred)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(HostId::from)
        .collect())
}

stmt!(NETWORK_HOSTS: super::Scalar<uuid::Uuid> = "SELECT DISTINCT v.host_id FROM nics n
     JOIN vms v ON v.id = n.vm_id
     WHERE n.network_id = $1 AND v.host_id IS NOT NULL AND v.removed IS NULL
       AND v.state IN ('Starting', 'Running', 'Stopping')
       AND ($2::uuid IS NULL OR v.id <> $2)
     UNION SELECT r.host_id FROM routers r WHERE r.network_id = $1 AND r.host_id IS NOT NULL");

/// The hosts an isolated network's segment must reach: those of its placed VMs (but
/// `without`) and its router's.
pub async fn network_hosts(
    db: impl PgExecutor<'_>,
    network: NetworkId,
    without: Option<crate::ids::VmId>,
) -> Result<Vec<HostId>> {
    Ok(NETWORK_HOSTS
        .query_scalar()
        .bind(network)
        .bind(without)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(HostId::from)
        .collect())
}

stmt!(ROUTERS_ON_LOST_HOSTS: RouterRow = format!(
    "SELECT {ROUTER_COLUMNS} FROM routers r JOIN hosts h ON h.id = r.host_id
     WHERE r.state = 'Running' AND h.status IN ('Down', 'Removed')
     ORDER BY r.created, r.id LIMIT 256"
));

/// Running routers whose host is Down (or gone), at most 256 a pass.
pub async fn routers_on_lost_hosts(db: impl PgExecutor<'_>) -> Result<Vec<RouterRow>> {
    Ok(ROUTERS_ON_LOST_HOSTS.query_as().fetch_all(db).await?)
}

stmt!(ROUTER_SET_RESUME = "UPDATE routers SET resume_on_start = $2 WHERE id = $1");

/// Marks (or unmarks) a router to be started at the embedded default's next start.
pub async fn router_set_resume(db: impl PgExecutor<'_>, id: RouterId, resume: bool) -> Result<()> {
    ROUTER_SET_RESUME
        .query()
        .bind(id)
        .bind(resume)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(ROUTER_TAKE_RESUMABLE: RouterRow = format!(
    "UPDATE routers r SET resume_on_start = false WHERE r.resume_on_start
     RETURNING {ROUTER_COLUMNS}"
));

/// The routers marked to be started again; the marks are cleared.
pub async fn router_take_resumable(db: impl PgExecutor<'_>) -> Result<Vec<RouterRow>> {
    Ok(ROUTER_TAKE_RESUMABLE.query_as().fetch_all(db).await?)
}

statements![
    ROUTER_SET_RESUME,
    ROUTER_TAKE_RESUMABLE,
    ROUTERS_ON_LOST_HOSTS,
    ROUTER_HOST_CANDIDATES,
    NETWORK_HOSTS,
    ROUTER_INSERT,
    ROUTER_OF_NETWORK,
    ROUTER_FETCH,
    ROUTER_SET,
    ROUTER_DELETE,
    ROUTER_LIST,
    ROUTERS_ON_HOST
];
