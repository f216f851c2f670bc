//! Upstream providers: whose tokens are exchanged, how they are checked, how they find their local
//! user.

use super::{err, Config, ConfigError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How an upstream identity finds its local user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkTarget {
    /// The claim's value equals the local user's email (verified upstream).
    Email,
    /// ... equals the local username.
    Username,
    /// ... equals the local user's id (`sub`).
    Sub,
    /// ... is a stored link `(provider, value)` made by `users link`.
    Link,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    pub issuer: String,
    /// Other `iss` spellings the provider uses (Google also writes `accounts.google.com`).
    #[serde(default)]
    pub issuer_aliases: Vec<String>,
    /// Fetch `<issuer>/.well-known/openid-configuration` for endpoints not given below.
    #[serde(default)]
    pub discovery: bool,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// A static JWKS file, for issuers this server cannot reach.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// PEM certificates trusted, besides the system's roots, for HTTPS calls to this provider:
    /// a private CA, or a self-signed certificate (the demo's own under `demo --tls`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    #[serde(default)]
    pub introspection_client_id: Option<String>,
    #[serde(default)]
    pub introspection_client_secret: Option<String>,
    /// Accepted `aud` values of upstream JWTs (typically our client id at the provider).
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default = "default_algs")]
    pub algorithms: Vec<String>,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: i64,
    /// Upstream claim (or mapped attribute) whose value finds the local user.
    #[serde(default = "default_link_claim")]
    pub link_claim: String,
    #[serde(default = "default_link_to")]
    pub link_to: LinkTarget,
    /// CEL over `assertion` that must be true, e.g. `assertion.email_verified == true`.
    #[serde(default)]
    pub condition: Option<String>,
    /// Attribute name -> CEL expression over `assertion`.
    #[serde(default)]
    pub mappings: BTreeMap<String, String>,
    /// Refuse JWTs whose `iat` (or `auth_time`) is older than this many seconds.
    #[serde(default)]
    pub max_token_age_seconds: Option<i64>,
    #[serde(default)]
    pub one_time_use: bool,
    /// Replay-marker lifetime for opaque tokens, whose expiry we cannot see.
    #[serde(default = "default_opaque_ttl")]
    pub opaque_token_ttl_seconds: i64,
    /// Create the local user on first exchange instead of refusing.
    #[serde(default)]
    pub jit: bool,
    /// The client tokens belong to when `/auth/exchange` names none.
    #[serde(default)]
    pub default_client: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Signing a user in at this provider from the web console (`[providers.login]`).
    #[serde(default)]
    pub login: Option<ProviderLogin>,
    /// Bounds on the calls opaque tokens make to the provider (`[providers.opaque_checks]`).
    #[serde(default)]
    pub opaque_checks: OpaqueCheckLimits,
}

/// Every opaque bearer costs a call to the provider's UserInfo or introspection endpoint, so
/// anyone can make this server call out: the calls are budgeted per provider, and a token the
/// provider refused is refused here for a while without asking again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpaqueCheckLimits {
    /// Calls a second to the provider's UserInfo / introspection endpoint, sustained.
    #[serde(default = "default_opaque_checks_per_second")]
    pub per_second: u32,
    /// Calls allowed at once above the sustained rate.
    #[serde(default = "default_opaque_checks_burst")]
    pub burst: u32,
    /// How long a token the provider refused is refused without asking again (0 = not remembered).
    #[serde(default = "default_refusal_cache_seconds")]
    pub refusal_cache_seconds: i64,
    /// How many refused tokens are remembered (their hashes; the least recently seen go first).
    #[serde(default = "default_refusal_cache_entries")]
    pub refusal_cache_entries: u64,
}

impl Default for OpaqueCheckLimits {
    fn default() -> Self {
        Self {
            per_second: default_opaque_checks_per_second(),
            burst: default_opaque_checks_burst(),
            refusal_cache_seconds: default_refusal_cache_seconds(),
            refusal_cache_entries: default_refusal_cache_entries(),
        }
    }
}

