//! Upstream providers: validating the tokens of outside OAuth/OIDC issuers.
//!
//! JWTs (id tokens, JWT access tokens) are checked against the provider's JWKS, cached per
//! provider: refetched on an unknown `kid` at most every [`REFETCH_INTERVAL`] seconds, and kept
//! when the provider is down. Opaque access tokens are checked through the provider's UserInfo
//! endpoint (Salesforce style) or RFC 7662 introspection, with a bounded timeout, a per-provider
//! budget of calls, and a short memory of the tokens the provider refused.
//!
//! Every token has one accepted spelling and a [`ReplayKey`] naming what it is, not how it is
//! written: one-time use and the refusal memory are keyed on it.

use crate::claim_expressions::Expression;
use crate::config::ProviderConfig;
use crate::jose::{looks_like_jwe, looks_like_jwt, sha256_hex, JwkSet, UnverifiedJwt, VerifyingKey};
use crate::refusal::Reason;
use crate::trail::Trail;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Mutex;

mod login;
mod outbound;
mod settings;
pub use login::TokenEndpointAnswer;
pub use settings::{check_upstream_url, is_loopback, validate_config};

/// The client every outbound call of this server is made with (no redirects followed, a bounded
/// connect), for other domains that fetch a document from a provider (a SAML IdP's metadata).
pub(crate) fn outbound_client() -> reqwest::ClientBuilder {
    outbound::client()
}

/// Minimum seconds between JWKS refetches caused by unknown `kid`s.
pub const REFETCH_INTERVAL: i64 = 10;
/// A fetched JWKS is refreshed in the foreground once older than this.
pub const JWKS_MAX_AGE: i64 = 3600;
/// The longest upstream token accepted. Larger ones are refused before any parsing or outbound
/// call (common proxies refuse headers this large anyway: nginx's default buffer is 8 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// RFC 8693 §3 token type URIs.
pub const TT_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const TT_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TT_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const TT_REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectTokenType {
    IdToken,
    AccessToken,
    Jwt,
    /// `/auth/exchange` does not say; the token's shape decides.
    Unspecified,
}

impl SubjectTokenType {
    pub fn parse(uri: &str) -> Option<Self> {
        match uri {
            TT_ID_TOKEN => Some(Self::IdToken),
            TT_ACCESS_TOKEN => Some(Self::AccessToken),
            TT_JWT => Some(Self::Jwt),
            _ => None,
        }
    }
}

/// Why an upstream token was refused: the reason, the check, and the detail.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub reason: Reason,
    pub check: &'static str,
    pub detail: String,
}

fn reject(check: &'static str, detail: impl Into<String>) -> Rejection {
    Rejection { reason: Reason::InvalidGrant, check, detail: detail.into() }
}

fn unavailable(check: &'static str, detail: impl Into<String>) -> Rejection {
    Rejection { reason: Reason::Unavailable, check, detail: detail.into() }
}

/// A validated upstream identity.
#[derive(Debug, Clone)]
pub struct UpstreamIdentity {
    pub provider: String,
    pub issuer: String,
    /// The token's claims (JWT) or the UserInfo / introspection answer (opaque).
    pub claims: Value,
    /// Attributes produced by the provider's CEL mappings.
    pub attributes: Map<String, Value>,
    /// `id_token`, `access_token (jwt)`, `access_token (opaque)`.
    pub kind: &'static str,
    /// When the upstream token stops being valid (its `exp`, or the configured bound for opaque tokens).
    pub expires_at: i64,
    /// What the token is, for one-time use and audit.
    pub replay_key: ReplayKey,
}

/// What makes an upstream token the same token whatever its spelling: the provider's issuer and
/// the token's `jti`; without a `jti`, the signed header and payload (not the signature: an
/// ECDSA signature `(r, s)` has a twin `(r, n - s)` that verifies too); for an opaque token,
/// the token with its padding dropped and its base64 alphabet folded to base64url (a lenient
/// provider may take `abc`, `abc=` and `ab+` for `abc`, `abc`, `ab-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayKey {
    /// What the key is made of: `iss + jti`, `signed header and payload`, `opaque token`.
    pub basis: &'static str,
    /// SHA-256 (hex) of the basis; the token itself is never kept.
    pub hash: String,
}

impl ReplayKey {
    fn new(basis: &'static str, issuer: &str, value: &str) -> Self {
        Self { basis, hash: sha256_hex(format!("tokenbridge replay v1\n{basis}\n{issuer}\n{value}").as_bytes()) }
    }

