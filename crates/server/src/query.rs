//! The AWS query protocol on `POST /` (form-encoded `Action=…&Version=…`): IAM (2010-05-08)
//! and STS (2011-06-15). Answers are XML documents in each service's namespace; errors are
//! `<ErrorResponse>` documents with `Sender`/`Receiver`, the code and the message.

use crate::aws::verify_caller;
use crate::context::Ctx;
use crate::AppState;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::iam::{QueryService, STS_EVENT_SOURCE};
use tokenbridge_core::{Denial, DenialCode};

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

fn xml_response(status: u16, body: String, request_id: &str) -> Response {
    let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), body).into_response();
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
    xml_response(200, body, request_id)
}

/// An `<ErrorResponse>` as STS and IAM write it.
pub(crate) fn error(namespace: &str, status: u16, code: &str, message: &str, request_id: &str) -> Response {
    let kind = if status < 500 { "Sender" } else { "Receiver" };
    let body = format!(
        r#"<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>"#,
        escape(code),
        escape(&bounded_message(message)),
        escape(request_id)
    );
    xml_response(status, body, request_id)
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

async fn record(
    state: &AppState,
    action: &str,
    ctx: &tokenbridge_core::audit::RequestContext,
    code: &str,
    detail: &str,
) {
    let mut denial = Denial::new(DenialCode::InvalidRequest, detail);
    denial.exception = Some(code.to_string());
    state.engine.record_denial(action, ctx, &denial).await;
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
    let ctx = ctx.door(STS_EVENT_SOURCE);
    let rid = ctx.request_id.clone();
    let action = p.get("Action").cloned().unwrap_or_default();
    let Some(service) = p.get("Version").and_then(|v| QueryService::by_version(v)) else {
        let ns = QueryService::Sts.namespace();
        let detail = format!("unknown Version {:?} for action {action:?}", p.get("Version"));
        record(state, &action, &ctx, "InvalidAction", &detail).await;
        return error(ns, 400, "InvalidAction", &format!("Could not find operation {action} for this version"), &rid);
    };
    if action.is_empty() {
        return error(service.namespace(), 400, "MissingAction", "Missing Action", &rid);
    }
    let needs_signature = !(service == QueryService::Sts && UNSIGNED_STS.contains(&action.as_str()));
    let caller = if needs_signature {
        match verify_caller(state, service.signing_name(), method, uri, headers, body).await {
            Ok(c) => Some(c),
            Err(e) => {
                let detail = format!("signature check {:?} failed: {}", e.check(), e.message());
                record(state, &action, &ctx, e.aws_query_error_code(), &detail).await;
                return error(service.namespace(), 403, e.aws_query_error_code(), &e.message(), &rid);
            }
        }
    } else {
        if state.limits.check(&ctx.source_ip, None).is_err() {
            record(state, &action, &ctx, "Throttling", "rate limit per source address exceeded").await;
            return error(service.namespace(), 400, "Throttling", "Rate exceeded", &rid);
        }
        None
    };
    match state.engine.query_action(service, &action, &p, caller.as_ref(), &ctx).await {
        Ok(v) => success(service, &action, &v, &rid),
        Err(e) => error(service.namespace(), e.status, e.code, &e.message, &rid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_answers_become_query_xml() {
        let mut out = String::new();
        write_xml(&mut out, "R", &json!({"A": "x<y", "L": ["1", {"B": 2}], "N": null, "T": true}));
        assert_eq!(out, "<R><A>x&lt;y</A><L><member>1</member><member><B>2</B></member></L><T>true</T></R>");
    }
}
