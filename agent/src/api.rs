//! The agent's command API: HTTPS with mutual TLS on :8250 (CloudStack's agent port).
//!
//! Why mutual TLS: this API will start and stop guests, so it must obey the management
//! servers only. The server certificate and the CA come from the management server at
//! `addHost` (over SSH); clients must present a certificate of that CA with the client-auth
//! usage, which only management servers get. A refused handshake is logged with the peer.
//!
//! Commands (paths in `stratus_api::agent::api`): VMs made so from a full spec, stopped,
//! rebooted, destroyed, ISOs inserted and ejected, their guest data (config drive:
//! [`crate::guest`]) replaced; guest networks (bridge + dnsmasq with static leases, and
//! the metadata and password services on the bridge's address: [`crate::metadata`]); the
//! guests' security groups (nftables: [`crate::firewall`]). libvirt and the network commands block, so they run on the blocking
//! pool; commands on one VM run one at a time, in arrival order. Errors answer
//! `{"error": "..."}` with a status saying whose fault it is (400 bad request, 404 no such
//! VM, 409 conflict, 422 a disk or ISO missing on its NFS server, 500 the host).
//!
//! **The console tunnel** (`GET /v1/vms/{id}/console`): a VM's VNC server listens on the
//! host's 127.0.0.1 only, so the management server (which proxies it to the browser as a
//! WebSocket) reaches it through this API. The request asks for an HTTP/1.1 upgrade to
//! `stratus-vnc`; the agent checks the VM runs, connects to its VNC port, answers `101`
//! and splices the two byte streams until either side closes. Why a plain `Upgrade:`
//! tunnel rather than a WebSocket: both ends are our own programs, RFB is already a byte
//! stream, and the management server frames it for the browser anyway, so WebSocket
//! framing here would be work and a dependency for nothing; the upgrade keeps the
//! connection's mutual TLS (only management servers get a tunnel) and lets every refusal
//! be an ordinary HTTP answer (404 no such VM, 409 not running) before any byte flows.
//! A tunnel does not take the VM's command lock, so commands and consoles never wait for
//! each other.
//!
//! **Deadlines.** A VM command may carry the caller's time budget
//! ([`paths::DEADLINE_HEADER`]). libvirt calls cannot be cancelled, so when the budget runs
//! out the agent answers `504` at once and lets the call finish in the background, still
//! holding the VM's lock; if it was a `PUT` that succeeded late, the domain it made is
//! destroyed then. A caller that gave up (and unwound its deploy) never finds, later, a
//! domain it was not given — the case the management server's reconciler also catches.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use stratus_api::agent::api as paths;
use stratus_api::agent::migration::{self, Incoming, IncomingReady, MigrateVm, VmMigrated};
use stratus_api::agent::vm_snapshots::{
    self, CreateVmSnapshot, DeleteVmSnapshot, RevertVmSnapshot, VmSnapshotDeleted, VmSnapshotTaken,
};
use stratus_api::agent::{
    AgentError, DomainState, GuestData, GuestNetwork, HostRuleSet, NetworkRemoved, NetworkStatus,
    NfsFile, PowerOptions, RuleSetApplied, VmDestroyed, VmSpec, VmStatus, VmStopped,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::ApiConfig;
use crate::error::{Error, Result};
use crate::firewall::Firewall;
use crate::guest::GuestStore;
use crate::heartbeat::Reporter;
use crate::hypervisor::Hypervisor;
use crate::metadata::{MetadataServers, RouterServices};
use crate::network::Networks;
use crate::router::Routers;
use stratus_api::router::{
    api as router_paths, GuestSegment, RouterRemoved, RouterSpec, RouterStatus, SegmentRemoved,
    SegmentStatus,
};
use uuid::Uuid;

fn tls_err(what: &Path, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("{}: {e}", what.display()))
}

