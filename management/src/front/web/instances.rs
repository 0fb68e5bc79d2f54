//! Instances in the web console: the list, the Add Instance wizard (zone → ISO → compute
//! offering → disk offering → network → SSH key pair → review → launch), each instance's
//! page with the actions its state allows, and the VM console page (noVNC over the
//! management server's WebSocket proxy, `console_proxy`).
//!
//! Every action is the API command a CloudStack client would send (startVirtualMachine,
//! attachIso, createConsoleEndpoint…), run through the command layer as the signed-in
//! user, so the state machine's rules and errors are the API's.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::envelope::Reply;
use stratus_api::types::{
    ConsoleEndpointResponse, DiskOfferingResponse, EventResponse, HostForMigrationResponse,
    IsoResponse, NetworkResponse, SecurityGroupResponse, ServiceOfferingResponse,
    SshKeyPairResponse, TemplateResponse, VirtualMachineResponse, VmStatsItem, VmStatsResponse,
    VolumeResponse, ZoneResponse,
};
use stratus_api::ApiError;
use stratus_ui::chart::{self, Series};
use stratus_ui::format::bytes;
use stratus_ui::launch::{self, Choices, Go, LaunchState, STEPS};
use stratus_ui::{
    Action, Banner, Cell, DetailPage, Field, LaunchPage, Link, ListPage, PasswordPage, Row,
    Section, StepTab, Table, VncPage,
};

use super::infra::{link_to, row};
use super::lists;
use super::show::{big, bytes_of, float, number, plain, text, when};
use super::{field, page_params, pager, query_string, redirect_with, Fields, Outcome, Session};
use crate::ctx::Ctx;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/instances", get(list))
        .route(
            "/console/instances/new",
            get(launch_start).post(launch_step),
        )
        .route("/console/instances/{id}", get(detail))
        .route("/console/instances/{id}/action", post(action))
        .route("/console/instances/bulk", post(bulk))
        .route("/console/vms/{id}/vnc", get(vnc_page))
}

/// States an instance passes through on its own: pages showing one refresh themselves.
fn transitional(state: &str) -> bool {
    matches!(state, "Starting" | "Stopping" | "Expunging" | "Migrating")
}

/// Seconds between refreshes while an instance is changing state.
const REFRESH: u32 = 2;

fn detail_path(id: &str) -> String {
    format!("/console/instances/{id}")
}

/// The first address of an instance (its default NIC's).
fn address(v: &VirtualMachineResponse) -> String {
    let nic = v
        .nic
        .iter()
        .find(|x| x.isdefault == Some(true))
        .or_else(|| v.nic.first())
        .map(|n| plain(&n.ipaddress))
        .unwrap_or_default();
    if nic.is_empty() {
        text(&v.ipaddress)
    } else {
        nic
    }
}

/// Memory in MiB, shown in binary units.
fn mebibytes(m: &Option<i32>) -> String {
    bytes(float(m).unwrap_or(0.0) * 1048576.0)
}

/// The buttons an instance in `state` offers. `full` adds the ISO and destroy choices
/// of the instance's own page; a list row keeps to the everyday ones.
fn actions_for(
    v: &VirtualMachineResponse,
    isos: &[(String, String)],
    keys: &[(String, String)],
    full: bool,
) -> Vec<Action> {
    let id = plain(&v.id);
    let url = format!("{}/action", detail_path(&id));
    let a = |name: &str, label: &str| Action::new(name, label, url.clone()).field("action", name);
    let has_iso = v.isoid.is_some();
    let state = v.state.as_deref().unwrap_or("");
    let mut out = vec![];
    match state {
        "Running" => {
            out.push(a("console", "View console"));
            out.push(a("stop", "Stop"));
            if full {
                out.push(a("forcestop", "Force stop"));
            }
            out.push(a("reboot", "Reboot"));
        }
        "Stopped" => {
            out.push(a("start", "Start"));
            if full && v.passwordenabled == Some(true) {
                out.push(a("resetpassword", "Reset password"));
            }
            if full && !keys.is_empty() {
                out.push(a("resetsshkey", "Reset SSH key").select(
                    "keypair",
                    "Key pair",
                    keys.to_vec(),
                ));
            }
        }
        "Destroyed" => {
            out.push(a("recover", "Recover"));
            if full {
                out.push(a("expunge", "Expunge").danger("Yes, expunge: its disk is deleted"));
            }
        }
        _ => {}
    }
    if !full {
        if matches!(state, "Running" | "Stopped" | "Error") {
            // Short in a row; the instance's page says more.
            out.push(a("destroy", "Destroy").danger("Yes"));
        }
        return out;
    }
    if matches!(state, "Running" | "Stopped") {
        if has_iso {
            out.push(a("detachiso", "Detach ISO"));
        } else if !isos.is_empty() {
            out.push(a("attachiso", "Attach ISO").select("isoid", "ISO", isos.to_vec()));
        }
    }
    if matches!(state, "Running" | "Stopped" | "Error") {
        out.push(
            a("destroy", "Destroy")
                .danger("Yes, destroy (it can be recovered until it is expunged)"),
        );
        out.push(
            a("destroyexpunge", "Destroy and expunge")
                .danger("Yes, destroy and delete its disk now"),
        );
    }
    out
}

