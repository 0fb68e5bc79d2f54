//! A workflow's kind and state (`services::workflow`, rows in `workflows`), with their one
//! text mapping: rows decode into these enums (`rules::text_column!`), and the table's
//! CHECK constraints admit exactly the production spellings (migrations 0017, 0026, 0047,
//! 0048, 0050).
//! Here, below `db`, so that the row type can carry them.

/// The kinds of workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    VmDeploy,
    VmStart,
    VmReboot,
    VmExpunge,
    /// restoreVirtualMachine: a new root volume from the VM's template or ISO.
    VmRestore,
    /// createTemplate: a stopped VM's root volume flattened into a new template.
    TemplateCreate,
    HostAdd,
    /// createSnapshot (issue 16): a volume's copy backed up to secondary storage.
    SnapshotCreate,
    /// revertSnapshot (issue 16): a snapshot written back as its volume's content.
    SnapshotRevert,
    // --- VM snapshots (issue 16) ---
    /// createVMSnapshot.
    VmSnapshotCreate,
    /// revertToVMSnapshot.
    VmSnapshotRevert,
    /// deleteVMSnapshot (and a VM's snapshots at its expunge).
    VmSnapshotDelete,
    /// migrateVirtualMachine, and each move of prepareHostForMaintenance (issue 16).
    VmMigrate,
    /// An isolated network's first use (issue 15): its VXLAN/VLAN id, its source NAT
    /// address and its router on a host.
    NetworkImplement,
    /// The engine's own toy workflow. Never stored in production: the table's CHECK
    /// does not admit it (migration 0026); the engine's tests widen the CHECK in their
    /// throwaway database (management/tests/workflow.rs).
    Test,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::VmDeploy,
        Kind::VmStart,
        Kind::VmReboot,
        Kind::VmExpunge,
        Kind::VmRestore,
        Kind::TemplateCreate,
        Kind::HostAdd,
        Kind::SnapshotCreate,
        Kind::SnapshotRevert,
        Kind::VmSnapshotCreate,
        Kind::VmSnapshotRevert,
        Kind::VmSnapshotDelete,
        Kind::VmMigrate,
        Kind::NetworkImplement,
        Kind::Test,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VmDeploy => "VmDeploy",
            Kind::VmStart => "VmStart",
            Kind::VmReboot => "VmReboot",
            Kind::VmExpunge => "VmExpunge",
            Kind::VmRestore => "VmRestore",
            Kind::TemplateCreate => "TemplateCreate",
            Kind::HostAdd => "HostAdd",
            Kind::SnapshotCreate => "SnapshotCreate",
            Kind::SnapshotRevert => "SnapshotRevert",
            Kind::VmSnapshotCreate => "VmSnapshotCreate",
            Kind::VmSnapshotRevert => "VmSnapshotRevert",
            Kind::VmSnapshotDelete => "VmSnapshotDelete",
            Kind::VmMigrate => "VmMigrate",
            Kind::NetworkImplement => "NetworkImplement",
            Kind::Test => "Test",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

super::text_column!(Kind, "workflow kind");

/// Where a workflow is: Running its steps, Unwinding (a step failed; the steps done are
/// being undone), or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Unwinding,
    Succeeded,
    Failed,
}

impl State {
    pub const ALL: [State; 4] = [
        State::Running,
        State::Unwinding,
        State::Succeeded,
        State::Failed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "Running",
            State::Unwinding => "Unwinding",
            State::Succeeded => "Succeeded",
            State::Failed => "Failed",
        }
    }
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// As a client may spell it in a filter (`state=running`).
    pub fn parse_any_case(s: &str) -> Option<State> {
        State::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
    /// Not over: the engine (or a reconciler) still has work on it.
    pub fn is_active(self) -> bool {
        matches!(self, State::Running | State::Unwinding)
    }
}

super::text_column!(State, "workflow state");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mapping_both_ways() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(State::parse_any_case(&s.as_str().to_lowercase()), Some(s));
        }
        assert_eq!(State::parse("running"), None);
    }
}
