//! Child processes the management server supervises (the embedded Postgres, the local
//! agent): signalling them by PID, and making sure they die with us. And this process's
//! own limit on open files, which a fleet of agents reaches.

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

/// Raises this process's soft limit on open files to `want`, or to its hard limit when
/// `want` is `None` or above it and the hard limit cannot be raised (only a privileged
/// process can). Answers the soft limit before and after. A server with thousands of
/// agents holds a socket per keep-alive connection; Debian's default soft limit is 1,024
/// while the hard limit is usually far higher, and the kernel never raises it for us.
#[allow(unsafe_code)]
pub fn raise_open_files_limit(want: Option<u64>) -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    let target = want.unwrap_or(lim.rlim_max).max(before);
    if target > lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: target,
        };
        // SAFETY: setrlimit reads only the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok((before, target));
        }
    }
    let soft = target.min(lim.rlim_max);
    if soft > before {
        let raised = libc::rlimit {
            rlim_cur: soft,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // `target` is at least `before` and the hard limit is too, so `soft` never lowers it.
    Ok((before, soft))
}

#[cfg(test)]
mod tests {
    #[test]
    #[allow(unsafe_code)]
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        let get = || {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
            lim
        };
        let hard = get().rlim_max;
        // Start from Debian's default soft limit, as a server started by hand does.
        let low = libc::rlimit {
            rlim_cur: 1024.min(hard),
            rlim_max: hard,
        };
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        let (before, after) = super::raise_open_files_limit(None).unwrap();
        assert_eq!((before, after), (1024.min(hard), hard));
        assert_eq!(get().rlim_cur, hard);
        // Asking for less than there is lowers nothing.
        assert_eq!(
            super::raise_open_files_limit(Some(10)).unwrap(),
            (hard, hard)
        );
    }
}
