//! Network offerings in the web console (issue 15): the list (name, guest type,
//! availability, state, services), an offering's page with Enable/Disable and Delete, and
//! the Add network offering form (name, display text, guest type, the services
//! listSupportedNetworkServices names as checkboxes, availability, default egress
//! policy), which creates the offering enabled. Everything is the API's command
//! (listNetworkOfferings, createNetworkOffering, updateNetworkOffering,
//! deleteNetworkOffering) run as the signed-in user: what the API refuses (deleting a
//! default offering, a second Required one) comes back as its text.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::types::{NetworkOfferingResponse, NetworkServiceItem};
use stratus_ui::{Action, Cell, DetailPage, Field, FormPage, Link, ListPage, Row, Section, Table};

use super::show::{plain, text};
use super::{field, page_params, pager, redirect_with, Fields, Session};
use crate::ctx::Ctx;

const LIST: &str = "/console/network-offerings";
const NEW: &str = "/console/network-offerings/new";
const ACTIVE: &str = "network-offerings";
/// The prefix of a service checkbox's name (`service.Dhcp`).
const SERVICE: &str = "service.";

pub fn router() -> Router<Ctx> {
    Router::new()
        .route(LIST, get(list))
        .route(NEW, get(new_form).post(create))
        .route("/console/network-offerings/{id}", get(detail))
        .route("/console/network-offerings/{id}/action", post(action))
}

fn detail_path(id: &str) -> String {
    format!("{LIST}/{id}")
}

fn services_of(o: &NetworkOfferingResponse) -> String {
    let names: Vec<String> = o.service.iter().filter_map(|s| s.name.clone()).collect();
    if names.is_empty() {
        "—".into()
    } else {
        names.join(", ")
    }
}

fn state_actions(o: &NetworkOfferingResponse, url: &str) -> Vec<Action> {
    let mut a = vec![];
    if o.state.as_deref() == Some("Enabled") {
        a.push(Action::new("disable", "Disable", url.to_string()).field("action", "disable"));
    } else {
        a.push(Action::new("enable", "Enable", url.to_string()).field("action", "enable"));
    }
    a.push(
        Action::new("delete", "Delete", url.to_string())
            .field("action", "delete")
            .danger("Yes, delete this offering"),
    );
    a
}

async fn list(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let (total, items) = match s
        .list_of::<NetworkOfferingResponse>("listNetworkOfferings", &page_params(&q))
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page(ACTIVE, &e),
    };
    let admin = s.is_admin();
    let rows = items
        .iter()
        .map(|o| {
            let id = plain(&o.id);
            Row {
                id: id.clone(),
                cells: vec![
                    Cell::link(text(&o.name), detail_path(&id)),
                    Cell::text(text(&o.guestiptype)),
                    Cell::text(text(&o.availability)),
                    Cell::state(plain(&o.state)),
                    Cell::text(services_of(o)),
                ],
                actions: if admin {
                    state_actions(o, &format!("{}/action", detail_path(&id)))
                } else {
                    vec![]
                },
            }
        })
        .collect();
    let table = Table::new(
        "list",
        &["Name", "Guest type", "Availability", "State", "Services"],
        rows,
        "No network offerings.",
    );
    s.page(&ListPage {
        frame: s.frame(ACTIVE),
        section: "Service offerings",
        title: "Network offerings".into(),
        table,
        total,
        toolbar: if admin {
            vec![Link::primary("+ Add network offering", NEW)]
        } else {
            vec![]
        },
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: None,
        pager: pager(LIST, &q, total),
        refresh: None,
    })
}

