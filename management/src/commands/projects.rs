//! Projects (issue 22), as CloudStack has them: createProject, listProjects,
//! updateProject, deleteProject, activateProject, suspendProject, addAccountToProject,
//! deleteAccountFromProject, listProjectAccounts and the invitations
//! (listProjectInvitations, updateProjectInvitation, deleteProjectInvitation).
//!
//! A project is backed by its own account (type 5, in the project's domain, no users:
//! nobody logs in as it), created with it. What a member creates with `projectid` is
//! owned by that account, so the project's limits are that account's (`max.project.*`
//! defaults, see `services::limits`). The project's Admin members, and root and domain
//! admins of its domain, manage it; Regular members use its resources.
//!
//! [`owner_for_create`] and [`list_owners`] are the one place resource commands resolve
//! `projectid`.

use super::requests;
use crate::ids::{AccountId, ParamIds, ProjectId, ProjectInvitationId};
use stratus_api::envelope::Reply;
use stratus_api::types::{ProjectAccountResponse, ProjectInvitationResponse, ProjectResponse};
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use super::{ensure_manages, event, list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::accounts::{self as a, AccountRow};
use crate::db::events::{EventResource, ResourceType};
use crate::db::projects::{self as db, InvitationRow, MemberRow, ProjectFilter, ProjectRow};
use crate::db::tags::TagType;
use crate::error::Result;
use crate::rules::limits::ResourceKind;
use crate::rules::projects::{
    self as rules, InvitationState, ProjectRole, ProjectState, PROJECT_ACCOUNT_TYPE,
};
use crate::services::auth::Caller;
use crate::services::limits::{limits_of, OwnerKind};
use crate::services::mail;
use crate::settings;

// --- access ---------------------------------------------------------------------------

fn denied(caller: &Caller, project: &ProjectRow) -> ApiError {
    ApiError::new(
        ErrorCode::Account,
        format!(
            "Account {} does not have permission to operate within project {} ({})",
            caller.user.account_name, project.name, project.id
        ),
    )
}

/// The caller's role in `project`: root admins and the admins of its domain act as its
/// Admin; others are what their membership says (`None`: not a member).
async fn role_of(ctx: &Ctx, caller: &Caller, project: &ProjectRow) -> Result<Option<ProjectRole>> {
    if caller.manages_domain(&project.domain_path) {
        return Ok(Some(ProjectRole::Admin));
    }
    db::member_role(&ctx.pool, project.id, caller.account_id()).await
}

/// Refuses (531) unless the caller may use the project's resources.
pub async fn ensure_member(ctx: &Ctx, caller: &Caller, project: &ProjectRow) -> Result<()> {
    match role_of(ctx, caller, project).await? {
        Some(_) => Ok(()),
        None => Err(denied(caller, project).into()),
    }
}

/// Refuses (531) unless the caller may manage the project.
async fn ensure_admin(ctx: &Ctx, caller: &Caller, project: &ProjectRow) -> Result<()> {
    match role_of(ctx, caller, project).await? {
        Some(ProjectRole::Admin) => Ok(()),
        _ => Err(denied(caller, project).into()),
    }
}

/// Whether the caller may act on a resource owned by `owner`: its own, or a project's
/// the caller is a member of (root admins everything).
pub async fn may_use(ctx: &Ctx, caller: &Caller, owner: Uuid) -> Result<bool> {
    if caller.is_root_admin() || owner == caller.account_id() {
        return Ok(true);
    }
    if db::member_role_by_owner(&ctx.pool, owner.into(), caller.account_id())
        .await?
        .is_some()
    {
        return Ok(true);
    }
    // Domain admins act in the projects of their subtree.
    if caller.is_domain_admin() {
        if let Some(p) = db::project_of_account(&ctx.pool, owner.into()).await? {
            return Ok(caller.manages_domain(&p.domain_path));
        }
    }
    Ok(false)
}

async fn fetch(ctx: &Ctx, p: &Params, name: &str) -> Result<ProjectRow> {
    db::project_fetch(&ctx.pool, p.required_id(name)?)
        .await?
        .ok_or_else(|| not_found(p, name))
}

/// The project `projectid` names, if the caller is a member (or administers it). `None`
/// without `projectid`.
pub async fn member_of(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<Option<ProjectRow>> {
    if p.str("projectid").is_none() {
        return Ok(None);
    }
    let project = fetch(ctx, p, "projectid").await?;
    ensure_member(ctx, caller, &project).await?;
    Ok(Some(project))
}

/// The project `projectid` names for a command that creates a resource in it: the caller
/// must be a member and the project Active. `None` without `projectid`.
pub async fn owner_for_create(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
) -> Result<Option<ProjectRow>> {
    if p.str("projectid").is_none() {
        return Ok(None);
    }
    let project = fetch(ctx, p, "projectid").await?;
    ensure_member(ctx, caller, &project).await?;
    if !project.state.admits_new_resources() {
        return Err(ApiError::new(
            ErrorCode::ResourceUnavailable,
            format!(
                "Project {} is {}: no new resources can be created in it",
                project.name, project.state
            ),
        )
        .into());
    }
    Ok(Some(project))
}

/// The owners a list's `projectid` names: one project's account, or with `-1` those of
/// every project the caller is a member of (CloudStack). `None` without `projectid`.
pub async fn list_owners(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<Option<Vec<Uuid>>> {
    match p.str("projectid") {
        None => Ok(None),
        Some("-1") => {
            if caller.is_root_admin() {
                let f = ProjectFilter::default();
                let (rows, _) = db::project_list(&ctx.pool, &f).await?;
                return Ok(Some(
                    rows.iter().map(|r| r.account_id.into_uuid()).collect(),
                ));
            }
            Ok(Some(
                db::member_project_accounts(&ctx.pool, caller.account_id()).await?,
            ))
        }
        Some(_) => {
            let project = fetch(ctx, p, "projectid").await?;
            ensure_member(ctx, caller, &project).await?;
            Ok(Some(vec![project.account_id.into_uuid()]))
        }
    }
}

// --- answers --------------------------------------------------------------------------

fn response(r: &ProjectRow) -> ProjectResponse {
    ProjectResponse {
        id: Some(r.id.into_uuid()),
        name: Some(r.name.clone()),
        displaytext: Some(r.display_text.clone()),
        domainid: Some(r.domain_id.into_uuid()),
        domain: Some(r.domain_name.clone()),
        owner: r.owners.0.clone(),
        projectaccountname: Some(r.account_name.clone()),
        state: Some(r.state.to_string()),
        created: Some(r.created.into()),
        ..Default::default()
    }
}

/// The answers for `rows`, with each project's limits, what it uses and its tags.
async fn answers(ctx: &Ctx, rows: &[ProjectRow]) -> Result<Vec<ProjectResponse>> {
    let owners: Vec<(AccountId, OwnerKind)> = rows
        .iter()
        .map(|r| (r.account_id, OwnerKind::Project))
        .collect();
    let ids: Vec<AccountId> = owners.iter().map(|o| o.0).collect();
    let limits = limits_of(ctx, &ctx.pool, &owners).await?;
    let usage = crate::db::limits::usage_of_accounts(&ctx.pool, &ids).await?;
    let project_ids: Vec<Uuid> = rows.iter().map(|r| r.id.into_uuid()).collect();
    let mut tags = super::tags::tags_of(ctx, TagType::Project, &project_ids).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let mut out = response(r);
            out.tags = tags.remove(&r.id.into_uuid()).unwrap_or_default();
            if let (Some(l), Some(u)) = (
                limits.get(&r.account_id),
                usage.iter().find(|u| u.account_id == r.account_id),
            ) {
                super::limits::fill_project(&mut out, l, u);
            }
            out
        })
        .collect())
}

