//! The database layer: the only place SQL lives. Functions are named resource-first
//! (`zone_insert`, `pod_list`) and take any executor, so a handler can run several in
//! one transaction (`&mut *tx`) or one directly on the pool.

pub mod accounts;
pub mod config;
pub mod console_tokens;
pub mod events;
pub mod hosts;
pub mod isos;
pub mod jobs;
pub mod mgmt;
pub mod networks;
pub mod offerings;
pub mod pki;
pub mod sessions;
pub mod sshkeys;
pub mod storage;
pub mod tasks;
pub mod topology;
pub mod vms;
pub mod workflows;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::error::Result;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub async fn connect(opts: PgConnectOptions, max: u32) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(opts)
        .await?)
}

pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Filters every list shares: exact id, exact name, keyword substring, paging.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub id: Option<uuid::Uuid>,
    pub ids: Option<Vec<uuid::Uuid>>,
    pub name: Option<String>,
    pub keyword: Option<String>,
    pub offset: i64,
    pub limit: Option<i64>,
}

impl ListFilter {
    /// `LIKE` pattern for `keyword`, with the wildcards in the user's text escaped.
    pub fn keyword_pattern(&self) -> Option<String> {
        self.keyword.as_ref().map(|k| {
            format!(
                "%{}%",
                k.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        })
    }
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(i64::MAX)
    }
}

/// Builds a paged list query whose `total` column counts every matching row.
///
/// `filter` is the WHERE clause with `{a}` standing for the table alias; it may only use
/// the base table's columns. The count is an uncorrelated subquery over the base table
/// alone, so Postgres evaluates it once and the page itself can walk an index and stop at
/// LIMIT; `count(*) OVER ()` would join, window and sort every matching row instead.
pub fn paged_sql(
    select: &str,
    table: &str,
    alias: &str,
    joins: &str,
    filter: &str,
    order: &str,
    offset_param: usize,
) -> String {
    let f = |a: &str| filter.replace("{a}", a);
    format!(
        "SELECT {select}, (SELECT count(*) FROM {table} cnt WHERE {count_where}) AS total
         FROM {table} {alias} {joins}
         WHERE {page_where}
         ORDER BY {order} OFFSET ${offset_param} LIMIT ${limit_param}",
        count_where = f("cnt"),
        page_where = f(alias),
        limit_param = offset_param + 1,
    )
}

/// A row plus the total count of its query, for paged lists.
#[derive(Debug, sqlx::FromRow)]
pub struct Counted<T> {
    #[sqlx(flatten)]
    pub row: T,
    pub total: i64,
}

impl<T> Counted<T> {
    /// The page's rows and the total before paging (0 for an empty page).
    pub fn split(rows: Vec<Counted<T>>) -> (Vec<T>, i64) {
        let total = rows.first().map(|r| r.total).unwrap_or(0);
        (rows.into_iter().map(|r| r.row).collect(), total)
    }
}
