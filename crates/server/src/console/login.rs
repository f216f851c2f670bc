//! Signing in at an upstream provider for the console: the authorization-code flow with PKCE
//! (RFC 6749 §4.1, RFC 7636) and an OpenID Connect nonce.
//!
//! The browser cannot hold the provider's client secret, so this server runs the flow. `start`
//! sends the browser to the provider with a fresh state, nonce and code verifier, kept sealed in
//! the `tb_console_login` cookie; `callback` checks the state, redeems the code and keeps the
//! outcome (the provider's tokens and each step, secrets masked) for `pickup` to hand to the page
//! once. The provider's tokens are not verified here: the page presents them to `/auth/exchange`
//! or as the CUSTOM_AUTH answer, where the broker checks them as any upstream token.

use super::cookies::{self, Cookie};
use super::sealing::{self, PENDING};
use super::steps::{excerpt, mask_tokens, masked, request_text, Step, BROWSER, TOKENBRIDGE, UPSTREAM};
use super::{Enabled, EVENT_SOURCE};
use crate::admin::not_found;
use crate::context::Ctx;
use crate::errors::{oauth_error_code, OAuthError};
use crate::oauth2::{rate_limit, refuse, Params};
use crate::serving::Transport;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::config::ProviderLogin;
use tokenbridge_core::jose::{pkce_s256, UnverifiedJwt};
use tokenbridge_core::secrets::{constant_time_eq, random_secret};
use tokenbridge_core::upstream::UpstreamProvider;
use tokenbridge_core::{Reason, Refusal, Trail};

/// Audit event names of the three requests.
const EVENT_START: &str = "ConsoleLogin";
const EVENT_CALLBACK: &str = "ConsoleCallback";
const EVENT_PICKUP: &str = "ConsoleUpstream";

/// How long a started sign-in may take at the provider (seconds).
const PENDING_TTL: i64 = 600;
/// How long the outcome waits for the page (seconds).
const OUTCOME_TTL: i64 = 120;

/// What the page does with the provider's token afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Method {
    /// The token answers the user pool's CUSTOM_AUTH challenge.
    CustomAuth,
    /// The token goes to `POST /auth/exchange`.
    Exchange,
}

impl Method {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "custom-auth" => Some(Self::CustomAuth),
            "exchange" => Some(Self::Exchange),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::CustomAuth => "custom-auth",
            Self::Exchange => "exchange",
        }
    }
}

/// A sign-in between `start` and `callback`, sealed in the login cookie.
#[derive(Serialize, Deserialize)]
struct Pending {
    provider: String,
    method: Method,
    state: String,
    nonce: String,
    code_verifier: String,
    exp: i64,
}

/// Sent on the provider's redirect back (a top-level GET from another site): SameSite=Lax.
fn pending_cookie(state: &AppState, transport: Transport) -> Cookie<'static> {
    Cookie { name: "tb_console_login", path: "/console", same_site: "Lax", secure: secure(state, transport) }
}

/// Read only by the page's own `POST /console/upstream`: SameSite=Strict.
fn outcome_cookie(state: &AppState, transport: Transport) -> Cookie<'static> {
    Cookie {
        name: "tb_console_upstream",
        path: "/console/upstream",
        same_site: "Strict",
        secure: secure(state, transport),
    }
}

/// Secure when the browser reaches this server over https: the request came over TLS, or the
/// public URL (a TLS-terminating proxy's) is https.
fn secure(state: &AppState, transport: Transport) -> bool {
    transport == Transport::Tls || state.engine.issuer().starts_with("https://")
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}/console/callback", state.engine.issuer())
}

/// The provider `name` and its login settings, if it has them.
fn provider_login<'a>(state: &'a AppState, name: &str) -> Option<(&'a UpstreamProvider, &'a ProviderLogin)> {
    let p = state.engine.upstream(name)?;
    Some((p.as_ref(), p.config.login.as_ref()?))
}

