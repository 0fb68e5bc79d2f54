//! Security group rules (issue 14), as CloudStack's SecurityGroupManagerImpl checks an
//! authorizeSecurityGroupIngress/Egress: the protocol, its ports or ICMP type and code,
//! and the CIDRs, in CloudStack's order and with its texts, because clients (Ansible,
//! Terraform) compare what they sent with what the listing answers. Pure: the command
//! brings the request's values; what it returns is what the rows hold.

use std::net::IpAddr;

/// A rule's protocol as stored and answered: `tcp`, `udp`, `icmp`, `all`, or another
/// IP protocol number (`"6"` stays `"6"`, as CloudStack keeps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    All,
    Number(u8),
}

impl Protocol {
    pub fn as_wire(&self) -> String {
        match self {
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Icmp => "icmp".into(),
            Protocol::All => "all".into(),
            Protocol::Number(n) => n.to_string(),
        }
    }

    /// The stored text back (the column's CHECK admits only what `as_wire` writes).
    pub fn from_stored(s: &str) -> Option<Protocol> {
        match s {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "icmp" => Some(Protocol::Icmp),
            "all" => Some(Protocol::All),
            n => n.parse().ok().map(Protocol::Number),
        }
    }
}

/// What a rule matches besides its source or destination: the protocol and the port
/// range (tcp, udp), the ICMP type and code (-1: any), or nothing more (all, numbers;
/// stored 0/0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub protocol: Protocol,
    /// tcp/udp: the first port; icmp: the type; others 0.
    pub start: i32,
    /// tcp/udp: the last port; icmp: the code; others 0.
    pub end: i32,
}

/// The request's protocol fields, as given.
#[derive(Debug, Clone, Default)]
pub struct MatchRequest<'a> {
    pub protocol: Option<&'a str>,
    pub startport: Option<i64>,
    pub endport: Option<i64>,
    pub icmptype: Option<i64>,
    pub icmpcode: Option<i64>,
}

/// Checks and normalises a rule's protocol and ranges, as CloudStack does: the protocol
/// is trimmed and lowercased (default `all`); `1` is ICMP with any type and code; tcp and
/// udp need both ports, and 0/0 means every port (0/65535).
pub fn check_match(r: &MatchRequest<'_>) -> Result<Match, String> {
    let raw = r
        .protocol
        .map(str::trim)
        .unwrap_or("all")
        .to_ascii_lowercase();
    let raw = if raw.is_empty() {
        "all".to_string()
    } else {
        raw
    };
    let protocol = if raw.bytes().all(|b| b.is_ascii_digit()) {
        match raw.parse::<u16>() {
            Ok(1) => {
                return Ok(Match {
                    protocol: Protocol::Icmp,
                    start: -1,
                    end: -1,
                })
            }
            Ok(n) if n <= 255 => Protocol::Number(n as u8),
            _ => return Err(format!("Invalid protocol number: {raw}")),
        }
    } else {
        match raw.as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "all" => Protocol::All,
            _ => return Err(format!("Invalid protocol {raw}")),
        }
    };
    let text = |v: Option<i64>| v.map_or("null".to_string(), |n| n.to_string());
    match protocol {
        Protocol::Icmp => {
            let (Some(t), Some(c)) = (r.icmptype, r.icmpcode) else {
                return Err(format!(
                    "Invalid ICMP type/code specified, icmpType = {}, icmpCode = {}",
                    text(r.icmptype),
                    text(r.icmpcode)
                ));
            };
            if t == -1 && c != -1 {
                return Err("Invalid icmp code".into());
            }
            if t != -1 && c == -1 {
                return Err("Invalid icmp code: need non-negative icmp code ".into());
            }
            if !(-1..=255).contains(&t) || !(-1..=255).contains(&c) {
                return Err("Invalid icmp type/code ".into());
            }
            Ok(Match {
                protocol,
                start: t as i32,
                end: c as i32,
            })
        }
        Protocol::All => {
            if r.startport.is_some() || r.endport.is_some() {
                return Err(
                    "Cannot specify startPort or endPort without specifying protocol".into(),
                );
            }
            Ok(Match {
                protocol,
                start: 0,
                end: 0,
            })
        }
        Protocol::Tcp | Protocol::Udp => {
            let (Some(s), Some(e)) = (r.startport, r.endport) else {
                return Err(format!(
                    "Invalid port range specified, startPort = {}, endPort = {}",
                    text(r.startport),
                    text(r.endport)
                ));
            };
            let (s, e) = if s == 0 && e == 0 { (0, 65535) } else { (s, e) };
            if s > e {
                return Err(format!("Invalid port range {s}:{e}"));
            }
            if s > 65535 || e > 65535 || s < -1 || e < -1 {
                return Err(format!("Invalid port numbers {s}:{e}"));
            }
            if s < 0 || e < 0 {
                return Err("Invalid port range".into());
            }
            Ok(Match {
                protocol,
                start: s as i32,
                end: e as i32,
            })
        }
        Protocol::Number(_) => Ok(Match {
            protocol,
            start: 0,
            end: 0,
        }),
    }
}