async fn one_answer(ctx: &Ctx, id: Uuid) -> Result<Reply> {
    let r = db::project_fetch(&ctx.pool, id.into())
        .await?
        .ok_or_else(|| crate::error::Error::internal("the project vanished"))?;
    let out = answers(ctx, std::slice::from_ref(&r)).await?;
    let out = out
        .first()
        .ok_or_else(|| crate::error::Error::internal("no answer for the project"))?;
    Ok(Reply::object("project", out))
}

fn resource(r: &ProjectRow) -> Option<EventResource> {
    Some(EventResource::new(
        ResourceType::Project,
        r.id,
        r.name.clone(),
    ))
}

// --- projects -------------------------------------------------------------------------

/// An account `account` names in `domain`, CloudStack's text when there is none.
async fn account_in(ctx: &Ctx, domain: Uuid, name: &str) -> Result<AccountRow> {
    a::account_fetch_by_name(&ctx.pool, domain.into(), name)
        .await?
        .filter(|x| x.account_type != PROJECT_ACCOUNT_TYPE)
        .ok_or_else(|| {
            ApiError::param(format!(
                "Unable to find account by name {} in domain {domain}",
                stratus_api::params::shown(name)
            ))
            .into()
        })
}

/// The account that will own (administer) a new project: `accountid`, or `account` with
/// `domainid`, else the caller's.
async fn new_owner(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<AccountRow> {
    let named = match (p.uuid("accountid")?, p.str("account"), p.uuid("domainid")?) {
        (Some(id), _, _) => {
            p.mark_read("account");
            p.mark_read("domainid");
            Some(
                a::account_fetch(&ctx.pool, id.into())
                    .await?
                    .filter(|x| x.account_type != PROJECT_ACCOUNT_TYPE)
                    .ok_or_else(|| not_found(p, "accountid"))?,
            )
        }
        (None, Some(name), Some(domain)) => Some(account_in(ctx, domain, name).await?),
        (None, Some(_), None) => {
            return Err(
                ApiError::param("Account name and domain id must be specified together").into(),
            )
        }
        (None, None, _) => None,
    };
    match named {
        Some(acc) if acc.id != caller.account_id() => {
            ensure_manages(caller, &acc.domain_path)?;
            Ok(acc)
        }
        Some(acc) => Ok(acc),
        None => a::account_fetch(&ctx.pool, caller.account_id())
            .await?
            .ok_or_else(|| crate::error::Error::internal("the caller's account vanished")),
    }
}

fn valid_name(v: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(ApiError::param("The project name must not be empty").into());
    }
    Ok(v.to_string())
}

