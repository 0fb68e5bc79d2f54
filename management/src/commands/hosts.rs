//! Host commands: listHosts, listHostsMetrics, updateHost, maintenance, listAlerts.

use super::requests;
use stratus_api::envelope::Reply;
use stratus_api::types::{
    AlertResponse, HostResponse, HostStatsItem, HostStatsResponse, HostTagResponse,
};
use stratus_api::{ApiError, Params};

use super::{list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::hosts::{self as h, HostRow};
use crate::error::{Error, Result};
use crate::ids::{HostId, ParamIds, PodId, ZoneId};
use crate::rules::hoststate::{ResourceEvent, ResourceState, Status};
use crate::rules::tags;
use crate::services::auth::Caller;
use crate::settings::{self, Scope};

/// `used` as a percentage of `total`, as CloudStack writes it ("12.50%"); 0% of nothing.
fn pct(used: f64, total: f64) -> String {
    let p = if total > 0.0 {
        used * 100.0 / total
    } else {
        0.0
    };
    format!("{p:.2}%")
}

fn gb(bytes: i64) -> String {
    format!("{:.2} GB", bytes as f64 / (1u64 << 30) as f64)
}

pub fn host_response(ctx: &Ctx, x: &HostRow, metrics: bool) -> HostResponse {
    let cores = x.cpu_cores.unwrap_or(0) as i64;
    let mhz = x.cpu_mhz.unwrap_or(0) as i64;
    let cluster = Scope::cluster(x.zone_id, x.cluster_id);
    let cpu_factor = ctx.get_in(&settings::CPU_OVERPROVISIONING_FACTOR, cluster);
    let mem_factor = ctx.get_in(&settings::MEM_OVERPROVISIONING_FACTOR, cluster);
    let mem = x.memory_bytes.unwrap_or(0);
    let used_pct = x.cpu_used_percent.unwrap_or(0.0);
    let mut r = HostResponse {
        id: Some(x.id.into()),
        name: Some(x.name.clone()),
        state: Some(x.status.to_string()),
        resourcestate: Some(x.resource_state.to_string()),
        r#type: Some("Routing".into()),
        ipaddress: Some(x.address.ip().to_string()),
        hypervisor: Some(x.hypervisor.clone()),
        hypervisorversion: x.hypervisor_version.clone(),
        version: x.agent_version.clone(),
        zoneid: Some(x.zone_id.into()),
        zonename: Some(x.zone_name.clone()),
        podid: Some(x.pod_id.into()),
        podname: Some(x.pod_name.clone()),
        clusterid: Some(x.cluster_id.into()),
        clustername: Some(x.cluster_name.clone()),
        clustertype: Some("CloudManaged".into()),
        cpusockets: x.cpu_sockets,
        cpunumber: x.cpu_cores,
        cpuspeed: x.cpu_mhz.map(i64::from),
        // What the VMs placed on it reserve, against its capacity (CloudStack's percentages
        // are of the raw capacity; "withoverprovisioning" of the overprovisioned one).
        cpuallocated: Some(pct(x.allocated_mhz as f64, (cores * mhz) as f64)),
        cpuallocatedvalue: Some(x.allocated_mhz),
        cpuallocatedpercentage: Some(pct(x.allocated_mhz as f64, (cores * mhz) as f64)),
        cpuallocatedwithoverprovisioning: Some(pct(
            x.allocated_mhz as f64,
            (cores * mhz) as f64 * cpu_factor,
        )),
        cpuused: Some(format!("{used_pct:.2}%")),
        cpuwithoverprovisioning: Some(format!("{:.1}", (cores * mhz) as f64 * cpu_factor)),
        memorytotal: x.memory_bytes,
        memorywithoverprovisioning: Some(format!("{:.1}", mem as f64 * mem_factor)),
        memoryallocated: Some(x.allocated_bytes),
        memoryallocatedbytes: Some(x.allocated_bytes),
        memoryallocatedpercentage: Some(pct(x.allocated_bytes as f64, mem as f64)),
        memoryused: x.memory_used_bytes,
        networkkbsread: x.network_rx_bytes.map(|b| b / 1024),
        networkkbswrite: x.network_tx_bytes.map(|b| b / 1024),
        lastpinged: x.last_pinged.map(Into::into),
        created: Some(x.created.into()),
        disconnected: (x.status != Status::Up).then(|| x.status_changed.into()),
        managementserverid: x.management_server_id.map(Into::into),
        managementservername: x.management_server_name.clone(),
        capabilities: Some(match x.acceleration.as_deref() {
            Some("kvm") => "hvm".into(),
            _ => "".into(),
        }),
        hosttags: tags::join(&x.tags),
        explicithosttags: tags::join(&x.tags),
        istagarule: Some(false),
        islocalstorageactive: Some(false),
        hahost: Some(false),
        hasannotations: Some(false),
        events: Some("AgentConnected; AgentDisconnected; PingTimeout; ShutdownRequested; HostDown; Ping; ManagementServerDown; StartAgentRebalance; Remove".into()),
        arch: x.arch.clone(),
        details: Some(serde_json::json!({
            "acceleration": x.acceleration,
            "libvirtversion": x.libvirt_version,
            "os": x.os,
            "kernel": x.kernel,
        })),
        ..Default::default()
    };
    if metrics {
        r.cputotalghz = Some(format!("{:.2} Ghz", (cores * mhz) as f64 / 1000.0));
        r.cpuusedghz = Some(format!(
            "{:.2} Ghz",
            (cores * mhz) as f64 * used_pct / 100.0 / 1000.0
        ));
        r.memorytotalgb = Some(gb(mem));
        r.memoryusedgb = Some(gb(x.memory_used_bytes.unwrap_or(0)));
        r.networkread = Some(gb(x.network_rx_bytes.unwrap_or(0)));
        r.networkwrite = Some(gb(x.network_tx_bytes.unwrap_or(0)));
        // CloudStack's "running / total" of the user VMs placed on the host.
        r.instances = Some(format!("{} / {}", x.vms_running, x.vms_total));
    }
    r
}

/// `http://ADDRESS` (CloudStack's KVM discoverer accepts only http URLs) → an IP address.
async fn host_address(url: &str) -> Result<std::net::IpAddr> {
    let parsed = url::Url::parse(url).map_err(|_| {
        ApiError::param(format!(
            "The host URL '{url}' is not a URL; use http://ADDRESS"
        ))
    })?;
    if parsed.scheme() != "http" {
        return Err(ApiError::param(format!(
            "The host URL '{url}' must start with http:// (for example http://192.168.1.10)"
        ))
        .into());
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| ApiError::param(format!("The host URL '{url}' has no host address")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse() {
        return Ok(ip);
    }
    let mut addrs = tokio::net::lookup_host((host, 22))
        .await
        .map_err(|e| ApiError::param(format!("The host name '{host}' does not resolve: {e}")))?;
    addrs
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| ApiError::param(format!("The host name '{host}' does not resolve")).into())
}

pub async fn add(ctx: &Ctx, caller: &Caller, r: &requests::AddHost<'_>) -> Result<Reply> {
    crate::rules::states::hypervisor(r.hypervisor())?;
    let zone_id: ZoneId = r.zoneid();
    let pod_id: PodId = r.podid();
    let cluster = match (r.clusterid(), r.clustername()) {
        (Some(id), _) => crate::db::topology::cluster_fetch(&ctx.pool, id)
            .await?
            .ok_or_else(|| not_found(r.wire(), "clusterid"))?,
        (None, Some(name)) => {
            let f = crate::db::topology::ClusterFilter {
                common: crate::db::ListFilter {
                    name: Some(name.to_string()),
                    limit: Some(1),
                    ..Default::default()
                },
                pod_id: Some(pod_id),
                ..Default::default()
            };
            crate::db::topology::cluster_list(&ctx.pool, &f)
                .await?
                .0
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ApiError::param(format!("No cluster named {name} in the given pod"))
                })?
        }
        (None, None) => {
            return Err(
                ApiError::param("Please specify the cluster: clusterid or clustername").into(),
            )
        }
    };
    if cluster.zone_id != zone_id || cluster.pod_id != pod_id {
        return Err(ApiError::param(format!(
            "Cluster {} does not belong to the given zone and pod",
            cluster.name
        ))
        .into());
    }
    let host_tags = tags::parse(
        "hosttags",
        &r.hosttags().map(|t| t.join(",")).unwrap_or_default(),
    )?;
    let disabled = r
        .allocationstate()
        .is_some_and(|s| s.eq_ignore_ascii_case("Disabled") || s.eq_ignore_ascii_case("Disable"));
    let req = crate::services::hosts::bootstrap::AddHost {
        zone_id,
        pod_id,
        cluster_id: cluster.id,
        address: host_address(r.url()).await?,
        ssh_port: 22,
        username: r.username().to_string(),
        password: r.password().to_string(),
        disabled,
        tags: host_tags,
    };
    let host = crate::services::hosts::bootstrap::add_host(ctx, &caller.user, &req).await?;
    let host = h::host_fetch(&ctx.pool, host.id)
        .await?
        .ok_or_else(|| Error::internal("host vanished"))?;
    Ok(Reply::object_list(
        "host",
        &[host_response(ctx, &host, false)],
    ))
}

