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
use crate::rules::network_offerings::OfferingState;

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
        account_id: None,
        domain_id: None,
        physical_network_id: None,
        net_cidr: None,
        acl_type: "Domain".into(),
        restart_required: false,
        display_network: true,
        account_name: None,
        owner_domain_name: None,
        owner_domain_path: None,
        project_id: None,
        project_name: None,
        vnet: None,
        isolation: None,
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
    let isolated = x.account_id.is_some();
    NetworkResponse {
        displaynetwork: Some(x.display_network),
        networkofferingavailability: Some(o.availability.to_string()),
        specifyvlan: Some(o.specify_vlan),
        service: network_offerings::services(o),
        domainpath: Some(x.owner_domain_path.clone().unwrap_or_else(|| "ROOT".into())),
        ip6dns1: x.ip6dns1.map(|d| d.ip().to_string()),
        ip6dns2: x.ip6dns2.map(|d| d.ip().to_string()),
        networkdomain: x.network_domain.clone(),
        internetprotocol: Some("IPv4".into()),
        hasannotations: Some(false),
        id: Some(x.id.into()),
        name: Some(x.name.clone()),
        displaytext: Some(x.display_text.clone()),
        zoneid: Some(x.zone_id.into()),
        zonename: Some(x.zone_name.clone()),
        r#type: Some(x.guest_type.clone()),
        traffictype: Some(x.traffic_type.clone()),
        state: Some(x.state.clone()),
        broadcastdomaintype: Some(broadcast_type(x).into()),
        broadcasturi: broadcast_uri(x),
        vlan: broadcast_uri(x).map(|u| u.split("://").nth(1).unwrap_or("N/A").to_string()),
        gateway: x.gateway.map(|g| g.ip().to_string()),
        netmask: x.netmask.map(|m| m.ip().to_string()),
        cidr,
        dns1: x.dns1.map(|d| d.ip().to_string()),
        dns2: x.dns2.map(|d| d.ip().to_string()),
        isdefault: isolated.then_some(false).or(Some(true)),
        issystem: Some(false),
        canusefordeploy: Some(x.state != "Destroy"),
        networkofferingid: Some(o.id.into()),
        networkofferingname: Some(o.name.clone()),
        networkofferingdisplaytext: Some(o.display_text.clone()),
        acltype: Some(x.acl_type.clone()),
        specifyipranges: Some(o.specify_ip_ranges),
        ispersistent: Some(o.is_persistent),
        restartrequired: Some(x.restart_required),
        account: x.account_name.clone().filter(|_| x.project_id.is_none()),
        project: x.project_name.clone(),
        projectid: x.project_id.map(Into::into),
        physicalnetworkid: x.physical_network_id.map(Into::into),
        egressdefaultpolicy: Some(o.egress_default_allow),
        redundantrouter: Some(false),
        related: Some(x.id.into()),
        domain: Some(x.owner_domain_name.clone().unwrap_or_else(|| "ROOT".into())),
        domainid: Some(x.domain_id.unwrap_or(ROOT_DOMAIN).into_uuid()),
        subdomainaccess: (!isolated).then_some(true),
        created: Some(x.created.into()),
        tags: vec![],
    }
}

/// `Native` for a Basic zone's untagged network; `Vlan` or `Vxlan` for isolated ones.
fn broadcast_type(x: &NetworkRow) -> &'static str {
    match (x.account_id, x.isolation.as_deref()) {
        (None, _) => "Native",
        (Some(_), Some("VXLAN")) => "Vxlan",
        (Some(_), _) => "Vlan",
    }
}

