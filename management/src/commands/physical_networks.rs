//! Physical networks, traffic types, service providers and the supported services list:
//! how an admin lays out an Advanced zone's networks (issue 15), in CloudStack's calls and
//! words. The guest VLAN range becomes `guest_vnets` rows here; the traffic labels are
//! what hosts build VLAN bridges on.

use std::collections::BTreeSet;

use stratus_api::envelope::Reply;
use stratus_api::error::{ApiError, ErrorCode};
use stratus_api::params::shown;
use stratus_api::types::{
    NetworkServiceItem, PhysicalNetworkResponse, ProviderResponse, ServiceCapabilityItem,
    ServiceProviderItem, TrafficTypeResponse,
};
use stratus_api::Params;
use uuid::Uuid;

use super::{created_id, list_filter, not_found, page_of, requests};
use crate::ctx::Ctx;
use crate::db::physical_networks::{self as db, PhysicalNetworkRow, TrafficTypeRow};
use crate::db::topology::zone_fetch;
use crate::error::Result;
use crate::ids::PhysicalNetworkId;
use crate::rules::physical_networks::{
    broadcast_range, valid_label, Isolation, PhysicalNetworkState, Provider, ProviderState,
    Service, TrafficType, VnetRanges,
};
use crate::rules::states::AllocationState;

fn response(p: &PhysicalNetworkRow) -> PhysicalNetworkResponse {
    PhysicalNetworkResponse {
        id: Some(p.id.into()),
        name: Some(p.name.clone()),
        broadcastdomainrange: Some(p.broadcast_domain_range.clone()),
        zoneid: Some(p.zone_id.into()),
        zonename: Some(p.zone_name.clone()),
        state: Some(p.state.to_string()),
        vlan: (!p.vlan.is_empty()).then(|| p.vlan.clone()),
        domainid: p.domain_id.map(Into::into),
        tags: p.tags.clone(),
        isolationmethods: p.isolation_method.clone(),
        networkspeed: p.network_speed.clone(),
    }
}

/// A physical network's isolation method (VLAN when none was named, as CloudStack).
pub fn isolation_of(p: &PhysicalNetworkRow) -> Isolation {
    p.isolation_method
        .as_deref()
        .and_then(Isolation::parse)
        .unwrap_or(Isolation::Vlan)
}

fn ids_of(r: &VnetRanges) -> Vec<i32> {
    r.ids().into_iter().map(|v| v as i32).collect()
}

/// At most one value in a list parameter (`tags`, `isolationmethods`).
fn one_of<'a>(v: Option<&[&'a str]>, too_many: &str) -> Result<Option<&'a str>> {
    match v {
        None | Some([]) => Ok(None),
        Some([one]) => Ok(Some(one)),
        Some(_) => Err(ApiError::param(too_many).into()),
    }
}

async fn fetch(
    ctx: &Ctx,
    p: &Params,
    param: &str,
    id: PhysicalNetworkId,
) -> Result<PhysicalNetworkRow> {
    db::pn_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| not_found(p, param))
}

