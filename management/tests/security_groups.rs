//! Security groups (issue 14): what the schema of migration 0052 holds by itself (every
//! account has its `default` group; the name is reserved per account case-insensitively;
//! a duplicate rule is refused by the database, so authorize's "skipped" cannot race; a
//! group referenced by another group's rule cannot be deleted), and the commands through
//! the signed API as CloudStack answers them.

use stratus_testkit::db as common;

use common::Client;
use serde_json::Value;

use uuid::Uuid;

async fn insert_group(
    pool: &sqlx::PgPool,
    account: Uuid,
    domain: Uuid,
    name: &str,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO security_groups (id, name, account_id, domain_id, is_default)
         VALUES ($1, $2, $3, $4, lower($2) = 'default')",
    )
    .bind(id)
    .bind(name)
    .bind(account)
    .bind(domain)
    .execute(pool)
    .await?;
    Ok(id)
}

async fn insert_rule(
    pool: &sqlx::PgPool,
    group: Uuid,
    cidr: Option<&str>,
    allowed: Option<Uuid>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO security_group_rules
           (id, group_id, direction, protocol, start_port, end_port, cidr, cidr_text, allowed_group_id)
         VALUES ($1, $2, 'Ingress', 'tcp', 22, 22, network($3::inet), $3, $4)",
    )
    .bind(id)
    .bind(group)
    .bind(cidr)
    .bind(allowed)
    .execute(pool)
    .await?;
    Ok(id)
}

#[tokio::test]
async fn the_schema_keeps_groups_and_rules_consistent() {
    let ctx = common::fresh_ctx().await;
    let pool = &ctx.pool;
    // Every account has its default group (the trigger on accounts; the migration's
    // backfill for those made before it).
    let (account, domain): (Uuid, Uuid) =
        sqlx::query_as("SELECT id, domain_id FROM accounts ORDER BY created LIMIT 1")
            .fetch_one(pool)
            .await
            .unwrap();
    let has_default: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM security_groups WHERE account_id = $1 AND name = 'default'",
    )
    .bind(account)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(has_default, 1);
    let default: Uuid =
        sqlx::query_scalar("SELECT id FROM security_groups WHERE account_id = $1 AND is_default")
            .bind(account)
            .fetch_one(pool)
            .await
            .unwrap();

    // The name is the account's, case-insensitively; is_default follows the name.
    assert!(insert_group(pool, account, domain, "DEFAULT")
        .await
        .is_err());
    let web = insert_group(pool, account, domain, "web").await.unwrap();
    assert!(insert_group(pool, account, domain, "Web").await.is_err());
    assert!(insert_group(pool, account, domain, "  ").await.is_err());

    // One rule per source; the same rule twice is refused; a rule names a CIDR or a group.
    insert_rule(pool, web, Some("10.0.0.0/8"), None)
        .await
        .unwrap();
    assert!(insert_rule(pool, web, Some("10.0.0.0/8"), None)
        .await
        .is_err());
    insert_rule(pool, web, Some("10.0.0.5/8"), None)
        .await
        .unwrap();
    insert_rule(pool, web, None, Some(default)).await.unwrap();
    assert!(insert_rule(pool, web, None, Some(default)).await.is_err());
    assert!(insert_rule(pool, web, None, None).await.is_err());
    assert!(insert_rule(pool, web, Some("10.0.0.0/8"), Some(default))
        .await
        .is_err());

    // The CIDR is answered as written, host bits and all.
    let texts: Vec<String> = sqlx::query_scalar(
        "SELECT cidr_text FROM security_group_rules WHERE group_id = $1 AND cidr IS NOT NULL ORDER BY cidr_text",
    )
    .bind(web)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(texts, ["10.0.0.0/8", "10.0.0.5/8"]);

    // `default` is referenced by web's rule: it cannot go.
    assert!(sqlx::query("DELETE FROM security_groups WHERE id = $1")
        .bind(default)
        .execute(pool)
        .await
        .is_err());
    // Deleting web takes its rules with it.
    sqlx::query("DELETE FROM security_groups WHERE id = $1")
        .bind(web)
        .execute(pool)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM security_group_rules")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 0);

    // Nothing touched a host: no host has a filter generation yet.
    let states: i64 = sqlx::query_scalar("SELECT count(*) FROM sg_host_state")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(states, 0);
}