/// The TLS configuration: our certificate and key, clients of our CA only.
pub fn tls_config(api: &ApiConfig) -> Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(&api.cert)
        .map_err(|e| tls_err(&api.cert, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_err(&api.cert, e))?;
    let key = PrivateKeyDer::from_pem_file(&api.key).map_err(|e| tls_err(&api.key, e))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&api.ca).map_err(|e| tls_err(&api.ca, e))? {
        roots
            .add(c.map_err(|e| tls_err(&api.ca, e))?)
            .map_err(|e| tls_err(&api.ca, e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls_err(&api.ca, e))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_client_cert_verifier(Arc::new(NoHostClients(verifier)))
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(&api.cert, e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Client certificates of the cloud's CA, except hosts' libvirt certificates: those have
/// client use too (a source host's libvirtd presents one to the destination's during a
/// live migration), but another host must never command this agent. They are told apart
/// by their common name ([`migration::CERT_CN_PREFIX`]), which only the CA writes.
#[derive(Debug)]
struct NoHostClients(Arc<dyn rustls::server::danger::ClientCertVerifier>);

/// Whether a certificate's subject has a common name starting with
/// [`migration::CERT_CN_PREFIX`]. A certificate that does not parse counts as a host's:
/// the chain verifier has already accepted it, so this only refuses, never admits.
fn is_host_libvirt_cert(der: &[u8]) -> bool {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => cert.subject().iter_common_name().any(|cn| {
            cn.as_str()
                .is_ok_and(|cn| cn.starts_with(migration::CERT_CN_PREFIX))
        }),
        Err(_) => true,
    }
}

impl rustls::server::danger::ClientCertVerifier for NoHostClients {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        let ok = self.0.verify_client_cert(end_entity, intermediates, now)?;
        if is_host_libvirt_cert(end_entity.as_ref()) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(ok)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// What the command API serves from.
pub struct AgentState {
    pub reporter: Arc<Reporter>,
    pub hv: Arc<dyn Hypervisor>,
    pub networks: Arc<Networks>,
    /// VMs' guest data and config drives.
    pub guests: Arc<GuestStore>,
    /// The metadata and password services of the guest networks.
    pub metadata: Arc<MetadataServers>,
    /// The guests' security groups (nftables).
    pub firewall: Arc<Firewall>,
    /// The virtual routers of isolated networks (namespaces) and the VLAN bridges.
    pub routers: Arc<Routers>,
    /// The routers' metadata and password services.
    pub router_services: Arc<RouterServices>,
    /// One lock per VM: its commands run one at a time.
    vm_locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl AgentState {
    pub fn new(
        reporter: Arc<Reporter>,
        hv: Arc<dyn Hypervisor>,
        networks: Arc<Networks>,
        guests: Arc<GuestStore>,
        metadata: Arc<MetadataServers>,
        firewall: Arc<Firewall>,
        routers: Arc<Routers>,
    ) -> Arc<AgentState> {
        Arc::new(AgentState {
            reporter,
            hv,
            networks,
            guests,
            metadata,
            firewall,
            router_services: Arc::new(RouterServices::new(routers.dir())),
            routers,
            vm_locks: Mutex::new(HashMap::new()),
        })
    }

    async fn lock_vm(&self, id: Uuid) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.vm_locks.lock().unwrap_or_else(|p| p.into_inner());
            // Forget the locks nobody holds or waits for.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(id).or_default().clone()
        };
        m.lock_owned().await
    }
}

pub fn router(state: Arc<AgentState>) -> Router {
    Router::new()
        .route(paths::FACTS, get(facts))
        .route(paths::RECONNECT, post(reconnect))
        .route(paths::VM, put(vm_apply).get(vm_get).delete(vm_destroy))
        .route(paths::VM_STOP, post(vm_stop))
        .route(paths::VM_REBOOT, post(vm_reboot))
        .route(paths::VM_ISO, post(vm_iso_insert).delete(vm_iso_eject))
        .route(paths::VM_GUEST, put(vm_guest))
        .route(paths::VM_CONSOLE, get(vm_console))
        .route(paths::VM_DISKS, post(vm_disk_attach))
        .route(paths::VM_DISK, delete(vm_disk_detach))
        .route(paths::VM_DISK_SIZE, put(vm_disk_resize))
        .route(paths::NETWORK, put(network_apply).delete(network_remove))
        .route(
            router_paths::ROUTER,
            put(router_apply).get(router_get).delete(router_remove),
        )
        .route(router_paths::ROUTER_GUEST, put(router_guest))
        .route(router_paths::SEGMENTS, put(segment_ensure))
        .route(router_paths::SEGMENT, delete(segment_remove))
        .route(
            paths::SECURITY_GROUPS,
            put(security_groups_apply).get(security_groups_get),
        )
        .route(migration::VM_INCOMING, put(vm_incoming))
        .route(migration::VM_MIGRATE, post(vm_migrate))
        .route(
            stratus_api::agent::volume_snapshots::VM_DISK_BACKUP,
            post(vm_disk_backup),
        )
        // VM snapshots (issue 16)
        .route(vm_snapshots::VM_SNAPSHOTS, post(vm_snapshot_create))
        .route(vm_snapshots::VM_SNAPSHOT_REVERT, post(vm_snapshot_revert))
        .route(vm_snapshots::VM_SNAPSHOT_DELETE, post(vm_snapshot_delete))
        .with_state(state)
}

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(AgentError { error: self.1 })).into_response()
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let status = match &e {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Storage(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(error = %e, "command failed");
        }
        Failure(status, e.to_string())
    }
}

type Answer<T> = std::result::Result<Json<T>, Failure>;

/// Runs blocking work (libvirt, `ip`, dnsmasq) on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Answer<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map(Json).map_err(Failure::from),
        Err(e) => Err(Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("command task: {e}"),
        )),
    }
}

/// A JSON body; an empty one is `T::default()` where `default` is given.
fn body<T: serde::de::DeserializeOwned>(
    bytes: &Bytes,
    default: Option<T>,
) -> std::result::Result<T, Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if let Some(d) = default {
            return Ok(d);
        }
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

fn vm_id(raw: &str) -> std::result::Result<Uuid, Failure> {
    Uuid::parse_str(raw)
        .map_err(|_| Failure(StatusCode::BAD_REQUEST, format!("'{raw}' is not a VM id")))
}

/// The caller's budget from [`paths::DEADLINE_HEADER`] (at most a day), if it sent one.
fn budget(headers: &HeaderMap) -> std::result::Result<Option<Duration>, Failure> {
    let Some(v) = headers.get(paths::DEADLINE_HEADER) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map(|ms| Some(Duration::from_millis(ms.min(86_400_000))))
        .ok_or_else(|| {
            Failure(
                StatusCode::BAD_REQUEST,
                format!(
                    "{} must be a number of milliseconds",
                    paths::DEADLINE_HEADER
                ),
            )
        })
}

fn late(budget: Duration, what: &str) -> Failure {
    Failure(
        StatusCode::GATEWAY_TIMEOUT,
        format!(
            "the host did not finish within {:.1} s ({what}); what it was doing is undone when it returns",
            budget.as_secs_f64()
        ),
    )
}

/// What undoes a VM command that finished after its caller's deadline.
type Undo = fn(&dyn Hypervisor, Uuid) -> Result<()>;

/// Runs `f` on the VM named by the path, after the commands on it that came first,
/// within the caller's `budget` (see the module's "Deadlines"). `undo` reverts a late
/// success.
async fn on_vm<T: Send + 'static>(
    s: &AgentState,
    raw_id: &str,
    budget: Option<Duration>,
    undo: Option<Undo>,
    f: impl FnOnce(&dyn Hypervisor, Uuid) -> Result<T> + Send + 'static,
) -> Answer<T> {
    let id = vm_id(raw_id)?;
    let started = Instant::now();
    let guard = match budget {
        None => s.lock_vm(id).await,
        Some(b) => tokio::time::timeout(b, s.lock_vm(id))
            .await
            .map_err(|_| late(b, "waiting for the VM's earlier commands"))?,
    };
    let hv = s.hv.clone();
    let hv_undo = hv.clone();
    let mut task = tokio::task::spawn_blocking(move || f(hv.as_ref(), id));
    let joined = match budget {
        None => (&mut task).await,
        Some(b) => match tokio::time::timeout(b.saturating_sub(started.elapsed()), &mut task).await
        {
            Ok(j) => j,
            Err(_) => {
                tokio::spawn(async move {
                    let done = task.await;
                    if let (Some(undo), Ok(Ok(_))) = (undo, &done) {
                        tracing::warn!(vm = %id, "a command finished after its caller's deadline: undoing it");
                        match tokio::task::spawn_blocking(move || undo(hv_undo.as_ref(), id)).await
                        {
                            Ok(Ok(())) => tracing::info!(vm = %id, "late command undone"),
                            Ok(Err(e)) => {
                                tracing::error!(vm = %id, error = %e, "undoing a late command")
                            }
                            Err(e) => {
                                tracing::error!(vm = %id, error = %e, "undoing a late command")
                            }
                        }
                    }
                    drop(guard);
                });
                return Err(late(b, "libvirt is still working on it"));
            }
        },
    };
    drop(guard);
    match joined {
        Ok(r) => r.map(Json).map_err(Failure::from),
        Err(e) => Err(Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("command task: {e}"),
        )),
    }
}

