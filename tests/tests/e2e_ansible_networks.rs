//! An Advanced zone's isolated network, public address and firewall rules as Ansible
//! manages them (issue 15): the unmodified ngine_io.cloudstack collection (PyPI `ansible`)
//! against the real management server. `tests/clients/ansible_networks.yml` runs twice:
//! the first run makes the network, associates 203.0.113.15 and opens three rules; the
//! second reports `changed=0` and every record keeps its id. No host is needed: the
//! network stays Allocated until a VM is deployed into it (what the router makes of the
//! rules is `management/tests/isolated_networks.rs`).

use serde_json::{json, Value};
use stratus_tests::{CsApi, Server};

const PLAYBOOK: &str = "tests/clients/ansible_networks.yml";

fn ids(l: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = l[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The Advanced zone `adv`: a VXLAN physical network carrying Guest and Public traffic,
/// Enabled, with the public range 203.0.113.10-20.
fn advanced_zone(api: &CsApi) {
    let zone = api.ok(
        "createZone",
        &[
            "name=adv",
            "networktype=Advanced",
            "dns1=192.0.2.53",
            "internaldns1=192.0.2.53",
        ],
    )["zone"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pn = api.ok(
        "createPhysicalNetwork",
        &[
            &format!("zoneid={zone}"),
            "name=phys",
            "vlan=5000-5009",
            "isolationmethods=VXLAN",
        ],
    )["physicalnetwork"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for t in ["Guest", "Public", "Management"] {
        api.ok(
            "addTrafficType",
            &[
                &format!("physicalnetworkid={pn}"),
                &format!("traffictype={t}"),
                "kvmnetworklabel=cloudbr0",
            ],
        );
    }
    api.ok(
        "updatePhysicalNetwork",
        &[&format!("id={pn}"), "state=Enabled"],
    );
    api.ok(
        "createVlanIpRange",
        &[
            &format!("zoneid={zone}"),
            "forvirtualnetwork=true",
            "gateway=203.0.113.1",
            "netmask=255.255.255.0",
            "startip=203.0.113.10",
            "endip=203.0.113.20",
        ],
    );
    api.ok(
        "updateZone",
        &[&format!("id={zone}"), "allocationstate=Enabled"],
    );
}

#[test]
fn ansible_manages_isolated_networks_addresses_and_firewall_rules_idempotently() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), "admin-pw-anet");
    let api = CsApi::login(&server, "admin", "admin-pw-anet");
    advanced_zone(&api);

    let (changed, text) = api.ansible_playbook(PLAYBOOK, json!({}), home.path());
    assert_eq!(changed, 5, "a network, an address, three rules:\n{text}");
    let nets = api.ok("listNetworks", &["name=web-net"]);
    assert_eq!(nets["count"], 1, "{nets}");
    let net = &nets["network"][0];
    assert_eq!(net["displaytext"], "Web network");
    assert_eq!(net["type"], "Isolated");
    assert_eq!(net["state"], "Allocated");
    let nid = net["id"].as_str().unwrap().to_string();
    let ips = api.ok(
        "listPublicIpAddresses",
        &[&format!("associatednetworkid={nid}")],
    );
    assert_eq!(ips["count"], 1, "{ips}");
    assert_eq!(ips["publicipaddress"][0]["ipaddress"], "203.0.113.15");
    let ip_id = ips["publicipaddress"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let fw = api.ok("listFirewallRules", &[&format!("ipaddressid={ip_id}")]);
    assert_eq!(fw["count"], 2, "{fw}");
    let eg = api.ok("listEgressFirewallRules", &[&format!("networkid={nid}")]);
    assert_eq!(eg["count"], 1, "{eg}");
    let before = (
        ids(&nets, "network"),
        ids(&ips, "publicipaddress"),
        ids(&fw, "firewallrule"),
        ids(&eg, "firewallrule"),
    );

    // The second run finds everything as it is.
    let (changed, text) = api.ansible_playbook(PLAYBOOK, json!({}), home.path());
    assert_eq!(changed, 0, "{text}");
    let after = (
        ids(&api.ok("listNetworks", &["name=web-net"]), "network"),
        ids(
            &api.ok(
                "listPublicIpAddresses",
                &[&format!("associatednetworkid={nid}")],
            ),
            "publicipaddress",
        ),
        ids(
            &api.ok("listFirewallRules", &[&format!("ipaddressid={ip_id}")]),
            "firewallrule",
        ),
        ids(
            &api.ok("listEgressFirewallRules", &[&format!("networkid={nid}")]),
            "firewallrule",
        ),
    );
    assert_eq!(before, after);
}
