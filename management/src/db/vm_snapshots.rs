//! VM snapshots (issue 16, migration 0048): their records. The snapshots themselves are
//! inside the VM's volume files (qcow2 internal snapshots, `services::vms::vm_snapshots`).

use crate::ids::{AccountId, DomainId, VmId, ZoneId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::ids::VmSnapshotId;
use crate::rules::vmsnapshot::{VmSnapshotState, VmSnapshotType};

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct VmSnapshotRow {
    pub id: VmSnapshotId,
    pub vm_id: VmId,
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub state: VmSnapshotState,
    pub snapshot_type: VmSnapshotType,
    pub parent_id: Option<VmSnapshotId>,
    pub is_current: bool,
    pub libvirt_xml: Option<String>,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub zone_id: ZoneId,
    pub created: DateTime<Utc>,
    pub removed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewVmSnapshot<'a> {
    pub id: VmSnapshotId,
    pub vm_id: VmId,
    pub name: &'a str,
    pub display_name: &'a str,
    pub description: Option<&'a str>,
    pub snapshot_type: VmSnapshotType,
    pub parent_id: Option<VmSnapshotId>,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub zone_id: ZoneId,
}

stmt!(
    VMSNAP_INSERT = "INSERT INTO vm_snapshots (id, vm_id, name, display_name, description,
                state, snapshot_type, parent_id, account_id, domain_id, zone_id)
         VALUES ($1, $2, $3, $4, $5, 'Allocated', $6, $7, $8, $9, $10)"
);

