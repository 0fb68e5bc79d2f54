//! The Stratus management server: holds the cloud's state in Postgres and serves the
//! CloudStack-compatible API over it.
//!
//! Layers, outermost first, one folder each: `front` (where work enters: the API, the
//! web console, VNC, agents' heartbeats, the job runner) → `commands` (one handler per
//! verb, validated against the catalog) → `services` (the work, by resource) → shared
//! state (`ctx`, `pki`, `dbstatus`, `guard`) → `db` (all SQL) and `clients` (NFS, SSH) →
//! `rules` (pure) and foundations (`error`, `secrets`, `process`, `embedded_pg`,
//! `faults`, `settings`, `ids`: the typed ids every layer speaks). Nothing reaches up and nothing imports in a loop: `tests/layers.rs` checks
//! both; docs/architecture.md has the code map.

pub mod clients;
pub mod commands;
pub mod ctx;
pub mod db;
pub mod dbstatus;
pub mod embedded_pg;
pub mod error;
pub mod faults;
pub mod front;
pub mod guard;
pub mod ids;
pub mod pki;
pub mod process;
pub mod rules;
pub mod secrets;
pub mod services;
pub mod settings;
