//! Resource limits on the account, domain and project pages (issue 22): one row per
//! resource type as listResourceLimits answers them, beside what the owner uses and has
//! left (the `*total` and `*available` fields of its listAccounts, listDomains or
//! listProjects answer). Admins who may change them get a field and a button per row
//! (updateResourceLimit) and a "Recalculate" button (updateResourceCount); the command
//! decides who may, and its refusal is shown as it words it.

use std::collections::HashMap;

use axum::response::Response;
use stratus_api::types::{ResourceCountResponse, ResourceLimitResponse};
use stratus_ui::{Action, Cell, Row, Section, Table};

use super::show::{plain, text};
use super::{field, redirect_with, Fields, Session};

/// Whose limits a page shows: the parameters that name it to the limit commands.
pub(crate) enum Owner {
    Account { name: String, domainid: String },
    Domain { id: String },
    Project { id: String },
}

impl Owner {
    fn params(&self) -> Vec<(&'static str, String)> {
        match self {
            Owner::Account { name, domainid } => {
                vec![("account", name.clone()), ("domainid", domainid.clone())]
            }
            Owner::Domain { id } => vec![("domainid", id.clone())],
            Owner::Project { id } => vec![("projectid", id.clone())],
        }
    }

    /// updateResourceCount counts accounts and domains (not projects).
    fn recounts(&self) -> bool {
        !matches!(self, Owner::Project { .. })
    }
}

/// What an owner uses of each resource type (as shown next to limits: GiB for storage)
/// and what it has left, by `resourcetypename`.
pub(crate) type Usage = HashMap<&'static str, (Option<i64>, Option<String>)>;

