//! Security groups (issue 14, in progress): what the schema of migration 0052 holds by
//! itself, before any command uses it. Every account that existed has its `default`
//! group; the name is reserved per account case-insensitively; a duplicate rule is
//! refused by the database (authorize's "skipped" cannot race); a group with a VM in it
//! or referenced by another group's rule cannot be deleted.

use stratus_testkit::db as common;

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
    // The admin account, made before the migration ran in production, is seeded here
    // after it: its default group comes from account creation once the commands exist.
    // Until then the migration's own backfill is what gives existing accounts theirs.
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
    let default = if has_default == 0 {
        insert_group(pool, account, domain, "default")
            .await
            .unwrap()
    } else {
        sqlx::query_scalar("SELECT id FROM security_groups WHERE account_id = $1 AND is_default")
            .bind(account)
            .fetch_one(pool)
            .await
            .unwrap()
    };

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

    // Hosts start with nothing to push.
    let gens: Vec<(i64, i64)> = sqlx::query_as("SELECT sg_generation, sg_applied FROM hosts")
        .fetch_all(pool)
        .await
        .unwrap();
    assert!(gens.iter().all(|g| *g == (0, 0)), "{gens:?}");
}
