//! Per-zone image copies — an ISO's (`iso_zones`) or a template's (`template_zones`) —
//! as the downloader works them: claimed under a lease, progress fenced on the owner,
//! finished Ready or Error, removed. The two tables have the same columns, so each
//! statement is written once (a fragment over the table and its id column) and built
//! for both [`Kind`]s: ISOs and templates share one pipeline, not a copy of it.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::ids::{AccountId, ImageStoreId, ManagementServerId, ZoneId};

use super::{RowShape, Scalar};
use crate::error::Result;
use crate::rules::states::CopyState;

/// Which image family a copy belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Iso,
    Template,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Iso, Kind::Template];
}

/// One image in one zone, whichever kind.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct CopyRow {
    pub image_id: Uuid,
    pub zone_id: ZoneId,
    pub image_store_id: Option<ImageStoreId>,
    pub state: CopyState,
    pub bytes_done: i64,
    pub bytes_total: Option<i64>,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub checksum: Option<String>,
    pub expected_checksum: Option<String>,
    pub install_path: Option<String>,
    pub error_text: Option<String>,
    pub cleanup_path: Option<String>,
    pub attempts: i32,
    pub owner: Option<ManagementServerId>,
    pub lease_until: Option<DateTime<Utc>>,
    pub updated: DateTime<Utc>,
}

const ISO: (&str, &str) = ("iso_zones", "iso_id");
const TEMPLATE: (&str, &str) = ("template_zones", "template_id");

pub(super) fn columns(alias: &str, id: &str) -> String {
    format!(
        "{alias}.{id} AS image_id, {alias}.zone_id, {alias}.image_store_id, {alias}.state,
         {alias}.bytes_done, {alias}.bytes_total, {alias}.size, {alias}.virtual_size,
         {alias}.checksum, {alias}.expected_checksum, {alias}.install_path, {alias}.error_text,
         {alias}.cleanup_path, {alias}.attempts, {alias}.owner, {alias}.lease_until, {alias}.updated"
    )
}

