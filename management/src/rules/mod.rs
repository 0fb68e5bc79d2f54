//! Pure domain rules: no I/O, unit-tested. Handlers call these to validate and decide;
//! the db layer persists what they decide.

pub mod download_policy;
pub mod hoststate;
pub mod iprange;
pub mod placement;
pub mod settings;
pub mod states;
pub mod vmstate;
