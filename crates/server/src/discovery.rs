//! `/.well-known/openid-configuration` (RFC 8414 fields that apply) and `/.well-known/jwks.json`.

use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(openid_configuration))
        .route("/.well-known/oauth-authorization-server", get(openid_configuration))
        .route("/.well-known/jwks.json", get(jwks))
}

async fn openid_configuration(State(state): State<AppState>) -> Json<serde_json::Value> {
    let iss = &state.engine.issuer();
    let algs: Vec<&str> = vec![state.engine.keys().active().alg.as_str()];
    Json(json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "revocation_endpoint": format!("{iss}/oauth2/revoke"),
        "introspection_endpoint": format!("{iss}/oauth2/introspect"),
        "userinfo_endpoint": format!("{iss}/oauth2/userinfo"),
        "token_exchange_endpoint": format!("{iss}/auth/exchange"),
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange", "refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified", "cognito:username", "cognito:groups", "token_use", "scope", "client_id", "username"],
    }))
}

async fn jwks(State(state): State<AppState>) -> Response {
    state.engine.keys().reload_if_stale().await;
    let body = state.engine.keys().jwks_json();
    let mut resp = (*body).clone().into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    resp
}
