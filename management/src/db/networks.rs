//! Guest networks.

use crate::ids::{AccountId, DomainId, NetworkId, NetworkOfferingId, PhysicalNetworkId, ZoneId};
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
    /// The network's own domain, else the zone's.
    #[sqlx(default)]
    pub network_domain: Option<String>,
    /// The owner of an account network (None: a zone's shared network).
    #[sqlx(default)]
    pub account_id: Option<AccountId>,
    #[sqlx(default)]
    pub domain_id: Option<DomainId>,
    #[sqlx(default)]
    pub physical_network_id: Option<PhysicalNetworkId>,
    /// An isolated network's own subnet.
    #[sqlx(default)]
    pub net_cidr: Option<IpNetwork>,
    #[sqlx(default)]
    pub acl_type: String,
    #[sqlx(default)]
    pub restart_required: bool,
    #[sqlx(default)]
    pub display_network: bool,
    #[sqlx(default)]
    pub account_name: Option<String>,
    #[sqlx(default)]
    pub owner_domain_name: Option<String>,
    #[sqlx(default)]
    pub owner_domain_path: Option<String>,
    #[sqlx(default)]
    pub project_id: Option<crate::ids::ProjectId>,
    #[sqlx(default)]
    pub project_name: Option<String>,
    /// The VLAN or VXLAN id it holds while implemented.
    #[sqlx(default)]
    pub vnet: Option<i32>,
    /// Its physical network's isolation method (`VLAN`, `VXLAN`).
    #[sqlx(default)]
    pub isolation: Option<String>,
}

stmt!(NETWORK_INSERT = "INSERT INTO networks (id, zone_id, name, display_text, guest_type, traffic_type, bridge, state, offering_id,
             account_id, domain_id, physical_network_id, net_cidr, net_gateway, net_domain, acl_type)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)");

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
        .bind(n.account_id)
        .bind(n.domain_id)
        .bind(n.physical_network_id)
        .bind(n.net_cidr)
        .bind(match (n.account_id, n.gateway) {
            (Some(_), Some(g)) => Some(g),
            _ => None,
        })
        .bind(match n.account_id {
            Some(_) => n.network_domain.clone(),
            None => None,
        })
        .bind(if n.acl_type.is_empty() {
            "Domain"
        } else {
            &n.acl_type
        })
        .execute(db)
        .await?;
    Ok(())
}

stmt!(NETWORK_LIST: Counted<NetworkRow> = named format!(
    "SELECT n.*, z.name AS zone_name, z.dns1, z.dns2,
                COALESCE(n.net_gateway, g.gateway) AS gateway,
                COALESCE(netmask(n.net_cidr), g.netmask) AS netmask,
                z.ip6dns1, z.ip6dns2, COALESCE(n.net_domain, z.network_domain) AS network_domain,
                a.name AS account_name, d.name AS owner_domain_name, d.path AS owner_domain_path,
                pr.id AS project_id, pr.name AS project_name, v.vnet,
                pn.isolation_method AS isolation,
                count(*) OVER () AS total
         FROM networks n
         JOIN zones z ON z.id = n.zone_id
         LEFT JOIN accounts a ON a.id = n.account_id
         LEFT JOIN domains d ON d.id = n.domain_id
         LEFT JOIN projects pr ON pr.account_id = n.account_id
         LEFT JOIN guest_vnets v ON v.network_id = n.id
         LEFT JOIN physical_networks pn ON pn.id = n.physical_network_id
         LEFT JOIN LATERAL (
             SELECT r.gateway, r.netmask FROM ip_ranges r
             WHERE n.guest_type = 'Shared' AND r.zone_id = n.zone_id AND r.purpose = 'guest'
             ORDER BY r.created, r.id LIMIT 1) g ON true
         WHERE ($id::uuid IS NULL OR n.id = $id)
           AND ($name::text IS NULL OR n.name = $name)
           AND ($keyword::text IS NULL OR n.name ILIKE $keyword OR n.display_text ILIKE $keyword)
           AND ($zone_id::uuid IS NULL OR n.zone_id = $zone_id)
           AND ($guest_type::text IS NULL OR n.guest_type = $guest_type)
           AND ($account_ids::uuid[] IS NULL OR n.account_id IS NULL OR n.account_id = ANY($account_ids))
           AND ($offering_id::uuid IS NULL OR n.offering_id = $offering_id)
           AND ($physical_network_id::uuid IS NULL OR n.physical_network_id = $physical_network_id)
           AND ($acl_type::text IS NULL OR lower(n.acl_type) = lower($acl_type))
           AND ($restart_required::bool IS NULL OR n.restart_required = $restart_required)
           AND {}
         ORDER BY n.created, n.id OFFSET $offset LIMIT $limit",
    super::tags::carries_sql(super::tags::TagType::Network, "n.id")
));

/// What listNetworks narrows by besides the common filter.
#[derive(Debug, Default, Clone)]
pub struct NetworkFilter {
    pub zone_id: Option<ZoneId>,
    /// `Shared` or `Isolated`.
    pub guest_type: Option<&'static str>,
    /// Account networks of these owners only (shared networks always pass).
    pub account_ids: Option<Vec<uuid::Uuid>>,
    pub offering_id: Option<NetworkOfferingId>,
    pub physical_network_id: Option<PhysicalNetworkId>,
    pub acl_type: Option<String>,
    pub restart_required: Option<bool>,
}

