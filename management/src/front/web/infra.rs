//! Infrastructure pages: zones, pods, clusters, hosts (with their quick actions, the
//! metrics table of the seed's figure 2-15 and charts of the retained samples), primary
//! and secondary storage, each as a list and a detail page.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::Value;
use stratus_ui::chart::{self, Series};
use stratus_ui::format::{self, bytes, bytes_field, date, ghz, num, str_of, text};
use stratus_ui::{Action, Cell, DetailPage, Field, FormPage, Link, ListPage, Row, Section, Table};

use super::{field, page_params, pager, redirect_with, Fields, Session};
use crate::ctx::Ctx;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/zones", get(zones))
        .route("/console/zones/{id}", get(zone))
        .route("/console/zones/{id}/action", post(zone_action))
        .route("/console/pods", get(pods))
        .route("/console/pods/{id}", get(pod))
        .route("/console/pods/{id}/action", post(pod_action))
        .route("/console/clusters", get(clusters))
        .route("/console/clusters/{id}", get(cluster))
        .route("/console/clusters/{id}/action", post(cluster_action))
        .route("/console/hosts", get(hosts))
        .route("/console/hosts/metrics", get(host_metrics))
        .route("/console/hosts/new", get(host_form).post(add_host))
        .route("/console/hosts/{id}", get(host))
        .route("/console/hosts/{id}/action", post(host_action))
        .route("/console/primary-storage", get(pools))
        .route("/console/primary-storage/{id}", get(pool))
        .route("/console/primary-storage/{id}/action", post(pool_action))
        .route("/console/secondary-storage", get(stores))
        .route("/console/secondary-storage/{id}", get(store))
        .route("/console/secondary-storage/{id}/action", post(store_action))
}

type Q = Query<HashMap<String, String>>;

fn id_of(v: &Value) -> String {
    str_of(v, "id").to_string()
}

fn name_link(v: &Value, base: &str) -> Cell {
    Cell::link(text(v, "name"), format!("{base}/{}", id_of(v)))
}

pub(super) fn link_to(v: &Value, name_field: &str, id_field: &str, base: &str) -> Cell {
    match v.get(id_field).and_then(Value::as_str) {
        Some(id) => Cell::link(text(v, name_field), format!("{base}/{id}")),
        None => Cell::text(text(v, name_field)),
    }
}

pub(super) fn row(v: &Value, cells: Vec<Cell>) -> Row {
    Row {
        id: id_of(v),
        cells,
        actions: vec![],
    }
}

/// A list page from one list command.
#[allow(clippy::too_many_arguments)]
async fn list_page(
    s: &Session,
    q: &HashMap<String, String>,
    active: &'static str,
    title: &str,
    command: &str,
    headings: &[&str],
    cells: fn(&Value) -> Vec<Cell>,
    empty: &str,
    toolbar: Vec<Link>,
) -> Response {
    let (total, items) = match s.list(command, &page_params(q)).await {
        Ok(x) => x,
        Err(e) => return s.error_page(active, &e),
    };
    let rows = items.iter().map(|v| row(v, cells(v))).collect();
    let table = Table::new("list", headings, rows, empty);
    s.page(&ListPage {
        frame: s.frame(active),
        section: "Infrastructure",
        title: title.into(),
        table,
        total,
        toolbar,
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: None,
        pager: pager(&format!("/console/{active}"), q, total),
        refresh: None,
    })
}

/// A section listing what a zone, pod or cluster holds.
async fn section(
    s: &Session,
    title: &str,
    command: &str,
    params: &[(&str, String)],
    headings: &[&str],
    cells: fn(&Value) -> Vec<Cell>,
    empty: &str,
) -> Section {
    let items = s
        .list(command, params)
        .await
        .map(|x| x.1)
        .unwrap_or_default();
    let id = title.to_ascii_lowercase().replace(' ', "-");
    Section {
        title: title.into(),
        table: Table::new(
            &id,
            headings,
            items.iter().map(|v| row(v, cells(v))).collect(),
            empty,
        ),
        links: vec![],
        note: None,
    }
}

fn fields_of(v: &Value, spec: &[(&str, &str)]) -> Vec<(String, Cell)> {
    spec.iter()
        .map(|(label, f)| {
            let cell = match *f {
                "created" => Cell::text(date(str_of(v, f))),
                "id" => Cell::mono(text(v, f)),
                _ => Cell::text(text(v, f)),
            };
            (label.to_string(), cell)
        })
        .collect()
}

// --- zones ---

const ZONE_HEADINGS: &[&str] = &[
    "Name",
    "Network type",
    "Allocation",
    "DNS",
    "Internal DNS",
    "Guest CIDR",
];

