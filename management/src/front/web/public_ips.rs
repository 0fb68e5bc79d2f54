//! Public IP addresses in the web console (issue 15): the list of the addresses the
//! caller holds (with their network and what each is used for), and an address's page —
//! Release, static NAT to one instance of its network (enable, disable), its firewall
//! (ingress) rules and its port forwarding rules, each removable, with a form to add one.
//! Addresses are acquired from a network's page (`networks.rs`): an address belongs to a
//! network, whose router carries it.
//!
//! Everything is the API command a CloudStack client sends (listPublicIpAddresses,
//! disassociateIpAddress, enableStaticNat, disableStaticNat, createFirewallRule,
//! deleteFirewallRule, createPortForwardingRule, deletePortForwardingRule and their lists),
//! run as the signed-in user: conflicts between rules and every other refusal are the
//! API's texts.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::types::{
    FirewallResponse, FirewallRuleResponse, IpAddressResponse, VirtualMachineResponse,
};
use stratus_ui::{Action, Cell, DetailPage, Link, ListPage, Row, Section, Table};

use super::lists::all_rows;
use super::security_groups::{match_inputs, match_params, protocol_text};
use super::show::{plain, text, when};
use super::{field, page_params, pager, Fields, PageCommand, Session};
use crate::ctx::Ctx;

const LIST: &str = "/console/public-ips";
const ACTIVE: &str = "public-ips";

pub fn router() -> Router<Ctx> {
    Router::new()
        .route(LIST, get(list))
        .route("/console/public-ips/{id}", get(detail))
        .route("/console/public-ips/{id}/action", post(action))
}

pub(crate) fn detail_path(id: &str) -> String {
    format!("{LIST}/{id}")
}

/// What an address is used for: its network's source NAT, static NAT to an instance, or
/// its rules alone.
pub(crate) fn role_of(ip: &IpAddressResponse) -> String {
    if ip.issourcenat == Some(true) {
        "Source NAT".into()
    } else if ip.isstaticnat == Some(true) {
        format!("Static NAT to {}", text(&ip.virtualmachinename))
    } else {
        "Rules".into()
    }
}

fn release_action(ip: &IpAddressResponse, url: &str) -> Option<Action> {
    (ip.issourcenat != Some(true)).then(|| {
        Action::new("release", "Release", url.to_string())
            .field("action", "release")
            .danger("Yes, release this address and its rules")
    })
}

async fn list(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut params = page_params(&q);
    // listPublicIpAddresses knows no keyword: the search box is the address.
    if let Some(i) = params.iter().position(|(k, _)| *k == "keyword") {
        let (_, v) = params.remove(i);
        params.push(("ipaddress", v));
    }
    params.push(("listall", "true".into()));
    params.extend(s.scope());
    let (total, items) = match s
        .list_of::<IpAddressResponse>("listPublicIpAddresses", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page(ACTIVE, &e),
    };
    let rows = items
        .iter()
        .map(|ip| {
            let id = plain(&ip.id);
            let network = match ip.associatednetworkid {
                Some(n) => Cell::link(
                    text(&ip.associatednetworkname),
                    super::networks::detail_path(&n.to_string()),
                ),
                None => Cell::text("—"),
            };
            Row {
                id: id.clone(),
                cells: vec![
                    Cell::link(text(&ip.ipaddress), detail_path(&id)),
                    network,
                    Cell::text(role_of(ip)),
                    Cell::state(plain(&ip.state)),
                    Cell::text(text(&ip.zonename)),
                    Cell::text(text(&ip.account)),
                ],
                actions: release_action(ip, &format!("{}/action", detail_path(&id)))
                    .into_iter()
                    .collect(),
            }
        })
        .collect();
    s.page(&ListPage {
        frame: s.frame(ACTIVE),
        section: "Network",
        title: "Public IP addresses".into(),
        table: Table::new(
            "list",
            &["Address", "Network", "Use", "State", "Zone", "Account"],
            rows,
            "No public addresses. Acquire one on a network's page.",
        ),
        total,
        toolbar: vec![Link::new("Networks", super::networks::LIST)],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: s.scope_note("public addresses").or_else(|| {
            Some(
                "The addresses of Advanced zones' public ranges that your isolated networks hold. Acquire one on a network's page; open one for its port forwarding and firewall rules or its static NAT."
                    .into(),
            )
        }),
        pager: pager(LIST, &q, total),
        refresh: None,
    })
}

