//! Volumes (the list; creating a data volume; each volume's page with its tags and the
//! actions its state allows: attach, detach, resize, migrate, delete; and, issue 16, take a
//! snapshot, its snapshots — revert, delete, a new volume from one — and its snapshot
//! policies), and adding primary and
//! secondary storage outside the Add Zone wizard (CloudStack's "Add Primary Storage" and
//! "Add Secondary Storage"): an NFS server and export, checked by the command layer the
//! same way (the export is mounted and its capacity read), so a wrong path is refused at
//! once with the reason and the form comes back as it was filled.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::de::DeserializeOwned;
use stratus_api::envelope::Reply;
use stratus_api::types::{
    ClusterResponse, DiskOfferingResponse, ImageStoreResponse, SnapshotPolicyResponse,
    SnapshotResponse, StoragePoolResponse, VirtualMachineResponse, VolumeResponse, ZoneResponse,
};
use stratus_api::ApiError;
use stratus_ui::wizard::nfs_url;
use stratus_ui::{Action, Cell, DetailPage, Field, FormPage, Link, ListPage, Row, Section, Table};
use uuid::Uuid;

use super::infra::cluster_options;
use super::show::{bytes_of, plain, text, when};
use super::{field, page_params, pager, redirect_with, Fields, Session};
use crate::ctx::Ctx;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/volumes", get(volumes))
        .route("/console/volumes/new", get(volume_form).post(create_volume))
        .route("/console/volumes/{id}", get(volume))
        .route("/console/volumes/{id}/action", post(volume_action))
        .route(
            "/console/primary-storage/new",
            get(primary_form).post(add_primary),
        )
        .route(
            "/console/secondary-storage/new",
            get(secondary_form).post(add_secondary),
        )
}

/// The volume list's sort keys, one per heading.
const VOLUME_SORTS: &[&str] = &[
    "name", "type", "instance", "state", "size", "zone", "storage", "account",
];

/// A volume's states (listVolumes has no state filter: it is applied here).
const VOLUME_STATES: &[&str] = &["Allocated", "Ready", "Destroy"];

