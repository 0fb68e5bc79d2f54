//! Public addresses' rules (issue 15): port forwarding, the ingress firewall of a public
//! address and the egress firewall of a guest network, checked as CloudStack's
//! `FirewallManagerImpl.validateFirewallRule`, `RulesManagerImpl.createPortForwardingRule`
//! and `detectRulesConflict` check them, with their texts, because Ansible (cs_portforward,
//! cs_firewall) and Terraform compare what they sent with what is listed and match some
//! errors by text. Pure: the command brings the request's values and the rules already
//! there; what comes back is what the rows hold, or the refusal.
//!
//! Every value is hostile: ports outside 1–65535, reversed ranges, ICMP values outside
//! -1–255, CIDRs that are not IPv4 networks and lists longer than a router takes are
//! refused here (431), before anything is stored.

use std::net::Ipv4Addr;

use stratus_api::params::shown;
use stratus_api::router::{Ipv4Net, RuleProtocol, MAX_CIDRS_PER_RULE};

/// What a rule is (CloudStack's `Purpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PortForwarding,
    Firewall,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::PortForwarding => "PortForwarding",
            Purpose::Firewall => "Firewall",
        }
    }
}

/// The protocol as stored and answered (lower case).
pub fn protocol_str(p: RuleProtocol) -> &'static str {
    match p {
        RuleProtocol::Tcp => "tcp",
        RuleProtocol::Udp => "udp",
        RuleProtocol::Icmp => "icmp",
        RuleProtocol::All => "all",
    }
}

/// The stored text back.
pub fn protocol_from_stored(s: &str) -> Option<RuleProtocol> {
    match s {
        "tcp" => Some(RuleProtocol::Tcp),
        "udp" => Some(RuleProtocol::Udp),
        "icmp" => Some(RuleProtocol::Icmp),
        "all" => Some(RuleProtocol::All),
        _ => None,
    }
}

/// The protocols each kind of rule takes: CloudStack's VirtualRouter capabilities
/// (PortForwarding `tcp,udp`, Firewall `tcp,udp,icmp`, SupportedEgressProtocols
/// `tcp,udp,icmp,all`).
pub const PORT_FORWARDING: &[RuleProtocol] = &[RuleProtocol::Tcp, RuleProtocol::Udp];
pub const INGRESS: &[RuleProtocol] = &[RuleProtocol::Tcp, RuleProtocol::Udp, RuleProtocol::Icmp];
pub const EGRESS: &[RuleProtocol] = &[
    RuleProtocol::Tcp,
    RuleProtocol::Udp,
    RuleProtocol::Icmp,
    RuleProtocol::All,
];

/// A protocol of `allowed`, any case, trimmed; otherwise CloudStack's text.
pub fn protocol(raw: &str, allowed: &[RuleProtocol], zone: &str) -> Result<RuleProtocol, String> {
    let p = raw.trim().to_ascii_lowercase();
    match protocol_from_stored(&p) {
        Some(p) if allowed.contains(&p) => Ok(p),
        _ => Err(format!(
            "Protocol {} is not supported in zone {zone}",
            shown(raw.trim())
        )),
    }
}

fn valid_port(p: i64) -> bool {
    (1..=65535).contains(&p)
}

/// A checked rule's match: the protocol, its ports (none: all) or ICMP type and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    pub protocol: RuleProtocol,
    pub start_port: Option<i32>,
    pub end_port: Option<i32>,
    pub icmp_type: Option<i32>,
    pub icmp_code: Option<i32>,
}

