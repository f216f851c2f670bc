//! IAM-style policies with AWS's semantics: the JSON policy language (identity policies, session
//! policies and role trust policies), and their evaluation against a request, with an explanation
//! of every statement's part in the decision. Pure: no I/O, no clock.
//!
//! - [`Policy::parse`] checks a document once and compiles its patterns; a malformed document is
//!   refused with a [`PolicyError`] giving the line, column and path of the fault and the reason.
//! - [`evaluate`] decides a [`Request`] against a role's identity policies and an optional session
//!   policy: an explicit Deny anywhere wins; else the request is allowed when an identity policy
//!   allows it and, if there is a session policy, that policy allows it too; else it is denied
//!   implicitly. Patterns were compiled by the parser, so it does not allocate on the usual
//!   paths; it returns the deciding statement.
//! - [`explain`] reaches the same decision and says, for every statement of every policy, why it
//!   did or did not apply ([`Explanation::render`] for people; serde for audit records).
//!
//! Matching rules, as AWS applies them: actions case-insensitively with `*` and `?`; resources as
//! ARNs, case-sensitively, each of the six colon-separated parts on its own (a `*` never crosses a
//! `:` between parts, but spans `/` and `:` inside the resource part after the fifth colon);
//! condition keys case-insensitively; policy variables (`${aws:username}`, `${key, 'default'}`,
//! `${*}`, `${?}`, `${$}`) in Resource/NotResource and String/Arn condition values of
//! `"Version": "2012-10-17"` policies (with `2008-10-17` or no Version they are literal text).
//! The condition operators' rules are in the `condition` module's documentation.

mod condition;
mod date;
mod eval;
mod explain;
mod ip;
mod json;
mod parse;
mod pattern;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use eval::{evaluate, explain};
pub use explain::{ConditionExplanation, Explanation, PolicyExplanation, StatementExplanation};
pub use parse::PolicyError;

use condition::Condition;
use pattern::{ArnPattern, Glob};

/// Which kind of document a policy is, which decides the elements it must and may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyKind {
    /// Inline, attached or session policy: `Resource`/`NotResource` required, no `Principal`.
    Identity,
    /// A role's trust policy: `Principal`/`NotPrincipal` required, `Resource` optional.
    Trust,
}

/// The policy language version. Only `2012-10-17` substitutes policy variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyVersion {
    #[serde(rename = "2012-10-17")]
    V2012_10_17,
    /// Also what a policy without `Version` is.
    #[serde(rename = "2008-10-17")]
    V2008_10_17,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

/// A parsed and compiled policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    source: String,
    kind: PolicyKind,
    version: PolicyVersion,
    id: Option<String>,
    statements: Vec<Statement>,
}

impl Policy {
    /// Parses and checks a policy document.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        parse::parse(text, kind)
    }

    /// [`Policy::parse`] for an inline, attached or session policy.
    pub fn parse_identity(text: &str) -> Result<Policy, PolicyError> {
        parse::parse(text, PolicyKind::Identity)
    }

    /// [`Policy::parse`] for a role trust policy.
    pub fn parse_trust(text: &str) -> Result<Policy, PolicyError> {
        parse::parse(text, PolicyKind::Trust)
    }

    /// The document as it was given.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    pub fn version(&self) -> PolicyVersion {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Decides `request` against this policy alone (a trust policy, typically).
    pub fn evaluate(&self, request: &Request) -> Evaluation {
        evaluate(&[PolicyRef::new("", self)], None, request)
    }

    /// [`Policy::evaluate`] with the explanation; `name` names the policy in it.
    pub fn explain(&self, name: &str, request: &Request) -> Explanation {
        explain(&[PolicyRef::new(name, self)], None, request)
    }
}

/// One compiled statement.
#[derive(Debug, Clone)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    /// `Principal` (`negated`: `NotPrincipal`); only in trust policies.
    principal: Option<(PrincipalSpec, bool)>,
    actions: Vec<Glob>,
    action_text: Vec<String>,
    not_action: bool,
    /// `None` when the statement has neither `Resource` nor `NotResource` (trust policies).
    resources: Option<Vec<ArnPattern>>,
    resource_text: Vec<String>,
    not_resource: bool,
    conditions: Vec<Condition>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }
}

/// A `Principal` / `NotPrincipal` element.
#[derive(Debug, Clone)]
enum PrincipalSpec {
    /// `"*"` or `{"AWS": "*"}`.
    Any,
    Some {
        aws: Vec<String>,
        federated: Vec<String>,
        service: Vec<String>,
        canonical_user: Vec<String>,
    },
}

