//! Compute (service) and disk offerings: the lists, a form to create one with
//! CloudStack's fields (createServiceOffering, createDiskOffering), a form to edit what
//! CloudStack lets an offering change (name, display text, tags), and delete. Each form
//! posts the API's command through the command layer; a refusal comes back on the form
//! with the input kept.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::types::{DiskOfferingResponse, ServiceOfferingResponse};
use stratus_ui::{Action, Cell, Field, FormPage, Link, ListPage, Row, Table};

use super::show::{plain, text};
use super::{field, page_params, pager, redirect_with, Fields, Session};
use crate::ctx::Ctx;

const COMPUTE: &str = "/console/compute-offerings";
const DISK: &str = "/console/disk-offerings";

pub fn router() -> Router<Ctx> {
    Router::new()
        .route(COMPUTE, get(compute_list))
        .route(
            "/console/compute-offerings/new",
            get(compute_new).post(compute_create),
        )
        .route(
            "/console/compute-offerings/{id}/edit",
            get(compute_edit).post(compute_update),
        )
        .route(
            "/console/compute-offerings/{id}/delete",
            post(compute_delete),
        )
        .route(DISK, get(disk_list))
        .route(
            "/console/disk-offerings/new",
            get(disk_new).post(disk_create),
        )
        .route(
            "/console/disk-offerings/{id}/edit",
            get(disk_edit).post(disk_update),
        )
        .route("/console/disk-offerings/{id}/delete", post(disk_delete))
}

fn storage_types() -> Vec<(String, String)> {
    vec![
        ("shared".into(), "Shared (primary storage pools)".into()),
        ("local".into(), "Local (the host's own disk)".into()),
    ]
}

fn yes(f: &Fields, name: &str) -> bool {
    field(f, name) == "true"
}

/// A form's value, or the default a new form starts with.
fn value<'a>(f: Option<&'a Fields>, name: &str, default: &'a str) -> String {
    match f {
        Some(f) => field(f, name).to_string(),
        None => default.to_string(),
    }
}

/// Which offerings a form is about: its navigation entry, section and list.
struct Kind {
    active: &'static str,
    section: &'static str,
    list: &'static str,
}

const COMPUTE_KIND: Kind = Kind {
    active: "compute-offerings",
    section: "Compute offerings",
    list: COMPUTE,
};
const DISK_KIND: Kind = Kind {
    active: "disk-offerings",
    section: "Disk offerings",
    list: DISK,
};

fn form(
    s: &Session,
    kind: &Kind,
    (title, action): (String, String),
    fields: Vec<Field>,
    submit: &str,
    error: Option<String>,
) -> FormPage {
    FormPage {
        frame: s.frame(kind.active),
        section: kind.section,
        title,
        intro: None,
        action,
        fields,
        error,
        submit: submit.into(),
        cancel: kind.list.into(),
        refresh: None,
    }
}

/// Sends a form's non-empty fields as the command's parameters (checkboxes as true/false).
fn params_of<'a>(f: &Fields, texts: &[&'a str], checks: &[&'a str]) -> Vec<(&'a str, String)> {
    let mut p: Vec<(&str, String)> = texts
        .iter()
        .filter(|k| !field(f, k).trim().is_empty())
        .map(|k| (*k, field(f, k).trim().to_string()))
        .collect();
    for k in checks {
        p.push((k, yes(f, k).to_string()));
    }
    p
}

/// An offering's name: for admins, the link to its edit form.
fn name_cell(admin: bool, name: String, edit: String) -> Cell {
    if admin {
        Cell::link(name, edit)
    } else {
        Cell::text(name)
    }
}

// ---- compute offerings

