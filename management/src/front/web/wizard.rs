//! The Add Zone wizard: one form per step (zone type, zone, an Advanced zone's physical
//! network, pod, guest or public range, cluster, host, primary and secondary storage,
//! review), the values of every step carried in hidden fields, so it works without
//! JavaScript and keeps nothing on the server between pages. Launching streams the "Now
//! building your cloud" page while each step's command runs through the command layer
//! (the physical network step runs several: `build_physical`); a step that fails ends
//! the page with its error and that step's form, filled in as the admin left it, and
//! what was already built is remembered (`done.STEP` = its id), so launching again
//! carries on from there.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use stratus_api::envelope::Reply;
use stratus_api::types::{
    ClusterResponse, HostResponse, ImageStoreResponse, PhysicalNetworkResponse, PodResponse,
    StoragePoolResponse, TrafficTypeResponse, VlanIpRangeResponse, ZoneResponse,
};
use stratus_api::ApiError;
use stratus_ui::wizard::{self, steps, StepDef, WizardState};
use stratus_ui::{BuildPage, Field, ReviewRow, StepTab, WizardPage};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::{Fields, Outcome, Session};
use crate::ctx::Ctx;
use crate::rules::iprange;
use crate::rules::physical_networks::{valid_label, Isolation, VnetRanges};

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/console/zones/new", get(start).post(step))
        .route("/console/zones/{id}/resume", get(resume))
}

/// The first id a list command answers for `params`, if any.
async fn first_id<T: serde::de::DeserializeOwned>(
    s: &Session,
    command: &str,
    params: &[(&str, String)],
    id_of: fn(&T) -> Option<uuid::Uuid>,
) -> Option<String> {
    s.list_of::<T>(command, params)
        .await
        .ok()
        .and_then(|(_, items)| items.first().and_then(id_of))
        .map(|id| id.to_string())
}

/// Resumes an unfinished zone in the wizard: what the zone already has (its first pod,
/// guest or public range, cluster, host, primary and secondary storage) counts as built
/// (`done.STEP`), and the wizard opens at the first step still to do; launching builds
/// the rest and enables the zone.
async fn resume(s: Session, axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    if !s.is_admin() {
        return s.not_found("zones", "page");
    }
    let z = match s.one_of::<ZoneResponse>("listZones", &id, &[]).await {
        Ok(Some(z)) => z,
        Ok(None) => return s.not_found("zones", "zone"),
        Err(e) => return s.error_page("zones", &e),
    };
    let show = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut state =
        WizardState::from_form(&[("type.networktype".to_string(), show(&z.networktype))]);
    state.set("zone", "name", show(&z.name));
    state.set("zone", "dns1", show(&z.dns1));
    state.set("zone", "dns2", show(&z.dns2));
    state.set("zone", "internaldns1", show(&z.internaldns1));
    state.set("zone", "internaldns2", show(&z.internaldns2));
    state.set("zone", "guestcidr", show(&z.guestcidraddress));
    state.set("done", "zone", id.clone());
    let by_zone = [("zoneid", id.clone())];
    if state.network_type() == "Advanced" {
        resume_physical(&s, &mut state, &by_zone).await;
    }
    let pod = first_id::<PodResponse>(&s, "listPods", &by_zone, |x| x.id).await;
    if let Some(p) = &pod {
        state.set("done", "pod", p.clone());
        let public = state.network_type() == "Advanced";
        let ranges = [
            ("zoneid", id.clone()),
            ("forvirtualnetwork", public.to_string()),
        ];
        if let Some(r) =
            first_id::<VlanIpRangeResponse>(&s, "listVlanIpRanges", &ranges, |x| x.id).await
        {
            state.set("done", if public { "public" } else { "guest" }, r);
        }
    }
    let cluster = first_id::<ClusterResponse>(&s, "listClusters", &by_zone, |x| x.id).await;
    if let Some(c) = cluster {
        state.set("done", "cluster", c);
    }
    if let Some(h) = first_id::<HostResponse>(&s, "listHosts", &by_zone, |x| x.id).await {
        state.set("done", "host", h);
    }
    if let Some(p) =
        first_id::<StoragePoolResponse>(&s, "listStoragePools", &by_zone, |x| x.id).await
    {
        state.set("done", "primary", p);
    }
    if let Some(p) = first_id::<ImageStoreResponse>(&s, "listImageStores", &by_zone, |x| x.id).await
    {
        state.set("done", "secondary", p);
    }
    let next = steps(state.network_type())
        .iter()
        .find(|st| st.key != "type" && (st.key == "launch" || state.done(st.key).is_none()))
        .map(|st| st.key)
        .unwrap_or("launch");
    render(&s, &state, next, None)
}

