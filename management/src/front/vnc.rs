//! The VM console: what CloudStack needs a console-proxy system VM for, done by the
//! management server itself.
//!
//! 1. `createConsoleEndpoint` (the command layer) issues a **token**: 32 random bytes,
//!    stored only as their SHA-256 in `console_tokens`, bound to the VM and the user it
//!    was issued to, valid `console.token.validity` seconds (60) and for one connection.
//! 2. The browser (noVNC) opens a **WebSocket** on this server's HTTP listener,
//!    `GET /console/vnc?token=…` (subprotocol `binary`). Before upgrading, the token is
//!    consumed in one UPDATE (so it opens exactly one connection, whichever management
//!    server the browser reaches), the user and the VM are checked again (the user still
//!    enabled and still allowed; the VM still Running on a host), and the tunnel to the
//!    host's agent is opened. Any refusal is an HTTP answer before the upgrade — 403 for
//!    a token that is unknown, used or expired (the log says which and who), 409 for a VM
//!    that stopped since, 502 when the agent or the VNC server does not answer — so
//!    nothing is upgraded that cannot work.
//! 3. The **tunnel** is the agent's `GET /v1/vms/{id}/console` upgraded to raw bytes
//!    (`stratus_api::agent::api::VM_CONSOLE`), over the same mutual TLS as every agent
//!    command: the VNC server listens on the host's loopback only and is reached through
//!    the agent, never directly.
//! 4. Then binary WebSocket messages go to the tunnel as bytes and bytes come back as
//!    binary messages, until either side closes; closing one side closes the other.
//!
//! Nothing here is kept in a server's memory besides the open connections themselves.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Extension, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use stratus_api::agent::api as agent_paths;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::ctx::Ctx;
use crate::db;
use crate::error::Result;

/// How long opening the tunnel to the agent may take (connect, TLS, the 101 answer).
const TUNNEL_OPEN_TIMEOUT: Duration = Duration::from_secs(15);

use crate::services::consoles::{sha256, SUBPROTOCOL, WEBSOCKET_PATH};

pub fn router() -> Router<Ctx> {
    Router::new().route(WEBSOCKET_PATH, get(websocket))
}

/// Why a connection was refused: the status the browser gets and what the log says.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    /// For the client: no detail about tokens beyond "not valid".
    public: &'static str,
    /// For the log.
    why: String,
}

impl Refusal {
    fn token(why: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            public: "the console token is not valid: it is unknown, used or expired",
            why: why.into(),
        }
    }
}

/// The VM and host a valid token leads to.
#[derive(Debug)]
struct Target {
    vm_id: Uuid,
    vm_name: String,
    username: String,
    agent: SocketAddr,
}

/// Consumes the token and checks that its user may still open the VM's console.
async fn admit(ctx: &Ctx, token: Option<&str>, extra: Option<&str>) -> Result<Target, Refusal> {
    let internal = |e: crate::error::Error| Refusal {
        status: StatusCode::SERVICE_UNAVAILABLE,
        public: "the console is unavailable, try again",
        why: format!("database: {e}"),
    };
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Refusal::token("no token"))?;
    let hash = sha256(token);
    let Some(t) = db::console_tokens::console_token_consume(&ctx.pool, &hash)
        .await
        .map_err(internal)?
    else {
        let used = db::console_tokens::console_token_used_at(&ctx.pool, &hash)
            .await
            .map_err(internal)?;
        return Err(Refusal::token(match used {
            Some(Some(at)) => format!("token already used at {at}"),
            _ => "unknown token".to_string(),
        }));
    };
    if !t.fresh {
        return Err(Refusal::token(format!(
            "token for VM {} expired at {}",
            t.vm_id, t.expires
        )));
    }
    if let Some(want) = &t.extra_hash {
        // Digests of secrets are compared: their timing reveals nothing usable.
        if extra.map(sha256).as_ref() != Some(want) {
            return Err(Refusal::token(format!(
                "token for VM {}: the extra token is missing or wrong",
                t.vm_id
            )));
        }
    }
    let user = db::accounts::user_fetch(&ctx.pool, t.user_id.into())
        .await
        .map_err(internal)?
        .filter(|u| u.state.is_enabled() && u.account_state.is_enabled())
        .ok_or_else(|| {
            Refusal::token(format!(
                "token for VM {}: its user {} is gone or disabled",
                t.vm_id, t.user_id
            ))
        })?;
    let vm = db::vms::vm_fetch(&ctx.pool, t.vm_id.into())
        .await
        .map_err(internal)?
        .ok_or_else(|| Refusal {
            status: StatusCode::NOT_FOUND,
            public: "the VM no longer exists",
            why: format!("VM {} is gone", t.vm_id),
        })?;
    if user.role_type != "Admin" && vm.account_id != user.account_id {
        return Err(Refusal::token(format!(
            "user {} may no longer open VM {}",
            user.username, vm.name
        )));
    }
    let not_running = || Refusal {
        status: StatusCode::CONFLICT,
        public: "the VM is not running",
        why: format!("VM {} is {}", vm.name, vm.state),
    };
    let host_id = vm
        .host_id
        .filter(|_| vm.state == crate::rules::vmstate::VmState::Running)
        .ok_or_else(not_running)?;
    let host = db::hosts::host_fetch(&ctx.pool, host_id)
        .await
        .map_err(internal)?
        .ok_or_else(not_running)?;
    Ok(Target {
        vm_id: vm.id.into_uuid(),
        vm_name: vm.name,
        username: user.username,
        agent: SocketAddr::new(host.address.ip(), host.agent_port as u16),
    })
}

