//! The two state machines of a host, as in CloudStack: its *status* follows the agent
//! (heartbeats and probes), its *resource state* follows the admin (enable, disable,
//! maintenance). Transitions not listed here are illegal and refused with a clear text.
//!
//! Both are stored as text in the spelling of `as_str` (the `hosts` CHECK constraints
//! allow exactly these values, migration 0018), and rows decode straight into them.

use stratus_api::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Up,
    Disconnected,
    Alert,
    Down,
}

super::text_column!(Status, "host status");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusEvent {
    /// A valid report arrived.
    Heartbeat,
    /// No report for ping.interval × ping.timeout.
    HeartbeatsMissed,
    /// The host answers on its probe port but its agent does not report.
    ProbeReachable,
    /// The host does not answer at all.
    ProbeUnreachable,
    /// An admin asked to reconnect (`reconnectHost`).
    Reconnect,
    /// The agent's command API did not answer the reconnect.
    ReconnectFailed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Connecting,
        Status::Up,
        Status::Disconnected,
        Status::Alert,
        Status::Down,
    ];

    /// A list filter's spelling, in any case (as CloudStack's filters match).
    pub fn parse_any_case(s: &str) -> Option<Status> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "Connecting" => Status::Connecting,
            "Up" => Status::Up,
            "Disconnected" => Status::Disconnected,
            "Alert" => Status::Alert,
            "Down" => Status::Down,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Connecting => "Connecting",
            Status::Up => "Up",
            Status::Disconnected => "Disconnected",
            Status::Alert => "Alert",
            Status::Down => "Down",
        }
    }

    /// The next status, or `None` when the event changes nothing.
    pub fn on(self, e: StatusEvent) -> Option<Status> {
        use Status::*;
        use StatusEvent::*;
        match (self, e) {
            (Up, Heartbeat) => None,
            (_, Heartbeat) => Some(Up),
            (Up | Connecting, HeartbeatsMissed) => Some(Disconnected),
            (Disconnected | Down, ProbeReachable) => Some(Alert),
            (Disconnected | Alert, ProbeUnreachable) => Some(Down),
            (Connecting, Reconnect) => None,
            (_, Reconnect) => Some(Connecting),
            (Connecting, ReconnectFailed) => Some(Alert),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceState {
    Enabled,
    Disabled,
    PrepareForMaintenance,
    ErrorInPrepareForMaintenance,
    Maintenance,
    ErrorInMaintenance,
}

super::text_column!(ResourceState, "host resource state");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceEvent {
    Enable,
    Disable,
    PrepareForMaintenance,
    /// Everything is off the host (no instances yet, so at once).
    MaintenanceReached,
    /// Some VM could not be moved off the host (live migration, issue 16).
    UnableToMigrate,
    CancelMaintenance,
}

impl ResourceState {
    pub const ALL: [ResourceState; 6] = [
        ResourceState::Enabled,
        ResourceState::Disabled,
        ResourceState::PrepareForMaintenance,
        ResourceState::ErrorInPrepareForMaintenance,
        ResourceState::Maintenance,
        ResourceState::ErrorInMaintenance,
    ];

    /// A list filter's spelling, in any case (as CloudStack's filters match).
    pub fn parse_any_case(s: &str) -> Option<ResourceState> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }

    pub fn parse(s: &str) -> Option<ResourceState> {
        use ResourceState::*;
        Some(match s {
            "Enabled" => Enabled,
            "Disabled" => Disabled,
            "PrepareForMaintenance" => PrepareForMaintenance,
            "ErrorInPrepareForMaintenance" => ErrorInPrepareForMaintenance,
            "Maintenance" => Maintenance,
            "ErrorInMaintenance" => ErrorInMaintenance,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        use ResourceState::*;
        match self {
            Enabled => "Enabled",
            Disabled => "Disabled",
            PrepareForMaintenance => "PrepareForMaintenance",
            ErrorInPrepareForMaintenance => "ErrorInPrepareForMaintenance",
            Maintenance => "Maintenance",
            ErrorInMaintenance => "ErrorInMaintenance",
        }
    }

    pub fn on(self, e: ResourceEvent) -> Result<ResourceState, ApiError> {
        use ResourceEvent as E;
        use ResourceState::*;
        let next = match (self, e) {
            (Enabled | Disabled, E::Enable) => Some(Enabled),
            (Enabled | Disabled, E::Disable) => Some(Disabled),
            (
                Enabled | Disabled | ErrorInPrepareForMaintenance | ErrorInMaintenance,
                E::PrepareForMaintenance,
            ) => Some(PrepareForMaintenance),
            (PrepareForMaintenance, E::MaintenanceReached) => Some(Maintenance),
            (PrepareForMaintenance, E::UnableToMigrate) => Some(ErrorInMaintenance),
            (
                PrepareForMaintenance
                | ErrorInPrepareForMaintenance
                | Maintenance
                | ErrorInMaintenance,
                E::CancelMaintenance,
            ) => Some(Enabled),
            _ => None,
        };
        next.ok_or_else(|| {
            let what = match e {
                E::Enable => "enabled",
                E::Disable => "disabled",
                E::PrepareForMaintenance => "put into maintenance",
                E::MaintenanceReached => "moved to Maintenance",
                E::UnableToMigrate => "moved to ErrorInMaintenance",
                E::CancelMaintenance => "taken out of maintenance",
            };
            ApiError::param(format!(
                "The host cannot be {what} while its resource state is {}",
                self.as_str()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResourceEvent as E;
    use ResourceState as R;
    use Status::*;
    use StatusEvent::*;

    #[test]
    fn status_follows_heartbeats_and_probes() {
        assert_eq!(Connecting.on(Heartbeat), Some(Up));
        assert_eq!(Up.on(Heartbeat), None);
        assert_eq!(Up.on(HeartbeatsMissed), Some(Disconnected));
        assert_eq!(Disconnected.on(ProbeReachable), Some(Alert));
        assert_eq!(Disconnected.on(ProbeUnreachable), Some(Down));
        assert_eq!(Alert.on(ProbeUnreachable), Some(Down));
        assert_eq!(Down.on(ProbeReachable), Some(Alert));
        for s in [Disconnected, Alert, Down] {
            assert_eq!(s.on(Heartbeat), Some(Up), "{s:?} recovers on a heartbeat");
        }
        assert_eq!(
            Up.on(ProbeUnreachable),
            None,
            "probes only judge silent hosts"
        );
        for s in [Connecting, Up, Disconnected, Alert, Down] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn reconnect_goes_through_connecting() {
        for s in [Up, Disconnected, Alert, Down] {
            assert_eq!(s.on(Reconnect), Some(Connecting), "{s:?}");
            assert_eq!(s.on(ReconnectFailed), None, "{s:?}");
        }
        assert_eq!(Connecting.on(Reconnect), None);
        assert_eq!(Connecting.on(ReconnectFailed), Some(Alert));
        assert_eq!(
            Connecting.on(Reconnect).unwrap_or(Connecting).on(Heartbeat),
            Some(Up)
        );
    }

    #[test]
    fn maintenance_cycle_and_illegal_moves() {
        let s = R::Enabled.on(E::PrepareForMaintenance).unwrap();
        assert_eq!(s, R::PrepareForMaintenance);
        let s = s.on(E::MaintenanceReached).unwrap();
        assert_eq!(s, R::Maintenance);
        assert!(s
            .on(E::Disable)
            .unwrap_err()
            .text
            .contains("cannot be disabled while its resource state is Maintenance"));
        assert_eq!(s.on(E::CancelMaintenance).unwrap(), R::Enabled);
        assert!(R::Enabled.on(E::CancelMaintenance).is_err());
        assert_eq!(R::Disabled.on(E::Enable).unwrap(), R::Enabled);
        for s in [
            R::Enabled,
            R::Disabled,
            R::PrepareForMaintenance,
            R::ErrorInPrepareForMaintenance,
            R::Maintenance,
            R::ErrorInMaintenance,
        ] {
            assert_eq!(R::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn maintenance_that_cannot_empty_the_host() {
        let p = R::Enabled.on(E::PrepareForMaintenance).unwrap();
        assert_eq!(p, R::PrepareForMaintenance);
        assert_eq!(p.on(E::UnableToMigrate).unwrap(), R::ErrorInMaintenance);
        assert_eq!(
            R::ErrorInMaintenance.on(E::PrepareForMaintenance).unwrap(),
            R::PrepareForMaintenance
        );
        assert_eq!(
            R::ErrorInMaintenance.on(E::CancelMaintenance).unwrap(),
            R::Enabled
        );
        assert!(R::Enabled.on(E::UnableToMigrate).is_err());
        assert!(R::Maintenance.on(E::UnableToMigrate).is_err());
    }
}