/// A firewall rule's ports and ICMP values (`validateFirewallRule` and
/// `createFirewallRule`): the end port defaults to the start port; ICMP takes no ports and
/// defaults its type and code to -1 (any); only ICMP takes a type or code; `all` takes no
/// ports.
pub fn firewall_match(
    protocol: RuleProtocol,
    start: Option<i64>,
    end: Option<i64>,
    icmp_type: Option<i64>,
    icmp_code: Option<i64>,
    network: &str,
) -> Result<RuleMatch, String> {
    if let Some(s) = start {
        if !valid_port(s) {
            return Err(format!("publicPort is an invalid value: {s}"));
        }
    }
    if let Some(e) = end {
        if !valid_port(e) {
            return Err(format!("Public port range is an invalid value: {e}"));
        }
    }
    let (start, end) = match (start, end) {
        (None, None) => (None, None),
        (Some(s), e) => (Some(s), Some(e.unwrap_or(s))),
        (None, Some(e)) => {
            return Err(format!(
                "An end port ({e}) needs a start port: pass startport too"
            ))
        }
    };
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err("Start port can't be bigger than end port".into());
        }
    }
    if protocol != RuleProtocol::Icmp && (icmp_type.is_some() || icmp_code.is_some()) {
        return Err("Can specify icmpCode and icmpType for ICMP protocol only".into());
    }
    match protocol {
        RuleProtocol::Icmp => {
            if start.is_some() {
                return Err("Can't specify start/end port when protocol is ICMP".into());
            }
            let t = icmp_type.unwrap_or(-1);
            let c = icmp_code.unwrap_or(-1);
            for (what, v) in [("type", t), ("code", c)] {
                if !(-1..=255).contains(&v) {
                    return Err(format!(
                        "Invalid ICMP {what} {v}: it must be -1 (any) or 0-255"
                    ));
                }
            }
            Ok(RuleMatch {
                protocol,
                start_port: None,
                end_port: None,
                icmp_type: Some(t as i32),
                icmp_code: Some(c as i32),
            })
        }
        RuleProtocol::All if start.is_some() => Err(format!(
            "Do not pass ports to protocol ALL, protocol ALL do not require ports. Unable to create firewall rule for the network id={network}"
        )),
        _ => Ok(RuleMatch {
            protocol,
            start_port: start.map(|v| v as i32),
            end_port: end.map(|v| v as i32),
            icmp_type: None,
            icmp_code: None,
        }),
    }
}

/// A port forward's four ports, checked (`createPortForwardingRule`): ends default to
/// starts; both ranges valid and in order; equal lengths; and where either side is a
/// range, the two ranges start alike (a single port 2222 → 22 is allowed, a range
/// 8000-8010 → 9000-9010 is not).
pub fn forward_ports(
    public: (i64, Option<i64>),
    private: (i64, Option<i64>),
) -> Result<[i32; 4], String> {
    let (ps, pe) = (public.0, public.1.unwrap_or(public.0));
    let (vs, ve) = (private.0, private.1.unwrap_or(private.0));
    if !valid_port(ps) {
        return Err(format!("publicPort is an invalid value: {ps}"));
    }
    if !valid_port(pe) {
        return Err(format!("Public port range is an invalid value: {pe}"));
    }
    if ps > pe {
        return Err("Start port can't be bigger than end port".into());
    }
    if !valid_port(vs) {
        return Err(format!("privatePort is an invalid value: {vs}"));
    }
    if !valid_port(ve) {
        return Err(format!("Private port range is an invalid value: {ve}"));
    }
    if vs > ve {
        return Err("Start port can't be bigger than end port".into());
    }
    if pe - ps != ve - vs {
        return Err("Source port and destination port ranges should be of equal sizes.".into());
    }
    if pe != ps {
        if vs != ps {
            return Err("Private port start should be equal to public port start".into());
        }
        if ve != pe {
            return Err("Private port end should be equal to public port end".into());
        }
    }
    Ok([ps as i32, pe as i32, vs as i32, ve as i32])
}

/// A CIDR list as the client wrote it (trimmed, duplicates dropped), each an IPv4
/// network `a.b.c.d/n` (host bits may be set, as CloudStack accepts; the router gets the
/// network). `what` is CloudStack's lead-in (`Source CIDRs formatting error`).
pub fn cidrs(list: &[&str], what: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for c in list.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        if parse_cidr(c).is_none() {
            return Err(format!("{what}{}", shown(c)));
        }
        if !out.iter().any(|o| o == c) {
            out.push(c.to_string());
        }
    }
    if out.len() > MAX_CIDRS_PER_RULE {
        return Err(format!(
            "{} CIDRs in one rule: at most {MAX_CIDRS_PER_RULE}",
            out.len()
        ));
    }
    Ok(out)
}

