//! The front doors: everywhere work enters the management server. The CloudStack API
//! over HTTP (`api`), the web console (`web`), VM consoles as WebSockets (`vnc`), the
//! agents' heartbeats (`agents`), `/metrics`, the job runner that executes queued
//! commands (`jobs`) and the embedded default's own host joining the cloud
//! (`local_host`). They translate their input into commands or service calls; nothing
//! below imports from here.

pub mod agents;
pub mod api;
pub mod jobs;
pub mod listen;
pub mod local_host;
pub mod metrics;
pub mod request;
pub mod vnc;
pub mod web;

use axum::routing::{get, post};
use axum::Router;

use crate::ctx::Ctx;

/// Every HTTP front door on one listener, behind the database gate (`api::db_gate`).
pub fn router(ctx: Ctx) -> Router {
    Router::new()
        .route("/client/api", get(api::api).post(api::api))
        .route("/client/api/", get(api::api).post(api::api))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::prometheus))
        .route("/agent/v1/hosts/{id}/heartbeat", post(agents::heartbeat))
        .merge(web::router())
        .merge(vnc::router())
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            api::db_gate,
        ))
        .with_state(ctx)
}