/// Undoes a late `PUT`: the domain goes.
fn undo_apply(hv: &dyn Hypervisor, id: Uuid) -> Result<()> {
    hv.destroy_vm(id).map(|_| ())
}

async fn vm_apply(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmStatus> {
    let spec: VmSpec = body(&bytes, None)?;
    if spec.id != vm_id(&id)? {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            format!("the spec is for VM {}, the path names {id}", spec.id),
        ));
    }
    let guests = s.guests.clone();
    on_vm(
        &s,
        &id,
        budget(&headers)?,
        Some(undo_apply),
        move |hv, id| {
            spec.validate().map_err(Error::Invalid)?;
            // The drive first (a new file when its data changed), then the domain with it.
            let drive = match &spec.guest {
                Some(g) => {
                    let macs: Vec<String> = spec.nics.iter().map(|n| n.mac.clone()).collect();
                    Some(guests.prepare(id, g, &macs)?)
                }
                None => None,
            };
            let status = match hv.apply_vm(&spec, drive.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    // A VM that could not be made leaves no guest data behind.
                    if drive.is_some() && matches!(hv.vm_status(id), Ok(None)) {
                        let _ = guests.remove(id);
                    }
                    return Err(e);
                }
            };
            if drive.is_some() {
                guests.prune(id);
            } else {
                guests.remove(id)?;
            }
            Ok(status)
        },
    )
    .await
}

/// `PUT /v1/vms/{id}/guest`: the VM's config drive rebuilt from new guest data (a media
/// change when it runs), and the services answer from it.
async fn vm_guest(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmStatus> {
    let g: GuestData = body(&bytes, None)?;
    g.validate()
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, e))?;
    let guests = s.guests.clone();
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        if hv.vm_status(id)?.is_none() {
            return Err(Error::NotFound(format!("no VM {id} on this host")));
        }
        let drive = guests.prepare(id, &g, &guests.macs(id))?;
        let status = hv.set_config_drive(id, &drive)?;
        guests.prune(id);
        Ok(status)
    })
    .await
}

async fn vm_get(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
) -> Answer<VmStatus> {
    // A read: it does not wait for the VM's commands in progress.
    let id = vm_id(&id)?;
    let hv = s.hv.clone();
    blocking(move || {
        hv.vm_status(id)?
            .ok_or_else(|| Error::NotFound(format!("no VM {id} on this host")))
    })
    .await
}

async fn vm_stop(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmStopped> {
    let opts: PowerOptions = body(&bytes, Some(PowerOptions::default()))?;
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        hv.stop_vm(id, opts)
    })
    .await
}

async fn vm_reboot(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmStatus> {
    let opts: PowerOptions = body(&bytes, Some(PowerOptions::default()))?;
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        hv.reboot_vm(id, opts)
    })
    .await
}

async fn vm_destroy(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Answer<VmDestroyed> {
    let guests = s.guests.clone();
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        let d = hv.destroy_vm(id)?;
        // Its config drive and guest data go with it (also when the domain was gone).
        guests.remove(id)?;
        Ok(d)
    })
    .await
}

async fn vm_iso_insert(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmStatus> {
    let iso: NfsFile = body(&bytes, None)?;
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        hv.set_iso(id, Some(&iso))
    })
    .await
}

async fn vm_iso_eject(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Answer<VmStatus> {
    on_vm(&s, &id, budget(&headers)?, None, |hv, id| {
        hv.set_iso(id, None)
    })
    .await
}

// --- Data volumes (issue 16) -----------------------------------------------------------

async fn vm_disk_attach(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmStatus> {
    let disk: stratus_api::agent::DataDisk = body(&bytes, None)?;
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        hv.attach_disk(id, &disk)
    })
    .await
}

async fn vm_disk_resize(
    State(s): State<Arc<AgentState>>,
    UrlPath((id, device)): UrlPath<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmStatus> {
    let device = device_id(&device)?;
    let size: stratus_api::agent::DiskSize = body(&bytes, None)?;
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        hv.resize_disk(id, device, size.bytes)
    })
    .await
}

/// A data disk's device id from the path.
fn device_id(device: &str) -> Result<u32, Failure> {
    device.parse().map_err(|_| {
        Failure(
            StatusCode::BAD_REQUEST,
            format!(
                "'{}' is not a device id",
                stratus_api::params::shown(device)
            ),
        )
    })
}

/// How long a guest may take to release a disk without a caller's deadline.
const DETACH_WAIT: Duration = Duration::from_secs(30);

async fn vm_disk_detach(
    State(s): State<Arc<AgentState>>,
    UrlPath((id, device)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Answer<VmStatus> {
    let device = device_id(&device)?;
    let b = budget(&headers)?;
    // The guest's time to release the disk, within the caller's deadline: a margin is
    // left for libvirt's own wait inside the detach call (QEMU's driver waits some
    // seconds for the device to go) and to answer that it did not.
    let wait = b.map_or(DETACH_WAIT, |b| b.saturating_sub(Duration::from_secs(10)));
    on_vm(&s, &id, b, None, move |hv, id| {
        hv.detach_disk(id, device, wait)
    })
    .await
}

// --- VM snapshots (issue 16) -------------------------------------------------------------

fn snapshot_name(name: &str) -> std::result::Result<(), Failure> {
    vm_snapshots::validate_name(name).map_err(|e| Failure(StatusCode::BAD_REQUEST, e))
}

async fn vm_snapshot_create(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmSnapshotTaken> {
    let c: CreateVmSnapshot = body(&bytes, None)?;
    snapshot_name(&c.name)?;
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        let xml = hv.create_vm_snapshot(id, &c.name, c.description.as_deref())?;
        Ok(VmSnapshotTaken { xml })
    })
    .await
}

async fn vm_snapshot_revert(
    State(s): State<Arc<AgentState>>,
    UrlPath((id, name)): UrlPath<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmStatus> {
    let r: RevertVmSnapshot = body(&bytes, None)?;
    snapshot_name(&name)?;
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        hv.revert_vm_snapshot(id, &name, &r.xml)
    })
    .await
}

