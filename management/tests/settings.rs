//! The settings registry (`stratus_management::settings`) and the database agree: after
//! the migrations every `configuration` row has a registry entry with the same value type,
//! default and scopes, and every registry entry has a row. The default is declared once
//! in the registry; the row's `default_value` is what `listConfigurations` shows.

use stratus_testkit::db as common;

use std::collections::BTreeSet;

use stratus_management::settings::{self, ScopeKind};

#[tokio::test]
async fn the_registry_and_the_configuration_table_agree() {
    let pool = common::fresh_db().await;
    let rows: Vec<(String, Option<String>, String, Vec<String>)> =
        sqlx::query_as("SELECT name, default_value, value_type, scopes FROM configuration")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut wrong = Vec::new();
    for (name, default, value_type, scopes) in &rows {
        let Some(s) = settings::find(name) else {
            wrong.push(format!("{name}: a row without a registry entry"));
            continue;
        };
        if s.kind().as_str() != value_type {
            wrong.push(format!(
                "{name}: the row says {value_type}, the registry {}",
                s.kind().as_str()
            ));
        }
        let default = default.as_deref().unwrap_or("");
        if !s.is_default(default) {
            wrong.push(format!(
                "{name}: the row's default is {default:?}, the registry's {:?}",
                s.default_text()
            ));
        }
        match s.load_value(default) {
            Ok((_, None)) => {}
            other => wrong.push(format!(
                "{name}: the default {default:?} does not pass the registry's check: {other:?}"
            )),
        }
        let row_scopes: BTreeSet<&str> = scopes.iter().map(String::as_str).collect();
        let reg_scopes: BTreeSet<&str> = s.scopes().iter().map(|k| k.as_str()).collect();
        if row_scopes != reg_scopes {
            wrong.push(format!(
                "{name}: the row's scopes are {row_scopes:?}, the registry's {reg_scopes:?}"
            ));
        }
    }
    let in_db: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    for s in settings::ALL {
        if !in_db.contains(s.name()) {
            wrong.push(format!(
                "{}: a registry entry without a row (add it in a migration)",
                s.name()
            ));
        }
    }
    assert!(wrong.is_empty(), "\n  {}", wrong.join("\n  "));
    // The schema's scopes are the registry's.
    for k in ScopeKind::ALL {
        assert_eq!(ScopeKind::parse(k.as_str()), Some(k));
    }
}

/// A value stored in the database that its setting cannot use falls back to the default
/// (logged once, at load); a valid one is read at once after a local change.
#[tokio::test]
async fn stored_values_are_read_typed_and_bad_ones_fall_back() {
    let ctx = common::fresh_ctx().await;
    assert_eq!(ctx.get(&settings::VM_START_TIMEOUT), 120);
    sqlx::query("UPDATE configuration SET value = 'soon' WHERE name = 'vm.start.timeout'")
        .execute(&ctx.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE configuration SET value = '7' WHERE name = 'host.probe.port'")
        .execute(&ctx.pool)
        .await
        .unwrap();
    ctx.refresh_settings().await.unwrap();
    assert_eq!(
        ctx.get(&settings::VM_START_TIMEOUT),
        120,
        "invalid: the default"
    );
    assert_eq!(ctx.get(&settings::HOST_PROBE_PORT), 7);
    // instance.name is chosen per cloud by its migration: a stored value, not the default.
    let name = ctx.get(&settings::INSTANCE_NAME);
    assert!(name.starts_with("VM") && name.len() == 6, "{name}");
}
