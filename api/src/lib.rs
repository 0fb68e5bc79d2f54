//! The Stratus contract, shared by the management server, the agent and the UI: the
//! CloudStack-compatible command catalog, request parameters, response types, signing and
//! error codes. Nothing here does I/O, so the contract can be tested on its own.

pub mod agent;
pub mod command;
pub mod envelope;
pub mod error;
pub mod params;
pub mod signing;
pub mod types;

pub use error::{ApiError, ApiResult, ErrorCode};
pub use params::Params;