fn claim_sql((table, id): (&str, &str)) -> String {
    format!(
        "UPDATE {table} iz SET state = 'Downloading', owner = $1,
                lease_until = now() + make_interval(secs => $2), attempts = iz.attempts + 1,
                bytes_done = 0, bytes_total = NULL, error_text = NULL, updated = now()
         WHERE (iz.{id}, iz.zone_id) IN (
             SELECT w.{id}, w.zone_id FROM {table} w
             WHERE (w.state = 'Queued'
                    OR (w.state = 'Downloading' AND w.lease_until < now())
                    -- its server stopped cleanly (deregistered): no need to wait for the lease
                    OR (w.state = 'Downloading'
                        AND NOT EXISTS (SELECT 1 FROM management_servers m WHERE m.id = w.owner)))
               AND EXISTS (SELECT 1 FROM image_stores s WHERE s.zone_id = w.zone_id AND NOT s.readonly)
             ORDER BY w.updated
             LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING {}",
        columns("iz", id)
    )
}

fn progress_sql((table, id): (&str, &str)) -> String {
    format!(
        "UPDATE {table} SET bytes_done = $4, bytes_total = $5,
                lease_until = now() + make_interval(secs => $6), updated = now()
         WHERE {id} = $1 AND zone_id = $2 AND owner = $3 AND state = 'Downloading'"
    )
}

fn set_store_sql((table, id): (&str, &str)) -> String {
    format!(
        "UPDATE {table} SET image_store_id = $4, install_path = $5
         WHERE {id} = $1 AND zone_id = $2 AND owner = $3 AND state = 'Downloading'"
    )
}

fn finish_ready_sql((table, id): (&str, &str)) -> String {
    format!(
        "UPDATE {table} SET state = 'Ready', size = $4, bytes_done = $4, checksum = $5,
                virtual_size = $6, error_text = NULL, owner = NULL, lease_until = NULL, updated = now()
         WHERE {id} = $1 AND zone_id = $2 AND owner = $3 AND state = 'Downloading'"
    )
}

fn finish_error_sql((table, id): (&str, &str)) -> String {
    format!(
        "UPDATE {table} SET state = 'Error', error_text = $4, cleanup_path = $5, owner = NULL,
                lease_until = NULL, updated = now()
         WHERE {id} = $1 AND zone_id = $2 AND owner = $3 AND state = 'Downloading'"
    )
}

fn mark_deleting_sql((table, id): (&str, &str)) -> String {
    format!(
        "UPDATE {table} x SET state = 'Deleting', owner = NULL, lease_until = NULL, updated = now()
         WHERE x.{id} = $1 AND x.zone_id = $2 RETURNING {}",
        columns("x", id)
    )
}

fn delete_sql((table, id): (&str, &str)) -> String {
    format!("DELETE FROM {table} WHERE {id} = $1 AND zone_id = $2")
}

fn list_cleanup_sql((table, id): (&str, &str)) -> String {
    format!(
        "SELECT iz.{id}, iz.zone_id, iz.cleanup_path, s.url FROM {table} iz
         JOIN image_stores s ON s.id = iz.image_store_id
         WHERE iz.cleanup_path IS NOT NULL"
    )
}

fn cleanup_done_sql((table, id): (&str, &str)) -> String {
    format!(
        "UPDATE {table} SET cleanup_path = NULL WHERE {id} = $1 AND zone_id = $2 AND cleanup_path = $3"
    )
}

stmt!(ISO_COPY_CLAIM: CopyRow = claim_sql(ISO));
stmt!(TEMPLATE_COPY_CLAIM: CopyRow = claim_sql(TEMPLATE));
stmt!(ISO_COPY_PROGRESS = progress_sql(ISO));
stmt!(TEMPLATE_COPY_PROGRESS = progress_sql(TEMPLATE));
stmt!(ISO_COPY_SET_STORE = set_store_sql(ISO));
stmt!(TEMPLATE_COPY_SET_STORE = set_store_sql(TEMPLATE));
stmt!(ISO_COPY_FINISH_READY = finish_ready_sql(ISO));
stmt!(TEMPLATE_COPY_FINISH_READY = finish_ready_sql(TEMPLATE));
stmt!(ISO_COPY_FINISH_ERROR = finish_error_sql(ISO));
stmt!(TEMPLATE_COPY_FINISH_ERROR = finish_error_sql(TEMPLATE));
stmt!(ISO_COPY_MARK_DELETING: CopyRow = mark_deleting_sql(ISO));
stmt!(TEMPLATE_COPY_MARK_DELETING: CopyRow = mark_deleting_sql(TEMPLATE));
stmt!(ISO_COPY_DELETE = delete_sql(ISO));
stmt!(TEMPLATE_COPY_DELETE = delete_sql(TEMPLATE));
stmt!(ISO_COPY_LIST_CLEANUP: (Uuid, ZoneId, String, String) = list_cleanup_sql(ISO));
stmt!(TEMPLATE_COPY_LIST_CLEANUP: (Uuid, ZoneId, String, String) = list_cleanup_sql(TEMPLATE));
stmt!(ISO_COPY_CLEANUP_DONE = cleanup_done_sql(ISO));
stmt!(TEMPLATE_COPY_CLEANUP_DONE = cleanup_done_sql(TEMPLATE));

/// The statement of `kind`.
fn pick<R>(
    kind: Kind,
    iso: &'static super::Stmt<R>,
    template: &'static super::Stmt<R>,
) -> &'static super::Stmt<R> {
    match kind {
        Kind::Iso => iso,
        Kind::Template => template,
    }
}

/// Claims up to `limit` copies of `kind` for management server `owner`: queued ones
/// whose zone has writable secondary storage, and ones whose owner's lease ran out (it
/// died) or whose owner stopped.
pub async fn copy_claim(
    db: impl PgExecutor<'_>,
    kind: Kind,
    owner: ManagementServerId,
    lease_secs: i64,
    limit: i64,
) -> Result<Vec<CopyRow>> {
    Ok(pick(kind, &ISO_COPY_CLAIM, &TEMPLATE_COPY_CLAIM)
        .query_as()
        .bind(owner)
        .bind(lease_secs as f64)
        .bind(limit)
        .fetch_all(db)
        .await?)
}

