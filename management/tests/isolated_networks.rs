//! Isolated networks in an Advanced zone against real parts (issue 15): two simulated
//! hosts (their own sshd, libvirtd with libvirt's test driver, and the agent added by
//! addHost) on the test bed, VXLAN over their `eth0`, nfs-ganesha for storage.
//!
//! - An account's first deploy makes its default network `<account>-network` from the
//!   Required offering and implements it: a VXLAN id from the physical network's range,
//!   a router (a namespace `stratus-r-…` on the VM's host) with the gateway address and
//!   the VM's static DHCP lease, the segment `brvx-<vni>` on the host, the VM's NIC on it.
//! - A second VM, named into the network on the other host, joins the same segment:
//!   both hosts list each other as VXLAN peers, the router serves both leases.
//! - listRouters answers the router; stopRouter takes the namespace away, startRouter
//!   brings it back; restartNetwork with cleanup makes it again; destroyRouter removes
//!   it and the next restartNetwork makes a new one.
//! - deleteNetwork is refused while VMs have NICs there; once they are expunged it
//!   takes the router off its host and gives the VXLAN id back.
//! - A host lost with a router on it (Down): housekeeping's router-failover pass makes
//!   the router again on the other host, same id, address and MAC.

use stratus_testkit::db as common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Client;
use serde_json::Value;
use stratus_management::{ctx::Ctx, front::jobs, services::hosts, services::isos};
use stratus_tests::{HttpFiles, NfsServer, Served, SimHost};
use tokio::sync::watch;

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";
const PASSWORD: &str = "isolated-pw";

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

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

/// Runs an async command to its end; asserts it succeeded; answers its result.
async fn job(c: &Client, command: &str, params: &[(&str, &str)]) -> Value {
    let r = c.ok(command, params).await;
    let done = wait_job(c, &s(&r["jobid"]), 180).await;
    assert_eq!(done["jobstatus"], 1, "{command}: {done}");
    done["jobresult"].clone()
}

/// An Advanced zone with a VXLAN physical network (Guest and Public on `eth0`), a pod,
/// a cluster, the hosts, primary and secondary storage and a Ready ipxe.iso.
async fn advanced_cloud(
    c: &Client,
    hosts: &[&SimHost],
    nfs: &NfsServer,
    exports: (&Path, &Path),
) -> (String, String) {
    let zone = s(&c
        .ok(
            "createZone",
            &[
                ("name", "iz"),
                ("networktype", "Advanced"),
                ("dns1", "192.0.2.53"),
                ("internaldns1", "10.231.0.1"),
                ("guestcidraddress", "10.1.1.0/24"),
            ],
        )
        .await["zone"]["id"]);
    let pn = job(
        c,
        "createPhysicalNetwork",
        &[
            ("zoneid", &zone),
            ("name", "phys"),
            ("vlan", "5000-5009"),
            ("isolationmethods", "VXLAN"),
        ],
    )
    .await;
    let pid = s(&pn["physicalnetwork"]["id"]);
    for (t, label) in [
        ("Guest", "eth0"),
        ("Public", "pubbr0"),
        ("Management", "eth0"),
    ] {
        job(
            c,
            "addTrafficType",
            &[
                ("physicalnetworkid", &pid),
                ("traffictype", t),
                ("kvmnetworklabel", label),
            ],
        )
        .await;
    }
    // The public network: a bridge on every host (where the routers' public legs go).
    for h in hosts {
        for cmd in [
            &["ip", "link", "add", "pubbr0", "type", "bridge"][..],
            &["ip", "link", "set", "pubbr0", "up"][..],
        ] {
            let out = h.exec(cmd);
            assert!(out.status.success(), "{cmd:?}: {out:?}");
        }
    }
    job(
        c,
        "updatePhysicalNetwork",
        &[("id", &pid), ("state", "Enabled")],
    )
    .await;
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
                ("password", PASSWORD),
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
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zone),
            ("forvirtualnetwork", "true"),
            ("gateway", "198.51.100.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "198.51.100.10"),
            ("endip", "198.51.100.20"),
        ],
    )
    .await;
    c.ok(
        "updateZone",
        &[("id", &zone), ("allocationstate", "Enabled")],
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
                ("ispublic", "true"),
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

/// Deploys `name` (from the ISO) and waits for it; answers the job's end.
async fn deploy(c: &Client, zone: &str, iso: &str, name: &str, extra: &[(&str, &str)]) -> Value {
    let mut p = vec![
        ("zoneid", zone),
        ("serviceofferingid", SMALL),
        ("templateid", iso),
        ("diskofferingid", DISK_5GB),
        ("hypervisor", "KVM"),
        ("name", name),
    ];
    p.extend_from_slice(extra);
    let r = c.ok("deployVirtualMachine", &p).await;
    wait_job(c, &s(&r["jobid"]), 180).await
}

/// What `ip` prints inside the host (its network namespace; a router's with `ns`).
fn ip_in(host: &SimHost, ns: Option<&str>, args: &[&str]) -> String {
    let mut a: Vec<&str> = vec![];
    if let Some(ns) = ns {
        a.extend(["ip", "netns", "exec", ns]);
    }
    a.push("ip");
    a.extend(args);
    let out = host.exec(&a);
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn namespaces(host: &SimHost) -> String {
    ip_in(host, None, &["netns", "list"])
}

#[test]
fn an_accounts_first_deploy_implements_its_network_and_router() {
    // The in-process client runs commands on the calling thread, and a deploy's step
    // runs the network's implement (a workflow inside a workflow): in a debug build
    // their futures outgrow a test thread's 2 MiB stack. Threads with room, then.
    const STACK: usize = 32 << 20;
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .thread_stack_size(STACK)
                .enable_all()
                .build()
                .unwrap()
                .block_on(scenario())
        })
        .unwrap()
        .join()
        .unwrap()
}

