//! Configuration: a TOML file, overridden by `TOKENBRIDGE_*` environment variables. Plain data,
//! one file per domain's settings; errors name the key and the reason
//! (`providers[0].condition: not a valid CEL expression ...`).
//!
//! [`Config::validate_values`] checks what needs no domain: bounds, names, references between
//! sections. What needs a domain's parser (policy documents, CEL, routes and networks, upstream
//! URLs, pool and identity pool ids) is checked by that domain; `Engine::validate_config` runs
//! both, and `Engine::open` runs it before anything else.

mod audit;
mod authorizer;
mod aws;
mod providers;
mod roles;
mod server;
mod tokens;
mod user_pools;

pub use audit::AuditConfig;
pub use authorizer::{AuthorizerConfig, DefaultAction, IdentityHeaders, RouteConfig, TokenKind};
pub use aws::{AwsConfig, AwsCredentialConfig};
pub use providers::{LinkTarget, OpaqueCheckLimits, ProviderConfig, ProviderLogin};
pub use roles::RoleConfig;
pub use server::{AdminConfig, ConsoleConfig, MetricsConfig, RateLimits, ServerConfig, StorageConfig, TlsConfig};
pub use tokens::{canonical_grant, ClientConfig, IssuerConfig};
pub use user_pools::{
    IdentityProviderConfig, IdentityProviderKind, IssuerForm, ResourceServerConfig, ResourceServerScopeConfig,
    UserPoolClientConfig, UserPoolConfig,
};

use crate::model::KeyAlgorithm;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub issuer: IssuerConfig,
    pub admin: AdminConfig,
    pub rate_limits: RateLimits,
    pub clients: Vec<ClientConfig>,
    pub providers: Vec<ProviderConfig>,
    pub authorizer: AuthorizerConfig,
    pub aws: AwsConfig,
    pub user_pools: Vec<UserPoolConfig>,
    pub roles: Vec<RoleConfig>,
    pub audit: AuditConfig,
    pub console: ConsoleConfig,
    pub metrics: MetricsConfig,
}

/// A configuration error that names the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { key: key.into(), reason: reason.into() }
    }
}

fn err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::new(key, reason)
}

/// Whether `s` is a web origin written as browsers send it: `scheme://host[:port]`, nothing more.
pub fn is_origin(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.origin().ascii_serialization() == s)
}