/// The CIDRs of a `cidrlist`, each checked (IPv4 or IPv6, with a prefix length that fits)
/// and kept as the client wrote it, trimmed: the listing answers that text.
pub fn check_cidrs(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for c in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let ok = match c.split_once('/') {
            Some((ip, len)) => match (ip.parse::<IpAddr>(), len.parse::<u8>()) {
                (Ok(IpAddr::V4(_)), Ok(l)) => l <= 32,
                (Ok(IpAddr::V6(_)), Ok(l)) => l <= 128,
                _ => false,
            },
            None => false,
        };
        if !ok {
            return Err(format!("Invalid cidr {c}"));
        }
        if !out.iter().any(|o| o == c) {
            out.push(c.to_string());
        }
    }
    Ok(out)
}

/// Whether `name` is the reserved default group's (CloudStack compares it
/// case-insensitively).
pub fn is_default_name(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case(DEFAULT_NAME)
}

pub const DEFAULT_NAME: &str = "default";
pub const DEFAULT_DESCRIPTION: &str = "Default Security Group";

#[cfg(test)]
mod tests {
    use super::*;

    fn m(protocol: &str, s: Option<i64>, e: Option<i64>) -> Result<Match, String> {
        check_match(&MatchRequest {
            protocol: Some(protocol),
            startport: s,
            endport: e,
            ..Default::default()
        })
    }

    fn icmp(t: Option<i64>, c: Option<i64>) -> Result<Match, String> {
        check_match(&MatchRequest {
            protocol: Some("icmp"),
            icmptype: t,
            icmpcode: c,
            ..Default::default()
        })
    }

    #[test]
    fn protocols_are_normalised_as_cloudstack_stores_them() {
        assert_eq!(
            m(" TCP ", Some(22), Some(22)).unwrap().protocol,
            Protocol::Tcp
        );
        assert_eq!(
            check_match(&MatchRequest::default()).unwrap(),
            Match {
                protocol: Protocol::All,
                start: 0,
                end: 0
            }
        );
        assert_eq!(
            m("1", None, None).unwrap(),
            Match {
                protocol: Protocol::Icmp,
                start: -1,
                end: -1
            }
        );
        let six = m("6", Some(1), Some(2)).unwrap();
        assert_eq!(
            (six.protocol.as_wire(), six.start, six.end),
            ("6".into(), 0, 0)
        );
        assert_eq!(
            m("256", None, None).unwrap_err(),
            "Invalid protocol number: 256"
        );
        assert_eq!(m("gre", None, None).unwrap_err(), "Invalid protocol gre");
        for p in ["tcp", "udp", "icmp", "all", "6", "47"] {
            assert_eq!(Protocol::from_stored(p).unwrap().as_wire(), p);
        }
    }

    #[test]
    fn ports_follow_cloudstacks_checks_in_order() {
        let all = m("tcp", Some(0), Some(0)).unwrap();
        assert_eq!((all.start, all.end), (0, 65535));
        assert_eq!(
            m("udp", Some(53), None).unwrap_err(),
            "Invalid port range specified, startPort = 53, endPort = null"
        );
        assert_eq!(
            m("tcp", Some(90), Some(80)).unwrap_err(),
            "Invalid port range 90:80"
        );
        assert_eq!(
            m("tcp", Some(1), Some(70000)).unwrap_err(),
            "Invalid port numbers 1:70000"
        );
        assert_eq!(
            m("tcp", Some(-1), Some(80)).unwrap_err(),
            "Invalid port range"
        );
        assert_eq!(
            m("all", Some(1), None).unwrap_err(),
            "Cannot specify startPort or endPort without specifying protocol"
        );
    }