async fn scenario() {
    // The server's warnings and errors in the test's output (a failed job says why there).
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_test_writer()
        .try_init();
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up("inn", 228, &tmp.path().join("nfs"), &[&primary, &secondary]);
    let h1 = SimHost::up("inh1", 226, PASSWORD, &tmp.path().join("hosts"));
    let h2 = SimHost::up("inh2", 227, PASSWORD, &tmp.path().join("hosts"));
    let mut ctx = common::fresh_ctx().await;
    let listener = tokio::net::TcpListener::bind(format!("{}:0", h1.mgmt_ip))
        .await
        .unwrap();
    ctx.listen = Some(listener.local_addr().unwrap());
    let c = Client::for_user(ctx.clone(), "admin").await;
    for (name, value) in [
        ("kvm.libvirt.uri", "test:///default"),
        ("kvm.acceleration", "qemu"),
        // A lost host is noticed within seconds (the failover below).
        ("ping.interval", "1"),
        ("ping.timeout", "2"),
    ] {
        c.ok("updateConfiguration", &[("name", name), ("value", value)])
            .await;
    }
    let _stop = serve_on(&ctx, listener);
    let (zone, iso) = advanced_cloud(&c, &[&h1, &h2], &nfs, (&primary, &secondary)).await;
    let (h1_id, h2_id) = {
        let l = c
            .ok("listHosts", &[("zoneid", &zone), ("type", "Routing")])
            .await;
        let id_of = |addr: &str| {
            l["host"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["ipaddress"] == addr)
                .map(|h| s(&h["id"]))
                .unwrap()
        };
        (id_of(&h1.address), id_of(&h2.address))
    };

    // The admin's first deploy: its default network, implemented on the VM's host.
    let done = deploy(&c, &zone, &iso, "web1", &[("hostid", &h1_id)]).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    let vm1 = done["jobresult"]["virtualmachine"].clone();
    let nets = c.ok("listNetworks", &[("zoneid", &zone)]).await;
    assert_eq!(nets["count"], 1, "{nets}");
    let net = nets["network"][0].clone();
    let nid = s(&net["id"]);
    assert_eq!(net["name"], "admin-network");
    assert_eq!(net["type"], "Isolated");
    assert_eq!(net["state"], "Implemented", "{net}");
    assert_eq!(net["canusefordeploy"], true);
    let uri = s(&net["broadcasturi"]);
    let vni: u32 = uri.strip_prefix("vxlan://").unwrap().parse().unwrap();
    assert!((5000..=5009).contains(&vni), "{uri}");
    let nic = vm1["nic"][0].clone();
    assert_eq!(nic["networkid"], nid.as_str());
    assert_eq!(nic["gateway"], "10.1.1.1", "{nic}");
    let ip1 = s(&nic["ipaddress"]);
    assert!(ip1.starts_with("10.1.1.") && ip1 != "10.1.1.1", "{ip1}");

    // Its router: listed, Running on host 1, a namespace with the gateway address.
    let routers = c.ok("listRouters", &[("networkid", &nid)]).await;
    assert_eq!(routers["count"], 1, "{routers}");
    let router = routers["router"][0].clone();
    assert_eq!(router["state"], "Running", "{router}");
    assert_eq!(router["hostid"], h1_id.as_str());
    assert_eq!(router["guestipaddress"], "10.1.1.1");
    assert_eq!(router["role"], "VIRTUAL_ROUTER");
    let rid = s(&router["id"]);
    let ns = format!("stratus-{}", s(&router["name"]));
    assert!(namespaces(&h1).contains(&ns), "{}", namespaces(&h1));
    assert!(
        ip_in(&h1, Some(&ns), &["-4", "addr"]).contains("10.1.1.1/24"),
        "{}",
        ip_in(&h1, Some(&ns), &["-4", "addr"])
    );
    // Its source NAT address, on the router's public leg, and the NAT rule using it.
    let ips = c
        .ok("listPublicIpAddresses", &[("associatednetworkid", &nid)])
        .await;
    assert_eq!(ips["count"], 1, "{ips}");
    assert_eq!(ips["publicipaddress"][0]["issourcenat"], true);
    let snat = s(&ips["publicipaddress"][0]["ipaddress"]);
    assert_eq!(snat, "198.51.100.10");
    // The router answers its public leg as CloudStack's does.
    let r = c.ok("listRouters", &[("networkid", &nid)]).await["router"][0].clone();
    assert_eq!(r["publicip"], snat.as_str(), "{r}");
    assert_eq!(r["gateway"], "198.51.100.1", "{r}");
    assert_eq!(r["publicnetmask"], "255.255.255.0", "{r}");
    assert!(
        ip_in(&h1, Some(&ns), &["-4", "addr"]).contains(&format!("{snat}/24")),
        "{}",
        ip_in(&h1, Some(&ns), &["-4", "addr"])
    );
    let nft = |h: &SimHost, ns: &str| {
        let out = h.exec(&["ip", "netns", "exec", ns, "nft", "list", "ruleset"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(
        nft(&h1, &ns).contains(&format!("snat ip to {snat}")),
        "{}",
        nft(&h1, &ns)
    );
    // A second address, a port forward to the VM's SSH and its firewall rule: the
    // router's nftables has both; deleting the rule takes them away.
    let ip2 = job(&c, "associateIpAddress", &[("networkid", &nid)]).await;
    let ip2_id = s(&ip2["ipaddress"]["id"]);
    let ip2_addr = s(&ip2["ipaddress"]["ipaddress"]);
    assert_eq!(ip2_addr, "198.51.100.11");
    let pf = job(
        &c,
        "createPortForwardingRule",
        &[
            ("ipaddressid", &ip2_id),
            ("protocol", "tcp"),
            ("publicport", "2222"),
            ("privateport", "22"),
            ("virtualmachineid", &s(&vm1["id"])),
        ],
    )
    .await;
    let pf_id = s(&pf["portforwardingrule"]["id"]);
    let rules = nft(&h1, &ns);
    assert!(
        rules.contains(&format!("{ip1}:22")) || rules.contains(&ip1),
        "{rules}"
    );
    assert!(rules.contains("2222"), "{rules}");
    job(&c, "deletePortForwardingRule", &[("id", &pf_id)]).await;
    assert!(!nft(&h1, &ns).contains("2222"), "{}", nft(&h1, &ns));
    job(&c, "disassociateIpAddress", &[("id", &ip2_id)]).await;
    assert!(!ip_in(&h1, Some(&ns), &["-4", "addr"]).contains(&ip2_addr));

    // The host's segment, and the VM's NIC on it.
    assert!(
        ip_in(&h1, None, &["-d", "link", "show", &format!("vxlan{vni}")]).contains("vxlan id"),
        "{}",
        ip_in(&h1, None, &["-d", "link", "show", &format!("vxlan{vni}")])
    );
    // (libvirt's test driver keeps its domains inside the agent: virsh cannot show
    // them; the NIC's network names the segment.)
    assert_eq!(nic["broadcasturi"], uri.as_str(), "{nic}");
    assert_eq!(nic["type"], "Isolated");
    // The router serves the VM's static lease (its dnsmasq's hosts file, kept by the
    // agent under the host's /var/lib/stratus-agent).
    let hosts_file = |h: &SimHost, name: &str| {
        std::fs::read_to_string(h.state.join("agent/routers").join(name).join("hosts"))
            .unwrap_or_default()
    };
    let rname = s(&router["name"]);
    let mac1 = s(&nic["macaddress"]);
    assert!(
        hosts_file(&h1, &rname).contains(&ip1) && hosts_file(&h1, &rname).contains(&mac1),
        "the router's hosts file names the VM: {}",
        hosts_file(&h1, &rname)
    );

    // A second VM, named into the network, on the other host: the same segment, peers.
    let done = deploy(
        &c,
        &zone,
        &iso,
        "web2",
        &[("networkids", &nid), ("hostid", &h2_id)],
    )
    .await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    let vm2 = done["jobresult"]["virtualmachine"].clone();
    assert_eq!(vm2["nic"][0]["networkid"], nid.as_str());
    assert_ne!(vm2["nic"][0]["ipaddress"], ip1.as_str());
    let fdb2 = ip_in(&h2, None, &["-d", "link", "show", &format!("vxlan{vni}")]);
    assert!(fdb2.contains("vxlan id"), "{fdb2}");
    let flood = |h: &SimHost| {
        let out = h.exec(&["bridge", "fdb", "show", "dev", &format!("vxlan{vni}")]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(
        flood(&h1).contains(&format!("dst {}", h2.address)),
        "{}",
        flood(&h1)
    );
    assert!(
        flood(&h2).contains(&format!("dst {}", h1.address)),
        "{}",
        flood(&h2)
    );
    assert_eq!(c.ok("listNetworks", &[("zoneid", &zone)]).await["count"], 1);
    let ip2 = s(&vm2["nic"][0]["ipaddress"]);
    assert!(
        hosts_file(&h1, &rname).contains(&ip2),
        "{}",
        hosts_file(&h1, &rname)
    );

    // stopRouter / startRouter.
    let r = job(&c, "stopRouter", &[("id", &rid)]).await;
    assert_eq!(r["router"]["state"], "Stopped", "{r}");
    assert!(!namespaces(&h1).contains(&ns), "{}", namespaces(&h1));
    let r = job(&c, "startRouter", &[("id", &rid)]).await;
    assert_eq!(r["router"]["state"], "Running", "{r}");
    assert!(namespaces(&h1).contains(&ns));

    // restartNetwork with cleanup makes it again, in place.
    job(&c, "restartNetwork", &[("id", &nid), ("cleanup", "true")]).await;
    assert!(namespaces(&h1).contains(&ns));
    assert!(ip_in(&h1, Some(&ns), &["-4", "addr"]).contains("10.1.1.1/24"));

    // destroyRouter removes it; restartNetwork makes a new one.
    let r = job(&c, "destroyRouter", &[("id", &rid)]).await;
    assert_eq!(r["router"]["state"], "Destroyed");
    assert!(!namespaces(&h1).contains(&ns));
    assert_eq!(c.ok("listRouters", &[]).await.get("count"), None);
    job(&c, "restartNetwork", &[("id", &nid)]).await;
    let routers = c.ok("listRouters", &[("networkid", &nid)]).await;
    assert_eq!(routers["count"], 1, "{routers}");
    assert_eq!(routers["router"][0]["state"], "Running");
    let ns2 = format!("stratus-{}", s(&routers["router"][0]["name"]));
    let all = format!("{}{}", namespaces(&h1), namespaces(&h2));
    assert!(all.contains(&ns2), "{all}");

    // deleteNetwork: refused while VMs have NICs there; then the router and id go.
    let r = c.ok("deleteNetwork", &[("id", &nid)]).await;
    let d = wait_job(&c, &s(&r["jobid"]), 60).await;
    assert_eq!(d["jobstatus"], 2, "{d}");
    for v in [&vm1, &vm2] {
        job(
            &c,
            "destroyVirtualMachine",
            &[("id", &s(&v["id"])), ("expunge", "true")],
        )
        .await;
    }
    job(&c, "deleteNetwork", &[("id", &nid)]).await;
    let all = format!("{}{}", namespaces(&h1), namespaces(&h2));
    assert!(!all.contains(&ns2), "{all}");
    assert_eq!(c.ok("listRouters", &[]).await.get("count"), None);
    assert_eq!(
        c.ok("listNetworks", &[("zoneid", &zone)])
            .await
            .get("count"),
        None
    );
    // Failover: a network whose router is on host 1; host 1 is lost (its namespace and
    // everything in it gone: Down); the router-failover pass makes the router again on
    // host 2 with the same guest address and MAC.
    let offering = s(&c
        .ok(
            "listNetworkOfferings",
            &[("name", "DefaultIsolatedNetworkOfferingWithSourceNatService")],
        )
        .await["networkoffering"][0]["id"]);
    let n2 = s(&c
        .ok(
            "createNetwork",
            &[
                ("zoneid", &zone),
                ("name", "n2"),
                ("displaytext", "n2"),
                ("networkofferingid", &offering),
            ],
        )
        .await["network"]["id"]);
    let done = deploy(
        &c,
        &zone,
        &iso,
        "web3",
        &[("networkids", &n2), ("hostid", &h1_id)],
    )
    .await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    let before = c.ok("listRouters", &[("networkid", &n2)]).await["router"][0].clone();
    assert_eq!(before["hostid"], h1_id.as_str(), "{before}");
    drop(h1);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = c.ok("listHosts", &[("id", &h1_id)]).await;
        if h["host"][0]["state"] == "Down" {
            break;
        }
        assert!(Instant::now() < deadline, "host 1 never Down: {h}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let moved = stratus_management::services::networks::fail_over(&ctx)
        .await
        .unwrap();
    assert_eq!(moved, 1);
    let after = c.ok("listRouters", &[("networkid", &n2)]).await["router"][0].clone();
    assert_eq!(after["hostid"], h2_id.as_str(), "{after}");
    assert_eq!(after["state"], "Running");
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["guestmacaddress"], before["guestmacaddress"]);
    let ns3 = format!("stratus-{}", s(&after["name"]));
    assert!(namespaces(&h2).contains(&ns3), "{}", namespaces(&h2));
    assert!(ip_in(&h2, Some(&ns3), &["-4", "addr"]).contains(&s(&before["guestipaddress"])));
    // A second pass has nothing to move.
    assert_eq!(
        stratus_management::services::networks::fail_over(&ctx)
            .await
            .unwrap(),
        0
    );

    // Three first deploys of a new account at once make one default network, not three:
    // the check and the insert are serialised per account and zone.
    c.ok(
        "createAccount",
        &[
            ("accounttype", "0"),
            ("email", "carol@example.org"),
            ("firstname", "Ca"),
            ("lastname", "Rol"),
            ("password", "carol-pw-1"),
            ("username", "carol"),
        ],
    )
    .await;
    let carol = Client::for_user(ctx.clone(), "carol").await;
    let (d1, d2, d3) = tokio::join!(
        deploy(&carol, &zone, &iso, "c1", &[]),
        deploy(&carol, &zone, &iso, "c2", &[]),
        deploy(&carol, &zone, &iso, "c3", &[]),
    );
    let nets = carol.ok("listNetworks", &[("zoneid", &zone)]).await;
    assert_eq!(nets["count"], 1, "{nets}");
    assert_eq!(nets["network"][0]["name"], "carol-network");
    for d in [&d1, &d2, &d3] {
        assert_eq!(d["jobstatus"], 1, "{d}");
        assert_eq!(
            d["jobresult"]["virtualmachine"]["nic"][0]["networkid"], nets["network"][0]["id"],
            "{d}"
        );
    }
}