/// `vlan://untagged` for a Basic zone's network; `vlan://N` or `vxlan://N` for an
/// isolated one while it holds its id (none before it is implemented).
fn broadcast_uri(x: &NetworkRow) -> Option<String> {
    match (x.account_id, x.vnet) {
        (None, _) => Some("vlan://untagged".into()),
        (Some(_), Some(v)) if broadcast_type(x) == "Vxlan" => Some(format!("vxlan://{v}")),
        (Some(_), Some(v)) => Some(format!("vlan://{v}")),
        (Some(_), None) => None,
    }
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListNetworks<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let tags = super::tags::wanted(r.wire())?;
    // A Basic zone's shared guest network is the zone's, usable by every account and
    // every project; isolated networks are their owners' (the usual list scoping).
    let (account_id, account_ids, _) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::Own)
            .await?
            .split();
    let owners = match (account_id, account_ids) {
        (Some(a), _) => Some(vec![a]),
        (None, ids) => ids,
    };
    // Every filter is read first: the early answers below must not leave one unread.
    let nf = n::NetworkFilter {
        zone_id: r.zoneid(),
        guest_type: None,
        account_ids: owners,
        offering_id: r.networkofferingid(),
        physical_network_id: r.physicalnetworkid(),
        acl_type: r.acltype().map(str::to_string),
        restart_required: r.restartrequired(),
    };
    let mut guest_type: Option<&'static str> = match r.r#type() {
        None => None,
        Some(t) if t.eq_ignore_ascii_case("all") => None,
        Some(t) if t.eq_ignore_ascii_case("shared") => Some("Shared"),
        Some(t) if t.eq_ignore_ascii_case("isolated") => Some("Isolated"),
        Some(_) => return Ok(Reply::list("network", 0, Vec::<NetworkResponse>::new())),
    };
    let other_traffic = r
        .traffictype()
        .is_some_and(|t| !t.eq_ignore_ascii_case("guest"));
    // isdefault is true of shared networks only; every network can be deployed into
    // (an isolated one is implemented by its first deploy).
    if let Some(wanted) = r.isdefault() {
        let t = if wanted { "Shared" } else { "Isolated" };
        if guest_type.is_some_and(|g| g != t) {
            return Ok(Reply::list("network", 0, Vec::<NetworkResponse>::new()));
        }
        guest_type = Some(t);
    }
    if r.canusefordeploy() == Some(false) {
        return Ok(Reply::list("network", 0, Vec::<NetworkResponse>::new()));
    }
    if other_traffic || r.issystem() == Some(true) {
        return Ok(Reply::list("network", 0, Vec::<NetworkResponse>::new()));
    }
    let nf = n::NetworkFilter { guest_type, ..nf };
    let (rows, total) = n::network_search(&ctx.pool, &f, &nf, &tags).await?;
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
            ..shown_to(caller, response(r, o))
        });
    }
    Ok(Reply::list("network", total, items))
}

// --- isolated networks (issue 15) ---

fn refuse(text: impl Into<String>) -> crate::error::Error {
    ApiError::param(text).into()
}

