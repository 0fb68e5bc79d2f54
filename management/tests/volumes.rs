//! Volume files on a real NFS export (nfs-ganesha): qemu-img creates a thin qcow2 over
//! NFS, a path that is not exported gives qemu-img's reason, removal is idempotent.

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
