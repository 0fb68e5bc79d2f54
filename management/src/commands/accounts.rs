//! Domains, roles, accounts, users, API keys and the event log.
//!
//! Users see only their own account and users (CloudStack's `listall=false` default for
//! them); domain admins the accounts and users of their domain's subtree, which they
//! administer; root admins everything.

use super::requests;
use crate::ids::{AccountId, UserId};
use stratus_api::envelope::Reply;
use stratus_api::types::{
    AccountResponse, EventResponse, RoleResponse, UserKeysResponse, UserResponse,
};
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use super::{ensure_manages, event, list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::accounts::{self as a, AccountRow, UserRow};
use crate::db::events as ev;
use crate::db::events::{EventResource, ResourceType};
use crate::error::Result;
use crate::rules::states::{AccountState, AccountType};
use crate::services::auth::{self, Caller};

pub async fn list_roles(ctx: &Ctx, r: &requests::ListRoles<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let (rows, total) = a::role_list(&ctx.pool, &f, r.r#type()).await?;
    let items: Vec<RoleResponse> = rows
        .iter()
        .map(|r| RoleResponse {
            ispublic: Some(true),
            id: Some(r.id.into_uuid()),
            name: Some(r.name.clone()),
            r#type: Some(r.role_type.clone()),
            description: Some(r.description.clone()),
            isdefault: Some(r.is_default),
            state: Some(r.state.clone()),
        })
        .collect();
    Ok(Reply::list("role", total, items))
}

pub fn user_response(u: &UserRow, with_key: bool) -> UserResponse {
    UserResponse {
        id: Some(u.id.into_uuid()),
        username: Some(u.username.clone()),
        firstname: Some(u.firstname.clone()),
        lastname: Some(u.lastname.clone()),
        email: Some(u.email.clone()),
        created: Some(u.created.into()),
        state: Some(u.state.to_string()),
        account: Some(u.account_name.clone()),
        accountid: Some(u.account_id.into_uuid()),
        accounttype: Some(u.account_type),
        roleid: Some(u.role_id.into_uuid()),
        roletype: Some(u.role_type.clone()),
        rolename: Some(u.role_name.clone()),
        domainid: Some(u.domain_id.into_uuid()),
        domain: Some(u.domain_name.clone()),
        timezone: u.timezone.clone(),
        apikey: if with_key { u.api_key.clone() } else { None },
        isdefault: Some(u.is_default),
        iscallerchilddomain: Some(false),
        usersource: Some("native".into()),
        is2faenabled: Some(false),
        is2famandated: Some(false),
    }
}

pub fn account_response(acc: &AccountRow, users: &[UserRow], with_keys: bool) -> AccountResponse {
    AccountResponse {
        id: Some(acc.id.into_uuid()),
        name: Some(acc.name.clone()),
        accounttype: Some(acc.account_type),
        roleid: Some(acc.role_id.into_uuid()),
        roletype: Some(acc.role_type.clone()),
        rolename: Some(acc.role_name.clone()),
        domainid: Some(acc.domain_id.into_uuid()),
        domain: Some(acc.domain_name.clone()),
        domainpath: Some(acc.domain_path.clone()),
        state: Some(acc.state.to_string()),
        created: Some(acc.created.into()),
        isdefault: Some(acc.is_default),
        networkdomain: acc.network_domain.clone(),
        user: users
            .iter()
            .filter(|u| u.account_id == acc.id)
            .map(|u| user_response(u, with_keys))
            .collect(),
        ..Default::default()
    }
}

/// A new password for `username` of the domain `domain`, checked against the domain's
/// password policy (`password.policy.*`).
fn require_password(ctx: &Ctx, domain: Uuid, pw: &str, username: &str) -> Result<(), ApiError> {
    use crate::settings as s;
    let at = crate::settings::Scope::Domain(domain.into());
    let n = |v: i64| usize::try_from(v).unwrap_or(0);
    let policy = crate::rules::password::Policy {
        min_length: n(ctx.get_in(&s::PASSWORD_POLICY_MIN_LENGTH, at)),
        min_special: n(ctx.get_in(&s::PASSWORD_POLICY_MIN_SPECIAL, at)),
        min_upper: n(ctx.get_in(&s::PASSWORD_POLICY_MIN_UPPER, at)),
        min_lower: n(ctx.get_in(&s::PASSWORD_POLICY_MIN_LOWER, at)),
        min_digits: n(ctx.get_in(&s::PASSWORD_POLICY_MIN_DIGITS, at)),
        allow_username: ctx.get_in(&s::PASSWORD_POLICY_ALLOW_USERNAME, at),
        regex: ctx.get_in(&s::PASSWORD_POLICY_REGEX, at),
    };
    crate::rules::password::check(&policy, pw, username)
}

/// The domain `domainid` names (the caller's own by default), which the caller must
/// administer.
async fn managed_domain(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<a::DomainRow> {
    let id = p
        .uuid("domainid")?
        .unwrap_or(caller.domain_id().into_uuid());
    let d = a::domain_fetch(&ctx.pool, id.into())
        .await?
        .ok_or_else(|| not_found(p, "domainid"))?;
    ensure_manages(caller, &d.path)?;
    Ok(d)
}

pub async fn create_account(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateAccount<'_>,
) -> Result<Reply> {
    let domain_id = managed_domain(ctx, caller, r.wire()).await?.id;
    let (role_id, account_type) = match (r.roleid(), r.accounttype()) {
        (Some(id), _) => {
            let role = a::role_fetch(&ctx.pool, id)
                .await?
                .ok_or_else(|| not_found(r.wire(), "roleid"))?;
            (role.id, AccountType::for_role_type(&role.role_type))
        }
        (None, Some(t)) => {
            let t = AccountType::from_code(t)?;
            let role = match t {
                AccountType::RootAdmin => a::ROLE_ROOT_ADMIN,
                AccountType::DomainAdmin => a::ROLE_DOMAIN_ADMIN,
                AccountType::User => a::ROLE_USER,
            };
            (role, t)
        }
        (None, None) => {
            return Err(ApiError::param(
                "Please specify either accounttype or roleid for the new account",
            )
            .into())
        }
    };
    if account_type == AccountType::RootAdmin && !caller.is_root_admin() {
        return Err(ApiError::new(
            ErrorCode::Account,
            "Only a root admin can create root admin accounts",
        )
        .into());
    }
    let username = r.username().trim().to_string();
    let password = r.password();
    require_password(ctx, domain_id.into_uuid(), password, &username)?;
    let name = r
        .account()
        .map(str::to_string)
        .unwrap_or_else(|| username.clone());
    let hash = auth::hash_password(password).await?;
    let account_id = AccountId::new_v4();
    let user_id = UserId::new_v4();
    let mut tx = ctx.pool.begin().await?;
    a::account_insert(
        &mut *tx,
        account_id,
        &name,
        domain_id,
        account_type as i32,
        role_id,
        r.networkdomain(),
    )
    .await?;
    a::user_insert(
        &mut *tx,
        user_id,
        account_id,
        domain_id,
        &username,
        &hash,
        r.firstname(),
        r.lastname(),
        r.email(),
        r.timezone(),
    )
    .await?;
    event(
        &mut tx,
        &caller.user,
        "ACCOUNT.CREATE",
        format!("Creating account {name}"),
        Some(EventResource::new(
            ResourceType::Account,
            account_id,
            name.clone(),
        )),
    )
    .await?;
    event(
        &mut tx,
        &caller.user,
        "USER.CREATE",
        format!("Creating user {username} in account {name}"),
        Some(EventResource::new(
            ResourceType::User,
            user_id,
            username.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let acc = a::account_fetch(&ctx.pool, account_id)
        .await?
        .ok_or_else(|| crate::error::Error::internal("account vanished"))?;
    let users = a::user_list_for_accounts(&ctx.pool, &[account_id]).await?;
    Ok(Reply::object(
        "account",
        &account_response(&acc, &users, true),
    ))
}

pub async fn list_accounts(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListAccounts<'_>,
) -> Result<Reply> {
    // A root admin's list is every account, a domain admin's its subtree's, a user's
    // their own, with or without listall.
    r.wire().mark_read("listall");
    let (domain_id, under) = domain_scope(ctx, caller, r.wire()).await?;
    // A state no account can be in finds none, as CloudStack's filter does.
    let state = r.state().map(|s| AccountState::parse_any_case(s).ok_or(()));
    let f = a::AccountFilter {
        common: list_filter(ctx, r.wire())?,
        account_type: r.accounttype(),
        domain_id: domain_id.map(Into::into),
        state: state.and_then(Result::ok),
        role_id: r.roleid(),
        only: (!caller.is_root_admin() && !caller.is_domain_admin()).then(|| caller.account_id()),
        under,
    };
    if matches!(state, Some(Err(()))) {
        return Ok(Reply::list("account", 0, Vec::<AccountResponse>::new()));
    }
    let (rows, total) = a::account_list(&ctx.pool, &f).await?;
    let ids: Vec<AccountId> = rows.iter().map(|r| r.id).collect();
    let users = a::user_list_for_accounts(&ctx.pool, &ids).await?;
    // API keys are shown to admins and to the account's own users (jclouds finds its
    // caller by matching `user[].apikey`).
    let limits = super::limits::account_limits(ctx, &rows).await?;
    let items: Vec<AccountResponse> = rows
        .iter()
        .map(|r| {
            let mut a = account_response(r, &users, true);
            if let Some((l, u)) = limits.get(&r.id) {
                super::limits::fill_account(&mut a, l, u);
            }
            a
        })
        .collect();
    Ok(Reply::list("account", total, items))
}

/// Which domains a list of accounts or users covers: `domainid` alone is that domain,
/// with `isrecursive=true` its subtree too; a domain admin never sees past its own
/// subtree. Answers (exact domain, subtree path).
async fn domain_scope(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
) -> Result<(Option<Uuid>, Option<String>)> {
    let recursive = p.bool("isrecursive") == Some(true);
    let mine = (!caller.is_root_admin()).then(|| caller.user.domain_path.clone());
    let Some(id) = p.uuid("domainid")? else {
        return Ok((None, mine));
    };
    let Some(d) = a::domain_fetch(&ctx.pool, id.into()).await? else {
        return Err(not_found(p, "domainid"));
    };
    if caller.is_domain_admin() {
        ensure_manages(caller, &d.path)?;
    }
    Ok(if recursive {
        (None, Some(d.path))
    } else {
        (Some(d.id.into_uuid()), mine)
    })
}

/// Finds the account a command names by `id`, or by `account` + `domainid`, which the
/// caller must administer. A root admin account is a root admin's to change.
async fn target_account(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<AccountRow> {
    let acc = find_account(ctx, caller, p).await?;
    ensure_manages(caller, &acc.domain_path)?;
    if acc.role_type == "Admin" && !caller.is_root_admin() {
        return Err(ApiError::new(
            ErrorCode::Account,
            format!(
                "Only a root admin can change the root admin account {}",
                acc.name
            ),
        )
        .into());
    }
    Ok(acc)
}

async fn find_account(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<AccountRow> {
    if let Some(id) = p.uuid("id")? {
        return a::account_fetch(&ctx.pool, id.into())
            .await?
            .ok_or_else(|| not_found(p, "id"));
    }
    match p.str("account") {
        Some(name) => {
            let domain = p
                .uuid("domainid")?
                .unwrap_or(caller.domain_id().into_uuid());
            a::account_fetch_by_name(&ctx.pool, domain.into(), name)
                .await?
                .ok_or_else(|| {
                    ApiError::param(format!(
                        "Unable to find account by name {name} in the domain"
                    ))
                    .into()
                })
        }
        None => Err(ApiError::param(
            "Please specify either the account id, or the account name and domainid",
        )
        .into()),
    }
}

fn refuse_builtin(acc: &AccountRow, what: &str) -> Result<(), ApiError> {
    if acc.id == a::SYSTEM_ACCOUNT || acc.id == a::ADMIN_ACCOUNT {
        return Err(ApiError::new(
            ErrorCode::ParamError,
            format!("The default account {} cannot be {what}", acc.name),
        ));
    }
    Ok(())
}

pub async fn update_account(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateAccount<'_>,
) -> Result<Reply> {
    let acc = target_account(ctx, caller, r.wire()).await?;
    let name = r
        .newname()
        .map(str::to_string)
        .unwrap_or_else(|| acc.name.clone());
    if name != acc.name {
        refuse_builtin(&acc, "renamed")?;
    }
    let network_domain = if r.wire().iter().any(|(k, _)| k == "networkdomain") {
        r.networkdomain().map(str::to_string)
    } else {
        acc.network_domain.clone()
    };
    let role_id = match r.roleid() {
        Some(id) => {
            let role = a::role_fetch(&ctx.pool, id)
                .await?
                .ok_or_else(|| not_found(r.wire(), "roleid"))?;
            if AccountType::for_role_type(&role.role_type) as i32 != acc.account_type {
                return Err(ApiError::param(
                    "The new role must be of the same type as the account's current role",
                )
                .into());
            }
            role.id
        }
        None => acc.role_id,
    };
    let mut tx = ctx.pool.begin().await?;
    a::account_update(&mut *tx, acc.id, &name, network_domain.as_deref(), role_id).await?;
    event(
        &mut tx,
        &caller.user,
        "ACCOUNT.UPDATE",
        format!("Updating account {name}"),
        Some(EventResource::new(
            ResourceType::Account,
            acc.id,
            name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let acc = a::account_fetch(&ctx.pool, acc.id)
        .await?
        .ok_or_else(|| crate::error::Error::internal("account vanished"))?;
    let users = a::user_list_for_accounts(&ctx.pool, &[acc.id]).await?;
    Ok(Reply::object(
        "account",
        &account_response(&acc, &users, true),
    ))
}

pub async fn set_account_state(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::EnableAccount<'_>,
    disable: Option<&requests::DisableAccount<'_>>,
) -> Result<Reply> {
    let acc = target_account(ctx, caller, r.wire()).await?;
    let enable = disable.is_none();
    let state = if enable {
        AccountState::Enabled
    } else {
        refuse_builtin(&acc, "disabled")?;
        if acc.id == caller.account_id() {
            return Err(ApiError::param("You cannot disable your own account").into());
        }
        if disable.is_some_and(|d| d.lock()) {
            AccountState::Locked
        } else {
            AccountState::Disabled
        }
    };
    let mut tx = ctx.pool.begin().await?;
    a::account_set_state(&mut *tx, acc.id, state).await?;
    let (kind, verb) = if enable {
        ("ACCOUNT.ENABLE", "Enabling")
    } else {
        ("ACCOUNT.DISABLE", "Disabling")
    };
    event(
        &mut tx,
        &caller.user,
        kind,
        format!("{verb} account {}", acc.name),
        Some(EventResource::new(
            ResourceType::Account,
            acc.id,
            acc.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let acc = a::account_fetch(&ctx.pool, acc.id)
        .await?
        .ok_or_else(|| crate::error::Error::internal("account vanished"))?;
    let users = a::user_list_for_accounts(&ctx.pool, &[acc.id]).await?;
    Ok(Reply::object(
        "account",
        &account_response(&acc, &users, true),
    ))
}

pub async fn delete_account(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteAccount<'_>,
) -> Result<Reply> {
    let acc = target_account(ctx, caller, r.wire()).await?;
    refuse_builtin(&acc, "deleted")?;
    if acc.id == caller.account_id() {
        return Err(ApiError::param("You cannot delete your own account").into());
    }
    let mut tx = ctx.pool.begin().await?;
    // Sessions and users go with the account (ON DELETE CASCADE); events keep their text.
    a::account_delete(&mut tx, acc.id).await?;
    event(
        &mut tx,
        &caller.user,
        "ACCOUNT.DELETE",
        format!("Deleting account {}", acc.name),
        Some(EventResource::new(
            ResourceType::Account,
            acc.id,
            acc.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

/// Users may act on themselves; root admins on anyone; domain admins on the users of
/// their subtree who are not root admins.
async fn target_user(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<UserRow> {
    let id = p.required_uuid("id")?;
    let u = a::user_fetch(&ctx.pool, id.into())
        .await?
        .filter(|u| u.id != a::SYSTEM_USER);
    match u {
        Some(u) if caller.is_root_admin() || u.id == caller.user_id() => Ok(u),
        Some(u)
            if caller.is_domain_admin()
                && caller.manages_domain(&u.domain_path)
                && u.role_type != "Admin" =>
        {
            Ok(u)
        }
        _ => Err(not_found(p, "id")),
    }
}

pub async fn create_user(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateUser<'_>,
) -> Result<Reply> {
    let domain_id = managed_domain(ctx, caller, r.wire()).await?.id;
    let account_name = r.account();
    let acc = a::account_fetch_by_name(&ctx.pool, domain_id, account_name)
        .await?
        .filter(|a| a.id != a::SYSTEM_ACCOUNT)
        .ok_or_else(|| {
            ApiError::param(format!(
                "Unable to find account {account_name} in the domain to create the user in"
            ))
        })?;
    let username = r.username().trim().to_string();
    let password = r.password();
    require_password(ctx, domain_id.into_uuid(), password, &username)?;
    let hash = auth::hash_password(password).await?;
    let user_id = UserId::new_v4();
    let mut tx = ctx.pool.begin().await?;
    a::user_insert(
        &mut *tx,
        user_id,
        acc.id,
        domain_id,
        &username,
        &hash,
        r.firstname(),
        r.lastname(),
        r.email(),
        r.timezone(),
    )
    .await?;
    event(
        &mut tx,
        &caller.user,
        "USER.CREATE",
        format!("Creating user {username} in account {}", acc.name),
        Some(EventResource::new(
            ResourceType::User,
            user_id,
            username.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let u = a::user_fetch(&ctx.pool, user_id)
        .await?
        .ok_or_else(|| crate::error::Error::internal("user vanished"))?;
    Ok(Reply::object("user", &user_response(&u, true)))
}

pub async fn list_users(ctx: &Ctx, caller: &Caller, r: &requests::ListUsers<'_>) -> Result<Reply> {
    // As listAccounts: every user for a root admin, a user's own account's otherwise.
    r.wire().mark_read("listall");
    let (domain_id, under) = domain_scope(ctx, caller, r.wire()).await?;
    // A state no user can be in finds none, as CloudStack's filter does.
    let state = r.state().map(|s| AccountState::parse_any_case(s).ok_or(()));
    let mut f = a::UserFilter {
        common: list_filter(ctx, r.wire())?,
        username: r.username().map(str::to_string),
        account_name: r.account().map(str::to_string),
        account_id: None,
        account_type: r.accounttype(),
        domain_id: domain_id.map(Into::into),
        state: state.and_then(Result::ok),
        under,
    };
    if !caller.is_root_admin() && !caller.is_domain_admin() {
        f.account_id = Some(caller.account_id());
    }
    if matches!(state, Some(Err(()))) {
        return Ok(Reply::list("user", 0, Vec::<UserResponse>::new()));
    }
    let (rows, total) = a::user_list(&ctx.pool, &f).await?;
    let items: Vec<UserResponse> = rows.iter().map(|u| user_response(u, true)).collect();
    Ok(Reply::list("user", total, items))
}

pub async fn update_user(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateUser<'_>,
) -> Result<Reply> {
    let u = target_user(ctx, caller, r.wire()).await?;
    let hash = match r.password() {
        Some(pw) => {
            let name = r.username().unwrap_or(&u.username);
            require_password(ctx, u.domain_id.into_uuid(), pw, name)?;
            // Users changing their own password must prove they know the current one.
            if caller.user_id() == u.id {
                let cur = r.currentpassword().ok_or_else(|| {
                    ApiError::param("Current password is required when changing your own password")
                })?;
                if !auth::verify_password(&u.password_hash, cur).await? {
                    return Err(ApiError::param("Current password is incorrect").into());
                }
            }
            Some(auth::hash_password(pw).await?)
        }
        None => None,
    };
    let username = r
        .username()
        .map(str::to_string)
        .unwrap_or_else(|| u.username.clone());
    let mut tx = ctx.pool.begin().await?;
    a::user_update(
        &mut *tx,
        u.id,
        &username,
        r.firstname().unwrap_or(&u.firstname),
        r.lastname().unwrap_or(&u.lastname),
        r.email().unwrap_or(&u.email),
        r.timezone().or(u.timezone.as_deref()),
        hash.as_deref(),
    )
    .await?;
    event(
        &mut tx,
        &caller.user,
        "USER.UPDATE",
        format!("Updating user {username}"),
        Some(EventResource::new(
            ResourceType::User,
            u.id,
            username.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let u = a::user_fetch(&ctx.pool, u.id)
        .await?
        .ok_or_else(|| crate::error::Error::internal("user vanished"))?;
    Ok(Reply::object("user", &user_response(&u, true)))
}

/// What enableUser, disableUser and lockUser set. A locked user, like a disabled one,
/// can neither log in nor call the API; CloudStack locks after failed logins, an admin
/// may too.
pub use crate::rules::states::AccountState as UserState;

pub async fn set_user_state(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::LockUser<'_>,
    state: UserState,
) -> Result<Reply> {
    let u = target_user(ctx, caller, r.wire()).await?;
    let (kind, verb, imperative) = match state {
        UserState::Enabled => ("USER.ENABLE", "Enabling", "enable"),
        UserState::Disabled => ("USER.DISABLE", "Disabling", "disable"),
        UserState::Locked => ("USER.LOCK", "Locking", "lock"),
    };
    if state != UserState::Enabled && u.id == caller.user_id() {
        return Err(ApiError::param(format!("You cannot {imperative} yourself")).into());
    }
    let mut tx = ctx.pool.begin().await?;
    a::user_set_state(&mut *tx, u.id, state).await?;
    if state != UserState::Enabled {
        crate::db::sessions::session_delete_for_user(&mut *tx, u.id.into_uuid()).await?;
    }
    event(
        &mut tx,
        &caller.user,
        kind,
        format!("{verb} user {}", u.username),
        Some(EventResource::new(
            ResourceType::User,
            u.id,
            u.username.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let u = a::user_fetch(&ctx.pool, u.id)
        .await?
        .ok_or_else(|| crate::error::Error::internal("user vanished"))?;
    Ok(Reply::object("user", &user_response(&u, true)))
}

/// getUser: the user an API key belongs to (root admins only, as in CloudStack).
pub async fn get_user(ctx: &Ctx, r: &requests::GetUser<'_>) -> Result<Reply> {
    let key = r.userapikey();
    let u = a::user_fetch_by_api_key(&ctx.pool, key)
        .await?
        .ok_or_else(|| ApiError::param("Unable to find user by API key"))?;
    Ok(Reply::object("user", &user_response(&u, true)))
}

pub async fn delete_user(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteUser<'_>,
) -> Result<Reply> {
    let u = target_user(ctx, caller, r.wire()).await?;
    if u.id == caller.user_id() {
        return Err(ApiError::param("You cannot delete yourself").into());
    }
    // What the user did stays its account's: its VMs and its jobs (whatever their state)
    // no longer name it (the foreign keys set NULL), as CloudStack's removed user.
    let mut tx = ctx.pool.begin().await?;
    if a::user_count_in_account(&mut *tx, u.account_id).await? <= 1 {
        return Err(ApiError::param(format!(
            "User {} is the last user of account {}; delete the account instead",
            u.username, u.account_name
        ))
        .into());
    }
    a::user_delete(&mut *tx, u.id).await?;
    event(
        &mut tx,
        &caller.user,
        "USER.DELETE",
        format!("Deleting user {}", u.username),
        Some(EventResource::new(
            ResourceType::User,
            u.id,
            u.username.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

/// moveUser: a user changes accounts inside its domain (`account`, by name, wins over
/// `accountid`, as in CloudStack). The user's sessions end: they spoke for the old account.
pub async fn move_user(ctx: &Ctx, caller: &Caller, r: &requests::MoveUser<'_>) -> Result<Reply> {
    let u = target_user(ctx, caller, r.wire()).await?;
    if u.id == caller.user_id() {
        return Err(ApiError::param("You cannot move yourself to another account").into());
    }
    let to = match (r.account(), r.accountid()) {
        (Some(name), _) => a::account_fetch_by_name(&ctx.pool, u.domain_id, name)
            .await?
            .ok_or_else(|| {
                ApiError::param(format!(
                    "Unable to find account {} in domain {}",
                    stratus_api::params::shown(name),
                    u.domain_path
                ))
            })?,
        (None, Some(id)) => a::account_fetch(&ctx.pool, id)
            .await?
            .ok_or_else(|| not_found(r.wire(), "accountid"))?,
        (None, None) => {
            return Err(ApiError::param(
                "Please specify either the account or the accountid to move the user to",
            )
            .into())
        }
    };
    if to.id == a::SYSTEM_ACCOUNT || to.domain_id != u.domain_id {
        return Err(ApiError::param(format!(
            "User {} can only move to another account of its domain {}",
            u.username, u.domain_path
        ))
        .into());
    }
    if to.id == u.account_id {
        return Err(ApiError::param(format!(
            "User {} is already in account {}",
            u.username, to.name
        ))
        .into());
    }
    if to.role_type == "Admin" && !caller.is_root_admin() {
        return Err(ApiError::new(
            ErrorCode::Account,
            format!(
                "Only a root admin can move users into the root admin account {}",
                to.name
            ),
        )
        .into());
    }
    let mut tx = ctx.pool.begin().await?;
    if a::user_count_in_account(&mut *tx, u.account_id).await? <= 1 {
        return Err(ApiError::param(format!(
            "User {} is the last user of account {}; an account keeps at least one user",
            u.username, u.account_name
        ))
        .into());
    }
    a::user_set_account(&mut *tx, u.id, to.id).await?;
    crate::db::sessions::session_delete_for_user(&mut *tx, u.id.into_uuid()).await?;
    event(
        &mut tx,
        &caller.user,
        "USER.MOVE",
        format!(
            "Moving user {} from account {} to account {}",
            u.username, u.account_name, to.name
        ),
        Some(EventResource::new(
            ResourceType::User,
            u.id,
            u.username.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub async fn register_user_keys(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RegisterUserKeys<'_>,
) -> Result<Reply> {
    let u = target_user(ctx, caller, r.wire()).await?;
    let (api_key, secret_key) = (auth::random_token(64), auth::random_token(64));
    let mut tx = ctx.pool.begin().await?;
    a::user_set_keys(
        &mut *tx,
        u.id,
        &api_key,
        &ctx.secrets.seal(secret_key.as_bytes()),
    )
    .await?;
    event(
        &mut tx,
        &caller.user,
        "REGISTER.USER.KEY",
        format!("Registering API keys for user {}", u.username),
        Some(EventResource::new(
            ResourceType::User,
            u.id,
            u.username.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object(
        "userkeys",
        &UserKeysResponse {
            apikey: Some(api_key),
            secretkey: Some(secret_key),
        },
    ))
}

pub async fn get_user_keys(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::GetUserKeys<'_>,
) -> Result<Reply> {
    let u = target_user(ctx, caller, r.wire()).await?;
    Ok(Reply::object(
        "userkeys",
        &UserKeysResponse {
            apikey: u.api_key.clone(),
            secretkey: ctx.user_secret(&u),
        },
    ))
}

pub fn parse_date(p: &Params, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    let Some(v) = p.str(name) else {
        return Ok(None);
    };
    if let Some(t) = stratus_api::signing::parse_expires(v) {
        return Ok(Some(t));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, fmt) {
            return Ok(Some(t.and_utc()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let t = if name == "enddate" {
            d.and_hms_opt(23, 59, 59)
        } else {
            d.and_hms_opt(0, 0, 0)
        };
        return Ok(t.map(|t| t.and_utc()));
    }
    Err(ApiError::param(format!(
        "Unable to parse date {v} for parameter {name}; use \"yyyy-MM-dd\" or \"yyyy-MM-dd HH:mm:ss\""
    ))
    .into())
}

pub async fn list_events(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListEvents<'_>,
) -> Result<Reply> {
    let page = r.wire().page(ctx.page_size())?;
    // A root admin sees every account's events (or `account`'s), a user their own.
    let (account_id, account_ids, skip_projects) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::AllForRoot)
            .await?
            .split();
    let f = ev::EventFilter {
        id: r.id().map(Into::into),
        event_type: r.r#type().map(str::to_string),
        level: r.level().map(str::to_string),
        start: parse_date(r.wire(), "startdate")?,
        end: parse_date(r.wire(), "enddate")?,
        resource_id: r.resourceid(),
        resource_type: r.resourcetype().map(str::to_string),
        account_id: account_id.map(Into::into),
        account_ids: account_ids.map(|v| v.into_iter().map(Into::into).collect()),
        skip_projects,
        domain_id: None,
        keyword: r.keyword().map(str::to_string),
        offset: page.offset,
        limit: page.limit,
    };
    let (rows, total) = ev::event_list(&ctx.pool, &f).await?;
    let items: Vec<EventResponse> = rows
        .iter()
        .map(|e| EventResponse {
            archived: Some(false),
            id: Some(e.id),
            username: e.username.clone(),
            r#type: Some(e.event_type.clone()),
            level: Some(e.level.clone()),
            description: Some(e.description.clone()),
            account: e.account_name.clone(),
            domainid: e.domain_id.map(Into::into),
            domain: e.domain_name.clone(),
            domainpath: e.domain_path.clone(),
            created: Some(e.created.into()),
            state: Some(e.state.clone()),
            parentid: e.parent_id,
            resourceid: e.resource_id,
            resourcetype: e.resource_type.clone(),
            resourcename: e.resource_name.clone(),
        })
        .collect();
    Ok(Reply::list("event", total, items))
}
