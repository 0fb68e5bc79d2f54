//! Child processes the management server supervises (the embedded Postgres, the local
//! agent): signalling them by PID, and making sure they die with us.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Sends `sig` to a positive PID we spawned.
pub fn signal(pid: i32, sig: i32) {
    if pid > 0 {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on a positive PID we spawned and still supervise.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// The child gets `sig` when the thread that spawned it exits (so spawn from a thread
/// that lives exactly as long as the child, never from a pool thread).
#[allow(unsafe_code)]
pub fn set_parent_death_signal(cmd: &mut Command, sig: i32) {
    // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
    // async-signal-safe. It runs after any uid switch, which would otherwise clear it.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Blocks until the child `pid` has exited, without reaping it: until the caller reaps
/// it (e.g. with `Child::wait`), the PID stays a zombie that no new process can take, so
/// whoever checks under a lock that it is not reaped yet may still signal it safely.
pub fn wait_exit_unreaped(pid: i32) -> std::io::Result<()> {
    loop {
        #[allow(unsafe_code)]
        // SAFETY: waitid(2) with WNOWAIT only observes our own child; `info` is a valid,
        // zeroed siginfo_t it writes into.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Whether `pid` is alive, from /proc (a zombie counts as gone). `None` if /proc does not
/// tell (hidden by `hidepid`, or no /proc).
pub fn alive(pid: i32) -> Option<bool> {
    if pid <= 0 {
        return Some(false);
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: "123 (postgres) S ...".
        Ok(stat) => Some(
            stat.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
                .unwrap_or(true),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}
