//! The database layer: the only place SQL lives. Functions are named resource-first
//! (`zone_insert`, `pod_list`) and take any executor, so a handler can run several in
//! one transaction (`&mut *tx`) or one directly on the pool.
//!
//! Every statement is a registered, named [`Stmt`] (declared with [`stmt!`], listed in
//! its module's `statements![...]`), typed with what it is read into; queries are run
//! only through it (`VM_FETCH.query_as()`). `tests/queries.rs` has Postgres parse and
//! analyse each one against the migrated schema and holds its columns against its row
//! type, so a statement that no longer fits the schema fails the tests, not a request.

/// Declares a registered statement: `stmt!(NAME: Row = "SQL")`, or `= expr` for SQL
/// built once at first use (`format!` over shared fragments, [`paged_sql`]). `Row` is
/// what it is read into: a `#[derive(RowShape)]` struct, [`Counted`] of one, a tuple,
/// [`Scalar`] of a value, or nothing (`stmt!(NAME = "SQL")`) for one only executed.
macro_rules! stmt {
    ($name:ident = $sql:literal) => {
        stmt!($name: () = $sql);
    };
    ($name:ident: $row:ty = $sql:literal) => {
        static $name: $crate::db::Stmt<$row> =
            $crate::db::Stmt::fixed(module_path!(), stringify!($name), $sql);
    };
    ($name:ident = $build:expr) => {
        stmt!($name: () = $build);
    };
    ($name:ident: $row:ty = $build:expr) => {
        static $name: $crate::db::Stmt<$row> =
            $crate::db::Stmt::built(module_path!(), stringify!($name), || $build);
    };
}

/// A module's registry: every statement it declares (`tests/queries.rs` checks that none
/// is left out).
macro_rules! statements {
    ($($name:ident),* $(,)?) => {
        /// This module's statements, for the check that has Postgres describe each.
        pub(crate) static STATEMENTS: &[&dyn $crate::db::Registered] = &[$(&$name),*];
    };
}

pub mod accounts;
pub mod capacity;
pub mod config;
pub mod console_tokens;
pub mod events;
pub mod hosts;
pub mod isos;
pub mod jobs;
pub mod mgmt;
pub mod networks;
pub mod nics;
pub mod offerings;
pub mod pki;
#[cfg(feature = "bench-seed")]
pub mod seed;
pub mod sessions;
pub mod sshkeys;
pub mod storage;
pub mod tasks;
pub mod topology;
pub mod vms;
pub mod volumes;

use std::marker::PhantomData;
use std::sync::LazyLock;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow, PgTypeInfo};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{FromRow, PgPool, Postgres};

pub use stratus_macros::RowShape;

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

impl<T: RowShape> RowShape for Counted<T> {
    fn columns() -> Vec<Column> {
        let mut out = T::columns();
        out.push(Column {
            name: "total",
            rust_type: "i64",
            optional: false,
            nullable: false,
            compatible: |t| <i64 as sqlx::Type<Postgres>>::compatible(t),
        });
        out
    }
}

impl<T> Counted<T> {
    /// The page's rows and the total before paging (0 for an empty page).
    pub fn split(rows: Vec<Counted<T>>) -> (Vec<T>, i64) {
        let total = rows.first().map(|r| r.total).unwrap_or(0);
        (rows.into_iter().map(|r| r.row).collect(), total)
    }
}

/// Every registered statement of the database layer.
pub fn statements() -> impl Iterator<Item = &'static dyn Registered> {
    [
        accounts::STATEMENTS,
        capacity::STATEMENTS,
        config::STATEMENTS,
        console_tokens::STATEMENTS,
        events::STATEMENTS,
        hosts::STATEMENTS,
        isos::STATEMENTS,
        jobs::STATEMENTS,
        mgmt::STATEMENTS,
        networks::STATEMENTS,
        nics::STATEMENTS,
        offerings::STATEMENTS,
        pki::STATEMENTS,
        #[cfg(feature = "bench-seed")]
        seed::STATEMENTS,
        sessions::STATEMENTS,
        sshkeys::STATEMENTS,
        storage::STATEMENTS,
        tasks::STATEMENTS,
        topology::STATEMENTS,
        vms::STATEMENTS,
        volumes::STATEMENTS,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// A registered SQL statement, typed with what its rows are read into (`()`: none).
/// Declared with [`stmt!`]; the only way the database layer runs SQL.
pub struct Stmt<R = ()> {
    module: &'static str,
    name: &'static str,
    sql: Sql,
    rows: PhantomData<fn() -> R>,
}

enum Sql {
    Fixed(&'static str),
    Built(LazyLock<String>),
}

impl<R> Stmt<R> {
    #[doc(hidden)]
    pub const fn fixed(module: &'static str, name: &'static str, sql: &'static str) -> Self {
        Stmt {
            module,
            name,
            sql: Sql::Fixed(sql),
            rows: PhantomData,
        }
    }

    #[doc(hidden)]
    pub const fn built(module: &'static str, name: &'static str, build: fn() -> String) -> Self {
        Stmt {
            module,
            name,
            sql: Sql::Built(LazyLock::new(build)),
            rows: PhantomData,
        }
    }

    /// The statement's SQL.
    pub fn sql(&'static self) -> &'static str {
        match &self.sql {
            Sql::Fixed(s) => s,
            Sql::Built(s) => s.as_str(),
        }
    }
}

impl Stmt<()> {
    /// The statement, to bind and execute.
    pub fn query<'q>(&'static self) -> Query<'q, Postgres, PgArguments> {
        sqlx::query(self.sql())
    }
}

impl<R> Stmt<R>
where
    R: for<'r> FromRow<'r, PgRow> + Reads,
{
    /// The statement, to bind and fetch as `R`.
    pub fn query_as<'q>(&'static self) -> QueryAs<'q, Postgres, R, PgArguments> {
        sqlx::query_as(self.sql())
    }
}