fn zone_cells(v: &Value) -> Vec<Cell> {
    vec![
        name_link(v, "/console/zones"),
        Cell::text(text(v, "networktype")),
        Cell::state(str_of(v, "allocationstate")),
        Cell::text(text(v, "dns1")),
        Cell::text(text(v, "internaldns1")),
        Cell::text(text(v, "guestcidraddress")),
    ]
}

async fn zones(s: Session, Query(q): Q) -> Response {
    list_page(
        &s,
        &q,
        "zones",
        "Zones",
        "listZones",
        ZONE_HEADINGS,
        zone_cells,
        "No zones yet. Add one with the Add zone wizard.",
        vec![Link::primary("+ Add zone", "/console/zones/new")],
    )
    .await
}

const POD_HEADINGS: &[&str] = &[
    "Name",
    "Zone",
    "Gateway",
    "Netmask",
    "Start IP",
    "End IP",
    "Allocation",
];

fn pod_cells(v: &Value) -> Vec<Cell> {
    vec![
        name_link(v, "/console/pods"),
        link_to(v, "zonename", "zoneid", "/console/zones"),
        Cell::text(text(v, "gateway")),
        Cell::text(text(v, "netmask")),
        Cell::text(text(v, "startip")),
        Cell::text(text(v, "endip")),
        Cell::state(str_of(v, "allocationstate")),
    ]
}

const CLUSTER_HEADINGS: &[&str] = &["Name", "Zone", "Pod", "Hypervisor", "Allocation", "Managed"];

fn cluster_cells(v: &Value) -> Vec<Cell> {
    vec![
        name_link(v, "/console/clusters"),
        link_to(v, "zonename", "zoneid", "/console/zones"),
        link_to(v, "podname", "podid", "/console/pods"),
        Cell::text(text(v, "hypervisortype")),
        Cell::state(str_of(v, "allocationstate")),
        Cell::text(text(v, "managedstate")),
    ]
}

const HOST_HEADINGS: &[&str] = &[
    "Name",
    "Zone",
    "Pod",
    "Cluster",
    "Address",
    "State",
    "Resource state",
    "QEMU",
];

fn host_cells(v: &Value) -> Vec<Cell> {
    vec![
        name_link(v, "/console/hosts"),
        link_to(v, "zonename", "zoneid", "/console/zones"),
        link_to(v, "podname", "podid", "/console/pods"),
        link_to(v, "clustername", "clusterid", "/console/clusters"),
        Cell::text(text(v, "ipaddress")),
        Cell::state(str_of(v, "state")),
        Cell::state(str_of(v, "resourcestate")),
        Cell::text(text(v, "hypervisorversion")),
    ]
}

const POOL_HEADINGS: &[&str] = &["Name", "Zone", "Scope", "Server", "Path", "State", "Used"];

fn usage_cell(v: &Value, used: &str, total: &str) -> Cell {
    match (num(v, used), num(v, total)) {
        (Some(u), Some(t)) if t > 0.0 => Cell::bar(
            format::percent(u, t),
            format!("{} of {}", bytes(u), bytes(t)),
            true,
        ),
        _ => Cell::text("—"),
    }
}

fn pool_cells(v: &Value) -> Vec<Cell> {
    vec![
        name_link(v, "/console/primary-storage"),
        link_to(v, "zonename", "zoneid", "/console/zones"),
        Cell::text(text(v, "scope")),
        Cell::text(text(v, "ipaddress")),
        Cell::mono(text(v, "path")),
        Cell::state(str_of(v, "state")),
        usage_cell(v, "disksizeused", "disksizetotal"),
    ]
}

const STORE_HEADINGS: &[&str] = &["Name", "Zone", "Protocol", "URL", "Used"];

fn store_cells(v: &Value) -> Vec<Cell> {
    vec![
        name_link(v, "/console/secondary-storage"),
        link_to(v, "zonename", "zoneid", "/console/zones"),
        Cell::text(text(v, "protocol")),
        Cell::mono(text(v, "url")),
        usage_cell(v, "disksizeused", "disksizetotal"),
    ]
}

const RANGE_HEADINGS: &[&str] = &[
    "Pod", "VLAN", "Gateway", "Netmask", "Start IP", "End IP", "For",
];

fn range_cells(v: &Value) -> Vec<Cell> {
    vec![
        link_to(v, "podname", "podid", "/console/pods"),
        Cell::text(text(v, "vlan")),
        Cell::text(text(v, "gateway")),
        Cell::text(text(v, "netmask")),
        Cell::text(text(v, "startip")),
        Cell::text(text(v, "endip")),
        Cell::text(
            if v.get("forvirtualnetwork").and_then(Value::as_bool) == Some(true) {
                "Public"
            } else {
                "Guests"
            },
        ),
    ]
}

fn allocation_actions(base: &str, state: &str) -> Vec<Action> {
    let mut a = vec![];
    if state == "Enabled" {
        a.push(
            Action::new("disable", "Disable", format!("{base}/action")).field("action", "disable"),
        );
    } else {
        a.push(Action::new("enable", "Enable", format!("{base}/action")).field("action", "enable"));
    }
    a
}

