//! The admin API: admin-authenticated (the admin token, or an access token with the
//! `tokenbridge:admin` scope), never anonymous. Errors are RFC 6750 bearer errors.

use crate::context::Ctx;
use crate::errors::{oauth_error_code, OAuthError};
use crate::oauth2::{bearer, refuse};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokenbridge_core::audit::{apply_lookup_attribute, AuditReader, Explanation, RequestContext};
use tokenbridge_core::clock::parse_time;
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::model::{AuditQuery, AuditRecord};
use tokenbridge_core::{Reason, Refusal};

const EVENT_SOURCE: &str = "admin.tokenbridge";

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(lookup)).route("/admin/audit/{request_id}", get(explain))
}

/// Lets admins through; anyone else gets the bearer error (recorded by the engine).
pub(crate) async fn admitted(state: &AppState, ctx: &RequestContext, headers: &HeaderMap) -> Result<(), Response> {
    match state.engine.authorizer().authorize_admin(bearer(headers), ctx).await {
        Ok(_) => Ok(()),
        Err(d) => Err(OAuthError::new(d, &ctx.request_id).into_response()),
    }
}

/// A refusal the engine already recorded, in the OAuth door's words.
pub(crate) fn refused(refusal: Refusal, ctx: &RequestContext) -> Response {
    OAuthError::new(refusal, &ctx.request_id).into_response()
}

