//! Network offerings and the service → provider map of each (migration 0053).
//! Deleting one marks it removed (CloudStack keeps the row; networks keep naming it).

use crate::ids::NetworkOfferingId;
use crate::rules::network_offerings::{Availability, GuestType, OfferingState};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct OfferingRow {
    pub id: NetworkOfferingId,
    pub name: String,
    pub display_text: String,
    pub traffic_type: String,
    pub guest_type: GuestType,
    pub availability: Availability,
    pub state: OfferingState,
    pub is_default: bool,
    pub specify_vlan: bool,
    pub specify_ip_ranges: bool,
    pub conserve_mode: bool,
    pub is_persistent: bool,
    pub egress_default_allow: bool,
    pub network_rate: Option<i32>,
    pub tags: Option<String>,
    pub max_connections: Option<i32>,
    pub keepalive: bool,
    pub sort_key: i32,
    pub created: DateTime<Utc>,
    /// `service:provider` pairs, ordered by service.
    pub services: Vec<String>,
}

const SELECT: &str =
    "o.*, COALESCE((SELECT array_agg(s.service || ':' || s.provider ORDER BY s.service)
        FROM network_offering_services s WHERE s.offering_id = o.id), '{}') AS services";

stmt!(
    NO_INSERT = "INSERT INTO network_offerings (id, name, display_text, guest_type, availability,
        state, specify_vlan, specify_ip_ranges, conserve_mode, is_persistent, egress_default_allow,
        network_rate, tags, max_connections, keepalive)
        VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"
);

stmt!(
    NO_SERVICE_INSERT = "INSERT INTO network_offering_services (offering_id, service, provider)
        VALUES ($1,$2,$3)"
);

