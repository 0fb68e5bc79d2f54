//! A private PostgreSQL cluster for the embedded default and for tests.
//!
//! The cluster lives in `<dir>/pgdata` and listens only on a Unix socket in `<dir>/run`
//! (mode 0700), so only its owner and root can connect: no TCP port to collide with,
//! nothing reachable from the network. Postgres refuses to run as root, so when we are
//! root it runs as the `postgres` user (or `nobody`).
//!
//! **Supervision.** The postmaster is spawned from a dedicated thread with a parent-death
//! signal, so it dies with us even if we are killed with SIGKILL. That thread waits for it
//! and, if it exits without being asked to (killed, out of memory, a crash), starts it
//! again after a backoff (1 s doubling to 30 s, back to 1 s once it ran for a minute),
//! logging why; `status()` publishes what happened for `/healthz` and the admin (see
//! `dbstatus`). It runs in a process group of its own, so a terminal's Ctrl-C reaches the
//! server, not Postgres directly.
//!
//! **Signals reach only our own process.** The thread observes the exit with
//! `waitid(WNOWAIT)` and forgets the PID under a lock *before* reaping it, and `stop` and
//! `signal` signal under that lock only a PID that is still set: until it is reaped, a
//! PID cannot be given to another process, so we never signal a reused PID.
//!
//! **Start-up problems are named**, with what to do: missing binaries, a data directory
//! the `postgres` user cannot reach, another Postgres on the same data directory. Stale
//! lock files (`postmaster.pid`, the socket's `.lock`) whose process is gone, or whose
//! PID now belongs to a process that is not Postgres, are removed, since Postgres would
//! refuse to start over a PID that is alive.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection;
use tokio::sync::watch;

use crate::error::{Error, Result};

/// What the supervisor knows about the postmaster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgStatus {
    /// Spawned (it may still be starting up or recovering). `restarts` counts the
    /// unexpected exits so far.
    Running { pid: i32, restarts: u32 },
    /// It exited without being asked to; it is started again after `retry_in`.
    Exited {
        reason: String,
        restarts: u32,
        retry_in: Duration,
    },
    /// Stopped by `stop`.
    Stopped,
}

impl std::fmt::Display for PgStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PgStatus::Running { pid, restarts: 0 } => write!(f, "running (PID {pid})"),
            PgStatus::Running { pid, restarts } => {
                write!(f, "running (PID {pid}, restarted {restarts} times)")
            }
            PgStatus::Exited {
                reason, retry_in, ..
            } => write!(
                f,
                "the embedded Postgres {reason}; restarting it in {} s",
                retry_in.as_secs_f32()
            ),
            PgStatus::Stopped => f.write_str("stopped"),
        }
    }
}

#[derive(Debug)]
pub struct EmbeddedPostgres {
    dir: PathBuf,
    shared: Arc<Shared>,
    status: watch::Receiver<PgStatus>,
}

#[derive(Debug, Default)]
struct Slot {
    /// The postmaster's PID while it has not been reaped (so the PID is still ours).
    pid: Option<i32>,
    /// `stop` was called: do not restart.
    stopping: bool,
    /// The supervisor thread is done.
    stopped: bool,
}

#[derive(Debug, Default)]
struct Shared {
    slot: Mutex<Slot>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signals the postmaster if it is still ours (spawned and not reaped).
    fn signal(&self, sig: i32) -> bool {
        let slot = self.lock();
        match slot.pid {
            Some(pid) => {
                crate::process::signal(pid, sig);
                true
            }
            None => false,
        }
    }

