//! The test bed's real cloud guest image on its own (no Stratus): built from Debian packages
//! by tests/testbed/guest-image.sh (or found in its cache), booted by QEMU under TCG the
//! way a Stratus host would (machine `pc`/SeaBIOS, root disk on virtio, a config drive
//! on an IDE cdrom, a virtio NIC), with a hand-made OpenStack config drive: the real
//! cloud-init in the guest must take it. We log in over SSH with the key pair from
//! meta_data.json and find the file the user data wrote, the hostname set to the VM's
//! name, host keys made at this first boot, the config drive as cloud-init's datasource,
//! and the root file system grown to the 4 GiB volume. The network is QEMU's user mode
//! with `restrict=on` (the guest reaches nothing) and one hostfwd on 127.0.0.1.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stratus_tests::{free_port, guest_image};

const NAME: &str = "vm-guest-image-test";
const USERDATA_FILE: &str = "/var/tmp/stratus-userdata-ok";

/// QEMU, killed by PID on drop.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An OpenStack config drive as Stratus's agent makes one: ISO 9660 with Joliet and Rock
/// Ridge, volume label `config-2`, `openstack/latest/{meta_data.json,user_data}`.
fn config_drive(dir: &Path, public_key: &str) -> std::path::PathBuf {
    let latest = dir.join("cd/openstack/latest");
    std::fs::create_dir_all(&latest).unwrap();
    let meta = serde_json::json!({
        "uuid": "6a3f6a0e-4f2b-4d0c-9d3e-1f0f4a1b2c3d",
        "hostname": NAME,
        "name": NAME,
        "public_keys": { "stratus-test": public_key.trim() },
    });
    std::fs::write(latest.join("meta_data.json"), meta.to_string()).unwrap();
    std::fs::write(
        latest.join("user_data"),
        format!(
            "#cloud-config\nwrite_files:\n  - path: {USERDATA_FILE}\n    content: \"user data applied\\n\"\n"
        ),
    )
    .unwrap();
    let iso = dir.join("config.iso");
    run(Command::new("genisoimage")
        .args(["-quiet", "-V", "config-2", "-J", "-R", "-o"])
        .arg(&iso)
        .arg(dir.join("cd")));
    iso
}

fn serial_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn guest_image_boots_under_tcg_and_takes_the_config_drive() {
    let image = guest_image();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let key = d.join("id");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "stratus-test", "-f"])
        .arg(&key));
    let iso = config_drive(d, &std::fs::read_to_string(d.join("id.pub")).unwrap());

    // The VM's root volume: a 4 GiB overlay on the 2 GiB image, so growpart has room.
    let root = d.join("root.qcow2");
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&image)
        .arg(&root)
        .arg("4G"));

    let port = free_port();
    let serial = d.join("serial.log");
    let started = Instant::now();
    let _qemu = Qemu(
        Command::new("qemu-system-x86_64")
            .args(["-machine", "pc,accel=tcg", "-m", "1024", "-smp", "1"])
            .args(["-display", "none", "-monitor", "none", "-nodefaults"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .arg("-drive")
            .arg(format!("file={},if=virtio,format=qcow2", root.display()))
            .arg("-drive")
            .arg(format!(
                "file={},media=cdrom,if=ide,index=2,readonly=on",
                iso.display()
            ))
            .arg("-netdev")
            .arg(format!(
                "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"
            ))
            .args(["-device", "virtio-net-pci,netdev=n0"])
            .stdin(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 (scripts/lib/deps.sh: ensure_hypervisor)"),
    );

    let ssh = |command: &str| -> Option<String> {
        let out = Command::new("ssh")
            .arg("-i")
            .arg(&key)
            .args(["-p", &port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args([
                "-o",
                "ConnectTimeout=5",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
            ])
            .args(["debian@127.0.0.1", command])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };

    // Power-on to SSH login: 52-67 s under TCG here when the machine is quiet, ~2 min when
    // both cores are busy; 240 s allowed.
    let deadline = started + Duration::from_secs(240);
    let written = loop {
        if let Some(out) = ssh(&format!("cat {USERDATA_FILE}")) {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "no SSH login as debian@ within 240 s of power-on; serial console:\n{}",
            serial_tail(&serial)
        );
        std::thread::sleep(Duration::from_secs(3));
    };
    eprintln!(
        "guest image: SSH login {} s after power-on (TCG)",
        started.elapsed().as_secs()
    );
    assert_eq!(
        written, "user data applied\n",
        "the file the user data writes"
    );

    let hostname = ssh("hostname").expect("ssh hostname");
    assert_eq!(
        hostname.trim(),
        NAME,
        "cloud-init sets the hostname from meta_data"
    );

    // cloud-init's datasource was the config drive (not CloudStack's, nor None), and its
    // last stage (modules-final, after sshd is up) finished without errors.
    let result = ssh("cloud-init status --wait >/dev/null; sudo cat /run/cloud-init/result.json")
        .unwrap_or_else(|| panic!("no result.json; serial console:\n{}", serial_tail(&serial)));
    let result: serde_json::Value = serde_json::from_str(&result).unwrap();
    let ds = result["v1"]["datasource"].as_str().unwrap_or_default();
    assert!(ds.starts_with("DataSourceConfigDrive"), "{result}");
    assert_eq!(result["v1"]["errors"], serde_json::json!([]), "{result}");

    // Host keys were made by this VM at its first boot (their comment names the VM), not
    // baked into the image.
    let keys = ssh("cat /etc/ssh/ssh_host_ed25519_key.pub").expect("host key");
    assert!(keys.trim_end().ends_with(&format!("root@{NAME}")), "{keys}");

    // growpart + resize2fs: the root file system fills the 4 GiB volume.
    let size = ssh("df -B1 --output=size / | tail -n1").expect("df");
    let size: u64 = size.trim().parse().unwrap();
    assert!(size > 3 << 30, "root file system not grown: {size} bytes");
}
