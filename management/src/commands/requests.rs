//! Every command's typed request, generated from the catalog by `management/build.rs`
//! (see there for the shapes), and the `Request` enum `handle` matches exhaustively.
//!
//! Why: a handler reading `p.required_uuid("zoneid")` compiles with a misspelt name and
//! gives back a bare `Uuid`; `r.zoneid()` is checked by the compiler against the catalog
//! and gives a `ZoneId`. The getters record each read, so a parameter the handler never
//! consults is still caught by `commands::execute`.

use stratus_api::{ApiResult, Params};

include!(concat!(env!("OUT_DIR"), "/requests.rs"));
