//! Templates' copies on primary pools ("bases"): the qcow2 each root volume deployed from
//! the template is an overlay on. One row per (template, pool); the first deploy claims it
//! and copies, the others wait for Ready; a claim is a lease its copier renews, so a
//! copier that died is taken over. See `services::vms::bases`.

use crate::ids::{ManagementServerId, StoragePoolId, TemplateId};
use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::{RowShape, Scalar};
use crate::error::Result;
use crate::rules::states::BaseState;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct BaseRow {
    pub template_id: TemplateId,
    pub pool_id: StoragePoolId,
    pub state: BaseState,
    pub path: String,
    pub size_bytes: Option<i64>,
    pub error_text: Option<String>,
    pub owner: Option<ManagementServerId>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

stmt!(BASE_CLAIM: BaseRow = "INSERT INTO template_pool_copies AS c
            (template_id, pool_id, state, path, owner, lease_until)
         VALUES ($1, $2, 'Copying', $3, $4, now() + make_interval(secs => $5))
         ON CONFLICT (template_id, pool_id) DO UPDATE
            SET state = 'Copying', owner = $4, error_text = NULL, updated = now(),
                lease_until = now() + make_interval(secs => $5)
          WHERE c.state = 'Error' OR (c.state = 'Copying' AND c.lease_until < now())
         RETURNING c.*");

/// Claims the copy of `template` onto `pool` for `owner` when nobody has it (no row, an
/// Error, or a Copying whose lease lapsed). Some: the caller copies now.
pub async fn base_claim(
    db: impl PgExecutor<'_>,
    template: TemplateId,
    pool: StoragePoolId,
    path: &str,
    owner: ManagementServerId,
    lease_secs: f64,
) -> Result<Option<BaseRow>> {
    Ok(BASE_CLAIM
        .query_as()
        .bind(template)
        .bind(pool)
        .bind(path)
        .bind(owner)
        .bind(lease_secs)
        .fetch_optional(db)
        .await?)
}

stmt!(BASE_FETCH: BaseRow = "SELECT * FROM template_pool_copies WHERE template_id = $1 AND pool_id = $2");

pub async fn base_fetch(
    db: impl PgExecutor<'_>,
    template: TemplateId,
    pool: StoragePoolId,
) -> Result<Option<BaseRow>> {
    Ok(BASE_FETCH
        .query_as()
        .bind(template)
        .bind(pool)
        .fetch_optional(db)
        .await?)
}

stmt!(BASE_TOUCH: Scalar<String> = "UPDATE template_pool_copies SET updated = now()
          WHERE template_id = $1 AND pool_id = $2 AND state = 'Ready' RETURNING path");

/// The Ready base's path, stamped as used now (the reconciler leaves a base alone for a
/// while after its last use, so a deploy that found it can still make its overlay).
pub async fn base_touch(
    db: impl PgExecutor<'_>,
    template: TemplateId,
    pool: StoragePoolId,
) -> Result<Option<String>> {
    Ok(BASE_TOUCH
        .query_scalar()
        .bind(template)
        .bind(pool)
        .fetch_optional(db)
        .await?)
}

stmt!(
    BASE_RENEW = "UPDATE template_pool_copies
            SET lease_until = now() + make_interval(secs => $4), updated = now()
          WHERE template_id = $1 AND pool_id = $2 AND owner = $3 AND state = 'Copying'"
);

/// Extends the copier's lease; false when it lost the claim.
pub async fn base_renew(
    db: impl PgExecutor<'_>,
    template: TemplateId,
    pool: StoragePoolId,
    owner: ManagementServerId,
    lease_secs: f64,
) -> Result<bool> {
    let r = BASE_RENEW
        .query()
        .bind(template)
        .bind(pool)
        .bind(owner)
        .bind(lease_secs)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

stmt!(
    BASE_FINISH = "UPDATE template_pool_copies
            SET state = $4, size_bytes = $5, error_text = $6, owner = NULL, lease_until = NULL,
                updated = now()
          WHERE template_id = $1 AND pool_id = $2 AND owner = $3 AND state = 'Copying'"
);

/// Ready with its size, or Error with the reason; false when the claim was lost.
pub async fn base_finish(
    db: impl PgExecutor<'_>,
    template: TemplateId,
    pool: StoragePoolId,
    owner: ManagementServerId,
    outcome: std::result::Result<i64, &str>,
) -> Result<bool> {
    let (state, size, error) = match outcome {
        Ok(size) => (BaseState::Ready, Some(size), None),
        Err(e) => (BaseState::Error, None, Some(e)),
    };
    let r = BASE_FINISH
        .query()
        .bind(template)
        .bind(pool)
        .bind(owner)
        .bind(state)
        .bind(size)
        .bind(error)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

stmt!(BASE_UNUSED: BaseRow = "SELECT c.* FROM template_pool_copies c
         WHERE c.state IN ('Ready', 'Error')
           AND c.updated < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM volumes v
                           WHERE v.template_id = c.template_id AND v.pool_id = c.pool_id
                             AND v.removed IS NULL)
         ORDER BY c.updated LIMIT $2");

/// Bases no volume is on (not expunged), untouched for `idle_secs`: the reconciler's work.
pub async fn base_unused(
    db: impl PgExecutor<'_>,
    idle_secs: f64,
    limit: i64,
) -> Result<Vec<BaseRow>> {
    Ok(BASE_UNUSED
        .query_as()
        .bind(idle_secs)
        .bind(limit)
        .fetch_all(db)
        .await?)
}

stmt!(
    BASE_DELETE_IF_UNUSED = "DELETE FROM template_pool_copies c
          WHERE c.template_id = $1 AND c.pool_id = $2 AND c.state IN ('Ready', 'Error')
            AND NOT EXISTS (SELECT 1 FROM volumes v
                            WHERE v.template_id = c.template_id AND v.pool_id = c.pool_id
                              AND v.removed IS NULL)"
);

/// Forgets the base if still no volume is on it (checked in the same statement, so a
/// deploy that just made an overlay keeps it); true: its file may be removed.
pub async fn base_delete_if_unused(
    db: impl PgExecutor<'_>,
    template: TemplateId,
    pool: StoragePoolId,
) -> Result<bool> {
    let r = BASE_DELETE_IF_UNUSED
        .query()
        .bind(template)
        .bind(pool)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

statements![
    BASE_CLAIM,
    BASE_FETCH,
    BASE_TOUCH,
    BASE_RENEW,
    BASE_FINISH,
    BASE_UNUSED,
    BASE_DELETE_IF_UNUSED
];
