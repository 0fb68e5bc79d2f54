//! A zone's infrastructure outside the Add Zone wizard: add a pod, a cluster or an IP
//! range from the zone's (or pod's) page, delete an IP range, resume an unfinished zone
//! in the wizard, or remove a zone with everything it holds in one confirmed action.
//! Each form posts the API's command (createPod, addCluster, createVlanIpRange,
//! deleteVlanIpRange...) through the command layer; a refusal comes back on the form
//! with the input kept.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use stratus_api::types::{
    ClusterResponse, HostResponse, ImageStoreResponse, PodResponse, StoragePoolResponse,
    VlanIpRangeResponse, ZoneResponse,
};
use stratus_api::ApiError;
use stratus_ui::{Field, FormPage};

use super::show::{plain, text};
use super::{field, local_path, redirect_with, Fields, Outcome, Session};
use crate::ctx::Ctx;

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/zones/{id}/pods/new", get(pod_form).post(add_pod))
        .route(
            "/console/zones/{id}/clusters/new",
            get(cluster_form).post(add_cluster),
        )
        .route(
            "/console/zones/{id}/ranges/new",
            get(range_form).post(add_range),
        )
        .route("/console/zones/{id}/remove", post(remove_zone))
        .route("/console/ranges/{id}/delete", post(delete_range))
}

type Q = Query<HashMap<String, String>>;

fn zone_path(id: &str) -> String {
    format!("/console/zones/{id}")
}

async fn zone_of(s: &Session, id: &str) -> Result<ZoneResponse, Response> {
    if !s.is_admin() {
        return Err(s.not_found("zones", "page"));
    }
    match s.one_of::<ZoneResponse>("listZones", id, &[]).await {
        Ok(Some(z)) => Ok(z),
        Ok(None) => Err(s.not_found("zones", "zone")),
        Err(e) => Err(s.error_page("zones", &e)),
    }
}

/// The zone's pods as drop-down options (id → name).
async fn pods_of(s: &Session, zone: &str) -> Vec<(String, String)> {
    s.list_of::<PodResponse>(
        "listPods",
        &[
            ("zoneid", zone.to_string()),
            ("pagesize", "500".into()),
            ("page", "1".into()),
        ],
    )
    .await
    .map(|(_, p)| p)
    .unwrap_or_default()
    .iter()
    .map(|p| (plain(&p.id), text(&p.name)))
    .collect()
}

fn page(
    s: &Session,
    z: &ZoneResponse,
    (title, action): (&str, String),
    intro: &str,
    fields: Vec<Field>,
    error: Option<String>,
) -> FormPage {
    let id = plain(&z.id);
    FormPage {
        frame: s.frame("zones"),
        section: "Zones",
        title: format!("{title} — zone {}", text(&z.name)),
        intro: Some(intro.into()),
        action,
        fields,
        error,
        submit: title.into(),
        cancel: zone_path(&id),
        refresh: None,
    }
}

fn v<'a>(f: Option<&'a Fields>, name: &str) -> &'a str {
    f.map(|f| field(f, name)).unwrap_or("")
}

fn range_fields(f: Option<&Fields>, prefix: &str) -> Vec<Field> {
    vec![
        Field::text(
            "gateway",
            &format!("{prefix}gateway"),
            v(f, "gateway"),
            true,
        ),
        Field::text(
            "netmask",
            &format!("{prefix}netmask"),
            v(f, "netmask"),
            true,
        )
        .placeholder("255.255.255.0"),
        Field::text(
            "startip",
            &format!("{prefix}start IP"),
            v(f, "startip"),
            true,
        ),
        Field::text("endip", &format!("{prefix}end IP"), v(f, "endip"), true),
    ]
}

// ---- pods

fn pod_fields(f: Option<&Fields>) -> Vec<Field> {
    let mut out = vec![Field::text("name", "Pod name", v(f, "name"), true)];
    out.extend(range_fields(f, "Reserved system "));
    out
}

const POD_INTRO: &str = "A pod is a rack: its hosts share a subnet. The reserved range is for the cloud's own use in the pod and must not overlap the zone's other ranges.";

