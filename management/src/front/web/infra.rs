//! Infrastructure pages: zones, pods, clusters, hosts (with their quick actions, the
//! metrics table of the seed's figure 2-15 and charts of the retained samples), primary
//! and secondary storage, each as a list and a detail page.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::de::DeserializeOwned;
use stratus_api::types::{
    ClusterResponse, EventResponse, HostResponse, HostStatsItem, HostStatsResponse,
    ImageStoreResponse, PodResponse, StoragePoolResponse, VirtualMachineResponse,
    VlanIpRangeResponse, ZoneResponse,
};
use stratus_ui::chart::{self, Series};
use stratus_ui::format::{self, bytes, ghz};
use stratus_ui::{
    Action, Banner, Cell, DetailPage, Field, FormPage, Link, ListPage, Row, Section, Table,
};
use uuid::Uuid;

use super::show::{big, bytes_of, detail, float, number, plain, text, when};
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

/// An object a page lists: its id and name.
pub(super) trait Listed {
    fn id(&self) -> &Option<Uuid>;
    fn name(&self) -> &Option<String>;
}

macro_rules! listed {
    ($($t:ty),*) => {
        $(impl Listed for $t {
            fn id(&self) -> &Option<Uuid> {
                &self.id
            }
            fn name(&self) -> &Option<String> {
                &self.name
            }
        })*
    };
}

listed!(
    ZoneResponse,
    PodResponse,
    ClusterResponse,
    HostResponse,
    StoragePoolResponse,
    ImageStoreResponse
);

/// A range has no name: only its id is listed.
impl Listed for VlanIpRangeResponse {
    fn id(&self) -> &Option<Uuid> {
        &self.id
    }
    fn name(&self) -> &Option<String> {
        &None
    }
}

fn name_link(v: &impl Listed, base: &str) -> Cell {
    Cell::link(text(v.name()), format!("{base}/{}", plain(v.id())))
}

/// A link to the object `id` names, shown by `name`; its name alone without an id.
pub(super) fn link_to(name: &Option<String>, id: &Option<Uuid>, base: &str) -> Cell {
    match id {
        Some(id) => Cell::link(text(name), format!("{base}/{id}")),
        None => Cell::text(text(name)),
    }
}

pub(super) fn row(id: &Option<Uuid>, cells: Vec<Cell>) -> Row {
    Row {
        id: plain(id),
        cells,
        actions: vec![],
    }
}

/// A labelled field of a detail page.
pub(super) fn labelled(label: &str, cell: Cell) -> (String, Cell) {
    (label.to_string(), cell)
}

/// A list page from one list command.
#[allow(clippy::too_many_arguments)]
async fn list_page<T: Listed + DeserializeOwned>(
    s: &Session,
    q: &HashMap<String, String>,
    active: &'static str,
    title: &str,
    command: &str,
    headings: &[&str],
    cells: fn(&T) -> Vec<Cell>,
    empty: &str,
    toolbar: Vec<Link>,
) -> Response {
    arranged_list_page(
        s, q, active, title, command, headings, cells, empty, toolbar, None,
    )
    .await
}

/// How a list page sorts and filters (`lists`): its sort keys (one per heading), an
/// item's value for a key and its state, and the filters it offers.
pub(crate) struct ListArrangement<T> {
    pub keys: &'static [&'static str],
    pub key: fn(&T, &str) -> String,
    pub state: fn(&T) -> String,
    pub filters: super::lists::Filters,
    /// Whether the page's script keeps the rows' states current.
    pub live: bool,
}

