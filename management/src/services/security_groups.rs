//! Keeping every host's guest filter in step with the security groups (issue 14).
//!
//! What a host must enforce is derived, never sent as a delta: the VMs on it, their
//! groups' rules and the addresses of the groups those rules name make one
//! [`HostRuleSet`], and the agent replaces its nftables tables with it in one
//! transaction. The database's triggers (migration 0052) raise a host's generation
//! whenever a change touches its guests; the `sg-sync` reconciler pushes the whole set
//! of every Up host whose agent has not confirmed the newest generation, so a lost push
//! is retried, a host whose agent restarted (it reports generation 0 in its heartbeat)
//! gets everything again, and applying twice changes nothing. It runs every
//! [`TICK`] on every management server and is woken at once by the commands.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use stratus_api::agent::HostRuleSet;
use tokio::sync::watch;

use crate::ctx::Ctx;
use crate::db;
use crate::db::hosts::HostRow;
use crate::error::{Error, Result};
use crate::ids::{HostId, SecurityGroupId};
use crate::rules::security_groups::render::{self, Nic, Rule};
use crate::services::agents::Agent;
use crate::services::tasks::pass;

/// How often the reconciler looks for hosts behind, besides being woken.
pub const TICK: Duration = Duration::from_secs(2);
/// Hosts pushed at once by one pass (the rest wait for the next).
const BATCH: i64 = 512;
const PARALLEL: usize = 16;

/// The rule set `host` should enforce now, for `generation`.
pub async fn rule_set(ctx: &Ctx, host: HostId, generation: u64) -> Result<HostRuleSet> {
    let nics = db::security_groups::host_nics(&ctx.pool, host).await?;
    let groups: Vec<SecurityGroupId> = nics
        .iter()
        .flat_map(|n| n.groups.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows = db::security_groups::rules_of(&ctx.pool, &groups).await?;
    let named: Vec<SecurityGroupId> = rows
        .iter()
        .filter_map(|r| r.allowed_group_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut members: BTreeMap<uuid::Uuid, BTreeSet<std::net::Ipv4Addr>> = BTreeMap::new();
    for m in db::security_groups::group_ips(&ctx.pool, &named).await? {
        if let std::net::IpAddr::V4(ip) = m.ip.ip() {
            members
                .entry(m.group_id.into_uuid())
                .or_default()
                .insert(ip);
        }
    }
    let nics: Vec<Nic> = nics
        .into_iter()
        .filter_map(|n| match n.ip.ip() {
            std::net::IpAddr::V4(ip) => Some(Nic {
                vm: n.vm_id.into_uuid(),
                mac: n.mac,
                ip,
                groups: n.groups.into_iter().map(|g| g.into_uuid()).collect(),
            }),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    let rules: Vec<Rule> = rows
        .iter()
        .map(|r| Rule {
            group: r.group_id.into_uuid(),
            direction: r.direction,
            protocol: r.protocol.clone(),
            start: r.start_port,
            end: r.end_port,
            cidr: r.cidr.map(|c| (c.network(), c.prefix())),
            allowed_group: r.allowed_group_id.map(|g| g.into_uuid()),
        })
        .collect();
    Ok(render::host_rule_set(generation, &nics, &rules, &members))
}

/// Pushes `host`'s rule set now (the newest generation) and records what the agent
/// confirmed. Used by the reconciler and by a VM's start, so a guest never runs on a
/// host that does not filter it yet.
pub async fn push(ctx: &Ctx, host: &HostRow) -> Result<()> {
    let generation = db::security_groups::host_generation(&ctx.pool, host.id).await?;
    push_generation(ctx, host, generation).await
}

async fn push_generation(ctx: &Ctx, host: &HostRow, generation: i64) -> Result<()> {
    let set = rule_set(ctx, host.id, generation.max(0) as u64).await?;
    match Agent::of(ctx, host).put_rule_set(&set).await {
        Ok(done) => {
            db::security_groups::host_applied(
                &ctx.pool,
                host.id,
                done.generation.min(i64::MAX as u64) as i64,
            )
            .await
        }
        Err(e) => {
            db::security_groups::host_failed(&ctx.pool, host.id, &e.text).await?;
            Err(e.into())
        }
    }
}

/// One pass: every Up host behind gets its whole rule set. Answers how many were
/// brought in step; a host that failed is retried next pass (its error is kept for
/// admins on `sg_host_state`).
pub async fn sync_once(ctx: &Ctx) -> Result<usize> {
    let due = db::security_groups::hosts_due(&ctx.pool, BATCH).await?;
    let total = due.len();
    let mut failed: Vec<String> = Vec::new();
    for chunk in due.chunks(PARALLEL) {
        let mut set = tokio::task::JoinSet::new();
        for d in chunk {
            let (ctx, host_id, generation) = (ctx.clone(), d.host_id, d.generation);
            set.spawn(async move {
                let host = db::hosts::host_fetch(&ctx.pool, host_id)
                    .await?
                    .ok_or_else(|| Error::internal("host vanished"))?;
                push_generation(&ctx, &host, generation).await
            });
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed.push(e.to_string()),
                Err(e) => failed.push(e.to_string()),
            }
        }
    }
    if let Some(first) = failed.first() {
        return Err(Error::internal(format!(
            "{} of {total} hosts' rule sets not applied (retried): {first}",
            failed.len(),
        )));
    }
    Ok(total)
}

/// The `sg-sync` reconciler: a pass every [`TICK`], or at once when a command changed
/// rules or memberships.
pub async fn run(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = ctx.sg_sync.notified() => {}
            _ = shutdown.changed() => return,
        }
        pass(&ctx, "sg-sync", TICK, sync_once(&ctx), |n| {
            format!("{n} hosts' security group rule sets applied")
        })
        .await;
    }
}
