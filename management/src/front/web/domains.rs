//! Domains in the web console (issue 22): the tree (listDomains, each domain indented
//! under its parent, with its accounts and what its subtree uses), a domain's page (its
//! subdomains, accounts and resource limits), and the forms that create a subdomain
//! (createDomain), rename (updateDomain) and delete one (deleteDomain, with or without
//! `cleanup`). Root admins see every domain; domain admins their own subtree, as the
//! commands answer them; everyone else has no such page.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::types::{AccountResponse, DomainResponse};
use stratus_ui::{Action, Cell, DetailPage, Field, FormPage, Link, ListPage, Pager, Row, Table};

use super::limits::{self, usage_of, WithUsage};
use super::lists::{all_rows, SORT_MAX};
use super::show::{plain, text, when};
use super::{field, query_string, redirect_with, Fields, Outcome, Session};
use crate::ctx::Ctx;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/domains", get(tree))
        .route("/console/domains/new", get(new_form).post(create))
        .route("/console/domains/{id}", get(detail))
        .route("/console/domains/{id}/action", post(action))
}

type Q = Query<HashMap<String, String>>;

/// The tree's indentation classes, by level (deeper levels share the last).
const LEVELS: [&str; 17] = [
    "", "lvl1", "lvl2", "lvl3", "lvl4", "lvl5", "lvl6", "lvl7", "lvl8", "lvl9", "lvl10", "lvl11",
    "lvl12", "lvl13", "lvl14", "lvl15", "lvl16",
];

fn level_class(level: Option<i32>) -> &'static str {
    let i = usize::try_from(level.unwrap_or(0)).unwrap_or(0);
    LEVELS[i.min(LEVELS.len() - 1)]
}

/// Domains in tree order: each after its parent, siblings by name (a path compared
/// segment by segment, so `ROOT/a/b` comes before `ROOT/a-b`).
fn tree_order(domains: &mut [DomainResponse]) {
    domains.sort_by_cached_key(|d| {
        plain(&d.path)
            .split('/')
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
    });
}

/// "3 of 20", or "3" when unlimited.
fn used_of(total: Option<i64>, limit: &Option<String>) -> String {
    let used = total.map(|t| t.to_string()).unwrap_or_else(|| "—".into());
    match limit.as_deref() {
        Some(l) if l != "Unlimited" && !l.is_empty() => format!("{used} of {l}"),
        _ => used,
    }
}

/// How many accounts each domain has (not counting its subdomains'). One list when the
/// accounts fit in it; else one count per domain shown, up to [`SORT_MAX`] domains.
async fn account_counts(s: &Session, domains: &[DomainResponse]) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    let Ok((total, accounts)) = s
        .list_of::<AccountResponse>("listAccounts", &all_rows(&[("listall", "true".into())]))
        .await
    else {
        return out;
    };
    if total <= accounts.len() as i64 {
        for d in domains {
            out.insert(plain(&d.id), 0);
        }
        for a in &accounts {
            *out.entry(plain(&a.domainid)).or_insert(0) += 1;
        }
        return out;
    }
    for d in domains.iter().take(SORT_MAX as usize) {
        let id = plain(&d.id);
        let p = [
            ("domainid", id.clone()),
            ("page", "1".to_string()),
            ("pagesize", "1".to_string()),
        ];
        if let Ok((n, _)) = s.list_of::<AccountResponse>("listAccounts", &p).await {
            out.insert(id, n);
        }
    }
    out
}

/// The tree of the caller's domains.
async fn tree(s: Session) -> Response {
    if !s.manages_domains() {
        return s.not_found("dashboard", "page");
    }
    let (total, mut domains) = match s
        .list_of::<DomainResponse>("listDomains", &all_rows(&[("listall", "true".into())]))
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("domains", &e),
    };
    tree_order(&mut domains);
    let counts = account_counts(&s, &domains).await;
    let rows = domains
        .iter()
        .map(|d| {
            let id = plain(&d.id);
            let mut name = Cell::link(text(&d.name), format!("/console/domains/{id}"));
            name.class = level_class(d.level);
            Row {
                id: id.clone(),
                cells: vec![
                    name,
                    Cell::mono(text(&d.path)),
                    Cell::num(
                        counts
                            .get(&id)
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| "—".into()),
                    ),
                    Cell::num(used_of(d.vmtotal, &d.vmlimit)),
                    Cell::num(used_of(d.projecttotal, &d.projectlimit)),
                    Cell::text(text(&d.networkdomain)),
                ],
                actions: vec![],
            }
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name",
            "Path",
            "Accounts",
            "Instances",
            "Projects",
            "Network domain",
        ],
        rows,
        "No domains.",
    );
    table.numeric = vec![2, 3, 4];
    let shown = domains.len() as i64;
    s.page(&ListPage {
        frame: s.frame("domains"),
        section: "Administration",
        title: "Domains".into(),
        table,
        total,
        toolbar: vec![Link::primary("+ Add domain", "/console/domains/new")],
        search: None,
        note: Some(if total > shown {
            format!("The first {shown} domains of the tree. Each domain's page has its accounts, subdomains and limits.")
        } else {
            "Each domain's page has its accounts, subdomains and resource limits; instances and projects count its whole subtree.".into()
        }),
        pager: Pager::default(),
        refresh: None,
    })
}

