//! The ISO download pipeline (`stratus_management::services::downloads`) from a local HTTP server
//! (`stratus_testkit::http`) into a real NFS server (nfs-ganesha on the test bed): iPXE's ISO and a
//! generated one arrive whole, with the right size and checksum, byte for byte on the
//! export; every bad case gives its own error text and leaves neither a `.part` nor a
//! final file on the export (checked on disk): 404 (also after a redirect), not an ISO,
//! too short, checksum mismatch, too large (announced, and while streaming without a
//! Content-Length), connection refused, unknown host, a non-HTTP URL, no answer, a stalled
//! body, a connection that breaks off, cancel from the progress callback, and the NFS
//! server going away mid-download. Needs root (network namespaces); skipped otherwise.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::Digest;
use stratus_management::clients::nfs::{NfsClient, NfsUrl};
use stratus_management::services::downloads::{
    download_to_nfs, remove_partial, Algorithm, Checksum, DownloadError, DownloadSpec, Downloaded,
    ImageFormat, Progress,
};

use stratus_testkit::http as support;
use support::{
    files_under, is_root, Gate, GeneratedIso, HttpServer, Length, NfsServer, Reply, Source,
};

/// The test bed's address 10.231.INDEX.2 (230–239 are the download tests').
const INDEX: u8 = 230;
const NFS_TIMEOUT: Duration = Duration::from_secs(5);
const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";
const MIB: u64 = 1024 * 1024;

fn spec(url: url::Url) -> DownloadSpec {
    DownloadSpec {
        url,
        format: ImageFormat::Iso,
        max_bytes: 50 << 30,
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(10),
        expected: None,
    }
}

fn md5_of(data: &[u8]) -> Checksum {
    Checksum::parse(&format!("{{md5}}{:x}", md5::Md5::digest(data))).unwrap()
}

fn sha256_of(data: &[u8]) -> Checksum {
    Checksum::parse(&format!("{:x}", sha2::Sha256::digest(data))).unwrap()
}

/// One download; the progress reports it made, with when they came.
async fn fetch(
    http: &reqwest::Client,
    nfs: &mut NfsClient,
    spec: &DownloadSpec,
    dest: &str,
) -> (Result<Downloaded, DownloadError>, Vec<(Instant, Progress)>) {
    let mut reports = Vec::new();
    let result = download_to_nfs(http, spec, nfs, dest, |p| {
        reports.push((Instant::now(), p));
        ControlFlow::Continue(())
    })
    .await;
    (result, reports)
}

/// The download failed with exactly `text`.
fn failed(result: Result<Downloaded, DownloadError>, text: &str) -> DownloadError {
    let e = result.expect_err(text);
    assert_eq!(e.to_string(), text);
    e
}

