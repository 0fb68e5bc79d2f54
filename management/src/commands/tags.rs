//! Resource tags: createTags and deleteTags (async, as in CloudStack) and listTags, on
//! VMs (`UserVm`), volumes (`Volume`) and ISOs (`ISO`). A tag belongs to its resource's
//! owner; only that account or a root admin may tag, untag or list it. `tags[]` in
//! listVirtualMachines and listVolumes comes from here too ([`tags_of`]).

use std::collections::HashMap;

use stratus_api::envelope::Reply;
use stratus_api::types::ResourceTagResponse;
use stratus_api::{ApiError, Params};
use uuid::Uuid;

use super::{event, list_filter};
use crate::ctx::Ctx;
use crate::db::{self, tags::TagRow};
use crate::error::Result;
use crate::services::auth::Caller;

/// Tag keys and values are `varchar(255)`, as CloudStack's `resource_tags` columns.
const MAX_TAG_LEN: usize = 255;
/// At most this many tag rows per request (resources × tags): bounded work.
const MAX_TAGS_PER_REQUEST: usize = 1000;

/// The resource types tags may name, spelled as CloudStack's `ResourceObjectType` (which
/// matches them case-insensitively).
const TYPES: &[&str] = &["UserVm", "Volume", "ISO", "Template"];

fn resource_type(p: &Params, name: &str) -> Result<Option<&'static str>> {
    let Some(raw) = p.str(name) else {
        return Ok(None);
    };
    TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(raw))
        .copied()
        .map(Some)
        .ok_or_else(|| {
            ApiError::param(format!(
                "Invalid resource type {}: tags are supported on {}",
                stratus_api::params::shown(raw),
                TYPES.join(", ")
            ))
            .into()
        })
}

/// Who owns a tagged resource: `(account, domain)`, or `None` if there is no such
/// resource. The one place a resource type is looked up: one arm per type.
pub async fn resource_owner(ctx: &Ctx, kind: &str, id: Uuid) -> Result<Option<(Uuid, Uuid)>> {
    Ok(match kind {
        "UserVm" => db::vms::vm_fetch(&ctx.pool, id)
            .await?
            .filter(|v| v.state != crate::rules::vmstate::VmState::Expunged)
            .map(|v| (v.account_id, v.domain_id)),
        "Volume" => db::volumes::volume_owner(&ctx.pool, id)
            .await?
            .and_then(|o| o.account_id.zip(o.domain_id)),
        "ISO" => db::isos::iso_fetch(&ctx.pool, id)
            .await?
            .map(|i| (i.account_id, i.domain_id)),
        "Template" => db::templates::template_fetch(&ctx.pool, id)
            .await?
            .map(|t| (t.account_id, t.domain_id)),
        _ => None,
    })
}

/// The resources named by `resourceids`, each checked to exist and be the caller's (or
/// the caller a root admin), with their owners. Another account's resource is answered
/// as one that does not exist, so ids cannot be probed.
async fn owned_resources(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    kind: &str,
) -> Result<Vec<(Uuid, Uuid, Uuid)>> {
    let ids = p
        .uuid_list("resourceids")?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| stratus_api::params::missing_param(p.command(), "resourceids"))?;
    let mut out = Vec::with_capacity(ids.len().min(MAX_TAGS_PER_REQUEST));
    for id in ids {
        if out.len() >= MAX_TAGS_PER_REQUEST {
            return Err(too_many());
        }
        match resource_owner(ctx, kind, id).await? {
            Some((account, domain)) if caller.is_root_admin() || account == caller.account_id() => {
                out.push((id, account, domain))
            }
            _ => {
                return Err(stratus_api::params::invalid_param(
                    p.command(),
                    "resourceids",
                    &id.to_string(),
                )
                .into())
            }
        }
    }
    Ok(out)
}

fn too_many() -> crate::error::Error {
    ApiError::param(format!(
        "Too many tags in one request: at most {MAX_TAGS_PER_REQUEST} (resources × tags)"
    ))
    .into()
}

/// `tags[i].key` / `tags[i].value` pairs; `need_value`: createTags requires both.
fn tag_pairs(p: &Params, need_value: bool) -> Result<Vec<(String, Option<String>)>> {
    let mut out = vec![];
    for e in p.map_entries("tags") {
        let key = e.get("key").map(|k| k.trim()).unwrap_or("");
        let value = e.get("value").filter(|v| !v.is_empty()).cloned();
        if key.is_empty() {
            return Err(ApiError::param("A tag's key must not be empty (tags[i].key)").into());
        }
        if need_value && value.is_none() {
            return Err(ApiError::param(format!(
                "Value for the key {} is either null or empty",
                stratus_api::params::shown(key)
            ))
            .into());
        }
        if key.chars().count() > MAX_TAG_LEN
            || value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_TAG_LEN)
        {
            return Err(ApiError::param(format!(
                "A tag's key and value are at most {MAX_TAG_LEN} characters"
            ))
            .into());
        }
        out.push((key.to_string(), value));
    }
    Ok(out)
}

