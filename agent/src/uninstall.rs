//! Removing an installed agent when its host is deleted from the cloud: exactly what
//! `addHost` installed (`stratus_api::agent::layout`), nothing else. What the agent made
//! on the host goes first (`main`): its guest networks (`Networks::remove_all`) and its
//! security-group tables (`Firewall::remove_all`).

use std::path::Path;

use stratus_api::agent::layout;

/// Removes the configuration, the TLS credentials and, when this binary is the installed
/// one, the agent's directory; a systemd unit is disabled and removed by a detached helper
/// (it stops us).
pub fn remove_installation(config: Option<&Path>, tls_files: &[std::path::PathBuf]) {
    for c in config
        .into_iter()
        .chain(tls_files.iter().map(|p| p.as_path()))
    {
        if let Err(e) = std::fs::remove_file(c) {
            tracing::warn!(path = %c.display(), error = %e, "removing an installed file");
        }
    }
    let installed = std::env::current_exe()
        .map(|p| p.starts_with(layout::DIR))
        .unwrap_or(false);
    if installed {
        if let Err(e) = std::fs::remove_dir_all(layout::DIR) {
            tracing::warn!(error = %e, "removing {}", layout::DIR);
        }
    }
    if Path::new("/run/systemd/system").exists() && Path::new(layout::SYSTEMD_UNIT).exists() {
        let script = format!(
            "sleep 1; systemctl disable --now stratus-agent; rm -f {}; systemctl daemon-reload",
            layout::SYSTEMD_UNIT
        );
        let _ = std::process::Command::new("setsid")
            .args(["sh", "-c", &script])
            .spawn();
    }
    tracing::info!("agent removed");
}
