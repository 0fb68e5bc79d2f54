//! Instances: their rows, the states and multi-step work they move through, what hosts
//! report about them, and listVirtualMachines. Capacity on hosts is in `capacity`, NICs
//! and DHCP leases in `nics`, volumes in `volumes`.

use crate::ids::{
    AccountId, DiskOfferingId, DomainId, HostId, IsoId, NetworkId, NicId, OsTypeId, ProjectId,
    ServiceOfferingId, TemplateId, UserDataId, UserId, VmId, VolumeId, ZoneId,
};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Binds, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::rules::vmstate::VmState;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct VmRow {
    pub id: VmId,
    pub instance_number: i64,
    pub name: String,
    pub display_name: String,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    /// Who deployed it; `None` once that user was deleted (the VM stays its account's).
    pub user_id: Option<UserId>,
    pub zone_id: ZoneId,
    pub service_offering_id: ServiceOfferingId,
    pub disk_offering_id: Option<DiskOfferingId>,
    pub iso_id: Option<IsoId>,
    pub state: VmState,
    pub host_id: Option<HostId>,
    pub last_host_id: Option<HostId>,
    pub cpu_number: i32,
    pub cpu_mhz: i32,
    pub memory_mb: i32,
    pub error_text: Option<String>,
    pub created: DateTime<Utc>,
    pub destroyed: Option<DateTime<Utc>>,
    pub removed: Option<DateTime<Utc>>,
    pub keypair: Option<String>,
    pub state_changed: DateTime<Utc>,
    /// User data as the API took it (base64).
    pub user_data: Option<String>,
    pub user_data_id: Option<UserDataId>,
    /// A generated password the host agent has not received yet, sealed.
    pub password_pending: Option<Vec<u8>>,
    /// The password encrypted with the VM's RSA key pair (base64), for getVMPassword.
    pub encrypted_password: Option<String>,
    pub template_id: Option<TemplateId>,
}

/// A new VM (state Stopped, no host yet).
#[derive(Debug, Clone, Default)]
pub struct NewVm<'a> {
    pub id: VmId,
    pub name: &'a str,
    pub display_name: &'a str,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub user_id: UserId,
    pub zone_id: ZoneId,
    pub service_offering_id: ServiceOfferingId,
    pub disk_offering_id: Option<DiskOfferingId>,
    pub iso_id: Option<IsoId>,
    pub cpu_number: i32,
    pub cpu_mhz: i32,
    pub memory_mb: i32,
    pub keypair: Option<&'a str>,
    pub user_data: Option<&'a str>,
    pub user_data_id: Option<UserDataId>,
    pub password_pending: Option<&'a [u8]>,
    pub encrypted_password: Option<&'a str>,
    pub template_id: Option<TemplateId>,
    /// The `instance.name` setting when it was created: its instance name's last part.
    pub instance_suffix: &'a str,
    /// The root disk it was admitted with (counted until its root volume exists).
    pub root_reserved_bytes: i64,
}

stmt!(
    VM_INSERT = "INSERT INTO vms (id, name, display_name, account_id, domain_id, user_id, zone_id,
            service_offering_id, disk_offering_id, iso_id, cpu_number, cpu_mhz, memory_mb, keypair,
            instance_suffix, user_data, user_data_id, password_pending, encrypted_password, template_id,
            root_reserved_bytes)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
);

pub async fn vm_insert(db: &mut PgConnection, v: &NewVm<'_>) -> Result<()> {
    VM_INSERT
        .query()
        .bind(v.id)
        .bind(v.name)
        .bind(v.display_name)
        .bind(v.account_id)
        .bind(v.domain_id)
        .bind(v.user_id)
        .bind(v.zone_id)
        .bind(v.service_offering_id)
        .bind(v.disk_offering_id)
        .bind(v.iso_id)
        .bind(v.cpu_number)
        .bind(v.cpu_mhz)
        .bind(v.memory_mb)
        .bind(v.keypair)
        .bind(v.instance_suffix)
        .bind(v.user_data)
        .bind(v.user_data_id)
        .bind(v.password_pending)
        .bind(v.encrypted_password)
        .bind(v.template_id)
        .bind(v.root_reserved_bytes)
        .execute(&mut *db)
        .await?;
    Ok(())
}

stmt!(VM_SET_USER_DATA = "UPDATE vms SET user_data = $2, user_data_id = $3 WHERE id = $1");

