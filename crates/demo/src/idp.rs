//! Built-in demo upstream provider (Salesforce-like).
//!
//! Mounted by the demo under `/demo-idp` on the server's listener, it plays the outside identity
//! provider whose tokens the broker exchanges, so the whole flow can be tried (and tested) with no
//! real Salesforce org. It speaks the parts of Salesforce's OAuth dialect the broker meets:
//! authorization code (+ PKCE S256) through an HTML login and consent page, the username-password
//! grant for scripts, RS256 id tokens, opaque `00D…!…` access tokens and a UserInfo endpoint.
//!
//! It keeps no state of its own in memory, so any number of server instances on one database
//! act as one provider:
//! - the RS256 signing key, its `kid` and the HMAC secret live in Store settings, written
//!   insert-if-absent by whichever instance starts first;
//! - the login → consent state, authorization codes and access tokens are self-contained and
//!   HMAC-SHA256 signed (each kind under its own purpose label, so one never passes for another);
//! - a code's one-time use is a Store replay marker.
//!
//! The only in-memory switch is [`UserinfoMode`], a per-instance test hook.

mod pages;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context as _};
use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::jose::{
    b64url, b64url_decode, b64url_decode_lenient, looks_like_jwt, pkce_s256, sha256_hex, Jwk, Signer,
};
use tokenbridge_core::model::KeyAlgorithm;
use tokenbridge_core::secrets::{constant_time_eq, random_secret, uuid_v4};
use tokenbridge_core::{Clock, Store};
use url::Url;

/// Store setting holding the base64 PKCS#8 of the RS256 signing key.
const SIGNING_KEY_SETTING: &str = "demo_idp.signing_key";
/// Store setting holding the signing key's `kid` (its RFC 7638 thumbprint).
const SIGNING_KID_SETTING: &str = "demo_idp.signing_kid";
/// Store setting holding the HMAC secret for codes, access tokens and the login state.
const MAC_SECRET_SETTING: &str = "demo_idp.access_token_secret";

/// Authorization codes live this long (seconds).
const CODE_TTL: i64 = 60;
/// The signed login → consent state lives this long (seconds).
const LOGIN_STATE_TTL: i64 = 300;

/// HMAC purpose labels: a value signed for one purpose never verifies for another.
const PURPOSE_LOGIN: &str = "demo_idp/login";
const PURPOSE_CODE: &str = "demo_idp/code";
const PURPOSE_ACCESS: &str = "demo_idp/access_token";

const SCOPES_SUPPORTED: &[&str] = &["openid", "profile", "email", "id", "api"];
/// What a request without `scope` gets.
const DEFAULT_SCOPE: &str = "openid profile email";
const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "email",
    "email_verified",
    "preferred_username",
    "name",
    "organization_id",
    "user_id",
    "updated_at",
];
/// Demo users never change; UserInfo reports this fixed `updated_at` (2024-01-01T00:00:00Z).
const USERS_UPDATED_AT: i64 = 1_704_067_200;

/// A user of the demo provider.
#[derive(Clone)]
pub struct DemoUser {
    pub username: String,
    pub password: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub organization_id: String,
}

impl fmt::Debug for DemoUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("organization_id", &self.organization_id)
            .finish_non_exhaustive()
    }
}

/// How the demo provider is set up; the user list comes entirely from here.
#[derive(Clone)]
pub struct DemoIdpConfig {
    /// `base_url + "/demo-idp"`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The registered redirect URIs. A request's `redirect_uri` must equal one of them character
    /// for character (RFC 6749 §3.1.2.3, RFC 3986 §6.2.1 simple string comparison; no RFC 8252
    /// loopback port variance: the demo's only client is the console, at a fixed address). None
    /// registered: none is allowed.
    pub redirect_uris: Vec<String>,
    pub users: Vec<DemoUser>,
    /// Seconds (3600 by convention).
    pub id_token_ttl: i64,
    /// Seconds (3600 by convention).
    pub access_token_ttl: i64,
}

impl fmt::Debug for DemoIdpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoIdpConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uris", &self.redirect_uris)
            .field("users", &self.users)
            .field("id_token_ttl", &self.id_token_ttl)
            .field("access_token_ttl", &self.access_token_ttl)
            .finish_non_exhaustive()
    }
}