/// createPhysicalNetwork's synchronous half: checks and records it (Disabled, with its
/// providers and VLAN pool); the job answers it.
pub async fn create(ctx: &Ctx, r: &requests::CreatePhysicalNetwork<'_>) -> Result<Uuid> {
    let zone = zone_fetch(&ctx.pool, r.zoneid())
        .await?
        .ok_or_else(|| ApiError::param("Please specify a valid zone."))?;
    if zone.allocation_state == AllocationState::Enabled {
        return Err(ApiError::new(
            ErrorCode::Account,
            format!(
                "Cannot create PhysicalNetwork since the Zone is currently enabled, zone Id: {}",
                zone.id
            ),
        )
        .into());
    }
    let advanced = zone.network_type == "Advanced";
    let tags = one_of(
        r.tags(),
        "Only one tag can be specified for a physical network at this time",
    )?;
    let method = one_of(
        r.isolationmethods(),
        "Only one isolationMethod can be specified for a physical network at this time",
    )?;
    let method = match method {
        None => None,
        Some(m) => Some(Isolation::parse(m).ok_or_else(|| {
            ApiError::param(format!(
                "Isolation method {} is not supported: Stratus isolates guest networks with VLAN or VXLAN",
                shown(m)
            ))
        })?),
    };
    let range = broadcast_range(r.broadcastdomainrange(), advanced).map_err(ApiError::param)?;
    let vlan = match r.vlan() {
        None => VnetRanges::default(),
        Some(_) if !advanced => {
            return Err(ApiError::param(
                "Can't add vnet range to the physical network in the Basic zone",
            )
            .into())
        }
        Some(v) => VnetRanges::parse(v, method.unwrap_or(Isolation::Vlan).max_id())
            .map_err(ApiError::param)?,
    };
    let domain = match r.domainid() {
        None => None,
        Some(d) => Some(
            crate::db::accounts::domain_fetch(&ctx.pool, d)
                .await?
                .ok_or_else(|| not_found(r.wire(), "domainid"))?
                .id,
        ),
    };
    let mut tx = ctx.pool.begin().await?;
    // The zone's row lock: two creates in a Basic zone cannot both see none.
    crate::db::topology::zone_fetch_for_update(&mut *tx, zone.id).await?;
    if !advanced && db::pn_count_in_zone(&mut *tx, zone.id).await? > 0 {
        return Err(ApiError::param(format!(
            "Cannot add the physical network to basic zone id: {}, there is a physical network already existing in this basic Zone",
            zone.id
        ))
        .into());
    }
    let id = PhysicalNetworkId::new_v4();
    let vlan_text = vlan.to_string();
    db::pn_insert(
        &mut *tx,
        &db::NewPhysicalNetwork {
            id,
            zone_id: zone.id,
            name: r.name(),
            vlan: &vlan_text,
            isolation_method: method.map(Isolation::as_str),
            tags,
            network_speed: r.networkspeed(),
            broadcast_domain_range: range,
            domain_id: domain,
        },
    )
    .await?;
    for (p, state) in Provider::ADDED {
        db::nsp_insert(&mut *tx, id, p, state).await?;
    }
    db::vnets_add(&mut *tx, id, &ids_of(&vlan)).await?;
    tx.commit().await?;
    Ok(id.into_uuid())
}

pub async fn create_job(ctx: &Ctx, r: &requests::CreatePhysicalNetwork<'_>) -> Result<Reply> {
    for n in [
        "zoneid",
        "name",
        "vlan",
        "networkspeed",
        "domainid",
        "broadcastdomainrange",
        "tags",
        "isolationmethods",
    ] {
        r.wire().mark_read(n);
    }
    let id = created_id(r.wire())?;
    let p = fetch(ctx, r.wire(), "id", id.into()).await?;
    Ok(Reply::object("physicalnetwork", &response(&p)))
}

pub async fn list(ctx: &Ctx, r: &requests::ListPhysicalNetworks<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let (rows, total) = db::pn_list(&ctx.pool, &f, r.zoneid()).await?;
    let items: Vec<_> = rows.iter().map(response).collect();
    Ok(Reply::list("physicalnetwork", total, items))
}