/// Records a new snapshot, Allocated (the caller holds the VM's row lock and has checked
/// `vmsnapshot.max`; the unique display-name index refuses a second of the same name).
pub async fn vmsnap_insert(db: impl PgExecutor<'_>, n: &NewVmSnapshot<'_>) -> Result<()> {
    VMSNAP_INSERT
        .query()
        .bind(n.id)
        .bind(n.vm_id)
        .bind(n.name)
        .bind(n.display_name)
        .bind(n.description)
        .bind(n.snapshot_type)
        .bind(n.parent_id)
        .bind(n.account_id)
        .bind(n.domain_id)
        .bind(n.zone_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(VMSNAP_FETCH: VmSnapshotRow = "SELECT * FROM vm_snapshots WHERE id = $1 AND removed IS NULL");

/// A live (not removed) snapshot.
pub async fn vmsnap_fetch(
    db: impl PgExecutor<'_>,
    id: VmSnapshotId,
) -> Result<Option<VmSnapshotRow>> {
    Ok(VMSNAP_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(VMSNAP_FETCH_ANY: VmSnapshotRow = "SELECT * FROM vm_snapshots WHERE id = $1");

/// A snapshot, removed or not.
pub async fn vmsnap_fetch_any(
    db: impl PgExecutor<'_>,
    id: VmSnapshotId,
) -> Result<Option<VmSnapshotRow>> {
    Ok(VMSNAP_FETCH_ANY
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(VMSNAP_OF_VM: VmSnapshotRow = "SELECT * FROM vm_snapshots WHERE vm_id = $1 AND removed IS NULL
         ORDER BY created DESC, id");

/// A VM's live snapshots, newest first.
pub async fn vmsnap_of_vm(db: impl PgExecutor<'_>, vm_id: VmId) -> Result<Vec<VmSnapshotRow>> {
    Ok(VMSNAP_OF_VM.query_as().bind(vm_id).fetch_all(db).await?)
}

stmt!(VMSNAP_COUNT_OF_VM: Scalar<i64> = "SELECT count(*) FROM vm_snapshots WHERE vm_id = $1 AND removed IS NULL");

/// How many live snapshots the VM has (what `vmsnapshot.max` bounds, and what keeps the
/// VM from moving or changing its volumes).
pub async fn vmsnap_count_of_vm(db: impl PgExecutor<'_>, vm_id: VmId) -> Result<i64> {
    Ok(VMSNAP_COUNT_OF_VM
        .query_scalar()
        .bind(vm_id)
        .fetch_one(db)
        .await?)
}

stmt!(VMSNAP_DISPLAY_NAME_TAKEN: Scalar<bool> = "SELECT EXISTS (SELECT 1 FROM vm_snapshots
         WHERE vm_id = $1 AND display_name = $2 AND removed IS NULL)");

pub async fn vmsnap_display_name_taken(
    db: impl PgExecutor<'_>,
    vm_id: VmId,
    display_name: &str,
) -> Result<bool> {
    Ok(VMSNAP_DISPLAY_NAME_TAKEN
        .query_scalar()
        .bind(vm_id)
        .bind(display_name)
        .fetch_one(db)
        .await?)
}

stmt!(VMSNAP_SET_STATE = "UPDATE vm_snapshots SET state = $2 WHERE id = $1 AND removed IS NULL");

pub async fn vmsnap_set_state(
    db: impl PgExecutor<'_>,
    id: VmSnapshotId,
    state: VmSnapshotState,
) -> Result<()> {
    VMSNAP_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(VMSNAP_SET_XML = "UPDATE vm_snapshots SET libvirt_xml = $2 WHERE id = $1");

/// The libvirt snapshot XML the host answered (a snapshot with memory).
pub async fn vmsnap_set_xml(db: impl PgExecutor<'_>, id: VmSnapshotId, xml: &str) -> Result<()> {
    VMSNAP_SET_XML
        .query()
        .bind(id)
        .bind(xml)
        .execute(db)
        .await?;
    Ok(())
}

// Two statements: the unique index of the current one is checked row by row.
stmt!(
    VMSNAP_CLEAR_CURRENT = "UPDATE vm_snapshots SET is_current = false
         WHERE vm_id = $1 AND is_current AND id <> $2"
);
stmt!(
    VMSNAP_MAKE_CURRENT = "UPDATE vm_snapshots SET is_current = true
         WHERE vm_id = $1 AND id = $2 AND removed IS NULL"
);

/// `id` becomes the VM's current snapshot (the one its disks are now based on): after
/// it is taken, or reverted to.
pub async fn vmsnap_make_current(
    db: &mut sqlx::PgConnection,
    vm_id: VmId,
    id: VmSnapshotId,
) -> Result<()> {
    VMSNAP_CLEAR_CURRENT
        .query()
        .bind(vm_id)
        .bind(id)
        .execute(&mut *db)
        .await?;
    VMSNAP_MAKE_CURRENT
        .query()
        .bind(vm_id)
        .bind(id)
        .execute(&mut *db)
        .await?;
    Ok(())
}

stmt!(
    VMSNAP_REPARENT =
        "UPDATE vm_snapshots SET parent_id = $2 WHERE parent_id = $1 AND removed IS NULL"
);
stmt!(
    VMSNAP_REMOVE = format!(
        "WITH t AS ({})
     UPDATE vm_snapshots SET state = 'Removed', is_current = false,
                removed = COALESCE(removed, now()) WHERE id = $1",
        super::tags::drop_tags_sql(super::tags::TagType::VmSnapshot, "$1")
    )
);
stmt!(VMSNAP_PARENT_OF: Scalar<Option<VmSnapshotId>> = "SELECT parent_id FROM vm_snapshots WHERE id = $1");
stmt!(
    VMSNAP_SET_CURRENT_IF_NONE = "UPDATE vm_snapshots SET is_current = true
         WHERE id = $1 AND removed IS NULL AND NOT EXISTS (SELECT 1 FROM vm_snapshots o
               WHERE o.vm_id = vm_snapshots.vm_id AND o.removed IS NULL AND o.is_current)"
);

/// Marks the snapshot Removed (idempotent). Its children take its parent, as in
/// CloudStack; if it was current, its parent becomes current.
pub async fn vmsnap_remove(tx: &mut sqlx::PgConnection, id: VmSnapshotId) -> Result<()> {
    let parent: Option<VmSnapshotId> = VMSNAP_PARENT_OF
        .query_scalar()
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
    VMSNAP_REPARENT
        .query()
        .bind(id)
        .bind(parent)
        .execute(&mut *tx)
        .await?;
    VMSNAP_REMOVE.query().bind(id).execute(&mut *tx).await?;
    if let Some(p) = parent {
        VMSNAP_SET_CURRENT_IF_NONE
            .query()
            .bind(p)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// One listVMSnapshot item: the row with its VM, owner, parent and zone names.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct VmSnapshotListRow {
    #[sqlx(flatten)]
    pub snap: VmSnapshotRow,
    pub vm_display_name: String,
    pub parent_name: Option<String>,
    pub account_name: String,
    pub domain_name: String,
    pub domain_path: String,
    pub project_id: Option<Uuid>,
    pub project_name: Option<String>,
    pub zone_name: String,
}

#[derive(Debug, Clone, Default)]
pub struct VmSnapshotFilter {
    pub common: ListFilter,
    pub account_id: Option<AccountId>,
    pub account_ids: Option<Vec<Uuid>>,
    pub skip_projects: bool,
    pub vm_id: Option<VmId>,
    pub state: Option<String>,
    /// `tags[n].key`/`tags[n].value`: only VM snapshots carrying every pair.
    pub tags: super::tags::TagMatch,
}

stmt!(VMSNAP_LIST: Counted<VmSnapshotListRow> = named format!("SELECT s.*, v.display_name AS vm_display_name,
                ps.display_name AS parent_name, a.name AS account_name, d.name AS domain_name,
                d.path AS domain_path, pr.id AS project_id, pr.name AS project_name,
                z.name AS zone_name, count(*) OVER () AS total
         FROM vm_snapshots s
         JOIN vms v ON v.id = s.vm_id
         JOIN accounts a ON a.id = s.account_id
         JOIN domains d ON d.id = s.domain_id
         JOIN zones z ON z.id = s.zone_id
         LEFT JOIN vm_snapshots ps ON ps.id = s.parent_id
         LEFT JOIN projects pr ON pr.account_id = a.id
         WHERE s.removed IS NULL
           AND ($id::uuid IS NULL OR s.id = $id)
           AND ($ids::uuid[] IS NULL OR s.id = ANY($ids))
           AND ($name::text IS NULL OR s.display_name = $name OR s.name = $name)
           AND ($keyword::text IS NULL OR s.display_name ILIKE $keyword OR s.name ILIKE $keyword
                OR s.description ILIKE $keyword)
           AND ($account_id::uuid IS NULL OR s.account_id = $account_id)
           AND ($account_ids::uuid[] IS NULL OR s.account_id = ANY($account_ids))
           AND (NOT $skip_projects::bool OR a.account_type <> 5)
           AND ($vm_id::uuid IS NULL OR s.vm_id = $vm_id)
           AND ($state::text IS NULL OR s.state = $state)
           AND {}
         ORDER BY s.created DESC, s.id OFFSET $offset LIMIT $limit",
    super::tags::carries_sql(super::tags::TagType::VmSnapshot, "s.id")
));

pub async fn vmsnap_list(
    db: impl PgExecutor<'_>,
    f: &VmSnapshotFilter,
) -> Result<(Vec<VmSnapshotListRow>, i64)> {
    let rows: Vec<Counted<_>> = VMSNAP_LIST
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
                .set("vm_id", f.vm_id)
                .set("state", &f.state)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

statements![
    VMSNAP_INSERT,
    VMSNAP_FETCH,
    VMSNAP_FETCH_ANY,
    VMSNAP_OF_VM,
    VMSNAP_COUNT_OF_VM,
    VMSNAP_DISPLAY_NAME_TAKEN,
    VMSNAP_SET_STATE,
    VMSNAP_SET_XML,
    VMSNAP_CLEAR_CURRENT,
    VMSNAP_MAKE_CURRENT,
    VMSNAP_REPARENT,
    VMSNAP_REMOVE,
    VMSNAP_PARENT_OF,
    VMSNAP_SET_CURRENT_IF_NONE,
    VMSNAP_LIST,
];
