//! Events, alerts, accounts and users, API keys (generated here, the secret shown once)
//! and the global settings (listed, edited, reset).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::envelope::Reply;
use stratus_api::types::{
    AccountResponse, AlertResponse, BackgroundTaskResponse, ConfigurationResponse, EventResponse,
    UserKeysResponse, UserResponse, WorkflowResponse,
};
use stratus_ui::{
    Action, Cell, DetailPage, Field, FormPage, KeysPage, Link, ListPage, Row, Section, SettingRow,
    SettingsPage, Table,
};

use super::limits::WithUsage;
use super::show::{plain, text, when};
use super::{field, local_path, page_params, pager, query_string, redirect_with, Fields, Session};
use crate::ctx::Ctx;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/events", get(events))
        .route("/console/alerts", get(alerts))
        .route("/console/background-tasks", get(background_tasks))
        .route("/console/workflows", get(workflows))
        .route("/console/accounts", get(accounts))
        .route(
            "/console/accounts/new",
            get(account_form).post(create_account),
        )
        .route("/console/accounts/{id}", get(account))
        .route("/console/accounts/{id}/action", post(account_action))
        .route(
            "/console/accounts/{id}/users/new",
            get(user_form).post(create_user),
        )
        .route("/console/users/{id}", get(user))
        .route("/console/users/{id}/action", post(user_action))
        .route("/console/users/{id}/keys", post(generate_keys))
        .route("/console/api-keys", get(my_keys))
        .route("/console/settings", get(settings).post(update_setting))
        .route("/console/settings/reset", post(reset_setting))
}

type Q = Query<HashMap<String, String>>;

async fn events(s: Session, Query(q): Q) -> Response {
    let mut params = page_params(&q);
    params.push(("listall", "true".into()));
    if let Some(l) = q.get("level").filter(|l| !l.is_empty()) {
        params.push(("level", l.clone()));
    }
    let (total, items) = match s.list_of::<EventResponse>("listEvents", &params).await {
        Ok(x) => x,
        Err(e) => return s.error_page("events", &e),
    };
    s.page(&ListPage {
        frame: s.frame("events"),
        section: "Activity",
        title: "Events".into(),
        table: super::events_table("list", items, true),
        total,
        toolbar: vec![
            Link::new("All", "/console/events"),
            Link::new("Warnings", "/console/events?level=WARN"),
            Link::new("Errors", "/console/events?level=ERROR"),
        ],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: None,
        pager: pager("/console/events", &q, total),
        refresh: None,
    })
}

async fn alerts(s: Session, Query(q): Q) -> Response {
    let (total, items) = match s
        .list_of::<AlertResponse>("listAlerts", &page_params(&q))
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("alerts", &e),
    };
    s.page(&ListPage {
        frame: s.frame("alerts"),
        section: "Activity",
        title: "Alerts".into(),
        table: super::alerts_table("list", items),
        total,
        toolbar: vec![],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: None,
        pager: pager("/console/alerts", &q, total),
        refresh: None,
    })
}

