//! Queries checked before they run. Every statement of the database layer is a registered
//! `db::Stmt` (see `db/mod.rs`); here Postgres parses and analyses each one against the
//! migrated schema (`Executor::describe`, what sqlx's own query macros use), and its
//! result columns are held against the row type it is read into: every field a column it
//! returns, of a type that decodes into the field, and not NULL where the field is no
//! `Option`. A statement naming a column or table that is not there, or reading a column
//! into the wrong type, fails this test instead of a request. The source check keeps it that way: SQL reaches sqlx only
//! through the registry.

use stratus_testkit::db as common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use sqlx::{Column, Executor, TypeInfo};
use stratus_management::db::{self, Shape};

/// Columns Postgres reports as nullable (they are, in their table) that the statement's
/// own WHERE clause keeps from ever being NULL: (statement, column).
const NOT_NULL_BY_WHERE: &[(&str, &str)] = &[
    // WHERE secret_key IS NOT NULL
    ("accounts::USER_LIST_PLAIN_SECRETS", "secret_key"),
    // WHERE iz.cleanup_path IS NOT NULL
    ("images::ISO_COPY_LIST_CLEANUP", "cleanup_path"),
    ("images::TEMPLATE_COPY_LIST_CLEANUP", "cleanup_path"),
    // WHERE tz.install_path IS NOT NULL AND tz.virtual_size IS NOT NULL AND tz.size IS NOT NULL
    ("templates::TEMPLATE_READY_IN_ZONE", "install_path"),
    ("templates::TEMPLATE_READY_IN_ZONE", "virtual_size"),
    ("templates::TEMPLATE_READY_IN_ZONE", "physical_size"),
];