/// Inserts the offering and its services (call inside a transaction). Fails on
/// `network_offerings_one_required` when it is Required and another is.
pub async fn offering_insert(db: &mut sqlx::PgConnection, o: &OfferingRow) -> Result<()> {
    NO_INSERT
        .query()
        .bind(o.id)
        .bind(&o.name)
        .bind(&o.display_text)
        .bind(o.guest_type)
        .bind(o.availability)
        .bind(o.state)
        .bind(o.specify_vlan)
        .bind(o.specify_ip_ranges)
        .bind(o.conserve_mode)
        .bind(o.is_persistent)
        .bind(o.egress_default_allow)
        .bind(o.network_rate)
        .bind(&o.tags)
        .bind(o.max_connections)
        .bind(o.keepalive)
        .execute(&mut *db)
        .await?;
    for pair in &o.services {
        let (service, provider) = pair.split_once(':').unwrap_or((pair, ""));
        NO_SERVICE_INSERT
            .query()
            .bind(o.id)
            .bind(service)
            .bind(provider)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

stmt!(NO_FETCH: OfferingRow = format!("SELECT {SELECT} FROM network_offerings o
        WHERE o.id = $1 AND o.removed IS NULL"));

pub async fn offering_fetch(
    db: impl PgExecutor<'_>,
    id: NetworkOfferingId,
) -> Result<Option<OfferingRow>> {
    Ok(NO_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(NO_FETCH_ANY: OfferingRow = format!("SELECT {SELECT} FROM network_offerings o WHERE o.id = $1"));

/// Removed or not.
pub async fn offering_fetch_any(
    db: impl PgExecutor<'_>,
    id: NetworkOfferingId,
) -> Result<Option<OfferingRow>> {
    Ok(NO_FETCH_ANY.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(NO_REQUIRED: OfferingRow = format!("SELECT {SELECT} FROM network_offerings o
        WHERE o.availability = 'Required' AND o.removed IS NULL"));

/// The Required offering (an account's first network in an Advanced zone is made from it).
pub async fn offering_required(db: impl PgExecutor<'_>) -> Result<Option<OfferingRow>> {
    Ok(NO_REQUIRED.query_as().fetch_optional(db).await?)
}

/// What listNetworkOfferings filters on besides id, name and keyword.
#[derive(Debug, Default)]
pub struct OfferingFilter {
    pub common: ListFilter,
    pub display_text: Option<String>,
    pub guest_type: Option<String>,
    pub availability: Option<String>,
    pub state: Option<String>,
    pub is_default: Option<bool>,
    pub specify_vlan: Option<bool>,
    pub specify_ip_ranges: Option<bool>,
    pub tags: Option<String>,
    /// Offerings with every one of these services (canonical names).
    pub services: Option<Vec<String>>,
    pub source_nat: Option<bool>,
}

stmt!(NO_LIST: Counted<OfferingRow> = named paged_sql(
    SELECT,
    "network_offerings",
    "o",
    "",
    "{a}.removed IS NULL
         AND ($id::uuid IS NULL OR {a}.id = $id)
         AND ($name::text IS NULL OR {a}.name = $name)
         AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword)
         AND ($display_text::text IS NULL OR {a}.display_text ILIKE $display_text)
         AND ($guest_type::text IS NULL OR lower({a}.guest_type) = lower($guest_type))
         AND ($availability::text IS NULL OR lower({a}.availability) = lower($availability))
         AND ($state::text IS NULL OR lower({a}.state) = lower($state))
         AND ($is_default::bool IS NULL OR {a}.is_default = $is_default)
         AND ($specify_vlan::bool IS NULL OR {a}.specify_vlan = $specify_vlan)
         AND ($specify_ip_ranges::bool IS NULL OR {a}.specify_ip_ranges = $specify_ip_ranges)
         AND ($tags::text IS NULL OR {a}.tags = $tags)
         AND ($services::text[] IS NULL OR (SELECT count(*) FROM network_offering_services xs
              WHERE xs.offering_id = {a}.id AND xs.service = ANY($services)) = cardinality($services))
         AND ($source_nat::bool IS NULL OR EXISTS (SELECT 1 FROM network_offering_services xn
              WHERE xn.offering_id = {a}.id AND xn.service = 'SourceNat') = $source_nat)",
    "o.sort_key, o.created, o.id",
));

pub async fn offering_list(
    db: impl PgExecutor<'_>,
    f: &OfferingFilter,
) -> Result<(Vec<OfferingRow>, i64)> {
    let display_text = f.display_text.as_ref().and_then(|t| {
        ListFilter {
            keyword: Some(t.clone()),
            ..Default::default()
        }
        .keyword_pattern()
    });
    let rows: Vec<Counted<_>> = NO_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("display_text", display_text)
                .set("guest_type", &f.guest_type)
                .set("availability", &f.availability)
                .set("state", &f.state)
                .set("is_default", f.is_default)
                .set("specify_vlan", f.specify_vlan)
                .set("specify_ip_ranges", f.specify_ip_ranges)
                .set("tags", &f.tags)
                .set("services", &f.services)
                .set("source_nat", f.source_nat)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(
    NO_UPDATE = "UPDATE network_offerings SET name = $2, display_text = $3, availability = $4,
        state = $5, sort_key = $6, tags = $7, keepalive = $8, max_connections = $9 WHERE id = $1"
);

pub async fn offering_update(db: impl PgExecutor<'_>, o: &OfferingRow) -> Result<()> {
    NO_UPDATE
        .query()
        .bind(o.id)
        .bind(&o.name)
        .bind(&o.display_text)
        .bind(o.availability)
        .bind(o.state)
        .bind(o.sort_key)
        .bind(&o.tags)
        .bind(o.keepalive)
        .bind(o.max_connections)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(NO_REMOVE = "UPDATE network_offerings SET removed = now() WHERE id = $1 AND removed IS NULL");

pub async fn offering_remove(db: impl PgExecutor<'_>, id: NetworkOfferingId) -> Result<()> {
    NO_REMOVE.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(NO_NETWORKS: Scalar<i64> = "SELECT count(*) FROM networks WHERE offering_id = $1");

/// How many networks were made from it.
pub async fn offering_networks(db: impl PgExecutor<'_>, id: NetworkOfferingId) -> Result<i64> {
    Ok(NO_NETWORKS.query_scalar().bind(id).fetch_one(db).await?)
}

statements![
    NO_INSERT,
    NO_SERVICE_INSERT,
    NO_FETCH,
    NO_FETCH_ANY,
    NO_REQUIRED,
    NO_LIST,
    NO_UPDATE,
    NO_REMOVE,
    NO_NETWORKS,
];
