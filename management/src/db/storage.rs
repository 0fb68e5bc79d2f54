//! Primary storage pools and image stores (secondary storage).

use crate::ids::{ClusterId, ImageStoreId, PodId, StoragePoolId, ZoneId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::rules::poolstate::PoolState;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct PoolRow {
    pub id: StoragePoolId,
    pub name: String,
    pub zone_id: ZoneId,
    pub pod_id: Option<PodId>,
    pub cluster_id: Option<ClusterId>,
    pub scope: String,
    pub url: String,
    pub server: String,
    pub path: String,
    pub tags: Vec<String>,
    pub state: PoolState,
    pub capacity_bytes: i64,
    pub used_bytes: i64,
    /// The virtual sizes of the live volumes on it (derived, not stored).
    #[sqlx(default)]
    pub allocated_bytes: i64,
    pub stats_at: Option<DateTime<Utc>>,
    pub stats_error: Option<String>,
    pub created: DateTime<Utc>,
    #[sqlx(default)]
    pub zone_name: String,
    #[sqlx(default)]
    pub pod_name: Option<String>,
    #[sqlx(default)]
    pub cluster_name: Option<String>,
}

const POOL_SELECT: &str = "p.*, z.name AS zone_name, pd.name AS pod_name, c.name AS cluster_name,
     (SELECT COALESCE(sum(v.size_bytes), 0)::bigint FROM volumes v
      WHERE v.pool_id = p.id AND v.removed IS NULL) AS allocated_bytes";
const POOL_JOINS: &str = "JOIN zones z ON z.id = p.zone_id
     LEFT JOIN pods pd ON pd.id = p.pod_id
     LEFT JOIN clusters c ON c.id = p.cluster_id";

stmt!(POOL_INSERT = "INSERT INTO storage_pools (id, name, zone_id, pod_id, cluster_id, scope, url, server, path,
            tags, state, capacity_bytes, used_bytes, stats_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,now())");

pub async fn pool_insert(db: impl PgExecutor<'_>, p: &PoolRow) -> Result<()> {
    POOL_INSERT
        .query()
        .bind(p.id)
        .bind(&p.name)
        .bind(p.zone_id)
        .bind(p.pod_id)
        .bind(p.cluster_id)
        .bind(&p.scope)
        .bind(&p.url)
        .bind(&p.server)
        .bind(&p.path)
        .bind(&p.tags)
        .bind(p.state)
        .bind(p.capacity_bytes)
        .bind(p.used_bytes)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(POOL_FETCH: PoolRow = format!("SELECT {POOL_SELECT} FROM storage_pools p {POOL_JOINS} WHERE p.id = $1"));

pub async fn pool_fetch(db: impl PgExecutor<'_>, id: StoragePoolId) -> Result<Option<PoolRow>> {
    Ok(POOL_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(POOL_FETCH_FOR_UPDATE: PoolRow = "SELECT p.* FROM storage_pools p WHERE p.id = $1 FOR UPDATE");

pub async fn pool_fetch_for_update(
    db: impl PgExecutor<'_>,
    id: StoragePoolId,
) -> Result<Option<PoolRow>> {
    Ok(POOL_FETCH_FOR_UPDATE
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct PoolFilter {
    pub common: ListFilter,
    pub zone_id: Option<ZoneId>,
    pub pod_id: Option<PodId>,
    pub cluster_id: Option<ClusterId>,
    pub server: Option<String>,
    pub path: Option<String>,
    pub scope: Option<String>,
    pub state: Option<PoolState>,
}

stmt!(POOL_LIST: Counted<PoolRow> = named paged_sql(
    POOL_SELECT,
    "storage_pools",
    "p",
    POOL_JOINS,
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword OR {a}.url ILIKE $keyword)
             AND ($zone_id::uuid IS NULL OR {a}.zone_id = $zone_id)
             AND ($pod_id::uuid IS NULL OR {a}.pod_id = $pod_id)
             AND ($cluster_id::uuid IS NULL OR {a}.cluster_id = $cluster_id OR ({a}.scope = 'ZONE' AND $cluster_id IS NOT NULL AND {a}.zone_id = (SELECT zone_id FROM clusters WHERE id = $cluster_id)))
             AND ($server::text IS NULL OR {a}.server = $server)
             AND ($path::text IS NULL OR {a}.path = $path)
             AND ($scope::text IS NULL OR lower({a}.scope) = lower($scope))
             AND ($state::text IS NULL OR {a}.state = $state)",
    "p.created, p.id",
));

pub async fn pool_list(db: impl PgExecutor<'_>, f: &PoolFilter) -> Result<(Vec<PoolRow>, i64)> {
    let rows: Vec<Counted<_>> = POOL_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("zone_id", f.zone_id)
                .set("pod_id", f.pod_id)
                .set("cluster_id", f.cluster_id)
                .set("server", &f.server)
                .set("path", &f.path)
                .set("scope", &f.scope)
                .set("state", f.state)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(
    POOL_UPDATE =
        "UPDATE storage_pools SET name=$2, tags=$3, state=$4, capacity_bytes=$5 WHERE id=$1"
);

/// Name, tags and the admin's capacity override.
pub async fn pool_update(db: impl PgExecutor<'_>, p: &PoolRow) -> Result<()> {
    POOL_UPDATE
        .query()
        .bind(p.id)
        .bind(&p.name)
        .bind(&p.tags)
        .bind(p.state)
        .bind(p.capacity_bytes)
        .execute(db)
        .await?;
    Ok(())
}

/// One tag of one primary pool (listStorageTags).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct PoolTagRow {
    pub pool_id: StoragePoolId,
    pub pool_name: String,
    pub name: String,
}

stmt!(POOL_TAG_LIST: Counted<PoolTagRow> = named "SELECT p.id AS pool_id, p.name AS pool_name, t.name,
                count(*) OVER () AS total
         FROM storage_pools p CROSS JOIN LATERAL unnest(p.tags) WITH ORDINALITY AS t(name, n)
         WHERE ($keyword::text IS NULL OR t.name ILIKE $keyword)
         ORDER BY p.created, p.id, t.n OFFSET $offset LIMIT $limit");

/// Every primary pool's tags, one row each (by pool, in the order given), paged.
pub async fn pool_tag_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
) -> Result<(Vec<PoolTagRow>, i64)> {
    let rows: Vec<Counted<_>> = POOL_TAG_LIST
        .query_as_with(
            Binds::new()
                .set("keyword", f.keyword_pattern())
                .set("offset", f.offset)
                .set("limit", f.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(POOL_DELETE = "DELETE FROM storage_pools WHERE id=$1");

pub async fn pool_delete(db: impl PgExecutor<'_>, id: StoragePoolId) -> Result<bool> {
    let r = POOL_DELETE.query().bind(id).execute(db).await?;
    Ok(r.rows_affected() == 1)
}

/// Which kind of storage a capacity refresh is for.
#[derive(Debug, Clone, Copy)]
pub enum StorageKind {
    Pool,
    Store,
}

stmt!(POOL_SET_STATS = "UPDATE storage_pools SET capacity_bytes=$2, used_bytes=$3, stats_at=now(), stats_error=NULL WHERE id=$1");
stmt!(POOL_SET_STATS_ERROR = "UPDATE storage_pools SET stats_error=$2 WHERE id=$1");
stmt!(STORE_SET_STATS = "UPDATE image_stores SET capacity_bytes=$2, used_bytes=$3, stats_at=now(), stats_error=NULL WHERE id=$1");
stmt!(STORE_SET_STATS_ERROR = "UPDATE image_stores SET stats_error=$2 WHERE id=$1");

/// Records an FSSTAT result (or why it failed) on a pool or an image store.
pub async fn storage_set_stats(
    db: impl PgExecutor<'_>,
    kind: StorageKind,
    id: Uuid,
    stats: std::result::Result<(i64, i64), &str>,
) -> Result<()> {
    let (ok, err) = match kind {
        StorageKind::Pool => (&POOL_SET_STATS, &POOL_SET_STATS_ERROR),
        StorageKind::Store => (&STORE_SET_STATS, &STORE_SET_STATS_ERROR),
    };
    match stats {
        Ok((total, used)) => ok.query().bind(id).bind(total).bind(used),
        Err(e) => err.query().bind(id).bind(e),
    }
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct StoreRow {
    pub id: ImageStoreId,
    pub name: String,
    pub zone_id: ZoneId,
    pub provider: String,
    pub url: String,
    pub server: String,
    pub path: String,
    pub readonly: bool,
    pub capacity_bytes: i64,
    pub used_bytes: i64,
    pub stats_at: Option<DateTime<Utc>>,
    pub stats_error: Option<String>,
    pub created: DateTime<Utc>,
    #[sqlx(default)]
    pub zone_name: String,
}

stmt!(STORE_INSERT = "INSERT INTO image_stores (id, name, zone_id, provider, url, server, path, capacity_bytes, used_bytes, stats_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,now())");

pub async fn store_insert(db: impl PgExecutor<'_>, s: &StoreRow) -> Result<()> {
    STORE_INSERT
        .query()
        .bind(s.id)
        .bind(&s.name)
        .bind(s.zone_id)
        .bind(&s.provider)
        .bind(&s.url)
        .bind(&s.server)
        .bind(&s.path)
        .bind(s.capacity_bytes)
        .bind(s.used_bytes)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(STORE_FETCH: StoreRow = "SELECT s.*, z.name AS zone_name FROM image_stores s JOIN zones z ON z.id = s.zone_id WHERE s.id = $1");

pub async fn store_fetch(db: impl PgExecutor<'_>, id: ImageStoreId) -> Result<Option<StoreRow>> {
    Ok(STORE_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

#[derive(Debug, Clone, Default)]
pub struct StoreFilter {
    pub common: ListFilter,
    pub zone_id: Option<ZoneId>,
    pub provider: Option<String>,
}

stmt!(STORE_LIST: Counted<StoreRow> = named paged_sql(
    "s.*, z.name AS zone_name",
    "image_stores",
    "s",
    "JOIN zones z ON z.id = s.zone_id",
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword OR {a}.url ILIKE $keyword)
             AND ($zone_id::uuid IS NULL OR {a}.zone_id = $zone_id)
             AND ($provider::text IS NULL OR lower({a}.provider) = lower($provider))",
    "s.created, s.id",
));

pub async fn store_list(db: impl PgExecutor<'_>, f: &StoreFilter) -> Result<(Vec<StoreRow>, i64)> {
    let rows: Vec<Counted<_>> = STORE_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("zone_id", f.zone_id)
                .set("provider", &f.provider)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(STORE_PICK_FOR_ZONE: StoreRow = "SELECT s.*, z.name AS zone_name FROM image_stores s JOIN zones z ON z.id = s.zone_id
         WHERE s.zone_id = $1 AND NOT s.readonly
         ORDER BY (s.capacity_bytes - s.used_bytes) DESC, s.created LIMIT 1");

/// The writable image store of a zone with the most free space.
pub async fn store_pick_for_zone(
    db: impl PgExecutor<'_>,
    zone_id: ZoneId,
) -> Result<Option<StoreRow>> {
    Ok(STORE_PICK_FOR_ZONE
        .query_as()
        .bind(zone_id)
        .fetch_optional(db)
        .await?)
}

stmt!(STORE_DELETE = "DELETE FROM image_stores WHERE id=$1");

pub async fn store_delete(db: impl PgExecutor<'_>, id: ImageStoreId) -> Result<bool> {
    let r = STORE_DELETE.query().bind(id).execute(db).await?;
    Ok(r.rows_affected() == 1)
}

stmt!(STORE_IMAGE_COUNT: Scalar<i64> = "SELECT (SELECT count(*) FROM iso_zones WHERE image_store_id = $1)
              + (SELECT count(*) FROM template_zones WHERE image_store_id = $1)");

/// How many ISO and template copies an image store holds (or is downloading).
pub async fn store_image_count(db: impl PgExecutor<'_>, id: ImageStoreId) -> Result<i64> {
    Ok(STORE_IMAGE_COUNT
        .query_scalar()
        .bind(id)
        .fetch_one(db)
        .await?)
}

statements![
    POOL_INSERT,
    POOL_FETCH,
    POOL_FETCH_FOR_UPDATE,
    POOL_LIST,
    POOL_UPDATE,
    POOL_TAG_LIST,
    POOL_DELETE,
    POOL_SET_STATS,
    POOL_SET_STATS_ERROR,
    STORE_SET_STATS,
    STORE_SET_STATS_ERROR,
    STORE_INSERT,
    STORE_FETCH,
    STORE_LIST,
    STORE_PICK_FOR_ZONE,
    STORE_DELETE,
    STORE_IMAGE_COUNT
];
