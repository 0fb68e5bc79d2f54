//! Resource tags: createTags and deleteTags (async, as in CloudStack) and listTags, on
//! every resource type Stratus has that CloudStack's `ResourceObjectType` marks taggable
//! (`db::tags::TagType`: VMs, volumes, ISOs, templates, guest networks, projects,
//! accounts, users). A tag belongs to its resource's owner, and only those who may act
//! for that owner tag or untag it (see [`may_tag`]); the shared guest networks have no
//! owner, so only root admins tag them and the tags are theirs. Types CloudStack does not
//! tag (zones, offerings, primary storage, domains) are refused as CloudStack refuses
//! them. The `tags[]` of list answers ([`tags_of`]) and the lists' `tags[n].key` /
//! `tags[n].value` filter ([`wanted`]) come from here too.

use super::requests;
use std::collections::HashMap;

use stratus_api::envelope::Reply;
use stratus_api::types::ResourceTagResponse;
use stratus_api::{ApiError, Params};
use uuid::Uuid;

use super::{event, list_filter};
use crate::ctx::Ctx;
use crate::db::{
    self,
    tags::{TagMatch, TagRow, TagType},
};
use crate::error::Result;
use crate::services::auth::Caller;

/// Tag keys and values are `varchar(255)`, as CloudStack's `resource_tags` columns.
const MAX_TAG_LEN: usize = 255;
/// At most this many tag rows per request (resources × tags): bounded work.
const MAX_TAGS_PER_REQUEST: usize = 1000;
/// At most this many pairs in a list's `tags` filter (each is one index probe per row).
const MAX_TAG_FILTERS: usize = 64;

/// CloudStack's `ResourceObjectType`s whose `resourceTagsSupport` is false: they take
/// resource details or icons, never tags, and createTags refuses them.
const UNTAGGABLE: &[&str] = &[
    "Zone",
    "ServiceOffering",
    "Storage",
    "DiskOffering",
    "Domain",
    "DomainRouter",
    "Nic",
    "PrivateGateway",
    "NetworkACLList",
    "VpnGateway",
    "CustomerGateway",
    "VpnConnection",
    "AutoScaleVmProfile",
    "AutoScaleVmGroup",
    "LBStickinessPolicy",
    "LBHealthCheckPolicy",
    "GuestOs",
    "NetworkOffering",
    "ObjectStore",
];

/// CloudStack's taggable types Stratus has no such resources of (yet).
const ABSENT: &[&str] = &[
    "VMInstance",
    "Backup",
    "LoadBalancer",
    "PortForwardingRule",
    "FirewallRule",
    "SecurityGroup",
    "SecurityGroupRule",
    "PublicIpAddress",
    "Vpc",
    "NetworkACL",
    "StaticRoute",
    "RemoteAccessVpn",
    "SnapshotPolicy",
    "VpcOffering",
    "VnfTemplate",
];