/// The workflows (`listWorkflows`): each multi-step operation, the step it is in and
/// since when, so an admin sees where a deploy is or got stuck. Refreshes itself while
/// one runs or unwinds.
async fn workflows(s: Session, Query(q): Q) -> Response {
    if !s.is_admin() {
        return s.not_found("dashboard", "page");
    }
    let mut params = page_params(&q);
    params.retain(|(k, _)| *k != "keyword");
    let state = q.get("state").cloned().unwrap_or_default();
    if !state.is_empty() {
        params.push(("state", state.clone()));
    }
    let (total, items) = match s
        .list_of::<WorkflowResponse>("listWorkflows", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("workflows", &e),
    };
    let busy = items
        .iter()
        .any(|w| matches!(w.state.as_deref(), Some("Running" | "Unwinding")));
    let rows = items
        .iter()
        .map(|w| {
            let rid = plain(&w.resourceid);
            let kind = plain(&w.resourcetype);
            let resource = match kind.as_str() {
                "VirtualMachine" => Cell::link(
                    format!("VirtualMachine {rid}"),
                    format!("/console/instances/{rid}"),
                ),
                "Host" => Cell::link(format!("Host {rid}"), format!("/console/hosts/{rid}")),
                _ => Cell::text(format!("{kind} {rid}")),
            };
            let step = match (&w.step, w.stepindex, w.stepcount) {
                (Some(st), Some(i), Some(n)) => format!("{st} ({i} of {n} done)"),
                (Some(st), _, _) => st.clone(),
                (None, Some(i), Some(n)) => format!("{i} of {n} done"),
                _ => "—".into(),
            };
            let job = match &w.jobid {
                Some(j) => Cell::link(j.to_string(), format!("/console/jobs/{j}")),
                None => Cell::text("—"),
            };
            Row {
                id: plain(&w.id),
                cells: vec![
                    Cell::text(text(&w.kind)),
                    resource,
                    Cell::text(step),
                    Cell::state(plain(&w.state)),
                    Cell::when(when(&w.stepstarted)),
                    Cell::when(when(&w.created)),
                    job,
                    Cell::text(plain(&w.error)),
                ],
                actions: vec![],
            }
        })
        .collect();
    let filter = |label: &str, st: &str| {
        Link::new(
            label,
            format!(
                "/console/workflows{}",
                query_string(&[("state", st.into())])
            ),
        )
    };
    s.page(&ListPage {
        frame: s.frame("workflows"),
        section: "Administration",
        title: "Workflows".into(),
        table: Table::new(
            "list",
            &[
                "Kind",
                "Resource",
                "Step",
                "State",
                "Step since",
                "Started",
                "Job",
                "Error",
            ],
            rows,
            "No workflows.",
        ),
        total,
        toolbar: vec![
            filter("All", ""),
            filter("Running", "Running"),
            filter("Unwinding", "Unwinding"),
            filter("Failed", "Failed"),
            filter("Succeeded", "Succeeded"),
        ],
        search: None,
        note: busy.then(|| "This page refreshes itself while a workflow runs.".into()),
        pager: pager("/console/workflows", &q, total),
        refresh: busy.then_some(3),
    })
}

/// The background tasks of every management server and their last pass. Refreshes
/// itself, since the figures change every few seconds.
async fn background_tasks(s: Session, Query(q): Q) -> Response {
    let mut params = page_params(&q);
    params.retain(|(k, _)| *k != "keyword");
    let (total, items) = match s
        .list_of::<BackgroundTaskResponse>("listBackgroundTasks", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("background-tasks", &e),
    };
    let rows = items
        .iter()
        .map(|t| {
            let outcome = if t.state.as_deref() == Some("Failing") {
                text(&t.lasterror)
            } else {
                text(&t.lastresult)
            };
            Row {
                id: format!("{}:{}", plain(&t.managementserverid), plain(&t.name)),
                cells: vec![
                    Cell::mono(text(&t.name)),
                    Cell::text(text(&t.managementservername)),
                    Cell::state(plain(&t.state)),
                    Cell::num(format!("{} s", text(&t.interval))),
                    Cell::when(when(&t.lastrun)),
                    Cell::num(format!("{} ms", text(&t.lastduration))),
                    Cell::num(format!("{} / {}", text(&t.failures), text(&t.runs))),
                    Cell::text(outcome),
                    Cell::when(when(&t.lasterrortime)),
                ],
                actions: vec![],
            }
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Task",
            "Server",
            "State",
            "Every",
            "Last run",
            "Took",
            "Failed / runs",
            "Last outcome",
            "Last failure",
        ],
        rows,
        "No task has run yet: they start with the management server.",
    );
    table.numeric = vec![3, 5, 6];
    s.page(&ListPage {
        frame: s.frame("background-tasks"),
        section: "Administration",
        title: "Background tasks".into(),
        table,
        total,
        toolbar: vec![],
        search: None,
        note: Some("Every management server runs these reconcilers on a timer; a failing pass is retried every interval. Late: no pass for three intervals.".into()),
        pager: pager("/console/background-tasks", &q, total),
        refresh: Some(10),
    })
}

