//! `addHost` for KVM: bring a machine into the cloud over SSH, as CloudStack does — the
//! **HostAdd** workflow on the engine (`services::workflow`), so that every step is
//! persisted with its output, a failure at any step undoes what the steps before it did
//! (agent stopped, files removed, host record deleted: nothing is left half-registered),
//! and a management server that dies half-way leaves a workflow another server carries
//! on (a retried `addHost` for the same address at once, else the housekeeping
//! reconciler, see `reconcile::resume_orphaned_work`).
//!
//! | step | do | undo |
//! |---|---|---|
//! | Connect | SSH in (password or `sudo`), check the OS is Linux x86_64/aarch64 | — |
//! | InstallAgent | copy the agent (the build shipped next to this server) | stop the agent, remove every file `addHost` installs |
//! | CheckPrerequisites | `stratus-agent check` on the host (libvirt, QEMU), its facts | — |
//! | Register | the host record (Disabled until the last step) and its token | delete the record (an event says so) |
//! | IssueCertificate | the agent's server certificate, its key and the CA, written 0600/0644 | remove them |
//! | Configure | `/etc/stratus/agent.properties` (0600) | remove it |
//! | StartAgent | a systemd unit where systemd runs, else a background process with a pid file | stop it |
//! | FirstHeartbeat | wait for a report newer than the start | — |
//! | Enable | the resource state the admin asked for (Enabled unless `allocationstate=Disabled`) | Disabled |
//!
//! Why the steps can run twice (a resumed step runs again): the copy and the writes are
//! atomic replacements, the start stops an agent it finds running, the record is created
//! under the workflow's own host id, and the agent's token is derived from the
//! management key and a seed in the input (`token`), so a re-run gives the same one
//! without storing it. The SSH password must be in the stored input for another server to
//! resume: it is sealed with the management key, and dropped when the workflow ends.
//!
//! On the host everything lives in two directories — `/var/lib/stratus-agent` (binary,
//! log, pid file) and `/etc/stratus` (configuration) — so removal is complete and the
//! test bed can give each simulated host its own copy of both with bind mounts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_api::ApiError;

use crate::clients::ssh::{shell_quote, Ssh};
use crate::ctx::Ctx;
use crate::db::{self, accounts::UserRow, hosts::HostRow};
use crate::error::{Error, Result};
use crate::ids::{ClusterId, HostId, PodId, UserId, ZoneId};
use crate::rules::hoststate::ResourceState;
use crate::services::workflow::{Kind, Outputs, Resource, Steps, Workflow};
use crate::settings;

use stratus_api::agent::layout::{
    BIN as AGENT_BIN, CA_CERT, CONFIG as AGENT_CONFIG, DIR as AGENT_DIR, LOG as AGENT_LOG,
    PID as AGENT_PID, TLS_CERT, TLS_KEY,
};
use stratus_api::agent::migration as libvirt_tls;

/// What `addHost` asked for.
#[derive(Debug, Clone)]
pub struct AddHost {
    pub zone_id: ZoneId,
    pub pod_id: PodId,
    pub cluster_id: ClusterId,
    pub address: IpAddr,
    pub ssh_port: u16,
    pub username: String,
    pub password: String,
    /// `allocationstate=Disabled`: the host stays Disabled after its last step.
    pub disabled: bool,
    /// Host tags (`hosttags`, checked by `rules::tags::parse`).
    pub tags: Vec<String>,
}

/// The HostAdd workflow: its value is its stored input.
#[derive(Serialize, Deserialize)]
pub struct HostAdd {
    /// The host's id, chosen before the first step (the workflow's resource).
    pub host: HostId,
    pub zone_id: ZoneId,
    pub pod_id: PodId,
    pub cluster_id: ClusterId,
    pub address: IpAddr,
    pub ssh_port: u16,
    pub username: String,
    /// The SSH password sealed with the management key (base64); `None` once the
    /// workflow is over.
    pub password: Option<String>,
    /// The seed of the agent's token (see [`HostAdd::token`]); not a secret by itself.
    pub token: String,
    pub disabled: bool,
    /// The host's tags (absent from inputs stored before tags existed).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Who asked (events are recorded in their name).
    pub actor: UserId,
    /// The SSH session of this run (a resumed run opens its own).
    #[serde(skip)]
    session: tokio::sync::Mutex<Option<Ssh>>,
}

