//! Cognito identity pools on the AWS JSON 1.1 door (`X-Amz-Target: AWSCognitoIdentityService.*`),
//! over [`tokenbridge_core::identity`]. `GetId`, `GetCredentialsForIdentity` and `GetOpenIdToken`
//! need no signature (the logins are the credential); the admin actions need a SigV4 signature
//! by admin credentials scoped to `cognito-identity`. Errors are `{"__type", "message"}` with
//! AWS's exception names and `x-amzn-RequestId`; every call is audited by the engine.

use crate::aws::{aws_error, check_signature, record, without_nulls, JSON_11};
use crate::AppState;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
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
    let input: Value = match serde_json::from_slice(if body.is_empty() { b"{}" } else { body }) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            record(state, action, ctx, "SerializationException", "the body is not a JSON object").await;
            return aws_error(
                400,
                "SerializationException",
                "Start of structure or map found where not expected.",
                rid,
            );
        }
    };
    // Public actions need no signature; unknown ones are refused as such by the engine.
    let signed = if PUBLIC_ACTIONS.contains(&action) || !ACTIONS.contains(&action) {
        false
    } else {
        match check_signature(state, SIGNING_NAME, method, uri, headers, body) {
            Ok(()) => true,
            Err(e) => {
                let detail = format!("signature check {:?} failed: {}", e.check(), e.message());
                record(state, action, ctx, e.aws_error_type(), &detail).await;
                return aws_error(400, e.aws_error_type(), &e.message(), rid);
            }
        }
    };
    match state.engine.identity_pool_action(action, &input, signed, ctx).await {
        Ok(v) => {
            let mut resp = Json(without_nulls(v)).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_11));
            if let Ok(v) = HeaderValue::from_str(rid) {
                h.insert("x-amzn-requestid", v);
            }
            resp
        }
        Err(e) => aws_error(e.status, e.code, &e.message, rid),
    }
}
