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
//!
//! With a [`DemoSamlConfig`] it is also a Salesforce-like SAML 2.0 IdP for the same users (`saml`):
//! metadata, a login page, signed assertions (its key is the caller's: the demo keeps it in its
//! data directory).
//!
//! Here: the configuration, the key and secret, the routes and the sealed values; the
//! authorization endpoint is in `authorize`, the token endpoint in `token`, UserInfo in
//! `userinfo`, the OAuth error answers and parameter reading in `wire`, the HTML in `pages`.

mod authorize;
mod pages;
mod saml;
#[cfg(test)]
mod saml_round_trip;
#[cfg(test)]
mod saml_tests;
#[cfg(test)]
mod tests;
mod token;
mod userinfo;
mod wire;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context as _};
use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokenbridge_core::jose::{b64url, b64url_decode, b64url_decode_lenient, Jwk, Signer};
use tokenbridge_core::model::KeyAlgorithm;
use tokenbridge_core::secrets::{constant_time_eq, random_secret};
use tokenbridge_core::{Clock, Store};
use url::Url;
use wire::{no_store, Refusal};

pub use saml::{DemoSamlConfig, SamlUrls};

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
    /// Clients registered besides `client_id`, each with its own secret and redirect URIs (the
    /// demo pool's OIDC identity provider is one).
    pub other_clients: Vec<DemoClient>,
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
            .field("other_clients", &self.other_clients)
            .field("id_token_ttl", &self.id_token_ttl)
            .field("access_token_ttl", &self.access_token_ttl)
            .finish_non_exhaustive()
    }
}

/// A client registered at the demo provider besides the configured one.
#[derive(Clone)]
pub struct DemoClient {
    pub client_id: String,
    pub client_secret: String,
    /// Its redirect URIs, compared as [`DemoIdpConfig::redirect_uris`] are.
    pub redirect_uris: Vec<String>,
}

impl fmt::Debug for DemoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoClient")
            .field("client_id", &self.client_id)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

/// A registered client as the endpoints see it: the configured one or one of the others.
#[derive(Clone, Copy)]
struct Registered<'a> {
    id: &'a str,
    secret: &'a str,
    redirect_uris: &'a [String],
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
    /// The SAML IdP side, when configured.
    saml: Option<saml::SamlIdp>,
}

impl DemoIdp {
    /// Loads or creates its RS256 signing key and an HMAC secret for opaque access tokens through
    /// the Store settings (`demo_idp.signing_key` as base64 PKCS#8, `demo_idp.signing_kid`,
    /// `demo_idp.access_token_secret`, each insert-if-absent), so several server instances on one
    /// database share them and publish the same `kid`.
    #[tokenbridge_core::entry_point]
    pub async fn open(config: DemoIdpConfig, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::open_with_saml(config, None, store, clock).await
    }

    /// [`DemoIdp::open`], also serving as a SAML IdP when `saml` is given (routes under `/saml`).
    #[tokenbridge_core::entry_point]
    pub async fn open_with_saml(
        mut config: DemoIdpConfig,
        saml: Option<DemoSamlConfig>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        config.issuer = config.issuer.trim_end_matches('/').to_string();
        let issuer_url =
            Url::parse(&config.issuer).with_context(|| format!("demo IdP issuer {:?} is not a URL", config.issuer))?;
        if !matches!(issuer_url.scheme(), "http" | "https") {
            bail!("demo IdP issuer {:?} must be an http(s) URL", config.issuer);
        }
        if config.client_id.is_empty() || config.client_secret.is_empty() {
            bail!("demo IdP needs a client_id and a client_secret");
        }
        for (i, c) in config.other_clients.iter().enumerate() {
            if c.client_id.is_empty() || c.client_secret.is_empty() {
                bail!("demo IdP: every other client needs a client_id and a client_secret");
            }
            let earlier =
                std::iter::once(&config.client_id).chain(config.other_clients[..i].iter().map(|o| &o.client_id));
            if earlier.into_iter().any(|id| *id == c.client_id) {
                bail!("demo IdP: client {:?} is registered twice", c.client_id);
            }
        }
        if config.id_token_ttl <= 0 || config.access_token_ttl <= 0 {
            bail!("demo IdP token lifetimes must be positive");
        }
        for uri in config.redirect_uris.iter().chain(config.other_clients.iter().flat_map(|c| &c.redirect_uris)) {
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
        let saml = saml.map(|saml| saml::SamlIdp::new(&config.issuer, saml));
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
                saml,
            }),
        })
    }

    /// Router with paths relative to the mount point; the server does
    /// `.nest("/demo-idp", idp.router())`.
    pub fn router(&self) -> Router {
        let mut router = Router::new();
        if self.inner.saml.is_some() {
            router = router
                .route("/saml/metadata", get(saml::metadata))
                .route("/saml/sso", get(saml::sso_redirect).post(saml::sso_post))
                .route("/saml/idp-init", get(saml::idp_init))
                .route("/saml/login", post(saml::login));
        }
        router
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
        Some(self.inner.id_token(user, &self.inner.config.client_id, now, now, None))
    }

    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// The `sub` (and `user_id`) its id tokens and UserInfo give `username`; `None` for an
    /// unknown username.
    pub fn subject_of(&self, username: &str) -> Option<String> {
        self.inner.find_user(username).map(DemoUser::user_id)
    }

    /// The SAML side's URLs and certificate, when it is configured.
    pub fn saml(&self) -> Option<(SamlUrls, &tokenbridge_saml::Certificate)> {
        self.inner.saml.as_ref().map(|s| (SamlUrls::of(&self.inner.config.issuer), s.certificate()))
    }

    /// The SAML side's metadata document (what `GET saml/metadata` serves), when it is configured.
    pub fn saml_metadata(&self) -> Option<&str> {
        self.inner.saml.as_ref().map(|s| s.metadata_xml())
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

    /// The registered client `id`, if any.
    fn client(&self, id: &str) -> Option<Registered<'_>> {
        let c = &self.config;
        let main = Registered { id: &c.client_id, secret: &c.client_secret, redirect_uris: &c.redirect_uris };
        let others = c.other_clients.iter().map(|o| Registered {
            id: &o.client_id,
            secret: &o.client_secret,
            redirect_uris: &o.redirect_uris,
        });
        std::iter::once(main).chain(others).find(|r| r.id == id)
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
}