async fn compute_list(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let (total, items) = match s
        .list_of::<ServiceOfferingResponse>("listServiceOfferings", &page_params(&q))
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("compute-offerings", &e),
    };
    let admin = s.is_admin();
    let rows = items
        .iter()
        .map(|o| {
            let id = plain(&o.id);
            Row {
                id: id.clone(),
                cells: vec![
                    name_cell(admin, text(&o.name), format!("{COMPUTE}/{id}/edit")),
                    Cell::text(text(&o.displaytext)),
                    Cell::num(text(&o.cpunumber)),
                    Cell::num(format!("{} MHz", text(&o.cpuspeed))),
                    Cell::num(format!("{} MB", text(&o.memory))),
                    Cell::text(text(&o.storagetype)),
                    Cell::text(plain(&o.hosttags)),
                    Cell::text(plain(&o.storagetags)),
                    Cell::text(if o.offerha == Some(true) { "yes" } else { "no" }),
                ],
                actions: if admin {
                    vec![
                        Action::new("delete", "Delete", format!("{COMPUTE}/{id}/delete"))
                            .danger("Yes, delete this offering"),
                    ]
                } else {
                    vec![]
                },
            }
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name",
            "Description",
            "CPUs",
            "CPU speed",
            "Memory",
            "Storage type",
            "Host tags",
            "Storage tags",
            "HA",
        ],
        rows,
        "No compute offerings.",
    );
    table.numeric = vec![2, 3, 4];
    s.page(&ListPage {
        frame: s.frame("compute-offerings"),
        section: "Service offerings",
        title: "Compute offerings".into(),
        table,
        total,
        toolbar: if admin {
            vec![Link::primary(
                "+ Add compute offering",
                "/console/compute-offerings/new",
            )]
        } else {
            vec![]
        },
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: None,
        pager: pager(COMPUTE, &q, total),
        refresh: None,
    })
}

fn compute_fields(f: Option<&Fields>) -> Vec<Field> {
    let check =
        |name: &str, label: &str| Field::checkbox(name, label, f.is_some_and(|f| yes(f, name)));
    vec![
        Field::text("name", "Name", value(f, "name", ""), true),
        Field::text(
            "displaytext",
            "Description",
            value(f, "displaytext", ""),
            false,
        )
        .help("Shown to users choosing an offering; the name when left empty."),
        Field::text(
            "cpunumber",
            "Number of CPU cores",
            value(f, "cpunumber", "1"),
            true,
        )
        .kind("number"),
        Field::text(
            "cpuspeed",
            "CPU speed (MHz)",
            value(f, "cpuspeed", "1000"),
            true,
        )
        .kind("number"),
        Field::text("memory", "Memory (MB)", value(f, "memory", "1024"), true).kind("number"),
        Field::select(
            "storagetype",
            "Storage type",
            value(f, "storagetype", "shared"),
            storage_types(),
        ),
        Field::text("hosttags", "Host tags", value(f, "hosttags", ""), false)
            .help("Only hosts with these tags run instances of this offering (comma-separated)."),
        Field::text("tags", "Storage tags", value(f, "tags", ""), false).help(
            "Only primary storage with these tags holds its instances' root disks (comma-separated).",
        ),
        check("offerha", "Offer HA (restart instances whose host fails)"),
        check("limitcpuuse", "Limit CPU use to the offered speed"),
        check("isvolatile", "Volatile (a reboot gives a fresh root disk)"),
    ]
}

async fn compute_new(s: Session) -> Response {
    s.page(&form(
        &s,
        &COMPUTE_KIND,
        (
            "Add compute offering".into(),
            "/console/compute-offerings/new".into(),
        ),
        compute_fields(None),
        "Add offering",
        None,
    ))
}

async fn compute_create(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let params = params_of(
        &f,
        &[
            "name",
            "displaytext",
            "cpunumber",
            "cpuspeed",
            "memory",
            "storagetype",
            "hosttags",
            "tags",
        ],
        &["offerha", "limitcpuuse", "isvolatile"],
    );
    match s.call("createServiceOffering", &params).await {
        Ok(_) => redirect_with(
            COMPUTE,
            true,
            &format!(
                "The compute offering {} was added.",
                field(&f, "name").trim()
            ),
        ),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form(
                &s,
                &COMPUTE_KIND,
                (
                    "Add compute offering".into(),
                    "/console/compute-offerings/new".into(),
                ),
                compute_fields(Some(&f)),
                "Add offering",
                Some(e.text),
            ),
        ),
    }
}

