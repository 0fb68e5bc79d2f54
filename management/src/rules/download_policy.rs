//! Where the management server may download from on a user's behalf (ISOs now, templates
//! later): the rule behind `registerIso`'s check and the downloader's resolver.
//!
//! Why: the management server fetches URLs users give it, from inside the data centre. An
//! unguarded fetcher lets any tenant reach what only the server should: its own loopback
//! services, the cloud's metadata address (169.254.169.254), the management and storage
//! networks — and, through the download status, learn what answered where (a port
//! scanner). CloudStack refuses loopback, link-local, wildcard and multicast hosts when a
//! template or ISO is registered (`UriUtils.validateUrl`) and lets its secondary storage VM
//! reach internal addresses only in `secstorage.allowed.internal.sites`, a CIDR list.
//!
//! Stratus follows that, per address (every address a name resolves to, the address
//! connected to, and every redirect's):
//! - **never**: unspecified (`0.0.0.0/8`, `::`), multicast, broadcast, the reserved
//!   `240.0.0.0/4` — no listing makes them a download site;
//! - **host-local**: loopback (`127.0.0.0/8`, `::1`) and link-local (`169.254.0.0/16`
//!   with the metadata address, `fe80::/10`) — refused unless listed in
//!   `secstorage.allowed.internal.sites` *and* the ISO's owner is a root admin. CloudStack
//!   refuses these for everyone; here the server itself downloads, so an admin may serve
//!   images from this machine (the README's first VM), but a tenant never reaches the
//!   server's own loopback or the metadata service, listed or not;
//! - **internal**: private (RFC 1918), shared/CGNAT (`100.64.0.0/10`), ULA (`fc00::/7`),
//!   site-local, benchmarking, documentation and IETF protocol ranges — allowed when
//!   listed, for every user (the setting is the data centre's list of internal mirrors,
//!   as in CloudStack);
//! - **public**: everything else.
//!
//! IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible, NAT64 (`64:ff9b::/96`) and 6to4
//! (`2002::/16`) IPv6 addresses are judged by the IPv4 address inside them, so no
//! spelling of `127.0.0.1` passes as IPv6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

/// The setting (CloudStack's name) listing internal sites downloads may reach.
pub const ALLOWED_INTERNAL_SITES: &str = "secstorage.allowed.internal.sites";

/// What kind of address a download would reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    /// Private, shared, ULA, documentation, …: reachable when listed.
    Internal(&'static str),
    /// Loopback or link-local: reachable when listed and the owner is a root admin.
    HostLocal(&'static str),
    /// Never a download site.
    Never(&'static str),
}

/// The IPv4 address an IPv6 address stands for, if it embeds one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let v4 = |i: usize| Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]);
    if let Some(v) = ip.to_ipv4_mapped() {
        return Some(v);
    }
    // IPv4-compatible ::a.b.c.d (deprecated), except :: and ::1.
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return Some(v4(12));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(v4(12));
    }
    // 6to4 2002:a.b.c.d::/48.
    if s[0] == 0x2002 {
        return Some(v4(2));
    }
    None
}

/// The address a rule applies to: IPv6 forms of IPv4 addresses become IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

pub fn classify(ip: IpAddr) -> AddressClass {
    use AddressClass::*;
    match canonical(ip) {
        IpAddr::V4(a) => {
            let o = a.octets();
            if o[0] == 0 {
                Never("unspecified")
            } else if a.is_broadcast() {
                Never("broadcast")
            } else if a.is_multicast() {
                Never("multicast")
            } else if o[0] >= 240 {
                Never("reserved")
            } else if a.is_loopback() {
                HostLocal("loopback")
            } else if a.is_link_local() {
                HostLocal("link-local")
            } else if a.is_private() {
                Internal("private")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Internal("shared (CGNAT)")
            } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
                Internal("benchmarking")
            } else if a.is_documentation() {
                Internal("documentation")
            } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
                Internal("IETF protocol assignment")
            } else {
                Public
            }
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if a.is_unspecified() {
                Never("unspecified")
            } else if a.is_multicast() {
                Never("multicast")
            } else if a.is_loopback() {
                HostLocal("loopback")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                HostLocal("link-local")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Internal("unique local")
            } else if (s[0] & 0xffc0) == 0xfec0 {
                Internal("site-local")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Internal("documentation")
            } else if s[0] == 0x2001 && s[1] == 0 {
                // Teredo hides the IPv4 address it reaches.
                Internal("Teredo")
            } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
                Never("discard")
            } else {
                Public
            }
        }
    }
}

/// The parsed `secstorage.allowed.internal.sites`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub allowed: Vec<IpNetwork>,
    /// Whether the download is a root admin's (loopback and link-local only for them).
    pub owner_is_root_admin: bool,
}

/// Why an address is refused, in words that say nothing about what is there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is {}", self.what())]
pub struct Refusal {
    pub ip: IpAddr,
    pub class: &'static str,
    hint: &'static str,
}

impl Refusal {
    /// "an address downloads may not reach (loopback)", and how to allow it if one may.
    pub fn what(&self) -> String {
        format!(
            "an address downloads may not reach ({}){}",
            self.class, self.hint
        )
    }
}

/// Parses a comma-separated CIDR list (a bare address is a /32 or /128). `0.0.0.0`
/// (CloudStack: "not a valid site") and `::` networks are refused: they would allow all.
pub fn parse_sites(value: &str) -> Result<Vec<IpNetwork>, String> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let net: IpNetwork = item
            .parse()
            .map_err(|e| format!("'{item}' is not a CIDR (like 10.1.0.0/16): {e}"))?;
        if net.prefix() == 0 || net.ip().is_unspecified() {
            return Err(format!(
                "'{item}' is not a valid site: list the internal networks themselves"
            ));
        }
        out.push(net);
    }
    Ok(out)
}

