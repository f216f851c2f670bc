//! The doors' own settings: where and how the server listens, its storage, the admin token, rate
//! limits, metrics and the web console.

use super::{canonical_grant, err, Config, ConfigError};
use crate::model::GRANT_TOKEN_EXCHANGE;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// The externally visible base URL; it is the `iss` of every token.
    pub public_url: Option<String>,
    /// `text` or `json`.
    pub log_format: String,
    /// Addresses (CIDR blocks) of the reverse proxies in front of this server. A request from one
    /// of them has its client address taken from `X-Forwarded-For`: the rightmost entry that is
    /// not itself a trusted proxy (the entries to its left are the client's own claims).
    pub trusted_proxies: Vec<String>,
    /// Removed: it trusted the leftmost `X-Forwarded-For` entry, which the client writes. Read
    /// only to say what replaces it.
    #[serde(default, skip_serializing)]
    pub trust_forwarded_for: Option<toml::Value>,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// Seconds a client has to send a whole request header, counted from the connection's
    /// opening or from the end of the previous response: also how long an idle keep-alive
    /// connection is kept.
    pub header_read_timeout_seconds: u64,
    /// Seconds a connection may move no byte either way (a stalled upload, a client that stopped
    /// reading the answer) before it is closed.
    pub idle_timeout_seconds: u64,
    /// Connections served at once; further ones wait in the listen backlog until one closes.
    /// Lowered at start to fit the process's open-file limit.
    pub max_connections: usize,
    /// `[server.tls]`: serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsConfig>,
    /// User-pool domains are also served by host name: `<domain>.<auth_domain_suffix>[:port]`
    /// (as Cognito serves `<domain>.auth.<region>.amazoncognito.com`); browsers resolve
    /// `*.localhost` to the loopback address, so the default needs no DNS.
    pub auth_domain_suffix: String,
}

/// The TLS listener's certificate and key (PEM files), read and checked when the server starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain: the server's own certificate first, then any intermediates.
    pub cert_file: PathBuf,
    /// The certificate's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), unencrypted.
    pub key_file: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            log_format: "text".into(),
            trusted_proxies: Vec::new(),
            trust_forwarded_for: None,
            shutdown_grace_seconds: 20,
            header_read_timeout_seconds: 30,
            idle_timeout_seconds: 60,
            max_connections: 4096,
            tls: None,
            auth_domain_suffix: "auth.localhost".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory for the embedded SQLite database (`tokenbridge.db`).
    pub data_dir: Option<PathBuf>,
    /// Explicit database URL (`sqlite:///path/file.db` or `postgres://…`); overrides `data_dir`.
    pub url: Option<String>,
    /// PostgreSQL: most connections one instance opens.
    pub max_connections: u32,
    /// PostgreSQL: how long a call waits for a pooled connection (ms).
    pub acquire_timeout_ms: u64,
    /// PostgreSQL: how long start-up waits for the database (ms).
    pub connect_timeout_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { data_dir: None, url: None, max_connections: 16, acquire_timeout_ms: 5000, connect_timeout_ms: 10_000 }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// A fixed admin bearer token. Without it one is generated at first start and printed once.
    pub token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Requests per second per source address on `/auth/exchange` and `/oauth2/token`; 0 = off.
    pub per_ip_per_second: u32,
    /// Requests per second per client on the same endpoints; 0 = off.
    pub per_client_per_second: u32,
    /// Burst allowance on top of the steady rate.
    pub burst: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { per_ip_per_second: 50, per_client_per_second: 500, burst: 100 }
    }
}

/// Who may read the Prometheus metrics: nobody by default.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `GET /metrics` on the main address answers only `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// A separate address (`127.0.0.1:9090`) serving `GET /metrics` to anyone who reaches it.
    pub listen: Option<String>,
}

// By hand: the token must never reach a log line.
impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("token", &self.token.as_ref().map(|_| "(hidden)"))
            .field("listen", &self.listen)
            .finish()
    }
}

