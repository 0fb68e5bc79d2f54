//! The embedded default's own host: with `--local-host`, the machine the management
//! server runs on joins the cloud by itself, so a new user has a working cloud after one
//! command.
//!
//! Why not `addHost` over SSH to localhost: the embedded default must not need an sshd or
//! root's password. The steps are otherwise those of `addHost` (register, issue the
//! agent's certificate, write its configuration, start it, wait for its report), with
//! the agent's files under `<data-dir>/agent` and the agent supervised as our child
//! (restarted if it dies, stopped with us). The default zone, pod and cluster are created
//! through the command layer, exactly as an admin would, only when missing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stratus_api::Params;
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db::events::{EventResource, ResourceType};
use crate::db::{self, hosts::HostRow};
use crate::error::{Error, Result};
use crate::ids::{ClusterId, HostId, PodId, ZoneId};
use crate::services::auth::Caller;
use crate::settings;

/// Names of what the embedded default creates.
pub const ZONE: &str = "default";
pub const POD: &str = "default";
pub const CLUSTER: &str = "default";
/// The default zone's guest gateway (the local host's `cloudbr0` address). In an
/// Advanced default zone the same range on the same bridge is the zone's public range
/// (routers' public addresses), and this address its gateway.
pub const GUEST_GATEWAY: &str = "192.168.251.1";
/// The bridge every traffic type of an Advanced default zone rides on (as CloudStack's
/// single-NIC KVM set-up does): `scripts/run` makes it with [`GUEST_GATEWAY`], which
/// is also the local end of the guest networks' VXLAN segments.
const LOCAL_LABEL: &str = "cloudbr0";
/// The VXLAN ids an Advanced default zone gives its isolated networks.
const LOCAL_VNI_RANGE: &str = "5000-5099";

/// The type of the default zone, chosen when the embedded default first creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LocalZoneType {
    /// Guests share the host's `cloudbr0` (192.168.251.10-200), isolated by security
    /// groups.
    Basic,
    /// Each account gets isolated networks with a router (a namespace on this
    /// machine); 192.168.251.10-200 on `cloudbr0` are the public addresses.
    Advanced,
}