/// The zone's first physical network counts as built when it is Enabled with its three
/// traffic types; one left half-built (a step that stopped) is taken up again by name.
async fn resume_physical(s: &Session, state: &mut WizardState, by_zone: &[(&str, String)]) {
    let Ok((_, nets)) = s
        .list_of::<PhysicalNetworkResponse>("listPhysicalNetworks", by_zone)
        .await
    else {
        return;
    };
    let Some(pn) = nets.first() else {
        return;
    };
    let show = |v: &Option<String>| v.clone().unwrap_or_default();
    state.set("physical", "name", show(&pn.name));
    state.set("physical", "vlan", show(&pn.vlan));
    if let Some(i) = pn.isolationmethods.as_deref() {
        state.set("physical", "isolation", wizard::physical_isolation(i));
    }
    let Some(pid) = pn.id else {
        return;
    };
    let traffic = s
        .list_of::<TrafficTypeResponse>(
            "listTrafficTypes",
            &[("physicalnetworkid", pid.to_string())],
        )
        .await
        .map(|(_, t)| t)
        .unwrap_or_default();
    for (kind, field) in wizard::TRAFFIC_TYPES {
        if let Some(l) = traffic
            .iter()
            .find(|t| t.traffictype.as_deref() == Some(kind))
            .and_then(|t| t.kvmnetworklabel.clone())
        {
            state.set("physical", field, l);
        }
    }
    let complete = pn.state.as_deref() == Some("Enabled")
        && wizard::TRAFFIC_TYPES
            .iter()
            .all(|(k, _)| traffic.iter().any(|t| t.traffictype.as_deref() == Some(*k)));
    if complete {
        state.set("done", "physical", pid.to_string());
    }
}

/// Runs an async command and waits for its job; a job still running after a minute is
/// an error for the wizard (it cannot go on without the result).
async fn run_waiting(
    s: &Session,
    command: &str,
    params: &[(&str, String)],
) -> Result<(), ApiError> {
    match s
        .run(command, params, std::time::Duration::from_secs(60))
        .await?
    {
        Outcome::Done => Ok(()),
        Outcome::Running(job) => Err(ApiError::internal(format!(
            "{command} is still running (job {job}); launch again when it has ended"
        ))),
    }
}

/// The zone's physical network called `name`, if there is one.
async fn physical_by_name(
    s: &Session,
    zone: &str,
    name: &str,
) -> Result<Option<PhysicalNetworkResponse>, ApiError> {
    let (_, nets) = s
        .list_of::<PhysicalNetworkResponse>(
            "listPhysicalNetworks",
            &[("zoneid", zone.to_string()), ("name", name.to_string())],
        )
        .await?;
    Ok(nets.into_iter().find(|p| p.name.as_deref() == Some(name)))
}

