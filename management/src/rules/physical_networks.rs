//! Physical networks, traffic types, service providers and network services, as
//! CloudStack models an Advanced zone's plumbing (issue 15). Pure: the VLAN range
//! grammar and its merge, the closed vocabularies (traffic types, providers, services and
//! their capabilities), and the texts CloudStack answers when they are misspelt.
//!
//! Why model them at all when Stratus has no system VMs: deployment tools (Ansible's
//! `cs_physical_network`/`cs_traffic_type`, CloudMonkey scripts, the UI's zone wizard)
//! set an Advanced zone up through exactly these calls, and the answers are what the
//! router and the hosts' VLAN bridges are built from: the guest VLAN range, and the
//! traffic labels (the Linux bridge or NIC each kind of traffic rides on every host).

use std::collections::BTreeSet;
use std::fmt;

/// The ids CloudStack accepts in a physical network's range: VLAN ids, or VXLAN network
/// identifiers (24 bits).
pub const VNET_MIN: u32 = 0;
pub const VNET_MAX: u32 = 4095;
pub const VXLAN_MAX: u32 = 16_777_214;
/// At most this many ids in a range: Stratus keeps a row per id (as CloudStack does), so
/// a whole 24-bit VXLAN space in one request would be 16 million inserts.
pub const MAX_VNETS: u64 = 65_536;
/// At most this many ranges in one string: the range is free text and each piece costs
/// a row per VLAN; a whole 0–4095 is one range, so a real set never comes close.
const MAX_PIECES: usize = 256;

/// A set of VLAN ids, kept as sorted, merged, inclusive ranges (CloudStack's
/// `generateVnetString`: `100-150,151-199` is `100-199`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VnetRanges(Vec<(u32, u32)>);

impl VnetRanges {
    /// Parses `"100-199,300-399"` (each piece `start-end`; `500-500` for one VLAN; a bare
    /// `500` is taken as `500-500`). The texts are CloudStack's, spelling included.
    pub fn parse(s: &str, max: u32) -> Result<VnetRanges, String> {
        let bad = || {
            format!(
                "Please provide valid vnet range. vnet range should be a coma seperated list of vlan ranges. example 500-500,600-601 between {VNET_MIN} and {max}"
            )
        };
        let pieces: Vec<&str> = s.split(',').map(str::trim).collect();
        if pieces.len() > MAX_PIECES {
            return Err(format!("{}: at most {MAX_PIECES} ranges", bad()));
        }
        let mut out = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let (a, b) = match piece.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (piece, piece),
            };
            let num = |t: &str| -> Result<u32, String> {
                if t.is_empty() || t.len() > 9 || !t.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(if t.is_empty() {
                        bad()
                    } else {
                        format!("Please provide valid vnet range. The vnet range should be a coma seperated list example 2001-2012,3000-3005. between {VNET_MIN} and {max}")
                    });
                }
                t.parse::<u32>().map_err(|_| bad())
            };
            let (start, end) = (num(a)?, num(b)?);
            if start > max || end > max {
                return Err(format!("Vnet range has to be between {VNET_MIN} and {max}"));
            }
            if start > end {
                return Err(format!("Vnet range has to be between {VNET_MIN} and {max} and start range should be lesser than or equal to stop range"));
            }
            out.push((start, end));
        }
        let r = VnetRanges::merged(out);
        if r.len() > MAX_VNETS {
            return Err(format!(
                "The vnet range holds {} ids: at most {MAX_VNETS} per physical network",
                r.len()
            ));
        }
        Ok(r)
    }

    fn merged(mut v: Vec<(u32, u32)>) -> VnetRanges {
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match out.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        VnetRanges(out)
    }

    /// How many ids.
    pub fn len(&self) -> u64 {
        self.0.iter().map(|&(s, e)| u64::from(e - s) + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }

    /// Every id in the set.
    pub fn ids(&self) -> BTreeSet<u32> {
        self.0.iter().flat_map(|&(s, e)| s..=e).collect()
    }

    pub fn from_ids(ids: &BTreeSet<u32>) -> VnetRanges {
        VnetRanges::merged(ids.iter().map(|&i| (i, i)).collect())
    }
}

