//! Guest networks: a Basic zone's shared guest network (created with the zone).

use stratus_api::envelope::Reply;
use stratus_api::types::NetworkResponse;
use stratus_api::Params;
use uuid::Uuid;

use super::list_filter;
use crate::ctx::Ctx;
use crate::db::accounts::ROOT_DOMAIN;
use crate::db::networks::{self as n, NetworkRow};
use crate::error::Result;

/// CloudStack's name for a Basic zone's guest network.
pub const BASIC_ZONE_NETWORK: &str = "guestNetworkForBasicZone";

/// The guest network of a new Basic zone (inserted in the zone's transaction).
pub fn basic_zone_network(ctx: &Ctx, zone_id: Uuid) -> NetworkRow {
    NetworkRow {
        id: Uuid::new_v4(),
        zone_id,
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
    }
}

fn response(x: &NetworkRow) -> NetworkResponse {
    let cidr = match (x.gateway, x.netmask) {
        (Some(g), Some(m)) => ipnetwork::IpNetwork::with_netmask(g.ip(), m.ip())
            .ok()
            .and_then(|c| ipnetwork::IpNetwork::new(c.network(), c.prefix()).ok())
            .map(|c| c.to_string()),
        _ => None,
    };
    NetworkResponse {
        id: Some(x.id),
        name: Some(x.name.clone()),
        displaytext: Some(x.display_text.clone()),
        zoneid: Some(x.zone_id),
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
        networkofferingname: Some("DefaultSharedNetworkOffering".into()),
        networkofferingdisplaytext: Some("Offering for Shared networks".into()),
        acltype: Some("Domain".into()),
        specifyipranges: Some(true),
        ispersistent: Some(false),
        restartrequired: Some(false),
        related: Some(x.id),
        domain: Some("ROOT".into()),
        domainid: Some(ROOT_DOMAIN),
        subdomainaccess: Some(true),
        created: Some(x.created.into()),
        tags: vec![],
    }
}

pub async fn list(ctx: &Ctx, p: &Params) -> Result<Reply> {
    // Only shared guest networks exist: other types and system networks list empty.
    let other_type = p
        .str("type")
        .is_some_and(|t| !(t.eq_ignore_ascii_case("shared") || t.eq_ignore_ascii_case("all")));
    let other_traffic = p
        .str("traffictype")
        .is_some_and(|t| !t.eq_ignore_ascii_case("guest"));
    if other_type
        || other_traffic
        || p.bool("issystem") == Some(true)
        || p.bool("isdefault") == Some(false)
        || p.bool("canusefordeploy") == Some(false)
    {
        return Ok(Reply::list::<NetworkResponse>("network", 0, &[]));
    }
    let f = list_filter(ctx, p)?;
    let (rows, total) = n::network_list(&ctx.pool, &f, p.uuid("zoneid")?).await?;
    let items: Vec<_> = rows.iter().map(response).collect();
    Ok(Reply::list("network", total, &items))
}