impl Policy {
    /// From the setting's value; an unparsable value allows nothing (and says why in the
    /// log, once per use): `updateConfiguration` refuses such values anyway.
    pub fn from_setting(value: Option<&str>, owner_is_root_admin: bool) -> Policy {
        let allowed = match parse_sites(value.unwrap_or("")) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "{ALLOWED_INTERNAL_SITES} is invalid; allowing no internal site");
                Vec::new()
            }
        };
        Policy {
            allowed,
            owner_is_root_admin,
        }
    }

    fn listed(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allowed.iter().any(|n| n.contains(ip))
    }

    /// Whether a download may connect to `ip`; `Ok(true)` when it is an internal (not
    /// public) address, whose failures are then not described to the owner.
    pub fn check(&self, ip: IpAddr) -> Result<bool, Refusal> {
        let refuse = |class, hint| Refusal {
            ip: canonical(ip),
            class,
            hint,
        };
        match classify(ip) {
            AddressClass::Public => Ok(false),
            AddressClass::Never(class) => Err(refuse(class, "")),
            AddressClass::Internal(_) if self.listed(ip) => Ok(true),
            AddressClass::Internal(class) => Err(refuse(
                class,
                "; an administrator may list internal sites in secstorage.allowed.internal.sites",
            )),
            AddressClass::HostLocal(_) if self.owner_is_root_admin && self.listed(ip) => Ok(true),
            AddressClass::HostLocal(class) if self.owner_is_root_admin => Err(refuse(
                class,
                " unless listed in secstorage.allowed.internal.sites",
            )),
            AddressClass::HostLocal(class) => Err(refuse(class, "")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classes() {
        use AddressClass::*;
        for (a, want) in [
            ("8.8.8.8", Public),
            ("2a00:1450::1", Public),
            ("127.0.0.1", HostLocal("loopback")),
            ("127.8.9.10", HostLocal("loopback")),
            ("::1", HostLocal("loopback")),
            ("::ffff:127.0.0.1", HostLocal("loopback")),
            ("::127.0.0.1", HostLocal("loopback")),
            ("64:ff9b::7f00:1", HostLocal("loopback")),
            ("2002:7f00:1::", HostLocal("loopback")),
            ("169.254.169.254", HostLocal("link-local")),
            ("::ffff:169.254.169.254", HostLocal("link-local")),
            ("fe80::1", HostLocal("link-local")),
            ("10.231.0.2", Internal("private")),
            ("172.16.0.1", Internal("private")),
            ("192.168.1.1", Internal("private")),
            ("::ffff:10.0.0.1", Internal("private")),
            ("100.64.0.1", Internal("shared (CGNAT)")),
            ("fd00::1", Internal("unique local")),
            ("198.18.0.1", Internal("benchmarking")),
            ("192.0.2.1", Internal("documentation")),
            ("0.0.0.0", Never("unspecified")),
            ("0.1.2.3", Never("unspecified")),
            ("::", Never("unspecified")),
            ("255.255.255.255", Never("broadcast")),
            ("224.0.0.1", Never("multicast")),
            ("ff02::1", Never("multicast")),
            ("240.0.0.1", Never("reserved")),
        ] {
            assert_eq!(classify(ip(a)), want, "{a}");
        }
    }

    #[test]
    fn listing_allows_internal_sites_and_loopback_only_for_root_admins() {
        let sites = parse_sites("10.231.0.0/16, 127.0.0.1").unwrap();
        let tenant = Policy {
            allowed: sites.clone(),
            owner_is_root_admin: false,
        };
        let admin = Policy {
            allowed: sites,
            owner_is_root_admin: true,
        };
        assert_eq!(tenant.check(ip("10.231.5.2")), Ok(true));
        assert_eq!(tenant.check(ip("::ffff:10.231.5.2")), Ok(true));
        assert!(tenant.check(ip("10.232.0.1")).is_err());
        assert!(tenant.check(ip("127.0.0.1")).is_err(), "tenants never");
        assert_eq!(admin.check(ip("127.0.0.1")), Ok(true));
        assert_eq!(admin.check(ip("::ffff:127.0.0.1")), Ok(true));
        assert!(admin.check(ip("127.0.0.2")).is_err(), "only what is listed");
        assert!(admin.check(ip("169.254.169.254")).is_err());
        assert_eq!(admin.check(ip("1.1.1.1")), Ok(false));
        let none = Policy::default();
        assert!(none.check(ip("192.168.0.1")).is_err());
        let t = none.check(ip("169.254.169.254")).unwrap_err().to_string();
        assert_eq!(
            t,
            "169.254.169.254 is an address downloads may not reach (link-local)"
        );
    }

    #[test]
    fn never_is_never() {
        let p = Policy {
            allowed: parse_sites("224.0.0.0/4,1.0.0.0/8").unwrap(),
            owner_is_root_admin: true,
        };
        assert!(p.check(ip("224.0.0.1")).is_err());
        assert!(parse_sites("0.0.0.0/0").is_err());
        assert!(parse_sites("0.0.0.0").is_err());
        assert!(parse_sites("::/0").is_err());
        assert!(parse_sites("10.0.0.0/33").is_err());
        assert!(parse_sites("nope").is_err());
        assert_eq!(parse_sites(" ").unwrap(), vec![]);
    }
}
