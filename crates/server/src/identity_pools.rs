//! Cognito identity pools on the AWS JSON 1.1 door (`X-Amz-Target: AWSCognitoIdentityService.*`),
//! over [`tokenbridge_core::identity`]. `GetId`, `GetCredentialsForIdentity` and `GetOpenIdToken`
//! need no signature (the logins are the credential); the admin actions need a SigV4 signature
//! by admin credentials scoped to `cognito-identity`. Errors are `{"__type", "message"}` with
//! AWS's exception names and `x-amzn-RequestId`; every call is audited by the engine.

use crate::aws::{aws_answer, aws_error, check_signature, read_input, refuse_signature, throttle};
use crate::AppState;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::identity::{ACTIONS, PUBLIC_ACTIONS, SIGNING_NAME};

pub use tokenbridge_core::identity::{EVENT_SOURCE, TARGET_PREFIX};

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
    let input = match read_input(state, action, ctx, body).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    // Public actions need no signature; unknown ones are refused as such by the engine. Anyone
    // may call them (GetId makes an identity each time), so they share the per-address limit.
    let signed = if PUBLIC_ACTIONS.contains(&action) || !ACTIONS.contains(&action) {
        if let Err(refusal) = throttle(state, action, ctx, None).await {
            return refusal;
        }
        false
    } else {
        match check_signature(state, SIGNING_NAME, method, uri, headers, body) {
            Ok(()) => true,
            Err(e) => return refuse_signature(state, action, ctx, &e, 400).await,
        }
    };
    match state.engine.identity_pool_action(action, &input, signed, ctx).await {
        Ok(v) => aws_answer(v, rid),
        Err(e) => aws_error(e.status, e.code, &e.message, rid),
    }
}
