//! Snapshots in the web console (issue 16): the Snapshots list — every volume snapshot
//! the caller may see (root admins: all), filtered, sorted and paged like the other
//! lists, each with what CloudStack allows it: revert its volume to it, a new volume or
//! a template from it, delete it — and an instance's VM snapshots (take one, with its
//! memory while the instance runs; revert to one; delete one).
//!
//! Every action is the API command a CloudStack client sends (revertSnapshot,
//! createVolume, createTemplate, deleteSnapshot, createVMSnapshot, revertToVMSnapshot,
//! deleteVMSnapshot), run through the command layer as the signed-in user, so the rules
//! and the refusals are the API's; async ones are followed on the job's page when they
//! outlast the form's wait, as every other console action.

use std::collections::HashMap;

use axum::extract::Query;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::types::{
    OsTypeResponse, SnapshotResponse, VirtualMachineResponse, VmSnapshotResponse,
};
use stratus_ui::{Action, Cell, Field, ListPage, Row, Section, Table};

use super::lists::{self, Arrange, Arranged, Filters};
use super::show::{bytes_of, plain, text, when};
use super::{field, local_path, page_params, pager, redirect_with, Fields, Session};
use crate::ctx::Ctx;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/snapshots", get(list))
        .route("/console/snapshots/action", post(action))
}

const LIST: &str = "/console/snapshots";

/// The list's sort keys, one per heading.
const SORTS: &[&str] = &[
    "name", "volume", "state", "type", "size", "zone", "account", "created",
];

/// A volume snapshot's states (listSnapshots has no state filter: it is applied here).
const STATES: &[&str] = &["BackedUp", "Creating", "BackingUp", "Allocated", "Error"];

/// listSnapshots' `snapshottype` values.
const TYPES: &[&str] = &["MANUAL", "RECURRING"];

fn sort_key(sn: &SnapshotResponse, key: &str) -> String {
    match key {
        "volume" => plain(&sn.volumename),
        "state" => plain(&sn.state),
        "type" => plain(&sn.snapshottype),
        "size" => lists::numeric_key(sn.physicalsize.map(|b| b as f64)),
        "zone" => plain(&sn.zonename),
        "account" => plain(&sn.account),
        "created" => plain(&sn.created),
        _ => plain(&sn.name),
    }
}

/// Whether a snapshot is being made (no action applies to it yet).
fn in_progress(state: &str) -> bool {
    matches!(state, "Allocated" | "Creating" | "BackingUp")
}

/// Snapshots (listSnapshots), sorted, filtered (keyword, state, type, zone, account) and
/// paged like the volume list.
async fn list(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut params = page_params(&q);
    params.push(("listall", "true".into()));
    params.extend(s.scope());
    let mut arrange = Arrange::new(LIST, SORTS, &q);
    let mut filters = arrange
        .filters(
            &s,
            &q,
            &Filters {
                states: STATES,
                state_param: false,
                zone: true,
                account: s.project.is_none(),
            },
            &mut params,
        )
        .await;
    // MANUAL or RECURRING: listSnapshots' own filter.
    let kind = q.get("snapshottype").cloned().unwrap_or_default();
    if TYPES.contains(&kind.as_str()) {
        params.push(("snapshottype", kind.clone()));
    }
    let mut kinds = vec![(String::new(), "Any type".to_string())];
    kinds.extend(TYPES.iter().map(|t| (t.to_string(), t.to_string())));
    filters.insert(
        1.min(filters.len()),
        Field::select("snapshottype", "Type", kind, kinds),
    );
    let (total, items) = match s
        .list_of::<SnapshotResponse>("listSnapshots", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("snapshots", &e),
    };
    let Arranged { items, total } = arrange.apply(total, items, sort_key, |sn| plain(&sn.state));
    // Where each row's forms come back to: this very list (its filters, sort and page).
    let back = format!("{LIST}{}", super::query_string(&sorted_query(&q)));
    let os_types = if items
        .iter()
        .any(|sn| sn.state.as_deref() == Some("BackedUp"))
    {
        os_types(&s).await
    } else {
        vec![]
    };
    let busy = items.iter().any(|sn| in_progress(&plain(&sn.state)));
    let rows = items
        .iter()
        .map(|sn| Row {
            id: plain(&sn.id),
            cells: vec![
                Cell::text(text(&sn.name)),
                match &sn.volumeid {
                    Some(v) => Cell::link(text(&sn.volumename), format!("/console/volumes/{v}")),
                    None => Cell::text("—"),
                },
                Cell::state(plain(&sn.state)),
                Cell::text(text(&sn.snapshottype)),
                Cell::num(bytes_of(&sn.physicalsize)),
                Cell::text(text(&sn.zonename)),
                Cell::text(text(&sn.account)),
                Cell::when(when(&sn.created)),
            ],
            actions: row_actions(sn, &os_types, &back),
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name", "Volume", "State", "Type", "Size", "Zone", "Account", "Created",
        ],
        rows,
        "No snapshots match. Take one from a volume's page.",
    );
    table.numeric = vec![4];
    arrange.decorate(&mut table, &q, filters);
    s.page(&ListPage {
        frame: s.frame("snapshots"),
        section: "Storage",
        title: "Snapshots".into(),
        table,
        total,
        toolbar: vec![],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: s.scope_note("snapshots").or_else(|| {
            busy.then(|| "This page refreshes itself while a snapshot is being made.".into())
        }),
        pager: pager(LIST, &q, total),
        refresh: busy.then_some(5),
    })
}

