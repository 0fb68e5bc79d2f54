//! `addHost` for KVM: bring a machine into the cloud over SSH, as CloudStack does, in
//! named steps. A failure names its step and what to fix; once the host is registered,
//! any later failure undoes everything (agent stopped, files removed, host record
//! deleted), so nothing is left half-registered.
//!
//! On the host everything lives in two directories — `/var/lib/stratus-agent` (binary,
//! log, pid file) and `/etc/stratus` (configuration) — so removal is complete and the
//! test bed can give each simulated host its own copy of both with bind mounts.

use std::net::{IpAddr, SocketAddr};

use stratus_api::ApiError;

use crate::clients::ssh::{shell_quote, Ssh};
use crate::ctx::Ctx;
use crate::db::{self, accounts::UserRow, hosts::HostRow};
use crate::error::{Error, Result};
use crate::ids::{ClusterId, PodId, ZoneId};
use crate::settings;

use stratus_api::agent::layout::{
    BIN as AGENT_BIN, CA_CERT, CONFIG as AGENT_CONFIG, DIR as AGENT_DIR, LOG as AGENT_LOG,
    PID as AGENT_PID, TLS_CERT, TLS_KEY,
};

/// What `addHost` needs.
#[derive(Debug, Clone)]
pub struct AddHost {
    pub zone_id: ZoneId,
    pub pod_id: PodId,
    pub cluster_id: ClusterId,
    pub address: IpAddr,
    pub ssh_port: u16,
    pub username: String,
    pub password: String,
}

/// The `stratus-agent` binary shipped with this management server.
pub fn agent_binary() -> Result<std::path::PathBuf> {
    if let Ok(p) = std::env::var("STRATUS_AGENT_BINARY") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| Error::internal("no executable directory"))?;
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let p = d.join("stratus-agent");
        if p.exists() {
            return Ok(p);
        }
    }
    Err(Error::internal(
        "the stratus-agent binary was not found next to stratus-management; build it (cargo build -p stratus-agent) or set STRATUS_AGENT_BINARY",
    ))
}

/// The URL agents reach this management server at: the `host` setting (CloudStack's
/// "management server address"), else the address the server listens on.
pub fn management_url(ctx: &Ctx) -> Result<String> {
    let listen = ctx
        .listen
        .ok_or_else(|| Error::internal("the server's listen address is unknown"))?;
    let host = Some(ctx.get(&settings::HOST)).filter(|h| !h.trim().is_empty());
    match host {
        Some(h) => Ok(format!("http://{}:{}", h.trim(), listen.port())),
        None if listen.ip().is_unspecified() => Err(ApiError::param(format!(
            "The server listens on {listen}, which hosts cannot connect to: set the 'host' setting to the address hosts should report to"
        ))
        .into()),
        None => Ok(format!("http://{listen}")),
    }
}

fn step_error(step: &str, why: impl std::fmt::Display) -> Error {
    ApiError::new(
        stratus_api::ErrorCode::ResourceUnavailable,
        format!("Adding the host failed at step '{step}': {why}"),
    )
    .into()
}

/// Wraps a command for a non-root user (CloudStack prefixes `sudo` the same way).
fn privileged(user: &str, cmd: &str) -> String {
    if user == "root" {
        cmd.to_string()
    } else {
        format!("sudo -n sh -c {}", shell_quote(cmd))
    }
}

