//! The agents' endpoint: `POST /agent/v1/hosts/{id}/heartbeat`, authenticated by the
//! host's token. The heartbeat's meaning (status, facts, the VMs it reports) is
//! `services::hosts::heartbeat`; this only speaks HTTP.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::ctx::Ctx;

/// `POST /agent/v1/hosts/{id}/heartbeat` with `Authorization: Bearer <token>`.
pub async fn heartbeat(
    State(ctx): State<Ctx>,
    axum::extract::Path(id): axum::extract::Path<crate::ids::HostId>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use crate::services::hosts::HeartbeatError;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let remote = peer.map(|axum::Extension(axum::extract::ConnectInfo(a))| a);
    let hb: stratus_api::agent::Heartbeat = match serde_json::from_slice(&body) {
        Ok(hb) => hb,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"error": format!("malformed heartbeat: {e}")})),
            )
                .into_response()
        }
    };
    match crate::services::hosts::heartbeat(&ctx, id, token, &hb, remote).await {
        Ok(ack) => axum::Json(ack).into_response(),
        Err(HeartbeatError::Unauthorized) => {
            (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "unknown host or invalid credentials"}))).into_response()
        }
        Err(HeartbeatError::Protocol(v)) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": format!("unsupported protocol version {v}; this server speaks {}", stratus_api::agent::PROTOCOL_VERSION)})),
        )
            .into_response(),
        Err(HeartbeatError::Internal(e)) => {
            tracing::error!(error = %e, host = %id, "handling a heartbeat failed");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"error": "try again"}))).into_response()
        }
    }
}
