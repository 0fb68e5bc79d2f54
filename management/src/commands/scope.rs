//! Whose resources a list shows: CloudStack's ACL search rules (its
//! `buildACLSearchParameters`) in one place, so VMs, volumes, SSH key pairs, user data,
//! async jobs and events answer the same question the same way.
//!
//! - `projectid` names a project (or `-1`: every project the caller belongs to); the
//!   project's account owns what is listed.
//! - A user sees their own account's resources, whatever `listall`, `account` or
//!   `domainid` say.
//! - An admin (root, or a domain admin within its subtree) sees its own account's by
//!   default; `account` (+ `domainid`, default the caller's domain) names one account;
//!   `domainid` alone the accounts of that domain, with `isrecursive=true` of its whole
//!   subtree; `listall=true` (or an `id`) every account the admin may see — all of them for
//!   a root admin, its subtree's for a domain admin. A domain admin naming a domain or
//!   account outside its subtree is refused (531), as in CloudStack.
//! - What projects own is listed only by `projectid` (or an `id`): a domain's, a
//!   subtree's or `listall`'s lists leave it out, as CloudStack's
//!   `SkipProjectResources` does.

use stratus_api::Params;
use uuid::Uuid;

use super::{ensure_manages, not_found};
use crate::ctx::Ctx;
use crate::db;
use crate::error::Result;
use crate::services::auth::Caller;

/// The owners a list is restricted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owners {
    /// Every account's (a root admin's `id`).
    All,
    /// Every account's but projects' (a root admin's `listall`).
    AllButProjects,
    /// One account's.
    One(Uuid),
    /// Any of these accounts' (a domain, a subtree, projects).
    Any(Vec<Uuid>),
}

impl Owners {
    /// As the `(account_id, account_ids, skip_projects)` the `db` list filters take.
    pub fn split(self) -> (Option<Uuid>, Option<Vec<Uuid>>, bool) {
        match self {
            Owners::All => (None, None, false),
            Owners::AllButProjects => (None, None, true),
            Owners::One(id) => (Some(id), None, false),
            Owners::Any(ids) => (None, Some(ids), false),
        }
    }
}

/// What an admin's list shows when it names no account, domain or `listall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Its own account's (CloudStack's rule for resources).
    Own,
    /// A root admin sees everything (Stratus' events: the cloud's history is the
    /// operator's to read without `listall`).
    AllForRoot,
}

const SCOPE_PARAMS: [&str; 4] = ["listall", "account", "domainid", "isrecursive"];

/// Whose resources the list `p` shows for `caller`; see the module docs.
pub async fn owners(ctx: &Ctx, caller: &Caller, p: &Params, fallback: Fallback) -> Result<Owners> {
    if let Some(ids) = super::projects::list_owners(ctx, caller, p).await? {
        // The project decides whose resources these are.
        SCOPE_PARAMS.iter().for_each(|n| p.mark_read(n));
        return Ok(Owners::Any(ids));
    }
    let admin = caller.is_root_admin() || caller.is_domain_admin();
    if !admin {
        // CloudStack refuses a user naming another account; Stratus answers the user's
        // own (issue 16): nothing of anyone else's is shown either way.
        SCOPE_PARAMS.iter().for_each(|n| p.mark_read(n));
        return Ok(Owners::One(caller.account_id().into_uuid()));
    }
    let recursive = p.bool("isrecursive") == Some(true);
    let listall = p.bool("listall") == Some(true);
    // CloudStack lists projects' resources with an `id` (and `projectid`) only.
    let by_id = p.uuid("id")?.is_some();
    let domain = match p.uuid("domainid")? {
        Some(id) => {
            let d = db::accounts::domain_fetch(&ctx.pool, id.into())
                .await?
                .ok_or_else(|| not_found(p, "domainid"))?;
            ensure_manages(caller, &d.path)?;
            Some(d)
        }
        None => None,
    };
    if let Some(name) = p.str("account") {
        // Without `domainid`, the caller's own domain (which it manages).
        let domain_id = domain.as_ref().map_or(caller.domain_id(), |d| d.id);
        let a = db::accounts::account_fetch_by_name(&ctx.pool, domain_id, name)
            .await?
            .ok_or_else(|| not_found(p, "account"))?;
        return Ok(Owners::One(a.id.into_uuid()));
    }
    if let Some(d) = domain {
        return Ok(Owners::Any(
            db::accounts::account_ids_in(&ctx.pool, &d.path, recursive, by_id).await?,
        ));
    }
    let everything =
        listall || by_id || (fallback == Fallback::AllForRoot && caller.is_root_admin());
    if !everything {
        return Ok(Owners::One(caller.account_id().into_uuid()));
    }
    if caller.is_root_admin() {
        return Ok(if by_id {
            Owners::All
        } else {
            Owners::AllButProjects
        });
    }
    Ok(Owners::Any(
        db::accounts::account_ids_in(&ctx.pool, &caller.user.domain_path, true, by_id).await?,
    ))
}
