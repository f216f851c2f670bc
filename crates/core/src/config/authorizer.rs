//! The authorizer's settings: its routes, its caches and the identity headers it answers with.

use super::{err, Config, ConfigError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizerConfig {
    /// What a request no route covers gets: `deny` (the default) or `authenticated` (any valid
    /// access token of this issuer).
    pub default_action: DefaultAction,
    /// Refuse access tokens whose refresh family (sign-in session) was revoked.
    pub check_revocation: bool,
    /// Verified tokens kept in memory; 0 turns the cache off.
    pub cache_capacity: u64,
    /// Sign-in sessions whose liveness is kept in memory for the revocation check; 0 reads the
    /// store on every check that the token cache does not answer.
    pub session_cache_capacity: u64,
    /// Longest a cached verification or session liveness is trusted: a revocation made by another
    /// instance is honoured within this many seconds (one made here, at once).
    pub cache_seconds: i64,
    /// Also audit allowed decisions (denials are always audited).
    pub audit_allows: bool,
    /// Names of the identity headers forward-auth answers with.
    pub headers: IdentityHeaders,
    /// Checked in order; the first route whose path, method and host match decides.
    pub routes: Vec<RouteConfig>,
}

impl Default for AuthorizerConfig {
    fn default() -> Self {
        Self {
            default_action: DefaultAction::Deny,
            check_revocation: true,
            cache_capacity: 100_000,
            session_cache_capacity: 100_000,
            cache_seconds: 30,
            audit_allows: false,
            headers: IdentityHeaders::default(),
            routes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    Deny,
    Authenticated,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityHeaders {
    pub subject: String,
    pub username: String,
    pub groups: String,
    pub client_id: String,
    pub scopes: String,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            subject: "X-Auth-Subject".into(),
            username: "X-Auth-Username".into(),
            groups: "X-Auth-Groups".into(),
            client_id: "X-Auth-Client-Id".into(),
            scopes: "X-Auth-Scopes".into(),
        }
    }
}

/// Which bearer token a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// An access token of this issuer.
    #[default]
    Access,
    /// A token of an upstream provider (as the exchange endpoint's own authorizer does).
    Upstream,
    /// Either of the above.
    Any,
    /// No token needed: a public route.
    None,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Shown in trails and audit records; defaults to `METHODS path`.
    pub name: Option<String>,
    /// `/orders`, `/orders/{id}` or `/orders/*` (one segment), `/orders/**` (any rest).
    pub path: String,
    /// Empty: any method.
    pub methods: Vec<String>,
    /// Empty: any host. `api.example.com` or `*.example.com`.
    pub hosts: Vec<String>,
    pub token: TokenKind,
    /// For upstream tokens: the providers accepted (empty: any configured provider).
    pub providers: Vec<String>,
    /// Every one of these scopes is required.
    pub scopes: Vec<String>,
    /// Membership in at least one of these groups is required.
    pub groups: Vec<String>,
    /// The token must belong to one of these clients.
    pub clients: Vec<String>,
    /// The source address must be in one of these networks (`10.0.0.0/8`, `::1/128`).
    pub networks: Vec<String>,
}

/// The cache bound, the providers routes name and the identity header names. The routes
/// themselves (paths, methods, networks) are compiled by `authorizer::validate_config`.
pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    let a = &config.authorizer;
    if a.cache_seconds < 1 {
        return Err(err("authorizer.cache_seconds", "must be at least 1"));
    }
    for (i, r) in a.routes.iter().enumerate() {
        for p in &r.providers {
            if !config.providers.iter().any(|c| &c.name == p) {
                return Err(err(format!("authorizer.routes[{i}].providers"), format!("no provider named {p:?}")));
            }
        }
    }
    for (name, v) in [
        ("subject", &a.headers.subject),
        ("username", &a.headers.username),
        ("groups", &a.headers.groups),
        ("client_id", &a.headers.client_id),
        ("scopes", &a.headers.scopes),
    ] {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(err(format!("authorizer.headers.{name}"), format!("{v:?} is not a header name")));
        }
    }
    Ok(())
}
