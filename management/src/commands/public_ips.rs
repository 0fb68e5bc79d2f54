//! Public IP addresses of Advanced zones and the rules on them (issue 15):
//! associateIpAddress, disassociateIpAddress, listPublicIpAddresses, enableStaticNat,
//! disableStaticNat, port forwarding, the ingress firewall of an address and the egress
//! firewall of a guest network, with CloudStack's checks, texts and async shapes
//! (research §5.20–5.31), because Ansible's cs_ip_address, cs_portforward, cs_firewall and
//! cs_staticnat, and libcloud, compare what they sent with what is listed.
//!
//! The creates are CloudStack's BaseAsyncCreateCmd: the synchronous half checks the
//! request and records the address or rule (so a refusal is the immediate answer, and a
//! conflict is 537 there), the job makes the router enforce it
//! (`services::networks::apply`) and reports it. Deletes mark the rule being revoked,
//! apply, then delete, so a router never keeps a rule the database has forgotten. Rule
//! changes of one network are serialised on the network's row, which is what makes the
//! conflict checks hold under concurrency.
//!
//! Ownership: an address or rule is its account's (a project's for its members);
//! someone else's answers as if it did not exist.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use stratus_api::envelope::Reply;
use stratus_api::error::{ApiError, ErrorCode};
use stratus_api::params::shown;
use stratus_api::router::{Ipv4Net, RuleProtocol};
use stratus_api::types::{FirewallResponse, FirewallRuleResponse, IpAddressResponse};
use stratus_api::Params;
use uuid::Uuid;

use super::network_offerings::has_service;
use super::{created_id, event_for_owner, requests};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::networks::NetworkRow;
use crate::db::public_ips::{self as db, NewRule, PublicIpRow, RuleFilter, RuleRow};
use crate::error::{Error, Result};
use crate::ids::{AccountId, DomainId, FirewallRuleId, NetworkId, PublicIpId};
use crate::rules::physical_networks::Service;
use crate::rules::public_ips::{self as rules, Conflict, Existing, Purpose, RuleMatch};
use crate::rules::vmstate::VmState;
use crate::services::auth::Caller;

fn refuse(text: impl Into<String>) -> Error {
    ApiError::param(text).into()
}

fn conflict(text: impl Into<String>) -> Error {
    ApiError::new(ErrorCode::NetworkRuleConflict, text).into()
}

/// CloudStack's `IPAddressVO.toString`: `Ip[<address>-<zone>]`.
fn ip_text(ip: &PublicIpRow) -> String {
    format!("Ip[{}-{}]", ip.address.ip(), ip.zone_id)
}

/// Marks parameters the handler consulted in its other half (the create half of an
/// async create; the job reads what it needs from the records).
fn read_all(p: &Params, names: &[&str]) {
    for n in names {
        p.mark_read(n);
    }
}

// --- answers ---

fn ip_response(caller: &Caller, i: &PublicIpRow) -> IpAddressResponse {
    let root = caller.is_root_admin();
    let nat = i.vm_id.is_some();
    IpAddressResponse {
        id: Some(i.id.into_uuid()),
        ipaddress: Some(i.address.ip().to_string()),
        allocated: Some(i.allocated.into()),
        zoneid: Some(i.zone_id.into_uuid()),
        zonename: Some(i.zone_name.clone()),
        issourcenat: Some(i.is_source_nat),
        account: Some(i.account_name.clone()).filter(|_| i.project_id.is_none()),
        projectid: i.project_id.map(Into::into),
        project: i.project_name.clone(),
        domainid: Some(i.domain_id.into_uuid()),
        domain: Some(i.domain_name.clone()),
        domainpath: Some(i.domain_path.clone()),
        forvirtualnetwork: Some(true),
        vlanid: root.then(|| i.range_id.into_uuid()),
        vlanname: root.then(|| {
            if i.vlan == "untagged" {
                "vlan://untagged".to_string()
            } else {
                format!("vlan://{}", i.vlan)
            }
        }),
        isstaticnat: Some(nat),
        issystem: Some(false),
        virtualmachineid: i.vm_id.filter(|_| nat).map(Into::into),
        virtualmachinename: i.vm_name.clone().filter(|_| nat),
        virtualmachinedisplayname: i.vm_display_name.clone().filter(|_| nat),
        virtualmachinetype: nat.then(|| "UserVm".to_string()),
        vmipaddress: i.vm_ip.filter(|_| nat).map(|v| v.ip().to_string()),
        associatednetworkid: Some(i.network_id.into_uuid()),
        associatednetworkname: Some(i.network_name.clone()),
        physicalnetworkid: i.physical_network_id.map(Into::into),
        state: Some(i.state.clone()),
        fordisplay: Some(i.display),
        isportable: Some(false),
        tags: vec![],
        hasannotations: Some(false),
        hasrules: Some(i.has_rules),
        forsystemvms: Some(false),
    }
}

/// A rule's state as CloudStack answers it (`Revoke` shows as `Deleting`).
fn rule_state(r: &RuleRow) -> String {
    match r.state.as_str() {
        "Revoke" => "Deleting".into(),
        s => s.to_string(),
    }
}

fn pf_response(r: &RuleRow) -> FirewallRuleResponse {
    let text = |v: Option<i32>| v.map(|v| v.to_string());
    FirewallRuleResponse {
        id: Some(r.id.into_uuid()),
        privateport: text(r.private_start),
        privateendport: text(r.private_end),
        protocol: Some(r.protocol.clone()),
        publicport: text(r.start_port),
        publicendport: text(r.end_port),
        virtualmachineid: r.vm_id.map(Into::into),
        virtualmachinename: r.vm_name.clone(),
        virtualmachinedisplayname: r.vm_display_name.clone(),
        ipaddressid: r.public_ip_id.map(Into::into),
        ipaddress: r.address.map(|a| a.ip().to_string()),
        state: Some(rule_state(r)),
        cidrlist: Some(r.cidrs.join(",")),
        tags: vec![],
        vmguestip: r.vm_ip.map(|v| v.ip().to_string()),
        networkid: Some(r.network_id.into_uuid()),
        fordisplay: Some(r.display),
    }
}

