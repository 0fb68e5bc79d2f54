//! SSH key pairs: an account's public keys by name. Private keys are never stored.

use crate::ids::{AccountId, DomainId, SshKeyPairId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape, Scalar};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct KeyPairRow {
    pub id: SshKeyPairId,
    pub name: String,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub public_key: String,
    pub fingerprint: String,
    pub created: DateTime<Utc>,
    pub account_name: String,
    pub domain_name: String,
}

const SELECT: &str = "k.*, a.name AS account_name, d.name AS domain_name";
const JOINS: &str = "JOIN accounts a ON a.id = k.account_id JOIN domains d ON d.id = k.domain_id";

#[derive(Debug, Clone)]
pub struct NewKeyPair<'a> {
    pub id: SshKeyPairId,
    pub name: &'a str,
    pub account_id: AccountId,
    pub domain_id: DomainId,
    pub public_key: &'a str,
    pub fingerprint: &'a str,
}

stmt!(
    KEYPAIR_INSERT =
        "INSERT INTO ssh_keypairs (id, name, account_id, domain_id, public_key, fingerprint)
         VALUES ($1,$2,$3,$4,$5,$6)"
);

pub async fn keypair_insert(db: impl PgExecutor<'_>, k: &NewKeyPair<'_>) -> Result<()> {
    KEYPAIR_INSERT
        .query()
        .bind(k.id)
        .bind(k.name)
        .bind(k.account_id)
        .bind(k.domain_id)
        .bind(k.public_key)
        .bind(k.fingerprint)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(KEYPAIR_FIND: KeyPairRow = format!(
    "SELECT {SELECT} FROM ssh_keypairs k {JOINS}
         WHERE k.account_id = $1 AND (k.name = $2 OR k.fingerprint = $3)
         ORDER BY k.name = $2 DESC LIMIT 1"
));

/// The account's key pair named `name`, or the one whose key has `fingerprint`.
pub async fn keypair_find(
    db: impl PgExecutor<'_>,
    account_id: AccountId,
    name: Option<&str>,
    fingerprint: Option<&str>,
) -> Result<Option<KeyPairRow>> {
    Ok(KEYPAIR_FIND
        .query_as()
        .bind(account_id)
        .bind(name)
        .bind(fingerprint)
        .fetch_optional(db)
        .await?)
}

stmt!(KEYPAIR_MISSING: Scalar<String> = "SELECT n FROM unnest($2::text[]) WITH ORDINALITY AS x(n, i)
         WHERE NOT EXISTS (SELECT 1 FROM ssh_keypairs k WHERE k.account_id = $1 AND k.name = x.n)
         ORDER BY i");

/// Which of `names` the account has no key pair by.
pub async fn keypair_missing(
    db: impl PgExecutor<'_>,
    account_id: AccountId,
    names: &[String],
) -> Result<Vec<String>> {
    Ok(KEYPAIR_MISSING
        .query_scalar()
        .bind(account_id)
        .bind(names)
        .fetch_all(db)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct KeyPairFilter {
    pub common: ListFilter,
    /// None: every account's (a root admin's `listall`).
    pub account_id: Option<AccountId>,
    /// Any of these accounts\' (a domain\'s, a project\'s).
    pub account_ids: Option<Vec<AccountId>>,
    /// Leave out what projects' own accounts own (CloudStack's `SkipProjectResources`:
    /// `listall` without `projectid`).
    pub skip_projects: bool,
    pub domain_id: Option<DomainId>,
    pub fingerprint: Option<String>,
}

stmt!(KEYPAIR_LIST: Counted<KeyPairRow> = named paged_sql(
    SELECT,
    "ssh_keypairs",
    "k",
    JOINS,
    "($id::uuid IS NULL OR {a}.id = $id)
             AND ($name::text IS NULL OR {a}.name = $name)
             AND ($keyword::text IS NULL OR {a}.name ILIKE $keyword OR {a}.fingerprint ILIKE $keyword)
             AND ($account_id::uuid IS NULL OR {a}.account_id = $account_id)
             AND ($account_ids::uuid[] IS NULL OR {a}.account_id = ANY($account_ids))
             AND (NOT $skip_projects::bool OR NOT EXISTS (SELECT 1 FROM accounts xpa
                 WHERE xpa.id = {a}.account_id AND xpa.account_type = 5))
             AND ($domain_id::uuid IS NULL OR {a}.domain_id = $domain_id)
             AND ($fingerprint::text IS NULL OR {a}.fingerprint = $fingerprint)",
    "k.created DESC, k.id DESC",
));

/// Newest first, as CloudStack pages them (by id, descending).
pub async fn keypair_list(
    db: impl PgExecutor<'_>,
    f: &KeyPairFilter,
) -> Result<(Vec<KeyPairRow>, i64)> {
    let rows: Vec<Counted<_>> = KEYPAIR_LIST
        .query_as_with(
            Binds::new()
                .set("id", f.common.id)
                .set("name", &f.common.name)
                .set("keyword", f.common.keyword_pattern())
                .set("account_id", f.account_id)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
                .set("domain_id", f.domain_id)
                .set("fingerprint", &f.fingerprint)
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(KEYPAIR_DELETE = "DELETE FROM ssh_keypairs WHERE account_id = $1 AND name = $2");

/// Deletes the account's key pair by name; false if it had none.
pub async fn keypair_delete(
    db: impl PgExecutor<'_>,
    account_id: AccountId,
    name: &str,
) -> Result<bool> {
    let r = KEYPAIR_DELETE
        .query()
        .bind(account_id)
        .bind(name)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

statements![
    KEYPAIR_INSERT,
    KEYPAIR_FIND,
    KEYPAIR_MISSING,
    KEYPAIR_LIST,
    KEYPAIR_DELETE
];
