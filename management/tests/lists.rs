//! Lists that page in two statements (issue 20: the page's ids from the base table, then
//! the rows around them): pages are whole, in order and disjoint; the total counts what
//! the filters select, `state=Present` included (it was applied after paging, so its
//! pages came up short and its count held destroyed VMs); states match in any case; the
//! volumes' owner and zone filters still select by the root volume's VM.

use stratus_testkit::db as common;

use common::Client;
use serde_json::Value;
use stratus_management::db;
use uuid::Uuid;

/// A Basic zone with a guest range and `count` Running instances of the admin's (with
/// their ROOT volumes), written straight into the database: the zone's id.
async fn seeded(c: &Client, zone: &str, n: u8, count: i64) -> String {
    let (zid, pid, _) = c.basic_topology(zone).await;
    let net = |last: u8| format!("192.168.{n}.{last}");
    c.ok(
        "createVlanIpRange",
        &[
            ("zoneid", &zid),
            ("podid", &pid),
            ("gateway", &net(1)),
            ("netmask", "255.255.255.0"),
            ("startip", &net(10)),
            ("endip", &net(250)),
            ("forvirtualnetwork", "false"),
        ],
    )
    .await;
    let nets = c.ok("listNetworks", &[("zoneid", &zid)]).await;
    let net: Uuid = nets["network"][0]["id"].as_str().unwrap().parse().unwrap();
    let admin = db::accounts::user_fetch_by_name(&c.ctx.pool, db::accounts::ROOT_DOMAIN, "admin")
        .await
        .unwrap()
        .unwrap();
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
        &[],
        net,
    )
    .await
    .unwrap();
    db::seed::volume_seed_roots_bulk(&mut conn, zid.parse().unwrap())
        .await
        .unwrap();
    zid
}

