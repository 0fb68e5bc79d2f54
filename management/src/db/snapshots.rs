//! Volume snapshots and snapshot policies (issue 16, migration 0047).

use crate::ids::{AccountId, DomainId, ImageStoreId, OsTypeId, VmId, VolumeId, ZoneId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::ids::{SnapshotId, SnapshotPolicyId};
use crate::rules::snapshots::{IntervalType, SnapshotState};

/// A new snapshot, Allocated (createSnapshot's create half, or a policy's slot).
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    pub id: SnapshotId,
    pub name: String,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub volume_id: VolumeId,
    pub zone_id: ZoneId,
    pub virtual_size: i64,
    pub interval_type: IntervalType,
    pub policy_id: Option<SnapshotPolicyId>,
    pub slot: Option<DateTime<Utc>>,
}

stmt!(SNAPSHOT_INSERT: Scalar<i64> = "INSERT INTO snapshots (id, name, account_id, domain_id, volume_id, zone_id,
             virtual_size, state, interval_type, policy_id, slot)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'Allocated', $8, $9, $10)
         ON CONFLICT (policy_id, slot) WHERE policy_id IS NOT NULL AND slot IS NOT NULL DO NOTHING
         RETURNING 1::bigint");

/// Records the snapshot; false when its policy's slot was already taken (by another
/// server's pass).
pub async fn snapshot_insert(db: impl PgExecutor<'_>, s: &NewSnapshot) -> Result<bool> {
    Ok(SNAPSHOT_INSERT
        .query_scalar()
        .bind(s.id)
        .bind(&s.name)
        .bind(s.account_id)
        .bind(s.domain_id)
        .bind(s.volume_id)
        .bind(s.zone_id)
        .bind(s.virtual_size)
        .bind(s.interval_type)
        .bind(s.policy_id)
        .bind(s.slot)
        .fetch_optional(db)
        .await?
        .is_some())
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct SnapshotRow {
    pub id: SnapshotId,
    pub name: String,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub volume_id: VolumeId,
    pub zone_id: ZoneId,
    pub image_store_id: Option<ImageStoreId>,
    pub install_path: Option<String>,
    pub physical_size: i64,
    pub virtual_size: i64,
    pub state: SnapshotState,
    pub interval_type: IntervalType,
    pub policy_id: Option<SnapshotPolicyId>,
    pub error_text: Option<String>,
    pub created: DateTime<Utc>,
    pub removed: Option<DateTime<Utc>>,
}

const SNAPSHOT_COLUMNS: &str = "s.id, s.name, s.account_id, s.domain_id, s.volume_id, s.zone_id,
       s.image_store_id, s.install_path, s.physical_size, s.virtual_size, s.state, s.interval_type,
       s.policy_id, s.error_text, s.created, s.removed";

stmt!(SNAPSHOT_FETCH: SnapshotRow = format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots s WHERE s.id = $1"));

/// The snapshot (also a removed one: callers check `removed`).
pub async fn snapshot_fetch(
    db: impl PgExecutor<'_>,
    id: SnapshotId,
) -> Result<Option<SnapshotRow>> {
    Ok(SNAPSHOT_FETCH
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(SNAPSHOT_SET_STATE = "UPDATE snapshots SET state = $2 WHERE id = $1 AND removed IS NULL");

pub async fn snapshot_set_state(
    db: impl PgExecutor<'_>,
    id: SnapshotId,
    state: SnapshotState,
) -> Result<()> {
    SNAPSHOT_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    SNAPSHOT_PLACE =
        "UPDATE snapshots SET image_store_id = $2, install_path = $3, state = 'Creating'
         WHERE id = $1 AND removed IS NULL"
);

/// Where the snapshot's file goes (it is Creating).
pub async fn snapshot_place(
    db: impl PgExecutor<'_>,
    id: SnapshotId,
    store: ImageStoreId,
    path: &str,
) -> Result<()> {
    SNAPSHOT_PLACE
        .query()
        .bind(id)
        .bind(store)
        .bind(path)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(SNAPSHOT_BACKED_UP: Scalar<i64> = "UPDATE snapshots SET state = 'BackedUp', physical_size = $2
         WHERE id = $1 AND removed IS NULL RETURNING 1::bigint");

/// The snapshot is BackedUp with its file's size; false if it was deleted meanwhile.
pub async fn snapshot_backed_up(
    db: impl PgExecutor<'_>,
    id: SnapshotId,
    size: i64,
) -> Result<bool> {
    Ok(SNAPSHOT_BACKED_UP
        .query_scalar()
        .bind(id)
        .bind(size)
        .fetch_optional(db)
        .await?
        .is_some())
}

stmt!(
    SNAPSHOT_FAILED =
        "UPDATE snapshots SET state = 'Error', error_text = $2 WHERE id = $1 AND removed IS NULL"
);

/// The snapshot failed (its files removed by the unwind): Error, with why.
pub async fn snapshot_failed(db: impl PgExecutor<'_>, id: SnapshotId, why: &str) -> Result<()> {
    SNAPSHOT_FAILED
        .query()
        .bind(id)
        .bind(why)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    SNAPSHOT_DESTROY = format!(
        "WITH t AS ({})
     UPDATE snapshots SET state = 'Destroyed', removed = now() WHERE id = $1 AND removed IS NULL",
        super::tags::drop_tags_sql(super::tags::TagType::Snapshot, "$1")
    )
);

/// deleteSnapshot: Destroyed and removed (its file is gone).
pub async fn snapshot_destroy(db: impl PgExecutor<'_>, id: SnapshotId) -> Result<()> {
    SNAPSHOT_DESTROY.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(SNAPSHOTS_OF_VOLUME: Scalar<i64> = "SELECT count(*) FROM snapshots
         WHERE volume_id = $1 AND removed IS NULL AND state IN ('Allocated', 'Creating', 'BackingUp')");

/// Snapshots of the volume still being taken (a volume is not deleted under them).
pub async fn snapshots_in_progress_of_volume(db: impl PgExecutor<'_>, volume: Uuid) -> Result<i64> {
    Ok(SNAPSHOTS_OF_VOLUME
        .query_scalar()
        .bind(volume)
        .fetch_one(db)
        .await?)
}

/// listSnapshots' filter.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub common: ListFilter,
    pub account_id: Option<AccountId>,
    pub account_ids: Option<Vec<Uuid>>,
    pub skip_projects: bool,
    pub volume_id: Option<VolumeId>,
    pub zone_id: Option<ZoneId>,
    pub interval_type: Option<IntervalType>,
    /// MANUAL or RECURRING.
    pub recurring: Option<bool>,
    pub policy_id: Option<SnapshotPolicyId>,
    /// `tags[n].key`/`tags[n].value`: only snapshots carrying every pair.
    pub tags: super::tags::TagMatch,
}

/// One listSnapshots row: the snapshot with its volume's, owner's and zone's names.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct SnapshotListRow {
    #[sqlx(flatten)]
    pub snapshot: SnapshotRow,
    pub volume_name: String,
    pub volume_type: String,
    pub volume_state: String,
    pub volume_vm_id: Option<VmId>,
    pub zone_name: String,
    pub account_name: String,
    pub domain_name: String,
    pub domain_path: String,
    pub project_id: Option<Uuid>,
    pub project_name: Option<String>,
    pub store_name: Option<String>,
    pub os_type_id: Option<OsTypeId>,
    pub os_display_name: Option<String>,
}

stmt!(SNAPSHOT_LIST: Counted<SnapshotListRow> = named format!("SELECT {SNAPSHOT_COLUMNS},
                vol.name AS volume_name, vol.volume_type, vol.state AS volume_state,
                vol.vm_id AS volume_vm_id, z.name AS zone_name,
                a.name AS account_name, d.name AS domain_name, d.path AS domain_path,
                pr.id AS project_id, pr.name AS project_name, st.name AS store_name,
                os.id AS os_type_id, os.description AS os_display_name,
                count(*) OVER () AS total
         FROM snapshots s
         JOIN volumes vol ON vol.id = s.volume_id
         JOIN zones z ON z.id = s.zone_id
         JOIN accounts a ON a.id = s.account_id
         JOIN domains d ON d.id = s.domain_id
         LEFT JOIN projects pr ON pr.account_id = a.id
         LEFT JOIN image_stores st ON st.id = s.image_store_id
         LEFT JOIN templates t ON t.id = vol.template_id
         LEFT JOIN os_types os ON os.id = t.os_type_id
         WHERE s.removed IS NULL
           AND ($id::uuid IS NULL OR s.id = $id)
           AND ($ids::uuid[] IS NULL OR s.id = ANY($ids))
           AND ($name::text IS NULL OR s.name = $name)
           AND ($keyword::text IS NULL OR s.name ILIKE $keyword)
           AND ($account_id::uuid IS NULL OR s.account_id = $account_id)
           AND ($account_ids::uuid[] IS NULL OR s.account_id = ANY($account_ids))
           AND (NOT $skip_projects::bool OR a.account_type <> 5)
           AND ($volume_id::uuid IS NULL OR s.volume_id = $volume_id)
           AND ($zone_id::uuid IS NULL OR s.zone_id = $zone_id)
           AND ($interval_type::text IS NULL OR s.interval_type = $interval_type)
           AND ($recurring::bool IS NULL OR (s.interval_type <> 'MANUAL') = $recurring)
           AND ($policy_id::uuid IS NULL OR s.policy_id = $policy_id)
           AND {}
         ORDER BY s.created DESC, s.id OFFSET $offset LIMIT $limit",
    super::tags::carries_sql(super::tags::TagType::Snapshot, "s.id")
));

pub async fn snapshot_list(
    db: impl PgExecutor<'_>,
    f: &SnapshotFilter,
) -> Result<(Vec<SnapshotListRow>, i64)> {
    let rows: Vec<Counted<_>> = SNAPSHOT_LIST
        .query_as_with(
            f.tags
                .bind(Binds::new())
                .set("id", f.common.id)
                .set("ids", &f.common.ids)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("account_id", f.account_id)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
                .set("volume_id", f.volume_id)
                .set("zone_id", f.zone_id)
                .set("interval_type", f.interval_type.map(|i| i.as_str()))
                .set("recurring", f.recurring)
                .set("policy_id", f.policy_id)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

// --- Snapshot policies ------------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct PolicyRow {
    pub id: SnapshotPolicyId,
    pub volume_id: VolumeId,
    pub interval_type: IntervalType,
    pub schedule: String,
    pub timezone: String,
    pub max_snaps: i32,
    pub display: bool,
    pub last_slot: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
}

const POLICY_COLUMNS: &str =
    "p.id, p.volume_id, p.interval_type, p.schedule, p.timezone, p.max_snaps,
       p.display, p.last_slot, p.created";

stmt!(POLICY_UPSERT: PolicyRow = format!("INSERT INTO snapshot_policies AS p
             (id, volume_id, interval_type, schedule, timezone, max_snaps, display)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (volume_id, interval_type) DO UPDATE
             SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone,
                 max_snaps = EXCLUDED.max_snaps, display = EXCLUDED.display,
                 last_slot = CASE WHEN p.schedule = EXCLUDED.schedule AND p.timezone = EXCLUDED.timezone
                                  THEN p.last_slot END
         RETURNING {POLICY_COLUMNS}"));

/// createSnapshotPolicy: CloudStack keeps one policy per volume and interval type, and a
/// second create of the same type updates it.
#[allow(clippy::too_many_arguments)]
pub async fn policy_upsert(
    db: impl PgExecutor<'_>,
    id: SnapshotPolicyId,
    volume: Uuid,
    interval: IntervalType,
    schedule: &str,
    timezone: &str,
    max_snaps: i32,
    display: bool,
) -> Result<PolicyRow> {
    Ok(POLICY_UPSERT
        .query_as()
        .bind(id)
        .bind(volume)
        .bind(interval)
        .bind(schedule)
        .bind(timezone)
        .bind(max_snaps)
        .bind(display)
        .fetch_one(db)
        .await?)
}

stmt!(POLICY_UPDATE: PolicyRow = format!("UPDATE snapshot_policies p SET display = COALESCE($2, p.display)
         WHERE p.id = $1 RETURNING {POLICY_COLUMNS}"));

/// updateSnapshotPolicy (CloudStack's changes only `fordisplay`).
pub async fn policy_update(
    db: impl PgExecutor<'_>,
    id: SnapshotPolicyId,
    display: Option<bool>,
) -> Result<Option<PolicyRow>> {
    Ok(POLICY_UPDATE
        .query_as()
        .bind(id)
        .bind(display)
        .fetch_optional(db)
        .await?)
}

stmt!(POLICY_FETCH: PolicyRow = format!("SELECT {POLICY_COLUMNS} FROM snapshot_policies p WHERE p.id = $1"));

pub async fn policy_fetch(
    db: impl PgExecutor<'_>,
    id: SnapshotPolicyId,
) -> Result<Option<PolicyRow>> {
    Ok(POLICY_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(POLICIES_OF_VOLUME: PolicyRow = format!("SELECT {POLICY_COLUMNS} FROM snapshot_policies p
         WHERE ($1::uuid IS NULL OR p.volume_id = $1) AND ($2::uuid IS NULL OR p.id = $2)
         ORDER BY p.created, p.id LIMIT 1000"));

/// Policies of a volume (or the one `id`).
pub async fn policies_of_volume(
    db: impl PgExecutor<'_>,
    volume: Option<Uuid>,
    id: Option<SnapshotPolicyId>,
) -> Result<Vec<PolicyRow>> {
    Ok(POLICIES_OF_VOLUME
        .query_as()
        .bind(volume)
        .bind(id)
        .fetch_all(db)
        .await?)
}

stmt!(POLICY_DELETE = "DELETE FROM snapshot_policies WHERE id = $1");

pub async fn policy_delete(db: impl PgExecutor<'_>, id: SnapshotPolicyId) -> Result<()> {
    POLICY_DELETE.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(POLICIES_DELETE_OF_VOLUME = "DELETE FROM snapshot_policies WHERE volume_id = $1");

/// A deleted volume's policies go with it.
pub async fn policies_delete_of_volume(db: impl PgExecutor<'_>, volume: Uuid) -> Result<()> {
    POLICIES_DELETE_OF_VOLUME
        .query()
        .bind(volume)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(POLICIES_ACTIVE: PolicyRow = format!("SELECT {POLICY_COLUMNS} FROM snapshot_policies p
         JOIN volumes vol ON vol.id = p.volume_id
         WHERE vol.removed IS NULL AND vol.state = 'Ready'
         ORDER BY p.id LIMIT 10000"));

/// Every policy of a live, Ready volume (the reconciler's pass).
pub async fn policies_active(db: impl PgExecutor<'_>) -> Result<Vec<PolicyRow>> {
    Ok(POLICIES_ACTIVE.query_as().fetch_all(db).await?)
}

stmt!(POLICY_TAKE_SLOT: Scalar<i64> = "UPDATE snapshot_policies SET last_slot = $2
         WHERE id = $1 AND (last_slot IS NULL OR last_slot < $2) RETURNING 1::bigint");

/// Claims `slot` for the policy: true for exactly one caller, whatever the number of
/// servers asking.
pub async fn policy_take_slot(
    db: impl PgExecutor<'_>,
    id: SnapshotPolicyId,
    slot: DateTime<Utc>,
) -> Result<bool> {
    Ok(POLICY_TAKE_SLOT
        .query_scalar()
        .bind(id)
        .bind(slot)
        .fetch_optional(db)
        .await?
        .is_some())
}

stmt!(SNAPSHOTS_OF_POLICY: SnapshotRow = format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots s
         WHERE s.policy_id = $1 AND s.removed IS NULL AND s.state = 'BackedUp'
         ORDER BY s.created, s.id LIMIT 10000"));

/// A policy's BackedUp snapshots, oldest first (retention).
pub async fn snapshots_of_policy(
    db: impl PgExecutor<'_>,
    policy: SnapshotPolicyId,
) -> Result<Vec<SnapshotRow>> {
    Ok(SNAPSHOTS_OF_POLICY
        .query_as()
        .bind(policy)
        .fetch_all(db)
        .await?)
}

statements![
    SNAPSHOT_INSERT,
    SNAPSHOT_FETCH,
    SNAPSHOT_SET_STATE,
    SNAPSHOT_PLACE,
    SNAPSHOT_BACKED_UP,
    SNAPSHOT_FAILED,
    SNAPSHOT_DESTROY,
    SNAPSHOTS_OF_VOLUME,
    SNAPSHOT_LIST,
    POLICY_UPSERT,
    POLICY_UPDATE,
    POLICY_FETCH,
    POLICIES_OF_VOLUME,
    POLICY_DELETE,
    POLICIES_DELETE_OF_VOLUME,
    POLICIES_ACTIVE,
    POLICY_TAKE_SLOT,
    SNAPSHOTS_OF_POLICY,
];
