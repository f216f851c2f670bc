//! Sign-in through a pool's OIDC identity provider, as Cognito's hosted UI does it:
//!
//! - The authorization request naming the provider (or its button on the page) sends the
//!   browser to the provider's authorization endpoint (configured, or from the discovery
//!   document at `oidc_issuer`) with `response_type=code`, the provider's `authorize_scopes`, a
//!   random `state` and `nonce`, PKCE S256 and `redirect_uri = <domain>/oauth2/idpresponse`.
//!   A pending record, named by the state's hash, keeps the authorization request, the provider
//!   and the nonce for ten minutes, bound to the browser as for SAML (the SHA-256 of the random
//!   binding its cookie holds). The PKCE verifier is kept nowhere: it is derived from the
//!   browser's binding and the state, so only that browser's callback can redeem the code.
//! - The callback (`GET /oauth2/idpresponse?code&state`, or `error=`): the pending record is
//!   checked and marked answered by one atomic update (of two callbacks with one state, one
//!   wins), the code redeemed at the provider's token endpoint with the client's credentials and
//!   the verifier, and the id token validated by the upstream validation `/auth/exchange` uses
//!   ([`UpstreamProvider::validate`]: the provider's JWKS, issuer, audience = the provider's
//!   `client_id`, times, algorithm allow-list), then its nonce compared with the one sent.
//!   UserInfo adds its claims when the provider has an endpoint for it.
//!
//! Then the identity (`sub`, the claims as attributes) signs in as the pool's federated (or
//! linked) user, and the sign-in ends as a password sign-in does.

use super::*;
use crate::excerpt::excerpt;
use crate::jose::{pkce_s256, sha256_hex};
use crate::model::Document;
use crate::secrets::{constant_time_eq, random_secret};
use crate::store::{Change, StoreError};
use crate::upstream::{Rejection, SubjectTokenType, UpstreamProvider};
use crate::userpool::{FederatedIdentity, IdentityProvider, ProviderType};
use std::collections::BTreeMap;

/// The callback of the pool's OIDC providers, under the domain.
pub const IDP_RESPONSE_PATH: &str = "/oauth2/idpresponse";
const KIND_PENDING: &str = "oidc_authorization_request";
/// The id token algorithms accepted from a pool's OIDC provider.
const ALGORITHMS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"];

/// The provider's answer at the callback.
#[derive(Debug, Clone, Default)]
pub struct IdpCallback {
    pub domain: String,
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// An authorization request at a provider, waiting for its answer.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct PendingRequest {
    pool_id: String,
    provider: String,
    request: AuthorizeRequest,
    /// SHA-256 of the browser's binding.
    binding_sha256: String,
    redirect_uri: String,
    nonce: String,
    expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answered_at: Option<i64>,
}

fn pending_id(state: &str) -> String {
    sha256_hex(format!("oidc authorization request|{state}").as_bytes())
}

/// How a state is named on trails: never the state itself.
fn state_label(state: &str) -> String {
    format!("state sha256:{}", &sha256_hex(state.as_bytes())[..12])
}

/// The PKCE verifier of the request `state` names, made in the browser holding `binding`.
fn verifier(binding: &str, state: &str) -> String {
    pkce_s256(&format!("tokenbridge oidc pkce verifier|{binding}|{state}"))
}

/// What marking a pending request answered came to.
enum Answer {
    First,
    Answered,
    OtherBrowser,
    Unknown,
}

/// The id token's (and UserInfo's) claims as provider attributes: strings as they are, other
/// scalars as text, arrays of scalars as several values, objects as JSON text.
fn attributes_of(claims: &Value) -> BTreeMap<String, Vec<String>> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        other => Some(other.to_string()),
    };
    let mut out = BTreeMap::new();
    if let Some(map) = claims.as_object() {
        for (k, v) in map {
            let values: Vec<String> = match v {
                Value::Array(items) => items.iter().filter_map(scalar).collect(),
                other => scalar(other).into_iter().collect(),
            };
            if !values.is_empty() {
                out.insert(k.clone(), values);
            }
        }
    }
    out
}