/// The query's pairs in a stable order (where the forms come back to).
fn sorted_query(q: &HashMap<String, String>) -> Vec<(&str, String)> {
    let mut pairs: Vec<(&str, String)> = q.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    pairs.sort();
    pairs
}

/// What a snapshot's row offers, as CloudStack allows it: a BackedUp snapshot of a live
/// volume is reverted to (`revertable`; the command still refuses while the volume's
/// instance runs, and says so); a BackedUp one makes a new volume or a template; one
/// not being made is deleted.
fn row_actions(sn: &SnapshotResponse, os_types: &[(String, String)], back: &str) -> Vec<Action> {
    let sid = plain(&sn.id);
    let a = |name: &str, label: &str| {
        Action::new(name, label, format!("{LIST}/action"))
            .field("action", name)
            .field("snapshotid", sid.clone())
            .field("back", back)
    };
    let state = plain(&sn.state);
    let mut out = vec![];
    if sn.revertable == Some(true) {
        // Short in a row (the instance list's way): the button says what it does.
        out.push(a("revert", "Revert").danger("Yes"));
    }
    if state == "BackedUp" {
        out.push(a("createvolume", "Create volume").optional_input(
            "name",
            "New volume's name",
            "text",
            "Volume name (optional)",
        ));
        if !os_types.is_empty() {
            // The snapshot's volume's OS type first: the one the template most likely is.
            let own = plain(&sn.ostypeid);
            let mut choices: Vec<(String, String)> = os_types
                .iter()
                .filter(|(id, _)| *id == own)
                .cloned()
                .collect();
            choices.extend(os_types.iter().filter(|(id, _)| *id != own).cloned());
            out.push(
                a("createtemplate", "Create template")
                    .input("name", "Template name", "text", "", "Template name")
                    .select("ostypeid", "OS type", choices),
            );
        }
    }
    if !in_progress(&state) {
        out.push(a("delete", "Delete").danger("Yes"));
    }
    out
}