fn default_opaque_checks_per_second() -> u32 {
    20
}
fn default_opaque_checks_burst() -> u32 {
    40
}
fn default_refusal_cache_seconds() -> i64 {
    60
}
fn default_refusal_cache_entries() -> u64 {
    10_000
}

/// The authorization-code flow with PKCE at the provider, run by this server for the web console
/// because a browser cannot hold the client secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderLogin {
    /// Where the browser is sent to sign in (absolute; https unless the host is loopback).
    pub authorization_endpoint: String,
    /// Where this server redeems the code (absolute; https unless the host is loopback).
    pub token_endpoint: String,
    /// This system's client id at the provider.
    pub client_id: String,
    /// Its secret, sent with HTTP Basic (`client_secret_basic`); none for a public client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The scopes asked for, space-separated.
    #[serde(default = "default_login_scope")]
    pub scope: String,
}

// By hand: the client secret must never reach a log line.
impl std::fmt::Debug for ProviderLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderLogin")
            .field("authorization_endpoint", &self.authorization_endpoint)
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "(hidden)"))
            .field("scope", &self.scope)
            .finish()
    }
}

fn default_login_scope() -> String {
    "openid email profile".into()
}

fn default_algs() -> Vec<String> {
    vec!["RS256".into()]
}
fn default_leeway() -> i64 {
    60
}
fn default_link_claim() -> String {
    "email".into()
}
fn default_link_to() -> LinkTarget {
    LinkTarget::Email
}
fn default_opaque_ttl() -> i64 {
    3600
}
fn default_timeout_ms() -> u64 {
    3000
}

impl ProviderConfig {
    pub fn accepts_issuer(&self, iss: &str) -> bool {
        iss == self.issuer || self.issuer_aliases.iter().any(|a| a == iss)
    }
}

/// What can be said of the providers without their domain: names, references, bounds. Their
/// URLs, algorithms and CEL expressions are checked by `upstream::validate_config`.
pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    for (i, p) in config.providers.iter().enumerate() {
        let k = |f: &str| format!("providers[{i}].{f}");
        if p.name.is_empty() || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(err(k("name"), "must be non-empty letters, digits, '-' or '_'"));
        }
        if !names.insert(p.name.as_str()) {
            return Err(err(k("name"), format!("{:?} is defined twice", p.name)));
        }
        if !p.discovery
            && p.jwks_uri.is_none()
            && p.jwks_file.is_none()
            && p.userinfo_endpoint.is_none()
            && p.introspection_endpoint.is_none()
        {
            return Err(err(k("issuer"), "no way to validate tokens: set discovery = true, jwks_uri, jwks_file, userinfo_endpoint or introspection_endpoint"));
        }
        if p.algorithms.is_empty() {
            return Err(err(k("algorithms"), "must list at least one algorithm"));
        }
        if !(0..=300).contains(&p.leeway_seconds) {
            return Err(err(k("leeway_seconds"), "must be between 0 and 300"));
        }
        if let Some(dc) = &p.default_client {
            if !config.clients.iter().any(|c| &c.client_id == dc) {
                return Err(err(k("default_client"), format!("no client named {dc:?}")));
            }
        }
        if p.opaque_token_ttl_seconds <= 0 {
            return Err(err(k("opaque_token_ttl_seconds"), "must be positive"));
        }
        let oc = &p.opaque_checks;
        if oc.per_second == 0 {
            return Err(err(k("opaque_checks.per_second"), "must be at least 1"));
        }
        if oc.burst == 0 {
            return Err(err(k("opaque_checks.burst"), "must be at least 1"));
        }
        if !(0..=3600).contains(&oc.refusal_cache_seconds) {
            return Err(err(k("opaque_checks.refusal_cache_seconds"), "must be between 0 and 3600"));
        }
        if oc.refusal_cache_entries > 1_000_000 {
            return Err(err(k("opaque_checks.refusal_cache_entries"), "must be at most 1000000"));
        }
        if let Some(l) = &p.login {
            if l.client_id.is_empty() {
                return Err(err(k("login.client_id"), "must not be empty"));
            }
            if l.scope.split_whitespace().next().is_none() {
                return Err(err(k("login.scope"), "must name at least one scope"));
            }
        }
    }
    Ok(())
}