fn fw_response(r: &RuleRow) -> FirewallResponse {
    let ingress = r.traffic == "Ingress";
    FirewallResponse {
        id: Some(r.id.into_uuid()),
        protocol: Some(r.protocol.clone()),
        startport: r.start_port.map(i64::from),
        endport: r.end_port.map(i64::from),
        ipaddressid: r.public_ip_id.filter(|_| ingress).map(Into::into),
        ipaddress: r.address.filter(|_| ingress).map(|a| a.ip().to_string()),
        networkid: Some(r.network_id.into_uuid()),
        state: Some(rule_state(r)),
        cidrlist: Some(r.cidrs.join(",")),
        icmptype: r.icmp_type.map(i64::from),
        icmpcode: r.icmp_code.map(i64::from),
        tags: vec![],
        fordisplay: Some(r.display),
        destcidrlist: (!ingress).then(|| r.dest_cidrs.join(",")),
        traffictype: Some(r.traffic.clone()),
    }
}

// --- lookups ---

async fn network(ctx: &Ctx, id: NetworkId) -> Result<Option<NetworkRow>> {
    let f = crate::db::ListFilter {
        id: Some(id.into_uuid()),
        ..Default::default()
    };
    Ok(
        crate::db::networks::network_list(&ctx.pool, &f, None, &Default::default())
            .await?
            .0
            .into_iter()
            .next(),
    )
}

/// The network, if the caller may act for its owner; `missing` otherwise.
async fn usable_network(
    ctx: &Ctx,
    caller: &Caller,
    id: NetworkId,
    missing: impl Fn() -> Error,
) -> Result<NetworkRow> {
    let net = network(ctx, id).await?.ok_or_else(&missing)?;
    match net.account_id {
        Some(owner) if super::projects::may_use(ctx, caller, owner.into_uuid()).await? => Ok(net),
        None if caller.is_root_admin() => Ok(net),
        _ => Err(missing()),
    }
}

/// The address, if the caller may act for its owner; `missing` otherwise.
async fn usable_ip(
    ctx: &Ctx,
    caller: &Caller,
    id: PublicIpId,
    missing: impl Fn() -> Error,
) -> Result<PublicIpRow> {
    let ip = db::public_ip_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(&missing)?;
    if !super::projects::may_use(ctx, caller, ip.account_id.into_uuid()).await? {
        return Err(missing());
    }
    Ok(ip)
}

/// The rule, if the caller may act for its owner and it is of this kind.
async fn usable_rule(
    ctx: &Ctx,
    caller: &Caller,
    id: FirewallRuleId,
    kind: (Purpose, &str),
    missing: impl Fn() -> Error,
) -> Result<RuleRow> {
    let r = db::rule_fetch(&ctx.pool, id).await?.ok_or_else(&missing)?;
    if !super::projects::may_use(ctx, caller, r.account_id.into_uuid()).await? {
        return Err(missing());
    }
    if r.purpose != kind.0.as_str() || r.traffic != kind.1 {
        return Err(refuse(format!(
            "Unable to find {id} having purpose {}",
            kind.0.as_str()
        )));
    }
    Ok(r)
}

async fn offering_has(ctx: &Ctx, net: &NetworkRow, s: Service) -> Result<bool> {
    Ok(super::network_offerings::fetch_any(ctx, net.offering_id)
        .await?
        .is_some_and(|o| has_service(&o, s)))
}

/// The caller's answer for an address after a change.
async fn ip_reply(ctx: &Ctx, caller: &Caller, id: PublicIpId) -> Result<IpAddressResponse> {
    let ip = db::public_ip_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("the public IP address vanished"))?;
    Ok(ip_response(caller, &ip))
}

async fn record(
    ctx: &Ctx,
    caller: &Caller,
    owner: (AccountId, DomainId),
    event_type: &str,
    description: String,
    resource: EventResource,
) -> Result<()> {
    let mut conn = ctx.pool.acquire().await?;
    event_for_owner(
        &mut conn,
        &caller.user,
        owner,
        event_type,
        description,
        Some(resource),
    )
    .await
}

