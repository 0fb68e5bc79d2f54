//! `/dev/kvm` as libvirt's QEMU user needs it.
//!
//! Why this exists: on machines without udev (containers, microVMs, minimal images)
//! `/dev/kvm` is often `root:root 0600`, where Debian's udev rule would make it
//! `root:kvm 0660`. libvirtd (root) then probes QEMU's capabilities with KVM usable, but
//! before each use it re-checks them as the QEMU user (`libvirt-qemu`, in group `kvm`),
//! finds "KVM was enabled when probing, but it is not available now", throws the
//! capabilities away and probes again — about a dozen times per domain start, ~4 s each.
//! Measured here (libvirt 9.0, QEMU 7.2, Debian's default `qemu.conf`): `virsh create`
//! of a 64 MiB domain took 49–51 s with a local file or an NFS disk; with `/dev/kvm`
//! `root:kvm 0660` it took 1.5 s. Worse, QEMU is launched paused during the thrash with
//! its NFS disks open, and the NFS server drops the idle connection ("Failed to mount
//! nfs share: nfs_service failed").
//!
//! So the agent (root, at start) gives `/dev/kvm` the group and mode udev would: the
//! `kvm` group, read-write for it. It never widens access to others and leaves a device
//! that already has a group alone. Whether guests then use KVM or TCG is still decided by
//! the acceleration setting: this only stops libvirt's cache from thrashing.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// What [`normalize`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmDevice {
    /// No such device (no KVM on this machine): nothing to do.
    Absent,
    /// Already usable by its group (or owned by a group other than root's).
    Fine,
    /// Changed to `root:kvm 0660`.
    Fixed { gid: u32, old_mode: u32 },
    /// Needed a change that could not be made (not root, no `kvm` group, ...).
    Unfixable(String),
}

/// The gid of group `name` from `/etc/group`-formatted text.
pub fn group_id(group_file: &str, name: &str) -> Option<u32> {
    group_file.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// What must change for a device with this owner group and mode (`None`: nothing).
/// The rule udev applies: group `kvm`, mode 0660. A device with another group was set up
/// on purpose and is left alone; group rw is added only to a root-group device.
pub fn needs_change(dev_gid: u32, mode: u32) -> bool {
    dev_gid == 0 && mode & 0o060 != 0o060
}

/// Makes `path` (normally `/dev/kvm`) `root:kvm 0660` if it is a root-group device
/// without group access.
pub fn normalize(path: &Path, group_file: &Path) -> KvmDevice {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(_) => return KvmDevice::Absent,
    };
    let mode = meta.mode() & 0o7777;
    if !needs_change(meta.gid(), mode) {
        return KvmDevice::Fine;
    }
    let groups = std::fs::read_to_string(group_file).unwrap_or_default();
    let Some(gid) = group_id(&groups, "kvm") else {
        return KvmDevice::Unfixable(format!(
            "{} is root-only (mode {mode:o}) and there is no 'kvm' group",
            path.display()
        ));
    };
    if let Err(e) = std::os::unix::fs::chown(path, None, Some(gid)) {
        return KvmDevice::Unfixable(format!("chgrp kvm {}: {e}", path.display()));
    }
    let new_mode = (mode | 0o060) & !0o007;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(new_mode)) {
        return KvmDevice::Unfixable(format!("chmod {new_mode:o} {}: {e}", path.display()));
    }
    KvmDevice::Fixed {
        gid,
        old_mode: mode,
    }
}

/// [`normalize`] on `/dev/kvm`, logged.
pub fn prepare() {
    match normalize(Path::new("/dev/kvm"), Path::new("/etc/group")) {
        KvmDevice::Fixed { old_mode, .. } => tracing::info!(
            "/dev/kvm was root:root {old_mode:o}; made it root:kvm 0660 as udev would, so \
             libvirt's QEMU user can use it (otherwise libvirt re-probes QEMU on every \
             domain start: ~50 s each)"
        ),
        KvmDevice::Unfixable(why) => tracing::warn!(
            "{why}: libvirt may take ~50 s to start each domain (it re-probes QEMU); \
             give /dev/kvm to the kvm group (chgrp kvm /dev/kvm; chmod 0660 /dev/kvm)"
        ),
        KvmDevice::Absent | KvmDevice::Fine => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kvm_group_is_read_from_the_group_file() {
        let g = "root:x:0:\nkvm:x:107:\nlibvirt-qemu:x:64055:libvirt-qemu\n";
        assert_eq!(group_id(g, "kvm"), Some(107));
        assert_eq!(group_id(g, "kv"), None);
        assert_eq!(group_id("kvm:x:notanumber:\n", "kvm"), None);
    }

    #[test]
    fn only_root_group_devices_without_group_access_change() {
        assert!(needs_change(0, 0o600));
        assert!(needs_change(0, 0o620));
        assert!(!needs_change(0, 0o660));
        assert!(!needs_change(107, 0o600), "a chosen group is left alone");
    }

    #[test]
    fn a_root_only_file_becomes_group_kvm_0660() {
        // Changing a file's group to any group needs root (CI and the test bed run as root).
        if std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            != 0
        {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("kvm");
        std::fs::write(&dev, b"").unwrap();
        std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&dev, Some(0), Some(0)).unwrap();
        let groups = dir.path().join("group");
        std::fs::write(&groups, "root:x:0:\nkvm:x:4242:\n").unwrap();
        assert_eq!(
            normalize(&dev, &groups),
            KvmDevice::Fixed {
                gid: 4242,
                old_mode: 0o600
            }
        );
        let meta = std::fs::metadata(&dev).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 4242));
        assert_eq!(meta.mode() & 0o777, 0o660);
        // Twice is the same as once.
        assert_eq!(normalize(&dev, &groups), KvmDevice::Fine);
        assert_eq!(
            normalize(&dir.path().join("none"), &groups),
            KvmDevice::Absent
        );
        // No kvm group: said, not hidden.
        std::os::unix::fs::chown(&dev, Some(0), Some(0)).unwrap();
        std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&groups, "root:x:0:\n").unwrap();
        assert!(matches!(normalize(&dev, &groups), KvmDevice::Unfixable(_)));
    }
}
