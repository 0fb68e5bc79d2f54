//! Guest networks.

use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Counted, ListFilter, RowShape};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct NetworkRow {
    pub id: Uuid,
    pub zone_id: Uuid,
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

stmt!(NETWORK_INSERT = "INSERT INTO networks (id, zone_id, name, display_text, guest_type, traffic_type, bridge, state)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)");

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
        .execute(db)
        .await?;
    Ok(())
}

stmt!(NETWORK_LIST: Counted<NetworkRow> = "SELECT n.*, z.name AS zone_name, z.dns1, z.dns2, g.gateway, g.netmask,
                z.ip6dns1, z.ip6dns2, z.network_domain,
                count(*) OVER () AS total
         FROM networks n
         JOIN zones z ON z.id = n.zone_id
         LEFT JOIN LATERAL (
             SELECT r.gateway, r.netmask FROM ip_ranges r
             WHERE r.zone_id = n.zone_id AND r.purpose = 'guest'
             ORDER BY r.created, r.id LIMIT 1) g ON true
         WHERE ($1::uuid IS NULL OR n.id = $1)
           AND ($2::text IS NULL OR n.name = $2)
           AND ($3::text IS NULL OR n.name ILIKE $3 OR n.display_text ILIKE $3)
           AND ($4::uuid IS NULL OR n.zone_id = $4)
         ORDER BY n.created, n.id OFFSET $5 LIMIT $6");

pub async fn network_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    zone_id: Option<Uuid>,
) -> Result<(Vec<NetworkRow>, i64)> {
    let rows: Vec<Counted<_>> = NETWORK_LIST
        .query_as()
        .bind(f.id)
        .bind(&f.name)
        .bind(f.keyword_pattern())
        .bind(zone_id)
        .bind(f.offset)
        .bind(f.limit())
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

statements![NETWORK_INSERT, NETWORK_LIST];
