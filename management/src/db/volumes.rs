//! Volumes: the root disks of instances on primary storage pools, and listVolumes (the
//! pool a new one goes to is `rules::placement::choose_pool` over `capacity::pool_candidates`).

use crate::ids::{
    AccountId, ClusterId, DiskOfferingId, DomainId, IsoId, PodId, ServiceOfferingId, StoragePoolId,
    VmId, VolumeId, ZoneId,
};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Binds, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::rules::states::VolumeState;

stmt!(VOLUME_COUNT_ON_POOL: Scalar<i64> = "SELECT count(*) FROM volumes WHERE pool_id = $1 AND removed IS NULL");

/// Live volumes on a storage pool (it cannot be deleted while any exist).
pub async fn volume_count_on_pool(db: &mut PgConnection, pool_id: StoragePoolId) -> Result<i64> {
    Ok(VOLUME_COUNT_ON_POOL
        .query_scalar()
        .bind(pool_id)
        .fetch_one(&mut *db)
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct VolumeRow {
    pub id: VolumeId,
    pub vm_id: Option<VmId>,
    pub name: String,
    pub volume_type: String,
    pub pool_id: StoragePoolId,
    pub path: String,
    pub size_bytes: i64,
    pub state: VolumeState,
    pub created: DateTime<Utc>,
    pub removed: Option<DateTime<Utc>>,
    /// The template whose base (on the same pool) this volume is an overlay on.
    pub template_id: Option<Uuid>,
}

// A root volume's owner, zone and device (0) are its VM's.
stmt!(
    VOLUME_INSERT =
        "INSERT INTO volumes (id, vm_id, name, volume_type, pool_id, path, size_bytes, state, template_id,
                              attached, account_id, domain_id, zone_id, device_id)
         SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9, CASE WHEN $2::uuid IS NOT NULL THEN now() END,
                v.account_id, v.domain_id, p.zone_id,
                CASE WHEN $2::uuid IS NOT NULL AND $4 = 'ROOT' THEN 0 END
         FROM storage_pools p LEFT JOIN vms v ON v.id = $2::uuid
         WHERE p.id = $5
         ON CONFLICT (id) DO NOTHING"
);

pub async fn volume_insert(db: impl PgExecutor<'_>, v: &VolumeRow) -> Result<()> {
    VOLUME_INSERT
        .query()
        .bind(v.id)
        .bind(v.vm_id)
        .bind(&v.name)
        .bind(&v.volume_type)
        .bind(v.pool_id)
        .bind(&v.path)
        .bind(v.size_bytes)
        .bind(v.state)
        .bind(v.template_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(VOLUME_ROOT_OF_VM: VolumeRow = "SELECT * FROM volumes WHERE vm_id = $1 AND volume_type = 'ROOT' AND removed IS NULL");

/// The VM's live root volume.
pub async fn volume_root_of_vm(db: impl PgExecutor<'_>, vm_id: VmId) -> Result<Option<VolumeRow>> {
    Ok(VOLUME_ROOT_OF_VM
        .query_as()
        .bind(vm_id)
        .fetch_optional(db)
        .await?)
}

stmt!(VOLUME_FETCH: VolumeRow = "SELECT * FROM volumes WHERE id = $1");

/// A volume, removed or not.
pub async fn volume_fetch(db: impl PgExecutor<'_>, id: VolumeId) -> Result<Option<VolumeRow>> {
    Ok(VOLUME_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(
    VOLUME_RETIRE_ROOT = "UPDATE volumes SET state = 'Destroy', removed = now()
         WHERE id = $1 AND removed IS NULL"
);
stmt!(
    VOLUME_ADOPT_ROOT =
        "UPDATE volumes SET vm_id = $2, template_id = $3, attached = now(), device_id = 0 WHERE id = $1"
);

/// restoreVirtualMachine: `new` becomes the VM's root volume and `old` is retired (its
/// file is removed next). One transaction, so the VM always has one root volume.
pub async fn volume_replace_root(
    db: &mut PgConnection,
    vm_id: VmId,
    old: Uuid,
    new: Uuid,
    template_id: Option<Uuid>,
) -> Result<()> {
    VOLUME_RETIRE_ROOT
        .query()
        .bind(old)
        .execute(&mut *db)
        .await?;
    VOLUME_ADOPT_ROOT
        .query()
        .bind(new)
        .bind(Some(vm_id))
        .bind(template_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

stmt!(
    VOLUME_UNRETIRE_ROOT = "UPDATE volumes SET state = 'Ready', removed = NULL
         WHERE id = $1 AND state = 'Destroy'"
);
stmt!(
    VOLUME_DETACH =
        "UPDATE volumes SET vm_id = NULL, attached = NULL, device_id = NULL WHERE id = $1"
);

/// Undoes [`volume_replace_root`] (while the old file is still there).
pub async fn volume_unreplace_root(db: &mut PgConnection, old: Uuid, new: Uuid) -> Result<()> {
    VOLUME_DETACH.query().bind(new).execute(&mut *db).await?;
    VOLUME_UNRETIRE_ROOT
        .query()
        .bind(old)
        .execute(&mut *db)
        .await?;
    Ok(())
}

stmt!(VOLUME_SET_STATE = "UPDATE volumes SET state = $2 WHERE id = $1");

pub async fn volume_set_state(
    db: impl PgExecutor<'_>,
    id: VolumeId,
    state: VolumeState,
) -> Result<()> {
    VOLUME_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    VOLUME_MARK_EXPUNGED = format!(
        "WITH t AS ({})
     UPDATE volumes SET state = 'Expunged', removed = now() WHERE id = $1",
        super::tags::drop_tags_sql(super::tags::TagType::Volume, "$1")
    )
);

/// The volume's file is gone: Expunged and removed (no longer counted on its pool), and
/// its tags with it. (A retired root volume keeps them until then: a failed restore
/// brings it back.)
pub async fn volume_mark_expunged(db: impl PgExecutor<'_>, id: VolumeId) -> Result<()> {
    VOLUME_MARK_EXPUNGED.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(VOLUME_FILES_ON_POOL: (Uuid, String) = "SELECT id, path FROM volumes
         WHERE pool_id = $1 AND removed IS NULL ORDER BY id");

/// The live volumes of a pool: (id, file path relative to the pool's export).
pub async fn volume_files_on_pool(
    db: impl PgExecutor<'_>,
    pool_id: StoragePoolId,
) -> Result<Vec<(Uuid, String)>> {
    Ok(VOLUME_FILES_ON_POOL
        .query_as()
        .bind(pool_id)
        .fetch_all(db)
        .await?)
}

stmt!(
    VOLUME_SET_PHYSICAL = "UPDATE volumes v SET physical_bytes = m.bytes
         FROM unnest($1::uuid[], $2::bigint[]) AS m(id, bytes) WHERE v.id = m.id"
);

/// Records what each volume's file takes on its pool: `sizes[i]` bytes for `ids[i]`.
pub async fn volume_set_physical(
    db: impl PgExecutor<'_>,
    ids: &[VolumeId],
    sizes: &[i64],
) -> Result<()> {
    VOLUME_SET_PHYSICAL
        .query()
        .bind(ids)
        .bind(sizes)
        .execute(db)
        .await?;
    Ok(())
}

/// A listVolumes row.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct VolumeListRow {
    #[sqlx(flatten)]
    pub volume: VolumeRow,
    /// Its device on its VM (0: the root volume).
    #[sqlx(default)]
    pub device_id: Option<i32>,
    /// When it was attached to its VM (none while it has none).
    pub attached: Option<DateTime<Utc>>,
    /// What its file takes on the pool, as last measured (none before the first time).
    pub physical_bytes: Option<i64>,
    pub zone_id: ZoneId,
    pub zone_name: String,
    pub pool_name: String,
    pub pool_scope: String,
    pub vm_name: Option<String>,
    pub vm_display_name: Option<String>,
    pub vm_state: Option<crate::rules::vmstate::VmState>,
    pub account_id: Option<AccountId>,
    pub account_name: Option<String>,
    pub domain_id: Option<DomainId>,
    pub domain_name: Option<String>,
    pub disk_offering_id: Option<DiskOfferingId>,
    pub disk_offering_name: Option<String>,
    #[sqlx(default)]
    pub disk_offering_display_text: Option<String>,
    #[sqlx(default)]
    pub domain_path: Option<String>,
    /// The project owning it (through its VM's account).
    #[sqlx(default)]
    pub project_id: Option<Uuid>,
    #[sqlx(default)]
    pub project_name: Option<String>,
    /// Where its pool is (zone-wide pools: none).
    #[sqlx(default)]
    pub pod_id: Option<PodId>,
    #[sqlx(default)]
    pub pod_name: Option<String>,
    #[sqlx(default)]
    pub cluster_id: Option<ClusterId>,
    #[sqlx(default)]
    pub cluster_name: Option<String>,
    #[sqlx(default)]
    pub template_name: Option<String>,
    #[sqlx(default)]
    pub template_display_text: Option<String>,
    /// Its VM's ISO and service offering (answered for ROOT volumes).
    #[sqlx(default)]
    pub iso_id: Option<IsoId>,
    #[sqlx(default)]
    pub iso_name: Option<String>,
    #[sqlx(default)]
    pub iso_display_text: Option<String>,
    #[sqlx(default)]
    pub service_offering_id: Option<ServiceOfferingId>,
    #[sqlx(default)]
    pub service_offering_name: Option<String>,
    #[sqlx(default)]
    pub service_offering_display_text: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    pub common: ListFilter,
    pub account_id: Option<AccountId>,
    /// Any of these owners (a list's `projectid`).
    pub account_ids: Option<Vec<Uuid>>,
    /// Leave out what projects' own accounts own (CloudStack's `SkipProjectResources`:
    /// `listall` without `projectid`).
    pub skip_projects: bool,
    pub vm_id: Option<VmId>,
    pub zone_id: Option<ZoneId>,
    pub pool_id: Option<StoragePoolId>,
    pub volume_type: Option<String>,
    /// `tags[n].key`/`tags[n].value`: only volumes carrying every pair.
    pub tags: super::tags::TagMatch,
}

// A volume's owner is its own (a root volume's, its VM's; see migration 0039); its disk
// offering a data volume's own, a root volume's its VM's.
// A page in two statements, as for VMs (`vms::vm_list`): the page's ids and the total
// from the volumes alone (a root volume's VM joined only to find its owner; Postgres drops
// that join when no owner is asked for), then everything around those ids under one
// generic plan.
stmt!(VOLUME_LIST_PAGE: (VolumeId, i64) = named format!(
    "SELECT vol.id, (SELECT count(*) FROM volumes cnt LEFT JOIN vms cv ON cv.id = cnt.vm_id
                     WHERE {count_where}) AS total
     FROM volumes vol LEFT JOIN vms v ON v.id = vol.vm_id
     WHERE {page_where}
     ORDER BY vol.created, vol.id OFFSET $offset LIMIT $limit",
    count_where = volume_list_where("cnt", "cv"),
    page_where = volume_list_where("vol", "v"),
));

fn volume_list_where(vol: &str, vm: &str) -> String {
    let owner = format!("COALESCE({vol}.account_id, {vm}.account_id)");
    format!(
        "{vol}.removed IS NULL
           AND ($id::uuid IS NULL OR {vol}.id = $id)
           AND ($name::text IS NULL OR {vol}.name = $name)
           AND ($keyword::text IS NULL OR {vol}.name ILIKE $keyword)
           AND ($account_id::uuid IS NULL OR {owner} = $account_id)
           AND ($account_ids::uuid[] IS NULL OR {owner} = ANY($account_ids))
           AND (NOT $skip_projects::bool OR NOT EXISTS (SELECT 1 FROM accounts xpa
               WHERE xpa.id = {owner} AND xpa.account_type = 5))
           AND ($vm_id::uuid IS NULL OR {vol}.vm_id = $vm_id)
           AND ($zone_id::uuid IS NULL OR EXISTS (SELECT 1 FROM storage_pools xp
               WHERE xp.id = {vol}.pool_id AND xp.zone_id = $zone_id))
           AND ($pool_id::uuid IS NULL OR {vol}.pool_id = $pool_id)
           AND ($volume_type::text IS NULL OR {vol}.volume_type = upper($volume_type))
           AND ($ids::uuid[] IS NULL OR {vol}.id = ANY($ids))
           AND {}",
        super::tags::carries_sql(super::tags::TagType::Volume, &format!("{vol}.id"))
    )
}

stmt!(VOLUME_LIST_ROWS: VolumeListRow = "SELECT vol.id, vol.vm_id, vol.name, vol.volume_type, vol.pool_id, vol.path,
                vol.size_bytes, vol.state, vol.created, vol.removed, vol.template_id, vol.attached,
                vol.physical_bytes, vol.device_id,
                p.zone_id, z.name AS zone_name, p.name AS pool_name, p.scope AS pool_scope,
                v.name AS vm_name, v.display_name AS vm_display_name, v.state AS vm_state,
                a.id AS account_id, a.name AS account_name, d.id AS domain_id, d.name AS domain_name,
                o.id AS disk_offering_id, o.name AS disk_offering_name, o.display_text AS disk_offering_display_text,
                d.path AS domain_path, pr.id AS project_id, pr.name AS project_name,
                p.pod_id, pp.name AS pod_name, p.cluster_id, cl.name AS cluster_name,
                t.name AS template_name, t.display_text AS template_display_text,
                v.iso_id, i.name AS iso_name, i.display_text AS iso_display_text,
                v.service_offering_id, so.name AS service_offering_name,
                so.display_text AS service_offering_display_text
         FROM volumes vol
         JOIN storage_pools p ON p.id = vol.pool_id
         JOIN zones z ON z.id = p.zone_id
         LEFT JOIN vms v ON v.id = vol.vm_id
         LEFT JOIN accounts a ON a.id = COALESCE(vol.account_id, v.account_id)
         LEFT JOIN domains d ON d.id = COALESCE(vol.domain_id, v.domain_id)
         LEFT JOIN disk_offerings o ON o.id = CASE WHEN vol.volume_type = 'ROOT'
              THEN v.disk_offering_id ELSE vol.disk_offering_id END
         LEFT JOIN projects pr ON pr.account_id = a.id
         LEFT JOIN pods pp ON pp.id = p.pod_id
         LEFT JOIN clusters cl ON cl.id = p.cluster_id
         LEFT JOIN templates t ON t.id = vol.template_id
         LEFT JOIN isos i ON i.id = v.iso_id
         LEFT JOIN service_offerings so ON so.id = v.service_offering_id
         WHERE vol.id = ANY($1)
         ORDER BY vol.created, vol.id");

/// A page of volumes as `f` selects them, and how many it selects in all.
pub async fn volume_list(db: &sqlx::PgPool, f: &VolumeFilter) -> Result<(Vec<VolumeListRow>, i64)> {
    let page: Vec<(VolumeId, i64)> = VOLUME_LIST_PAGE
        .query_as_with(
            f.tags
                .bind(Binds::new())
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("account_id", f.account_id)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
                .set("vm_id", f.vm_id)
                .set("zone_id", f.zone_id)
                .set("pool_id", f.pool_id)
                .set("volume_type", &f.volume_type)
                .set("ids", &f.common.ids)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    super::rows_of_page(db, page, &VOLUME_LIST_ROWS).await
}

/// Who owns a volume: its own account and domain (a root volume's are its VM's).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct VolumeOwnerRow {
    pub account_id: Option<AccountId>,
    pub domain_id: Option<DomainId>,
}

stmt!(VOLUME_OWNER: VolumeOwnerRow = "SELECT COALESCE(vol.account_id, v.account_id) AS account_id,
                COALESCE(vol.domain_id, v.domain_id) AS domain_id FROM volumes vol
         LEFT JOIN vms v ON v.id = vol.vm_id
         WHERE vol.id = $1 AND vol.removed IS NULL");

/// The volume's owner, if the volume exists (not removed).
pub async fn volume_owner(db: impl PgExecutor<'_>, id: VolumeId) -> Result<Option<VolumeOwnerRow>> {
    Ok(VOLUME_OWNER.query_as().bind(id).fetch_optional(db).await?)
}

// --- Data volumes (issue 16) -------------------------------------------------------------

/// A live volume with its owner, zone, device and pool (root or data).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct DataVolumeRow {
    pub id: VolumeId,
    pub name: String,
    pub volume_type: String,
    pub vm_id: Option<VmId>,
    pub pool_id: StoragePoolId,
    pub path: String,
    pub size_bytes: i64,
    pub state: VolumeState,
    pub account_id: Option<AccountId>,
    pub domain_id: Option<DomainId>,
    pub zone_id: Option<ZoneId>,
    pub disk_offering_id: Option<DiskOfferingId>,
    pub device_id: Option<i32>,
    pub template_id: Option<Uuid>,
    pub created: DateTime<Utc>,
    /// Its pool's NFS server and export, name and cluster (none: zone-wide).
    pub pool_server: String,
    pub pool_export: String,
    pub pool_url: String,
    pub pool_name: String,
    pub pool_cluster_id: Option<Uuid>,
}

const DATA_VOLUME_COLUMNS: &str =
    "vol.id, vol.name, vol.volume_type, vol.vm_id, vol.pool_id, vol.path,
       vol.size_bytes, vol.state, vol.account_id, vol.domain_id, vol.zone_id, vol.disk_offering_id,
       vol.device_id, vol.template_id, vol.created, p.server AS pool_server, p.path AS pool_export,
       p.url AS pool_url, p.name AS pool_name, p.cluster_id AS pool_cluster_id
     FROM volumes vol JOIN storage_pools p ON p.id = vol.pool_id";

/// A new data volume (createVolume): its owner's, on the pool chosen for it, detached.
#[derive(Debug, Clone)]
pub struct NewDataVolume {
    pub id: VolumeId,
    pub name: String,
    pub pool_id: StoragePoolId,
    pub path: String,
    pub size_bytes: i64,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub zone_id: ZoneId,
    pub disk_offering_id: DiskOfferingId,
}

stmt!(
    DATA_VOLUME_INSERT =
        "INSERT INTO volumes (id, name, volume_type, pool_id, path, size_bytes, state,
                              account_id, domain_id, zone_id, disk_offering_id)
         VALUES ($1, $2, 'DATADISK', $3, $4, $5, 'Allocated', $6, $7, $8, $9)"
);

pub async fn data_volume_insert(db: impl PgExecutor<'_>, v: &NewDataVolume) -> Result<()> {
    DATA_VOLUME_INSERT
        .query()
        .bind(v.id)
        .bind(&v.name)
        .bind(v.pool_id)
        .bind(&v.path)
        .bind(v.size_bytes)
        .bind(v.account_id)
        .bind(v.domain_id)
        .bind(v.zone_id)
        .bind(v.disk_offering_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(DATA_VOLUME_FETCH: DataVolumeRow = format!("SELECT {DATA_VOLUME_COLUMNS}
         WHERE vol.id = $1 AND vol.removed IS NULL"));

/// A live volume (root or data) with its pool.
pub async fn data_volume_fetch(
    db: impl PgExecutor<'_>,
    id: VolumeId,
) -> Result<Option<DataVolumeRow>> {
    Ok(DATA_VOLUME_FETCH
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(DATA_VOLUME_AT_DEVICE: DataVolumeRow = format!("SELECT {DATA_VOLUME_COLUMNS}
         WHERE vol.vm_id = $1 AND vol.device_id = $2 AND vol.removed IS NULL"));

/// The volume at `device` of a VM.
pub async fn data_volume_at_device(
    db: impl PgExecutor<'_>,
    vm_id: VmId,
    device: i32,
) -> Result<Option<DataVolumeRow>> {
    Ok(DATA_VOLUME_AT_DEVICE
        .query_as()
        .bind(vm_id)
        .bind(device)
        .fetch_optional(db)
        .await?)
}

stmt!(DATA_VOLUMES_OF_VM: DataVolumeRow = format!("SELECT {DATA_VOLUME_COLUMNS}
         WHERE vol.vm_id = $1 AND vol.volume_type = 'DATADISK' AND vol.removed IS NULL
         ORDER BY vol.device_id"));

/// A VM's attached data volumes, by device.
pub async fn data_volumes_of_vm(
    db: impl PgExecutor<'_>,
    vm_id: VmId,
) -> Result<Vec<DataVolumeRow>> {
    Ok(DATA_VOLUMES_OF_VM
        .query_as()
        .bind(vm_id)
        .fetch_all(db)
        .await?)
}

stmt!(VOLUME_DEVICES_OF_VM: Scalar<Option<i32>> = "SELECT device_id FROM volumes
         WHERE vm_id = $1 AND removed IS NULL AND device_id IS NOT NULL ORDER BY device_id");

/// The device ids a VM's volumes use.
pub async fn volume_devices_of_vm(db: impl PgExecutor<'_>, vm_id: VmId) -> Result<Vec<i32>> {
    let all: Vec<Option<i32>> = VOLUME_DEVICES_OF_VM
        .query_scalar()
        .bind(vm_id)
        .fetch_all(db)
        .await?;
    Ok(all.into_iter().flatten().collect())
}

stmt!(
    DATA_VOLUME_ATTACH = "UPDATE volumes SET vm_id = $2, device_id = $3, attached = now()
         WHERE id = $1 AND vm_id IS NULL AND volume_type = 'DATADISK' AND removed IS NULL"
);

/// Records a detached data volume as attached at `device` (false: it was not detached).
/// The unique (VM, device) index refuses a device taken meanwhile.
pub async fn data_volume_attach(
    db: impl PgExecutor<'_>,
    id: VolumeId,
    vm_id: VmId,
    device: i32,
) -> Result<bool> {
    Ok(DATA_VOLUME_ATTACH
        .query()
        .bind(id)
        .bind(vm_id)
        .bind(device)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(
    DATA_VOLUME_DETACH = "UPDATE volumes SET vm_id = NULL, device_id = NULL, attached = NULL
         WHERE id = $1 AND volume_type = 'DATADISK'"
);

pub async fn data_volume_detach(db: impl PgExecutor<'_>, id: VolumeId) -> Result<()> {
    DATA_VOLUME_DETACH.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(
    DATA_VOLUMES_RELEASE = "UPDATE volumes SET vm_id = NULL, device_id = NULL, attached = NULL
         WHERE vm_id = $1 AND volume_type = 'DATADISK' AND removed IS NULL"
);

/// An expunged VM's data volumes stay, detached (CloudStack's too).
pub async fn data_volumes_release(db: impl PgExecutor<'_>, vm_id: VmId) -> Result<()> {
    DATA_VOLUMES_RELEASE.query().bind(vm_id).execute(db).await?;
    Ok(())
}

stmt!(
    VOLUME_SET_SIZE =
        "UPDATE volumes SET size_bytes = $2, disk_offering_id = COALESCE($3, disk_offering_id)
         WHERE id = $1"
);

/// resizeVolume: its new size (and offering, when one was given).
pub async fn volume_set_size(
    db: impl PgExecutor<'_>,
    id: VolumeId,
    size: i64,
    offering: Option<Uuid>,
) -> Result<()> {
    VOLUME_SET_SIZE
        .query()
        .bind(id)
        .bind(size)
        .bind(offering)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(VOLUME_SET_POOL = "UPDATE volumes SET pool_id = $2 WHERE id = $1");

/// The volume now lives on `pool` (migrateVolume; an Allocated one re-placed at attach).
pub async fn volume_set_pool(
    db: impl PgExecutor<'_>,
    id: VolumeId,
    pool: StoragePoolId,
) -> Result<()> {
    VOLUME_SET_POOL
        .query()
        .bind(id)
        .bind(pool)
        .execute(db)
        .await?;
    Ok(())
}

statements![
    VOLUME_FILES_ON_POOL,
    VOLUME_SET_PHYSICAL,
    VOLUME_FETCH,
    VOLUME_RETIRE_ROOT,
    VOLUME_ADOPT_ROOT,
    VOLUME_UNRETIRE_ROOT,
    VOLUME_DETACH,
    VOLUME_OWNER,
    VOLUME_COUNT_ON_POOL,
    VOLUME_INSERT,
    VOLUME_ROOT_OF_VM,
    VOLUME_SET_STATE,
    VOLUME_MARK_EXPUNGED,
    VOLUME_LIST_PAGE,
    VOLUME_LIST_ROWS,
    DATA_VOLUME_INSERT,
    DATA_VOLUME_FETCH,
    DATA_VOLUME_AT_DEVICE,
    DATA_VOLUMES_OF_VM,
    VOLUME_DEVICES_OF_VM,
    DATA_VOLUME_ATTACH,
    DATA_VOLUME_DETACH,
    DATA_VOLUMES_RELEASE,
    VOLUME_SET_SIZE,
    VOLUME_SET_POOL
];