pub async fn list(ctx: &Ctx, r: &requests::ListHosts<'_>, metrics: bool) -> Result<Reply> {
    // A state no host can be in finds none (`Err`), as CloudStack's filter does.
    let status = r.state().map(|s| Status::parse_any_case(s).ok_or(()));
    let resource_state = r
        .resourcestate()
        .map(|s| ResourceState::parse_any_case(s).ok_or(()));
    let f = h::HostFilter {
        common: list_filter(ctx, r.wire())?,
        zone_id: r.zoneid(),
        pod_id: r.podid(),
        cluster_id: r.clusterid(),
        status: status.and_then(Result::ok),
        resource_state: resource_state.and_then(Result::ok),
        hypervisor: r.hypervisor().map(str::to_string),
    };
    // Hosts are shown whole whatever `details` (min, all, capacity, …) asks.
    r.wire().mark_read("details");
    let unknown_state = matches!(status, Some(Err(()))) || matches!(resource_state, Some(Err(())));
    // Stratus has no system-VM or storage hosts: only hypervisor (Routing) hosts.
    let other_type = r
        .r#type()
        .is_some_and(|t| !t.eq_ignore_ascii_case("Routing"));
    if unknown_state || other_type {
        return Ok(Reply::list("host", 0, Vec::<HostResponse>::new()));
    }
    let (rows, total) = h::host_list(&ctx.pool, &f).await?;
    let items: Vec<HostResponse> = rows
        .iter()
        .map(|x| host_response(ctx, x, metrics))
        .collect();
    Ok(Reply::list("host", total, items))
}