/// `404 {"error":"not_found","error_description","request_id"}`, never cached.
pub(crate) fn not_found(description: &str, request_id: &str) -> Response {
    let description = bounded_message(description);
    let body = json!({ "error": "not_found", "error_description": description, "request_id": request_id });
    let mut resp = (StatusCode::NOT_FOUND, Json(body)).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The audit records of one request that `reader` may see (at most 50, as `audit explain`
/// reads them), read as the operation `event_name`.
pub(crate) async fn records_of(
    state: &AppState,
    event_name: &str,
    ctx: &RequestContext,
    request_id: &str,
    reader: &AuditReader,
) -> Result<Vec<AuditRecord>, Refusal> {
    let q = AuditQuery { request_id: Some(request_id.to_string()), limit: Some(50), ..Default::default() };
    state.engine.read_audit(event_name, ctx, &q, reader).await
}

/// `{"requestId", "events": [Explanation…]}` as `audit explain --json` gives it, or 404 when
/// there is no record to show.
pub(crate) fn explanation(request_id: &str, records: &[AuditRecord], ctx: &RequestContext) -> Response {
    if records.is_empty() {
        return not_found(&format!("no audit event has request id {request_id:?}"), &ctx.request_id);
    }
    let events: Vec<Explanation> = records.iter().map(Explanation::from_record).collect();
    let mut resp = Json(json!({ "requestId": request_id, "events": events })).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /admin/audit/{request_id}`: the decision trail of that request, as `audit explain --json`.
async fn explain(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let ctx = ctx.recorded_as(EVENT_SOURCE, oauth_error_code);
    if let Err(r) = admitted(&state, &ctx, &headers).await {
        return r;
    }
    match records_of(&state, "AdminAuditExplain", &ctx, &id, &AuditReader::Admin).await {
        Ok(records) => explanation(&id, &records, &ctx),
        Err(refusal) => refused(refusal, &ctx),
    }
}

/// Parameters that are CloudTrail lookup attributes, by the attribute they set.
const LOOKUP_ATTRIBUTES: [(&str, &str); 8] = [
    ("event_name", "EventName"),
    ("user", "Username"),
    ("event_id", "EventId"),
    ("event_source", "EventSource"),
    ("access_key_id", "AccessKeyId"),
    ("resource_type", "ResourceType"),
    ("resource_name", "ResourceName"),
    ("read_only", "ReadOnly"),
];

/// The query of `GET /admin/audit`; an error names the parameter at fault.
fn lookup_query(raw: &str) -> Result<AuditQuery, String> {
    let mut q = AuditQuery { limit: Some(50), ..Default::default() };
    let mut seen = std::collections::HashSet::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let (name, value) = (name.as_ref(), value.as_ref());
        if !seen.insert(name.to_string()) {
            return Err(format!("parameter {name:?} is given more than once"));
        }
        let time =
            |v: &str| parse_time(v).ok_or_else(|| format!("{name}: {v:?} is not an RFC 3339 time or epoch seconds"));
        match name {
            "request_id" if value.is_empty() => return Err("request_id: must not be empty".into()),
            "request_id" => q.request_id = Some(value.to_string()),
            "start_time" => q.start_time = Some(time(value)?),
            "end_time" => q.end_time = Some(time(value)?),
            "denied" => {
                q.denied = Some(match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("denied: must be true or false, not {value:?}")),
                })
            }
            "limit" => match value.parse::<u32>() {
                Ok(n @ 1..) => q.limit = Some(n.min(1000)),
                _ => return Err(format!("limit: {value:?} is not a number from 1 to 1000")),
            },
            _ => match LOOKUP_ATTRIBUTES.iter().find(|(param, _)| *param == name) {
                Some((_, attribute)) => {
                    apply_lookup_attribute(&mut q, attribute, value).map_err(|e| format!("{name}: {e}"))?
                }
                None => return Err(format!("unknown parameter {name:?}")),
            },
        }
    }
    if let (Some(start), Some(end)) = (q.start_time, q.end_time) {
        if start > end {
            return Err("start_time: must not be after end_time".into());
        }
    }
    Ok(q)
}

/// `GET /admin/audit?request_id=&event_name=&user=&start_time=&end_time=&denied=true&limit=`
/// (and CloudTrail's other lookup attributes: `event_id`, `event_source`, `access_key_id`,
/// `resource_type`, `resource_name`, `read_only`): audit events, newest first.
async fn lookup(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let ctx = ctx.recorded_as(EVENT_SOURCE, oauth_error_code);
    if let Err(r) = admitted(&state, &ctx, &headers).await {
        return r;
    }
    let q = match lookup_query(raw.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(why) => {
            return refuse(&state, "AdminAuditLookup", &ctx, Refusal::new(Reason::InvalidRequest, why))
                .await
                .into_response()
        }
    };
    match state.engine.read_audit("AdminAuditLookup", &ctx, &q, &AuditReader::Admin).await {
        Ok(records) => {
            Json(json!({ "events": records.into_iter().map(|r| r.record).collect::<Vec<_>>() })).into_response()
        }
        Err(refusal) => refused(refusal, &ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_parameters_fill_the_query() {
        let q = lookup_query(
            "request_id=r1&event_name=Authorize&user=bob&denied=true&limit=5000&start_time=2026-01-01T00:00:00Z&end_time=1767312000&access_key_id=ASIA1",
        )
        .unwrap();
        assert_eq!(q.request_id.as_deref(), Some("r1"));
        assert_eq!(q.event_name.as_deref(), Some("Authorize"));
        assert_eq!(q.username.as_deref(), Some("bob"));
        assert_eq!(q.denied, Some(true));
        assert_eq!(q.limit, Some(1000));
        assert_eq!((q.start_time, q.end_time), (Some(1_767_225_600), Some(1_767_312_000)));
        assert_eq!(q.access_key_id.as_deref(), Some("ASIA1"));
        assert_eq!(lookup_query("").unwrap().limit, Some(50));
        for (raw, named) in [
            ("start_time=yesterday", "start_time: "),
            ("end_time=", "end_time: "),
            ("denied=yes", "denied: "),
            ("limit=0", "limit: "),
            ("event_name=", "event_name: "),
            ("request_id=", "request_id: "),
            ("start_time=200&end_time=100", "start_time: "),
            ("user=a&user=b", "\"user\""),
            ("colour=red", "\"colour\""),
        ] {
            let e = lookup_query(raw).unwrap_err();
            assert!(e.contains(named), "{raw}: {e}");
        }
    }
}
