//! Virtual routers of isolated guest networks (issue 15, Advanced zones), as the agent is
//! asked for them: the management server computes a [`RouterSpec`] per isolated network
//! and PUTs it to the agent of the host that routes the network, which makes it so in a
//! Linux network namespace (`stratus-<name>`) instead of CloudStack's router VM: a guest
//! leg (the guests' gateway, DHCP and DNS) on the guest network's segment, a public leg
//! with the network's public addresses, source NAT, static NAT, port forwarding, the
//! ingress firewall of the public addresses and the egress policy of the guests.
//!
//! Also here: the guest segments ([`GuestSegment`], [`api::SEGMENTS`]), the host bridges
//! one isolated network's guests (and its router) sit on, with CloudStack's isolation
//! methods and names ([`Isolation`]):
//!
//! - `Untagged`: the traffic label's own bridge.
//! - `Vlan` (`vlan://<id>`): an 802.1Q device `<label>.<id>` in a bridge `br<label>-<id>`,
//!   as CloudStack's KVM agent does.
//! - `Vxlan` (`vxlan://<vni>`): a VXLAN device `vxlan<vni>` over the label (its first IPv4
//!   address is the tunnel's local end) in a bridge `brvx-<vni>`, as CloudStack's KVM
//!   `modifyvxlan.sh` names them. Why VXLAN at all: it needs no switch configuration and
//!   no 802.1Q in the host's kernel (the test machine's kernel has none: VLAN devices and
//!   VLAN filtering cannot be made there, VXLAN devices can), and CloudStack's KVM
//!   supports it as an isolation method of physical networks. Broadcast and unknown
//!   unicast reach the other hosts by head-end replication to a flood list of their
//!   underlay addresses (`peers`), not by multicast: the management server knows every
//!   host's address, and multicast routing in the underlay is not assumed. Encapsulation
//!   costs 50 bytes, so a VXLAN segment's MTU is the label's less [`VXLAN_OVERHEAD`], and
//!   the router hands the guests that MTU by DHCP.
//!
//! Everything arriving here is bounded and checked by the `validate` methods before the
//! agent renders anything: names are interface-safe, addresses sit in their subnets, no
//! lease, address or public port is given twice, ranges are not reversed, and no list is
//! longer than its `MAX_*`.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::agent::{normalize_mac, validate_bridge, GuestNetwork, StaticLease};

/// The most NAT, port-forwarding, firewall and egress rules one router holds (together).
pub const MAX_RULES: usize = 4096;
/// The most static DHCP leases of one guest network.
pub const MAX_LEASES: usize = 4096;
/// The most public addresses of one router.
pub const MAX_PUBLIC_ADDRESSES: usize = 256;
/// The most CIDRs one firewall or egress rule names (per side).
pub const MAX_CIDRS_PER_RULE: usize = 64;
/// The most upstream DNS servers.
pub const MAX_DNS_SERVERS: usize = 8;
/// The longest router name: the host ends of its veths are `<name>-g` and `<name>-p`,
/// which must fit Linux's 15 characters.
pub const MAX_NAME_LEN: usize = 13;
/// The namespace of router `name` is this prefix and the name.
pub const NAMESPACE_PREFIX: &str = "stratus-";
/// The most ports of all port forwards whose private range starts elsewhere than the
/// public one (each such port is one element of an nftables map).
pub const MAX_SHIFTED_PORTS: usize = 16_384;
/// The highest 802.1Q VLAN ID (0 and 4095 are reserved).
pub const MAX_VLAN: u16 = 4094;
/// The highest VXLAN network identifier CloudStack allows (2^24 − 2; 0 is not one).
pub const MAX_VNI: u32 = 16_777_214;
/// The most peers (other hosts) of one VXLAN segment's flood list.
pub const MAX_PEERS: usize = 1024;
/// VXLAN's IANA UDP port.
pub const VXLAN_PORT: u16 = 4789;
/// What VXLAN encapsulation over IPv4 adds to a frame (outer Ethernet 14, IPv4 20, UDP 8,
/// VXLAN 8): a VXLAN segment's MTU is its label's less this.
pub const VXLAN_OVERHEAD: u32 = 50;

/// How a guest network is kept apart from the others on the hosts' traffic label
/// (CloudStack's isolation methods; the broadcast URI in brackets). On the wire:
/// `{"kind":"untagged"}`, `{"kind":"vlan","id":123}`,
/// `{"kind":"vxlan","vni":5001,"peers":["10.231.2.2"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Isolation {
    /// The label's own bridge (`vlan://untagged`).
    #[default]
    Untagged,
    /// An 802.1Q VLAN on the label (`vlan://<id>`), 1–4094.
    Vlan { id: u16 },
    /// A VXLAN over the label's IPv4 address (`vxlan://<vni>`).
    Vxlan {
        /// 1–16777214.
        vni: u32,
        /// The other hosts' underlay addresses: broadcast and unknown unicast are sent
        /// to each (head-end replication). At most [`MAX_PEERS`], none twice. The host's
        /// own address, if listed, is ignored (the same list can go to every host).
        #[serde(default)]
        peers: Vec<Ipv4Addr>,
    },
}

