//! SSH key pairs: the list (admins see every account's), delete, and one form that either
//! creates a key pair (no public key given: the private key is shown once) or registers
//! the public key pasted in.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::envelope::Reply;
use stratus_api::types::SshKeyPairResponse;
use stratus_ui::{Action, Cell, Field, FormPage, Link, ListPage, Row, SshKeyPage, Table};

use super::show::{plain, text};
use super::{field, page_params, pager, redirect_with, Fields, Session};
use crate::ctx::Ctx;

const LIST: &str = "/console/ssh-keys";
const NEW: &str = "/console/ssh-keys/new";

pub fn router() -> Router<Ctx> {
    Router::new()
        .route(LIST, get(list))
        .route(NEW, get(new_form).post(create))
        .route("/console/ssh-keys/delete", post(delete))
}

async fn list(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut params = page_params(&q);
    params.push(("listall", "true".into()));
    let (total, items) = match s
        .list_of::<SshKeyPairResponse>("listSSHKeyPairs", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("ssh-keys", &e),
    };
    let rows = items
        .iter()
        .map(|k| Row {
            id: plain(&k.id),
            cells: vec![
                Cell::text(text(&k.name)),
                Cell::mono(text(&k.fingerprint)),
                Cell::text(text(&k.account)),
            ],
            actions: vec![Action::new("delete", "Delete", "/console/ssh-keys/delete")
                .field("name", plain(&k.name))
                .field("account", plain(&k.account))
                .field("domainid", plain(&k.domainid))
                .danger("Yes, delete this key pair")],
        })
        .collect();
    s.page(&ListPage {
        frame: s.frame("ssh-keys"),
        section: "Administration",
        title: "SSH key pairs".into(),
        table: Table::new(
            "list",
            &["Name", "Fingerprint", "Account"],
            rows,
            "No SSH key pairs.",
        ),
        total,
        toolbar: vec![Link::primary("+ Add SSH key pair", NEW)],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: Some(
            "Instances deployed with a key pair accept its private key for SSH. Deleting a key pair does not change instances already deployed with it."
                .into(),
        ),
        pager: pager(LIST, &q, total),
        refresh: None,
    })
}

fn form_page(s: &Session, name: &str, public_key: &str, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("ssh-keys"),
        section: "SSH key pairs",
        title: "Add SSH key pair".into(),
        intro: Some(
            "Leave the public key empty to have a new key pair generated (RSA 2048); its private key is shown once. Or paste an OpenSSH public key to register it."
                .into(),
        ),
        action: NEW.into(),
        fields: vec![
            Field::text("name", "Name", name, true),
            Field::text("publickey", "Public key", public_key, false)
                .kind("textarea")
                .help("Optional: the contents of a .pub file, such as 'ssh-ed25519 AAAA… user@host' (ssh-rsa, ssh-ed25519, ecdsa-sha2-…)."),
        ],
        error,
        submit: "Add key pair".into(),
        cancel: LIST.into(),
        refresh: None,
    }
}

async fn new_form(s: Session) -> Response {
    s.page(&form_page(&s, "", "", None))
}

async fn create(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let name = field(&f, "name").trim().to_string();
    let public_key = field(&f, "publickey").trim().to_string();
    let result = if public_key.is_empty() {
        s.call("createSSHKeyPair", &[("name", name.clone())]).await
    } else {
        s.call(
            "registerSSHKeyPair",
            &[("name", name.clone()), ("publickey", public_key.clone())],
        )
        .await
    };
    match result {
        Ok(Reply::Object { value, .. }) if public_key.is_empty() => {
            let key: SshKeyPairResponse = match super::typed("createSSHKeyPair", value) {
                Ok(k) => k,
                Err(e) => return redirect_with(LIST, false, &e.text),
            };
            s.page(&SshKeyPage {
                frame: s.frame("ssh-keys"),
                name: text(&key.name),
                fingerprint: text(&key.fingerprint),
                privatekey: key.privatekey.unwrap_or_default(),
                back: LIST.into(),
                refresh: None,
            })
        }
        Ok(_) => redirect_with(
            LIST,
            true,
            &format!("The public key was registered as key pair {name}."),
        ),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_page(&s, &name, &public_key, Some(e.text)),
        ),
    }
}

async fn delete(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let name = field(&f, "name").to_string();
    let mut params = vec![("name", name.clone())];
    for k in ["account", "domainid"] {
        if !field(&f, k).is_empty() {
            params.push((k, field(&f, k).to_string()));
        }
    }
    s.act(
        "deleteSSHKeyPair",
        &params,
        LIST,
        &format!("The key pair {name} was deleted."),
    )
    .await
}
