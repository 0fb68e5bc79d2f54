//! A private PostgreSQL cluster for the embedded default and for tests.
//!
//! The cluster lives in `<dir>/pgdata` and listens only on a Unix socket in `<dir>/run`
//! (mode 0700), so only its owner and root can connect: no port to collide with, nothing
//! reachable from the network. Postgres refuses to run as root, so when we are root it runs
//! as the `postgres` user (or `nobody`). The postmaster is spawned from a dedicated thread
//! with a parent-death signal, so it dies with us even if we are killed with SIGKILL; a
//! normal stop sends SIGINT (fast shutdown) to its PID and waits. It runs in a process
//! group of its own, so a terminal's Ctrl-C reaches the server, not Postgres directly.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::Connection;

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct EmbeddedPostgres {
    dir: PathBuf,
    pid: i32,
    exited: mpsc::Receiver<()>,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Turn off fsync: for throwaway test clusters only.
    pub unsafe_fast: bool,
}

fn bin_dir() -> Result<PathBuf> {
    if let Ok(d) = std::env::var("STRATUS_PG_BINDIR") {
        return Ok(PathBuf::from(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| Error::internal("PostgreSQL is not installed (no /usr/lib/postgresql); install the postgresql package or set DATABASE_URL"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).ok_or_else(|| {
        Error::internal("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    })
}

/// The unprivileged account Postgres runs as when we are root.
fn run_as() -> Option<(u32, u32)> {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return None;
    }
    for name in ["postgres", "nobody"] {
        let out = Command::new("id").args(["-u", name]).output().ok()?;
        let gout = Command::new("id").args(["-g", name]).output().ok()?;
        if out.status.success() && gout.status.success() {
            let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
            let gid = String::from_utf8_lossy(&gout.stdout).trim().parse().ok()?;
            return Some((uid, gid));
        }
    }
    None
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    Ok(())
}

fn command(bin: PathBuf, owner: Option<(u32, u32)>) -> Command {
    let mut c = Command::new(bin);
    if let Some((uid, gid)) = owner {
        c.uid(uid).gid(gid);
    }
    c
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, starts it, and waits until it accepts
    /// connections. Fails clearly if another postmaster already runs on this directory.
    pub async fn start(dir: &Path, opts: Options) -> Result<EmbeddedPostgres> {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let bin = bin_dir()?;
        let owner = run_as();
        let pgdata = dir.join("pgdata");
        let run = dir.join("run");
        std::fs::create_dir_all(&run)?;
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700))?;
        chown(&run, owner)?;

        if !pgdata.join("PG_VERSION").exists() {
            std::fs::create_dir_all(&pgdata)?;
            std::fs::set_permissions(&pgdata, std::fs::Permissions::from_mode(0o700))?;
            chown(&pgdata, owner)?;
            let out = command(bin.join("initdb"), owner)
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
                .output()?;
            if !out.status.success() {
                return Err(Error::internal(format!(
                    "initdb failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }

        wait_for_previous_postmaster(&pgdata).await;
        let mut cmd = command(bin.join("postgres"), owner);
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
            .stderr(std::fs::File::create(dir.join("postgres.log")).map(Stdio::from)?);
        // Its own process group: a Ctrl-C in the terminal signals the whole foreground
        // group, and Postgres must outlive the server's own shutdown, then be stopped by us.
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

        // Spawn from a thread that lives exactly as long as the postmaster: the parent-death
        // signal fires when the spawning *thread* exits, so it must not be a pool thread.
        let (pid_tx, pid_rx) = mpsc::channel::<std::io::Result<i32>>();
        let (exit_tx, exit_rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("postgres-supervisor".into())
            .spawn(move || match cmd.spawn() {
                Ok(mut child) => {
                    let _ = pid_tx.send(Ok(child.id() as i32));
                    let _ = child.wait();
                    let _ = exit_tx.send(());
                }
                Err(e) => {
                    let _ = pid_tx.send(Err(e));
                }
            })?;
        let pid = pid_rx
            .recv()
            .map_err(|_| Error::internal("postgres supervisor thread died"))??;
        let pg = EmbeddedPostgres {
            dir: dir.clone(),
            pid,
            exited: exit_rx,
        };

        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if pg.exited.try_recv().is_ok() {
                let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(Error::internal(format!(
                    "postgres exited at start (see {}): {}",
                    dir.join("postgres.log").display(),
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
                return Err(Error::internal(
                    "postgres did not accept connections within 60 s",
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(pg)
    }

    pub fn pid(&self) -> i32 {
        self.pid
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

    /// Creates `database` unless it exists.
    pub async fn ensure_database(&self, database: &str) -> Result<()> {
        use sqlx::Executor;
        let mut c = sqlx::postgres::PgConnection::connect_with(&self.options("postgres")).await?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(database)
                .fetch_optional(&mut c)
                .await?;
        if exists.is_none() {
            c.execute(format!("CREATE DATABASE \"{}\"", database.replace('"', "")).as_str())
                .await?;
        }
        Ok(())
    }

    /// Fast shutdown by PID, then wait for the postmaster to exit.
    pub fn stop(&self) {
        crate::process::signal(self.pid, libc::SIGINT);
        if self.exited.recv_timeout(Duration::from_secs(30)).is_err() {
            crate::process::signal(self.pid, libc::SIGQUIT);
            let _ = self.exited.recv_timeout(Duration::from_secs(10));
        }
    }
}

/// A postmaster of a previous run may still be shutting down (its server was killed and
/// the parent-death signal asked it to stop): give it up to 30 s to finish, so a quick
/// restart does not fail with "the database system is shutting down".
async fn wait_for_previous_postmaster(pgdata: &Path) {
    let pid = std::fs::read_to_string(pgdata.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
    let Some(pid) = pid else { return };
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .map(|c| c.contains("postgres"))
            .unwrap_or(false)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    if alive() {
        tracing::info!(
            pid,
            "waiting for the previous Postgres to finish shutting down"
        );
    }
    while alive() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
