//! deployVirtualMachine's steps against real parts (a simulated host with its own sshd,
//! libvirtd and agent added by addHost; nfs-ganesha for storage), driven in-process so
//! steps can be made to fail or hang:
//! - a failure at each step unwinds every step before it: the VM is Error with the
//!   reason and holds no address, capacity, volume, lease or domain;
//! - every step done twice (a deploy re-run from step 0) gives the same one VM;
//! - a failure at each step of a start leaves the VM Stopped with its disk and address;
//!   a failure at each step of an expunge leaves it Destroyed, and a later one finishes;
//! - a management server that dies mid-deploy (its runtime dropped while the domain step
//!   hangs) has its job taken over by another server, which finds the job's workflow
//!   and resumes at that step (listWorkflows shows where it is);
//! - 50 concurrent deploys at two hosts (libvirt's test driver) with room for 4 VMs and
//!   6 addresses: 4 winners, 2 per host, 46 losers with 533 holding nothing; then 20
//!   small ones for the 2 addresses left: 2 winners; all 6 addresses distinct;
//! - host and storage tags: a host added with `hosttags`, a pool created with `tags`; a
//!   tagged offering's VMs run on that host with their root volumes on that pool, and a
//!   tag nobody has fails the deploy with 533 naming it.

use stratus_testkit::db as common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Client;
use serde_json::Value;
use stratus_management::{
    ctx::Ctx, db, front::jobs, services::hosts, services::isos, services::reconcile, services::vms,
};
use stratus_tests::{HttpFiles, NfsServer, Served, SimHost};
use tokio::sync::watch;
use uuid::Uuid;

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";

/// A context for the admin client whose `listen` is a free port on `ip`.
async fn ctx_listening_on(ip: &str) -> (Ctx, tokio::net::TcpListener) {
    let mut ctx = common::fresh_ctx().await;
    let l = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    ctx.listen = Some(l.local_addr().unwrap());
    (ctx, l)
}

