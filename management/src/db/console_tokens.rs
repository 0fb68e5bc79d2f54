//! Console tokens (createConsoleEndpoint): stored as SHA-256 hashes, consumed once.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{RowShape, Scalar};
use crate::error::Result;

/// A token being issued.
#[derive(Debug, Clone)]
pub struct NewConsoleToken<'a> {
    pub token_hash: &'a [u8],
    pub vm_id: Uuid,
    pub user_id: Uuid,
    pub extra_hash: Option<&'a [u8]>,
    /// Seconds from now within which it must be used.
    pub validity_secs: i64,
}

stmt!(
    CONSOLE_TOKEN_INSERT =
        "INSERT INTO console_tokens (token_hash, vm_id, user_id, extra_hash, expires)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))"
);

pub async fn console_token_insert(db: impl PgExecutor<'_>, t: &NewConsoleToken<'_>) -> Result<()> {
    CONSOLE_TOKEN_INSERT
        .query()
        .bind(t.token_hash)
        .bind(t.vm_id)
        .bind(t.user_id)
        .bind(t.extra_hash)
        .bind(t.validity_secs as f64)
        .execute(db)
        .await?;
    Ok(())
}

/// A token just consumed by [`console_token_consume`].
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ConsumedToken {
    pub vm_id: Uuid,
    pub user_id: Uuid,
    pub extra_hash: Option<Vec<u8>>,
    pub expires: DateTime<Utc>,
    /// Whether it was still within its validity when consumed.
    pub fresh: bool,
}

stmt!(CONSOLE_TOKEN_CONSUME: ConsumedToken = "UPDATE console_tokens SET used = now()
         WHERE token_hash = $1 AND used IS NULL
         RETURNING vm_id, user_id, extra_hash, expires, expires > now() AS fresh");

/// Marks the token used and returns it, if it existed and had not been used: one
/// statement, so of any number of concurrent attempts (on any management servers) exactly
/// one gets it. An expired token is consumed too (`fresh` is false).
pub async fn console_token_consume(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<ConsumedToken>> {
    Ok(CONSOLE_TOKEN_CONSUME
        .query_as()
        .bind(token_hash)
        .fetch_optional(db)
        .await?)
}

stmt!(CONSOLE_TOKEN_USED_AT: Scalar<Option<DateTime<Utc>>> = "SELECT used FROM console_tokens WHERE token_hash = $1");

/// When the token was used, if it exists (to say why it was refused).
pub async fn console_token_used_at(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<Option<DateTime<Utc>>>> {
    Ok(CONSOLE_TOKEN_USED_AT
        .query_scalar()
        .bind(token_hash)
        .fetch_optional(db)
        .await?)
}

stmt!(CONSOLE_TOKEN_PURGE = "DELETE FROM console_tokens WHERE expires < now() - interval '1 day'");

/// Forgets tokens that expired more than a day ago (kept that long to tell a late
/// attempt "expired" or "used" rather than "unknown" in the log).
pub async fn console_token_purge(db: impl PgExecutor<'_>) -> Result<u64> {
    Ok(CONSOLE_TOKEN_PURGE
        .query()
        .execute(db)
        .await?
        .rows_affected())
}

statements![
    CONSOLE_TOKEN_INSERT,
    CONSOLE_TOKEN_CONSUME,
    CONSOLE_TOKEN_USED_AT,
    CONSOLE_TOKEN_PURGE
];