/// CloudStack's lead-ins of a bad CIDR (the destination one has no space, as CloudStack).
pub const SOURCE_CIDRS_ERROR: &str = "Source CIDRs formatting error ";
pub const SOURCE_CIDRS_ERROR_EGRESS: &str = "Source cidrs formatting error ";
pub const DEST_CIDRS_ERROR: &str = "Destination cidrs formatting error";

/// `a.b.c.d/n` as the network it names (host bits cleared); `None` if it is not one.
pub fn parse_cidr(c: &str) -> Option<Ipv4Net> {
    let (ip, len) = c.split_once('/')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 2 {
        return None;
    }
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then(|| Ipv4Net::containing(ip, len))
}

/// An egress rule's source CIDRs (`createEgressFirewallRule`): default the network's
/// CIDR; `0.0.0.0/0` stands for it (CloudStack stores the network's CIDR instead); each
/// must lie within it.
pub fn egress_sources(list: Option<&[&str]>, guest: Ipv4Net) -> Result<Vec<String>, String> {
    let given = cidrs(list.unwrap_or(&[]), SOURCE_CIDRS_ERROR_EGRESS)?;
    if given.is_empty() {
        return Ok(vec![guest.to_string()]);
    }
    let mut out: Vec<String> = Vec::new();
    for c in given {
        let net = parse_cidr(&c).ok_or_else(|| format!("{SOURCE_CIDRS_ERROR_EGRESS}{c}"))?;
        let c = if net.is_any() { guest.to_string() } else { c };
        if !net.is_any() && !guest.covers(&net) {
            return Err(format!("{c} is not within the guest cidr {guest}"));
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// An existing rule, as far as conflicts go.
#[derive(Debug, Clone)]
pub struct Existing {
    pub id: String,
    pub purpose: Purpose,
    pub protocol: RuleProtocol,
    pub start_port: Option<i32>,
    pub end_port: Option<i32>,
    pub icmp_type: Option<i32>,
    pub icmp_code: Option<i32>,
    pub cidrs: Vec<String>,
}

/// Why a new rule cannot be added: a conflict (537) or a duplicate ICMP rule (431).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    Rule(String),
    Param(String),
}

/// CloudStack's `detectRulesConflict` between a new rule and the rules already on the
/// same address (ingress) or network (egress): firewall rules never conflict with port
/// forwards (they filter, they do not forward), nor with firewall rules of another
/// protocol or with no CIDR in common (CloudStack compares the CIDR texts, not their
/// overlap); port forwards of different protocols coexist; overlapping port ranges
/// otherwise conflict.
pub fn detect_conflict(new: &Existing, existing: &[Existing]) -> Result<(), Conflict> {
    for r in existing {
        let one_is_firewall = (new.purpose == Purpose::Firewall || r.purpose == Purpose::Firewall)
            && (new.purpose != r.purpose || new.protocol != r.protocol);
        if one_is_firewall {
            continue;
        }
        if new.protocol != r.protocol {
            // Port forwards of different protocols (tcp/22 and udp/22) coexist.
            continue;
        }
        let both_firewall = new.purpose == Purpose::Firewall && r.purpose == Purpose::Firewall;
        let duplicated_cidrs = (new.cidrs.is_empty() && r.cidrs.is_empty())
            || new.cidrs.iter().any(|c| r.cidrs.contains(c));
        if both_firewall && !duplicated_cidrs {
            continue;
        }
        if new.protocol == RuleProtocol::Icmp {
            if new.icmp_type == r.icmp_type && new.icmp_code == r.icmp_code {
                return Err(Conflict::Param(format!(
                    "New rule conflicts with existing rule id={}",
                    r.id
                )));
            }
            continue;
        }
        match (new.start_port, new.end_port, r.start_port, r.end_port) {
            (None, _, None, _) => {
                return Err(Conflict::Rule(format!(
                    "There is already a firewall rule specified with protocol = {} and no ports",
                    protocol_str(new.protocol)
                )))
            }
            (Some(ns), Some(ne), Some(s), Some(e)) if s <= ne && ns <= e => {
                return Err(Conflict::Rule(format!(
                    "The range specified, {ns}-{ne}, conflicts with rule {} which has {s}-{e}",
                    r.id
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(id: &str, p: RuleProtocol, ports: Option<(i32, i32)>, cidrs: &[&str]) -> Existing {
        Existing {
            id: id.into(),
            purpose: Purpose::Firewall,
            protocol: p,
            start_port: ports.map(|p| p.0),
            end_port: ports.map(|p| p.1),
            icmp_type: (p == RuleProtocol::Icmp).then_some(-1),
            icmp_code: (p == RuleProtocol::Icmp).then_some(-1),
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn protocols_are_the_capabilities() {
        assert_eq!(
            protocol(" TCP ", PORT_FORWARDING, "z1"),
            Ok(RuleProtocol::Tcp)
        );
        assert_eq!(
            protocol("icmp", PORT_FORWARDING, "z1").unwrap_err(),
            "Protocol icmp is not supported in zone z1"
        );
        assert!(protocol("all", INGRESS, "z").is_err());
        assert_eq!(protocol("All", EGRESS, "z"), Ok(RuleProtocol::All));
        assert!(protocol("gre", EGRESS, "z").is_err());
    }

    #[test]
    fn firewall_ports_and_icmp() {
        let m = firewall_match(RuleProtocol::Tcp, Some(22), None, None, None, "n").unwrap();
        assert_eq!((m.start_port, m.end_port), (Some(22), Some(22)));
        let m = firewall_match(RuleProtocol::Icmp, None, None, None, None, "n").unwrap();
        assert_eq!((m.icmp_type, m.icmp_code), (Some(-1), Some(-1)));
        for (p, s, e, t, c, text) in [
            (
                RuleProtocol::Tcp,
                Some(0),
                None,
                None,
                None,
                "publicPort is an invalid value: 0",
            ),
            (
                RuleProtocol::Tcp,
                Some(1),
                Some(70000),
                None,
                None,
                "Public port range is an invalid value: 70000",
            ),
            (
                RuleProtocol::Tcp,
                Some(30),
                Some(20),
                None,
                None,
                "Start port can't be bigger than end port",
            ),
            (
                RuleProtocol::Tcp,
                None,
                None,
                Some(8),
                None,
                "Can specify icmpCode and icmpType for ICMP protocol only",
            ),
            (
                RuleProtocol::Icmp,
                Some(1),
                None,
                None,
                None,
                "Can't specify start/end port when protocol is ICMP",
            ),
            (
                RuleProtocol::Icmp,
                None,
                None,
                Some(256),
                None,
                "Invalid ICMP type 256",
            ),
            (
                RuleProtocol::All,
                Some(1),
                None,
                None,
                None,
                "Do not pass ports to protocol ALL",
            ),
            (
                RuleProtocol::Udp,
                None,
                Some(5),
                None,
                None,
                "needs a start port",
            ),
        ] {
            let e = firewall_match(p, s, e, t, c, "n").unwrap_err();
            assert!(e.contains(text), "{e} / {text}");
        }
    }

    #[test]
    fn forwards_line_up() {
        assert_eq!(
            forward_ports((2222, None), (22, None)),
            Ok([2222, 2222, 22, 22])
        );
        assert_eq!(
            forward_ports((8000, Some(8010)), (8000, Some(8010))),
            Ok([8000, 8010, 8000, 8010])
        );
        for (pu, pr, text) in [
            (
                (8000, Some(8010)),
                (9000, Some(9010)),
                "Private port start should be equal to public port start",
            ),
            ((8000, Some(8010)), (8000, None), "equal sizes"),
            ((0, None), (22, None), "publicPort is an invalid value: 0"),
            (
                (22, None),
                (65536, None),
                "privatePort is an invalid value: 65536",
            ),
            (
                (30, Some(20)),
                (30, Some(20)),
                "Start port can't be bigger than end port",
            ),
        ] {
            let e = forward_ports(pu, pr).unwrap_err();
            assert!(e.contains(text), "{e} / {text}");
        }
    }

    #[test]
    fn cidr_lists() {
        assert_eq!(
            cidrs(&["10.0.0.1/8", " 0.0.0.0/0", "10.0.0.1/8"], "x").unwrap(),
            vec!["10.0.0.1/8", "0.0.0.0/0"]
        );
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "x/8",
            "::/0",
            "10.0.0.0/+8",
            "1.2.3.4/08x",
        ] {
            assert!(cidrs(&[bad], SOURCE_CIDRS_ERROR).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..65).map(|i| format!("10.0.{i}.0/24")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(cidrs(&refs, "x").unwrap_err().contains("at most 64"));
        let guest: Ipv4Net = "10.1.1.0/24".parse().unwrap();
        assert_eq!(egress_sources(None, guest).unwrap(), vec!["10.1.1.0/24"]);
        assert_eq!(
            egress_sources(Some(&["0.0.0.0/0"]), guest).unwrap(),
            vec!["10.1.1.0/24"]
        );
        assert_eq!(
            egress_sources(Some(&["10.2.0.0/16"]), guest).unwrap_err(),
            "10.2.0.0/16 is not within the guest cidr 10.1.1.0/24"
        );
    }

    #[test]
    fn conflicts_as_cloudstack() {
        let existing = vec![
            fw("a", RuleProtocol::Tcp, Some((20, 30)), &["0.0.0.0/0"]),
            fw("b", RuleProtocol::Udp, None, &["10.0.0.0/8"]),
            fw("c", RuleProtocol::Icmp, None, &["0.0.0.0/0"]),
        ];
        assert_eq!(
            detect_conflict(
                &fw("n", RuleProtocol::Tcp, Some((25, 40)), &["0.0.0.0/0"]),
                &existing
            ),
            Err(Conflict::Rule(
                "The range specified, 25-40, conflicts with rule a which has 20-30".into()
            ))
        );
        // Other CIDRs (as texts) do not conflict, nor other protocols.
        detect_conflict(
            &fw("n", RuleProtocol::Tcp, Some((25, 40)), &["1.2.3.0/24"]),
            &existing,
        )
        .unwrap();
        detect_conflict(
            &fw("n", RuleProtocol::Udp, Some((25, 40)), &["0.0.0.0/0"]),
            &existing,
        )
        .unwrap();
        assert!(matches!(
            detect_conflict(&fw("n", RuleProtocol::Udp, None, &["10.0.0.0/8"]), &existing),
            Err(Conflict::Rule(t)) if t.contains("protocol = udp and no ports")
        ));
        assert!(matches!(
            detect_conflict(&fw("n", RuleProtocol::Icmp, None, &["0.0.0.0/0"]), &existing),
            Err(Conflict::Param(t)) if t == "New rule conflicts with existing rule id=c"
        ));
        // Port forwards: never against firewall rules; per protocol among themselves.
        let pf = |id: &str, p, s, e| Existing {
            purpose: Purpose::PortForwarding,
            ..fw(id, p, Some((s, e)), &[])
        };
        detect_conflict(&pf("n", RuleProtocol::Tcp, 22, 22), &existing).unwrap();
        let forwards = vec![pf("x", RuleProtocol::Tcp, 22, 22)];
        detect_conflict(&pf("n", RuleProtocol::Udp, 22, 22), &forwards).unwrap();
        assert!(detect_conflict(&pf("n", RuleProtocol::Tcp, 20, 25), &forwards).is_err());
    }
}
