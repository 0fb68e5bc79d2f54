//! The front door's listeners: binding with errors that say what to do, HTTPS served by
//! the management server itself, the optional HTTP→HTTPS redirect, and the `Tls` marker
//! handlers read.
//!
//! Why built in: the web console and its noVNC WebSocket (`/console/vnc`) carry session
//! cookies and a VM's screen; used from another machine they need HTTPS, and a reverse
//! proxy is one more thing to set up. The certificate is either the operator's
//! (`--tls-cert`/`--tls-key`, PEM) or issued at each start by the cloud's own CA
//! (`--tls-self-signed`, see `pki::Pki::issue_server`), whose certificate is written to
//! `<data-dir>/tls/ca.pem` for browsers and clients to trust.
//!
//! HTTPS connections are accepted by `TlsListener`, which hands finished handshakes to
//! `axum::serve` (handshakes run concurrently, each bounded by 10 s, so a slow client
//! cannot hold the others up); everything else (graceful shutdown, WebSocket upgrades,
//! `ConnectInfo`) is axum's as for plain HTTP.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use crate::error::{Error, Result};

/// Whether the request came over TLS (HTTPS or WSS) to this server.
///
/// The HTTPS listener adds `Tls(true)` to every request's extensions; as an extractor it
/// answers `Tls(false)` when the extension is absent (plain HTTP, or a router driven
/// in-process by tests). Use it for what depends on the transport, e.g. the `Secure`
/// attribute of cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tls(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for Tls {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Tls>().copied().unwrap_or_default())
    }
}

/// Binds `addr` for `what` (e.g. "the API (--listen)"), failing with one line that names
/// the address and what to do.
pub async fn bind(addr: SocketAddr, what: &str, option: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "the address is in use by another process (another stratus-management? see `ss -ltnp 'sport = :{}'`): stop it, or choose another address with {option}",
                addr.port()
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "ports below 1024 need root or CAP_NET_BIND_SERVICE: run as root, or choose a port above 1023 with {option}"
            ),
            std::io::ErrorKind::AddrNotAvailable => format!(
                "no interface of this machine has that address: choose one it has with {option} (0.0.0.0 for all)"
            ),
            _ => format!("choose another address with {option}"),
        };
        Error::internal(format!("cannot listen on {addr} for {what}: {e}; {hint}"))
    })
}

fn tls_err(what: &Path, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("{}: {e}", what.display()))
}

/// A rustls server configuration from PEM: a certificate chain (leaf first) and its key.
pub fn server_config(chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(format!("the TLS certificate is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::internal(
            "the TLS certificate file holds no certificate",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| Error::internal(format!("the TLS key is not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::internal(format!("the TLS certificate and key: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The configuration from the operator's PEM files; errors name the file.
pub fn server_config_from_files(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let chain = std::fs::read(cert).map_err(|e| {
        tls_err(
            cert,
            format!("cannot read the TLS certificate (--tls-cert): {e}"),
        )
    })?;
    let k = std::fs::read(key)
        .map_err(|e| tls_err(key, format!("cannot read the TLS key (--tls-key): {e}")))?;
    server_config(&chain, &k)
        .map_err(|e| Error::internal(format!("{} and {}: {e}", cert.display(), key.display())))
}

/// Accepts TCP connections and yields them once their TLS handshake is done.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("local", &self.local)
            .finish()
    }
}

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    pub fn new(tcp: TcpListener, cfg: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        let (tx, ready) = mpsc::channel(64);
        let accept_loop = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting an HTTPS connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            local,
            accept_loop,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept loop ended (it only does when dropped): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves `app` on `listener` until `shutdown` resolves: over TLS with `tls`, else plain
/// HTTP. Every request carries the `Tls` marker and `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let is_tls = tls.is_some();
    let app = app.layer(axum::Extension(Tls(is_tls)));
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(cfg) => {
            // `tap_io` gives the listener axum's `ConnectInfo<SocketAddr>` support.
            let l = TlsListener::new(listener, cfg)?.tap_io(|_| {});
            axum::serve(l, make).with_graceful_shutdown(shutdown).await
        }
        None => {
            let l = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(l, make).with_graceful_shutdown(shutdown).await
        }
    }
}

/// The HTTP→HTTPS redirect: every request is answered with a permanent redirect (308,
/// which keeps the method) to the same host, path and query on `https_port`.
pub fn redirect_router(https_port: u16) -> axum::Router {
    axum::Router::new().fallback(move |req: axum::extract::Request| async move {
        redirect_to_https(&req, https_port)
    })
}

fn redirect_to_https(req: &axum::extract::Request, https_port: u16) -> Response {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("localhost");
    // Strip a port, minding IPv6 literals ("[::1]:80").
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    };
    let authority = if https_port == 443 {
        host.to_string()
    } else {
        format!("{host}:{https_port}")
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    Redirect::permanent(&format!("https://{authority}{path}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn redirects_to_the_https_port_keeping_path_and_query() {
        for (host, port, want) in [
            (
                "cloud.example:8081",
                8443,
                "https://cloud.example:8443/console/?a=1",
            ),
            ("cloud.example", 443, "https://cloud.example/console/?a=1"),
            ("[::1]:80", 8443, "https://[::1]:8443/console/?a=1"),
        ] {
            let r = redirect_router(port)
                .oneshot(
                    Request::builder()
                        .uri("/console/?a=1")
                        .header(header::HOST, host)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
            assert_eq!(r.headers()[header::LOCATION], want);
        }
    }

    #[tokio::test]
    async fn a_busy_port_is_named_with_what_to_do() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let e = bind(addr, "the API", "--listen")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(&addr.to_string()), "{e}");
        assert!(e.contains("in use") && e.contains("--listen"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn bad_pem_is_refused_with_a_reason() {
        let e = server_config(b"not pem", b"nor this")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no certificate") || e.contains("PEM"), "{e}");
    }
}