impl<T> Stmt<Scalar<T>>
where
    (T,): for<'r> FromRow<'r, PgRow>,
{
    /// The statement, to bind and fetch its first column as `T`.
    pub fn query_scalar<'q>(&'static self) -> QueryScalar<'q, Postgres, T, PgArguments> {
        sqlx::query_scalar(self.sql())
    }
}

/// What the query check sees of a registered statement.
pub trait Registered: Sync {
    /// `module::NAME`, e.g. `vms::VM_FETCH`.
    fn id(&self) -> String;
    fn text(&self) -> &str;
    /// The columns its rows are read into.
    fn reads(&self) -> Shape;
}

impl<R: Reads> Registered for Stmt<R> {
    fn id(&self) -> String {
        let module = self.module.rsplit("::").next().unwrap_or(self.module);
        format!("{module}::{}", self.name)
    }
    fn text(&self) -> &str {
        match &self.sql {
            Sql::Fixed(s) => s,
            Sql::Built(s) => s.as_str(),
        }
    }
    fn reads(&self) -> Shape {
        R::shape()
    }
}

/// The columns a statement's rows are read into.
#[derive(Debug)]
pub enum Shape {
    /// Executed only; its rows (if any) are not read.
    Nothing,
    /// Read by column name (a `FromRow` struct).
    Named(Vec<Column>),
    /// Read by position (a tuple, or the first column for [`Scalar`]).
    Positional(Vec<Column>),
}

/// One column a row type reads.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    pub rust_type: &'static str,
    /// `#[sqlx(default)]`: may be absent.
    pub optional: bool,
    /// Read into an `Option` (a NULL is fine).
    pub nullable: bool,
    /// Whether a column of this Postgres type decodes into it.
    pub compatible: fn(&PgTypeInfo) -> bool,
}

/// The columns a `FromRow` struct reads by name: `#[derive(RowShape)]` next to
/// `#[derive(sqlx::FromRow)]` (see `stratus-macros`).
pub trait RowShape {
    fn columns() -> Vec<Column>;
}

/// What a [`Stmt`]'s rows are read into.
pub trait Reads {
    fn shape() -> Shape;
}

impl Reads for () {
    fn shape() -> Shape {
        Shape::Nothing
    }
}

impl<T: RowShape> Reads for T {
    fn shape() -> Shape {
        Shape::Named(T::columns())
    }
}

/// A statement read with `query_scalar`: its first column, as `T`.
pub struct Scalar<T>(PhantomData<fn() -> T>);

fn positional<T: sqlx::Type<Postgres>>(name: &'static str) -> Column {
    let rust_type = std::any::type_name::<T>();
    Column {
        name,
        rust_type,
        optional: false,
        nullable: rust_type.starts_with("core::option::Option<"),
        compatible: |t| T::compatible(t),
    }
}

impl<T: sqlx::Type<Postgres>> Reads for Scalar<T> {
    fn shape() -> Shape {
        Shape::Positional(vec![positional::<T>("0")])
    }
}

macro_rules! tuple_reads {
    ($($t:ident $i:literal),+) => {
        impl<$($t: sqlx::Type<Postgres>),+> Reads for ($($t,)+) {
            fn shape() -> Shape {
                Shape::Positional(vec![$(positional::<$t>($i)),+])
            }
        }
    };
}
tuple_reads!(A "0");
tuple_reads!(A "0", B "1");
tuple_reads!(A "0", B "1", C "2");
tuple_reads!(A "0", B "1", C "2", D "3");
tuple_reads!(A "0", B "1", C "2", D "3", E "4");
