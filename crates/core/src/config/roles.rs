//! IAM roles made or replaced at start.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A role created or replaced at start: the configuration is authoritative, so a role of the same
/// name made by the API or the CLI is overwritten (its id and creation date are kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// 1 to 64 of letters, digits and `+=,.@_-`.
    pub name: String,
    /// Who may assume the role: a trust policy document (JSON).
    pub trust_policy: String,
    /// The role's inline identity policies: name -> policy document (JSON).
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    /// The configuration file's line of each document's first character (`trust_policy`,
    /// `policies.<name>`), when the TOML string holds the document as written (no escapes), so
    /// that an error's position in the document is also given in the file.
    #[serde(skip)]
    pub source_lines: BTreeMap<String, usize>,
}