async fn pod_form(s: Session, Path(id): Path<String>) -> Response {
    let z = match zone_of(&s, &id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    s.page(&page(
        &s,
        &z,
        ("Add pod", format!("/console/zones/{id}/pods/new")),
        POD_INTRO,
        pod_fields(None),
        None,
    ))
}

async fn add_pod(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let z = match zone_of(&s, &id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    let mut params = vec![("zoneid", id.clone())];
    for k in ["name", "gateway", "netmask", "startip", "endip"] {
        params.push((k, field(&f, k).trim().to_string()));
    }
    match s.call("createPod", &params).await {
        Ok(_) => redirect_with(
            &zone_path(&id),
            true,
            &format!("The pod {} was added.", field(&f, "name").trim()),
        ),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(
                &s,
                &z,
                ("Add pod", format!("/console/zones/{id}/pods/new")),
                POD_INTRO,
                pod_fields(Some(&f)),
                Some(e.text),
            ),
        ),
    }
}

// ---- clusters

fn cluster_fields(f: Option<&Fields>, pods: Vec<(String, String)>, pod: &str) -> Vec<Field> {
    vec![
        Field::text("name", "Cluster name", v(f, "name"), true),
        Field::select("podid", "Pod", pod, pods),
    ]
}

const CLUSTER_INTRO: &str =
    "A cluster groups hosts of one hypervisor that share primary storage. Stratus clusters are KVM.";

async fn cluster_form(s: Session, Path(id): Path<String>, Query(q): Q) -> Response {
    let z = match zone_of(&s, &id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    let pod = q.get("podid").cloned().unwrap_or_default();
    s.page(&page(
        &s,
        &z,
        ("Add cluster", format!("/console/zones/{id}/clusters/new")),
        CLUSTER_INTRO,
        cluster_fields(None, pods_of(&s, &id).await, &pod),
        None,
    ))
}

async fn add_cluster(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let z = match zone_of(&s, &id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    let params = [
        ("zoneid", id.clone()),
        ("podid", field(&f, "podid").to_string()),
        ("clustername", field(&f, "name").trim().to_string()),
        ("clustertype", "CloudManaged".into()),
        ("hypervisor", "KVM".into()),
    ];
    match s.call("addCluster", &params).await {
        Ok(_) => redirect_with(
            &zone_path(&id),
            true,
            &format!("The cluster {} was added.", field(&f, "name").trim()),
        ),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(
                &s,
                &z,
                ("Add cluster", format!("/console/zones/{id}/clusters/new")),
                CLUSTER_INTRO,
                cluster_fields(Some(&f), pods_of(&s, &id).await, field(&f, "podid")),
                Some(e.text),
            ),
        ),
    }
}

// ---- IP ranges

fn advanced(z: &ZoneResponse) -> bool {
    z.networktype.as_deref() == Some("Advanced")
}

fn range_form_fields(
    z: &ZoneResponse,
    f: Option<&Fields>,
    pods: Vec<(String, String)>,
    pod: &str,
) -> Vec<Field> {
    let mut out = vec![];
    if advanced(z) {
        out.extend(range_fields(f, "Public "));
        out.push(
            Field::text("vlan", "VLAN/VNI", v(f, "vlan"), false)
                .help("Leave empty for an untagged network."),
        );
    } else {
        out.push(Field::select("podid", "Pod", pod, pods));
        out.extend(range_fields(f, "Guest "));
    }
    out
}

fn range_intro(z: &ZoneResponse) -> &'static str {
    if advanced(z) {
        "A range of public addresses for the zone's guests' traffic to and from the Internet."
    } else {
        "Guests of the pod get their addresses from this range. It must not overlap the zone's other ranges."
    }
}

async fn range_form(s: Session, Path(id): Path<String>, Query(q): Q) -> Response {
    let z = match zone_of(&s, &id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    let pod = q.get("podid").cloned().unwrap_or_default();
    s.page(&page(
        &s,
        &z,
        ("Add IP range", format!("/console/zones/{id}/ranges/new")),
        range_intro(&z),
        range_form_fields(&z, None, pods_of(&s, &id).await, &pod),
        None,
    ))
}

async fn add_range(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let z = match zone_of(&s, &id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    let mut params = vec![("zoneid", id.clone())];
    for k in ["gateway", "netmask", "startip", "endip"] {
        params.push((k, field(&f, k).trim().to_string()));
    }
    if advanced(&z) {
        params.push(("forvirtualnetwork", "true".into()));
        if !field(&f, "vlan").trim().is_empty() {
            params.push(("vlan", field(&f, "vlan").trim().to_string()));
        }
    } else {
        params.push(("forvirtualnetwork", "false".into()));
        params.push(("podid", field(&f, "podid").to_string()));
    }
    match s.call("createVlanIpRange", &params).await {
        Ok(_) => redirect_with(
            &zone_path(&id),
            true,
            &format!(
                "The IP range {}–{} was added.",
                field(&f, "startip").trim(),
                field(&f, "endip").trim()
            ),
        ),
        Err(e) => s.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(
                &s,
                &z,
                ("Add IP range", format!("/console/zones/{id}/ranges/new")),
                range_intro(&z),
                range_form_fields(&z, Some(&f), pods_of(&s, &id).await, field(&f, "podid")),
                Some(e.text),
            ),
        ),
    }
}

async fn delete_range(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let back = local_path(field(&f, "back"), "/console/zones");
    s.act(
        "deleteVlanIpRange",
        &[("id", id)],
        &back,
        "The IP range was deleted.",
    )
    .await
}

// ---- removing a zone with what it holds

/// Ids of what `command` lists in the zone.
async fn ids<T: serde::de::DeserializeOwned>(
    s: &Session,
    command: &str,
    zone: &str,
    id_of: fn(&T) -> String,
) -> Result<Vec<String>, ApiError> {
    let (_, items) = s
        .list_of::<T>(
            command,
            &[
                ("zoneid", zone.to_string()),
                ("pagesize", "500".into()),
                ("page", "1".into()),
            ],
        )
        .await?;
    Ok(items.iter().map(id_of).collect())
}

/// Deletes everything a zone holds, then the zone: secondary and primary storage, IP
/// ranges, clusters, pods. A zone with hosts is refused (they hold guests: put them in
/// maintenance and remove them first); the first refusal stops the removal and says
/// what is left.
async fn remove_zone(s: Session, Path(id): Path<String>, Form(f): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&f) {
        return r;
    }
    let z = match zone_of(&s, &id).await {
        Ok(z) => z,
        Err(r) => return r,
    };
    let back = zone_path(&id);
    if field(&f, "confirm") != "yes" {
        return redirect_with(&back, false, "Tick the box to confirm the removal.");
    }
    let steps = async {
        let hosts = ids::<HostResponse>(&s, "listHosts", &id, |h| plain(&h.id)).await?;
        if !hosts.is_empty() {
            return Err(ApiError::param(format!(
                "Zone {} has {} host(s): put them in maintenance and remove them first, then remove the zone.",
                text(&z.name),
                hosts.len()
            )));
        }
        let plan: Vec<(&str, Vec<String>)> = vec![
            (
                "deleteImageStore",
                ids::<ImageStoreResponse>(&s, "listImageStores", &id, |x| plain(&x.id)).await?,
            ),
            (
                "deleteStoragePool",
                ids::<StoragePoolResponse>(&s, "listStoragePools", &id, |x| plain(&x.id)).await?,
            ),
            (
                "deleteVlanIpRange",
                ids::<VlanIpRangeResponse>(&s, "listVlanIpRanges", &id, |x| plain(&x.id)).await?,
            ),
            (
                "deleteCluster",
                ids::<ClusterResponse>(&s, "listClusters", &id, |x| plain(&x.id)).await?,
            ),
            (
                "deletePod",
                ids::<PodResponse>(&s, "listPods", &id, |x| plain(&x.id)).await?,
            ),
            ("deleteZone", vec![id.clone()]),
        ];
        for (command, items) in plan {
            for item in items {
                if let Outcome::Running(_) = s
                    .run(command, &[("id", item)], Duration::from_secs(30))
                    .await?
                {
                    return Err(ApiError::internal(format!(
                        "{command} is still running; look at the zone again in a moment"
                    )));
                }
            }
        }
        Ok(())
    };
    match steps.await {
        Ok(()) => redirect_with(
            "/console/zones",
            true,
            &format!("Zone {} and everything in it were removed.", text(&z.name)),
        ),
        Err(e) => redirect_with(
            &back,
            false,
            &format!("The zone was not removed completely: {}", e.text),
        ),
    }
}
