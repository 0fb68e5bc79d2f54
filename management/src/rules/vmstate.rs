//! A VM's state machine, CloudStack's (`com.cloud.vm.VirtualMachine.State`) reduced to
//! what a KVM-only cloud without migration needs. Every command asks [`VmState::on`]
//! before it acts, so an illegal request (stopping a Stopped VM, starting a Destroyed
//! one) is refused with the same clear text everywhere, and nothing is half-done.

use stratus_api::{ApiError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    Stopped,
    Starting,
    Running,
    Stopping,
    Destroyed,
    Expunging,
    Expunged,
    Error,
}

// The one text mapping: rows decode into the enum, binds encode it, and the `vms` CHECK
// constraint (migration 0009) admits exactly these spellings.
super::text_column!(VmState, "VM state");

// The same spelling in JSON (a workflow's stored outputs).
impl serde::Serialize for VmState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for VmState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        VmState::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown VM state {s:?}")))
    }
}

/// What happens to a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmEvent {
    /// start (or deploy's start): capacity is reserved and the domain started.
    Start,
    /// The domain runs.
    Started,
    /// Starting failed and was unwound (deploy: → Error instead, see [`VmEvent::DeployFailed`]).
    StartFailed,
    /// Deploying failed and was unwound.
    DeployFailed,
    Stop,
    Stopped,
    /// The agent reported the domain gone or shut off while we thought it ran.
    DiedOutOfBand,
    /// The agent reported it running while we thought it stopped (e.g. started by hand).
    FoundRunning,
    Reboot,
    Destroy,
    Recover,
    Expunge,
    Expunged,
    /// attachIso/detachIso: allowed while it is not moving between states.
    ChangeIso,
}

impl VmState {
    pub const ALL: [VmState; 8] = [
        VmState::Stopped,
        VmState::Starting,
        VmState::Running,
        VmState::Stopping,
        VmState::Destroyed,
        VmState::Expunging,
        VmState::Expunged,
        VmState::Error,
    ];

    pub fn parse(s: &str) -> Option<VmState> {
        use VmState::*;
        Some(match s {
            "Stopped" => Stopped,
            "Starting" => Starting,
            "Running" => Running,
            "Stopping" => Stopping,
            "Destroyed" => Destroyed,
            "Expunging" => Expunging,
            "Expunged" => Expunged,
            "Error" => Error,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        use VmState::*;
        match self {
            Stopped => "Stopped",
            Starting => "Starting",
            Running => "Running",
            Stopping => "Stopping",
            Destroyed => "Destroyed",
            Expunging => "Expunging",
            Expunged => "Expunged",
            Error => "Error",
        }
    }

    /// Whether capacity is reserved on a host in this state.
    pub fn holds_capacity(self) -> bool {
        matches!(
            self,
            VmState::Starting | VmState::Running | VmState::Stopping
        )
    }

    /// The next state, or `None` when the event is illegal in this state.
    pub fn on(self, e: VmEvent) -> Option<VmState> {
        use VmEvent as E;
        use VmState::*;
        Some(match (self, e) {
            (Stopped, E::Start) => Starting,
            (Starting, E::Started) => Running,
            (Starting, E::StartFailed) => Stopped,
            (Starting, E::DeployFailed) => Error,
            (Running, E::Stop) => Stopping,
            // A forced stop of a VM whose stop hung.
            (Stopping, E::Stop) => Stopping,
            (Stopping, E::Stopped) => Stopped,
            (Running | Stopping, E::DiedOutOfBand) => Stopped,
            (Stopped, E::FoundRunning) => Running,
            (Running, E::Reboot) => Running,
            (Stopped | Running | Error, E::Destroy) => Destroyed,
            (Destroyed, E::Recover) => Stopped,
            (Destroyed | Error | Expunging, E::Expunge) => Expunging,
            (Expunging, E::Expunged) => Expunged,
            (Stopped | Running, E::ChangeIso) => self,
            _ => return None,
        })
    }

    /// [`on`](Self::on), or CloudStack's error for an operation in the wrong state (431,
    /// as `InvalidParameterValueException`).
    pub fn require(self, e: VmEvent, vm_name: &str) -> Result<VmState, ApiError> {
        self.on(e).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ParamError,
                format!(
                    "Unable to {} VM {vm_name}: it is {}{}",
                    verb(e),
                    self.as_str(),
                    hint(self, e)
                ),
            )
        })
    }
}

fn verb(e: VmEvent) -> &'static str {
    use VmEvent as E;
    match e {
        E::Start | E::Started | E::StartFailed | E::DeployFailed | E::FoundRunning => "start",
        E::Stop | E::Stopped | E::DiedOutOfBand => "stop",
        E::Reboot => "reboot",
        E::Destroy => "destroy",
        E::Recover => "recover",
        E::Expunge | E::Expunged => "expunge",
        E::ChangeIso => "attach or detach an ISO on",
    }
}

fn hint(s: VmState, e: VmEvent) -> &'static str {
    use VmEvent as E;
    use VmState::*;
    match (s, e) {
        (Starting | Stopping | Expunging, _) => " (another operation is in progress; wait for it)",
        (Destroyed, E::Start) => " (recover it first)",
        (Stopped, E::Reboot) => " (start it instead)",
        (Running, E::Expunge) => " (destroy it first)",
        (Stopped, E::Expunge) => " (destroy it first)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VmEvent as E;
    use VmState::*;

    #[test]
    fn lifecycle() {
        assert_eq!(Stopped.on(E::Start), Some(Starting));
        assert_eq!(Starting.on(E::Started), Some(Running));
        assert_eq!(Running.on(E::Stop), Some(Stopping));
        assert_eq!(Stopping.on(E::Stopped), Some(Stopped));
        assert_eq!(Running.on(E::Destroy), Some(Destroyed));
        assert_eq!(Destroyed.on(E::Recover), Some(Stopped));
        assert_eq!(Destroyed.on(E::Expunge), Some(Expunging));
        assert_eq!(Expunging.on(E::Expunged), Some(Expunged));
        assert_eq!(Starting.on(E::DeployFailed), Some(Error));
        assert_eq!(Starting.on(E::StartFailed), Some(Stopped));
        assert_eq!(Error.on(E::Destroy), Some(Destroyed));
        assert_eq!(Running.on(E::DiedOutOfBand), Some(Stopped));
    }

    #[test]
    fn illegal_transitions_are_refused_with_a_reason() {
        assert_eq!(Stopped.on(E::Stop), None);
        assert_eq!(Destroyed.on(E::Start), None);
        assert_eq!(Running.on(E::Start), None);
        assert_eq!(Running.on(E::Expunge), None);
        assert_eq!(Expunged.on(E::Recover), None);
        assert_eq!(Starting.on(E::Destroy), None);
        let e = Destroyed.require(E::Start, "web1").unwrap_err();
        assert_eq!(e.code, ErrorCode::ParamError);
        assert!(e.text.contains("Destroyed"), "{}", e.text);
        assert!(e.text.contains("recover it first"), "{}", e.text);
        let e = Stopped.require(E::Reboot, "web1").unwrap_err();
        assert!(e.text.contains("start it instead"), "{}", e.text);
    }

    #[test]
    fn every_state_round_trips_and_capacity_is_held_only_while_placed() {
        for s in [
            Stopped, Starting, Running, Stopping, Destroyed, Expunging, Expunged, Error,
        ] {
            assert_eq!(VmState::parse(s.as_str()), Some(s));
            assert_eq!(
                s.holds_capacity(),
                matches!(s, Starting | Running | Stopping)
            );
        }
    }
}
