//! ISO downloads: an HTTP(S) URL streamed into NFS storage, checked on the way.
//!
//! [`download_to_nfs`] is the whole pipeline, one call per download; the orchestration
//! (rows, jobs, `registerIso`) lives elsewhere and shows [`DownloadError`]'s text to the
//! admin as the ISO's status. The file is written as `DEST.part` and takes its final name
//! only when everything checked out, so a file under its final name is always complete.
//!
//! What it checks, as the bytes stream by (nothing is held beyond one ~1 MiB write buffer,
//! whatever the file's size):
//! - the URL is http or https; the server answers 2xx (redirects are followed by the
//!   `reqwest::Client` given, with its policy);
//! - the size against the limit: the announced Content-Length before anything is written,
//!   the bytes received when there is none;
//! - what the file is, as soon as its first bytes have arrived ([`ImageFormat`]): for an
//!   ISO the ISO 9660 signature, `CD001` at byte 32769 (the first volume descriptor at
//!   sector 16, after its type byte); for a template its disk image header
//!   ([`header`]: a standalone QCOW2, or RAW data that is no known container), whose
//!   virtual size the download reports. A web page or a wrong image is refused after
//!   its head, not after gigabytes;
//! - the checksum (MD5, SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512), computed
//!   incrementally: the expected one's algorithm, else SHA-256;
//! - timeouts: `connect_timeout` bounds everything up to the response headers (name
//!   resolution, connection, TLS, the server's answer), `idle_timeout` every wait for
//!   the next piece of the body.
//!
//! On any failure the partial file is removed. If the NFS connection broke, one new
//! connection is tried for that; if the storage is unreachable the error says the partial
//! file is left ([`DownloadError::partial_left`]) and [`remove_partial`] removes it later.

pub mod guard;
pub mod header;
use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sha2::digest::DynDigest;

use crate::clients::nfs::{io_reason, seconds, NfsClient, NfsError};

/// Where an ISO 9660 image has its first volume descriptor's `CD001`.
pub const ISO_SIGNATURE_OFFSET: u64 = 32769;
const ISO_SIGNATURE: &[u8; 5] = b"CD001";
/// Received data is written to NFS in pieces of this size (the last one may be shorter).
pub const WRITE_SIZE: usize = 1024 * 1024;
/// The least time between two progress reports (except the last one).
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// A checksum algorithm CloudStack accepts (`DigestHelper`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha224,
        Algorithm::Sha256,
        Algorithm::Sha384,
        Algorithm::Sha512,
    ];

    /// The name in `{name}hex`: `md5`, `sha1`, `sha224`, `sha256`, `sha384`, `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha224 => "sha224",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The name as people write it: `MD5`, `SHA-1`, ... (CloudStack's own spelling).
    pub fn label(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha1 => "SHA-1",
            Algorithm::Sha224 => "SHA-224",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha384 => "SHA-384",
            Algorithm::Sha512 => "SHA-512",
        }
    }

    /// How many hex digits a digest has.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha1 => 40,
            Algorithm::Sha224 => 56,
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }

    /// `md5`, `MD5`, `sha256`, `SHA-256`, `sha_256`: case and separators do not matter.
    fn from_name(name: &str) -> Option<Algorithm> {
        let plain: String = name
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        Algorithm::ALL.into_iter().find(|a| a.name() == plain)
    }

    fn hasher(self) -> Box<dyn DynDigest + Send> {
        match self {
            Algorithm::Md5 => Box::new(md5::Md5::default()),
            Algorithm::Sha1 => Box::new(sha1::Sha1::default()),
            Algorithm::Sha224 => Box::new(sha2::Sha224::default()),
            Algorithm::Sha256 => Box::new(sha2::Sha256::default()),
            Algorithm::Sha384 => Box::new(sha2::Sha384::default()),
            Algorithm::Sha512 => Box::new(sha2::Sha512::default()),
        }
    }
}

/// A digest: its algorithm and its value in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub hex: String,
}

