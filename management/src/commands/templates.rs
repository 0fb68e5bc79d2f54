//! Templates (registerTemplate, listTemplates, updateTemplate, deleteTemplate,
//! copyTemplate, listTemplatePermissions, updateTemplatePermissions), CloudStack's
//! commands and fields for KVM disk images (QCOW2 or RAW). Downloads run in the shared
//! image downloader (`crate::services::images`), which checks each file's header and
//! records its virtual size (`size`; the file's own size is `physicalsize`).
//!
//! Who sees what (`listTemplates templatefilter`, as CloudStack's `QueryManagerImpl` and
//! `ListTemplatesCmd.listInReadyState`): `featured` public and featured, Ready;
//! `community` public and not featured, Ready; `self` the caller's own, any state;
//! `selfexecutable` the caller's own, Ready; `sharedexecutable` shared with the caller
//! (`updateTemplatePermissions op=add`), Ready; `executable` public or the caller's own
//! (Ready only when an admin names an account, as CloudStack); `all` everything, root
//! admins only. A root admin's `listall=true` drops the "caller's own" restriction.
//!
//! Launch permissions name accounts of the owner's domain or, with `projectids`,
//! projects: a project stands for its own account (as CloudStack, which turns the ids
//! into the project accounts' names), and listTemplatePermissions answers those as
//! `projectids` rather than by account name.
//!
//! copyTemplate downloads the template again from its URL into the destination zone's
//! image store, through the same pipeline (download policy, streaming, header check),
//! expecting the digest the source zone's copy was computed to have: the copy is
//! byte-identical or fails. Reading the source store over NFS would need a second kind
//! of source in the pipeline for no gain while the URL answers; a template whose URL is
//! gone cannot be copied (its status says why).

use super::requests;
use crate::ids::{ParamIds, TemplateId};
use std::collections::BTreeMap;

use chrono::Utc;
use stratus_api::envelope::Reply;
use stratus_api::types::{IsoDownloadDetail, TemplateResponse};
use stratus_api::{ApiError, ErrorCode, Params};
use uuid::Uuid;

use super::{event, list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::tags::TagType;
use crate::db::templates::{self as d, TemplateFilter, TemplateListRow, TemplateRow};
use crate::db::{self, topology as t};
use crate::error::Result;
use crate::rules::download_policy::Policy;
use crate::rules::states::CopyState;
use crate::services::auth::Caller;
use crate::services::downloads::{Checksum, ImageFormat};
use crate::settings::{self, Scope};

/// At most this many `details[i].key=value` entries.
pub const MAX_DETAILS: usize = 64;

fn response(r: &TemplateListRow) -> TemplateResponse {
    let t = &r.template;
    let ready = r.state == CopyState::Ready;
    let status = crate::services::images::status_text(
        r.state,
        r.bytes_done,
        r.bytes_total,
        r.error_text.as_deref(),
        r.has_store,
    );
    TemplateResponse {
        domainpath: r.domain_path.clone(),
        projectid: r.project_id,
        project: r.project_name.clone(),
        hasannotations: Some(false),
        id: Some(t.id.into_uuid()),
        name: Some(t.name.clone()),
        displaytext: Some(t.display_text.clone()),
        ispublic: Some(t.is_public),
        created: Some(t.created.into()),
        removed: t.removed.map(Into::into),
        isready: Some(ready),
        passwordenabled: Some(t.password_enabled),
        format: Some(t.format.clone()),
        isfeatured: Some(t.is_featured),
        crossZones: Some(t.cross_zones),
        ostypeid: Some(t.os_type_id.into_uuid()),
        ostypename: Some(r.os_type_name.clone()),
        accountid: Some(t.account_id.into_uuid()),
        account: Some(r.account_name.clone()),
        zoneid: Some(r.zone_id.into_uuid()),
        zonename: Some(r.zone_name.clone()),
        status: Some(status),
        // CloudStack's `size` is the disk's (virtual) size; until the header is read,
        // what the server announced.
        size: r.virtual_size.or(r.bytes_total),
        physicalsize: r.size,
        templatetype: Some(t.template_type.clone()),
        hypervisor: Some(t.hypervisor.clone()),
        domain: Some(r.domain_name.clone()),
        domainid: Some(t.domain_id.into_uuid()),
        isextractable: Some(t.is_extractable),
        checksum: t.checksum.clone().or_else(|| r.zone_checksum.clone()),
        details: Some(t.details.clone()),
        bits: Some(t.bits),
        sshkeyenabled: Some(t.sshkey_enabled),
        isdynamicallyscalable: Some(t.is_dynamically_scalable),
        directdownload: Some(false),
        deployasis: Some(false),
        requireshvm: Some(t.requires_hvm),
        url: t.url.clone(),
        downloaddetails: vec![IsoDownloadDetail {
            datastore: r.store_name.clone(),
            downloadPercent: Some(match (ready, r.bytes_total) {
                (true, _) => "100".into(),
                (false, Some(total)) if total > 0 => {
                    ((r.bytes_done.max(0) as i128 * 100 / total as i128).min(100)).to_string()
                }
                _ => "0".into(),
            }),
            downloadState: Some(r.state.download_state().into()),
        }],
        tags: vec![],
    }
}

/// A template's rows (one per zone), whoever owns it; only `zone` if given.
async fn one_template(ctx: &Ctx, id: Uuid, zone: Option<Uuid>) -> Result<Vec<TemplateResponse>> {
    let f = TemplateFilter {
        common: db::ListFilter {
            id: Some(id),
            ..Default::default()
        },
        zone_id: zone.map(Into::into),
        ..Default::default()
    };
    let (rows, _) = d::template_list(&ctx.pool, &f).await?;
    answers(ctx, &rows).await
}

/// The answers for a page of template rows, with their tags (one query; a template in
/// several zones has a row, and the same tags, in each).
async fn answers(ctx: &Ctx, rows: &[TemplateListRow]) -> Result<Vec<TemplateResponse>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.template.id.into_uuid()).collect();
    let tags = super::tags::tags_of(ctx, TagType::Template, &ids).await?;
    Ok(rows
        .iter()
        .map(|r| TemplateResponse {
            tags: tags
                .get(&r.template.id.into_uuid())
                .cloned()
                .unwrap_or_default(),
            ..response(r)
        })
        .collect())
}

