//! NFS storage, spoken by the management server itself: an NFSv3 client in user space.
//!
//! Primary and secondary storage are NFS exports. The management server checks them when
//! an admin adds them (`createStoragePool`, `addImageStore`), reads their capacity, streams
//! ISO downloads into them and deletes from them. It does all of that over NFSv3 with the
//! `nfs3_client` crate rather than through kernel mounts: no mount privileges, no mount
//! points to manage or leak, no kernel NFS client needed, so it works the same in a
//! container as on a host (see the design brief, "Storage without kernel mounts").
//!
//! This module is the thin layer the rest of the server uses: [`NfsUrl`] (parse and check
//! `nfs://server[:port]/export/path`), [`NfsClient`] (one mounted export: capacity,
//! directories, files, range reads, the streaming [`NfsWriter`]) and one error type,
//! [`NfsError`], whose texts are shown to admins as they are: they name the server, the
//! port, the path and the NFS status.
//!
//! How it talks to the server:
//! - The portmapper (port 111) gives the MOUNT service's port, and the NFS port unless the
//!   URL names one (as in qemu's and libnfs's `nfs://` URLs, the port is the NFS port).
//! - Calls carry AUTH_UNIX credentials of uid 0 / gid 0: servers refuse AUTH_NULL with
//!   AUTH_TOOWEAK, and exports for a cloud are `no_root_squash` (hosts' qemu runs as root).
//! - When it may (as root), it connects from a privileged source port, which Linux's
//!   kernel server requires by default (`secure`); otherwise from an ordinary port.
//! - Every step has the timeout given to [`NfsClient::connect`]. After a transport error
//!   or a timeout the connection is unusable (a late reply could be taken for the next
//!   one's), so every later call fails at once: connect again.
//! - Writes are UNSTABLE (the server may cache them) with one COMMIT when the file is
//!   finished; if the server restarted in between (its write verifier changed), the data
//!   may be lost and the writer says so. The MOUNT connection is closed after MNT (NFSv3
//!   is stateless; there is nothing to unmount).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use nfs3_client::io::{AsyncRead, AsyncWrite};
use nfs3_client::nfs3_types::mount::{self, dirpath, mountstat3};
use nfs3_client::nfs3_types::nfs3::{
    self, cookieverf3, createhow3, diropargs3, fattr3, filename3, ftype3, nfs_fh3, nfsstat3,
    sattr3, stable_how, writeverf3, Nfs3Option, Nfs3Result,
};
use nfs3_client::nfs3_types::portmap;
use nfs3_client::nfs3_types::rpc::{auth_unix, opaque_auth};
use nfs3_client::nfs3_types::xdr_codec::{Opaque, Pack, Unpack};
use nfs3_client::{MountClient, MountError, Nfs3Client, PortmapError, PortmapperClient, RpcError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::error::Elapsed;

/// The largest READ or WRITE this client sends, whatever larger size the server allows.
const MAX_IO: u32 = 1024 * 1024;

/// Why an NFS step failed, in words for the admin.
#[derive(Debug, thiserror::Error)]
pub enum NfsError {
    #[error("invalid NFS URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid path '{path}' on NFS storage: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("cannot resolve the NFS server name '{host}': {reason}")]
    Resolve { host: String, reason: String },
    /// Nothing answered: connection refused, no route, or no answer within the timeout.
    #[error("cannot reach NFS server {host} on port {port} ({service}): {reason}")]
    Unreachable {
        host: String,
        port: u16,
        service: &'static str,
        reason: String,
    },
    #[error(
        "{host} does not offer NFSv3 over TCP: its portmapper (port 111) has no {service} service version 3 registered"
    )]
    NoService { host: String, service: &'static str },
    #[error("NFS server {host} does not export {path} ({status}); {}", exports_text(.exports))]
    NotExported {
        host: String,
        path: String,
        status: String,
        /// What the server says it exports, if it said.
        exports: Option<Vec<String>>,
    },
    #[error("NFS server {host} denied access to {path}: {reason}")]
    PermissionDenied {
        host: String,
        path: String,
        reason: String,
    },
    /// The server answered an operation with an error status.
    #[error("NFS {op} of '{path}' on {url} failed: {status}{}", status_hint(*.status))]
    Status {
        url: String,
        op: &'static str,
        path: String,
        status: nfsstat3,
    },
    /// The connection broke, the server did not answer in time, or it answered nonsense.
    #[error("NFS server {host} port {port} ({service}): {reason}")]
    Transport {
        host: String,
        port: u16,
        service: &'static str,
        reason: String,
    },
    #[error(
        "NFS server {url} restarted while '{path}' was being written, so the data may be lost; write it again"
    )]
    WriteLost { url: String, path: String },
    #[error("the connection to NFS server {host} is unusable after an earlier error ({reason}); connect again")]
    Broken { host: String, reason: String },
}

impl NfsError {
    /// True if the error says the file or directory does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            NfsError::Status {
                status: nfsstat3::NFS3ERR_NOENT,
                ..
            }
        )
    }
}

fn exports_text(exports: &Option<Vec<String>>) -> String {
    match exports {
        None => "its export list could not be read".into(),
        Some(list) if list.is_empty() => "it exports nothing".into(),
        Some(list) => format!("it exports: {}", list.join(", ")),
    }
}

