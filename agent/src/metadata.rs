//! The metadata and password services on each guest network, as CloudStack's virtual
//! router answers them, so images set up for CloudStack (cloud-init's CloudStack data
//! source, `cloud-set-guest-password`) work unchanged.
//!
//! Both listen on the bridge's own address (the DHCP server's, which is where cloud-init's
//! CloudStack data source looks: the `dhcp-server-identifier` of its lease), and only
//! there:
//!
//! - **`:80`, metadata**: `GET /latest/meta-data/` (the index of keys, one a line),
//!   `/latest/meta-data/KEY` (and the legacy `/latest/KEY`), `/latest/user-data` (404 when
//!   there is none); see [`crate::guest::metadata`] for the keys.
//! - **`:8080`, passwords** (CloudStack's `passwd_server_ip.py`): the request header
//!   `DomU_Request: send_my_password` answers the VM's password, or `saved_password` when
//!   it has none or already saved it; `DomU_Request: saved_password` records that it saved
//!   it (kept across agent restarts) and answers `saved_password`; anything else is
//!   `400 bad_request`.
//!
//! Who is asking: the connection's source address, looked up in the network's static
//! leases (the dnsmasq hosts file: MAC → address) and the MAC in the guest data. A source
//! that is not a lease of this network, or whose VM has no guest data, gets `404`: a VM
//! never gets another's data.
//!
//! Why a hand-written HTTP/1.0-style server rather than the API's axum: guests are not
//! trusted, and a minimal reader is easy to bound: at most 64 connections per listener,
//! 8 KiB of request head read within 10 s, GET/HEAD only, one answer, then close. Hostile
//! bytes get `400` and the connection is closed; nothing here can panic on input.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use std::path::PathBuf;

use stratus_api::agent::{normalize_mac, GuestData};
use stratus_api::router::{RouterSpec, RouterStatus};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::guest::{GuestStore, GuestView};
use crate::network::Networks;
use crate::router::Routers;

pub const METADATA_PORT: u16 = 80;
pub const PASSWORD_PORT: u16 = 8080;
/// The request head's limit (request line and headers).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
pub const MAX_CONNECTIONS: usize = 64;
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a request head (up to the blank line). `None`: not HTTP.
pub fn parse_request(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let version = first.next()?;
    if !version.starts_with("HTTP/1.") || first.next().is_some() || !path.starts_with('/') {
        return None;
    }
    let mut headers = vec![];
    for l in lines {
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Some(Request {
        method,
        path,
        headers,
    })
}

/// An answer: status and body (text).
pub type Answer = (u16, Vec<u8>);

fn text(status: u16, body: impl Into<Vec<u8>>) -> Answer {
    (status, body.into())
}

/// The metadata service's answer for `path` to the VM `view` (`None`: unknown source).
pub fn answer_metadata(path: &str, view: Option<&GuestView>) -> Answer {
    let Some(v) = view else {
        return text(404, "Not Found\n");
    };
    // Query strings mean nothing here; repeated slashes are one.
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let index = || {
        let mut s = v
            .metadata
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join("\n");
        s.push('\n');
        text(200, s)
    };
    let value = |key: &str| match v.metadata.iter().find(|(k, _)| *k == key) {
        Some((_, val)) => text(200, val.clone()),
        None => text(404, "Not Found\n"),
    };
    match parts.as_slice() {
        ["latest"] => text(200, "meta-data\nuser-data\n"),
        ["latest", "meta-data"] => index(),
        ["latest", "user-data"] => match &v.user_data {
            Some(ud) => (200, ud.clone()),
            None => text(404, "Not Found\n"),
        },
        ["latest", "meta-data", key] => value(key),
        // CloudStack's legacy `/latest/KEY`.
        ["latest", key] => value(key),
        _ => text(404, "Not Found\n"),
    }
}

/// What the password service does for a `DomU_Request` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRequest {
    Send,
    Saved,
    Bad,
}

pub fn password_request(header: Option<&str>) -> PasswordRequest {
    match header.map(str::trim) {
        Some("send_my_password") => PasswordRequest::Send,
        Some("saved_password") => PasswordRequest::Saved,
        _ => PasswordRequest::Bad,
    }
}

/// Where the services answer: who a source address is and what the store holds of it.
trait Site: Send + Sync + 'static {
    /// The bridge or router, for the logs.
    fn name(&self) -> &str;
    /// The VM's MAC for a source address: the network's static leases.
    fn mac_of(&self, peer: Ipv4Addr) -> Option<String>;
    fn guests(&self) -> &GuestStore;
}