impl LocalZoneType {
    fn network_type(self) -> &'static str {
        match self {
            LocalZoneType::Basic => "Basic",
            LocalZoneType::Advanced => "Advanced",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LocalHostOptions {
    /// Where the agent's configuration, certificates and log live.
    pub dir: PathBuf,
    /// The agent's command API port on 127.0.0.1.
    pub agent_port: u16,
    /// The `stratus-agent` binary.
    pub agent_binary: PathBuf,
    /// NFS exports to register as the default zone's primary and secondary storage.
    pub primary: Option<String>,
    pub secondary: Option<String>,
    /// The local agent's guest acceleration (auto, kvm, qemu); default: `kvm.acceleration`.
    pub acceleration: Option<String>,
    /// The default zone's type, when it is created.
    pub zone_type: LocalZoneType,
}

async fn system_caller(ctx: &Ctx) -> Result<Caller> {
    let user = db::accounts::user_fetch(&ctx.pool, db::accounts::SYSTEM_USER)
        .await?
        .ok_or_else(|| Error::internal("the system user is missing"))?;
    Ok(Caller {
        user,
        session_id: None,
    })
}

/// Runs a command as the system user and answers the id of `object` in its reply
/// (for lists, the first item's).
async fn run(
    ctx: &Ctx,
    caller: &Caller,
    command: &str,
    pairs: &[(&str, &str)],
    object: &str,
) -> Result<Option<Uuid>> {
    let spec = stratus_api::command::find(command)
        .ok_or_else(|| Error::internal(format!("no command {command}")))?;
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let p = Params::from_pairs(command, &pairs);
    let body = crate::commands::run_now(ctx, caller, spec, &p)
        .await?
        .body();
    let item = match &body[object] {
        serde_json::Value::Array(a) => a.first().cloned().unwrap_or_default(),
        v => v.clone(),
    };
    Ok(item["id"].as_str().and_then(|s| s.parse().ok()))
}

/// The default zone, pod and cluster, created when missing. Returns their ids.
pub async fn ensure_topology(
    ctx: &Ctx,
    zone_type: LocalZoneType,
) -> Result<(ZoneId, PodId, ClusterId)> {
    let caller = system_caller(ctx).await?;
    let zone = match run(ctx, &caller, "listZones", &[("name", ZONE)], "zone").await? {
        Some(z) => z,
        None => {
            let dns = host_resolver().to_string();
            run(
                ctx,
                &caller,
                "createZone",
                &[
                    ("name", ZONE),
                    ("networktype", zone_type.network_type()),
                    ("dns1", &dns),
                    ("internaldns1", &dns),
                ],
                "zone",
            )
            .await?
            .ok_or_else(|| Error::internal("createZone answered no id"))?
        }
    };
    let z = zone.to_string();
    let have = db::topology::zone_fetch(&ctx.pool, zone.into())
        .await?
        .map(|z| z.network_type)
        .unwrap_or_default();
    let advanced = have == "Advanced";
    if have != zone_type.network_type() {
        tracing::warn!(
            zone = ZONE,
            "the default zone is {have} (it was created so); a zone keeps its type: \
             use a fresh data directory for a {} one",
            zone_type.network_type()
        );
    }
    if advanced {
        ensure_physical_network(ctx, &caller, &z).await?;
    }
    let pod = match run(
        ctx,
        &caller,
        "listPods",
        &[("zoneid", &z), ("name", POD)],
        "pod",
    )
    .await?
    {
        Some(p) => p,
        None => run(
            ctx,
            &caller,
            "createPod",
            &[
                ("zoneid", &z),
                ("name", POD),
                ("gateway", "192.168.250.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "192.168.250.10"),
                ("endip", "192.168.250.50"),
            ],
            "pod",
        )
        .await?
        .ok_or_else(|| Error::internal("createPod answered no id"))?,
    };
    let p = pod.to_string();
    // Guests of a Basic default zone: 192.168.251.10-200 on the host's cloudbr0, whose
    // address is the gateway (the machine routes for its guests). In an Advanced one the
    // same addresses are public: the routers' source NAT and the addresses tenants
    // associate, reachable from this machine.
    if run(
        ctx,
        &caller,
        "listVlanIpRanges",
        &[("zoneid", &z)],
        "vlaniprange",
    )
    .await?
    .is_none()
    {
        let mut range = vec![
            ("zoneid", z.as_str()),
            ("gateway", GUEST_GATEWAY),
            ("netmask", "255.255.255.0"),
            ("startip", "192.168.251.10"),
            ("endip", "192.168.251.200"),
        ];
        // A Basic zone's guest range is its pod's; a public range is the zone's.
        range.extend(if advanced {
            [("forvirtualnetwork", "true")].to_vec()
        } else {
            [("podid", p.as_str()), ("forvirtualnetwork", "false")].to_vec()
        });
        run(ctx, &caller, "createVlanIpRange", &range, "vlan").await?;
    }
    let cluster = match run(
        ctx,
        &caller,
        "listClusters",
        &[("podid", &p), ("name", CLUSTER)],
        "cluster",
    )
    .await?
    {
        Some(c) => c,
        None => run(
            ctx,
            &caller,
            "addCluster",
            &[
                ("zoneid", &z),
                ("podid", &p),
                ("clustername", CLUSTER),
                ("clustertype", "CloudManaged"),
                ("hypervisor", "KVM"),
            ],
            "cluster",
        )
        .await?
        .ok_or_else(|| Error::internal("addCluster answered no id"))?,
    };
    Ok((zone.into(), pod.into(), cluster.into()))
}

/// An Advanced default zone's physical network, made as an admin would when missing:
/// VXLAN ids [`LOCAL_VNI_RANGE`], every traffic type on [`LOCAL_LABEL`], enabled.
async fn ensure_physical_network(ctx: &Ctx, caller: &Caller, z: &str) -> Result<()> {
    if run(
        ctx,
        caller,
        "listPhysicalNetworks",
        &[("zoneid", z)],
        "physicalnetwork",
    )
    .await?
    .is_some()
    {
        return Ok(());
    }
    let pn = run(
        ctx,
        caller,
        "createPhysicalNetwork",
        &[
            ("zoneid", z),
            ("name", ZONE),
            ("isolationmethods", "VXLAN"),
            ("vlan", LOCAL_VNI_RANGE),
        ],
        "physicalnetwork",
    )
    .await?
    .ok_or_else(|| Error::internal("createPhysicalNetwork answered no id"))?
    .to_string();
    for traffic in ["Guest", "Public", "Management"] {
        run(
            ctx,
            caller,
            "addTrafficType",
            &[
                ("physicalnetworkid", &pn),
                ("traffictype", traffic),
                ("kvmnetworklabel", LOCAL_LABEL),
            ],
            "traffictype",
        )
        .await?;
    }
    run(
        ctx,
        caller,
        "updatePhysicalNetwork",
        &[("id", &pn), ("state", "Enabled")],
        "physicalnetwork",
    )
    .await?;
    Ok(())
}

/// The default zone's primary and secondary storage, registered when missing. Answers
/// whether the zone has both (given now or registered before).
async fn ensure_storage(
    ctx: &Ctx,
    caller: &Caller,
    zone: ZoneId,
    opts: &LocalHostOptions,
) -> Result<bool> {
    let z = zone.to_string();
    if let Some(url) = &opts.primary {
        if run(
            ctx,
            caller,
            "listStoragePools",
            &[("zoneid", &z), ("name", "default-primary")],
            "storagepool",
        )
        .await?
        .is_none()
        {
            run(
                ctx,
                caller,
                "createStoragePool",
                &[
                    ("zoneid", &z),
                    ("name", "default-primary"),
                    ("url", url),
                    ("scope", "zone"),
                ],
                "storagepool",
            )
            .await?;
        }
    }
    if let Some(url) = &opts.secondary {
        if run(
            ctx,
            caller,
            "listImageStores",
            &[("zoneid", &z), ("name", "default-secondary")],
            "imagestore",
        )
        .await?
        .is_none()
        {
            run(
                ctx,
                caller,
                "addImageStore",
                &[
                    ("zoneid", &z),
                    ("name", "default-secondary"),
                    ("url", url),
                    ("provider", "NFS"),
                ],
                "imagestore",
            )
            .await?;
        }
    }
    Ok(opts.primary.is_some() && opts.secondary.is_some())
}

/// Enables the default zone once its host is Up and it has primary and secondary storage,
/// so a tenant's first deploy is not refused ("the zone is disabled": only admins may
/// use a disabled zone). Only the first time: the `ZONE.ENABLE.LOCAL` event records it,
/// and a zone an admin disables later stays disabled across restarts.
async fn enable_zone_once(ctx: &Ctx, caller: &Caller, zone: ZoneId) -> Result<()> {
    const DONE: &str = "ZONE.ENABLE.LOCAL";
    if db::events::event_exists(&ctx.pool, DONE, zone.into()).await? {
        return Ok(());
    }
    let z = zone.to_string();
    run(
        ctx,
        caller,
        "updateZone",
        &[("id", &z), ("allocationstate", "Enabled")],
        "zone",
    )
    .await?;
    let mut tx = ctx.pool.begin().await?;
    crate::db::events::system_event(
        &mut tx,
        DONE,
        "INFO",
        format!(
            "zone {ZONE} enabled: its host (this machine) is Up and it has primary and \
             secondary storage"
        ),
        Some(EventResource::new(
            ResourceType::Zone,
            zone,
            ZONE.to_string(),
        )),
    )
    .await?;
    tx.commit().await?;
    tracing::info!("the default zone is enabled: its host is Up and its storage registered");
    Ok(())
}

/// The machine's first name server (what its guests are told to use), else loopback.
fn host_resolver() -> IpAddr {
    std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("nameserver")
                    .and_then(|a| a.trim().parse::<IpAddr>().ok())
            })
        })
        .filter(|a| a.is_ipv4())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// How long a local guest gets to shut down (ACPI) when the cloud stops, before it is
