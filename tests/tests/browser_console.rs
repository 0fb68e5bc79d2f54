//! The web console in a real browser: tests/browser/console.mjs (playwright-core driving
//! Debian's Chromium) against the real management server, a simulated KVM host added
//! over SSH, an NFS server and a local HTTP server for the ISOs. The script logs in,
//! builds a Basic zone with the Add Zone wizard (a wrong host password and a wrong NFS
//! path first), registers ISOs and watches them reach Ready, visits every page, makes a
//! security group with ingress and egress rules, launches an instance in it with the Add
//! Instance wizard (a real TCG guest booting ipxe.iso), opens
//! its console in noVNC and stops it, registers a password-enabled template (a blank
//! QCOW2), edits its permissions, launches an instance from it (its password shown
//! once, then reset) and shares it with a project, saving a screenshot of each page into
//! target/browser-shots/ (or `STRATUS_SCREENSHOT_DIR`). Here the API confirms what the
//! browser built, and OCR reads the console's screen as the browser drew it.
//!
//! Needs root (the test bed), node and npm, and /usr/bin/chromium (`scripts/test`
//! installs them); `npm ci` fills tests/browser/node_modules when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use stratus_tests::{workspace_root, CsApi, HttpFiles, NfsServer, Served, Server, SimHost};

const IPXE: &str = "/usr/lib/ipxe/ipxe.iso";

fn browser_dir() -> PathBuf {
    workspace_root().join("tests/browser")
}