/// Migrate (root admins, a Running instance): to one of the hosts findHostsForMigration
/// finds suitable, or to the best one.
async fn migrate_action(s: &Session, v: &VirtualMachineResponse) -> Vec<Action> {
    if !s.is_admin() || v.state.as_deref() != Some("Running") {
        return vec![];
    }
    let id = plain(&v.id);
    let params = [
        ("id", id.clone()),
        ("pagesize", "500".to_string()),
        ("page", "1".to_string()),
    ];
    let Ok((_, hosts)) = s
        .list_of::<HostForMigrationResponse>("findHostsForMigration", &params)
        .await
    else {
        return vec![];
    };
    let mut choices: Vec<(String, String)> = hosts
        .iter()
        .filter(|h| h.suitableformigration == Some(true))
        .map(|h| (plain(&h.id), text(&h.name)))
        .collect();
    if choices.is_empty() {
        return vec![];
    }
    choices.insert(0, (String::new(), "The best host".to_string()));
    vec![
        Action::new("migrate", "Migrate", format!("{}/action", detail_path(&id)))
            .field("action", "migrate")
            .select("hostid", "To host", choices),
    ]
}

/// The instance list's columns that sort, by their `sort` key.
const SORTS: &[&str] = &[
    "name",
    "displayname",
    "state",
    "ip",
    "zone",
    "host",
    "offering",
    "iso",
    "account",
];

/// A row's value for a sort key.
fn sort_key(v: &VirtualMachineResponse, key: &str) -> String {
    match key {
        "displayname" => plain(&v.displayname),
        "state" => plain(&v.state),
        // Addresses sort by number, not as text.
        "ip" => lists::address_key(&address(v)),
        "zone" => plain(&v.zonename),
        "host" => plain(&v.hostname),
        "offering" => plain(&v.serviceofferingname),
        "iso" => plain(&v.isoname),
        "account" => plain(&v.account),
        _ => plain(&v.name),
    }
}

async fn list(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut params = page_params(&q);
    params.push(("listall", "true".into()));
    // A project's view lists the project's instances (its account filter is the project).
    params.extend(s.scope());
    let mut arrange = lists::Arrange::new("/console/instances", SORTS, &q);
    let filters = arrange
        .filters(
            &s,
            &q,
            &lists::Filters {
                states: super::VM_STATES,
                state_param: true,
                zone: true,
                account: s.project.is_none(),
            },
            &mut params,
        )
        .await;
    let (total, items) = match s
        .list_of::<VirtualMachineResponse>("listVirtualMachines", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("instances", &e),
    };
    let lists::Arranged { items, total } =
        arrange.apply(total, items, sort_key, |v| plain(&v.state));
    let changing = items.iter().any(|v| transitional(&plain(&v.state)));
    let back = format!(
        "/console/instances{}",
        query_string(
            &q.iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .collect::<Vec<_>>()
        )
    );
    let rows = items
        .iter()
        .map(|v| {
            let mut r = row(
                &v.id,
                vec![
                    Cell::link(text(&v.name), detail_path(&plain(&v.id))),
                    Cell::text(text(&v.displayname)),
                    Cell::state(plain(&v.state)),
                    Cell::mono(address(v)),
                    link_to(&v.zonename, &v.zoneid, "/console/zones"),
                    if s.is_admin() {
                        link_to(&v.hostname, &v.hostid, "/console/hosts")
                    } else {
                        Cell::text(text(&v.hostname))
                    },
                    Cell::text(text(&v.serviceofferingname)),
                    Cell::text(text(&v.isoname)),
                    Cell::text(text(&v.account)),
                ],
            );
            r.actions = actions_for(v, &[], &[], false)
                .into_iter()
                .map(|a| a.field("back", back.clone()))
                .collect();
            r
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name",
            "Display name",
            "State",
            "IP address",
            "Zone",
            "Host",
            "Offering",
            "ISO",
            "Account",
        ],
        rows,
        "No instances match. Launch one with + Add instance.",
    );
    arrange.decorate(&mut table, &q, filters);
    table.live = true;
    table.bulk = [
        ("start", "Start"),
        ("stop", "Stop"),
        ("reboot", "Reboot"),
        ("destroy", "Destroy"),
    ]
    .iter()
    .map(|(v, l)| (v.to_string(), l.to_string()))
    .collect();
    table.bulk_action = "/console/instances/bulk".into();
    table.bulk_confirm = "Yes, to every selected instance".into();
    table.bulk_fields = vec![("back".into(), back.clone())];
    s.page(&ListPage {
        frame: s.frame("instances"),
        section: "Compute",
        title: "Instances".into(),
        table,
        total,
        toolbar: vec![Link::primary("+ Add instance", "/console/instances/new")],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: changing
            .then(|| "This page refreshes itself while an instance changes state.".into())
            .or_else(|| s.scope_note("instances")),
        pager: pager("/console/instances", &q, total),
        refresh: changing.then_some(REFRESH),
    })
}

/// Key pairs the caller may put into an instance (name → name).
async fn owner_keys(s: &Session) -> Vec<(String, String)> {
    s.list_of::<SshKeyPairResponse>("listSSHKeyPairs", &rows_params(&[]))
        .await
        .map(|(_, keys)| {
            keys.into_iter()
                .filter_map(|k| k.name)
                .map(|n| (n.clone(), n))
                .collect()
        })
        .unwrap_or_default()
}

/// ISOs the instance's zone can attach: bootable or not, ready there.
async fn attachable_isos(s: &Session, zone: &str) -> Vec<(String, String)> {
    let p = [
        ("isofilter", "executable".to_string()),
        ("zoneid", zone.to_string()),
        ("isready", "true".to_string()),
        ("pagesize", "500".into()),
        ("page", "1".into()),
    ];
    s.list_of::<IsoResponse>("listIsos", &p)
        .await
        .map(|(_, items)| {
            items
                .iter()
                .map(|i| (plain(&i.id), text(&i.name)))
                .collect()
        })
        .unwrap_or_default()
}

