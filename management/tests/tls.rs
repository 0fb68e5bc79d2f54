//! HTTPS built in: the server's listener with a certificate from the cloud's CA serves
//! the API, the `Tls` marker and WebSocket upgrades; the HTTP listener redirects.

use stratus_testkit::db as common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use stratus_management::front::listen::{self, Tls};
use stratus_management::{ctx::Ctx, front};
use tokio::sync::oneshot;

struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

async fn serve(app: axum::Router, tls: Option<Arc<rustls::ServerConfig>>) -> Served {
    let l = listen::bind("127.0.0.1:0".parse().unwrap(), "the test", "--listen")
        .await
        .unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(listen::serve(l, tls, app, async {
        let _ = rx.await;
    }));
    Served {
        addr,
        stop: Some(tx),
        task,
    }
}

fn server_tls(ctx: &Ctx) -> Arc<rustls::ServerConfig> {
    let issued = ctx
        .pki
        .issue_server(&["localhost".into()], &["127.0.0.1".parse().unwrap()])
        .unwrap();
    let chain = format!("{}{}", issued.cert_pem, ctx.pki.ca_pem());
    listen::server_config(chain.as_bytes(), issued.key_pem.as_bytes()).unwrap()
}

fn client(ctx: &Ctx) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ctx.pki.ca_pem().as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_api_over_https_with_a_certificate_from_the_cloud_ca() {
    let ctx = common::fresh_ctx().await;
    let s = serve(front::router(ctx.clone()), Some(server_tls(&ctx))).await;
    let c = client(&ctx);
    for host in ["localhost", "127.0.0.1"] {
        let r = c
            .get(format!("https://{host}:{}/healthz", s.addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ok\n");
    }
    let r = c
        .post(format!("https://localhost:{}/client/api", s.addr.port()))
        .form(&[
            ("command", "login"),
            ("username", "admin"),
            ("password", common::ADMIN_PASSWORD),
            ("response", "json"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["loginresponse"]["sessionkey"].is_string(), "{v}");

    // Plain HTTP to the HTTPS port gets nothing.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", s.addr.port()))
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    s.stop().await;
}

fn marker_app() -> axum::Router {
    axum::Router::new()
        .route("/tls", get(|Tls(tls): Tls| async move { tls.to_string() }))
        .route(
            "/ws",
            get(|ws: WebSocketUpgrade, Tls(tls): Tls| async move {
                ws.on_upgrade(move |mut sock| async move {
                    while let Some(Ok(Message::Text(t))) = sock.recv().await {
                        let reply = format!("{t} tls={tls}");
                        if sock.send(Message::Text(reply.into())).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        )
}

#[tokio::test]
async fn handlers_know_whether_the_connection_is_tls() {
    let ctx = common::fresh_ctx().await;
    let tls = serve(marker_app(), Some(server_tls(&ctx))).await;
    let plain = serve(marker_app(), None).await;
    let r = client(&ctx)
        .get(format!("https://localhost:{}/tls", tls.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    let r = reqwest::get(format!("http://127.0.0.1:{}/tls", plain.addr.port()))
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "false");
    tls.stop().await;
    plain.stop().await;
}

#[tokio::test]
async fn a_websocket_upgrades_over_https() {
    let ctx = common::fresh_ctx().await;
    let s = serve(marker_app(), Some(server_tls(&ctx))).await;

    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ctx.pki.ca_pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/ws", s.addr.port());
    let (mut ws, resp) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        "hello".into(),
    ))
    .await
    .unwrap();
    let answer = ws.next().await.unwrap().unwrap();
    assert_eq!(answer.into_text().unwrap().as_str(), "hello tls=true");
    ws.close(None).await.unwrap();
    drop(ws);
    s.stop().await;
}

#[tokio::test]
async fn plain_http_is_redirected_to_https() {
    let r = serve(listen::redirect_router(8443), None).await;
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!(
            "http://127.0.0.1:{}/client/api?command=listZones",
            r.addr.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()["location"],
        "https://127.0.0.1:8443/client/api?command=listZones"
    );
    r.stop().await;
}

use rustls::pki_types::pem::PemObject;
