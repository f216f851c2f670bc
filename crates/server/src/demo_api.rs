//! The demo's sample protected API: `GET /demo/api/hello` and `POST /demo/api/orders`, behind the
//! same decision as forward-auth and `/authorizer`, answering with who called.

use crate::context::Ctx;
use crate::errors::OAuthError;
use crate::oauth2::bearer;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::json;
use tokenbridge_core::authorizer::AccessRequest;
use tokenbridge_core::secrets::uuid_v4;

pub fn routes() -> Router<AppState> {
    Router::new().route("/demo/api/{*rest}", any(api))
}

async fn api(State(state): State<AppState>, ctx: Ctx, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let ctx = ctx.door("demo-api.tokenbridge");
    let path = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let req = AccessRequest { token: bearer(&headers), method: method.as_str(), path, host: None };
    let allowed = match state.engine.authorize(&req, &ctx).await {
        Ok(a) => a,
        Err(denial) => return OAuthError::new(denial, &ctx.request_id).into_response(),
    };
    let caller = &allowed.identity;
    match (method, uri.path()) {
        (Method::GET, "/demo/api/hello") => Json(json!({
            "message": format!("Hello, {}!", caller.username),
            "caller": caller.as_ref(),
            "route": allowed.route,
            "request_id": ctx.request_id,
        }))
        .into_response(),
        (Method::POST, "/demo/api/orders") => (
            StatusCode::CREATED,
            Json(json!({
                "order_id": uuid_v4(),
                "placed_by": caller.username,
                "caller": caller.as_ref(),
                "route": allowed.route,
                "request_id": ctx.request_id,
            })),
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, Json(json!({ "message": "no such demo endpoint", "request_id": ctx.request_id })))
            .into_response(),
    }
}