/// The authorization request's parameters; `shown` shortens the values that bind this sign-in.
fn authorization_params(
    login: &ProviderLogin,
    p: &Pending,
    redirect_uri: &str,
    shown: bool,
) -> Vec<(&'static str, String)> {
    let hide = |v: String| if shown { masked(&v) } else { v };
    vec![
        ("response_type", "code".into()),
        ("client_id", login.client_id.clone()),
        ("redirect_uri", redirect_uri.into()),
        ("scope", login.scope.clone()),
        ("state", hide(p.state.clone())),
        ("nonce", hide(p.nonce.clone())),
        ("code_challenge", hide(pkce_s256(&p.code_verifier))),
        ("code_challenge_method", "S256".into()),
    ]
}

fn no_store(resp: &mut Response) {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `GET /console/login/{provider}?method=custom-auth|exchange`: 302 to the provider's
/// authorization endpoint, with the pending sign-in sealed in a cookie.
pub(super) async fn start(
    _: Enabled,
    State(state): State<AppState>,
    ctx: Ctx,
    transport: Transport,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = ctx.recorded_as(EVENT_SOURCE, oauth_error_code);
    if let Err(e) = rate_limit(&state, EVENT_START, &ctx, None).await {
        return e.into_response();
    }
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(d) => return refuse(&state, EVENT_START, &ctx, d).await.into_response(),
    };
    let Some(method) = params.get("method").and_then(Method::parse) else {
        let d = Refusal::new(Reason::InvalidRequest, "method must be custom-auth or exchange");
        return refuse(&state, EVENT_START, &ctx, d).await.into_response();
    };
    let Some((_, login)) = provider_login(&state, &provider) else {
        let d = Refusal::new(
            Reason::InvalidRequest,
            format!("no provider {:?} with [providers.login] is configured", excerpt(&provider)),
        );
        state.engine.record_refusal(EVENT_START, &ctx, &d).await;
        return not_found(&d.message, &ctx.request_id);
    };
    let key = match sealing::pending_key(&state.engine).await {
        Ok(k) => k,
        Err(e) => return OAuthError::new(Refusal::storage(e), &ctx.request_id).into_response(),
    };
    let pending = Pending {
        provider,
        method,
        state: random_secret(),
        nonce: random_secret(),
        code_verifier: random_secret(),
        exp: state.engine.now() + PENDING_TTL,
    };
    // Checked at load: an absolute http(s) URL.
    let Ok(mut target) = url::Url::parse(&login.authorization_endpoint) else {
        let d = Refusal::new(Reason::Unavailable, "the provider's authorization_endpoint is not a URL");
        return refuse(&state, EVENT_START, &ctx, d).await.into_response();
    };
    target.query_pairs_mut().extend_pairs(authorization_params(login, &pending, &redirect_uri(&state), false));
    let cookie = pending_cookie(&state, transport).set(&sealing::seal(&key, PENDING, &pending), PENDING_TTL);
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(target.as_str()) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::SET_COOKIE, cookie);
    no_store(&mut resp);
    resp
}

/// `GET /console/callback?code=&state=` (or `?error=&error_description=&state=`): redeems the
/// code, keeps the outcome for the page, and sends the browser back to the console (303).
pub(super) async fn callback(
    _: Enabled,
    State(state): State<AppState>,
    ctx: Ctx,
    transport: Transport,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = ctx.recorded_as(EVENT_SOURCE, oauth_error_code);
    if let Err(e) = rate_limit(&state, EVENT_CALLBACK, &ctx, None).await {
        return e.into_response();
    }
    let pending_cookie = pending_cookie(&state, transport);
    let pending = match sealing::pending_key(&state.engine).await {
        Ok(key) => {
            cookies::read(&headers, pending_cookie.name).and_then(|c| sealing::open::<Pending>(&key, PENDING, &c))
        }
        Err(e) => return OAuthError::new(Refusal::storage(e), &ctx.request_id).into_response(),
    };
    let method = pending.as_ref().map(|p| p.method);
    let outcome = Redemption::new(&state).run(pending, query.as_deref().unwrap_or(""), &ctx).await;
    let mut resp = match sealing::put_outcome(&state.engine, &outcome, OUTCOME_TTL).await {
        Ok(handle) => {
            let location = match method {
                Some(m) => format!("/console?upstream=1&method={}", m.as_str()),
                None => "/console?upstream=1".to_string(),
            };
            let mut resp = StatusCode::SEE_OTHER.into_response();
            let h = resp.headers_mut();
            h.insert(header::LOCATION, HeaderValue::from_str(&location).expect("ASCII"));
            h.append(header::SET_COOKIE, outcome_cookie(&state, transport).set(&handle, OUTCOME_TTL));
            // The code is in this URL: it goes to no one else.
            h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            resp
        }
        Err(e) => OAuthError::new(Refusal::storage(e), &ctx.request_id).into_response(),
    };
    resp.headers_mut().append(header::SET_COOKIE, pending_cookie.clear());
    no_store(&mut resp);
    resp
}

