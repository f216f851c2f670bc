//! The hosted sign-in's words for a refusal: its pages' title and status (the error page), and,
//! for its OAuth endpoints and the errors sent back to a client's callback, the OAuth `error`
//! (`crate::errors::oauth_words`). Its records' `errorCode` is the OAuth error.

use crate::errors::oauth_words;
use axum::http::StatusCode;
use tokenbridge_core::Reason;

/// The error page's title and HTTP status for a refusal.
pub fn hosted_words(reason: Reason) -> (&'static str, StatusCode) {
    use Reason::*;
    match reason {
        NotFound => ("No such sign-in domain", StatusCode::NOT_FOUND),
        InvalidClient => ("Unknown application", StatusCode::BAD_REQUEST),
        UnregisteredRedirectUri => ("This address is not registered for the application", StatusCode::BAD_REQUEST),
        CsrfMismatch => ("The form expired or did not come from this page", StatusCode::FORBIDDEN),
        RateLimited => ("Too many attempts", StatusCode::TOO_MANY_REQUESTS),
        Unavailable => ("Sign-in is unavailable for a moment", StatusCode::SERVICE_UNAVAILABLE),
        NotAuthorized | LockedOut => ("Sign-in refused", StatusCode::BAD_REQUEST),
        SamlRejected => ("The identity provider's answer was refused", StatusCode::FORBIDDEN),
        SamlRequestUnknown => ("This sign-in was not started in this browser, or is finished", StatusCode::FORBIDDEN),
        AssertionReplayed => ("This sign-in answer was used already", StatusCode::FORBIDDEN),
        UnsolicitedResponse => ("Sign-in started at the identity provider is not allowed", StatusCode::FORBIDDEN),
        OidcStateUnknown => ("This sign-in was not started in this browser, or is finished", StatusCode::FORBIDDEN),
        IdTokenRejected => ("The identity provider's answer was refused", StatusCode::FORBIDDEN),
        ProviderDeclined => ("The identity provider did not sign you in", StatusCode::FORBIDDEN),
        _ => ("Sign-in request refused", oauth_words(reason).1),
    }
}

/// The `errorCode` of the hosted sign-in's records: the OAuth error it answers with.
pub fn hosted_error_code(_event_source: &str, reason: Reason) -> &'static str {
    oauth_words(reason).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_page_and_only_unavailable_is_the_servers_fault() {
        for &r in Reason::ALL {
            let (title, status) = hosted_words(r);
            assert!(!title.is_empty(), "{r}");
            assert!(status.is_client_error() || status.is_server_error(), "{r}: {status}");
            assert_eq!(status.is_server_error(), r == Reason::Unavailable, "{r}: {status}");
        }
        assert_eq!(hosted_words(Reason::UnregisteredRedirectUri).1, StatusCode::BAD_REQUEST);
        assert_eq!(hosted_error_code("signin.tokenbridge", Reason::PkceMismatch), "invalid_grant");
    }
}
