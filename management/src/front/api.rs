//! HTTP front: `/client/api` (the CloudStack query API, GET and POST), `/healthz`.
//! Handlers here only translate HTTP to the command layer and back: parameters in, one
//! envelope out, cookies for sessions. Every outcome is a CloudStack envelope with the
//! matching status code; nothing panics into a 500.
//!
//! Request data flows through here: byte-index slicing, unchecked indexing, `unwrap`,
//! `expect` and `panic!` are denied (issue 19), so a hostile value cannot panic a handler;
//! a justified exception carries its own `#[allow]` with the reason.
#![cfg_attr(
    not(test),
    deny(
        clippy::string_slice,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use stratus_api::envelope::{self, Format, Reply};
use stratus_api::{ApiError, ErrorCode, Params};

use crate::commands;
use crate::ctx::Ctx;
use crate::services::auth::{self, Caller};
use crate::settings;

/// Answers within a second, and truthfully: 503 with the reason while the database is
/// away (as the watchdog in `dbstatus` sees it), else the outcome of a ping.
pub(super) async fn healthz(State(ctx): State<Ctx>) -> Response {
    let unavailable = |why: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "2")],
            format!("database unavailable: {why}\n"),
        )
            .into_response()
    };
    if let Some(why) = ctx.db_status.down_reason() {
        return unavailable(why);
    }
    let budget = std::time::Duration::from_millis(900);
    match tokio::time::timeout(budget, crate::db::mgmt::db_ping(&ctx.pool)).await {
        Ok(Ok(_)) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            unavailable("the ping failed".into())
        }
        Err(_) => unavailable("it did not answer within 0.9 s".into()),
    }
}

/// While the database is away, every route but `/healthz` fails at once instead of
/// waiting 10 s for a pool connection: `/client/api` with a CloudStack 530 envelope in
/// the format asked for, the others with a 503. A request in flight when the database
/// goes away is cut the same way (see `dbstatus`).
pub(super) async fn db_gate(
    State(ctx): State<Ctx>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    if path == "/healthz" {
        return next.run(req).await;
    }
    if path.starts_with("/client/api") {
        // The envelope needs the command and format, which a POST may carry in its body.
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, 16 << 20).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
        };
        let mut pairs = form_pairs(parts.uri.query().unwrap_or(""));
        if parts.method == Method::POST {
            pairs.extend(form_pairs(&String::from_utf8_lossy(&bytes)));
        }
        let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let format = Format::from_param(get("response"));
        let name = get("command").map_or("errorresponse".to_string(), |c| {
            format!("{}response", c.to_lowercase())
        });
        let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        return match ctx.db_status.guard(next.run(req)).await {
            Ok(r) => r,
            Err(e) => error_response(&name, &e, format),
        };
    }
    match ctx.db_status.guard(next.run(req)).await {
        Ok(r) => r,
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "2")],
            format!("{}\n", e.text),
        )
            .into_response(),
    }
}

fn form_pairs(s: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn respond(
    status: u16,
    body: String,
    format: Format,
    extra: Vec<(header::HeaderName, String)>,
) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // The API shares its origin with the web console: its answers are data, never a
    // document a browser should sniff, render, script or frame.
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; sandbox"),
    );
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

fn error_response(response_name: &str, e: &ApiError, format: Format) -> Response {
    let desc = e.text.replace(['\r', '\n'], " ");
    respond(
        e.code.http_status(),
        envelope::render_error(response_name, e, format),
        format,
        vec![(header::HeaderName::from_static("x-description"), desc)],
    )
}

pub(super) async fn api(
    State(ctx): State<Ctx>,
    method: Method,
    headers: HeaderMap,
    ext: Extensions,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut pairs = form_pairs(query.as_deref().unwrap_or(""));
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if method == Method::POST && is_form {
        pairs.extend(form_pairs(&String::from_utf8_lossy(&body)));
    }
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let format = Format::from_param(get("response").as_deref());
    let Some(command) = get("command") else {
        return error_response(
            envelope::ERROR_RESPONSE,
            &ApiError::unsupported(
                "The command parameter is missing: please specify which API command to run",
            ),
            format,
        );
    };
    // The envelope's name comes from the catalog, never from the request: an unknown
    // command answers `errorresponse`, as CloudStack's `getSerializedApiError` does.
    let response_name = stratus_api::command::find(&command)
        .map(|spec| spec.response_name())
        .unwrap_or_else(|| envelope::ERROR_RESPONSE.to_string());

    let secure = crate::front::request::is_tls(&ext);
    if command == "login" {
        let client = crate::front::request::client_ip(&ext);
        return login(
            &ctx,
            &method,
            &pairs,
            &response_name,
            format,
            secure,
            client,
        )
        .await;
    }

    // Who is calling: a signed request, or a session cookie plus its sessionkey.
    let caller: Result<Caller, ApiError> =
        if get("signature").is_some() || get("apiKey").is_some() || get("apikey").is_some() {
            auth::authenticate_signed(&ctx, &pairs).await
        } else {
            match (
                crate::front::request::cookie_value(&headers, "JSESSIONID"),
                get("sessionkey"),
            ) {
                (Some(sid), Some(key)) => auth::authenticate_session(&ctx, sid, &key).await,
                _ => Err(ApiError::unauthorized()),
            }
        };
    let caller = match caller {
        Ok(c) => c,
        Err(e) => return error_response(&response_name, &e, format),
    };
    if let Some(refusal) = rate_limited(&ctx, &caller, &response_name, format) {
        return refusal;
    }
    let spec = match commands::resolve(&command, Some(&caller)) {
        Ok(s) => s,
        Err(e) => return error_response(envelope::ERROR_RESPONSE, &e, format),
    };
    // CloudStack's rule: user data in a query string is at most 4 KB (POST it for more).
    let query_user_data = form_pairs(query.as_deref().unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == "userdata")
        .map(|(_, v)| v.len());
    if query_user_data.is_some_and(|n| n > crate::services::vms::guest::USER_DATA_GET_MAX) {
        let e = ApiError::param(format!(
            "User data is too long for an http GET request: at most {} characters in the query string; send it in a POST body",
            crate::services::vms::guest::USER_DATA_GET_MAX
        ));
        return error_response(&response_name, &e, format);
    }
    let params = Params::from_pairs(&command, &pairs);
    match commands::dispatch(&ctx, &caller, spec, &params).await {
        Ok(reply) => {
            let mut extra = vec![];
            if command == "logout" {
                for name in ["JSESSIONID", "sessionkey"] {
                    extra.push((
                        header::SET_COOKIE,
                        crate::front::request::cookie(name, "", "/client", secure, Some(0)),
                    ));
                }
            }
            respond(200, reply.render(&response_name, format), format, extra)
        }
        Err(e) => error_response(&response_name, &e, format),
    }
}