/// Runs the whole bootstrap; returns the host once its agent has reported.
pub async fn add_host(ctx: &Ctx, actor: &UserRow, req: &AddHost) -> Result<HostRow> {
    let user = req.username.as_str();
    let sudo = |cmd: &str| privileged(user, cmd);
    let mgmt_url = management_url(ctx)?;
    let binary = agent_binary()?;
    // Refuse a duplicate before touching the machine (the unique constraint stays the
    // last word if two admins race).
    if let Some(h) =
        db::hosts::host_fetch_by_address(&ctx.pool, ipnetwork::IpNetwork::from(req.address)).await?
    {
        return Err(ApiError::param(format!(
            "A host with address {} already exists ({}); delete it first to add it again",
            req.address, h.name
        ))
        .into());
    }

    // 1-2. Connect and authenticate.
    let ssh = Ssh::connect(
        SocketAddr::new(req.address, req.ssh_port),
        user,
        &req.password,
    )
    .await
    .map_err(|e| step_error("connect", e))?;

    // 3. Operating system.
    let os = ssh
        .run("uname -sm")
        .await
        .map_err(|e| step_error("check operating system", e))?;
    let uname = os.stdout.trim().to_string();
    if !(uname.starts_with("Linux x86_64") || uname.starts_with("Linux aarch64")) {
        ssh.close().await;
        return Err(step_error(
            "check operating system",
            format!("unsupported system '{uname}': Stratus hosts run Linux on x86_64 or aarch64"),
        ));
    }

    // 4. Copy the agent (the same build as this management server).
    let bytes = tokio::fs::read(&binary)
        .await
        .map_err(|e| step_error("copy agent", format!("reading {}: {e}", binary.display())))?;
    let copy = write(&ssh, user, AGENT_BIN, &bytes, 0o755).await;
    if let Err(e) = copy {
        ssh.close().await;
        return Err(step_error("copy agent", e));
    }

    // 5. Prerequisites, checked by the agent itself: libvirt reachable, QEMU present.
    let uri = ctx.get(&settings::KVM_LIBVIRT_URI);
    let accel = ctx.get(&settings::KVM_ACCELERATION);
    let check = ssh
        .run(&sudo(&format!(
            "{AGENT_BIN} check --libvirt-uri {} --acceleration {}",
            shell_quote(&uri),
            shell_quote(&accel)
        )))
        .await
        .map_err(|e| step_error("check prerequisites", e))?;
    if check.status != 0 {
        let _ = ssh.run(&sudo(&format!("rm -rf {AGENT_DIR}"))).await;
        ssh.close().await;
        let problems = if check.stderr.trim().is_empty() {
            check.stdout.trim()
        } else {
            check.stderr.trim()
        };
        return Err(step_error(
            "check prerequisites",
            problems.replace('\n', "; "),
        ));
    }
    let facts: serde_json::Value = serde_json::from_str(check.stdout.trim()).unwrap_or_default();
    let name = facts["hostname"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| req.address.to_string());

    // 6. Register: from here on, failures undo.
    let (host, token) = crate::services::hosts::register(
        ctx,
        actor,
        req.zone_id,
        req.pod_id,
        req.cluster_id,
        req.address,
        stratus_api::agent::api::DEFAULT_PORT,
        &name,
    )
    .await?;
    match finish(ctx, &ssh, user, &host, &token, &mgmt_url, &uri, &accel).await {
        Ok(h) => {
            tracing::info!(host = %h.name, address = %req.address, ssh_key = %ssh.fingerprint, "host added");
            ssh.close().await;
            Ok(h)
        }
        Err(e) => {
            let cleanup = format!(
                "if [ -d /run/systemd/system ] && [ -f /etc/systemd/system/stratus-agent.service ]; then systemctl disable --now stratus-agent; rm -f /etc/systemd/system/stratus-agent.service; systemctl daemon-reload; fi; \
                 if [ -f {AGENT_PID} ]; then kill $(cat {AGENT_PID}) 2>/dev/null; fi; rm -rf {AGENT_DIR} {AGENT_CONFIG} {TLS_CERT} {TLS_KEY} {CA_CERT}"
            );
            if let Err(ce) = ssh.run(&sudo(&cleanup)).await {
                tracing::warn!(error = %ce, "cleaning up a failed host bootstrap");
            }
            ssh.close().await;
            crate::services::hosts::unregister(ctx, actor, host.id, &e.to_api().text).await?;
            Err(e)
        }
    }
}

async fn write(
    ssh: &Ssh,
    user: &str,
    path: &str,
    data: &[u8],
    mode: u32,
) -> std::result::Result<(), crate::clients::ssh::SshError> {
    if user == "root" {
        ssh.write_file(path, data, mode).await
    } else {
        let q = shell_quote(path);
        let out = ssh
            .run_with_input(&privileged(user, &format!("mkdir -p \"$(dirname {q})\" && cat > {q}.tmp && chmod {mode:o} {q}.tmp && mv -f {q}.tmp {q}")), data)
            .await?;
        if out.status != 0 {
            return Err(crate::clients::ssh::SshError::Session(format!(
                "writing {path}: {}",
                out.stderr.trim()
            )));
        }
        Ok(())
    }
}