    /// The key of a JWT of the provider whose issuer is `issuer` (aliases are the same issuer).
    pub fn of_jwt(issuer: &str, jwt: &UnverifiedJwt) -> Self {
        match jwt.claims.get("jti") {
            Some(Value::String(j)) if !j.is_empty() => Self::new("iss + jti", issuer, j),
            Some(Value::Number(n)) => Self::new("iss + jti", issuer, &n.to_string()),
            _ => Self::new("signed header and payload", issuer, jwt.signing_input()),
        }
    }

    /// The key of an opaque token already checked by [`opaque_token_syntax`].
    pub fn of_opaque(issuer: &str, token: &str) -> Self {
        let folded: String = token
            .trim_end_matches('=')
            .chars()
            .map(|c| {
                if c == '+' {
                    '-'
                } else if c == '/' {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        Self::new("opaque token", issuer, &folded)
    }

    /// How audit records and errors name the key: `iss + jti sha256:0123456789abcdef`.
    pub fn label(&self) -> String {
        format!("{} sha256:{}", self.basis, &self.hash[..16])
    }
}

/// One opaque token has one spelling: no whitespace around or inside it, and only the RFC 6750
/// `b64token` characters (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding at the end), plus `!`,
/// which Salesforce access tokens carry. `Err` says what is wrong (never the token).
pub fn opaque_token_syntax(token: &str) -> Result<(), String> {
    if token.trim() != token {
        return Err("the opaque token has whitespace around it".into());
    }
    let body = token.trim_end_matches('=');
    if body.is_empty() {
        return Err("the opaque token is empty".into());
    }
    match body.bytes().position(|b| !(b.is_ascii_alphanumeric() || b"-._~+/!".contains(&b))) {
        Some(i) => Err(format!(
            "the opaque token has a character outside the RFC 6750 token alphabet (A-Z a-z 0-9 - . _ ~ + / !, \
             then = padding) at position {}",
            i + 1
        )),
        None => Ok(()),
    }
}

impl UpstreamIdentity {
    /// A mapped attribute if the mappings define it, else the raw claim.
    pub fn value_of(&self, name: &str) -> Option<&Value> {
        self.attributes.get(name).or_else(|| self.claims.get(name))
    }
}

#[derive(Debug, Default, Clone)]
struct Endpoints {
    jwks_uri: Option<String>,
    userinfo: Option<String>,
    introspection: Option<String>,
    /// Where a browser signs in, and where its code is redeemed (`[providers.login]`, or the
    /// discovery document when those are left empty).
    authorization: Option<String>,
    token: Option<String>,
}

#[derive(Default)]
struct JwksState {
    keys: HashMap<String, Arc<VerifyingKey>>,
    /// Keys without a `kid`, tried in order for tokens without one.
    unnamed: Vec<Arc<VerifyingKey>>,
    fetched_at: i64,
    loaded: bool,
}

pub struct UpstreamProvider {
    pub config: ProviderConfig,
    condition: Option<Expression>,
    /// Opaque tokens the provider refused, by replay key: when, and what it said.
    refused: Option<moka::sync::Cache<String, Refused>>,
    /// Calls left for UserInfo / introspection (a token bucket on the engine's clock).
    budget: std::sync::Mutex<Budget>,
    mappings: Vec<(String, Expression)>,
    http: reqwest::Client,
    endpoints: RwLock<Option<Endpoints>>,
    discovery_lock: Mutex<()>,
    jwks: RwLock<Arc<JwksState>>,
    jwks_lock: Mutex<()>,
    last_refetch: AtomicI64,
}

#[derive(Debug, Clone)]
struct Refused {
    at: i64,
    check: &'static str,
    detail: String,
}

/// A token bucket of outbound calls: `burst` at most, refilled `per_second` each second.
#[derive(Debug, Default)]
struct Budget {
    spent: u64,
    updated: Option<i64>,
}

impl Budget {
    fn take(&mut self, now: i64, per_second: u32, burst: u32) -> bool {
        let elapsed = self.updated.map_or(0, |t| now.saturating_sub(t).max(0)) as u64;
        self.spent = self.spent.saturating_sub(elapsed.saturating_mul(per_second as u64));
        self.updated = Some(self.updated.map_or(now, |t| t.max(now)));
        if self.spent < burst as u64 {
            self.spent += 1;
            true
        } else {
            false
        }
    }
}

impl std::fmt::Debug for UpstreamProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamProvider").field("name", &self.config.name).finish()
    }
}

fn jwks_from(set: JwkSet, fetched_at: i64) -> JwksState {
    let mut state = JwksState { fetched_at, loaded: true, ..Default::default() };
    for jwk in &set.keys {
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        match VerifyingKey::from_jwk(jwk) {
            Ok(k) => {
                let k = Arc::new(k);
                match &jwk.kid {
                    Some(kid) => {
                        state.keys.insert(kid.clone(), k);
                    }
                    None => state.unnamed.push(k),
                }
            }
            Err(e) => tracing::warn!(kid = ?jwk.kid, error = %e, "skipping unusable upstream JWK"),
        }
    }
    state
}

impl UpstreamProvider {
    /// Compiles conditions and mappings and loads a static JWKS file; no network.
    pub fn new(config: ProviderConfig, http: reqwest::Client) -> anyhow::Result<Self> {
        let condition = config.condition.as_deref().map(Expression::compile).transpose().map_err(anyhow::Error::msg)?;
        let mappings = config
            .mappings
            .iter()
            .map(|(k, v)| Expression::compile(v).map(|e| (k.clone(), e)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        let mut jwks = JwksState::default();
        if let Some(path) = &config.jwks_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("providers.{}.jwks_file: {e}", config.name))?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("providers.{}.jwks_file: not a JWKS: {e}", config.name))?;
            jwks = jwks_from(set, i64::MAX / 2);
        }
        let limits = &config.opaque_checks;
        let refused = (limits.refusal_cache_seconds > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(limits.refusal_cache_entries)
                .time_to_live(Duration::from_secs(limits.refusal_cache_seconds as u64))
                .build()
        });
        let endpoints = (!config.discovery).then(|| Endpoints {
            jwks_uri: config.jwks_uri.clone(),
            userinfo: config.userinfo_endpoint.clone(),
            introspection: config.introspection_endpoint.clone(),
            authorization: config.login.as_ref().map(|l| l.authorization_endpoint.clone()).filter(|u| !u.is_empty()),
            token: config.login.as_ref().map(|l| l.token_endpoint.clone()).filter(|u| !u.is_empty()),
        });
        Ok(Self {
            condition,
            refused,
            budget: std::sync::Mutex::new(Budget::default()),
            mappings,
            http,
            endpoints: RwLock::new(endpoints),
            discovery_lock: Mutex::new(()),
            jwks: RwLock::new(Arc::new(jwks)),
            jwks_lock: Mutex::new(()),
            last_refetch: AtomicI64::new(i64::MIN / 2),
            config,
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms)
    }