fn status_hint(status: nfsstat3) -> &'static str {
    use nfsstat3::*;
    match status {
        NFS3ERR_NOENT => " (no such file or directory)",
        NFS3ERR_EXIST => " (it already exists)",
        NFS3ERR_NOTDIR => " (not a directory)",
        NFS3ERR_ISDIR => " (it is a directory)",
        NFS3ERR_NOTEMPTY => " (the directory is not empty)",
        NFS3ERR_NOSPC => " (no space left on the storage)",
        NFS3ERR_DQUOT => " (quota exceeded)",
        NFS3ERR_ROFS => " (the export is read-only)",
        NFS3ERR_IO => " (I/O error on the server)",
        NFS3ERR_STALE => " (stale file handle: it was removed or the export changed)",
        NFS3ERR_FBIG => " (file too large)",
        NFS3ERR_NAMETOOLONG => " (name too long)",
        NFS3ERR_ACCES | NFS3ERR_PERM => " (permission denied)",
        NFS3ERR_JUKEBOX => " (the server is busy; try again)",
        _ => "",
    }
}

/// `nfs://server[:port]/export/path`, checked: a host name or IP address (IPv6 in
/// brackets), an optional NFS port, an absolute path without `..`. The path is kept
/// percent-decoded and normalised (no empty or `.` segments, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsUrl {
    host: String,
    port: Option<u16>,
    path: String,
}

impl NfsUrl {
    pub fn parse(url: &str) -> Result<Self, NfsError> {
        let bad = |reason: &str| NfsError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = url.trim().split_once("://") else {
            return Err(bad("expected nfs://server/export/path"));
        };
        if !scheme.eq_ignore_ascii_case("nfs") {
            return Err(bad(&format!(
                "the scheme must be nfs, not '{scheme}' (expected nfs://server/export/path)"
            )));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not supported"));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(bad("user names are not supported in NFS URLs"));
        }
        let (host, port) = split_host_port(authority).map_err(bad)?;
        let path = export_path(path).map_err(bad)?;
        Ok(NfsUrl { host, port, path })
    }

    /// The server: a host name (lower case) or an IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The NFS port, if the URL names one (else the portmapper's answer is used).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The exported directory's absolute path on the server, e.g. `/export/secondary`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl FromStr for NfsUrl {
    type Err = NfsError;

    fn from_str(s: &str) -> Result<Self, NfsError> {
        NfsUrl::parse(s)
    }
}

impl fmt::Display for NfsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "nfs://[{}]", self.host)?;
        } else {
            write!(f, "nfs://{}", self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        f.write_str(&self.path)
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), &'static str> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (ip, after) = bracketed
            .split_once(']')
            .ok_or("unclosed '[' in the server address")?;
        ip.parse::<Ipv6Addr>()
            .map_err(|_| "the address in brackets is not an IPv6 address")?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("unexpected text after ']'")?),
        };
        (ip.to_string(), port)
    } else {
        match authority.split_once(':') {
            Some((_, p)) if p.contains(':') => {
                return Err(
                    "an IPv6 address must be written in brackets, e.g. nfs://[fd00::1]/export",
                )
            }
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err("no server given (expected nfs://server/export/path)");
    }
    if host.parse::<IpAddr>().is_err() && !is_dns_name(&host) {
        return Err("the server is neither an IP address nor a valid host name");
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("the port must be a number from 1 to 65535"),
            Ok(p) => Some(p),
        },
    };
    Ok((host, port))
}

fn is_dns_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The export path of a URL: absolute, percent-decoded, normalised, no `..`.
fn export_path(raw: &str) -> Result<String, &'static str> {
    if raw.is_empty() {
        return Err("no export path (expected nfs://server/export/path)");
    }
    if !raw.starts_with('/') {
        return Err("the export path must be absolute");
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "the export path is not valid UTF-8")?;
    let mut path = String::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err("'..' is not allowed in the export path"),
            s if s.contains('\0') => return Err("the export path contains a NUL character"),
            s => {
                path.push('/');
                path.push_str(s);
            }
        }
    }
    if path.is_empty() {
        return Err(
            "the export path is empty: name the exported directory, e.g. nfs://server/export",
        );
    }
    Ok(path)
}

/// A path inside the export, as components. `""` and `"/"` are the export's root.
fn components(rel: &str) -> Result<Vec<&str>, NfsError> {
    let bad = |reason| NfsError::InvalidPath {
        path: rel.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad("'..' is not allowed")),
            c if c.contains('\0') => return Err(bad("it contains a NUL character")),
            c if c.len() > 255 => return Err(bad("a name is longer than 255 bytes")),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A path's parent directory and last name; the export's root has neither.
fn split_parent(rel: &str) -> Result<(Vec<&str>, &str), NfsError> {
    let mut comps = components(rel)?;
    let name = comps.pop().ok_or_else(|| NfsError::InvalidPath {
        path: rel.to_string(),
        reason: "it names the export's root",
    })?;
    Ok((comps, name))
}

/// Capacity of an export, in bytes, from FSSTAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub total: u64,
    pub used: u64,
    /// Free space available to the client (may be less than total - used).
    pub available: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// One entry of [`NfsClient::read_dir`] (without `.` and `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: FileKind,
    pub size: u64,
}

