//! Domain records: what the Store keeps. Secrets appear here only as hashes or sealed bytes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
/// The issuer's signing algorithms, defined with the JOSE code that signs with them.
pub use tokenbridge_jose::KeyAlgorithm;

/// A local user of the pool. `id` is the stable `sub` of every token issued for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub enabled: bool,
    /// argon2id PHC string; `None` for users who only sign in through an upstream provider.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub password_hash: Option<String>,
    pub groups: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stored link: upstream identity `(provider, subject)` belongs to local user `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamLink {
    pub provider: String,
    pub subject: String,
    pub user_id: String,
    pub created_at: i64,
}

/// An app client. The secret is kept only as its SHA-256 (secrets are 32 random bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sha256: Option<String>,
    pub grant_types: Vec<String>,
    /// Upstream providers whose tokens this client may exchange.
    pub providers: Vec<String>,
    pub scopes: Vec<String>,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
    /// Browser origins allowed to call the token endpoints for this client (CORS).
    pub allowed_origins: Vec<String>,
}

pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_PASSWORD: &str = "password";

impl Client {
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
    pub fn allows_provider(&self, provider: &str) -> bool {
        self.providers.iter().any(|p| p == provider || p == "*")
    }
}

/// A signing key of this issuer. `private_pkcs8` is sealed with the master key when one is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: KeyAlgorithm,
    pub private_pkcs8: Vec<u8>,
    /// The public JWK, as published in the JWKS.
    pub public_jwk: String,
    pub created_at: i64,
    /// Set while this is the key new tokens are signed with.
    pub active: bool,
    /// After rotation: the key stays in the JWKS until then (its last token's expiry).
    pub publish_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefreshStatus {
    Active,
    Rotated,
    Revoked,
}

impl RefreshStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Rotated => "rotated",
            Self::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "rotated" => Self::Rotated,
            _ => Self::Revoked,
        }
    }
}

/// One refresh token of a family. A family starts at sign-in; each refresh rotates within it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenRecord {
    /// SHA-256 (hex) of the token; the token itself is never stored. A session without a
    /// refresh token is recorded all the same (so that it can be ended), under
    /// `session:<family_id>`, which no presented token hashes to.
    pub token_hash: String,
    pub family_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    /// How the family started (e.g. `upstream:salesforce`), for audit.
    pub origin: String,
    pub auth_time: i64,
    pub origin_jti: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub status: RefreshStatus,
    /// When the token stopped being active by rotation (`None` while active, and on rows
    /// rotated before this was recorded).
    #[serde(default)]
    pub rotated_at: Option<i64>,
    /// Hash of the token that took its place in the family.
    #[serde(default)]
    pub replaced_by: Option<String>,
    /// Retired without ever being presented: a retry of its predecessor within the reuse grace
    /// replaced it. Presenting it is a replay, never a retry.
    #[serde(default)]
    pub superseded: bool,
}

/// Result of the atomic compare-and-swap that retires a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was active and is now rotated; the new one is stored.
    Rotated(RefreshTokenRecord),
    /// The presented token was already rotated out: a replay, so the family should be revoked,
    /// unless it is a retry within the reuse grace ([`crate::Store::retry_refresh_rotation`]).
    Reused(RefreshTokenRecord),
    Revoked(RefreshTokenRecord),
    Expired(RefreshTokenRecord),
    NotFound,
}

/// One CloudTrail-shaped audit record plus the columns it is looked up by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub event_id: String,
    pub event_time: i64,
    pub event_name: String,
    pub username: Option<String>,
    pub request_id: String,
    /// `None` on success; the error code on a denial.
    pub error_code: Option<String>,
    pub record: serde_json::Value,
}

/// Which audit records to return: every filter given must hold (`None` filters nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    pub event_name: Option<String>,
    pub username: Option<String>,
    pub request_id: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    /// Only denials (`Some(true)`) or only successes (`Some(false)`).
    pub denied: Option<bool>,
    pub limit: Option<u32>,
    /// Return events older than this event id's position (pagination), newest first.
    pub before_event_id: Option<String>,
    /// Only the event with this `eventID`.
    pub event_id: Option<String>,
    /// Only events of this `eventSource` (e.g. `cognito-idp.amazonaws.com`).
    pub event_source: Option<String>,
    /// Only read-only events (`Some(true)`) or only the others (`Some(false)`), by `readOnly`.
    pub read_only: Option<bool>,
    /// Only events whose `userIdentity.accessKeyId` is this.
    pub access_key_id: Option<String>,
    /// Only events with an entry of `resources` whose `ARN` is this.
    pub resource_name: Option<String>,
    /// Only events with an entry of `resources` whose `type` is this (with `resource_name`:
    /// the same entry must match both).
    pub resource_type: Option<String>,
    /// Return events newer than this event id's position (pagination with `oldest_first`).
    pub after_event_id: Option<String>,
    /// Oldest first (the order events were appended) instead of newest first.
    pub oldest_first: bool,
}

/// An AWS-shaped object of a user pool (the pool itself, an app client, a group, a user's membership),
/// kept as JSON: its shape belongs to the Cognito door, its identity and pool to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub kind: String,
    pub id: String,
    pub pool_id: String,
    pub body: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
    /// When set, [`crate::Store::purge_expired`] removes the document once this time has come
    /// (records kept only for a while, such as the sign-in failures of unknown usernames).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Document {
    /// A record kept as a document: `body` as JSON under its kind, id and pool (every door that
    /// keeps documents, Cognito's, identity pools' and IAM's, stores them this way).
    pub fn new<T: Serialize>(kind: &str, id: &str, pool_id: &str, body: &T, created_at: i64, updated_at: i64) -> Self {
        Self {
            kind: kind.into(),
            id: id.into(),
            pool_id: pool_id.into(),
            body: serde_json::to_value(body).expect("serializable"),
            created_at,
            updated_at,
            expires_at: None,
        }
    }

    /// The same document, purged once `at` has come.
    pub fn expiring(mut self, at: i64) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// A pending auth challenge (CUSTOM_AUTH, SRP, NEW_PASSWORD_REQUIRED). `id_hash` is the SHA-256 of the Session string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthSession {
    pub id_hash: String,
    pub body: serde_json::Value,
    pub attempts: u32,
    pub expires_at: i64,
}
