//! `stratus-management`: with no configuration it runs a private Postgres in its data
//! directory and serves the API on 127.0.0.1:8080; with `DATABASE_URL` it uses that
//! database instead. Ctrl-C (or SIGTERM) stops everything it started.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use std::sync::Arc;

use std::time::Duration;
use stratus_management::front::{self, jobs, listen, local_host};
use stratus_management::ids::ManagementServerId;
use stratus_management::services::{accounts, hosts, reconcile};
use stratus_management::{ctx::Ctx, db, dbstatus, embedded_pg};
use tokio::sync::watch;

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
    /// With --local-host: the default zone's type when it is created: basic (guests on
    /// the host's cloudbr0, security groups) or advanced (isolated networks, each with
    /// its router; public addresses on cloudbr0). An existing zone keeps its type.
    #[arg(
        long,
        env = "STRATUS_LOCAL_ZONE_TYPE",
        value_enum,
        default_value = "basic"
    )]
    local_zone_type: local_host::LocalZoneType,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(
        long,
        env = "STRATUS_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "STRATUS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate the cloud's own CA issues at each start, for the
    /// listen address, localhost, this machine's name and every --tls-hostname. The CA
    /// certificate to trust is written to <data-dir>/tls/ca.pem.
    #[arg(long, env = "STRATUS_TLS_SELF_SIGNED")]
    tls_self_signed: bool,
    /// With --tls-self-signed: another name (or address) the certificate is valid for.
    #[arg(
        long = "tls-hostname",
        env = "STRATUS_TLS_HOSTNAMES",
        value_delimiter = ','
    )]
    tls_hostnames: Vec<String>,
    /// Also listen on this address for plain HTTP and redirect every request to HTTPS.
    #[arg(long, env = "STRATUS_HTTP_REDIRECT")]
    http_redirect: Option<SocketAddr>,
}

