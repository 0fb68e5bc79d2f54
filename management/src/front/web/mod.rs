//! The web console's HTTP handlers. Each page asks the command layer (the same
//! `commands::dispatch` the API uses) and renders the answer with a `stratus_ui` view, so
//! the console can do nothing the API cannot and holds no SQL.
//!
//! Sessions are the API's: logging in here creates the same session `login` does. GET pages
//! authenticate by the session cookie and only read; every POST must carry the session's
//! `sessionkey` (put in each form) as its CSRF token. Pages work without JavaScript: forms
//! post and redirect (303) to the page that shows the result, with a one-time message in
//! a cookie; long jobs and downloads are followed by pages that refresh themselves.
//! The login form itself is refused when a browser says another site posted it (login
//! CSRF), and the session cookie is `Secure` when the console is served over TLS.

mod admin;
mod domains;
mod images;
mod infra;
mod instances;
mod limits;
mod lists;
mod network_offerings;
mod networks;
mod offerings;
mod physical_networks;
mod projects;
mod public_ips;
mod security_groups;
mod sharing;
mod show;
mod snapshots;
mod sshkeys;
mod storage;
mod tags;
mod templates;
mod wizard;
mod zones;

use show::{big, float, number, plain, text, when};

use std::collections::HashMap;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use stratus_api::envelope::Reply;
use stratus_api::types::{
    AlertResponse, AsyncJobResponse, CapacityResponse, EventResponse, ExceptionResponse,
    HostResponse, ImageStoreResponse, JobStatus, ProjectResponse, StoragePoolResponse,
    VirtualMachineResponse, VlanIpRangeResponse, ZoneResponse,
};
use stratus_api::{ApiError, Params};
use stratus_ui::capacity::{CapacityItem, DiskUse, HostLoad};
use stratus_ui::format;
use stratus_ui::{Cell, DashboardPage, Flash, Frame, JobPage, LoginPage, Pager, Row, Table, Tile};

use crate::commands;
use crate::ctx::Ctx;
use crate::services::auth::{self, Caller};

pub fn router() -> Router<Ctx> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/dashboard") }))
        .route(
            "/console",
            get(|| async { Redirect::to("/console/dashboard") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/dashboard") }),
        )
        .route("/console/static/console.css", get(css))
        .route(
            "/console/static/novnc.js",
            get(|| async { script(stratus_ui::NOVNC_JS) }),
        )
        .route(
            "/console/static/vnc.js",
            get(|| async { script(stratus_ui::VNC_JS) }),
        )
        .route(
            "/console/static/live.js",
            get(|| async { script(stratus_ui::LIVE_JS) }),
        )
        .route(
            "/console/static/novnc.LICENSE.txt",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    stratus_ui::NOVNC_LICENSE,
                )
            }),
        )
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/dashboard", get(dashboard))
        .route("/console/jobs", get(jobs_page))
        .route("/console/jobs/tray", get(jobs_tray))
        .route("/console/jobs/{id}", get(job_page))
        .merge(infra::router())
        .merge(wizard::router())
        .merge(images::router())
        .merge(templates::router())
        .merge(instances::router())
        .merge(storage::router())
        .merge(snapshots::router())
        .merge(security_groups::router())
        .merge(networks::router())
        .merge(public_ips::router())
        .merge(physical_networks::router())
        .merge(admin::router())
        .merge(sshkeys::router())
        .merge(offerings::router())
        .merge(network_offerings::router())
        .merge(zones::router())
        .merge(domains::router())
        .merge(projects::router())
        .merge(tags::router())
        .fallback(unknown_page)
        .layer(axum::middleware::map_response(security_headers))
}

/// Any path no route serves. Under `/console` a signed-in browser gets a real 404 page
/// with the navigation (one without a session, a link to sign in); elsewhere a plain 404.
async fn unknown_page(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if !uri.path().starts_with("/console") {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    }
    match Session::from_headers(&ctx, &headers).await {
        Some(s) => s.missing_page(
            "dashboard",
            "There is no console page at this address. Use the navigation or go to the dashboard.".into(),
        ),
        None => (
            StatusCode::NOT_FOUND,
            Html(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found · Stratus</title>\
                 <link rel=\"stylesheet\" href=\"/console/static/console.css\"></head><body>\
                 <main class=\"login\"><h1>Not found</h1><p>There is no console page at this address.</p>\
                 <p><a href=\"/console/login\">Sign in</a> or go to the <a href=\"/console/dashboard\">dashboard</a>.</p></main></body></html>",
            ),
        )
            .into_response(),
    }
}

/// Console pages may not be framed, run scripts or styles from elsewhere, or post forms
/// anywhere but here; what they show is not cached.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        stratus_ui::CSS,
    )
        .into_response()
}

/// A vendored script, as an ES module the browser may cache but must revalidate.
fn script(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    crate::front::request::cookie_value(headers, "JSESSIONID").map(str::to_string)
}

const FLASH_COOKIE: &str = "stratus_flash";

