//! Virtual routers of isolated guest networks (issue 15), each a Linux network namespace
//! the agent manages, and (with [`crate::segment`]) the guest segments, the untagged,
//! VLAN or VXLAN host bridges their guests and routers sit on.
//!
//! Why a namespace and not CloudStack's router VM: a router is a gateway address, DHCP
//! and DNS, NAT and a firewall, all of which the host's kernel does natively. A namespace
//! (`stratus-<name>`) costs no memory for a guest OS, no system VM template, no boot and
//! no agent inside a VM to talk to; it is made or changed in milliseconds and cannot be
//! reached from the guests except through its two legs. The guest leg is a veth pair
//! (`<name>-g` on the host, in the guest segment's bridge; `eth0` in the namespace, the
//! guests' gateway); the public leg (`<name>-p` / `eth1`) holds the network's public
//! addresses and the default route. Inside: `ip_forward`, a dnsmasq bound to `eth0`
//! (static leases only, DNS for the guests' names, forwarding to the given resolvers),
//! and one nftables table (`inet stratus_router`) with source NAT, static NAT, port
//! forwarding, the ingress firewall of the public addresses (new connections are dropped
//! unless a rule allows them, as CloudStack's) and the egress policy.
//!
//! Idempotent ("make it so"): [`Routers::apply`] compares what exists with the spec and
//! changes only the difference: the namespace and veths are made if missing, addresses
//! reconciled, the nftables table replaced in one `nft -f` transaction only when its text
//! changed, dnsmasq sent SIGHUP when only its leases or names changed and restarted only
//! when its command line did. The same spec twice changes nothing; a changed spec never
//! restarts the namespace (established connections survive).
//!
//! What survives: everything is kernel state or a daemonised dnsmasq, so an agent restart
//! leaves the routers routing. Each router's directory under `layout::ROUTERS` holds the
//! spec last applied (`spec.json`), what the agent made (`state.json`), the nftables file
//! and dnsmasq's files (the pid file: dnsmasq is stopped by that PID, and only if the
//! process is the one started with that file). [`Routers::restore`] applies every stored
//! spec again when the agent starts (after ensuring every recorded segment again), which
//! rebuilds the segments and routers a host reboot took away. The segments the agent made are recorded in `.segments/` ([`crate::segment`]), so
//! [`Routers::remove_segment`] deletes only what the agent made, and only once nothing
//! else (a VM's tap, a router's veth) is attached.
//!
//! On VXLAN segments the guest leg gets the segment's MTU (the label's less 50) and
//! dnsmasq hands it to the guests (option 26, `--dhcp-option=option:mtu`); every leg
//! gets its segment's MTU, which on untagged and VLAN segments is the label's.
//!
//! The commands are blocking: callers run them off the async runtime. Commands are run
//! with `ip -n` / `ip netns exec`, never by entering namespaces in the agent's threads,
//! and the host's links are read with `ip -j` (not `/sys`), so the same code works when
//! the "host" is itself a namespace (the root tests).

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stratus_api::agent::StaticLease;
use stratus_api::router::{
    router_namespace, validate_router_name, GuestSegment, Ipv4Net, RouterSpec, RouterStatus,
    RuleProtocol, SegmentRemoved, SegmentStatus,
};

use crate::error::{Error, Result};

/// The nftables table of a router (inside its namespace).
pub const TABLE: &str = "stratus_router";
/// The router's legs inside its namespace.
pub const GUEST_IF: &str = "eth0";
pub const PUBLIC_IF: &str = "eth1";

pub(crate) fn err(what: impl std::fmt::Display) -> Error {
    Error::Router(what.to_string())
}

/// The host end of router `name`'s guest veth.
pub fn guest_veth(name: &str) -> String {
    format!("{name}-g")
}

/// The host end of router `name`'s public veth.
pub fn public_veth(name: &str) -> String {
    format!("{name}-p")
}

/// Runs a command; its stderr becomes the error; its stdout is returned.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(format!("running {cmd:?}: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    output(cmd).map(|_| ())
}

pub(crate) fn ip(args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(args))
}

/// `ip -n NS args` (no namespace: the agent's own).
fn ip_in(ns: Option<&str>, args: &[&str]) -> Result<()> {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    run(c.args(args))
}

/// One link, as `ip -j -d link show` describes it; None if there is no such link.
pub(crate) fn link(ns: Option<&str>, dev: &str) -> Option<serde_json::Value> {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    let out = c
        .args(["-j", "-d", "link", "show", "dev", dev])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.as_array()?.first().cloned()
}

pub(crate) fn link_kind(l: &serde_json::Value) -> Option<&str> {
    l.get("linkinfo")?.get("info_kind")?.as_str()
}

pub(crate) fn link_str<'a>(l: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    l.get(key)?.as_str()
}

/// The interfaces attached to bridge `br`.
pub(crate) fn bridge_ports(br: &str) -> Vec<String> {
    let Ok(out) = Command::new("ip")
        .args(["-j", "link", "show", "master", br])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return vec![];
    };
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|l| link_str(l, "ifname").map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// The IPv4 addresses (`A.B.C.D/P`) of `dev` in `ns`.
fn addresses(ns: &str, dev: &str) -> Result<Vec<String>> {
    let out = output(Command::new("ip").args(["-n", ns, "-j", "-4", "addr", "show", "dev", dev]))?;
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| err(format!("ip -j addr: {e}")))?;
    let mut found = vec![];
    for l in v.as_array().into_iter().flatten() {
        for a in l
            .get("addr_info")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
        {
            if let (Some(local), Some(p)) = (
                a.get("local").and_then(|x| x.as_str()),
                a.get("prefixlen").and_then(|x| x.as_u64()),
            ) {
                found.push(format!("{local}/{p}"));
            }
        }
    }
    Ok(found)
}

fn namespace_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

/// Writes `path` whole or not at all (readable by dnsmasq after it dropped root).
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("new");
    let mut f = std::fs::File::create(&tmp).map_err(|e| err(format!("{}: {e}", tmp.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.set_permissions(std::fs::Permissions::from_mode(0o644)))
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| err(format!("{}: {e}", path.display())))
}

// dnsmasq is stopped and probed as network.rs does it.
use crate::network::{alive, signal};

// ---------------------------------------------------------------------------------------
// Rendering (pure).

fn set_of(nets: &[Ipv4Net]) -> Option<String> {
    if nets.is_empty() || nets.iter().any(|n| n.is_any()) {
        return None;
    }
    let items: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
    Some(format!("{{ {} }}", items.join(", ")))
}

fn port_range(a: u16, b: u16) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// The protocol part of a firewall or egress rule.
fn l4_match(
    protocol: RuleProtocol,
    start: Option<u16>,
    end: Option<u16>,
    icmp_type: Option<i32>,
    icmp_code: Option<i32>,
) -> String {
    match protocol {
        RuleProtocol::All => String::new(),
        RuleProtocol::Tcp | RuleProtocol::Udp => {
            let p = if protocol == RuleProtocol::Tcp {
                "tcp"
            } else {
                "udp"
            };
            match start {
                Some(s) => format!(" {p} dport {}", port_range(s, end.unwrap_or(s))),
                None => format!(" meta l4proto {p}"),
            }
        }
        RuleProtocol::Icmp => match icmp_type.filter(|t| *t >= 0) {
            Some(t) => match icmp_code.filter(|c| *c >= 0) {
                Some(c) => format!(" icmp type {t} icmp code {c}"),
                None => format!(" icmp type {t}"),
            },
            None => " meta l4proto icmp".into(),
        },
    }
}

