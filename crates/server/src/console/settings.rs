//! `GET /console/config.json`: the public settings the page runs with. Nothing here needs (or
//! reveals) a secret.

use super::Enabled;
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokenbridge_core::config::Config;

pub(super) async fn config(_: Enabled, State(state): State<AppState>) -> Response {
    let engine = &state.engine;
    let console = &engine.config().console;
    let iss = &engine.issuer();
    let cognito_endpoint = engine
        .config()
        .aws
        .path_prefix
        .as_deref()
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
        .unwrap_or("/")
        .to_string();
    let providers: Vec<Value> = engine
        .config()
        .providers
        .iter()
        .filter(|p| p.login.is_some())
        .map(|p| json!({ "name": p.name, "issuer": p.issuer, "login": format!("/console/login/{}", p.name) }))
        .collect();
    let mut identity_pools = Vec::new();
    for id in &console.identity_pool_ids {
        if let Ok(Some(pool)) = engine.identity_pools().identity_pool(id).await {
            identity_pools.push(json!({ "id": id, "name": pool.identity_pool_name }));
        }
    }
    let mut body = json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "exchange_endpoint": "/auth/exchange",
        "revoke_endpoint": "/oauth2/revoke",
        "cognito_endpoint": cognito_endpoint,
        "region": engine.config().aws.region,
        "oauth_client_id": console.oauth_client_id,
        "providers": providers,
        "identity_pools": identity_pools,
        "explain_to_caller": console.explain_to_caller,
        "explain_signing_service": super::EXPLAIN_SIGNING_NAME,
    });
    let pool = match console.user_pool_id.as_deref() {
        Some(id) => engine.user_pools().user_pool(id).await.ok().flatten(),
        None => None,
    };
    if let Some(pool) = pool {
        body["user_pool"] = json!({
            "id": pool.id,
            "region": pool.region,
            "issuer": pool.issuer(iss),
            "jwks_uri": format!("{iss}/{}/.well-known/jwks.json", pool.id),
            "client_id": console.user_pool_client_id,
        });
        if let (Some(domain), Some(client_id)) = (&pool.domain, &console.hosted_ui_client_id) {
            body["hosted_ui"] = hosted_ui(engine.config(), &pool.id, domain, client_id, iss);
        }
    }
    if let Some(samples) = &state.sample_apis {
        body["demo"] = (**samples).clone();
    }
    ([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response()
}

/// The hosted sign-in of the console's pool, on this origin's path form of its domain: the
/// scopes and identity providers are the configured client's (an app client made otherwise gets
/// `openid` and the sign-in page's own choice).
fn hosted_ui(config: &Config, pool_id: &str, domain: &str, client_id: &str, iss: &str) -> Value {
    let at = format!("{}/{domain}", crate::hosted::DOMAINS_PREFIX);
    let configured = config.user_pools.iter().filter(|p| p.id == pool_id).flat_map(|p| &p.clients);
    let client = configured.into_iter().find(|c| c.client_id == client_id);
    let scopes = client.map(|c| c.allowed_oauth_scopes.clone()).filter(|s| !s.is_empty());
    json!({
        "client_id": client_id,
        "domain": domain,
        "authorize_endpoint": format!("{at}/oauth2/authorize"),
        "token_endpoint": format!("{at}/oauth2/token"),
        "userinfo_endpoint": format!("{at}/oauth2/userInfo"),
        "revoke_endpoint": format!("{at}/oauth2/revoke"),
        "logout_endpoint": format!("{at}/logout"),
        "redirect_uri": format!("{iss}/console/"),
        "scope": scopes.map_or_else(|| "openid".to_string(), |s| s.join(" ")),
        "identity_providers": client.map(|c| c.providers.clone()).unwrap_or_default(),
    })
}
