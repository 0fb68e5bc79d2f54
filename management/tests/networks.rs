//! A Basic zone's guest network: created with the zone, visible in listNetworks with the
//! gateway and netmask of the zone's guest range, gone with the zone.

use stratus_testkit::db as common;

use common::Client;

#[tokio::test]
async fn basic_zones_have_their_guest_network() {
    let c = Client::admin().await;
    assert!(c.ok("listNetworks", &[]).await.get("network").is_none());
    let (zid, pid, cid) = c.basic_topology("netzone").await;
    let n = c.ok("listNetworks", &[("zoneid", &zid)]).await;
    assert_eq!(n["count"], 1, "{n}");
    let net = &n["network"][0];
    assert_eq!(net["name"], "guestNetworkForBasicZone");
    assert_eq!(net["type"], "Shared");
    assert_eq!(net["traffictype"], "Guest");
    assert_eq!(net["zonename"], "netzone");
    assert_eq!(net["canusefordeploy"], true);
    assert_eq!(net["dns1"], "8.8.8.8");
    assert!(net.get("gateway").is_none(), "no guest range yet: {net}");

    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zid),
            ("podid", &pid),
            ("gateway", "10.0.1.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "10.0.1.100"),
            ("endip", "10.0.1.200"),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    let net = c.ok("listNetworks", &[("zoneid", &zid)]).await["network"][0].clone();
    assert_eq!(net["gateway"], "10.0.1.1");
    assert_eq!(net["netmask"], "255.255.255.0");
    assert_eq!(net["cidr"], "10.0.1.0/24");
    // Only shared guest networks exist.
    for filter in [
        ("type", "Isolated"),
        ("traffictype", "Management"),
        ("issystem", "true"),
    ] {
        assert!(
            c.ok("listNetworks", &[filter])
                .await
                .get("network")
                .is_none(),
            "{filter:?}"
        );
    }
    assert_eq!(
        c.ok("listNetworks", &[("type", "shared")]).await["count"],
        1
    );

    // Advanced zones get no shared network of their own.
    c.ok(
        "createZone",
        &[
            ("name", "adv"),
            ("networktype", "Advanced"),
            ("dns1", "8.8.8.8"),
            ("internaldns1", "10.0.0.2"),
        ],
    )
    .await;
    assert_eq!(c.ok("listNetworks", &[]).await["count"], 1);

    // The network goes with its zone.
    c.ok("deleteCluster", &[("id", &cid)]).await;
    for r in c.ok("listVlanIpRanges", &[("zoneid", &zid)]).await["vlaniprange"]
        .as_array()
        .unwrap()
    {
        c.ok("deleteVlanIpRange", &[("id", r["id"].as_str().unwrap())])
            .await;
    }
    c.ok("deletePod", &[("id", &pid)]).await;
    c.ok("deleteZone", &[("id", &zid)]).await;
    assert!(c.ok("listNetworks", &[]).await.get("network").is_none());
}
