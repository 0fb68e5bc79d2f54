//! The web console through the router: pages parsed as HTML and checked by CSS selector.

use stratus_testkit::db as common;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{Answer, Client};
use scraper::{ElementRef, Html, Selector};
use stratus_api::agent::{
    Acceleration, DomainStats, Heartbeat, HostFacts, HostMetrics, PROTOCOL_VERSION,
};
use stratus_management::{db, services::hosts};
use uuid::Uuid;

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

fn texts(doc: &Html, s: &str) -> Vec<String> {
    doc.select(&sel(s))
        .map(|e| e.text().collect::<String>().trim().to_string())
        .collect()
}

fn text1(doc: &Html, s: &str) -> String {
    texts(doc, s)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("nothing matches {s}"))
}

fn attr(doc: &Html, s: &str, a: &str) -> String {
    doc.select(&sel(s))
        .next()
        .unwrap_or_else(|| panic!("nothing matches {s}"))
        .value()
        .attr(a)
        .unwrap_or_default()
        .to_string()
}

/// A logged-in browser: keeps its cookies (the session, the one-time message) and the
/// session key the pages carry, follows redirects.
struct Browser<'a> {
    c: &'a Client,
    cookies: BTreeMap<String, String>,
    key: String,
}

/// A page as the browser got it.
struct Page {
    status: StatusCode,
    doc: Html,
    path: String,
    headers: axum::http::HeaderMap,
}

