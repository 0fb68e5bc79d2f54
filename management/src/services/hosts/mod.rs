//! Host lifecycle: registration, heartbeats, and the monitor that notices silence.
//!
//! A host's status follows its agent: a valid heartbeat makes it Up; after
//! `ping.interval` × `ping.timeout` seconds of silence it is Disconnected; then a probe of
//! the host's `host.probe.port` tells a live host whose agent died (Alert) from a host
//! that is gone (Down). Every change is an event, and leaving Up raises an alert. Each
//! transition re-checks the host under its row lock, so several management servers
//! running the monitor never record a change twice.

pub mod bootstrap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnetwork::IpNetwork;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use stratus_api::agent::{Heartbeat, HeartbeatAck, PROTOCOL_VERSION};
use stratus_api::ApiError;

use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::{self, accounts::UserRow, hosts::HostRow};
use crate::error::{Error, Result};
use crate::ids::{ClusterId, HostId, PodId, ZoneId};
use crate::rules::hoststate::{Status, StatusEvent};
use crate::settings;

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A host record to create: its id and the hash of its agent's token are the caller's
/// (addHost derives the token so a resumed step gives the same one; the embedded
/// default's host makes a random one).
#[derive(Debug, Clone)]
pub struct NewHostSpec<'a> {
    pub id: HostId,
    pub token_hash: &'a [u8],
    pub zone_id: ZoneId,
    pub pod_id: PodId,
    pub cluster_id: ClusterId,
    pub address: IpAddr,
    pub agent_port: u16,
    pub name: &'a str,
    pub tags: &'a [String],
}

/// Creates the host record and its agent token. The token is returned once, to be put in
/// the agent's configuration; only its hash is stored.
#[allow(clippy::too_many_arguments)]
pub async fn register(
    ctx: &Ctx,
    actor: &UserRow,
    zone_id: ZoneId,
    pod_id: PodId,
    cluster_id: ClusterId,
    address: IpAddr,
    agent_port: u16,
    name: &str,
) -> Result<(HostRow, String)> {
    let token = crate::services::auth::random_token(32);
    let spec = NewHostSpec {
        id: HostId::new_v4(),
        token_hash: &hash_token(&token),
        zone_id,
        pod_id,
        cluster_id,
        address,
        agent_port,
        name,
        tags: &[],
    };
    Ok((register_host(ctx, actor, spec).await?, token))
}

/// Creates the host record (Connecting), with a HOST.ADD event.
pub async fn register_host(ctx: &Ctx, actor: &UserRow, spec: NewHostSpec<'_>) -> Result<HostRow> {
    let NewHostSpec {
        id,
        token_hash,
        zone_id,
        pod_id,
        cluster_id,
        address,
        agent_port,
        name,
        tags,
    } = spec;
    let cluster = db::topology::cluster_fetch(&ctx.pool, cluster_id)
        .await?
        .ok_or_else(|| ApiError::param("Please specify a valid cluster"))?;
    if cluster.pod_id != pod_id || cluster.zone_id != zone_id {
        return Err(ApiError::param(format!(
            "Cluster {} does not belong to the given pod and zone",
            cluster.name
        ))
        .into());
    }
    let mut tx = ctx.pool.begin().await?;
    let new = db::hosts::NewHost {
        id,
        name,
        zone_id,
        pod_id,
        cluster_id,
        address: IpNetwork::from(address),
        token_hash,
        agent_port,
        tags,
    };
    let inserted = db::hosts::host_insert(&mut *tx, &new).await;
    if let Err(Error::Db(sqlx::Error::Database(e))) = &inserted {
        if e.constraint() == Some("hosts_address_key") {
            return Err(ApiError::param(format!(
                "A host with address {address} already exists; delete it first to add it again"
            ))
            .into());
        }
    }
    inserted?;
    crate::db::events::event_on(
        &mut tx,
        actor,
        "HOST.ADD",
        "INFO",
        format!("Adding host {name} ({address}) to cluster {}", cluster.name),
        Some(EventResource::new(ResourceType::Host, id, name.to_string())),
    )
    .await?;
    tx.commit().await?;
    db::hosts::host_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("host vanished"))
}