/// The OS types a template may be (id, description), by description.
async fn os_types(s: &Session) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = s
        .list_of::<OsTypeResponse>("listOsTypes", &lists::all_rows(&[]))
        .await
        .map(|(_, items)| {
            items
                .iter()
                .map(|o| (plain(&o.id), text(&o.description)))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

async fn action(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = local_path(field(&f, "back"), LIST);
    let (command, params, done, back): (&str, Vec<(&str, String)>, &str, String) =
        match field(&f, "action") {
            a @ ("revert" | "delete" | "createvolume") => {
                let (command, params, done) = snapshot_action(a, &f).expect("one of its own");
                let back = if a == "createvolume" {
                    "/console/volumes".into()
                } else {
                    back
                };
                (command, params, done, back)
            }
            "createtemplate" => {
                let name = field(&f, "name").trim().to_string();
                (
                    "createTemplate",
                    vec![
                        ("snapshotid", field(&f, "snapshotid").to_string()),
                        ("displaytext", name.clone()),
                        ("name", name),
                        ("ostypeid", field(&f, "ostypeid").to_string()),
                    ],
                    "A template is made from the snapshot.",
                    "/console/templates".into(),
                )
            }
            other => return redirect_with(&back, false, &format!("Unknown action '{other}'")),
        };
    s.act(command, &params, &back, done).await
}

// --- An instance's VM snapshots -----------------------------------------------------------

/// VM snapshot states that change on their own: the instance's page refreshes itself.
pub(crate) fn vm_snapshot_busy(state: &str) -> bool {
    matches!(state, "Allocated" | "Creating" | "Reverting" | "Expunging")
}

/// An instance's VM snapshots (listVMSnapshot): each with Revert to (Ready) and Delete,
/// and the form that takes one — while the instance is Running (with its memory, the
/// box ticked: KVM refuses a running guest's disks alone) or Stopped (its disks). None
/// for an instance that has none and can take none (a failed deploy, a destroyed one).
/// The second value: whether one is changing state (the page then refreshes itself).
pub(crate) async fn vm_section(
    s: &Session,
    vm: &VirtualMachineResponse,
) -> (Option<Section>, bool) {
    let id = plain(&vm.id);
    let url = format!("/console/instances/{id}/action");
    let a = |name: &str, label: &str| Action::new(name, label, url.clone()).field("action", name);
    let snaps = s
        .list_of::<VmSnapshotResponse>(
            "listVMSnapshot",
            &lists::all_rows(&[("virtualmachineid", id.clone()), ("listall", "true".into())]),
        )
        .await
        .map(|(_, l)| l)
        .unwrap_or_default();
    let state = plain(&vm.state);
    let can_take = matches!(state.as_str(), "Running" | "Stopped");
    if snaps.is_empty() && !can_take {
        return (None, false);
    }
    let busy = snaps.iter().any(|sn| vm_snapshot_busy(&plain(&sn.state)));
    let rows = snaps
        .iter()
        .map(|sn| {
            let sid = plain(&sn.id);
            let state = plain(&sn.state);
            let mut actions = vec![];
            if state == "Ready" {
                actions.push(
                    a("vmsnapshotrevert", "Revert to")
                        .field("vmsnapshotid", sid.clone())
                        .danger("Yes, return the instance to this snapshot"),
                );
            }
            if matches!(state.as_str(), "Ready" | "Error") {
                actions.push(
                    a("vmsnapshotdelete", "Delete")
                        .field("vmsnapshotid", sid.clone())
                        .danger("Yes, delete this VM snapshot"),
                );
            }
            Row {
                id: sid,
                cells: vec![
                    Cell::text(text(&sn.displayname)),
                    Cell::text(plain(&sn.description)),
                    Cell::text(text(&sn.r#type)),
                    Cell::state(state),
                    Cell::text(if sn.current == Some(true) {
                        "Yes"
                    } else {
                        "No"
                    }),
                    Cell::text(text(&sn.parentName)),
                    Cell::when(when(&sn.created)),
                ],
                actions,
            }
        })
        .collect();
    let mut forms = vec![];
    if can_take {
        let mut take = a("vmsnapshot", "Take VM snapshot")
            .optional_input("name", "VM snapshot name", "text", "Name (optional)")
            .optional_input(
                "description",
                "Description",
                "text",
                "Description (optional)",
            );
        if state == "Running" {
            take = take.checkbox("snapshotmemory", "With memory", true);
        }
        forms.push(take);
    }
    let section = Section {
        title: "VM snapshots".into(),
        table: Table::new(
            "vmsnapshots",
            &[
                "Name",
                "Description",
                "Type",
                "State",
                "Current",
                "Parent",
                "Created",
            ],
            rows,
            "No VM snapshots.",
        ),
        links: vec![],
        note: Some(if state == "Running" {
            "A running instance's snapshot holds its memory too; it is reverted to while the instance runs.".into()
        } else {
            "A stopped instance's snapshot holds its disks; it is reverted to while the instance is stopped.".into()
        }),
        forms,
    };
    (Some(section), busy)
}

/// A command for a form: its name, its parameters, and what to say when it is done.
pub(crate) type FormCommand = (&'static str, Vec<(&'static str, String)>, &'static str);

/// A snapshot's actions on the Snapshots page and on its volume's page: `revert`,
/// `delete` and `createvolume` (an optional name) of the form's `snapshotid`. None: not
/// one of them.
pub(crate) fn snapshot_action(action: &str, f: &Fields) -> Option<FormCommand> {
    let snapshot = field(f, "snapshotid").to_string();
    Some(match action {
        "revert" => (
            "revertSnapshot",
            vec![("id", snapshot)],
            "The volume is reverted to the snapshot.",
        ),
        "delete" => (
            "deleteSnapshot",
            vec![("id", snapshot)],
            "The snapshot is deleted.",
        ),
        "createvolume" => {
            let mut p = vec![("snapshotid", snapshot)];
            let name = field(f, "name").trim();
            if !name.is_empty() {
                p.push(("name", name.to_string()));
            }
            ("createVolume", p, "A new volume is made from the snapshot.")
        }
        _ => return None,
    })
}

/// An instance page's VM snapshot actions (`vmsnapshot`, `vmsnapshotrevert`,
/// `vmsnapshotdelete`): the command and its parameters, and what to say when it is done.
/// None: not one of them.
pub(crate) fn vm_action(vm: &str, f: &Fields) -> Option<FormCommand> {
    let snap = || vec![("vmsnapshotid", field(f, "vmsnapshotid").to_string())];
    Some(match field(f, "action") {
        "vmsnapshot" => {
            let mut p = vec![("virtualmachineid", vm.to_string())];
            for k in ["name", "description"] {
                let v = field(f, k).trim();
                if !v.is_empty() {
                    p.push((k, v.to_string()));
                }
            }
            p.push((
                "snapshotmemory",
                (field(f, "snapshotmemory") == "true").to_string(),
            ));
            ("createVMSnapshot", p, "The VM snapshot is taken.")
        }
        "vmsnapshotrevert" => (
            "revertToVMSnapshot",
            snap(),
            "The instance is reverted to the VM snapshot.",
        ),
        "vmsnapshotdelete" => ("deleteVMSnapshot", snap(), "The VM snapshot is deleted."),
        _ => return None,
    })
}
