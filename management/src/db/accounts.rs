//! Domains, roles, accounts and users.

use crate::ids::{AccountId, DomainId, RoleId, UserId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;
use crate::rules::states::AccountState;

pub const ROOT_DOMAIN: DomainId = DomainId::from_u128(0x00000000_0000_4000_8000_000000000001);
pub const ROLE_ROOT_ADMIN: RoleId = RoleId::from_u128(0x00000000_0000_4000_8000_000000000011);
pub const ROLE_DOMAIN_ADMIN: RoleId = RoleId::from_u128(0x00000000_0000_4000_8000_000000000013);
pub const ROLE_USER: RoleId = RoleId::from_u128(0x00000000_0000_4000_8000_000000000014);
pub const SYSTEM_ACCOUNT: AccountId = AccountId::from_u128(0x00000000_0000_4000_8000_000000000021);
pub const ADMIN_ACCOUNT: AccountId = AccountId::from_u128(0x00000000_0000_4000_8000_000000000022);
pub const SYSTEM_USER: UserId = UserId::from_u128(0x00000000_0000_4000_8000_000000000031);

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct DomainRow {
    pub id: DomainId,
    pub name: String,
    pub parent_id: Option<DomainId>,
    pub path: String,
    pub level: i32,
    pub network_domain: Option<String>,
    pub state: String,
    pub created: DateTime<Utc>,
    #[sqlx(default)]
    pub parent_name: Option<String>,
    #[sqlx(default)]
    pub has_child: bool,
}

stmt!(DOMAIN_FETCH: DomainRow = "SELECT * FROM domains WHERE id = $1");

pub async fn domain_fetch(db: impl PgExecutor<'_>, id: DomainId) -> Result<Option<DomainRow>> {
    Ok(DOMAIN_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(DOMAIN_FETCH_BY_PATH: DomainRow = "SELECT * FROM domains WHERE lower(path) = lower($1)");

/// By CloudStack path (`ROOT`, `ROOT/sub`), case-insensitively.
pub async fn domain_fetch_by_path(
    db: impl PgExecutor<'_>,
    path: &str,
) -> Result<Option<DomainRow>> {
    Ok(DOMAIN_FETCH_BY_PATH
        .query_as()
        .bind(path)
        .fetch_optional(db)
        .await?)
}

/// Which part of the tree a domain list covers.
#[derive(Debug, Clone, Copy)]
pub enum DomainScope<'a> {
    /// Every domain.
    All,
    /// The domain at this path and everything below it.
    Subtree(&'a str),
    /// Everything strictly below the domain at this path.
    Below(&'a str),
    /// The direct children of this domain.
    ChildrenOf(Uuid),
}

// `starts_with`, not LIKE: a domain name may hold `%` or `_`.
stmt!(DOMAIN_LIST: Counted<DomainRow> = "SELECT d.*, p.name AS parent_name,
                EXISTS (SELECT 1 FROM domains c WHERE c.parent_id = d.id) AS has_child,
                count(*) OVER () AS total
         FROM domains d LEFT JOIN domains p ON p.id = d.parent_id
         WHERE ($1::uuid IS NULL OR d.id = $1)
           AND ($2::text IS NULL OR d.name = $2)
           AND ($3::text IS NULL OR d.name ILIKE $3)
           AND ($4::bigint IS NULL OR d.level = $4)
           AND ($5::text IS NULL OR d.path = $5 OR starts_with(d.path, $5 || '/'))
           AND ($8::text IS NULL OR starts_with(d.path, $8 || '/'))
           AND ($9::uuid IS NULL OR d.parent_id = $9)
         ORDER BY d.path OFFSET $6 LIMIT $7");

pub async fn domain_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    level: Option<i64>,
    scope: DomainScope<'_>,
) -> Result<(Vec<DomainRow>, i64)> {
    let (subtree, below, parent) = match scope {
        DomainScope::All => (None, None, None),
        DomainScope::Subtree(p) => (Some(p), None, None),
        DomainScope::Below(p) => (None, Some(p), None),
        DomainScope::ChildrenOf(id) => (None, None, Some(id)),
    };
    let rows: Vec<Counted<_>> = DOMAIN_LIST
        .query_as()
        .bind(f.id)
        .bind(&f.name)
        .bind(f.keyword_pattern())
        .bind(level)
        .bind(subtree)
        .bind(f.offset)
        .bind(f.limit())
        .bind(below)
        .bind(parent)
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(DOMAIN_SIBLING_NAMED: Scalar<Uuid> = "SELECT id FROM domains
         WHERE parent_id = $1 AND lower(name) = lower($2) AND id <> $3");

/// Another child of `parent` already called `name` (case-insensitively), other than `except`.
pub async fn domain_sibling_named(
    db: impl PgExecutor<'_>,
    parent: DomainId,
    name: &str,
    except: DomainId,
) -> Result<Option<Uuid>> {
    Ok(DOMAIN_SIBLING_NAMED
        .query_scalar()
        .bind(parent)
        .bind(name)
        .bind(except)
        .fetch_optional(db)
        .await?)
}

stmt!(
    DOMAIN_INSERT = "INSERT INTO domains (id, name, parent_id, path, level, network_domain)
         VALUES ($1, $2, $3, $4, $5, $6)"
);

pub async fn domain_insert(
    db: impl PgExecutor<'_>,
    id: DomainId,
    name: &str,
    parent: &DomainRow,
    network_domain: Option<&str>,
) -> Result<()> {
    DOMAIN_INSERT
        .query()
        .bind(id)
        .bind(name)
        .bind(parent.id)
        .bind(crate::rules::domains::child_path(&parent.path, name))
        .bind(parent.level + 1)
        .bind(network_domain)
        .execute(db)
        .await?;
    Ok(())
}

// Renaming rewrites the paths of the whole subtree in one statement.
stmt!(
    DOMAIN_UPDATE = "WITH me AS (SELECT path AS old FROM domains WHERE id = $1)
         UPDATE domains d SET
             name = CASE WHEN d.id = $1 THEN $2 ELSE d.name END,
             network_domain = CASE WHEN d.id = $1 THEN $4 ELSE d.network_domain END,
             path = $3 || substr(d.path, length(me.old) + 1)
         FROM me
         WHERE d.path = me.old OR starts_with(d.path, me.old || '/')"
);

/// Renames the domain (its new path is `new_path`, moving its subtree along) and sets its
/// network domain.
pub async fn domain_update(
    db: impl PgExecutor<'_>,
    id: DomainId,
    name: &str,
    new_path: &str,
    network_domain: Option<&str>,
) -> Result<()> {
    DOMAIN_UPDATE
        .query()
        .bind(id)
        .bind(name)
        .bind(new_path)
        .bind(network_domain)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(DOMAIN_SUBTREE_LOCK: DomainRow = "SELECT * FROM domains
         WHERE path = $1 OR starts_with(path, $1 || '/')
         ORDER BY level, path FOR UPDATE");

/// The domain at `path` and all below it, locked (a delete holds them while it checks
/// and removes), shallowest first.
pub async fn domain_subtree_lock(db: impl PgExecutor<'_>, path: &str) -> Result<Vec<DomainRow>> {
    Ok(DOMAIN_SUBTREE_LOCK
        .query_as()
        .bind(path)
        .fetch_all(db)
        .await?)
}

stmt!(DOMAIN_ACCOUNTS: (AccountId, String) = "SELECT id, name FROM accounts
         WHERE domain_id = ANY($1) ORDER BY name");

/// The accounts (id, name) of these domains.
pub async fn domain_accounts(
    db: impl PgExecutor<'_>,
    domains: &[DomainId],
) -> Result<Vec<(AccountId, String)>> {
    Ok(DOMAIN_ACCOUNTS
        .query_as()
        .bind(domains)
        .fetch_all(db)
        .await?)
}

stmt!(ACCOUNT_IDS_IN: Scalar<Uuid> = "SELECT a.id FROM accounts a JOIN domains d ON d.id = a.domain_id
         WHERE (d.path = $1 OR ($2 AND starts_with(d.path, $1 || '/')))
           AND ($3 OR a.account_type <> $4)
         ORDER BY a.id");

/// The accounts of the domain at `path` (`recursive`: and of every domain below it),
/// projects' own accounts only `with_projects`: whose resources a domain's list shows.
pub async fn account_ids_in(
    db: impl PgExecutor<'_>,
    path: &str,
    recursive: bool,
    with_projects: bool,
) -> Result<Vec<Uuid>> {
    Ok(ACCOUNT_IDS_IN
        .query_scalar()
        .bind(path)
        .bind(recursive)
        .bind(with_projects)
        .bind(crate::rules::projects::PROJECT_ACCOUNT_TYPE)
        .fetch_all(db)
        .await?)
}

stmt!(DOMAIN_DELETE = "DELETE FROM domains WHERE id = $1");

pub async fn domain_delete(db: impl PgExecutor<'_>, id: DomainId) -> Result<()> {
    DOMAIN_DELETE.query().bind(id).execute(db).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct RoleRow {
    pub id: RoleId,
    pub name: String,
    pub role_type: String,
    pub description: String,
    pub is_default: bool,
    pub state: String,
}

stmt!(ROLE_FETCH: RoleRow = "SELECT * FROM roles WHERE id = $1");

pub async fn role_fetch(db: impl PgExecutor<'_>, id: RoleId) -> Result<Option<RoleRow>> {
    Ok(ROLE_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(ROLE_LIST: Counted<RoleRow> = "SELECT *, count(*) OVER () AS total FROM roles
         WHERE ($1::uuid IS NULL OR id = $1)
           AND ($2::text IS NULL OR name = $2)
           AND ($3::text IS NULL OR name ILIKE $3)
           AND ($4::text IS NULL OR lower(role_type) = lower($4))
         ORDER BY name OFFSET $5 LIMIT $6");

pub async fn role_list(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    role_type: Option<&str>,
) -> Result<(Vec<RoleRow>, i64)> {
    let rows: Vec<Counted<_>> = ROLE_LIST
        .query_as()
        .bind(f.id)
        .bind(&f.name)
        .bind(f.keyword_pattern())
        .bind(role_type)
        .bind(f.offset)
        .bind(f.limit())
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

/// An account with its domain and role joined in, as every answer about it needs.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct AccountRow {
    pub id: AccountId,
    pub name: String,
    pub domain_id: DomainId,
    pub account_type: i32,
    pub role_id: RoleId,
    pub state: AccountState,
    pub network_domain: Option<String>,
    pub is_default: bool,
    pub created: DateTime<Utc>,
    pub domain_name: String,
    pub domain_path: String,
    pub role_name: String,
    pub role_type: String,
}

const ACCOUNT_SELECT: &str = "SELECT a.*, d.name AS domain_name, d.path AS domain_path,
        r.name AS role_name, r.role_type
    FROM accounts a JOIN domains d ON d.id = a.domain_id JOIN roles r ON r.id = a.role_id";

stmt!(
    ACCOUNT_INSERT =
        "INSERT INTO accounts (id, name, domain_id, account_type, role_id, network_domain)
         VALUES ($1,$2,$3,$4,$5,$6)"
);

pub async fn account_insert(
    db: impl PgExecutor<'_>,
    id: AccountId,
    name: &str,
    domain_id: DomainId,
    account_type: i32,
    role_id: RoleId,
    network_domain: Option<&str>,
) -> Result<()> {
    ACCOUNT_INSERT
        .query()
        .bind(id)
        .bind(name)
        .bind(domain_id)
        .bind(account_type)
        .bind(role_id)
        .bind(network_domain)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(ACCOUNT_FETCH: AccountRow = format!("{ACCOUNT_SELECT} WHERE a.id = $1"));

pub async fn account_fetch(db: impl PgExecutor<'_>, id: AccountId) -> Result<Option<AccountRow>> {
    Ok(ACCOUNT_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(ACCOUNT_FETCH_BY_NAME: AccountRow = format!(
    "{ACCOUNT_SELECT} WHERE a.domain_id = $1 AND a.name = $2"
));

pub async fn account_fetch_by_name(
    db: impl PgExecutor<'_>,
    domain_id: DomainId,
    name: &str,
) -> Result<Option<AccountRow>> {
    Ok(ACCOUNT_FETCH_BY_NAME
        .query_as()
        .bind(domain_id)
        .bind(name)
        .fetch_optional(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub common: ListFilter,
    pub account_type: Option<i64>,
    pub domain_id: Option<DomainId>,
    pub state: Option<AccountState>,
    pub role_id: Option<RoleId>,
    /// Restricts to one account (a non-admin caller's own).
    pub only: Option<AccountId>,
    /// Restricts to the domain at this path and those below it.
    pub under: Option<String>,
}

// Projects' own accounts (type 5) are not listed: CloudStack hides them. A page in two
// statements, as for VMs (`vms::vm_list`): the page's ids and the total from the accounts
// alone in their `(created, id)` index order, then the page's rows by id.
stmt!(ACCOUNT_LIST_PAGE: (AccountId, i64) = named format!(
    "SELECT a.id, (SELECT count(*) FROM accounts cnt WHERE {count_where}) AS total
     FROM accounts a WHERE {page_where}
     ORDER BY a.created, a.id OFFSET $offset LIMIT $limit",
    count_where = account_list_where("cnt"),
    page_where = account_list_where("a"),
));

fn account_list_where(alias: &str) -> String {
    ACCOUNT_LIST_WHERE
        .replace("{a}", alias)
        .replace("{system}", &SYSTEM_ACCOUNT.to_string())
}

const ACCOUNT_LIST_WHERE: &str = "($id::uuid IS NULL OR {a}.id = $id)
           AND ($name::text IS NULL OR {a}.name = $name)
           AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword)
           AND ($account_type::bigint IS NULL OR {a}.account_type = $account_type)
           AND ($domain_id::uuid IS NULL OR {a}.domain_id = $domain_id)
           AND ($state::text IS NULL OR {a}.state = $state)
           AND ($role_id::uuid IS NULL OR {a}.role_id = $role_id)
           AND ($only::uuid IS NULL OR {a}.id = $only)
           AND ($under::text IS NULL OR EXISTS (SELECT 1 FROM domains xd
               WHERE xd.id = {a}.domain_id
                 AND (xd.path = $under OR starts_with(xd.path, $under || '/'))))
           AND {a}.id <> '{system}'
           AND {a}.account_type <> 5";

stmt!(ACCOUNT_LIST_ROWS: AccountRow = format!(
    "{ACCOUNT_SELECT} WHERE a.id = ANY($1) ORDER BY a.created, a.id"
));

pub async fn account_list(db: &sqlx::PgPool, f: &AccountFilter) -> Result<(Vec<AccountRow>, i64)> {
    let page: Vec<(AccountId, i64)> = ACCOUNT_LIST_PAGE
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("account_type", f.account_type)
                .set("domain_id", f.domain_id)
                .set("state", f.state)
                .set("role_id", f.role_id)
                .set("only", f.only)
                .set("under", &f.under)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    super::rows_of_page(db, page, &ACCOUNT_LIST_ROWS).await
}

stmt!(ACCOUNT_UPDATE = "UPDATE accounts SET name=$2, network_domain=$3, role_id=$4 WHERE id=$1");

pub async fn account_update(
    db: impl PgExecutor<'_>,
    id: AccountId,
    name: &str,
    network_domain: Option<&str>,
    role_id: RoleId,
) -> Result<()> {
    ACCOUNT_UPDATE
        .query()
        .bind(id)
        .bind(name)
        .bind(network_domain)
        .bind(role_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(ACCOUNT_SET_STATE = "UPDATE accounts SET state=$2 WHERE id=$1");

pub async fn account_set_state(
    db: impl PgExecutor<'_>,
    id: AccountId,
    state: AccountState,
) -> Result<()> {
    ACCOUNT_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    ACCOUNT_FORGET_JOBS = "DELETE FROM async_jobs
         WHERE account_id = $1 OR user_id IN (SELECT id FROM users WHERE account_id = $1)"
);
stmt!(ACCOUNT_FORGET_EXPUNGED = "DELETE FROM vms WHERE account_id = $1 AND removed IS NOT NULL");
stmt!(ACCOUNT_DELETE = "DELETE FROM accounts WHERE id = $1");

/// Deletes an account, its users and what is only its history: its async jobs (results
/// nobody can ask for once its users are gone; workflows keep their record) and its
/// expunged VMs' rows. Anything live — a VM not yet expunged, a template or ISO — still
/// holds the account (the constraint's error says which).
pub async fn account_delete(db: &mut PgConnection, id: AccountId) -> Result<bool> {
    ACCOUNT_FORGET_JOBS
        .query()
        .bind(id)
        .execute(&mut *db)
        .await?;
    ACCOUNT_FORGET_EXPUNGED
        .query()
        .bind(id)
        .execute(&mut *db)
        .await?;
    Ok(ACCOUNT_DELETE
        .query()
        .bind(id)
        .execute(&mut *db)
        .await?
        .rows_affected()
        == 1)
}

/// A user with account, domain and role joined in: everything authentication and
/// answers about the user need.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct UserRow {
    pub id: UserId,
    pub account_id: AccountId,
    pub username: String,
    pub domain_id: DomainId,
    pub password_hash: String,
    pub firstname: String,
    pub lastname: String,
    pub email: String,
    pub timezone: Option<String>,
    pub state: AccountState,
    pub api_key: Option<String>,
    /// Legacy plaintext secret (sealed at start, then NULL).
    pub secret_key: Option<String>,
    /// The API secret key, sealed with the management key (`crate::secrets`).
    #[sqlx(default)]
    pub secret_key_sealed: Option<Vec<u8>>,
    pub is_default: bool,
    pub created: DateTime<Utc>,
    pub account_name: String,
    pub account_type: i32,
    pub account_state: AccountState,
    pub role_id: RoleId,
    pub role_name: String,
    pub role_type: String,
    pub domain_name: String,
    pub domain_path: String,
}

const USER_SELECT: &str =
    "SELECT u.*, a.name AS account_name, a.account_type, a.state AS account_state,
        a.role_id, r.name AS role_name, r.role_type, d.name AS domain_name, d.path AS domain_path
    FROM users u JOIN accounts a ON a.id = u.account_id JOIN roles r ON r.id = a.role_id
    JOIN domains d ON d.id = u.domain_id";

stmt!(USER_INSERT = "INSERT INTO users (id, account_id, domain_id, username, password_hash, firstname, lastname, email, timezone)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)");

#[allow(clippy::too_many_arguments)]
pub async fn user_insert(
    db: impl PgExecutor<'_>,
    id: UserId,
    account_id: AccountId,
    domain_id: DomainId,
    username: &str,
    password_hash: &str,
    firstname: &str,
    lastname: &str,
    email: &str,
    timezone: Option<&str>,
) -> Result<()> {
    USER_INSERT
        .query()
        .bind(id)
        .bind(account_id)
        .bind(domain_id)
        .bind(username)
        .bind(password_hash)
        .bind(firstname)
        .bind(lastname)
        .bind(email)
        .bind(timezone)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(USER_FETCH: UserRow = format!("{USER_SELECT} WHERE u.id = $1"));

pub async fn user_fetch(db: impl PgExecutor<'_>, id: UserId) -> Result<Option<UserRow>> {
    Ok(USER_FETCH.query_as().bind(id).fetch_optional(db).await?)
}

stmt!(USER_FETCH_BY_API_KEY: UserRow = format!("{USER_SELECT} WHERE u.api_key = $1"));

pub async fn user_fetch_by_api_key(
    db: impl PgExecutor<'_>,
    api_key: &str,
) -> Result<Option<UserRow>> {
    Ok(USER_FETCH_BY_API_KEY
        .query_as()
        .bind(api_key)
        .fetch_optional(db)
        .await?)
}

stmt!(USER_FETCH_BY_NAME: UserRow = format!(
    "{USER_SELECT} WHERE u.domain_id = $1 AND u.username = $2"
));

pub async fn user_fetch_by_name(
    db: impl PgExecutor<'_>,
    domain_id: DomainId,
    username: &str,
) -> Result<Option<UserRow>> {
    Ok(USER_FETCH_BY_NAME
        .query_as()
        .bind(domain_id)
        .bind(username)
        .fetch_optional(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub common: ListFilter,
    pub username: Option<String>,
    pub account_name: Option<String>,
    pub account_id: Option<AccountId>,
    pub account_type: Option<i64>,
    pub domain_id: Option<DomainId>,
    pub state: Option<AccountState>,
    /// Restricts to the domain at this path and those below it.
    pub under: Option<String>,
}

stmt!(USER_LIST: Counted<UserRow> = named format!(
    "SELECT q.*, count(*) OVER () AS total FROM ({USER_SELECT}) q
         WHERE ($id::uuid IS NULL OR q.id = $id)
           AND ($username::text IS NULL OR q.username = $username)
           AND ($keyword::text IS NULL OR q.username ILIKE $keyword OR q.firstname ILIKE $keyword OR q.lastname ILIKE $keyword OR q.email ILIKE $keyword)
           AND ($account_name::text IS NULL OR q.account_name = $account_name)
           AND ($account_id::uuid IS NULL OR q.account_id = $account_id)
           AND ($account_type::bigint IS NULL OR q.account_type = $account_type)
           AND ($domain_id::uuid IS NULL OR q.domain_id = $domain_id)
           AND ($state::text IS NULL OR q.state = $state)
           AND ($under::text IS NULL OR q.domain_path = $under OR starts_with(q.domain_path, $under || '/'))
           AND q.id <> '{SYSTEM_USER}'
         ORDER BY q.created, q.id OFFSET $offset LIMIT $limit"
));

pub async fn user_list(db: impl PgExecutor<'_>, f: &UserFilter) -> Result<(Vec<UserRow>, i64)> {
    let rows: Vec<Counted<_>> = USER_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("username", &f.username)
                .set("keyword", f.common.keyword_pattern())
                .set("account_name", &f.account_name)
                .set("account_id", f.account_id)
                .set("account_type", f.account_type)
                .set("domain_id", f.domain_id)
                .set("state", f.state)
                .set("under", &f.under)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(USER_LIST_FOR_ACCOUNTS: UserRow = format!(
    "{USER_SELECT} WHERE u.account_id = ANY($1) ORDER BY u.created, u.id"
));

pub async fn user_list_for_accounts(
    db: impl PgExecutor<'_>,
    accounts: &[AccountId],
) -> Result<Vec<UserRow>> {
    Ok(USER_LIST_FOR_ACCOUNTS
        .query_as()
        .bind(accounts)
        .fetch_all(db)
        .await?)
}

stmt!(
    USER_UPDATE = "UPDATE users SET username=$2, firstname=$3, lastname=$4, email=$5, timezone=$6,
            password_hash=COALESCE($7, password_hash)
         WHERE id=$1"
);

#[allow(clippy::too_many_arguments)]
pub async fn user_update(
    db: impl PgExecutor<'_>,
    id: UserId,
    username: &str,
    firstname: &str,
    lastname: &str,
    email: &str,
    timezone: Option<&str>,
    password_hash: Option<&str>,
) -> Result<()> {
    USER_UPDATE
        .query()
        .bind(id)
        .bind(username)
        .bind(firstname)
        .bind(lastname)
        .bind(email)
        .bind(timezone)
        .bind(password_hash)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(USER_SET_PASSWORD = "UPDATE users SET password_hash=$2 WHERE id=$1");

pub async fn user_set_password(
    db: impl PgExecutor<'_>,
    id: UserId,
    password_hash: &str,
) -> Result<()> {
    USER_SET_PASSWORD
        .query()
        .bind(id)
        .bind(password_hash)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(USER_SET_STATE = "UPDATE users SET state=$2,
                incorrect_login_attempts = CASE WHEN $2 = 'enabled' THEN 0 ELSE incorrect_login_attempts END
         WHERE id=$1");

/// Enabling a user also clears its failed-login count (as CloudStack's enableUser does).
pub async fn user_set_state(
    db: impl PgExecutor<'_>,
    id: UserId,
    state: AccountState,
) -> Result<()> {
    USER_SET_STATE
        .query()
        .bind(id)
        .bind(state)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(USER_LOGIN_FAILED: (i32, bool) = "WITH old AS (SELECT id, state FROM users WHERE id = $1 AND state = 'enabled' FOR UPDATE)
         UPDATE users u SET
             incorrect_login_attempts = u.incorrect_login_attempts + 1,
             state = CASE WHEN $2 > 0 AND u.incorrect_login_attempts + 1 >= $2
                          THEN 'disabled' ELSE u.state END
         FROM old WHERE u.id = old.id
         RETURNING u.incorrect_login_attempts, u.state = 'disabled'");

/// A failed login of an enabled user: counts it, and disables the user when the count
/// reaches `allowed` (> 0). Returns the count and whether this failure disabled the user;
/// None for a user that does not exist (also called with the nil id for unknown
/// usernames, so both cost the same round trip).
pub async fn user_login_failed(
    db: impl PgExecutor<'_>,
    id: UserId,
    allowed: i64,
) -> Result<Option<(i32, bool)>> {
    Ok(USER_LOGIN_FAILED
        .query_as()
        .bind(id)
        .bind(allowed)
        .fetch_optional(db)
        .await?)
}

stmt!(USER_LOGIN_SUCCEEDED = "UPDATE users SET incorrect_login_attempts = 0 WHERE id = $1 AND incorrect_login_attempts <> 0");

/// A successful login: the failure count starts again.
pub async fn user_login_succeeded(db: impl PgExecutor<'_>, id: UserId) -> Result<()> {
    USER_LOGIN_SUCCEEDED.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(
    USER_SET_KEYS =
        "UPDATE users SET api_key=$2, secret_key=NULL, secret_key_sealed=$3 WHERE id=$1"
);

/// New API keys; the secret is stored sealed only.
pub async fn user_set_keys(
    db: impl PgExecutor<'_>,
    id: UserId,
    api_key: &str,
    secret_sealed: &[u8],
) -> Result<()> {
    USER_SET_KEYS
        .query()
        .bind(id)
        .bind(api_key)
        .bind(secret_sealed)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(USER_LIST_PLAIN_SECRETS: (Uuid, String) = "SELECT id, secret_key FROM users WHERE secret_key IS NOT NULL");

/// Users whose secret key is still stored in clear (from before sealing).
pub async fn user_list_plain_secrets(db: impl PgExecutor<'_>) -> Result<Vec<(Uuid, String)>> {
    Ok(USER_LIST_PLAIN_SECRETS.query_as().fetch_all(db).await?)
}

stmt!(USER_SEAL_SECRET = "UPDATE users SET secret_key=NULL, secret_key_sealed=$2 WHERE id=$1 AND secret_key IS NOT NULL");

pub async fn user_seal_secret(db: impl PgExecutor<'_>, id: UserId, sealed: &[u8]) -> Result<()> {
    USER_SEAL_SECRET
        .query()
        .bind(id)
        .bind(sealed)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    USER_DELETE = format!(
        "WITH t AS ({}) DELETE FROM users WHERE id = $1",
        super::tags::drop_tags_sql(super::tags::TagType::User, "$1")
    )
);

/// Deletes the user and its tags. (An account's tags, those on it and on its users and
/// resources, are its own: `resource_tags.account_id` cascades when it is deleted.)
pub async fn user_delete(db: impl PgExecutor<'_>, id: UserId) -> Result<bool> {
    Ok(USER_DELETE
        .query()
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

stmt!(USER_COUNT_IN_ACCOUNT: Scalar<i64> = "SELECT count(*) FROM users WHERE account_id = $1");

pub async fn user_count_in_account(db: impl PgExecutor<'_>, account_id: AccountId) -> Result<i64> {
    Ok(USER_COUNT_IN_ACCOUNT
        .query_scalar()
        .bind(account_id)
        .fetch_one(db)
        .await?)
}

stmt!(USER_SET_ACCOUNT = "UPDATE users SET account_id = $2 WHERE id = $1");

/// Moves a user to another account (of the same domain: the caller checks).
pub async fn user_set_account(
    db: impl PgExecutor<'_>,
    user: UserId,
    account: AccountId,
) -> Result<()> {
    USER_SET_ACCOUNT
        .query()
        .bind(user)
        .bind(account)
        .execute(db)
        .await?;
    Ok(())
}

statements![
    ACCOUNT_IDS_IN,
    USER_SET_ACCOUNT,
    DOMAIN_FETCH,
    DOMAIN_FETCH_BY_PATH,
    DOMAIN_LIST,
    DOMAIN_SIBLING_NAMED,
    DOMAIN_INSERT,
    DOMAIN_UPDATE,
    DOMAIN_SUBTREE_LOCK,
    DOMAIN_ACCOUNTS,
    DOMAIN_DELETE,
    ROLE_FETCH,
    ROLE_LIST,
    ACCOUNT_INSERT,
    ACCOUNT_FETCH,
    ACCOUNT_FETCH_BY_NAME,
    ACCOUNT_LIST_PAGE,
    ACCOUNT_LIST_ROWS,
    ACCOUNT_UPDATE,
    ACCOUNT_SET_STATE,
    ACCOUNT_FORGET_JOBS,
    ACCOUNT_FORGET_EXPUNGED,
    ACCOUNT_DELETE,
    USER_INSERT,
    USER_FETCH,
    USER_FETCH_BY_API_KEY,
    USER_FETCH_BY_NAME,
    USER_LIST,
    USER_LIST_FOR_ACCOUNTS,
    USER_UPDATE,
    USER_SET_PASSWORD,
    USER_SET_STATE,
    USER_LOGIN_FAILED,
    USER_LOGIN_SUCCEEDED,
    USER_SET_KEYS,
    USER_LIST_PLAIN_SECRETS,
    USER_SEAL_SECRET,
    USER_DELETE,
    USER_COUNT_IN_ACCOUNT
];
