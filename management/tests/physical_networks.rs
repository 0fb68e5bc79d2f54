//! An Advanced zone's plumbing through the API, as Ansible's cs_physical_network /
//! cs_traffic_type and the UI's zone wizard lay it out (issue 15): physical networks with
//! their guest VLAN range, traffic types with KVM labels, service providers, supported
//! services, and network offerings.

use serde_json::Value;
use stratus_testkit::db as common;

use common::Client;

async fn advanced_zone(c: &Client, name: &str) -> String {
    let z = c
        .ok(
            "createZone",
            &[
                ("name", name),
                ("networktype", "Advanced"),
                ("dns1", "1.1.1.1"),
                ("internaldns1", "10.0.0.1"),
            ],
        )
        .await;
    z["zone"]["id"].as_str().unwrap().to_string()
}

/// Submits an async command; asserts the job succeeds; returns (receipt, job result).
async fn job(c: &Client, command: &str, params: &[(&str, &str)]) -> (Value, Value) {
    let receipt = c.ok(command, params).await;
    let jobid = receipt["jobid"].as_str().expect("a job id").to_string();
    let done = c.wait_job(&jobid).await;
    assert_eq!(done["jobstatus"], 1, "{command}: {done}");
    (receipt, done["jobresult"].clone())
}

#[tokio::test]
async fn physical_networks_traffic_types_and_providers() {
    let c = Client::admin().await;
    let _worker = c.spawn_job_worker();
    let zid = advanced_zone(&c, "adv1").await;

    // Refusals are synchronous (the create half runs before the job is queued).
    for (vlan, text) in [
        (
            "200-100",
            "start range should be lesser than or equal to stop range",
        ),
        ("100-5000", "Vnet range has to be between 0 and 4095"),
        ("x", "vnet range"),
    ] {
        let e = c
            .err(
                "createPhysicalNetwork",
                &[("zoneid", &zid), ("name", "p"), ("vlan", vlan)],
                431,
            )
            .await;
        assert!(e.contains(text), "{vlan}: {e}");
    }
    let e = c
        .err(
            "createPhysicalNetwork",
            &[("zoneid", &zid), ("name", "p"), ("isolationmethods", "GRE")],
            431,
        )
        .await;
    assert!(e.contains("VLAN or VXLAN"), "{e}");
    let e = c
        .err(
            "createPhysicalNetwork",
            &[("zoneid", &zid), ("name", "p"), ("tags", "a,b")],
            431,
        )
        .await;
    assert_eq!(
        e,
        "Only one tag can be specified for a physical network at this time"
    );
    assert!(c
        .ok("listPhysicalNetworks", &[])
        .await
        .get("physicalnetwork")
        .is_none());

    let (receipt, result) = job(
        &c,
        "createPhysicalNetwork",
        &[
            ("zoneid", &zid),
            ("name", "phys"),
            ("vlan", "150-199,100-149"),
            ("isolationmethods", "vlan"),
            ("networkspeed", "10G"),
        ],
    )
    .await;
    let pn = &result["physicalnetwork"];
    assert_eq!(receipt["id"], pn["id"], "the receipt names the new network");
    assert_eq!(pn["state"], "Disabled");
    assert_eq!(pn["vlan"], "100-199", "merged as CloudStack prints it");
    assert_eq!(pn["isolationmethods"], "VLAN");
    assert_eq!(pn["broadcastdomainrange"], "ZONE");
    assert_eq!(pn["zonename"], "adv1");
    let pid = pn["id"].as_str().unwrap().to_string();
    let l = c.ok("listPhysicalNetworks", &[("zoneid", &zid)]).await;
    assert_eq!(l["count"], 1);
    assert_eq!(l["physicalnetwork"][0], *pn);

    // Providers as CloudStack adds them; the router needs no configuring to be Enabled.
    let p = c
        .ok(
            "listNetworkServiceProviders",
            &[("physicalnetworkid", &pid)],
        )
        .await;
    assert_eq!(p["count"], 5, "{p}");
    let vr = c
        .ok(
            "listNetworkServiceProviders",
            &[("physicalnetworkid", &pid), ("name", "VirtualRouter")],
        )
        .await["networkserviceprovider"][0]
        .clone();
    assert_eq!(vr["state"], "Enabled");
    let services: Vec<&str> = vr["servicelist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(services.contains(&"SourceNat") && services.contains(&"PortForwarding"));
    let lb = c
        .ok(
            "listNetworkServiceProviders",
            &[("physicalnetworkid", &pid), ("name", "InternalLbVm")],
        )
        .await["networkserviceprovider"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = c
        .ok(
            "updateNetworkServiceProvider",
            &[("id", &lb), ("state", "Enabled")],
        )
        .await;
    let done = c.wait_job(refused["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 2, "{done}");
    assert!(done["jobresult"]["errortext"]
        .as_str()
        .unwrap()
        .contains("not available in Stratus"));

    // Traffic types, one of each per zone.
    let (_, tt) = job(
        &c,
        "addTrafficType",
        &[
            ("physicalnetworkid", &pid),
            ("traffictype", "Guest"),
            ("kvmnetworklabel", "cloudbr0"),
        ],
    )
    .await;
    assert_eq!(tt["traffictype"]["traffictype"], "Guest");
    assert_eq!(tt["traffictype"]["kvmnetworklabel"], "cloudbr0");
    job(
        &c,
        "addTrafficType",
        &[("physicalnetworkid", &pid), ("traffictype", "public")],
    )
    .await;
    let e = c
        .err(
            "addTrafficType",
            &[("physicalnetworkid", &pid), ("traffictype", "Guest")],
            431,
        )
        .await;
    assert_eq!(
        e,
        "This physical network already supports the traffic type: Guest"
    );
    let e = c
        .err(
            "addTrafficType",
            &[("physicalnetworkid", &pid), ("traffictype", "Control")],
            431,
        )
        .await;
    assert!(e.starts_with("Unable to resolve trafficType"), "{e}");
    let e = c
        .err(
            "addTrafficType",
            &[
                ("physicalnetworkid", &pid),
                ("traffictype", "Management"),
                ("kvmnetworklabel", "br0; reboot"),
            ],
            431,
        )
        .await;
    assert!(e.contains("Invalid KVM network label"), "{e}");
    let t = c
        .ok("listTrafficTypes", &[("physicalnetworkid", &pid)])
        .await;
    assert_eq!(t["count"], 2, "{t}");
    let guest_tt = t["traffictype"][0]["id"].as_str().unwrap().to_string();
    let (_, up) = job(
        &c,
        "updateTrafficType",
        &[("id", &guest_tt), ("kvmnetworklabel", "cloudbr1")],
    )
    .await;
    assert_eq!(up["traffictype"]["kvmnetworklabel"], "cloudbr1");

    // A second physical network of the zone cannot carry Guest again.
    let (_, pn2) = job(
        &c,
        "createPhysicalNetwork",
        &[("zoneid", &zid), ("name", "phys2")],
    )
    .await;
    let pid2 = pn2["physicalnetwork"]["id"].as_str().unwrap().to_string();
    let e = c
        .err(
            "addTrafficType",
            &[("physicalnetworkid", &pid2), ("traffictype", "Guest")],
            431,
        )
        .await;
    assert!(
        e.contains("Zone already has a physical network with this traffic type: Guest"),
        "{e}"
    );
    job(&c, "deletePhysicalNetwork", &[("id", &pid2)]).await;

    // Range changes replace the set; enabling is case-sensitive.
    let (_, up) = job(
        &c,
        "updatePhysicalNetwork",
        &[
            ("id", &pid),
            ("vlan", "100-120,300-310"),
            ("state", "Enabled"),
        ],
    )
    .await;
    assert_eq!(up["physicalnetwork"]["vlan"], "100-120,300-310");
    assert_eq!(up["physicalnetwork"]["state"], "Enabled");
    let bad = c
        .ok(
            "updatePhysicalNetwork",
            &[("id", &pid), ("state", "enabled")],
        )
        .await;
    let done = c.wait_job(bad["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 2);
    assert!(done["jobresult"]["errortext"]
        .as_str()
        .unwrap()
        .contains("{Enabled or Disabled}"));

    // An enabled zone takes no new physical network.
    c.ok(
        "updateZone",
        &[("id", &zid), ("allocationstate", "Enabled")],
    )
    .await;
    let e = c
        .err(
            "createPhysicalNetwork",
            &[("zoneid", &zid), ("name", "late")],
            531,
        )
        .await;
    assert!(
        e.starts_with("Cannot create PhysicalNetwork since the Zone is currently enabled"),
        "{e}"
    );

    // The services CloudStack lists, by provider or by name.
    let s = c.ok("listSupportedNetworkServices", &[]).await;
    assert_eq!(s["count"], 8, "{s}");
    let s = c
        .ok("listSupportedNetworkServices", &[("service", "SourceNat")])
        .await;
    let caps: Vec<&str> = s["networkservice"][0]["capability"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(caps, ["SupportedSourceNatTypes", "RedundantRouter"]);
    let e = c
        .err("listSupportedNetworkServices", &[("service", "Lb")], 431)
        .await;
    assert_eq!(e, "Invalid Network Service=Lb");
    let s = c
        .ok(
            "listSupportedNetworkServices",
            &[("provider", "SecurityGroupProvider")],
        )
        .await;
    assert_eq!(s["count"], 1);

    // Users see none of it.
    let alice = c.user("alice").await;
    alice.err("listPhysicalNetworks", &[], 432).await;
}

#[tokio::test]
async fn network_offerings_are_rows_with_cloudstacks_rules() {
    let c = Client::admin().await;
    let l = c.ok("listNetworkOfferings", &[]).await;
    assert_eq!(l["count"], 2, "{l}");
    let iso = c
        .ok("listNetworkOfferings", &[("guestiptype", "isolated")])
        .await["networkoffering"][0]
        .clone();
    assert_eq!(
        iso["name"],
        "DefaultIsolatedNetworkOfferingWithSourceNatService"
    );
    assert_eq!(iso["availability"], "Required");
    assert_eq!(
        iso["egressdefaultpolicy"], false,
        "egress denied by default"
    );
    assert!(
        iso["serviceofferingid"].is_string(),
        "libcloud indexes it: {iso}"
    );
    let snat = iso["service"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "SourceNat")
        .unwrap();
    assert_eq!(snat["provider"][0]["name"], "VirtualRouter");
    assert_eq!(snat["capability"][0]["value"], "peraccount");
    for (f, n) in [
        (vec![("sourcenatsupported", "true")], 1),
        (vec![("supportedservices", "PortForwarding,dhcp")], 1),
        (vec![("supportedservices", "Lb")], 0),
        (vec![("availability", "required")], 1),
        (vec![("keyword", "Isolated")], 1),
        (vec![("state", "Enabled")], 2),
    ] {
        let o = c.ok("listNetworkOfferings", &f).await;
        assert_eq!(o["count"].as_i64().unwrap_or(0), n, "{f:?}: {o}");
    }

    // Creating: CloudStack's consistency rules, then Disabled unless enable=true.
    for (extra, text) in [
        (
            vec![("traffictype", "Public")],
            "Only traffic type Guest is supported in the current release",
        ),
        (
            vec![("traffictype", "Bogus")],
            "Invalid value for traffictype",
        ),
        (
            vec![("guestiptype", "L2")],
            "can have Shared and Isolated values",
        ),
        (vec![("supportedservices", "Dhcp,Lb")], "Invalid service Lb"),
        (
            vec![("availability", "Required")],
            "System already has network offering id=",
        ),
        (
            vec![("supportedservices", "Dhcp,PortForwarding")],
            "needs the SourceNat service",
        ),
        (
            vec![("availability", "sometimes")],
            "Invalid value for Availability",
        ),
    ] {
        let mut p = vec![
            ("name", "custom"),
            ("displaytext", "Custom"),
            ("traffictype", "Guest"),
            ("guestiptype", "Isolated"),
            (
                "supportedservices",
                "Dhcp,Dns,SourceNat,Firewall,PortForwarding,StaticNat",
            ),
        ];
        for (k, v) in extra {
            p.retain(|(n, _)| *n != k);
            p.push((k, v));
        }
        let e = c.err("createNetworkOffering", &p, 431).await;
        assert!(e.contains(text), "{p:?}: {e}");
    }
    let o = c
        .ok(
            "createNetworkOffering",
            &[
                ("name", "open"),
                ("displaytext", "Egress open"),
                ("traffictype", "GUEST"),
                ("guestiptype", "Isolated"),
                (
                    "supportedservices",
                    "Dhcp,Dns,SourceNat,Firewall,PortForwarding,StaticNat,UserData",
                ),
                ("serviceproviderlist[0].service", "SourceNat"),
                ("serviceproviderlist[0].provider", "VirtualRouter"),
                ("egressdefaultpolicy", "true"),
            ],
        )
        .await["networkoffering"]
        .clone();
    assert_eq!(o["state"], "Disabled");
    assert_eq!(o["availability"], "Optional");
    assert_eq!(o["egressdefaultpolicy"], true);
    assert_eq!(o["service"].as_array().unwrap().len(), 7);
    let oid = o["id"].as_str().unwrap().to_string();

    // Updating (Ansible sends the state title-cased; any case works).
    let u = c
        .ok(
            "updateNetworkOffering",
            &[
                ("id", &oid),
                ("state", "enabled"),
                ("displaytext", "Open egress"),
            ],
        )
        .await["networkoffering"]
        .clone();
    assert_eq!(u["state"], "Enabled");
    assert_eq!(u["displaytext"], "Open egress");
    let e = c
        .err(
            "updateNetworkOffering",
            &[("id", &oid), ("availability", "Required")],
            431,
        )
        .await;
    assert!(e.contains("with availability Required"), "{e}");
    let e = c
        .err(
            "updateNetworkOffering",
            &[("id", &oid), ("state", "Gone")],
            431,
        )
        .await;
    assert_eq!(e, "Incorrect state value: Gone");

    // Deleting: never a default one; a custom one goes.
    let e = c
        .err(
            "deleteNetworkOffering",
            &[("id", iso["id"].as_str().unwrap())],
            431,
        )
        .await;
    assert_eq!(e, "Default network offering can't be deleted");
    c.ok("deleteNetworkOffering", &[("id", &oid)]).await;
    let e = c.err("deleteNetworkOffering", &[("id", &oid)], 431).await;
    assert!(e.starts_with("unable to find network offering"), "{e}");
    assert_eq!(c.ok("listNetworkOfferings", &[]).await["count"], 2);

    // Users list them, cannot change them.
    let alice = c.user("alice").await;
    assert_eq!(alice.ok("listNetworkOfferings", &[]).await["count"], 2);
    alice
        .err(
            "createNetworkOffering",
            &[
                ("name", "x"),
                ("displaytext", "x"),
                ("traffictype", "Guest"),
                ("guestiptype", "Isolated"),
            ],
            432,
        )
        .await;
}

/// An Advanced zone ready for isolated networks: a physical network carrying Guest
/// traffic on `cloudbr0`, VXLAN ids 5000-5099, enabled; the zone enabled.
async fn guest_ready_zone(c: &Client, name: &str) -> String {
    let zid = advanced_zone(c, name).await;
    let (_, pn) = job(
        c,
        "createPhysicalNetwork",
        &[
            ("zoneid", &zid),
            ("name", "phys"),
            ("vlan", "5000-5099"),
            ("isolationmethods", "VXLAN"),
        ],
    )
    .await;
    let pid = pn["physicalnetwork"]["id"].as_str().unwrap().to_string();
    job(
        c,
        "addTrafficType",
        &[
            ("physicalnetworkid", &pid),
            ("traffictype", "Guest"),
            ("kvmnetworklabel", "cloudbr0"),
        ],
    )
    .await;
    job(
        c,
        "updatePhysicalNetwork",
        &[("id", &pid), ("state", "Enabled")],
    )
    .await;
    c.ok(
        "updateZone",
        &[("id", &zid), ("allocationstate", "Enabled")],
    )
    .await;
    zid
}

const ISOLATED: &str = "5c0e6e1d-5a4e-4d0a-9b1e-000000000002";
const SHARED: &str = "5c0e6e1d-5a4e-4d0a-9b1e-000000000001";

#[tokio::test]
async fn isolated_networks_are_their_owners() {
    let c = Client::admin().await;
    let _worker = c.spawn_job_worker();
    let zid = guest_ready_zone(&c, "adv-iso").await;
    let alice = c.user("alice").await;
    let bob = c.user("bob").await;

    let net = alice
        .ok(
            "createNetwork",
            &[
                ("name", "web"),
                ("displaytext", "Web tier"),
                ("networkofferingid", ISOLATED),
                ("zoneid", &zid),
            ],
        )
        .await["network"]
        .clone();
    assert_eq!(net["state"], "Allocated", "{net}");
    assert_eq!(net["type"], "Isolated");
    assert_eq!(net["cidr"], "10.1.1.0/24", "the zone's guest CIDR");
    assert_eq!(net["gateway"], "10.1.1.1");
    assert_eq!(net["netmask"], "255.255.255.0");
    assert_eq!(net["account"], "alice");
    assert_eq!(net["acltype"], "Account");
    assert_eq!(net["broadcastdomaintype"], "Vxlan");
    assert!(
        net.get("broadcasturi").is_none(),
        "no VNI before it is implemented: {net}"
    );
    assert!(net.get("vpcid").is_none() && net.get("aclid").is_none());
    assert_eq!(net["egressdefaultpolicy"], false);
    assert!(net["networkdomain"]
        .as_str()
        .unwrap()
        .ends_with("cloud.internal"));
    let nid = net["id"].as_str().unwrap().to_string();

    // Owners see their own; the Basic-style shared networks are nobody's.
    assert_eq!(alice.ok("listNetworks", &[]).await["count"], 1);
    assert!(bob.ok("listNetworks", &[]).await.get("network").is_none());
    assert_eq!(
        c.ok("listNetworks", &[("listall", "true"), ("type", "isolated")])
            .await["count"],
        1
    );
    assert_eq!(
        alice
            .ok("listNetworks", &[("canusefordeploy", "true")])
            .await["count"],
        1,
        "deployable: the first deploy implements it"
    );
    assert_eq!(
        alice
            .ok("listNetworks", &[("canusefordeploy", "false")])
            .await
            .get("count"),
        None
    );
    let r = bob
        .ok("updateNetwork", &[("id", &nid), ("name", "mine")])
        .await;
    let done = bob.wait_job(r["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 2, "{done}");
    assert!(done["jobresult"]["errortext"]
        .as_str()
        .unwrap()
        .contains("doesn't exist"));

    // Their own subnet, and the checks on it.
    let own = alice
        .ok(
            "createNetwork",
            &[
                ("name", "db"),
                ("networkofferingid", ISOLATED),
                ("zoneid", &zid),
                ("gateway", "192.168.50.1"),
                ("netmask", "255.255.255.0"),
                ("networkdomain", "db.example"),
            ],
        )
        .await["network"]
        .clone();
    assert_eq!(own["cidr"], "192.168.50.0/24");
    assert_eq!(
        own["displaytext"], "db",
        "display text defaults to the name"
    );
    assert_eq!(own["networkdomain"], "db.example");
    for (extra, text) in [
        (
            vec![("gateway", "8.8.8.1"), ("netmask", "255.255.255.0")],
            "is not RFC 1918 or 6598 compliant",
        ),
        (vec![("gateway", "10.9.0.1")], "must be specified together"),
        (
            vec![("gateway", "10.9.0.0"), ("netmask", "255.255.255.0")],
            "Either the IP is broadcast or network IP",
        ),
        (
            vec![("gateway", "10.9.0.1"), ("netmask", "255.0.0.0")],
            "Cidr size can't be less than 22",
        ),
        (vec![("networkdomain", "-bad-")], "Invalid network domain"),
        (
            vec![("acltype", "Domain")],
            "AclType should be Account for network of type Isolated",
        ),
    ] {
        let mut p = vec![
            ("name", "x"),
            ("networkofferingid", ISOLATED),
            ("zoneid", zid.as_str()),
        ];
        p.extend(extra);
        let e = alice.err("createNetwork", &p, 431).await;
        assert!(e.contains(text), "{p:?}: {e}");
    }
    let e = alice
        .err(
            "createNetwork",
            &[
                ("name", "x"),
                ("networkofferingid", SHARED),
                ("zoneid", &zid),
            ],
            431,
        )
        .await;
    assert_eq!(
        e,
        "Only Admins can create network with guest type Shared or L2"
    );

    // updateNetwork (a job), restart refused before it is implemented, delete.
    let (_, up) = job(
        &alice,
        "updateNetwork",
        &[("id", &nid), ("name", "web2"), ("displaytext", "Web")],
    )
    .await;
    assert_eq!(up["network"]["name"], "web2");
    let r = alice.ok("restartNetwork", &[("id", &nid)]).await;
    let done = alice.wait_job(r["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 2);
    assert_eq!(
        done["jobresult"]["errortext"],
        "Network is not in the right state to be restarted. Correct states are: Implemented, Setup"
    );
    // A deploy with an offering that does not exist is refused before anything.
    let e = alice
        .call(
            "deployVirtualMachine",
            &[
                ("zoneid", &zid),
                ("serviceofferingid", &uuid::Uuid::new_v4().to_string()),
                ("templateid", &uuid::Uuid::new_v4().to_string()),
            ],
        )
        .await;
    assert_ne!(e.status, 200, "{}", e.text);
    job(&alice, "deleteNetwork", &[("id", &nid)]).await;
    assert_eq!(alice.ok("listNetworks", &[]).await["count"], 1);

    // The account's network limit counts isolated networks.
    c.ok(
        "updateResourceLimit",
        &[("account", "alice"), ("resourcetype", "6"), ("max", "1")],
    )
    .await;
    let e = alice
        .err(
            "createNetwork",
            &[
                ("name", "third"),
                ("networkofferingid", ISOLATED),
                ("zoneid", &zid),
            ],
            535,
        )
        .await;
    assert!(e.contains("network"), "{e}");
}

/// Guest ids are never handed out twice: 12 networks take from a pool of 10 at once;
/// exactly 10 get one, all different; taking again is the same id; a deleted network's id
/// goes back to the pool.
#[tokio::test]
async fn concurrent_implements_never_share_a_guest_id() {
    use stratus_management::db::physical_networks as pn;
    use stratus_management::ids::{NetworkId, PhysicalNetworkId};
    let c = Client::admin().await;
    let _worker = c.spawn_job_worker();
    let zid = guest_ready_zone(&c, "adv-pool").await;
    let pid = c.ok("listPhysicalNetworks", &[("zoneid", &zid)]).await["physicalnetwork"][0]["id"]
        .as_str()
        .unwrap()
        .parse::<uuid::Uuid>()
        .unwrap();
    let pid = PhysicalNetworkId::from_uuid(pid);
    job(
        &c,
        "updatePhysicalNetwork",
        &[("id", &pid.to_string()), ("vlan", "7000-7009")],
    )
    .await;
    let mut nets = Vec::new();
    for i in 0..12 {
        let n = c
            .ok(
                "createNetwork",
                &[
                    ("name", &format!("n{i}")),
                    ("networkofferingid", ISOLATED),
                    ("zoneid", &zid),
                ],
            )
            .await;
        let id: uuid::Uuid = n["network"]["id"].as_str().unwrap().parse().unwrap();
        nets.push(NetworkId::from_uuid(id));
    }
    let mut tasks = Vec::new();
    for n in nets.clone() {
        let pool = c.ctx.pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let got = pn::vnet_take(&mut tx, pid, n).await.unwrap();
            tx.commit().await.unwrap();
            (n, got)
        }));
    }
    let mut taken = std::collections::BTreeMap::new();
    for t in tasks {
        let (n, got) = t.await.unwrap();
        if let Some(v) = got {
            taken.insert(n, v);
        }
    }
    assert_eq!(taken.len(), 10, "{taken:?}");
    let distinct: std::collections::BTreeSet<i32> = taken.values().copied().collect();
    assert_eq!(distinct.len(), 10, "no id twice: {taken:?}");
    assert!(distinct.iter().all(|v| (7000..=7009).contains(v)));
    let (first, v) = taken.iter().next().map(|(n, v)| (*n, *v)).unwrap();
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    assert_eq!(
        pn::vnet_take(&mut conn, pid, first).await.unwrap(),
        Some(v),
        "taking twice is taking once"
    );
    // The network's root admin view names it; shrinking the range past it is refused.
    let shown = c.ok("listNetworks", &[("id", &first.to_string())]).await["network"][0].clone();
    assert_eq!(shown["broadcasturi"], format!("vxlan://{v}"));
    let r = c
        .ok(
            "updatePhysicalNetwork",
            &[("id", &pid.to_string()), ("vlan", "8000-8001")],
        )
        .await;
    let done = c.wait_job(r["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 2);
    assert!(done["jobresult"]["errortext"]
        .as_str()
        .unwrap()
        .contains("has allocated vnets in the range"));
    // Deleting the network gives its id back: a network left without one now gets it.
    job(&c, "deleteNetwork", &[("id", &first.to_string())]).await;
    let waiting = nets
        .iter()
        .find(|n| !taken.contains_key(n))
        .copied()
        .unwrap();
    assert_eq!(
        pn::vnet_take(&mut conn, pid, waiting).await.unwrap(),
        Some(v)
    );
}
