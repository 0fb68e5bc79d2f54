//! Public IP addresses of Advanced zones and their rules (issue 15), through the API as
//! Ansible's cs_ip_address / cs_portforward / cs_firewall / cs_staticnat drive them: public
//! ranges, associate/list/disassociate, concurrency on the address pool, source NAT,
//! static NAT, port forwarding with its firewall rule, conflicts, egress rules, what the
//! router is told (`services::public_ips::router_rules`), ownership and hostile input.

use serde_json::Value;
use stratus_management::db::public_ips as pdb;
use stratus_management::ids::{NetworkId, PublicIpId};
use stratus_testkit::db as common;

use common::Client;

const ISOLATED: &str = "5c0e6e1d-5a4e-4d0a-9b1e-000000000002";

/// Submits an async command; asserts the job succeeds; returns (receipt, job result).
async fn job(c: &Client, command: &str, params: &[(&str, &str)]) -> (Value, Value) {
    let receipt = c.ok(command, params).await;
    let jobid = receipt["jobid"].as_str().expect("a job id").to_string();
    let done = c.wait_job(&jobid).await;
    assert_eq!(done["jobstatus"], 1, "{command}: {done}");
    (receipt, done["jobresult"].clone())
}

/// Submits an async command whose job fails; returns its error text.
async fn job_fails(c: &Client, command: &str, params: &[(&str, &str)]) -> String {
    let receipt = c.ok(command, params).await;
    let done = c.wait_job(receipt["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 2, "{command}: {done}");
    done["jobresult"]["errortext"].as_str().unwrap().to_string()
}

fn id_of(v: &Value) -> String {
    v.as_str().expect("an id").to_string()
}

/// An Advanced zone with one physical network carrying Guest (VXLAN 5000-5099 on
/// cloudbr0) and Public (cloudbr1) traffic, enabled; and, with `range`, a public range
/// 203.0.113.<range.0>-<range.1> (gateway .1/24, untagged). Answers the zone's id.
async fn public_zone(c: &Client, name: &str, range: Option<(u8, u8)>) -> String {
    let zid = id_of(
        &c.ok(
            "createZone",
            &[
                ("name", name),
                ("networktype", "Advanced"),
                ("dns1", "1.1.1.1"),
                ("internaldns1", "10.0.0.1"),
            ],
        )
        .await["zone"]["id"],
    );
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
    let pid = id_of(&pn["physicalnetwork"]["id"]);
    for (t, label) in [("Guest", "cloudbr0"), ("Public", "cloudbr1")] {
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
    if let Some((a, b)) = range {
        c.ok(
            "createVlanIpRange",
            &[
                ("zoneid", &zid),
                ("forvirtualnetwork", "true"),
                ("gateway", "203.0.113.1"),
                ("netmask", "255.255.255.0"),
                ("startip", &format!("203.0.113.{a}")),
                ("endip", &format!("203.0.113.{b}")),
            ],
        )
        .await;
    }
    zid
}

async fn network(c: &Client, zid: &str, name: &str) -> String {
    id_of(
        &c.ok(
            "createNetwork",
            &[
                ("name", name),
                ("networkofferingid", ISOLATED),
                ("zoneid", zid),
            ],
        )
        .await["network"]["id"],
    )
}

fn items<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    v[key]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn public_ranges_need_the_public_traffic_type() {
    let c = Client::admin().await;
    let _worker = c.spawn_job_worker();
    let zid = public_zone(&c, "pub-range", None).await;
    let range = |start: &'static str, end: &'static str| {
        vec![
            ("zoneid", zid.clone()),
            ("forvirtualnetwork", "true".to_string()),
            ("gateway", "203.0.113.1".to_string()),
            ("netmask", "255.255.255.0".to_string()),
            ("startip", start.to_string()),
            ("endip", end.to_string()),
        ]
    };
    let p = range("203.0.113.10", "203.0.113.20");
    let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let v = c.ok("createVlanIpRange", &p).await["vlan"].clone();
    assert_eq!(v["forvirtualnetwork"], true);
    assert_eq!(v["vlan"], "vlan://untagged");
    assert!(v.get("networkid").is_none(), "{v}");
    let pn =
        c.ok("listPhysicalNetworks", &[("zoneid", &zid)]).await["physicalnetwork"][0]["id"].clone();
    assert_eq!(v["physicalnetworkid"], pn);
    let l = c.ok("listVlanIpRanges", &[("zoneid", &zid)]).await;
    assert_eq!(l["count"], 1, "public ranges are listed: {l}");
    // Overlaps, pods and public networks are refused.
    let e = c.err("createVlanIpRange", &p, 431).await;
    assert!(e.contains("overlaps"), "{e}");
    let mut with_net = p.clone();
    let fake = uuid::Uuid::new_v4().to_string();
    with_net.retain(|(k, _)| *k != "startip" && *k != "endip");
    with_net.extend([
        ("startip", "203.0.113.30"),
        ("endip", "203.0.113.31"),
        ("networkid", fake.as_str()),
    ]);
    let e = c.err("createVlanIpRange", &with_net, 431).await;
    assert!(e.starts_with("Can't find Public network by id="), "{e}");
    // A zone without Public traffic has nowhere to put one.
    let bare = id_of(
        &c.ok(
            "createZone",
            &[
                ("name", "bare"),
                ("networktype", "Advanced"),
                ("dns1", "1.1.1.1"),
                ("internaldns1", "10.0.0.1"),
            ],
        )
        .await["zone"]["id"],
    );
    let e = c
        .err(
            "createVlanIpRange",
            &[
                ("zoneid", &bare),
                ("gateway", "198.51.100.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "198.51.100.10"),
            ],
            431,
        )
        .await;
    assert_eq!(
        e,
        format!("Unable to find default physical network with traffic=Public in zone id={bare}")
    );
    // A range with an address held is not deleted.
    let vid = id_of(&v["id"]);
    let net = network(&c, &zid, "n1").await;
    job(&c, "associateIpAddress", &[("networkid", &net)]).await;
    let e = c.err("deleteVlanIpRange", &[("id", &vid)], 431).await;
    assert_eq!(e, "1  Ips are in use. Cannot delete this vlan");
}

#[tokio::test]
async fn addresses_rules_and_what_the_router_is_told() {
    let c = Client::admin().await;
    let _worker = c.spawn_job_worker();
    let zid = public_zone(&c, "pub-main", Some((10, 19))).await;
    let alice = c.user("alice").await;
    let bob = c.user("bob").await;
    let net = network(&alice, &zid, "web").await;

    // The first address of a fresh network is its source NAT address (§2.6).
    let (receipt, first) = job(&alice, "associateIpAddress", &[("networkid", &net)]).await;
    let first = first["ipaddress"].clone();
    assert_eq!(receipt["id"], first["id"], "the receipt names the address");
    assert_eq!(first["ipaddress"], "203.0.113.10");
    assert_eq!(first["issourcenat"], true);
    assert_eq!(first["isstaticnat"], false);
    assert_eq!(first["state"], "Allocated");
    assert_eq!(first["associatednetworkid"], net.as_str());
    assert_eq!(first["account"], "alice");
    assert_eq!(first["tags"], serde_json::json!([]));
    assert!(first.get("vlanid").is_none(), "root admins only: {first}");
    // By zone: the account's only isolated network.
    let (_, second) = job(&alice, "associateIpAddress", &[("zoneid", &zid)]).await;
    let second = second["ipaddress"].clone();
    assert_eq!(second["ipaddress"], "203.0.113.11");
    assert_eq!(second["issourcenat"], false);
    assert_eq!(second["associatednetworkid"], net.as_str());
    let (_, third) = job(
        &alice,
        "associateIpAddress",
        &[("networkid", &net), ("ipaddress", "203.0.113.15")],
    )
    .await;
    let third = third["ipaddress"].clone();
    assert_eq!(third["ipaddress"], "203.0.113.15");
    let e = alice
        .err(
            "associateIpAddress",
            &[("networkid", &net), ("ipaddress", "203.0.113.15")],
            533,
        )
        .await;
    assert_eq!(e, "Insufficient address capacity");
    let e = bob
        .err("associateIpAddress", &[("zoneid", &zid)], 431)
        .await;
    assert!(
        e.starts_with(
            "Account name=bob domain=ROOT doesn't have virtual networks in zone=pub-main"
        ),
        "{e}"
    );
    let e = alice.err("associateIpAddress", &[], 431).await;
    assert!(e.starts_with("Unable to figure out zone"), "{e}");

    let l = alice.ok("listPublicIpAddresses", &[]).await;
    assert_eq!(l["count"], 3, "{l}");
    let l = alice
        .ok("listPublicIpAddresses", &[("issourcenat", "true")])
        .await;
    assert_eq!(l["count"], 1);
    let l = alice
        .ok("listPublicIpAddresses", &[("ipaddress", "203.0.113.11")])
        .await;
    assert_eq!(items(&l, "publicipaddress")[0]["id"], second["id"]);
    let l = c.ok("listPublicIpAddresses", &[("listall", "true")]).await;
    assert_eq!(l["count"], 3);
    assert!(items(&l, "publicipaddress")[0].get("vlanid").is_some());

    // Bob neither sees nor touches Alice's addresses.
    assert!(bob
        .ok("listPublicIpAddresses", &[("listall", "true")])
        .await
        .get("publicipaddress")
        .is_none());
    let second_id = id_of(&second["id"]);
    let e = job_fails(&bob, "disassociateIpAddress", &[("id", &second_id)]).await;
    assert_eq!(e, format!("Unable to find IP address by ID={second_id}"));

    // Rules need VMs with a NIC in the network.
    let web1 = c.vm_in("alice", &zid, &net, "web1", "10.1.1.21").await;
    let web2 = c.vm_in("alice", &zid, &net, "web2", "10.1.1.22").await;
    let bobs = c.vm_in("bob", &zid, &net, "bobs", "10.1.1.99").await;
    let first_id = id_of(&first["id"]);
    let third_id = id_of(&third["id"]);

    // Port forwarding: 2222 → 22, with the firewall rule openfirewall makes.
    let pf = |ip: &str, vm: &str, proto: &str, public: &str, private: &str| {
        vec![
            ("ipaddressid".to_string(), ip.to_string()),
            ("virtualmachineid".to_string(), vm.to_string()),
            ("protocol".to_string(), proto.to_string()),
            ("publicport".to_string(), public.to_string()),
            ("privateport".to_string(), private.to_string()),
        ]
    };
    let p = pf(&first_id, &web1, "TCP", "2222", "22");
    let refs: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (receipt, rule) = job(&alice, "createPortForwardingRule", &refs).await;
    let rule = rule["portforwardingrule"].clone();
    assert_eq!(receipt["id"], rule["id"]);
    assert_eq!(rule["protocol"], "tcp");
    assert_eq!(rule["publicport"], "2222");
    assert_eq!(rule["publicendport"], "2222");
    assert_eq!(rule["privateport"], "22");
    assert_eq!(rule["vmguestip"], "10.1.1.21");
    assert_eq!(rule["virtualmachinename"], "web1");
    assert_eq!(rule["state"], "Active");
    assert_eq!(rule["cidrlist"], "");
    let fw = alice
        .ok("listFirewallRules", &[("ipaddressid", &first_id)])
        .await;
    assert_eq!(fw["count"], 1, "openfirewall made one: {fw}");
    let fw0 = items(&fw, "firewallrule")[0].clone();
    assert_eq!(fw0["startport"], 2222);
    assert_eq!(fw0["cidrlist"], "0.0.0.0/0");
    assert_eq!(fw0["traffictype"], "Ingress");
    // Conflicts are the synchronous answer (537), as CloudStack's create() raises them.
    let p = pf(&first_id, &web2, "tcp", "2222", "2222");
    let refs: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let e = alice.err("createPortForwardingRule", &refs, 537).await;
    assert_eq!(
        e,
        format!(
            "The range specified, 2222-2222, conflicts with rule {} which has 2222-2222",
            id_of(&rule["id"])
        )
    );
    // udp/2222 coexists with tcp/2222.
    let p = pf(&first_id, &web2, "udp", "2222", "2222");
    let refs: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    job(&alice, "createPortForwardingRule", &refs).await;
    // Hostile and wrong values: 431 with the texts, never 500.
    let hostile: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("publicport", "0")],
            "publicPort is an invalid value: 0",
        ),
        (
            vec![("publicport", "70000")],
            "publicPort is an invalid value: 70000",
        ),
        (
            vec![("privateport", "-5")],
            "privatePort is an invalid value: -5",
        ),
        (
            vec![
                ("publicport", "8000"),
                ("publicendport", "8010"),
                ("privateport", "9000"),
                ("privateendport", "9010"),
            ],
            "Private port start should be equal to public port start",
        ),
        (
            vec![
                ("publicport", "8000"),
                ("publicendport", "8010"),
                ("privateport", "8000"),
            ],
            "Source port and destination port ranges should be of equal sizes.",
        ),
        (
            vec![("publicport", "30"), ("publicendport", "20")],
            "Start port can't be bigger than end port",
        ),
        (
            vec![("protocol", "icmp")],
            "Protocol icmp is not supported in zone pub-main",
        ),
        (vec![("protocol", "<script>")], "is not supported in zone"),
        (
            vec![("cidrlist", "10.0.0.0/33")],
            "Source CIDRs formatting error 10.0.0.0/33",
        ),
        (
            vec![("cidrlist", "bogus")],
            "Source CIDRs formatting error bogus",
        ),
        (
            vec![("vmguestip", "10.1.1.50")],
            "IP Address is not in the VM nic's network ",
        ),
        (vec![("vmguestip", "x")], "Invalid vm ip address"),
    ];
    for (extra, text) in hostile {
        let mut p: Vec<(&str, &str)> = vec![
            ("ipaddressid", &third_id),
            ("virtualmachineid", &web2),
            ("protocol", "tcp"),
            ("publicport", "80"),
            ("privateport", "80"),
        ];
        for (k, v) in extra {
            p.retain(|(a, _)| *a != k);
            p.push((k, v));
        }
        let e = alice.err("createPortForwardingRule", &p, 431).await;
        assert!(e.contains(text), "{p:?}: {e}");
    }
    let e = alice
        .err(
            "createPortForwardingRule",
            &[
                ("ipaddressid", &third_id),
                ("virtualmachineid", &bobs),
                ("protocol", "tcp"),
                ("publicport", "80"),
                ("privateport", "80"),
            ],
            431,
        )
        .await;
    assert!(e.contains("invalid virtual machine id specified"), "{e}");
    let e = alice
        .err(
            "createPortForwardingRule",
            &[
                ("ipaddressid", "not-a-uuid"),
                ("virtualmachineid", &web2),
                ("protocol", "tcp"),
                ("publicport", "80"),
                ("privateport", "80"),
            ],
            431,
        )
        .await;
    assert!(e.contains("ipaddressid"), "{e}");

    // Firewall rules of their own, with CloudStack's checks.
    let (_, f) = job(
        &alice,
        "createFirewallRule",
        &[
            ("ipaddressid", &third_id),
            ("protocol", "icmp"),
            ("cidrlist", "198.51.100.0/24"),
        ],
    )
    .await;
    let f = f["firewallrule"].clone();
    assert_eq!(f["icmptype"], -1);
    assert_eq!(f["icmpcode"], -1);
    assert!(f.get("startport").is_none());
    assert_eq!(f["ipaddress"], "203.0.113.15");
    let e = alice
        .err(
            "createFirewallRule",
            &[
                ("ipaddressid", &third_id),
                ("protocol", "icmp"),
                ("cidrlist", "198.51.100.0/24"),
            ],
            431,
        )
        .await;
    assert_eq!(
        e,
        format!(
            "New rule conflicts with existing rule id={}",
            id_of(&f["id"])
        )
    );
    let (_, web) = job(
        &alice,
        "createFirewallRule",
        &[
            ("ipaddressid", &third_id),
            ("protocol", "tcp"),
            ("startport", "80"),
            ("endport", "443"),
        ],
    )
    .await;
    assert_eq!(web["firewallrule"]["cidrlist"], "0.0.0.0/0");
    let e = alice
        .err(
            "createFirewallRule",
            &[
                ("ipaddressid", &third_id),
                ("protocol", "tcp"),
                ("startport", "400"),
                ("endport", "500"),
            ],
            537,
        )
        .await;
    assert!(e.contains("conflicts with rule"), "{e}");
    for (extra, text) in [
        (
            vec![("protocol", "icmp"), ("startport", "1")],
            "Can't specify start/end port when protocol is ICMP",
        ),
        (
            vec![("protocol", "tcp"), ("icmptype", "8")],
            "Can specify icmpCode and icmpType for ICMP protocol only",
        ),
        (
            vec![("protocol", "all")],
            "Protocol all is not supported in zone pub-main",
        ),
        (
            vec![("protocol", "tcp"), ("startport", "99999")],
            "publicPort is an invalid value: 99999",
        ),
        (
            vec![("protocol", "icmp"), ("icmptype", "300")],
            "Invalid ICMP type 300",
        ),
        (
            vec![
                ("protocol", "udp"),
                ("startport", "1"),
                ("cidrlist", "::/0"),
            ],
            "Source CIDRs formatting error ::/0",
        ),
        (
            vec![("protocol", "udp"), ("type", "weird")],
            "Invalid firewall rule type weird",
        ),
    ] {
        let mut p = vec![("ipaddressid", third_id.as_str())];
        p.extend(extra);
        let e = alice.err("createFirewallRule", &p, 431).await;
        assert!(e.contains(text), "{p:?}: {e}");
    }
    let e = bob
        .err(
            "createFirewallRule",
            &[("ipaddressid", &third_id), ("protocol", "tcp")],
            431,
        )
        .await;
    assert!(e.contains("couldn't locate IP address"), "{e}");
    assert!(bob
        .ok("listFirewallRules", &[("ipaddressid", &third_id)])
        .await
        .get("firewallrule")
        .is_none());

    // Static NAT: not on the source NAT address, not where port forwards are, one per VM.
    let e = alice
        .err(
            "enableStaticNat",
            &[("ipaddressid", &first_id), ("virtualmachineid", &web2)],
            431,
        )
        .await;
    assert!(e.contains("is a sourceNat ip address"), "{e}");
    alice
        .ok(
            "enableStaticNat",
            &[("ipaddressid", &second_id), ("virtualmachineid", &web2)],
        )
        .await;
    alice
        .ok(
            "enableStaticNat",
            &[("ipaddressid", &second_id), ("virtualmachineid", &web2)],
        )
        .await;
    let e = alice
        .err(
            "enableStaticNat",
            &[("ipaddressid", &third_id), ("virtualmachineid", &web2)],
            537,
        )
        .await;
    assert!(
        e.contains("is already associated with another public ip 203.0.113.11"),
        "{e}"
    );
    let e = alice
        .err(
            "enableStaticNat",
            &[("ipaddressid", &second_id), ("virtualmachineid", &web1)],
            537,
        )
        .await;
    assert!(e.contains("as it's already assigned to antoher vm"), "{e}");
    let e = alice
        .err(
            "enableStaticNat",
            &[("ipaddressid", &third_id), ("virtualmachineid", &bobs)],
            431,
        )
        .await;
    assert!(e.contains("invalid virtual machine id specified"), "{e}");
    let shown = alice
        .ok("listPublicIpAddresses", &[("isstaticnat", "true")])
        .await;
    let s = items(&shown, "publicipaddress")[0].clone();
    assert_eq!(s["virtualmachineid"], web2.as_str());
    assert_eq!(s["vmipaddress"], "10.1.1.22");
    assert_eq!(s["virtualmachinename"], "web2");
    let p = pf(&second_id, &web2, "tcp", "22", "22");
    let refs: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let e = alice.err("createPortForwardingRule", &refs, 431).await;
    assert!(e.contains("has static nat enabled"), "{e}");
    job(
        &alice,
        "createFirewallRule",
        &[
            ("ipaddressid", &second_id),
            ("protocol", "tcp"),
            ("startport", "22"),
        ],
    )
    .await;

    // Egress: sources within the guest CIDR, 0.0.0.0/0 stored as it.
    let (_, eg) = job(
        &alice,
        "createEgressFirewallRule",
        &[
            ("networkid", &net),
            ("protocol", "tcp"),
            ("startport", "443"),
            ("cidrlist", "0.0.0.0/0"),
            ("destcidrlist", "192.0.2.0/24"),
        ],
    )
    .await;
    let eg = eg["firewallrule"].clone();
    assert_eq!(eg["cidrlist"], "10.1.1.0/24");
    assert_eq!(eg["destcidrlist"], "192.0.2.0/24");
    assert_eq!(eg["traffictype"], "Egress");
    assert!(eg.get("ipaddressid").is_none());
    job(
        &alice,
        "createEgressFirewallRule",
        &[("networkid", &net), ("protocol", "all")],
    )
    .await;
    for (extra, code, text) in [
        (
            vec![("protocol", "all"), ("startport", "1")],
            431,
            "Do not pass ports to protocol ALL",
        ),
        (
            vec![
                ("protocol", "tcp"),
                ("startport", "1"),
                ("cidrlist", "10.9.0.0/16"),
            ],
            431,
            "10.9.0.0/16 is not within the guest cidr 10.1.1.0/24",
        ),
        (
            vec![
                ("protocol", "tcp"),
                ("startport", "1"),
                ("destcidrlist", "nope"),
            ],
            431,
            "Destination cidrs formatting errornope",
        ),
        (
            vec![
                ("protocol", "tcp"),
                ("startport", "400"),
                ("endport", "500"),
            ],
            537,
            "conflicts with rule",
        ),
        (
            vec![("protocol", "all")],
            537,
            "There is already a firewall rule specified with protocol = all and no ports",
        ),
    ] {
        let mut p = vec![("networkid", net.as_str())];
        p.extend(extra);
        let e = alice.err("createEgressFirewallRule", &p, code).await;
        assert!(e.contains(text), "{p:?}: {e}");
    }
    let e = bob
        .err(
            "createEgressFirewallRule",
            &[("networkid", &net), ("protocol", "tcp")],
            431,
        )
        .await;
    assert_eq!(e, "Invalid networkId is given");
    assert_eq!(
        alice
            .ok("listEgressFirewallRules", &[("networkid", &net)])
            .await["count"],
        2
    );

    // What the router is told.
    let nid = NetworkId::from_uuid(net.parse().unwrap());
    let row = stratus_management::services::networks::network(&c.ctx, nid)
        .await
        .unwrap();
    let rr = stratus_management::services::public_ips::router_rules(&c.ctx, &row)
        .await
        .unwrap();
    let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
    let public = rr.public.clone().expect("a public leg");
    assert_eq!(
        public.addresses,
        vec![ip("203.0.113.10"), ip("203.0.113.11"), ip("203.0.113.15")],
        "the source NAT address first"
    );
    assert_eq!(public.gateway, ip("203.0.113.1"));
    assert_eq!(public.prefix_len, 24);
    assert_eq!(public.vlan, None);
    assert_eq!(public.label.as_deref(), Some("cloudbr1"));
    assert_eq!(rr.source_nat, Some(ip("203.0.113.10")));
    assert_eq!(rr.static_nat.len(), 1);
    assert_eq!(rr.static_nat[0].public_ip, ip("203.0.113.11"));
    assert_eq!(rr.static_nat[0].private_ip, ip("10.1.1.22"));
    assert_eq!(rr.port_forwards.len(), 2, "{:?}", rr.port_forwards);
    let tcp = rr
        .port_forwards
        .iter()
        .find(|f| f.protocol == stratus_api::router::PortProtocol::Tcp)
        .unwrap();
    assert_eq!(
        (
            tcp.public_ip,
            tcp.public_start,
            tcp.private_ip,
            tcp.private_start
        ),
        (ip("203.0.113.10"), 2222, ip("10.1.1.21"), 22)
    );
    // 2 openfirewall rules, ICMP and 80-443 on .15, 22 on the static NAT address.
    assert_eq!(rr.firewall.len(), 5, "{:?}", rr.firewall);
    assert!(
        !rr.egress.default_allow,
        "the default offering denies egress"
    );
    assert_eq!(rr.egress.rules.len(), 2);
    assert_eq!(
        rr.egress.rules[0].dest_cidrs,
        vec!["192.0.2.0/24".parse().unwrap()]
    );
    // Every rule fits a router spec the agent accepts.
    let spec = stratus_api::router::RouterSpec {
        name: "r-test".into(),
        guest: stratus_api::router::RouterGuestLeg {
            label: "cloudbr0".into(),
            isolation: Default::default(),
            gateway: ip("10.1.1.1"),
            prefix_len: 24,
            mac: "02:00:00:00:00:01".into(),
            dns_domain: None,
            dns: vec![],
            leases: vec![],
        },
        public: Some(stratus_api::router::RouterPublicLeg {
            label: "cloudbr1".into(),
            isolation: Default::default(),
            addresses: public.addresses.clone(),
            prefix_len: public.prefix_len,
            gateway: public.gateway,
            mac: "02:00:00:00:00:02".into(),
        }),
        source_nat: rr.source_nat,
        static_nat: rr.static_nat.clone(),
        port_forwards: rr.port_forwards.clone(),
        firewall: rr.firewall.clone(),
        egress: rr.egress.clone(),
    };
    spec.validate().unwrap();

    // Deleting: the port forward takes its firewall rule along; disabling static NAT
    // revokes the address's firewall rules; releasing revokes all its rules.
    job(
        &alice,
        "deletePortForwardingRule",
        &[("id", &id_of(&rule["id"]))],
    )
    .await;
    assert_eq!(
        alice
            .ok("listFirewallRules", &[("ipaddressid", &first_id)])
            .await["count"],
        1,
        "the udp forward's firewall rule stays"
    );
    let e = job_fails(&alice, "deleteFirewallRule", &[("id", &id_of(&rule["id"]))]).await;
    assert!(e.contains("Unable to find"), "{e}");
    job(&alice, "disableStaticNat", &[("ipaddressid", &second_id)]).await;
    assert!(alice
        .ok("listFirewallRules", &[("ipaddressid", &second_id)])
        .await
        .get("firewallrule")
        .is_none());
    let e = job_fails(&alice, "disableStaticNat", &[("ipaddressid", &second_id)]).await;
    assert_eq!(
        e,
        "Specified IP address id is not associated with any vm Id"
    );
    job(
        &alice,
        "deleteEgressFirewallRule",
        &[("id", &id_of(&eg["id"]))],
    )
    .await;
    job(
        &alice,
        "disassociateIpAddress",
        &[("ipaddress", "203.0.113.15")],
    )
    .await;
    assert!(alice
        .ok("listFirewallRules", &[("ipaddressid", &third_id)])
        .await
        .get("firewallrule")
        .is_none());
    let e = job_fails(
        &alice,
        "disassociateIpAddress",
        &[("id", &second_id), ("ipaddress", "203.0.113.11")],
    )
    .await;
    assert_eq!(
        e,
        "id parameter is mutually exclusive with ipaddress parameter"
    );
    job(&alice, "disassociateIpAddress", &[("id", &second_id)]).await;
    assert_eq!(alice.ok("listPublicIpAddresses", &[]).await["count"], 1);
    // Once the network was implemented its source NAT address stays with it.
    sqlx::query("UPDATE networks SET state = 'Implemented' WHERE id = $1::uuid")
        .bind(&net)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let e = job_fails(&alice, "disassociateIpAddress", &[("id", &first_id)]).await;
    assert_eq!(
        e,
        "IP address is used for source nat purposes and can not be disassociated."
    );
    // The account's public_ip limit.
    c.ok(
        "updateResourceLimit",
        &[("account", "alice"), ("resourcetype", "1"), ("max", "1")],
    )
    .await;
    let a = alice
        .call("associateIpAddress", &[("networkid", &net)])
        .await;
    assert!(a.status.as_u16() >= 530, "{}", a.text);
    assert!(
        a.errortext().contains("public_ip") || a.errortext().contains("exceeded"),
        "{}",
        a.text
    );
    // Deleting the network gives its addresses back.
    sqlx::query("UPDATE networks SET state = 'Allocated' WHERE id = $1::uuid")
        .bind(&net)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM vms WHERE zone_id = $1::uuid")
        .bind(&zid)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    job(&alice, "deleteNetwork", &[("id", &net)]).await;
    assert!(c
        .ok("listPublicIpAddresses", &[("listall", "true")])
        .await
        .get("publicipaddress")
        .is_none());
}

/// Twelve concurrent associateIpAddress calls on a ten-address range: ten get distinct
/// addresses, two are refused with CloudStack's 533.
#[tokio::test]
async fn concurrent_associations_never_share_an_address() {
    let c = Client::admin().await;
    let _worker = c.spawn_job_worker();
    let zid = public_zone(&c, "pub-race", Some((100, 109))).await;
    let mut nets = vec![];
    for i in 0..3 {
        nets.push(network(&c, &zid, &format!("n{i}")).await);
    }
    let mut tasks = vec![];
    for i in 0..12 {
        let c = c.clone_handle();
        let net = nets[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            c.call("associateIpAddress", &[("networkid", &net)]).await
        }));
    }
    let mut ok = vec![];
    let mut refused = 0;
    for t in tasks {
        let a = t.await.unwrap();
        match a.status.as_u16() {
            200 => ok.push(id_of(&a.body()["id"])),
            533 => {
                assert_eq!(a.errortext(), "Insufficient address capacity");
                refused += 1;
            }
            s => panic!("{s}: {}", a.text),
        }
    }
    assert_eq!((ok.len(), refused), (10, 2));
    let l = c.ok("listPublicIpAddresses", &[]).await;
    let addrs: std::collections::BTreeSet<String> = items(&l, "publicipaddress")
        .iter()
        .map(|i| i["ipaddress"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(addrs.len(), 10, "no address twice: {addrs:?}");
    let sources = items(&l, "publicipaddress")
        .iter()
        .filter(|i| i["issourcenat"] == true)
        .count();
    assert_eq!(sources, 3, "one source NAT address per network");
}

/// The implement workflow's calls: source NAT taken once per network whatever the
/// concurrency, none when the pool is dry; released with the network's rules.
#[tokio::test]
async fn source_nat_is_taken_once_and_released_with_the_network() {
    let c = Client::admin().await;
    let _worker = c.spawn_job_worker();
    let zid = public_zone(&c, "pub-snat", Some((50, 59))).await;
    let mut nets = vec![];
    for i in 0..12 {
        let id = network(&c, &zid, &format!("s{i}")).await;
        nets.push(NetworkId::from_uuid(id.parse().unwrap()));
    }
    let row_of = |id: NetworkId| {
        let pool = c.ctx.pool.clone();
        async move {
            let f = stratus_management::db::ListFilter {
                id: Some(id.into_uuid()),
                ..Default::default()
            };
            stratus_management::db::networks::network_list(&pool, &f, None, &Default::default())
                .await
                .unwrap()
                .0
                .remove(0)
        }
    };
    let mut tasks = vec![];
    for n in nets.iter().copied() {
        let pool = c.ctx.pool.clone();
        let row = row_of(n).await;
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let a = pdb::source_nat_take_in_txn(&mut tx, &row).await.unwrap();
            let b = pdb::source_nat_take_in_txn(&mut tx, &row).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(
                a.as_ref().map(|r| r.id),
                b.as_ref().map(|r| r.id),
                "idempotent"
            );
            (n, a)
        }));
    }
    let mut taken: std::collections::BTreeMap<NetworkId, (PublicIpId, String)> = Default::default();
    for t in tasks {
        let (n, got) = t.await.unwrap();
        if let Some(r) = got {
            assert!(r.is_source_nat);
            assert_eq!(r.state, "Allocated");
            assert_eq!(r.network_id, n);
            taken.insert(n, (r.id, r.address.ip().to_string()));
        }
    }
    assert_eq!(taken.len(), 10, "{taken:?}");
    let distinct: std::collections::BTreeSet<&String> = taken.values().map(|v| &v.1).collect();
    assert_eq!(distinct.len(), 10);
    // Releasing a network's addresses (and rules) puts them back for a waiting network.
    let (first, (_, addr)) = taken.iter().next().map(|(n, v)| (*n, v.clone())).unwrap();
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    assert_eq!(
        pdb::release_all_of_network(&mut conn, first).await.unwrap(),
        1
    );
    let waiting = nets
        .iter()
        .copied()
        .find(|n| !taken.contains_key(n))
        .unwrap();
    let row = row_of(waiting).await;
    let got = pdb::source_nat_take_in_txn(&mut conn, &row)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.address.ip().to_string(), addr);
    // An associate on a network that has its source NAT address is not one.
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zid),
            ("gateway", "203.0.113.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "203.0.113.60"),
        ],
    )
    .await;
    let (_, r) = job(
        &c,
        "associateIpAddress",
        &[("networkid", &waiting.to_string())],
    )
    .await;
    assert_eq!(r["ipaddress"]["issourcenat"], false, "{r}");
}