fn edit_fields(f: &Fields, tags: &str, tags_label: &str) -> Vec<Field> {
    vec![
        Field::text("name", "Name", field(f, "name"), true),
        Field::text("displaytext", "Description", field(f, "displaytext"), true),
        Field::text(tags, tags_label, field(f, tags), false)
            .help("Comma-separated; empty removes them."),
    ]
}

/// A compute offering's edit form: as a disk offering's, with both kinds of tags.
fn compute_edit_fields(f: &Fields) -> Vec<Field> {
    let mut fields = edit_fields(f, "hosttags", "Host tags");
    fields.push(
        Field::text(
            "storagetags",
            "Storage tags",
            field(f, "storagetags"),
            false,
        )
        .help("Comma-separated; empty removes them."),
    );
    fields
}

async fn compute_edit(s: Session, Path(id): Path<String>) -> Response {
    let o = match s
        .one_of::<ServiceOfferingResponse>("listServiceOfferings", &id, &[])
        .await
    {
        Ok(Some(o)) => o,
        Ok(None) => return s.not_found("compute-offerings", "compute offering"),
        Err(e) => return s.error_page("compute-offerings", &e),
    };
    let f: Fields = vec![
        ("name".into(), plain(&o.name)),
        ("displaytext".into(), plain(&o.displaytext)),
        ("hosttags".into(), plain(&o.hosttags)),
        ("storagetags".into(), plain(&o.storagetags)),
    ];
    s.page(&form(
        &s,
        &COMPUTE_KIND,
        (
            format!("Edit compute offering {}", plain(&o.name)),
            format!("{COMPUTE}/{id}/edit"),
        ),
        compute_edit_fields(&f),
        "Save",
        None,
    ))
}

async fn compute_update(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let params = vec![
        ("id", id.clone()),
        ("name", field(&f, "name").trim().to_string()),
        ("displaytext", field(&f, "displaytext").trim().to_string()),
        ("hosttags", field(&f, "hosttags").trim().to_string()),
        ("storagetags", field(&f, "storagetags").trim().to_string()),
    ];
    match s.call("updateServiceOffering", &params).await {
        Ok(_) => redirect_with(
            COMPUTE,
            true,
            &format!(
                "The compute offering {} was saved.",
                field(&f, "name").trim()
            ),
        ),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form(
                &s,
                &COMPUTE_KIND,
                (
                    "Edit compute offering".into(),
                    format!("{COMPUTE}/{id}/edit"),
                ),
                compute_edit_fields(&f),
                "Save",
                Some(e.text),
            ),
        ),
    }
}

async fn compute_delete(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    s.act(
        "deleteServiceOffering",
        &[("id", id)],
        COMPUTE,
        "The compute offering was deleted.",
    )
    .await
}

// ---- disk offerings

async fn disk_list(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let (total, items) = match s
        .list_of::<DiskOfferingResponse>("listDiskOfferings", &page_params(&q))
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("disk-offerings", &e),
    };
    let admin = s.is_admin();
    let rows = items
        .iter()
        .map(|o| {
            let id = plain(&o.id);
            Row {
                id: id.clone(),
                cells: vec![
                    name_cell(admin, text(&o.name), format!("{DISK}/{id}/edit")),
                    Cell::text(text(&o.displaytext)),
                    Cell::num(if o.iscustomized == Some(true) {
                        "custom".to_string()
                    } else {
                        format!("{} GB", text(&o.disksize))
                    }),
                    Cell::text(text(&o.storagetype)),
                    Cell::text(plain(&o.tags)),
                ],
                actions: if admin {
                    vec![
                        Action::new("delete", "Delete", format!("{DISK}/{id}/delete"))
                            .danger("Yes, delete this offering"),
                    ]
                } else {
                    vec![]
                },
            }
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name",
            "Description",
            "Size",
            "Storage type",
            "Storage tags",
        ],
        rows,
        "No disk offerings.",
    );
    table.numeric = vec![2];
    s.page(&ListPage {
        frame: s.frame("disk-offerings"),
        section: "Service offerings",
        title: "Disk offerings".into(),
        table,
        total,
        toolbar: if admin {
            vec![Link::primary(
                "+ Add disk offering",
                "/console/disk-offerings/new",
            )]
        } else {
            vec![]
        },
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: None,
        pager: pager(DISK, &q, total),
        refresh: None,
    })
}

