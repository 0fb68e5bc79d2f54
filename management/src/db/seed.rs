//! Bulk seeding for benchmarks and tests: thousands of placed VMs in one statement each.
//! Not production code, so it is compiled only with the `bench-seed` feature (which the
//! crate's own tests and benches turn on).

use sqlx::PgConnection;
use uuid::Uuid;

use super::Scalar;
use crate::error::Result;

stmt!(
    SEED_VMS = "INSERT INTO vms (id, name, display_name, account_id, domain_id, user_id, zone_id,
             service_offering_id, state, host_id, last_host_id, cpu_number, cpu_mhz, memory_mb)
         SELECT gen_random_uuid(), 'seed-' || g, 'seed-' || g, $2, $3, $4, $5, $6, 'Running',
                ($7::uuid[])[1 + g % array_length($7::uuid[], 1)],
                ($7::uuid[])[1 + g % array_length($7::uuid[], 1)], $8, $9, $10
         FROM generate_series(1, $1) g"
);
stmt!(
    SEED_NICS = "INSERT INTO nics (id, vm_id, network_id, ip_address, mac_address)
         SELECT gen_random_uuid(), v.id, $1,
                (SELECT r.start_ip FROM networks n JOIN ip_ranges r
                   ON r.zone_id = n.zone_id AND r.purpose = 'guest'
                 WHERE n.id = $1 ORDER BY r.start_ip LIMIT 1) + (v.rn - 1),
                ('02:5e:' || lpad(to_hex((v.rn >> 24) & 255), 2, '0') || ':'
                    || lpad(to_hex((v.rn >> 16) & 255), 2, '0') || ':'
                    || lpad(to_hex((v.rn >> 8) & 255), 2, '0') || ':'
                    || lpad(to_hex(v.rn & 255), 2, '0'))::macaddr
         FROM (SELECT id, row_number() OVER (ORDER BY instance_number) AS rn
               FROM vms WHERE name LIKE 'seed-%') v"
);

/// Benchmark seeding: `n` Running VMs spread over `hosts` round-robin, each with a NIC
/// taking the guest range's addresses in order from its start. One statement each, so
/// 10,000 VMs take seconds, not the minutes one allocation at a time would.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub async fn vm_seed_placed_bulk(
    db: &mut PgConnection,
    n: i64,
    zone_id: Uuid,
    owner: (Uuid, Uuid, Uuid),
    offering: (Uuid, i32, i32, i32),
    hosts: &[Uuid],
    network_id: Uuid,
) -> Result<()> {
    let (account, domain, user) = owner;
    let (so, cpus, mhz, mem) = offering;
    SEED_VMS
        .query()
        .bind(n)
        .bind(account)
        .bind(domain)
        .bind(user)
        .bind(zone_id)
        .bind(so)
        .bind(hosts)
        .bind(cpus)
        .bind(mhz)
        .bind(mem)
        .execute(&mut *db)
        .await?;
    SEED_NICS.query().bind(network_id).execute(&mut *db).await?;
    Ok(())
}

stmt!(
    SEED_POOL: Scalar<Uuid> = "INSERT INTO storage_pools (id, name, zone_id, scope, url, server, path)
         VALUES (gen_random_uuid(), 'seed-pool', $1, 'ZONE', 'nfs://127.0.0.1/seed', '127.0.0.1',
                 '/seed')
         RETURNING id"
);
stmt!(
    SEED_ROOT_VOLUMES =
        "INSERT INTO volumes (id, vm_id, name, volume_type, pool_id, path, size_bytes,
             state, account_id, domain_id, zone_id, device_id)
         SELECT gen_random_uuid(), v.id, 'ROOT-' || v.instance_number, 'ROOT', $1,
                v.id::text || '.qcow2', 8589934592, 'Ready', v.account_id, v.domain_id,
                v.zone_id, 0
         FROM vms v
         WHERE v.name LIKE 'seed-%' AND v.removed IS NULL
           AND v.zone_id = (SELECT zone_id FROM storage_pools WHERE id = $1)
           AND NOT EXISTS (SELECT 1 FROM volumes x WHERE x.vm_id = v.id AND x.removed IS NULL)"
);
stmt!(
    SEED_ACCOUNTS = "INSERT INTO accounts (id, name, domain_id, account_type, role_id)
         SELECT gen_random_uuid(), 'seed-account-' || g, $2, 0,
                '00000000-0000-4000-8000-000000000014'
         FROM generate_series(1, $1) g"
);
stmt!(
    SEED_USERS = "INSERT INTO users (id, account_id, username, domain_id, password_hash)
         SELECT gen_random_uuid(), a.id, replace(a.name, 'seed-account-', 'seed-user-'),
                a.domain_id, '!'
         FROM accounts a WHERE a.name LIKE 'seed-account-%'"
);
stmt!(
    SEED_EVENTS = "INSERT INTO events (id, event_type, level, description, user_id, account_id,
             domain_id, created)
         SELECT gen_random_uuid(), 'VM.CREATE', 'INFO', 'seeded event ' || g, $2, $3, $4,
                now() - make_interval(secs => $1 - g)
         FROM generate_series(1, $1) g"
);

/// Benchmark seeding: a zone-wide primary pool (a row only; nothing is mounted) and a
/// Ready ROOT volume on it for every seeded VM.
#[doc(hidden)]
pub async fn volume_seed_roots_bulk(db: &mut PgConnection, zone_id: Uuid) -> Result<()> {
    let pool = SEED_POOL
        .query_scalar()
        .bind(zone_id)
        .fetch_one(&mut *db)
        .await?;
    SEED_ROOT_VOLUMES
        .query()
        .bind(pool)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Benchmark seeding: `n` user accounts in `domain`, each with one user (who cannot
/// log in: no password hash matches).
#[doc(hidden)]
pub async fn account_seed_bulk(db: &mut PgConnection, n: i64, domain: Uuid) -> Result<()> {
    SEED_ACCOUNTS
        .query()
        .bind(n)
        .bind(domain)
        .execute(&mut *db)
        .await?;
    SEED_USERS.query().execute(&mut *db).await?;
    Ok(())
}

/// Benchmark seeding: `n` events of `owner` (account, domain, user), a second apart.
#[doc(hidden)]
pub async fn event_seed_bulk(
    db: &mut PgConnection,
    n: i64,
    owner: (Uuid, Uuid, Uuid),
) -> Result<()> {
    let (account, domain, user) = owner;
    SEED_EVENTS
        .query()
        .bind(n)
        .bind(user)
        .bind(account)
        .bind(domain)
        .execute(&mut *db)
        .await?;
    Ok(())
}

statements![
    SEED_VMS,
    SEED_NICS,
    SEED_POOL,
    SEED_ROOT_VOLUMES,
    SEED_ACCOUNTS,
    SEED_USERS,
    SEED_EVENTS
];
