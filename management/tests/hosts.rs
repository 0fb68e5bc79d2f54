//! Host lifecycle with the real agent binary: the agent (libvirt's test driver, no daemon)
//! heartbeats to a management server on loopback; the host comes Up with real facts, goes
//! Disconnected and then Down or Alert when its agent dies, comes back Up when it returns;
//! forged credentials and stale reports change nothing; maintenance follows its rules.

use stratus_testkit::db as common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Client;
use serde_json::Value;
use stratus_api::agent::{Acceleration, Heartbeat, HostFacts, HostMetrics, PROTOCOL_VERSION};
use stratus_management::ids::HostId;
use stratus_management::{db, front::jobs, services::hosts};
use uuid::Uuid;

/// `stratus-agent`, built next to this test's executable by `cargo build --workspace`.
fn agent_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("stratus-agent");
    assert!(
        p.exists(),
        "{} is not built; run `cargo build --workspace --bins` (scripts/test does)",
        p.display()
    );
    p
}

/// Serves the management router on loopback with its host monitor and job worker;
/// they stop when the returned sender is dropped.
async fn serve(c: &Client) -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = stratus_management::front::router(c.ctx.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(hosts::run_monitor(c.ctx.clone(), rx.clone()));
    tokio::spawn(jobs::run_worker(c.ctx.clone(), rx));
    (addr, stop)
}

struct Agent(Child);

impl Agent {
    fn start(url: &str, host: HostId, token: &str) -> Agent {
        Self::start_with(url, host, token, None)
    }

