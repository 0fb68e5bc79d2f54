//! Every command in the catalog called with random and hostile values, as a tenant and as
//! a root admin, in-process through the router (issue 19). Seeded and bounded: the same
//! calls every run (`STRATUS_FUZZ_SEED`, `STRATUS_FUZZ_CALLS` change them), at most
//! `DEADLINE` of wall time. A finding is an HTTP 500, a 530 that is an internal error, an
//! answer that is not a well-formed envelope, or a panic (which fails the test by itself).
//! Numbers from a run are in docs/security.md, "Fuzzing".
//!
//! Nothing leaves this machine: parameters that make the server connect somewhere (`url`
//! of addHost and the storage commands) only get values that fail validation or point at
//! closed loopback ports, registerIso's URLs are refused by the download policy, no job
//! worker or downloader runs (async commands stay queued rows), and there are no hosts.

use stratus_testkit::db as common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use common::{query_string, Client};
use stratus_api::command::{Access, ParamSpec, ParamType, COMMANDS};

const SEED: u64 = 0x5EED_0019;
const CALLS: usize = 10_000;
const DEADLINE: Duration = Duration::from_secs(100);

/// SplitMix64: small, deterministic, good enough to pick values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that have broken servers before.
fn hostile() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "a",
        "0",
        "-1",
        "1",
        "2147483647",
        "2147483648",
        "-2147483649",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999999999",
        "1e309",
        "-0",
        "NaN",
        "inf",
        "0x10",
        "1.5",
        "true",
        "TRUE",
        "yes",
        "null",
        "undefined",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "not-a-uuid",
        "00000000-0000-0000-0000-00000000000g",
        "{00000000-0000-0000-0000-000000000000}",
        "' OR '1'='1",
        "'; DROP TABLE zones; --",
        "\\",
        "%",
        "%00",
        "_",
        "*",
        "a,b,,c",
        ",,,",
        "../../../../etc/passwd",
        "<script>alert(1)</script>",
        "]]><x>",
        "&amp;&#0;",
        "${jndi:ldap://127.0.0.1:9/a}",
        "{{7*7}}",
        "名前🙂",
        "\u{202e}gnp.exe",
        "\u{feff}",
        "\u{ffff}",
        "e\u{301}",
        "a\tb",
        "a\nb",
        "a\r\nb",
        "\u{0}",
        "\u{1b}[31m",
        "\u{7f}",
        "-1,-2",
        "1970-01-01",
        "2024-13-45",
        "9999-12-31T23:59:59+0000",
        "2024-01-01 00:00:00",
        "Running",
        "Enabled",
        "Disabled",
        "Basic",
        "Advanced",
        "KVM",
        "NFS",
        "Admin",
        "all",
        "-1",
        "10.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "::1",
        "999.1.1.1",
        "10.0.0.0/8",
        "ssh-rsa AAAA",
        "{md5}00",
        "{SHA-256}zz",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(256));
    v.push("y".repeat(4097));
    v.push("z".repeat(70_000));
    v.push("é".repeat(300));
    v
}

/// URLs for parameters named `url`: none reaches anything but a closed loopback port.
const URLS: &[&str] = &[
    "",
    "not a url",
    "http://",
    "ftp://127.0.0.1:9/x",
    "http://127.0.0.1:9/x.iso",
    "http://[::1]:9/x.iso",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/x.iso",
    "http://localhost:9/x.iso",
    "nfs://127.0.0.1:9/export",
    "nfs://127.0.0.1/",
    "nfs:///x",
    "http://127.0.0.1:9/%00",
    "http://u:p@127.0.0.1:9/x",
];

/// Commands whose `url` makes the server connect (SSH, NFS): only values that fail
/// before any connection, or point at loopback.
const CONNECTING: &[&str] = &[
    "addHost",
    "createStoragePool",
    "addImageStore",
    "addSecondaryStorage",
];

struct Pools {
    hostile: Vec<String>,
    ids: Vec<String>,
}

