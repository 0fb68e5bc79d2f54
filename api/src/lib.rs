//! The Stratus contract, shared by the management server, the agent and the UI: the
//! CloudStack-compatible command catalog, request parameters, response types, signing and
//! error codes. Nothing here does I/O, so the contract can be tested on its own.
//!
//! Request data passes through here (parameters, signatures, envelopes), so no code path
//! may panic on it: byte-index slicing of strings, unchecked indexing, `unwrap`/`expect`
//! and `panic!` are denied outside tests (issue 19); a justified exception carries its own
//! `#[allow]` with the reason.
#![cfg_attr(
    not(test),
    deny(
        clippy::string_slice,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod agent;
pub mod command;
pub mod envelope;
pub mod error;
pub mod job_class;
pub mod params;
pub mod router;
pub mod signing;
pub mod types;

pub use error::{ApiError, ApiResult, ErrorCode};
pub use params::Params;
