//! Security groups (issue 14, migration 0052): an account's groups, their allow rules, the
//! VMs in them, and what each host has been asked to enforce and has confirmed
//! (`sg_host_state`). The migration's triggers raise a host's generation whenever a
//! change touches one of its guests' filters (a rule, a membership, a VM arriving or
//! leaving), so no code path can forget to; the `sg-sync` reconciler pushes the rule
//! sets these reads assemble.

use crate::ids::{
    AccountId, DomainId, HostId, ProjectId, SecurityGroupId, SecurityGroupRuleId, VmId,
};
use crate::rules::security_groups::Direction;
use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use sqlx::PgExecutor;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct SecurityGroupRow {
    pub id: SecurityGroupId,
    pub name: String,
    pub description: Option<String>,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub is_default: bool,
    pub created: DateTime<Utc>,
    pub account_name: String,
    pub domain_name: String,
    #[sqlx(default)]
    pub domain_path: Option<String>,
    #[sqlx(default)]
    pub project_id: Option<ProjectId>,
    #[sqlx(default)]
    pub project_name: Option<String>,
}

const SELECT: &str = "g.*, a.name AS account_name, d.name AS domain_name, d.path AS domain_path,
    pr.id AS project_id, pr.name AS project_name";
const JOINS: &str = "JOIN accounts a ON a.id = g.account_id JOIN domains d ON d.id = g.domain_id
    LEFT JOIN projects pr ON pr.account_id = g.account_id";

#[derive(Debug, Clone)]
pub struct NewSecurityGroup<'a> {
    pub id: SecurityGroupId,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub account_id: AccountId,
    pub domain_id: DomainId,
}

stmt!(
    SG_INSERT = "INSERT INTO security_groups (id, name, description, account_id, domain_id)
         VALUES ($1,$2,$3,$4,$5)"
);

