//! Templates: the list, the Register template form and each template's page (download
//! status per zone, its permissions, delete), built like the ISO pages
//! (`images.rs`): pages with a download under way refresh themselves every few seconds,
//! so the percentage moves without JavaScript. Everything goes through the template
//! commands; who may use it is listTemplatePermissions and updateTemplatePermissions
//! (public, featured, extractable; shared with accounts or projects; reset).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::envelope::Reply;
use stratus_api::types::{OsTypeResponse, TemplateResponse, ZoneResponse};
use stratus_ui::format::{self, Download};
use stratus_ui::{Action, Cell, DetailPage, Field, FormPage, Link, ListPage, Row, Section, Table};

use super::show::{bytes_of, plain, text, when};
use super::{field, page_params, pager, redirect_with, Fields, Session};
use crate::ctx::Ctx;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/templates", get(templates))
        .route("/console/templates/new", get(register_form).post(register))
        .route("/console/templates/{id}", get(template))
        .route("/console/templates/{id}/action", post(template_action))
}

/// Templates' permissions, as [`super::sharing`] shows and changes them.
const IMAGE: super::sharing::Image = super::sharing::Image {
    noun: "template",
    list: "listTemplatePermissions",
    update: "updateTemplatePermissions",
};

/// Seconds between refreshes while a download runs.
const REFRESH: u32 = 2;

fn download(v: &TemplateResponse) -> Download<'_> {
    let first = v.downloaddetails.first();
    Download {
        ready: v.isready == Some(true),
        status: v.status.as_deref().unwrap_or(""),
        percent: first.and_then(|d| d.downloadPercent.as_deref()),
        state: first.and_then(|d| d.downloadState.as_deref()).unwrap_or(""),
    }
}

fn downloading(v: &TemplateResponse) -> bool {
    format::download_in_progress(&download(v))
}

fn status_cells(v: &TemplateResponse) -> Vec<Cell> {
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
    "name", "zone", "format", "status", "", "ready", "size", "ostype", "owner",
];

/// The list's "state" filter: whether an image is ready (in that zone).
const READINESS: &[&str] = &["Ready", "Not ready"];

fn readiness(v: &TemplateResponse) -> String {
    if v.isready == Some(true) {
        "Ready"
    } else {
        "Not ready"
    }
    .into()
}

fn sort_key(v: &TemplateResponse, key: &str) -> String {
    match key {
        "zone" => plain(&v.zonename),
        "format" => plain(&v.format),
        "status" => plain(&v.status),
        "ready" => readiness(v),
        "size" => super::lists::numeric_key(v.size.map(|b| b as f64)),
        "ostype" => plain(&v.ostypename),
        "owner" => plain(&v.account),
        _ => plain(&v.name),
    }
}

