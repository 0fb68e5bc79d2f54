//! `stratus-management`: with no configuration it runs a private Postgres in its data
//! directory and serves the API on 127.0.0.1:8080; with `DATABASE_URL` it uses that
//! database instead. Ctrl-C (or SIGTERM) stops everything it started.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use std::sync::Arc;

use stratus_management::{
    bootstrap, ctx::Ctx, db, embedded_pg, host_bootstrap, hosts, http, jobs, local_host, reconcile,
};
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "stratus-management",
    version,
    about = "The Stratus management server (CloudStack-compatible API)"
)]
struct Args {
    /// Where the embedded Postgres and other state live.
    #[arg(long, env = "STRATUS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to serve the API and console on.
    #[arg(long, env = "STRATUS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Use this Postgres instead of the embedded one.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Password for `admin` when it is first created (else one is generated and printed).
    #[arg(long, env = "STRATUS_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// The key that seals secrets kept in the database (the CA key). Created at first
    /// start; management servers sharing a database need the same file.
    #[arg(long, env = "STRATUS_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Make this machine a host of the cloud: create the `default` zone, pod and cluster
    /// if missing, register 127.0.0.1 and run its agent as a child (the embedded default).
    #[arg(long, env = "STRATUS_LOCAL_HOST")]
    local_host: bool,
    /// The local agent's command API port (on 127.0.0.1).
    #[arg(long, env = "STRATUS_LOCAL_AGENT_PORT", default_value_t = 8250)]
    local_agent_port: u16,
    /// With --local-host: this NFS export (nfs://server/path) becomes the default zone's
    /// primary storage, if it is not registered yet.
    #[arg(long, env = "STRATUS_LOCAL_PRIMARY")]
    local_primary: Option<String>,
    /// With --local-host: this NFS export becomes the default zone's secondary storage.
    #[arg(long, env = "STRATUS_LOCAL_SECONDARY")]
    local_secondary: Option<String>,
    /// With --local-host: the local agent's guest acceleration: auto (KVM when /dev/kvm
    /// opens), kvm or qemu (TCG). Default: the `kvm.acceleration` setting.
    #[arg(long, env = "STRATUS_LOCAL_ACCELERATION")]
    local_acceleration: Option<String>,
}

fn default_data_dir() -> PathBuf {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/stratus");
    }
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("stratus")
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        // Colours only on a terminal: logs written to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args = Args::parse();
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;

    let (pg, opts) = match &args.database_url {
        Some(url) => (None, url.parse().context("parsing DATABASE_URL")?),
        None => {
            let dir = data_dir.join("postgres");
            std::fs::create_dir_all(&dir)?;
            tracing::info!(dir = %dir.display(), "starting the embedded Postgres");
            let pg = embedded_pg::EmbeddedPostgres::start(&dir, Default::default()).await?;
            pg.ensure_database("stratus").await?;
            let opts = pg.options("stratus");
            tracing::info!(pid = pg.pid(), url = %pg.url("stratus"), "embedded Postgres is up");
            (Some(pg), opts)
        }
    };
    let key_file = args
        .key_file
        .clone()
        .unwrap_or_else(|| data_dir.join("management.key"));
    let secrets = stratus_management::secrets::SecretKey::load_or_create(&key_file)
        .with_context(|| format!("reading the management key {}", key_file.display()))?;
    let result = run(&args, &data_dir, opts, secrets).await;
    if let Some(pg) = pg {
        tracing::info!(pid = pg.pid(), "stopping the embedded Postgres");
        pg.stop();
    }
    result
}

async fn run(
    args: &Args,
    data_dir: &std::path::Path,
    opts: sqlx::postgres::PgConnectOptions,
    secrets: stratus_management::secrets::SecretKey,
) -> anyhow::Result<()> {
    let pool = db::connect(opts, 32)
        .await
        .context("connecting to Postgres")?;
    db::migrate(&pool).await.context("applying migrations")?;
    let ms_id = Uuid::new_v4();
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "localhost".into());
    db::mgmt::ms_register(&pool, ms_id, host.trim(), env!("CARGO_PKG_VERSION")).await?;
    if let Some(pw) = bootstrap::ensure_admin(&pool, args.admin_password.as_deref()).await? {
        println!("\n  Created user 'admin' with password: {pw}\n  (shown once; set STRATUS_ADMIN_PASSWORD to choose it)\n");
    }
    let mut ctx = Ctx::new(pool.clone(), ms_id, secrets).await?;
    ctx.listen = Some(args.listen);
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(jobs::run_worker(ctx.clone(), stop_rx.clone()));
    let housekeeping = tokio::spawn(reconcile::run(ctx.clone(), stop_rx.clone()));
    let host_monitor = tokio::spawn(hosts::run_monitor(ctx.clone(), stop_rx.clone()));
    let downloads = tokio::spawn(stratus_management::isos::run(ctx.clone(), stop_rx));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %args.listen, %ms_id, "Stratus management server ready: http://{}/client/api", args.listen);
    let local_agent = Arc::new(std::sync::Mutex::new(None));
    if args.local_host {
        let opts = local_host::LocalHostOptions {
            dir: data_dir.join("agent"),
            agent_port: args.local_agent_port,
            agent_binary: host_bootstrap::agent_binary()?,
            primary: args.local_primary.clone(),
            secondary: args.local_secondary.clone(),
            acceleration: args.local_acceleration.clone(),
        };
        let (ctx, slot) = (ctx.clone(), local_agent.clone());
        tokio::spawn(async move {
            match local_host::start(&ctx, &opts).await {
                Ok((host, agent)) => {
                    tracing::info!(host = %host.name, id = %host.id, agent_pid = agent.pid(), "this machine is a host of the cloud and Up");
                    *slot.lock().expect("local agent slot") = Some((host.id, agent));
                }
                Err(e) => {
                    tracing::error!(error = %e, "this machine could not join the cloud as a host")
                }
            }
        });
    }
    axum::serve(
        listener,
        http::router(ctx.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;

    tracing::info!("shutting down");
    let local = local_agent.lock().expect("local agent slot").take();
    if let Some((host_id, agent)) = local {
        // Before the agent: it stops them; after us, their storage goes.
        local_host::stop_guests(&ctx, host_id).await;
        tracing::info!(pid = agent.pid(), "stopping the local agent");
        agent.stop();
    }
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = housekeeping.await;
    let _ = host_monitor.await;
    let _ = downloads.await;
    if let Err(e) = db::mgmt::ms_deregister(&pool, ms_id).await {
        tracing::warn!(error = %e, "could not deregister this management server");
    }
    pool.close().await;
    Ok(())
}
