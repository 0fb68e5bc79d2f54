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