fn name_taken(name: &str, domain: Uuid) -> ApiError {
    ApiError::param(format!(
        "Project with name {} already exists in domain id={domain}",
        stratus_api::params::shown(name)
    ))
}

pub async fn create(ctx: &Ctx, caller: &Caller, r: &requests::CreateProject<'_>) -> Result<Reply> {
    let name = valid_name(r.name())?;
    let display = r.displaytext().to_string();
    if !caller.is_root_admin()
        && !caller.is_domain_admin()
        && !ctx.get(&settings::ALLOW_USER_CREATE_PROJECTS)
    {
        return Err(ApiError::new(
            ErrorCode::Account,
            "Regular user is not permitted to create a project",
        )
        .into());
    }
    let owner = new_owner(ctx, caller, r.wire()).await?;
    let id = ProjectId::new_v4();
    let account_id = AccountId::new_v4();
    let mut tx = ctx.pool.begin().await?;
    // The owner's `project` limit (max.account.projects), as CloudStack counts it.
    crate::services::limits::admit(ctx, &mut tx, owner.id, &[(ResourceKind::Project, 1)]).await?;
    if db::project_named(&mut *tx, owner.domain_id, &name, id)
        .await?
        .is_some()
    {
        return Err(name_taken(&name, owner.domain_id.into_uuid()).into());
    }
    // The project's own account: a User role with no users, hidden from listAccounts.
    a::account_insert(
        &mut *tx,
        account_id,
        &rules::account_name(&name, id.into()),
        owner.domain_id,
        PROJECT_ACCOUNT_TYPE,
        a::ROLE_USER,
        None,
    )
    .await?;
    db::project_insert(&mut *tx, id, &name, &display, owner.domain_id, account_id).await?;
    db::member_set(&mut *tx, id, owner.id, ProjectRole::Admin).await?;
    event(
        &mut tx,
        &caller.user,
        "PROJECT.CREATE",
        format!("Creating project {name} owned by account {}", owner.name),
        Some(EventResource::new(ResourceType::Project, id, name.clone())),
    )
    .await?;
    tx.commit().await?;
    one_answer(ctx, id.into()).await
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListProjects<'_>) -> Result<Reply> {
    // Projects are answered whole (with their limits) whatever `details` asks.
    r.wire().mark_read("details");
    // Only the domain's own projects are listed with `domainid`; subdomains' projects
    // are listed by an admin's `listall` (which lists the whole subtree).
    r.wire().mark_read("isrecursive");
    let mut f = ProjectFilter {
        common: list_filter(ctx, r.wire())?,
        display_text: r.displaytext().map(str::to_string),
        state: r.state().map(str::to_string),
        domain_id: r.domainid(),
        tags: super::tags::wanted(r.wire())?,
        ..Default::default()
    };
    if let Some(s) = &f.state {
        if ProjectState::parse(s).is_none() {
            return Err(ApiError::param(format!(
                "Invalid state {}: Active, Suspended or Disabled",
                stratus_api::params::shown(s)
            ))
            .into());
        }
    }
    let admin = caller.is_root_admin() || caller.is_domain_admin();
    if let Some(d) = f.domain_id {
        let d = a::domain_fetch(&ctx.pool, d)
            .await?
            .ok_or_else(|| not_found(r.wire(), "domainid"))?;
        if admin {
            ensure_manages(caller, &d.path)?;
        }
    }
    match (r.account(), admin) {
        // A project's members include its owners: `account` lists the account's projects.
        (Some(name), true) => {
            let domain = f.domain_id.unwrap_or(caller.domain_id());
            let acc = account_in(ctx, domain.into_uuid(), name).await?;
            ensure_manages(caller, &acc.domain_path)?;
            f.member = Some(acc.id);
            r.wire().mark_read("listall");
        }
        (_, true) if r.listall() == Some(true) || f.common.id.is_some() => {
            r.wire().mark_read("account");
            if !caller.is_root_admin() {
                f.under = Some(caller.user.domain_path.clone());
            }
        }
        _ => {
            // Users see the projects they are members of (CloudStack).
            r.wire().mark_read("account");
            r.wire().mark_read("listall");
            f.member = Some(caller.account_id());
        }
    }
    let (rows, total) = db::project_list(&ctx.pool, &f).await?;
    Ok(Reply::list("project", total, answers(ctx, &rows).await?))
}

