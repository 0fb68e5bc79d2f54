//! Network offerings: what a guest network is made of (its type, the services its router
//! gives, whether guests may send anywhere by default). The vocabularies and
//! createNetworkOffering's consistency rules, with CloudStack's texts (issue 15).

use std::collections::BTreeMap;

use super::physical_networks::{Provider, Service};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestType {
    Shared,
    Isolated,
}

impl GuestType {
    pub fn as_str(self) -> &'static str {
        match self {
            GuestType::Shared => "Shared",
            GuestType::Isolated => "Isolated",
        }
    }
    pub fn parse(s: &str) -> Option<GuestType> {
        [GuestType::Shared, GuestType::Isolated]
            .into_iter()
            .find(|g| g.as_str().eq_ignore_ascii_case(s))
    }
}
super::text_column!(GuestType, "guest type");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Required,
    Optional,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Required => "Required",
            Availability::Optional => "Optional",
        }
    }
    pub fn parse(s: &str) -> Option<Availability> {
        [Availability::Required, Availability::Optional]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}
super::text_column!(Availability, "availability");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferingState {
    Enabled,
    Disabled,
    Inactive,
}

impl OfferingState {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferingState::Enabled => "Enabled",
            OfferingState::Disabled => "Disabled",
            OfferingState::Inactive => "Inactive",
        }
    }
    pub fn parse(s: &str) -> Option<OfferingState> {
        [
            OfferingState::Enabled,
            OfferingState::Disabled,
            OfferingState::Inactive,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}
super::text_column!(OfferingState, "network offering state");

/// The services and providers of a new offering: `supportedservices` plus
/// `serviceproviderlist` pairs. A service with no provider named gets its default (the
/// VirtualRouter, or the SecurityGroupProvider for SecurityGroup).
pub fn services(
    supported: &[&str],
    providers: &[(&str, &str)],
) -> Result<BTreeMap<Service, Provider>, String> {
    let mut out = BTreeMap::new();
    for s in supported {
        let svc = Service::parse(s)
            .ok_or_else(|| format!("Invalid service {}", stratus_api::params::shown(s)))?;
        out.insert(svc, svc.providers()[0]);
    }
    for (s, p) in providers {
        let svc = Service::parse(s)
            .ok_or_else(|| format!("Invalid service {}", stratus_api::params::shown(s)))?;
        let prov = Provider::parse(p)
            .filter(|p| svc.providers().contains(p))
            .ok_or_else(|| {
                format!(
                    "Invalid service provider: {} (Stratus offers {} with {})",
                    stratus_api::params::shown(p),
                    svc.as_str(),
                    svc.providers()[0].as_str()
                )
            })?;
        if !out.contains_key(&svc) {
            return Err(format!(
                "Cannot add service provider for service {} as the service is not in the supported services list",
                svc.as_str()
            ));
        }
        out.insert(svc, prov);
    }
    Ok(out)
}

/// What a new offering asks for, checked together.
#[derive(Debug)]
pub struct NewOffering<'a> {
    pub guest_type: GuestType,
    pub availability: Availability,
    pub services: &'a BTreeMap<Service, Provider>,
    pub specify_vlan: bool,
    pub specify_ip_ranges: bool,
    pub is_persistent: bool,
}

/// CloudStack's consistency rules for a new offering, and the ones where Stratus does less
/// (a Shared offering's router services; source NAT without firewall).
pub fn check(o: &NewOffering<'_>) -> Result<(), String> {
    let has = |s: Service| o.services.contains_key(&s);
    if o.availability == Availability::Required
        && !(o.guest_type == GuestType::Isolated && has(Service::SourceNat))
    {
        return Err(
            "Availability can be Required only for networkOfferings of type Isolated and with SourceNat enabled"
                .into(),
        );
    }
    match o.guest_type {
        GuestType::Shared => {
            if !o.specify_vlan {
                return Err(
                    "SpecifyVlan should be true if network offering's type is Shared".into(),
                );
            }
            if !o.specify_ip_ranges {
                return Err(
                    "SpecifyIpRanges should always be true for Shared network offerings".into(),
                );
            }
            if o.is_persistent {
                return Err(
                    "isPersistent should be false if network offering's type is Shared".into(),
                );
            }
        }
        GuestType::Isolated => {
            if o.specify_ip_ranges && has(Service::SourceNat) {
                return Err("SpecifyIpRanges can only be true for Shared network offerings and Isolated with no SourceNat service".into());
            }
            if has(Service::SecurityGroup) {
                return Err("Security group service is supported only for Shared networks in Stratus (Basic zones)".into());
            }
        }
    }
    for s in [
        Service::StaticNat,
        Service::PortForwarding,
        Service::Firewall,
    ] {
        if has(s) && !has(Service::SourceNat) {
            return Err(format!(
                "{} needs the SourceNat service: the router's public leg comes with source NAT in Stratus",
                s.as_str()
            ));
        }
    }
    if has(Service::SourceNat) && !has(Service::Dhcp) {
        return Err("SourceNat needs the Dhcp service: guests of a routed network get their addresses from its router".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isolated(svc: &[&str]) -> BTreeMap<Service, Provider> {
        services(svc, &[]).unwrap()
    }

    #[test]
    fn services_default_their_provider_and_refuse_unknown_ones() {
        let s = isolated(&["dhcp", "SourceNat", "SecurityGroup"]);
        assert_eq!(s[&Service::Dhcp], Provider::VirtualRouter);
        assert_eq!(s[&Service::SecurityGroup], Provider::SecurityGroupProvider);
        assert_eq!(services(&["Lb"], &[]).unwrap_err(), "Invalid service Lb");
        assert!(services(&["Dhcp"], &[("Dhcp", "Netscaler")])
            .unwrap_err()
            .contains("Invalid service provider"));
        assert!(services(&["Dhcp"], &[("Dns", "VirtualRouter")])
            .unwrap_err()
            .contains("not in the supported services list"));
    }

    #[test]
    fn required_only_for_isolated_with_source_nat() {
        let plain = isolated(&["Dhcp", "Dns"]);
        let o = NewOffering {
            guest_type: GuestType::Isolated,
            availability: Availability::Required,
            services: &plain,
            specify_vlan: false,
            specify_ip_ranges: false,
            is_persistent: false,
        };
        assert!(check(&o)
            .unwrap_err()
            .starts_with("Availability can be Required"));
        let snat = isolated(&["Dhcp", "Dns", "SourceNat", "Firewall"]);
        assert!(check(&NewOffering {
            services: &snat,
            ..o
        })
        .is_ok());
    }

    #[test]
    fn shared_needs_vlan_and_ranges_and_rules_need_source_nat() {
        let dhcp = isolated(&["Dhcp"]);
        let shared = NewOffering {
            guest_type: GuestType::Shared,
            availability: Availability::Optional,
            services: &dhcp,
            specify_vlan: false,
            specify_ip_ranges: true,
            is_persistent: false,
        };
        assert!(check(&shared).unwrap_err().starts_with("SpecifyVlan"));
        let pf = isolated(&["Dhcp", "PortForwarding"]);
        assert!(check(&NewOffering {
            guest_type: GuestType::Isolated,
            services: &pf,
            ..shared
        })
        .unwrap_err()
        .contains("needs the SourceNat"));
    }
}