impl Isolation {
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Isolation::Untagged => Ok(()),
            Isolation::Vlan { id } => validate_vlan(*id),
            Isolation::Vxlan { vni, peers } => {
                validate_vni(*vni)?;
                if peers.len() > MAX_PEERS {
                    return Err(format!(
                        "VXLAN {vni}: {} peers, at most {MAX_PEERS}",
                        peers.len()
                    ));
                }
                let mut seen = HashSet::new();
                for p in peers {
                    if p.is_unspecified() || p.is_broadcast() || p.is_multicast() || p.is_loopback()
                    {
                        return Err(format!("VXLAN {vni}: peer {p} is not a host address"));
                    }
                    if !seen.insert(*p) {
                        return Err(format!("VXLAN {vni}: peer {p} is given twice"));
                    }
                }
                Ok(())
            }
        }
    }

    /// The host bridge of this isolation on traffic label `label`: the label itself,
    /// [`vlan_bridge_name`], or [`vxlan_bridge_name`].
    pub fn bridge_name(&self, label: &str) -> String {
        match self {
            Isolation::Untagged => label.to_string(),
            Isolation::Vlan { id } => vlan_bridge_name(label, *id),
            Isolation::Vxlan { vni, .. } => vxlan_bridge_name(*vni),
        }
    }

    /// The device the agent puts in that bridge (none: untagged).
    pub fn device_name(&self, label: &str) -> Option<String> {
        match self {
            Isolation::Untagged => None,
            Isolation::Vlan { id } => Some(vlan_device_name(label, *id)),
            Isolation::Vxlan { vni, .. } => Some(vxlan_device_name(*vni)),
        }
    }

    /// CloudStack's broadcast URI: `vlan://untagged`, `vlan://<id>`, `vxlan://<vni>`.
    pub fn broadcast_uri(&self) -> String {
        match self {
            Isolation::Untagged => "vlan://untagged".into(),
            Isolation::Vlan { id } => format!("vlan://{id}"),
            Isolation::Vxlan { vni, .. } => format!("vxlan://{vni}"),
        }
    }
}

/// A VXLAN network identifier: 1–16777214.
pub fn validate_vni(vni: u32) -> Result<(), String> {
    if (1..=MAX_VNI).contains(&vni) {
        Ok(())
    } else {
        Err(format!("VXLAN VNI {vni}: must be 1-{MAX_VNI}"))
    }
}

/// The host bridge of VXLAN `vni`: `brvx-<vni>` (CloudStack's KVM name; at most 13
/// characters, the same on every host whatever its label).
pub fn vxlan_bridge_name(vni: u32) -> String {
    format!("brvx-{vni}")
}

/// The VXLAN device of `vni`: `vxlan<vni>` (at most 13 characters).
pub fn vxlan_device_name(vni: u32) -> String {
    format!("vxlan{vni}")
}

/// One guest network's segment on a host: a PUT of [`api::SEGMENTS`] makes its bridge
/// (and VLAN or VXLAN device) if missing and, for VXLAN, sets the flood list to exactly
/// the peers. Unknown fields are refused (a misspelt isolation must not mean untagged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSegment {
    /// The host's traffic label: an existing bridge (untagged: it must be one) or NIC.
    pub label: String,
    #[serde(default)]
    pub isolation: Isolation,
}

impl GuestSegment {
    pub fn validate(&self) -> Result<(), String> {
        validate_bridge(&self.label).map_err(|e| format!("label: {e}"))?;
        self.isolation.validate()
    }

    /// The segment's host bridge.
    pub fn bridge(&self) -> String {
        self.isolation.bridge_name(&self.label)
    }
}

/// The agent's answer to a PUT of a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentStatus {
    /// The bridge guests and routers of the segment attach to.
    pub bridge: String,
    /// The segment's MTU: the label's (untagged, VLAN), the label's less
    /// [`VXLAN_OVERHEAD`] (VXLAN).
    pub mtu: u32,
}

/// The agent's answer to a DELETE of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRemoved {
    /// The agent deleted the bridge (and its VLAN or VXLAN device, if it made them).
    pub removed: bool,
    /// It stays: an interface (a VM's tap, a router's veth) is still attached.
    pub in_use: bool,
}

/// An IPv4 network, `A.B.C.D/N` on the wire, host bits clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

fn mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

impl Ipv4Net {
    /// The network `ip/prefix_len` lies in (host bits cleared).
    pub fn containing(ip: Ipv4Addr, prefix_len: u8) -> Ipv4Net {
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(ip) & mask(prefix_len)),
            prefix_len: prefix_len.min(32),
        }
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix_len) == u32::from(self.addr)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix_len))
    }
    /// An address of the network that is neither its network nor its broadcast address
    /// (/31 and /32: any).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && (self.prefix_len >= 31 || (ip != self.addr && ip != self.broadcast()))
    }
    /// Every address of `other` is in `self`.
    pub fn covers(&self, other: &Ipv4Net) -> bool {
        self.prefix_len <= other.prefix_len && self.contains(other.addr)
    }
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.covers(other) || other.covers(self)
    }
    pub fn is_any(&self) -> bool {
        self.prefix_len == 0
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Ipv4Net, String> {
        let bad = || format!("'{s}' is not an IPv4 network (A.B.C.D/N, host bits clear)");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix_len: u8 = p.parse().map_err(|_| bad())?;
        if prefix_len > 32 || u32::from(addr) & !mask(prefix_len) != 0 {
            return Err(bad());
        }
        Ok(Ipv4Net { addr, prefix_len })
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = String;
    fn try_from(s: String) -> Result<Ipv4Net, String> {
        s.parse()
    }
}

impl From<Ipv4Net> for String {
    fn from(n: Ipv4Net) -> String {
        n.to_string()
    }
}

/// What a router makes of one isolated guest network on its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterSpec {
    /// 1–13 characters, lower-case letters, digits and `-`, starting with a letter or
    /// digit (e.g. `r-1a2b3c4d`); the namespace is `stratus-<name>`.
    pub name: String,
    pub guest: RouterGuestLeg,
    /// None: a router for DHCP and DNS only (no NAT, no public traffic).
    #[serde(default)]
    pub public: Option<RouterPublicLeg>,
    /// The guests' traffic leaves from this public address (one of the public leg's);
    /// none: only static NAT guests reach out.
    #[serde(default)]
    pub source_nat: Option<Ipv4Addr>,
    #[serde(default)]
    pub static_nat: Vec<StaticNatRule>,
    #[serde(default)]
    pub port_forwards: Vec<PortForward>,
    /// What may reach the public addresses (and through them the forwarded ports and the
    /// static NAT guests); everything else that is new is dropped (CloudStack's default).
    #[serde(default)]
    pub firewall: Vec<IngressRule>,
    #[serde(default)]
    pub egress: EgressPolicy,
}