/// listNics, where cs_portforward and cs_staticnat read a VM's default NIC for its guest
/// address (and libcloud's ex_list_nics): a VM's NICs as listVirtualMachines shows them,
/// filtered, answered to those who may see the VM and to no one else.
#[tokio::test]
async fn list_nics_answers_a_vms_nics_to_those_who_may_see_it() {
    let c = Client::admin().await;
    let _worker = c.spawn_job_worker();
    let zid = public_zone(&c, "pub-nics", None).await;
    let alice = c.user("alice").await;
    let bob = c.user("bob").await;
    let web = network(&alice, &zid, "web").await;
    let db = network(&alice, &zid, "db").await;
    let vm = c.vm_in("alice", &zid, &web, "web1", "10.1.1.21").await;
    // A second NIC, not the default, in the other network.
    sqlx::query(
        "INSERT INTO nics (id, vm_id, network_id, ip_address, mac_address, is_default)
         VALUES ($1, $2::uuid, $3::uuid, '10.1.1.77', '02:00:00:00:aa:01', false)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(&vm)
    .bind(&db)
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    let vmid = vm.clone();
    let of_vm = [("virtualmachineid", vmid.as_str())];

    let l = alice.ok("listNics", &of_vm).await;
    assert_eq!(l["count"], 2, "{l}");
    let nics = items(&l, "nic");
    let (first, second) = (nics[0], nics[1]);
    assert_eq!(first["isdefault"], true, "the default first: {l}");
    assert_eq!(first["ipaddress"], "10.1.1.21");
    assert_eq!(first["networkid"], web.as_str());
    assert_eq!(first["networkname"], "web");
    assert_eq!(first["gateway"], "10.1.1.1");
    assert_eq!(first["netmask"], "255.255.255.0");
    assert_eq!(first["traffictype"], "Guest");
    assert_eq!(first["type"], "Isolated");
    assert_eq!(first["deviceid"], "0");
    assert_eq!(first["virtualmachineid"], vmid.as_str());
    assert_eq!(first["secondaryip"], serde_json::json!([]));
    assert_eq!(first["extradhcpoption"], serde_json::json!([]));
    assert!(first["macaddress"].as_str().is_some_and(|m| m.len() == 17));
    assert_eq!(second["isdefault"], false);
    assert_eq!(second["ipaddress"], "10.1.1.77");
    assert_eq!(second["networkid"], db.as_str());
    assert_eq!(second["deviceid"], "1");
    // The same rendering as listVirtualMachines' `nic`.
    let v = alice.ok("listVirtualMachines", &[("id", &vmid)]).await;
    assert_eq!(v["virtualmachine"][0]["nic"], l["nic"]);

    // Filters: the NIC, the network, a part of the address (CloudStack's LIKE).
    let nic0 = id_of(&first["id"]);
    let other = uuid::Uuid::new_v4().to_string();
    let ask = |extra: &[(&'static str, &str)]| {
        let mut p: Vec<(String, String)> = vec![("virtualmachineid".into(), vmid.clone())];
        p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let alice = &alice;
        async move {
            let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            alice.ok("listNics", &refs).await
        }
    };
    let ips = |l: &Value| -> Vec<String> {
        items(l, "nic")
            .iter()
            .map(|n| n["ipaddress"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ips(&ask(&[("nicid", &nic0)]).await), ["10.1.1.21"]);
    assert_eq!(ips(&ask(&[("networkid", &db)]).await), ["10.1.1.77"]);
    assert_eq!(ips(&ask(&[("keyword", ".77")]).await), ["10.1.1.77"]);
    assert_eq!(
        ips(&ask(&[("keyword", "10.1.1.")]).await),
        ["10.1.1.21", "10.1.1.77"]
    );
    // Nothing matches: an empty list is `{}`, as every CloudStack list.
    let nothing: [&[(&'static str, &str)]; 5] = [
        &[("keyword", "10.9.")],
        // With nicid, the keyword searches the NIC's secondary addresses: it has none.
        &[("keyword", "10.1.1.21"), ("nicid", &nic0)],
        &[("nicid", &other)],
        &[("networkid", &other)],
        &[("fordisplay", "false")],
    ];
    for none in nothing {
        assert_eq!(ask(none).await, serde_json::json!({}), "{none:?}");
    }
    // Paging: the total, one page.
    let l = ask(&[("page", "2"), ("pagesize", "1")]).await;
    assert_eq!(l["count"], 2);
    assert_eq!(ips(&l), ["10.1.1.77"]);
    let e = alice
        .err(
            "listNics",
            &[("virtualmachineid", &vmid), ("page", "1")],
            431,
        )
        .await;
    assert!(e.contains("pagesize"), "{e}");

    // The root admin sees every VM's NICs; Bob sees none of Alice's, told as for a VM that
    // does not exist.
    assert_eq!(c.ok("listNics", &of_vm).await["count"], 2);
    let e = bob.err("listNics", &of_vm, 431).await;
    assert!(
        e.contains(&format!("Invalid parameter virtualmachineid value={vmid}")),
        "{e}"
    );
    let missing = uuid::Uuid::new_v4().to_string();
    let e2 = bob
        .err("listNics", &[("virtualmachineid", &missing)], 431)
        .await;
    assert_eq!(e2, e.replace(&vmid, &missing), "the same answer");
    // Hostile or missing input: CloudStack's 431, never a 500.
    alice.err("listNics", &[], 431).await;
    let long = "9".repeat(5000);
    for bad in ["x'; DROP TABLE nics; --", "\u{0}", "12", long.as_str()] {
        alice
            .err("listNics", &[("virtualmachineid", bad)], 431)
            .await;
        for p in ["nicid", "networkid"] {
            alice
                .err("listNics", &[("virtualmachineid", &vmid), (p, bad)], 431)
                .await;
        }
    }
}
