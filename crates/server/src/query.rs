//! The AWS query protocol on `POST /` (form-encoded `Action=…&Version=…`): IAM (2010-05-08)
//! and STS (2011-06-15). Answers are XML documents in each service's namespace; errors are
//! `<ErrorResponse>` documents with `Sender`/`Receiver`, the code and the message.

use crate::aws::{signature_refusal, verify_caller};
use crate::context::Ctx;
use crate::AppState;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::iam::{QueryService, STS_EVENT_SOURCE};
use tokenbridge_core::{Reason, Refusal};

/// STS actions a caller may make without a signature (the web identity token is the credential).
const UNSIGNED_STS: &[&str] = &["AssumeRoleWithWebIdentity"];

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no spelling for other control characters, even escaped: a name sent
            // with one would make the whole answer unreadable to the SDK.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Writes a JSON answer as query-protocol XML: members as elements, lists as `<member>`s,
/// absent (`null`) members left out.
fn write_xml(out: &mut String, name: &str, v: &Value) {
    match v {
        Value::Null => {}
        Value::Object(m) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in m {
                write_xml(out, k, v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Array(a) => {
            out.push_str(&format!("<{name}>"));
            for v in a {
                write_xml(out, "member", v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn success(service: QueryService, action: &str, result: &Value, request_id: &str) -> Response {
    let mut body = format!(r#"<{action}Response xmlns="{}">"#, service.namespace());
    match result {
        Value::Object(m) if m.is_empty() => {}
        v => write_xml(&mut body, &format!("{action}Result"), v),
    }
    body.push_str(&format!(
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        escape(request_id)
    ));
    xml_response(StatusCode::OK, body, request_id)
}

/// The `<Code>` and HTTP status of an IAM or STS refusal (`Sender` below 500, else `Receiver`).
pub fn query_words(reason: Reason) -> (&'static str, StatusCode) {
    use Reason::*;
    match reason {
        InvalidParameter => ("ValidationError", StatusCode::BAD_REQUEST),
        MalformedPolicy => ("MalformedPolicyDocument", StatusCode::BAD_REQUEST),
        NotFound => ("NoSuchEntity", StatusCode::NOT_FOUND),
        AlreadyExists => ("EntityAlreadyExists", StatusCode::CONFLICT),
        InUse => ("DeleteConflict", StatusCode::CONFLICT),
        UnknownOperation => ("InvalidAction", StatusCode::BAD_REQUEST),
        InvalidIdentityToken => ("InvalidIdentityToken", StatusCode::BAD_REQUEST),
        ExpiredToken => ("ExpiredTokenException", StatusCode::BAD_REQUEST),
        MissingAuthentication => ("MissingAuthenticationToken", StatusCode::FORBIDDEN),
        UnknownCredentials => ("InvalidClientTokenId", StatusCode::FORBIDDEN),
        MalformedSignature => ("IncompleteSignature", StatusCode::FORBIDDEN),
        SignatureMismatch => ("SignatureDoesNotMatch", StatusCode::FORBIDDEN),
        RateLimited => ("Throttling", StatusCode::BAD_REQUEST),
        Unavailable => ("ServiceUnavailable", StatusCode::SERVICE_UNAVAILABLE),
        // A caller, a token or a trust policy that says no.
        _ => ("AccessDenied", StatusCode::FORBIDDEN),
    }
}

/// The query door's `errorCode`: its `<Code>`.
pub fn error_code(_event_source: &str, reason: Reason) -> &'static str {
    query_words(reason).0
}

/// An `<ErrorResponse>` as STS and IAM write it.
fn error_document(namespace: &str, status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let kind = if status.is_server_error() { "Receiver" } else { "Sender" };
    let body = format!(
        r#"<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>"#,
        escape(code),
        escape(&bounded_message(message)),
        escape(request_id)
    );
    xml_response(status, body, request_id)
}

/// A refusal as an `<ErrorResponse>` of the service whose namespace is `namespace`.
fn error(namespace: &str, refusal: &Refusal, request_id: &str) -> Response {
    let (code, status) = query_words(refusal.reason);
    error_document(namespace, status, code, &refusal.message, request_id)
}

/// The request's parameters: the form body and the query string (body wins). Public for the
/// fuzz target that reads requests as this door does.
pub fn params(uri: &Uri, body: &[u8]) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        p.insert(k.into_owned(), v.into_owned());
    }
    for (k, v) in url::form_urlencoded::parse(body) {
        p.insert(k.into_owned(), v.into_owned());
    }
    p
}

/// Records a refusal decided before the engine saw the request, and renders it.
async fn refuse(state: &AppState, action: &str, ctx: &RequestContext, namespace: &str, refusal: Refusal) -> Response {
    state.engine.record_refusal(action, ctx, &refusal).await;
    error(namespace, &refusal, &ctx.request_id)
}

pub(crate) async fn door(
    state: &AppState,
    ctx: Ctx,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let p = params(uri, body);
    let ctx = ctx.recorded_as(STS_EVENT_SOURCE, error_code);
    let rid = ctx.request_id.clone();
    let action = p.get("Action").cloned().unwrap_or_default();
    let Some(service) = p.get("Version").and_then(|v| QueryService::by_version(v)) else {
        let ns = QueryService::Sts.namespace();
        let detail = format!("unknown Version {:?} for action {action:?}", p.get("Version"));
        let message = format!("Could not find operation {action} for this version");
        return refuse(state, &action, &ctx, ns, Refusal::told(Reason::UnknownOperation, message, detail)).await;
    };
    let ns = service.namespace();
    if action.is_empty() {
        return error_document(ns, StatusCode::BAD_REQUEST, "MissingAction", "Missing Action", &rid);
    }
    let needs_signature = !(service == QueryService::Sts && UNSIGNED_STS.contains(&action.as_str()));
    let caller = if needs_signature {
        match verify_caller(state, service.signing_name(), method, uri, headers, body).await {
            Ok(c) => Some(c),
            Err(e) => return refuse(state, &action, &ctx, ns, signature_refusal(&e)).await,
        }
    } else {
        if state.limits.check(&ctx.source_ip, None).is_err() {
            let refusal = Refusal::told(Reason::RateLimited, "Rate exceeded", "rate limit per source address exceeded");
            return refuse(state, &action, &ctx, ns, refusal).await;
        }
        None
    };
    match state.engine.iam().query_action(service, &action, &p, caller.as_ref(), &ctx).await {
        Ok(v) => success(service, &action, &v, &rid),
        Err(refusal) => error(ns, &refusal, &rid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_codes_and_statuses() {
        let w = |r| {
            let (c, s) = query_words(r);
            (c, s.as_u16())
        };
        assert_eq!(w(Reason::InvalidParameter), ("ValidationError", 400));
        assert_eq!(w(Reason::NotFound), ("NoSuchEntity", 404));
        assert_eq!(w(Reason::AlreadyExists), ("EntityAlreadyExists", 409));
        assert_eq!(w(Reason::InUse), ("DeleteConflict", 409));
        assert_eq!(w(Reason::AccessDenied), ("AccessDenied", 403));
        assert_eq!(w(Reason::MissingAuthentication), ("MissingAuthenticationToken", 403));
        assert_eq!(w(Reason::SignatureMismatch), ("SignatureDoesNotMatch", 403));
        assert_eq!(w(Reason::ExpiredToken), ("ExpiredTokenException", 400));
        assert_eq!(w(Reason::Unavailable), ("ServiceUnavailable", 503));
        let e = error("urn:x", &Refusal::new(Reason::Unavailable, "down"), "r1");
        assert_eq!(e.status(), 503);
    }

    #[test]
    fn json_answers_become_query_xml() {
        let mut out = String::new();
        write_xml(&mut out, "R", &json!({"A": "x<y", "L": ["1", {"B": 2}], "N": null, "T": true}));
        assert_eq!(out, "<R><A>x&lt;y</A><L><member>1</member><member><B>2</B></member></L><T>true</T></R>");
    }
}
