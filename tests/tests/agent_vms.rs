//! The agent half of deploying a VM, end to end on a simulated host (its own libvirtd,
//! TCG guests) with an NFS test server (nfs-ganesha), driving the real `stratus-agent`'s
//! HTTPS command API directly with a client certificate (mutual TLS, a throwaway CA).
//!
//! The guest network (bridge + dnsmasq with a static lease) is set up, a VM whose root
//! disk is a qcow2 made with `qemu-img create nfs://…` and whose CD-ROM is iPXE on NFS is
//! made so (twice: one domain), iPXE gets exactly the leased address, its console shows
//! up in `virsh screenshot`, the ISO is ejected and inserted again (`virsh domblklist`),
//! a missing ISO or root disk is refused with a clear text and leaves nothing, stop
//! (graceful → forced after the timeout, and forced), start, reboot (a new QEMU) and
//! destroy are each checked in libvirt, the VM's VNC console answers through the agent's
//! console tunnel (404 for an unknown VM, 409 once stopped), and after teardown nothing
//! is left: no domain, no dnsmasq, no bridge. Needs root (namespaces).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::{json, Value};
use stratus_api::agent::api as paths;
use stratus_tests::{running, wait_for, workspace_binary, workspace_root, NfsServer, SimHost};
use uuid::Uuid;

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const HOST_INDEX: u8 = 240;
const NFS_INDEX: u8 = 250;
const MAC: &str = "52:54:00:0a:f0:01";
const GUEST_IP: &str = "192.168.240.50";

struct Pem {
    cert: String,
    key: String,
}

/// A throwaway CA with the agent's server certificate (for its address) and a
/// management server's client certificate.
fn certificates(agent_ip: IpAddr) -> (String, Pem, Pem) {
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "agent_vms test CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = p.self_signed(&ca_key).unwrap();
    let issue = |cn: &str, sans: Vec<SanType>, usage| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.subject_alt_names = sans;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    };
    let server = issue(
        "stratus-agent",
        vec![SanType::IpAddress(agent_ip)],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let client = issue(
        "stratus-management",
        vec![],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    (ca.pem(), server, client)
}

/// The real agent, running inside the simulated host; killed on drop.
struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn start(host: &SimHost, config: &Path, log: &Path) -> Agent {
        let child = Command::new(workspace_root().join("tests/testbed/simhost.sh"))
            .args(["exec", &host.name])
            .arg(host.state.parent().unwrap())
            .arg(workspace_binary("stratus-agent"))
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::options().append(true).open(log).unwrap())
            .spawn()
            .unwrap();
        Agent {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The management side: an HTTPS client with the client certificate.
struct Api {
    http: reqwest::blocking::Client,
    base: String,
}

impl Api {
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, body);
        assert_eq!(status, 200, "{method} {path}: {v}");
        v
    }
}

/// What the console tunnel gave: the agent's status, and on `101` the VNC server's
/// greeting and the security types it offers (the test answers the greeting, so bytes
/// flow both ways).
#[derive(Debug)]
struct Tunnel {
    status: u16,
    greeting: Vec<u8>,
    security_types: Vec<u8>,
    error: String,
}

/// Opens the VM's console tunnel on the agent (an HTTP/1.1 upgrade to `stratus-vnc` over
/// the mutual-TLS API, as the management server does) and speaks the start of RFB.
fn console_tunnel(ca: &str, client: &Pem, base: &str, id: Uuid) -> Tunnel {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let identity =
            reqwest::Identity::from_pem(format!("{}\n{}", client.cert, client.key).as_bytes())
                .unwrap();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
            .identity(identity)
            .build()
            .unwrap();
        let resp = http
            .get(format!("{base}{}", paths::vm_console(id)))
            .header("connection", "upgrade")
            .header("upgrade", paths::CONSOLE_UPGRADE)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        if status != 101 {
            let v: Value = resp.json().await.unwrap_or_default();
            return Tunnel {
                status,
                greeting: vec![],
                security_types: vec![],
                error: v["error"].as_str().unwrap_or_default().to_string(),
            };
        }
        let mut io = resp.upgrade().await.unwrap();
        let read = async {
            let mut greeting = [0u8; 12];
            io.read_exact(&mut greeting).await?;
            io.write_all(b"RFB 003.008\n").await?;
            let n = io.read_u8().await?;
            let mut types = vec![0u8; n as usize];
            io.read_exact(&mut types).await?;
            std::io::Result::Ok((greeting.to_vec(), types))
        };
        let (greeting, security_types) = tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("the VNC server answers through the tunnel in time")
            .unwrap();
        Tunnel {
            status,
            greeting,
            security_types,
            error: String::new(),
        }
    })
}