/// Networks, in `zone_id` when given, carrying every pair of `tags`.
pub async fn network_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    zone_id: Option<ZoneId>,
    tags: &TagMatch,
) -> Result<(Vec<NetworkRow>, i64)> {
    let nf = NetworkFilter {
        zone_id,
        ..Default::default()
    };
    network_search(db, f, &nf, tags).await
}

/// A zone's shared guest network (a Basic zone's; None in an Advanced zone).
pub async fn zone_shared_network(
    db: impl PgExecutor<'_>,
    zone_id: ZoneId,
) -> Result<Option<NetworkRow>> {
    let nf = NetworkFilter {
        zone_id: Some(zone_id),
        guest_type: Some("Shared"),
        ..Default::default()
    };
    let f = ListFilter {
        limit: Some(1),
        ..Default::default()
    };
    Ok(network_search(db, &f, &nf, &TagMatch::default())
        .await?
        .0
        .into_iter()
        .next())
}

pub async fn network_search(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    nf: &NetworkFilter,
    tags: &TagMatch,
) -> Result<(Vec<NetworkRow>, i64)> {
    let rows: Vec<Counted<_>> = NETWORK_LIST
        .query_as_with(
            tags.bind(Binds::new())
                .set("id", f.id)
                .set("name", &f.name)
                .set("keyword", f.keyword_pattern())
                .set("zone_id", nf.zone_id)
                .set("guest_type", nf.guest_type)
                .set("account_ids", &nf.account_ids)
                .set("offering_id", nf.offering_id)
                .set("physical_network_id", nf.physical_network_id)
                .set("acl_type", &nf.acl_type)
                .set("restart_required", nf.restart_required)
                .set("offset", f.offset)
                .set("limit", f.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(NETWORK_VMS: super::Scalar<i64> = "SELECT count(DISTINCT c.vm_id) FROM nics c JOIN vms v ON v.id = c.vm_id
         WHERE c.network_id = $1 AND v.removed IS NULL");

/// VMs with a NIC in the network (any state but expunged).
pub async fn network_vm_count(db: impl PgExecutor<'_>, id: NetworkId) -> Result<i64> {
    Ok(NETWORK_VMS.query_scalar().bind(id).fetch_one(db).await?)
}

stmt!(
    NETWORK_UPDATE =
        "UPDATE networks SET name = $2, display_text = $3, net_domain = $4 WHERE id = $1"
);

pub async fn network_update(
    db: impl PgExecutor<'_>,
    id: NetworkId,
    name: &str,
    display_text: &str,
    domain: Option<&str>,
) -> Result<()> {
    NETWORK_UPDATE
        .query()
        .bind(id)
        .bind(name)
        .bind(display_text)
        .bind(domain)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(NETWORK_DISPLAY = "UPDATE networks SET display_network = $2 WHERE id = $1");

pub async fn network_set_display(
    db: impl PgExecutor<'_>,
    id: NetworkId,
    shown: bool,
) -> Result<()> {
    NETWORK_DISPLAY
        .query()
        .bind(id)
        .bind(shown)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    NETWORK_SET_STATE =
        "UPDATE networks SET state = $2, bridge = COALESCE($3, bridge) WHERE id = $1"
);

/// An isolated network's state (Allocated, Implementing, Implemented, Shutdown) and,
/// once it holds a VXLAN/VLAN id, the hosts' bridge of its segment.
pub async fn network_set_state(
    db: impl PgExecutor<'_>,
    id: NetworkId,
    state: &str,
    bridge: Option<&str>,
) -> Result<()> {
    NETWORK_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .bind(bridge)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(DEFAULT_NETWORK_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('default-network:' || $1::text || ':' || $2::text, 0))");
stmt!(ACCOUNT_ISOLATED_IN_ZONE: super::Scalar<uuid::Uuid> = "SELECT id FROM networks
         WHERE account_id = $1 AND zone_id = $2 AND guest_type = 'Isolated' AND state <> 'Destroy'
         ORDER BY created LIMIT 1");

/// Serialises the making of an account's default network in a zone (until the
/// transaction ends) and answers the account's isolated network there if one exists by
/// now: two first deploys at once make one network, not two.
pub async fn default_network_claim(
    tx: &mut sqlx::PgConnection,
    account: AccountId,
    zone: ZoneId,
) -> Result<Option<NetworkId>> {
    DEFAULT_NETWORK_LOCK
        .query()
        .bind(account)
        .bind(zone)
        .execute(&mut *tx)
        .await?;
    Ok(ACCOUNT_ISOLATED_IN_ZONE
        .query_scalar()
        .bind(account)
        .bind(zone)
        .fetch_optional(&mut *tx)
        .await?
        .map(NetworkId::from))
}

stmt!(NETWORK_DELETE = "DELETE FROM networks WHERE id = $1");

pub async fn network_delete(db: impl PgExecutor<'_>, id: NetworkId) -> Result<()> {
    NETWORK_DELETE.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(NETWORK_LOCK: super::Scalar<uuid::Uuid> = "SELECT id FROM networks WHERE id = $1 FOR UPDATE");

pub async fn network_lock(db: impl PgExecutor<'_>, id: NetworkId) -> Result<bool> {
    Ok(NETWORK_LOCK
        .query_scalar()
        .bind(id)
        .fetch_optional(db)
        .await?
        .is_some())
}

statements![
    NETWORK_INSERT,
    NETWORK_LIST,
    NETWORK_VMS,
    NETWORK_UPDATE,
    NETWORK_DISPLAY,
    NETWORK_SET_STATE,
    NETWORK_DELETE,
    NETWORK_LOCK,
    DEFAULT_NETWORK_LOCK,
    ACCOUNT_ISOLATED_IN_ZONE
];
