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