async fn detail(s: Session, Path(id): Path<String>) -> Response {
    let v = match s
        .one_of::<VirtualMachineResponse>(
            "listVirtualMachines",
            &id,
            &[vec![("listall", "true".into())], s.scope()].concat(),
        )
        .await
    {
        Ok(Some(v)) => v,
        Ok(None) => return s.not_found("instances", "instance"),
        Err(e) => return s.error_page("instances", &e),
    };
    let state = plain(&v.state);
    let isos = attachable_isos(&s, &plain(&v.zoneid)).await;
    let mut fields = vec![
        ("ID".into(), Cell::mono(text(&v.id))),
        ("Display name".into(), Cell::text(text(&v.displayname))),
        ("Instance name".into(), Cell::mono(text(&v.instancename))),
        ("IP address".into(), Cell::mono(address(&v))),
        (
            "Zone".into(),
            link_to(&v.zonename, &v.zoneid, "/console/zones"),
        ),
    ];
    if s.is_admin() {
        fields.push((
            "Host".into(),
            link_to(&v.hostname, &v.hostid, "/console/hosts"),
        ));
    }
    fields.extend([
        (
            "Compute offering".into(),
            Cell::text(format!(
                "{} ({} × {} MHz, {})",
                text(&v.serviceofferingname),
                text(&v.cpunumber),
                text(&v.cpuspeed),
                mebibytes(&v.memory)
            )),
        ),
        (
            "Disk offering".into(),
            Cell::text(text(&v.diskofferingname)),
        ),
        ("ISO".into(), Cell::text(text(&v.isoname))),
        ("OS type".into(), Cell::text(text(&v.osdisplayname))),
        ("SSH key pair".into(), Cell::text(text(&v.keypairs))),
        ("Hypervisor".into(), Cell::text(text(&v.hypervisor))),
        (
            "Owner".into(),
            Cell::text(format!("{} ({})", text(&v.account), text(&v.domain))),
        ),
        ("Created".into(), Cell::when(when(&v.created))),
    ]);
    if !plain(&v.errortext).is_empty() {
        fields.push(("Error".into(), Cell::text(text(&v.errortext))));
    }
    let failed = state == "Error";
    let banner = failed.then(|| failed_banner(&s, &v));
    if let Some(c) = v.cpuused.clone() {
        fields.push(("CPU used".into(), Cell::num(c)));
    }
    // The instance's own events: those whose resource is this VM.
    let display = plain(&v.displayname);
    let events = s
        .list_of::<EventResponse>(
            "listEvents",
            &[
                ("resourceid", id.clone()),
                ("listall", "true".into()),
                ("pagesize", "10".into()),
                ("page", "1".into()),
            ],
        )
        .await
        .map(|(_, items)| items)
        .unwrap_or_default();
    let charts = vm_charts(&s, &id, v.memory.map(|m| f64::from(m) * 1048576.0)).await;
    let nics = v
        .nic
        .iter()
        .map(|n| Row {
            id: plain(&n.id),
            cells: vec![
                match n.networkid {
                    Some(net) => Cell::link(
                        text(&n.networkname),
                        super::networks::detail_path(&net.to_string()),
                    ),
                    None => Cell::text(text(&n.networkname)),
                },
                Cell::mono(text(&n.ipaddress)),
                Cell::mono(text(&n.netmask)),
                Cell::mono(text(&n.gateway)),
                Cell::mono(text(&n.macaddress)),
                Cell::text(text(&n.broadcasturi)),
            ],
            actions: vec![],
        })
        .collect();
    let volumes = s
        .list_of::<VolumeResponse>(
            "listVolumes",
            &[
                vec![("virtualmachineid", id.clone()), ("listall", "true".into())],
                s.scope(),
            ]
            .concat(),
        )
        .await
        .map(|(_, items)| items)
        .unwrap_or_default()
        .iter()
        .map(|d| Row {
            id: plain(&d.id),
            cells: vec![
                Cell::link(text(&d.name), format!("/console/volumes/{}", plain(&d.id))),
                Cell::text(text(&d.r#type)),
                Cell::num(bytes_of(&d.size)),
                Cell::state(plain(&d.state)),
                Cell::text(text(&d.storage)),
            ],
            actions: vec![],
        })
        .collect();
    let mut volume_table = Table::new(
        "volumes",
        &["Name", "Type", "Size", "State", "Primary storage"],
        volumes,
        if failed {
            "No volumes: the deploy failed and was rolled back, so its disk was removed."
        } else {
            "No volumes."
        },
    );
    volume_table.numeric = vec![2];
    let (vm_snapshots, snapshot_busy) = super::snapshots::vm_section(&s, &v).await;
    let changing = transitional(&state) || snapshot_busy;
    let tags = super::tags::section(&s, "UserVm", &id, &detail_path(&id)).await;
    let groups =
        super::security_groups::instance_section(&s, &v, &format!("{}/action", detail_path(&id)))
            .await;
    let events_section = Section {
        forms: vec![],
        title: "Events".into(),
        table: super::events_table("events", events, false),
        links: vec![Link::new(
            "All events",
            format!("/console/events{}", query_string(&[("keyword", display)])),
        )],
        note: None,
    };
    s.page(&DetailPage {
        banner,
        frame: s.frame("instances"),
        title: text(&v.name),
        status: vec![Cell::state(state.clone())],
        back: Link::new("Instances", "/console/instances"),
        toolbar: vec![],
        actions: [
            actions_for(&v, &isos, &owner_keys(&s).await, true),
            migrate_action(&s, &v).await,
        ]
        .concat(),
        fields,
        charts,
        sections: vec![
            Section {
                forms: vec![],
                title: "NICs".into(),
                table: Table::new(
                    "nics",
                    &[
                        "Network",
                        "IP address",
                        "Netmask",
                        "Gateway",
                        "MAC",
                        "Broadcast URI",
                    ],
                    nics,
                    if failed {
                        "No NICs: the deploy failed and was rolled back, so its address was released."
                    } else {
                        "No NICs."
                    },
                ),
                links: vec![],
                note: None,
            },
            Section {
                forms: vec![],
                title: "Volumes".into(),
                table: volume_table,
                links: vec![],
                note: changing
                    .then(|| "This page refreshes itself while the instance changes state.".into()),
            },
        ]
        .into_iter()
        // Then its security groups (issue 14), the VM snapshots (issue 16), the events
        // and the tags.
        .chain(groups)
        .chain(vm_snapshots)
        .chain(std::iter::once(events_section))
        .chain(tags)
        .collect(),
        refresh: changing.then_some(REFRESH),
    })
}

/// Charts of the VM's retained samples (`listVirtualMachinesUsageHistory`): CPU share,
/// memory, and disk and network rates (the samples are totals; the charts show their
/// change per second). No samples: no charts.
async fn vm_charts(s: &Session, id: &str, memory_total: Option<f64>) -> Vec<stratus_ui::Chart> {
    let Ok((_, items)) = s
        .list_of::<VmStatsResponse>("listVirtualMachinesUsageHistory", &[("id", id.to_string())])
        .await
    else {
        return vec![];
    };
    let stats = items
        .into_iter()
        .next()
        .map(|v| v.stats)
        .unwrap_or_default();
    if stats.is_empty() {
        return vec![];
    }
    let series = |f: fn(&VmStatsItem) -> Option<f64>, scale: f64| -> Vec<(f64, f64)> {
        stats
            .iter()
            .filter_map(|v| Some((v.timestamp?.0.timestamp() as f64, f(v)? * scale)))
            .collect()
    };
    fn pct(v: f64) -> String {
        format!("{v:.0}%")
    }
    fn size(v: f64) -> String {
        bytes(v)
    }
    fn rate(v: f64) -> String {
        format!("{}/s", bytes(v))
    }
    fn ops(v: f64) -> String {
        format!("{v:.0}/s")
    }
    let memory_used = |v: &VmStatsItem| -> Option<f64> {
        // Used: what the VM has less what its guest reports unused, when it reports.
        Some((big(&v.memorykbs)? - big(&v.memoryintfreekbs).unwrap_or(0.0)).max(0.0))
    };
    vec![
        chart::line_chart(
            "CPU used",
            &[Series {
                label: "CPU %".into(),
                color: "#2456c9",
                points: series(|v| number(&v.cpuused), 1.0),
            }],
            Some(100.0),
            pct,
        ),
        chart::line_chart(
            "Memory",
            &[Series {
                label: "In use".into(),
                color: "#12b76a",
                points: stats
                    .iter()
                    .filter_map(|v| {
                        Some((v.timestamp?.0.timestamp() as f64, memory_used(v)? * 1024.0))
                    })
                    .collect(),
            }],
            memory_total,
            size,
        ),
        chart::line_chart(
            "Disk",
            &[
                Series {
                    label: "Read".into(),
                    color: "#7a5af8",
                    points: chart::rates(&series(|v| big(&v.diskkbsread), 1024.0)),
                },
                Series {
                    label: "Write".into(),
                    color: "#f79009",
                    points: chart::rates(&series(|v| big(&v.diskkbswrite), 1024.0)),
                },
            ],
            None,
            rate,
        ),
        chart::line_chart(
            "Disk operations",
            &[
                Series {
                    label: "Reads".into(),
                    color: "#7a5af8",
                    points: chart::rates(&series(|v| big(&v.diskioread), 1.0)),
                },
                Series {
                    label: "Writes".into(),
                    color: "#f79009",
                    points: chart::rates(&series(|v| big(&v.diskiowrite), 1.0)),
                },
            ],
            None,
            ops,
        ),
        chart::line_chart(
            "Network",
            &[
                Series {
                    label: "Received".into(),
                    color: "#7a5af8",
                    points: chart::rates(&series(|v| big(&v.networkkbsread), 1024.0)),
                },
                Series {
                    label: "Sent".into(),
                    color: "#f79009",
                    points: chart::rates(&series(|v| big(&v.networkkbswrite), 1024.0)),
                },
            ],
            None,
            rate,
        ),
    ]
}

/// The page that shows an instance's new password, once.
pub(crate) fn password_page(
    s: &Session,
    title: &str,
    name: &str,
    password: String,
    note: &str,
    back: String,
) -> Response {
    s.page(&PasswordPage {
        frame: s.frame("instances"),
        title: title.into(),
        name: if name.is_empty() {
            "the instance".into()
        } else {
            name.into()
        },
        password,
        note: note.into(),
        back,
        refresh: None,
    })
}

/// Resets a stopped instance's password and shows the new one once.
async fn reset_password(s: &Session, id: &str, back: String) -> Response {
    let name = s
        .one_of::<VirtualMachineResponse>("listVirtualMachines", id, &[("listall", "true".into())])
        .await
        .ok()
        .flatten()
        .map(|v| text(&v.name))
        .unwrap_or_default();
    match s
        .run_for_result(
            "resetPasswordForVirtualMachine",
            &[("id", id.to_string())],
            Duration::from_secs(20),
        )
        .await
    {
        Ok((Outcome::Done, body)) => {
            match super::vm_password("resetPasswordForVirtualMachine", body) {
                Some(password) => password_page(
                    s,
                    "New password",
                    &name,
                    password,
                    "The guest gets it when the instance next starts.",
                    back,
                ),
                None => redirect_with(&back, true, "The password was reset."),
            }
        }
        Ok((Outcome::Running(job), _)) => Redirect::to(&format!(
            "/console/jobs/{job}{}",
            query_string(&[("next", back)])
        ))
        .into_response(),
        Err(e) => redirect_with(&back, false, &e.text),
    }
}

/// What a failed instance's page says first: the cause, where to look, what to do.
fn failed_banner(s: &Session, v: &VirtualMachineResponse) -> Banner {
    let cause = plain(&v.errortext);
    let display = plain(&v.displayname);
    let mut links = vec![];
    if s.is_admin() {
        if let Some(h) = v.hostid.as_ref().map(|h| h.to_string()) {
            links.push(Link::new(
                &format!("Host {}", text(&v.hostname)),
                format!("/console/hosts/{h}"),
            ));
        } else {
            links.push(Link::new("Hosts", "/console/hosts".to_string()));
        }
        links.push(Link::new("Alerts", "/console/alerts".to_string()));
    }
    links.push(Link::new(
        "Its events",
        format!("/console/events{}", query_string(&[("keyword", display)])),
    ));
    Banner {
        class: "bad",
        title: "This instance failed to deploy".into(),
        text: if cause.is_empty() {
            "The deploy failed; its events say why.".into()
        } else {
            format!("Cause: {cause}")
        },
        links,
        next: vec![
            "Everything the deploy had done was undone: its address was released and its disk removed, so nothing is left running or reserved.".into(),
            "Fix the cause (a host that is down or full, storage that cannot be reached), then launch it again with + Add instance.".into(),
            "Destroy and expunge this instance to remove it from the list and free its name.".into(),
        ],
    }
}

async fn action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    // A list row's action comes back to the list it was pressed on.
    let back = super::local_path(field(&f, "back"), &detail_path(&id));
    if field(&f, "action") == "securitygroups"
        && super::security_groups::chosen_groups(&f).is_empty()
    {
        return redirect_with(
            &back,
            false,
            "Choose at least one security group: an instance in a Basic zone is always in one.",
        );
    }
    // VM snapshots (issue 16).
    if let Some((command, params, done)) = super::snapshots::vm_action(&id, &f) {
        return s.act(command, &params, &back, done).await;
    }
    let vm = || ("id", id.clone());
    let (command, params, done): (&str, Vec<(&str, String)>, &str) = match field(&f, "action") {
        "start" => (
            "startVirtualMachine",
            vec![vm()],
            "The instance is running.",
        ),
        "stop" => ("stopVirtualMachine", vec![vm()], "The instance is stopped."),
        "forcestop" => (
            "stopVirtualMachine",
            vec![vm(), ("forced", "true".into())],
            "The instance is stopped.",
        ),
        "reboot" => (
            "rebootVirtualMachine",
            vec![vm()],
            "The instance was rebooted.",
        ),
        "recover" => (
            "recoverVirtualMachine",
            vec![vm()],
            "The instance is recovered (Stopped).",
        ),
        "destroy" => (
            "destroyVirtualMachine",
            vec![vm()],
            "The instance is destroyed; it can be recovered until it is expunged.",
        ),
        "destroyexpunge" => (
            "destroyVirtualMachine",
            vec![vm(), ("expunge", "true".into())],
            "The instance was destroyed and expunged.",
        ),
        "expunge" => (
            "expungeVirtualMachine",
            vec![vm()],
            "The instance was expunged.",
        ),
        "attachiso" => (
            "attachIso",
            vec![
                ("virtualmachineid", id.clone()),
                ("id", field(&f, "isoid").to_string()),
            ],
            "The ISO is attached.",
        ),
        "securitygroups" => (
            "updateVirtualMachine",
            vec![
                vm(),
                (
                    "securitygroupids",
                    super::security_groups::chosen_groups(&f),
                ),
            ],
            "The instance's security groups were changed; it takes their rules when it starts.",
        ),
        "resetsshkey" => (
            "resetSSHKeyForVirtualMachine",
            vec![vm(), ("keypair", field(&f, "keypair").to_string())],
            "The key pair is replaced; the guest gets it at its next start.",
        ),
        "detachiso" => (
            "detachIso",
            vec![("virtualmachineid", id.clone())],
            "The ISO is detached.",
        ),
        "migrate" => {
            let mut p = vec![("virtualmachineid", id.clone())];
            let host = field(&f, "hostid").trim();
            if !host.is_empty() {
                p.push(("hostid", host.to_string()));
            }
            (
                "migrateVirtualMachine",
                p,
                "The instance was migrated; it runs on its new host.",
            )
        }
        "console" => return open_console(&s, &id, &back).await,
        "resetpassword" => return reset_password(&s, &id, back).await,
        other => return redirect_with(&back, false, &format!("Unknown action '{other}'")),
    };
    // An expunged instance has no page to come back to.
    let back = if matches!(field(&f, "action"), "expunge" | "destroyexpunge") {
        "/console/instances".to_string()
    } else {
        back
    };
    s.act(command, &params, &back, done).await
}

/// Most instances one bulk action takes.
const BULK_MAX: usize = 50;

/// A bulk action on the instances ticked in the list: each one's own command (as its row
/// would send it), confirmed once; the message says what happened to each.
async fn bulk(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = super::local_path(field(&f, "back"), "/console/instances");
    if field(&f, "confirm") != "yes" {
        return redirect_with(&back, false, "Tick the box to confirm the action.");
    }
    let (command, done): (&str, &str) = match field(&f, "action") {
        "start" => ("startVirtualMachine", "started"),
        "stop" => ("stopVirtualMachine", "stopped"),
        "reboot" => ("rebootVirtualMachine", "rebooted"),
        "destroy" => ("destroyVirtualMachine", "destroyed"),
        other => return redirect_with(&back, false, &format!("Unknown action '{other}'")),
    };
    let ids: Vec<&str> = f
        .iter()
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v.as_str())
        .collect();
    if ids.is_empty() {
        return redirect_with(&back, false, "Select one or more instances first.");
    }
    if ids.len() > BULK_MAX {
        return redirect_with(
            &back,
            false,
            &format!("Select at most {BULK_MAX} instances at a time."),
        );
    }
    let (mut ok, mut running, mut failed) = (0, 0, vec![]);
    for id in &ids {
        match s
            .run(command, &[("id", id.to_string())], Duration::from_secs(20))
            .await
        {
            Ok(Outcome::Done) => ok += 1,
            Ok(Outcome::Running(_)) => running += 1,
            Err(e) => failed.push(e.text),
        }
    }
    let mut text = format!("{ok} of {} instance(s) {done}.", ids.len());
    if running > 0 {
        text.push_str(&format!(" {running} still running (see Jobs)."));
    }
    if !failed.is_empty() {
        text.push_str(&format!(" Refused: {}", failed.join("; ")));
    }
    redirect_with(&back, failed.is_empty(), &text)
}