impl Checksum {
    /// CloudStack's forms: `{md5}hex`, `{sha1}hex`, `{sha256}hex`, `{sha512}hex` (also
    /// `{sha224}`, `{sha384}`, and CloudStack's spelling `{MD5}`, `{SHA-256}`, ...), or
    /// plain hex, whose algorithm its length tells: 32 MD5, 40 SHA-1, 56 SHA-224, 64
    /// SHA-256, 96 SHA-384, 128 SHA-512. Hex digits in either case; spaces around ignored.
    pub fn parse(s: &str) -> Result<Checksum, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err("the checksum is empty".into());
        }
        let (algorithm, hex) = match text.strip_prefix('{') {
            Some(rest) => {
                let Some((name, hex)) = rest.split_once('}') else {
                    return Err(format!(
                        "the checksum '{text}' has no '}}' after its algorithm (expected {{algorithm}}hex, e.g. {{sha256}}…)"
                    ));
                };
                let algorithm = Algorithm::from_name(name).ok_or_else(|| {
                    format!(
                        "unknown checksum algorithm '{name}' in '{text}': use {}",
                        known_algorithms()
                    )
                })?;
                let hex = hex.trim();
                check_hex(text, hex)?;
                if hex.len() != algorithm.hex_len() {
                    return Err(format!(
                        "the {} checksum '{text}' has {} hex digits; {} has {}",
                        algorithm.label(),
                        hex.len(),
                        algorithm.label(),
                        algorithm.hex_len()
                    ));
                }
                (algorithm, hex)
            }
            None => {
                check_hex(text, text)?;
                let algorithm = Algorithm::ALL
                    .into_iter()
                    .find(|a| a.hex_len() == text.len())
                    .ok_or_else(|| {
                        format!(
                            "the checksum '{text}' has {} hex digits, which fits no algorithm: \
                             without an {{algorithm}} prefix it must have {}",
                            text.len(),
                            or_list(&Algorithm::ALL.map(|a| format!(
                                "{} ({})",
                                a.hex_len(),
                                a.label()
                            )))
                        )
                    })?;
                (algorithm, text)
            }
        };
        Ok(Checksum {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// `{sha256}hex`.
    pub fn to_cloudstack(&self) -> String {
        format!("{{{}}}{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_cloudstack())
    }
}

impl FromStr for Checksum {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Checksum::parse(s)
    }
}

fn known_algorithms() -> String {
    or_list(&Algorithm::ALL.map(|a| a.name().to_string()))
}

/// `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn check_hex(text: &str, hex: &str) -> Result<(), String> {
    if hex.is_empty() {
        return Err(format!("the checksum '{text}' has no digits"));
    }
    match hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        None => Ok(()),
        Some(c) => Err(format!(
            "the checksum '{text}' is not hexadecimal (it contains '{c}')"
        )),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// What a download must turn out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// An ISO 9660 image.
    Iso,
    /// A standalone QCOW2 disk image (see [`header::qcow2`]).
    Qcow2,
    /// Raw disk data (see [`header::raw`]).
    Raw,
}

impl ImageFormat {
    /// CloudStack's name: `ISO`, `QCOW2`, `RAW`.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Iso => "ISO",
            ImageFormat::Qcow2 => "QCOW2",
            ImageFormat::Raw => "RAW",
        }
    }

    /// The file name extension of a copy in an image store.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Iso => "iso",
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Raw => "raw",
        }
    }

    /// `QCOW2` or `RAW`, any case (the formats a template may have).
    pub fn template_format(s: &str) -> Option<ImageFormat> {
        match s.trim().to_ascii_uppercase().as_str() {
            "QCOW2" => Some(ImageFormat::Qcow2),
            "RAW" => Some(ImageFormat::Raw),
            _ => None,
        }
    }
}

/// What to download and the limits it must keep.
#[derive(Debug, Clone)]
pub struct DownloadSpec {
    pub url: url::Url,
    /// What the file must be.
    pub format: ImageFormat,
    /// The largest file accepted, in bytes (`max.template.iso.size` is in GB of 1024³).
    pub max_bytes: u64,
    /// Bounds everything up to the response headers: DNS, TCP, TLS, the server's answer.
    pub connect_timeout: Duration,
    /// The longest wait for the next piece of the body.
    pub idle_timeout: Duration,
    pub expected: Option<Checksum>,
}

/// How far a download is: bytes received, and the size if the server announced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
}

impl Progress {
    /// Whole percent done (0–100), if the size is known.
    pub fn percent(&self) -> Option<u8> {
        match self.total {
            Some(0) => Some(100),
            Some(total) => Some((self.done as u128 * 100 / total as u128).min(100) as u8),
            None => None,
        }
    }
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub size: u64,
    /// A disk image's virtual size: the QCOW2 header's, a RAW file's size; `None` for ISOs.
    pub virtual_size: Option<u64>,
    /// Computed over the bytes written: the expected checksum's algorithm, else SHA-256.
    pub checksum: Checksum,
}