/// The management router, job worker, host monitor and ISO downloader of `ctx` on
/// `listener` (where simulated hosts reach it). Stopped when the sender is dropped.
fn serve_on(ctx: &Ctx, listener: tokio::net::TcpListener) -> watch::Sender<bool> {
    let router = stratus_management::front::router(ctx.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let (stop, rx) = watch::channel(false);
    tokio::spawn(hosts::run_monitor(ctx.clone(), rx.clone()));
    tokio::spawn(jobs::run_worker(ctx.clone(), rx.clone()));
    tokio::spawn(isos::run(ctx.clone(), rx));
    stop
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

/// A Basic zone with a guest range, a cluster, the hosts (added over SSH), primary and
/// secondary storage and a Ready ipxe.iso. Returns (zone, iso).
async fn cloud(
    c: &Client,
    name: &str,
    hosts: &[&SimHost],
    nfs: &NfsServer,
    exports: (&Path, &Path),
    guests: (&str, &str, &str),
) -> (String, String) {
    let zone = s(&c
        .ok(
            "createZone",
            &[
                ("name", name),
                ("networktype", "Basic"),
                ("dns1", "192.0.2.53"),
                ("internaldns1", "10.231.0.1"),
            ],
        )
        .await["zone"]["id"]);
    let pod = s(&c
        .ok(
            "createPod",
            &[
                ("zoneid", &zone),
                ("name", "p"),
                ("gateway", "172.30.0.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "172.30.0.10"),
                ("endip", "172.30.0.20"),
            ],
        )
        .await["pod"]["id"]);
    let (gateway, start, end) = guests;
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zone),
            ("podid", &pod),
            ("gateway", gateway),
            ("netmask", "255.255.255.0"),
            ("startip", start),
            ("endip", end),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    let cluster = s(&c
        .ok(
            "addCluster",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clustername", "c"),
                ("clustertype", "CloudManaged"),
                ("hypervisor", "KVM"),
            ],
        )
        .await["cluster"][0]["id"]);
    for h in hosts {
        let url = format!("http://{}", h.address);
        c.ok(
            "addHost",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clusterid", &cluster),
                ("hypervisor", "KVM"),
                ("url", &url),
                ("username", "root"),
                ("password", "deploy-pw"),
            ],
        )
        .await;
    }
    let (primary, secondary) = exports;
    c.ok(
        "createStoragePool",
        &[
            ("zoneid", &zone),
            ("podid", &pod),
            ("clusterid", &cluster),
            ("name", "primary"),
            ("url", &nfs.url(primary)),
        ],
    )
    .await;
    c.ok(
        "addImageStore",
        &[
            ("zoneid", &zone),
            ("provider", "NFS"),
            ("name", "secondary"),
            ("url", &nfs.url(secondary)),
        ],
    )
    .await;
    let files = HttpFiles::start(vec![("/ipxe.iso", Served::File(IPXE.into()))]);
    c.allow_loopback_downloads().await;
    let iso = s(&c
        .ok(
            "registerIso",
            &[
                ("zoneid", &zone),
                ("name", "ipxe"),
                ("displaytext", "iPXE"),
                ("url", &files.url("/ipxe.iso")),
            ],
        )
        .await["iso"][0]["id"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let l = c
            .ok("listIsos", &[("id", &iso), ("isofilter", "all")])
            .await;
        if l["iso"][0]["isready"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "ISO never Ready: {l}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    (zone, iso)
}

/// Submits a deploy; returns (vm id, job id).
async fn submit(c: &Client, zone: &str, iso: &str, name: &str) -> (String, String) {
    let a = c
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", zone),
                ("serviceofferingid", SMALL),
                ("templateid", iso),
                ("diskofferingid", DISK_5GB),
                ("hypervisor", "KVM"),
                ("name", name),
            ],
        )
        .await;
    let b = a.body();
    (s(&b["id"]), s(&b["jobid"]))
}

async fn wait_job(c: &Client, job: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let b = c.ok("queryAsyncJobResult", &[("jobid", job)]).await;
        if b["jobstatus"] != 0 {
            return b;
        }
        assert!(Instant::now() < deadline, "job {job} never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn vm(c: &Client, id: &str) -> Value {
    c.ok("listVirtualMachines", &[("id", id)]).await["virtualmachine"][0].clone()
}

async fn used(c: &Client, zone: &str, kind: &str) -> i64 {
    c.ok("listCapacity", &[("zoneid", zone), ("type", kind)])
        .await["capacity"][0]["capacityused"]
        .as_i64()
        .unwrap()
}

fn domains(host: &SimHost) -> Vec<String> {
    host.virsh(&["list", "--all", "--uuid"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Nothing of a failed deploy remains but its Error row.
async fn assert_holds_nothing(c: &Client, zone: &str, host: &SimHost, primary: &Path, id: &str) {
    let v = vm(c, id).await;
    assert_eq!(v["state"], "Error", "{v}");
    assert!(v["nic"].as_array().unwrap().is_empty(), "no address: {v}");
    assert_eq!(used(c, zone, "0").await, 0, "no memory held");
    assert_eq!(used(c, zone, "8").await, 0, "no address held");
    assert!(domains(host).is_empty(), "no domain");
    assert!(
        files_in(primary).is_empty(),
        "no volume file: {:?}",
        files_in(primary)
    );
    let leases = std::fs::read_to_string(host.state.join("agent/networks/cloudbr0/hosts"))
        .unwrap_or_default();
    assert!(leases.trim().is_empty(), "no lease: {leases}");
}

async fn expunge(c: &Client, id: &str) {
    let a = c
        .call("destroyVirtualMachine", &[("id", id), ("expunge", "true")])
        .await;
    let job = s(&a.body()["jobid"]);
    let r = wait_job(c, &job, 60).await;
    assert_eq!(r["jobstatus"], 1, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn steps_unwind_repeat_and_resume_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up("dpn", 193, &tmp.path().join("nfs"), &[&primary, &secondary]);
    let host = SimHost::up("dph", 192, "deploy-pw", &tmp.path().join("hosts"));
    let (ctx, listener) = ctx_listening_on(&host.mgmt_ip).await;
    let c = Client::for_user(ctx.clone(), "admin").await;
    c.ok(
        "updateConfiguration",
        &[("name", "kvm.acceleration"), ("value", "qemu")],
    )
    .await;
    let stop_a = serve_on(&ctx, listener);
    let (zone, iso) = cloud(
        &c,
        "dz",
        &[&host],
        &nfs,
        (&primary, &secondary),
        ("192.168.192.1", "192.168.192.10", "192.168.192.20"),
    )
    .await;

    // A failure at each step unwinds all of them.
    for step in ["Allocate", "Volume", "Network", "Domain"] {
        ctx.faults.set(&format!("fail:{step}"));
        let (id, job) = submit(&c, &zone, &iso, &format!("f-{}", step.to_lowercase())).await;
        let r = wait_job(&c, &job, 60).await;
        ctx.faults.clear();
        assert_eq!(r["jobstatus"], 2, "{r}");
        let text = r["jobresult"]["errortext"].as_str().unwrap_or_default();
        assert!(text.contains(&format!("step {step}")), "{step}: {text}");
        assert_holds_nothing(&c, &zone, &host, &primary, &id).await;
        let v = vm(&c, &id).await;
        assert!(v["errortext"].as_str().unwrap().contains(step), "{v}");
        expunge(&c, &id).await;
    }

    // Every step twice: a finished deploy rewound to step 0 and its job's handler run
    // again (as after a takeover) gives the same VM.
    let (id, job) = submit(&c, &zone, &iso, "twice").await;
    assert_eq!(wait_job(&c, &job, 90).await["jobstatus"], 1);
    let first = vm(&c, &id).await;
    let vm_id: Uuid = id.parse().unwrap();
    let job_id: Uuid = job.parse().unwrap();
    sqlx::query(
        "UPDATE workflows SET state = 'Running', step_index = 0, step = 'Allocate' WHERE job_id = $1",
    )
    .bind(job_id)
    .execute(&ctx.pool)
    .await
    .unwrap();
    vms::deploy(&ctx, Some(job_id.into()), vm_id.into(), Default::default())
        .await
        .unwrap();
    let again = vm(&c, &id).await;
    assert_eq!(again["state"], "Running");
    assert_eq!(again["nic"], first["nic"], "the same address and MAC");
    assert_eq!(again["hostid"], first["hostid"]);
    assert_eq!(domains(&host), vec![id.clone()], "one domain");
    assert_eq!(files_in(&primary).len(), 1, "one volume file");
    let vols = c.ok("listVolumes", &[("virtualmachineid", &id)]).await;
    assert_eq!(vols["count"], 1, "{vols}");
    assert_eq!(used(&c, &zone, "8").await, 1);
    assert_eq!(used(&c, &zone, "0").await, 512 << 20);

    // A failure at each step of a start unwinds it: Stopped, with its disk and address.
    let stopped = c
        .call("stopVirtualMachine", &[("id", &id), ("forced", "true")])
        .await;
    assert_eq!(
        wait_job(&c, &s(&stopped.body()["jobid"]), 60).await["jobstatus"],
        1
    );
    for step in ["Allocate", "Volume", "Network", "Domain"] {
        ctx.faults.set(&format!("fail:{step}"));
        let a = c.call("startVirtualMachine", &[("id", &id)]).await;
        let r = wait_job(&c, &s(&a.body()["jobid"]), 60).await;
        ctx.faults.clear();
        assert_eq!(r["jobstatus"], 2, "{r}");
        let v = vm(&c, &id).await;
        assert_eq!(v["state"], "Stopped", "{step}: {v}");
        assert!(v["errortext"].as_str().unwrap().contains(step), "{v}");
        assert_eq!(v["nic"], first["nic"], "{step}: the address stays");
        assert_eq!(files_in(&primary).len(), 1, "{step}: the disk stays");
        assert!(domains(&host).is_empty(), "{step}: no domain");
        assert_eq!(used(&c, &zone, "0").await, 0, "{step}: no memory held");
        let l = c
            .ok("listWorkflows", &[("resourceid", &id), ("state", "Failed")])
            .await;
        assert_eq!(l["workflow"][0]["kind"], "VmStart", "{l}");
    }

    // A failure at each step of an expunge puts the VM back Destroyed with the reason; a
    // later expunge repeats what is left.
    let d = c.call("destroyVirtualMachine", &[("id", &id)]).await;
    assert_eq!(
        wait_job(&c, &s(&d.body()["jobid"]), 60).await["jobstatus"],
        1
    );
    for step in [
        "Expunging",
        "DeleteDomain",
        "DeleteVolume",
        "ReleaseAddresses",
    ] {
        ctx.faults.set(&format!("fail:{step}"));
        let a = c.call("expungeVirtualMachine", &[("id", &id)]).await;
        let r = wait_job(&c, &s(&a.body()["jobid"]), 60).await;
        ctx.faults.clear();
        assert_eq!(r["jobstatus"], 2, "{r}");
        let v = vm(&c, &id).await;
        assert_eq!(v["state"], "Destroyed", "{step}: {v}");
        assert!(v["errortext"].as_str().unwrap().contains(step), "{v}");
    }
    assert_eq!(used(&c, &zone, "8").await, 1, "the address stayed");
    let a = c.call("expungeVirtualMachine", &[("id", &id)]).await;
    assert_eq!(
        wait_job(&c, &s(&a.body()["jobid"]), 60).await["jobstatus"],
        1
    );
    assert!(files_in(&primary).is_empty());
    assert_eq!(used(&c, &zone, "8").await, 0);

    // Server A dies while the domain step hangs; server B takes the job over and resumes
    // at that step. A's tasks run in their own runtime, dropped to simulate the crash.
    let opts = (*ctx.pool.connect_options()).clone();
    let (secrets, ms_a) = (ctx.secrets.clone(), ctx.ms_id);
    let rt_a = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ctx_a: Ctx = {
        let (opts, secrets) = (opts.clone(), secrets.clone());
        rt_a.spawn(async move {
            let pool = db::connect(opts, 4).await.unwrap();
            let mut a = Ctx::new(pool, ms_a, secrets).await.unwrap();
            a.faults.set("hang:Domain");
            a.listen = None;
            a
        })
        .await
        .unwrap()
    };
    // The first server stops taking jobs; A (same id, own runtime) takes them now.
    stop_a.send(true).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let a = ctx_a.clone();
        rt_a.spawn(async move {
            let (_keep, rx) = watch::channel(false);
            jobs::run_worker(a, rx).await;
        });
    }
    let (id, job) = submit(&c, &zone, &iso, "crash").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // An admin sees where the deploy is, without SQL.
        let l = c.ok("listWorkflows", &[("resourceid", &id)]).await;
        let w = &l["workflow"][0];
        if w["kind"] == "VmDeploy" && w["step"] == "Domain" && w["state"] == "Running" {
            assert_eq!(w["stepindex"], 3, "{w}");
            assert_eq!(w["jobid"], job.as_str(), "{w}");
            break; // Allocate, Volume, Network done; Domain hanging
        }
        assert!(Instant::now() < deadline, "never reached the domain step");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A client waiting sees how far the job got: three of the four steps done.
    let q = c.ok("queryAsyncJobResult", &[("jobid", &job)]).await;
    assert_eq!(
        (q["jobstatus"].clone(), q["jobprocstatus"].clone()),
        (0.into(), 3.into()),
        "{q}"
    );
    rt_a.shutdown_background(); // the crash: no lease renewals, no result
    let ms_b = Uuid::new_v4();
    db::mgmt::ms_register(&ctx.pool, ms_b.into(), "b", "0")
        .await
        .unwrap();
    let mut ctx_b = Ctx::new(ctx.pool.clone(), ms_b.into(), secrets)
        .await
        .unwrap();
    ctx_b.listen = ctx.listen;
    let (_stop_b_tx, stop_b) = watch::channel(false);
    tokio::spawn(jobs::run_worker(ctx_b.clone(), stop_b));
    let r = wait_job(&c, &job, 120).await;
    assert_eq!(r["jobstatus"], 1, "taken over and finished: {r}");
    assert_eq!(r["managementserverid"], ms_b.to_string());
    let v = vm(&c, &id).await;
    assert_eq!(v["state"], "Running", "{v}");
    assert_eq!(domains(&host), vec![id.clone()]);
    assert_eq!(files_in(&primary).len(), 1, "one volume: the first run's");
    assert_eq!(used(&c, &zone, "8").await, 1);
    let l = c.ok("listWorkflows", &[("resourceid", &id)]).await;
    assert_eq!(l["workflow"][0]["state"], "Succeeded", "{l}");
    assert_eq!(l["workflow"][0]["managementserverid"], ms_b.to_string());
    expunge(&c, &id).await;
    // The housekeeping pass has nothing left to unwind.
    assert_eq!(reconcile::unwind_abandoned_work(&ctx).await.unwrap(), 0);
    assert!(domains(&host).is_empty());
    assert!(files_in(&primary).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deploys_never_double_allocate() {
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up("dcn", 196, &tmp.path().join("nfs"), &[&primary, &secondary]);
    let h1 = SimHost::up("dch1", 194, "deploy-pw", &tmp.path().join("hosts"));
    let h2 = SimHost::up("dch2", 195, "deploy-pw", &tmp.path().join("hosts"));
    let (ctx, listener) = ctx_listening_on(&h1.mgmt_ip).await;
    let c = Client::for_user(ctx.clone(), "admin").await;
    // The hosts' agents drive libvirt's test driver: domains without QEMU.
    c.ok(
        "updateConfiguration",
        &[("name", "kvm.libvirt.uri"), ("value", "test:///default")],
    )
    .await;
    c.ok(
        "updateConfiguration",
        &[("name", "kvm.acceleration"), ("value", "qemu")],
    )
    .await;
    let _stop = serve_on(&ctx, listener);
    let (zone, iso) = cloud(
        &c,
        "cz",
        &[&h1, &h2],
        &nfs,
        (&primary, &secondary),
        ("192.168.194.1", "192.168.194.10", "192.168.194.15"),
    )
    .await;
    // Each test-driver host has 3 GiB: a 1.5 GiB offering fits 2 per host, 4 in all,
    // while the range has 6 addresses. Capacity runs out first.
    let big = s(&c
        .ok(
            "createServiceOffering",
            &[
                ("name", "big"),
                ("displaytext", "1.5 GiB"),
                ("cpunumber", "1"),
                ("cpuspeed", "100"),
                ("memory", "1536"),
            ],
        )
        .await["serviceoffering"]["id"]);
    let hosts = c.ok("listHosts", &[("zoneid", &zone)]).await;
    for h in hosts["host"].as_array().unwrap() {
        assert_eq!(h["memorytotal"], 3i64 << 30, "test driver memory: {h}");
    }
    let (winners, losers) = wave(&c, &zone, &iso, &big, "a", 50).await;
    assert_eq!(
        winners.len(),
        4,
        "exactly as many as the hosts have room for"
    );
    assert_eq!(losers, 46);
    for h in [&h1, &h2] {
        let n = winners
            .iter()
            .filter(|w| w["hostname"] == h.name.as_str())
            .count();
        assert_eq!(n, 2, "host {} has {n} VMs, room for 2", h.name);
    }
    assert_eq!(used(&c, &zone, "0").await, 4 * (1536i64 << 20));
    assert_eq!(used(&c, &zone, "8").await, 4);

    // One VM per host stops: capacity comes back, its address stays taken. A second
    // wave of small VMs has room for 6 but 2 addresses left: addresses run out.
    for h in [&h1, &h2] {
        let w = winners
            .iter()
            .find(|w| w["hostname"] == h.name.as_str())
            .unwrap();
        let a = c
            .call(
                "stopVirtualMachine",
                &[("id", &s(&w["id"])), ("forced", "true")],
            )
            .await;
        let r = wait_job(&c, &s(&a.body()["jobid"]), 60).await;
        assert_eq!(r["jobstatus"], 1, "{r}");
    }
    assert_eq!(used(&c, &zone, "0").await, 2 * (1536i64 << 20));
    assert_eq!(
        used(&c, &zone, "8").await,
        4,
        "stopped VMs keep their addresses"
    );
    let (more, losers) = wave(&c, &zone, &iso, SMALL, "b", 20).await;
    assert_eq!(more.len(), 2, "exactly the 2 addresses left");
    assert_eq!(losers, 18);
    let mut ips: Vec<_> = winners
        .iter()
        .chain(more.iter())
        .map(|w| s(&w["nic"][0]["ipaddress"]))
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6, "distinct addresses: {ips:?}");
    assert_eq!(used(&c, &zone, "8").await, 6);
    assert_eq!(files_in(&primary).len(), 6, "one volume per winner");
}

/// `n` concurrent deploys; returns the winners' VMs and the number of losers, each of
/// which failed with 533 and holds no address.
async fn wave(
    c: &Client,
    zone: &str,
    iso: &str,
    offering: &str,
    prefix: &str,
    n: usize,
) -> (Vec<Value>, usize) {
    let mut tasks = vec![];
    for i in 0..n {
        let c2 = Client {
            ctx: c.ctx.clone(),
            router: c.router.clone(),
            api_key: c.api_key.clone(),
            secret: c.secret.clone(),
        };
        let (zone, iso, offering) = (zone.to_string(), iso.to_string(), offering.to_string());
        let name = format!("{prefix}{i}");
        tasks.push(tokio::spawn(async move {
            let a = c2
                .call(
                    "deployVirtualMachine",
                    &[
                        ("zoneid", &zone),
                        ("serviceofferingid", &offering),
                        ("templateid", &iso),
                        ("diskofferingid", DISK_5GB),
                        ("hypervisor", "KVM"),
                        ("name", &name),
                    ],
                )
                .await;
            let b = a.body().clone();
            let job = s(&b["jobid"]);
            (s(&b["id"]), wait_job(&c2, &job, 300).await)
        }));
    }
    let mut winners = vec![];
    let mut losers = 0;
    for t in tasks {
        let (id, r) = t.await.unwrap();
        if r["jobstatus"] == 1 {
            winners.push(r["jobresult"]["virtualmachine"].clone());
        } else {
            assert_eq!(r["jobresult"]["errorcode"], 533, "{r}");
            let v = vm(c, &id).await;
            assert_eq!(v["state"], "Error");
            assert!(
                v["nic"].as_array().unwrap().is_empty(),
                "a loser holds no address"
            );
            losers += 1;
        }
    }
    (winners, losers)
}

/// Runs an async command to its end; answers the job's result.
async fn job_of(c: &Client, command: &str, params: &[(&str, &str)]) -> (String, Value) {
    let a = c.call(command, params).await;
    let job = s(&a.body()["jobid"]);
    let r = wait_job(c, &job, 120).await;
    (job, r)
}

async fn root_volume(c: &Client, vm: &str) -> Value {
    let l = c.ok("listVolumes", &[("virtualmachineid", vm)]).await;
    assert_eq!(l["count"], 1, "one volume: {l}");
    l["volume"][0].clone()
}

/// The workflow of `job` rewound to its first step (as after a takeover), and its input.
async fn rewind(ctx: &Ctx, job: &str, first: &str) -> Value {
    let job: Uuid = job.parse().unwrap();
    sqlx::query(
        "UPDATE workflows SET state = 'Running', step_index = 0, step = $2 WHERE job_id = $1",
    )
    .bind(job)
    .bind(first)
    .execute(&ctx.pool)
    .await
    .unwrap();
    sqlx::query_scalar("SELECT input FROM workflows WHERE job_id = $1")
        .bind(job)
        .fetch_one(&ctx.pool)
        .await
        .unwrap()
}

/// createTemplate and restoreVirtualMachine on the engine, against real NFS and a host
/// (libvirt's test driver: the disks are real files, the domains need no QEMU):
/// - a template made from a stopped VM's root volume is a standalone qcow2 in secondary
///   storage that deploys like any other; a running VM is refused;
/// - a failure at each step of either unwinds: no template row or file is left; the
///   restored VM keeps its old volume, with the reason;
/// - every step twice gives the same template and the same new volume;
/// - restoring a Running VM stops it, replaces the volume and starts it again; an
///   ISO-installed VM gets a blank disk with its ISO still attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn template_from_a_volume_and_restore() {
    use stratus_management::services::{templates, vms::restore::Restore};
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up("rtn", 203, &tmp.path().join("nfs"), &[&primary, &secondary]);
    let host = SimHost::up("rth", 202, "deploy-pw", &tmp.path().join("hosts"));
    let (ctx, listener) = ctx_listening_on(&host.mgmt_ip).await;
    let c = Client::for_user(ctx.clone(), "admin").await;
    for (name, value) in [
        ("kvm.libvirt.uri", "test:///default"),
        ("kvm.acceleration", "qemu"),
    ] {
        c.ok("updateConfiguration", &[("name", name), ("value", value)])
            .await;
    }
    let _stop = serve_on(&ctx, listener);
    let (zone, iso) = cloud(
        &c,
        "rz",
        &[&host],
        &nfs,
        (&primary, &secondary),
        ("192.168.202.1", "192.168.202.10", "192.168.202.20"),
    )
    .await;
    let os = s(&c.ok("listOsTypes", &[]).await["ostype"][0]["id"]);

    // An ISO-installed VM (a blank 5 GB root disk), Running: refused.
    let (src, job) = submit(&c, &zone, &iso, "src").await;
    assert_eq!(wait_job(&c, &job, 90).await["jobstatus"], 1);
    let vol = root_volume(&c, &src).await;
    let vol_id = s(&vol["id"]);
    let create = [
        ("name", "from-src"),
        ("displaytext", "made from src"),
        ("ostypeid", os.as_str()),
        ("volumeid", vol_id.as_str()),
        ("passwordenabled", "true"),
    ];
    let (_, r) = job_of(&c, "createTemplate", &create).await;
    assert_eq!(r["jobstatus"], 2, "{r}");
    assert!(
        r["jobresult"]["errortext"]
            .as_str()
            .unwrap()
            .contains("must be Stopped"),
        "{r}"
    );
    let (_, r) = job_of(
        &c,
        "stopVirtualMachine",
        &[("id", &src), ("forced", "true")],
    )
    .await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let templates_dir = secondary.join("template");

    // A failure at each step unwinds: no template, no file.
    for step in ["Record", "Copy", "Ready"] {
        ctx.faults.set(&format!("fail:{step}"));
        let (_, r) = job_of(&c, "createTemplate", &create).await;
        ctx.faults.clear();
        assert_eq!(r["jobstatus"], 2, "{step}: {r}");
        let text = r["jobresult"]["errortext"].as_str().unwrap_or_default();
        assert!(text.contains(&format!("step {step}")), "{step}: {text}");
        let l = c
            .ok(
                "listTemplates",
                &[("templatefilter", "self"), ("name", "from-src")],
            )
            .await;
        assert_eq!(l["count"].as_i64().unwrap_or(0), 0, "{step}: {l}");
        assert!(
            files_in(&templates_dir).is_empty(),
            "{step}: {:?}",
            files_in(&templates_dir)
        );
        assert_eq!(vm(&c, &src).await["state"], "Stopped");
    }

    // It works: a standalone qcow2 of the volume's size, Ready in the zone.
    let (tjob, r) = job_of(&c, "createTemplate", &create).await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let t = r["jobresult"]["template"].clone();
    let tid = s(&t["id"]);
    assert_eq!(t["isready"], true, "{t}");
    assert_eq!(t["format"], "QCOW2");
    assert_eq!(t["size"], 5i64 << 30, "the volume's virtual size: {t}");
    assert_eq!(t["passwordenabled"], true);
    assert_eq!(t["ostypeid"], os.as_str());
    assert_eq!(t["zoneid"], zone.as_str());
    let file = templates_dir.join(&tid).join(format!("{tid}.qcow2"));
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&file)
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).expect("qemu-img info");
    assert_eq!(info["format"], "qcow2");
    assert!(info.get("backing-filename").is_none(), "flattened: {info}");
    assert_eq!(files_in(&templates_dir), vec![tid.clone()]);
    // Every step twice: the same template, one file.
    let input = rewind(&ctx, &tjob, "Record").await;
    let again: templates::Create = serde_json::from_value(input).unwrap();
    templates::create(&ctx, Some(tjob.parse().unwrap()), again)
        .await
        .unwrap();
    let l = c
        .ok(
            "listTemplates",
            &[("templatefilter", "self"), ("name", "from-src")],
        )
        .await;
    assert_eq!(l["count"], 1, "{l}");
    assert_eq!(l["template"][0]["isready"], true, "{l}");
    assert_eq!(files_in(&templates_dir), vec![tid.clone()]);
    assert_eq!(
        files_in(&templates_dir.join(&tid)),
        vec![format!("{tid}.qcow2")],
        "no partial file"
    );
    // Made from a volume, it has no URL to copy from.
    let (_, r) = job_of(&c, "copyTemplate", &[("id", &tid), ("destzoneid", &zone)]).await;
    assert_eq!(r["jobstatus"], 2, "{r}");

    // It deploys like any other; the password-enabled template answers a password.
    let d = c
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &zone),
                ("serviceofferingid", SMALL),
                ("templateid", &tid),
                ("name", "clone"),
            ],
        )
        .await;
    let (clone, cjob) = (s(&d.body()["id"]), s(&d.body()["jobid"]));
    let r = wait_job(&c, &cjob, 90).await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let first_password = s(&r["jobresult"]["virtualmachine"]["password"]);
    assert_eq!(first_password.len(), 12);
    let cv = vm(&c, &clone).await;
    assert_eq!(cv["templateid"], tid.as_str());
    assert_eq!(cv["state"], "Running");
    let old_root = root_volume(&c, &clone).await;

    // Restoring fails at each step (the clone stopped): it keeps its volume.
    let (_, r) = job_of(
        &c,
        "stopVirtualMachine",
        &[("id", &clone), ("forced", "true")],
    )
    .await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    for step in ["Stop", "Volume", "Swap", "RemoveOld"] {
        ctx.faults.set(&format!("fail:{step}"));
        let (_, r) = job_of(&c, "restoreVirtualMachine", &[("virtualmachineid", &clone)]).await;
        ctx.faults.clear();
        assert_eq!(r["jobstatus"], 2, "{step}: {r}");
        let v = vm(&c, &clone).await;
        assert_eq!(v["state"], "Stopped", "{step}: {v}");
        assert!(
            v["errortext"].as_str().unwrap().contains(step),
            "{step}: {v}"
        );
        let now = root_volume(&c, &clone).await;
        assert_eq!(now["id"], old_root["id"], "{step}: the old volume stays");
        assert!(
            primary.join(s(&now["path"])).exists(),
            "{step}: with its file"
        );
    }
    // Restored for real, Running: stopped, a new volume, started again.
    let (_, r) = job_of(&c, "startVirtualMachine", &[("id", &clone)]).await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let before = root_volume(&c, &clone).await;
    let (_, r) = job_of(&c, "restoreVirtualMachine", &[("virtualmachineid", &clone)]).await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let rv = &r["jobresult"]["virtualmachine"];
    assert_eq!(rv["state"], "Running", "started again: {rv}");
    let new_password = s(&rv["password"]);
    assert_eq!(new_password.len(), 12, "a new password: {rv}");
    assert_ne!(new_password, first_password);
    let after = root_volume(&c, &clone).await;
    assert_ne!(after["id"], before["id"], "a new root volume");
    assert_eq!(after["size"], 5i64 << 30);
    let mut live = files_in(&primary);
    live.retain(|f| f.ends_with(".qcow2") && !f.starts_with("template-"));
    live.sort();
    let mut expected = vec![s(&root_volume(&c, &src).await["path"]), s(&after["path"])];
    expected.sort();
    assert_eq!(live, expected, "the old volumes' files are gone");

    // The ISO-installed VM: a blank disk, the ISO still attached; every step twice.
    let (rjob, r) = job_of(&c, "restoreVirtualMachine", &[("virtualmachineid", &src)]).await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let sv = &r["jobresult"]["virtualmachine"];
    assert_eq!(sv["state"], "Stopped", "{sv}");
    assert_eq!(sv["isoid"], iso.as_str(), "{sv}");
    assert!(sv.get("password").is_none(), "{sv}");
    let srv = root_volume(&c, &src).await;
    assert_ne!(srv["id"], vol["id"]);
    let input = rewind(&ctx, &rjob, "Stop").await;
    let again: Restore = serde_json::from_value(input).unwrap();
    stratus_management::services::vms::restore(&ctx, Some(rjob.parse().unwrap()), again)
        .await
        .unwrap();
    assert_eq!(
        root_volume(&c, &src).await["id"],
        srv["id"],
        "the same new volume"
    );
    assert!(primary.join(s(&srv["path"])).exists());
    assert!(!primary.join(s(&vol["path"])).exists());

    // A template from an overlay reads through its base; the overlay still names its
    // base by the relative name afterwards.
    let (_, r) = job_of(
        &c,
        "stopVirtualMachine",
        &[("id", &clone), ("forced", "true")],
    )
    .await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let (_, r) = job_of(
        &c,
        "createTemplate",
        &[
            ("name", "from-clone"),
            ("ostypeid", os.as_str()),
            ("virtualmachineid", clone.as_str()),
        ],
    )
    .await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let t2 = r["jobresult"]["template"].clone();
    let t2id = s(&t2["id"]);
    assert_eq!(t2["isready"], true, "{t2}");
    assert_eq!(
        t2["passwordenabled"], true,
        "inherited from the VM's template: {t2}"
    );
    let info = |f: std::path::PathBuf| -> Value {
        let o = std::process::Command::new("qemu-img")
            .args(["info", "-U", "--output=json"])
            .arg(&f)
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).expect("qemu-img info")
    };
    let flat = info(templates_dir.join(&t2id).join(format!("{t2id}.qcow2")));
    assert!(flat.get("backing-filename").is_none(), "flattened: {flat}");
    let overlay = info(primary.join(s(&root_volume(&c, &clone).await["path"])));
    assert!(
        overlay["backing-filename"]
            .as_str()
            .unwrap()
            .starts_with(&format!("template-{tid}-")),
        "relative again: {overlay}"
    );
    let (_, r) = job_of(&c, "deleteTemplate", &[("id", &t2id)]).await;
    assert_eq!(r["jobstatus"], 1, "{r}");

    expunge(&c, &clone).await;
    expunge(&c, &src).await;
    let (_, r) = job_of(&c, "deleteTemplate", &[("id", &tid)]).await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    assert!(
        files_in(&templates_dir).is_empty(),
        "{:?}",
        files_in(&templates_dir)
    );
}

