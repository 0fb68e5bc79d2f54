//! Physical networks in the web console (issue 15), for admins: the zone page lists its
//! physical networks (`zone_section`); a physical network's page shows its isolation,
//! guest VNI/VLAN range and state, with a form to change the range and the state
//! (updatePhysicalNetwork), its traffic types with their KVM labels (each label editable:
//! updateTrafficType) and its network service providers with their state
//! (updateNetworkServiceProvider).
//!
//! Everything runs as the signed-in admin through the command layer: the checks and the
//! refusals (a range that would drop ids in use, a label that is no interface name) are
//! the API's, and come back as the page's flash.

use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::types::{PhysicalNetworkResponse, ProviderResponse, TrafficTypeResponse};
use stratus_ui::{Action, Cell, DetailPage, Link, Row, Section, Table};

use super::show::{plain, text};
use super::{field, Fields, Session};
use crate::ctx::Ctx;

const BASE: &str = "/console/physical-networks";

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/physical-networks/{id}", get(detail))
        .route("/console/physical-networks/{id}/action", post(action))
}

fn detail_path(id: &str) -> String {
    format!("{BASE}/{id}")
}

fn options(v: &[&str]) -> Vec<(String, String)> {
    v.iter().map(|x| (x.to_string(), x.to_string())).collect()
}

/// The two states, the current one first (a choice's first option is the one chosen).
fn states_from(current: &str, all: &[&str]) -> Vec<(String, String)> {
    let mut v: Vec<&str> = all.iter().copied().filter(|s| *s == current).collect();
    v.extend(all.iter().copied().filter(|s| *s != current));
    options(&v)
}

/// The zone page's "Physical networks" section: name (a link), isolation, guest range,
/// state.
pub(super) async fn zone_section(s: &Session, zone: &str) -> Section {
    let items = s
        .list_of::<PhysicalNetworkResponse>("listPhysicalNetworks", &[("zoneid", zone.to_string())])
        .await
        .map(|x| x.1)
        .unwrap_or_default();
    let rows = items
        .iter()
        .map(|p| Row {
            id: plain(&p.id),
            cells: vec![
                Cell::link(text(&p.name), detail_path(&plain(&p.id))),
                Cell::text(text(&p.isolationmethods)),
                Cell::mono(text(&p.vlan)),
                Cell::state(plain(&p.state)),
            ],
            actions: vec![],
        })
        .collect();
    Section {
        title: "Physical networks".into(),
        table: Table::new(
            "physical-networks",
            &["Name", "Isolation", "Guest VNI/VLAN range", "State"],
            rows,
            "No physical networks.",
        ),
        links: vec![],
        note: None,
        forms: vec![],
    }
}

