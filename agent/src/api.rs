//! The agent's command API: HTTPS with mutual TLS on :8250 (CloudStack's agent port).
//!
//! Why mutual TLS: this API will start and stop guests, so it must obey the management
//! servers only. The server certificate and the CA come from the management server at
//! `addHost` (over SSH); clients must present a certificate of that CA with the client-auth
//! usage, which only management servers get. A refused handshake is logged with the peer.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use stratus_api::agent::api as paths;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::ApiConfig;
use crate::error::{Error, Result};
use crate::heartbeat::Reporter;

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
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(&api.cert, e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

pub fn router(reporter: Arc<Reporter>) -> Router {
    Router::new()
        .route(paths::FACTS, get(facts))
        .route(paths::RECONNECT, post(reconnect))
        .with_state(reporter)
}

async fn facts(
    State(r): State<Arc<Reporter>>,
) -> std::result::Result<Json<serde_json::Value>, (StatusCode, String)> {
    let hb = r
        .collect()
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(serde_json::to_value(hb).unwrap_or_default()))
}

async fn reconnect(
    State(r): State<Arc<Reporter>>,
) -> std::result::Result<Json<serde_json::Value>, (StatusCode, String)> {
    let (_, ack) = r
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
                .await
            {
                tracing::debug!(%peer, error = %e, "command API connection");
            }
        });
    }
}