/// A Basic zone's guest network on this host: its bridge's leases, the host's store.
struct BridgeSite {
    bridge: String,
    networks: Arc<Networks>,
    guests: Arc<GuestStore>,
}

impl Site for BridgeSite {
    fn name(&self) -> &str {
        &self.bridge
    }
    fn mac_of(&self, peer: Ipv4Addr) -> Option<String> {
        self.networks
            .leases(&self.bridge)
            .into_iter()
            .find(|(_, l)| *l == peer)
            .map(|(m, _)| m)
    }
    fn guests(&self) -> &GuestStore {
        &self.guests
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Metadata,
    Password,
}

/// Answers one request from `peer` on `site`'s service.
fn answer(service: Service, req: &Request, peer: IpAddr, site: &dyn Site) -> Answer {
    if req.method != "GET" && req.method != "HEAD" {
        return text(405, "Method Not Allowed\n");
    }
    let mac = match peer {
        IpAddr::V4(ip) => site.mac_of(ip),
        IpAddr::V6(_) => None,
    };
    let guests = site.guests();
    let bridge = site.name();
    match service {
        Service::Metadata => {
            let view = mac.as_deref().and_then(|m| guests.view_by_mac(m));
            answer_metadata(&req.path, view.as_ref())
        }
        Service::Password => {
            let kind = password_request(req.header("DomU_Request"));
            if kind == PasswordRequest::Bad {
                return text(400, "bad_request");
            }
            let Some(mac) = mac else {
                return text(404, "Not Found\n");
            };
            match kind {
                PasswordRequest::Send => match guests.pending_password(&mac) {
                    Some(p) => {
                        tracing::info!(bridge, %peer, "password sent");
                        text(200, p)
                    }
                    None => text(200, "saved_password"),
                },
                _ => match guests.acknowledge_password(&mac) {
                    Ok(_) => text(200, "saved_password"),
                    Err(e) => {
                        tracing::warn!(bridge, %peer, error = %e, "recording a saved password");
                        text(500, "error")
                    }
                },
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    }
}

/// Reads the head of a request: up to the blank line, at most [`MAX_HEAD_BYTES`].
async fn read_head(conn: &mut TcpStream) -> Result<Vec<u8>, u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match tokio::time::timeout(READ_TIMEOUT, conn.read(&mut chunk)).await {
            Err(_) => return Err(408),
            Ok(Err(_)) | Ok(Ok(0)) => return Err(400),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(end) = find_head_end(&buf) {
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(431);
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n"))
}

async fn handle(mut conn: TcpStream, peer: SocketAddr, service: Service, site: Arc<dyn Site>) {
    let (status, body, head_only) = match read_head(&mut conn).await {
        Ok(head) => match parse_request(&head) {
            Some(req) => {
                let (s, b) = answer(service, &req, peer.ip(), site.as_ref());
                (s, b, req.method == "HEAD")
            }
            None => (400, b"bad_request".to_vec(), false),
        },
        Err(s) => (s, reason(s).as_bytes().to_vec(), false),
    };
    let server = match service {
        Service::Metadata => "Stratus metadata",
        Service::Password => "CloudStack Password Server",
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nServer: {server}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    let write = async {
        conn.write_all(head.as_bytes()).await?;
        if !head_only {
            conn.write_all(&body).await?;
        }
        conn.shutdown().await
    };
    let _ = tokio::time::timeout(READ_TIMEOUT, write).await;
}

async fn serve(listener: TcpListener, service: Service, site: Arc<dyn Site>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(site = site.name(), error = %e, "accepting a guest's connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over the limit: the connection is closed at once.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let site = site.clone();
        tokio::spawn(async move {
            handle(conn, peer, service, site).await;
            drop(permit);
        });
    }
}

struct Running {
    address: Ipv4Addr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The services of every guest network of this host.
pub struct MetadataServers {
    networks: Arc<Networks>,
    guests: Arc<GuestStore>,
    running: Mutex<HashMap<String, Running>>,
    ports: (u16, u16),
}

impl MetadataServers {
    pub fn new(networks: Arc<Networks>, guests: Arc<GuestStore>) -> MetadataServers {
        Self::with_ports(networks, guests, METADATA_PORT, PASSWORD_PORT)
    }

    /// With other ports (tests without the right to bind 80).
    pub fn with_ports(
        networks: Arc<Networks>,
        guests: Arc<GuestStore>,
        metadata: u16,
        password: u16,
    ) -> MetadataServers {
        MetadataServers {
            networks,
            guests,
            running: Mutex::new(HashMap::new()),
            ports: (metadata, password),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves `bridge` on `address` (restarted if it served another address).
    pub async fn ensure(&self, bridge: &str, address: Ipv4Addr) -> std::io::Result<()> {
        if self
            .lock()
            .get(bridge)
            .is_some_and(|r| r.address == address)
        {
            return Ok(());
        }
        self.stop(bridge);
        // Dropped (the listeners stopped) unless both ports listen.
        let mut running = Running {
            address,
            tasks: vec![],
        };
        let site: Arc<dyn Site> = Arc::new(BridgeSite {
            bridge: bridge.to_string(),
            networks: self.networks.clone(),
            guests: self.guests.clone(),
        });
        for (service, port) in [
            (Service::Metadata, self.ports.0),
            (Service::Password, self.ports.1),
        ] {
            let listener = TcpListener::bind((address, port)).await?;
            running
                .tasks
                .push(tokio::spawn(serve(listener, service, site.clone())));
        }
        tracing::info!(bridge, %address, "metadata (:{}) and password (:{}) services listen", self.ports.0, self.ports.1);
        self.lock().insert(bridge.to_string(), running);
        Ok(())
    }

    /// Stops serving `bridge`.
    pub fn stop(&self, bridge: &str) {
        if self.lock().remove(bridge).is_some() {
            tracing::info!(bridge, "metadata and password services stopped");
        }
    }

    /// Serves every network the agent set up before (at start).
    pub async fn resume(&self) {
        for (bridge, address) in self.networks.known() {
            if let Err(e) = self.ensure(&bridge, address).await {
                tracing::warn!(%bridge, %address, error = %e, "starting the metadata services");
            }
        }
    }

    pub fn serving(&self) -> Vec<(String, Ipv4Addr)> {
        let mut v: Vec<_> = self
            .lock()
            .iter()
            .map(|(b, r)| (b.clone(), r.address))
            .collect();
        v.sort();
        v
    }
}

/// A virtual router's guest network: the leases of its spec, its own store of the VMs of
/// the network (which may run on other hosts).
struct RouterSite {
    name: String,
    /// Lease address → MAC (lower case), from the spec last applied.
    leases: Mutex<HashMap<Ipv4Addr, String>>,
    guests: GuestStore,
}

impl Site for RouterSite {
    fn name(&self) -> &str {
        &self.name
    }
    fn mac_of(&self, peer: Ipv4Addr) -> Option<String> {
        self.leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&peer)
            .cloned()
    }
    fn guests(&self) -> &GuestStore {
        &self.guests
    }
}

/// A router's services: where they listen, and the namespace they listen in (its
/// device and inode: a namespace made anew needs new sockets).
struct RouterEntry {
    site: Arc<RouterSite>,
    listening: Option<((u64, u64), Running)>,
}

/// The namespace's identity (device, inode), if it exists.
fn namespace_id(ns: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(format!("/run/netns/{ns}")).ok()?;
    Some((m.dev(), m.ino()))
}

/// Binds `addr` inside network namespace `ns`, on a thread made for it: setns(2) changes
/// only the calling thread, the socket keeps the namespace it was made in, and the thread
/// ends right after, so no thread of the agent stays in a router's namespace.
#[allow(unsafe_code)]
fn bind_in(ns: &str, addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path)?;
        // SAFETY: setns(2) on a descriptor we hold open; it affects this thread only,
        // which ends when the closure returns.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("binding thread panicked")))
}

/// The metadata and password services of the virtual routers on this host
/// ([`crate::router`]): each listens on its router's guest gateway inside the router's
/// namespace, answers the VMs of its network by their leases, and keeps their guest
/// data (sent by the management server per VM: [`stratus_api::router::api::ROUTER_GUEST`])
/// in `<router dir>/guests/`, so an agent restart keeps serving it.
pub struct RouterServices {
    dir: PathBuf,
    ports: (u16, u16),
    entries: tokio::sync::Mutex<HashMap<String, RouterEntry>>,
}

impl RouterServices {
    /// For the routers under `dir` (the agent's routers directory).
    pub fn new(dir: impl Into<PathBuf>) -> RouterServices {
        Self::with_ports(dir, METADATA_PORT, PASSWORD_PORT)
    }

    pub fn with_ports(dir: impl Into<PathBuf>, metadata: u16, password: u16) -> RouterServices {
        RouterServices {
            dir: dir.into(),
            ports: (metadata, password),
            entries: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    fn entry<'a>(
        &self,
        entries: &'a mut HashMap<String, RouterEntry>,
        name: &str,
    ) -> &'a mut RouterEntry {
        entries
            .entry(name.to_string())
            .or_insert_with(|| RouterEntry {
                site: Arc::new(RouterSite {
                    name: name.to_string(),
                    leases: Mutex::new(HashMap::new()),
                    // The VMs run on any host of the network: no host name to tell.
                    guests: GuestStore::open(self.dir.join(name).join("guests"), ""),
                }),
                listening: None,
            })
    }

    /// After the router's spec is applied: the store keeps the VMs of its leases only,
    /// and both services listen on its gateway in its namespace (bound again when the
    /// namespace or the gateway changed).
    pub async fn ensure(&self, spec: &RouterSpec) -> Result<()> {
        let mut entries = self.entries.lock().await;
        self.ensure_locked(&mut entries, spec).await
    }

    /// Applies the router's spec ([`Routers::apply`]) and then [`RouterServices::ensure`]s
    /// its services, as one step: two applies of one router at once cannot leave the
    /// services with the older spec's leases (the namespace with the newer's).
    pub async fn apply(&self, routers: &Arc<Routers>, spec: &RouterSpec) -> Result<RouterStatus> {
        let mut entries = self.entries.lock().await;
        let (r, applied) = (routers.clone(), spec.clone());
        let mut status = tokio::task::spawn_blocking(move || r.apply(&applied))
            .await
            .map_err(|e| Error::Router(format!("applying {}: {e}", spec.name)))??;
        self.ensure_locked(&mut entries, spec).await?;
        status.guests = entries
            .get(&spec.name)
            .map(|e| e.site.guests.ids())
            .unwrap_or_default();
        Ok(status)
    }

    /// Stops router `name`'s services and removes the router ([`Routers::remove`]), as one
    /// step against applies.
    pub async fn remove_router(&self, routers: &Arc<Routers>, name: &str) -> Result<bool> {
        let mut entries = self.entries.lock().await;
        if entries.remove(name).is_some() {
            tracing::info!(
                router = name,
                "router's metadata and password services stopped"
            );
        }
        let (r, n) = (routers.clone(), name.to_string());
        tokio::task::spawn_blocking(move || r.remove(&n))
            .await
            .map_err(|e| Error::Router(format!("removing {name}: {e}")))?
    }

    async fn ensure_locked(
        &self,
        entries: &mut HashMap<String, RouterEntry>,
        spec: &RouterSpec,
    ) -> Result<()> {
        let ns = spec.namespace();
        let leases: HashMap<Ipv4Addr, String> = spec
            .guest
            .leases
            .iter()
            .filter_map(|l| Some((l.ip, normalize_mac(&l.mac).ok()?)))
            .collect();
        let macs: Vec<String> = leases.values().cloned().collect();
        let entry = self.entry(entries, &spec.name);
        *entry.site.leases.lock().unwrap_or_else(|p| p.into_inner()) = leases;
        let forgotten = entry.site.guests.retain_macs(&macs);
        if forgotten > 0 {
            tracing::info!(router = %spec.name, forgotten, "guest data of VMs that left the network forgotten");
        }
        let id = namespace_id(&ns)
            .ok_or_else(|| Error::Router(format!("namespace {ns} does not exist")))?;
        let gateway = spec.guest.gateway;
        if entry
            .listening
            .as_ref()
            .is_some_and(|(i, r)| *i == id && r.address == gateway)
        {
            return Ok(());
        }
        // The old sockets (another namespace or address) go first.
        entry.listening = None;
        let mut running = Running {
            address: gateway,
            tasks: vec![],
        };
        for (service, port) in [
            (Service::Metadata, self.ports.0),
            (Service::Password, self.ports.1),
        ] {
            let (n, addr) = (ns.clone(), SocketAddr::from((gateway, port)));
            let std_listener = tokio::task::spawn_blocking(move || bind_in(&n, addr))
                .await
                .map_err(|e| Error::Router(format!("binding in {ns}: {e}")))?
                .map_err(|e| Error::Router(format!("metadata services on {addr} in {ns}: {e}")))?;
            let listener = TcpListener::from_std(std_listener)
                .map_err(|e| Error::Router(format!("metadata services on {addr}: {e}")))?;
            let site: Arc<dyn Site> = entry.site.clone();
            running
                .tasks
                .push(tokio::spawn(serve(listener, service, site)));
        }
        tracing::info!(router = %spec.name, %gateway, "router's metadata (:{}) and password (:{}) services listen", self.ports.0, self.ports.1);
        entry.listening = Some((id, running));
        Ok(())
    }

    /// Records VM `id`'s guest data in router `name`'s store (the router must have been
    /// applied: [`RouterServices::ensure`]); answers the VMs the store holds.
    pub async fn put_guest(&self, name: &str, id: Uuid, g: &GuestData) -> Result<Vec<Uuid>> {
        let mut entries = self.entries.lock().await;
        let Some(entry) = entries.get_mut(name) else {
            return Err(Error::NotFound(format!("no router {name} on this host")));
        };
        entry.site.guests.record(id, g)?;
        Ok(entry.site.guests.ids())
    }

    /// Whether router `name` has its services.
    pub async fn has(&self, name: &str) -> bool {
        self.entries.lock().await.contains_key(name)
    }

    /// Serves every router the agent knows (at start, after [`Routers::restore`]).
    pub async fn resume(&self, routers: &Arc<Routers>) {
        for name in routers.known() {
            let Some(spec) = routers.read_spec(&name) else {
                continue;
            };
            if let Err(e) = self.ensure(&spec).await {
                tracing::warn!(router = %name, error = %e, "starting the router's metadata services");
            }
        }
    }

    /// The VMs router `name`'s store holds.
    pub async fn guests(&self, name: &str) -> Vec<Uuid> {
        match self.entries.lock().await.get(name) {
            Some(e) => e.site.guests.ids(),
            None => vec![],
        }
    }

    /// Stops router `name`'s services (before the router and its files go).
    pub async fn remove(&self, name: &str) {
        if self.entries.lock().await.remove(name).is_some() {
            tracing::info!(
                router = name,
                "router's metadata and password services stopped"
            );
        }
    }

    /// The routers whose services listen, with their gateway.
    pub async fn serving(&self) -> Vec<(String, Ipv4Addr)> {
        let mut v: Vec<_> = self
            .entries
            .lock()
            .await
            .iter()
            .filter_map(|(n, e)| Some((n.clone(), e.listening.as_ref()?.1.address)))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn view() -> GuestView {
        GuestView {
            id: Uuid::nil(),
            metadata: vec![
                ("service-offering", "Small".into()),
                ("local-ipv4", "192.168.240.50".into()),
                ("public-keys", "ssh-ed25519 AAAA me".into()),
            ],
            user_data: Some(b"#cloud-config\n".to_vec()),
        }
    }

    #[test]
    fn metadata_routes() {
        let v = view();
        let get = |p: &str| {
            let (s, b) = answer_metadata(p, Some(&v));
            (s, String::from_utf8(b).unwrap())
        };
        assert_eq!(
            get("/latest/meta-data/"),
            (200, "service-offering\nlocal-ipv4\npublic-keys\n".into())
        );
        assert_eq!(get("/latest/meta-data").0, 200);
        assert_eq!(
            get("/latest/meta-data/local-ipv4"),
            (200, "192.168.240.50".into())
        );
        assert_eq!(
            get("/latest/local-ipv4"),
            (200, "192.168.240.50".into()),
            "legacy"
        );
        assert_eq!(
            get("/latest/meta-data/public-keys?x=1").1,
            "ssh-ed25519 AAAA me"
        );
        assert_eq!(get("/latest/user-data"), (200, "#cloud-config\n".into()));
        for hostile in [
            "/latest/meta-data/../user-data",
            "/latest/meta-data/../../etc/passwd",
            "/../../etc/shadow",
            "/latest/meta-data/nope",
            "/latest/meta-data/local-ipv4/x",
            "/",
            "/latest/meta-data/%2e%2e",
        ] {
            assert_eq!(get(hostile).0, 404, "{hostile}");
        }
        let mut none = v.clone();
        none.user_data = None;
        assert_eq!(answer_metadata("/latest/user-data", Some(&none)).0, 404);
        assert_eq!(
            answer_metadata("/latest/meta-data/", None).0,
            404,
            "unknown source"
        );
    }

    #[test]
    fn parses_requests_and_refuses_garbage() {
        let r =
            parse_request(b"GET / HTTP/1.1\r\nHost: x\r\nDomU_Request: send_my_password").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.header("domu_request"), Some("send_my_password"));
        // wget 1.21 sends exactly this.
        let r = parse_request(b"GET /latest/meta-data/ HTTP/1.1\nUser-Agent: Wget\n").unwrap();
        assert_eq!(r.path, "/latest/meta-data/");
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"GET",
            b"GET / SPDY/3",
            b"GET x HTTP/1.1",
            b"GET / HTTP/1.1 extra",
            b"GET / HTTP/1.1\r\nno colon here",
        ] {
            assert!(parse_request(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            password_request(Some(" send_my_password ")),
            PasswordRequest::Send
        );
        assert_eq!(
            password_request(Some("saved_password")),
            PasswordRequest::Saved
        );
        assert_eq!(
            password_request(Some("save_password")),
            PasswordRequest::Bad
        );
        assert_eq!(password_request(None), PasswordRequest::Bad);
    }

    /// The services over TCP on 127.0.0.x, with a network whose lease is 127.0.0.1 (a
    /// source address the test can bind) — the routing by source address end to end.
    #[tokio::test]
    async fn services_over_tcp_by_source_address() {
        let tmp = tempfile::tempdir().unwrap();
        let networks = Arc::new(Networks::new(tmp.path().join("networks")));
        networks.write_leases_for_test(
            "br-test",
            "52:54:00:0a:f0:01,127.0.0.1,vm-1\n52:54:00:0a:f0:02,127.0.0.9\n",
        );
        let guests = Arc::new(GuestStore::open(tmp.path().join("guests"), "kvm1"));
        let id = Uuid::new_v4();
        guests
            .prepare(
                id,
                &crate::guest::tests::guest(),
                &["52:54:00:0a:f0:01".into()],
            )
            .unwrap();
        // Free ports on 127.0.0.2 (the "bridge address").
        let pick = || {
            std::net::TcpListener::bind("127.0.0.2:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (mp, pp) = (pick(), pick());
        let servers = MetadataServers::with_ports(networks.clone(), guests.clone(), mp, pp);
        let addr: Ipv4Addr = "127.0.0.2".parse().unwrap();
        servers.ensure("br-test", addr).await.unwrap();
        servers.ensure("br-test", addr).await.unwrap();
        assert_eq!(servers.serving(), vec![("br-test".to_string(), addr)]);

        async fn ask(from: &str, to: (Ipv4Addr, u16), raw: &[u8]) -> (u16, String) {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
            let mut c = sock.connect(to.into()).await.unwrap();
            c.write_all(raw).await.unwrap();
            let mut out = vec![];
            let _ = c.read_to_end(&mut out).await;
            let text = String::from_utf8_lossy(&out).to_string();
            let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default();
            (status, body)
        }
        let md = (addr, mp);
        let pw = (addr, pp);
        let (s, b) = ask(
            "127.0.0.1",
            md,
            b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert_eq!((s, b), (200, id.to_string()));
        let (s, b) = ask("127.0.0.1", md, b"GET /latest/user-data HTTP/1.0\r\n\r\n").await;
        assert_eq!(
            (s, b.as_str()),
            (200, "#cloud-config\nruncmd: [[touch, /tmp/x]]\n")
        );
        // A lease without guest data, and an address that is no lease: nothing.
        assert_eq!(
            ask("127.0.0.9", md, b"GET /latest/meta-data/ HTTP/1.1\r\n\r\n")
                .await
                .0,
            404
        );
        assert_eq!(
            ask("127.0.0.3", md, b"GET /latest/meta-data/ HTTP/1.1\r\n\r\n")
                .await
                .0,
            404
        );
        // Hostile requests: garbage, a huge head, a wrong method.
        assert_eq!(
            ask("127.0.0.1", md, b"\x00\x01\x02garbage\r\n\r\n").await.0,
            400
        );
        let huge = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
        assert_eq!(ask("127.0.0.1", md, huge.as_bytes()).await.0, 431);
        assert_eq!(
            ask("127.0.0.1", md, b"POST /latest/user-data HTTP/1.1\r\n\r\n")
                .await
                .0,
            405
        );

        // Passwords: sent until saved, then "saved_password".
        let send = b"GET / HTTP/1.1\r\nDomU_Request: send_my_password\r\n\r\n";
        assert_eq!(ask("127.0.0.1", pw, send).await, (200, "s3cret-Pw".into()));
        assert_eq!(ask("127.0.0.1", pw, send).await, (200, "s3cret-Pw".into()));
        assert_eq!(ask("127.0.0.3", pw, send).await.0, 404, "not a lease");
        assert_eq!(
            ask("127.0.0.9", pw, send).await,
            (200, "saved_password".into()),
            "no data"
        );
        let (s, b) = ask(
            "127.0.0.1",
            pw,
            b"GET / HTTP/1.1\r\nDomU_Request: hello\r\n\r\n",
        )
        .await;
        assert_eq!((s, b.as_str()), (400, "bad_request"));
        let saved = b"GET / HTTP/1.1\r\nDomU_Request: saved_password\r\n\r\n";
        assert_eq!(
            ask("127.0.0.1", pw, saved).await,
            (200, "saved_password".into())
        );
        assert_eq!(
            ask("127.0.0.1", pw, send).await,
            (200, "saved_password".into())
        );

        // Many idle connections: the ones over the limit are closed, the service still answers.
        let mut idle = vec![];
        for _ in 0..(MAX_CONNECTIONS + 10) {
            idle.push(tokio::net::TcpStream::connect(md).await.unwrap());
        }
        drop(idle);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (s, _) = ask("127.0.0.1", md, b"GET /latest/meta-data/ HTTP/1.1\r\n\r\n").await;
        assert_eq!(s, 200);

        servers.stop("br-test");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(md).await.is_err(), "stopped");
    }

    fn sh(args: &[&str]) -> bool {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Namespaces made by a test, deleted when it ends (also when it fails).
    struct Namespaces(Vec<String>);

    impl Namespaces {
        fn add(&mut self, ns: &str) {
            assert!(sh(&["ip", "netns", "add", ns]), "ip netns add {ns}");
            self.0.push(ns.to_string());
            assert!(sh(&["ip", "-n", ns, "link", "set", "lo", "up"]));
        }
        /// A veth between router `r` (`eth0`, `gw`) and guest `g` (`eth0`, `ip`).
        fn wire(&self, r: &str, gw: &str, g: &str, ip: &str) {
            // A veth whose other end's namespace was deleted goes a moment later.
            let t = std::time::Instant::now();
            while [r, g]
                .iter()
                .any(|ns| sh(&["ip", "-n", ns, "link", "show", "eth0"]))
            {
                assert!(t.elapsed() < Duration::from_secs(10), "eth0 stays");
                std::thread::sleep(Duration::from_millis(20));
            }
            for cmd in [
                vec![
                    "ip", "-n", r, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                    "netns", g,
                ],
                vec!["ip", "-n", r, "addr", "add", gw, "dev", "eth0"],
                vec!["ip", "-n", g, "addr", "add", ip, "dev", "eth0"],
                vec!["ip", "-n", r, "link", "set", "eth0", "up"],
                vec!["ip", "-n", g, "link", "set", "eth0", "up"],
            ] {
                assert!(sh(&cmd), "{cmd:?}");
            }
        }
    }

    impl Drop for Namespaces {
        fn drop(&mut self) {
            for ns in self.0.drain(..) {
                sh(&["ip", "netns", "del", &ns]);
            }
        }
    }

    /// `raw` sent from namespace `ns` to `to`: (status, body); (0, "") when no connection.
    fn ask_from(ns: &str, to: SocketAddr, raw: &'static [u8]) -> (u16, String) {
        use std::io::{Read, Write};
        let ns = ns.to_string();
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
            // SAFETY: setns(2) on a descriptor held open; this thread only, and it ends.
            #[allow(unsafe_code)]
            let entered = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } == 0;
            assert!(entered);
            let Ok(mut c) = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(2))
            else {
                return (0, String::new());
            };
            c.write_all(raw).unwrap();
            let mut out = String::new();
            let _ = c.read_to_string(&mut out);
            let status = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
            (status, body.unwrap_or_default())
        })
        .join()
        .unwrap()
    }

    /// A router's services in its namespace, as root: they answer the VMs of its leases
    /// by source address from its own store (VMs of other hosts), keep a password until
    /// the guest saves it (also when later data has none), forget VMs that leave the
    /// leases, bind again when the namespace is made anew, and keep the data across a
    /// restart of the agent (a new `RouterServices`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn router_services_in_the_routers_namespace() {
        if !std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            || !sh(&["ip", "-V"])
        {
            eprintln!("skipped: needs root and ip");
            return;
        }
        let tag = format!("{:x}", std::process::id() & 0xffff);
        let name = format!("m{tag}");
        let router_ns = format!("stratus-{name}");
        let (g1, g2) = (format!("mdg1-{tag}"), format!("mdg2-{tag}"));
        let mut nss = Namespaces(vec![]);
        for ns in [&router_ns, &g1, &g2] {
            nss.add(ns);
        }
        nss.wire(&router_ns, "10.9.0.1/24", &g1, "10.9.0.11/24");

        let tmp = tempfile::tempdir().unwrap();
        let spec = |leases: serde_json::Value| -> RouterSpec {
            serde_json::from_value(serde_json::json!({
                "name": name,
                "guest": {"label": "br0", "gateway": "10.9.0.1", "prefix_len": 24,
                          "mac": "02:00:0a:09:00:01", "leases": leases}
            }))
            .unwrap()
        };
        let both = serde_json::json!([
            {"mac": "52:54:00:09:00:11", "ip": "10.9.0.11"},
            {"mac": "52:54:00:09:00:12", "ip": "10.9.0.12"}
        ]);
        let (id1, id2) = (Uuid::new_v4(), Uuid::new_v4());
        let data = |mac: &str, host: &str, password: Option<&str>| -> GuestData {
            let mut g = crate::guest::tests::guest();
            g.hostname = host.into();
            g.nics = vec![serde_json::from_value(serde_json::json!({
                "mac": mac, "ip": "10.9.0.11", "prefix_len": 24, "gateway": "10.9.0.1",
                "is_default": true
            }))
            .unwrap()];
            g.password = password.map(String::from);
            g
        };
        let services = RouterServices::with_ports(tmp.path(), 80, 8080);
        services.ensure(&spec(both.clone())).await.unwrap();
        services.ensure(&spec(both.clone())).await.unwrap();
        assert_eq!(
            services.serving().await,
            vec![(name.clone(), "10.9.0.1".parse().unwrap())]
        );
        services
            .put_guest(&name, id1, &data("52:54:00:09:00:11", "web1", Some("Pw-1")))
            .await
            .unwrap();
        let held = services
            .put_guest(&name, id2, &data("52:54:00:09:00:12", "web2", None))
            .await
            .unwrap();
        assert_eq!(held.len(), 2);

        let md: SocketAddr = "10.9.0.1:80".parse().unwrap();
        let pw: SocketAddr = "10.9.0.1:8080".parse().unwrap();
        const ID: &[u8] = b"GET /latest/meta-data/instance-id HTTP/1.1\r\n\r\n";
        const HOST: &[u8] = b"GET /latest/meta-data/local-hostname HTTP/1.1\r\n\r\n";
        const SEND: &[u8] = b"GET / HTTP/1.1\r\nDomU_Request: send_my_password\r\n\r\n";
        const SAVED: &[u8] = b"GET / HTTP/1.1\r\nDomU_Request: saved_password\r\n\r\n";
        assert_eq!(ask_from(&g1, md, ID), (200, id1.to_string()));
        assert_eq!(ask_from(&g1, md, HOST), (200, "web1".into()));
        // New data without a password: the one not yet saved is still served.
        services
            .put_guest(&name, id1, &data("52:54:00:09:00:11", "web1", None))
            .await
            .unwrap();
        assert_eq!(ask_from(&g1, pw, SEND), (200, "Pw-1".into()));
        assert_eq!(ask_from(&g1, pw, SAVED), (200, "saved_password".into()));
        assert_eq!(ask_from(&g1, pw, SEND), (200, "saved_password".into()));

        // The second guest takes the first's address (its lease now): it is web2.
        assert!(sh(&["ip", "netns", "del", &g1]));
        nss.0.retain(|n| n != &g1);
        // (The veth went with g1's namespace; the services' sockets stay bound.)
        nss.wire(&router_ns, "10.9.0.1/24", &g2, "10.9.0.12/24");
        services.ensure(&spec(both.clone())).await.unwrap();
        assert_eq!(ask_from(&g2, md, ID), (200, id2.to_string()));

        // The agent restarts: the store is read back; the namespace is made anew and
        // the services listen in the new one.
        drop(services);
        assert!(sh(&["ip", "netns", "del", &router_ns]));
        assert!(sh(&["ip", "netns", "add", &router_ns]));
        // (g2's veth went with the old router namespace.)
        nss.wire(&router_ns, "10.9.0.1/24", &g2, "10.9.0.12/24");
        let services = RouterServices::with_ports(tmp.path(), 80, 8080);
        services.ensure(&spec(both.clone())).await.unwrap();
        assert_eq!(services.guests(&name).await.len(), 2);
        assert_eq!(ask_from(&g2, md, HOST), (200, "web2".into()));

        // web1 leaves the network: its data is forgotten.
        let only2 = serde_json::json!([{"mac": "52:54:00:09:00:12", "ip": "10.9.0.12"}]);
        services.ensure(&spec(only2)).await.unwrap();
        assert_eq!(services.guests(&name).await, vec![id2]);
        services.remove(&name).await;
        assert_eq!(ask_from(&g2, md, ID).0, 0, "stopped");
    }
}
