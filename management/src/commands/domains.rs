//! Domains (issue 22): CloudStack's tree of tenants. createDomain, updateDomain (a rename
//! moves the subtree's paths), deleteDomain (with `cleanup`, the subtree and its empty
//! accounts too), listDomains and listDomainChildren, each domain answered with its
//! limits and what its subtree uses. Root admins act on every domain; domain admins on
//! their own domain's subtree, and may create, rename and delete only below it.

use super::requests;
use crate::ids::{AccountId, DomainId};
use std::collections::HashMap;

use stratus_api::envelope::Reply;
use stratus_api::types::DomainResponse;
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use super::{ensure_manages, event, list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::accounts::{self as a, DomainRow, DomainScope};
use crate::db::events::{EventResource, ResourceType};
use crate::error::Result;
use crate::rules::domains::{self as rules, MAX_LEVEL};
use crate::services::auth::Caller;
use crate::services::limits::{domain_limits_of, domain_usage, Limits};

pub fn response(d: &DomainRow) -> DomainResponse {
    DomainResponse {
        id: Some(d.id.into_uuid()),
        name: Some(d.name.clone()),
        level: Some(d.level),
        parentdomainid: d.parent_id.map(Into::into),
        parentdomainname: d.parent_name.clone(),
        haschild: Some(d.has_child),
        path: Some(d.path.clone()),
        state: Some(d.state.clone()),
        created: Some(d.created.into()),
        networkdomain: d.network_domain.clone(),
        hasannotations: Some(false),
        ..Default::default()
    }
}

/// The answers for `rows`, with each domain's limits and its subtree's usage (one usage
/// query per domain of the page, which the page size bounds).
async fn answers(ctx: &Ctx, rows: &[DomainRow]) -> Result<Vec<DomainResponse>> {
    let ids: Vec<DomainId> = rows.iter().map(|d| d.id).collect();
    let limits = domain_limits_of(ctx, &ctx.pool, &ids).await?;
    let mut conn = ctx.pool.acquire().await?;
    let mut out = Vec::with_capacity(rows.len());
    for d in rows {
        let mut r = response(d);
        let usage = domain_usage(&mut conn, &d.path).await?;
        let l = limits.get(&d.id).copied().unwrap_or(Limits::UNLIMITED);
        super::limits::fill_domain(&mut r, &l, &usage);
        out.push(r);
    }
    Ok(out)
}

/// One domain, read back with its parent's name and whether it has children.
async fn fetch_full(ctx: &Ctx, id: Uuid) -> Result<DomainRow> {
    let f = crate::db::ListFilter {
        id: Some(id),
        ..Default::default()
    };
    a::domain_list(&ctx.pool, &f, None, DomainScope::All)
        .await?
        .0
        .pop()
        .ok_or_else(|| crate::error::Error::internal("the domain vanished"))
}

async fn one_answer(ctx: &Ctx, id: Uuid) -> Result<Reply> {
    let d = fetch_full(ctx, id).await?;
    let r = answers(ctx, std::slice::from_ref(&d)).await?;
    let r = r
        .first()
        .ok_or_else(|| crate::error::Error::internal("no answer for the domain"))?;
    Ok(Reply::object("domain", r))
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListDomains<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    // Domains are answered whole (with their limits) whatever `details` asks.
    r.wire().mark_read("details");
    r.wire().mark_read("listall");
    // Everyone but a root admin sees their own domain and those below it.
    let under = (!caller.is_root_admin()).then(|| caller.user.domain_path.clone());
    let scope = under
        .as_deref()
        .map_or(DomainScope::All, DomainScope::Subtree);
    let (rows, total) = a::domain_list(&ctx.pool, &f, r.level(), scope).await?;
    Ok(Reply::list("domain", total, answers(ctx, &rows).await?))
}

pub async fn list_children(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListDomainChildren<'_>,
) -> Result<Reply> {
    r.wire().mark_read("listall");
    let parent = match r.id() {
        Some(id) => a::domain_fetch(&ctx.pool, id.into())
            .await?
            .ok_or_else(|| not_found(r.wire(), "id"))?,
        None => a::domain_fetch(&ctx.pool, caller.domain_id())
            .await?
            .ok_or_else(|| crate::error::Error::internal("the caller's domain vanished"))?,
    };
    ensure_manages(caller, &parent.path)?;
    // `id` names the parent here, not a domain to list.
    let f = crate::db::ListFilter {
        id: None,
        ..list_filter(ctx, r.wire())?
    };
    let scope = if r.isrecursive() == Some(true) {
        DomainScope::Below(&parent.path)
    } else {
        DomainScope::ChildrenOf(parent.id.into_uuid())
    };
    let (rows, total) = a::domain_list(&ctx.pool, &f, None, scope).await?;
    Ok(Reply::list("domain", total, answers(ctx, &rows).await?))
}

/// The network domain a command sets: absent keeps `current`, empty clears it.
fn network_domain(p: &Params, current: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(v) = p.str("networkdomain") else {
        return Ok(current.map(str::to_string));
    };
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    // A DNS name: labels of letters, digits and hyphens.
    let ok = v.len() <= 253
        && v.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        return Err(ApiError::param(
            "Invalid network domain. Total length shouldn't exceed 190 chars. Each domain label must be between 1 and 63 characters long, can contain ASCII letters 'a' through 'z', the digits '0' through '9', and the hyphen ('-'); can't start or end with \"-\"; can't start with digit",
        ));
    }
    Ok(Some(v.to_string()))
}

