//! The Stratus host agent: one per KVM host. It reports the host's facts, metrics and the
//! domains it runs to the management server in heartbeats (with failover across
//! management URLs), and serves the management servers' commands over mutual TLS (`api`).

pub mod api;
pub mod check;
pub mod config;
pub mod domain_xml;
pub mod error;
pub mod firewall;
pub mod guest;
pub mod heartbeat;
pub mod hypervisor;
pub mod iso9660;
pub mod kvm_device;
pub mod metadata;
pub mod network;
pub mod router;
pub mod segment;
pub mod sysinfo;
pub mod uninstall;
