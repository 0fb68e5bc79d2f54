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

use crate::guest::{GuestStore, GuestView};
use crate::network::Networks;

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

/// Finds the VM's MAC for a source address: the network's static leases.
fn mac_of(networks: &Networks, bridge: &str, peer: IpAddr) -> Option<String> {
    let IpAddr::V4(ip) = peer else {
        return None;
    };
    networks
        .leases(bridge)
        .into_iter()
        .find(|(_, l)| *l == ip)
        .map(|(m, _)| m)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Metadata,
    Password,
}

/// Answers one request from `peer` on `bridge`'s service.
fn answer(
    service: Service,
    req: &Request,
    peer: IpAddr,
    bridge: &str,
    networks: &Networks,
    guests: &GuestStore,
) -> Answer {
    if req.method != "GET" && req.method != "HEAD" {
        return text(405, "Method Not Allowed\n");
    }
    let mac = mac_of(networks, bridge, peer);
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

async fn handle(
    mut conn: TcpStream,
    peer: SocketAddr,
    service: Service,
    bridge: Arc<str>,
    networks: Arc<Networks>,
    guests: Arc<GuestStore>,
) {
    let (status, body, head_only) = match read_head(&mut conn).await {
        Ok(head) => match parse_request(&head) {
            Some(req) => {
                let (s, b) = answer(service, &req, peer.ip(), &bridge, &networks, &guests);
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

async fn serve(
    listener: TcpListener,
    service: Service,
    bridge: Arc<str>,
    networks: Arc<Networks>,
    guests: Arc<GuestStore>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%bridge, error = %e, "accepting a guest's connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over the limit: the connection is closed at once.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let (b, n, g) = (bridge.clone(), networks.clone(), guests.clone());
        tokio::spawn(async move {
            handle(conn, peer, service, b, n, g).await;
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
        let name: Arc<str> = Arc::from(bridge);
        for (service, port) in [
            (Service::Metadata, self.ports.0),
            (Service::Password, self.ports.1),
        ] {
            let listener = TcpListener::bind((address, port)).await?;
            running.tasks.push(tokio::spawn(serve(
                listener,
                service,
                name.clone(),
                self.networks.clone(),
                self.guests.clone(),
            )));
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
}
