//! Forward-auth for reverse proxies: nginx `auth_request`, Traefik ForwardAuth, Caddy
//! `forward_auth`, Envoy ext_authz (HTTP service).
//!
//! The original request is read from `X-Forwarded-Method`/`X-Original-Method`,
//! `X-Forwarded-Uri`/`X-Original-URI` and `X-Forwarded-Host`; Envoy instead sends the original
//! method and appends the original path to `/forward-auth`. Headers that disagree are refused
//! (a client's own header slipped through the proxy); a header that is present but not visible
//! ASCII (nginx passes the client's raw bytes) is a 400, never a fallback to `/`. 200 carries
//! identity headers; 400/401/403 carry the request id and a JSON body, 401/403 an RFC 6750
//! challenge.

use crate::context::Ctx;
use crate::errors::{oauth_error_code, OAuthError};
use crate::oauth2::{bearer, refuse};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use tokenbridge_core::authorizer::{AccessRequest, Allowed};
use tokenbridge_core::{Reason, Refusal};

pub const PREFIX: &str = "/forward-auth";

pub fn routes() -> Router<AppState> {
    Router::new().route(PREFIX, any(forward_auth)).route("/forward-auth/{*rest}", any(forward_auth))
}

/// Why the original request cannot be read from the headers.
enum Unread {
    /// Two sources disagree (a client's own header slipped through the proxy).
    Disagree(String),
    /// A header is present but not visible ASCII (nginx passes the client's raw bytes): the
    /// header's name, and its value with every other byte escaped as `%XX`, for the audit.
    Unreadable(&'static str, String),
}

/// A header's values: none, or one text; `Unreadable` when one is not visible ASCII.
fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Vec<&'a str>, Unread> {
    let mut out = Vec::new();
    for v in headers.get_all(name) {
        let text = v.to_str().map_err(|_| Unread::Unreadable(name, escaped(v.as_bytes())))?;
        let text = text.trim();
        if !text.is_empty() {
            out.push(text);
        }
    }
    Ok(out)
}

/// The bytes as sent, with those outside visible ASCII escaped as `%XX`.
fn escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| if b.is_ascii_graphic() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The one value the named headers (each sent once or repeated, and Envoy's appended path) agree
/// on. Two different answers mean a client-sent header got through the proxy: the request is
/// refused rather than guessed.
fn original<'a>(
    headers: &'a HeaderMap,
    names: &[&'static str],
    also: Option<&'a str>,
) -> Result<Option<&'a str>, Unread> {
    let mut found: Option<(String, &str)> = None;
    let mut given = Vec::new();
    for name in names {
        given.extend(header(headers, name)?.into_iter().map(|v| (name.to_ascii_lowercase(), v)));
    }
    for (name, value) in given.into_iter().chain(also.map(|v| ("the path after /forward-auth".to_string(), v))) {
        match &found {
            Some((first, v)) if *v != value => {
                return Err(Unread::Disagree(format!(
                    "{first} and {name} disagree about the original request; the proxy must set one and clear the other"
                )))
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
    let ctx = ctx.recorded_as("authorizer.tokenbridge", oauth_error_code);
    // Envoy ext_authz: the original path follows the prefix, and the method is the request's own.
    let appended = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .and_then(|pq| pq.strip_prefix(PREFIX))
        .filter(|p| p.starts_with('/'));
    let orig_method = original(&headers, &["X-Forwarded-Method", "X-Original-Method"], None);
    let orig_path = original(&headers, &["X-Forwarded-Uri", "X-Original-URI"], appended);
    let host = original(&headers, &["X-Forwarded-Host"], None).and_then(|h| {
        if h.is_some() {
            Ok(h)
        } else {
            original(&headers, &["Host"], None)
        }
    });
    let mut unreadable = None;
    let mut read = |r: Result<Option<&'_ str>, Unread>| -> Result<Option<String>, String> {
        match r {
            Ok(v) => Ok(v.map(str::to_string)),
            Err(Unread::Disagree(e)) => Err(e),
            Err(Unread::Unreadable(name, as_sent)) => {
                unreadable = unreadable.or(Some(name));
                Ok(Some(as_sent))
            }
        }
    };
    let read = (read(orig_method), read(orig_path), read(host));
    let (orig_method, orig_path, host) = match read {
        (Ok(m), Ok(p), Ok(h)) => (m, p, h),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            let denial = Refusal::new(Reason::InsufficientScope, e);
            return refuse(&state, "Authorize", &ctx, denial).await.into_response();
        }
    };
    let req = AccessRequest {
        token: bearer(&headers),
        method: orig_method.as_deref().unwrap_or(method.as_str()),
        path: orig_path.as_deref().unwrap_or("/"),
        host: host.as_deref(),
        unreadable,
    };
    match state.engine.authorizer().authorize(&req, &ctx).await {
        Ok(allowed) => (StatusCode::OK, identity_headers(&state, &allowed)).into_response(),
        Err(denial) => OAuthError::new(denial, &ctx.request_id).into_response(),
    }
}

/// The caller's identity as response headers, named as configured.
pub fn identity_headers(state: &AppState, allowed: &Allowed) -> HeaderMap {
    let names = &state.engine.config().authorizer.headers;
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