/// The subnet of a new isolated network: the given gateway and netmask, else the zone's
/// guest CIDR with its first address as the gateway (CloudStack's `GuestNetworkGuru`).
fn subnet(
    gateway: Option<&str>,
    netmask: Option<&str>,
    zone: &crate::db::topology::ZoneRow,
    name: &str,
    min_prefix: Option<u8>,
) -> Result<(ipnetwork::Ipv4Network, std::net::Ipv4Addr)> {
    use std::net::Ipv4Addr;
    let (cidr, gw) = match (gateway, netmask) {
        (None, None) => {
            let Some(ipnetwork::IpNetwork::V4(c)) = zone.guest_cidr else {
                return Err(refuse(format!(
                    "Can't design network {name}; guest CIDR is not configured per zone {}",
                    zone.name
                )));
            };
            let c = ipnetwork::Ipv4Network::new(c.network(), c.prefix())
                .map_err(|_| refuse("the zone's guest CIDR is not a network"))?;
            let first = Ipv4Addr::from(u32::from(c.network()) + 1);
            (c, first)
        }
        (Some(g), Some(m)) => {
            let gw: Ipv4Addr = g
                .trim()
                .parse()
                .map_err(|_| refuse("Gateway parameter is invalid"))?;
            let mask: Ipv4Addr = m.trim().parse().map_err(|_| refuse("Invalid netmask"))?;
            let c = ipnetwork::Ipv4Network::with_netmask(gw, mask)
                .map_err(|_| refuse("Invalid netmask"))?;
            let c = ipnetwork::Ipv4Network::new(c.network(), c.prefix())
                .map_err(|_| refuse("Invalid netmask"))?;
            if gw == c.network() || gw == c.broadcast() {
                return Err(refuse(
                    "Invalid gateway IP provided. Either the IP is broadcast or network IP.",
                ));
            }
            (c, gw)
        }
        _ => return Err(refuse("gateway and netmask must be specified together")),
    };
    let private = |n: &ipnetwork::Ipv4Network| {
        [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
        ]
        .iter()
        .filter_map(|p| p.parse::<ipnetwork::Ipv4Network>().ok())
        .any(|p| p.contains(n.network()) && p.prefix() <= n.prefix())
    };
    if !private(&cidr) {
        return Err(refuse(format!(
            "Virtual Guest Cidr {cidr} is not RFC 1918 or 6598 compliant"
        )));
    }
    if cidr.prefix() > 29 {
        return Err(refuse(format!(
            "Cidr {cidr} is too small: a guest network needs at least a /29 (its router takes the gateway)"
        )));
    }
    if let Some(min) = min_prefix {
        if cidr.prefix() < min {
            return Err(refuse(format!("Cidr size can't be less than {min}")));
        }
    }
    Ok((cidr, gw))
}

/// CloudStack's check of a network domain, and its text.
fn valid_domain(d: &str) -> Result<()> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    };
    if d.len() <= 190 && d.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(refuse("Invalid network domain. Total length shouldn't exceed 190 chars. Each domain label must be between 1 and 63 characters long, can contain ASCII letters 'a' through 'z', the digits '0' through '9', and the hyphen ('-'); can't start or end with \"-\""))
    }
}

async fn fetch_network(ctx: &Ctx, id: NetworkId) -> Result<Option<NetworkRow>> {
    let f = crate::db::ListFilter {
        id: Some(id.into_uuid()),
        ..Default::default()
    };
    Ok(n::network_list(&ctx.pool, &f, None, &Default::default())
        .await?
        .0
        .into_iter()
        .next())
}

/// The network `id` names, if the caller may act on it (its owner, a project member,
/// an admin); otherwise the not-found answer.
async fn usable(
    ctx: &Ctx,
    caller: &Caller,
    missing: crate::error::Error,
    id: NetworkId,
) -> Result<NetworkRow> {
    let Some(net) = fetch_network(ctx, id).await? else {
        return Err(missing);
    };
    match net.account_id {
        Some(owner) if !super::projects::may_use(ctx, caller, owner.into_uuid()).await? => {
            Err(missing)
        }
        None if !caller.is_root_admin() => Err(ApiError::new(
            stratus_api::error::ErrorCode::Account,
            format!(
                "Only Admins can change network with guest type {}",
                net.guest_type
            ),
        )
        .into()),
        _ => Ok(net),
    }
}

async fn answer(ctx: &Ctx, caller: &Caller, id: NetworkId) -> Result<NetworkResponse> {
    let net = fetch_network(ctx, id)
        .await?
        .ok_or_else(|| ApiError::internal("the network vanished"))?;
    let o = network_offerings::fetch_any(ctx, net.offering_id)
        .await?
        .ok_or_else(|| ApiError::internal("the network has no offering"))?;
    let tags = super::tags::tags_of(ctx, TagType::Network, &[net.id.into_uuid()])
        .await?
        .remove(&net.id.into_uuid())
        .unwrap_or_default();
    Ok(NetworkResponse {
        tags,
        ..shown_to(caller, response(&net, &o))
    })
}

/// Root admins see the broadcast URI and VLAN; others do not (CloudStack's Full view).
fn shown_to(caller: &Caller, r: NetworkResponse) -> NetworkResponse {
    if caller.is_root_admin() {
        r
    } else {
        NetworkResponse {
            broadcasturi: None,
            vlan: None,
            ..r
        }
    }
}

