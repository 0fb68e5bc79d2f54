//! The agent's config drives read by other programs than our own reader: `isoinfo`
//! (genisoimage), `xorriso`, `blkid` (the label cloud-init's ds-identify looks for) and,
//! where this kernel has isofs and we are root, Linux itself (`mount -o loop,ro`), which is
//! what cloud-init does in the guest. `scripts/test` installs the tools
//! (`ensure_iso_tools` in scripts/lib/deps.sh); a missing one fails the test.

use std::process::Command;

use stratus_agent::guest::{drive_files, drive_image};
use stratus_api::agent::{GuestData, GuestKey, GuestNic};

fn guest() -> GuestData {
    GuestData {
        hostname: "vm-1".into(),
        display_name: "My VM".into(),
        zone_name: "zone1".into(),
        service_offering: "Small Instance".into(),
        public_keys: vec![GuestKey {
            name: "mykey".into(),
            public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@host".into(),
        }],
        // "#cloud-config\nhostname: vm-1\n"
        user_data_base64: Some("I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogdm0tMQo=".into()),
        password: Some("s3cret-Pw".into()),
        nics: vec![GuestNic {
            mac: "52:54:00:0a:f0:01".into(),
            ip: "192.168.240.50".parse().unwrap(),
            prefix_len: 24,
            gateway: "192.168.240.1".parse().unwrap(),
            dns: vec![],
            is_default: true,
        }],
        cloud_identifier: None,
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("{cmd} (scripts/lib/deps.sh ensure_iso_tools installs it): {e}")
    });
    assert!(out.status.success(), "{cmd} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn other_readers_see_the_drive_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "6f1b3a4e-0000-4000-8000-000000000007".parse().unwrap();
    let files = drive_files(id, &guest(), "kvm1", Some("s3cret-Pw")).unwrap();
    let img = tmp.path().join("config.iso");
    std::fs::write(&img, drive_image(&files).unwrap()).unwrap();
    let img_s = img.to_str().unwrap();

    let info = run("isoinfo", &["-d", "-i", img_s]);
    assert!(info.contains("Volume id: config-2"), "{info}");
    assert!(info.contains("Joliet with UCS level 3 found"), "{info}");
    // Every file, by its long name, with its contents (isoinfo's Joliet reader).
    for (path, data) in &files {
        let out = Command::new("isoinfo")
            .args(["-J", "-i", img_s, "-x", &format!("/{path}")])
            .output()
            .unwrap();
        assert_eq!(&out.stdout, data, "isoinfo -J -x /{path}");
    }
    let listing = run("isoinfo", &["-J", "-l", "-i", img_s]);
    assert!(listing.contains("meta_data.json"), "{listing}");

    let found = run("xorriso", &["-indev", img_s, "-find", "/", "-type", "f"]);
    let mut paths: Vec<String> = found
        .lines()
        .map(|l| l.trim_matches('\'').trim_start_matches('/').to_string())
        .collect();
    paths.sort();
    let mut want: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    want.sort();
    assert_eq!(paths, want);
    let out = tmp.path().join("x");
    run(
        "xorriso",
        &[
            "-osirrox",
            "on",
            "-indev",
            img_s,
            "-extract",
            "/",
            out.to_str().unwrap(),
        ],
    );
    for (path, data) in &files {
        assert_eq!(
            &std::fs::read(out.join(path)).unwrap(),
            data,
            "xorriso: {path}"
        );
    }

    // The label cloud-init's ds-identify finds with blkid.
    let blkid = run("blkid", &["-p", "-o", "export", img_s]);
    assert!(blkid.contains("LABEL=config-2"), "{blkid}");
    assert!(blkid.contains("TYPE=iso9660"), "{blkid}");

    // Linux's isofs, as the guest mounts it (only where this kernel has it, as root).
    let has_isofs = std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .contains("iso9660");
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !(has_isofs && root) {
        eprintln!("skipping the mount check: isofs in this kernel: {has_isofs}, root: {root}");
        return;
    }
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    run("mount", &["-o", "loop,ro", img_s, mnt.to_str().unwrap()]);
    let read = files
        .iter()
        .map(|(p, d)| (std::fs::read(mnt.join(p)).ok(), p, d))
        .collect::<Vec<_>>();
    run("umount", &[mnt.to_str().unwrap()]);
    for (got, path, data) in read {
        assert_eq!(got.as_ref(), Some(data), "mounted: {path}");
    }
}