/// The owners a list shows, as the `db` filters take them.
async fn list_owners(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<(Option<Vec<Uuid>>, bool)> {
    let (one, any, skip) = super::scope::owners(ctx, caller, p, super::scope::Fallback::Own)
        .await?
        .split();
    Ok(match (one, any) {
        (Some(a), _) => (Some(vec![a]), false),
        (None, ids) => (ids, skip),
    })
}

// --- associateIpAddress / disassociateIpAddress ---

const ASSOCIATE_PARAMS: &[&str] = &[
    "account",
    "domainid",
    "zoneid",
    "networkid",
    "projectid",
    "ipaddress",
    "fordisplay",
];

/// associateIpAddress's synchronous half: resolves the network (given, or the owner's only
/// isolated network of the zone), checks the owner's `public_ip` limit and takes an
/// address (Allocating), all in one transaction; the job applies and reports it.
pub async fn associate(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::AssociateIpAddress<'_>,
) -> Result<Uuid> {
    let wanted = match r.ipaddress() {
        None => None,
        Some(a) => match a.trim().parse::<IpAddr>() {
            Ok(ip @ IpAddr::V4(_)) => Some(IpNetwork::from(ip)),
            _ => return Err(refuse(format!("Invalid IP address {}", shown(a)))),
        },
    };
    let display = r.fordisplay().unwrap_or(true);
    let named_owner = r.account().is_some() || r.projectid().is_some();
    let (owner, owner_domain, owner_name) =
        match super::projects::owner_for_create(ctx, caller, r.wire()).await? {
            Some(pr) => (pr.account_id, pr.domain_id, pr.account_name.clone()),
            None => super::sshkeys::owner(ctx, caller, r.wire()).await?,
        };
    let net = match (r.networkid(), r.zoneid()) {
        (Some(id), zone) => {
            let net = usable_network(ctx, caller, id, || refuse("Invalid network id is given"))
                .await?;
            if zone.is_some_and(|z| z != net.zone_id) {
                return Err(refuse(format!(
                    "Network id={id} doesn't belong to zone {}",
                    shown(&zone.map(|z| z.to_string()).unwrap_or_default())
                )));
            }
            if named_owner && net.account_id != Some(owner) {
                return Err(refuse(
                    "The owner of the network is not the same as owner of the IP",
                ));
            }
            net
        }
        (None, Some(zone)) => {
            let z = crate::db::topology::zone_fetch(&ctx.pool, zone)
                .await?
                .ok_or_else(|| super::not_found(r.wire(), "zoneid"))?;
            let nf = crate::db::networks::NetworkFilter {
                zone_id: Some(zone),
                guest_type: Some("Isolated"),
                account_ids: Some(vec![owner.into_uuid()]),
                ..Default::default()
            };
            let (nets, _) = crate::db::networks::network_search(
                &ctx.pool,
                &Default::default(),
                &nf,
                &Default::default(),
            )
            .await?;
            let mut mine = nets.into_iter().filter(|n| n.account_id == Some(owner));
            match (mine.next(), mine.next()) {
                (Some(n), None) => n,
                (None, _) => {
                    let domain = crate::db::accounts::domain_fetch(&ctx.pool, owner_domain)
                        .await?
                        .map(|d| d.name)
                        .unwrap_or_default();
                    return Err(refuse(format!(
                        "Account name={owner_name} domain={domain} doesn't have virtual networks in zone={}",
                        z.name
                    )));
                }
                (Some(_), Some(_)) => {
                    return Err(refuse(
                        "Account has more than one isolated network in the zone",
                    ))
                }
            }
        }
        (None, None) => return Err(refuse(
            "Unable to figure out zone to assign IP to. Please specify either zoneId, or networkId, or vpcId in the call",
        )),
    };
    let (Some(account_id), Some(domain_id)) = (net.account_id, net.domain_id) else {
        return Err(refuse("In zone of type Advanced ip address can be associated only to the network of guest type Isolated with the SourceNat enabled"));
    };
    if net.traffic_type != "Guest" {
        return Err(refuse(
            "Ip address can be associated to the network with trafficType Guest",
        ));
    }
    if !offering_has(ctx, &net, Service::SourceNat).await? {
        return Err(refuse("In zone of type Advanced ip address can be associated only to the network of guest type Isolated with the SourceNat enabled"));
    }
    let mut tx = ctx.pool.begin().await?;
    crate::services::limits::admit(
        ctx,
        &mut tx,
        account_id,
        &[(crate::rules::limits::ResourceKind::PublicIp, 1)],
    )
    .await?;
    let id = db::public_ip_allocate_in_txn(
        &mut tx,
        &db::Allocation {
            zone_id: net.zone_id,
            network_id: net.id,
            account_id,
            domain_id,
            state: "Allocating",
            display,
        },
        wanted,
    )
    .await?
    .ok_or_else(|| Error::from(ApiError::capacity("Insufficient address capacity")))?;
    tx.commit().await?;
    Ok(id.into_uuid())
}

/// associateIpAddress's job: the router takes the address, then it is Allocated. A failed
/// apply gives the address back.
pub async fn associate_job(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::AssociateIpAddress<'_>,
) -> Result<Reply> {
    read_all(r.wire(), ASSOCIATE_PARAMS);
    let id = PublicIpId::from(created_id(r.wire())?);
    let ip = db::public_ip_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("the public IP address vanished"))?;
    if let Err(e) = crate::services::networks::apply(ctx, ip.network_id).await {
        db::public_ip_delete(&ctx.pool, id).await?;
        return Err(e);
    }
    db::public_ip_set_state(&ctx.pool, id, "Allocated").await?;
    record(
        ctx,
        caller,
        (ip.account_id, ip.domain_id),
        "NET.IPASSIGN",
        format!("Assigned public IP address {}", ip.address.ip()),
        EventResource::new(ResourceType::IpAddress, id, ip.address.ip().to_string()),
    )
    .await?;
    Ok(Reply::object(
        "ipaddress",
        &ip_reply(ctx, caller, id).await?,
    ))
}

/// disassociateIpAddress (a job): revokes the address's rules, applies, and gives the
/// address back. The source NAT address of a network that was implemented cannot be
/// given back (CloudStack 4.19+; 4.11 refused it always); a never-implemented network's
/// may, as CloudStack.
pub async fn disassociate(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DisassociateIpAddress<'_>,
) -> Result<Reply> {
    let ip = match (r.id(), r.ipaddress()) {
        (Some(_), Some(_)) => {
            return Err(refuse(
                "id parameter is mutually exclusive with ipaddress parameter",
            ))
        }
        (None, None) => return Err(refuse("Please specify either IP address or IP address ID")),
        (Some(id), None) => {
            usable_ip(ctx, caller, id, || {
                refuse(format!("Unable to find IP address by ID={id}"))
            })
            .await?
        }
        (None, Some(a)) => {
            let missing = || {
                refuse(format!(
                    "Unable to find IP address by IP address={}",
                    shown(a)
                ))
            };
            let address = a.trim().parse::<IpAddr>().map_err(|_| missing())?;
            let f = db::PublicIpFilter {
                address: Some(IpNetwork::from(address)),
                ..Default::default()
            };
            let mut found = None;
            for i in db::public_ip_list(&ctx.pool, &f).await?.0 {
                if super::projects::may_use(ctx, caller, i.account_id.into_uuid()).await? {
                    found = Some(i);
                    break;
                }
            }
            found.ok_or_else(missing)?
        }
    };
    let net = network(ctx, ip.network_id).await?;
    if ip.is_source_nat && net.as_ref().is_some_and(|n| n.state != "Allocated") {
        return Err(ApiError::internal(
            "IP address is used for source nat purposes and can not be disassociated.",
        )
        .into());
    }
    let mut tx = ctx.pool.begin().await?;
    if !db::public_ip_lock(&mut *tx, ip.id).await? {
        // Released meanwhile: CloudStack answers success for an address not allocated.
        return Ok(Reply::success());
    }
    db::public_ip_set_state(&mut *tx, ip.id, "Releasing").await?;
    db::rules_revoke_of_ip(&mut *tx, ip.id, None).await?;
    tx.commit().await?;
    crate::services::networks::apply(ctx, ip.network_id).await?;
    db::public_ip_delete(&ctx.pool, ip.id).await?;
    record(
        ctx,
        caller,
        (ip.account_id, ip.domain_id),
        "NET.IPRELEASE",
        format!("Released public IP address {}", ip.address.ip()),
        EventResource::new(ResourceType::IpAddress, ip.id, ip.address.ip().to_string()),
    )
    .await?;
    Ok(Reply::success())
}