/// The samples kept for each listed host (`host_metrics`, oldest first), between
/// `startdate` and `enddate` when given.
pub async fn usage_history(ctx: &Ctx, r: &requests::ListHostsUsageHistory<'_>) -> Result<Reply> {
    let f = h::HostFilter {
        common: list_filter(ctx, r.wire())?,
        ..Default::default()
    };
    let start =
        super::accounts::parse_date(r.wire(), "startdate")?.unwrap_or(chrono::DateTime::UNIX_EPOCH);
    let end = super::accounts::parse_date(r.wire(), "enddate")?;
    let (rows, total) = h::host_list(&ctx.pool, &f).await?;
    let mut items = Vec::with_capacity(rows.len());
    for host in &rows {
        let samples = h::host_metrics_list(&ctx.pool, host.id, start).await?;
        items.push(HostStatsResponse {
            id: Some(host.id.into()),
            name: Some(host.name.clone()),
            stats: samples
                .iter()
                .filter(|m| end.is_none_or(|e| m.at <= e))
                .map(|m| HostStatsItem {
                    timestamp: Some(m.at.into()),
                    cpuused: Some(format!("{:.2}%", m.cpu_used_percent)),
                    memoryusedkbs: Some(m.memory_used_bytes / 1024),
                    networkkbsread: Some(m.network_rx_bytes / 1024),
                    networkkbswrite: Some(m.network_tx_bytes / 1024),
                })
                .collect(),
        });
    }
    Ok(Reply::list("host", total, items))
}