fn urlencode(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl<'a> Browser<'a> {
    async fn login(c: &'a Client) -> Browser<'a> {
        Self::login_as(c, "admin", "password").await
    }

    async fn login_as(c: &'a Client, user: &str, password: &str) -> Browser<'a> {
        Self::login_in(c, user, password, "").await
    }

    /// Signs in as `user` of the domain at `domain` (a path; empty: ROOT).
    async fn login_in(c: &'a Client, user: &str, password: &str, domain: &str) -> Browser<'a> {
        let mut b = Browser {
            c,
            cookies: BTreeMap::new(),
            key: String::new(),
        };
        let a = c
            .raw(form(
                "/console/login",
                &urlencode(&[
                    ("username", user),
                    ("password", password),
                    ("domain", domain),
                ]),
                None,
            ))
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        b.take_cookies(&a);
        let p = b.get("/console/dashboard").await;
        b.key = attr(
            &p.doc,
            "form[action='/console/logout'] input[name=sessionkey]",
            "value",
        );
        b
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take_cookies(&mut self, a: &Answer) {
        for v in a.headers.get_all(header::SET_COOKIE) {
            let c = v.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
    }

    async fn follow(&mut self, mut a: Answer, mut path: String) -> Page {
        for _ in 0..5 {
            self.take_cookies(&a);
            if a.status != StatusCode::SEE_OTHER {
                break;
            }
            path = a.headers[header::LOCATION].to_str().unwrap().to_string();
            a = self.c.raw(get(&path, Some(&self.cookie_header()))).await;
        }
        Page {
            status: a.status,
            doc: Html::parse_document(&a.text),
            path,
            headers: a.headers,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let a = self.c.raw(get(path, Some(&self.cookie_header()))).await;
        self.follow(a, path.to_string()).await
    }

    /// Posts a form with the session key, as the page's own form would.
    async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        let mut all = vec![("sessionkey", self.key.as_str())];
        all.extend_from_slice(pairs);
        let a = self
            .c
            .raw(form(path, &urlencode(&all), Some(&self.cookie_header())))
            .await;
        self.follow(a, path.to_string()).await
    }

    /// Submits the form matched by `form_sel` on `page` with its hidden and filled-in
    /// fields, overridden by `set`, and the button `go` (name=go) if given.
    async fn submit(
        &mut self,
        page: &Page,
        form_sel: &str,
        set: &[(&str, &str)],
        go: Option<&str>,
    ) -> Page {
        let f = page
            .doc
            .select(&sel(form_sel))
            .next()
            .unwrap_or_else(|| panic!("no form {form_sel} on {}", page.path));
        let action = f.value().attr("action").unwrap().to_string();
        let mut pairs: Vec<(String, String)> = form_values(f);
        for (k, v) in set {
            pairs.retain(|(n, _)| n != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        if let Some(g) = go {
            pairs.push(("go".into(), g.into()));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        let a = self
            .c
            .raw(form(&action, &body, Some(&self.cookie_header())))
            .await;
        self.follow(a, action).await
    }
}

/// What a browser would send for a form's inputs (text, hidden, checked boxes/radios,
/// selects), buttons excluded.
fn form_values(f: ElementRef) -> Vec<(String, String)> {
    let mut v = vec![];
    for i in f.select(&sel("input")) {
        let e = i.value();
        let Some(name) = e.attr("name") else { continue };
        let kind = e.attr("type").unwrap_or("text");
        if (kind == "checkbox" || kind == "radio") && e.attr("checked").is_none() {
            continue;
        }
        v.push((name.to_string(), e.attr("value").unwrap_or("").to_string()));
    }
    for s in f.select(&sel("select")) {
        let name = s.value().attr("name").unwrap().to_string();
        let chosen = s
            .select(&sel("option[selected]"))
            .next()
            .or_else(|| s.select(&sel("option")).next())
            .and_then(|o| o.value().attr("value"))
            .unwrap_or("")
            .to_string();
        v.push((name, chosen));
    }
    v
}

/// A form page the API refused: 422, its text (containing `why`) in the form, the name
/// typed in kept.
fn refused_keeping_input(p: &Page, why: &str, name: &str) {
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = text1(&p.doc, "#form .error");
    assert!(error.contains(why), "{error}");
    assert_eq!(attr(&p.doc, "#f-name", "value"), name);
}

fn flash(p: &Page) -> String {
    texts(&p.doc, ".flash").join(" ")
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
    let err = text1(&doc, "p.error[role=alert]");
    assert!(err.contains("Failed to authenticate user admin"), "{err}");
    assert_eq!(attr(&doc, "input#username", "value"), "admin");

    // Right password: a session cookie, then the zones page with real data.
    let a = c
        .raw(form(
            "/console/login",
            "username=admin&password=password",
            None,
        ))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[header::LOCATION], "/console/dashboard");
    let cookie = a.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let a = c.raw(get("/console/zones", Some(&cookie))).await;
    assert_eq!(a.status, StatusCode::OK);
    // Pages may not be framed and run only their own scripts.
    assert_eq!(a.headers["x-frame-options"], "DENY");
    assert!(a.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let doc = Html::parse_document(&a.text);
    let cells = texts(&doc, "table#list tbody tr td");
    assert_eq!(cells[0], "console-zone");
    assert_eq!(cells[1], "Basic");
    assert_eq!(
        texts(&doc, "table#list tbody tr td .badge"),
        ["Disabled"],
        "the allocation state is a badge"
    );
    assert_eq!(attr(&doc, "nav a.active", "href"), "/console/zones");
    let pods = Html::parse_document(&c.raw(get("/console/pods", Some(&cookie))).await.text);
    let pod_cells = texts(&pods, "table#list tbody tr td");
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
    let key = attr(
        &doc,
        "form[action='/console/logout'] input[name=sessionkey]",
        "value",
    );
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
        "alerts",
    ] {
        let doc = Html::parse_document(
            &c.raw(get(&format!("/console/{page}"), Some(&cookie)))
                .await
                .text,
        );
        assert_eq!(doc.select(&sel("p.empty")).count(), 1, "{page}");
        assert_eq!(doc.select(&sel("table#list")).count(), 0, "{page}");
        // An empty live list is in the box the pages' script refills when rows appear.
        assert_eq!(
            doc.select(&sel("#list-rows[data-live-rows] > p.empty"))
                .count(),
            usize::from(page == "hosts"),
            "{page}"
        );
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
    let a = c
        .raw(get(
            &format!("/console/hosts/{}", Uuid::new_v4()),
            Some(&cookie),
        ))
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let doc = Html::parse_document(&a.text);
    assert!(text1(&doc, ".card p").contains("No host with that id"));
}

fn heartbeat(generation: u64, cpu: f64, mem_used: u64, rx: u64) -> Heartbeat {
    Heartbeat {
        protocol: PROTOCOL_VERSION,
        generation,
        facts: HostFacts {
            hostname: "kvm1".into(),
            arch: "x86_64".into(),
            cpu_sockets: 1,
            cpu_cores: 4,
            cpu_mhz: 2000,
            memory_bytes: 8 << 30,
            os: "Debian GNU/Linux 12".into(),
            kernel: "6.1.0".into(),
            libvirt_version: "9.0.0".into(),
            hypervisor_version: "7.2.0".into(),
            acceleration: Acceleration::Qemu,
            agent_version: "0.1.0".into(),
        },
        metrics: HostMetrics {
            cpu_used_percent: cpu,
            memory_used_bytes: mem_used,
            network_rx_bytes: rx,
            network_tx_bytes: rx / 2,
        },
        domains: vec![],
        domain_stats: vec![],
        sg_generation: None,
    }
}

/// A host registered as `addHost` would, Up with a few heartbeats' samples.
async fn reporting_host(c: &Client, zone: &str, pod: &str, cluster: &str) -> Uuid {
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let (h, token) = hosts::register(
        &c.ctx,
        &admin,
        zone.parse().unwrap(),
        pod.parse().unwrap(),
        cluster.parse().unwrap(),
        "10.0.0.21".parse().unwrap(),
        8250,
        "kvm1",
    )
    .await
    .unwrap();
    for (i, cpu) in [10.0, 30.0, 50.0, 20.0].into_iter().enumerate() {
        let g = i as u64 + 1;
        hosts::heartbeat(
            &c.ctx,
            h.id,
            Some(&token),
            &heartbeat(g, cpu, (2 + g) << 30, g * 1_000_000),
            None,
        )
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    h.id.into()
}

#[tokio::test]
async fn dashboard_hosts_metrics_charts_and_quick_actions() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("dash-zone").await;
    // The job worker runs the async quick actions (maintenance).
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let host = reporting_host(&c, &zid, &pid, &cid).await;
    let mut b = Browser::login(&c).await;

    // Dashboard: counts by state, capacity from the hosts, no alerts yet.
    let p = b.get("/console/dashboard").await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        p.doc.select(&sel("#first-run")).count(),
        0,
        "there is a zone"
    );
    assert_eq!(text1(&p.doc, "[data-tile=hosts] .big"), "1");
    assert_eq!(
        texts(&p.doc, "[data-tile=hosts] .badge"),
        ["Up 1"],
        "hosts by state"
    );
    assert_eq!(texts(&p.doc, "[data-tile=zones] .badge"), ["Disabled 1"]);
    if stratus_api::command::find("listVirtualMachines").is_some() {
        assert_eq!(texts(&p.doc, "[data-tile=instances] .big"), ["0"]);
        let p = b.get("/console/instances").await;
        assert_eq!(p.status, StatusCode::OK);
        assert_eq!(attr(&p.doc, "nav a.active", "href"), "/console/instances");
    } else {
        assert_eq!(p.doc.select(&sel("[data-tile=instances]")).count(), 0);
    }
    let cpu = text1(&p.doc, "[data-gauge=cpu]");
    assert!(cpu.contains("of 8.00 GHz"), "4 cores × 2000 MHz: {cpu}");
    let mem = text1(&p.doc, "[data-gauge=memory]");
    if stratus_api::command::find("listCapacity").is_some() {
        // listCapacity: what instances were given (none yet) of the hosts' memory.
        assert!(mem.contains("0 B of 8.00 GiB"), "{mem}");
        assert!(
            text1(&p.doc, "[data-gauge=guest-ips]").contains("of 0"),
            "no guest range"
        );
    } else {
        assert!(mem.contains("6.00 GiB of 8.00 GiB"), "{mem}");
    }
    assert!(texts(&p.doc, "#alerts, p.empty")
        .iter()
        .any(|t| t == "No alerts."));
    assert!(p.doc.select(&sel("#events tbody tr")).count() >= 3);

    // The hosts list links to the host; the metrics table is figure 2-15.
    let p = b.get("/console/hosts").await;
    assert_eq!(
        attr(&p.doc, "table#list tbody tr td a", "href"),
        format!("/console/hosts/{host}")
    );
    let p = b.get("/console/hosts/metrics").await;
    assert_eq!(
        texts(&p.doc, "table#list thead tr.group th"),
        ["Resources", "CPU usage", "Memory usage", "Network usage"]
    );
    let row = texts(&p.doc, "table#list tbody tr td");
    assert_eq!(row[0], "kvm1");
    assert_eq!(row[1], "Up");
    assert_eq!(row[3], "4", "cores");
    assert_eq!(row[4], "8.00 GHz", "CPU total");
    assert_eq!(row[5], "1.60 GHz", "CPU used: 20% of 8 GHz");
    assert_eq!(row[7], "8.00 GiB", "memory total");
    assert_eq!(row[8], "6.00 GiB", "memory used");

    // The samples behind the charts, through the API: all of them, or none before a date.
    let h = c
        .ok("listHostsUsageHistory", &[("id", &host.to_string())])
        .await;
    assert_eq!(h["host"][0]["stats"].as_array().unwrap().len(), 4, "{h}");
    assert_eq!(h["host"][0]["stats"][0]["cpuused"], "10.00%");
    assert_eq!(h["host"][0]["stats"][3]["memoryusedkbs"], 6 << 20);
    let h = c
        .ok(
            "listHostsUsageHistory",
            &[("id", &host.to_string()), ("enddate", "2001-01-01")],
        )
        .await;
    assert_eq!(h["host"][0]["stats"].as_array().unwrap().len(), 0);

    // The host's page: facts, state badges, charts of the retained samples.
    c.ok(
        "updateHost",
        &[("id", &host.to_string()), ("hosttags", "ssd,gpu")],
    )
    .await;
    let p = b.get(&format!("/console/hosts/{host}")).await;
    assert_eq!(texts(&p.doc, ".head .badge"), ["Up", "Enabled"]);
    let dts = texts(&p.doc, "dl.fields dt");
    let dds = texts(&p.doc, "dl.fields dd");
    let at = dts
        .iter()
        .position(|t| t == "Host tags")
        .expect("a Host tags field");
    assert_eq!(dds[at], "ssd,gpu");
    let charts = texts(&p.doc, ".charts figcaption");
    assert_eq!(charts, ["CPU used", "Memory used", "Network"]);
    let cpu_line = attr(
        &p.doc,
        ".charts figure:nth-child(1) polyline.series",
        "points",
    );
    assert_eq!(
        cpu_line.split(' ').count(),
        4,
        "one point per sample: {cpu_line}"
    );
    let net_lines = p
        .doc
        .select(&sel(".charts figure:nth-child(3) polyline.series"))
        .count();
    assert_eq!(net_lines, 2, "read and write rates");
    let actions: Vec<String> = p
        .doc
        .select(&sel("#actions form"))
        .map(|f| f.value().attr("data-action").unwrap().to_string())
        .collect();
    assert_eq!(actions, ["disable", "maintenance", "reconnect", "delete"]);

    // Quick actions: disable, enable, maintenance and back; each is a form with the key.
    let p = b
        .post(
            &format!("/console/hosts/{host}/action"),
            &[("action", "disable")],
        )
        .await;
    assert_eq!(p.path, format!("/console/hosts/{host}"));
    assert_eq!(flash(&p), "The host is disabled.");
    assert_eq!(texts(&p.doc, ".head .badge"), ["Up", "Disabled"]);
    let p = b.get(&format!("/console/hosts/{host}")).await;
    assert_eq!(flash(&p), "", "the message is shown once");
    let p = b
        .post(
            &format!("/console/hosts/{host}/action"),
            &[("action", "maintenance")],
        )
        .await;
    assert_eq!(
        flash(&p),
        "The host is in maintenance.",
        "the async job was waited for"
    );
    assert_eq!(texts(&p.doc, ".head .badge"), ["Up", "Maintenance"]);
    let actions: Vec<String> = p
        .doc
        .select(&sel("#actions form"))
        .map(|f| f.value().attr("data-action").unwrap().to_string())
        .collect();
    assert_eq!(actions, ["cancel-maintenance", "reconnect", "delete"]);
    // Cancelling twice: the second is refused, and the page says why.
    b.post(
        &format!("/console/hosts/{host}/action"),
        &[("action", "cancel-maintenance")],
    )
    .await;
    let p = b
        .post(
            &format!("/console/hosts/{host}/action"),
            &[("action", "cancel-maintenance")],
        )
        .await;
    assert!(
        p.doc.select(&sel(".flash.error")).count() == 1,
        "{}",
        flash(&p)
    );
    // Without the session key the action is refused and nothing changes.
    let a = c
        .raw(form(
            &format!("/console/hosts/{host}/action"),
            "action=disable",
            Some(&b.cookie_header()),
        ))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let p = b.get(&format!("/console/hosts/{host}")).await;
    assert_eq!(texts(&p.doc, ".head .badge"), ["Up", "Enabled"]);

    // Zone, pod and cluster pages list what they hold.
    let p = b.get(&format!("/console/zones/{zid}")).await;
    assert_eq!(texts(&p.doc, "table#hosts tbody tr td a")[0], "kvm1");
    assert_eq!(texts(&p.doc, "table#pods tbody tr td a")[0], "pod1");
    let p = b.get(&format!("/console/clusters/{cid}")).await;
    assert_eq!(texts(&p.doc, "table#hosts tbody tr td a")[0], "kvm1");
    // Enabling the zone from its page.
    let p = b
        .post(
            &format!("/console/zones/{zid}/action"),
            &[("action", "enable")],
        )
        .await;
    assert_eq!(texts(&p.doc, ".head .badge"), ["Enabled"]);
}

/// The wizard's form on a page.
const WIZARD: &str = "form#wizard";

#[tokio::test]
async fn add_zone_wizard_keeps_input_and_returns_to_the_failing_step() {
    let c = Client::admin().await;
    let mut b = Browser::login(&c).await;
    // A cloud without zones: the dashboard points to the wizard.
    let p = b.get("/console/dashboard").await;
    assert_eq!(attr(&p.doc, "#first-run a", "href"), "/console/zones/new");
    let p = b.get("/console/zones/new").await;
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "type");
    assert_eq!(
        texts(&p.doc, "ol#steps li"),
        [
            "Zone type",
            "Zone",
            "Pod",
            "Guest network",
            "Cluster",
            "Host",
            "Primary storage",
            "Secondary storage",
            "Launch"
        ]
    );
    // Enter submits a form's first submit button: in the wizard that is Next, never Back.
    assert_eq!(
        attr(&p.doc, "#wizard button[type=submit]", "value"),
        "next",
        "Enter goes forward"
    );
    assert_eq!(
        attr(&p.doc, "ol#steps li[aria-current=step]", "class"),
        "current"
    );
    let p = b.submit(&p, WIZARD, &[], Some("next")).await;
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "zone");
    assert_eq!(
        attr(&p.doc, "#wizard button[type=submit]", "value"),
        "next",
        "Enter goes forward, not Back"
    );
    // An address the API would refuse is refused on its step, with the API's words.
    let bad = b
        .submit(
            &p,
            WIZARD,
            &[
                ("zone.name", "wz"),
                ("zone.dns1", "not-an-ip"),
                ("zone.internaldns1", "10.0.0.2"),
            ],
            Some("next"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(attr(&bad.doc, WIZARD, "data-step"), "zone");
    assert!(
        text1(&bad.doc, "#wizard-error").contains("'not-an-ip'"),
        "{}",
        text1(&bad.doc, "#wizard-error")
    );

    // A required field left empty: the same step again, with the error and the input.
    let p = b
        .submit(
            &p,
            WIZARD,
            &[("zone.name", "wz"), ("zone.dns1", "8.8.8.8")],
            Some("next"),
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "zone");
    assert_eq!(
        text1(&p.doc, "#wizard-error"),
        "Zone: Internal DNS 1 is required."
    );
    assert_eq!(attr(&p.doc, "input[name='zone.name']", "value"), "wz");
    let p = b
        .submit(
            &p,
            WIZARD,
            &[("zone.internaldns1", "10.0.0.2")],
            Some("next"),
        )
        .await;
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "pod");
    // Back keeps what was entered.
    let back = b
        .submit(&p, WIZARD, &[("pod.name", "wp")], Some("back"))
        .await;
    assert_eq!(attr(&back.doc, WIZARD, "data-step"), "zone");
    assert_eq!(
        attr(&back.doc, "input[name='zone.internaldns1']", "value"),
        "10.0.0.2"
    );
    let p = b.submit(&back, WIZARD, &[], Some("next")).await;
    assert_eq!(attr(&p.doc, "input[name='pod.name']", "value"), "wp");
    let p = b
        .submit(
            &p,
            WIZARD,
            &[
                ("pod.gateway", "10.0.0.1"),
                ("pod.netmask", "255.255.255.0"),
                ("pod.startip", "10.0.0.10"),
                ("pod.endip", "10.0.0.50"),
            ],
            Some("next"),
        )
        .await;
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "guest");
    // Addresses the API would refuse are refused on the step itself, input kept: no
    // address, an octet past 255, a range that overlaps the pod's reserved range.
    for (start, end, want) in [
        ("not-an-ip", "10.0.0.90", "'not-an-ip' is not an IP address"),
        (
            "10.0.0.40",
            "172.31.1.999",
            "'172.31.1.999' is not an IP address",
        ),
        (
            "10.0.0.40",
            "10.0.0.90",
            "overlaps with the management IP range of pod wp 10.0.0.10-10.0.0.50",
        ),
    ] {
        let bad = b
            .submit(
                &p,
                WIZARD,
                &[
                    ("guest.gateway", "10.0.0.1"),
                    ("guest.netmask", "255.255.255.0"),
                    ("guest.startip", start),
                    ("guest.endip", end),
                ],
                Some("next"),
            )
            .await;
        assert_eq!(
            bad.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{start}-{end}"
        );
        assert_eq!(attr(&bad.doc, WIZARD, "data-step"), "guest");
        let err = text1(&bad.doc, "#wizard-error");
        assert!(
            err.starts_with("Guest network: ") && err.contains(want),
            "{err}"
        );
        assert_eq!(attr(&bad.doc, "input[name='guest.endip']", "value"), end);
    }
    let p = b
        .submit(
            &p,
            WIZARD,
            &[
                ("guest.gateway", "10.0.0.1"),
                ("guest.netmask", "255.255.255.0"),
                ("guest.startip", "10.0.0.100"),
                ("guest.endip", "10.0.0.150"),
            ],
            Some("next"),
        )
        .await;
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "cluster");
    let p = b
        .submit(&p, WIZARD, &[("cluster.name", "wc")], Some("next"))
        .await;
    // An address that is no address: refused at the host step.
    let p = b
        .submit(
            &p,
            WIZARD,
            &[("host.address", "300.1.1.1"), ("host.password", "pw")],
            Some("next"),
        )
        .await;
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "primary");
    let p = b
        .submit(
            &p,
            WIZARD,
            &[
                ("primary.name", "wpri"),
                ("primary.server", "127.0.0.1"),
                ("primary.path", "/nowhere"),
            ],
            Some("next"),
        )
        .await;
    let p = b
        .submit(
            &p,
            WIZARD,
            &[
                ("secondary.name", "wsec"),
                ("secondary.server", "127.0.0.1"),
                ("secondary.path", "/nowhere2"),
            ],
            Some("next"),
        )
        .await;
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "launch");
    assert_eq!(
        attr(&p.doc, "#wizard button[type=submit]", "value"),
        "launch",
        "Enter on the review launches, never Edit"
    );
    let review = texts(&p.doc, "#review td");
    assert!(review.contains(&"10.0.0.100".to_string()), "{review:?}");
    assert!(
        review.contains(&"••••••••".to_string()),
        "the password is not shown"
    );
    assert!(
        !p.doc.html().contains("value=\"pw\"")
            || p.doc.select(&sel("input[type=password]")).count() == 0
    );

    // Launch: zone, pod, guest range and cluster are built, the host is refused: back at
    // the host step with what was built remembered.
    let p = b.submit(&p, WIZARD, &[], Some("launch")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        texts(&p.doc, "#progress li.ok, #progress li .badge.ok").len(),
        4,
        "zone, pod, guest range and cluster done"
    );
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "host");
    assert_eq!(
        p.doc.select(&sel("#wizard-error")).count(),
        0,
        "the error is shown once"
    );
    let zone_id = attr(&p.doc, "input[name='done.zone']", "value");
    assert!(!zone_id.is_empty() && !attr(&p.doc, "input[name='done.pod']", "value").is_empty());
    assert!(
        c.ok("listZones", &[("id", &zone_id)]).await["zone"][0]["name"] == "wz",
        "the zone exists"
    );

    // Launching again goes on from the host, and stops at the bad host again.
    let p = b.submit(&p, WIZARD, &[], Some("launch")).await;
    assert_eq!(
        texts(&p.doc, "#progress li.ok").len(),
        4,
        "nothing is built twice"
    );
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "host");
    assert!(text1(&p.doc, "#build-error").contains("300.1.1.1"));
    assert_eq!(
        attr(&p.doc, "input[name='host.address']", "value"),
        "300.1.1.1"
    );
    assert_eq!(
        attr(&p.doc, "input[name='host.password']", "value"),
        "",
        "a password is never put back in an input"
    );
    assert_eq!(
        attr(&p.doc, "input[name='keep.host.password']", "value"),
        "pw"
    );
    assert_eq!(c.ok("listPods", &[("zoneid", &zone_id)]).await["count"], 1);
    assert_eq!(
        c.ok("listClusters", &[("zoneid", &zone_id)]).await["count"],
        1
    );
    // Nothing can be edited that was built: Back from the host step skips to... nothing.
    assert_eq!(p.doc.select(&sel("#wizard button[value=back]")).count(), 0);
}

#[tokio::test]
async fn register_an_iso_and_follow_its_status() {
    let c = Client::admin().await;
    c.allow_loopback_downloads().await;
    let (zid, _, _) = c.basic_topology("iso-zone").await;
    let mut b = Browser::login(&c).await;
    let p = b.get("/console/isos/new").await;
    let zones = texts(&p.doc, "select[name=zoneid] option");
    assert_eq!(zones, ["All zones", "iso-zone"]);
    assert!(
        p.doc.select(&sel("input[name=bootable][checked]")).count() == 1,
        "bootable by default"
    );
    assert!(texts(&p.doc, "select[name=ostypeid] option").len() > 5);

    // A URL the downloader cannot use: the form again, with the error and the input.
    let p = b
        .submit(
            &p,
            "form#form",
            &[("name", "bad"), ("url", "ftp://example.org/x.iso")],
            None,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text1(&p.doc, "p.error").contains("ftp://"),
        "{}",
        text1(&p.doc, "p.error")
    );
    assert_eq!(attr(&p.doc, "input[name=name]", "value"), "bad");

    let p = b
        .submit(
            &p,
            "form#form",
            &[
                ("name", "ipxe"),
                ("displaytext", "iPXE"),
                ("url", "http://127.0.0.1:9/ipxe.iso"),
                ("zoneid", &zid),
                ("ispublic", "true"),
            ],
            None,
        )
        .await;
    assert!(p.path.starts_with("/console/isos/"), "{}", p.path);
    assert_eq!(text1(&p.doc, "h1"), "ipxe");
    assert_eq!(texts(&p.doc, "table#zones tbody tr td")[0], "iso-zone");
    let status = texts(&p.doc, "table#zones tbody tr td .badge")[0].clone();
    assert!(status.contains("Waiting for secondary storage"), "{status}");
    let iso = c
        .ok("listIsos", &[("name", "ipxe"), ("isofilter", "all")])
        .await;
    assert_eq!(iso["iso"][0]["ispublic"], true);
    assert_eq!(iso["iso"][0]["bootable"], true);
    assert_eq!(iso["iso"][0]["isfeatured"], false);
    let p = b.get("/console/isos").await;
    assert_eq!(texts(&p.doc, "table#list tbody tr td")[0], "ipxe");

    // Its permissions, as a template's: shared with an account from its page.
    c.user("dave").await;
    let id = iso["iso"][0]["id"].as_str().unwrap().to_string();
    let p = b.get(&format!("/console/isos/{id}")).await;
    assert!(
        texts(&p.doc, "h2.section").contains(&"Permissions".to_string()),
        "{:?}",
        texts(&p.doc, "h2.section")
    );
    assert_eq!(
        texts(&p.doc, "form[data-action=visibility] label.check"),
        ["Public", "Featured", "Extractable"],
        "a root admin features ISOs"
    );
    let p = b
        .submit(
            &p,
            "form[data-action=share]",
            &[("with", "account:dave")],
            None,
        )
        .await;
    assert!(flash(&p).contains("The ISO is shared"), "{}", flash(&p));
    assert_eq!(
        rows_of(&p.doc, "permissions"),
        [["dave", "Account", "Stop sharing"]]
    );
    let perms = c.ok("listIsoPermissions", &[("id", &id)]).await["templatepermission"].clone();
    assert_eq!(perms["account"], serde_json::json!(["dave"]), "{perms}");
    let p = b
        .submit(
            &p,
            "table#permissions tr[data-id='account:dave'] form[data-action=unshare]",
            &[],
            None,
        )
        .await;
    assert!(flash(&p).contains("no longer shared"), "{}", flash(&p));
    assert_eq!(p.doc.select(&sel("table#permissions")).count(), 0);
}

#[tokio::test]
async fn settings_accounts_and_api_keys() {
    let c = Client::admin().await;
    let mut b = Browser::login(&c).await;

    // Settings: search, edit, a refused value, reset.
    let p = b.get("/console/settings?keyword=ping.interval").await;
    let names = texts(&p.doc, "table#list tbody tr td strong");
    assert!(
        names.contains(&"ping.interval".to_string()),
        "{names:?} {}",
        texts(&p.doc, "main").join(" ")
    );
    let p = b
        .post(
            "/console/settings",
            &[
                ("name", "ping.interval"),
                ("value", "7"),
                ("back", "/console/settings?keyword=ping.interval"),
            ],
        )
        .await;
    assert_eq!(p.path, "/console/settings?keyword=ping.interval");
    assert_eq!(flash(&p), "ping.interval is now '7'.");
    assert_eq!(
        attr(
            &p.doc,
            "tr[data-id='ping.interval'] input[name=value]",
            "value"
        ),
        "7"
    );
    let p = b
        .post(
            "/console/settings",
            &[("name", "ping.interval"), ("value", "often")],
        )
        .await;
    assert_eq!(
        p.doc.select(&sel(".flash.error")).count(),
        1,
        "{}",
        flash(&p)
    );
    let p = b
        .post(
            "/console/settings/reset",
            &[("name", "ping.interval"), ("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(
        p.path, "/console/settings",
        "only console pages are followed"
    );
    assert_eq!(
        c.ok("listConfigurations", &[("name", "ping.interval")])
            .await["configuration"][0]["value"],
        "60"
    );

    // An account with its first user, then that user's API keys, shown once.
    let p = b.get("/console/accounts/new").await;
    let p = b
        .submit(
            &p,
            "form#form",
            &[
                ("username", "alice"),
                ("password", "alice-pw-1"),
                ("email", "alice@example.org"),
                ("firstname", "Alice"),
                ("lastname", "Liddell"),
            ],
            None,
        )
        .await;
    assert_eq!(flash(&p), "The account was created.");
    assert_eq!(text1(&p.doc, "h1"), "alice");
    let user_href = attr(&p.doc, "table#users tbody tr td a", "href");
    let p = b.get(&user_href).await;
    assert!(text1(&p.doc, "#fields").contains("none: generate keys"));
    let user_id = user_href.rsplit('/').next().unwrap().to_string();
    let p = b.post(&format!("/console/users/{user_id}/keys"), &[]).await;
    let apikey = text1(&p.doc, "#apikey");
    let secret = text1(&p.doc, "#secretkey");
    assert!(apikey.len() > 20 && secret.len() > 20);
    assert_eq!(
        p.headers[header::CACHE_CONTROL],
        "no-store",
        "the secret is not cached"
    );
    let p = b.get(&user_href).await;
    let fields = text1(&p.doc, "#fields");
    assert!(fields.contains(&apikey), "the API key is shown");
    assert!(
        !p.doc.html().contains(&secret),
        "the secret is not shown again"
    );

    // The keys work against the API.
    let keyed = Client {
        ctx: c.ctx.clone(),
        router: c.router.clone(),
        api_key: apikey,
        secret,
    };
    assert_eq!(
        keyed.ok("listUsers", &[]).await["user"][0]["username"],
        "alice"
    );

    // A duplicate user name: the form again with the input kept (the password not).
    let p = b.get("/console/accounts/new").await;
    let p = b
        .submit(
            &p,
            "form#form",
            &[
                ("username", "alice"),
                ("password", "x-pw-12345"),
                ("email", "a2@example.org"),
                ("firstname", "A"),
                ("lastname", "B"),
            ],
            None,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(attr(&p.doc, "input[name=email]", "value"), "a2@example.org");
    assert_eq!(attr(&p.doc, "input[name=password]", "value"), "");

    // My own keys page.
    let p = b.get("/console/api-keys").await;
    assert_eq!(attr(&p.doc, "nav a.active", "href"), "/console/api-keys");
    let p = b.submit(&p, "form[data-action=keys]", &[], None).await;
    assert_eq!(text1(&p.doc, "h1"), "New API keys for admin");
}

#[tokio::test]
async fn advanced_zone_wizard_adds_a_physical_network_and_a_public_range() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let mut b = Browser::login(&c).await;
    let p = b.get("/console/zones/new").await;
    let p = b
        .submit(
            &p,
            WIZARD,
            &[("type.networktype", "Advanced")],
            Some("next"),
        )
        .await;
    assert_eq!(
        texts(&p.doc, "ol#steps li"),
        [
            "Zone type",
            "Zone",
            "Physical network",
            "Public traffic",
            "Pod",
            "Cluster",
            "Host",
            "Primary storage",
            "Secondary storage",
            "Launch"
        ]
    );
    assert_eq!(
        attr(&p.doc, "input[name='zone.guestcidr']", "value"),
        "10.1.1.0/24"
    );
    let p = b
        .submit(
            &p,
            WIZARD,
            &[
                ("zone.name", "adv"),
                ("zone.dns1", "8.8.8.8"),
                ("zone.internaldns1", "10.0.0.2"),
            ],
            Some("next"),
        )
        .await;
    // The physical network step: VXLAN by default, with its range and the three labels.
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "physical");
    assert_eq!(
        attr(&p.doc, "input[name='physical.name']", "value"),
        "Physical Network 1"
    );
    assert_eq!(
        attr(
            &p.doc,
            "select[name='physical.isolation'] option[selected]",
            "value"
        ),
        "VXLAN"
    );
    assert!(text1(&p.doc, WIZARD).contains("VLAN needs 802.1Q"));
    assert_eq!(
        attr(&p.doc, "input[name='physical.vlan']", "value"),
        "5000-5999"
    );
    for f in ["guestlabel", "publiclabel", "managementlabel"] {
        let s = format!("input[name='physical.{f}']");
        assert_eq!(attr(&p.doc, &s, "value"), "cloudbr0", "{f}");
    }
    // A label that is no interface name is refused on the step, as the API would.
    let bad = b
        .submit(
            &p,
            WIZARD,
            &[("physical.publiclabel", "br <0>")],
            Some("next"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(attr(&bad.doc, WIZARD, "data-step"), "physical");
    assert!(
        text1(&bad.doc, "#wizard-error").contains("Invalid KVM network label"),
        "{}",
        text1(&bad.doc, "#wizard-error")
    );
    let p = b
        .submit(
            &bad,
            WIZARD,
            &[
                ("physical.name", "pn-adv"),
                ("physical.vlan", "7000-7099"),
                ("physical.publiclabel", "cloudbr1"),
                ("physical.managementlabel", "mgmt0"),
            ],
            Some("next"),
        )
        .await;
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "public");
    let mut p = b
        .submit(
            &p,
            WIZARD,
            &[
                ("public.gateway", "192.168.1.1"),
                ("public.netmask", "255.255.255.0"),
                ("public.vlan", "99"),
                ("public.startip", "192.168.1.141"),
                ("public.endip", "192.168.1.150"),
            ],
            Some("next"),
        )
        .await;
    let fill = [
        (
            "pod",
            vec![
                ("pod.name", "p"),
                ("pod.gateway", "10.0.0.1"),
                ("pod.netmask", "255.255.255.0"),
                ("pod.startip", "10.0.0.10"),
                ("pod.endip", "10.0.0.20"),
            ],
        ),
        ("cluster", vec![("cluster.name", "c")]),
        (
            "host",
            vec![("host.address", "300.1.1.1"), ("host.password", "pw")],
        ),
        (
            "primary",
            vec![
                ("primary.name", "pri"),
                ("primary.server", "127.0.0.1"),
                ("primary.path", "/p"),
            ],
        ),
        (
            "secondary",
            vec![
                ("secondary.name", "sec"),
                ("secondary.server", "127.0.0.1"),
                ("secondary.path", "/s"),
            ],
        ),
    ];
    for (step, values) in fill {
        assert_eq!(attr(&p.doc, WIZARD, "data-step"), step);
        p = b.submit(&p, WIZARD, &values, Some("next")).await;
    }
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "launch");
    // The review shows the physical network step's values.
    let review = text1(&p.doc, "#review");
    for v in ["Physical network", "pn-adv", "VXLAN", "7000-7099", "mgmt0"] {
        assert!(review.contains(v), "{v} in {review}");
    }
    let p = b.submit(&p, WIZARD, &[], Some("launch")).await;
    assert_eq!(attr(&p.doc, WIZARD, "data-step"), "host");
    let zone = c.ok("listZones", &[("name", "adv")]).await["zone"][0].clone();
    let zid = zone["id"].as_str().unwrap().to_string();
    // The physical network was built: VXLAN, its range, three traffic types with their
    // labels, Enabled.
    let pns = c.ok("listPhysicalNetworks", &[("zoneid", &zid)]).await;
    assert_eq!(pns["count"], 1, "{pns}");
    let pn = &pns["physicalnetwork"][0];
    assert_eq!(pn["name"], "pn-adv");
    assert_eq!(pn["isolationmethods"], "VXLAN");
    assert_eq!(pn["vlan"], "7000-7099");
    assert_eq!(pn["state"], "Enabled");
    let pid = pn["id"].as_str().unwrap().to_string();
    let labels = |t: &serde_json::Value| {
        let mut v: Vec<(String, String)> = t["traffictype"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["traffictype"].as_str().unwrap().to_string(),
                    x["kvmnetworklabel"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let t = c
        .ok("listTrafficTypes", &[("physicalnetworkid", &pid)])
        .await;
    let want = [
        ("Guest".to_string(), "cloudbr0".to_string()),
        ("Management".to_string(), "mgmt0".to_string()),
        ("Public".to_string(), "cloudbr1".to_string()),
    ];
    assert_eq!(labels(&t), want);
    assert_eq!(
        attr(&p.doc, "input[name='done.physical']", "value"),
        pid,
        "remembered as built"
    );

    // Half-built (a traffic type gone, the network disabled) and the step's id lost, as
    // when a build stopped inside the step: launching again finds the network by name in
    // the zone, adds what is missing and enables it, never a second network.
    let mgmt = t["traffictype"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["traffictype"] == "Management")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let j = c.ok("deleteTrafficType", &[("id", &mgmt)]).await;
    c.wait_job(j["jobid"].as_str().unwrap()).await;
    let j = c
        .ok(
            "updatePhysicalNetwork",
            &[("id", &pid), ("state", "Disabled")],
        )
        .await;
    c.wait_job(j["jobid"].as_str().unwrap()).await;
    let again = b
        .submit(&p, WIZARD, &[("done.physical", "")], Some("launch"))
        .await;
    assert_eq!(attr(&again.doc, WIZARD, "data-step"), "host");
    let pns = c.ok("listPhysicalNetworks", &[("zoneid", &zid)]).await;
    assert_eq!(pns["count"], 1, "no second physical network: {pns}");
    assert_eq!(pns["physicalnetwork"][0]["state"], "Enabled");
    let t = c
        .ok("listTrafficTypes", &[("physicalnetworkid", &pid)])
        .await;
    assert_eq!(labels(&t), want);
    // Resumed from the zone's page, the complete physical network counts as built.
    let r = b.get(&format!("/console/zones/{zid}/resume")).await;
    assert_eq!(attr(&r.doc, WIZARD, "data-step"), "host");
    assert_eq!(attr(&r.doc, "input[name='done.physical']", "value"), pid);
    // The zone's page lists it, linking to its page.
    let z = b.get(&format!("/console/zones/{zid}")).await;
    assert_eq!(
        attr(&z.doc, "table#physical-networks a", "href"),
        format!("/console/physical-networks/{pid}")
    );
    assert!(text1(&z.doc, "table#physical-networks").contains("7000-7099"));
    assert_eq!(zone["networktype"], "Advanced");
    assert_eq!(zone["guestcidraddress"], "10.1.1.0/24");
    let ranges = c
        .ok(
            "listVlanIpRanges",
            &[("zoneid", zone["id"].as_str().unwrap())],
        )
        .await;
    assert_eq!(ranges["vlaniprange"][0]["forvirtualnetwork"], true);
    assert_eq!(ranges["vlaniprange"][0]["startip"], "192.168.1.141");
    assert_eq!(ranges["vlaniprange"][0]["vlan"], "vlan://99");
    // The Launch again button is the main one on the failed step's page.
    assert_eq!(attr(&p.doc, "#wizard button.primary", "value"), "launch");
    assert_eq!(text1(&p.doc, "#wizard button.primary"), "Launch again");
}

#[tokio::test]
async fn a_user_sees_only_what_users_may_do() {
    let c = Client::admin().await;
    c.ok(
        "createAccount",
        &[
            ("username", "bob"),
            ("password", "bob-pw-123"),
            ("email", "bob@example.org"),
            ("firstname", "Bob"),
            ("lastname", "B"),
            ("accounttype", "0"),
        ],
    )
    .await;
    let mut b = Browser::login_as(&c, "bob", "bob-pw-123").await;
    let p = b.get("/console/dashboard").await;
    let nav: Vec<String> = p
        .doc
        .select(&sel("nav.side a"))
        .map(|a| a.value().attr("href").unwrap().to_string())
        .collect();
    assert!(nav.contains(&"/console/isos".to_string()));
    assert!(nav.contains(&"/console/api-keys".to_string()));
    for admin_only in [
        "/console/hosts",
        "/console/settings",
        "/console/accounts",
        "/console/alerts",
    ] {
        assert!(
            !nav.contains(&admin_only.to_string()),
            "{admin_only} in {nav:?}"
        );
    }
    assert_eq!(
        p.doc.select(&sel("a[href='/console/zones/new']")).count(),
        0
    );
    // The command layer refuses admin commands, so the pages do too.
    let p = b.get("/console/hosts").await;
    assert_eq!(p.status.as_u16(), 432);
    let p = b.get("/console/zones/new").await;
    assert_ne!(p.status, StatusCode::OK);
    let p = b
        .post(
            "/console/settings",
            &[("name", "ping.interval"), ("value", "1")],
        )
        .await;
    assert_eq!(p.doc.select(&sel(".flash.error")).count(), 1);
    assert_eq!(
        c.ok("listConfigurations", &[("name", "ping.interval")])
            .await["configuration"][0]["value"],
        "60"
    );
    // A user registers ISOs (no Featured box) and makes their own keys.
    let p = b.get("/console/isos/new").await;
    assert_eq!(p.doc.select(&sel("input[name=isfeatured]")).count(), 0);
    let p = b.get("/console/api-keys").await;
    let p = b.submit(&p, "form[data-action=keys]", &[], None).await;
    assert_eq!(text1(&p.doc, "h1"), "New API keys for bob");
}

#[tokio::test]
async fn a_running_job_has_a_page_that_refreshes_until_it_ends() {
    let c = Client::admin().await;
    let u = c
        .ok(
            "createAccount",
            &[
                ("username", "carol"),
                ("password", "carol-pw-1"),
                ("email", "c@example.org"),
                ("firstname", "C"),
                ("lastname", "C"),
                ("accounttype", "0"),
            ],
        )
        .await;
    let user = u["account"]["user"][0]["id"].as_str().unwrap().to_string();
    // No job worker runs yet: the job stays pending.
    let job = c.ok("disableUser", &[("id", &user)]).await["jobid"]
        .as_str()
        .unwrap()
        .to_string();
    // Another user of the admin account starts a job of its own.
    c.ok(
        "createUser",
        &[
            ("account", "admin"),
            ("domainid", &db::accounts::ROOT_DOMAIN.to_string()),
            ("username", "admin2"),
            ("password", "admin2-pw-1"),
            ("email", "a2@example.org"),
            ("firstname", "A"),
            ("lastname", "Two"),
        ],
    )
    .await;
    let admin2 = Client::for_user(c.ctx.clone(), "admin2").await;
    admin2.ok("disableUser", &[("id", &user)]).await;
    let mut b = Browser::login(&c).await;
    // The job tray in every page's header counts the user's own jobs of the last day
    // (not admin2's, of the same account); its fragment is what the pages' script
    // refreshes it with. The Jobs page lists the account's.
    let d = b.get("/console/dashboard").await;
    assert_eq!(text1(&d.doc, "header.top #job-tray"), "Jobs: 1 running");
    assert_eq!(
        b.get("/console/jobs")
            .await
            .doc
            .select(&sel("table#list tbody tr"))
            .count(),
        2
    );
    assert_eq!(attr(&d.doc, "#job-tray", "href"), "/console/jobs");
    assert!(attr(&d.doc, "#job-tray", "class").contains("busy"));
    assert_eq!(
        attr(&d.doc, "script[src='/console/static/live.js']", "defer"),
        ""
    );
    let t = b.get("/console/jobs/tray").await;
    assert_eq!(text1(&t.doc, "#job-tray"), "Jobs: 1 running");
    let p = b
        .get(&format!("/console/jobs/{job}?next=/console/users/{user}"))
        .await;
    assert_eq!(text1(&p.doc, "#job-status"), "Running");
    assert_eq!(attr(&p.doc, "meta[http-equiv=refresh]", "content"), "2");
    assert_eq!(
        attr(&p.doc, ".card a.btn", "href"),
        format!("/console/users/{user}")
    );
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    c.wait_job(&job).await;
    let p = b
        .get(&format!(
            "/console/jobs/{job}?next=https://elsewhere.example/"
        ))
        .await;
    assert_eq!(text1(&p.doc, "#job-status"), "Succeeded");
    assert_eq!(p.doc.select(&sel("meta[http-equiv=refresh]")).count(), 0);
    assert_eq!(attr(&p.doc, ".card a.btn", "href"), "/console/dashboard");
    assert_eq!(text1(&p.doc, "#job-tray"), "Jobs: 1 done");
    let t = b.get("/console/jobs/tray").await;
    assert_eq!(text1(&t.doc, "#job-tray"), "Jobs: 1 done");
}

/// Hosts, accounts, volumes, templates and ISOs sort and filter as the instance list
/// does (the same helpers): heading links with aria-sort, filters as labelled drop-downs.
#[tokio::test]
async fn other_lists_sort_and_filter_like_instances() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("lists-zone").await;
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let mut tokens = vec![];
    for (name, addr) in [
        ("kvm-b", "10.0.0.42"),
        ("kvm-a", "10.0.0.41"),
        ("kvm-c", "10.0.0.9"),
    ] {
        let (h, token) = hosts::register(
            &c.ctx,
            &admin,
            zid.parse().unwrap(),
            pid.parse().unwrap(),
            cid.parse().unwrap(),
            addr.parse().unwrap(),
            8250,
            name,
        )
        .await
        .unwrap();
        tokens.push((h.id, token));
    }
    // kvm-b reports: Up; the others stay Connecting.
    hosts::heartbeat(
        &c.ctx,
        tokens[0].0,
        Some(&tokens[0].1),
        &heartbeat(1, 5.0, 1 << 30, 1),
        None,
    )
    .await
    .unwrap();
    let mut b = Browser::login(&c).await;
    let names = |p: &Page| texts(&p.doc, "table#list tbody td:nth-child(1)");
    let p = b.get("/console/hosts?sort=name&order=desc").await;
    assert_eq!(names(&p), ["kvm-c", "kvm-b", "kvm-a"]);
    assert_eq!(
        attr(&p.doc, "table#list th[aria-sort]", "aria-sort"),
        "descending"
    );
    assert!(
        p.doc.select(&sel("table#list[data-live]")).count() == 1,
        "hosts update live"
    );
    // Addresses sort by number.
    let p = b.get("/console/hosts?sort=address").await;
    assert_eq!(names(&p), ["kvm-c", "kvm-a", "kvm-b"]);
    assert_eq!(
        texts(&p.doc, "#list-filters label select").len(),
        2,
        "state and zone"
    );
    let p = b.get("/console/hosts?state=Up").await;
    assert_eq!(names(&p), ["kvm-b"]);
    let p = b.get("/console/hosts?state=Connecting&sort=name").await;
    assert_eq!(names(&p), ["kvm-a", "kvm-c"]);
    let p = b
        .get(&format!("/console/hosts?zoneid={}", Uuid::new_v4()))
        .await;
    assert_eq!(names(&p).len(), 3, "an unknown zone is no filter");

    // Accounts: by state (the API's filter) and sorted by name.
    for (u, state) in [("zed", "disabled"), ("amy", "enabled")] {
        c.ok(
            "createAccount",
            &[
                ("username", u),
                ("password", "list-pw-123"),
                ("email", "x@example.org"),
                ("firstname", "X"),
                ("lastname", "Y"),
                ("accounttype", "0"),
            ],
        )
        .await;
        sqlx::query("UPDATE accounts SET state = $2 WHERE name = $1")
            .bind(u)
            .bind(state)
            .execute(&c.ctx.pool)
            .await
            .unwrap();
    }
    let p = b.get("/console/accounts?sort=name").await;
    assert_eq!(names(&p), ["admin", "amy", "zed"]);
    let p = b.get("/console/accounts?state=disabled").await;
    assert_eq!(names(&p), ["zed"]);
    assert_eq!(
        attr(&p.doc, "#filter-state option[selected]", "value"),
        "disabled"
    );

    // Volumes, templates and ISOs offer the same filters (state here, zone, account).
    for path in ["/console/volumes", "/console/templates", "/console/isos"] {
        let p = b.get(&format!("{path}?sort=name&order=desc")).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        assert_eq!(
            p.doc.select(&sel("#list-filters select")).count(),
            3,
            "{path}: state, zone, account"
        );
        assert_eq!(
            attr(&p.doc, "#filter-zoneid option:nth-child(2)", "value"),
            zid,
            "{path}"
        );
    }
    // Volumes' state is filtered here (listVolumes has no state filter).
    let p = b.get("/console/volumes?state=Ready").await;
    assert_eq!(
        attr(&p.doc, "#filter-state option[selected]", "value"),
        "Ready"
    );
}

#[tokio::test]
async fn long_lists_are_paged_and_searchable() {
    let c = Client::admin().await;
    // 60 events (each setting change records one), plus the login's.
    for i in 0..60 {
        c.ok(
            "updateConfiguration",
            &[
                ("name", "event.purge.delay"),
                ("value", &(20 + i).to_string()),
            ],
        )
        .await;
    }
    let mut b = Browser::login(&c).await;
    let p = b.get("/console/events").await;
    assert_eq!(p.doc.select(&sel("table#list tbody tr")).count(), 50);
    assert_eq!(text1(&p.doc, ".pager span"), "Page 1 of 2");
    assert_eq!(p.doc.select(&sel(".pager a[rel=prev]")).count(), 0);
    let next = attr(&p.doc, ".pager a[rel=next]", "href");
    assert_eq!(next, "/console/events?page=2");
    let p = b.get(&next).await;
    assert_eq!(p.doc.select(&sel("table#list tbody tr")).count(), 11);
    assert_eq!(
        attr(&p.doc, ".pager a[rel=prev]", "href"),
        "/console/events?page=1"
    );
    // A search narrows the list and keeps its words in the box.
    let p = b.get("/console/events?keyword=logged+in").await;
    assert_eq!(
        texts(&p.doc, "table#list tbody tr td:nth-child(2)"),
        ["USER.LOGIN"]
    );
    assert_eq!(attr(&p.doc, "input[name=keyword]", "value"), "logged in");
    assert_eq!(
        p.doc.select(&sel(".pager")).count(),
        0,
        "one page needs no pager"
    );
}

/// A Basic zone's guest range 192.168.N.10–20 (which creates its guest network).
async fn guest_range(c: &Client, zone: &str, pod: &str, n: u8) {
    let net = |last: u8| format!("192.168.{n}.{last}");
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", zone),
            ("podid", pod),
            ("gateway", &net(1)),
            ("netmask", "255.255.255.0"),
            ("startip", &net(10)),
            ("endip", &net(20)),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
}

/// A Basic zone with a guest range on 192.168.N and `count` Running Small Instance VMs of
/// the admin's, written straight into the database (no host runs them).
async fn seeded_vms(c: &Client, zone: &str, n: u8, count: i64) {
    seeded_vms_on(c, zone, n, count, None).await;
}

/// `count` Running instances of the admin in a new Basic zone; placed on a host of that
/// name (registered here, its id answered) when one is given, else on none.
async fn seeded_vms_on(
    c: &Client,
    zone: &str,
    n: u8,
    count: i64,
    host: Option<&str>,
) -> Option<Uuid> {
    let (zid, pid, cid) = c.basic_topology(zone).await;
    guest_range(c, &zid, &pid, n).await;
    let nets = c.ok("listNetworks", &[("zoneid", &zid)]).await;
    let net: Uuid = nets["network"][0]["id"].as_str().unwrap().parse().unwrap();
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let host = match host {
        Some(name) => Some(
            hosts::register(
                &c.ctx,
                &admin,
                zid.parse().unwrap(),
                pid.parse().unwrap(),
                cid.parse().unwrap(),
                format!("10.0.0.{n}").parse().unwrap(),
                8250,
                name,
            )
            .await
            .unwrap()
            .0
            .id
            .into(),
        ),
        None => None,
    };
    let so = c
        .ok("listServiceOfferings", &[("name", "Small Instance")])
        .await;
    let so: Uuid = so["serviceoffering"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    db::seed::vm_seed_placed_bulk(
        &mut conn,
        count,
        zid.parse().unwrap(),
        (
            admin.account_id.into_uuid(),
            admin.domain_id.into_uuid(),
            admin.id.into_uuid(),
        ),
        (so, 1, 500, 512),
        host.as_slice(),
        net,
    )
    .await
    .unwrap();
    host
}

/// Per-VM samples from heartbeats: kept only for VMs the cloud places on the reporting
/// host, answered by listVirtualMachines (newest sample, CloudStack's units) and
/// listVirtualMachinesUsageHistory, charted on the VM's page with its own events, and
/// pruned after vm.stats.max.retention.time.
#[tokio::test]
async fn vm_metrics_from_heartbeats_are_listed_charted_and_pruned() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("vmm-zone").await;
    guest_range(&c, &zid, &pid, 62).await;
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let (h, token) = hosts::register(
        &c.ctx,
        &admin,
        zid.parse().unwrap(),
        pid.parse().unwrap(),
        cid.parse().unwrap(),
        "10.0.0.31".parse().unwrap(),
        8250,
        "kvm-m",
    )
    .await
    .unwrap();
    let nets = c.ok("listNetworks", &[("zoneid", &zid)]).await;
    let net: Uuid = nets["network"][0]["id"].as_str().unwrap().parse().unwrap();
    let so = c
        .ok("listServiceOfferings", &[("name", "Small Instance")])
        .await;
    let so: Uuid = so["serviceoffering"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut conn = c.ctx.pool.acquire().await.unwrap();
    db::seed::vm_seed_placed_bulk(
        &mut conn,
        2,
        zid.parse().unwrap(),
        (
            admin.account_id.into_uuid(),
            admin.domain_id.into_uuid(),
            admin.id.into_uuid(),
        ),
        (so, 1, 500, 512),
        &[h.id.into()],
        net,
    )
    .await
    .unwrap();
    let vms = c.ok("listVirtualMachines", &[("listall", "true")]).await;
    let ids: Vec<Uuid> = vms["virtualmachine"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let (vm, quiet) = (ids[0], ids[1]);
    let stranger = Uuid::new_v4();
    let sample = |uuid, cpu, k: u64| DomainStats {
        uuid,
        cpu_used_percent: cpu,
        cpu_time_ns: k * 1_000_000_000,
        vcpus: 1,
        memory_bytes: 512 << 20,
        memory_unused_bytes: Some(128 << 20),
        memory_rss_bytes: None,
        disk_read_bytes: (k * 10) << 20,
        disk_write_bytes: (k * 5) << 20,
        disk_read_ops: k * 100,
        disk_write_ops: k * 50,
        network_rx_bytes: (k * 2) << 20,
        network_tx_bytes: k << 20,
    };
    for (g, cpu) in [(1u64, None), (2, Some(12.5)), (3, Some(37.25))] {
        let mut hb = heartbeat(g, 10.0, 2 << 30, g);
        // `quiet` is not running on the agent: no sample. A domain the cloud does not
        // place on this host is not recorded either.
        hb.domain_stats = vec![sample(vm, cpu, g), sample(stranger, Some(99.0), g)];
        hosts::heartbeat(&c.ctx, h.id, Some(&token), &hb, None)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }

    let l = c
        .ok("listVirtualMachines", &[("id", &vm.to_string())])
        .await;
    let v = &l["virtualmachine"][0];
    assert_eq!(v["cpuused"], "37.25%");
    assert_eq!(v["memorykbs"], 512 * 1024);
    assert_eq!(v["memoryintfreekbs"], 128 * 1024);
    assert_eq!(v["diskkbsread"], 3 * 10 * 1024);
    assert_eq!(v["diskkbswrite"], 3 * 5 * 1024);
    assert_eq!(v["diskioread"], 300);
    assert_eq!(v["diskiowrite"], 150);
    assert_eq!(v["networkkbsread"], 3 * 2 * 1024);
    assert_eq!(v["networkkbswrite"], 3 * 1024);
    let m = c
        .ok("listVirtualMachinesMetrics", &[("id", &vm.to_string())])
        .await;
    assert_eq!(m["virtualmachine"][0]["cpuused"], "37.25%");
    let q = c
        .ok("listVirtualMachines", &[("id", &quiet.to_string())])
        .await;
    assert!(q["virtualmachine"][0].get("cpuused").is_none(), "{q}");

    let hist = c
        .ok(
            "listVirtualMachinesUsageHistory",
            &[("id", &vm.to_string())],
        )
        .await;
    let stats = hist["virtualmachine"][0]["stats"].as_array().unwrap();
    assert_eq!(stats.len(), 3);
    assert!(
        stats[0].get("cpuused").is_none(),
        "the first sample has no share"
    );
    assert_eq!(stats[1]["cpuused"], "12.50%");
    assert_eq!(stats[2]["diskioread"], 300);
    let none = c
        .ok(
            "listVirtualMachinesUsageHistory",
            &[("id", &quiet.to_string())],
        )
        .await;
    assert_eq!(
        none["virtualmachine"][0]["stats"]
            .as_array()
            .map_or(0, |a| a.len()),
        0
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM vm_metrics WHERE vm_id = $1")
        .bind(stranger)
        .fetch_one(&c.ctx.pool)
        .await
        .unwrap();
    assert_eq!(
        n, 0,
        "no samples for a domain the cloud does not place there"
    );

    // The VM's own events: one about it, one about the other VM.
    let mut tx = c.ctx.pool.begin().await.unwrap();
    for (id, text) in [(vm, "about the sampled VM"), (quiet, "about the other VM")] {
        db::events::system_event(
            &mut tx,
            "VM.REBOOT",
            "INFO",
            text.into(),
            Some(db::events::EventResource::new(
                db::events::ResourceType::VirtualMachine,
                id,
                "x",
            )),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let mut b = Browser::login(&c).await;
    let p = b.get(&format!("/console/instances/{vm}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        texts(&p.doc, ".charts figcaption"),
        ["CPU used", "Memory", "Disk", "Disk operations", "Network"]
    );
    assert_eq!(p.doc.select(&sel(".charts figure svg")).count(), 5);
    assert_eq!(
        attr(&p.doc, "nav.tabs a[href='#metrics']", "href"),
        "#metrics"
    );
    let events = texts(&p.doc, "table#events tbody tr");
    assert!(
        events.iter().any(|e| e.contains("about the sampled VM")),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e.contains("about the other VM")),
        "{events:?}"
    );
    // A VM without samples has no Metrics section.
    let p = b.get(&format!("/console/instances/{quiet}")).await;
    assert_eq!(p.doc.select(&sel("#metrics")).count(), 0);

    // Retention: samples older than the setting are pruned.
    sqlx::query("UPDATE vm_metrics SET at = at - interval '2 hours' WHERE vm_id = $1 AND cpu_used_percent IS NULL")
        .bind(vm)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    assert_eq!(db::vms::vm_metrics_purge(&c.ctx.pool, 60).await.unwrap(), 1);
    let hist = c
        .ok(
            "listVirtualMachinesUsageHistory",
            &[("id", &vm.to_string())],
        )
        .await;
    assert_eq!(
        hist["virtualmachine"][0]["stats"].as_array().unwrap().len(),
        2
    );
}

/// The Add Instance wizard through the router: the choices of each step as radio rows,
/// a step left without its choice refused (422) with the input kept, Back and Edit, the
/// review naming what was chosen, and a refused launch shown on the review.
#[tokio::test]
async fn add_instance_wizard_walks_its_steps_and_keeps_choices() {
    let c = Client::admin().await;
    let (zid, pid, _cid) = c.basic_topology("launch-zone").await;
    guest_range(&c, &zid, &pid, 60).await;
    let mut b = Browser::login(&c).await;

    let p = b.get("/console/instances").await;
    assert_eq!(
        attr(&p.doc, ".head .tools a.primary", "href"),
        "/console/instances/new"
    );
    let p = b.get("/console/instances/new").await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "zone");
    assert_eq!(
        texts(&p.doc, "#steps li"),
        [
            "Zone",
            "Template or ISO",
            "Compute offering",
            "Disk offering",
            "Network",
            "Security groups",
            "SSH key pair",
            "Review"
        ]
    );
    assert_eq!(texts(&p.doc, "#steps li.current"), ["Zone"]);
    // The only zone is chosen already.
    assert_eq!(
        attr(&p.doc, "#choices input[type=radio][checked]", "value"),
        zid
    );
    assert_eq!(texts(&p.doc, "#choices tbody label"), ["launch-zone"]);

    // No ISO is ready in the zone: the step says so, and Next is refused.
    let p = b.submit(&p, "#launch", &[], Some("next")).await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "iso");
    assert!(text1(&p.doc, "#no-choices").contains("No template or bootable ISO is ready"));
    let p = b.submit(&p, "#launch", &[], Some("next")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "iso");
    assert_eq!(
        text1(&p.doc, "#launch-error"),
        "Template or ISO: choose one to go on."
    );
    // Back keeps the zone.
    let p = b.submit(&p, "#launch", &[], Some("back")).await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "zone");
    assert_eq!(
        attr(&p.doc, "#choices input[type=radio][checked]", "value"),
        zid
    );

    // An ISO id carried in (as from an ISO's page) gets past the ISO step; the offerings
    // are the seeded ones, as radio rows.
    let iso = Uuid::new_v4().to_string();
    let p = b
        .get(&format!("/console/instances/new?zoneid={zid}&isoid={iso}"))
        .await;
    let p = b.submit(&p, "#launch", &[], Some("next")).await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "iso");
    // The carried ISO is not offered in the zone, so it is not chosen.
    assert_eq!(p.doc.select(&sel("#choices")).count(), 0);
    let p = b
        .submit(
            &p,
            "#launch",
            &[("isoid", iso.as_str())],
            Some("edit:offering"),
        )
        .await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "offering");
    assert_eq!(
        texts(&p.doc, "#choices tbody label"),
        ["Small Instance", "Medium Instance"]
    );
    assert_eq!(
        p.doc
            .select(&sel("#choices input[type=radio][checked]"))
            .count(),
        0,
        "nothing is chosen for the admin when there is a choice"
    );
    let so = attr(
        &p.doc,
        "#choices tr:nth-child(1) input[type=radio]",
        "value",
    );
    let p = b
        .submit(&p, "#launch", &[("serviceofferingid", &so)], Some("next"))
        .await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "disk");
    assert_eq!(
        texts(&p.doc, "#choices tbody label"),
        ["Small", "Medium", "Large", "Custom"]
    );
    let custom = attr(&p.doc, "#choices tr:nth-child(4) input", "value");
    let p = b
        .submit(
            &p,
            "#launch",
            &[("diskofferingid", &custom), ("size", "0")],
            Some("next"),
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text1(&p.doc, "#launch-error").contains("1 to 16384"));
    assert_eq!(attr(&p.doc, "#f-size", "value"), "0", "the input is kept");
    let p = b
        .submit(&p, "#launch", &[("size", "8")], Some("next"))
        .await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "network");
    assert_eq!(
        texts(&p.doc, "#choices tbody label"),
        ["guestNetworkForBasicZone"]
    );
    let p = b.submit(&p, "#launch", &[], Some("next")).await;
    // A Basic zone enforces security groups: the account's default is ticked.
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "securitygroups");
    assert_eq!(attr(&p.doc, "#choices", "data-name"), "securitygroupids");
    assert_eq!(
        texts(
            &p.doc,
            "#choices tr:has(input[type=checkbox][checked]) label"
        ),
        ["default"]
    );
    let p = b.submit(&p, "#launch", &[], Some("next")).await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "sshkey");
    assert_eq!(
        text1(&p.doc, "#choices tr:has(input[checked]) label"),
        "No key pair"
    );
    let p = b.submit(&p, "#launch", &[], Some("next")).await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "review");
    assert_eq!(
        texts(&p.doc, "#review th"),
        [
            "Zone",
            "Template or ISO",
            "Compute offering",
            "Disk offering",
            "Network",
            "Security groups",
            "SSH key pair"
        ]
    );
    let review = texts(&p.doc, "#review td:nth-child(2)");
    assert!(review[0].starts_with("launch-zone"), "{review:?}");
    assert_eq!(review[1], "—", "the ISO is not in the zone");
    assert!(
        review[2].starts_with("Small Instance · 1 × 500 MHz"),
        "{review:?}"
    );
    assert!(review[3].ends_with("8 GB"), "{review:?}");
    assert_eq!(review[5], "default");
    assert_eq!(review[6], "No key pair");
    // Edit goes back to a step with its choice kept, and forward again.
    let p2 = b.submit(&p, "#launch", &[], Some("edit:offering")).await;
    assert_eq!(
        attr(&p2.doc, "#choices input[type=radio][checked]", "value"),
        so
    );

    // Launching: deployVirtualMachine refuses the ISO, and the review says why.
    let p = b
        .submit(&p, "#launch", &[("name", "web-9")], Some("launch"))
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "review");
    assert!(
        text1(&p.doc, "#launch-error").contains(&iso),
        "{}",
        text1(&p.doc, "#launch-error")
    );
    assert_eq!(attr(&p.doc, "#f-name", "value"), "web-9");
    let vms = c.ok("listVirtualMachines", &[("listall", "true")]).await;
    assert_eq!(vms["count"].as_i64().unwrap_or(0), 0, "nothing was created");

    // Without the session key the wizard refuses.
    let a = c
        .raw(form(
            "/console/instances/new",
            &urlencode(&[("at", "zone"), ("go", "next"), ("zoneid", &zid)]),
            Some(&b.cookie_header()),
        ))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

