//! The pool domain's OAuth endpoints, speaking RFC 6749 JSON: `POST /oauth2/token`
//! (`authorization_code`, `refresh_token`, `client_credentials`), `GET|POST /oauth2/userInfo`,
//! `POST /oauth2/revoke` (RFC 7009). Client authentication by HTTP Basic or the form, the
//! token endpoints' rate limits, as at the broker's own endpoints.
//!
//! A browser app on any origin calls them (a single-page app redeems its code and reads
//! UserInfo itself), so they answer CORS as the AWS doors do (`aws.cors_allowed_origins`, see
//! `crate::cors`): they hold no ambient authority, only what the request carries.

use super::{context, Mount};
use crate::context::Ctx;
use crate::errors::OAuthError;
use crate::oauth2::{bearer, client_credentials, form_body, rate_limit, refuse, Params};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokenbridge_core::hosted_signin::TokenRequest;
use tokenbridge_core::{Reason, Refusal};

/// The endpoints scripts call, on the pool domain's paths.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/domains/{domain}/oauth2/token", post(token))
        .route("/domains/{domain}/oauth2/userInfo", get(userinfo).post(userinfo))
        .route("/domains/{domain}/oauth2/revoke", post(revoke))
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

async fn token(
    State(state): State<AppState>,
    mount: Mount,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let ctx = context(ctx);
    let parsed = form_body(&headers, &body)
        .and_then(Params::parse)
        .and_then(|p| client_credentials(&headers, &p).map(|c| (p, c)));
    let (params, client) = match parsed {
        Ok(v) => v,
        Err(e) => return Err(refuse(&state, "Token", &ctx, e).await),
    };
    rate_limit(&state, "Token", &ctx, client.client_id.as_deref()).await?;
    let req = TokenRequest {
        domain: mount.domain,
        grant_type: params.owned("grant_type"),
        code: params.owned("code"),
        redirect_uri: params.owned("redirect_uri"),
        code_verifier: params.owned("code_verifier"),
        scope: params.owned("scope"),
        refresh_token: params.owned("refresh_token"),
        client,
    };
    match state.engine.hosted_signin().token(&req, &ctx).await {
        Ok(tokens) => Ok(no_store(Json(tokens).into_response())),
        Err(e) => Err(OAuthError::new(e, &ctx.request_id)),
    }
}

async fn userinfo(
    State(state): State<AppState>,
    mount: Mount,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let ctx = context(ctx);
    let Some(token) = bearer(&headers) else {
        let refusal = Refusal::new(Reason::MissingToken, "Authorization: Bearer <access token> is required");
        return Err(refuse(&state, "GetUserInfo", &ctx, refusal).await);
    };
    match state.engine.hosted_signin().userinfo(&mount.domain, token, &ctx).await {
        Ok(claims) => Ok(no_store(Json(claims).into_response())),
        Err(e) => Err(OAuthError::new(e, &ctx.request_id)),
    }
}

async fn revoke(
    State(state): State<AppState>,
    mount: Mount,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let ctx = context(ctx);
    let parsed = form_body(&headers, &body)
        .and_then(Params::parse)
        .and_then(|p| client_credentials(&headers, &p).map(|c| (p, c)));
    let (params, client) = match parsed {
        Ok(v) => v,
        Err(e) => return Err(refuse(&state, "RevokeToken", &ctx, e).await),
    };
    rate_limit(&state, "RevokeToken", &ctx, client.client_id.as_deref()).await?;
    let token = params.get("token").unwrap_or_default();
    match state.engine.hosted_signin().revoke(&mount.domain, &client, token, &ctx).await {
        Ok(()) => Ok(no_store(().into_response())),
        Err(e) => Err(OAuthError::new(e, &ctx.request_id)),
    }
}
