//! Registering a large ISO: download-to-NFS throughput as a share of the raw NFS write
//! rate measured in the same run, and the process's peak memory before and after.
//!
//! Run: `cargo bench -p stratus-management --bench iso_download` (as root: the NFS server
//! is nfs-ganesha in a network namespace on the test bed, tests/testbed/nfs-server.sh).
//! Options after `--`: `--size-mib N` (200), `--runs N` (3).
//!
//! In one process: a local HTTP server (`stratus_testkit::http`) serving an ISO-shaped image of the
//! size that is generated as it is sent (never held in memory), and the client side. Each
//! round measures, in turn:
//! - raw NFS: `NfsClient::measure_write_rate`, the same size in 1 MiB UNSTABLE WRITEs and
//!   one COMMIT;
//! - HTTP only: the same GET, its body read with `chunk()` and hashed (SHA-256), nothing
//!   written: what the download costs without the storage;
//! - download: `download_to_nfs` with the expected SHA-256, i.e. HTTP, hashing, the ISO
//!   check, 1 MiB WRITEs, COMMIT and rename, as `registerIso` runs it.
//!
//! Medians over the rounds, with the CPU time this process (HTTP server and client) and
//! ganesha spent on each (/proc/PID/stat). Peak RSS is VmHWM from /proc/self/status:
//! after setup, after the raw writes, after all downloads. Results: docs/benchmarks.md.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use stratus_management::clients::nfs::{NfsClient, NfsUrl};
use stratus_management::services::downloads::{download_to_nfs, Checksum, DownloadSpec};

use stratus_testkit::http as support;
use support::{is_root, GeneratedIso, HttpServer, NfsServer, Reply, Source};

/// The test bed's address 10.231.INDEX.2 (230–239 belong to the download tests).
const INDEX: u8 = 231;
const MIB: u64 = 1024 * 1024;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn memory(label: &str) -> u64 {
    let (hwm, rss) = (status_kib("VmHWM:"), status_kib("VmRSS:"));
    println!(
        "  memory {label:<22} peak RSS (VmHWM) {:>6.1} MiB, RSS {:>6.1} MiB",
        hwm as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    hwm
}

/// CPU time (user + system) of a process so far, in seconds: `self` or a pid.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name: state is the first, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |x| x.1)
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11..13]
        .iter()
        .map(|v| v.parse::<f64>().unwrap_or(0.0))
        .sum();
    ticks / 100.0 // USER_HZ
}

/// One measurement: the rate, and the CPU seconds this process and ganesha spent on it.
struct Cost {
    rate: f64,
    own_cpu: f64,
    nfs_cpu: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn mib_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / MIB as f64 / elapsed.as_secs_f64()
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size = arg(&args, "--size-mib", 200) * MIB;
    let runs = arg(&args, "--runs", 3).max(1) as usize;
    if !is_root() {
        eprintln!("iso_download: needs root (the NFS server runs in a network namespace)");
        return;
    }

    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("secondary");
    let state = tmp.path().join("state");
    let _server = NfsServer::up("nfsdlb", INDEX, &state, &[&export]);
    let nfs_url = NfsUrl::parse(&format!("nfs://10.231.{INDEX}.2{}", export.display())).unwrap();
    let mut nfs = NfsClient::connect(&nfs_url, Duration::from_secs(10))
        .await
        .expect("mount");