// --- accounts and users ---

fn account_type_name(v: &AccountResponse) -> &'static str {
    match v.accounttype {
        Some(1) => "Admin",
        Some(2) => "Domain admin",
        _ => "User",
    }
}

/// The account list's sort keys, one per heading.
const ACCOUNT_SORTS: &[&str] = &["name", "role", "type", "domain", "state", "users"];

fn account_sort_key(a: &AccountResponse, key: &str) -> String {
    match key {
        "role" => plain(&a.rolename),
        "type" => account_type_name(a).into(),
        "domain" => plain(&a.domain),
        "state" => plain(&a.state),
        "users" => super::lists::numeric_key(Some(a.user.len() as f64)),
        _ => plain(&a.name),
    }
}

async fn accounts(s: Session, Query(q): Q) -> Response {
    let mut params = page_params(&q);
    params.push(("listall", "true".into()));
    let mut arrange = super::lists::Arrange::new("/console/accounts", ACCOUNT_SORTS, &q);
    let filters = arrange
        .filters(
            &s,
            &q,
            &super::lists::Filters {
                states: &["enabled", "disabled", "locked"],
                state_param: true,
                ..Default::default()
            },
            &mut params,
        )
        .await;
    let (total, items) = match s.list_of::<AccountResponse>("listAccounts", &params).await {
        Ok(x) => x,
        Err(e) => return s.error_page("accounts", &e),
    };
    let super::lists::Arranged { items, total } =
        arrange.apply(total, items, account_sort_key, |a| plain(&a.state));
    let rows = items
        .iter()
        .map(|a| Row {
            id: plain(&a.id),
            cells: vec![
                Cell::link(text(&a.name), format!("/console/accounts/{}", plain(&a.id))),
                Cell::text(text(&a.rolename)),
                Cell::text(account_type_name(a)),
                Cell::text(text(&a.domain)),
                Cell::state(plain(&a.state)),
                Cell::num(a.user.len().to_string()),
            ],
            actions: vec![],
        })
        .collect();
    let mut table = Table::new(
        "list",
        &["Name", "Role", "Type", "Domain", "State", "Users"],
        rows,
        "No accounts match.",
    );
    arrange.decorate(&mut table, &q, filters);
    s.page(&ListPage {
        frame: s.frame("accounts"),
        section: "Administration",
        title: "Accounts".into(),
        table,
        total,
        toolbar: vec![Link::primary("+ Add account", "/console/accounts/new")],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: None,
        pager: pager("/console/accounts", &q, total),
        refresh: None,
    })
}

fn person_fields(f: &HashMap<String, String>) -> Vec<Field> {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    vec![
        Field::text("username", "User name", get("username"), true),
        Field::text("password", "Password", "", true).kind("password"),
        Field::text("email", "Email", get("email"), true).kind("email"),
        Field::text("firstname", "First name", get("firstname"), true),
        Field::text("lastname", "Last name", get("lastname"), true),
    ]
}

/// The domains an account may be created in (id, path), tree order; none for a caller
/// who manages no domain.
async fn domain_options(s: &Session) -> Vec<(String, String)> {
    if !s.manages_domains() {
        return vec![];
    }
    let mut domains = s
        .list_of::<stratus_api::types::DomainResponse>(
            "listDomains",
            &super::lists::all_rows(&[("listall", "true".into())]),
        )
        .await
        .map(|(_, d)| d)
        .unwrap_or_default();
    domains.sort_by_cached_key(|d| {
        plain(&d.path)
            .split('/')
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    });
    domains
        .iter()
        .map(|d| (plain(&d.id), text(&d.path)))
        .collect()
}

