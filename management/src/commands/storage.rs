//! Primary storage pools and image stores (secondary storage), both NFS.
//!
//! Every URL is checked when it is added: the management server mounts the export itself
//! (NFSv3, `crate::clients::nfs`) and reads its capacity, so an unreachable server or a path that
//! is not exported is refused at once with the reason, never discovered at deploy time.

use super::requests;
use std::time::Duration;

use chrono::Utc;
use stratus_api::envelope::Reply;
use stratus_api::types::{ImageStoreResponse, StoragePoolResponse, StorageTagResponse};
use stratus_api::{ApiError, ErrorCode, Params};

use super::{event, list_filter, not_found};
use crate::clients::nfs::{Capacity, NfsClient, NfsUrl};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::storage::{self as s, PoolFilter, PoolRow, StoreFilter, StoreRow};
use crate::db::topology as t;
use crate::error::Result;
use crate::ids::{ImageStoreId, StoragePoolId};
use crate::rules::poolstate::PoolState;
use crate::rules::tags as rules_tags;
use crate::services::auth::Caller;
use crate::settings::{self, Scope};

/// How long adding storage waits for the NFS server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses and mounts an NFS URL and reads its capacity; the error says what is wrong.
pub async fn probe(url: &str, what: &str) -> Result<(NfsUrl, Capacity)> {
    let parsed = NfsUrl::parse(url.trim())
        .map_err(|e| ApiError::param(format!("Invalid {what} URL: {e}")))?;
    let cap = NfsClient::capacity_of(&parsed, PROBE_TIMEOUT)
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorCode::ResourceUnavailable,
                format!("Failed to add {what}: {e}"),
            )
        })?;
    Ok((parsed, cap))
}

