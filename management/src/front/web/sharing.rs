//! Who may use a template or an ISO, on its page: the Permissions section (CloudStack's
//! list…Permissions, and its Update permissions and Share forms) and the form posts
//! that change them through update…Permissions. Templates and ISOs share the commands'
//! rules (`commands::sharing`) and so this page part.

use axum::response::Response;
use stratus_api::envelope::Reply;
use stratus_api::types::{AccountResponse, ProjectResponse, TemplatePermissionsResponse};
use stratus_ui::{Action, Cell, Row, Section, Table};

use super::show::{plain, text};
use super::{field, redirect_with, Fields, Session};

/// Which image family, with its commands.
pub struct Image {
    /// "template" or "ISO", as messages name it.
    pub noun: &'static str,
    pub list: &'static str,
    pub update: &'static str,
}

/// What the section shows of the image (its list answer's fields, as text).
pub struct Flags {
    pub account: String,
    pub projectid: String,
    pub domainid: String,
    pub ispublic: Option<bool>,
    pub isfeatured: Option<bool>,
    pub isextractable: Option<bool>,
}

/// The image's permissions (CloudStack's list…Permissions and its Update permissions
/// and Share forms): whether it is public, featured and extractable, the accounts and
/// projects it is shared with (each can be removed), others of its domain to share it
/// with, and Reset (private, shared with nobody).
pub async fn section(s: &Session, image: &Image, t: &Flags, id: &str, url: &str) -> Section {
    let perms = match s.call(image.list, &[("id", id.to_string())]).await {
        Ok(Reply::Object { value, .. }) => {
            serde_json::from_value::<TemplatePermissionsResponse>(value).unwrap_or_default()
        }
        _ => TemplatePermissionsResponse::default(),
    };
    let owner = t.account.clone();
    let owner_project = t.projectid.clone();
    // The projects the caller may see, by id (for their names, and to share with).
    let projects: Vec<(String, String, String)> = s
        .list_of::<ProjectResponse>(
            "listProjects",
            &[
                ("listall", "true".into()),
                ("pagesize", "500".into()),
                ("page", "1".into()),
            ],
        )
        .await
        .map(|(_, items)| items)
        .unwrap_or_default()
        .iter()
        .map(|p| (plain(&p.id), text(&p.name), plain(&p.domainid)))
        .collect();
    let project_name = |pid: &str| {
        projects
            .iter()
            .find(|(i, _, _)| i == pid)
            .map(|(_, n, _)| n.clone())
            .unwrap_or_else(|| pid.to_string())
    };
    let shared_accounts: Vec<&String> = perms.account.iter().filter(|a| **a != owner).collect();
    let shared_projects: Vec<&String> = perms
        .projectids
        .iter()
        .filter(|p| **p != owner_project)
        .collect();
    let unshare = |with: String| {
        vec![Action::new("unshare", "Stop sharing", url.to_string())
            .field("action", "unshare")
            .field("with", with)]
    };
    let mut rows: Vec<Row> = shared_accounts
        .iter()
        .map(|a| Row {
            id: format!("account:{a}"),
            cells: vec![Cell::text(a.to_string()), Cell::text("Account")],
            actions: unshare(format!("account:{a}")),
        })
        .collect();
    rows.extend(shared_projects.iter().map(|p| Row {
        id: format!("project:{p}"),
        cells: vec![Cell::text(project_name(p)), Cell::text("Project")],
        actions: unshare(format!("project:{p}")),
    }));
    // Others to share with: accounts and projects of the image's domain (sharing does
    // not cross domains).
    let domain = t.domainid.clone();
    let mut others = vec![];
    if let Ok((_, items)) = s
        .list_of::<AccountResponse>(
            "listAccounts",
            &[("pagesize", "500".into()), ("page", "1".into())],
        )
        .await
    {
        others.extend(
            items
                .iter()
                .filter(|a| plain(&a.domainid) == domain)
                .map(|a| text(&a.name))
                .filter(|n| *n != owner && !shared_accounts.contains(&n))
                .map(|n| (format!("account:{n}"), format!("Account {n}"))),
        );
    }
    others.extend(
        projects
            .iter()
            .filter(|(pid, _, d)| {
                *d == domain && *pid != owner_project && !shared_projects.contains(&pid)
            })
            .map(|(pid, name, _)| (format!("project:{pid}"), format!("Project {name}"))),
    );
    let yes = |b: Option<bool>| b == Some(true);
    let flag = |b: Option<bool>| if yes(b) { "true" } else { "false" };
    let mut visibility = Action::new("visibility", "Save", url.to_string())
        .field("action", "visibility")
        .field("was_ispublic", flag(t.ispublic))
        .field("was_isextractable", flag(t.isextractable))
        .checkbox("ispublic", "Public", yes(t.ispublic));
    if s.is_admin() {
        visibility = visibility
            .field("was_isfeatured", flag(t.isfeatured))
            .checkbox("isfeatured", "Featured", yes(t.isfeatured));
    }
    visibility = visibility.checkbox("isextractable", "Extractable", yes(t.isextractable));
    let mut forms = vec![visibility];
    if !others.is_empty() {
        forms.push(
            Action::new("share", "Share", url.to_string())
                .field("action", "share")
                .select("with", "Share with", others),
        );
    }
    // A user lists no account but its own: it names the account (as CloudStack's form).
    if !s.manages_domains() {
        forms.push(
            Action::new("sharename", "Share with account", url.to_string())
                .field("action", "share")
                .input("account", "Account name", "text", "", "account name"),
        );
    }
    forms.push(
        Action::new("reset", "Reset permissions", url.to_string())
            .field("action", "reset")
            .danger("Yes, make it private and shared with nobody"),
    );
    let note = if yes(t.ispublic) {
        "Public: every account of its domain may use it, besides those it is shared with below."
    } else {
        "Private: only its owner and the accounts and projects it is shared with below may use it."
    };
    Section {
        forms,
        title: "Permissions".into(),
        table: Table::new(
            "permissions",
            &["Shared with", "Kind"],
            rows,
            "Not shared with any account or project.",
        ),
        links: vec![],
        note: Some(note.into()),
    }
}