/// Opens the agent's console tunnel for the VM: raw RFB bytes after the upgrade.
async fn open_tunnel(ctx: &Ctx, t: &Target) -> Result<reqwest::Upgraded, Refusal> {
    let bad_gateway = |why: String| Refusal {
        status: StatusCode::BAD_GATEWAY,
        public: "the VM's host cannot be reached for its console",
        why,
    };
    let url = format!("https://{}{}", t.agent, agent_paths::vm_console(t.vm_id));
    let resp = ctx
        .pki
        .agent_client()
        .get(&url)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, agent_paths::CONSOLE_UPGRADE)
        .timeout(TUNNEL_OPEN_TIMEOUT)
        .send()
        .await
        .map_err(|e| bad_gateway(format!("{url}: {}", crate::error::chain(&e))))?;
    let status = resp.status();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let text = resp.text().await.unwrap_or_default();
        let why = format!("{url}: the agent answered {status}: {}", text.trim());
        return Err(match status {
            StatusCode::NOT_FOUND | StatusCode::CONFLICT => Refusal {
                status: StatusCode::CONFLICT,
                public: "the VM is not running on its host",
                why,
            },
            _ => bad_gateway(why),
        });
    }
    resp.upgrade()
        .await
        .map_err(|e| bad_gateway(format!("{url}: upgrading: {e}")))
}

/// `GET /console/vnc?token=…[&extra=…]`: the console WebSocket.
async fn websocket(
    State(ctx): State<Ctx>,
    RawQuery(query): RawQuery,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ws: std::result::Result<
        WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Response {
    let peer = peer
        .map(|Extension(ConnectInfo(a))| a.to_string())
        .unwrap_or_else(|| "-".into());
    // Not a WebSocket request: refused without touching the token.
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let target = match admit(&ctx, get("token"), get("extra")).await {
        Ok(t) => t,
        Err(r) => return refuse(&peer, r),
    };
    let tunnel = match open_tunnel(&ctx, &target).await {
        Ok(t) => t,
        Err(r) => return refuse(&peer, r),
    };
    tracing::info!(%peer, user = %target.username, vm = %target.vm_name, agent = %target.agent, "console opened");
    ws.protocols([SUBPROTOCOL])
        .on_upgrade(move |socket| shuttle(socket, tunnel, target, peer))
}

fn refuse(peer: &str, r: Refusal) -> Response {
    if r.status.is_server_error() {
        tracing::warn!(%peer, status = %r.status, why = %r.why, "console connection failed");
    } else {
        tracing::warn!(%peer, status = %r.status, why = %r.why, "console connection refused");
    }
    (r.status, format!("{}\n", r.public)).into_response()
}

/// Moves binary messages to the tunnel and the tunnel's bytes back as binary messages
/// until either side closes, then closes the other.
async fn shuttle(mut ws: WebSocket, tunnel: reqwest::Upgraded, t: Target, peer: String) {
    let (mut from_host, mut to_host) = tokio::io::split(tunnel);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut up, mut down) = (0u64, 0u64);
    let why = loop {
        tokio::select! {
            m = ws.recv() => match m {
                Some(Ok(Message::Binary(b))) => {
                    if let Err(e) = to_host.write_all(&b).await {
                        break format!("writing to the host: {e}");
                    }
                    up += b.len() as u64;
                }
                // RFB is binary; a text message means a client of another protocol.
                Some(Ok(Message::Text(_))) => {
                    let _ = ws.send(Message::Close(None)).await;
                    break "the browser sent a text message".to_string();
                }
                // axum answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break "the browser closed".to_string(),
                Some(Err(e)) => break format!("the browser's connection: {e}"),
            },
            n = from_host.read(&mut buf) => match n {
                Ok(0) => {
                    let _ = ws.send(Message::Close(None)).await;
                    break "the VM's console closed".to_string();
                }
                Ok(n) => {
                    let msg = Message::Binary(axum::body::Bytes::copy_from_slice(&buf[..n]));
                    if let Err(e) = ws.send(msg).await {
                        break format!("writing to the browser: {e}");
                    }
                    down += n as u64;
                }
                Err(e) => {
                    let _ = ws.send(Message::Close(None)).await;
                    break format!("reading from the host: {e}");
                }
            },
        }
    };
    let _ = to_host.shutdown().await;
    tracing::info!(%peer, user = %t.username, vm = %t.vm_name, bytes_to_vm = up, bytes_from_vm = down, why = %why, "console closed");
}