/// Applies a resource-state event to a host, with its event record.
async fn change_resource_state(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    events: &[ResourceEvent],
    event_type: &str,
) -> Result<Reply> {
    let id: HostId = p.required_id("id")?;
    let mut tx = ctx.pool.begin().await?;
    let host = h::host_fetch_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(p, "id"))?;
    let mut state = host.resource_state;
    for e in events {
        state = state.on(*e)?;
    }
    h::host_set_resource_state(&mut *tx, id, state).await?;
    super::event(
        &mut tx,
        &caller.user,
        event_type,
        format!("Host {} is now {state}", host.name),
        Some(EventResource::new(
            ResourceType::Host,
            host.id,
            host.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let host = h::host_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| not_found(p, "id"))?;
    Ok(Reply::object("host", &host_response(ctx, &host, false)))
}

pub async fn update(ctx: &Ctx, caller: &Caller, r: &requests::UpdateHost<'_>) -> Result<Reply> {
    let id: HostId = r.id();
    // Given, even empty (which clears them): the host's tags are replaced.
    if r.wire().given("hosttags") {
        let new = tags::parse(
            "hosttags",
            &r.hosttags().map(|t| t.join(",")).unwrap_or_default(),
        )?;
        let mut tx = ctx.pool.begin().await?;
        let host = h::host_fetch_for_update(&mut *tx, id)
            .await?
            .ok_or_else(|| not_found(r.wire(), "id"))?;
        h::host_set_tags(&mut *tx, id, &new).await?;
        super::event(
            &mut tx,
            &caller.user,
            "HOST.UPDATE",
            match tags::join(&new) {
                Some(t) => format!("Host {} tagged {t}", host.name),
                None => format!("Host {} has no tags now", host.name),
            },
            Some(EventResource::new(
                ResourceType::Host,
                id,
                host.name.clone(),
            )),
        )
        .await?;
        tx.commit().await?;
    }
    if let Some(name) = r.name() {
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::param("The host name must not be empty").into());
        }
        let mut tx = ctx.pool.begin().await?;
        let host = h::host_fetch_for_update(&mut *tx, id)
            .await?
            .ok_or_else(|| not_found(r.wire(), "id"))?;
        crate::db::hosts::host_rename(&mut *tx, id, name).await?;
        super::event(
            &mut tx,
            &caller.user,
            "HOST.UPDATE",
            format!("Host {} renamed to {name}", host.name),
            Some(EventResource::new(ResourceType::Host, id, name.to_string())),
        )
        .await?;
        tx.commit().await?;
    }
    match r.allocationstate() {
        Some(s) if s.eq_ignore_ascii_case("Enable") => {
            change_resource_state(
                ctx,
                caller,
                r.wire(),
                &[ResourceEvent::Enable],
                "HOST.ENABLE",
            )
            .await
        }
        Some(s) if s.eq_ignore_ascii_case("Disable") => {
            change_resource_state(
                ctx,
                caller,
                r.wire(),
                &[ResourceEvent::Disable],
                "HOST.DISABLE",
            )
            .await
        }
        Some(s) => Err(ApiError::param(format!(
            "Invalid allocation state '{s}'; valid values are Enable and Disable"
        ))
        .into()),
        None => {
            let host = h::host_fetch(&ctx.pool, id)
                .await?
                .ok_or_else(|| not_found(r.wire(), "id"))?;
            Ok(Reply::object("host", &host_response(ctx, &host, false)))
        }
    }
}

/// No instances run on hosts yet, so preparing for maintenance completes at once.
/// PrepareForMaintenance, then every running VM is migrated live to another host
/// (issue 16): Maintenance once none is left, else ErrorInMaintenance with the reason in
/// an event (and the job's answer: the host in that state).
pub async fn prepare_maintenance(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::PrepareHostForMaintenance<'_>,
) -> Result<Reply> {
    change_resource_state(
        ctx,
        caller,
        r.wire(),
        &[ResourceEvent::PrepareForMaintenance],
        "MAINT.PREPARE",
    )
    .await?;
    let id: HostId = r.id().into();
    let failures = crate::services::vms::migrate::empty_host(ctx, id).await?;
    let (event, why) = if failures.is_empty() {
        (ResourceEvent::MaintenanceReached, None)
    } else {
        (ResourceEvent::UnableToMigrate, Some(failures.join("; ")))
    };
    let reply = change_resource_state(ctx, caller, r.wire(), &[event], "MAINT.PREPARE").await?;
    if let Some(why) = why {
        let mut conn = ctx.pool.acquire().await?;
        super::event_on(
            &mut conn,
            &caller.user,
            "MAINT.PREPARE",
            "ERROR",
            format!("Host {id} could not be emptied: {why}"),
            Some(EventResource::new(ResourceType::Host, id, id.to_string())),
        )
        .await?;
    }
    Ok(reply)
}

pub async fn reconnect(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ReconnectHost<'_>,
) -> Result<Reply> {
    let id: HostId = r.id();
    if h::host_fetch(&ctx.pool, id).await?.is_none() {
        return Err(not_found(r.wire(), "id"));
    }
    let host = crate::services::hosts::reconnect(ctx, &caller.user, id).await?;
    let mut conn = ctx.pool.acquire().await?;
    super::event_on(
        &mut conn,
        &caller.user,
        "HOST.RECONNECT",
        "INFO",
        format!("Host {} reconnected", host.name),
        Some(EventResource::new(
            ResourceType::Host,
            host.id,
            host.name.clone(),
        )),
    )
    .await?;
    Ok(Reply::object("host", &host_response(ctx, &host, false)))
}

