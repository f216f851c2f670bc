//! The OAuth wire of the demo provider: its error answers (token endpoint, UserInfo, the
//! authorization endpoint's page or redirect), and reading parameters, client credentials,
//! bearer tokens, scopes and PKCE strings.

use super::{pages, DEFAULT_SCOPE, SCOPES_SUPPORTED};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use std::collections::HashMap;
use tokenbridge_core::excerpt::bounded_message;
use url::Url;

/// An RFC 6749 §5.2 error answer of the token endpoint.
#[derive(Debug)]
pub(super) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    pub(super) fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into() }
    }
    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    pub(super) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }
    pub(super) fn invalid_grant(description: impl Into<String>) -> Self {
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
pub(super) fn bearer_error(status: StatusCode, error: &'static str, description: &str) -> Response {
    let description = bounded_message(description);
    let challenge = format!(r#"Bearer realm="demo-idp", error="{error}", error_description="{description}""#);
    let body = json!({ "error": error, "error_description": description });
    let mut response = no_store((status, Json(body)));
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub(super) fn no_store(answer: impl IntoResponse) -> Response {
    let mut response = answer.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Why the authorization endpoint stops.
#[derive(Debug)]
pub(super) enum Refusal {
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
pub(super) fn with_query(target: &Url, pairs: &[(&str, Option<&str>)]) -> Url {
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
pub(super) fn found(target: &Url) -> Response {
    match HeaderValue::from_str(target.as_str()) {
        Ok(location) => no_store((StatusCode::FOUND, [(header::LOCATION, location)])),
        Err(_) => pages::error(StatusCode::BAD_REQUEST, "The redirect URI cannot be used."),
    }
}

// --- request parsing ---

/// Form or query parameters. Empty values count as absent (RFC 6749 §3.1); a repeated
/// parameter is an error.
pub(super) struct Params(HashMap<String, String>);

impl Params {
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, String> {
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

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub(super) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: each part form-urlencoded).
pub(super) fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
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
pub(super) fn form_decode(s: &str) -> String {
    let escaped = s.replace('&', "%26").replace('=', "%3D");
    url::form_urlencoded::parse(escaped.as_bytes()).next().map(|(name, _)| name.into_owned()).unwrap_or_default()
}

pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The requested scope, normalized; `None` → [`DEFAULT_SCOPE`].
pub(super) fn resolve_scope(requested: Option<&str>) -> Result<String, String> {
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

pub(super) fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

/// A code verifier or challenge: 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
pub(super) fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}
