//! The VM console end to end: `createConsoleEndpoint`, then the WebSocket on the
//! management server's HTTP listener, the agent's console tunnel over mutual TLS, and the
//! guest's VNC server. A real TCG guest runs on a simulated host (its own libvirtd) under
//! the real `stratus-agent`, whose certificate comes from the cloud's CA; its root disk
//! is a qcow2 on an NFS test server. Through the WebSocket the test speaks RFB up to
//! ServerInit, whose desktop name is the guest's. Tokens open one connection (also when
//! two race for it), expire, are bound to the owner's account (another account's user
//! gets none), honour the optional extra token; a VM that stopped since is refused, and
//! an unreachable host is a 502. Needs root (namespaces).
//!
//! Test-bed indexes: host 160, NFS server 161; 10.231.255.2 must stay silent.

use stratus_testkit::db as common;

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Client;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use stratus_api::agent::api as paths;
use stratus_management::{
    clients::nfs::NfsUrl, db, front, services::hosts, services::vms::volumes,
};
use stratus_tests::{workspace_binary, workspace_root, NfsServer, SimHost};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const HOST_INDEX: u8 = 160;
const NFS_INDEX: u8 = 161;
const SILENT: &str = "10.231.255.2";
const VM_NAME: &str = "i-console-1";

/// The real agent inside the simulated host; killed on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client of the console, reading RFB as a byte stream.
struct Console {
    ws: Ws,
    buf: Vec<u8>,
}

impl Console {
    async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.buf.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = tokio::time::timeout(left, self.ws.next())
                .await
                .expect("the console answers in time")
                .expect("the console stays open")
                .expect("a WebSocket message");
            match m {
                Message::Binary(b) => self.buf.extend_from_slice(&b),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected message {other:?}"),
            }
        }
        self.buf.drain(..n).collect()
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .unwrap();
    }
}

/// Opens the console WebSocket as noVNC does (subprotocol `binary`); on refusal, the
/// HTTP status.
async fn connect(base: &str, query: &str) -> Result<Console, u16> {
    let mut req = format!("{base}?{query}").into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "binary".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => {
            assert_eq!(
                resp.headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok()),
                Some("binary")
            );
            Ok(Console { ws, buf: vec![] })
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("connecting to the console: {e}"),
    }
}

/// RFB 3.8 through the console, no authentication, up to ServerInit: returns the
/// framebuffer size and the desktop name.
async fn rfb_handshake(c: &mut Console) -> (u16, u16, String) {
    assert_eq!(c.read_exact(12).await, b"RFB 003.008\n");
    c.send(b"RFB 003.008\n").await;
    let n = c.read_exact(1).await[0] as usize;
    let types = c.read_exact(n).await;
    assert_eq!(
        types,
        vec![1],
        "no authentication (the VM has no console password)"
    );
    c.send(&[1]).await;
    assert_eq!(
        c.read_exact(4).await,
        vec![0, 0, 0, 0],
        "SecurityResult: OK"
    );
    c.send(&[1]).await; // ClientInit: shared
    let init = c.read_exact(24).await;
    let width = u16::from_be_bytes([init[0], init[1]]);
    let height = u16::from_be_bytes([init[2], init[3]]);
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    let name = String::from_utf8(c.read_exact(name_len).await).unwrap();
    (width, height, name)
}