/// A permission form's post, as the update command's parameters and what to say when it
/// is done.
pub type Call = Result<(Vec<(&'static str, String)>, String), Problem>;

/// Why a post sends nothing (`ok`: nothing to do, not an error).
pub struct Problem {
    pub ok: bool,
    pub text: String,
}

fn problem(ok: bool, text: &str) -> Call {
    Err(Problem {
        ok,
        text: text.to_string(),
    })
}

/// The permission forms' posts (`share`, `unshare`, `reset`, `visibility`).
pub fn call(f: &Fields, image: &Image, id: &str) -> Option<Call> {
    let subject = if image.noun == "template" {
        "The template"
    } else {
        "The ISO"
    };
    // `account:NAME` or `project:ID`, as the permission forms carry them (or an account
    // named in `account`).
    let with = || -> Option<(&'static str, String)> {
        let w = field(f, "with");
        let named = field(f, "account").trim();
        if w.is_empty() && !named.is_empty() {
            Some(("accounts", named.to_string()))
        } else if let Some(name) = w.strip_prefix("account:") {
            Some(("accounts", name.to_string()))
        } else {
            w.strip_prefix("project:")
                .map(|p| ("projectids", p.to_string()))
        }
    };
    let id = id.to_string();
    Some(match field(f, "action") {
        op @ ("share" | "unshare") => {
            let Some((kind, who)) = with() else {
                return Some(problem(false, "Choose an account or a project."));
            };
            let (op, done) = if op == "share" {
                ("add", format!("{subject} is shared."))
            } else {
                ("remove", format!("{subject} is no longer shared with it."))
            };
            Ok((vec![("id", id), (kind, who), ("op", op.into())], done))
        }
        "reset" => {
            if field(f, "confirm") != "yes" {
                return Some(problem(false, "Tick the box to confirm the reset."));
            }
            Ok((
                vec![("id", id), ("op", "reset".into())],
                format!("{subject} is private and shared with nobody."),
            ))
        }
        "visibility" => {
            // Only what changed is sent (a flag the caller may not set stays unsent).
            let mut params = vec![("id", id)];
            for flag in ["ispublic", "isfeatured", "isextractable"] {
                let was = field(f, &format!("was_{flag}"));
                if was.is_empty() {
                    continue;
                }
                let now = if field(f, flag) == "true" {
                    "true"
                } else {
                    "false"
                };
                if now != was {
                    params.push((flag, now.to_string()));
                }
            }
            if params.len() == 1 {
                return Some(problem(true, "Nothing changed."));
            }
            Ok((params, format!("{subject}'s permissions are saved.")))
        }
        _ => return None,
    })
}

/// Sends a permission form's call and goes back to the page with what happened.
pub async fn send(s: &Session, image: &Image, call: Call, back: &str) -> Response {
    match call {
        Ok((params, done)) => match s.call(image.update, &params).await {
            Ok(_) => redirect_with(back, true, &done),
            Err(e) => redirect_with(back, false, &e.text),
        },
        Err(p) => redirect_with(back, p.ok, &p.text),
    }
}