/// The guest side: the guests' gateway on the guest network's segment. Unknown fields
/// are refused: a misspelt (or the former `vlan`) isolation must not mean untagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterGuestLeg {
    /// The host's traffic label of guest traffic: an existing bridge (or NIC, tagged).
    pub label: String,
    /// The guest network's isolation on the label (default: untagged, the label's bridge
    /// itself).
    #[serde(default)]
    pub isolation: Isolation,
    /// The router's address on the guest network, the guests' gateway.
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    /// The router's guest MAC.
    pub mac: String,
    /// The guests' DNS domain (DHCP option 15; lease host names resolve in it).
    #[serde(default)]
    pub dns_domain: Option<String>,
    /// Upstream resolvers of the router's DNS; empty: it answers for the guests' names
    /// only.
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
    #[serde(default)]
    pub leases: Vec<StaticLease>,
}

/// The public side: the network's public addresses on the public traffic label (unknown
/// fields refused, as the guest leg's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterPublicLeg {
    pub label: String,
    /// Normally untagged (the public traffic label's bridge) or a VLAN.
    #[serde(default)]
    pub isolation: Isolation,
    /// All public addresses of the network; the first is the primary (source NAT) one.
    pub addresses: Vec<Ipv4Addr>,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
}

/// One-to-one NAT: everything to `public_ip` goes to `private_ip` (as far as the
/// firewall lets it), and `private_ip` leaves from `public_ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticNatRule {
    pub public_ip: Ipv4Addr,
    pub private_ip: Ipv4Addr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    Tcp,
    Udp,
}

impl PortProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
        }
    }
}

/// `public_ip:public_start-public_end` → `private_ip:private_start-private_end`. The
/// private range is as long as the public one (port N → private_start + N −
/// public_start) or a single port (every public port → that port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    pub public_ip: Ipv4Addr,
    pub protocol: PortProtocol,
    pub public_start: u16,
    pub public_end: u16,
    pub private_ip: Ipv4Addr,
    pub private_start: u16,
    pub private_end: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleProtocol {
    Tcp,
    Udp,
    Icmp,
    All,
}

/// Allows new connections from `cidrs` to `public_ip` (its own ports, its forwarded
/// ports, or its static NAT guest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressRule {
    pub public_ip: Ipv4Addr,
    pub protocol: RuleProtocol,
    /// TCP/UDP: the (public) destination ports; none: all.
    #[serde(default)]
    pub start_port: Option<u16>,
    #[serde(default)]
    pub end_port: Option<u16>,
    /// ICMP: type and code, -1 or none: any.
    #[serde(default)]
    pub icmp_type: Option<i32>,
    #[serde(default)]
    pub icmp_code: Option<i32>,
    /// Sources; empty: anywhere (`0.0.0.0/0`).
    #[serde(default)]
    pub cidrs: Vec<Ipv4Net>,
}

/// What guests may open towards the outside.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EgressPolicy {
    /// True: everything may leave except what `rules` name (they deny); false
    /// (CloudStack's default isolated offering): nothing leaves except what `rules`
    /// name (they allow). Replies and related traffic always pass.
    #[serde(default)]
    pub default_allow: bool,
    #[serde(default)]
    pub rules: Vec<EgressRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRule {
    pub protocol: RuleProtocol,
    #[serde(default)]
    pub start_port: Option<u16>,
    #[serde(default)]
    pub end_port: Option<u16>,
    #[serde(default)]
    pub icmp_type: Option<i32>,
    #[serde(default)]
    pub icmp_code: Option<i32>,
    /// Guest sources: networks within the guest subnet, or `0.0.0.0/0`; empty: all.
    #[serde(default)]
    pub cidrs: Vec<Ipv4Net>,
    /// Destinations; empty: anywhere.
    #[serde(default)]
    pub dest_cidrs: Vec<Ipv4Net>,
}

/// The agent's answer to a PUT or GET of a router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterStatus {
    pub name: String,
    pub namespace: String,
    /// The router's dnsmasq (DHCP and DNS), if it runs.
    pub dnsmasq_pid: Option<u32>,
    /// The host bridge of the guest leg.
    pub guest_bridge: String,
    pub public_bridge: Option<String>,
    /// NAT, port-forwarding, firewall and egress rules in force.
    pub rules: usize,
    /// The VMs whose guest data the router's metadata and password services hold
    /// ([`api::ROUTER_GUEST`]): the management server sends the others'.
    #[serde(default)]
    pub guests: Vec<uuid::Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterRemoved {
    pub existed: bool,
}

/// FNV-1a, for short stable names (no dependency, same on every host and release).
fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The host bridge of VLAN `vlan` of traffic label `label`: `br<label>-<vlan>` as
/// CloudStack's KVM agent names it (`brcloudbr0-123`), or `brv<6 hex of a hash of the
/// label>-<vlan>` when that would exceed Linux's 15 characters. Stable across hosts and
/// releases, so every host of a zone names a VLAN's bridge alike.
pub fn vlan_bridge_name(label: &str, vlan: u16) -> String {
    let long = format!("br{label}-{vlan}");
    if long.len() <= 15 {
        return long;
    }
    format!("brv{:06x}-{vlan}", fnv1a(label) & 0x00ff_ffff)
}

/// The VLAN device of `vlan` on `label`: `<label>.<vlan>`, or `vl<6 hex>.<vlan>` when
/// that is too long.
pub fn vlan_device_name(label: &str, vlan: u16) -> String {
    let long = format!("{label}.{vlan}");
    if long.len() <= 15 {
        return long;
    }
    format!("vl{:06x}.{vlan}", fnv1a(label) & 0x00ff_ffff)
}

/// A router name (see [`RouterSpec::name`]).
pub fn validate_router_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a router name (1-{MAX_NAME_LEN} lower-case letters, digits or '-', \
             starting with a letter or digit)"
        ))
    }
}

/// A VLAN ID: 1–4094.
pub fn validate_vlan(vlan: u16) -> Result<(), String> {
    if (1..=MAX_VLAN).contains(&vlan) {
        Ok(())
    } else {
        Err(format!("VLAN {vlan}: must be 1-{MAX_VLAN}"))
    }
}