/// What [`NfsClient::measure_write_rate`] measured.
#[derive(Debug, Clone, Copy)]
pub struct WriteRate {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl WriteRate {
    pub fn mib_per_second(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A TCP stream as `nfs3_client` wants it. A closed connection is an error: the crate's
/// read loop would otherwise spin on zero-byte reads forever.
struct Io(TcpStream);

impl AsyncRead for Io {
    async fn async_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf).await? {
            0 if !buf.is_empty() => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )),
            n => Ok(n),
        }
    }
}

impl AsyncWrite for Io {
    async fn async_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.write(buf).await? {
            0 if !buf.is_empty() => Err(io::ErrorKind::WriteZero.into()),
            n => Ok(n),
        }
    }
}

pub(crate) fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Connects to `addr` within `timeout`, from a privileged port if asked and allowed.
async fn dial(addr: SocketAddr, privileged: bool, timeout: Duration) -> io::Result<Io> {
    let connect = async {
        if privileged {
            if let Some(stream) = dial_privileged(addr).await? {
                return Ok(stream);
            }
        }
        TcpStream::connect(addr).await
    };
    let stream = tokio::time::timeout(timeout, connect).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {}", seconds(timeout)),
        )
    })??;
    stream.set_nodelay(true)?;
    Ok(Io(stream))
}

/// `None` if this process may not bind privileged ports (not root) or all are taken.
async fn dial_privileged(addr: SocketAddr) -> io::Result<Option<TcpStream>> {
    const FIRST: u16 = 600;
    const COUNT: u16 = 1024 - FIRST;
    let start = rand::random::<u16>() % COUNT;
    let any: IpAddr = if addr.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    for i in 0..COUNT {
        let port = FIRST + (start + i) % COUNT;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(SocketAddr::new(any, port)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
        match socket.connect(addr).await {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable
                ) => {}
            result => return result.map(Some),
        }
    }
    Ok(None)
}

/// A connection error in words: the standard cases plainly, anything else as it is.
pub(crate) fn io_reason(e: &io::Error) -> String {
    if e.get_ref().is_some() {
        return e.to_string(); // our own texts ("no answer within 5 s", ...)
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused (nothing listens there)".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        io::ErrorKind::TimedOut => "connection timed out".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        _ => e.to_string(),
    }
}

async fn resolve(host: &str, timeout: Duration) -> Result<IpAddr, NfsError> {
    if let Ok(ip) = host.parse() {
        return Ok(ip);
    }
    let failed = |reason: String| NfsError::Resolve {
        host: host.to_string(),
        reason,
    };
    let addrs = tokio::time::timeout(timeout, tokio::net::lookup_host((host, 0)))
        .await
        .map_err(|_| failed(format!("no answer within {}", seconds(timeout))))?
        .map_err(|e| failed(e.to_string()))?
        .collect::<Vec<_>>();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip())
        .ok_or_else(|| failed("no address found".into()))
}

/// The AUTH_UNIX credential of root (uid 0, gid 0).
fn root_credential() -> opaque_auth<'static> {
    opaque_auth::auth_unix(&auth_unix {
        machinename: Opaque::borrowed(b"stratus"),
        ..auth_unix::default()
    })
}

fn file_kind(attrs: &fattr3) -> FileKind {
    match attrs.type_ {
        ftype3::NF3REG => FileKind::File,
        ftype3::NF3DIR => FileKind::Directory,
        ftype3::NF3LNK => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

fn option<T: Pack + Unpack>(o: Nfs3Option<T>) -> Option<T> {
    match o {
        Nfs3Option::Some(v) => Some(v),
        Nfs3Option::None => None,
    }
}

fn dirop<'a>(dir: &nfs_fh3, name: &'a str) -> diropargs3<'a> {
    diropargs3 {
        dir: dir.clone(),
        name: filename3::from(name.as_bytes()),
    }
}

/// Where the connection phase is, for errors that name the service and port.
struct Step<'a> {
    host: &'a str,
    port: u16,
    service: &'static str,
}

impl<'a> Step<'a> {
    fn new(host: &'a str, port: u16, service: &'static str) -> Self {
        Step {
            host,
            port,
            service,
        }
    }

    /// A TCP connection to this step's service.
    async fn dial(&self, ip: IpAddr, privileged: bool, timeout: Duration) -> Result<Io, NfsError> {
        dial(SocketAddr::new(ip, self.port), privileged, timeout)
            .await
            .map_err(|e| self.unreachable(&e))
    }

    fn unreachable(&self, e: &io::Error) -> NfsError {
        NfsError::Unreachable {
            host: self.host.to_string(),
            port: self.port,
            service: self.service,
            reason: io_reason(e),
        }
    }

    fn transport(&self, reason: String) -> NfsError {
        NfsError::Transport {
            host: self.host.to_string(),
            port: self.port,
            service: self.service,
            reason,
        }
    }

    fn rpc(&self, e: RpcError, path: &str) -> NfsError {
        match e {
            RpcError::Auth(stat) => NfsError::PermissionDenied {
                host: self.host.to_string(),
                path: path.to_string(),
                reason: format!("the server rejected the credentials of root (uid 0) with {stat}"),
            },
            RpcError::Io(e) => self.transport(io_reason(&e)),
            e => self.transport(e.to_string()),
        }
    }