fn account_fields(f: &HashMap<String, String>, domains: Vec<(String, String)>) -> Vec<Field> {
    let mut v = person_fields(f);
    if !domains.is_empty() {
        v.push(Field::select(
            "domainid",
            "Domain",
            f.get("domainid").cloned().unwrap_or_default(),
            domains,
        ));
    }
    v.push(
        Field::text(
            "account",
            "Account name",
            f.get("account").cloned().unwrap_or_default(),
            false,
        )
        .help("Defaults to the user name."),
    );
    v.push(Field::select(
        "accounttype",
        "Role",
        f.get("accounttype").cloned().unwrap_or_else(|| "0".into()),
        vec![
            ("0".into(), "User".into()),
            ("2".into(), "Domain admin".into()),
            ("1".into(), "Root admin".into()),
        ],
    ));
    v
}

fn account_page(s: &Session, fields: Vec<Field>, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("accounts"),
        section: "Accounts",
        title: "Add account".into(),
        intro: Some("An account owns resources; its first user is created with it.".into()),
        action: "/console/accounts/new".into(),
        fields,
        error,
        submit: "Add account".into(),
        cancel: "/console/accounts".into(),
        refresh: None,
    }
}

/// `/console/accounts/new[?domainid=…]`: the form, the domain chosen.
async fn account_form(s: Session, Query(q): Q) -> Response {
    let domains = domain_options(&s).await;
    s.page(&account_page(&s, account_fields(&q, domains), None))
}

fn kept(f: &Fields) -> HashMap<String, String> {
    f.iter()
        .filter(|(k, _)| k != "password" && k != "sessionkey")
        .cloned()
        .collect()
}

async fn create_account(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let mut params: Vec<(&str, String)> = [
        "username",
        "password",
        "email",
        "firstname",
        "lastname",
        "accounttype",
    ]
    .iter()
    .map(|k| (*k, field(&f, k).trim().to_string()))
    .collect();
    for k in ["account", "domainid"] {
        if !field(&f, k).trim().is_empty() {
            params.push((k, field(&f, k).trim().to_string()));
        }
    }
    match s.call("createAccount", &params).await {
        Ok(r) => {
            let id = match super::created::<AccountResponse>("createAccount", r) {
                Ok(a) => a.map(|a| plain(&a.id)).unwrap_or_default(),
                Err(e) => return s.error_page("accounts", &e),
            };
            redirect_with(
                &format!("/console/accounts/{id}"),
                true,
                "The account was created.",
            )
        }
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &account_page(
                &s,
                account_fields(&kept(&f), domain_options(&s).await),
                Some(e.text),
            ),
        ),
    }
}

