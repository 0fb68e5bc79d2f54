//! ISOs: the list, the Register ISO form (the seed's figure 2-16) and each ISO's download
//! status per zone (figure 2-17). Pages with a download under way refresh themselves
//! every few seconds, so the percentage moves without JavaScript.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::envelope::Reply;
use stratus_api::types::{IsoResponse, OsTypeResponse, ZoneResponse};
use stratus_ui::format::{self, Download};
use stratus_ui::{Action, Cell, DetailPage, Field, FormPage, Link, ListPage, Row, Section, Table};

use super::show::{bytes_of, plain, text, when};
use super::{field, page_params, pager, redirect_with, Fields, Session};
use crate::ctx::Ctx;

/// ISOs' permissions, as [`super::sharing`] shows and changes them.
const ISO: super::sharing::Image = super::sharing::Image {
    noun: "ISO",
    list: "listIsoPermissions",
    update: "updateIsoPermissions",
};

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/isos", get(isos))
        .route("/console/isos/new", get(register_form).post(register))
        .route("/console/isos/{id}", get(iso))
        .route("/console/isos/{id}/action", post(iso_action))
}

/// Seconds between refreshes while a download runs.
const REFRESH: u32 = 2;

/// What a copy of an ISO says of its download.
fn download(v: &IsoResponse) -> Download<'_> {
    let first = v.downloaddetails.first();
    Download {
        ready: v.isready == Some(true),
        status: v.status.as_deref().unwrap_or(""),
        percent: first.and_then(|d| d.downloadPercent.as_deref()),
        state: first.and_then(|d| d.downloadState.as_deref()).unwrap_or(""),
    }
}

fn downloading(v: &IsoResponse) -> bool {
    format::download_in_progress(&download(v))
}

fn status_cells(v: &IsoResponse) -> Vec<Cell> {
    let status = v.status.as_deref().unwrap_or("");
    let progress = match format::download_percent(&download(v)) {
        Some(p) if downloading(v) => Cell::bar(p as f64, format!("{p}%"), false),
        _ => Cell::text(""),
    };
    vec![
        Cell::state(if status.is_empty() { "—" } else { status }),
        progress,
        Cell::state(if v.isready == Some(true) { "Yes" } else { "No" }),
    ]
}

/// The list's sort keys, one per heading ("" : the progress bar does not sort).
const SORTS: &[&str] = &[
    "name", "zone", "status", "", "ready", "size", "ostype", "owner",
];

/// The list's "state" filter: whether an image is ready (in that zone).
const READINESS: &[&str] = &["Ready", "Not ready"];

fn readiness(v: &IsoResponse) -> String {
    if v.isready == Some(true) {
        "Ready"
    } else {
        "Not ready"
    }
    .into()
}

fn sort_key(v: &IsoResponse, key: &str) -> String {
    match key {
        "zone" => plain(&v.zonename),
        "status" => plain(&v.status),
        "ready" => readiness(v),
        "size" => super::lists::numeric_key(v.size.map(|b| b as f64)),
        "ostype" => plain(&v.ostypename),
        "owner" => plain(&v.account),
        _ => plain(&v.name),
    }
}

async fn isos(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut params = page_params(&q);
    params.push(("isofilter", "all".into()));
    params.push(("listall", "true".into()));
    params.extend(s.scope());
    let mut arrange = super::lists::Arrange::new("/console/isos", SORTS, &q);
    let filters = arrange
        .filters(
            &s,
            &q,
            &super::lists::Filters {
                states: READINESS,
                state_param: false,
                zone: true,
                account: s.project.is_none(),
            },
            &mut params,
        )
        .await;
    let (total, items) = match s.list_of::<IsoResponse>("listIsos", &params).await {
        Ok(x) => x,
        Err(e) => return s.error_page("isos", &e),
    };
    let super::lists::Arranged { items, total } = arrange.apply(total, items, sort_key, readiness);
    let downloading = items.iter().any(downloading);
    let rows = items
        .iter()
        .map(|v| {
            let mut cells = vec![
                Cell::link(text(&v.name), format!("/console/isos/{}", plain(&v.id))),
                Cell::text(text(&v.zonename)),
            ];
            cells.extend(status_cells(v));
            cells.push(Cell::num(bytes_of(&v.size)));
            cells.push(Cell::text(text(&v.ostypename)));
            cells.push(Cell::text(text(&v.account)));
            Row {
                id: format!("{}:{}", plain(&v.id), plain(&v.zoneid)),
                cells,
                actions: vec![],
            }
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name", "Zone", "Status", "Progress", "Ready", "Size", "OS type", "Owner",
        ],
        rows,
        "No ISOs yet. Register one with + Register ISO.",
    );
    table.numeric = vec![5];
    arrange.decorate(&mut table, &q, filters);
    s.page(&ListPage {
        frame: s.frame("isos"),
        section: "Images",
        title: "ISOs".into(),
        table,
        total,
        toolbar: vec![Link::primary("+ Register ISO", "/console/isos/new")],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: s.scope_note("ISOs"),
        pager: pager("/console/isos", &q, total),
        refresh: downloading.then_some(REFRESH),
    })
}