pub async fn update(ctx: &Ctx, caller: &Caller, r: &requests::UpdateProject<'_>) -> Result<Reply> {
    let project = fetch(ctx, r.wire(), "id").await?;
    ensure_admin(ctx, caller, &project).await?;
    let name = match r.name() {
        Some(n) => valid_name(n)?,
        None => project.name.clone(),
    };
    let display = r
        .displaytext()
        .map(str::to_string)
        .unwrap_or(project.display_text.clone());
    let role = r.roletype().map(ProjectRole::from_param).transpose()?;
    let swap = r.swapowner().unwrap_or(true);
    let member = match r.account() {
        Some(n) => Some(account_in(ctx, project.domain_id.into_uuid(), n).await?),
        None => None,
    };
    let mut tx = ctx.pool.begin().await?;
    let project = db::project_lock(&mut *tx, project.id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    if name != project.name
        && db::project_named(&mut *tx, project.domain_id, &name, project.id)
            .await?
            .is_some()
    {
        return Err(name_taken(&name, project.domain_id.into_uuid()).into());
    }
    db::project_update(&mut *tx, project.id, &name, &display).await?;
    if let Some(acc) = &member {
        if swap {
            // The named account becomes the owner; the previous owners stay as Regular
            // members (CloudStack's swapowner, its default).
            for o in &project.owners.0 {
                let id = o
                    .get("accountid")
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.parse::<Uuid>().ok());
                if let Some(id) = id.filter(|id| *id != acc.id) {
                    db::member_set(&mut *tx, project.id, id.into(), ProjectRole::Regular).await?;
                }
            }
            db::member_set(&mut *tx, project.id, acc.id, ProjectRole::Admin).await?;
        } else {
            let role = role.unwrap_or(ProjectRole::Regular);
            let was_owner = project.owners.0.iter().any(|o| {
                o.get("accountid").and_then(|v| v.as_str()) == Some(acc.id.to_string().as_str())
            });
            if role == ProjectRole::Regular && was_owner && project.owners.0.len() == 1 {
                return Err(ApiError::param(format!(
                    "Account {} is the only admin of project {}; a project must have at least one admin",
                    acc.name, project.name
                ))
                .into());
            }
            db::member_set(&mut *tx, project.id, acc.id, role).await?;
        }
    }
    event(
        &mut tx,
        &caller.user,
        "PROJECT.UPDATE",
        format!("Updating project {}", project.name),
        resource(&project),
    )
    .await?;
    tx.commit().await?;
    one_answer(ctx, project.id.into_uuid()).await
}

