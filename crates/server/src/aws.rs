//! The AWS JSON 1.1 door (`POST /` with `X-Amz-Target`): the Cognito user-pool API
//! (`AWSCognitoIdentityProviderService.*`) and CloudTrail's `LookupEvents` over the audit trail
//! (see [`crate::cloudtrail`]). Admin actions need a SigV4 signature by configured
//! admin credentials; public ones (InitiateAuth, SignUp, …) need none, as on AWS. Errors are
//! `{"__type", "message"}` with AWS's status codes and `x-amzn-RequestId`.

use crate::context::Ctx;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::iam::CallerIdentity;
use tokenbridge_core::sigv4::{SigV4Error, SignedRequest};
use tokenbridge_core::userpool::{ACTIONS, EVENT_SOURCE, GUESSING_ACTIONS, PUBLIC_ACTIONS};
use tokenbridge_core::{Reason, Refusal};

const COGNITO_TARGET: &str = "AWSCognitoIdentityProviderService.";
pub(crate) const JSON_11: &str = "application/x-amz-json-1.1";

pub fn routes(prefix: Option<&str>) -> Router<AppState> {
    let mut r = Router::new()
        .route("/", post(json_door))
        .route("/{pool_id}/.well-known/jwks.json", get(pool_jwks))
        .route("/{pool_id}/.well-known/openid-configuration", get(pool_discovery));
    if let Some(p) = prefix.map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty()) {
        r = r.route(p, post(json_door)).route(&format!("{p}/"), post(json_door));
    }
    r
}

/// A door's words for a refusal: its `__type` and HTTP status.
pub(crate) type Words = fn(Reason) -> (&'static str, StatusCode);

/// The `__type` of the refusals every AWS JSON 1.1 door (user pools, identity pools) words the
/// same: the request, its signature, the rate limit; `None` for a door's own.
pub(crate) fn aws_json_words(reason: Reason) -> Option<&'static str> {
    use Reason::*;
    Some(match reason {
        InvalidParameter => "InvalidParameterException",
        NotFound => "ResourceNotFoundException",
        UnknownOperation => "UnknownOperationException",
        MalformedRequest => "SerializationException",
        MissingAuthentication => "MissingAuthenticationTokenException",
        UnknownCredentials => "UnrecognizedClientException",
        MalformedSignature => "IncompleteSignatureException",
        SignatureMismatch => "InvalidSignatureException",
        RateLimited => "TooManyRequestsException",
        Unavailable => "InternalErrorException",
        _ => return None,
    })
}

/// The HTTP status of an AWS JSON 1.1 refusal: 500 when the server is at fault.
pub(crate) fn aws_json_status(reason: Reason) -> StatusCode {
    if reason == Reason::Unavailable {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// The `__type` and HTTP status of a Cognito user-pool refusal.
pub fn cognito_words(reason: Reason) -> (&'static str, StatusCode) {
    use Reason::*;
    let name = match reason {
        NotAuthorized | LockedOut => "NotAuthorizedException",
        UserNotFound => "UserNotFoundException",
        UsernameExists => "UsernameExistsException",
        GroupExists => "GroupExistsException",
        DuplicateProvider => "DuplicateProviderException",
        UserNotConfirmed => "UserNotConfirmedException",
        PasswordResetRequired => "PasswordResetRequiredException",
        InvalidPassword => "InvalidPasswordException",
        CodeMismatch => "CodeMismatchException",
        ExpiredCode => "ExpiredCodeException",
        LimitExceeded => "LimitExceededException",
        InvalidClient => "UnauthorizedException",
        UnsupportedTokenType => "UnsupportedTokenTypeException",
        InvalidOAuthFlow => "InvalidOAuthFlowException",
        ScopeDoesNotExist => "ScopeDoesNotExistException",
        // A token the token service turned down: Cognito's one answer to a rejected proof.
        _ => aws_json_words(reason).unwrap_or("NotAuthorizedException"),
    };
    (name, aws_json_status(reason))
}

/// The user-pool door's `errorCode`: its `__type`.
pub fn cognito_error_code(_event_source: &str, reason: Reason) -> &'static str {
    cognito_words(reason).0
}

/// An AWS JSON error response: the refusal in `words`, its message.
pub(crate) fn aws_error(words: Words, refusal: &Refusal, request_id: &str) -> Response {
    let (exception, status) = words(refusal.reason);
    let mut resp =
        (status, Json(json!({ "__type": exception, "message": bounded_message(&refusal.message) }))).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_11));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{exception}:")) {
        h.insert("x-amzn-errortype", v);
    }
    resp
}

/// Records a refusal decided before the engine saw the request, and renders it in `words`.
pub(crate) async fn refuse(
    state: &AppState,
    action: &str,
    ctx: &RequestContext,
    words: Words,
    refusal: Refusal,
) -> Response {
    state.engine.record_refusal(action, ctx, &refusal).await;
    aws_error(words, &refusal, &ctx.request_id)
}