/// The router's nftables file: one transaction that replaces the table whole.
///
/// - `firewall` (prerouting, after conntrack, before NAT): on the public leg, replies
///   and related traffic pass; a new connection passes only if a firewall rule on its
///   (original, public) destination address allows it; everything else is dropped. So a
///   port forward or a static NAT is reachable only through a firewall rule.
/// - `dstnat`: port forwards and static NAT, from the public leg.
/// - `forward` (policy drop): replies pass; public → guest only what was DNATed (the
///   firewall let it in); guest → public through `egress`.
/// - `egress`: default deny with rules that allow, or default allow with rules that deny.
/// - `srcnat`: static NAT guests leave from their public address, the rest of the guest
///   subnet from the source NAT address.
pub fn render_nft(spec: &RouterSpec) -> String {
    let guest_net = spec.guest.subnet();
    let mut t = String::new();
    t.push_str(&format!(
        "# Router {} (written by the Stratus agent; replaced whole on every change).\n",
        spec.name
    ));
    t.push_str(&format!(
        "table inet {TABLE} {{}}\ndelete table inet {TABLE}\n"
    ));
    t.push_str(&format!("table inet {TABLE} {{\n"));

    // Ingress firewall of the public addresses.
    t.push_str(
        "\tchain firewall {\n\t\ttype filter hook prerouting priority -150; policy accept;\n",
    );
    t.push_str(&format!("\t\tiifname != \"{PUBLIC_IF}\" accept\n"));
    t.push_str("\t\tct state established,related accept\n");
    for r in &spec.firewall {
        let src = set_of(&r.cidrs)
            .map(|s| format!(" ip saddr {s}"))
            .unwrap_or_default();
        t.push_str(&format!(
            "\t\tip daddr {}{src}{} accept\n",
            r.public_ip,
            l4_match(
                r.protocol,
                r.start_port,
                r.end_port,
                r.icmp_type,
                r.icmp_code
            )
        ));
    }
    t.push_str("\t\tdrop\n\t}\n");

    // Port forwarding and static NAT.
    t.push_str("\tchain dstnat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
    for f in &spec.port_forwards {
        let p = f.protocol.as_str();
        let head = format!(
            "\t\tiifname \"{PUBLIC_IF}\" ip daddr {} {p} dport {}",
            f.public_ip,
            port_range(f.public_start, f.public_end)
        );
        if f.private_start == f.private_end {
            t.push_str(&format!(
                "{head} dnat ip to {}:{}\n",
                f.private_ip, f.private_start
            ));
        } else if f.private_start == f.public_start {
            t.push_str(&format!("{head} dnat ip to {}\n", f.private_ip));
        } else {
            let pairs: Vec<String> = (f.public_start..=f.public_end)
                .zip(f.private_start..=f.private_end)
                .map(|(a, b)| format!("{a} : {b}"))
                .collect();
            t.push_str(&format!(
                "{head} dnat ip to {} : {p} dport map {{ {} }}\n",
                f.private_ip,
                pairs.join(", ")
            ));
        }
    }
    for s in &spec.static_nat {
        t.push_str(&format!(
            "\t\tiifname \"{PUBLIC_IF}\" ip daddr {} dnat ip to {}\n",
            s.public_ip, s.private_ip
        ));
    }
    t.push_str("\t}\n");

    // Forwarding.
    t.push_str("\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n");
    t.push_str("\t\tct state established,related accept\n");
    t.push_str("\t\tct state invalid drop\n");
    t.push_str(&format!(
        "\t\tiifname \"{PUBLIC_IF}\" oifname \"{GUEST_IF}\" ct status dnat accept\n"
    ));
    t.push_str(&format!(
        "\t\tiifname \"{GUEST_IF}\" oifname \"{PUBLIC_IF}\" ip saddr {guest_net} jump egress\n"
    ));
    t.push_str("\t}\n");

    // Egress: CloudStack's flip.
    let (rule_verdict, default_verdict) = if spec.egress.default_allow {
        ("drop", "accept")
    } else {
        ("accept", "drop")
    };
    t.push_str(&format!(
        "\tchain egress {{\n\t\t# default {}\n",
        if spec.egress.default_allow {
            "allow: rules deny"
        } else {
            "deny: rules allow"
        }
    ));
    for r in &spec.egress.rules {
        let src = set_of(&r.cidrs)
            .map(|s| format!(" ip saddr {s}"))
            .unwrap_or_default();
        let dst = set_of(&r.dest_cidrs)
            .map(|s| format!(" ip daddr {s}"))
            .unwrap_or_default();
        let l4 = l4_match(
            r.protocol,
            r.start_port,
            r.end_port,
            r.icmp_type,
            r.icmp_code,
        );
        // Each match starts with a space; a rule matching everything is the verdict alone.
        let rule = format!("{src}{dst}{l4} {rule_verdict}");
        t.push_str(&format!("\t\t{}\n", rule.trim_start()));
    }
    t.push_str(&format!("\t\t{default_verdict}\n\t}}\n"));

    // Source NAT.
    t.push_str("\tchain srcnat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
    for s in &spec.static_nat {
        t.push_str(&format!(
            "\t\toifname \"{PUBLIC_IF}\" ip saddr {} snat ip to {}\n",
            s.private_ip, s.public_ip
        ));
    }
    if let Some(snat) = spec.source_nat {
        t.push_str(&format!(
            "\t\toifname \"{PUBLIC_IF}\" ip saddr {guest_net} snat ip to {snat}\n"
        ));
    }
    t.push_str("\t}\n}\n");
    t
}

/// dnsmasq's `--dhcp-hostsfile`: `MAC,IP[,HOSTNAME]` per line.
pub fn dhcp_hosts(leases: &[StaticLease]) -> String {
    crate::network::hosts_file(leases)
}

/// dnsmasq's `--addn-hosts`: the guests' names (short and in the domain).
pub fn dns_hosts(spec: &RouterSpec) -> String {
    let mut out = String::new();
    for l in &spec.guest.leases {
        if let Some(h) = &l.hostname {
            out.push_str(&format!("{} {h}", l.ip));
            if let Some(d) = &spec.guest.dns_domain {
                out.push_str(&format!(" {h}.{d}"));
            }
            out.push('\n');
        }
    }
    out
}

/// dnsmasq's command line for the router, with its files in `dir`: DHCP for the static
/// leases only (with the guest segment's `mtu` as option 26), and DNS on the guest leg
/// (the guests' names; other names from the upstream resolvers, if any).
pub fn dnsmasq_args(spec: &RouterSpec, dir: &Path, mtu: u32) -> Vec<String> {
    let f = |name: &str| dir.join(name).display().to_string();
    let net = spec.guest.subnet();
    let netmask = Ipv4Addr::from(if net.prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(net.prefix_len))
    });
    let mut a = vec![
        "--conf-file=/dev/null".to_string(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--bind-interfaces".into(),
        format!("--interface={GUEST_IF}"),
        "--except-interface=lo".into(),
        format!("--dhcp-range={},static,{netmask},1h", net.addr),
        format!("--dhcp-option=option:router,{}", spec.guest.gateway),
        format!("--dhcp-option=option:dns-server,{}", spec.guest.gateway),
        format!("--dhcp-option=option:mtu,{mtu}"),
    ];
    if let Some(d) = &spec.guest.dns_domain {
        a.push(format!("--domain={d}"));
        // Names in the guests' domain are answered here, never forwarded.
        a.push(format!("--local=/{d}/"));
    }
    for s in &spec.guest.dns {
        a.push(format!("--server={s}"));
    }
    a.extend([
        format!("--addn-hosts={}", f("dns-hosts")),
        format!("--dhcp-hostsfile={}", f("hosts")),
        format!("--dhcp-leasefile={}", f("leases")),
        format!("--pid-file={}", f("dnsmasq.pid")),
        format!("--log-facility={}", f("dnsmasq.log")),
        "--log-dhcp".into(),
    ]);
    a
}

// ---------------------------------------------------------------------------------------
// State.

/// What the agent made for a router (besides its namespace and veths, named after it).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct RouterState {
    guest_bridge: String,
    #[serde(default)]
    public_bridge: Option<String>,
}

/// The virtual routers of this host.
pub struct Routers {
    dir: PathBuf,
    dnsmasq: PathBuf,
    lock: Mutex<()>,
}

impl Routers {
    /// Routers keeping their files under `dir` (`layout::ROUTERS` on a host).
    pub fn new(dir: impl Into<PathBuf>) -> Routers {
        Routers {
            dir: dir.into(),
            dnsmasq: PathBuf::from("dnsmasq"),
            lock: Mutex::new(()),
        }
    }

