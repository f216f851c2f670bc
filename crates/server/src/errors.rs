//! The OAuth doors' words (token endpoints, the authorizer, forward-auth, the admin API, the
//! console): RFC 6749 §5.2 JSON errors with the request id, and RFC 6750 `WWW-Authenticate` on
//! 401s and 403s.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::{Reason, Refusal};

/// The OAuth error (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 6750 §3.1) and HTTP status of a refusal.
pub fn oauth_words(reason: Reason) -> (&'static str, StatusCode) {
    use Reason::*;
    match reason {
        InvalidClient => ("invalid_client", StatusCode::UNAUTHORIZED),
        UnauthorizedClient => ("unauthorized_client", StatusCode::BAD_REQUEST),
        InvalidGrant | PkceMismatch | RedirectUriMismatch | CodeReplayed | ExpiredCode => {
            ("invalid_grant", StatusCode::BAD_REQUEST)
        }
        UnsupportedResponseType => ("unsupported_response_type", StatusCode::BAD_REQUEST),
        InvalidOAuthFlow => ("unauthorized_client", StatusCode::BAD_REQUEST),
        ScopeDoesNotExist => ("invalid_scope", StatusCode::BAD_REQUEST),
        // A forged form: nothing is wrong with the request's grammar, the browser did not send it.
        CsrfMismatch => ("invalid_request", StatusCode::FORBIDDEN),
        UnsupportedGrantType => ("unsupported_grant_type", StatusCode::BAD_REQUEST),
        UnsupportedTokenType => ("unsupported_token_type", StatusCode::BAD_REQUEST),
        InvalidTarget => ("invalid_target", StatusCode::BAD_REQUEST),
        InvalidScope => ("invalid_scope", StatusCode::BAD_REQUEST),
        InvalidToken | MissingToken => ("invalid_token", StatusCode::UNAUTHORIZED),
        InsufficientScope => ("insufficient_scope", StatusCode::FORBIDDEN),
        // The identity provider's answer was refused: the user was not signed in (RFC 6749 §4.1.2.1).
        SamlRejected | SamlRequestUnknown | AssertionReplayed | UnsolicitedResponse | OidcStateUnknown
        | IdTokenRejected | ProviderDeclined => ("access_denied", StatusCode::FORBIDDEN),
        // OpenID Connect Core §3.1.2.6: prompt=none could not be answered without a page.
        LoginRequired => ("login_required", StatusCode::BAD_REQUEST),
        RateLimited => ("slow_down", StatusCode::TOO_MANY_REQUESTS),
        Unavailable => ("temporarily_unavailable", StatusCode::SERVICE_UNAVAILABLE),
        // The token service's catch-all; its decisions have no other reasons.
        _ => ("invalid_request", StatusCode::BAD_REQUEST),
    }
}

/// The OAuth doors' `errorCode`: their `error`.
pub fn oauth_error_code(_event_source: &str, reason: Reason) -> &'static str {
    oauth_words(reason).0
}

/// A refusal rendered as an OAuth error.
pub struct OAuthError {
    pub refusal: Refusal,
    pub request_id: String,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(refusal: Refusal, request_id: &str) -> Self {
        Self { refusal, request_id: request_id.to_string(), retry_after: None }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let reason = self.refusal.reason;
        let (error, status) = oauth_words(reason);
        // A message naming a huge request value is sent cut (its length and hash kept).
        let description = bounded_message(&self.refusal.message);
        let body = json!({
            "error": error,
            "error_description": description,
            "request_id": self.request_id,
        });
        let mut resp = (status, Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = challenge(&self.refusal) {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        let retry_after = self.retry_after.or((reason == Reason::Unavailable).then_some(5));
        if let Some(secs) = retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// The `WWW-Authenticate` challenge for a 401 or 403 (RFC 6750 §3; RFC 6749 §5.2 for clients).
pub fn challenge(refusal: &Refusal) -> Option<HeaderValue> {
    let reason = refusal.reason;
    let v = match reason {
        // No credentials at all: the challenge names no error (RFC 6750 §3.1).
        Reason::MissingToken => "Bearer realm=\"tokenbridge\"".to_string(),
        Reason::InvalidClient | Reason::InvalidToken | Reason::InsufficientScope => format!(
            "{} realm=\"tokenbridge\", error=\"{}\", error_description=\"{}\"",
            if reason == Reason::InvalidClient { "Basic" } else { "Bearer" },
            oauth_words(reason).0,
            header_safe(&bounded_message(&refusal.message))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_errors_and_statuses() {
        let w = |r| {
            let (e, s) = oauth_words(r);
            (e, s.as_u16())
        };
        assert_eq!(w(Reason::InvalidRequest), ("invalid_request", 400));
        assert_eq!(w(Reason::InvalidClient), ("invalid_client", 401));
        assert_eq!(w(Reason::InvalidGrant), ("invalid_grant", 400));
        assert_eq!(w(Reason::PkceMismatch), ("invalid_grant", 400));
        assert_eq!(w(Reason::CodeReplayed), ("invalid_grant", 400));
        assert_eq!(w(Reason::PkceRequired), ("invalid_request", 400));
        assert_eq!(w(Reason::UnsupportedResponseType), ("unsupported_response_type", 400));
        assert_eq!(w(Reason::InvalidToken), ("invalid_token", 401));
        assert_eq!(w(Reason::MissingToken), ("invalid_token", 401));
        assert_eq!(w(Reason::InsufficientScope), ("insufficient_scope", 403));
        assert_eq!(w(Reason::RateLimited), ("slow_down", 429));
        assert_eq!(w(Reason::Unavailable), ("temporarily_unavailable", 503));
        assert_eq!(oauth_error_code("oauth2.tokenbridge", Reason::InvalidScope), "invalid_scope");
        let missing = challenge(&Refusal::new(Reason::MissingToken, "no token")).unwrap();
        assert_eq!(missing, "Bearer realm=\"tokenbridge\"");
        let client = challenge(&Refusal::new(Reason::InvalidClient, "unknown client \"x\"")).unwrap();
        assert!(client.to_str().unwrap().starts_with("Basic realm=\"tokenbridge\", error=\"invalid_client\""));
        assert!(challenge(&Refusal::new(Reason::InvalidGrant, "x")).is_none());
    }

    #[test]
    fn on_every_door_every_reason_has_words_and_only_unavailable_is_the_servers_fault() {
        let doors: [(&str, crate::aws::Words); 5] = [
            ("oauth", oauth_words),
            ("user pools", crate::aws::cognito_words),
            ("identity pools", crate::identity_pools::identity_words),
            ("query", crate::query::query_words),
            ("cloudtrail", crate::cloudtrail::cloudtrail_words),
        ];
        for (door, words) in doors {
            for &reason in Reason::ALL {
                let (name, status) = words(reason);
                assert!(!name.is_empty() && name.is_ascii(), "{door} {reason}");
                assert!(status.is_client_error() || status.is_server_error(), "{door} {reason}: {status}");
                assert_eq!(status.is_server_error(), reason == Reason::Unavailable, "{door} {reason}: {status}");
            }
        }
    }
}
