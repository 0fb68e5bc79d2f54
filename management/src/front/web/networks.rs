//! Guest networks in the web console (issue 15): the list (a Basic zone's shared network
//! and the isolated networks of Advanced zones), the Add network form, and a network's
//! page — Restart (with or without cleanup), Delete, its name and description edited,
//! the instances with a NIC in it, its router (for administrators: stop, start, reboot,
//! destroy), its public addresses (acquire one, release one; each address's rules are on
//! its own page, `public_ips.rs`) and its egress firewall rules.
//!
//! Everything is the API command a CloudStack client sends (listNetworks, createNetwork,
//! updateNetwork, restartNetwork, deleteNetwork, listRouters and the router verbs,
//! associateIpAddress, disassociateIpAddress, createEgressFirewallRule,
//! deleteEgressFirewallRule), run as the signed-in user: the checks and refusals are the
//! API's (a network in use cannot be deleted, one never implemented cannot be
//! restarted). Async commands are waited for like every other console action; the job's
//! page follows one that takes longer.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::types::{
    DomainRouterResponse, FirewallResponse, IpAddressResponse, NetworkOfferingResponse,
    NetworkResponse, VirtualMachineResponse, ZoneResponse,
};
use stratus_ui::{Action, Cell, DetailPage, Field, FormPage, Link, ListPage, Row, Section, Table};

use super::lists::all_rows;
use super::security_groups::{match_inputs, match_params, ports_text, protocol_text};
use super::show::{plain, text, when};
use super::{field, page_params, pager, redirect_with, Fields, PageCommand, Session};
use crate::ctx::Ctx;

pub(crate) const LIST: &str = "/console/networks";
const NEW: &str = "/console/networks/new";
const ACTIVE: &str = "networks";

pub fn router() -> Router<Ctx> {
    Router::new()
        .route(LIST, get(list))
        .route(NEW, get(new_form).post(create))
        .route("/console/networks/{id}", get(detail))
        .route("/console/networks/{id}/action", post(action))
}

pub(crate) fn detail_path(id: &str) -> String {
    format!("{LIST}/{id}")
}

/// Whether a network is an account's own (isolated): it can be restarted and deleted; a
/// Basic zone's shared network goes with its zone.
fn isolated(n: &NetworkResponse) -> bool {
    n.r#type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("isolated"))
}

/// Restart and Delete, for an isolated network's page (`full`: with the cleanup choice
/// and the longer confirmation) or its row in the list.
fn network_actions(n: &NetworkResponse, url: &str, full: bool) -> Vec<Action> {
    if !isolated(n) {
        return vec![];
    }
    let mut restart = Action::new("restart", "Restart", url.to_string()).field("action", "restart");
    if full {
        restart = restart.checkbox("cleanup", "Clean up (make the router anew)", false);
    }
    vec![
        restart,
        Action::new("delete", "Delete", url.to_string())
            .field("action", "delete")
            .danger(if full {
                "Yes, delete this network (no instance may be in it)"
            } else {
                "Yes"
            }),
    ]
}

