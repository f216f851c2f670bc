//! The seed's `POST /auth/exchange`: the upstream token in `Authorization: Bearer`, optional
//! `provider`, `client_id` (and `client_secret`), `scope`, `audience` in the query or a form body
//! (labelled `application/x-www-form-urlencoded`).

use crate::context::Ctx;
use crate::errors::{oauth_error_code, OAuthError};
use crate::oauth2::{bearer, form_body, rate_limit, refuse, token_response, Params};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use tokenbridge_core::engine::{ClientCredentials, ExchangeRequest};
use tokenbridge_core::upstream::SubjectTokenType;
use tokenbridge_core::{Reason, Refusal};

pub fn routes() -> Router<AppState> {
    Router::new().route("/auth/exchange", post(exchange))
}

async fn exchange(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let ctx = ctx.recorded_as("exchange.tokenbridge", oauth_error_code);
    // Parameters may come in the query string or a form body, not both.
    let raw = if body.is_empty() { query.unwrap_or_default().into_bytes() } else { body.to_vec() };
    let params = match form_body(&headers, &body).and_then(|_| Params::parse(&raw)) {
        Ok(p) => p,
        Err(d) => return Err(refuse(&state, "TokenExchange", &ctx, d).await),
    };
    rate_limit(&state, "TokenExchange", &ctx, params.get("client_id")).await?;
    let Some(token) = bearer(&headers) else {
        return Err(refuse(
            &state,
            "TokenExchange",
            &ctx,
            Refusal::new(Reason::InvalidRequest, "Authorization: Bearer <upstream token> is required"),
        )
        .await);
    };
    let subject_token_type = match params.get("subject_token_type") {
        None => SubjectTokenType::Unspecified,
        Some(t) => match SubjectTokenType::parse(t) {
            Some(t) => t,
            None => {
                return Err(refuse(
                    &state,
                    "TokenExchange",
                    &ctx,
                    Refusal::new(Reason::UnsupportedTokenType, format!("subject_token_type {t:?} is not supported")),
                )
                .await)
            }
        },
    };
    let req = ExchangeRequest {
        client: ClientCredentials {
            client_id: params.owned("client_id"),
            client_secret: params.owned("client_secret"),
        },
        client_optional: true,
        subject_token: token.to_string(),
        subject_token_type,
        provider: params.owned("provider"),
        audience: params.owned("audience"),
        scope: params.owned("scope"),
        requested_token_type: params.owned("requested_token_type"),
    };
    state.engine.tokens().exchange(req, &ctx).await.map(token_response).map_err(|d| OAuthError::new(d, &ctx.request_id))
}