/// listPublicIpAddresses. Stratus keeps a row per *held* address only, so the list is
/// always of allocated addresses: `allocatedonly=false` (and `state=Free`) add no free
/// ones (CloudStack would list every free address of the ranges to admins).
pub async fn list(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListPublicIpAddresses<'_>,
) -> Result<Reply> {
    let page = r.wire().page(ctx.page_size())?;
    let (account_ids, skip_projects) = list_owners(ctx, caller, r.wire()).await?;
    // Every filter is read before the early answers below.
    let address = r.ipaddress();
    let _allocated_only = r.allocatedonly();
    let for_virtual = r.forvirtualnetwork();
    let for_lb = r.forloadbalancing();
    let source_network = r.networkid();
    let f = db::PublicIpFilter {
        id: r.id(),
        address: None,
        keyword: r
            .keyword()
            .filter(|_| address.is_none())
            .map(str::to_string),
        zone_id: r.zoneid(),
        network_id: r.associatednetworkid(),
        range_id: r.vlanid(),
        physical_network_id: r.physicalnetworkid(),
        account_ids,
        skip_projects,
        is_source_nat: r.issourcenat(),
        is_static_nat: r.isstaticnat(),
        state: r.state().map(str::to_string),
        display: r.fordisplay(),
        offset: page.offset,
        limit: page.limit,
    };
    let none = || {
        Ok(Reply::list(
            "publicipaddress",
            0,
            Vec::<IpAddressResponse>::new(),
        ))
    };
    // Only virtual-network (public) addresses, none for load balancing, and no public
    // network rows a `networkid` could name.
    if for_virtual == Some(false) || for_lb == Some(true) || source_network.is_some() {
        return none();
    }
    let address = match address {
        None => None,
        Some(a) => match a.trim().parse::<IpAddr>() {
            Ok(ip) => Some(IpNetwork::from(ip)),
            Err(_) => return none(),
        },
    };
    let (rows, total) = db::public_ip_list(&ctx.pool, &db::PublicIpFilter { address, ..f }).await?;
    let items: Vec<IpAddressResponse> = rows.iter().map(|i| ip_response(caller, i)).collect();
    Ok(Reply::list("publicipaddress", total, items))
}

// --- static NAT ---

/// enableStaticNat (synchronous): everything to the address goes to the VM's guest
/// address (and the VM leaves from it), as far as the address's firewall lets it.
pub async fn enable_static_nat(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::EnableStaticNat<'_>,
) -> Result<Reply> {
    let ip_id = r.ipaddressid();
    let vm_id = r.virtualmachineid();
    let guest = r.vmguestip();
    let ip = usable_ip(ctx, caller, ip_id, || {
        refuse(format!("Unable to find ip address by id {ip_id}"))
    })
    .await?;
    if let Some(n) = r.networkid() {
        if n != ip.network_id {
            return Err(refuse(format!(
                "Invalid network Id={n}. IP is associated with a different network than passed network id"
            )));
        }
    }
    let net = network(ctx, ip.network_id)
        .await?
        .ok_or_else(|| refuse("Unable to find network by id"))?;
    let bad_vm = || {
        refuse(format!(
            "Can't enable static nat for the address id={ip_id}, invalid virtual machine id specified ({vm_id})."
        ))
    };
    let vm = crate::db::vms::vm_fetch(&ctx.pool, vm_id)
        .await?
        .filter(|v| v.removed.is_none() && v.account_id == ip.account_id)
        .ok_or_else(bad_vm)?;
    if matches!(
        vm.state,
        VmState::Destroyed | VmState::Expunging | VmState::Expunged
    ) {
        return Err(bad_vm());
    }
    let nic = db::nic_ip_in_network(&ctx.pool, vm.id, net.id)
        .await?
        .ok_or_else(|| refuse("Vm doesn't belong to the network with specified id"))?;
    if !offering_has(ctx, &net, Service::StaticNat).await? {
        return Err(refuse("Unable to create static nat rule; StaticNat service is not supported in network with specified id"));
    }
    if let Some(g) = guest {
        if g.trim().parse::<IpAddr>().ok() != Some(nic.ip()) {
            return Err(refuse(format!(
                "VM ip {} address not belongs to the vm",
                shown(g)
            )));
        }
    }
    if ip.is_source_nat {
        return Err(refuse(format!(
            "Can't enable static, ip address {} is a sourceNat ip address",
            ip_text(&ip)
        )));
    }
    if ip.state != "Allocated" {
        return Err(refuse(format!(
            "Ip address id={ip_id} not ready for static nat yet"
        )));
    }
    let mut tx = ctx.pool.begin().await?;
    crate::db::networks::network_lock(&mut *tx, net.id).await?;
    if !db::public_ip_lock(&mut *tx, ip.id).await? {
        return Err(refuse(format!("Unable to find ip address by id {ip_id}")));
    }
    let ip = db::public_ip_fetch(&mut *tx, ip.id)
        .await?
        .ok_or_else(|| refuse(format!("Unable to find ip address by id {ip_id}")))?;
    let forwards = db::rule_list(
        &mut *tx,
        &RuleFilter {
            public_ip_id: Some(ip.id),
            purpose: Some(Purpose::PortForwarding.as_str()),
            live_only: true,
            ..Default::default()
        },
    )
    .await?
    .1;
    if forwards > 0 {
        return Err(conflict(format!(
            "Failed to enable static nat for the ip address {} as it already has PortForwarding rules assigned",
            ip_text(&ip)
        )));
    }
    match ip.vm_id {
        Some(v) if v == vm.id => return Ok(Reply::success()),
        Some(_) => {
            return Err(conflict(format!(
                "Failed to enable static for the ip address {} and vm id={vm_id} as it's already assigned to antoher vm",
                ip_text(&ip)
            )))
        }
        None => {}
    }
    if let Some(other) = db::static_nat_of_guest(&mut *tx, net.id, nic, ip.id).await? {
        let o = db::public_ip_fetch(&mut *tx, other).await?;
        return Err(conflict(format!(
            "Failed to enable static nat on the  ip {} with Id {} as the vm {} with Id {} is already associated with another public ip {} with id {other}",
            ip.address.ip(),
            ip.id,
            vm.name,
            vm.id,
            o.map(|o| o.address.ip().to_string()).unwrap_or_default(),
        )));
    }
    db::public_ip_set_static_nat(&mut *tx, ip.id, Some((vm.id, nic))).await?;
    event_for_owner(
        &mut tx,
        &caller.user,
        (ip.account_id, ip.domain_id),
        "STATICNAT.ENABLE",
        format!(
            "Enabled static NAT from {} to {} ({})",
            ip.address.ip(),
            nic.ip(),
            vm.name
        ),
        Some(EventResource::new(
            ResourceType::IpAddress,
            ip.id,
            ip.address.ip().to_string(),
        )),
    )
    .await?;
    tx.commit().await?;
    if let Err(e) = crate::services::networks::apply(ctx, ip.network_id).await {
        db::public_ip_set_static_nat(&ctx.pool, ip.id, None).await?;
        return Err(e);
    }
    Ok(Reply::success())
}