fn value(rng: &mut Rng, pools: &Pools, cmd: &str, p: &ParamSpec) -> String {
    if p.name == "url" {
        let safe: Vec<&str> = if CONNECTING.contains(&cmd) {
            URLS.iter()
                .copied()
                .filter(|u| !u.contains("10.0.0.1") && !u.contains("169.254"))
                .collect()
        } else {
            URLS.to_vec()
        };
        return rng.pick(&safe).to_string();
    }
    // Half the time a value of the right type, so calls get past validation.
    if rng.chance(50) {
        return match p.kind {
            ParamType::Uuid => rng.pick(&pools.ids).clone(),
            ParamType::Boolean => rng.pick(&["true", "false"]).to_string(),
            ParamType::Long | ParamType::Integer | ParamType::Short => rng
                .pick(&["0", "1", "2", "10", "512", "-1", "65535"])
                .to_string(),
            ParamType::Float => rng.pick(&["0.5", "1.0", "2"]).to_string(),
            ParamType::Date => "2024-01-01".into(),
            ParamType::List if p.list_of_uuids => {
                format!("{},{}", rng.pick(&pools.ids), rng.pick(&pools.ids))
            }
            _ => format!("fz{}", rng.below(1000)),
        };
    }
    rng.pick(&pools.hostile).clone()
}

/// Map and odd parameters CloudStack clients send (`tags[0].key`, `details[0].x`).
fn extras(rng: &mut Rng, pools: &Pools) -> Vec<(String, String)> {
    let names = [
        "tags[0].key",
        "tags[0].value",
        "details[0].cpuNumber",
        "details[999999999999].x",
        "details[-1].y",
        "details[].z",
        "details[0]",
        "a]b[c",
        "page",
        "pagesize",
        "listall",
        "projectid",
        "command",
        "response",
        "",
    ];
    (0..rng.below(3))
        .map(|_| {
            (
                rng.pick(&names).to_string(),
                rng.pick(&pools.hostile).clone(),
            )
        })
        .collect()
}

/// The params of one call, and whether it asks for JSON.
fn call_params(
    rng: &mut Rng,
    pools: &Pools,
    cmd: &str,
    params: &[ParamSpec],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in params {
        if (p.required && rng.chance(85)) || rng.chance(35) {
            out.push((p.name.to_string(), value(rng, pools, cmd, p)));
        }
    }
    out.extend(extras(rng, pools));
    out.retain(|(k, _)| !matches!(k.as_str(), "command" | "apiKey" | "signature" | "response"));
    if rng.chance(80) {
        out.push(("response".into(), "json".into()));
    }
    out
}

async fn signed(
    c: &Client,
    command: &str,
    mut p: Vec<(String, String)>,
    post: bool,
) -> common::Answer {
    p.push(("command".into(), command.into()));
    p.push(("apiKey".into(), c.api_key.clone()));
    let sig = stratus_api::signing::sign(&p, &c.secret);
    p.push(("signature".into(), sig));
    c.raw(request(query_string(&p), post)).await
}