impl Args {
    fn tls(&self) -> bool {
        self.tls_cert.is_some() || self.tls_self_signed
    }
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

/// Checks the data directory can be created and written, naming it and what to do.
fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let hint = "choose another with --data-dir (or STRATUS_DATA_DIR)";
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the data directory {}: {e}; {hint}",
            dir.display()
        )
    })?;
    let probe = dir.join(".stratus-write-test");
    std::fs::write(&probe, b"").map_err(|e| {
        anyhow::anyhow!(
            "the data directory {} is not writable: {e}; fix its permissions or {hint}",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The runtime's threads' stacks. A deploy into an isolated network runs the network's
/// implement inside its own step (a workflow inside a workflow), and debug builds (the
/// test suite's) keep every future of that chain unoptimised on the stack: 2 MiB, tokio's
/// default, is not enough there. Stacks are reserved, not committed, so this costs
/// address space only.
const THREAD_STACK: usize = 16 << 20;

fn main() -> std::process::ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(THREAD_STACK)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(serve_main()),
        Err(e) => {
            eprintln!("stratus-management: cannot start its runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve_main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        // Colours only on a terminal: logs written to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    match start(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line that names the problem (each cause adds its context).
            eprintln!("stratus-management: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn start(args: Args) -> anyhow::Result<()> {
    match stratus_management::process::raise_open_files_limit(None) {
        Ok((before, after)) if after > before => {
            tracing::info!("open files limit raised from {before} to {after} (agents' connections)")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not raise the open files limit: {e}"),
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    prepare_data_dir(&data_dir)?;
    // Bind first: a port in use is reported before anything else is started.
    let listener = listen::bind(args.listen, "the API and web console", "--listen").await?;
    let redirect = match args.http_redirect {
        Some(addr) if args.tls() => {
            Some(listen::bind(addr, "the HTTP to HTTPS redirect", "--http-redirect").await?)
        }
        Some(_) => anyhow::bail!(
            "--http-redirect needs HTTPS: add --tls-cert and --tls-key, or --tls-self-signed"
        ),
        None => None,
    };
    let tls_files = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(listen::server_config_from_files(cert, key)?),
        _ => None,
    };

    let (pg, opts) = match &args.database_url {
        Some(url) => (None, url.parse().context("parsing DATABASE_URL")?),
        None => {
            let dir = data_dir.join("postgres");
            tracing::info!(dir = %dir.display(), "starting the embedded Postgres");
            let pg = embedded_pg::EmbeddedPostgres::start(&dir, Default::default()).await?;
            stratus_management::db::server::database_ensure(&pg.options("postgres"), "stratus")
                .await?;
            let opts = pg.options("stratus");
            tracing::info!(pid = pg.pid(), url = %pg.url("stratus"), "embedded Postgres is up");
            (Some(pg), opts)
        }
    };
    let key_file = args
        .key_file
        .clone()
        .unwrap_or_else(|| data_dir.join("management.key"));
    let db_status = dbstatus::DbStatus::new();
    let result = match stratus_management::secrets::SecretKey::load_or_create(&key_file) {
        Ok(secrets) => {
            let listeners = Listeners {
                api: listener,
                redirect,
                tls_files,
            };
            run(
                &args,
                &data_dir,
                opts,
                pg.as_ref(),
                secrets,
                listeners,
                db_status.clone(),
            )
            .await
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot read the management key {}: {e}",
            key_file.display()
        )),
    };
    if let Some(pg) = pg {
        tracing::info!(pid = pg.pid(), "stopping the embedded Postgres");
        // If it does not answer, a fast shutdown would not either: shorten the wait.
        pg.stop_within(if db_status.is_up() {
            Duration::from_secs(15)
        } else {
            Duration::from_secs(2)
        });
    }
    result
}

struct Listeners {
    api: tokio::net::TcpListener,
    redirect: Option<tokio::net::TcpListener>,
    tls_files: Option<Arc<rustls::ServerConfig>>,
}

/// How long each part of the shutdown may take before it is cut short (so a server whose
/// database is away still stops within seconds).
const SHUTDOWN_STEP: Duration = Duration::from_secs(5);

/// The TLS configuration for --tls-self-signed: a server certificate from the cloud's CA
/// for the listen address, localhost, this machine's name and `extra` names; the CA
/// certificate is written to `<data-dir>/tls/ca.pem`.
fn self_signed(
    ctx: &Ctx,
    listen: SocketAddr,
    extra: &[String],
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut names = vec!["localhost".to_string()];
    let mut ips: Vec<std::net::IpAddr> = vec![
        std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::Ipv6Addr::LOCALHOST.into(),
    ];
    if !listen.ip().is_unspecified() && !ips.contains(&listen.ip()) {
        ips.push(listen.ip());
    }
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() && !names.iter().any(|n| n == h) {
            names.push(h.to_string());
        }
    }
    for n in extra.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match n.parse::<std::net::IpAddr>() {
            Ok(ip) if !ips.contains(&ip) => ips.push(ip),
            Ok(_) => {}
            Err(_) if !names.iter().any(|x| x == n) => names.push(n.to_string()),
            Err(_) => {}
        }
    }
    let issued = ctx.pki.issue_server(&names, &ips)?;
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ctx.pki.ca_pem()).with_context(|| format!("writing {}", ca.display()))?;
    tracing::info!(ca = %ca.display(), ?names, ?ips, "HTTPS with a certificate from the cloud's CA (trust the CA certificate in clients)");
    let chain = format!("{}{}", issued.cert_pem, ctx.pki.ca_pem());
    Ok(listen::server_config(
        chain.as_bytes(),
        issued.key_pem.as_bytes(),
    )?)
}

/// Awaits background tasks until `deadline`, then aborts those still running.
async fn join_or_abort(tasks: Vec<(&str, tokio::task::JoinHandle<()>)>, deadline: Duration) {
    let deadline = tokio::time::Instant::now() + deadline;
    for (name, mut task) in tasks {
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            tracing::warn!(task = name, "did not stop in time; aborted");
            task.abort();
        }
    }
}

async fn run(
    args: &Args,
    data_dir: &std::path::Path,
    opts: sqlx::postgres::PgConnectOptions,
    pg: Option<&embedded_pg::EmbeddedPostgres>,
    secrets: stratus_management::secrets::SecretKey,
    listeners: Listeners,
    db_status: dbstatus::DbStatus,
) -> anyhow::Result<()> {
    let pool = db::connect(opts.clone(), 32)
        .await
        .context("connecting to Postgres")?;
    db::migrate(&pool).await.context("applying migrations")?;
    let ms_id = ManagementServerId::new_v4();
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "localhost".into());
    db::mgmt::ms_register(&pool, ms_id, host.trim(), env!("CARGO_PKG_VERSION")).await?;
    if let Some(pw) = accounts::ensure_admin(&pool, args.admin_password.as_deref()).await? {
        println!("\n  Created user 'admin' with password: {pw}\n  (shown once; set STRATUS_ADMIN_PASSWORD to choose it)\n");
    }
    let mut ctx = Ctx::new(pool.clone(), ms_id, secrets).await?;
    ctx.listen = Some(args.listen);
    ctx.db_status = db_status.clone();
    let tls = match listeners.tls_files {
        Some(cfg) => Some(cfg),
        None if args.tls_self_signed => Some(self_signed(
            &ctx,
            args.listen,
            &args.tls_hostnames,
            data_dir,
        )?),
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let watchdog = tokio::spawn(dbstatus::run(
        dbstatus::Watchdog {
            status: ctx.db_status.clone(),
            options: opts,
            embedded: pg.map(|pg| pg.status()),
            pool: pool.clone(),
            ms_id,
        },
        stop_rx.clone(),
    ));
    let worker = tokio::spawn(jobs::run_worker(ctx.clone(), stop_rx.clone()));
    let housekeeping = tokio::spawn(reconcile::run(ctx.clone(), stop_rx.clone()));
    let sg_sync = tokio::spawn(stratus_management::services::security_groups::run(
        ctx.clone(),
        stop_rx.clone(),
    ));
    let snapshot_policies = tokio::spawn(stratus_management::services::snapshots::run(
        ctx.clone(),
        stop_rx.clone(),
    ));
    let host_monitor = tokio::spawn(hosts::run_monitor(ctx.clone(), stop_rx.clone()));
    let downloads = tokio::spawn(stratus_management::services::images::run(
        ctx.clone(),
        stop_rx,
    ));

    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %args.listen, %ms_id, "Stratus management server ready: {scheme}://{}/client/api", args.listen);
    let local_agent = Arc::new(std::sync::Mutex::new(None));
    if args.local_host {
        let opts = local_host::LocalHostOptions {
            dir: data_dir.join("agent"),
            agent_port: args.local_agent_port,
            agent_binary: hosts::bootstrap::agent_binary()?,
            primary: args.local_primary.clone(),
            secondary: args.local_secondary.clone(),
            acceleration: args.local_acceleration.clone(),
            zone_type: args.local_zone_type,
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

    // Ctrl-C or SIGTERM stops the listeners; connections still open (a VM console) get
    // SHUTDOWN_STEP to finish.
    let (down_tx, down_rx) = watch::channel(false);
    let stopping = move || {
        let mut rx = down_rx.clone();
        async move {
            let _ = rx.wait_for(|d| *d).await;
        }
    };
    let redirect = listeners.redirect.map(|l| {
        let app = listen::redirect_router(args.listen.port());
        tokio::spawn(listen::serve(l, None, app, stopping()))
    });
    let mut server = tokio::spawn(listen::serve(
        listeners.api,
        tls,
        front::router(ctx.clone()),
        stopping(),
    ));
    let served = tokio::select! {
        r = &mut server => Some(r),
        _ = shutdown_signal() => None,
    };
    tracing::info!("shutting down");
    let _ = down_tx.send(true);
    let served = match served {
        Some(r) => Some(r),
        None => tokio::time::timeout(SHUTDOWN_STEP, &mut server).await.ok(),
    };
    if served.is_none() {
        tracing::warn!("connections still open after {SHUTDOWN_STEP:?}; closing them");
        server.abort();
    }
    if let Some(r) = redirect {
        r.abort();
    }
    let local = local_agent.lock().expect("local agent slot").take();
    if let Some((host_id, agent)) = local {
        // Before the agent: it stops them; after us, their storage goes.
        if db_status.is_up() {
            local_host::stop_guests(&ctx, host_id).await;
            local_host::stop_routers(&ctx, host_id).await;
        }
        tracing::info!(pid = agent.pid(), "stopping the local agent");
        agent.stop();
    }
    let _ = stop_tx.send(true);
    join_or_abort(
        vec![
            ("jobs", worker),
            ("housekeeping", housekeeping),
            ("snapshot policies", snapshot_policies),
            ("security group sync", sg_sync),
            ("host monitor", host_monitor),
            ("downloads", downloads),
            ("database watchdog", watchdog),
        ],
        if db_status.is_up() {
            SHUTDOWN_STEP
        } else {
            Duration::from_secs(2)
        },
    )
    .await;
    // With the database away, there is nobody to tell: its row goes stale and other
    // servers see this one stopped.
    if db_status.is_up() {
        let deregister = db::mgmt::ms_deregister(&pool, ms_id);
        match tokio::time::timeout(Duration::from_secs(2), deregister).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not deregister this management server")
            }
            Err(_) => tracing::warn!("could not deregister this management server in time"),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), pool.close()).await;
    match served {
        Some(Ok(Err(e))) => Err(e.into()),
        _ => Ok(()),
    }
}