/// disableStaticNat (a job): the address's firewall rules are revoked with it, as
/// CloudStack's `revokeFirewallRulesForIp`.
pub async fn disable_static_nat(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DisableStaticNat<'_>,
) -> Result<Reply> {
    let id = r.ipaddressid();
    let ip = usable_ip(ctx, caller, id, || {
        refuse(format!("Unable to find IP address by ID {id}"))
    })
    .await?;
    if ip.vm_id.is_none() {
        return Err(refuse(
            "Specified IP address id is not associated with any vm Id",
        ));
    }
    let mut tx = ctx.pool.begin().await?;
    crate::db::networks::network_lock(&mut *tx, ip.network_id).await?;
    db::public_ip_lock(&mut *tx, ip.id).await?;
    db::rules_revoke_of_ip(&mut *tx, ip.id, Some(Purpose::Firewall.as_str())).await?;
    db::public_ip_set_static_nat(&mut *tx, ip.id, None).await?;
    tx.commit().await?;
    crate::services::networks::apply(ctx, ip.network_id).await?;
    db::rules_delete_revoked_of_ip(&ctx.pool, ip.id).await?;
    record(
        ctx,
        caller,
        (ip.account_id, ip.domain_id),
        "STATICNAT.DISABLE",
        format!("Disabled static NAT on {}", ip.address.ip()),
        EventResource::new(ResourceType::IpAddress, ip.id, ip.address.ip().to_string()),
    )
    .await?;
    Ok(Reply::success())
}

// --- rules: shared ---

fn existing(r: &RuleRow) -> Existing {
    Existing {
        id: r.id.to_string(),
        purpose: if r.purpose == "PortForwarding" {
            Purpose::PortForwarding
        } else {
            Purpose::Firewall
        },
        protocol: rules::protocol_from_stored(&r.protocol).unwrap_or(RuleProtocol::All),
        start_port: r.start_port,
        end_port: r.end_port,
        icmp_type: r.icmp_type,
        icmp_code: r.icmp_code,
        cidrs: r.cidrs.clone(),
    }
}

fn candidate(id: FirewallRuleId, purpose: Purpose, m: &RuleMatch, cidrs: &[String]) -> Existing {
    Existing {
        id: id.to_string(),
        purpose,
        protocol: m.protocol,
        start_port: m.start_port,
        end_port: m.end_port,
        icmp_type: m.icmp_type,
        icmp_code: m.icmp_code,
        cidrs: cidrs.to_vec(),
    }
}

fn check_conflicts(new: &Existing, with: &[RuleRow]) -> Result<()> {
    let others: Vec<Existing> = with.iter().map(existing).collect();
    rules::detect_conflict(new, &others).map_err(|c| match c {
        Conflict::Rule(t) => conflict(t),
        Conflict::Param(t) => refuse(t),
    })
}

/// A firewall rule's `type`: `user` (the default); `system` rules are root admins' and
/// Stratus has none.
fn rule_type(caller: &Caller, t: Option<&str>) -> Result<()> {
    match t.map(str::trim) {
        None => Ok(()),
        Some(t) if t.eq_ignore_ascii_case("user") => Ok(()),
        Some(t) if t.eq_ignore_ascii_case("system") && !caller.is_root_admin() => {
            Err(ApiError::new(
                ErrorCode::Account,
                "Only root admin can create the system wide firewall rule",
            )
            .into())
        }
        Some(t) if t.eq_ignore_ascii_case("system") => Err(refuse(
            "System firewall rules are not available: create user rules on the address or network",
        )),
        Some(t) => Err(refuse(format!(
            "Invalid firewall rule type {}: user or system",
            shown(t)
        ))),
    }
}

/// The jobs' half of the creates: the router takes the rule (and its related ones), then
/// they are Active; a failed apply deletes them and says so.
async fn activate(
    ctx: &Ctx,
    caller: &Caller,
    id: FirewallRuleId,
    event_type: &str,
    failed: &str,
) -> Result<RuleRow> {
    let rule = db::rule_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("the rule vanished"))?;
    if let Err(e) = crate::services::networks::apply(ctx, rule.network_id).await {
        tracing::warn!(rule = %id, error = %e, "applying a new rule failed");
        db::rule_delete(&ctx.pool, id).await?;
        return Err(ApiError::internal(failed.to_string()).into());
    }
    let related = db::rule_list(
        &ctx.pool,
        &RuleFilter {
            network_id: Some(rule.network_id),
            ..Default::default()
        },
    )
    .await?
    .0
    .into_iter()
    .filter(|r| r.related_id == Some(id))
    .map(|r| r.id);
    let ids: Vec<FirewallRuleId> = std::iter::once(id).chain(related).collect();
    db::rules_set_state(&ctx.pool, &ids, "Active").await?;
    let rule = db::rule_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("the rule vanished"))?;
    record(
        ctx,
        caller,
        (rule.account_id, rule.domain_id),
        event_type,
        format!(
            "Added {} rule {} ({})",
            rule.purpose.to_lowercase(),
            rule.id,
            rule.protocol
        ),
        EventResource::new(ResourceType::FirewallRule, rule.id, rule.id.to_string()),
    )
    .await?;
    Ok(rule)
}