async fn detail(s: Session, Path(id): Path<String>) -> Response {
    let o = match s
        .one_of::<NetworkOfferingResponse>("listNetworkOfferings", &id, &[])
        .await
    {
        Ok(Some(o)) => o,
        Ok(None) => return s.not_found(ACTIVE, "network offering"),
        Err(e) => return s.error_page(ACTIVE, &e),
    };
    let id = plain(&o.id);
    let url = format!("{}/action", detail_path(&id));
    let yes_no = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" };
    let service_rows = o
        .service
        .iter()
        .map(|sv| Row {
            id: plain(&sv.name),
            cells: vec![
                Cell::text(text(&sv.name)),
                Cell::text(
                    sv.provider
                        .iter()
                        .filter_map(|p| p.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ],
            actions: vec![],
        })
        .collect();
    s.page(&DetailPage {
        banner: None,
        frame: s.frame(ACTIVE),
        title: text(&o.name),
        status: vec![Cell::state(plain(&o.state))],
        back: Link::new("Network offerings", LIST),
        toolbar: vec![],
        actions: if s.is_admin() {
            state_actions(&o, &url)
        } else {
            vec![]
        },
        fields: vec![
            ("ID".into(), Cell::mono(id.clone())),
            ("Display text".into(), Cell::text(text(&o.displaytext))),
            ("Guest type".into(), Cell::text(text(&o.guestiptype))),
            ("Traffic type".into(), Cell::text(text(&o.traffictype))),
            ("Availability".into(), Cell::text(text(&o.availability))),
            ("State".into(), Cell::text(text(&o.state))),
            ("Default".into(), Cell::text(yes_no(o.isdefault))),
            (
                "Egress allowed by default".into(),
                Cell::text(yes_no(o.egressdefaultpolicy)),
            ),
            ("Specify VLAN".into(), Cell::text(yes_no(o.specifyvlan))),
            ("Conserve mode".into(), Cell::text(yes_no(o.conservemode))),
        ],
        charts: vec![],
        sections: vec![Section {
            title: "Services".into(),
            table: Table::new(
                "services",
                &["Service", "Providers"],
                service_rows,
                "No services.",
            ),
            links: vec![],
            note: None,
            forms: vec![],
        }],
        refresh: None,
    })
}

async fn action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = detail_path(&id);
    match field(&f, "action") {
        "enable" | "disable" => {
            let (state, done) = if field(&f, "action") == "enable" {
                ("Enabled", "The network offering was enabled.")
            } else {
                ("Disabled", "The network offering was disabled.")
            };
            s.act(
                "updateNetworkOffering",
                &[("id", id.clone()), ("state", state.into())],
                &back,
                done,
            )
            .await
        }
        "delete" => match s.call("deleteNetworkOffering", &[("id", id.clone())]).await {
            Ok(_) => redirect_with(LIST, true, "The network offering was deleted."),
            Err(e) => redirect_with(&back, false, &e.text),
        },
        _ => redirect_with(&back, false, "Unknown action."),
    }
}

/// The services the API offers, by name (empty when it cannot say).
async fn supported(s: &Session) -> Vec<String> {
    s.list_of::<NetworkServiceItem>("listSupportedNetworkServices", &[])
        .await
        .map(|(_, v)| v.into_iter().filter_map(|x| x.name).collect())
        .unwrap_or_default()
}

fn form_fields(f: Option<&Fields>, services: &[String]) -> Vec<Field> {
    let value = |name: &str, default: &str| match f {
        Some(f) => field(f, name).to_string(),
        None => default.to_string(),
    };
    let checked = |name: &str, default: bool| match f {
        Some(f) => field(f, name) == "true",
        None => default,
    };
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    let mut fields = vec![
        Field::text("name", "Name", value("name", ""), true),
        Field::text(
            "displaytext",
            "Display text",
            value("displaytext", ""),
            true,
        ),
        Field::select(
            "guestiptype",
            "Guest type",
            value("guestiptype", "Isolated"),
            pairs(&[
                (
                    "Isolated",
                    "Isolated (a network of its own per account, behind a router)",
                ),
                ("Shared", "Shared (one network for many accounts)"),
            ]),
        ),
        Field::select(
            "availability",
            "Availability",
            value("availability", "Optional"),
            pairs(&[
                ("Optional", "Optional"),
                (
                    "Required",
                    "Required (the default for new isolated networks)",
                ),
            ]),
        ),
        Field::checkbox(
            "egressdefaultpolicy",
            "Egress allowed by default (else denied until an egress rule allows it)",
            checked("egressdefaultpolicy", true),
        ),
    ];
    for name in services {
        let key = format!("{SERVICE}{name}");
        fields.push(Field::checkbox(
            &key,
            &format!("Service: {name}"),
            checked(&key, false),
        ));
    }
    fields
}

fn form_page(s: &Session, fields: Vec<Field>, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame(ACTIVE),
        section: "Network offerings",
        title: "Add network offering".into(),
        intro: Some(
            "A network offering says which services a guest network of it gets. The new offering is enabled at once."
                .into(),
        ),
        action: NEW.into(),
        fields,
        error,
        submit: "Add network offering".into(),
        cancel: LIST.into(),
        refresh: None,
    }
}

async fn new_form(s: Session) -> Response {
    if !s.is_admin() {
        return s.not_found(ACTIVE, "page");
    }
    let services = supported(&s).await;
    s.page(&form_page(&s, form_fields(None, &services), None))
}

/// createNetworkOffering's parameters from the form (services: the ticked checkboxes).
fn create_params(f: &Fields) -> Vec<(&'static str, String)> {
    let get = |k: &str| field(f, k).trim().to_string();
    let services: Vec<&str> = f
        .iter()
        .filter(|(k, v)| k.starts_with(SERVICE) && v == "true")
        .map(|(k, _)| &k[SERVICE.len()..])
        .filter(|n| !n.is_empty())
        .collect();
    let mut p = vec![
        ("name", get("name")),
        ("displaytext", get("displaytext")),
        ("traffictype", "GUEST".to_string()),
        ("guestiptype", get("guestiptype")),
        (
            "egressdefaultpolicy",
            (field(f, "egressdefaultpolicy") == "true").to_string(),
        ),
        ("enable", "true".to_string()),
    ];
    if !get("availability").is_empty() {
        p.push(("availability", get("availability")));
    }
    if !services.is_empty() {
        p.push(("supportedservices", services.join(",")));
    }
    p
}

async fn create(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    if !s.is_admin() {
        return s.not_found(ACTIVE, "page");
    }
    match s.call("createNetworkOffering", &create_params(&f)).await {
        Ok(_) => redirect_with(
            LIST,
            true,
            &format!(
                "The network offering {} was added.",
                field(&f, "name").trim()
            ),
        ),
        Err(e) => {
            let services = supported(&s).await;
            s.page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&s, form_fields(Some(&f), &services), Some(e.text)),
            )
        }
    }
}
