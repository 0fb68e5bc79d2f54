//! What a guest network's router enforces on the public side (issue 15): its public
//! addresses, source NAT, static NAT, port forwarding, the ingress firewall of its public
//! addresses and its egress policy, read from the database in one place
//! ([`router_rules`]) so that `services::networks::apply` builds every router spec the
//! same way, whichever change (an address, a rule, a VM) asked for it.
//!
//! Only what is in force is taken: addresses being released and rules being revoked are
//! left out (their commands apply first and delete after), addresses being associated
//! are in (their job applies before it reports them Allocated).
//!
//! The router has one public leg, on one subnet and VLAN: the source NAT address's range
//! (else the first address's). Addresses a network holds in a public range of another
//! subnet or VLAN of the zone are left out, with their rules, until routers take more
//! than one public leg; a warning says so.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use stratus_api::router::{
    EgressPolicy, EgressRule, IngressRule, Ipv4Net, PortForward, PortProtocol, RuleProtocol,
    StaticNatRule,
};

use crate::ctx::Ctx;
use crate::db::networks::NetworkRow;
use crate::db::public_ips::{self as db, PublicIpRow, RuleRow};
use crate::error::Result;
use crate::ids::PublicIpId;
use crate::rules::iprange::ipv4_of;
use crate::rules::physical_networks::TrafficType;
use crate::rules::public_ips::{parse_cidr, protocol_from_stored};

/// The public side of a router spec, as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterRules {
    pub public: Option<PublicSide>,
    pub source_nat: Option<Ipv4Addr>,
    pub static_nat: Vec<StaticNatRule>,
    pub port_forwards: Vec<PortForward>,
    pub firewall: Vec<IngressRule>,
    pub egress: EgressPolicy,
}

/// The router's public leg: its addresses (the source NAT one first), their subnet's
/// gateway and prefix, the range's VLAN and the zone's Public traffic label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicSide {
    pub addresses: Vec<Ipv4Addr>,
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    /// None = untagged.
    pub vlan: Option<i32>,
    /// The zone's Public traffic type KVM label (the hosts' bridge).
    pub label: Option<String>,
}

fn port(p: Option<i32>) -> Option<u16> {
    p.and_then(|v| u16::try_from(v).ok())
}

fn nets(cidrs: &[String]) -> Vec<Ipv4Net> {
    cidrs.iter().filter_map(|c| parse_cidr(c)).collect()
}

/// The public side of `network`'s router, from its addresses, rules and offering.
pub async fn router_rules(ctx: &Ctx, net: &NetworkRow) -> Result<RouterRules> {
    let network = net.id;
    let egress_default_allow =
        crate::db::network_offerings::offering_fetch_any(&ctx.pool, net.offering_id)
            .await?
            .map(|o| o.egress_default_allow)
            .unwrap_or(false);
    let ips = db::public_ips_of_network(&ctx.pool, network).await?;
    let rules = db::rule_list(
        &ctx.pool,
        &db::RuleFilter {
            network_id: Some(network),
            live_only: true,
            ..Default::default()
        },
    )
    .await?
    .0;
    let label =
        crate::db::physical_networks::tt_in_zone(&ctx.pool, net.zone_id, TrafficType::Public)
            .await?
            .and_then(|t| t.kvm_label);
    Ok(build(&ips, &rules, egress_default_allow, label))
}