/// The deletes' job: revoke (with related rules), apply, delete.
async fn revoke(ctx: &Ctx, caller: &Caller, rule: &RuleRow, event_type: &str) -> Result<Reply> {
    let mut tx = ctx.pool.begin().await?;
    crate::db::networks::network_lock(&mut *tx, rule.network_id).await?;
    db::rule_revoke(&mut *tx, rule.id).await?;
    tx.commit().await?;
    crate::services::networks::apply(ctx, rule.network_id).await?;
    db::rule_delete(&ctx.pool, rule.id).await?;
    record(
        ctx,
        caller,
        (rule.account_id, rule.domain_id),
        event_type,
        format!("Deleted {} rule {}", rule.purpose.to_lowercase(), rule.id),
        EventResource::new(ResourceType::FirewallRule, rule.id, rule.id.to_string()),
    )
    .await?;
    Ok(Reply::success())
}

/// A rule list's owners and filters; an address or network the caller may not see lists
/// nothing.
async fn rule_list(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    base: RuleFilter,
) -> Result<(Vec<RuleRow>, i64)> {
    let page = p.page(ctx.page_size())?;
    let (account_ids, skip_projects) = list_owners(ctx, caller, p).await?;
    let f = RuleFilter {
        account_ids,
        skip_projects,
        offset: page.offset,
        limit: page.limit,
        ..base
    };
    db::rule_list(&ctx.pool, &f).await
}

// --- port forwarding ---

const PF_PARAMS: &[&str] = &[
    "ipaddressid",
    "privateport",
    "privateendport",
    "protocol",
    "publicport",
    "publicendport",
    "virtualmachineid",
    "vmguestip",
    "networkid",
    "openfirewall",
    "cidrlist",
    "fordisplay",
];