/// `POST /console/upstream`: the outcome of the last upstream sign-in, once.
pub(super) async fn pickup(
    _: Enabled,
    State(state): State<AppState>,
    ctx: Ctx,
    transport: Transport,
    headers: HeaderMap,
) -> Response {
    let ctx = ctx.recorded_as(EVENT_SOURCE, oauth_error_code);
    let cookie = outcome_cookie(&state, transport);
    let found = match cookies::read(&headers, cookie.name) {
        Some(handle) => sealing::take_outcome(&state.engine, &handle).await,
        None => Ok(None),
    };
    let mut resp = match found {
        Ok(Some(outcome)) => Json(outcome).into_response(),
        Ok(None) => {
            let d = Refusal::new(Reason::InvalidRequest, "no upstream sign-in is waiting");
            state.engine.record_refusal(EVENT_PICKUP, &ctx, &d).await;
            not_found(&d.message, &ctx.request_id)
        }
        Err(e) => OAuthError::new(Refusal::storage(e), &ctx.request_id).into_response(),
    };
    resp.headers_mut().append(header::SET_COOKIE, cookie.clear());
    no_store(&mut resp);
    resp
}

/// One callback's work: the steps told so far and the decision trail for the audit record.
struct Redemption<'a> {
    state: &'a AppState,
    steps: Vec<Step>,
    trail: Trail,
}

impl<'a> Redemption<'a> {
    fn new(state: &'a AppState) -> Self {
        Self { state, steps: Vec::new(), trail: Trail::new() }
    }

    /// The outcome for the page: `ok`, the provider's tokens or the `error`, and the steps.
    /// A failure is also audited under this request's id (`request_id` in the outcome).
    async fn run(mut self, pending: Option<Pending>, query: &str, ctx: &RequestContext) -> Value {
        let result = self.redeem(pending.as_ref(), query).await;
        let mut outcome = json!({
            "provider": pending.as_ref().map(|p| p.provider.as_str()),
            "method": pending.as_ref().map(|p| p.method.as_str()),
            "ok": result.is_ok(),
            "request_id": ctx.request_id,
            "steps": self.steps,
        });
        match result {
            Ok(tokens) => outcome["tokens"] = Value::Object(tokens),
            Err(denial) => {
                outcome["error"] = json!(denial.message);
                self.state.engine.record_refusal(EVENT_CALLBACK, ctx, &denial).await;
            }
        }
        outcome
    }

    fn step(&mut self, title: &str, from: &'static str, to: &'static str, request: String, response: String, ok: bool) {
        self.steps.push(Step { title: title.into(), from, to, request, response, ok });
    }

    fn fail(&mut self, reason: Reason, check: &str, detail: impl Into<String>) -> Refusal {
        std::mem::take(&mut self.trail).deny(reason, check, detail)
    }

