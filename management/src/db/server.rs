//! Statements about the Postgres server rather than the cloud's schema: whether a
//! database exists, and creating it, before any pool or migration (the embedded default's
//! first start, the benchmarks' and tests' private clusters). Here so that all SQL lives
//! under `db/`; `embedded_pg` (a layer below) only runs the server.
//!
//! `CREATE DATABASE` is the one statement that cannot be registered: a database's name is
//! an identifier, which no bind parameter can carry. It is built here, and only here, from
//! a name checked to be a plain lower-case identifier; `tests/queries.rs` allows exactly
//! this one site.

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::Scalar;
use crate::error::{Error, Result};

stmt!(DATABASE_EXISTS: Scalar<bool> = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)");

/// Whether `name` can be written into SQL as an identifier as it is.
fn plain_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Creates database `name` unless it exists, connecting with `server` (a maintenance
/// database such as `postgres`).
pub async fn database_ensure(server: &PgConnectOptions, name: &str) -> Result<()> {
    if !plain_identifier(name) {
        return Err(Error::internal(format!(
            "database name {name:?}: use lower-case letters, digits and _"
        )));
    }
    let mut c = PgConnection::connect_with(server).await?;
    let exists = DATABASE_EXISTS
        .query_scalar()
        .bind(name)
        .fetch_one(&mut c)
        .await?;
    if !exists {
        let create = format!("CREATE DATABASE {name}");
        sqlx::Executor::execute(&mut c, create.as_str()).await?;
    }
    Ok(())
}

statements![DATABASE_EXISTS];

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_identifiers() {
        for ok in ["stratus", "bench", "t_1"] {
            assert!(super::plain_identifier(ok), "{ok}");
        }
        for bad in ["", "1x", "Stratus", "a\"; DROP", "a b", &"x".repeat(64)] {
            assert!(!super::plain_identifier(bad), "{bad}");
        }
    }
}