fn ids(b: &Value, object: &str) -> Vec<String> {
    b[object]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn vm_pages_are_whole_ordered_and_counted_with_their_filters() {
    let c = Client::admin().await;
    seeded(&c, "lists", 70, 25).await;
    // Every VM once, in creation order, over three pages of 10.
    let all = c
        .ok(
            "listVirtualMachines",
            &[("listall", "true"), ("pagesize", "100"), ("page", "1")],
        )
        .await;
    assert_eq!(all["count"], 25);
    let every = ids(&all, "virtualmachine");
    let mut paged = vec![];
    for page in ["1", "2", "3"] {
        let b = c
            .ok(
                "listVirtualMachines",
                &[("listall", "true"), ("pagesize", "10"), ("page", page)],
            )
            .await;
        assert_eq!(b["count"], 25, "page {page}");
        paged.extend(ids(&b, "virtualmachine"));
    }
    assert_eq!(paged, every);
    // A page past the end is empty, as CloudStack answers it.
    let past = c
        .ok(
            "listVirtualMachines",
            &[("listall", "true"), ("pagesize", "10"), ("page", "4")],
        )
        .await;
    assert!(ids(&past, "virtualmachine").is_empty(), "{past}");

    // Destroy the first four (as destroyVirtualMachine leaves them, not expunged).
    for id in &every[..4] {
        sqlx::query("UPDATE vms SET state = 'Destroyed' WHERE id = $1::uuid")
            .bind(id)
            .execute(&c.ctx.pool)
            .await
            .unwrap();
    }
    // `Present` leaves them out of the count and of the pages, which stay whole.
    let present = c
        .ok(
            "listVirtualMachines",
            &[
                ("listall", "true"),
                ("state", "Present"),
                ("pagesize", "10"),
                ("page", "1"),
            ],
        )
        .await;
    assert_eq!(present["count"], 21, "{present}");
    assert_eq!(ids(&present, "virtualmachine"), every[4..14].to_vec());
    let last = c
        .ok(
            "listVirtualMachines",
            &[
                ("listall", "true"),
                ("state", "present"),
                ("pagesize", "10"),
                ("page", "3"),
            ],
        )
        .await;
    assert_eq!(ids(&last, "virtualmachine"), every[24..].to_vec());
    // A state in any case; one no Stratus VM has answers none, not an error.
    let destroyed = c
        .ok(
            "listVirtualMachines",
            &[("listall", "true"), ("state", "dEsTrOyEd")],
        )
        .await;
    assert_eq!(destroyed["count"], 4);
    assert_eq!(ids(&destroyed, "virtualmachine"), every[..4].to_vec());
    let running = c
        .ok(
            "listVirtualMachines",
            &[("listall", "true"), ("state", "running")],
        )
        .await;
    assert_eq!(running["count"], 21);
    let migrating = c
        .ok(
            "listVirtualMachines",
            &[("listall", "true"), ("state", "Migrating")],
        )
        .await;
    assert!(ids(&migrating, "virtualmachine").is_empty(), "{migrating}");
    // A keyword by its trigram index, the answer's fields from the second statement.
    let one = c
        .ok(
            "listVirtualMachines",
            &[("listall", "true"), ("keyword", "seed-17")],
        )
        .await;
    assert_eq!(one["count"], 1, "{one}");
    let vm = &one["virtualmachine"][0];
    assert_eq!(vm["name"], "seed-17");
    assert_eq!(vm["zonename"], "lists");
    assert_eq!(vm["serviceofferingname"], "Small Instance");
    assert_eq!(vm["nic"][0]["ipaddress"], "192.168.70.26");
}

#[tokio::test]
async fn volume_pages_are_whole_and_filtered_by_their_vms_owner_and_zone() {
    let c = Client::admin().await;
    let zid = seeded(&c, "vols", 71, 15).await;
    let (other, _, _) = c.basic_topology("vols-empty").await;
    let all = c
        .ok(
            "listVolumes",
            &[("listall", "true"), ("pagesize", "100"), ("page", "1")],
        )
        .await;
    assert_eq!(all["count"], 15);
    let every = ids(&all, "volume");
    let mut paged = vec![];
    for page in ["1", "2", "3", "4"] {
        let b = c
            .ok(
                "listVolumes",
                &[("listall", "true"), ("pagesize", "4"), ("page", page)],
            )
            .await;
        assert_eq!(b["count"], 15);
        paged.extend(ids(&b, "volume"));
    }
    assert_eq!(paged, every);
    // By zone (the volume's pool's; an empty zone has none), by the VM, and by owner: a root volume's owner is its
    // VM's (the seeded volumes carry none of their own).
    let in_zone = c
        .ok("listVolumes", &[("listall", "true"), ("zoneid", &zid)])
        .await;
    assert_eq!(in_zone["count"], 15);
    let in_other = c
        .ok("listVolumes", &[("listall", "true"), ("zoneid", &other)])
        .await;
    assert!(ids(&in_other, "volume").is_empty(), "{in_other}");
    let vm = all["volume"][5]["virtualmachineid"].as_str().unwrap();
    let of_vm = c
        .ok(
            "listVolumes",
            &[("virtualmachineid", vm), ("listall", "true")],
        )
        .await;
    assert_eq!(of_vm["count"], 1);
    assert_eq!(of_vm["volume"][0]["type"], "ROOT");
    sqlx::query("UPDATE volumes SET account_id = NULL, domain_id = NULL")
        .execute(&c.ctx.pool)
        .await
        .unwrap();
    let mine = c
        .ok(
            "listVolumes",
            &[("account", "admin"), ("domainid", &root_domain(&c).await)],
        )
        .await;
    assert_eq!(mine["count"], 15, "{mine}");
    assert_eq!(mine["volume"][0]["account"], "admin");
    let keyword = c
        .ok("listVolumes", &[("listall", "true"), ("keyword", "ROOT-")])
        .await;
    assert_eq!(keyword["count"], 15);
}

async fn root_domain(c: &Client) -> String {
    let d = c.ok("listDomains", &[("level", "0")]).await;
    d["domain"][0]["id"].as_str().unwrap().to_string()
}
