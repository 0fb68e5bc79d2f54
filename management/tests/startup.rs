//! Start-up problems are one line that names the path or port and what to do; the ones
//! that are safe to fix (a stale lock file) are fixed.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use stratus_management::embedded_pg::{EmbeddedPostgres, Options};

fn opts() -> Options {
    Options {
        unsafe_fast: true,
        ..Default::default()
    }
}

/// Runs the server binary with `args` and a private data dir; answers (status, stderr).
fn run_server(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stratus-management"));
    c.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("STRATUS_DATA_DIR")
        .env_remove("STRATUS_LISTEN")
        .env_remove("STRATUS_PG_BINDIR")
        .env("RUST_LOG", "error");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("running stratus-management");
    (out.status, String::from_utf8_lossy(&out.stderr).to_string())
}

fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, not: {stderr}");
    lines[0]
}

#[test]
fn a_listen_port_in_use_is_named_before_anything_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (status, err) = run_server(
        &[
            "--listen",
            &addr,
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!status.success());
    let line = one_line(&err);
    assert!(line.contains(&addr) && line.contains("in use"), "{line}");
    assert!(line.contains("--listen"), "says what to do: {line}");
    // Refused before the embedded Postgres was even created.
    assert!(!data.path().join("postgres").exists());
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_data_dir_that_cannot_be_created_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let dir = file.join("stratus");
    let (status, err) = run_server(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!status.success());
    let line = one_line(&err);
    assert!(line.contains(dir.to_str().unwrap()), "{line}");
    assert!(line.contains("--data-dir"), "{line}");
}

#[test]
fn missing_postgres_binaries_are_named() {
    let empty = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (status, err) = run_server(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        &[("STRATUS_PG_BINDIR", empty.path().to_str().unwrap())],
    );
    assert!(!status.success());
    let line = one_line(&err);
    assert!(line.contains(empty.path().to_str().unwrap()), "{line}");
    assert!(line.contains("apt-get install postgresql"), "{line}");
    assert!(line.contains("DATABASE_URL"), "{line}");
}

#[tokio::test]
async fn a_data_dir_the_postgres_user_cannot_enter_is_named_with_the_fix() {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: Postgres only runs as another user when we are root");
        return;
    }
    // As `mktemp -d` makes it: 0700, owned by root.
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let e = EmbeddedPostgres::start(&closed.path().join("data/postgres"), opts())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&closed.path().display().to_string()), "{e}");
    assert!(
        e.contains(&format!("chmod o+x {}", closed.path().display())),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

/// Postgres's uid when we are root (it runs as `postgres`), else ours.
fn postgres_uid() -> Option<(u32, u32)> {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |f: &str| {
        let o = Command::new("id").args([f, "postgres"]).output().unwrap();
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    Some((id("-u"), id("-g")))
}

#[tokio::test]
async fn a_stale_postmaster_pid_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let pg = EmbeddedPostgres::start(dir.path(), opts()).await.unwrap();
    pg.stop();
    let lock = dir.path().join("pgdata/postmaster.pid");
    assert!(!lock.exists());

    // The PID in the lock file now belongs to a live process that is not Postgres (as
    // after a reboot or in a container), of the user Postgres runs as: Postgres itself
    // would refuse to start ("lock file already exists").
    let mut sleeper = Command::new("sleep");
    sleeper.arg("60");
    if let Some((uid, gid)) = postgres_uid() {
        sleeper.uid(uid).gid(gid);
    }
    let mut sleeper = sleeper.spawn().unwrap();
    std::fs::write(
        &lock,
        format!(
            "{}\n{}\n",
            sleeper.id(),
            dir.path().join("pgdata").display()
        ),
    )
    .unwrap();
    let started = EmbeddedPostgres::start(dir.path(), opts()).await;
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let pg = started.expect("starts over a stale postmaster.pid");
    pg.stop();

    // A PID that is gone altogether.
    std::fs::write(&lock, "999999\n").unwrap();
    let pg = EmbeddedPostgres::start(dir.path(), opts()).await.unwrap();
    pg.stop();
}

#[tokio::test]
async fn another_postgres_on_the_data_dir_is_named_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pg = EmbeddedPostgres::start(dir.path(), opts()).await.unwrap();
    let t = Instant::now();
    let e = EmbeddedPostgres::start(dir.path(), opts())
        .await
        .unwrap_err()
        .to_string();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(e.contains(&format!("PID {}", pg.pid())), "{e}");
    assert!(e.contains("--data-dir"), "{e}");
    // The first one is untouched.
    assert!(pg.signal(0));
    pg.stop();
}
