//! A VM snapshot's state and type (issue 16), with their one text mapping: rows decode
//! into these enums and the `vm_snapshots` CHECKs of migration 0048 admit exactly these
//! spellings, which are CloudStack's (`VMSnapshot.State`, `VMSnapshot.Type`). The rules
//! of which VM state allows which operation are here too, pure, with CloudStack's texts.

use crate::rules::vmstate::VmState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VmSnapshotState {
    Allocated,
    Creating,
    Ready,
    Reverting,
    Expunging,
    Error,
    Removed,
}

impl VmSnapshotState {
    pub const ALL: [VmSnapshotState; 7] = [
        VmSnapshotState::Allocated,
        VmSnapshotState::Creating,
        VmSnapshotState::Ready,
        VmSnapshotState::Reverting,
        VmSnapshotState::Expunging,
        VmSnapshotState::Error,
        VmSnapshotState::Removed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            VmSnapshotState::Allocated => "Allocated",
            VmSnapshotState::Creating => "Creating",
            VmSnapshotState::Ready => "Ready",
            VmSnapshotState::Reverting => "Reverting",
            VmSnapshotState::Expunging => "Expunging",
            VmSnapshotState::Error => "Error",
            VmSnapshotState::Removed => "Removed",
        }
    }
    pub fn parse(s: &str) -> Option<VmSnapshotState> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// As a client may spell it in a filter (`state=ready`).
    pub fn parse_any_case(s: &str) -> Option<VmSnapshotState> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

super::text_column!(VmSnapshotState, "VM snapshot state");

/// CloudStack's `VMSnapshot.Type`: the disks only, or the disks and the guest's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VmSnapshotType {
    Disk,
    DiskAndMemory,
}

impl VmSnapshotType {
    pub const ALL: [VmSnapshotType; 2] = [VmSnapshotType::Disk, VmSnapshotType::DiskAndMemory];
    pub fn as_str(self) -> &'static str {
        match self {
            VmSnapshotType::Disk => "Disk",
            VmSnapshotType::DiskAndMemory => "DiskAndMemory",
        }
    }
    pub fn parse(s: &str) -> Option<VmSnapshotType> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

super::text_column!(VmSnapshotType, "VM snapshot type");

/// May a VM in `state` be snapshotted, with memory or not? CloudStack's rules and texts
/// (VMSnapshotManagerImpl.allocVMSnapshot), KVM's among them: a running VM's snapshot
/// includes its memory (a disk-only one of a running KVM guest is refused).
pub fn may_create(vm: &str, state: VmState, memory: bool) -> Result<(), String> {
    match state {
        VmState::Running | VmState::Stopped => {}
        _ => {
            return Err(format!(
                "Creating vm snapshot failed due to VM:{vm} is not in the running or Stopped state"
            ))
        }
    }
    if memory && state != VmState::Running {
        return Err("Can not snapshot memory when VM is not in Running state".into());
    }
    if !memory && state == VmState::Running {
        return Err(
            "KVM VM does not allow to take a disk-only snapshot when VM is in running state".into(),
        );
    }
    Ok(())
}

/// May a VM in `state` be reverted to a snapshot of type `t`? CloudStack's rule: a
/// revert must not change the VM's state — a running VM to a snapshot with memory, a
/// stopped one to a disk-only snapshot.
pub fn may_revert(state: VmState, t: VmSnapshotType) -> Result<(), String> {
    match state {
        VmState::Running | VmState::Stopped => {}
        _ => {
            return Err(
                "VM Snapshot reverting failed due to vm is not in the state of Running or Stopped."
                    .into(),
            )
        }
    }
    match (state, t) {
        (VmState::Running, VmSnapshotType::Disk)
        | (VmState::Stopped, VmSnapshotType::DiskAndMemory) => Err(
            "VM Snapshot revert not allowed. This will result in VM state change. You can revert running VM to disk and memory type snapshot and stopped VM to disk type snapshot"
                .into(),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mapping_both_ways() {
        for s in VmSnapshotState::ALL {
            assert_eq!(VmSnapshotState::parse(s.as_str()), Some(s));
            assert_eq!(
                VmSnapshotState::parse_any_case(&s.as_str().to_lowercase()),
                Some(s)
            );
        }
        for t in VmSnapshotType::ALL {
            assert_eq!(VmSnapshotType::parse(t.as_str()), Some(t));
        }
    }

    #[test]
    fn cloudstack_state_rules() {
        assert!(may_create("v", VmState::Running, true).is_ok());
        assert!(may_create("v", VmState::Stopped, false).is_ok());
        assert!(may_create("v", VmState::Running, false)
            .unwrap_err()
            .contains("disk-only"));
        assert!(may_create("v", VmState::Stopped, true)
            .unwrap_err()
            .contains("Can not snapshot memory"));
        assert!(may_create("v", VmState::Starting, false).is_err());
        assert!(may_revert(VmState::Running, VmSnapshotType::DiskAndMemory).is_ok());
        assert!(may_revert(VmState::Stopped, VmSnapshotType::Disk).is_ok());
        assert!(may_revert(VmState::Running, VmSnapshotType::Disk).is_err());
        assert!(may_revert(VmState::Stopped, VmSnapshotType::DiskAndMemory).is_err());
        assert!(may_revert(VmState::Destroyed, VmSnapshotType::Disk).is_err());
    }
}
