//! Templates, their launch permissions and their per-zone copies.
//!
//! **For the deploy path** (deploy-from-template): call [`template_ready_in_zone`] for
//! the file a VM's root disk is based on — the Ready copy of a template in a zone: the
//! image store's NFS server, export path and URL, the file's install path relative to
//! the export, its format (`QCOW2`/`RAW`), virtual size (what the root disk must be at
//! least), and what the guest supports (`password_enabled`, `sshkey_enabled`), with its
//! name, display text and OS type. `None` when the template is deleted, unknown, or not
//! Ready in that zone. Call [`template_visible_to`] first to know whether the caller's
//! account may deploy it (owner, public, or shared with it; root admins may deploy any).
//! Deleting a template removes its secondary-storage files and soft-deletes the row
//! (`removed`), so VMs based on it still name it (`template_fetch_any`); their volumes
//! live on primary storage and are not touched.

use crate::ids::{AccountId, DomainId, ImageStoreId, OsTypeId, TemplateId, VolumeId, ZoneId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::images::CopyRow;
use super::{Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::rules::states::CopyState;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct TemplateRow {
    pub id: TemplateId,
    pub name: String,
    pub display_text: String,
    /// Where it is downloaded from; `None` for a template made from a volume.
    pub url: Option<String>,
    pub format: String,
    pub hypervisor: String,
    pub os_type_id: OsTypeId,
    pub checksum: Option<String>,
    pub is_public: bool,
    pub is_featured: bool,
    pub is_extractable: bool,
    pub password_enabled: bool,
    pub sshkey_enabled: bool,
    pub requires_hvm: bool,
    pub is_dynamically_scalable: bool,
    pub bits: i32,
    pub template_type: String,
    pub details: serde_json::Value,
    pub cross_zones: bool,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub created: DateTime<Utc>,
    pub removed: Option<DateTime<Utc>>,
    /// createTemplate's volume (the template has no URL then).
    pub source_volume_id: Option<VolumeId>,
}

stmt!(
    TEMPLATE_INSERT =
        "INSERT INTO templates (id, name, display_text, url, format, hypervisor, os_type_id, checksum,
            is_public, is_featured, is_extractable, password_enabled, sshkey_enabled, requires_hvm,
            is_dynamically_scalable, bits, template_type, details, cross_zones, account_id, domain_id,
            source_volume_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)
         ON CONFLICT (id) DO NOTHING"
);

pub async fn template_insert(db: impl PgExecutor<'_>, t: &TemplateRow) -> Result<()> {
    TEMPLATE_INSERT
        .query()
        .bind(t.id)
        .bind(&t.name)
        .bind(&t.display_text)
        .bind(&t.url)
        .bind(&t.format)
        .bind(&t.hypervisor)
        .bind(t.os_type_id)
        .bind(&t.checksum)
        .bind(t.is_public)
        .bind(t.is_featured)
        .bind(t.is_extractable)
        .bind(t.password_enabled)
        .bind(t.sshkey_enabled)
        .bind(t.requires_hvm)
        .bind(t.is_dynamically_scalable)
        .bind(t.bits)
        .bind(&t.template_type)
        .bind(&t.details)
        .bind(t.cross_zones)
        .bind(t.account_id)
        .bind(t.domain_id)
        .bind(t.source_volume_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(TEMPLATE_FETCH: TemplateRow = "SELECT * FROM templates WHERE id = $1 AND removed IS NULL");

/// A template that is not deleted.
pub async fn template_fetch(
    db: impl PgExecutor<'_>,
    id: TemplateId,
) -> Result<Option<TemplateRow>> {
    Ok(TEMPLATE_FETCH
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(TEMPLATE_FETCH_ANY: TemplateRow = "SELECT * FROM templates WHERE id = $1");

/// A template, deleted or not (VMs based on a deleted template still name it).
pub async fn template_fetch_any(
    db: impl PgExecutor<'_>,
    id: TemplateId,
) -> Result<Option<TemplateRow>> {
    Ok(TEMPLATE_FETCH_ANY
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(
    TEMPLATE_UPDATE =
        "UPDATE templates SET name=$2, display_text=$3, os_type_id=$4, is_featured=$5,
            is_public=$6, is_extractable=$7, password_enabled=$8, sshkey_enabled=$9,
            requires_hvm=$10, is_dynamically_scalable=$11, details=$12
         WHERE id=$1 AND removed IS NULL"
);

pub async fn template_update(db: impl PgExecutor<'_>, t: &TemplateRow) -> Result<()> {
    TEMPLATE_UPDATE
        .query()
        .bind(t.id)
        .bind(&t.name)
        .bind(&t.display_text)
        .bind(t.os_type_id)
        .bind(t.is_featured)
        .bind(t.is_public)
        .bind(t.is_extractable)
        .bind(t.password_enabled)
        .bind(t.sshkey_enabled)
        .bind(t.requires_hvm)
        .bind(t.is_dynamically_scalable)
        .bind(&t.details)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(TEMPLATE_REMOVE_IF_UNUSED: Scalar<Uuid> = format!(
    "WITH gone AS (UPDATE templates SET removed = now()
                    WHERE id = $1 AND removed IS NULL
                      AND NOT EXISTS (SELECT 1 FROM template_zones WHERE template_id = $1)
                    RETURNING id),
          t AS ({})
     SELECT id FROM gone",
    super::tags::drop_tags_sql(super::tags::TagType::Template, "SELECT id FROM gone")
));

/// Soft-deletes the template once none of its zone copies remain, and deletes its tags.
pub async fn template_remove_if_unused(db: impl PgExecutor<'_>, id: TemplateId) -> Result<bool> {
    let gone = TEMPLATE_REMOVE_IF_UNUSED
        .query_scalar()
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(gone.is_some())
}

// --- per-zone copies (the downloader's statements are in db::images) ---

stmt!(
    TEMPLATE_ZONE_INSERT = "INSERT INTO template_zones (template_id, zone_id, expected_checksum)
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
);

/// Queues a copy of the template in a zone; `expected` is the digest a copy from another
/// zone must have. `false` if the zone already has one.
pub async fn template_zone_insert(
    db: impl PgExecutor<'_>,
    template_id: TemplateId,
    zone_id: ZoneId,
    expected: Option<&str>,
) -> Result<bool> {
    let r = TEMPLATE_ZONE_INSERT
        .query()
        .bind(template_id)
        .bind(zone_id)
        .bind(expected.map(str::to_string))
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

stmt!(
    TEMPLATE_ZONE_REQUEUE =
        "UPDATE template_zones SET state = 'Queued', attempts = 0, error_text = NULL,
            expected_checksum = $3, bytes_done = 0, bytes_total = NULL, updated = now()
         WHERE template_id = $1 AND zone_id = $2 AND state = 'Error'"
);

/// A failed copy queued again (copyTemplate into a zone whose copy failed).
pub async fn template_zone_requeue(
    db: impl PgExecutor<'_>,
    template_id: TemplateId,
    zone_id: ZoneId,
    expected: Option<&str>,
) -> Result<bool> {
    let r = TEMPLATE_ZONE_REQUEUE
        .query()
        .bind(template_id)
        .bind(zone_id)
        .bind(expected.map(str::to_string))
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

stmt!(
    TEMPLATE_ZONE_INSERT_CROSS_ZONE = "INSERT INTO template_zones (template_id, zone_id)
         SELECT id, $1 FROM templates WHERE cross_zones AND removed IS NULL
         ON CONFLICT DO NOTHING"
);

/// Copies of cross-zone templates for a zone that has none yet.
pub async fn template_zone_insert_cross_zone(
    db: impl PgExecutor<'_>,
    zone_id: ZoneId,
) -> Result<u64> {
    let r = TEMPLATE_ZONE_INSERT_CROSS_ZONE
        .query()
        .bind(zone_id)
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}

stmt!(TEMPLATE_ZONE_LIST: CopyRow = format!(
    "SELECT {} FROM template_zones tz WHERE tz.template_id = $1 ORDER BY tz.zone_id",
    super::images::columns("tz", "template_id")
));

pub async fn template_zone_list(
    db: impl PgExecutor<'_>,
    template_id: TemplateId,
) -> Result<Vec<CopyRow>> {
    Ok(TEMPLATE_ZONE_LIST
        .query_as()
        .bind(template_id)
        .fetch_all(db)
        .await?)
}

/// The ready file of a template in a zone: what a VM's root disk is based on.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct TemplateFile {
    pub template_id: TemplateId,
    pub zone_id: ZoneId,
    pub image_store_id: ImageStoreId,
    /// The image store's NFS URL (`nfs://server/path`), server and export path.
    pub store_url: String,
    pub store_server: String,
    pub store_path: String,
    /// The file, relative to the export: `template/ID/ID.qcow2`.
    pub install_path: String,
    /// `QCOW2` or `RAW`.
    pub format: String,
    /// The disk's size in bytes (the QCOW2 header's, or a RAW file's size).
    pub virtual_size: i64,
    /// The file's size in bytes.
    pub physical_size: i64,
    pub checksum: Option<String>,
    pub name: String,
    pub display_text: String,
    pub os_type_id: OsTypeId,
    pub os_type_name: String,
    pub password_enabled: bool,
    pub sshkey_enabled: bool,
    pub requires_hvm: bool,
    pub account_id: AccountId,
}

stmt!(TEMPLATE_READY_IN_ZONE: TemplateFile = "SELECT t.id AS template_id, tz.zone_id, s.id AS image_store_id,
                s.url AS store_url, s.server AS store_server, s.path AS store_path,
                tz.install_path AS install_path, t.format, tz.virtual_size AS virtual_size,
                tz.size AS physical_size, tz.checksum, t.name, t.display_text, t.os_type_id,
                o.description AS os_type_name, t.password_enabled, t.sshkey_enabled,
                t.requires_hvm, t.account_id
         FROM templates t
         JOIN template_zones tz ON tz.template_id = t.id
         JOIN image_stores s ON s.id = tz.image_store_id
         JOIN os_types o ON o.id = t.os_type_id
         WHERE t.id = $1 AND tz.zone_id = $2 AND t.removed IS NULL AND tz.state = 'Ready'
           AND tz.install_path IS NOT NULL AND tz.virtual_size IS NOT NULL AND tz.size IS NOT NULL");

/// The Ready copy of a template in a zone (see the module's documentation); `None` if
/// the template is deleted or unknown, or has no Ready copy there.
pub async fn template_ready_in_zone(
    db: impl PgExecutor<'_>,
    template_id: TemplateId,
    zone_id: ZoneId,
) -> Result<Option<TemplateFile>> {
    Ok(TEMPLATE_READY_IN_ZONE
        .query_as()
        .bind(template_id)
        .bind(zone_id)
        .fetch_optional(db)
        .await?)
}

// --- createTemplate: a copy written from a volume, not downloaded ---

stmt!(
    TEMPLATE_ZONE_INSERT_CREATING = "INSERT INTO template_zones
            (template_id, zone_id, image_store_id, install_path, state)
         VALUES ($1, $2, $3, $4, 'Creating') ON CONFLICT DO NOTHING"
);

/// The zone copy createTemplate writes (state Creating: the downloader leaves it alone).
pub async fn template_zone_insert_creating(
    db: impl PgExecutor<'_>,
    template_id: TemplateId,
    zone_id: ZoneId,
    store_id: ImageStoreId,
    install_path: &str,
) -> Result<()> {
    TEMPLATE_ZONE_INSERT_CREATING
        .query()
        .bind(template_id)
        .bind(zone_id)
        .bind(store_id)
        .bind(install_path)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    TEMPLATE_ZONE_CREATED = "UPDATE template_zones SET state = 'Ready', size = $3, bytes_done = $3,
            bytes_total = $3, virtual_size = $4, error_text = NULL, updated = now()
         WHERE template_id = $1 AND zone_id = $2 AND state IN ('Creating', 'Ready')"
);

/// The written copy is whole: Ready with its sizes. `false` if it is no longer being
/// created (deleted meanwhile).
pub async fn template_zone_created(
    db: impl PgExecutor<'_>,
    template_id: TemplateId,
    zone_id: ZoneId,
    size: i64,
    virtual_size: i64,
) -> Result<bool> {
    let r = TEMPLATE_ZONE_CREATED
        .query()
        .bind(template_id)
        .bind(zone_id)
        .bind(size)
        .bind(virtual_size)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

stmt!(
    TEMPLATE_DELETE_CREATED = format!(
        "WITH gone AS (DELETE FROM templates t WHERE t.id = $1 AND t.source_volume_id IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM vms v WHERE v.template_id = t.id)
                      AND NOT EXISTS (SELECT 1 FROM volumes vol WHERE vol.template_id = t.id)
                    RETURNING t.id)
     {}",
        super::tags::drop_tags_sql(super::tags::TagType::Template, "SELECT id FROM gone")
    )
);

/// Undoes a createTemplate that did not finish: the row, its zone copy and any tags it
/// got meanwhile go (nothing can be based on it yet; if something is, it stays).
pub async fn template_delete_created(
    db: impl PgExecutor<'_>,
    template_id: TemplateId,
) -> Result<()> {
    TEMPLATE_DELETE_CREATED
        .query()
        .bind(template_id)
        .execute(db)
        .await?;
    Ok(())
}

// --- listTemplates ---

/// A listTemplates row: the template, its copy in one zone, and names.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct TemplateListRow {
    #[sqlx(flatten)]
    pub template: TemplateRow,
    pub zone_id: ZoneId,
    pub zone_name: String,
    pub store_name: Option<String>,
    pub state: CopyState,
    pub bytes_done: i64,
    pub bytes_total: Option<i64>,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub zone_checksum: Option<String>,
    pub error_text: Option<String>,
    pub has_store: bool,
    pub os_type_name: String,
    pub account_name: String,
    pub domain_name: String,
    #[sqlx(default)]
    pub domain_path: Option<String>,
    /// The project owning it (its account is the project's own).
    #[sqlx(default)]
    pub project_id: Option<Uuid>,
    #[sqlx(default)]
    pub project_name: Option<String>,
}

/// Which templates a listTemplates call sees (the `templatefilter` made into conditions,
/// see `commands::templates`).
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    pub common: ListFilter,
    pub zone_id: Option<ZoneId>,
    /// Only this account's templates (self, selfexecutable).
    pub owner: Option<Uuid>,
    /// Only templates shared with this account (sharedexecutable).
    pub shared_with: Option<Uuid>,
    /// Public ones, or this account's (executable).
    pub public_or_owner: Option<Uuid>,
    /// Public ones, this account's, or shared with it (what it may see at all).
    pub visible_to: Option<Uuid>,
    pub public: Option<bool>,
    pub featured: Option<bool>,
    pub ready: Option<bool>,
    pub hypervisor: Option<String>,
    /// `tags[n].key`/`tags[n].value`: only templates carrying every pair.
    pub tags: super::tags::TagMatch,
}

stmt!(TEMPLATE_LIST: Counted<TemplateListRow> = named format!("SELECT t.*, tz.zone_id, z.name AS zone_name, s.name AS store_name, tz.state,
                tz.bytes_done, tz.bytes_total, tz.size, tz.virtual_size,
                tz.checksum AS zone_checksum, tz.error_text,
                EXISTS (SELECT 1 FROM image_stores x WHERE x.zone_id = tz.zone_id AND NOT x.readonly) AS has_store,
                o.description AS os_type_name, a.name AS account_name, d.name AS domain_name,
                d.path AS domain_path, pr.id AS project_id, pr.name AS project_name,
                count(*) OVER () AS total
         FROM templates t
         JOIN template_zones tz ON tz.template_id = t.id
         JOIN zones z ON z.id = tz.zone_id
         LEFT JOIN image_stores s ON s.id = tz.image_store_id
         JOIN os_types o ON o.id = t.os_type_id
         JOIN accounts a ON a.id = t.account_id
         JOIN domains d ON d.id = t.domain_id
         LEFT JOIN projects pr ON pr.account_id = t.account_id
         WHERE t.removed IS NULL
           AND ($id::uuid IS NULL OR t.id = $id)
           AND ($ids::uuid[] IS NULL OR t.id = ANY($ids))
           AND ($name::text IS NULL OR t.name = $name)
           AND ($keyword::text IS NULL OR t.name ILIKE $keyword OR t.display_text ILIKE $keyword)
           AND ($zone_id::uuid IS NULL OR tz.zone_id = $zone_id)
           AND ($owner::uuid IS NULL OR t.account_id = $owner)
           AND ($shared_with::uuid IS NULL OR EXISTS (SELECT 1 FROM template_permissions p
                    WHERE p.template_id = t.id AND p.account_id = $shared_with))
           AND ($public_or_owner::uuid IS NULL OR t.is_public OR t.account_id = $public_or_owner)
           AND ($visible_to::uuid IS NULL OR t.is_public OR t.account_id = $visible_to
                OR EXISTS (SELECT 1 FROM template_permissions p
                           WHERE p.template_id = t.id AND p.account_id = $visible_to))
           AND ($public::boolean IS NULL OR t.is_public = $public)
           AND ($featured::boolean IS NULL OR t.is_featured = $featured)
           AND ($ready::boolean IS NULL OR (tz.state = 'Ready') = $ready)
           AND ($hypervisor::text IS NULL OR lower(t.hypervisor) = lower($hypervisor))
           AND {}
         ORDER BY t.created, t.id, z.name
         OFFSET $offset LIMIT $limit",
    super::tags::carries_sql(super::tags::TagType::Template, "t.id")
));

/// One row per template and zone (as CloudStack lists them), and the total before paging.
pub async fn template_list(
    db: impl PgExecutor<'_>,
    f: &TemplateFilter,
) -> Result<(Vec<TemplateListRow>, i64)> {
    let rows: Vec<Counted<_>> = TEMPLATE_LIST
        .query_as_with(
            f.tags
                .bind(Binds::new())
                .set("id", f.common.id)
                .set("ids", &f.common.ids)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("zone_id", f.zone_id)
                .set("owner", f.owner)
                .set("shared_with", f.shared_with)
                .set("public_or_owner", f.public_or_owner)
                .set("visible_to", f.visible_to)
                .set("public", f.public)
                .set("featured", f.featured)
                .set("ready", f.ready)
                .set("hypervisor", &f.hypervisor)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

statements![
    TEMPLATE_ZONE_INSERT_CREATING,
    TEMPLATE_ZONE_CREATED,
    TEMPLATE_DELETE_CREATED,
    TEMPLATE_INSERT,
    TEMPLATE_FETCH,
    TEMPLATE_FETCH_ANY,
    TEMPLATE_UPDATE,
    TEMPLATE_REMOVE_IF_UNUSED,
    TEMPLATE_ZONE_INSERT,
    TEMPLATE_ZONE_REQUEUE,
    TEMPLATE_ZONE_INSERT_CROSS_ZONE,
    TEMPLATE_ZONE_LIST,
    TEMPLATE_READY_IN_ZONE,
    TEMPLATE_LIST
];