pub async fn cancel_maintenance(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CancelHostMaintenance<'_>,
) -> Result<Reply> {
    change_resource_state(
        ctx,
        caller,
        r.wire(),
        &[ResourceEvent::CancelMaintenance],
        "MAINT.CANCEL",
    )
    .await
}

/// Deletes a host. A host whose agent still reports must be in maintenance (or `forced`);
/// its agent is told, with its next heartbeat, to remove itself, and the record goes in
/// the same transaction. A silent agent cannot be told: the record is removed and the
/// event says what to clean up by hand.
pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteHost<'_>) -> Result<Reply> {
    let id: HostId = r.id();
    let host = h::host_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    // Nothing may be left on it (issue 16): a VM placed there (Running, Starting, ...)
    // would be left without a host.
    let placed = crate::db::vms::vm_list_on_host(&ctx.pool, id, 0).await?;
    if let Some(vm) = placed.first() {
        return Err(ApiError::param(format!(
            "The host {} cannot be deleted: {} VM(s) are assigned to it (e.g. {}); migrate or stop them first (prepareHostForMaintenance migrates them)",
            host.name,
            placed.len(),
            vm.name
        ))
        .into());
    }
    let reporting = matches!(host.status, Status::Up | Status::Connecting);
    if reporting && host.resource_state != ResourceState::Maintenance && r.forced() != Some(true) {
        return Err(ApiError::param(format!(
            "The host {} is {} and {}: put it into maintenance first (prepareHostForMaintenance), or delete it with forced=true",
            host.name, host.status, host.resource_state
        ))
        .into());
    }
    if reporting {
        h::host_set_decommission(&ctx.pool, id).await?;
        let wait =
            std::time::Duration::from_secs(2 * crate::services::hosts::interval_secs(ctx) + 5);
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if h::host_fetch(&ctx.pool, id).await?.is_none() {
                return Ok(Reply::success());
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    let why = format!(
        "its agent was not reporting, so it could not remove itself; on the host, stop stratus-agent and remove {} and {}",
        stratus_api::agent::layout::DIR,
        stratus_api::agent::layout::CONFIG
    );
    crate::services::hosts::unregister(ctx, &caller.user, id, &why).await?;
    Ok(Reply::success())
}

/// The id of one tag of one resource (listHostTags, listStorageTags): derived from the
/// resource's id and the tag (ASCII case folded, as tags compare), so it is the same on
/// every call while the tag is there, and distinct across resources and tags.
pub fn tag_id(resource: uuid::Uuid, tag: &str) -> uuid::Uuid {
    uuid::Uuid::new_v3(&resource, tag.to_ascii_lowercase().as_bytes())
}

/// A tag list's filter: paging and `keyword` (the only parameters listHostTags and
/// listStorageTags take).
pub fn tag_filter(ctx: &Ctx, p: &Params) -> Result<crate::db::ListFilter> {
    let page = p.page(ctx.page_size())?;
    Ok(crate::db::ListFilter {
        keyword: p.string("keyword"),
        offset: page.offset,
        limit: page.limit,
        ..Default::default()
    })
}

/// listHostTags: every tag of every host, one entry each.
pub async fn list_tags(ctx: &Ctx, r: &requests::ListHostTags<'_>) -> Result<Reply> {
    let f = tag_filter(ctx, r.wire())?;
    let (rows, total) = h::host_tag_list(&ctx.pool, &f).await?;
    let items: Vec<HostTagResponse> = rows
        .iter()
        .map(|t| HostTagResponse {
            isimplicit: Some(false),
            id: Some(tag_id(t.host_id.into(), &t.name)),
            hostid: Some(t.host_id.into()),
            hostname: Some(t.host_name.clone()),
            name: Some(t.name.clone()),
        })
        .collect();
    Ok(Reply::list("hosttag", total, items))
}

pub async fn list_alerts(ctx: &Ctx, r: &requests::ListAlerts<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let (rows, total) = h::alert_list(&ctx.pool, &f, r.wire().i64("type")?).await?;
    let items: Vec<AlertResponse> = rows
        .iter()
        .map(|a| AlertResponse {
            id: Some(a.id.into()),
            r#type: Some(a.alert_type as i32),
            name: Some(a.name.clone()),
            description: Some(a.description.clone()),
            sent: Some(a.created.into()),
        })
        .collect();
    Ok(Reply::list("alert", total, items))
}
