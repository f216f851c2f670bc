//! The HTTP side: who called, the engine's decision, and the answer in AppSync's shape.

use super::execution::{execute, ResponseTooLarge};
use super::request::parse_request;
use super::{GraphqlApi, MAX_RESPONSE_BYTES, SIGNING_NAME};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};
use tokenbridge_core::appsync::{GraphqlCaller, EVENT_SOURCE};
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::iam::CallerIdentity;
use tokenbridge_core::sigv4::SigV4Error;
use tokenbridge_core::{Reason, Refusal};
use tokenbridge_server::aws::verify_caller;
use tokenbridge_server::context::Ctx;
use tokenbridge_server::AppState;

pub(super) async fn handle(
    State(api): State<GraphqlApi>,
    ctx: Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = ctx.recorded_as(EVENT_SOURCE, error_code);
    let engine = &api.app.engine;
    let caller = caller_of(&api.app, &method, &uri, &headers, &body).await;
    let parsed = parse_request(&body);
    let operation = parsed.as_ref().map(|p| &p.operation);
    let allowed = match engine.appsync().authorize_graphql(&caller, operation, &ctx).await {
        Ok(a) => a,
        Err(refusal) => return error_response(&refusal, &ctx.request_id),
    };
    let Ok(request) = parsed else {
        // The engine refuses every invalid request; this is not reached.
        return error_response(&Refusal::new(Reason::InvalidParameter, "invalid request"), &ctx.request_id);
    };
    let body = match execute(&request, &api.items, &allowed.owner, engine.now(), MAX_RESPONSE_BYTES) {
        Ok((data, errors)) => {
            let mut body = format!("{{\"data\":{data}");
            if !errors.is_empty() {
                body.push_str(",\"errors\":");
                body.push_str(&Json::Array(errors).to_string());
            }
            body.push('}');
            body
        }
        Err(ResponseTooLarge) => {
            tracing::warn!(request_id = %ctx.request_id, limit = MAX_RESPONSE_BYTES, "GraphQL answer over its size limit");
            json!({ "data": null, "errors": [{
                "errorType": "LimitExceededException",
                "message": format!(
                    "The response is larger than the response size limit of {MAX_RESPONSE_BYTES} bytes; \
                     select fewer fields or lists."
                ),
            }] })
            .to_string()
        }
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// AppSync's `errorType` and HTTP status of a refusal: every failure to authenticate or
/// authorize is `UnauthorizedException` (401).
pub(super) fn graphql_words(reason: Reason) -> (&'static str, StatusCode) {
    match reason {
        Reason::MalformedRequest => ("MalformedHttpRequestException", StatusCode::BAD_REQUEST),
        Reason::InvalidParameter => ("ValidationError", StatusCode::BAD_REQUEST),
        Reason::Unavailable => ("ServiceUnavailableException", StatusCode::SERVICE_UNAVAILABLE),
        _ => ("UnauthorizedException", StatusCode::UNAUTHORIZED),
    }
}

/// The GraphQL door's `errorCode`: its `errorType`.
fn error_code(_event_source: &str, reason: Reason) -> &'static str {
    graphql_words(reason).0
}

/// AppSync's error answer: `{"errors":[{"errorType", "message"}]}` with `x-amzn-RequestId`.
fn error_response(refusal: &Refusal, request_id: &str) -> Response {
    let (error_type, status) = graphql_words(refusal.reason);
    let body = json!({ "errors": [{ "errorType": error_type, "message": bounded_message(&refusal.message) }] });
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Ok(v) = HeaderValue::from_str(error_type) {
        h.insert("x-amzn-errortype", v);
    }
    resp
}

/// Who sent the request: a SigV4 signature (verified here), a user-pool token (verified by
/// the engine), or nobody.
async fn caller_of(state: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> GraphqlCaller {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().map(str::trim));
    let presigned = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("X-Amz-Signature=") || p.starts_with("X-Amz-Credential=")));
    match authorization {
        Some(Ok(a)) if a.starts_with("AWS4-") => {}
        None if presigned => {}
        Some(Ok(a)) if !a.is_empty() => return GraphqlCaller::UserPoolToken(a.to_string()),
        Some(Err(_)) => {
            return GraphqlCaller::Unauthenticated {
                check: "authentication".into(),
                detail: "the Authorization header is not valid text".into(),
                message: "Valid authorization header not provided.".into(),
            }
        }
        _ => {
            return GraphqlCaller::Unauthenticated {
                check: "authentication".into(),
                detail: "no Authorization header: neither a SigV4 signature nor a user-pool token".into(),
                message: "Valid authorization header not provided: sign the request with SigV4 (service appsync) \
                          or send a user-pool token in Authorization."
                    .into(),
            }
        }
    }
    match verify_caller(state, SIGNING_NAME, method, uri, headers, body).await {
        Ok(CallerIdentity::Session(claims)) => GraphqlCaller::Session(claims),
        Ok(CallerIdentity::Admin { access_key_id }) => GraphqlCaller::Admin { access_key_id },
        Err(e) => {
            let mut detail = format!("signature check {:?} failed: {e}", e.check());
            let mut message = format!("{} ({})", e.message(), e.aws_error_type());
            if matches!(e, SigV4Error::UnknownAccessKey(_)) {
                if let Some(why) = session_token_problem(state, uri, headers).await {
                    if why.reason == Reason::ExpiredToken {
                        message = "The security token included in the request is expired".into();
                    }
                    detail.push_str(&format!("; the session token: {}", why.message));
                }
            }
            GraphqlCaller::Unauthenticated { check: e.check().to_string(), detail, message }
        }
    }
}

/// Why a presented session token gave no secret (expired, not ours, another key's), if it did not.
async fn session_token_problem(state: &AppState, uri: &Uri, headers: &HeaderMap) -> Option<Refusal> {
    let token = match headers.get("x-amz-security-token").and_then(|v| v.to_str().ok()) {
        Some(t) => t.to_string(),
        None => url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "X-Amz-Security-Token")
            .map(|(_, v)| v.into_owned())?,
    };
    match state.engine.iam().open_session_token(&token).await {
        Err(why) => Some(why),
        Ok(_) => Some(Refusal::new(
            Reason::UnknownCredentials,
            "it belongs to other credentials than the signing access key",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsync_error_types_and_statuses() {
        let w = |r| {
            let (t, s) = graphql_words(r);
            (t, s.as_u16())
        };
        assert_eq!(w(Reason::NotAuthorized), ("UnauthorizedException", 401));
        assert_eq!(w(Reason::AccessDenied), ("UnauthorizedException", 401));
        assert_eq!(w(Reason::ExpiredToken), ("UnauthorizedException", 401));
        assert_eq!(w(Reason::MalformedRequest), ("MalformedHttpRequestException", 400));
        assert_eq!(w(Reason::InvalidParameter), ("ValidationError", 400));
        assert_eq!(w(Reason::Unavailable), ("ServiceUnavailableException", 503));
    }
}
