//! IP range rules shared by pods (management ranges) and VLAN/guest ranges: addresses
//! parse, the netmask is contiguous, start ≤ end, both lie in the gateway's subnet, and the
//! gateway is not inside the range. Overlap between ranges is the database's job (an
//! exclusion constraint), so it holds under concurrency too.

use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::{IpNetwork, Ipv4Network};
use stratus_api::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub gateway: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub prefix: u8,
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

impl Range {
    pub fn cidr(&self) -> Ipv4Network {
        Ipv4Network::new(self.gateway, self.prefix)
            .map(|n| Ipv4Network::new(n.network(), self.prefix).unwrap_or(n))
            .expect("prefix validated")
    }
    pub fn size(&self) -> u64 {
        u64::from(u32::from(self.end)) - u64::from(u32::from(self.start)) + 1
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.start <= ip && ip <= self.end
    }
    pub fn overlaps(&self, other: &Range) -> bool {
        self.start <= other.end && other.start <= self.end
    }
    /// Host-address forms for inet columns.
    pub fn inet(ip: Ipv4Addr) -> IpNetwork {
        IpNetwork::V4(Ipv4Network::new(ip, 32).expect("32 is a valid prefix"))
    }
}

/// The IPv4 address of a stored inet value, or none for IPv6 (guest and public legs of
/// routers and the hosts' VXLAN endpoints are IPv4 only).
pub fn ipv4_of(ip: &IpNetwork) -> Option<Ipv4Addr> {
    match ip.ip() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

pub fn parse_ipv4(what: &str, v: &str) -> Result<Ipv4Addr, ApiError> {
    match v.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => Ok(a),
        Ok(IpAddr::V6(_)) => Err(ApiError::param(format!(
            "Please specify a valid IPv4 address for the {what}: IPv6 ranges are not supported yet"
        ))),
        Err(_) => Err(ApiError::param(format!(
            "Please specify a valid {what}: '{v}' is not an IP address"
        ))),
    }
}

pub fn netmask_prefix(netmask: Ipv4Addr) -> Result<u8, ApiError> {
    let bits = u32::from(netmask);
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 || prefix == 0 {
        return Err(ApiError::param(format!(
            "Please specify a valid netmask: {netmask} is not a contiguous netmask"
        )));
    }
    Ok(prefix as u8)
}

/// Validates a range. `end` defaults per the caller (pods: the subnet's last usable
/// address; VLAN ranges: the start address).
pub fn validate(
    gateway: &str,
    netmask: &str,
    start: &str,
    end: Option<&str>,
    default_end_to_subnet: bool,
) -> Result<Range, ApiError> {
    let gateway = parse_ipv4("gateway", gateway)?;
    let netmask = parse_ipv4("netmask", netmask)?;
    let prefix = netmask_prefix(netmask)?;
    let start = parse_ipv4("start IP", start)?;
    let net = Ipv4Network::new(gateway, prefix).expect("valid prefix");
    let net = Ipv4Network::new(net.network(), prefix).expect("valid prefix");
    let outside = |ip: Ipv4Addr| {
        ApiError::param(format!(
            "The IP address {ip} is not in the subnet {net} of gateway {gateway} and netmask {netmask}"
        ))
    };
    if !net.contains(start) {
        return Err(outside(start));
    }
    let end = match end {
        Some(e) => parse_ipv4("end IP", e)?,
        None if default_end_to_subnet => {
            let bcast = u32::from(net.broadcast());
            Ipv4Addr::from(if prefix < 31 { bcast - 1 } else { bcast })
        }
        None => start,
    };
    if start > end {
        return Err(ApiError::param(format!(
            "The start IP {start} must not be greater than the end IP {end}"
        )));
    }
    if !net.contains(end) {
        return Err(outside(end));
    }
    if prefix < 31 && (start == net.network() || end == net.broadcast()) {
        return Err(ApiError::param(format!(
            "The IP range {start}-{end} must not include the network address or the broadcast address of {net}"
        )));
    }
    let r = Range {
        gateway,
        netmask,
        prefix,
        start,
        end,
    };
    if r.contains(gateway) {
        return Err(ApiError::param(format!(
            "The gateway {gateway} must not be inside the IP range {start}-{end}"
        )));
    }
    Ok(r)
}

/// The refusal of `range` because it shares addresses with `other` (`start`–`end`) in
/// `zone`: one wording for the API and the console's wizard.
pub fn overlap_error(range: &Range, other: &str, start: &str, end: &str, zone: &str) -> ApiError {
    ApiError::param(format!(
        "The IP range {}-{} overlaps with {other} {start}-{end} in zone {zone}. Please specify a different start IP/end IP.",
        range.start, range.end
    ))
}

