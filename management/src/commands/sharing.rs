//! Launch permissions of templates and ISOs (`list…Permissions`, `update…Permissions`):
//! who besides its owner may see and use a private image. CloudStack serves both image
//! families with one command base (`BaseUpdateTemplateOrIsoPermissionsCmd`); so does
//! Stratus, over [`Kind`]: the rules and words below are the same for both, only the
//! noun and the table differ.

use crate::ids::AccountId;
use stratus_api::envelope::Reply;
use stratus_api::types::TemplatePermissionsResponse;
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db::{self, images::Kind};
use crate::error::Result;
use crate::services::auth::Caller;

/// At most this many accounts and projects in one update.
pub const MAX_ACCOUNTS: usize = 100;

/// A template or an ISO, as its launch permissions see it.
#[derive(Debug, Clone)]
pub struct Shared {
    pub kind: Kind,
    pub id: Uuid,
    pub name: String,
    pub account_id: Uuid,
    pub domain_id: Uuid,
    pub is_public: bool,
    pub is_featured: bool,
    pub is_extractable: bool,
}

impl Shared {
    fn noun(&self) -> &'static str {
        match self.kind {
            Kind::Template => "template",
            Kind::Iso => "ISO",
        }
    }
}

/// The list answer: whether the image is public, and the accounts (by name) and projects
/// (by id) it is shared with, as CloudStack lists them.
pub async fn answer(ctx: &Ctx, caller: &Caller, image: &Shared) -> Result<Reply> {
    // Public, or the caller's (its project's, a root admin's), or shared with it.
    if !image.is_public
        && !super::projects::may_use(ctx, caller, image.account_id).await?
        && !db::images::visible_to(&ctx.pool, image.kind, image.id, caller.user.account_id).await?
    {
        return Err(ApiError::new(
            ErrorCode::Account,
            format!(
                "Account {} does not have permission to access {} {}",
                caller.user.account_name,
                image.noun(),
                image.name
            ),
        )
        .into());
    }
    // As CloudStack: a project's account is answered as the project's id, others by name.
    let mut accounts = vec![];
    let mut projects = vec![];
    for (_, name, project) in db::images::permission_list(&ctx.pool, image.kind, image.id).await? {
        match project {
            Some(id) => projects.push(id.to_string()),
            None => accounts.push(name),
        }
    }
    // The owner is listed too while the image is private (a project owner by its id).
    if !image.is_public {
        match db::projects::project_of_account(&ctx.pool, image.account_id.into()).await? {
            Some(project) => projects.push(project.id.to_string()),
            None => {
                if let Some(owner) =
                    db::accounts::account_fetch(&ctx.pool, image.account_id.into()).await?
                {
                    accounts.push(owner.name);
                }
            }
        }
    }
    Ok(Reply::object(
        "templatepermission",
        &TemplatePermissionsResponse {
            id: Some(image.id),
            ispublic: Some(image.is_public),
            domainid: Some(image.domain_id),
            account: accounts,
            projectids: projects,
        },
    ))
}

/// The project `id` names (in `projectids`), if the caller may act in it; CloudStack's
/// words otherwise.
async fn project_account(ctx: &Ctx, caller: &Caller, id: &str) -> Result<db::projects::ProjectRow> {
    let unknown = || {
        ApiError::param(format!(
            "Unable to find project by id {}",
            stratus_api::params::shown(id)
        ))
    };
    let uuid = Uuid::parse_str(id).map_err(|_| unknown())?;
    let project = db::projects::project_fetch(&ctx.pool, uuid.into())
        .await?
        .ok_or_else(unknown)?;
    match super::projects::ensure_member(ctx, caller, &project).await {
        Ok(()) => Ok(project),
        Err(crate::error::Error::Api(_)) => Err(ApiError::param(format!(
            "Account {} can't access project id={}",
            caller.user.account_name, project.id
        ))
        .into()),
        Err(e) => Err(e),
    }
}

/// What an update does to the permission table, once checked.
#[derive(Debug)]
pub struct Change {
    op: Option<String>,
    accounts: Vec<AccountId>,
}