    async fn redeem(&mut self, pending: Option<&Pending>, query: &str) -> Result<Map<String, Value>, Refusal> {
        let redirect_uri = redirect_uri(self.state);
        let params = Params::parse(query.as_bytes());
        let back = callback_text(&redirect_uri, params.as_ref().ok());
        const BACK: &str = "Redirect back to tokenbridge (through the browser)";
        let Some(p) = pending else {
            let why = "no sign-in is waiting in this browser (the tb_console_login cookie is missing, expired or \
                       not valid): start again from the console";
            self.step(BACK, UPSTREAM, TOKENBRIDGE, back, why.into(), false);
            return Err(self.fail(Reason::InvalidRequest, "login state", why));
        };
        let Some((provider, login)) = provider_login(self.state, &p.provider) else {
            let why = format!("provider {:?} no longer has [providers.login]", p.provider);
            return Err(self.fail(Reason::InvalidRequest, "provider", why));
        };
        self.trail.pass("login state", format!("a {} sign-in at provider {:?}", p.method.as_str(), p.provider));
        let shown = authorization_params(login, p, &redirect_uri, true);
        self.step(
            "Authorization request (code flow, PKCE S256)",
            BROWSER,
            UPSTREAM,
            request_text("GET", &login.authorization_endpoint, &[], &shown),
            "The provider shows its sign-in and consent pages; tokenbridge does not see them.".into(),
            true,
        );

        let now = self.state.engine.now();
        if p.exp <= now {
            let why = format!("the sign-in started more than {PENDING_TTL} s ago: start again");
            self.step(BACK, UPSTREAM, TOKENBRIDGE, back, why.clone(), false);
            return Err(self.fail(Reason::InvalidRequest, "expiry", why));
        }
        let params = match params {
            Ok(params) => params,
            Err(d) => {
                self.step(BACK, UPSTREAM, TOKENBRIDGE, back, d.message.clone(), false);
                return Err(self.fail(Reason::InvalidRequest, "callback", d.message));
            }
        };
        // A forged redirect carries another state: it is refused before anything else is read.
        let state_ok = params.get("state").is_some_and(|s| constant_time_eq(s.as_bytes(), p.state.as_bytes()));
        if !state_ok {
            let why = "the state does not match the one sent with the authorization request";
            self.step(BACK, UPSTREAM, TOKENBRIDGE, back, why.into(), false);
            return Err(self.fail(Reason::InvalidRequest, "state", why));
        }
        self.trail.pass("state", "matches the authorization request's");
        if let Some(error) = params.get("error") {
            let description = params.get("error_description").map(|d| format!(": {}", excerpt(d))).unwrap_or_default();
            let why = format!("the provider refused the sign-in: {}{description}", excerpt(error));
            self.step(BACK, UPSTREAM, TOKENBRIDGE, back, why.clone(), false);
            return Err(self.fail(Reason::InvalidGrant, "authorization", why));
        }
        let Some(code) = params.get("code") else {
            let why = "the provider sent back neither a code nor an error";
            self.step(BACK, UPSTREAM, TOKENBRIDGE, back, why.into(), false);
            return Err(self.fail(Reason::InvalidRequest, "authorization", why));
        };
        self.trail.pass("authorization", "the provider sent an authorization code");
        self.step(
            BACK,
            UPSTREAM,
            TOKENBRIDGE,
            back,
            "The state matches the one sent in the authorization request (compared in constant time).".into(),
            true,
        );
        self.redeem_code(provider, login, p, code, &redirect_uri).await
    }