    fn elapsed(&self, timeout: Duration) -> NfsError {
        self.transport(format!("no answer within {}", seconds(timeout)))
    }
}

/// One mounted NFS export. Paths given to its methods are relative to the export
/// (`"iso/2/x.iso"`; a leading `/` is allowed), without `..`. One call at a time.
pub struct NfsClient {
    url: NfsUrl,
    nfs: Nfs3Client<Io>,
    nfs_port: u16,
    root: nfs_fh3,
    rtmax: u32,
    wtmax: u32,
    timeout: Duration,
    /// Why the connection became unusable, once it has.
    broken: Option<String>,
}

/// One RPC on the NFS connection: fails fast on a broken connection, applies the timeout,
/// and marks the connection broken when the transport failed. Gives the `Nfs3Result`.
macro_rules! rpc {
    ($client:ident . $method:ident ($args:expr)) => {{
        $client.usable()?;
        let res = tokio::time::timeout($client.timeout, $client.nfs.$method($args)).await;
        $client.rpc_result(res)?
    }};
}

impl NfsClient {
    /// Mounts the export `url` names. `timeout` bounds each step (name resolution, each
    /// connection, each call), here and in every later call.
    /// Mounts `url` and reads its capacity (FSSTAT): what adding storage checks and the
    /// capacity refresh records.
    pub async fn capacity_of(url: &NfsUrl, timeout: Duration) -> Result<Capacity, NfsError> {
        NfsClient::connect(url, timeout).await?.fsstat().await
    }

    pub async fn connect(url: &NfsUrl, timeout: Duration) -> Result<NfsClient, NfsError> {
        let host = url.host();
        let ip = resolve(host, timeout).await?;
        let credential = root_credential();

        // The portmapper: where MOUNT (and NFS, unless the URL says) listen.
        let step = Step::new(host, portmap::PMAP_PORT, "portmapper");
        let io = step.dial(ip, false, timeout).await?;
        let mut portmapper = PortmapperClient::new(io);
        let mut getport = async |program: u32, service: &'static str| {
            let call = portmapper.getport(program, 3, portmap::IPPROTO_TCP);
            match tokio::time::timeout(timeout, call).await {
                Err(_) => Err(step.elapsed(timeout)),
                Ok(Ok(port)) => Ok(port),
                Ok(Err(PortmapError::ProgramUnavailable)) => Err(NfsError::NoService {
                    host: host.to_string(),
                    service,
                }),
                Ok(Err(PortmapError::Rpc(e))) => Err(step.rpc(e, url.path())),
                Ok(Err(e)) => Err(step.transport(e.to_string())),
            }
        };
        let mount_port = getport(mount::PROGRAM, "MOUNT").await?;
        let nfs_port = match url.port() {
            Some(port) => port,
            None => getport(nfs3::PROGRAM, "NFS").await?,
        };
        drop(portmapper);

        // MOUNT: the export's root file handle.
        let step = Step::new(host, mount_port, "MOUNT");
        let io = step.dial(ip, true, timeout).await?;
        let mut mnt = MountClient::new_with_auth(io, credential.clone(), opaque_auth::default());
        let path = dirpath(Opaque::borrowed(url.path().as_bytes()));
        let root = match tokio::time::timeout(timeout, mnt.mnt(path)).await {
            Err(_) => return Err(step.elapsed(timeout)),
            Ok(Ok(ok)) => nfs_fh3 { data: ok.fhandle.0 },
            Ok(Err(MountError::Rpc(e))) => return Err(step.rpc(e, url.path())),
            Ok(Err(MountError::Denied(status))) => {
                let exports = match tokio::time::timeout(timeout, mnt.export()).await {
                    Ok(Ok(list)) => Some(
                        list.into_inner()
                            .into_iter()
                            .map(|e| String::from_utf8_lossy(&e.ex_dir.0).into_owned())
                            .collect::<Vec<_>>(),
                    ),
                    _ => None,
                };
                return Err(mount_denied(url, status, exports));
            }
        };
        drop(mnt);

