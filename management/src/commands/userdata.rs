//! Named user data (registerUserData, listUserData, deleteUserData): an account's
//! cloud-init documents that VMs name by `userdataid` instead of sending the data each
//! time. The data is checked as deployVirtualMachine checks `userdata`.

use super::requests;
use crate::ids::UserDataId;
use stratus_api::envelope::Reply;
use stratus_api::types::UserDataResponse;
use stratus_api::{ApiError, Params};

use super::{event, list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::userdata::{self as u, NewUserData, UserDataFilter, UserDataRow};
use crate::error::{Error, Result};
use crate::services::auth::Caller;
use crate::services::vms::guest;

pub fn response(x: &UserDataRow) -> UserDataResponse {
    UserDataResponse {
        id: Some(x.id.into()),
        name: Some(x.name.clone()),
        account: Some(x.account_name.clone()),
        accountid: Some(x.account_id.into()),
        domain: Some(x.domain_name.clone()),
        domainid: Some(x.domain_id.into()),
        domainpath: x.domain_path.clone(),
        projectid: x.project_id.map(Into::into),
        project: x.project_name.clone(),
        userdata: Some(x.user_data.clone()),
        params: (!x.params.is_empty()).then(|| x.params.join(",")),
        hasannotations: Some(false),
    }
}

/// Variable names as `params` lists them: comma-separated identifiers.
fn variables(p: &Params) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for v in p.str("params").unwrap_or("").split(',').map(str::trim) {
        if v.is_empty() {
            continue;
        }
        let ok = v.len() <= 64
            && v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
        if !ok {
            return Err(ApiError::param(format!(
                "Invalid userdata parameter name '{v}': letters, digits, '_' and '-', starting with a letter"
            ))
            .into());
        }
        if !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    }
    Ok(out)
}

pub async fn register(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RegisterUserData<'_>,
) -> Result<Reply> {
    let name = r.name().trim();
    if name.is_empty() {
        return Err(ApiError::param("Please specify a valid name for the userdata").into());
    }
    let data = guest::check_user_data(ctx, r.userdata())?;
    let params = variables(r.wire())?;
    // A project's user data belongs to the project's own account (the caller must be a
    // member, the project Active), as CloudStack's.
    let (account_id, domain_id, account_name) =
        match super::projects::owner_for_create(ctx, caller, r.wire()).await? {
            Some(pr) => (pr.account_id, pr.domain_id, pr.account_name.clone()),
            None => super::sshkeys::owner(ctx, caller, r.wire()).await?,
        };
    let id = UserDataId::new_v4();
    let taken = || -> Error {
        ApiError::param(format!(
            "A userdata with name '{name}' already exists for account {account_name}"
        ))
        .into()
    };
    let mut tx = ctx.pool.begin().await?;
    u::user_data_insert(
        &mut *tx,
        &NewUserData {
            id,
            name,
            account_id,
            domain_id,
            user_data: &data,
            params: &params,
        },
    )
    .await
    .map_err(|e| match &e {
        Error::Db(sqlx::Error::Database(d))
            if d.constraint() == Some("user_data_name_account_key") =>
        {
            taken()
        }
        _ => e,
    })?;
    event(
        &mut tx,
        &caller.user,
        "REGISTER.USER.DATA",
        format!("User data {name} of account {account_name}"),
        Some(EventResource::new(
            ResourceType::UserData,
            id,
            name.to_string(),
        )),
    )
    .await?;
    tx.commit().await?;
    let row = u::user_data_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("user data vanished"))?;
    Ok(Reply::object("userdata", &response(&row)))
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListUserData<'_>) -> Result<Reply> {
    let (account_id, account_ids, skip_projects) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::Own)
            .await?
            .split();
    let f = UserDataFilter {
        common: list_filter(ctx, r.wire())?,
        account_id: account_id.map(Into::into),
        account_ids: account_ids.map(|v| v.into_iter().map(Into::into).collect()),
        skip_projects,
        // `domainid` is part of whose these are (the scope above).
        domain_id: None,
    };
    let (rows, total) = u::user_data_list(&ctx.pool, &f).await?;
    let items: Vec<_> = rows.iter().map(response).collect();
    Ok(Reply::list("userdata", total, items))
}

/// The user data `id`, if the caller may use it (its owner, a member of the project
/// owning it, or a root admin).
pub async fn usable(ctx: &Ctx, caller: &Caller, p: &Params, name: &str) -> Result<UserDataRow> {
    let id = p.required_uuid(name)?;
    let row = u::user_data_fetch(&ctx.pool, id.into())
        .await?
        .ok_or_else(|| not_found(p, name))?;
    if !super::projects::may_use(ctx, caller, row.account_id.into()).await? {
        return Err(not_found(p, name));
    }
    Ok(row)
}

pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteUserData<'_>) -> Result<Reply> {
    // The id names the user data; whose it is (an account's, a project's) follows from
    // it, and [`usable`] checks the caller may act for that owner.
    for n in ["account", "domainid", "projectid"] {
        r.wire().mark_read(n);
    }
    let row = usable(ctx, caller, r.wire(), "id").await?;
    let users = u::user_data_users(&ctx.pool, row.id).await?;
    if !users.is_empty() {
        return Err(ApiError::param(format!(
            "Userdata {} is in use by VMs ({}); reset their userdata first",
            row.name,
            users.join(", ")
        ))
        .into());
    }
    let mut tx = ctx.pool.begin().await?;
    u::user_data_delete(&mut *tx, row.id).await?;
    event(
        &mut tx,
        &caller.user,
        "DELETE.USER.DATA",
        format!("User data {} of account {}", row.name, row.account_name),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

/// `userdata` or `userdataid` (not both) as a VM takes them: the data to store, and the
/// named user data it came from. None: neither was given.
pub async fn for_vm(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
) -> Result<Option<(String, Option<UserDataId>)>> {
    match (p.str("userdata"), p.str("userdataid")) {
        (Some(_), Some(_)) => Err(ApiError::param(
            "Both userdata and userdataid parameters cannot be specified together",
        )
        .into()),
        (Some(data), None) => Ok(Some((guest::check_user_data(ctx, data)?, None))),
        (None, Some(_)) => {
            let row = usable(ctx, caller, p, "userdataid").await?;
            Ok(Some((row.user_data, Some(row.id))))
        }
        (None, None) => Ok(None),
    }
}
