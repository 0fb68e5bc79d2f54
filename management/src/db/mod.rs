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
/// built once at first use (`format!` over shared fragments, [`paged_sql`]), or
/// `= named expr` for built SQL whose parameters are named (`$zone_id`, bound with
/// [`Binds`]). `Row` is what it is read into: a `#[derive(RowShape)]` struct, [`Counted`]
/// of one, a tuple, [`Scalar`] of a value, or nothing (`stmt!(NAME = "SQL")`) for one
/// only executed.
macro_rules! stmt {
    ($name:ident = $sql:literal) => {
        stmt!($name: () = $sql);
    };
    ($name:ident: $row:ty = $sql:literal) => {
        static $name: $crate::db::Stmt<$row> =
            $crate::db::Stmt::fixed(module_path!(), stringify!($name), $sql);
    };
    ($name:ident: $row:ty = named $sql:literal) => {
        static $name: $crate::db::Stmt<$row> =
            $crate::db::Stmt::named(module_path!(), stringify!($name), || String::from($sql));
    };
    ($name:ident: $row:ty = named $build:expr) => {
        static $name: $crate::db::Stmt<$row> =
            $crate::db::Stmt::named(module_path!(), stringify!($name), || $build);
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
pub mod bases;
pub mod capacity;
pub mod config;
pub mod console_tokens;
pub mod events;
pub mod hosts;
pub mod images;
pub mod isos;
pub mod jobs;
pub mod limits;
pub mod mgmt;
pub mod network_offerings;
pub mod networks;
pub mod nics;
pub mod offerings;
pub mod physical_networks;
pub mod pki;
pub mod projects;
pub mod public_ips;
pub mod routers;
pub mod security_groups;
#[cfg(feature = "bench-seed")]
pub mod seed;
pub mod server;
pub mod sessions;
pub mod snapshots;
pub mod sshkeys;
pub mod storage;
pub mod tags;
pub mod tasks;
pub mod templates;
pub mod topology;
pub mod userdata;
pub mod vm_snapshots;
pub mod vms;
pub mod volumes;
pub mod workflows;

use std::marker::PhantomData;
use std::sync::{LazyLock, OnceLock};

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow, PgTypeInfo};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Arguments, Encode, FromRow, PgPool, Postgres};

pub use stratus_macros::RowShape;

use crate::error::{Error, Result};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The pool every server task uses. JIT compilation is off for its sessions: Postgres
/// compiles a statement whose *estimated* cost passes `jit_above_cost`, and an estimate
/// that is far off (an anti-join on a flag no row has) made listEvents' page of 500 spend
/// 227 of its 271 ms compiling at 25,000 accounts, for a query that runs in 45 ms (issue
/// 20). Our statements are short OLTP reads and writes, which JIT never pays back.
pub async fn connect(opts: PgConnectOptions, max: u32) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(opts.options([("jit", "off")]))
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
/// the base table's columns. Its parameters are named (`$zone_id`; the statement is
/// declared `named`), and paging adds `$offset` and `$limit`. The count is an uncorrelated
/// subquery over the base table alone, so Postgres evaluates it once; `count(*) OVER ()`
/// would join, window and sort every matching row instead.
///
/// The page is a deferred join: its ids come first from the base table alone (in `order`,
/// which an index of the table should serve), and only those rows are joined and
/// selected. Joining first let Postgres join and sort every row of the table to keep 500
/// of them: listEvents' page 10 of 500 took 300-440 ms at 25,000 events, listHosts' 100-150
/// ms at 25,000 hosts (issue 20). The table must have an `id` key.
pub fn paged_sql(
    select: &str,
    table: &str,
    alias: &str,
    joins: &str,
    filter: &str,
    order: &str,
) -> String {
    let f = |a: &str| filter.replace("{a}", a);
    format!(
        "WITH page AS MATERIALIZED (
             SELECT {alias}.id FROM {table} {alias} WHERE {page_where}
             ORDER BY {order} OFFSET $offset LIMIT $limit)
         SELECT {select}, (SELECT count(*) FROM {table} cnt WHERE {count_where}) AS total
         FROM page JOIN {table} {alias} ON {alias}.id = page.id {joins}
         ORDER BY {order}",
        count_where = f("cnt"),
        page_where = f(alias),
    )
}

