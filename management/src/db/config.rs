//! Global settings and their scoped overrides.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{Counted, RowShape};
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct ConfigRow {
    pub name: String,
    pub category: String,
    pub component: String,
    pub description: String,
    pub default_value: Option<String>,
    /// The effective value at the scope asked for (override, else global, else default).
    pub value: Option<String>,
    pub value_type: String,
    pub scopes: Vec<String>,
    pub is_dynamic: bool,
    pub display_text: String,
    pub updated: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct ConfigFilter {
    pub name: Option<String>,
    pub category: Option<String>,
    pub keyword: Option<String>,
    /// (scope, id): list the settings of that scope with their effective values there.
    pub scope: Option<(&'static str, Uuid)>,
    pub offset: i64,
    pub limit: Option<i64>,
}

stmt!(CONFIG_LIST: Counted<ConfigRow> = "SELECT c.name, c.category, c.component, c.description, c.default_value,
                COALESCE(s.value, c.value, c.default_value) AS value,
                c.value_type, c.scopes, c.is_dynamic, c.display_text, c.updated,
                count(*) OVER () AS total
         FROM configuration c
         LEFT JOIN configuration_scoped s ON s.name = c.name AND s.scope = $4 AND s.scope_id = $5
         WHERE ($1::text IS NULL OR c.name = $1)
           AND ($2::text IS NULL OR lower(c.category) = lower($2))
           AND ($3::text IS NULL OR c.name ILIKE $3 OR c.description ILIKE $3)
           AND ($4::text IS NULL OR $4 = ANY(c.scopes))
         ORDER BY c.category, c.name OFFSET $6 LIMIT $7");

pub async fn config_list(
    db: impl PgExecutor<'_>,
    f: &ConfigFilter,
) -> Result<(Vec<ConfigRow>, i64)> {
    let (scope, scope_id) = match f.scope {
        Some((s, id)) => (Some(s), Some(id)),
        None => (None, None),
    };
    let rows: Vec<Counted<_>> = CONFIG_LIST
        .query_as()
        .bind(&f.name)
        .bind(&f.category)
        .bind(f.keyword.as_ref().map(|k| format!("%{k}%")))
        .bind(scope)
        .bind(scope_id)
        .bind(f.offset)
        .bind(f.limit.unwrap_or(i64::MAX))
        .fetch_all(db)
        .await?;
    Ok(Counted::split(rows))
}

stmt!(CONFIG_FETCH: ConfigRow = "SELECT name, category, component, description, default_value,
                COALESCE(value, default_value) AS value, value_type, scopes, is_dynamic,
                display_text, updated
         FROM configuration WHERE name = $1");

pub async fn config_fetch(db: impl PgExecutor<'_>, name: &str) -> Result<Option<ConfigRow>> {
    Ok(CONFIG_FETCH
        .query_as()
        .bind(name)
        .fetch_optional(db)
        .await?)
}

/// A stored value: global (`scope` NULL) or a scope's override.
#[derive(Debug, Clone, sqlx::FromRow, RowShape)]
pub struct StoredValue {
    pub name: String,
    pub scope: Option<String>,
    pub scope_id: Option<Uuid>,
    pub value: String,
}

stmt!(CONFIG_VALUES: StoredValue = "SELECT name, NULL::text AS scope, NULL::uuid AS scope_id, value
         FROM configuration WHERE value IS NOT NULL
         UNION ALL
         SELECT name, scope, scope_id, value FROM configuration_scoped");

/// Every value set globally or at a scope (not defaults), for the settings cache.
pub async fn config_values(db: impl PgExecutor<'_>) -> Result<Vec<StoredValue>> {
    Ok(CONFIG_VALUES.query_as().fetch_all(db).await?)
}

stmt!(CONFIG_SET_GLOBAL = "UPDATE configuration SET value = $2, updated = now() WHERE name = $1");

/// Sets (or with `None`, resets to the default) the global value.
pub async fn config_set_global(
    db: impl PgExecutor<'_>,
    name: &str,
    value: Option<&str>,
) -> Result<()> {
    CONFIG_SET_GLOBAL
        .query()
        .bind(name)
        .bind(value)
        .execute(db)
        .await?;
    Ok(())
}

stmt!(
    CONFIG_SET_SCOPED =
        "INSERT INTO configuration_scoped (name, scope, scope_id, value) VALUES ($1,$2,$3,$4)
                 ON CONFLICT (name, scope, scope_id) DO UPDATE SET value = EXCLUDED.value"
);
stmt!(
    CONFIG_RESET_SCOPED =
        "DELETE FROM configuration_scoped WHERE name=$1 AND scope=$2 AND scope_id=$3"
);

pub async fn config_set_scoped(
    db: impl PgExecutor<'_>,
    name: &str,
    scope: &str,
    scope_id: Uuid,
    value: Option<&str>,
) -> Result<()> {
    match value {
        Some(v) => {
            CONFIG_SET_SCOPED
                .query()
                .bind(name)
                .bind(scope)
                .bind(scope_id)
                .bind(v)
                .execute(db)
                .await?;
        }
        None => {
            CONFIG_RESET_SCOPED
                .query()
                .bind(name)
                .bind(scope)
                .bind(scope_id)
                .execute(db)
                .await?;
        }
    }
    Ok(())
}

statements![
    CONFIG_VALUES,
    CONFIG_LIST,
    CONFIG_FETCH,
    CONFIG_SET_GLOBAL,
    CONFIG_SET_SCOPED,
    CONFIG_RESET_SCOPED
];
