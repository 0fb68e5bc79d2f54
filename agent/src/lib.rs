//! The Stratus host agent: one per KVM host. It reports the host's facts, metrics and the
//! domains it runs to the management server in heartbeats (with failover across
//! management URLs). Commands from the management server (start/stop VMs, networks) and
//! its TLS API come with later issues.

pub mod check;
pub mod config;
pub mod error;
pub mod heartbeat;
pub mod hypervisor;
pub mod sysinfo;
pub mod uninstall;
