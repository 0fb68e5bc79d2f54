//! Guest networks: a Basic zone's shared guest network (created with the zone).

use super::requests;
use crate::ids::{NetworkId, ZoneId};
use stratus_api::envelope::Reply;
use stratus_api::types::{
    NetworkOfferingResponse, NetworkResponse, NetworkServiceItem, ServiceProviderItem,
};
use uuid::Uuid;

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

/// The one network offering: what every Basic zone's guest network is (CloudStack's
/// `DefaultSharedNetworkOffering` as Stratus runs it: a shared, untagged guest network
/// whose only service is DHCP, served by the hosts' dnsmasq with static leases; no DNS,
/// no security groups, no user data service yet). A fixed id, so it is the same on every
/// management server and across restarts.
pub const SHARED_OFFERING_ID: Uuid = Uuid::from_u128(0x5c0e6e1d_5a4e_4d0a_9b1e_000000000001);
const SHARED_OFFERING_NAME: &str = "DefaultSharedNetworkOffering";
const SHARED_OFFERING_TEXT: &str = "Offering for Shared networks";
const SHARED_OFFERING_SERVICES: &[&str] = &["Dhcp"];

fn offering() -> NetworkOfferingResponse {
    NetworkOfferingResponse {
        hasannotations: Some(false),
        id: Some(SHARED_OFFERING_ID),
        name: Some(SHARED_OFFERING_NAME.into()),
        displaytext: Some(SHARED_OFFERING_TEXT.into()),
        traffictype: Some("Guest".into()),
        isdefault: Some(true),
        specifyvlan: Some(false),
        conservemode: Some(true),
        specifyipranges: Some(true),
        availability: Some("Optional".into()),
        state: Some("Enabled".into()),
        guestiptype: Some("Shared".into()),
        forvpc: Some(false),
        ispersistent: Some(false),
        egressdefaultpolicy: Some(true),
        supportsstrechedl2subnet: Some(false),
        supportspublicaccess: Some(false),
        internetprotocol: Some("IPv4".into()),
        service: SHARED_OFFERING_SERVICES
            .iter()
            .map(|s| NetworkServiceItem {
                name: Some((*s).into()),
                provider: vec![ServiceProviderItem {
                    name: Some("DhcpServer".into()),
                }],
                capability: vec![],
            })
            .collect(),
        zoneid: None,
        zone: None,
        created: None,
    }
}

/// listNetworkOfferings: the one offering, if it passes every filter given.
pub async fn list_offerings(ctx: &Ctx, r: &requests::ListNetworkOfferings<'_>) -> Result<Reply> {
    let o = offering();
    let text_is = |name: &str, want: &Option<String>| {
        r.wire()
            .str(name)
            .is_none_or(|v| want.as_deref().is_some_and(|w| w.eq_ignore_ascii_case(v)))
    };
    let bool_is =
        |name: &str, want: Option<bool>| r.wire().bool(name).is_none_or(|v| Some(v) == want);
    let keyword = r.keyword().is_none_or(|k| {
        let k = k.to_ascii_lowercase();
        SHARED_OFFERING_NAME.to_ascii_lowercase().contains(&k)
            || SHARED_OFFERING_TEXT.to_ascii_lowercase().contains(&k)
    });
    let services = match r.supportedservices() {
        None => true,
        Some(v) => v.iter().all(|s| {
            SHARED_OFFERING_SERVICES
                .iter()
                .any(|o| o.eq_ignore_ascii_case(s))
        }),
    };
    // Every zone's guest network uses it; `networkid` and `zoneid` only need to name
    // something real, and a network that does not exist lists nothing.
    let network_ok = match r.networkid() {
        None => true,
        Some(id) => {
            let f = crate::db::ListFilter {
                id: Some(id.into_uuid()),
                ..Default::default()
            };
            n::network_list(&ctx.pool, &f, None, &Default::default())
                .await?
                .1
                > 0
        }
    };
    let zone_ok = match r.zoneid() {
        None => true,
        Some(z) => crate::db::topology::zone_fetch(&ctx.pool, z)
            .await?
            .is_some_and(|z| z.network_type == "Basic"),
    };
    // Every filter is evaluated (and so read), then combined.
    let checks = [
        r.id().is_none_or(|id| id == SHARED_OFFERING_ID),
        text_is("name", &o.name),
        text_is("displaytext", &o.displaytext),
        text_is("traffictype", &o.traffictype),
        text_is("availability", &o.availability),
        text_is("state", &o.state),
        text_is("guestiptype", &o.guestiptype),
        bool_is("isdefault", o.isdefault),
        bool_is("specifyvlan", o.specifyvlan),
        bool_is("sourcenatsupported", Some(false)),
        bool_is("specifyipranges", o.specifyipranges),
        bool_is("forvpc", o.forvpc),
        // The offering has no tags.
        r.tags().is_none(),
        keyword,
        services,
        network_ok,
        zone_ok,
    ];
    let matches = checks.iter().all(|c| *c);
    let items = if matches { vec![o] } else { vec![] };
    let (total, items) = super::page_of(ctx, r.wire(), items)?;
    Ok(Reply::list("networkoffering", total, &items))
}

fn response(x: &NetworkRow) -> NetworkResponse {
    let cidr = match (x.gateway, x.netmask) {
        (Some(g), Some(m)) => ipnetwork::IpNetwork::with_netmask(g.ip(), m.ip())
            .ok()
            .and_then(|c| ipnetwork::IpNetwork::new(c.network(), c.prefix()).ok())
            .map(|c| c.to_string()),
        _ => None,
    };
    let o = offering();
    NetworkResponse {
        networkofferingavailability: o.availability,
        specifyvlan: o.specifyvlan,
        service: o.service,
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
        networkofferingid: Some(SHARED_OFFERING_ID),
        networkofferingname: Some(SHARED_OFFERING_NAME.into()),
        networkofferingdisplaytext: Some(SHARED_OFFERING_TEXT.into()),
        acltype: Some("Domain".into()),
        specifyipranges: Some(true),
        ispersistent: Some(false),
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
    let items: Vec<_> = rows
        .iter()
        .map(|r| NetworkResponse {
            tags: tags.remove(&r.id.into_uuid()).unwrap_or_default(),
            ..response(r)
        })
        .collect();
    Ok(Reply::list("network", total, &items))
}