/// The domains a new one may go under: (id, path).
async fn parent_options(s: &Session) -> Vec<(String, String)> {
    let mut domains = s
        .list_of::<DomainResponse>("listDomains", &all_rows(&[("listall", "true".into())]))
        .await
        .map(|(_, d)| d)
        .unwrap_or_default();
    tree_order(&mut domains);
    domains
        .iter()
        .map(|d| (plain(&d.id), text(&d.path)))
        .collect()
}

fn domain_fields(parents: Vec<(String, String)>, get: impl Fn(&str) -> String) -> Vec<Field> {
    vec![
        Field::text("name", "Name", get("name"), true)
            .help("One segment of the domain's path: no '/'."),
        Field::select(
            "parentdomainid",
            "Parent domain",
            get("parentdomainid"),
            parents,
        ),
        Field::text(
            "networkdomain",
            "Network domain",
            get("networkdomain"),
            false,
        )
        .placeholder("e.g. acme.example.com")
        .help("Optional: the DNS suffix of the domain's guest networks."),
    ]
}

fn form_page(s: &Session, fields: Vec<Field>, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("domains"),
        section: "Domains",
        title: "Add domain".into(),
        intro: Some(
            "A domain holds accounts and subdomains; its admins manage everything under it.".into(),
        ),
        action: "/console/domains/new".into(),
        fields,
        error,
        submit: "Add domain".into(),
        cancel: "/console/domains".into(),
        refresh: None,
    }
}

/// `/console/domains/new[?parentdomainid=…]`: the form, the parent chosen.
async fn new_form(s: Session, Query(q): Q) -> Response {
    if !s.manages_domains() {
        return s.not_found("dashboard", "page");
    }
    let parents = parent_options(&s).await;
    let fields = domain_fields(parents, |k| q.get(k).cloned().unwrap_or_default());
    s.page(&form_page(&s, fields, None))
}

async fn create(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let name = field(&f, "name").trim().to_string();
    let mut params = vec![("name", name.clone())];
    for k in ["parentdomainid", "networkdomain"] {
        let v = field(&f, k).trim();
        if !v.is_empty() {
            params.push((k, v.to_string()));
        }
    }
    const CREATE: &str = "createDomain";
    match s.call(CREATE, &params).await {
        Ok(reply) => {
            let path = super::created::<DomainResponse>(CREATE, reply)
                .ok()
                .flatten()
                .map(|d| text(&d.path))
                .unwrap_or(name);
            redirect_with(
                "/console/domains",
                true,
                &format!("Domain {path} was created."),
            )
        }
        Err(e) => {
            let parents = parent_options(&s).await;
            let fields = domain_fields(parents, |k| field(&f, k).to_string());
            s.page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&s, fields, Some(e.text)),
            )
        }
    }
}

