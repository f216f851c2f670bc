//! The demo's sample protected API, behind the same decision as forward-auth and `/authorizer`:
//! `GET /demo/api/hello`, `POST /demo/api/orders` (scope orders:write, group admins) and
//! `GET /demo/api/orders` (scope orders:read). Each answers with who called; orders live in
//! memory (the last 100).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokenbridge_core::authorizer::AccessRequest;
use tokenbridge_core::clock::rfc3339;
use tokenbridge_core::secrets::uuid_v4;
use tokenbridge_server::context::Ctx;
use tokenbridge_server::errors::{oauth_error_code, OAuthError};
use tokenbridge_server::oauth2::bearer;
use tokenbridge_server::AppState;

const KEPT_ORDERS: usize = 100;

/// The endpoints, as the console lists them.
pub const ENDPOINTS: [&str; 3] = ["GET /demo/api/hello", "GET /demo/api/orders", "POST /demo/api/orders"];

#[derive(Clone)]
struct DemoApi {
    app: AppState,
    orders: Arc<Mutex<VecDeque<Value>>>,
}

pub fn routes(app: AppState) -> Router {
    Router::new().route("/demo/api/{*rest}", any(api)).with_state(DemoApi { app, orders: Default::default() })
}

async fn api(State(demo): State<DemoApi>, ctx: Ctx, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let ctx = ctx.recorded_as("demo-api.tokenbridge", oauth_error_code);
    let engine = &demo.app.engine;
    let path = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let req = AccessRequest { token: bearer(&headers), method: method.as_str(), path, host: None, unreadable: None };
    let allowed = match engine.authorizer().authorize(&req, &ctx).await {
        Ok(a) => a,
        Err(denial) => return OAuthError::new(denial, &ctx.request_id).into_response(),
    };
    let caller = allowed.identity.as_ref();
    let answer = |status: StatusCode, mut body: Value| {
        body["caller"] = json!(caller);
        body["route"] = json!(allowed.route);
        body["request_id"] = json!(ctx.request_id);
        (status, Json(body)).into_response()
    };
    match (method, uri.path()) {
        (Method::GET, "/demo/api/hello") => {
            answer(StatusCode::OK, json!({ "message": format!("Hello, {}!", caller.username) }))
        }
        (Method::POST, "/demo/api/orders") => {
            let order =
                json!({ "order_id": uuid_v4(), "placed_by": caller.username, "placed_at": rfc3339(engine.now()) });
            let mut orders = demo.orders.lock().expect("orders lock");
            orders.push_front(order.clone());
            orders.truncate(KEPT_ORDERS);
            answer(StatusCode::CREATED, order)
        }
        (Method::GET, "/demo/api/orders") => {
            let orders: Vec<Value> = demo.orders.lock().expect("orders lock").iter().cloned().collect();
            answer(StatusCode::OK, json!({ "orders": orders }))
        }
        _ => answer(StatusCode::NOT_FOUND, json!({ "message": "no such demo endpoint" })),
    }
}