impl Change {
    /// Writes the change, in the caller's transaction (with the image's flags).
    pub async fn apply(&self, db: &mut sqlx::PgConnection, image: &Shared) -> Result<()> {
        match self.op.as_deref() {
            Some("add") => {
                for a in &self.accounts {
                    db::images::permission_add(&mut *db, image.kind, image.id, *a).await?;
                }
            }
            Some("remove") => {
                db::images::permission_remove(&mut *db, image.kind, image.id, &self.accounts)
                    .await?
            }
            Some("reset") => db::images::permission_reset(&mut *db, image.kind, image.id).await?,
            _ => {}
        }
        Ok(())
    }
}

/// Checks an update's parameters (`accounts`, `projectids`, `op`, `ispublic`,
/// `isfeatured`, `isextractable`) against the caller and the image; sets the image's
/// flags and answers the change to its permissions. Nothing is written yet.
pub async fn change(ctx: &Ctx, caller: &Caller, p: &Params, image: &mut Shared) -> Result<Change> {
    let admin = caller.is_root_admin();
    let names: Option<Vec<String>> = p.str("accounts").map(|l| {
        l.split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect()
    });
    let project_ids: Option<Vec<String>> = p.str("projectids").map(|l| {
        l.split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect()
    });
    let named = names.as_ref().map_or(0, Vec::len) + project_ids.as_ref().map_or(0, Vec::len);
    if named > MAX_ACCOUNTS {
        return Err(ApiError::param(format!(
            "At most {MAX_ACCOUNTS} accounts and projects at a time"
        ))
        .into());
    }
    // As CloudStack, projects stand for their own accounts: each must exist and be one
    // the caller may act in.
    let mut project_accounts = vec![];
    for id in project_ids.iter().flatten() {
        project_accounts.push(project_account(ctx, caller, id).await?);
    }
    let names = match (names, project_ids) {
        (None, None) => None,
        (n, _) => Some(n.unwrap_or_default()),
    };
    let op = p.str("op").map(str::to_ascii_lowercase);
    if names.is_some() && !matches!(op.as_deref(), Some("add" | "remove" | "reset")) {
        return Err(ApiError::param(format!(
            "Invalid operation on accounts, the operation must be either 'add' or 'remove' in order to modify launch permissions.  Given operation is: '{}'",
            stratus_api::params::shown(op.as_deref().unwrap_or("null"))
        ))
        .into());
    }
    if let Some(o) = op.as_deref() {
        if !matches!(o, "add" | "remove" | "reset") {
            return Err(ApiError::param(format!(
                "Invalid operation '{}': add, remove or reset",
                stratus_api::params::shown(o)
            ))
            .into());
        }
        if matches!(o, "add" | "remove") && names.is_none() {
            return Err(ApiError::param(format!(
                "Operation {o} requires accounts or projectIds to be passed in"
            ))
            .into());
        }
    }
    let noun = image.noun();
    if let Some(v) = p.bool("ispublic") {
        if v && !super::templates::may_publish(ctx, caller, image.account_id) {
            return Err(ApiError::param(format!("Only private {noun}s can be created.")).into());
        }
        image.is_public = v;
    }
    if let Some(v) = p.bool("isfeatured") {
        if !admin {
            return Err(ApiError::param(format!("Only administrators can feature {noun}s")).into());
        }
        image.is_featured = v;
    }
    if let Some(v) = p.bool("isextractable") {
        image.is_extractable = v;
    }
    // Accounts are looked up in the owner's domain (sharing does not cross domains).
    let not_found = |name: &str| {
        ApiError::param(format!(
            "Unable to grant a launch permission to account {name} in domain id={}, account not found.  No permissions updated, please verify the account names and retry.",
            image.domain_id
        ))
    };
    let mut accounts = vec![];
    for project in &project_accounts {
        if project.account_id == image.account_id {
            continue; // the owner may always use it
        }
        if project.domain_id != image.domain_id {
            if op.as_deref() == Some("add") {
                return Err(not_found(&project.account_name).into());
            }
            continue;
        }
        accounts.push(project.account_id);
    }
    for name in names.iter().flatten() {
        match db::accounts::account_fetch_by_name(&ctx.pool, image.domain_id.into(), name).await? {
            Some(a) if a.id == image.account_id => {} // the owner may always use it
            Some(a) => accounts.push(a.id),
            None if op.as_deref() == Some("add") => {
                return Err(not_found(&stratus_api::params::shown(name)).into())
            }
            None => {}
        }
    }
    if op.as_deref() == Some("reset") {
        image.is_public = false;
        image.is_featured = false;
    }
    Ok(Change { op, accounts })
}
