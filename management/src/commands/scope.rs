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
    /// Every account's (a root admin's `listall`).
    All,
    /// One account's.
    One(Uuid),
    /// Any of these accounts' (a domain, a subtree, projects).
    Any(Vec<Uuid>),
}

impl Owners {
    /// As the `(account_id, account_ids)` pair the `db` list filters take.
    pub fn split(self) -> (Option<Uuid>, Option<Vec<Uuid>>) {
        match self {
            Owners::All => (None, None),
            Owners::One(id) => (Some(id), None),
            Owners::Any(ids) => (None, Some(ids)),
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
        return Ok(Owners::One(caller.account_id()));
    }
    let recursive = p.bool("isrecursive") == Some(true);
    let listall = p.bool("listall") == Some(true);
    let domain = match p.uuid("domainid")? {
        Some(id) => {
            let d = db::accounts::domain_fetch(&ctx.pool, id)
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
        return Ok(Owners::One(a.id));
    }
    if let Some(d) = domain {
        let ids = if recursive {
            db::limits::account_ids_under(&ctx.pool, &d.path).await?
        } else {
            db::accounts::domain_accounts(&ctx.pool, &[d.id])
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        return Ok(Owners::Any(ids));
    }
    let everything = listall
        || p.uuid("id")?.is_some()
        || (fallback == Fallback::AllForRoot && caller.is_root_admin());
    if !everything {
        return Ok(Owners::One(caller.account_id()));
    }
    if caller.is_root_admin() {
        return Ok(Owners::All);
    }
    Ok(Owners::Any(
        db::limits::account_ids_under(&ctx.pool, &caller.user.domain_path).await?,
    ))
}
