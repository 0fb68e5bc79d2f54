//! listRouters, stopRouter, startRouter, rebootRouter, destroyRouter (issue 15). A router
//! is a network namespace on a host (`services::networks`), answered in the shape of
//! CloudStack's router VM: libcloud's `ex_list_routers` and admins' scripts read `id`,
//! `name`, `state`, `publicip`, `guestnetworkid`.

use super::requests;
use crate::ids::RouterId;
use stratus_api::envelope::Reply;
use stratus_api::error::ApiError;
use stratus_api::types::DomainRouterResponse;

use super::list_filter;
use crate::ctx::Ctx;
use crate::db::routers::{self as rt, RouterListRow};
use crate::error::Result;
use crate::services::auth::Caller;

fn host(ip: Option<ipnetwork::IpNetwork>) -> Option<String> {
    ip.map(|i| i.ip().to_string())
}

fn response(x: &RouterListRow, admin: bool) -> DomainRouterResponse {
    let netmask = x.cidr.map(|c| c.mask().to_string());
    let shown = |v: Option<String>| v.filter(|_| admin);
    DomainRouterResponse {
        id: Some(x.id.into_uuid()),
        name: Some(x.name.clone()),
        zoneid: Some(x.zone_id.into_uuid()),
        zonename: Some(x.zone_name.clone()),
        podid: x.pod_id.map(|p| p.into_uuid()).filter(|_| admin),
        podname: shown(x.pod_name.clone()),
        hostid: x.host_id.map(|h| h.into_uuid()).filter(|_| admin),
        hostname: shown(x.host_name.clone()),
        hypervisor: Some("KVM".into()),
        state: Some(x.state.clone()),
        created: Some(x.created.into()),
        dns1: host(x.dns1),
        dns2: host(x.dns2),
        networkdomain: x.network_domain.clone(),
        gateway: host(x.public_gateway),
        publicip: host(x.public_ip),
        publicmacaddress: shown(Some(x.public_mac.clone())),
        publicnetmask: host(x.public_netmask),
        guestipaddress: shown(host(x.gateway)),
        guestmacaddress: shown(Some(x.guest_mac.clone())),
        guestnetmask: shown(netmask),
        guestnetworkid: Some(x.network_id.into_uuid()),
        guestnetworkname: Some(x.network_name.clone()),
        account: x.account_name.clone().filter(|_| x.project_id.is_none()),
        projectid: x.project_id.map(|p| p.into_uuid()),
        project: x.project_name.clone(),
        domainid: x.domain_id.map(|d| d.into_uuid()),
        domain: x.domain_name.clone(),
        domainpath: x.domain_path.clone(),
        isredundantrouter: Some(false),
        redundantstate: Some("UNKNOWN".into()),
        role: Some("VIRTUAL_ROUTER".into()),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        requiresupgrade: Some(false),
        healthchecksfailed: Some(x.state == "Running" && x.error_text.is_some()),
        hasannotations: Some(false),
    }
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListRouters<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let (account_id, account_ids, _) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::AllForRoot)
            .await?
            .split();
    let rf = rt::RouterFilter {
        id: r.id(),
        name: r.name().map(str::to_string),
        keyword: f.keyword_pattern(),
        zone_id: r.zoneid(),
        host_id: r.hostid(),
        network_id: r.networkid(),
        state: r.state().map(str::to_string),
        pod_id: r.podid(),
        cluster_id: r.clusterid(),
        account_ids: match (account_id, account_ids) {
            (Some(a), _) => Some(vec![a]),
            (None, ids) => ids,
        },
        offset: f.offset,
        limit: f.limit,
    };
    // Every router is a plain (non-VPC) one of the current version, with no health
    // checks that fail while it runs.
    let (forvpc, version, failed, _fetch) = (
        r.forvpc(),
        r.version(),
        r.healthchecksfailed(),
        r.fetchhealthcheckresults(),
    );
    if forvpc == Some(true)
        || version.is_some_and(|v| v != env!("CARGO_PKG_VERSION"))
        || failed == Some(true)
    {
        return Ok(Reply::list("router", 0, Vec::<DomainRouterResponse>::new()));
    }
    let (rows, total) = rt::router_list(&ctx.pool, &rf).await?;
    let admin = caller.is_root_admin();
    let items: Vec<DomainRouterResponse> = rows.iter().map(|x| response(x, admin)).collect();
    Ok(Reply::list("router", total, items))
}

/// The router `id` as the caller may act on it (root admins: all; domain admins: those of
/// their subtree's accounts).
async fn visible(ctx: &Ctx, caller: &Caller, id: RouterId) -> Result<RouterListRow> {
    let missing = || -> crate::error::Error {
        ApiError::param(format!("Unable to find router by id {id}.")).into()
    };
    let rf = rt::RouterFilter {
        id: Some(id),
        ..Default::default()
    };
    let row = rt::router_list(&ctx.pool, &rf)
        .await?
        .0
        .into_iter()
        .next()
        .ok_or_else(missing)?;
    if !caller.manages_domain(row.domain_path.as_deref().unwrap_or("ROOT")) {
        return Err(missing());
    }
    Ok(row)
}

async fn reply(ctx: &Ctx, caller: &Caller, id: RouterId) -> Result<Reply> {
    let row = visible(ctx, caller, id).await?;
    Ok(Reply::object(
        "router",
        &response(&row, caller.is_root_admin()),
    ))
}

pub async fn stop(ctx: &Ctx, caller: &Caller, r: &requests::StopRouter<'_>) -> Result<Reply> {
    let row = visible(ctx, caller, r.id()).await?;
    let _ = r.forced();
    crate::services::networks::router_stop(ctx, row.id).await?;
    reply(ctx, caller, row.id).await
}

pub async fn start(ctx: &Ctx, caller: &Caller, r: &requests::StartRouter<'_>) -> Result<Reply> {
    let row = visible(ctx, caller, r.id()).await?;
    crate::services::networks::router_start(ctx, row.id).await?;
    reply(ctx, caller, row.id).await
}

pub async fn reboot(ctx: &Ctx, caller: &Caller, r: &requests::RebootRouter<'_>) -> Result<Reply> {
    let row = visible(ctx, caller, r.id()).await?;
    let _ = r.forced();
    if row.state != "Running" {
        return Err(ApiError::param(format!(
            "Unable to reboot domR, it is not in right state {}",
            row.state
        ))
        .into());
    }
    crate::services::networks::restart(ctx, row.network_id, true).await?;
    reply(ctx, caller, row.id).await
}

/// destroyRouter: the router leaves its host and its row goes; the network is left
/// Allocated with its addresses and rules, and its next deploy (or restartNetwork) makes
/// a new router — CloudStack's behaviour, without a stale VM to expunge.
pub async fn destroy(ctx: &Ctx, caller: &Caller, r: &requests::DestroyRouter<'_>) -> Result<Reply> {
    let row = visible(ctx, caller, r.id()).await?;
    let answer = DomainRouterResponse {
        state: Some("Destroyed".into()),
        ..response(&row, caller.is_root_admin())
    };
    crate::services::networks::router_destroy(ctx, row.id).await?;
    Ok(Reply::object("router", &answer))
}
