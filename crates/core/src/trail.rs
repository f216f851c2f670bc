//! Every decision carries its reasons: each check run, in order, with its outcome and detail.
//! A denial's trail goes into its audit event; its request id finds it again.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub check: String,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Trail {
    pub steps: Vec<Step>,
}

impl Trail {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn pass(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Outcome::Pass, detail.into());
    }
    pub fn skip(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Outcome::Skip, detail.into());
    }
    pub fn fail(&mut self, check: &str, detail: impl Into<String>) {
        self.push(check, Outcome::Fail, detail.into());
    }
    fn push(&mut self, check: &str, outcome: Outcome, detail: String) {
        self.steps.push(Step { check: check.to_string(), outcome, detail });
    }
    /// Records a failed check and turns the trail into a denial with that detail as its message.
    pub fn deny(mut self, code: DenialCode, check: &str, detail: impl Into<String>) -> Denial {
        let detail = detail.into();
        self.fail(check, detail.clone());
        Denial { code, message: detail, trail: self, exception: None }
    }
    pub fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.outcome == Outcome::Fail)
    }
}

/// Why the engine said no. Adapters map the code onto their protocol's error vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DenialCode {
    /// The request itself is malformed or misses a parameter.
    InvalidRequest,
    /// Client authentication failed or the client is unknown.
    InvalidClient,
    /// The client may not use this grant or provider.
    UnauthorizedClient,
    /// The presented grant (upstream token, refresh token) is not acceptable.
    InvalidGrant,
    UnsupportedGrantType,
    UnsupportedTokenType,
    /// The requested audience or resource is not allowed.
    InvalidTarget,
    InvalidScope,
    /// A dependency (upstream provider, store) did not answer.
    TemporarilyUnavailable,
    /// A bearer token presented to a protected endpoint is not valid.
    InvalidToken,
    /// Too many requests from this source or client.
    RateLimited,
    /// A protected resource was asked for without any bearer token (RFC 6750 §3.1: no error code
    /// in the challenge).
    MissingToken,
    /// The caller is known but the route asks for more (scope, group, client, network) or no
    /// route covers the request.
    InsufficientScope,
}

impl DenialCode {
    /// The RFC 6749 §5.2 / RFC 8693 §2.2.2 `error` value.
    pub fn oauth_error(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidScope => "invalid_scope",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::RateLimited => "slow_down",
            Self::MissingToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken | Self::MissingToken => 401,
            Self::InsufficientScope => 403,
            Self::TemporarilyUnavailable => 503,
            Self::RateLimited => 429,
            _ => 400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    pub code: DenialCode,
    /// Names the exact check that failed; never contains a token or secret.
    pub message: String,
    pub trail: Trail,
    /// The error name of an AWS-compatible door (e.g. `NotAuthorizedException`), recorded as the
    /// audit record's `errorCode` in place of the OAuth one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

impl Denial {
    pub fn new(code: DenialCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut trail = Trail::new();
        trail.fail("request", message.clone());
        Self { code, message, trail, exception: None }
    }
    /// The store did not answer: the client may retry.
    pub fn storage(err: impl std::fmt::Display) -> Self {
        Self::new(DenialCode::TemporarilyUnavailable, format!("storage is unavailable: {err}"))
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.oauth_error(), self.message)
    }
}

impl std::error::Error for Denial {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_marks_the_failing_check_last_and_first() {
        let mut t = Trail::new();
        t.pass("signature", "RS256 with kid k1");
        let d = t.deny(DenialCode::InvalidGrant, "audience", "audience \"x\" is not accepted");
        assert_eq!(d.trail.steps.len(), 2);
        assert_eq!(d.trail.first_failure().unwrap().check, "audience");
        assert_eq!(d.message, "audience \"x\" is not accepted");
        assert_eq!(d.code.oauth_error(), "invalid_grant");
    }
}