/// The physical network step: createPhysicalNetwork, addTrafficType for guest, public and
/// management traffic with their KVM labels, then updatePhysicalNetwork state=Enabled,
/// each job awaited. It can run again after stopping half-way: the network is looked up
/// by name in the zone first (never a second one), traffic types already there are kept
/// (their label set to the one entered), and enabling is skipped when it is enabled.
async fn build_physical(s: &Session, state: &WizardState) -> Result<String, ApiError> {
    let zone = state.done("zone").unwrap_or_default();
    let name = state.get("physical", "name");
    let pn = match physical_by_name(s, zone, name).await? {
        Some(p) => p,
        None => {
            let call = wizard::build_call(state, "physical");
            run_waiting(s, call.command, &call.params).await?;
            physical_by_name(s, zone, name).await?.ok_or_else(|| {
                ApiError::internal(format!("the physical network {name} was not created"))
            })?
        }
    };
    let id = pn
        .id
        .map(|i| i.to_string())
        .ok_or_else(|| ApiError::internal("listPhysicalNetworks answered no id"))?;
    let (_, traffic) = s
        .list_of::<TrafficTypeResponse>("listTrafficTypes", &[("physicalnetworkid", id.clone())])
        .await?;
    for (kind, field) in wizard::TRAFFIC_TYPES {
        let label = state.get("physical", field).to_string();
        match traffic
            .iter()
            .find(|t| t.traffictype.as_deref() == Some(kind))
        {
            None => {
                run_waiting(
                    s,
                    "addTrafficType",
                    &[
                        ("physicalnetworkid", id.clone()),
                        ("traffictype", kind.to_string()),
                        ("kvmnetworklabel", label),
                    ],
                )
                .await?
            }
            Some(t) if t.kvmnetworklabel.as_deref() != Some(label.as_str()) => {
                let tid = t.id.map(|i| i.to_string()).unwrap_or_default();
                run_waiting(
                    s,
                    "updateTrafficType",
                    &[("id", tid), ("kvmnetworklabel", label)],
                )
                .await?
            }
            Some(_) => {}
        }
    }
    if pn.state.as_deref() != Some("Enabled") {
        run_waiting(
            s,
            "updatePhysicalNetwork",
            &[("id", id.clone()), ("state", "Enabled".into())],
        )
        .await?;
    }
    Ok(id)
}

fn step_def(state: &WizardState, key: &str) -> &'static StepDef {
    let all = steps(state.network_type());
    all.iter().find(|s| s.key == key).unwrap_or(&all[0])
}

fn index_of(state: &WizardState, key: &str) -> usize {
    steps(state.network_type())
        .iter()
        .position(|s| s.key == key)
        .unwrap_or(0)
}

/// Steps the admin can still edit: not built yet (and the zone type only before anything
/// was built).
fn editable(state: &WizardState, s: &StepDef) -> bool {
    if s.key == "type" {
        return !state.started();
    }
    state.done(s.key).is_none()
}

fn fields_of(state: &WizardState, step: &StepDef) -> Vec<Field> {
    step.fields
        .iter()
        .map(|fd| {
            let name = format!("{}.{}", step.key, fd.name);
            let value = match fd.kind {
                // A password is never written back into a page as an input's value…
                "password" => String::new(),
                _ => state.get(step.key, fd.name).to_string(),
            };
            Field {
                name,
                label: fd.label.into(),
                kind: fd.kind,
                value,
                options: fd
                    .options
                    .iter()
                    .map(|(v, l)| (v.to_string(), l.to_string()))
                    .collect(),
                required: fd.required,
                placeholder: fd.placeholder.into(),
                help: if fd.kind == "password" && !state.get(step.key, fd.name).is_empty() {
                    "Leave empty to keep the password entered before.".into()
                } else {
                    fd.help.into()
                },
                checked: false,
            }
        })
        .map(|mut f| {
            // …and one already entered need not be typed again.
            if f.kind == "password"
                && !state
                    .get(step.key, &f.name[step.key.len() + 1..])
                    .is_empty()
            {
                f.required = false;
            }
            f
        })
        .collect()
}