        // NFS itself.
        let step = Step::new(host, nfs_port, "NFS");
        let io = step.dial(ip, true, timeout).await?;
        let mut client = NfsClient {
            url: url.clone(),
            nfs: Nfs3Client::new_with_auth(io, credential, opaque_auth::default()),
            nfs_port,
            root,
            rtmax: 64 * 1024,
            wtmax: 64 * 1024,
            timeout,
            broken: None,
        };
        // FSINFO: the server's transfer sizes (and proof that NFS answers for this handle).
        let args = nfs3::FSINFO3args {
            fsroot: client.root.clone(),
        };
        let res = rpc!(client.fsinfo(&args));
        let info = client.check("FSINFO", "/", res)?;
        client.rtmax = info.rtmax.clamp(4096, MAX_IO);
        client.wtmax = info.wtmax.clamp(4096, MAX_IO);
        Ok(client)
    }

    pub fn url(&self) -> &NfsUrl {
        &self.url
    }

    /// The export's capacity.
    pub async fn fsstat(&mut self) -> Result<Capacity, NfsError> {
        let args = nfs3::FSSTAT3args {
            fsroot: self.root.clone(),
        };
        let res = rpc!(self.fsstat(&args));
        let ok = self.check("FSSTAT", "/", res)?;
        Ok(Capacity {
            total: ok.tbytes,
            used: ok.tbytes.saturating_sub(ok.fbytes),
            available: ok.abytes,
        })
    }

    /// Creates the directory `rel` and any missing parents (mode 0755).
    pub async fn mkdir_all(&mut self, rel: &str) -> Result<(), NfsError> {
        let comps = components(rel)?;
        let mut dir = self.root.clone();
        for (i, name) in comps.iter().enumerate() {
            let path = comps[..=i].join("/");
            dir = match self.lookup(&dir, name, &path).await? {
                Some((fh, attrs)) => match attrs.map(|a| file_kind(&a)) {
                    Some(FileKind::Directory) | None => fh,
                    Some(_) => return Err(self.status("MKDIR", &path, nfsstat3::NFS3ERR_NOTDIR)),
                },
                None => self.mkdir(&dir, name, &path).await?,
            };
        }
        Ok(())
    }

    /// True if `rel` exists (whatever its kind).
    pub async fn exists(&mut self, rel: &str) -> Result<bool, NfsError> {
        match self.resolve(rel).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The size of `rel` in bytes.
    pub async fn size(&mut self, rel: &str) -> Result<u64, NfsError> {
        let fh = self.resolve(rel).await?;
        Ok(self.getattr(fh, rel).await?.size)
    }

    /// The bytes `rel` takes on the server's disk (NFSv3's `used`, what `du` counts: less
    /// than its size for a thin or sparse file).
    pub async fn used(&mut self, rel: &str) -> Result<u64, NfsError> {
        let fh = self.resolve(rel).await?;
        Ok(self.getattr(fh, rel).await?.used)
    }

    /// Removes the file `rel` (not a directory: see [`Self::remove_dir_all`]).
    pub async fn remove(&mut self, rel: &str) -> Result<(), NfsError> {
        let (parent, name) = split_parent(rel)?;
        let dir = self.resolve_components(&parent).await?;
        self.remove_in(&dir, name, rel).await
    }

    /// Removes the directory `rel` with everything in it. Refuses the export's root.
    pub async fn remove_dir_all(&mut self, rel: &str) -> Result<(), NfsError> {
        let (parent, name) = split_parent(rel)?;
        let dir = self.resolve_components(&parent).await?;
        let target = match self.lookup(&dir, name, rel).await? {
            Some((fh, _)) => fh,
            None => return Err(self.status("LOOKUP", rel, nfsstat3::NFS3ERR_NOENT)),
        };
        self.clear_dir(target, rel).await?;
        self.rmdir_in(&dir, name, rel).await
    }

    /// Renames (moves) `from` to `to`, replacing a file at `to`.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), NfsError> {
        let (from_parent, from_name) = split_parent(from)?;
        let (to_parent, to_name) = split_parent(to)?;
        let from_dir = self.resolve_components(&from_parent).await?;
        let to_dir = self.resolve_components(&to_parent).await?;
        let args = nfs3::RENAME3args {
            from: dirop(&from_dir, from_name),
            to: dirop(&to_dir, to_name),
        };
        let res = rpc!(self.rename(&args));
        self.check("RENAME", &format!("{from}' to '{to}"), res)?;
        Ok(())
    }

    /// The entries of the directory `rel` (`""` for the export's root), without `.` and `..`.
    pub async fn read_dir(&mut self, rel: &str) -> Result<Vec<DirEntry>, NfsError> {
        let fh = self.resolve(rel).await?;
        let entries = self.list(fh.clone(), rel).await?;
        let mut out = Vec::with_capacity(entries.len());
        for (name, attrs) in entries {
            let attrs = match attrs {
                Some(a) => a,
                // READDIRPLUS may omit attributes; ask for them.
                None => {
                    let path = format!("{rel}/{name}");
                    let (child, _) = self
                        .lookup(&fh, &name, &path)
                        .await?
                        .ok_or_else(|| self.status("LOOKUP", &path, nfsstat3::NFS3ERR_NOENT))?;
                    self.getattr(child, &path).await?
                }
            };
            out.push(DirEntry {
                name,
                kind: file_kind(&attrs),
                size: attrs.size,
            });
        }
        Ok(out)
    }

    /// Up to `len` bytes of `rel` from `offset` (fewer at the end of the file).
    pub async fn read(&mut self, rel: &str, offset: u64, len: usize) -> Result<Vec<u8>, NfsError> {
        let fh = self.resolve(rel).await?;
        let mut out = Vec::with_capacity(len.min(MAX_IO as usize));
        while out.len() < len {
            let count = (len - out.len()).min(self.rtmax as usize) as u32;
            let args = nfs3::READ3args {
                file: fh.clone(),
                offset: offset + out.len() as u64,
                count,
            };
            let res = rpc!(self.read(&args));
            let ok = self.check("READ", rel, res)?;
            let data = ok.data.into_owned();
            let done = ok.eof || data.is_empty();
            out.extend_from_slice(&data[..data.len().min(len - out.len())]);
            if done {
                break;
            }
        }
        Ok(out)
    }

    /// Creates (or truncates) the file `rel`, mode 0644, for writing in order with
    /// [`NfsWriter::write`]; [`NfsWriter::finish`] commits it. The parent must exist.
    pub async fn create(&mut self, rel: &str) -> Result<NfsWriter<'_>, NfsError> {
        let (parent, name) = split_parent(rel)?;
        let dir = self.resolve_components(&parent).await?;
        let args = nfs3::CREATE3args {
            where_: dirop(&dir, name),
            how: createhow3::UNCHECKED(sattr3 {
                mode: Nfs3Option::Some(0o644),
                size: Nfs3Option::Some(0),
                ..sattr3::default()
            }),
        };
        let res = rpc!(self.create(&args));
        let ok = self.check("CREATE", rel, res)?;
        let file = match option(ok.obj) {
            Some(fh) => fh,
            None => self.resolve(rel).await?,
        };
        Ok(NfsWriter {
            client: self,
            path: rel.to_string(),
            file,
            offset: 0,
            verifier: None,
            uncommitted: false,
        })
    }

    /// Writes `bytes` zeros to the new file `rel` in 1 MiB chunks, commits, removes it, and
    /// says how long writing and committing took: the raw NFS write rate to compare
    /// downloads with.
    pub async fn measure_write_rate(
        &mut self,
        rel: &str,
        bytes: u64,
    ) -> Result<WriteRate, NfsError> {
        let zeros = vec![0u8; MAX_IO as usize];
        let start = Instant::now();
        let mut writer = self.create(rel).await?;
        let mut left = bytes;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            writer.write(&zeros[..n]).await?;
            left -= n as u64;
        }
        writer.finish().await?;
        let elapsed = start.elapsed();
        self.remove(rel).await?;
        Ok(WriteRate { bytes, elapsed })
    }

    // ---- internals ----

    fn usable(&self) -> Result<(), NfsError> {
        match &self.broken {
            None => Ok(()),
            Some(reason) => Err(NfsError::Broken {
                host: self.url.host().to_string(),
                reason: reason.clone(),
            }),
        }
    }

    /// The outcome of one call on the NFS connection; a dead transport breaks the client.
    fn rpc_result<T>(&mut self, res: Result<Result<T, RpcError>, Elapsed>) -> Result<T, NfsError> {
        let step = Step::new(self.url.host(), self.nfs_port, "NFS");
        let (err, broken) = match res {
            Ok(Ok(v)) => return Ok(v),
            Err(_) => (step.elapsed(self.timeout), true),
            Ok(Err(e)) => {
                let broken = !e.is_connection_reusable();
                (step.rpc(e, self.url.path()), broken)
            }
        };
        if broken {
            self.broken = Some(err.to_string());
        }
        Err(err)
    }

    fn status(&self, op: &'static str, path: &str, status: nfsstat3) -> NfsError {
        match status {
            nfsstat3::NFS3ERR_ACCES | nfsstat3::NFS3ERR_PERM => NfsError::PermissionDenied {
                host: self.url.host().to_string(),
                path: format!("{}/{}", self.url.path(), path.trim_start_matches('/')),
                reason: format!("{op} answered {status}"),
            },
            status => NfsError::Status {
                url: self.url.to_string(),
                op,
                path: path.to_string(),
                status,
            },
        }
    }

    fn check<T, E>(
        &self,
        op: &'static str,
        path: &str,
        res: Nfs3Result<T, E>,
    ) -> Result<T, NfsError> {
        match res {
            Nfs3Result::Ok(v) => Ok(v),
            Nfs3Result::Err((status, _)) => Err(self.status(op, path, status)),
        }
    }

    /// LOOKUP of `name` in `dir`: `None` if it does not exist.
    async fn lookup(
        &mut self,
        dir: &nfs_fh3,
        name: &str,
        path: &str,
    ) -> Result<Option<(nfs_fh3, Option<fattr3>)>, NfsError> {
        let args = nfs3::LOOKUP3args {
            what: dirop(dir, name),
        };
        match rpc!(self.lookup(&args)) {
            Nfs3Result::Ok(ok) => Ok(Some((ok.object, option(ok.obj_attributes)))),
            Nfs3Result::Err((nfsstat3::NFS3ERR_NOENT, _)) => Ok(None),
            Nfs3Result::Err((status, _)) => Err(self.status("LOOKUP", path, status)),
        }
    }

    async fn resolve_components(&mut self, comps: &[&str]) -> Result<nfs_fh3, NfsError> {
        let mut fh = self.root.clone();
        for (i, name) in comps.iter().enumerate() {
            let path = comps[..=i].join("/");
            fh = match self.lookup(&fh, name, &path).await? {
                Some((child, _)) => child,
                None => return Err(self.status("LOOKUP", &path, nfsstat3::NFS3ERR_NOENT)),
            };
        }
        Ok(fh)
    }

    async fn resolve(&mut self, rel: &str) -> Result<nfs_fh3, NfsError> {
        let comps = components(rel)?;
        self.resolve_components(&comps).await
    }

    async fn getattr(&mut self, fh: nfs_fh3, path: &str) -> Result<fattr3, NfsError> {
        let args = nfs3::GETATTR3args { object: fh };
        let res = rpc!(self.getattr(&args));
        Ok(self.check("GETATTR", path, res)?.obj_attributes)
    }

    async fn mkdir(&mut self, dir: &nfs_fh3, name: &str, path: &str) -> Result<nfs_fh3, NfsError> {
        let args = nfs3::MKDIR3args {
            where_: dirop(dir, name),
            attributes: sattr3 {
                mode: Nfs3Option::Some(0o755),
                ..sattr3::default()
            },
        };
        match rpc!(self.mkdir(&args)) {
            Nfs3Result::Ok(ok) => match option(ok.obj) {
                Some(fh) => Ok(fh),
                None => self.resolve(path).await,
            },
            // Someone else made it meanwhile: fine if it is a directory.
            Nfs3Result::Err((nfsstat3::NFS3ERR_EXIST, _)) => {
                let fh = self.resolve(path).await?;
                match file_kind(&self.getattr(fh.clone(), path).await?) {
                    FileKind::Directory => Ok(fh),
                    _ => Err(self.status("MKDIR", path, nfsstat3::NFS3ERR_NOTDIR)),
                }
            }
            Nfs3Result::Err((status, _)) => Err(self.status("MKDIR", path, status)),
        }
    }

    async fn remove_in(&mut self, dir: &nfs_fh3, name: &str, path: &str) -> Result<(), NfsError> {
        let args = nfs3::REMOVE3args {
            object: dirop(dir, name),
        };
        let res = rpc!(self.remove(&args));
        self.check("REMOVE", path, res).map(drop)
    }

    async fn rmdir_in(&mut self, dir: &nfs_fh3, name: &str, path: &str) -> Result<(), NfsError> {
        let args = nfs3::RMDIR3args {
            object: dirop(dir, name),
        };
        let res = rpc!(self.rmdir(&args));
        self.check("RMDIR", path, res).map(drop)
    }

    /// Removes everything inside the directory `dir`.
    async fn clear_dir(&mut self, dir: nfs_fh3, path: &str) -> Result<(), NfsError> {
        for (name, attrs) in self.list(dir.clone(), path).await? {
            let child_path = format!("{path}/{name}");
            let is_dir = match attrs {
                Some(a) => file_kind(&a) == FileKind::Directory,
                None => {
                    // No attributes in the listing: a directory is what REMOVE refuses.
                    match self.remove_in(&dir, &name, &child_path).await {
                        Ok(()) => continue,
                        Err(_) => true,
                    }
                }
            };
            if is_dir {
                let (child, _) = self
                    .lookup(&dir, &name, &child_path)
                    .await?
                    .ok_or_else(|| self.status("LOOKUP", &child_path, nfsstat3::NFS3ERR_NOENT))?;
                Box::pin(self.clear_dir(child, &child_path)).await?;
                self.rmdir_in(&dir, &name, &child_path).await?;
            } else {
                self.remove_in(&dir, &name, &child_path).await?;
            }
        }
        Ok(())
    }

    /// READDIRPLUS until the end: names (without `.` and `..`) with attributes if given.
    async fn list(
        &mut self,
        dir: nfs_fh3,
        path: &str,
    ) -> Result<Vec<(String, Option<fattr3>)>, NfsError> {
        let mut out = Vec::new();
        let mut cookie = 0;
        let mut cookieverf = cookieverf3::default();
        loop {
            let args = nfs3::READDIRPLUS3args {
                dir: dir.clone(),
                cookie,
                cookieverf,
                dircount: 16 * 1024,
                maxcount: 64 * 1024,
            };
            let res = rpc!(self.readdirplus(&args));
            let ok = self.check("READDIRPLUS", path, res)?;
            cookieverf = ok.cookieverf;
            let entries = ok.reply.entries.into_inner();
            let last = entries.is_empty();
            for e in entries {
                cookie = e.cookie;
                let name = String::from_utf8_lossy(e.name.as_ref()).into_owned();
                if name != "." && name != ".." {
                    out.push((name, option(e.name_attributes)));
                }
            }
            if ok.reply.eof || last {
                return Ok(out);
            }
        }
    }
}