pub async fn create(ctx: &Ctx, caller: &Caller, r: &requests::CreateNetwork<'_>) -> Result<Reply> {
    use crate::rules::network_offerings::GuestType;
    use crate::rules::physical_networks::Service;
    let zone = crate::db::topology::zone_fetch(&ctx.pool, r.zoneid())
        .await?
        .ok_or_else(|| refuse("Specified zone id was not found"))?;
    let offering = network_offerings::fetch(ctx, r.networkofferingid())
        .await?
        .ok_or_else(|| refuse("Unable to find network offering by specified id"))?;
    if zone.allocation_state == crate::rules::states::AllocationState::Disabled
        && !caller.is_root_admin()
    {
        return Err(ApiError::new(
            stratus_api::error::ErrorCode::Account,
            "Cannot perform this operation since specified Zone is currently disabled",
        )
        .into());
    }
    if offering.state != OfferingState::Enabled {
        return Err(refuse(
            "Can't use specified network offering id as its stat is not Enabled",
        ));
    }
    let source_nat = network_offerings::has_service(&offering, Service::SourceNat);
    if offering.guest_type == GuestType::Shared {
        return Err(if caller.is_root_admin() {
            refuse("Only isolated networks can be created: a Basic zone's shared guest network comes with the zone")
        } else {
            refuse("Only Admins can create network with guest type Shared or L2")
        });
    }
    if !caller.is_root_admin() && !source_nat {
        return Err(refuse("Regular user can create a network only from the network offering having traffic type Guest and network type Isolated with a service SourceNat enabled"));
    }
    if !source_nat && (r.gateway().is_none() || r.netmask().is_none()) {
        return Err(refuse("StartIp/endIp/gateway/netmask are required when create network of type Shared and network of type Isolated with service SourceNat disabled"));
    }
    match r.acltype() {
        None => {}
        Some(a) if a.eq_ignore_ascii_case("account") => {}
        Some(a) if a.eq_ignore_ascii_case("domain") => {
            return Err(refuse(
                "AclType should be Account for network of type Isolated",
            ))
        }
        Some(_) => {
            return Err(refuse(
                "Incorrect aclType specified. Check the API documentation for supported types",
            ))
        }
    }
    if zone.network_type != "Advanced" {
        return Err(refuse(format!(
            "Zone {} is a Basic zone: isolated networks need an Advanced zone",
            zone.name
        )));
    }
    if r.displaynetwork().is_some() && !caller.is_root_admin() {
        return Err(refuse("Only root admins may set displaynetwork"));
    }
    let (account_id, domain_id) =
        match super::projects::owner_for_create(ctx, caller, r.wire()).await? {
            Some(pr) => (pr.account_id, pr.domain_id),
            None => {
                let (a, d, _) = super::sshkeys::owner(ctx, caller, r.wire()).await?;
                (a, d)
            }
        };
    let name = r.name().trim();
    if name.is_empty() {
        return Err(refuse("Network name cannot be empty"));
    }
    if let Some(d) = r.networkdomain() {
        valid_domain(d)?;
    }
    let min = (!caller.is_root_admin())
        .then(|| ctx.get(&crate::settings::GUEST_CIDR_LIMIT).clamp(8, 29) as u8);
    let id = insert_isolated(
        ctx,
        &NewIsolated {
            zone: &zone,
            offering: &offering,
            account_id,
            domain_id,
            name,
            display_text: r.displaytext().unwrap_or(name),
            gateway: r.gateway(),
            netmask: r.netmask(),
            network_domain: r.networkdomain(),
            min_prefix: min,
            display_network: r.displaynetwork(),
            default_of_account: false,
        },
    )
    .await?;
    Ok(Reply::object("network", &answer(ctx, caller, id).await?))
}