    let iso = GeneratedIso::new(size);
    let started = Instant::now();
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; GeneratedIso::BLOCK];
    let mut offset = 0;
    while offset < size {
        let n = (size - offset).min(block.len() as u64) as usize;
        iso.fill(offset, &mut block[..n]);
        hasher.update(&block[..n]);
        offset += n as u64;
    }
    let expected = Checksum::parse(&format!("{:x}", hasher.finalize())).unwrap();
    let hash_rate = mib_s(size, started.elapsed());
    drop(block);

    let http_server = HttpServer::start(vec![("/bench.iso", Reply::ok(Source::Iso(iso)))]).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let spec = DownloadSpec {
        url: http_server.url("/bench.iso"),
        format: stratus_management::services::downloads::ImageFormat::Iso,
        max_bytes: 50 << 30,
        connect_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        expected: Some(expected.clone()),
    };

    println!(
        "iso_download: {} MiB ISO-shaped image, {runs} rounds; NFS server 10.231.{INDEX}.2 (ganesha), HTTP {}",
        size / MIB,
        spec.url
    );
    println!("  generating + SHA-256 alone: {hash_rate:.0} MiB/s");
    let hwm_setup = memory("after setup");

    let ganesha = std::fs::read_to_string(state.join("nfsdlb/ganesha.pid"))
        .expect("ganesha's pid file")
        .trim()
        .to_string();
    let cpu = || (cpu_seconds("self"), cpu_seconds(&ganesha));
    let cost = |started: Instant, before: (f64, f64)| {
        let (own, nfs) = cpu();
        Cost {
            rate: mib_s(size, started.elapsed()),
            own_cpu: own - before.0,
            nfs_cpu: nfs - before.1,
        }
    };
    let (mut raw, mut http_only, mut download) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=runs {
        let (started, before) = (Instant::now(), cpu());
        nfs.measure_write_rate("bench-raw.bin", size)
            .await
            .expect("raw write");
        raw.push(cost(started, before));
        if round == 1 {
            memory("after a raw write");
        }

        let (started, before) = (Instant::now(), cpu());
        let mut response = http.get(spec.url.clone()).send().await.unwrap();
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        while let Some(chunk) = response.chunk().await.unwrap() {
            hasher.update(&chunk);
            got += chunk.len() as u64;
        }
        assert_eq!(got, size);
        assert_eq!(format!("{:x}", hasher.finalize()), expected.hex);
        http_only.push(cost(started, before));

        let (started, before) = (Instant::now(), cpu());
        let done = download_to_nfs(&http, &spec, &mut nfs, "iso/2/bench.iso", |_| {
            ControlFlow::Continue(())
        })
        .await
        .expect("download");
        download.push(cost(started, before));
        assert_eq!((done.size, &done.checksum), (size, &expected));
        assert_eq!(
            std::fs::metadata(export.join("iso/2/bench.iso"))
                .unwrap()
                .len(),
            size
        );
        nfs.remove("iso/2/bench.iso").await.unwrap();
        println!(
            "  round {round}: raw NFS {:>6.1} MiB/s, HTTP only {:>6.1} MiB/s, download {:>6.1} MiB/s",
            raw[round - 1].rate,
            http_only[round - 1].rate,
            download[round - 1].rate,
        );
    }
    let hwm_end = memory("after all downloads");

    let row = |name: &str, costs: &[Cost]| {
        let m = |f: fn(&Cost) -> f64| median(costs.iter().map(f).collect());
        println!(
            "| {name} | {:.1} | {:.2} | {:.2} |",
            m(|c| c.rate),
            m(|c| c.own_cpu),
            m(|c| c.nfs_cpu)
        );
        m(|c| c.rate)
    };
    println!();
    println!(
        "| {} MiB, median of {runs} | MiB/s | CPU s, this process | CPU s, ganesha |",
        size / MIB
    );
    println!("|---|---:|---:|---:|");
    let raw = row("raw NFS write (`measure_write_rate`)", &raw);
    row("HTTP + SHA-256 only, no NFS", &http_only);
    let download = row("download to NFS (`download_to_nfs`)", &download);
    println!("ratio download / raw NFS: {:.2}", download / raw);
    println!(
        "peak RSS: {:.1} MiB after setup, {:.1} MiB after {} downloads of {} MiB (+{:.1} MiB)",
        hwm_setup as f64 / 1024.0,
        hwm_end as f64 / 1024.0,
        runs,
        size / MIB,
        (hwm_end.saturating_sub(hwm_setup)) as f64 / 1024.0
    );
}
