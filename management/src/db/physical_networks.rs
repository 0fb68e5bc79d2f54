//! Physical networks, their traffic types and service providers, and the guest VLANs
//! (migration 0053). A VLAN is a row of `guest_vnets`; a network holds it while its
//! `network_id` points there. Taking one locks a random free row (`SKIP LOCKED`), as
//! CloudStack's `lockOneRandomRow`, so concurrent implements never share a VLAN.

use crate::ids::{DomainId, NetworkId, PhysicalNetworkId, ZoneId};
use crate::rules::physical_networks::{PhysicalNetworkState, Provider, ProviderState, TrafficType};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct PhysicalNetworkRow {
    pub id: PhysicalNetworkId,
    pub zone_id: ZoneId,
    pub name: String,
    pub state: PhysicalNetworkState,
    pub vlan: String,
    pub isolation_method: Option<String>,
    pub tags: Option<String>,
    pub network_speed: Option<String>,
    pub broadcast_domain_range: String,
    pub domain_id: Option<DomainId>,
    pub created: DateTime<Utc>,
    pub zone_name: String,
}

const SELECT: &str = "p.*, z.name AS zone_name";
const JOINS: &str = "JOIN zones z ON z.id = p.zone_id";

stmt!(
    PN_INSERT = "INSERT INTO physical_networks (id, zone_id, name, vlan, isolation_method, tags,
        network_speed, broadcast_domain_range, domain_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
);

pub struct NewPhysicalNetwork<'a> {
    pub id: PhysicalNetworkId,
    pub zone_id: ZoneId,
    pub name: &'a str,
    pub vlan: &'a str,
    pub isolation_method: Option<&'a str>,
    pub tags: Option<&'a str>,
    pub network_speed: Option<&'a str>,
    pub broadcast_domain_range: &'a str,
    pub domain_id: Option<DomainId>,
}