async fn zone(s: Session, Path(id): Path<String>) -> Response {
    let z = match s.one("listZones", &id, &[]).await {
        Ok(Some(z)) => z,
        Ok(None) => return s.not_found("zones", "zone"),
        Err(e) => return s.error_page("zones", &e),
    };
    let base = format!("/console/zones/{id}");
    let by_zone = [("zoneid", id.clone())];
    let mut actions = allocation_actions(&base, str_of(&z, "allocationstate"));
    actions.push(
        Action::new("delete", "Delete zone", format!("{base}/action"))
            .field("action", "delete")
            .danger("Yes, delete this zone"),
    );
    let mut sections = vec![
        section(
            &s,
            "Pods",
            "listPods",
            &by_zone,
            POD_HEADINGS,
            pod_cells,
            "No pods.",
        )
        .await,
        section(
            &s,
            "Clusters",
            "listClusters",
            &by_zone,
            CLUSTER_HEADINGS,
            cluster_cells,
            "No clusters.",
        )
        .await,
        section(
            &s,
            "Hosts",
            "listHosts",
            &by_zone,
            HOST_HEADINGS,
            host_cells,
            "No hosts.",
        )
        .await,
        section(
            &s,
            "IP ranges",
            "listVlanIpRanges",
            &by_zone,
            RANGE_HEADINGS,
            range_cells,
            "No IP ranges.",
        )
        .await,
        section(
            &s,
            "Primary storage",
            "listStoragePools",
            &by_zone,
            POOL_HEADINGS,
            pool_cells,
            "No primary storage.",
        )
        .await,
        section(
            &s,
            "Secondary storage",
            "listImageStores",
            &by_zone,
            STORE_HEADINGS,
            store_cells,
            "No secondary storage.",
        )
        .await,
    ];
    sections[2]
        .links
        .push(Link::new("+ Add host", "/console/hosts/new"));
    s.page(&DetailPage {
        frame: s.frame("zones"),
        title: text(&z, "name"),
        status: vec![Cell::state(str_of(&z, "allocationstate"))],
        back: Link::new("Zones", "/console/zones"),
        toolbar: vec![],
        actions,
        fields: fields_of(
            &z,
            &[
                ("ID", "id"),
                ("Network type", "networktype"),
                ("Allocation state", "allocationstate"),
                ("DNS 1", "dns1"),
                ("DNS 2", "dns2"),
                ("Internal DNS 1", "internaldns1"),
                ("Internal DNS 2", "internaldns2"),
                ("Guest CIDR", "guestcidraddress"),
                ("Security groups", "securitygroupsenabled"),
                ("Created", "created"),
            ],
        ),
        charts: vec![],
        sections,
        refresh: None,
    })
}

/// Enable, disable or delete a zone, pod or cluster.
async fn allocation_action(s: &Session, form: &Fields, kind: &str, id: &str) -> Response {
    if let Some(r) = s.refuse_forged(form) {
        return r;
    }
    let (update, delete, list_path, id_param) = match kind {
        "zone" => ("updateZone", "deleteZone", "/console/zones", "id"),
        "pod" => ("updatePod", "deletePod", "/console/pods", "id"),
        _ => ("updateCluster", "deleteCluster", "/console/clusters", "id"),
    };
    let detail = format!("{list_path}/{id}");
    match field(form, "action") {
        "enable" | "disable" => {
            let state = if field(form, "action") == "enable" {
                "Enabled"
            } else {
                "Disabled"
            };
            s.act(
                update,
                &[
                    (id_param, id.to_string()),
                    ("allocationstate", state.into()),
                ],
                &detail,
                &format!("The {kind} is {state}."),
            )
            .await
        }
        "delete" => match s.call(delete, &[(id_param, id.to_string())]).await {
            Ok(_) => redirect_with(list_path, true, &format!("The {kind} was deleted.")),
            Err(e) => redirect_with(&detail, false, &e.text),
        },
        other => redirect_with(&detail, false, &format!("Unknown action '{other}'")),
    }
}

async fn zone_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    allocation_action(&s, &f, "zone", &id).await
}

// --- pods and clusters ---

async fn pods(s: Session, Query(q): Q) -> Response {
    list_page(
        &s,
        &q,
        "pods",
        "Pods",
        "listPods",
        POD_HEADINGS,
        pod_cells,
        "No pods yet.",
        vec![],
    )
    .await
}

