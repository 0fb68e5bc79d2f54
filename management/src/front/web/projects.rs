//! Projects in the web console (issue 22): the list, the New project form, a project's
//! page (its members, pending invitations, resource limits and tags; suspend, activate,
//! delete; add and remove a member), and the project switcher in the header, as
//! CloudStack's UI has it.
//!
//! The switcher keeps the chosen project in a cookie holding only its id. Every request
//! checks it again (`Session::projects`): a value that is not an id, or names a project
//! the caller may not view (never was, or no longer is a member of), is the default view.
//! In a project's view the Instances, Volumes, ISOs and Templates lists pass its
//! `projectid` to their list commands, and new instances, ISOs and templates are created
//! in it: the commands check membership again, so the cookie grants nothing.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::Value;
use stratus_api::types::{ProjectAccountResponse, ProjectInvitationResponse, ProjectResponse};
use stratus_ui::{Action, Cell, DetailPage, Field, FormPage, Link, ListPage, Row, Section, Table};

use super::limits::{self, usage_of};
use super::lists::all_rows;
use super::show::{plain, text, when};
use super::{
    field, local_path, page_params, pager, query_string, redirect_with, Fields, Outcome, Session,
};
use crate::ctx::Ctx;

/// The cookie holding the chosen project's id (nothing else: it is checked every time).
pub(crate) const PROJECT_COOKIE: &str = "stratus_project";
pub(crate) const CLEAR_PROJECT_COOKIE: &str =
    "stratus_project=; Path=/console; Max-Age=0; HttpOnly; SameSite=Lax";
/// How many projects the switcher offers (a chosen one past them is still shown).
pub(crate) const SWITCHER_MAX: i64 = 100;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/project", post(switch))
        .route("/console/projects", get(list))
        .route("/console/projects/new", get(new_form).post(create))
        .route("/console/projects/{id}", get(detail))
        .route("/console/projects/{id}/action", post(action))
}

type Q = Query<HashMap<String, String>>;

/// The names of a project's owners (its Admin members).
fn owners(p: &ProjectResponse) -> String {
    let names: Vec<&str> = p
        .owner
        .iter()
        .filter_map(|o| o.get("account").and_then(Value::as_str))
        .collect();
    if names.is_empty() {
        "—".into()
    } else {
        names.join(", ")
    }
}

/// Where the switcher goes back to: the page it was used on (its `Referer`, when that
/// is a console page of this site), else the dashboard.
fn back_from(headers: &HeaderMap) -> String {
    let referer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let path = referer
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("");
    local_path(path, "/console/dashboard")
}

/// The switcher: `projectid` chosen (checked: the caller may view it) or empty for the
/// default view.
async fn switch(
    s: Session,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(f): Form<Fields>,
) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = local_path(field(&f, "back"), &back_from(&headers));
    let wanted = field(&f, "projectid").trim();
    let (cookie, text) = if wanted.is_empty() {
        (
            CLEAR_PROJECT_COOKIE.to_string(),
            "Default view: your own resources.".to_string(),
        )
    } else {
        let found = match wanted.parse::<uuid::Uuid>() {
            Ok(id) => s
                .one_of::<ProjectResponse>(
                    "listProjects",
                    &id.to_string(),
                    &[("listall", "true".into())],
                )
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        let Some(p) = found else {
            return redirect_with(
                &back,
                false,
                "There is no such project, or you are not a member of it.",
            );
        };
        (
            crate::front::request::cookie(
                PROJECT_COOKIE,
                &plain(&p.id),
                "/console",
                crate::front::request::is_tls(&ext),
                None,
            ),
            format!(
                "Project {}: the lists show its resources, and what you create is the project's.",
                text(&p.name)
            ),
        )
    };
    let mut r = redirect_with(&back, true, &text);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn list(s: Session, Query(q): Q) -> Response {
    let mut params = page_params(&q);
    params.push(("listall", "true".into()));
    let (total, items) = match s.list_of::<ProjectResponse>("listProjects", &params).await {
        Ok(x) => x,
        Err(e) => return s.error_page("projects", &e),
    };
    let current = s.project.as_ref().map(|p| p.0.clone()).unwrap_or_default();
    let rows = items
        .iter()
        .map(|p| {
            let id = plain(&p.id);
            let mut actions = vec![];
            if id != current {
                actions.push(
                    Action::new("switch", "View", "/console/project")
                        .field("projectid", id.clone())
                        .field("back", "/console/instances"),
                );
            }
            Row {
                id: id.clone(),
                cells: vec![
                    Cell::link(text(&p.name), format!("/console/projects/{id}")),
                    Cell::text(text(&p.displaytext)),
                    Cell::state(plain(&p.state)),
                    Cell::text(text(&p.domain)),
                    Cell::text(owners(p)),
                    Cell::num(text(&p.vmtotal)),
                ],
                actions,
            }
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name",
            "Description",
            "State",
            "Domain",
            "Owner",
            "Instances",
        ],
        rows,
        "No projects. A project shares instances, volumes, templates and ISOs among its member accounts: create one with + New project.",
    );
    table.numeric = vec![5];
    s.page(&ListPage {
        frame: s.frame("projects"),
        section: "Projects",
        title: "Projects".into(),
        table,
        total,
        toolbar: vec![Link::primary("+ New project", "/console/projects/new")],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: Some(
            "View switches the console to the project (as the Project menu at the top does): the lists show its resources and new ones are created in it."
                .into(),
        ),
        pager: pager("/console/projects", &q, total),
        refresh: None,
    })
}

fn project_fields(get: impl Fn(&str) -> String) -> Vec<Field> {
    vec![
        Field::text("name", "Name", get("name"), true),
        Field::text("displaytext", "Description", get("displaytext"), true),
    ]
}

fn form_page(s: &Session, fields: Vec<Field>, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("projects"),
        section: "Projects",
        title: "New project".into(),
        intro: Some(
            "Your account becomes the project's admin; add other accounts on its page.".into(),
        ),
        action: "/console/projects/new".into(),
        fields,
        error,
        submit: "Create project".into(),
        cancel: "/console/projects".into(),
        refresh: None,
    }
}

