//! Network offerings (issue 15): listNetworkOfferings from the table, and the admin's
//! create/update/delete, with CloudStack's rules and texts.

use std::collections::BTreeMap;

use stratus_api::envelope::Reply;
use stratus_api::error::ApiError;
use stratus_api::params::shown;
use stratus_api::types::{NetworkOfferingResponse, NetworkServiceItem, ServiceCapabilityItem};
use uuid::Uuid;

use super::{list_filter, requests};
use crate::ctx::Ctx;
use crate::db::network_offerings::{self as db, OfferingFilter, OfferingRow};
use crate::error::Result;
use crate::ids::NetworkOfferingId;
use crate::rules::network_offerings::{self as rules, Availability, GuestType, OfferingState};
use crate::rules::physical_networks::{offering_capabilities, Service};

/// The id libcloud and others read as `serviceofferingid`: CloudStack always names the
/// router's system offering. A Stratus router is a namespace on a host, with no offering;
/// the field carries this fixed id so clients that index it find one.
pub const ROUTER_OFFERING_ID: Uuid = Uuid::from_u128(0x5c0e6e1d_5a4e_4d0a_9b1e_0000000000f0);

/// The offering a Basic zone's guest network is made from.
pub const SHARED_OFFERING_ID: NetworkOfferingId =
    NetworkOfferingId::from_uuid(Uuid::from_u128(0x5c0e6e1d_5a4e_4d0a_9b1e_000000000001));

/// `service[]` of an offering (and of its networks).
pub fn services(o: &OfferingRow) -> Vec<NetworkServiceItem> {
    o.services
        .iter()
        .map(|pair| {
            let (service, provider) = pair.split_once(':').unwrap_or((pair, ""));
            let caps = Service::parse(service)
                .map(offering_capabilities)
                .unwrap_or_default();
            NetworkServiceItem {
                name: Some(service.to_string()),
                provider: vec![stratus_api::types::ServiceProviderItem {
                    name: Some(provider.to_string()),
                }],
                capability: caps
                    .iter()
                    .map(|(n, v)| ServiceCapabilityItem {
                        name: Some((*n).to_string()),
                        value: Some((*v).to_string()),
                        canchooseservicecapability: Some(false),
                    })
                    .collect(),
            }
        })
        .collect()
}

pub fn has_service(o: &OfferingRow, s: Service) -> bool {
    o.services
        .iter()
        .any(|p| p.split_once(':').is_some_and(|(x, _)| x == s.as_str()))
}

pub fn response(o: &OfferingRow) -> NetworkOfferingResponse {
    NetworkOfferingResponse {
        hasannotations: Some(false),
        id: Some(o.id.into()),
        name: Some(o.name.clone()),
        displaytext: Some(o.display_text.clone()),
        traffictype: Some(o.traffic_type.clone()),
        isdefault: Some(o.is_default),
        specifyvlan: Some(o.specify_vlan),
        conservemode: Some(o.conserve_mode),
        specifyipranges: Some(o.specify_ip_ranges),
        availability: Some(o.availability.to_string()),
        state: Some(o.state.to_string()),
        guestiptype: Some(o.guest_type.to_string()),
        forvpc: Some(false),
        ispersistent: Some(o.is_persistent),
        egressdefaultpolicy: Some(o.egress_default_allow),
        supportsstrechedl2subnet: Some(false),
        supportspublicaccess: Some(false),
        supportsinternallb: Some(false),
        internetprotocol: Some("IPv4".into()),
        service: services(o),
        zoneid: None,
        zone: None,
        created: Some(o.created.into()),
        serviceofferingid: Some(ROUTER_OFFERING_ID),
        tags: o.tags.clone(),
        networkrate: o.network_rate,
        maxconnections: o.max_connections,
    }
}

pub async fn fetch(ctx: &Ctx, id: NetworkOfferingId) -> Result<Option<OfferingRow>> {
    db::offering_fetch(&ctx.pool, id).await
}

/// Removed ones too: a network keeps naming the offering it was made from.
pub async fn fetch_any(ctx: &Ctx, id: NetworkOfferingId) -> Result<Option<OfferingRow>> {
    db::offering_fetch_any(&ctx.pool, id).await
}