/// A guest CIDR such as `10.1.1.0/24`.
pub fn parse_cidr(v: &str) -> Result<IpNetwork, ApiError> {
    let n: Ipv4Network = v
        .trim()
        .parse()
        .map_err(|_| ApiError::param(format!("Please enter a valid guest cidr: '{v}'")))?;
    if n.ip() != n.network() {
        return Err(ApiError::param(format!(
            "Please enter a valid guest cidr: '{v}' has host bits set (did you mean {}/{}?)",
            n.network(),
            n.prefix()
        )));
    }
    Ok(IpNetwork::V4(n))
}

/// A DNS server address (IPv4 or IPv6, as the field says).
pub fn parse_dns(what: &str, v: &str, v6: bool) -> Result<IpNetwork, ApiError> {
    let ip: IpAddr = v.trim().parse().map_err(|_| {
        ApiError::param(format!(
            "Please specify a valid IP address for {what}: '{v}'"
        ))
    })?;
    if ip.is_ipv6() != v6 {
        return Err(ApiError::param(format!(
            "Please specify a valid IPv{} address for {what}: '{v}'",
            if v6 { 6 } else { 4 }
        )));
    }
    Ok(IpNetwork::from(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range() {
        let r = validate(
            "192.168.1.1",
            "255.255.255.0",
            "192.168.1.10",
            Some("192.168.1.20"),
            false,
        )
        .unwrap();
        assert_eq!(r.prefix, 24);
        assert_eq!(r.size(), 11);
        assert_eq!(r.cidr().to_string(), "192.168.1.0/24");
    }

    #[test]
    fn defaults_for_end() {
        let pod = validate("10.0.0.1", "255.255.255.0", "10.0.0.100", None, true).unwrap();
        assert_eq!(pod.end, Ipv4Addr::new(10, 0, 0, 254));
        let vlan = validate("10.0.0.1", "255.255.255.0", "10.0.0.100", None, false).unwrap();
        assert_eq!(vlan.end, vlan.start);
    }

    #[test]
    fn rejects_bad_ranges_with_clear_texts() {
        let cases = [
            (
                ("10.0.0.1", "255.255.255.0", "10.0.0.20", Some("10.0.0.10")),
                "must not be greater",
            ),
            (
                ("10.0.0.1", "255.255.255.0", "10.0.1.5", Some("10.0.1.9")),
                "not in the subnet",
            ),
            (
                ("10.0.0.1", "255.0.255.0", "10.0.0.5", Some("10.0.0.9")),
                "contiguous",
            ),
            (
                ("10.0.0.5", "255.255.255.0", "10.0.0.2", Some("10.0.0.9")),
                "gateway 10.0.0.5 must not be inside",
            ),
            (
                ("10.0.0.1", "255.255.255.0", "bogus", None),
                "not an IP address",
            ),
            (
                ("10.0.0.1", "255.255.255.0", "10.0.0.0", Some("10.0.0.9")),
                "network address",
            ),
            (("fd00::1", "255.255.255.0", "10.0.0.2", None), "IPv6"),
        ];
        for ((g, m, s, e), want) in cases {
            let err = validate(g, m, s, e, false).unwrap_err();
            assert_eq!(err.code.http_status(), 431);
            assert!(err.text.contains(want), "{g} {m} {s} {e:?}: {}", err.text);
        }
    }

    #[test]
    fn overlap() {
        let a = validate(
            "10.0.0.1",
            "255.255.255.0",
            "10.0.0.10",
            Some("10.0.0.20"),
            false,
        )
        .unwrap();
        let b = validate(
            "10.0.0.1",
            "255.255.255.0",
            "10.0.0.20",
            Some("10.0.0.30"),
            false,
        )
        .unwrap();
        let c = validate(
            "10.0.0.1",
            "255.255.255.0",
            "10.0.0.21",
            Some("10.0.0.30"),
            false,
        )
        .unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
    }

    #[test]
    fn cidr_and_dns() {
        assert!(parse_cidr("10.1.1.0/24").is_ok());
        assert!(parse_cidr("10.1.1.5/24")
            .unwrap_err()
            .text
            .contains("10.1.1.0/24"));
        assert!(parse_dns("dns1", "8.8.8.8", false).is_ok());
        assert!(parse_dns("dns1", "::1", false).is_err());
        assert!(parse_dns("ip6dns1", "::1", true).is_ok());
    }
}