fn disk_fields(f: Option<&Fields>) -> Vec<Field> {
    vec![
        Field::text("name", "Name", value(f, "name", ""), true),
        Field::text(
            "displaytext",
            "Description",
            value(f, "displaytext", ""),
            false,
        )
        .help("Shown to users choosing an offering; the name when left empty."),
        Field::text(
            "disksize",
            "Disk size (GB)",
            value(f, "disksize", "10"),
            false,
        )
        .kind("number")
        .help("Leave empty for a custom size chosen at deploy time (tick Custom size)."),
        Field::checkbox(
            "customized",
            "Custom size (the user gives the size)",
            f.is_some_and(|f| yes(f, "customized")),
        ),
        Field::select(
            "storagetype",
            "Storage type",
            value(f, "storagetype", "shared"),
            storage_types(),
        ),
        Field::text("tags", "Storage tags", value(f, "tags", ""), false)
            .help("Only primary storage with these tags holds its volumes (comma-separated)."),
    ]
}

async fn disk_new(s: Session) -> Response {
    s.page(&form(
        &s,
        &DISK_KIND,
        (
            "Add disk offering".into(),
            "/console/disk-offerings/new".into(),
        ),
        disk_fields(None),
        "Add offering",
        None,
    ))
}

async fn disk_create(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let mut params = params_of(
        &f,
        &["name", "displaytext", "storagetype", "tags"],
        &["customized"],
    );
    if !yes(&f, "customized") && !field(&f, "disksize").trim().is_empty() {
        params.push(("disksize", field(&f, "disksize").trim().to_string()));
    }
    match s.call("createDiskOffering", &params).await {
        Ok(_) => redirect_with(
            DISK,
            true,
            &format!("The disk offering {} was added.", field(&f, "name").trim()),
        ),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form(
                &s,
                &DISK_KIND,
                (
                    "Add disk offering".into(),
                    "/console/disk-offerings/new".into(),
                ),
                disk_fields(Some(&f)),
                "Add offering",
                Some(e.text),
            ),
        ),
    }
}

async fn disk_edit(s: Session, Path(id): Path<String>) -> Response {
    let o = match s
        .one_of::<DiskOfferingResponse>("listDiskOfferings", &id, &[])
        .await
    {
        Ok(Some(o)) => o,
        Ok(None) => return s.not_found("disk-offerings", "disk offering"),
        Err(e) => return s.error_page("disk-offerings", &e),
    };
    let f: Fields = vec![
        ("name".into(), plain(&o.name)),
        ("displaytext".into(), plain(&o.displaytext)),
        ("tags".into(), plain(&o.tags)),
    ];
    s.page(&form(
        &s,
        &DISK_KIND,
        (
            format!("Edit disk offering {}", plain(&o.name)),
            format!("{DISK}/{id}/edit"),
        ),
        edit_fields(&f, "tags", "Storage tags"),
        "Save",
        None,
    ))
}

async fn disk_update(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let params = vec![
        ("id", id.clone()),
        ("name", field(&f, "name").trim().to_string()),
        ("displaytext", field(&f, "displaytext").trim().to_string()),
        ("tags", field(&f, "tags").trim().to_string()),
    ];
    match s.call("updateDiskOffering", &params).await {
        Ok(_) => redirect_with(
            DISK,
            true,
            &format!("The disk offering {} was saved.", field(&f, "name").trim()),
        ),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form(
                &s,
                &DISK_KIND,
                ("Edit disk offering".into(), format!("{DISK}/{id}/edit")),
                edit_fields(&f, "tags", "Storage tags"),
                "Save",
                Some(e.text),
            ),
        ),
    }
}

async fn disk_delete(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    s.act(
        "deleteDiskOffering",
        &[("id", id)],
        DISK,
        "The disk offering was deleted.",
    )
    .await
}