    async fn endpoints(&self) -> Result<Endpoints, Rejection> {
        if let Some(e) = self.endpoints.read().expect("endpoints lock").clone() {
            return Ok(e);
        }
        let _guard = self.discovery_lock.lock().await;
        if let Some(e) = self.endpoints.read().expect("endpoints lock").clone() {
            return Ok(e);
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
        let doc: Value = self
            .get_json(&url, None)
            .await
            .map_err(|d| unavailable("discovery", format!("provider {:?}: {d}", self.config.name)))?;
        if doc.get("issuer").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
            return Err(unavailable(
                "discovery",
                format!(
                    "provider {:?}: discovery document names issuer {:?}, configured {:?}",
                    self.config.name,
                    doc.get("issuer"),
                    self.config.issuer
                ),
            ));
        }
        let login_url = |f: fn(&crate::config::ProviderLogin) -> &String| {
            self.config.login.as_ref().map(f).filter(|u| !u.is_empty()).cloned()
        };
        let pick = |configured: &Option<String>, key: &str| -> Result<Option<String>, Rejection> {
            let v = configured.clone().or_else(|| doc.get(key).and_then(Value::as_str).map(str::to_string));
            if let Some(u) = &v {
                check_upstream_url(u).map_err(|r| unavailable("discovery", format!("{key} {u:?} {r}")))?;
            }
            Ok(v)
        };
        let e = Endpoints {
            jwks_uri: pick(&self.config.jwks_uri, "jwks_uri")?,
            userinfo: pick(&self.config.userinfo_endpoint, "userinfo_endpoint")?,
            introspection: pick(&self.config.introspection_endpoint, "introspection_endpoint")?,
            authorization: pick(&login_url(|l| &l.authorization_endpoint), "authorization_endpoint")?,
            token: pick(&login_url(|l| &l.token_endpoint), "token_endpoint")?,
        };
        *self.endpoints.write().expect("endpoints lock") = Some(e.clone());
        Ok(e)
    }

    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<Value, String> {
        let mut req = self.http.get(url).timeout(self.timeout());
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.map_err(|e| describe_http_error(url, &e, self.config.timeout_ms))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("{} answered HTTP {}", host_of(url), status.as_u16()));
        }
        resp.json().await.map_err(|_| format!("{} did not answer JSON", host_of(url)))
    }

    async fn fetch_jwks(&self, now: i64) -> Result<(), String> {
        let endpoints = self.endpoints().await.map_err(|r| r.detail)?;
        let Some(url) = endpoints.jwks_uri else {
            return Err("provider has no jwks_uri".into());
        };
        let doc = self.get_json(&url, None).await?;
        let set: JwkSet = serde_json::from_value(doc).map_err(|_| format!("{} is not a JWKS", host_of(&url)))?;
        *self.jwks.write().expect("jwks lock") = Arc::new(jwks_from(set, now));
        Ok(())
    }

    /// Finds the key for a token, refetching the JWKS on a miss (rate-limited).
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: &str,
        now: i64,
        trail: &mut Trail,
    ) -> Result<Arc<VerifyingKey>, Rejection> {
        let static_keys = self.config.jwks_file.is_some();
        let lookup = |s: &JwksState| -> Option<Arc<VerifyingKey>> {
            match kid {
                Some(k) => s.keys.get(k).cloned(),
                None => s.keys.values().chain(s.unnamed.iter()).find(|k| k.supports(alg)).cloned(),
            }
        };
        let snap = self.jwks.read().expect("jwks lock").clone();
        let stale = snap.loaded && !static_keys && now - snap.fetched_at > JWKS_MAX_AGE;
        if let (Some(k), false) = (lookup(&snap), stale) {
            metrics::counter!("tokenbridge_jwks_cache_total", "provider" => self.config.name.clone(), "result" => "hit").increment(1);
            return Ok(k);
        }
        if static_keys {
            return Err(reject(
                "key",
                format!(
                    "signing key kid {} is not in provider {:?}'s static JWKS",
                    kid.unwrap_or("(none)"),
                    self.config.name
                ),
            ));
        }
        // Miss, first load, or stale: refetch, at most once per interval unless nothing is loaded.
        let _guard = self.jwks_lock.lock().await;
        let snap = self.jwks.read().expect("jwks lock").clone();
        if snap.fetched_at > now - REFETCH_INTERVAL && snap.loaded {
            if let Some(k) = lookup(&snap) {
                return Ok(k);
            }
        }
        let last = self.last_refetch.load(Ordering::Relaxed);
        // A stale cache is refetched under the same rate limit: if the provider is down, serve from cache.
        if !snap.loaded || now - last >= REFETCH_INTERVAL {
            self.last_refetch.store(now, Ordering::Relaxed);
            metrics::counter!("tokenbridge_jwks_cache_total", "provider" => self.config.name.clone(), "result" => "fetch").increment(1);
            if let Err(e) = self.fetch_jwks(now).await {
                let snap = self.jwks.read().expect("jwks lock").clone();
                if !snap.loaded {
                    return Err(unavailable(
                        "jwks",
                        format!("could not fetch provider {:?}'s JWKS: {e}", self.config.name),
                    ));
                }
                trail.skip("jwks", format!("refetch failed ({e}); using the cached JWKS"));
            }
        }
        let snap = self.jwks.read().expect("jwks lock").clone();
        lookup(&snap).ok_or_else(|| {
            reject(
                "key",
                format!("signing key kid {} is not in provider {:?}'s JWKS", kid.unwrap_or("(none)"), self.config.name),
            )
        })
    }

    /// Validates an upstream token and applies the provider's condition and mappings.
    #[crate::entry_point]
    pub async fn validate(
        &self,
        token: &str,
        declared: SubjectTokenType,
        now: i64,
        trail: &mut Trail,
    ) -> Result<UpstreamIdentity, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(reject(
                "format",
                format!("the token is {} bytes long; at most {MAX_TOKEN_BYTES} are accepted", token.len()),
            ));
        }
        if looks_like_jwe(token) {
            return Err(reject(
                "format",
                "the token is encrypted (JWE, five segments); only signed JWTs (JWS) are accepted",
            ));
        }
        let mut id = if looks_like_jwt(token) {
            self.validate_jwt(token, declared, now, trail).await?
        } else {
            if declared == SubjectTokenType::IdToken || declared == SubjectTokenType::Jwt {
                return Err(reject("format", "subject_token_type says JWT but the token is not a JWT"));
            }
            opaque_token_syntax(token).map_err(|e| reject("format", e))?;
            trail.pass("format", "opaque access token");
            self.validate_opaque(token, now, trail).await?
        };
        if let Some(cond) = &self.condition {
            match cond.check(&id.claims) {
                Ok(true) => trail.pass("condition", format!("`{}` is true", cond.source())),
                Ok(false) => {
                    return Err(reject(
                        "condition",
                        format!("claim condition `{}` is false for this token", cond.source()),
                    ))
                }
                Err(e) => {
                    return Err(reject(
                        "condition",
                        format!("claim condition `{}` could not be evaluated: {e}", cond.source()),
                    ))
                }
            }
        }
        for (name, expr) in &self.mappings {
            match expr.map(&id.claims) {
                Ok(v) => {
                    id.attributes.insert(name.clone(), v);
                }
                Err(e) => return Err(reject("mapping", format!("mapping {name} = `{}` failed: {e}", expr.source()))),
            }
        }
        if !self.mappings.is_empty() {
            trail.pass(
                "mapping",
                format!("mapped {}", self.mappings.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")),
            );
        }
        Ok(id)
    }

    async fn validate_jwt(
        &self,
        token: &str,
        declared: SubjectTokenType,
        now: i64,
        trail: &mut Trail,
    ) -> Result<UpstreamIdentity, Rejection> {
        let jwt = UnverifiedJwt::parse(token).map_err(|e| reject(e.check, e.detail))?;
        let alg = jwt.header.alg.as_str();
        if alg.eq_ignore_ascii_case("none") {
            return Err(reject("algorithm", "unsigned tokens (alg \"none\") are never accepted"));
        }
        if !self.config.algorithms.iter().any(|a| a == alg) {
            return Err(reject(
                "algorithm",
                format!(
                    "algorithm {alg} is not allowed for provider {:?} (allowed: {})",
                    self.config.name,
                    self.config.algorithms.join(", ")
                ),
            ));
        }
        trail.pass("algorithm", format!("{alg} is allowed"));
        let ignored = jwt.header.ignored_key_sources();
        if !ignored.is_empty() {
            trail.skip(
                "key source",
                format!("header members {} ignored; keys come only from the provider's JWKS", ignored.join(", ")),
            );
        }
        let key = self.key_for(jwt.header.kid.as_deref(), alg, now, trail).await?;
        if !key.supports(alg) {
            return Err(reject(
                "key",
                format!("key {} ({}) cannot verify {alg}", key.kid.as_deref().unwrap_or("?"), key.kty),
            ));
        }
        key.verify(&jwt).map_err(|e| {
            reject(
                "signature",
                format!("{e} with provider {:?}'s key {}", self.config.name, key.kid.as_deref().unwrap_or("(no kid)")),
            )
        })?;
        trail.pass("signature", format!("{alg} with key {}", key.kid.as_deref().unwrap_or("(no kid)")));

        let iss = jwt.claim_str("iss").unwrap_or("");
        if !self.config.accepts_issuer(iss) {
            return Err(reject(
                "issuer",
                format!(
                    "upstream token issuer {iss:?} is not provider {:?}'s issuer {:?}",
                    self.config.name, self.config.issuer
                ),
            ));
        }
        trail.pass("issuer", iss.to_string());

        let auds = jwt.audiences();
        if self.config.audiences.is_empty() {
            return Err(reject(
                "audience",
                format!("provider {:?} accepts no audiences (set audiences)", self.config.name),
            ));
        }
        if !auds.iter().any(|a| self.config.audiences.contains(a)) {
            let shown = auds.first().cloned().unwrap_or_default();
            return Err(reject(
                "audience",
                format!("upstream token audience {shown:?} is not accepted by provider {:?}", self.config.name),
            ));
        }
        trail.pass("audience", format!("{:?}", auds));
        // OIDC Core §3.1.3.7: a token for several audiences must say which one it was issued to.
        if matches!(jwt.claims.get("aud"), Some(Value::Array(a)) if a.len() > 1) {
            match jwt.claim_str("azp") {
                Some(azp) if self.config.audiences.iter().any(|a| a == azp) => {
                    trail.pass("authorized party", format!("azp {azp:?}"))
                }
                Some(azp) => {
                    let name = &self.config.name;
                    return Err(reject(
                        "authorized party",
                        format!(
                            "upstream token has several audiences and azp {azp:?}, which is not an audience of \
                             provider {name:?}: it was issued to another client"
                        ),
                    ));
                }
                None => {
                    return Err(reject(
                        "authorized party",
                        "upstream token has several audiences but no azp naming the client it was issued to",
                    ))
                }
            }
        }

        // Times come from the token: the arithmetic saturates, so no value wraps or overflows.
        let leeway = self.config.leeway_seconds;
        let exp = jwt.claim_i64("exp").ok_or_else(|| reject("expiry", "upstream token has no exp"))?;
        if exp.saturating_add(leeway) <= now {
            return Err(reject("expiry", format!("upstream token expired {} s ago", now.saturating_sub(exp))));
        }
        if let Some(nbf) = jwt.claim_i64("nbf") {
            if nbf.saturating_sub(leeway) > now {
                return Err(reject(
                    "not before",
                    format!("upstream token is not valid for another {} s (nbf)", nbf.saturating_sub(now)),
                ));
            }
        }
        if let Some(iat) = jwt.claim_i64("iat") {
            if iat.saturating_sub(leeway) > now {
                return Err(reject(
                    "issued at",
                    format!("upstream token is issued {} s in the future (iat)", iat.saturating_sub(now)),
                ));
            }
            if let Some(max) = self.config.max_token_age_seconds {
                let born = jwt.claim_i64("auth_time").unwrap_or(iat).min(iat);
                let age = now.saturating_sub(born);
                if age > max.saturating_add(leeway) {
                    return Err(reject(
                        "max age",
                        format!(
                            "upstream token is {age} s old; provider {:?} accepts at most {max} s",
                            self.config.name
                        ),
                    ));
                }
            }
        } else if self.config.max_token_age_seconds.is_some() {
            return Err(reject("max age", "upstream token has no iat, so its age cannot be checked"));
        }
        trail.pass("lifetime", format!("expires in {} s", exp.saturating_sub(now)));

        match jwt.claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => trail.pass("subject", "sub present"),
            _ => {
                return Err(reject(
                    "subject",
                    "upstream token has no sub (a non-empty string naming the user at the provider)",
                ))
            }
        }

        let is_access = jwt.header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
            || jwt.claim_str("token_use") == Some("access");
        let is_id = !is_access
            && (jwt.claim_str("token_use") == Some("id")
                || jwt.claims.contains_key("nonce")
                || jwt.claims.contains_key("at_hash")
                || jwt.claims.contains_key("email")
                || jwt.claims.contains_key("auth_time"));
        let kind = match declared {
            SubjectTokenType::AccessToken if !is_access => {
                return Err(reject("token type", "an id token was presented as an access token"));
            }
            SubjectTokenType::IdToken if is_access => {
                return Err(reject("token type", "an access token was presented as an id token"));
            }
            _ if is_access => "access_token (jwt)",
            _ if is_id => "id_token",
            _ => "jwt",
        };
        trail.pass("token type", kind);

        let replay_key = ReplayKey::of_jwt(&self.config.issuer, &jwt);
        Ok(UpstreamIdentity {
            provider: self.config.name.clone(),
            issuer: self.config.issuer.clone(),
            claims: Value::Object(jwt.claims),
            attributes: Map::new(),
            kind,
            expires_at: exp,
            replay_key,
        })
    }

    /// Asks the provider about an opaque token, unless it refused the same token (by replay key)
    /// a short while ago, or this provider's budget of outbound calls is spent.
    async fn validate_opaque(&self, token: &str, now: i64, trail: &mut Trail) -> Result<UpstreamIdentity, Rejection> {
        let replay_key = ReplayKey::of_opaque(&self.config.issuer, token);
        let endpoints = self.endpoints().await?;
        let limits = &self.config.opaque_checks;
        if let Some(r) = self.refused.as_ref().and_then(|c| c.get(&replay_key.hash)) {
            let left = r.at.saturating_add(limits.refusal_cache_seconds).saturating_sub(now);
            if left > 0 {
                self.count_opaque_check("remembered refusal");
                return Err(reject(
                    r.check,
                    format!(
                        "provider {:?} refused this token {} s ago ({}); not asked again for {left} s",
                        self.config.name,
                        now.saturating_sub(r.at),
                        r.detail
                    ),
                ));
            }
        }
        let spent = !self.budget.lock().expect("budget lock").take(now, limits.per_second, limits.burst);
        if spent {
            self.count_opaque_check("budget spent");
            return Err(unavailable(
                "outbound budget",
                format!(
                    "outbound budget: provider {:?} takes at most {} UserInfo/introspection calls a second \
                     (burst {}) from this server, and they are spent; retry shortly",
                    self.config.name, limits.per_second, limits.burst
                ),
            ));
        }
        self.count_opaque_check("asked");
        let bound = now.saturating_add(self.config.opaque_token_ttl_seconds);
        let answer = if let Some(url) = &endpoints.introspection {
            self.introspect(url, token, now)
                .await
                .map(|(claims, exp)| (claims, exp.unwrap_or(bound).min(bound), "introspection"))
        } else if let Some(url) = &endpoints.userinfo {
            self.userinfo(url, token).await.map(|claims| (claims, bound, "userinfo"))
        } else {
            return Err(reject(
                "format",
                format!("provider {:?} has no UserInfo or introspection endpoint for opaque tokens", self.config.name),
            ));
        };
        let (claims, expires_at, via) = match answer {
            Ok(a) => a,
            Err(r) => {
                // Remembered only when the provider said no: an outage is not the token's fault.
                if let (Some(cache), Reason::InvalidGrant) = (&self.refused, r.reason) {
                    cache
                        .insert(replay_key.hash.clone(), Refused { at: now, check: r.check, detail: r.detail.clone() });
                }
                return Err(r);
            }
        };
        trail.pass(via, format!("provider {:?} vouched for the token", self.config.name));
        if let Some(iss) = claims.get("iss").and_then(Value::as_str) {
            if iss != self.config.issuer {
                return Err(reject("issuer", format!("{via} names issuer {iss:?}, not {:?}", self.config.issuer)));
            }
        }
        if claims.get("sub").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(reject(via, format!("{via} answer has no sub")));
        }
        Ok(UpstreamIdentity {
            provider: self.config.name.clone(),
            issuer: self.config.issuer.clone(),
            claims,
            attributes: Map::new(),
            kind: "access_token (opaque)",
            expires_at,
            replay_key,
        })
    }

    fn count_opaque_check(&self, result: &'static str) {
        let provider = self.config.name.clone();
        metrics::counter!("tokenbridge_upstream_opaque_checks_total", "provider" => provider, "result" => result)
            .increment(1);
    }

    async fn userinfo(&self, url: &str, token: &str) -> Result<Value, Rejection> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(token)
            .timeout(self.timeout())
            .send()
            .await
            .map_err(|e| unavailable("userinfo", describe_http_error(url, &e, self.config.timeout_ms)))?;
        let status = resp.status().as_u16();
        match status {
            200 => resp
                .json()
                .await
                .map_err(|_| unavailable("userinfo", format!("{} UserInfo did not answer JSON", host_of(url)))),
            401 | 403 => Err(reject("userinfo", format!("upstream UserInfo rejected the token (HTTP {status})"))),
            _ => Err(unavailable("userinfo", format!("upstream UserInfo at {} answered HTTP {status}", host_of(url)))),
        }
    }

    async fn introspect(&self, url: &str, token: &str, now: i64) -> Result<(Value, Option<i64>), Rejection> {
        let mut req =
            self.http.post(url).form(&[("token", token), ("token_type_hint", "access_token")]).timeout(self.timeout());
        if let Some(id) = &self.config.introspection_client_id {
            req = req.basic_auth(id, self.config.introspection_client_secret.as_deref());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| unavailable("introspection", describe_http_error(url, &e, self.config.timeout_ms)))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(unavailable(
                "introspection",
                format!("introspection at {} answered HTTP {status}", host_of(url)),
            ));
        }
        let body: Value =
            resp.json().await.map_err(|_| unavailable("introspection", "introspection did not answer JSON"))?;
        if body.get("active").and_then(Value::as_bool) != Some(true) {
            return Err(reject("introspection", "provider's introspection says the token is not active"));
        }
        let exp = body.get("exp").and_then(Value::as_i64);
        if exp.is_some_and(|e| e.saturating_add(self.config.leeway_seconds) <= now) {
            return Err(reject(
                "expiry",
                format!("upstream token expired {} s ago (introspection)", now.saturating_sub(exp.unwrap_or(now))),
            ));
        }
        Ok((body, exp))
    }
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| "upstream".into())
}

