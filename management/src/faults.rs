//! Test hooks for multi-step work: a step named here fails (`fail:<Step>`) or never
//! returns (`hang:<Step>`, a management server dying mid-step). Empty in production;
//! tests set them through `Ctx::faults` to prove that a failure at any step unwinds and
//! that work taken over from a dead server resumes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use stratus_api::ApiError;

/// The faults armed, by `fail:<Step>` / `hang:<Step>`.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<HashSet<String>>>);

impl Faults {
    pub fn set(&self, fault: &str) {
        self.0.lock().expect("faults").insert(fault.to_string());
    }
    pub fn clear(&self) {
        self.0.lock().expect("faults").clear();
    }
    fn has(&self, fault: &str) -> bool {
        self.0.lock().expect("faults").contains(fault)
    }
    pub async fn check(&self, step: &str) -> Result<(), ApiError> {
        if self.has(&format!("hang:{}", step)) {
            std::future::pending::<()>().await;
        }
        if self.has(&format!("fail:{}", step)) {
            return Err(ApiError::internal(format!(
                "injected failure at step {}",
                step
            )));
        }
        Ok(())
    }
}
