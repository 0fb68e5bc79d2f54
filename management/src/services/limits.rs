//! Resource limits (issue 22): each account's maximums — its own where an admin set one,
//! else the `max.account.*` settings; root admin accounts are never limited, as in
//! CloudStack — and [`admit`], the check every allocation runs inside the transaction
//! that records it. `admit` locks the account's row first, so allocations of one account
//! are decided one at a time against what is really there: 50 parallel deploys into room
//! for 10 make exactly 10 VMs.
//!
//! Domains have limits too, resolved as CloudStack does: a domain's own maximum of a type,
//! else its nearest ancestor's below ROOT, else the `max.domain.*` setting (ROOT is never
//! limited); everything its subtree's accounts use together must fit. An allocation locks
//! the rows of those ancestor domains that have a finite maximum of what it asks for —
//! after its account, shallowest first, so two allocations never wait on each other in
//! opposite orders — and only those: where the domain settings are -1 and no domain sets
//! its own, allocations stay serialised per account, not per domain.

use std::collections::HashMap;

use sqlx::{PgConnection, PgExecutor};

use crate::ids::{AccountId, DomainId};

use crate::ctx::Ctx;
use crate::db::{self, limits::UsageRow};
use crate::error::Result;
use crate::rules::limits::{check, Limit, ResourceKind};
use crate::settings::{self, Setting};

/// What kind of owner an account is, for its default maximums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    /// Root admins are never limited.
    RootAdmin,
    /// A project's own account: the `max.project.*` defaults.
    Project,
    /// Everyone else: the `max.account.*` defaults.
    Account,
}

impl OwnerKind {
    pub fn of(role_type: &str, account_type: i32) -> OwnerKind {
        if role_type == "Admin" {
            OwnerKind::RootAdmin
        } else if account_type == crate::rules::projects::PROJECT_ACCOUNT_TYPE {
            OwnerKind::Project
        } else {
            OwnerKind::Account
        }
    }
}

/// The setting that holds an account's default maximum of `kind`.
fn default_setting(kind: ResourceKind) -> &'static Setting<i64> {
    use ResourceKind as K;
    match kind {
        K::UserVm => &settings::MAX_ACCOUNT_USER_VMS,
        K::PublicIp => &settings::MAX_ACCOUNT_PUBLIC_IPS,
        K::Volume => &settings::MAX_ACCOUNT_VOLUMES,
        K::Snapshot => &settings::MAX_ACCOUNT_SNAPSHOTS,
        K::Template => &settings::MAX_ACCOUNT_TEMPLATES,
        K::Project => &settings::MAX_ACCOUNT_PROJECTS,
        K::Network => &settings::MAX_ACCOUNT_NETWORKS,
        K::Vpc => &settings::MAX_ACCOUNT_VPCS,
        K::Cpu => &settings::MAX_ACCOUNT_CPUS,
        K::Memory => &settings::MAX_ACCOUNT_MEMORY,
        K::PrimaryStorage => &settings::MAX_ACCOUNT_PRIMARY_STORAGE,
        K::SecondaryStorage => &settings::MAX_ACCOUNT_SECONDARY_STORAGE,
    }
}

/// The setting that holds a project's default maximum of `kind` (`None`: a project owns
/// no projects; CloudStack has no `max.project.projects`).
fn project_default_setting(kind: ResourceKind) -> Option<&'static Setting<i64>> {
    use ResourceKind as K;
    Some(match kind {
        K::UserVm => &settings::MAX_PROJECT_USER_VMS,
        K::PublicIp => &settings::MAX_PROJECT_PUBLIC_IPS,
        K::Volume => &settings::MAX_PROJECT_VOLUMES,
        K::Snapshot => &settings::MAX_PROJECT_SNAPSHOTS,
        K::Template => &settings::MAX_PROJECT_TEMPLATES,
        K::Project => return None,
        K::Network => &settings::MAX_PROJECT_NETWORKS,
        K::Vpc => &settings::MAX_PROJECT_VPCS,
        K::Cpu => &settings::MAX_PROJECT_CPUS,
        K::Memory => &settings::MAX_PROJECT_MEMORY,
        K::PrimaryStorage => &settings::MAX_PROJECT_PRIMARY_STORAGE,
        K::SecondaryStorage => &settings::MAX_PROJECT_SECONDARY_STORAGE,
    })
}

