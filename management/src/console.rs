//! The web console's HTTP handlers. Each page asks the command layer (the same
//! `commands::dispatch` the API uses) and renders the answer with a `stratus_ui` view, so
//! the console can do nothing the API cannot and holds no SQL.
//!
//! Sessions are the API's: logging in here creates the same session `login` does. GET pages
//! authenticate by the session cookie and only read; every POST must carry the session's
//! `sessionkey` (put in each form) as its CSRF token.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use stratus_api::envelope::Reply;
use stratus_api::Params;
use stratus_ui::{rows, Frame, ListPage, LoginPage};

use crate::auth::{self, Caller};
use crate::commands;
use crate::ctx::Ctx;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/zones") }))
        .route("/console", get(|| async { Redirect::to("/console/zones") }))
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/zones") }),
        )
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/{page}", get(list_page))
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    crate::http::cookie(headers, "JSESSIONID").map(str::to_string)
}

fn html(status: StatusCode, t: impl Template) -> Response {
    match t.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

async fn login_page() -> Response {
    html(
        StatusCode::OK,
        LoginPage {
            username: String::new(),
            domain: String::new(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    domain: String,
}

async fn login(State(ctx): State<Ctx>, Form(f): Form<LoginForm>) -> Response {
    let domain = (!f.domain.trim().is_empty()).then_some(f.domain.trim());
    match auth::login(
        &ctx,
        f.username.trim(),
        &f.password,
        domain,
        "the web console",
    )
    .await
    {
        Ok(s) => {
            let cookie = format!("JSESSIONID={}; Path=/; HttpOnly; SameSite=Lax", s.id);
            (
                [(header::SET_COOKIE, cookie)],
                Redirect::to("/console/zones"),
            )
                .into_response()
        }
        Err(e) => html(
            StatusCode::UNAUTHORIZED,
            LoginPage {
                username: f.username,
                domain: f.domain,
                error: Some(e.text),
            },
        ),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    sessionkey: String,
}

async fn logout(State(ctx): State<Ctx>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    let Some(sid) = session_cookie(&headers) else {
        return Redirect::to("/console/login").into_response();
    };
    match auth::authenticate_session(&ctx, &sid, &f.sessionkey).await {
        Ok(caller) => {
            if let Err(e) = auth::logout(&ctx, &caller).await {
                tracing::error!(error = %e, "logout failed");
            }
            let clear = "JSESSIONID=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax";
            ([(header::SET_COOKIE, clear)], Redirect::to("/console/login")).into_response()
        }
        Err(_) => (StatusCode::FORBIDDEN, "This form has expired or did not come from this console; reload the page and try again.").into_response(),
    }
}

/// What each list page shows: the command behind it and the fields of its objects.
struct ListSpec {
    title: &'static str,
    command: &'static str,
    headings: &'static [&'static str],
    fields: &'static [&'static str],
    empty_text: &'static str,
}

const LISTS: &[(&str, ListSpec)] = &[
    (
        "zones",
        ListSpec {
            title: "Zones",
            command: "listZones",
            headings: &[
                "Name",
                "Network type",
                "Allocation",
                "DNS",
                "Internal DNS",
                "Guest CIDR",
            ],
            fields: &[
                "name",
                "networktype",
                "allocationstate",
                "dns1",
                "internaldns1",
                "guestcidraddress",
            ],
            empty_text: "No zones yet. Create one with createZone.",
        },
    ),
    (
        "pods",
        ListSpec {
            title: "Pods",
            command: "listPods",
            headings: &[
                "Name",
                "Zone",
                "Gateway",
                "Netmask",
                "Start IP",
                "End IP",
                "Allocation",
            ],
            fields: &[
                "name",
                "zonename",
                "gateway",
                "netmask",
                "startip",
                "endip",
                "allocationstate",
            ],
            empty_text: "No pods yet.",
        },
    ),
    (
        "clusters",
        ListSpec {
            title: "Clusters",
            command: "listClusters",
            headings: &["Name", "Zone", "Pod", "Hypervisor", "Allocation", "Managed"],
            fields: &[
                "name",
                "zonename",
                "podname",
                "hypervisortype",
                "allocationstate",
                "managedstate",
            ],
            empty_text: "No clusters yet.",
        },
    ),
    (
        "hosts",
        ListSpec {
            title: "Hosts",
            command: "listHosts",
            headings: &[
                "Name",
                "Zone",
                "Address",
                "State",
                "Resource state",
                "CPUs",
                "CPU used",
                "Memory (bytes)",
                "QEMU",
            ],
            fields: &[
                "name",
                "zonename",
                "ipaddress",
                "state",
                "resourcestate",
                "cpunumber",
                "cpuused",
                "memorytotal",
                "hypervisorversion",
            ],
            empty_text: "No hosts yet. Add one with addHost.",
        },
    ),
    (
        "primary-storage",
        ListSpec {
            title: "Primary storage",
            command: "listStoragePools",
            headings: &[
                "Name", "Zone", "Scope", "Server", "Path", "State", "Total", "Used",
            ],
            fields: &[
                "name",
                "zonename",
                "scope",
                "ipaddress",
                "path",
                "state",
                "disksizetotal",
                "disksizeused",
            ],
            empty_text: "No primary storage yet. Add an NFS export with createStoragePool.",
        },
    ),
    (
        "secondary-storage",
        ListSpec {
            title: "Secondary storage",
            command: "listImageStores",
            headings: &["Name", "Zone", "URL", "Total", "Used"],
            fields: &["name", "zonename", "url", "disksizetotal", "disksizeused"],
            empty_text: "No secondary storage yet. Add an NFS export with addImageStore.",
        },
    ),
    (
        "isos",
        ListSpec {
            title: "ISOs",
            command: "listIsos",
            headings: &[
                "Name", "Zone", "Status", "Ready", "Size", "OS type", "Checksum",
            ],
            fields: &[
                "name",
                "zonename",
                "status",
                "isready",
                "size",
                "ostypename",
                "checksum",
            ],
            empty_text: "No ISOs yet. Register one with registerIso.",
        },
    ),
    (
        "events",
        ListSpec {
            title: "Events",
            command: "listEvents",
            headings: &["When", "Type", "Level", "User", "Description"],
            fields: &["created", "type", "level", "username", "description"],
            empty_text: "No events yet.",
        },
    ),
];

async fn list_page(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(page): Path<String>,
) -> Response {
    let Some((active, spec)) = LISTS.iter().find(|(p, _)| *p == page) else {
        return (StatusCode::NOT_FOUND, "No such console page.").into_response();
    };
    let Some(sid) = session_cookie(&headers) else {
        return Redirect::to("/console/login").into_response();
    };
    let (caller, sessionkey): (Caller, String) =
        match auth::authenticate_session_cookie(&ctx, &sid).await {
            Ok(c) => c,
            Err(_) => return Redirect::to("/console/login").into_response(),
        };
    let frame = Frame {
        username: caller.user.username.clone(),
        account: caller.user.account_name.clone(),
        sessionkey,
    };
    let cmd = match commands::resolve(spec.command, Some(&caller)) {
        Ok(c) => c,
        Err(e) => return (StatusCode::FORBIDDEN, e.text).into_response(),
    };
    match commands::dispatch(&ctx, &caller, cmd, &Params::new(spec.command)).await {
        Ok(Reply::List { count, items, .. }) => html(
            StatusCode::OK,
            ListPage {
                frame,
                title: spec.title.into(),
                active,
                headings: spec.headings.to_vec(),
                rows: rows(&items, spec.fields),
                total: count,
                empty_text: spec.empty_text,
            },
        ),
        Ok(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unexpected answer from the command layer.",
        )
            .into_response(),
        Err(e) => (
            StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            e.text,
        )
            .into_response(),
    }
}
