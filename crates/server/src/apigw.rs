//! The AWS API Gateway Lambda-authorizer format: `POST /authorizer` takes a TOKEN or REQUEST
//! event (REST API, or HTTP API payload 2.0) and answers the IAM policy response, so the same
//! decision serves API Gateway (see `tokenbridge lambda`).
//!
//! The answer is always a policy: `Allow`, or `Deny` with `context.status` 401 (no or bad token;
//! a Lambda answers `Unauthorized` for those) or 403, plus the request id and the reason.

use crate::context::Ctx;
use crate::errors::{oauth_error_code, oauth_words};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::authorizer::AccessRequest;
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::{Engine, Reason};

pub fn routes() -> Router<AppState> {
    Router::new().route("/authorizer", post(authorizer))
}

/// Why an event got no policy at all.
#[derive(Debug)]
pub enum EventError {
    /// The event is not an authorizer event (HTTP 400).
    Malformed(String),
    /// A dependency is down (HTTP 503); the gateway should answer 5xx, not deny.
    Unavailable(String),
}

async fn authorizer(State(state): State<AppState>, ctx: Ctx, body: axum::body::Bytes) -> Response {
    let ctx = ctx.recorded_as("authorizer.tokenbridge", oauth_error_code);
    let request_id = ctx.request_id.clone();
    let event: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}"), &request_id),
    };
    match decide(&state.engine, &event, ctx).await {
        Ok(policy) => Json(policy).into_response(),
        Err(EventError::Malformed(m)) => error(StatusCode::BAD_REQUEST, &m, &request_id),
        Err(EventError::Unavailable(m)) => error(StatusCode::SERVICE_UNAVAILABLE, &m, &request_id),
    }
}

fn error(status: StatusCode, message: &str, request_id: &str) -> Response {
    let message = bounded_message(message);
    (status, Json(json!({ "message": message, "request_id": request_id }))).into_response()
}

/// What an event asks about.
struct Parsed {
    arn: String,
    token: Option<String>,
    method: String,
    path: String,
    host: Option<String>,
    source_ip: Option<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// A header by name, whatever its case (API Gateway passes them as sent).
fn header<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event.get("headers")?.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
}