pub async fn update(ctx: &Ctx, r: &requests::UpdatePhysicalNetwork<'_>) -> Result<Reply> {
    let state = match r.state() {
        None => None,
        Some(s) => Some(PhysicalNetworkState::parse(s).ok_or_else(|| {
            ApiError::param(format!(
                "Unable to resolve state '{}' to a supported value {{Enabled or Disabled}}",
                shown(s)
            ))
        })?),
    };
    let tags = one_of(
        r.tags(),
        "Unable to support more than one tag on network yet",
    )?;
    let mut tx = ctx.pool.begin().await?;
    if !db::pn_lock(&mut *tx, r.id()).await? {
        return Err(ApiError::param(
            "Physical Network with specified id doesn't exist in the system",
        )
        .into());
    }
    let mut p = fetch(ctx, r.wire(), "id", r.id()).await?;
    if let Some(v) = r.vlan() {
        let zone = zone_fetch(&mut *tx, p.zone_id).await?;
        if zone.is_some_and(|z| z.network_type != "Advanced") {
            return Err(ApiError::param(
                "Can't add vnet range to the physical network in the Basic zone",
            )
            .into());
        }
        let max = isolation_of(&p).max_id();
        let new = VnetRanges::parse(v, max).map_err(ApiError::param)?;
        let old = VnetRanges::parse(&p.vlan, max).unwrap_or_default();
        let (new_ids, old_ids) = (new.ids(), old.ids());
        let removed: Vec<i32> = old_ids.difference(&new_ids).map(|&v| v as i32).collect();
        let taken = db::vnets_taken_among(&mut *tx, p.id, &removed).await?;
        if !taken.is_empty() {
            let set: BTreeSet<u32> = taken.iter().map(|&v| v as u32).collect();
            let ranges = VnetRanges::from_ids(&set);
            return Err(ApiError::in_use(format!(
                "physicalnetwork {} has allocated vnets in the range {ranges}",
                p.id
            ))
            .into());
        }
        db::vnets_remove(&mut *tx, p.id, &removed).await?;
        db::vnets_add(&mut *tx, p.id, &ids_of(&new)).await?;
        p.vlan = new.to_string();
    }
    if let Some(s) = state {
        p.state = s;
    }
    if let Some(t) = tags {
        p.tags = Some(t.to_string());
    }
    if let Some(s) = r.networkspeed() {
        p.network_speed = Some(s.to_string());
    }
    db::pn_update(&mut *tx, &p).await?;
    tx.commit().await?;
    Ok(Reply::object("physicalnetwork", &response(&p)))
}

pub async fn delete(ctx: &Ctx, r: &requests::DeletePhysicalNetwork<'_>) -> Result<Reply> {
    let mut tx = ctx.pool.begin().await?;
    if !db::pn_lock(&mut *tx, r.id()).await? {
        return Err(not_found(r.wire(), "id"));
    }
    let taken = db::vnets_taken_count(&mut *tx, r.id()).await?;
    if taken > 0 {
        return Err(ApiError::in_use(format!(
            "Unable to remove the physical network id={}: {taken} guest network(s) hold VLANs of it; delete them first",
            r.id()
        ))
        .into());
    }
    db::pn_delete(&mut *tx, r.id()).await?;
    tx.commit().await?;
    Ok(Reply::success())
}

// --- traffic types ---

fn traffic_response(t: &TrafficTypeRow) -> TrafficTypeResponse {
    TrafficTypeResponse {
        id: Some(t.id),
        traffictype: Some(t.traffic_type.to_string()),
        physicalnetworkid: Some(t.physical_network_id.into()),
        kvmnetworklabel: t.kvm_label.clone(),
        xennetworklabel: t.xen_label.clone(),
        vmwarenetworklabel: t.vmware_label.clone(),
        vlan: t.vlan.clone(),
        isolationmethods: t.isolation_method.clone(),
    }
}

fn label(v: Option<&str>) -> Result<Option<String>> {
    match v {
        None => Ok(None),
        Some(l) => {
            valid_label(l).map_err(ApiError::param)?;
            Ok(Some(l.to_string()))
        }
    }
}

