//! Shared server state handed to every handler and background task.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::db;
use crate::error::Result;
use crate::pki::Pki;
use crate::secrets::SecretKey;

#[derive(Clone)]
pub struct Ctx {
    pub pool: PgPool,
    /// This management server's id (`managementserverid`).
    pub ms_id: Uuid,
    /// Woken when a job is queued here, so the local worker picks it up at once.
    pub jobs: Arc<Notify>,
    /// Woken when ISO copies are queued, so a downloader starts at once.
    pub isos: Arc<Notify>,
    /// The address the HTTP API listens on (agents are told to report there unless the
    /// `host` setting names another).
    pub listen: Option<std::net::SocketAddr>,
    /// Seals secrets the database keeps (see `secrets`).
    pub secrets: SecretKey,
    /// The cloud's CA and this server's HTTPS client for agents.
    pub pki: Pki,
    /// Test hooks for multi-step work (see `faults`); empty in production.
    pub faults: crate::faults::Faults,
    /// Whether the database answers (kept by `dbstatus::run`; always Up without it).
    pub db_status: crate::dbstatus::DbStatus,
    /// The front door's in-memory limits (login throttle, API rate limit).
    pub guards: Arc<crate::guard::Guards>,
    settings: Arc<RwLock<HashMap<String, String>>>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("ms_id", &self.ms_id).finish()
    }
}

impl Ctx {
    pub async fn new(pool: PgPool, ms_id: Uuid, secrets: SecretKey) -> Result<Ctx> {
        let pki = Pki::load_or_create(&pool, &secrets, ms_id).await?;
        let ctx = Ctx {
            pool,
            ms_id,
            jobs: Arc::new(Notify::new()),
            isos: Arc::new(Notify::new()),
            listen: None,
            secrets,
            pki,
            faults: Default::default(),
            db_status: Default::default(),
            guards: Default::default(),
            settings: Arc::new(RwLock::new(HashMap::new())),
        };
        ctx.refresh_settings().await?;
        let sealed = ctx.seal_plain_secrets().await?;
        if sealed > 0 {
            tracing::info!(users = sealed, "sealed API secret keys stored in clear");
        }
        Ok(ctx)
    }

    /// Reloads global settings. Called at start, after a local change, and on a timer so
    /// changes made through another management server arrive within seconds.
    pub async fn refresh_settings(&self) -> Result<()> {
        let (rows, _) = db::config::config_list(&self.pool, &Default::default()).await?;
        let map = rows
            .into_iter()
            .filter_map(|r| r.value.map(|v| (r.name, v)))
            .collect();
        *self.settings.write().expect("settings lock") = map;
        Ok(())
    }

    pub fn setting(&self, name: &str) -> Option<String> {
        self.settings
            .read()
            .expect("settings lock")
            .get(name)
            .cloned()
    }

    pub fn setting_i64(&self, name: &str, default: i64) -> i64 {
        self.setting(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    /// An overprovisioning factor (`cpu.`, `mem.`, `storage.overprovisioning.factor`):
    /// positive, else `default`. Placement, capacity and the lists all read it here.
    pub fn factor(&self, name: &str, default: f64) -> f64 {
        self.setting(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|f| *f > 0.0)
            .unwrap_or(default)
    }

    pub fn setting_bool(&self, name: &str, default: bool) -> bool {
        self.setting(name)
            .map(|v| v.trim().eq_ignore_ascii_case("true"))
            .unwrap_or(default)
    }

    /// A user's API secret key, unsealed (`None` without keys, or if the sealed value
    /// cannot be opened with this server's management key — logged).
    pub fn user_secret(&self, user: &crate::db::accounts::UserRow) -> Option<String> {
        if let Some(sealed) = &user.secret_key_sealed {
            return match self.secrets.open(sealed) {
                Ok(b) => String::from_utf8(b).ok(),
                Err(e) => {
                    tracing::error!(user = %user.username, error = %e, "an API secret key cannot be unsealed");
                    None
                }
            };
        }
        user.secret_key.clone()
    }

    /// Seals API secret keys still stored in clear (from before sealing). Idempotent.
    pub async fn seal_plain_secrets(&self) -> Result<usize> {
        let plain = db::accounts::user_list_plain_secrets(&self.pool).await?;
        for (id, secret) in &plain {
            db::accounts::user_seal_secret(&self.pool, *id, &self.secrets.seal(secret.as_bytes()))
                .await?;
        }
        Ok(plain.len())
    }

    /// `default.page.size`: the default and maximum page size of list commands.
    pub fn page_size(&self) -> i64 {
        self.setting_i64("default.page.size", 500).max(1)
    }
}