fn read_flash(headers: &HeaderMap) -> Option<Flash> {
    let raw = crate::front::request::cookie_value(headers, FLASH_COOKIE)?;
    let text = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?
        .to_string();
    let (kind, text) = text.split_once(':')?;
    Some(Flash {
        ok: kind == "ok",
        text: text.to_string(),
    })
}

/// A 303 to `to`, carrying a one-time message for that page.
pub(crate) fn redirect_with(to: &str, ok: bool, text: &str) -> Response {
    let value: String = percent_encoding::utf8_percent_encode(
        &format!("{}:{}", if ok { "ok" } else { "error" }, text),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let cookie = format!("{FLASH_COOKIE}={value}; Path=/console; HttpOnly; SameSite=Lax");
    ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
}

pub(crate) fn html(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

/// `?a=1&b=2` from pairs (empty values left out).
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    let q = s.finish();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

/// A signed-in console request: the caller, the session key (the CSRF token) and the
/// message left by the previous page. GET handlers take it as an extractor; without a
/// valid session it sends the browser to the login page.
pub(crate) struct Session {
    pub ctx: Ctx,
    pub caller: Caller,
    pub key: String,
    pub flash: Option<Flash>,
    pub tray: stratus_ui::Tray,
    /// The project the switcher chose (its id and name), checked on every request: the
    /// caller may view it (a member, or an admin of its domain). None: the default view.
    pub project: Option<(String, String)>,
    /// The projects the switcher offers (id, name).
    pub projects: Vec<(String, String)>,
}

impl FromRequestParts<Ctx> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        Session::from_headers(ctx, &parts.headers)
            .await
            .ok_or_else(|| Redirect::to("/console/login").into_response())
    }
}

const CSRF_TEXT: &str =
    "This form has expired or did not come from this console; reload the page and try again.";

/// A POSTed form: its fields in order.
pub(crate) type Fields = Vec<(String, String)>;