fn validate_url(url: &str) -> Result<url::Url> {
    let u = url::Url::parse(url.trim()).map_err(|e| {
        ApiError::param(format!(
            "Invalid URL '{}': {e}",
            stratus_api::params::shown(url)
        ))
    })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(ApiError::param(format!(
            "Invalid URL '{}': templates are downloaded over http or https",
            stratus_api::params::shown(url)
        ))
        .into());
    }
    Ok(u)
}

/// `details[i].name=value` (or `details[i].key=…&details[i].value=…`) as a JSON object
/// of strings; `None` when none is given. Bounded: [`MAX_DETAILS`] entries, names of
/// letters, digits, `.`, `_` and `-`.
fn details(p: &Params) -> Result<Option<serde_json::Value>> {
    // Read through the raw pairs below; recorded as read for the no-silent-drops check.
    p.mark_read("details");
    let mut entries: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (k, v) in p.iter() {
        let Some(rest) = k.strip_prefix("details[") else {
            continue;
        };
        let Some((index, field)) = rest.split_once("].") else {
            return Err(ApiError::param(format!(
                "Invalid details parameter '{}': use details[0].name=value",
                stratus_api::params::shown(k)
            ))
            .into());
        };
        entries
            .entry(index.to_string())
            .or_default()
            .insert(field.to_string(), v.clone());
        if entries.len() > MAX_DETAILS {
            return Err(ApiError::param(format!("Too many details: at most {MAX_DETAILS}")).into());
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let mut out = serde_json::Map::new();
    for (_, mut fields) in entries {
        let pairs: Vec<(String, String)> = match (fields.remove("key"), fields.remove("value")) {
            (Some(k), Some(v)) if fields.is_empty() => vec![(k, v)],
            (k, v) => {
                // Not a key/value pair: every field is a name=value.
                if let Some(k) = k {
                    fields.insert("key".into(), k);
                }
                if let Some(v) = v {
                    fields.insert("value".into(), v);
                }
                fields.into_iter().collect()
            }
        };
        for (name, value) in pairs {
            let good = !name.is_empty()
                && name.len() <= 255
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !good {
                return Err(ApiError::param(format!(
                    "Invalid detail name '{}': letters, digits, '.', '_' and '-' only",
                    stratus_api::params::shown(&name)
                ))
                .into());
            }
            out.insert(name, serde_json::Value::String(value));
            if out.len() > MAX_DETAILS {
                return Err(
                    ApiError::param(format!("Too many details: at most {MAX_DETAILS}")).into(),
                );
            }
        }
    }
    Ok(Some(serde_json::Value::Object(out)))
}

/// The zones a registration names: `zoneid` or `zoneids`, `-1` for every zone with
/// secondary storage. `(zones, cross_zones)`.
async fn registration_zones(ctx: &Ctx, p: &Params) -> Result<(Vec<Uuid>, bool)> {
    let single = p.str("zoneid").map(str::trim).filter(|z| !z.is_empty());
    let list: Option<Vec<&str>> = p.str("zoneids").map(|l| {
        l.split(',')
            .map(str::trim)
            .filter(|z| !z.is_empty())
            .collect()
    });
    let wanted: Vec<&str> = match (single, list) {
        (Some(_), Some(_)) => {
            return Err(ApiError::param(
                "Both zoneid and zoneids cannot be specified at the same time",
            )
            .into())
        }
        (None, None) => {
            return Err(ApiError::param(
                "Either zoneid or zoneids is required. Both cannot be null.",
            )
            .into())
        }
        (Some(z), None) => vec![z],
        (None, Some(l)) if l.is_empty() => {
            return Err(ApiError::param(
                "Either zoneid or zoneids is required. Both cannot be null.",
            )
            .into())
        }
        (None, Some(l)) => l,
    };
    if wanted.contains(&"-1") {
        if wanted.len() > 1 {
            return Err(ApiError::param(
                "Parameter zoneids cannot combine all zones (-1) option with other zones",
            )
            .into());
        }
        let mut zones = vec![];
        for z in t::zone_list(&ctx.pool, &Default::default()).await?.0 {
            let id: Uuid = z.id.into();
            if db::storage::store_pick_for_zone(&ctx.pool, id.into())
                .await?
                .is_some()
            {
                zones.push(id);
            }
        }
        if zones.is_empty() {
            return Err(ApiError::param(
                "No zone has secondary storage to hold the template (addImageStore)",
            )
            .into());
        }
        return Ok((zones, true));
    }
    let mut zones = vec![];
    for z in wanted {
        let name = if single.is_some() {
            "zoneid"
        } else {
            "zoneids"
        };
        let id = Uuid::parse_str(z)
            .map_err(|_| stratus_api::params::invalid_param(p.command(), name, z))?;
        t::zone_fetch(&ctx.pool, id.into())
            .await?
            .ok_or_else(|| stratus_api::params::invalid_param(p.command(), name, z))?;
        if !zones.contains(&id) {
            zones.push(id);
        }
    }
    Ok((zones, false))
}

/// Whether the account may make its templates public (`allow.public.user.templates`).
pub(super) fn may_publish(ctx: &Ctx, caller: &Caller, owner: Uuid) -> bool {
    caller.is_root_admin()
        || ctx.get_in(
            &settings::ALLOW_PUBLIC_USER_TEMPLATES,
            Scope::Account(owner.into()),
        )
}

/// The account an admin names with `account` and `domainid`, else the caller's.
async fn owner_of(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<(Uuid, Uuid)> {
    // With `projectid`, the project owns it (the caller must be a member).
    if let Some(project) = super::projects::owner_for_create(ctx, caller, p).await? {
        p.mark_read("account");
        p.mark_read("domainid");
        return Ok((
            project.account_id.into_uuid(),
            project.domain_id.into_uuid(),
        ));
    }
    match (p.str("account"), p.uuid("domainid")?) {
        (None, None) => Ok((
            caller.user.account_id.into_uuid(),
            caller.user.domain_id.into_uuid(),
        )),
        (Some(name), Some(domain)) => {
            let a = db::accounts::account_fetch_by_name(&ctx.pool, domain.into(), name)
                .await?
                .ok_or_else(|| {
                    ApiError::param(format!(
                        "Unable to find account {} in domain {domain}",
                        stratus_api::params::shown(name)
                    ))
                })?;
            if a.id != caller.user.account_id && !caller.is_root_admin() {
                return Err(ApiError::new(
                    ErrorCode::Account,
                    format!(
                        "Account {} cannot act for account {}",
                        caller.user.account_name, a.name
                    ),
                )
                .into());
            }
            Ok((a.id.into_uuid(), a.domain_id.into_uuid()))
        }
        _ => Err(ApiError::param("The account parameter must be used with domainid").into()),
    }
}

/// `bits`: 32 or 64 (the default).
fn bits(p: &Params) -> Result<i32> {
    match p.i64("bits")? {
        None => Ok(64),
        Some(b @ (32 | 64)) => Ok(b as i32),
        Some(b) => Err(ApiError::param(format!("Invalid bits {b}: 32 or 64")).into()),
    }
}

pub async fn register(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::RegisterTemplate<'_>,
) -> Result<Reply> {
    let name = r.name().trim().to_string();
    if name.is_empty() {
        return Err(ApiError::param("The template name must not be empty").into());
    }
    let format_text = r.format();
    let format = ImageFormat::template_format(format_text).ok_or_else(|| {
        ApiError::param(format!(
            "Image format {} is not supported: KVM templates are QCOW2 or RAW",
            stratus_api::params::shown(format_text)
        ))
    })?;
    let hypervisor = r.hypervisor();
    if !hypervisor.trim().eq_ignore_ascii_case("KVM") {
        return Err(ApiError::param(format!(
            "Hypervisor {} is not supported: templates here are for KVM",
            stratus_api::params::shown(hypervisor)
        ))
        .into());
    }
    let url = validate_url(r.url())?;
    let checksum = match r.checksum().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => {
            Checksum::parse(c).map_err(|e| ApiError::param(format!("Invalid checksum: {e}")))?;
            Some(c.to_string())
        }
        None => None,
    };
    if r.directdownload() == Some(true) {
        return Err(ApiError::param(
            "Direct download is not supported: templates are downloaded to secondary storage",
        )
        .into());
    }
    let Some(os_type_id) = r.ostypeid() else {
        return Err(ApiError::param("Please provide a guest OS type").into());
    };
    db::isos::os_type_fetch(&ctx.pool, os_type_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "ostypeid"))?;
    let bits = bits(r.wire())?;
    let details = details(r.wire())?.unwrap_or_else(|| serde_json::json!({}));
    let (zones, cross_zones) = registration_zones(ctx, r.wire()).await?;
    let (account_id, domain_id) = owner_of(ctx, caller, r.wire()).await?;
    let featured = r.isfeatured().unwrap_or(false);
    if featured && !caller.is_root_admin() {
        return Err(ApiError::param("Only administrators can register featured templates").into());
    }
    let public = r.ispublic().unwrap_or(false);
    if public && !may_publish(ctx, caller, account_id) {
        return Err(ApiError::param("Only private templates can be created.").into());
    }
    // Last, after the checks that need no network: where the URL points now must be a
    // place downloads may go (the downloader checks again on every connection).
    let policy = Policy::from_setting(
        Some(
            ctx.get(&settings::SECSTORAGE_ALLOWED_INTERNAL_SITES)
                .as_str(),
        ),
        caller.is_root_admin(),
    );
    crate::services::downloads::guard::check_registration(policy, &url)
        .await
        .map_err(ApiError::param)?;
    let template = TemplateRow {
        id: TemplateId::new_v4(),
        display_text: r
            .displaytext()
            .map(str::to_string)
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| name.clone()),
        name,
        url: Some(url.to_string()),
        format: format.name().into(),
        hypervisor: "KVM".into(),
        os_type_id,
        checksum,
        is_public: public,
        is_featured: featured,
        is_extractable: r.isextractable().unwrap_or(false),
        password_enabled: r.passwordenabled().unwrap_or(false),
        sshkey_enabled: r.sshkeyenabled().unwrap_or(false),
        requires_hvm: r.requireshvm().unwrap_or(true),
        is_dynamically_scalable: r.isdynamicallyscalable().unwrap_or(false),
        bits,
        template_type: "USER".into(),
        details,
        cross_zones,
        account_id: account_id.into(),
        domain_id: domain_id.into(),
        created: Utc::now(),
        removed: None,
        source_volume_id: None,
    };
    let mut tx = ctx.pool.begin().await?;
    crate::services::limits::admit(
        ctx,
        &mut tx,
        template.account_id,
        &[(crate::rules::limits::ResourceKind::Template, 1)],
    )
    .await?;
    d::template_insert(&mut *tx, &template).await?;
    for z in &zones {
        d::template_zone_insert(&mut *tx, template.id, (*z).into(), None).await?;
    }
    event(
        &mut tx,
        &caller.user,
        "TEMPLATE.CREATE",
        format!(
            "Registering template {} from {}",
            template.name,
            crate::services::downloads::shown(&url)
        ),
        Some(EventResource::new(
            ResourceType::Template,
            template.id,
            template.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    ctx.isos.notify_one();
    let items = one_template(ctx, template.id.into_uuid(), None).await?;
    Ok(Reply::object_list("template", &items))
}

/// createTemplate (async): a stopped VM's root volume becomes a new private template
/// (`services::templates::Create` does the work on the engine).
pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateTemplate<'_>,
    job: Option<Uuid>,
) -> Result<Reply> {
    let name = r.name().trim().to_string();
    if name.is_empty() {
        return Err(ApiError::param("The template name must not be empty").into());
    }
    let os_type_id = r.ostypeid();
    db::isos::os_type_fetch(&ctx.pool, os_type_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "ostypeid"))?;
    // From a snapshot (issue 16): its file in secondary storage is the source, in its
    // zone; no VM need be stopped (the snapshot is a copy already).
    let snapshot = match r.snapshotid() {
        Some(_) => Some(super::snapshots::owned(ctx, caller, r.wire(), "snapshotid").await?),
        None => None,
    };
    let (vm_id, volume_id, zone_id, source_template) = if let Some(s) = &snapshot {
        if s.state != crate::rules::snapshots::SnapshotState::BackedUp {
            return Err(ApiError::param(format!(
                "Snapshot {} is {}: a template is made from a BackedUp snapshot only",
                s.name, s.state
            ))
            .into());
        }
        if r.volumeid().is_some() || r.virtualmachineid().is_some() {
            return Err(ApiError::param(
                "Give either snapshotid or volumeid (or virtualmachineid), not both",
            )
            .into());
        }
        if r.zoneid().is_some_and(|z| z != s.zone_id) {
            return Err(ApiError::param(
                "The template is created in the snapshot's zone: zoneid must be that zone",
            )
            .into());
        }
        let volume = db::volumes::volume_fetch(&ctx.pool, s.volume_id)
            .await?
            .ok_or_else(|| not_found(r.wire(), "snapshotid"))?;
        let vm_id = volume.vm_id.unwrap_or_default();
        (
            vm_id,
            volume.id,
            s.zone_id,
            volume.template_id.map(Into::into),
        )
    } else {
        // The volume: given, or the root volume of the VM given.
        let volume = match (r.volumeid(), r.virtualmachineid()) {
            (Some(v), _) => db::volumes::volume_fetch(&ctx.pool, v)
                .await?
                .filter(|v| v.removed.is_none())
                .ok_or_else(|| not_found(r.wire(), "volumeid"))?,
            (None, Some(vm)) => db::volumes::volume_root_of_vm(&ctx.pool, vm)
                .await?
                .ok_or_else(|| not_found(r.wire(), "virtualmachineid"))?,
            (None, None) => {
                return Err(ApiError::param(
                    "Failed to create private template record, need to specify the volume ID (volumeid) or the VM whose root volume it is (virtualmachineid)",
                )
                .into())
            }
        };
        let missing = || {
            if r.volumeid().is_some() {
                not_found(r.wire(), "volumeid")
            } else {
                not_found(r.wire(), "virtualmachineid")
            }
        };
        let Some(vm_id) = volume.vm_id else {
            return Err(ApiError::param(format!(
                "Volume {} is not attached to a VM: a template is made from a stopped VM's root volume",
                volume.name
            ))
            .into());
        };
        let vm = db::vms::vm_fetch(&ctx.pool, vm_id)
            .await?
            .filter(|v| v.removed.is_none())
            .ok_or_else(missing)?;
        // The caller's own VM, or one of a project it belongs to (root admins: any).
        if !super::projects::may_use(ctx, caller, vm.account_id.into_uuid()).await? {
            return Err(missing());
        }
        if let Some(given) = r.virtualmachineid() {
            if given != vm.id {
                return Err(ApiError::param(format!(
                    "Volume {} does not belong to VM {given}",
                    volume.name
                ))
                .into());
            }
        }
        if volume.volume_type != "ROOT" {
            return Err(
                ApiError::param(format!("Volume {} is not a root volume", volume.name)).into(),
            );
        }
        if let Some(z) = r.zoneid() {
            if z != vm.zone_id {
                return Err(ApiError::param(
                    "The template is created in the volume's zone: zoneid must be that zone",
                )
                .into());
            }
        }
        (vm.id, volume.id, vm.zone_id, vm.template_id)
    };
    let (owner, owner_domain) =
        match super::projects::owner_for_create(ctx, caller, r.wire()).await? {
            Some(project) => (project.account_id, project.domain_id),
            None => (caller.account_id(), caller.user.domain_id),
        };
    let featured = r.isfeatured().unwrap_or(false);
    if featured && !caller.is_root_admin() {
        return Err(ApiError::param("Only administrators can create featured templates").into());
    }
    let public = r.ispublic().unwrap_or(false);
    if public && !may_publish(ctx, caller, owner.into_uuid()) {
        return Err(ApiError::param("Only private templates can be created.").into());
    }
    // Defaults follow the template the VM came from, where there is one.
    let source = match source_template {
        Some(t) => d::template_fetch_any(&ctx.pool, t).await?,
        None => None,
    };
    let inherit = |param: &str, from: fn(&TemplateRow) -> bool, default: bool| {
        r.wire()
            .bool(param)
            .or(source.as_ref().map(from))
            .unwrap_or(default)
    };
    let c = crate::services::templates::Create {
        vm: vm_id,
        volume: volume_id,
        zone_id,
        snapshot: snapshot.as_ref().map(|s| s.id),
        template: crate::services::templates::NewTemplate {
            id: TemplateId::new_v4(),
            display_text: r
                .displaytext()
                .map(str::to_string)
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| name.clone()),
            name,
            os_type_id,
            is_public: public,
            is_featured: featured,
            password_enabled: inherit("passwordenabled", |t| t.password_enabled, false),
            sshkey_enabled: inherit("sshkeyenabled", |t| t.sshkey_enabled, false),
            requires_hvm: inherit("requireshvm", |t| t.requires_hvm, true),
            is_dynamically_scalable: r.isdynamicallyscalable().unwrap_or(false),
            bits: bits(r.wire())?,
            details: details(r.wire())?.unwrap_or_else(|| serde_json::json!({})),
            account_id: owner,
            domain_id: owner_domain,
        },
    };
    let fresh = c.template.id;
    crate::services::templates::create(ctx, job.map(Into::into), c).await?;
    // A job re-run after a crash resumed the workflow recorded the first time: its
    // input names the template.
    let id = match job {
        Some(j) => db::workflows::workflow_fetch_by_job(&ctx.pool, j.into())
            .await?
            .and_then(|w| {
                serde_json::from_value::<crate::services::templates::Create>(w.input).ok()
            })
            .map_or(fresh, |c| c.template.id),
        None => fresh,
    };
    let items = one_template(ctx, id.into(), None).await?;
    let item = items
        .into_iter()
        .next()
        .ok_or_else(|| crate::error::Error::internal("the new template vanished"))?;
    Ok(Reply::object("template", &item))
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListTemplates<'_>) -> Result<Reply> {
    let admin = caller.is_root_admin();
    let filter = r.templatefilter().trim().to_ascii_lowercase();
    let named_account = admin && r.account().is_some();
    let project = match super::projects::list_owners(ctx, caller, r.wire()).await? {
        Some(_) if r.projectid() == Some("-1") => {
            return Err(ApiError::param(
                "listTemplates takes one project's id: projectid=-1 is not supported by Stratus yet",
            )
            .into());
        }
        Some(owners) => owners.first().copied(),
        None => None,
    };
    // The account the filter is about: a project's (`projectid`), the caller's, one an
    // admin names, or (an admin's listall) none.
    let scope: Option<Uuid> = if let Some(project) = project {
        r.wire().mark_read("account");
        r.wire().mark_read("domainid");
        r.wire().mark_read("listall");
        Some(project)
    } else if named_account {
        Some(owner_of(ctx, caller, r.wire()).await?.0)
    } else if admin && r.listall() == Some(true) {
        None
    } else {
        // A tenant's `listall` changes nothing: what it may see is its own and what the
        // filter adds (public, shared), listall or not.
        r.wire().mark_read("listall");
        Some(caller.user.account_id.into_uuid())
    };
    let mut f = TemplateFilter {
        common: list_filter(ctx, r.wire())?,
        zone_id: r.zoneid(),
        hypervisor: r.hypervisor().map(str::to_string),
        tags: super::tags::wanted(r.wire())?,
        ..Default::default()
    };
    match filter.as_str() {
        "featured" => {
            f.public = Some(true);
            f.featured = Some(true);
            f.ready = Some(true);
        }
        "community" => {
            f.public = Some(true);
            f.featured = Some(false);
            f.ready = Some(true);
        }
        "self" => f.owner = scope,
        "selfexecutable" => {
            f.owner = scope;
            f.ready = Some(true);
        }
        "sharedexecutable" | "shared" => {
            let Some(account) = scope else {
                return Ok(Reply::list("template", 0, Vec::<TemplateResponse>::new()));
            };
            f.shared_with = Some(account);
            if filter == "sharedexecutable" {
                f.ready = Some(true);
            }
        }
        "executable" => {
            f.public_or_owner = scope;
            if named_account {
                f.ready = Some(true);
            }
        }
        "all" if !admin => {
            return Err(ApiError::param("Filter all can be specified by admin only").into());
        }
        "all" => {}
        _ => {
            return Err(ApiError::param(format!(
                "Invalid templatefilter '{}': use featured, self, selfexecutable, sharedexecutable, executable, community or all",
                stratus_api::params::shown(&filter)
            ))
            .into())
        }
    }
    if let Some(id) = f.common.id {
        // An id is looked up whatever the filter says (its readiness condition aside),
        // if the caller may see it.
        let known = d::template_fetch(&ctx.pool, id.into())
            .await?
            .ok_or_else(|| ApiError::param("Please specify a valid template ID."))?;
        // (With `projectid`, as the project sees it.)
        let viewer = project.unwrap_or(caller.user.account_id.into_uuid());
        if !admin
            && !db::images::visible_to(&ctx.pool, db::images::Kind::Template, id, viewer.into())
                .await?
        {
            return Err(ApiError::new(
                ErrorCode::Account,
                format!(
                    "Account {} does not have permission to access template {}",
                    caller.user.account_name, known.name
                ),
            )
            .into());
        }
        f.owner = None;
        f.shared_with = None;
        f.public_or_owner = None;
        f.public = None;
        f.featured = None;
    }
    let (rows, total) = d::template_list(&ctx.pool, &f).await?;
    let items = answers(ctx, &rows).await?;
    Ok(Reply::list("template", total, items))
}