async fn register_fields(s: &Session, f: &HashMap<String, String>, first: bool) -> Vec<Field> {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let checked = |k: &str, default: bool| {
        if first {
            default
        } else {
            f.get(k).map(String::as_str) == Some("true")
        }
    };
    let mut zones = vec![("-1".to_string(), "All zones".to_string())];
    if let Ok((_, items)) = s
        .list_of::<ZoneResponse>(
            "listZones",
            &[("pagesize", "500".into()), ("page", "1".into())],
        )
        .await
    {
        zones.extend(items.iter().map(|z| (plain(&z.id), text(&z.name))));
    }
    let mut os_types = vec![];
    if let Ok((_, items)) = s
        .list_of::<OsTypeResponse>(
            "listOsTypes",
            &[("pagesize", "500".into()), ("page", "1".into())],
        )
        .await
    {
        os_types.extend(items.iter().map(|o| (plain(&o.id), text(&o.description))));
    }
    os_types.sort_by(|a, b| a.1.cmp(&b.1));
    let os_default = os_types
        .iter()
        .find(|(_, d)| d == "Other (64-bit)")
        .map(|(id, _)| id.clone())
        .unwrap_or_default();
    let os = if get("ostypeid").is_empty() {
        os_default
    } else {
        get("ostypeid")
    };
    let zone = if get("zoneid").is_empty() {
        "-1".to_string()
    } else {
        get("zoneid")
    };
    let mut fields = vec![
        Field::text("name", "Name", get("name"), true).placeholder("CentOS 6.8"),
        Field::text("displaytext", "Description", get("displaytext"), false)
            .placeholder("64-bit CentOS 6.8 minimal"),
        Field::text("url", "URL", get("url"), true)
            .kind("url")
            .placeholder("http://example.org/isos/centos.iso")
            .help("An http:// or https:// address the management server can download from."),
        Field::select("zoneid", "Zone", zone, zones),
        Field::checkbox("bootable", "Bootable", checked("bootable", true)),
    ];
    if !os_types.is_empty() {
        fields.push(Field::select("ostypeid", "OS type", os, os_types));
    }
    fields.extend([
        Field::checkbox("isextractable", "Extractable", checked("isextractable", false)),
        Field::checkbox("ispublic", "Public", checked("ispublic", false)),
        Field::checkbox("isfeatured", "Featured", checked("isfeatured", false)),
        Field::text("checksum", "Checksum", get("checksum"), false)
            .placeholder("{sha256}…")
            .help("Optional: {md5}, {sha1}, {sha256} or {sha512} followed by the hex digest (plain hex is MD5)."),
    ]);
    if !s.is_admin() {
        fields.retain(|f| f.name != "isfeatured");
    }
    fields
}

fn form_page(s: &Session, fields: Vec<Field>, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("isos"),
        section: "ISOs",
        title: "Register ISO".into(),
        intro: Some(
            "The ISO is downloaded into the secondary storage of each zone it is registered in."
                .into(),
        ),
        action: "/console/isos/new".into(),
        fields,
        error,
        submit: "Register ISO".into(),
        cancel: "/console/isos".into(),
        refresh: None,
    }
}

async fn register_form(s: Session) -> Response {
    let fields = register_fields(&s, &HashMap::new(), true).await;
    s.page(&form_page(&s, fields, None))
}

async fn register(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let v = |k: &str| field(&f, k).trim().to_string();
    let flag = |k: &str| {
        (if field(&f, k) == "true" {
            "true"
        } else {
            "false"
        })
        .to_string()
    };
    let mut params = vec![
        ("name", v("name")),
        ("url", v("url")),
        ("zoneid", v("zoneid")),
        ("bootable", flag("bootable")),
        ("ispublic", flag("ispublic")),
        ("isextractable", flag("isextractable")),
    ];
    if s.is_admin() {
        params.push(("isfeatured", flag("isfeatured")));
    }
    for k in ["displaytext", "ostypeid", "checksum"] {
        if !v(k).is_empty() {
            params.push((k, v(k)));
        }
    }
    // In a project's view it is registered for the project.
    params.extend(s.scope());
    match s.call("registerIso", &params).await {
        Ok(r @ Reply::ObjectList { .. }) => {
            let id = match super::created::<IsoResponse>("registerIso", r) {
                Ok(i) => i.map(|i| plain(&i.id)).unwrap_or_default(),
                Err(e) => return redirect_with("/console/isos", false, &e.text),
            };
            redirect_with(
                &format!("/console/isos/{id}"),
                true,
                "The ISO is registered; its download starts shortly.",
            )
        }
        Ok(_) => redirect_with("/console/isos", true, "The ISO is registered."),
        Err(e) => {
            let kept: HashMap<String, String> = f.iter().cloned().collect();
            let fields = register_fields(&s, &kept, false).await;
            s.page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&s, fields, Some(e.text)),
            )
        }
    }
}