    /// Where the routers' files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn router_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn make_dir(&self, d: &Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(d).map_err(|e| err(format!("{}: {e}", d.display())))?;
        // dnsmasq re-reads its files after dropping root.
        for p in [&self.dir, d] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| err(format!("{}: {e}", p.display())))?;
        }
        Ok(())
    }

    // --- guest segments ---------------------------------------------------------------

    /// The guest segment's bridge, made so ([`crate::segment`]).
    pub fn ensure_segment(&self, seg: &GuestSegment) -> Result<SegmentStatus> {
        seg.validate().map_err(Error::Invalid)?;
        let _g = self.guard();
        crate::segment::ensure(&self.dir, seg)
    }

    /// Removes segment bridge `bridge` if the agent made it and nothing else is attached.
    pub fn remove_segment(&self, bridge: &str) -> Result<SegmentRemoved> {
        stratus_api::agent::validate_bridge(bridge).map_err(Error::Invalid)?;
        let _g = self.guard();
        crate::segment::remove(&self.dir, bridge)
    }

    // --- dnsmasq ----------------------------------------------------------------------

    /// The router's dnsmasq, if it runs: the pid file's process, started with that very
    /// pid file (a stale file may name someone else's process).
    pub fn dnsmasq_pid(&self, name: &str) -> Option<i32> {
        let pid_file = self.router_dir(name).join("dnsmasq.pid");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let want = format!("--pid-file={}", pid_file.display());
        let ours = cmdline.split(|b| *b == 0).any(|arg| arg == want.as_bytes());
        (ours && alive(pid)).then_some(pid)
    }

    fn stop_dnsmasq(&self, name: &str) {
        let Some(pid) = self.dnsmasq_pid(name) else {
            return;
        };
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive(pid) {
            signal(pid, libc::SIGKILL);
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_file(self.router_dir(name).join("dnsmasq.pid"));
        tracing::info!(router = name, pid, "dnsmasq stopped");
    }

    fn start_dnsmasq(&self, name: &str, ns: &str, args: &[String]) -> Result<i32> {
        let dir = self.router_dir(name);
        let err_path = dir.join("dnsmasq.start.err");
        let errf = std::fs::File::create(&err_path)
            .map_err(|e| err(format!("{}: {e}", err_path.display())))?;
        let status = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(&self.dnsmasq)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errf)
            .status()
            .map_err(|e| err(format!("starting dnsmasq in {ns}: {e}")))?;
        if !status.success() {
            let text = std::fs::read_to_string(&err_path).unwrap_or_default();
            return Err(err(format!(
                "dnsmasq of router {name} did not start ({status}): {}",
                text.trim()
            )));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(pid) = self.dnsmasq_pid(name) {
                tracing::info!(router = name, pid, "dnsmasq started");
                return Ok(pid);
            }
            if Instant::now() > deadline {
                return Err(err(format!(
                    "dnsmasq of router {name} started but wrote no pid file"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // --- routers ----------------------------------------------------------------------

    /// One leg: the veth pair `host_if` (in `bridge`) / `ns_if` (in `ns`, with `mac` and
    /// exactly `want` addresses), both up, both with the segment's `mtu`.
    fn ensure_leg(
        ns: &str,
        host_if: &str,
        ns_if: &str,
        bridge: &str,
        mac: &str,
        mtu: u32,
        want: &[String],
    ) -> Result<()> {
        let host = link(None, host_if);
        let inner = link(Some(ns), ns_if);
        if host.is_none() || inner.is_none() {
            // Half a pair (an interrupted apply): start the leg afresh.
            if host.is_some() {
                ip(&["link", "del", host_if])?;
            }
            if inner.is_some() {
                ip_in(Some(ns), &["link", "del", ns_if])?;
            }
            ip(&[
                "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns,
            ])?;
        }
        let host = link(None, host_if);
        let mtu_s = mtu.to_string();
        let mtu_of = |l: &serde_json::Value| l.get("mtu").and_then(|m| m.as_u64());
        if host.as_ref().and_then(mtu_of) != Some(u64::from(mtu)) {
            ip(&["link", "set", "dev", host_if, "mtu", &mtu_s])?;
        }
        if host.as_ref().and_then(|l| link_str(l, "master")) != Some(bridge) {
            ip(&["link", "set", host_if, "master", bridge])?;
        }
        ip(&["link", "set", host_if, "up"])?;
        let inner = link(Some(ns), ns_if);
        if inner.as_ref().and_then(mtu_of) != Some(u64::from(mtu)) {
            ip_in(Some(ns), &["link", "set", "dev", ns_if, "mtu", &mtu_s])?;
        }
        let mac = mac.to_ascii_lowercase();
        if inner.as_ref().and_then(|l| link_str(l, "address")) != Some(mac.as_str()) {
            ip_in(Some(ns), &["link", "set", ns_if, "down"])?;
            ip_in(Some(ns), &["link", "set", ns_if, "address", &mac])?;
        }
        let have = addresses(ns, ns_if)?;
        for a in have.iter().filter(|a| !want.contains(a)) {
            ip_in(Some(ns), &["addr", "del", a, "dev", ns_if])?;
        }
        for a in want.iter().filter(|a| !have.contains(a)) {
            ip_in(Some(ns), &["addr", "add", a, "dev", ns_if])?;
        }
        ip_in(Some(ns), &["link", "set", ns_if, "up"])?;
        Ok(())
    }

    /// Makes the router so (see the module's documentation).
    pub fn apply(&self, spec: &RouterSpec) -> Result<RouterStatus> {
        spec.validate().map_err(Error::Invalid)?;
        let _g = self.guard();
        self.apply_locked(spec)
    }

    fn apply_locked(&self, spec: &RouterSpec) -> Result<RouterStatus> {
        let name = spec.name.as_str();
        let ns = spec.namespace();
        let dir = self.router_dir(name);

        let guest_seg = crate::segment::ensure(
            &self.dir,
            &GuestSegment {
                label: spec.guest.label.clone(),
                isolation: spec.guest.isolation.clone(),
            },
        )?;
        let guest_bridge = guest_seg.bridge.clone();
        let public_seg = match &spec.public {
            Some(p) => Some(crate::segment::ensure(
                &self.dir,
                &GuestSegment {
                    label: p.label.clone(),
                    isolation: p.isolation.clone(),
                },
            )?),
            None => None,
        };
        let public_bridge = public_seg.as_ref().map(|s| s.bridge.clone());
        self.make_dir(&dir)?;
        let state = RouterState {
            guest_bridge: guest_bridge.clone(),
            public_bridge: public_bridge.clone(),
        };
        // The spec is recorded first: a failure below leaves a router `remove` and
        // `restore` know about.
        write_atomic(
            &dir.join("state.json"),
            &serde_json::to_string(&state).map_err(err)?,
        )?;
        write_atomic(
            &dir.join("spec.json"),
            &serde_json::to_string_pretty(spec).map_err(err)?,
        )?;

        if !namespace_exists(&ns) {
            ip(&["netns", "add", &ns])?;
            tracing::info!(router = name, namespace = %ns, "namespace created");
        }
        ip_in(Some(&ns), &["link", "set", "lo", "up"])?;
        let forwarding = output(Command::new("ip").args([
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-n",
            "net.ipv4.ip_forward",
        ]))?;
        if forwarding.trim() != "1" {
            run(Command::new("ip").args([
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ]))?;
        }

        let guest_addr = format!("{}/{}", spec.guest.gateway, spec.guest.prefix_len);
        Self::ensure_leg(
            &ns,
            &guest_veth(name),
            GUEST_IF,
            &guest_bridge,
            &spec.guest.mac,
            guest_seg.mtu,
            &[guest_addr],
        )?;
        match (&spec.public, &public_seg) {
            (Some(p), Some(seg)) => {
                let want: Vec<String> = p
                    .addresses
                    .iter()
                    .map(|a| format!("{a}/{}", p.prefix_len))
                    .collect();
                Self::ensure_leg(
                    &ns,
                    &public_veth(name),
                    PUBLIC_IF,
                    &seg.bridge,
                    &p.mac,
                    seg.mtu,
                    &want,
                )?;
                let gw = p.gateway.to_string();
                ip_in(
                    Some(&ns),
                    &["route", "replace", "default", "via", &gw, "dev", PUBLIC_IF],
                )?;
            }
            _ => {
                if link(None, &public_veth(name)).is_some() {
                    ip(&["link", "del", &public_veth(name)])?;
                }
            }
        }

        // nftables: one transaction, only when the text changed (or the table is gone).
        let rules = render_nft(spec);
        let nft_path = dir.join("rules.nft");
        let same = std::fs::read_to_string(&nft_path).ok().as_deref() == Some(rules.as_str());
        let loaded = same
            && Command::new("ip")
                .args(["netns", "exec", &ns, "nft", "list", "table", "inet", TABLE])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if !loaded {
            let tmp = dir.join("rules.nft.new");
            write_atomic(&tmp, &rules)?;
            let tmp_s = tmp.display().to_string();
            run(Command::new("ip").args(["netns", "exec", &ns, "nft", "-f", &tmp_s]))?;
            std::fs::rename(&tmp, &nft_path)
                .map_err(|e| err(format!("{}: {e}", nft_path.display())))?;
            tracing::info!(
                router = name,
                rules = spec.rule_count(),
                "router rules loaded"
            );
        }

        // dnsmasq: SIGHUP for new leases or names, a restart for a new command line.
        let hosts_path = dir.join("hosts");
        let hosts = dhcp_hosts(&spec.guest.leases);
        let names_path = dir.join("dns-hosts");
        let names = dns_hosts(spec);
        let mut changed = false;
        for (p, text) in [(&hosts_path, &hosts), (&names_path, &names)] {
            if std::fs::read_to_string(p).ok().as_deref() != Some(text.as_str()) {
                write_atomic(p, text)?;
                changed = true;
            }
        }
        let args = dnsmasq_args(spec, &dir, guest_seg.mtu);
        let args_text = args.join("\n");
        let args_path = dir.join("dnsmasq.args");
        let same_args = std::fs::read_to_string(&args_path).ok().as_deref() == Some(&args_text);
        let db_path = dir.join("leases");
        let pruned = std::fs::read_to_string(&db_path)
            .ok()
            .and_then(|db| crate::network::prune_lease_db(&db, &spec.guest.leases));
        if pruned.is_some() {
            self.stop_dnsmasq(name);
        }
        if let Some(db) = &pruned {
            write_atomic(&db_path, db)?;
        }
        let pid = match self.dnsmasq_pid(name) {
            Some(pid) if same_args => {
                if changed {
                    signal(pid, libc::SIGHUP);
                    tracing::info!(router = name, pid, "dnsmasq reloads its leases");
                }
                pid
            }
            _ => {
                self.stop_dnsmasq(name);
                write_atomic(&args_path, &args_text)?;
                self.start_dnsmasq(name, &ns, &args)?
            }
        };
        Ok(RouterStatus {
            name: name.into(),
            namespace: ns,
            dnsmasq_pid: Some(pid as u32),
            guest_bridge,
            public_bridge,
            rules: spec.rule_count(),
            guests: vec![],
        })
    }

    /// The spec last applied to router `name`.
    pub fn read_spec(&self, name: &str) -> Option<RouterSpec> {
        std::fs::read_to_string(self.router_dir(name).join("spec.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    }

    /// The router as the agent last made it (404 if it knows none).
    pub fn status(&self, name: &str) -> Result<RouterStatus> {
        validate_router_name(name).map_err(Error::Invalid)?;
        let _g = self.guard();
        let spec = self
            .read_spec(name)
            .ok_or_else(|| Error::NotFound(format!("no router {name} on this host")))?;
        let state: RouterState = std::fs::read_to_string(self.router_dir(name).join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Ok(RouterStatus {
            name: name.into(),
            namespace: router_namespace(name),
            dnsmasq_pid: self.dnsmasq_pid(name).map(|p| p as u32),
            guest_bridge: state.guest_bridge,
            public_bridge: state.public_bridge,
            rules: spec.rule_count(),
            guests: vec![],
        })
    }

    /// Tears the router down: its dnsmasq (by PID, if ours), its veths, its namespace
    /// (and with it its nftables table), its files. False when nothing of it existed.
    pub fn remove(&self, name: &str) -> Result<bool> {
        validate_router_name(name).map_err(Error::Invalid)?;
        let _g = self.guard();
        let dir = self.router_dir(name);
        let ns = router_namespace(name);
        let existed = dir.exists() || namespace_exists(&ns);
        self.stop_dnsmasq(name);
        for v in [guest_veth(name), public_veth(name)] {
            if link(None, &v).is_some() {
                ip(&["link", "del", &v])?;
            }
        }
        if namespace_exists(&ns) {
            ip(&["netns", "del", &ns])?;
            tracing::info!(router = name, namespace = %ns, "router removed");
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        }
        Ok(existed)
    }

    /// The routers the agent knows (their names).
    pub fn known(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut out: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| validate_router_name(n).is_ok())
            .collect();
        out.sort();
        out
    }

    /// Ensures every recorded segment and applies every stored spec again (when the
    /// agent starts): a no-op for what kept running, a rebuild of what a host reboot took
    /// away (also the segments of hosts that only run guests of a network).
    pub fn restore(&self) {
        for seg in crate::segment::recorded(&self.dir) {
            if let Err(e) = self.ensure_segment(&seg) {
                tracing::warn!(bridge = %seg.bridge(), error = %e, "restoring a segment");
            }
        }
        for name in self.known() {
            let Some(spec) = self.read_spec(&name) else {
                continue;
            };
            if let Err(e) = self.apply(&spec) {
                tracing::warn!(router = %name, error = %e, "restoring a router");
            }
        }
    }

    /// Removes every router and the segments the agent made (its host leaves).
    pub fn remove_all(&self) {
        for name in self.known() {
            if let Err(e) = self.remove(&name) {
                tracing::warn!(router = %name, error = %e, "removing a router");
            }
        }
        for bridge in crate::segment::known(&self.dir) {
            if let Err(e) = self.remove_segment(&bridge) {
                tracing::warn!(%bridge, error = %e, "removing a segment");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratus_api::router::Isolation;

    pub(super) fn spec() -> RouterSpec {
        serde_json::from_value(serde_json::json!({
            "name": "r-1a2b3c4d",
            "guest": {
                "label": "cloudbr0", "isolation": {"kind": "vlan", "id": 123},
                "gateway": "10.1.1.1", "prefix_len": 24,
                "mac": "02:00:0a:01:01:01", "dns_domain": "cs2cloud.internal",
                "dns": ["192.0.2.53"],
                "leases": [{"mac": "52:54:00:00:00:32", "ip": "10.1.1.50", "hostname": "vm1"},
                           {"mac": "52:54:00:00:00:33", "ip": "10.1.1.51"}]
            },
            "public": {
                "label": "cloudbr1", "addresses": ["203.0.113.10", "203.0.113.11", "203.0.113.12"],
                "prefix_len": 24, "gateway": "203.0.113.1", "mac": "02:00:cb:00:71:0a"
            },
            "source_nat": "203.0.113.10",
            "static_nat": [{"public_ip": "203.0.113.12", "private_ip": "10.1.1.51"}],
            "port_forwards": [{
                "public_ip": "203.0.113.11", "protocol": "tcp", "public_start": 2222,
                "public_end": 2222, "private_ip": "10.1.1.50", "private_start": 22,
                "private_end": 22
            }, {
                "public_ip": "203.0.113.11", "protocol": "udp", "public_start": 5000,
                "public_end": 5002, "private_ip": "10.1.1.50", "private_start": 6000,
                "private_end": 6002
            }, {
                "public_ip": "203.0.113.11", "protocol": "tcp", "public_start": 8000,
                "public_end": 8010, "private_ip": "10.1.1.50", "private_start": 8000,
                "private_end": 8010
            }],
            "firewall": [{
                "public_ip": "203.0.113.11", "protocol": "tcp", "start_port": 2222,
                "end_port": 2222, "cidrs": ["0.0.0.0/0"]
            }, {
                "public_ip": "203.0.113.12", "protocol": "icmp", "icmp_type": 8,
                "icmp_code": -1, "cidrs": ["198.51.100.0/24", "192.0.2.0/24"]
            }],
            "egress": {"default_allow": false, "rules": [
                {"protocol": "tcp", "start_port": 80, "end_port": 443, "dest_cidrs": ["0.0.0.0/0"]},
                {"protocol": "all", "cidrs": ["10.1.1.48/28"], "dest_cidrs": ["192.0.2.0/24"]}
            ]}
        }))
        .unwrap()
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().map(str::trim).collect()
    }

    #[test]
    fn the_table_is_replaced_whole_and_drops_new_public_traffic_by_default() {
        let s = spec();
        s.validate().unwrap();
        let t = render_nft(&s);
        let l = lines(&t);
        // One transaction: make sure the table exists, delete it, define it.
        let start = l
            .iter()
            .position(|x| *x == "table inet stratus_router {}")
            .unwrap();
        assert_eq!(l[start + 1], "delete table inet stratus_router");
        assert_eq!(l[start + 2], "table inet stratus_router {");
        // The firewall chain: replies pass, rules allow, the rest is dropped.
        let fw = l.iter().position(|x| *x == "chain firewall {").unwrap();
        assert_eq!(
            &l[fw + 1..fw + 7],
            &[
                "type filter hook prerouting priority -150; policy accept;",
                "iifname != \"eth1\" accept",
                "ct state established,related accept",
                "ip daddr 203.0.113.11 tcp dport 2222 accept",
                "ip daddr 203.0.113.12 ip saddr { 198.51.100.0/24, 192.0.2.0/24 } icmp type 8 accept",
                "drop",
            ]
        );
        // Forwarded from the public side: only what was DNATed (and so passed the firewall).
        assert!(
            l.contains(&"iifname \"eth1\" oifname \"eth0\" ct status dnat accept"),
            "{t}"
        );
        assert!(l.contains(&"type filter hook forward priority filter; policy drop;"));
    }

    #[test]
    fn port_forwards_and_static_nat_translate() {
        let t = render_nft(&spec());
        let l = lines(&t);
        for want in [
            "iifname \"eth1\" ip daddr 203.0.113.11 tcp dport 2222 dnat ip to 10.1.1.50:22",
            "iifname \"eth1\" ip daddr 203.0.113.11 udp dport 5000-5002 dnat ip to 10.1.1.50 : udp dport map { 5000 : 6000, 5001 : 6001, 5002 : 6002 }",
            "iifname \"eth1\" ip daddr 203.0.113.11 tcp dport 8000-8010 dnat ip to 10.1.1.50",
            "iifname \"eth1\" ip daddr 203.0.113.12 dnat ip to 10.1.1.51",
            "oifname \"eth1\" ip saddr 10.1.1.51 snat ip to 203.0.113.12",
            "oifname \"eth1\" ip saddr 10.1.1.0/24 snat ip to 203.0.113.10",
        ] {
            assert!(l.contains(&want), "{want} missing:\n{t}");
        }
        // Static NAT's own SNAT comes before the network's source NAT.
        let own = l
            .iter()
            .position(|x| x.contains("snat ip to 203.0.113.12"))
            .unwrap();
        let snat = l
            .iter()
            .position(|x| x.contains("snat ip to 203.0.113.10"))
            .unwrap();
        assert!(own < snat);
        // No source NAT: no such rule.
        let mut s = spec();
        s.source_nat = None;
        assert!(!render_nft(&s).contains("snat ip to 203.0.113.10"));
    }

    #[test]
    fn egress_rules_flip_with_the_default_policy() {
        let deny = render_nft(&spec());
        let egress = |t: &str| -> Vec<String> {
            let l = lines(t);
            let e = l.iter().position(|x| *x == "chain egress {").unwrap();
            l[e + 1..]
                .iter()
                .take_while(|x| **x != "}")
                .map(|s| s.to_string())
                .collect()
        };
        assert_eq!(
            egress(&deny),
            [
                "# default deny: rules allow",
                "tcp dport 80-443 accept",
                "ip saddr { 10.1.1.48/28 } ip daddr { 192.0.2.0/24 } accept",
                "drop",
            ]
        );
        let mut s = spec();
        s.egress.default_allow = true;
        assert_eq!(
            egress(&render_nft(&s)),
            [
                "# default allow: rules deny",
                "tcp dport 80-443 drop",
                "ip saddr { 10.1.1.48/28 } ip daddr { 192.0.2.0/24 } drop",
                "accept",
            ]
        );
        // A rule matching everything is its verdict alone.
        s.egress.rules =
            vec![serde_json::from_value(serde_json::json!({"protocol": "all"})).unwrap()];
        assert_eq!(egress(&render_nft(&s))[1], "drop");
        assert!(deny.contains("iifname \"eth0\" oifname \"eth1\" ip saddr 10.1.1.0/24 jump egress"));
    }

    #[test]
    fn dnsmasq_serves_leases_and_names_on_the_guest_leg() {
        let s = spec();
        let a = dnsmasq_args(&s, Path::new("/r/x"), 1450);
        for want in [
            "--interface=eth0",
            "--bind-interfaces",
            "--dhcp-range=10.1.1.0,static,255.255.255.0,1h",
            "--dhcp-option=option:router,10.1.1.1",
            "--dhcp-option=option:dns-server,10.1.1.1",
            "--dhcp-option=option:mtu,1450",
            "--domain=cs2cloud.internal",
            "--local=/cs2cloud.internal/",
            "--server=192.0.2.53",
            "--dhcp-hostsfile=/r/x/hosts",
            "--addn-hosts=/r/x/dns-hosts",
            "--pid-file=/r/x/dnsmasq.pid",
            "--no-resolv",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing: {a:?}");
        }
        assert!(!a.iter().any(|x| x == "--port=0"), "DNS is served");
        assert_eq!(dns_hosts(&s), "10.1.1.50 vm1 vm1.cs2cloud.internal\n");
        assert_eq!(
            dhcp_hosts(&s.guest.leases),
            "52:54:00:00:00:32,10.1.1.50,vm1\n52:54:00:00:00:33,10.1.1.51\n"
        );
    }

    #[test]
    fn invalid_specs_touch_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = Routers::new(dir.path().join("routers"));
        let mut bad = spec();
        bad.guest.isolation = Isolation::Vlan { id: 4095 };
        assert!(matches!(r.apply(&bad).unwrap_err(), Error::Invalid(_)));
        assert!(!dir.path().join("routers").exists());
        assert!(matches!(r.remove("../x").unwrap_err(), Error::Invalid(_)));
        assert!(matches!(r.status("nope").unwrap_err(), Error::NotFound(_)));
        assert!(matches!(
            r.ensure_segment(&GuestSegment {
                label: "bad name".into(),
                isolation: Isolation::Vlan { id: 5 }
            })
            .unwrap_err(),
            Error::Invalid(_)
        ));
        assert!(matches!(
            r.ensure_segment(&GuestSegment {
                label: "cloudbr0".into(),
                isolation: Isolation::Vxlan {
                    vni: 0,
                    peers: vec![]
                }
            })
            .unwrap_err(),
            Error::Invalid(_)
        ));
        assert!(matches!(
            r.remove_segment("br;x").unwrap_err(),
            Error::Invalid(_)
        ));
        assert_eq!(
            r.remove_segment("cloudbr0").unwrap(),
            SegmentRemoved {
                removed: false,
                in_use: false
            }
        );
        assert!(r.known().is_empty());
    }
}

/// A router in a real kernel (root only; skipped otherwise, or without `ip`, `nft`,
/// `dnsmasq`, `ping`). Everything lives in throwaway namespaces named after this test
/// process, deleted on drop (also when an assertion fails): a "host" namespace with the
/// traffic-label bridges, where the agent's code runs (its `ip` commands start there); the
/// router's own namespace; a "public" namespace holding the public gateway; guests on the
/// guest VLAN (and one on another VLAN). There is no DHCP client on the test hosts, so
/// the guest asks by a minimal DHCP exchange from a UDP socket of its own (DISCOVER,
/// OFFER, REQUEST, ACK, broadcast flag set) and configures what the router's dnsmasq
/// answered (asking for options 1, 3, 6 and 26, the MTU). Kernels without 802.1Q
/// (`CONFIG_VLAN_8021Q`) cannot make VLAN devices: there the first test's guests sit on
/// untagged bridges instead, which it says; so the VLAN path is proved by no test on such
/// a kernel (the development machine's). The second test isolates guest networks with
/// VXLAN between two "host" namespaces on an underlay switch namespace (192.0.2.0/24,
/// which exists only inside them): DHCP from the router on the other host across the
/// tunnel, the MTU option, source NAT, isolation of another VNI, the flood list's
/// reconciliation, removal refused while in use, and a restore.
#[cfg(test)]
mod kernel_tests {
    use super::*;
    use std::io::Read as _;
    use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use stratus_api::router::Isolation;

    const WAIT: Duration = Duration::from_millis(800);
    const G1_MAC: &str = "52:54:00:00:00:32";
    const G3_MAC: &str = "52:54:00:00:00:33";
    const PUB_GW: &str = "198.51.100.1";
    const SNAT_IP: &str = "198.51.100.10";
    const PF_IP: &str = "198.51.100.11";

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next().map(|u| u == "0"))
            .unwrap_or(false)
    }

    fn works(prog: &str, args: &[&str]) -> bool {
        Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn sh(prog: &str, args: &[&str]) -> String {
        let out = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{prog}: {e}"));
        assert!(
            out.status.success(),
            "{prog} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[allow(unsafe_code)]
    fn enter(ns: &str) -> bool {
        use std::os::fd::AsRawFd;
        let Ok(f) = std::fs::File::open(format!("/run/netns/{ns}")) else {
            return false;
        };
        // SAFETY: setns(2) with a file descriptor we hold open; it changes only this
        // thread's network namespace (the thread is ours alone).
        unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) == 0 }
    }

    /// Runs `f` on a thread of its own inside `ns`: its sockets and the processes it
    /// starts live there. None if the thread could not enter or panicked.
    fn try_in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let ns = ns.to_string();
        std::thread::spawn(move || enter(&ns).then(f))
            .join()
            .ok()
            .flatten()
    }

    fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let name = ns.to_string();
        try_in_ns(ns, f).unwrap_or_else(|| panic!("running in {name} failed"))
    }

    struct Lab {
        prefix: String,
        made: Vec<String>,
        stop: Arc<AtomicBool>,
        servers: Vec<std::thread::JoinHandle<()>>,
        host: String,
        routers: Arc<Routers>,
        router_names: Vec<String>,
        _dir: tempfile::TempDir,
    }

    impl Lab {
        fn add(&mut self, name: &str) -> String {
            let ns = format!("{}{name}", self.prefix);
            sh("ip", &["netns", "add", &ns]);
            self.made.push(ns.clone());
            sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
            ns
        }

        /// A namespace `name` whose `eth0` (with `mac`) is a veth into host bridge `br`.
        fn attach(&mut self, name: &str, br: &str, mac: &str) -> String {
            let host = self.host.clone();
            self.attach_on(&host, name, br, mac)
        }

        /// The same on another "host" namespace.
        fn attach_on(&mut self, host: &str, name: &str, br: &str, mac: &str) -> String {
            let ns = self.add(name);
            let h = format!("{name}-h");
            sh(
                "ip",
                &[
                    "-n", host, "link", "add", &h, "type", "veth", "peer", "name", "eth0", "netns",
                    &ns,
                ],
            );
            sh("ip", &["-n", host, "link", "set", &h, "master", br, "up"]);
            sh(
                "ip",
                &["-n", &ns, "link", "set", "eth0", "address", mac, "up"],
            );
            ns
        }

        /// A TCP server in `ns` on `port` that tells whoever connects its address.
        fn serve(&mut self, ns: &str, port: u16) {
            let l = in_ns(ns, move || TcpListener::bind(("0.0.0.0", port)).unwrap());
            l.set_nonblocking(true).unwrap();
            let stop = self.stop.clone();
            self.servers.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((mut s, peer)) => {
                            let _ = s.set_nonblocking(false);
                            let _ =
                                std::io::Write::write_all(&mut s, peer.ip().to_string().as_bytes());
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }));
        }

        /// Runs the agent's router code in the host namespace.
        fn routers<T: Send + 'static>(&self, f: impl FnOnce(&Routers) -> T + Send + 'static) -> T {
            let r = self.routers.clone();
            in_ns(&self.host, move || f(&r))
        }

        fn apply(&mut self, spec: &RouterSpec) -> RouterStatus {
            if !self.router_names.contains(&spec.name) {
                self.router_names.push(spec.name.clone());
            }
            let s = spec.clone();
            self.routers(move |r| r.apply(&s))
                .unwrap_or_else(|e| panic!("apply: {e}"))
        }
    }

    impl Drop for Lab {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            for s in self.servers.drain(..) {
                let _ = s.join();
            }
            for name in self.router_names.drain(..) {
                let r = self.routers.clone();
                let n = name.clone();
                let _ = try_in_ns(&self.host, move || r.remove(&n));
                // Whatever happened above, no namespace of ours stays.
                let ns = router_namespace(&name);
                if namespace_exists(&ns) {
                    let _ = works("ip", &["netns", "del", &ns]);
                }
            }
            for ns in self.made.drain(..).rev() {
                let _ = works("ip", &["netns", "del", &ns]);
            }
        }
    }

    /// What the server at `to:port` said to a connection from `ns` (None: no connection).
    fn tcp(ns: &str, to: &str, port: u16) -> Option<String> {
        let addr: SocketAddr = format!("{to}:{port}").parse().unwrap();
        in_ns(ns, move || {
            let mut s = TcpStream::connect_timeout(&addr, WAIT).ok()?;
            let _ = s.set_read_timeout(Some(WAIT));
            let mut got = String::new();
            s.read_to_string(&mut got).ok()?;
            Some(got)
        })
    }

    fn ping(ns: &str, to: &str) -> bool {
        works("ip", &["netns", "exec", ns, "ping", "-c1", "-W1", to])
    }

    #[allow(unsafe_code)]
    fn bind_to_device(s: &UdpSocket, dev: &str) {
        use std::os::fd::AsRawFd;
        // SAFETY: setsockopt(2) on a socket we own, with a buffer that outlives the call.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                dev.as_ptr().cast(),
                dev.len() as libc::socklen_t,
            )
        };
        assert_eq!(
            rc,
            0,
            "SO_BINDTODEVICE: {}",
            std::io::Error::last_os_error()
        );
    }

    /// DHCP options: (code, value).
    type DhcpOptions = Vec<(u8, Vec<u8>)>;

    /// The DHCP options of a reply.
    fn options(p: &[u8]) -> DhcpOptions {
        let mut out = vec![];
        let mut i = 240;
        while i < p.len() {
            let code = p[i];
            if code == 255 {
                break;
            }
            if code == 0 {
                i += 1;
                continue;
            }
            let Some(&len) = p.get(i + 1) else { break };
            let end = (i + 2 + len as usize).min(p.len());
            out.push((code, p[i + 2..end].to_vec()));
            i = end;
        }
        out
    }

    fn dhcp_packet(mac: &str, xid: [u8; 4], opts: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 240];
        p[0] = 1; // BOOTREQUEST
        p[1] = 1; // Ethernet
        p[2] = 6;
        p[4..8].copy_from_slice(&xid);
        p[10] = 0x80; // broadcast the reply: we have no address yet
        for (i, b) in mac.split(':').enumerate() {
            p[28 + i] = u8::from_str_radix(b, 16).unwrap();
        }
        p[236..240].copy_from_slice(&[99, 130, 83, 99]);
        p.extend_from_slice(opts);
        p.push(255);
        p
    }

    /// A DHCP exchange from `ns`'s eth0 (MAC `mac`): the address the server acknowledged
    /// and the reply's options, configured on eth0 with the default route it gave.
    fn dhcp(ns: &str, mac: &str) -> Option<(Ipv4Addr, DhcpOptions)> {
        sh(
            "ip",
            &[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv4.conf.all.rp_filter=0",
            ],
        );
        sh(
            "ip",
            &[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv4.conf.eth0.rp_filter=0",
            ],
        );
        let mac = mac.to_string();
        let got = in_ns(ns, move || {
            let s = UdpSocket::bind(("0.0.0.0", 68)).unwrap();
            s.set_broadcast(true).unwrap();
            bind_to_device(&s, "eth0");
            s.set_read_timeout(Some(Duration::from_millis(700)))
                .unwrap();
            let xid = [0x5e, 0x11, 0x22, 0x33];
            let server: SocketAddr = "255.255.255.255:67".parse().unwrap();
            let ask = |opts: &[u8], want: u8| -> Option<Vec<u8>> {
                for _ in 0..5 {
                    s.send_to(&dhcp_packet(&mac, xid, opts), server).ok()?;
                    let deadline = Instant::now() + Duration::from_millis(700);
                    let mut buf = [0u8; 1500];
                    while Instant::now() < deadline {
                        let Ok((n, _)) = s.recv_from(&mut buf) else {
                            break;
                        };
                        let p = &buf[..n];
                        if n > 240 && p[0] == 2 && p[4..8] == xid {
                            let t = options(p).into_iter().find(|(c, _)| *c == 53);
                            if t.is_some_and(|(_, v)| v == [want]) {
                                return Some(p.to_vec());
                            }
                        }
                    }
                }
                None
            };
            let offer = ask(&[53, 1, 1, 55, 4, 1, 3, 6, 26], 2)?;
            let yiaddr = [offer[16], offer[17], offer[18], offer[19]];
            let sid = options(&offer).into_iter().find(|(c, _)| *c == 54)?.1;
            let mut req = vec![53, 1, 3, 50, 4];
            req.extend_from_slice(&yiaddr);
            req.extend_from_slice(&[54, 4]);
            req.extend_from_slice(&sid);
            req.extend_from_slice(&[55, 4, 1, 3, 6, 26]);
            let ack = ask(&req, 5)?;
            let ip = Ipv4Addr::new(ack[16], ack[17], ack[18], ack[19]);
            Some((ip, options(&ack)))
        })?;
        let (ip, opts) = &got;
        let mask = opts.iter().find(|(c, _)| *c == 1)?.1.clone();
        let prefix = u32::from_be_bytes(mask.try_into().ok()?).count_ones();
        sh(
            "ip",
            &[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ip}/{prefix}"),
                "dev",
                "eth0",
            ],
        );
        if let Some((_, r)) = opts.iter().find(|(c, _)| *c == 3) {
            let gw = Ipv4Addr::new(r[0], r[1], r[2], r[3]).to_string();
            sh("ip", &["-n", ns, "route", "add", "default", "via", &gw]);
        }
        Some(got)
    }

    /// The A record of `name` from the DNS server at `server` (asked from `ns`).
    fn resolve(ns: &str, server: &str, name: &str) -> Option<Ipv4Addr> {
        let server: SocketAddr = format!("{server}:53").parse().unwrap();
        let name = name.to_string();
        in_ns(ns, move || {
            let s = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
            s.set_read_timeout(Some(WAIT)).ok()?;
            let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
            for label in name.split('.') {
                q.push(label.len() as u8);
                q.extend_from_slice(label.as_bytes());
            }
            q.extend_from_slice(&[0, 0, 1, 0, 1]);
            s.send_to(&q, server).ok()?;
            let mut buf = [0u8; 512];
            let (n, _) = s.recv_from(&mut buf).ok()?;
            let p = &buf[..n];
            // No error, one answer at least; the last answer's data is the address.
            if n < 16 || p[3] & 0x0f != 0 || p[7] == 0 {
                return None;
            }
            Some(Ipv4Addr::new(p[n - 4], p[n - 3], p[n - 2], p[n - 1]))
        })
    }

    fn spec(name: &str, guest_label: &str, isolation: Isolation) -> RouterSpec {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "guest": {
                "label": guest_label, "isolation": isolation, "gateway": "10.1.1.1",
                "prefix_len": 24,
                "mac": "02:00:0a:01:01:01", "dns_domain": "test.internal",
                "leases": [{"mac": G1_MAC, "ip": "10.1.1.50", "hostname": "vm1"}]
            },
            "public": {
                "label": "pub0", "addresses": [SNAT_IP, PF_IP],
                "prefix_len": 24, "gateway": PUB_GW, "mac": "02:00:c6:33:64:0a"
            },
            "source_nat": SNAT_IP,
            "egress": {"default_allow": false, "rules": []}
        }))
        .unwrap()
    }

    #[test]
    fn a_router_namespace_serves_dhcp_dns_nat_and_its_firewall() {
        if !is_root() {
            eprintln!("skipped: not root");
            return;
        }
        for (p, a) in [
            ("ip", &["-V"][..]),
            ("nft", &["--version"][..]),
            ("dnsmasq", &["--version"][..]),
            ("ping", &["-V"][..]),
            ("sysctl", &["--version"][..]),
        ] {
            if !works(p, a) {
                eprintln!("skipped: {p} is missing");
                return;
            }
        }
        let started = Instant::now();
        let tag = format!("{:x}", std::process::id() & 0xff_ffff);
        let dir = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            // dnsmasq drops root and must still reach its files.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut lab = Lab {
            prefix: format!("rtest{tag}-"),
            made: vec![],
            stop: Arc::new(AtomicBool::new(false)),
            servers: vec![],
            host: String::new(),
            routers: Arc::new(Routers::new(dir.path().join("routers"))),
            router_names: vec![],
            _dir: dir,
        };
        lab.host = lab.add("host");
        let host = lab.host.clone();
        for br in ["lbl0", "pub0"] {
            sh("ip", &["-n", &host, "link", "add", br, "type", "bridge"]);
            sh("ip", &["-n", &host, "link", "set", br, "up"]);
        }
        let vlans = works(
            "ip",
            &[
                "-n", &host, "link", "add", "link", "lbl0", "name", "probe.5", "type", "vlan",
                "id", "5",
            ],
        );
        let (label, vlan_a, vlan_b) = if vlans {
            sh("ip", &["-n", &host, "link", "del", "probe.5"]);
            ("lbl0", Some(123), Some(124))
        } else {
            eprintln!(
                "NOTE: this kernel has no 802.1Q VLAN devices: the guests sit on untagged \
                 bridges (gbr0, gbr1); VLAN tagging itself is not exercised"
            );
            for br in ["gbr0", "gbr1"] {
                sh("ip", &["-n", &host, "link", "add", br, "type", "bridge"]);
                sh("ip", &["-n", &host, "link", "set", br, "up"]);
            }
            ("gbr0", None, None)
        };
        // Every construct the renderer has (static NAT, shifted port ranges as maps,
        // ICMP and CIDR sets, both egress policies) is accepted by this kernel's nftables.
        let check = lab.add("nft");
        for allow in [false, true] {
            let mut full = super::tests::spec();
            full.egress.default_allow = allow;
            full.egress
                .rules
                .push(serde_json::from_value(serde_json::json!({"protocol": "all"})).unwrap());
            let file = lab.routers.dir.with_file_name(format!("full-{allow}.nft"));
            std::fs::write(&file, render_nft(&full)).unwrap();
            sh(
                "ip",
                &[
                    "netns",
                    "exec",
                    &check,
                    "nft",
                    "-f",
                    &file.display().to_string(),
                ],
            );
        }

        let name = format!("t{tag}");
        let mut s = spec(
            &name,
            label,
            vlan_a.map_or(Isolation::Untagged, |id| Isolation::Vlan { id }),
        );

        // The router, and the VLAN bridge it made.
        let st = lab.apply(&s);
        let guest_br = st.guest_bridge.clone();
        if vlans {
            assert_eq!(guest_br, "brlbl0-123");
        }
        assert_eq!(st.public_bridge.as_deref(), Some("pub0"));
        assert!(namespace_exists(&st.namespace));
        let pid = st.dnsmasq_pid.expect("dnsmasq runs");

        // The public side: its gateway, and a server telling callers their address.
        let public = lab.attach("pub", "pub0", "02:00:c6:33:64:01");
        sh(
            "ip",
            &[
                "-n",
                &public,
                "addr",
                "add",
                &format!("{PUB_GW}/24"),
                "dev",
                "eth0",
            ],
        );
        lab.serve(&public, 7000);

        // A guest on the guest VLAN, addressed by DHCP from the router.
        let g1 = lab.attach("g1", &guest_br, G1_MAC);
        let (ip, opts) = dhcp(&g1, G1_MAC).expect("a DHCP answer from the router");
        assert_eq!(ip, Ipv4Addr::new(10, 1, 1, 50));
        let opt = |c: u8| opts.iter().find(|(k, _)| *k == c).map(|(_, v)| v.clone());
        assert_eq!(opt(3), Some(vec![10, 1, 1, 1]), "router option");
        assert_eq!(opt(6), Some(vec![10, 1, 1, 1]), "DNS server option");
        assert_eq!(
            resolve(&g1, "10.1.1.1", "vm1.test.internal"),
            Some(Ipv4Addr::new(10, 1, 1, 50)),
            "the router's DNS knows the guests"
        );
        assert!(ping(&g1, "10.1.1.1"), "the guest reaches its gateway");
        lab.serve(&g1, 22);

        // Egress default deny, no rules: nothing leaves.
        assert!(!ping(&g1, PUB_GW), "egress is denied by default");
        assert_eq!(tcp(&g1, PUB_GW, 7000), None);

        // An egress rule allows, in place: same namespace, same dnsmasq.
        s.egress.rules = vec![serde_json::from_value(serde_json::json!({
            "protocol": "icmp", "icmp_type": 8, "icmp_code": -1
        }))
        .unwrap()];
        assert_eq!(lab.apply(&s).dnsmasq_pid, Some(pid));
        assert!(ping(&g1, PUB_GW), "the egress rule allows ICMP echo");
        assert_eq!(tcp(&g1, PUB_GW, 7000), None, "but not TCP");
        // Default allow: the same rule now denies.
        s.egress.default_allow = true;
        lab.apply(&s);
        assert!(!ping(&g1, PUB_GW), "with default allow the rule denies");
        assert_eq!(
            tcp(&g1, PUB_GW, 7000).as_deref(),
            Some(SNAT_IP),
            "the public side sees the source NAT address"
        );
        s.egress.rules.clear();
        lab.apply(&s);
        assert!(ping(&g1, PUB_GW));

        // The same spec again changes nothing.
        let rules = lab.routers.dir.join(&name).join("rules.nft");
        let before = std::fs::metadata(&rules).unwrap().modified().unwrap();
        let again = lab.apply(&s);
        assert_eq!(again.dnsmasq_pid, Some(pid));
        assert_eq!(
            std::fs::metadata(&rules).unwrap().modified().unwrap(),
            before
        );

        // Port forwarding 2222 → guest:22, reachable only with a firewall rule.
        s.port_forwards = vec![serde_json::from_value(serde_json::json!({
            "public_ip": PF_IP, "protocol": "tcp", "public_start": 2222, "public_end": 2222,
            "private_ip": "10.1.1.50", "private_start": 22, "private_end": 22
        }))
        .unwrap()];
        lab.apply(&s);
        assert_eq!(tcp(&public, PF_IP, 2222), None, "no firewall rule: closed");
        assert!(
            !ping(&public, SNAT_IP),
            "nor do public addresses answer pings"
        );
        s.firewall = vec![serde_json::from_value(serde_json::json!({
            "public_ip": PF_IP, "protocol": "tcp", "start_port": 2222, "end_port": 2222,
            "cidrs": ["198.51.100.0/24"]
        }))
        .unwrap()];
        lab.apply(&s);
        assert_eq!(
            tcp(&public, PF_IP, 2222).as_deref(),
            Some(PUB_GW),
            "the forwarded port reaches the guest's listener"
        );
        assert_eq!(tcp(&public, PF_IP, 22), None, "only the forwarded port");
        assert_eq!(
            tcp(&public, SNAT_IP, 2222),
            None,
            "only on its public address"
        );
        s.firewall.clear();
        lab.apply(&s);
        assert_eq!(
            tcp(&public, PF_IP, 2222),
            None,
            "the rule removed: closed again"
        );

        // A new lease reaches dnsmasq by SIGHUP: a second guest on the VLAN gets it.
        s.guest.leases.push(StaticLease {
            mac: G3_MAC.into(),
            ip: Ipv4Addr::new(10, 1, 1, 51),
            hostname: Some("vm3".into()),
        });
        assert_eq!(
            lab.apply(&s).dnsmasq_pid,
            Some(pid),
            "reloaded, not restarted"
        );
        let g3 = lab.attach("g3", &guest_br, G3_MAC);
        let (ip3, _) = dhcp(&g3, G3_MAC).expect("the new lease is served");
        assert_eq!(ip3, Ipv4Addr::new(10, 1, 1, 51));
        assert!(
            ping(&g3, "10.1.1.50"),
            "guests of one VLAN reach each other"
        );

        // A guest of another VLAN, in the same subnet, reaches neither.
        let other_br = match vlan_b {
            Some(v) => {
                lab.routers(move |r| {
                    r.ensure_segment(&GuestSegment {
                        label: "lbl0".into(),
                        isolation: Isolation::Vlan { id: v },
                    })
                })
                .unwrap()
                .bridge
            }
            None => "gbr1".to_string(),
        };
        let g2 = lab.attach("g2", &other_br, "52:54:00:00:00:60");
        sh(
            "ip",
            &["-n", &g2, "addr", "add", "10.1.1.60/24", "dev", "eth0"],
        );
        assert!(
            !ping(&g2, "10.1.1.50"),
            "another VLAN is isolated from the guest"
        );
        assert!(!ping(&g2, "10.1.1.1"), "and from its router");
        if vlan_b.is_some() {
            let b = other_br.clone();
            let gone = lab.routers(move |r| r.remove_segment(&b)).unwrap();
            assert!(
                !gone.removed && gone.in_use,
                "a bridge with a guest on it stays"
            );
            sh("ip", &["-n", &host, "link", "del", "g2-h"]);
            let b = other_br.clone();
            assert!(lab.routers(move |r| r.remove_segment(&b)).unwrap().removed);
            assert!(!works("ip", &["-n", &host, "link", "show", &other_br]));
        }

        // An agent restart: a new instance on the same directory finds the router and
        // restoring it changes nothing.
        let dir = lab.routers.dir.clone();
        let before = std::fs::metadata(&rules).unwrap().modified().unwrap();
        let fresh = Arc::new(Routers::new(dir.clone()));
        let f = fresh.clone();
        in_ns(&host, move || f.restore());
        assert_eq!(
            fresh.dnsmasq_pid(&name),
            Some(pid as i32),
            "restore left dnsmasq alone"
        );
        assert_eq!(
            std::fs::metadata(&rules).unwrap().modified().unwrap(),
            before
        );
        // A host reboot: namespace, veths and dnsmasq gone; restore rebuilds them.
        let (n, ns) = (name.clone(), router_namespace(&name));
        in_ns(&host, move || {
            fresh.stop_dnsmasq(&n);
            super::ip(&["link", "del", &guest_veth(&n)]).unwrap();
            super::ip(&["netns", "del", &ns]).unwrap();
            fresh.restore();
        });
        let pid = lab.routers.dnsmasq_pid(&name).expect("dnsmasq runs again") as u32;
        assert!(
            ping(&g1, "10.1.1.1"),
            "the rebuilt router is the guest's gateway again"
        );
        assert!(ping(&g1, PUB_GW), "and routes it out");

        // Status, removal, idempotent removal.
        let n = name.clone();
        let st = lab.routers(move |r| r.status(&n)).unwrap();
        assert_eq!((st.dnsmasq_pid, st.rules), (Some(pid), 1));
        let n = name.clone();
        assert!(lab.routers(move |r| r.remove(&n)).unwrap());
        assert!(!namespace_exists(&router_namespace(&name)));
        assert!(!alive(pid as i32), "dnsmasq stopped");
        assert!(!works(
            "ip",
            &["-n", &host, "link", "show", &guest_veth(&name)]
        ));
        let n = name.clone();
        assert!(!lab.routers(move |r| r.remove(&n)).unwrap(), "already gone");
        eprintln!("router kernel test took {:?}", started.elapsed());
    }

    /// Two "hosts" (namespaces A and B, each with a label bridge `lbl0` holding its
    /// underlay address 192.0.2.1 or .2, joined by a switch namespace), each with VXLAN
    /// segments 5001 and 5002 (head-end replication to the other host); the router of
    /// 5001 on B; guests on A.
    #[test]
    fn vxlan_segments_carry_a_guest_network_between_hosts() {
        if !is_root() {
            eprintln!("skipped: not root");
            return;
        }
        for (p, a) in [
            ("ip", &["-V"][..]),
            ("bridge", &["-V"][..]),
            ("nft", &["--version"][..]),
            ("dnsmasq", &["--version"][..]),
            ("ping", &["-V"][..]),
            ("sysctl", &["--version"][..]),
        ] {
            if !works(p, a) {
                eprintln!("skipped: {p} is missing");
                return;
            }
        }
        let started = Instant::now();
        let tag = format!("{:x}", std::process::id() & 0xff_ffff);
        let dir = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let routers_a = Arc::new(Routers::new(dir.path().join("a")));
        let mut lab = Lab {
            prefix: format!("vxtest{tag}-"),
            made: vec![],
            stop: Arc::new(AtomicBool::new(false)),
            servers: vec![],
            host: String::new(),
            routers: Arc::new(Routers::new(dir.path().join("b"))),
            router_names: vec![],
            _dir: dir,
        };
        // The underlay: a switch, two hosts, each with its label bridge and address.
        let switch = lab.add("switch");
        sh(
            "ip",
            &["-n", &switch, "link", "add", "sw0", "type", "bridge"],
        );
        sh("ip", &["-n", &switch, "link", "set", "sw0", "up"]);
        let a = lab.add("a");
        let b = lab.add("b");
        lab.host = b.clone();
        for (host, addr, port) in [(&a, "192.0.2.1/24", "to-a"), (&b, "192.0.2.2/24", "to-b")] {
            sh("ip", &["-n", host, "link", "add", "lbl0", "type", "bridge"]);
            sh(
                "ip",
                &[
                    "-n", &switch, "link", "add", port, "type", "veth", "peer", "name", "up0",
                    "netns", host,
                ],
            );
            sh(
                "ip",
                &["-n", &switch, "link", "set", port, "master", "sw0", "up"],
            );
            sh(
                "ip",
                &["-n", host, "link", "set", "up0", "master", "lbl0", "up"],
            );
            sh(
                "ip",
                &["-n", host, "link", "set", "lbl0", "mtu", "1500", "up"],
            );
            sh("ip", &["-n", host, "addr", "add", addr, "dev", "lbl0"]);
        }
        if !works(
            "ip",
            &[
                "-n",
                &a,
                "link",
                "add",
                "vxprobe",
                "type",
                "vxlan",
                "id",
                "1",
                "dstport",
                "4789",
                "local",
                "192.0.2.1",
            ],
        ) {
            eprintln!("skipped: this kernel cannot make VXLAN devices");
            return;
        }
        sh("ip", &["-n", &a, "link", "del", "vxprobe"]);
        // The bridges' carriers come up asynchronously: wait for the underlay.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ping(&a, "192.0.2.2") {
            assert!(Instant::now() < deadline, "the underlay works");
            std::thread::sleep(Duration::from_millis(100));
        }

        let (ua, ub) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let seg = |vni: u32, peers: Vec<Ipv4Addr>| GuestSegment {
            label: "lbl0".into(),
            isolation: Isolation::Vxlan { vni, peers },
        };
        let on_a = |s: GuestSegment| {
            let r = routers_a.clone();
            in_ns(&a, move || r.ensure_segment(&s)).unwrap_or_else(|e| panic!("on A: {e}"))
        };
        let flood = |host: &str, dev: &str| {
            let dev = dev.to_string();
            let mut f = in_ns(host, move || crate::segment::flood_list(&dev)).unwrap();
            f.sort();
            f
        };
        // Both segments on both hosts; B is told the whole list (its own address is
        // skipped).
        for vni in [5001, 5002] {
            let st = on_a(seg(vni, vec![ub]));
            assert_eq!(
                st,
                SegmentStatus {
                    bridge: format!("brvx-{vni}"),
                    mtu: 1450
                },
                "label MTU 1500 less 50"
            );
            let s = seg(vni, vec![ua, ub]);
            let st = lab.routers(move |r| r.ensure_segment(&s)).unwrap();
            assert_eq!(st.bridge, format!("brvx-{vni}"));
            assert_eq!(flood(&a, &format!("vxlan{vni}")), vec![ub]);
            assert_eq!(flood(&b, &format!("vxlan{vni}")), vec![ua]);
        }
        // Idempotent: again changes nothing (one flood entry, not two).
        assert_eq!(on_a(seg(5001, vec![ub])).mtu, 1450);
        assert_eq!(flood(&a, "vxlan5001"), vec![ub]);
        for dev in ["vxlan5001", "brvx-5001"] {
            let l = link(Some(&a), dev).unwrap();
            assert_eq!(l.get("mtu").and_then(|m| m.as_u64()), Some(1450), "{dev}");
        }
        let vx = link(Some(&a), "vxlan5001").unwrap();
        let data = &vx["linkinfo"]["info_data"];
        assert_eq!(
            (
                data["id"].as_u64(),
                data["port"].as_u64(),
                data["local"].as_str()
            ),
            (Some(5001), Some(4789), Some("192.0.2.1")),
            "{vx}"
        );
        assert_eq!(link_str(&vx, "master"), Some("brvx-5001"));
        // Another network's bridge name is refused, not taken over.
        let r = routers_a.clone();
        let clash = in_ns(&a, move || {
            r.ensure_segment(&GuestSegment {
                label: "up0".into(),
                isolation: Isolation::Vxlan {
                    vni: 5001,
                    peers: vec![],
                },
            })
        });
        assert!(matches!(clash, Err(Error::Conflict(_))), "{clash:?}");

        // The router of VXLAN 5001 on B, with the public side there.
        sh("ip", &["-n", &b, "link", "add", "pub0", "type", "bridge"]);
        sh("ip", &["-n", &b, "link", "set", "pub0", "up"]);
        let name = format!("v{tag}");
        let mut s = spec(
            &name,
            "lbl0",
            Isolation::Vxlan {
                vni: 5001,
                peers: vec![ua],
            },
        );
        s.egress.default_allow = true;
        let st = lab.apply(&s);
        assert_eq!(st.guest_bridge, "brvx-5001");
        let gw_leg = link(Some(&st.namespace), GUEST_IF).unwrap();
        assert_eq!(
            gw_leg.get("mtu").and_then(|m| m.as_u64()),
            Some(1450),
            "the router's guest leg has the segment's MTU"
        );
        let public = lab.attach("pub", "pub0", "02:00:c6:33:64:01");
        sh(
            "ip",
            &[
                "-n",
                &public,
                "addr",
                "add",
                &format!("{PUB_GW}/24"),
                "dev",
                "eth0",
            ],
        );
        lab.serve(&public, 7000);

        // A guest on A, addressed by the router on B across the VXLAN.
        let g1 = lab.attach_on(&a, "g1", "brvx-5001", G1_MAC);
        let (ip1, opts) = dhcp(&g1, G1_MAC).expect("a DHCP answer from the router on B");
        assert_eq!(ip1, Ipv4Addr::new(10, 1, 1, 50));
        let opt = |c: u8| opts.iter().find(|(k, _)| *k == c).map(|(_, v)| v.clone());
        assert_eq!(opt(3), Some(vec![10, 1, 1, 1]), "router option");
        assert_eq!(
            opt(26),
            Some(1450u16.to_be_bytes().to_vec()),
            "the MTU option: the label's less 50"
        );
        // The guest takes the MTU; a full-size unfragmentable packet crosses the tunnel.
        sh("ip", &["-n", &g1, "link", "set", "eth0", "mtu", "1450"]);
        assert!(ping(&g1, "10.1.1.1"), "the guest reaches its gateway on B");
        assert!(
            works(
                "ip",
                &[
                    "netns", "exec", &g1, "ping", "-c1", "-W1", "-M", "do", "-s", "1422",
                    "10.1.1.1"
                ]
            ),
            "1450-byte packets with DF pass"
        );
        assert_eq!(
            tcp(&g1, PUB_GW, 7000).as_deref(),
            Some(SNAT_IP),
            "and leaves through B's source NAT"
        );

        // VXLAN 5002: same subnet, another network. Its guests reach each other across
        // the hosts, but neither the router nor the guest of 5001.
        let g2 = lab.attach_on(&a, "g2", "brvx-5002", "52:54:00:00:00:60");
        sh(
            "ip",
            &["-n", &g2, "addr", "add", "10.1.1.60/24", "dev", "eth0"],
        );
        let g4 = lab.attach_on(&b, "g4", "brvx-5002", "52:54:00:00:00:61");
        sh(
            "ip",
            &["-n", &g4, "addr", "add", "10.1.1.61/24", "dev", "eth0"],
        );
        sh("ip", &["-n", &g2, "link", "set", "eth0", "mtu", "1450"]);
        sh("ip", &["-n", &g4, "link", "set", "eth0", "mtu", "1450"]);
        assert!(ping(&g2, "10.1.1.61"), "VXLAN 5002 carries its own guests");
        assert!(
            !ping(&g2, "10.1.1.1"),
            "VXLAN 5002 does not reach 5001's router"
        );
        assert!(!ping(&g2, "10.1.1.50"), "nor 5001's guest");
        assert!(!ping(&g4, "10.1.1.1"), "not even on the router's host");

        // B leaves A's flood list: A's guest loses the router (ARP, DHCP and what was
        // learned towards B); back in the list, it has it again.
        on_a(seg(5001, vec![]));
        assert_eq!(flood(&a, "vxlan5001"), Vec::<Ipv4Addr>::new());
        let dev = "vxlan5001".to_string();
        let towards_b = in_ns(&a, move || crate::segment::remote_entries(&dev)).unwrap();
        assert!(
            towards_b.is_empty(),
            "learned entries forgotten: {towards_b:?}"
        );
        assert!(!ping(&g1, "10.1.1.1"), "no peer, no router");
        sh("ip", &["-n", &g1, "addr", "flush", "dev", "eth0"]);
        assert_eq!(dhcp(&g1, G1_MAC), None, "no peer, no DHCP");
        on_a(seg(5001, vec![ub]));
        assert_eq!(flood(&a, "vxlan5001"), vec![ub]);
        let (again, _) = dhcp(&g1, G1_MAC).expect("DHCP again with B back in the list");
        assert_eq!(again, Ipv4Addr::new(10, 1, 1, 50));
        assert!(ping(&g1, "10.1.1.1"), "the router again");

        // A reboot took A's VXLAN device; the agent's restore makes it again from its
        // record (peers included), and the guest has its router back.
        sh("ip", &["-n", &a, "link", "del", "vxlan5001"]);
        let r = routers_a.clone();
        in_ns(&a, move || r.restore());
        assert_eq!(flood(&a, "vxlan5001"), vec![ub]);
        let vx = link(Some(&a), "vxlan5001").expect("made again");
        assert_eq!(link_str(&vx, "master"), Some("brvx-5001"));
        assert_eq!(vx.get("mtu").and_then(|m| m.as_u64()), Some(1450));
        assert!(ping(&g1, "10.1.1.1"), "the router after the restore");

        // Removal: not while a guest is attached; then the bridge and device go.
        let r = routers_a.clone();
        let busy = in_ns(&a, move || r.remove_segment("brvx-5001")).unwrap();
        assert_eq!(
            busy,
            SegmentRemoved {
                removed: false,
                in_use: true
            }
        );
        assert!(link(Some(&a), "vxlan5001").is_some());
        sh("ip", &["-n", &a, "link", "del", "g2-h"]);
        let r = routers_a.clone();
        let gone = in_ns(&a, move || r.remove_segment("brvx-5002")).unwrap();
        assert_eq!(
            gone,
            SegmentRemoved {
                removed: true,
                in_use: false
            }
        );
        assert!(link(Some(&a), "brvx-5002").is_none());
        assert!(link(Some(&a), "vxlan5002").is_none());
        let r = routers_a.clone();
        assert_eq!(
            in_ns(&a, move || r.remove_segment("lbl0")).unwrap(),
            SegmentRemoved {
                removed: false,
                in_use: false
            },
            "the label is not the agent's"
        );
        assert!(link(Some(&a), "lbl0").is_some());
        eprintln!("VXLAN kernel test took {:?}", started.elapsed());
    }
}