/// The web console at `/console`: what its page is told to use (`/console/config.json`) and who
/// may read a refusal's decision trail through it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console; when false every `/console` path answers 404.
    pub enabled: bool,
    /// A public OAuth client (no secret) the page uses for `POST /auth/exchange`, refresh and
    /// revocation at `/oauth2/token` and `/oauth2/revoke`.
    pub oauth_client_id: Option<String>,
    /// The user pool the page signs in to through the Cognito API (default: the demo's pool,
    /// when it exists).
    pub user_pool_id: Option<String>,
    /// That pool's public app client: the browser cannot compute a SECRET_HASH.
    pub user_pool_client_id: Option<String>,
    /// A public app client of that pool for the hosted sign-in (authorization code with PKCE,
    /// through the pool's domain), with a callback URL under `<public_url>/console/`.
    pub hosted_ui_client_id: Option<String>,
    /// Identity pools the page offers for AWS credentials, in this order.
    pub identity_pool_ids: Vec<String>,
    /// Let the caller of a refused request read its decision trail at
    /// `/console/explain/{request_id}` (only the caller's own events); otherwise only admins may.
    pub explain_to_caller: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            oauth_client_id: None,
            user_pool_id: None,
            user_pool_client_id: None,
            hosted_ui_client_id: None,
            identity_pool_ids: Vec::new(),
            explain_to_caller: false,
        }
    }
}

/// The listener, metrics and storage settings. The trusted proxies' CIDR blocks are read by the
/// authorizer's network parser, which checks them (`authorizer::validate_config`).
pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    let server = &config.server;
    if server.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(err("server.listen", format!("{:?} is not an address:port", server.listen)));
    }
    if !matches!(server.log_format.as_str(), "text" | "json") {
        return Err(err("server.log_format", "must be \"text\" or \"json\""));
    }
    if let Some(u) = &server.public_url {
        url::Url::parse(u).map_err(|e| err("server.public_url", format!("not a URL: {e}")))?;
    }
    if server.trust_forwarded_for.is_some() {
        return Err(err(
            "server.trust_forwarded_for",
            "was removed: it took the leftmost X-Forwarded-For entry, which the client writes; list the \
             addresses of your reverse proxies in server.trusted_proxies (CIDR blocks, or \
             TOKENBRIDGE_TRUSTED_PROXIES) instead",
        ));
    }
    if let Some(l) = &config.metrics.listen {
        if l.parse::<std::net::SocketAddr>().is_err() {
            return Err(err("metrics.listen", format!("{l:?} is not an address:port")));
        }
    }
    if config.metrics.token.as_ref().is_some_and(|t| t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(err("metrics.token", "must be at least 16 visible ASCII characters"));
    }
    if !(1..=3600).contains(&server.header_read_timeout_seconds) {
        return Err(err("server.header_read_timeout_seconds", "must be between 1 and 3600"));
    }
    if !(1..=86_400).contains(&server.idle_timeout_seconds) {
        return Err(err("server.idle_timeout_seconds", "must be between 1 and 86400"));
    }
    if let Some(tls) = &server.tls {
        // The files themselves are read when the server starts (crates/server, tls.rs).
        if tls.cert_file.as_os_str().is_empty() {
            return Err(err("server.tls.cert_file", "is required with server.tls (or TOKENBRIDGE_TLS_CERT_FILE)"));
        }
        if tls.key_file.as_os_str().is_empty() {
            return Err(err("server.tls.key_file", "is required with server.tls (or TOKENBRIDGE_TLS_KEY_FILE)"));
        }
    }
    let suffix = &server.auth_domain_suffix;
    let label = |l: &str| {
        !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if suffix.len() > 190 || !suffix.split('.').all(label) {
        return Err(err("server.auth_domain_suffix", "must be a host name in lowercase (labels of a-z, 0-9, -)"));
    }
    if server.max_connections == 0 {
        return Err(err("server.max_connections", "must be at least 1"));
    }
    if config.storage.max_connections == 0 {
        return Err(err("storage.max_connections", "must be at least 1"));
    }
    Ok(())
}

