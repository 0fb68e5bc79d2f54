//! The ISO registry (registerIso, listIsos, updateIso, deleteIso) and the OS types.
//! Downloads themselves run in `crate::services::isos`.

use super::requests;
use crate::ids::{IsoId, ParamIds};
use chrono::Utc;
use stratus_api::envelope::Reply;
use stratus_api::types::{IsoDownloadDetail, IsoResponse, OsCategoryResponse, OsTypeResponse};
use stratus_api::{ApiError, Params};
use uuid::Uuid;

use super::{event, list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::isos::{self as d, IsoFilter, IsoListRow, IsoRow};
use crate::db::tags::TagType;
use crate::db::topology as t;
use crate::error::Result;
use crate::rules::download_policy::Policy;
use crate::rules::states::CopyState;
use crate::services::auth::Caller;
use crate::services::downloads::Checksum;
use crate::settings;

/// "Other (64-bit)": the OS type of an ISO registered without one.
pub const DEFAULT_OS_TYPE: Uuid = Uuid::from_u128(0x00000000_0000_4000_8002_000000000001);

fn response(r: &IsoListRow) -> IsoResponse {
    let i = &r.iso;
    let ready = r.state == CopyState::Ready;
    let status = crate::services::isos::status_text(
        r.state,
        r.bytes_done,
        r.bytes_total,
        r.error_text.as_deref(),
        r.has_store,
    );
    IsoResponse {
        domainpath: r.domain_path.clone(),
        projectid: r.project_id,
        project: r.project_name.clone(),
        // A template property CloudStack answers for ISOs too (they are templates of
        // format ISO there), with these values.
        passwordenabled: Some(false),
        templatetype: Some("USER".into()),
        sshkeyenabled: Some(false),
        isdynamicallyscalable: Some(false),
        hasannotations: Some(false),
        id: Some(i.id.into_uuid()),
        name: Some(i.name.clone()),
        displaytext: Some(i.display_text.clone()),
        ispublic: Some(i.is_public),
        created: Some(i.created.into()),
        isready: Some(ready),
        bootable: Some(i.bootable),
        isfeatured: Some(i.is_featured),
        crossZones: Some(i.cross_zones),
        ostypeid: Some(i.os_type_id.into_uuid()),
        ostypename: Some(r.os_type_name.clone()),
        account: Some(r.account_name.clone()),
        accountid: Some(i.account_id.into_uuid()),
        domain: Some(r.domain_name.clone()),
        domainid: Some(i.domain_id.into_uuid()),
        zoneid: Some(r.zone_id.into_uuid()),
        zonename: Some(r.zone_name.clone()),
        status: Some(status),
        size: r.size.or(r.bytes_total),
        physicalsize: r.size,
        checksum: i.checksum.clone().or_else(|| r.zone_checksum.clone()),
        isextractable: Some(i.is_extractable),
        format: Some("ISO".into()),
        url: Some(i.url.clone()),
        directdownload: Some(false),
        deployasis: Some(false),
        downloaddetails: vec![IsoDownloadDetail {
            datastore: r.store_name.clone(),
            downloadPercent: Some(match (ready, r.bytes_total) {
                (true, _) => "100".into(),
                (false, Some(t)) if t > 0 => {
                    ((r.bytes_done.max(0) as i128 * 100 / t as i128).min(100)).to_string()
                }
                _ => "0".into(),
            }),
            downloadState: Some(r.state.download_state().into()),
        }],
        tags: vec![],
    }
}

/// The answers for a page of ISO rows, with their tags (one query; an ISO in several
/// zones has a row, and the same tags, in each).
async fn list_rows(ctx: &Ctx, f: &IsoFilter) -> Result<(Vec<IsoResponse>, i64)> {
    let (rows, total) = d::iso_list(&ctx.pool, f).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.iso.id.into_uuid()).collect();
    let tags = super::tags::tags_of(ctx, TagType::Iso, &ids).await?;
    let items = rows
        .iter()
        .map(|r| IsoResponse {
            tags: tags.get(&r.iso.id.into_uuid()).cloned().unwrap_or_default(),
            ..response(r)
        })
        .collect();
    Ok((items, total))
}