impl fmt::Display for VnetRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (s, e) in &self.0 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{s}-{e}")?;
        }
        Ok(())
    }
}

/// The kinds of traffic a physical network carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrafficType {
    Public,
    Guest,
    Management,
    Storage,
}

impl TrafficType {
    pub const ALL: [TrafficType; 4] = [
        TrafficType::Public,
        TrafficType::Guest,
        TrafficType::Management,
        TrafficType::Storage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrafficType::Public => "Public",
            TrafficType::Guest => "Guest",
            TrafficType::Management => "Management",
            TrafficType::Storage => "Storage",
        }
    }

    /// Case-insensitive, as CloudStack's `TrafficType.getTrafficType`.
    pub fn parse(s: &str) -> Option<TrafficType> {
        TrafficType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}
super::text_column!(TrafficType, "traffic type");

/// A physical network's state: created Disabled; Enabled by updatePhysicalNetwork.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhysicalNetworkState {
    Enabled,
    Disabled,
}

impl PhysicalNetworkState {
    pub fn as_str(self) -> &'static str {
        match self {
            PhysicalNetworkState::Enabled => "Enabled",
            PhysicalNetworkState::Disabled => "Disabled",
        }
    }
    /// Exact spelling: CloudStack's `State.valueOf` is case-sensitive here.
    pub fn parse(s: &str) -> Option<PhysicalNetworkState> {
        match s {
            "Enabled" => Some(PhysicalNetworkState::Enabled),
            "Disabled" => Some(PhysicalNetworkState::Disabled),
            _ => None,
        }
    }
}
super::text_column!(PhysicalNetworkState, "physical network state");

/// A network service provider's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderState {
    Enabled,
    Disabled,
    Shutdown,
}

impl ProviderState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderState::Enabled => "Enabled",
            ProviderState::Disabled => "Disabled",
            ProviderState::Shutdown => "Shutdown",
        }
    }
    pub fn parse(s: &str) -> Option<ProviderState> {
        [
            ProviderState::Enabled,
            ProviderState::Disabled,
            ProviderState::Shutdown,
        ]
        .into_iter()
        .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }
}
super::text_column!(ProviderState, "provider state");

/// The network services Stratus implements (CloudStack's `Network.Service` minus Lb,
/// Vpn, NetworkACL and the rest: refused by name rather than listed and not done).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Dhcp,
    Dns,
    UserData,
    Firewall,
    SourceNat,
    StaticNat,
    PortForwarding,
    SecurityGroup,
}

impl Service {
    pub const ALL: [Service; 8] = [
        Service::Dhcp,
        Service::Dns,
        Service::UserData,
        Service::Firewall,
        Service::SourceNat,
        Service::StaticNat,
        Service::PortForwarding,
        Service::SecurityGroup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Dhcp => "Dhcp",
            Service::Dns => "Dns",
            Service::UserData => "UserData",
            Service::Firewall => "Firewall",
            Service::SourceNat => "SourceNat",
            Service::StaticNat => "StaticNat",
            Service::PortForwarding => "PortForwarding",
            Service::SecurityGroup => "SecurityGroup",
        }
    }

    /// Case-insensitive (CloudStack's `Service.getService` compares ignoring case).
    pub fn parse(s: &str) -> Option<Service> {
        Service::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }

    /// The capability names CloudStack defines for the service (`Network.Capability`),
    /// as listSupportedNetworkServices lists them, with whether an offering may choose
    /// the value.
    pub fn capabilities(self) -> &'static [(&'static str, bool)] {
        match self {
            Service::Dhcp => &[("ExtraDhcpOptions", false)],
            Service::Dns => &[("AllowDnsSuffixModification", false)],
            Service::Firewall => &[
                ("SupportedProtocols", false),
                ("MultipleIps", false),
                ("TrafficStatistics", false),
                ("SupportedTrafficDirection", false),
                ("SupportedEgressProtocols", false),
            ],
            Service::SourceNat => &[("SupportedSourceNatTypes", true), ("RedundantRouter", true)],
            Service::StaticNat => &[("ElasticIp", false), ("AssociatePublicIP", false)],
            Service::UserData | Service::PortForwarding | Service::SecurityGroup => &[],
        }
    }

    /// The providers that offer the service in Stratus.
    pub fn providers(self) -> &'static [Provider] {
        match self {
            Service::SecurityGroup => &[Provider::SecurityGroupProvider],
            _ => &[Provider::VirtualRouter],
        }
    }
}