pub async fn create(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<Reply> {
    let kind = resource_type(p, "resourcetype")?
        .ok_or_else(|| stratus_api::params::missing_param(p.command(), "resourcetype"))?;
    let tags = tag_pairs(p, true)?;
    if tags.is_empty() {
        return Err(stratus_api::params::missing_param(p.command(), "tags").into());
    }
    let resources = owned_resources(ctx, caller, p, kind).await?;
    if resources.len().saturating_mul(tags.len()) > MAX_TAGS_PER_REQUEST {
        return Err(too_many());
    }
    let customer = p.string("customer");
    let mut tx = ctx.pool.begin().await?;
    for (id, account, domain) in &resources {
        for (key, value) in &tags {
            db::tags::tag_insert(
                &mut *tx,
                &db::tags::NewTag {
                    key,
                    value: value.as_deref().unwrap_or_default(),
                    resource_type: kind,
                    resource_id: *id,
                    account_id: *account,
                    domain_id: *domain,
                    customer: customer.as_deref(),
                },
            )
            .await?;
        }
    }
    event(
        &mut tx,
        &caller.user,
        "CREATE_TAGS",
        format!(
            "Created {} tag(s) on {} {kind}(s)",
            tags.len(),
            resources.len()
        ),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::Success { displaytext: None })
}

pub async fn delete(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<Reply> {
    let kind = resource_type(p, "resourcetype")?
        .ok_or_else(|| stratus_api::params::missing_param(p.command(), "resourcetype"))?;
    let tags = tag_pairs(p, false)?;
    let resources = owned_resources(ctx, caller, p, kind).await?;
    if resources.len().saturating_mul(tags.len().max(1)) > MAX_TAGS_PER_REQUEST {
        return Err(too_many());
    }
    let mut tx = ctx.pool.begin().await?;
    let mut deleted = 0;
    for (id, _, _) in &resources {
        if tags.is_empty() {
            deleted += db::tags::tag_delete(&mut *tx, kind, *id, None, None).await?;
        }
        for (key, value) in &tags {
            deleted +=
                db::tags::tag_delete(&mut *tx, kind, *id, Some(key), value.as_deref()).await?;
        }
    }
    if deleted == 0 {
        return Err(ApiError::param(
            "Unable to find any tags which conform to specified delete parameters",
        )
        .into());
    }
    event(
        &mut tx,
        &caller.user,
        "DELETE_TAGS",
        format!(
            "Deleted {deleted} tag(s) from {} {kind}(s)",
            resources.len()
        ),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::Success { displaytext: None })
}

pub fn response(r: &TagRow) -> ResourceTagResponse {
    ResourceTagResponse {
        key: Some(r.key.clone()),
        value: Some(r.value.clone()),
        resourcetype: Some(r.resource_type.clone()),
        resourceid: Some(r.resource_id),
        account: Some(r.account_name.clone()),
        domainid: Some(r.domain_id),
        domain: Some(r.domain_name.clone()),
        domainpath: Some(r.domain_path.clone()),
        customer: r.customer.clone(),
    }
}

pub async fn list(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<Reply> {
    let f = db::tags::TagFilter {
        common: list_filter(ctx, p)?,
        account_id: super::vms::list_scope(ctx, caller, p).await?,
        domain_id: p.uuid("domainid")?,
        resource_type: resource_type(p, "resourcetype")?.map(str::to_string),
        resource_id: p.uuid("resourceid")?,
        key: p.string("key"),
        value: p.string("value"),
        customer: p.string("customer"),
    };
    let (rows, total) = db::tags::tag_list(&ctx.pool, &f).await?;
    let items: Vec<ResourceTagResponse> = rows.iter().map(response).collect();
    Ok(Reply::list("tag", total, &items))
}

/// The tags of listed resources of one type, by resource, as the `tags[]` of their
/// responses.
pub async fn tags_of(
    ctx: &Ctx,
    kind: &str,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<serde_json::Value>>> {
    let mut out: HashMap<Uuid, Vec<serde_json::Value>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    for r in db::tags::tags_for(&ctx.pool, kind, ids).await? {
        let v = serde_json::to_value(response(&r)).unwrap_or_default();
        out.entry(r.resource_id).or_default().push(v);
    }
    Ok(out)
}