async fn vm_snapshot_delete(
    State(s): State<Arc<AgentState>>,
    UrlPath((id, name)): UrlPath<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmSnapshotDeleted> {
    let r: DeleteVmSnapshot = body(&bytes, None)?;
    snapshot_name(&name)?;
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        let existed = hv.delete_vm_snapshot(id, &name, r.xml.as_deref(), r.metadata_only)?;
        Ok(VmSnapshotDeleted { existed })
    })
    .await
}

/// Whether the request asks for the console tunnel (`Connection: upgrade`,
/// `Upgrade: stratus-vnc`).
fn wants_console_upgrade(headers: &axum::http::HeaderMap) -> bool {
    use axum::http::header::{CONNECTION, UPGRADE};
    let has_token = |name, want: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
        })
    };
    has_token(CONNECTION, "upgrade") && has_token(UPGRADE, paths::CONSOLE_UPGRADE)
}

/// `GET /v1/vms/{id}/console` with an upgrade to `stratus-vnc`: the VM's VNC server as a
/// byte stream (see the module's documentation).
async fn vm_console(
    State(s): State<Arc<AgentState>>,
    UrlPath(raw_id): UrlPath<String>,
    mut req: axum::extract::Request,
) -> std::result::Result<Response, Failure> {
    use axum::http::header::{CONNECTION, UPGRADE};
    if !wants_console_upgrade(req.headers()) {
        let mut r = Failure(
            StatusCode::UPGRADE_REQUIRED,
            format!(
                "the console is a tunnel: send Connection: upgrade and Upgrade: {}",
                paths::CONSOLE_UPGRADE
            ),
        )
        .into_response();
        r.headers_mut().insert(
            UPGRADE,
            axum::http::HeaderValue::from_static(paths::CONSOLE_UPGRADE),
        );
        return Ok(r);
    }
    let id = vm_id(&raw_id)?;
    let hv = s.hv.clone();
    let Json(status) = blocking(move || {
        hv.vm_status(id)?
            .ok_or_else(|| Error::NotFound(format!("no VM {id} on this host")))
    })
    .await?;
    let state = serde_json::to_value(status.state).unwrap_or_default();
    let port = match (status.state, status.vnc_port) {
        (DomainState::Running, Some(p)) => p,
        (DomainState::Running, None) => {
            return Err(Failure(
                StatusCode::CONFLICT,
                format!("VM {id} has no VNC console"),
            ))
        }
        _ => {
            return Err(Failure(
                StatusCode::CONFLICT,
                format!(
                    "VM {id} is {}: its console is there only while it runs",
                    state.as_str().unwrap_or("not running")
                ),
            ))
        }
    };
    let vnc = tokio::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| {
            tracing::warn!(vm = %id, port, error = %e, "the VM's VNC server does not answer");
            Failure(
                StatusCode::BAD_GATEWAY,
                format!("the VNC server of VM {id} (127.0.0.1:{port}) does not answer: {e}"),
            )
        })?;
    let _ = vnc.set_nodelay(true);
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let mut vnc = vnc;
        match upgrade.await {
            Ok(up) => {
                tracing::info!(vm = %id, port, "console tunnel open");
                let mut up = TokioIo::new(up);
                match tokio::io::copy_bidirectional(&mut up, &mut vnc).await {
                    Ok((to_vnc, from_vnc)) => {
                        tracing::info!(vm = %id, to_vnc, from_vnc, "console tunnel closed")
                    }
                    Err(e) => tracing::info!(vm = %id, error = %e, "console tunnel ended"),
                }
            }
            Err(e) => tracing::warn!(vm = %id, error = %e, "console upgrade failed"),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, paths::CONSOLE_UPGRADE)
        .body(axum::body::Body::empty())
        .unwrap_or_default())
}

// Live migration (issue 16; see `stratus_api::agent::migration`).

/// `PUT /v1/vms/{id}/incoming` on the destination: the VM's config drive made here
/// before the VM arrives.
async fn vm_incoming(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<IncomingReady> {
    let inc: Incoming = body(&bytes, None)?;
    if let Some(g) = &inc.guest {
        g.validate()
            .map_err(|e| Failure(StatusCode::BAD_REQUEST, e))?;
    }
    let guests = s.guests.clone();
    on_vm(&s, &id, budget(&headers)?, None, move |_hv, id| {
        let drive = match &inc.guest {
            Some(g) => Some(guests.prepare(id, g, &[])?),
            None => None,
        };
        Ok(IncomingReady {
            config_drive: drive.map(|p| p.display().to_string()),
        })
    })
    .await
}

/// `POST /v1/vms/{id}/migrate` on the source: the running VM moves to the destination;
/// its guest data here goes once it runs there.
async fn vm_migrate(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<VmMigrated> {
    let m: MigrateVm = body(&bytes, None)?;
    m.validate()
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, e))?;
    let guests = s.guests.clone();
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        let started = Instant::now();
        let drive = m.config_drive.as_ref().map(std::path::PathBuf::from);
        let live = hv.migrate_vm(id, &migration::libvirt_uri(m.destination), drive.as_deref())?;
        if let Err(e) = guests.remove(id) {
            tracing::warn!(vm = %id, error = %e, "removing a migrated VM's guest data");
        }
        Ok(VmMigrated {
            destination: m.destination,
            elapsed_ms: started.elapsed().as_millis() as u64,
            live,
        })
    })
    .await
}

async fn network_apply(
    State(s): State<Arc<AgentState>>,
    UrlPath(bridge): UrlPath<String>,
    bytes: Bytes,
) -> Answer<NetworkStatus> {
    let net: GuestNetwork = body(&bytes, None)?;
    if net.bridge != bridge {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            format!(
                "the network is for bridge {}, the path names {bridge}",
                net.bridge
            ),
        ));
    }
    let n = s.networks.clone();
    let address = net.bridge_address();
    let status = blocking(move || n.apply(&net)).await?;
    // The metadata and password services on the bridge's address. A failure to listen
    // leaves DHCP working (config drives too): it is logged, not answered.
    if let Err(e) = s.metadata.ensure(&bridge, address).await {
        tracing::warn!(%bridge, %address, error = %e, "the metadata services cannot listen");
    }
    Ok(status)
}

