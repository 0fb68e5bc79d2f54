//! addHost as the HostAdd workflow (`services/hosts/bootstrap.rs`) against a simulated
//! host of the test bed (its own network namespace, sshd with root's password, libvirtd),
//! run in-process so that the engine's test hooks (`Ctx::faults`) can fail or hang any
//! step:
//! - a failure at each step N unwinds: nothing is left on the machine (agent binary,
//!   configuration, certificate, running agent) nor in the cloud (host record), and the
//!   workflow is Failed with the step's error;
//! - every step twice: a server dies at the last step; its row is rewound to the first
//!   step and a retried addHost (another server) finds the unfinished workflow by address
//!   and does every step again: one host, Up, Enabled, its agent running once, one
//!   HOST.ADD event. The SSH password is sealed in the stored input while it runs and
//!   gone once it is over;
//! - a workflow nobody retries is carried on by the housekeeping pass.
//!
//! Needs root (network namespaces); skipped otherwise, as the other test-bed tests.

use stratus_testkit::db as common;
use stratus_testkit::http::is_root;

use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_management::ctx::Ctx;
use stratus_management::db;
use stratus_management::services::hosts::bootstrap::{AddHost, HostAdd, HostAddStep};
use stratus_management::services::workflow::{self, Kind, State, Steps};
use stratus_tests::SimHost;
use uuid::Uuid;

const PASSWORD: &str = "host-add-pw-17";

struct Bed {
    host: SimHost,
    ctx: Ctx,
    c: common::Client,
    zone: String,
    pod: String,
    cluster: String,
    _stop: tokio::sync::watch::Sender<bool>,
    _state: tempfile::TempDir,
}

/// The simulated host, a database, and the management router serving on the test-bed
/// bridge (where the agent reports).
async fn bed(name: &str, index: u8) -> Bed {
    let state = tempfile::tempdir().unwrap();
    let host = SimHost::up(name, index, PASSWORD, state.path());
    let listener = tokio::net::TcpListener::bind((host.mgmt_ip.as_str(), 0))
        .await
        .unwrap();
    let mut ctx = common::fresh_ctx().await;
    ctx.listen = Some(listener.local_addr().unwrap());
    let router = stratus_management::front::router(ctx.clone());
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx.changed().await;
        })
        .await
    });
    let c = common::Client::for_user(ctx.clone(), "admin").await;
    let (zone, pod, cluster) = c.basic_topology("hz").await;
    for (k, v) in [("kvm.acceleration", "qemu"), ("ping.interval", "1")] {
        c.ok("updateConfiguration", &[("name", k), ("value", v)])
            .await;
    }
    Bed {
        host,
        ctx,
        c,
        zone,
        pod,
        cluster,
        _stop: stop,
        _state: state,
    }
}

