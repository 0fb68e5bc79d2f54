//! The Stratus management server: holds the cloud's state in Postgres and serves the
//! CloudStack-compatible API over it.
//!
//! Layers, outermost first: `http` (thin handlers) → `commands` (access, validation,
//! orchestration, one entry point for API, UI and jobs) → `domain` (pure rules) → `db`
//! (all SQL). `jobs` runs async commands; `embedded_pg` runs the private Postgres of the
//! no-configuration default; `ids` declares the typed ids (`ZoneId`, `HostId`, …) every
//! layer speaks.

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