pub async fn list(ctx: &Ctx, r: &requests::ListNetworkOfferings<'_>) -> Result<Reply> {
    let none = || {
        Ok(Reply::list(
            "networkoffering",
            0,
            Vec::<NetworkOfferingResponse>::new(),
        ))
    };
    let wanted: Vec<Option<Service>> = r
        .supportedservices()
        .unwrap_or_default()
        .iter()
        .map(|s| Service::parse(s))
        .collect();
    let services: Vec<String> = wanted
        .iter()
        .flatten()
        .map(|s| s.as_str().to_string())
        .collect();
    let mut f = OfferingFilter {
        common: list_filter(ctx, r.wire())?,
        display_text: r.displaytext().map(str::to_string),
        guest_type: r.guestiptype().map(str::to_string),
        availability: r.availability().map(str::to_string),
        state: r.state().map(str::to_string),
        is_default: r.isdefault(),
        specify_vlan: r.specifyvlan(),
        specify_ip_ranges: r.specifyipranges(),
        tags: r.tags().map(str::to_string),
        services: (!services.is_empty()).then_some(services),
        source_nat: r.sourcenatsupported(),
    };
    let other_traffic = r
        .traffictype()
        .is_some_and(|t| !t.eq_ignore_ascii_case("guest"));
    let (zone, network, forvpc) = (r.zoneid(), r.networkid(), r.forvpc());
    // Only guest offerings exist, none for VPCs; a service Stratus has no offering for
    // is offered by none.
    if other_traffic || forvpc == Some(true) || wanted.iter().any(Option::is_none) {
        return none();
    }
    // A zone lists what can be used there: a Basic zone's shared offering, an Advanced
    // zone's isolated ones (CloudStack hides offerings whose services the zone lacks).
    if let Some(z) = zone {
        let zone = crate::db::topology::zone_fetch(&ctx.pool, z)
            .await?
            .ok_or_else(|| ApiError::param(format!("Unable to find the zone by id={z}")))?;
        let want = if zone.network_type == "Basic" {
            "Shared"
        } else {
            "Isolated"
        };
        if f.guest_type
            .as_deref()
            .is_some_and(|g| !g.eq_ignore_ascii_case(want))
        {
            return none();
        }
        f.guest_type = Some(want.into());
    }
    // The offerings a network could change to: those of its guest type (an unknown
    // network: none).
    if let Some(n) = network {
        let nf = crate::db::ListFilter {
            id: Some(n.into_uuid()),
            ..Default::default()
        };
        let (nets, _) =
            crate::db::networks::network_list(&ctx.pool, &nf, None, &Default::default()).await?;
        let Some(net) = nets.first() else {
            return none();
        };
        if f.guest_type
            .as_deref()
            .is_some_and(|g| !g.eq_ignore_ascii_case(&net.guest_type))
        {
            return none();
        }
        f.guest_type = Some(net.guest_type.clone());
    }
    let (rows, total) = db::offering_list(&ctx.pool, &f).await?;
    let items: Vec<_> = rows.iter().map(response).collect();
    Ok(Reply::list("networkoffering", total, items))
}

fn parse_availability(s: &str) -> Result<Availability> {
    Availability::parse(s).ok_or_else(|| {
        ApiError::param("Invalid value for Availability. Supported types: Required, Optional")
            .into()
    })
}

fn non_negative(v: Option<i64>, name: &str) -> Result<Option<i32>> {
    match v {
        None => Ok(None),
        Some(n) if (0..=i64::from(i32::MAX)).contains(&n) => Ok(Some(n as i32)),
        Some(_) => {
            Err(ApiError::param(format!("{name} must be between 0 and {}", i32::MAX)).into())
        }
    }
}

pub async fn create(ctx: &Ctx, r: &requests::CreateNetworkOffering<'_>) -> Result<Reply> {
    let traffic = r.traffictype();
    if !traffic.eq_ignore_ascii_case("guest") {
        let known = ["public", "management", "control", "vlan", "storage"];
        return Err(ApiError::param(if known.iter().any(|k| k.eq_ignore_ascii_case(traffic)) {
            "Only traffic type Guest is supported in the current release".to_string()
        } else {
            "Invalid value for traffictype. Supported traffic types: Public, Management, Control, Guest, Vlan or Storage".to_string()
        })
        .into());
    }
    let guest_type = GuestType::parse(r.guestiptype()).ok_or_else(|| {
        ApiError::param("Invalid \"type\" parameter is given; can have Shared and Isolated values")
    })?;
    let availability = match r.availability() {
        None => Availability::Optional,
        Some(a) => parse_availability(a)?,
    };
    let supported: Vec<&str> = r.supportedservices().unwrap_or_default().to_vec();
    let mut pairs = Vec::new();
    for e in r.serviceproviderlist() {
        match (e.get("service"), e.get("provider")) {
            (Some(s), Some(p)) => pairs.push((s.as_str(), p.as_str())),
            _ => {
                return Err(ApiError::param(
                    "serviceproviderlist entries need both service and provider",
                )
                .into())
            }
        }
    }
    let map = rules::services(&supported, &pairs).map_err(ApiError::param)?;
    let specify_vlan = r.specifyvlan().unwrap_or(false);
    let specify_ip_ranges = r.specifyipranges().unwrap_or(false);
    let is_persistent = r.ispersistent().unwrap_or(false);
    rules::check(&rules::NewOffering {
        guest_type,
        availability,
        services: &map,
        specify_vlan,
        specify_ip_ranges,
        is_persistent,
    })
    .map_err(ApiError::param)?;
    let o = OfferingRow {
        id: NetworkOfferingId::new_v4(),
        name: r.name().to_string(),
        display_text: r.displaytext().to_string(),
        traffic_type: "Guest".into(),
        guest_type,
        availability,
        state: if r.enable() == Some(true) {
            OfferingState::Enabled
        } else {
            OfferingState::Disabled
        },
        is_default: false,
        specify_vlan,
        specify_ip_ranges,
        conserve_mode: r.conservemode().unwrap_or(true),
        is_persistent,
        egress_default_allow: r.egressdefaultpolicy().unwrap_or(true),
        network_rate: non_negative(r.networkrate(), "networkrate")?,
        tags: r.tags().map(str::to_string),
        max_connections: non_negative(r.maxconnections(), "maxconnections")?,
        keepalive: r.keepaliveenabled().unwrap_or(false),
        sort_key: 0,
        created: chrono::Utc::now(),
        services: pairs_of(&map),
    };
    let mut tx = ctx.pool.begin().await?;
    if availability == Availability::Required {
        if let Some(other) = db::offering_required(&mut *tx).await? {
            return Err(required_taken(&other).into());
        }
    }
    db::offering_insert(&mut tx, &o).await?;
    tx.commit().await?;
    let o = fetch(ctx, o.id)
        .await?
        .ok_or_else(|| ApiError::internal("the offering vanished"))?;
    Ok(Reply::object("networkoffering", &response(&o)))
}