/// Deploys with `offering`; the job's result.
async fn deploy_with(c: &Client, zone: &str, iso: &str, offering: &str, name: &str) -> Value {
    let (_, r) = job_of(
        c,
        "deployVirtualMachine",
        &[
            ("zoneid", zone),
            ("serviceofferingid", offering),
            ("templateid", iso),
            ("diskofferingid", DISK_5GB),
            ("hypervisor", "KVM"),
            ("name", name),
        ],
    )
    .await;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tagged_offerings_run_on_tagged_hosts_and_pools() {
    let tmp = tempfile::tempdir().unwrap();
    let (primary, fast, secondary) = (
        tmp.path().join("primary"),
        tmp.path().join("fast"),
        tmp.path().join("secondary"),
    );
    let nfs = NfsServer::up(
        "tgn",
        223,
        &tmp.path().join("nfs"),
        &[&primary, &fast, &secondary],
    );
    let plain = SimHost::up("tgh1", 221, "deploy-pw", &tmp.path().join("hosts"));
    let gpu = SimHost::up("tgh2", 222, "deploy-pw", &tmp.path().join("hosts"));
    let (ctx, listener) = ctx_listening_on(&plain.mgmt_ip).await;
    let c = Client::for_user(ctx.clone(), "admin").await;
    for (name, value) in [
        ("kvm.libvirt.uri", "test:///default"),
        ("kvm.acceleration", "qemu"),
    ] {
        c.ok("updateConfiguration", &[("name", name), ("value", value)])
            .await;
    }
    let _stop = serve_on(&ctx, listener);
    let (zone, iso) = cloud(
        &c,
        "tz",
        &[&plain],
        &nfs,
        (&primary, &secondary),
        ("192.168.221.1", "192.168.221.10", "192.168.221.20"),
    )
    .await;
    let cluster = s(&c.ok("listClusters", &[("zoneid", &zone)]).await["cluster"][0]["id"]);
    let pod = s(&c.ok("listPods", &[("zoneid", &zone)]).await["pod"][0]["id"]);
    // The second host joins with its tags (addHost's workflow records them).
    let added = c
        .ok(
            "addHost",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clusterid", &cluster),
                ("hypervisor", "KVM"),
                ("url", &format!("http://{}", gpu.address)),
                ("username", "root"),
                ("password", "deploy-pw"),
                ("hosttags", "GPU, ssd"),
            ],
        )
        .await;
    assert_eq!(added["host"][0]["hosttags"], "GPU,ssd", "{added}");
    let pool = c
        .ok(
            "createStoragePool",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clusterid", &cluster),
                ("name", "fast"),
                ("url", &nfs.url(&fast)),
                ("tags", "fast,nvme"),
            ],
        )
        .await;
    assert_eq!(pool["storagepool"]["tags"], "fast,nvme");
    let offering = |name: &'static str, hosttags: &'static str, tags: &'static str| {
        let c = c.clone_handle();
        async move {
            s(&c.ok(
                "createServiceOffering",
                &[
                    ("name", name),
                    ("displaytext", name),
                    ("cpunumber", "1"),
                    ("cpuspeed", "100"),
                    ("memory", "256"),
                    ("hosttags", hosttags),
                    ("tags", tags),
                ],
            )
            .await["serviceoffering"]["id"])
        }
    };
    let tagged = offering("tagged", "gpu", "FAST").await;
    for n in 0..2 {
        let r = deploy_with(&c, &zone, &iso, &tagged, &format!("tagged{n}")).await;
        assert_eq!(r["jobstatus"], 1, "{r}");
        let v = &r["jobresult"]["virtualmachine"];
        assert_eq!(v["hostname"], gpu.name.as_str(), "{v}");
        assert_eq!(root_volume(&c, &s(&v["id"])).await["storage"], "fast");
    }
    let untagged = offering("untagged", "", "").await;
    let r = deploy_with(&c, &zone, &iso, &untagged, "untagged").await;
    assert_eq!(r["jobstatus"], 1, "untagged offerings run anywhere: {r}");

    for (name, hosttags, tags, want) in [
        (
            "no-host",
            "gpu,sriov",
            "",
            "no available host has the host tag 'sriov'",
        ),
        (
            "no-pool",
            "",
            "gold",
            "no Up primary storage pool that an available host reaches has the storage tag 'gold'",
        ),
    ] {
        let o = offering(name, hosttags, tags).await;
        let r = deploy_with(&c, &zone, &iso, &o, name).await;
        assert_eq!(r["jobstatus"], 2, "{r}");
        assert_eq!(r["jobresult"]["errorcode"], 533, "{r}");
        let text = r["jobresult"]["errortext"].as_str().unwrap();
        assert!(text.contains(want), "{name}: {text}");
    }
    assert_eq!(c.ok("listHostTags", &[]).await["count"], 2);
    assert_eq!(c.ok("listStorageTags", &[]).await["count"], 2);

    // Suspending a project stops its running VMs (CloudStack), and refuses new ones.
    let (_, p) = job_of(
        &c,
        "createProject",
        &[("name", "suspended"), ("displaytext", "suspended")],
    )
    .await;
    let project = s(&p["jobresult"]["project"]["id"]);
    let (_, r) = job_of(
        &c,
        "deployVirtualMachine",
        &[
            ("zoneid", &zone),
            ("serviceofferingid", &untagged),
            ("templateid", &iso),
            ("diskofferingid", DISK_5GB),
            ("projectid", &project),
            ("name", "in-project"),
        ],
    )
    .await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    let in_project = s(&r["jobresult"]["virtualmachine"]["id"]);
    assert_eq!(vm(&c, &in_project).await["state"], "Running");
    let (_, r) = job_of(&c, "suspendProject", &[("id", &project)]).await;
    assert_eq!(r["jobstatus"], 1, "{r}");
    assert_eq!(r["jobresult"]["project"]["state"], "Suspended", "{r}");
    assert_eq!(vm(&c, &in_project).await["state"], "Stopped");
    let stopped = c
        .ok(
            "listEvents",
            &[("type", "VM.STOP"), ("resourceid", &in_project)],
        )
        .await;
    assert_eq!(stopped["count"], 1, "{stopped}");
}