/// createPortForwardingRule's synchronous half: every check, the conflicts (537), and the
/// rule recorded with its openfirewall firewall rule.
pub async fn create_port_forward(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreatePortForwardingRule<'_>,
) -> Result<Uuid> {
    let ip_id = r.ipaddressid();
    let vm_id = r.virtualmachineid();
    let open = r.openfirewall().unwrap_or(true);
    let display = r.fordisplay().unwrap_or(true);
    let cidrs =
        rules::cidrs(r.cidrlist().unwrap_or(&[]), rules::SOURCE_CIDRS_ERROR).map_err(refuse)?;
    let ip = usable_ip(ctx, caller, ip_id, || {
        refuse(format!(
            "Unable to create port forwarding rule; ip id={ip_id} doesn't exist in the system"
        ))
    })
    .await?;
    if ip.state != "Allocated" {
        return Err(refuse(format!(
            "Unable to create PF rule, invalid IP address id {ip_id}"
        )));
    }
    if ip.vm_id.is_some() {
        return Err(refuse(format!(
            "Unable to create port forwarding rule; ip id={ip_id} has static nat enabled"
        )));
    }
    let net = network(ctx, ip.network_id)
        .await?
        .ok_or_else(|| refuse("Unable to find network by id"))?;
    if r.networkid().is_some_and(|n| n != net.id) {
        return Err(refuse(format!(
            "Ip address {} is not assigned to the network {}",
            ip_text(&ip),
            net.id
        )));
    }
    if !offering_has(ctx, &net, Service::PortForwarding).await? {
        return Err(refuse(format!(
            "Service PortForwarding is not supported in the network id={}",
            net.id
        )));
    }
    let [ps, pe, vs, ve] = rules::forward_ports(
        (r.publicport(), r.publicendport()),
        (r.privateport(), r.privateendport()),
    )
    .map_err(refuse)?;
    let protocol =
        rules::protocol(r.protocol(), rules::PORT_FORWARDING, &ip.zone_name).map_err(refuse)?;
    let bad_vm = || {
        refuse(format!(
            "Unable to create port forwarding rule on address {}, invalid virtual machine id specified ({vm_id}).",
            ip_text(&ip)
        ))
    };
    let vm = crate::db::vms::vm_fetch(&ctx.pool, vm_id)
        .await?
        .filter(|v| v.removed.is_none() && v.account_id == ip.account_id)
        .ok_or_else(bad_vm)?;
    if matches!(
        vm.state,
        VmState::Destroyed | VmState::Expunging | VmState::Expunged
    ) {
        return Err(refuse(format!("Invalid user vm: {vm_id}")));
    }
    let nic = db::nic_ip_in_network(&ctx.pool, vm.id, net.id)
        .await?
        .ok_or_else(|| refuse("Vm doesn't belong to network associated with ipAddress"))?;
    if let Some(g) = r.vmguestip() {
        match g.trim().parse::<IpAddr>() {
            Ok(a @ IpAddr::V4(_)) if a == nic.ip() => {}
            Ok(IpAddr::V4(_)) => return Err(refuse("IP Address is not in the VM nic's network ")),
            _ => return Err(refuse("Invalid vm ip address")),
        }
    }
    if !open && !cidrs.is_empty() {
        return Err(refuse("cidrlist applies to the firewall rule openfirewall=true creates: with openfirewall=false, open the port with createFirewallRule"));
    }
    let m = RuleMatch {
        protocol,
        start_port: Some(ps),
        end_port: Some(pe),
        icmp_type: None,
        icmp_code: None,
    };
    let id = FirewallRuleId::new_v4();
    let fw_cidrs = if cidrs.is_empty() {
        vec!["0.0.0.0/0".to_string()]
    } else {
        cidrs.clone()
    };
    let mut tx = ctx.pool.begin().await?;
    crate::db::networks::network_lock(&mut *tx, net.id).await?;
    if !db::public_ip_lock(&mut *tx, ip.id).await? {
        return Err(refuse(format!(
            "Unable to create PF rule, invalid IP address id {ip_id}"
        )));
    }
    let now = db::public_ip_fetch(&mut *tx, ip.id).await?;
    if now.as_ref().is_some_and(|i| i.vm_id.is_some()) {
        return Err(refuse(format!(
            "Unable to create port forwarding rule; ip id={ip_id} has static nat enabled"
        )));
    }
    let on_ip = db::rule_list(
        &mut *tx,
        &RuleFilter {
            public_ip_id: Some(ip.id),
            traffic: Some("Ingress"),
            live_only: true,
            ..Default::default()
        },
    )
    .await?
    .0;
    check_conflicts(&candidate(id, Purpose::PortForwarding, &m, &[]), &on_ip)?;
    let fw_id = FirewallRuleId::new_v4();
    if open {
        check_conflicts(&candidate(fw_id, Purpose::Firewall, &m, &fw_cidrs), &on_ip)?;
    }
    let owner = (ip.account_id, ip.domain_id);
    db::rule_insert(
        &mut *tx,
        &NewRule {
            id,
            network_id: net.id,
            public_ip_id: Some(ip.id),
            purpose: Purpose::PortForwarding.as_str(),
            traffic: "Ingress",
            protocol: rules::protocol_str(protocol),
            start_port: Some(ps),
            end_port: Some(pe),
            icmp_type: None,
            icmp_code: None,
            cidrs: &cidrs,
            dest_cidrs: &[],
            vm: Some((vm.id, nic)),
            private_ports: Some((vs, ve)),
            related_id: None,
            account_id: owner.0,
            domain_id: owner.1,
            display,
        },
    )
    .await?;
    if open {
        db::rule_insert(
            &mut *tx,
            &NewRule {
                id: fw_id,
                purpose: Purpose::Firewall.as_str(),
                cidrs: &fw_cidrs,
                vm: None,
                private_ports: None,
                related_id: Some(id),
                network_id: net.id,
                public_ip_id: Some(ip.id),
                traffic: "Ingress",
                protocol: rules::protocol_str(protocol),
                start_port: Some(ps),
                end_port: Some(pe),
                icmp_type: None,
                icmp_code: None,
                dest_cidrs: &[],
                account_id: owner.0,
                domain_id: owner.1,
                display,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(id.into_uuid())
}

pub async fn create_port_forward_job(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreatePortForwardingRule<'_>,
) -> Result<Reply> {
    read_all(r.wire(), PF_PARAMS);
    let id = FirewallRuleId::from(created_id(r.wire())?);
    let rule = activate(
        ctx,
        caller,
        id,
        "NET.RULEADD",
        "Failed to apply port forwarding rule",
    )
    .await?;
    Ok(Reply::object("portforwardingrule", &pf_response(&rule)))
}

pub async fn delete_port_forward(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeletePortForwardingRule<'_>,
) -> Result<Reply> {
    let id = r.id();
    let rule = usable_rule(
        ctx,
        caller,
        id,
        (Purpose::PortForwarding, "Ingress"),
        || refuse(format!("Unable to find port forwarding rule by ID={id}")),
    )
    .await?;
    revoke(ctx, caller, &rule, "NET.RULEDELETE").await
}

pub async fn list_port_forwards(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListPortForwardingRules<'_>,
) -> Result<Reply> {
    let base = RuleFilter {
        id: r.id(),
        public_ip_id: r.ipaddressid(),
        network_id: r.networkid(),
        display: r.fordisplay(),
        purpose: Some(Purpose::PortForwarding.as_str()),
        keyword: r.keyword().map(str::to_string),
        ..Default::default()
    };
    let (rows, total) = rule_list(ctx, caller, r.wire(), base).await?;
    let items: Vec<FirewallRuleResponse> = rows.iter().map(pf_response).collect();
    Ok(Reply::list("portforwardingrule", total, items))
}

// --- firewall (ingress) ---

const FW_PARAMS: &[&str] = &[
    "ipaddressid",
    "protocol",
    "startport",
    "endport",
    "cidrlist",
    "icmptype",
    "icmpcode",
    "type",
    "fordisplay",
];

/// createFirewallRule's synchronous half.
pub async fn create_firewall(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateFirewallRule<'_>,
) -> Result<Uuid> {
    let ip_id = r.ipaddressid();
    rule_type(caller, r.r#type())?;
    let display = r.fordisplay().unwrap_or(true);
    let ip = usable_ip(ctx, caller, ip_id, || {
        refuse("Unable to create firewall rule; couldn't locate IP address by id in the system")
    })
    .await?;
    let protocol = rules::protocol(r.protocol(), rules::INGRESS, &ip.zone_name).map_err(refuse)?;
    let m = rules::firewall_match(
        protocol,
        r.startport(),
        r.endport(),
        r.icmptype(),
        r.icmpcode(),
        &ip.network_id.to_string(),
    )
    .map_err(refuse)?;
    let mut cidrs =
        rules::cidrs(r.cidrlist().unwrap_or(&[]), rules::SOURCE_CIDRS_ERROR).map_err(refuse)?;
    if cidrs.is_empty() {
        cidrs.push("0.0.0.0/0".into());
    }
    if ip.state != "Allocated" {
        return Err(refuse(format!(
            "Ip address id={ip_id} not ready for firewall rules yet"
        )));
    }
    let net = network(ctx, ip.network_id)
        .await?
        .ok_or_else(|| refuse(format!("Unable to create firewall rule for the IP address ID={ip_id} as IP is not associated with any network and no networkId is passed in")))?;
    if !offering_has(ctx, &net, Service::Firewall).await? {
        return Err(refuse(format!(
            "Service Firewall is not supported in the network id={}",
            net.id
        )));
    }
    let id = FirewallRuleId::new_v4();
    let mut tx = ctx.pool.begin().await?;
    crate::db::networks::network_lock(&mut *tx, net.id).await?;
    if !db::public_ip_lock(&mut *tx, ip.id).await? {
        return Err(refuse(
            "Unable to create firewall rule; couldn't locate IP address by id in the system",
        ));
    }
    let on_ip = db::rule_list(
        &mut *tx,
        &RuleFilter {
            public_ip_id: Some(ip.id),
            traffic: Some("Ingress"),
            live_only: true,
            ..Default::default()
        },
    )
    .await?
    .0;
    check_conflicts(&candidate(id, Purpose::Firewall, &m, &cidrs), &on_ip)?;
    db::rule_insert(
        &mut *tx,
        &NewRule {
            id,
            network_id: net.id,
            public_ip_id: Some(ip.id),
            purpose: Purpose::Firewall.as_str(),
            traffic: "Ingress",
            protocol: rules::protocol_str(m.protocol),
            start_port: m.start_port,
            end_port: m.end_port,
            icmp_type: m.icmp_type,
            icmp_code: m.icmp_code,
            cidrs: &cidrs,
            dest_cidrs: &[],
            vm: None,
            private_ports: None,
            related_id: None,
            account_id: ip.account_id,
            domain_id: ip.domain_id,
            display,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id.into_uuid())
}

pub async fn create_firewall_job(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateFirewallRule<'_>,
) -> Result<Reply> {
    read_all(r.wire(), FW_PARAMS);
    let id = FirewallRuleId::from(created_id(r.wire())?);
    let rule = activate(
        ctx,
        caller,
        id,
        "FIREWALL.OPEN",
        "Failed to create firewall rule",
    )
    .await?;
    Ok(Reply::object("firewallrule", &fw_response(&rule)))
}

pub async fn delete_firewall(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteFirewallRule<'_>,
) -> Result<Reply> {
    let id = r.id();
    let rule = usable_rule(ctx, caller, id, (Purpose::Firewall, "Ingress"), || {
        refuse(format!("Unable to find firewall rule by ID={id}"))
    })
    .await?;
    revoke(ctx, caller, &rule, "FIREWALL.CLOSE").await
}

pub async fn list_firewall(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListFirewallRules<'_>,
) -> Result<Reply> {
    let base = RuleFilter {
        id: r.id(),
        public_ip_id: r.ipaddressid(),
        network_id: r.networkid(),
        display: r.fordisplay(),
        purpose: Some(Purpose::Firewall.as_str()),
        traffic: Some("Ingress"),
        keyword: r.keyword().map(str::to_string),
        ..Default::default()
    };
    let (rows, total) = rule_list(ctx, caller, r.wire(), base).await?;
    let items: Vec<FirewallResponse> = rows.iter().map(fw_response).collect();
    Ok(Reply::list("firewallrule", total, items))
}

// --- egress firewall ---

const EGRESS_PARAMS: &[&str] = &[
    "networkid",
    "protocol",
    "startport",
    "endport",
    "cidrlist",
    "destcidrlist",
    "icmptype",
    "icmpcode",
    "type",
    "fordisplay",
];

/// createEgressFirewallRule's synchronous half. With the default offering (egress deny)
/// a rule allows what it matches; with egress allow, it denies.
pub async fn create_egress(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateEgressFirewallRule<'_>,
) -> Result<Uuid> {
    let nid = r.networkid();
    rule_type(caller, r.r#type())?;
    let display = r.fordisplay().unwrap_or(true);
    let net = usable_network(ctx, caller, nid, || refuse("Invalid networkId is given")).await?;
    let (Some(account_id), Some(domain_id)) = (net.account_id, net.domain_id) else {
        return Err(refuse(
            "Egress firewall rules are not supported for Shared  networks",
        ));
    };
    let guest = match net.net_cidr {
        Some(IpNetwork::V4(c)) => Ipv4Net::containing(c.network(), c.prefix()),
        _ => return Err(Error::internal("an isolated network without its CIDR")),
    };
    let protocol = rules::protocol(r.protocol(), rules::EGRESS, &net.zone_name).map_err(refuse)?;
    let m = rules::firewall_match(
        protocol,
        r.startport(),
        r.endport(),
        r.icmptype(),
        r.icmpcode(),
        &nid.to_string(),
    )
    .map_err(refuse)?;
    let cidrs = rules::egress_sources(r.cidrlist(), guest).map_err(refuse)?;
    let dest =
        rules::cidrs(r.destcidrlist().unwrap_or(&[]), rules::DEST_CIDRS_ERROR).map_err(refuse)?;
    if !offering_has(ctx, &net, Service::Firewall).await? {
        return Err(refuse(format!(
            "Service Firewall is not supported in the network id={}",
            net.id
        )));
    }
    let id = FirewallRuleId::new_v4();
    let mut tx = ctx.pool.begin().await?;
    crate::db::networks::network_lock(&mut *tx, net.id).await?;
    let of_net = db::rule_list(
        &mut *tx,
        &RuleFilter {
            network_id: Some(net.id),
            traffic: Some("Egress"),
            live_only: true,
            ..Default::default()
        },
    )
    .await?
    .0;
    check_conflicts(&candidate(id, Purpose::Firewall, &m, &cidrs), &of_net)?;
    db::rule_insert(
        &mut *tx,
        &NewRule {
            id,
            network_id: net.id,
            public_ip_id: None,
            purpose: Purpose::Firewall.as_str(),
            traffic: "Egress",
            protocol: rules::protocol_str(m.protocol),
            start_port: m.start_port,
            end_port: m.end_port,
            icmp_type: m.icmp_type,
            icmp_code: m.icmp_code,
            cidrs: &cidrs,
            dest_cidrs: &dest,
            vm: None,
            private_ports: None,
            related_id: None,
            account_id,
            domain_id,
            display,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id.into_uuid())
}

pub async fn create_egress_job(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateEgressFirewallRule<'_>,
) -> Result<Reply> {
    read_all(r.wire(), EGRESS_PARAMS);
    let id = FirewallRuleId::from(created_id(r.wire())?);
    let rule = activate(
        ctx,
        caller,
        id,
        "FIREWALL.EGRESS.OPEN",
        "Failed to create firewall rule",
    )
    .await?;
    Ok(Reply::object("firewallrule", &fw_response(&rule)))
}

pub async fn delete_egress(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteEgressFirewallRule<'_>,
) -> Result<Reply> {
    let id = r.id();
    let rule = usable_rule(ctx, caller, id, (Purpose::Firewall, "Egress"), || {
        refuse("Unable to find egress firewall rule by id")
    })
    .await?;
    revoke(ctx, caller, &rule, "FIREWALL.EGRESS.CLOSE").await
}

pub async fn list_egress(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListEgressFirewallRules<'_>,
) -> Result<Reply> {
    let base = RuleFilter {
        id: r.id(),
        public_ip_id: r.ipaddressid(),
        network_id: r.networkid(),
        display: r.fordisplay(),
        purpose: Some(Purpose::Firewall.as_str()),
        traffic: Some("Egress"),
        keyword: r.keyword().map(str::to_string),
        ..Default::default()
    };
    let (rows, total) = rule_list(ctx, caller, r.wire(), base).await?;
    let items: Vec<FirewallResponse> = rows.iter().map(fw_response).collect();
    Ok(Reply::list("firewallrule", total, items))
}