/// Test switch for the UserInfo endpoint, so the broker's "upstream down / slow" paths can be
/// exercised. Per instance, in memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserinfoMode {
    #[default]
    Normal,
    /// Answers 503 `temporarily_unavailable`.
    Down,
    /// Sleeps this long, then answers normally.
    Slow(Duration),
}

/// The demo provider; cheap to clone.
#[derive(Clone)]
pub struct DemoIdp {
    inner: Arc<Inner>,
}

impl fmt::Debug for DemoIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoIdp")
            .field("issuer", &self.inner.config.issuer)
            .field("kid", &self.inner.signer.kid)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: DemoIdpConfig,
    /// Absolute path of the mount point (`/demo-idp`), for form actions.
    mount_path: String,
    /// The server's base URL (`issuer` without `/demo-idp`): Salesforce's `instance_url`.
    instance_url: String,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    signer: Signer,
    mac_key: hmac::Key,
    discovery: Value,
    jwks: Value,
    userinfo_mode: Mutex<UserinfoMode>,
}

impl DemoIdp {
    /// Loads or creates its RS256 signing key and an HMAC secret for opaque access tokens through
    /// the Store settings (`demo_idp.signing_key` as base64 PKCS#8, `demo_idp.signing_kid`,
    /// `demo_idp.access_token_secret`, each insert-if-absent), so several server instances on one
    /// database share them and publish the same `kid`.
    pub async fn open(mut config: DemoIdpConfig, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        config.issuer = config.issuer.trim_end_matches('/').to_string();
        let issuer_url =
            Url::parse(&config.issuer).with_context(|| format!("demo IdP issuer {:?} is not a URL", config.issuer))?;
        if !matches!(issuer_url.scheme(), "http" | "https") {
            bail!("demo IdP issuer {:?} must be an http(s) URL", config.issuer);
        }
        if config.client_id.is_empty() || config.client_secret.is_empty() {
            bail!("demo IdP needs a client_id and a client_secret");
        }
        if config.id_token_ttl <= 0 || config.access_token_ttl <= 0 {
            bail!("demo IdP token lifetimes must be positive");
        }
        for uri in &config.redirect_uris {
            let url = Url::parse(uri).with_context(|| format!("demo IdP redirect URI {uri:?} is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() || url.as_str() != uri {
                bail!("demo IdP redirect URI {uri:?} must be an http(s) URL without a fragment, written as parsed");
            }
        }
        let mount_path = issuer_url.path().trim_end_matches('/').to_string();
        let instance_url = config.issuer.strip_suffix("/demo-idp").unwrap_or(&config.issuer).to_string();

        let signer = load_signer(store.as_ref()).await?;
        let secret = match store.get_setting(MAC_SECRET_SETTING).await? {
            Some(secret) => secret,
            None => store.put_setting_if_absent(MAC_SECRET_SETTING, &random_secret()).await?,
        };
        let mac_key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let discovery = discovery_document(&config.issuer);
        let jwks = json!({ "keys": [signer.public_jwk()] });
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                mount_path,
                instance_url,
                store,
                clock,
                signer,
                mac_key,
                discovery,
                jwks,
                userinfo_mode: Mutex::new(UserinfoMode::Normal),
            }),
        })
    }

    /// Router with paths relative to the mount point; the server does
    /// `.nest("/demo-idp", idp.router())`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/authorize/login", post(login))
            .route("/authorize/consent", post(consent))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo).post(userinfo))
            .route("/id/{org}/{user}", get(identity).post(identity))
            .with_state(self.clone())
    }

    /// For tests and the bench: mint an id_token for a user directly (same as the password grant
    /// would, without a nonce). `None` for an unknown username.
    pub fn mint_id_token(&self, username: &str) -> Option<String> {
        let user = self.inner.find_user(username)?;
        let now = self.inner.clock.now();
        Some(self.inner.id_token(user, now, now, None))
    }

    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// Switches this instance's UserInfo endpoint between normal, down (503) and slow.
    pub fn set_userinfo_mode(&self, mode: UserinfoMode) {
        *self.inner.userinfo_mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    pub fn userinfo_mode(&self) -> UserinfoMode {
        *self.inner.userinfo_mode.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Loads the shared signing key, creating it if no instance has yet.
async fn load_signer(store: &dyn Store) -> anyhow::Result<Signer> {
    let encoded = match store.get_setting(SIGNING_KEY_SETTING).await? {
        Some(encoded) => encoded,
        None => {
            let (_, pkcs8) = Signer::generate(KeyAlgorithm::RS256, String::new())?;
            store.put_setting_if_absent(SIGNING_KEY_SETTING, &STANDARD.encode(pkcs8)).await?
        }
    };
    let encoded = encoded.trim();
    let pkcs8 = STANDARD
        .decode(encoded)
        .or_else(|_| b64url_decode_lenient(encoded))
        .with_context(|| format!("setting {SIGNING_KEY_SETTING} is not base64"))?;
    let mut signer = Signer::from_pkcs8(KeyAlgorithm::RS256, String::new(), &pkcs8)
        .with_context(|| format!("setting {SIGNING_KEY_SETTING} is not an RSA PKCS#8 key"))?;
    let thumbprint = jwk_thumbprint(&signer.public_jwk());
    signer.kid = store.put_setting_if_absent(SIGNING_KID_SETTING, &thumbprint).await?;
    Ok(signer)
}

/// RFC 7638 thumbprint of an RSA JWK.
fn jwk_thumbprint(jwk: &Jwk) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        jwk.e.as_deref().unwrap_or_default(),
        jwk.n.as_deref().unwrap_or_default()
    );
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
}