async fn detail(s: Session, Path(id): Path<String>) -> Response {
    if !s.is_admin() {
        return s.not_found("zones", "page");
    }
    let p = match s
        .one_of::<PhysicalNetworkResponse>("listPhysicalNetworks", &id, &[])
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return s.not_found("zones", "physical network"),
        Err(e) => return s.error_page("zones", &e),
    };
    let id = plain(&p.id);
    let url = format!("{}/action", detail_path(&id));
    let traffic = s
        .list_of::<TrafficTypeResponse>("listTrafficTypes", &[("physicalnetworkid", id.clone())])
        .await
        .map(|x| x.1)
        .unwrap_or_default();
    let providers = s
        .list_of::<ProviderResponse>(
            "listNetworkServiceProviders",
            &[("physicalnetworkid", id.clone())],
        )
        .await
        .map(|x| x.1)
        .unwrap_or_default();
    let traffic_rows = traffic
        .iter()
        .map(|t| Row {
            id: plain(&t.id),
            cells: vec![
                Cell::text(text(&t.traffictype)),
                Cell::mono(text(&t.kvmnetworklabel)),
            ],
            actions: vec![Action::new("label", "Change label", url.clone())
                .field("action", "label")
                .field("trafficid", plain(&t.id))
                .input(
                    "kvmnetworklabel",
                    "KVM label",
                    "text",
                    t.kvmnetworklabel.clone().unwrap_or_default(),
                    "cloudbr0",
                )],
        })
        .collect();
    let provider_rows = providers
        .iter()
        .map(|n| {
            let state = plain(&n.state);
            let (name, label, to) = if state == "Enabled" {
                ("disable-provider", "Disable", "Disabled")
            } else {
                ("enable-provider", "Enable", "Enabled")
            };
            Row {
                id: plain(&n.id),
                cells: vec![
                    Cell::text(text(&n.name)),
                    Cell::state(state.clone()),
                    Cell::text(if n.servicelist.is_empty() {
                        "—".to_string()
                    } else {
                        n.servicelist.join(", ")
                    }),
                ],
                actions: vec![Action::new(name, label, url.clone())
                    .field("action", "provider")
                    .field("providerid", plain(&n.id))
                    .field("state", to)],
            }
        })
        .collect();
    let state = plain(&p.state);
    let edit = Action::new("update", "Save", url.clone())
        .field("action", "update")
        .input(
            "vlan",
            "Guest VNI/VLAN range",
            "text",
            p.vlan.clone().unwrap_or_default(),
            "5000-5999",
        )
        .choice(
            "state",
            "State",
            states_from(&state, &["Enabled", "Disabled"]),
        );
    let zone_link = match p.zoneid {
        Some(z) => Cell::link(text(&p.zonename), format!("/console/zones/{z}")),
        None => Cell::text(text(&p.zonename)),
    };
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("zones"),
        title: text(&p.name),
        status: vec![Cell::state(state.clone())],
        back: match p.zoneid {
            Some(z) => Link::new("Zone", format!("/console/zones/{z}")),
            None => Link::new("Zones", "/console/zones"),
        },
        toolbar: vec![],
        // Ids guest networks hold cannot leave the range (the API refuses); a Disabled
        // physical network gives no new guest network an id.
        actions: vec![edit],
        fields: vec![
            ("ID".into(), Cell::mono(id.clone())),
            ("Zone".into(), zone_link),
            ("Isolation".into(), Cell::text(text(&p.isolationmethods))),
            ("Guest VNI/VLAN range".into(), Cell::mono(text(&p.vlan))),
            ("State".into(), Cell::text(state)),
            (
                "Broadcast domain range".into(),
                Cell::text(text(&p.broadcastdomainrange)),
            ),
        ],
        charts: vec![],
        sections: vec![
            Section {
                title: "Traffic types".into(),
                table: Table::new(
                    "traffic-types",
                    &["Traffic type", "KVM label"],
                    traffic_rows,
                    "No traffic types.",
                ),
                links: vec![],
                note: Some(
                    "A label names the Linux bridge (or interface) that carries the traffic on every KVM host of the zone."
                        .into(),
                ),
                forms: vec![],
            },
            Section {
                title: "Network service providers".into(),
                table: Table::new(
                    "providers",
                    &["Provider", "State", "Services"],
                    provider_rows,
                    "No service providers.",
                ),
                links: vec![],
                note: None,
                forms: vec![],
            },
        ],
        refresh: None,
    })
}

async fn action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    if !s.is_admin() {
        return s.not_found("zones", "page");
    }
    let back = detail_path(&id);
    let get = |k: &str| field(&f, k).trim().to_string();
    match field(&f, "action") {
        "update" => {
            let mut params = vec![("id", id.clone())];
            if !get("vlan").is_empty() {
                params.push(("vlan", get("vlan")));
            }
            if !get("state").is_empty() {
                params.push(("state", get("state")));
            }
            s.act(
                "updatePhysicalNetwork",
                &params,
                &back,
                "The physical network was updated.",
            )
            .await
        }
        "label" => {
            s.act(
                "updateTrafficType",
                &[
                    ("id", get("trafficid")),
                    ("kvmnetworklabel", get("kvmnetworklabel")),
                ],
                &back,
                "The traffic label was changed.",
            )
            .await
        }
        "provider" => {
            s.act(
                "updateNetworkServiceProvider",
                &[("id", get("providerid")), ("state", get("state"))],
                &back,
                "The service provider was updated.",
            )
            .await
        }
        _ => super::redirect_with(&back, false, "Unknown action."),
    }
}