async fn account(s: Session, Path(id): Path<String>) -> Response {
    let a = match s
        .one_of::<AccountResponse>("listAccounts", &id, &[("listall", "true".into())])
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => return s.not_found("accounts", "account"),
        Err(e) => return s.error_page("accounts", &e),
    };
    let url = format!("/console/accounts/{id}/action");
    // One's own account: disabling, locking or deleting it signs you out for good, so
    // each asks for a confirmation that says so.
    let own = a.id == Some(s.caller.account_id().into_uuid());
    let guard = |act: Action, what: &str| {
        if own {
            act.danger(&format!(
                "Yes, {what} my own account (I will be signed out and cannot sign in with it)"
            ))
        } else {
            act
        }
    };
    let mut actions = vec![];
    if a.state.as_deref() == Some("enabled") {
        actions.push(guard(
            Action::new("disable", "Disable account", url.clone()).field("action", "disable"),
            "disable",
        ));
        actions.push(guard(
            Action::new("lock", "Lock account", url.clone()).field("action", "lock"),
            "lock",
        ));
    } else {
        actions
            .push(Action::new("enable", "Enable account", url.clone()).field("action", "enable"));
    }
    actions.push(
        Action::new("delete", "Delete account", url.clone())
            .field("action", "delete")
            .danger(if own {
                "Yes, delete my own account and its users (I will be signed out for good)"
            } else {
                "Yes, delete this account and its users"
            }),
    );
    // An admin changes an account's limits; a domain admin not its own account's.
    let editable = s.manages_domains() && (s.is_admin() || !own);
    let limits = super::limits::section(
        &s,
        &super::limits::Owner::Account {
            name: plain(&a.name),
            domainid: plain(&a.domainid),
        },
        &super::limits::usage_of!(&a).with("project", a.projecttotal, &a.projectavailable),
        editable.then_some(url.as_str()),
    )
    .await;
    let rows = a
        .user
        .iter()
        .map(|u| Row {
            id: plain(&u.id),
            cells: vec![
                Cell::link(
                    text(&u.username),
                    format!("/console/users/{}", plain(&u.id)),
                ),
                Cell::text(format!("{} {}", plain(&u.firstname), plain(&u.lastname))),
                Cell::text(text(&u.email)),
                Cell::state(plain(&u.state)),
                Cell::text(if u.apikey.is_some() { "Yes" } else { "No" }),
            ],
            actions: vec![],
        })
        .collect();
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("accounts"),
        title: text(&a.name),
        status: vec![Cell::state(plain(&a.state))],
        back: Link::new("Accounts", "/console/accounts"),
        toolbar: vec![Link::new(
            "Settings",
            format!("/console/settings?accountid={id}"),
        )],
        actions,
        fields: vec![
            ("ID".into(), Cell::mono(text(&a.id))),
            ("Role".into(), Cell::text(text(&a.rolename))),
            ("Type".into(), Cell::text(account_type_name(&a))),
            (
                "Domain".into(),
                if s.manages_domains() {
                    Cell::link(
                        text(&a.domainpath),
                        format!("/console/domains/{}", plain(&a.domainid)),
                    )
                } else {
                    Cell::text(text(&a.domainpath))
                },
            ),
            ("Created".into(), Cell::text(when(&a.created))),
        ],
        charts: vec![],
        sections: vec![
            Section {
                forms: vec![],
                title: "Users".into(),
                table: Table::new(
                    "users",
                    &["User name", "Name", "Email", "State", "API keys"],
                    rows,
                    "No users.",
                ),
                links: vec![Link::new(
                    "+ Add user",
                    format!("/console/accounts/{id}/users/new"),
                )],
                note: None,
            },
            limits,
        ],
        refresh: None,
    })
}

async fn account_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let detail = format!("/console/accounts/{id}");
    let idp = ("id", id.clone());
    match field(&f, "action") {
        "enable" => {
            s.act("enableAccount", &[idp], &detail, "The account is enabled.")
                .await
        }
        "disable" => {
            s.act(
                "disableAccount",
                &[idp, ("lock", "false".into())],
                &detail,
                "The account is disabled.",
            )
            .await
        }
        "lock" => {
            s.act(
                "disableAccount",
                &[idp, ("lock", "true".into())],
                &detail,
                "The account is locked.",
            )
            .await
        }
        "delete" => {
            s.act(
                "deleteAccount",
                &[idp],
                "/console/accounts",
                "The account was deleted.",
            )
            .await
        }
        "limit" | "recount" => {
            let a = match s
                .one_of::<AccountResponse>("listAccounts", &id, &[("listall", "true".into())])
                .await
            {
                Ok(Some(a)) => a,
                Ok(None) => return s.not_found("accounts", "account"),
                Err(e) => return redirect_with(&detail, false, &e.text),
            };
            let owner = super::limits::Owner::Account {
                name: plain(&a.name),
                domainid: plain(&a.domainid),
            };
            super::limits::act(&s, &owner, &f, &detail).await
        }
        other => redirect_with(&detail, false, &format!("Unknown action '{other}'")),
    }
}