/// Adds a figure the shared fields lack (accounts and domains own projects; projects do
/// not).
pub(crate) trait WithUsage {
    fn with(self, name: &'static str, used: Option<i64>, left: &Option<String>) -> Self;
}

impl WithUsage for Usage {
    fn with(mut self, name: &'static str, used: Option<i64>, left: &Option<String>) -> Self {
        self.insert(name, (used, left.clone()));
        self
    }
}

/// The usage figures of an account, domain or project answer (they share the names).
macro_rules! usage_of {
    ($r:expr) => {{
        let r = $r;
        let mut u: $crate::front::web::limits::Usage = std::collections::HashMap::new();
        u.insert("user_vm", (r.vmtotal, r.vmavailable.clone()));
        u.insert("public_ip", (r.iptotal, r.ipavailable.clone()));
        u.insert("volume", (r.volumetotal, r.volumeavailable.clone()));
        u.insert("snapshot", (r.snapshottotal, r.snapshotavailable.clone()));
        u.insert("template", (r.templatetotal, r.templateavailable.clone()));
        u.insert("network", (r.networktotal, r.networkavailable.clone()));
        u.insert("vpc", (r.vpctotal, r.vpcavailable.clone()));
        u.insert("cpu", (r.cputotal, r.cpuavailable.clone()));
        u.insert("memory", (r.memorytotal, r.memoryavailable.clone()));
        u.insert(
            "primary_storage",
            (r.primarystoragetotal, r.primarystorageavailable.clone()),
        );
        u.insert(
            "secondary_storage",
            (r.secondarystoragetotal, r.secondarystorageavailable.clone()),
        );
        u
    }};
}
pub(crate) use usage_of;

/// The label of a resource type (with its unit where it has one).
pub(crate) fn label(name: &str) -> String {
    match name {
        "user_vm" => "Instances",
        "public_ip" => "Public IPs",
        "volume" => "Volumes",
        "snapshot" => "Snapshots",
        "template" => "Templates and ISOs",
        "project" => "Projects",
        "network" => "Networks",
        "vpc" => "VPCs",
        "cpu" => "CPU cores",
        "memory" => "Memory (MiB)",
        "primary_storage" => "Primary storage (GiB)",
        "secondary_storage" => "Secondary storage (GiB)",
        other => return other.to_string(),
    }
    .to_string()
}

/// The section: each type's use, limit and what is left; `edit` (the page's action
/// address) adds the forms that change them.
pub(crate) async fn section(
    s: &Session,
    owner: &Owner,
    usage: &Usage,
    edit: Option<&str>,
) -> Section {
    let mut params = owner.params();
    params.extend([("page", "1".to_string()), ("pagesize", "50".to_string())]);
    let (items, note) = match s
        .list_of::<ResourceLimitResponse>("listResourceLimits", &params)
        .await
    {
        Ok((_, items)) => (items, None),
        Err(e) => (vec![], Some(e.text)),
    };
    let rows = items
        .iter()
        // A project owns no projects: no such row on its page.
        .filter(|l| {
            !(matches!(owner, Owner::Project { .. })
                && l.resourcetypename.as_deref() == Some("project"))
        })
        .map(|l| {
            let name = plain(&l.resourcetypename);
            let (used, left) = usage.get(name.as_str()).cloned().unwrap_or_default();
            let max = l.max.unwrap_or(-1);
            let limit = if max < 0 {
                "Unlimited".to_string()
            } else {
                max.to_string()
            };
            let in_use = match (used, max) {
                (Some(u), m) if m > 0 => {
                    Cell::bar(u as f64 * 100.0 / m as f64, format!("{u} of {m}"), true)
                }
                (Some(u), _) => Cell::text(u.to_string()),
                (None, _) => Cell::text("—"),
            };
            let mut actions = vec![];
            if let Some(url) = edit {
                actions.push(
                    Action::new("limit", "Set", url)
                        .field("action", "limit")
                        .field("resourcetype", plain(&l.resourcetype))
                        .input(
                            "max",
                            &format!("New limit of {}", label(&name)),
                            "number",
                            max.to_string(),
                            "-1: unlimited",
                        ),
                );
            }
            Row {
                id: name.clone(),
                cells: vec![
                    Cell::text(label(&name)),
                    in_use,
                    Cell::num(limit),
                    Cell::num(text(&left)),
                ],
                actions,
            }
        })
        .collect();
    let mut table = Table::new(
        "limits",
        &["Resource", "In use", "Limit", "Available"],
        rows,
        "No limits.",
    );
    table.numeric = vec![2, 3];
    let mut forms = vec![];
    if let Some(url) = edit.filter(|_| owner.recounts()) {
        forms.push(Action::new("recount", "Recalculate usage", url).field("action", "recount"));
    }
    Section {
        title: "Resource limits".into(),
        table,
        links: vec![],
        note: note.or_else(|| {
            Some(
                "A limit of -1 is unlimited; storage is in GiB, memory in MiB. Limits not set here follow the max.account.* (or max.project.*, max.domain.*) settings."
                    .into(),
            )
        }),
        forms,
    }
}

/// The `limit` and `recount` actions of a page's form, for `owner`; back to `back`.
pub(crate) async fn act(s: &Session, owner: &Owner, f: &Fields, back: &str) -> Response {
    match field(f, "action") {
        "limit" => {
            let kind = field(f, "resourcetype").trim().to_string();
            let max = field(f, "max").trim().to_string();
            let mut params = owner.params();
            params.push(("resourcetype", kind));
            params.push(("max", max));
            const UPDATE: &str = "updateResourceLimit";
            match s.call(UPDATE, &params).await {
                Ok(reply) => {
                    let saved = super::created::<ResourceLimitResponse>(UPDATE, reply)
                        .ok()
                        .flatten();
                    let text = match saved {
                        Some(l) => format!(
                            "The limit of {} is now {}.",
                            label(&plain(&l.resourcetypename)).to_lowercase(),
                            match l.max {
                                Some(m) if m >= 0 => m.to_string(),
                                _ => "unlimited".into(),
                            }
                        ),
                        None => "The limit is saved.".into(),
                    };
                    redirect_with(back, true, &text)
                }
                Err(e) => redirect_with(back, false, &e.text),
            }
        }
        "recount" if owner.recounts() => {
            let mut params = owner.params();
            params.retain(|(k, _)| *k != "projectid");
            match s
                .list_of::<ResourceCountResponse>("updateResourceCount", &params)
                .await
            {
                Ok((_, items)) => {
                    let counts: Vec<String> = items
                        .iter()
                        .filter(|c| c.resourcecount.unwrap_or(0) > 0)
                        .map(|c| {
                            format!(
                                "{} {}",
                                label(&plain(&c.resourcetypename)).to_lowercase(),
                                text(&c.resourcecount)
                            )
                        })
                        .collect();
                    let text = if counts.is_empty() {
                        "Usage recalculated: nothing in use.".to_string()
                    } else {
                        format!("Usage recalculated: {}.", counts.join(", "))
                    };
                    redirect_with(back, true, &text)
                }
                Err(e) => redirect_with(back, false, &e.text),
            }
        }
        other => redirect_with(back, false, &format!("Unknown action '{other}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_type_has_a_label_with_its_unit() {
        for (name, want) in [
            ("user_vm", "Instances"),
            ("memory", "Memory (MiB)"),
            ("primary_storage", "Primary storage (GiB)"),
            ("secondary_storage", "Secondary storage (GiB)"),
        ] {
            assert_eq!(label(name), want);
        }
        assert_eq!(label("gpu"), "gpu", "an unknown type is shown as named");
    }

    #[test]
    fn only_accounts_and_domains_are_recounted() {
        assert!(Owner::Domain { id: "d".into() }.recounts());
        assert!(!Owner::Project { id: "p".into() }.recounts());
        assert_eq!(
            Owner::Account {
                name: "a".into(),
                domainid: "d".into()
            }
            .params(),
            vec![("account", "a".to_string()), ("domainid", "d".to_string())]
        );
    }
}