/// Why a download failed, in words for the admin (shown as the ISO's status). URLs are
/// shown without their password.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("Cannot download {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("The server answered {status} for {url}{}", redirected_from(.requested))]
    HttpStatus {
        /// The URL that answered (after redirects).
        url: String,
        /// Code and reason phrase, e.g. `404 Not Found`.
        status: String,
        code: u16,
        /// The URL asked for, if redirects led elsewhere.
        requested: Option<String>,
    },
    #[error("Cannot resolve the host name '{host}' of {url}: {reason}")]
    Resolve {
        url: String,
        host: String,
        reason: String,
    },
    #[error("Cannot connect to {host} port {port} for {url}: {reason}")]
    Connect {
        url: String,
        host: String,
        port: u16,
        reason: String,
    },
    #[error("No answer from {host} port {port} within {} for {url}", seconds(*.timeout))]
    NoAnswer {
        url: String,
        host: String,
        port: u16,
        timeout: Duration,
    },
    #[error("Cannot download {url}: {reason}")]
    Request { url: String, reason: String },
    #[error("The download of {url} stalled: no data for {} (after {})", seconds(*.idle), progress_text(*.done, *.total))]
    Stalled {
        url: String,
        idle: Duration,
        done: u64,
        total: Option<u64>,
    },
    #[error("The download of {url} broke off after {}: {reason}", progress_text(*.done, *.total))]
    Transfer {
        url: String,
        done: u64,
        total: Option<u64>,
        reason: String,
    },
    #[error("{url} is larger than the {} limit (max.template.iso.size): {}", format_bytes(*.limit), too_large_text(*.limit, *.announced))]
    TooLarge {
        url: String,
        limit: u64,
        /// The announced Content-Length; `None` when the limit was passed while streaming.
        announced: Option<u64>,
    },
    #[error("{url} is not an ISO 9660 image: {}", not_iso_text(*.size))]
    NotIso {
        url: String,
        /// The whole file's size, when it was too short to hold the signature.
        size: Option<u64>,
    },
    #[error("{url} is not a {format} image: {reason}")]
    NotImage {
        url: String,
        /// `QCOW2` or `RAW`.
        format: &'static str,
        reason: String,
    },
    #[error("Checksum mismatch for {url}: expected {expected}, got {actual}")]
    ChecksumMismatch {
        url: String,
        expected: Checksum,
        actual: Checksum,
    },
    #[error("Writing to NFS storage failed: {0}")]
    Nfs(#[source] NfsError),
    #[error("The download of {url} was cancelled")]
    Cancelled { url: String },
    /// Another error, after which the partial file could not be removed.
    #[error("{error} (the partial file '{partial}' is left on the storage: {cleanup})")]
    PartialLeft {
        error: Box<DownloadError>,
        /// The partial file's path relative to the export.
        partial: String,
        cleanup: NfsError,
    },
}

impl DownloadError {
    /// What went wrong, without a [`DownloadError::PartialLeft`] around it.
    pub fn cause(&self) -> &DownloadError {
        match self {
            DownloadError::PartialLeft { error, .. } => error.cause(),
            e => e,
        }
    }

    /// The partial file left on the storage (relative to the export), if removing it
    /// failed: call [`remove_partial`] later.
    pub fn partial_left(&self) -> Option<&str> {
        match self {
            DownloadError::PartialLeft { partial, .. } => Some(partial),
            _ => None,
        }
    }
}

fn redirected_from(requested: &Option<String>) -> String {
    match requested {
        Some(url) => format!(" (redirected from {url})"),
        None => String::new(),
    }
}

fn progress_text(done: u64, total: Option<u64>) -> String {
    match total {
        Some(total) => format!("{} of {}", format_bytes(done), format_bytes(total)),
        None => format_bytes(done),
    }
}

fn too_large_text(limit: u64, announced: Option<u64>) -> String {
    match announced {
        Some(size) => format!("the server announced {}", format_bytes(size)),
        None => format!("more than {} arrived", format_bytes(limit)),
    }
}

fn not_iso_text(size: Option<u64>) -> String {
    match size {
        None => format!("no CD001 signature at byte {ISO_SIGNATURE_OFFSET}"),
        Some(size) => format!(
            "it has only {}, too short for the CD001 signature at byte {ISO_SIGNATURE_OFFSET}",
            format_bytes(size)
        ),
    }
}

/// A size for people, in units of 1024 as CloudStack counts them: `512 bytes`, `1.5 KB`,
/// `200 MB`, `50 GB`. One decimal at most, none when whole.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if n < 1024 {
        return if n == 1 {
            "1 byte".into()
        } else {
            format!("{n} bytes")
        };
    }
    let mut unit = 0;
    let mut scale = 1024u64;
    while unit + 1 < UNITS.len() && n / scale >= 1024 {
        unit += 1;
        scale *= 1024;
    }
    let tenths = (n as u128 * 10 + scale as u128 / 2) / scale as u128;
    match (tenths / 10, tenths % 10) {
        (whole, 0) => format!("{whole} {}", UNITS[unit]),
        (whole, tenth) => format!("{whole}.{tenth} {}", UNITS[unit]),
    }
}

/// The URL as it may be shown: without its password.
pub fn shown(url: &url::Url) -> String {
    if url.password().is_none() {
        return url.to_string();
    }
    let mut clean = url.clone();
    let _ = clean.set_password(Some("***"));
    clean.to_string()
}

/// The path a download is written to until it checked out.
pub fn part_path(dest: &str) -> String {
    format!("{dest}.part")
}

/// Watches bytes 32769..32774 of a stream for `CD001`.
#[derive(Debug, Default)]
struct SignatureCheck {
    seen: [u8; 5],
    filled: usize,
}

impl SignatureCheck {
    /// Takes note of `chunk`, which starts at byte `offset` of the file.
    fn feed(&mut self, offset: u64, chunk: &[u8]) {
        let start = ISO_SIGNATURE_OFFSET;
        let end = start + ISO_SIGNATURE.len() as u64;
        let from = offset.max(start);
        let to = (offset + chunk.len() as u64).min(end);
        for pos in from..to {
            self.seen[(pos - start) as usize] = chunk[(pos - offset) as usize];
            self.filled += 1;
        }
    }

    /// `None` until all five bytes went by; then whether they are `CD001`.
    fn verdict(&self) -> Option<bool> {
        (self.filled == ISO_SIGNATURE.len()).then(|| &self.seen == ISO_SIGNATURE)
    }
}