fn user_page(s: &Session, id: &str, fields: Vec<Field>, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("accounts"),
        section: "Account",
        title: "Add user".into(),
        intro: None,
        action: format!("/console/accounts/{id}/users/new"),
        fields,
        error,
        submit: "Add user".into(),
        cancel: format!("/console/accounts/{id}"),
        refresh: None,
    }
}

async fn user_form(s: Session, Path(id): Path<String>) -> Response {
    s.page(&user_page(&s, &id, person_fields(&HashMap::new()), None))
}

async fn create_user(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let a = match s
        .one_of::<AccountResponse>("listAccounts", &id, &[("listall", "true".into())])
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => return s.not_found("accounts", "account"),
        Err(e) => return s.error_page("accounts", &e),
    };
    let mut params: Vec<(&str, String)> =
        ["username", "password", "email", "firstname", "lastname"]
            .iter()
            .map(|k| (*k, field(&f, k).trim().to_string()))
            .collect();
    params.push(("account", plain(&a.name)));
    params.push(("domainid", plain(&a.domainid)));
    match s.call("createUser", &params).await {
        Ok(_) => redirect_with(
            &format!("/console/accounts/{id}"),
            true,
            "The user was added.",
        ),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &user_page(&s, &id, person_fields(&kept(&f)), Some(e.text)),
        ),
    }
}

async fn user(s: Session, Path(id): Path<String>) -> Response {
    let u = match s
        .one_of::<UserResponse>("listUsers", &id, &[("listall", "true".into())])
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => return s.not_found("accounts", "user"),
        Err(e) => return s.error_page("accounts", &e),
    };
    let url = format!("/console/users/{id}/action");
    let mut actions = vec![Action::new(
        "keys",
        "Generate API keys",
        format!("/console/users/{id}/keys"),
    )];
    let own = u.id == Some(s.caller.user_id().into_uuid());
    if u.state.as_deref() == Some("enabled") {
        let disable =
            Action::new("disable", "Disable user", url.clone()).field("action", "disable");
        actions.push(if own {
            disable.danger("Yes, disable myself (I will be signed out and cannot sign in)")
        } else {
            disable
        });
    } else {
        actions.push(Action::new("enable", "Enable user", url.clone()).field("action", "enable"));
    }
    actions.push(
        Action::new("delete", "Delete user", url)
            .field("action", "delete")
            .danger(if own {
                "Yes, delete myself (I will be signed out for good)"
            } else {
                "Yes, delete this user"
            }),
    );
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("accounts"),
        title: text(&u.username),
        status: vec![Cell::state(plain(&u.state))],
        back: Link::new(
            "Account",
            format!("/console/accounts/{}", plain(&u.accountid)),
        ),
        toolbar: vec![],
        actions,
        fields: user_fields(&u),
        charts: vec![],
        sections: vec![],
        refresh: None,
    })
}

fn user_fields(u: &UserResponse) -> Vec<(String, Cell)> {
    vec![
        ("ID".into(), Cell::mono(text(&u.id))),
        (
            "Name".into(),
            Cell::text(format!("{} {}", plain(&u.firstname), plain(&u.lastname))),
        ),
        ("Email".into(), Cell::text(text(&u.email))),
        (
            "Account".into(),
            Cell::link(
                text(&u.account),
                format!("/console/accounts/{}", plain(&u.accountid)),
            ),
        ),
        ("Role".into(), Cell::text(text(&u.rolename))),
        ("Domain".into(), Cell::text(text(&u.domain))),
        (
            "API key".into(),
            match &u.apikey {
                Some(k) => Cell::mono(k.clone()),
                None => Cell::text("none: generate keys to use the API"),
            },
        ),
        ("Secret key".into(), Cell::text("shown only when generated")),
        ("Created".into(), Cell::text(when(&u.created))),
    ]
}

