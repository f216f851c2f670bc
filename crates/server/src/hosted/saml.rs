//! The hosted sign-in's SAML service provider: the browser's binding cookie (what a pending
//! AuthnRequest is bound to), the Assertion Consumer Service `POST /saml2/idpresponse` and the
//! SP metadata `GET /saml2/metadata`, under each domain mount.
//!
//! The ACS is a cross-site POST (the IdP's page submits the form), and browsers send a
//! `SameSite=Lax` cookie only on same-site requests and cross-site top-level GETs, so the binding
//! cookie is `SameSite=None`. Browsers take `SameSite=None` only with `Secure`: over TLS (or an
//! https public URL) it is `SameSite=None; Secure`; over plain HTTP it carries no SameSite
//! attribute, which browsers that default to Lax still send on a top-level POST within two
//! minutes of setting it (Chrome's allowance), and the others always. The cookie is no
//! credential: it holds a random value whose hash the pending request keeps, so a response
//! reaches the ACS only from the browser that was sent to the IdP (an answer forwarded to, or
//! forced on, another browser is refused), and it is HttpOnly and scoped to the domain's path.
//! The sign-in session cookie set at the ACS stays `SameSite=Lax`: a cross-site top-level
//! navigation may set it.

use super::{context, federated_answer, pages, rate_limit, refused_here, Mount};
use crate::console::cookies::read;
use crate::context::Ctx;
use crate::oauth2::{form_body, Params};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokenbridge_core::hosted_signin::{Browser, SamlPost, PENDING_SECONDS};
use tokenbridge_core::jose::b64url;
use tokenbridge_core::secrets::random_bytes;

const BINDING_COOKIE: &str = "tb_saml";

/// The domain's base URL as this request reached it: `<public_url>/domains/<domain>`, or
/// `<scheme>://<host>` when addressed by host name (the host already matched the domain).
pub(super) fn domain_url(state: &AppState, headers: &HeaderMap, mount: &Mount) -> String {
    if !mount.prefix.is_empty() {
        return format!("{}{}", state.engine.issuer().trim_end_matches('/'), mount.prefix);
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    format!("{}://{host}", if mount.secure { "https" } else { "http" })
}

/// The browser's binding (its cookie, or a new one) and the `Set-Cookie` that keeps it for
/// another [`PENDING_SECONDS`].
pub(super) fn binding(headers: &HeaderMap, mount: &Mount) -> (String, HeaderValue) {
    let value = read(headers, BINDING_COOKIE)
        .filter(|v| v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .unwrap_or_else(|| b64url(&random_bytes::<32>()));
    let same_site = if mount.secure { "; SameSite=None; Secure" } else { "" };
    let text = format!(
        "{BINDING_COOKIE}={value}; Path={}; Max-Age={PENDING_SECONDS}; HttpOnly{same_site}",
        mount.cookie_path()
    );
    // base64url and a path the router matched: always a valid header value.
    (value, HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("")))
}

/// The browser's binding, as its cookie holds it.
pub(super) fn binding_cookie(headers: &HeaderMap) -> Option<String> {
    read(headers, BINDING_COOKIE)
}

/// The browser as the engine's authorization step needs it.
pub(super) fn browser(
    state: &AppState,
    headers: &HeaderMap,
    mount: &Mount,
    session: Option<String>,
) -> (Browser, HeaderValue) {
    let (binding, set) = binding(headers, mount);
    (Browser { session, binding: Some(binding), domain_url: Some(domain_url(state, headers, mount)) }, set)
}

/// `POST /saml2/idpresponse`: the IdP's `SAMLResponse` and `RelayState` (HTTP-POST binding).
/// Signed in: the sign-in session cookie and back to the client with a code.
pub(super) async fn idp_response(
    State(state): State<AppState>,
    mount: Mount,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = context(ctx);
    let params = match form_body(&headers, &body).and_then(Params::parse) {
        Ok(p) => p,
        Err(e) => return refused_here(&state, "SamlResponse", &ctx, e).await,
    };
    if let Err(refused) = rate_limit(&state, "SamlResponse", &ctx, None).await {
        return refused;
    }
    let post = SamlPost {
        domain: mount.domain.clone(),
        saml_response: params.owned("SAMLResponse"),
        relay_state: params.owned("RelayState"),
    };
    let browser = Browser {
        session: None,
        binding: read(&headers, BINDING_COOKIE),
        domain_url: Some(domain_url(&state, &headers, &mount)),
    };
    let answer = state.engine.hosted_signin().saml_response(&post, &browser, &ctx).await;
    federated_answer(&state, "SamlResponse", &ctx, &headers, &mount, answer).await
}

/// `GET /saml2/metadata`: the pool's SP metadata, for the IdP's administrator.
pub(super) async fn metadata(State(state): State<AppState>, mount: Mount, ctx: Ctx, headers: HeaderMap) -> Response {
    let ctx = context(ctx);
    let base = domain_url(&state, &headers, &mount);
    match state.engine.hosted_signin().saml_metadata(&mount.domain, &base, &ctx).await {
        Ok(xml) => {
            let mut resp = (StatusCode::OK, xml).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"));
            resp
        }
        Err(e) => pages::error(&e, &ctx.request_id),
    }
}