/// The answer to a refused MNT: not exported, or exported but not to us.
fn mount_denied(url: &NfsUrl, status: mountstat3, exports: Option<Vec<String>>) -> NfsError {
    let exported = exports
        .as_ref()
        .map(|list| list.iter().any(|e| e.trim_end_matches('/') == url.path()));
    let denied = matches!(status, mountstat3::MNT3ERR_ACCES | mountstat3::MNT3ERR_PERM);
    // An export the server lists, or an access error without a list, is a permission problem.
    if exported == Some(true) || (denied && exported.is_none()) {
        NfsError::PermissionDenied {
            host: url.host().to_string(),
            path: url.path().to_string(),
            reason: format!(
                "the server refused the mount ({status}); check the export's client list"
            ),
        }
    } else {
        NfsError::NotExported {
            host: url.host().to_string(),
            path: url.path().to_string(),
            status: status.to_string(),
            exports,
        }
    }
}

/// Writes one file from start to end in chunks of any size, never holding more than one
/// chunk: what a download streams into. Call [`NfsWriter::finish`] at the end; a writer
/// dropped without it leaves a partial, possibly uncommitted file behind (remove it).
pub struct NfsWriter<'a> {
    client: &'a mut NfsClient,
    path: String,
    file: nfs_fh3,
    offset: u64,
    /// The server's write verifier from the first write: if it changes, the server
    /// restarted and uncommitted data may be gone.
    verifier: Option<writeverf3>,
    uncommitted: bool,
}

