//! The foundation end to end: the real `stratus-management` binary on its embedded
//! default (private Postgres, no configuration), driven by the unmodified `cs` client.
//! Login → registerUserKeys → zone, pod, guest range, cluster → list them back → each
//! error case with CloudStack's code → Ctrl-C leaves nothing running → a restart keeps
//! everything.

use stratus_tests::{process_group_of, processes_using, CsApi, Server};

#[test]
fn cs_client_builds_and_reads_back_a_zone_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), "e2e-password");
    let k = CsApi::login(&server, "admin", "e2e-password");

    // Build: zone, pod with its management range, guest range, cluster.
    let zone = k.ok(
        "createZone",
        &[
            "name=e2e-zone",
            "networktype=Basic",
            "dns1=8.8.8.8",
            "internaldns1=10.1.0.2",
        ],
    );
    let zid = zone["zone"]["id"].as_str().unwrap().to_string();
    let pod = k.ok(
        "createPod",
        &[
            &format!("zoneid={zid}"),
            "name=pod-a",
            "gateway=10.1.0.1",
            "netmask=255.255.255.0",
            "startip=10.1.0.10",
            "endip=10.1.0.30",
        ],
    );
    let pid = pod["pod"]["id"].as_str().unwrap().to_string();
    let vlan = k.ok(
        "createVlanIpRange",
        &[
            &format!("zoneid={zid}"),
            &format!("podid={pid}"),
            "gateway=10.1.0.1",
            "netmask=255.255.255.0",
            "startip=10.1.0.100",
            "endip=10.1.0.200",
            "forvirtualnetwork=false",
        ],
    );
    assert_eq!(vlan["vlan"]["startip"], "10.1.0.100");
    // --post: the form-body signing path (Terraform's cloudstack-go posts).
    let cluster = k.run(
        &["--post"],
        "addCluster",
        &[
            &format!("zoneid={zid}"),
            &format!("podid={pid}"),
            "clustername=kvm-1",
            "clustertype=CloudManaged",
            "hypervisor=KVM",
        ],
    );
    assert!(cluster.success, "{}", cluster.json);
    assert_eq!(cluster.json["cluster"][0]["name"], "kvm-1");

    // Read back.
    let zones = k.ok("listZones", &[]);
    assert_eq!(zones["count"], 1);
    assert_eq!(zones["zone"][0]["name"], "e2e-zone");
    assert_eq!(
        k.ok("listPods", &[&format!("zoneid={zid}")])["pod"][0]["startip"][0],
        "10.1.0.10"
    );
    assert_eq!(
        k.ok("listVlanIpRanges", &[&format!("zoneid={zid}")])["vlaniprange"][0]["endip"],
        "10.1.0.200"
    );
    assert_eq!(
        k.ok("listClusters", &[])["cluster"][0]["hypervisortype"],
        "KVM"
    );

    // The error cases, each with CloudStack's code and a clear text.
    let bad = CsApi {
        url: k.url.clone(),
        key: k.key.clone(),
        secret: "wrong-secret".into(),
    };
    let t = bad.err("listZones", &[], 401);
    assert!(t.contains("unable to verify user credentials"), "{t}");
    let t = k.err(
        "listZones",
        &["signatureVersion=3", "expires=2020-01-01T00:00:00+0000"],
        401,
    );
    assert!(t.contains("expired"), "{t}");
    let t = k.err("createZone", &["name=incomplete", "networktype=Basic"], 431);
    assert!(t.contains("missing parameter"), "{t}");
    let t = k.err(
        "createVlanIpRange",
        &[
            &format!("zoneid={zid}"),
            &format!("podid={pid}"),
            "gateway=10.1.0.1",
            "netmask=255.255.255.0",
            "startip=10.1.0.150",
            "endip=10.1.0.250",
        ],
        431,
    );
    assert!(t.contains("overlaps"), "{t}");
    let t = k.err("deleteZone", &[&format!("id={zid}")], 536);
    assert!(t.contains("cannot be deleted because there are"), "{t}");
    let t = k.err("noSuchCommand", &[], 432);
    assert!(t.contains("does not exist"), "{t}");

    // An async command through cs (it polls queryAsyncJobResult).
    let acc = k.ok(
        "createAccount",
        &[
            "accounttype=0",
            "email=d@example.org",
            "firstname=D",
            "lastname=E",
            "password=secret1",
            "username=dave",
        ],
    );
    let dave = acc["account"]["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = k.ok("disableUser", &[&format!("id={dave}")]);
    assert_eq!(job["user"]["state"], "disabled", "{job}");

    // A terminal's Ctrl-C signals the whole foreground group: Postgres must not be in it,
    // or it would shut down under the server before the server is done with it.
    let pg = server
        .postgres_pid()
        .expect("the log names the Postgres PID");
    assert_ne!(
        process_group_of(pg),
        Some(server.child.id() as i32),
        "Postgres shares the server's process group"
    );

    // Ctrl-C: the server and its Postgres are gone.
    let status = server.stop();
    assert!(
        status.success(),
        "clean exit expected, got {status}; log:\n{}",
        server.log_text()
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let left = processes_using(dir.path());
    assert!(left.is_empty(), "processes left behind: {left:?}");

    // A second start reuses the data: same zone, same keys.
    let server2 = Server::start(dir.path(), "ignored-now");
    let k2 = CsApi {
        url: server2.api(),
        key: k.key.clone(),
        secret: k.secret.clone(),
    };
    let zones = k2.ok("listZones", &[]);
    assert_eq!(zones["zone"][0]["id"], zid.as_str());
    assert_eq!(
        k2.ok("listUsers", &["username=dave"])["user"][0]["state"],
        "disabled"
    );
    assert!(
        !server2.log_text().contains("Created user 'admin'"),
        "admin is created once"
    );
}