fn name_taken(name: &str, parent: &str) -> ApiError {
    ApiError::in_use(format!(
        "Domain with name {} already exists for the parent {}",
        stratus_api::params::shown(name),
        parent
    ))
}

pub async fn create(ctx: &Ctx, caller: &Caller, r: &requests::CreateDomain<'_>) -> Result<Reply> {
    let name = rules::valid_name(r.name())?;
    let parent_id = r.parentdomainid().unwrap_or(caller.domain_id());
    let parent = a::domain_fetch(&ctx.pool, parent_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "parentdomainid"))?;
    ensure_manages(caller, &parent.path)?;
    if parent.level + 1 > MAX_LEVEL {
        return Err(ApiError::param(format!(
            "Domains cannot be nested deeper than {MAX_LEVEL} levels"
        ))
        .into());
    }
    let network = network_domain(r.wire(), None)?;
    let id = DomainId::new_v4();
    let mut tx = ctx.pool.begin().await?;
    if a::domain_sibling_named(&mut *tx, parent.id, &name, id)
        .await?
        .is_some()
    {
        return Err(name_taken(&name, &parent.path).into());
    }
    a::domain_insert(&mut *tx, id, &name, &parent, network.as_deref()).await?;
    event(
        &mut tx,
        &caller.user,
        "DOMAIN.CREATE",
        format!("Creating domain {}", rules::child_path(&parent.path, &name)),
        Some(EventResource::new(ResourceType::Domain, id, name.clone())),
    )
    .await?;
    tx.commit().await?;
    one_answer(ctx, id.into()).await
}

pub async fn update(ctx: &Ctx, caller: &Caller, r: &requests::UpdateDomain<'_>) -> Result<Reply> {
    let d = a::domain_fetch(&ctx.pool, r.id())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    ensure_manages(caller, &d.path)?;
    let name = match r.name() {
        Some(n) => rules::valid_name(n)?,
        None => d.name.clone(),
    };
    let network = network_domain(r.wire(), d.network_domain.as_deref())?;
    let Some(parent_id) = d.parent_id else {
        if name != d.name {
            return Err(ApiError::param("ROOT domain can not be edited with a new name").into());
        }
        return save(ctx, caller, &d, &name, &d.path, network.as_deref()).await;
    };
    // A domain admin may rename the domains below its own, not its own.
    if name != d.name && !caller.is_root_admin() && d.id == caller.domain_id() {
        return Err(ApiError::new(
            ErrorCode::Account,
            "A domain admin cannot rename its own domain",
        )
        .into());
    }
    let parent = a::domain_fetch(&ctx.pool, parent_id)
        .await?
        .ok_or_else(|| crate::error::Error::internal("the parent domain vanished"))?;
    if name != d.name
        && a::domain_sibling_named(&ctx.pool, parent.id, &name, d.id)
            .await?
            .is_some()
    {
        return Err(name_taken(&name, &parent.path).into());
    }
    let path = rules::child_path(&parent.path, &name);
    save(ctx, caller, &d, &name, &path, network.as_deref()).await
}

