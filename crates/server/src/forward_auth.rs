//! Forward-auth for reverse proxies: nginx `auth_request`, Traefik ForwardAuth, Caddy
//! `forward_auth`, Envoy ext_authz (HTTP service).
//!
//! The original request is read from `X-Forwarded-Method`/`X-Original-Method`,
//! `X-Forwarded-Uri`/`X-Original-URI` and `X-Forwarded-Host`; Envoy instead sends the original
//! method and appends the original path to `/forward-auth`. Headers that disagree are refused
//! (a client's own header slipped through the proxy). 200 carries identity headers; 401/403
//! carry an RFC 6750 challenge, the request id, and a JSON body.

use crate::context::Ctx;
use crate::errors::OAuthError;
use crate::oauth2::{bearer, refuse};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use tokenbridge_core::authorizer::{AccessRequest, Allowed};
use tokenbridge_core::{Denial, DenialCode};

pub const PREFIX: &str = "/forward-auth";

pub fn routes() -> Router<AppState> {
    Router::new().route(PREFIX, any(forward_auth)).route("/forward-auth/{*rest}", any(forward_auth))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// The one value the named headers (and Envoy's appended path) agree on. Two different answers
/// mean a client-sent header got through the proxy: the request is refused rather than guessed.
fn original<'a>(headers: &'a HeaderMap, names: &[&str], also: Option<&'a str>) -> Result<Option<&'a str>, String> {
    let mut found: Option<(&str, &str)> = None;
    let given = names.iter().filter_map(|n| header(headers, n).map(|v| (*n, v)));
    for (name, value) in given.chain(also.map(|v| ("the path after /forward-auth", v))) {
        match found {
            Some((first, v)) if v != value => {
                return Err(format!(
                    "{first} and {name} disagree about the original request; the proxy must set one and clear the other"
                ))
            }
            Some(_) => {}
            None => found = Some((name, value)),
        }
    }
    Ok(found.map(|(_, v)| v))
}

async fn forward_auth(
    State(state): State<AppState>,
    ctx: Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let ctx = ctx.door("authorizer.tokenbridge");
    // Envoy ext_authz: the original path follows the prefix, and the method is the request's own.
    let appended = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .and_then(|pq| pq.strip_prefix(PREFIX))
        .filter(|p| p.starts_with('/'));
    let read = original(&headers, &["x-forwarded-method", "x-original-method"], None)
        .and_then(|m| original(&headers, &["x-forwarded-uri", "x-original-uri"], appended).map(|p| (m, p)));
    let (orig_method, orig_path) = match read {
        Ok(v) => v,
        Err(e) => {
            let denial = Denial::new(DenialCode::InsufficientScope, e);
            return refuse(&state, "Authorize", &ctx, denial).await.into_response();
        }
    };
    let req = AccessRequest {
        token: bearer(&headers),
        method: orig_method.unwrap_or(method.as_str()),
        path: orig_path.unwrap_or("/"),
        host: header(&headers, "x-forwarded-host").or(header(&headers, "host")),
    };
    match state.engine.authorize(&req, &ctx).await {
        Ok(allowed) => (StatusCode::OK, identity_headers(&state, &allowed)).into_response(),
        Err(denial) => OAuthError::new(denial, &ctx.request_id).into_response(),
    }
}

/// The caller's identity as response headers, named as configured.
pub fn identity_headers(state: &AppState, allowed: &Allowed) -> HeaderMap {
    let names = &state.engine.authorizer.headers;
    let id = &allowed.identity;
    let mut out = HeaderMap::new();
    let mut put = |name: &str, value: &str| {
        // Names are checked at config load; values drop what a header cannot carry (CR, LF, NUL).
        let clean: String = value.chars().filter(|c| !c.is_control()).collect();
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_bytes(clean.as_bytes())) {
            out.insert(n, v);
        }
    };
    put(&names.subject, &id.subject);
    put(&names.username, &id.username);
    put(&names.groups, &id.groups.join(","));
    put(&names.client_id, id.client_id.as_deref().unwrap_or(""));
    put(&names.scopes, &id.scopes.join(" "));
    out
}