async fn pod(s: Session, Path(id): Path<String>) -> Response {
    let p = match s.one("listPods", &id, &[]).await {
        Ok(Some(p)) => p,
        Ok(None) => return s.not_found("pods", "pod"),
        Err(e) => return s.error_page("pods", &e),
    };
    let base = format!("/console/pods/{id}");
    let by_pod = [("podid", id.clone())];
    let mut actions = allocation_actions(&base, str_of(&p, "allocationstate"));
    actions.push(
        Action::new("delete", "Delete pod", format!("{base}/action"))
            .field("action", "delete")
            .danger("Yes, delete this pod"),
    );
    let mut f = fields_of(&p, &[("ID", "id")]);
    f.push((
        "Zone".into(),
        link_to(&p, "zonename", "zoneid", "/console/zones"),
    ));
    f.extend(fields_of(
        &p,
        &[
            ("Gateway", "gateway"),
            ("Netmask", "netmask"),
            ("Reserved start IP", "startip"),
            ("Reserved end IP", "endip"),
            ("Created", "created"),
        ],
    ));
    let zone_ranges = [
        ("zoneid", str_of(&p, "zoneid").to_string()),
        ("podid", id.clone()),
    ];
    let sections = vec![
        section(
            &s,
            "Clusters",
            "listClusters",
            &by_pod,
            CLUSTER_HEADINGS,
            cluster_cells,
            "No clusters.",
        )
        .await,
        section(
            &s,
            "Hosts",
            "listHosts",
            &by_pod,
            HOST_HEADINGS,
            host_cells,
            "No hosts.",
        )
        .await,
        section(
            &s,
            "Guest IP ranges",
            "listVlanIpRanges",
            &zone_ranges,
            RANGE_HEADINGS,
            range_cells,
            "No guest IP ranges.",
        )
        .await,
    ];
    s.page(&DetailPage {
        frame: s.frame("pods"),
        title: text(&p, "name"),
        status: vec![Cell::state(str_of(&p, "allocationstate"))],
        back: Link::new("Pods", "/console/pods"),
        toolbar: vec![],
        actions,
        fields: f,
        charts: vec![],
        sections,
        refresh: None,
    })
}

async fn pod_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    allocation_action(&s, &f, "pod", &id).await
}

async fn clusters(s: Session, Query(q): Q) -> Response {
    list_page(
        &s,
        &q,
        "clusters",
        "Clusters",
        "listClusters",
        CLUSTER_HEADINGS,
        cluster_cells,
        "No clusters yet.",
        vec![],
    )
    .await
}

async fn cluster(s: Session, Path(id): Path<String>) -> Response {
    let c = match s.one("listClusters", &id, &[]).await {
        Ok(Some(c)) => c,
        Ok(None) => return s.not_found("clusters", "cluster"),
        Err(e) => return s.error_page("clusters", &e),
    };
    let base = format!("/console/clusters/{id}");
    let by_cluster = [("clusterid", id.clone())];
    let mut actions = allocation_actions(&base, str_of(&c, "allocationstate"));
    actions.push(
        Action::new("delete", "Delete cluster", format!("{base}/action"))
            .field("action", "delete")
            .danger("Yes, delete this cluster"),
    );
    let mut f = fields_of(&c, &[("ID", "id")]);
    f.push((
        "Zone".into(),
        link_to(&c, "zonename", "zoneid", "/console/zones"),
    ));
    f.push((
        "Pod".into(),
        link_to(&c, "podname", "podid", "/console/pods"),
    ));
    f.extend(fields_of(
        &c,
        &[
            ("Hypervisor", "hypervisortype"),
            ("Type", "clustertype"),
            ("Managed", "managedstate"),
            ("CPU overcommit", "cpuovercommitratio"),
            ("Memory overcommit", "memoryovercommitratio"),
            ("Created", "created"),
        ],
    ));
    let mut sections = vec![
        section(
            &s,
            "Hosts",
            "listHosts",
            &by_cluster,
            HOST_HEADINGS,
            host_cells,
            "No hosts.",
        )
        .await,
        section(
            &s,
            "Primary storage",
            "listStoragePools",
            &by_cluster,
            POOL_HEADINGS,
            pool_cells,
            "No primary storage.",
        )
        .await,
    ];
    sections[0].links.push(Link::new(
        "+ Add host",
        format!("/console/hosts/new?clusterid={id}"),
    ));
    s.page(&DetailPage {
        frame: s.frame("clusters"),
        title: text(&c, "name"),
        status: vec![Cell::state(str_of(&c, "allocationstate"))],
        back: Link::new("Clusters", "/console/clusters"),
        toolbar: vec![],
        actions,
        fields: f,
        charts: vec![],
        sections,
        refresh: None,
    })
}

async fn cluster_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    allocation_action(&s, &f, "cluster", &id).await
}

// --- hosts ---

async fn hosts(s: Session, Query(q): Q) -> Response {
    list_page(
        &s,
        &q,
        "hosts",
        "Hosts",
        "listHosts",
        HOST_HEADINGS,
        host_cells,
        "No hosts yet. Add one with + Add host.",
        vec![
            Link::new("Metrics", "/console/hosts/metrics"),
            Link::primary("+ Add host", "/console/hosts/new"),
        ],
    )
    .await
}