    /// With `config`, the agent also reads that file (its command API settings).
    fn start_with(url: &str, host: HostId, token: &str, config: Option<&std::path::Path>) -> Agent {
        let mut cmd = Command::new(agent_binary());
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        Agent(
            cmd.args(["--libvirt-uri", "test:///default", "--management-urls"])
                // The first URL is dead: the agent must fail over to the second.
                .arg(format!("http://127.0.0.1:9,{url}"))
                .args([
                    "--host-id",
                    &host.to_string(),
                    "--token",
                    token,
                    "--heartbeat-interval",
                    "1",
                    "--acceleration",
                    "qemu",
                ])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("starting stratus-agent"),
        )
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn host(c: &Client, id: HostId) -> Value {
    c.ok("listHosts", &[("id", &id.to_string())]).await["host"][0].clone()
}

async fn wait_state(c: &Client, id: HostId, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = host(c, id).await;
        if h["state"] == state {
            return h;
        }
        assert!(Instant::now() < deadline, "host never reached {state}: {h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn fake_heartbeat(generation: u64) -> Heartbeat {
    Heartbeat {
        protocol: PROTOCOL_VERSION,
        generation,
        facts: HostFacts {
            hostname: "forged".into(),
            arch: "x86_64".into(),
            cpu_sockets: 1,
            cpu_cores: 999,
            cpu_mhz: 1,
            memory_bytes: 1,
            os: "x".into(),
            kernel: "x".into(),
            libvirt_version: "0".into(),
            hypervisor_version: "0".into(),
            acceleration: Acceleration::Kvm,
            agent_version: "0".into(),
        },
        metrics: HostMetrics {
            cpu_used_percent: 0.0,
            memory_used_bytes: 0,
            network_rx_bytes: 0,
            network_tx_bytes: 0,
        },
        domains: vec![],
        domain_stats: vec![],
        sg_generation: None,
    }
}

#[tokio::test]
async fn agent_heartbeats_drive_the_host_lifecycle() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("hosts-zone").await;
    for (k, v) in [("ping.interval", "1"), ("ping.timeout", "2")] {
        c.ok("updateConfiguration", &[("name", k), ("value", v)])
            .await;
    }
    // Nothing listens on this port: a silent host will be judged Down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    c.ok(
        "updateConfiguration",
        &[("name", "host.probe.port"), ("value", &closed.to_string())],
    )
    .await;

    let (addr, _stop) = serve(&c).await;
    let url = format!("http://{addr}");

    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let (zid, pid, cid) = (
        zid.parse().unwrap(),
        pid.parse().unwrap(),
        cid.parse().unwrap(),
    );
    let (h, token) = hosts::register(
        &c.ctx,
        &admin,
        zid,
        pid,
        cid,
        "127.0.0.1".parse().unwrap(),
        8250,
        "kvm-sim-1",
    )
    .await
    .unwrap();
    assert_eq!(host(&c, h.id).await["state"], "Connecting");
    // The same address cannot be added twice.
    let again = hosts::register(
        &c.ctx,
        &admin,
        zid,
        pid,
        cid,
        "127.0.0.1".parse().unwrap(),
        8250,
        "dup",
    )
    .await
    .unwrap_err();
    assert!(
        again.to_api().text.contains("already exists"),
        "{}",
        again.to_api().text
    );

    // The agent reports: Up, with the facts libvirt gave it.
    let agent = Agent::start(&url, h.id, &token);
    let up = wait_state(&c, h.id, "Up").await;
    assert!(up["cpunumber"].as_i64().unwrap() > 0, "{up}");
    assert!(up["memorytotal"].as_i64().unwrap() > 0);
    assert_eq!(up["type"], "Routing");
    assert_eq!(
        up["details"]["acceleration"], "qemu",
        "forced TCG is reported"
    );
    assert!(up["cpuused"].as_str().unwrap().ends_with('%'));
    assert!(up["lastpinged"].is_string());
    assert_eq!(up["managementserverid"], c.ctx.ms_id.to_string());
    let m = c.ok("listHostsMetrics", &[("id", &h.id.to_string())]).await;
    assert!(m["host"][0]["cputotalghz"]
        .as_str()
        .unwrap()
        .ends_with("Ghz"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let samples = db::hosts::host_metrics_list(
        &c.ctx.pool,
        h.id,
        chrono::Utc::now() - chrono::Duration::minutes(5),
    )
    .await
    .unwrap();
    assert!(
        samples.len() >= 2,
        "metric samples are retained: {}",
        samples.len()
    );

    // Prometheus sees the host.
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(&format!(
            "stratus_host_up{{host=\"kvm-sim-1\",id=\"{}\"",
            h.id
        )),
        "{text}"
    );
    assert!(text.contains("stratus_hosts{state=\"Up\"} 1"), "{text}");
    assert!(text.contains("# TYPE stratus_host_memory_total_bytes gauge"));

    // Forged credentials and unknown hosts are refused and change nothing.
    let http = reqwest::Client::new();
    let hb_url = format!("{url}{}", stratus_api::agent::heartbeat_path(h.id.into()));
    let r = http
        .post(&hb_url)
        .bearer_auth("forged-token")
        .json(&fake_heartbeat(u64::MAX / 2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(&hb_url)
        .json(&fake_heartbeat(u64::MAX / 2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no token at all");
    let other = format!(
        "{url}{}",
        stratus_api::agent::heartbeat_path(Uuid::new_v4())
    );
    assert_eq!(
        http.post(&other)
            .bearer_auth(&token)
            .json(&fake_heartbeat(9))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_ne!(host(&c, h.id).await["cpunumber"], 999);
    // A stale report (older generation) from the right host is acknowledged but ignored.
    let r: Value = http
        .post(&hb_url)
        .bearer_auth(&token)
        .json(&fake_heartbeat(1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["accepted"], false);
    assert_ne!(host(&c, h.id).await["cpunumber"], 999);

    // The agent dies: Disconnected, then Down (nothing answers the probe), with alerts.
    // (Disconnected may last less than one poll: the event trail below shows it.)
    drop(agent);
    wait_state(&c, h.id, "Down").await;
    let alerts = c.ok("listAlerts", &[]).await;
    assert!(alerts["count"].as_i64().unwrap() >= 2, "{alerts}");
    assert_eq!(alerts["alert"][0]["type"], 7);

    // It comes back: Up again.
    let agent = Agent::start(&url, h.id, &token);
    wait_state(&c, h.id, "Up").await;
    // The host is alive but its agent is not (the probe port answers): Alert.
    c.ok(
        "updateConfiguration",
        &[
            ("name", "host.probe.port"),
            ("value", &addr.port().to_string()),
        ],
    )
    .await;
    drop(agent);
    wait_state(&c, h.id, "Alert").await;
    let agent = Agent::start(&url, h.id, &token);
    wait_state(&c, h.id, "Up").await;
    let ev = c
        .ok(
            "listEvents",
            &[("resourceid", &h.id.to_string()), ("pagesize", "-1")],
        )
        .await;
    let types: Vec<&str> = ev["event"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for t in [
        "HOST.ADD",
        "HOST.UP",
        "HOST.DISCONNECTED",
        "HOST.DOWN",
        "HOST.ALERT",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }

    // Maintenance, through async jobs as in CloudStack; illegal moves are refused.
    let id = h.id.to_string();
    let j = c.ok("prepareHostForMaintenance", &[("id", &id)]).await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(
        done["jobresult"]["host"]["resourcestate"], "Maintenance",
        "{done}"
    );
    let t = c
        .err(
            "updateHost",
            &[("id", &id), ("allocationstate", "Disable")],
            431,
        )
        .await;
    assert!(t.contains("while its resource state is Maintenance"), "{t}");
    let j = c.ok("cancelHostMaintenance", &[("id", &id)]).await;
    assert_eq!(
        c.wait_job(j["jobid"].as_str().unwrap()).await["jobresult"]["host"]["resourcestate"],
        "Enabled"
    );
    assert_eq!(
        c.ok("updateHost", &[("id", &id), ("allocationstate", "Disable")])
            .await["host"]["resourcestate"],
        "Disabled"
    );
    assert_eq!(
        c.ok("listHosts", &[("resourcestate", "Disabled")]).await["count"],
        1
    );
    // Filters are typed (issue 17) and match in any case; a state no host can be in
    // finds none.
    for (param, value, want) in [
        ("resourcestate", "disabled", 1),
        ("resourcestate", "Enabled", 0),
        ("resourcestate", "Sideways", 0),
        ("state", "UP", 1),
        ("state", "Down", 0),
        ("state", "no-such-state", 0),
    ] {
        let l = c.ok("listHosts", &[(param, value)]).await;
        assert_eq!(
            l["count"].as_i64().unwrap_or(0),
            want,
            "{param}={value}: {l}"
        );
    }
    c.ok("updateHost", &[("id", &id), ("allocationstate", "Enable")])
        .await;

    // A cluster with hosts cannot be deleted.
    let t = c
        .err("deleteCluster", &[("id", &cid.to_string())], 536)
        .await;
    assert!(t.contains("1 host(s)"), "{t}");

    // deleteHost: refused while the host is in use; in maintenance its agent is told to
    // remove itself with its next heartbeat, and exits.
    let mut agent = agent;
    let t = c.err("deleteHost", &[("id", &id)], 431).await;
    assert!(t.contains("put it into maintenance first"), "{t}");
    let j = c.ok("prepareHostForMaintenance", &[("id", &id)]).await;
    c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(c.ok("deleteHost", &[("id", &id)]).await["success"], true);
    assert!(c.ok("listHosts", &[]).await.as_object().unwrap().is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the agent did not exit after its host was deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ev = c.ok("listEvents", &[("type", "HOST.REMOVE")]).await;
    assert!(
        ev["event"][0]["description"]
            .as_str()
            .unwrap()
            .contains("told to uninstall itself"),
        "{ev}"
    );
    // The cluster can go now.
    c.ok("deleteCluster", &[("id", &cid.to_string())]).await;
}

#[tokio::test]
async fn agents_are_told_an_address_they_can_reach() {
    let c = Client::admin().await;
    let mut ctx = c.ctx.clone();
    ctx.listen = Some("0.0.0.0:8080".parse().unwrap());
    let e = stratus_management::services::hosts::bootstrap::management_url(&ctx).unwrap_err();
    assert!(
        e.to_api().text.contains("set the 'host' setting"),
        "{}",
        e.to_api().text
    );
    ctx.listen = Some("10.0.0.5:8080".parse().unwrap());
    assert_eq!(
        stratus_management::services::hosts::bootstrap::management_url(&ctx).unwrap(),
        "http://10.0.0.5:8080"
    );
    c.ok(
        "updateConfiguration",
        &[("name", "host"), ("value", "192.0.2.7")],
    )
    .await;
    ctx.refresh_settings().await.unwrap();
    ctx.listen = Some("0.0.0.0:8080".parse().unwrap());
    assert_eq!(
        stratus_management::services::hosts::bootstrap::management_url(&ctx).unwrap(),
        "http://192.0.2.7:8080"
    );
}

/// The agent's command API takes commands from management servers only (mutual TLS with
/// the cloud's CA), and `reconnectHost` goes through it.
#[tokio::test]
async fn reconnect_over_mutual_tls_and_rogue_clients_refused() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("reconnect-zone").await;
    let (addr, _stop) = serve(&c).await;
    let url = format!("http://{addr}");
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let api_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let (h, token) = hosts::register(
        &c.ctx,
        &admin,
        zid.parse().unwrap(),
        pid.parse().unwrap(),
        cid.parse().unwrap(),
        loopback,
        api_port,
        "kvm-tls",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = c.ctx.pki.issue_agent(h.id, loopback).unwrap();
    let (cert_p, key_p, ca_p) = (
        dir.path().join("agent.crt"),
        dir.path().join("agent.key"),
        dir.path().join("ca.crt"),
    );
    std::fs::write(&cert_p, &cert.cert_pem).unwrap();
    std::fs::write(&key_p, &cert.key_pem).unwrap();
    std::fs::write(&ca_p, c.ctx.pki.ca_pem()).unwrap();
    let config = dir.path().join("agent.properties");
    std::fs::write(
        &config,
        format!(
            "api_listen = 127.0.0.1:{api_port}\ntls_cert = {}\ntls_key = {}\nca_cert = {}\n",
            cert_p.display(),
            key_p.display(),
            ca_p.display()
        ),
    )
    .unwrap();
    let agent = Agent::start_with(&url, h.id, &token, Some(&config));
    wait_state(&c, h.id, "Up").await;
    let api = format!(
        "https://127.0.0.1:{api_port}{}",
        stratus_api::agent::api::FACTS
    );
    // The management server's own client gets the facts.
    let facts: Value = c
        .ctx
        .pki
        .agent_client()
        .get(&api)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(facts["facts"]["cpu_cores"].as_u64().unwrap() > 0, "{facts}");

    // Rogue clients: no certificate; a certificate of another CA; the host's own server
    // certificate (issued by the right CA, but not for client use).
    let ca = reqwest::Certificate::from_pem(c.ctx.pki.ca_pem().as_bytes()).unwrap();
    let other = stratus_management::pki::Pki::load_or_create(
        &common::fresh_db().await,
        &stratus_management::secrets::SecretKey::generate(),
        Uuid::new_v4().into(),
    )
    .await
    .unwrap();
    let foreign = other.issue_agent(HostId::new_v4(), loopback).unwrap();
    for (what, identity) in [
        ("no certificate", None),
        ("another CA's certificate", Some(&foreign)),
        ("a server certificate", Some(&cert)),
    ] {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca.clone());
        if let Some(i) = identity {
            b = b.identity(
                reqwest::Identity::from_pem(format!("{}\n{}", i.cert_pem, i.key_pem).as_bytes())
                    .unwrap(),
            );
        }
        let r = b.build().unwrap().get(&api).send().await;
        assert!(r.is_err(), "{what} must be refused: {r:?}");
    }

    // reconnectHost: through Connecting back to Up, as an async job.
    let id = h.id.to_string();
    let j = c.ok("reconnectHost", &[("id", &id)]).await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    assert_eq!(done["jobresult"]["host"]["state"], "Up", "{done}");
    let ev = c
        .ok("listEvents", &[("resourceid", &id), ("pagesize", "-1")])
        .await;
    let types: Vec<&str> = ev["event"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"HOST.CONNECTING"), "{types:?}");
    assert!(types.contains(&"HOST.RECONNECT"), "{types:?}");

    // With the agent gone, reconnecting fails with a clear error and the host is in Alert
    // (the machine answers the probe: this test's API listener stands in for its sshd;
    // with nothing on the probe port the monitor would rightly take it on to Down).
    c.ok(
        "updateConfiguration",
        &[
            ("name", "host.probe.port"),
            ("value", &addr.port().to_string()),
        ],
    )
    .await;
    drop(agent);
    let j = c.ok("reconnectHost", &[("id", &id)]).await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 2, "{done}");
    let text = done["jobresult"]["errortext"].as_str().unwrap();
    assert!(text.contains("Unable to reconnect host kvm-tls"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{api_port}")), "{text}");
    assert_eq!(done["jobresult"]["errorcode"], 534);
    assert_eq!(host(&c, h.id).await["state"], "Alert");
}
