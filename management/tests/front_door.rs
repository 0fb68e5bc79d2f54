//! The front door under hostile input (issue 19): nothing a request carries becomes
//! markup; paging arithmetic cannot overflow; lengths and control characters are refused
//! centrally with 431, and the catalog's limits match the schema's; registerIso and the
//! downloader refuse internal addresses (loopback, link-local, private, IPv6 spellings of
//! them), on the first connection, through names and on every redirect, unless
//! `secstorage.allowed.internal.sites` lists them (loopback only for root admins).

use stratus_testkit::db as common;
use stratus_testkit::http as support;

use axum::body::Body;
use axum::http::Request;
use common::{query_string, Client};
use stratus_management::rules::download_policy::Policy;
use stratus_management::services::downloads::guard::Guard;
use support::{HttpServer, Reply, Source};

async fn tenant(admin: &Client, name: &str) -> Client {
    admin
        .ok(
            "createAccount",
            &[
                ("username", name),
                ("password", "tenant-pw-1"),
                ("email", "t@example.org"),
                ("firstname", "T"),
                ("lastname", "T"),
                ("accounttype", "0"),
            ],
        )
        .await;
    Client::for_user(admin.ctx.clone(), name).await
}

#[tokio::test]
async fn a_command_name_never_becomes_markup() {
    let c = Client::admin().await;
    let hostile =
        "a xmlns:h=\"http://www.w3.org/1999/xhtml\"><h:script>alert(document.cookie)</h:script><x";
    // Without any credentials: XML, the default format.
    let q = query_string(&[("command".into(), hostile.into())]);
    let a = c
        .raw(
            Request::get(format!("/client/api?{q}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status.as_u16(), 401, "{}", a.text);
    assert!(!a.text.contains("<h:script"), "{}", a.text);
    assert!(!a.text.contains("xmlns:h"), "{}", a.text);
    assert!(
        a.text.contains("<errorresponse cloud-stack-version="),
        "unknown commands answer errorresponse: {}",
        a.text
    );
    assert_eq!(a.headers["x-content-type-options"], "nosniff");
    assert!(a.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    // Signed, as an admin: 432, the name echoed only as escaped text.
    let mut p = common::pairs(&[("command", hostile), ("apiKey", &c.api_key)]);
    let sig = stratus_api::signing::sign(&p, &c.secret);
    p.push(("signature".into(), sig));
    let a = c
        .raw(
            Request::get(format!("/client/api?{}", query_string(&p)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status.as_u16(), 432, "{}", a.text);
    assert!(!a.text.contains("<h:script"), "{}", a.text);
    assert!(a.text.contains("&lt;h:script&gt;"), "{}", a.text);
    // The document parses as XML with the expected root.
    let doc = roxmltree::Document::parse(&a.text).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "errorresponse");
}

#[tokio::test]
async fn paging_and_lengths_are_refused_with_431() {
    let c = Client::admin().await;
    for (page, size) in [
        ("9223372036854775807", "500"),
        ("4611686018427387904", "2"),
        ("2147483648", "500"),
        ("99999999999999999999999", "1"),
    ] {
        let t = c
            .err("listZones", &[("page", page), ("pagesize", size)], 431)
            .await;
        assert!(t.contains("page"), "{t}");
    }
    // The largest page CloudStack's 32-bit `page` allows is fine (and empty).
    let z = c
        .ok("listZones", &[("page", "2147483647"), ("pagesize", "500")])
        .await;
    assert!(z.get("zone").is_none(), "{z}");

    let long = "n".repeat(10_000);
    for (cmd, args) in [
        (
            "createZone",
            vec![
                ("name", long.as_str()),
                ("networktype", "Basic"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
            ],
        ),
        (
            "createZone",
            vec![
                ("name", "two\nlines"),
                ("networktype", "Basic"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
            ],
        ),
        ("createSSHKeyPair", vec![("name", long.as_str())]),
        ("listZones", vec![("keyword", long.as_str())]),
        ("listZones", vec![("whatever[0].key", long.as_str())]),
    ] {
        let t = c.err(cmd, &args, 431).await;
        assert!(
            t.contains("max allowed length") || t.contains("non-printable"),
            "{cmd}: {t}"
        );
        assert!(t.len() < 400, "the value is not echoed whole: {}", t.len());
    }
    // 255 is fine.
    let name = "z".repeat(255);
    c.ok(
        "createZone",
        &[
            ("name", name.as_str()),
            ("networktype", "Basic"),
            ("dns1", "8.8.8.8"),
            ("internaldns1", "10.0.0.2"),
        ],
    )
    .await;
}

/// Which catalog parameter writes which column; the schema's length checks
/// (migrations/0016) and the catalog's limits must agree.
const COLUMNS: &[(&str, &str, &str, &str)] = &[
    ("createZone", "name", "zones", "name"),
    ("createPod", "name", "pods", "name"),
    ("addCluster", "clustername", "clusters", "name"),
    ("createAccount", "account", "accounts", "name"),
    ("createAccount", "username", "users", "username"),
    ("createAccount", "firstname", "users", "firstname"),
    ("createAccount", "lastname", "users", "lastname"),
    ("createAccount", "email", "users", "email"),
    ("createStoragePool", "name", "storage_pools", "name"),
    ("addImageStore", "name", "image_stores", "name"),
    ("registerIso", "name", "isos", "name"),
    ("registerIso", "displaytext", "isos", "display_text"),
    ("registerIso", "url", "isos", "url"),
    ("updateIso", "name", "isos", "name"),
    ("updateIso", "displaytext", "isos", "display_text"),
    ("createServiceOffering", "name", "service_offerings", "name"),
    (
        "createServiceOffering",
        "displaytext",
        "service_offerings",
        "display_text",
    ),
    ("createDiskOffering", "name", "disk_offerings", "name"),
    (
        "createDiskOffering",
        "displaytext",
        "disk_offerings",
        "display_text",
    ),
    ("deployVirtualMachine", "name", "vms", "name"),
    ("deployVirtualMachine", "displayname", "vms", "display_name"),
    ("createSSHKeyPair", "name", "ssh_keypairs", "name"),
    ("registerSSHKeyPair", "name", "ssh_keypairs", "name"),
];

#[tokio::test]
async fn catalog_lengths_match_the_schema() {
    let c = Client::admin().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid)
           FROM pg_constraint WHERE contype = 'c' AND conname LIKE '%\\_length'",
    )
    .fetch_all(&c.ctx.pool)
    .await
    .unwrap();
    let limit = |table: &str, column: &str| -> Option<u32> {
        rows.iter().find_map(|(t, def)| {
            let want = format!("char_length({column}) <= ");
            if t != table {
                return None;
            }
            let at = def.find(&want)? + want.len();
            def.get(at..)?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
    };
    for (cmd, param, table, column) in COLUMNS {
        let spec = stratus_api::command::find(cmd).unwrap_or_else(|| panic!("{cmd}"));
        let p = spec
            .param(param)
            .unwrap_or_else(|| panic!("{cmd} has no {param}"));
        let db = limit(table, column)
            .unwrap_or_else(|| panic!("no length check on {table}.{column}: {rows:?}"));
        assert_eq!(p.max_len(), db, "{cmd}.{param} vs {table}.{column}");
    }
}

#[tokio::test]
async fn registration_refuses_internal_addresses() {
    let admin = Client::admin().await;
    let (zone, _, _) = admin.basic_topology("ssrf-z").await;
    let bob = tenant(&admin, "bob").await;
    let zone = zone.as_str();
    let register = |c: &Client, url: &str| {
        let (c, url) = (c.clone_handle(), url.to_string());
        async move {
            c.call(
                "registerIso",
                &[("name", "x"), ("zoneid", zone), ("url", &url)],
            )
            .await
        }
    };
    let internal = [
        "http://127.0.0.1:9/x.iso",
        "http://127.1:9/x.iso",
        "http://2130706433:9/x.iso",
        "http://localhost:9/x.iso",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/x.iso",
        "http://[::ffff:127.0.0.1]:9/x.iso",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/x.iso",
        "http://10.0.0.1/x.iso",
        "http://192.168.1.1/x.iso",
        "http://172.16.0.1/x.iso",
        "http://100.64.0.1/x.iso",
        "http://[fd00::1]/x.iso",
        "http://0.0.0.0:9/x.iso",
        "http://224.0.0.1/x.iso",
        "http://255.255.255.255/x.iso",
    ];
    for url in internal {
        for c in [&admin, &bob] {
            let a = register(c, url).await;
            assert_eq!(a.status.as_u16(), 431, "{url}: {}", a.text);
            assert!(
                a.errortext().contains("downloads may not reach"),
                "{url}: {}",
                a.errortext()
            );
        }
    }
    let t = register(&bob, "http://no-such-host.invalid/x.iso")
        .await
        .errortext();
    assert!(t.contains("unable to resolve"), "{t}");

    // Listed: private sites for everyone; loopback for root admins only.
    admin
        .ok(
            "updateConfiguration",
            &[
                ("name", "secstorage.allowed.internal.sites"),
                ("value", "127.0.0.1/32, 10.0.0.0/8, 169.254.169.254/32"),
            ],
        )
        .await;
    assert_eq!(register(&bob, "http://10.0.0.1/x.iso").await.status, 200);
    assert_eq!(
        register(&admin, "http://127.0.0.1:9/x.iso").await.status,
        200
    );
    assert_eq!(
        register(&admin, "http://[::ffff:127.0.0.1]:9/x.iso")
            .await
            .status,
        200
    );
    for url in [
        "http://127.0.0.1:9/x.iso",
        "http://localhost:9/x.iso",
        "http://169.254.169.254/",
        "http://[::ffff:127.0.0.1]:9/x.iso",
    ] {
        assert_eq!(register(&bob, url).await.status.as_u16(), 431, "{url}");
    }
    assert_eq!(
        register(&admin, "http://127.0.0.2:9/x.iso")
            .await
            .status
            .as_u16(),
        431,
        "only what is listed"
    );
    // The setting itself refuses what would allow everything.
    for v in ["0.0.0.0/0", "::/0", "10.0.0.0/33", "nonsense"] {
        admin
            .err(
                "updateConfiguration",
                &[("name", "secstorage.allowed.internal.sites"), ("value", v)],
                431,
            )
            .await;
    }
}

fn policy(sites: &str, admin: bool) -> Policy {
    Policy::from_setting(Some(sites), admin)
}

#[tokio::test]
async fn downloads_check_every_connection_and_redirect() {
    let server = HttpServer::start(vec![
        ("/ok", Reply::ok(Source::bytes(b"hello".to_vec()))),
        ("/to-v6-loopback", Reply::redirect("http://[::1]:9/x")),
        (
            "/to-metadata",
            Reply::redirect("http://169.254.169.254/latest/"),
        ),
        (
            "/to-other-loopback",
            Reply::redirect("http://127.0.0.2:9/x"),
        ),
        ("/to-localhost", Reply::redirect("/ok")),
    ])
    .await;
    let port = server.addr.port();
    let get = |guard: &std::sync::Arc<Guard>, url: String| {
        let guard = guard.clone();
        async move {
            let url = url::Url::parse(&url).unwrap();
            guard.check_url(&url).map_err(|r| r.to_string())?;
            let client = guard.client(std::time::Duration::from_secs(5)).unwrap();
            let r = client.get(url).send().await.map_err(|e| format!("{e:?}"))?;
            r.text().await.map_err(|e| e.to_string())
        }
    };

    // Not listed: refused before connecting, by literal and by name.
    let g = Guard::new(policy("", true));
    let e = get(&g, format!("http://127.0.0.1:{port}/ok"))
        .await
        .unwrap_err();
    assert!(e.contains("loopback"), "{e}");
    let g = Guard::new(policy("", true));
    get(&g, format!("http://localhost:{port}/ok"))
        .await
        .unwrap_err();
    assert!(g.refusal().is_some(), "the resolver refused localhost");

    // Listed for an admin: allowed, and known to be internal.
    let g = Guard::new(policy("127.0.0.1/32", true));
    assert_eq!(
        get(&g, format!("http://127.0.0.1:{port}/ok"))
            .await
            .unwrap(),
        "hello"
    );
    assert!(g.touched_internal());
    let g = Guard::new(policy("127.0.0.1/32", true));
    assert_eq!(
        get(&g, format!("http://localhost:{port}/to-localhost"))
            .await
            .unwrap(),
        "hello"
    );

    // Every redirect hop is checked.
    for hop in ["/to-v6-loopback", "/to-metadata", "/to-other-loopback"] {
        let g = Guard::new(policy("127.0.0.1/32", true));
        let e = get(&g, format!("http://127.0.0.1:{port}{hop}"))
            .await
            .unwrap_err();
        assert!(g.refusal().is_some(), "{hop}: {e}");
    }

    // A tenant never reaches loopback, listed or not.
    let g = Guard::new(policy("127.0.0.1/32", false));
    get(&g, format!("http://127.0.0.1:{port}/ok"))
        .await
        .unwrap_err();
    let g = Guard::new(policy("127.0.0.1/32", false));
    get(&g, format!("http://localhost:{port}/ok"))
        .await
        .unwrap_err();
    assert!(g.refusal().is_some());
}