fn validate_domain(d: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if d.is_empty() || d.len() > 190 || !d.split('.').all(label_ok) {
        return Err(format!("'{d}' is not a DNS domain"));
    }
    Ok(())
}

fn ports_of(
    protocol: RuleProtocol,
    start: Option<u16>,
    end: Option<u16>,
    icmp_type: Option<i32>,
    icmp_code: Option<i32>,
) -> Result<(), String> {
    let tcp_udp = matches!(protocol, RuleProtocol::Tcp | RuleProtocol::Udp);
    match (start, end) {
        (None, None) => {}
        (Some(s), e) => {
            let e = e.unwrap_or(s);
            if !tcp_udp {
                return Err(format!("ports with {protocol:?}"));
            }
            if s == 0 || s > e {
                return Err(format!("port range {s}-{e}"));
            }
        }
        (None, Some(e)) => return Err(format!("an end port ({e}) without a start port")),
    }
    if icmp_type.is_some() || icmp_code.is_some() {
        if protocol != RuleProtocol::Icmp {
            return Err(format!("an ICMP type or code with {protocol:?}"));
        }
        for v in [icmp_type, icmp_code].into_iter().flatten() {
            if !(-1..=255).contains(&v) {
                return Err(format!("ICMP type or code {v}: must be -1-255"));
            }
        }
    }
    Ok(())
}

fn bounded_cidrs(what: &str, cidrs: &[Ipv4Net]) -> Result<(), String> {
    if cidrs.len() > MAX_CIDRS_PER_RULE {
        return Err(format!(
            "{what}: {} CIDRs, at most {MAX_CIDRS_PER_RULE}",
            cidrs.len()
        ));
    }
    Ok(())
}

impl RouterGuestLeg {
    pub fn subnet(&self) -> Ipv4Net {
        Ipv4Net::containing(self.gateway, self.prefix_len)
    }

    pub fn validate(&self) -> Result<(), String> {
        validate_bridge(&self.label).map_err(|e| format!("guest label: {e}"))?;
        self.isolation.validate()?;
        normalize_mac(&self.mac)?;
        if let Some(d) = &self.dns_domain {
            validate_domain(d)?;
        }
        if self.dns.len() > MAX_DNS_SERVERS {
            return Err(format!(
                "{} DNS servers, at most {MAX_DNS_SERVERS}",
                self.dns.len()
            ));
        }
        for d in &self.dns {
            if d.is_unspecified() || d.is_broadcast() || d.is_multicast() {
                return Err(format!("DNS server {d} is not a host address"));
            }
        }
        if self.leases.len() > MAX_LEASES {
            return Err(format!(
                "{} leases, at most {MAX_LEASES}",
                self.leases.len()
            ));
        }
        // The subnet, the gateway and the leases as a Basic zone's network checks them.
        GuestNetwork {
            bridge: self.label.clone(),
            gateway: self.gateway,
            prefix_len: self.prefix_len,
            dhcp_address: None,
            dns: vec![],
            leases: self.leases.clone(),
        }
        .validate()
        .map_err(|e| format!("guest network: {e}"))?;
        let mut names = HashSet::new();
        for l in &self.leases {
            if let Some(h) = &l.hostname {
                if !names.insert(h.to_ascii_lowercase()) {
                    return Err(format!("host name {h} is leased twice"));
                }
            }
            if normalize_mac(&l.mac).ok() == normalize_mac(&self.mac).ok() {
                return Err(format!("lease {}: the router's own MAC", l.mac));
            }
        }
        Ok(())
    }
}

impl RouterPublicLeg {
    pub fn subnet(&self) -> Ipv4Net {
        Ipv4Net::containing(self.gateway, self.prefix_len)
    }

    pub fn validate(&self) -> Result<(), String> {
        validate_bridge(&self.label).map_err(|e| format!("public label: {e}"))?;
        self.isolation.validate()?;
        normalize_mac(&self.mac)?;
        if !(8..=30).contains(&self.prefix_len) {
            return Err(format!(
                "public prefix length /{}: must be 8-30",
                self.prefix_len
            ));
        }
        let net = self.subnet();
        if !net.is_host(self.gateway) {
            return Err(format!(
                "the public gateway {} is not a host address of {net}",
                self.gateway
            ));
        }
        if self.addresses.is_empty() || self.addresses.len() > MAX_PUBLIC_ADDRESSES {
            return Err(format!(
                "{} public addresses: 1-{MAX_PUBLIC_ADDRESSES}",
                self.addresses.len()
            ));
        }
        let mut seen = HashSet::new();
        for a in &self.addresses {
            if !net.is_host(*a) || *a == self.gateway {
                return Err(format!(
                    "public address {a} is not a host address of {net} other than its gateway"
                ));
            }
            if !seen.insert(*a) {
                return Err(format!("public address {a} is given twice"));
            }
        }
        Ok(())
    }
}

impl RouterSpec {
    /// The router's network namespace.
    pub fn namespace(&self) -> String {
        router_namespace(&self.name)
    }

    /// NAT, port-forwarding, firewall and egress rules.
    pub fn rule_count(&self) -> usize {
        self.static_nat.len()
            + self.port_forwards.len()
            + self.firewall.len()
            + self.egress.rules.len()
    }