/// How much of `kind` the usage row says is in use (usage units).
pub fn used(u: &UsageRow, kind: ResourceKind) -> i64 {
    use ResourceKind as K;
    match kind {
        K::UserVm => u.user_vm,
        K::Volume => u.volume,
        K::Template => u.template,
        K::Cpu => u.cpu,
        K::Memory => u.memory,
        K::PrimaryStorage => u.primary_bytes,
        K::SecondaryStorage => u.secondary_bytes,
        K::Project => u.project,
        K::Snapshot => u.snapshot,
        K::Network => u.network,
        K::PublicIp => u.public_ip,
        // Stratus has no VPCs.
        K::Vpc => 0,
    }
}

/// An account's maximums, one per resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits([Limit; 12]);

impl Limits {
    pub const UNLIMITED: Limits = Limits([Limit::Unlimited; 12]);

    pub fn of(&self, kind: ResourceKind) -> Limit {
        self.0
            .get(kind as usize)
            .copied()
            .unwrap_or(Limit::Unlimited)
    }
}

/// The maximums of each of `accounts` (`(id, what owner it is)`), read through `db`
/// (inside an allocation: its transaction, never a second connection while it holds a
/// lock).
pub async fn limits_of(
    ctx: &Ctx,
    db: impl PgExecutor<'_>,
    accounts: &[(AccountId, OwnerKind)],
) -> Result<HashMap<AccountId, Limits>> {
    let ids: Vec<AccountId> = accounts.iter().map(|a| a.0).collect();
    let own = db::limits::limit_list_of_accounts(db, &ids).await?;
    Ok(accounts
        .iter()
        .map(|&(id, owner)| {
            let limits = Limits(ResourceKind::ALL.map(|k| {
                if owner == OwnerKind::RootAdmin {
                    return Limit::Unlimited;
                }
                own.iter()
                    .find(|(a, t, _)| *a == id && *t == k.ordinal())
                    .map(|(_, _, max)| Limit::from_raw(*max))
                    .unwrap_or_else(|| match owner {
                        OwnerKind::Project => project_default_setting(k)
                            .map_or(Limit::Unlimited, |s| Limit::from_raw(ctx.get(s))),
                        _ => Limit::from_raw(ctx.get(default_setting(k))),
                    })
            }));
            (id, limits)
        })
        .collect())
}

/// The setting that holds a domain's default maximum of `kind`.
fn domain_default_setting(kind: ResourceKind) -> &'static Setting<i64> {
    use ResourceKind as K;
    match kind {
        K::UserVm => &settings::MAX_DOMAIN_USER_VMS,
        K::PublicIp => &settings::MAX_DOMAIN_PUBLIC_IPS,
        K::Volume => &settings::MAX_DOMAIN_VOLUMES,
        K::Snapshot => &settings::MAX_DOMAIN_SNAPSHOTS,
        K::Template => &settings::MAX_DOMAIN_TEMPLATES,
        K::Project => &settings::MAX_DOMAIN_PROJECTS,
        K::Network => &settings::MAX_DOMAIN_NETWORKS,
        K::Vpc => &settings::MAX_DOMAIN_VPCS,
        K::Cpu => &settings::MAX_DOMAIN_CPUS,
        K::Memory => &settings::MAX_DOMAIN_MEMORY,
        K::PrimaryStorage => &settings::MAX_DOMAIN_PRIMARY_STORAGE,
        K::SecondaryStorage => &settings::MAX_DOMAIN_SECONDARY_STORAGE,
    }
}

/// The maximums of `domains`, as CloudStack resolves them type by type: the domain's own
/// where set, else its nearest ancestor's below ROOT, else the `max.domain.*` default.
/// ROOT is never limited.
pub async fn domain_limits_of(
    ctx: &Ctx,
    db: impl PgExecutor<'_>,
    domains: &[DomainId],
) -> Result<HashMap<DomainId, Limits>> {
    let set = db::limits::limit_list_of_domains(db, domains).await?;
    Ok(domains
        .iter()
        .map(|&id| {
            if id == db::accounts::ROOT_DOMAIN {
                return (id, Limits::UNLIMITED);
            }
            let limits = Limits(ResourceKind::ALL.map(|k| {
                set.iter()
                    .find(|(d, t, _)| *d == id && *t == k.ordinal())
                    .map(|(_, _, max)| Limit::from_raw(*max))
                    .unwrap_or_else(|| Limit::from_raw(ctx.get(domain_default_setting(k))))
            }));
            (id, limits)
        })
        .collect())
}

