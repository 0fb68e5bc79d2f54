//! Zones, pods, IP ranges and clusters.

use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::ids::{
    AccountId, ClusterId, DomainId, IpRangeId, NetworkId, PhysicalNetworkId, PodId, ZoneId,
};
use crate::rules::states::{AllocationState, ManagedState};

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ZoneRow {
    pub id: ZoneId,
    pub name: String,
    pub description: Option<String>,
    pub network_type: String,
    pub dns1: IpNetwork,
    pub dns2: Option<IpNetwork>,
    pub ip6dns1: Option<IpNetwork>,
    pub ip6dns2: Option<IpNetwork>,
    pub internal_dns1: IpNetwork,
    pub internal_dns2: Option<IpNetwork>,
    pub guest_cidr: Option<IpNetwork>,
    pub network_domain: Option<String>,
    pub domain_id: Option<DomainId>,
    pub security_groups_enabled: bool,
    pub local_storage_enabled: bool,
    pub allocation_state: AllocationState,
    pub dhcp_provider: String,
    pub zone_token: Uuid,
    pub is_edge: bool,
    pub created: DateTime<Utc>,
}

stmt!(
    ZONE_INSERT =
        "INSERT INTO zones (id, name, description, network_type, dns1, dns2, ip6dns1, ip6dns2,
            internal_dns1, internal_dns2, guest_cidr, network_domain, domain_id,
            security_groups_enabled, local_storage_enabled, allocation_state, dhcp_provider,
            zone_token, is_edge, created)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)"
);

pub async fn zone_insert(db: impl PgExecutor<'_>, z: &ZoneRow) -> Result<()> {
    ZONE_INSERT
        .query()
        .bind(z.id)
        .bind(&z.name)
        .bind(&z.description)
        .bind(&z.network_type)
        .bind(z.dns1)
        .bind(z.dns2)
        .bind(z.ip6dns1)
        .bind(z.ip6dns2)
        .bind(z.internal_dns1)
        .bind(z.internal_dns2)
        .bind(z.guest_cidr)
        .bind(&z.network_domain)
        .bind(z.domain_id)
        .bind(z.security_groups_enabled)
        .bind(z.local_storage_enabled)
        .bind(z.allocation_state)
        .bind(&z.dhcp_provider)
        .bind(z.zone_token)
        .bind(z.is_edge)
        .bind(z.created)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    ZONE_UPDATE =
        "UPDATE zones SET name=$2, description=$3, dns1=$4, dns2=$5, ip6dns1=$6, ip6dns2=$7,
            internal_dns1=$8, internal_dns2=$9, guest_cidr=$10, network_domain=$11,
            local_storage_enabled=$12, allocation_state=$13, dhcp_provider=$14
         WHERE id=$1"
);