/// Removes a host record (a failed bootstrap, or deleteHost), recording why.
pub async fn unregister(ctx: &Ctx, actor: &UserRow, id: HostId, why: &str) -> Result<()> {
    let mut tx = ctx.pool.begin().await?;
    if let Some(h) = db::hosts::host_fetch_for_update(&mut *tx, id).await? {
        db::hosts::host_delete(&mut *tx, id).await?;
        crate::db::events::event_on(
            &mut tx,
            actor,
            "HOST.REMOVE",
            "WARN",
            format!("Host {} ({}) removed: {why}", h.name, h.address.ip()),
            Some(EventResource::new(ResourceType::Host, id, h.name.clone())),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Why a heartbeat was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    /// Unknown host or wrong token: nothing is changed, and the attempt is logged.
    #[error("unknown host or invalid credentials")]
    Unauthorized,
    #[error("unsupported protocol version {0}")]
    Protocol(u32),
    #[error(transparent)]
    Internal(#[from] Error),
}

/// The interval agents are asked to report at (`ping.interval`).
pub fn interval_secs(ctx: &Ctx) -> u64 {
    ctx.get(&settings::PING_INTERVAL) as u64
}

/// Applies a heartbeat: authenticates the host, ignores reports older than the newest seen,
/// records facts, metrics and the sample, and brings the host Up.
pub async fn heartbeat(
    ctx: &Ctx,
    host_id: HostId,
    token: Option<&str>,
    hb: &Heartbeat,
    remote: Option<SocketAddr>,
) -> Result<HeartbeatAck, HeartbeatError> {
    let refuse = |why: &str| {
        tracing::warn!(host = %host_id, remote = ?remote, why, "agent credentials refused");
        HeartbeatError::Unauthorized
    };
    let Some(token) = token else {
        return Err(refuse("no token"));
    };
    if hb.protocol != PROTOCOL_VERSION {
        return Err(HeartbeatError::Protocol(hb.protocol));
    }
    let mut tx = ctx.pool.begin().await.map_err(Error::from)?;
    let Some(host) = db::hosts::host_fetch_for_update(&mut *tx, host_id).await? else {
        return Err(refuse("unknown host"));
    };
    if !crate::services::auth::constant_time_eq(&hash_token(token), &host.token_hash) {
        return Err(refuse("wrong token"));
    }
    let ack = |accepted| HeartbeatAck {
        interval_secs: interval_secs(ctx),
        accepted,
        decommission: false,
    };
    if host.decommission {
        // deleteHost is waiting for this: tell the agent to remove itself, and go.
        db::hosts::host_delete(&mut *tx, host_id).await?;
        crate::db::events::system_event(
            &mut tx,
            "HOST.REMOVE",
            "INFO",
            format!(
                "Host {} ({}) removed; its agent was told to uninstall itself",
                host.name,
                host.address.ip()
            ),
            Some(EventResource::new(
                ResourceType::Host,
                host.id,
                host.name.clone(),
            )),
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        return Ok(HeartbeatAck {
            decommission: true,
            ..ack(true)
        });
    }
    if hb.generation as i64 <= host.report_generation {
        return Ok(ack(false));
    }
    db::hosts::host_apply_report(&mut *tx, host_id, ctx.ms_id, hb).await?;
    db::hosts::host_metrics_insert(&mut *tx, host_id, hb).await?;
    db::vms::vm_metrics_insert(&mut *tx, host_id, &hb.domain_stats).await?;
    // A report may have been taken just before an operation changed the VM.
    let settle = 15;
    let strays = crate::services::vms::sync_report(&mut tx, &host, &hb.domains, settle).await?;
    // After the VMs: every writer locks a VM row before its host's `sg_host_state` row
    // (the VM's trigger writes that one), and a heartbeat that took them the other way
    // round deadlocked with a destroy of one of its VMs.
    if let Some(g) = hb.sg_generation {
        // Less than it confirmed (an agent restart, a reboot): due again, in full.
        db::security_groups::host_reported(&mut *tx, host_id, g.min(i64::MAX as u64) as i64)
            .await?;
    }
    if let Some(next) = host.status.on(StatusEvent::Heartbeat) {
        record_transition(&mut tx, &host, host.status, next, "the agent reported").await?;
    }
    tx.commit().await.map_err(Error::from)?;
    if !strays.is_empty() {
        // Not in the agent's request: destroying takes the agent a moment.
        let ctx = ctx.clone();
        tokio::spawn(
            async move { crate::services::vms::destroy_strays(&ctx, &host, &strays).await },
        );
    }
    Ok(ack(true))
}

async fn record_transition(
    conn: &mut PgConnection,
    host: &HostRow,
    from: Status,
    to: Status,
    why: &str,
) -> Result<()> {
    db::hosts::host_set_status(&mut *conn, host.id, to).await?;
    let level = if to == Status::Up { "INFO" } else { "WARN" };
    let text = format!(
        "Host {} ({}) went from {from} to {to}: {why}",
        host.name,
        host.address.ip(),
    );
    crate::db::events::system_event(
        &mut *conn,
        &format!("HOST.{}", to.as_str().to_uppercase()),
        level,
        text.clone(),
        Some(EventResource::new(
            ResourceType::Host,
            host.id,
            host.name.clone(),
        )),
    )
    .await?;
    if matches!(to, Status::Disconnected | Status::Alert | Status::Down) {
        db::hosts::alert_insert(
            &mut *conn,
            db::hosts::ALERT_TYPE_HOST,
            "ALERT.HOST",
            &text,
            host,
        )
        .await?;
    }
    tracing::info!(host = %host.name, from = from.as_str(), to = to.as_str(), "host status changed");
    Ok(())
}

/// Applies `event` to the host if it still applies under the row lock.
async fn transition(
    ctx: &Ctx,
    id: HostId,
    event: StatusEvent,
    still: impl Fn(&HostRow) -> bool,
    why: &str,
) -> Result<()> {
    let mut tx = ctx.pool.begin().await?;
    let Some(host) = db::hosts::host_fetch_for_update(&mut *tx, id).await? else {
        return Ok(());
    };
    if !still(&host) {
        return Ok(());
    }
    if let Some(next) = host.status.on(event) {
        record_transition(&mut tx, &host, host.status, next, why).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `reconnectHost`: the host goes to Connecting and its agent is asked, over its command
/// API (mutual TLS), to report at once; the report brings it back Up with fresh facts.
/// If the agent cannot be reached the host goes to Alert and the error says why.
pub async fn reconnect(ctx: &Ctx, actor: &UserRow, id: HostId) -> Result<HostRow> {
    let host = db::hosts::host_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| ApiError::param("Unable to find the host with the specified id"))?;
    transition(
        ctx,
        id,
        StatusEvent::Reconnect,
        |_| true,
        &format!("reconnect requested by {}", actor.username),
    )
    .await?;
    let endpoint = std::net::SocketAddr::new(host.address.ip(), host.agent_port as u16);
    let url = format!("https://{endpoint}{}", stratus_api::agent::api::RECONNECT);
    let failure = match ctx.pki.agent_client().post(&url).send().await {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => {
            let status = r.status();
            Some(format!(
                "the agent answered {status}: {}",
                r.text().await.unwrap_or_default().trim()
            ))
        }
        Err(e) => Some(crate::error::chain(&e)),
    };
    if let Some(why) = failure {
        let text = format!(
            "Unable to reconnect host {} (agent at {url}): {why}",
            host.name
        );
        transition(ctx, id, StatusEvent::ReconnectFailed, |_| true, &text).await?;
        return Err(ApiError::new(stratus_api::ErrorCode::ResourceUnavailable, text).into());
    }
    db::hosts::host_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("host vanished"))
}

/// Waits (up to `kvm.agent.start.timeout`) for the host's agent to report — Up with a
/// report newer than `after` — and answers the host, or `None` on timeout.
pub async fn wait_for_report(
    ctx: &Ctx,
    id: HostId,
    after: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Option<HostRow>> {
    let deadline = std::time::Instant::now()
        + Duration::from_secs(ctx.get(&settings::KVM_AGENT_START_TIMEOUT) as u64);
    loop {
        let h = db::hosts::host_fetch(&ctx.pool, id)
            .await?
            .ok_or_else(|| Error::internal("the host vanished while its agent was starting"))?;
        if h.status == Status::Up && h.last_pinged > after {
            return Ok(Some(h));
        }
        if std::time::Instant::now() > deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Whether something answers on `addr:port` within two seconds.
pub async fn probe(addr: IpAddr, port: u16) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((addr, port))
        )
        .await,
        Ok(Ok(_))
    )
}

/// One pass of the host monitor. Idempotent; safe to run on every management server.
pub async fn monitor_once(ctx: &Ctx) -> Result<()> {
    let timeout = interval_secs(ctx) as f64 * ctx.get(&settings::PING_TIMEOUT);
    for h in db::hosts::host_list_silent(&ctx.pool, timeout).await? {
        let why = format!("no heartbeat for {timeout:.0} s");
        let cutoff = chrono::Utc::now() - chrono::Duration::milliseconds((timeout * 1000.0) as i64);
        transition(
            ctx,
            h.id,
            StatusEvent::HeartbeatsMissed,
            |x| x.last_pinged.unwrap_or(x.created) < cutoff,
            &why,
        )
        .await?;
    }
    let port = ctx.get(&settings::HOST_PROBE_PORT) as u16;
    let mut probes = tokio::task::JoinSet::new();
    for h in db::hosts::host_list_unreporting(&ctx.pool).await? {
        probes.spawn(async move { (h.id, probe(h.address.ip(), port).await) });
    }
    while let Some(Ok((id, reachable))) = probes.join_next().await {
        let (event, why) = if reachable {
            (
                StatusEvent::ProbeReachable,
                format!("the host answers on port {port} but its agent does not report"),
            )
        } else {
            (
                StatusEvent::ProbeUnreachable,
                format!("the host does not answer on port {port}"),
            )
        };
        transition(ctx, id, event, |x| x.status != Status::Up, &why).await?;
    }
    Ok(())
}

/// Runs the monitor every second until shutdown; prunes old metric samples every minute.
pub async fn run_monitor(ctx: Ctx, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        crate::services::tasks::pass(
            &ctx,
            "host-monitor",
            Duration::from_secs(1),
            monitor_once(&ctx),
            |_| "hosts' heartbeats checked".into(),
        )
        .await;
        n += 1;
        if n.is_multiple_of(60) {
            let keep = ctx.get(&settings::HOST_METRICS_RETENTION_HOURS);
            crate::services::tasks::pass(
                &ctx,
                "host-metrics-retention",
                Duration::from_secs(60),
                db::hosts::host_metrics_purge(&ctx.pool, keep),
                |n| format!("{n} samples older than {keep} h removed"),
            )
            .await;
            let keep = ctx.get(&settings::VM_STATS_MAX_RETENTION_TIME);
            crate::services::tasks::pass(
                &ctx,
                "vm-metrics-retention",
                Duration::from_secs(60),
                db::vms::vm_metrics_purge(&ctx.pool, keep),
                |n| format!("{n} VM samples older than {keep} min removed"),
            )
            .await;
        }
    }
}