/// Who makes a request, for trust policies (identity policies ignore it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Principal {
    /// An IAM user or role ARN (or an account id).
    #[serde(rename = "AWS")]
    Aws(String),
    /// A web identity or SAML provider: `cognito-identity.amazonaws.com`, an OIDC provider's
    /// name or ARN.
    Federated(String),
    /// A service principal, such as `lambda.amazonaws.com`.
    Service(String),
    CanonicalUser(String),
    /// No credentials: only `"Principal": "*"` matches.
    Anonymous,
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Aws(p) => write!(f, "AWS:{p}"),
            Principal::Federated(p) => write!(f, "Federated:{p}"),
            Principal::Service(p) => write!(f, "Service:{p}"),
            Principal::CanonicalUser(p) => write!(f, "CanonicalUser:{p}"),
            Principal::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// Condition keys and their values. Keys are case-insensitive; a key with no values is the same
/// as a missing key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BTreeMap<String, Vec<String>>", into = "BTreeMap<String, Vec<String>>")]
pub struct Context {
    /// Lowercased keys.
    values: BTreeMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key`'s values (replacing earlier ones).
    pub fn insert<K, I, V>(&mut self, key: K, values: I)
    where
        K: AsRef<str>,
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.values.insert(key.as_ref().to_ascii_lowercase(), values.into_iter().map(Into::into).collect());
    }

    /// Adds one value to `key`'s values.
    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        self.values.entry(key.to_ascii_lowercase()).or_default().push(value.into());
    }

    /// `key`'s values, `None` when it has none.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        let found = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.values.get(&key.to_ascii_lowercase())
        } else {
            self.values.get(key)
        };
        found.map(Vec::as_slice).filter(|v| !v.is_empty())
    }

    /// The value of a single-valued key (what a policy variable can take).
    fn single(&self, key_lowercase: &str) -> Option<&str> {
        match self.values.get(key_lowercase).map(Vec::as_slice) {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

impl From<BTreeMap<String, Vec<String>>> for Context {
    fn from(map: BTreeMap<String, Vec<String>>) -> Self {
        let mut ctx = Context::new();
        for (k, vs) in map {
            for v in vs {
                ctx.push(&k, v);
            }
        }
        ctx
    }
}

impl From<Context> for BTreeMap<String, Vec<String>> {
    fn from(ctx: Context) -> Self {
        ctx.values
    }
}

/// What is being asked: `principal` may do `action` on `resource`, given `context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// `service:Action`, as in `appsync:GraphQL`.
    pub action: String,
    /// The resource's ARN (for `sts:AssumeRole*`, the role's ARN).
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    #[serde(default)]
    pub context: Context,
}

impl Request {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Request { action: action.into(), resource: resource.into(), principal: None, context: Context::new() }
    }

    pub fn with_principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// Adds a context key with its values.
    pub fn with_context<I, V>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.context.insert(key, values);
        self
    }
}

/// A policy with the name it is known by (inline policy name, managed policy name or ARN).
#[derive(Debug, Clone, Copy)]
pub struct PolicyRef<'a> {
    pub name: &'a str,
    pub policy: &'a Policy,
}

impl<'a> PolicyRef<'a> {
    pub fn new(name: &'a str, policy: &'a Policy) -> Self {
        PolicyRef { name, policy }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Allow,
    /// A Deny statement applies.
    ExplicitDeny,
    /// No Deny applies, but nothing allows the request (or the session policy does not).
    ImplicitDeny,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Allow => "allowed",
            Decision::ExplicitDeny => "denied explicitly",
            Decision::ImplicitDeny => "denied implicitly",
        })
    }
}

/// Where a policy sits in an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyScope {
    /// One of the identity policies (for a trust policy evaluated alone, that policy).
    Identity,
    Session,
}

/// A statement, by position: `policy` indexes the identity policies (0 for the session policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementId {
    pub scope: PolicyScope,
    pub policy: usize,
    pub statement: usize,
}

/// The outcome of [`evaluate`]: the decision and the statement that decided it (the Deny that
/// applies, or the identity policies' Allow; none for an implicit deny).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    pub decision: Decision,
    pub statement: Option<StatementId>,
}

impl Evaluation {
    pub fn is_allowed(&self) -> bool {
        self.decision.is_allowed()
    }
}
