//! Storage end to end, with the real `cs` client: NFS primary and secondary storage on a
//! real nfs-ganesha (tests/testbed/nfs-server.sh), and ISOs downloaded from a local HTTP
//! server into secondary storage. `/usr/lib/ipxe/ipxe.iso` becomes Ready with its size and
//! checksum and is byte for byte on the export; a 404, a file that is not an ISO, a wrong
//! checksum, an oversized file and the NFS server dying mid-download each give their own
//! error and leave no file behind; deleting removes the files; storage in use is refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_tests::{CsApi, HttpFiles, NfsServer, Served, Server};

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";

fn digest(tool: &str, path: &str) -> String {
    let out = Command::new(tool).arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Waits until the ISO's copy reaches a final state; returns its listIsos entry.
fn wait_final(api: &CsApi, iso: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let l = api.ok("listIsos", &[&format!("id={iso}"), "isofilter=all"]);
        let i = l["iso"][0].clone();
        let status = i["status"].as_str().unwrap_or_default();
        if i["isready"] == true
            || !(status.contains("Downloaded") || status.contains("pending") || status.is_empty())
        {
            return i;
        }
        assert!(Instant::now() < deadline, "ISO {iso} never finished: {i}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The files an ISO has in the secondary export.
fn files_of(secondary: &Path, iso: &str) -> Vec<PathBuf> {
    std::fs::read_dir(secondary.join("iso").join(iso))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn register(api: &CsApi, zone: &str, name: &str, url: &str, extra: &[&str]) -> String {
    let mut args = vec![
        format!("name={name}"),
        format!("displaytext={name}"),
        format!("url={url}"),
        format!("zoneid={zone}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = api.ok("registerIso", &a);
    id(&r["iso"][0])
}

#[test]
fn nfs_storage_and_iso_downloads() {
    assert!(
        Path::new(IPXE).exists(),
        "{IPXE} is missing: scripts/test installs ipxe"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (primary, secondary) = (tmp.path().join("primary"), tmp.path().join("secondary"));
    let nfs = NfsServer::up(
        "e2es1",
        213,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), "admin-pw-s");
    let api = CsApi::login(&server, "admin", "admin-pw-s");
    api.allow_loopback_downloads();

    let zone = id(&api.ok(
        "createZone",
        &[
            "name=sz",
            "networktype=Basic",
            "dns1=10.231.0.1",
            "internaldns1=10.231.0.1",
        ],
    )["zone"]);
    let pod = id(&api.ok(
        "createPod",
        &[
            &format!("zoneid={zone}"),
            "name=sp",
            "gateway=10.231.213.1",
            "netmask=255.255.255.0",
            "startip=10.231.213.100",
            "endip=10.231.213.120",
        ],
    )["pod"]);
    let cluster = id(&api.ok(
        "addCluster",
        &[
            &format!("zoneid={zone}"),
            &format!("podid={pod}"),
            "clustername=sc",
            "clustertype=CloudManaged",
            "hypervisor=KVM",
        ],
    )["cluster"][0]);
    let (z, p, c) = (
        format!("zoneid={zone}"),
        format!("podid={pod}"),
        format!("clusterid={cluster}"),
    );

    // Primary storage: mistakes are refused at once, with the reason.
    let url = |u: String| format!("url={u}");
    let t = api.err(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=bad",
            &url(format!("nfs://{}/not/exported", nfs.address)),
        ],
        534,
    );
    assert!(t.contains("does not export /not/exported"), "{t}");
    assert!(
        t.contains(&primary.display().to_string()),
        "names what it does export: {t}"
    );
    let t = api.err(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=bad",
            &url(format!("nfs://{}:2050{}", nfs.address, primary.display())),
        ],
        534,
    );
    assert!(t.contains("2050"), "{t}");
    let t = api.err(
        "createStoragePool",
        &[&z, &p, &c, "name=bad", "url=ftp://x/y"],
        431,
    );
    assert!(t.contains("Invalid primary storage URL"), "{t}");
    let pool = api.ok(
        "createStoragePool",
        &[
            &z,
            &p,
            &c,
            "name=ps1",
            "scope=cluster",
            &url(nfs.url(&primary)),
        ],
    )["storagepool"]
        .clone();
    assert_eq!(pool["state"], "Up");
    assert_eq!(pool["type"], "NetworkFilesystem");
    assert_eq!(pool["ipaddress"], nfs.address.as_str());
    assert_eq!(pool["path"], primary.display().to_string());
    assert!(pool["disksizetotal"].as_i64().unwrap() > 0, "{pool}");
    let t = api.err(
        "createStoragePool",
        &[&z, &p, &c, "name=ps2", &url(nfs.url(&primary))],
        431,
    );
    assert!(t.contains("already a primary storage pool"), "{t}");
    let pools = api.ok("listStoragePools", &[&format!("clusterid={cluster}")]);
    assert_eq!(pools["count"], 1);

    // Secondary storage.
    let store = api.ok(
        "addImageStore",
        &[&z, "name=ss1", "provider=NFS", &url(nfs.url(&secondary))],
    )["imagestore"]
        .clone();
    assert_eq!(store["protocol"], "nfs");
    assert_eq!(api.ok("listImageStores", &[&z])["count"], 1);

    // The good ISO: Ready, with its size and checksum, byte for byte on the export.
    let http = HttpFiles::start(vec![
        ("/ipxe.iso", Served::File(IPXE.into())),
        ("/notes.iso", Served::File("/etc/os-release".into())),
        (
            "/huge.iso",
            Served::Slow {
                announced: 3 << 30,
                bytes: 1 << 20,
                per_second: 1 << 20,
            },
        ),
        (
            "/slow.iso",
            Served::Slow {
                announced: 40 << 20,
                bytes: 40 << 20,
                per_second: 1 << 20,
            },
        ),
        (
            "/mid.iso",
            Served::Slow {
                announced: 6 << 20,
                bytes: 6 << 20,
                per_second: 2 << 20,
            },
        ),
    ]);
    let sha = digest("sha256sum", IPXE);
    let os = api.ok("listOsTypes", &["description=Other (64-bit)"])["ostype"][0].clone();
    let good = register(
        &api,
        &zone,
        "ipxe",
        &http.url("/ipxe.iso"),
        &[
            &format!("checksum={{sha256}}{sha}"),
            &format!("ostypeid={}", id(&os)),
            "ispublic=true",
        ],
    );
    let iso = wait_final(&api, &good);
    assert_eq!(iso["isready"], true, "{iso}");
    assert_eq!(iso["status"], "Successfully Installed");
    assert_eq!(iso["checksum"], format!("{{sha256}}{sha}"));
    let size = std::fs::metadata(IPXE).unwrap().len();
    assert_eq!(iso["size"], size);
    assert_eq!(iso["ostypename"], "Other (64-bit)");
    let files = files_of(&secondary, &good);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        std::fs::read(IPXE).unwrap()
    );
    // Registered without a checksum: the computed one is shown.
    let plain = register(&api, &zone, "ipxe-plain", &http.url("/ipxe.iso"), &[]);
    let i = wait_final(&api, &plain);
    assert_eq!(i["checksum"], format!("{{sha256}}{sha}"));

    // Each bad case: its own error, and no file left.
    api.ok(
        "updateConfiguration",
        &["name=max.template.iso.size", "value=1"],
    );
    let md5 = digest("md5sum", IPXE);
    let wrong_md5: String = md5.chars().rev().collect();
    for (name, path, extra, want) in [
        (
            "missing",
            "/missing.iso",
            String::new(),
            "404 Not Found".to_string(),
        ),
        (
            "notes",
            "/notes.iso",
            String::new(),
            "not an ISO 9660 image".to_string(),
        ),
        (
            "badsum",
            "/ipxe.iso",
            format!("checksum={wrong_md5}"),
            "Checksum mismatch".to_string(),
        ),
        ("huge", "/huge.iso", String::new(), "limit".to_string()),
    ] {
        let extra: Vec<&str> = if extra.is_empty() {
            vec![]
        } else {
            vec![extra.as_str()]
        };
        let bad = register(&api, &zone, name, &http.url(path), &extra);
        let i = wait_final(&api, &bad);
        assert_eq!(i["isready"], false, "{i}");
        let status = i["status"].as_str().unwrap();
        assert!(status.contains(&want), "{name}: {status}");
        assert!(
            files_of(&secondary, &bad).is_empty(),
            "{name} left {:?}",
            files_of(&secondary, &bad)
        );
    }
    let bad = api.ok("listIsos", &["name=badsum", "isofilter=all"])["iso"][0]["status"].clone();
    assert!(
        bad.as_str().unwrap().contains(&wrong_md5),
        "both sums are shown: {bad}"
    );

    // An image store holding ISOs cannot be deleted; a pool can (no volumes yet).
    let t = api.err("deleteImageStore", &[&format!("id={}", id(&store))], 536);
    assert!(t.contains("holds"), "{t}");

    // deleteIso removes the files from the export.
    api.ok("deleteIso", &[&format!("id={good}")]);
    assert!(files_of(&secondary, &good).is_empty());
    assert!(api
        .ok("listIsos", &[&format!("id={good}")])
        .get("iso")
        .is_none());

    // The NFS server dies mid-download: a clear error, and once it is back, no partial file.
    api.ok(
        "updateConfiguration",
        &["name=max.template.iso.size", "value=50"],
    );
    let slow = register(&api, &zone, "slow", &http.url("/slow.iso"), &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = api.ok("listIsos", &[&format!("id={slow}")])["iso"][0]["status"].clone();
        if s.as_str().unwrap_or_default().contains("% Downloaded")
            && !files_of(&secondary, &slow).is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow download did not start: {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    nfs.down();
    let i = wait_final(&api, &slow);
    let status = i["status"].as_str().unwrap();
    assert!(
        status.contains("NFS") || status.contains("10.231.213.2"),
        "{status}"
    );
    let nfs = NfsServer::up(
        "e2es1",
        213,
        &tmp.path().join("nfs"),
        &[&primary, &secondary],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !files_of(&secondary, &slow).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the partial file stayed: {:?}",
            files_of(&secondary, &slow)
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // The management server is killed mid-download: after a restart the copy is taken
    // over (its claim runs out) and finishes; nothing stays at "Downloading".
    let mid = register(&api, &zone, "mid", &http.url("/mid.iso"), &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !api.ok("listIsos", &[&format!("id={mid}")])["iso"][0]["status"]
        .as_str()
        .unwrap_or_default()
        .contains("% Downloaded")
    {
        assert!(
            Instant::now() < deadline,
            "the download did not start: {}\n{}",
            api.ok("listIsos", &[&format!("id={mid}")]),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let server = Server::start(data.path(), "admin-pw-s");
    let api = CsApi::login(&server, "admin", "admin-pw-s");
    let i = wait_final(&api, &mid);
    assert_eq!(i["status"], "Successfully Installed", "{i}");
    assert_eq!(i["size"], 6 << 20);
    assert_eq!(
        files_of(&secondary, &mid).len(),
        1,
        "no partial file beside it"
    );

    // Everything can go now.
    for i in api.ok("listIsos", &["isofilter=all"])["iso"]
        .as_array()
        .unwrap()
    {
        api.ok("deleteIso", &[&format!("id={}", id(i))]);
    }
    api.ok("deleteImageStore", &[&format!("id={}", id(&store))]);
    api.ok("deleteStoragePool", &[&format!("id={}", id(&pool))]);
    drop(nfs);
}
