//! Zones, pods, VLAN/guest IP ranges and clusters: the admin's physical layout.

use super::requests;
use chrono::Utc;
use ipnetwork::IpNetwork;
use stratus_api::envelope::Reply;
use stratus_api::types::{
    ClusterResponse, IpRangeItem, PodResponse, VlanIpRangeResponse, ZoneResponse,
};
use stratus_api::{ApiError, Params};
use uuid::Uuid;

use super::vms::CapacityScope;
use super::{event, list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::topology::{self as t, ClusterRow, IpRangeRow, PodRow, ZoneRow};
use crate::error::Result;
use crate::ids::{ClusterId, IpRangeId, PodId, ZoneId};
use crate::rules::states::{AllocationState, ManagedState};
use crate::rules::{iprange, states};
use crate::services::auth::Caller;
use crate::settings::{self, Scope};

fn host(ip: &IpNetwork) -> String {
    ip.ip().to_string()
}

pub fn zone_response(z: &ZoneRow) -> ZoneResponse {
    ZoneResponse {
        id: Some(z.id.into()),
        name: Some(z.name.clone()),
        description: z.description.clone(),
        displaytext: z.description.clone(),
        dns1: Some(host(&z.dns1)),
        dns2: z.dns2.as_ref().map(host),
        ip6dns1: z.ip6dns1.as_ref().map(host),
        ip6dns2: z.ip6dns2.as_ref().map(host),
        internaldns1: Some(host(&z.internal_dns1)),
        internaldns2: z.internal_dns2.as_ref().map(host),
        guestcidraddress: z.guest_cidr.map(|c| c.to_string()),
        domain: z.network_domain.clone(),
        networktype: Some(z.network_type.clone()),
        securitygroupsenabled: Some(z.security_groups_enabled),
        allocationstate: Some(z.allocation_state.to_string()),
        zonetoken: Some(z.zone_token.to_string()),
        dhcpprovider: Some(z.dhcp_provider.clone()),
        localstorageenabled: Some(z.local_storage_enabled),
        // Zones take no tags in CloudStack (see `list_zones`).
        tags: vec![],
        hasannotations: Some(false),
        r#type: Some(if z.is_edge { "Edge" } else { "Core" }.into()),
        created: Some(z.created.into()),
        capacity: None,
    }
}

fn opt_dns(p: &Params, name: &str, v6: bool) -> Result<Option<IpNetwork>> {
    Ok(match p.str(name) {
        Some(v) => Some(iprange::parse_dns(name, v, v6)?),
        None => None,
    })
}

pub async fn create_zone(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateZone<'_>,
) -> Result<Reply> {
    let network_type = states::network_type(r.networktype())?;
    // A Basic zone always enforces security groups (CloudStack ignores `false` there).
    let wants_sg = r.securitygroupenabled() == Some(true);
    if network_type == "Advanced" && wants_sg {
        return Err(ApiError::unsupported(
            "Security groups in Advanced zones are not available: use a Basic zone",
        )
        .into());
    }
    let guest_cidr = match r.guestcidraddress() {
        Some(c) => Some(iprange::parse_cidr(c)?),
        None if network_type == "Advanced" => Some(iprange::parse_cidr("10.1.1.0/24")?),
        None => None,
    };
    let z = ZoneRow {
        id: ZoneId::new_v4(),
        name: r.name().trim().to_string(),
        // CloudStack's createZone takes no description (updateZone sets it).
        description: None,
        network_type: network_type.into(),
        dns1: iprange::parse_dns("dns1", r.dns1(), false)?,
        dns2: opt_dns(r.wire(), "dns2", false)?,
        ip6dns1: opt_dns(r.wire(), "ip6dns1", true)?,
        ip6dns2: opt_dns(r.wire(), "ip6dns2", true)?,
        internal_dns1: iprange::parse_dns("internaldns1", r.internaldns1(), false)?,
        internal_dns2: opt_dns(r.wire(), "internaldns2", false)?,
        guest_cidr,
        network_domain: r.domain().map(str::to_string),
        domain_id: r.domainid(),
        // Basic zones isolate guests with security groups, always (a CHECK holds it,
        // migration 0052); Advanced zones with security groups are not available, so
        // the catalog refuses `securitygroupenabled`.
        security_groups_enabled: network_type == "Basic",
        local_storage_enabled: r.localstorageenabled().unwrap_or(false),
        allocation_state: match r.allocationstate() {
            Some(s) => states::allocation_state(s)?,
            None => AllocationState::Disabled,
        },
        dhcp_provider: "DhcpServer".into(),
        zone_token: Uuid::new_v4(),
        is_edge: r.isedge().unwrap_or(false),
        created: Utc::now(),
    };
    if z.name.is_empty() {
        return Err(ApiError::param("The zone name must not be empty").into());
    }
    if let Some(d) = z.domain_id {
        if crate::db::accounts::domain_fetch(&ctx.pool, d)
            .await?
            .is_none()
        {
            return Err(not_found(r.wire(), "domainid"));
        }
    }
    let mut tx = ctx.pool.begin().await?;
    t::zone_insert(&mut *tx, &z).await?;
    if z.network_type == "Basic" {
        let net = super::networks::basic_zone_network(ctx, z.id);
        crate::db::networks::network_insert(&mut *tx, &net).await?;
    }
    event(
        &mut tx,
        &caller.user,
        "ZONE.CREATE",
        format!("Creating zone. Zone Name: {}", z.name),
        Some(EventResource::new(ResourceType::Zone, z.id, z.name.clone())),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("zone", &zone_response(&z)))
}

pub async fn list_zones(ctx: &Ctx, r: &requests::ListZones<'_>) -> Result<Reply> {
    // Every zone is available to every account (no dedicated zones): `available` does not
    // narrow the list.
    r.wire().mark_read("available");
    // CloudStack tags no zone (ResourceObjectType.Zone has no tag support: createTags
    // refuses it), so a zone carries no tags and a `tags` filter matches none, as there.
    if !super::tags::wanted(r.wire())?.keys.is_empty() {
        return Ok(Reply::list("zone", 0, Vec::<ZoneResponse>::new()));
    }
    let f = t::ZoneFilter {
        common: list_filter(ctx, r.wire())?,
        network_type: r.networktype().map(str::to_string),
        domain_id: r.domainid(),
    };
    let (rows, total) = t::zone_list(&ctx.pool, &f).await?;
    let mut items: Vec<ZoneResponse> = rows.iter().map(zone_response).collect();
    // With `showcapacities`, each zone carries what listCapacity answers for it (computed
    // once for the page: one query per kind, whatever the number of zones).
    if r.showcapacities() == Some(true) && !items.is_empty() {
        let zone = match rows.as_slice() {
            [one] => Some(one.id),
            _ => None,
        };
        let mut all = super::vms::zone_capacities(ctx, zone).await?;
        for z in &mut items {
            let (mine, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| c.zoneid == z.id);
            z.capacity = Some(mine);
            all = rest;
        }
    }
    Ok(Reply::list("zone", total, items))
}

pub async fn update_zone(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateZone<'_>,
) -> Result<Reply> {
    let id: ZoneId = r.id();
    let mut tx = ctx.pool.begin().await?;
    let mut z = t::zone_fetch_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    if let Some(v) = r.name() {
        z.name = v.trim().to_string();
    }
    if let Some(v) = r.description() {
        z.description = Some(v.to_string());
    }
    if let Some(v) = r.dns1() {
        z.dns1 = iprange::parse_dns("dns1", v, false)?;
    }
    if let Some(v) = opt_dns(r.wire(), "dns2", false)? {
        z.dns2 = Some(v);
    }
    if let Some(v) = opt_dns(r.wire(), "ip6dns1", true)? {
        z.ip6dns1 = Some(v);
    }
    if let Some(v) = opt_dns(r.wire(), "ip6dns2", true)? {
        z.ip6dns2 = Some(v);
    }
    if let Some(v) = r.internaldns1() {
        z.internal_dns1 = iprange::parse_dns("internaldns1", v, false)?;
    }
    if let Some(v) = opt_dns(r.wire(), "internaldns2", false)? {
        z.internal_dns2 = Some(v);
    }
    if let Some(v) = r.guestcidraddress() {
        z.guest_cidr = Some(iprange::parse_cidr(v)?);
    }
    if let Some(v) = r.allocationstate() {
        z.allocation_state = states::allocation_state(v)?;
    }
    // An empty `domain` clears the network domain, as CloudStack documents.
    if r.wire().iter().any(|(k, _)| k == "domain") {
        z.network_domain = r.domain().map(str::to_string);
    }
    if let Some(v) = r.localstorageenabled() {
        z.local_storage_enabled = v;
    }
    if let Some(v) = r.dhcpprovider() {
        z.dhcp_provider = v.to_string();
    }
    t::zone_update(&mut *tx, &z).await?;
    event(
        &mut tx,
        &caller.user,
        "ZONE.EDIT",
        format!("Updating zone. Zone Name: {}", z.name),
        Some(EventResource::new(ResourceType::Zone, z.id, z.name.clone())),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("zone", &zone_response(&z)))
}

pub async fn delete_zone(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteZone<'_>,
) -> Result<Reply> {
    let id: ZoneId = r.id();
    let mut tx = ctx.pool.begin().await?;
    let z = t::zone_fetch_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    let u = t::zone_usage(&mut *tx, id).await?;
    let mut uses = vec![];
    if u.pods > 0 {
        uses.push(format!("{} pod(s)", u.pods));
    }
    if u.clusters > 0 {
        uses.push(format!("{} cluster(s)", u.clusters));
    }
    if u.ip_ranges > 0 {
        uses.push(format!("{} guest IP range(s)", u.ip_ranges));
    }
    if !uses.is_empty() {
        return Err(ApiError::in_use(format!(
            "The zone {} cannot be deleted because there are {} in this zone; delete them first",
            z.name,
            uses.join(", ")
        ))
        .into());
    }
    t::zone_delete(&mut *tx, id).await?;
    event(
        &mut tx,
        &caller.user,
        "ZONE.DELETE",
        format!("Deleting zone. Zone Name: {}", z.name),
        Some(EventResource::new(ResourceType::Zone, z.id, z.name.clone())),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub fn pod_response(p: &PodRow, ranges: &[IpRangeRow]) -> PodResponse {
    let mine: Vec<&IpRangeRow> = ranges
        .iter()
        .filter(|r| r.pod_id == Some(p.id) && r.purpose == "management")
        .collect();
    PodResponse {
        id: Some(p.id.into()),
        name: Some(p.name.clone()),
        zoneid: Some(p.zone_id.into()),
        zonename: Some(p.zone_name.clone()),
        gateway: p.gateway.as_ref().map(host),
        netmask: p.netmask.as_ref().map(host),
        ipranges: mine
            .iter()
            .map(|r| IpRangeItem {
                startip: Some(host(&r.start_ip)),
                endip: Some(host(&r.end_ip)),
                gateway: Some(host(&r.gateway)),
                cidr: cidr_of(r),
                forsystemvms: Some(if r.for_system_vms { "1" } else { "0" }.into()),
                vlanid: Some(r.vlan.clone()),
            })
            .collect(),
        startip: mine.iter().map(|r| host(&r.start_ip)).collect(),
        endip: mine.iter().map(|r| host(&r.end_ip)).collect(),
        forsystemvms: mine
            .iter()
            .map(|r| if r.for_system_vms { "1" } else { "0" }.to_string())
            .collect(),
        vlanid: mine.iter().map(|r| r.vlan.clone()).collect(),
        allocationstate: Some(p.allocation_state.to_string()),
        hasannotations: Some(false),
        created: Some(p.created.into()),
        // Only with `showcapacities` (list_pods).
        capacity: None,
    }
}

fn cidr_of(r: &IpRangeRow) -> Option<String> {
    let (IpNetwork::V4(g), IpNetwork::V4(m)) = (r.gateway, r.netmask) else {
        return None;
    };
    let prefix = iprange::netmask_prefix(m.ip()).ok()?;
    ipnetwork::Ipv4Network::new(g.ip(), prefix)
        .ok()
        .and_then(|n| ipnetwork::Ipv4Network::new(n.network(), prefix).ok())
        .map(|n| n.to_string())
}

/// Refuses a range that shares addresses with another range of the zone, naming it.
/// Callers hold the zone row lock, so this check and the insert are not raced by another
/// request; the exclusion constraint stays as the last word.
async fn check_no_overlap(
    conn: &mut sqlx::PgConnection,
    zone: &ZoneRow,
    range: &iprange::Range,
) -> Result<()> {
    let (s, e) = (
        iprange::Range::inet(range.start),
        iprange::Range::inet(range.end),
    );
    if let Some(o) = t::ip_range_find_overlap(&mut *conn, zone.id, s, e).await? {
        let what = if o.purpose == "management" {
            format!(
                "the management IP range of pod {}",
                o.pod_name.clone().unwrap_or_default()
            )
        } else {
            format!("the {} IP range", o.purpose)
        };
        return Err(iprange::overlap_error(
            range,
            &what,
            &host(&o.start_ip),
            &host(&o.end_ip),
            &zone.name,
        )
        .into());
    }
    Ok(())
}

fn management_range(pod: &PodRow, range: &iprange::Range) -> IpRangeRow {
    IpRangeRow {
        id: IpRangeId::new_v4(),
        zone_id: pod.zone_id,
        pod_id: Some(pod.id),
        purpose: "management".into(),
        vlan: "untagged".into(),
        gateway: iprange::Range::inet(range.gateway),
        netmask: iprange::Range::inet(range.netmask),
        start_ip: iprange::Range::inet(range.start),
        end_ip: iprange::Range::inet(range.end),
        for_virtual_network: false,
        for_system_vms: false,
        network_id: None,
        physical_network_id: None,
        account_id: None,
        description: None,
        created: Utc::now(),
        pod_name: Some(pod.name.clone()),
    }
}

pub async fn create_pod(ctx: &Ctx, caller: &Caller, r: &requests::CreatePod<'_>) -> Result<Reply> {
    let zone_id: ZoneId = r.zoneid();
    let name = r.name().trim().to_string();
    let range = match (r.gateway(), r.netmask(), r.startip()) {
        (Some(g), Some(m), Some(s)) => Some(iprange::validate(g, m, s, r.endip(), true)?),
        (None, None, None) if r.endip().is_none() => None,
        _ => {
            return Err(ApiError::param(
                "A pod's management IP range needs gateway, netmask and startip together (endip is optional)",
            )
            .into())
        }
    };
    let mut tx = ctx.pool.begin().await?;
    let zone = t::zone_fetch_for_update(&mut *tx, zone_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "zoneid"))?;
    let pod = PodRow {
        id: PodId::new_v4(),
        zone_id,
        name,
        gateway: range.map(|r| iprange::Range::inet(r.gateway)),
        netmask: range.map(|r| iprange::Range::inet(r.netmask)),
        allocation_state: match r.allocationstate() {
            Some(s) => states::allocation_state(s)?,
            None => AllocationState::Enabled,
        },
        created: Utc::now(),
        zone_name: zone.name.clone(),
    };
    if let Some(r) = &range {
        check_no_overlap(&mut tx, &zone, r).await?;
    }
    t::pod_insert(&mut *tx, &pod).await?;
    let mut ranges = vec![];
    if let Some(r) = range {
        let row = management_range(&pod, &r);
        t::ip_range_insert(&mut *tx, &row).await?;
        ranges.push(row);
    }
    event(
        &mut tx,
        &caller.user,
        "POD.CREATE",
        format!("Creating pod {} in zone {}", pod.name, zone.name),
        Some(EventResource::new(
            ResourceType::Pod,
            pod.id,
            pod.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("pod", &pod_response(&pod, &ranges)))
}

pub async fn list_pods(ctx: &Ctx, r: &requests::ListPods<'_>) -> Result<Reply> {
    // A state no pod can be in finds none, as CloudStack's filter does.
    let allocation_state = r
        .allocationstate()
        .map(|s| AllocationState::parse_any_case(s).ok_or(()));
    let f = t::PodFilter {
        common: list_filter(ctx, r.wire())?,
        zone_id: r.zoneid(),
        allocation_state: allocation_state.and_then(Result::ok),
    };
    if matches!(allocation_state, Some(Err(()))) {
        r.wire().mark_read("showcapacities");
        return Ok(Reply::list("pod", 0, Vec::<PodResponse>::new()));
    }
    let (rows, total) = t::pod_list(&ctx.pool, &f).await?;
    let ids: Vec<PodId> = rows.iter().map(|r| r.id).collect();
    let ranges = t::ip_range_list_for_pods(&ctx.pool, &ids).await?;
    let mut items: Vec<PodResponse> = rows.iter().map(|r| pod_response(r, &ranges)).collect();
    // With `showcapacities`, each pod carries listZones' entries counted over its hosts,
    // pools and ranges (one query for the page).
    if r.showcapacities() == Some(true) && !items.is_empty() {
        let ids: Vec<Uuid> = ids.into_iter().map(Into::into).collect();
        let mut caps = super::vms::scoped_capacities(ctx, CapacityScope::Pod, &ids).await?;
        for pod in &mut items {
            pod.capacity = pod.id.and_then(|id| caps.remove(&id));
        }
    }
    Ok(Reply::list("pod", total, items))
}

pub async fn update_pod(ctx: &Ctx, caller: &Caller, r: &requests::UpdatePod<'_>) -> Result<Reply> {
    let id: PodId = r.id();
    let mut tx = ctx.pool.begin().await?;
    let mut pod = t::pod_fetch(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    // Lock the zone first (as every range change does), then the pod.
    let zone = t::zone_fetch_for_update(&mut *tx, pod.zone_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    t::pod_fetch_for_update(&mut *tx, id).await?;
    if let Some(v) = r.name() {
        pod.name = v.trim().to_string();
    }
    if let Some(v) = r.allocationstate() {
        pod.allocation_state = states::allocation_state(v)?;
    }
    let (old_ranges, _) = t::ip_range_list(
        &mut *tx,
        &t::IpRangeFilter {
            pod_id: Some(id),
            purposes: Some(&["management"]),
            ..Default::default()
        },
    )
    .await?;
    let changes_range = ["gateway", "netmask", "startip", "endip"]
        .iter()
        .any(|k| r.wire().str(k).is_some());
    let mut ranges = old_ranges.clone();
    if changes_range {
        // Fill what was not given from the pod's current (single) management range.
        let cur = old_ranges.first();
        let g = r
            .gateway()
            .map(str::to_string)
            .or_else(|| pod.gateway.as_ref().map(host));
        let m = r
            .netmask()
            .map(str::to_string)
            .or_else(|| pod.netmask.as_ref().map(host));
        let s = r
            .startip()
            .map(str::to_string)
            .or_else(|| cur.map(|r| host(&r.start_ip)));
        let e = r
            .endip()
            .map(str::to_string)
            .or_else(|| cur.map(|r| host(&r.end_ip)));
        let (Some(g), Some(m), Some(s)) = (g, m, s) else {
            return Err(ApiError::param(
                "A pod's management IP range needs gateway, netmask and startip",
            )
            .into());
        };
        if old_ranges.len() > 1 {
            return Err(ApiError::param(
                "This pod has several management IP ranges; change them one by one instead",
            )
            .into());
        }
        let r = iprange::validate(&g, &m, &s, e.as_deref(), true)?;
        t::ip_range_delete_management_of_pod(&mut *tx, id).await?;
        check_no_overlap(&mut tx, &zone, &r).await?;
        pod.gateway = Some(iprange::Range::inet(r.gateway));
        pod.netmask = Some(iprange::Range::inet(r.netmask));
        let row = management_range(&pod, &r);
        t::ip_range_insert(&mut *tx, &row).await?;
        ranges = vec![row];
    }
    t::pod_update(&mut *tx, &pod).await?;
    event(
        &mut tx,
        &caller.user,
        "POD.EDIT",
        format!("Updating pod {}", pod.name),
        Some(EventResource::new(
            ResourceType::Pod,
            pod.id,
            pod.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("pod", &pod_response(&pod, &ranges)))
}

pub async fn delete_pod(ctx: &Ctx, caller: &Caller, r: &requests::DeletePod<'_>) -> Result<Reply> {
    let id: PodId = r.id();
    let mut tx = ctx.pool.begin().await?;
    let pod = t::pod_fetch_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    let u = t::pod_usage(&mut *tx, id).await?;
    if u.clusters > 0 || u.guest_ranges > 0 {
        let mut uses = vec![];
        if u.clusters > 0 {
            uses.push(format!("{} cluster(s)", u.clusters));
        }
        if u.guest_ranges > 0 {
            uses.push(format!("{} guest IP range(s)", u.guest_ranges));
        }
        return Err(ApiError::in_use(format!(
            "The pod {} cannot be deleted because there are {} in this pod; delete them first",
            pod.name,
            uses.join(" and ")
        ))
        .into());
    }
    t::ip_range_delete_management_of_pod(&mut *tx, id).await?;
    t::pod_delete(&mut *tx, id).await?;
    event(
        &mut tx,
        &caller.user,
        "POD.DELETE",
        format!("Deleting pod {}", pod.name),
        Some(EventResource::new(
            ResourceType::Pod,
            pod.id,
            pod.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub fn vlan_response(r: &IpRangeRow) -> VlanIpRangeResponse {
    VlanIpRangeResponse {
        id: Some(r.id.into()),
        forvirtualnetwork: Some(r.for_virtual_network),
        zoneid: Some(r.zone_id.into()),
        vlan: Some(if r.vlan == "untagged" {
            "vlan://untagged".into()
        } else {
            format!("vlan://{}", r.vlan)
        }),
        account: None,
        domainid: None,
        domain: None,
        podid: r.pod_id.map(Into::into),
        podname: r.pod_name.clone(),
        gateway: Some(host(&r.gateway)),
        netmask: Some(host(&r.netmask)),
        cidr: cidr_of(r),
        description: r.description.clone(),
        startip: Some(host(&r.start_ip)),
        endip: Some(host(&r.end_ip)),
        networkid: r.network_id.map(Into::into),
        physicalnetworkid: r.physical_network_id.map(Into::into),
        forsystemvms: Some(r.for_system_vms),
    }
}

/// `vlan://100`, `100`, `untagged`, `vlan://untagged` → `100` / `untagged`.
fn parse_vlan(v: Option<&str>) -> Result<String, ApiError> {
    let raw = v.unwrap_or("untagged").trim();
    let tag = raw.strip_prefix("vlan://").unwrap_or(raw);
    if tag.eq_ignore_ascii_case("untagged") {
        return Ok("untagged".into());
    }
    match tag.parse::<u16>() {
        Ok(n) if (1..=4094).contains(&n) => Ok(n.to_string()),
        _ => Err(ApiError::param(format!(
            "Invalid VLAN '{raw}': it must be a number from 1 to 4094 or 'untagged'"
        ))),
    }
}

/// The ranges listVlanIpRanges and deleteVlanIpRange see: guest (Basic zones) and
/// public (Advanced zones), never pods' management ranges.
const VLAN_PURPOSES: &[&str] = &["guest", "public"];

/// The largest public range: every allocation looks for the lowest free address of the
/// zone's public ranges, so a range is bounded as a physical network's VLAN range is.
const MAX_PUBLIC_RANGE: u32 = 65_536;

/// The physical network a new public range rides: `physicalnetworkid` if given (it must
/// carry the zone's Public traffic), else the zone's one carrying Public traffic.
async fn public_physical_network(
    tx: &mut sqlx::PgConnection,
    r: &requests::CreateVlanIpRange<'_>,
    zone: &ZoneRow,
    has_pod: bool,
) -> Result<crate::ids::PhysicalNetworkId> {
    use crate::rules::physical_networks::TrafficType;
    if has_pod {
        return Err(ApiError::param(
            "A public IP range belongs to the zone: podid is not allowed with forvirtualnetwork=true",
        )
        .into());
    }
    let tt =
        crate::db::physical_networks::tt_in_zone(&mut *tx, zone.id, TrafficType::Public).await?;
    match (r.physicalnetworkid(), tt) {
        (Some(pn), Some(tt)) if tt.physical_network_id == pn => Ok(pn),
        (Some(pn), _) => Err(ApiError::param(format!(
            "Physical network id={pn} does not carry the Public traffic of zone {}: add the Public traffic type to it",
            zone.name
        ))
        .into()),
        (None, Some(tt)) => Ok(tt.physical_network_id),
        (None, None) => Err(ApiError::param(format!(
            "Unable to find default physical network with traffic=Public in zone id={}",
            zone.id
        ))
        .into()),
    }
}

pub async fn create_vlan_ip_range(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateVlanIpRange<'_>,
) -> Result<Reply> {
    let Some(zone_id) = r.zoneid() else {
        // Stratus has no physical networks or guest networks yet, so a range belongs to a zone.
        return Err(
            ApiError::param("Please specify zoneid: a VLAN IP range belongs to a zone").into(),
        );
    };
    let missing =
        |name| stratus_api::params::missing_param(requests::CreateVlanIpRange::NAME, name);
    let gateway = r.gateway().ok_or_else(|| missing("gateway"))?;
    let netmask = r.netmask().ok_or_else(|| missing("netmask"))?;
    let start = r.startip().ok_or_else(|| missing("startip"))?;
    let range = iprange::validate(gateway, netmask, start, r.endip(), false)?;
    let vlan = parse_vlan(r.vlan())?;
    let mut tx = ctx.pool.begin().await?;
    let zone = t::zone_fetch_for_update(&mut *tx, zone_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "zoneid"))?;
    let pod = match r.podid() {
        Some(pid) => {
            let pod = t::pod_fetch(&mut *tx, pid)
                .await?
                .ok_or_else(|| not_found(r.wire(), "podid"))?;
            if pod.zone_id != zone.id {
                return Err(ApiError::param(format!(
                    "Pod {} does not belong to zone {}",
                    pod.name, zone.name
                ))
                .into());
            }
            Some(pod)
        }
        None => None,
    };
    // An Advanced zone's virtual-network range is public: its addresses are what
    // associateIpAddress hands out and routers NAT from (issue 15).
    let public = zone.network_type == "Advanced" && r.forvirtualnetwork().unwrap_or(true);
    let size = u64::from(u32::from(range.end)) - u64::from(u32::from(range.start)) + 1;
    if public && size > u64::from(MAX_PUBLIC_RANGE) {
        return Err(ApiError::param(format!(
            "The public IP range {}-{} has {size} addresses: at most {MAX_PUBLIC_RANGE} per range",
            range.start, range.end
        ))
        .into());
    }
    let physical_network_id = if public {
        Some(public_physical_network(&mut tx, r, &zone, pod.is_some()).await?)
    } else {
        // A Basic zone's guests share the zone's one bridge: no physical network names
        // their range (refused with CloudStack's words rather than stored unchecked).
        if let Some(pn) = r.physicalnetworkid() {
            return Err(
                ApiError::param(format!("Unable to find Physical Network with id={pn}")).into(),
            );
        }
        None
    };
    if zone.network_type == "Basic" && pod.is_none() {
        return Err(ApiError::param(
            "In a Basic zone a guest IP range belongs to a pod: please specify podid",
        )
        .into());
    }
    check_no_overlap(&mut tx, &zone, &range).await?;
    // The range serves the zone's guest network (Stratus zones have one): a networkid
    // given must be that zone's; none means it, as CloudStack fills a Basic zone's range.
    let shared = crate::db::networks::zone_shared_network(&mut *tx, zone_id).await?;
    let network_id = match r.networkid() {
        Some(n) if public => {
            return Err(ApiError::param(format!("Can't find Public network by id={n}")).into())
        }
        Some(n) if shared.as_ref().is_some_and(|z| z.id == n) => Some(n),
        Some(_) => return Err(not_found(r.wire(), "networkid")),
        None if public => None,
        None => shared.map(|n| n.id),
    };
    let row = IpRangeRow {
        id: IpRangeId::new_v4(),
        zone_id,
        pod_id: pod.as_ref().map(|p| p.id),
        purpose: if public { "public" } else { "guest" }.into(),
        vlan,
        gateway: iprange::Range::inet(range.gateway),
        netmask: iprange::Range::inet(range.netmask),
        start_ip: iprange::Range::inet(range.start),
        end_ip: iprange::Range::inet(range.end),
        for_virtual_network: r
            .forvirtualnetwork()
            .unwrap_or(zone.network_type == "Advanced"),
        for_system_vms: r.forsystemvms().unwrap_or(false),
        network_id,
        physical_network_id,
        account_id: None,
        description: None,
        created: Utc::now(),
        pod_name: pod.as_ref().map(|p| p.name.clone()),
    };
    t::ip_range_insert(&mut *tx, &row).await?;
    event(
        &mut tx,
        &caller.user,
        "VLAN.IP.RANGE.CREATE",
        format!(
            "Creating VLAN IP range {}-{} in zone {}",
            range.start, range.end, zone.name
        ),
        Some(EventResource::new(
            ResourceType::Vlan,
            row.id,
            format!("{}-{}", range.start, range.end),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("vlan", &vlan_response(&row)))
}

pub async fn list_vlan_ip_ranges(ctx: &Ctx, r: &requests::ListVlanIpRanges<'_>) -> Result<Reply> {
    let page = r.wire().page(ctx.page_size())?;
    let f = t::IpRangeFilter {
        id: r.id(),
        zone_id: r.zoneid(),
        pod_id: r.podid(),
        purposes: Some(VLAN_PURPOSES),
        vlan: match r.vlan() {
            Some(v) => Some(parse_vlan(Some(v))?),
            None => None,
        },
        network_id: r.networkid(),
        physical_network_id: r.physicalnetworkid(),
        for_virtual_network: r.forvirtualnetwork(),
        keyword: r.keyword().map(str::to_string),
        offset: page.offset,
        limit: page.limit,
    };
    let (rows, total) = t::ip_range_list(&ctx.pool, &f).await?;
    let items: Vec<VlanIpRangeResponse> = rows.iter().map(vlan_response).collect();
    Ok(Reply::list("vlaniprange", total, items))
}

pub async fn delete_vlan_ip_range(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteVlanIpRange<'_>,
) -> Result<Reply> {
    let id: IpRangeId = r.id();
    let mut tx = ctx.pool.begin().await?;
    let (rows, _) = t::ip_range_list(
        &mut *tx,
        &t::IpRangeFilter {
            id: Some(id),
            purposes: Some(VLAN_PURPOSES),
            ..Default::default()
        },
    )
    .await?;
    let r = rows
        .into_iter()
        .next()
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    // The range's row lock: an allocation inserting into it waits, or is waited for.
    t::zone_fetch_for_update(&mut *tx, r.zone_id).await?;
    let held = t::ip_range_allocated(&mut *tx, id).await?;
    if held > 0 {
        return Err(
            ApiError::param(format!("{held}  Ips are in use. Cannot delete this vlan")).into(),
        );
    }
    t::ip_range_delete(&mut *tx, id).await?;
    event(
        &mut tx,
        &caller.user,
        "VLAN.IP.RANGE.DELETE",
        format!(
            "Deleting VLAN IP range {}-{}",
            host(&r.start_ip),
            host(&r.end_ip)
        ),
        Some(EventResource::new(
            ResourceType::Vlan,
            r.id,
            format!("{}-{}", host(&r.start_ip), host(&r.end_ip)),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub fn cluster_response(c: &ClusterRow, ctx: &Ctx) -> ClusterResponse {
    let at = Scope::cluster(c.zone_id, c.id);
    ClusterResponse {
        id: Some(c.id.into()),
        name: Some(c.name.clone()),
        podid: Some(c.pod_id.into()),
        podname: Some(c.pod_name.clone()),
        zoneid: Some(c.zone_id.into()),
        zonename: Some(c.zone_name.clone()),
        hypervisortype: Some(c.hypervisor.clone()),
        clustertype: Some(c.cluster_type.clone()),
        allocationstate: Some(c.allocation_state.to_string()),
        managedstate: Some(c.managed_state.to_string()),
        cpuovercommitratio: Some(format!(
            "{:?}",
            ctx.get_in(&settings::CPU_OVERPROVISIONING_FACTOR, at)
        )),
        memoryovercommitratio: Some(format!(
            "{:?}",
            ctx.get_in(&settings::MEM_OVERPROVISIONING_FACTOR, at)
        )),
        arch: Some(c.arch.clone()),
        hasannotations: Some(false),
        created: Some(c.created.into()),
        // Only with `showcapacities` (list_clusters).
        capacity: None,
    }
}

pub async fn add_cluster(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::AddCluster<'_>,
) -> Result<Reply> {
    let hypervisor = states::hypervisor(r.hypervisor())?;
    let cluster_type = states::cluster_type(r.clustertype())?;
    if cluster_type != "CloudManaged" {
        return Err(ApiError::param(
            "KVM clusters are CloudManaged; ExternalManaged clusters are for vCenter",
        )
        .into());
    }
    let zone_id: ZoneId = r.zoneid();
    let pod_id: PodId = r.podid();
    let mut tx = ctx.pool.begin().await?;
    let zone = t::zone_fetch(&mut *tx, zone_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "zoneid"))?;
    let pod = t::pod_fetch_for_update(&mut *tx, pod_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "podid"))?;
    if pod.zone_id != zone.id {
        return Err(ApiError::param(format!(
            "Pod {} does not belong to zone {}",
            pod.name, zone.name
        ))
        .into());
    }
    let c = ClusterRow {
        id: ClusterId::new_v4(),
        zone_id,
        pod_id,
        name: r.clustername().trim().to_string(),
        hypervisor: hypervisor.into(),
        cluster_type: cluster_type.into(),
        allocation_state: match r.allocationstate() {
            Some(s) => states::allocation_state(s)?,
            None => AllocationState::Enabled,
        },
        managed_state: ManagedState::Managed,
        arch: match r.arch() {
            Some(a) => states::arch(a)?.into(),
            None => "x86_64".into(),
        },
        created: Utc::now(),
        zone_name: zone.name.clone(),
        pod_name: pod.name.clone(),
    };
    t::cluster_insert(&mut *tx, &c).await?;
    event(
        &mut tx,
        &caller.user,
        "CLUSTER.CREATE",
        format!("Adding cluster {} to pod {}", c.name, pod.name),
        Some(EventResource::new(
            ResourceType::Cluster,
            c.id,
            c.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object_list("cluster", &[cluster_response(&c, ctx)]))
}

pub async fn list_clusters(ctx: &Ctx, r: &requests::ListClusters<'_>) -> Result<Reply> {
    // A state no cluster can be in finds none, as CloudStack's filter does.
    let allocation_state = r
        .allocationstate()
        .map(|s| AllocationState::parse_any_case(s).ok_or(()));
    let managed_state = r
        .managedstate()
        .map(|s| ManagedState::parse_any_case(s).ok_or(()));
    let f = t::ClusterFilter {
        common: list_filter(ctx, r.wire())?,
        zone_id: r.zoneid(),
        pod_id: r.podid(),
        hypervisor: r.hypervisor().map(str::to_string),
        cluster_type: r.clustertype().map(str::to_string),
        allocation_state: allocation_state.and_then(Result::ok),
        managed_state: managed_state.and_then(Result::ok),
    };
    if matches!(allocation_state, Some(Err(()))) || matches!(managed_state, Some(Err(()))) {
        r.wire().mark_read("showcapacities");
        return Ok(Reply::list("cluster", 0, Vec::<ClusterResponse>::new()));
    }
    let (rows, total) = t::cluster_list(&ctx.pool, &f).await?;
    let mut items: Vec<ClusterResponse> = rows.iter().map(|c| cluster_response(c, ctx)).collect();
    // With `showcapacities`, each cluster carries listZones' entries counted over its
    // hosts and pools (one query for the page).
    if r.showcapacities() == Some(true) && !items.is_empty() {
        let ids: Vec<Uuid> = rows.iter().map(|c| c.id.into()).collect();
        let mut caps = super::vms::scoped_capacities(ctx, CapacityScope::Cluster, &ids).await?;
        for c in &mut items {
            c.capacity = c.id.and_then(|id| caps.remove(&id));
        }
    }
    Ok(Reply::list("cluster", total, items))
}

pub async fn update_cluster(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateCluster<'_>,
) -> Result<Reply> {
    let id: ClusterId = r.id();
    let mut tx = ctx.pool.begin().await?;
    let mut c = t::cluster_fetch(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    if let Some(v) = r.clustername() {
        c.name = v.trim().to_string();
    }
    if let Some(v) = r.allocationstate() {
        c.allocation_state = states::allocation_state(v)?;
    }
    if let Some(v) = r.managedstate() {
        c.managed_state = states::managed_state(v)?;
    }
    if let Some(v) = r.hypervisor() {
        if states::hypervisor(v)? != c.hypervisor {
            return Err(
                ApiError::param("The hypervisor type of a cluster cannot be changed").into(),
            );
        }
    }
    if let Some(v) = r.clustertype() {
        if states::cluster_type(v)? != c.cluster_type {
            return Err(ApiError::param("The type of a cluster cannot be changed").into());
        }
    }
    t::cluster_update(&mut *tx, &c).await?;
    event(
        &mut tx,
        &caller.user,
        "CLUSTER.UPDATE",
        format!("Updating cluster {}", c.name),
        Some(EventResource::new(
            ResourceType::Cluster,
            c.id,
            c.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("cluster", &cluster_response(&c, ctx)))
}

pub async fn delete_cluster(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteCluster<'_>,
) -> Result<Reply> {
    let id: ClusterId = r.id();
    let mut tx = ctx.pool.begin().await?;
    let c = t::cluster_fetch(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    let hosts = crate::db::hosts::host_count_in_cluster(&mut *tx, id).await?;
    if hosts > 0 {
        return Err(ApiError::in_use(format!(
            "The cluster {} cannot be deleted because there are {hosts} host(s) in this cluster; delete them first",
            c.name
        ))
        .into());
    }
    t::cluster_delete(&mut *tx, id).await?;
    event(
        &mut tx,
        &caller.user,
        "CLUSTER.DELETE",
        format!("Deleting cluster {}", c.name),
        Some(EventResource::new(
            ResourceType::Cluster,
            c.id,
            c.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}