/// The instances of the address's network, as a drop-down's options (id, "name (IP)").
fn vm_options(vms: &[VirtualMachineResponse], network: &str) -> Vec<(String, String)> {
    vms.iter()
        .map(|v| {
            let ip = v
                .nic
                .iter()
                .find(|n| plain(&n.networkid) == network)
                .map(|n| text(&n.ipaddress))
                .unwrap_or_default();
            (plain(&v.id), format!("{} ({ip})", text(&v.name)))
        })
        .collect()
}

/// A rule's Remove button (the form's `action` is `name`, the rule's id `ruleid`).
pub(crate) fn remove_rule(name: &str, url: &str, id: &Option<uuid::Uuid>) -> Action {
    Action::new(name, "Remove", url.to_string())
        .field("action", name)
        .field("ruleid", plain(id))
        .danger("Yes")
}

fn firewall_section(rules: &[FirewallResponse], url: &str) -> Section {
    let rows = rules
        .iter()
        .map(|r| {
            let [protocol, ports] = super::networks::rule_cells(r);
            Row {
                id: plain(&r.id),
                cells: vec![
                    protocol,
                    ports,
                    Cell::mono(text(&r.cidrlist).replace(',', ", ")),
                    Cell::state(plain(&r.state)),
                ],
                actions: vec![remove_rule("fw-remove", url, &r.id)],
            }
        })
        .collect();
    let add = match_inputs(
        Action::new("fw-add", "Add rule", url.to_string()).field("action", "fw-add"),
        &["tcp", "udp", "icmp"],
    )
    .optional_input("cidrlist", "Source CIDR", "text", "Source CIDR");
    Section {
        title: "Firewall rules".into(),
        table: Table::new(
            "firewall",
            &["Protocol", "Ports / ICMP", "Source", "State"],
            rows,
            "No firewall rules: nothing from outside gets in through this address.",
        ),
        links: vec![],
        note: Some(
            "New connections to the address are dropped unless a rule here lets them in (from the source CIDR, else from anywhere). A port forward opens its own public ports."
                .into(),
        ),
        forms: vec![add],
    }
}

fn forwarding_section(
    rules: &[FirewallRuleResponse],
    vms: &[(String, String)],
    url: &str,
) -> Section {
    let range = |a: &Option<String>, b: &Option<String>| match (a.as_deref(), b.as_deref()) {
        (Some(a), Some(b)) if a != b => format!("{a}–{b}"),
        (Some(a), _) => a.to_string(),
        _ => "—".into(),
    };
    let rows = rules
        .iter()
        .map(|r| Row {
            id: plain(&r.id),
            cells: vec![
                Cell::text(protocol_text(r.protocol.as_deref())),
                Cell::mono(range(&r.publicport, &r.publicendport)),
                Cell::mono(range(&r.privateport, &r.privateendport)),
                match r.virtualmachineid {
                    Some(v) => Cell::link(
                        text(&r.virtualmachinename),
                        format!("/console/instances/{v}"),
                    ),
                    None => Cell::text("—"),
                },
                Cell::mono(text(&r.vmguestip)),
                Cell::state(plain(&r.state)),
            ],
            actions: vec![remove_rule("pf-remove", url, &r.id)],
        })
        .collect();
    let protocols = ["tcp", "udp"]
        .iter()
        .map(|p| (p.to_string(), protocol_text(Some(p))))
        .collect();
    let add = Action::new("pf-add", "Add port forward", url.to_string())
        .field("action", "pf-add")
        .choice("protocol", "Protocol", protocols)
        .input("publicport", "Public port", "number", "", "Public port")
        .optional_input(
            "publicendport",
            "Public end port",
            "number",
            "Public end port",
        )
        .input("privateport", "Private port", "number", "", "Private port")
        .optional_input(
            "privateendport",
            "Private end port",
            "number",
            "Private end port",
        )
        .optional_input("cidrlist", "Source CIDR", "text", "Source CIDR")
        .select("virtualmachineid", "Instance", vms.to_vec());
    Section {
        title: "Port forwarding".into(),
        table: Table::new(
            "forwarding",
            &[
                "Protocol",
                "Public ports",
                "Private ports",
                "Instance",
                "Instance address",
                "State",
            ],
            rows,
            "No port forwarding rules.",
        ),
        links: vec![],
        note: Some(if vms.is_empty() {
            "Forwarding needs an instance in the address's network: add one first.".into()
        } else {
            "Traffic to the public ports goes to the instance's ports; the firewall is opened for the public ports (from the source CIDR, else from anywhere).".into()
        }),
        forms: if vms.is_empty() { vec![] } else { vec![add] },
    }
}

