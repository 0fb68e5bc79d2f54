//! ISOs, their per-zone copies (downloads), and the seeded OS types and categories.

use crate::ids::{
    AccountId, DomainId, ImageStoreId, IsoId, ManagementServerId, OsCategoryId, OsTypeId, ZoneId,
};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::rules::states::CopyState;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct IsoRow {
    pub id: IsoId,
    pub name: String,
    pub display_text: String,
    pub url: String,
    pub bootable: bool,
    pub os_type_id: OsTypeId,
    pub checksum: Option<String>,
    pub is_public: bool,
    pub is_featured: bool,
    pub is_extractable: bool,
    pub cross_zones: bool,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub created: DateTime<Utc>,
    pub removed: Option<DateTime<Utc>>,
}

stmt!(
    ISO_INSERT =
        "INSERT INTO isos (id, name, display_text, url, bootable, os_type_id, checksum, is_public,
            is_featured, is_extractable, cross_zones, account_id, domain_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
);

pub async fn iso_insert(db: impl PgExecutor<'_>, i: &IsoRow) -> Result<()> {
    ISO_INSERT
        .query()
        .bind(i.id)
        .bind(&i.name)
        .bind(&i.display_text)
        .bind(&i.url)
        .bind(i.bootable)
        .bind(i.os_type_id)
        .bind(&i.checksum)
        .bind(i.is_public)
        .bind(i.is_featured)
        .bind(i.is_extractable)
        .bind(i.cross_zones)
        .bind(i.account_id)
        .bind(i.domain_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(ISO_FETCH: IsoRow = "SELECT * FROM isos WHERE id = $1 AND removed IS NULL");

pub async fn iso_fetch(db: impl PgExecutor<'_>, id: IsoId) -> Result<Option<IsoRow>> {
    Ok(ISO_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(
    ISO_UPDATE =
        "UPDATE isos SET name=$2, display_text=$3, bootable=$4, os_type_id=$5, is_featured=$6,
            is_public=$7, is_extractable=$8 WHERE id=$1"
);

pub async fn iso_update(db: impl PgExecutor<'_>, i: &IsoRow) -> Result<()> {
    ISO_UPDATE
        .query()
        .bind(i.id)
        .bind(&i.name)
        .bind(&i.display_text)
        .bind(i.bootable)
        .bind(i.os_type_id)
        .bind(i.is_featured)
        .bind(i.is_public)
        .bind(i.is_extractable)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(ISO_REMOVE_IF_UNUSED: Scalar<Uuid> = format!(
    "WITH gone AS (UPDATE isos SET removed = now()
                    WHERE id = $1 AND removed IS NULL
                      AND NOT EXISTS (SELECT 1 FROM iso_zones WHERE iso_id = $1)
                    RETURNING id),
          t AS ({})
     SELECT id FROM gone",
    super::tags::drop_tags_sql(super::tags::TagType::Iso, "SELECT id FROM gone")
));

/// Marks the ISO removed once none of its zone copies remain, and deletes its tags.
pub async fn iso_remove_if_unused(db: impl PgExecutor<'_>, id: IsoId) -> Result<bool> {
    let gone = ISO_REMOVE_IF_UNUSED
        .query_scalar()
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(gone.is_some())
}

/// One ISO in one zone, as listIsos shows it.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct IsoZoneRow {
    pub iso_id: IsoId,
    pub zone_id: ZoneId,
    pub image_store_id: Option<ImageStoreId>,
    pub state: CopyState,
    pub bytes_done: i64,
    pub bytes_total: Option<i64>,
    pub size: Option<i64>,
    pub checksum: Option<String>,
    pub install_path: Option<String>,
    pub error_text: Option<String>,
    pub cleanup_path: Option<String>,
    pub attempts: i32,
    pub owner: Option<ManagementServerId>,
    pub lease_until: Option<DateTime<Utc>>,
    pub updated: DateTime<Utc>,
}

/// A listIsos row: the ISO, its zone copy, and names.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct IsoListRow {
    #[sqlx(flatten)]
    pub iso: IsoRow,
    pub zone_id: ZoneId,
    pub zone_name: String,
    pub store_name: Option<String>,
    pub state: CopyState,
    pub bytes_done: i64,
    pub bytes_total: Option<i64>,
    pub size: Option<i64>,
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

#[derive(Debug, Clone, Default)]
pub struct IsoFilter {
    pub common: ListFilter,
    pub zone_id: Option<ZoneId>,
    /// Only ISOs this account may see (its own, public, or shared with it); `None`: all
    /// (admins).
    pub visible_to: Option<Uuid>,
    pub only_account: Option<Uuid>,
    /// A list's `projectid`: public ISOs or these owners' (`visible_any`), only these
    /// owners' (`only_any`).
    pub visible_any: Option<Vec<Uuid>>,
    pub only_any: Option<Vec<Uuid>>,
    /// Only ISOs shared with one of these accounts (isofilter `sharedexecutable`).
    pub shared_any: Option<Vec<Uuid>>,
    pub featured: Option<bool>,
    pub public: Option<bool>,
    pub bootable: Option<bool>,
    pub ready: Option<bool>,
    /// `tags[n].key`/`tags[n].value`: only ISOs carrying every pair.
    pub tags: super::tags::TagMatch,
}

stmt!(ISO_LIST: Counted<IsoListRow> = named format!("SELECT i.*, iz.zone_id, z.name AS zone_name, s.name AS store_name, iz.state, iz.bytes_done,
                iz.bytes_total, iz.size, iz.checksum AS zone_checksum, iz.error_text,
                EXISTS (SELECT 1 FROM image_stores x WHERE x.zone_id = iz.zone_id AND NOT x.readonly) AS has_store,
                o.description AS os_type_name, a.name AS account_name, d.name AS domain_name,
                d.path AS domain_path, pr.id AS project_id, pr.name AS project_name,
                count(*) OVER () AS total
         FROM isos i
         JOIN iso_zones iz ON iz.iso_id = i.id
         JOIN zones z ON z.id = iz.zone_id
         LEFT JOIN image_stores s ON s.id = iz.image_store_id
         JOIN os_types o ON o.id = i.os_type_id
         JOIN accounts a ON a.id = i.account_id
         JOIN domains d ON d.id = i.domain_id
         LEFT JOIN projects pr ON pr.account_id = i.account_id
         WHERE i.removed IS NULL
           AND ($id::uuid IS NULL OR i.id = $id)
           AND ($name::text IS NULL OR i.name = $name)
           AND ($keyword::text IS NULL OR i.name ILIKE $keyword OR i.display_text ILIKE $keyword)
           AND ($zone_id::uuid IS NULL OR iz.zone_id = $zone_id)
           AND ($visible_to::uuid IS NULL OR i.account_id = $visible_to OR i.is_public
                OR EXISTS (SELECT 1 FROM iso_permissions p
                           WHERE p.iso_id = i.id AND p.account_id = $visible_to))
           AND ($only_account::uuid IS NULL OR i.account_id = $only_account)
           AND ($visible_any::uuid[] IS NULL OR i.is_public OR i.account_id = ANY($visible_any)
                OR EXISTS (SELECT 1 FROM iso_permissions p
                           WHERE p.iso_id = i.id AND p.account_id = ANY($visible_any)))
           AND ($shared_any::uuid[] IS NULL OR EXISTS (SELECT 1 FROM iso_permissions p
                    WHERE p.iso_id = i.id AND p.account_id = ANY($shared_any)))
           AND ($only_any::uuid[] IS NULL OR i.account_id = ANY($only_any))
           AND ($featured::boolean IS NULL OR i.is_featured = $featured)
           AND ($public::boolean IS NULL OR i.is_public = $public)
           AND ($bootable::boolean IS NULL OR i.bootable = $bootable)
           AND ($ready::boolean IS NULL OR (iz.state = 'Ready') = $ready)
           AND {}
         ORDER BY i.created, i.id, z.name
         OFFSET $offset LIMIT $limit",
    super::tags::carries_sql(super::tags::TagType::Iso, "i.id")
));

pub async fn iso_list(db: impl PgExecutor<'_>, f: &IsoFilter) -> Result<(Vec<IsoListRow>, i64)> {
    // One row per ISO and zone (as CloudStack lists them); the total is counted before
    // paging by the window function.
    let rows: Vec<Counted<_>> = ISO_LIST
        .query_as_with(
            f.tags
                .bind(Binds::new())
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("zone_id", f.zone_id)
                .set("visible_to", f.visible_to)
                .set("only_account", f.only_account)
                .set("visible_any", &f.visible_any)
                .set("only_any", &f.only_any)
                .set("shared_any", &f.shared_any)
                .set("featured", f.featured)
                .set("public", f.public)
                .set("bootable", f.bootable)
                .set("ready", f.ready)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(
    ISO_ZONE_INSERT =
        "INSERT INTO iso_zones (iso_id, zone_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
);

pub async fn iso_zone_insert(
    db: impl PgExecutor<'_>,
    iso_id: IsoId,
    zone_id: ZoneId,
) -> Result<()> {
    ISO_ZONE_INSERT
        .query()
        .bind(iso_id)
        .bind(zone_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    ISO_ZONE_INSERT_CROSS_ZONE = "INSERT INTO iso_zones (iso_id, zone_id)
         SELECT id, $1 FROM isos WHERE cross_zones AND removed IS NULL
         ON CONFLICT DO NOTHING"
);

/// Copies of cross-zone ISOs for a zone that has none yet.
pub async fn iso_zone_insert_cross_zone(db: impl PgExecutor<'_>, zone_id: ZoneId) -> Result<u64> {
    let r = ISO_ZONE_INSERT_CROSS_ZONE
        .query()
        .bind(zone_id)
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}

stmt!(ISO_ZONE_LIST: IsoZoneRow = "SELECT * FROM iso_zones WHERE iso_id = $1 ORDER BY zone_id");

pub async fn iso_zone_list(db: impl PgExecutor<'_>, iso_id: IsoId) -> Result<Vec<IsoZoneRow>> {
    Ok(ISO_ZONE_LIST.query_as().bind(iso_id).fetch_all(db).await?)
}

impl From<super::images::CopyRow> for IsoZoneRow {
    fn from(c: super::images::CopyRow) -> Self {
        IsoZoneRow {
            iso_id: c.image_id.into(),
            zone_id: c.zone_id,
            image_store_id: c.image_store_id,
            state: c.state,
            bytes_done: c.bytes_done,
            bytes_total: c.bytes_total,
            size: c.size,
            checksum: c.checksum,
            install_path: c.install_path,
            error_text: c.error_text,
            cleanup_path: c.cleanup_path,
            attempts: c.attempts,
            owner: c.owner,
            lease_until: c.lease_until,
            updated: c.updated,
        }
    }
}

// The download's statements are shared with templates' (`db::images`); these are the
// ISO's names for them.
use super::images::{self as img, Kind::Iso};

/// Claims up to `limit` downloads for management server `owner`: queued ones whose zone
/// has writable secondary storage, and ones whose owner's lease ran out (it died) or whose
/// owner stopped.
pub async fn iso_zone_claim(
    db: impl PgExecutor<'_>,
    owner: ManagementServerId,
    lease_secs: i64,
    limit: i64,
) -> Result<Vec<IsoZoneRow>> {
    Ok(img::copy_claim(db, Iso, owner, lease_secs, limit)
        .await?
        .into_iter()
        .map(IsoZoneRow::from)
        .collect())
}

/// Progress, and the lease renewed; fenced on the owner. `false`: the download is no
/// longer ours (deleted, or taken over) and must stop.
pub async fn iso_zone_progress(
    db: impl PgExecutor<'_>,
    iso_id: IsoId,
    zone_id: ZoneId,
    owner: ManagementServerId,
    done: i64,
    total: Option<i64>,
    lease_secs: i64,
) -> Result<bool> {
    img::copy_progress(
        db,
        Iso,
        iso_id.into_uuid(),
        zone_id,
        owner,
        done,
        total,
        lease_secs,
    )
    .await
}

/// Sets the store the download goes to (chosen when it starts).
pub async fn iso_zone_set_store(
    db: impl PgExecutor<'_>,
    iso_id: IsoId,
    zone_id: ZoneId,
    owner: ManagementServerId,
    store_id: ImageStoreId,
    install_path: &str,
) -> Result<bool> {
    img::copy_set_store(
        db,
        Iso,
        iso_id.into_uuid(),
        zone_id,
        owner,
        store_id,
        install_path,
    )
    .await
}

/// The end of a download, fenced on the owner: Ready with size and digest, or Error.
pub async fn iso_zone_finish(
    db: impl PgExecutor<'_>,
    iso_id: IsoId,
    zone_id: ZoneId,
    owner: ManagementServerId,
    outcome: std::result::Result<(i64, &str), (&str, Option<&str>)>,
) -> Result<bool> {
    let outcome = outcome.map(|(size, checksum)| img::Finished {
        size,
        checksum,
        virtual_size: None,
    });
    img::copy_finish(db, Iso, iso_id.into_uuid(), zone_id, owner, outcome).await
}

/// deleteIso: the copy stops downloading (its fenced updates fail) and is being removed.
pub async fn iso_zone_mark_deleting(
    db: impl PgExecutor<'_>,
    iso_id: IsoId,
    zone_id: ZoneId,
) -> Result<Option<IsoZoneRow>> {
    Ok(
        img::copy_mark_deleting(db, Iso, iso_id.into_uuid(), zone_id)
            .await?
            .map(IsoZoneRow::from),
    )
}

pub async fn iso_zone_delete(
    db: impl PgExecutor<'_>,
    iso_id: IsoId,
    zone_id: ZoneId,
) -> Result<()> {
    img::copy_delete(db, Iso, iso_id.into_uuid(), zone_id).await
}

/// Copies with a partial file left behind, and their store's URL.
pub async fn iso_zone_list_cleanup(
    db: impl PgExecutor<'_>,
) -> Result<Vec<(Uuid, ZoneId, String, String)>> {
    img::copy_list_cleanup(db, Iso).await
}

pub async fn iso_zone_cleanup_done(
    db: impl PgExecutor<'_>,
    iso_id: IsoId,
    zone_id: ZoneId,
    path: &str,
) -> Result<()> {
    img::copy_cleanup_done(db, Iso, iso_id.into_uuid(), zone_id, path).await
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct OsTypeRow {
    pub id: OsTypeId,
    pub category_id: Uuid,
    pub description: String,
    pub is_user_defined: bool,
    pub category_name: String,
}

stmt!(OS_TYPE_FETCH: OsTypeRow = "SELECT t.*, c.name AS category_name FROM os_types t JOIN os_categories c ON c.id = t.category_id WHERE t.id = $1");

pub async fn os_type_fetch(db: impl PgExecutor<'_>, id: OsTypeId) -> Result<Option<OsTypeRow>> {
    Ok(OS_TYPE_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(OS_TYPE_LIST: Counted<OsTypeRow> = "SELECT t.*, c.name AS category_name, count(*) OVER () AS total
         FROM os_types t JOIN os_categories c ON c.id = t.category_id
         WHERE ($1::uuid IS NULL OR t.id = $1)
           AND ($2::uuid IS NULL OR t.category_id = $2)
           AND ($3::text IS NULL OR t.description = $3)
           AND ($4::text IS NULL OR t.description ILIKE $4)
         ORDER BY c.name, t.description OFFSET $5 LIMIT $6");

pub async fn os_type_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    category: Option<Uuid>,
    description: Option<&str>,
) -> Result<(Vec<OsTypeRow>, i64)> {
    let rows: Vec<Counted<_>> = OS_TYPE_LIST
        .query_as()
        .bind(f.id)
        .bind(category)
        .bind(description)
        .bind(f.keyword_pattern())
        .bind(f.offset)
        .bind(f.limit())
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct OsCategoryRow {
    pub id: OsCategoryId,
    pub name: String,
}

stmt!(OS_CATEGORY_LIST: Counted<OsCategoryRow> = "SELECT c.*, count(*) OVER () AS total FROM os_categories c
         WHERE ($1::uuid IS NULL OR c.id = $1)
           AND ($2::text IS NULL OR c.name = $2)
           AND ($3::text IS NULL OR c.name ILIKE $3)
         ORDER BY c.name OFFSET $4 LIMIT $5");

pub async fn os_category_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
) -> Result<(Vec<OsCategoryRow>, i64)> {
    let rows: Vec<Counted<_>> = OS_CATEGORY_LIST
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

statements![
    ISO_INSERT,
    ISO_FETCH,
    ISO_UPDATE,
    ISO_REMOVE_IF_UNUSED,
    ISO_LIST,
    ISO_ZONE_INSERT,
    ISO_ZONE_INSERT_CROSS_ZONE,
    ISO_ZONE_LIST,
    OS_TYPE_FETCH,
    OS_TYPE_LIST,
    OS_CATEGORY_LIST
];