async fn detail(s: Session, Path(id): Path<String>) -> Response {
    if !s.manages_domains() {
        return s.not_found("dashboard", "page");
    }
    let d = match s
        .one_of::<DomainResponse>("listDomains", &id, &[("listall", "true".into())])
        .await
    {
        Ok(Some(d)) => d,
        Ok(None) => return s.not_found("domains", "domain"),
        Err(e) => return s.error_page("domains", &e),
    };
    let id = plain(&d.id);
    let url = format!("/console/domains/{id}/action");
    let root = d.parentdomainid.is_none();
    // A domain admin manages what is below its own domain, not the domain itself.
    let own = !s.is_admin() && d.id == Some(s.caller.domain_id().into_uuid());
    let mut actions = vec![];
    if !root && !own {
        actions.push(
            Action::new("rename", "Rename", url.clone())
                .field("action", "rename")
                .input("name", "New name", "text", plain(&d.name), ""),
        );
        actions.push(
            Action::new("delete", "Delete domain", url.clone())
                .field("action", "delete")
                .danger("Yes, delete this domain (it must have no subdomains or accounts)"),
        );
        actions.push(
            Action::new("cleanup", "Delete with everything in it", url.clone())
                .field("action", "cleanup")
                .danger("Yes, delete it with its subdomains and their accounts"),
        );
    }
    let children = s
        .list_of::<DomainResponse>(
            "listDomainChildren",
            &all_rows(&[("id", id.clone()), ("listall", "true".into())]),
        )
        .await
        .map(|(_, c)| c)
        .unwrap_or_default();
    let child_rows = children
        .iter()
        .map(|c| Row {
            id: plain(&c.id),
            cells: vec![
                Cell::link(text(&c.name), format!("/console/domains/{}", plain(&c.id))),
                Cell::mono(text(&c.path)),
                Cell::num(used_of(c.vmtotal, &c.vmlimit)),
            ],
            actions: vec![],
        })
        .collect();
    let mut children_table = Table::new(
        "subdomains",
        &["Name", "Path", "Instances"],
        child_rows,
        "No subdomains.",
    );
    children_table.numeric = vec![2];
    let accounts = s
        .list_of::<AccountResponse>("listAccounts", &all_rows(&[("domainid", id.clone())]))
        .await
        .map(|(_, a)| a)
        .unwrap_or_default();
    let account_rows = accounts
        .iter()
        .map(|a| Row {
            id: plain(&a.id),
            cells: vec![
                Cell::link(text(&a.name), format!("/console/accounts/{}", plain(&a.id))),
                Cell::text(text(&a.rolename)),
                Cell::state(plain(&a.state)),
                Cell::num(used_of(a.vmtotal, &a.vmlimit)),
            ],
            actions: vec![],
        })
        .collect();
    let mut accounts_table = Table::new(
        "accounts",
        &["Name", "Role", "State", "Instances"],
        account_rows,
        "No accounts in this domain.",
    );
    accounts_table.numeric = vec![3];
    let editable = !root && !own;
    let limits = limits::section(
        &s,
        &limits::Owner::Domain { id: id.clone() },
        &usage_of!(&d).with("project", d.projecttotal, &d.projectavailable),
        editable.then_some(url.as_str()),
    )
    .await;
    let mut fields = vec![
        ("ID".into(), Cell::mono(id.clone())),
        ("Path".into(), Cell::mono(text(&d.path))),
    ];
    if let Some(p) = &d.parentdomainid {
        fields.push((
            "Parent".into(),
            Cell::link(text(&d.parentdomainname), format!("/console/domains/{p}")),
        ));
    }
    fields.extend([
        ("Level".into(), Cell::text(text(&d.level))),
        ("Network domain".into(), Cell::text(text(&d.networkdomain))),
        ("Created".into(), Cell::when(when(&d.created))),
    ]);
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("domains"),
        title: text(&d.name),
        status: vec![Cell::state(plain(&d.state))],
        back: Link::new("Domains", "/console/domains"),
        toolbar: vec![
            Link::new(
                "+ Add subdomain",
                format!(
                    "/console/domains/new{}",
                    query_string(&[("parentdomainid", id.clone())])
                ),
            ),
            Link::new(
                "+ Add account",
                format!(
                    "/console/accounts/new{}",
                    query_string(&[("domainid", id.clone())])
                ),
            ),
        ],
        actions,
        fields,
        charts: vec![],
        sections: vec![
            stratus_ui::Section {
                title: "Subdomains".into(),
                table: children_table,
                ..Default::default()
            },
            stratus_ui::Section {
                title: "Accounts".into(),
                table: accounts_table,
                ..Default::default()
            },
            limits,
        ],
        refresh: None,
    })
}

async fn action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let page = format!("/console/domains/{id}");
    let idp = ("id", id.clone());
    match field(&f, "action") {
        "rename" => match s
            .call(
                "updateDomain",
                &[idp, ("name", field(&f, "name").trim().to_string())],
            )
            .await
        {
            Ok(_) => redirect_with(&page, true, "The domain was renamed."),
            Err(e) => redirect_with(&page, false, &e.text),
        },
        a @ ("delete" | "cleanup") => {
            let cleanup = a == "cleanup";
            match s
                .run(
                    "deleteDomain",
                    &[idp, ("cleanup", cleanup.to_string())],
                    Duration::from_secs(20),
                )
                .await
            {
                Ok(Outcome::Done) => redirect_with(
                    "/console/domains",
                    true,
                    if cleanup {
                        "The domain was deleted with its subdomains and accounts."
                    } else {
                        "The domain was deleted."
                    },
                ),
                Ok(Outcome::Running(job)) => Redirect::to(&format!(
                    "/console/jobs/{job}{}",
                    query_string(&[("next", "/console/domains".to_string())])
                ))
                .into_response(),
                // Refused (not empty, accounts still owning things): said on its page.
                Err(e) => redirect_with(&page, false, &e.text),
            }
        }
        _ => limits::act(&s, &limits::Owner::Domain { id: id.clone() }, &f, &page).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(path: &str) -> DomainResponse {
        DomainResponse {
            path: Some(path.into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_tree_puts_children_under_their_parent() {
        let mut d = vec![
            domain("ROOT/a-b"),
            domain("ROOT/a/b"),
            domain("ROOT"),
            domain("ROOT/B"),
            domain("ROOT/a"),
        ];
        tree_order(&mut d);
        let paths: Vec<String> = d.iter().map(|x| plain(&x.path)).collect();
        assert_eq!(paths, ["ROOT", "ROOT/a", "ROOT/a/b", "ROOT/a-b", "ROOT/B"]);
    }

    #[test]
    fn levels_are_indented_and_deep_ones_share_the_last_class() {
        assert_eq!(level_class(Some(0)), "");
        assert_eq!(level_class(Some(2)), "lvl2");
        assert_eq!(level_class(Some(40)), "lvl16");
        assert_eq!(level_class(Some(-3)), "");
        assert_eq!(used_of(Some(3), &Some("20".into())), "3 of 20");
        assert_eq!(used_of(Some(3), &Some("Unlimited".into())), "3");
    }
}