/// Neither `dest` nor `dest.part` is on the export.
fn assert_clean(export: &Path, dest: &str) {
    for path in [dest.to_string(), format!("{dest}.part")] {
        assert!(
            !export.join(&path).exists(),
            "{path} is on the export: {:?}",
            files_under(export)
        );
    }
    let parts: Vec<_> = files_under(export)
        .into_iter()
        .filter(|f| f.ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "partial files left: {parts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_into_ganesha() {
    if !is_root() {
        eprintln!("skipping downloads_into_ganesha: needs root (network namespaces)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("secondary");
    let state = tmp.path().join("state");
    let server = NfsServer::up("nfsdl", INDEX, &state, &[&export]);
    let nfs_url = NfsUrl::parse(&format!("nfs://10.231.{INDEX}.2{}", export.display())).unwrap();
    let mut nfs = NfsClient::connect(&nfs_url, NFS_TIMEOUT)
        .await
        .expect("mount");

    let iso3 = GeneratedIso::new(3 * MIB);
    let iso3_bytes = iso3.bytes();
    let stall_gate = Gate::new();
    let silent_gate = Gate::new();
    let nfs_gate = Gate::new();
    let mut html = b"<!DOCTYPE html><html><body>".to_vec();
    html.resize(64 * 1024, b' ');
    let http_server = HttpServer::start(vec![
        ("/ipxe.iso", Reply::ok(Source::File(IPXE.into()))),
        (
            "/slow-chunked.iso",
            Reply::ok(Source::Iso(iso3.clone()))
                .length(Length::Chunked)
                .paced(256 * 1024, Duration::from_millis(200)),
        ),
        ("/generated.iso", Reply::ok(Source::Iso(iso3.clone()))),
        ("/redirect.iso", Reply::redirect("/missing.iso")),
        ("/page.html", Reply::ok(Source::bytes(html))),
        ("/short.iso", Reply::ok(Source::bytes(vec![0u8; 1000]))),
        (
            "/huge.iso",
            Reply::ok(Source::bytes(vec![])).length(Length::Announce(100 << 30)),
        ),
        (
            "/endless.iso",
            Reply::ok(Source::Iso(GeneratedIso::new(5 * MIB))).length(Length::Chunked),
        ),
        (
            "/silent.iso",
            Reply::ok(Source::Iso(iso3.clone())).hold_headers(&silent_gate),
        ),
        (
            "/stalls.iso",
            Reply::ok(Source::Iso(iso3.clone())).stall(100 * 1024, &stall_gate),
        ),
        (
            "/breaks.iso",
            Reply::ok(Source::Iso(GeneratedIso::new(2 * MIB))).length(Length::Announce(10 * MIB)),
        ),
        (
            "/cancel.iso",
            Reply::ok(Source::Iso(GeneratedIso::new(8 * MIB)))
                .paced(512 * 1024, Duration::from_millis(100)),
        ),
        (
            "/nfs-down.iso",
            Reply::ok(Source::Iso(GeneratedIso::new(16 * MIB))).stall(4 * MIB, &nfs_gate),
        ),
    ])
    .await;
    let url = |path: &str| http_server.url(path);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // iPXE's ISO, with the MD5 the admin gave, then again without a checksum (SHA-256).
    if Path::new(IPXE).exists() {
        let ipxe = std::fs::read(IPXE).unwrap();
        let dest = "template/tmpl/1/201/ipxe.iso";
        let mut s = spec(url("/ipxe.iso"));
        s.expected = Some(md5_of(&ipxe));
        let (result, reports) = fetch(&http, &mut nfs, &s, dest).await;
        let done = result.expect("ipxe.iso");
        assert_eq!(done.size, ipxe.len() as u64);
        assert_eq!(done.checksum, md5_of(&ipxe));
        assert_eq!(done.checksum.algorithm, Algorithm::Md5);
        assert_eq!(std::fs::read(export.join(dest)).unwrap(), ipxe);
        let total = Some(ipxe.len() as u64);
        assert_eq!(reports.first().unwrap().1, Progress { done: 0, total });
        assert_eq!(
            reports.last().unwrap().1,
            Progress {
                done: ipxe.len() as u64,
                total
            }
        );
        assert_eq!(reports.last().unwrap().1.percent(), Some(100));

        let (result, _) = fetch(&http, &mut nfs, &spec(url("/ipxe.iso")), dest).await;
        let done = result.unwrap();
        assert_eq!(done.checksum, sha256_of(&ipxe));
        assert_eq!(
            done.checksum.to_cloudstack(),
            format!("{{sha256}}{:x}", sha2::Sha256::digest(&ipxe))
        );
        assert_eq!(std::fs::read(export.join(dest)).unwrap(), ipxe);
        assert_eq!(files_under(&export), vec![dest.to_string()]);
        std::fs::remove_file(export.join(dest)).unwrap();
    } else {
        eprintln!("skipping the ipxe.iso case: {IPXE} is missing (the ipxe package; scripts/test installs it)");
    }

    // No Content-Length, slowly (about 2.4 s): progress at most once a second, then the end.
    let dest = "iso/2/chunked.iso";
    let mut s = spec(url("/slow-chunked.iso"));
    s.expected = Some(sha256_of(&iso3_bytes));
    let (result, reports) = fetch(&http, &mut nfs, &s, dest).await;
    let done = result.expect("chunked download");
    assert_eq!(done.size, 3 * MIB);
    assert_eq!(std::fs::read(export.join(dest)).unwrap(), iso3_bytes);
    let progress: Vec<Progress> = reports.iter().map(|r| r.1).collect();
    assert_eq!(
        progress.first(),
        Some(&Progress {
            done: 0,
            total: None
        })
    );
    assert_eq!(
        progress.last(),
        Some(&Progress {
            done: 3 * MIB,
            total: None
        })
    );
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0].done <= w[1].done));
    for pair in reports[..reports.len() - 1].windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap >= Duration::from_millis(990), "reports {gap:?} apart");
    }
    std::fs::remove_file(export.join(dest)).unwrap();

    let base = format!("http://{}", http_server.addr);
    let dest = "iso/2/bad.iso";

    // HTTP errors, before anything is written.
    let (result, _) = fetch(&http, &mut nfs, &spec(url("/missing.iso")), dest).await;
    let e = failed(
        result,
        &format!("The server answered 404 Not Found for {base}/missing.iso"),
    );
    assert!(matches!(e, DownloadError::HttpStatus { code: 404, .. }));
    assert_clean(&export, dest);

    let (result, _) = fetch(&http, &mut nfs, &spec(url("/redirect.iso")), dest).await;
    failed(
        result,
        &format!(
            "The server answered 404 Not Found for {base}/missing.iso (redirected from {base}/redirect.iso)"
        ),
    );
    assert_clean(&export, dest);

    // Not an ISO: refused once byte 32773 went by; too short to tell.
    let (result, _) = fetch(&http, &mut nfs, &spec(url("/page.html")), dest).await;
    failed(
        result,
        &format!("{base}/page.html is not an ISO 9660 image: no CD001 signature at byte 32769"),
    );
    assert_clean(&export, dest);

    let (result, _) = fetch(&http, &mut nfs, &spec(url("/short.iso")), dest).await;
    failed(
        result,
        &format!(
            "{base}/short.iso is not an ISO 9660 image: it has only 1000 bytes, too short for the CD001 signature at byte 32769"
        ),
    );
    assert_clean(&export, dest);

    // Checksum mismatch.
    let mut s = spec(url("/generated.iso"));
    let zeros = format!("{{md5}}{}", "0".repeat(32));
    s.expected = Some(Checksum::parse(&zeros).unwrap());
    let (result, _) = fetch(&http, &mut nfs, &s, dest).await;
    failed(
        result,
        &format!(
            "Checksum mismatch for {base}/generated.iso: expected {zeros}, got {}",
            md5_of(&iso3_bytes)
        ),
    );
    assert_clean(&export, dest);

    // Too large: announced (nothing written), and while streaming without a length.
    let (result, _) = fetch(&http, &mut nfs, &spec(url("/huge.iso")), dest).await;
    failed(
        result,
        &format!(
            "{base}/huge.iso is larger than the 50 GB limit (max.template.iso.size): the server announced 100 GB"
        ),
    );
    assert_clean(&export, dest);

    let mut s = spec(url("/endless.iso"));
    s.max_bytes = 2 * MIB;
    let (result, _) = fetch(&http, &mut nfs, &s, dest).await;
    failed(
        result,
        &format!(
            "{base}/endless.iso is larger than the 2 MB limit (max.template.iso.size): more than 2 MB arrived"
        ),
    );
    assert_clean(&export, dest);

    // Nobody there, no such host, not HTTP.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = url::Url::parse(&format!("http://127.0.0.1:{closed_port}/x.iso")).unwrap();
    let (result, _) = fetch(&http, &mut nfs, &spec(refused.clone()), dest).await;
    failed(
        result,
        &format!(
            "Cannot connect to 127.0.0.1 port {closed_port} for {refused}: connection refused (nothing listens there)"
        ),
    );

    let unknown = url::Url::parse("http://nosuch.invalid/x.iso").unwrap();
    let (result, _) = fetch(&http, &mut nfs, &spec(unknown), dest).await;
    let e = result.unwrap_err();
    eprintln!("unknown host: {e}");
    assert!(matches!(e, DownloadError::Resolve { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(
            "Cannot resolve the host name 'nosuch.invalid' of http://nosuch.invalid/x.iso: "
        ),
        "{e}"
    );

    let ftp = url::Url::parse("ftp://user:secret@example.com/x.iso").unwrap();
    let (result, _) = fetch(&http, &mut nfs, &spec(ftp), dest).await;
    failed(
        result,
        "Cannot download ftp://user:***@example.com/x.iso: only http:// and https:// URLs are supported",
    );
    assert_clean(&export, dest);

    // No answer (headers held back), a stalled body (1 s idle timeout), a broken one.
    let mut s = spec(url("/silent.iso"));
    s.connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let (result, _) = fetch(&http, &mut nfs, &s, dest).await;
    failed(
        result,
        &format!(
            "No answer from 127.0.0.1 port {} within 1 s for {base}/silent.iso",
            http_server.addr.port()
        ),
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    silent_gate.open();

    let mut s = spec(url("/stalls.iso"));
    s.idle_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let (result, _) = fetch(&http, &mut nfs, &s, dest).await;
    failed(
        result,
        &format!(
            "The download of {base}/stalls.iso stalled: no data for 1 s (after 100 KB of 3 MB)"
        ),
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_clean(&export, dest);
    stall_gate.open();

    let (result, _) = fetch(&http, &mut nfs, &spec(url("/breaks.iso")), dest).await;
    let e = result.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "The download of {base}/breaks.iso broke off after 2 MB of 10 MB: the server closed the connection before the end"
        )
    );
    assert_clean(&export, dest);

    // Cancelled from the progress callback, with data already on the storage.
    let mut reports = Vec::new();
    let mut on_storage = None;
    let result = download_to_nfs(&http, &spec(url("/cancel.iso")), &mut nfs, dest, |p| {
        reports.push(p);
        if p.done >= 2 * MIB {
            on_storage = std::fs::metadata(export.join(format!("{dest}.part")))
                .ok()
                .map(|m| m.len());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })
    .await;
    failed(
        result,
        &format!("The download of {base}/cancel.iso was cancelled"),
    );
    assert!(
        on_storage.unwrap() >= MIB,
        "nothing was written before the cancel"
    );
    assert!(reports.last().unwrap().done < 8 * MIB, "{reports:?}");
    assert_clean(&export, dest);

    // The NFS server goes away mid-download: the NFS error, and the partial file is left
    // (nothing can remove it) until remove_partial succeeds with the server back.
    let dest = "iso/2/nfs-down.iso";
    let mut s = spec(url("/nfs-down.iso"));
    s.connect_timeout = Duration::from_secs(2);
    let download = fetch(&http, &mut nfs, &s, dest);
    let outage = async {
        nfs_gate.reached().await;
        // Let the first 4 MiB reach the storage.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let server = &server;
        tokio::task::block_in_place(|| server.down());
        nfs_gate.open();
    };
    let ((result, _), ()) = tokio::join!(download, outage);
    let e = result.unwrap_err();
    let host = format!("10.231.{INDEX}.2");
    assert!(matches!(e.cause(), DownloadError::Nfs(_)), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "Writing to NFS storage failed: NFS server {host} port 2049 (NFS): "
        )),
        "{e}"
    );
    assert_eq!(e.partial_left(), Some("iso/2/nfs-down.iso.part"));
    assert!(
        e.to_string()
            .contains("(the partial file 'iso/2/nfs-down.iso.part' is left on the storage: "),
        "{e}"
    );
    eprintln!("NFS server gone mid-download: {e}");
    assert!(export.join("iso/2/nfs-down.iso.part").exists());
    assert!(!export.join(dest).exists());

    let _server = NfsServer::up("nfsdl", INDEX, &state, &[&export]);
    let mut nfs = NfsClient::connect(&nfs_url, NFS_TIMEOUT)
        .await
        .expect("mount again");
    remove_partial(&mut nfs, dest).await.unwrap();
    remove_partial(&mut nfs, dest).await.unwrap(); // nothing left: still fine
    assert_clean(&export, dest);
    assert_eq!(files_under(&export), Vec::<String>::new());
}