fn wait_for_log(path: &std::path::Path, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "'{needle}' not in {} within {secs} s:\n{log}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Places the VM (its domain is made through the agent's API directly) or takes it off.
async fn set_vm(c: &Client, id: Uuid, state: &str, host: Option<Uuid>) {
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    match host {
        Some(h) => db::capacity::vm_reserve_on_host_in_txn(&mut conn, id.into(), h.into())
            .await
            .unwrap(),
        None => db::capacity::vm_release_host(
            &mut conn,
            id.into(),
            stratus_management::rules::vmstate::VmState::parse(state).unwrap(),
            None,
        )
        .await
        .unwrap(),
    }
    db::vms::vm_set_state(
        &mut *conn,
        id.into(),
        stratus_management::rules::vmstate::VmState::parse(state).unwrap(),
        None,
    )
    .await
    .unwrap();
}

async fn new_vm(c: &Client, owner: &db::accounts::UserRow, zone: Uuid, name: &str) -> Uuid {
    let offering = db::offerings::service_offering_fetch(
        &c.ctx.pool,
        "00000000-0000-4000-8003-000000000001".parse().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let id = Uuid::new_v4();
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    db::vms::vm_insert(
        &mut conn,
        &db::vms::NewVm {
            id: id.into(),
            name,
            display_name: name,
            account_id: owner.account_id,
            domain_id: owner.domain_id,
            user_id: owner.id,
            zone_id: zone.into(),
            service_offering_id: offering.id,
            disk_offering_id: None,
            iso_id: None,
            cpu_number: 1,
            cpu_mhz: 500,
            memory_mb: 128,
            keypair: None,
            instance_suffix: "VM",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    id
}

async fn user(c: &Client, name: &str) -> db::accounts::UserRow {
    db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, name)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_through_the_management_server() {
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("primary");
    std::fs::create_dir_all(&export).unwrap();
    let nfs = NfsServer::up("cpnfs", NFS_INDEX, &tmp.path().join("nfs"), &[&export]);
    let host = SimHost::up("cph", HOST_INDEX, "secret", &tmp.path().join("hosts"));
    let pool = NfsUrl::parse(&nfs.url(&export)).unwrap();
    volumes::create_qcow2(&pool, "ROOT-console.qcow2", 1 << 30)
        .await
        .unwrap();

    // The management server, serving on loopback (so the answer can name its address).
    let admin_client = Client::admin().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut ctx = admin_client.ctx.clone();
    ctx.listen = Some(addr);
    let router = front::router(ctx.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let admin = Client {
        ctx: ctx.clone(),
        router: front::router(ctx.clone()),
        api_key: admin_client.api_key.clone(),
        secret: admin_client.secret.clone(),
    };
    let (zid, pid, cid) = admin.basic_topology("console").await;
    let zone: Uuid = zid.parse().unwrap();
    for name in ["alice", "bob"] {
        admin
            .ok(
                "createAccount",
                &[
                    ("accounttype", "0"),
                    ("email", "u@example.org"),
                    ("firstname", "U"),
                    ("lastname", "Ser"),
                    ("password", "secret1"),
                    ("username", name),
                ],
            )
            .await;
    }
    let with_listen = |c: Client| Client {
        router: front::router(ctx.clone()),
        ctx: ctx.clone(),
        ..c
    };
    let alice = with_listen(Client::for_user(ctx.clone(), "alice").await);
    let bob = with_listen(Client::for_user(ctx.clone(), "bob").await);
    let admin_row = user(&admin, "admin").await;
    let alice_row = user(&admin, "alice").await;

    // The host, its agent with a certificate of the cloud's CA.
    let agent_ip: IpAddr = host.address.parse().unwrap();
    let (h, token) = hosts::register(
        &ctx,
        &admin_row,
        zone.into(),
        pid.parse().unwrap(),
        cid.parse().unwrap(),
        agent_ip,
        paths::DEFAULT_PORT,
        "cph",
    )
    .await
    .unwrap();
    let issued = ctx.pki.issue_agent(h.id, agent_ip).unwrap();
    let etc = tmp.path().join("agent-etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("ca.crt"), ctx.pki.ca_pem()).unwrap();
    std::fs::write(etc.join("agent.crt"), &issued.cert_pem).unwrap();
    std::fs::write(etc.join("agent.key"), &issued.key_pem).unwrap();
    let config = etc.join("agent.properties");
    let d = etc.display();
    std::fs::write(
        &config,
        format!(
            "host_id = {}\ntoken = {token}\nmanagement_urls = http://127.0.0.1:9\n\
             heartbeat_interval = 3600\nlibvirt_uri = qemu:///system\nacceleration = qemu\n\
             api_listen = {agent_ip}:{}\ntls_cert = {d}/agent.crt\ntls_key = {d}/agent.key\n\
             ca_cert = {d}/ca.crt\n",
            h.id,
            paths::DEFAULT_PORT
        ),
    )
    .unwrap();
    let agent_log = tmp.path().join("agent.log");
    let _agent = Agent(
        Command::new(workspace_root().join("tests/testbed/simhost.sh"))
            .args(["exec", &host.name])
            .arg(host.state.parent().unwrap())
            .arg(workspace_binary("stratus-agent"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&agent_log).unwrap())
            .stderr(
                std::fs::File::options()
                    .append(true)
                    .open(&agent_log)
                    .unwrap(),
            )
            .spawn()
            .unwrap(),
    );
    let agent_base = format!("https://{agent_ip}:{}", paths::DEFAULT_PORT);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = ctx
            .pki
            .agent_client()
            .get(format!("{agent_base}{}", paths::FACTS))
            .send()
            .await;
        if r.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent's command API is not up"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Alice's VM, running on the host (as a deploy leaves it).
    let vm = new_vm(&admin, &alice_row, zone, VM_NAME).await;
    let spec = json!({
        "id": vm, "name": VM_NAME, "vcpus": 1, "cpu_mhz": 500, "memory_mib": 128,
        "acceleration": "qemu",
        "root_disk": {"file": {"server": nfs.address, "export": export.display().to_string(),
                               "path": "ROOT-console.qcow2"},
                      "format": "qcow2", "virtual_size_bytes": 1u64 << 30},
    });
    let r = ctx
        .pki
        .agent_client()
        .put(format!("{agent_base}{}", paths::vm(vm)))
        .json(&spec)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let st: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{st}");
    assert_eq!(st["state"], "running", "{st}");
    set_vm(&admin, vm, "Running", Some(h.id.into())).await;
    let vm_s = vm.to_string();
    let ws_base = format!("ws://{addr}/console/vnc");

    // The endpoint, as CloudStack shapes it.
    let e = alice
        .ok("createConsoleEndpoint", &[("virtualmachineid", &vm_s)])
        .await;
    let ep = &e["consoleendpoint"];
    assert_eq!(ep["success"], true, "{e}");
    let token = ep["websocket"]["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 40, "{e}");
    assert_eq!(
        ep["url"],
        format!("/console/vms/{vm}/vnc?token={token}"),
        "{e}"
    );
    assert_eq!(ep["websocket"]["host"], "127.0.0.1");
    assert_eq!(ep["websocket"]["port"], addr.port().to_string());
    assert_eq!(ep["websocket"]["path"], "console/vnc");
    assert!(ep["websocket"].get("extra").is_none(), "{e}");
    let from_answer = format!(
        "ws://{}:{}/{}",
        ep["websocket"]["host"].as_str().unwrap(),
        ep["websocket"]["port"].as_str().unwrap(),
        ep["websocket"]["path"].as_str().unwrap()
    );
    assert_eq!(from_answer, ws_base);

    // Through the WebSocket: the guest's VNC server, RFB up to ServerInit.
    let mut console = connect(&ws_base, &format!("token={token}"))
        .await
        .expect("the token opens the console");
    let (w, hgt, name) = rfb_handshake(&mut console).await;
    assert!(w > 0 && hgt > 0, "{w}x{hgt}");
    assert_eq!(
        name,
        format!("QEMU ({VM_NAME})"),
        "the desktop is this VM's"
    );
    // Closing the browser's side closes the tunnel on the host.
    console.ws.close(None).await.unwrap();
    let log = wait_for_log(&agent_log, "console tunnel closed", 10);
    assert!(log.contains(&format!("vm={vm}")), "{log}");

    // Single use: the same token again is refused before any upgrade.
    assert_eq!(
        connect(&ws_base, &format!("token={token}")).await.err(),
        Some(403)
    );
    // Unknown and missing tokens.
    assert_eq!(connect(&ws_base, "token=nope").await.err(), Some(403));
    assert_eq!(connect(&ws_base, "").await.err(), Some(403));
    // Two connections racing for one token: exactly one gets it.
    let e = alice
        .ok("createConsoleEndpoint", &[("virtualmachineid", &vm_s)])
        .await;
    let q = format!(
        "token={}",
        e["consoleendpoint"]["websocket"]["token"].as_str().unwrap()
    );
    let (a, b) = tokio::join!(connect(&ws_base, &q), connect(&ws_base, &q));
    let mut results = [a.as_ref().err().copied(), b.as_ref().err().copied()];
    results.sort();
    assert_eq!(results, [None, Some(403)], "one wins, one is refused");
    let mut winner = a.or(b).unwrap();
    assert_eq!(winner.read_exact(12).await, b"RFB 003.008\n");
    drop(winner);

    // Expiry: with a 1 s validity, a token not used in time is refused.
    admin
        .ok(
            "updateConfiguration",
            &[("name", "console.token.validity"), ("value", "1")],
        )
        .await;
    let e = alice
        .ok("createConsoleEndpoint", &[("virtualmachineid", &vm_s)])
        .await;
    let late = e["consoleendpoint"]["websocket"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        connect(&ws_base, &format!("token={late}")).await.err(),
        Some(403)
    );
    admin
        .ok("resetConfiguration", &[("name", "console.token.validity")])
        .await;

    // The extra token: required when given, and handed back.
    let e = alice
        .ok(
            "createConsoleEndpoint",
            &[("virtualmachineid", &vm_s), ("token", "s3cond")],
        )
        .await;
    let ep = &e["consoleendpoint"];
    assert_eq!(ep["websocket"]["extra"], "s3cond");
    let t = ep["websocket"]["token"].as_str().unwrap();
    assert!(
        ep["url"].as_str().unwrap().ends_with("&extra=s3cond"),
        "{e}"
    );
    assert_eq!(
        connect(&ws_base, &format!("token={t}")).await.err(),
        Some(403),
        "without the extra token"
    );
    let e = alice
        .ok(
            "createConsoleEndpoint",
            &[("virtualmachineid", &vm_s), ("token", "s3cond")],
        )
        .await;
    let t = e["consoleendpoint"]["websocket"]["token"].as_str().unwrap();
    let mut c = connect(&ws_base, &format!("token={t}&extra=s3cond"))
        .await
        .expect("with the extra token");
    assert_eq!(c.read_exact(12).await, b"RFB 003.008\n");
    drop(c);

    // Access: the owner and root admins; another account's user gets nothing.
    let text = bob
        .err("createConsoleEndpoint", &[("virtualmachineid", &vm_s)], 531)
        .await;
    assert!(text.contains("does not own VM"), "{text}");
    let e = admin
        .ok("createConsoleEndpoint", &[("virtualmachineid", &vm_s)])
        .await;
    assert_eq!(e["consoleendpoint"]["success"], true);
    let text = alice
        .err(
            "createConsoleEndpoint",
            &[("virtualmachineid", &Uuid::new_v4().to_string())],
            431,
        )
        .await;
    assert!(text.contains("virtualmachineid"), "{text}");

    // A VM that stopped after its token was issued: refused; and no new endpoint.
    let e = alice
        .ok("createConsoleEndpoint", &[("virtualmachineid", &vm_s)])
        .await;
    let t = e["consoleendpoint"]["websocket"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ctx
        .pki
        .agent_client()
        .post(format!("{agent_base}{}", paths::vm_stop(vm)))
        .json(&json!({"forced": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    // The agent's answer while the database still says Running: the tunnel is refused.
    assert_eq!(
        connect(&ws_base, &format!("token={t}")).await.err(),
        Some(409)
    );
    set_vm(&admin, vm, "Stopped", None).await;
    let text = alice
        .err("createConsoleEndpoint", &[("virtualmachineid", &vm_s)], 431)
        .await;
    assert!(
        text.contains("is Stopped") && text.contains("Running"),
        "{text}"
    );

    // A host that does not answer: 502, after the connect timeout at most.
    let (silent, _) = hosts::register(
        &ctx,
        &admin_row,
        zone.into(),
        pid.parse().unwrap(),
        cid.parse().unwrap(),
        SILENT.parse().unwrap(),
        paths::DEFAULT_PORT,
        "silent",
    )
    .await
    .unwrap();
    let vm2 = new_vm(&admin, &alice_row, zone, "i-console-2").await;
    set_vm(&admin, vm2, "Running", Some(silent.id.into())).await;
    let e = alice
        .ok(
            "createConsoleEndpoint",
            &[("virtualmachineid", &vm2.to_string())],
        )
        .await;
    let t = e["consoleendpoint"]["websocket"]["token"].as_str().unwrap();
    let started = Instant::now();
    assert_eq!(
        connect(&ws_base, &format!("token={t}")).await.err(),
        Some(502)
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    let log = std::fs::read_to_string(&agent_log).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
    let r = ctx
        .pki
        .agent_client()
        .delete(format!("{agent_base}{}", paths::vm(vm)))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    drop(host);
    drop(nfs);
}