/// A comma-separated list, each item trimmed, empty items dropped.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut config: Self = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            let at = e.span().map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            });
            err("config", format!("{msg}{}", at.unwrap_or_default()))
        })?;
        config.locate_role_documents(text);
        Ok(config)
    }

    /// Fills each role's `source_lines` from a second, position-keeping read of the text.
    fn locate_role_documents(&mut self, text: &str) {
        #[derive(Deserialize)]
        struct Roles {
            #[serde(default)]
            roles: Vec<RoleDocuments>,
        }
        #[derive(Deserialize)]
        struct RoleDocuments {
            trust_policy: Option<toml::Spanned<String>>,
            #[serde(default)]
            policies: BTreeMap<String, toml::Spanned<String>>,
        }
        // The document as written starts where its decoded text is found verbatim in the TOML
        // string; with escapes in the string it is not found, and no file line is given.
        let line_of = |s: &toml::Spanned<String>| -> Option<usize> {
            let raw = text.get(s.span())?;
            let at = s.span().start + raw.find(s.get_ref().as_str())?;
            Some(text[..at].matches('\n').count() + 1)
        };
        let Ok(spans) = toml::from_str::<Roles>(text) else { return };
        for (role, found) in self.roles.iter_mut().zip(spans.roles) {
            if let Some(line) = found.trust_policy.as_ref().and_then(line_of) {
                role.source_lines.insert("trust_policy".into(), line);
            }
            for (name, doc) in &found.policies {
                if let Some(line) = line_of(doc) {
                    role.source_lines.insert(format!("policies.{name}"), line);
                }
            }
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err("--config", format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// `TOKENBRIDGE_LISTEN`, `_PUBLIC_URL`, `_DATA_DIR`, `_STORAGE_URL`, `_LOG_FORMAT`,
    /// `_ADMIN_TOKEN`, `_ALGORITHM`, `_TLS_CERT_FILE`, `_TLS_KEY_FILE` override the file.
    pub fn apply_env(&mut self) {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("TOKENBRIDGE_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = var("TOKENBRIDGE_PUBLIC_URL") {
            self.server.public_url = Some(v);
        }
        if let Some(v) = var("TOKENBRIDGE_DATA_DIR") {
            self.storage.data_dir = Some(v.into());
        }
        if let Some(v) = var("TOKENBRIDGE_STORAGE_URL") {
            self.storage.url = Some(v);
        }
        if let Some(v) = var("TOKENBRIDGE_LOG_FORMAT") {
            self.server.log_format = v;
        }
        if let Some(v) = var("TOKENBRIDGE_ADMIN_TOKEN") {
            self.admin.token = Some(v);
        }
        if let Some(v) = var("TOKENBRIDGE_ALGORITHM") {
            self.issuer.algorithm = v;
        }
        self.apply_tls_env();
        self.apply_aws_env();
        self.apply_authorizer_env();
        self.apply_proxy_env();
        self.apply_metrics_env();
    }

    /// `TOKENBRIDGE_TLS_CERT_FILE` and `TOKENBRIDGE_TLS_KEY_FILE`: either one turns `[server.tls]`
    /// on (the other then comes from the file, or is missing and named by the check).
    pub fn apply_tls_env(&mut self) {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (cert, key) = (var("TOKENBRIDGE_TLS_CERT_FILE"), var("TOKENBRIDGE_TLS_KEY_FILE"));
        if cert.is_none() && key.is_none() {
            return;
        }
        let tls = self
            .server
            .tls
            .get_or_insert_with(|| TlsConfig { cert_file: Default::default(), key_file: Default::default() });
        if let Some(v) = cert {
            tls.cert_file = v.into();
        }
        if let Some(v) = key {
            tls.key_file = v.into();
        }
    }

    /// `TOKENBRIDGE_METRICS_TOKEN` and `TOKENBRIDGE_METRICS_LISTEN`.
    pub fn apply_metrics_env(&mut self) {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("TOKENBRIDGE_METRICS_TOKEN") {
            self.metrics.token = Some(v);
        }
        if let Some(v) = var("TOKENBRIDGE_METRICS_LISTEN") {
            self.metrics.listen = Some(v);
        }
    }

    /// `TOKENBRIDGE_TRUSTED_PROXIES`, comma-separated CIDR blocks (also honoured by `demo`).
    pub fn apply_proxy_env(&mut self) {
        if let Ok(v) = std::env::var("TOKENBRIDGE_TRUSTED_PROXIES") {
            self.server.trusted_proxies = split_list(&v);
        }
    }

    /// `TOKENBRIDGE_AUTHORIZER_CACHE_CAPACITY`, `…_SESSION_CACHE_CAPACITY` and `…_CHECK_REVOCATION`
    /// (also honoured by `demo`, to measure the authorizer with its cache or revocation check off).
    pub fn apply_authorizer_env(&mut self) {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(n) = var("TOKENBRIDGE_AUTHORIZER_CACHE_CAPACITY").and_then(|v| v.parse().ok()) {
            self.authorizer.cache_capacity = n;
        }
        if let Some(n) = var("TOKENBRIDGE_AUTHORIZER_SESSION_CACHE_CAPACITY").and_then(|v| v.parse().ok()) {
            self.authorizer.session_cache_capacity = n;
        }
        if let Some(b) = var("TOKENBRIDGE_AUTHORIZER_CHECK_REVOCATION").and_then(|v| v.parse().ok()) {
            self.authorizer.check_revocation = b;
        }
    }

    /// `TOKENBRIDGE_AWS_REGION`, `TOKENBRIDGE_COGNITO_SESSION_SECONDS` and
    /// `TOKENBRIDGE_AWS_CORS_ORIGINS` (comma-separated; also honoured by `demo`).
    pub fn apply_aws_env(&mut self) {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("TOKENBRIDGE_AWS_REGION") {
            self.aws.region = v;
        }
        if let Some(n) = var("TOKENBRIDGE_COGNITO_SESSION_SECONDS").and_then(|v| v.parse().ok()) {
            self.aws.session_seconds = Some(n);
        }
        // Set but empty means none.
        if let Ok(v) = std::env::var("TOKENBRIDGE_AWS_CORS_ORIGINS") {
            self.aws.cors_allowed_origins = split_list(&v);
        }
    }

    /// `server.public_url`, else the listen address: `https://` when `[server.tls]` is on.
    pub fn public_url(&self) -> String {
        let scheme = if self.server.tls.is_some() { "https" } else { "http" };
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.server.listen))
            .trim_end_matches('/')
            .to_string()
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        KeyAlgorithm::parse(&self.issuer.algorithm).unwrap_or(KeyAlgorithm::RS256)
    }

    /// Everything that can be checked without a domain's parser or the network: bounds, names,
    /// grants, references between sections. `Engine::validate_config` runs this and then each
    /// domain's checks.
    pub fn validate_values(&self) -> Result<(), ConfigError> {
        server::validate(self)?;
        tokens::validate(self)?;
        providers::validate(self)?;
        aws::validate(self)?;
        user_pools::validate(self)?;
        server::validate_console(self)?;
        authorizer::validate(self)
    }
}