fn review(state: &WizardState) -> Vec<ReviewRow> {
    steps(state.network_type())
        .iter()
        .filter(|s| !s.fields.is_empty() && s.key != "type")
        .map(|s| ReviewRow {
            key: s.key,
            title: s.title,
            done: state.done(s.key).is_some(),
            items: s
                .fields
                .iter()
                .map(|fd| {
                    let v = state.get(s.key, fd.name);
                    let label = fd.options.iter().find(|(o, _)| *o == v).map(|(_, l)| *l);
                    let shown = if let Some(l) = label {
                        l.to_string()
                    } else if fd.kind == "password" && !v.is_empty() {
                        "••••••••".to_string()
                    } else if v.is_empty() {
                        "—".to_string()
                    } else {
                        v.to_string()
                    };
                    (fd.label.to_string(), shown)
                })
                .collect(),
        })
        .collect()
}

/// The page of `key`, with an optional error.
fn page(s: &Session, state: &WizardState, key: &str, error: Option<String>) -> WizardPage {
    let def = step_def(state, key);
    let all = steps(state.network_type());
    let here = index_of(state, def.key);
    let tabs = all
        .iter()
        .enumerate()
        .map(|(i, st)| StepTab {
            title: st.title,
            state: if i == here {
                "current"
            } else if state.done(st.key).is_some() || i < here {
                "done"
            } else {
                ""
            },
        })
        .collect();
    let launch = def.key == "launch";
    // After a build stopped at a step, its page launches again at once.
    let relaunch = launch || state.get("build", "ran") == "1";
    let mut hidden = state.hidden_except(def.key);
    if launch {
        hidden = state.hidden_except("");
    }
    WizardPage {
        frame: s.frame("zones"),
        network_type: state.network_type().to_string(),
        tabs,
        step: def.key,
        step_title: def.title,
        intro: def.intro,
        fields: fields_of(state, def),
        hidden,
        review: if launch { review(state) } else { vec![] },
        error,
        can_back: all[..here].iter().any(|st| editable(state, st)),
        next_go: if relaunch { "launch" } else { "next" },
        next_label: match (relaunch, state.started()) {
            (false, _) => "Next",
            (true, true) => "Launch again",
            (true, false) => "Launch zone",
        },
        refresh: None,
    }
}

async fn start(s: Session) -> Response {
    if !s.is_admin() {
        return s.not_found("zones", "page");
    }
    let state = WizardState::from_form(&[]);
    s.page(&page(&s, &state, "type", None))
}

/// The range a range step describes (a pod's reserved range, a guest or public range),
/// checked by the API's own rules (`rules::iprange`, as createPod and
/// createVlanIpRange check it).
fn range_of(state: &WizardState, key: &str) -> Result<iprange::Range, ApiError> {
    let g = |f: &str| state.get(key, f);
    let end = Some(g("endip")).filter(|e| !e.trim().is_empty());
    iprange::validate(g("gateway"), g("netmask"), g("startip"), end, key == "pod")
}

