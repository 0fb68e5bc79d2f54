//! Guest networks: a Basic zone's shared guest network (created with the zone).

use super::requests;
use crate::ids::{NetworkId, ZoneId};
use std::collections::HashMap;
use stratus_api::envelope::Reply;
use stratus_api::error::ApiError;
use stratus_api::types::NetworkResponse;
use uuid::Uuid;

use super::network_offerings::{self, SHARED_OFFERING_ID};
use crate::db::network_offerings::OfferingRow;

use super::list_filter;
use crate::ctx::Ctx;
use crate::db::accounts::ROOT_DOMAIN;
use crate::db::networks::{self as n, NetworkRow};
use crate::db::tags::TagType;
use crate::error::Result;
use crate::services::auth::Caller;

/// CloudStack's name for a Basic zone's guest network.
pub const BASIC_ZONE_NETWORK: &str = "guestNetworkForBasicZone";

/// The guest network of a new Basic zone (inserted in the zone's transaction).
pub fn basic_zone_network(ctx: &Ctx, zone_id: ZoneId) -> NetworkRow {
    NetworkRow {
        id: NetworkId::new_v4(),
        zone_id,
        offering_id: SHARED_OFFERING_ID,
        name: BASIC_ZONE_NETWORK.into(),
        display_text: BASIC_ZONE_NETWORK.into(),
        guest_type: "Shared".into(),
        traffic_type: "Guest".into(),
        bridge: ctx.get(&crate::settings::GUEST_NETWORK_BRIDGE),
        state: "Setup".into(),
        created: chrono::Utc::now(),
        zone_name: String::new(),
        gateway: None,
        netmask: None,
        dns1: None,
        dns2: None,
        ip6dns1: None,
        ip6dns2: None,
        network_domain: None,
    }
}

fn response(x: &NetworkRow, o: &OfferingRow) -> NetworkResponse {
    let cidr = match (x.gateway, x.netmask) {
        (Some(g), Some(m)) => ipnetwork::IpNetwork::with_netmask(g.ip(), m.ip())
            .ok()
            .and_then(|c| ipnetwork::IpNetwork::new(c.network(), c.prefix()).ok())
            .map(|c| c.to_string()),
        _ => None,
    };
    NetworkResponse {
        networkofferingavailability: Some(o.availability.to_string()),
        specifyvlan: Some(o.specify_vlan),
        service: network_offerings::services(o),
        domainpath: Some("ROOT".into()),
        ip6dns1: x.ip6dns1.map(|d| d.ip().to_string()),
        ip6dns2: x.ip6dns2.map(|d| d.ip().to_string()),
        networkdomain: x.network_domain.clone(),
        internetprotocol: Some("IPv4".into()),
        displaynetwork: Some(true),
        hasannotations: Some(false),
        id: Some(x.id.into()),
        name: Some(x.name.clone()),
        displaytext: Some(x.display_text.clone()),
        zoneid: Some(x.zone_id.into()),
        zonename: Some(x.zone_name.clone()),
        r#type: Some(x.guest_type.clone()),
        traffictype: Some(x.traffic_type.clone()),
        state: Some(x.state.clone()),
        broadcastdomaintype: Some("Native".into()),
        broadcasturi: Some("vlan://untagged".into()),
        vlan: Some("untagged".into()),
        gateway: x.gateway.map(|g| g.ip().to_string()),
        netmask: x.netmask.map(|m| m.ip().to_string()),
        cidr,
        dns1: x.dns1.map(|d| d.ip().to_string()),
        dns2: x.dns2.map(|d| d.ip().to_string()),
        isdefault: Some(true),
        issystem: Some(false),
        canusefordeploy: Some(true),
        networkofferingid: Some(o.id.into()),
        networkofferingname: Some(o.name.clone()),
        networkofferingdisplaytext: Some(o.display_text.clone()),
        acltype: Some("Domain".into()),
        specifyipranges: Some(o.specify_ip_ranges),
        ispersistent: Some(o.is_persistent),
        restartrequired: Some(false),
        related: Some(x.id.into()),
        domain: Some("ROOT".into()),
        domainid: Some(ROOT_DOMAIN.into_uuid()),
        subdomainaccess: Some(true),
        created: Some(x.created.into()),
        tags: vec![],
    }
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListNetworks<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let zone = r.zoneid();
    let tags = super::tags::wanted(r.wire())?;
    // The shared guest networks are the zone's, usable by every account and every
    // project: whose list it is does not change it. A `projectid` must still name a
    // project the caller belongs to (531 otherwise), as for every list.
    super::projects::list_owners(ctx, caller, r.wire()).await?;
    for n in ["listall", "account", "domainid"] {
        r.wire().mark_read(n);
    }
    // Only shared guest networks exist: other types and system networks list empty.
    let other_type = r
        .r#type()
        .is_some_and(|t| !(t.eq_ignore_ascii_case("shared") || t.eq_ignore_ascii_case("all")));
    let other_traffic = r
        .traffictype()
        .is_some_and(|t| !t.eq_ignore_ascii_case("guest"));
    let (issystem, isdefault, canusefordeploy) = (r.issystem(), r.isdefault(), r.canusefordeploy());
    if other_type
        || other_traffic
        || issystem == Some(true)
        || isdefault == Some(false)
        || canusefordeploy == Some(false)
    {
        return Ok(Reply::list::<NetworkResponse>("network", 0, &[]));
    }
    let (rows, total) = n::network_list(&ctx.pool, &f, zone, &tags).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id.into_uuid()).collect();
    let mut tags = super::tags::tags_of(ctx, TagType::Network, &ids).await?;
    let mut offerings = HashMap::new();
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let o = match offerings.get(&r.offering_id) {
            Some(o) => o,
            None => {
                let o = network_offerings::fetch_any(ctx, r.offering_id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::internal(format!("network {} has no offering", r.id))
                    })?;
                offerings.entry(r.offering_id).or_insert(o)
            }
        };
        items.push(NetworkResponse {
            tags: tags.remove(&r.id.into_uuid()).unwrap_or_default(),
            ..response(r, o)
        });
    }
    Ok(Reply::list("network", total, &items))
}