/// The steps of HostAdd, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAddStep {
    Connect,
    InstallAgent,
    CheckPrerequisites,
    Register,
    IssueCertificate,
    Configure,
    StartAgent,
    FirstHeartbeat,
    Enable,
}

impl Steps for HostAddStep {
    const ALL: &'static [Self] = &[
        HostAddStep::Connect,
        HostAddStep::InstallAgent,
        HostAddStep::CheckPrerequisites,
        HostAddStep::Register,
        HostAddStep::IssueCertificate,
        HostAddStep::Configure,
        HostAddStep::StartAgent,
        HostAddStep::FirstHeartbeat,
        HostAddStep::Enable,
    ];
    fn name(self) -> &'static str {
        match self {
            HostAddStep::Connect => "Connect",
            HostAddStep::InstallAgent => "InstallAgent",
            HostAddStep::CheckPrerequisites => "CheckPrerequisites",
            HostAddStep::Register => "Register",
            HostAddStep::IssueCertificate => "IssueCertificate",
            HostAddStep::Configure => "Configure",
            HostAddStep::StartAgent => "StartAgent",
            HostAddStep::FirstHeartbeat => "FirstHeartbeat",
            HostAddStep::Enable => "Enable",
        }
    }
}

/// What CheckPrerequisites found.
#[derive(Debug, Serialize, Deserialize)]
struct Checked {
    /// The host's own hostname (its name in the cloud), else its address.
    name: String,
}

/// What StartAgent recorded: when, so FirstHeartbeat waits for a report of this agent.
#[derive(Debug, Serialize, Deserialize)]
struct Started {
    at: chrono::DateTime<chrono::Utc>,
}

impl HostAdd {
    /// A new HostAdd for `req`, its password sealed.
    pub fn new(ctx: &Ctx, actor: &UserRow, req: &AddHost) -> HostAdd {
        let b64 = base64::engine::general_purpose::STANDARD;
        HostAdd {
            host: HostId::new_v4(),
            zone_id: req.zone_id,
            pod_id: req.pod_id,
            cluster_id: req.cluster_id,
            address: req.address,
            ssh_port: req.ssh_port,
            username: req.username.clone(),
            password: Some(b64.encode(ctx.secrets.seal(req.password.as_bytes()))),
            token: crate::services::auth::random_token(16),
            disabled: req.disabled,
            tags: req.tags.clone(),
            actor: actor.id,
            session: Default::default(),
        }
    }