/// addTrafficType's synchronous half: checks and records it.
pub async fn add_traffic_type(ctx: &Ctx, r: &requests::AddTrafficType<'_>) -> Result<Uuid> {
    let t = TrafficType::parse(r.traffictype()).ok_or_else(|| {
        ApiError::param(format!(
            "Unable to resolve trafficType '{}' to a supported value",
            shown(r.traffictype())
        ))
    })?;
    let method = match r.isolationmethod() {
        None => None,
        Some(m) if m.eq_ignore_ascii_case("vlan") => Some("vlan".to_string()),
        Some(m) => {
            return Err(ApiError::param(format!(
                "Isolation method {} is not supported: Stratus isolates traffic with VLANs (vlan)",
                shown(m)
            ))
            .into())
        }
    };
    let kvm_label = label(r.kvmnetworklabel())?;
    let mut tx = ctx.pool.begin().await?;
    let missing = || {
        ApiError::param(format!(
            "Physical Network id={}doesn't exist in the system",
            r.physicalnetworkid()
        ))
    };
    if !db::pn_lock(&mut *tx, r.physicalnetworkid()).await? {
        return Err(missing().into());
    }
    let pn = db::pn_fetch(&mut *tx, r.physicalnetworkid())
        .await?
        .ok_or_else(missing)?;
    if db::tt_of_network(&mut *tx, pn.id)
        .await?
        .iter()
        .any(|x| x.traffic_type == t)
    {
        return Err(ApiError::param(format!(
            "This physical network already supports the traffic type: {t}"
        ))
        .into());
    }
    if db::tt_in_zone(&mut *tx, pn.zone_id, t).await?.is_some() {
        return Err(ApiError::param(format!(
            "Fail to add the traffic type to physical network because Zone already has a physical network with this traffic type: {t}"
        ))
        .into());
    }
    let row = TrafficTypeRow {
        id: Uuid::new_v4(),
        physical_network_id: pn.id,
        zone_id: pn.zone_id,
        traffic_type: t,
        kvm_label,
        xen_label: r.xennetworklabel().map(str::to_string),
        vmware_label: r.vmwarenetworklabel().map(str::to_string),
        vlan: r.vlan().map(str::to_string),
        isolation_method: method,
        created: chrono::Utc::now(),
    };
    // The unique indexes stay the last word if another server's add raced this one.
    db::tt_insert(&mut *tx, &row).await?;
    tx.commit().await?;
    Ok(row.id)
}

pub async fn add_traffic_type_job(ctx: &Ctx, r: &requests::AddTrafficType<'_>) -> Result<Reply> {
    for n in [
        "physicalnetworkid",
        "traffictype",
        "kvmnetworklabel",
        "xennetworklabel",
        "vmwarenetworklabel",
        "vlan",
        "isolationmethod",
    ] {
        r.wire().mark_read(n);
    }
    let id = created_id(r.wire())?;
    let t = db::tt_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    Ok(Reply::object("traffictype", &traffic_response(&t)))
}

pub async fn list_traffic_types(ctx: &Ctx, r: &requests::ListTrafficTypes<'_>) -> Result<Reply> {
    let pn = fetch(ctx, r.wire(), "physicalnetworkid", r.physicalnetworkid()).await?;
    let keyword = r.keyword().map(str::to_ascii_lowercase);
    let items: Vec<_> = db::tt_of_network(&ctx.pool, pn.id)
        .await?
        .iter()
        .filter(|t| {
            keyword
                .as_deref()
                .is_none_or(|k| t.traffic_type.as_str().to_ascii_lowercase().contains(k))
        })
        .map(traffic_response)
        .collect();
    let (total, items) = page_of(ctx, r.wire(), items)?;
    Ok(Reply::list("traffictype", total, items))
}

pub async fn update_traffic_type(ctx: &Ctx, r: &requests::UpdateTrafficType<'_>) -> Result<Reply> {
    let mut t = db::tt_fetch(&ctx.pool, r.id())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    if let Some(l) = label(r.kvmnetworklabel())? {
        t.kvm_label = Some(l);
    }
    if let Some(l) = r.xennetworklabel() {
        t.xen_label = Some(l.to_string());
    }
    if let Some(l) = r.vmwarenetworklabel() {
        t.vmware_label = Some(l.to_string());
    }
    db::tt_update(&ctx.pool, &t).await?;
    Ok(Reply::object("traffictype", &traffic_response(&t)))
}

pub async fn delete_traffic_type(ctx: &Ctx, r: &requests::DeleteTrafficType<'_>) -> Result<Reply> {
    let t = db::tt_fetch(&ctx.pool, r.id())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    let mut tx = ctx.pool.begin().await?;
    db::pn_lock(&mut *tx, t.physical_network_id).await?;
    if matches!(t.traffic_type, TrafficType::Guest | TrafficType::Public)
        && db::vnets_taken_count(&mut *tx, t.physical_network_id).await? > 0
    {
        return Err(ApiError::in_use(format!(
            "The {} traffic type is in use: guest networks of the physical network are implemented on it",
            t.traffic_type
        ))
        .into());
    }
    db::tt_delete(&mut *tx, t.id).await?;
    tx.commit().await?;
    Ok(Reply::success())
}