async fn user_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let detail = format!("/console/users/{id}");
    let idp = ("id", id.clone());
    match field(&f, "action") {
        "enable" => {
            s.act("enableUser", &[idp], &detail, "The user is enabled.")
                .await
        }
        "disable" => {
            s.act("disableUser", &[idp], &detail, "The user is disabled.")
                .await
        }
        "delete" => match s.call("deleteUser", &[idp]).await {
            Ok(_) => redirect_with("/console/accounts", true, "The user was deleted."),
            Err(e) => redirect_with(&detail, false, &e.text),
        },
        other => redirect_with(&detail, false, &format!("Unknown action '{other}'")),
    }
}

/// New keys for a user: the answer page is the only place the secret is ever shown.
async fn generate_keys(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = local_path(field(&f, "back"), &format!("/console/users/{id}"));
    let username = match s
        .one_of::<UserResponse>("listUsers", &id, &[("listall", "true".into())])
        .await
    {
        Ok(Some(u)) => text(&u.username),
        Ok(None) => return s.not_found("api-keys", "user"),
        Err(e) => return s.error_page("api-keys", &e),
    };
    match s.call("registerUserKeys", &[("id", id.clone())]).await {
        Ok(Reply::Object { value, .. }) => {
            let keys: UserKeysResponse = match super::typed("registerUserKeys", value) {
                Ok(k) => k,
                Err(e) => return redirect_with(&back, false, &e.text),
            };
            s.page(&KeysPage {
                frame: s.frame(if back == "/console/api-keys" {
                    "api-keys"
                } else {
                    "accounts"
                }),
                username,
                apikey: text(&keys.apikey),
                secretkey: text(&keys.secretkey),
                back,
                refresh: None,
            })
        }
        Ok(_) => redirect_with(&back, false, "registerUserKeys gave no keys"),
        Err(e) => redirect_with(&back, false, &e.text),
    }
}

/// The signed-in user's own API keys.
async fn my_keys(s: Session) -> Response {
    let id = s.caller.user_id().to_string();
    let u = match s.one_of::<UserResponse>("listUsers", &id, &[]).await {
        Ok(Some(u)) => u,
        Ok(None) => return s.not_found("api-keys", "user"),
        Err(e) => return s.error_page("api-keys", &e),
    };
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("api-keys"),
        title: "API keys".into(),
        status: vec![],
        back: Link::new("Dashboard", "/console/dashboard"),
        toolbar: vec![],
        actions: vec![Action::new("keys", "Generate new API keys", format!("/console/users/{id}/keys"))
            .field("back", "/console/api-keys")],
        fields: user_fields(&u),
        charts: vec![],
        sections: vec![Section {
            forms: vec![],
            title: "Using the keys".into(),
            table: Table::new(
                "usage",
                &[],
                vec![],
                "Clients such as cs, CloudMonkey, libcloud, Terraform or Ansible sign their requests to /client/api with the API key and the secret key. Generating new keys replaces the old ones.",
            ),
            links: vec![],
            note: None,
        }],
        refresh: None,
    })
}

// --- global settings ---

/// The scope a settings page or form is about: `zoneid`, `clusterid` or `accountid`
/// and its id (a uuid), or none (global).
fn setting_scope(get: impl Fn(&str) -> String) -> Option<(&'static str, String)> {
    ["zoneid", "clusterid", "accountid"]
        .into_iter()
        .find_map(|k| {
            let v = get(k);
            v.parse::<uuid::Uuid>().ok().map(|id| (k, id.to_string()))
        })
}