/// The second statement of a two-statement page (`vms::vm_list`, `volumes::volume_list`,
/// `accounts::account_list`): `page` is what the first answered (each id with the total),
/// `rows` fetches the rows of `WHERE id = ANY($1)` in page order. The rows and the total
/// (0 for an empty page).
pub(crate) async fn rows_of_page<I, R>(
    db: &sqlx::PgPool,
    page: Vec<(I, i64)>,
    rows: &'static Stmt<R>,
) -> Result<(Vec<R>, i64)>
where
    I: sqlx::Type<Postgres>
        + sqlx::postgres::PgHasArrayType
        + for<'q> sqlx::Encode<'q, Postgres>
        + Send,
    R: for<'r> FromRow<'r, PgRow> + Reads + Send + Unpin,
{
    let total = page.first().map(|p| p.1).unwrap_or(0);
    if page.is_empty() {
        return Ok((Vec::new(), total));
    }
    let ids: Vec<I> = page.into_iter().map(|p| p.0).collect();
    Ok((rows.query_as().bind(ids).fetch_all(db).await?, total))
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
        images::STATEMENTS,
        isos::STATEMENTS,
        jobs::STATEMENTS,
        limits::STATEMENTS,
        mgmt::STATEMENTS,
        networks::STATEMENTS,
        nics::STATEMENTS,
        offerings::STATEMENTS,
        pki::STATEMENTS,
        routers::STATEMENTS,
        projects::STATEMENTS,
        public_ips::STATEMENTS,
        network_offerings::STATEMENTS,
        physical_networks::STATEMENTS,
        security_groups::STATEMENTS,
        #[cfg(feature = "bench-seed")]
        seed::STATEMENTS,
        bases::STATEMENTS,
        server::STATEMENTS,
        sessions::STATEMENTS,
        snapshots::STATEMENTS,
        sshkeys::STATEMENTS,
        tags::STATEMENTS,
        storage::STATEMENTS,
        tasks::STATEMENTS,
        templates::STATEMENTS,
        userdata::STATEMENTS,
        topology::STATEMENTS,
        vm_snapshots::STATEMENTS,
        vms::STATEMENTS,
        volumes::STATEMENTS,
        workflows::STATEMENTS,
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
    /// Built with `$name` parameters; numbered `$1`, `$2`… at first use.
    Named {
        build: fn() -> String,
        numbered: OnceLock<(String, Vec<String>)>,
    },
}

impl Sql {
    /// The text, and the names of its parameters in order (none unless named).
    fn numbered(&self) -> (&str, &[String]) {
        match self {
            Sql::Fixed(s) => (s, &[]),
            Sql::Built(s) => (s.as_str(), &[]),
            Sql::Named { build, numbered } => {
                let (text, names) = numbered.get_or_init(|| number_params(&build()));
                (text, names)
            }
        }
    }
}

/// `$name` placeholders numbered `$1`, `$2`… in order of first appearance (a name used
/// twice gets one number); the names in that order. Text in single quotes is left alone.
/// Panics on a positional `$1` (a statement is named or positional, not both): the query
/// check builds every statement, so that fails the tests, never a request.
pub fn number_params(sql: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(sql.len());
    let mut names: Vec<String> = vec![];
    let mut quoted = false;
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        let starts_name = chars
            .peek()
            .is_some_and(|&(_, n)| n.is_ascii_lowercase() || n == '_');
        if c != '$' || quoted || !starts_name {
            assert!(
                quoted || c != '$' || !chars.peek().is_some_and(|&(_, n)| n.is_ascii_digit()),
                "positional parameter in a statement with named ones: {sql}"
            );
            out.push(c);
            continue;
        }
        let rest = &sql[i + 1..];
        let len = rest
            .find(|n: char| !(n.is_ascii_alphanumeric() || n == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..len];
        for _ in 0..len {
            chars.next();
        }
        let n = match names.iter().position(|x| x == name) {
            Some(k) => k + 1,
            None => {
                names.push(name.to_string());
                names.len()
            }
        };
        out.push_str(&format!("${n}"));
    }
    (out, names)
}