async fn list(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let params = [
        page_params(&q),
        vec![("listall", "true".to_string())],
        s.scope(),
    ]
    .concat();
    let (total, items) = match s.list_of::<NetworkResponse>("listNetworks", &params).await {
        Ok(x) => x,
        Err(e) => return s.error_page(ACTIVE, &e),
    };
    let rows = items
        .iter()
        .map(|n| {
            let id = plain(&n.id);
            Row {
                id: id.clone(),
                cells: vec![
                    Cell::link(text(&n.name), detail_path(&id)),
                    Cell::state(plain(&n.state)),
                    Cell::text(text(&n.r#type)),
                    Cell::text(text(&n.zonename)),
                    Cell::mono(text(&n.cidr)),
                    Cell::mono(text(&n.gateway)),
                    Cell::text(text(&n.account)),
                ],
                actions: network_actions(n, &format!("{}/action", detail_path(&id)), false),
            }
        })
        .collect();
    s.page(&ListPage {
        frame: s.frame(ACTIVE),
        section: "Network",
        title: "Networks".into(),
        table: Table::new(
            "list",
            &["Name", "State", "Type", "Zone", "CIDR", "Gateway", "Account"],
            rows,
            "No networks. An account's first instance in an Advanced zone gets its default network; + Add network makes one now.",
        ),
        total,
        toolbar: vec![Link::primary("+ Add network", NEW)],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: s.scope_note("networks").or_else(|| Some(
            "An isolated network is an account's own subnet in an Advanced zone, behind its router (DHCP and DNS, source NAT to the outside, port forwarding, static NAT, firewall). It is implemented — its router placed on a host — when its first instance starts."
                .into(),
        )),
        pager: pager(LIST, &q, total),
        refresh: None,
    })
}

/// The values of the Add network form, kept when the API refuses them.
#[derive(Default)]
struct NewNetwork {
    name: String,
    displaytext: String,
    zoneid: String,
    networkofferingid: String,
    gateway: String,
    netmask: String,
    networkdomain: String,
}

impl NewNetwork {
    fn from(f: &Fields) -> NewNetwork {
        let get = |k: &str| field(f, k).trim().to_string();
        NewNetwork {
            name: get("name"),
            displaytext: get("displaytext"),
            zoneid: get("zoneid"),
            networkofferingid: get("networkofferingid"),
            gateway: get("gateway"),
            netmask: get("netmask"),
            networkdomain: get("networkdomain"),
        }
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        [
            ("name", &self.name),
            ("displaytext", &self.displaytext),
            ("zoneid", &self.zoneid),
            ("networkofferingid", &self.networkofferingid),
            ("gateway", &self.gateway),
            ("netmask", &self.netmask),
            ("networkdomain", &self.networkdomain),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect()
    }
}

/// The form: the Advanced zones and the enabled isolated offerings are its choices.
async fn form_page(s: &Session, v: &NewNetwork, error: Option<String>) -> FormPage {
    let zones: Vec<(String, String)> = s
        .list_of::<ZoneResponse>("listZones", &all_rows(&[]))
        .await
        .map(|(_, z)| z)
        .unwrap_or_default()
        .iter()
        .filter(|z| z.networktype.as_deref() == Some("Advanced"))
        .map(|z| (plain(&z.id), text(&z.name)))
        .collect();
    let offerings: Vec<(String, String)> = s
        .list_of::<NetworkOfferingResponse>(
            "listNetworkOfferings",
            &all_rows(&[
                ("guestiptype", "Isolated".into()),
                ("state", "Enabled".into()),
            ]),
        )
        .await
        .map(|(_, o)| o)
        .unwrap_or_default()
        .iter()
        .map(|o| (plain(&o.id), text(&o.name)))
        .collect();
    let intro = if zones.is_empty() {
        "There is no Advanced zone: isolated networks live in Advanced zones (an administrator adds one with Add zone)."
    } else {
        "An isolated network for your instances, with its own router. Leave the gateway and netmask empty for the zone's guest CIDR; it is implemented (its router placed) when its first instance starts."
    };
    FormPage {
        frame: s.frame(ACTIVE),
        section: "Networks",
        title: "Add network".into(),
        intro: Some(intro.into()),
        action: NEW.into(),
        fields: vec![
            Field::text("name", "Name", v.name.clone(), true).placeholder("web"),
            Field::text("displaytext", "Description", v.displaytext.clone(), false),
            Field::select("zoneid", "Zone", v.zoneid.clone(), zones),
            Field::select(
                "networkofferingid",
                "Network offering",
                v.networkofferingid.clone(),
                offerings,
            ),
            Field::text("gateway", "Gateway", v.gateway.clone(), false)
                .placeholder("10.1.1.1")
                .help("Optional: an address of a private (RFC 1918) subnet; with the netmask."),
            Field::text("netmask", "Netmask", v.netmask.clone(), false)
                .placeholder("255.255.255.0"),
            Field::text(
                "networkdomain",
                "Network domain",
                v.networkdomain.clone(),
                false,
            )
            .placeholder("cs1cloud.internal")
            .help("The DNS domain the router gives the instances (optional)."),
        ],
        error,
        submit: "Add network".into(),
        cancel: LIST.into(),
        refresh: None,
    }
}

async fn new_form(s: Session) -> Response {
    let page = form_page(&s, &NewNetwork::default(), None).await;
    s.page(&page)
}

async fn create(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let v = NewNetwork::from(&f);
    let params = [v.params(), s.scope()].concat();
    match s.call("createNetwork", &params).await {
        Ok(reply) => {
            let made = super::created::<NetworkResponse>("createNetwork", reply)
                .ok()
                .flatten();
            let to = made
                .as_ref()
                .and_then(|n| n.id)
                .map(|id| detail_path(&id.to_string()))
                .unwrap_or_else(|| LIST.to_string());
            redirect_with(
                &to,
                true,
                &format!(
                    "Network {} was created. Its router is placed when its first instance starts.",
                    v.name
                ),
            )
        }
        Err(e) => {
            let page = form_page(&s, &v, Some(e.text)).await;
            s.page_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// A firewall rule's protocol as a table shows it, and its ports or ICMP type and code
/// (egress rules here, an address's ingress rules in `public_ips.rs`).
pub(crate) fn rule_cells(r: &FirewallResponse) -> [Cell; 2] {
    [
        Cell::text(protocol_text(r.protocol.as_deref())),
        Cell::mono(ports_text(
            r.protocol.as_deref(),
            (r.startport, r.endport),
            (r.icmptype, r.icmpcode),
        )),
    ]
}

/// A CIDR list as the API answers it ("" or absent: none).
fn cidrs(c: &Option<String>, none: &str) -> String {
    match c.as_deref().map(str::trim) {
        Some(c) if !c.is_empty() => c.replace(',', ", "),
        _ => none.into(),
    }
}

/// The instances with a NIC in the network: their address there.
fn instances_section(n: &NetworkResponse, id: &str, vms: &[VirtualMachineResponse]) -> Section {
    let rows = vms
        .iter()
        .map(|v| {
            let nic = v
                .nic
                .iter()
                .find(|n| plain(&n.networkid) == id)
                .or(v.nic.first());
            Row {
                id: plain(&v.id),
                cells: vec![
                    Cell::link(
                        text(&v.name),
                        format!("/console/instances/{}", plain(&v.id)),
                    ),
                    Cell::state(plain(&v.state)),
                    Cell::mono(nic.map(|n| text(&n.ipaddress)).unwrap_or_default()),
                    Cell::mono(nic.map(|n| text(&n.macaddress)).unwrap_or_default()),
                    Cell::text(text(&v.account)),
                ],
                actions: vec![],
            }
        })
        .collect();
    Section {
        title: "Instances".into(),
        table: Table::new(
            "instances",
            &["Name", "State", "IP address", "MAC address", "Account"],
            rows,
            "No instance is in this network.",
        ),
        // The wizard starts with this network's zone and the network chosen.
        links: vec![Link::new(
            "+ Add instance",
            format!(
                "/console/instances/new{}",
                super::query_string(&[("zoneid", plain(&n.zoneid)), ("networkid", id.to_string())])
            ),
        )],
        note: None,
        forms: vec![],
    }
}

/// The network's router and the verbs its state allows (administrators only: the router
/// commands are CloudStack's domain-admin ones).
fn router_section(routers: &[DomainRouterResponse], url: &str) -> Section {
    let rows = routers
        .iter()
        .map(|r| {
            let rid = plain(&r.id);
            let act = |name: &str, label: &str| {
                Action::new(name, label, url.to_string())
                    .field("action", name)
                    .field("routerid", rid.clone())
            };
            let mut actions = vec![];
            match r.state.as_deref() {
                Some("Running") => {
                    actions.push(act("router-reboot", "Reboot"));
                    actions.push(act("router-stop", "Stop"));
                }
                Some("Stopped") => actions.push(act("router-start", "Start")),
                _ => {}
            }
            actions.push(act("router-destroy", "Destroy").danger("Yes (Restart makes it again)"));
            Row {
                id: rid.clone(),
                cells: vec![
                    Cell::text(text(&r.name)),
                    Cell::state(plain(&r.state)),
                    Cell::text(text(&r.hostname)),
                    Cell::mono(text(&r.guestipaddress)),
                    Cell::mono(text(&r.publicip)),
                    Cell::when(when(&r.created)),
                ],
                actions,
            }
        })
        .collect();
    Section {
        title: "Router".into(),
        table: Table::new(
            "routers",
            &[
                "Name",
                "State",
                "Host",
                "Guest address",
                "Public address",
                "Created",
            ],
            rows,
            "No router yet: the network is implemented (its router placed on a host) when its first instance starts.",
        ),
        links: vec![],
        note: Some(
            "The router is a network namespace on one host: DHCP and DNS for the instances, source NAT, static NAT, port forwarding and the firewall. If its host is lost it is made again on another."
                .into(),
        ),
        forms: vec![],
    }
}

/// The network's public addresses, each linked to its page (its rules), and Acquire.
fn addresses_section(ips: &[IpAddressResponse], url: &str) -> Section {
    let rows = ips
        .iter()
        .map(|ip| {
            let iid = plain(&ip.id);
            let mut actions = vec![];
            if ip.issourcenat != Some(true) {
                actions.push(
                    Action::new("release", "Release", url.to_string())
                        .field("action", "release")
                        .field("ipid", iid.clone())
                        .danger("Yes"),
                );
            }
            Row {
                id: iid.clone(),
                cells: vec![
                    Cell::link(text(&ip.ipaddress), super::public_ips::detail_path(&iid)),
                    Cell::text(super::public_ips::role_of(ip)),
                    Cell::state(plain(&ip.state)),
                ],
                actions,
            }
        })
        .collect();
    Section {
        title: "Public IP addresses".into(),
        table: Table::new(
            "addresses",
            &["Address", "Use", "State"],
            rows,
            "No public address yet: the first one is the network's source NAT address.",
        ),
        links: vec![],
        note: Some(
            "The first address a network gets is its source NAT address (its instances reach out through it). Open an address for its port forwarding and firewall rules, or to point it at one instance (static NAT)."
                .into(),
        ),
        forms: vec![Action::new("acquire", "Acquire public IP", url.to_string())
            .field("action", "acquire")],
    }
}

/// The egress firewall: what the default policy is and the rules that make exceptions.
fn egress_section(n: &NetworkResponse, rules: &[FirewallResponse], url: &str) -> Section {
    let rows = rules
        .iter()
        .map(|r| {
            let [proto, ports] = rule_cells(r);
            Row {
                id: plain(&r.id),
                cells: vec![
                    proto,
                    ports,
                    Cell::mono(cidrs(&r.cidrlist, "the network")),
                    Cell::mono(cidrs(&r.destcidrlist, "anywhere")),
                    Cell::state(plain(&r.state)),
                ],
                actions: vec![super::public_ips::remove_rule("egress-remove", url, &r.id)],
            }
        })
        .collect();
    let allow = n.egressdefaultpolicy != Some(false);
    let add = match_inputs(
        Action::new("egress-add", "Add rule", url.to_string()).field("action", "egress-add"),
        &["tcp", "udp", "icmp", "all"],
    )
    .optional_input("cidrlist", "Source CIDR", "text", "Source CIDR")
    .optional_input(
        "destcidrlist",
        "Destination CIDR",
        "text",
        "Destination CIDR",
    );
    Section {
        title: "Egress rules".into(),
        table: Table::new(
            "egress",
            &["Protocol", "Ports / ICMP", "Source", "Destination", "State"],
            rows,
            if allow {
                "No egress rules: the instances may send anywhere."
            } else {
                "No egress rules: nothing may go out."
            },
        ),
        links: vec![],
        note: Some(if allow {
            "The network's offering lets everything out by default: each rule here is traffic that is denied (source: the network's CIDR unless given; destination: anywhere unless given).".into()
        } else {
            "The network's offering lets nothing out by default: each rule here is traffic that is allowed (source: the network's CIDR unless given; destination: anywhere unless given).".into()
        }),
        forms: vec![add],
    }
}

async fn detail(s: Session, Path(id): Path<String>) -> Response {
    let scope = [vec![("listall", "true".to_string())], s.scope()].concat();
    let n = match s
        .one_of::<NetworkResponse>("listNetworks", &id, &scope)
        .await
    {
        Ok(Some(n)) => n,
        Ok(None) => return s.not_found(ACTIVE, "network"),
        Err(e) => return s.error_page(ACTIVE, &e),
    };
    let id = plain(&n.id);
    let url = format!("{}/action", detail_path(&id));
    let of_network = |k: &'static str| all_rows(&[vec![(k, id.clone())], scope.clone()].concat());
    let vms = s
        .list_of::<VirtualMachineResponse>("listVirtualMachines", &of_network("networkid"))
        .await
        .map(|(_, v)| v)
        .unwrap_or_default();
    let mut sections = vec![instances_section(&n, &id, &vms)];
    if isolated(&n) {
        if s.manages_domains() {
            let routers = s
                .list_of::<DomainRouterResponse>("listRouters", &of_network("networkid"))
                .await
                .map(|(_, r)| r)
                .unwrap_or_default();
            sections.push(router_section(&routers, &url));
        }
        let ips = s
            .list_of::<IpAddressResponse>(
                "listPublicIpAddresses",
                &of_network("associatednetworkid"),
            )
            .await
            .map(|(_, i)| i)
            .unwrap_or_default();
        sections.push(addresses_section(&ips, &url));
        let egress = s
            .list_of::<FirewallResponse>("listEgressFirewallRules", &of_network("networkid"))
            .await
            .map(|(_, r)| r)
            .unwrap_or_default();
        sections.push(egress_section(&n, &egress, &url));
    }
    let mut actions = network_actions(&n, &url, true);
    if isolated(&n) {
        actions.insert(
            0,
            Action::new("update", "Rename", url.clone())
                .field("action", "update")
                .input("name", "Name", "text", text(&n.name), "Name")
                .input(
                    "displaytext",
                    "Description",
                    "text",
                    plain(&n.displaytext),
                    "Description",
                ),
        );
    }
    let mut fields = vec![
        ("ID".into(), Cell::mono(id.clone())),
        ("Description".into(), Cell::text(text(&n.displaytext))),
        ("Type".into(), Cell::text(text(&n.r#type))),
        ("Zone".into(), Cell::text(text(&n.zonename))),
        ("CIDR".into(), Cell::mono(text(&n.cidr))),
        ("Gateway".into(), Cell::mono(text(&n.gateway))),
        ("Netmask".into(), Cell::mono(text(&n.netmask))),
        ("Network domain".into(), Cell::text(text(&n.networkdomain))),
        (
            "Network offering".into(),
            match n.networkofferingid {
                Some(o) => Cell::link(
                    text(&n.networkofferingname),
                    format!("/console/network-offerings/{o}"),
                ),
                None => Cell::text(text(&n.networkofferingname)),
            },
        ),
    ];
    if s.is_admin() {
        fields.push(("Broadcast URI".into(), Cell::mono(text(&n.broadcasturi))));
    }
    if isolated(&n) {
        fields.push((
            "Egress by default".into(),
            Cell::text(if n.egressdefaultpolicy == Some(false) {
                "Denied"
            } else {
                "Allowed"
            }),
        ));
    }
    fields.extend([
        ("Account".into(), Cell::text(text(&n.account))),
        ("Domain".into(), Cell::text(text(&n.domain))),
        ("Created".into(), Cell::when(when(&n.created))),
    ]);
    let mut status = vec![Cell::state(plain(&n.state))];
    if n.restartrequired == Some(true) {
        status.push(Cell::state("Restart required"));
    }
    s.page(&DetailPage {
        banner: None,
        frame: s.frame(ACTIVE),
        title: text(&n.name),
        status,
        back: Link::new("Networks", LIST),
        toolbar: vec![],
        actions,
        fields,
        charts: vec![],
        sections,
        refresh: None,
    })
}

/// createEgressFirewallRule's parameters from the add-rule form.
fn egress_params(id: &str, f: &Fields) -> Vec<(&'static str, String)> {
    let mut p = vec![("networkid", id.to_string())];
    p.extend(match_params(f));
    for k in ["cidrlist", "destcidrlist"] {
        let v = field(f, k).trim();
        if !v.is_empty() {
            p.push((k, v.to_string()));
        }
    }
    p
}

/// What a form on a network's page asks: the command, its parameters, where to go after
/// and what to say there. None: no such action.
fn command_for(id: &str, f: &Fields) -> Option<PageCommand> {
    let one = |k: &'static str, v: &str| vec![(k, v.to_string())];
    let router = || one("id", field(f, "routerid"));
    Some(match field(f, "action") {
        "restart" => (
            "restartNetwork",
            vec![
                ("id", id.to_string()),
                ("cleanup", (field(f, "cleanup") == "true").to_string()),
            ],
            false,
            "The network was restarted: its router has every address, lease and rule again.",
        ),
        "delete" => (
            "deleteNetwork",
            one("id", id),
            true,
            "The network was deleted.",
        ),
        "update" => (
            "updateNetwork",
            vec![
                ("id", id.to_string()),
                ("name", field(f, "name").trim().to_string()),
                ("displaytext", field(f, "displaytext").trim().to_string()),
            ],
            false,
            "The network was updated.",
        ),
        "acquire" => (
            "associateIpAddress",
            one("networkid", id),
            false,
            "A public IP address was acquired for the network.",
        ),
        "release" => (
            "disassociateIpAddress",
            one("id", field(f, "ipid")),
            false,
            "The public IP address was released with its rules.",
        ),
        "egress-add" => (
            "createEgressFirewallRule",
            egress_params(id, f),
            false,
            "The egress rule was added; the router applies it.",
        ),
        "egress-remove" => (
            "deleteEgressFirewallRule",
            one("id", field(f, "ruleid")),
            false,
            "The egress rule was removed.",
        ),
        "router-stop" => ("stopRouter", router(), false, "The router was stopped."),
        "router-start" => ("startRouter", router(), false, "The router was started."),
        "router-reboot" => ("rebootRouter", router(), false, "The router was rebooted."),
        "router-destroy" => (
            "destroyRouter",
            router(),
            false,
            "The router was destroyed; Restart makes it again.",
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
    fn the_egress_form_becomes_the_rule_parameters() {
        let p = egress_params(
            "n",
            &form(&[
                ("protocol", "tcp"),
                ("startport", "80"),
                ("destcidrlist", " 10.0.0.0/8 "),
                ("cidrlist", ""),
            ]),
        );
        let get = |k: &str| p.iter().find(|(x, _)| *x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("networkid"), Some("n"));
        assert_eq!(get("endport"), Some("80"));
        assert_eq!(get("destcidrlist"), Some("10.0.0.0/8"));
        assert_eq!(get("cidrlist"), None, "empty: the network's own");
        let v = NewNetwork::from(&form(&[
            ("name", " web "),
            ("zoneid", "z"),
            ("gateway", ""),
        ]));
        assert_eq!(
            v.params(),
            vec![("name", "web".to_string()), ("zoneid", "z".to_string())]
        );
        assert_eq!(cidrs(&Some("".into()), "anywhere"), "anywhere");
        let (command, params, to_list, _) =
            command_for("n", &form(&[("action", "restart"), ("cleanup", "true")])).unwrap();
        assert_eq!((command, to_list), ("restartNetwork", false));
        assert!(params.contains(&("cleanup", "true".into())));
        assert!(command_for("n", &form(&[("action", "delete")])).unwrap().2);
        assert!(command_for("n", &form(&[("action", "<x>")])).is_none());
        assert_eq!(cidrs(&Some("a,b".into()), "x"), "a, b");
    }
}