/// powered off.
const GUEST_SHUTDOWN_SECS: u64 = 10;

/// Stops this machine's guests before the embedded default stops: its NFS server (their
/// disks) and libvirtd go with it, and a guest left running would lose its storage under
/// it. All at once: each gets [`GUEST_SHUTDOWN_SECS`] to shut down, then is powered off.
/// They are marked to start again at the next start ([`resume_guests`]).
pub async fn stop_guests(ctx: &Ctx, host_id: HostId) {
    let vms = match db::vms::vm_running_on_host(&ctx.pool, host_id).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "listing this machine's VMs to stop them");
            return;
        }
    };
    if vms.is_empty() {
        return;
    }
    println!(
        "==> stopping {} VM(s) on this machine (up to {GUEST_SHUTDOWN_SECS} s; they start again with the cloud): {}",
        vms.len(),
        vms.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ")
    );
    let o = stratus_api::agent::PowerOptions {
        forced: false,
        timeout_secs: Some(GUEST_SHUTDOWN_SECS),
    };
    let mut stops = tokio::task::JoinSet::new();
    for (id, name) in vms {
        let ctx = ctx.clone();
        stops.spawn(async move {
            match crate::services::vms::stop_with(&ctx, id.into(), o).await {
                Ok(()) => {
                    if let Err(e) = db::vms::vm_set_resume(&ctx.pool, id.into(), true).await {
                        tracing::error!(vm = %name, error = %e, "marking a stopped VM to start again");
                    }
                }
                Err(e) => {
                    tracing::error!(vm = %name, error = %e, "stopping a VM before shutting down")
                }
            }
        });
    }
    while stops.join_next().await.is_some() {}
}