async fn detail(s: Session, Path(id): Path<String>) -> Response {
    let scope = [vec![("listall", "true".to_string())], s.scope()].concat();
    let ip = match s
        .one_of::<IpAddressResponse>("listPublicIpAddresses", &id, &scope)
        .await
    {
        Ok(Some(ip)) => ip,
        Ok(None) => return s.not_found(ACTIVE, "public IP address"),
        Err(e) => return s.error_page(ACTIVE, &e),
    };
    let id = plain(&ip.id);
    let url = format!("{}/action", detail_path(&id));
    let network = plain(&ip.associatednetworkid);
    let of =
        |k: &'static str, v: &str| all_rows(&[vec![(k, v.to_string())], scope.clone()].concat());
    let vms = if network.is_empty() {
        vec![]
    } else {
        s.list_of::<VirtualMachineResponse>("listVirtualMachines", &of("networkid", &network))
            .await
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    let vms = vm_options(&vms, &network);
    let firewall = s
        .list_of::<FirewallResponse>("listFirewallRules", &of("ipaddressid", &id))
        .await
        .map(|(_, r)| r)
        .unwrap_or_default();
    let forwards = s
        .list_of::<FirewallRuleResponse>("listPortForwardingRules", &of("ipaddressid", &id))
        .await
        .map(|(_, r)| r)
        .unwrap_or_default();
    let mut actions = vec![];
    if ip.isstaticnat == Some(true) {
        actions.push(
            Action::new("staticnat-disable", "Disable static NAT", url.clone())
                .field("action", "staticnat-disable"),
        );
    } else if ip.issourcenat != Some(true) && !vms.is_empty() {
        actions.push(
            Action::new("staticnat-enable", "Enable static NAT", url.clone())
                .field("action", "staticnat-enable")
                .select("virtualmachineid", "Instance", vms.clone()),
        );
    }
    actions.extend(release_action(&ip, &url));
    let static_nat = match (ip.isstaticnat, ip.virtualmachineid) {
        (Some(true), Some(v)) => Cell::link(
            format!(
                "{} ({})",
                text(&ip.virtualmachinename),
                text(&ip.vmipaddress)
            ),
            format!("/console/instances/{v}"),
        ),
        _ => Cell::text("—"),
    };
    let network_cell = if network.is_empty() {
        Cell::text("—")
    } else {
        Cell::link(
            text(&ip.associatednetworkname),
            super::networks::detail_path(&network),
        )
    };
    s.page(&DetailPage {
        banner: None,
        frame: s.frame(ACTIVE),
        title: text(&ip.ipaddress),
        status: vec![Cell::state(plain(&ip.state))],
        back: Link::new("Public IP addresses", LIST),
        toolbar: vec![],
        actions,
        fields: vec![
            ("ID".into(), Cell::mono(id.clone())),
            ("Network".into(), network_cell),
            ("Use".into(), Cell::text(role_of(&ip))),
            ("Static NAT to".into(), static_nat),
            ("Zone".into(), Cell::text(text(&ip.zonename))),
            ("Account".into(), Cell::text(text(&ip.account))),
            ("Domain".into(), Cell::text(text(&ip.domain))),
            ("Acquired".into(), Cell::when(when(&ip.allocated))),
        ],
        charts: vec![],
        sections: vec![
            firewall_section(&firewall, &url),
            forwarding_section(&forwards, &vms, &url),
        ],
        refresh: None,
    })
}

/// createFirewallRule's parameters from the add-rule form.
fn firewall_params(id: &str, f: &Fields) -> Vec<(&'static str, String)> {
    let mut p = vec![("ipaddressid", id.to_string())];
    p.extend(match_params(f));
    let cidr = field(f, "cidrlist").trim();
    if !cidr.is_empty() {
        p.push(("cidrlist", cidr.to_string()));
    }
    p
}

/// createPortForwardingRule's parameters from its form: the end ports are the start ones
/// when empty, as CloudStack takes them.
fn forwarding_params(id: &str, f: &Fields) -> Vec<(&'static str, String)> {
    let mut p = vec![("ipaddressid", id.to_string())];
    for k in [
        "protocol",
        "publicport",
        "publicendport",
        "privateport",
        "privateendport",
        "virtualmachineid",
        "cidrlist",
    ] {
        let v = field(f, k).trim();
        if !v.is_empty() {
            p.push((k, v.to_string()));
        }
    }
    p
}

/// What a form on an address's page asks: the command, its parameters, whether to go
/// back to the list (the address is gone) and what to say. None: no such action.
fn command_for(id: &str, f: &Fields) -> Option<PageCommand> {
    let rule = || vec![("id", field(f, "ruleid").to_string())];
    let address = || vec![("ipaddressid", id.to_string())];
    Some(match field(f, "action") {
        "release" => (
            "disassociateIpAddress",
            vec![("id", id.to_string())],
            true,
            "The public IP address was released with its rules.",
        ),
        "staticnat-enable" => (
            "enableStaticNat",
            [
                address(),
                vec![("virtualmachineid", field(f, "virtualmachineid").to_string())],
            ]
            .concat(),
            false,
            "Static NAT is on: the address now reaches the instance (its firewall rules still decide what gets in).",
        ),
        "staticnat-disable" => ("disableStaticNat", address(), false, "Static NAT is off."),
        "fw-add" => (
            "createFirewallRule",
            firewall_params(id, f),
            false,
            "The firewall rule was added; the router applies it.",
        ),
        "fw-remove" => (
            "deleteFirewallRule",
            rule(),
            false,
            "The firewall rule was removed.",
        ),
        "pf-add" => (
            "createPortForwardingRule",
            forwarding_params(id, f),
            false,
            "The port forward was added, with its firewall opening.",
        ),
        "pf-remove" => (
            "deletePortForwardingRule",
            rule(),
            false,
            "The port forward was removed, with its firewall opening.",
        ),
        _ => return None,
    })
}

async fn action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    s.act_on(command_for(&id, &f), &detail_path(&id), LIST)
        .await
}

