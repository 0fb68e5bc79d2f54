//! Browser and CLI sessions created by `login`. Rows hold only the SHA-256 of the session
//! id (see `auth`): a database dump opens no session.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::RowShape;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct SessionRow {
    /// Hex SHA-256 of the JSESSIONID.
    pub id_hash: String,
    pub user_id: Uuid,
    pub created: DateTime<Utc>,
    pub last_used: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

stmt!(
    SESSION_INSERT = "INSERT INTO sessions (id_hash, user_id, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3))"
);

pub async fn session_insert(
    db: impl PgExecutor<'_>,
    id_hash: &str,
    user_id: Uuid,
    idle_seconds: i64,
) -> Result<()> {
    SESSION_INSERT
        .query()
        .bind(id_hash)
        .bind(user_id)
        .bind(idle_seconds as f64)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(SESSION_TOUCH: SessionRow = "UPDATE sessions SET last_used = now(), expires_at = now() + make_interval(secs => $2)
         WHERE id_hash = $1 AND expires_at > now() RETURNING *");

/// The live session with this id hash, its idle expiry pushed forward.
pub async fn session_touch(
    db: impl PgExecutor<'_>,
    id_hash: &str,
    idle_seconds: i64,
) -> Result<Option<SessionRow>> {
    Ok(SESSION_TOUCH
        .query_as()
        .bind(id_hash)
        .bind(idle_seconds as f64)
        .fetch_optional(db)
        .await?)
}

stmt!(SESSION_DELETE = "DELETE FROM sessions WHERE id_hash = $1");

pub async fn session_delete(db: impl PgExecutor<'_>, id_hash: &str) -> Result<()> {
    SESSION_DELETE.query().bind(id_hash).execute(db).await?;
    Ok(())
}

stmt!(SESSION_DELETE_FOR_USER = "DELETE FROM sessions WHERE user_id = $1");

pub async fn session_delete_for_user(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<()> {
    SESSION_DELETE_FOR_USER
        .query()
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(SESSION_PURGE_EXPIRED = "DELETE FROM sessions WHERE expires_at <= now()");

pub async fn session_purge_expired(db: impl PgExecutor<'_>) -> Result<u64> {
    Ok(SESSION_PURGE_EXPIRED
        .query()
        .execute(db)
        .await?
        .rows_affected())
}

statements![
    SESSION_INSERT,
    SESSION_TOUCH,
    SESSION_DELETE,
    SESSION_DELETE_FOR_USER,
    SESSION_PURGE_EXPIRED
];