pub async fn zone_update(db: impl PgExecutor<'_>, z: &ZoneRow) -> Result<()> {
    ZONE_UPDATE
        .query()
        .bind(z.id)
        .bind(&z.name)
        .bind(&z.description)
        .bind(z.dns1)
        .bind(z.dns2)
        .bind(z.ip6dns1)
        .bind(z.ip6dns2)
        .bind(z.internal_dns1)
        .bind(z.internal_dns2)
        .bind(z.guest_cidr)
        .bind(&z.network_domain)
        .bind(z.local_storage_enabled)
        .bind(z.allocation_state)
        .bind(&z.dhcp_provider)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(ZONE_FETCH: ZoneRow = "SELECT * FROM zones WHERE id = $1");

pub async fn zone_fetch(db: impl PgExecutor<'_>, id: ZoneId) -> Result<Option<ZoneRow>> {
    Ok(ZONE_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(ZONE_FETCH_FOR_UPDATE: ZoneRow = "SELECT * FROM zones WHERE id = $1 FOR UPDATE");

/// Locks the zone row so concurrent changes to its children see a stable parent.
pub async fn zone_fetch_for_update(db: impl PgExecutor<'_>, id: ZoneId) -> Result<Option<ZoneRow>> {
    Ok(ZONE_FETCH_FOR_UPDATE
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct ZoneFilter {
    pub common: ListFilter,
    pub network_type: Option<String>,
    pub domain_id: Option<DomainId>,
}

stmt!(ZONE_LIST: Counted<ZoneRow> = named paged_sql(
    "z.*",
    "zones",
    "z",
    "",
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($ids::uuid[] IS NULL OR {a}.id = ANY($ids))
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword OR {a}.description ILIKE $keyword)
             AND ($network_type::text IS NULL OR lower({a}.network_type) = lower($network_type))
             AND ($domain_id::uuid IS NULL OR {a}.domain_id = $domain_id)",
    "z.created, z.id",
));

pub async fn zone_list(db: impl PgExecutor<'_>, f: &ZoneFilter) -> Result<(Vec<ZoneRow>, i64)> {
    let rows: Vec<Counted<_>> = ZONE_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("ids", &f.common.ids)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("network_type", &f.network_type)
                .set("domain_id", f.domain_id)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

/// What still depends on a zone, for a clear "in use" answer.
#[derive(Debug, Clone, Copy, sqlx::FromRow, RowShape)]
pub struct ZoneUsage {
    pub pods: i64,
    pub clusters: i64,
    pub ip_ranges: i64,
}

stmt!(ZONE_USAGE: ZoneUsage = "SELECT (SELECT count(*) FROM pods WHERE zone_id = $1) AS pods,
                (SELECT count(*) FROM clusters WHERE zone_id = $1) AS clusters,
                (SELECT count(*) FROM ip_ranges WHERE zone_id = $1 AND purpose IN ('guest', 'public')) AS ip_ranges");

pub async fn zone_usage(db: impl PgExecutor<'_>, id: ZoneId) -> Result<ZoneUsage> {
    Ok(ZONE_USAGE.query_as().bind(id).fetch_one(db).await?)
}

stmt!(
    ZONE_DELETE = format!(
        "WITH t AS ({}) DELETE FROM zones WHERE id = $1",
        super::tags::drop_tags_sql(
            super::tags::TagType::Network,
            "SELECT id FROM networks WHERE zone_id = $1"
        )
    )
);

pub async fn zone_delete(db: impl PgExecutor<'_>, id: ZoneId) -> Result<bool> {
    Ok(ZONE_DELETE
        .query()
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct PodRow {
    pub id: PodId,
    pub zone_id: ZoneId,
    pub name: String,
    pub gateway: Option<IpNetwork>,
    pub netmask: Option<IpNetwork>,
    pub allocation_state: AllocationState,
    pub created: DateTime<Utc>,
    /// Joined: the zone's name.
    #[sqlx(default)]
    pub zone_name: String,
}

stmt!(
    POD_INSERT = "INSERT INTO pods (id, zone_id, name, gateway, netmask, allocation_state, created)
         VALUES ($1,$2,$3,$4,$5,$6,$7)"
);

pub async fn pod_insert(db: impl PgExecutor<'_>, p: &PodRow) -> Result<()> {
    POD_INSERT
        .query()
        .bind(p.id)
        .bind(p.zone_id)
        .bind(&p.name)
        .bind(p.gateway)
        .bind(p.netmask)
        .bind(p.allocation_state)
        .bind(p.created)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    POD_UPDATE = "UPDATE pods SET name=$2, gateway=$3, netmask=$4, allocation_state=$5 WHERE id=$1"
);

pub async fn pod_update(db: impl PgExecutor<'_>, p: &PodRow) -> Result<()> {
    POD_UPDATE
        .query()
        .bind(p.id)
        .bind(&p.name)
        .bind(p.gateway)
        .bind(p.netmask)
        .bind(p.allocation_state)
        .execute(db)
        .await?;
    Ok(())
}

const POD_SELECT: &str =
    "SELECT p.*, z.name AS zone_name FROM pods p JOIN zones z ON z.id = p.zone_id";

stmt!(POD_FETCH: PodRow = format!("{POD_SELECT} WHERE p.id = $1"));

pub async fn pod_fetch(db: impl PgExecutor<'_>, id: PodId) -> Result<Option<PodRow>> {
    Ok(POD_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(POD_FETCH_FOR_UPDATE: PodRow = format!("{POD_SELECT} WHERE p.id = $1 FOR UPDATE OF p"));

pub async fn pod_fetch_for_update(db: impl PgExecutor<'_>, id: PodId) -> Result<Option<PodRow>> {
    Ok(POD_FETCH_FOR_UPDATE
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct PodFilter {
    pub common: ListFilter,
    pub zone_id: Option<ZoneId>,
    pub allocation_state: Option<AllocationState>,
}

stmt!(POD_LIST: Counted<PodRow> = named paged_sql(
    "p.*, z.name AS zone_name",
    "pods",
    "p",
    "JOIN zones z ON z.id = p.zone_id",
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword)
             AND ($zone_id::uuid IS NULL OR {a}.zone_id = $zone_id)
             AND ($allocation_state::text IS NULL OR {a}.allocation_state = $allocation_state)",
    "p.created, p.id",
));

pub async fn pod_list(db: impl PgExecutor<'_>, f: &PodFilter) -> Result<(Vec<PodRow>, i64)> {
    let rows: Vec<Counted<_>> = POD_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("zone_id", f.zone_id)
                .set("allocation_state", f.allocation_state)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

#[derive(Debug, Clone, Copy, sqlx::FromRow, RowShape)]
pub struct PodUsage {
    pub clusters: i64,
    pub guest_ranges: i64,
}

stmt!(POD_USAGE: PodUsage = "SELECT (SELECT count(*) FROM clusters WHERE pod_id = $1) AS clusters,
                (SELECT count(*) FROM ip_ranges WHERE pod_id = $1 AND purpose = 'guest') AS guest_ranges");

pub async fn pod_usage(db: impl PgExecutor<'_>, id: PodId) -> Result<PodUsage> {
    Ok(POD_USAGE.query_as().bind(id).fetch_one(db).await?)
}

stmt!(POD_DELETE = "DELETE FROM pods WHERE id = $1");

pub async fn pod_delete(db: impl PgExecutor<'_>, id: PodId) -> Result<bool> {
    Ok(POD_DELETE
        .query()
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct IpRangeRow {
    pub id: IpRangeId,
    pub zone_id: ZoneId,
    pub pod_id: Option<PodId>,
    pub purpose: String,
    pub vlan: String,
    pub gateway: IpNetwork,
    pub netmask: IpNetwork,
    pub start_ip: IpNetwork,
    pub end_ip: IpNetwork,
    pub for_virtual_network: bool,
    pub for_system_vms: bool,
    pub network_id: Option<NetworkId>,
    pub physical_network_id: Option<PhysicalNetworkId>,
    pub account_id: Option<AccountId>,
    pub description: Option<String>,
    pub created: DateTime<Utc>,
    #[sqlx(default)]
    pub pod_name: Option<String>,
}

stmt!(
    IP_RANGE_INSERT =
        "INSERT INTO ip_ranges (id, zone_id, pod_id, purpose, vlan, gateway, netmask, start_ip,
            end_ip, for_virtual_network, for_system_vms, network_id, physical_network_id,
            account_id, description, created)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
);

pub async fn ip_range_insert(db: impl PgExecutor<'_>, r: &IpRangeRow) -> Result<()> {
    IP_RANGE_INSERT
        .query()
        .bind(r.id)
        .bind(r.zone_id)
        .bind(r.pod_id)
        .bind(&r.purpose)
        .bind(&r.vlan)
        .bind(r.gateway)
        .bind(r.netmask)
        .bind(r.start_ip)
        .bind(r.end_ip)
        .bind(r.for_virtual_network)
        .bind(r.for_system_vms)
        .bind(r.network_id)
        .bind(r.physical_network_id)
        .bind(r.account_id)
        .bind(&r.description)
        .bind(r.created)
        .execute(db)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct IpRangeFilter {
    pub id: Option<IpRangeId>,
    pub zone_id: Option<ZoneId>,
    pub pod_id: Option<PodId>,
    /// Ranges of any of these purposes (`management`, `guest`, `public`).
    pub purposes: Option<&'static [&'static str]>,
    pub vlan: Option<String>,
    pub network_id: Option<NetworkId>,
    pub physical_network_id: Option<PhysicalNetworkId>,
    pub for_virtual_network: Option<bool>,
    pub keyword: Option<String>,
    pub offset: i64,
    pub limit: Option<i64>,
}

stmt!(IP_RANGE_LIST: Counted<IpRangeRow> = named paged_sql(
    "r.*, p.name AS pod_name",
    "ip_ranges",
    "r",
    "LEFT JOIN pods p ON p.id = r.pod_id",
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($zone_id::uuid IS NULL OR {a}.zone_id = $zone_id)
             AND ($pod_id::uuid IS NULL OR {a}.pod_id = $pod_id)
             AND ($purposes::text[] IS NULL OR {a}.purpose = ANY($purposes))
             AND ($vlan::text IS NULL OR {a}.vlan = $vlan)
             AND ($network_id::uuid IS NULL OR {a}.network_id = $network_id)
             AND ($physical_network_id::uuid IS NULL OR {a}.physical_network_id = $physical_network_id)
             AND ($for_virtual_network::boolean IS NULL OR {a}.for_virtual_network = $for_virtual_network)
             AND ($keyword::text IS NULL OR {a}.vlan ILIKE $keyword OR host({a}.start_ip) ILIKE $keyword OR host({a}.end_ip) ILIKE $keyword)",
    "r.start_ip, r.id",
));

pub async fn ip_range_list(
    db: impl PgExecutor<'_>,
    f: &IpRangeFilter,
) -> Result<(Vec<IpRangeRow>, i64)> {
    let rows: Vec<Counted<_>> = IP_RANGE_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.id)
                .set("zone_id", f.zone_id)
                .set("pod_id", f.pod_id)
                .set("purposes", f.purposes)
                .set("vlan", &f.vlan)
                .set("network_id", f.network_id)
                .set("physical_network_id", f.physical_network_id)
                .set("for_virtual_network", f.for_virtual_network)
                .set("keyword", f.keyword.as_ref().map(|k| format!("%{k}%")))
                .set("offset", f.offset)
                .set("limit", f.limit.unwrap_or(i64::MAX)),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(IP_RANGE_LIST_FOR_PODS: IpRangeRow = "SELECT r.* FROM ip_ranges r WHERE r.pod_id = ANY($1) AND r.purpose = 'management'
         ORDER BY r.start_ip");

/// The management ranges of many pods at once, for list answers.
pub async fn ip_range_list_for_pods(
    db: impl PgExecutor<'_>,
    pods: &[PodId],
) -> Result<Vec<IpRangeRow>> {
    Ok(IP_RANGE_LIST_FOR_PODS
        .query_as()
        .bind(pods)
        .fetch_all(db)
        .await?)
}

stmt!(IP_RANGE_DELETE = "DELETE FROM ip_ranges WHERE id = $1");

stmt!(IP_RANGE_ALLOCATED: super::Scalar<i64> = "SELECT count(*) FROM public_ips WHERE range_id = $1");

/// How many addresses of a public range accounts hold.
pub async fn ip_range_allocated(db: impl PgExecutor<'_>, id: IpRangeId) -> Result<i64> {
    Ok(IP_RANGE_ALLOCATED
        .query_scalar()
        .bind(id)
        .fetch_one(db)
        .await?)
}

pub async fn ip_range_delete(db: impl PgExecutor<'_>, id: IpRangeId) -> Result<bool> {
    Ok(IP_RANGE_DELETE
        .query()
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(
    IP_RANGE_DELETE_MANAGEMENT_OF_POD =
        "DELETE FROM ip_ranges WHERE pod_id = $1 AND purpose = 'management'"
);

pub async fn ip_range_delete_management_of_pod(
    db: impl PgExecutor<'_>,
    pod_id: PodId,
) -> Result<u64> {
    Ok(IP_RANGE_DELETE_MANAGEMENT_OF_POD
        .query()
        .bind(pod_id)
        .execute(db)
        .await?
        .rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ClusterRow {
    pub id: ClusterId,
    pub zone_id: ZoneId,
    pub pod_id: PodId,
    pub name: String,
    pub hypervisor: String,
    pub cluster_type: String,
    pub allocation_state: AllocationState,
    pub managed_state: ManagedState,
    pub arch: String,
    pub created: DateTime<Utc>,
    #[sqlx(default)]
    pub zone_name: String,
    #[sqlx(default)]
    pub pod_name: String,
}

stmt!(
    CLUSTER_INSERT = "INSERT INTO clusters (id, zone_id, pod_id, name, hypervisor, cluster_type,
            allocation_state, managed_state, arch, created)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
);

pub async fn cluster_insert(db: impl PgExecutor<'_>, c: &ClusterRow) -> Result<()> {
    CLUSTER_INSERT
        .query()
        .bind(c.id)
        .bind(c.zone_id)
        .bind(c.pod_id)
        .bind(&c.name)
        .bind(&c.hypervisor)
        .bind(&c.cluster_type)
        .bind(c.allocation_state)
        .bind(c.managed_state)
        .bind(&c.arch)
        .bind(c.created)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(CLUSTER_UPDATE = "UPDATE clusters SET name=$2, allocation_state=$3, managed_state=$4, cluster_type=$5 WHERE id=$1");

pub async fn cluster_update(db: impl PgExecutor<'_>, c: &ClusterRow) -> Result<()> {
    CLUSTER_UPDATE
        .query()
        .bind(c.id)
        .bind(&c.name)
        .bind(c.allocation_state)
        .bind(c.managed_state)
        .bind(&c.cluster_type)
        .execute(db)
        .await?;
    Ok(())
}

const CLUSTER_SELECT: &str = "SELECT c.*, z.name AS zone_name, p.name AS pod_name
    FROM clusters c JOIN zones z ON z.id = c.zone_id JOIN pods p ON p.id = c.pod_id";

stmt!(CLUSTER_FETCH: ClusterRow = format!("{CLUSTER_SELECT} WHERE c.id = $1"));

pub async fn cluster_fetch(db: impl PgExecutor<'_>, id: ClusterId) -> Result<Option<ClusterRow>> {
    Ok(CLUSTER_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

#[derive(Debug, Clone, Default)]
pub struct ClusterFilter {
    pub common: ListFilter,
    pub zone_id: Option<ZoneId>,
    pub pod_id: Option<PodId>,
    pub hypervisor: Option<String>,
    pub cluster_type: Option<String>,
    pub allocation_state: Option<AllocationState>,
    pub managed_state: Option<ManagedState>,
}

stmt!(CLUSTER_LIST: Counted<ClusterRow> = named paged_sql(
    "c.*, z.name AS zone_name, p.name AS pod_name",
    "clusters",
    "c",
    "JOIN zones z ON z.id = c.zone_id JOIN pods p ON p.id = c.pod_id",
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword)
             AND ($zone_id::uuid IS NULL OR {a}.zone_id = $zone_id)
             AND ($pod_id::uuid IS NULL OR {a}.pod_id = $pod_id)
             AND ($hypervisor::text IS NULL OR lower({a}.hypervisor) = lower($hypervisor))
             AND ($cluster_type::text IS NULL OR {a}.cluster_type = $cluster_type)
             AND ($allocation_state::text IS NULL OR {a}.allocation_state = $allocation_state)
             AND ($managed_state::text IS NULL OR {a}.managed_state = $managed_state)",
    "c.created, c.id",
));

pub async fn cluster_list(
    db: impl PgExecutor<'_>,
    f: &ClusterFilter,
) -> Result<(Vec<ClusterRow>, i64)> {
    let rows: Vec<Counted<_>> = CLUSTER_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("zone_id", f.zone_id)
                .set("pod_id", f.pod_id)
                .set("hypervisor", &f.hypervisor)
                .set("cluster_type", &f.cluster_type)
                .set("allocation_state", f.allocation_state)
                .set("managed_state", f.managed_state)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(CLUSTER_DELETE = "DELETE FROM clusters WHERE id = $1");

pub async fn cluster_delete(db: impl PgExecutor<'_>, id: ClusterId) -> Result<bool> {
    Ok(CLUSTER_DELETE
        .query()
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(IP_RANGE_FIND_OVERLAP: IpRangeRow = "SELECT r.*, p.name AS pod_name FROM ip_ranges r LEFT JOIN pods p ON p.id = r.pod_id
         WHERE r.zone_id = $1 AND inetrange(r.start_ip, r.end_ip, '[]') && inetrange($2, $3, '[]')
         ORDER BY r.start_ip LIMIT 1");

/// The first range of the zone that shares an address with `start..=end`.
pub async fn ip_range_find_overlap(
    db: impl PgExecutor<'_>,
    zone_id: ZoneId,
    start: IpNetwork,
    end: IpNetwork,
) -> Result<Option<IpRangeRow>> {
    Ok(IP_RANGE_FIND_OVERLAP
        .query_as()
        .bind(zone_id)
        .bind(start)
        .bind(end)
        .fetch_optional(db)
        .await?)
}

stmt!(ANY_ZONE_SG: Scalar<bool> = "SELECT EXISTS (SELECT 1 FROM zones WHERE security_groups_enabled)");

/// Whether any zone enforces security groups (listCapabilities' `securitygroupsenabled`).
pub async fn any_zone_security_groups(db: impl PgExecutor<'_>) -> Result<bool> {
    Ok(ANY_ZONE_SG.query_scalar().fetch_one(db).await?)
}

statements![
    ANY_ZONE_SG,
    ZONE_INSERT,
    ZONE_UPDATE,
    ZONE_FETCH,
    ZONE_FETCH_FOR_UPDATE,
    ZONE_LIST,
    ZONE_USAGE,
    ZONE_DELETE,
    POD_INSERT,
    POD_UPDATE,
    POD_FETCH,
    POD_FETCH_FOR_UPDATE,
    POD_LIST,
    POD_USAGE,
    POD_DELETE,
    IP_RANGE_INSERT,
    IP_RANGE_LIST,
    IP_RANGE_LIST_FOR_PODS,
    IP_RANGE_DELETE,
    IP_RANGE_ALLOCATED,
    IP_RANGE_DELETE_MANAGEMENT_OF_POD,
    CLUSTER_INSERT,
    CLUSTER_UPDATE,
    CLUSTER_FETCH,
    CLUSTER_LIST,
    CLUSTER_DELETE,
    IP_RANGE_FIND_OVERLAP
];
