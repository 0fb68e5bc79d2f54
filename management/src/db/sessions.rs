//! Browser and CLI sessions created by `login`. Rows hold only the SHA-256 of the session
//! id (see `auth`): a database dump opens no session.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Hex SHA-256 of the JSESSIONID.
    pub id_hash: String,
    pub user_id: Uuid,
    pub created: DateTime<Utc>,
    pub last_used: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn session_insert(
    db: impl PgExecutor<'_>,
    id_hash: &str,
    user_id: Uuid,
    idle_seconds: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3))",
    )
    .bind(id_hash)
    .bind(user_id)
    .bind(idle_seconds as f64)
    .execute(db)
    .await?;
    Ok(())
}

/// The live session with this id hash, its idle expiry pushed forward.
pub async fn session_touch(
    db: impl PgExecutor<'_>,
    id_hash: &str,
    idle_seconds: i64,
) -> Result<Option<SessionRow>> {
    Ok(sqlx::query_as(
        "UPDATE sessions SET last_used = now(), expires_at = now() + make_interval(secs => $2)
         WHERE id_hash = $1 AND expires_at > now() RETURNING *",
    )
    .bind(id_hash)
    .bind(idle_seconds as f64)
    .fetch_optional(db)
    .await?)
}

pub async fn session_delete(db: impl PgExecutor<'_>, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn session_delete_for_user(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn session_purge_expired(db: impl PgExecutor<'_>) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM sessions WHERE expires_at <= now()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}
