//! The token service's settings: this issuer's signing and refresh rules, and its OAuth clients.

use super::{err, Config, ConfigError};
use crate::model::{KeyAlgorithm, GRANT_PASSWORD, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerConfig {
    /// `RS256` (default, Cognito-compatible), `ES256` or `EdDSA`.
    pub algorithm: String,
    /// File holding the base64 32-byte master key that seals signing keys at rest.
    pub master_key_file: Option<PathBuf>,
    /// How often instances reload the key set from storage (seconds).
    pub key_refresh_seconds: u64,
    /// How long after a refresh token's rotation one retry with it is still honoured, as long as
    /// the token that replaced it is unused (its response was lost); 0 = every reuse revokes.
    pub refresh_reuse_grace_seconds: i64,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            algorithm: "RS256".into(),
            master_key_file: None,
            key_refresh_seconds: 30,
            refresh_reuse_grace_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    #[serde(default)]
    pub name: String,
    /// Plain secret (hashed on load) ...
    #[serde(default)]
    pub secret: Option<String>,
    /// ... or its SHA-256 in hex.
    #[serde(default)]
    pub secret_sha256: Option<String>,
    /// `token_exchange` (or the URN), `refresh_token`, `password`.
    #[serde(default = "default_grants")]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub providers: Vec<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_access_ttl")]
    pub access_token_ttl: i64,
    #[serde(default = "default_access_ttl")]
    pub id_token_ttl: i64,
    #[serde(default = "default_refresh_ttl")]
    pub refresh_token_ttl: i64,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

fn default_grants() -> Vec<String> {
    vec![GRANT_TOKEN_EXCHANGE.into(), GRANT_REFRESH_TOKEN.into()]
}
fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}
fn default_access_ttl() -> i64 {
    3600
}
fn default_refresh_ttl() -> i64 {
    30 * 24 * 3600
}

/// Accepts short grant names and returns the canonical ones.
pub fn canonical_grant(g: &str) -> Option<&'static str> {
    match g {
        "token_exchange" | "token-exchange" | GRANT_TOKEN_EXCHANGE => Some(GRANT_TOKEN_EXCHANGE),
        GRANT_REFRESH_TOKEN => Some(GRANT_REFRESH_TOKEN),
        GRANT_PASSWORD => Some(GRANT_PASSWORD),
        _ => None,
    }
}

/// The issuer's settings and the OAuth clients: ids, secrets, grants, provider references, lifetimes,
/// origins.
pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    if KeyAlgorithm::parse(&config.issuer.algorithm).is_none() {
        return Err(err(
            "issuer.algorithm",
            format!("{:?} is not one of RS256, ES256, EdDSA", config.issuer.algorithm),
        ));
    }
    // Bounded: the longer the grace, the longer a stolen token's use can stay unnoticed.
    if !(0..=300).contains(&config.issuer.refresh_reuse_grace_seconds) {
        return Err(err("issuer.refresh_reuse_grace_seconds", "must be between 0 (off) and 300"));
    }
    let mut client_ids = std::collections::HashSet::new();
    for (i, c) in config.clients.iter().enumerate() {
        let k = |f: &str| format!("clients[{i}].{f}");
        if c.client_id.is_empty() {
            return Err(err(k("client_id"), "must not be empty"));
        }
        if !client_ids.insert(c.client_id.as_str()) {
            return Err(err(k("client_id"), format!("{:?} is defined twice", c.client_id)));
        }
        if c.secret.is_some() && c.secret_sha256.is_some() {
            return Err(err(k("secret"), "give either secret or secret_sha256, not both"));
        }
        if let Some(h) = &c.secret_sha256 {
            if h.len() != 64 || !h.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
                return Err(err(k("secret_sha256"), "must be 64 lowercase hex characters (SHA-256 of the secret)"));
            }
        }
        for g in &c.grant_types {
            if canonical_grant(g).is_none() {
                return Err(err(
                    k("grant_types"),
                    format!("unknown grant {g:?} (token_exchange, refresh_token, password)"),
                ));
            }
        }
        for p in &c.providers {
            if p != "*" && !config.providers.iter().any(|x| &x.name == p) {
                return Err(err(k("providers"), format!("no provider named {p:?}")));
            }
        }
        for (f, v) in [
            ("access_token_ttl", c.access_token_ttl),
            ("id_token_ttl", c.id_token_ttl),
            ("refresh_token_ttl", c.refresh_token_ttl),
        ] {
            if v <= 0 {
                return Err(err(k(f), "must be a positive number of seconds"));
            }
        }
        for o in &c.allowed_origins {
            if o != "*" && url::Url::parse(o).is_err() {
                return Err(err(k("allowed_origins"), format!("{o:?} is not an origin like https://app.example.com")));
            }
        }
    }
    Ok(())
}