fn describe_http_error(url: &str, e: &reqwest::Error, timeout_ms: u64) -> String {
    if e.is_timeout() {
        format!("{} did not answer within {timeout_ms} ms", host_of(url))
    } else if e.is_connect() {
        format!("cannot connect to {}", host_of(url))
    } else {
        format!("request to {} failed", host_of(url))
    }
}

/// All configured providers, looked up by name or issuer.
#[derive(Debug, Default)]
pub struct UpstreamRegistry {
    providers: Vec<Arc<UpstreamProvider>>,
}

impl UpstreamRegistry {
    pub fn new(configs: &[ProviderConfig]) -> anyhow::Result<Self> {
        let http = outbound::client().build()?;
        let providers = configs
            .iter()
            .map(|c| {
                let http = match &c.ca_file {
                    Some(path) => outbound::client_trusting(path, &c.name)?,
                    None => http.clone(),
                };
                UpstreamProvider::new(c.clone(), http).map(Arc::new)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { providers })
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<UpstreamProvider>> {
        self.providers.iter().find(|p| p.config.name == name)
    }

    pub fn by_issuer(&self, iss: &str) -> Option<&Arc<UpstreamProvider>> {
        self.providers.iter().find(|p| p.config.accepts_issuer(iss))
    }

    /// The HTTP client for calls to issuer `iss` from elsewhere (a user pool's OIDC provider):
    /// the configured provider's of that issuer, so its `ca_file` is trusted there too; else
    /// the plain outbound client.
    pub(crate) fn client_for_issuer(&self, iss: &str) -> Result<reqwest::Client, String> {
        match self.by_issuer(iss) {
            Some(p) => Ok(p.http.clone()),
            None => outbound::client().build().map_err(|e| e.to_string()),
        }
    }

    pub fn all(&self) -> &[Arc<UpstreamProvider>] {
        &self.providers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opaque_token_has_one_spelling() {
        for ok in ["00D5g000004!AQ8AQ.x_y-z~1+2/3", "abc=", "abc=="] {
            assert_eq!(opaque_token_syntax(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            (" abc", "whitespace"),
            ("abc\n", "whitespace"),
            ("a bc", "position 2"),
            ("a=bc", "position 2"),
            ("abc%", "position 4"),
            ("abc\u{0}", "position 4"),
            ("ab\u{e9}", "position 3"),
            ("=", "empty"),
        ] {
            let e = opaque_token_syntax(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn replay_keys_name_the_token_not_its_spelling() {
        let k = |t: &str| ReplayKey::of_opaque("https://idp", t).hash;
        assert_eq!(k("ab-_c"), k("ab-_c="));
        assert_eq!(k("ab-_c"), k("ab+/c=="));
        assert_ne!(k("ab-_c"), k("ab-_d"));
        assert_ne!(k("abc"), ReplayKey::of_opaque("https://other", "abc").hash, "another issuer's token");
        let jwt = |claims: &str| {
            let b = |s: &str| crate::jose::b64url(s.as_bytes());
            UnverifiedJwt::parse(&format!("{}.{}.{}", b(r#"{"alg":"ES256"}"#), b(claims), b("sig"))).unwrap()
        };
        let with_jti = ReplayKey::of_jwt("https://idp", &jwt(r#"{"jti":"j1","iat":1}"#));
        assert_eq!(with_jti.basis, "iss + jti");
        assert_eq!(with_jti, ReplayKey::of_jwt("https://idp", &jwt(r#"{"jti":"j1","iat":2}"#)));
        let without = ReplayKey::of_jwt("https://idp", &jwt(r#"{"iat":1}"#));
        assert_eq!(without.basis, "signed header and payload");
        assert_ne!(without, ReplayKey::of_jwt("https://idp", &jwt(r#"{"iat":2}"#)));
        assert!(with_jti.label().starts_with("iss + jti sha256:") && with_jti.label().len() == 33);
    }

    #[test]
    fn the_outbound_budget_refills_with_time() {
        let mut b = Budget::default();
        assert!((0..3).all(|_| b.take(100, 2, 3)), "the burst");
        assert!(!b.take(100, 2, 3));
        assert!(b.take(101, 2, 3) && b.take(101, 2, 3), "two more a second later");
        assert!(!b.take(101, 2, 3));
        // A clock that steps back refills nothing; a long pause refills only the burst.
        assert!(!b.take(50, 2, 3));
        assert!((0..3).all(|_| b.take(10_000, 2, 3)));
        assert!(!b.take(10_000, 2, 3));
        assert!(!b.take(i64::MIN, 2, 3));
        assert!(b.take(i64::MAX, u32::MAX, 3), "no overflow at the edges");
    }
}