/// The seed's figure 2-15: CPU, memory and network of every host, side by side.
async fn host_metrics(s: Session, Query(q): Q) -> Response {
    let (total, items) = match s.list("listHostsMetrics", &page_params(&q)).await {
        Ok(x) => x,
        Err(e) => return s.error_page("hosts", &e),
    };
    let rows = items
        .iter()
        .map(|v| {
            let cores = num(v, "cpunumber").unwrap_or(0.0);
            let mhz = cores * num(v, "cpuspeed").unwrap_or(0.0);
            let pct = |f: &str| num(v, f).unwrap_or(0.0) / 100.0;
            let kib = |f: &str| {
                num(v, f)
                    .map(|k| bytes(k * 1024.0))
                    .unwrap_or_else(|| "—".into())
            };
            row(
                v,
                vec![
                    name_link(v, "/console/hosts"),
                    Cell::state(str_of(v, "state")),
                    Cell::num(text(v, "instances")),
                    Cell::num(format!("{cores:.0}")),
                    Cell::num(ghz(mhz)),
                    Cell::num(ghz(mhz * pct("cpuused"))),
                    Cell::num(ghz(mhz * pct("cpuallocated"))),
                    Cell::num(bytes_field(v, "memorytotal")),
                    Cell::num(bytes_field(v, "memoryused")),
                    Cell::num(bytes_field(v, "memoryallocated")),
                    Cell::num(kib("networkkbsread")),
                    Cell::num(kib("networkkbswrite")),
                ],
            )
        })
        .collect();
    let mut table = Table::new(
        "list",
        &[
            "Name",
            "State",
            "Instances",
            "Cores",
            "Total",
            "Used",
            "Allocated",
            "Total",
            "Used",
            "Allocated",
            "Read",
            "Write",
        ],
        rows,
        "No hosts yet.",
    );
    table.groups = vec![
        ("Resources".into(), 3),
        ("CPU usage".into(), 4),
        ("Memory usage".into(), 3),
        ("Network usage".into(), 2),
    ];
    table.numeric = (2..12).collect();
    s.page(&ListPage {
        frame: s.frame("hosts"),
        section: "Infrastructure",
        title: "Host metrics".into(),
        table,
        total,
        toolbar: vec![Link::new("Hosts", "/console/hosts")],
        search: Some(q.get("keyword").cloned().unwrap_or_default()),
        note: Some("Network figures are totals since each host booted.".into()),
        pager: pager("/console/hosts/metrics", &q, total),
        refresh: None,
    })
}

fn host_actions(id: &str, resource_state: &str) -> Vec<Action> {
    let url = format!("/console/hosts/{id}/action");
    let a = |name: &str, label: &str| Action::new(name, label, url.clone()).field("action", name);
    let mut v = vec![];
    match resource_state {
        "Enabled" => {
            v.push(a("disable", "Disable host"));
            v.push(a("maintenance", "Enable maintenance mode"));
        }
        "Disabled" => {
            v.push(a("enable", "Enable host"));
            v.push(a("maintenance", "Enable maintenance mode"));
        }
        _ => v.push(a("cancel-maintenance", "Cancel maintenance mode")),
    }
    v.push(a("reconnect", "Force reconnect"));
    v.push(a("delete", "Delete host").danger("Yes, remove this host and its agent"));
    v
}