fn pairs_of(map: &BTreeMap<Service, crate::rules::physical_networks::Provider>) -> Vec<String> {
    map.iter()
        .map(|(s, p)| format!("{}:{}", s.as_str(), p.as_str()))
        .collect()
}

fn required_taken(other: &OfferingRow) -> ApiError {
    ApiError::param(format!(
        "System already has network offering id={} with availability Required",
        other.id
    ))
}

pub async fn update(ctx: &Ctx, r: &requests::UpdateNetworkOffering<'_>) -> Result<Reply> {
    let Some(id) = r.id() else {
        return Err(ApiError::param("unable to find network offering null").into());
    };
    let missing = || ApiError::param(format!("unable to find network offering {id}"));
    let mut tx = ctx.pool.begin().await?;
    let mut o = db::offering_fetch(&mut *tx, id)
        .await?
        .ok_or_else(missing)?;
    if let Some(n) = r.name() {
        o.name = n.to_string();
    }
    if let Some(t) = r.displaytext() {
        o.display_text = t.to_string();
    }
    if let Some(s) = r.state() {
        o.state = OfferingState::parse(s)
            .ok_or_else(|| ApiError::param(format!("Incorrect state value: {}", shown(s))))?;
    }
    if let Some(a) = r.availability() {
        let a = parse_availability(a)?;
        if a == Availability::Required && o.availability != Availability::Required {
            if !(o.guest_type == GuestType::Isolated && has_service(&o, Service::SourceNat)) {
                return Err(ApiError::param("Availability can be Required only for networkOfferings of type Isolated and with SourceNat enabled").into());
            }
            if let Some(other) = db::offering_required(&mut *tx).await? {
                return Err(required_taken(&other).into());
            }
        }
        o.availability = a;
    }
    if let Some(k) = r.sortkey() {
        o.sort_key = i32::try_from(k).map_err(|_| ApiError::param("sortkey is out of range"))?;
    }
    if let Some(t) = r.tags() {
        o.tags = (!t.is_empty()).then(|| t.to_string());
    }
    if let Some(k) = r.keepaliveenabled() {
        o.keepalive = k;
    }
    if let Some(m) = non_negative(r.maxconnections(), "maxconnections")? {
        o.max_connections = Some(m);
    }
    db::offering_update(&mut *tx, &o).await?;
    tx.commit().await?;
    Ok(Reply::object("networkoffering", &response(&o)))
}

pub async fn delete(ctx: &Ctx, r: &requests::DeleteNetworkOffering<'_>) -> Result<Reply> {
    let o = db::offering_fetch(&ctx.pool, r.id())
        .await?
        .ok_or_else(|| ApiError::param(format!("unable to find network offering {}", r.id())))?;
    if o.is_default {
        return Err(ApiError::param("Default network offering can't be deleted").into());
    }
    let used = db::offering_networks(&ctx.pool, o.id).await?;
    if used > 0 {
        return Err(ApiError::in_use(format!(
            "Can't delete network offering {} as its used by {used} networks. To make the network offering unavaiable, disable it",
            o.id
        ))
        .into());
    }
    db::offering_remove(&ctx.pool, o.id).await?;
    Ok(Reply::success())
}