/// Drops `null` members: AWS leaves absent members out, and SDKs expect exactly that (the CLI
/// prints the engine's answers the same way).
pub fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// An AWS JSON answer: the engine's JSON without its `null` members, with `x-amzn-RequestId`
/// (the same for every action on this door: Cognito's, identity pools', CloudTrail's).
pub(crate) fn aws_answer(v: Value, request_id: &str) -> Response {
    let mut resp = Json(without_nulls(v)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_11));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// A request body as AWS JSON 1.1 reads it: a JSON object, an empty body being `{}`. Public for
/// the fuzz target that reads bodies as this door does.
pub fn json_object(body: &[u8]) -> Option<Value> {
    match serde_json::from_slice(if body.is_empty() { b"{}" } else { body }) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// The action's input ([`json_object`]), or its audited refusal in `words`.
pub(crate) async fn read_input(
    state: &AppState,
    action: &str,
    ctx: &RequestContext,
    words: Words,
    body: &[u8],
) -> Result<Value, Response> {
    match json_object(body) {
        Some(v) => Ok(v),
        None => {
            let refusal = Refusal::told(
                Reason::MalformedRequest,
                "Start of structure or map found where not expected.",
                "the body is not a JSON object",
            );
            Err(refuse(state, action, ctx, words, refusal).await)
        }
    }
}

/// The per-address (and, given a client, per-client) rate limits of the doors anyone may call
/// without a signature, refused as AWS throttles, audited.
pub(crate) async fn throttle(
    state: &AppState,
    action: &str,
    ctx: &RequestContext,
    words: Words,
    client: Option<&str>,
) -> Result<(), Response> {
    let Err((what, retry)) = state.limits.check(&ctx.source_ip, client) else { return Ok(()) };
    let detail = format!("rate limit per {what} exceeded; retry in {retry} s");
    Err(refuse(state, action, ctx, words, Refusal::told(Reason::RateLimited, "Rate exceeded", detail)).await)
}

/// A signature that failed [`check_signature`] or [`verify_caller`], as a refusal.
pub(crate) fn signature_refusal(e: &SigV4Error) -> Refusal {
    let detail = format!("signature check {:?} failed: {}", e.check(), e.message());
    Refusal::told(e.kind().into(), e.message(), detail)
}

/// The audited refusal of a request whose signature failed [`check_signature`], in `words`.
pub(crate) async fn refuse_signature(
    state: &AppState,
    action: &str,
    ctx: &RequestContext,
    words: Words,
    e: &SigV4Error,
) -> Response {
    refuse(state, action, ctx, words, signature_refusal(e)).await
}

async fn json_door(
    State(state): State<AppState>,
    ctx: Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if target.is_empty() && form {
        return crate::query::door(&state, ctx, &method, &uri, &headers, &body).await;
    }
    if let Some(action) = target.strip_prefix(crate::cloudtrail::TARGET_PREFIX) {
        let ctx = ctx.recorded_as(crate::cloudtrail::EVENT_SOURCE, crate::cloudtrail::error_code);
        return crate::cloudtrail::call(&state, action, &ctx, &method, &uri, &headers, &body).await;
    }
    if let Some(action) = target.strip_prefix(crate::identity_pools::TARGET_PREFIX) {
        let ctx = ctx.recorded_as(crate::identity_pools::EVENT_SOURCE, crate::identity_pools::error_code);
        return crate::identity_pools::call(&state, action, &ctx, &method, &uri, &headers, &body).await;
    }
    let ctx = ctx.recorded_as(EVENT_SOURCE, cognito_error_code);
    let rid = ctx.request_id.clone();
    let words: Words = cognito_words;
    let Some(action) = target.strip_prefix(COGNITO_TARGET).map(str::to_string) else {
        let what = if target.is_empty() {
            "missing X-Amz-Target header".to_string()
        } else {
            format!("unknown target {target:?}")
        };
        let refusal = Refusal::told(Reason::UnknownOperation, "Unknown operation", what);
        return refuse(&state, "Unknown", &ctx, words, refusal).await;
    };
    let input = match read_input(&state, &action, &ctx, words, &body).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    if GUESSING_ACTIONS.contains(&action.as_str()) {
        let client = input.get("ClientId").and_then(Value::as_str);
        if let Err(refusal) = throttle(&state, &action, &ctx, words, client).await {
            return refusal;
        }
    }
    // Public actions need no signature; unknown ones are refused as such by the engine.
    let caller = if PUBLIC_ACTIONS.contains(&action.as_str()) || !ACTIONS.contains(&action.as_str()) {
        None
    } else {
        match check_signature(&state, "cognito-idp", &method, &uri, &headers, &body) {
            Ok(caller) => Some(caller),
            Err(e) => return refuse_signature(&state, &action, &ctx, words, &e).await,
        }
    };
    match state.engine.user_pools().user_pool_action(&action, &input, caller.as_ref(), &ctx).await {
        Ok(v) => aws_answer(v, &rid),
        Err(refusal) => aws_error(words, &refusal, &rid),
    }
}

/// The request as SigV4 reads it; `headers` are the pairs of [`header_pairs`].
fn signed_request<'a>(
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a [(String, String)],
    body: &'a [u8],
) -> SignedRequest<'a> {
    SignedRequest { method: method.as_str(), path: uri.path(), query: uri.query().unwrap_or(""), headers, body }
}

