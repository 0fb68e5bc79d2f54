//! The management ⇄ agent protocol (version 1): what an agent pushes in its heartbeats.
//!
//! Each heartbeat carries the host's facts, its current metrics and a report of the
//! domains it runs, stamped with a `generation` that only grows (boot time in
//! milliseconds, then +1 per report), so the management server can ignore a report that
//! arrives after a newer one — e.g. one delayed on the way to another management server.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const PROTOCOL_VERSION: u32 = 1;

/// How guests are accelerated on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acceleration {
    /// Hardware virtualisation (`<domain type='kvm'>`).
    Kvm,
    /// Software emulation, TCG (`<domain type='qemu'>`).
    Qemu,
}

impl Acceleration {
    pub fn as_str(self) -> &'static str {
        match self {
            Acceleration::Kvm => "kvm",
            Acceleration::Qemu => "qemu",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    pub arch: String,
    pub cpu_sockets: u32,
    /// Logical CPUs (CloudStack's `cpunumber`).
    pub cpu_cores: u32,
    pub cpu_mhz: u32,
    pub memory_bytes: u64,
    pub os: String,
    pub kernel: String,
    pub libvirt_version: String,
    /// The hypervisor driver's version (QEMU's, for the qemu driver).
    pub hypervisor_version: String,
    pub acceleration: Acceleration,
    pub agent_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostMetrics {
    /// Share of all CPUs busy since the previous sample, 0–100.
    pub cpu_used_percent: f64,
    pub memory_used_bytes: u64,
    /// Bytes received/sent on all non-loopback interfaces since boot.
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainState {
    Running,
    Paused,
    Shutdown,
    Shutoff,
    Crashed,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainReport {
    pub name: String,
    pub uuid: Uuid,
    pub state: DomainState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub protocol: u32,
    pub generation: u64,
    pub facts: HostFacts,
    pub metrics: HostMetrics,
    pub domains: Vec<DomainReport>,
}

/// The management server's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// How often the server wants heartbeats, in seconds.
    pub interval_secs: u64,
    /// False when the report was older than one already seen (it was ignored).
    pub accepted: bool,
    /// The host was deleted: the agent removes its files and exits.
    #[serde(default)]
    pub decommission: bool,
}

/// The path an agent posts its heartbeats to, under a management URL.
pub fn heartbeat_path(host_id: Uuid) -> String {
    format!("/agent/v1/hosts/{host_id}/heartbeat")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_stable() {
        assert_eq!(
            serde_json::to_string(&Acceleration::Qemu).unwrap(),
            "\"qemu\""
        );
        assert_eq!(
            serde_json::to_string(&DomainState::Shutoff).unwrap(),
            "\"shutoff\""
        );
        assert_eq!(
            heartbeat_path(Uuid::nil()),
            "/agent/v1/hosts/00000000-0000-0000-0000-000000000000/heartbeat"
        );
    }
}

/// Where an installed agent lives on its host. `addHost` installs there and the agent
/// removes exactly this when its host is deleted.
pub mod layout {
    pub const DIR: &str = "/var/lib/stratus-agent";
    pub const BIN: &str = "/var/lib/stratus-agent/bin/stratus-agent";
    pub const CONFIG: &str = "/etc/stratus/agent.properties";
    pub const LOG: &str = "/var/lib/stratus-agent/agent.log";
    pub const PID: &str = "/var/lib/stratus-agent/agent.pid";
    pub const SYSTEMD_UNIT: &str = "/etc/systemd/system/stratus-agent.service";
    /// The agent's TLS server certificate and key, and the CA its clients must chain to.
    pub const TLS_CERT: &str = "/etc/stratus/agent.crt";
    pub const TLS_KEY: &str = "/etc/stratus/agent.key";
    pub const CA_CERT: &str = "/etc/stratus/ca.crt";
}

/// The agent's command API (HTTPS with mutual TLS; management servers only).
pub mod api {
    /// CloudStack agents listen on 8250 too.
    pub const DEFAULT_PORT: u16 = 8250;
    /// GET: the host's current report (facts, metrics, domains), as in a heartbeat.
    pub const FACTS: &str = "/v1/facts";
    /// POST: send a heartbeat now and answer with the management server's
    /// acknowledgement (`reconnectHost`).
    pub const RECONNECT: &str = "/v1/reconnect";
}
