//! Resource tags (createTags, deleteTags, listTags): key/value pairs on resources, each
//! row naming its resource by type and uuid (migrations 0021 and 0034). No foreign key
//! can follow a row to several tables, so the statements that remove a resource for good
//! delete its tags in the same statement ([`drop_tags_sql`]), and a list's
//! `tags[n].key`/`tags[n].value` filter is one SQL condition ([`carries_sql`]).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{paged_sql, Binds, Counted, ListFilter, RowShape};
use crate::error::Result;

/// The resource types Stratus tags, spelled as CloudStack's `ResourceObjectType` (and
/// stored so in `resource_tags.resource_type`): those CloudStack marks taggable and
/// Stratus has rows for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagType {
    UserVm,
    Volume,
    Iso,
    Template,
    Network,
    Project,
    Account,
    User,
    Snapshot,
    VmSnapshot,
}

impl TagType {
    pub const ALL: [TagType; 10] = [
        TagType::UserVm,
        TagType::Volume,
        TagType::Iso,
        TagType::Template,
        TagType::Network,
        TagType::Project,
        TagType::Account,
        TagType::User,
        TagType::Snapshot,
        TagType::VmSnapshot,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TagType::UserVm => "UserVm",
            TagType::Volume => "Volume",
            TagType::Iso => "ISO",
            TagType::Template => "Template",
            TagType::Network => "Network",
            TagType::Project => "Project",
            TagType::Account => "Account",
            TagType::User => "User",
            TagType::Snapshot => "Snapshot",
            TagType::VmSnapshot => "VMSnapshot",
        }
    }

    /// CloudStack matches resource types case-insensitively.
    pub fn parse(s: &str) -> Option<TagType> {
        TagType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for TagType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `DELETE` of the tags of the `kind` resources whose ids `ids` (an SQL expression: a
/// parameter, a subquery) names: the data-modifying CTE a statement that removes such
/// a resource for good carries (`WITH t AS (…) UPDATE …`), so tags never outlive it.
pub fn drop_tags_sql(kind: TagType, ids: &str) -> String {
    format!(
        "DELETE FROM resource_tags WHERE resource_type = '{}' AND resource_id IN ({ids})",
        kind.as_str()
    )
}

/// A list's `tags[n].key` / `tags[n].value` filter (CloudStack's `tags` map on list
/// commands): a resource is listed only if it carries every pair. Empty: no filter.
#[derive(Debug, Clone, Default)]
pub struct TagMatch {
    pub keys: Vec<String>,
    pub values: Vec<String>,
}

impl TagMatch {
    /// Binds `$tag_keys` and `$tag_values` of [`carries_sql`].
    pub fn bind<'q>(&'q self, b: Binds<'q>) -> Binds<'q> {
        b.set("tag_keys", &self.keys)
            .set("tag_values", &self.values)
    }
}

/// The condition that the `kind` resource whose id is `id` (an SQL expression, e.g.
/// `{a}.id`) carries every pair of a [`TagMatch`] (named parameters `$tag_keys` and
/// `$tag_values`; both empty: true). One index probe per pair, so bounded by the
/// request's pairs. With no pairs, `cardinality(...) = 0` is folded to true when the
/// statement is planned for its values, so Postgres runs no anti-join per row (it cost
/// half of counting 25,000 VMs).
pub fn carries_sql(kind: TagType, id: &str) -> String {
    format!(
        "(cardinality($tag_keys::text[]) = 0
          OR NOT EXISTS (SELECT 1 FROM unnest($tag_keys::text[], $tag_values::text[]) AS want(k, v)
                      WHERE NOT EXISTS (SELECT 1 FROM resource_tags wt
                                         WHERE wt.resource_type = '{}' AND wt.resource_id = {id}
                                           AND wt.key = want.k AND wt.value = want.v)))",
        kind.as_str()
    )
}

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

pub struct NewTag<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub resource_type: TagType,
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
        .bind(t.resource_type.as_str())
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
    resource_type: TagType,
    resource_id: Uuid,
    key: Option<&str>,
    value: Option<&str>,
) -> Result<u64> {
    let r = TAG_DELETE
        .query()
        .bind(resource_type.as_str())
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
    /// Any of these owners (`projectid`: the project's account).
    pub account_ids: Option<Vec<Uuid>>,
    /// Leave out what projects' own accounts own (CloudStack's `SkipProjectResources`:
    /// `listall` without `projectid`).
    pub skip_projects: bool,
    pub domain_id: Option<Uuid>,
    /// CloudStack's spelling; a type no tag can have simply matches nothing.
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
    "($account_id::uuid IS NULL OR {a}.account_id = $account_id)
             AND ($account_ids::uuid[] IS NULL OR {a}.account_id = ANY($account_ids))
             AND (NOT $skip_projects::bool OR NOT EXISTS (SELECT 1 FROM accounts xpa
                 WHERE xpa.id = {a}.account_id AND xpa.account_type = 5))
             AND ($domain_id::uuid IS NULL OR {a}.domain_id = $domain_id)
             AND ($resource_type::text IS NULL OR {a}.resource_type = $resource_type)
             AND ($resource_id::uuid IS NULL OR {a}.resource_id = $resource_id)
             AND ($key::text IS NULL OR {a}.key = $key)
             AND ($value::text IS NULL OR {a}.value = $value)
             AND ($customer::text IS NULL OR {a}.customer = $customer)
             AND ($keyword::text IS NULL OR {a}.key ILIKE $keyword OR {a}.value ILIKE $keyword)",
    "t.resource_type, t.resource_id, t.key",
));

pub async fn tag_list(db: impl PgExecutor<'_>, f: &TagFilter) -> Result<(Vec<TagRow>, i64)> {
    let rows: Vec<Counted<_>> = TAG_LIST
        .query_as_with(
            Binds::new()
                .set("account_id", f.account_id)
                .set("account_ids", &f.account_ids)
                .set("skip_projects", f.skip_projects)
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

/// The tags of the listed resources (the `tags[]` of their answers): one query per list.
pub async fn tags_for(
    db: impl PgExecutor<'_>,
    resource_type: TagType,
    ids: &[Uuid],
) -> Result<Vec<TagRow>> {
    Ok(TAG_FOR_RESOURCES
        .query_as()
        .bind(resource_type.as_str())
        .bind(ids)
        .fetch_all(db)
        .await?)
}

statements![TAG_INSERT, TAG_DELETE, TAG_LIST, TAG_FOR_RESOURCES];