/// An isolated network to record (createNetwork's, or an account's default one).
pub(crate) struct NewIsolated<'a> {
    pub zone: &'a crate::db::topology::ZoneRow,
    pub offering: &'a crate::db::network_offerings::OfferingRow,
    pub account_id: crate::ids::AccountId,
    pub domain_id: crate::ids::DomainId,
    pub name: &'a str,
    pub display_text: &'a str,
    pub gateway: Option<&'a str>,
    pub netmask: Option<&'a str>,
    /// Checked by the caller.
    pub network_domain: Option<&'a str>,
    /// The smallest subnet (largest prefix) a caller may ask for (non-root callers).
    pub min_prefix: Option<u8>,
    pub display_network: Option<bool>,
    /// The account's default network, made by its first deploy in the zone: made only
    /// if the account still has no isolated network there (checked under a lock).
    pub default_of_account: bool,
}

/// Records an isolated network (Allocated: it gets its VXLAN/VLAN id and router on
/// first use): its subnet, domain, the zone's Guest physical network, the owner's
/// `network` limit.
pub(crate) async fn insert_isolated(ctx: &Ctx, new: &NewIsolated<'_>) -> Result<NetworkId> {
    use crate::rules::physical_networks::{PhysicalNetworkState, TrafficType};
    let NewIsolated {
        zone,
        offering,
        account_id,
        domain_id,
        name,
        ..
    } = *new;
    let (cidr, gateway) = subnet(new.gateway, new.netmask, zone, name, new.min_prefix)?;
    let domain = match new.network_domain {
        Some(d) => d.to_string(),
        None => format!(
            "cs{}{}",
            account_id
                .into_uuid()
                .simple()
                .to_string()
                .chars()
                .take(8)
                .collect::<String>(),
            ctx.get_in(
                &crate::settings::GUEST_DOMAIN_SUFFIX,
                crate::settings::Scope::zone(zone.id)
            )
        ),
    };
    let mut tx = ctx.pool.begin().await?;
    if new.default_of_account {
        if let Some(id) = n::default_network_claim(&mut tx, account_id, zone.id).await? {
            return Ok(id);
        }
    }
    let tt = crate::db::physical_networks::tt_in_zone(&mut *tx, zone.id, TrafficType::Guest)
        .await?
        .ok_or_else(|| {
            refuse(format!(
                "Zone {} has no physical network carrying Guest traffic: create one and add the Guest traffic type to it",
                zone.name
            ))
        })?;
    let pn = crate::db::physical_networks::pn_fetch(&mut *tx, tt.physical_network_id)
        .await?
        .ok_or_else(|| ApiError::internal("the physical network vanished"))?;
    if pn.state != PhysicalNetworkState::Enabled {
        return Err(refuse(format!(
            "Specified physical network id is in incorrect state:{}",
            pn.state
        )));
    }
    crate::services::limits::admit(
        ctx,
        &mut tx,
        account_id,
        &[(crate::rules::limits::ResourceKind::Network, 1)],
    )
    .await?;
    let id = NetworkId::new_v4();
    let row = NetworkRow {
        id,
        zone_id: zone.id,
        offering_id: offering.id,
        name: name.to_string(),
        display_text: new.display_text.to_string(),
        guest_type: "Isolated".into(),
        traffic_type: "Guest".into(),
        bridge: tt
            .kvm_label
            .clone()
            .unwrap_or_else(|| ctx.get(&crate::settings::GUEST_NETWORK_BRIDGE)),
        state: "Allocated".into(),
        created: chrono::Utc::now(),
        gateway: Some(ipnetwork::IpNetwork::V4(
            ipnetwork::Ipv4Network::new(gateway, 32)
                .map_err(|_| refuse("Gateway parameter is invalid"))?,
        )),
        network_domain: Some(domain),
        account_id: Some(account_id),
        domain_id: Some(domain_id),
        physical_network_id: Some(pn.id),
        net_cidr: Some(ipnetwork::IpNetwork::V4(cidr)),
        acl_type: "Account".into(),
        ..basic_zone_network(ctx, zone.id)
    };
    n::network_insert(&mut *tx, &row).await?;
    if let Some(false) = new.display_network {
        n::network_set_display(&mut *tx, id, false).await?;
    }
    tx.commit().await?;
    Ok(id)
}

