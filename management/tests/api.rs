//! The CloudStack API through the real router and a real Postgres: authentication,
//! envelopes, errors, paging, topology commands, accounts, settings and async jobs.

use stratus_testkit::db as common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{pairs, query_string, Client};
use serde_json::Value;
use stratus_api::signing;

#[tokio::test]
async fn signed_requests_bad_signature_expired_and_unknown_key() {
    let c = Client::admin().await;
    assert!(
        c.ok("listZones", &[]).await.as_object().unwrap().is_empty(),
        "empty list is {{}}"
    );

    // A signature made with another secret.
    let mut p = pairs(&[
        ("command", "listZones"),
        ("response", "json"),
        ("apiKey", &c.api_key),
    ]);
    p.push(("signature".into(), signing::sign(&p, "not-the-secret")));
    let a = c
        .raw(
            Request::get(format!("/client/api?{}", query_string(&p)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.errortext(),
        "unable to verify user credentials and/or request signature"
    );
    assert!(a.body().get("cserrorcode").is_none());

    // Version 3 with an expiry in the past, correctly signed.
    let mut p = pairs(&[
        ("command", "listZones"),
        ("response", "json"),
        ("apiKey", &c.api_key),
        ("signatureVersion", "3"),
        ("expires", "2020-01-01T00:00:00+0000"),
    ]);
    p.push(("signature".into(), signing::sign(&p, &c.secret)));
    let a = c
        .raw(
            Request::get(format!("/client/api?{}", query_string(&p)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.errortext().contains("expired"), "{}", a.text);

    // Version 3 with a future expiry passes.
    let exp = (chrono::Utc::now() + chrono::Duration::minutes(10))
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string();
    let mut p = pairs(&[
        ("command", "listZones"),
        ("response", "json"),
        ("apiKey", &c.api_key),
        ("signatureVersion", "3"),
        ("expires", &exp),
    ]);
    p.push(("signature".into(), signing::sign(&p, &c.secret)));
    let a = c
        .raw(
            Request::get(format!("/client/api?{}", query_string(&p)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);

    // A key nobody holds.
    let mut p = pairs(&[
        ("command", "listZones"),
        ("response", "json"),
        ("apiKey", "nobody"),
    ]);
    p.push(("signature".into(), signing::sign(&p, "x")));
    let a = c
        .raw(
            Request::get(format!("/client/api?{}", query_string(&p)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // No credentials at all.
    let a = c
        .raw(
            Request::get("/client/api?command=listZones&response=json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn post_form_requests_are_signed_over_body_parameters() {
    let c = Client::admin().await;
    let mut p = pairs(&[
        ("command", "createZone"),
        ("response", "json"),
        ("apiKey", &c.api_key),
        ("name", "posted zone"),
        ("networktype", "Advanced"),
        ("dns1", "1.1.1.1"),
        ("internaldns1", "10.0.0.1"),
    ]);
    p.push(("signature".into(), signing::sign(&p, &c.secret)));
    let req = Request::post("/client/api")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(query_string(&p)))
        .unwrap();
    let a = c.raw(req).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body()["zone"]["name"], "posted zone");
    assert_eq!(
        a.body()["zone"]["guestcidraddress"],
        "10.1.1.0/24",
        "Advanced zones default their guest CIDR"
    );
}

#[tokio::test]
async fn session_login_needs_post_and_sessionkey_accompanies_the_cookie() {
    let c = Client::admin().await;
    let a = c
        .raw(
            Request::get(
                "/client/api?command=login&username=admin&password=password&response=json",
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(a.status.as_u16(), 405);

    let bad = Request::post("/client/api")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "command=login&username=admin&password=wrong&response=json",
        ))
        .unwrap();
    let a = c.raw(bad).await;
    assert_eq!(a.status.as_u16(), 531);
    assert!(a.errortext().contains("Failed to authenticate user admin"));

    let good = Request::post("/client/api")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "command=login&username=admin&password=password&domain=%2F&response=json",
        ))
        .unwrap();
    let a = c.raw(good).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let body = a.body().clone();
    assert_eq!(body["type"], "1");
    assert!(body["timeout"].is_number());
    let key = body["sessionkey"].as_str().unwrap().to_string();
    let cookies: Vec<String> = a
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let jsession = cookies
        .iter()
        .find(|c| c.starts_with("JSESSIONID="))
        .expect("JSESSIONID cookie");
    assert!(jsession.contains("HttpOnly") && jsession.contains("Path=/client"));
    let sid = jsession.split(';').next().unwrap().to_string();

    let with = |q: String| {
        Request::get(format!("/client/api?{q}"))
            .header(header::COOKIE, sid.clone())
            .body(Body::empty())
            .unwrap()
    };
    // The cookie alone is not enough (a cross-site request carries cookies, not the key).
    assert_eq!(
        c.raw(with("command=listZones&response=json".into()))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.raw(with(
            "command=listZones&response=json&sessionkey=wrong".into()
        ))
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    let a = c
        .raw(with(format!(
            "command=listZones&response=json&sessionkey={key}"
        )))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);

    let a = c
        .raw(with(format!(
            "command=logout&response=json&sessionkey={key}"
        )))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        c.raw(with(format!(
            "command=listZones&response=json&sessionkey={key}"
        )))
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    let events = c.ok("listEvents", &[("type", "USER.LOGIN")]).await;
    assert_eq!(events["count"], 1);
}

#[tokio::test]
async fn unknown_command_missing_parameter_bad_uuid_and_xml_default() {
    let c = Client::admin().await;
    let a = c.call("fooBar", &[]).await;
    assert_eq!(a.status.as_u16(), 432);
    assert!(a.json.get("errorresponse").is_some(), "{}", a.text);
    // Command names are case-sensitive, as in CloudStack.
    assert_eq!(c.call("listzones", &[]).await.status.as_u16(), 432);

    let t = c.err("createZone", &[("name", "z")], 431).await;
    assert!(
        t.starts_with("Unable to execute API command createzone due to missing parameter"),
        "{t}"
    );
    let t = c.err("listPods", &[("zoneid", "not-a-uuid")], 431).await;
    assert!(
        t.contains("Invalid parameter zoneid value=not-a-uuid"),
        "{t}"
    );
    let t = c
        .err(
            "deleteZone",
            &[("id", "6f1b3a4e-0000-4000-8000-000000000000")],
            431,
        )
        .await;
    assert!(t.contains("entity does not exist"), "{t}");
    let a = c.call("createZone", &[("name", "z")]).await;
    assert_eq!(
        a.headers.get("x-description").unwrap().to_str().unwrap(),
        a.errortext()
    );

    // Without response=json the answer is XML.
    let mut p = pairs(&[("command", "listHypervisors"), ("apiKey", &c.api_key)]);
    p.push(("signature".into(), signing::sign(&p, &c.secret)));
    let a = c
        .raw(
            Request::get(format!("/client/api?{}", query_string(&p)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(a.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    assert!(
        a.text.contains("<listhypervisorsresponse")
            && a.text.contains("<hypervisor><name>KVM</name></hypervisor>"),
        "{}",
        a.text
    );
}

#[tokio::test]
async fn topology_create_list_update_delete_and_in_use() {
    let c = Client::admin().await;
    let (zid, pid, cid) = c.basic_topology("zone1").await;

    let z = c.ok("listZones", &[("id", &zid)]).await;
    assert_eq!(z["count"], 1);
    assert_eq!(z["zone"][0]["networktype"], "Basic");
    // A Basic zone isolates its guests with security groups (issue 14).
    assert_eq!(z["zone"][0]["securitygroupsenabled"], true);
    let created = z["zone"][0]["created"].as_str().unwrap();
    assert!(
        created.ends_with("+0000") && created.len() == 24,
        "CloudStack date format: {created}"
    );

    let p = c.ok("listPods", &[("zoneid", &zid)]).await;
    assert_eq!(p["pod"][0]["startip"], serde_json::json!(["10.0.0.10"]));
    assert_eq!(p["pod"][0]["ipranges"][0]["endip"], "10.0.0.50");
    assert_eq!(p["pod"][0]["zonename"], "zone1");

    let cl = c.ok("listClusters", &[("podid", &pid)]).await;
    assert_eq!(cl["cluster"][0]["hypervisortype"], "KVM");
    assert_eq!(cl["cluster"][0]["podname"], "pod1");

    // Guest range: inside the pod's subnet, not overlapping its management range.
    let v = c
        .ok(
            "createVlanIpRange",
            &[
                ("zoneid", &zid),
                ("podid", &pid),
                ("gateway", "10.0.0.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.0.0.100"),
                ("endip", "10.0.0.199"),
            ],
        )
        .await;
    let vid = v["vlan"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["vlan"]["vlan"], "vlan://untagged");
    assert_eq!(v["vlan"]["cidr"], "10.0.0.0/24");
    let t = c
        .err(
            "createVlanIpRange",
            &[
                ("zoneid", &zid),
                ("podid", &pid),
                ("gateway", "10.0.0.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.0.0.150"),
                ("endip", "10.0.0.250"),
            ],
            431,
        )
        .await;
    assert!(t.contains("overlaps"), "{t}");
    let t = c
        .err(
            "createVlanIpRange",
            &[
                ("zoneid", &zid),
                ("podid", &pid),
                ("gateway", "10.0.0.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.0.0.40"),
                ("endip", "10.0.0.60"),
            ],
            431,
        )
        .await;
    assert!(
        t.contains("overlaps with the management IP range of pod pod1 10.0.0.10-10.0.0.50"),
        "a guest range must not overlap the pod range: {t}"
    );
    assert_eq!(
        c.ok("listVlanIpRanges", &[("zoneid", &zid)]).await["count"],
        1
    );

    // Updates persist.
    let u = c
        .ok(
            "updateZone",
            &[
                ("id", &zid),
                ("allocationstate", "Enabled"),
                ("dns2", "8.8.4.4"),
            ],
        )
        .await;
    assert_eq!(u["zone"]["allocationstate"], "Enabled");
    assert_eq!(
        c.ok("listZones", &[("id", &zid)]).await["zone"][0]["dns2"],
        "8.8.4.4"
    );
    let u = c
        .ok("updatePod", &[("id", &pid), ("endip", "10.0.0.60")])
        .await;
    assert_eq!(u["pod"]["endip"], serde_json::json!(["10.0.0.60"]));
    c.ok(
        "updateCluster",
        &[("id", &cid), ("allocationstate", "Disabled")],
    )
    .await;
    assert_eq!(
        c.ok("listClusters", &[("id", &cid)]).await["cluster"][0]["allocationstate"],
        "Disabled"
    );

    // In use: 536 with a clear text; then delete bottom-up.
    let t = c.err("deleteZone", &[("id", &zid)], 536).await;
    assert!(t.contains("1 pod(s)") && t.contains("1 cluster(s)"), "{t}");
    let t = c.err("deletePod", &[("id", &pid)], 536).await;
    assert!(
        t.contains("1 cluster(s)") && t.contains("guest IP range"),
        "{t}"
    );
    assert_eq!(
        c.ok("deleteCluster", &[("id", &cid)]).await["success"],
        true
    );
    c.ok("deleteVlanIpRange", &[("id", &vid)]).await;
    c.ok("deletePod", &[("id", &pid)]).await;
    c.ok("deleteZone", &[("id", &zid)]).await;
    assert!(c.ok("listZones", &[]).await.as_object().unwrap().is_empty());

    let ev = c.ok("listEvents", &[("type", "ZONE.DELETE")]).await;
    assert_eq!(ev["event"][0]["resourceid"], zid.as_str());
    assert_eq!(ev["event"][0]["username"], "admin");
}

#[tokio::test]
async fn duplicate_names_and_bad_values_are_refused_clearly() {
    let c = Client::admin().await;
    let (zid, pid, _) = c.basic_topology("dup").await;
    let t = c
        .err(
            "createZone",
            &[
                ("name", "dup"),
                ("networktype", "Basic"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
            ],
            431,
        )
        .await;
    assert_eq!(
        t,
        "A zone with that name already exists. Please specify a unique zone name."
    );
    let t = c
        .err("createPod", &[("zoneid", &zid), ("name", "pod1")], 431)
        .await;
    assert!(t.contains("pod with that name already exists"), "{t}");
    let t = c
        .err(
            "addCluster",
            &[
                ("zoneid", &zid),
                ("podid", &pid),
                ("clustername", "c1"),
                ("clustertype", "CloudManaged"),
                ("hypervisor", "KVM"),
            ],
            431,
        )
        .await;
    assert!(t.contains("cluster with that name already exists"), "{t}");
    let t = c
        .err(
            "addCluster",
            &[
                ("zoneid", &zid),
                ("podid", &pid),
                ("clustername", "x"),
                ("clustertype", "CloudManaged"),
                ("hypervisor", "XenServer"),
            ],
            431,
        )
        .await;
    assert!(t.contains("KVM"), "{t}");
    let t = c
        .err(
            "createZone",
            &[
                ("name", "n"),
                ("networktype", "Fancy"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
            ],
            431,
        )
        .await;
    assert!(t.contains("Basic, Advanced"), "{t}");
    let t = c
        .err(
            "createZone",
            &[
                ("name", "n"),
                ("networktype", "Basic"),
                ("dns1", "dns.example"),
                ("internaldns1", "10.0.0.2"),
            ],
            431,
        )
        .await;
    assert!(t.contains("dns1"), "{t}");
    let t = c
        .err(
            "createPod",
            &[
                ("zoneid", &zid),
                ("name", "p2"),
                ("gateway", "10.9.0.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.9.1.5"),
            ],
            431,
        )
        .await;
    assert!(t.contains("not in the subnet"), "{t}");
    // A second pod whose management range overlaps the first pod's.
    let t = c
        .err(
            "createPod",
            &[
                ("zoneid", &zid),
                ("name", "p3"),
                ("gateway", "10.0.0.1"),
                ("netmask", "255.255.255.0"),
                ("startip", "10.0.0.20"),
                ("endip", "10.0.0.30"),
            ],
            431,
        )
        .await;
    assert!(t.contains("overlaps"), "{t}");
    // Nothing half-created: the pod insert was rolled back with its range.
    assert_eq!(c.ok("listPods", &[("zoneid", &zid)]).await["count"], 1);
}

#[tokio::test]
async fn paging_counts_the_total_and_filters_work() {
    let c = Client::admin().await;
    for i in 0..7 {
        let name = format!("zone-{i}");
        let kind = if i % 2 == 0 { "Basic" } else { "Advanced" };
        c.ok(
            "createZone",
            &[
                ("name", &name),
                ("networktype", kind),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
            ],
        )
        .await;
    }
    let p = c.ok("listZones", &[("page", "2"), ("pagesize", "3")]).await;
    assert_eq!(p["count"], 7, "count is the total before paging");
    assert_eq!(p["zone"].as_array().unwrap().len(), 3);
    assert_eq!(p["zone"][0]["name"], "zone-3");
    let p = c.ok("listZones", &[("page", "3"), ("pagesize", "3")]).await;
    assert_eq!(p["zone"].as_array().unwrap().len(), 1);
    assert!(c
        .ok("listZones", &[("page", "4"), ("pagesize", "3")])
        .await
        .as_object()
        .unwrap()
        .is_empty());
    c.err("listZones", &[("page", "1")], 431).await;
    c.err("listZones", &[("pagesize", "501"), ("page", "1")], 431)
        .await;
    assert_eq!(c.ok("listZones", &[("pagesize", "-1")]).await["count"], 7);
    assert_eq!(
        c.ok("listZones", &[("networktype", "advanced")]).await["count"],
        3
    );
    assert_eq!(c.ok("listZones", &[("keyword", "ne-5")]).await["count"], 1);
    assert_eq!(
        c.ok("listZones", &[("name", "zone-2")]).await["zone"][0]["name"],
        "zone-2"
    );
    // `%` in a keyword is literal text, not a wildcard.
    assert!(c
        .ok("listZones", &[("keyword", "%")])
        .await
        .as_object()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn accounts_users_keys_and_roles() {
    let c = Client::admin().await;
    let a = c
        .ok(
            "createAccount",
            &[
                ("accounttype", "0"),
                ("email", "u@example.org"),
                ("firstname", "U"),
                ("lastname", "Ser"),
                ("password", "secret1"),
                ("username", "alice"),
            ],
        )
        .await;
    let acc = &a["account"];
    assert_eq!(acc["name"], "alice");
    assert_eq!(acc["roletype"], "User");
    assert_eq!(acc["user"][0]["username"], "alice");
    let alice_id = acc["user"][0]["id"].as_str().unwrap().to_string();
    c.err(
        "createAccount",
        &[
            ("accounttype", "0"),
            ("email", "e"),
            ("firstname", "f"),
            ("lastname", "l"),
            ("password", "secret1"),
            ("username", "alice"),
        ],
        431,
    )
    .await;
    c.err(
        "createAccount",
        &[
            ("email", "e"),
            ("firstname", "f"),
            ("lastname", "l"),
            ("password", "secret1"),
            ("username", "bob"),
        ],
        431,
    )
    .await;

    let keys = c.ok("registerUserKeys", &[("id", &alice_id)]).await;
    let (k, s) = (
        keys["userkeys"]["apikey"].as_str().unwrap().to_string(),
        keys["userkeys"]["secretkey"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        c.ok("getUserKeys", &[("id", &alice_id)]).await["userkeys"]["secretkey"],
        s.as_str()
    );
    // The secret is stored sealed, never in clear.
    let alice =
        stratus_management::db::accounts::user_fetch(&c.ctx.pool, alice_id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert!(
        alice.secret_key.is_none(),
        "no plaintext secret in the database"
    );
    let sealed = alice.secret_key_sealed.clone().unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(&s));
    // A secret left in clear by an older version is sealed when a server starts.
    sqlx::query("UPDATE users SET secret_key = $2, secret_key_sealed = NULL WHERE id = $1")
        .bind(alice.id)
        .bind(&s)
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let ctx2 =
        stratus_management::ctx::Ctx::new(c.ctx.pool.clone(), c.ctx.ms_id, c.ctx.secrets.clone())
            .await
            .unwrap();
    let again = stratus_management::db::accounts::user_fetch(&c.ctx.pool, alice.id)
        .await
        .unwrap()
        .unwrap();
    assert!(again.secret_key.is_none());
    assert_eq!(ctx2.user_secret(&again).as_deref(), Some(s.as_str()));
    let accounts = c.ok("listAccounts", &[("listall", "true")]).await;
    assert_eq!(
        accounts["count"], 2,
        "admin and alice; the system account is hidden"
    );
    let alice_row = accounts["account"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(
        alice_row["user"][0]["apikey"],
        k.as_str(),
        "jclouds finds its caller by apikey"
    );

    // Alice, a plain user: sees herself only, cannot use admin commands.
    let alice = Client {
        ctx: c.ctx.clone(),
        router: c.router.clone(),
        api_key: k,
        secret: s,
    };
    assert_eq!(alice.ok("listAccounts", &[]).await["count"], 1);
    assert_eq!(
        alice.ok("listUsers", &[]).await["user"][0]["username"],
        "alice"
    );
    assert_eq!(
        alice
            .call(
                "createZone",
                &[
                    ("name", "x"),
                    ("networktype", "Basic"),
                    ("dns1", "8.8.8.8"),
                    ("internaldns1", "10.0.0.2")
                ]
            )
            .await
            .status
            .as_u16(),
        432
    );
    let apis = alice.ok("listApis", &[]).await;
    assert!(apis["api"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["name"] != "createZone"));

    let roles = c.ok("listRoles", &[]).await;
    assert_eq!(roles["count"], 4);
    let dom = c.ok("listDomains", &[("listall", "true")]).await;
    assert_eq!(dom["domain"][0]["path"], "ROOT");

    // disableUser is async (as in CloudStack); the job runs the same handler.
    c.spawn_job_worker();
    let j = c.ok("disableUser", &[("id", &alice_id)]).await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    assert_eq!(done["jobresult"]["user"]["state"], "disabled");
    assert_eq!(
        alice.call("listZones", &[]).await.status,
        StatusCode::UNAUTHORIZED,
        "disabled users are refused"
    );

    // The default accounts cannot be deleted; others can, through an async job.
    let admin_acc = c.ok("listAccounts", &[("name", "admin")]).await["account"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let j = c.ok("deleteAccount", &[("id", &admin_acc)]).await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 2);
    assert_eq!(done["jobresultcode"], 431);
    assert!(done["jobresult"]["errortext"]
        .as_str()
        .unwrap()
        .contains("cannot be deleted"));
    let alice_acc = alice_row["id"].as_str().unwrap();
    let j = c.ok("deleteAccount", &[("id", alice_acc)]).await;
    let done = c.wait_job(j["jobid"].as_str().unwrap()).await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    assert_eq!(done["jobresult"]["success"], true);
    assert_eq!(done["jobinstancetype"], "Account");
    assert_eq!(
        c.ok("listAccounts", &[("listall", "true")]).await["count"],
        1
    );
}

#[tokio::test]
async fn settings_are_typed_scoped_and_take_effect() {
    let c = Client::admin().await;
    let l = c
        .ok("listConfigurations", &[("name", "default.page.size")])
        .await;
    assert_eq!(l["configuration"][0]["value"], "500");
    assert_eq!(l["configuration"][0]["scope"], "global");
    let t = c
        .err(
            "updateConfiguration",
            &[("name", "default.page.size"), ("value", "lots")],
            431,
        )
        .await;
    assert!(t.contains("integer"), "{t}");
    c.err(
        "updateConfiguration",
        &[("name", "no.such.setting"), ("value", "1")],
        431,
    )
    .await;
    let u = c
        .ok(
            "updateConfiguration",
            &[("name", "default.page.size"), ("value", "2")],
        )
        .await;
    assert_eq!(u["configuration"]["value"], "2");
    // The new maximum applies at once.
    c.err(
        "listConfigurations",
        &[("page", "1"), ("pagesize", "3")],
        431,
    )
    .await;
    c.ok("resetConfiguration", &[("name", "default.page.size")])
        .await;
    assert_eq!(
        c.ok("listConfigurations", &[("name", "default.page.size")])
            .await["configuration"][0]["value"],
        "500"
    );

    // Cluster-scoped override.
    let (_, _, cid) = c.basic_topology("cfgzone").await;
    let u = c
        .ok(
            "updateConfiguration",
            &[
                ("name", "cpu.overprovisioning.factor"),
                ("value", "4"),
                ("clusterid", &cid),
            ],
        )
        .await;
    assert_eq!(u["configuration"]["scope"], "cluster");
    assert_eq!(
        c.ok(
            "listConfigurations",
            &[("name", "cpu.overprovisioning.factor"), ("clusterid", &cid)]
        )
        .await["configuration"][0]["value"],
        "4"
    );
    assert_eq!(
        c.ok(
            "listConfigurations",
            &[("name", "cpu.overprovisioning.factor")]
        )
        .await["configuration"][0]["value"],
        "1.0"
    );
    let t = c
        .err(
            "updateConfiguration",
            &[
                ("name", "default.page.size"),
                ("value", "4"),
                ("clusterid", &cid),
            ],
            431,
        )
        .await;
    assert!(t.contains("global only"), "{t}");
}

#[tokio::test]
async fn list_apis_describes_every_command_for_cloudmonkey() {
    let c = Client::admin().await;
    let apis = c.ok("listApis", &[]).await;
    let list = apis["api"].as_array().unwrap();
    assert_eq!(apis["count"], list.len());
    assert_eq!(list.len(), stratus_api::command::COMMANDS.len());
    for a in list {
        for key in ["name", "description", "isasync", "params", "response"] {
            assert!(!a[key].is_null(), "{key} missing in {a}");
        }
        for p in a["params"].as_array().unwrap() {
            for key in ["name", "type", "required", "description"] {
                assert!(
                    !p[key].is_null(),
                    "{key} missing in a param of {}",
                    a["name"]
                );
            }
        }
    }
    let dz = list.iter().find(|a| a["name"] == "deleteAccount").unwrap();
    assert_eq!(dz["isasync"], true);
    let cz = c.ok("listApis", &[("name", "createZone")]).await;
    let params: Vec<&Value> = cz["api"][0]["params"].as_array().unwrap().iter().collect();
    let nt = params.iter().find(|p| p["name"] == "networktype").unwrap();
    assert_eq!(nt["required"], true);
    assert!(cz["api"][0]["response"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "networktype"));
}

#[tokio::test]
async fn data_survives_a_new_server_on_the_same_database() {
    let c = Client::admin().await;
    let (zid, _, _) = c.basic_topology("persist").await;
    // A second management server over the same Postgres sees the same cloud.
    let ms2 = uuid::Uuid::new_v4();
    stratus_management::db::mgmt::ms_register(&c.ctx.pool, ms2.into(), "other", "0")
        .await
        .unwrap();
    let ctx2 =
        stratus_management::ctx::Ctx::new(c.ctx.pool.clone(), ms2.into(), c.ctx.secrets.clone())
            .await
            .unwrap();
    let c2 = Client {
        ctx: ctx2.clone(),
        router: stratus_management::front::router(ctx2),
        api_key: c.api_key.clone(),
        secret: c.secret.clone(),
    };
    let z = c2.ok("listZones", &[]).await;
    assert_eq!(z["zone"][0]["id"], zid.as_str());
}

#[tokio::test]
async fn unpaged_lists_stop_at_the_default_page_size_but_count_everything() {
    let c = Client::admin().await;
    c.ok(
        "updateConfiguration",
        &[("name", "default.page.size"), ("value", "3")],
    )
    .await;
    for i in 0..5 {
        c.ok(
            "createZone",
            &[
                ("name", &format!("cap-{i}")),
                ("networktype", "Basic"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
            ],
        )
        .await;
    }
    let l = c.ok("listZones", &[]).await;
    assert_eq!(l["count"], 5);
    assert_eq!(l["zone"].as_array().unwrap().len(), 3);
    assert_eq!(
        c.ok("listZones", &[("pagesize", "-1")]).await["zone"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn lock_user_and_get_user() {
    let c = Client::admin().await;
    let zed = c.user("zed").await;
    assert_eq!(zed.call("listZones", &[]).await.status, 200);
    let id = c.ok("listUsers", &[("username", "zed")]).await["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // getUser finds a user by API key (as jclouds and the UI's login by key do).
    let got = c.ok("getUser", &[("userapikey", &zed.api_key)]).await;
    assert_eq!(got["user"]["username"], "zed");
    assert_eq!(got["user"]["id"], id.as_str());
    c.err("getUser", &[("userapikey", "no-such-key")], 431)
        .await;
    // A locked user can no longer call the API, until enabled again.
    let locked = c.ok("lockUser", &[("id", &id)]).await;
    assert_eq!(locked["user"]["state"], "locked");
    assert_eq!(zed.call("listZones", &[]).await.status, 401);
    let me = c.ok("listUsers", &[("username", "admin")]).await["user"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c.err("lockUser", &[("id", &me)], 431).await,
        "You cannot lock yourself"
    );
    // Only root admins may lock or look up users.
    let amy = c.user("amy").await;
    amy.err("lockUser", &[("id", &id)], 432).await;
    amy.err("getUser", &[("userapikey", &zed.api_key)], 432)
        .await;
    c.ok("enableUser", &[("id", &id)]).await;
    assert_eq!(zed.call("listZones", &[]).await.status, 200);
}

/// A primary storage pool in `zone` (a row, as createStoragePool leaves it: no NFS here).
async fn pool_row(c: &Client, zone: &str, name: &str) -> String {
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO storage_pools (id, name, zone_id, scope, url, server, path, capacity_bytes)
         VALUES ($1, $2, $3::uuid, 'ZONE', $4, '192.0.2.9', $5, 1073741824)",
    )
    .bind(id)
    .bind(name)
    .bind(zone)
    .bind(format!("nfs://192.0.2.9/{name}"))
    .bind(format!("/{name}"))
    .execute(&c.ctx.pool)
    .await
    .unwrap();
    id.to_string()
}

/// Settings at a storage pool's scope (`storageid`, CloudStack's StoragePool scope), as
/// Ansible's cs_configuration sets them with `storage:`: stored for that pool only (not
/// the global value, which an ignored `storageid` used to change), listed there with
/// scope `storagepool`, and shown as the pool's `overprovisionfactor`; a pool without its
/// own takes its zone's, then the global one.
#[tokio::test]
async fn a_storage_pools_own_setting() {
    let c = Client::admin().await;
    let (zid, _, _) = c.basic_topology("poolcfg").await;
    let (p1, p2) = (
        pool_row(&c, &zid, "p1").await,
        pool_row(&c, &zid, "p2").await,
    );
    let name = ("name", "storage.overprovisioning.factor");
    let u = c
        .ok(
            "updateConfiguration",
            &[name, ("value", "3"), ("storageid", &p1)],
        )
        .await;
    assert_eq!(u["configuration"]["scope"], "storagepool", "{u}");
    assert_eq!(u["configuration"]["value"], "3");
    let at = |pool: String| {
        let c = &c;
        async move {
            c.ok("listConfigurations", &[name, ("storageid", &pool)])
                .await["configuration"][0]
                .clone()
        }
    };
    let l = at(p1.clone()).await;
    assert_eq!(
        (&l["value"], &l["scope"]),
        (&serde_json::json!("3"), &serde_json::json!("storagepool"))
    );
    assert_eq!(at(p2.clone()).await["value"], "2", "another pool: global");
    assert_eq!(
        c.ok("listConfigurations", &[name]).await["configuration"][0]["value"],
        "2",
        "the global value is left alone"
    );
    let factor = |pool: String| {
        let c = &c;
        async move {
            c.ok("listStoragePools", &[("id", &pool)]).await["storagepool"][0]
                ["overprovisionfactor"]
                .clone()
        }
    };
    assert_eq!(factor(p1.clone()).await, "3.0");
    assert_eq!(factor(p2.clone()).await, "2.0");
    // The zone's value for pools without their own.
    c.ok(
        "updateConfiguration",
        &[name, ("value", "2.5"), ("zoneid", &zid)],
    )
    .await;
    assert_eq!(factor(p1.clone()).await, "3.0");
    assert_eq!(factor(p2.clone()).await, "2.5");
    assert_eq!(
        c.ctx.stored_at(
            &stratus_management::settings::STORAGE_OVERPROVISIONING_FACTOR,
            stratus_management::settings::ScopeKind::StoragePool
        ),
        vec![(p1.parse().unwrap(), 3.0)]
    );

    // Mistakes, as CloudStack refuses them.
    let t = c
        .err(
            "updateConfiguration",
            &[
                ("name", "cpu.overprovisioning.factor"),
                ("value", "2"),
                ("storageid", &p1),
            ],
            431,
        )
        .await;
    assert!(t.contains("cannot be set at storagepool scope"), "{t}");
    let t = c
        .err(
            "updateConfiguration",
            &[name, ("value", "2"), ("storageid", &p1), ("zoneid", &zid)],
            431,
        )
        .await;
    assert!(t.contains("only one scope"), "{t}");
    c.err(
        "updateConfiguration",
        &[name, ("value", "2"), ("storageid", &zid)],
        431,
    )
    .await;

    c.ok("resetConfiguration", &[name, ("storageid", &p1)])
        .await;
    assert_eq!(factor(p1).await, "2.5", "back to its zone's");
}