impl Bed {
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![
            ("zoneid", self.zone.clone()),
            ("podid", self.pod.clone()),
            ("clusterid", self.cluster.clone()),
            ("url", format!("http://{}", self.host.address)),
            ("username", "root".into()),
            ("password", PASSWORD.into()),
            ("hypervisor", "KVM".into()),
        ]
    }

    fn request(&self) -> AddHost {
        AddHost {
            zone_id: self.zone.parse::<Uuid>().unwrap().into(),
            pod_id: self.pod.parse::<Uuid>().unwrap().into(),
            cluster_id: self.cluster.parse::<Uuid>().unwrap().into(),
            address: self.host.address.parse().unwrap(),
            ssh_port: 22,
            username: "root".into(),
            password: PASSWORD.into(),
            disabled: false,
            tags: vec![],
        }
    }

    /// Agents running on the simulated machine (in its network namespace).
    fn agents(&self) -> Vec<String> {
        let out = self.host.exec(&[
            "sh",
            "-c",
            "me=$(readlink /proc/self/ns/net); for p in $(pgrep -f '[s]tratus-agent --config'); do \
             [ \"$(readlink /proc/$p/ns/net 2>/dev/null)\" = \"$me\" ] && echo $p; done; true",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// An agent told to stop takes a moment to exit.
    async fn no_agent_within(&self, t: Duration, step: &str) {
        let deadline = Instant::now() + t;
        loop {
            let left = self.agents();
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "step {step}: agents still run: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What addHost installs on the machine, by whether it is there.
    fn installed(&self) -> Vec<(&'static str, bool)> {
        [
            "agent/bin/stratus-agent",
            "etc-stratus/agent.properties",
            "etc-stratus/agent.crt",
            "etc-stratus/agent.key",
            "etc-stratus/ca.crt",
        ]
        .into_iter()
        .map(|f| (f, self.host.file_exists(f)))
        .collect()
    }

    async fn workflows(&self) -> Vec<Value> {
        let l = self.c.ok("listWorkflows", &[("pagesize", "-1")]).await;
        l["workflow"].as_array().cloned().unwrap_or_default()
    }

    async fn add(&self) -> common::Answer {
        let a = self.args();
        let p: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.c.call("addHost", &p).await
    }
}

fn names() -> Vec<&'static str> {
    HostAddStep::ALL.iter().map(|s| s.name()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_each_step_unwinds_everything() {
    if !is_root() {
        eprintln!(
            "skipping a_failure_at_each_step_unwinds_everything: needs root (network namespaces)"
        );
        return;
    }
    let b = bed("hadd1", 217).await;
    for name in names() {
        b.ctx.faults.set(&format!("fail:{name}"));
        let a = b.add().await;
        b.ctx.faults.clear();
        let text = a.errortext();
        assert_ne!(a.status, 200, "step {name}: {}", a.text);
        assert!(
            text.contains(&format!("injected failure at step {name}")),
            "step {name}: {text}"
        );
        let hosts = b.c.ok("listHosts", &[]).await;
        assert!(
            hosts.get("host").is_none(),
            "step {name}: no host left: {hosts}"
        );
        for (f, there) in b.installed() {
            assert!(!there, "step {name}: {f} was left on the machine");
        }
        b.no_agent_within(Duration::from_secs(10), name).await;
        let w = &b.workflows().await[0];
        assert_eq!(w["kind"], "HostAdd", "{w}");
        assert_eq!(w["state"], "Failed", "step {name}: {w}");
        assert_eq!(w["stepindex"], 0, "step {name}: everything undone: {w}");
        assert_eq!(w["stepcount"], names().len(), "{w}");
        assert_eq!(w["error"].as_str(), Some(text.as_str()));
    }
    // Nothing failing: the host is added, Up and Enabled.
    let a = b.add().await;
    assert_eq!(a.status, 200, "{}", a.text);
    let h = &a.body()["host"][0];
    assert_eq!(h["state"], "Up", "{h}");
    assert_eq!(h["resourcestate"], "Enabled", "{h}");
    for (f, there) in b.installed() {
        assert!(there, "{f} installed");
    }
    assert_eq!(b.agents().len(), 1);
    // No password in any stored input, during or after.
    let rows = sqlx::query_scalar::<_, Value>("SELECT input FROM workflows")
        .fetch_all(&b.ctx.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), names().len() + 1);
    for input in rows {
        assert_eq!(input["password"], Value::Null, "{input}");
        assert!(!input.to_string().contains(PASSWORD));
    }
}

/// Waits until the workflow of `address` is at `step` and answers it.
async fn wait_step(ctx: &Ctx, address: &str, step: &str) -> db::workflows::WorkflowRow {
    // Generous: the steps before copy the agent over SSH, and CI runs two test binaries
    // at once on two cores (a workflow that ended is reported at once, below).
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let row = db::workflows::workflow_fetch_active_by_input(
            &ctx.pool,
            Kind::HostAdd,
            "address",
            address,
        )
        .await
        .unwrap();
        if let Some(r) = row.filter(|r| r.step.as_deref() == Some(step)) {
            return r;
        }
        // Where it is instead (or how it ended), so a failure says why.
        let last: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT state::text, step, error FROM workflows
             WHERE kind = 'HostAdd' AND input->>'address' = $1 ORDER BY created DESC LIMIT 1",
        )
        .bind(address)
        .fetch_optional(&ctx.pool)
        .await
        .unwrap();
        if let Some((state, at, error)) = &last {
            assert!(
                state == "Running" || state == "Unwinding",
                "the workflow ended {state} at {at:?} before {step}: {error:?}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "the workflow never reached {step}: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A second management server on the same database (and listening where the first does).
async fn other_server(ctx: &Ctx) -> Ctx {
    let ms = Uuid::new_v4();
    db::mgmt::ms_register(&ctx.pool, ms.into(), "other", "0")
        .await
        .unwrap();
    let mut o = Ctx::new(ctx.pool.clone(), ms.into(), ctx.secrets.clone())
        .await
        .unwrap();
    o.listen = ctx.listen;
    o
}

/// Server `a` adds the host and dies (its task dropped) while step `at` hangs; the row
/// is then rewound to `rewind_to` with its lease lapsed, as after a crash.
async fn die_at(b: &Bed, at: &str, rewind_to: usize) -> db::workflows::WorkflowRow {
    let a = other_server(&b.ctx).await;
    a.faults.set(&format!("hang:{at}"));
    let admin = db::accounts::user_fetch_by_name(&a.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let w = HostAdd::new(&a, &admin, &b.request());
    let running = {
        let a = a.clone();
        tokio::spawn(async move { workflow::run(&a, None, w).await })
    };
    let row = wait_step(&b.ctx, &b.host.address, at).await;
    // While it runs, the password is in the stored input, sealed.
    let sealed = row.input["password"].as_str().expect("a sealed password");
    assert!(!sealed.contains(PASSWORD) && !row.input.to_string().contains(PASSWORD));
    running.abort();
    let _ = running.await;
    sqlx::query(
        "UPDATE workflows SET step_index = $2, step = $3, lease_until = now() - interval '1 second',
                updated = now() - interval '2 minutes'
         WHERE id = $1",
    )
    .bind(row.id)
    .bind(rewind_to as i32)
    .bind(names()[rewind_to])
    .execute(&b.ctx.pool)
    .await
    .unwrap();
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_twice_and_resumed_by_another_server() {
    if !is_root() {
        eprintln!("skipping every_step_twice_and_resumed_by_another_server: needs root (network namespaces)");
        return;
    }
    let b = bed("hadd2", 218).await;
    let last = names().len() - 1;
    let row = die_at(&b, names()[last], 0).await;
    assert_eq!(b.agents().len(), 1, "the dead server's agent runs");

    // Retried: the unfinished workflow is found by address and every step runs again.
    let a = b.add().await;
    assert_eq!(a.status, 200, "{}", a.text);
    let h = &a.body()["host"][0];
    assert_eq!(h["id"], row.resource_id.to_string(), "the same host");
    assert_eq!(h["state"], "Up", "{h}");
    assert_eq!(h["resourcestate"], "Enabled", "{h}");
    let hosts = b.c.ok("listHosts", &[]).await;
    assert_eq!(hosts["count"], 1, "{hosts}");
    for (f, there) in b.installed() {
        assert!(there, "{f} installed");
    }
    assert_eq!(b.agents().len(), 1, "the agent runs once");
    let ws = b.workflows().await;
    assert_eq!(ws.len(), 1, "{ws:?}");
    assert_eq!(ws[0]["state"], "Succeeded");
    assert_eq!(ws[0]["stepindex"], names().len());
    assert_eq!(ws[0]["managementserverid"], b.ctx.ms_id.to_string());
    let done = db::workflows::workflow_fetch(&b.ctx.pool, row.id)
        .await
        .unwrap()
        .unwrap();
    let outputs: Vec<&String> = done.outputs.as_object().unwrap().keys().collect();
    assert_eq!(outputs.len(), names().len(), "{outputs:?}");
    assert_eq!(
        done.input["password"],
        Value::Null,
        "the password is dropped"
    );
    let ev =
        b.c.ok(
            "listEvents",
            &[
                ("resourceid", &row.resource_id.to_string()),
                ("pagesize", "-1"),
            ],
        )
        .await;
    let adds = ev["event"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "HOST.ADD")
        .count();
    assert_eq!(adds, 1, "registered once: {ev}");

    // Re-adding a host that exists is refused before the machine is touched.
    let a = b.add().await;
    assert_eq!(a.status, 431, "{}", a.text);
    assert!(a.errortext().contains("already exists"), "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_add_is_carried_on_by_housekeeping() {
    if !is_root() {
        eprintln!("skipping an_orphaned_add_is_carried_on_by_housekeeping: needs root (network namespaces)");
        return;
    }
    let b = bed("hadd3", 219).await;
    // The server dies while the agent starts; nobody retries.
    let at = HostAddStep::StartAgent;
    let index = HostAddStep::ALL.iter().position(|s| *s == at).unwrap();
    let row = die_at(&b, at.name(), index).await;
    let n = stratus_management::services::reconcile::resume_orphaned_work(&b.ctx)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let r = db::workflows::workflow_fetch(&b.ctx.pool, row.id)
            .await
            .unwrap()
            .unwrap();
        if !r.state.is_active() {
            break r;
        }
        assert!(Instant::now() < deadline, "not carried on: {r:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done.state, State::Succeeded, "{:?}", done.error);
    assert_eq!(done.owner_ms, Some(b.ctx.ms_id));
    let hosts = b.c.ok("listHosts", &[]).await;
    assert_eq!(hosts["host"][0]["state"], "Up", "{hosts}");
    assert_eq!(hosts["host"][0]["resourcestate"], "Enabled", "{hosts}");
    assert_eq!(b.agents().len(), 1, "the agent runs once");
}