async fn new_form(s: Session) -> Response {
    s.page(&form_page(&s, project_fields(|_| String::new()), None))
}

async fn create(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let params = [
        ("name", field(&f, "name").trim().to_string()),
        ("displaytext", field(&f, "displaytext").trim().to_string()),
    ];
    match s
        .run_for_result("createProject", &params, Duration::from_secs(20))
        .await
    {
        Ok((Outcome::Done, result)) => {
            let id = result
                .as_ref()
                .and_then(|r| r.get("project"))
                .and_then(|p| p.get("id"))
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<uuid::Uuid>().ok());
            match id {
                Some(id) => redirect_with(
                    &format!("/console/projects/{id}"),
                    true,
                    "The project was created.",
                ),
                None => redirect_with("/console/projects", true, "The project was created."),
            }
        }
        Ok((Outcome::Running(job), _)) => Redirect::to(&format!(
            "/console/jobs/{job}{}",
            query_string(&[("next", "/console/projects".to_string())])
        ))
        .into_response(),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_page(
                &s,
                project_fields(|k| field(&f, k).to_string()),
                Some(e.text),
            ),
        ),
    }
}

async fn detail(s: Session, Path(id): Path<String>) -> Response {
    let p = match s
        .one_of::<ProjectResponse>("listProjects", &id, &[("listall", "true".into())])
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return s.not_found("projects", "project"),
        Err(e) => return s.error_page("projects", &e),
    };
    let id = plain(&p.id);
    let page = format!("/console/projects/{id}");
    let url = format!("{page}/action");
    let state = plain(&p.state);
    let a = |name: &str, label: &str| Action::new(name, label, url.clone()).field("action", name);
    let mut actions = vec![];
    if s.project.as_ref().map(|c| c.0.as_str()) != Some(id.as_str()) {
        actions.push(
            Action::new("switch", "View this project", "/console/project")
                .field("projectid", id.clone())
                .field("back", "/console/instances"),
        );
    }
    match state.as_str() {
        "Active" => actions.push(a("suspend", "Suspend")),
        "Suspended" => actions.push(a("activate", "Activate")),
        _ => {}
    }
    actions.push(
        a("delete", "Delete project").danger(
            "Yes, delete this project (it must own no instances, volumes, templates or ISOs)",
        ),
    );
    let members = s
        .list_of::<ProjectAccountResponse>(
            "listProjectAccounts",
            &all_rows(&[("projectid", id.clone())]),
        )
        .await
        .map(|(_, m)| m)
        .unwrap_or_default();
    let member_rows = members
        .iter()
        .map(|m| Row {
            id: plain(&m.accountid),
            cells: vec![
                Cell::text(text(&m.account)),
                Cell::state(plain(&m.role)),
                Cell::text(text(&m.domainpath)),
            ],
            actions: vec![a("remove", "Remove")
                .field("account", plain(&m.account))
                .danger("Yes")],
        })
        .collect();
    let roles = vec![
        ("Regular".to_string(), "Regular member".to_string()),
        ("Admin".to_string(), "Project admin".to_string()),
    ];
    let invitations = s
        .list_of::<ProjectInvitationResponse>(
            "listProjectInvitations",
            &all_rows(&[("projectid", id.clone()), ("state", "Pending".into())]),
        )
        .await
        .map(|(_, i)| i)
        .unwrap_or_default();
    let mut sections = vec![Section {
        title: "Members".into(),
        table: Table::new(
            "members",
            &["Account", "Role", "Domain"],
            member_rows,
            "No members.",
        ),
        note: Some(
            "Members use the project's resources; project admins also manage it and its members. Accounts are named as in the project's domain."
                .into(),
        ),
        forms: vec![a("add", "Add account")
            .input("account", "Account name", "text", "", "Account name")
            .select("roletype", "Role", roles)],
        ..Default::default()
    }];
    if !invitations.is_empty() {
        let rows = invitations
            .iter()
            .map(|i| Row {
                id: plain(&i.id),
                cells: vec![
                    Cell::text(if i.account.is_some() {
                        text(&i.account)
                    } else {
                        text(&i.email)
                    }),
                    Cell::state(plain(&i.state)),
                ],
                actions: vec![a("uninvite", "Cancel").field("invitation", plain(&i.id))],
            })
            .collect();
        sections.push(Section {
            title: "Invitations".into(),
            table: Table::new(
                "invitations",
                &["Invited", "State"],
                rows,
                "No invitations.",
            ),
            note: Some("With project.invite.required, added accounts are invited: they join when they accept.".into()),
            ..Default::default()
        });
    }
    // Its limits are set by the admins of its domain (not by its own admins).
    let editable = s.manages_domains();
    sections.push(
        limits::section(
            &s,
            &limits::Owner::Project { id: id.clone() },
            &usage_of!(&p),
            editable.then_some(url.as_str()),
        )
        .await,
    );
    sections.extend(super::tags::section(&s, "Project", &id, &page).await);
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("projects"),
        title: text(&p.name),
        status: vec![Cell::state(state)],
        back: Link::new("Projects", "/console/projects"),
        toolbar: vec![],
        actions,
        fields: vec![
            ("ID".into(), Cell::mono(id.clone())),
            ("Description".into(), Cell::text(text(&p.displaytext))),
            ("Domain".into(), Cell::text(text(&p.domain))),
            ("Owner".into(), Cell::text(owners(&p))),
            (
                "Project account".into(),
                Cell::mono(text(&p.projectaccountname)),
            ),
            (
                "Instances".into(),
                Cell::text(format!(
                    "{} ({} running, {} stopped)",
                    text(&p.vmtotal),
                    text(&p.vmrunning),
                    text(&p.vmstopped)
                )),
            ),
            ("Created".into(), Cell::when(when(&p.created))),
        ],
        charts: vec![],
        sections,
        refresh: None,
    })
}