    #[test]
    fn icmp_types_and_codes() {
        assert_eq!(icmp(Some(8), Some(0)).unwrap().start, 8);
        assert_eq!(icmp(Some(-1), Some(-1)).unwrap().end, -1);
        assert_eq!(
            icmp(None, Some(0)).unwrap_err(),
            "Invalid ICMP type/code specified, icmpType = null, icmpCode = 0"
        );
        assert_eq!(icmp(Some(-1), Some(0)).unwrap_err(), "Invalid icmp code");
        assert_eq!(
            icmp(Some(8), Some(-1)).unwrap_err(),
            "Invalid icmp code: need non-negative icmp code "
        );
        assert_eq!(
            icmp(Some(300), Some(0)).unwrap_err(),
            "Invalid icmp type/code "
        );
    }

    #[test]
    fn cidrs_are_checked_and_kept_as_written() {
        assert_eq!(
            check_cidrs(" 10.0.0.0/8, 2001:db8::/32 ,10.0.0.0/8").unwrap(),
            vec!["10.0.0.0/8", "2001:db8::/32"]
        );
        // Host bits set are CloudStack-valid and answered back as sent.
        assert_eq!(
            check_cidrs("192.168.1.5/24").unwrap(),
            vec!["192.168.1.5/24"]
        );
        assert_eq!(
            check_cidrs("10.0.0.0/33").unwrap_err(),
            "Invalid cidr 10.0.0.0/33"
        );
        assert_eq!(
            check_cidrs("10.0.0.1").unwrap_err(),
            "Invalid cidr 10.0.0.1"
        );
        assert_eq!(
            check_cidrs("<script>/8").unwrap_err(),
            "Invalid cidr <script>/8"
        );
        assert!(check_cidrs("").unwrap().is_empty());
        assert!(is_default_name(" Default"));
        assert!(!is_default_name("defaults"));
    }
}

/// A rule's direction, as stored (`security_group_rules.direction`) and as the
/// listing's `ingressrule`/`egressrule` split answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "Ingress" => Some(Direction::Ingress),
            "Egress" => Some(Direction::Egress),
            _ => None,
        }
    }
}

super::text_column!(Direction, "rule direction");

/// A host's rule set from its rows: each guest NIC with its VM's groups' rules, and the
/// addresses of every group those rules name. Pure, so what a host is told is tested
/// without a host. IPv6 CIDRs are skipped (guests have IPv4 addresses only, and the
/// host drops their IPv6 traffic), as are rows the agent could not express.
pub mod render {
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::{IpAddr, Ipv4Addr};

    use stratus_api::agent::{
        FilterPeer, FilterProtocol, FilterRule, GroupMembers, HostRuleSet, VmFilter,
    };
    use uuid::Uuid;

    use super::{Direction, Protocol};

    /// A guest NIC: its VM, MAC, address and the VM's groups (none: not filtered).
    pub struct Nic {
        pub vm: Uuid,
        pub mac: String,
        pub ip: Ipv4Addr,
        pub groups: Vec<Uuid>,
    }

    /// A stored rule.
    pub struct Rule {
        pub group: Uuid,
        pub direction: Direction,
        pub protocol: String,
        pub start: i32,
        pub end: i32,
        /// The network (host bits clear).
        pub cidr: Option<(IpAddr, u8)>,
        pub allowed_group: Option<Uuid>,
    }

    fn filter_rule(r: &Rule) -> Option<FilterRule> {
        let protocol = match Protocol::from_stored(&r.protocol)? {
            Protocol::Tcp => FilterProtocol::Tcp,
            Protocol::Udp => FilterProtocol::Udp,
            Protocol::Icmp => FilterProtocol::Icmp,
            Protocol::All => FilterProtocol::All,
            Protocol::Number(n) => FilterProtocol::Number(n),
        };
        let port = |p: i32| u16::try_from(p).ok();
        let ports = match protocol {
            FilterProtocol::Tcp | FilterProtocol::Udp => {
                let (a, b) = (port(r.start)?, port(r.end)?);
                (!(a == 0 && b == 65535)).then_some((a, b))
            }
            _ => None,
        };
        let icmp = match protocol {
            FilterProtocol::Icmp if r.start >= 0 => Some((r.start as i16, r.end as i16)),
            _ => None,
        };
        let peer = match (r.cidr, r.allowed_group) {
            (Some((IpAddr::V4(net), len)), _) => FilterPeer::Cidr(net, len),
            (None, Some(g)) => FilterPeer::Group(g),
            _ => return None,
        };
        Some(FilterRule {
            protocol,
            ports,
            icmp,
            peer,
        })
    }