async fn network_remove(
    State(s): State<Arc<AgentState>>,
    UrlPath(bridge): UrlPath<String>,
) -> Answer<NetworkRemoved> {
    s.metadata.stop(&bridge);
    let n = s.networks.clone();
    blocking(move || {
        Ok(NetworkRemoved {
            existed: n.remove(&bridge)?,
        })
    })
    .await
}

/// `PUT /v1/routers/{name}`: make the virtual router so ([`crate::router`]).
async fn router_apply(
    State(s): State<Arc<AgentState>>,
    UrlPath(name): UrlPath<String>,
    bytes: Bytes,
) -> Answer<RouterStatus> {
    let spec: RouterSpec = body(&bytes, None)?;
    if spec.name != name {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            format!("the spec is of router {}, the path names {name}", spec.name),
        ));
    }
    // The router, then its metadata and password services on its gateway.
    Ok(Json(s.router_services.apply(&s.routers, &spec).await?))
}

async fn router_get(
    State(s): State<Arc<AgentState>>,
    UrlPath(name): UrlPath<String>,
) -> Answer<RouterStatus> {
    let r = s.routers.clone();
    let n = name.clone();
    let Json(mut status) = blocking(move || r.status(&n)).await?;
    status.guests = s.router_services.guests(&name).await;
    Ok(Json(status))
}

/// `PUT /v1/routers/{name}/guests/{id}`: a VM's guest data for the router's metadata
/// and password services ([`RouterServices`]).
async fn router_guest(
    State(s): State<Arc<AgentState>>,
    UrlPath((name, id)): UrlPath<(String, String)>,
    bytes: Bytes,
) -> Answer<RouterStatus> {
    let id = vm_id(&id)?;
    let guest: GuestData = body(&bytes, None)?;
    let r = s.routers.clone();
    let n = name.clone();
    let Json(mut status) = blocking(move || r.status(&n)).await?;
    if !s.router_services.has(&name).await {
        // Known to the router code (its spec is stored) but not serving: e.g. the
        // services failed to start with the agent.
        let (r, n) = (s.routers.clone(), name.clone());
        if let Ok(Some(spec)) = tokio::task::spawn_blocking(move || r.read_spec(&n)).await {
            s.router_services.ensure(&spec).await?;
        }
    }
    status.guests = s.router_services.put_guest(&name, id, &guest).await?;
    Ok(Json(status))
}

async fn router_remove(
    State(s): State<Arc<AgentState>>,
    UrlPath(name): UrlPath<String>,
) -> Answer<RouterRemoved> {
    let existed = s.router_services.remove_router(&s.routers, &name).await?;
    Ok(Json(RouterRemoved { existed }))
}

/// `PUT /v1/segments`: a guest segment's bridge (untagged, VLAN or VXLAN), made so
/// ([`crate::segment`]).
async fn segment_ensure(State(s): State<Arc<AgentState>>, bytes: Bytes) -> Answer<SegmentStatus> {
    let seg: GuestSegment = body(&bytes, None)?;
    let r = s.routers.clone();
    blocking(move || r.ensure_segment(&seg)).await
}

/// `DELETE /v1/segments/{bridge}`: the segment's bridge and device, if the agent made
/// them and nothing else is attached.
async fn segment_remove(
    State(s): State<Arc<AgentState>>,
    UrlPath(bridge): UrlPath<String>,
) -> Answer<SegmentRemoved> {
    let r = s.routers.clone();
    blocking(move || r.remove_segment(&bridge)).await
}

/// `PUT /v1/security-groups`: the host's whole guest filter ([`crate::firewall`]).
async fn security_groups_apply(
    State(s): State<Arc<AgentState>>,
    bytes: Bytes,
) -> Answer<RuleSetApplied> {
    let set: HostRuleSet = body(&bytes, None)?;
    set.validate()
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, e))?;
    let f = s.firewall.clone();
    blocking(move || f.apply(&set)).await
}

async fn security_groups_get(State(s): State<Arc<AgentState>>) -> Answer<RuleSetApplied> {
    Ok(Json(s.firewall.applied()))
}

async fn facts(
    State(s): State<Arc<AgentState>>,
) -> std::result::Result<Json<serde_json::Value>, (StatusCode, String)> {
    let hb = s
        .reporter
        .collect()
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(serde_json::to_value(hb).unwrap_or_default()))
}

async fn reconnect(
    State(s): State<Arc<AgentState>>,
) -> std::result::Result<Json<serde_json::Value>, (StatusCode, String)> {
    let (_, ack) = s
        .reporter
        .beat()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok(Json(serde_json::to_value(ack).unwrap_or_default()))
}

/// Binds the API's address (failing early with a clear error).
pub async fn bind(listen: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Config(format!("listening on {listen} for the command API: {e}")))
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "refused a connection to the command API");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let svc = TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .with_upgrades()
                .await
            {
                tracing::debug!(%peer, error = %e, "command API connection");
            }
        });
    }
}

// --- Volume snapshots (issue 16) -------------------------------------------------------

/// `POST /v1/vms/{id}/disk-backup`: the VM paused, its volume copied to secondary
/// storage, the VM resumed (see `stratus_api::agent::volume_snapshots`). The resume is in
/// the same blocking call as the pause, so it happens whatever the copy does, and a
/// copy that outlasts `max_pause_secs` is killed.
async fn vm_disk_backup(
    State(s): State<Arc<AgentState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer<stratus_api::agent::volume_snapshots::DiskBackedUp> {
    use stratus_api::agent::volume_snapshots::{DiskBackedUp, DiskBackup, DEFAULT_MAX_PAUSE_SECS};
    let b: DiskBackup = body(&bytes, None)?;
    b.validate()
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, e))?;
    on_vm(&s, &id, budget(&headers)?, None, move |hv, id| {
        let max = Duration::from_secs(b.max_pause_secs.unwrap_or(DEFAULT_MAX_PAUSE_SECS));
        let paused = hv.pause_vm(id)?;
        let started = Instant::now();
        let copied = copy_while_paused(&b, max);
        let paused_ms = started.elapsed().as_millis() as u64;
        if paused {
            hv.resume_vm(id)?;
            tracing::info!(vm = %id, paused_ms, "VM resumed after its volume's copy");
        }
        copied?;
        flatten_copy(&b, max)?;
        Ok(DiskBackedUp {
            was_running: paused,
            paused_ms: if paused { paused_ms } else { 0 },
        })
    })
    .await
}