/// What the accounts of the domain at `path` and below it use together.
pub async fn domain_usage(db: &mut PgConnection, path: &str) -> Result<UsageRow> {
    let ids = db::limits::account_ids_under(&mut *db, path).await?;
    Ok(sum(&db::limits::usage_of_accounts(&mut *db, &ids).await?))
}

/// The sum of several accounts' usage.
pub fn sum(rows: &[UsageRow]) -> UsageRow {
    let mut t = UsageRow::default();
    for u in rows {
        t.user_vm += u.user_vm;
        t.cpu += u.cpu;
        t.memory += u.memory;
        t.volume += u.volume;
        t.primary_bytes += u.primary_bytes;
        t.template += u.template;
        t.secondary_bytes += u.secondary_bytes;
        t.vm_running += u.vm_running;
        t.vm_stopped += u.vm_stopped;
        t.project += u.project;
        t.snapshot += u.snapshot;
        t.network += u.network;
        t.public_ip += u.public_ip;
    }
    t
}

/// The maximums of one account.
pub async fn limits_of_one(
    ctx: &Ctx,
    db: impl PgExecutor<'_>,
    account: AccountId,
    owner: OwnerKind,
) -> Result<Limits> {
    Ok(limits_of(ctx, db, &[(account, owner)])
        .await?
        .remove(&account)
        .unwrap_or(Limits::UNLIMITED))
}

/// Inside the allocating transaction `tx`: locks `account` and checks that `wanted`
/// (amounts in usage units; negative amounts give back and always pass) fits next to
/// what the account uses. The error is CloudStack's 535 naming the type and the limit.
pub async fn admit(
    ctx: &Ctx,
    tx: &mut PgConnection,
    account: AccountId,
    wanted: &[(ResourceKind, i64)],
) -> Result<()> {
    let Some(a) = db::limits::account_lock_for_limits(tx, account).await? else {
        return Err(crate::error::Error::internal("the account vanished"));
    };
    let kind = OwnerKind::of(&a.role_type, a.account_type);
    if kind == OwnerKind::RootAdmin || wanted.iter().all(|(_, n)| *n <= 0) {
        return Ok(());
    }
    let domain = a.domain_id;
    let limits = limits_of_one(ctx, &mut *tx, account, kind).await?;
    let usage = db::limits::usage_of_accounts(&mut *tx, &[account])
        .await?
        .pop()
        .unwrap_or_default();
    // CloudStack names a project's allocations by the project.
    let owner = match &a.project_name {
        Some(p) => format!("Project Name = {p} in Domain Id = {domain}"),
        None => format!("Account Name = {} in Domain Id = {domain}", a.name),
    };
    for &(kind, n) in wanted {
        check(kind, limits.of(kind), used(&usage, kind), n, &owner)?;
    }
    // The domains above the account that limit something this allocation asks for.
    let chain = db::limits::domain_chain(&mut *tx, domain).await?;
    let ids: Vec<DomainId> = chain.iter().map(|c| c.0).collect();
    let domain_limits = domain_limits_of(ctx, &mut *tx, &ids).await?;
    let limiting: Vec<&(DomainId, String)> = chain
        .iter()
        .filter(|(id, _)| {
            domain_limits.get(id).is_some_and(|l| {
                wanted
                    .iter()
                    .any(|&(k, n)| n > 0 && l.of(k) != Limit::Unlimited)
            })
        })
        .collect();
    if limiting.is_empty() {
        return Ok(());
    }
    let lock: Vec<DomainId> = limiting.iter().map(|c| c.0).collect();
    db::limits::domains_lock_for_limits(&mut *tx, &lock).await?;
    // Checked from the account's own domain up, as CloudStack does: the error names the
    // nearest domain that is full.
    for (id, path) in limiting.into_iter().rev() {
        let usage = domain_usage(&mut *tx, path).await?;
        let l = domain_limits.get(id).copied().unwrap_or(Limits::UNLIMITED);
        let owner = format!("Domain Id = {id} ({path})");
        for &(kind, n) in wanted {
            check(kind, l.of(kind), used(&usage, kind), n, &owner)?;
        }
    }
    Ok(())
}
