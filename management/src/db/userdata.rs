//! Named user data (registerUserData): an account's cloud-init documents by name, which
//! VMs reference by `userdataid`. A VM keeps its own copy (`vms.user_data`), so deleting
//! the named one never changes what a guest already has.

use crate::ids::{AccountId, DomainId, ProjectId, UserDataId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct UserDataRow {
    pub id: UserDataId,
    pub name: String,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub user_data: String,
    pub params: Vec<String>,
    pub created: DateTime<Utc>,
    pub account_name: String,
    pub domain_name: String,
    #[sqlx(default)]
    pub domain_path: Option<String>,
    /// The project owning it (its account is the project's own).
    #[sqlx(default)]
    pub project_id: Option<ProjectId>,
    #[sqlx(default)]
    pub project_name: Option<String>,
}

const SELECT: &str = "u.*, a.name AS account_name, d.name AS domain_name, d.path AS domain_path,
    pr.id AS project_id, pr.name AS project_name";
const JOINS: &str = "JOIN accounts a ON a.id = u.account_id JOIN domains d ON d.id = u.domain_id
    LEFT JOIN projects pr ON pr.account_id = u.account_id";

#[derive(Debug, Clone)]
pub struct NewUserData<'a> {
    pub id: UserDataId,
    pub name: &'a str,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub user_data: &'a str,
    pub params: &'a [String],
}

stmt!(
    USER_DATA_INSERT = "INSERT INTO user_data (id, name, account_id, domain_id, user_data, params)
         VALUES ($1,$2,$3,$4,$5,$6)"
);

pub async fn user_data_insert(db: impl PgExecutor<'_>, u: &NewUserData<'_>) -> Result<()> {
    USER_DATA_INSERT
        .query()
        .bind(u.id)
        .bind(u.name)
        .bind(u.account_id)
        .bind(u.domain_id)
        .bind(u.user_data)
        .bind(u.params)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(USER_DATA_FETCH: UserDataRow = format!("SELECT {SELECT} FROM user_data u {JOINS} WHERE u.id = $1"));

pub async fn user_data_fetch(
    db: impl PgExecutor<'_>,
    id: UserDataId,
) -> Result<Option<UserDataRow>> {
    Ok(USER_DATA_FETCH
        .query_as()
        .bind(id)
        .fetch_optional(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct UserDataFilter {
    pub common: ListFilter,
    /// None: every account's (a root admin's `listall`).
    pub account_id: Option<AccountId>,
    /// Any of these accounts\' (a domain\'s, a project\'s).
    pub account_ids: Option<Vec<AccountId>>,
    /// Leave out what projects' own accounts own (CloudStack's `SkipProjectResources`:
    /// `listall` without `projectid`).
    pub skip_projects: bool,
    pub domain_id: Option<DomainId>,
}

stmt!(USER_DATA_LIST: Counted<UserDataRow> = named paged_sql(
    SELECT,
    "user_data",
    "u",
    JOINS,
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword)
             AND ($account_id::uuid IS NULL OR {a}.account_id = $account_id)
             AND ($account_ids::uuid[] IS NULL OR {a}.account_id = ANY($account_ids))
             AND (NOT $skip_projects::bool OR NOT EXISTS (SELECT 1 FROM accounts xpa
                 WHERE xpa.id = {a}.account_id AND xpa.account_type = 5))
             AND ($domain_id::uuid IS NULL OR {a}.domain_id = $domain_id)",
    "u.created DESC, u.id DESC",
));

/// Newest first.
pub async fn user_data_list(
    db: impl PgExecutor<'_>,
    f: &UserDataFilter,
) -> Result<(Vec<UserDataRow>, i64)> {
    let rows: Vec<Counted<_>> = USER_DATA_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("account_id", f.account_id)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
                .set("domain_id", f.domain_id)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(USER_DATA_USERS: Scalar<String> = "SELECT display_name FROM vms
         WHERE user_data_id = $1 AND removed IS NULL ORDER BY created LIMIT 5");

/// Up to five display names of VMs (not expunged) that name this user data.
pub async fn user_data_users(db: impl PgExecutor<'_>, id: UserDataId) -> Result<Vec<String>> {
    Ok(USER_DATA_USERS
        .query_scalar()
        .bind(id)
        .fetch_all(db)
        .await?)
}

stmt!(USER_DATA_DELETE = "DELETE FROM user_data WHERE id = $1");

/// Deletes it; false if there was none.
pub async fn user_data_delete(db: impl PgExecutor<'_>, id: UserDataId) -> Result<bool> {
    let r = USER_DATA_DELETE.query().bind(id).execute(db).await?;
    Ok(r.rows_affected() == 1)
}

statements![
    USER_DATA_INSERT,
    USER_DATA_FETCH,
    USER_DATA_LIST,
    USER_DATA_USERS,
    USER_DATA_DELETE
];
