//! Configuration: a TOML file, overridden by `TOKENBRIDGE_*` environment variables.
//! Errors name the key and the reason (`providers[0].condition: not a valid CEL expression ...`).

use crate::authorizer::rules::AuthorizerConfig;
use crate::conditions::Expression;
use crate::model::{KeyAlgorithm, GRANT_PASSWORD, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
            identity_pool_ids: Vec::new(),
            explain_to_caller: false,
        }
    }
}

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

/// The AWS-compatible doors (the Cognito user-pool API): region, account, admin credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Region of user pools created through the API (their ids start with it).
    pub region: String,
    /// Account id in ARNs.
    pub account_id: String,
    /// A second mount point of the AWS JSON door besides `/` (e.g. `/aws`).
    pub path_prefix: Option<String>,
    /// Credentials whose SigV4 signatures admit admin actions.
    pub admin_credentials: Vec<AwsCredentialConfig>,
    /// Overrides every app client's AuthSessionValidity (seconds a challenge session lives).
    pub session_seconds: Option<i64>,
    /// Answers one challenge session accepts before it ends.
    pub max_challenge_answers: u32,
    /// Browser origins the AWS JSON door (`POST /`: user pools, identity pools, STS, CloudTrail)
    /// and the pools' discovery and JWKS answer CORS for: `["*"]` (any, as Cognito does; never
    /// with credentials), a list of origins, or `[]` (none).
    pub cors_allowed_origins: Vec<String>,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            path_prefix: None,
            admin_credentials: Vec::new(),
            session_seconds: None,
            max_challenge_answers: 3,
            cors_allowed_origins: vec!["*".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsCredentialConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A user pool created at start (kept if it exists).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPoolConfig {
    /// `<region>_<letters and digits>`.
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `local` (`<public_url>/<id>`, the default) or `aws` (`https://cognito-idp.<region>.amazonaws.com/<id>`).
    #[serde(default)]
    pub issuer: crate::userpool::IssuerForm,
    #[serde(default)]
    pub clients: Vec<UserPoolClientConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPoolClientConfig {
    pub client_id: String,
    #[serde(default)]
    pub name: String,
    /// Makes the client confidential (SECRET_HASH required).
    #[serde(default)]
    pub secret: Option<String>,
    /// Upstream providers whose tokens answer CUSTOM_AUTH.
    #[serde(default)]
    pub providers: Vec<String>,
}

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

/// A configuration error that names the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

fn err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), reason: reason.into() }
}

/// Whether `s` is a web origin written as browsers send it: `scheme://host[:port]`, nothing more.
pub fn is_origin(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.origin().ascii_serialization() == s)
}

/// A comma-separated list, each item trimmed, empty items dropped.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
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