    /// The token request (RFC 6749 §4.1.3) and the nonce check of its id token.
    async fn redeem_code(
        &mut self,
        provider: &UpstreamProvider,
        login: &ProviderLogin,
        p: &Pending,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Map<String, Value>, Refusal> {
        const TITLE: &str = "Token request (authorization code and PKCE verifier)";
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", p.code_verifier.as_str()),
            ("client_id", login.client_id.as_str()),
        ];
        let shown: Vec<(&str, String)> = form
            .iter()
            .map(|(k, v)| (*k, if matches!(*k, "code" | "code_verifier") { masked(v) } else { v.to_string() }))
            .collect();
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")];
        if login.client_secret.is_some() {
            headers.insert(0, ("Authorization", "Basic (hidden)"));
        }
        let request = request_text("POST", &login.token_endpoint, &headers, &shown);

        let answer = match provider.token_request(&form).await {
            Ok(a) => a,
            Err(why) => {
                let why = format!("the token endpoint gave no answer: {why}");
                self.step(TITLE, TOKENBRIDGE, UPSTREAM, request, why.clone(), false);
                return Err(self.fail(Reason::Unavailable, "token endpoint", why));
            }
        };
        let shown_body = match &answer.body {
            Some(b) => serde_json::to_string_pretty(&mask_tokens(b)).unwrap_or_default(),
            None => "(not JSON)".into(),
        };
        let response = format!("HTTP {}\n\n{shown_body}", answer.status);
        let body = match answer.body {
            Some(Value::Object(m)) if answer.status == 200 => m,
            Some(b) if answer.status != 200 => {
                let text = |k: &str| b.get(k).and_then(Value::as_str).map(excerpt);
                let error = text("error").unwrap_or_else(|| "no error code".into());
                let description = text("error_description").map(|d| format!(": {d}")).unwrap_or_default();
                let why = format!("the token endpoint refused the code (HTTP {}): {error}{description}", answer.status);
                self.step(TITLE, TOKENBRIDGE, UPSTREAM, request, response, false);
                return Err(self.fail(Reason::InvalidGrant, "token endpoint", why));
            }
            _ => {
                let why = format!("the token endpoint answered HTTP {} without a JSON object", answer.status);
                self.step(TITLE, TOKENBRIDGE, UPSTREAM, request, response, false);
                return Err(self.fail(Reason::Unavailable, "token endpoint", why));
            }
        };
        if !body.contains_key("id_token") && !body.contains_key("access_token") {
            let why = "the token endpoint's answer has neither an id_token nor an access_token";
            self.step(TITLE, TOKENBRIDGE, UPSTREAM, request, response, false);
            return Err(self.fail(Reason::InvalidGrant, "token endpoint", why));
        }
        self.trail.pass("token endpoint", format!("HTTP {}: tokens issued", answer.status));
        let nonce = match body.get("id_token") {
            Some(t) => match nonce_check(t, &p.nonce) {
                Ok(()) => "\n\nThe id_token's nonce is the one sent in the authorization request. Its signature is \
                           checked by tokenbridge when the page presents the token."
                    .to_string(),
                Err(why) => {
                    self.step(TITLE, TOKENBRIDGE, UPSTREAM, request, format!("{response}\n\n{why}"), false);
                    return Err(self.fail(Reason::InvalidGrant, "nonce", why));
                }
            },
            None => String::new(),
        };
        self.trail.pass("nonce", if nonce.is_empty() { "no id_token to check" } else { "matches" });
        self.step(TITLE, TOKENBRIDGE, UPSTREAM, request, format!("{response}{nonce}"), true);
        // The page needs the tokens to present, never the provider's long-lived refresh token.
        let mut tokens = body;
        tokens.remove("refresh_token");
        Ok(tokens)
    }
}

/// The id token's `nonce` against the one sent. Only the payload is read: the signature is
/// verified by the broker when the page presents the token (`/auth/exchange`, CUSTOM_AUTH).
fn nonce_check(id_token: &Value, sent: &str) -> Result<(), String> {
    let jwt = id_token.as_str().and_then(|t| UnverifiedJwt::parse(t).ok()).ok_or("the id_token is not a JWT")?;
    match jwt.claim_str("nonce") {
        Some(n) if constant_time_eq(n.as_bytes(), sent.as_bytes()) => Ok(()),
        Some(_) => Err("the id_token's nonce is not the one sent in the authorization request".into()),
        None => Err("the id_token has no nonce, though one was sent".into()),
    }
}

/// The redirect as it reached this server, the code and state shortened.
fn callback_text(redirect_uri: &str, params: Option<&Params>) -> String {
    let shown: Vec<(&str, String)> = match params {
        Some(params) => [("code", true), ("state", true), ("error", false), ("error_description", false)]
            .into_iter()
            .filter_map(|(k, secret)| params.get(k).map(|v| (k, if secret { masked(v) } else { excerpt(v) })))
            .collect(),
        None => vec![("(query)", "not a valid query string".into())],
    };
    request_text("GET", redirect_uri, &[], &shown)
}