/// What the stream must be, checked as it arrives.
enum ContentCheck {
    Iso(SignatureCheck),
    /// A disk image: its head (up to [`header::HEAD_MAX`]) and the verdict once known.
    Disk {
        format: ImageFormat,
        head: Vec<u8>,
        verdict: header::Verdict,
    },
}

impl ContentCheck {
    fn new(format: ImageFormat) -> ContentCheck {
        match format {
            ImageFormat::Iso => ContentCheck::Iso(SignatureCheck::default()),
            format => ContentCheck::Disk {
                format,
                head: Vec::new(),
                verdict: header::Verdict::NeedMore,
            },
        }
    }

    fn feed(&mut self, offset: u64, chunk: &[u8]) {
        match self {
            ContentCheck::Iso(s) => s.feed(offset, chunk),
            ContentCheck::Disk {
                format,
                head,
                verdict,
            } => {
                if *verdict != header::Verdict::NeedMore {
                    return;
                }
                let room = header::HEAD_MAX.saturating_sub(head.len());
                head.extend_from_slice(&chunk[..room.min(chunk.len())]);
                *verdict = judge(*format, head, false);
            }
        }
    }

    /// Why the stream is refused, if it is (`end`: it is complete; what is still
    /// undecided then is refused).
    fn refusal(&mut self, end: bool) -> Option<String> {
        match self {
            ContentCheck::Iso(s) => match (s.verdict(), end) {
                (Some(false), _) | (None, true) => Some(String::new()),
                _ => None,
            },
            ContentCheck::Disk {
                format,
                head,
                verdict,
            } => {
                if end && *verdict == header::Verdict::NeedMore {
                    *verdict = match judge(*format, head, true) {
                        header::Verdict::NeedMore => header::Verdict::Bad(format!(
                            "it has only {}, too short for a {} header",
                            format_bytes(head.len() as u64),
                            format.name()
                        )),
                        v => v,
                    };
                }
                match verdict {
                    header::Verdict::Bad(reason) => Some(reason.clone()),
                    _ => None,
                }
            }
        }
    }

    fn error(&self, url: &str, reason: String, size: Option<u64>) -> DownloadError {
        match self {
            ContentCheck::Iso(_) => DownloadError::NotIso {
                url: url.to_string(),
                size,
            },
            ContentCheck::Disk { format, .. } => DownloadError::NotImage {
                url: url.to_string(),
                format: format.name(),
                reason,
            },
        }
    }

    /// The virtual size of a checked disk image of `size` bytes.
    fn virtual_size(&self, size: u64) -> Option<u64> {
        match self {
            ContentCheck::Iso(_) => None,
            ContentCheck::Disk { verdict, .. } => match verdict {
                header::Verdict::Good(Some(v)) => Some(*v),
                _ => Some(size),
            },
        }
    }
}

fn judge(format: ImageFormat, head: &[u8], complete: bool) -> header::Verdict {
    match format {
        ImageFormat::Qcow2 => header::qcow2(head),
        _ => header::raw(head, complete),
    }
}

/// Says when the next progress report is due: at most one per [`PROGRESS_INTERVAL`].
#[derive(Debug)]
struct Throttle {
    last: Instant,
}

impl Throttle {
    fn due(&mut self, now: Instant) -> bool {
        if now.duration_since(self.last) >= PROGRESS_INTERVAL {
            self.last = now;
            true
        } else {
            false
        }
    }
}

/// The error's innermost reason: an I/O error in plain words, else the last message.
fn reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    let mut io = None;
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(i) = err.downcast_ref::<std::io::Error>() {
            io = Some(i);
        }
        last = err;
        current = err.source();
    }
    match io {
        Some(io) => io_reason(io),
        None => last.to_string(),
    }
}

/// Why a body broke off: hyper's words for a server that closed too early made plain.
fn body_reason(e: &reqwest::Error) -> String {
    let text = reason(e);
    if text == "end of file before message length reached" {
        "the server closed the connection before the end".into()
    } else {
        text
    }
}

fn is_dns_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if err.to_string() == "dns error" {
            return true;
        }
        current = err.source();
    }
    false
}

