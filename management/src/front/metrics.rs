//! `/metrics` in Prometheus' text exposition format: host gauges from the latest
//! heartbeats, host counts by state, pending jobs. Read-only; it exposes host names and
//! addresses, so put it behind the same network controls as the API.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::ctx::Ctx;
use crate::db;
use crate::error::Result;
use crate::rules::hoststate::Status;

/// Escapes a label value (backslash, quote, newline), as the format requires.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub async fn render(ctx: &Ctx) -> Result<String> {
    let (hosts, _) = db::hosts::host_list(
        &ctx.pool,
        &db::hosts::HostFilter {
            common: db::ListFilter {
                limit: None,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await?;
    let mut out = String::new();
    let gauge = |out: &mut String, name: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    };
    gauge(
        &mut out,
        "stratus_host_up",
        "1 when the host's agent reports (status Up), else 0",
    );
    for h in &hosts {
        let _ = writeln!(
            out,
            "stratus_host_up{{{}}} {}",
            host_labels(h),
            u8::from(h.status == Status::Up)
        );
    }
    let series: [(&str, &str, Reading); 5] = [
        (
            "stratus_host_cpu_used_percent",
            "Share of the host's CPUs in use, from its last heartbeat",
            |h| h.cpu_used_percent,
        ),
        (
            "stratus_host_memory_total_bytes",
            "The host's memory",
            |h| h.memory_bytes.map(|v| v as f64),
        ),
        (
            "stratus_host_memory_used_bytes",
            "Memory in use on the host",
            |h| h.memory_used_bytes.map(|v| v as f64),
        ),
        (
            "stratus_host_network_receive_bytes",
            "Bytes received on the host's interfaces since boot",
            |h| h.network_rx_bytes.map(|v| v as f64),
        ),
        (
            "stratus_host_network_transmit_bytes",
            "Bytes sent on the host's interfaces since boot",
            |h| h.network_tx_bytes.map(|v| v as f64),
        ),
    ];
    for (name, help, get) in series {
        gauge(&mut out, name, help);
        for h in &hosts {
            if let Some(v) = get(h) {
                let _ = writeln!(out, "{name}{{{}}} {v}", host_labels(h));
            }
        }
    }
    gauge(
        &mut out,
        "stratus_host_last_heartbeat_timestamp_seconds",
        "When the host's agent last reported (Unix time)",
    );
    for h in &hosts {
        if let Some(t) = h.last_pinged {
            let _ = writeln!(
                out,
                "stratus_host_last_heartbeat_timestamp_seconds{{{}}} {}",
                host_labels(h),
                t.timestamp()
            );
        }
    }
    gauge(&mut out, "stratus_hosts", "Hosts by status");
    for state in Status::ALL {
        let n = hosts.iter().filter(|h| h.status == state).count();
        let _ = writeln!(out, "stratus_hosts{{state=\"{state}\"}} {n}");
    }
    gauge(
        &mut out,
        "stratus_async_jobs_pending",
        "Async jobs not finished yet",
    );
    let pending = db::jobs::job_count_pending(&ctx.pool).await?;
    let _ = writeln!(out, "stratus_async_jobs_pending {pending}");
    Ok(out)
}

/// Reads one gauge's value off a host row.
type Reading = fn(&db::hosts::HostRow) -> Option<f64>;

fn host_labels(h: &db::hosts::HostRow) -> String {
    format!(
        "host=\"{}\",id=\"{}\",address=\"{}\",zone=\"{}\",cluster=\"{}\"",
        label(&h.name),
        h.id,
        h.address.ip(),
        label(&h.zone_name),
        label(&h.cluster_name)
    )
}

/// `GET /metrics`.
pub async fn prometheus(State(ctx): State<Ctx>) -> Response {
    match render(&ctx).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "rendering /metrics failed");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
