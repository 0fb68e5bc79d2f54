//! Whether the database answers, known without waiting for it.
//!
//! Why: while Postgres is away (the embedded one died and is being restarted, or a
//! remote one is unreachable), every query waits for the pool's acquire timeout (10 s)
//! before failing, so API calls hung 10 s and `/healthz` took 10 s to say 503. Instead a
//! watchdog (`run`) pings the database over a connection of its own every half second
//! (and at once when the embedded Postgres's supervisor reports an exit), with a 1 s
//! timeout, and publishes Up or Down with the reason in `DbStatus`. The front doors
//! consult it first: while it is Down, API calls fail at once with a 530 "the database is
//! unavailable, retry", `/healthz` answers 503 with the reason, and requests already in
//! flight are cut with the same error when it goes Down. When the ping succeeds again,
//! everything works again by itself.
//!
//! For the admin, the watchdog records a background task `database` (see `tasks`): an OK
//! pass every 10 s, and after an outage a failed pass that says how long the database was
//! away and why (e.g. "the embedded Postgres was killed by signal 9").

use crate::ids::ManagementServerId;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgPool};
use stratus_api::ApiError;
use tokio::sync::watch;

use crate::embedded_pg::PgStatus;

/// How often the watchdog pings, and how long a ping may take.
pub const PING_EVERY: Duration = Duration::from_millis(500);
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the `database` background task records a pass.
const RECORD_EVERY: Duration = Duration::from_secs(10);

pub use crate::error::UNAVAILABLE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Up,
    Down { reason: String, since: Instant },
}

/// The database's reachability as last seen; cheap to clone and to consult.
#[derive(Debug, Clone)]
pub struct DbStatus {
    tx: Arc<watch::Sender<State>>,
}

impl Default for DbStatus {
    fn default() -> Self {
        Self::new()
    }
}

impl DbStatus {
    /// Starts Up (the server only serves once it has migrated the database).
    pub fn new() -> Self {
        DbStatus {
            tx: Arc::new(watch::Sender::new(State::Up)),
        }
    }

    pub fn is_up(&self) -> bool {
        matches!(*self.tx.borrow(), State::Up)
    }

    /// Why it is down and for how long ("for 2.1 s: connection refused"), or `None`.
    pub fn down_reason(&self) -> Option<String> {
        match &*self.tx.borrow() {
            State::Up => None,
            State::Down { reason, since } => Some(format!(
                "unreachable for {:.1} s: {reason}",
                since.elapsed().as_secs_f32()
            )),
        }
    }

    /// Marks it down (keeping the first `since` of an outage); answers whether it was up.
    pub fn set_down(&self, reason: impl Into<String>) -> bool {
        let reason = reason.into();
        let mut was_up = false;
        self.tx.send_modify(|s| match s {
            State::Up => {
                was_up = true;
                *s = State::Down {
                    reason,
                    since: Instant::now(),
                }
            }
            State::Down { reason: r, .. } => *r = reason,
        });
        was_up
    }

    /// Marks it up; answers how long it was down, if it was.
    pub fn set_up(&self) -> Option<(Duration, String)> {
        let old = self.tx.send_replace(State::Up);
        match old {
            State::Up => None,
            State::Down { reason, since } => Some((since.elapsed(), reason)),
        }
    }

    /// Resolves when the database is (or goes) down.
    pub async fn went_down(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|s| !matches!(s, State::Up)).await;
    }

    /// The error API calls get while the database is down: a 530, as CloudStack answers
    /// when it cannot reach its database.
    pub fn unavailable() -> ApiError {
        crate::error::unavailable()
    }

    /// Runs `work` unless the database is down; cuts it short if the database goes down
    /// meanwhile (dropping it rolls back any transaction it had open).
    pub async fn guard<T>(&self, work: impl Future<Output = T>) -> Result<T, ApiError> {
        if !self.is_up() {
            return Err(Self::unavailable());
        }
        tokio::select! {
            r = work => Ok(r),
            _ = self.went_down() => Err(Self::unavailable()),
        }
    }
}

