//! What the benchmarks share. Each bench is its own binary and includes this with
//! `mod support;`, using what it needs (hence `dead_code` allowed here).

use std::time::Duration;

use stratus_management::{ctx::Ctx, services::auth::Caller};

/// The `p` quantile (0–1) of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `--name value` from the command line, or `default`.
pub fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs a command through the command layer (no HTTP) and returns its answer's body;
/// a refusal ends the benchmark.
pub async fn dispatch(
    ctx: &Ctx,
    caller: &Caller,
    name: &str,
    params: &[(&str, String)],
) -> serde_json::Value {
    let mut p = stratus_api::Params::new(name);
    for (k, v) in params {
        p = p.with(k, v);
    }
    let spec = stratus_api::command::find(name).unwrap();
    stratus_management::commands::dispatch(ctx, caller, spec, &p)
        .await
        .unwrap_or_else(|e| panic!("{name}: {}", e.text))
        .body()
}
