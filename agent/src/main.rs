//! `stratus-agent`: reports this KVM host to the Stratus management servers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use stratus_agent::config::AgentConfig;
use stratus_agent::heartbeat::Reporter;
use stratus_agent::hypervisor::Libvirt;

#[derive(Debug, Parser)]
#[command(name = "stratus-agent", version, about = "The Stratus host agent")]
struct Args {
    /// `check`: verify this host can run guests (libvirt reachable, qemu present), print
    /// its facts as JSON and exit; the management server runs this before adding a host.
    #[arg(value_parser = ["check"])]
    action: Option<String>,
    /// `key = value` settings written by the management server at bootstrap.
    #[arg(long, env = "STRATUS_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Overrides `libvirt_uri` (e.g. test:///default for simulation).
    #[arg(long, env = "STRATUS_LIBVIRT_URI")]
    libvirt_uri: Option<String>,
    /// Overrides `management_urls` (comma-separated).
    #[arg(long, env = "STRATUS_MANAGEMENT_URLS")]
    management_urls: Option<String>,
    /// Overrides `host_id`.
    #[arg(long, env = "STRATUS_HOST_ID")]
    host_id: Option<String>,
    /// Overrides `token`.
    #[arg(long, env = "STRATUS_HOST_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Overrides `heartbeat_interval` (seconds).
    #[arg(long, env = "STRATUS_HEARTBEAT_INTERVAL")]
    heartbeat_interval: Option<u64>,
    /// Overrides `acceleration`: auto, kvm or qemu.
    #[arg(long, env = "STRATUS_ACCELERATION")]
    acceleration: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Colours only on a terminal: logs written to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let a = Args::parse();
    if a.action.as_deref() == Some("check") {
        let uri = a
            .libvirt_uri
            .clone()
            .unwrap_or_else(|| "qemu:///system".into());
        return match stratus_agent::check::run(&uri, a.acceleration.as_deref()) {
            Ok(facts) => {
                println!("{}", serde_json::to_string(&facts)?);
                Ok(())
            }
            Err(problems) => {
                for p in &problems {
                    eprintln!("{p}");
                }
                std::process::exit(2);
            }
        };
    }
    let mut overrides = HashMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            overrides.insert(k.to_string(), v);
        }
    };
    put("libvirt_uri", a.libvirt_uri);
    put("management_urls", a.management_urls);
    put("host_id", a.host_id);
    put("token", a.token);
    put(
        "heartbeat_interval",
        a.heartbeat_interval.map(|s| s.to_string()),
    );
    put("acceleration", a.acceleration);
    let cfg = AgentConfig::load(a.config.as_deref(), &overrides)?;
    if cfg.libvirt_uri.starts_with("qemu") {
        stratus_agent::kvm_device::prepare();
    }
    let hv = Arc::new(Libvirt::new(&cfg.libvirt_uri));
    let api = cfg.api.clone();
    let tls_files: Vec<PathBuf> = api
        .iter()
        .flat_map(|a| [a.cert.clone(), a.key.clone(), a.ca.clone()])
        .collect();
    let networks = Arc::new(stratus_agent::network::Networks::new(
        api.as_ref()
            .map(|a| a.networks_dir.clone())
            .unwrap_or_else(|| stratus_api::agent::layout::NETWORKS.into()),
    ));
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let guests = Arc::new(stratus_agent::guest::GuestStore::open(
        api.as_ref()
            .map(|a| a.guests_dir.clone())
            .unwrap_or_else(|| stratus_api::agent::layout::GUESTS.into()),
        &host_name,
    ));
    let metadata = Arc::new(stratus_agent::metadata::MetadataServers::new(
        networks.clone(),
        guests.clone(),
    ));
    let firewall = Arc::new(stratus_agent::firewall::Firewall::open(
        api.as_ref()
            .map(|a| a.firewall_dir.clone())
            .unwrap_or_else(|| stratus_api::agent::layout::FIREWALL.into()),
        &cfg.host_id.to_string(),
    ));
    let routers = Arc::new(stratus_agent::router::Routers::new(
        api.as_ref()
            .map(|a| a.routers_dir.clone())
            .unwrap_or_else(|| stratus_api::agent::layout::ROUTERS.into()),
    ));
    let reporter = Arc::new(Reporter::new(cfg, hv.clone())?.with_firewall(firewall.clone()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let api_task = match api {
        Some(api) => {
            let tls = stratus_agent::api::tls_config(&api)?;
            let listener = stratus_agent::api::bind(api.listen).await?;
            tracing::info!(listen = %api.listen, "command API (HTTPS, mutual TLS) ready");
            // The guest networks set up before this start get their services again.
            metadata.resume().await;
            // And the guests their security groups (after a reboot the kernel has none).
            let f = firewall.clone();
            match tokio::task::spawn_blocking(move || f.restore()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "restoring the security groups"),
                Err(e) => tracing::warn!(error = %e, "restoring the security groups"),
            }
            // And the virtual routers theirs (a no-op for those that kept running).
            let r = routers.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || r.restore()).await {
                tracing::warn!(error = %e, "restoring the virtual routers");
            }
            let state = stratus_agent::api::AgentState::new(
                reporter.clone(),
                hv,
                networks.clone(),
                guests,
                metadata,
                firewall.clone(),
                routers.clone(),
            );
            // And the routers their metadata and password services.
            state.router_services.resume(&routers).await;
            Some(tokio::spawn(stratus_agent::api::serve(
                listener,
                tls,
                stratus_agent::api::router(state),
                stop_rx.clone(),
            )))
        }
        None => {
            tracing::info!("no api_listen configured: reporting only, no command API");
            None
        }
    };
    let mut task = tokio::spawn(reporter.run(stop_rx));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let decommissioned = tokio::select! {
        _ = tokio::signal::ctrl_c() => false,
        _ = term.recv() => false,
        done = &mut task => done.unwrap_or(false),
    };
    if decommissioned {
        // Guest networks go with the host (it is in maintenance: no guests run).
        let n = networks.clone();
        let _ = tokio::task::spawn_blocking(move || n.remove_all()).await;
        // Its virtual routers and the VLAN bridges the agent made.
        let r = routers.clone();
        let _ = tokio::task::spawn_blocking(move || r.remove_all()).await;
        // And so does their filter, tables and files.
        let f = firewall.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || f.remove_all()).await {
            tracing::warn!(error = %e, "removing the security-group tables");
        }
        stratus_agent::uninstall::remove_installation(a.config.as_deref(), &tls_files);
        return Ok(());
    }
    tracing::info!("agent stopping");
    let _ = stop_tx.send(true);
    let _ = task.await;
    if let Some(t) = api_task {
        let _ = t.await;
    }
    Ok(())
}