/// The console's references, as far as the file can tell: clients and app clients may also be
/// made at run time (CLI, API), so only configured ones are looked into. The pool and identity
/// pool ids are checked by their domains (`userpool::validate_config`, `identity::validate_config`).
pub(super) fn validate_console(config: &Config) -> Result<(), ConfigError> {
    let c = &config.console;
    if let Some(id) = &c.oauth_client_id {
        if id.is_empty() {
            return Err(err("console.oauth_client_id", "must not be empty"));
        }
        if let Some(client) = config.clients.iter().find(|x| &x.client_id == id) {
            if client.secret.is_some() || client.secret_sha256.is_some() {
                return Err(err(
                    "console.oauth_client_id",
                    format!("client {id:?} has a secret; the console runs in a browser and needs a public client"),
                ));
            }
            if !client.grant_types.iter().any(|g| canonical_grant(g) == Some(GRANT_TOKEN_EXCHANGE)) {
                return Err(err(
                    "console.oauth_client_id",
                    format!("client {id:?} does not allow the token_exchange grant"),
                ));
            }
        }
    }
    if let Some(client_id) = &c.user_pool_client_id {
        let Some(pool_id) = &c.user_pool_id else {
            return Err(err("console.user_pool_client_id", "needs console.user_pool_id"));
        };
        let configured = config.user_pools.iter().filter(|p| &p.id == pool_id).flat_map(|p| &p.clients);
        if configured.filter(|x| &x.client_id == client_id).any(|x| x.secret.is_some()) {
            return Err(err(
                "console.user_pool_client_id",
                format!("app client {client_id:?} has a secret; the console runs in a browser and needs a public one"),
            ));
        }
    }
    if let Some(client_id) = &c.hosted_ui_client_id {
        let Some(pool_id) = &c.user_pool_id else {
            return Err(err("console.hosted_ui_client_id", "needs console.user_pool_id"));
        };
        let configured = config.user_pools.iter().filter(|p| &p.id == pool_id).flat_map(|p| &p.clients);
        if configured.filter(|x| &x.client_id == client_id).any(|x| x.secret.is_some()) {
            return Err(err(
                "console.hosted_ui_client_id",
                format!("app client {client_id:?} has a secret; the console runs in a browser and needs a public one"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TLS: &str =
        "[server]\nlisten = \"127.0.0.1:8443\"\n[server.tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n";

    #[test]
    fn tls_makes_the_default_public_url_https() {
        let c = Config::from_toml(TLS).unwrap();
        c.validate_values().unwrap();
        assert_eq!(c.public_url(), "https://127.0.0.1:8443");
        let tls = c.server.tls.as_ref().unwrap();
        assert_eq!((tls.cert_file.to_str(), tls.key_file.to_str()), (Some("c.pem"), Some("k.pem")));
        // A configured public URL is the public URL, TLS or not.
        let mut behind = c.clone();
        behind.server.public_url = Some("https://auth.example.com/".into());
        assert_eq!(behind.public_url(), "https://auth.example.com");
        assert_eq!(Config::default().public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn a_tls_table_needs_both_files() {
        let e = Config::from_toml("[server.tls]\ncert_file = \"c.pem\"\n").unwrap_err();
        assert!(e.reason.contains("missing field `key_file`"), "{e}");
        let e = Config::from_toml("[server.tls]\ncert_file = \"\"\nkey_file = \"k.pem\"\n").unwrap().validate_values();
        assert_eq!(e.unwrap_err().key, "server.tls.cert_file");
        let e = Config::from_toml("[server.tls]\ncert_file = \"c.pem\"\nkey_file = \"\"\n").unwrap().validate_values();
        assert_eq!(e.unwrap_err().key, "server.tls.key_file");
    }
}