/// Values for a statement's named parameters (`$zone_id`), given in any order: a filter
/// is added by name, never by position in a long chain of `.bind()`s.
pub struct Binds<'q> {
    values: Vec<(&'static str, BindFn<'q>)>,
}

type BindFn<'q> = Box<dyn FnOnce(&mut PgArguments) -> Result<(), BoxDynError> + Send + 'q>;

impl<'q> Binds<'q> {
    pub fn new() -> Self {
        Binds { values: vec![] }
    }

    /// `value` for `$name`.
    pub fn set<T>(mut self, name: &'static str, value: T) -> Self
    where
        T: 'q + Send + Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        self.values.push((
            name,
            Box::new(move |args: &mut PgArguments| args.add(value)),
        ));
        self
    }

    /// The values in the statement's parameter order; every name set exactly once.
    fn arguments(mut self, stmt: &str, names: &[String]) -> Result<PgArguments> {
        let mut args = PgArguments::default();
        for name in names {
            let Some(i) = self.values.iter().position(|(n, _)| n == name) else {
                return Err(Error::Internal(format!("{stmt}: no value for ${name}")));
            };
            let (_, add) = self.values.swap_remove(i);
            add(&mut args).map_err(|e| Error::Internal(format!("{stmt}: ${name}: {e}")))?;
        }
        if let Some((n, _)) = self.values.first() {
            return Err(Error::Internal(format!(
                "{stmt}: ${n} is not a parameter (or is set twice)"
            )));
        }
        Ok(args)
    }
}

impl Default for Binds<'_> {
    fn default() -> Self {
        Self::new()
    }
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

    #[doc(hidden)]
    pub const fn named(module: &'static str, name: &'static str, build: fn() -> String) -> Self {
        Stmt {
            module,
            name,
            sql: Sql::Named {
                build,
                numbered: OnceLock::new(),
            },
            rows: PhantomData,
        }
    }

    /// The statement's SQL.
    pub fn sql(&'static self) -> &'static str {
        self.sql.numbered().0
    }

    fn arguments<'q>(&'static self, binds: Binds<'q>) -> Result<PgArguments> {
        binds.arguments(self.name, self.sql.numbered().1)
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

    /// The statement with its named parameters bound, to fetch as `R`.
    pub fn query_as_with<'q>(
        &'static self,
        binds: Binds<'q>,
    ) -> Result<QueryAs<'q, Postgres, R, PgArguments>> {
        let args = self.arguments(binds)?;
        Ok(sqlx::query_as_with(self.sql(), args))
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
        self.sql.numbered().0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_parameters_are_numbered_in_order_of_first_use() {
        let (sql, names) = number_params(
            "($zone_id::uuid IS NULL OR z = $zone_id) AND n ILIKE $keyword AND t = '$x' \
             OFFSET $offset LIMIT $limit",
        );
        assert_eq!(
            sql,
            "($1::uuid IS NULL OR z = $1) AND n ILIKE $2 AND t = '$x' OFFSET $3 LIMIT $4"
        );
        assert_eq!(names, ["zone_id", "keyword", "offset", "limit"]);
    }

    #[test]
    #[should_panic(expected = "positional parameter")]
    fn named_and_positional_parameters_do_not_mix() {
        number_params("a = $a AND b = $2");
    }

    #[test]
    fn every_named_parameter_is_bound_once_and_nothing_else() {
        let names = ["a".to_string(), "b".to_string()];
        let args = |b: Binds<'static>| b.arguments("T", &names).map(|a| a.len());
        assert_eq!(args(Binds::new().set("b", 2i64).set("a", 1i64)).unwrap(), 2);
        let missing = args(Binds::new().set("a", 1i64)).unwrap_err().to_string();
        assert!(missing.contains("no value for $b"), "{missing}");
        let extra = args(Binds::new().set("a", 1i64).set("b", 2i64).set("c", 3i64));
        assert!(extra
            .unwrap_err()
            .to_string()
            .contains("$c is not a parameter"));
    }
}