async fn iso(s: Session, Path(id): Path<String>) -> Response {
    let copies = match s
        .list_of::<IsoResponse>(
            "listIsos",
            &[
                vec![
                    ("id", id.clone()),
                    ("isofilter", "all".into()),
                    ("listall", "true".into()),
                ],
                s.scope(),
            ]
            .concat(),
        )
        .await
    {
        Ok((_, items)) if !items.is_empty() => items,
        Ok(_) => return s.not_found("isos", "ISO"),
        Err(e) => return s.error_page("isos", &e),
    };
    let i = &copies[0];
    let yes_no = |b: Option<bool>| Cell::text(if b == Some(true) { "Yes" } else { "No" });
    let fields = vec![
        ("ID".into(), Cell::mono(text(&i.id))),
        ("Description".into(), Cell::text(text(&i.displaytext))),
        ("URL".into(), Cell::mono(text(&i.url))),
        ("OS type".into(), Cell::text(text(&i.ostypename))),
        ("Bootable".into(), yes_no(i.bootable)),
        ("Public".into(), yes_no(i.ispublic)),
        ("Featured".into(), yes_no(i.isfeatured)),
        ("Extractable".into(), yes_no(i.isextractable)),
        ("All zones".into(), yes_no(i.crossZones)),
        ("Checksum".into(), Cell::mono(text(&i.checksum))),
        ("Size".into(), Cell::text(bytes_of(&i.size))),
        (
            "Owner".into(),
            Cell::text(format!("{} ({})", text(&i.account), text(&i.domain))),
        ),
        ("Registered".into(), Cell::text(when(&i.created))),
    ];
    let rows = copies
        .iter()
        .map(|c| {
            let mut cells = vec![Cell::text(text(&c.zonename))];
            cells.extend(status_cells(c));
            Row {
                id: plain(&c.zoneid),
                cells,
                actions: vec![],
            }
        })
        .collect();
    let downloading = copies.iter().any(downloading);
    let permissions = super::sharing::section(
        &s,
        &ISO,
        &super::sharing::Flags {
            account: text(&i.account),
            projectid: plain(&i.projectid),
            domainid: plain(&i.domainid),
            ispublic: i.ispublic,
            isfeatured: i.isfeatured,
            isextractable: i.isextractable,
        },
        &id,
        &format!("/console/isos/{id}/action"),
    )
    .await;
    let tags = super::tags::section(&s, "ISO", &id, &format!("/console/isos/{id}")).await;
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("isos"),
        title: text(&i.name),
        status: vec![],
        back: Link::new("ISOs", "/console/isos"),
        toolbar: vec![],
        actions: vec![
            Action::new("delete", "Delete ISO", format!("/console/isos/{id}/action"))
                .field("action", "delete")
                .danger("Yes, delete this ISO from every zone"),
        ],
        fields,
        charts: vec![],
        sections: vec![
            Section {
                forms: vec![],
                title: "Zones".into(),
                table: Table::new(
                    "zones",
                    &["Zone", "Status", "Progress", "Ready"],
                    rows,
                    "Not in any zone.",
                ),
                links: vec![],
                note: downloading
                    .then(|| "This page refreshes itself while the download runs.".to_string()),
            },
            permissions,
        ]
        .into_iter()
        .chain(tags)
        .collect(),
        refresh: downloading.then_some(REFRESH),
    })
}

async fn iso_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    if let Some(call) = super::sharing::call(&f, &ISO, &id) {
        return super::sharing::send(&s, &ISO, call, &format!("/console/isos/{id}")).await;
    }
    match field(&f, "action") {
        "delete" => {
            s.act(
                "deleteIso",
                &[("id", id)],
                "/console/isos",
                "The ISO was deleted.",
            )
            .await
        }
        other => redirect_with(
            &format!("/console/isos/{id}"),
            false,
            &format!("Unknown action '{other}'"),
        ),
    }
}