pub async fn update(ctx: &Ctx, caller: &Caller, r: &requests::UpdateNetwork<'_>) -> Result<Reply> {
    let missing = refuse(format!("Networkd ID={} doesn't exist", r.id()));
    let net = usable(ctx, caller, missing, r.id()).await?;
    if r.forced().is_some() && !caller.is_root_admin() {
        return Err(refuse("Only root admins may force a network update"));
    }
    if r.displaynetwork().is_some() && !caller.is_root_admin() {
        return Err(refuse("Only root admins may set displaynetwork"));
    }
    if net.state == "Destroy" {
        return Err(refuse("Don't allow to update network in state Destroy"));
    }
    let domain = match r.networkdomain() {
        Some(_) if net.account_id.is_none() => {
            return Err(refuse(format!(
                "Domain name change is not supported by the network offering id={}",
                net.offering_id
            )))
        }
        Some(d) => {
            valid_domain(d)?;
            Some(d.to_string())
        }
        None if net.account_id.is_some() => net.network_domain.clone(),
        None => None,
    };
    let name = r.name().map(str::trim).unwrap_or(&net.name);
    if name.is_empty() {
        return Err(refuse("Network name cannot be empty"));
    }
    let text = r.displaytext().unwrap_or(&net.display_text);
    let mut tx = ctx.pool.begin().await?;
    n::network_update(&mut *tx, net.id, name, text, domain.as_deref()).await?;
    if let Some(d) = r.displaynetwork() {
        n::network_set_display(&mut *tx, net.id, d).await?;
    }
    tx.commit().await?;
    Ok(Reply::object(
        "network",
        &answer(ctx, caller, net.id).await?,
    ))
}

pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteNetwork<'_>) -> Result<Reply> {
    if r.forced() == Some(true) && !caller.is_root_admin() {
        return Err(refuse(
            "Delete network with 'forced' option can only be called by root admins",
        ));
    }
    let missing = refuse("unable to find network with specified id");
    let net = usable(ctx, caller, missing, r.id()).await?;
    if net.account_id.is_none() {
        return Err(refuse(format!(
            "Network {} is zone {}'s shared guest network: it goes with the zone",
            net.name, net.zone_name
        )));
    }
    let mut tx = ctx.pool.begin().await?;
    n::network_lock(&mut *tx, net.id).await?;
    let vms = n::network_vm_count(&mut *tx, net.id).await?;
    if vms > 0 {
        return Err(ApiError::in_use(format!(
            "Can't delete the network, not all user vms are expunged: {vms} instance(s) still have a NIC in network {}",
            net.name
        ))
        .into());
    }
    // Destroy: no deploy picks it from here on; then its router leaves its host, and
    // the VXLAN/VLAN id and the row go.
    n::network_set_state(&mut *tx, net.id, "Destroy", None).await?;
    tx.commit().await?;
    crate::services::networks::destroy(ctx, net.id).await?;
    Ok(Reply::success())
}

pub async fn restart(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RestartNetwork<'_>,
) -> Result<Reply> {
    let missing = refuse("Network with specified id doesn't exist");
    let net = usable(ctx, caller, missing, r.id()).await?;
    if r.makeredundant() == Some(true) {
        return Err(refuse("Redundant routers are not available: a network's router is recreated on another host if its host is lost"));
    }
    let (cleanup, _live) = (r.cleanup(), r.livepatch());
    if !matches!(net.state.as_str(), "Implemented" | "Setup") {
        return Err(refuse(
            "Network is not in the right state to be restarted. Correct states are: Implemented, Setup",
        ));
    }
    if net.account_id.is_some() {
        crate::services::networks::restart(ctx, net.id, cleanup.unwrap_or(false)).await?;
        return Ok(Reply::success());
    }
    Err(ApiError::unsupported(format!(
        "Restarting network {} is not available yet: a Basic zone's DHCP runs on every host and is re-applied as instances start",
        net.name
    ))
    .into())
}