/// The template, if the caller owns it (or a project it is a member of does, or it is an
/// administrator).
async fn owned(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<TemplateRow> {
    let template = d::template_fetch(&ctx.pool, p.required_id("id")?)
        .await?
        .ok_or_else(|| not_found(p, "id"))?;
    if !super::projects::may_use(ctx, caller, template.account_id.into_uuid()).await? {
        return Err(ApiError::new(
            ErrorCode::Account,
            format!(
                "Account {} does not own template {}",
                caller.user.account_name, template.name
            ),
        )
        .into());
    }
    Ok(template)
}

pub async fn update(ctx: &Ctx, caller: &Caller, r: &requests::UpdateTemplate<'_>) -> Result<Reply> {
    let mut template = owned(ctx, caller, r.wire()).await?;
    if let Some(n) = r.name().map(str::to_string) {
        if n.trim().is_empty() {
            return Err(ApiError::param("The template name must not be empty").into());
        }
        template.name = n.trim().to_string();
    }
    if let Some(dt) = r.displaytext().map(str::to_string) {
        template.display_text = dt;
    }
    if let Some(os) = r.ostypeid() {
        db::isos::os_type_fetch(&ctx.pool, os)
            .await?
            .ok_or_else(|| not_found(r.wire(), "ostypeid"))?;
        template.os_type_id = os;
    }
    if let Some(fmt) = r.format() {
        if ImageFormat::template_format(fmt).map(ImageFormat::name)
            != Some(template.format.as_str())
        {
            return Err(ApiError::param(format!(
                "The format of template {} is {}; a downloaded image's format cannot be changed",
                template.name, template.format
            ))
            .into());
        }
    }
    if let Some(v) = r.passwordenabled() {
        template.password_enabled = v;
    }
    if let Some(v) = r.sshkeyenabled() {
        template.sshkey_enabled = v;
    }
    if let Some(v) = r.requireshvm() {
        template.requires_hvm = v;
    }
    if let Some(v) = r.isdynamicallyscalable() {
        template.is_dynamically_scalable = v;
    }
    if r.cleanupdetails() == Some(true) {
        template.details = serde_json::json!({});
    } else if let Some(details) = details(r.wire())? {
        template.details = details;
    }
    let mut tx = ctx.pool.begin().await?;
    d::template_update(&mut *tx, &template).await?;
    event(
        &mut tx,
        &caller.user,
        "TEMPLATE.UPDATE",
        format!("Updating template {}", template.name),
        Some(EventResource::new(
            ResourceType::Template,
            template.id,
            template.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let items = one_template(ctx, template.id.into_uuid(), None).await?;
    let first = items
        .into_iter()
        .next()
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    Ok(Reply::object("template", &first))
}

/// Async (a job): stops downloads and removes the files of every copy (or the one in
/// `zoneid`) from secondary storage; the template is soft-deleted when no copy is left.
/// VMs deployed from it keep their volumes (on primary storage) and still name it.
pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteTemplate<'_>) -> Result<Reply> {
    let template = owned(ctx, caller, r.wire()).await?;
    let copies = d::template_zone_list(&ctx.pool, template.id).await?;
    let zone = r.zoneid();
    if let Some(z) = zone {
        if !copies.iter().any(|c| c.zone_id == z) {
            return Err(ApiError::param(format!(
                "Template {} is not registered in that zone",
                template.name
            ))
            .into());
        }
    }
    for c in copies
        .iter()
        .filter(|c| zone.is_none_or(|z| z == c.zone_id))
    {
        crate::services::templates::remove_copy(ctx, template.id, c.zone_id).await?;
    }
    let mut tx = ctx.pool.begin().await?;
    let gone = d::template_remove_if_unused(&mut *tx, template.id).await?;
    event(
        &mut tx,
        &caller.user,
        "TEMPLATE.DELETE",
        if gone {
            format!("Deleted template {}", template.name)
        } else {
            format!("Deleted template {} from one zone", template.name)
        },
        Some(EventResource::new(
            ResourceType::Template,
            template.id,
            template.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

/// Async (a job): queues copies into the destination zones (see the module's
/// documentation for how a copy is made) and answers the first destination's row.
pub async fn copy(ctx: &Ctx, caller: &Caller, r: &requests::CopyTemplate<'_>) -> Result<Reply> {
    let template = owned(ctx, caller, r.wire()).await?;
    if template.url.is_none() {
        // A copy is downloaded again from the template's URL; one made from a volume has
        // none (a store-to-store copy is not built yet).
        return Err(ApiError::new(
            ErrorCode::UnsupportedAction,
            format!(
                "Template {} was created from a volume and cannot be copied to another zone yet",
                template.name
            ),
        )
        .into());
    }
    let dests: Vec<Uuid> = match (
        r.destzoneid(),
        r.destzoneids()
            .map(|l| l.iter().map(|z| z.into_uuid()).collect::<Vec<_>>()),
    ) {
        (Some(_), Some(l)) if !l.is_empty() => {
            return Err(ApiError::param(
                "Both destzoneid and destzoneids cannot be specified at the same time.",
            )
            .into())
        }
        (Some(z), _) => vec![z.into_uuid()],
        (None, Some(l)) if !l.is_empty() => l,
        _ => {
            return Err(ApiError::param(
                "Either destzoneid or destzoneids parameters have to be specified.",
            )
            .into())
        }
    };
    let copies = d::template_zone_list(&ctx.pool, template.id).await?;
    let source = match r.sourcezoneid() {
        Some(z) => copies.iter().find(|c| c.zone_id == z).ok_or_else(|| {
            ApiError::param(format!(
                "Template {} is not in the source zone",
                template.name
            ))
        })?,
        None => copies
            .iter()
            .find(|c| c.state == CopyState::Ready)
            .or(copies.first())
            .ok_or_else(|| ApiError::param(format!("Template {} is in no zone", template.name)))?,
    };
    if source.state != CopyState::Ready {
        return Err(ApiError::param(format!(
            "Template {} is not ready in the source zone: {}",
            template.name,
            crate::services::images::status_text(
                source.state,
                source.bytes_done,
                source.bytes_total,
                source.error_text.as_deref(),
                true
            )
        ))
        .into());
    }
    let expected = source.checksum.clone();
    for z in &dests {
        if *z == source.zone_id {
            return Err(
                ApiError::param("The source and destination zones of a copy must differ").into(),
            );
        }
        let zone = t::zone_fetch(&ctx.pool, (*z).into())
            .await?
            .ok_or_else(|| ApiError::param(format!("Unable to find zone {z}")))?;
        if db::storage::store_pick_for_zone(&ctx.pool, (*z).into())
            .await?
            .is_none()
        {
            return Err(ApiError::param(format!(
                "Zone {} has no secondary storage (addImageStore)",
                zone.name
            ))
            .into());
        }
    }
    let mut tx = ctx.pool.begin().await?;
    for z in &dests {
        if !d::template_zone_insert(&mut *tx, template.id, (*z).into(), expected.as_deref()).await?
        {
            // Already there: a failed copy is tried again; others are left as they are.
            d::template_zone_requeue(&mut *tx, template.id, (*z).into(), expected.as_deref())
                .await?;
        }
    }
    event(
        &mut tx,
        &caller.user,
        "TEMPLATE.COPY",
        format!(
            "Copying template {} to {} zone(s)",
            template.name,
            dests.len()
        ),
        Some(EventResource::new(
            ResourceType::Template,
            template.id,
            template.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    ctx.isos.notify_one();
    let first = one_template(ctx, template.id.into_uuid(), dests.first().copied())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    Ok(Reply::object("template", &first))
}

pub async fn list_permissions(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListTemplatePermissions<'_>,
) -> Result<Reply> {
    let template = d::template_fetch(&ctx.pool, r.id().into())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    super::sharing::answer(ctx, caller, &shared(&template)).await
}

/// The template as launch permissions see it.
fn shared(t: &TemplateRow) -> super::sharing::Shared {
    super::sharing::Shared {
        kind: db::images::Kind::Template,
        id: t.id.into_uuid(),
        name: t.name.clone(),
        account_id: t.account_id.into_uuid(),
        domain_id: t.domain_id.into_uuid(),
        is_public: t.is_public,
        is_featured: t.is_featured,
        is_extractable: t.is_extractable,
    }
}

pub async fn update_permissions(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateTemplatePermissions<'_>,
) -> Result<Reply> {
    let mut template = owned(ctx, caller, r.wire()).await?;
    let mut s = shared(&template);
    let change = super::sharing::change(ctx, caller, r.wire(), &mut s).await?;
    template.is_public = s.is_public;
    template.is_featured = s.is_featured;
    template.is_extractable = s.is_extractable;
    let mut tx = ctx.pool.begin().await?;
    change.apply(&mut tx, &s).await?;
    d::template_update(&mut *tx, &template).await?;
    event(
        &mut tx,
        &caller.user,
        "TEMPLATE.UPDATE",
        format!("Updating the permissions of template {}", template.name),
        Some(EventResource::new(
            ResourceType::Template,
            template.id,
            template.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}
