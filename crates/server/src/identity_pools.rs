//! Cognito identity pools on the AWS JSON 1.1 door (`X-Amz-Target: AWSCognitoIdentityService.*`),
//! over [`tokenbridge_core::identity_pool`]. `GetId`, `GetCredentialsForIdentity` and `GetOpenIdToken`
//! need no signature (the logins are the credential); the admin actions need a SigV4 signature
//! by admin credentials scoped to `cognito-identity`. Errors are `{"__type", "message"}` with
//! AWS's exception names and `x-amzn-RequestId`; every call is audited by the engine.

use crate::aws::{
    aws_answer, aws_error, aws_json_status, aws_json_words, check_signature, read_input, refuse_signature, throttle,
    Words,
};
use crate::AppState;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::iam::STS_EVENT_SOURCE;
use tokenbridge_core::identity_pool::{ACTIONS, PUBLIC_ACTIONS, SIGNING_NAME};
use tokenbridge_core::Reason;

pub use tokenbridge_core::identity_pool::{EVENT_SOURCE, TARGET_PREFIX};

/// The `__type` and HTTP status of an identity-pool refusal.
pub fn identity_words(reason: Reason) -> (&'static str, StatusCode) {
    let name = match reason {
        Reason::InvalidPoolConfiguration => "InvalidIdentityPoolConfigurationException",
        // A login or identity turned down, whatever the token's fault.
        _ => aws_json_words(reason).unwrap_or("NotAuthorizedException"),
    };
    (name, aws_json_status(reason))
}

/// The identity-pool door's `errorCode`: its `__type`, and STS's code for the
/// `AssumeRoleWithWebIdentity` record its credentials write (event source `sts.amazonaws.com`).
pub fn error_code(event_source: &str, reason: Reason) -> &'static str {
    if event_source == STS_EVENT_SOURCE {
        crate::query::query_words(reason).0
    } else {
        identity_words(reason).0
    }
}

/// Answers one identity-pool action: `action` is the target without [`TARGET_PREFIX`].
pub async fn call(
    state: &AppState,
    action: &str,
    ctx: &RequestContext,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let rid = &ctx.request_id;
    let words: Words = identity_words;
    let input = match read_input(state, action, ctx, words, body).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    // Public actions need no signature; unknown ones are refused as such by the engine. Anyone
    // may call them (GetId makes an identity each time), so they share the per-address limit.
    let caller = if PUBLIC_ACTIONS.contains(&action) || !ACTIONS.contains(&action) {
        if let Err(refusal) = throttle(state, action, ctx, words, None).await {
            return refusal;
        }
        None
    } else {
        match check_signature(state, SIGNING_NAME, method, uri, headers, body) {
            Ok(caller) => Some(caller),
            Err(e) => return refuse_signature(state, action, ctx, words, &e).await,
        }
    };
    match state.engine.identity_pools().identity_pool_action(action, &input, caller.as_ref(), ctx).await {
        Ok(v) => aws_answer(v, rid),
        Err(refusal) => aws_error(words, &refusal, rid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_pool_exceptions_and_statuses() {
        let w = |r| {
            let (e, s) = identity_words(r);
            (e, s.as_u16())
        };
        assert_eq!(w(Reason::NotAuthorized), ("NotAuthorizedException", 400));
        assert_eq!(w(Reason::InvalidPoolConfiguration), ("InvalidIdentityPoolConfigurationException", 400));
        assert_eq!(w(Reason::Unavailable), ("InternalErrorException", 500));
        assert_eq!(w(Reason::MissingAuthentication), ("MissingAuthenticationTokenException", 400));
        // The STS record of the enhanced flow speaks STS.
        assert_eq!(error_code(STS_EVENT_SOURCE, Reason::AccessDenied), "AccessDenied");
        assert_eq!(error_code(EVENT_SOURCE, Reason::NotFound), "ResourceNotFoundException");
    }
}
