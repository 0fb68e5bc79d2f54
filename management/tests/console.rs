//! The web console through the router: pages parsed as HTML and checked by CSS selector.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::Client;
use scraper::{Html, Selector};

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn form(path: &str, body: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    r.body(Body::from(body.to_string())).unwrap()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    r.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn login_list_zones_and_logout_with_csrf_protection() {
    let c = Client::admin().await;
    c.basic_topology("console-zone").await;

    // Not logged in: pages send you to the login form.
    let a = c.raw(get("/console/zones", None)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[header::LOCATION], "/console/login");
    let a = c.raw(get("/console/login", None)).await;
    let doc = Html::parse_document(&a.text);
    assert_eq!(
        doc.select(&sel(
            "form[action='/console/login'] input[name=password][type=password]"
        ))
        .count(),
        1
    );

    // Wrong password: the form comes back with the error and the username kept.
    let a = c
        .raw(form("/console/login", "username=admin&password=nope", None))
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let doc = Html::parse_document(&a.text);
    let err: String = doc
        .select(&sel("p.error[role=alert]"))
        .next()
        .expect("error shown")
        .text()
        .collect();
    assert!(err.contains("Failed to authenticate user admin"), "{err}");
    assert_eq!(
        doc.select(&sel("input#username"))
            .next()
            .unwrap()
            .value()
            .attr("value"),
        Some("admin")
    );

    // Right password: a session cookie, then the zones page with real data.
    let a = c
        .raw(form(
            "/console/login",
            "username=admin&password=password",
            None,
        ))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let cookie = a.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let a = c.raw(get("/console/zones", Some(&cookie))).await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = Html::parse_document(&a.text);
    let cells: Vec<String> = doc
        .select(&sel("table#list tbody tr td"))
        .map(|td| td.text().collect())
        .collect();
    assert_eq!(cells[0], "console-zone");
    assert_eq!(cells[1], "Basic");
    assert_eq!(
        doc.select(&sel("nav a.active"))
            .next()
            .unwrap()
            .value()
            .attr("href"),
        Some("/console/zones")
    );
    let pods = Html::parse_document(&c.raw(get("/console/pods", Some(&cookie))).await.text);
    let pod_cells: Vec<String> = pods
        .select(&sel("table#list tbody tr td"))
        .map(|td| td.text().collect())
        .collect();
    assert_eq!(
        pod_cells[..2],
        ["pod1".to_string(), "console-zone".to_string()]
    );
    let events = Html::parse_document(&c.raw(get("/console/events", Some(&cookie))).await.text);
    assert!(
        events.select(&sel("table#list tbody tr")).count() >= 4,
        "the topology's events are listed"
    );

    // Logout needs the page's sessionkey: a cookie-only (cross-site) POST is refused.
    let key = doc
        .select(&sel(
            "form[action='/console/logout'] input[name=sessionkey]",
        ))
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_string();
    let a = c.raw(form("/console/logout", "", Some(&cookie))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        c.raw(get("/console/zones", Some(&cookie))).await.status,
        StatusCode::OK,
        "still logged in"
    );
    let a = c
        .raw(form(
            "/console/logout",
            &format!("sessionkey={key}"),
            Some(&cookie),
        ))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        c.raw(get("/console/zones", Some(&cookie))).await.status,
        StatusCode::SEE_OTHER,
        "logged out"
    );
}

#[tokio::test]
async fn empty_lists_and_unknown_pages() {
    let c = Client::admin().await;
    let a = c
        .raw(form(
            "/console/login",
            "username=admin&password=password&domain=%2F",
            None,
        ))
        .await;
    let cookie = a.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    for page in [
        "clusters",
        "hosts",
        "primary-storage",
        "secondary-storage",
        "isos",
    ] {
        let doc = Html::parse_document(
            &c.raw(get(&format!("/console/{page}"), Some(&cookie)))
                .await
                .text,
        );
        assert_eq!(doc.select(&sel("p.empty")).count(), 1, "{page}");
        assert_eq!(doc.select(&sel("table#list")).count(), 0, "{page}");
        let active: Vec<String> = doc
            .select(&sel("nav a.active"))
            .map(|a| a.value().attr("href").unwrap_or_default().to_string())
            .collect();
        assert_eq!(active, [format!("/console/{page}")], "{page}");
    }
    assert_eq!(
        c.raw(get("/console/nothing", Some(&cookie))).await.status,
        StatusCode::NOT_FOUND
    );
}