async fn templates(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut params = page_params(&q);
    // Admins see every template; a tenant what it may deploy or owns.
    params.push((
        "templatefilter",
        if s.is_admin() { "all" } else { "executable" }.into(),
    ));
    params.push(("listall", "true".into()));
    params.extend(s.scope());
    let mut arrange = super::lists::Arrange::new("/console/templates", SORTS, &q);
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
    let (total, items) = match s
        .list_of::<TemplateResponse>("listTemplates", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("templates", &e),
    };
    let super::lists::Arranged { items, total } = arrange.apply(total, items, sort_key, readiness);
    let downloading = items.iter().any(downloading);
    let rows = items
        .iter()
        .map(|v| {
            let mut cells = vec![
                Cell::link(
                    text(&v.name),
                    format!("/console/templates/{}", plain(&v.id)),
                ),
                Cell::text(text(&v.zonename)),
                Cell::text(text(&v.format)),
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
            "Name", "Zone", "Format", "Status", "Progress", "Ready", "Size", "OS type", "Owner",
        ],
        rows,
        "No templates yet. Register one with + Register template.",
    );
    table.numeric = vec![6];
    arrange.decorate(&mut table, &q, filters);
    s.page(&ListPage {
        frame: s.frame("templates"),
        section: "Images",
        title: "Templates".into(),
        table,
        total,
        toolbar: vec![Link::primary(
            "+ Register template",
            "/console/templates/new",
        )],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: s.scope_note("templates"),
        pager: pager("/console/templates", &q, total),
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
    let mut zones = vec![(
        "-1".to_string(),
        "All zones with secondary storage".to_string(),
    )];
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
        .find(|(_, d)| d == "Other Linux (64-bit)")
        .map(|(id, _)| id.clone())
        .unwrap_or_default();
    let or = |k: &str, d: String| if get(k).is_empty() { d } else { get(k) };
    let formats = vec![
        ("QCOW2".to_string(), "QCOW2".to_string()),
        ("RAW".to_string(), "RAW".to_string()),
    ];
    let mut fields = vec![
        Field::text("name", "Name", get("name"), true).placeholder("Debian 12"),
        Field::text("displaytext", "Description", get("displaytext"), false)
            .placeholder("Debian 12 generic cloud image"),
        Field::text("url", "URL", get("url"), true)
            .kind("url")
            .placeholder("https://example.org/images/debian-12.qcow2")
            .help("An http:// or https:// address the management server can download from."),
        Field::select("zoneid", "Zone", or("zoneid", "-1".into()), zones),
        Field::select("format", "Format", or("format", "QCOW2".into()), formats),
    ];
    if !os_types.is_empty() {
        fields.push(Field::select(
            "ostypeid",
            "OS type",
            or("ostypeid", os_default),
            os_types,
        ));
    }
    fields.extend([
        Field::checkbox(
            "passwordenabled",
            "Password enabled",
            checked("passwordenabled", false),
        ),
        Field::checkbox(
            "sshkeyenabled",
            "SSH key enabled",
            checked("sshkeyenabled", false),
        ),
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
        frame: s.frame("templates"),
        section: "Templates",
        title: "Register template".into(),
        intro: Some(
            "The disk image (QCOW2 or RAW, for KVM) is downloaded into the secondary storage of each zone it is registered in, and checked: a QCOW2 with a backing file is refused."
                .into(),
        ),
        action: "/console/templates/new".into(),
        fields,
        error,
        submit: "Register template".into(),
        cancel: "/console/templates".into(),
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
        ("format", v("format")),
        ("hypervisor", "KVM".to_string()),
        ("passwordenabled", flag("passwordenabled")),
        ("sshkeyenabled", flag("sshkeyenabled")),
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
    match s.call("registerTemplate", &params).await {
        Ok(r @ Reply::ObjectList { .. }) => {
            let id = match super::created::<TemplateResponse>("registerTemplate", r) {
                Ok(i) => i.map(|i| plain(&i.id)).unwrap_or_default(),
                Err(e) => return redirect_with("/console/templates", false, &e.text),
            };
            redirect_with(
                &format!("/console/templates/{id}"),
                true,
                "The template is registered; its download starts shortly.",
            )
        }
        Ok(_) => redirect_with("/console/templates", true, "The template is registered."),
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

async fn template(s: Session, Path(id): Path<String>) -> Response {
    let copies = match s
        .list_of::<TemplateResponse>(
            "listTemplates",
            &[
                vec![
                    ("id", id.clone()),
                    (
                        "templatefilter",
                        if s.is_admin() { "all" } else { "self" }.into(),
                    ),
                    ("listall", "true".into()),
                ],
                s.scope(),
            ]
            .concat(),
        )
        .await
    {
        Ok((_, items)) if !items.is_empty() => items,
        Ok(_) => return s.not_found("templates", "template"),
        Err(e) => return s.error_page("templates", &e),
    };
    let Some(t) = copies.first() else {
        return s.not_found("templates", "template");
    };
    let yes_no = |b: Option<bool>| Cell::text(if b == Some(true) { "Yes" } else { "No" });
    let fields = vec![
        ("ID".into(), Cell::mono(text(&t.id))),
        ("Description".into(), Cell::text(text(&t.displaytext))),
        ("URL".into(), Cell::mono(text(&t.url))),
        ("Format".into(), Cell::text(text(&t.format))),
        ("OS type".into(), Cell::text(text(&t.ostypename))),
        ("Password enabled".into(), yes_no(t.passwordenabled)),
        ("SSH key enabled".into(), yes_no(t.sshkeyenabled)),
        ("Public".into(), yes_no(t.ispublic)),
        ("Featured".into(), yes_no(t.isfeatured)),
        ("Extractable".into(), yes_no(t.isextractable)),
        ("All zones".into(), yes_no(t.crossZones)),
        ("Checksum".into(), Cell::mono(text(&t.checksum))),
        ("Virtual size".into(), Cell::text(bytes_of(&t.size))),
        ("File size".into(), Cell::text(bytes_of(&t.physicalsize))),
        (
            "Owner".into(),
            Cell::text(format!("{} ({})", text(&t.account), text(&t.domain))),
        ),
        ("Registered".into(), Cell::text(when(&t.created))),
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
    let url = format!("/console/templates/{id}/action");
    let permissions = super::sharing::section(
        &s,
        &IMAGE,
        &super::sharing::Flags {
            account: text(&t.account),
            projectid: plain(&t.projectid),
            domainid: plain(&t.domainid),
            ispublic: t.ispublic,
            isfeatured: t.isfeatured,
            isextractable: t.isextractable,
        },
        &id,
        &url,
    )
    .await;
    let actions = vec![Action::new("delete", "Delete template", url.clone())
        .field("action", "delete")
        .danger(
            "Yes, delete this template from every zone (VMs deployed from it keep their disks)",
        )];
    let downloading = copies.iter().any(downloading);
    let tags = super::tags::section(&s, "Template", &id, &format!("/console/templates/{id}")).await;
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("templates"),
        title: text(&t.name),
        status: vec![],
        back: Link::new("Templates", "/console/templates"),
        toolbar: vec![],
        actions,
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

async fn template_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = format!("/console/templates/{id}");
    if let Some(call) = super::sharing::call(&f, &IMAGE, &id) {
        return super::sharing::send(&s, &IMAGE, call, &back).await;
    }
    match field(&f, "action") {
        "delete" => {
            s.act(
                "deleteTemplate",
                &[("id", id)],
                "/console/templates",
                "The template was deleted.",
            )
            .await
        }
        other => redirect_with(&back, false, &format!("Unknown action '{other}'")),
    }
}