// --- providers and services ---

fn provider_response(p: &db::ProviderRow) -> ProviderResponse {
    ProviderResponse {
        name: Some(p.name.to_string()),
        physicalnetworkid: Some(p.physical_network_id.into()),
        destinationphysicalnetworkid: None,
        state: Some(p.state.to_string()),
        id: Some(p.id),
        servicelist: p
            .name
            .services()
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        canenableindividualservice: Some(false),
    }
}

pub async fn list_providers(
    ctx: &Ctx,
    r: &requests::ListNetworkServiceProviders<'_>,
) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let (rows, total) = db::nsp_list(&ctx.pool, &f, r.physicalnetworkid(), r.state()).await?;
    let items: Vec<_> = rows.iter().map(provider_response).collect();
    Ok(Reply::list("networkserviceprovider", total, items))
}

pub async fn update_provider(
    ctx: &Ctx,
    r: &requests::UpdateNetworkServiceProvider<'_>,
) -> Result<Reply> {
    let f = crate::db::ListFilter {
        id: Some(r.id()),
        ..Default::default()
    };
    let (rows, _) = db::nsp_list(&ctx.pool, &f, None, None).await?;
    let mut p = rows
        .into_iter()
        .next()
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    if let Some(s) = r.state() {
        let state = ProviderState::parse(s).ok_or_else(|| {
            ApiError::param(format!(
                "Unable to resolve state '{}' to a supported value {{Enabled or Disabled}}",
                shown(s)
            ))
        })?;
        if state == ProviderState::Enabled && !p.name.implemented() {
            return Err(ApiError::param(format!(
                "Provider {} is not available in Stratus: it cannot be enabled",
                p.name
            ))
            .into());
        }
        db::nsp_set_state(&ctx.pool, p.id, state).await?;
        p.state = state;
    }
    Ok(Reply::object(
        "networkserviceprovider",
        &provider_response(&p),
    ))
}

/// A service as listSupportedNetworkServices (and offerings' `service`) show it.
pub fn service_item(s: Service, providers: &[Provider]) -> NetworkServiceItem {
    NetworkServiceItem {
        name: Some(s.as_str().to_string()),
        provider: providers
            .iter()
            .map(|p| ServiceProviderItem {
                name: Some(p.as_str().to_string()),
            })
            .collect(),
        capability: s
            .capabilities()
            .iter()
            .map(|(name, choose)| ServiceCapabilityItem {
                name: Some((*name).to_string()),
                value: None,
                canchooseservicecapability: Some(*choose),
            })
            .collect(),
    }
}

pub async fn list_supported_services(
    ctx: &Ctx,
    r: &requests::ListSupportedNetworkServices<'_>,
) -> Result<Reply> {
    let provider = match r.provider() {
        None => None,
        Some(p) => Some(Provider::parse(p).ok_or_else(|| {
            ApiError::param(format!("Invalid Network Service Provider={}", shown(p)))
        })?),
    };
    let service = match r.service() {
        None => None,
        Some(s) => Some(
            Service::parse(s)
                .ok_or_else(|| ApiError::param(format!("Invalid Network Service={}", shown(s))))?,
        ),
    };
    let keyword = r.keyword().map(str::to_ascii_lowercase);
    let items: Vec<_> = Service::ALL
        .into_iter()
        .filter(|s| service.is_none_or(|w| w == *s))
        .filter(|s| provider.is_none_or(|p| s.providers().contains(&p)))
        .filter(|s| {
            keyword
                .as_deref()
                .is_none_or(|k| s.as_str().to_ascii_lowercase().contains(k))
        })
        .map(|s| service_item(s, s.providers()))
        .collect();
    let (total, items) = page_of(ctx, r.wire(), items)?;
    Ok(Reply::list("networkservice", total, items))
}
