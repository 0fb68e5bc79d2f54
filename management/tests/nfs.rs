//! The NFS layer (`stratus_management::clients::nfs`) against a real NFS server: nfs-ganesha in a
//! network namespace on the test bed (tests/testbed/nfs-server.sh). Mount and capacity;
//! directories, a streamed 20 MiB file, range reads, rename, listing and removal, checked
//! against the exported directory on disk; and the errors an admin sees for a wrong port,
//! an address where nothing answers, a path that is not exported and a bad URL. Needs root
//! (network namespaces); skipped otherwise.

use std::time::Duration;

use stratus_management::clients::nfs::{FileKind, NfsClient, NfsError, NfsUrl};

use stratus_testkit::http as support;
use support::{is_root, NfsServer};

/// The test bed's address of machine INDEX; INDEX + 1 is left free (nothing answers there).
const INDEX: u8 = 221;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Byte `i` of the streamed test file.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

#[tokio::test]
async fn nfs_storage_against_ganesha() {
    if !is_root() {
        eprintln!("skipping nfs_storage_against_ganesha: needs root (network namespaces)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let primary = tmp.path().join("exports/primary");
    let secondary = tmp.path().join("exports/secondary");
    let server = NfsServer::up(
        "nfst1",
        INDEX,
        &tmp.path().join("state"),
        &[&primary, &secondary],
    );
    let host = format!("10.231.{INDEX}.2");
    let url = NfsUrl::parse(&format!("nfs://{host}{}", secondary.display())).unwrap();

    let mut nfs = NfsClient::connect(&url, TIMEOUT).await.expect("mount");

    // Capacity: the numbers of the filesystem the export lives on.
    let cap = nfs.fsstat().await.unwrap();
    assert!(
        cap.total > 0 && cap.used <= cap.total && cap.available <= cap.total,
        "{cap:?}"
    );

    // Directories.
    nfs.mkdir_all("template/tmpl/2/201").await.unwrap();
    nfs.mkdir_all("/template/tmpl/2/201/").await.unwrap(); // again: nothing to do
    assert!(secondary.join("template/tmpl/2/201").is_dir());
    assert!(nfs.exists("template/tmpl").await.unwrap());
    assert!(!nfs.exists("template/nope").await.unwrap());
    assert!(!nfs.exists("nope/deeper").await.unwrap());

    // A 20 MiB file streamed in chunks of odd sizes, at increasing offsets.
    const SIZE: u64 = 20 * 1024 * 1024;
    let mut w = nfs.create("template/tmpl/2/201/part.iso").await.unwrap();
    let mut offset = 0u64;
    for chunk_len in [1u64, 4095, 300 * 1024, 1024 * 1024 + 17, 3 * 1024 * 1024]
        .iter()
        .cycle()
    {
        let n = (*chunk_len).min(SIZE - offset);
        let chunk: Vec<u8> = (offset..offset + n).map(pattern).collect();
        w.write(&chunk).await.unwrap();
        offset += n;
        if offset == SIZE {
            break;
        }
    }
    assert_eq!(w.written(), SIZE);
    assert_eq!(w.finish().await.unwrap(), SIZE);
    assert_eq!(
        nfs.size("template/tmpl/2/201/part.iso").await.unwrap(),
        SIZE
    );
    let on_disk = std::fs::read(secondary.join("template/tmpl/2/201/part.iso")).unwrap();
    assert_eq!(on_disk.len() as u64, SIZE);
    assert!(on_disk
        .iter()
        .enumerate()
        .all(|(i, b)| *b == pattern(i as u64)));

    // Range reads, across chunk boundaries and past the end.
    let at = 5 * 1024 * 1024 + 3;
    let got = nfs
        .read("template/tmpl/2/201/part.iso", at, 3 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(got, on_disk[at as usize..at as usize + 3 * 1024 * 1024]);
    let tail = nfs
        .read("template/tmpl/2/201/part.iso", SIZE - 10, 100)
        .await
        .unwrap();
    assert_eq!(tail, on_disk[(SIZE - 10) as usize..]);
    assert!(nfs
        .read("template/tmpl/2/201/part.iso", SIZE + 1, 10)
        .await
        .unwrap()
        .is_empty());

    // What a download checks: the ISO 9660 signature at offset 32769.
    let mut iso = vec![0u8; 34 * 1024];
    iso[32769..32774].copy_from_slice(b"CD001");
    let mut w = nfs.create("template/tmpl/2/201/tiny.iso").await.unwrap();
    w.write(&iso).await.unwrap();
    w.finish().await.unwrap();
    assert_eq!(
        nfs.read("template/tmpl/2/201/tiny.iso", 32769, 5)
            .await
            .unwrap(),
        b"CD001"
    );

    // Rename (the finished download takes its final name), list, remove.
    nfs.rename(
        "template/tmpl/2/201/part.iso",
        "template/tmpl/2/201/201-2-abc.iso",
    )
    .await
    .unwrap();
    assert!(!secondary.join("template/tmpl/2/201/part.iso").exists());
    assert_eq!(
        std::fs::metadata(secondary.join("template/tmpl/2/201/201-2-abc.iso"))
            .unwrap()
            .len(),
        SIZE
    );
    let mut entries = nfs.read_dir("template/tmpl/2/201").await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let listed: Vec<_> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind, e.size))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("201-2-abc.iso", FileKind::File, SIZE),
            ("tiny.iso", FileKind::File, iso.len() as u64)
        ]
    );
    let root: Vec<_> = nfs
        .read_dir("")
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    assert_eq!(root, vec![("template".to_string(), FileKind::Directory)]);

    nfs.remove("template/tmpl/2/201/tiny.iso").await.unwrap();
    assert!(!secondary.join("template/tmpl/2/201/tiny.iso").exists());
    let e = nfs
        .remove("template/tmpl/2/201/tiny.iso")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(
        e.to_string(),
        format!("NFS REMOVE of 'template/tmpl/2/201/tiny.iso' on {url} failed: NFS3ERR_NOENT (no such file or directory)")
    );
    nfs.remove_dir_all("template").await.unwrap();
    assert!(std::fs::read_dir(&secondary).unwrap().next().is_none());
    assert!(nfs
        .remove_dir_all("/")
        .await
        .unwrap_err()
        .to_string()
        .contains("the export's root"));

    // The raw write rate (what ISO downloads are compared with), and nothing left behind.
    let rate = nfs
        .measure_write_rate("write-rate.bin", 64 * 1024 * 1024)
        .await
        .unwrap();
    eprintln!(
        "raw NFS write rate: {:.0} MiB/s ({} MiB in {:?})",
        rate.mib_per_second(),
        rate.bytes >> 20,
        rate.elapsed
    );
    assert!(!secondary.join("write-rate.bin").exists());

    // Errors, as the admin reads them.
    let with = |s: String| NfsUrl::parse(&s).unwrap();
    let err = |r: Result<NfsClient, NfsError>| r.err().expect("the mount must fail").to_string();

    let wrong_port = with(format!("nfs://{host}:2050{}", secondary.display()));
    assert_eq!(
        err(NfsClient::connect(&wrong_port, TIMEOUT).await),
        format!("cannot reach NFS server {host} on port 2050 (NFS): connection refused (nothing listens there)")
    );

    let silent = with(format!("nfs://10.231.{}.2/export", INDEX + 1));
    let started = std::time::Instant::now();
    assert_eq!(
        err(NfsClient::connect(&silent, Duration::from_millis(1500)).await),
        format!(
            "cannot reach NFS server 10.231.{}.2 on port 111 (portmapper): no answer within 1.5 s",
            INDEX + 1
        )
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    let not_exported = with(format!("nfs://{host}{}/elsewhere", tmp.path().display()));
    assert_eq!(
        err(NfsClient::connect(&not_exported, TIMEOUT).await),
        format!(
            "NFS server {host} does not export {}/elsewhere (MNT3ERR_ACCES); it exports: {}, {}",
            tmp.path().display(),
            primary.display(),
            secondary.display()
        )
    );

    assert_eq!(
        NfsUrl::parse(&format!("nfs://{host}"))
            .unwrap_err()
            .to_string(),
        format!(
            "invalid NFS URL 'nfs://{host}': no export path (expected nfs://server/export/path)"
        )
    );

    // The other export works too, and a server that goes away breaks the connection cleanly.
    let primary_url = with(format!("nfs://{host}{}", primary.display()));
    let mut other = NfsClient::connect(&primary_url, TIMEOUT).await.unwrap();
    other.mkdir_all("a").await.unwrap();
    assert!(primary.join("a").is_dir());
    server.down();
    let e = other.fsstat().await.unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("NFS server {host} port 2049 (NFS): ")),
        "{e}"
    );
    let e = other.fsstat().await.unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("the connection to NFS server {host} is unusable")),
        "{e}"
    );
}
