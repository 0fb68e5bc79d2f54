//! listResourceLimits, updateResourceLimit and updateResourceCount (issue 22), as
//! CloudStack answers them: one row per resource type (0 user_vm … 11
//! secondary_storage), an account's own maximum or the `max.account.*` default (a
//! domain's: its own, its nearest ancestor's or `max.domain.*`), -1 for unlimited,
//! storage in GiB. Enforcement is `services::limits::admit`, called by each
//! allocating command. Counts are computed from the resources, so updateResourceCount
//! has nothing to repair: it answers them.

use super::requests;
use crate::ids::AccountId;
use std::collections::HashMap;

use stratus_api::envelope::Reply;
use stratus_api::types::{ResourceCountResponse, ResourceLimitResponse};
use stratus_api::{ApiError, ErrorCode, Params};

use super::{event, not_found, one_domain, page_of};
use crate::ctx::Ctx;
use crate::db::{self, accounts::AccountRow, limits::UsageRow};
use crate::error::Result;
use crate::rules::limits::{parse_max, Limit, ResourceKind};
use crate::services::auth::Caller;
use crate::services::limits::{limits_of, limits_of_one, used, Limits, OwnerKind};

/// Whose limits a command is about.
enum Owner {
    Account(AccountRow),
    /// A project: its own account's limits (`max.project.*` defaults).
    Project(Box<db::projects::ProjectRow>),
    Domain(db::accounts::DomainRow),
}

fn kind(v: i64) -> Result<ResourceKind> {
    ResourceKind::from_ordinal(v)
        .ok_or_else(|| ApiError::param("Please specify valid resource type").into())
}

/// `resourcetypename` (which wins) or `resourcetype`, if either is given.
fn kind_filter(p: &Params) -> Result<Option<ResourceKind>> {
    let by_number = p.i64("resourcetype")?.map(kind).transpose()?;
    match p.str("resourcetypename") {
        Some(n) => ResourceKind::from_name(n).map(Some).ok_or_else(|| {
            ApiError::param(format!(
                "Please specify a valid resource type name: {}",
                ResourceKind::ALL.map(|k| k.name()).join(", ")
            ))
            .into()
        }),
        None => Ok(by_number),
    }
}

async fn account_named(ctx: &Ctx, p: &Params, name: &str) -> Result<AccountRow> {
    let domain = p
        .uuid("domainid")?
        .unwrap_or(db::accounts::ROOT_DOMAIN.into_uuid());
    db::accounts::account_fetch_by_name(&ctx.pool, domain.into(), name)
        .await?
        .ok_or_else(|| {
            ApiError::param(format!(
                "Unable to find account by name {name} in the domain"
            ))
            .into()
        })
}