    /// Bounds and well-formedness, before the agent touches anything.
    pub fn validate(&self) -> Result<(), String> {
        validate_router_name(&self.name)?;
        self.guest.validate()?;
        let guest_net = self.guest.subnet();
        let n = self.rule_count();
        if n > MAX_RULES {
            return Err(format!("{n} rules, at most {MAX_RULES}"));
        }
        let public_addresses: HashSet<Ipv4Addr> = match &self.public {
            Some(p) => {
                p.validate()?;
                if p.subnet().overlaps(&guest_net) {
                    return Err(format!(
                        "the public subnet {} overlaps the guest subnet {guest_net}",
                        p.subnet()
                    ));
                }
                if p.isolation.bridge_name(&p.label)
                    == self.guest.isolation.bridge_name(&self.guest.label)
                {
                    return Err("the guest and public legs are on the same bridge".into());
                }
                if normalize_mac(&p.mac).ok() == normalize_mac(&self.guest.mac).ok() {
                    return Err("the guest and public legs have the same MAC".into());
                }
                p.addresses.iter().copied().collect()
            }
            None => HashSet::new(),
        };
        let public = |what: &str, ip: Ipv4Addr| -> Result<(), String> {
            if public_addresses.contains(&ip) {
                Ok(())
            } else {
                Err(format!(
                    "{what}: {ip} is not a public address of the router"
                ))
            }
        };
        let guest_host = |what: &str, ip: Ipv4Addr| -> Result<(), String> {
            if guest_net.is_host(ip) && ip != self.guest.gateway {
                Ok(())
            } else {
                Err(format!(
                    "{what}: {ip} is not a guest address of {guest_net}"
                ))
            }
        };
        if let Some(s) = self.source_nat {
            public("source NAT", s)?;
        }
        let mut static_public = HashSet::new();
        let mut static_private = HashSet::new();
        for r in &self.static_nat {
            public("static NAT", r.public_ip)?;
            guest_host("static NAT", r.private_ip)?;
            if Some(r.public_ip) == self.source_nat {
                return Err(format!(
                    "static NAT: {} is the source NAT address",
                    r.public_ip
                ));
            }
            if !static_public.insert(r.public_ip) {
                return Err(format!("static NAT: {} is given twice", r.public_ip));
            }
            if !static_private.insert(r.private_ip) {
                return Err(format!(
                    "static NAT: {} has two public addresses",
                    r.private_ip
                ));
            }
        }
        let mut forwarded: Vec<(Ipv4Addr, PortProtocol, u16, u16)> = vec![];
        let mut shifted = 0usize;
        for f in &self.port_forwards {
            public("port forwarding", f.public_ip)?;
            guest_host("port forwarding", f.private_ip)?;
            if static_public.contains(&f.public_ip) {
                return Err(format!(
                    "port forwarding: {} is a static NAT address",
                    f.public_ip
                ));
            }
            for (s, e) in [
                (f.public_start, f.public_end),
                (f.private_start, f.private_end),
            ] {
                if s == 0 || s > e {
                    return Err(format!("port forwarding: port range {s}-{e}"));
                }
            }
            let public_len = f.public_end - f.public_start;
            let private_len = f.private_end - f.private_start;
            if private_len != 0 && private_len != public_len {
                return Err(format!(
                    "port forwarding: {}-{} → {}-{}: the private range must be as long as \
                     the public one, or one port",
                    f.public_start, f.public_end, f.private_start, f.private_end
                ));
            }
            if private_len != 0 && f.private_start != f.public_start {
                shifted += usize::from(public_len) + 1;
                if shifted > MAX_SHIFTED_PORTS {
                    return Err(format!(
                        "port forwarding: more than {MAX_SHIFTED_PORTS} ports forwarded to \
                         other port numbers"
                    ));
                }
            }
            if let Some(o) = forwarded.iter().find(|(ip, p, s, e)| {
                *ip == f.public_ip && *p == f.protocol && *s <= f.public_end && f.public_start <= *e
            }) {
                return Err(format!(
                    "port forwarding: {} {}:{}-{} overlaps {}-{}",
                    f.protocol.as_str(),
                    f.public_ip,
                    f.public_start,
                    f.public_end,
                    o.2,
                    o.3
                ));
            }
            forwarded.push((f.public_ip, f.protocol, f.public_start, f.public_end));
        }
        for r in &self.firewall {
            public("firewall", r.public_ip)?;
            ports_of(
                r.protocol,
                r.start_port,
                r.end_port,
                r.icmp_type,
                r.icmp_code,
            )
            .map_err(|e| format!("firewall rule on {}: {e}", r.public_ip))?;
            bounded_cidrs("firewall rule", &r.cidrs)?;
        }
        for r in &self.egress.rules {
            ports_of(
                r.protocol,
                r.start_port,
                r.end_port,
                r.icmp_type,
                r.icmp_code,
            )
            .map_err(|e| format!("egress rule: {e}"))?;
            bounded_cidrs("egress rule", &r.cidrs)?;
            bounded_cidrs("egress rule", &r.dest_cidrs)?;
            for c in &r.cidrs {
                if !c.is_any() && !guest_net.covers(c) {
                    return Err(format!(
                        "egress rule: source {c} is not within the guest subnet {guest_net}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The namespace of router `name`.
pub fn router_namespace(name: &str) -> String {
    format!("{NAMESPACE_PREFIX}{name}")
}

/// The agent's routes for routers and guest segments (same conventions as
/// [`crate::agent::api`]).
pub mod api {
    /// PUT a [`RouterSpec`](super::RouterSpec) (the path's name must be the spec's):
    /// make the router so, in place (the same spec again changes nothing); answers
    /// [`RouterStatus`](super::RouterStatus). GET: its
    /// [`RouterStatus`](super::RouterStatus) (404: no such router). DELETE: stop its
    /// dnsmasq, delete its veths and namespace, forget it; answers
    /// [`RouterRemoved`](super::RouterRemoved).
    pub const ROUTER: &str = "/v1/routers/{name}";
    /// PUT a [`GuestSegment`](super::GuestSegment): its bridge (and VLAN or VXLAN
    /// device) made if missing, up, with the segment's MTU; for VXLAN the flood list set
    /// to exactly its peers (entries of other peers, also learned ones, removed). The
    /// same segment again changes nothing. Answers
    /// [`SegmentStatus`](super::SegmentStatus).
    pub const SEGMENTS: &str = "/v1/segments";
    /// DELETE: remove the bridge and its device if the agent made them and nothing else
    /// is attached; answers [`SegmentRemoved`](super::SegmentRemoved) (a bridge the
    /// agent did not make: neither removed nor in use).
    pub const SEGMENT: &str = "/v1/segments/{bridge}";
    /// PUT a VM's [`GuestData`](crate::agent::GuestData): what the router's metadata
    /// (`:80`) and password (`:8080`) services answer that VM on the guest network (the
    /// VM may run on another host). Kept until the VM's MACs leave the router's leases;
    /// a password is served until the guest saves it, also when later data has none
    /// (CloudStack's virtual router keeps it likewise). Answers
    /// [`RouterStatus`](super::RouterStatus); 404 when the router is not on this host.
    pub const ROUTER_GUEST: &str = "/v1/routers/{name}/guests/{id}";

    pub fn router(name: &str) -> String {
        ROUTER.replace("{name}", name)
    }
    pub fn router_guest(name: &str, id: uuid::Uuid) -> String {
        ROUTER_GUEST
            .replace("{name}", name)
            .replace("{id}", &id.to_string())
    }
    pub fn segment(bridge: &str) -> String {
        SEGMENT.replace("{bridge}", bridge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> RouterSpec {
        serde_json::from_value(serde_json::json!({
            "name": "r-1a2b3c4d",
            "guest": {
                "label": "cloudbr0", "isolation": {"kind": "vlan", "id": 123},
                "gateway": "10.1.1.1", "prefix_len": 24,
                "mac": "02:00:0a:01:01:01", "dns_domain": "cs2cloud.internal",
                "dns": ["192.0.2.53"],
                "leases": [{"mac": "52:54:00:00:00:32", "ip": "10.1.1.50", "hostname": "vm1"}]
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
            }],
            "firewall": [{
                "public_ip": "203.0.113.11", "protocol": "tcp", "start_port": 2222,
                "end_port": 2222, "cidrs": ["0.0.0.0/0"]
            }],
            "egress": {"default_allow": false, "rules": [
                {"protocol": "tcp", "start_port": 80, "end_port": 443, "dest_cidrs": ["0.0.0.0/0"]}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn the_example_is_valid_and_round_trips() {
        let s = spec();
        s.validate().unwrap();
        assert_eq!(s.namespace(), "stratus-r-1a2b3c4d");
        assert_eq!(s.rule_count(), 4);
        let back: RouterSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        // Minimal: DHCP and DNS only.
        let m: RouterSpec = serde_json::from_value(serde_json::json!({
            "name": "r0", "guest": {"label": "br0", "gateway": "10.0.0.1", "prefix_len": 24,
            "mac": "02:00:00:00:00:01"}
        }))
        .unwrap();
        m.validate().unwrap();
    }

    #[test]
    fn hostile_specs_are_refused() {
        type Edit = Box<dyn Fn(&mut RouterSpec)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("not a router name", Box::new(|s| s.name = "R-UPPER".into())),
            (
                "not a router name",
                Box::new(|s| s.name = "r-1a2b3c4d5e6f7".into()),
            ),
            ("not a router name", Box::new(|s| s.name = "../etc".into())),
            ("not a router name", Box::new(|s| s.name = "-r".into())),
            ("not a router name", Box::new(|s| s.name = String::new())),
            (
                "not a bridge name",
                Box::new(|s| s.guest.label = "a very long label".into()),
            ),
            (
                "not a bridge name",
                Box::new(|s| s.guest.label = "br;rm".into()),
            ),
            (
                "must be 1-4094",
                Box::new(|s| s.guest.isolation = Isolation::Vlan { id: 4095 }),
            ),
            (
                "must be 1-4094",
                Box::new(|s| s.guest.isolation = Isolation::Vlan { id: 0 }),
            ),
            (
                "must be 1-16777214",
                Box::new(|s| {
                    s.guest.isolation = Isolation::Vxlan {
                        vni: 0,
                        peers: vec![],
                    }
                }),
            ),
            (
                "peer 10.0.0.2 is given twice",
                Box::new(|s| {
                    s.guest.isolation = Isolation::Vxlan {
                        vni: 5001,
                        peers: vec!["10.0.0.2".parse().unwrap(); 2],
                    }
                }),
            ),
            ("prefix length", Box::new(|s| s.guest.prefix_len = 33)),
            ("prefix length", Box::new(|s| s.guest.prefix_len = 31)),
            (
                "prefix length",
                Box::new(|s| s.public.as_mut().unwrap().prefix_len = 40),
            ),
            (
                "multicast MAC",
                Box::new(|s| s.guest.mac = "01:00:00:00:00:01".into()),
            ),
            (
                "gateway 10.1.1.0 is not a host address",
                Box::new(|s| s.guest.gateway = "10.1.1.0".parse().unwrap()),
            ),
            (
                "not a DNS domain",
                Box::new(|s| s.guest.dns_domain = Some("a..b".into())),
            ),
            (
                "9 DNS servers",
                Box::new(|s| s.guest.dns = vec!["8.8.8.8".parse().unwrap(); 9]),
            ),
            (
                "not a host address of 10.1.1.0/24",
                Box::new(|s| s.guest.leases[0].ip = "10.1.2.5".parse().unwrap()),
            ),
            (
                "has two leases",
                Box::new(|s| {
                    let l = s.guest.leases[0].clone();
                    s.guest.leases.push(l);
                }),
            ),
            (
                "4097 leases",
                Box::new(|s| {
                    s.guest.leases = (0..=MAX_LEASES)
                        .map(|i| StaticLease {
                            mac: format!("52:54:00:00:{:02x}:{:02x}", i / 256, i % 256),
                            ip: Ipv4Addr::from(
                                u32::from(Ipv4Addr::new(10, 1, 0, 0)) + 2 + i as u32,
                            ),
                            hostname: None,
                        })
                        .collect();
                    s.guest.prefix_len = 16;
                    s.guest.gateway = "10.1.0.1".parse().unwrap();
                }),
            ),
            (
                "198.51.100.1 is not a host address",
                Box::new(|s| {
                    s.public
                        .as_mut()
                        .unwrap()
                        .addresses
                        .push("198.51.100.1".parse().unwrap())
                }),
            ),
            (
                "given twice",
                Box::new(|s| {
                    s.public
                        .as_mut()
                        .unwrap()
                        .addresses
                        .push("203.0.113.10".parse().unwrap())
                }),
            ),
            (
                "overlaps the guest subnet",
                Box::new(|s| {
                    let p = s.public.as_mut().unwrap();
                    p.gateway = "10.1.1.200".parse().unwrap();
                    p.addresses = vec!["10.1.1.201".parse().unwrap()];
                }),
            ),
            (
                "203.0.113.99 is not a public address",
                Box::new(|s| s.source_nat = Some("203.0.113.99".parse().unwrap())),
            ),
            (
                "203.0.113.10 is not a public address",
                Box::new(|s| s.public = None),
            ),
            (
                "on the same bridge",
                Box::new(|s| {
                    let p = s.public.as_mut().unwrap();
                    p.label = "cloudbr0".into();
                    p.isolation = Isolation::Vlan { id: 123 };
                }),
            ),
            (
                "10.2.0.5 is not a guest address",
                Box::new(|s| s.static_nat[0].private_ip = "10.2.0.5".parse().unwrap()),
            ),
            (
                "is the source NAT address",
                Box::new(|s| s.static_nat[0].public_ip = "203.0.113.10".parse().unwrap()),
            ),
            (
                "port range 2222-2000",
                Box::new(|s| s.port_forwards[0].public_end = 2000),
            ),
            (
                "port range 0-22",
                Box::new(|s| s.port_forwards[0].private_start = 0),
            ),
            (
                "must be as long as",
                Box::new(|s| {
                    let f = &mut s.port_forwards[0];
                    f.public_end = 2230;
                    f.private_end = 23;
                }),
            ),
            (
                "overlaps 2222-2222",
                Box::new(|s| {
                    let mut f = s.port_forwards[0];
                    f.private_ip = "10.1.1.60".parse().unwrap();
                    s.port_forwards.push(f);
                }),
            ),
            (
                "is a static NAT address",
                Box::new(|s| s.port_forwards[0].public_ip = "203.0.113.12".parse().unwrap()),
            ),
            (
                "port range 2222-1",
                Box::new(|s| s.firewall[0].end_port = Some(1)),
            ),
            (
                "ports with Icmp",
                Box::new(|s| s.firewall[0].protocol = RuleProtocol::Icmp),
            ),
            (
                "ICMP type or code with Tcp",
                Box::new(|s| s.firewall[0].icmp_type = Some(8)),
            ),
            (
                "code 256",
                Box::new(|s| {
                    let r = &mut s.firewall[0];
                    r.protocol = RuleProtocol::Icmp;
                    r.start_port = None;
                    r.end_port = None;
                    r.icmp_type = Some(256);
                }),
            ),
            (
                "65 CIDRs",
                Box::new(|s| {
                    s.firewall[0].cidrs = vec!["0.0.0.0/0".parse().unwrap(); MAX_CIDRS_PER_RULE + 1]
                }),
            ),
            (
                "not within the guest subnet",
                Box::new(|s| s.egress.rules[0].cidrs = vec!["10.9.0.0/16".parse().unwrap()]),
            ),
            (
                "4099 rules",
                Box::new(|s| {
                    let r = s.egress.rules[0].clone();
                    s.egress.rules = vec![r; MAX_RULES];
                }),
            ),
        ];
        for (what, edit) in cases {
            let mut s = spec();
            edit(&mut s);
            let e = s.validate().expect_err(what);
            assert!(
                e.contains(what),
                "refused for another reason: {e} (wanted {what})"
            );
        }
    }

    #[test]
    fn networks_parse_strictly() {
        assert_eq!(
            "10.0.0.0/8".parse::<Ipv4Net>().unwrap(),
            Ipv4Net {
                addr: Ipv4Addr::new(10, 0, 0, 0),
                prefix_len: 8
            }
        );
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0.0",
            "10.0.0.0/",
            "x/8",
            "10.0.0.0/+8",
        ] {
            assert!(bad.parse::<Ipv4Net>().is_err(), "{bad}");
        }
        let n: Ipv4Net = "10.1.0.0/16".parse().unwrap();
        assert!(n.covers(&"10.1.2.0/24".parse().unwrap()));
        assert!(!n.covers(&"10.0.0.0/8".parse().unwrap()));
        assert!(n.overlaps(&"10.0.0.0/8".parse().unwrap()));
        assert!(serde_json::from_str::<Ipv4Net>("\"10.1.1.1/24\"").is_err());
    }

    #[test]
    fn vlan_bridges_are_named_the_cloudstack_way_within_15_characters() {
        assert_eq!(vlan_bridge_name("cloudbr0", 123), "brcloudbr0-123");
        assert_eq!(vlan_bridge_name("eth0", 4094), "breth0-4094");
        let long = vlan_bridge_name("cloudbr-public", 4094);
        assert!(long.len() <= 15, "{long}");
        assert!(long.starts_with("brv") && long.ends_with("-4094"), "{long}");
        assert_eq!(long, vlan_bridge_name("cloudbr-public", 4094), "stable");
        assert_ne!(long, vlan_bridge_name("cloudbr-publik", 4094));
        assert_eq!(vlan_device_name("eth0", 12), "eth0.12");
        let dev = vlan_device_name("cloudbr-public", 4094);
        assert!(dev.len() <= 15 && dev.ends_with(".4094"), "{dev}");
        for label in ["a", "cloudbr0", "abcdefghijklmno"] {
            for vlan in [1, 99, 4094] {
                assert!(vlan_bridge_name(label, vlan).len() <= 15);
                assert!(vlan_device_name(label, vlan).len() <= 15);
            }
        }
    }

    #[test]
    fn paths() {
        assert_eq!(api::router("r-1"), "/v1/routers/r-1");
        assert_eq!(api::segment("brvx-5001"), "/v1/segments/brvx-5001");
        assert_eq!(api::SEGMENTS, "/v1/segments");
    }

    #[test]
    fn segments_are_named_the_cloudstack_kvm_way() {
        let vx = Isolation::Vxlan {
            vni: 5001,
            peers: vec![],
        };
        assert_eq!(vx.bridge_name("cloudbr0"), "brvx-5001");
        assert_eq!(vx.device_name("cloudbr0").as_deref(), Some("vxlan5001"));
        assert_eq!(vx.broadcast_uri(), "vxlan://5001");
        let top = Isolation::Vxlan {
            vni: MAX_VNI,
            peers: vec![],
        };
        assert!(top.bridge_name("x").len() <= 13, "{}", top.bridge_name("x"));
        assert!(top.device_name("x").unwrap().len() <= 13);
        let vlan = Isolation::Vlan { id: 123 };
        assert_eq!(vlan.bridge_name("cloudbr0"), "brcloudbr0-123");
        assert_eq!(
            vlan.device_name("cloudbr0").as_deref(),
            Some("cloudbr0.123")
        );
        assert_eq!(vlan.broadcast_uri(), "vlan://123");
        assert_eq!(Isolation::Untagged.bridge_name("cloudbr0"), "cloudbr0");
        assert_eq!(Isolation::Untagged.device_name("cloudbr0"), None);
        assert_eq!(Isolation::Untagged.broadcast_uri(), "vlan://untagged");
    }

    #[test]
    fn isolation_is_tagged_on_the_wire() {
        let seg: GuestSegment = serde_json::from_value(serde_json::json!({
            "label": "cloudbr0",
            "isolation": {"kind": "vxlan", "vni": 5001, "peers": ["10.231.2.2", "10.231.3.2"]}
        }))
        .unwrap();
        seg.validate().unwrap();
        assert_eq!(seg.bridge(), "brvx-5001");
        assert_eq!(
            serde_json::to_value(&seg.isolation).unwrap(),
            serde_json::json!({"kind": "vxlan", "vni": 5001, "peers": ["10.231.2.2", "10.231.3.2"]})
        );
        assert_eq!(
            serde_json::to_value(Isolation::Vlan { id: 7 }).unwrap(),
            serde_json::json!({"kind": "vlan", "id": 7})
        );
        // No isolation given: untagged, the label's bridge.
        let plain: GuestSegment =
            serde_json::from_value(serde_json::json!({"label": "cloudbr0"})).unwrap();
        assert_eq!(plain.isolation, Isolation::Untagged);
        assert_eq!(plain.bridge(), "cloudbr0");
        // A router leg without isolation is untagged too.
        let m: RouterSpec = serde_json::from_value(serde_json::json!({
            "name": "r0", "guest": {"label": "br0", "gateway": "10.0.0.1", "prefix_len": 24,
            "mac": "02:00:00:00:00:01"}
        }))
        .unwrap();
        assert_eq!(m.guest.isolation, Isolation::Untagged);
        // The former `vlan` field is refused, not read as untagged.
        let old = serde_json::json!({
            "name": "r0", "guest": {"label": "br0", "vlan": 5, "gateway": "10.0.0.1",
            "prefix_len": 24, "mac": "02:00:00:00:00:01"}
        });
        let e = serde_json::from_value::<RouterSpec>(old).unwrap_err();
        assert!(e.to_string().contains("unknown field `vlan`"), "{e}");
        for bad in [
            serde_json::json!({"label": "cloudbr0", "isolation": {"kind": "vxlan", "vni": -1}}),
            serde_json::json!({"label": "cloudbr0", "isolation": {"kind": "vxlan", "vni": 1u64 << 32}}),
            serde_json::json!({"label": "cloudbr0", "isolation": {"kind": "gre", "key": 1}}),
            serde_json::json!({"label": "cloudbr0", "isolation": {"kind": "vlan", "id": 70000}}),
            serde_json::json!({"label": "cloudbr0", "isolation": {"kind": "vxlan", "vni": 1, "peers": ["x"]}}),
            serde_json::json!({"label": "cloudbr0", "isolaton": {"kind": "vxlan", "vni": 1}}),
            serde_json::json!({"label": "cloudbr0", "vlan": 5}),
        ] {
            assert!(
                serde_json::from_value::<GuestSegment>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn hostile_segments_are_refused() {
        let vx = |vni: u32, peers: Vec<Ipv4Addr>| GuestSegment {
            label: "cloudbr0".into(),
            isolation: Isolation::Vxlan { vni, peers },
        };
        let peer = |i: u32| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 231, 0, 0)) + i);
        vx(1, vec![]).validate().unwrap();
        vx(MAX_VNI, (1..=MAX_PEERS as u32).map(peer).collect())
            .validate()
            .unwrap();
        let cases: Vec<(&str, GuestSegment)> = vec![
            ("VNI 0: must be 1-16777214", vx(0, vec![])),
            ("VNI 16777215: must be 1-16777214", vx(MAX_VNI + 1, vec![])),
            ("VNI 4294967295", vx(u32::MAX, vec![])),
            (
                "1025 peers, at most 1024",
                vx(5001, (1..=MAX_PEERS as u32 + 1).map(peer).collect()),
            ),
            (
                "peer 10.231.0.2 is given twice",
                vx(5001, vec![peer(2), peer(3), peer(2)]),
            ),
            (
                "peer 0.0.0.0 is not a host address",
                vx(5001, vec![Ipv4Addr::UNSPECIFIED]),
            ),
            (
                "peer 239.1.1.1 is not a host address",
                vx(5001, vec![Ipv4Addr::new(239, 1, 1, 1)]),
            ),
            (
                "peer 255.255.255.255 is not a host address",
                vx(5001, vec![Ipv4Addr::BROADCAST]),
            ),
            (
                "must be 1-4094",
                GuestSegment {
                    label: "cloudbr0".into(),
                    isolation: Isolation::Vlan { id: 4095 },
                },
            ),
        ];
        for (what, seg) in cases {
            let e = seg.validate().expect_err(what);
            assert!(
                e.contains(what),
                "refused for another reason: {e} (wanted {what})"
            );
        }
        for label in [
            "",
            "a very long label",
            "br;rm -rf",
            "../etc",
            "br/0",
            "brvx-5001\n",
        ] {
            let seg = GuestSegment {
                label: label.into(),
                isolation: Isolation::Vxlan {
                    vni: 5001,
                    peers: vec![],
                },
            };
            let e = seg.validate().expect_err(label);
            assert!(e.contains("not a bridge name"), "{label}: {e}");
        }
    }
}