/// `npm ci` (the lock file pins playwright-core) unless it is installed already.
fn ensure_playwright() {
    let dir = browser_dir();
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .expect("running npm (scripts/test installs nodejs and npm)");
    assert!(
        out.status.success(),
        "npm ci in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn shots_dir() -> PathBuf {
    match std::env::var("STRATUS_SCREENSHOT_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => workspace_root().join("target/browser-shots"),
    }
}

#[test]
fn the_console_in_chromium_builds_a_zone_launches_an_instance_and_opens_its_console() {
    assert!(
        Path::new(IPXE).exists(),
        "{IPXE} is missing: scripts/test installs ipxe"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: scripts/test installs Debian's chromium"
    );
    ensure_playwright();

    let state = tempfile::tempdir().unwrap();
    let host = SimHost::up("uib1", 170, "ui-host-pw", state.path());
    let exports = tempfile::tempdir().unwrap();
    let (primary, secondary, primary2) = (
        exports.path().join("primary"),
        exports.path().join("secondary"),
        exports.path().join("primary2"),
    );
    let nfs = NfsServer::up(
        "uinfs1",
        171,
        &state.path().join("nfs"),
        &[&primary, &secondary, &primary2],
    );
    // A stream that takes a few seconds, so the page shows a percentage: the ISO 9660
    // header, then whole chunks of zeros (HttpFiles sends per_second / 10 per 100 ms).
    let per_second: u64 = 2 << 20;
    let big = 32_774 + 60 * (per_second / 10);
    // A password-enabled template's disk: a blank QCOW2 is enough (the test needs the
    // instance Running and its password, not a guest that boots).
    let image = state.path().join("blank.qcow2");
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&image)
        .arg("64M")
        .output()
        .expect("qemu-img (scripts/test installs qemu-utils)");
    assert!(
        made.status.success(),
        "qemu-img create: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let http = HttpFiles::start(vec![
        ("/ipxe.iso", Served::File(IPXE.into())),
        ("/blank.qcow2", Served::File(image)),
        (
            "/big.iso",
            Served::Slow {
                announced: big,
                bytes: big,
                per_second,
            },
        ),
    ]);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_on(data.path(), "ui-admin-pw", &host.mgmt_ip);
    CsApi::login(&server, "admin", "ui-admin-pw").allow_loopback_downloads();

    let shots = shots_dir();
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg(browser_dir().join("console.mjs"))
        .env("STRATUS_URL", &server.url)
        .env("STRATUS_ADMIN_PASSWORD", "ui-admin-pw")
        .env("SHOTS", &shots)
        .env("HOST_ADDRESS", &host.address)
        .env("HOST_PASSWORD", "ui-host-pw")
        .env("NFS_SERVER", &nfs.address)
        .env("PRIMARY_PATH", &primary)
        .env("SECONDARY_PATH", &secondary)
        .env("PRIMARY2_PATH", &primary2)
        .env("ISO_URL", http.url("/ipxe.iso"))
        .env("SLOW_ISO_URL", http.url("/big.iso"))
        .env("TEMPLATE_URL", http.url("/blank.qcow2"))
        .env("POD_NET", "10.231.170")
        .env("GUEST_NET", "192.168.170")
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser script failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
    println!("{stdout}");

    // What the browser built, as the API sees it.
    let api = CsApi::login(&server, "admin", "ui-admin-pw");
    let zone = &api.ok("listZones", &["name=Zone1"])["zone"][0];
    assert_eq!(zone["networktype"], "Basic");
    assert_eq!(
        zone["allocationstate"], "Enabled",
        "the wizard enabled the zone"
    );
    let hosts = api.ok("listHosts", &[]);
    assert_eq!(hosts["count"], 1, "{hosts}");
    assert_eq!(hosts["host"][0]["ipaddress"], host.address.as_str());
    // Up (a heartbeat delayed on a loaded machine may have it Disconnected for a moment).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while api.ok("listHosts", &[])["host"][0]["state"] != "Up" {
        assert!(
            std::time::Instant::now() < deadline,
            "the host is not Up: {hosts}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // The wizard's cluster-wide pool, and the one added with its own form, zone-wide.
    let pools = api.ok("listStoragePools", &["name=Primary1"]);
    assert_eq!(pools["storagepool"][0]["scope"], "CLUSTER", "{pools}");
    let pools = api.ok("listStoragePools", &["name=Primary2"]);
    assert_eq!(pools["storagepool"][0]["scope"], "ZONE", "{pools}");
    assert_eq!(pools["storagepool"][0]["state"], "Up", "{pools}");
    assert_eq!(
        api.ok("listImageStores", &[])["imagestore"][0]["name"],
        "Secondary1"
    );
    let isos = api.ok("listIsos", &["isofilter=all", "name=ipxe"]);
    assert_eq!(isos["iso"][0]["isready"], true, "{isos}");
    assert_eq!(isos["iso"][0]["ispublic"], true);
    // The template the browser registered: private, made extractable, shared with the
    // project.
    let tpl = api.ok("listTemplates", &["templatefilter=all", "name=pw-tpl"]);
    let tpl = &tpl["template"][0];
    assert_eq!(tpl["passwordenabled"], true, "{tpl}");
    assert_eq!(tpl["ispublic"], false, "{tpl}");
    assert_eq!(tpl["isextractable"], true, "{tpl}");
    let project = api.ok("listProjects", &["name=team-web", "listall=true"]);
    let perms = api.ok(
        "listTemplatePermissions",
        &[&format!("id={}", tpl["id"].as_str().unwrap())],
    );
    assert_eq!(
        perms["templatepermission"]["projectids"][0], project["project"][0]["id"],
        "{perms}"
    );
    // The instance launched from it was expunged by the browser.
    assert_eq!(
        api.ok("listVirtualMachines", &["name=pw-1"])["count"]
            .as_i64()
            .unwrap_or(0),
        0
    );
    // The instance the wizard launched, stopped by the browser.
    let vms = api.ok("listVirtualMachines", &["name=web-1"]);
    let vm = &vms["virtualmachine"][0];
    assert_eq!(vm["state"], "Stopped", "{vms}");
    assert_eq!(vm["displayname"], "Web server 1");
    assert_eq!(vm["isoname"], "ipxe");
    assert_eq!(vm["serviceofferingname"], "Small Instance");
    assert_eq!(
        vm["keypairs"], "browser-key",
        "the key pair chosen in the wizard"
    );
    // Launched in default and web, then moved to web alone on its page.
    let groups: Vec<&str> = vm["securitygroup"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(groups, ["web"], "{vms}");
    let web = api.ok("listSecurityGroups", &["securitygroupname=web"]);
    let web = &web["securitygroup"][0];
    assert_eq!(web["description"], "Web servers");
    let ingress = web["ingressrule"].as_array().unwrap();
    assert_eq!(
        ingress.len(),
        2,
        "tcp/22 and ICMP echo; the group rule removed: {web}"
    );
    assert!(ingress
        .iter()
        .any(|r| r["protocol"] == "tcp" && r["startport"] == 22 && r["cidr"] == "10.0.0.0/8"));
    assert!(ingress
        .iter()
        .any(|r| r["protocol"] == "icmp" && r["icmptype"] == 8 && r["icmpcode"] == 0));
    assert_eq!(web["egressrule"][0]["startport"], 53, "{web}");
    assert_eq!(web["egressrule"][0]["cidr"], "192.0.2.0/24", "{web}");
    assert!(
        vm["nic"][0]["ipaddress"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("192.168.170.")),
        "{vms}"
    );
    // What noVNC drew is the guest's own screen: iPXE's banner.
    let screen = shots.join("console-screen.png");
    let ocr = Command::new("tesseract")
        .arg(&screen)
        .arg("-")
        .output()
        .expect("tesseract (scripts/test installs tesseract-ocr)");
    let read = String::from_utf8_lossy(&ocr.stdout);
    assert!(
        read.contains("iPXE"),
        "the console in the browser shows iPXE; OCR of {} read: {read}",
        screen.display()
    );

    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .map(|e| e.path().extension().is_some_and(|x| x == "png"))
                .unwrap_or(false)
        })
        .count();
    assert!(pngs >= 50, "a screenshot of every page: {pngs}");
}