fn volume_sort_key(v: &VolumeResponse, key: &str) -> String {
    match key {
        "type" => plain(&v.r#type),
        "instance" => plain(&v.vmdisplayname),
        "state" => plain(&v.state),
        "size" => super::lists::numeric_key(v.size.map(|b| b as f64)),
        "zone" => plain(&v.zonename),
        "storage" => plain(&v.storage),
        "account" => plain(&v.account),
        _ => plain(&v.name),
    }
}

/// Volumes (listVolumes), sorted and filtered like the instance list.
async fn volumes(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut params = page_params(&q);
    params.push(("listall", "true".into()));
    params.extend(s.scope());
    let mut arrange = super::lists::Arrange::new("/console/volumes", VOLUME_SORTS, &q);
    let filters = arrange
        .filters(
            &s,
            &q,
            &super::lists::Filters {
                states: VOLUME_STATES,
                state_param: false,
                zone: true,
                account: s.project.is_none(),
            },
            &mut params,
        )
        .await;
    let (total, items) = match s.list_of::<VolumeResponse>("listVolumes", &params).await {
        Ok(x) => x,
        Err(e) => return s.error_page("volumes", &e),
    };
    let super::lists::Arranged { items, total } =
        arrange.apply(total, items, volume_sort_key, |v| plain(&v.state));
    let rows = items
        .iter()
        .map(|v| Row {
            id: plain(&v.id),
            cells: vec![
                Cell::link(text(&v.name), format!("/console/volumes/{}", plain(&v.id))),
                Cell::text(text(&v.r#type)),
                match &v.virtualmachineid {
                    Some(vm) => {
                        Cell::link(text(&v.vmdisplayname), format!("/console/instances/{vm}"))
                    }
                    None => Cell::text("—"),
                },
                Cell::state(plain(&v.state)),
                Cell::num(bytes_of(&v.size)),
                Cell::text(text(&v.zonename)),
                Cell::text(text(&v.storage)),
                Cell::text(text(&v.account)),
            ],
            actions: vec![],
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name",
            "Type",
            "Instance",
            "State",
            "Size",
            "Zone",
            "Primary storage",
            "Account",
        ],
        rows,
        "No volumes match. Each instance has its root volume.",
    );
    table.numeric = vec![4];
    arrange.decorate(&mut table, &q, filters);
    s.page(&ListPage {
        frame: s.frame("volumes"),
        section: "Storage",
        title: "Volumes".into(),
        table,
        total,
        toolbar: vec![Link::primary("Create volume", "/console/volumes/new")],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: s.scope_note("volumes"),
        pager: pager("/console/volumes", &q, total),
        refresh: None,
    })
}

/// A volume's page: what it is, where it lives, which instance has it, and its tags.
async fn volume(s: Session, Path(id): Path<String>) -> Response {
    let v = match s
        .one_of::<VolumeResponse>(
            "listVolumes",
            &id,
            &[vec![("listall", "true".into())], s.scope()].concat(),
        )
        .await
    {
        Ok(Some(v)) => v,
        Ok(None) => return s.not_found("volumes", "volume"),
        Err(e) => return s.error_page("volumes", &e),
    };
    let id = plain(&v.id);
    let page = format!("/console/volumes/{id}");
    let fields = vec![
        ("ID".into(), Cell::mono(id.clone())),
        ("Type".into(), Cell::text(text(&v.r#type))),
        ("Size".into(), Cell::text(bytes_of(&v.size))),
        (
            "Instance".into(),
            match &v.virtualmachineid {
                Some(vm) => Cell::link(text(&v.vmdisplayname), format!("/console/instances/{vm}")),
                None => Cell::text("—"),
            },
        ),
        ("Zone".into(), Cell::text(text(&v.zonename))),
        ("Primary storage".into(), Cell::text(text(&v.storage))),
        (
            "Disk offering".into(),
            Cell::text(text(&v.diskofferingname)),
        ),
        ("Format".into(), Cell::text(text(&v.format))),
        ("Path".into(), Cell::mono(text(&v.path))),
        (
            "Owner".into(),
            Cell::text(format!("{} ({})", text(&v.account), text(&v.domain))),
        ),
        ("Created".into(), Cell::when(when(&v.created))),
    ];
    let tags = super::tags::section(&s, "Volume", &id, &page).await;
    let mut actions = volume_actions(&s, &v).await;
    let mut sections: Vec<Section> = vec![];
    if v.state.as_deref() == Some("Ready") {
        actions.push(
            Action::new("snapshot", "Take snapshot", format!("{page}/action"))
                .field("action", "snapshot")
                .input("name", "Snapshot name (optional)", "text", "", "Name"),
        );
        sections.extend(snapshot_sections(&s, &id, &page).await);
    }
    sections.extend(tags);
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("volumes"),
        title: text(&v.name),
        status: vec![Cell::state(plain(&v.state))],
        back: Link::new("Volumes", "/console/volumes"),
        toolbar: vec![],
        actions,
        fields,
        charts: vec![],
        sections,
        refresh: None,
    })
}

/// A volume's snapshots (revert, delete, a new volume from one) and its snapshot policies
/// (add, remove), issue 16 — all through the commands.
async fn snapshot_sections(s: &Session, id: &str, page: &str) -> Vec<Section> {
    let url = format!("{page}/action");
    let a = |name: &str, label: &str| Action::new(name, label, url.clone()).field("action", name);
    let snaps = s
        .list_of::<SnapshotResponse>(
            "listSnapshots",
            &[
                ("volumeid", id.to_string()),
                ("listall", "true".into()),
                ("page", "1".into()),
                ("pagesize", "500".into()),
            ],
        )
        .await
        .map(|(_, l)| l)
        .unwrap_or_default();
    let rows = snaps
        .iter()
        .map(|sn| {
            let sid = plain(&sn.id);
            let mut actions = vec![];
            if sn.state.as_deref() == Some("BackedUp") {
                actions.push(
                    a("revert", "Revert")
                        .field("snapshotid", sid.clone())
                        .danger("Yes, replace the volume's data with this snapshot"),
                );
                actions.push(
                    a("fromsnapshot", "New volume")
                        .field("snapshotid", sid.clone())
                        .input("name", "New volume's name", "text", "", "Name"),
                );
            }
            actions.push(
                a("deletesnapshot", "Delete")
                    .field("snapshotid", sid.clone())
                    .danger("Yes, delete this snapshot"),
            );
            Row {
                id: sid,
                cells: vec![
                    Cell::text(text(&sn.name)),
                    Cell::state(plain(&sn.state)),
                    Cell::text(text(&sn.intervaltype)),
                    Cell::text(bytes_of(&sn.physicalsize)),
                    Cell::when(when(&sn.created)),
                ],
                actions,
            }
        })
        .collect();
    let policies = s
        .list_of::<SnapshotPolicyResponse>("listSnapshotPolicies", &[("volumeid", id.to_string())])
        .await
        .map(|(_, l)| l)
        .unwrap_or_default();
    const INTERVALS: [&str; 4] = ["HOURLY", "DAILY", "WEEKLY", "MONTHLY"];
    let policy_rows = policies
        .iter()
        .map(|p| Row {
            id: plain(&p.id),
            cells: vec![
                Cell::text(
                    p.intervaltype
                        .and_then(|i| INTERVALS.get(i as usize))
                        .copied()
                        .unwrap_or("?"),
                ),
                Cell::mono(text(&p.schedule)),
                Cell::text(text(&p.timezone)),
                Cell::text(p.maxsnaps.map(|m| m.to_string()).unwrap_or_default()),
            ],
            actions: vec![a("removepolicy", "Remove").field("policyid", plain(&p.id))],
        })
        .collect();
    vec![
        Section {
            title: "Snapshots".into(),
            table: Table::new(
                "snapshots",
                &["Name", "State", "Interval", "Size", "Created"],
                rows,
                "No snapshots. Take one with the action above.",
            ),
            links: vec![],
            note: None,
            forms: vec![],
        },
        Section {
            title: "Snapshot policies".into(),
            table: Table::new(
                "snapshotpolicies",
                &["Interval", "Schedule", "Time zone", "Keep"],
                policy_rows,
                "No policies.",
            ),
            links: vec![],
            note: Some(
                "Schedule: MM (hourly), MM:HH (daily), MM:HH:DD (weekly, DD 1-7 from Sunday; monthly, DD the day)."
                    .into(),
            ),
            forms: vec![a("addpolicy", "Add policy")
                .select(
                    "intervaltype",
                    "Interval",
                    INTERVALS
                        .iter()
                        .map(|i| (i.to_string(), i.to_lowercase()))
                        .collect(),
                )
                .input("schedule", "Schedule", "text", "", "MM:HH")
                .input("timezone", "Time zone", "text", "UTC", "UTC, Europe/Berlin, UTC+05:30")
                .input("maxsnaps", "Keep", "number", "8", "8")],
        },
    ]
}

/// What a volume's page offers, as CloudStack allows it: a data volume is attached to an
/// instance of its owner in its zone (Running: hot-plugged; Stopped: at its next start),
/// detached, resized (grown live while its instance runs), moved to another pool while detached (root admins), and deleted
/// while detached. A root volume is its instance's, so it has none of these.
async fn volume_actions(s: &Session, v: &VolumeResponse) -> Vec<Action> {
    if v.r#type.as_deref() != Some("DATADISK") || v.state.as_deref() == Some("Destroy") {
        return vec![];
    }
    let id = plain(&v.id);
    let url = format!("/console/volumes/{id}/action");
    let a = |name: &str, label: &str| Action::new(name, label, url.clone()).field("action", name);
    let mut out = vec![];
    if v.virtualmachineid.is_some() {
        out.push(a("detach", "Detach"));
    } else {
        let vms = attachable_vms(s, v).await;
        if !vms.is_empty() {
            out.push(a("attach", "Attach").select("virtualmachineid", "Instance", vms));
        }
    }
    // A running instance's volume grows live and never shrinks (the server says so too).
    if v.vmstate.as_deref() == Some("Running") {
        out.push(a("resize", "Grow").input("size", "New size (GiB)", "number", gib_of(v.size), ""));
    } else {
        out.push(
            a("resize", "Resize")
                .input("size", "New size (GiB)", "number", gib_of(v.size), "")
                .checkbox("shrinkok", "Allow shrinking", false),
        );
    }
    if v.virtualmachineid.is_none() {
        if s.is_admin() {
            let pools = other_pools(s, v).await;
            if !pools.is_empty() {
                out.push(a("migrate", "Migrate").select("storageid", "To primary storage", pools));
            }
        }
        out.push(a("delete", "Delete").danger("Yes, delete the volume and its data"));
    }
    out
}

/// A size in bytes as whole GiB (what the resize field is typed in).
fn gib_of(size: Option<i64>) -> String {
    size.map(|b| (b >> 30).to_string()).unwrap_or_default()
}

/// The volume owner's instances in its zone that take volumes (Running or Stopped).
async fn attachable_vms(s: &Session, v: &VolumeResponse) -> Vec<(String, String)> {
    let mut params = vec![
        ("zoneid", plain(&v.zoneid)),
        ("listall", "true".to_string()),
        ("pagesize", "500".into()),
        ("page", "1".into()),
    ];
    match (&v.projectid, &v.account) {
        (Some(p), _) => params.push(("projectid", p.to_string())),
        (None, Some(account)) => {
            params.push(("account", account.clone()));
            params.push(("domainid", plain(&v.domainid)));
        }
        _ => {}
    }
    s.list_of::<VirtualMachineResponse>("listVirtualMachines", &params)
        .await
        .map(|(_, vms)| {
            vms.iter()
                .filter(|vm| matches!(vm.state.as_deref(), Some("Running" | "Stopped")))
                .map(|vm| {
                    (
                        plain(&vm.id),
                        format!("{} ({})", text(&vm.displayname), text(&vm.state)),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The other Up primary pools of the volume's zone.
async fn other_pools(s: &Session, v: &VolumeResponse) -> Vec<(String, String)> {
    let params = [
        ("zoneid", plain(&v.zoneid)),
        ("pagesize", "500".to_string()),
        ("page", "1".to_string()),
    ];
    s.list_of::<StoragePoolResponse>("listStoragePools", &params)
        .await
        .map(|(_, pools)| {
            pools
                .iter()
                .filter(|p| p.state.as_deref() == Some("Up") && p.id != v.storageid)
                .map(|p| (plain(&p.id), text(&p.name)))
                .collect()
        })
        .unwrap_or_default()
}

async fn volume_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let page = format!("/console/volumes/{id}");
    let vol = || ("id", id.clone());
    let (command, params, done, back): (&str, Vec<(&str, String)>, &str, String) =
        match field(&f, "action") {
            "attach" => (
                "attachVolume",
                vec![
                    vol(),
                    (
                        "virtualmachineid",
                        field(&f, "virtualmachineid").to_string(),
                    ),
                ],
                "The volume is attached.",
                page,
            ),
            "detach" => ("detachVolume", vec![vol()], "The volume is detached.", page),
            "resize" => {
                let gib = field(&f, "size").trim();
                let Ok(gib) = gib.parse::<u32>() else {
                    return redirect_with(&page, false, "Type the new size in whole GiB.");
                };
                let mut p = vec![vol(), ("size", gib.to_string())];
                if field(&f, "shrinkok") == "true" {
                    p.push(("shrinkok", "true".into()));
                }
                ("resizeVolume", p, "The volume is resized.", page)
            }
            "migrate" => (
                "migrateVolume",
                vec![
                    ("volumeid", id.clone()),
                    ("storageid", field(&f, "storageid").to_string()),
                ],
                "The volume is moved.",
                page,
            ),
            "delete" => (
                "deleteVolume",
                vec![vol()],
                "The volume is deleted.",
                "/console/volumes".into(),
            ),
            // Snapshots (issue 16).
            "snapshot" => {
                let mut p = vec![("volumeid", id.clone())];
                let name = field(&f, "name").trim();
                if !name.is_empty() {
                    p.push(("name", name.to_string()));
                }
                ("createSnapshot", p, "The snapshot is taken.", page)
            }
            // The volume page's names for a snapshot's own actions.
            a @ ("revert" | "deletesnapshot" | "fromsnapshot") => {
                let own = match a {
                    "revert" => "revert",
                    "deletesnapshot" => "delete",
                    _ => "createvolume",
                };
                let (command, params, done) =
                    super::snapshots::snapshot_action(own, &f).expect("one of its own");
                let back = if own == "createvolume" {
                    "/console/volumes".into()
                } else {
                    page
                };
                (command, params, done, back)
            }
            "addpolicy" => (
                "createSnapshotPolicy",
                vec![
                    ("volumeid", id.clone()),
                    ("intervaltype", field(&f, "intervaltype").to_string()),
                    ("schedule", field(&f, "schedule").trim().to_string()),
                    ("timezone", field(&f, "timezone").trim().to_string()),
                    ("maxsnaps", field(&f, "maxsnaps").trim().to_string()),
                ],
                "The snapshot policy is added.",
                page,
            ),
            "removepolicy" => (
                "deleteSnapshotPolicies",
                vec![("id", field(&f, "policyid").to_string())],
                "The snapshot policy is removed.",
                page,
            ),
            other => return redirect_with(&page, false, &format!("Unknown action '{other}'")),
        };
    s.act(command, &params, &back, done).await
}

/// The Create volume form: a name, the zone, and a disk offering or a size.
async fn volume_fields(s: &Session, f: &HashMap<String, String>) -> Vec<Field> {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let offerings = s
        .list_of::<DiskOfferingResponse>(
            "listDiskOfferings",
            &[("pagesize", "500".into()), ("page", "1".into())],
        )
        .await
        .map(|(_, items)| {
            items
                .iter()
                .map(|d| {
                    let size = if d.iscustomized == Some(true) {
                        "custom size".to_string()
                    } else {
                        format!("{} GB", text(&d.disksize))
                    };
                    (plain(&d.id), format!("{} ({size})", text(&d.name)))
                })
                .collect()
        })
        .unwrap_or_default();
    vec![
        Field::text("name", "Name", get("name"), true).placeholder("data1"),
        Field::select("zoneid", "Zone", get("zoneid"), zone_options(s).await),
        Field::select(
            "diskofferingid",
            "Disk offering",
            get("diskofferingid"),
            offerings,
        ),
        Field::text("size", "Size (GiB)", get("size"), false)
            .placeholder("20")
            .help("For an offering of custom size."),
    ]
}

fn volume_page(s: &Session, fields: Vec<Field>, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("volumes"),
        section: "Storage",
        title: "Create volume".into(),
        intro: Some(
            "A data disk, placed on a primary storage of the zone. It takes no room on the storage's disk until it is first attached to an instance."
                .into(),
        ),
        action: "/console/volumes/new".into(),
        fields,
        error,
        submit: "Create volume".into(),
        cancel: "/console/volumes".into(),
        refresh: None,
    }
}

async fn volume_form(s: Session) -> Response {
    let fields = volume_fields(&s, &HashMap::new()).await;
    s.page(&volume_page(&s, fields, None))
}

async fn create_volume(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let v = |k: &str| field(&f, k).trim().to_string();
    let mut params = vec![("name", v("name")), ("zoneid", v("zoneid"))];
    for k in ["diskofferingid", "size"] {
        if !v(k).is_empty() {
            params.push((k, v(k)));
        }
    }
    // In a project's view the volume is the project's.
    params.extend(s.scope());
    match s.call("createVolume", &params).await {
        Ok(Reply::Job { id: Some(id), .. }) => redirect_with(
            &format!("/console/volumes/{id}"),
            true,
            "The volume is created. It is Allocated until it is first attached.",
        ),
        Ok(_) => redirect_with("/console/volumes", true, "The volume is created."),
        Err(e) => {
            let fields = volume_fields(&s, &kept(&f)).await;
            s.page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &volume_page(&s, fields, Some(e.text)),
            )
        }
    }
}

async fn zone_options(s: &Session) -> Vec<(String, String)> {
    s.list_of::<ZoneResponse>(
        "listZones",
        &[("pagesize", "500".into()), ("page", "1".into())],
    )
    .await
    .map(|(_, zones)| {
        zones
            .iter()
            .map(|z| (plain(&z.id), text(&z.name)))
            .collect()
    })
    .unwrap_or_default()
}

fn nfs_fields(f: &HashMap<String, String>) -> [Field; 2] {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    [
        Field::text("server", "NFS server", get("server"), true)
            .placeholder("10.0.0.5")
            .help("The NFS server's address, as the hosts and this server reach it."),
        Field::text("path", "Path", get("path"), true).placeholder("/export/primary"),
    ]
}

/// Where a pool goes: a cluster (`cluster:ID`) or a whole zone (`zone:ID`).
async fn primary_fields(s: &Session, f: &HashMap<String, String>) -> Vec<Field> {
    let mut places: Vec<(String, String)> = cluster_options(s)
        .await
        .into_iter()
        .map(|(id, label)| (format!("cluster:{id}"), format!("Cluster {label}")))
        .collect();
    places.extend(
        zone_options(s)
            .await
            .into_iter()
            .map(|(id, name)| (format!("zone:{id}"), format!("Zone {name} (zone-wide)"))),
    );
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let mut fields = vec![
        Field::text("name", "Name", get("name"), true).placeholder("Primary2"),
        Field::select("scope", "Scope", get("scope"), places)
            .help("A cluster's hosts use cluster-wide storage; every host of the zone uses zone-wide storage."),
    ];
    fields.extend(nfs_fields(f));
    fields.push(
        Field::text("tags", "Storage tags", get("tags"), false)
            .placeholder("ssd,fast")
            .help("Comma-separated; volumes of offerings with storage tags go only to storage carrying all of them."),
    );
    fields
}

fn primary_page(s: &Session, fields: Vec<Field>, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("primary-storage"),
        section: "Primary storage",
        title: "Add primary storage".into(),
        intro: Some(
            "An NFS export for instances' disks. It is mounted and measured before it is added."
                .into(),
        ),
        action: "/console/primary-storage/new".into(),
        fields,
        error,
        submit: "Add primary storage".into(),
        cancel: "/console/primary-storage".into(),
        refresh: None,
    }
}

async fn primary_form(s: Session) -> Response {
    let fields = primary_fields(&s, &HashMap::new()).await;
    s.page(&primary_page(&s, fields, None))
}

/// The created object's id from a create command's answer, read as its type `T`.
fn created_id<T: DeserializeOwned>(
    command: &str,
    r: Reply,
    id: fn(T) -> Option<Uuid>,
) -> Result<String, ApiError> {
    Ok(super::created::<T>(command, r)?
        .and_then(id)
        .map(|id| id.to_string())
        .unwrap_or_default())
}

/// The form's values to show again after a refusal (never the CSRF token).
fn kept(f: &Fields) -> HashMap<String, String> {
    f.iter()
        .filter(|(k, _)| k != "sessionkey")
        .cloned()
        .collect()
}

async fn add_primary(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let v = |k: &str| field(&f, k).trim().to_string();
    let mut params = vec![
        ("name", v("name")),
        ("url", nfs_url(&v("server"), &v("path"))),
    ];
    if !v("tags").is_empty() {
        params.push(("tags", v("tags")));
    }
    let place = match v("scope").split_once(':') {
        Some(("cluster", id)) => match s.one_of::<ClusterResponse>("listClusters", id, &[]).await {
            Ok(Some(c)) => {
                params.extend([
                    ("scope", "cluster".to_string()),
                    ("zoneid", plain(&c.zoneid)),
                    ("podid", plain(&c.podid)),
                    ("clusterid", id.to_string()),
                ]);
                Ok(())
            }
            Ok(None) => Err(ApiError::param("That cluster no longer exists.")),
            Err(e) => Err(e),
        },
        Some(("zone", id)) => {
            params.extend([
                ("scope", "zone".to_string()),
                ("zoneid", id.to_string()),
                ("hypervisor", "KVM".to_string()),
            ]);
            Ok(())
        }
        _ => Err(ApiError::param(
            "Choose where the storage is used: a cluster or a zone.",
        )),
    };
    const CREATE: &str = "createStoragePool";
    let result = match place {
        Ok(()) => match s.call(CREATE, &params).await {
            Ok(r) => created_id(CREATE, r, |p: StoragePoolResponse| p.id),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => redirect_with(
            &format!("/console/primary-storage/{id}"),
            true,
            "The primary storage was added.",
        ),
        Err(e) => {
            let fields = primary_fields(&s, &kept(&f)).await;
            s.page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &primary_page(&s, fields, Some(e.text)),
            )
        }
    }
}

async fn secondary_fields(s: &Session, f: &HashMap<String, String>) -> Vec<Field> {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let mut fields = vec![
        Field::text("name", "Name", get("name"), true).placeholder("Secondary2"),
        Field::select("zoneid", "Zone", get("zoneid"), zone_options(s).await),
    ];
    fields.extend(nfs_fields(f));
    fields
}

fn secondary_page(s: &Session, fields: Vec<Field>, error: Option<String>) -> FormPage {
    FormPage {
        frame: s.frame("secondary-storage"),
        section: "Secondary storage",
        title: "Add secondary storage".into(),
        intro: Some(
            "An NFS export for the zone's ISOs. It is mounted and measured before it is added."
                .into(),
        ),
        action: "/console/secondary-storage/new".into(),
        fields,
        error,
        submit: "Add secondary storage".into(),
        cancel: "/console/secondary-storage".into(),
        refresh: None,
    }
}

async fn secondary_form(s: Session) -> Response {
    let fields = secondary_fields(&s, &HashMap::new()).await;
    s.page(&secondary_page(&s, fields, None))
}

async fn add_secondary(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let v = |k: &str| field(&f, k).trim().to_string();
    let params = [
        ("provider", "NFS".to_string()),
        ("name", v("name")),
        ("zoneid", v("zoneid")),
        ("url", nfs_url(&v("server"), &v("path"))),
    ];
    const ADD: &str = "addImageStore";
    let result = match s.call(ADD, &params).await {
        Ok(r) => created_id(ADD, r, |st: ImageStoreResponse| st.id),
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => redirect_with(
            &format!("/console/secondary-storage/{id}"),
            true,
            "The secondary storage was added.",
        ),
        Err(e) => {
            let fields = secondary_fields(&s, &kept(&f)).await;
            s.page_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &secondary_page(&s, fields, Some(e.text)),
            )
        }
    }
}