    /// Waits up to `d` for the supervisor thread to finish.
    fn wait_stopped(&self, d: Duration) -> bool {
        let slot = self.lock();
        let (slot, _) = self
            .cond
            .wait_timeout_while(slot, d, |s| !s.stopped)
            .unwrap_or_else(|p| p.into_inner());
        slot.stopped
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Turn off fsync: for throwaway test clusters only.
    pub unsafe_fast: bool,
    /// Where `initdb` and `postgres` are (default: `STRATUS_PG_BINDIR`, else the newest
    /// `/usr/lib/postgresql/*/bin`).
    pub bin_dir: Option<PathBuf>,
}

/// The backoff before the first restart; it doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A postmaster that ran this long resets the backoff.
const STABLE: Duration = Duration::from_secs(60);

fn io_at(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let msg = format!("{what} {}", path.display());
    move |e| Error::internal(format!("{msg}: {e}"))
}

const NO_POSTGRES: &str = "install the PostgreSQL server (apt-get install postgresql), point STRATUS_PG_BINDIR at the directory holding initdb and postgres, or set DATABASE_URL to use another Postgres";

fn bin_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let explicit = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("STRATUS_PG_BINDIR").map(PathBuf::from));
    if let Some(d) = explicit {
        for b in ["initdb", "postgres"] {
            if !d.join(b).is_file() {
                return Err(Error::internal(format!(
                    "the PostgreSQL server program {} is missing: {NO_POSTGRES}",
                    d.join(b).display()
                )));
            }
        }
        return Ok(d);
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map_err(|_| {
            Error::internal(format!(
                "PostgreSQL is not installed (no {}): {NO_POSTGRES}",
                root.display()
            ))
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).ok_or_else(|| {
        Error::internal(format!(
            "no PostgreSQL server programs (initdb, postgres) under {}/*/bin: {NO_POSTGRES}",
            root.display()
        ))
    })
}

/// The unprivileged account Postgres runs as when we are root.
#[derive(Debug, Clone)]
struct Owner {
    name: &'static str,
    uid: u32,
    gid: u32,
    /// Its primary and supplementary groups.
    groups: Vec<u32>,
}

fn run_as() -> Option<Owner> {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return None;
    }
    let id = |flag: &str, name: &str| -> Option<String> {
        let out = Command::new("id").args([flag, name]).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    for name in ["postgres", "nobody"] {
        let (Some(uid), Some(gid)) = (id("-u", name), id("-g", name)) else {
            continue;
        };
        let (Ok(uid), Ok(gid)) = (uid.parse(), gid.parse()) else {
            continue;
        };
        let groups = id("-G", name)
            .map(|g| {
                g.split_whitespace()
                    .filter_map(|g| g.parse().ok())
                    .collect()
            })
            .unwrap_or_else(|| vec![gid]);
        return Some(Owner {
            name,
            uid,
            gid,
            groups,
        });
    }
    None
}

/// The first existing directory on the way to (and including) `path` that a process of
/// `uid` with `groups` may not enter (no search permission by its mode bits), with its
/// mode and owner.
pub fn first_closed_dir(path: &Path, uid: u32, groups: &[u32]) -> Option<(PathBuf, u32, u32)> {
    if uid == 0 {
        return None;
    }
    let mut cur = PathBuf::new();
    for c in path.components() {
        cur.push(c);
        let Ok(md) = std::fs::metadata(&cur) else {
            break;
        };
        if !md.is_dir() {
            break;
        }
        let bit = if md.uid() == uid {
            0o100
        } else if groups.contains(&md.gid()) {
            0o010
        } else {
            0o001
        };
        if md.mode() & bit == 0 {
            return Some((cur, md.mode() & 0o7777, md.uid()));
        }
    }
    None
}

fn chown(path: &Path, owner: Option<&Owner>) -> Result<()> {
    if let Some(o) = owner {
        std::os::unix::fs::chown(path, Some(o.uid), Some(o.gid))
            .map_err(io_at("cannot hand over to the postgres user", path))?;
    }
    Ok(())
}

fn command(bin: PathBuf, owner: Option<&Owner>) -> Command {
    let mut c = Command::new(bin);
    if let Some(o) = owner {
        c.uid(o.uid).gid(o.gid);
    }
    c
}

/// Who holds a Postgres lock file (`postmaster.pid`, `.s.PGSQL.<port>.lock`), whose
/// first line is the postmaster's PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockHolder {
    /// No lock file, or not one we can read.
    Nobody,
    /// Its PID is gone, or now belongs to a process that is not Postgres.
    Stale(i32),
    /// A Postgres process (or one /proc does not let us check) has that PID.
    Live(i32),
}

fn lock_holder(file: &Path) -> LockHolder {
    let pid = std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
    let Some(pid) = pid else {
        return LockHolder::Nobody;
    };
    match crate::process::alive(pid) {
        Some(false) => LockHolder::Stale(pid),
        None => LockHolder::Live(pid),
        Some(true) => {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if matches!(comm.trim(), "postgres" | "postmaster") || comm.is_empty() {
                LockHolder::Live(pid)
            } else {
                LockHolder::Stale(pid)
            }
        }
    }
}

/// Removes stale lock files in the cluster's directories; answers the PID of a live
/// postmaster that holds this data directory, if any.
fn clear_stale_locks(pgdata: &Path, run: &Path) -> Option<i32> {
    let mut live = None;
    let socket_locks = std::fs::read_dir(run)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".s.PGSQL.") && n.ends_with(".lock"))
        });
    for file in std::iter::once(pgdata.join("postmaster.pid")).chain(socket_locks) {
        match lock_holder(&file) {
            LockHolder::Nobody => {}
            LockHolder::Live(pid) => live = live.or(Some(pid)),
            LockHolder::Stale(pid) => {
                tracing::info!(file = %file.display(), pid, "removing a stale Postgres lock file (its process is gone)");
                if let Err(e) = std::fs::remove_file(&file) {
                    tracing::warn!(file = %file.display(), error = %e, "could not remove a stale lock file");
                }
            }
        }
    }
    live
}

