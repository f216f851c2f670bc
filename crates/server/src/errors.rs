//! RFC 6749 §5.2 JSON errors with the request id, and RFC 6750 `WWW-Authenticate` on 401s.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::{Denial, DenialCode};

/// A denial rendered as an OAuth error.
pub struct OAuthError {
    pub denial: Denial,
    pub request_id: String,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(denial: Denial, request_id: &str) -> Self {
        Self { denial, request_id: request_id.to_string(), retry_after: None }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let code = self.denial.code;
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        // A message naming a huge request value is sent cut (its length and hash kept).
        let description = bounded_message(&self.denial.message);
        let body = json!({
            "error": code.oauth_error(),
            "error_description": description,
            "request_id": self.request_id,
        });
        let mut resp = (status, Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = challenge(&self.denial) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        let retry_after = self.retry_after.or((code == DenialCode::TemporarilyUnavailable).then_some(5));
        if let Some(secs) = retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// The `WWW-Authenticate` challenge for a 401 or 403 (RFC 6750 §3; RFC 6749 §5.2 for clients).
pub fn challenge(denial: &Denial) -> Option<HeaderValue> {
    let code = denial.code;
    let v = match code {
        // No credentials at all: the challenge names no error (RFC 6750 §3.1).
        DenialCode::MissingToken => "Bearer realm=\"tokenbridge\"".to_string(),
        DenialCode::InvalidClient | DenialCode::InvalidToken | DenialCode::InsufficientScope => format!(
            "{} realm=\"tokenbridge\", error=\"{}\", error_description=\"{}\"",
            if code == DenialCode::InvalidClient { "Basic" } else { "Bearer" },
            code.oauth_error(),
            header_safe(&bounded_message(&denial.message))
        ),
        _ => return None,
    };
    HeaderValue::from_str(&v).ok()
}

/// A quoted-string value in visible ASCII: double quotes become single ones (messages quote names
/// with them), backslashes and non-ASCII characters '?'.
fn header_safe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '?',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}
