//! Global settings (`listConfigurations`, `updateConfiguration`, `resetConfiguration`),
//! with zone/cluster/storage pool/account/domain overrides for settings that allow that
//! scope.

use super::requests;
use stratus_api::envelope::Reply;
use stratus_api::types::ConfigurationResponse;
use stratus_api::{ApiError, Params};
use uuid::Uuid;

use super::{event, not_found};
use crate::ctx::Ctx;
use crate::db::config::{self as c, ConfigRow};
use crate::error::Result;
use crate::rules::settings;
use crate::services::auth::Caller;

const SCOPES: [(&str, &str); 5] = [
    ("zoneid", "zone"),
    ("clusterid", "cluster"),
    ("storageid", "storagepool"),
    ("accountid", "account"),
    ("domainid", "domain"),
];

/// The one scope a request names, if any; naming two is an error.
fn scope(p: &Params) -> Result<Option<(&'static str, &'static str, Uuid)>> {
    let mut found = None;
    for (param, scope) in SCOPES {
        if let Some(id) = p.uuid(param)? {
            if found.is_some() {
                return Err(ApiError::param(
                    "Please specify only one scope: zoneid, clusterid, storageid, accountid or domainid",
                )
                .into());
            }
            found = Some((param, scope, id));
        }
    }
    Ok(found)
}

async fn scope_exists(ctx: &Ctx, scope: &str, id: Uuid) -> Result<bool> {
    use crate::db::{accounts, storage, topology};
    Ok(match scope {
        "zone" => topology::zone_fetch(&ctx.pool, id.into()).await?.is_some(),
        "cluster" => topology::cluster_fetch(&ctx.pool, id.into())
            .await?
            .is_some(),
        "storagepool" => storage::pool_fetch(&ctx.pool, id.into()).await?.is_some(),
        "account" => accounts::account_fetch(&ctx.pool, id.into())
            .await?
            .is_some(),
        _ => accounts::domain_fetch(&ctx.pool, id.into())
            .await?
            .is_some(),
    })
}

/// CloudStack's category for credentials (project.smtp.password): stored, used, never
/// answered or written into events.
const SECURE: &str = "Secure";

/// What an answer or event shows of a value.
fn shown(r: &ConfigRow, value: Option<String>) -> Option<String> {
    match value {
        Some(v) if r.category == SECURE && !v.is_empty() => Some("********".into()),
        v => v,
    }
}

fn response(r: &ConfigRow, scope: Option<(&str, Uuid)>) -> ConfigurationResponse {
    ConfigurationResponse {
        category: Some(r.category.clone()),
        name: Some(r.name.clone()),
        value: shown(r, r.value.clone()),
        defaultvalue: shown(r, r.default_value.clone()),
        description: Some(r.description.clone()),
        scope: Some(match scope {
            Some((s, _)) => s.to_string(),
            None => "global".into(),
        }),
        id: scope.map(|(_, id)| id),
        isdynamic: Some(r.is_dynamic),
        r#type: Some(r.value_type.clone()),
        component: Some(r.component.clone()),
        displaytext: Some(if r.display_text.is_empty() {
            r.name.clone()
        } else {
            r.display_text.clone()
        }),
    }
}

pub async fn list(ctx: &Ctx, r: &requests::ListConfigurations<'_>) -> Result<Reply> {
    let page = r.wire().page(ctx.page_size())?;
    let sc = scope(r.wire())?;
    if let Some((param, s, id)) = sc {
        if !scope_exists(ctx, s, id).await? {
            return Err(not_found(r.wire(), param));
        }
    }
    let f = c::ConfigFilter {
        name: r.name().map(str::to_string),
        category: r.category().map(str::to_string),
        keyword: r.keyword().map(str::to_string),
        scope: sc.map(|(_, s, id)| (s, id)),
        offset: page.offset,
        limit: page.limit,
    };
    let (rows, total) = c::config_list(&ctx.pool, &f).await?;
    let items: Vec<ConfigurationResponse> = rows
        .iter()
        .map(|r| response(r, sc.map(|(_, s, id)| (s, id))))
        .collect();
    Ok(Reply::list("configuration", total, items))
}

/// `updateConfiguration` (or, with `reset`, `resetConfiguration`).
pub async fn update(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateConfiguration<'_>,
    reset: bool,
) -> Result<Reply> {
    let name = r.name();
    let row = c::config_fetch(&ctx.pool, name)
        .await?
        .ok_or_else(|| ApiError::param(format!("Configuration {name} does not exist")))?;
    let value = if reset {
        None
    } else {
        match r.value() {
            Some(v) => {
                let v = settings::validate_value(name, &row.value_type, v)?;
                // What the registry would not use (a factor ≤ 0, a bad instance name…) is
                // refused here rather than ignored later.
                if let Some(s) = crate::settings::find(name) {
                    s.load_value(&v).map_err(|why| {
                        ApiError::param(format!(
                            "Value '{v}' is not valid for configuration {name}: {why}"
                        ))
                    })?;
                }
                Some(v)
            }
            // CloudStack treats a missing value as "set to empty/null".
            None => None,
        }
    };
    let sc = scope(r.wire())?;
    let mut tx = ctx.pool.begin().await?;
    match sc {
        Some((param, s, id)) => {
            if !row.scopes.iter().any(|x| x == s) {
                return Err(ApiError::param(format!(
                    "Configuration {name} cannot be set at {s} scope; valid scopes: {}",
                    if row.scopes.is_empty() {
                        "global only".to_string()
                    } else {
                        row.scopes.join(", ")
                    }
                ))
                .into());
            }
            if !scope_exists(ctx, s, id).await? {
                return Err(not_found(r.wire(), param));
            }
            c::config_set_scoped(&mut *tx, name, s, id, value.as_deref()).await?;
        }
        None => c::config_set_global(&mut *tx, name, value.as_deref()).await?,
    }
    event(
        &mut tx,
        &caller.user,
        "CONFIGURATION.VALUE.EDIT",
        format!(
            "Value of {name} changed to {}",
            shown(&row, value.clone())
                .as_deref()
                .unwrap_or("its default")
        ),
        None,
    )
    .await?;
    tx.commit().await?;
    ctx.refresh_settings().await?;
    let f = c::ConfigFilter {
        name: Some(name.to_string()),
        scope: sc.map(|(_, s, id)| (s, id)),
        ..Default::default()
    };
    let (rows, _) = c::config_list(&ctx.pool, &f).await?;
    let r = rows
        .first()
        .ok_or_else(|| crate::error::Error::internal("setting vanished"))?;
    Ok(Reply::object(
        "configuration",
        &response(r, sc.map(|(_, s, id)| (s, id))),
    ))
}