/// A list page from one list command, sorted and filtered as `arrangement` says.
#[allow(clippy::too_many_arguments)]
async fn arranged_list_page<T: Listed + DeserializeOwned>(
    s: &Session,
    q: &HashMap<String, String>,
    active: &'static str,
    title: &str,
    command: &str,
    headings: &[&str],
    cells: fn(&T) -> Vec<Cell>,
    empty: &str,
    toolbar: Vec<Link>,
    arrangement: Option<ListArrangement<T>>,
) -> Response {
    let path: &'static str = match active {
        "hosts" => "/console/hosts",
        "zones" => "/console/zones",
        "pods" => "/console/pods",
        "clusters" => "/console/clusters",
        "primary-storage" => "/console/primary-storage",
        "secondary-storage" => "/console/secondary-storage",
        _ => "/console/dashboard",
    };
    let mut params = page_params(q);
    let mut arrange = arrangement
        .as_ref()
        .map(|a| super::lists::Arrange::new(path, a.keys, q));
    let mut filters = vec![];
    if let (Some(arr), Some(a)) = (arrange.as_mut(), arrangement.as_ref()) {
        filters = arr.filters(s, q, &a.filters, &mut params).await;
    }
    let (total, items) = match s.list_of::<T>(command, &params).await {
        Ok(x) => x,
        Err(e) => return s.error_page(active, &e),
    };
    let (total, items) = match (&arrange, &arrangement) {
        (Some(arr), Some(a)) => {
            let out = arr.apply(total, items, a.key, a.state);
            (out.total, out.items)
        }
        _ => (total, items),
    };
    let rows = items.iter().map(|v| row(v.id(), cells(v))).collect();
    let mut table = Table::new("list", headings, rows, empty);
    if let Some(arr) = &arrange {
        arr.decorate(&mut table, q, filters);
        table.live = arrangement.as_ref().is_some_and(|a| a.live);
    }
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
async fn section<T: Listed + DeserializeOwned>(
    s: &Session,
    title: &str,
    command: &str,
    params: &[(&str, String)],
    headings: &[&str],
    cells: fn(&T) -> Vec<Cell>,
    empty: &str,
) -> Section {
    let items = s
        .list_of::<T>(command, params)
        .await
        .map(|x| x.1)
        .unwrap_or_default();
    let id = title.to_ascii_lowercase().replace(' ', "-");
    Section {
        forms: vec![],
        title: title.into(),
        table: Table::new(
            &id,
            headings,
            items.iter().map(|v| row(v.id(), cells(v))).collect(),
            empty,
        ),
        links: vec![],
        note: None,
    }
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

fn zone_cells(v: &ZoneResponse) -> Vec<Cell> {
    vec![
        name_link(v, "/console/zones"),
        Cell::text(text(&v.networktype)),
        Cell::state(plain(&v.allocationstate)),
        Cell::text(text(&v.dns1)),
        Cell::text(text(&v.internaldns1)),
        Cell::text(text(&v.guestcidraddress)),
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

fn pod_cells(v: &PodResponse) -> Vec<Cell> {
    vec![
        name_link(v, "/console/pods"),
        link_to(&v.zonename, &v.zoneid, "/console/zones"),
        Cell::text(text(&v.gateway)),
        Cell::text(text(&v.netmask)),
        Cell::text(text(&v.startip)),
        Cell::text(text(&v.endip)),
        Cell::state(plain(&v.allocationstate)),
    ]
}

const CLUSTER_HEADINGS: &[&str] = &["Name", "Zone", "Pod", "Hypervisor", "Allocation", "Managed"];

fn cluster_cells(v: &ClusterResponse) -> Vec<Cell> {
    vec![
        name_link(v, "/console/clusters"),
        link_to(&v.zonename, &v.zoneid, "/console/zones"),
        link_to(&v.podname, &v.podid, "/console/pods"),
        Cell::text(text(&v.hypervisortype)),
        Cell::state(plain(&v.allocationstate)),
        Cell::text(text(&v.managedstate)),
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

fn host_cells(v: &HostResponse) -> Vec<Cell> {
    vec![
        name_link(v, "/console/hosts"),
        link_to(&v.zonename, &v.zoneid, "/console/zones"),
        link_to(&v.podname, &v.podid, "/console/pods"),
        link_to(&v.clustername, &v.clusterid, "/console/clusters"),
        Cell::text(text(&v.ipaddress)),
        Cell::state(plain(&v.state)),
        Cell::state(plain(&v.resourcestate)),
        Cell::text(text(&v.hypervisorversion)),
    ]
}

const POOL_HEADINGS: &[&str] = &["Name", "Zone", "Scope", "Server", "Path", "State", "Used"];

fn usage_cell(used: &Option<i64>, total: &Option<i64>) -> Cell {
    match (big(used), big(total)) {
        (Some(u), Some(t)) if t > 0.0 => Cell::bar(
            format::percent(u, t),
            format!("{} of {}", bytes(u), bytes(t)),
            true,
        ),
        _ => Cell::text("—"),
    }
}

fn pool_cells(v: &StoragePoolResponse) -> Vec<Cell> {
    vec![
        name_link(v, "/console/primary-storage"),
        link_to(&v.zonename, &v.zoneid, "/console/zones"),
        Cell::text(text(&v.scope)),
        Cell::text(text(&v.ipaddress)),
        Cell::mono(text(&v.path)),
        Cell::state(plain(&v.state)),
        usage_cell(&v.disksizeused, &v.disksizetotal),
    ]
}

const STORE_HEADINGS: &[&str] = &["Name", "Zone", "Protocol", "URL", "Used"];

fn store_cells(v: &ImageStoreResponse) -> Vec<Cell> {
    vec![
        name_link(v, "/console/secondary-storage"),
        link_to(&v.zonename, &v.zoneid, "/console/zones"),
        Cell::text(text(&v.protocol)),
        Cell::mono(text(&v.url)),
        usage_cell(&v.disksizeused, &v.disksizetotal),
    ]
}

const RANGE_HEADINGS: &[&str] = &[
    "Pod", "VLAN", "Gateway", "Netmask", "Start IP", "End IP", "For",
];

fn range_cells(v: &VlanIpRangeResponse) -> Vec<Cell> {
    vec![
        link_to(&v.podname, &v.podid, "/console/pods"),
        Cell::text(text(&v.vlan)),
        Cell::text(text(&v.gateway)),
        Cell::text(text(&v.netmask)),
        Cell::text(text(&v.startip)),
        Cell::text(text(&v.endip)),
        Cell::text(if v.forvirtualnetwork == Some(true) {
            "Public"
        } else {
            "Guests"
        }),
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

/// Each IP range row gets a Delete (confirmed), coming back to `back`.
fn range_actions(section: &mut Section, back: &str) {
    for r in &mut section.table.rows {
        r.actions.push(
            Action::new(
                "delete",
                "Delete",
                format!("/console/ranges/{}/delete", r.id),
            )
            .field("back", back)
            .danger("Yes, delete this range"),
        );
    }
}

async fn zone(s: Session, Path(id): Path<String>) -> Response {
    let z = match s.one_of::<ZoneResponse>("listZones", &id, &[]).await {
        Ok(Some(z)) => z,
        Ok(None) => return s.not_found("zones", "zone"),
        Err(e) => return s.error_page("zones", &e),
    };
    let base = format!("/console/zones/{id}");
    let by_zone = [("zoneid", id.clone())];
    let mut actions = allocation_actions(&base, &plain(&z.allocationstate));
    actions.push(
        Action::new("delete", "Delete zone", format!("{base}/action"))
            .field("action", "delete")
            .danger("Yes, delete this zone"),
    );
    actions.push(
        Action::new(
            "remove",
            "Remove zone and everything in it",
            format!("{base}/remove"),
        )
        .danger("Yes, delete its storage, IP ranges, clusters and pods, then the zone"),
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
    sections[0]
        .links
        .push(Link::new("+ Add pod", format!("{base}/pods/new")));
    sections[1]
        .links
        .push(Link::new("+ Add cluster", format!("{base}/clusters/new")));
    sections[2]
        .links
        .push(Link::new("+ Add host", "/console/hosts/new"));
    sections[3]
        .links
        .push(Link::new("+ Add IP range", format!("{base}/ranges/new")));
    range_actions(&mut sections[3], &base);
    if plain(&z.networktype) == "Advanced" {
        sections.insert(0, super::physical_networks::zone_section(&s, &id).await);
    }
    // A zone left Disabled before it had everything (the wizard abandoned) can be
    // taken up again in the wizard.
    let unfinished =
        plain(&z.allocationstate) == "Disabled" && sections.iter().any(|s| s.table.rows.is_empty());
    let mut toolbar = vec![Link::new(
        "Settings",
        format!("/console/settings?zoneid={id}"),
    )];
    if unfinished {
        toolbar.push(Link::primary(
            "Continue setting up this zone",
            format!("{base}/resume"),
        ));
    }
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("zones"),
        title: text(&z.name),
        status: vec![Cell::state(plain(&z.allocationstate))],
        back: Link::new("Zones", "/console/zones"),
        toolbar,
        actions,
        fields: vec![
            labelled("ID", Cell::mono(text(&z.id))),
            labelled("Network type", Cell::text(text(&z.networktype))),
            labelled("Allocation state", Cell::text(text(&z.allocationstate))),
            labelled("DNS 1", Cell::text(text(&z.dns1))),
            labelled("DNS 2", Cell::text(text(&z.dns2))),
            labelled("Internal DNS 1", Cell::text(text(&z.internaldns1))),
            labelled("Internal DNS 2", Cell::text(text(&z.internaldns2))),
            labelled("Guest CIDR", Cell::text(text(&z.guestcidraddress))),
            labelled(
                "Security groups",
                Cell::text(text(&z.securitygroupsenabled)),
            ),
            labelled("Created", Cell::text(when(&z.created))),
        ],
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
    let p = match s.one_of::<PodResponse>("listPods", &id, &[]).await {
        Ok(Some(p)) => p,
        Ok(None) => return s.not_found("pods", "pod"),
        Err(e) => return s.error_page("pods", &e),
    };
    let base = format!("/console/pods/{id}");
    let by_pod = [("podid", id.clone())];
    let mut actions = allocation_actions(&base, &plain(&p.allocationstate));
    actions.push(
        Action::new("delete", "Delete pod", format!("{base}/action"))
            .field("action", "delete")
            .danger("Yes, delete this pod"),
    );
    let f = vec![
        labelled("ID", Cell::mono(text(&p.id))),
        labelled("Zone", link_to(&p.zonename, &p.zoneid, "/console/zones")),
        labelled("Gateway", Cell::text(text(&p.gateway))),
        labelled("Netmask", Cell::text(text(&p.netmask))),
        labelled("Reserved start IP", Cell::text(text(&p.startip))),
        labelled("Reserved end IP", Cell::text(text(&p.endip))),
        labelled("Created", Cell::text(when(&p.created))),
    ];
    let zone_ranges = [("zoneid", plain(&p.zoneid)), ("podid", id.clone())];
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
    let mut sections = sections;
    let zone_base = format!("/console/zones/{}", plain(&p.zoneid));
    let pod_q = super::query_string(&[("podid", id.clone())]);
    sections[0].links.push(Link::new(
        "+ Add cluster",
        format!("{zone_base}/clusters/new{pod_q}"),
    ));
    sections[2].links.push(Link::new(
        "+ Add guest IP range",
        format!("{zone_base}/ranges/new{pod_q}"),
    ));
    range_actions(&mut sections[2], &base);
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("pods"),
        title: text(&p.name),
        status: vec![Cell::state(plain(&p.allocationstate))],
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
    let c = match s.one_of::<ClusterResponse>("listClusters", &id, &[]).await {
        Ok(Some(c)) => c,
        Ok(None) => return s.not_found("clusters", "cluster"),
        Err(e) => return s.error_page("clusters", &e),
    };
    let base = format!("/console/clusters/{id}");
    let by_cluster = [("clusterid", id.clone())];
    let mut actions = allocation_actions(&base, &plain(&c.allocationstate));
    actions.push(
        Action::new("delete", "Delete cluster", format!("{base}/action"))
            .field("action", "delete")
            .danger("Yes, delete this cluster"),
    );
    let f = vec![
        labelled("ID", Cell::mono(text(&c.id))),
        labelled("Zone", link_to(&c.zonename, &c.zoneid, "/console/zones")),
        labelled("Pod", link_to(&c.podname, &c.podid, "/console/pods")),
        labelled("Hypervisor", Cell::text(text(&c.hypervisortype))),
        labelled("Type", Cell::text(text(&c.clustertype))),
        labelled("Managed", Cell::text(text(&c.managedstate))),
        labelled("CPU overcommit", Cell::text(text(&c.cpuovercommitratio))),
        labelled(
            "Memory overcommit",
            Cell::text(text(&c.memoryovercommitratio)),
        ),
        labelled("Created", Cell::text(when(&c.created))),
    ];
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
        banner: None,
        frame: s.frame("clusters"),
        title: text(&c.name),
        status: vec![Cell::state(plain(&c.allocationstate))],
        back: Link::new("Clusters", "/console/clusters"),
        toolbar: vec![Link::new(
            "Settings",
            format!("/console/settings?clusterid={id}"),
        )],
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

/// The host list's sort keys, one per heading of `HOST_HEADINGS`.
const HOST_SORTS: &[&str] = &[
    "name",
    "zone",
    "pod",
    "cluster",
    "address",
    "state",
    "resourcestate",
    "version",
];

fn host_sort_key(v: &HostResponse, key: &str) -> String {
    match key {
        "zone" => plain(&v.zonename),
        "pod" => plain(&v.podname),
        "cluster" => plain(&v.clustername),
        "address" => super::lists::address_key(&plain(&v.ipaddress)),
        "state" => plain(&v.state),
        "resourcestate" => plain(&v.resourcestate),
        "version" => plain(&v.hypervisorversion),
        _ => plain(&v.name),
    }
}

/// A host's status (listHosts' `state`), as the host state machine spells them.
const HOST_STATES: &[&str] = &["Up", "Connecting", "Disconnected", "Alert", "Down"];

async fn hosts(s: Session, Query(q): Q) -> Response {
    arranged_list_page(
        &s,
        &q,
        "hosts",
        "Hosts",
        "listHosts",
        HOST_HEADINGS,
        host_cells,
        "No hosts match. Add one with + Add host.",
        vec![
            Link::new("Metrics", "/console/hosts/metrics"),
            Link::primary("+ Add host", "/console/hosts/new"),
        ],
        Some(ListArrangement {
            keys: HOST_SORTS,
            key: host_sort_key,
            state: |v| plain(&v.state),
            filters: super::lists::Filters {
                states: HOST_STATES,
                state_param: true,
                zone: true,
                account: false,
            },
            live: true,
        }),
    )
    .await
}

/// The seed's figure 2-15: CPU, memory and network of every host, side by side.
async fn host_metrics(s: Session, Query(q): Q) -> Response {
    let (total, items) = match s
        .list_of::<HostResponse>("listHostsMetrics", &page_params(&q))
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("hosts", &e),
    };
    let rows = items
        .iter()
        .map(|v| {
            let cores = float(&v.cpunumber).unwrap_or(0.0);
            let mhz = cores * big(&v.cpuspeed).unwrap_or(0.0);
            let pct = |f: &Option<String>| number(f).unwrap_or(0.0) / 100.0;
            let kib = |f: &Option<i64>| {
                big(f)
                    .map(|k| bytes(k * 1024.0))
                    .unwrap_or_else(|| "—".into())
            };
            row(
                &v.id,
                vec![
                    name_link(v, "/console/hosts"),
                    Cell::state(plain(&v.state)),
                    Cell::num(text(&v.instances)),
                    Cell::num(format!("{cores:.0}")),
                    Cell::num(ghz(mhz)),
                    Cell::num(ghz(mhz * pct(&v.cpuused))),
                    Cell::num(ghz(mhz * pct(&v.cpuallocated))),
                    Cell::num(bytes_of(&v.memorytotal)),
                    Cell::num(bytes_of(&v.memoryused)),
                    Cell::num(bytes_of(&v.memoryallocated)),
                    Cell::num(kib(&v.networkkbsread)),
                    Cell::num(kib(&v.networkkbswrite)),
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
        .list_of::<HostStatsResponse>("listHostsUsageHistory", &[("id", id.to_string())])
        .await
    else {
        return vec![];
    };
    let stats = items
        .into_iter()
        .next()
        .map(|h| h.stats)
        .unwrap_or_default();
    let series = |f: fn(&HostStatsItem) -> Option<f64>, scale: f64| -> Vec<(f64, f64)> {
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
            "Memory used",
            &[Series {
                label: "Used".into(),
                color: "#12b76a",
                points: series(|v| big(&v.memoryusedkbs), 1024.0),
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
                    points: chart::rates(&series(|v| big(&v.networkkbsread), 1024.0)),
                },
                Series {
                    label: "Write".into(),
                    color: "#f79009",
                    points: chart::rates(&series(|v| big(&v.networkkbswrite), 1024.0)),
                },
            ],
            None,
            rate,
        ),
    ]
}

async fn host(s: Session, Path(id): Path<String>) -> Response {
    let h = match s.one_of::<HostResponse>("listHosts", &id, &[]).await {
        Ok(Some(h)) => h,
        Ok(None) => return s.not_found("hosts", "host"),
        Err(e) => return s.error_page("hosts", &e),
    };
    let cores = float(&h.cpunumber).unwrap_or(0.0);
    let mhz = cores * big(&h.cpuspeed).unwrap_or(0.0);
    let mut f = vec![
        labelled("ID", Cell::mono(text(&h.id))),
        labelled("Address", Cell::text(text(&h.ipaddress))),
        labelled("Zone", link_to(&h.zonename, &h.zoneid, "/console/zones")),
        labelled("Pod", link_to(&h.podname, &h.podid, "/console/pods")),
        labelled(
            "Cluster",
            link_to(&h.clustername, &h.clusterid, "/console/clusters"),
        ),
        labelled("State", Cell::state(plain(&h.state))),
        labelled("Resource state", Cell::state(plain(&h.resourcestate))),
        labelled("Host tags", Cell::text(text(&h.hosttags))),
    ];
    f.push((
        "CPU".into(),
        Cell::text(format!(
            "{cores:.0} cores × {} MHz = {} ({} used)",
            text(&h.cpuspeed),
            ghz(mhz),
            text(&h.cpuused)
        )),
    ));
    f.push((
        "Memory".into(),
        match (big(&h.memoryused), big(&h.memorytotal)) {
            (Some(u), Some(t)) => Cell::bar(
                format::percent(u, t),
                format!("{} of {}", bytes(u), bytes(t)),
                true,
            ),
            _ => Cell::text("—"),
        },
    ));
    f.extend([
        labelled("Hypervisor", Cell::text(text(&h.hypervisor))),
        labelled("QEMU", Cell::text(text(&h.hypervisorversion))),
        labelled("Agent", Cell::text(text(&h.version))),
        labelled("Architecture", Cell::text(text(&h.arch))),
    ]);
    for (label, key) in [
        ("Acceleration", "acceleration"),
        ("libvirt", "libvirtversion"),
        ("OS", "os"),
        ("Kernel", "kernel"),
    ] {
        f.push((label.into(), Cell::text(detail(&h.details, key))));
    }
    f.push(("Last heartbeat".into(), Cell::text(when(&h.lastpinged))));
    f.push(("Added".into(), Cell::text(when(&h.created))));
    let charts = host_charts(&s, &id, big(&h.memorytotal)).await;
    let events = s
        .list_of::<EventResponse>(
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
    let resource_state = plain(&h.resourcestate);
    let (instances, total) = host_instances(&s, &id).await;
    let (banner, refresh) = maintenance_progress(&resource_state, total);
    s.page(&DetailPage {
        banner,
        frame: s.frame("hosts"),
        title: text(&h.name),
        status: vec![
            Cell::state(plain(&h.state)),
            Cell::state(plain(&h.resourcestate)),
        ],
        back: Link::new("Hosts", "/console/hosts"),
        toolbar: vec![Link::new("All host metrics", "/console/hosts/metrics")],
        actions: host_actions(&id, &plain(&h.resourcestate)),
        fields: f,
        charts,
        sections: vec![
            Section {
                forms: vec![],
                title: "Instances on this host".into(),
                table: instances,
                links: vec![],
                note: (total > HOST_INSTANCES)
                    .then(|| format!("The first {HOST_INSTANCES} of {total}.")),
            },
            Section {
                forms: vec![],
                title: "Recent events".into(),
                table: super::events_table("events", events, false),
                links: vec![],
                note: None,
            },
        ],
        refresh,
    })
}

/// How many of a host's instances its page lists.
const HOST_INSTANCES: usize = 50;

/// The instances placed on a host (any state: a host in Maintenance holds none), and
/// how many there are in all.
async fn host_instances(s: &Session, id: &str) -> (Table, usize) {
    let (total, items) = s
        .list_of::<VirtualMachineResponse>(
            "listVirtualMachines",
            &[
                ("hostid", id.to_string()),
                ("listall", "true".into()),
                ("pagesize", HOST_INSTANCES.to_string()),
                ("page", "1".into()),
            ],
        )
        .await
        .unwrap_or_default();
    let rows = items
        .iter()
        .map(|v| Row {
            id: plain(&v.id),
            cells: vec![
                link_to(&v.name, &v.id, "/console/instances"),
                Cell::state(plain(&v.state)),
                Cell::text(text(&v.account)),
                Cell::text(text(&v.serviceofferingname)),
            ],
            actions: vec![],
        })
        .collect();
    let table = Table::new(
        "host-instances",
        &["Name", "State", "Account", "Offering"],
        rows,
        "No instances on this host.",
    );
    (table, usize::try_from(total).unwrap_or(0))
}

/// The maintenance progress of a host (issue 16): while prepareHostForMaintenance
/// empties it, how many instances are still to move, and the page refreshes itself;
/// when it could not, what is left and what the admin can do. CloudStack shows only
/// the state.
fn maintenance_progress(resource_state: &str, left: usize) -> (Option<Banner>, Option<u32>) {
    let instances = |n: usize| match n {
        1 => "1 instance".to_string(),
        n => format!("{n} instances"),
    };
    match resource_state {
        "PrepareForMaintenance" => (
            Some(Banner {
                class: "info",
                title: "Preparing for maintenance".into(),
                text: if left == 0 {
                    "Every instance has left this host; it enters Maintenance next.".into()
                } else {
                    format!(
                        "{} still on this host: each running one is being live-migrated to another host.",
                        instances(left)
                    )
                },
                links: vec![],
                next: vec!["This page refreshes itself until the host is in Maintenance.".into()],
            }),
            Some(5),
        ),
        "ErrorInMaintenance" => (
            Some(Banner {
                class: "bad",
                title: "Maintenance could not empty this host".into(),
                text: format!(
                    "{} could not be moved; the events below say why.",
                    instances(left)
                ),
                links: vec![],
                next: vec![
                    "Stop or migrate the instances left, then prepare for maintenance again."
                        .into(),
                    "Or cancel maintenance to enable the host as it is.".into(),
                ],
            }),
            None,
        ),
        _ => (None, None),
    }
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
        .list_of::<ClusterResponse>(
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
                plain(&c.id),
                format!(
                    "{} / {} / {}",
                    text(&c.zonename),
                    text(&c.podname),
                    text(&c.name)
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
        Field::text("hosttags", "Host tags", get("hosttags"), false)
            .placeholder("ssd,gpu")
            .help("Comma-separated; instances of offerings with host tags run only on hosts carrying all of them."),
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
    let result = match s
        .one_of::<ClusterResponse>("listClusters", &cluster_id, &[])
        .await
    {
        Ok(Some(c)) => {
            s.call(
                "addHost",
                &[
                    ("zoneid", plain(&c.zoneid)),
                    ("podid", plain(&c.podid)),
                    ("clusterid", cluster_id.clone()),
                    ("url", format!("http://{}", field(&f, "address").trim())),
                    ("username", field(&f, "username").trim().to_string()),
                    ("password", field(&f, "password").to_string()),
                    ("hypervisor", "KVM".into()),
                    ("hosttags", field(&f, "hosttags").trim().to_string()),
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
                stratus_api::envelope::Reply::ObjectList { .. } => {
                    match super::created::<HostResponse>("addHost", r) {
                        Ok(h) => h.map(|h| plain(&h.id)).unwrap_or_default(),
                        Err(e) => return redirect_with("/console/hosts", false, &e.text),
                    }
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
    let p = match s
        .one_of::<StoragePoolResponse>("listStoragePools", &id, &[])
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return s.not_found("primary-storage", "storage pool"),
        Err(e) => return s.error_page("primary-storage", &e),
    };
    let url = format!("/console/primary-storage/{id}/action");
    let mut actions = vec![];
    if p.state.as_deref() == Some("Maintenance") {
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
    let f = vec![
        labelled("ID", Cell::mono(text(&p.id))),
        labelled("Zone", link_to(&p.zonename, &p.zoneid, "/console/zones")),
        labelled("Pod", link_to(&p.podname, &p.podid, "/console/pods")),
        labelled(
            "Cluster",
            link_to(&p.clustername, &p.clusterid, "/console/clusters"),
        ),
        labelled("Scope", Cell::text(text(&p.scope))),
        labelled("Type", Cell::text(text(&p.r#type))),
        labelled("Server", Cell::text(text(&p.ipaddress))),
        labelled("Path", Cell::text(text(&p.path))),
        labelled("Hypervisor", Cell::text(text(&p.hypervisor))),
        labelled("Storage tags", Cell::text(text(&p.tags))),
        labelled("Used", usage_cell(&p.disksizeused, &p.disksizetotal)),
        labelled(
            "Allocated",
            usage_cell(&p.disksizeallocated, &p.disksizetotal),
        ),
        labelled("Added", Cell::text(when(&p.created))),
    ];
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("primary-storage"),
        title: text(&p.name),
        status: vec![Cell::state(plain(&p.state))],
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
    let st = match s
        .one_of::<ImageStoreResponse>("listImageStores", &id, &[])
        .await
    {
        Ok(Some(x)) => x,
        Ok(None) => return s.not_found("secondary-storage", "image store"),
        Err(e) => return s.error_page("secondary-storage", &e),
    };
    let f = vec![
        labelled("ID", Cell::mono(text(&st.id))),
        labelled("Zone", link_to(&st.zonename, &st.zoneid, "/console/zones")),
        labelled("URL", Cell::text(text(&st.url))),
        labelled("Protocol", Cell::text(text(&st.protocol))),
        labelled("Provider", Cell::text(text(&st.providername))),
        labelled("Scope", Cell::text(text(&st.scope))),
        labelled("Used", usage_cell(&st.disksizeused, &st.disksizetotal)),
    ];
    s.page(&DetailPage {
        banner: None,
        frame: s.frame("secondary-storage"),
        title: text(&st.name),
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
