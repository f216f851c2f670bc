//! What a test reads of a refusal: the first failing check of its trail, its message, and its
//! reason. The engine speaks no protocol, so these tests assert the engine's [`Reason`]; the
//! doors' words for it are tested at the doors (crates/server).

use tokenbridge_core::{Reason, Refusal};

/// The first failing check on the refusal's trail ("" when none failed).
pub fn failed_check(e: &Refusal) -> String {
    e.trail.first_failure().map(|s| s.check.clone()).unwrap_or_default()
}

/// The detail of the first failing check.
pub fn failed_detail(e: &Refusal) -> String {
    e.trail.first_failure().map(|s| s.detail.clone()).unwrap_or_default()
}

/// The refusal's message: what the record says (where it says more than the client is told,
/// as GraphQL's denying statement, the record's).
pub fn message(e: &Refusal) -> String {
    e.recorded_message.clone().unwrap_or_else(|| e.message.clone())
}

/// Why it was refused.
pub fn reason(e: &Refusal) -> Reason {
    e.reason
}