/// What is wrong with how a statement's result is read, one line per problem.
fn shape_problems(id: &str, d: &sqlx::Describe<sqlx::Postgres>, shape: Shape) -> Vec<String> {
    let cols = d.columns();
    let mut out = vec![];
    let may_be_null = |i: usize| {
        d.nullable(i) == Some(true) && !NOT_NULL_BY_WHERE.contains(&(id, cols[i].name()))
    };
    let type_of = |i: usize| cols[i].type_info().name().to_string();
    match shape {
        Shape::Nothing => {}
        Shape::Named(reads) => {
            let mut by_name: HashMap<&str, usize> = HashMap::new();
            for (i, c) in cols.iter().enumerate() {
                by_name.entry(c.name()).or_insert(i);
            }
            for r in reads {
                let Some(&i) = by_name.get(r.name) else {
                    if !r.optional {
                        out.push(format!(
                            "reads column `{}` ({}), which the statement does not return \
                             (it returns: {})",
                            r.name,
                            r.rust_type,
                            cols.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                        ));
                    }
                    continue;
                };
                if !r.nullable && may_be_null(i) {
                    out.push(format!(
                        "column `{}` may be NULL but is read as {}",
                        r.name, r.rust_type
                    ));
                }
                if !(r.compatible)(cols[i].type_info()) {
                    out.push(format!(
                        "column `{}` is {} but is read as {}",
                        r.name,
                        type_of(i),
                        r.rust_type
                    ));
                }
            }
        }
        Shape::Positional(reads) => {
            if cols.len() < reads.len() {
                out.push(format!(
                    "is read as {} columns but returns {}",
                    reads.len(),
                    cols.len()
                ));
            }
            for (i, r) in reads.iter().enumerate().take(cols.len()) {
                if !r.nullable && may_be_null(i) {
                    out.push(format!(
                        "column {i} (`{}`) may be NULL but is read as {}",
                        cols[i].name(),
                        r.rust_type
                    ));
                }
                if !(r.compatible)(cols[i].type_info()) {
                    out.push(format!(
                        "column {i} (`{}`) is {} but is read as {}",
                        cols[i].name(),
                        type_of(i),
                        r.rust_type
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn every_registered_statement_fits_the_migrated_schema() {
    let pool = common::fresh_db().await;
    let mut conn = pool.acquire().await.unwrap();
    let t0 = Instant::now();
    let mut failures = vec![];
    let mut count = 0;
    for s in db::statements() {
        count += 1;
        match (&mut *conn).describe(s.text()).await {
            Err(e) => failures.push(format!("{}: {e}", s.id())),
            Ok(d) => failures.extend(
                shape_problems(&s.id(), &d, s.reads())
                    .into_iter()
                    .map(|p| format!("{}: {p}", s.id())),
            ),
        }
    }
    println!(
        "{count} statements described in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(count > 150, "only {count} statements registered");
    assert!(
        failures.is_empty(),
        "{} of {count} statements do not fit the schema:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn db_sources() -> BTreeMap<String, String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/db");
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            let module = p.file_stem().unwrap().to_string_lossy().to_string();
            out.insert(module, std::fs::read_to_string(&p).unwrap());
        }
    }
    assert!(out.len() > 10, "the db sources are not where expected");
    out
}

fn words(src: &str) -> impl Iterator<Item = &str> {
    src.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
}

/// The names `stmt!` declares in a source file.
fn declared(src: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = src;
    while let Some(i) = rest.find("stmt!(") {
        rest = &rest[i + "stmt!(".len()..];
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            out.push(name);
        }
    }
    out
}

/// No SQL reaches sqlx but through the registry: outside `db/mod.rs` (where `Stmt` hands
/// its own text to sqlx) no module calls `sqlx::query*` or builds a query, and no executor
/// is handed a string; every declared statement is registered and used. The one
/// exception is `db/server.rs`'s `CREATE DATABASE` (an identifier cannot be bound): one
/// `sqlx::Executor::execute` there and nowhere else.
#[test]
fn sql_reaches_sqlx_only_through_the_registry() {
    let forbidden = [
        "sqlx::query",
        "query_as(",
        "query_scalar(",
        "query_as_with(",
        "query_with(",
        "QueryBuilder",
        "raw_sql",
    ];
    let mut registered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in db::statements() {
        let id = s.id();
        let (module, name) = id.split_once("::").unwrap();
        assert!(
            registered
                .entry(module.to_string())
                .or_default()
                .insert(name.to_string()),
            "{id} is registered twice"
        );
    }
    let mut problems = vec![];
    for (module, src) in db_sources() {
        if module == "mod" {
            // Only `Stmt` itself hands SQL to sqlx, and only its own.
            for (i, _) in src.match_indices("sqlx::query") {
                let call = &src[i + "sqlx::".len()..];
                let args = call.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
                if args.starts_with('(') && !args.starts_with("(self.sql()") {
                    problems.push(format!("db/mod.rs: {}", &call[..call.len().min(60)]));
                }
            }
            continue;
        }
        let raw = src
            .lines()
            .filter(|l| l.split("//").next().unwrap().contains("Executor::execute"))
            .count();
        let allowed = usize::from(module == "server");
        if raw != allowed {
            problems.push(format!(
                "db/{module}.rs: {raw} unregistered executions (allowed: {allowed})"
            ));
        }
        for (n, line) in src.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for f in forbidden {
                // `NAME.query_as()` is the registry's own method.
                let own = code.contains(&format!(".{f}"));
                if code.contains(f) && !own {
                    problems.push(format!("db/{module}.rs:{}: `{f}`: {}", n + 1, line.trim()));
                }
            }
            for m in [
                ".execute(",
                ".fetch(",
                ".fetch_one(",
                ".fetch_all(",
                ".fetch_optional(",
            ] {
                if let Some(i) = code.find(m) {
                    let arg = code[i + m.len()..].trim_start();
                    if arg.starts_with('"') || arg.starts_with("r#") || arg.contains("format!") {
                        problems.push(format!(
                            "db/{module}.rs:{}: SQL handed to an executor: {}",
                            n + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
        let names = declared(&src);
        let listed = registered.remove(&module).unwrap_or_default();
        for name in &names {
            if !listed.contains(name) {
                problems.push(format!(
                    "db/{module}.rs: {name} is declared but not in its statements![]"
                ));
            }
            // Declared, listed, and run at least once.
            if words(&src).filter(|w| w == name).count() < 3 {
                problems.push(format!("db/{module}.rs: {name} is never run"));
            }
        }
        for name in listed {
            if !names.contains(&name) {
                problems.push(format!("{module}::{name} is registered but not declared"));
            }
        }
    }
    for (module, names) in registered {
        problems.push(format!("{module}: registered but no such file: {names:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The spellings a column's CHECK constraints admit (their intersection): the quoted
/// literals of each `CHECK ((col = ANY (ARRAY['a'::text, ...])))` on that column alone.
async fn admitted(pool: &sqlx::PgPool, table: &str, column: &str) -> BTreeSet<String> {
    let defs: Vec<(String,)> = sqlx::query_as(
        "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
           JOIN pg_class t ON t.oid = c.conrelid
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = c.conkey[1]
          WHERE c.contype = 'c' AND cardinality(c.conkey) = 1
            AND t.relname = $1 AND a.attname = $2",
    )
    .bind(table)
    .bind(column)
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(!defs.is_empty(), "{table}.{column} has no CHECK constraint");
    defs.iter()
        .map(|(d,)| {
            d.split('\'')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<BTreeSet<String>>()
        })
        .reduce(|a, b| a.intersection(&b).cloned().collect())
        .unwrap()
}

/// Every state column read into an enum (`text_column!`) admits exactly that enum's
/// spellings: a row the enum could not decode cannot be written, and no state the code
/// writes is refused. (`iso_zones` never holds createTemplate's `Creating`.)
#[tokio::test]
async fn state_columns_admit_exactly_their_enums_spellings() {
    use stratus_management::rules::poolstate::PoolState;
    use stratus_management::rules::states::{
        AccountState, AllocationState, BaseState, CopyState, ManagedState, VolumeState,
    };
    fn spelt<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> BTreeSet<String> {
        all.iter().map(|s| as_str(*s).to_string()).collect()
    }
    let pool = common::fresh_db().await;
    let copies = spelt(CopyState::ALL, CopyState::as_str);
    let mut iso_copies = copies.clone();
    iso_copies.remove(CopyState::Creating.as_str());
    let allocation = spelt(AllocationState::ALL, AllocationState::as_str);
    let accounts = spelt(AccountState::ALL, AccountState::as_str);
    let cases: Vec<(&str, &str, BTreeSet<String>)> = vec![
        ("zones", "allocation_state", allocation.clone()),
        ("pods", "allocation_state", allocation.clone()),
        ("clusters", "allocation_state", allocation),
        (
            "clusters",
            "managed_state",
            spelt(ManagedState::ALL, ManagedState::as_str),
        ),
        ("accounts", "state", accounts.clone()),
        ("users", "state", accounts),
        ("template_zones", "state", copies),
        ("iso_zones", "state", iso_copies),
        (
            "template_pool_copies",
            "state",
            spelt(BaseState::ALL, BaseState::as_str),
        ),
        (
            "volumes",
            "state",
            spelt(VolumeState::ALL, VolumeState::as_str),
        ),
        (
            "storage_pools",
            "state",
            spelt(&PoolState::ALL, PoolState::as_str),
        ),
    ];
    let mut wrong = vec![];
    for (table, column, want) in cases {
        let got = admitted(&pool, table, column).await;
        if got != want {
            wrong.push(format!(
                "{table}.{column} admits {got:?}, its enum spells {want:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
