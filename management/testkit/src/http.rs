//! Support shared by the storage tests and the download benchmark (which includes this
//! file with `#[path]`): the simulated NFS server (`stratus_tests::NfsServer`, over
//! tests/testbed/nfs-server.sh), and an async HTTP/1.1 server on 127.0.0.1 whose answers a
//! test scripts: files, generated ISO images that are never held in memory, wrong or
//! missing Content-Length, redirects, errors, paced, held or stalled bodies at gates the
//! test opens.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub use stratus_tests::NfsServer;

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Every regular file below `dir`, as paths relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// An ISO-shaped image of any size, made up as it is read: a fixed 1 MiB pseudo-random
/// block repeated, with `CD001` at byte 32769.
#[derive(Clone)]
pub struct GeneratedIso {
    pub len: u64,
    block: Arc<Vec<u8>>,
}

impl GeneratedIso {
    pub const BLOCK: usize = 1024 * 1024;

    pub fn new(len: u64) -> GeneratedIso {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let block = (0..Self::BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        GeneratedIso {
            len,
            block: Arc::new(block),
        }
    }

    /// Fills `buf` with the image's bytes from `offset` (past the end: nothing is checked).
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let in_block = (at % Self::BLOCK as u64) as usize;
            let n = (Self::BLOCK - in_block).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&self.block[in_block..in_block + n]);
            done += n;
        }
        // The signature, where it falls into this piece.
        for (i, b) in b"CD001".iter().enumerate() {
            let pos = 32769 + i as u64;
            if pos >= offset && pos < offset + buf.len() as u64 {
                buf[(pos - offset) as usize] = *b;
            }
        }
    }

    /// The whole image (for small ones).
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = vec![0; self.len as usize];
        self.fill(0, &mut v);
        v
    }
}

/// What a response's body is made of.
#[derive(Clone)]
pub enum Source {
    Bytes(Arc<Vec<u8>>),
    File(PathBuf),
    Iso(GeneratedIso),
}

impl Source {
    pub fn bytes(data: impl Into<Vec<u8>>) -> Source {
        Source::Bytes(Arc::new(data.into()))
    }

    fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Source::Iso(iso) => iso.len,
        }
    }
}

/// The Content-Length a response announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// The body's true length.
    Actual,
    /// This number, whatever the body (the connection closes after the body).
    Announce(u64),
    /// None: the body goes chunked.
    Chunked,
}

/// Holds a response until the test opens it; tells the test when it got there.
#[derive(Default)]
pub struct Gate {
    reached: Notify,
    opened: Notify,
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Waits until a response stopped at this gate.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the response go on.
    pub fn open(&self) {
        self.opened.notify_one();
    }

    async fn pass(&self) {
        self.reached.notify_one();
        self.opened.notified().await;
    }
}

/// One scripted answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub length: Length,
    pub body: Source,
    /// Send the body in pieces of this size...
    pub piece: usize,
    /// ...with this pause after each.
    pub pause: Option<Duration>,
    /// Wait at this gate before sending the headers.
    pub hold_headers: Option<Arc<Gate>>,
    /// Wait at this gate once this many body bytes went out.
    pub stall: Option<(u64, Arc<Gate>)>,
}

impl Reply {
    pub fn ok(body: Source) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            length: Length::Actual,
            body,
            piece: 256 * 1024,
            pause: None,
            hold_headers: None,
            stall: None,
        }
    }

    pub fn status(status: u16, text: &str) -> Reply {
        Reply {
            status,
            ..Reply::ok(Source::bytes(text.as_bytes().to_vec()))
        }
    }

    pub fn redirect(to: &str) -> Reply {
        let mut r = Reply::status(302, "");
        r.headers.push(("Location".into(), to.into()));
        r
    }

    pub fn length(mut self, length: Length) -> Reply {
        self.length = length;
        self
    }

    /// Pieces of `piece` bytes, `pause` after each.
    pub fn paced(mut self, piece: usize, pause: Duration) -> Reply {
        self.piece = piece;
        self.pause = Some(pause);
        self
    }

    pub fn hold_headers(mut self, gate: &Arc<Gate>) -> Reply {
        self.hold_headers = Some(gate.clone());
        self
    }

    /// After `after` bytes of body (a multiple of the piece size or not), wait at `gate`.
    pub fn stall(mut self, after: u64, gate: &Arc<Gate>) -> Reply {
        self.stall = Some((after, gate.clone()));
        self
    }
}

/// An HTTP/1.1 server on 127.0.0.1 answering each path with its [`Reply`] (404 for
/// others); one request per connection. Stops accepting on drop.
pub struct HttpServer {
    pub addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    pub async fn start(routes: Vec<(&str, Reply)>) -> HttpServer {
        let routes: Arc<HashMap<String, Reply>> = Arc::new(
            routes
                .into_iter()
                .map(|(path, reply)| (path.to_string(), reply))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, &routes).await;
                });
            }
        });
        HttpServer { addr, accept }
    }

    pub fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

async fn serve(mut conn: TcpStream, routes: &HashMap<String, Reply>) -> std::io::Result<()> {
    // The request head; only its path matters.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let missing = Reply::status(404, "not found");
    let reply = routes.get(&path).unwrap_or(&missing);

    if let Some(gate) = &reply.hold_headers {
        gate.pass().await;
    }
    let len = reply.body.len();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n",
        reply.status,
        reason_phrase(reply.status)
    );
    match reply.length {
        Length::Actual => out += &format!("Content-Length: {len}\r\n"),
        Length::Announce(n) => out += &format!("Content-Length: {n}\r\n"),
        Length::Chunked => out += "Transfer-Encoding: chunked\r\n",
    }
    for (k, v) in &reply.headers {
        out += &format!("{k}: {v}\r\n");
    }
    out += "\r\n";
    conn.write_all(out.as_bytes()).await?;

    let mut file = match &reply.body {
        Source::File(p) => Some(tokio::fs::File::open(p).await?),
        _ => None,
    };
    let mut piece = vec![0u8; reply.piece];
    let mut sent = 0u64;
    while sent < len {
        let mut n = (len - sent).min(reply.piece as u64) as usize;
        if let Some((after, _)) = &reply.stall {
            if sent < *after {
                n = n.min((after - sent) as usize);
            }
        }
        let data = &mut piece[..n];
        match &reply.body {
            Source::Bytes(b) => data.copy_from_slice(&b[sent as usize..sent as usize + n]),
            Source::File(_) => file.as_mut().unwrap().read_exact(data).await.map(drop)?,
            Source::Iso(iso) => iso.fill(sent, data),
        }
        if reply.length == Length::Chunked {
            conn.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            conn.write_all(data).await?;
            conn.write_all(b"\r\n").await?;
        } else {
            conn.write_all(data).await?;
        }
        sent += n as u64;
        if let Some((after, gate)) = &reply.stall {
            if sent == *after {
                conn.flush().await?;
                gate.pass().await;
            }
        }
        if let Some(pause) = reply.pause {
            tokio::time::sleep(pause).await;
        }
    }
    if reply.length == Length::Chunked {
        conn.write_all(b"0\r\n\r\n").await?;
    }
    conn.shutdown().await
}