/// Streams `spec.url` into `dest` (a path relative to the NFS export; its directory is
/// created if missing) via `dest.part`, renamed to `dest` only when everything checked
/// out. On any failure the partial file is removed (best effort; if NFS itself is down
/// the error says so, see [`DownloadError::partial_left`], and [`remove_partial`] can be
/// retried later). `progress` is called when the server answered (done 0), at most once
/// per second while data arrives, and at the end; returning `ControlFlow::Break(())`
/// cancels ([`DownloadError::Cancelled`], partial file removed). After an NFS transport
/// error `nfs` may have been replaced by a new connection (made to remove the partial).
pub async fn download_to_nfs(
    http: &reqwest::Client,
    spec: &DownloadSpec,
    nfs: &mut NfsClient,
    dest: &str,
    mut progress: impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<Downloaded, DownloadError> {
    let url = shown(&spec.url);
    let response = request(http, spec, &url).await?;
    let total = response.content_length();
    if let Some(size) = total.filter(|size| *size > spec.max_bytes) {
        return Err(DownloadError::TooLarge {
            url,
            limit: spec.max_bytes,
            announced: Some(size),
        });
    }
    if progress(Progress { done: 0, total }).is_break() {
        return Err(DownloadError::Cancelled { url });
    }
    let mut created = false;
    match stream(spec, &url, response, nfs, dest, &mut created, &mut progress).await {
        Ok(done) => Ok(done),
        Err(error) if !created => Err(error),
        Err(error) => Err(clean_up(nfs, dest, spec.connect_timeout, error).await),
    }
}

/// Removes the partial file of a download to `dest`; no error if there is none.
pub async fn remove_partial(nfs: &mut NfsClient, dest: &str) -> Result<(), NfsError> {
    match nfs.remove(&part_path(dest)).await {
        Err(e) if e.is_not_found() => Ok(()),
        result => result,
    }
}

/// Sends the request and checks the answer's status.
async fn request(
    http: &reqwest::Client,
    spec: &DownloadSpec,
    url: &str,
) -> Result<reqwest::Response, DownloadError> {
    if !matches!(spec.url.scheme(), "http" | "https") {
        return Err(DownloadError::InvalidUrl {
            url: url.to_string(),
            reason: "only http:// and https:// URLs are supported".into(),
        });
    }
    let Some(host) = spec.url.host_str() else {
        return Err(DownloadError::InvalidUrl {
            url: url.to_string(),
            reason: "the URL names no server".into(),
        });
    };
    let port = spec.url.port_or_known_default().unwrap_or(80);
    let send = http.get(spec.url.clone()).send();
    let response = match tokio::time::timeout(spec.connect_timeout, send).await {
        Err(_) => {
            return Err(DownloadError::NoAnswer {
                url: url.to_string(),
                host: host.to_string(),
                port,
                timeout: spec.connect_timeout,
            })
        }
        Ok(Err(e)) => return Err(request_error(&e, spec, url)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if !status.is_success() {
        let answered = shown(response.url());
        return Err(DownloadError::HttpStatus {
            requested: (answered != url).then(|| url.to_string()),
            url: answered,
            status: match status.canonical_reason() {
                Some(reason) => format!("{} {reason}", status.as_str()),
                None => status.as_str().to_string(),
            },
            code: status.as_u16(),
        });
    }
    Ok(response)
}

/// A failed request (before any answer) in words.
fn request_error(e: &reqwest::Error, spec: &DownloadSpec, url: &str) -> DownloadError {
    // The request that failed may be a redirect's.
    let target = e.url().unwrap_or(&spec.url);
    let host = target.host_str().unwrap_or_default().to_string();
    let port = target.port_or_known_default().unwrap_or(80);
    let url = url.to_string();
    if e.is_timeout() {
        DownloadError::NoAnswer {
            url,
            host,
            port,
            timeout: spec.connect_timeout,
        }
    } else if e.is_connect() && is_dns_error(e) {
        DownloadError::Resolve {
            url,
            host,
            reason: reason(e),
        }
    } else if e.is_connect() {
        DownloadError::Connect {
            url,
            host,
            port,
            reason: reason(e),
        }
    } else if e.is_redirect() {
        DownloadError::Request {
            url,
            reason: format!("redirects failed: {e}"),
        }
    } else {
        DownloadError::Request {
            url,
            reason: reason(e),
        }
    }
}

/// The body into `dest.part`, checked, committed and renamed. Sets `created` once the
/// partial file may exist.
///
/// Receiving and writing overlap: the receiver checks, hashes and coalesces the body into
/// [`WRITE_SIZE`] buffers and hands each to the writer, which sends it to NFS while the
/// next one fills. At most three buffers exist (one filling, one queued, one being
/// written), recycled. Both run in this task (`join!`), and an NFS call is never dropped
/// half-way: if the writer fails, the receiver stops at its next hand-over; if the
/// receiver fails, the writer finishes what is queued and stops.
async fn stream(
    spec: &DownloadSpec,
    url: &str,
    response: reqwest::Response,
    nfs: &mut NfsClient,
    dest: &str,
    created: &mut bool,
    progress: &mut impl FnMut(Progress) -> ControlFlow<()>,
) -> Result<Downloaded, DownloadError> {
    let part = part_path(dest);
    if let Some((dir, _)) = dest.trim_start_matches('/').rsplit_once('/') {
        nfs.mkdir_all(dir).await.map_err(DownloadError::Nfs)?;
    }
    *created = true;
    let mut file = nfs.create(&part).await.map_err(DownloadError::Nfs)?;

    let (full_tx, full_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    let (free_tx, free_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let receiver = Receiver {
        spec,
        url,
        total: response.content_length(),
        full: full_tx,
        free: free_rx,
    };
    let writer = &mut file;
    let write = async move {
        let mut full = full_rx;
        while let Some(mut buffer) = full.recv().await {
            writer.write(&buffer).await?;
            buffer.clear();
            let _ = free_tx.send(buffer);
        }
        Ok::<(), NfsError>(())
    };
    let (received, written) = tokio::join!(receiver.run(response, progress), write);
    let received = match (received, written) {
        (Err(Some(e)), _) => return Err(e),
        (_, Err(e)) => return Err(DownloadError::Nfs(e)),
        // The writer stops early only on an error; never here.
        (Err(None), Ok(())) => {
            return Err(DownloadError::Request {
                url: url.to_string(),
                reason: "internal error: the NFS writer stopped early".into(),
            })
        }
        (Ok(received), Ok(())) => received,
    };
    file.finish().await.map_err(DownloadError::Nfs)?;
    if progress(Progress {
        done: received.size,
        total: received.total,
    })
    .is_break()
    {
        return Err(DownloadError::Cancelled {
            url: url.to_string(),
        });
    }
    nfs.rename(&part, dest).await.map_err(DownloadError::Nfs)?;
    Ok(Downloaded {
        size: received.size,
        virtual_size: received.virtual_size,
        checksum: received.checksum,
    })
}

/// A body received whole and checked.
struct Received {
    size: u64,
    virtual_size: Option<u64>,
    total: Option<u64>,
    checksum: Checksum,
}

/// The receiving half of [`stream`].
struct Receiver<'a> {
    spec: &'a DownloadSpec,
    url: &'a str,
    total: Option<u64>,
    /// Full buffers to the writer.
    full: tokio::sync::mpsc::Sender<Vec<u8>>,
    /// Written buffers back from it.
    free: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
}

impl Receiver<'_> {
    /// Receives, checks and hands over the whole body. `Err(None)`: the writer stopped
    /// (its error says why).
    async fn run(
        mut self,
        mut response: reqwest::Response,
        progress: &mut impl FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Received, Option<DownloadError>> {
        let (spec, url, total) = (self.spec, self.url, self.total);
        let algorithm = spec
            .expected
            .as_ref()
            .map_or(Algorithm::Sha256, |c| c.algorithm);
        let mut hasher = algorithm.hasher();
        let mut content = ContentCheck::new(spec.format);
        let mut buffer = Vec::with_capacity(WRITE_SIZE);
        let mut throttle = Throttle {
            last: Instant::now(),
        };
        let mut done = 0u64;
        loop {
            let chunk = match tokio::time::timeout(spec.idle_timeout, response.chunk()).await {
                Err(_) => {
                    return Err(Some(DownloadError::Stalled {
                        url: url.to_string(),
                        idle: spec.idle_timeout,
                        done,
                        total,
                    }))
                }
                Ok(Err(e)) => {
                    return Err(Some(DownloadError::Transfer {
                        url: url.to_string(),
                        done,
                        total,
                        reason: body_reason(&e),
                    }))
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            if done + chunk.len() as u64 > spec.max_bytes {
                return Err(Some(DownloadError::TooLarge {
                    url: url.to_string(),
                    limit: spec.max_bytes,
                    announced: None,
                }));
            }
            content.feed(done, &chunk);
            if let Some(reason) = content.refusal(false) {
                return Err(Some(content.error(url, reason, None)));
            }
            hasher.update(&chunk);
            done += chunk.len() as u64;
            // Coalesce into whole WRITE_SIZE writes.
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let n = (WRITE_SIZE - buffer.len()).min(rest.len());
                buffer.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                if buffer.len() == WRITE_SIZE {
                    buffer = self.hand_over(buffer).await?;
                }
            }
            if throttle.due(Instant::now()) && progress(Progress { done, total }).is_break() {
                return Err(Some(DownloadError::Cancelled {
                    url: url.to_string(),
                }));
            }
        }
        if let Some(total) = total.filter(|total| *total != done) {
            // hyper enforces Content-Length; this is a safety net.
            return Err(Some(DownloadError::Transfer {
                url: url.to_string(),
                done,
                total: Some(total),
                reason: "the server ended the body early".into(),
            }));
        }
        if let Some(reason) = content.refusal(true) {
            return Err(Some(content.error(url, reason, Some(done))));
        }
        let virtual_size = content.virtual_size(done);
        let actual = Checksum {
            algorithm,
            hex: to_hex(&hasher.finalize()),
        };
        if let Some(expected) = spec.expected.as_ref().filter(|e| **e != actual) {
            return Err(Some(DownloadError::ChecksumMismatch {
                url: url.to_string(),
                expected: expected.clone(),
                actual,
            }));
        }
        if !buffer.is_empty() {
            self.hand_over(buffer).await?;
        }
        Ok(Received {
            size: done,
            total,
            checksum: actual,
            virtual_size,
        })
    }

    /// Queues a full buffer for the writer; returns an empty one to fill next.
    async fn hand_over(&mut self, buffer: Vec<u8>) -> Result<Vec<u8>, Option<DownloadError>> {
        self.full.send(buffer).await.map_err(|_| None)?;
        Ok(self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(WRITE_SIZE)))
    }
}

/// Removes the partial file after `error`; a broken connection is replaced first.
async fn clean_up(
    nfs: &mut NfsClient,
    dest: &str,
    timeout: Duration,
    error: DownloadError,
) -> DownloadError {
    let mut removed = remove_partial(nfs, dest).await;
    if let Err(NfsError::Broken { .. }) = removed {
        removed = match NfsClient::connect(&nfs.url().clone(), timeout).await {
            Ok(fresh) => {
                *nfs = fresh;
                remove_partial(nfs, dest).await
            }
            Err(e) => Err(e),
        };
    }
    match removed {
        Ok(()) => error,
        Err(cleanup) => DownloadError::PartialLeft {
            error: Box::new(error),
            partial: part_path(dest),
            cleanup,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Checksum {
        Checksum::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn parse_err(s: &str) -> String {
        Checksum::parse(s).unwrap_err()
    }

    #[test]
    fn checksum_forms() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let sha512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
        for (text, algorithm, hex) in [
            (format!("{{md5}}{md5}"), Algorithm::Md5, md5),
            (format!("{{MD5}}{md5}"), Algorithm::Md5, md5),
            (md5.to_string(), Algorithm::Md5, md5),
            (format!("{{sha1}}{sha1}"), Algorithm::Sha1, sha1),
            (format!("{{SHA-1}}{sha1}"), Algorithm::Sha1, sha1),
            (sha1.to_string(), Algorithm::Sha1, sha1),
            (format!("{{sha256}}{sha256}"), Algorithm::Sha256, sha256),
            (format!("{{SHA-256}}{sha256}"), Algorithm::Sha256, sha256),
            (sha256.to_uppercase(), Algorithm::Sha256, sha256),
            (format!("  {sha256}\n"), Algorithm::Sha256, sha256),
            (format!("{{sha512}}{sha512}"), Algorithm::Sha512, sha512),
            (sha512.to_string(), Algorithm::Sha512, sha512),
            ("a".repeat(56), Algorithm::Sha224, &"a".repeat(56)),
            (
                format!("{{SHA-384}}{}", "B".repeat(96)),
                Algorithm::Sha384,
                &"b".repeat(96),
            ),
        ] {
            let c = parse(&text);
            assert_eq!((c.algorithm, c.hex.as_str()), (algorithm, hex), "{text}");
        }
        assert_eq!(
            parse(&format!("{{SHA-256}}{}", sha256.to_uppercase())).to_cloudstack(),
            format!("{{sha256}}{sha256}")
        );
        assert_eq!(parse(md5).to_string(), format!("{{md5}}{md5}"));
        let round: Checksum = parse(sha512).to_cloudstack().parse().unwrap();
        assert_eq!(round, parse(sha512));
    }

    #[test]
    fn checksum_errors() {
        assert_eq!(parse_err(""), "the checksum is empty");
        assert_eq!(parse_err("  "), "the checksum is empty");
        assert_eq!(
            parse_err("abc"),
            "the checksum 'abc' has 3 hex digits, which fits no algorithm: without an \
             {algorithm} prefix it must have 32 (MD5), 40 (SHA-1), 56 (SHA-224), 64 (SHA-256), \
             96 (SHA-384) or 128 (SHA-512)"
        );
        assert_eq!(
            parse_err(&format!("{}g", "0".repeat(31))),
            format!(
                "the checksum '{}g' is not hexadecimal (it contains 'g')",
                "0".repeat(31)
            )
        );
        assert_eq!(
            parse_err(&format!("{{crc32}}{}", "0".repeat(8))),
            "unknown checksum algorithm 'crc32' in '{crc32}00000000': use md5, sha1, sha224, sha256, sha384 or sha512"
        );
        assert_eq!(
            parse_err(&format!("{{sha256}}{}", "0".repeat(32))),
            format!(
                "the SHA-256 checksum '{{sha256}}{}' has 32 hex digits; SHA-256 has 64",
                "0".repeat(32)
            )
        );
        assert_eq!(
            parse_err("{sha256"),
            "the checksum '{sha256' has no '}' after its algorithm (expected {algorithm}hex, e.g. {sha256}…)"
        );
        assert_eq!(parse_err("{md5}"), "the checksum '{md5}' has no digits");
        assert_eq!(
            parse_err("{}00"),
            "unknown checksum algorithm '' in '{}00': use md5, sha1, sha224, sha256, sha384 or sha512"
        );
    }

    #[test]
    fn digests_match_known_values() {
        let digest = |a: Algorithm, data: &[u8]| {
            let mut h = a.hasher();
            // In pieces, as a download feeds it.
            for piece in data.chunks(7) {
                h.update(piece);
            }
            to_hex(&h.finalize())
        };
        let abc = b"abc";
        assert_eq!(
            digest(Algorithm::Md5, abc),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            digest(Algorithm::Sha1, abc),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            digest(Algorithm::Sha256, abc),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for a in Algorithm::ALL {
            assert_eq!(digest(a, b"x").len(), a.hex_len(), "{a:?}");
        }
        let long = vec![7u8; 1000];
        assert_eq!(digest(Algorithm::Sha512, &long), {
            let mut h = Algorithm::Sha512.hasher();
            h.update(&long);
            to_hex(&h.finalize())
        });
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(format_bytes(0), "0 bytes");
        assert_eq!(format_bytes(1), "1 byte");
        assert_eq!(format_bytes(1023), "1023 bytes");
        assert_eq!(format_bytes(1024), "1 KB");
        assert_eq!(format_bytes(1536), "1.5 KB");
        assert_eq!(format_bytes(100 * 1000), "97.7 KB");
        assert_eq!(format_bytes(200 << 20), "200 MB");
        assert_eq!(format_bytes(50 << 30), "50 GB");
        assert_eq!(format_bytes((50 << 30) + 1), "50 GB");
        assert_eq!(format_bytes(3 << 40), "3 TB");
        assert_eq!(format_bytes(5000 << 40), "4.9 PB");
        assert_eq!(format_bytes(u64::MAX), "16384 PB");
    }

    #[test]
    fn iso_signature_across_chunks() {
        let mut image = vec![0u8; 40_000];
        image[32769..32774].copy_from_slice(b"CD001");
        for size in [1, 2, 3, 4096, 32769, 32770, 32773, 40_000] {
            let mut check = SignatureCheck::default();
            let mut offset = 0u64;
            for chunk in image.chunks(size) {
                check.feed(offset, chunk);
                offset += chunk.len() as u64;
                if offset < 32774 {
                    assert_eq!(check.verdict(), None, "chunks of {size}, at {offset}");
                }
            }
            assert_eq!(check.verdict(), Some(true), "chunks of {size}");
        }
        let mut check = SignatureCheck::default();
        check.feed(0, &image[..32773]);
        assert_eq!(check.verdict(), None);
        check.feed(32773, b"X");
        assert_eq!(check.verdict(), Some(false));
        let mut check = SignatureCheck::default();
        check.feed(0, &[b'<'; 40_000]);
        assert_eq!(check.verdict(), Some(false));
    }

    #[test]
    fn progress_and_texts() {
        let p = |done, total| Progress { done, total }.percent();
        assert_eq!(p(0, Some(200)), Some(0));
        assert_eq!(p(199, Some(200)), Some(99));
        assert_eq!(p(200, Some(200)), Some(100));
        assert_eq!(p(5, None), None);
        assert_eq!(p(0, Some(0)), Some(100));
        assert_eq!(p(u64::MAX, Some(u64::MAX)), Some(100));

        let mut throttle = Throttle {
            last: Instant::now(),
        };
        let t0 = throttle.last;
        assert!(!throttle.due(t0 + Duration::from_millis(999)));
        assert!(throttle.due(t0 + Duration::from_millis(1000)));
        assert!(!throttle.due(t0 + Duration::from_millis(1999)));
        assert!(throttle.due(t0 + Duration::from_millis(2000)));

        let url = |s: &str| shown(&url::Url::parse(s).unwrap());
        assert_eq!(
            url("https://user:secret@example.com/a.iso"),
            "https://user:***@example.com/a.iso"
        );
        assert_eq!(url("http://example.com/a.iso"), "http://example.com/a.iso");
        assert_eq!(part_path("iso/2/a.iso"), "iso/2/a.iso.part");

        let e = DownloadError::TooLarge {
            url: "http://h/x.iso".into(),
            limit: 50 << 30,
            announced: Some(60 << 30),
        };
        assert_eq!(
            e.to_string(),
            "http://h/x.iso is larger than the 50 GB limit (max.template.iso.size): the server announced 60 GB"
        );
        let e = DownloadError::NotIso {
            url: "http://h/x.iso".into(),
            size: Some(1000),
        };
        assert_eq!(
            e.to_string(),
            "http://h/x.iso is not an ISO 9660 image: it has only 1000 bytes, too short for the CD001 signature at byte 32769"
        );
        let e = DownloadError::Stalled {
            url: "http://h/x.iso".into(),
            idle: Duration::from_secs(60),
            done: 3 << 20,
            total: Some(200 << 20),
        };
        assert_eq!(
            e.to_string(),
            "The download of http://h/x.iso stalled: no data for 60 s (after 3 MB of 200 MB)"
        );
        let e = DownloadError::HttpStatus {
            url: "http://h/y.iso".into(),
            status: "404 Not Found".into(),
            code: 404,
            requested: Some("http://h/x.iso".into()),
        };
        assert_eq!(
            e.to_string(),
            "The server answered 404 Not Found for http://h/y.iso (redirected from http://h/x.iso)"
        );
        let wrapped = DownloadError::PartialLeft {
            error: Box::new(DownloadError::Cancelled {
                url: "http://h/x.iso".into(),
            }),
            partial: "iso/x.iso.part".into(),
            cleanup: NfsError::Broken {
                host: "h".into(),
                reason: "gone".into(),
            },
        };
        assert!(matches!(wrapped.cause(), DownloadError::Cancelled { .. }));
        assert_eq!(wrapped.partial_left(), Some("iso/x.iso.part"));
        assert!(wrapped.to_string().starts_with(
            "The download of http://h/x.iso was cancelled (the partial file 'iso/x.iso.part' is left on the storage: "
        ));
    }

    /// The orchestration spawns downloads: the future must be Send. (Compiled, not run;
    /// the leading underscore is what keeps an uncalled function from warning.)
    fn _download_future_is_send(http: &reqwest::Client, spec: &DownloadSpec, nfs: &mut NfsClient) {
        fn is_send<T: Send>(_: &T) {}
        let f = download_to_nfs(http, spec, nfs, "iso/x.iso", |_| ControlFlow::Continue(()));
        is_send(&f);
    }
}