    /// The agent's token: the same on every run of this workflow (so a resumed step
    /// writes the same one), never stored (only its hash, on the host row).
    fn token(&self, ctx: &Ctx) -> String {
        let mac = ctx.secrets.mac(
            "host-add-agent-token",
            format!("{}:{}", self.host, self.token).as_bytes(),
        );
        mac.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn password(&self, ctx: &Ctx) -> Result<String> {
        let sealed = self.password.as_deref().ok_or_else(|| {
            Error::internal("this addHost is over; its SSH password is no longer kept")
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|e| Error::internal(format!("a sealed SSH password: {e}")))?;
        String::from_utf8(ctx.secrets.open(&bytes)?)
            .map_err(|_| Error::internal("a sealed SSH password is not text"))
    }

    fn sudo(&self, cmd: &str) -> String {
        privileged(&self.username, cmd)
    }

    /// This run's SSH session, opened on first use.
    async fn ssh(&self, ctx: &Ctx, step: &str) -> Result<tokio::sync::MappedMutexGuard<'_, Ssh>> {
        let mut g = self.session.lock().await;
        if g.is_none() {
            let ssh = Ssh::connect(
                SocketAddr::new(self.address, self.ssh_port),
                &self.username,
                &self.password(ctx)?,
            )
            .await
            .map_err(|e| step_error(step, e))?;
            *g = Some(ssh);
        }
        tokio::sync::MutexGuard::try_map(g, |s| s.as_mut())
            .map_err(|_| Error::internal("no SSH session"))
    }

    /// Runs `cmd` (privileged) on the host; a failure to run it is `step`'s.
    async fn run(&self, ctx: &Ctx, step: &str, cmd: &str) -> Result<crate::clients::ssh::Output> {
        let ssh = self.ssh(ctx, step).await?;
        ssh.run(&self.sudo(cmd))
            .await
            .map_err(|e| step_error(step, e))
    }

    /// Runs an undo's `cmd`; the host being unreachable is logged (the unwind goes on).
    async fn undo(&self, ctx: &Ctx, what: &str, cmd: &str) -> Result<()> {
        let out = self.run(ctx, what, cmd).await?;
        if out.status != 0 {
            return Err(step_error(what, out.stderr.trim()));
        }
        Ok(())
    }

    async fn close(&self) {
        if let Some(ssh) = self.session.lock().await.take() {
            ssh.close().await;
        }
    }

    async fn actor(&self, ctx: &Ctx) -> Result<UserRow> {
        db::accounts::user_fetch(&ctx.pool, self.actor)
            .await?
            .ok_or_else(|| Error::internal("the user adding the host is gone"))
    }

    async fn host_row(&self, ctx: &Ctx) -> Result<HostRow> {
        db::hosts::host_fetch(&ctx.pool, self.host)
            .await?
            .ok_or_else(|| Error::internal("the host being added vanished"))
    }
}

fn output(v: impl Serialize) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("a step's output: {e}")))
}

/// Stops the agent (systemd unit or pid file) and removes what installing it wrote. Not
/// libvirt's TLS files: the step that writes them removes them in its own undo, and until
/// it has run, what is at libvirt's paths is the host's own (a libvirtd that listens for
/// TLS would not start again without them).
fn remove_all() -> String {
    format!(
        "{}; rm -rf {AGENT_DIR} {AGENT_CONFIG} {TLS_CERT} {TLS_KEY} {CA_CERT}",
        stop_agent(),
    )
}

fn stop_agent() -> String {
    format!(
        "if [ -d /run/systemd/system ] && [ -f /etc/systemd/system/stratus-agent.service ]; then systemctl disable --now stratus-agent; rm -f /etc/systemd/system/stratus-agent.service; systemctl daemon-reload; fi; \
         if [ -f {AGENT_PID} ]; then kill $(cat {AGENT_PID}) 2>/dev/null; rm -f {AGENT_PID}; fi; true"
    )
}

// Live migration (issue 16): the host's libvirt certificate.

/// The libvirt TLS files `addHost` writes (removed with the agent).
fn libvirt_tls_files() -> String {
    [
        libvirt_tls::CA_FILE,
        libvirt_tls::SERVER_CERT,
        libvirt_tls::SERVER_KEY,
        libvirt_tls::CLIENT_CERT,
        libvirt_tls::CLIENT_KEY,
    ]
    .join(" ")
}

/// How long `virt-admin server-update-tls` may take on the host before addHost gives up
/// on it (a libvirtd that does not answer its admin socket).
const TLS_RELOAD_TIMEOUT_SECS: u64 = 30;

/// Asks a running libvirtd to reload its TLS files, bounded by coreutils' `timeout`
/// (which exits 124 when it had to stop the command).
fn tls_reload_command() -> String {
    format!(
        "timeout {TLS_RELOAD_TIMEOUT_SECS} virt-admin -q -c libvirtd:///system server-update-tls libvirtd 2>&1"
    )
}