/// The network service providers of a physical network. CloudStack adds these when it
/// creates one; Stratus implements two (the router namespace and the hosts' security
/// group filter) and lists the rest so scripts that look for them by name find them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    VirtualRouter,
    SecurityGroupProvider,
    VpcVirtualRouter,
    InternalLbVm,
    ConfigDrive,
}

impl Provider {
    /// What createPhysicalNetwork adds, with the state it starts in. The VirtualRouter
    /// starts Enabled: it needs no system VM template to be "ready" (CloudStack makes
    /// the admin configure and enable its element first; Stratus has nothing to
    /// configure). The ones Stratus does not implement stay Disabled and cannot be
    /// enabled.
    pub const ADDED: [(Provider, ProviderState); 5] = [
        (Provider::VirtualRouter, ProviderState::Enabled),
        (Provider::SecurityGroupProvider, ProviderState::Disabled),
        (Provider::VpcVirtualRouter, ProviderState::Disabled),
        (Provider::InternalLbVm, ProviderState::Disabled),
        (Provider::ConfigDrive, ProviderState::Disabled),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::VirtualRouter => "VirtualRouter",
            Provider::SecurityGroupProvider => "SecurityGroupProvider",
            Provider::VpcVirtualRouter => "VpcVirtualRouter",
            Provider::InternalLbVm => "InternalLbVm",
            Provider::ConfigDrive => "ConfigDrive",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        Provider::ADDED
            .into_iter()
            .map(|(p, _)| p)
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// The services the provider offers (listNetworkServiceProviders' `servicelist`).
    pub fn services(self) -> Vec<Service> {
        Service::ALL
            .into_iter()
            .filter(|s| s.providers().contains(&self))
            .collect()
    }

    /// Whether Stratus implements it (only those can be Enabled).
    pub fn implemented(self) -> bool {
        matches!(
            self,
            Provider::VirtualRouter | Provider::SecurityGroupProvider
        )
    }
}
super::text_column!(Provider, "network service provider");

/// The VirtualRouter's capability values, as a network offering's and a network's
/// `service[].capability[]` show them (only SourceNat and StaticNat carry any there,
/// as CloudStack's response builder does).
pub fn offering_capabilities(service: Service) -> &'static [(&'static str, &'static str)] {
    match service {
        Service::SourceNat => &[
            ("SupportedSourceNatTypes", "peraccount"),
            ("RedundantRouter", "false"),
        ],
        Service::StaticNat => &[("ElasticIp", "false"), ("AssociatePublicIP", "true")],
        _ => &[],
    }
}

/// A physical network's `broadcastdomainrange`.
pub fn broadcast_range(given: Option<&str>, advanced: bool) -> Result<&'static str, String> {
    let Some(g) = given else {
        return Ok(if advanced { "ZONE" } else { "POD" });
    };
    let v = if g.eq_ignore_ascii_case("zone") {
        "ZONE"
    } else if g.eq_ignore_ascii_case("pod") {
        "POD"
    } else {
        return Err(format!(
            "Unable to resolve broadcastDomainRange '{}' to a supported value {{Pod or Zone}}",
            stratus_api::params::shown(g)
        ));
    };
    match (advanced, v) {
        (true, "POD") => {
            Err("Advance zone can have broadcast domain type of value ZONE only".into())
        }
        (false, "ZONE") => {
            Err("Basic zone can have broadcast domain type of value POD only".into())
        }
        _ => Ok(v),
    }
}