/// The title, nav entry and page of a scope.
async fn scope_page(s: &Session, scope: &(&'static str, String)) -> (String, &'static str, Link) {
    let (param, id) = scope;
    let name = |n: Option<String>| n.unwrap_or_else(|| id.clone());
    match *param {
        "zoneid" => {
            let z = s
                .one_of::<stratus_api::types::ZoneResponse>("listZones", id, &[])
                .await;
            let n = name(z.ok().flatten().and_then(|z| z.name));
            (
                format!("Settings of zone {n}"),
                "zones",
                Link::new(&format!("Zone {n}"), format!("/console/zones/{id}")),
            )
        }
        "clusterid" => {
            let c = s
                .one_of::<stratus_api::types::ClusterResponse>("listClusters", id, &[])
                .await;
            let n = name(c.ok().flatten().and_then(|c| c.name));
            (
                format!("Settings of cluster {n}"),
                "clusters",
                Link::new(&format!("Cluster {n}"), format!("/console/clusters/{id}")),
            )
        }
        _ => {
            let a = s
                .one_of::<AccountResponse>("listAccounts", id, &[("listall", "true".into())])
                .await;
            let n = name(a.ok().flatten().and_then(|a| a.name));
            (
                format!("Settings of account {n}"),
                "accounts",
                Link::new(&format!("Account {n}"), format!("/console/accounts/{id}")),
            )
        }
    }
}

async fn settings(s: Session, Query(q): Q) -> Response {
    let keyword = q.get("keyword").cloned().unwrap_or_default();
    let category = q.get("category").cloned().unwrap_or_default();
    let scope = setting_scope(|k| q.get(k).cloned().unwrap_or_default());
    let scope_param: Vec<(&str, String)> = scope.iter().map(|(k, v)| (*k, v.clone())).collect();
    let all = match s
        .list_of::<ConfigurationResponse>(
            "listConfigurations",
            &[
                vec![("pagesize", "500".into()), ("page", "1".into())],
                scope_param.clone(),
            ]
            .concat(),
        )
        .await
    {
        Ok(x) => x.1,
        Err(e) => return s.error_page("settings", &e),
    };
    let mut categories: Vec<String> = all.iter().map(|c| text(&c.category)).collect();
    categories.sort();
    categories.dedup();
    let mut params = page_params(&q);
    params.extend(scope_param.clone());
    if !category.is_empty() {
        params.push(("category", category.clone()));
    }
    let (total, items) = match s
        .list_of::<ConfigurationResponse>("listConfigurations", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("settings", &e),
    };
    let rows = items
        .into_iter()
        .map(|c| SettingRow {
            name: c.name.unwrap_or_default(),
            category: c.category.unwrap_or_default(),
            value: c.value.unwrap_or_default(),
            default: c.defaultvalue.unwrap_or_default(),
            description: c.description.unwrap_or_default(),
        })
        .collect();
    let mut pairs: Vec<(&str, String)> = q.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    pairs.sort();
    let (title, active, scope_link) = match &scope {
        Some(sc) => {
            let (t, a, l) = scope_page(&s, sc).await;
            (t, a, Some(l))
        }
        None => ("Global settings".to_string(), "settings", None),
    };
    s.page(&SettingsPage {
        frame: s.frame(active),
        title,
        scope_link,
        scope: scope_param
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        rows,
        total,
        keyword,
        category,
        categories,
        back: format!("/console/settings{}", query_string(&pairs)),
        pager: pager("/console/settings", &q, total),
        refresh: None,
    })
}

async fn update_setting(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = local_path(field(&f, "back"), "/console/settings");
    let name = field(&f, "name").to_string();
    let mut params = vec![
        ("name", name.clone()),
        ("value", field(&f, "value").to_string()),
    ];
    params.extend(setting_scope(|k| field(&f, k).to_string()));
    match s.call("updateConfiguration", &params).await {
        Ok(_) => redirect_with(
            &back,
            true,
            &format!("{name} is now '{}'.", field(&f, "value")),
        ),
        Err(e) => redirect_with(&back, false, &format!("{name}: {}", e.text)),
    }
}

async fn reset_setting(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = local_path(field(&f, "back"), "/console/settings");
    let name = field(&f, "name").to_string();
    let mut params = vec![("name", name.clone())];
    params.extend(setting_scope(|k| field(&f, k).to_string()));
    match s.call("resetConfiguration", &params).await {
        Ok(_) => redirect_with(&back, true, &format!("{name} is back to its default.")),
        Err(e) => redirect_with(&back, false, &format!("{name}: {}", e.text)),
    }
}