fn tls_reload_timed_out() -> String {
    format!(
        "virt-admin server-update-tls did not answer within {TLS_RELOAD_TIMEOUT_SECS} s (is libvirtd hung?)"
    )
}

/// What the reload's exit says: reloaded; a libvirtd without a TLS listener (no
/// failure: the host works, only live migration to it does not; the text says why);
/// or, when `timeout` stopped it, the step's error.
fn tls_reload_outcome(status: u32, stdout: &str, stderr: &str) -> Result<String> {
    match status {
        0 => Ok("reloaded".to_string()),
        124 => Err(step_error("issue certificate", tls_reload_timed_out())),
        _ => Ok(format!("{}{}", stdout.trim(), stderr.trim())
            .chars()
            .take(300)
            .collect()),
    }
}

impl HostAdd {
    /// Writes the host's libvirt certificate (server and client use), its key and the CA
    /// where libvirt looks for them, then asks a running libvirtd to reload its TLS files
    /// (`virt-admin server-update-tls`). A libvirtd without its TLS listener is no
    /// failure here (the host works, only live migration to it does not): the step's
    /// output says so, and docs/operations.md says how to turn it on.
    async fn install_libvirt_certificate(&self, ctx: &Ctx) -> Result<Value> {
        let cert = ctx
            .pki
            .issue_libvirt(self.host, self.address)
            .map_err(|e| step_error("issue certificate", e))?;
        {
            let ssh = self.ssh(ctx, "issue certificate").await?;
            for (path, data, mode) in [
                (libvirt_tls::CA_FILE, ctx.pki.ca_pem(), 0o644),
                (libvirt_tls::SERVER_CERT, cert.cert_pem.as_str(), 0o644),
                (libvirt_tls::SERVER_KEY, cert.key_pem.as_str(), 0o600),
                (libvirt_tls::CLIENT_CERT, cert.cert_pem.as_str(), 0o644),
                (libvirt_tls::CLIENT_KEY, cert.key_pem.as_str(), 0o600),
            ] {
                write(&ssh, &self.username, path, data.as_bytes(), mode)
                    .await
                    .map_err(|e| step_error("issue certificate", e))?;
            }
        }
        // Bounded on the host (`timeout`) and here (a session that stops answering): a
        // libvirtd that does not answer its admin socket must not hold the workflow.
        let out = tokio::time::timeout(
            Duration::from_secs(TLS_RELOAD_TIMEOUT_SECS + 15),
            self.run(ctx, "issue certificate", &tls_reload_command()),
        )
        .await
        .map_err(|_| step_error("issue certificate", tls_reload_timed_out()))??;
        let reload = tls_reload_outcome(out.status, &out.stdout, &out.stderr)?;
        if reload != "reloaded" {
            tracing::warn!(host = %self.host, why = %reload, "libvirtd did not reload its TLS certificates: live migration to this host needs libvirtd's TLS listener");
        }
        Ok(json!({ "libvirt_tls": reload }))
    }
}

impl Workflow for HostAdd {
    const KIND: Kind = Kind::HostAdd;
    type Step = HostAddStep;

    fn resource(&self) -> Resource {
        Resource::host(self.host)
    }