fn discovery_document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "password"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "claims_supported": CLAIMS_SUPPORTED,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    })
}

// --- handlers: thin adapters over `Inner` ---

async fn discovery(State(idp): State<DemoIdp>) -> Response {
    Json(idp.inner.discovery.clone()).into_response()
}

async fn jwks(State(idp): State<DemoIdp>) -> Response {
    let headers = [(header::CACHE_CONTROL, "public, max-age=300")];
    (headers, Json(idp.inner.jwks.clone())).into_response()
}

async fn authorize(State(idp): State<DemoIdp>, RawQuery(query): RawQuery) -> Result<Response, Refusal> {
    idp.inner.authorize(query.unwrap_or_default().as_bytes())
}

async fn login(State(idp): State<DemoIdp>, body: Bytes) -> Result<Response, Refusal> {
    idp.inner.login(&body)
}

async fn consent(State(idp): State<DemoIdp>, body: Bytes) -> Result<Response, Refusal> {
    idp.inner.consent(&body)
}

async fn token(State(idp): State<DemoIdp>, headers: HeaderMap, body: Bytes) -> Response {
    match idp.inner.token(&headers, &body).await {
        Ok(answer) => no_store(Json(answer)),
        Err(e) => e.into_response(),
    }
}

async fn userinfo(State(idp): State<DemoIdp>, headers: HeaderMap) -> Response {
    idp.inner.userinfo(&headers, None).await
}

async fn identity(
    State(idp): State<DemoIdp>,
    Path((org, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    idp.inner.userinfo(&headers, Some((&org, &user))).await
}

// --- signed, self-contained values ---

/// An authorization request that passed validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthRequest {
    client_id: String,
    /// As the client sent it: the token request must repeat it exactly.
    redirect_uri: String,
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    /// S256 challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_challenge: Option<String>,
}

/// Carried from the login page to the consent page in a hidden field.
#[derive(Debug, Serialize, Deserialize)]
struct LoginState {
    username: String,
    auth_time: i64,
    exp: i64,
    request: AuthRequest,
}

/// The content of an authorization code.
#[derive(Debug, Serialize, Deserialize)]
struct CodeClaims {
    /// Makes every code unique, so its replay marker is too.
    jti: String,
    username: String,
    auth_time: i64,
    exp: i64,
    request: AuthRequest,
}

/// The content of an opaque access token.
#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    username: String,
    /// The token's `00D…` prefix, bound here so it cannot be swapped.
    org: String,
    client_id: String,
    scope: String,
    iat: i64,
    exp: i64,
    /// Makes every token distinct, so one-time use downstream never sees a false replay.
    #[serde(default)]
    jti: String,
}

// --- OAuth error answers ---