    /// The rule set for `generation`; `members` maps each group a rule names to its
    /// running members' addresses (a group missing from it has none).
    pub fn host_rule_set(
        generation: u64,
        nics: &[Nic],
        rules: &[Rule],
        members: &BTreeMap<Uuid, BTreeSet<Ipv4Addr>>,
    ) -> HostRuleSet {
        let mut named: BTreeSet<Uuid> = BTreeSet::new();
        let vms = nics
            .iter()
            .map(|n| {
                let of = |d: Direction| -> Vec<FilterRule> {
                    let mut out: Vec<FilterRule> = Vec::new();
                    for r in rules
                        .iter()
                        .filter(|r| r.direction == d && n.groups.contains(&r.group))
                    {
                        if let Some(f) = filter_rule(r) {
                            if !out.contains(&f) {
                                out.push(f);
                            }
                        }
                    }
                    out
                };
                let (ingress, egress) = (of(Direction::Ingress), of(Direction::Egress));
                for r in ingress.iter().chain(&egress) {
                    if let FilterPeer::Group(g) = r.peer {
                        named.insert(g);
                    }
                }
                VmFilter {
                    vm: n.vm,
                    mac: n.mac.to_ascii_lowercase(),
                    ips: vec![n.ip],
                    unfiltered: n.groups.is_empty(),
                    ingress,
                    egress,
                }
            })
            .collect();
        let groups = named
            .into_iter()
            .map(|g| GroupMembers {
                group: g,
                ips: members
                    .get(&g)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default(),
            })
            .collect();
        HostRuleSet {
            generation,
            vms,
            groups,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn rule(group: Uuid, d: Direction, proto: &str, s: i32, e: i32) -> Rule {
            Rule {
                group,
                direction: d,
                protocol: proto.into(),
                start: s,
                end: e,
                cidr: Some(("0.0.0.0".parse().unwrap(), 0)),
                allowed_group: None,
            }
        }

        #[test]
        fn each_nic_gets_the_rules_of_its_groups_and_the_named_groups_addresses() {
            let (web, db, other) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
            let nics = [
                Nic {
                    vm: Uuid::from_u128(10),
                    mac: "52:54:00:00:00:0A".into(),
                    ip: "10.0.0.10".parse().unwrap(),
                    groups: vec![db],
                },
                Nic {
                    vm: Uuid::from_u128(11),
                    mac: "52:54:00:00:00:0b".into(),
                    ip: "10.0.0.11".parse().unwrap(),
                    groups: vec![],
                },
            ];
            let mut from_web = rule(db, Direction::Ingress, "tcp", 5432, 5432);
            from_web.cidr = None;
            from_web.allowed_group = Some(web);
            let rules = [
                from_web,
                rule(db, Direction::Ingress, "tcp", 0, 65535),
                rule(db, Direction::Egress, "icmp", -1, -1),
                rule(db, Direction::Ingress, "47", 0, 0),
                rule(other, Direction::Ingress, "udp", 53, 53),
            ];
            let members = BTreeMap::from([(web, BTreeSet::from(["10.0.0.20".parse().unwrap()]))]);
            let set = host_rule_set(7, &nics, &rules, &members);
            assert_eq!(set.generation, 7);
            assert_eq!(set.validate(), Ok(()));
            let db_vm = &set.vms[0];
            assert_eq!(db_vm.mac, "52:54:00:00:00:0a");
            assert!(!db_vm.unfiltered);
            assert_eq!(db_vm.ingress.len(), 3, "{:?}", db_vm.ingress);
            assert_eq!(db_vm.ingress[0].peer, FilterPeer::Group(web));
            assert_eq!(db_vm.ingress[0].ports, Some((5432, 5432)));
            assert_eq!(db_vm.ingress[1].ports, None, "0-65535 is every port");
            assert_eq!(db_vm.ingress[2].protocol, FilterProtocol::Number(47));
            assert_eq!(db_vm.egress[0].icmp, None, "type -1 is any ICMP");
            assert!(set.vms[1].unfiltered && set.vms[1].ingress.is_empty());
            assert_eq!(set.groups.len(), 1);
            assert_eq!(
                set.groups[0].ips,
                vec!["10.0.0.20".parse::<Ipv4Addr>().unwrap()]
            );
        }
    }
}
