//! `GET /console/explain/{request_id}`: why a call was refused, as `GET /admin/audit/{id}` tells
//! it. Admins read every event of the request. With `[console] explain_to_caller`, so does the
//! caller who made it, but only their own events: an access token of this issuer (or of a user
//! pool) reads the events whose `userIdentity.principalId` is its user; a SigV4 signature by
//! temporary credentials reads those whose `userIdentity.accessKeyId` is its key. Events of
//! anyone else are never shown, nor is it told that they exist.

use super::{Enabled, EVENT_SOURCE};
use crate::admin::{admitted, explanation, records_of, refused};
use crate::aws::verify_caller;
use crate::context::Ctx;
use crate::errors::oauth_error_code;
use crate::oauth2::{bearer, refuse};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use tokenbridge_core::audit::AuditReader;
use tokenbridge_core::iam::CallerIdentity;
use tokenbridge_core::{Reason, Refusal};

/// The SigV4 service the caller signs this request for: AppSync's, so the page signs it with
/// the same credentials and service as its GraphQL calls.
pub const SIGNING_NAME: &str = "appsync";

const EVENT: &str = "ConsoleExplain";

pub(super) async fn explain(
    _: Enabled,
    State(state): State<AppState>,
    ctx: Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = ctx.recorded_as(EVENT_SOURCE, oauth_error_code);
    let reader = if state.engine.config().console.explain_to_caller {
        match reader(&state, &method, &uri, &headers).await {
            Ok(r) => r,
            Err(d) => return refuse(&state, EVENT, &ctx, d).await.into_response(),
        }
    } else {
        match admitted(&state, &ctx, &headers).await {
            Ok(()) => AuditReader::Admin,
            Err(r) => return r,
        }
    };
    match records_of(&state, EVENT, &ctx, &id, &reader).await {
        Ok(visible) => explanation(&id, &visible, &ctx),
        Err(refusal) => refused(refusal, &ctx),
    }
}

/// The reader, from a bearer token or a SigV4 signature; a refusal says what is wrong.
async fn reader(state: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<AuditReader, Refusal> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let presigned = uri.query().is_some_and(|q| q.split('&').any(|p| p.starts_with("X-Amz-Signature=")));
    if authorization.starts_with("AWS4-") || presigned {
        // A GET: the signature covers an empty payload.
        return match verify_caller(state, SIGNING_NAME, method, uri, headers, b"").await {
            Ok(CallerIdentity::Session(claims)) => Ok(AuditReader::Session(claims.access_key_id)),
            Ok(CallerIdentity::Admin { .. }) => Ok(AuditReader::Admin),
            Err(e) => Err(Refusal::new(
                Reason::InvalidToken,
                format!("signature check {:?} failed: {}", e.check(), e.message()),
            )),
        };
    }
    let Some(token) = bearer(headers) else {
        return Err(Refusal::new(
            Reason::MissingToken,
            "a bearer token (the admin token or an access token) or a SigV4 signature is required",
        ));
    };
    state.engine.authorizer().audit_reader(token).await
}
