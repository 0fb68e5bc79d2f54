//! Resource limits and what accounts use (migration 0027). Usage is computed from the
//! resources themselves, never stored: an allocation locks its account's row
//! ([`account_lock_for_limits`]), reads [`usage_of_accounts`] and inserts in the same
//! transaction, so concurrent allocations of one account queue on that row and each sees
//! the others' rows.

use crate::ids::{AccountId, DomainId};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{RowShape, Scalar};
use crate::error::Result;

/// What an account has in use, in usage units (bytes for storage, MiB for memory).
#[derive(Debug, Clone, Default, sqlx::FromRow, RowShape)]
pub struct UsageRow {
    pub account_id: AccountId,
    pub user_vm: i64,
    pub cpu: i64,
    pub memory: i64,
    pub volume: i64,
    pub primary_bytes: i64,
    pub template: i64,
    pub secondary_bytes: i64,
    pub vm_running: i64,
    pub vm_stopped: i64,
    /// Projects the account owns (is an Admin of).
    pub project: i64,
    /// Volume snapshots (issue 16), from createSnapshot until deleteSnapshot.
    pub snapshot: i64,
    /// Isolated networks (issue 15), from createNetwork until deleteNetwork.
    #[sqlx(default)]
    pub network: i64,
    /// Public addresses (issue 15) the account holds, its networks' source NAT ones too.
    #[sqlx(default)]
    pub public_ip: i64,
}

// A VM counts from its creation until it is destroyed, expunged or failed (CloudStack's
// Destroyed, Expunging and Error are not counted either); with it its root volume, whose
// size is the volume's once the deploy made it and the size it was admitted with before.
// Templates and ISOs both count as CloudStack's `template` type; secondary storage is
// their Ready copies. Data volumes (issue 16) count as volumes and primary storage from
// createVolume until deleteVolume, attached or not. Snapshots (issue 16) count from
// createSnapshot until deleteSnapshot (one that failed does not), and their files as
// secondary storage.
stmt!(USAGE_OF_ACCOUNTS: UsageRow = "WITH vm AS (
           SELECT v.account_id, count(*) AS n,
                  count(*) FILTER (WHERE v.state = 'Running') AS running,
                  count(*) FILTER (WHERE v.state = 'Stopped') AS stopped,
                  sum(v.cpu_number)::bigint AS cpu, sum(v.memory_mb)::bigint AS mem,
                  sum(COALESCE(r.size_bytes, v.root_reserved_bytes, 0))::bigint AS primary_bytes
           FROM vms v
           LEFT JOIN LATERAL (
               SELECT size_bytes FROM volumes r
               WHERE r.vm_id = v.id AND r.volume_type = 'ROOT' AND r.removed IS NULL
                 AND r.state NOT IN ('Destroy', 'Expunged')
               ORDER BY r.created DESC LIMIT 1) r ON true
           WHERE v.account_id = ANY($1) AND v.removed IS NULL
             AND v.state NOT IN ('Destroyed', 'Expunging', 'Expunged', 'Error')
           GROUP BY v.account_id),
         dv AS (
           SELECT account_id, count(*) AS n, sum(size_bytes)::bigint AS bytes FROM volumes
           WHERE account_id = ANY($1) AND volume_type = 'DATADISK' AND removed IS NULL
           GROUP BY account_id)
         SELECT a.id AS account_id,
                COALESCE(vm.n, 0)::bigint AS user_vm,
                COALESCE(vm.cpu, 0)::bigint AS cpu,
                COALESCE(vm.mem, 0)::bigint AS memory,
                (COALESCE(vm.n, 0) + COALESCE(dv.n, 0))::bigint AS volume,
                (COALESCE(vm.primary_bytes, 0) + COALESCE(dv.bytes, 0))::bigint AS primary_bytes,
                ((SELECT count(*) FROM templates t WHERE t.account_id = a.id AND t.removed IS NULL)
                 + (SELECT count(*) FROM isos i WHERE i.account_id = a.id AND i.removed IS NULL))::bigint
                    AS template,
                (COALESCE((SELECT sum(z.size) FROM template_zones z JOIN templates t ON t.id = z.template_id
                           WHERE t.account_id = a.id AND t.removed IS NULL AND z.state = 'Ready'), 0)
                 + COALESCE((SELECT sum(z.size) FROM iso_zones z JOIN isos i ON i.id = z.iso_id
                           WHERE i.account_id = a.id AND i.removed IS NULL AND z.state = 'Ready'), 0)
                 + COALESCE((SELECT sum(s.physical_size) FROM snapshots s
                           WHERE s.account_id = a.id AND s.removed IS NULL), 0))::bigint
                    AS secondary_bytes,
                COALESCE(vm.running, 0)::bigint AS vm_running,
                COALESCE(vm.stopped, 0)::bigint AS vm_stopped,
                (SELECT count(*) FROM project_accounts pa JOIN projects p ON p.id = pa.project_id
                 WHERE pa.account_id = a.id AND pa.role = 'Admin' AND p.removed IS NULL)::bigint
                    AS project,
                (SELECT count(*) FROM snapshots s WHERE s.account_id = a.id AND s.removed IS NULL
                   AND s.state <> 'Error')::bigint AS snapshot,
                (SELECT count(*) FROM networks nw WHERE nw.account_id = a.id
                   AND nw.guest_type = 'Isolated')::bigint AS network,
                (SELECT count(*) FROM public_ips pi WHERE pi.account_id = a.id)::bigint AS public_ip
         FROM accounts a LEFT JOIN vm ON vm.account_id = a.id
         LEFT JOIN dv ON dv.account_id = a.id
         WHERE a.id = ANY($1)");

