//! The web console: a static page that walks through the sign-in flows step by step.
//!
//! The assets are embedded in the binary (no build step, nothing fetched from elsewhere at run
//! time); `config.json` tells the page the public settings of this deployment.

use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

const INDEX_HTML: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const APP_CSS: &str = include_str!("../console/app.css");

/// The demo's user pool, named in `config.json` when it exists.
const DEMO_POOL_ID: &str = crate::demo::DEMO_POOL_ID;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/config.json", get(config))
        .route("/console/{file}", get(asset))
}

fn embedded(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

async fn index() -> Response {
    embedded("text/html; charset=utf-8", INDEX_HTML)
}

async fn asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "index.html" => embedded("text/html; charset=utf-8", INDEX_HTML),
        "app.js" => embedded("text/javascript; charset=utf-8", APP_JS),
        "app.css" => embedded("text/css; charset=utf-8", APP_CSS),
        _ => (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-cache")], "not found").into_response(),
    }
}

/// Public settings only: nothing here needs (or reveals) a secret.
async fn config(State(state): State<AppState>) -> Response {
    let engine = &state.engine;
    let iss = &engine.issuer;
    let cognito_endpoint = engine
        .config
        .aws
        .path_prefix
        .as_deref()
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
        .to_string();
    let mut body = json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "cognito_endpoint": cognito_endpoint,
    });
    if let Ok(Some(pool)) = engine.user_pool(DEMO_POOL_ID).await {
        body["user_pool"] = json!({
            "id": pool.id,
            "region": pool.region,
            "issuer": pool.issuer(iss),
            "jwks_uri": format!("{iss}/{}/.well-known/jwks.json", pool.id),
        });
    }
    ([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response()
}