/// How a physical network keeps guest networks apart on the wire. VLAN tags (802.1Q) are
/// CloudStack's default; VXLAN (a VNI per network, UDP between hosts) needs no switch
/// configuration and is what runs where the kernel has no 802.1Q (this project's own
/// machines: see docs/design-brief notes in docs/architecture.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    Vlan,
    Vxlan,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Vlan => "VLAN",
            Isolation::Vxlan => "VXLAN",
        }
    }
    pub fn parse(s: &str) -> Option<Isolation> {
        [Isolation::Vlan, Isolation::Vxlan]
            .into_iter()
            .find(|i| i.as_str().eq_ignore_ascii_case(s))
    }
    /// The largest id of its range.
    pub fn max_id(self) -> u32 {
        match self {
            Isolation::Vlan => VNET_MAX,
            Isolation::Vxlan => VXLAN_MAX,
        }
    }
    /// The broadcast URI of a network holding `id` (`vlan://100`, `vxlan://5001`).
    pub fn uri(self, id: u32) -> String {
        match self {
            Isolation::Vlan => format!("vlan://{id}"),
            Isolation::Vxlan => format!("vxlan://{id}"),
        }
    }
}

/// A traffic label: the Linux bridge or NIC the traffic rides on every host of the zone.
/// It becomes an interface name on hosts (and part of VLAN bridge names), so it must be
/// one: 1–15 characters of letters, digits, `.`, `-`, `_`.
pub fn valid_label(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Invalid KVM network label '{}': it names the Linux bridge or interface on every host (1-15 letters, digits, '.', '-' or '_')",
            stratus_api::params::shown(s)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnet_ranges_merge_and_print_as_cloudstack() {
        let r = VnetRanges::parse("300-399, 100-150,151-199,120-130", VNET_MAX).unwrap();
        assert_eq!(r.to_string(), "100-199,300-399");
        assert_eq!(
            VnetRanges::parse("500", VNET_MAX).unwrap().to_string(),
            "500-500"
        );
        assert_eq!(r.ids().len(), 200);
        assert_eq!(VnetRanges::from_ids(&r.ids()), r);
    }

    #[test]
    fn vnet_ranges_refuse_what_cloudstack_refuses() {
        for (s, text) in [
            ("200-100", "start range should be lesser"),
            ("100-5000", "has to be between 0 and 4095"),
            ("a-b", "example 2001-2012,3000-3005"),
            ("100-", "example 500-500,600-601"),
            ("", "example 500-500,600-601"),
            ("-1-5", "example 500-500"),
            ("99999999999999999999-1", "example 2001-2012"),
        ] {
            let e = VnetRanges::parse(s, VNET_MAX).unwrap_err();
            assert!(e.contains(text), "{s:?}: {e}");
        }
        let many = vec!["1-1"; 300].join(",");
        assert!(VnetRanges::parse(&many, VNET_MAX)
            .unwrap_err()
            .contains("at most"));
        assert_eq!(
            VnetRanges::parse("5000-5999", VXLAN_MAX).unwrap().len(),
            1000
        );
        assert!(VnetRanges::parse("5000-5999", VNET_MAX).is_err());
        assert!(VnetRanges::parse("1-100000", VXLAN_MAX)
            .unwrap_err()
            .contains("at most 65536"));
    }

    #[test]
    fn vocabularies_parse_case_insensitively() {
        assert_eq!(TrafficType::parse("guest"), Some(TrafficType::Guest));
        assert_eq!(TrafficType::parse("Control"), None);
        assert_eq!(Service::parse("sourcenat"), Some(Service::SourceNat));
        assert_eq!(Service::parse("Lb"), None);
        assert_eq!(PhysicalNetworkState::parse("enabled"), None);
        assert_eq!(
            Provider::VirtualRouter.services(),
            vec![
                Service::Dhcp,
                Service::Dns,
                Service::UserData,
                Service::Firewall,
                Service::SourceNat,
                Service::StaticNat,
                Service::PortForwarding
            ]
        );
    }

    #[test]
    fn broadcast_range_and_labels() {
        assert_eq!(broadcast_range(None, true), Ok("ZONE"));
        assert_eq!(broadcast_range(Some("zone"), true), Ok("ZONE"));
        assert!(broadcast_range(Some("pod"), true).is_err());
        assert!(broadcast_range(Some("x"), true)
            .unwrap_err()
            .contains("{Pod or Zone}"));
        assert!(valid_label("cloudbr0").is_ok());
        assert!(valid_label("eth0.100").is_ok());
        assert!(valid_label("a-very-long-bridge").is_err());
        assert!(valid_label("br0;rm").is_err());
        assert!(valid_label("").is_err());
    }
}