/// Opens the instance's console: a one-time endpoint from createConsoleEndpoint, whose
/// url is the console page.
async fn open_console(s: &Session, id: &str, back: &str) -> Response {
    match s
        .call(
            "createConsoleEndpoint",
            &[("virtualmachineid", id.to_string())],
        )
        .await
    {
        Ok(reply) => {
            let ep = match super::created::<ConsoleEndpointResponse>("createConsoleEndpoint", reply)
            {
                Ok(ep) => ep.unwrap_or_default(),
                Err(e) => return redirect_with(back, false, &e.text),
            };
            let url = plain(&ep.url);
            if ep.success == Some(true) && url.starts_with("/console/vms/") {
                Redirect::to(&url).into_response()
            } else {
                let why = text(&ep.details);
                redirect_with(back, false, &format!("The console cannot be opened: {why}"))
            }
        }
        Err(e) => redirect_with(back, false, &e.text),
    }
}

/// `/console/vms/{id}/vnc?token=…`: the page createConsoleEndpoint's url names. The token
/// in its query is the credential (spent by the page's WebSocket), so the page itself
/// needs no session; a signed-in viewer sees the instance's name.
async fn vnc_page(State(ctx): State<Ctx>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let name = match Session::from_headers(&ctx, &headers).await {
        Some(s) => s
            .one_of::<VirtualMachineResponse>(
                "listVirtualMachines",
                &id,
                &[("listall", "true".into())],
            )
            .await
            .ok()
            .flatten()
            .map(|v| text(&v.name)),
        None => None,
    };
    super::html(
        StatusCode::OK,
        &VncPage {
            title: name.unwrap_or_else(|| format!("VM {id}")),
            back: detail_path(&id),
            websocket: crate::services::consoles::WEBSOCKET_PATH,
        },
    )
}

