//! Shared server state handed to every handler and background task.

use crate::ids::ManagementServerId;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::db;
use crate::error::Result;
use crate::pki::Pki;
use crate::secrets::SecretKey;
use crate::settings::{self, Scope, ScopeKind, Setting};

#[derive(Clone)]
pub struct Ctx {
    pub pool: PgPool,
    /// This management server's id (`managementserverid`).
    pub ms_id: ManagementServerId,
    /// Woken when a job is queued here, so the local worker picks it up at once.
    pub jobs: Arc<Notify>,
    /// Woken when ISO or template copies are queued, so a downloader starts at once.
    pub isos: Arc<Notify>,
    /// Woken when security group rules or memberships change, so the `sg-sync`
    /// reconciler pushes the hosts' rule sets at once instead of at its next tick.
    pub sg_sync: Arc<Notify>,
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
    /// The stored setting values, parsed (see `settings`).
    settings: Arc<settings::Values>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("ms_id", &self.ms_id).finish()
    }
}

impl Ctx {
    pub async fn new(pool: PgPool, ms_id: ManagementServerId, secrets: SecretKey) -> Result<Ctx> {
        let pki = Pki::load_or_create(&pool, &secrets, ms_id).await?;
        let ctx = Ctx {
            pool,
            ms_id,
            jobs: Arc::new(Notify::new()),
            isos: Arc::new(Notify::new()),
            sg_sync: Arc::new(Notify::new()),
            listen: None,
            secrets,
            pki,
            faults: Default::default(),
            db_status: Default::default(),
            guards: Default::default(),
            settings: Default::default(),
        };
        ctx.refresh_settings().await?;
        let sealed = ctx.seal_plain_secrets().await?;
        if sealed > 0 {
            tracing::info!(users = sealed, "sealed API secret keys stored in clear");
        }
        Ok(ctx)
    }

    /// Reloads the settings' stored values (global and scoped). Called at start, after a
    /// local change, and on a timer so changes made through another management server
    /// arrive within seconds.
    pub async fn refresh_settings(&self) -> Result<()> {
        let rows = db::config::config_values(&self.pool).await?;
        self.settings.load(
            rows.into_iter()
                .filter_map(|r| match (r.scope, r.scope_id) {
                    (None, _) => Some((r.name, None, r.value)),
                    (Some(s), Some(id)) => {
                        ScopeKind::parse(&s).map(|k| (r.name, Some((k, id)), r.value))
                    }
                    (Some(_), None) => None,
                }),
        );
        Ok(())
    }

    /// A setting's global value (its default unless one is stored).
    pub fn get<T: settings::Type>(&self, s: &Setting<T>) -> T::Owned {
        self.settings.get(s, Scope::Global)
    }

    /// A setting's value at `scope`: the most specific value stored for it among the
    /// scopes the setting allows (a cluster's, then its zone's), else the global value.
    pub fn get_in<T: settings::Type>(&self, s: &Setting<T>, scope: Scope) -> T::Owned {
        self.settings.get(s, scope)
    }

    /// The values of `s` stored at scopes of `kind`, by scope id.
    pub fn stored_at<T: settings::Type>(
        &self,
        s: &Setting<T>,
        kind: ScopeKind,
    ) -> Vec<(Uuid, T::Owned)> {
        self.settings.stored_at(s, kind)
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
            db::accounts::user_seal_secret(
                &self.pool,
                (*id).into(),
                &self.secrets.seal(secret.as_bytes()),
            )
            .await?;
        }
        Ok(plain.len())
    }

    /// `default.page.size`: the default and maximum page size of list commands.
    pub fn page_size(&self) -> i64 {
        self.get(&settings::DEFAULT_PAGE_SIZE)
    }
}