/// One ping over the watchdog's own connection, opened if needed; answers why it failed.
async fn ping(
    conn: &mut Option<sqlx::PgConnection>,
    opts: &PgConnectOptions,
) -> Result<(), String> {
    let attempt = async {
        if conn.is_none() {
            *conn = Some(opts.connect().await?);
        }
        conn.as_mut().expect("just connected").ping().await
    };
    match tokio::time::timeout(PING_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            *conn = None;
            Err(match e {
                sqlx::Error::Io(io) => io.to_string(),
                sqlx::Error::Database(db) => db.message().to_string(),
                other => other.to_string(),
            })
        }
        Err(_) => {
            *conn = None;
            Err(format!(
                "it did not answer within {} s",
                PING_TIMEOUT.as_secs_f32()
            ))
        }
    }
}

/// What the watchdog needs besides the status it maintains.
#[derive(Debug)]
pub struct Watchdog {
    pub status: DbStatus,
    /// How to reach the database (the watchdog opens a connection of its own).
    pub options: PgConnectOptions,
    /// The embedded Postgres's supervisor, when it is ours.
    pub embedded: Option<watch::Receiver<PgStatus>>,
    /// For recording the `database` background task.
    pub pool: PgPool,
    pub ms_id: ManagementServerId,
}

/// Pings until `stop` turns true, keeping `status` true to what it sees.
pub async fn run(w: Watchdog, mut stop: watch::Receiver<bool>) {
    let options = w.options.clone().disable_statement_logging();
    let mut conn = None;
    let mut embedded = w.embedded;
    let mut last_record = Instant::now() - RECORD_EVERY;
    let mut outage: Option<String> = None;
    loop {
        let embedded_now = embedded.as_ref().map(|rx| rx.borrow().clone());
        let result = match &embedded_now {
            // The supervisor knows better than a ping: say what happened.
            Some(s @ PgStatus::Exited { .. }) => Err(s.to_string()),
            _ => ping(&mut conn, &options).await,
        };
        match result {
            Ok(()) => {
                if let Some((down_for, reason)) = w.status.set_up() {
                    tracing::info!(
                        down_secs = down_for.as_secs_f32(),
                        "the database is reachable again"
                    );
                    outage = Some(format!(
                        "the database was unavailable for {:.1} s: {reason}",
                        down_for.as_secs_f32()
                    ));
                }
                if let Some(text) = outage.take() {
                    record(&w.pool, w.ms_id, Err(&text)).await;
                    last_record = Instant::now();
                } else if last_record.elapsed() >= RECORD_EVERY {
                    let detail = match &embedded_now {
                        Some(s) => format!("reachable; the embedded Postgres is {s}"),
                        None => "reachable".to_string(),
                    };
                    record(&w.pool, w.ms_id, Ok(&detail)).await;
                    last_record = Instant::now();
                }
            }
            Err(reason) => {
                if w.status.set_down(reason.clone()) {
                    tracing::warn!(%reason, "the database is unavailable; API calls fail fast until it is back");
                }
            }
        }
        let embedded_changed = async {
            match embedded.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(PING_EVERY) => {}
            _ = embedded_changed => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

async fn record(pool: &PgPool, ms_id: ManagementServerId, outcome: Result<&str, &str>) {
    let pass = crate::db::tasks::TaskPass {
        ms_id,
        name: "database",
        interval_secs: RECORD_EVERY.as_secs() as i32,
        duration_ms: 0,
        outcome,
    };
    let write = crate::db::tasks::task_record(pool, &pass);
    match tokio::time::timeout(PING_TIMEOUT, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "recording the database task failed"),
        Err(_) => tracing::debug!("recording the database task timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn guard_fails_fast_while_down_and_cuts_work_in_flight() {
        let s = DbStatus::new();
        assert_eq!(s.guard(async { 1 }).await.unwrap(), 1);
        // In flight when the database goes down: cut at once, not after the work's 10 s.
        let s2 = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            s2.set_down("connection refused");
        });
        let t = Instant::now();
        let e = s
            .guard(tokio::time::sleep(Duration::from_secs(10)))
            .await
            .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!(e.code.http_status(), 530);
        assert!(e.text.contains("database is unavailable"), "{}", e.text);
        // While down: refused without running the work.
        let t = Instant::now();
        assert!(s.guard(async { 1 }).await.is_err());
        assert!(t.elapsed() < Duration::from_millis(100));
        assert!(s.down_reason().unwrap().contains("connection refused"));
        // Back up: works again.
        assert!(s.set_up().is_some());
        assert_eq!(s.guard(async { 2 }).await.unwrap(), 2);
        assert!(s.down_reason().is_none());
    }
}
