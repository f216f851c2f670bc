//! The admin API: admin-authenticated (the admin token, or an access token with the
//! `tokenbridge:admin` scope), never anonymous. Errors are RFC 6750 bearer errors.

use crate::context::Ctx;
use crate::errors::OAuthError;
use crate::oauth2::bearer;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokenbridge_core::audit::{Explanation, RequestContext};
use tokenbridge_core::model::AuditQuery;
use tokenbridge_core::Denial;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(lookup)).route("/admin/audit/{request_id}", get(explain))
}

async fn admitted(state: &AppState, ctx: &RequestContext, headers: &HeaderMap) -> Result<(), Response> {
    match state.engine.authorize_admin(bearer(headers), ctx).await {
        Ok(_) => Ok(()),
        Err(d) => Err(OAuthError::new(d, &ctx.request_id).into_response()),
    }
}

fn unavailable(e: impl std::fmt::Display, ctx: &RequestContext) -> Response {
    OAuthError::new(Denial::storage(e), &ctx.request_id).into_response()
}

/// `GET /admin/audit/{request_id}`: the decision trail of that request, as `audit explain --json`.
async fn explain(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let ctx = ctx.door("admin.tokenbridge");
    if let Err(r) = admitted(&state, &ctx, &headers).await {
        return r;
    }
    let q = AuditQuery { request_id: Some(id.clone()), limit: Some(50), ..Default::default() };
    match state.engine.store.lookup_audit(&q).await {
        Ok(records) if records.is_empty() => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "not_found", "error_description": format!("no audit event has request id {id:?}"), "request_id": ctx.request_id })),
        )
            .into_response(),
        Ok(records) => {
            let events: Vec<Explanation> = records.iter().map(Explanation::from_record).collect();
            Json(json!({ "requestId": id, "events": events })).into_response()
        }
        Err(e) => unavailable(e, &ctx),
    }
}

#[derive(Deserialize)]
struct LookupParams {
    event_name: Option<String>,
    user: Option<String>,
    denied: Option<bool>,
    limit: Option<u32>,
}

/// `GET /admin/audit?event_name=&user=&denied=true&limit=`: audit events, newest first.
async fn lookup(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(p): Query<LookupParams>,
) -> Response {
    let ctx = ctx.door("admin.tokenbridge");
    if let Err(r) = admitted(&state, &ctx, &headers).await {
        return r;
    }
    let q = AuditQuery {
        event_name: p.event_name,
        username: p.user,
        denied: p.denied,
        limit: Some(p.limit.unwrap_or(50).min(1000)),
        ..Default::default()
    };
    match state.engine.store.lookup_audit(&q).await {
        Ok(records) => {
            Json(json!({ "events": records.into_iter().map(|r| r.record).collect::<Vec<_>>() })).into_response()
        }
        Err(e) => unavailable(e, &ctx),
    }
}