/// CloudStack's API rate limit (`api.throttling.*`, off by default): at most
/// `api.throttling.max` requests per account per `api.throttling.interval` seconds, root
/// admins exempt as in CloudStack. Over the limit: 429 with `Retry-After`.
fn rate_limited(
    ctx: &Ctx,
    caller: &Caller,
    response_name: &str,
    format: Format,
) -> Option<Response> {
    if !ctx.get(&settings::API_THROTTLING_ENABLED) || caller.is_root_admin() {
        return None;
    }
    let interval =
        std::time::Duration::from_secs(ctx.get(&settings::API_THROTTLING_INTERVAL) as u64);
    let max = ctx.get(&settings::API_THROTTLING_MAX) as u64;
    let capacity = ctx.get(&settings::API_THROTTLING_CACHESIZE) as usize;
    let wait = ctx
        .guards
        .api
        .hit(caller.account_id().into_uuid(), interval, max, capacity)
        .err()?;
    tracing::info!(account = %caller.user.account_name, "API rate limit reached");
    let e = ApiError::new(
        ErrorCode::ApiLimitExceeded,
        format!(
            "The given user has reached his/her account api limit, please retry after {} ms.",
            wait.as_millis()
        ),
    );
    Some(with_retry_after(
        error_response(response_name, &e, format),
        wait,
    ))
}

/// Adds `Retry-After` (whole seconds, at least 1).
fn with_retry_after(mut r: Response, wait: std::time::Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

async fn login(
    ctx: &Ctx,
    method: &Method,
    pairs: &[(String, String)],
    response_name: &str,
    format: Format,
    secure: bool,
    client: Option<std::net::IpAddr>,
) -> Response {
    if method != Method::POST {
        return error_response(
            response_name,
            &ApiError::new(
                ErrorCode::MethodNotAllowed,
                "Please use HTTP POST to authenticate using this API",
            ),
            format,
        );
    }
    let Some(spec) = stratus_api::command::find("login") else {
        return error_response(
            response_name,
            &ApiError::internal("login is not in the command catalog"),
            format,
        );
    };
    let p = Params::from_pairs("login", pairs);
    if let Err(e) = p.validate(spec) {
        return error_response(response_name, &e, format);
    }
    let (Ok(username), Ok(password)) = (p.required("username"), p.required("password")) else {
        return error_response(
            response_name,
            &stratus_api::params::missing_param("login", "username"),
            format,
        );
    };
    match auth::login(ctx, username, password, p.str("domain"), "the API", client).await {
        Ok(s) => {
            let u = &s.user;
            let body = serde_json::json!({
                "username": u.username,
                "userid": u.id.to_string(),
                "domainid": u.domain_id.to_string(),
                "timeout": s.timeout,
                "account": u.account_name,
                "firstname": u.firstname,
                "lastname": u.lastname,
                "type": u.account_type.to_string(),
                "timezone": u.timezone.clone().unwrap_or_default(),
                "timezoneoffset": "0.0",
                "registered": "false",
                "sessionkey": s.session_key,
                "is2faenabled": "false",
                "is2faverified": "false",
                "managementserverid": ctx.ms_id.to_string(),
            });
            let cookies = vec![
                (
                    header::SET_COOKIE,
                    crate::front::request::cookie("JSESSIONID", &s.id, "/client", secure, None),
                ),
                (
                    header::SET_COOKIE,
                    crate::front::request::cookie(
                        "sessionkey",
                        &s.session_key,
                        "/client",
                        secure,
                        None,
                    ),
                ),
            ];
            respond(
                200,
                envelope::render(response_name, &Reply::Flat(body).body(), format),
                format,
                cookies,
            )
        }
        Err(refused) => {
            let r = error_response(response_name, &refused.error, format);
            match refused.retry_after {
                Some(wait) => with_retry_after(r, wait),
                None => r,
            }
        }
    }
}