/// Runs an async command and waits for its job: the finished queryAsyncJobResult body.
async fn job(c: &Client, command: &str, params: &[(&str, &str)]) -> Value {
    let a = c.ok(command, params).await;
    c.wait_job(
        a["jobid"]
            .as_str()
            .expect("an async command answers a jobid"),
    )
    .await
}

fn rules<'a>(g: &'a Value, key: &str) -> &'a Vec<Value> {
    g[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is always a list: {g}"))
}

#[tokio::test]
async fn security_groups_through_the_api() {
    let c = Client::admin().await;
    let _worker = c.spawn_job_worker();
    // The admin's default group: no rules, no VMs, every list present.
    let list = c.ok("listSecurityGroups", &[]).await;
    let groups = list["securitygroup"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{list}");
    let default = &groups[0];
    assert_eq!(default["name"], "default");
    assert_eq!(default["description"], "Default Security Group");
    assert_eq!(default["account"], "admin");
    assert!(rules(default, "ingressrule").is_empty());
    assert!(rules(default, "egressrule").is_empty());
    assert_eq!(default["virtualmachineids"], serde_json::json!([]));
    assert_eq!(default["tags"], serde_json::json!([]));
    let default_id = default["id"].as_str().unwrap().to_string();

    // create: names are the account's, case-insensitively; `default` is taken.
    let web = c
        .ok(
            "createSecurityGroup",
            &[("name", "web"), ("description", "Web servers")],
        )
        .await["securitygroup"]
        .clone();
    assert_eq!(web["name"], "web");
    assert_eq!(web["description"], "Web servers");
    let web_id = web["id"].as_str().unwrap().to_string();
    for name in ["Web", "DEFAULT"] {
        let e = c.err("createSecurityGroup", &[("name", name)], 431).await;
        assert_eq!(
            e,
            format!("Unable to create security group, a group with name {name} already exists.")
        );
    }
    assert_eq!(
        c.err("createSecurityGroup", &[("name", "  ")], 431).await,
        "Security group name cannot be empty"
    );

    // authorize: one rule per CIDR, the CIDR answered as sent, the protocol's case and
    // 0/0 ports normalised; the job answers only the rules it added.
    let done = job(
        &c,
        "authorizeSecurityGroupIngress",
        &[
            ("securitygroupid", &web_id),
            ("protocol", "TCP"),
            ("startport", "22"),
            ("endport", "22"),
            ("cidrlist", "10.0.0.5/8, 192.168.1.0/24"),
        ],
    )
    .await;
    assert_eq!(done["jobstatus"], 1, "{done}");
    let sg = &done["jobresult"]["securitygroup"];
    let added = rules(sg, "ingressrule");
    assert_eq!(added.len(), 2, "{done}");
    assert_eq!(added[0]["protocol"], "tcp");
    assert_eq!(added[0]["startport"], 22);
    assert_eq!(added[0]["endport"], 22);
    assert_eq!(added[0]["cidr"], "10.0.0.5/8");
    assert!(added[0].get("icmptype").is_none(), "{done}");
    // The same again adds nothing: the job fails, as CloudStack's does.
    let again = job(
        &c,
        "authorizeSecurityGroupIngress",
        &[
            ("securitygroupid", &web_id),
            ("protocol", "tcp"),
            ("startport", "22"),
            ("endport", "22"),
            ("cidrlist", "10.0.0.5/8"),
        ],
    )
    .await;
    assert_eq!(again["jobstatus"], 2, "{again}");
    assert_eq!(again["jobresultcode"], 530);
    assert_eq!(
        again["jobresult"]["errortext"],
        "Failed to authorize security group ingress rule(s)"
    );
    // By name, ICMP as protocol 1, and a group by usersecuritygrouplist.
    let icmp = job(
        &c,
        "authorizeSecurityGroupIngress",
        &[
            ("securitygroupname", "web"),
            ("protocol", "1"),
            ("usersecuritygrouplist[0].account", "admin"),
            ("usersecuritygrouplist[0].group", "default"),
        ],
    )
    .await;
    let r = &rules(&icmp["jobresult"]["securitygroup"], "ingressrule")[0];
    assert_eq!(r["protocol"], "icmp");
    assert_eq!(r["icmptype"], -1);
    assert_eq!(r["icmpcode"], -1);
    assert_eq!(r["securitygroupname"], "default");
    assert_eq!(r["account"], "admin");
    assert!(
        r.get("cidr").is_none() && r.get("startport").is_none(),
        "{r}"
    );
    let egress = job(
        &c,
        "authorizeSecurityGroupEgress",
        &[
            ("securitygroupid", &web_id),
            ("protocol", "udp"),
            ("startport", "0"),
            ("endport", "0"),
            ("cidrlist", "0.0.0.0/0"),
        ],
    )
    .await;
    let e = &rules(&egress["jobresult"]["securitygroup"], "egressrule")[0];
    assert_eq!(
        (e["startport"].clone(), e["endport"].clone()),
        (0.into(), 65535.into())
    );
    let egress_rule = e["ruleid"].as_str().unwrap().to_string();

    // CloudStack's checks, in its words.
    for (params, text) in [
        (
            vec![
                ("securitygroupid", web_id.as_str()),
                ("protocol", "tcp"),
                ("cidrlist", "1.2.3.0/24"),
            ],
            "Invalid port range specified, startPort = null, endPort = null",
        ),
        (
            vec![
                ("securitygroupid", web_id.as_str()),
                ("protocol", "gre"),
                ("cidrlist", "1.2.3.0/24"),
            ],
            "Invalid protocol gre",
        ),
        (
            vec![
                ("securitygroupid", web_id.as_str()),
                ("protocol", "tcp"),
                ("startport", "1"),
                ("endport", "2"),
            ],
            "At least one cidr or at least one security group needs to be specified",
        ),
        (
            vec![
                ("securitygroupid", web_id.as_str()),
                ("protocol", "tcp"),
                ("startport", "1"),
                ("endport", "2"),
                ("cidrlist", "1.2.3/24"),
            ],
            "Invalid cidr 1.2.3/24",
        ),
        (
            vec![
                ("securitygroupid", web_id.as_str()),
                ("securitygroupname", "web"),
                ("cidrlist", "1.2.3.0/24"),
            ],
            "securityGroupId and securityGroupName parameters are mutually exclusive",
        ),
    ] {
        let done = job(&c, "authorizeSecurityGroupIngress", &params).await;
        assert_eq!(done["jobstatus"], 2, "{params:?}: {done}");
        assert_eq!(done["jobresult"]["errortext"], text, "{params:?}");
    }

    // The listing holds every rule, by direction.
    let listed = c
        .ok("listSecurityGroups", &[("securitygroupname", "web")])
        .await;
    assert_eq!(listed["count"], 1, "{listed}");
    let g = &listed["securitygroup"][0];
    assert_eq!(rules(g, "ingressrule").len(), 3, "{g}");
    assert_eq!(rules(g, "egressrule").len(), 1, "{g}");
    let by_keyword = c.ok("listSecurityGroups", &[("keyword", "we")]).await;
    assert_eq!(by_keyword["count"], 1);

    // revoke: by rule id, and only through its direction's command.
    let wrong = job(&c, "revokeSecurityGroupIngress", &[("id", &egress_rule)]).await;
    assert_eq!(
        wrong["jobresult"]["errortext"],
        format!("Mismatch in rule type for security rule with id {egress_rule}")
    );
    let ok = job(&c, "revokeSecurityGroupEgress", &[("id", &egress_rule)]).await;
    assert_eq!(ok["jobstatus"], 1, "{ok}");
    let g = &c.ok("listSecurityGroups", &[("id", &web_id)]).await["securitygroup"][0];
    assert!(rules(g, "egressrule").is_empty(), "{g}");

    // delete: default is reserved; a group another group's rule names stays.
    assert_eq!(
        c.err("deleteSecurityGroup", &[("id", &default_id)], 431)
            .await,
        "The network group default is reserved"
    );
    let other = c.ok("createSecurityGroup", &[("name", "db")]).await["securitygroup"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let named = job(
        &c,
        "authorizeSecurityGroupIngress",
        &[
            ("securitygroupid", &other),
            ("protocol", "tcp"),
            ("startport", "5432"),
            ("endport", "5432"),
            ("usersecuritygrouplist[0].account", "admin"),
            ("usersecuritygrouplist[0].group", "web"),
        ],
    )
    .await;
    assert_eq!(named["jobstatus"], 1, "{named}");
    assert_eq!(
        c.err("deleteSecurityGroup", &[("name", "web")], 536).await,
        "Cannot delete group when there are security rules that allow this group"
    );
    c.ok("deleteSecurityGroup", &[("id", &other)]).await;
    c.ok("deleteSecurityGroup", &[("name", "web")]).await;
    assert_eq!(c.ok("listSecurityGroups", &[]).await["count"], 1);

    // updateSecurityGroup renames, but never to or from `default`.
    let g = c.ok("createSecurityGroup", &[("name", "app")]).await["securitygroup"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let renamed = c
        .ok("updateSecurityGroup", &[("id", &g), ("name", "app2")])
        .await;
    assert_eq!(renamed["securitygroup"]["name"], "app2");
    assert_eq!(
        c.err(
            "updateSecurityGroup",
            &[("id", &g), ("name", "Default")],
            431
        )
        .await,
        "The security group name default is reserved"
    );
    assert_eq!(
        c.err(
            "updateSecurityGroup",
            &[("id", &default_id), ("name", "x")],
            431
        )
        .await,
        "The default security group cannot be renamed"
    );

    // A new account comes with its own default group; it sees only its own groups.
    let bob = c.user("bob").await;
    let mine = bob.ok("listSecurityGroups", &[]).await;
    assert_eq!(mine["count"], 1, "{mine}");
    assert_eq!(mine["securitygroup"][0]["name"], "default");
    assert_eq!(mine["securitygroup"][0]["account"], "bob");
    let theirs = job(
        &bob,
        "authorizeSecurityGroupIngress",
        &[
            ("securitygroupid", &g),
            ("protocol", "all"),
            ("cidrlist", "0.0.0.0/0"),
        ],
    )
    .await;
    assert_eq!(
        theirs["jobstatus"], 2,
        "bob may not change admin's group: {theirs}"
    );

    // Basic zones enforce security groups, and listCapabilities says so.
    assert_eq!(
        c.ok("listCapabilities", &[]).await["capability"]["securitygroupsenabled"],
        false
    );
    c.basic_topology("z1").await;
    let z = c.ok("listZones", &[("name", "z1")]).await;
    assert_eq!(z["zone"][0]["securitygroupsenabled"], true, "{z}");
    assert_eq!(
        c.ok("listCapabilities", &[]).await["capability"]["securitygroupsenabled"],
        true
    );
    let e = c
        .err(
            "createZone",
            &[
                ("name", "adv"),
                ("networktype", "Advanced"),
                ("dns1", "8.8.8.8"),
                ("internaldns1", "10.0.0.2"),
                ("securitygroupenabled", "true"),
            ],
            432,
        )
        .await;
    assert!(e.contains("Advanced zones"), "{e}");
}