fn bearer_of(value: &str) -> Option<String> {
    let v = value.trim();
    let t = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).unwrap_or(v).trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{method}/{path…}` → (method, path).
fn split_method_arn(arn: &str) -> Result<(String, String), EventError> {
    let bad = || EventError::Malformed(format!("methodArn {arn:?} is not arn:aws:execute-api:…:api/stage/METHOD/path"));
    let resource = arn.strip_prefix("arn:").and_then(|r| r.splitn(5, ':').nth(4)).ok_or_else(bad)?;
    let mut parts = resource.splitn(4, '/');
    let (_api, _stage) = (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?);
    let method = parts.next().filter(|m| !m.is_empty()).ok_or_else(bad)?;
    Ok((method.to_string(), format!("/{}", parts.next().unwrap_or(""))))
}

fn parse(event: &Value) -> Result<Parsed, EventError> {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    let query = |event: &Value| -> String {
        match event.get("rawQueryString").and_then(Value::as_str).filter(|q| !q.is_empty()) {
            Some(q) => format!("?{q}"),
            None => String::new(),
        }
    };
    match kind {
        "TOKEN" => {
            let arn = str_at(event, &["methodArn"])
                .ok_or_else(|| EventError::Malformed("TOKEN event has no methodArn".into()))?;
            let (method, path) = split_method_arn(arn)?;
            Ok(Parsed {
                arn: arn.to_string(),
                token: str_at(event, &["authorizationToken"]).and_then(bearer_of),
                method,
                path,
                host: None,
                source_ip: None,
            })
        }
        "REQUEST" if event.get("version").and_then(Value::as_str) == Some("2.0") => {
            let arn = str_at(event, &["routeArn"])
                .ok_or_else(|| EventError::Malformed("payload 2.0 event has no routeArn".into()))?;
            let method = str_at(event, &["requestContext", "http", "method"])
                .ok_or_else(|| EventError::Malformed("payload 2.0 event has no requestContext.http.method".into()))?;
            let path =
                str_at(event, &["rawPath"]).or(str_at(event, &["requestContext", "http", "path"])).unwrap_or("/");
            let token = header(event, "authorization").or_else(|| {
                event.get("identitySource").and_then(Value::as_array).and_then(|a| a.first()).and_then(Value::as_str)
            });
            Ok(Parsed {
                arn: arn.to_string(),
                token: token.and_then(bearer_of),
                method: method.to_string(),
                path: format!("{path}{}", query(event)),
                host: header(event, "host").map(str::to_string),
                source_ip: str_at(event, &["requestContext", "http", "sourceIp"]).map(str::to_string),
            })
        }
        "REQUEST" => {
            let arn = str_at(event, &["methodArn"])
                .ok_or_else(|| EventError::Malformed("REQUEST event has no methodArn".into()))?;
            let (arn_method, arn_path) = split_method_arn(arn)?;
            Ok(Parsed {
                arn: arn.to_string(),
                token: header(event, "authorization").and_then(bearer_of),
                method: str_at(event, &["httpMethod"]).map(str::to_string).unwrap_or(arn_method),
                path: str_at(event, &["path"]).map(str::to_string).unwrap_or(arn_path),
                host: header(event, "host").map(str::to_string),
                source_ip: str_at(event, &["requestContext", "identity", "sourceIp"]).map(str::to_string),
            })
        }
        other => Err(EventError::Malformed(format!("event type {other:?} is neither TOKEN nor REQUEST"))),
    }
}

/// Decides one authorizer event and builds the policy response.
pub async fn decide(engine: &Engine, event: &Value, ctx: RequestContext) -> Result<Value, EventError> {
    // Refusals are recorded as the token endpoints name them, whoever passed the event on.
    let mut ctx = ctx.named_by(oauth_error_code);
    let p = parse(event)?;
    if let Some(ip) = &p.source_ip {
        // The gateway saw the client; whoever can call this endpoint speaks for the gateway.
        ctx.source_ip = ip.clone();
    }
    let req = AccessRequest {
        token: p.token.as_deref(),
        method: &p.method,
        path: &p.path,
        host: p.host.as_deref(),
        unreadable: None,
    };
    let policy = |effect: &str| {
        json!({
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": effect, "Resource": p.arn }],
        })
    };
    match engine.authorizer().authorize(&req, &ctx).await {
        Ok(allowed) => {
            let id = &allowed.identity;
            let mut context = Map::new();
            context.insert("sub".into(), json!(id.subject));
            context.insert("username".into(), json!(id.username));
            context.insert("groups".into(), json!(id.groups.join(",")));
            context.insert("client_id".into(), json!(id.client_id.clone().unwrap_or_default()));
            context.insert("scopes".into(), json!(id.scopes.join(" ")));
            context.insert("token_kind".into(), json!(id.token_kind));
            context.insert("route".into(), json!(allowed.route));
            context.insert("request_id".into(), json!(ctx.request_id));
            let principal = if id.subject.is_empty() { "anonymous" } else { id.subject.as_str() };
            Ok(json!({ "principalId": principal, "policyDocument": policy("Allow"), "context": context }))
        }
        Err(d) if d.reason == Reason::Unavailable => Err(EventError::Unavailable(d.message)),
        Err(d) => {
            let (error, status) = oauth_words(d.reason);
            Ok(json!({
                "principalId": "anonymous",
                "policyDocument": policy("Deny"),
                "context": {
                    "status": status.as_u16(),
                    "error": error,
                    "error_description": bounded_message(&d.message),
                    "request_id": ctx.request_id,
                },
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_arns_split_into_method_and_path() {
        let (m, p) =
            split_method_arn("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/demo/api/hello").unwrap();
        assert_eq!((m.as_str(), p.as_str()), ("GET", "/demo/api/hello"));
        let (m, p) = split_method_arn("arn:aws:execute-api:eu-west-1:1:api/stage/POST").unwrap();
        assert_eq!((m.as_str(), p.as_str()), ("POST", "/"));
        assert!(split_method_arn("arn:aws:s3:::bucket").is_err());
        assert!(split_method_arn("nonsense").is_err());
    }

    #[test]
    fn events_of_each_shape_parse() {
        let t = parse(&json!({"type": "TOKEN", "authorizationToken": "Bearer abc",
            "methodArn": "arn:aws:execute-api:us-east-1:1:api/prod/GET/x"}))
        .unwrap();
        assert_eq!((t.token.as_deref(), t.method.as_str(), t.path.as_str()), (Some("abc"), "GET", "/x"));
        let r = parse(&json!({"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:1:api/prod/POST/orders",
            "httpMethod": "POST", "path": "/orders", "headers": {"AUTHORIZATION": "Bearer t", "Host": "api.test"},
            "requestContext": {"identity": {"sourceIp": "10.0.0.7"}}}))
        .unwrap();
        assert_eq!(
            (r.token.as_deref(), r.host.as_deref(), r.source_ip.as_deref()),
            (Some("t"), Some("api.test"), Some("10.0.0.7"))
        );
        let v2 = parse(&json!({"version": "2.0", "type": "REQUEST", "routeArn": "arn:aws:execute-api:us-east-1:1:api/$default/GET/x",
            "identitySource": ["Bearer v2"], "rawPath": "/x", "rawQueryString": "a=1",
            "requestContext": {"http": {"method": "GET", "path": "/x", "sourceIp": "::1"}}}))
        .unwrap();
        assert_eq!((v2.token.as_deref(), v2.path.as_str()), (Some("v2"), "/x?a=1"));
        assert!(matches!(parse(&json!({"type": "OTHER"})), Err(EventError::Malformed(_))));
        assert!(matches!(parse(&json!({"type": "TOKEN"})), Err(EventError::Malformed(_))));
    }
}