    /// A duplicate address is refused before the machine is touched (the unique
    /// constraint stays the last word if two admins race); so is a cluster outside the
    /// zone and pod.
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        if let Some(h) =
            db::hosts::host_fetch_by_address(&ctx.pool, ipnetwork::IpNetwork::from(self.address))
                .await?
        {
            return Err(ApiError::param(format!(
                "A host with address {} already exists ({}); delete it first to add it again",
                self.address, h.name
            ))
            .into());
        }
        let cluster = db::topology::cluster_fetch(&ctx.pool, self.cluster_id)
            .await?
            .ok_or_else(|| ApiError::param("Please specify a valid cluster"))?;
        if cluster.pod_id != self.pod_id || cluster.zone_id != self.zone_id {
            return Err(ApiError::param(format!(
                "Cluster {} does not belong to the given pod and zone",
                cluster.name
            ))
            .into());
        }
        // Reported now rather than at the last step.
        management_url(ctx)?;
        agent_binary()?;
        Ok(())
    }

    async fn do_step(&self, ctx: &Ctx, step: HostAddStep, out: &Outputs) -> Result<Value> {
        match step {
            HostAddStep::Connect => {
                let os = self.run(ctx, "connect", "uname -sm").await?;
                let uname = os.stdout.trim().to_string();
                if !(uname.starts_with("Linux x86_64") || uname.starts_with("Linux aarch64")) {
                    return Err(step_error(
                        "check operating system",
                        format!("unsupported system '{uname}': Stratus hosts run Linux on x86_64 or aarch64"),
                    ));
                }
                let fingerprint = self.ssh(ctx, "connect").await?.fingerprint.clone();
                Ok(json!({ "uname": uname, "fingerprint": fingerprint }))
            }
            HostAddStep::InstallAgent => {
                let binary = agent_binary()?;
                let bytes = tokio::fs::read(&binary).await.map_err(|e| {
                    step_error("copy agent", format!("reading {}: {e}", binary.display()))
                })?;
                let ssh = self.ssh(ctx, "copy agent").await?;
                write(&ssh, &self.username, AGENT_BIN, &bytes, 0o755)
                    .await
                    .map_err(|e| step_error("copy agent", e))?;
                Ok(Value::Null)
            }
            HostAddStep::CheckPrerequisites => {
                let uri = ctx.get(&settings::KVM_LIBVIRT_URI);
                let accel = ctx.get(&settings::KVM_ACCELERATION);
                let check = self
                    .run(
                        ctx,
                        "check prerequisites",
                        &format!(
                            "{AGENT_BIN} check --libvirt-uri {} --acceleration {}",
                            shell_quote(&uri),
                            shell_quote(&accel)
                        ),
                    )
                    .await?;
                if check.status != 0 {
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
                let facts: Value = serde_json::from_str(check.stdout.trim()).unwrap_or_default();
                let name = facts["hostname"]
                    .as_str()
                    .filter(|h| !h.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| self.address.to_string());
                output(Checked { name })
            }
            HostAddStep::Register => {
                let hash = super::hash_token(&self.token(ctx));
                if db::hosts::host_fetch(&ctx.pool, self.host).await?.is_some() {
                    // Done before (a resumed run): the same token, so only its hash again.
                    db::hosts::host_set_token(&ctx.pool, self.host, &hash).await?;
                    return Ok(Value::Null);
                }
                let name = out
                    .get::<Checked>(HostAddStep::CheckPrerequisites)
                    .map(|c| c.name)
                    .unwrap_or_else(|| self.address.to_string());
                let actor = self.actor(ctx).await?;
                super::register_host(
                    ctx,
                    &actor,
                    super::NewHostSpec {
                        id: self.host,
                        token_hash: &hash,
                        zone_id: self.zone_id,
                        pod_id: self.pod_id,
                        cluster_id: self.cluster_id,
                        address: self.address,
                        agent_port: stratus_api::agent::api::DEFAULT_PORT,
                        name: &name,
                        tags: &self.tags,
                    },
                )
                .await?;
                // Not offered to placement before its last step.
                db::hosts::host_set_resource_state(&ctx.pool, self.host, ResourceState::Disabled)
                    .await?;
                Ok(Value::Null)
            }
            HostAddStep::IssueCertificate => {
                let cert = ctx
                    .pki
                    .issue_agent(self.host, self.address)
                    .map_err(|e| step_error("issue certificate", e))?;
                let ssh = self.ssh(ctx, "issue certificate").await?;
                for (path, data, mode) in [
                    (CA_CERT, ctx.pki.ca_pem(), 0o644),
                    (TLS_CERT, cert.cert_pem.as_str(), 0o644),
                    (TLS_KEY, cert.key_pem.as_str(), 0o600),
                ] {
                    write(&ssh, &self.username, path, data.as_bytes(), mode)
                        .await
                        .map_err(|e| step_error("issue certificate", e))?;
                }
                drop(ssh);
                self.install_libvirt_certificate(ctx).await
            }
            HostAddStep::Configure => {
                let host = self.host_row(ctx).await?;
                let config = agent_properties(
                    ctx,
                    &host,
                    &self.token(ctx),
                    &management_url(ctx)?,
                    &ctx.get(&settings::KVM_LIBVIRT_URI),
                    &ctx.get(&settings::KVM_ACCELERATION),
                    [TLS_CERT, TLS_KEY, CA_CERT],
                );
                let ssh = self.ssh(ctx, "write configuration").await?;
                write(&ssh, &self.username, AGENT_CONFIG, config.as_bytes(), 0o600)
                    .await
                    .map_err(|e| step_error("write configuration", e))?;
                Ok(Value::Null)
            }
            HostAddStep::StartAgent => {
                let at = chrono::Utc::now();
                let start = format!(
                    "if [ -d /run/systemd/system ]; then \
                       printf '%s\\n' '[Unit]' 'Description=Stratus host agent' 'After=network-online.target libvirtd.service' '[Service]' 'ExecStart={AGENT_BIN} --config {AGENT_CONFIG}' 'Restart=always' 'RestartSec=5' '[Install]' 'WantedBy=multi-user.target' > /etc/systemd/system/stratus-agent.service && \
                       systemctl daemon-reload && systemctl enable --now stratus-agent && systemctl restart stratus-agent; \
                     else \
                       if [ -f {AGENT_PID} ] && kill -0 $(cat {AGENT_PID}) 2>/dev/null; then kill $(cat {AGENT_PID}); sleep 1; fi; \
                       nohup setsid {AGENT_BIN} --config {AGENT_CONFIG} >> {AGENT_LOG} 2>&1 < /dev/null & echo $! > {AGENT_PID}; \
                     fi"
                );
                let out = self.run(ctx, "start agent", &start).await?;
                if out.status != 0 {
                    return Err(step_error("start agent", out.stderr.trim()));
                }
                output(Started { at })
            }
            HostAddStep::FirstHeartbeat => {
                let after = out.get::<Started>(HostAddStep::StartAgent).map(|s| s.at);
                if super::wait_for_report(ctx, self.host, after)
                    .await?
                    .is_some()
                {
                    return Ok(Value::Null);
                }
                let log = self
                    .run(
                        ctx,
                        "wait for the agent",
                        &format!("tail -n 5 {AGENT_LOG} 2>/dev/null"),
                    )
                    .await
                    .map(|o| o.stdout)
                    .unwrap_or_default();
                Err(step_error(
                    "wait for the agent",
                    format!(
                        "the agent did not report to {} in time (can the host reach that address? set the 'host' setting to an address it can); agent log: {}",
                        management_url(ctx).unwrap_or_default(),
                        log.trim().replace('\n', " | ")
                    ),
                ))
            }
            HostAddStep::Enable => {
                let state = if self.disabled {
                    ResourceState::Disabled
                } else {
                    ResourceState::Enabled
                };
                db::hosts::host_set_resource_state(&ctx.pool, self.host, state).await?;
                Ok(Value::Null)
            }
        }
    }

    async fn undo_step(&self, ctx: &Ctx, step: HostAddStep, _: &Outputs) -> Result<()> {
        match step {
            HostAddStep::Connect | HostAddStep::CheckPrerequisites => Ok(()),
            HostAddStep::FirstHeartbeat => Ok(()),
            HostAddStep::InstallAgent => self.undo(ctx, "remove the agent", &remove_all()).await,
            HostAddStep::Register => {
                let actor = self.actor(ctx).await?;
                super::unregister(
                    ctx,
                    &actor,
                    self.host,
                    "adding it failed; see listWorkflows",
                )
                .await
            }
            HostAddStep::IssueCertificate => {
                self.undo(
                    ctx,
                    "remove the certificate",
                    &format!(
                        "rm -f {TLS_CERT} {TLS_KEY} {CA_CERT} {}",
                        libvirt_tls_files()
                    ),
                )
                .await
            }
            HostAddStep::Configure => {
                self.undo(
                    ctx,
                    "remove the configuration",
                    &format!("rm -f {AGENT_CONFIG}"),
                )
                .await
            }
            HostAddStep::StartAgent => self.undo(ctx, "stop the agent", &stop_agent()).await,
            HostAddStep::Enable => {
                if db::hosts::host_fetch(&ctx.pool, self.host).await?.is_some() {
                    db::hosts::host_set_resource_state(
                        &ctx.pool,
                        self.host,
                        ResourceState::Disabled,
                    )
                    .await?;
                }
                Ok(())
            }
        }
    }

    /// The host row is already Up and in its resource state (Enable); only the session
    /// is left to close.
    async fn succeeded(&self, _: &Ctx, out: &Outputs) -> Result<()> {
        let fingerprint = out
            .get::<Value>(HostAddStep::Connect)
            .and_then(|v| v["fingerprint"].as_str().map(str::to_string))
            .unwrap_or_default();
        tracing::info!(host = %self.host, address = %self.address, ssh_key = %fingerprint, "host added");
        self.close().await;
        Ok(())
    }

    async fn failed(&self, _: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        tracing::warn!(host = %self.host, address = %self.address, error = %why.text, "adding a host failed; undone");
        self.close().await;
        Ok(())
    }

    /// The sealed password is needed only while the workflow runs.
    fn finished_input(&self) -> Option<Value> {
        let mut v = serde_json::to_value(self).ok()?;
        v["password"] = Value::Null;
        Some(v)
    }
}