/// Stops this machine's routers (isolated networks' namespaces, each with a dnsmasq)
/// after its guests, before the agent: the embedded default's Ctrl-C stops everything it
/// started. Their addresses and rules stay recorded; they are marked to start again at
/// the next start ([`resume_routers`]), unlike a router an admin stopped.
pub async fn stop_routers(ctx: &Ctx, host_id: HostId) {
    let routers = match db::routers::routers_on_host(&ctx.pool, host_id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "listing this machine's routers to stop them");
            return;
        }
    };
    for r in routers.into_iter().filter(|r| r.state == "Running") {
        println!(
            "==> stopping router {} (it starts again with the cloud)",
            r.name
        );
        let stopped = match db::routers::router_set_resume(&ctx.pool, r.id, true).await {
            Ok(()) => crate::services::networks::router_stop(ctx, r.id).await,
            Err(e) => Err(e),
        };
        if let Err(e) = stopped {
            tracing::error!(router = %r.name, error = %e, "stopping a router before shutting down");
        }
    }
}

/// Starts the routers [`stop_routers`] stopped at the last shutdown, before the VMs
/// that need them.
async fn resume_routers(ctx: &Ctx) -> Result<()> {
    for r in db::routers::router_take_resumable(&ctx.pool).await? {
        if r.state != "Stopped" {
            continue;
        }
        tracing::info!(router = %r.name, "starting a router that was running when the cloud stopped");
        if let Err(e) = crate::services::networks::router_start(ctx, r.id).await {
            tracing::error!(router = %r.name, error = %e, "starting a router again");
        }
    }
    Ok(())
}

/// Starts the VMs [`stop_guests`] stopped at the last shutdown (as `startVirtualMachine`
/// jobs, so they show in the job list and events).
async fn resume_guests(ctx: &Ctx, caller: &Caller) -> Result<()> {
    for (id, name) in db::vms::vm_take_resumable(&ctx.pool).await? {
        tracing::info!(vm = %name, "starting a VM that was running when the cloud stopped");
        let id = id.to_string();
        if let Err(e) = run(ctx, caller, "startVirtualMachine", &[("id", &id)], "jobid").await {
            tracing::error!(vm = %name, error = %e, "starting a VM again");
        }
    }
    Ok(())
}

/// The local agent, supervised: restarted if it dies, stopped by [`LocalAgent::stop`] or
/// when this process exits (parent-death signal).
#[derive(Debug)]
pub struct LocalAgent {
    pid: Arc<AtomicI32>,
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalAgent {
    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::SeqCst)
    }

    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        crate::process::signal(self.pid(), libc::SIGTERM);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Registers this machine (127.0.0.1) as a host of the default cluster, or renews its