/// The addresses of a step that the API would refuse, as the error text, checked when the
/// step is submitted (not only at launch): the same rules as createZone, createPod and
/// createVlanIpRange, plus no overlap with the other ranges entered in the wizard (the new
/// zone has no others). Steps already built are not checked again.
fn invalid(state: &WizardState, key: &str) -> Option<String> {
    const RANGES: [&str; 3] = ["pod", "guest", "public"];
    if state.done(key).is_some() {
        return None;
    }
    let is_range = |k: &str| steps(state.network_type()).iter().any(|st| st.key == k);
    let g = |f: &str| state.get(key, f);
    let check = || -> Result<(), ApiError> {
        match key {
            "zone" => {
                for (f, what) in [
                    ("dns1", "Public DNS 1"),
                    ("dns2", "Public DNS 2"),
                    ("internaldns1", "Internal DNS 1"),
                    ("internaldns2", "Internal DNS 2"),
                ] {
                    if !g(f).trim().is_empty() {
                        iprange::parse_dns(what, g(f), false)?;
                    }
                }
                if state.network_type() == "Advanced" && !g("guestcidr").trim().is_empty() {
                    iprange::parse_cidr(g("guestcidr"))?;
                }
            }
            "physical" => {
                let isolation = Isolation::parse(wizard::physical_isolation(g("isolation")))
                    .unwrap_or(Isolation::Vxlan);
                VnetRanges::parse(g("vlan"), isolation.max_id()).map_err(ApiError::param)?;
                for (_, field) in wizard::TRAFFIC_TYPES {
                    valid_label(g(field)).map_err(ApiError::param)?;
                }
            }
            k if RANGES.contains(&k) => {
                let r = range_of(state, k)?;
                for other in RANGES.iter().filter(|o| **o != k && is_range(o)) {
                    let Ok(o) = range_of(state, other) else {
                        continue;
                    };
                    if r.overlaps(&o) {
                        let what = match *other {
                            "pod" => format!(
                                "the management IP range of pod {}",
                                state.get("pod", "name")
                            ),
                            "guest" => "the guest IP range".to_string(),
                            _ => "the public IP range".to_string(),
                        };
                        return Err(iprange::overlap_error(
                            &r,
                            &what,
                            &o.start.to_string(),
                            &o.end.to_string(),
                            state.get("zone", "name"),
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    };
    check()
        .err()
        .map(|e| format!("{}: {}", step_def(state, key).title, e.text))
}

/// The first step (in order) left incomplete or with addresses the API would refuse.
fn first_problem(state: &WizardState) -> Option<(&'static str, String)> {
    if let Some((st, text)) = state.first_incomplete() {
        return Some((st.key, text));
    }
    steps(state.network_type())
        .iter()
        .find_map(|st| invalid(state, st.key).map(|t| (st.key, t)))
}

/// Merges a submitted step into the state: a password left empty keeps the earlier one.
fn merge(form: &Fields) -> WizardState {
    let kept: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| k.starts_with("keep."))
        .map(|(k, v)| (k["keep.".len()..].to_string(), v.clone()))
        .collect();
    let plain: Fields = form
        .iter()
        .filter(|(k, _)| !k.starts_with("keep."))
        .cloned()
        .collect();
    let mut state = WizardState::from_form(&plain);
    for (k, v) in kept {
        if state.values.get(&k).is_none_or(|x| x.is_empty()) {
            state.values.insert(k, v);
        }
    }
    state
}

async fn step(s: Session, Form(form): Form<Fields>) -> Response {
    if let Some(r) = s.refuse_forged(&form) {
        return r;
    }
    if !s.is_admin() {
        return s.not_found("zones", "page");
    }
    // Hidden copies of passwords come back as `keep.STEP.FIELD` when the step is shown
    // again with an empty input (see `hidden_for`).
    let state = merge(&form);
    let at = super::field(&form, "at");
    let at_def = step_def(&state, at);
    let go = super::field(&form, "go");
    let all = steps(state.network_type());
    let here = index_of(&state, at_def.key);
    match go {
        "back" => {
            let prev = all[..here].iter().rev().find(|st| editable(&state, st));
            let key = prev.map(|p| p.key).unwrap_or(at_def.key);
            render(&s, &state, key, None)
        }
        g if g.starts_with("edit:") => render(&s, &state, &g["edit:".len()..], None),
        "launch" => match first_problem(&state) {
            Some((key, text)) => render(&s, &state, key, Some(text)),
            None => build(s, state).await,
        },
        _ => {
            if let Some(text) = state
                .missing(at_def)
                .or_else(|| invalid(&state, at_def.key))
            {
                return render(&s, &state, at_def.key, Some(text));
            }
            let next = all[here + 1..]
                .iter()
                .find(|st| editable(&state, st) || st.key == "launch")
                .map(|st| st.key)
                .unwrap_or("launch");
            render(&s, &state, next, None)
        }
    }
}

/// Hidden fields for a page: the state, except the shown step's inputs; passwords of the
/// shown step travel as `keep.*` so an empty input keeps them.
fn hidden_for(state: &WizardState, shown: &str) -> Vec<(String, String)> {
    let mut h = state.hidden_except(shown);
    for (k, v) in &state.values {
        if k.starts_with(&format!("{shown}.")) && k.ends_with(".password") && !v.is_empty() {
            h.push((format!("keep.{k}"), v.clone()));
        }
    }
    h
}

fn render(s: &Session, state: &WizardState, key: &str, error: Option<String>) -> Response {
    let mut p = page(s, state, key, error.clone());
    if p.step != "launch" {
        p.hidden = hidden_for(state, p.step);
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    s.page_status(status, &p)
}

/// The new resource's id in a step's answer, read as the type `command` answers.
fn new_id(command: &str, reply: Reply) -> Result<Option<String>, ApiError> {
    use super::created;
    let id = match command {
        "createZone" | "updateZone" => created::<ZoneResponse>(command, reply)?.and_then(|x| x.id),
        "createPod" => created::<PodResponse>(command, reply)?.and_then(|x| x.id),
        "createVlanIpRange" => created::<VlanIpRangeResponse>(command, reply)?.and_then(|x| x.id),
        "addCluster" => created::<ClusterResponse>(command, reply)?.and_then(|x| x.id),
        "addHost" => created::<HostResponse>(command, reply)?.and_then(|x| x.id),
        "createStoragePool" => created::<StoragePoolResponse>(command, reply)?.and_then(|x| x.id),
        "addImageStore" => created::<ImageStoreResponse>(command, reply)?.and_then(|x| x.id),
        _ => None,
    };
    Ok(id.map(|id| id.to_string()))
}

/// Runs the build, streaming the progress page. The steps run in a task of their own, so
/// a browser that goes away does not cut a step (an SSH bootstrap, say) in half.
async fn build(s: Session, state: WizardState) -> Response {
    let (head, tail) = match (BuildPage {
        frame: s.frame("zones"),
        refresh: None,
    })
    .split()
    {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, "rendering the build page failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response();
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(32);
    tokio::spawn(async move {
        let _ = tx.send(head).await;
        let mut state = state;
        state.set("build", "ran", "1");
        let order = wizard::build_order(state.network_type());
        for step in order {
            let call = wizard::build_call(&state, step);
            if state.done(step).is_some() {
                let _ = tx.send(stratus_ui::build::skipped(step, &call.label)).await;
                continue;
            }
            let _ = tx.send(stratus_ui::build::started(step, &call.label)).await;
            let result = if step == "physical" {
                build_physical(&s, &state).await.map(Some)
            } else {
                match s.call(call.command, &call.params).await {
                    Ok(reply) => new_id(call.command, reply),
                    Err(e) => Err(e),
                }
            };
            match result {
                Ok(id) => {
                    let id = id.unwrap_or_else(|| "yes".into());
                    state.set("done", step, id.clone());
                    let detail = match step {
                        "enable" => String::new(),
                        "host" => "agent installed and reporting".to_string(),
                        "physical" => "traffic types added, enabled".to_string(),
                        _ => String::new(),
                    };
                    let _ = tx.send(stratus_ui::build::finished(&detail)).await;
                }
                Err(e) => {
                    tracing::info!(step, error = %e.text, "the Add Zone wizard stopped at a step");
                    let _ = tx.send(stratus_ui::build::failed(&e.text)).await;
                    // Back to the step that failed (enabling the zone has no page: the
                    // review), with everything entered and built so far.
                    let key = if step == "enable" { "launch" } else { step };
                    // The error is shown once, above the form.
                    let mut p = page(&s, &state, key, None);
                    if p.step != "launch" {
                        p.hidden = hidden_for(&state, p.step);
                    }
                    let form = askama::Template::render(&p.form()).unwrap_or_default();
                    let _ = tx.send(form).await;
                    let _ = tx.send(tail).await;
                    return;
                }
            }
        }
        let zone = state.done("zone").unwrap_or_default().to_string();
        let _ = tx
            .send(stratus_ui::build::succeeded(
                &zone,
                state.get("zone", "name"),
            ))
            .await;
        let _ = tx.send(tail).await;
    });
    let stream = ReceiverStream::new(rx).map(|chunk| Ok::<_, Infallible>(Bytes::from(chunk)));
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Tell proxies not to hold the page back until it is complete.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
