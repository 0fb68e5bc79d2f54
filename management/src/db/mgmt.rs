//! Management server registrations: each running server has a row it keeps fresh, so
//! jobs and background work can name their owner and others can tell when it is gone.

use crate::ids::ManagementServerId;
use sqlx::PgExecutor;

use super::Scalar;
use crate::error::Result;

stmt!(MS_REGISTER = "INSERT INTO management_servers (id, name, version) VALUES ($1, $2, $3)");

pub async fn ms_register(
    db: impl PgExecutor<'_>,
    id: ManagementServerId,
    name: &str,
    version: &str,
) -> Result<()> {
    MS_REGISTER
        .query()
        .bind(id)
        .bind(name)
        .bind(version)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(MS_HEARTBEAT = "UPDATE management_servers SET last_seen = now() WHERE id = $1");

pub async fn ms_heartbeat(db: impl PgExecutor<'_>, id: ManagementServerId) -> Result<()> {
    MS_HEARTBEAT.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(MS_DEREGISTER = "DELETE FROM management_servers WHERE id = $1");

pub async fn ms_deregister(db: impl PgExecutor<'_>, id: ManagementServerId) -> Result<()> {
    MS_DEREGISTER.query().bind(id).execute(db).await?;
    Ok(())
}

stmt!(DB_PING: Scalar<i32> = "SELECT 1");

/// Whether the database answers (for `/healthz`).
pub async fn db_ping(db: impl PgExecutor<'_>) -> Result<()> {
    DB_PING.query_scalar().fetch_one(db).await?;
    Ok(())
}

statements![MS_REGISTER, MS_HEARTBEAT, MS_DEREGISTER, DB_PING];
