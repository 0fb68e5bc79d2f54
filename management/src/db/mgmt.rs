//! Management server registrations: each running server has a row it keeps fresh, so
//! jobs and background work can name their owner and others can tell when it is gone.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::error::Result;

pub async fn ms_register(
    db: impl PgExecutor<'_>,
    id: Uuid,
    name: &str,
    version: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO management_servers (id, name, version) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(version)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn ms_heartbeat(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE management_servers SET last_seen = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn ms_deregister(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM management_servers WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether the database answers (for `/healthz`).
pub async fn db_ping(db: impl PgExecutor<'_>) -> Result<()> {
    sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(db)
        .await?;
    Ok(())
}