/// The part of a volume's copy made while its VM is paused: the volume as it is at that
/// instant. A standalone volume: `qemu-img convert -U` into a standalone qcow2 at the
/// target. An overlay on a template (a root volume): its file, byte for byte (QEMU 7.2's
/// NFS driver cannot open a relative backing name, and the image in use must not be
/// rewritten), which [`flatten_copy`] then makes standalone once the VM runs again. Each
/// `qemu-img` is killed after `max`.
fn copy_while_paused(
    b: &stratus_api::agent::volume_snapshots::DiskBackup,
    max: Duration,
) -> Result<()> {
    let (source, target) = (b.source.url(), b.target.url());
    let format = if b.backing.is_some() { "raw" } else { "qcow2" };
    qemu_img(
        &[
            "convert", "-U", "-q", "-f", format, "-O", format, &source, &target,
        ],
        &format!("copying {source} to {target}"),
        max,
    )
}

/// After [`copy_while_paused`] of an overlay: the copy (no one else's file) is pointed
/// at its base by full URL, then rebased onto nothing, which writes the base's data into
/// it: a standalone qcow2 of the volume at the paused instant (the base never changes).
fn flatten_copy(b: &stratus_api::agent::volume_snapshots::DiskBackup, max: Duration) -> Result<()> {
    let Some(base) = &b.backing else {
        return Ok(());
    };
    let (target, base) = (b.target.url(), base.url());
    let what = format!("making the copy {target} of an overlay standalone");
    qemu_img(
        &[
            "rebase", "-u", "-f", "qcow2", "-b", &base, "-F", "qcow2", &target,
        ],
        &what,
        max,
    )?;
    qemu_img(
        &["rebase", "-q", "-f", "qcow2", "-b", "", &target],
        &what,
        max,
    )
}