/// Replaces the VM's user data (none: it has none).
pub async fn vm_set_user_data(
    db: impl PgExecutor<'_>,
    id: VmId,
    user_data: Option<&str>,
    user_data_id: Option<UserDataId>,
) -> Result<()> {
    VM_SET_USER_DATA
        .query()
        .bind(id)
        .bind(user_data)
        .bind(user_data_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(VM_SET_NAMES = "UPDATE vms SET name = $2, display_name = $3 WHERE id = $1");

pub async fn vm_set_names(
    db: impl PgExecutor<'_>,
    id: VmId,
    name: &str,
    display_name: &str,
) -> Result<()> {
    VM_SET_NAMES
        .query()
        .bind(id)
        .bind(name)
        .bind(display_name)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    VM_SET_OFFERING = "UPDATE vms SET service_offering_id = $2, cpu_number = $3, cpu_mhz = $4,
            memory_mb = $5
         WHERE id = $1 AND state = 'Stopped'"
);

/// The stopped VM's new compute offering (its CPU and memory); false if it is no longer
/// stopped. Capacity is checked when it starts next (a stopped VM holds none).
pub async fn vm_set_offering(
    db: impl PgExecutor<'_>,
    id: VmId,
    offering: ServiceOfferingId,
    cpu_number: i32,
    cpu_mhz: i32,
    memory_mb: i32,
) -> Result<bool> {
    let r = VM_SET_OFFERING
        .query()
        .bind(id)
        .bind(offering)
        .bind(cpu_number)
        .bind(cpu_mhz)
        .bind(memory_mb)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

stmt!(VM_SET_KEYPAIR = "UPDATE vms SET keypair = $2 WHERE id = $1");

/// Replaces the names of the VM's key pairs (comma-separated, as the API takes them).
pub async fn vm_set_keypair(
    db: impl PgExecutor<'_>,
    id: VmId,
    keypair: Option<&str>,
) -> Result<()> {
    VM_SET_KEYPAIR
        .query()
        .bind(id)
        .bind(keypair)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    VM_SET_PASSWORD = "UPDATE vms SET password_pending = $2, encrypted_password = $3 WHERE id = $1"
);

/// A new password: sealed until the host agent has it, and encrypted for getVMPassword.
pub async fn vm_set_password(
    db: impl PgExecutor<'_>,
    id: VmId,
    sealed: Option<&[u8]>,
    encrypted: Option<&str>,
) -> Result<()> {
    VM_SET_PASSWORD
        .query()
        .bind(id)
        .bind(sealed)
        .bind(encrypted)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(VM_PASSWORD_DELIVERED = "UPDATE vms SET password_pending = NULL WHERE id = $1");

/// The host agent holds the password now (it serves it to the guest once).
pub async fn vm_password_delivered(db: impl PgExecutor<'_>, id: VmId) -> Result<()> {
    VM_PASSWORD_DELIVERED.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(VM_FETCH: VmRow = "SELECT * FROM vms WHERE id = $1 AND removed IS NULL");

pub async fn vm_fetch(db: impl PgExecutor<'_>, id: VmId) -> Result<Option<VmRow>> {
    Ok(VM_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(VM_FETCH_FOR_UPDATE: VmRow = "SELECT * FROM vms WHERE id = $1 AND removed IS NULL FOR UPDATE");

/// The VM's row, locked until the transaction ends (state changes are made under it).
pub async fn vm_fetch_for_update(db: impl PgExecutor<'_>, id: VmId) -> Result<Option<VmRow>> {
    Ok(VM_FETCH_FOR_UPDATE
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

stmt!(
    VM_SET_STATE = "UPDATE vms SET state = $2, error_text = $3,
                state_changed = CASE WHEN state = $2 THEN state_changed ELSE now() END
         WHERE id = $1"
);

/// Sets the state (and the error text: cleared unless given).
pub async fn vm_set_state(
    db: impl PgExecutor<'_>,
    id: VmId,
    state: VmState,
    error: Option<&str>,
) -> Result<()> {
    VM_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(VM_SET_IMAGE = "UPDATE vms SET template_id = $2, iso_id = $3 WHERE id = $1");

/// restoreVirtualMachine onto another template or ISO.
pub async fn vm_set_image(
    db: impl PgExecutor<'_>,
    id: VmId,
    template: Option<TemplateId>,
    iso: Option<IsoId>,
) -> Result<()> {
    VM_SET_IMAGE
        .query()
        .bind(id)
        .bind(template)
        .bind(iso)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(VM_SET_ISO = "UPDATE vms SET iso_id = $2 WHERE id = $1");

pub async fn vm_set_iso(db: impl PgExecutor<'_>, id: VmId, iso: Option<IsoId>) -> Result<()> {
    VM_SET_ISO.query().bind(id).bind(iso).execute(db).await?;
    Ok(())
}

stmt!(
    VM_MARK_DESTROYED = "UPDATE vms SET state = 'Destroyed', host_id = NULL, destroyed = now(),
                state_changed = now(), error_text = NULL
         WHERE id = $1"
);

/// destroyVirtualMachine: Destroyed, capacity released, `destroyed` stamped.
pub async fn vm_mark_destroyed(db: impl PgExecutor<'_>, id: VmId) -> Result<()> {
    VM_MARK_DESTROYED.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(
    VM_MARK_RECOVERED =
        "UPDATE vms SET state = 'Stopped', destroyed = NULL, state_changed = now() WHERE id = $1"
);

/// recoverVirtualMachine: back to Stopped.
pub async fn vm_mark_recovered(db: impl PgExecutor<'_>, id: VmId) -> Result<()> {
    VM_MARK_RECOVERED.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(
    VM_MARK_EXPUNGED = format!(
        "WITH t AS ({})
     UPDATE vms SET state = 'Expunged', host_id = NULL, removed = now(), state_changed = now()
      WHERE id = $1",
        super::tags::drop_tags_sql(super::tags::TagType::UserVm, "$1")
    )
);

/// The VM is gone: Expunged and removed (its name is free again), and its tags with it.
pub async fn vm_mark_expunged(db: impl PgExecutor<'_>, id: VmId) -> Result<()> {
    VM_MARK_EXPUNGED.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(VM_LIST_DUE_FOR_EXPUNGE: Scalar<Uuid> = "SELECT id FROM vms
         WHERE state IN ('Destroyed', 'Expunging') AND removed IS NULL
           AND destroyed < now() - make_interval(secs => $1)
         ORDER BY destroyed LIMIT $2");

/// Destroyed VMs whose `expunge.delay` has passed, oldest first.
pub async fn vm_list_due_for_expunge(
    db: impl PgExecutor<'_>,
    delay_secs: i64,
    limit: i64,
) -> Result<Vec<Uuid>> {
    Ok(VM_LIST_DUE_FOR_EXPUNGE
        .query_scalar()
        .bind(delay_secs as f64)
        .bind(limit)
        .fetch_all(db)
        .await?)
}

/// The VMs the database places on a host (what its agent should be running).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct HostedVm {
    pub id: VmId,
    pub name: String,
    pub state: VmState,
    /// The kind of the workflow running on it (`services::workflow`), if one is.
    pub work: Option<String>,
    /// Its state has not changed for `settle_secs` (a report cannot predate the change),
    /// and no migration held a destination for it within that time: while it moves, its
    /// domain is on two hosts or on the other host than its record says.
    pub settled: bool,
}

stmt!(VM_LIST_ON_HOST: HostedVm = "SELECT id, display_name AS name, state,
                (SELECT w.kind FROM workflows w WHERE w.resource_id = vms.id AND w.state IN ('Running', 'Unwinding') LIMIT 1) AS work,
                state_changed < now() - make_interval(secs => $2)
                  AND COALESCE(migrating_until < now() - make_interval(secs => $2), true) AS settled
         FROM vms WHERE host_id = $1 AND removed IS NULL");

pub async fn vm_list_on_host(
    db: impl PgExecutor<'_>,
    host_id: HostId,
    settle_secs: i64,
) -> Result<Vec<HostedVm>> {
    Ok(VM_LIST_ON_HOST
        .query_as()
        .bind(host_id)
        .bind(settle_secs as f64)
        .fetch_all(db)
        .await?)
}

stmt!(VM_RUNNING_OF_ACCOUNT: (Uuid, String) = "SELECT id, display_name FROM vms
         WHERE account_id = $1 AND state = 'Running' AND removed IS NULL
         ORDER BY instance_number");

/// The Running VMs of `account_id` (id, display name): what suspending a project stops.
pub async fn vm_running_of_account(
    db: impl PgExecutor<'_>,
    account_id: AccountId,
) -> Result<Vec<(Uuid, String)>> {
    Ok(VM_RUNNING_OF_ACCOUNT
        .query_as()
        .bind(account_id)
        .fetch_all(db)
        .await?)
}

stmt!(VM_RUNNING_ON_HOST: (Uuid, String) = "SELECT id, display_name FROM vms
         WHERE host_id = $1 AND state = 'Running'
           AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.resource_id = vms.id AND w.state IN ('Running', 'Unwinding')) AND removed IS NULL
         ORDER BY instance_number");

/// The Running VMs on `host_id` (id, display name).
pub async fn vm_running_on_host(
    db: impl PgExecutor<'_>,
    host_id: HostId,
) -> Result<Vec<(Uuid, String)>> {
    Ok(VM_RUNNING_ON_HOST
        .query_as()
        .bind(host_id)
        .fetch_all(db)
        .await?)
}

stmt!(
    VM_METRICS_INSERT =
        "INSERT INTO vm_metrics (vm_id, at, host_id, cpu_used_percent, memory_bytes,
             memory_unused_bytes, disk_read_bytes, disk_write_bytes, disk_read_ops, disk_write_ops,
             network_rx_bytes, network_tx_bytes)
         SELECT s.vm_id, now(), $1, s.cpu, s.mem, s.unused, s.rd, s.wr, s.rdo, s.wro, s.rx, s.tx
         FROM unnest($2::uuid[], $3::float8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                     $8::int8[], $9::int8[], $10::int8[], $11::int8[])
              AS s(vm_id, cpu, mem, unused, rd, wr, rdo, wro, rx, tx)
         JOIN vms v ON v.id = s.vm_id AND v.host_id = $1 AND v.removed IS NULL
         ON CONFLICT DO NOTHING"
);

/// Records a heartbeat's per-domain samples for the VMs this host runs (a domain the
/// cloud does not place on this host is not sampled). Returns how many were recorded.
pub async fn vm_metrics_insert(
    db: impl PgExecutor<'_>,
    host_id: HostId,
    stats: &[stratus_api::agent::DomainStats],
) -> Result<u64> {
    if stats.is_empty() {
        return Ok(0);
    }
    let big = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let col = |f: fn(&stratus_api::agent::DomainStats) -> u64| -> Vec<i64> {
        stats.iter().map(|s| big(f(s))).collect()
    };
    Ok(VM_METRICS_INSERT
        .query()
        .bind(host_id)
        .bind(stats.iter().map(|s| s.uuid).collect::<Vec<Uuid>>())
        .bind(
            stats
                .iter()
                .map(|s| s.cpu_used_percent)
                .collect::<Vec<Option<f64>>>(),
        )
        .bind(col(|s| s.memory_bytes))
        .bind(
            stats
                .iter()
                .map(|s| s.memory_unused_bytes.map(big))
                .collect::<Vec<Option<i64>>>(),
        )
        .bind(col(|s| s.disk_read_bytes))
        .bind(col(|s| s.disk_write_bytes))
        .bind(col(|s| s.disk_read_ops))
        .bind(col(|s| s.disk_write_ops))
        .bind(col(|s| s.network_rx_bytes))
        .bind(col(|s| s.network_tx_bytes))
        .execute(db)
        .await?
        .rows_affected())
}

stmt!(VM_METRICS_PURGE = "DELETE FROM vm_metrics WHERE at < now() - make_interval(mins => $1)");

/// Removes VM samples older than `keep_minutes`.
pub async fn vm_metrics_purge(db: impl PgExecutor<'_>, keep_minutes: i64) -> Result<u64> {
    Ok(VM_METRICS_PURGE
        .query()
        .bind(i32::try_from(keep_minutes).unwrap_or(i32::MAX))
        .execute(db)
        .await?
        .rows_affected())
}

/// One retained sample of a VM.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct VmMetricRow {
    pub vm_id: VmId,
    pub at: DateTime<Utc>,
    pub cpu_used_percent: Option<f64>,
    pub memory_bytes: i64,
    pub memory_unused_bytes: Option<i64>,
    pub disk_read_bytes: i64,
    pub disk_write_bytes: i64,
    pub disk_read_ops: i64,
    pub disk_write_ops: i64,
    pub network_rx_bytes: i64,
    pub network_tx_bytes: i64,
}

const VM_METRIC_COLUMNS: &str = "vm_id, at, cpu_used_percent, memory_bytes, memory_unused_bytes,
         disk_read_bytes, disk_write_bytes, disk_read_ops, disk_write_ops, network_rx_bytes,
         network_tx_bytes";

stmt!(VM_METRICS_LIST: VmMetricRow = format!(
    "SELECT {VM_METRIC_COLUMNS} FROM vm_metrics
     WHERE vm_id = $1 AND at >= $2 AND ($3::timestamptz IS NULL OR at <= $3) ORDER BY at"
));

/// A VM's retained samples between `since` and `until`, oldest first.
pub async fn vm_metrics_list(
    db: impl PgExecutor<'_>,
    vm_id: VmId,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> Result<Vec<VmMetricRow>> {
    Ok(VM_METRICS_LIST
        .query_as()
        .bind(vm_id)
        .bind(since)
        .bind(until)
        .fetch_all(db)
        .await?)
}

// One index probe per VM (the newest entry of its `(vm_id, at)` key), not every sample
// kept: a VM reporting each minute holds 720 of them after 12 hours.
stmt!(VM_METRICS_LATEST: VmMetricRow = format!(
    "SELECT m.* FROM unnest($1::uuid[]) AS want(id)
     CROSS JOIN LATERAL (SELECT {VM_METRIC_COLUMNS} FROM vm_metrics
                         WHERE vm_id = want.id ORDER BY at DESC LIMIT 1) m"
));

/// The newest sample of each of `ids` that has one.
pub async fn vm_metrics_latest(db: impl PgExecutor<'_>, ids: &[VmId]) -> Result<Vec<VmMetricRow>> {
    Ok(VM_METRICS_LATEST.query_as().bind(ids).fetch_all(db).await?)
}

stmt!(VM_SET_RESUME = "UPDATE vms SET resume_on_start = $2 WHERE id = $1");

/// Marks (or unmarks) a VM to be started at the embedded default's next start.
pub async fn vm_set_resume(db: impl PgExecutor<'_>, id: VmId, resume: bool) -> Result<()> {
    VM_SET_RESUME
        .query()
        .bind(id)
        .bind(resume)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(VM_TAKE_RESUMABLE: (Uuid, String, VmState) = "UPDATE vms SET resume_on_start = false
         WHERE resume_on_start AND removed IS NULL
         RETURNING id, display_name, state");

/// The Stopped VMs marked to be started again (id, display name); the marks are cleared.
pub async fn vm_take_resumable(db: impl PgExecutor<'_>) -> Result<Vec<(Uuid, String)>> {
    Ok(VM_TAKE_RESUMABLE
        .query_as()
        .fetch_all(db)
        .await?
        .into_iter()
        .filter(|(_, _, state): &(Uuid, String, VmState)| *state == VmState::Stopped)
        .map(|(id, name, _)| (id, name))
        .collect())
}

/// A VM of this cloud whose UUID a host reported as a domain.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct KnownVm {
    pub id: VmId,
    pub name: String,
    pub host_id: Option<HostId>,
    pub state: VmState,
    /// The kind of the workflow running on it (`services::workflow`), if one is.
    pub work: Option<String>,
    /// No state change, and no migration, within the settle time.
    pub settled: bool,
    /// Expunged.
    pub removed: bool,
}

stmt!(VM_KNOWN: KnownVm = "SELECT id, display_name AS name, host_id, state,
                (SELECT w.kind FROM workflows w WHERE w.resource_id = vms.id AND w.state IN ('Running', 'Unwinding') LIMIT 1) AS work,
                state_changed < now() - make_interval(secs => $2)
                  AND COALESCE(migrating_until < now() - make_interval(secs => $2), true) AS settled,
                removed IS NOT NULL AS removed
         FROM vms WHERE id = ANY($1)");

/// Which of `ids` are VMs of this cloud, expunged ones included.
pub async fn vm_known(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
    settle_secs: i64,
) -> Result<Vec<KnownVm>> {
    Ok(VM_KNOWN
        .query_as()
        .bind(ids)
        .bind(settle_secs as f64)
        .fetch_all(db)
        .await?)
}

stmt!(
    VM_MARK_DIED = "UPDATE vms SET state = 'Stopped', host_id = NULL, state_changed = now(),
                error_text = 'The VM stopped outside Stratus (reported by its host)'
         WHERE id = $1 AND host_id = $2 AND state = 'Running'
           AND NOT EXISTS (SELECT 1 FROM workflows w WHERE w.resource_id = vms.id AND w.state IN ('Running', 'Unwinding'))"
);

/// A VM found dead on its host: Stopped, capacity released (only if it is still the
/// Running VM the caller saw there).
pub async fn vm_mark_died(db: impl PgExecutor<'_>, id: VmId, host_id: HostId) -> Result<bool> {
    Ok(VM_MARK_DIED
        .query()
        .bind(id)
        .bind(host_id)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(
    UNKNOWN_DOMAIN_NOTE = "INSERT INTO unknown_domains (host_id, uuid, name) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING"
);

/// Remembers a domain nobody owns; true the first time it is seen on that host.
pub async fn unknown_domain_note(
    db: impl PgExecutor<'_>,
    host_id: HostId,
    uuid: Uuid,
    name: &str,
) -> Result<bool> {
    Ok(UNKNOWN_DOMAIN_NOTE
        .query()
        .bind(host_id)
        .bind(uuid)
        .bind(name)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(
    UNKNOWN_DOMAIN_FORGET_OTHERS =
        "DELETE FROM unknown_domains WHERE host_id = $1 AND NOT (uuid = ANY($2))"
);

/// Forgets unknown domains of a host that are no longer reported.
pub async fn unknown_domain_forget_others(
    db: impl PgExecutor<'_>,
    host_id: HostId,
    still: &[Uuid],
) -> Result<()> {
    UNKNOWN_DOMAIN_FORGET_OTHERS
        .query()
        .bind(host_id)
        .bind(still)
        .execute(db)
        .await?;
    Ok(())
}

/// A NIC as listVirtualMachines shows it (aggregated as JSON in [`VmListRow`]).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NicView {
    pub id: NicId,
    pub network_id: NetworkId,
    pub network_name: String,
    pub ip_address: String,
    pub mac_address: String,
    pub is_default: bool,
    pub gateway: Option<String>,
    pub netmask: Option<String>,
    pub bridge: String,
    /// `Shared` (a Basic zone's) or `Isolated`.
    #[serde(default)]
    pub guest_type: String,
    /// CloudStack's broadcast URI of the NIC's network (`vlan://untagged`,
    /// `vxlan://<vni>`, `vlan://<id>`; none while an isolated network holds no id).
    #[serde(default)]
    pub broadcast_uri: Option<String>,
}

/// A listVirtualMachines row: the VM with the names around it, its NICs and root volume.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct VmListRow {
    #[sqlx(flatten)]
    pub vm: VmRow,
    pub zone_name: String,
    pub host_name: Option<String>,
    pub account_name: String,
    pub domain_name: String,
    pub domain_path: String,
    pub user_name: Option<String>,
    pub service_offering_name: String,
    pub disk_offering_name: Option<String>,
    pub iso_name: Option<String>,
    pub iso_display_text: Option<String>,
    pub os_type_id: Option<OsTypeId>,
    pub os_display_name: Option<String>,
    pub root_volume_id: Option<VolumeId>,
    pub root_size_bytes: Option<i64>,
    pub user_data_name: Option<String>,
    /// The template's `passwordenabled` (none: an ISO).
    pub password_enabled: Option<bool>,
    pub template_name: Option<String>,
    pub template_display_text: Option<String>,
    /// The template's type and format (an ISO's: USER, ISO), as CloudStack answers them.
    #[sqlx(default)]
    pub template_type: Option<String>,
    #[sqlx(default)]
    pub template_format: Option<String>,
    pub instance_name: String,
    pub nics: sqlx::types::Json<Vec<NicView>>,
    /// The project owning the VM (its account is the project's own).
    pub project_id: Option<ProjectId>,
    pub project_name: Option<String>,
}

/// listVirtualMachines' `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateFilter {
    Is(VmState),
    /// CloudStack's `Present`: every state but Destroyed and Expunging.
    Present,
    /// A spelling no Stratus VM has: matches none.
    Other(String),
}

impl StateFilter {
    /// The wire's value, in any case (CloudStack compares states ignoring case).
    pub fn parse(s: &str) -> StateFilter {
        if s.eq_ignore_ascii_case("present") {
            return StateFilter::Present;
        }
        match VmState::ALL
            .iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
        {
            Some(v) => StateFilter::Is(*v),
            None => StateFilter::Other(s.to_string()),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct VmFilter {
    pub common: ListFilter,
    pub account_id: Option<AccountId>,
    /// Any of these owners (a list's `projectid`).
    pub account_ids: Option<Vec<AccountId>>,
    /// Leave out what projects' own accounts own (CloudStack's `SkipProjectResources`:
    /// `listall` without `projectid`).
    pub skip_projects: bool,
    pub domain_id: Option<DomainId>,
    pub zone_id: Option<ZoneId>,
    pub host_id: Option<HostId>,
    pub state: Option<StateFilter>,
    pub iso_id: Option<IsoId>,
    pub network_id: Option<NetworkId>,
    pub service_offering_id: Option<ServiceOfferingId>,
    /// `tags[n].key`/`tags[n].value`: only VMs carrying every pair.
    pub tags: super::tags::TagMatch,
}

const VM_LIST_SELECT: &str = "v.*, z.name AS zone_name, h.name AS host_name,
    a.name AS account_name, d.name AS domain_name, d.path AS domain_path, u.username AS user_name,
    so.name AS service_offering_name, dof.name AS disk_offering_name,
    i.name AS iso_name, i.display_text AS iso_display_text,
    COALESCE(t.os_type_id, i.os_type_id) AS os_type_id, ot.description AS os_display_name,
    rv.id AS root_volume_id, rv.size_bytes AS root_size_bytes,
    ud.name AS user_data_name, t.password_enabled,
    t.name AS template_name, t.display_text AS template_display_text,
    COALESCE(t.template_type, CASE WHEN i.id IS NOT NULL THEN 'USER' END) AS template_type,
    COALESCE(t.format, CASE WHEN i.id IS NOT NULL THEN 'ISO' END) AS template_format,
    'i-' || a.number || '-' || v.instance_number || '-' || v.instance_suffix AS instance_name,
    COALESCE((SELECT jsonb_agg(jsonb_build_object(
            'id', n.id, 'network_id', n.network_id, 'network_name', net.name,
            'ip_address', host(n.ip_address), 'mac_address', n.mac_address::text,
            'is_default', n.is_default, 'bridge', net.bridge,
            'gateway', host(COALESCE(net.net_gateway, g.gateway)),
            'netmask', host(COALESCE(netmask(net.net_cidr), g.netmask)),
            'guest_type', net.guest_type,
            'broadcast_uri', CASE WHEN net.account_id IS NULL THEN 'vlan://untagged'
                WHEN gv.vnet IS NULL THEN NULL
                WHEN pn.isolation_method = 'VXLAN' THEN 'vxlan://' || gv.vnet
                ELSE 'vlan://' || gv.vnet END)
            ORDER BY n.is_default DESC, n.created)
        FROM nics n JOIN networks net ON net.id = n.network_id
        LEFT JOIN guest_vnets gv ON gv.network_id = net.id
        LEFT JOIN physical_networks pn ON pn.id = net.physical_network_id
        LEFT JOIN LATERAL (SELECT r.gateway, r.netmask FROM ip_ranges r
                           WHERE net.net_cidr IS NULL
                             AND r.zone_id = net.zone_id AND r.purpose = 'guest'
                           ORDER BY r.created, r.id LIMIT 1) g ON true
        WHERE n.vm_id = v.id), '[]'::jsonb) AS nics,
    pr.id AS project_id, pr.name AS project_name";

const VM_LIST_JOINS: &str = "JOIN zones z ON z.id = v.zone_id
    LEFT JOIN hosts h ON h.id = COALESCE(v.host_id, v.last_host_id)
    JOIN accounts a ON a.id = v.account_id
    JOIN domains d ON d.id = v.domain_id
    LEFT JOIN users u ON u.id = v.user_id
    JOIN service_offerings so ON so.id = v.service_offering_id
    LEFT JOIN disk_offerings dof ON dof.id = v.disk_offering_id
    LEFT JOIN isos i ON i.id = v.iso_id
    LEFT JOIN user_data ud ON ud.id = v.user_data_id
    LEFT JOIN templates t ON t.id = v.template_id
    LEFT JOIN os_types ot ON ot.id = COALESCE(t.os_type_id, i.os_type_id)
    LEFT JOIN volumes rv ON rv.vm_id = v.id AND rv.volume_type = 'ROOT' AND rv.removed IS NULL
    LEFT JOIN projects pr ON pr.account_id = v.account_id";

// A page is found in two statements (a deferred join). The first walks the base table in
// its `(created, id)` index order and returns only the page's ids and the total, so OFFSET
// skips index entries, not joined rows; the second joins everything around those ids,
// with no optional filters, so Postgres keeps one generic plan for it (planning 13 joins
// was ~10 ms of every call). Measured at 25,000 VMs: one statement sorting every joined
// row took 390 ms for page 10 of 500, these two ~30 ms (docs/benchmarks.md, issue 20).
stmt!(VM_LIST_PAGE: (Uuid, i64) = named format!(
    "SELECT v.id, (SELECT count(*) FROM vms cnt WHERE {count_where}) AS total
     FROM vms v WHERE {page_where}
     ORDER BY v.created, v.id OFFSET $offset LIMIT $limit",
    count_where = vm_list_where().replace("{a}", "cnt"),
    page_where = vm_list_where().replace("{a}", "v"),
));

stmt!(VM_LIST_ROWS: VmListRow = format!(
    "SELECT {VM_LIST_SELECT} FROM vms v {VM_LIST_JOINS}
     WHERE v.id = ANY($1) ORDER BY v.created, v.id"
));

fn vm_list_where() -> String {
    format!(
        "{VM_LIST_WHERE} AND {}",
        super::tags::carries_sql(super::tags::TagType::UserVm, "{a}.id")
    )
}

const VM_LIST_WHERE: &str = "{a}.removed IS NULL
             AND ($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword OR {a}.display_name ILIKE $keyword)
             AND ($account_id::uuid IS NULL OR {a}.account_id = $account_id)
             AND ($account_ids::uuid[] IS NULL OR {a}.account_id = ANY($account_ids))
             AND (NOT $skip_projects::bool OR NOT EXISTS (SELECT 1 FROM accounts xpa
                 WHERE xpa.id = {a}.account_id AND xpa.account_type = 5))
             AND ($domain_id::uuid IS NULL OR {a}.domain_id = $domain_id)
             AND ($zone_id::uuid IS NULL OR {a}.zone_id = $zone_id)
             AND ($host_id::uuid IS NULL OR {a}.host_id = $host_id)
             AND ($state::text IS NULL OR {a}.state = $state)
             AND (NOT $present::bool OR {a}.state NOT IN ('Destroyed', 'Expunging'))
             AND ($iso_id::uuid IS NULL OR {a}.iso_id = $iso_id)
             AND ($network_id::uuid IS NULL OR EXISTS (SELECT 1 FROM nics xn
                                              WHERE xn.vm_id = {a}.id AND xn.network_id = $network_id))
             AND ($service_offering_id::uuid IS NULL OR {a}.service_offering_id = $service_offering_id)
             AND ($ids::uuid[] IS NULL OR {a}.id = ANY($ids))";

/// A page of VMs as `f` selects them, and how many it selects in all (0 for a page past
/// the end). Two statements, not one snapshot: a VM removed between them is left out of
/// the page, as it would be a moment later.
pub async fn vm_list(db: &sqlx::PgPool, f: &VmFilter) -> Result<(Vec<VmListRow>, i64)> {
    let (state, present) = match &f.state {
        Some(StateFilter::Is(s)) => (Some(s.as_str()), false),
        Some(StateFilter::Present) => (None, true),
        // A state Stratus never sets (CloudStack's `Migrating`, `Shutdown`, ...): none.
        Some(StateFilter::Other(s)) => (Some(s.as_str()), false),
        None => (None, false),
    };
    let page: Vec<(Uuid, i64)> = VM_LIST_PAGE
        .query_as_with(
            f.tags
                .bind(Binds::new())
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("account_id", f.account_id)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
                .set("domain_id", f.domain_id)
                .set("zone_id", f.zone_id)
                .set("host_id", f.host_id)
                .set("state", state)
                .set("present", present)
                .set("iso_id", f.iso_id)
                .set("network_id", f.network_id)
                .set("service_offering_id", f.service_offering_id)
                .set("ids", &f.common.ids)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    super::rows_of_page(db, page, &VM_LIST_ROWS).await
}

statements![
    VM_MOVE_HOST,
    VM_MIGRATION_HOLD,
    VM_MIGRATION_RELEASE,
    VM_MIGRATING,
    VM_MIGRATION_TARGET,
    VM_METRICS_INSERT,
    VM_METRICS_PURGE,
    VM_METRICS_LIST,
    VM_METRICS_LATEST,
    VM_SET_IMAGE,
    VM_INSERT,
    VM_SET_USER_DATA,
    VM_SET_KEYPAIR,
    VM_SET_NAMES,
    VM_SET_OFFERING,
    VM_SET_PASSWORD,
    VM_PASSWORD_DELIVERED,
    VM_FETCH,
    VM_FETCH_FOR_UPDATE,
    VM_SET_STATE,
    VM_SET_ISO,
    VM_MARK_DESTROYED,
    VM_MARK_RECOVERED,
    VM_MARK_EXPUNGED,
    VM_LIST_DUE_FOR_EXPUNGE,
    VM_LIST_ON_HOST,
    VM_RUNNING_ON_HOST,
    VM_RUNNING_OF_ACCOUNT,
    VM_SET_RESUME,
    VM_TAKE_RESUMABLE,
    VM_KNOWN,
    VM_MARK_DIED,
    UNKNOWN_DOMAIN_NOTE,
    UNKNOWN_DOMAIN_FORGET_OTHERS,
    VM_LIST_PAGE,
    VM_LIST_ROWS
];

// Live migration (issue 16).
stmt!(
    VM_MOVE_HOST = "UPDATE vms SET host_id = $3, last_host_id = $2, migrating_to = NULL, migrating_until = now()
         WHERE id = $1 AND host_id = $2"
);
stmt!(
    VM_MIGRATION_HOLD =
        "UPDATE vms SET migrating_to = $2, migrating_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND (migrating_to IS NULL OR migrating_until <= now())"
);
stmt!(VM_MIGRATING: Scalar<bool> = "SELECT COALESCE(migrating_until > now(), false) FROM vms WHERE id = $1");

/// Whether a live migration of the VM holds a destination now.
pub async fn vm_migrating(db: impl PgExecutor<'_>, id: VmId) -> Result<bool> {
    Ok(VM_MIGRATING
        .query_scalar()
        .bind(id)
        .fetch_optional(db)
        .await?
        .unwrap_or(false))
}

stmt!(VM_MIGRATION_TARGET: Scalar<Option<crate::ids::HostId>> = "SELECT migrating_to FROM vms WHERE id = $1 AND migrating_until > now()");

/// The destination a migration of the VM holds now, if any (a resumed VmMigrate finds
/// its own hold: at most one workflow runs on a VM).
pub async fn vm_migration_target(
    db: impl PgExecutor<'_>,
    id: VmId,
) -> Result<Option<crate::ids::HostId>> {
    Ok(VM_MIGRATION_TARGET
        .query_scalar()
        .bind(id)
        .fetch_optional(db)
        .await?
        .flatten())
}

stmt!(
    VM_MIGRATION_RELEASE =
        "UPDATE vms SET migrating_to = NULL, migrating_until = LEAST(migrating_until, now()) WHERE id = $1"
);

/// Holds `to`'s room for the VM's live migration for `for_secs` (counted by placement,
/// `capacity::HOST_CANDIDATES`); false when a migration of the VM already holds a host.
pub async fn vm_migration_hold(
    db: impl PgExecutor<'_>,
    id: VmId,
    to: crate::ids::HostId,
    for_secs: f64,
) -> Result<bool> {
    let n = VM_MIGRATION_HOLD
        .query()
        .bind(id)
        .bind(to)
        .bind(for_secs)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The VM's migration ended without moving it: its destination's room is free again.
pub async fn vm_migration_release(db: impl PgExecutor<'_>, id: VmId) -> Result<()> {
    VM_MIGRATION_RELEASE.query().bind(id).execute(db).await?;
    Ok(())
}

/// A migrated VM now runs on `to` (only if it was still on `from`).
pub async fn vm_move_host(
    db: impl PgExecutor<'_>,
    id: VmId,
    from: crate::ids::HostId,
    to: crate::ids::HostId,
) -> Result<bool> {
    let n = VM_MOVE_HOST
        .query()
        .bind(id)
        .bind(from)
        .bind(to)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n == 1)
}