/// credentials if it is registered already, starts its agent and waits for it to be Up.
pub async fn start(ctx: &Ctx, opts: &LocalHostOptions) -> Result<(HostRow, LocalAgent)> {
    let (zone, pod, cluster) = ensure_topology(ctx, opts.zone_type).await?;
    let caller = system_caller(ctx).await?;
    let has_storage = ensure_storage(ctx, &caller, zone, opts).await?;
    let address = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (host, token) = match db::hosts::host_fetch_by_address(&ctx.pool, address.into()).await? {
        Some(h) => {
            // A restart: the old token is gone with the old agent; issue a new one.
            let token = crate::services::auth::random_token(32);
            db::hosts::host_set_token(&ctx.pool, h.id, &crate::services::hosts::hash_token(&token))
                .await?;
            (h, token)
        }
        None => {
            let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "localhost".into());
            crate::services::hosts::register(
                ctx,
                &caller.user,
                zone,
                pod,
                cluster,
                address,
                opts.agent_port,
                &name,
            )
            .await?
        }
    };
    let config = write_files(ctx, opts, &host, &token)?;
    let agent = spawn(opts, &config)?;
    if let Some(h) = crate::services::hosts::wait_for_report(ctx, host.id, host.last_pinged).await?
    {
        if has_storage {
            enable_zone_once(ctx, &caller, zone).await?;
        }
        resume_routers(ctx).await?;
        resume_guests(ctx, &caller).await?;
        return Ok((h, agent));
    }
    let log = std::fs::read_to_string(opts.dir.join("agent.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    agent.stop();
    Err(Error::internal(format!(
        "the local agent did not report in time; its log ({}) ends: {}",
        opts.dir.join("agent.log").display(),
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )))
}

fn write_private(path: &Path, data: &str, mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(data.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn write_files(ctx: &Ctx, opts: &LocalHostOptions, host: &HostRow, token: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(&opts.dir)?;
    let cert = ctx.pki.issue_agent(host.id, host.address.ip())?;
    let (crt, key, ca) = (
        opts.dir.join("agent.crt"),
        opts.dir.join("agent.key"),
        opts.dir.join("ca.crt"),
    );
    write_private(&ca, ctx.pki.ca_pem(), 0o644)?;
    write_private(&crt, &cert.cert_pem, 0o644)?;
    write_private(&key, &cert.key_pem, 0o600)?;
    let listen = ctx
        .listen
        .ok_or_else(|| Error::internal("the server's listen address is unknown"))?;
    let reach = if listen.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
    } else {
        listen
    };
    let uri = ctx.get(&settings::KVM_LIBVIRT_URI);
    let accel = opts
        .acceleration
        .clone()
        .unwrap_or_else(|| ctx.get(&settings::KVM_ACCELERATION));
    let props = crate::services::hosts::bootstrap::agent_properties(
        ctx,
        host,
        token,
        &format!("http://{reach}"),
        &uri,
        &accel,
        [
            &crt.display().to_string(),
            &key.display().to_string(),
            &ca.display().to_string(),
        ],
    );
    let config = opts.dir.join("agent.properties");
    write_private(&config, &props, 0o600)?;
    Ok(config)
}

fn spawn(opts: &LocalHostOptions, config: &Path) -> Result<LocalAgent> {
    let pid = Arc::new(AtomicI32::new(0));
    let stopping = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
    let (bin, config, log) = (
        opts.agent_binary.clone(),
        config.to_path_buf(),
        opts.dir.join("agent.log"),
    );
    let (pid2, stopping2) = (pid.clone(), stopping.clone());
    // The agent is spawned from this thread, which lives exactly as long as the
    // supervision: the parent-death signal fires when the spawning thread exits.
    let thread = std::thread::Builder::new()
        .name("local-agent".into())
        .spawn(move || {
            let mut first = Some(started_tx);
            loop {
                let child = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .and_then(|f| {
                        let mut cmd = Command::new(&bin);
                        cmd.arg("--config")
                            .arg(&config)
                            .stdin(Stdio::null())
                            .stdout(f.try_clone()?)
                            .stderr(f)
                            .process_group(0);
                        crate::process::set_parent_death_signal(&mut cmd, libc::SIGTERM);
                        cmd.spawn()
                    });
                let mut child = match child {
                    Ok(c) => c,
                    Err(e) => {
                        match first.take() {
                            Some(tx) => {
                                let _ = tx.send(Err(e));
                            }
                            None => tracing::error!(error = %e, "restarting the local agent"),
                        }
                        return;
                    }
                };
                pid2.store(child.id() as i32, Ordering::SeqCst);
                if let Some(tx) = first.take() {
                    let _ = tx.send(Ok(()));
                }
                let status = child.wait();
                if stopping2.load(Ordering::SeqCst) {
                    return;
                }
                tracing::warn!(?status, "the local agent exited; restarting it in 5 s");
                std::thread::sleep(Duration::from_secs(5));
                if stopping2.load(Ordering::SeqCst) {
                    return;
                }
            }
        })?;
    match started_rx.recv() {
        Ok(Ok(())) => Ok(LocalAgent {
            pid,
            stopping,
            thread: Some(thread),
        }),
        Ok(Err(e)) => Err(Error::internal(format!(
            "starting the local agent {}: {e}",
            opts.agent_binary.display()
        ))),
        Err(_) => Err(Error::internal("the local agent supervisor died")),
    }
}
