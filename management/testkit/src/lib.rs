//! What the management server's tests and benchmarks share, in one crate: each test file
//! is its own binary, and support included into each with `mod common;` had to allow
//! dead code (every binary uses a different part). As a library, its items are its
//! public interface, and every test and benchmark finds them in one place.
//!
//! - [`db`]: a real Postgres and a fresh, migrated database per test; an API client
//!   over the router (signed and session calls), the admin caller.
//! - [`http`]: a scripted HTTP/1.1 server for downloads (files, generated ISOs, wrong
//!   lengths, redirects, stalls) and the simulated NFS server.
//! - [`bench`]: percentiles and arguments for the benchmarks.

pub mod bench;
pub mod db;
pub mod http;