/// A `resourcetype` as given: one Stratus tags, or another of CloudStack's (which no
/// tag can name: listTags finds none, createTags refuses it).
enum Kind {
    Tagged(TagType),
    Untagged(&'static str),
}

fn supported() -> String {
    TagType::ALL.map(TagType::as_str).join(", ")
}

fn kind_of(p: &Params, name: &str) -> Result<Option<Kind>> {
    let Some(raw) = p.str(name) else {
        return Ok(None);
    };
    if let Some(t) = TagType::parse(raw) {
        return Ok(Some(Kind::Tagged(t)));
    }
    UNTAGGABLE
        .iter()
        .chain(ABSENT)
        .find(|t| t.eq_ignore_ascii_case(raw))
        .map(|t| Some(Kind::Untagged(t)))
        .ok_or_else(|| {
            ApiError::param(format!(
                "Invalid resource type {}: tags are supported on {}",
                stratus_api::params::shown(raw),
                supported()
            ))
            .into()
        })
}

/// The type createTags and deleteTags act on: one Stratus tags, else CloudStack's refusal.
fn taggable(p: &Params) -> Result<TagType> {
    match kind_of(p, "resourcetype")? {
        None => Err(stratus_api::params::missing_param(p.command(), "resourcetype").into()),
        Some(Kind::Tagged(t)) => Ok(t),
        Some(Kind::Untagged(t)) if UNTAGGABLE.contains(&t) => Err(ApiError::param(format!(
            "The resource type {t} doesn't support resource tags (tags are supported on {})",
            supported()
        ))
        .into()),
        Some(Kind::Untagged(t)) => Err(ApiError::param(format!(
            "Stratus has no resources of type {t}: tags are supported on {}",
            supported()
        ))
        .into()),
    }
}

/// Who a tagged resource belongs to.
pub enum Owner {
    /// An account's resource: `(account, domain)`.
    Account(Uuid, Uuid),
    /// Shared infrastructure no account owns (the zones' guest networks).
    Shared,
}

/// Who owns the `kind` resource `id`, or `None` if there is no such resource. The one
/// place a tag's resource is looked up: one arm per type.
pub async fn resource_owner(ctx: &Ctx, kind: TagType, id: Uuid) -> Result<Option<Owner>> {
    let pool = &ctx.pool;
    Ok(match kind {
        TagType::UserVm => db::vms::vm_fetch(pool, id.into())
            .await?
            .filter(|v| v.state != crate::rules::vmstate::VmState::Expunged)
            .map(|v| Owner::Account(v.account_id.into_uuid(), v.domain_id.into_uuid())),
        // A volume without a VM has no owner to tag it for.
        TagType::Volume => db::volumes::volume_owner(pool, id.into())
            .await?
            .and_then(|o| o.account_id.zip(o.domain_id))
            .map(|(a, d)| Owner::Account(a.into_uuid(), d.into_uuid())),
        TagType::Iso => db::isos::iso_fetch(pool, id.into())
            .await?
            .map(|i| Owner::Account(i.account_id.into_uuid(), i.domain_id.into_uuid())),
        TagType::Template => db::templates::template_fetch(pool, id.into())
            .await?
            .map(|t| Owner::Account(t.account_id.into_uuid(), t.domain_id.into_uuid())),
        TagType::Network => {
            let f = db::ListFilter {
                id: Some(id),
                ..Default::default()
            };
            let (rows, _) =
                db::networks::network_list(pool, &f, None, &TagMatch::default()).await?;
            rows.first().map(|_| Owner::Shared)
        }
        // A project's tags are its account's, as its resources are.
        TagType::Project => db::projects::project_fetch(pool, id.into())
            .await?
            .map(|p| Owner::Account(p.account_id.into_uuid(), p.domain_id.into_uuid())),
        TagType::Account => db::accounts::account_fetch(pool, id.into())
            .await?
            .map(|a| Owner::Account(a.id.into_uuid(), a.domain_id.into_uuid())),
        TagType::User => db::accounts::user_fetch(pool, id.into())
            .await?
            .filter(|u| u.id != db::accounts::SYSTEM_USER)
            .map(|u| Owner::Account(u.account_id.into_uuid(), u.domain_id.into_uuid())),
        TagType::Snapshot => db::snapshots::snapshot_fetch(pool, id.into())
            .await?
            .filter(|s| s.removed.is_none())
            .map(|s| Owner::Account(s.account_id.into_uuid(), s.domain_id.into_uuid())),
        TagType::VmSnapshot => db::vm_snapshots::vmsnap_fetch(pool, id.into())
            .await?
            .map(|s| Owner::Account(s.account_id.into_uuid(), s.domain_id.into_uuid())),
    })
}

/// Whether the caller may tag what `owner` owns (CloudStack's `checkAccess` on the
/// owner): root admins anything; others their own account's, their projects'
/// (`projects::may_use`); domain admins also those of the accounts of their subtree that
/// are not root admins'. Shared infrastructure: root admins only.
async fn may_tag(ctx: &Ctx, caller: &Caller, owner: &Owner) -> Result<bool> {
    let Owner::Account(account, _) = owner else {
        return Ok(caller.is_root_admin());
    };
    if super::projects::may_use(ctx, caller, *account).await? {
        return Ok(true);
    }
    if caller.is_domain_admin() {
        if let Some(a) = db::accounts::account_fetch(&ctx.pool, (*account).into()).await? {
            return Ok(a.role_type != "Admin" && caller.manages_domain(&a.domain_path));
        }
    }
    Ok(false)
}

/// The resources named by `resourceids`, each checked to exist and be the caller's to
/// tag, with the account and domain their tags belong to. One the caller may not tag is
/// answered as one that does not exist, so ids cannot be probed.
async fn owned_resources(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    kind: TagType,
) -> Result<Vec<(Uuid, Uuid, Uuid)>> {
    let ids = p
        .uuid_list("resourceids")?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| stratus_api::params::missing_param(p.command(), "resourceids"))?;
    if ids.len() > MAX_TAGS_PER_REQUEST {
        return Err(too_many());
    }
    let mut out: Vec<(Uuid, Uuid, Uuid)> = Vec::with_capacity(ids.len());
    for id in ids {
        if out.iter().any(|(seen, _, _)| *seen == id) {
            continue;
        }
        let owner = resource_owner(ctx, kind, id).await?;
        match owner {
            Some(o) if may_tag(ctx, caller, &o).await? => {
                let (account, domain) = match o {
                    Owner::Account(a, d) => (a, d),
                    Owner::Shared => (
                        caller.account_id().into_uuid(),
                        caller.domain_id().into_uuid(),
                    ),
                };
                out.push((id, account, domain));
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

/// `tags[i].key` / `tags[i].value` pairs, at most `max`; `need_value`: each needs both.
fn tag_pairs(p: &Params, need_value: bool, max: usize) -> Result<Vec<(String, Option<String>)>> {
    let entries = p.map_entries("tags");
    if entries.len() > max {
        return Err(ApiError::param(format!(
            "Too many tags in one request: at most {max} (tags[i].key/value pairs)"
        ))
        .into());
    }
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
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

/// A list command's `tags[n].key` / `tags[n].value` filter: the resources listed must
/// carry every pair (each needs a key and a value, as in CloudStack). No pairs: no filter.
pub fn wanted(p: &Params) -> Result<TagMatch> {
    let mut m = TagMatch::default();
    for (key, value) in tag_pairs(p, true, MAX_TAG_FILTERS)? {
        m.keys.push(key);
        m.values.push(value.unwrap_or_default());
    }
    Ok(m)
}

pub async fn create(ctx: &Ctx, caller: &Caller, r: &requests::CreateTags<'_>) -> Result<Reply> {
    let kind = taggable(r.wire())?;
    let tags = tag_pairs(r.wire(), true, MAX_TAGS_PER_REQUEST)?;
    if tags.is_empty() {
        return Err(stratus_api::params::missing_param(r.wire().command(), "tags").into());
    }
    let resources = owned_resources(ctx, caller, r.wire(), kind).await?;
    if resources.len().saturating_mul(tags.len()) > MAX_TAGS_PER_REQUEST {
        return Err(too_many());
    }
    let customer = r.customer().map(str::to_string);
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

pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteTags<'_>) -> Result<Reply> {
    let kind = taggable(r.wire())?;
    let tags = tag_pairs(r.wire(), false, MAX_TAGS_PER_REQUEST)?;
    let resources = owned_resources(ctx, caller, r.wire(), kind).await?;
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

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListTags<'_>) -> Result<Reply> {
    // Whose tags: a project's, an account's, a domain's (subtree), everything an admin
    // may see — the same rule as every resource list.
    let (account_id, account_ids, skip_projects) =
        super::scope::owners(ctx, caller, r.wire(), super::scope::Fallback::Own)
            .await?
            .split();
    let resource_type = kind_of(r.wire(), "resourcetype")?.map(|k| match k {
        Kind::Tagged(t) => t.as_str().to_string(),
        Kind::Untagged(t) => t.to_string(),
    });
    let f = db::tags::TagFilter {
        common: list_filter(ctx, r.wire())?,
        account_id,
        account_ids,
        skip_projects,
        // `domainid` is part of whose tags these are (the scope above).
        domain_id: None,
        resource_type,
        resource_id: r.resourceid(),
        key: r.key().map(str::to_string),
        value: r.value().map(str::to_string),
        customer: r.customer().map(str::to_string),
    };
    let (rows, total) = db::tags::tag_list(&ctx.pool, &f).await?;
    let items: Vec<ResourceTagResponse> = rows.iter().map(response).collect();
    Ok(Reply::list("tag", total, items))
}

/// One resource's tags, as the `tags[]` of its response.
pub async fn tags_of_one(ctx: &Ctx, kind: TagType, id: Uuid) -> Result<Vec<serde_json::Value>> {
    Ok(tags_of(ctx, kind, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default())
}

/// The tags of listed resources of one type, by resource, as the `tags[]` of their
/// responses: one query for the whole page.
pub async fn tags_of(
    ctx: &Ctx,
    kind: TagType,
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
