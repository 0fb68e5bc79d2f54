//! Services: the cloud's work, one module per resource. Workflows (deploy, host
//! bootstrap, downloads), reconcilers on timers, and the calls to agents. Commands and
//! the front doors call down into here; services call down into `db`, `rules` and
//! `clients`, never up: events are recorded with `db::events`, not through `commands`.

pub mod accounts;
pub mod agents;
pub mod auth;
pub mod consoles;
pub mod downloads;
pub mod hosts;
pub mod images;
pub mod isos;
pub mod limits;
pub mod mail;
pub mod networks;
pub mod public_ips;
pub mod reconcile;
pub mod security_groups;
pub mod snapshots;
pub mod tasks;
pub mod templates;
pub mod vms;
pub mod workflow;
