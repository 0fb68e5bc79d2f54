//! Test support: a real Postgres and a fresh, migrated database per test.
//!
//! With `STRATUS_TEST_DATABASE_URL` set (the test script starts one cluster for the whole
//! run), databases are created there. Otherwise each test process starts its own private
//! cluster in a temp directory (removed by the next run once its process is gone).

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgPool};
use stratus_api::signing;
use stratus_management::{ctx::Ctx, db, embedded_pg::EmbeddedPostgres, front, services::accounts};
use tower::ServiceExt;
use uuid::Uuid;

static CLUSTER: OnceLock<PgConnectOptions> = OnceLock::new();

fn sweep_stale_clusters(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = name
            .strip_prefix("stratus-test-pg-")
            .and_then(|p| p.parse::<u32>().ok())
        {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Connection options for the cluster's maintenance database.
fn cluster() -> PgConnectOptions {
    CLUSTER
        .get_or_init(|| {
            if let Ok(url) = std::env::var("STRATUS_TEST_DATABASE_URL") {
                return url
                    .parse()
                    .expect("STRATUS_TEST_DATABASE_URL is not a valid URL");
            }
            let base = std::env::temp_dir();
            sweep_stale_clusters(&base);
            let dir = base.join(format!("stratus-test-pg-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            // Start it from a runtime of its own: the test's runtime ends with the test.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let pg = rt
                    .block_on(EmbeddedPostgres::start(
                        &dir,
                        stratus_management::embedded_pg::Options {
                            unsafe_fast: true,
                            ..Default::default()
                        },
                    ))
                    .expect("starting the test Postgres");
                let opts = pg.options("postgres");
                // The cluster lives as long as the test process.
                std::mem::forget(pg);
                opts
            })
            .join()
            .unwrap()
        })
        .clone()
}

/// A fresh, migrated database.
pub async fn fresh_db() -> PgPool {
    let name = format!("t_{}", Uuid::new_v4().simple());
    let mut admin = cluster()
        .connect()
        .await
        .expect("connecting to the test cluster");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("creating a test database");
    admin.close().await.ok();
    let pool = db::connect(cluster().database(&name), 20).await.unwrap();
    db::migrate(&pool).await.expect("migrations apply");
    pool
}

pub const ADMIN_PASSWORD: &str = "password";

/// A migrated database with `admin` created, and a context over it.
pub async fn fresh_ctx() -> Ctx {
    let pool = fresh_db().await;
    accounts::ensure_admin(&pool, Some(ADMIN_PASSWORD))
        .await
        .unwrap();
    let ms = Uuid::new_v4();
    db::mgmt::ms_register(&pool, ms.into(), "test", "0")
        .await
        .unwrap();
    Ctx::new(
        pool,
        ms.into(),
        stratus_management::secrets::SecretKey::generate(),
    )
    .await
    .unwrap()
}

/// Talks to the router in-process, as a client would over HTTP.
pub struct Client {
    pub ctx: Ctx,
    pub router: axum::Router,
    pub api_key: String,
    pub secret: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub json: Value,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Answer {
    /// The value inside the single `<command>response` key.
    pub fn body(&self) -> &Value {
        let o = self.json.as_object().expect("JSON object");
        assert_eq!(o.len(), 1, "exactly one top-level key: {}", self.json);
        o.values().next().unwrap()
    }
    pub fn errortext(&self) -> String {
        self.body()["errortext"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

pub fn query_string(p: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p.iter())
        .finish()
}

impl Client {
    /// A client with API keys for `admin`.
    pub async fn admin() -> Client {
        let ctx = fresh_ctx().await;
        Client::for_user(ctx, "admin").await
    }

    pub async fn for_user(ctx: Ctx, username: &str) -> Client {
        Client::for_user_in(ctx, db::accounts::ROOT_DOMAIN.into_uuid(), username).await
    }

    /// A client signing as the user `username` of `domain`.
    pub async fn for_user_in(ctx: Ctx, domain: Uuid, username: &str) -> Client {
        let u = db::accounts::user_fetch_by_name(&ctx.pool, domain.into(), username)
            .await
            .unwrap()
            .expect("user exists");
        let (k, s) = (
            format!("key-{}", Uuid::new_v4()),
            format!("secret-{}", Uuid::new_v4()),
        );
        db::accounts::user_set_keys(&ctx.pool, u.id, &k, &ctx.secrets.seal(s.as_bytes()))
            .await
            .unwrap();
        Client {
            router: front::router(ctx.clone()),
            ctx,
            api_key: k,
            secret: s,
        }
    }

    pub async fn raw(&self, req: Request<Body>) -> Answer {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            json,
            headers,
            text,
        }
    }

    /// A signed GET, as cs and libcloud send it.
    pub async fn call(&self, command: &str, params: &[(&str, &str)]) -> Answer {
        let mut p = pairs(params);
        p.push(("command".into(), command.into()));
        p.push(("response".into(), "json".into()));
        p.push(("apiKey".into(), self.api_key.clone()));
        let sig = signing::sign(&p, &self.secret);
        p.push(("signature".into(), sig));
        let req = Request::get(format!("/client/api?{}", query_string(&p)))
            .body(Body::empty())
            .unwrap();
        self.raw(req).await
    }

    /// Calls and asserts success; returns the body.
    pub async fn ok(&self, command: &str, params: &[(&str, &str)]) -> Value {
        let a = self.call(command, params).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{command} {params:?} failed: {}",
            a.text
        );
        a.body().clone()
    }

    /// Calls, asserts the error code, returns the error text.
    pub async fn err(&self, command: &str, params: &[(&str, &str)], code: u16) -> String {
        let a = self.call(command, params).await;
        assert_eq!(a.status.as_u16(), code, "{command} {params:?}: {}", a.text);
        assert_eq!(a.body()["errorcode"], code, "{}", a.text);
        a.errortext()
    }

    /// Waits for an async job and returns its final queryAsyncJobResult body.
    pub async fn wait_job(&self, jobid: &str) -> Value {
        for _ in 0..200 {
            let b = self.ok("queryAsyncJobResult", &[("jobid", jobid)]).await;
            if b["jobstatus"] != 0 {
                return b;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("job {jobid} did not finish");
    }

    /// Runs the job worker of this client's server until the sender is dropped or set.
    pub fn spawn_job_worker(&self) -> tokio::sync::watch::Sender<bool> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(stratus_management::front::jobs::run_worker(
            self.ctx.clone(),
            rx,
        ));
        tx
    }

    /// Another handle on the same router and keys (for closures that outlive a borrow).
    pub fn clone_handle(&self) -> Client {
        Client {
            ctx: self.ctx.clone(),
            router: self.router.clone(),
            api_key: self.api_key.clone(),
            secret: self.secret.clone(),
        }
    }

    /// Lets downloads reach 127.0.0.1 (the tests' file servers, and the closed ports the
    /// registry tests point at): the download policy refuses loopback unless a root
    /// admin's `secstorage.allowed.internal.sites` lists it.
    pub async fn allow_loopback_downloads(&self) {
        self.ok(
            "updateConfiguration",
            &[
                ("name", "secstorage.allowed.internal.sites"),
                ("value", "127.0.0.1/32"),
            ],
        )
        .await;
    }

    /// A zone with an image store and a public ISO that is Ready there, seeded directly
    /// (no NFS or download): enough for deployVirtualMachine's checks to pass (with
    /// `startvm=false`, nothing needs a host). Returns (zone, iso).
    pub async fn deployable_iso(&self, zone_name: &str) -> (String, String) {
        let (zone, _, _) = self.basic_topology(zone_name).await;
        self.allow_loopback_downloads().await;
        self.ok(
            "updateZone",
            &[("id", zone.as_str()), ("allocationstate", "Enabled")],
        )
        .await;
        let zone_id = Uuid::parse_str(&zone).unwrap();
        let store = db::storage::StoreRow {
            id: Uuid::new_v4().into(),
            name: "store".into(),
            zone_id: zone_id.into(),
            provider: "NFS".into(),
            url: "nfs://127.0.0.1/export/secondary".into(),
            server: "127.0.0.1".into(),
            path: "/export/secondary".into(),
            readonly: false,
            capacity_bytes: 1 << 40,
            used_bytes: 0,
            stats_at: None,
            stats_error: None,
            created: chrono::Utc::now(),
            zone_name: String::new(),
        };
        db::storage::store_insert(&self.ctx.pool, &store)
            .await
            .unwrap();
        let iso = self
            .ok(
                "registerIso",
                &[
                    ("name", "boot"),
                    ("zoneid", &zone),
                    ("url", "http://127.0.0.1:9/boot.iso"),
                    ("ispublic", "true"),
                ],
            )
            .await["iso"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        self.iso_ready(&iso, &zone, "iso/boot.iso").await;
        (zone, iso)
    }

    /// Marks the ISO `iso`, registered in `zone` and still waiting for its download, as
    /// downloaded to the zone's secondary store (the one [`Client::deployable_iso`] adds)
    /// at `path`: the state a finished download leaves.
    pub async fn iso_ready(&self, iso: &str, zone: &str, path: &str) {
        let (iso_id, zone_id) = (
            Uuid::parse_str(iso).unwrap(),
            Uuid::parse_str(zone).unwrap(),
        );
        let ms = self.ctx.ms_id;
        let claimed = db::isos::iso_zone_claim(&self.ctx.pool, ms, 60, 10)
            .await
            .unwrap();
        assert!(
            claimed.iter().any(|c| c.iso_id == iso_id),
            "the ISO's download is claimed"
        );
        let store = db::storage::store_pick_for_zone(&self.ctx.pool, zone_id.into())
            .await
            .unwrap()
            .expect("the zone has a secondary store");
        assert!(db::isos::iso_zone_set_store(
            &self.ctx.pool,
            iso_id.into(),
            zone_id.into(),
            ms,
            store.id,
            path
        )
        .await
        .unwrap());
        assert!(db::isos::iso_zone_finish(
            &self.ctx.pool,
            iso_id.into(),
            zone_id.into(),
            ms,
            Ok((1 << 20, "00"))
        )
        .await
        .unwrap());
    }

    /// A VM row of `account` with a NIC `ip` in `network`, written straight into the
    /// database (no host runs it): what the rules of an isolated network's public addresses
    /// and the console's network pages need. Answers its id.
    pub async fn vm_in(
        &self,
        account: &str,
        zid: &str,
        network: &str,
        name: &str,
        ip: &str,
    ) -> String {
        let vm = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO vms (id, name, display_name, account_id, domain_id, zone_id,
                 service_offering_id, cpu_number, cpu_mhz, memory_mb)
             SELECT $1, $2, $2, a.id, a.domain_id, $3::uuid, (SELECT id FROM service_offerings LIMIT 1),
                 1, 1000, 512
             FROM accounts a WHERE a.name = $4",
        )
        .bind(vm)
        .bind(name)
        .bind(zid)
        .bind(account)
        .execute(&self.ctx.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO nics (id, vm_id, network_id, ip_address, mac_address)
             VALUES ($1, $2, $3::uuid, $4::inet, $5::macaddr)",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(vm)
        .bind(network)
        .bind(ip)
        .bind(format!(
            "02:00:00:00:{:02x}:{:02x}",
            vm.as_bytes()[0],
            vm.as_bytes()[1]
        ))
        .execute(&self.ctx.pool)
        .await
        .unwrap();
        vm.to_string()
    }

    /// A user account `name` (password `<name>-pw-1`) and a client signed with its keys.
    pub async fn user(&self, name: &str) -> Client {
        self.ok(
            "createAccount",
            &[
                ("username", name),
                ("password", &format!("{name}-pw-1")),
                ("email", &format!("{name}@example.org")),
                ("firstname", name),
                ("lastname", "Tester"),
                ("accounttype", "0"),
            ],
        )
        .await;
        Client::for_user(self.ctx.clone(), name).await
    }

    /// Creates an account of `accounttype` (0 user, 2 domain admin) in the domain with id
    /// `domain`, its first user called `name`, and answers a client for that user.
    pub async fn user_in(&self, domain: &str, name: &str, accounttype: &str) -> Client {
        self.ok(
            "createAccount",
            &[
                ("username", name),
                ("password", &format!("{name}-pw-1")),
                ("email", &format!("{name}@example.org")),
                ("firstname", name),
                ("lastname", "Tester"),
                ("accounttype", accounttype),
                ("domainid", domain),
            ],
        )
        .await;
        Client::for_user_in(self.ctx.clone(), domain.parse().unwrap(), name).await
    }

    /// Zone + pod (with management range) + cluster; returns their ids.
    pub async fn basic_topology(&self, zone: &str) -> (String, String, String) {
        let z = self
            .ok(
                "createZone",
                &[
                    ("name", zone),
                    ("networktype", "Basic"),
                    ("dns1", "8.8.8.8"),
                    ("internaldns1", "10.0.0.2"),
                ],
            )
            .await;
        let zid = z["zone"]["id"].as_str().unwrap().to_string();
        let p = self
            .ok(
                "createPod",
                &[
                    ("zoneid", &zid),
                    ("name", "pod1"),
                    ("gateway", "10.0.0.1"),
                    ("netmask", "255.255.255.0"),
                    ("startip", "10.0.0.10"),
                    ("endip", "10.0.0.50"),
                ],
            )
            .await;
        let pid = p["pod"]["id"].as_str().unwrap().to_string();
        let c = self
            .ok(
                "addCluster",
                &[
                    ("zoneid", &zid),
                    ("podid", &pid),
                    ("clustername", "c1"),
                    ("clustertype", "CloudManaged"),
                    ("hypervisor", "KVM"),
                ],
            )
            .await;
        let cid = c["cluster"][0]["id"].as_str().unwrap().to_string();
        (zid, pid, cid)
    }
}
