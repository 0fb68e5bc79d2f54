//! Tags on detail pages (issue 22): a "Tags" section listing a resource's tags
//! (listTags), each with a Remove button (deleteTags), and a form adding one
//! (createTags). One form address serves every page: it carries the resource's type and
//! id as CloudStack names them (`UserVm`, `Volume`, `Template`, `ISO`…) and the page to
//! come back to. The tag commands decide who may tag what; their refusal is shown as
//! they word it.

use axum::response::Response;
use axum::routing::post;
use axum::{Form, Router};
use stratus_api::types::ResourceTagResponse;
use stratus_ui::{Action, Cell, Row, Section, Table};

use super::show::{plain, text};
use super::{field, local_path, redirect_with, Fields, Session};
use crate::ctx::Ctx;

const FORM: &str = "/console/tags";

pub fn router() -> Router<Ctx> {
    Router::new().route(FORM, post(change))
}

/// The Tags section of the page at `back` about resource `id` of type `kind`; None when
/// the tags cannot be listed for it (listTags refuses the type).
pub(crate) async fn section(s: &Session, kind: &str, id: &str, back: &str) -> Option<Section> {
    let tags = s
        .list_of::<ResourceTagResponse>(
            "listTags",
            &[
                ("resourcetype", kind.to_string()),
                ("resourceid", id.to_string()),
                ("listall", "true".into()),
                ("page", "1".into()),
                ("pagesize", "500".into()),
            ],
        )
        .await
        .ok()?
        .1;
    let base = |name: &str, label: &str| {
        Action::new(name, label, FORM)
            .field("action", name)
            .field("resourcetype", kind)
            .field("resourceid", id)
            .field("back", back)
    };
    let rows = tags
        .iter()
        .map(|t| Row {
            id: plain(&t.key),
            cells: vec![
                Cell::mono(text(&t.key)),
                Cell::text(plain(&t.value)),
                Cell::text(text(&t.account)),
            ],
            actions: vec![base("remove", "Remove")
                .field("key", plain(&t.key))
                .field("value", plain(&t.value))],
        })
        .collect();
    Some(Section {
        title: "Tags".into(),
        table: Table::new(
            "tags",
            &["Key", "Value", "Owner"],
            rows,
            "No tags. Add one above: a key and a value.",
        ),
        links: vec![],
        note: None,
        forms: vec![base("add", "Add tag")
            .input("key", "Tag key", "text", "", "Key")
            .input("value", "Tag value", "text", "", "Value")],
    })
}

async fn change(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = local_path(field(&f, "back"), "/console/dashboard");
    let key = field(&f, "key").trim().to_string();
    let value = field(&f, "value").to_string();
    let mut params = vec![
        ("resourcetype", field(&f, "resourcetype").to_string()),
        ("resourceids", field(&f, "resourceid").to_string()),
        ("tags[0].key", key.clone()),
    ];
    match field(&f, "action") {
        "add" => {
            params.push(("tags[0].value", value.clone()));
            s.act(
                "createTags",
                &params,
                &back,
                &format!("Tag {key} = {value} added."),
            )
            .await
        }
        "remove" => {
            // The value too: only this tag goes, not another with the same key.
            if !value.is_empty() {
                params.push(("tags[0].value", value));
            }
            s.act("deleteTags", &params, &back, &format!("Tag {key} removed."))
                .await
        }
        other => redirect_with(&back, false, &format!("Unknown action '{other}'")),
    }
}