/// An RFC 6749 §5.2 error answer of the token endpoint.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into() }
    }
    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }
    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": bounded_message(&self.description) });
        let mut response = no_store((self.status, Json(body)));
        if self.error == "invalid_client" {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"demo-idp\""));
        }
        response
    }
}

/// A UserInfo refusal: `WWW-Authenticate: Bearer …` plus a JSON body.
fn bearer_error(status: StatusCode, error: &'static str, description: &str) -> Response {
    let description = bounded_message(description);
    let challenge = format!(r#"Bearer realm="demo-idp", error="{error}", error_description="{description}""#);
    let body = json!({ "error": error, "error_description": description });
    let mut response = no_store((status, Json(body)));
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn no_store(answer: impl IntoResponse) -> Response {
    let mut response = answer.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Why the authorization endpoint stops.
#[derive(Debug)]
enum Refusal {
    /// Shown to the user and sent nowhere: the client or its redirect URI is not trusted.
    Page(String),
    /// Sent back to the validated redirect URI (RFC 6749 §4.1.2.1), the error in its query.
    Redirect(Url),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Page(message) => pages::error(StatusCode::BAD_REQUEST, &message),
            Self::Redirect(target) => found(&target),
        }
    }
}

/// `target` with `pairs` (those with a value) added to its query.
fn with_query(target: &Url, pairs: &[(&str, Option<&str>)]) -> Url {
    let mut target = target.clone();
    let mut query = target.query_pairs_mut();
    for (name, value) in pairs {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    drop(query);
    target
}

/// A 302 to a validated redirect URI.
fn found(target: &Url) -> Response {
    match HeaderValue::from_str(target.as_str()) {
        Ok(location) => no_store((StatusCode::FOUND, [(header::LOCATION, location)])),
        Err(_) => pages::error(StatusCode::BAD_REQUEST, "The redirect URI cannot be used."),
    }
}

// --- request parsing ---

/// Form or query parameters. Empty values count as absent (RFC 6749 §3.1); a repeated
/// parameter is an error.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(bytes) {
            if value.is_empty() {
                continue;
            }
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(format!("parameter {name:?} is repeated"));
            }
        }
        Ok(Self(map))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: each part form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::invalid_client("malformed Basic authorization header");
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client("client authentication must use Basic"));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// Decodes one form-urlencoded value (`+` and `%XX`).
fn form_decode(s: &str) -> String {
    let escaped = s.replace('&', "%26").replace('=', "%3D");
    url::form_urlencoded::parse(escaped.as_bytes()).next().map(|(name, _)| name.into_owned()).unwrap_or_default()
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The requested scope, normalized; `None` → [`DEFAULT_SCOPE`].
fn resolve_scope(requested: Option<&str>) -> Result<String, String> {
    let Some(requested) = requested else {
        return Ok(DEFAULT_SCOPE.to_string());
    };
    let mut scopes: Vec<&str> = Vec::new();
    for scope in requested.split_ascii_whitespace() {
        if !SCOPES_SUPPORTED.contains(&scope) {
            return Err(format!("scope {scope:?} is not supported"));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Ok(DEFAULT_SCOPE.to_string());
    }
    Ok(scopes.join(" "))
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

/// Whether `uri` (normalized) is `prefix` or continues it at a path or query boundary.
/// A code verifier or challenge: 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Salesforce-style 18-character id: a 3-character key prefix and 15 base62 characters of a
/// hash of `seed`.
fn salesforce_id(key_prefix: &str, seed: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, seed.as_bytes());
    let tail: String = digest.as_ref()[..15].iter().map(|b| BASE62[usize::from(*b) % BASE62.len()] as char).collect();
    format!("{key_prefix}{tail}")
}

impl DemoUser {
    /// The stable `sub` / `user_id`.
    fn user_id(&self) -> String {
        salesforce_id("005", &self.username.to_ascii_lowercase())
    }

    /// The access-token prefix: the organization id when it already looks like Salesforce's
    /// (`00D` + alphanumerics), else one derived from it.
    fn org_prefix(&self) -> String {
        let org = &self.organization_id;
        if org.starts_with("00D") && (15..=18).contains(&org.len()) && org.bytes().all(|b| b.is_ascii_alphanumeric()) {
            org.clone()
        } else {
            salesforce_id("00D", org)
        }
    }
}

// --- the provider ---

impl Inner {
    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Usernames match case-insensitively, as Salesforce's do.
    fn find_user(&self, username: &str) -> Option<&DemoUser> {
        self.config.users.iter().find(|u| u.username.eq_ignore_ascii_case(username))
    }

    /// The user whose password this is; compares digests in constant time, also for unknown
    /// usernames.
    fn check_password(&self, username: &str, password: &str) -> Option<&DemoUser> {
        let user = self.find_user(username);
        let stored = user.map_or("\0no such user", |u| u.password.as_str());
        let digest = |s: &str| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
        let matches = constant_time_eq(digest(password).as_ref(), digest(stored).as_ref());
        user.filter(|_| matches)
    }

    fn identity_url(&self, user: &DemoUser) -> String {
        format!("{}/id/{}/{}", self.config.issuer, user.org_prefix(), user.user_id())
    }

    // --- HMAC framing: base64url(JSON) "." base64url(HMAC(purpose NUL body)) ---

    fn mac(&self, purpose: &str, body: &str) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.mac_key);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(body.as_bytes());
        ctx.sign()
    }

    fn seal(&self, purpose: &str, payload: &impl Serialize) -> String {
        let body = b64url(&serde_json::to_vec(payload).expect("payload serializes"));
        let tag = self.mac(purpose, &body);
        format!("{body}.{}", b64url(tag.as_ref()))
    }

    fn unseal<T: DeserializeOwned>(&self, purpose: &str, sealed: &str) -> Option<T> {
        let (body, tag) = sealed.split_once('.')?;
        let tag = b64url_decode(tag).ok()?;
        if !constant_time_eq(self.mac(purpose, body).as_ref(), &tag) {
            return None;
        }
        serde_json::from_slice(&b64url_decode(body).ok()?).ok()
    }

    // --- authorization endpoint ---

    /// Checks an authorization request. Until client and redirect URI are known good, errors are
    /// an HTML page; after that they go back to the client as RFC 6749 §4.1.2.1 redirects.
    fn validate_authorize(&self, params: &Params) -> Result<(AuthRequest, Url), Refusal> {
        let client_id = params.get("client_id").unwrap_or_default();
        if client_id != self.config.client_id {
            let shown = if client_id.is_empty() { "(none)" } else { client_id };
            return Err(Refusal::Page(format!(
                "Unknown client_id {shown}. This provider serves only its configured client."
            )));
        }
        let Some(redirect_uri) = params.get("redirect_uri") else {
            return Err(Refusal::Page("The request has no redirect_uri.".into()));
        };
        let Some(target) = self.allowed_redirect(redirect_uri) else {
            return Err(Refusal::Page(format!("The redirect_uri {redirect_uri} is not allowed for this client.")));
        };
        let state = params.get("state");
        let fail = |error: &str, description: &str| {
            Refusal::Redirect(with_query(
                &target,
                &[("error", Some(error)), ("error_description", Some(description)), ("state", state)],
            ))
        };
        match params.get("response_type") {
            Some("code") => {}
            None => return Err(fail("invalid_request", "response_type is required")),
            Some(_) => return Err(fail("unsupported_response_type", "only response_type=code is supported")),
        }
        let scope = resolve_scope(params.get("scope")).map_err(|e| fail("invalid_scope", &e))?;
        let challenge = params.get("code_challenge");
        let code_challenge = match (challenge, params.get("code_challenge_method")) {
            (None, None) => None,
            (Some(challenge), Some("S256")) if is_pkce_string(challenge) => Some(challenge.to_string()),
            (None, Some(_)) => return Err(fail("invalid_request", "code_challenge is required")),
            (Some(_), Some("S256")) => return Err(fail("invalid_request", "code_challenge is malformed")),
            (Some(_), _) => return Err(fail("invalid_request", "only code_challenge_method=S256 is supported")),
        };
        let request = AuthRequest {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            scope,
            state: state.map(str::to_string),
            nonce: params.get("nonce").map(str::to_string),
            code_challenge,
        };
        Ok((request, target))
    }

    /// The parsed redirect URI if it is registered, spelled exactly as registered (another
    /// spelling of the same loopback address, port, path or case is another URI).
    fn allowed_redirect(&self, raw: &str) -> Option<Url> {
        self.config.redirect_uris.iter().find(|u| u.as_str() == raw).and_then(|u| Url::parse(u).ok())
    }

    fn login_page(&self, request: &AuthRequest, error: Option<&str>, username: &str) -> String {
        let mut hidden = vec![
            ("response_type", "code"),
            ("client_id", request.client_id.as_str()),
            ("redirect_uri", request.redirect_uri.as_str()),
            ("scope", request.scope.as_str()),
        ];
        let optional =
            [("state", &request.state), ("nonce", &request.nonce), ("code_challenge", &request.code_challenge)];
        hidden.extend(optional.iter().filter_map(|(name, value)| Some((*name, value.as_deref()?))));
        if request.code_challenge.is_some() {
            hidden.push(("code_challenge_method", "S256"));
        }
        let action = format!("{}/authorize/login", self.mount_path);
        pages::login(&action, &hidden, &request.client_id, error, username)
    }

    /// `GET /authorize`: the login form.
    fn authorize(&self, query: &[u8]) -> Result<Response, Refusal> {
        let params = Params::parse(query).map_err(Refusal::Page)?;
        let (request, _) = self.validate_authorize(&params)?;
        Ok(pages::html(StatusCode::OK, self.login_page(&request, None, "")))
    }

    /// `POST /authorize/login`: checks the password, then shows the consent form.
    fn login(&self, body: &[u8]) -> Result<Response, Refusal> {
        let params = Params::parse(body).map_err(Refusal::Page)?;
        let (request, _) = self.validate_authorize(&params)?;
        let username = params.get("username").unwrap_or_default();
        let password = params.get("password").unwrap_or_default();
        let Some(user) = self.check_password(username, password) else {
            let error = Some("Wrong username or password. Try again.");
            let page = self.login_page(&request, error, username);
            return Ok(pages::html(StatusCode::UNAUTHORIZED, page));
        };
        let now = self.now();
        let client_id = request.client_id.clone();
        let state = LoginState { username: user.username.clone(), auth_time: now, exp: now + LOGIN_STATE_TTL, request };
        let action = format!("{}/authorize/consent", self.mount_path);
        let session = self.seal(PURPOSE_LOGIN, &state);
        let page = pages::consent(&action, &client_id, &user.username, &session);
        Ok(pages::html(StatusCode::OK, page))
    }

    /// `POST /authorize/consent`: allow → code, deny → `access_denied`, both back to the client.
    fn consent(&self, body: &[u8]) -> Result<Response, Refusal> {
        let params = Params::parse(body).map_err(Refusal::Page)?;
        let now = self.now();
        let login = params
            .get("session")
            .and_then(|s| self.unseal::<LoginState>(PURPOSE_LOGIN, s))
            .filter(|l| l.exp > now)
            .ok_or_else(|| {
                Refusal::Page("This sign-in has expired or is not valid. Start again from the application.".into())
            })?;
        let target = self
            .allowed_redirect(&login.request.redirect_uri)
            .ok_or_else(|| Refusal::Page("The redirect URI is no longer allowed.".into()))?;
        let state = login.request.state.clone();
        // `decision=allow|deny` from the buttons; a bare `allow` / `deny` field is accepted too.
        let decision =
            params.get("decision").or_else(|| ["allow", "deny"].into_iter().find(|d| params.get(d).is_some()));
        let pairs = match decision {
            Some("allow") => {
                let claims = CodeClaims {
                    jti: uuid_v4(),
                    username: login.username,
                    auth_time: login.auth_time,
                    exp: now + CODE_TTL,
                    request: AuthRequest { state: None, ..login.request },
                };
                vec![("code", Some(self.seal(PURPOSE_CODE, &claims)))]
            }
            Some("deny") => vec![
                ("error", Some("access_denied".to_string())),
                ("error_description", Some("end-user denied authorization".to_string())),
            ],
            _ => return Err(Refusal::Page("Choose Allow or Deny.".into())),
        };
        let pairs: Vec<(&str, Option<&str>)> =
            pairs.iter().map(|(name, value)| (*name, value.as_deref())).chain([("state", state.as_deref())]).collect();
        Ok(found(&with_query(&target, &pairs)))
    }

    // --- token endpoint ---

    async fn token(&self, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
        let params = Params::parse(body).map_err(OAuthError::invalid_request)?;
        self.authenticate_client(headers, &params)?;
        match params.get("grant_type") {
            Some("authorization_code") => self.grant_authorization_code(&params).await,
            Some("password") => self.grant_password(&params),
            Some(other) => Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant type {other:?} is not supported"),
            )),
            None => Err(OAuthError::invalid_request("grant_type is required")),
        }
    }

    /// `client_secret_basic` or `client_secret_post`, never both; secrets compared in constant time.
    fn authenticate_client(&self, headers: &HeaderMap, params: &Params) -> Result<(), OAuthError> {
        let (client_id, secret) = match (basic_credentials(headers)?, params.get("client_secret")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request("use one client authentication method, not two"))
            }
            (Some((id, secret)), None) => {
                if params.get("client_id").is_some_and(|form_id| form_id != id) {
                    return Err(OAuthError::invalid_request("client_id differs from the Basic credentials"));
                }
                (id, secret)
            }
            (None, Some(secret)) => (params.require("client_id")?.to_string(), secret.to_string()),
            (None, None) => return Err(OAuthError::invalid_client("client authentication is required")),
        };
        let id_ok = constant_time_eq(client_id.as_bytes(), self.config.client_id.as_bytes());
        let secret_ok = constant_time_eq(secret.as_bytes(), self.config.client_secret.as_bytes());
        if id_ok & secret_ok {
            Ok(())
        } else {
            Err(OAuthError::invalid_client("invalid client credentials"))
        }
    }

    async fn grant_authorization_code(&self, params: &Params) -> Result<Value, OAuthError> {
        let code = params.require("code")?;
        let redirect_uri = params.require("redirect_uri")?;
        let now = self.now();
        let claims = self
            .unseal::<CodeClaims>(PURPOSE_CODE, code)
            .filter(|c| c.exp > now)
            .ok_or_else(|| OAuthError::invalid_grant("authorization code is invalid or expired"))?;
        let request = &claims.request;
        if request.client_id != self.config.client_id {
            return Err(OAuthError::invalid_grant("authorization code was issued to another client"));
        }
        if request.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
        }
        verify_pkce(request.code_challenge.as_deref(), params.get("code_verifier"))?;
        let user =
            self.find_user(&claims.username).ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
        let first_use =
            self.store.insert_replay_marker(&sha256_hex(code.as_bytes()), claims.exp, now).await.map_err(|e| {
                tracing::error!(error = %e, "demo IdP could not record a code redemption");
                OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "try again later")
            })?;
        if !first_use {
            return Err(OAuthError::invalid_grant("authorization code was already used"));
        }
        Ok(self.token_answer(user, &request.scope, claims.auth_time, request.nonce.as_deref()))
    }

    /// Salesforce's username-password flow, for scripts.
    fn grant_password(&self, params: &Params) -> Result<Value, OAuthError> {
        let username = params.require("username")?;
        let password = params.require("password")?;
        let scope = resolve_scope(params.get("scope"))
            .map_err(|e| OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", e))?;
        let user = self
            .check_password(username, password)
            .ok_or_else(|| OAuthError::invalid_grant("authentication failure"))?;
        Ok(self.token_answer(user, &scope, self.now(), None))
    }

    /// A Salesforce-shaped token response; `id_token` when the scope has `openid`.
    fn token_answer(&self, user: &DemoUser, scope: &str, auth_time: i64, nonce: Option<&str>) -> Value {
        let now = self.now();
        let identity_url = self.identity_url(user);
        let issued_at = (now * 1000).to_string();
        let mut signature =
            hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, self.config.client_secret.as_bytes()));
        signature.update(identity_url.as_bytes());
        signature.update(issued_at.as_bytes());
        let mut answer = json!({
            "access_token": self.access_token(user, scope, now),
            "signature": STANDARD.encode(signature.sign()),
            "scope": scope,
            "instance_url": self.instance_url,
            "id": identity_url,
            "token_type": "Bearer",
            "issued_at": issued_at,
        });
        if has_scope(scope, "openid") {
            answer["id_token"] = Value::String(self.id_token(user, now, auth_time, nonce));
        }
        answer
    }

    /// Opaque, Salesforce-looking: `00D…!` + HMAC-signed payload, verifiable by any instance.
    fn access_token(&self, user: &DemoUser, scope: &str, now: i64) -> String {
        let org = user.org_prefix();
        let claims = AccessClaims {
            username: user.username.clone(),
            org: org.clone(),
            client_id: self.config.client_id.clone(),
            scope: scope.to_string(),
            iat: now,
            exp: now + self.config.access_token_ttl,
            jti: tokenbridge_core::secrets::uuid_v4(),
        };
        format!("{org}!{}", self.seal(PURPOSE_ACCESS, &claims))
    }

    fn id_token(&self, user: &DemoUser, now: i64, auth_time: i64, nonce: Option<&str>) -> String {
        let user_id = user.user_id();
        let mut claims = json!({
            "iss": self.config.issuer,
            "sub": user_id,
            "aud": self.config.client_id,
            "exp": now + self.config.id_token_ttl,
            "iat": now,
            "auth_time": auth_time,
            "email": user.email,
            "email_verified": user.email_verified,
            "preferred_username": user.username,
            "name": user.name,
            "organization_id": user.organization_id,
            "user_id": user_id,
            // Two sign-ins in one second must not yield the same token (RS256 is deterministic).
            "jti": tokenbridge_core::secrets::uuid_v4(),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::String(nonce.to_string());
        }
        self.signer.sign_jwt(&claims, "JWT")
    }

    // --- UserInfo ---

    /// `GET|POST /userinfo` and the identity URL `/id/{org}/{user}` (which must name the token's
    /// own user).
    async fn userinfo(&self, headers: &HeaderMap, identity: Option<(&str, &str)>) -> Response {
        let mode = *self.userinfo_mode.lock().unwrap_or_else(PoisonError::into_inner);
        match mode {
            UserinfoMode::Normal => {}
            UserinfoMode::Down => {
                let body = json!({
                    "error": "temporarily_unavailable",
                    "error_description": "demo upstream UserInfo is switched off",
                });
                return no_store((StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], Json(body)));
            }
            UserinfoMode::Slow(delay) => tokio::time::sleep(delay).await,
        }
        let Some(token) = bearer_token(headers) else {
            return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "a bearer access token is required");
        };
        let user = match self.verify_access_token(token) {
            Ok(user) => user,
            Err(reason) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", reason),
        };
        if let Some((org, user_id)) = identity {
            if org != user.org_prefix() || user_id != user.user_id() {
                return bearer_error(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "the identity URL names another user",
                );
            }
        }
        no_store(Json(self.userinfo_claims(user)))
    }

    fn verify_access_token(&self, token: &str) -> Result<&DemoUser, &'static str> {
        if looks_like_jwt(token) {
            return Err("an ID token is not an access token");
        }
        let invalid = "the access token is not valid";
        let (org, sealed) = token.split_once('!').ok_or(invalid)?;
        let claims: AccessClaims = self.unseal(PURPOSE_ACCESS, sealed).ok_or(invalid)?;
        if claims.org != org || claims.client_id != self.config.client_id {
            return Err(invalid);
        }
        if claims.exp <= self.now() {
            return Err("the access token has expired");
        }
        self.find_user(&claims.username).ok_or("the user no longer exists")
    }

    /// Salesforce's UserInfo shape (its `updated_at` is an RFC 3339 string, not a number).
    fn userinfo_claims(&self, user: &DemoUser) -> Value {
        let user_id = user.user_id();
        json!({
            "sub": user_id,
            "user_id": user_id,
            "organization_id": user.organization_id,
            "preferred_username": user.username,
            "nickname": user.username.split('@').next().unwrap_or_default(),
            "name": user.name,
            "email": user.email,
            "email_verified": user.email_verified,
            "active": true,
            "user_type": "STANDARD",
            "updated_at": tokenbridge_core::clock::rfc3339(USERS_UPDATED_AT),
        })
    }
}

/// PKCE S256: a challenge needs its verifier; a verifier without a challenge is refused too
/// (RFC 9700 §2.1.1, no downgrade).
fn verify_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant("code_verifier given but the request had no code_challenge")),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (Some(challenge), Some(verifier)) => {
            let computed = pkce_s256(verifier);
            if is_pkce_string(verifier) && constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"))
            }
        }
    }
}
