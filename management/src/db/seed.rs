//! Bulk seeding for benchmarks and tests: thousands of placed VMs in one statement each.
//! Not production code, so it is compiled only with the `bench-seed` feature (which the
//! crate's own tests and benches turn on).

use sqlx::PgConnection;
use uuid::Uuid;

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

statements![SEED_VMS, SEED_NICS];
