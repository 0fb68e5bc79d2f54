//! Port forwarding to a VM of an isolated network as the unmodified clients drive it
//! (issue 15), against the real management server: an Advanced zone (VXLAN over the
//! simulated host's `eth0`, public addresses on a bridge), nfs-ganesha for storage, and one
//! simulated host whose libvirt is libvirt's test driver (the VM only has to be Running:
//! no guest boots). The admin's first deploy makes its network `admin-network` and the
//! router, a namespace on the host.
//!
//! - `cs listNics` answers the VM's NIC as listVirtualMachines shows it.
//! - Ansible (`tests/clients/ansible_portforward.yml`, ngine_io.cloudstack from PyPI's
//!   `ansible`): cs_ip_address and two cs_portforward rules; the router's nftables
//!   forwards them to the VM's address. Run again: `changed=0`, the same ids.
//! - Apache libcloud (`tests/clients/libcloud_portforward.py`): ex_list_nics,
//!   ex_allocate_public_ip, ex_create_port_forwarding_rule, ex_list_port_forwarding_rules,
//!   ex_delete_port_forwarding_rule (its firewall rule goes with it), ex_release_public_ip.

use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};
use stratus_tests::{wait_for, CsApi, HttpFiles, NfsServer, Served, Server, SimHost};

const PLAYBOOK: &str = "tests/clients/ansible_portforward.yml";
const LIBCLOUD: &str = "tests/clients/libcloud_portforward.py";
const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const HOST_INDEX: u8 = 237;
const NFS_INDEX: u8 = 238;
const PASSWORD: &str = "pf-host-pw";
const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn ids(l: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = l[key]
        .as_array()
        .map(|a| a.iter().map(id).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The router's nftables ruleset (inside its namespace on the host).
fn nft(host: &SimHost, ns: &str) -> String {
    let out = host.exec(&["ip", "netns", "exec", ns, "nft", "list", "ruleset"]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs the libcloud script; its JSON lines.
fn libcloud(args: &[&str]) -> Vec<Value> {
    let out = Command::new(stratus_tests::python())
        .arg(stratus_tests::workspace_root().join(LIBCLOUD))
        .args(args)
        .output()
        .expect("python with libcloud (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "libcloud: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {steps:?}"))
}

/// The Advanced zone `pfz`: Guest and Management traffic on the host's `eth0` (VXLAN
/// 5000-5009), Public on the bridge `pubbr0` made on the host, the public range
/// 203.0.113.10-20; a pod, a cluster with the host, NFS primary and secondary storage.
fn advanced_zone(api: &CsApi, host: &SimHost, nfs: &NfsServer, tmp: &std::path::Path) -> String {
    let zone = id(&api.ok(
        "createZone",
        &[
            "name=pfz",
            "networktype=Advanced",
            "dns1=192.0.2.53",
            "internaldns1=10.231.0.1",
            "guestcidraddress=10.1.1.0/24",
        ],
    )["zone"]);
    let z = format!("zoneid={zone}");
    let pn = id(&api.ok(
        "createPhysicalNetwork",
        &[&z, "name=phys", "vlan=5000-5009", "isolationmethods=VXLAN"],
    )["physicalnetwork"]);
    for (t, label) in [
        ("Guest", "eth0"),
        ("Public", "pubbr0"),
        ("Management", "eth0"),
    ] {
        api.ok(
            "addTrafficType",
            &[
                &format!("physicalnetworkid={pn}"),
                &format!("traffictype={t}"),
                &format!("kvmnetworklabel={label}"),
            ],
        );
    }
    for cmd in [
        &["ip", "link", "add", "pubbr0", "type", "bridge"][..],
        &["ip", "link", "set", "pubbr0", "up"][..],
    ] {
        let out = host.exec(cmd);
        assert!(out.status.success(), "{cmd:?}: {out:?}");
    }
    api.ok(
        "updatePhysicalNetwork",
        &[&format!("id={pn}"), "state=Enabled"],
    );
    let pod = id(&api.ok(
        "createPod",
        &[
            &z,
            "name=pfp",
            "gateway=172.30.0.1",
            "netmask=255.255.255.0",
            "startip=172.30.0.10",
            "endip=172.30.0.20",
        ],
    )["pod"]);
    let p = format!("podid={pod}");
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &z,
            &p,
            "clustername=pfc",
            "clustertype=CloudManaged",
            "hypervisor=KVM",
        ],
    )["cluster"][0]);
    let c = format!("clusterid={cluster}");
    api.ok(
        "addHost",
        &[
            &z,
            &p,
            &c,
            "hypervisor=KVM",
            &format!("url=http://{}", host.address),
            "username=root",
            &format!("password={PASSWORD}"),
        ],
    );
    let (primary, secondary) = (tmp.join("primary"), tmp.join("secondary"));
    api.ok(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=pfprimary",
            &format!("url={}", nfs.url(&primary)),
        ],
    );
    api.ok(
        "addImageStore",
        &[
            &z,
            "provider=NFS",
            "name=pfsecondary",
            &format!("url={}", nfs.url(&secondary)),
        ],
    );
    api.ok(
        "createVlanIpRange",
        &[
            &z,
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
    zone
}

#[test]
fn ansible_and_libcloud_forward_ports_to_a_vm_of_an_isolated_network() {
    assert!(
        std::path::Path::new(IPXE).exists(),
        "{IPXE}: scripts/test installs ipxe"
    );
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let nfs = NfsServer::up(
        "e2epfn",
        NFS_INDEX,
        &tmp.path().join("nfs"),
        &[&tmp.path().join("primary"), &tmp.path().join("secondary")],
    );
    let host = SimHost::up("e2epfh", HOST_INDEX, PASSWORD, &tmp.path().join("hosts"));
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "admin-pw-pf", &host.mgmt_ip);
    let api = CsApi::login(&server, "admin", "admin-pw-pf");
    for setting in [
        "name=kvm.libvirt.uri value=test:///default",
        "name=kvm.acceleration value=qemu",
    ] {
        let args: Vec<&str> = setting.split(' ').collect();
        api.ok("updateConfiguration", &args);
    }
    api.allow_loopback_downloads();
    let zone = advanced_zone(&api, &host, &nfs, tmp.path());
    let files = HttpFiles::start(vec![("/ipxe.iso", Served::File(IPXE.into()))]);
    let iso = id(&api.ok(
        "registerIso",
        &[
            &format!("zoneid={zone}"),
            "name=ipxe",
            "displaytext=iPXE",
            &format!("url={}", files.url("/ipxe.iso")),
            "bootable=true",
        ],
    )["iso"][0]);
    wait_for("ipxe.iso Ready", 60, || {
        let i = api.ok("listIsos", &[&format!("id={iso}"), "isofilter=all"]);
        (i["iso"][0]["isready"] == true).then_some(())
    });
    // The admin's first deploy: its network admin-network, implemented with its router.
    let vm = api.ok(
        "deployVirtualMachine",
        &[
            &format!("zoneid={zone}"),
            &format!("serviceofferingid={SMALL}"),
            &format!("templateid={iso}"),
            &format!("diskofferingid={DISK_5GB}"),
            "hypervisor=KVM",
            "name=web1",
        ],
    )["virtualmachine"]
        .clone();
    assert_eq!(vm["state"], "Running", "{vm}");
    let vm_id = id(&vm);
    let nic = vm["nic"][0].clone();
    let guest_ip = nic["ipaddress"].as_str().unwrap().to_string();
    let net = api.ok("listNetworks", &["name=admin-network"]);
    assert_eq!(net["count"], 1, "{net}");
    let net_id = id(&net["network"][0]);
    assert_eq!(nic["networkid"], net_id.as_str());
    let routers = api.ok("listRouters", &[&format!("networkid={net_id}")]);
    let ns = format!("stratus-{}", routers["router"][0]["name"].as_str().unwrap());
    eprintln!("test bed and VM up in {} s", started.elapsed().as_secs());

    // listNics: the VM's NIC, as listVirtualMachines shows it.
    let nics = api.ok("listNics", &[&format!("virtualmachineid={vm_id}")]);
    assert_eq!(nics["count"], 1, "{nics}");
    let listed = api.ok("listVirtualMachines", &[&format!("id={vm_id}")]);
    assert_eq!(nics["nic"][0], listed["virtualmachine"][0]["nic"][0]);
    assert_eq!(nics["nic"][0]["id"], nic["id"]);
    assert_eq!(nic["isdefault"], true);
    assert_eq!(nic["type"], "Isolated");

    // --- Ansible, twice ---
    let vars = json!({"zone": "pfz", "network": "admin-network", "vm": "web1"});
    let t = Instant::now();
    let (changed, text) = api.ansible_playbook(PLAYBOOK, vars.clone(), home.path());
    eprintln!("ansible, first run: {} s", t.elapsed().as_secs());
    assert_eq!(changed, 3, "an address, two rules:\n{text}");
    let ip = api.ok("listPublicIpAddresses", &["ipaddress=203.0.113.15"]);
    assert_eq!(ip["count"], 1, "{ip}");
    assert_eq!(
        ip["publicipaddress"][0]["associatednetworkid"],
        net_id.as_str()
    );
    let ip_id = id(&ip["publicipaddress"][0]);
    let on_ip = format!("ipaddressid={ip_id}");
    let pf = api.ok("listPortForwardingRules", &[&on_ip]);
    assert_eq!(pf["count"], 2, "{pf}");
    let mut rules: Vec<Value> = pf["portforwardingrule"].as_array().unwrap().clone();
    rules.sort_by_key(|r| r["protocol"].as_str().map(str::to_string));
    let (tcp, udp) = (&rules[0], &rules[1]);
    for (r, proto, ports) in [
        (tcp, "tcp", ["2222", "2222", "22", "22"]),
        (udp, "udp", ["5000", "5009", "5000", "5009"]),
    ] {
        assert_eq!(r["protocol"], proto, "{r}");
        let got = [
            &r["publicport"],
            &r["publicendport"],
            &r["privateport"],
            &r["privateendport"],
        ];
        assert_eq!(got, ports.map(Value::from).each_ref(), "{r}");
        assert_eq!(r["virtualmachineid"], vm_id.as_str());
        assert_eq!(r["vmguestip"], guest_ip.as_str(), "listNics' address");
        assert_eq!(r["state"], "Active");
    }
    // open_firewall: the TCP rule's port is open; the UDP one opens nothing.
    let fw = api.ok("listFirewallRules", &[&on_ip]);
    assert_eq!(fw["count"], 1, "{fw}");
    assert_eq!(fw["firewallrule"][0]["startport"], 2222);
    // The router forwards both to the VM.
    let rules_text = nft(&host, &ns);
    assert!(
        rules_text.contains("203.0.113.15")
            && rules_text.contains("2222")
            && rules_text.contains("5000-5009")
            && rules_text.contains(&guest_ip),
        "{rules_text}"
    );
    let before = (ids(&ip, "publicipaddress"), ids(&pf, "portforwardingrule"));
    let t = Instant::now();
    let (changed, text) = api.ansible_playbook(PLAYBOOK, vars, home.path());
    eprintln!("ansible, second run: {} s", t.elapsed().as_secs());
    assert_eq!(changed, 0, "{text}");
    let after = (
        ids(
            &api.ok("listPublicIpAddresses", &["ipaddress=203.0.113.15"]),
            "publicipaddress",
        ),
        ids(
            &api.ok("listPortForwardingRules", &[&on_ip]),
            "portforwardingrule",
        ),
    );
    assert_eq!(before, after);

    // --- libcloud ---
    let t = Instant::now();
    let steps = libcloud(&[
        &api.url,
        &api.key,
        &api.secret,
        "pfz",
        "web1",
        "admin-network",
    ]);
    eprintln!("libcloud: {} s", t.elapsed().as_secs());
    let nics = step(&steps, "nics");
    assert_eq!(
        nics["nics"],
        json!([{
            "id": nic["id"], "network_id": net_id, "ip_address": guest_ip,
            "is_default": true, "mac_address": nic["macaddress"], "secondary_ip": [],
        }]),
        "{nics}"
    );
    let addr = step(&steps, "allocated");
    let lc_ip = addr["address"].as_str().unwrap().to_string();
    assert!(lc_ip.starts_with("203.0.113."), "{addr}");
    assert_ne!(lc_ip, "203.0.113.15");
    let created = step(&steps, "created");
    let listed = step(&steps, "listed");
    assert_eq!(
        listed["rules"],
        json!([{
            "id": created["id"], "node": vm_id, "address": lc_ip, "protocol": "tcp",
            "public_port": "8080", "private_port": "80",
            "public_end_port": "8080", "private_end_port": "80",
        }]),
        "{listed}"
    );
    assert_eq!(step(&steps, "deleted")["ok"], true);
    assert_eq!(step(&steps, "deleted")["left"], json!([]));
    let released = step(&steps, "released");
    assert_eq!(released["ok"], true);
    assert_eq!(released["left"], json!([]));
    // Gone from the API and the router; Ansible's rules stay.
    let lc = api.ok("listPublicIpAddresses", &[&format!("ipaddress={lc_ip}")]);
    assert!(lc.get("publicipaddress").is_none(), "{lc}");
    let rules_text = nft(&host, &ns);
    assert!(
        !rules_text.contains("8080") && !rules_text.contains(&lc_ip),
        "{rules_text}"
    );
    assert!(rules_text.contains("2222"), "{rules_text}");
    assert_eq!(
        ids(
            &api.ok("listPortForwardingRules", &[]),
            "portforwardingrule"
        ),
        before.1
    );
    eprintln!("whole test: {} s", started.elapsed().as_secs());
}