/// An instance's page and list row offer the actions its state allows; the console page
/// serves noVNC with the token as its only credential.
#[tokio::test]
async fn instance_actions_follow_its_state_and_the_console_page_serves_novnc() {
    let c = Client::admin().await;
    seeded_vms(&c, "act-zone", 61, 1).await;
    let vms = c.ok("listVirtualMachines", &[("listall", "true")]).await;
    let id = vms["virtualmachine"][0]["id"].as_str().unwrap().to_string();
    let vm: Uuid = id.parse().unwrap();
    // The job worker runs the async actions.
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let mut b = Browser::login(&c).await;
    let page = format!("/console/instances/{id}");
    let actions = |p: &Page| -> Vec<String> {
        p.doc
            .select(&sel("#actions form"))
            .map(|f| f.value().attr("data-action").unwrap_or("").to_string())
            .collect()
    };

    // The dashboard counts instances by state.
    let d = b.get("/console/dashboard").await;
    assert_eq!(text1(&d.doc, "[data-tile=instances] .big"), "1");
    assert_eq!(texts(&d.doc, "[data-tile=instances] .badge"), ["Running 1"]);
    let p = b.get(&page).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(text1(&p.doc, ".head .badge"), "Running");
    assert_eq!(
        actions(&p),
        [
            "console",
            "stop",
            "forcestop",
            "reboot",
            "destroy",
            "destroyexpunge"
        ],
        "no ISO is ready, so none can be attached"
    );
    assert!(
        p.doc
            .select(&sel(
                "#actions form[data-action=destroy] input[type=checkbox][required]"
            ))
            .count()
            == 1,
        "destroying asks for a confirmation"
    );
    assert_eq!(
        texts(&p.doc, "table#nics tbody td:nth-child(2)"),
        ["192.168.61.10"]
    );
    let l = b.get("/console/instances").await;
    assert_eq!(
        l.doc
            .select(&sel("table#list tbody tr td.actions form"))
            .map(|f| f.value().attr("data-action").unwrap().to_string())
            .collect::<Vec<_>>(),
        ["console", "stop", "reboot", "destroy"]
    );
    assert_eq!(texts(&l.doc, "table#list tbody td.mono"), ["192.168.61.10"]);

    for (state, want) in [
        ("Stopped", vec!["start", "destroy", "destroyexpunge"]),
        ("Destroyed", vec!["recover", "expunge"]),
        ("Error", vec!["destroy", "destroyexpunge"]),
        ("Starting", vec![]),
    ] {
        db::vms::vm_set_state(
            &c.ctx.pool,
            vm.into(),
            stratus_management::rules::vmstate::VmState::parse(state).unwrap(),
            None,
        )
        .await
        .unwrap();
        let p = b.get(&page).await;
        assert_eq!(text1(&p.doc, ".head .badge"), state);
        assert_eq!(actions(&p), want, "{state}");
        let refresh = p.doc.select(&sel("meta[http-equiv=refresh]")).count();
        assert_eq!(refresh, usize::from(state == "Starting"), "{state}");
    }
    // The list is live where scripts run: it reloads itself only without them.
    let l = b.get("/console/instances").await;
    assert_eq!(l.doc.select(&sel("table#list[data-live]")).count(), 1);
    // In the box the pages' script keeps in step with the server (rows added and gone).
    assert_eq!(
        l.doc
            .select(&sel(
                "#list-rows[data-live-rows] table#list[data-live] tbody tr[data-id]"
            ))
            .count(),
        1
    );
    let noscript = l
        .doc
        .select(&sel("head noscript"))
        .map(|n| n.inner_html())
        .collect::<String>();
    assert!(noscript.contains("http-equiv=\"refresh\""), "{noscript}");

    // An action the state machine refuses comes back as the API's error.
    let p = b
        .post(&format!("{page}/action"), &[("action", "stop")])
        .await;
    assert_eq!(p.path, page);
    assert!(flash(&p).contains("Starting"), "{}", flash(&p));
    // Unknown actions and forged forms are refused.
    let p = b
        .post(&format!("{page}/action"), &[("action", "explode")])
        .await;
    assert!(flash(&p).contains("Unknown action"));
    let a = c
        .raw(form(
            &format!("{page}/action"),
            "action=start",
            Some(&b.cookie_header()),
        ))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // The console page: no session needed (the token is the credential), noVNC and the
    // page's script from here only, and the WebSocket's path.
    let a = c
        .raw(get(&format!("/console/vms/{id}/vnc?token=abc"), None))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = Html::parse_document(&a.text);
    assert_eq!(attr(&doc, "#vnc", "data-websocket"), "/console/vnc");
    assert_eq!(
        attr(&doc, "script[type=module]", "src"),
        "/console/static/vnc.js"
    );
    assert_eq!(attr(&doc, ".vnc-bar a", "href"), page);
    assert!(a.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    // Signed in, it names the instance.
    let p = b.get(&format!("/console/vms/{id}/vnc?token=abc")).await;
    assert_eq!(text1(&p.doc, ".vnc-bar strong"), "seed-1");
    for (path, kind) in [
        ("/console/static/novnc.js", "text/javascript"),
        ("/console/static/vnc.js", "text/javascript"),
        ("/console/static/novnc.LICENSE.txt", "text/plain"),
    ] {
        let a = c.raw(get(path, None)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(
            a.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
    }
    let js = c.raw(get("/console/static/vnc.js", None)).await.text;
    assert!(js.contains("import RFB from \"/console/static/novnc.js\""));
}

/// The storage forms outside the wizard: a pool's scope is a cluster or a zone, and an
/// export that cannot be mounted is refused with the reason and the form as filled.
#[tokio::test]
async fn storage_forms_refuse_an_unreachable_export_and_keep_the_input() {
    let c = Client::admin().await;
    let (zid, _pid, cid) = c.basic_topology("store-zone").await;
    let mut b = Browser::login(&c).await;

    let p = b.get("/console/primary-storage").await;
    assert_eq!(
        attr(&p.doc, ".head .tools a.primary", "href"),
        "/console/primary-storage/new"
    );
    let p = b.get("/console/primary-storage/new").await;
    let scopes: Vec<String> = p
        .doc
        .select(&sel("#f-scope option"))
        .map(|o| o.value().attr("value").unwrap().to_string())
        .collect();
    assert_eq!(scopes, [format!("cluster:{cid}"), format!("zone:{zid}")]);
    // Nothing serves NFS on loopback here: the mount is refused.
    let p = b
        .submit(
            &p,
            "#form",
            &[
                ("name", "P9"),
                ("scope", &format!("zone:{zid}")),
                ("server", "127.0.0.1"),
                ("path", "/nowhere"),
                ("tags", "ssd,fast"),
            ],
            None,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text1(&p.doc, "#form .error").contains("127.0.0.1"));
    assert_eq!(attr(&p.doc, "#f-name", "value"), "P9");
    assert_eq!(attr(&p.doc, "#f-tags", "value"), "ssd,fast");
    assert_eq!(attr(&p.doc, "#f-path", "value"), "/nowhere");
    assert_eq!(
        attr(&p.doc, "#f-scope option[selected]", "value"),
        format!("zone:{zid}")
    );
    let p = b
        .post(
            "/console/primary-storage/new",
            &[
                ("name", "P9"),
                ("scope", "nowhere"),
                ("server", "x"),
                ("path", "/y"),
            ],
        )
        .await;
    assert!(text1(&p.doc, "#form .error").contains("Choose where"));

    let p = b.get("/console/secondary-storage/new").await;
    assert_eq!(attr(&p.doc, "#f-zoneid option", "value"), zid);
    let p = b
        .submit(
            &p,
            "#form",
            &[
                ("name", "S9"),
                ("server", "127.0.0.1"),
                ("path", "/nowhere"),
            ],
            None,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(attr(&p.doc, "#f-name", "value"), "S9");
    let pools = c.ok("listStoragePools", &[]).await;
    let stores = c.ok("listImageStores", &[]).await;
    assert_eq!(pools["count"].as_i64().unwrap_or(0), 0);
    assert_eq!(stores["count"].as_i64().unwrap_or(0), 0);
}

#[tokio::test]
async fn ssh_key_pairs_created_once_registered_listed_and_deleted() {
    let c = Client::admin().await;
    let mut b = Browser::login(&c).await;
    let p = b.get("/console/ssh-keys").await;
    assert_eq!(attr(&p.doc, "nav a.active", "href"), "/console/ssh-keys");
    assert_eq!(text1(&p.doc, "nav a.active"), "SSH key pairs");
    assert_eq!(text1(&p.doc, ".empty"), "No SSH key pairs.");

    // No public key: a new pair, its private key shown once and not cached.
    let p = b.get("/console/ssh-keys/new").await;
    assert_eq!(
        p.doc
            .select(&sel("textarea[name=publickey]:not([required])"))
            .count(),
        1
    );
    let p = b
        .submit(&p, "form#form", &[("name", "web"), ("publickey", "")], None)
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(text1(&p.doc, "h1"), "New SSH key pair web");
    assert_eq!(p.headers[header::CACHE_CONTROL], "no-store");
    let pem = text1(&p.doc, "#privatekey");
    let private = ssh_key::PrivateKey::from_openssh(&pem).unwrap();
    let fingerprint = text1(&p.doc, "#fingerprint");
    let listed = c.ok("listSSHKeyPairs", &[("name", "web")]).await;
    assert_eq!(listed["sshkeypair"][0]["fingerprint"], fingerprint.as_str());
    assert!(private.key_data().rsa().is_some());

    // A pasted public key is registered; a bad one gives the form back with the error.
    let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQXm8AFocGpNK+HezYSBsL/GiOEJC0uZaxe6aV3onyB me@host";
    let p = b.get("/console/ssh-keys/new").await;
    let p = b
        .submit(
            &p,
            "form#form",
            &[("name", "laptop"), ("publickey", key)],
            None,
        )
        .await;
    assert_eq!(
        flash(&p),
        "The public key was registered as key pair laptop."
    );
    assert_eq!(p.path, "/console/ssh-keys");
    let rows: Vec<String> = texts(&p.doc, "table#list tbody tr td:first-child");
    assert_eq!(rows, ["laptop", "web"]);
    assert!(texts(&p.doc, "table#list td.mono").contains(&fingerprint));
    assert!(!p.doc.html().contains("PRIVATE KEY"), "never shown again");
    let p = b.get("/console/ssh-keys/new").await;
    let p = b
        .submit(
            &p,
            "form#form",
            &[("name", "junk"), ("publickey", "not a key")],
            None,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text1(&p.doc, "form .error").starts_with("Public key is invalid"));
    assert_eq!(attr(&p.doc, "input[name=name]", "value"), "junk");
    assert_eq!(text1(&p.doc, "textarea[name=publickey]"), "not a key");

    // Delete asks for confirmation (a required box) and says what it did.
    let p = b.get("/console/ssh-keys").await;
    let id = c.ok("listSSHKeyPairs", &[("name", "web")]).await["sshkeypair"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let row = format!("tr[data-id='{id}'] form[data-action=delete]");
    let confirm = format!("{row} input[name=confirm][required]");
    assert_eq!(p.doc.select(&sel(&confirm)).count(), 1);
    let p = b.submit(&p, &row, &[("confirm", "yes")], None).await;
    assert_eq!(flash(&p), "The key pair web was deleted.");
    assert_eq!(
        texts(&p.doc, "table#list tbody tr td:first-child"),
        ["laptop"]
    );

    // A user sees and deletes only their own; the admin sees everyone's.
    c.ok(
        "createAccount",
        &[
            ("username", "dora"),
            ("password", "dora-pw-12"),
            ("email", "d@example.org"),
            ("firstname", "D"),
            ("lastname", "D"),
            ("accounttype", "0"),
        ],
    )
    .await;
    let mut d = Browser::login_as(&c, "dora", "dora-pw-12").await;
    let p = d.get("/console/ssh-keys").await;
    assert_eq!(text1(&p.doc, ".empty"), "No SSH key pairs.");
    let p = d.get("/console/ssh-keys/new").await;
    d.submit(
        &p,
        "form#form",
        &[("name", "dora-key"), ("publickey", key)],
        None,
    )
    .await;
    let p = d.get("/console/ssh-keys").await;
    assert_eq!(
        texts(&p.doc, "table#list tbody tr td:first-child"),
        ["dora-key"]
    );
    let p = d
        .post(
            "/console/ssh-keys/delete",
            &[("name", "laptop"), ("account", "admin"), ("confirm", "yes")],
        )
        .await;
    assert!(flash(&p).contains("permission denied"), "{}", flash(&p));
    let p = b.get("/console/ssh-keys").await;
    assert_eq!(
        texts(&p.doc, "table#list tbody tr td:nth-child(3)"),
        ["dora", "admin"]
    );
}

/// Past 200 instances the dashboard counts each state with the list's `state` filter, so
/// the breakdown covers every instance, not the first page.
#[tokio::test]
async fn dashboard_counts_every_instance_by_state() {
    let c = Client::admin().await;
    seeded_vms(&c, "many-zone", 62, 250).await;
    let vms = c
        .ok(
            "listVirtualMachines",
            &[("listall", "true"), ("pagesize", "3"), ("page", "1")],
        )
        .await;
    for v in vms["virtualmachine"].as_array().unwrap() {
        let id: Uuid = v["id"].as_str().unwrap().parse().unwrap();
        db::vms::vm_set_state(
            &c.ctx.pool,
            id.into(),
            stratus_management::rules::vmstate::VmState::Stopped,
            None,
        )
        .await
        .unwrap();
    }
    let mut b = Browser::login(&c).await;
    let d = b.get("/console/dashboard").await;
    assert_eq!(text1(&d.doc, "[data-tile=instances] .big"), "250");
    assert_eq!(
        texts(&d.doc, "[data-tile=instances] .badge"),
        ["Running 247", "Stopped 3"]
    );
}

#[tokio::test]
async fn register_a_template_share_it_and_follow_its_status() {
    let c = Client::admin().await;
    c.allow_loopback_downloads().await;
    let (zid, _, _) = c.basic_topology("tpl-zone").await;
    c.ok(
        "createAccount",
        &[
            ("username", "dave"),
            ("password", "dave-pw-1"),
            ("email", "d@example.org"),
            ("firstname", "D"),
            ("lastname", "D"),
            ("accounttype", "0"),
        ],
    )
    .await;
    let mut b = Browser::login(&c).await;
    let p = b.get("/console/templates/new").await;
    assert_eq!(
        texts(&p.doc, "select[name=zoneid] option"),
        ["All zones with secondary storage", "tpl-zone"]
    );
    assert_eq!(
        texts(&p.doc, "select[name=format] option"),
        ["QCOW2", "RAW"]
    );

    // A URL the downloader cannot use: the form again, with the error and the input.
    let p = b
        .submit(
            &p,
            "form#form",
            &[
                ("name", "bad"),
                ("url", "ftp://example.org/x.qcow2"),
                ("zoneid", &zid),
            ],
            None,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text1(&p.doc, "p.error").contains("ftp://"),
        "{}",
        text1(&p.doc, "p.error")
    );
    assert_eq!(attr(&p.doc, "input[name=name]", "value"), "bad");

    let p = b
        .submit(
            &p,
            "form#form",
            &[
                ("name", "debian"),
                ("url", "http://127.0.0.1:9/debian.qcow2"),
                ("zoneid", &zid),
                ("format", "QCOW2"),
                ("sshkeyenabled", "true"),
            ],
            None,
        )
        .await;
    assert!(p.path.starts_with("/console/templates/"), "{}", p.path);
    assert_eq!(text1(&p.doc, "h1"), "debian");
    assert_eq!(texts(&p.doc, "table#zones tbody tr td")[0], "tpl-zone");
    let status = texts(&p.doc, "table#zones tbody tr td .badge")[0].clone();
    assert!(status.contains("Waiting for secondary storage"), "{status}");

    // Share it with dave: the permissions list shows him, and the API agrees.
    let p = b
        .submit(
            &p,
            "form[data-action=share]",
            &[("with", "account:dave")],
            None,
        )
        .await;
    assert!(flash(&p).contains("shared"), "{}", flash(&p));
    assert_eq!(texts(&p.doc, "table#permissions tbody tr td")[0], "dave");
    let t = c
        .ok(
            "listTemplates",
            &[("templatefilter", "all"), ("name", "debian")],
        )
        .await;
    let id = t["template"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(t["template"][0]["sshkeyenabled"], true);
    let perms = c.ok("listTemplatePermissions", &[("id", &id)]).await;
    assert!(perms["templatepermission"]["account"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "dave"));
    let p = b.get("/console/templates").await;
    assert_eq!(texts(&p.doc, "table#list tbody tr td")[0], "debian");
}

/// A failed deploy explains itself on the instance's page (issue 23): a banner with the
/// cause, where to look and what to do next; the empty NIC and volume sections say the
/// deploy was rolled back. Missing instances and unknown pages are real 404 pages with
/// the navigation.
#[tokio::test]
async fn a_failed_instance_explains_itself_and_missing_pages_are_404s() {
    let c = Client::admin().await;
    seeded_vms(&c, "fail-zone", 62, 1).await;
    let vms = c.ok("listVirtualMachines", &[("listall", "true")]).await;
    let id = vms["virtualmachine"][0]["id"].as_str().unwrap().to_string();
    let vm: Uuid = id.parse().unwrap();
    let mut b = Browser::login(&c).await;

    // A healthy instance has no banner.
    let p = b.get(&format!("/console/instances/{id}")).await;
    assert_eq!(p.doc.select(&sel("#banner")).count(), 0);

    // As the deploy's undo leaves it: Error, off its host, no NICs or volumes.
    sqlx::query("DELETE FROM nics WHERE vm_id = $1")
        .bind(vm)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE vms SET state = 'Error', error_text = $2, host_id = NULL WHERE id = $1")
        .bind(vm)
        .bind("No host in zone fail-zone has 4 free CPUs <for this offering>")
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let p = b.get(&format!("/console/instances/{id}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        text1(&p.doc, "#banner h2"),
        "This instance failed to deploy"
    );
    assert_eq!(
        text1(&p.doc, "#banner-cause"),
        "Cause: No host in zone fail-zone has 4 free CPUs <for this offering>",
        "the cause, escaped"
    );
    let links: Vec<String> = p
        .doc
        .select(&sel("#banner a"))
        .map(|a| a.value().attr("href").unwrap().to_string())
        .collect();
    assert!(links.contains(&"/console/hosts".to_string()), "{links:?}");
    assert!(links.contains(&"/console/alerts".to_string()), "{links:?}");
    assert!(
        links
            .iter()
            .any(|l| l.starts_with("/console/events?keyword=")),
        "{links:?}"
    );
    assert_eq!(texts(&p.doc, "#banner-next li").len(), 3);
    // The page's parts as tabs that jump to them.
    assert_eq!(
        texts(&p.doc, "nav.tabs a"),
        ["Details", "NICs", "Volumes", "Events", "Tags"]
    );
    let last = attr(&p.doc, "nav.tabs a:last-child", "href");
    assert_eq!(p.doc.select(&sel(&last)).count(), 1, "{last} exists");
    let empty = texts(&p.doc, "p.empty").join(" | ");
    assert!(
        empty.contains("No NICs: the deploy failed and was rolled back"),
        "{empty}"
    );
    assert!(
        empty.contains("No volumes: the deploy failed and was rolled back"),
        "{empty}"
    );
    let actions: Vec<String> = p
        .doc
        .select(&sel("#actions form"))
        .map(|f| f.value().attr("data-action").unwrap_or("").to_string())
        .collect();
    assert_eq!(actions, ["destroy", "destroyexpunge"]);

    // A missing instance: 404 (not 431), in the frame.
    let p = b
        .get(&format!("/console/instances/{}", Uuid::new_v4()))
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(p.doc.select(&sel("nav.side")).count(), 1);
    assert!(text1(&p.doc, ".card p").contains("No instance with that id"));
    // An unknown address: a 404 page with the navigation; without a session, a link to
    // sign in.
    let p = b.get("/console/no/such/page").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(
        p.doc
            .select(&sel("nav.side a.brand[href='/console/dashboard']"))
            .count(),
        1
    );
    assert_eq!(text1(&p.doc, "h1"), "Not found");
    let a = c.raw(get("/console/no/such/page", None)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.text.contains("href=\"/console/login\""));
    let a = c.raw(get("/not-the-console", None)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // The Workflows page lists listWorkflows' answers, linked from the navigation.
    let p = b.get("/console/workflows").await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(attr(&p.doc, "nav a.active", "href"), "/console/workflows");
    assert_eq!(text1(&p.doc, "h1"), "Workflows (0)");
    // Global settings: descriptions wrap (in a scrolling box, never the page).
    let p = b.get("/console/settings").await;
    assert_eq!(
        p.doc.select(&sel(".table-wrap > table.settings")).count(),
        1
    );
}

/// Compute and disk offerings from the console (issue 23): created with CloudStack's
/// fields, a refusal shown on the form with the input kept, edited, deleted.
#[tokio::test]
async fn offerings_are_created_edited_and_deleted() {
    let c = Client::admin().await;
    let mut b = Browser::login(&c).await;
    let p = b.get("/console/compute-offerings").await;
    assert_eq!(
        attr(&p.doc, "nav a.active", "href"),
        "/console/compute-offerings"
    );
    let p = b.get("/console/compute-offerings/new").await;
    for id in [
        "f-name",
        "f-cpunumber",
        "f-cpuspeed",
        "f-memory",
        "f-storagetype",
        "f-hosttags",
        "f-tags",
    ] {
        let label = format!("label[for={id}]");
        assert_eq!(p.doc.select(&sel(&label)).count(), 1, "{id} is labelled");
    }
    // Refused (no memory): the form again, the input kept.
    let bad = b
        .submit(
            &p,
            "#form",
            &[
                ("name", "web-large"),
                ("cpunumber", "4"),
                ("cpuspeed", "2000"),
                ("memory", ""),
            ],
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text1(&bad.doc, "#form .error").contains("memory"));
    assert_eq!(attr(&bad.doc, "#f-name", "value"), "web-large");
    let p = b
        .submit(
            &bad,
            "#form",
            &[
                ("memory", "8192"),
                ("offerha", "true"),
                ("hosttags", "ssd"),
                ("tags", "fast"),
            ],
            None,
        )
        .await;
    assert!(flash(&p).contains("web-large was added"), "{}", flash(&p));
    let o = &c.ok("listServiceOfferings", &[("name", "web-large")]).await["serviceoffering"][0];
    assert_eq!(o["cpunumber"], 4);
    assert_eq!(o["memory"], 8192);
    assert_eq!(o["offerha"], true);
    assert_eq!(o["hosttags"], "ssd");
    assert_eq!(o["storagetags"], "fast");
    let id = o["id"].as_str().unwrap().to_string();
    // Edit: its name links to the form.
    let row = format!("table#list tr[data-id='{id}'] a");
    assert_eq!(
        attr(&p.doc, &row, "href"),
        format!("/console/compute-offerings/{id}/edit")
    );
    let e = b
        .get(&format!("/console/compute-offerings/{id}/edit"))
        .await;
    assert_eq!(attr(&e.doc, "#f-name", "value"), "web-large");
    assert_eq!(attr(&e.doc, "#f-storagetags", "value"), "fast");
    let p = b
        .submit(&e, "#form", &[("displaytext", "Large web servers")], None)
        .await;
    assert!(flash(&p).contains("was saved"), "{}", flash(&p));
    let o = &c.ok("listServiceOfferings", &[("id", &id)]).await["serviceoffering"][0];
    assert_eq!(o["displaytext"], "Large web servers");
    assert_eq!(o["hosttags"], "ssd", "kept by the form");
    assert_eq!(o["storagetags"], "fast", "kept by the form");
    let e = b
        .get(&format!("/console/compute-offerings/{id}/edit"))
        .await;
    let p = b.submit(&e, "#form", &[("storagetags", "")], None).await;
    assert!(flash(&p).contains("was saved"), "{}", flash(&p));
    let o = &c.ok("listServiceOfferings", &[("id", &id)]).await["serviceoffering"][0];
    assert!(o.get("storagetags").is_none(), "emptied: removed {o}");
    // Delete, confirmed.
    let del = format!("table#list tr[data-id='{id}'] form[data-action=delete]");
    let p = b.submit(&p, &del, &[("confirm", "yes")], None).await;
    assert!(flash(&p).contains("deleted"), "{}", flash(&p));
    let left = c.ok("listServiceOfferings", &[("id", &id)]).await;
    assert_eq!(left["count"].as_i64().unwrap_or(0), 0, "{left}");

    // Disk offerings: a fixed size and a custom one.
    let p = b.get("/console/disk-offerings/new").await;
    let p = b
        .submit(
            &p,
            "#form",
            &[("name", "data-20"), ("disksize", "20")],
            None,
        )
        .await;
    assert!(flash(&p).contains("data-20 was added"), "{}", flash(&p));
    let p = b.get("/console/disk-offerings/new").await;
    let p = b
        .submit(
            &p,
            "#form",
            &[
                ("name", "data-any"),
                ("disksize", ""),
                ("customized", "true"),
            ],
            None,
        )
        .await;
    assert!(flash(&p).contains("data-any was added"), "{}", flash(&p));
    let d = c.ok("listDiskOfferings", &[("keyword", "data-")]).await;
    let d20 = d["diskoffering"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "data-20")
        .unwrap();
    assert_eq!(d20["disksize"], 20);
    let id = d20["id"].as_str().unwrap().to_string();
    let e = b.get(&format!("/console/disk-offerings/{id}/edit")).await;
    let p = b
        .submit(&e, "#form", &[("name", "data-20g"), ("tags", "fast")], None)
        .await;
    assert!(flash(&p).contains("data-20g was saved"), "{}", flash(&p));
    let o = &c.ok("listDiskOfferings", &[("id", &id)]).await["diskoffering"][0];
    assert_eq!(
        (o["name"].as_str(), o["tags"].as_str()),
        (Some("data-20g"), Some("fast"))
    );
}

/// The instance list sorts by a column (both ways, `aria-sort` on the heading) and
/// filters by state, zone and account; rows carry the everyday actions.
#[tokio::test]
async fn the_instance_list_sorts_and_filters() {
    let c = Client::admin().await;
    seeded_vms(&c, "sort-zone", 63, 3).await;
    let vms = c.ok("listVirtualMachines", &[("listall", "true")]).await;
    let ids: Vec<String> = vms["virtualmachine"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    // Names that sort apart from their creation order; one of them Stopped.
    for (id, name) in ids.iter().zip(["bravo", "alpha", "charlie"]) {
        sqlx::query("UPDATE vms SET display_name = $2 WHERE id = $1::uuid")
            .bind(id)
            .bind(name)
            .execute(&c.ctx.pool)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE vms SET state = 'Stopped', host_id = NULL WHERE id = $1::uuid")
        .bind(&ids[2])
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let mut b = Browser::login(&c).await;
    let names = |p: &Page| texts(&p.doc, "table#list tbody td:nth-child(2)");
    let p = b.get("/console/instances?sort=displayname&order=asc").await;
    assert_eq!(names(&p), ["alpha", "bravo", "charlie"]);
    assert_eq!(
        attr(&p.doc, "table#list th[aria-sort]", "aria-sort"),
        "ascending"
    );
    // The heading links to the other direction.
    let href = attr(&p.doc, "table#list th[aria-sort] a", "href");
    assert!(href.contains("order=desc"), "{href}");
    let p = b.get(&href).await;
    assert_eq!(names(&p), ["charlie", "bravo", "alpha"]);
    // Filters: a state, a zone, an account (labelled drop-downs).
    assert_eq!(p.doc.select(&sel("#list-filters label select")).count(), 3);
    let p = b.get("/console/instances?state=Stopped").await;
    assert_eq!(names(&p), ["charlie"]);
    assert_eq!(
        attr(&p.doc, "#filter-state option[selected]", "value"),
        "Stopped"
    );
    let zone = attr(&p.doc, "#filter-zoneid option:nth-child(2)", "value");
    let p = b
        .get(&format!(
            "/console/instances?zoneid={zone}&sort=displayname"
        ))
        .await;
    assert_eq!(names(&p).len(), 3);
    let p = b
        .get(&format!("/console/instances?zoneid={}", Uuid::new_v4()))
        .await;
    assert_eq!(names(&p).len(), 3, "an unknown zone is no filter");
    let account = attr(&p.doc, "#filter-account option:nth-child(2)", "value");
    let p = b
        .get(&format!(
            "/console/instances?{}",
            urlencode(&[("account", &account)])
        ))
        .await;
    assert_eq!(names(&p).len(), 3);
    // Row actions: the stopped one starts or is destroyed, back to this list.
    let row = format!("table#list tr[data-id='{}'] td.actions form", ids[2]);
    let acts: Vec<String> = p
        .doc
        .select(&sel(&row))
        .map(|f| f.value().attr("data-action").unwrap().to_string())
        .collect();
    assert_eq!(acts, ["start", "destroy"]);
    let back = format!(
        "table#list tr[data-id='{}'] form[data-action=start] input[name=back]",
        ids[2]
    );
    assert!(attr(&p.doc, &back, "value").starts_with("/console/instances"));
    // Bulk: tick the stopped ones and destroy them, confirmed once.
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    sqlx::query("UPDATE vms SET state = 'Stopped', host_id = NULL WHERE id = $1::uuid")
        .bind(&ids[1])
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let p = b.get("/console/instances?state=Stopped").await;
    assert_eq!(
        attr(&p.doc, "table#list input[name=ids]", "form"),
        "list-bulk",
        "each row's Select box belongs to the bulk form"
    );
    let label = attr(&p.doc, "table#list input[name=ids]", "aria-label");
    assert!(label.starts_with("Select "), "{label}");
    let f = p.doc.select(&sel("form#list-bulk")).next().unwrap();
    let mut pairs = form_values(f);
    pairs.retain(|(k, _)| k != "action" && k != "confirm");
    pairs.push(("action".into(), "destroy".into()));
    pairs.push(("confirm".into(), "yes".into()));
    pairs.push(("ids".into(), ids[1].clone()));
    pairs.push(("ids".into(), ids[2].clone()));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    let a = c
        .raw(form(
            "/console/instances/bulk",
            &body,
            Some(&b.cookie_header()),
        ))
        .await;
    let p = b.follow(a, "/console/instances/bulk".into()).await;
    assert!(
        flash(&p).contains("2 of 2 instance(s) destroyed"),
        "{}",
        flash(&p)
    );
    assert!(p.path.starts_with("/console/instances?"), "{}", p.path);
    let left = c
        .ok(
            "listVirtualMachines",
            &[("listall", "true"), ("state", "Destroyed")],
        )
        .await;
    assert_eq!(left["count"], 2, "{left}");
}

/// A half-built zone is no dead end (issue 23): its page adds pods, clusters and IP
/// ranges, deletes a range, resumes the wizard where the zone stopped, and removes the
/// zone with everything it holds in one confirmed action.
#[tokio::test]
async fn a_half_built_zone_is_completed_or_removed_from_its_page() {
    let c = Client::admin().await;
    let z = c
        .ok(
            "createZone",
            &[
                ("name", "half"),
                ("networktype", "Basic"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.9.0.2"),
            ],
        )
        .await;
    let zid = z["zone"]["id"].as_str().unwrap().to_string();
    let mut b = Browser::login(&c).await;
    let zone = format!("/console/zones/{zid}");
    let p = b.get(&zone).await;
    assert_eq!(
        attr(&p.doc, ".head .tools a.primary", "href"),
        format!("{zone}/resume"),
        "an unfinished zone offers to continue"
    );
    // Resume: the zone counts as built; the wizard opens at the pod.
    let r = b.get(&format!("{zone}/resume")).await;
    assert_eq!(attr(&r.doc, WIZARD, "data-step"), "pod");
    assert_eq!(attr(&r.doc, "input[name='done.zone']", "value"), zid);

    // Add a pod from the zone's page.
    let p = b.get(&format!("{zone}/pods/new")).await;
    let p = b
        .submit(
            &p,
            "#form",
            &[
                ("name", "hp"),
                ("gateway", "10.9.0.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.9.0.10"),
                ("endip", "10.9.0.20"),
            ],
            None,
        )
        .await;
    assert!(flash(&p).contains("The pod hp was added"), "{}", flash(&p));
    let pod = c.ok("listPods", &[("zoneid", &zid)]).await["pod"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A cluster in it.
    let p = b.get(&format!("{zone}/clusters/new?podid={pod}")).await;
    assert_eq!(attr(&p.doc, "#f-podid option[selected]", "value"), pod);
    let p = b.submit(&p, "#form", &[("name", "hc")], None).await;
    assert!(
        flash(&p).contains("The cluster hc was added"),
        "{}",
        flash(&p)
    );
    // A guest range: one overlapping the pod's is refused on the form, input kept.
    let p = b.get(&format!("{zone}/ranges/new?podid={pod}")).await;
    let bad = b
        .submit(
            &p,
            "#form",
            &[
                ("gateway", "10.9.0.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.9.0.15"),
                ("endip", "10.9.0.30"),
            ],
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text1(&bad.doc, "#form .error").contains("overlaps"));
    assert_eq!(attr(&bad.doc, "#f-startip", "value"), "10.9.0.15");
    let p = b
        .submit(
            &bad,
            "#form",
            &[("startip", "10.9.0.100"), ("endip", "10.9.0.150")],
            None,
        )
        .await;
    assert!(flash(&p).contains("10.9.0.100"), "{}", flash(&p));
    assert_eq!(p.path, zone);
    // Delete it from its row.
    let p = b
        .submit(
            &p,
            "table#ip-ranges form[data-action=delete]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("deleted"), "{}", flash(&p));
    let left = c.ok("listVlanIpRanges", &[("zoneid", &zid)]).await;
    assert_eq!(left["count"].as_i64().unwrap_or(0), 0, "{left}");
    // The pod's page offers the same, for its pod.
    let pp = b.get(&format!("/console/pods/{pod}")).await;
    assert_eq!(
        pp.doc
            .select(&sel(&format!("a[href='{zone}/ranges/new?podid={pod}']")))
            .count(),
        1
    );

    // Remove the zone with its pod and cluster, confirmed.
    let p = b.get(&zone).await;
    let p = b
        .submit(
            &p,
            "#actions form[data-action=remove]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("everything in it were removed"),
        "{}",
        flash(&p)
    );
    let zones = c.ok("listZones", &[]).await;
    assert!(!zones.to_string().contains(&zid), "{zones}");
}

/// Reset password on a stopped instance of a password-enabled template (issue 13): the
/// new password is shown once, on the answer to the form (no-store, never in a cookie),
/// and not on the instance's page afterwards.
#[tokio::test]
async fn reset_password_shows_the_new_password_once() {
    let c = Client::admin().await;
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    seeded_vms(&c, "pw-zone", 64, 1).await;
    let vms = c.ok("listVirtualMachines", &[("listall", "true")]).await;
    let id = vms["virtualmachine"][0]["id"].as_str().unwrap().to_string();
    let vm: Uuid = id.parse().unwrap();
    let (account, domain): (Uuid, Uuid) =
        sqlx::query_as("SELECT account_id, domain_id FROM vms WHERE id = $1")
            .bind(vm)
            .fetch_one(&c.ctx.pool)
            .await
            .unwrap();
    let os: Uuid = c.ok("listOsTypes", &[]).await["ostype"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let tpl = db::templates::TemplateRow {
        id: Uuid::new_v4().into(),
        name: "pw-tpl".into(),
        display_text: "pw-tpl".into(),
        url: Some("http://images.invalid/pw.qcow2".into()),
        format: "QCOW2".into(),
        hypervisor: "KVM".into(),
        os_type_id: os.into(),
        checksum: None,
        is_public: true,
        is_featured: false,
        is_extractable: false,
        password_enabled: true,
        sshkey_enabled: false,
        requires_hvm: true,
        is_dynamically_scalable: false,
        bits: 64,
        template_type: "USER".into(),
        details: serde_json::json!({}),
        cross_zones: true,
        account_id: account.into(),
        domain_id: domain.into(),
        created: chrono::Utc::now(),
        removed: None,
        source_volume_id: None,
    };
    db::templates::template_insert(&c.ctx.pool, &tpl)
        .await
        .unwrap();
    sqlx::query("UPDATE vms SET template_id = $2, state = 'Stopped', host_id = NULL WHERE id = $1")
        .bind(vm)
        .bind(tpl.id)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let mut b = Browser::login(&c).await;
    let page = format!("/console/instances/{id}");
    let p = b.get(&page).await;
    assert_eq!(
        p.doc
            .select(&sel("#actions form[data-action=resetpassword]"))
            .count(),
        1,
        "a stopped instance of a password-enabled template offers Reset password"
    );
    let r = b
        .submit(&p, "#actions form[data-action=resetpassword]", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let password = attr(&r.doc, "#password", "value");
    assert!(password.len() >= 8, "a generated password: {password:?}");
    assert!(text1(&r.doc, "#new-password").contains("shown only this once"));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    for v in r.headers.get_all(header::SET_COOKIE) {
        assert!(
            !v.to_str().unwrap().contains(&password),
            "never in a cookie"
        );
    }
    assert!(b.cookie_header().find(&password).is_none());
    // Once: the instance's page does not show it again.
    let p = b.get(&page).await;
    assert!(!p.doc.html().contains(&password));
    // The job tray lists the job, linked to its page and to the instance.
    let j = b.get("/console/jobs").await;
    assert_eq!(attr(&j.doc, "nav a.active", "href"), "/console/jobs");
    let row = j
        .doc
        .select(&sel("table#list tbody tr"))
        .find(|r| {
            r.text()
                .any(|t| t.contains("resetPasswordForVirtualMachine"))
        })
        .expect("the reset's job is listed");
    let links: Vec<&str> = row
        .select(&sel("a"))
        .filter_map(|a| a.value().attr("href"))
        .collect();
    assert!(
        links.iter().any(|l| l.starts_with("/console/jobs/")),
        "{links:?}"
    );
    assert!(links.contains(&page.as_str()), "{links:?}");
    assert!(row.text().any(|t| t.contains("Succeeded")));
    assert!(!j.doc.html().contains(&password), "nor on the job tray");
    // Events link to their resources.
    let e = b.get("/console/events").await;
    assert!(
        e.doc
            .select(&sel(&format!("table#list a[href='{page}']")))
            .count()
            >= 1,
        "an event of the instance links to it"
    );
    // One's own account: disabling it asks for a confirmation that says so.
    let (account,): (Uuid,) = sqlx::query_as("SELECT account_id FROM vms WHERE id = $1")
        .bind(vm)
        .fetch_one(&c.ctx.pool)
        .await
        .unwrap();
    let a = b.get(&format!("/console/accounts/{account}")).await;
    assert!(
        text1(&a.doc, "#actions form[data-action=disable] label.confirm")
            .contains("my own account")
    );
    // Its resource limits: what it uses, its limit (a root admin has none) and what is left.
    let instances = text1(&a.doc, "table#limits tbody tr");
    assert!(
        instances.contains("Instances")
            && instances.contains('1')
            && instances.contains("Unlimited"),
        "{instances}"
    );
}

/// Settings by scope (issue 23): a zone's, a cluster's and an account's pages link to
/// their settings; a value saved there is that scope's (the global one is unchanged),
/// and Reset removes it.
#[tokio::test]
async fn settings_by_scope_from_the_zone_cluster_and_account_pages() {
    let c = Client::admin().await;
    let (zid, _pid, cid) = c.basic_topology("scoped").await;
    let mut b = Browser::login(&c).await;
    let z = b.get(&format!("/console/zones/{zid}")).await;
    let href = format!("/console/settings?zoneid={zid}");
    assert_eq!(
        z.doc
            .select(&sel(&format!(".head .tools a[href='{href}']")))
            .count(),
        1
    );
    let cl = b.get(&format!("/console/clusters/{cid}")).await;
    assert_eq!(
        cl.doc
            .select(&sel(&format!(
                ".head .tools a[href='/console/settings?clusterid={cid}']"
            )))
            .count(),
        1
    );
    let p = b
        .get(&format!("{href}&keyword=storage.overprovisioning.factor"))
        .await;
    assert_eq!(text1(&p.doc, "h1"), "Settings of zone scoped (1)");
    assert_eq!(attr(&p.doc, "nav a.active", "href"), "/console/zones");
    let row = "tr[data-id='storage.overprovisioning.factor']";
    assert_eq!(
        attr(
            &p.doc,
            &format!("{row} form[data-action=update] input[name=zoneid]"),
            "value"
        ),
        zid
    );
    let p = b
        .submit(
            &p,
            &format!("{row} form[data-action=update]"),
            &[("value", "3")],
            None,
        )
        .await;
    assert!(flash(&p).contains("is now '3'"), "{}", flash(&p));
    assert!(
        p.path.contains(&format!("zoneid={zid}")),
        "back on the zone's settings: {}",
        p.path
    );
    let zone_value = c
        .ok(
            "listConfigurations",
            &[
                ("zoneid", &zid),
                ("name", "storage.overprovisioning.factor"),
            ],
        )
        .await;
    assert_eq!(zone_value["configuration"][0]["value"], "3", "{zone_value}");
    let global = c
        .ok(
            "listConfigurations",
            &[("name", "storage.overprovisioning.factor")],
        )
        .await;
    assert_ne!(global["configuration"][0]["value"], "3", "{global}");
    // Reset: back to what applies above the zone.
    let p = b
        .submit(&p, &format!("{row} form[data-action=reset]"), &[], None)
        .await;
    assert!(flash(&p).contains("back to its default"), "{}", flash(&p));
    let zone_value = c
        .ok(
            "listConfigurations",
            &[
                ("zoneid", &zid),
                ("name", "storage.overprovisioning.factor"),
            ],
        )
        .await;
    assert_ne!(zone_value["configuration"][0]["value"], "3", "{zone_value}");
}

/// A Ready root volume for `vm` on a pool of the zone (seeded: no NFS here).
async fn root_volume(c: &Client, zone: &str, vm: &str, name: &str) {
    let pool = db::storage::PoolRow {
        id: Uuid::new_v4().into(),
        name: format!("pool-{name}"),
        zone_id: zone.parse().unwrap(),
        pod_id: None,
        cluster_id: None,
        scope: "ZONE".into(),
        url: format!("nfs://127.0.0.1/export/{name}"),
        server: "127.0.0.1".into(),
        path: format!("/export/{name}"),
        tags: vec![],
        state: stratus_management::rules::poolstate::PoolState::Up,
        capacity_bytes: 100 << 30,
        used_bytes: 0,
        allocated_bytes: 0,
        stats_at: None,
        stats_error: None,
        created: chrono::Utc::now(),
        zone_name: String::new(),
        pod_name: None,
        cluster_name: None,
    };
    db::storage::pool_insert(&c.ctx.pool, &pool).await.unwrap();
    db::volumes::volume_insert(
        &c.ctx.pool,
        &db::volumes::VolumeRow {
            id: Uuid::new_v4().into(),
            vm_id: Some(vm.parse().unwrap()),
            name: name.into(),
            volume_type: "ROOT".into(),
            pool_id: pool.id,
            path: format!("volumes/{name}.qcow2"),
            size_bytes: 5 << 30,
            state: stratus_management::rules::states::VolumeState::Ready,
            created: chrono::Utc::now(),
            removed: None,
            template_id: None,
        },
    )
    .await
    .unwrap();
}

/// The rows of table `t` on a page, each as its cells' texts.
fn rows_of(doc: &Html, t: &str) -> Vec<Vec<String>> {
    doc.select(&sel(&format!("table#{t} tbody tr")))
        .map(|r| {
            r.select(&sel("td"))
                .map(|c| c.text().collect::<String>().trim().to_string())
                .collect()
        })
        .collect()
}

/// The row of table `t` whose `data-id` is `id`.
fn row_of(doc: &Html, t: &str, id: &str) -> Vec<String> {
    doc.select(&sel(&format!("table#{t} tbody tr[data-id='{id}'] td")))
        .map(|c| c.text().collect::<String>().trim().to_string())
        .collect()
}

/// Domains (issue 22): the tree indented by level, a subdomain created with the form
/// (a bad name refused with the input kept), renamed, its limits set (a bad value refused
/// with the command's words) and recounted, deleted only with cleanup while it has a
/// subdomain. A domain admin sees its own subtree; a user has no such page.
#[tokio::test]
async fn the_domain_tree_is_built_renamed_limited_and_pruned() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let mut b = Browser::login(&c).await;
    let root = "00000000-0000-4000-8000-000000000001";

    let p = b.get("/console/domains").await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(attr(&p.doc, "nav a.active", "href"), "/console/domains");
    assert_eq!(rows_of(&p.doc, "list")[0][..2], ["ROOT", "ROOT"]);

    // A subdomain from the tree's form.
    let p = b.get("/console/domains/new").await;
    assert_eq!(
        attr(&p.doc, "#f-parentdomainid option[value]", "value"),
        root
    );
    let p = b.submit(&p, "#form", &[("name", "acme")], None).await;
    assert!(
        flash(&p).contains("Domain ROOT/acme was created"),
        "{}",
        flash(&p)
    );
    assert_eq!(p.path, "/console/domains");
    let acme = c.ok("listDomains", &[("name", "acme")]).await["domain"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // And one under it, from acme's page ("+ Add subdomain" chooses the parent).
    let page = b.get(&format!("/console/domains/{acme}")).await;
    let add = attr(&page.doc, ".head .tools a.btn", "href");
    assert_eq!(add, format!("/console/domains/new?parentdomainid={acme}"));
    let form_page = b.get(&add).await;
    assert_eq!(
        attr(
            &form_page.doc,
            "#f-parentdomainid option[selected]",
            "value"
        ),
        acme
    );
    // A name with a '/' is refused on the form, which keeps what was typed.
    let p = b
        .submit(&form_page, "#form", &[("name", "web/<b>")], None)
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text1(&p.doc, "#form .error").contains("cannot contain '/'"));
    assert_eq!(attr(&p.doc, "#f-name", "value"), "web/<b>");
    let p = b.submit(&p, "#form", &[("name", "web")], None).await;
    assert!(flash(&p).contains("ROOT/acme/web"), "{}", flash(&p));
    // The tree: each domain under its parent, indented by its level.
    let names = texts(&p.doc, "table#list tbody td:first-child");
    assert_eq!(names[..3], ["ROOT", "acme", "web"], "{names:?}");
    assert_eq!(
        attr(
            &p.doc,
            "table#list tbody tr:nth-child(3) td:first-child",
            "class"
        ),
        "lvl2"
    );
    assert_eq!(
        attr(
            &p.doc,
            "table#list tbody tr:nth-child(2) td:first-child a",
            "href"
        ),
        format!("/console/domains/{acme}")
    );
    // Accounts are counted per domain; the domain's page adds one in it.
    let add_account = format!("/console/accounts/new?domainid={acme}");
    assert_eq!(
        page.doc
            .select(&sel(&format!(".head .tools a[href='{add_account}']")))
            .count(),
        1
    );
    let f = b.get(&add_account).await;
    assert_eq!(attr(&f.doc, "#f-domainid option[selected]", "value"), acme);
    let p = b
        .submit(
            &f,
            "#form",
            &[
                ("username", "ann"),
                ("password", "ann-pw-12345"),
                ("email", "ann@example.org"),
                ("firstname", "Ann"),
                ("lastname", "Tester"),
            ],
            None,
        )
        .await;
    assert!(flash(&p).contains("created"), "{}", flash(&p));
    assert_eq!(
        c.ok("listAccounts", &[("name", "ann"), ("listall", "true")])
            .await["account"][0]["domainpath"],
        "ROOT/acme"
    );
    let p = b.get("/console/domains").await;
    assert_eq!(row_of(&p.doc, "list", &acme)[2], "1");

    // acme's page: its subdomain, its account, its limits.
    let p = b.get(&format!("/console/domains/{acme}")).await;
    assert_eq!(
        texts(&p.doc, "table#subdomains tbody td:first-child"),
        ["web"]
    );
    assert_eq!(
        texts(&p.doc, "table#accounts tbody td:first-child"),
        ["ann"]
    );
    assert_eq!(row_of(&p.doc, "limits", "user_vm")[0], "Instances");
    // Rename.
    let p = b
        .submit(
            &p,
            "#actions form[data-action=rename]",
            &[("name", "acme2")],
            None,
        )
        .await;
    assert!(flash(&p).contains("renamed"), "{}", flash(&p));
    assert_eq!(text1(&p.doc, ".head h1"), "acme2");
    // A limit: set, shown; a bad one refused as the command words it.
    let p = b
        .submit(
            &p,
            "table#limits tr[data-id=user_vm] form[data-action=limit]",
            &[("max", "7")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("The limit of instances is now 7"),
        "{}",
        flash(&p)
    );
    assert_eq!(row_of(&p.doc, "limits", "user_vm")[2], "7");
    assert_eq!(
        c.ok(
            "listResourceLimits",
            &[("domainid", &acme), ("resourcetype", "0")]
        )
        .await["resourcelimit"][0]["max"],
        7
    );
    let p = b
        .submit(
            &p,
            "table#limits tr[data-id=cpu] form[data-action=limit]",
            &[("max", "-5")],
            None,
        )
        .await;
    assert!(
        p.doc.select(&sel(".flash.error")).count() == 1,
        "{}",
        flash(&p)
    );
    // (Unchanged: the max.domain.cpus default, as CloudStack.)
    assert_eq!(row_of(&p.doc, "limits", "cpu")[2], "80");
    let p = b
        .submit(&p, ".section-forms form[data-action=recount]", &[], None)
        .await;
    assert!(flash(&p).starts_with("Usage recalculated"), "{}", flash(&p));
    // The ROOT domain cannot be renamed, deleted or limited.
    let r = b.get(&format!("/console/domains/{root}")).await;
    assert_eq!(r.doc.select(&sel("#actions form")).count(), 0);
    assert_eq!(r.doc.select(&sel("table#limits form")).count(), 0);

    // Deleting a domain with a subdomain: refused on its page; with cleanup, gone (its
    // account too, which owns nothing).
    let p = b
        .submit(
            &p,
            "#actions form[data-action=delete]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("sub-domain"), "{}", flash(&p));
    assert_eq!(p.path, format!("/console/domains/{acme}"));
    let p = b
        .submit(
            &p,
            "#actions form[data-action=cleanup]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("deleted with its subdomains"),
        "{}",
        flash(&p)
    );
    assert_eq!(texts(&p.doc, "table#list tbody td:first-child"), ["ROOT"]);

    // Hostile ids are refused, not a 500; a forged form is refused.
    let p = b.get("/console/domains/not-a-uuid").await;
    assert!(p.status.is_client_error(), "{}", p.status);
    let p = b.get(&format!("/console/domains/{}", Uuid::new_v4())).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let a = c
        .raw(form(
            "/console/domains/new",
            "name=x",
            Some(&b.cookie_header()),
        ))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // A domain admin sees its subtree; a user has neither the page nor the link.
    let east = c.ok("createDomain", &[("name", "east")]).await["domain"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    c.ok(
        "createDomain",
        &[("name", "team"), ("parentdomainid", &east)],
    )
    .await;
    c.user_in(&east, "eve", "2").await;
    let mut e = Browser::login_in(&c, "eve", "eve-pw-1", "/east").await;
    let p = e.get("/console/domains").await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        texts(&p.doc, "table#list tbody td:first-child"),
        ["east", "team"]
    );
    // Its own domain: no rename or delete, and no limits to change.
    let p = e.get(&format!("/console/domains/{east}")).await;
    assert_eq!(p.doc.select(&sel("#actions form")).count(), 0);
    assert_eq!(p.doc.select(&sel("table#limits form")).count(), 0);
    c.user("uma").await;
    let mut u = Browser::login_as(&c, "uma", "uma-pw-1").await;
    let p = u.get("/console/domains").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(
        p.doc.select(&sel("nav a[href='/console/domains']")).count(),
        0
    );
}

/// Projects (issue 22): created with the form, members added and removed, and the
/// switcher: choosing a project scopes the instance and volume lists to it and puts what
/// the wizard launches in it; Default view returns to one's own. The choice is checked on
/// every request: junk, or a project the user is not a member of, is the default view.
#[tokio::test]
async fn projects_and_the_switcher_scope_lists_and_launches() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let (zone, iso) = c.deployable_iso("proj-zone").await;
    let alice = c.user("alice").await;
    let bob = c.user("bob").await;
    let mut b = Browser::login_as(&c, "alice", "alice-pw-1").await;

    // No project yet: no switcher.
    let p = b.get("/console/projects").await;
    assert_eq!(p.doc.select(&sel("#project-switch")).count(), 0);
    assert_eq!(p.doc.select(&sel("p.empty")).count(), 1);
    let p = b.get("/console/projects/new").await;
    let p = b
        .submit(
            &p,
            "#form",
            &[("name", "web"), ("displaytext", "The <web> team")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("The project was created"),
        "{}",
        flash(&p)
    );
    assert_eq!(text1(&p.doc, ".head h1"), "web");
    let pid = p.path.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        rows_of(&p.doc, "members")[0][..3],
        ["alice", "Admin", "ROOT"]
    );
    assert_eq!(rows_of(&p.doc, "members").len(), 1);
    assert!(p.doc.select(&sel("table#limits tbody tr")).count() >= 11);

    // Members: bob added as a regular member, then removed; a stranger refused.
    let p = b
        .submit(
            &p,
            ".section-forms form[data-action=add]",
            &[("account", "bob")],
            None,
        )
        .await;
    assert!(flash(&p).contains("bob was added"), "{}", flash(&p));
    let bob_row: Vec<Vec<String>> = rows_of(&p.doc, "members")
        .into_iter()
        .filter(|r| r[0] == "bob")
        .map(|r| r[..3].to_vec())
        .collect();
    assert_eq!(bob_row, [["bob", "Regular", "ROOT"]]);
    let p = b
        .submit(
            &p,
            ".section-forms form[data-action=add]",
            &[("account", "nobody")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("Unable to find account"),
        "{}",
        flash(&p)
    );
    let bob_id = bob.ok("listAccounts", &[]).await["account"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = b
        .submit(
            &p,
            &format!("table#members tr[data-id='{bob_id}'] form[data-action=remove]"),
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("bob was removed"), "{}", flash(&p));
    assert_eq!(
        texts(&p.doc, "table#members tbody td:first-child"),
        ["alice"]
    );

    // One VM of alice's own, one of the project's.
    let deploy = |project: Option<&str>| {
        let mut params = vec![
            ("zoneid", zone.clone()),
            (
                "serviceofferingid",
                "00000000-0000-4000-8003-000000000001".to_string(),
            ),
            ("templateid", iso.clone()),
            (
                "diskofferingid",
                "00000000-0000-4000-8004-000000000001".to_string(),
            ),
            ("startvm", "false".to_string()),
        ];
        if let Some(p) = project {
            params.push(("projectid", p.to_string()));
        }
        params
    };
    for (name, project) in [("own-vm", None), ("team-vm", Some(pid.as_str()))] {
        let mut params = deploy(project);
        params.push(("name", name.to_string()));
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let j = alice.ok("deployVirtualMachine", &pairs).await;
        let j = alice.wait_job(j["jobid"].as_str().unwrap()).await;
        assert_eq!(j["jobstatus"], 1, "{j}");
        let vm = j["jobresult"]["virtualmachine"]["id"].as_str().unwrap();
        root_volume(&c, &zone, vm, &format!("ROOT-{name}")).await;
    }
    let names = |p: &Page| texts(&p.doc, "table#list tbody td:first-child");

    // The default view: alice's own; the switcher offers the project.
    let p = b.get("/console/instances").await;
    assert_eq!(names(&p), ["own-vm"]);
    assert_eq!(
        texts(&p.doc, "#project-select option"),
        ["Default view", "web"]
    );
    // Switching (the switcher goes back to the page it was used on).
    let a = c
        .raw(
            Request::post("/console/project")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, b.cookie_header())
                .header(header::REFERER, "http://console.test/console/instances")
                .body(Body::from(urlencode(&[
                    ("sessionkey", &b.key),
                    ("projectid", &pid),
                ])))
                .unwrap(),
        )
        .await;
    let p = b.follow(a, "/console/project".into()).await;
    assert_eq!(p.path, "/console/instances");
    assert!(flash(&p).contains("Project web"), "{}", flash(&p));
    assert_eq!(names(&p), ["team-vm"]);
    assert_eq!(
        attr(&p.doc, "#project-select option[selected]", "value"),
        pid
    );
    assert!(attr(&p.doc, "#project-switch", "class").contains("in-project"));
    assert!(text1(&p.doc, "main p.muted").contains("Project web"));
    assert_eq!(
        p.doc.select(&sel("#filter-account")).count(),
        0,
        "no account filter in a project's view"
    );
    let v = b.get("/console/volumes").await;
    assert_eq!(
        texts(&v.doc, "table#list tbody td:nth-child(3)"),
        ["team-vm"],
        "the project's volumes"
    );
    // The project's instance has its page in the project's view.
    let team = c.ok("listVirtualMachines", &[("projectid", &pid)]).await["virtualmachine"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        b.get(&format!("/console/instances/{team}")).await.status,
        StatusCode::OK
    );

    // The wizard launches into the project.
    let net = c.ok("listNetworks", &[("zoneid", &zone)]).await["network"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let launched = b
        .post(
            "/console/instances/new",
            &[
                ("at", "review"),
                ("go", "launch"),
                ("zoneid", &zone),
                ("isoid", &iso),
                ("serviceofferingid", "00000000-0000-4000-8003-000000000001"),
                ("diskofferingid", "00000000-0000-4000-8004-000000000001"),
                ("networkid", &net),
                ("name", "wizard-vm"),
            ],
        )
        .await;
    assert!(
        launched.status.is_success(),
        "{} {}",
        launched.status,
        launched.path
    );
    let in_project = c
        .ok(
            "listVirtualMachines",
            &[("projectid", &pid), ("name", "wizard-vm")],
        )
        .await;
    assert_eq!(
        in_project["count"], 1,
        "the wizard's instance is the project's: {in_project}"
    );

    // Default view again.
    let p = b
        .post(
            "/console/project",
            &[("projectid", ""), ("back", "/console/instances")],
        )
        .await;
    assert!(flash(&p).contains("Default view"), "{}", flash(&p));
    assert_eq!(names(&p), ["own-vm"]);
    assert_eq!(
        attr(&p.doc, "#project-select option[selected]", "value"),
        ""
    );

    // Another's project is refused by the switcher, and ignored in a forged cookie; so is junk.
    let other = c.ok("listProjects", &[("listall", "true")]).await;
    assert_eq!(other["count"], 1);
    let bobs = bob
        .ok("createProject", &[("name", "bobs"), ("displaytext", "x")])
        .await;
    let bobs = bob.wait_job(bobs["jobid"].as_str().unwrap()).await["jobresult"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = b
        .post(
            "/console/project",
            &[("projectid", &bobs), ("back", "/console/instances")],
        )
        .await;
    assert!(flash(&p).contains("not a member"), "{}", flash(&p));
    for junk in [bobs.as_str(), "not-a-uuid", "%00%27\"<x>", ""] {
        b.cookies.insert("stratus_project".into(), junk.into());
        let p = b.get("/console/instances").await;
        assert_eq!(p.status, StatusCode::OK, "{junk}");
        assert_eq!(names(&p), ["own-vm"], "{junk}: the default view");
    }
    b.cookies.remove("stratus_project");
    // Bob's project page is not alice's to see.
    assert_eq!(
        b.get(&format!("/console/projects/{bobs}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Suspend and activate from the project's page; deleting one that owns instances is
    // refused with the command's words.
    let p = b.get(&format!("/console/projects/{pid}")).await;
    let p = b
        .submit(&p, "#actions form[data-action=suspend]", &[], None)
        .await;
    assert_eq!(text1(&p.doc, ".head .badge"), "Suspended");
    let p = b
        .submit(&p, "#actions form[data-action=activate]", &[], None)
        .await;
    assert_eq!(text1(&p.doc, ".head .badge"), "Active");
    let p = b
        .submit(
            &p,
            "#actions form[data-action=delete]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("still owns"), "{}", flash(&p));
    // Logging out forgets the choice.
    let a = c
        .raw(form(
            "/console/logout",
            &urlencode(&[("sessionkey", &b.key)]),
            Some(&b.cookie_header()),
        ))
        .await;
    assert!(a
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("stratus_project=;")));
}

/// An account's limits on its page (issue 22): what it uses beside each limit; an admin
/// sets one (shown at once) and recalculates. Tags on detail pages: added and removed by
/// the owner on an instance's and a volume's page; a bad tag is refused as the command
/// words it.
#[tokio::test]
async fn account_limits_are_edited_and_tags_added_and_removed_on_detail_pages() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    seeded_vms(&c, "tag-zone", 64, 1).await;
    let mut b = Browser::login(&c).await;
    let vm = c.ok("listVirtualMachines", &[("listall", "true")]).await["virtualmachine"][0].clone();
    let vm_id = vm["id"].as_str().unwrap().to_string();
    root_volume(&c, vm["zoneid"].as_str().unwrap(), &vm_id, "ROOT-seed").await;

    // alice's limits: set by the admin, shown on her page.
    c.user("alice").await;
    let alice = c.ok("listAccounts", &[("name", "alice")]).await["account"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = b.get(&format!("/console/accounts/{alice}")).await;
    let vms = row_of(&p.doc, "limits", "user_vm");
    assert_eq!(vms[..4], ["Instances", "0 of 20", "20", "20"], "{vms:?}");
    let p = b
        .submit(
            &p,
            "table#limits tr[data-id=user_vm] form[data-action=limit]",
            &[("max", "3")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("The limit of instances is now 3"),
        "{}",
        flash(&p)
    );
    assert_eq!(
        row_of(&p.doc, "limits", "user_vm")[..4],
        ["Instances", "0 of 3", "3", "3"]
    );
    let p = b
        .submit(
            &p,
            "table#limits tr[data-id=memory] form[data-action=limit]",
            &[("max", "lots")],
            None,
        )
        .await;
    assert_eq!(
        p.doc.select(&sel(".flash.error")).count(),
        1,
        "{}",
        flash(&p)
    );
    let p = b
        .submit(&p, ".section-forms form[data-action=recount]", &[], None)
        .await;
    assert!(flash(&p).starts_with("Usage recalculated"), "{}", flash(&p));
    // The admin's own account: in use beside Unlimited.
    let me = c.ok("listAccounts", &[("name", "admin")]).await["account"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = b.get(&format!("/console/accounts/{me}")).await;
    assert_eq!(
        row_of(&p.doc, "limits", "user_vm")[..3],
        ["Instances", "1", "Unlimited"]
    );

    // Tags on the instance's page.
    let page = format!("/console/instances/{vm_id}");
    let p = b.get(&page).await;
    assert!(texts(&p.doc, "nav.tabs a").contains(&"Tags".to_string()));
    assert_eq!(p.doc.select(&sel("table#tags")).count(), 0, "none yet");
    let p = b
        .submit(
            &p,
            ".section-forms form[data-action=add]",
            &[("key", "env"), ("value", "prod <1>")],
            None,
        )
        .await;
    assert_eq!(p.path, page);
    assert!(
        flash(&p).contains("Tag env = prod <1> added"),
        "{}",
        flash(&p)
    );
    assert_eq!(rows_of(&p.doc, "tags")[0][..2], ["env", "prod <1>"]);
    let listed = c
        .ok(
            "listTags",
            &[("resourceid", &vm_id), ("resourcetype", "UserVm")],
        )
        .await;
    assert_eq!(listed["tag"][0]["value"], "prod <1>");
    // An empty key is refused as createTags words it.
    let p = b
        .submit(
            &p,
            ".section-forms form[data-action=add]",
            &[("key", " "), ("value", "x")],
            None,
        )
        .await;
    assert!(flash(&p).contains("key must not be empty"), "{}", flash(&p));
    let p = b
        .submit(
            &p,
            "table#tags tr[data-id=env] form[data-action=remove]",
            &[],
            None,
        )
        .await;
    assert!(flash(&p).contains("Tag env removed"), "{}", flash(&p));
    assert_eq!(p.doc.select(&sel("table#tags")).count(), 0);

    // The volume list links to each volume's page, which has its tags too.
    let v = b.get("/console/volumes").await;
    let vol = attr(&v.doc, "table#list tbody td:first-child a", "href");
    assert!(vol.starts_with("/console/volumes/"), "{vol}");
    let p = b.get(&vol).await;
    assert_eq!(p.status, StatusCode::OK);
    let p = b
        .submit(
            &p,
            ".section-forms form[data-action=add]",
            &[("key", "tier"), ("value", "gold")],
            None,
        )
        .await;
    assert_eq!(p.path, vol);
    assert_eq!(rows_of(&p.doc, "tags")[0][..2], ["tier", "gold"]);
    // The tag form goes back only to a console page.
    let p = b
        .post(
            "/console/tags",
            &[
                ("action", "remove"),
                ("resourcetype", "Volume"),
                ("resourceid", vol.rsplit('/').next().unwrap()),
                ("key", "tier"),
                ("value", "gold"),
                ("back", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(p.path, "/console/dashboard");
    assert!(flash(&p).contains("Tag tier removed"), "{}", flash(&p));
}

/// Every queued ISO and template copy Ready in image store `store`, as the downloader
/// leaves one (no NFS, no download).
async fn images_ready(c: &Client, store: Uuid) {
    use db::images::{self, Kind};
    let ms = c.ctx.ms_id;
    for kind in Kind::ALL {
        for row in images::copy_claim(&c.ctx.pool, kind, ms, 60, 100)
            .await
            .unwrap()
        {
            let path = format!("image/{0}/{0}", row.image_id);
            assert!(images::copy_set_store(
                &c.ctx.pool,
                kind,
                row.image_id,
                row.zone_id,
                ms,
                store.into(),
                &path
            )
            .await
            .unwrap());
            let done = images::Finished {
                size: 1 << 20,
                checksum: "{sha256}00ff",
                virtual_size: Some(1 << 30),
            };
            assert!(images::copy_finish(
                &c.ctx.pool,
                kind,
                row.image_id,
                row.zone_id,
                ms,
                Ok(done)
            )
            .await
            .unwrap());
        }
    }
}

/// A template's permissions on its page (issue 23, CloudStack's listTemplatePermissions
/// and updateTemplatePermissions): public, featured (root admins only) and extractable
/// saved with one form; shared with a project from a list and with an account by name
/// (a user lists no other accounts), each row removable; Reset makes it private and
/// shared with nobody; hostile input is refused with the command's words. And the
/// project view's Add Instance wizard: it offers the project's private template and ISO
/// (not the user's own) and a template shared with the project, and launches into it.
#[tokio::test]
async fn template_permissions_and_the_project_view_wizard() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let (zone, _boot) = c.deployable_iso("perm-zone").await;
    let store: Uuid = c.ok("listImageStores", &[]).await["imagestore"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let alice = c.user("alice").await;
    c.user("bob").await;
    let j = alice
        .ok("createProject", &[("name", "web"), ("displaytext", "Web")])
        .await;
    let pid = alice.wait_job(j["jobid"].as_str().unwrap()).await["jobresult"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // alice's own private template, and the project's private template and ISO.
    let register = |name: &'static str, project: Option<String>| {
        let alice = &alice;
        let zone = zone.clone();
        async move {
            let mut p = vec![
                ("name", name.to_string()),
                ("zoneid", zone),
                // A tenant may not download from loopback: an address never fetched here.
                ("url", format!("http://93.184.215.14/{name}.qcow2")),
                ("format", "QCOW2".into()),
                ("hypervisor", "KVM".into()),
                ("ostypeid", "00000000-0000-4000-8002-000000000011".into()),
                ("passwordenabled", "true".into()),
            ];
            p.extend(project.map(|p| ("projectid", p)));
            let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            alice.ok("registerTemplate", &pairs).await["template"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let mine = register("mine-tpl", None).await;
    let team = register("team-tpl", Some(pid.clone())).await;
    alice
        .ok(
            "registerIso",
            &[
                ("name", "team-iso"),
                ("zoneid", &zone),
                ("url", "http://93.184.215.14/team.iso"),
                ("ostypeid", "00000000-0000-4000-8002-000000000011"),
                ("projectid", &pid),
            ],
        )
        .await;
    images_ready(&c, store).await;

    let mut b = Browser::login_as(&c, "alice", "alice-pw-1").await;
    async fn offered(b: &mut Browser<'_>, zone: &str) -> Vec<String> {
        let p = b
            .post(
                "/console/instances/new",
                &[("at", "zone"), ("go", "next"), ("zoneid", zone)],
            )
            .await;
        assert_eq!(attr(&p.doc, "#launch", "data-step"), "iso");
        let mut names = texts(&p.doc, "#choices tbody tr label");
        names.sort();
        names
    }
    // The default view: alice's own and public images.
    assert_eq!(offered(&mut b, &zone).await, ["boot", "mine-tpl"]);
    // The project's view: the project's own and public ones.
    b.cookies.insert("stratus_project".into(), pid.clone());
    assert_eq!(
        offered(&mut b, &zone).await,
        ["boot", "team-iso", "team-tpl"]
    );
    b.cookies.remove("stratus_project");

    // alice's template's page: its permissions.
    let page = format!("/console/templates/{mine}");
    let p = b.get(&page).await;
    assert!(
        texts(&p.doc, "h2.section").contains(&"Permissions".to_string()),
        "{} {:?}",
        p.status,
        texts(&p.doc, "main")
    );
    assert!(text1(&p.doc, "#section-2 + p.muted").starts_with("Private"));
    assert_eq!(
        texts(&p.doc, "form[data-action=visibility] label.check"),
        ["Public", "Extractable"],
        "only root admins feature templates"
    );
    assert_eq!(p.doc.select(&sel("table#permissions")).count(), 0);
    assert_eq!(
        texts(&p.doc, "form[data-action=share] select[name=with] option"),
        ["Project web"],
        "a user lists its projects (its own account aside)"
    );
    // Shared with the project, and with bob by name.
    let p = b
        .submit(
            &p,
            "form[data-action=share]",
            &[("with", &format!("project:{pid}"))],
            None,
        )
        .await;
    assert!(flash(&p).contains("is shared"), "{}", flash(&p));
    let p = b
        .submit(
            &p,
            "form[data-action=sharename]",
            &[("account", "bob")],
            None,
        )
        .await;
    assert!(flash(&p).contains("is shared"), "{}", flash(&p));
    assert_eq!(
        rows_of(&p.doc, "permissions"),
        [
            ["bob", "Account", "Stop sharing"],
            ["web", "Project", "Stop sharing"]
        ]
    );
    assert_eq!(
        p.doc
            .select(&sel("form[data-action=share] select[name=with] option"))
            .count(),
        0,
        "nothing left to share with"
    );
    let perms =
        c.ok("listTemplatePermissions", &[("id", &mine)]).await["templatepermission"].clone();
    assert_eq!(perms["projectids"], serde_json::json!([pid]));
    assert_eq!(perms["account"], serde_json::json!(["bob", "alice"]));
    // Shared with the project: its wizard offers it too.
    b.cookies.insert("stratus_project".into(), pid.clone());
    assert_eq!(
        offered(&mut b, &zone).await,
        ["boot", "mine-tpl", "team-iso", "team-tpl"]
    );
    b.cookies.remove("stratus_project");
    // bob removed.
    let p = b
        .submit(
            &p,
            "table#permissions tr[data-id='account:bob'] form[data-action=unshare]",
            &[],
            None,
        )
        .await;
    assert!(flash(&p).contains("no longer shared"), "{}", flash(&p));
    assert_eq!(
        texts(&p.doc, "table#permissions tbody td:first-child"),
        ["web"]
    );
    // Public and extractable, saved with one form; unchanged boxes send nothing.
    let p = b
        .submit(
            &p,
            "form[data-action=visibility]",
            &[("ispublic", "true"), ("isextractable", "true")],
            None,
        )
        .await;
    assert!(flash(&p).contains("permissions are saved"), "{}", flash(&p));
    assert!(text1(&p.doc, "#section-2 + p.muted").starts_with("Public"));
    assert_eq!(
        p.doc
            .select(&sel("form[data-action=visibility] input[checked]"))
            .count(),
        2
    );
    let t = &c
        .ok("listTemplates", &[("templatefilter", "all"), ("id", &mine)])
        .await["template"][0];
    assert_eq!(
        (&t["ispublic"], &t["isextractable"]),
        (&true.into(), &true.into())
    );
    let p = b
        .submit(&p, "form[data-action=visibility]", &[], None)
        .await;
    assert_eq!(flash(&p), "Nothing changed.");
    // Reset needs its box ticked; then private and shared with nobody.
    let r = b
        .post(&format!("{page}/action"), &[("action", "reset")])
        .await;
    assert!(flash(&r).contains("Tick the box"), "{}", flash(&r));
    let p = b
        .submit(&p, "form[data-action=reset]", &[("confirm", "yes")], None)
        .await;
    assert!(flash(&p).contains("shared with nobody"), "{}", flash(&p));
    assert_eq!(p.doc.select(&sel("table#permissions")).count(), 0);
    let t = &c
        .ok("listTemplates", &[("templatefilter", "all"), ("id", &mine)])
        .await["template"][0];
    assert_eq!(t["ispublic"], false);
    // Hostile input: refused with the command's words, escaped, never a 500.
    for (with, want) in [
        ("project:<script>x</script>", "Unable to find project by id"),
        (
            &format!("project:{}", Uuid::new_v4()) as &str,
            "Unable to find project by id",
        ),
        ("account:nobody-here", "account not found"),
        ("elsewhere", "Choose an account or a project"),
    ] {
        let p = b
            .post(
                &format!("{page}/action"),
                &[("action", "share"), ("with", with)],
            )
            .await;
        assert_eq!(p.status, StatusCode::OK, "{with}");
        assert!(flash(&p).contains(want), "{with}: {}", flash(&p));
        assert!(!p.doc.html().contains("<script>x"), "{with}");
    }
    // The root admin features it (a box only root admins have).
    let mut admin = Browser::login(&c).await;
    let p = admin.get(&page).await;
    assert_eq!(
        texts(&p.doc, "form[data-action=visibility] label.check"),
        ["Public", "Featured", "Extractable"]
    );
    assert_eq!(
        p.doc.select(&sel("form[data-action=sharename]")).count(),
        0,
        "an admin picks accounts from the list"
    );
    let p = admin
        .submit(
            &p,
            "form[data-action=visibility]",
            &[("isfeatured", "true")],
            None,
        )
        .await;
    assert!(flash(&p).contains("saved"), "{}", flash(&p));
    let fields: Vec<(String, String)> = texts(&p.doc, "dl.fields dt")
        .into_iter()
        .zip(texts(&p.doc, "dl.fields dd"))
        .collect();
    assert!(
        fields.contains(&("Featured".into(), "Yes".into())),
        "{fields:?}"
    );

    // The project's view launches from the project's template into the project.
    b.cookies.insert("stratus_project".into(), pid.clone());
    let net = c.ok("listNetworks", &[("zoneid", &zone)]).await["network"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let launched = b
        .post(
            "/console/instances/new",
            &[
                ("at", "review"),
                ("go", "launch"),
                ("zoneid", &zone),
                ("isoid", &format!("template:{team}")),
                ("serviceofferingid", "00000000-0000-4000-8003-000000000001"),
                ("networkid", &net),
                ("name", "team-vm"),
            ],
        )
        .await;
    assert!(launched.status.is_success(), "{}", launched.status);
    let vms = c
        .ok(
            "listVirtualMachines",
            &[("projectid", &pid), ("name", "team-vm")],
        )
        .await;
    assert_eq!(vms["count"], 1, "the project's instance: {vms}");
    assert_eq!(vms["virtualmachine"][0]["templateid"], team.as_str());
    assert_eq!(vms["virtualmachine"][0]["projectid"], pid.as_str());
}

/// Issue 16's console: a data volume is created from the Volumes page, then its page
/// offers what its state allows (attach to an instance of its owner, resize, migrate to
/// another pool, delete while detached; detach while attached), each through its
/// command; an admin's Running instance offers Migrate to the hosts findHostsForMigration
/// finds suitable. (Files over NFS and hot-plug are `volumes.rs`'s and `e2e_volumes`'s:
/// here the volume stays Allocated, or is marked Ready, so nothing touches a pool.)
#[tokio::test]
async fn data_volumes_and_migration_from_the_console() {
    let c = Client::admin().await;
    seeded_vms(&c, "vol-zone", 63, 2).await;
    let zone = c.ok("listZones", &[]).await["zone"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let vms = c.ok("listVirtualMachines", &[("listall", "true")]).await;
    let vm_ids: Vec<String> = (0..2)
        .map(|i| vms["virtualmachine"][i]["id"].as_str().unwrap().to_string())
        .collect();
    let second_name = vms["virtualmachine"][1]["displayname"]
        .as_str()
        .unwrap()
        .to_string();
    // Two pools (each with a root volume of one of the instances).
    root_volume(&c, &zone, &vm_ids[0], "vr1").await;
    root_volume(&c, &zone, &vm_ids[1], "vr2").await;
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let mut b = Browser::login(&c).await;
    let actions = |p: &Page| -> Vec<String> {
        p.doc
            .select(&sel("#actions form"))
            .map(|f| f.value().attr("data-action").unwrap_or("").to_string())
            .collect()
    };
    let field_of = |p: &Page, name: &str| -> String {
        texts(&p.doc, "dl.fields dt")
            .into_iter()
            .zip(texts(&p.doc, "dl.fields dd"))
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_default()
    };

    let l = b.get("/console/volumes").await;
    assert!(
        texts(&l.doc, "a").contains(&"Create volume".to_string()),
        "the list offers Create volume"
    );
    // A refusal keeps the form as filled, with the reason.
    let f = b.get("/console/volumes/new").await;
    let p = b
        .submit(
            &f,
            "#form",
            &[
                ("name", "data1"),
                ("zoneid", &zone),
                ("diskofferingid", "00000000-0000-4000-8004-000000000004"),
                ("size", ""),
            ],
            None,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text1(&p.doc, "#form .error").contains("size"),
        "{}",
        p.doc.html()
    );
    assert_eq!(attr(&p.doc, "#f-name", "value"), "data1");
    let p = b
        .submit(
            &p,
            "#form",
            &[
                ("diskofferingid", "00000000-0000-4000-8004-000000000004"),
                ("size", "2"),
            ],
            None,
        )
        .await;
    assert!(flash(&p).contains("created"), "{}", flash(&p));
    assert!(p.path.starts_with("/console/volumes/"), "{}", p.path);
    let page = p.path.clone();
    let id = page.rsplit('/').next().unwrap().to_string();
    assert_eq!(text1(&p.doc, ".head .badge"), "Allocated");
    assert_eq!(field_of(&p, "Size"), "2.00 GiB");
    assert_eq!(actions(&p), ["attach", "resize", "migrate", "delete"]);
    let mut choices = texts(
        &p.doc,
        "#actions form[data-action=attach] select[name=virtualmachineid] option",
    );
    choices.sort();
    assert_eq!(choices, ["seed-1 (Running)", "seed-2 (Running)"]);

    // Resize: a shrink only when allowed.
    let p = b
        .post(
            &format!("{page}/action"),
            &[("action", "resize"), ("size", "3")],
        )
        .await;
    assert!(flash(&p).contains("resized"), "{}", flash(&p));
    assert_eq!(field_of(&p, "Size"), "3.00 GiB");
    let p = b
        .post(
            &format!("{page}/action"),
            &[("action", "resize"), ("size", "1")],
        )
        .await;
    assert!(flash(&p).contains("shrinkok"), "{}", flash(&p));
    assert_eq!(field_of(&p, "Size"), "3.00 GiB");
    let p = b
        .post(
            &format!("{page}/action"),
            &[("action", "resize"), ("size", "lots")],
        )
        .await;
    assert!(flash(&p).contains("whole GiB"), "{}", flash(&p));

    // Migrate to the other pool (an Allocated volume's pool is not shown, as CloudStack's
    // is not, so both are offered and the one it is on refuses).
    let pool_of = || async {
        sqlx::query_scalar::<_, Uuid>("SELECT pool_id FROM volumes WHERE id = $1")
            .bind(id.parse::<Uuid>().unwrap())
            .fetch_one(&c.ctx.pool)
            .await
            .unwrap()
    };
    let before = pool_of().await;
    let pools = p
        .doc
        .select(&sel(
            "#actions form[data-action=migrate] select[name=storageid] option",
        ))
        .map(|o| o.value().attr("value").unwrap().parse::<Uuid>().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(pools.len(), 2);
    let p = b
        .post(
            &format!("{page}/action"),
            &[("action", "migrate"), ("storageid", &before.to_string())],
        )
        .await;
    assert!(flash(&p).contains("already"), "{}", flash(&p));
    let other = pools.iter().find(|p| **p != before).unwrap().to_string();
    let p = b
        .post(
            &format!("{page}/action"),
            &[("action", "migrate"), ("storageid", &other)],
        )
        .await;
    assert!(flash(&p).contains("moved"), "{}", flash(&p));
    assert_eq!(pool_of().await.to_string(), other);

    // Attach to a Stopped instance (recorded; its file would be made now, so the
    // volume is marked Ready first to keep this off NFS), then detach.
    db::vms::vm_set_state(
        &c.ctx.pool,
        vm_ids[1].parse().unwrap(),
        stratus_management::rules::vmstate::VmState::Stopped,
        None,
    )
    .await
    .unwrap();
    sqlx::query("UPDATE volumes SET state = 'Ready' WHERE id = $1")
        .bind(id.parse::<Uuid>().unwrap())
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let p = b
        .post(
            &format!("{page}/action"),
            &[("action", "attach"), ("virtualmachineid", &vm_ids[1])],
        )
        .await;
    assert!(flash(&p).contains("attached"), "{}", flash(&p));
    assert_eq!(field_of(&p, "Instance"), second_name);
    assert_eq!(actions(&p), ["detach", "resize", "snapshot"]);
    let i = b.get(&format!("/console/instances/{}", vm_ids[1])).await;
    assert!(
        texts(&i.doc, "table#volumes tbody td").contains(&"DATADISK".to_string()),
        "the instance lists its data volume"
    );
    let p = b
        .post(&format!("{page}/action"), &[("action", "detach")])
        .await;
    assert!(flash(&p).contains("detached"), "{}", flash(&p));
    assert_eq!(field_of(&p, "Instance"), "—");

    // Delete (detached; Allocated again, so no file is to be removed).
    sqlx::query("UPDATE volumes SET state = 'Allocated' WHERE id = $1")
        .bind(id.parse::<Uuid>().unwrap())
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let p = b
        .post(
            &format!("{page}/action"),
            &[("action", "delete"), ("confirm", "yes")],
        )
        .await;
    assert!(flash(&p).contains("deleted"), "{}", flash(&p));
    assert_eq!(p.path, "/console/volumes");
    let p = b
        .post(&format!("{page}/action"), &[("action", "explode")])
        .await;
    assert!(flash(&p).contains("Unknown action"), "{}", flash(&p));
    // A root volume's page offers none of these.
    let root = c
        .ok(
            "listVolumes",
            &[("virtualmachineid", &vm_ids[0]), ("listall", "true")],
        )
        .await["volume"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = b.get(&format!("/console/volumes/{root}")).await;
    // A root volume is its instance's: only a snapshot (issue 16) is offered.
    assert_eq!(actions(&p), ["snapshot"], "{:?}", actions(&p));

    // Migrate on a Running instance's page: the suitable hosts, or the best one.
    let cluster = c.ok("listClusters", &[]).await["cluster"][0].clone();
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
    let mut hosts_up = vec![];
    for (n, name) in [(31u8, "kvm-a"), (32, "kvm-b")] {
        let (h, token) = hosts::register(
            &c.ctx,
            &admin,
            zone.parse().unwrap(),
            cluster["podid"].as_str().unwrap().parse().unwrap(),
            cluster["id"].as_str().unwrap().parse().unwrap(),
            format!("10.0.0.{n}").parse().unwrap(),
            8250,
            name,
        )
        .await
        .unwrap();
        hosts::heartbeat(
            &c.ctx,
            h.id,
            Some(&token),
            &heartbeat(1, 5.0, 1 << 30, 0),
            None,
        )
        .await
        .unwrap();
        hosts_up.push(Uuid::from(h.id));
    }
    sqlx::query("UPDATE vms SET host_id = $1 WHERE id = $2")
        .bind(hosts_up[0])
        .bind(vm_ids[0].parse::<Uuid>().unwrap())
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let i = b.get(&format!("/console/instances/{}", vm_ids[0])).await;
    assert!(
        actions(&i).contains(&"migrate".to_string()),
        "{:?}",
        actions(&i)
    );
    assert_eq!(
        texts(
            &i.doc,
            "#actions form[data-action=migrate] select[name=hostid] option"
        ),
        ["The best host", "kvm-b"]
    );
    // A Stopped instance has no Migrate.
    let i = b.get(&format!("/console/instances/{}", vm_ids[1])).await;
    assert!(!actions(&i).contains(&"migrate".to_string()));
}

/// A host's page lists the instances placed on it and, while prepareHostForMaintenance
/// empties it, how many are still to move (refreshing itself); when maintenance could not
/// empty it, what is left and what the admin can do (issue 16).
#[tokio::test]
async fn a_hosts_page_shows_its_instances_and_the_maintenance_progress() {
    let c = Client::admin().await;
    let host = seeded_vms_on(&c, "mnt-zone", 64, 2, Some("kvm-mnt"))
        .await
        .unwrap()
        .to_string();
    let on_host = 2;
    let mut b = Browser::login(&c).await;
    let page = format!("/console/hosts/{host}");

    let p = b.get(&page).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        p.doc.select(&sel("table#host-instances tbody tr")).count(),
        on_host,
        "{}",
        p.doc.html()
    );
    assert_eq!(p.doc.select(&sel(".banner")).count(), 0, "no maintenance");
    assert_eq!(p.doc.select(&sel("meta[http-equiv=refresh]")).count(), 0);

    let id: stratus_management::ids::HostId = host.parse().unwrap();
    use stratus_management::rules::hoststate::ResourceState;
    db::hosts::host_set_resource_state(&c.ctx.pool, id, ResourceState::PrepareForMaintenance)
        .await
        .unwrap();
    let p = b.get(&page).await;
    let banner = text1(&p.doc, ".banner");
    assert!(banner.contains("Preparing for maintenance"), "{banner}");
    assert!(
        banner.contains("2 instances still on this host"),
        "{banner}"
    );
    assert_eq!(attr(&p.doc, "meta[http-equiv=refresh]", "content"), "5");

    db::hosts::host_set_resource_state(&c.ctx.pool, id, ResourceState::ErrorInMaintenance)
        .await
        .unwrap();
    let p = b.get(&page).await;
    let banner = text1(&p.doc, ".banner");
    assert!(
        banner.contains("could not empty this host") && banner.contains("could not be moved"),
        "{banner}"
    );
    assert_eq!(p.doc.select(&sel("meta[http-equiv=refresh]")).count(), 0);
}

/// Issue 16's volume snapshots from a volume's page, each through its command: a Ready
/// volume offers Take snapshot and lists its snapshots (a BackedUp one with Revert, New
/// volume and Delete) and its snapshot policies (added with a schedule, refused with the
/// reason for a bad one, removed). The snapshot's files are `snapshots.rs`'s and
/// `e2e_volumes`'s: here the volume is marked Ready and a BackedUp snapshot recorded
/// without a file, so nothing touches NFS.
#[tokio::test]
async fn volume_snapshots_from_the_console() {
    let c = Client::admin().await;
    seeded_vms(&c, "snap-zone", 64, 1).await;
    let zone = c.ok("listZones", &[]).await["zone"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let vms = c.ok("listVirtualMachines", &[("listall", "true")]).await;
    let vm = vms["virtualmachine"][0]["id"].as_str().unwrap().to_string();
    root_volume(&c, &zone, &vm, "sr1").await;
    let (_stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(stratus_management::front::jobs::run_worker(
        c.ctx.clone(),
        rx,
    ));
    let a = c
        .call(
            "createVolume",
            &[
                ("name", "snapdata"),
                ("zoneid", &zone),
                ("diskofferingid", "00000000-0000-4000-8004-000000000001"),
            ],
        )
        .await;
    let id = a.body()["id"].as_str().unwrap().to_string();
    c.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    let page = format!("/console/volumes/{id}");
    let mut b = Browser::login(&c).await;
    let actions = |p: &Page| -> Vec<String> {
        p.doc
            .select(&sel("#actions form"))
            .map(|f| f.value().attr("data-action").unwrap_or("").to_string())
            .collect()
    };
    // Allocated (no file): nothing to snapshot.
    let p = b.get(&page).await;
    assert!(!actions(&p).contains(&"snapshot".to_string()));
    sqlx::query("UPDATE volumes SET state = 'Ready' WHERE id = $1")
        .bind(id.parse::<Uuid>().unwrap())
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let p = b.get(&page).await;
    assert!(
        actions(&p).contains(&"snapshot".to_string()),
        "{:?}",
        actions(&p)
    );
    assert!(texts(&p.doc, "h2").contains(&"Snapshots".to_string()));
    assert!(texts(&p.doc, "h2").contains(&"Snapshot policies".to_string()));

    // A policy: refused with the reason, then added, listed, removed.
    let p = b
        .post(
            &format!("{page}/action"),
            &[
                ("action", "addpolicy"),
                ("intervaltype", "DAILY"),
                ("schedule", "99"),
                ("timezone", "UTC"),
                ("maxsnaps", "3"),
            ],
        )
        .await;
    assert!(flash(&p).contains("MM:HH"), "{}", flash(&p));
    let p = b
        .post(
            &format!("{page}/action"),
            &[
                ("action", "addpolicy"),
                ("intervaltype", "DAILY"),
                ("schedule", "15:02"),
                ("timezone", "UTC+01:00"),
                ("maxsnaps", "3"),
            ],
        )
        .await;
    assert!(flash(&p).contains("policy is added"), "{}", flash(&p));
    let row = texts(&p.doc, "#snapshotpolicies tbody td");
    assert!(
        row.contains(&"15:02".to_string()) && row.contains(&"DAILY".to_string()),
        "{row:?}"
    );
    let pol = c.ok("listSnapshotPolicies", &[("volumeid", &id)]).await["snapshotpolicy"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = b
        .post(
            &format!("{page}/action"),
            &[("action", "removepolicy"), ("policyid", &pol)],
        )
        .await;
    assert!(flash(&p).contains("removed"), "{}", flash(&p));
    let l = c.ok("listSnapshotPolicies", &[("volumeid", &id)]).await;
    assert_eq!(l["count"].as_i64().unwrap_or(0), 0, "{l}");

    // A BackedUp snapshot (recorded without a file) is listed with its actions; Delete
    // goes through deleteSnapshot.
    let admin_acct: Uuid = sqlx::query_scalar("SELECT account_id FROM volumes WHERE id = $1")
        .bind(id.parse::<Uuid>().unwrap())
        .fetch_one(&c.ctx.pool)
        .await
        .unwrap();
    let sid = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO snapshots (id, name, account_id, domain_id, volume_id, zone_id, virtual_size, state)
         SELECT $1, 'nightly', $2, domain_id, id, zone_id, size_bytes, 'BackedUp' FROM volumes WHERE id = $3",
    )
    .bind(sid)
    .bind(admin_acct)
    .bind(id.parse::<Uuid>().unwrap())
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    let p = b.get(&page).await;
    let cells = texts(&p.doc, "#snapshots tbody td");
    assert!(cells.contains(&"nightly".to_string()), "{cells:?}");
    let row_actions: Vec<String> = p
        .doc
        .select(&sel("#snapshots form"))
        .map(|f| f.value().attr("data-action").unwrap_or("").to_string())
        .collect();
    assert_eq!(row_actions, ["revert", "fromsnapshot", "deletesnapshot"]);
    let p = b
        .post(
            &format!("{page}/action"),
            &[
                ("action", "deletesnapshot"),
                ("snapshotid", &sid.to_string()),
            ],
        )
        .await;
    assert!(flash(&p).contains("snapshot is deleted"), "{}", flash(&p));
    let l = c
        .ok("listSnapshots", &[("volumeid", &id), ("listall", "true")])
        .await;
    assert_eq!(l["count"].as_i64().unwrap_or(0), 0, "{l}");
}

/// Records a snapshot of volume `vol` straight into the database (no file: nothing here
/// touches NFS), owned by the volume's account, in `state`, of `interval` (MANUAL:
/// taken by hand; else a policy's, RECURRING). Answers its id.
async fn recorded_snapshot(
    c: &Client,
    vol: &str,
    name: &str,
    state: &str,
    interval: &str,
    age_minutes: i32,
) -> Uuid {
    let sid = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO snapshots (id, name, account_id, domain_id, volume_id, zone_id, virtual_size,
                                physical_size, state, interval_type, created)
         SELECT $1, $2, account_id, domain_id, id, zone_id, size_bytes, 3 << 20, $3, $4,
                now() - make_interval(mins => $6)
           FROM volumes WHERE id = $5",
    )
    .bind(sid)
    .bind(name)
    .bind(state)
    .bind(interval)
    .bind(vol.parse::<Uuid>().unwrap())
    .bind(age_minutes)
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    sid
}

/// The `data-action`s of the forms matched by `s`.
fn form_actions(p: &Page, s: &str) -> Vec<String> {
    p.doc
        .select(&sel(s))
        .map(|f| f.value().attr("data-action").unwrap_or("").to_string())
        .collect()
}

/// Issue 16's Snapshots page: every volume snapshot the caller may see (a root admin:
/// everyone's; a user: their own), with its volume linked, state, type, interval, size
/// and date, filtered (keyword, state, type, zone), paged, names escaped; each row offers
/// what CloudStack allows (Revert while its volume is live, Create volume and Create
/// template from a BackedUp one, Delete unless it is being made), each through its
/// command, a refusal shown with the command's reason and the list kept as filtered.
#[tokio::test]
async fn the_snapshots_page_lists_filters_pages_and_acts() {
    let c = Client::admin().await;
    seeded_vms(&c, "snl-zone", 65, 1).await;
    let zone = c.ok("listZones", &[]).await["zone"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let vm = c.ok("listVirtualMachines", &[("listall", "true")]).await["virtualmachine"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The Running instance's root volume, and a data volume of nobody's instance.
    root_volume(&c, &zone, &vm, "snl-root").await;
    let root = c
        .ok(
            "listVolumes",
            &[("virtualmachineid", &vm), ("listall", "true")],
        )
        .await["volume"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let _jobs = c.spawn_job_worker();
    let a = c
        .call(
            "createVolume",
            &[
                ("name", "snl-data"),
                ("zoneid", &zone),
                ("diskofferingid", "00000000-0000-4000-8004-000000000001"),
            ],
        )
        .await;
    let data = a.body()["id"].as_str().unwrap().to_string();
    c.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    sqlx::query("UPDATE volumes SET state = 'Ready' WHERE id = $1")
        .bind(data.parse::<Uuid>().unwrap())
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let nightly = recorded_snapshot(&c, &data, "nightly", "BackedUp", "MANUAL", 30).await;
    let hourly = recorded_snapshot(&c, &data, "hourly-1", "Creating", "HOURLY", 20).await;
    let rootsnap = recorded_snapshot(&c, &root, "root-before", "BackedUp", "MANUAL", 10).await;
    let evil = recorded_snapshot(&c, &data, "<b>bold</b>", "Error", "MANUAL", 40).await;
    // Bob's own snapshot, of his own volume (made by the admin: a user may not create in
    // a disabled zone, and handed over).
    c.user("bob").await;
    let a = c
        .call(
            "createVolume",
            &[
                ("name", "bob-data"),
                ("zoneid", &zone),
                ("diskofferingid", "00000000-0000-4000-8004-000000000001"),
            ],
        )
        .await;
    let bob_vol = a.body()["id"].as_str().unwrap().to_string();
    c.wait_job(a.body()["jobid"].as_str().unwrap()).await;
    let bob_acct: Uuid = c.ok("listAccounts", &[("name", "bob")]).await["account"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    sqlx::query("UPDATE volumes SET account_id = $1 WHERE id = $2")
        .bind(bob_acct)
        .bind(bob_vol.parse::<Uuid>().unwrap())
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let bobs = recorded_snapshot(&c, &bob_vol, "bob-snap", "BackedUp", "DAILY", 50).await;

    let mut b = Browser::login(&c).await;
    let p = b.get("/console/dashboard").await;
    assert_eq!(
        attr(&p.doc, "nav.side a[href='/console/snapshots']", "href"),
        "/console/snapshots",
        "the navigation has Snapshots"
    );
    let p = b.get("/console/snapshots").await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        text1(&p.doc, "h1 .count"),
        "(5)",
        "the admin sees everyone's"
    );
    assert_eq!(
        attr(&p.doc, "nav.side a.active", "href"),
        "/console/snapshots"
    );
    assert_eq!(
        texts(&p.doc, "table#list thead th"),
        ["Name", "Volume", "State", "Type", "Size", "Zone", "Account", "Created", ""]
    );
    // Newest first (listSnapshots' order).
    assert_eq!(
        texts(&p.doc, "table#list tbody td:nth-child(1)"),
        [
            "root-before",
            "hourly-1",
            "nightly",
            "<b>bold</b>",
            "bob-snap"
        ]
    );
    let row = row_of(&p.doc, "list", &nightly.to_string());
    assert_eq!(
        &row[..6],
        ["nightly", "snl-data", "BackedUp", "MANUAL", "3.00 MiB", "snl-zone"],
        "{row:?}"
    );
    assert_eq!(
        attr(
            &p.doc,
            &format!("tr[data-id='{nightly}'] td:nth-child(2) a"),
            "href"
        ),
        format!("/console/volumes/{data}")
    );
    let row = row_of(&p.doc, "list", &hourly.to_string());
    assert_eq!(&row[2..4], ["Creating", "RECURRING"], "{row:?}");
    assert_eq!(row_of(&p.doc, "list", &bobs.to_string())[6], "bob");
    // Escaped: the name is text, not markup.
    assert_eq!(p.doc.select(&sel("table#list b")).count(), 0);
    assert!(p.doc.html().contains("&lt;b&gt;bold&lt;/b&gt;"));
    // What each row offers.
    let acts = |p: &Page, id: Uuid| form_actions(p, &format!("tr[data-id='{id}'] form"));
    assert_eq!(
        acts(&p, nightly),
        ["revert", "createvolume", "createtemplate", "delete"]
    );
    assert_eq!(
        acts(&p, hourly),
        Vec::<String>::new(),
        "being made: nothing"
    );
    assert_eq!(acts(&p, evil), ["delete"]);
    assert!(
        p.doc
            .select(&sel(&format!(
                "tr[data-id='{nightly}'] form[data-action=createtemplate] select[name=ostypeid] option"
            )))
            .count()
            > 1,
        "the template form offers the OS types"
    );
    // Something is being made: the page refreshes itself.
    assert_eq!(p.doc.select(&sel("meta[http-equiv=refresh]")).count(), 1);

    // Filters: keyword, state (here), type and zone (the command's).
    let names = |p: &Page| texts(&p.doc, "table#list tbody td:nth-child(1)");
    let p = b.get("/console/snapshots?keyword=night").await;
    assert_eq!(names(&p), ["nightly"]);
    let p = b.get("/console/snapshots?snapshottype=RECURRING").await;
    assert_eq!(names(&p), ["hourly-1", "bob-snap"]);
    assert_eq!(
        attr(&p.doc, "#filter-snapshottype option[selected]", "value"),
        "RECURRING"
    );
    let p = b.get("/console/snapshots?state=BackedUp").await;
    assert_eq!(names(&p), ["root-before", "nightly", "bob-snap"]);
    assert_eq!(p.doc.select(&sel("meta[http-equiv=refresh]")).count(), 0);
    let p = b.get(&format!("/console/snapshots?zoneid={zone}")).await;
    assert_eq!(names(&p).len(), 5);
    let p = b
        .get("/console/snapshots?zoneid=00000000-0000-4000-8000-00000000dead")
        .await;
    assert_eq!(names(&p).len(), 5, "an unknown zone is no filter");
    let p = b.get("/console/snapshots?sort=name&order=asc").await;
    assert_eq!(
        names(&p),
        [
            "<b>bold</b>",
            "bob-snap",
            "hourly-1",
            "nightly",
            "root-before"
        ]
    );

    // Revert while the volume's instance runs: refused, with the command's reason, back
    // on the list as it was filtered.
    let p = b.get("/console/snapshots?state=BackedUp").await;
    let p = b
        .submit(
            &p,
            &format!("tr[data-id='{rootsnap}'] form[data-action=revert]"),
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("is Running: stop it"), "{}", flash(&p));
    assert_eq!(p.doc.select(&sel(".flash.error")).count(), 1);
    assert_eq!(p.path, "/console/snapshots?state=BackedUp");
    // A template needs a name: the command's refusal is shown.
    let p = b
        .submit(
            &p,
            &format!("tr[data-id='{nightly}'] form[data-action=createtemplate]"),
            &[("name", "")],
            None,
        )
        .await;
    assert_eq!(
        p.doc.select(&sel(".flash.error")).count(),
        1,
        "{}",
        flash(&p)
    );
    assert!(flash(&p).contains("name"), "{}", flash(&p));
    // Delete goes through deleteSnapshot.
    let p = b.get("/console/snapshots?keyword=bold").await;
    let p = b
        .submit(
            &p,
            &format!("tr[data-id='{evil}'] form[data-action=delete]"),
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("snapshot is deleted"), "{}", flash(&p));
    assert_eq!(p.path, "/console/snapshots?keyword=bold");
    assert_eq!(p.doc.select(&sel("table#list tbody tr")).count(), 0);
    let l = c
        .ok(
            "listSnapshots",
            &[("id", &evil.to_string()), ("listall", "true")],
        )
        .await;
    assert_eq!(l["count"].as_i64().unwrap_or(0), 0, "{l}");
    // A forged form does nothing.
    let a = c
        .raw(form(
            "/console/snapshots/action",
            &urlencode(&[("action", "delete"), ("snapshotid", &nightly.to_string())]),
            Some(&b.cookie_header()),
        ))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // Paged like the other lists.
    for i in 0..50 {
        recorded_snapshot(
            &c,
            &data,
            &format!("bulk-{i:02}"),
            "BackedUp",
            "DAILY",
            100 + i,
        )
        .await;
    }
    let p = b.get("/console/snapshots").await;
    assert_eq!(text1(&p.doc, "h1 .count"), "(54)");
    assert_eq!(p.doc.select(&sel("table#list tbody tr")).count(), 50);
    assert_eq!(text1(&p.doc, ".pager span"), "Page 1 of 2");
    let next = attr(&p.doc, ".pager a[rel=next]", "href");
    assert_eq!(next, "/console/snapshots?page=2");
    let p = b.get(&next).await;
    assert_eq!(p.doc.select(&sel("table#list tbody tr")).count(), 4);

    // A user sees their own only.
    let mut u = Browser::login_as(&c, "bob", "bob-pw-1").await;
    let p = u.get("/console/snapshots").await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(names(&p), ["bob-snap"]);
    assert_eq!(p.doc.select(&sel("#filter-account")).count(), 0);
    // Another's snapshot is not found for them.
    let p = u
        .post(
            "/console/snapshots/action",
            &[("action", "delete"), ("snapshotid", &nightly.to_string())],
        )
        .await;
    assert_eq!(
        p.doc.select(&sel(".flash.error")).count(),
        1,
        "{}",
        flash(&p)
    );
    assert_eq!(
        c.ok(
            "listSnapshots",
            &[("id", &nightly.to_string()), ("listall", "true")]
        )
        .await["count"],
        1
    );
}

/// Issue 16's VM snapshots on an instance's page: listed with name, description, type,
/// state, current and parent; taken with the form (with memory only while the instance
/// runs — KVM refuses a running guest's disks alone, and the page shows the command's
/// words), reverted to (refused when it would change the instance's state), deleted,
/// each through its command as an async job.
#[tokio::test]
async fn vm_snapshots_from_an_instance_page() {
    let c = Client::admin().await;
    seeded_vms(&c, "vms-zone", 66, 1).await;
    let vm = c.ok("listVirtualMachines", &[("listall", "true")]).await["virtualmachine"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let _jobs = c.spawn_job_worker();
    let set_state = |state: &'static str| {
        let (pool, vm) = (c.ctx.pool.clone(), vm.parse::<Uuid>().unwrap());
        async move {
            sqlx::query("UPDATE vms SET state = $1 WHERE id = $2")
                .bind(state)
                .bind(vm)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    let page = format!("/console/instances/{vm}");
    let mut b = Browser::login(&c).await;
    let p = b.get(&page).await;
    assert!(texts(&p.doc, "h2").contains(&"VM snapshots".to_string()));
    assert!(texts(&p.doc, "p.empty").contains(&"No VM snapshots.".to_string()));
    // Running: the form takes the memory too (ticked).
    let take = "form[data-action=vmsnapshot]";
    assert!(p
        .doc
        .select(&sel(&format!("{take} input[name=snapshotmemory][checked]")))
        .next()
        .is_some());
    // Without it, KVM's refusal, in the command's words.
    let p = b
        .submit(
            &p,
            take,
            &[("name", "disk-only"), ("snapshotmemory", "false")],
            None,
        )
        .await;
    assert!(flash(&p).contains("disk-only snapshot"), "{}", flash(&p));
    assert_eq!(p.path, page);
    assert_eq!(p.doc.select(&sel("table#vmsnapshots tbody tr")).count(), 0);

    // Stopped (no volumes here, so nothing to touch on disk): its disks, no memory box.
    set_state("Stopped").await;
    let p = b.get(&page).await;
    assert_eq!(
        p.doc
            .select(&sel(&format!("{take} input[name=snapshotmemory]")))
            .count(),
        0
    );
    let p = b
        .submit(
            &p,
            take,
            &[
                ("name", "before-upgrade"),
                ("description", "<i>kernel 6</i>"),
            ],
            None,
        )
        .await;
    assert!(flash(&p).contains("VM snapshot is taken"), "{}", flash(&p));
    let p = b.submit(&p, take, &[("name", "second")], None).await;
    assert!(flash(&p).contains("VM snapshot is taken"), "{}", flash(&p));
    let list = c
        .ok(
            "listVMSnapshot",
            &[("virtualmachineid", &vm), ("listall", "true")],
        )
        .await;
    let id_of = |name: &str| -> String {
        list["vmSnapshot"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["displayname"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (first, second) = (id_of("before-upgrade"), id_of("second"));
    assert_eq!(
        &row_of(&p.doc, "vmsnapshots", &first)[..6],
        [
            "before-upgrade",
            "<i>kernel 6</i>",
            "Disk",
            "Ready",
            "No",
            "—"
        ]
    );
    assert_eq!(
        &row_of(&p.doc, "vmsnapshots", &second)[..6],
        ["second", "", "Disk", "Ready", "Yes", "before-upgrade"]
    );
    assert_eq!(
        p.doc.select(&sel("table#vmsnapshots i")).count(),
        0,
        "escaped"
    );
    let acts =
        |p: &Page, id: &str| form_actions(p, &format!("table#vmsnapshots tr[data-id='{id}'] form"));
    assert_eq!(acts(&p, &first), ["vmsnapshotrevert", "vmsnapshotdelete"]);

    // Running again: reverting to a disk-only snapshot would stop it, so it is refused.
    set_state("Running").await;
    let p = b.get(&page).await;
    let p = b
        .submit(
            &p,
            &format!("tr[data-id='{first}'] form[data-action=vmsnapshotrevert]"),
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("VM Snapshot revert not allowed"),
        "{}",
        flash(&p)
    );
    assert_eq!(p.doc.select(&sel(".flash.error")).count(), 1);
    assert_eq!(row_of(&p.doc, "vmsnapshots", &second)[4], "Yes");
    // Stopped: reverted; the snapshot is the current one.
    set_state("Stopped").await;
    let p = b.get(&page).await;
    let p = b
        .submit(
            &p,
            &format!("tr[data-id='{first}'] form[data-action=vmsnapshotrevert]"),
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("reverted"), "{}", flash(&p));
    assert_eq!(row_of(&p.doc, "vmsnapshots", &first)[4], "Yes");
    assert_eq!(row_of(&p.doc, "vmsnapshots", &second)[4], "No");
    // One changing state: no actions on it, and the page refreshes itself.
    sqlx::query("UPDATE vm_snapshots SET state = 'Expunging' WHERE id = $1")
        .bind(second.parse::<Uuid>().unwrap())
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let p = b.get(&page).await;
    assert_eq!(acts(&p, &second), Vec::<String>::new());
    assert_eq!(p.doc.select(&sel("meta[http-equiv=refresh]")).count(), 1);
    sqlx::query("UPDATE vm_snapshots SET state = 'Ready' WHERE id = $1")
        .bind(second.parse::<Uuid>().unwrap())
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    // Deleted.
    let p = b.get(&page).await;
    assert_eq!(p.doc.select(&sel("meta[http-equiv=refresh]")).count(), 0);
    let p = b
        .submit(
            &p,
            &format!("tr[data-id='{second}'] form[data-action=vmsnapshotdelete]"),
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("VM snapshot is deleted"),
        "{}",
        flash(&p)
    );
    assert_eq!(
        texts(&p.doc, "table#vmsnapshots tbody td:nth-child(1)"),
        ["before-upgrade"]
    );
    // A destroyed instance takes no new snapshot.
    set_state("Destroyed").await;
    let p = b.get(&page).await;
    assert_eq!(p.doc.select(&sel(take)).count(), 0);
}

/// An Advanced zone made through the API, with a physical network (VXLAN 5000-5099)
/// carrying guest traffic on cloudbr0.
async fn zone_with_physical_network(c: &Client) -> (String, String) {
    let z = c
        .ok(
            "createZone",
            &[
                ("name", "pz"),
                ("networktype", "Advanced"),
                ("dns1", "1.1.1.1"),
                ("internaldns1", "10.0.0.1"),
            ],
        )
        .await;
    let zid = z["zone"]["id"].as_str().unwrap().to_string();
    let j = c
        .ok(
            "createPhysicalNetwork",
            &[
                ("zoneid", &zid),
                ("name", "phys"),
                ("vlan", "5000-5099"),
                ("isolationmethods", "VXLAN"),
            ],
        )
        .await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    let pid = done["jobresult"]["physicalnetwork"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let j = c
        .ok(
            "addTrafficType",
            &[
                ("physicalnetworkid", &pid),
                ("traffictype", "Guest"),
                ("kvmnetworklabel", "cloudbr0"),
            ],
        )
        .await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    (zid, pid)
}

/// A physical network's page (issue 15): its range and state edited through
/// updatePhysicalNetwork, the API's refusal as the flash; its traffic labels edited
/// through updateTrafficType; its providers listed with their state.
#[tokio::test]
async fn a_physical_network_page_edits_its_range_state_and_labels() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let (zid, pid) = zone_with_physical_network(&c).await;
    let mut b = Browser::login(&c).await;
    let z = b.get(&format!("/console/zones/{zid}")).await;
    assert_eq!(
        attr(&z.doc, "table#physical-networks a", "href"),
        format!("/console/physical-networks/{pid}")
    );
    let p = b.get(&format!("/console/physical-networks/{pid}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(text1(&p.doc, "h1"), "phys");
    assert_eq!(
        attr(&p.doc, "form[data-action=update] input[name=vlan]", "value"),
        "5000-5099"
    );
    assert!(text1(&p.doc, "table#traffic-types").contains("cloudbr0"));
    assert!(
        text1(&p.doc, "table#providers").contains("VirtualRouter"),
        "{}",
        text1(&p.doc, "table#providers")
    );
    // The range and the state.
    let p = b
        .submit(
            &p,
            "form[data-action=update]",
            &[("vlan", "6000-6099"), ("state", "Enabled")],
            None,
        )
        .await;
    assert!(flash(&p).contains("was updated"), "{}", flash(&p));
    let pn = &c.ok("listPhysicalNetworks", &[("id", &pid)]).await["physicalnetwork"][0];
    assert_eq!(pn["vlan"], "6000-6099");
    assert_eq!(pn["state"], "Enabled");
    // A range the API refuses: its text is the flash, nothing changes.
    let p = b
        .submit(&p, "form[data-action=update]", &[("vlan", "9-x")], None)
        .await;
    assert!(
        flash(&p).contains("Please provide valid vnet range"),
        "{}",
        flash(&p)
    );
    let pn = &c.ok("listPhysicalNetworks", &[("id", &pid)]).await["physicalnetwork"][0];
    assert_eq!(pn["vlan"], "6000-6099");
    // A state the API refuses (hostile input): its text, no panic.
    let p = b
        .submit(
            &p,
            "form[data-action=update]",
            &[("vlan", ""), ("state", "<b>on</b>")],
            None,
        )
        .await;
    assert!(flash(&p).contains("{Enabled or Disabled}"), "{}", flash(&p));
    assert!(p.doc.select(&sel(".flash b")).next().is_none(), "escaped");
    // A traffic label.
    let p = b
        .submit(
            &p,
            "table#traffic-types form[data-action=label]",
            &[("kvmnetworklabel", "cloudbr7")],
            None,
        )
        .await;
    assert!(flash(&p).contains("label was changed"), "{}", flash(&p));
    let t = c
        .ok("listTrafficTypes", &[("physicalnetworkid", &pid)])
        .await;
    assert_eq!(t["traffictype"][0]["kvmnetworklabel"], "cloudbr7");
    let p = b
        .submit(
            &p,
            "table#traffic-types form[data-action=label]",
            &[("kvmnetworklabel", "no such bridge")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("Invalid KVM network label"),
        "{}",
        flash(&p)
    );
    // Not a page for users.
    c.ok(
        "createAccount",
        &[
            ("username", "pat"),
            ("password", "pat-pw-123"),
            ("email", "pat@example.org"),
            ("firstname", "P"),
            ("lastname", "U"),
            ("accounttype", "0"),
        ],
    )
    .await;
    let mut u = Browser::login_as(&c, "pat", "pat-pw-123").await;
    let p = u.get(&format!("/console/physical-networks/{pid}")).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

/// Network offerings from the console (issue 15): created enabled with the services
/// listSupportedNetworkServices names, disabled, enabled, deleted; a default offering's
/// delete is refused with the API's text.
#[tokio::test]
async fn network_offerings_are_created_disabled_and_deleted() {
    let c = Client::admin().await;
    let mut b = Browser::login(&c).await;
    let p = b.get("/console/network-offerings").await;
    assert_eq!(
        attr(&p.doc, "nav a.active", "href"),
        "/console/network-offerings"
    );
    assert!(
        text1(&p.doc, "table#list").contains("DefaultIsolatedNetworkOfferingWithSourceNatService")
    );
    let p = b.get("/console/network-offerings/new").await;
    for svc in ["Dhcp", "Dns", "SourceNat", "Firewall", "PortForwarding"] {
        let s = format!("input[type=checkbox][name='service.{svc}']");
        assert_eq!(p.doc.select(&sel(&s)).count(), 1, "{svc}");
    }
    // Refused by the API (port forwarding without source NAT): the form again, kept.
    let bad = b
        .submit(
            &p,
            "#form",
            &[
                ("name", "web-net"),
                ("displaytext", "Web networks"),
                ("guestiptype", "Isolated"),
                ("service.Dhcp", "true"),
                ("service.PortForwarding", "true"),
            ],
            None,
        )
        .await;
    refused_keeping_input(&bad, "needs the SourceNat service", "web-net");
    let p = b
        .submit(&bad, "#form", &[("service.SourceNat", "true")], None)
        .await;
    assert!(flash(&p).contains("web-net was added"), "{}", flash(&p));
    let o =
        c.ok("listNetworkOfferings", &[("name", "web-net")]).await["networkoffering"][0].clone();
    assert_eq!(o["state"], "Enabled");
    assert_eq!(o["guestiptype"], "Isolated");
    assert_eq!(o["egressdefaultpolicy"], true);
    let mut services: Vec<&str> = o["service"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    services.sort();
    assert_eq!(services, ["Dhcp", "PortForwarding", "SourceNat"]);
    let id = o["id"].as_str().unwrap().to_string();
    // Its page: disable, then delete.
    let p = b.get(&format!("/console/network-offerings/{id}")).await;
    assert_eq!(text1(&p.doc, "h1"), "web-net");
    assert!(text1(&p.doc, "table#services").contains("SourceNat"));
    let p = b
        .submit(&p, "#actions form[data-action=disable]", &[], None)
        .await;
    assert!(flash(&p).contains("was disabled"), "{}", flash(&p));
    let o = &c.ok("listNetworkOfferings", &[("id", &id)]).await["networkoffering"][0];
    assert_eq!(o["state"], "Disabled");
    let p = b
        .submit(
            &p,
            "#actions form[data-action=delete]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("was deleted"), "{}", flash(&p));
    let left = c.ok("listNetworkOfferings", &[("id", &id)]).await;
    assert_eq!(left["count"].as_i64().unwrap_or(0), 0, "{left}");
    // A default offering cannot be deleted: the API's text.
    let d = c
        .ok(
            "listNetworkOfferings",
            &[("name", "DefaultIsolatedNetworkOfferingWithSourceNatService")],
        )
        .await["networkoffering"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = b.get(&format!("/console/network-offerings/{d}")).await;
    let p = b
        .submit(
            &p,
            "#actions form[data-action=delete]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("Default network offering can't be deleted"),
        "{}",
        flash(&p)
    );
    let still = c.ok("listNetworkOfferings", &[("id", &d)]).await;
    assert_eq!(still["count"], 1);
}

/// An Advanced zone ready for isolated networks: the physical network above with Public
/// traffic too (cloudbr1), enabled, and a public range 203.0.113.10–19.
async fn zone_for_networks(c: &Client) -> String {
    let (zid, pid) = zone_with_physical_network(c).await;
    for (command, params) in [
        (
            "addTrafficType",
            vec![
                ("physicalnetworkid", pid.as_str()),
                ("traffictype", "Public"),
                ("kvmnetworklabel", "cloudbr1"),
            ],
        ),
        (
            "updatePhysicalNetwork",
            vec![("id", pid.as_str()), ("state", "Enabled")],
        ),
    ] {
        let j = c.ok(command, &params).await;
        let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
        assert_eq!(done["jobstatus"], 1, "{done}");
    }
    c.ok(
        "updateZone",
        &[("id", &zid), ("allocationstate", "Enabled")],
    )
    .await;
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zid),
            ("forvirtualnetwork", "true"),
            ("gateway", "203.0.113.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "203.0.113.10"),
            ("endip", "203.0.113.19"),
        ],
    )
    .await;
    zid
}

/// The Add Instance wizard in an Advanced zone (issue 15): an account with no network
/// there is offered a new default network (the deploy makes it, without networkids);
/// once it has one, its own isolated networks are offered instead. The zone enforces no
/// security groups.
#[tokio::test]
async fn the_wizard_offers_an_advanced_zones_networks() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let zid = zone_for_networks(&c).await;
    let nina = c.user("nina").await;
    let mut b = Browser::login_as(&c, "nina", "nina-pw-1").await;
    let so = c
        .ok("listServiceOfferings", &[("name", "Small Instance")])
        .await["serviceoffering"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let iso = Uuid::new_v4().to_string();
    let start = format!("/console/instances/new?zoneid={zid}&isoid={iso}&serviceofferingid={so}");
    let p = b.get(&start).await;
    let p = b.submit(&p, "#launch", &[], Some("edit:network")).await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "network");
    assert_eq!(
        texts(&p.doc, "#choices tbody label"),
        ["A new default network"]
    );
    assert_eq!(
        attr(&p.doc, "#choices input[type=radio][checked]", "value"),
        stratus_ui::launch::NEW_NETWORK
    );
    let p = b.submit(&p, "#launch", &[], Some("next")).await;
    assert_eq!(attr(&p.doc, "#launch", "data-step"), "securitygroups");
    assert!(text1(&p.doc, "#no-choices").contains("does not use security groups"));
    let p = b.submit(&p, "#launch", &[], Some("edit:review")).await;
    let review = texts(&p.doc, "#review tr[data-step=network] td:nth-child(2)");
    assert!(review[0].starts_with("A new default network"), "{review:?}");

    // With networks of its own (and another account's in the zone), those are offered.
    for name in ["web", "db"] {
        nina.ok(
            "createNetwork",
            &[
                ("name", name),
                ("networkofferingid", "5c0e6e1d-5a4e-4d0a-9b1e-000000000002"),
                ("zoneid", &zid),
            ],
        )
        .await;
    }
    c.ok(
        "createNetwork",
        &[
            ("name", "admins"),
            ("networkofferingid", "5c0e6e1d-5a4e-4d0a-9b1e-000000000002"),
            ("zoneid", &zid),
        ],
    )
    .await;
    let p = b.get(&start).await;
    let p = b.submit(&p, "#launch", &[], Some("edit:network")).await;
    let mut offered = texts(&p.doc, "#choices tbody label");
    offered.sort();
    assert_eq!(offered, ["db", "web"]);
    // Two: nothing is chosen for the user, and Next asks for one.
    let p = b.submit(&p, "#launch", &[], Some("next")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text1(&p.doc, "#launch-error"),
        "Network: choose one to go on."
    );
}

/// The networks pages (issue 15): a user adds an isolated network (the API's refusal
/// keeps the form), sees it listed, renames it, acquires public addresses, adds and
/// removes egress rules, is told why a never-implemented network cannot be restarted,
/// deletes a spare one; on an address's page adds firewall and port forwarding rules
/// (a conflict is the API's text), turns static NAT on and off and releases it. An
/// administrator sees the network's router and acts on it.
#[tokio::test]
async fn networks_public_ips_and_their_rules_from_the_console() {
    let c = Client::admin().await;
    let _jobs = c.spawn_job_worker();
    let zid = zone_for_networks(&c).await;
    let nina = c.user("nina").await;
    let mut b = Browser::login_as(&c, "nina", "nina-pw-1").await;

    let p = b.get("/console/networks").await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(attr(&p.doc, "nav a.active", "href"), "/console/networks");
    assert!(texts(&p.doc, ".empty").join(" ").contains("No networks"));
    let p = b.get("/console/networks/new").await;
    assert_eq!(texts(&p.doc, "#f-zoneid option"), ["pz"]);
    assert!(texts(&p.doc, "#f-networkofferingid option")
        .contains(&"DefaultIsolatedNetworkOfferingWithSourceNatService".to_string()));
    // A public subnet is refused: the API's text, the input kept.
    let bad = b
        .submit(
            &p,
            "#form",
            &[
                ("name", "web"),
                ("gateway", "8.8.8.1"),
                ("netmask", "255.255.255.0"),
            ],
            None,
        )
        .await;
    refused_keeping_input(&bad, "RFC 1918", "web");
    let p = b
        .submit(
            &bad,
            "#form",
            &[("gateway", "10.9.8.1"), ("networkdomain", "web.internal")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("Network web was created"),
        "{}",
        flash(&p)
    );
    assert_eq!(text1(&p.doc, "h1"), "web");
    let n = &nina.ok("listNetworks", &[("name", "web")]).await["network"][0];
    let net = n["id"].as_str().unwrap().to_string();
    assert_eq!(n["cidr"], "10.9.8.0/24");
    assert_eq!(p.path, format!("/console/networks/{net}"));
    assert!(text1(&p.doc, "#fields").contains("10.9.8.0/24"));
    // A user is no router admin: no router section.
    assert!(!texts(&p.doc, ".tabs a").contains(&"Router".to_string()));
    let l = b.get("/console/networks").await;
    assert_eq!(
        row_of(&l.doc, "list", &net)[..3],
        ["web".to_string(), "Allocated".into(), "Isolated".into()]
    );

    // Renamed.
    let p = b
        .submit(
            &p,
            "#actions form[data-action=update]",
            &[("name", "web-net"), ("displaytext", "The web tier")],
            None,
        )
        .await;
    assert!(flash(&p).contains("was updated"), "{}", flash(&p));
    assert_eq!(text1(&p.doc, "h1"), "web-net");
    // Restart before it was ever implemented: the API's refusal.
    let p = b
        .submit(&p, "#actions form[data-action=restart]", &[], None)
        .await;
    assert!(
        flash(&p).contains("not in the right state to be restarted"),
        "{}",
        flash(&p)
    );

    // Public addresses: the first is the source NAT one (never released from here).
    for _ in 0..3 {
        let now = b.get(&format!("/console/networks/{net}")).await;
        let p = b.submit(&now, "form[data-action=acquire]", &[], None).await;
        assert!(flash(&p).contains("was acquired"), "{}", flash(&p));
    }
    let p = b.get(&format!("/console/networks/{net}")).await;
    let rows = rows_of(&p.doc, "addresses");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows[0][..2],
        ["203.0.113.10".to_string(), "Source NAT".into()]
    );
    let ips = nina.ok("listPublicIpAddresses", &[]).await;
    let ip_of = |a: &str| {
        ips["publicipaddress"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["ipaddress"] == a)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (snat, fwd, nat) = (
        ip_of("203.0.113.10"),
        ip_of("203.0.113.11"),
        ip_of("203.0.113.12"),
    );
    assert_eq!(
        p.doc
            .select(&sel(&format!(
                "table#addresses tr[data-id='{snat}'] form[data-action=release]"
            )))
            .count(),
        0
    );

    // Egress rules: added, refused with the API's text (escaped), removed.
    let p = b
        .submit(
            &p,
            "form[data-action=egress-add]",
            &[
                ("protocol", "tcp"),
                ("startport", "443"),
                ("destcidrlist", "10.0.0.0/8"),
            ],
            None,
        )
        .await;
    assert!(flash(&p).contains("egress rule was added"), "{}", flash(&p));
    let eg = text1(&p.doc, "table#egress");
    assert!(eg.contains("443") && eg.contains("10.0.0.0/8"), "{eg}");
    let p = b
        .submit(
            &p,
            "form[data-action=egress-add]",
            &[("protocol", "<b>x</b>")],
            None,
        )
        .await;
    assert!(
        !flash(&p).is_empty() && !flash(&p).contains("was added"),
        "{}",
        flash(&p)
    );
    assert!(p.doc.select(&sel(".flash b")).next().is_none(), "escaped");
    let p = b
        .submit(
            &p,
            "table#egress form[data-action=egress-remove]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("egress rule was removed"),
        "{}",
        flash(&p)
    );
    let left = nina
        .ok("listEgressFirewallRules", &[("networkid", &net)])
        .await;
    assert_eq!(left["count"].as_i64().unwrap_or(0), 0, "{left}");

    // An address's page: firewall and port forwarding to an instance of the network.
    let vm = c.vm_in("nina", &zid, &net, "web1", "10.9.8.21").await;
    let p = b.get(&format!("/console/public-ips/{fwd}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(text1(&p.doc, "h1"), "203.0.113.11");
    assert_eq!(attr(&p.doc, "nav a.active", "href"), "/console/public-ips");
    let p = b
        .submit(
            &p,
            "form[data-action=fw-add]",
            &[
                ("protocol", "tcp"),
                ("startport", "80"),
                ("endport", "81"),
                ("cidrlist", "192.0.2.0/24"),
            ],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("firewall rule was added"),
        "{}",
        flash(&p)
    );
    let fw = text1(&p.doc, "table#firewall");
    assert!(fw.contains("80–81") && fw.contains("192.0.2.0/24"), "{fw}");
    let pf = [
        ("protocol", "tcp"),
        ("publicport", "2222"),
        ("privateport", "22"),
        ("virtualmachineid", vm.as_str()),
    ];
    let p = b.submit(&p, "form[data-action=pf-add]", &pf, None).await;
    assert!(
        flash(&p).contains("port forward was added"),
        "{}",
        flash(&p)
    );
    let row = rows_of(&p.doc, "forwarding");
    assert_eq!(
        row[0][..5],
        [
            "TCP".to_string(),
            "2222".into(),
            "22".into(),
            "web1".into(),
            "10.9.8.21".into()
        ]
    );
    // Its firewall opening is listed with the address's rules.
    assert!(text1(&p.doc, "table#firewall").contains("2222"));
    let p = b.submit(&p, "form[data-action=pf-add]", &pf, None).await;
    assert!(flash(&p).contains("conflicts with rule"), "{}", flash(&p));
    let p = b
        .submit(
            &p,
            "table#forwarding form[data-action=pf-remove]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("port forward was removed"),
        "{}",
        flash(&p)
    );
    let left = nina
        .ok("listPortForwardingRules", &[("ipaddressid", &fwd)])
        .await;
    assert_eq!(left["count"].as_i64().unwrap_or(0), 0, "{left}");

    // Static NAT on another address, then off; then released.
    let p = b.get(&format!("/console/public-ips/{nat}")).await;
    let p = b
        .submit(
            &p,
            "#actions form[data-action=staticnat-enable]",
            &[("virtualmachineid", vm.as_str())],
            None,
        )
        .await;
    assert!(flash(&p).contains("Static NAT is on"), "{}", flash(&p));
    assert!(text1(&p.doc, "#fields").contains("Static NAT to web1"));
    let p = b
        .submit(
            &p,
            "#actions form[data-action=staticnat-disable]",
            &[],
            None,
        )
        .await;
    assert!(flash(&p).contains("Static NAT is off"), "{}", flash(&p));
    let p = b
        .submit(
            &p,
            "#actions form[data-action=release]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("was released"), "{}", flash(&p));
    assert_eq!(p.path, "/console/public-ips");
    let addrs = texts(&p.doc, "table#list td:first-child");
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    assert!(!addrs.contains(&"203.0.113.12".to_string()));

    // The network's page lists its instance; it cannot be deleted while it has one.
    let p = b.get(&format!("/console/networks/{net}")).await;
    assert_eq!(
        attr(&p.doc, "a.btn[href^='/console/instances/new']", "href"),
        format!("/console/instances/new?zoneid={zid}&networkid={net}")
    );
    let row = row_of(&p.doc, "instances", &vm);
    assert_eq!(
        (row[0].as_str(), row[2].as_str()),
        ("web1", "10.9.8.21"),
        "{row:?}"
    );
    let p = b
        .submit(
            &p,
            "#actions form[data-action=delete]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(
        flash(&p).contains("Can't delete the network"),
        "{}",
        flash(&p)
    );
    // A spare network is deleted from the list.
    let spare = nina
        .ok(
            "createNetwork",
            &[
                ("name", "spare"),
                ("networkofferingid", "5c0e6e1d-5a4e-4d0a-9b1e-000000000002"),
                ("zoneid", &zid),
            ],
        )
        .await["network"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let l = b.get("/console/networks").await;
    let p = b
        .submit(
            &l,
            &format!("table#list tr[data-id='{spare}'] form[data-action=delete]"),
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("network was deleted"), "{}", flash(&p));
    let gone = nina.ok("listNetworks", &[("id", &spare)]).await;
    assert_eq!(gone["count"].as_i64().unwrap_or(0), 0, "{gone}");

    // An administrator sees the network's router and acts on it by its state.
    let router = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO routers (id, network_id, zone_id, name, state, guest_mac, public_mac)
         VALUES ($1, $2::uuid, $3::uuid, 'r-0c0e0a01', 'Stopped',
                 '02:00:5e:00:01:01'::macaddr, '02:00:5e:00:01:02'::macaddr)",
    )
    .bind(router)
    .bind(&net)
    .bind(&zid)
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    let mut a = Browser::login(&c).await;
    let p = a.get(&format!("/console/networks/{net}")).await;
    assert_eq!(
        row_of(&p.doc, "routers", &router.to_string())[..2],
        ["r-0c0e0a01".to_string(), "Stopped".into()]
    );
    assert_eq!(
        form_actions(&p, "table#routers form"),
        ["router-start", "router-destroy"]
    );
    let p = a
        .submit(
            &p,
            "table#routers form[data-action=router-destroy]",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert!(flash(&p).contains("router was destroyed"), "{}", flash(&p));
    assert_eq!(p.doc.select(&sel("table#routers")).count(), 0);
    assert!(texts(&p.doc, ".empty").join(" ").contains("No router yet"));
    // Another user sees none of it.
    c.user("omar").await;
    let mut o = Browser::login_as(&c, "omar", "omar-pw-1").await;
    assert_eq!(
        o.get(&format!("/console/networks/{net}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        o.get(&format!("/console/public-ips/{fwd}")).await.status,
        StatusCode::NOT_FOUND
    );
}