/// Whether the URL's host is `localhost` or a loopback address.
pub fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a URL may be used for an upstream: HTTPS, or HTTP only to a loopback host.
pub fn check_upstream_url(url: &str) -> Result<(), String> {
    let u = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match u.scheme() {
        "https" => Ok(()),
        "http" => {
            if is_loopback(&u) {
                Ok(())
            } else {
                Err("must be https:// (plain http is allowed only for loopback hosts)".into())
            }
        }
        s => Err(format!("unsupported scheme {s:?}")),
    }
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
    /// `_ADMIN_TOKEN`, `_ALGORITHM` override the file.
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
        self.apply_aws_env();
        self.apply_authorizer_env();
        self.apply_proxy_env();
        self.apply_metrics_env();
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

    pub fn public_url(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.server.listen))
            .trim_end_matches('/')
            .to_string()
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        KeyAlgorithm::parse(&self.issuer.algorithm).unwrap_or(KeyAlgorithm::RS256)
    }

    /// Everything that can be checked without the network: names, URLs, grants, CEL, references.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(err("server.listen", format!("{:?} is not an address:port", self.server.listen)));
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            return Err(err("server.log_format", "must be \"text\" or \"json\""));
        }
        if let Some(u) = &self.server.public_url {
            url::Url::parse(u).map_err(|e| err("server.public_url", format!("not a URL: {e}")))?;
        }
        if self.server.trust_forwarded_for.is_some() {
            return Err(err(
                "server.trust_forwarded_for",
                "was removed: it took the leftmost X-Forwarded-For entry, which the client writes; list the \
                 addresses of your reverse proxies in server.trusted_proxies (CIDR blocks, or \
                 TOKENBRIDGE_TRUSTED_PROXIES) instead",
            ));
        }
        if let Some(l) = &self.metrics.listen {
            if l.parse::<std::net::SocketAddr>().is_err() {
                return Err(err("metrics.listen", format!("{l:?} is not an address:port")));
            }
        }
        if self.metrics.token.as_ref().is_some_and(|t| t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(err("metrics.token", "must be at least 16 visible ASCII characters"));
        }
        for (i, p) in self.server.trusted_proxies.iter().enumerate() {
            crate::authorizer::rules::Network::parse(p).map_err(|e| err(format!("server.trusted_proxies[{i}]"), e))?;
        }
        if !(1..=3600).contains(&self.server.header_read_timeout_seconds) {
            return Err(err("server.header_read_timeout_seconds", "must be between 1 and 3600"));
        }
        if !(1..=86_400).contains(&self.server.idle_timeout_seconds) {
            return Err(err("server.idle_timeout_seconds", "must be between 1 and 86400"));
        }
        if self.server.max_connections == 0 {
            return Err(err("server.max_connections", "must be at least 1"));
        }
        if self.storage.max_connections == 0 {
            return Err(err("storage.max_connections", "must be at least 1"));
        }
        if KeyAlgorithm::parse(&self.issuer.algorithm).is_none() {
            return Err(err(
                "issuer.algorithm",
                format!("{:?} is not one of RS256, ES256, EdDSA", self.issuer.algorithm),
            ));
        }
        // Bounded: the longer the grace, the longer a stolen token's use can stay unnoticed.
        if !(0..=300).contains(&self.issuer.refresh_reuse_grace_seconds) {
            return Err(err("issuer.refresh_reuse_grace_seconds", "must be between 0 (off) and 300"));
        }
        let mut client_ids = std::collections::HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
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
                if p != "*" && !self.providers.iter().any(|x| &x.name == p) {
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
                    return Err(err(
                        k("allowed_origins"),
                        format!("{o:?} is not an origin like https://app.example.com"),
                    ));
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let k = |f: &str| format!("providers[{i}].{f}");
            if p.name.is_empty() || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(err(k("name"), "must be non-empty letters, digits, '-' or '_'"));
            }
            if !names.insert(p.name.as_str()) {
                return Err(err(k("name"), format!("{:?} is defined twice", p.name)));
            }
            url::Url::parse(&p.issuer).map_err(|e| err(k("issuer"), format!("not a URL: {e}")))?;
            if p.discovery {
                check_upstream_url(&p.issuer).map_err(|r| err(k("issuer"), r))?;
            }
            for (f, v) in [
                ("jwks_uri", &p.jwks_uri),
                ("userinfo_endpoint", &p.userinfo_endpoint),
                ("introspection_endpoint", &p.introspection_endpoint),
            ] {
                if let Some(u) = v {
                    check_upstream_url(u).map_err(|r| err(k(f), r))?;
                }
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
            for a in &p.algorithms {
                if !crate::jose::SUPPORTED_VERIFY_ALGS.contains(&a.as_str()) {
                    return Err(err(
                        k("algorithms"),
                        format!("{a:?} is not allowed (supported: {})", crate::jose::SUPPORTED_VERIFY_ALGS.join(", ")),
                    ));
                }
            }
            if !(0..=300).contains(&p.leeway_seconds) {
                return Err(err(k("leeway_seconds"), "must be between 0 and 300"));
            }
            if let Some(c) = &p.condition {
                Expression::compile(c).map_err(|r| err(k("condition"), r))?;
            }
            for (name, m) in &p.mappings {
                Expression::compile(m).map_err(|r| err(k(&format!("mappings.{name}")), r))?;
            }
            if let Some(dc) = &p.default_client {
                if !self.clients.iter().any(|c| &c.client_id == dc) {
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
                for (f, u) in
                    [("authorization_endpoint", &l.authorization_endpoint), ("token_endpoint", &l.token_endpoint)]
                {
                    check_upstream_url(u).map_err(|r| err(k(&format!("login.{f}")), r))?;
                }
                if l.client_id.is_empty() {
                    return Err(err(k("login.client_id"), "must not be empty"));
                }
                if l.scope.split_whitespace().next().is_none() {
                    return Err(err(k("login.scope"), "must name at least one scope"));
                }
            }
        }
        self.validate_aws()?;
        self.validate_console()?;
        self.validate_authorizer()
    }

    /// The console's references, as far as the file can tell: clients and app clients may also
    /// be made at run time (CLI, API), so only configured ones are looked into.
    fn validate_console(&self) -> Result<(), ConfigError> {
        let c = &self.console;
        if let Some(id) = &c.oauth_client_id {
            if id.is_empty() {
                return Err(err("console.oauth_client_id", "must not be empty"));
            }
            if let Some(client) = self.clients.iter().find(|x| &x.client_id == id) {
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
        if let Some(pool_id) = &c.user_pool_id {
            if !crate::userpool::is_pool_id(pool_id) {
                return Err(err(
                    "console.user_pool_id",
                    format!("{pool_id:?} must look like <region>_<letters and digits>"),
                ));
            }
        }
        if let Some(client_id) = &c.user_pool_client_id {
            let Some(pool_id) = &c.user_pool_id else {
                return Err(err("console.user_pool_client_id", "needs console.user_pool_id"));
            };
            let configured = self.user_pools.iter().filter(|p| &p.id == pool_id).flat_map(|p| &p.clients);
            if configured.filter(|x| &x.client_id == client_id).any(|x| x.secret.is_some()) {
                return Err(err(
                    "console.user_pool_client_id",
                    format!(
                        "app client {client_id:?} has a secret; the console runs in a browser and needs a public one"
                    ),
                ));
            }
        }
        for (i, id) in c.identity_pool_ids.iter().enumerate() {
            if !crate::identity::is_identity_id(id) {
                return Err(err(format!("console.identity_pool_ids[{i}]"), format!("{id:?} must be <region>:<uuid>")));
            }
        }
        Ok(())
    }

    fn validate_aws(&self) -> Result<(), ConfigError> {
        let a = &self.aws;
        let region_ok = crate::userpool::is_pool_id(&format!("{}_x", a.region));
        if !region_ok {
            return Err(err("aws.region", format!("{:?} is not a region name such as us-east-1", a.region)));
        }
        if a.account_id.len() != 12 || !a.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("aws.account_id", "must be 12 digits"));
        }
        if let Some(p) = &a.path_prefix {
            if !p.starts_with('/') || p.len() < 2 {
                return Err(err("aws.path_prefix", "must start with / and name a path (e.g. /aws)"));
            }
        }
        for (i, c) in a.admin_credentials.iter().enumerate() {
            if c.access_key_id.len() < 16 || !c.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(err(
                    format!("aws.admin_credentials[{i}].access_key_id"),
                    "must be at least 16 letters and digits",
                ));
            }
            if c.secret_access_key.len() < 16 {
                return Err(err(
                    format!("aws.admin_credentials[{i}].secret_access_key"),
                    "must be at least 16 characters",
                ));
            }
        }
        if a.session_seconds.is_some_and(|s| !(1..=900).contains(&s)) {
            return Err(err("aws.session_seconds", "must be between 1 and 900"));
        }
        if a.max_challenge_answers == 0 {
            return Err(err("aws.max_challenge_answers", "must be at least 1"));
        }
        for (i, o) in a.cors_allowed_origins.iter().enumerate() {
            if o != "*" && !is_origin(o) {
                return Err(err(
                    format!("aws.cors_allowed_origins[{i}]"),
                    format!("{o:?} is not \"*\" or an origin (scheme://host[:port], no path)"),
                ));
            }
        }
        self.validate_roles()?;
        let mut ids = std::collections::HashSet::new();
        for (i, p) in self.user_pools.iter().enumerate() {
            if !crate::userpool::is_pool_id(&p.id) {
                return Err(err(
                    format!("user_pools[{i}].id"),
                    format!("{:?} must look like <region>_<letters and digits>", p.id),
                ));
            }
            for (j, c) in p.clients.iter().enumerate() {
                let k = |f: &str| format!("user_pools[{i}].clients[{j}].{f}");
                if c.client_id.is_empty() || !c.client_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(err(k("client_id"), "must be letters and digits"));
                }
                if !ids.insert(c.client_id.as_str()) || self.clients.iter().any(|o| o.client_id == c.client_id) {
                    return Err(err(k("client_id"), format!("{:?} is defined twice", c.client_id)));
                }
                for prov in &c.providers {
                    if !self.providers.iter().any(|x| &x.name == prov) {
                        return Err(err(k("providers"), format!("no provider named {prov:?}")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Role names as IAM allows them, each defined once, and every policy document checked as the
    /// IAM API checks it when written: an error gives the document's key and the fault's line and
    /// column in the document (and in the file, when known).
    fn validate_roles(&self) -> Result<(), ConfigError> {
        use crate::policy::{Policy, PolicyError, PolicyKind};
        let name_ok = |n: &str, max: usize| {
            (1..=max).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        };
        let describe = |e: PolicyError, first_line: Option<&usize>| {
            let at = match first_line {
                Some(first) => format!(
                    "line {}, column {} of the document; line {} of the file",
                    e.line,
                    e.column,
                    first + e.line - 1
                ),
                None => format!("line {}, column {}", e.line, e.column),
            };
            if e.path.is_empty() {
                format!("{} ({at})", e.reason)
            } else {
                format!("{}: {} ({at})", e.path, e.reason)
            }
        };
        let mut names = std::collections::HashSet::new();
        for (i, r) in self.roles.iter().enumerate() {
            let k = |f: &str| format!("roles[{i}].{f}");
            if !name_ok(&r.name, 64) {
                return Err(err(k("name"), format!("{:?} must be 1 to 64 of letters, digits and +=,.@_-", r.name)));
            }
            if !names.insert(r.name.to_ascii_lowercase()) {
                return Err(err(
                    k("name"),
                    format!("{:?} is defined twice (role names ignore case, as IAM's)", r.name),
                ));
            }
            Policy::parse(&r.trust_policy, PolicyKind::Trust)
                .map_err(|e| err(k("trust_policy"), describe(e, r.source_lines.get("trust_policy"))))?;
            for (name, text) in &r.policies {
                let key = k(&format!("policies.{name}"));
                if !name_ok(name, 128) {
                    return Err(err(key, "a policy name is 1 to 128 of letters, digits and +=,.@_-"));
                }
                Policy::parse(text, PolicyKind::Identity)
                    .map_err(|e| err(key.clone(), describe(e, r.source_lines.get(&format!("policies.{name}")))))?;
            }
        }
        Ok(())
    }

    fn validate_authorizer(&self) -> Result<(), ConfigError> {
        let a = &self.authorizer;
        if a.cache_seconds < 1 {
            return Err(err("authorizer.cache_seconds", "must be at least 1"));
        }
        crate::authorizer::Authorizer::new(a).map_err(|(key, e)| err(key, e))?;
        for (i, r) in a.routes.iter().enumerate() {
            for p in &r.providers {
                if !self.providers.iter().any(|c| &c.name == p) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:9000"

[[clients]]
client_id = "web"
providers = ["sf"]
allowed_origins = ["http://localhost:3000"]

[[providers]]
name = "sf"
issuer = "https://login.salesforce.com"
discovery = true
audiences = ["3MVG"]
condition = 'assertion.email_verified == true'
"#;

    #[test]
    fn good_config_validates() {
        let c = Config::from_toml(GOOD).unwrap();
        c.validate().unwrap();
        assert_eq!(c.providers[0].link_to, LinkTarget::Email);
        assert_eq!(c.clients[0].refresh_token_ttl, 30 * 24 * 3600);
    }

    #[test]
    fn errors_name_the_key() {
        let bad = GOOD.replace("assertion.email_verified == true", "assertion.email_verified ==");
        let e = Config::from_toml(&bad).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "providers[0].condition");
        let bad = GOOD.replace("https://login.salesforce.com", "http://idp.example.com");
        assert_eq!(Config::from_toml(&bad).unwrap().validate().unwrap_err().key, "providers[0].issuer");
        let bad = GOOD.replace("listen =", "lisen =");
        assert!(Config::from_toml(&bad).unwrap_err().to_string().contains("lisen"));
    }

    #[test]
    fn opaque_check_limits_have_safe_defaults_and_bounds() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(
            c.providers[0].opaque_checks,
            OpaqueCheckLimits { per_second: 20, burst: 40, refusal_cache_seconds: 60, refusal_cache_entries: 10_000 }
        );
        let with = |table: &str| Config::from_toml(&format!("{GOOD}\n[providers.opaque_checks]\n{table}\n"));
        let c = with("per_second = 5\nburst = 10\nrefusal_cache_seconds = 0").unwrap();
        c.validate().unwrap();
        assert_eq!((c.providers[0].opaque_checks.per_second, c.providers[0].opaque_checks.burst), (5, 10));
        for (table, key) in [
            ("per_second = 0", "providers[0].opaque_checks.per_second"),
            ("burst = 0", "providers[0].opaque_checks.burst"),
            ("refusal_cache_seconds = 3601", "providers[0].opaque_checks.refusal_cache_seconds"),
            ("refusal_cache_entries = 1000001", "providers[0].opaque_checks.refusal_cache_entries"),
        ] {
            assert_eq!(with(table).unwrap().validate().unwrap_err().key, key);
        }
        assert!(with("per_minute = 1").unwrap_err().to_string().contains("per_minute"));
    }

    #[test]
    fn refresh_reuse_grace_is_bounded() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(c.issuer.refresh_reuse_grace_seconds, 30);
        for (v, ok) in [(0, true), (300, true), (301, false), (-1, false)] {
            let text = format!("[issuer]\nrefresh_reuse_grace_seconds = {v}\n{GOOD}");
            let r = Config::from_toml(&text).unwrap().validate();
            assert_eq!(r.is_ok(), ok, "{v}: {r:?}");
            if let Err(e) = r {
                assert_eq!(e.key, "issuer.refresh_reuse_grace_seconds");
            }
        }
    }

    #[test]
    fn role_documents_are_checked_at_load_with_their_place() {
        const TRUST: &str = r#"trust_policy = '{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRoleWithWebIdentity"}}'"#;
        let role = |policy: &str| format!("[[roles]]\nname = \"app\"\n{TRUST}\n[roles.policies]\n{policy}\n");
        let good = role(r#"Read = '{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}'"#);
        let c = Config::from_toml(&good).unwrap();
        c.validate().unwrap();
        assert_eq!(c.roles[0].source_lines.get("trust_policy"), Some(&3));
        assert_eq!(c.roles[0].source_lines.get("policies.Read"), Some(&5));
        // A multi-line literal string: the document's lines are the file's.
        let bad = role(
            r#"Read = '''
{
  "Statement": {"Effect": "Alow", "Action": "s3:GetObject", "Resource": "*"}
}'''"#,
        );
        let e = Config::from_toml(&bad).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "roles[0].policies.Read");
        assert!(e.reason.starts_with("Statement.Effect: "), "{e}");
        assert!(e.reason.ends_with("(line 2, column 27 of the document; line 7 of the file)"), "{e}");
        // Escapes in a basic string: the position in the document only.
        let e = Config::from_toml(&role(r#"Read = "{\"Statement\": 1}""#)).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "roles[0].policies.Read");
        assert!(e.reason.ends_with("(line 1, column 15)"), "{e}");
        // The trust policy is checked as one: it needs a Principal.
        let e = Config::from_toml(&good.replace(r#""Principal": "*", "#, "")).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "roles[0].trust_policy");
    }

    #[test]
    fn provider_login_endpoints_are_checked_and_its_secret_never_printed() {
        let login = |authorize: &str| {
            format!(
                "{GOOD}\n[providers.login]\nauthorization_endpoint = \"{authorize}\"\n\
                 token_endpoint = \"https://login.salesforce.com/services/oauth2/token\"\n\
                 client_id = \"3MVG\"\nclient_secret = \"s3cret-value\"\n"
            )
        };
        let c = Config::from_toml(&login("https://login.salesforce.com/services/oauth2/authorize")).unwrap();
        c.validate().unwrap();
        let l = c.providers[0].login.as_ref().expect("login");
        assert_eq!(l.scope, "openid email profile");
        assert_eq!(l.client_secret.as_deref(), Some("s3cret-value"));
        assert!(!format!("{c:?}").contains("s3cret-value"), "Debug shows the login secret");
        // Loopback may be plain http (a local provider); nothing else may.
        Config::from_toml(&login("http://127.0.0.1:8080/demo-idp/authorize")).unwrap().validate().unwrap();
        let e = Config::from_toml(&login("http://idp.example.com/authorize")).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "providers[0].login.authorization_endpoint");
        assert!(e.reason.contains("must be https://"), "{e}");
        let e = Config::from_toml(&login("/authorize")).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "providers[0].login.authorization_endpoint");
        let bad = login("https://idp.example.com/authorize").replace("client_id = \"3MVG\"", "client_id = \"\"");
        assert_eq!(Config::from_toml(&bad).unwrap().validate().unwrap_err().key, "providers[0].login.client_id");
    }

    #[test]
    fn console_settings_are_checked() {
        let c = Config::from_toml(GOOD).unwrap();
        assert!(c.console.enabled && !c.console.explain_to_caller && c.console.oauth_client_id.is_none());
        let with = |console: &str| Config::from_toml(&format!("[console]\n{console}\n{GOOD}")).unwrap().validate();
        with("oauth_client_id = \"web\"\nexplain_to_caller = true\nenabled = false").unwrap();
        // A client made later with the CLI is not known here: accepted.
        with("oauth_client_id = \"made-later\"").unwrap();
        let confidential = format!(
            "[console]\noauth_client_id = \"web\"\n{}",
            GOOD.replace("providers = [\"sf\"]", "providers = [\"sf\"]\nsecret = \"x\"")
        );
        let e = Config::from_toml(&confidential).unwrap().validate().unwrap_err();
        assert_eq!(e.key, "console.oauth_client_id");
        assert!(e.reason.contains("public client"), "{e}");
        assert_eq!(with("user_pool_id = \"pool\"").unwrap_err().key, "console.user_pool_id");
        assert_eq!(with("user_pool_client_id = \"abc\"").unwrap_err().key, "console.user_pool_client_id");
        with("user_pool_id = \"eu-west-1_Pool\"\nuser_pool_client_id = \"abc\"").unwrap();
        assert_eq!(with("identity_pool_ids = [\"nope\"]").unwrap_err().key, "console.identity_pool_ids[0]");
        assert!(Config::from_toml(&format!("[console]\ndemo_apis = true\n{GOOD}")).is_err(), "demo_apis is not a key");
    }

    #[test]
    fn trusted_proxies_are_cidr_blocks_and_the_old_switch_names_them() {
        let with = |server: &str| Config::from_toml(&format!("[server]\n{server}\n")).unwrap().validate();
        with("trusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.0.2.7\"]").unwrap();
        let e = with("trusted_proxies = [\"10.0.0.0/8\", \"proxy.internal\"]").unwrap_err();
        assert_eq!(e.key, "server.trusted_proxies[1]");
        let e = with("trust_forwarded_for = true").unwrap_err();
        assert_eq!(e.key, "server.trust_forwarded_for");
        assert!(
            e.reason.contains("leftmost X-Forwarded-For entry") && e.reason.contains("server.trusted_proxies"),
            "{e}"
        );
        assert_eq!(split_list(" 10.0.0.0/8, ,::1 "), ["10.0.0.0/8", "::1"]);
    }

    #[test]
    fn metrics_settings_are_checked_and_the_token_never_printed() {
        let with = |m: &str| Config::from_toml(&format!("[metrics]\n{m}\n")).unwrap();
        let c = with("token = \"a-long-metrics-token\"\nlisten = \"127.0.0.1:9090\"");
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains("a-long-metrics-token"), "Debug shows the metrics token");
        assert_eq!(with("token = \"short\"").validate().unwrap_err().key, "metrics.token");
        assert_eq!(with("listen = \"localhost\"").validate().unwrap_err().key, "metrics.listen");
        assert!(Config::default().metrics.token.is_none() && Config::default().metrics.listen.is_none());
    }

    #[test]
    fn upstream_urls_must_be_https_unless_loopback() {
        assert!(check_upstream_url("https://x.example/jwks").is_ok());
        assert!(check_upstream_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_upstream_url("http://localhost/jwks").is_ok());
        assert!(check_upstream_url("http://10.0.0.1/jwks").is_err());
    }
}