/// The parent PID of `pid` (from /proc).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn describe_exit(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exited with status {c}"),
            (_, Some(sig)) => format!("was killed by signal {sig}"),
            _ => format!("exited ({s})"),
        },
        Err(e) => format!("exited (waiting for it failed: {e})"),
    }
}

/// The postmaster's life: spawn, wait, and unless `stop` was called, start it again after
/// a backoff. Runs on a dedicated thread (the parent-death signal is tied to the thread
/// that spawned the child). `first` learns the first spawn's outcome.
fn supervise(
    make: impl Fn() -> std::io::Result<Command>,
    pgdata: PathBuf,
    run: PathBuf,
    shared: Arc<Shared>,
    status: watch::Sender<PgStatus>,
    first: mpsc::Sender<std::io::Result<i32>>,
) {
    let mut first = Some(first);
    let mut restarts = 0u32;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let reason = match make().and_then(|mut c| c.spawn()) {
            Err(e) => {
                if let Some(tx) = first.take() {
                    let _ = tx.send(Err(e));
                    let mut slot = shared.lock();
                    slot.stopped = true;
                    shared.cond.notify_all();
                    return;
                }
                format!("could not be started again: {e}")
            }
            Ok(mut child) => {
                let pid = child.id() as i32;
                {
                    let mut slot = shared.lock();
                    slot.pid = Some(pid);
                    if slot.stopping {
                        crate::process::signal(pid, libc::SIGINT);
                    }
                }
                status.send_replace(PgStatus::Running { pid, restarts });
                if let Some(tx) = first.take() {
                    let _ = tx.send(Ok(pid));
                }
                let started = Instant::now();
                let _ = crate::process::wait_exit_unreaped(pid);
                // From here the PID is no longer ours to signal.
                shared.lock().pid = None;
                let exit = child.wait();
                if started.elapsed() > STABLE {
                    backoff = FIRST_BACKOFF;
                }
                describe_exit(exit)
            }
        };
        let slot = shared.lock();
        if slot.stopping {
            drop(slot);
            break;
        }
        restarts += 1;
        tracing::error!(
            restarts,
            retry_in_secs = backoff.as_secs_f32(),
            "the embedded Postgres {reason}; restarting it"
        );
        status.send_replace(PgStatus::Exited {
            reason,
            restarts,
            retry_in: backoff,
        });
        let (slot, _) = shared
            .cond
            .wait_timeout_while(slot, backoff, |s| !s.stopping)
            .unwrap_or_else(|p| p.into_inner());
        if slot.stopping {
            drop(slot);
            break;
        }
        drop(slot);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        if let Some(pid) = clear_stale_locks(&pgdata, &run) {
            tracing::warn!(
                pid,
                "a Postgres process still holds the data directory; starting anyway"
            );
        }
    }
    status.send_replace(PgStatus::Stopped);
    let mut slot = shared.lock();
    slot.stopped = true;
    shared.cond.notify_all();
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, starts it under supervision, and waits until
    /// it accepts connections. Fails with a one-line reason that names the path and what
    /// to do if it cannot.
    pub async fn start(dir: &Path, opts: Options) -> Result<EmbeddedPostgres> {
        std::fs::create_dir_all(dir)
            .map_err(io_at("cannot create the embedded Postgres directory", dir))?;
        let dir = std::fs::canonicalize(dir)
            .map_err(io_at("cannot read the embedded Postgres directory", dir))?;
        let bin = bin_dir(opts.bin_dir.as_deref())?;
        let owner = run_as();
        let pgdata = dir.join("pgdata");
        let run = dir.join("run");
        if let Some(o) = &owner {
            if let Some((closed, mode, uid)) = first_closed_dir(&dir, o.uid, &o.groups) {
                return Err(Error::internal(format!(
                    "the embedded Postgres runs as user {} (uid {}), which cannot enter {} \
                     (mode {mode:04o}, owner uid {uid}) on the way to its data directory {}: \
                     allow it with `chmod o+x {}`, or choose a --data-dir it can reach \
                     (e.g. /var/lib/stratus)",
                    o.name,
                    o.uid,
                    closed.display(),
                    pgdata.display(),
                    closed.display()
                )));
            }
        }
        std::fs::create_dir_all(&run).map_err(io_at("cannot create", &run))?;
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700))
            .map_err(io_at("cannot set the mode of", &run))?;
        chown(&run, owner.as_ref())?;

        if !pgdata.join("PG_VERSION").exists() {
            std::fs::create_dir_all(&pgdata).map_err(io_at("cannot create", &pgdata))?;
            std::fs::set_permissions(&pgdata, std::fs::Permissions::from_mode(0o700))
                .map_err(io_at("cannot set the mode of", &pgdata))?;
            chown(&pgdata, owner.as_ref())?;
            let out = command(bin.join("initdb"), owner.as_ref())
                .arg("-D")
                .arg(&pgdata)
                .args([
                    "-U",
                    "stratus",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-instructions",
                ])
                .current_dir(&run)
                .output()
                .map_err(io_at("cannot run", &bin.join("initdb")))?;
            if !out.status.success() {
                return Err(Error::internal(format!(
                    "initdb failed in {}: {}",
                    pgdata.display(),
                    String::from_utf8_lossy(&out.stderr)
                        .trim()
                        .replace('\n', " | ")
                )));
            }
        }

        wait_for_previous_postmaster(&pgdata, &run, &dir).await?;

        let log = dir.join("postgres.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log)
            .map_err(io_at("cannot open the Postgres log", &log))?;
        chown(&log, owner.as_ref())?;
        let log_start = log_file.metadata().map(|m| m.len()).unwrap_or(0);
        let make = {
            let (pgdata, run, owner) = (pgdata.clone(), run.clone(), owner.clone());
            move || -> std::io::Result<Command> {
                let mut cmd = command(bin.join("postgres"), owner.as_ref());
                cmd.arg("-D")
                    .arg(&pgdata)
                    .arg("-k")
                    .arg(&run)
                    .args([
                        "-c",
                        "listen_addresses=",
                        "-c",
                        "unix_socket_permissions=0700",
                    ])
                    .args(["-c", "max_connections=200", "-c", "shared_buffers=64MB"])
                    .current_dir(&run)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::from(log_file.try_clone()?));
                // Its own process group: a Ctrl-C in the terminal signals the whole
                // foreground group, and Postgres must outlive the server's own shutdown,
                // then be stopped by us.
                cmd.process_group(0);
                if opts.unsafe_fast {
                    cmd.args([
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                    ]);
                }
                crate::process::set_parent_death_signal(&mut cmd, libc::SIGINT);
                Ok(cmd)
            }
        };

        let shared = Arc::new(Shared::default());
        let (status_tx, status_rx) = watch::channel(PgStatus::Stopped);
        let (first_tx, first_rx) = mpsc::channel();
        {
            let (pgdata, run, shared) = (pgdata.clone(), run.clone(), shared.clone());
            std::thread::Builder::new()
                .name("postgres-supervisor".into())
                .spawn(move || supervise(make, pgdata, run, shared, status_tx, first_tx))
                .map_err(|e| Error::internal(format!("cannot start a thread: {e}")))?;
        }
        first_rx
            .recv()
            .map_err(|_| Error::internal("the postgres supervisor thread died"))?
            .map_err(io_at("cannot run", &dir.join("postgres")))?;
        let pg = EmbeddedPostgres {
            dir: dir.clone(),
            shared,
            status: status_rx,
        };

        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let failed = !matches!(*pg.status.borrow(), PgStatus::Running { restarts: 0, .. });
            if failed {
                pg.stop();
                let text = std::fs::read(&log).unwrap_or_default();
                let text = String::from_utf8_lossy(&text[(log_start as usize).min(text.len())..])
                    .to_string();
                let tail: Vec<&str> = text.lines().rev().take(5).collect();
                return Err(Error::internal(format!(
                    "postgres exited at start (see {}): {}",
                    log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                )));
            }
            if let Ok(mut c) =
                sqlx::postgres::PgConnection::connect_with(&pg.options("postgres")).await
            {
                let _ = c.ping().await;
                break;
            }
            if Instant::now() > deadline {
                pg.stop();
                return Err(Error::internal(format!(
                    "postgres did not accept connections within 60 s (see {})",
                    log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(pg)
    }

    /// The postmaster's PID now (0 while it is not running).
    pub fn pid(&self) -> i32 {
        self.shared.lock().pid.unwrap_or(0)
    }

    /// What the supervisor knows: running, exited and about to be restarted, stopped.
    pub fn status(&self) -> watch::Receiver<PgStatus> {
        self.status.clone()
    }

    /// Sends `sig` to the postmaster if it runs (it is never sent to a PID that is no
    /// longer ours). Answers whether it was sent.
    pub fn signal(&self, sig: i32) -> bool {
        self.shared.signal(sig)
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    pub fn options(&self, database: &str) -> sqlx::postgres::PgConnectOptions {
        sqlx::postgres::PgConnectOptions::new()
            .socket(self.socket_dir())
            .username("stratus")
            .database(database)
    }

    /// A connection URL for `database` (sqlx and psql understand the `host=` socket form).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://stratus@localhost/{database}?host={}",
            self.socket_dir().display()
        )
    }

    /// Stops supervising and shuts the postmaster down: a fast shutdown (SIGINT), then
    /// an immediate one (SIGQUIT) after 15 s, then SIGKILL after 5 s more. Returns at
    /// once if it is not running (e.g. waiting to be restarted).
    pub fn stop(&self) {
        self.stop_within(Duration::from_secs(15))
    }

    /// `stop` with `grace` before the immediate shutdown: a short one when the database
    /// does not answer anyway (a hung postmaster would only make us wait).
    pub fn stop_within(&self, grace: Duration) {
        {
            let mut slot = self.shared.lock();
            slot.stopping = true;
            if let Some(pid) = slot.pid {
                crate::process::signal(pid, libc::SIGINT);
            }
            self.shared.cond.notify_all();
        }
        if self.shared.wait_stopped(grace) {
            return;
        }
        self.shared.signal(libc::SIGQUIT);
        if self.shared.wait_stopped(Duration::from_secs(5)) {
            return;
        }
        self.shared.signal(libc::SIGKILL);
        self.shared.wait_stopped(Duration::from_secs(5));
    }
}

/// Before starting: stale lock files are removed; a postmaster of a previous run that is
/// still shutting down (its server was killed and the parent-death signal asked it to
/// stop) gets up to 30 s to finish, so a quick restart does not fail with "the database
/// system is shutting down"; a postmaster another live process runs is an error naming
/// both.
async fn wait_for_previous_postmaster(pgdata: &Path, run: &Path, dir: &Path) -> Result<()> {
    let Some(pid) = clear_stale_locks(pgdata, run) else {
        return Ok(());
    };
    let parent = parent_of(pid).filter(|p| *p > 1 && crate::process::alive(*p) == Some(true));
    if let Some(parent) = parent {
        let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).unwrap_or_default();
        return Err(Error::internal(format!(
            "another Postgres (PID {pid}, started by PID {parent} {}) already runs on {}: \
             another stratus-management uses the data directory {}; stop it, or choose \
             another --data-dir",
            comm.trim(),
            pgdata.display(),
            dir.parent().unwrap_or(dir).display()
        )));
    }
    tracing::info!(
        pid,
        "waiting for the previous Postgres to finish shutting down"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if clear_stale_locks(pgdata, run).is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::internal(format!(
        "the previous Postgres (PID {pid}) on {} did not stop within 30 s: stop it \
         (kill -INT {pid}) and start again",
        pgdata.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_directory_another_user_cannot_enter_is_found() {
        let top = tempfile::tempdir().unwrap();
        let open = top.path().join("open");
        let closed = open.join("closed");
        let inner = closed.join("inner");
        std::fs::create_dir_all(&inner).unwrap();
        for d in [top.path(), &open, &inner] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        // A stranger (neither owner nor in the group) stops at `closed`.
        let stranger = 4_000_000;
        let (dir, mode, _) = first_closed_dir(&inner.join("pgdata"), stranger, &[]).unwrap();
        assert_eq!((dir, mode), (closed.clone(), 0o700));
        // Group search permission is enough for a member of the group.
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o710)).unwrap();
        let gid = std::fs::metadata(&closed).unwrap().gid();
        assert!(first_closed_dir(&inner, stranger, &[gid]).is_none());
        assert!(first_closed_dir(&inner, stranger, &[]).is_some());
        // The owner may enter its own directory.
        let owner = std::fs::metadata(&closed).unwrap().uid();
        if owner != 0 {
            assert!(first_closed_dir(&inner, owner, &[]).is_none());
        }
    }

    #[test]
    fn a_lock_file_of_a_process_that_is_not_postgres_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("postmaster.pid");
        assert_eq!(lock_holder(&lock), LockHolder::Nobody);
        std::fs::write(&lock, "999999999\n").unwrap();
        assert_eq!(lock_holder(&lock), LockHolder::Stale(999999999));
        // Our own PID: a live process, but not Postgres.
        let me = std::process::id() as i32;
        std::fs::write(&lock, format!("{me}\n/some/pgdata\n")).unwrap();
        assert_eq!(lock_holder(&lock), LockHolder::Stale(me));
    }
}