/// suspendProject (`suspend`) and activateProject. Suspending refuses new resources in
/// the project (deploys and registrations with its `projectid`) and then stops its
/// running VMs, as CloudStack does; a VM that cannot be stopped is named in the job's
/// error (the project stays Suspended, the VM Running: stopVirtualMachine retries it).
pub async fn set_state(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ActivateProject<'_>,
    suspend: bool,
) -> Result<Reply> {
    let project = fetch(ctx, r.wire(), "id").await?;
    ensure_admin(ctx, caller, &project).await?;
    let mut tx = ctx.pool.begin().await?;
    let project = db::project_lock(&mut *tx, project.id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    let next = if suspend {
        project.state.suspend(&project.name)?
    } else {
        project.state.activate(&project.name)?
    };
    db::project_set_state(&mut *tx, project.id, next).await?;
    let (kind, what) = if suspend {
        ("PROJECT.SUSPEND", "Suspending")
    } else {
        ("PROJECT.ACTIVATE", "Activating")
    };
    event(
        &mut tx,
        &caller.user,
        kind,
        format!("{what} project {}", project.name),
        resource(&project),
    )
    .await?;
    tx.commit().await?;
    if suspend {
        stop_vms_of(ctx, caller, &project).await?;
    }
    one_answer(ctx, project.id.into_uuid()).await
}

/// Stops every running VM of a suspended project, one after another (each its own
/// stop, with its event); the ones that would not stop are named together.
async fn stop_vms_of(ctx: &Ctx, caller: &Caller, project: &ProjectRow) -> Result<()> {
    let running = crate::db::vms::vm_running_of_account(&ctx.pool, project.account_id).await?;
    let mut failed = Vec::new();
    for (id, name) in running {
        match crate::services::vms::stop(ctx, id.into(), false).await {
            Ok(()) => {
                let mut tx = ctx.pool.begin().await?;
                event(
                    &mut tx,
                    &caller.user,
                    "VM.STOP",
                    format!("VM {name} stopped: project {} suspended", project.name),
                    Some(crate::db::events::EventResource::new(
                        crate::db::events::ResourceType::VirtualMachine,
                        id,
                        name,
                    )),
                )
                .await?;
                tx.commit().await?;
            }
            Err(e) => failed.push(format!("{name} ({e})")),
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::ResourceUnavailable,
        format!(
            "Project {} is suspended, but these VMs could not be stopped: {}",
            project.name,
            failed.join("; ")
        ),
    )
    .into())
}

pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteProject<'_>) -> Result<Reply> {
    let project = fetch(ctx, r.wire(), "id").await?;
    ensure_admin(ctx, caller, &project).await?;
    // Cleanup or not, a project's VMs, volumes, templates and ISOs are its members' data,
    // which Stratus does not destroy as a side effect (as deleteDomain's cleanup): the
    // error names what remains.
    let cleanup = r.cleanup().unwrap_or(false);
    let mut tx = ctx.pool.begin().await?;
    let project = db::project_lock(&mut *tx, project.id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    let usage = crate::db::limits::usage_of_accounts(&mut *tx, &[project.account_id])
        .await?
        .pop()
        .unwrap_or_default();
    let mut left = vec![];
    if usage.user_vm > 0 {
        left.push(format!("{} virtual machine(s)", usage.user_vm));
    }
    if usage.volume > 0 {
        left.push(format!("{} volume(s)", usage.volume));
    }
    if usage.template > 0 {
        left.push(format!("{} template(s) or ISO(s)", usage.template));
    }
    if !left.is_empty() {
        return Err(ApiError::in_use(format!(
            "Failed to delete project {}{}: it still owns {}; delete them first",
            project.name,
            if cleanup { " with cleanup" } else { "" },
            left.join(", ")
        ))
        .into());
    }
    // Marked removed, as CloudStack does: what it owned before (a destroyed VM, a
    // deleted ISO) keeps its rows, which still name the project's account. The account
    // is disabled; members and invitations go.
    db::project_remove(&mut *tx, project.id).await?;
    a::account_set_state(
        &mut *tx,
        project.account_id,
        crate::rules::states::AccountState::Disabled,
    )
    .await?;
    event(
        &mut tx,
        &caller.user,
        "PROJECT.DELETE",
        format!("Deleting project {}", project.name),
        resource(&project),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

// --- members --------------------------------------------------------------------------

fn member_response(project: &ProjectRow, m: &MemberRow) -> ProjectAccountResponse {
    ProjectAccountResponse {
        projectid: Some(project.id.into_uuid()),
        project: Some(project.name.clone()),
        accountid: Some(m.account_id.into_uuid()),
        account: Some(m.account_name.clone()),
        accounttype: Some(m.account_type),
        role: Some(m.role.to_string()),
        domainid: Some(m.domain_id.into_uuid()),
        domain: Some(m.domain_name.clone()),
        domainpath: Some(m.domain_path.clone()),
        user: vec![],
    }
}

pub async fn add_account(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::AddAccountToProject<'_>,
) -> Result<Reply> {
    let project = fetch(ctx, r.wire(), "projectid").await?;
    let (account, email) = (r.account(), r.email());
    if account.is_none() && email.is_none() {
        return Err(ApiError::param("Either accountName or email is required").into());
    }
    ensure_admin(ctx, caller, &project).await?;
    let role = r
        .roletype()
        .map(ProjectRole::from_param)
        .transpose()?
        .unwrap_or(ProjectRole::Regular);
    let invite = ctx.get(&settings::PROJECT_INVITE_REQUIRED);
    let acc = match account {
        Some(n) => Some(account_in(ctx, project.domain_id.into_uuid(), n).await?),
        None => None,
    };
    if let Some(acc) = &acc {
        if db::member_role(&ctx.pool, project.id, acc.id)
            .await?
            .is_some()
        {
            return Err(ApiError::param(format!(
                "Account {} is already assigned to the project {}",
                acc.name, project.name
            ))
            .into());
        }
    }
    let mut invitation_mail = None;
    let mut tx = ctx.pool.begin().await?;
    let text = match (&acc, invite) {
        (Some(acc), false) => {
            r.wire().mark_read("email");
            db::member_set(&mut *tx, project.id, acc.id, role).await?;
            format!("Adding account {} to project {}", acc.name, project.name)
        }
        (Some(acc), true) => {
            r.wire().mark_read("email");
            db::invitation_insert(
                &mut *tx,
                ProjectInvitationId::new_v4(),
                project.id,
                Some(acc.id),
                None,
                None,
                role,
            )
            .await?;
            format!(
                "Inviting account {} to join project {}",
                acc.name, project.name
            )
        }
        (None, _) => {
            if !invite {
                return Err(ApiError::param(
                    "Can't invite by email: project.invite.required is false; add the account by name",
                )
                .into());
            }
            // The token is mailed to the address (the invitee's only copy: no list shows
            // it); the invitation is committed only once the relay took the mail.
            let email = email.unwrap_or_default();
            mail::address(email)?;
            if !mail::configured(ctx) {
                return Err(ApiError::param(
                    "Can't invite by email: no mail server is configured (project.smtp.host); add the account by name",
                )
                .into());
            }
            let token = crate::services::auth::random_token(24);
            db::invitation_insert(
                &mut *tx,
                ProjectInvitationId::new_v4(),
                project.id,
                None,
                Some(email),
                Some(&token),
                role,
            )
            .await?;
            invitation_mail = Some((email, token));
            format!(
                "Sending invitation to email {email} to join project {}",
                project.name
            )
        }
    };
    event(
        &mut tx,
        &caller.user,
        "PROJECT.ACCOUNT.ADD",
        text,
        resource(&project),
    )
    .await?;
    if let Some((email, token)) = invitation_mail {
        mail::send(
            ctx,
            mail::Mail {
                to: email,
                subject: &format!("You are invited to join the project {}", project.name),
                // Short lines, no `=`: sent as 7-bit text, the token readable as is.
                body: format!(
                    "You have been invited to join the project {}.\r\n\r\n\
                     Project id: {}\r\n\
                     Token: {}\r\n\r\n\
                     To accept, call updateProjectInvitation with the project id\r\n\
                     and the token. The invitation expires after {} seconds.\r\n",
                    project.name,
                    project.id,
                    token,
                    ctx.get(&settings::PROJECT_INVITE_TIMEOUT),
                ),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Reply::success())
}

pub async fn delete_account(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteAccountFromProject<'_>,
) -> Result<Reply> {
    let project = fetch(ctx, r.wire(), "projectid").await?;
    ensure_admin(ctx, caller, &project).await?;
    let acc = account_in(ctx, project.domain_id.into_uuid(), r.account()).await?;
    let mut tx = ctx.pool.begin().await?;
    let project = db::project_lock(&mut *tx, project.id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "projectid"))?;
    match db::member_role(&mut *tx, project.id, acc.id).await? {
        None => {
            return Err(ApiError::param(format!(
                "Account {} is not assigned to the project {}",
                acc.name, project.name
            ))
            .into())
        }
        Some(ProjectRole::Admin) if project.owners.0.len() <= 1 => {
            return Err(ApiError::param(format!(
                "Unable to delete account {} from the project {} as the account is the owner of the project",
                acc.name, project.name
            ))
            .into())
        }
        Some(_) => {}
    }
    db::member_remove(&mut *tx, project.id, acc.id).await?;
    event(
        &mut tx,
        &caller.user,
        "PROJECT.ACCOUNT.REMOVE",
        format!(
            "Removing account {} from project {}",
            acc.name, project.name
        ),
        resource(&project),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub async fn list_accounts(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListProjectAccounts<'_>,
) -> Result<Reply> {
    let project = fetch(ctx, r.wire(), "projectid").await?;
    ensure_member(ctx, caller, &project).await?;
    let f = list_filter(ctx, r.wire())?;
    let (rows, total) = db::member_list(&ctx.pool, project.id, r.account(), r.role(), &f).await?;
    let items: Vec<ProjectAccountResponse> =
        rows.iter().map(|m| member_response(&project, m)).collect();
    Ok(Reply::list("projectaccount", total, items))
}

// --- invitations ----------------------------------------------------------------------

fn invitation_response(i: &InvitationRow) -> ProjectInvitationResponse {
    ProjectInvitationResponse {
        id: Some(i.id.into()),
        projectid: Some(i.project_id.into_uuid()),
        project: Some(i.project_name.clone()),
        domainid: Some(i.domain_id.into_uuid()),
        domain: Some(i.domain_name.clone()),
        domainpath: i.domain_path.clone(),
        account: i.account_name.clone(),
        email: i.email.clone(),
        state: Some(i.state.to_string()),
    }
}

pub async fn list_invitations(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListProjectInvitations<'_>,
) -> Result<Reply> {
    db::invitations_expire(&ctx.pool, ctx.get(&settings::PROJECT_INVITE_TIMEOUT)).await?;
    r.wire().mark_read("isrecursive");
    let mut f = db::InvitationFilter {
        common: list_filter(ctx, r.wire())?,
        project_id: r.wire().id("projectid")?,
        state: r.state().map(str::to_string),
        visible_to: None,
    };
    if r.activeonly() == Some(true) {
        f.state = Some(InvitationState::Pending.to_string());
    }
    if let Some(s) = &f.state {
        if InvitationState::parse(s).is_none() {
            return Err(ApiError::param(format!(
                "Invalid state {}: Pending, Completed, Declined or Expired",
                stratus_api::params::shown(s)
            ))
            .into());
        }
    }
    let admin = caller.is_root_admin() || caller.is_domain_admin();
    match (r.account(), admin) {
        (Some(name), true) => {
            let domain = r.domainid().unwrap_or(caller.domain_id());
            let acc = account_in(ctx, domain.into_uuid(), name).await?;
            ensure_manages(caller, &acc.domain_path)?;
            f.visible_to = Some(acc.id);
            r.wire().mark_read("listall");
        }
        (_, true) if caller.is_root_admin() && r.listall() == Some(true) => {
            r.wire().mark_read("account");
            r.wire().mark_read("domainid");
        }
        _ => {
            // The caller's own invitations and those of the projects it administers.
            for n in ["account", "domainid", "listall"] {
                r.wire().mark_read(n);
            }
            f.visible_to = Some(caller.account_id());
        }
    }
    let (rows, total) = db::invitation_list(&ctx.pool, &f).await?;
    let items: Vec<ProjectInvitationResponse> = rows.iter().map(invitation_response).collect();
    Ok(Reply::list("projectinvitation", total, items))
}

pub async fn update_invitation(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateProjectInvitation<'_>,
) -> Result<Reply> {
    let project = fetch(ctx, r.wire(), "projectid").await?;
    let accept = r.accept().unwrap_or(true);
    let token = r.token();
    // The account joining: the caller's, or (admins) the one `account` names.
    let acc = match r.account() {
        Some(n) => {
            let acc = account_in(ctx, project.domain_id.into_uuid(), n).await?;
            if acc.id != caller.account_id() {
                ensure_manages(caller, &acc.domain_path)?;
            }
            acc
        }
        None => a::account_fetch(&ctx.pool, caller.account_id())
            .await?
            .ok_or_else(|| crate::error::Error::internal("the caller's account vanished"))?,
    };
    let timeout = ctx.get(&settings::PROJECT_INVITE_TIMEOUT);
    let mut tx = ctx.pool.begin().await?;
    let inv = db::invitation_pending_lock(&mut *tx, project.id, acc.id, token)
        .await?
        // An email invitation is answered with its token only.
        .filter(|i| {
            i.account_id == Some(acc.id) || (token.is_some() && i.token.as_deref() == token)
        })
        .ok_or_else(|| {
            ApiError::param(format!(
                "Unable to find invitation for account name={} to the project id={}",
                acc.name, project.id
            ))
        })?;
    if (chrono::Utc::now() - inv.created).num_seconds() > timeout {
        db::invitation_set_state(&mut *tx, inv.id, InvitationState::Expired).await?;
        tx.commit().await?;
        return Err(ApiError::param(format!(
            "Invitation is expired for account id={} to the project id={}",
            acc.name, project.id
        ))
        .into());
    }
    let next = InvitationState::answer(accept);
    if accept
        && db::member_role(&mut *tx, project.id, acc.id)
            .await?
            .is_none()
    {
        db::member_set(&mut *tx, project.id, acc.id, inv.role).await?;
    }
    db::invitation_set_state(&mut *tx, inv.id, next).await?;
    event(
        &mut tx,
        &caller.user,
        "PROJECT.INVITATION.UPDATE",
        format!(
            "Account {} {} the invitation to project {}",
            acc.name,
            if accept { "accepted" } else { "declined" },
            project.name
        ),
        resource(&project),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub async fn delete_invitation(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteProjectInvitation<'_>,
) -> Result<Reply> {
    let inv = db::invitation_fetch(&ctx.pool, r.id().into())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    let project = db::project_fetch(&ctx.pool, inv.project_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    ensure_admin(ctx, caller, &project).await?;
    let mut tx = ctx.pool.begin().await?;
    db::invitation_delete(&mut *tx, inv.id).await?;
    event(
        &mut tx,
        &caller.user,
        "PROJECT.INVITATION.REMOVE",
        format!(
            "Deleting the invitation of {} to project {}",
            inv.account_name
                .as_deref()
                .or(inv.email.as_deref())
                .unwrap_or("?"),
            project.name
        ),
        resource(&project),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}
