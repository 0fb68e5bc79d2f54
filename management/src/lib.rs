//! The Stratus management server: holds the cloud's state in Postgres and serves the
//! CloudStack-compatible API over it.
//!
//! Layers, outermost first: `http` (thin handlers) → `commands` (access, validation,
//! orchestration, one entry point for API, UI and jobs) → `domain` (pure rules) → `db`
//! (all SQL). `jobs` runs async commands; `embedded_pg` runs the private Postgres of the
//! no-configuration default.

pub mod agent_calls;
pub mod auth;
pub mod bootstrap;
pub mod commands;
pub mod console;
pub mod console_proxy;
pub mod ctx;
pub mod db;
pub mod dbstatus;
pub mod domain;
pub mod download;
pub mod download_guard;
pub mod embedded_pg;
pub mod error;
pub mod front;
pub mod guard;
pub mod host_bootstrap;
pub mod hosts;
pub mod http;
pub mod instances;
pub mod isos;
pub mod jobs;
pub mod listen;
pub mod local_host;
pub mod metrics;
pub mod nfs;
pub mod pki;
pub mod process;
pub mod reconcile;
pub mod secrets;
pub mod ssh;
pub mod tasks;
pub mod vms;
pub mod volumes;