/// Runs `qemu-img` with `args`; its error (the first 4 KiB of what it said) names `what`;
/// killed after `max`.
fn qemu_img(args: &[&str], what: &str, max: Duration) -> Result<()> {
    let mut child = std::process::Command::new("qemu-img")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Host(format!("running qemu-img: {e} (is qemu-utils installed?)")))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.by_ref().take(4096).read_to_string(&mut err);
                }
                if status.success() {
                    return Ok(());
                }
                return Err(Error::Storage(format!(
                    "{what}: qemu-img {}: {}",
                    args.first().copied().unwrap_or_default(),
                    err.trim()
                )));
            }
            Ok(None) if started.elapsed() > max => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Storage(format!(
                    "{what} did not finish within {} s: stopped",
                    max.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(Error::Host(format!("waiting for qemu-img: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Method, Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    struct Fixture {
        app: Router,
        guests_dir: std::path::PathBuf,
        _dir: tempfile::TempDir,
    }

    fn fixture() -> Fixture {
        let (uri, dir) = crate::hypervisor::private_test_driver();
        let props = crate::config::parse_properties(&format!(
            "host_id=6f1b3a4e-0000-4000-8000-000000000001\ntoken=t\nmanagement_urls=http://127.0.0.1:9\nlibvirt_uri={uri}\n"
        ));
        let cfg = crate::config::AgentConfig::from_properties(&props, &HashMap::new()).unwrap();
        let hv: Arc<dyn Hypervisor> = Arc::new(crate::hypervisor::Libvirt::new(&uri));
        let reporter = Arc::new(Reporter::new(cfg, hv.clone()).unwrap());
        let networks = Arc::new(Networks::new(dir.path().join("networks")));
        let guests = Arc::new(GuestStore::open(dir.path().join("guests"), "kvm1"));
        let metadata = Arc::new(MetadataServers::new(networks.clone(), guests.clone()));
        let firewall = Arc::new(Firewall::simulated(dir.path().join("firewall"), "kvm1"));
        let routers = Arc::new(Routers::new(dir.path().join("routers")));
        Fixture {
            app: router(AgentState::new(
                reporter, hv, networks, guests, metadata, firewall, routers,
            )),
            guests_dir: dir.path().join("guests"),
            _dir: dir,
        }
    }

    async fn call(
        app: &Router,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            ))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    fn spec(id: Uuid) -> serde_json::Value {
        serde_json::json!({
            "id": id, "name": "i-2-9-VM", "vcpus": 1, "cpu_mhz": 500, "memory_mib": 128,
            "acceleration": "qemu",
            "root_disk": {
                "file": {"server": "10.231.250.2", "export": "/export", "path": "ROOT-9.qcow2"},
                "format": "qcow2", "virtual_size_bytes": 1073741824u64
            },
            "nics": [{"mac": "52:54:00:00:00:09", "bridge": "cloudbr0"}]
        })
    }

    #[tokio::test]
    async fn vm_commands_over_http() {
        let f = fixture();
        let id = Uuid::new_v4();
        let (st, v) = call(&f.app, Method::PUT, &paths::vm(id), Some(spec(id))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["state"], "running");
        let (st, _) = call(&f.app, Method::PUT, &paths::vm(id), Some(spec(id))).await;
        assert_eq!(st, StatusCode::OK);
        let (st, v) = call(&f.app, Method::GET, &paths::vm(id), None).await;
        assert_eq!((st, v["name"].as_str()), (StatusCode::OK, Some("i-2-9-VM")));

        // An empty body: graceful stop with the default timeout.
        let (st, v) = call(&f.app, Method::POST, &paths::vm_stop(id), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["status"]["state"], "shutoff");
        let (st, v) = call(
            &f.app,
            Method::POST,
            &paths::vm_reboot(id),
            Some(serde_json::json!({"forced": true})),
        )
        .await;
        assert_eq!((st, v["state"].as_str()), (StatusCode::OK, Some("running")));

        let (st, v) = call(&f.app, Method::DELETE, &paths::vm(id), None).await;
        assert_eq!((st, v["existed"].as_bool()), (StatusCode::OK, Some(true)));
        let (st, v) = call(&f.app, Method::DELETE, &paths::vm(id), None).await;
        assert_eq!((st, v["existed"].as_bool()), (StatusCode::OK, Some(false)));
    }

    #[tokio::test]
    async fn guest_data_makes_a_config_drive() {
        let f = fixture();
        let id = Uuid::new_v4();
        let g = serde_json::to_value(crate::guest::tests::guest()).unwrap();
        // No such VM yet.
        let (st, v) = call(&f.app, Method::PUT, &paths::vm_guest(id), Some(g.clone())).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
        let mut s = spec(id);
        s["guest"] = g.clone();
        let (st, v) = call(&f.app, Method::PUT, &paths::vm(id), Some(s.clone())).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let drive = v["config_drive"]
            .as_str()
            .expect("a config drive")
            .to_string();
        assert!(drive.starts_with(f.guests_dir.join(id.to_string()).to_str().unwrap()));
        let (_, files) = crate::iso9660::read(&std::fs::read(&drive).unwrap()).unwrap();
        assert!(files
            .iter()
            .any(|(p, _)| p == "openstack/latest/meta_data.json"));
        // Twice: the same drive.
        let (_, v) = call(&f.app, Method::PUT, &paths::vm(id), Some(s.clone())).await;
        assert_eq!(v["config_drive"], drive.as_str());
        // New guest data through PUT /guest (the VM stopped: the test driver cannot
        // change media live): a new drive, the old one gone.
        call(
            &f.app,
            Method::POST,
            &paths::vm_stop(id),
            Some(serde_json::json!({"forced": true})),
        )
        .await;
        let mut g2 = g.clone();
        g2["zone_name"] = "zone2".into();
        let (st, v) = call(&f.app, Method::PUT, &paths::vm_guest(id), Some(g2)).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let drive2 = v["config_drive"].as_str().unwrap().to_string();
        assert_ne!(drive2, drive);
        assert!(!std::path::Path::new(&drive).exists());
        // A VM that cannot be made (its name is taken) leaves no guest data.
        let other = Uuid::new_v4();
        let mut clash = spec(other);
        clash["guest"] = g.clone();
        let (st, _) = call(&f.app, Method::PUT, &paths::vm(other), Some(clash)).await;
        assert_eq!(st, StatusCode::CONFLICT);
        assert!(!f.guests_dir.join(other.to_string()).exists());
        // Bad guest data is refused before anything happens.
        let mut bad = g.clone();
        bad["user_data_base64"] = "%%%".into();
        let (st, _) = call(&f.app, Method::PUT, &paths::vm_guest(id), Some(bad)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert!(std::path::Path::new(&drive2).exists());
        // Destroyed: the drive and the data go.
        let (st, _) = call(&f.app, Method::DELETE, &paths::vm(id), None).await;
        assert_eq!(st, StatusCode::OK);
        assert!(!f.guests_dir.join(id.to_string()).exists());
    }

    async fn console(app: &Router, path: &str, upgrade: bool) -> (StatusCode, String) {
        let mut req = Request::builder().method(Method::GET).uri(path);
        if upgrade {
            req = req
                .header("connection", "keep-alive, Upgrade")
                .header("upgrade", paths::CONSOLE_UPGRADE);
        }
        let resp = app
            .clone()
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        (status, v["error"].as_str().unwrap_or_default().to_string())
    }

    #[tokio::test]
    async fn security_groups_over_http() {
        let f = fixture();
        let (st, v) = call(&f.app, Method::GET, paths::SECURITY_GROUPS, None).await;
        assert_eq!((st, v["generation"].as_u64()), (StatusCode::OK, Some(0)));
        let set = |generation: u64, ingress: serde_json::Value| {
            serde_json::json!({
                "generation": generation,
                "vms": [{"vm": Uuid::nil(), "mac": "52:54:00:00:00:09", "ips": ["10.0.0.9"],
                         "ingress": [ingress]}],
            })
        };
        let ssh = serde_json::json!({"protocol": "tcp", "ports": [22, 22], "peer": {"cidr": ["0.0.0.0", 0]}});
        let (st, v) = call(
            &f.app,
            Method::PUT,
            paths::SECURITY_GROUPS,
            Some(set(4, ssh.clone())),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v, serde_json::json!({"generation": 4, "vms": 1}));
        // An older generation (a late retry) is answered with the one in force.
        let (st, v) = call(
            &f.app,
            Method::PUT,
            paths::SECURITY_GROUPS,
            Some(set(3, ssh)),
        )
        .await;
        assert_eq!((st, v["generation"].as_u64()), (StatusCode::OK, Some(4)));
        let (_, v) = call(&f.app, Method::GET, paths::SECURITY_GROUPS, None).await;
        assert_eq!(v["generation"].as_u64(), Some(4));

        let icmp_with_ports = serde_json::json!({"protocol": "icmp", "ports": [1, 2], "peer": {"cidr": ["0.0.0.0", 0]}});
        let unlisted_group = serde_json::json!({"protocol": "all", "peer": {"group": Uuid::nil()}});
        for (body, want) in [
            (set(5, icmp_with_ports), "ports 1-2"),
            (set(5, unlisted_group), "not listed"),
            (
                serde_json::json!({"vms": []}),
                "request body: missing field `generation`",
            ),
        ] {
            let (st, v) = call(&f.app, Method::PUT, paths::SECURITY_GROUPS, Some(body)).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
            assert!(v["error"].as_str().unwrap().contains(want), "{v}");
        }
        let (_, v) = call(&f.app, Method::GET, paths::SECURITY_GROUPS, None).await;
        assert_eq!(v["generation"].as_u64(), Some(4));
    }

    #[tokio::test]
    async fn console_tunnel_refusals_come_before_the_upgrade() {
        let f = fixture();
        let id = Uuid::new_v4();
        let (st, text) = console(&f.app, &paths::vm_console(id), false).await;
        assert_eq!(st, StatusCode::UPGRADE_REQUIRED, "{text}");
        assert!(text.contains("Upgrade: stratus-vnc"), "{text}");
        let (st, text) = console(&f.app, &paths::vm_console(id), true).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{text}");
        assert!(text.contains("no VM"), "{text}");
        let (st, _) = console(&f.app, "/v1/vms/nope/console", true).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);

        let (st, v) = call(&f.app, Method::PUT, &paths::vm(id), Some(spec(id))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (st, _) = call(
            &f.app,
            Method::POST,
            &paths::vm_stop(id),
            Some(serde_json::json!({"forced": true})),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let (st, text) = console(&f.app, &paths::vm_console(id), true).await;
        assert_eq!(st, StatusCode::CONFLICT, "{text}");
        assert!(text.contains("is shutoff"), "{text}");
    }

    #[tokio::test]
    async fn errors_are_json_with_a_clear_text() {
        let f = fixture();
        let id = Uuid::new_v4();
        let other = Uuid::new_v4();
        let cases = [
            (
                Method::PUT,
                paths::vm(id),
                Some(spec(other)),
                StatusCode::BAD_REQUEST,
                "the path names",
            ),
            (
                Method::PUT,
                paths::vm(id),
                Some(serde_json::json!({"id": id})),
                StatusCode::BAD_REQUEST,
                "request body: missing field",
            ),
            (
                Method::PUT,
                "/v1/vms/nope".into(),
                Some(spec(id)),
                StatusCode::BAD_REQUEST,
                "'nope' is not a VM id",
            ),
            (
                Method::GET,
                paths::vm(id),
                None,
                StatusCode::NOT_FOUND,
                "no VM",
            ),
            (
                Method::POST,
                paths::vm_stop(id),
                None,
                StatusCode::NOT_FOUND,
                "no VM",
            ),
            (
                Method::POST,
                paths::vm_iso(id),
                Some(serde_json::json!({"server": "s", "export": "/e", "path": "x.iso"})),
                StatusCode::NOT_FOUND,
                "no VM",
            ),
            (
                Method::PUT,
                paths::network("cloudbr0"),
                Some(
                    serde_json::json!({"bridge": "cloudbr1", "gateway": "10.0.0.1", "prefix_len": 24}),
                ),
                StatusCode::BAD_REQUEST,
                "the path names cloudbr0",
            ),
            (
                Method::PUT,
                paths::network("cloudbr0"),
                Some(
                    serde_json::json!({"bridge": "cloudbr0", "gateway": "10.0.0.0", "prefix_len": 24}),
                ),
                StatusCode::BAD_REQUEST,
                "gateway 10.0.0.0 is not a host address",
            ),
            (
                Method::PUT,
                router_paths::router("r-1"),
                Some(
                    serde_json::json!({"name": "r-2", "guest": {"label": "cloudbr0",
                    "gateway": "10.0.0.1", "prefix_len": 24, "mac": "02:00:00:00:00:01"}}),
                ),
                StatusCode::BAD_REQUEST,
                "the path names r-1",
            ),
            (
                Method::PUT,
                router_paths::router("r-1"),
                Some(
                    serde_json::json!({"name": "r-1", "guest": {"label": "cloudbr0",
                    "isolation": {"kind": "vlan", "id": 4095}, "gateway": "10.0.0.1",
                    "prefix_len": 24, "mac": "02:00:00:00:00:01"}}),
                ),
                StatusCode::BAD_REQUEST,
                "VLAN 4095",
            ),
            (
                Method::PUT,
                router_paths::router("r-1"),
                Some(
                    serde_json::json!({"name": "r-1", "guest": {"label": "cloudbr0",
                    "vlan": 123, "gateway": "10.0.0.1", "prefix_len": 24,
                    "mac": "02:00:00:00:00:01"}}),
                ),
                StatusCode::BAD_REQUEST,
                "unknown field `vlan`",
            ),
            (
                Method::GET,
                router_paths::router("r-1"),
                None,
                StatusCode::NOT_FOUND,
                "no router r-1",
            ),
            (
                Method::DELETE,
                router_paths::router("R_1"),
                None,
                StatusCode::BAD_REQUEST,
                "not a router name",
            ),
            (
                Method::PUT,
                router_paths::SEGMENTS.to_string(),
                Some(serde_json::json!({
                    "label": "cloudbr0", "isolation": {"kind": "vxlan", "vni": 16777215}
                })),
                StatusCode::BAD_REQUEST,
                "must be 1-16777214",
            ),
            (
                Method::PUT,
                router_paths::SEGMENTS.to_string(),
                Some(serde_json::json!({
                    "label": "cloudbr0",
                    "isolation": {"kind": "vxlan", "vni": 5001,
                                  "peers": ["10.231.2.2", "10.231.2.2"]}
                })),
                StatusCode::BAD_REQUEST,
                "given twice",
            ),
            (
                Method::PUT,
                router_paths::SEGMENTS.to_string(),
                Some(serde_json::json!({"label": "br0;reboot"})),
                StatusCode::BAD_REQUEST,
                "not a bridge name",
            ),
            (
                Method::DELETE,
                router_paths::segment("cloudbr0"),
                None,
                StatusCode::OK,
                "",
            ),
        ];
        for (method, path, body, want_status, want_text) in cases {
            let (st, v) = call(&f.app, method.clone(), &path, body).await;
            let text = v["error"].as_str().unwrap_or_default();
            assert_eq!(st, want_status, "{method} {path}: {v}");
            assert!(text.contains(want_text), "{method} {path}: {text}");
        }
        let mut bad = spec(id);
        bad["console_password"] = "123456789".into();
        let (st, v) = call(&f.app, Method::PUT, &paths::vm(id), Some(bad)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert!(
            v["error"].as_str().unwrap().contains("console password"),
            "{v}"
        );
        let (st, v) = call(&f.app, Method::DELETE, &paths::network("cloudbr7"), None).await;
        assert_eq!((st, v["existed"].as_bool()), (StatusCode::OK, Some(false)));
    }

    #[test]
    fn hosts_libvirt_certificates_are_told_apart() {
        let cert = |cn: &str, org: &str| {
            let mut p = rcgen::CertificateParams::new(vec!["h1".into()]).unwrap();
            p.distinguished_name
                .push(rcgen::DnType::CommonName, cn.to_string());
            p.distinguished_name
                .push(rcgen::DnType::OrganizationName, org.to_string());
            let key = rcgen::KeyPair::generate().unwrap();
            p.self_signed(&key).unwrap().der().to_vec()
        };
        let prefix = migration::CERT_CN_PREFIX;
        assert!(is_host_libvirt_cert(&cert(
            &format!("{prefix}42"),
            "Stratus"
        )));
        assert!(!is_host_libvirt_cert(&cert(
            "stratus-management",
            "Stratus"
        )));
        // The prefix elsewhere in the certificate is not a host's common name.
        assert!(!is_host_libvirt_cert(&cert(
            "stratus-management",
            &format!("{prefix}org")
        )));
        assert!(is_host_libvirt_cert(b"not a certificate"));
    }
}