/// A GET with `q`, or a form POST (also when `q` is too long for a URI: hyper answers 414
/// beyond 64 KiB).
fn request(q: String, post: bool) -> Request<Body> {
    if post || q.len() > 16_000 {
        Request::post("/client/api")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(q))
            .unwrap()
    } else {
        Request::get(format!("/client/api?{q}"))
            .body(Body::empty())
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_survives_hostile_input() {
    let seed = std::env::var("STRATUS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let calls = std::env::var("STRATUS_FUZZ_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CALLS);
    let admin = Client::admin().await;
    let (zone, pod, cluster) = admin.basic_topology("fuzz-z").await;
    admin
        .ok(
            "createAccount",
            &[
                ("username", "mallory"),
                ("password", "mallory-pw-1"),
                ("email", "m@example.org"),
                ("firstname", "M"),
                ("lastname", "M"),
                ("accounttype", "0"),
            ],
        )
        .await;
    let tenant = Client::for_user(admin.ctx.clone(), "mallory").await;
    let offerings = admin.ok("listServiceOfferings", &[]).await;
    let disk = admin.ok("listDiskOfferings", &[]).await;
    let mut ids = vec![
        zone,
        pod,
        cluster,
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::nil().to_string(),
    ];
    for v in [&offerings["serviceoffering"], &disk["diskoffering"]] {
        if let Some(items) = v.as_array() {
            ids.extend(
                items
                    .iter()
                    .filter_map(|o| o["id"].as_str().map(String::from)),
            );
        }
    }
    let pools = Pools {
        hostile: hostile(),
        ids,
    };
    let commands: Vec<_> = COMMANDS.iter().filter(|c| c.name != "login").collect();

    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut findings: Vec<String> = Vec::new();
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    let mut made = 0;
    let mut other_5xx = std::collections::BTreeSet::new();
    for i in 0..calls {
        if started.elapsed() > DEADLINE {
            break;
        }
        // Every command in turn, then random ones; both callers.
        let spec = if i < commands.len() * 2 {
            commands[i % commands.len()]
        } else {
            *rng.pick(&commands)
        };
        let as_admin = if i < commands.len() * 2 {
            i >= commands.len()
        } else {
            rng.chance(50)
        };
        let caller = if as_admin { &admin } else { &tenant };
        // One call in twenty names no catalog command: hostile names, signed or not.
        if i >= commands.len() * 2 && rng.chance(5) {
            let name = rng.pick(&pools.hostile).clone();
            let mut p = vec![("command".to_string(), name.clone())];
            if rng.chance(50) {
                p.push(("response".into(), "json".into()));
            }
            let a = if rng.chance(50) {
                signed(caller, &name, vec![], false).await
            } else {
                caller.raw(request(query_string(&p), false)).await
            };
            made += 1;
            *by_status.entry(a.status.as_u16()).or_default() += 1;
            let root = if a.json.is_object() {
                a.json.as_object().and_then(|o| o.keys().next().cloned())
            } else {
                roxmltree::Document::parse(&a.text)
                    .ok()
                    .map(|d| d.root_element().tag_name().name().to_string())
            };
            if stratus_api::command::find(&name).is_none()
                && root.as_deref() != Some("errorresponse")
            {
                findings.push(format!(
                    "command {name:?}: {}",
                    a.text.chars().take(300).collect::<String>()
                ));
            }
            continue;
        }
        let params = call_params(&mut rng, &pools, spec.name, spec.params);
        let json = params.iter().any(|(k, v)| k == "response" && v == "json");
        let post = rng.chance(30);
        let a = signed(caller, spec.name, params.clone(), post).await;
        made += 1;
        let status = a.status.as_u16();
        *by_status.entry(status).or_default() += 1;
        let shown = |p: &[(String, String)]| -> String {
            p.iter()
                .map(|(k, v)| format!("{k}={}", v.chars().take(60).collect::<String>()))
                .collect::<Vec<_>>()
                .join("&")
        };
        let who = if as_admin { "admin" } else { "tenant" };
        if status == 500 {
            findings.push(format!(
                "500 {} as {who} [{}]: {}",
                spec.name,
                shown(&params),
                a.text
            ));
            continue;
        }
        let text = if json {
            if a.json.is_null() {
                findings.push(format!(
                    "not JSON: {} as {who} [{}]: {}",
                    spec.name,
                    shown(&params),
                    a.text
                ));
                continue;
            }
            a.body()["errortext"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            match roxmltree::Document::parse(&a.text) {
                Ok(doc) => doc
                    .descendants()
                    .find(|n| n.has_tag_name("errortext"))
                    .and_then(|n| n.text())
                    .unwrap_or_default()
                    .to_string(),
                Err(e) => {
                    findings.push(format!(
                        "bad XML ({e}): {} as {who} [{}]: {}",
                        spec.name,
                        shown(&params),
                        a.text
                    ));
                    continue;
                }
            }
        };
        if status >= 530 {
            other_5xx.insert(format!(
                "{status} {}: {}",
                spec.name,
                text.chars().take(120).collect::<String>()
            ));
        }
        if status == 530 && text.contains("Internal error") {
            findings.push(format!(
                "530 {} as {who} [{}]: {text}",
                spec.name,
                shown(&params)
            ));
        }
        // The access check: a tenant never gets an admin command's answer.
        if !as_admin && matches!(spec.access, Access::Admin | Access::DomainAdmin) && status == 200
        {
            findings.push(format!("tenant ran admin command {}", spec.name));
        }
    }
    let elapsed = started.elapsed();
    println!(
        "fuzz: seed {seed:#x}, {made} calls over {} commands in {:.1} s; statuses {by_status:?}; {} findings",
        commands.len(),
        elapsed.as_secs_f64(),
        findings.len()
    );
    for t in &other_5xx {
        println!("  {t}");
    }
    assert!(made >= commands.len() * 2, "every command at least twice");
    assert!(
        findings.is_empty(),
        "{} findings:\n{}",
        findings.len(),
        findings.join("\n")
    );
}