fn domstate(host: &SimHost, id: Uuid) -> String {
    host.virsh(&["domstate", &id.to_string()])
        .trim()
        .to_string()
}

fn domid(host: &SimHost, id: Uuid) -> String {
    host.virsh(&["domid", &id.to_string()]).trim().to_string()
}

/// `virsh domblklist`'s source for a target (`-` when empty).
fn blk_source(host: &SimHost, id: Uuid, target: &str) -> String {
    host.virsh(&["domblklist", &id.to_string()])
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(target)).then(|| w.next().unwrap_or_default().to_string())
        })
        .unwrap_or_else(|| panic!("no {target} in domblklist"))
}

fn domain_uuids(host: &SimHost) -> Vec<String> {
    host.virsh(&["list", "--all", "--uuid"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn agent_makes_vms_and_guest_networks_so() {
    assert!(
        Path::new(IPXE).exists(),
        "{IPXE} is missing: scripts/test installs ipxe"
    );
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("primary");
    std::fs::create_dir_all(export.join("iso")).unwrap();
    std::fs::copy(IPXE, export.join("iso/ipxe.iso")).unwrap();
    let nfs = NfsServer::up("avnfs", NFS_INDEX, &tmp.path().join("nfs"), &[&export]);
    let host = SimHost::up("avh", HOST_INDEX, "secret", &tmp.path().join("hosts"));

    // The root volume, as the management server makes it: qemu-img over nfs://.
    let root_url = format!("{}/ROOT-1.qcow2", nfs.url(&export));
    let out = Command::new("qemu-img")
        .args(["create", "-f", "qcow2", &root_url, "1G"])
        .output()
        .unwrap();
    assert!(out.status.success(), "qemu-img create {root_url}: {out:?}");
    assert!(export.join("ROOT-1.qcow2").exists());

    // The agent on the host, its command API on the host's address.
    let agent_ip: IpAddr = host.address.parse().unwrap();
    let (ca, server, client) = certificates(agent_ip);
    let etc = tmp.path().join("agent-etc");
    std::fs::create_dir_all(&etc).unwrap();
    for (name, text) in [
        ("ca.crt", &ca),
        ("agent.crt", &server.cert),
        ("agent.key", &server.key),
    ] {
        std::fs::write(etc.join(name), text).unwrap();
    }
    let port = stratus_api::agent::api::DEFAULT_PORT;
    let config = etc.join("agent.properties");
    let etc_dir = etc.display();
    std::fs::write(
        &config,
        format!(
            "host_id = {}\ntoken = t\nmanagement_urls = http://127.0.0.1:9\n\
             heartbeat_interval = 3600\nlibvirt_uri = qemu:///system\nacceleration = qemu\n\
             api_listen = {agent_ip}:{port}\ntls_cert = {etc_dir}/agent.crt\n\
             tls_key = {etc_dir}/agent.key\nca_cert = {etc_dir}/ca.crt\n",
            Uuid::new_v4()
        ),
    )
    .unwrap();
    let agent = Agent::start(&host, &config, &tmp.path().join("agent.log"));
    let identity =
        reqwest::Identity::from_pem(format!("{}\n{}", client.cert, client.key).as_bytes()).unwrap();
    let api = Api {
        http: reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
            .identity(identity)
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
        base: format!("https://{agent_ip}:{port}"),
    };
    wait_for("the agent's command API", 30, || {
        api.http
            .get(format!("{}{}", api.base, paths::FACTS))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });

    // The guest network: bridge + dnsmasq with the VM's static lease.
    let net_dir = host.state.join("agent/networks/cloudbr0");
    let network = |leases: Value| {
        json!({"bridge": "cloudbr0", "gateway": "192.168.240.1", "prefix_len": 24,
               "dns": ["192.0.2.53"], "leases": leases})
    };
    let lease = json!({"mac": MAC, "ip": GUEST_IP, "hostname": "vm-1"});
    let n = api.ok(
        reqwest::Method::PUT,
        &paths::network("cloudbr0"),
        Some(network(json!([lease]))),
    );
    let dnsmasq = n["dnsmasq_pid"].as_i64().expect("dnsmasq runs") as i32;
    assert!(running(dnsmasq));
    let again = api.ok(
        reqwest::Method::PUT,
        &paths::network("cloudbr0"),
        Some(network(json!([lease]))),
    );
    assert_eq!(again["dnsmasq_pid"], n["dnsmasq_pid"], "idempotent");
    let link = host.exec(&["ip", "-o", "addr", "show", "dev", "cloudbr0"]);
    assert!(
        String::from_utf8_lossy(&link.stdout).contains("192.168.240.1/24"),
        "{link:?}"
    );

    // The VM.
    let id = Uuid::new_v4();
    let nfs_file = |path: &str| json!({"server": nfs.address, "export": export.display().to_string(), "path": path});
    let spec = json!({
        "id": id, "name": "i-2-1-VM", "vcpus": 1, "cpu_mhz": 500, "memory_mib": 128,
        "acceleration": "qemu",
        "root_disk": {"file": nfs_file("ROOT-1.qcow2"), "format": "qcow2",
                      "virtual_size_bytes": 1u64 << 30},
        "iso": nfs_file("iso/ipxe.iso"),
        "nics": [{"mac": MAC, "bridge": "cloudbr0", "model": "virtio"}],
        "console_password": "pw123456"
    });
    let st = api.ok(reqwest::Method::PUT, &paths::vm(id), Some(spec.clone()));
    assert_eq!(st["state"], "running", "{st}");
    let vnc = st["vnc_port"].as_u64().expect("a VNC port");
    assert!(vnc >= 5900, "{st}");
    assert_eq!(domstate(&host, id), "running");
    let iso_path = format!("{}/iso/ipxe.iso", export.display());
    assert_eq!(blk_source(&host, id, "hdc"), iso_path);
    assert_eq!(
        blk_source(&host, id, "vda"),
        format!("{}/ROOT-1.qcow2", export.display())
    );
    let xml = host.virsh(&["dumpxml", &id.to_string()]);
    assert!(xml.contains("<domain type='qemu'"), "TCG");
    // Applying again: still one domain, the same QEMU.
    let first_qemu = domid(&host, id);
    let st2 = api.ok(reqwest::Method::PUT, &paths::vm(id), Some(spec.clone()));
    assert_eq!(st2["vnc_port"], st["vnc_port"]);
    assert_eq!(domid(&host, id), first_qemu);
    assert_eq!(domain_uuids(&host), vec![id.to_string()]);

    // iPXE asks DHCP: the lease file shows exactly the allocated address.
    let leases = net_dir.join("leases");
    let started = Instant::now();
    wait_for("the guest's DHCP lease", 45, || {
        let text = std::fs::read_to_string(&leases).unwrap_or_default();
        text.lines()
            .find(|l| l.contains(MAC))
            .map(|l| assert!(l.contains(&format!("{MAC} {GUEST_IP} vm-1")), "{text}"))
    });
    eprintln!("lease after {:?}", started.elapsed());
    // Its console (the iPXE banner and the address it got).
    std::thread::sleep(Duration::from_secs(3));
    let png = tmp.path().join("console.png");
    host.virsh(&["screenshot", &id.to_string(), png.to_str().unwrap()]);
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
    if let Ok(dir) = std::env::var("STRATUS_SCREENSHOT_DIR") {
        std::fs::copy(&png, Path::new(&dir).join("agent_vms-console.png")).unwrap();
    }

    // Its VNC console through the agent's tunnel: the RFB greeting, and (after our
    // answer) VNC authentication, since the VM has a console password. Twice: each
    // tunnel is a connection of its own.
    for _ in 0..2 {
        let t = console_tunnel(&ca, &client, &api.base, id);
        assert_eq!(t.status, 101, "{t:?}");
        assert_eq!(t.greeting, b"RFB 003.008\n", "{t:?}");
        assert_eq!(t.security_types, vec![2], "VNC authentication only: {t:?}");
    }
    let unknown = console_tunnel(&ca, &client, &api.base, Uuid::new_v4());
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert!(unknown.error.contains("no VM"), "{unknown:?}");

    // A second lease: the same dnsmasq re-reads its hosts file (SIGHUP).
    let lease2 = json!({"mac": "52:54:00:0a:f0:02", "ip": "192.168.240.51"});
    let n2 = api.ok(
        reqwest::Method::PUT,
        &paths::network("cloudbr0"),
        Some(network(json!([lease, lease2]))),
    );
    assert_eq!(n2["dnsmasq_pid"], n["dnsmasq_pid"]);
    assert_eq!(n2["leases"], 2);
    let hosts = std::fs::read_to_string(net_dir.join("hosts")).unwrap();
    assert_eq!(
        hosts,
        format!("{MAC},{GUEST_IP},vm-1\n52:54:00:0a:f0:02,192.168.240.51\n")
    );
    // (dnsmasq names the file by its path on the host.)
    let hosts_path = "read /var/lib/stratus-agent/networks/cloudbr0/hosts";
    let log_path = net_dir.join("dnsmasq.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.matches(hosts_path).count() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dnsmasq did not re-read its hosts file once more: {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A second network has its own dnsmasq, next to the first.
    let n3 = api.ok(
        reqwest::Method::PUT,
        &paths::network("cloudbr1"),
        Some(
            json!({"bridge": "cloudbr1", "gateway": "192.168.241.1", "prefix_len": 24,
                    "leases": [{"mac": "52:54:00:0a:f1:01", "ip": "192.168.241.10"}]}),
        ),
    );
    let other = n3["dnsmasq_pid"].as_i64().unwrap() as i32;
    assert!(other != dnsmasq && running(other) && running(dnsmasq));

    // ISO: eject, insert, a missing one refused.
    let st = api.ok(reqwest::Method::DELETE, &paths::vm_iso(id), None);
    assert_eq!(st["iso"], Value::Null);
    assert_eq!(blk_source(&host, id, "hdc"), "-");
    let st = api.ok(
        reqwest::Method::POST,
        &paths::vm_iso(id),
        Some(nfs_file("iso/ipxe.iso")),
    );
    assert_eq!(
        st["iso"],
        format!("nfs://{}{}", nfs.address, iso_path),
        "{st}"
    );
    assert_eq!(blk_source(&host, id, "hdc"), iso_path);
    let (status, e) = api.call(
        reqwest::Method::POST,
        &paths::vm_iso(id),
        Some(nfs_file("iso/missing.iso")),
    );
    assert_eq!(status, 422, "{e}");
    let text = e["error"].as_str().unwrap();
    assert!(
        text.starts_with(&format!(
            "ISO not found on NFS server {}: {}/iso/missing.iso",
            nfs.address,
            export.display()
        )),
        "{text}"
    );
    assert_eq!(blk_source(&host, id, "hdc"), iso_path, "unchanged");
    let inactive = host.virsh(&["domblklist", &id.to_string(), "--inactive"]);
    assert!(inactive.contains(&iso_path), "{inactive}");

    // Stop: iPXE ignores ACPI, so the graceful stop is forced after its timeout.
    let t = Instant::now();
    let stopped = api.ok(
        reqwest::Method::POST,
        &paths::vm_stop(id),
        Some(json!({"timeout_secs": 3})),
    );
    assert_eq!(stopped["status"]["state"], "shutoff", "{stopped}");
    assert_eq!(stopped["forced"], true, "{stopped}");
    assert!(t.elapsed() >= Duration::from_secs(3));
    assert_eq!(domstate(&host, id), "shut off");
    assert_eq!(stopped["status"]["vnc_port"], Value::Null);
    // Start = the spec again.
    let st = api.ok(reqwest::Method::PUT, &paths::vm(id), Some(spec.clone()));
    assert_eq!(st["state"], "running");
    assert_eq!(domstate(&host, id), "running");
    let stopped = api.ok(
        reqwest::Method::POST,
        &paths::vm_stop(id),
        Some(json!({"forced": true})),
    );
    assert_eq!(stopped["forced"], true);
    assert_eq!(domstate(&host, id), "shut off");
    // A stopped VM has no console.
    let t = console_tunnel(&ca, &client, &api.base, id);
    assert_eq!(t.status, 409, "{t:?}");
    assert!(t.error.contains("is shutoff"), "{t:?}");
    api.ok(reqwest::Method::PUT, &paths::vm(id), Some(spec.clone()));
    let before = domid(&host, id);
    let st = api.ok(
        reqwest::Method::POST,
        &paths::vm_reboot(id),
        Some(json!({"forced": true})),
    );
    assert_eq!(st["state"], "running");
    let after = domid(&host, id);
    assert_ne!(before, after, "a reboot starts a new QEMU");
    assert_eq!(domstate(&host, id), "running");

    // A VM whose root disk is missing: refused, nothing left.
    let bad_id = Uuid::new_v4();
    let mut bad = spec.clone();
    bad["id"] = json!(bad_id);
    bad["name"] = json!("i-2-2-VM");
    bad["root_disk"]["file"] = nfs_file("ROOT-missing.qcow2");
    bad["nics"] = json!([]);
    let (status, e) = api.call(reqwest::Method::PUT, &paths::vm(bad_id), Some(bad));
    assert_eq!(status, 422, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("root disk not found on NFS server"),
        "{e}"
    );
    assert_eq!(domain_uuids(&host), vec![id.to_string()]);

    // Destroy: no domain left; twice is fine.
    let d = api.ok(reqwest::Method::DELETE, &paths::vm(id), None);
    assert_eq!(d["existed"], true);
    assert!(domain_uuids(&host).is_empty());
    let d = api.ok(reqwest::Method::DELETE, &paths::vm(id), None);
    assert_eq!(d["existed"], false);
    let (status, _) = api.call(reqwest::Method::GET, &paths::vm(id), None);
    assert_eq!(status, 404);

    // The last lease goes: dnsmasq stops. Teardown: the bridges go.
    let n = api.ok(
        reqwest::Method::PUT,
        &paths::network("cloudbr0"),
        Some(network(json!([]))),
    );
    assert_eq!(n["dnsmasq_pid"], Value::Null);
    wait_for("dnsmasq to stop", 10, || (!running(dnsmasq)).then_some(()));
    for br in ["cloudbr0", "cloudbr1"] {
        let r = api.ok(reqwest::Method::DELETE, &paths::network(br), None);
        assert_eq!(r["existed"], true);
        assert!(
            !host.exec(&["ip", "link", "show", br]).status.success(),
            "{br} is gone"
        );
    }
    assert!(!running(other));
    assert!(!host.state.join("agent/networks/cloudbr0").exists());
    let log = agent.log();
    assert!(!log.contains("panicked"), "{log}");
    drop(agent);
    drop(host);
    drop(nfs);
}

/// Starts the real agent on `host` with a throwaway CA; answers it and its API client.
fn start_agent(host: &SimHost, dir: &Path) -> (Agent, Api, PathBuf) {
    let agent_ip: IpAddr = host.address.parse().unwrap();
    let (ca, server, client) = certificates(agent_ip);
    let etc = dir.join("agent-etc");
    std::fs::create_dir_all(&etc).unwrap();
    for (name, text) in [
        ("ca.crt", &ca),
        ("agent.crt", &server.cert),
        ("agent.key", &server.key),
    ] {
        std::fs::write(etc.join(name), text).unwrap();
    }
    let port = stratus_api::agent::api::DEFAULT_PORT;
    let config = etc.join("agent.properties");
    let etc_dir = etc.display();
    std::fs::write(
        &config,
        format!(
            "host_id = {}\ntoken = t\nmanagement_urls = http://127.0.0.1:9\n\
             heartbeat_interval = 3600\nlibvirt_uri = qemu:///system\nacceleration = qemu\n\
             api_listen = {agent_ip}:{port}\ntls_cert = {etc_dir}/agent.crt\n\
             tls_key = {etc_dir}/agent.key\nca_cert = {etc_dir}/ca.crt\n",
            Uuid::new_v4()
        ),
    )
    .unwrap();
    let agent = Agent::start(host, &config, &dir.join("agent.log"));
    let identity =
        reqwest::Identity::from_pem(format!("{}\n{}", client.cert, client.key).as_bytes()).unwrap();
    let api = Api {
        http: reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
            .identity(identity)
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
        base: format!("https://{agent_ip}:{port}"),
    };
    wait_for_api(&api);
    (agent, api, config)
}

fn wait_for_api(api: &Api) {
    wait_for("the agent's command API", 30, || {
        api.http
            .get(format!("{}{}", api.base, paths::FACTS))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
}

/// A file of the config drive, read with isoinfo's Joliet reader.
fn drive_file(drive: &Path, path: &str) -> String {
    let out = Command::new("isoinfo")
        .args(["-J", "-i"])
        .arg(drive)
        .args(["-x", path])
        .output()
        .expect("isoinfo (scripts/lib/deps.sh ensure_iso_tools)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl inside the host from `source` (an address on the host; empty: any): (HTTP
/// status, body; 0 when nothing answered).
fn curl_from(host: &SimHost, source: &str, url: &str, header: Option<&str>) -> (u16, String) {
    let mut args = vec!["curl", "-s", "-m", "10", "-w", "\n%{http_code}"];
    if !source.is_empty() {
        args.extend(["--interface", source]);
    }
    if let Some(h) = header {
        args.extend(["-H", h]);
    }
    args.push(url);
    let out = host.exec(&args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Guest data on the test bed: the config drive is the domain's second CD-ROM (hdd) while
/// the ISO keeps hdc, QEMU (libvirt-qemu, no relabelling on the test bed) reads it, its
/// files are what the guest should see, a new PUT /guest is a live media change to a new
/// file (the old one removed), and DELETE removes it. The metadata and password services
/// answer on the bridge address for a client bound to the VM's leased address (added to
/// the host's bridge, so the source address is the lease's), refuse other sources, and keep
/// answering (acknowledged password included) after an agent restart.
#[test]
fn agent_gives_guests_their_data() {
    const MAC: &str = "52:54:00:0a:f2:01";
    const IP: &str = "192.168.242.50";
    const BRIDGE_IP: &str = "192.168.242.1";
    assert!(
        Path::new(IPXE).exists(),
        "{IPXE} is missing: scripts/test installs ipxe"
    );
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("primary");
    std::fs::create_dir_all(export.join("iso")).unwrap();
    std::fs::copy(IPXE, export.join("iso/ipxe.iso")).unwrap();
    let nfs = NfsServer::up("agnfs", 243, &tmp.path().join("nfs"), &[&export]);
    let host = SimHost::up("agh", 242, "secret", &tmp.path().join("hosts"));
    let root_url = format!("{}/ROOT-1.qcow2", nfs.url(&export));
    let out = Command::new("qemu-img")
        .args(["create", "-f", "qcow2", &root_url, "1G"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (agent, api, config) = start_agent(&host, tmp.path());

    let network = json!({"bridge": "cloudbr0", "gateway": BRIDGE_IP, "prefix_len": 24,
        "leases": [{"mac": MAC, "ip": IP, "hostname": "vm-1"}]});
    api.ok(
        reqwest::Method::PUT,
        &paths::network("cloudbr0"),
        Some(network.clone()),
    );

    let id = Uuid::new_v4();
    let nfs_file = |path: &str| json!({"server": nfs.address, "export": export.display().to_string(), "path": path});
    let guest = json!({
        "hostname": "vm-1", "display_name": "My VM", "zone_name": "zone1",
        "service_offering": "Small Instance",
        "public_keys": [{"name": "mykey", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@host"}],
        // "#cloud-config\nhostname: vm-1\n"
        "user_data_base64": "I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogdm0tMQo=",
        "password": "s3cret-Pw",
        "nics": [{"mac": MAC, "ip": IP, "prefix_len": 24, "gateway": BRIDGE_IP, "dns": [], "is_default": true}]
    });
    let spec = json!({
        "id": id, "name": "i-2-1-VM", "vcpus": 1, "cpu_mhz": 500, "memory_mib": 128,
        "acceleration": "qemu",
        "root_disk": {"file": nfs_file("ROOT-1.qcow2"), "format": "qcow2", "virtual_size_bytes": 1u64 << 30},
        "iso": nfs_file("iso/ipxe.iso"),
        "nics": [{"mac": MAC, "bridge": "cloudbr0"}],
        "guest": guest
    });
    let st = api.ok(reqwest::Method::PUT, &paths::vm(id), Some(spec.clone()));
    assert_eq!(st["state"], "running", "{st}");
    let drive = st["config_drive"]
        .as_str()
        .expect("a config drive")
        .to_string();
    let prefix = format!("/var/lib/stratus-agent/guests/{id}/config-");
    assert!(drive.starts_with(&prefix), "{drive}");
    assert_eq!(blk_source(&host, id, "hdd"), drive);
    assert_eq!(
        blk_source(&host, id, "hdc"),
        format!("{}/iso/ipxe.iso", export.display())
    );
    let xml = host.virsh(&["dumpxml", &id.to_string()]);
    assert!(
        xml.find("<boot dev='cdrom'/>") < xml.find("<boot dev='hd'/>"),
        "{xml}"
    );
    // The file as QEMU sees it: root's, readable by QEMU's group, not by others.
    let local = host
        .state
        .join("agent/guests")
        .join(id.to_string())
        .join(Path::new(&drive).file_name().unwrap());
    let stat = host.exec(&["stat", "-c", "%a %U %G", &drive]);
    let stat = String::from_utf8_lossy(&stat.stdout).trim().to_string();
    eprintln!("config drive {drive}: mode, owner, group {stat}");
    assert!(
        stat == "640 root libvirt-qemu" || stat == "644 root root",
        "{stat}"
    );
    let md: Value =
        serde_json::from_str(&drive_file(&local, "/openstack/latest/meta_data.json")).unwrap();
    assert_eq!(md["uuid"], id.to_string());
    assert_eq!(md["hostname"], "vm-1");
    assert_eq!(
        md["public_keys"]["mykey"],
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@host"
    );
    assert_eq!(
        drive_file(&local, "/openstack/latest/user_data"),
        "#cloud-config\nhostname: vm-1\n"
    );
    assert_eq!(
        drive_file(&local, "/cloudstack/userdata/user_data.txt"),
        "#cloud-config\nhostname: vm-1\n"
    );
    assert_eq!(
        drive_file(&local, "/cloudstack/password/vm_password.txt"),
        "s3cret-Pw"
    );
    assert_eq!(
        drive_file(&local, "/cloudstack/metadata/availability-zone.txt"),
        "zone1"
    );
    let nd: Value =
        serde_json::from_str(&drive_file(&local, "/openstack/latest/network_data.json")).unwrap();
    assert_eq!(nd["links"][0]["ethernet_mac_address"], MAC);
    // PUT again: the same drive, the same QEMU.
    let qemu = domid(&host, id);
    let again = api.ok(reqwest::Method::PUT, &paths::vm(id), Some(spec.clone()));
    assert_eq!(again["config_drive"], drive.as_str());
    assert_eq!(domid(&host, id), qemu);

    // The services, asked from the VM's address (on the host's bridge for the test).
    let ok = host.exec(&["ip", "addr", "add", &format!("{IP}/32"), "dev", "cloudbr0"]);
    assert!(ok.status.success(), "{ok:?}");
    let md_url = |p: &str| format!("http://{BRIDGE_IP}{p}");
    let pw_url = format!("http://{BRIDGE_IP}:8080/");
    assert_eq!(
        curl_from(&host, IP, &md_url("/latest/meta-data/instance-id"), None),
        (200, id.to_string())
    );
    let (code, index) = curl_from(&host, IP, &md_url("/latest/meta-data/"), None);
    assert_eq!(code, 200);
    for key in [
        "service-offering",
        "availability-zone",
        "local-ipv4",
        "public-keys",
        "vm-id",
    ] {
        assert!(index.lines().any(|l| l == key), "{key}: {index}");
    }
    assert_eq!(
        curl_from(&host, IP, &md_url("/latest/meta-data/local-ipv4"), None),
        (200, IP.into())
    );
    assert_eq!(
        curl_from(&host, IP, &md_url("/latest/user-data"), None),
        (200, "#cloud-config\nhostname: vm-1\n".into())
    );
    // The bridge's own address is no lease: nothing.
    assert_eq!(
        curl_from(
            &host,
            BRIDGE_IP,
            &md_url("/latest/meta-data/instance-id"),
            None
        )
        .0,
        404
    );
    let send = Some("DomU_Request: send_my_password");
    let saved = Some("DomU_Request: saved_password");
    assert_eq!(
        curl_from(&host, IP, &pw_url, send),
        (200, "s3cret-Pw".into())
    );
    assert_eq!(curl_from(&host, BRIDGE_IP, &pw_url, send).0, 404);
    assert_eq!(
        curl_from(&host, IP, &pw_url, Some("DomU_Request: x")),
        (400, "bad_request".into())
    );
    assert_eq!(
        curl_from(&host, IP, &pw_url, saved),
        (200, "saved_password".into())
    );
    assert_eq!(
        curl_from(&host, IP, &pw_url, send),
        (200, "saved_password".into())
    );

    // An agent restart: the services answer again, the password stays saved.
    drop(agent);
    let agent = Agent::start(&host, &config, &tmp.path().join("agent2.log"));
    wait_for_api(&api);
    wait_for("the metadata service after a restart", 20, || {
        let r = curl_from(&host, IP, &md_url("/latest/meta-data/vm-id"), None);
        (r.0 == 200).then_some(r)
    });
    assert_eq!(
        curl_from(&host, IP, &pw_url, send),
        (200, "saved_password".into())
    );

    // New guest data: a new drive, changed live; the old file goes.
    let mut g2 = spec["guest"].clone();
    g2["zone_name"] = json!("zone2");
    g2["password"] = json!("n3w-Pw");
    let st = api.ok(reqwest::Method::PUT, &paths::vm_guest(id), Some(g2));
    let drive2 = st["config_drive"].as_str().unwrap().to_string();
    assert_ne!(drive2, drive);
    assert_eq!(blk_source(&host, id, "hdd"), drive2, "a live media change");
    assert!(!local.exists(), "the old drive is removed");
    let local2 = local.with_file_name(Path::new(&drive2).file_name().unwrap());
    assert_eq!(
        drive_file(&local2, "/cloudstack/metadata/availability-zone.txt"),
        "zone2"
    );
    assert_eq!(
        drive_file(&local2, "/cloudstack/password/vm_password.txt"),
        "n3w-Pw"
    );
    let inactive = host.virsh(&["domblklist", &id.to_string(), "--inactive"]);
    assert!(inactive.contains(&drive2), "{inactive}");
    assert_eq!(
        curl_from(
            &host,
            IP,
            &md_url("/latest/meta-data/availability-zone"),
            None
        ),
        (200, "zone2".into())
    );
    assert_eq!(curl_from(&host, IP, &pw_url, send), (200, "n3w-Pw".into()));
    // A PUT of the spec with changed guest data does the same (the running VM keeps its
    // QEMU).
    let mut spec3 = spec.clone();
    spec3["guest"]["zone_name"] = json!("zone3");
    let st = api.ok(reqwest::Method::PUT, &paths::vm(id), Some(spec3));
    let drive3 = st["config_drive"].as_str().unwrap().to_string();
    assert_ne!(drive3, drive2);
    assert_eq!(blk_source(&host, id, "hdd"), drive3, "a live media change");
    assert_eq!(domid(&host, id), qemu);
    assert!(!local2.exists(), "the previous drive is removed");
    let local3 = local.with_file_name(Path::new(&drive3).file_name().unwrap());
    assert_eq!(
        drive_file(&local3, "/cloudstack/metadata/availability-zone.txt"),
        "zone3"
    );
    let (status, e) = api.call(
        reqwest::Method::PUT,
        &paths::vm_guest(Uuid::new_v4()),
        Some(spec["guest"].clone()),
    );
    assert_eq!(status, 404, "{e}");

    // Destroyed: the drive and the data go; the services forget the VM.
    api.ok(reqwest::Method::DELETE, &paths::vm(id), None);
    assert!(!host
        .state
        .join("agent/guests")
        .join(id.to_string())
        .exists());
    assert_eq!(
        curl_from(&host, IP, &md_url("/latest/meta-data/vm-id"), None).0,
        404
    );
    // The network goes: so do its services.
    api.ok(reqwest::Method::DELETE, &paths::network("cloudbr0"), None);
    assert_eq!(
        curl_from(&host, "", &md_url("/latest/"), None).0,
        0,
        "nothing listens"
    );
    let log = agent.log();
    assert!(!log.contains("panicked"), "{log}");
    drop(agent);
    drop(host);
    drop(nfs);
}