/// The configuration the upstream validation reads, for a pool's OIDC provider: its issuer,
/// its client id as the one audience, its endpoints when all are given (else discovery).
fn upstream_config(
    p: &IdentityProvider,
    client_secret: Option<String>,
) -> Result<crate::config::ProviderConfig, String> {
    let d = |k: &str| p.details.get(k).filter(|v| !v.is_empty()).cloned();
    let (authorize, token, jwks) = (d("authorize_url"), d("token_url"), d("jwks_uri"));
    let discovery = authorize.is_none() || token.is_none() || jwks.is_none();
    let config = json!({
        "name": p.name,
        "issuer": d("oidc_issuer").unwrap_or_default(),
        "discovery": discovery,
        "jwks_uri": jwks,
        "userinfo_endpoint": d("attributes_url"),
        "audiences": [d("client_id").unwrap_or_default()],
        "algorithms": ALGORITHMS,
        "link_to": "link",
        "login": {
            "authorization_endpoint": authorize.unwrap_or_default(),
            "token_endpoint": token.unwrap_or_default(),
            "client_id": d("client_id").unwrap_or_default(),
            "client_secret": client_secret,
            "scope": d("authorize_scopes").unwrap_or_default(),
        },
    });
    serde_json::from_value(config).map_err(|e| format!("provider {}: {e}", p.name))
}

impl HostedSignIn {
    /// The upstream validator of a pool's OIDC provider: made once per version of the provider
    /// (its JWKS and discovery cached with it).
    async fn oidc_upstream(&self, p: &IdentityProvider, call: &mut Call) -> Result<Arc<UpstreamProvider>, Refusal> {
        let key = format!("{}/{}/{}", p.pool_id, p.name, p.updated_at);
        if let Some(u) = self.oidc_providers.get(&key) {
            return Ok(u);
        }
        let secret = self.user_pools.oidc_client_secret(p)?;
        let made = upstream_config(p, secret).and_then(|c| {
            let http = self.kernel.upstreams.client_for_issuer(&c.issuer)?;
            UpstreamProvider::new(c, http).map_err(|e| e.to_string())
        });
        match made {
            Ok(u) => {
                let u = Arc::new(u);
                self.oidc_providers.insert(key, u.clone());
                Ok(u)
            }
            Err(e) => {
                Err(call.refuse(Reason::Unavailable, "identity provider", e, "Sign-in is unavailable for a moment."))
            }
        }
    }