/// An ISO's rows (one per zone), whoever owns it.
async fn one_iso(ctx: &Ctx, id: Uuid) -> Result<Vec<IsoResponse>> {
    let f = IsoFilter {
        common: crate::db::ListFilter {
            id: Some(id),
            ..Default::default()
        },
        ..Default::default()
    };
    Ok(list_rows(ctx, &f).await?.0)
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
            "Invalid URL '{}': ISOs are downloaded over http or https",
            stratus_api::params::shown(url)
        ))
        .into());
    }
    Ok(u)
}

pub async fn register(ctx: &Ctx, caller: &Caller, r: &requests::RegisterIso<'_>) -> Result<Reply> {
    let name = r.name().trim().to_string();
    if name.is_empty() {
        return Err(ApiError::param("The ISO name must not be empty").into());
    }
    // With `projectid`, the project owns the ISO (the caller must be a member).
    let project = super::projects::owner_for_create(ctx, caller, r.wire()).await?;
    let owner = project.as_ref();
    let url = validate_url(r.url())?;
    let checksum = match r.checksum().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => {
            Checksum::parse(c).map_err(|e| ApiError::param(format!("Invalid checksum: {e}")))?;
            Some(c.to_string())
        }
        None => None,
    };
    let zone_param = r.zoneid().trim();
    let zones: Vec<Uuid> = if zone_param == "-1" {
        t::zone_list(&ctx.pool, &Default::default())
            .await?
            .0
            .into_iter()
            .map(|z| z.id.into())
            .collect()
    } else {
        let id = Uuid::parse_str(zone_param).map_err(|_| not_found(r.wire(), "zoneid"))?;
        t::zone_fetch(&ctx.pool, id.into())
            .await?
            .ok_or_else(|| not_found(r.wire(), "zoneid"))?;
        vec![id]
    };
    let os_type_id = r.ostypeid().unwrap_or(DEFAULT_OS_TYPE.into());
    d::os_type_fetch(&ctx.pool, os_type_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "ostypeid"))?;
    let featured = r.isfeatured().unwrap_or(false);
    if featured && !caller.is_root_admin() {
        return Err(ApiError::param("Only administrators can register featured ISOs").into());
    }
    let public = r.ispublic().unwrap_or(false);
    let owner_account = owner.map_or(caller.account_id(), |p| p.account_id);
    if public && !super::templates::may_publish(ctx, caller, owner_account.into_uuid()) {
        return Err(ApiError::param("Only private ISOs can be created.").into());
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
    let iso = IsoRow {
        id: IsoId::new_v4(),
        display_text: r
            .displaytext()
            .map(str::to_string)
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| name.clone()),
        name,
        url: url.to_string(),
        bootable: r.bootable().unwrap_or(true),
        os_type_id,
        checksum,
        is_public: public,
        is_featured: featured,
        is_extractable: r.isextractable().unwrap_or(false),
        cross_zones: zone_param == "-1",
        account_id: owner.map_or(caller.user.account_id, |p| p.account_id),
        domain_id: owner.map_or(caller.user.domain_id, |p| p.domain_id),
        created: Utc::now(),
        removed: None,
    };
    let mut tx = ctx.pool.begin().await?;
    // ISOs count as templates, as in CloudStack.
    crate::services::limits::admit(
        ctx,
        &mut tx,
        iso.account_id,
        &[(crate::rules::limits::ResourceKind::Template, 1)],
    )
    .await?;
    d::iso_insert(&mut *tx, &iso).await?;
    for z in &zones {
        d::iso_zone_insert(&mut *tx, iso.id, (*z).into()).await?;
    }
    event(
        &mut tx,
        &caller.user,
        "ISO.CREATE",
        format!("Registering ISO {} from {}", iso.name, iso.url),
        Some(EventResource::new(
            ResourceType::Iso,
            iso.id,
            iso.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    ctx.isos.notify_one();
    let items = one_iso(ctx, iso.id.into_uuid()).await?;
    Ok(Reply::object_list("iso", &items))
}

pub async fn list(ctx: &Ctx, caller: &Caller, r: &requests::ListIsos<'_>) -> Result<Reply> {
    let admin = caller.is_root_admin();
    let mine = caller.user.account_id;
    let mut f = IsoFilter {
        common: list_filter(ctx, r.wire())?,
        zone_id: r.zoneid(),
        visible_to: (!admin).then_some(mine.into_uuid()),
        bootable: r.bootable(),
        public: r.ispublic(),
        tags: super::tags::wanted(r.wire())?,
        ..Default::default()
    };
    // CloudStack's rule (ListIsosCmd.listInReadyState): the executable filters show only
    // Ready ISOs; otherwise `isready=true` asks for only those, and `isready=false` (what
    // Ansible's cs_iso sends) or no `isready` for all, whatever their state.
    let asked_ready = r.isready() == Some(true);
    let account_specific = admin && r.account().is_some() && r.domainid().is_some();
    let filter = r.isofilter().unwrap_or("all").to_ascii_lowercase();
    let only_ready = matches!(
        filter.as_str(),
        "featured" | "selfexecutable" | "sharedexecutable" | "community"
    ) || (filter == "executable" && account_specific)
        || asked_ready;
    f.ready = only_ready.then_some(true);
    // ISOs are shown by visibility (isofilter, ispublic), whoever asks with listall; a
    // root admin's `account` narrows to that account's own.
    r.wire().mark_read("listall");
    if admin {
        f.only_account = super::named_account(ctx, caller, r.wire()).await?;
    } else {
        r.wire().mark_read("account");
        r.wire().mark_read("domainid");
    }
    // With `projectid`: the project's ISOs (and public ones), not the caller's own.
    let projects = super::projects::list_owners(ctx, caller, r.wire()).await?;
    if let Some(owners) = &projects {
        f.visible_to = None;
        f.only_account = None;
        f.visible_any = Some(owners.clone());
    }
    match filter.as_str() {
        "featured" => f.featured = Some(true),
        "self" | "selfexecutable" if projects.is_some() => f.only_any = projects,
        "self" | "selfexecutable" => f.only_account = Some(mine.into_uuid()),
        "community" => {
            f.public = Some(true);
            f.featured = Some(false);
        }
        "sharedexecutable" | "shared" => {
            f.shared_any = Some(projects.clone().unwrap_or_else(|| vec![mine.into_uuid()]));
        }
        "executable" | "all" => {}
        other => {
            return Err(ApiError::param(format!(
                "Invalid isofilter '{other}': use featured, self, selfexecutable, sharedexecutable, executable, community or all"
            ))
            .into())
        }
    }
    let (items, total) = list_rows(ctx, &f).await?;
    Ok(Reply::list("iso", total, items))
}

/// The ISO, if the caller owns it (or a project it is a member of does, or it is an
/// administrator).
async fn owned(ctx: &Ctx, caller: &Caller, p: &Params) -> Result<IsoRow> {
    let iso = d::iso_fetch(&ctx.pool, p.required_id("id")?)
        .await?
        .ok_or_else(|| not_found(p, "id"))?;
    if !super::projects::may_use(ctx, caller, iso.account_id.into_uuid()).await? {
        return Err(ApiError::new(
            stratus_api::ErrorCode::Account,
            format!(
                "Account {} does not own ISO {}",
                caller.user.account_name, iso.name
            ),
        )
        .into());
    }
    Ok(iso)
}

/// The ISO as launch permissions see it.
fn shared(i: &IsoRow) -> super::sharing::Shared {
    super::sharing::Shared {
        kind: crate::db::images::Kind::Iso,
        id: i.id.into_uuid(),
        name: i.name.clone(),
        account_id: i.account_id.into_uuid(),
        domain_id: i.domain_id.into_uuid(),
        is_public: i.is_public,
        is_featured: i.is_featured,
        is_extractable: i.is_extractable,
    }
}

pub async fn list_permissions(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::ListIsoPermissions<'_>,
) -> Result<Reply> {
    let iso = d::iso_fetch(&ctx.pool, r.id().into())
        .await?
        .filter(|i| i.removed.is_none())
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    super::sharing::answer(ctx, caller, &shared(&iso)).await
}

pub async fn update_permissions(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateIsoPermissions<'_>,
) -> Result<Reply> {
    let mut iso = owned(ctx, caller, r.wire()).await?;
    let mut s = shared(&iso);
    let change = super::sharing::change(ctx, caller, r.wire(), &mut s).await?;
    iso.is_public = s.is_public;
    iso.is_featured = s.is_featured;
    iso.is_extractable = s.is_extractable;
    let mut tx = ctx.pool.begin().await?;
    change.apply(&mut tx, &s).await?;
    d::iso_update(&mut *tx, &iso).await?;
    event(
        &mut tx,
        &caller.user,
        "ISO.UPDATE",
        format!("Updating the permissions of ISO {}", iso.name),
        Some(EventResource::new(
            ResourceType::Iso,
            iso.id,
            iso.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub async fn update(ctx: &Ctx, caller: &Caller, r: &requests::UpdateIso<'_>) -> Result<Reply> {
    let mut iso = owned(ctx, caller, r.wire()).await?;
    if let Some(n) = r.name().map(str::to_string) {
        if n.trim().is_empty() {
            return Err(ApiError::param("The ISO name must not be empty").into());
        }
        iso.name = n.trim().to_string();
    }
    if let Some(dt) = r.displaytext().map(str::to_string) {
        iso.display_text = dt;
    }
    if let Some(b) = r.bootable() {
        iso.bootable = b;
    }
    if let Some(os) = r.ostypeid() {
        d::os_type_fetch(&ctx.pool, os)
            .await?
            .ok_or_else(|| not_found(r.wire(), "ostypeid"))?;
        iso.os_type_id = os;
    }
    if let Some(f) = r.isfeatured() {
        if !caller.is_root_admin() {
            return Err(ApiError::param("Only administrators can feature ISOs").into());
        }
        iso.is_featured = f;
    }
    if let Some(v) = r.ispublic() {
        // The same rule as templates' (allow.public.user.templates).
        if v && !super::templates::may_publish(ctx, caller, iso.account_id.into_uuid()) {
            return Err(ApiError::param("Only private ISOs can be created.").into());
        }
        iso.is_public = v;
    }
    if let Some(v) = r.isextractable() {
        iso.is_extractable = v;
    }
    let mut tx = ctx.pool.begin().await?;
    d::iso_update(&mut *tx, &iso).await?;
    event(
        &mut tx,
        &caller.user,
        "ISO.UPDATE",
        format!("Updating ISO {}", iso.name),
        Some(EventResource::new(
            ResourceType::Iso,
            iso.id,
            iso.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let items = one_iso(ctx, iso.id.into_uuid()).await?;
    let first = items
        .into_iter()
        .next()
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    Ok(Reply::object("iso", &first))
}

/// Async (a job): stops downloads and removes the files of every copy (or the one in
/// `zoneid`); the ISO itself goes when no copy is left.
pub async fn delete(ctx: &Ctx, caller: &Caller, r: &requests::DeleteIso<'_>) -> Result<Reply> {
    let iso = owned(ctx, caller, r.wire()).await?;
    let copies = d::iso_zone_list(&ctx.pool, iso.id).await?;
    let zone = r.zoneid();
    if let Some(z) = zone {
        if !copies.iter().any(|c| c.zone_id == z) {
            return Err(ApiError::param(format!(
                "ISO {} is not registered in that zone",
                iso.name
            ))
            .into());
        }
    }
    for c in copies
        .iter()
        .filter(|c| zone.is_none_or(|z| z == c.zone_id))
    {
        crate::services::isos::remove_copy(ctx, iso.id, c.zone_id).await?;
    }
    let mut tx = ctx.pool.begin().await?;
    let gone = d::iso_remove_if_unused(&mut *tx, iso.id).await?;
    event(
        &mut tx,
        &caller.user,
        "ISO.DELETE",
        if gone {
            format!("Deleted ISO {}", iso.name)
        } else {
            format!("Deleted ISO {} from one zone", iso.name)
        },
        Some(EventResource::new(
            ResourceType::Iso,
            iso.id,
            iso.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub async fn list_os_types(ctx: &Ctx, r: &requests::ListOsTypes<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let (rows, total) = d::os_type_list(
        &ctx.pool,
        &f,
        r.oscategoryid().map(Into::into),
        r.description(),
    )
    .await?;
    let items: Vec<_> = rows
        .iter()
        .map(|r| OsTypeResponse {
            id: Some(r.id.into_uuid()),
            name: Some(r.description.clone()),
            description: Some(r.description.clone()),
            oscategoryid: Some(r.category_id),
            oscategoryname: Some(r.category_name.clone()),
            isuserdefined: Some(r.is_user_defined),
            fordisplay: Some(true),
        })
        .collect();
    Ok(Reply::list("ostype", total, items))
}

pub async fn list_os_categories(ctx: &Ctx, r: &requests::ListOsCategories<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let (rows, total) = d::os_category_list(&ctx.pool, &f).await?;
    let items: Vec<_> = rows
        .iter()
        .map(|r| OsCategoryResponse {
            isfeatured: Some(true),
            id: Some(r.id.into_uuid()),
            name: Some(r.name.clone()),
        })
        .collect();
    Ok(Reply::list("oscategory", total, items))
}
