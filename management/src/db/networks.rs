//! Guest networks.

use crate::ids::{NetworkId, NetworkOfferingId, ZoneId};
use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use sqlx::PgExecutor;

use super::tags::TagMatch;
use super::{Binds, Counted, ListFilter, RowShape};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct NetworkRow {
    pub id: NetworkId,
    pub zone_id: ZoneId,
    pub offering_id: NetworkOfferingId,
    pub name: String,
    pub display_text: String,
    pub guest_type: String,
    pub traffic_type: String,
    pub bridge: String,
    pub state: String,
    pub created: DateTime<Utc>,
    #[sqlx(default)]
    pub zone_name: String,
    /// The first guest range of the zone: gateway and netmask the guests get.
    #[sqlx(default)]
    pub gateway: Option<IpNetwork>,
    #[sqlx(default)]
    pub netmask: Option<IpNetwork>,
    #[sqlx(default)]
    pub dns1: Option<IpNetwork>,
    #[sqlx(default)]
    pub dns2: Option<IpNetwork>,
    #[sqlx(default)]
    pub ip6dns1: Option<IpNetwork>,
    #[sqlx(default)]
    pub ip6dns2: Option<IpNetwork>,
    /// The zone's network domain: its networks'.
    #[sqlx(default)]
    pub network_domain: Option<String>,
}

stmt!(NETWORK_INSERT = "INSERT INTO networks (id, zone_id, name, display_text, guest_type, traffic_type, bridge, state, offering_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)");

pub async fn network_insert(db: impl PgExecutor<'_>, n: &NetworkRow) -> Result<()> {
    NETWORK_INSERT
        .query()
        .bind(n.id)
        .bind(n.zone_id)
        .bind(&n.name)
        .bind(&n.display_text)
        .bind(&n.guest_type)
        .bind(&n.traffic_type)
        .bind(&n.bridge)
        .bind(&n.state)
        .bind(n.offering_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(NETWORK_LIST: Counted<NetworkRow> = named format!(
    "SELECT n.*, z.name AS zone_name, z.dns1, z.dns2, g.gateway, g.netmask,
                z.ip6dns1, z.ip6dns2, z.network_domain,
                count(*) OVER () AS total
         FROM networks n
         JOIN zones z ON z.id = n.zone_id
         LEFT JOIN LATERAL (
             SELECT r.gateway, r.netmask FROM ip_ranges r
             WHERE r.zone_id = n.zone_id AND r.purpose = 'guest'
             ORDER BY r.created, r.id LIMIT 1) g ON true
         WHERE ($id::uuid IS NULL OR n.id = $id)
           AND ($name::text IS NULL OR n.name = $name)
           AND ($keyword::text IS NULL OR n.name ILIKE $keyword OR n.display_text ILIKE $keyword)
           AND ($zone_id::uuid IS NULL OR n.zone_id = $zone_id)
           AND {}
         ORDER BY n.created, n.id OFFSET $offset LIMIT $limit",
    super::tags::carries_sql(super::tags::TagType::Network, "n.id")
));

/// Networks, in `zone_id` when given, carrying every pair of `tags`.
pub async fn network_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    zone_id: Option<ZoneId>,
    tags: &TagMatch,
) -> Result<(Vec<NetworkRow>, i64)> {
    let rows: Vec<Counted<_>> = NETWORK_LIST
        .query_as_with(
            tags.bind(Binds::new())
                .set("id", f.id)
                .set("name", &f.name)
                .set("keyword", f.keyword_pattern())
                .set("zone_id", zone_id)
                .set("offset", f.offset)
                .set("limit", f.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

statements![NETWORK_INSERT, NETWORK_LIST];