    /// Starts sign-in at an OIDC `provider`: the pending record, and the provider's
    /// authorization URL for the browser to go to.
    pub(super) async fn oidc_start(
        &self,
        checked: &Checked,
        provider: &IdentityProvider,
        req: &AuthorizeRequest,
        browser: &Browser,
        call: &mut Call,
    ) -> Result<String, Refusal> {
        let (Some(binding), Some(base)) = (browser.binding.as_deref(), browser.domain_url.as_deref()) else {
            return Err(call.refuse(
                Reason::Unavailable,
                "oidc request",
                "no browser binding or domain URL to start the sign-in with",
                "Sign-in is unavailable for a moment.",
            ));
        };
        let upstream = self.oidc_upstream(provider, call).await?;
        let endpoint = match upstream.authorization_endpoint().await {
            Ok(u) => u,
            Err(r) => {
                return Err(call.refuse(Reason::Unavailable, r.check, r.detail, "Sign-in is unavailable for a moment."))
            }
        };
        let now = self.kernel.now();
        let (state, nonce) = (random_secret(), random_secret());
        let redirect_uri = format!("{base}{IDP_RESPONSE_PATH}");
        let pending = PendingRequest {
            pool_id: checked.pool.id.clone(),
            provider: provider.name.clone(),
            request: req.clone(),
            binding_sha256: sha256_hex(binding.as_bytes()),
            redirect_uri: redirect_uri.clone(),
            nonce: nonce.clone(),
            expires_at: now + PENDING_SECONDS,
            answered_at: None,
        };
        let doc = Document::new(KIND_PENDING, &pending_id(&state), &checked.pool.id, &pending, now, now)
            .expiring(pending.expires_at);
        // Insert-if-absent: a colliding state (256 random bits) is refused rather than overwritten.
        match self.kernel.store.insert_document(&doc).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(call.refuse(
                    Reason::Unavailable,
                    "oidc request",
                    format!("{} is pending already", state_label(&state)),
                    "Sign-in is unavailable for a moment.",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let client_id = provider.details.get("client_id").cloned().unwrap_or_default();
        let scope = provider.details.get("authorize_scopes").cloned().unwrap_or_default();
        call.trail.pass(
            "oidc request",
            format!(
                "authorization request to {} ({}, PKCE S256, nonce, scope {:?}), redirect_uri {redirect_uri}, its \
                 answer bound to this browser for {PENDING_SECONDS} s",
                excerpt(&endpoint),
                state_label(&state),
                excerpt(&scope)
            ),
        );
        let challenge = pkce_s256(&verifier(binding, &state));
        Ok(with_query(
            &endpoint,
            &[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", &redirect_uri),
                ("scope", &scope),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
    }

    /// `GET /oauth2/idpresponse`: the provider's code redeemed, its id token validated, the
    /// identity signed in as the pool's federated (or linked) user, a sign-in session and a
    /// code for the client.
    #[crate::entry_point]
    pub async fn oidc_response(
        &self,
        cb: &IdpCallback,
        browser: &Browser,
        ctx: &RequestContext,
    ) -> Result<SessionStarted, AuthorizeRefusal> {
        let params = json!({
            "domain": cb.domain,
            "state": cb.state.as_deref().map(state_label),
            "has_code": cb.code.is_some(),
            "error": cb.error.as_deref().map(excerpt),
            "has_browser_binding": browser.binding.is_some(),
        });
        let op = Operation::new("OidcResponse", ctx, params).source(EVENT_SOURCE);
        let mut told = Told { redirect: None, page: None };
        let decide = async |call: &mut Call| {
            let pool = self.domain_pool(&cb.domain, call).await?;
            let Some(state) = cb.state.as_deref().filter(|s| !s.is_empty()) else {
                return Err(call.refuse_plainly(Reason::InvalidRequest, "state", "state is missing"));
            };
            let pending = self.oidc_pending(&pool, state, browser, call).await?;
            let provider = self.oidc_provider(&pool, &pending.provider, call).await?;
            self.oidc_answer(&pool, state, browser, call).await?;
            if let Some(error) = cb.error.as_deref() {
                let description =
                    cb.error_description.as_deref().map(|d| format!(" ({})", excerpt(d))).unwrap_or_default();
                return Err(call.refuse(
                    Reason::ProviderDeclined,
                    "provider answer",
                    format!("provider {} answered error={}{description}", provider.name, excerpt(error)),
                    "The identity provider did not sign you in.",
                ));
            }
            let Some(code) = cb.code.as_deref().filter(|c| !c.is_empty()) else {
                return Err(call.refuse_plainly(Reason::InvalidRequest, "code", "the provider's answer has no code"));
            };
            let binding = browser.binding.as_deref().unwrap_or_default();
            let (claims, issuer) =
                self.redeem_at_provider(&provider, &pending, code, &verifier(binding, state), call).await?;
            let checked = self.check_request(&pending.request, &mut told.redirect, call).await?;
            if checked.federate.as_ref().is_none_or(|p| p.name != provider.name) {
                return Err(call.refuse_plainly(
                    Reason::InvalidRequest,
                    "identity provider",
                    format!("the authorization request does not name provider {}", provider.name),
                ));
            }
            let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
            let identity = FederatedIdentity {
                provider: provider.name.clone(),
                provider_type: ProviderType::Oidc,
                subject,
                issuer: Some(issuer),
                attributes: attributes_of(&claims),
            };
            let (user, _) = self.user_pools.sign_in_federated(&pool.id, &identity, call).await?;
            let by = SignInStep::new(ctx, "OidcResponse");
            self.signed_in(&checked, &user, pending.request.state.as_deref(), by, call).await
        };
        self.kernel.run(op, decide, session_answer).await.map_err(|refusal| told.refuse(refusal))
    }

    /// The code redeemed at the provider and its id token validated (the nonce the one sent);
    /// UserInfo's claims added when the provider has the endpoint. Returns the claims and the
    /// provider's issuer.
    async fn redeem_at_provider(
        &self,
        provider: &IdentityProvider,
        pending: &PendingRequest,
        code: &str,
        verifier: &str,
        call: &mut Call,
    ) -> Result<(Value, String), Refusal> {
        let upstream = self.oidc_upstream(provider, call).await?;
        let client_id = provider.details.get("client_id").cloned().unwrap_or_default();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending.redirect_uri.as_str()),
            ("code_verifier", verifier),
            ("client_id", client_id.as_str()),
        ];
        let answer = match upstream.token_request(&form).await {
            Ok(a) => a,
            Err(e) => {
                return Err(call.refuse(
                    Reason::Unavailable,
                    "token endpoint",
                    e,
                    "Sign-in is unavailable for a moment.",
                ))
            }
        };
        let body = answer.body.unwrap_or(Value::Null);
        if answer.status != 200 {
            let error = body.get("error").and_then(Value::as_str).map(excerpt).unwrap_or_else(|| "(none)".into());
            return Err(call.refuse(
                Reason::IdTokenRejected,
                "token endpoint",
                format!(
                    "provider {}'s token endpoint refused the code: HTTP {} error={error}",
                    provider.name, answer.status
                ),
                "The identity provider's answer was refused.",
            ));
        }
        call.trail.pass("token endpoint", format!("provider {} redeemed the code (PKCE S256)", provider.name));
        let Some(id_token) = body.get("id_token").and_then(Value::as_str) else {
            return Err(call.refuse(
                Reason::IdTokenRejected,
                "id token",
                format!("provider {}'s token response has no id_token", provider.name),
                "The identity provider's answer was refused.",
            ));
        };
        let now = self.kernel.now();
        let identity = match upstream.validate(id_token, SubjectTokenType::IdToken, now, &mut call.trail).await {
            Ok(i) => i,
            Err(r) => return Err(rejected(call, r)),
        };
        let nonce = identity.claims.get("nonce").and_then(Value::as_str);
        match nonce {
            Some(n) if constant_time_eq(n.as_bytes(), pending.nonce.as_bytes()) => {
                call.trail.pass("nonce", "id token nonce = the one sent")
            }
            Some(_) => {
                return Err(call.refuse(
                    Reason::IdTokenRejected,
                    "nonce",
                    "id token nonce ≠ the one sent",
                    "The identity provider's answer was refused.",
                ))
            }
            None => {
                return Err(call.refuse(
                    Reason::IdTokenRejected,
                    "nonce",
                    "id token has no nonce; the one sent must come back",
                    "The identity provider's answer was refused.",
                ))
            }
        }
        if !self.kernel.store.insert_replay_marker(&identity.replay_key.hash, identity.expires_at, now).await? {
            return Err(call.refuse(
                Reason::IdTokenRejected,
                "replay",
                format!("id token {} was used before", identity.replay_key.label()),
                "The identity provider's answer was refused.",
            ));
        }
        call.trail.pass("replay", format!("id token {} used once", identity.replay_key.label()));
        let mut claims = identity.claims.clone();
        let access_token = body.get("access_token").and_then(Value::as_str);
        let wants = provider.details.contains_key("attributes_url") || upstream.config.discovery;
        if let (Some(token), true) = (access_token, wants) {
            let post = provider.details.get("attributes_request_method").is_some_and(|m| m == "POST");
            match upstream.userinfo_claims(token, post).await {
                Ok(Value::Object(extra)) => {
                    let sub = claims.get("sub").cloned();
                    if extra.get("sub").is_some_and(|s| Some(s) != sub.as_ref()) {
                        return Err(call.refuse(
                            Reason::IdTokenRejected,
                            "userinfo",
                            "UserInfo names another sub than the id token",
                            "The identity provider's answer was refused.",
                        ));
                    }
                    let obj = claims.as_object_mut().expect("claims are an object");
                    let mut added = Vec::new();
                    for (k, v) in extra {
                        if !obj.contains_key(&k) {
                            added.push(k.clone());
                            obj.insert(k, v);
                        }
                    }
                    call.trail.pass(
                        "userinfo",
                        format!("UserInfo ({}) added {}", if post { "POST" } else { "GET" }, added.len()),
                    );
                }
                Ok(_) => call.trail.skip("userinfo", "UserInfo did not answer an object; the id token's claims only"),
                Err(r) if r.check == "userinfo" && r.detail.contains("has no UserInfo endpoint") => {
                    call.trail.skip("userinfo", "the provider has no UserInfo endpoint")
                }
                Err(r) => return Err(rejected(call, r)),
            }
        }
        Ok((claims, identity.issuer))
    }

    /// The pending request `state` names: of this pool, unanswered, unexpired, and made in this
    /// browser.
    async fn oidc_pending(
        &self,
        pool: &UserPool,
        state: &str,
        browser: &Browser,
        call: &mut Call,
    ) -> Result<PendingRequest, Refusal> {
        let label = state_label(state);
        let found = match self.kernel.store.get_document(KIND_PENDING, &pending_id(state)).await? {
            Some(d) => serde_json::from_value::<PendingRequest>(d.body)
                .map_err(|e| Refusal::storage(format!("stored OIDC request is malformed: {e}")))?,
            None => {
                return Err(unknown(call, format!("{label} unknown or already answered (no such pending request)")))
            }
        };
        if found.pool_id != pool.id {
            return Err(unknown(call, format!("{label} unknown or already answered (it is another pool's)")));
        }
        if let Some(at) = found.answered_at {
            return Err(unknown(call, format!("{label} unknown or already answered (answered at {at})")));
        }
        if found.expires_at <= self.kernel.now() {
            return Err(unknown(call, format!("{label} expired at {}", found.expires_at)));
        }
        let ours = browser
            .binding
            .as_deref()
            .is_some_and(|b| constant_time_eq(sha256_hex(b.as_bytes()).as_bytes(), found.binding_sha256.as_bytes()));
        if !ours {
            return Err(unknown(
                call,
                format!("{label} was made in another browser (its binding cookie is absent or different)"),
            ));
        }
        call.trail.pass("pending request", format!("{label} of this browser, to provider {}", found.provider));
        Ok(found)
    }

    /// Marks the pending request answered, in one atomic update of its record as it stands: of
    /// two callbacks with one state, one marks it and the other is refused.
    async fn oidc_answer(
        &self,
        pool: &UserPool,
        state: &str,
        browser: &Browser,
        call: &mut Call,
    ) -> Result<(), Refusal> {
        let now = self.kernel.now();
        let binding = browser.binding.as_deref().map(|b| sha256_hex(b.as_bytes()));
        let pool_id = pool.id.clone();
        let answer = self
            .kernel
            .store
            .update_record::<PendingRequest, _>(KIND_PENDING, &pending_id(state), &pool_id, now, |p| match p {
                None => (Change::Keep, Answer::Unknown),
                Some(p) if p.answered_at.is_some() => (Change::Keep, Answer::Answered),
                Some(p)
                    if !binding
                        .as_deref()
                        .is_some_and(|b| constant_time_eq(b.as_bytes(), p.binding_sha256.as_bytes())) =>
                {
                    (Change::Keep, Answer::OtherBrowser)
                }
                Some(mut p) => {
                    p.answered_at = Some(now);
                    (Change::Put(p), Answer::First)
                }
            })
            .await?;
        let label = state_label(state);
        let detail = match answer {
            Answer::First => {
                call.trail.pass("state", format!("{label} answered now, once"));
                return Ok(());
            }
            Answer::Answered => format!("{label} unknown or already answered (another callback answered it first)"),
            Answer::OtherBrowser => format!("{label} was made in another browser"),
            Answer::Unknown => format!("{label} unknown or already answered (the pending request is gone)"),
        };
        Err(unknown(call, detail))
    }

    /// The pool's OIDC provider `name`.
    async fn oidc_provider(&self, pool: &UserPool, name: &str, call: &mut Call) -> Result<IdentityProvider, Refusal> {
        match self.user_pools.provider(&pool.id, name).await? {
            Some(p) if p.provider_type == ProviderType::Oidc => {
                call.trail.pass("identity provider", format!("OIDC provider {name} of pool {}", pool.id));
                Ok(p)
            }
            _ => Err(call.refuse_plainly(
                Reason::NotFound,
                "identity provider",
                format!("{} is not an OIDC identity provider of pool {}", excerpt(name), pool.id),
            )),
        }
    }
}

fn unknown(call: &mut Call, detail: String) -> Refusal {
    call.refuse(
        Reason::OidcStateUnknown,
        "state",
        detail,
        "This sign-in was not started in this browser, or it is finished or expired: sign in again.",
    )
}

/// The upstream validation's refusal, as the hosted sign-in's.
fn rejected(call: &mut Call, r: Rejection) -> Refusal {
    if r.reason == Reason::Unavailable {
        return call.refuse(Reason::Unavailable, r.check, r.detail, "Sign-in is unavailable for a moment.");
    }
    call.refuse(Reason::IdTokenRejected, r.check, r.detail, "The identity provider's answer was refused.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_become_attributes() {
        let a =
            attributes_of(&json!({"sub": "s", "email_verified": true, "groups": ["a", "b"], "n": null, "o": {"x": 1}}));
        assert_eq!(a["sub"], vec!["s"]);
        assert_eq!(a["email_verified"], vec!["true"]);
        assert_eq!(a["groups"], vec!["a", "b"]);
        assert_eq!(a["o"], vec![r#"{"x":1}"#]);
        assert!(!a.contains_key("n"));
    }

    #[test]
    fn the_verifier_needs_the_browser_and_the_state() {
        let v = verifier("binding", "state");
        assert_eq!(v.len(), 43);
        assert_ne!(v, verifier("other", "state"));
        assert_ne!(v, verifier("binding", "other"));
    }
}
