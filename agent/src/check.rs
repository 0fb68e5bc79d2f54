//! `stratus-agent check`: can this host run guests? Run by the management server over SSH
//! before it adds a host, so the admin learns at `addHost` what is missing, in words.

use std::path::Path;

use stratus_api::agent::Acceleration;

use crate::heartbeat::detect_acceleration;
use crate::hypervisor::{Hypervisor, Libvirt, NodeFacts};

#[derive(Debug, serde::Serialize)]
pub struct CheckReport {
    pub hostname: String,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
    pub libvirt_version: String,
    pub hypervisor_version: String,
    pub acceleration: Acceleration,
}

fn qemu_present() -> bool {
    ["/usr/bin", "/usr/libexec", "/usr/local/bin"]
        .iter()
        .any(|d| {
            std::fs::read_dir(d)
                .map(|entries| {
                    entries.flatten().any(|e| {
                        e.file_name().to_string_lossy().starts_with("qemu-system-")
                            || e.file_name() == "qemu-kvm"
                    })
                })
                .unwrap_or(false)
        })
}

/// `nft` (nftables), which enforces security groups ([`crate::firewall`]).
fn nft_present() -> bool {
    ["/usr/sbin", "/sbin", "/usr/bin", "/usr/local/sbin"]
        .iter()
        .any(|d| Path::new(d).join("nft").exists())
}

/// Checks the host; on failure, every problem found, each in words an admin can act on.
pub fn run(libvirt_uri: &str, acceleration: Option<&str>) -> Result<CheckReport, Vec<String>> {
    let mut problems = vec![];
    if !Path::new("/proc/cpuinfo").exists() {
        problems.push("unsupported operating system: Stratus hosts run Linux".to_string());
    }
    let uses_qemu = libvirt_uri.starts_with("qemu");
    if uses_qemu && !qemu_present() {
        problems.push(
            "no QEMU found (qemu-system-*): install qemu-system-x86 (Debian/Ubuntu) or qemu-kvm"
                .to_string(),
        );
    }
    if uses_qemu && !nft_present() {
        problems.push(
            "no nft found (security groups are enforced with nftables): install nftables"
                .to_string(),
        );
    }
    let facts: Option<NodeFacts> = match Libvirt::new(libvirt_uri).node_facts() {
        Ok(f) => Some(f),
        Err(e) => {
            problems.push(format!(
                "libvirt is not reachable at {libvirt_uri} ({e}): install libvirt-daemon-system and start libvirtd"
            ));
            None
        }
    };
    let acceleration = match acceleration {
        Some("kvm") => Acceleration::Kvm,
        Some("qemu") | Some("tcg") => Acceleration::Qemu,
        _ => detect_acceleration(),
    };
    match (facts, problems.is_empty()) {
        (Some(f), true) => Ok(CheckReport {
            hostname: f.hostname,
            cpu_cores: f.cpu_cores,
            memory_bytes: f.memory_bytes,
            libvirt_version: f.libvirt_version,
            hypervisor_version: f.hypervisor_version,
            acceleration,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_driver_passes_and_a_missing_libvirtd_is_named() {
        let ok = super::run("test:///default", Some("qemu")).unwrap();
        assert!(ok.cpu_cores > 0);
        let problems =
            super::run("qemu+unix:///system?socket=/nonexistent/sock", None).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("libvirt is not reachable") && p.contains("start libvirtd")),
            "{problems:?}"
        );
    }
}