/// The owner `account` (+ `domainid`) or `domainid` names; without either, the caller's
/// account. Users always get their own account; domain admins any account or domain of
/// their subtree.
async fn owner(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<Option<Owner>> {
    if let Some(project) = project_named(ctx, p).await? {
        super::projects::ensure_member(ctx, caller, &project).await?;
        return Ok(Some(Owner::Project(Box::new(project))));
    }
    if !caller.is_root_admin() && !caller.is_domain_admin() {
        p.mark_read("account");
        p.mark_read("domainid");
        return Ok(db::accounts::account_fetch(&ctx.pool, caller.account_id())
            .await?
            .map(Owner::Account));
    }
    if let Some(name) = p.str("account") {
        let a = account_named(ctx, p, name).await?;
        super::ensure_manages(caller, &a.domain_path)?;
        return Ok(Some(Owner::Account(a)));
    }
    match p.uuid("domainid")? {
        Some(d) => {
            let d = db::accounts::domain_fetch(&ctx.pool, d.into())
                .await?
                .ok_or_else(|| not_found(p, "domainid"))?;
            super::ensure_manages(caller, &d.path)?;
            Ok(Some(Owner::Domain(d)))
        }
        None => Ok(db::accounts::account_fetch(&ctx.pool, caller.account_id())
            .await?
            .map(Owner::Account)),
    }
}

fn is_root(a: &AccountRow) -> bool {
    a.role_type == "Admin"
}

fn kind_of(a: &AccountRow) -> OwnerKind {
    OwnerKind::of(&a.role_type, a.account_type)
}

/// The project `projectid` names (the account and domain parameters then say nothing).
async fn project_named(ctx: &Ctx, p: &Params) -> Result<Option<db::projects::ProjectRow>> {
    let Some(id) = p.uuid("projectid")? else {
        return Ok(None);
    };
    p.mark_read("account");
    p.mark_read("domainid");
    Ok(Some(
        db::projects::project_fetch(&ctx.pool, id.into())
            .await?
            .ok_or_else(|| not_found(p, "projectid"))?,
    ))
}

fn limit_response(o: &Owner, k: ResourceKind, max: Limit) -> ResourceLimitResponse {
    let (account, domainid, domain, domainpath) = match o {
        Owner::Account(a) => (
            Some(a.name.clone()),
            a.domain_id,
            a.domain_name.clone(),
            a.domain_path.clone(),
        ),
        Owner::Domain(d) => (None, d.id, d.name.clone(), d.path.clone()),
        Owner::Project(p) => (
            None,
            p.domain_id,
            p.domain_name.clone(),
            p.domain_path.clone(),
        ),
    };
    let (projectid, project) = match o {
        Owner::Project(p) => (Some(p.id), Some(p.name.clone())),
        _ => (None, None),
    };
    ResourceLimitResponse {
        account,
        projectid: projectid.map(Into::into),
        project,
        domainid: Some(domainid.into_uuid()),
        domain: Some(domain),
        domainpath: Some(domainpath),
        resourcetype: Some(k.ordinal().to_string()),
        resourcetypename: Some(k.name().into()),
        max: Some(max.raw()),
    }
}

async fn limits_of_owner(ctx: &Ctx, o: &Owner) -> Result<Limits> {
    Ok(match o {
        Owner::Account(a) => limits_of_one(ctx, &ctx.pool, a.id, kind_of(a)).await?,
        Owner::Project(p) => {
            limits_of_one(ctx, &ctx.pool, p.account_id, OwnerKind::Project).await?
        }
        Owner::Domain(d) => crate::services::limits::domain_limits_of(ctx, &ctx.pool, &[d.id])
            .await?
            .remove(&d.id)
            .unwrap_or(Limits::UNLIMITED),
    })
}

pub async fn list(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListResourceLimits<'_>,
) -> Result<Reply> {
    one_domain(r.wire());
    r.wire().mark_read("listall");
    let only = kind_filter(r.wire())?;
    let Some(o) = owner(ctx, caller, r.wire()).await? else {
        return Ok(Reply::list(
            "resourcelimit",
            0,
            Vec::<ResourceLimitResponse>::new(),
        ));
    };
    let limits = limits_of_owner(ctx, &o).await?;
    // keyword: part of the type's name.
    let keyword = r.keyword().map(str::to_ascii_lowercase);
    let items: Vec<ResourceLimitResponse> = ResourceKind::ALL
        .into_iter()
        .filter(|k| only.is_none_or(|o| o == *k))
        .filter(|k| keyword.as_deref().is_none_or(|w| k.name().contains(w)))
        .map(|k| limit_response(&o, k, limits.of(k)))
        .collect();
    let (total, items) = page_of(ctx, r.wire(), items)?;
    Ok(Reply::list("resourcelimit", total, items))
}

pub async fn update(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateResourceLimit<'_>,
) -> Result<Reply> {
    let max = parse_max(r.max())?;
    let k = kind(r.resourcetype())?;
    let project = project_named(ctx, r.wire()).await?;
    let o = match (r.account(), r.domainid()) {
        // A project's limits are set by the admins of its domain (not its own admins).
        _ if project.is_some() => {
            let project = project.ok_or_else(|| crate::error::Error::internal("no project"))?;
            super::ensure_manages(caller, &project.domain_path)?;
            Owner::Project(Box::new(project))
        }
        (Some(name), _) => {
            let a = account_named(ctx, r.wire(), name).await?;
            super::ensure_manages(caller, &a.domain_path)?;
            if caller.is_domain_admin() && a.id == caller.account_id() {
                return Err(ApiError::new(
                    ErrorCode::Account,
                    "A domain admin cannot change the limits of its own account",
                )
                .into());
            }
            Owner::Account(a)
        }
        (None, Some(d)) => {
            let d = db::accounts::domain_fetch(&ctx.pool, d)
                .await?
                .ok_or_else(|| not_found(r.wire(), "domainid"))?;
            if d.id == db::accounts::ROOT_DOMAIN {
                return Err(ApiError::new(
                    ErrorCode::Account,
                    "Cannot update resource limit for ROOT domain, permission denied",
                )
                .into());
            }
            // A domain admin sets the limits of the domains below its own, not its own.
            if !caller.is_root_admin()
                && (d.id == caller.domain_id() || !caller.manages_domain(&d.path))
            {
                return Err(ApiError::new(
                    ErrorCode::Account,
                    format!(
                        "The caller cannot update the resource limits of domain {}",
                        d.path
                    ),
                )
                .into());
            }
            Owner::Domain(d)
        }
        (None, None) => {
            return Err(ApiError::param(
                "AccountId or domainId have to be specified in order to update resource limit",
            )
            .into())
        }
    };
    let (what, target) = match &o {
        Owner::Account(a) => {
            if a.id == db::accounts::SYSTEM_ACCOUNT {
                return Err(ApiError::param("Can't update system account").into());
            }
            if is_root(a) && max != Limit::Unlimited {
                return Err(
                    ApiError::param("Only -1 limit is supported for Root Admin accounts").into(),
                );
            }
            ("account", a.name.clone())
        }
        Owner::Domain(d) => ("domain", d.path.clone()),
        Owner::Project(p) => ("project", p.name.clone()),
    };
    let mut tx = ctx.pool.begin().await?;
    match &o {
        Owner::Account(a) => {
            db::limits::limit_set_for_account(&mut *tx, a.id, k.ordinal(), max.raw()).await?
        }
        Owner::Domain(d) => {
            db::limits::limit_set_for_domain(&mut *tx, d.id, k.ordinal(), max.raw()).await?
        }
        Owner::Project(p) => {
            db::limits::limit_set_for_account(&mut *tx, p.account_id, k.ordinal(), max.raw())
                .await?
        }
    }
    event(
        &mut tx,
        &caller.user,
        "RESOURCE.LIMIT.UPDATE",
        format!(
            "Resource limit of type {} for {what} {target} set to {}",
            k.name(),
            max.text()
        ),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("resourcelimit", &limit_response(&o, k, max)))
}

pub async fn update_count(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateResourceCount<'_>,
) -> Result<Reply> {
    let domain = db::accounts::domain_fetch(&ctx.pool, r.domainid())
        .await?
        .ok_or_else(|| not_found(r.wire(), "domainid"))?;
    super::ensure_manages(caller, &domain.path)?;
    let only = r.resourcetype().map(kind).transpose()?;
    // One project's, one account's, or the whole subtree's counts.
    let project = project_named(ctx, r.wire()).await?;
    let (account, ids) = match (&project, r.account()) {
        (Some(project), _) => {
            // The project's admins are its domain's: the project must be in the
            // domain named (or below it), which the caller manages.
            if !crate::rules::domains::is_within(&project.domain_path, &domain.path) {
                return Err(not_found(r.wire(), "projectid"));
            }
            (None, vec![project.account_id])
        }
        (None, Some(name)) => {
            let a = account_named(ctx, r.wire(), name).await?;
            let ids = vec![a.id];
            (Some(a.name), ids)
        }
        (None, None) => (
            None,
            db::limits::account_ids_under(&ctx.pool, &domain.path).await?,
        ),
    };
    let total =
        crate::services::limits::sum(&db::limits::usage_of_accounts(&ctx.pool, &ids).await?);
    let items: Vec<ResourceCountResponse> = ResourceKind::ALL
        .into_iter()
        .filter(|k| only.is_none_or(|o| o == *k))
        .map(|k| ResourceCountResponse {
            account: account.clone(),
            domainid: Some(domain.id.into_uuid()),
            domain: Some(domain.name.clone()),
            domainpath: Some(domain.path.clone()),
            projectid: project.as_ref().map(|p| p.id).map(Into::into),
            project: project.as_ref().map(|p| p.name.clone()),
            resourcetype: Some(k.ordinal().to_string()),
            resourcetypename: Some(k.name().into()),
            resourcecount: Some(used(&total, k)),
        })
        .collect();
    Ok(Reply::list("resourcecount", items.len() as i64, &items))
}

/// The limit fields of listAccounts' answers, for each of `accounts`.
pub async fn account_limits(
    ctx: &Ctx,
    accounts: &[AccountRow],
) -> Result<HashMap<AccountId, (Limits, UsageRow)>> {
    let owners: Vec<(AccountId, OwnerKind)> = accounts.iter().map(|a| (a.id, kind_of(a))).collect();
    let ids: Vec<AccountId> = owners.iter().map(|o| o.0).collect();
    let mut limits = limits_of(ctx, &ctx.pool, &owners).await?;
    Ok(db::limits::usage_of_accounts(&ctx.pool, &ids)
        .await?
        .into_iter()
        .filter_map(|u| limits.remove(&u.account_id).map(|l| (u.account_id, (l, u))))
        .collect())
}

/// Sets an account answer's `*limit`, `*total` and `*available` fields (storage totals in
/// GiB) and its running and stopped VM counts.
/// Sets the `<type>limit`, `<type>total` and `<type>available` fields CloudStack's
/// account and domain answers share.
macro_rules! fill_limits {
    ($r:expr, $l:expr, $u:expr) => {{
        use ResourceKind as K;
        let (r, l, u) = ($r, $l, $u);
        let f = |k: K| {
            let lim = l.of(k);
            let n = used(u, k);
            (
                Some(lim.text()),
                Some(k.shown(n)),
                Some(lim.available(k, n)),
            )
        };
        (r.vmlimit, r.vmtotal, r.vmavailable) = f(K::UserVm);
        (r.iplimit, r.iptotal, r.ipavailable) = f(K::PublicIp);
        (r.volumelimit, r.volumetotal, r.volumeavailable) = f(K::Volume);
        (r.snapshotlimit, r.snapshottotal, r.snapshotavailable) = f(K::Snapshot);
        (r.templatelimit, r.templatetotal, r.templateavailable) = f(K::Template);
        (r.networklimit, r.networktotal, r.networkavailable) = f(K::Network);
        (r.vpclimit, r.vpctotal, r.vpcavailable) = f(K::Vpc);
        (r.cpulimit, r.cputotal, r.cpuavailable) = f(K::Cpu);
        (r.memorylimit, r.memorytotal, r.memoryavailable) = f(K::Memory);
        (
            r.primarystoragelimit,
            r.primarystoragetotal,
            r.primarystorageavailable,
        ) = f(K::PrimaryStorage);
        (
            r.secondarystoragelimit,
            r.secondarystoragetotal,
            r.secondarystorageavailable,
        ) = f(K::SecondaryStorage);
    }};
}

pub fn fill_account(r: &mut stratus_api::types::AccountResponse, l: &Limits, u: &UsageRow) {
    fill_limits!(&mut *r, l, u);
    fill_project_fields(r, l, u);
    r.vmrunning = Some(u.vm_running);
    r.vmstopped = Some(u.vm_stopped);
}

pub fn fill_domain(r: &mut stratus_api::types::DomainResponse, l: &Limits, u: &UsageRow) {
    fill_limits!(&mut *r, l, u);
    let k = ResourceKind::Project;
    let (lim, n) = (l.of(k), used(u, k));
    (r.projectlimit, r.projecttotal, r.projectavailable) = (
        Some(lim.text()),
        Some(k.shown(n)),
        Some(lim.available(k, n)),
    );
}

fn fill_project_fields(r: &mut stratus_api::types::AccountResponse, l: &Limits, u: &UsageRow) {
    let k = ResourceKind::Project;
    let (lim, n) = (l.of(k), used(u, k));
    (r.projectlimit, r.projecttotal, r.projectavailable) = (
        Some(lim.text()),
        Some(k.shown(n)),
        Some(lim.available(k, n)),
    );
}

/// A project answer's limit fields (a project owns no projects: no `project*` fields)
/// and its running and stopped VM counts.
pub fn fill_project(r: &mut stratus_api::types::ProjectResponse, l: &Limits, u: &UsageRow) {
    fill_limits!(&mut *r, l, u);
    r.vmrunning = Some(u.vm_running);
    r.vmstopped = Some(u.vm_stopped);
}
