//! The hosted sign-in's OIDC callback `GET /oauth2/idpresponse`, under each domain mount: the
//! provider sends the browser back with `code` and `state` (or `error`). It is a cross-site
//! top-level GET, so the browser brings the binding cookie set when it was sent to the provider
//! (the one SAML uses: see `saml.rs`); the pending request is bound to it.

use super::saml::{binding_cookie, domain_url};
use super::{context, federated_answer, rate_limit, refused_here, Mount};
use crate::context::Ctx;
use crate::oauth2::Params;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use tokenbridge_core::hosted_signin::{Browser, IdpCallback};

/// `GET /oauth2/idpresponse`: signed in, the sign-in session cookie and back to the client with
/// a code; refused, an error page with the request id that finds its trail.
pub(super) async fn idp_response(
    State(state): State<AppState>,
    mount: Mount,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = context(ctx);
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return refused_here(&state, "OidcResponse", &ctx, e).await,
    };
    if let Err(refused) = rate_limit(&state, "OidcResponse", &ctx, None).await {
        return refused;
    }
    let callback = IdpCallback {
        domain: mount.domain.clone(),
        code: params.owned("code"),
        state: params.owned("state"),
        error: params.owned("error"),
        error_description: params.owned("error_description"),
    };
    let browser = Browser {
        session: None,
        binding: binding_cookie(&headers),
        domain_url: Some(domain_url(&state, &headers, &mount)),
    };
    let answer = state.engine.hosted_signin().oidc_response(&callback, &browser, &ctx).await;
    federated_answer(&state, "OidcResponse", &ctx, &headers, &mount, answer).await
}