#[cfg(test)]
mod tests {
    use super::super::fields as form;
    use super::*;

    #[test]
    fn rule_forms_become_the_api_parameters() {
        let get =
            |p: &[(&str, String)], k: &str| p.iter().find(|(x, _)| *x == k).map(|(_, v)| v.clone());
        let p = firewall_params(
            "ip",
            &form(&[("protocol", "icmp"), ("icmptype", "8"), ("cidrlist", "")]),
        );
        assert_eq!(get(&p, "ipaddressid").as_deref(), Some("ip"));
        assert_eq!(get(&p, "icmpcode").as_deref(), Some("0"));
        assert_eq!(get(&p, "cidrlist"), None);
        let p = forwarding_params(
            "ip",
            &form(&[
                ("protocol", "tcp"),
                ("publicport", "2222"),
                ("publicendport", ""),
                ("privateport", "22"),
                ("virtualmachineid", "vm"),
                ("sessionkey", "k"),
            ]),
        );
        assert_eq!(
            p,
            vec![
                ("ipaddressid", "ip".to_string()),
                ("protocol", "tcp".to_string()),
                ("publicport", "2222".to_string()),
                ("privateport", "22".to_string()),
                ("virtualmachineid", "vm".to_string()),
            ]
        );
        let ip = IpAddressResponse {
            isstaticnat: Some(true),
            virtualmachinename: Some("web1".into()),
            ..Default::default()
        };
        assert_eq!(role_of(&ip), "Static NAT to web1");
        let (command, params, to_list, _) = command_for(
            "ip",
            &form(&[("action", "staticnat-enable"), ("virtualmachineid", "vm")]),
        )
        .unwrap();
        assert_eq!((command, to_list), ("enableStaticNat", false));
        assert_eq!(params[1], ("virtualmachineid", "vm".to_string()));
        assert!(
            command_for("ip", &form(&[("action", "release")]))
                .unwrap()
                .2
        );
    }
}
