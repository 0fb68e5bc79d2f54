//! Compute (service) and disk offerings: what users choose from when they deploy.

use super::requests;
use chrono::Utc;
use stratus_api::envelope::Reply;
use stratus_api::types::{DiskOfferingResponse, ServiceOfferingResponse};
use stratus_api::{ApiError, Params};

use super::{event, list_filter, not_found};
use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::offerings::{self as o, DiskOfferingRow, ServiceOfferingRow};
use crate::error::{Error, Result};
use crate::rules::tags;
use crate::services::auth::Caller;

fn storage_type(p: &Params) -> Result<String> {
    match p.str("storagetype").map(str::to_ascii_lowercase).as_deref() {
        None | Some("shared") => Ok("shared".into()),
        Some("local") => Ok("local".into()),
        Some(other) => Err(ApiError::param(format!(
            "Invalid storagetype '{other}': use shared or local"
        ))
        .into()),
    }
}

fn name_and_text(p: &Params) -> Result<(String, String)> {
    let name = p.required("name")?.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::param("The offering name must not be empty").into());
    }
    let text = p
        .string("displaytext")
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| name.clone());
    Ok((name, text))
}

/// A positive whole number parameter, with the rule in the error.
fn positive(p: &Params, key: &str, what: &str) -> Result<i32> {
    let v = p.i64(key)?.ok_or_else(|| {
        ApiError::param(format!(
            "{key} is required: the offering's {what} (custom offerings are not supported yet)"
        ))
    })?;
    i32::try_from(v)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::param(format!("{key} must be a positive number ({what})")).into())
}

/// A tag list parameter (`rules::tags`: bounded, blanks and repeats dropped) as the
/// offering stores it, comma-joined, `None` for no tags; the outer `None` when it was not
/// given at all (given empty, it clears the tags on update).
fn tag_param(p: &Params, name: &str) -> Result<Option<Option<String>>> {
    if !p.given(name) {
        return Ok(None);
    }
    let t = tags::parse(name, p.str(name).unwrap_or(""))?;
    Ok(Some(tags::join(&t)))
}

fn offering_in_use(e: Error, what: &str) -> Error {
    match &e {
        Error::Db(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23505") => {
            ApiError::param(format!("A {what} with that name already exists")).into()
        }
        _ => e,
    }
}

pub fn service_response(x: &ServiceOfferingRow) -> ServiceOfferingResponse {
    ServiceOfferingResponse {
        id: Some(x.id.into_uuid()),
        name: Some(x.name.clone()),
        displaytext: Some(x.display_text.clone()),
        cpunumber: Some(x.cpu_number),
        cpuspeed: Some(x.cpu_speed),
        memory: Some(x.memory_mb),
        created: Some(x.created.into()),
        storagetype: Some(x.storage_type.clone()),
        provisioningtype: Some("thin".into()),
        offerha: Some(x.offer_ha),
        limitcpuuse: Some(x.limit_cpu_use),
        isvolatile: Some(x.is_volatile),
        hosttags: x.host_tags.clone(),
        storagetags: x.storage_tags.clone(),
        issystem: Some(false),
        defaultuse: Some(false),
        iscustomized: Some(false),
        domainid: None,
        domain: None,
        state: Some("Active".into()),
        hasannotations: Some(false),
    }
}