/// Fails on the unique index `security_groups_account_name_key` if the account has a
/// group of that name (case-insensitively).
pub async fn sg_insert(db: impl PgExecutor<'_>, g: &NewSecurityGroup<'_>) -> Result<()> {
    SG_INSERT
        .query()
        .bind(g.id)
        .bind(g.name)
        .bind(g.description)
        .bind(g.account_id)
        .bind(g.domain_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(SG_FETCH: SecurityGroupRow = format!("SELECT {SELECT} FROM security_groups g {JOINS} WHERE g.id = $1"));

pub async fn sg_fetch(
    db: impl PgExecutor<'_>,
    id: SecurityGroupId,
) -> Result<Option<SecurityGroupRow>> {
    Ok(SG_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(SG_FETCH_BY_NAME: SecurityGroupRow = format!(
    "SELECT {SELECT} FROM security_groups g {JOINS} WHERE g.account_id = $1 AND lower(g.name) = lower($2)"
));

/// The account's group of this name (case-insensitively, as the unique index).
pub async fn sg_fetch_by_name(
    db: impl PgExecutor<'_>,
    account: AccountId,
    name: &str,
) -> Result<Option<SecurityGroupRow>> {
    Ok(SG_FETCH_BY_NAME
        .query_as()
        .bind(account)
        .bind(name)
        .fetch_optional(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct SecurityGroupFilter {
    pub common: ListFilter,
    /// None: every account's (a root admin's `listall`).
    pub account_id: Option<AccountId>,
    /// Any of these accounts' (a domain's, a project's).
    pub account_ids: Option<Vec<AccountId>>,
    /// Leave out what projects' own accounts own (`listall` without `projectid`).
    pub skip_projects: bool,
    /// Only the groups this VM is in.
    pub vm_id: Option<VmId>,
}

stmt!(SG_LIST: Counted<SecurityGroupRow> = named paged_sql(
    SELECT,
    "security_groups",
    "g",
    JOINS,
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR lower({a}.name) = lower($name))
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword)
             AND ($account_id::uuid IS NULL OR {a}.account_id = $account_id)
             AND ($account_ids::uuid[] IS NULL OR {a}.account_id = ANY($account_ids))
             AND (NOT $skip_projects::bool OR NOT EXISTS (SELECT 1 FROM accounts xpa
                 WHERE xpa.id = {a}.account_id AND xpa.account_type = 5))
             AND ($vm_id::uuid IS NULL OR EXISTS (SELECT 1 FROM vm_security_groups xm
                 WHERE xm.group_id = {a}.id AND xm.vm_id = $vm_id))",
    "g.created, g.id",
));

/// Oldest first (an account's `default` leads).
pub async fn sg_list(
    db: impl PgExecutor<'_>,
    f: &SecurityGroupFilter,
) -> Result<(Vec<SecurityGroupRow>, i64)> {
    let rows: Vec<Counted<_>> = SG_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("account_id", f.account_id)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
                .set("vm_id", f.vm_id)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

/// One allow rule, with the group it names (if any) for the answer's
/// `securitygroupname`/`account`.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct RuleRow {
    pub id: SecurityGroupRuleId,
    pub group_id: SecurityGroupId,
    pub direction: Direction,
    pub protocol: String,
    pub start_port: i32,
    pub end_port: i32,
    /// As the client sent it.
    pub cidr_text: Option<String>,
    /// The network it names (host bits cleared).
    pub cidr: Option<IpNetwork>,
    pub allowed_group_id: Option<SecurityGroupId>,
    pub allowed_group_name: Option<String>,
    pub allowed_account_name: Option<String>,
}

const RULE_SELECT: &str =
    "SELECT r.id, r.group_id, r.direction, r.protocol, r.start_port, r.end_port,
        r.cidr_text, r.cidr::inet AS cidr, r.allowed_group_id, ag.name AS allowed_group_name,
        aa.name AS allowed_account_name
    FROM security_group_rules r
    LEFT JOIN security_groups ag ON ag.id = r.allowed_group_id
    LEFT JOIN accounts aa ON aa.id = ag.account_id";

stmt!(RULES_OF: RuleRow = format!("{RULE_SELECT} WHERE r.group_id = ANY($1) ORDER BY r.created, r.id"));

/// The rules of these groups, oldest first.
pub async fn rules_of(db: impl PgExecutor<'_>, groups: &[SecurityGroupId]) -> Result<Vec<RuleRow>> {
    Ok(RULES_OF.query_as().bind(groups).fetch_all(db).await?)
}

stmt!(RULE_FETCH: RuleRow = format!("{RULE_SELECT} WHERE r.id = $1"));

pub async fn rule_fetch(
    db: impl PgExecutor<'_>,
    id: SecurityGroupRuleId,
) -> Result<Option<RuleRow>> {
    Ok(RULE_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

#[derive(Debug, Clone)]
pub struct NewRule<'a> {
    pub id: SecurityGroupRuleId,
    pub group_id: SecurityGroupId,
    pub direction: Direction,
    pub protocol: &'a str,
    pub start_port: i32,
    pub end_port: i32,
    /// A checked CIDR, as sent (stored as sent and as the network it names).
    pub cidr: Option<&'a str>,
    pub allowed_group_id: Option<SecurityGroupId>,
}

stmt!(
    RULE_INSERT = "INSERT INTO security_group_rules
         (id, group_id, direction, protocol, start_port, end_port, cidr, cidr_text, allowed_group_id)
         VALUES ($1,$2,$3,$4,$5,$6,network($7::inet)::cidr,$7,$8)
         ON CONFLICT DO NOTHING"
);

/// Inserts the rule unless the group has the same one; false: it had (skipped).
pub async fn rule_insert(db: impl PgExecutor<'_>, r: &NewRule<'_>) -> Result<bool> {
    let done = RULE_INSERT
        .query()
        .bind(r.id)
        .bind(r.group_id)
        .bind(r.direction)
        .bind(r.protocol)
        .bind(r.start_port)
        .bind(r.end_port)
        .bind(r.cidr)
        .bind(r.allowed_group_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

stmt!(RULE_DELETE = "DELETE FROM security_group_rules WHERE id = $1");

pub async fn rule_delete(db: impl PgExecutor<'_>, id: SecurityGroupRuleId) -> Result<bool> {
    Ok(RULE_DELETE
        .query()
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

/// A VM in a group (`virtualmachineids`, the VM answer's `securitygroup`).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct MemberRow {
    pub vm_id: VmId,
    pub group_id: SecurityGroupId,
    pub group_name: String,
    pub description: Option<String>,
    pub account_name: String,
}

stmt!(MEMBERS_OF_GROUPS: MemberRow = "SELECT m.vm_id, m.group_id, g.name AS group_name, g.description,
        a.name AS account_name
    FROM vm_security_groups m JOIN vms v ON v.id = m.vm_id
    JOIN security_groups g ON g.id = m.group_id JOIN accounts a ON a.id = g.account_id
    WHERE m.group_id = ANY($1) AND v.removed IS NULL ORDER BY v.created, v.id");

/// The VMs (not expunged) in these groups.
pub async fn members_of_groups(
    db: impl PgExecutor<'_>,
    groups: &[SecurityGroupId],
) -> Result<Vec<MemberRow>> {
    Ok(MEMBERS_OF_GROUPS
        .query_as()
        .bind(groups)
        .fetch_all(db)
        .await?)
}

stmt!(GROUPS_OF_VMS: MemberRow = "SELECT m.vm_id, m.group_id, g.name AS group_name, g.description,
        a.name AS account_name
    FROM vm_security_groups m JOIN security_groups g ON g.id = m.group_id
    JOIN accounts a ON a.id = g.account_id
    WHERE m.vm_id = ANY($1) ORDER BY g.created, g.id");

/// The groups of these VMs.
pub async fn groups_of_vms(db: impl PgExecutor<'_>, vms: &[VmId]) -> Result<Vec<MemberRow>> {
    Ok(GROUPS_OF_VMS.query_as().bind(vms).fetch_all(db).await?)
}

stmt!(VM_GROUPS_CLEAR = "DELETE FROM vm_security_groups WHERE vm_id = $1");
stmt!(
    VM_GROUPS_ADD = "INSERT INTO vm_security_groups (vm_id, group_id)
         SELECT $1, g FROM unnest($2::uuid[]) g ON CONFLICT DO NOTHING"
);

/// Puts the VM in exactly these groups.
pub async fn vm_groups_set(
    tx: &mut sqlx::PgConnection,
    vm: VmId,
    groups: &[SecurityGroupId],
) -> Result<()> {
    VM_GROUPS_CLEAR.query().bind(vm).execute(&mut *tx).await?;
    VM_GROUPS_ADD
        .query()
        .bind(vm)
        .bind(groups)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

stmt!(SG_IN_USE: Scalar<bool> = "SELECT EXISTS (SELECT 1 FROM vm_security_groups m
        JOIN vms v ON v.id = m.vm_id WHERE m.group_id = $1 AND v.removed IS NULL)");

/// Whether a VM (not expunged) is in the group.
pub async fn sg_in_use(db: impl PgExecutor<'_>, id: SecurityGroupId) -> Result<bool> {
    Ok(SG_IN_USE.query_scalar().bind(id).fetch_one(db).await?)
}

stmt!(SG_REFERENCED: Scalar<bool> = "SELECT EXISTS (SELECT 1 FROM security_group_rules
        WHERE allowed_group_id = $1 AND group_id <> $1)");

/// Whether another group's rules name this one.
pub async fn sg_referenced(db: impl PgExecutor<'_>, id: SecurityGroupId) -> Result<bool> {
    Ok(SG_REFERENCED.query_scalar().bind(id).fetch_one(db).await?)
}

stmt!(
    SG_FORGET_EXPUNGED = "DELETE FROM vm_security_groups m USING vms v
         WHERE m.vm_id = v.id AND m.group_id = $1 AND v.removed IS NOT NULL"
);
stmt!(SG_DELETE_SELF_RULES = "DELETE FROM security_group_rules WHERE allowed_group_id = $1");
stmt!(SG_DELETE = "DELETE FROM security_groups WHERE id = $1");

/// Deletes the group (its rules with it, and the memberships of expunged VMs); false if
/// there was none. The caller has checked [`sg_in_use`] and [`sg_referenced`] in the same
/// transaction; the foreign keys refuse it otherwise.
pub async fn sg_delete(tx: &mut sqlx::PgConnection, id: SecurityGroupId) -> Result<bool> {
    SG_FORGET_EXPUNGED
        .query()
        .bind(id)
        .execute(&mut *tx)
        .await?;
    // Its own rules naming itself.
    SG_DELETE_SELF_RULES
        .query()
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(SG_DELETE
        .query()
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1)
}

stmt!(SG_RENAME = "UPDATE security_groups SET name = $2 WHERE id = $1");

/// Fails on the unique index if the account has a group of that name.
pub async fn sg_rename(db: impl PgExecutor<'_>, id: SecurityGroupId, name: &str) -> Result<()> {
    SG_RENAME.query().bind(id).bind(name).execute(db).await?;
    Ok(())
}

stmt!(SG_LOCK = "SELECT 1 FROM security_groups WHERE id = $1 FOR UPDATE");

/// Serialises changes to one group (a delete against an authorize naming it).
pub async fn sg_lock(tx: &mut sqlx::PgConnection, id: SecurityGroupId) -> Result<()> {
    SG_LOCK.query().bind(id).execute(&mut *tx).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// What a host enforces.

/// A guest NIC on a host, with its VM's groups (none: not filtered).
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct HostNicRow {
    pub vm_id: VmId,
    pub mac: String,
    pub ip: IpNetwork,
    pub groups: Vec<SecurityGroupId>,
}

stmt!(HOST_NICS: HostNicRow = "SELECT v.id AS vm_id, n.mac_address::text AS mac, n.ip_address AS ip,
        coalesce((SELECT array_agg(m.group_id ORDER BY m.group_id) FROM vm_security_groups m
                  WHERE m.vm_id = v.id), '{}') AS groups
    FROM vms v JOIN nics n ON n.vm_id = v.id
    WHERE (v.host_id = $1 AND v.state IN ('Starting', 'Running', 'Stopping'))
       OR v.migrating_to = $1
    ORDER BY n.mac_address");

/// The NICs of the VMs on this host (and arriving by migration).
pub async fn host_nics(db: impl PgExecutor<'_>, host: HostId) -> Result<Vec<HostNicRow>> {
    Ok(HOST_NICS.query_as().bind(host).fetch_all(db).await?)
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct GroupIpRow {
    pub group_id: SecurityGroupId,
    pub ip: IpNetwork,
}

stmt!(GROUP_IPS: GroupIpRow = "SELECT m.group_id, n.ip_address AS ip
    FROM vm_security_groups m JOIN vms v ON v.id = m.vm_id JOIN nics n ON n.vm_id = v.id
    WHERE m.group_id = ANY($1) AND v.state IN ('Starting', 'Running', 'Stopping')
    ORDER BY m.group_id, n.ip_address");

/// The addresses of these groups' members that run (or are starting or stopping).
pub async fn group_ips(
    db: impl PgExecutor<'_>,
    groups: &[SecurityGroupId],
) -> Result<Vec<GroupIpRow>> {
    Ok(GROUP_IPS.query_as().bind(groups).fetch_all(db).await?)
}

/// A host whose filter is behind: the generation to push.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct DueHostRow {
    pub host_id: HostId,
    pub generation: i64,
}

stmt!(HOSTS_DUE: DueHostRow = "SELECT s.host_id, s.generation FROM sg_host_state s
    JOIN hosts h ON h.id = s.host_id
    WHERE s.applied < s.generation AND h.status = 'Up'
    ORDER BY s.host_id LIMIT $1");

/// Up hosts whose agents have not confirmed their newest rule set.
pub async fn hosts_due(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<DueHostRow>> {
    Ok(HOSTS_DUE.query_as().bind(limit).fetch_all(db).await?)
}

stmt!(
    HOST_APPLIED = "UPDATE sg_host_state SET applied = greatest(applied, $2),
         applied_at = now(), error = NULL WHERE host_id = $1"
);

/// The agent confirmed this generation.
pub async fn host_applied(db: impl PgExecutor<'_>, host: HostId, generation: i64) -> Result<()> {
    HOST_APPLIED
        .query()
        .bind(host)
        .bind(generation)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(HOST_FAILED = "UPDATE sg_host_state SET error = $2 WHERE host_id = $1");

/// The push failed; kept for admins, retried on the next pass.
pub async fn host_failed(db: impl PgExecutor<'_>, host: HostId, error: &str) -> Result<()> {
    HOST_FAILED
        .query()
        .bind(host)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    HOST_RESET = "INSERT INTO sg_host_state (host_id, applied) VALUES ($1, 0)
         ON CONFLICT (host_id) DO UPDATE SET applied = least(sg_host_state.applied, $2)
         WHERE sg_host_state.applied > $2"
);

/// The agent reports it enforces `reported` (0 after a restart or a reboot): the host is
/// due again if it had confirmed more.
pub async fn host_reported(db: impl PgExecutor<'_>, host: HostId, reported: i64) -> Result<()> {
    HOST_RESET
        .query()
        .bind(host)
        .bind(reported)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(HOST_GENERATION: Scalar<i64> = "INSERT INTO sg_host_state (host_id) VALUES ($1)
    ON CONFLICT (host_id) DO UPDATE SET generation = sg_host_state.generation
    RETURNING generation");

/// The newest generation of the host's filter (starting it at 1 if it has none).
pub async fn host_generation(db: impl PgExecutor<'_>, host: HostId) -> Result<i64> {
    Ok(HOST_GENERATION
        .query_scalar()
        .bind(host)
        .fetch_one(db)
        .await?)
}

/// Where a host's filter stands: the newest generation, the one its agent confirmed, and
/// the last push's failure.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct HostSgRow {
    pub generation: i64,
    pub applied: i64,
    pub error: Option<String>,
}

stmt!(HOST_SG_STATE: HostSgRow = "SELECT generation, applied, error FROM sg_host_state
    WHERE host_id = $1");

/// A host's filter state (None: no VM of a group has touched it yet).
pub async fn host_sg_state(db: impl PgExecutor<'_>, host: HostId) -> Result<Option<HostSgRow>> {
    Ok(HOST_SG_STATE
        .query_as()
        .bind(host)
        .fetch_optional(db)
        .await?)
}

statements![
    SG_INSERT,
    SG_FETCH,
    SG_FETCH_BY_NAME,
    SG_LIST,
    RULES_OF,
    RULE_FETCH,
    RULE_INSERT,
    RULE_DELETE,
    MEMBERS_OF_GROUPS,
    GROUPS_OF_VMS,
    VM_GROUPS_CLEAR,
    VM_GROUPS_ADD,
    SG_IN_USE,
    SG_REFERENCED,
    SG_FORGET_EXPUNGED,
    SG_DELETE_SELF_RULES,
    SG_DELETE,
    SG_RENAME,
    SG_LOCK,
    HOST_NICS,
    GROUP_IPS,
    HOSTS_DUE,
    HOST_APPLIED,
    HOST_FAILED,
    HOST_RESET,
    HOST_GENERATION,
    HOST_SG_STATE,
];