/// Progress, and the lease renewed; fenced on the owner. `false`: the copy is no longer
/// ours (deleted, or taken over) and must stop.
#[allow(clippy::too_many_arguments)]
pub async fn copy_progress(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
    zone_id: ZoneId,
    owner: ManagementServerId,
    done: i64,
    total: Option<i64>,
    lease_secs: i64,
) -> Result<bool> {
    let r = pick(kind, &ISO_COPY_PROGRESS, &TEMPLATE_COPY_PROGRESS)
        .query()
        .bind(image_id)
        .bind(zone_id)
        .bind(owner)
        .bind(done)
        .bind(total)
        .bind(lease_secs as f64)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets the store the download goes to (chosen when it starts).
pub async fn copy_set_store(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
    zone_id: ZoneId,
    owner: ManagementServerId,
    store_id: ImageStoreId,
    install_path: &str,
) -> Result<bool> {
    let r = pick(kind, &ISO_COPY_SET_STORE, &TEMPLATE_COPY_SET_STORE)
        .query()
        .bind(image_id)
        .bind(zone_id)
        .bind(owner)
        .bind(store_id)
        .bind(install_path)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// What a finished download is: its size, digest and (disk images) virtual size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished<'a> {
    pub size: i64,
    pub checksum: &'a str,
    pub virtual_size: Option<i64>,
}

/// The end of a download, fenced on the owner: Ready with size and digest, or Error
/// with its text and the partial file it may have left.
pub async fn copy_finish(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
    zone_id: ZoneId,
    owner: ManagementServerId,
    outcome: std::result::Result<Finished<'_>, (&str, Option<&str>)>,
) -> Result<bool> {
    let q = match outcome {
        Ok(f) => pick(kind, &ISO_COPY_FINISH_READY, &TEMPLATE_COPY_FINISH_READY)
            .query()
            .bind(image_id)
            .bind(zone_id)
            .bind(owner)
            .bind(f.size)
            .bind(f.checksum.to_string())
            .bind(f.virtual_size),
        Err((text, partial)) => pick(kind, &ISO_COPY_FINISH_ERROR, &TEMPLATE_COPY_FINISH_ERROR)
            .query()
            .bind(image_id)
            .bind(zone_id)
            .bind(owner)
            .bind(text.to_string())
            .bind(partial.map(str::to_string)),
    };
    Ok(q.execute(db).await?.rows_affected() == 1)
}

/// Deleting: the copy stops downloading (its fenced updates fail) and is being removed.
pub async fn copy_mark_deleting(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
    zone_id: ZoneId,
) -> Result<Option<CopyRow>> {
    Ok(
        pick(kind, &ISO_COPY_MARK_DELETING, &TEMPLATE_COPY_MARK_DELETING)
            .query_as()
            .bind(image_id)
            .bind(zone_id)
            .fetch_optional(db)
            .await?,
    )
}

pub async fn copy_delete(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
    zone_id: ZoneId,
) -> Result<()> {
    pick(kind, &ISO_COPY_DELETE, &TEMPLATE_COPY_DELETE)
        .query()
        .bind(image_id)
        .bind(zone_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Copies with a partial file left behind, and their store's URL.
pub async fn copy_list_cleanup(
    db: impl PgExecutor<'_>,
    kind: Kind,
) -> Result<Vec<(Uuid, ZoneId, String, String)>> {
    Ok(
        pick(kind, &ISO_COPY_LIST_CLEANUP, &TEMPLATE_COPY_LIST_CLEANUP)
            .query_as()
            .fetch_all(db)
            .await?,
    )
}

pub async fn copy_cleanup_done(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
    zone_id: ZoneId,
    path: &str,
) -> Result<()> {
    pick(kind, &ISO_COPY_CLEANUP_DONE, &TEMPLATE_COPY_CLEANUP_DONE)
        .query()
        .bind(image_id)
        .bind(zone_id)
        .bind(path.to_string())
        .execute(db)
        .await?;
    Ok(())
}

// --- launch permissions: the accounts a private image is shared with ---

/// An image family's permission table, its id column, and the images' table.
const ISO_PERMS: (&str, &str, &str) = ("iso_permissions", "iso_id", "isos");
const TEMPLATE_PERMS: (&str, &str, &str) = ("template_permissions", "template_id", "templates");

fn permission_add_sql((table, id, _): (&str, &str, &str)) -> String {
    format!("INSERT INTO {table} ({id}, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
}

fn permission_remove_sql((table, id, _): (&str, &str, &str)) -> String {
    format!("DELETE FROM {table} WHERE {id} = $1 AND account_id = ANY($2)")
}

fn permission_reset_sql((table, id, _): (&str, &str, &str)) -> String {
    format!("DELETE FROM {table} WHERE {id} = $1")
}

fn permission_list_sql((table, id, _): (&str, &str, &str)) -> String {
    format!(
        "SELECT a.id, a.name, pr.id FROM {table} p
         JOIN accounts a ON a.id = p.account_id
         LEFT JOIN projects pr ON pr.account_id = a.id
         WHERE p.{id} = $1 ORDER BY a.name"
    )
}

fn visible_to_sql((table, id, images): (&str, &str, &str)) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM {images} t
         WHERE t.id = $1 AND t.removed IS NULL
           AND (t.is_public OR t.account_id = $2
                OR EXISTS (SELECT 1 FROM {table} p WHERE p.{id} = t.id AND p.account_id = $2)))"
    )
}

stmt!(ISO_PERMISSION_ADD = permission_add_sql(ISO_PERMS));
stmt!(TEMPLATE_PERMISSION_ADD = permission_add_sql(TEMPLATE_PERMS));
stmt!(ISO_PERMISSION_REMOVE = permission_remove_sql(ISO_PERMS));
stmt!(TEMPLATE_PERMISSION_REMOVE = permission_remove_sql(TEMPLATE_PERMS));
stmt!(ISO_PERMISSION_RESET = permission_reset_sql(ISO_PERMS));
stmt!(TEMPLATE_PERMISSION_RESET = permission_reset_sql(TEMPLATE_PERMS));
stmt!(ISO_PERMISSION_LIST: (Uuid, String, Option<Uuid>) = permission_list_sql(ISO_PERMS));
stmt!(TEMPLATE_PERMISSION_LIST: (Uuid, String, Option<Uuid>) = permission_list_sql(TEMPLATE_PERMS));
stmt!(ISO_VISIBLE_TO: Scalar<bool> = visible_to_sql(ISO_PERMS));
stmt!(TEMPLATE_VISIBLE_TO: Scalar<bool> = visible_to_sql(TEMPLATE_PERMS));

/// Shares the image with `account_id` (again: no change).
pub async fn permission_add(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
    account_id: AccountId,
) -> Result<()> {
    pick(kind, &ISO_PERMISSION_ADD, &TEMPLATE_PERMISSION_ADD)
        .query()
        .bind(image_id)
        .bind(account_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn permission_remove(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
    accounts: &[AccountId],
) -> Result<()> {
    pick(kind, &ISO_PERMISSION_REMOVE, &TEMPLATE_PERMISSION_REMOVE)
        .query()
        .bind(image_id)
        .bind(accounts.to_vec())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn permission_reset(db: impl PgExecutor<'_>, kind: Kind, image_id: Uuid) -> Result<()> {
    pick(kind, &ISO_PERMISSION_RESET, &TEMPLATE_PERMISSION_RESET)
        .query()
        .bind(image_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The accounts the image is shared with: (id, name, and the project whose account it
/// is, for a project's).
pub async fn permission_list(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
) -> Result<Vec<(Uuid, String, Option<Uuid>)>> {
    Ok(pick(kind, &ISO_PERMISSION_LIST, &TEMPLATE_PERMISSION_LIST)
        .query_as()
        .bind(image_id)
        .fetch_all(db)
        .await?)
}

/// Whether `account_id` may see and use the image: it owns it, it is public, or it is
/// shared with it (launch permission). Root admins may use any image; callers check that
/// themselves.
pub async fn visible_to(
    db: impl PgExecutor<'_>,
    kind: Kind,
    image_id: Uuid,
    account_id: AccountId,
) -> Result<bool> {
    Ok(pick(kind, &ISO_VISIBLE_TO, &TEMPLATE_VISIBLE_TO)
        .query_scalar()
        .bind(image_id)
        .bind(account_id)
        .fetch_one(db)
        .await?)
}

statements![
    ISO_COPY_CLAIM,
    TEMPLATE_COPY_CLAIM,
    ISO_COPY_PROGRESS,
    TEMPLATE_COPY_PROGRESS,
    ISO_COPY_SET_STORE,
    TEMPLATE_COPY_SET_STORE,
    ISO_COPY_FINISH_READY,
    TEMPLATE_COPY_FINISH_READY,
    ISO_COPY_FINISH_ERROR,
    TEMPLATE_COPY_FINISH_ERROR,
    ISO_COPY_MARK_DELETING,
    TEMPLATE_COPY_MARK_DELETING,
    ISO_COPY_DELETE,
    TEMPLATE_COPY_DELETE,
    ISO_COPY_LIST_CLEANUP,
    TEMPLATE_COPY_LIST_CLEANUP,
    ISO_COPY_CLEANUP_DONE,
    TEMPLATE_COPY_CLEANUP_DONE,
    ISO_PERMISSION_ADD,
    TEMPLATE_PERMISSION_ADD,
    ISO_PERMISSION_REMOVE,
    TEMPLATE_PERMISSION_REMOVE,
    ISO_PERMISSION_RESET,
    TEMPLATE_PERMISSION_RESET,
    ISO_PERMISSION_LIST,
    TEMPLATE_PERMISSION_LIST,
    ISO_VISIBLE_TO,
    TEMPLATE_VISIBLE_TO
];