pub async fn create_service(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateServiceOffering<'_>,
) -> Result<Reply> {
    let (name, display_text) = name_and_text(r.wire())?;
    let x = ServiceOfferingRow {
        id: crate::ids::ServiceOfferingId::new_v4(),
        name,
        display_text,
        cpu_number: positive(r.wire(), "cpunumber", "number of CPUs")?,
        cpu_speed: positive(r.wire(), "cpuspeed", "CPU speed in MHz")?,
        memory_mb: positive(r.wire(), "memory", "memory in MB")?,
        storage_type: storage_type(r.wire())?,
        host_tags: tag_param(r.wire(), "hosttags")?.flatten(),
        // CloudStack's createServiceOffering calls the storage tags `tags`.
        storage_tags: tag_param(r.wire(), "tags")?.flatten(),
        offer_ha: r.offerha().unwrap_or(false),
        limit_cpu_use: r.limitcpuuse().unwrap_or(false),
        is_volatile: r.isvolatile().unwrap_or(false),
        domain_id: None,
        created: Utc::now(),
        removed: None,
    };
    let mut tx = ctx.pool.begin().await?;
    o::service_offering_insert(&mut *tx, &x)
        .await
        .map_err(|e| offering_in_use(e, "service offering"))?;
    event(
        &mut tx,
        &caller.user,
        "SERVICE.OFFERING.CREATE",
        format!("Creating service offering {}", x.name),
        Some(EventResource::new(
            ResourceType::ServiceOffering,
            x.id,
            x.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("serviceoffering", &service_response(&x)))
}

pub async fn list_service(ctx: &Ctx, r: &requests::ListServiceOfferings<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    let wants = (r.cpunumber(), r.cpuspeed(), r.memory());
    // Offerings serve every zone.
    r.zoneid();
    if r.issystem() == Some(true) {
        // No system VMs: their offerings do not exist.
        return Ok(Reply::list(
            "serviceoffering",
            0,
            Vec::<ServiceOfferingResponse>::new(),
        ));
    }
    let (rows, total) = o::service_offering_list(&ctx.pool, &f, wants).await?;
    let items: Vec<_> = rows.iter().map(service_response).collect();
    Ok(Reply::list("serviceoffering", total, items))
}

pub async fn update_service(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateServiceOffering<'_>,
) -> Result<Reply> {
    let mut tx = ctx.pool.begin().await?;
    let mut x = o::service_offering_fetch(&mut *tx, r.id())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    if let Some(n) = r.name().map(str::to_string) {
        if n.trim().is_empty() {
            return Err(ApiError::param("The offering name must not be empty").into());
        }
        x.name = n.trim().to_string();
    }
    if let Some(t) = r.displaytext().map(str::to_string) {
        x.display_text = t;
    }
    if let Some(t) = tag_param(r.wire(), "hosttags")? {
        x.host_tags = t;
    }
    if let Some(t) = tag_param(r.wire(), "storagetags")? {
        x.storage_tags = t;
    }
    o::service_offering_update(&mut *tx, &x)
        .await
        .map_err(|e| offering_in_use(e, "service offering"))?;
    event(
        &mut tx,
        &caller.user,
        "SERVICE.OFFERING.EDIT",
        format!("Updating service offering {}", x.name),
        Some(EventResource::new(
            ResourceType::ServiceOffering,
            x.id,
            x.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("serviceoffering", &service_response(&x)))
}

pub async fn delete_service(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteServiceOffering<'_>,
) -> Result<Reply> {
    let mut tx = ctx.pool.begin().await?;
    let x = o::service_offering_fetch(&mut *tx, r.id())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    o::service_offering_remove(&mut *tx, x.id).await?;
    event(
        &mut tx,
        &caller.user,
        "SERVICE.OFFERING.DELETE",
        format!("Deleting service offering {}", x.name),
        Some(EventResource::new(
            ResourceType::ServiceOffering,
            x.id,
            x.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}

pub fn disk_response(x: &DiskOfferingRow) -> DiskOfferingResponse {
    DiskOfferingResponse {
        id: Some(x.id.into_uuid()),
        name: Some(x.name.clone()),
        displaytext: Some(x.display_text.clone()),
        disksize: Some(x.disk_size_gb.unwrap_or(0)),
        created: Some(x.created.into()),
        iscustomized: Some(x.disk_size_gb.is_none()),
        storagetype: Some(x.storage_type.clone()),
        provisioningtype: Some("thin".into()),
        tags: x.tags.clone(),
        domainid: None,
        domain: None,
        displayoffering: Some(true),
        state: Some("Active".into()),
        hasannotations: Some(false),
    }
}

pub async fn create_disk(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::CreateDiskOffering<'_>,
) -> Result<Reply> {
    let (name, display_text) = name_and_text(r.wire())?;
    let customized = r.customized().unwrap_or(false);
    let size = r.disksize();
    let disk_size_gb = match (customized, size) {
        (true, Some(_)) => {
            return Err(ApiError::param(
                "A customized disk offering takes its size at deploy time: give disksize or customized=true, not both",
            )
            .into())
        }
        (true, None) => None,
        (false, Some(s)) if s > 0 => Some(s),
        (false, Some(_)) => {
            return Err(ApiError::param("disksize must be a positive number of GB").into())
        }
        (false, None) => {
            return Err(ApiError::param(
                "Give the disk size in GB (disksize) or make the offering customized (customized=true)",
            )
            .into())
        }
    };
    let x = DiskOfferingRow {
        id: crate::ids::DiskOfferingId::new_v4(),
        name,
        display_text,
        disk_size_gb,
        storage_type: storage_type(r.wire())?,
        tags: tag_param(r.wire(), "tags")?.flatten(),
        domain_id: None,
        created: Utc::now(),
        removed: None,
    };
    let mut tx = ctx.pool.begin().await?;
    o::disk_offering_insert(&mut *tx, &x)
        .await
        .map_err(|e| offering_in_use(e, "disk offering"))?;
    event(
        &mut tx,
        &caller.user,
        "DISK.OFFERING.CREATE",
        format!("Creating disk offering {}", x.name),
        Some(EventResource::new(
            ResourceType::DiskOffering,
            x.id,
            x.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("diskoffering", &disk_response(&x)))
}

pub async fn list_disk(ctx: &Ctx, r: &requests::ListDiskOfferings<'_>) -> Result<Reply> {
    let f = list_filter(ctx, r.wire())?;
    // Offerings serve every zone.
    r.zoneid();
    let (rows, total) = o::disk_offering_list(&ctx.pool, &f).await?;
    let items: Vec<_> = rows.iter().map(disk_response).collect();
    Ok(Reply::list("diskoffering", total, items))
}

pub async fn update_disk(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::UpdateDiskOffering<'_>,
) -> Result<Reply> {
    let mut tx = ctx.pool.begin().await?;
    let mut x = o::disk_offering_fetch(&mut *tx, r.id())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    if let Some(n) = r.name().map(str::to_string) {
        if n.trim().is_empty() {
            return Err(ApiError::param("The offering name must not be empty").into());
        }
        x.name = n.trim().to_string();
    }
    if let Some(t) = r.displaytext().map(str::to_string) {
        x.display_text = t;
    }
    if let Some(t) = tag_param(r.wire(), "tags")? {
        x.tags = t;
    }
    o::disk_offering_update(&mut *tx, &x)
        .await
        .map_err(|e| offering_in_use(e, "disk offering"))?;
    event(
        &mut tx,
        &caller.user,
        "DISK.OFFERING.EDIT",
        format!("Updating disk offering {}", x.name),
        Some(EventResource::new(
            ResourceType::DiskOffering,
            x.id,
            x.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::object("diskoffering", &disk_response(&x)))
}

pub async fn delete_disk(
    ctx: &Ctx,
    caller: &Caller,
    r: &requests::DeleteDiskOffering<'_>,
) -> Result<Reply> {
    let mut tx = ctx.pool.begin().await?;
    let x = o::disk_offering_fetch(&mut *tx, r.id())
        .await?
        .ok_or_else(|| not_found(r.wire(), "id"))?;
    o::disk_offering_remove(&mut *tx, x.id).await?;
    event(
        &mut tx,
        &caller.user,
        "DISK.OFFERING.DELETE",
        format!("Deleting disk offering {}", x.name),
        Some(EventResource::new(
            ResourceType::DiskOffering,
            x.id,
            x.name.clone(),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::success())
}