/// The request's headers as name-value pairs (a value that is not text is left out).
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string()))).collect()
}

/// Verifies the request's SigV4 signature: by admin credentials, scoped to `service`; says who
/// signed, for the engine to hold the action to.
pub(crate) fn check_signature(
    state: &AppState,
    service: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<CallerIdentity, SigV4Error> {
    let pairs = header_pairs(headers);
    state.engine.iam().verify_admin_signature(service, &signed_request(method, uri, &pairs, body))
}

/// Verifies a SigV4 signature scoped to `service` by admin credentials or by temporary
/// credentials this server issued, and says who signed (the engine decides which).
pub async fn verify_caller(
    state: &AppState,
    service: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<CallerIdentity, SigV4Error> {
    let pairs = header_pairs(headers);
    state.engine.iam().verify_caller(service, &signed_request(method, uri, &pairs, body)).await
}

async fn pool_jwks(State(state): State<AppState>, Path(pool_id): Path<String>) -> Response {
    match state.engine.user_pools().user_pool(&pool_id).await {
        Ok(Some(_)) => {
            state.engine.keys().reload_if_stale().await;
            let mut resp = (*state.engine.keys().jwks_json()).clone().into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            resp
        }
        Ok(None) => not_found(&pool_id),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "message": format!("storage: {e}") }))).into_response()
        }
    }
}

async fn pool_discovery(State(state): State<AppState>, Path(pool_id): Path<String>) -> Response {
    match state.engine.user_pools().user_pool(&pool_id).await {
        Ok(Some(pool)) => {
            let base = &state.engine.issuer();
            let mut doc = json!({
                "issuer": pool.issuer(base),
                "jwks_uri": format!("{base}/{}/.well-known/jwks.json", pool.id),
                "token_endpoint": format!("{base}/oauth2/token"),
                "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [state.engine.keys().active().alg.as_str()],
                "scopes_supported": ["openid", "email", "profile", "aws.cognito.signin.user.admin"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified", "cognito:username", "cognito:groups", "token_use", "scope", "client_id", "username", "origin_jti", "event_id", "jti"],
            });
            // A pool with a domain is an authorization server: its endpoints, in the path form.
            if let Some(domain) = &pool.domain {
                let at = format!("{base}{}/{domain}", crate::hosted::DOMAINS_PREFIX);
                let d = doc.as_object_mut().expect("object");
                d.insert("authorization_endpoint".into(), json!(format!("{at}/oauth2/authorize")));
                d.insert("token_endpoint".into(), json!(format!("{at}/oauth2/token")));
                d.insert("userinfo_endpoint".into(), json!(format!("{at}/oauth2/userInfo")));
                d.insert("end_session_endpoint".into(), json!(format!("{at}/logout")));
                d.insert("revocation_endpoint".into(), json!(format!("{at}/oauth2/revoke")));
                d.insert("response_types_supported".into(), json!(["code"]));
                d.insert("grant_types_supported".into(), json!(["authorization_code", "client_credentials"]));
                d.insert("code_challenge_methods_supported".into(), json!(["S256"]));
                d.insert(
                    "scopes_supported".into(),
                    json!(["openid", "email", "profile", "phone", "aws.cognito.signin.user.admin"]),
                );
            }
            Json(doc).into_response()
        }
        Ok(None) => not_found(&pool_id),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "message": format!("storage: {e}") }))).into_response()
        }
    }
}

fn not_found(pool_id: &str) -> Response {
    let message = bounded_message(&format!("User pool {pool_id} does not exist.")).into_owned();
    (StatusCode::NOT_FOUND, Json(json!({ "message": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cognito_exceptions_and_statuses() {
        let w = |r| {
            let (e, s) = cognito_words(r);
            (e, s.as_u16())
        };
        assert_eq!(w(Reason::NotAuthorized), ("NotAuthorizedException", 400));
        assert_eq!(w(Reason::LockedOut), ("NotAuthorizedException", 400));
        assert_eq!(w(Reason::InvalidGrant), ("NotAuthorizedException", 400));
        assert_eq!(w(Reason::NotFound), ("ResourceNotFoundException", 400));
        assert_eq!(w(Reason::InvalidClient), ("UnauthorizedException", 400));
        assert_eq!(w(Reason::MalformedSignature), ("IncompleteSignatureException", 400));
        assert_eq!(w(Reason::RateLimited), ("TooManyRequestsException", 400));
        assert_eq!(w(Reason::Unavailable), ("InternalErrorException", 500));
        assert_eq!(cognito_error_code("cli.tokenbridge", Reason::UsernameExists), "UsernameExistsException");
    }

    #[test]
    fn nulls_are_left_out_at_every_depth() {
        let v = without_nulls(json!({"a": null, "b": {"c": null, "d": 1}, "e": [{"f": null}]}));
        assert_eq!(v, json!({"b": {"d": 1}, "e": [{}]}));
    }
}
