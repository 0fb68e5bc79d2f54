//! Compute and disk offerings through the API: CloudStack's seeded defaults, create with
//! clear errors for what is missing or contradictory, update, delete (hidden, not gone).

use stratus_testkit::db as common;

use common::Client;

#[tokio::test]
async fn service_and_disk_offerings() {
    let c = Client::admin().await;
    let so = c.ok("listServiceOfferings", &[]).await;
    let names: Vec<&str> = so["serviceoffering"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Small Instance", "Medium Instance"]);
    assert_eq!(so["serviceoffering"][0]["memory"], 512);
    assert_eq!(so["serviceoffering"][0]["cpuspeed"], 500);
    let d = c.ok("listDiskOfferings", &[]).await;
    let sizes: Vec<(String, i64, bool)> = d["diskoffering"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["disksize"].as_i64().unwrap(),
                o["iscustomized"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            ("Small".to_string(), 5, false),
            ("Medium".to_string(), 20, false),
            ("Large".to_string(), 100, false),
            ("Custom".to_string(), 0, true)
        ]
    );

    let t = c
        .err(
            "createServiceOffering",
            &[("name", "big"), ("cpunumber", "4")],
            431,
        )
        .await;
    assert!(t.contains("cpuspeed is required"), "{t}");
    let t = c
        .err(
            "createServiceOffering",
            &[
                ("name", "big"),
                ("cpunumber", "0"),
                ("cpuspeed", "1000"),
                ("memory", "1"),
            ],
            431,
        )
        .await;
    assert!(t.contains("cpunumber must be a positive number"), "{t}");
    let big = c
        .ok(
            "createServiceOffering",
            &[
                ("name", "big"),
                ("displaytext", "Big"),
                ("cpunumber", "4"),
                ("cpuspeed", "2000"),
                ("memory", "8192"),
                ("hosttags", "fast"),
            ],
        )
        .await["serviceoffering"]
        .clone();
    assert_eq!(big["cpunumber"], 4);
    assert_eq!(big["hosttags"], "fast");
    let t = c
        .err(
            "createServiceOffering",
            &[
                ("name", "big"),
                ("cpunumber", "1"),
                ("cpuspeed", "1"),
                ("memory", "1"),
            ],
            431,
        )
        .await;
    assert!(t.contains("already exists"), "{t}");
    let id = big["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.ok("updateServiceOffering", &[("id", &id), ("name", "bigger")])
            .await["serviceoffering"]["name"],
        "bigger"
    );
    assert_eq!(
        c.ok("listServiceOfferings", &[("memory", "4096")]).await["count"],
        1,
        "only offerings with at least that much memory"
    );
    c.ok("deleteServiceOffering", &[("id", &id)]).await;
    assert!(c
        .ok("listServiceOfferings", &[("id", &id)])
        .await
        .get("serviceoffering")
        .is_none());

    let t = c
        .err(
            "createDiskOffering",
            &[("name", "x"), ("disksize", "10"), ("customized", "true")],
            431,
        )
        .await;
    assert!(t.contains("not both"), "{t}");
    let t = c.err("createDiskOffering", &[("name", "x")], 431).await;
    assert!(t.contains("disksize"), "{t}");
    let ten = c
        .ok("createDiskOffering", &[("name", "ten"), ("disksize", "10")])
        .await["diskoffering"]
        .clone();
    assert_eq!(ten["disksize"], 10);
    assert_eq!(ten["displaytext"], "ten");
    let id = ten["id"].as_str().unwrap().to_string();
    c.ok("deleteDiskOffering", &[("id", &id)]).await;
    assert_eq!(c.ok("listDiskOfferings", &[]).await["count"], 4);
    // Each change is an event.
    let events = c
        .ok("listEvents", &[("type", "SERVICE.OFFERING.CREATE")])
        .await;
    assert_eq!(events["count"], 1);
}