async fn action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let page = format!("/console/projects/{id}");
    let idp = ("id", id.clone());
    let pid = ("projectid", id.clone());
    match field(&f, "action") {
        "suspend" => {
            s.act(
                "suspendProject",
                &[idp],
                &page,
                "The project is suspended: no new resources can be created in it.",
            )
            .await
        }
        "activate" => {
            s.act("activateProject", &[idp], &page, "The project is active.")
                .await
        }
        "delete" => match s
            .run("deleteProject", &[idp], Duration::from_secs(20))
            .await
        {
            Ok(Outcome::Done) => {
                let mut r = redirect_with("/console/projects", true, "The project was deleted.");
                // Out of its view, if it was the one chosen.
                if s.project.as_ref().is_some_and(|p| p.0 == id) {
                    r.headers_mut().append(
                        header::SET_COOKIE,
                        HeaderValue::from_static(CLEAR_PROJECT_COOKIE),
                    );
                }
                r
            }
            Ok(Outcome::Running(job)) => Redirect::to(&format!(
                "/console/jobs/{job}{}",
                query_string(&[("next", "/console/projects".to_string())])
            ))
            .into_response(),
            Err(e) => redirect_with(&page, false, &e.text),
        },
        "add" => {
            let account = field(&f, "account").trim().to_string();
            let mut params = vec![pid, ("account", account.clone())];
            let role = field(&f, "roletype");
            if !role.is_empty() {
                params.push(("roletype", role.to_string()));
            }
            s.act(
                "addAccountToProject",
                &params,
                &page,
                &format!("Account {account} was added to the project (or invited, when invitations are required)."),
            )
            .await
        }
        "remove" => {
            let account = field(&f, "account").to_string();
            s.act(
                "deleteAccountFromProject",
                &[pid, ("account", account.clone())],
                &page,
                &format!("Account {account} was removed from the project."),
            )
            .await
        }
        "uninvite" => {
            s.act(
                "deleteProjectInvitation",
                &[("id", field(&f, "invitation").to_string())],
                &page,
                "The invitation was cancelled.",
            )
            .await
        }
        _ => limits::act(&s, &limits::Owner::Project { id: id.clone() }, &f, &page).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switcher_goes_back_to_a_console_page_only() {
        let mut h = HeaderMap::new();
        assert_eq!(back_from(&h), "/console/dashboard");
        h.insert(
            header::REFERER,
            HeaderValue::from_static("http://cloud.example:8080/console/volumes?page=2"),
        );
        assert_eq!(back_from(&h), "/console/volumes?page=2");
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://evil.example//evil.example/x"),
        );
        assert_eq!(back_from(&h), "/console/dashboard");
        h.insert(header::REFERER, HeaderValue::from_static("/console/x"));
        assert_eq!(back_from(&h), "/console/dashboard", "not an absolute URL");
    }

    #[test]
    fn owners_are_named() {
        let p = ProjectResponse {
            owner: vec![serde_json::json!({"account": "alice", "accountid": "x"})],
            ..Default::default()
        };
        assert_eq!(owners(&p), "alice");
        assert_eq!(owners(&ProjectResponse::default()), "—");
    }
}
