//! The audit trail's settings.

use serde::{Deserialize, Serialize};

/// The audit trail's upkeep.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Days an audit record is kept; older ones are deleted by the periodic purge. 0 keeps them forever.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}
