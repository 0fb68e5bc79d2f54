//! Resource tags (createTags, deleteTags, listTags): key/value pairs on a user's
//! resources, each row naming its resource by type and uuid (migration 0021).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct TagRow {
    pub id: Uuid,
    pub key: String,
    pub value: String,
    pub resource_type: String,
    pub resource_id: Uuid,
    pub account_id: Uuid,
    pub domain_id: Uuid,
    pub customer: Option<String>,
    pub created: DateTime<Utc>,
    pub account_name: String,
    pub domain_name: String,
    pub domain_path: String,
}

const SELECT: &str = "t.*, a.name AS account_name, d.name AS domain_name, d.path AS domain_path";
const JOINS: &str = "JOIN accounts a ON a.id = t.account_id JOIN domains d ON d.id = t.domain_id";

/// A tag whose resource is gone is not shown (its rows go with the next createTags or
/// deleteTags on that id, or stay harmlessly): a VM counts until expunged, a volume until
/// removed, an ISO until removed.
const LIVE: &str = "(({a}.resource_type = 'UserVm' AND EXISTS (SELECT 1 FROM vms v WHERE v.id = {a}.resource_id AND v.removed IS NULL AND v.state <> 'Expunged'))
      OR ({a}.resource_type = 'Volume' AND EXISTS (SELECT 1 FROM volumes o WHERE o.id = {a}.resource_id AND o.removed IS NULL))
      OR ({a}.resource_type = 'ISO' AND EXISTS (SELECT 1 FROM isos i WHERE i.id = {a}.resource_id AND i.removed IS NULL))
      OR {a}.resource_type NOT IN ('UserVm', 'Volume', 'ISO'))";

pub struct NewTag<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Uuid,
    pub account_id: Uuid,
    pub domain_id: Uuid,
    pub customer: Option<&'a str>,
}

stmt!(
    TAG_INSERT = "INSERT INTO resource_tags
         (id, key, value, resource_type, resource_id, account_id, domain_id, customer)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
);

/// Adds a tag; a resource already tagged with that key fails on the
/// `resource_tags_key_once` constraint (a clear client error, see `error.rs`).
pub async fn tag_insert(db: impl PgExecutor<'_>, t: &NewTag<'_>) -> Result<()> {
    TAG_INSERT
        .query()
        .bind(Uuid::new_v4())
        .bind(t.key)
        .bind(t.value)
        .bind(t.resource_type)
        .bind(t.resource_id)
        .bind(t.account_id)
        .bind(t.domain_id)
        .bind(t.customer)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    TAG_DELETE = "DELETE FROM resource_tags
         WHERE resource_type = $1 AND resource_id = $2
           AND ($3::text IS NULL OR key = $3)
           AND ($4::text IS NULL OR value = $4)"
);

/// Deletes a resource's tags: all of them, those with `key`, or with `key` and `value`.
pub async fn tag_delete(
    db: impl PgExecutor<'_>,
    resource_type: &str,
    resource_id: Uuid,
    key: Option<&str>,
    value: Option<&str>,
) -> Result<u64> {
    let r = TAG_DELETE
        .query()
        .bind(resource_type)
        .bind(resource_id)
        .bind(key)
        .bind(value)
        .execute(db)
        .await?;
    Ok(r.rows_affected())
}

#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    pub common: ListFilter,
    /// None: every account's (a root admin's `listall`).
    pub account_id: Option<Uuid>,
    pub domain_id: Option<Uuid>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub customer: Option<String>,
}

stmt!(TAG_LIST: Counted<TagRow> = named paged_sql(
    SELECT,
    "resource_tags",
    "t",
    JOINS,
    &format!("($account_id::uuid IS NULL OR {{a}}.account_id = $account_id)
             AND ($domain_id::uuid IS NULL OR {{a}}.domain_id = $domain_id)
             AND ($resource_type::text IS NULL OR {{a}}.resource_type = $resource_type)
             AND ($resource_id::uuid IS NULL OR {{a}}.resource_id = $resource_id)
             AND ($key::text IS NULL OR {{a}}.key = $key)
             AND ($value::text IS NULL OR {{a}}.value = $value)
             AND ($customer::text IS NULL OR {{a}}.customer = $customer)
             AND ($keyword::text IS NULL OR {{a}}.key ILIKE $keyword OR {{a}}.value ILIKE $keyword)
             AND {LIVE}"),
    "t.resource_type, t.resource_id, t.key",
));

pub async fn tag_list(db: impl PgExecutor<'_>, f: &TagFilter) -> Result<(Vec<TagRow>, i64)> {
    let rows: Vec<Counted<_>> = TAG_LIST
        .query_as_with(
            Binds::new()
                .set("account_id", f.account_id)
                .set("domain_id", f.domain_id)
                .set("resource_type", &f.resource_type)
                .set("resource_id", f.resource_id)
                .set("key", &f.key)
                .set("value", &f.value)
                .set("customer", &f.customer)
                .set("keyword", f.common.keyword_pattern())
                .set("offset", f.common.offset)
                .set("limit", f.common.limit()),
        )?
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(TAG_FOR_RESOURCES: TagRow = format!(
    "SELECT {SELECT} FROM resource_tags t {JOINS}
      WHERE t.resource_type = $1 AND t.resource_id = ANY($2)
      ORDER BY t.resource_id, t.key"
));

/// The tags of the listed resources (`tags[]` in listVirtualMachines, listVolumes).
pub async fn tags_for(
    db: impl PgExecutor<'_>,
    resource_type: &str,
    ids: &[Uuid],
) -> Result<Vec<TagRow>> {
    Ok(TAG_FOR_RESOURCES
        .query_as()
        .bind(resource_type)
        .bind(ids)
        .fetch_all(db)
        .await?)
}

statements![TAG_INSERT, TAG_DELETE, TAG_LIST, TAG_FOR_RESOURCES];