impl NfsWriter<'_> {
    /// Appends `data` at the current end (in WRITEs of the server's maximum size).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), NfsError> {
        let mut rest = data;
        while !rest.is_empty() {
            let piece = &rest[..rest.len().min(self.client.wtmax as usize)];
            let args = nfs3::WRITE3args {
                file: self.file.clone(),
                offset: self.offset,
                count: piece.len() as u32,
                stable: stable_how::UNSTABLE,
                data: Opaque::borrowed(piece),
            };
            let client = &mut *self.client;
            let res = rpc!(client.write(&args));
            let ok = client.check("WRITE", &self.path, res)?;
            if ok.count == 0 {
                return Err(client.status("WRITE", &self.path, nfsstat3::NFS3ERR_IO));
            }
            self.verify(ok.verf)?;
            if ok.committed != stable_how::FILE_SYNC {
                self.uncommitted = true;
            }
            let written = (ok.count as usize).min(piece.len());
            self.offset += written as u64;
            rest = &rest[written..];
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.offset
    }

    /// Commits what the server may still cache to stable storage; returns the file's size.
    pub async fn finish(self) -> Result<u64, NfsError> {
        let mut this = self;
        if this.uncommitted {
            let args = nfs3::COMMIT3args {
                file: this.file.clone(),
                offset: 0,
                count: 0,
            };
            let client = &mut *this.client;
            let res = rpc!(client.commit(&args));
            let ok = client.check("COMMIT", &this.path, res)?;
            this.verify(ok.verf)?;
        }
        Ok(this.offset)
    }

    fn verify(&mut self, verf: writeverf3) -> Result<(), NfsError> {
        match self.verifier {
            None => self.verifier = Some(verf),
            Some(v) if v == verf => {}
            Some(_) => {
                return Err(NfsError::WriteLost {
                    url: self.client.url.to_string(),
                    path: self.path.clone(),
                })
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        NfsUrl::parse(url).unwrap_err().to_string()
    }

    #[test]
    fn parses_urls() {
        let u = NfsUrl::parse("nfs://10.1.2.3/export/secondary").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.path()),
            ("10.1.2.3", None, "/export/secondary")
        );
        let u: NfsUrl = "NFS://Filer.Example.com:2049//a/./b%20c/".parse().unwrap();
        assert_eq!(u.host(), "filer.example.com");
        assert_eq!(u.port(), Some(2049));
        assert_eq!(u.path(), "/a/b c");
        assert_eq!(u.to_string(), "nfs://filer.example.com:2049/a/b c");
        let u = NfsUrl::parse("nfs://[fd00::1]:2050/x").unwrap();
        assert_eq!((u.host(), u.port()), ("fd00::1", Some(2050)));
        assert_eq!(u.to_string(), "nfs://[fd00::1]:2050/x");
    }

    #[test]
    fn rejects_bad_urls() {
        assert_eq!(
            err("http://h/x"),
            "invalid NFS URL 'http://h/x': the scheme must be nfs, not 'http' (expected nfs://server/export/path)"
        );
        for (url, says) in [
            ("10.0.0.1:/export", "expected nfs://server/export/path"),
            ("nfs:///export", "no server given"),
            ("nfs://h", "no export path"),
            ("nfs://h/", "the export path is empty"),
            ("nfs://h/a/../b", "'..' is not allowed"),
            ("nfs://h/a/%2e%2e/b", "'..' is not allowed"),
            ("nfs://h:0/a", "port must be a number"),
            ("nfs://h:99999/a", "port must be a number"),
            ("nfs://fd00::1/a", "brackets"),
            ("nfs://[fd00::1/a", "unclosed"),
            (
                "nfs://bad_host!/a",
                "neither an IP address nor a valid host name",
            ),
            ("nfs://u@h/a", "user names"),
            ("nfs://h/a?x=1", "query"),
        ] {
            assert!(err(url).contains(says), "{url}: {}", err(url));
        }
    }

    #[test]
    fn paths_inside_the_export() {
        assert_eq!(components("/a//b/./c/").unwrap(), vec!["a", "b", "c"]);
        assert!(components("").unwrap().is_empty());
        assert_eq!(
            components("a/../b").unwrap_err().to_string(),
            "invalid path 'a/../b' on NFS storage: '..' is not allowed"
        );
        assert_eq!(split_parent("x/y.iso").unwrap(), (vec!["x"], "y.iso"));
        assert!(split_parent("/")
            .unwrap_err()
            .to_string()
            .contains("the export's root"));
    }

    #[test]
    fn mount_refusals_are_told_apart() {
        let url = NfsUrl::parse("nfs://10.0.0.9/srv/b").unwrap();
        let e = mount_denied(&url, mountstat3::MNT3ERR_NOENT, Some(vec!["/srv/a".into()]));
        assert_eq!(
            e.to_string(),
            "NFS server 10.0.0.9 does not export /srv/b (MNT3ERR_NOENT); it exports: /srv/a"
        );
        let e = mount_denied(&url, mountstat3::MNT3ERR_ACCES, Some(vec!["/srv/b".into()]));
        assert!(matches!(e, NfsError::PermissionDenied { .. }), "{e}");
        let e = mount_denied(&url, mountstat3::MNT3ERR_ACCES, Some(vec![]));
        assert!(e.to_string().ends_with("it exports nothing"), "{e}");
    }
}