pub async fn pn_insert(db: impl PgExecutor<'_>, p: &NewPhysicalNetwork<'_>) -> Result<()> {
    PN_INSERT
        .query()
        .bind(p.id)
        .bind(p.zone_id)
        .bind(p.name)
        .bind(p.vlan)
        .bind(p.isolation_method)
        .bind(p.tags)
        .bind(p.network_speed)
        .bind(p.broadcast_domain_range)
        .bind(p.domain_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(PN_FETCH: PhysicalNetworkRow = format!("SELECT {SELECT} FROM physical_networks p {JOINS} WHERE p.id = $1"));

pub async fn pn_fetch(
    db: impl PgExecutor<'_>,
    id: PhysicalNetworkId,
) -> Result<Option<PhysicalNetworkRow>> {
    Ok(PN_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(PN_LOCK: Scalar<Uuid> = "SELECT id FROM physical_networks WHERE id = $1 FOR UPDATE");

/// Locks the row: range changes and VLAN takes of one physical network are serialised.
pub async fn pn_lock(db: impl PgExecutor<'_>, id: PhysicalNetworkId) -> Result<bool> {
    Ok(PN_LOCK
        .query_scalar()
        .bind(id)
        .fetch_optional(db)
        .await?
        .is_some())
}

stmt!(PN_LIST: Counted<PhysicalNetworkRow> = named paged_sql(
    SELECT,
    "physical_networks",
    "p",
    JOINS,
    "($id::uuid IS NULL OR {a}.id = $id)
         AND ($zone_id::uuid IS NULL OR {a}.zone_id = $zone_id)
         AND ($name::text IS NULL OR {a}.name = $name)
         AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword)",
    "p.created, p.id",
));

pub async fn pn_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    zone_id: Option<ZoneId>,
) -> Result<(Vec<PhysicalNetworkRow>, i64)> {
    let rows: Vec<Counted<_>> = PN_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.id)
                .set("zone_id", zone_id)
                .set("name", &f.name)
                .set("keyword", f.keyword_pattern())
                .set("offset", f.offset)
                .set("limit", f.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(PN_COUNT_IN_ZONE: Scalar<i64> = "SELECT count(*) FROM physical_networks WHERE zone_id = $1");

pub async fn pn_count_in_zone(db: impl PgExecutor<'_>, zone: ZoneId) -> Result<i64> {
    Ok(PN_COUNT_IN_ZONE
        .query_scalar()
        .bind(zone)
        .fetch_one(db)
        .await?)
}

stmt!(
    PN_UPDATE = "UPDATE physical_networks SET state = $2, vlan = $3, tags = $4, network_speed = $5
        WHERE id = $1"
);

pub async fn pn_update(db: impl PgExecutor<'_>, p: &PhysicalNetworkRow) -> Result<()> {
    PN_UPDATE
        .query()
        .bind(p.id)
        .bind(p.state)
        .bind(&p.vlan)
        .bind(&p.tags)
        .bind(&p.network_speed)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(PN_DELETE = "DELETE FROM physical_networks WHERE id = $1");

pub async fn pn_delete(db: impl PgExecutor<'_>, id: PhysicalNetworkId) -> Result<()> {
    PN_DELETE.query().bind(id).execute(db).await?;
    Ok(())
}

// --- guest VLANs ---

stmt!(
    VNET_ADD = "INSERT INTO guest_vnets (physical_network_id, vnet)
        SELECT $1, unnest($2::int[]) ON CONFLICT DO NOTHING"
);

/// Adds these VLAN ids to the physical network's pool (present ones stay as they are).
pub async fn vnets_add(db: impl PgExecutor<'_>, pn: PhysicalNetworkId, ids: &[i32]) -> Result<()> {
    VNET_ADD.query().bind(pn).bind(ids).execute(db).await?;
    Ok(())
}

stmt!(VNET_TAKEN_AMONG: Scalar<i32> = "SELECT vnet FROM guest_vnets
        WHERE physical_network_id = $1 AND vnet = ANY($2::int[]) AND network_id IS NOT NULL
        ORDER BY vnet");

/// Which of these ids a network holds.
pub async fn vnets_taken_among(
    db: impl PgExecutor<'_>,
    pn: PhysicalNetworkId,
    ids: &[i32],
) -> Result<Vec<i32>> {
    Ok(VNET_TAKEN_AMONG
        .query_scalar()
        .bind(pn)
        .bind(ids)
        .fetch_all(db)
        .await?)
}

stmt!(
    VNET_REMOVE = "DELETE FROM guest_vnets
        WHERE physical_network_id = $1 AND vnet = ANY($2::int[]) AND network_id IS NULL"
);

pub async fn vnets_remove(
    db: impl PgExecutor<'_>,
    pn: PhysicalNetworkId,
    ids: &[i32],
) -> Result<()> {
    VNET_REMOVE.query().bind(pn).bind(ids).execute(db).await?;
    Ok(())
}

stmt!(VNET_TAKEN_COUNT: Scalar<i64> = "SELECT count(*) FROM guest_vnets
        WHERE physical_network_id = $1 AND network_id IS NOT NULL");

pub async fn vnets_taken_count(db: impl PgExecutor<'_>, pn: PhysicalNetworkId) -> Result<i64> {
    Ok(VNET_TAKEN_COUNT
        .query_scalar()
        .bind(pn)
        .fetch_one(db)
        .await?)
}

stmt!(VNET_TAKE: Scalar<i32> = "UPDATE guest_vnets SET network_id = $2, taken = now()
        WHERE (physical_network_id, vnet) = (
            SELECT physical_network_id, vnet FROM guest_vnets
            WHERE physical_network_id = $1 AND network_id IS NULL
            ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING vnet");

/// A random free VLAN of the physical network, now held by `network` (None: none free).
/// The network's own VLAN if it already holds one (taking twice is taking once).
pub async fn vnet_take(
    db: &mut sqlx::PgConnection,
    pn: PhysicalNetworkId,
    network: NetworkId,
) -> Result<Option<i32>> {
    if let Some(v) = vnet_of(&mut *db, network).await? {
        return Ok(Some(v));
    }
    Ok(VNET_TAKE
        .query_scalar()
        .bind(pn)
        .bind(network)
        .fetch_optional(db)
        .await?)
}

stmt!(VNET_OF: Scalar<i32> = "SELECT vnet FROM guest_vnets WHERE network_id = $1");

pub async fn vnet_of(db: impl PgExecutor<'_>, network: NetworkId) -> Result<Option<i32>> {
    Ok(VNET_OF
        .query_scalar()
        .bind(network)
        .fetch_optional(db)
        .await?)
}

stmt!(
    VNET_RELEASE = "UPDATE guest_vnets SET network_id = NULL, taken = NULL WHERE network_id = $1"
);

pub async fn vnet_release(db: impl PgExecutor<'_>, network: NetworkId) -> Result<()> {
    VNET_RELEASE.query().bind(network).execute(db).await?;
    Ok(())
}

// --- traffic types ---

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct TrafficTypeRow {
    pub id: Uuid,
    pub physical_network_id: PhysicalNetworkId,
    pub zone_id: ZoneId,
    pub traffic_type: TrafficType,
    pub kvm_label: Option<String>,
    pub xen_label: Option<String>,
    pub vmware_label: Option<String>,
    pub vlan: Option<String>,
    pub isolation_method: Option<String>,
    pub created: DateTime<Utc>,
}

stmt!(
    TT_INSERT = "INSERT INTO physical_network_traffic_types (id, physical_network_id, zone_id,
        traffic_type, kvm_label, xen_label, vmware_label, vlan, isolation_method)
        VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
);

/// Fails on `traffic_types_network_key` (this physical network has it) or
/// `traffic_types_zone_key` (another physical network of the zone has it).
pub async fn tt_insert(db: impl PgExecutor<'_>, t: &TrafficTypeRow) -> Result<()> {
    TT_INSERT
        .query()
        .bind(t.id)
        .bind(t.physical_network_id)
        .bind(t.zone_id)
        .bind(t.traffic_type)
        .bind(&t.kvm_label)
        .bind(&t.xen_label)
        .bind(&t.vmware_label)
        .bind(&t.vlan)
        .bind(&t.isolation_method)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(TT_FETCH: TrafficTypeRow = "SELECT * FROM physical_network_traffic_types WHERE id = $1");

pub async fn tt_fetch(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<TrafficTypeRow>> {
    Ok(TT_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(TT_OF_NETWORK: TrafficTypeRow = "SELECT * FROM physical_network_traffic_types
        WHERE physical_network_id = $1 ORDER BY created, id");

pub async fn tt_of_network(
    db: impl PgExecutor<'_>,
    pn: PhysicalNetworkId,
) -> Result<Vec<TrafficTypeRow>> {
    Ok(TT_OF_NETWORK.query_as().bind(pn).fetch_all(db).await?)
}

stmt!(TT_IN_ZONE: TrafficTypeRow = "SELECT * FROM physical_network_traffic_types
        WHERE zone_id = $1 AND traffic_type = $2");

/// The zone's physical network carrying this traffic, and its label.
pub async fn tt_in_zone(
    db: impl PgExecutor<'_>,
    zone: ZoneId,
    t: TrafficType,
) -> Result<Option<TrafficTypeRow>> {
    Ok(TT_IN_ZONE
        .query_as()
        .bind(zone)
        .bind(t)
        .fetch_optional(db)
        .await?)
}

stmt!(
    TT_UPDATE = "UPDATE physical_network_traffic_types SET kvm_label = $2, xen_label = $3,
        vmware_label = $4 WHERE id = $1"
);

pub async fn tt_update(db: impl PgExecutor<'_>, t: &TrafficTypeRow) -> Result<()> {
    TT_UPDATE
        .query()
        .bind(t.id)
        .bind(&t.kvm_label)
        .bind(&t.xen_label)
        .bind(&t.vmware_label)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(TT_DELETE = "DELETE FROM physical_network_traffic_types WHERE id = $1");

pub async fn tt_delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    TT_DELETE.query().bind(id).execute(db).await?;
    Ok(())
}

// --- service providers ---

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ProviderRow {
    pub id: Uuid,
    pub physical_network_id: PhysicalNetworkId,
    pub name: Provider,
    pub state: ProviderState,
    pub created: DateTime<Utc>,
}

stmt!(
    NSP_INSERT = "INSERT INTO network_service_providers (id, physical_network_id, name, state)
        VALUES ($1,$2,$3,$4)"
);

pub async fn nsp_insert(
    db: impl PgExecutor<'_>,
    pn: PhysicalNetworkId,
    name: Provider,
    state: ProviderState,
) -> Result<()> {
    NSP_INSERT
        .query()
        .bind(Uuid::new_v4())
        .bind(pn)
        .bind(name)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(NSP_LIST: Counted<ProviderRow> = named paged_sql(
    "s.*",
    "network_service_providers",
    "s",
    "",
    "($id::uuid IS NULL OR {a}.id = $id)
         AND ($pn::uuid IS NULL OR {a}.physical_network_id = $pn)
         AND ($name::text IS NULL OR lower({a}.name) = lower($name))
         AND ($state::text IS NULL OR lower({a}.state) = lower($state))
         AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword)",
    "s.created, s.name",
));

pub async fn nsp_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    pn: Option<PhysicalNetworkId>,
    state: Option<&str>,
) -> Result<(Vec<ProviderRow>, i64)> {
    let rows: Vec<Counted<_>> = NSP_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.id)
                .set("pn", pn)
                .set("name", &f.name)
                .set("state", state)
                .set("keyword", f.keyword_pattern())
                .set("offset", f.offset)
                .set("limit", f.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(NSP_SET_STATE = "UPDATE network_service_providers SET state = $2 WHERE id = $1");

pub async fn nsp_set_state(db: impl PgExecutor<'_>, id: Uuid, state: ProviderState) -> Result<()> {
    NSP_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

statements![
    PN_INSERT,
    PN_FETCH,
    PN_LOCK,
    PN_LIST,
    PN_COUNT_IN_ZONE,
    PN_UPDATE,
    PN_DELETE,
    VNET_ADD,
    VNET_TAKEN_AMONG,
    VNET_REMOVE,
    VNET_TAKEN_COUNT,
    VNET_TAKE,
    VNET_OF,
    VNET_RELEASE,
    TT_INSERT,
    TT_FETCH,
    TT_OF_NETWORK,
    TT_IN_ZONE,
    TT_UPDATE,
    TT_DELETE,
    NSP_INSERT,
    NSP_LIST,
    NSP_SET_STATE,
];