// --- the Add Instance wizard ---

const ROWS: [(&str, &str); 2] = [("pagesize", "500"), ("page", "1")];

fn rows_params<'a>(extra: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    let mut p: Vec<(&str, String)> = ROWS.iter().map(|(k, v)| (*k, v.to_string())).collect();
    p.extend(extra.iter().cloned());
    p
}

/// The choices of a wizard step, listed through the command layer.
async fn choices(s: &Session, state: &LaunchState, key: &str) -> Result<Choices, ApiError> {
    let zone = state.get("zoneid").to_string();
    let mut c;
    match key {
        "zone" => {
            c = Choices::new(
                "zoneid",
                &["Name", "Network type", "Description"],
                "There is no zone yet: an administrator builds one with Add zone.",
            );
            let zones = s
                .list_of::<ZoneResponse>("listZones", &rows_params(&[]))
                .await?
                .1;
            for z in zones {
                c.push(
                    plain(&z.id),
                    vec![text(&z.name), text(&z.networktype), text(&z.description)],
                );
            }
        }
        "iso" => {
            c = Choices::new("isoid", &["Name", "Kind", "OS type", "Size", "Owner"], "No template or bootable ISO is ready in this zone. Register one under Templates or ISOs and wait for it to download.");
            // What the caller (in a project's view, the project) may deploy: public
            // templates and its own (`executable`), and those shared with it
            // (`sharedexecutable`), as CloudStack's wizard lists them on its tabs.
            let mut templates = vec![];
            for filter in ["executable", "sharedexecutable"] {
                let p = rows_params(
                    &[
                        vec![
                            ("templatefilter", filter.to_string()),
                            ("zoneid", zone.clone()),
                        ],
                        s.scope(),
                    ]
                    .concat(),
                );
                for t in s.list_of::<TemplateResponse>("listTemplates", &p).await?.1 {
                    if !templates.iter().any(|o: &TemplateResponse| o.id == t.id) {
                        templates.push(t);
                    }
                }
            }
            for t in templates {
                if t.isready != Some(true) {
                    continue;
                }
                c.push(
                    format!("{}{}", stratus_ui::launch::TEMPLATE_PREFIX, plain(&t.id)),
                    vec![
                        text(&t.name),
                        "Template".into(),
                        text(&t.ostypename),
                        bytes_of(&t.size),
                        text(&t.account),
                    ],
                );
            }
            let p = rows_params(
                &[
                    vec![
                        ("isofilter", "executable".to_string()),
                        ("zoneid", zone),
                        ("bootable", "true".into()),
                        ("isready", "true".into()),
                    ],
                    s.scope(),
                ]
                .concat(),
            );
            for i in s.list_of::<IsoResponse>("listIsos", &p).await?.1 {
                c.push(
                    plain(&i.id),
                    vec![
                        text(&i.name),
                        "ISO".into(),
                        text(&i.ostypename),
                        bytes_of(&i.size),
                        text(&i.account),
                    ],
                );
            }
        }
        "offering" => {
            c = Choices::new(
                "serviceofferingid",
                &["Name", "CPU", "Memory", "Description"],
                "There is no compute offering.",
            );
            let offerings = s
                .list_of::<ServiceOfferingResponse>("listServiceOfferings", &rows_params(&[]))
                .await?
                .1;
            for o in offerings {
                c.push(
                    plain(&o.id),
                    vec![
                        text(&o.name),
                        format!("{} × {} MHz", text(&o.cpunumber), text(&o.cpuspeed)),
                        mebibytes(&o.memory),
                        text(&o.displaytext),
                    ],
                );
            }
        }
        "disk" => {
            c = Choices::new(
                "diskofferingid",
                &["Name", "Size", "Description"],
                "There is no disk offering.",
            );
            let offerings = s
                .list_of::<DiskOfferingResponse>("listDiskOfferings", &rows_params(&[]))
                .await?
                .1;
            for d in offerings {
                let size = if d.iscustomized == Some(true) {
                    "Custom".to_string()
                } else {
                    format!("{} GB", text(&d.disksize))
                };
                c.push(
                    plain(&d.id),
                    vec![text(&d.name), size, text(&d.displaytext)],
                );
            }
        }
        "network" => {
            c = Choices::new(
                "networkid",
                &["Name", "Type", "CIDR", "Gateway"],
                "This zone has no guest network the instance can join.",
            );
            // The instance's owner's networks in the zone: the caller's, or the project's
            // in its view (a Basic zone's shared network is every owner's).
            let advanced = !zone.is_empty()
                && s.one_of::<ZoneResponse>("listZones", &zone, &[])
                    .await?
                    .is_some_and(|z| z.networktype.as_deref() == Some("Advanced"));
            let mut p = vec![("zoneid", zone)];
            if advanced {
                p.push(("type", "isolated".into()));
            }
            p.extend(s.scope());
            let networks = s
                .list_of::<NetworkResponse>("listNetworks", &rows_params(&p))
                .await?
                .1;
            for n in networks
                .iter()
                .filter(|n| n.state.as_deref() != Some("Destroy"))
            {
                c.push(
                    plain(&n.id),
                    vec![
                        text(&n.name),
                        text(&n.r#type),
                        text(&n.cidr),
                        text(&n.gateway),
                    ],
                );
            }
            // An owner with no network in an Advanced zone gets its default one at launch
            // (deployVirtualMachine without networkids), as CloudStack does.
            if advanced && c.rows.is_empty() {
                c.push(
                    launch::NEW_NETWORK,
                    vec![
                        "A new default network".into(),
                        "Isolated".into(),
                        "the zone's guest CIDR".into(),
                        "made at launch".into(),
                    ],
                );
            }
        }
        "securitygroups" => {
            c = Choices::new(
                "securitygroupids",
                &["Name", "Description", "Ingress rules"],
                "This zone does not use security groups: its network keeps instances apart. Go on.",
            );
            c.multi = true;
            let enforced = !zone.is_empty()
                && s.one_of::<ZoneResponse>("listZones", &zone, &[])
                    .await?
                    .is_some_and(|z| z.securitygroupsenabled == Some(true));
            if enforced {
                // The instance's owner's groups: the caller's, or the project's in its view.
                let mut groups = s
                    .list_of::<SecurityGroupResponse>(
                        "listSecurityGroups",
                        &rows_params(&s.scope()),
                    )
                    .await?
                    .1;
                // The default first: it is what an instance is in when nothing else is.
                groups.sort_by_key(|g| {
                    g.name.as_deref() != Some(crate::rules::security_groups::DEFAULT_NAME)
                });
                for g in groups {
                    c.push(
                        plain(&g.id),
                        vec![
                            text(&g.name),
                            text(&g.description),
                            g.ingressrule.len().to_string(),
                        ],
                    );
                }
            }
        }
        "sshkey" => {
            c = Choices::new("keypair", &["Name", "Fingerprint"], "");
            c.push("", vec!["No key pair".into(), String::new()]);
            // Key pairs are listed when the command layer has them.
            if stratus_api::command::find("listSSHKeyPairs").is_some() {
                let keys = s
                    .list_of::<SshKeyPairResponse>("listSSHKeyPairs", &rows_params(&[]))
                    .await?
                    .1;
                for k in keys {
                    c.push(plain(&k.name), vec![text(&k.name), text(&k.fingerprint)]);
                }
            }
        }
        _ => c = Choices::default(),
    }
    Ok(c)
}

fn tabs(current: &str) -> Vec<StepTab> {
    let at = STEPS.iter().position(|s| s.key == current).unwrap_or(0);
    STEPS
        .iter()
        .enumerate()
        .map(|(i, s)| StepTab {
            title: s.title,
            state: if i < at {
                "done"
            } else if i == at {
                "current"
            } else {
                ""
            },
        })
        .collect()
}

/// The review's lines: each step's chosen row, as the admin saw it.
async fn review(
    s: &Session,
    state: &LaunchState,
) -> Result<Vec<(&'static str, &'static str, String)>, ApiError> {
    let mut out = vec![];
    for st in STEPS.iter().filter(|st| !st.field.is_empty()) {
        let c = choices(s, state, st.key).await?;
        if c.multi {
            let mut c = c;
            c.select_many(state.get(st.field));
            let names: Vec<&str> = c
                .rows
                .iter()
                .filter(|r| r.checked)
                .filter_map(|r| r.cells.first().map(String::as_str))
                .collect();
            let shown = if names.is_empty() {
                "—".to_string()
            } else {
                names.join(", ")
            };
            out.push((st.key, st.title, shown));
            continue;
        }
        let chosen = c
            .rows
            .iter()
            .find(|r| r.value == state.get(st.field))
            .map(|r| {
                // What the row shows, each value once (a description often repeats the name).
                let mut seen: Vec<&String> = vec![];
                r.cells
                    .iter()
                    .filter(|x| !x.is_empty() && x.as_str() != "—")
                    .filter(|x| {
                        let new = !seen.contains(x);
                        seen.push(x);
                        new
                    })
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_else(|| "—".into());
        let chosen = if st.key == "disk" && !state.get("size").is_empty() {
            format!("{chosen} · {} GB", state.get("size"))
        } else {
            chosen
        };
        out.push((st.key, st.title, chosen));
    }
    Ok(out)
}

async fn launch_page(
    s: &Session,
    mut state: LaunchState,
    key: &'static str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let st = launch::step(key);
    let mut c = match choices(s, &state, key).await {
        Ok(c) => c,
        Err(e) => return s.error_page("instances", &e),
    };
    let mut choices_shown = None;
    if !st.field.is_empty() {
        let picked = if c.multi {
            c.select_many(state.get(st.field))
        } else {
            c.select(state.get(st.field), key == "sshkey")
                .map(|r| r.value.clone())
                .unwrap_or_default()
        };
        state.set(st.field, picked);
        choices_shown = Some(c);
    }
    let mut fields = vec![];
    let mut shown: Vec<&str> = vec![];
    match key {
        "disk" => {
            fields.push(
                Field::text("size", "Size (GB)", state.get("size"), false)
                    .kind("number")
                    .placeholder("20")
                    .help("Only for an offering with a custom size."),
            );
            shown.push("size");
        }
        "review" => {
            fields.push(
                Field::text("name", "Name", state.get("name"), false)
                    .placeholder("web-1")
                    .help("Letters, digits and hyphens; left empty, a name is chosen for you."),
            );
            fields.push(Field::text(
                "displayname",
                "Display name",
                state.get("displayname"),
                false,
            ));
            fields.push(
                Field::text("userdata", "User data", state.get("userdata"), false)
                    .kind("textarea")
                    .placeholder("#cloud-config")
                    .help("Given to the guest as is (cloud-init reads it from the config drive); sent base64-encoded."),
            );
            shown.extend(["name", "displayname", "userdata"]);
        }
        _ => {}
    }
    let review = if key == "review" {
        match review(s, &state).await {
            Ok(r) => r,
            Err(e) => return s.error_page("instances", &e),
        }
    } else {
        vec![]
    };
    let last = key == "review";
    s.page_status(
        status,
        &LaunchPage {
            frame: s.frame("instances"),
            tabs: tabs(key),
            step: key,
            step_title: st.title,
            intro: st.intro,
            choices: choices_shown,
            fields,
            hidden: state.hidden(key, &shown),
            review,
            error,
            can_back: key != STEPS[0].key,
            next_go: if last { "launch" } else { "next" },
            next_label: if last { "Launch instance" } else { "Next" },
            refresh: None,
        },
    )
}

/// `/console/instances/new[?zoneid=…&isoid=…]`: the wizard's first step, with any
/// choices given in the address already made.
async fn launch_start(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let state = LaunchState::from_fields(q.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    launch_page(&s, state, STEPS[0].key, None, StatusCode::OK).await
}

async fn launch_step(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let state = LaunchState::from_fields(f.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let go = Go::parse(field(&f, "go"));
    let (to, why) = state.target(field(&f, "at"), &go);
    if why.is_some() || go != Go::Launch {
        let status = if why.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        return launch_page(&s, state, to, why, status).await;
    }
    // In a project's view the instance is the project's.
    let params = [state.deploy_params(), s.scope()].concat();
    let reply = match s.call("deployVirtualMachine", &params).await {
        Ok(r) => r,
        Err(e) => {
            return launch_page(
                &s,
                state,
                "review",
                Some(e.text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let Reply::Job { jobid, id } = reply else {
        return redirect_with(
            "/console/instances",
            true,
            "The instance is being launched.",
        );
    };
    let next = id
        .map(|id| detail_path(&id.to_string()))
        .unwrap_or_else(|| "/console/instances".into());
    match s.wait(&jobid.to_string(), Duration::from_secs(20)).await {
        Ok(Outcome::Done) => {
            // A password-enabled template's generated password is answered once, in the
            // job's result: shown now, on this answer, and nowhere else.
            let result = s
                .job(&jobid.to_string())
                .await
                .ok()
                .and_then(|j| j.jobresult);
            match super::vm_password("deployVirtualMachine", result) {
                Some(password) => password_page(
                    &s,
                    "The instance is running",
                    field(&f, "name"),
                    password,
                    "Generated for this instance because its template is password-enabled; the guest sets it at first boot.",
                    next,
                ),
                None => redirect_with(&next, true, "The instance is running."),
            }
        }
        Ok(Outcome::Running(job)) => Redirect::to(&format!(
            "/console/jobs/{job}{}",
            query_string(&[("next", next)])
        ))
        .into_response(),
        // The instance exists (in Error, with the reason): its page says what happened.
        Err(e) => redirect_with(&next, false, &format!("The launch failed: {}", e.text)),
    }
}