/// What each of `accounts` uses (one row per existing account).
pub async fn usage_of_accounts(
    db: impl PgExecutor<'_>,
    accounts: &[AccountId],
) -> Result<Vec<UsageRow>> {
    Ok(USAGE_OF_ACCOUNTS
        .query_as()
        .bind(accounts)
        .fetch_all(db)
        .await?)
}

stmt!(ACCOUNT_LOCK_FOR_LIMITS: LimitedAccount = "SELECT r.role_type, a.name, a.domain_id, a.account_type,
             p.name AS project_name
         FROM accounts a
         JOIN roles r ON r.id = a.role_id
         LEFT JOIN projects p ON p.account_id = a.id
         WHERE a.id = $1 FOR NO KEY UPDATE OF a");

/// What an allocation needs to know of the account it is admitted against.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct LimitedAccount {
    pub role_type: String,
    pub name: String,
    pub domain_id: DomainId,
    pub account_type: i32,
    /// The project's name when the account is a project's own.
    pub project_name: Option<String>,
}

/// Locks the account's row until the transaction ends (allocations of one account queue
/// here) and answers its role type, name and domain, or `None` if there is no such
/// account.
pub async fn account_lock_for_limits(
    db: &mut PgConnection,
    account: AccountId,
) -> Result<Option<LimitedAccount>> {
    Ok(ACCOUNT_LOCK_FOR_LIMITS
        .query_as()
        .bind(account)
        .fetch_optional(db)
        .await?)
}

stmt!(LIMIT_LIST_OF_ACCOUNTS: (Option<AccountId>, i16, i64) = "SELECT account_id, resource_type, max
         FROM resource_limits WHERE account_id = ANY($1) AND account_id IS NOT NULL");

/// The explicit limits of `accounts`: (account, resource type ordinal, max).
pub async fn limit_list_of_accounts(
    db: impl PgExecutor<'_>,
    accounts: &[AccountId],
) -> Result<Vec<(AccountId, i16, i64)>> {
    let rows: Vec<(Option<AccountId>, i16, i64)> = LIMIT_LIST_OF_ACCOUNTS
        .query_as()
        .bind(accounts)
        .fetch_all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, t, m)| a.map(|a| (a, t, m)))
        .collect())
}

stmt!(
    LIMIT_SET_FOR_ACCOUNT = "INSERT INTO resource_limits (id, account_id, resource_type, max)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, resource_type) WHERE account_id IS NOT NULL
         DO UPDATE SET max = EXCLUDED.max"
);

