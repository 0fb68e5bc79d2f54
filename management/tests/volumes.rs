//! Volume files on a real NFS export (nfs-ganesha): qemu-img creates a thin qcow2 over
//! NFS, a path that is not exported gives qemu-img's reason, removal is idempotent; and
//! listVolumes' physicalsize is what the file takes on the export, as measured.

use stratus_management::clients::nfs::NfsUrl;
use stratus_management::services::vms::volumes;
use stratus_tests::NfsServer;

#[tokio::test]
async fn qcow2_volumes_over_nfs() {
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("primary");
    let nfs = NfsServer::up("volt", 215, &tmp.path().join("state"), &[&export]);
    let pool = NfsUrl::parse(&nfs.url(&export)).unwrap();
    let id = uuid::Uuid::new_v4();
    let rel = volumes::volume_path(id);
    volumes::create_qcow2(&pool, &rel, 1 << 30).await.unwrap();
    let file = export.join(&rel);
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&file)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 1u64 << 30);
    assert!(std::fs::metadata(&file).unwrap().len() < 1 << 20, "thin");

    let bad = NfsUrl::parse(&format!("nfs://{}/not/exported", nfs.address)).unwrap();
    let e = volumes::create_qcow2(&bad, "x.qcow2", 1 << 30)
        .await
        .unwrap_err();
    assert!(
        e.contains("qemu-img create") && e.contains("Failed to mount"),
        "{e}"
    );

    volumes::remove(&pool, &rel).await.unwrap();
    assert!(!file.exists());
    volumes::remove(&pool, &rel).await.unwrap();
}

/// listVolumes' `physicalsize`: what the volume's file takes on its pool (NFS `used`),
/// measured with the pool's capacity by the storage pass. None before the first pass (as
/// CloudStack before its volume stats); after it, what the file really takes — far less
/// than the size of a thin qcow2 — and more once more is written.
#[tokio::test]
async fn volumes_answer_what_their_file_takes_on_the_pool() {
    use std::os::unix::fs::MetadataExt;
    use stratus_management::{db, services::reconcile};
    use stratus_testkit::db::Client;

    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("primary");
    let nfs = NfsServer::up("volps", 227, &tmp.path().join("state"), &[&export]);
    let c = Client::admin().await;
    let (zone, pod, cluster) = c.basic_topology("psz").await;
    let pool = c
        .ok(
            "createStoragePool",
            &[
                ("zoneid", &zone),
                ("podid", &pod),
                ("clusterid", &cluster),
                ("name", "primary"),
                ("url", &nfs.url(&export)),
            ],
        )
        .await["storagepool"]["id"]
        .as_str()
        .unwrap()
        .parse::<uuid::Uuid>()
        .unwrap();
    let id = uuid::Uuid::new_v4();
    let rel = volumes::volume_path(id);
    volumes::create_qcow2(&NfsUrl::parse(&nfs.url(&export)).unwrap(), &rel, 1 << 30)
        .await
        .unwrap();
    db::volumes::volume_insert(
        &c.ctx.pool,
        &db::volumes::VolumeRow {
            id,
            vm_id: None,
            name: "ROOT-psz".into(),
            volume_type: "ROOT".into(),
            pool_id: pool,
            path: rel.clone(),
            size_bytes: 1 << 30,
            state: "Ready".into(),
            created: chrono::Utc::now(),
            removed: None,
            template_id: None,
        },
    )
    .await
    .unwrap();
    let listed = || {
        let c = c.clone_handle();
        let id = id.to_string();
        async move { c.ok("listVolumes", &[("id", &id)]).await["volume"][0].clone() }
    };
    let v = listed().await;
    assert!(v.get("physicalsize").is_none(), "not measured yet: {v}");
    assert_eq!(v["size"], 1i64 << 30);

    let file = export.join(&rel);
    let on_disk = |f: &std::path::Path| std::fs::metadata(f).unwrap().blocks() as i64 * 512;
    reconcile::refresh_storage_stats(&c.ctx).await.unwrap();
    let v = listed().await;
    let measured = v["physicalsize"].as_i64().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(measured, on_disk(&file), "{v}");
    assert!(measured > 0 && measured < 1 << 20, "thin: {v}");

    // Rewritten through the export (as qemu writes it) with 8 MiB, it is measured again.
    let mut client = stratus_management::clients::nfs::NfsClient::connect(
        &NfsUrl::parse(&nfs.url(&export)).unwrap(),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut w = client.create(&rel).await.unwrap();
    w.write(&vec![0xa5u8; 8 << 20]).await.unwrap();
    w.finish().await.unwrap();
    reconcile::refresh_storage_stats(&c.ctx).await.unwrap();
    let grown = listed().await["physicalsize"].as_i64().unwrap();
    assert_eq!(grown, on_disk(&file));
    assert!(grown >= 8 << 20, "{measured} then {grown}");
}