/// What a detail page's form runs: the command, its parameters, whether the page to go
/// back to is the list (the object is gone) rather than the object's, and the message
/// shown there (snapshots' forms have their own, `snapshots::FormCommand`).
pub(crate) type PageCommand = (
    &'static str,
    Vec<(&'static str, String)>,
    bool,
    &'static str,
);

/// A form's fields from pairs (the unit tests' forms).
#[cfg(test)]
pub(crate) fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Where the console goes after a form: a console path only (never another site).
pub(crate) fn local_path(p: &str, fallback: &str) -> String {
    if p.starts_with("/console/") && !p.starts_with("//") && !p.contains("://") {
        p.to_string()
    } else {
        fallback.to_string()
    }
}

/// The outcome of a state-changing command run for a form.
pub(crate) enum Outcome {
    Done,
    /// An async job still running after the wait: follow it on its page.
    Running(String),
}

impl Session {
    /// The session these request headers carry, if it is valid.
    pub async fn from_headers(ctx: &Ctx, headers: &HeaderMap) -> Option<Session> {
        let sid = session_cookie(headers)?;
        let (caller, key) = auth::authenticate_session_cookie(ctx, &sid).await.ok()?;
        let mut s = Session {
            ctx: ctx.clone(),
            caller,
            key,
            flash: read_flash(headers),
            tray: Default::default(),
            project: None,
            projects: vec![],
        };
        s.tray = s.tray().await;
        (s.project, s.projects) = s.projects(headers).await;
        Some(s)
    }

    /// The switcher's projects, and the one the project cookie names if the caller may
    /// still view it. Anything else in the cookie (not an id, a project since deleted or
    /// left, another tenant's) is the default view; a failure to list is too.
    async fn projects(
        &self,
        headers: &HeaderMap,
    ) -> (Option<(String, String)>, Vec<(String, String)>) {
        const LIST: &str = "listProjects";
        if stratus_api::command::find(LIST).is_none() {
            return (None, vec![]);
        }
        let options: Vec<(String, String)> = self
            .list_of::<ProjectResponse>(
                LIST,
                &[
                    ("listall", "true".into()),
                    ("page", "1".into()),
                    ("pagesize", projects::SWITCHER_MAX.to_string()),
                ],
            )
            .await
            .map(|(_, items)| items)
            .unwrap_or_default()
            .iter()
            .map(|p| (plain(&p.id), text(&p.name)))
            .collect();
        let Some(id) = crate::front::request::cookie_value(headers, projects::PROJECT_COOKIE)
            .and_then(|v| v.parse::<uuid::Uuid>().ok())
            .map(|id| id.to_string())
        else {
            return (None, options);
        };
        let chosen = match options.iter().find(|(i, _)| *i == id) {
            Some(o) => Some(o.clone()),
            // Past the switcher's first page: asked for by id (listProjects answers only
            // a project the caller may view).
            None => self
                .one_of::<ProjectResponse>(LIST, &id, &[("listall", "true".into())])
                .await
                .ok()
                .flatten()
                .map(|p| (plain(&p.id), text(&p.name))),
        };
        (chosen, options)
    }

    /// The list and create parameters of the project view: `projectid` of the chosen
    /// project, or nothing in the default view.
    pub fn scope(&self) -> Vec<(&'static str, String)> {
        self.project
            .iter()
            .map(|(id, _)| ("projectid", id.clone()))
            .collect()
    }

    /// What a scoped list says in a project's view (None in the default view).
    pub fn scope_note(&self, what: &str) -> Option<String> {
        self.project.as_ref().map(|(_, name)| {
            format!("Project {name}: its {what}. Choose Default view in the Project menu above for your own.")
        })
    }

    /// Whether the caller administers domains (a root or a domain admin).
    pub fn manages_domains(&self) -> bool {
        self.caller.is_root_admin() || self.caller.is_domain_admin()
    }

    /// The job tray: the caller's own newest jobs of the last day, counted by status, as
    /// CloudStack's UI shows the jobs its user started. listAsyncJobs answers the
    /// account's (every user of it); the user's are picked by `userid` from the newest
    /// [`TRAY_SCAN`] (bounded work on every page). A failure to list leaves the tray
    /// empty, not the page.
    async fn tray(&self) -> stratus_ui::Tray {
        let since = (chrono::Utc::now() - chrono::Duration::days(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        let me = self.caller.user_id();
        let jobs: Vec<AsyncJobResponse> = self
            .list_of::<AsyncJobResponse>(
                "listAsyncJobs",
                &[
                    ("startdate", since),
                    ("page", "1".into()),
                    ("pagesize", TRAY_SCAN.to_string()),
                ],
            )
            .await
            .map(|(_, items)| items)
            .unwrap_or_default()
            .into_iter()
            .filter(|j| j.userid == Some(me.into_uuid()))
            .take(stratus_ui::Tray::WINDOW)
            .collect();
        let mut t = stratus_ui::Tray::default();
        for j in &jobs {
            match j.jobstatus {
                Some(JobStatus::Succeeded) => t.succeeded += 1,
                Some(JobStatus::Failed) => t.failed += 1,
                _ => t.pending += 1,
            }
        }
        t
    }

    pub fn is_admin(&self) -> bool {
        self.caller.is_root_admin()
    }

    /// The page frame; the flash message is shown once (its cookie is cleared by `page`).
    pub fn frame(&self, active: &'static str) -> Frame {
        Frame {
            username: self.caller.user.username.clone(),
            account: self.caller.user.account_name.clone(),
            sessionkey: self.key.clone(),
            active,
            is_admin: self.is_admin(),
            flash: self.flash.clone(),
            has_instances: stratus_api::command::find("listVirtualMachines").is_some(),
            tray: self.tray,
            manages_domains: self.manages_domains(),
            projects: self.projects.clone(),
            project_id: self
                .project
                .as_ref()
                .map(|p| p.0.clone())
                .unwrap_or_default(),
            project_name: self
                .project
                .as_ref()
                .map(|p| p.1.clone())
                .unwrap_or_default(),
        }
    }

    /// Renders a page, clearing the one-time message it showed.
    pub fn page(&self, t: &impl Template) -> Response {
        self.page_status(StatusCode::OK, t)
    }

    pub fn page_status(&self, status: StatusCode, t: &impl Template) -> Response {
        let mut r = html(status, t);
        if self.flash.is_some() {
            let clear =
                format!("{FLASH_COOKIE}=; Path=/console; Max-Age=0; HttpOnly; SameSite=Lax");
            if let Ok(v) = HeaderValue::from_str(&clear) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        r
    }

    /// The refusal of a form that does not carry this session's key (None: it does).
    pub fn refuse_forged(&self, form: &Fields) -> Option<Response> {
        if auth::constant_time_eq(field(form, "sessionkey").as_bytes(), self.key.as_bytes()) {
            None
        } else {
            Some((StatusCode::FORBIDDEN, CSRF_TEXT).into_response())
        }
    }

    /// Runs `command` through the command layer, as the API would for this caller.
    pub async fn call(&self, command: &str, params: &[(&str, String)]) -> Result<Reply, ApiError> {
        let spec = commands::resolve(command, Some(&self.caller))?;
        let mut p = Params::new(command);
        for (k, v) in params {
            p = p.with(k, v);
        }
        commands::dispatch(&self.ctx, &self.caller, spec, &p).await
    }

    /// A list command's total and items, as the response type its items are.
    pub async fn list_of<T: DeserializeOwned>(
        &self,
        command: &str,
        params: &[(&str, String)],
    ) -> Result<(i64, Vec<T>), ApiError> {
        match self.call(command, params).await? {
            Reply::List { count, items, .. } => Ok((count, typed_all(command, items.values())?)),
            _ => Err(ApiError::internal(format!(
                "{command} did not answer a list"
            ))),
        }
    }

    /// One object by id from a list command, or None.
    pub async fn one_of<T: DeserializeOwned>(
        &self,
        command: &str,
        id: &str,
        extra: &[(&str, String)],
    ) -> Result<Option<T>, ApiError> {
        let mut p = vec![("id", id.to_string())];
        p.extend(extra.iter().cloned());
        Ok(self.list_of(command, &p).await?.1.into_iter().next())
    }

    /// Runs a state-changing command; an async one is waited for up to `wait`.
    pub async fn run(
        &self,
        command: &str,
        params: &[(&str, String)],
        wait: Duration,
    ) -> Result<Outcome, ApiError> {
        let reply = self.call(command, params).await?;
        let Reply::Job { jobid, .. } = reply else {
            return Ok(Outcome::Done);
        };
        self.wait(&jobid.to_string(), wait).await
    }

    /// Waits up to `wait` for an async job to end.
    pub async fn wait(&self, jobid: &str, wait: Duration) -> Result<Outcome, ApiError> {
        let deadline = Instant::now() + wait;
        loop {
            let job = self.job(jobid).await?;
            match job.jobstatus {
                Some(JobStatus::Succeeded) => return Ok(Outcome::Done),
                Some(JobStatus::Failed) => return Err(ApiError::internal(job_error(&job))),
                _ if Instant::now() >= deadline => return Ok(Outcome::Running(jobid.to_string())),
                _ => tokio::time::sleep(Duration::from_millis(150)).await,
            }
        }
    }

    /// Runs a state-changing command and, when it has ended within `wait`, answers its
    /// result (a job's `jobresult`, or the synchronous answer's body).
    pub async fn run_for_result(
        &self,
        command: &str,
        params: &[(&str, String)],
        wait: Duration,
    ) -> Result<(Outcome, Option<Value>), ApiError> {
        let reply = self.call(command, params).await?;
        let Reply::Job { jobid, .. } = reply else {
            return Ok((Outcome::Done, Some(reply.body())));
        };
        let jobid = jobid.to_string();
        match self.wait(&jobid, wait).await? {
            Outcome::Done => Ok((Outcome::Done, self.job(&jobid).await?.jobresult)),
            running => Ok((running, None)),
        }
    }

    pub(crate) async fn job(&self, jobid: &str) -> Result<AsyncJobResponse, ApiError> {
        const QUERY: &str = "queryAsyncJobResult";
        match self.call(QUERY, &[("jobid", jobid.to_string())]).await? {
            Reply::Flat(v) => typed(QUERY, v),
            other => typed(QUERY, other.body()),
        }
    }

    /// Runs a command for a form and redirects: to `back` with the outcome, or to the
    /// job's page if it is still running.
    pub async fn act(
        &self,
        command: &str,
        params: &[(&str, String)],
        back: &str,
        done_text: &str,
    ) -> Response {
        match self.run(command, params, Duration::from_secs(20)).await {
            Ok(Outcome::Done) => redirect_with(back, true, done_text),
            Ok(Outcome::Running(job)) => Redirect::to(&format!(
                "/console/jobs/{job}{}",
                query_string(&[("next", back.to_string())])
            ))
            .into_response(),
            Err(e) => redirect_with(back, false, &e.text),
        }
    }

    /// Runs what a detail page's form asks (None: an action the page does not know) and
    /// goes back to the object's `page`, or to `list` once the object is gone.
    pub async fn act_on(&self, asked: Option<PageCommand>, page: &str, list: &str) -> Response {
        match asked {
            Some((command, params, to_list, done)) => {
                self.act(command, &params, if to_list { list } else { page }, done)
                    .await
            }
            None => redirect_with(page, false, "Unknown action."),
        }
    }

    /// A page saying what went wrong, inside the console's frame.
    pub fn error_page(&self, active: &'static str, e: &ApiError) -> Response {
        let status =
            StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let status = if status.is_client_error() || status.is_server_error() {
            status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        self.page_status(
            status,
            &JobPage {
                frame: self.frame(active),
                title: "Something went wrong".into(),
                status: "Error".into(),
                class: "bad",
                text: e.text.clone(),
                next: "/console/dashboard".into(),
                refresh: None,
            },
        )
    }

    /// A 404 page inside the console's frame: the object is gone (or never was).
    pub fn not_found(&self, active: &'static str, what: &str) -> Response {
        self.missing_page(
            active,
            format!("No {what} with that id (it may have been deleted)."),
        )
    }

    /// A 404 page with the navigation, saying what is missing and where to go.
    pub fn missing_page(&self, active: &'static str, text: String) -> Response {
        self.page_status(
            StatusCode::NOT_FOUND,
            &JobPage {
                frame: self.frame(active),
                title: "Not found".into(),
                status: "404".into(),
                class: "bad",
                text,
                next: "/console/dashboard".into(),
                refresh: None,
            },
        )
    }
}

/// An answer read as the response type `command` answers; one that does not fit its
/// type is the server's fault, named by its command (never read as empty fields).
pub(crate) fn typed<T: DeserializeOwned>(command: &str, v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| {
        tracing::error!(command, error = %e, "an answer does not fit its response type");
        ApiError::internal(format!(
            "{command} answered something the console cannot read: {e}"
        ))
    })
}

pub(crate) fn typed_all<T: DeserializeOwned>(
    command: &str,
    items: Vec<Value>,
) -> Result<Vec<T>, ApiError> {
    items.into_iter().map(|v| typed(command, v)).collect()
}

/// The first object a create answers (`Object` or a one-element `ObjectList`), typed.
pub(crate) fn created<T: DeserializeOwned>(
    command: &str,
    reply: Reply,
) -> Result<Option<T>, ApiError> {
    match reply {
        Reply::Object { value, .. } => typed(command, value).map(Some),
        Reply::ObjectList { items, .. } => typed_all(command, items).map(|v| v.into_iter().next()),
        Reply::List { items, .. } => {
            typed_all(command, items.values()).map(|v| v.into_iter().next())
        }
        _ => Ok(None),
    }
}

/// The password a VM answer carries (`{"virtualmachine": {..., "password"}}`, as deploy
/// and resetPasswordForVirtualMachine answer once), read as its type.
pub(crate) fn vm_password(command: &str, body: Option<Value>) -> Option<String> {
    vm_name_and_password(command, body).map(|(_, p)| p)
}

/// The VM's name and the password its answer carries, if it carries one.
fn vm_name_and_password(command: &str, body: Option<Value>) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct Answer {
        virtualmachine: VirtualMachineResponse,
    }
    let a: Answer = typed(command, body?).ok()?;
    let password = a.virtualmachine.password.filter(|p| !p.is_empty())?;
    Some((text(&a.virtualmachine.name), password))
}

/// The error text of a failed job (`jobresult` is an `ExceptionResponse`).
fn job_error(job: &AsyncJobResponse) -> String {
    job.jobresult
        .clone()
        .and_then(|r| serde_json::from_value::<ExceptionResponse>(r).ok())
        .and_then(|f| f.errortext)
        .unwrap_or_else(|| "The job failed".to_string())
}

/// Paging of a list page: `page` (1-based) and the API's `pagesize`.
pub(crate) const PAGE_SIZE: i64 = 50;

pub(crate) fn pager(path: &str, q: &HashMap<String, String>, total: i64) -> Pager {
    let page = q
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let link = |n: i64| {
        let mut pairs: Vec<(&str, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "page")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        pairs.sort();
        pairs.push(("page", n.to_string()));
        format!("{path}{}", query_string(&pairs))
    };
    Pager {
        page,
        pages,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    }
}

pub(crate) fn page_params(q: &HashMap<String, String>) -> Vec<(&'static str, String)> {
    let page = q
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let mut p = vec![
        ("page", page.to_string()),
        ("pagesize", PAGE_SIZE.to_string()),
    ];
    if let Some(k) = q.get("keyword").filter(|k| !k.trim().is_empty()) {
        p.push(("keyword", k.trim().to_string()));
    }
    p
}

async fn login_page() -> Response {
    html(
        StatusCode::OK,
        &LoginPage {
            username: String::new(),
            domain: String::new(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    domain: String,
}

/// Signs in. A login posted by a page of another site is refused (login CSRF: it would
/// sign the victim's browser into the attacker's account), judged by the browser's
/// `Sec-Fetch-Site`/`Origin`/`Referer` (see `front::cross_site`).
async fn login(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(f): Form<LoginForm>,
) -> Response {
    if crate::front::request::cross_site(&headers) {
        tracing::warn!(
            origin = ?headers.get(header::ORIGIN),
            "console login posted from another site refused"
        );
        return (
            StatusCode::FORBIDDEN,
            "Sign in from this console's own login page.",
        )
            .into_response();
    }
    let secure = crate::front::request::is_tls(&ext);
    let domain = (!f.domain.trim().is_empty()).then_some(f.domain.trim());
    match auth::login(
        &ctx,
        f.username.trim(),
        &f.password,
        domain,
        "the web console",
        crate::front::request::client_ip(&ext),
    )
    .await
    {
        Ok(s) => {
            let cookie = crate::front::request::cookie("JSESSIONID", &s.id, "/", secure, None);
            (
                [(header::SET_COOKIE, cookie)],
                Redirect::to("/console/dashboard"),
            )
                .into_response()
        }
        Err(refused) => {
            let status = StatusCode::from_u16(refused.error.code.http_status())
                .ok()
                .filter(|s| *s == StatusCode::TOO_MANY_REQUESTS)
                .unwrap_or(StatusCode::UNAUTHORIZED);
            let mut r = html(
                status,
                &LoginPage {
                    username: f.username,
                    domain: f.domain,
                    error: Some(refused.error.text),
                },
            );
            if let Some(wait) = refused.retry_after {
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(wait.as_secs().max(1)),
                );
            }
            r
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    sessionkey: String,
}

async fn logout(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(f): Form<CsrfForm>,
) -> Response {
    let Some(sid) = session_cookie(&headers) else {
        return Redirect::to("/console/login").into_response();
    };
    match auth::authenticate_session(&ctx, &sid, &f.sessionkey).await {
        Ok(caller) => {
            if let Err(e) = auth::logout(&ctx, &caller).await {
                tracing::error!(error = %e, "logout failed");
            }
            let clear = crate::front::request::cookie(
                "JSESSIONID",
                "",
                "/",
                crate::front::request::is_tls(&ext),
                Some(0),
            );
            let mut r = (
                [(header::SET_COOKIE, clear)],
                Redirect::to("/console/login"),
            )
                .into_response();
            // The next user of this browser starts in the default view.
            r.headers_mut().append(
                header::SET_COOKIE,
                HeaderValue::from_static(projects::CLEAR_PROJECT_COOKIE),
            );
            r
        }
        Err(_) => (StatusCode::FORBIDDEN, CSRF_TEXT).into_response(),
    }
}

const HOST_STATES: &[&str] = &["Up", "Connecting", "Disconnected", "Alert", "Down"];
const VM_STATES: &[&str] = &[
    "Running",
    "Starting",
    "Stopping",
    "Stopped",
    "Error",
    "Destroyed",
    "Expunging",
];

/// The job tray looks through the account's newest this many jobs for the user's own.
const TRAY_SCAN: usize = 100;

/// Up to this many objects, a dashboard tile is counted from one list call.
const TILE_LIST_MAX: i64 = 200;

/// A dashboard tile by state. The total comes first, from a page of one; a small cloud's
/// objects are then counted from one list; past `TILE_LIST_MAX`, with the list command's
/// `state` filter (one count per state, stopping once the states counted add up to the
/// total), so the breakdown is right however many objects there are and a large cloud is
/// never listed whole.
async fn counted_tile<T: DeserializeOwned>(
    s: &Session,
    (key, label, href): (&'static str, &'static str, &'static str),
    command: &str,
    extra: &[(&'static str, String)],
    states: &[&str],
    state_of: fn(&T) -> String,
) -> Option<Tile> {
    let page = |size: i64, state: Option<&str>| {
        let mut p: Vec<(&str, String)> = vec![("pagesize", size.to_string()), ("page", "1".into())];
        p.extend(extra.iter().cloned());
        p.extend(state.map(|st| ("state", st.to_string())));
        p
    };
    let (total, _) = s.list_of::<T>(command, &page(1, None)).await.ok()?;
    if total <= TILE_LIST_MAX {
        let (total, items) = s
            .list_of::<T>(command, &page(TILE_LIST_MAX, None))
            .await
            .ok()?;
        return Some(Tile::by_state(
            key,
            label,
            href,
            total,
            items.iter().map(state_of),
        ));
    }
    let mut by_state = vec![];
    let mut counted = 0;
    for st in states {
        if counted >= total {
            break;
        }
        let (n, _) = s.list_of::<T>(command, &page(1, Some(st))).await.ok()?;
        if n > 0 {
            counted += n;
            by_state.push((st.to_string(), n, format::state_class(st)));
        }
    }
    Some(Tile {
        key,
        label,
        href,
        total,
        states: by_state,
        empty: "none yet",
    })
}

async fn instances_tile(s: &Session) -> Option<Tile> {
    counted_tile(
        s,
        ("instances", "Instances", "/console/instances"),
        "listVirtualMachines",
        &[vec![("listall", "true".into())], s.scope()].concat(),
        VM_STATES,
        |vm: &VirtualMachineResponse| plain(&vm.state),
    )
    .await
}

/// The dashboard (the seed's figure 2-11): what the cloud has, by state; its capacity;
/// recent alerts and events.
async fn dashboard(s: Session) -> Response {
    let mut tiles = Vec::new();
    let mut gauges = Vec::new();
    let all = |n: i64| vec![("pagesize", n.to_string()), ("page", "1".to_string())];
    if s.is_admin() {
        if let Ok((n, zones)) = s.list_of::<ZoneResponse>("listZones", &all(500)).await {
            tiles.push(Tile::by_state(
                "zones",
                "Zones",
                "/console/zones",
                n,
                zones.iter().map(|z| plain(&z.allocationstate)),
            ));
        }
        tiles.extend(
            counted_tile(
                &s,
                ("hosts", "Hosts", "/console/hosts"),
                "listHosts",
                &[],
                HOST_STATES,
                |h: &HostResponse| plain(&h.state),
            )
            .await,
        );
        if stratus_api::command::find("listVirtualMachines").is_some() {
            tiles.extend(instances_tile(&s).await);
        }
        let pools = s
            .list_of::<StoragePoolResponse>("listStoragePools", &all(500))
            .await
            .unwrap_or_default();
        tiles.push(Tile::by_state(
            "primary-storage",
            "Primary storage",
            "/console/primary-storage",
            pools.0,
            pools.1.iter().map(|p| plain(&p.state)),
        ));
        let stores = s
            .list_of::<ImageStoreResponse>("listImageStores", &all(500))
            .await
            .unwrap_or_default();
        tiles.push(Tile::by_state(
            "secondary-storage",
            "Secondary storage",
            "/console/secondary-storage",
            stores.0,
            stores.1.iter().map(|st| plain(&st.protocol)),
        ));
        gauges = match stratus_api::command::find("listCapacity") {
            Some(_) => s
                .list_of::<CapacityResponse>("listCapacity", &[])
                .await
                .map(|(_, items)| {
                    let items: Vec<CapacityItem> = items
                        .iter()
                        .filter_map(|c| {
                            Some(CapacityItem {
                                kind: c.r#type?.into(),
                                used: big(&c.capacityused),
                                total: big(&c.capacitytotal),
                            })
                        })
                        .collect();
                    stratus_ui::capacity::from_list_capacity(&items)
                })
                .unwrap_or_default(),
            None => {
                let hosts = s
                    .list_of::<HostResponse>("listHosts", &all(500))
                    .await
                    .unwrap_or_default();
                let ranges = s
                    .list_of::<VlanIpRangeResponse>(
                        "listVlanIpRanges",
                        &[("forvirtualnetwork", "false".to_string())],
                    )
                    .await
                    .unwrap_or_default();
                let hosts: Vec<HostLoad> = hosts
                    .1
                    .iter()
                    .map(|h| HostLoad {
                        cpus: float(&h.cpunumber),
                        mhz: big(&h.cpuspeed),
                        cpu_used: number(&h.cpuused),
                        memory_used: big(&h.memoryused),
                        memory_total: big(&h.memorytotal),
                    })
                    .collect();
                let pools: Vec<DiskUse> = pools
                    .1
                    .iter()
                    .map(|p| DiskUse {
                        used: big(&p.disksizeused),
                        allocated: big(&p.disksizeallocated),
                        total: big(&p.disksizetotal),
                    })
                    .collect();
                let stores: Vec<DiskUse> = stores
                    .1
                    .iter()
                    .map(|st| DiskUse {
                        used: big(&st.disksizeused),
                        allocated: None,
                        total: big(&st.disksizetotal),
                    })
                    .collect();
                let ranges: Vec<(String, String)> = ranges
                    .1
                    .iter()
                    .map(|r| (plain(&r.startip), plain(&r.endip)))
                    .collect();
                stratus_ui::capacity::from_lists(&hosts, &pools, &stores, &ranges)
            }
        };
    } else if stratus_api::command::find("listVirtualMachines").is_some() {
        tiles.extend(instances_tile(&s).await);
    }
    let alerts = if s.is_admin() {
        s.list_of::<AlertResponse>("listAlerts", &all(5))
            .await
            .unwrap_or_default()
            .1
    } else {
        vec![]
    };
    let events = s
        .list_of::<EventResponse>(
            "listEvents",
            &[all(8), vec![("listall", "true".to_string())]].concat(),
        )
        .await
        .unwrap_or_default()
        .1;
    let first_run = s.is_admin()
        && tiles
            .first()
            .is_some_and(|t| t.key == "zones" && t.total == 0);
    s.page(&DashboardPage {
        frame: s.frame("dashboard"),
        first_run,
        tiles,
        gauges,
        alerts: alerts_table("alerts", alerts),
        events: events_table("events", events, false),
        refresh: None,
    })
}

pub(crate) fn alerts_table(id: &str, items: Vec<AlertResponse>) -> Table {
    let rows = items
        .iter()
        .map(|a| Row {
            id: plain(&a.id),
            cells: vec![
                Cell::when(when(&a.sent)),
                Cell::text(plain(&a.name)),
                Cell::text(plain(&a.description)),
            ],
            actions: vec![],
        })
        .collect();
    Table::new(id, &["Sent", "Alert", "Description"], rows, "No alerts.")
}

/// The console page of a resource named by its CloudStack type and id, if it has one.
pub(crate) fn resource_href(kind: &str, id: &str) -> Option<String> {
    let base = match kind {
        "VirtualMachine" => "/console/instances",
        "Host" => "/console/hosts",
        "Zone" => "/console/zones",
        "Pod" => "/console/pods",
        "Cluster" => "/console/clusters",
        "StoragePool" => "/console/primary-storage",
        "ImageStore" => "/console/secondary-storage",
        "Iso" => "/console/isos",
        "Template" => "/console/templates",
        "Account" => "/console/accounts",
        "User" => "/console/users",
        "Network" => "/console/networks",
        "IpAddress" => "/console/public-ips",
        "ServiceOffering" => return Some(format!("/console/compute-offerings/{id}/edit")),
        "DiskOffering" => return Some(format!("/console/disk-offerings/{id}/edit")),
        _ => return None,
    };
    Some(format!("{base}/{id}"))
}

pub(crate) fn events_table(id: &str, items: Vec<EventResponse>, wide: bool) -> Table {
    let rows = items
        .iter()
        .map(|e| {
            let mut cells = vec![
                Cell::when(when(&e.created)),
                Cell::text(plain(&e.r#type)),
                Cell::state(plain(&e.level)),
            ];
            if wide {
                cells.push(Cell::text(text(&e.username)));
                cells.push(Cell::text(text(&e.account)));
            }
            // The description links to the resource's page (when it has one).
            let href = match (&e.resourcetype, &e.resourceid) {
                (Some(kind), Some(rid)) => resource_href(kind, &rid.to_string()),
                _ => None,
            };
            cells.push(match href {
                Some(h) => Cell::link(plain(&e.description), h),
                None => Cell::text(plain(&e.description)),
            });
            Row {
                id: plain(&e.id),
                cells,
                actions: vec![],
            }
        })
        .collect();
    let headings: &[&str] = if wide {
        &["When", "Type", "Level", "User", "Account", "Description"]
    } else {
        &["When", "Type", "Level", "Description"]
    };
    Table::new(id, headings, rows, "No events yet.")
}

/// A job's command as the API names it: `cmd` is CloudStack's Java class
/// (`org.apache.cloudstack.api.command.user.vm.DeployVMCmd`), one per async verb.
fn command_name(cmd: &str) -> String {
    match stratus_api::job_class::verb_of(cmd) {
        Some(verb) => verb.to_string(),
        None => cmd.rsplit('.').next().unwrap_or(cmd).to_string(),
    }
}

/// The job tray: the caller's recent async jobs (listAsyncJobs), newest first, pending,
/// done or failed, each linked to its page and the resource it works on. Refreshes
/// itself while one is pending; nothing needs JavaScript.
async fn jobs_page(s: Session, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut params = page_params(&q);
    params.retain(|(k, _)| *k != "keyword");
    params.push(("listall", "true".into()));
    let (total, mut items) = match s
        .list_of::<AsyncJobResponse>("listAsyncJobs", &params)
        .await
    {
        Ok(x) => x,
        Err(e) => return s.error_page("jobs", &e),
    };
    items.sort_by(|a, b| {
        b.created
            .as_ref()
            .map(|d| d.0)
            .cmp(&a.created.as_ref().map(|d| d.0))
    });
    let pending = items
        .iter()
        .any(|j| matches!(j.jobstatus, Some(JobStatus::Pending) | None));
    let rows = items
        .iter()
        .map(|j| {
            let id = plain(&j.jobid);
            let (status, outcome) = match j.jobstatus {
                Some(JobStatus::Succeeded) => ("Succeeded", String::new()),
                Some(JobStatus::Failed) => ("Failed", job_error(j)),
                _ => ("Pending", String::new()),
            };
            let resource = match (&j.jobinstancetype, &j.jobinstanceid) {
                (Some(kind), Some(rid)) => match resource_href(kind, &rid.to_string()) {
                    Some(h) => Cell::link(format!("{kind} {rid}"), h),
                    None => Cell::text(format!("{kind} {rid}")),
                },
                _ => Cell::text("—"),
            };
            Row {
                id: id.clone(),
                cells: vec![
                    Cell::link(command_name(&plain(&j.cmd)), format!("/console/jobs/{id}")),
                    resource,
                    Cell::state(status),
                    Cell::when(when(&j.created)),
                    Cell::when(when(&j.completed)),
                    Cell::text(text(&j.account)),
                    Cell::text(outcome),
                ],
                actions: vec![],
            }
        })
        .collect();
    s.page(&stratus_ui::ListPage {
        frame: s.frame("jobs"),
        section: "Activity",
        title: "Jobs".into(),
        table: Table::new(
            "list",
            &[
                "Command", "Resource", "Status", "Started", "Ended", "Account", "Error",
            ],
            rows,
            "No jobs yet: long actions (deploy, start, stop, maintenance…) appear here.",
        ),
        total,
        toolbar: vec![],
        search: None,
        note: pending.then(|| "This page refreshes itself while a job is pending.".into()),
        pager: pager("/console/jobs", &q, total),
        refresh: pending.then_some(3),
    })
}

/// The job tray alone, for the pages' script to refresh the header with.
async fn jobs_tray(s: Session) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        s.tray.html(),
    )
        .into_response()
}

/// An async job's page: refreshes itself every 2 s until the job ends; a launch or a
/// password reset that generated a password then shows it (the form that started the
/// job gave up waiting, so this is where it is shown).
async fn job_page(
    s: Session,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let next = local_path(
        q.get("next").map(String::as_str).unwrap_or(""),
        "/console/dashboard",
    );
    let job = match s.job(&id).await {
        Ok(j) => j,
        Err(e) => return s.error_page("dashboard", &e),
    };
    let cmd = command_name(&job.cmd.clone().unwrap_or_default());
    // A launch or a reset that outlived the form's wait ends here: the password it
    // generated (a password-enabled template's) is shown now, as the form would have.
    if job.jobstatus == Some(JobStatus::Succeeded)
        && matches!(
            cmd.as_str(),
            "deployVirtualMachine" | "resetPasswordForVirtualMachine"
        )
    {
        if let Some((name, password)) = vm_name_and_password(&cmd, job.jobresult.clone()) {
            let launched = cmd == "deployVirtualMachine";
            return instances::password_page(
                &s,
                if launched {
                    "The instance is running"
                } else {
                    "New password"
                },
                &name,
                password,
                if launched {
                    "Generated for this instance because its template is password-enabled; the guest sets it at first boot."
                } else {
                    "The guest gets it when the instance next starts."
                },
                next,
            );
        }
    }
    let (status, class, text, refresh) = match job.jobstatus {
        Some(JobStatus::Succeeded) => ("Succeeded", "ok", format!("{cmd} finished."), None),
        Some(JobStatus::Failed) => ("Failed", "bad", job_error(&job), None),
        _ => ("Running", "info", format!("{cmd} is running…"), Some(2)),
    };
    s.page(&JobPage {
        frame: s.frame("dashboard"),
        title: "Job".into(),
        status: status.into(),
        class,
        text,
        next,
        refresh,
    })
}
