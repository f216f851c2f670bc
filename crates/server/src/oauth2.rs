//! OAuth 2.0 endpoints: token (RFC 6749 refresh, RFC 8693 exchange), revocation (RFC 7009),
//! introspection (RFC 7662), and OIDC UserInfo.

use crate::context::Ctx;
use crate::errors::{oauth_error_code, OAuthError};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use std::collections::HashMap;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::engine::{ClientCredentials, ExchangeRequest, TokenSet};
use tokenbridge_core::model::{GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE};
use tokenbridge_core::upstream::SubjectTokenType;
use tokenbridge_core::{Reason, Refusal};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/introspect", post(introspect))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
}

/// Form parameters; a parameter sent twice is refused, as RFC 6749 §3.1 requires.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(body: &[u8]) -> Result<Self, Refusal> {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(Refusal::new(Reason::InvalidRequest, format!("parameter {k:?} is given more than once")));
            }
        }
        Ok(Self(map))
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
    pub fn owned(&self, k: &str) -> Option<String> {
        self.get(k).map(str::to_string)
    }
}

/// The body as a form: refused unless it is empty or labelled `application/x-www-form-urlencoded`
/// in UTF-8 (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1), so a body meant as something else (or
/// sent by a cross-site page as `text/plain`) is never read as parameters.
pub fn form_body<'a>(headers: &HeaderMap, body: &'a [u8]) -> Result<&'a [u8], Refusal> {
    if body.is_empty() {
        return Ok(body);
    }
    let bad = |what: String| {
        Refusal::new(
            Reason::InvalidRequest,
            format!("the body must be application/x-www-form-urlencoded (UTF-8); {what}"),
        )
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(bad("the request has no Content-Type".into()));
    };
    let text = value.to_str().map_err(|_| bad("its Content-Type is not readable".into()))?;
    let mut parts = text.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        let shown: String = media.chars().take(80).collect();
        return Err(bad(format!("it was sent as {shown}")));
    }
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
            let shown: String = value.chars().take(40).collect();
            return Err(bad(format!("its charset is {shown}")));
        }
    }
    Ok(body)
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1) or the form; both at once is refused.
pub fn client_credentials(headers: &HeaderMap, params: &Params) -> Result<ClientCredentials, Refusal> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    if let Some(b64) = basic {
        if params.get("client_secret").is_some() {
            return Err(Refusal::new(
                Reason::InvalidRequest,
                "client credentials given both in the Authorization header and the form",
            ));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Refusal::new(Reason::InvalidClient, "HTTP Basic credentials are not valid base64"))?;
        let (id, secret) = raw
            .split_once(':')
            .ok_or_else(|| Refusal::new(Reason::InvalidClient, "HTTP Basic credentials lack ':'"))?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        return Ok(ClientCredentials {
            client_id: Some(decode(id)),
            client_secret: Some(decode(secret)).filter(|s| !s.is_empty()),
        });
    }
    Ok(ClientCredentials { client_id: params.owned("client_id"), client_secret: params.owned("client_secret") })
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A successful token response (RFC 6749 §5.1): never cached.
pub fn token_response(set: TokenSet) -> Response {
    let mut resp = Json(set).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Records a denial the adapter made before reaching the engine, and renders it.
pub async fn refuse(state: &AppState, event: &str, ctx: &RequestContext, denial: Refusal) -> OAuthError {
    state.engine.record_refusal(event, ctx, &denial).await;
    OAuthError::new(denial, &ctx.request_id)
}

/// A client-authenticated form: its parameters and the client credentials it carries.
async fn client_form(
    state: &AppState,
    event: &str,
    ctx: &RequestContext,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Params, ClientCredentials), OAuthError> {
    match form_body(headers, body).and_then(Params::parse).and_then(|p| client_credentials(headers, &p).map(|c| (p, c)))
    {
        Ok(v) => Ok(v),
        Err(d) => Err(refuse(state, event, ctx, d).await),
    }
}

/// Applies the per-address and per-client rate limits of the token endpoints.
pub async fn rate_limit(
    state: &AppState,
    event: &str,
    ctx: &RequestContext,
    client_id: Option<&str>,
) -> Result<(), OAuthError> {
    if let Err((what, retry)) = state.limits.check(&ctx.source_ip, client_id) {
        let mut e = refuse(
            state,
            event,
            ctx,
            Refusal::new(Reason::RateLimited, format!("rate limit for this {what} exceeded; retry in {retry} s")),
        )
        .await;
        e.retry_after = Some(retry);
        return Err(e);
    }
    Ok(())
}

async fn token(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let ctx = ctx.recorded_as("oauth2.tokenbridge", oauth_error_code);
    let (params, creds) = client_form(&state, "Token", &ctx, &headers, &body).await?;
    rate_limit(&state, "Token", &ctx, creds.client_id.as_deref()).await?;
    let err = |d: Refusal| OAuthError::new(d, &ctx.request_id);
    match params.get("grant_type") {
        Some(GRANT_TOKEN_EXCHANGE) => {
            let stt = params.get("subject_token_type");
            let Some(subject_token_type) = stt.and_then(SubjectTokenType::parse) else {
                let msg = match stt {
                    None => "subject_token_type is missing".to_string(),
                    Some(t) => format!("subject_token_type {t:?} is not supported (id_token, access_token, jwt)"),
                };
                let code = if stt.is_some() { Reason::UnsupportedTokenType } else { Reason::InvalidRequest };
                return Err(refuse(&state, "TokenExchange", &ctx, Refusal::new(code, msg)).await);
            };
            if params.get("actor_token").is_some() {
                return Err(refuse(
                    &state,
                    "TokenExchange",
                    &ctx,
                    Refusal::new(Reason::InvalidRequest, "actor_token (delegation) is not supported"),
                )
                .await);
            }
            let req = ExchangeRequest {
                client: creds,
                client_optional: false,
                subject_token: params.owned("subject_token").unwrap_or_default(),
                subject_token_type,
                provider: params.owned("provider"),
                audience: params.owned("audience").or_else(|| params.owned("resource")),
                scope: params.owned("scope"),
                requested_token_type: params.owned("requested_token_type"),
            };
            state.engine.tokens().exchange(req, &ctx).await.map(token_response).map_err(err)
        }
        Some(GRANT_REFRESH_TOKEN) => {
            let rt = params.get("refresh_token").unwrap_or_default();
            state.engine.tokens().refresh(&creds, rt, &ctx).await.map(token_response).map_err(err)
        }
        Some(other) => Err(refuse(
            &state,
            "Token",
            &ctx,
            Refusal::new(Reason::UnsupportedGrantType, format!("grant_type {other:?} is not supported here")),
        )
        .await),
        None => Err(refuse(&state, "Token", &ctx, Refusal::new(Reason::InvalidRequest, "grant_type is missing")).await),
    }
}

async fn revoke(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let ctx = ctx.recorded_as("oauth2.tokenbridge", oauth_error_code);
    let (params, creds) = client_form(&state, "RevokeToken", &ctx, &headers, &body).await?;
    state
        .engine
        .tokens()
        .revoke(&creds, params.get("token").unwrap_or_default(), &ctx)
        .await
        .map(|_| ().into_response())
        .map_err(|d| OAuthError::new(d, &ctx.request_id))
}

async fn introspect(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let ctx = ctx.recorded_as("oauth2.tokenbridge", oauth_error_code);
    let (params, creds) = client_form(&state, "IntrospectToken", &ctx, &headers, &body).await?;
    state
        .engine
        .tokens()
        .introspect(&creds, params.get("token").unwrap_or_default(), &ctx)
        .await
        .map(|v| Json(v).into_response())
        .map_err(|d| OAuthError::new(d, &ctx.request_id))
}

async fn userinfo(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap) -> Result<Response, OAuthError> {
    let ctx = ctx.recorded_as("oauth2.tokenbridge", oauth_error_code);
    let Some(token) = bearer(&headers) else {
        return Err(refuse(
            &state,
            "GetUserInfo",
            &ctx,
            Refusal::new(Reason::InvalidToken, "Authorization: Bearer <access token> is required"),
        )
        .await);
    };
    state
        .engine
        .tokens()
        .userinfo(token, &ctx)
        .await
        .map(|v| Json(v).into_response())
        .map_err(|d| OAuthError::new(d, &ctx.request_id))
}