/// The agent's `agent.properties`: who it is, where to report, and its command API.
pub fn agent_properties(
    ctx: &Ctx,
    host: &HostRow,
    token: &str,
    mgmt_url: &str,
    libvirt_uri: &str,
    acceleration: &str,
    [cert, key, ca]: [&str; 3],
) -> String {
    format!(
        "# Written by stratus-management when this host was added.\n\
         host_id = {}\ntoken = {token}\nmanagement_urls = {mgmt_url}\n\
         libvirt_uri = {libvirt_uri}\nacceleration = {acceleration}\nheartbeat_interval = {}\n\
         api_listen = {}\ntls_cert = {cert}\ntls_key = {key}\nca_cert = {ca}\n",
        host.id,
        crate::services::hosts::interval_secs(ctx),
        std::net::SocketAddr::new(host.address.ip(), host.agent_port as u16),
    )
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    ctx: &Ctx,
    ssh: &Ssh,
    user: &str,
    host: &HostRow,
    token: &str,
    mgmt_url: &str,
    uri: &str,
    accel: &str,
) -> Result<HostRow> {
    let sudo = |cmd: &str| privileged(user, cmd);
    // 7. Configuration and TLS credentials, the secrets readable by root only.
    let address = host.address.ip();
    let cert = ctx
        .pki
        .issue_agent(host.id, address)
        .map_err(|e| step_error("issue certificate", e))?;
    let config = agent_properties(
        ctx,
        host,
        token,
        mgmt_url,
        uri,
        accel,
        [TLS_CERT, TLS_KEY, CA_CERT],
    );
    for (path, data, mode) in [
        (CA_CERT, ctx.pki.ca_pem(), 0o644),
        (TLS_CERT, cert.cert_pem.as_str(), 0o644),
        (TLS_KEY, cert.key_pem.as_str(), 0o600),
        (AGENT_CONFIG, config.as_str(), 0o600),
    ] {
        write(ssh, user, path, data.as_bytes(), mode)
            .await
            .map_err(|e| step_error("write configuration", e))?;
    }

    // 8. Start: a systemd unit where systemd runs, else a background process with a pid file.
    let start = format!(
        "if [ -d /run/systemd/system ]; then \
           printf '%s\\n' '[Unit]' 'Description=Stratus host agent' 'After=network-online.target libvirtd.service' '[Service]' 'ExecStart={AGENT_BIN} --config {AGENT_CONFIG}' 'Restart=always' 'RestartSec=5' '[Install]' 'WantedBy=multi-user.target' > /etc/systemd/system/stratus-agent.service && \
           systemctl daemon-reload && systemctl enable --now stratus-agent && systemctl restart stratus-agent; \
         else \
           if [ -f {AGENT_PID} ] && kill -0 $(cat {AGENT_PID}) 2>/dev/null; then kill $(cat {AGENT_PID}); sleep 1; fi; \
           nohup setsid {AGENT_BIN} --config {AGENT_CONFIG} >> {AGENT_LOG} 2>&1 < /dev/null & echo $! > {AGENT_PID}; \
         fi"
    );
    let out = ssh
        .run(&sudo(&start))
        .await
        .map_err(|e| step_error("start agent", e))?;
    if out.status != 0 {
        return Err(step_error("start agent", out.stderr.trim()));
    }

    // 9. The first heartbeat.
    if let Some(h) = crate::services::hosts::wait_for_report(ctx, host.id, None).await? {
        return Ok(h);
    }
    let log = ssh
        .run(&sudo(&format!("tail -n 5 {AGENT_LOG} 2>/dev/null")))
        .await
        .map(|o| o.stdout)
        .unwrap_or_default();
    Err(step_error(
        "wait for the agent",
        format!(
            "the agent did not report to {mgmt_url} in time (can the host reach that address? set the 'host' setting to an address it can); agent log: {}",
            log.trim().replace('\n', " | ")
        ),
    ))
}