/// [`router_rules`] without the database: what a router enforces for these addresses and
/// rules.
pub fn build(
    ips: &[PublicIpRow],
    rules: &[RuleRow],
    egress_default_allow: bool,
    label: Option<String>,
) -> RouterRules {
    let live: Vec<&PublicIpRow> = ips.iter().filter(|i| i.state != "Releasing").collect();
    let primary = live
        .iter()
        .find(|i| i.is_source_nat)
        .or_else(|| live.first())
        .copied();
    let leg = |i: &PublicIpRow| (i.gateway, i.netmask, i.vlan.clone());
    let mut public = None;
    let mut on_leg: HashMap<PublicIpId, Ipv4Addr> = HashMap::new();
    if let Some(p) = primary {
        let key = leg(p);
        let mut addresses = vec![];
        for i in std::iter::once(p).chain(live.iter().copied().filter(|i| i.id != p.id)) {
            if leg(i) != key {
                tracing::warn!(
                    address = %i.address.ip(),
                    network = %i.network_id,
                    "a public address on another subnet or VLAN than the router's public leg: left out"
                );
                continue;
            }
            if let Some(a) = ipv4_of(&i.address) {
                addresses.push(a);
                on_leg.insert(i.id, a);
            }
        }
        if let (Some(gateway), Some(mask)) = (ipv4_of(&p.gateway), ipv4_of(&p.netmask)) {
            public = Some(PublicSide {
                addresses,
                gateway,
                prefix_len: u32::from(mask).count_ones() as u8,
                vlan: p.vlan.parse::<i32>().ok(),
                label,
            });
        }
    }
    let source_nat = live
        .iter()
        .find(|i| i.is_source_nat)
        .and_then(|i| on_leg.get(&i.id).copied());
    let static_nat = live
        .iter()
        .filter(|i| !i.is_source_nat)
        .filter_map(|i| {
            let public_ip = on_leg.get(&i.id).copied()?;
            let private_ip = ipv4_of(i.vm_ip.as_ref().filter(|_| i.vm_id.is_some())?)?;
            Some(StaticNatRule {
                public_ip,
                private_ip,
            })
        })
        .collect();
    let address_of = |r: &RuleRow| r.public_ip_id.and_then(|i| on_leg.get(&i).copied());
    let mut port_forwards = vec![];
    let mut firewall = vec![];
    let mut egress = vec![];
    for r in rules.iter().filter(|r| r.state != "Revoke") {
        let Some(protocol) = protocol_from_stored(&r.protocol) else {
            continue;
        };
        match (r.purpose.as_str(), r.traffic.as_str()) {
            ("PortForwarding", _) => {
                let protocol = match protocol {
                    RuleProtocol::Tcp => PortProtocol::Tcp,
                    RuleProtocol::Udp => PortProtocol::Udp,
                    _ => continue,
                };
                let (Some(public_ip), Some(private_ip)) =
                    (address_of(r), r.vm_ip.as_ref().and_then(ipv4_of))
                else {
                    continue;
                };
                let (Some(ps), Some(pe), Some(vs), Some(ve)) = (
                    port(r.start_port),
                    port(r.end_port),
                    port(r.private_start),
                    port(r.private_end),
                ) else {
                    continue;
                };
                port_forwards.push(PortForward {
                    public_ip,
                    protocol,
                    public_start: ps,
                    public_end: pe,
                    private_ip,
                    private_start: vs,
                    private_end: ve,
                });
            }
            ("Firewall", "Ingress") => {
                let Some(public_ip) = address_of(r) else {
                    continue;
                };
                firewall.push(IngressRule {
                    public_ip,
                    protocol,
                    start_port: port(r.start_port),
                    end_port: port(r.end_port),
                    icmp_type: r.icmp_type,
                    icmp_code: r.icmp_code,
                    cidrs: nets(&r.cidrs),
                });
            }
            ("Firewall", "Egress") => egress.push(EgressRule {
                protocol,
                start_port: port(r.start_port),
                end_port: port(r.end_port),
                icmp_type: r.icmp_type,
                icmp_code: r.icmp_code,
                cidrs: nets(&r.cidrs),
                dest_cidrs: nets(&r.dest_cidrs),
            }),
            _ => {}
        }
    }
    RouterRules {
        public,
        source_nat,
        static_nat,
        port_forwards,
        firewall,
        egress: EgressPolicy {
            default_allow: egress_default_allow,
            rules: egress,
        },
    }
}