/// Runs addHost: a new HostAdd, or — when a server died while adding this address — the
/// unfinished one, carried on where it was. Answers the host once its agent reported.
pub async fn add_host(ctx: &Ctx, actor: &UserRow, req: &AddHost) -> Result<HostRow> {
    let found = db::workflows::workflow_fetch_active_by_input(
        &ctx.pool,
        Kind::HostAdd,
        "address",
        &req.address.to_string(),
    )
    .await?;
    let w = match found {
        Some(row) => serde_json::from_value::<HostAdd>(row.input).map_err(|e| {
            Error::internal(format!("an unfinished addHost's input does not read: {e}"))
        })?,
        None => HostAdd::new(ctx, actor, req),
    };
    let id = w.host;
    crate::services::workflow::run(ctx, None, w).await?;
    db::hosts::host_fetch(&ctx.pool, id)
        .await?
        .ok_or_else(|| Error::internal("host vanished"))
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
    // Said to the admin (535), not hidden as an internal error: it is theirs to fix.
    Err(step_error(
        "install agent",
        format!(
            "the stratus-agent binary was not found next to {} or in its parent directory; build it (cargo build [--release] -p stratus-agent) or set STRATUS_AGENT_BINARY",
            dir.display()
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_reload_is_bounded_on_the_host_and_a_timeout_fails_the_step_by_name() {
        let cmd = tls_reload_command();
        assert!(
            cmd.starts_with(&format!("timeout {TLS_RELOAD_TIMEOUT_SECS} virt-admin ")),
            "{cmd}"
        );
        assert!(cmd.contains("server-update-tls libvirtd"));
        assert_eq!(tls_reload_outcome(0, "", "").unwrap(), "reloaded");
        // No TLS listener: the host is still added; the output says why.
        assert_eq!(
            tls_reload_outcome(1, "error: no TLS listener\n", "").unwrap(),
            "error: no TLS listener"
        );
        let e = tls_reload_outcome(124, "", "").unwrap_err().to_string();
        assert!(e.contains("step 'issue certificate'"), "{e}");
        assert!(e.contains("did not answer within 30 s"), "{e}");
    }
}