/// Sets the account's own maximum of one resource type.
pub async fn limit_set_for_account(
    db: impl PgExecutor<'_>,
    account: AccountId,
    resource_type: i16,
    max: i64,
) -> Result<()> {
    LIMIT_SET_FOR_ACCOUNT
        .query()
        .bind(Uuid::new_v4())
        .bind(account)
        .bind(resource_type)
        .bind(max)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(ACCOUNT_IDS_UNDER: Scalar<AccountId> = "SELECT a.id FROM accounts a JOIN domains d ON d.id = a.domain_id
         WHERE d.path = $1 OR starts_with(d.path, $1 || '/') ORDER BY a.id");

/// The accounts of the domain at `path` and of every domain below it: whose usage a
/// domain's counts add up.
pub async fn account_ids_under(db: impl PgExecutor<'_>, path: &str) -> Result<Vec<AccountId>> {
    Ok(ACCOUNT_IDS_UNDER
        .query_scalar()
        .bind(path)
        .fetch_all(db)
        .await?)
}

// The nearest limit of each type set on the domain itself or on an ancestor below ROOT
// (level 0), as CloudStack's findCorrectResourceLimitForDomain walks up to find one.
stmt!(LIMIT_LIST_OF_DOMAINS: (DomainId, i16, i64) = "SELECT DISTINCT ON (me.id, l.resource_type)
             me.id, l.resource_type, l.max
         FROM domains me
         JOIN domains d ON d.path = me.path OR starts_with(me.path, d.path || '/')
         JOIN resource_limits l ON l.domain_id = d.id
         WHERE me.id = ANY($1) AND d.level > 0
         ORDER BY me.id, l.resource_type, d.level DESC");

/// The limits that hold for `domains` where one is set — on the domain itself or else on
/// its nearest ancestor below ROOT that has one: (domain, resource type ordinal, max).
pub async fn limit_list_of_domains(
    db: impl PgExecutor<'_>,
    domains: &[DomainId],
) -> Result<Vec<(DomainId, i16, i64)>> {
    Ok(LIMIT_LIST_OF_DOMAINS
        .query_as()
        .bind(domains)
        .fetch_all(db)
        .await?)
}

stmt!(
    LIMIT_SET_FOR_DOMAIN = "INSERT INTO resource_limits (id, domain_id, resource_type, max)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (domain_id, resource_type) WHERE domain_id IS NOT NULL
         DO UPDATE SET max = EXCLUDED.max"
);

/// Sets the domain's own maximum of one resource type.
pub async fn limit_set_for_domain(
    db: impl PgExecutor<'_>,
    domain: DomainId,
    resource_type: i16,
    max: i64,
) -> Result<()> {
    LIMIT_SET_FOR_DOMAIN
        .query()
        .bind(Uuid::new_v4())
        .bind(domain)
        .bind(resource_type)
        .bind(max)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(DOMAIN_CHAIN: (DomainId, String) = "SELECT d.id, d.path FROM domains d
         JOIN domains me ON me.id = $1
         WHERE me.path = d.path OR starts_with(me.path, d.path || '/')
         ORDER BY d.level");

/// The domain and its ancestors (id, path), ROOT first.
pub async fn domain_chain(
    db: impl PgExecutor<'_>,
    domain: DomainId,
) -> Result<Vec<(DomainId, String)>> {
    Ok(DOMAIN_CHAIN.query_as().bind(domain).fetch_all(db).await?)
}

// Shallowest first, the order every allocation takes them in (after its account row):
// two allocations never wait on each other in opposite orders.
stmt!(DOMAINS_LOCK_FOR_LIMITS: Scalar<DomainId> = "SELECT id FROM domains WHERE id = ANY($1)
         ORDER BY level, id FOR NO KEY UPDATE");

/// Locks the rows of the domains whose limits an allocation checks.
pub async fn domains_lock_for_limits(db: &mut PgConnection, domains: &[DomainId]) -> Result<()> {
    DOMAINS_LOCK_FOR_LIMITS
        .query_scalar()
        .bind(domains)
        .fetch_all(db)
        .await?;
    Ok(())
}

statements![
    ACCOUNT_IDS_UNDER,
    LIMIT_LIST_OF_DOMAINS,
    LIMIT_SET_FOR_DOMAIN,
    DOMAIN_CHAIN,
    DOMAINS_LOCK_FOR_LIMITS,
    USAGE_OF_ACCOUNTS,
    ACCOUNT_LOCK_FOR_LIMITS,
    LIMIT_LIST_OF_ACCOUNTS,
    LIMIT_SET_FOR_ACCOUNT
];
