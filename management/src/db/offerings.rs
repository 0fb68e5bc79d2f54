//! Compute (service) and disk offerings. Deleting one marks it removed: instances keep
//! pointing at the offering they were deployed with.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Binds, Counted, ListFilter, RowShape};
use crate::error::Result;
use crate::ids::{DiskOfferingId, ServiceOfferingId};

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ServiceOfferingRow {
    pub id: ServiceOfferingId,
    pub name: String,
    pub display_text: String,
    pub cpu_number: i32,
    pub cpu_speed: i32,
    pub memory_mb: i32,
    pub storage_type: String,
    pub host_tags: Option<String>,
    /// The root volume's storage tags (comma-separated, as `host_tags`).
    pub storage_tags: Option<String>,
    pub offer_ha: bool,
    pub limit_cpu_use: bool,
    pub is_volatile: bool,
    pub domain_id: Option<Uuid>,
    pub created: DateTime<Utc>,
    pub removed: Option<DateTime<Utc>>,
}

stmt!(
    SERVICE_OFFERING_INSERT =
        "INSERT INTO service_offerings (id, name, display_text, cpu_number, cpu_speed, memory_mb,
            storage_type, host_tags, offer_ha, limit_cpu_use, is_volatile, domain_id, storage_tags)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
);

pub async fn service_offering_insert(
    db: impl PgExecutor<'_>,
    o: &ServiceOfferingRow,
) -> Result<()> {
    SERVICE_OFFERING_INSERT
        .query()
        .bind(o.id)
        .bind(&o.name)
        .bind(&o.display_text)
        .bind(o.cpu_number)
        .bind(o.cpu_speed)
        .bind(o.memory_mb)
        .bind(&o.storage_type)
        .bind(&o.host_tags)
        .bind(o.offer_ha)
        .bind(o.limit_cpu_use)
        .bind(o.is_volatile)
        .bind(o.domain_id)
        .bind(&o.storage_tags)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(SERVICE_OFFERING_FETCH: ServiceOfferingRow = "SELECT * FROM service_offerings WHERE id = $1 AND removed IS NULL");

pub async fn service_offering_fetch(
    db: impl PgExecutor<'_>,
    id: ServiceOfferingId,
) -> Result<Option<ServiceOfferingRow>> {
    Ok(SERVICE_OFFERING_FETCH
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(SERVICE_OFFERING_LIST: Counted<ServiceOfferingRow> = named "SELECT o.*, count(*) OVER () AS total FROM service_offerings o
         WHERE o.removed IS NULL
           AND ($id::uuid IS NULL OR o.id = $id)
           AND ($name::text IS NULL OR o.name = $name)
           AND ($keyword::text IS NULL OR o.name ILIKE $keyword OR o.display_text ILIKE $keyword)
           AND ($min_cpu_number::bigint IS NULL OR o.cpu_number >= $min_cpu_number)
           AND ($min_cpu_speed::bigint IS NULL OR o.cpu_speed >= $min_cpu_speed)
           AND ($min_memory_mb::bigint IS NULL OR o.memory_mb >= $min_memory_mb)
         ORDER BY o.created, o.id OFFSET $offset LIMIT $limit");

/// Filters: the common ones, plus minimum CPU count / speed / memory.
pub async fn service_offering_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    min: (Option<i64>, Option<i64>, Option<i64>),
) -> Result<(Vec<ServiceOfferingRow>, i64)> {
    let rows: Vec<Counted<_>> = SERVICE_OFFERING_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.id)
                .set("name", &f.name)
                .set("keyword", f.keyword_pattern())
                .set("min_cpu_number", min.0)
                .set("min_cpu_speed", min.1)
                .set("min_memory_mb", min.2)
                .set("offset", f.offset)
                .set("limit", f.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(
    SERVICE_OFFERING_UPDATE =
        "UPDATE service_offerings SET name=$2, display_text=$3, host_tags=$4, storage_tags=$5 WHERE id=$1"
);

pub async fn service_offering_update(
    db: impl PgExecutor<'_>,
    o: &ServiceOfferingRow,
) -> Result<()> {
    SERVICE_OFFERING_UPDATE
        .query()
        .bind(o.id)
        .bind(&o.name)
        .bind(&o.display_text)
        .bind(&o.host_tags)
        .bind(&o.storage_tags)
        .execute(db)
        .await?;
    Ok(())
}

/// The tags a VM's placement honours, from its offerings (removed ones too: a VM keeps
/// the offering it was deployed with).
#[derive(Debug, Clone, Default, sqlx::FromRow, RowShape)]
pub struct VmTagsRow {
    /// Its service offering's host tags.
    pub host_tags: Option<String>,
    /// Its service offering's storage tags (the root volume's).
    pub storage_tags: Option<String>,
    /// The tags of the disk offering that sized its root disk (an ISO deploy's).
    pub disk_tags: Option<String>,
}

stmt!(VM_TAGS: VmTagsRow = "SELECT so.host_tags, so.storage_tags, d.tags AS disk_tags
         FROM vms v JOIN service_offerings so ON so.id = v.service_offering_id
         LEFT JOIN disk_offerings d ON d.id = v.disk_offering_id
         WHERE v.id = $1");

pub async fn vm_tags(db: impl PgExecutor<'_>, vm_id: Uuid) -> Result<VmTagsRow> {
    Ok(VM_TAGS
        .query_as()
        .bind(vm_id)
        .fetch_optional(db)
        .await?
        .unwrap_or_default())
}

stmt!(
    SERVICE_OFFERING_REMOVE =
        "UPDATE service_offerings SET removed = now() WHERE id = $1 AND removed IS NULL"
);

pub async fn service_offering_remove(
    db: impl PgExecutor<'_>,
    id: ServiceOfferingId,
) -> Result<bool> {
    let r = SERVICE_OFFERING_REMOVE.query().bind(id).execute(db).await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct DiskOfferingRow {
    pub id: DiskOfferingId,
    pub name: String,
    pub display_text: String,
    pub disk_size_gb: Option<i64>,
    pub storage_type: String,
    pub tags: Option<String>,
    pub domain_id: Option<Uuid>,
    pub created: DateTime<Utc>,
    pub removed: Option<DateTime<Utc>>,
}

stmt!(DISK_OFFERING_INSERT = "INSERT INTO disk_offerings (id, name, display_text, disk_size_gb, storage_type, tags, domain_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7)");

pub async fn disk_offering_insert(db: impl PgExecutor<'_>, o: &DiskOfferingRow) -> Result<()> {
    DISK_OFFERING_INSERT
        .query()
        .bind(o.id)
        .bind(&o.name)
        .bind(&o.display_text)
        .bind(o.disk_size_gb)
        .bind(&o.storage_type)
        .bind(&o.tags)
        .bind(o.domain_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(DISK_OFFERING_FETCH: DiskOfferingRow = "SELECT * FROM disk_offerings WHERE id = $1 AND removed IS NULL");

pub async fn disk_offering_fetch(
    db: impl PgExecutor<'_>,
    id: DiskOfferingId,
) -> Result<Option<DiskOfferingRow>> {
    Ok(DISK_OFFERING_FETCH
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(DISK_OFFERING_LIST: Counted<DiskOfferingRow> = "SELECT o.*, count(*) OVER () AS total FROM disk_offerings o
         WHERE o.removed IS NULL
           AND ($1::uuid IS NULL OR o.id = $1)
           AND ($2::text IS NULL OR o.name = $2)
           AND ($3::text IS NULL OR o.name ILIKE $3 OR o.display_text ILIKE $3)
         ORDER BY o.created, o.id OFFSET $4 LIMIT $5");

pub async fn disk_offering_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
) -> Result<(Vec<DiskOfferingRow>, i64)> {
    let rows: Vec<Counted<_>> = DISK_OFFERING_LIST
        .query_as()
        .bind(f.id)
        .bind(&f.name)
        .bind(f.keyword_pattern())
        .bind(f.offset)
        .bind(f.limit())
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(
    DISK_OFFERING_UPDATE =
        "UPDATE disk_offerings SET name=$2, display_text=$3, tags=$4 WHERE id=$1"
);

pub async fn disk_offering_update(db: impl PgExecutor<'_>, o: &DiskOfferingRow) -> Result<()> {
    DISK_OFFERING_UPDATE
        .query()
        .bind(o.id)
        .bind(&o.name)
        .bind(&o.display_text)
        .bind(&o.tags)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    DISK_OFFERING_REMOVE =
        "UPDATE disk_offerings SET removed = now() WHERE id = $1 AND removed IS NULL"
);

pub async fn disk_offering_remove(db: impl PgExecutor<'_>, id: DiskOfferingId) -> Result<bool> {
    let r = DISK_OFFERING_REMOVE.query().bind(id).execute(db).await?;
    Ok(r.rows_affected() == 1)
}

statements![
    SERVICE_OFFERING_INSERT,
    SERVICE_OFFERING_FETCH,
    SERVICE_OFFERING_LIST,
    SERVICE_OFFERING_UPDATE,
    SERVICE_OFFERING_REMOVE,
    VM_TAGS,
    DISK_OFFERING_INSERT,
    DISK_OFFERING_FETCH,
    DISK_OFFERING_LIST,
    DISK_OFFERING_UPDATE,
    DISK_OFFERING_REMOVE
];