/// The most networks (NICs) one deploy may name.
const MAX_DEPLOY_NETWORKS: usize = 8;

/// The isolated networks a VM deployed in an Advanced zone gets NICs on, the default
/// (first) one first: those named by `networkids` (the owner's, in the zone, each once);
/// else the owner's one network in the zone; else, as CloudStack, a default network
/// `<account>-network` made from the Required offering. A Basic zone answers none (its
/// shared network is the deploy's, checked here when named).
pub(crate) async fn for_deploy(
    ctx: &Ctx,
    zone: &crate::db::topology::ZoneRow,
    owner: (crate::ids::AccountId, crate::ids::DomainId),
    owner_name: &str,
    ids: Option<&[NetworkId]>,
) -> Result<Vec<NetworkRow>> {
    if zone.network_type != "Advanced" {
        if let Some(ids) = ids {
            let shared = n::zone_shared_network(&ctx.pool, zone.id).await?;
            if let Some(bad) = ids
                .iter()
                .find(|id| shared.as_ref().is_none_or(|n| n.id != **id))
            {
                return Err(ApiError::param(format!(
                    "Network {bad} is not a guest network of zone {}",
                    zone.name
                ))
                .into());
            }
        }
        return Ok(vec![]);
    }
    let owned = |net: &NetworkRow| net.account_id == Some(owner.0) && net.zone_id == zone.id;
    if let Some(ids) = ids.filter(|i| !i.is_empty()) {
        if ids.len() > MAX_DEPLOY_NETWORKS {
            return Err(refuse(format!(
                "At most {MAX_DEPLOY_NETWORKS} networks can be given (networkids)"
            )));
        }
        let mut nets: Vec<NetworkRow> = vec![];
        for id in ids {
            if nets.iter().any(|x| x.id == *id) {
                return Err(refuse(format!("Network {id} is given twice (networkids)")));
            }
            let net = crate::services::networks::network(ctx, *id)
                .await
                .ok()
                .filter(owned)
                .ok_or_else(|| {
                    refuse(format!(
                        "Network {id} is not a network of the VM's owner in zone {}",
                        zone.name
                    ))
                })?;
            if net.state == "Destroy" {
                return Err(refuse(format!("Network {} is being deleted", net.name)));
            }
            nets.push(net);
        }
        return Ok(nets);
    }
    let nf = n::NetworkFilter {
        zone_id: Some(zone.id),
        guest_type: Some("Isolated"),
        account_ids: Some(vec![owner.0.into_uuid()]),
        ..Default::default()
    };
    let (mut mine, _) =
        n::network_search(&ctx.pool, &Default::default(), &nf, &Default::default()).await?;
    mine.retain(|x| owned(x) && x.state != "Destroy");
    match mine.len() {
        1 => return Ok(mine),
        0 => {}
        _ => {
            return Err(refuse(format!(
                "More than 1 default Isolated networks are found for account {owner_name}; please specify networkIds"
            )))
        }
    }
    // The account's first deploy in the zone: its default network, as CloudStack makes it.
    let offering = crate::db::network_offerings::offering_required(&ctx.pool)
        .await?
        .filter(|o| o.state == OfferingState::Enabled)
        .ok_or_else(|| {
            refuse(format!(
                "Unable to find the default network of account {owner_name} in zone {}: no network offering is Required and Enabled to make one; create a network and give networkids",
                zone.name
            ))
        })?;
    let name = format!("{owner_name}-network");
    let id = insert_isolated(
        ctx,
        &NewIsolated {
            zone,
            offering: &offering,
            account_id: owner.0,
            domain_id: owner.1,
            name: &name,
            display_text: &name,
            gateway: None,
            netmask: None,
            network_domain: None,
            min_prefix: None,
            display_network: None,
            default_of_account: true,
        },
    )
    .await?;
    Ok(vec![crate::services::networks::network(ctx, id).await?])
}