async fn save(
    ctx: &Ctx,
    caller: &Caller,
    d: &DomainRow,
    name: &str,
    path: &str,
    network: Option<&str>,
) -> Result<Reply> {
    let mut tx = ctx.pool.begin().await?;
    a::domain_update(&mut *tx, d.id, name, path, network).await?;
    event(
        &mut tx,
        &caller.user,
        "DOMAIN.UPDATE",
        format!("Updating domain {}", d.path),
        Some(EventResource::new(
            ResourceType::Domain,
            d.id,
            name.to_string(),
        )),
    )
    .await?;
    tx.commit().await?;
    one_answer(ctx, d.id.into_uuid()).await
}

pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteDomain<'_>) -> Result<Reply> {
    let d = a::domain_fetch(&ctx.pool, r.id())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    if d.id == a::ROOT_DOMAIN {
        return Err(ApiError::param("Can't delete the ROOT domain").into());
    }
    ensure_manages(caller, &d.path)?;
    if !caller.is_root_admin() && d.id == caller.domain_id() {
        return Err(ApiError::new(
            ErrorCode::Account,
            "A domain admin cannot delete its own domain",
        )
        .into());
    }
    let cleanup = r.cleanup().unwrap_or(false);
    let mut tx = ctx.pool.begin().await?;
    // Locked: no account or subdomain can be created under it while it goes.
    let subtree = a::domain_subtree_lock(&mut *tx, &d.path).await?;
    let ids: Vec<DomainId> = subtree.iter().map(|x| x.id).collect();
    let accounts = a::domain_accounts(&mut *tx, &ids).await?;
    if !cleanup {
        if subtree.len() > 1 {
            return Err(ApiError::in_use(format!(
                "Failed to delete domain {}, because it has {} sub-domain(s); delete them first or pass cleanup=true",
                d.path,
                subtree.len() - 1
            ))
            .into());
        }
        if !accounts.is_empty() {
            return Err(ApiError::in_use(format!(
                "Failed to delete domain {}, because it has {} account(s) ({}); delete them first or pass cleanup=true",
                d.path,
                accounts.len(),
                names(&accounts)
            ))
            .into());
        }
    }
    // Cleanup deletes the subtree's accounts, but only those that own nothing: a VM, a
    // volume, a template or an ISO is the tenant's data, which Stratus does not destroy
    // as a side effect. The error names the accounts that still own something.
    let account_ids: Vec<AccountId> = accounts.iter().map(|x| x.0).collect();
    let usage = crate::db::limits::usage_of_accounts(&mut *tx, &account_ids).await?;
    let owning: HashMap<AccountId, String> = usage
        .iter()
        .filter(|u| u.user_vm > 0 || u.volume > 0 || u.template > 0)
        .filter_map(|u| {
            accounts
                .iter()
                .find(|x| x.0 == u.account_id)
                .map(|x| (x.0, x.1.clone()))
        })
        .collect();
    if !owning.is_empty() {
        let mut owners: Vec<(AccountId, String)> = owning.into_iter().collect();
        owners.sort_by(|x, y| x.1.cmp(&y.1));
        return Err(ApiError::in_use(format!(
            "Failed to clean up domain {}: account(s) {} still own virtual machines, volumes, templates or ISOs; delete those first",
            d.path,
            names(&owners)
        ))
        .into());
    }
    for (id, _) in &accounts {
        if *id == caller.account_id() {
            return Err(ApiError::param("You cannot delete your own account").into());
        }
        a::account_delete(&mut tx, *id).await?;
    }
    // Deepest first: a parent goes after its children.
    for x in subtree.iter().rev() {
        a::domain_delete(&mut *tx, x.id).await?;
    }
    event(
        &mut tx,
        &caller.user,
        "DOMAIN.DELETE",
        format!(
            "Deleting domain {}{}",
            d.path,
            if cleanup {
                " with its subdomains and accounts"
            } else {
                ""
            }
        ),
        Some(EventResource::new(
            ResourceType::Domain,
            d.id,
            d.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

fn names(accounts: &[(AccountId, String)]) -> String {
    let mut s: Vec<String> = accounts
        .iter()
        .take(10)
        .map(|x| stratus_api::params::shown(&x.1))
        .collect();
    if accounts.len() > 10 {
        s.push(format!("and {} more", accounts.len() - 10));
    }
    s.join(", ")
}
