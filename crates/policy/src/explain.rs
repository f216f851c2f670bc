//! The explanation of a decision: every statement of every policy, with why it applied or not.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Decision, Effect, PolicyScope, StatementId};

/// What [`super::explain`] returns: serializable for audit records, [`Explanation::render`] (or
/// `Display`) for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub decision: Decision,
    /// The deciding statement, as [`super::Evaluation::statement`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<StatementId>,
    pub action: String,
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub policies: Vec<PolicyExplanation>,
    /// The last line: allowed by which statement, denied explicitly by which, or implicitly.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyExplanation {
    pub name: String,
    pub scope: PolicyScope,
    pub statements: Vec<StatementExplanation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementExplanation {
    /// Position in its policy's `Statement` array.
    pub index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: Effect,
    /// Whether the statement applies to the request (principal, action, resource, conditions).
    pub applies: bool,
    /// One sentence, e.g. `statement "AllowGraphQL" matches action appsync:GraphQL but its
    /// Resource ... does not match ...`.
    pub text: String,
    /// Each condition's outcome, when principal, action and resource matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionExplanation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionExplanation {
    pub operator: String,
    pub key: String,
    pub holds: bool,
    pub text: String,
}

impl Explanation {
    /// Lines for people: the request, each policy with one line per statement, then the decision.
    pub fn render(&self) -> String {
        let mut out = format!("request: {} on {}", self.action, self.resource);
        if let Some(p) = &self.principal {
            out.push_str(&format!(" by {p}"));
        }
        out.push('\n');
        for policy in &self.policies {
            let scope = match policy.scope {
                PolicyScope::Identity => "policy",
                PolicyScope::Session => "session policy",
            };
            if policy.name.is_empty() {
                out.push_str(&format!("{scope}:\n"));
            } else {
                out.push_str(&format!("{scope} \"{}\":\n", policy.name));
            }
            for st in &policy.statements {
                out.push_str("  ");
                out.push_str(&st.text);
                out.push('\n');
            }
        }
        out.push_str(&self.summary);
        out
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}