/// Charts of the samples the management server keeps (`host.metrics.retention.hours`).
async fn host_charts(s: &Session, id: &str, memory_total: Option<f64>) -> Vec<stratus_ui::Chart> {
    if stratus_api::command::find("listHostsUsageHistory").is_none() {
        return vec![];
    }
    let Ok((_, items)) = s
        .list("listHostsUsageHistory", &[("id", id.to_string())])
        .await
    else {
        return vec![];
    };
    let stats: Vec<Value> = items
        .first()
        .and_then(|h| h.get("stats"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let t = |v: &Value| {
        chrono::DateTime::parse_from_str(str_of(v, "timestamp"), "%Y-%m-%dT%H:%M:%S%z")
            .map(|d| d.timestamp() as f64)
            .ok()
    };
    let series = |f: &str, scale: f64| -> Vec<(f64, f64)> {
        stats
            .iter()
            .filter_map(|v| Some((t(v)?, num(v, f)? * scale)))
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
    vec![
        chart::line_chart(
            "CPU used",
            &[Series {
                label: "CPU %".into(),
                color: "#2456c9",
                points: series("cpuused", 1.0),
            }],
            Some(100.0),
            pct,
        ),
        chart::line_chart(
            "Memory used",
            &[Series {
                label: "Used".into(),
                color: "#12b76a",
                points: series("memoryusedkbs", 1024.0),
            }],
            memory_total,
            size,
        ),
        chart::line_chart(
            "Network",
            &[
                Series {
                    label: "Read".into(),
                    color: "#7a5af8",
                    points: chart::rates(&series("networkkbsread", 1024.0)),
                },
                Series {
                    label: "Write".into(),
                    color: "#f79009",
                    points: chart::rates(&series("networkkbswrite", 1024.0)),
                },
            ],
            None,
            rate,
        ),
    ]
}

async fn host(s: Session, Path(id): Path<String>) -> Response {
    let h = match s.one("listHosts", &id, &[]).await {
        Ok(Some(h)) => h,
        Ok(None) => return s.not_found("hosts", "host"),
        Err(e) => return s.error_page("hosts", &e),
    };
    let cores = num(&h, "cpunumber").unwrap_or(0.0);
    let mhz = cores * num(&h, "cpuspeed").unwrap_or(0.0);
    let mut f = fields_of(&h, &[("ID", "id"), ("Address", "ipaddress")]);
    f.push((
        "Zone".into(),
        link_to(&h, "zonename", "zoneid", "/console/zones"),
    ));
    f.push((
        "Pod".into(),
        link_to(&h, "podname", "podid", "/console/pods"),
    ));
    f.push((
        "Cluster".into(),
        link_to(&h, "clustername", "clusterid", "/console/clusters"),
    ));
    f.push(("State".into(), Cell::state(str_of(&h, "state"))));
    f.push((
        "Resource state".into(),
        Cell::state(str_of(&h, "resourcestate")),
    ));
    f.push((
        "CPU".into(),
        Cell::text(format!(
            "{cores:.0} cores × {} MHz = {} ({} used)",
            text(&h, "cpuspeed"),
            ghz(mhz),
            text(&h, "cpuused")
        )),
    ));
    f.push((
        "Memory".into(),
        match (num(&h, "memoryused"), num(&h, "memorytotal")) {
            (Some(u), Some(t)) => Cell::bar(
                format::percent(u, t),
                format!("{} of {}", bytes(u), bytes(t)),
                true,
            ),
            _ => Cell::text("—"),
        },
    ));
    f.extend(fields_of(
        &h,
        &[
            ("Hypervisor", "hypervisor"),
            ("QEMU", "hypervisorversion"),
            ("Agent", "version"),
            ("Architecture", "arch"),
        ],
    ));
    let details = h.get("details").cloned().unwrap_or(Value::Null);
    for (label, key) in [
        ("Acceleration", "acceleration"),
        ("libvirt", "libvirtversion"),
        ("OS", "os"),
        ("Kernel", "kernel"),
    ] {
        f.push((label.into(), Cell::text(text(&details, key))));
    }
    f.push((
        "Last heartbeat".into(),
        Cell::text(date(str_of(&h, "lastpinged"))),
    ));
    f.push(("Added".into(), Cell::text(date(str_of(&h, "created")))));
    let charts = host_charts(&s, &id, num(&h, "memorytotal")).await;
    let events = s
        .list(
            "listEvents",
            &[
                ("resourceid", id.clone()),
                ("pagesize", "10".into()),
                ("page", "1".into()),
                ("listall", "true".into()),
            ],
        )
        .await
        .map(|x| x.1)
        .unwrap_or_default();
    s.page(&DetailPage {
        frame: s.frame("hosts"),
        title: text(&h, "name"),
        status: vec![
            Cell::state(str_of(&h, "state")),
            Cell::state(str_of(&h, "resourcestate")),
        ],
        back: Link::new("Hosts", "/console/hosts"),
        toolbar: vec![Link::new("All host metrics", "/console/hosts/metrics")],
        actions: host_actions(&id, str_of(&h, "resourcestate")),
        fields: f,
        charts,
        sections: vec![Section {
            title: "Recent events".into(),
            table: super::events_table("events", events, false),
            links: vec![],
            note: None,
        }],
        refresh: None,
    })
}

async fn host_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let detail = format!("/console/hosts/{id}");
    let idp = ("id", id.clone());
    match field(&f, "action") {
        "disable" => {
            s.act(
                "updateHost",
                &[idp, ("allocationstate", "Disable".into())],
                &detail,
                "The host is disabled.",
            )
            .await
        }
        "enable" => {
            s.act(
                "updateHost",
                &[idp, ("allocationstate", "Enable".into())],
                &detail,
                "The host is enabled.",
            )
            .await
        }
        "maintenance" => {
            s.act(
                "prepareHostForMaintenance",
                &[idp],
                &detail,
                "The host is in maintenance.",
            )
            .await
        }
        "cancel-maintenance" => {
            s.act(
                "cancelHostMaintenance",
                &[idp],
                &detail,
                "Maintenance cancelled: the host is enabled.",
            )
            .await
        }
        "reconnect" => {
            s.act("reconnectHost", &[idp], &detail, "The host reconnected.")
                .await
        }
        "delete" => match s.call("deleteHost", &[idp]).await {
            Ok(_) => redirect_with("/console/hosts", true, "The host was removed."),
            Err(e) => redirect_with(&detail, false, &e.text),
        },
        other => redirect_with(&detail, false, &format!("Unknown action '{other}'")),
    }
}

/// The clusters a host can join, as "Zone / Pod / Cluster" options.
pub(super) async fn cluster_options(s: &Session) -> Vec<(String, String)> {
    let clusters = s
        .list(
            "listClusters",
            &[("pagesize", "500".into()), ("page", "1".into())],
        )
        .await
        .map(|x| x.1)
        .unwrap_or_default();
    clusters
        .iter()
        .map(|c| {
            (
                id_of(c),
                format!(
                    "{} / {} / {}",
                    text(c, "zonename"),
                    text(c, "podname"),
                    text(c, "name")
                ),
            )
        })
        .collect()
}

fn host_fields(clusters: Vec<(String, String)>, f: &HashMap<String, String>) -> Vec<Field> {
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let user = if f.contains_key("username") {
        get("username")
    } else {
        "root".into()
    };
    vec![
        Field::select(
            "clusterid",
            "Zone / pod / cluster",
            get("clusterid"),
            clusters,
        ),
        Field::text("address", "Host name or IP address", get("address"), true)
            .placeholder("192.168.1.109")
            .help("The host must run sshd, libvirtd and QEMU; its agent is installed over SSH."),
        Field::text("username", "User name", user, true),
        Field::text("password", "Password", "", true).kind("password"),
    ]
}

async fn host_form(s: Session, Query(q): Q) -> Response {
    let clusters = cluster_options(&s).await;
    s.page(&FormPage {
        frame: s.frame("hosts"),
        section: "Hosts",
        title: "Add host".into(),
        intro: Some(
            "Give the host's address and root's password (or a user with passwordless sudo)."
                .into(),
        ),
        action: "/console/hosts/new".into(),
        fields: host_fields(clusters, &q),
        error: None,
        submit: "Add host".into(),
        cancel: "/console/hosts".into(),
        refresh: None,
    })
}

async fn add_host(s: Session, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let cluster_id = field(&f, "clusterid").to_string();
    let result = match s.one("listClusters", &cluster_id, &[]).await {
        Ok(Some(c)) => {
            s.call(
                "addHost",
                &[
                    ("zoneid", str_of(&c, "zoneid").to_string()),
                    ("podid", str_of(&c, "podid").to_string()),
                    ("clusterid", cluster_id.clone()),
                    ("url", format!("http://{}", field(&f, "address").trim())),
                    ("username", field(&f, "username").trim().to_string()),
                    ("password", field(&f, "password").to_string()),
                    ("hypervisor", "KVM".into()),
                ],
            )
            .await
        }
        Ok(None) => Err(stratus_api::ApiError::param(
            "Choose the cluster the host joins.",
        )),
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => {
            let id = match r {
                stratus_api::envelope::Reply::ObjectList { items, .. } => {
                    items.first().map(id_of).unwrap_or_default()
                }
                _ => String::new(),
            };
            redirect_with(&format!("/console/hosts/{id}"), true, "The host was added.")
        }
        Err(e) => {
            let kept: HashMap<String, String> = f
                .iter()
                .filter(|(k, _)| k != "password" && k != "sessionkey")
                .cloned()
                .collect();
            let clusters = cluster_options(&s).await;
            s.page_status(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                &FormPage {
                    frame: s.frame("hosts"),
                    section: "Hosts",
                    title: "Add host".into(),
                    intro: None,
                    action: "/console/hosts/new".into(),
                    fields: host_fields(clusters, &kept),
                    error: Some(e.text),
                    submit: "Add host".into(),
                    cancel: "/console/hosts".into(),
                    refresh: None,
                },
            )
        }
    }
}

// --- storage ---

async fn pools(s: Session, Query(q): Q) -> Response {
    list_page(
        &s,
        &q,
        "primary-storage",
        "Primary storage",
        "listStoragePools",
        POOL_HEADINGS,
        pool_cells,
        "No primary storage yet. Add an NFS export with + Add primary storage or the Add zone wizard.",
        vec![Link::primary("+ Add primary storage", "/console/primary-storage/new")],
    )
    .await
}

async fn pool(s: Session, Path(id): Path<String>) -> Response {
    let p = match s.one("listStoragePools", &id, &[]).await {
        Ok(Some(p)) => p,
        Ok(None) => return s.not_found("primary-storage", "storage pool"),
        Err(e) => return s.error_page("primary-storage", &e),
    };
    let url = format!("/console/primary-storage/{id}/action");
    let mut actions = vec![];
    if str_of(&p, "state") == "Maintenance" {
        actions.push(
            Action::new("cancel-maintenance", "Cancel maintenance", url.clone())
                .field("action", "cancel-maintenance"),
        );
    } else {
        actions.push(
            Action::new("maintenance", "Enable maintenance mode", url.clone())
                .field("action", "maintenance"),
        );
    }
    actions.push(
        Action::new("delete", "Delete primary storage", url)
            .field("action", "delete")
            .danger("Yes, delete this primary storage"),
    );
    let mut f = fields_of(&p, &[("ID", "id")]);
    f.push((
        "Zone".into(),
        link_to(&p, "zonename", "zoneid", "/console/zones"),
    ));
    f.push((
        "Pod".into(),
        link_to(&p, "podname", "podid", "/console/pods"),
    ));
    f.push((
        "Cluster".into(),
        link_to(&p, "clustername", "clusterid", "/console/clusters"),
    ));
    f.extend(fields_of(
        &p,
        &[
            ("Scope", "scope"),
            ("Type", "type"),
            ("Server", "ipaddress"),
            ("Path", "path"),
            ("Hypervisor", "hypervisor"),
        ],
    ));
    f.push((
        "Used".into(),
        usage_cell(&p, "disksizeused", "disksizetotal"),
    ));
    f.push((
        "Allocated".into(),
        usage_cell(&p, "disksizeallocated", "disksizetotal"),
    ));
    f.push(("Added".into(), Cell::text(date(str_of(&p, "created")))));
    s.page(&DetailPage {
        frame: s.frame("primary-storage"),
        title: text(&p, "name"),
        status: vec![Cell::state(str_of(&p, "state"))],
        back: Link::new("Primary storage", "/console/primary-storage"),
        toolbar: vec![],
        actions,
        fields: f,
        charts: vec![],
        sections: vec![],
        refresh: None,
    })
}

async fn pool_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let detail = format!("/console/primary-storage/{id}");
    let idp = ("id", id.clone());
    match field(&f, "action") {
        "maintenance" => {
            s.act(
                "enableStorageMaintenance",
                &[idp],
                &detail,
                "The storage is in maintenance.",
            )
            .await
        }
        "cancel-maintenance" => {
            s.act(
                "cancelStorageMaintenance",
                &[idp],
                &detail,
                "Maintenance cancelled.",
            )
            .await
        }
        "delete" => match s.call("deleteStoragePool", &[idp]).await {
            Ok(_) => redirect_with(
                "/console/primary-storage",
                true,
                "The primary storage was deleted.",
            ),
            Err(e) => redirect_with(&detail, false, &e.text),
        },
        other => redirect_with(&detail, false, &format!("Unknown action '{other}'")),
    }
}

async fn stores(s: Session, Query(q): Q) -> Response {
    list_page(
        &s,
        &q,
        "secondary-storage",
        "Secondary storage",
        "listImageStores",
        STORE_HEADINGS,
        store_cells,
        "No secondary storage yet. Add an NFS export with + Add secondary storage or the Add zone wizard.",
        vec![Link::primary("+ Add secondary storage", "/console/secondary-storage/new")],
    )
    .await
}

async fn store(s: Session, Path(id): Path<String>) -> Response {
    let st = match s.one("listImageStores", &id, &[]).await {
        Ok(Some(x)) => x,
        Ok(None) => return s.not_found("secondary-storage", "image store"),
        Err(e) => return s.error_page("secondary-storage", &e),
    };
    let mut f = fields_of(&st, &[("ID", "id")]);
    f.push((
        "Zone".into(),
        link_to(&st, "zonename", "zoneid", "/console/zones"),
    ));
    f.extend(fields_of(
        &st,
        &[
            ("URL", "url"),
            ("Protocol", "protocol"),
            ("Provider", "providername"),
            ("Scope", "scope"),
        ],
    ));
    f.push((
        "Used".into(),
        usage_cell(&st, "disksizeused", "disksizetotal"),
    ));
    s.page(&DetailPage {
        frame: s.frame("secondary-storage"),
        title: text(&st, "name"),
        status: vec![],
        back: Link::new("Secondary storage", "/console/secondary-storage"),
        toolbar: vec![],
        actions: vec![Action::new(
            "delete",
            "Delete secondary storage",
            format!("/console/secondary-storage/{id}/action"),
        )
        .field("action", "delete")
        .danger("Yes, delete this secondary storage")],
        fields: f,
        charts: vec![],
        sections: vec![],
        refresh: None,
    })
}

async fn store_action(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let detail = format!("/console/secondary-storage/{id}");
    match field(&f, "action") {
        "delete" => match s.call("deleteImageStore", &[("id", id.clone())]).await {
            Ok(_) => redirect_with(
                "/console/secondary-storage",
                true,
                "The secondary storage was deleted.",
            ),
            Err(e) => redirect_with(&detail, false, &e.text),
        },
        other => {
            redirect_with(&detail, false, &format!("Unknown action '{other}'")).into_response()
        }
    }
}