fn bytes(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub fn pool_response(ctx: &Ctx, p: &PoolRow) -> StoragePoolResponse {
    StoragePoolResponse {
        id: Some(p.id.into()),
        name: Some(p.name.clone()),
        zoneid: Some(p.zone_id.into()),
        zonename: Some(p.zone_name.clone()),
        podid: p.pod_id.map(Into::into),
        podname: p.pod_name.clone(),
        clusterid: p.cluster_id.map(Into::into),
        clustername: p.cluster_name.clone(),
        ipaddress: Some(p.server.clone()),
        path: Some(p.path.clone()),
        r#type: Some("NetworkFilesystem".into()),
        scope: Some(p.scope.clone()),
        state: Some(p.state.to_string()),
        hypervisor: Some("KVM".into()),
        provider: Some("DefaultPrimary".into()),
        tags: rules_tags::join(&p.tags),
        istagarule: Some(false),
        disksizetotal: Some(p.capacity_bytes),
        disksizeallocated: Some(p.allocated_bytes),
        disksizeused: Some(p.used_bytes),
        overprovisionfactor: Some(format!(
            "{:?}",
            ctx.get_in(
                &settings::STORAGE_OVERPROVISIONING_FACTOR,
                Scope::storage_pool(p.zone_id, p.id)
            )
        )),
        suitableformigration: Some(false),
        managed: Some(false),
        hasannotations: Some(false),
        created: Some(p.created.into()),
    }
}

/// The pool's storage tags when `tags` is given, even empty (which clears them on
/// update), checked against the bounds.
fn tags(p: &Params) -> Result<Option<Vec<String>>> {
    if !p.given("tags") {
        return Ok(None);
    }
    Ok(Some(rules_tags::parse(
        "tags",
        p.str("tags").unwrap_or(""),
    )?))
}

pub async fn create_pool(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateStoragePool<'_>,
) -> Result<Reply> {
    let name = r.name().trim().to_string();
    if name.is_empty() {
        return Err(ApiError::param("The storage pool name must not be empty").into());
    }
    if let Some(h) = r.hypervisor() {
        if !h.eq_ignore_ascii_case("KVM") {
            return Err(ApiError::param(format!(
                "Hypervisor {h} is not supported: Stratus runs KVM"
            ))
            .into());
        }
    }
    let zone_id = r.zoneid();
    let pool_tags = tags(r.wire())?.unwrap_or_default();
    let (pod_id, cluster_id) = (r.podid(), r.clusterid());
    let scope = match r.scope().map(str::to_ascii_uppercase).as_deref() {
        Some("ZONE") => "ZONE",
        Some("CLUSTER") => "CLUSTER",
        None if cluster_id.is_some() => "CLUSTER",
        None => "ZONE",
        Some(other) => {
            return Err(
                ApiError::param(format!("Invalid scope '{other}': use cluster or zone")).into(),
            )
        }
    };
    let zone = t::zone_fetch(&ctx.pool, zone_id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "zoneid"))?;
    let (pod_id, cluster_id) = if scope == "CLUSTER" {
        let (Some(pod_id), Some(cluster_id)) = (pod_id, cluster_id) else {
            return Err(ApiError::param(
                "Cluster-wide primary storage needs both podid and clusterid",
            )
            .into());
        };
        let c = t::cluster_fetch(&ctx.pool, cluster_id)
            .await?
            .ok_or_else(|| not_found(r.wire(), "clusterid"))?;
        if c.pod_id != pod_id || c.zone_id != zone.id {
            return Err(ApiError::param(format!(
                "Cluster {} does not belong to the given pod and zone",
                c.name
            ))
            .into());
        }
        (Some(pod_id), Some(cluster_id))
    } else {
        (None, None)
    };
    // The one primary storage provider (listStorageProviders type=primary).
    if let Some(pr) = r.provider() {
        if !pr.eq_ignore_ascii_case("DefaultPrimary") {
            return Err(ApiError::param(format!(
                "Storage provider {} is not supported; use DefaultPrimary",
                stratus_api::params::shown(pr)
            ))
            .into());
        }
    }
    let (url, cap) = probe(r.url(), "primary storage").await?;
    let pool = PoolRow {
        id: StoragePoolId::new_v4(),
        name,
        zone_id,
        pod_id,
        cluster_id,
        scope: scope.into(),
        url: url.to_string(),
        server: url.host().to_string(),
        path: url.path().to_string(),
        tags: pool_tags,
        state: PoolState::Up,
        capacity_bytes: match r.capacitybytes() {
            Some(c) if c > 0 => c,
            _ => bytes(cap.total),
        },
        used_bytes: bytes(cap.used),
        allocated_bytes: 0,
        stats_at: None,
        stats_error: None,
        created: Utc::now(),
        zone_name: String::new(),
        pod_name: None,
        cluster_name: None,
    };
    let mut tx = ctx.pool.begin().await?;
    s::pool_insert(&mut *tx, &pool).await?;
    event(
        &mut tx,
        &caller.user,
        "STORAGE.POOL.CREATE",
        format!("Adding primary storage {} ({})", pool.name, pool.url),
        Some(EventResource::new(
            ResourceType::StoragePool,
            pool.id,
            pool.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let pool = s::pool_fetch(&ctx.pool, pool.id)
        .await?
        .ok_or_else(|| crate::error::Error::internal("storage pool vanished"))?;
    Ok(Reply::object("storagepool", &pool_response(ctx, &pool)))
}

pub async fn list_pools(ctx: &Ctx, r: &requests::ListStoragePools<'_>) -> Result<Reply> {
    let state = match r.status() {
        // A state no pool can be in: none is (as CloudStack's filter finds none).
        Some(s) => match PoolState::parse(s) {
            Some(state) => Some(state),
            None => {
                list_filter(ctx, r.wire())?;
                ["zoneid", "podid", "clusterid", "ipaddress", "path", "scope"]
                    .iter()
                    .for_each(|n| r.wire().mark_read(n));
                return Ok(Reply::list(
                    "storagepool",
                    0,
                    Vec::<StoragePoolResponse>::new(),
                ));
            }
        },
        None => None,
    };
    let f = PoolFilter {
        common: list_filter(ctx, r.wire())?,
        zone_id: r.zoneid(),
        pod_id: r.podid(),
        cluster_id: r.clusterid(),
        server: r.ipaddress().map(str::to_string),
        path: r.path().map(str::to_string),
        scope: r.scope().map(str::to_string),
        state,
    };
    let (rows, total) = s::pool_list(&ctx.pool, &f).await?;
    let items: Vec<_> = rows.iter().map(|r| pool_response(ctx, r)).collect();
    Ok(Reply::list("storagepool", total, items))
}

/// Applies `change` to the locked pool, records the event, and answers the pool.
async fn change_pool(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    event_type: &str,
    change: impl FnOnce(&mut PoolRow) -> Result<String>,
) -> Result<Reply> {
    let id = p.required_uuid("id")?;
    let mut tx = ctx.pool.begin().await?;
    let mut pool = s::pool_fetch_for_update(&mut *tx, id.into())
        .await?
        .ok_or_else(|| not_found(p, "id"))?;
    let what = change(&mut pool)?;
    s::pool_update(&mut *tx, &pool).await?;
    event(
        &mut tx,
        &caller.user,
        event_type,
        format!("Primary storage {}: {what}", pool.name),
        Some(EventResource::new(
            ResourceType::StoragePool,
            pool.id,
            pool.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    let pool = s::pool_fetch(&ctx.pool, id.into())
        .await?
        .ok_or_else(|| not_found(p, "id"))?;
    Ok(Reply::object("storagepool", &pool_response(ctx, &pool)))
}

pub async fn update_pool(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateStoragePool<'_>,
) -> Result<Reply> {
    let name = r.name().map(str::to_string);
    let new_tags = tags(r.wire())?;
    let enabled = r.enabled();
    let capacity = r.capacitybytes();
    change_pool(ctx, caller, r.wire(), "STORAGE.POOL.UPDATE", |pool| {
        let mut changed = vec![];
        if let Some(n) = name {
            let n = n.trim();
            if n.is_empty() {
                return Err(ApiError::param("The storage pool name must not be empty").into());
            }
            pool.name = n.to_string();
            changed.push(format!("renamed to {n}"));
        }
        if let Some(t) = new_tags {
            changed.push(match rules_tags::join(&t) {
                Some(t) => format!("tags {t}"),
                None => "tags cleared".into(),
            });
            pool.tags = t;
        }
        if let Some(c) = capacity {
            if c <= 0 {
                return Err(ApiError::param("capacitybytes must be positive").into());
            }
            pool.capacity_bytes = c;
            changed.push(format!("capacity {c} bytes"));
        }
        if let Some(e) = enabled {
            pool.state = pool.state.enable(e)?;
            changed.push(if e { "enabled" } else { "disabled" }.into());
        }
        Ok(changed.join(", "))
    })
    .await
}

/// Nothing runs on primary storage yet (volumes come with instances), so maintenance is
/// reached at once.
pub async fn enable_maintenance(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::EnableStorageMaintenance<'_>,
) -> Result<Reply> {
    change_pool(ctx, caller, r.wire(), "MAINT.PREPARE.PS", |pool| {
        pool.state = pool.state.maintain()?;
        Ok("in maintenance".into())
    })
    .await
}

pub async fn cancel_maintenance(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CancelStorageMaintenance<'_>,
) -> Result<Reply> {
    change_pool(ctx, caller, r.wire(), "MAINT.CANCEL.PS", |pool| {
        pool.state = pool.state.cancel_maintenance()?;
        Ok("maintenance cancelled".into())
    })
    .await
}

pub async fn delete_pool(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteStoragePool<'_>,
) -> Result<Reply> {
    let id = r.id();
    let mut tx = ctx.pool.begin().await?;
    let pool = s::pool_fetch_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    let volumes = crate::db::volumes::volume_count_on_pool(&mut tx, id).await?;
    if volumes > 0 {
        return Err(ApiError::in_use(format!(
            "Cannot delete storage pool {}: {volumes} volume(s) still live on it; destroy or migrate them first",
            pool.name
        ))
        .into());
    }
    s::pool_delete(&mut *tx, id).await?;
    event(
        &mut tx,
        &caller.user,
        "STORAGE.POOL.DELETE",
        format!("Deleting primary storage {} ({})", pool.name, pool.url),
        Some(EventResource::new(
            ResourceType::StoragePool,
            pool.id,
            pool.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub fn store_response(st: &StoreRow) -> ImageStoreResponse {
    ImageStoreResponse {
        id: Some(st.id.into()),
        name: Some(st.name.clone()),
        zoneid: Some(st.zone_id.into()),
        zonename: Some(st.zone_name.clone()),
        url: Some(st.url.clone()),
        protocol: Some("nfs".into()),
        providername: Some(st.provider.clone()),
        scope: Some("ZONE".into()),
        readonly: Some(st.readonly),
        disksizetotal: Some(st.capacity_bytes),
        disksizeused: Some(st.used_bytes),
        hasannotations: Some(false),
    }
}

async fn add_store(
    ctx: &Ctx,
    caller: &Caller,
    p: &Params,
    name: Option<String>,
    object: &'static str,
) -> Result<Reply> {
    let url = p
        .str("url")
        .ok_or_else(|| stratus_api::params::missing_param(p.command(), "url"))?;
    let zone_id = p.uuid("zoneid")?.ok_or_else(|| {
        ApiError::param("NFS secondary storage belongs to a zone: zoneid is required")
    })?;
    let zone = t::zone_fetch(&ctx.pool, zone_id.into())
        .await?
        .ok_or_else(|| not_found(p, "zoneid"))?;
    let (url, cap) = probe(url, "secondary storage").await?;
    let store = StoreRow {
        id: ImageStoreId::new_v4(),
        name: name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| url.to_string()),
        zone_id: zone_id.into(),
        provider: "NFS".into(),
        url: url.to_string(),
        server: url.host().to_string(),
        path: url.path().to_string(),
        readonly: false,
        capacity_bytes: bytes(cap.total),
        used_bytes: bytes(cap.used),
        stats_at: None,
        stats_error: None,
        created: Utc::now(),
        zone_name: zone.name.clone(),
    };
    let mut tx = ctx.pool.begin().await?;
    s::store_insert(&mut *tx, &store).await?;
    event(
        &mut tx,
        &caller.user,
        "IMAGE.STORE.ADD",
        format!(
            "Adding secondary storage {} to zone {}",
            store.url, zone.name
        ),
        Some(EventResource::new(
            ResourceType::ImageStore,
            store.id,
            store.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    // ISOs registered for all zones get a copy in a zone that just got its store.
    crate::services::isos::queue_cross_zone(ctx, zone_id.into()).await?;
    Ok(Reply::object(object, &store_response(&store)))
}

pub async fn add_image_store(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::AddImageStore<'_>,
) -> Result<Reply> {
    let provider = r.provider();
    if !provider.eq_ignore_ascii_case("NFS") {
        return Err(ApiError::param(format!(
            "Image store provider {provider} is not supported; use NFS"
        ))
        .into());
    }
    add_store(
        ctx,
        caller,
        r.wire(),
        r.name().map(str::to_string),
        "imagestore",
    )
    .await
}

pub async fn add_secondary_storage(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::AddSecondaryStorage<'_>,
) -> Result<Reply> {
    add_store(ctx, caller, r.wire(), None, "secondarystorage").await
}

pub async fn list_image_stores(ctx: &Ctx, r: &requests::ListImageStores<'_>) -> Result<Reply> {
    if let Some(proto) = r.protocol() {
        if !proto.eq_ignore_ascii_case("nfs") {
            return Ok(Reply::list(
                "imagestore",
                0,
                Vec::<ImageStoreResponse>::new(),
            ));
        }
    }
    let f = StoreFilter {
        common: list_filter(ctx, r.wire())?,
        zone_id: r.zoneid(),
        provider: r.provider().map(str::to_string),
    };
    let (rows, total) = s::store_list(&ctx.pool, &f).await?;
    let items: Vec<_> = rows.iter().map(store_response).collect();
    Ok(Reply::list("imagestore", total, items))
}

pub async fn delete_image_store(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteImageStore<'_>,
) -> Result<Reply> {
    let id = r.id();
    let mut tx = ctx.pool.begin().await?;
    let st = s::store_fetch(&mut *tx, id)
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    let images = s::store_image_count(&mut *tx, id).await?;
    if images > 0 {
        return Err(ApiError::in_use(format!(
            "Cannot delete image store {}: it holds {images} image(s); delete them first",
            st.name
        ))
        .into());
    }
    s::store_delete(&mut *tx, id).await?;
    event(
        &mut tx,
        &caller.user,
        "IMAGE.STORE.DELETE",
        format!("Deleting secondary storage {}", st.url),
        Some(EventResource::new(
            ResourceType::ImageStore,
            st.id,
            st.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

/// listStorageTags: every tag of every primary pool, one entry each.
pub async fn list_tags(ctx: &Ctx, r: &requests::ListStorageTags<'_>) -> Result<Reply> {
    let f = super::hosts::tag_filter(ctx, r.wire())?;
    let (rows, total) = s::pool_tag_list(&ctx.pool, &f).await?;
    let items: Vec<StorageTagResponse> = rows
        .iter()
        .map(|t| StorageTagResponse {
            id: Some(super::hosts::tag_id(t.pool_id.into(), &t.name)),
            poolid: Some(t.pool_id.into()),
            poolname: Some(t.pool_name.clone()),
            name: Some(t.name.clone()),
        })
        .collect();
    Ok(Reply::list("storagetag", total, items))
}

/// listStorageProviders: the providers Stratus really has, by CloudStack's names, so
/// Ansible's storage_pool and image_store modules find the one they pass: `DefaultPrimary`
/// (NFS primary storage) and `NFS` (image stores).
pub fn list_providers(ctx: &Ctx, r: &requests::ListStorageProviders<'_>) -> Result<Reply> {
    let kind = r.r#type();
    let name = if kind.eq_ignore_ascii_case("primary") {
        "DefaultPrimary"
    } else if kind.eq_ignore_ascii_case("image") {
        "NFS"
    } else {
        return Err(ApiError::param(format!(
            "Invalid storage provider type {}: primary or image",
            stratus_api::params::shown(kind)
        ))
        .into());
    };
    let items = vec![stratus_api::types::StorageProviderResponse {
        name: Some(name.into()),
        r#type: Some(kind.to_ascii_lowercase()),
    }];
    let keyword = r.keyword().map(str::to_lowercase);
    let items: Vec<_> = items
        .into_iter()
        .filter(|i| {
            keyword.as_ref().is_none_or(|k| {
                i.name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(k))
            })
        })
        .collect();
    let (total, items) = super::page_of(ctx, r.wire(), items)?;
    Ok(Reply::list("dataStoreProvider", total, &items))
}
