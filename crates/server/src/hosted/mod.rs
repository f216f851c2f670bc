//! The hosted sign-in door: each user pool with a domain has an authorization server, on the
//! paths a Cognito user-pool domain serves (`/oauth2/authorize`, `/login`, `/logout`,
//! `/oauth2/token`, `/oauth2/userInfo`, `/oauth2/revoke`), addressed two ways:
//!
//! - by path: `<public_url>/domains/<domain>/…` (no DNS needed; Amplify's `oauth.domain` is
//!   `host:port/domains/<domain>`);
//! - by host name: `<domain>.<server.auth_domain_suffix>[:port]/…` (default suffix
//!   `auth.localhost`, which browsers resolve to the loopback address), as Cognito serves
//!   `<domain>.auth.<region>.amazoncognito.com`. Such a request is rewritten to the path form
//!   before routing ([`with_domain_hosts`]); the root `/oauth2/*` stay the broker's own.
//!
//! The pages (`pages.rs`) carry every authorization parameter in their forms, each form an
//! anti-forgery token bound to the browser (`browser.rs`); the engine checks the request again
//! at each step. Refusals before the `redirect_uri` is known good are an error page naming the
//! check and the request id; after it, the error goes back to the client (RFC 6749 §4.1.2.1).

mod browser;
mod endpoints;
mod oidc;
pub mod pages;
mod saml;
pub mod words;

use crate::context::Ctx;
use crate::oauth2::{form_body, Params};
use crate::serving::Transport;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::hosted_signin::{
    with_query, AuthorizeRefusal, AuthorizeRequest, Authorized, LogoutRequest, SessionStarted, SignInPage, SignedIn,
    EVENT_SOURCE, SESSION_SECONDS,
};
use tokenbridge_core::{Reason, Refusal};
use words::hosted_error_code;

pub use words::hosted_words;

/// The path prefix of the path form.
pub const DOMAINS_PREFIX: &str = "/domains";

/// The pages and redirects: reached by navigation, never by a page's script.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/domains/{domain}/oauth2/authorize", get(authorize))
        .route("/domains/{domain}/login", get(authorize).post(sign_in))
        .route("/domains/{domain}/new-password", post(new_password))
        .route("/domains/{domain}/logout", get(logout))
        .route("/domains/{domain}/saml2/idpresponse", post(saml::idp_response))
        .route("/domains/{domain}/saml2/metadata", get(saml::metadata))
        .route("/domains/{domain}/oauth2/idpresponse", get(oidc::idp_response))
}

pub use endpoints::routes as endpoint_routes;

/// Marks a request addressed by host name (rewritten to the path form).
#[derive(Clone, Copy)]
struct HostAddressed;

/// The pool domain a request is for, and the path its pages are under.
pub struct Mount {
    pub domain: String,
    /// `""` (by host name) or `/domains/<domain>`.
    prefix: String,
    /// Whether cookies are Secure: the request came over TLS, or the public URL is https (TLS
    /// ends at a proxy in front).
    secure: bool,
}

impl Mount {
    pub fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }
    fn cookie_path(&self) -> &str {
        if self.prefix.is_empty() {
            "/"
        } else {
            &self.prefix
        }
    }
}

impl FromRequestParts<AppState> for Mount {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Path(domain) = Path::<String>::from_request_parts(parts, state).await.map_err(|e| e.into_response())?;
        let prefix = if parts.extensions.get::<HostAddressed>().is_some() {
            String::new()
        } else {
            format!("{DOMAINS_PREFIX}/{domain}")
        };
        let tls = parts.extensions.get::<Transport>() == Some(&Transport::Tls);
        let secure = tls || state.engine.issuer().starts_with("https://");
        Ok(Mount { domain, prefix, secure })
    }
}

/// Serves the pool domains' host names: a request whose host is `<domain>.<suffix>` is routed
/// as `/domains/<domain><path>`. Any other request passes as it came.
pub fn with_domain_hosts(app: Router, suffix: String) -> Router {
    let rewrite = move |mut req: Request| {
        if let Some(domain) = domain_of_host(&req, &suffix) {
            let path_and_query = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let rewritten = format!("{DOMAINS_PREFIX}/{domain}{path_and_query}");
            if let Ok(uri) = rewritten.parse() {
                *req.uri_mut() = uri;
                req.extensions_mut().insert(HostAddressed);
            }
        }
        req
    };
    Router::new().fallback_service(tower::ServiceBuilder::new().map_request(rewrite).service(app))
}

/// `<domain>` when the request's host is `<domain>.<suffix>` (any port), one label of letters,
/// digits and hyphens.
fn domain_of_host(req: &Request, suffix: &str) -> Option<String> {
    let host = req
        .uri()
        .host()
        .map(str::to_string)
        .or_else(|| req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string))?;
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host.as_str(), |(h, _)| h);
    let host = host.to_ascii_lowercase();
    let label = host.strip_suffix(suffix)?.strip_suffix('.')?;
    let ok = !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| label.to_string())
}

fn context(ctx: Ctx) -> RequestContext {
    ctx.recorded_as(EVENT_SOURCE, hosted_error_code)
}

/// The authorization parameters of a query or form; a parameter given twice is refused.
fn authorize_request(domain: &str, params: &Params) -> AuthorizeRequest {
    AuthorizeRequest {
        domain: domain.to_string(),
        response_type: params.owned("response_type"),
        client_id: params.owned("client_id"),
        redirect_uri: params.owned("redirect_uri"),
        state: params.owned("state"),
        scope: params.owned("scope"),
        nonce: params.owned("nonce"),
        code_challenge: params.owned("code_challenge"),
        code_challenge_method: params.owned("code_challenge_method"),
        identity_provider: params.owned("identity_provider"),
        idp_identifier: params.owned("idp_identifier"),
        prompt: params.owned("prompt"),
        login_hint: params.owned("login_hint"),
    }
}

/// A refusal the door decided (a malformed query or form, a forged form, a rate limit):
/// recorded, then shown on the error page.
async fn refused_here(state: &AppState, event: &str, ctx: &RequestContext, refusal: Refusal) -> Response {
    state.engine.record_refusal(event, ctx, &refusal).await;
    pages::error(&refusal, &ctx.request_id)
}

/// A 302 to `location`, never cached; the error page when `location` cannot be a header (an
/// application address registered with characters a Location header cannot carry).
fn redirect(location: &str, cookies: &[HeaderValue], request_id: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(v) => {
            h.insert(header::LOCATION, v);
        }
        Err(_) => {
            let refusal = Refusal::told(
                Reason::InvalidRequest,
                "The application's address cannot be used here.",
                "the address to send the browser to holds characters a Location header cannot carry",
            );
            return pages::error(&refusal, request_id);
        }
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        h.append(header::SET_COOKIE, c.clone());
    }
    resp
}

/// The CSP `form-action` sources a page of `req` needs: where its form's answer redirects.
fn form_targets(req: &AuthorizeRequest) -> Vec<String> {
    req.redirect_uri.as_deref().and_then(pages::form_target).into_iter().collect()
}

/// The sign-in page of `req` (with `error` told on it), and its anti-forgery binding.
async fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    mount: &Mount,
    req: &AuthorizeRequest,
    page: &SignInPage,
    error: Option<(&Refusal, &str)>,
) -> Response {
    let (csrf, set) = match browser::form_token(state, headers, mount).await {
        Ok(t) => t,
        Err(e) => return pages::error(&e, error.map_or("", |(_, id)| id)),
    };
    let authorize = authorize_url(mount, req);
    let form = pages::Form { action: &mount.path("/login"), csrf: &csrf, authorize: &authorize };
    let status = match error {
        Some((r, _)) => hosted_words(r.reason).1,
        None => StatusCode::OK,
    };
    let mut resp = pages::html(status, pages::sign_in(page, req, &form, error), &form_targets(req));
    if let Some(c) = set {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// The authorize URL of `req` (no `identity_provider`), for the pages' provider links.
fn authorize_url(mount: &Mount, req: &AuthorizeRequest) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    let fields = [
        ("response_type", &req.response_type),
        ("client_id", &req.client_id),
        ("redirect_uri", &req.redirect_uri),
        ("state", &req.state),
        ("scope", &req.scope),
        ("nonce", &req.nonce),
        ("code_challenge", &req.code_challenge),
        ("code_challenge_method", &req.code_challenge_method),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    format!("{}?{}", mount.path("/oauth2/authorize"), q.finish())
}

/// Where an authorization step's refusal is told: the page again, the client's callback, or
/// the error page.
async fn told(
    state: &AppState,
    headers: &HeaderMap,
    mount: &Mount,
    req: &AuthorizeRequest,
    refused: AuthorizeRefusal,
    request_id: &str,
) -> Response {
    if let Some(page) = &refused.page {
        return sign_in_page(state, headers, mount, req, page, Some((&refused.refusal, request_id))).await;
    }
    match &refused.redirect {
        Some(back) => {
            let error = crate::errors::oauth_words(refused.refusal.reason).0;
            let description = tokenbridge_core::excerpt::bounded_message(&refused.refusal.message);
            let mut pairs = vec![("error", error), ("error_description", description.as_ref())];
            if let Some(s) = &back.state {
                pairs.push(("state", s));
            }
            redirect(&with_query(&back.redirect_uri, &pairs), &[], request_id)
        }
        None => pages::error(&refused.refusal, request_id),
    }
}

/// `GET /oauth2/authorize` (and `GET /login`): a code at once with a live sign-in session, else
/// the sign-in page.
async fn authorize(
    State(state): State<AppState>,
    mount: Mount,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = context(ctx);
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return refused_here(&state, "Authorize", &ctx, e).await,
    };
    let req = authorize_request(&mount.domain, &params);
    let session = browser::session(&state, &headers, &mount).await;
    let (browser, binding) = saml::browser(&state, &headers, &mount, session);
    match state.engine.hosted_signin().authorize_at(&req, &browser, &ctx).await {
        Ok(Authorized::Redirect { location }) => redirect(&location, &[], &ctx.request_id),
        Ok(Authorized::Federate { location }) => redirect(&location, &[binding], &ctx.request_id),
        Ok(Authorized::SignIn(page)) => sign_in_page(&state, &headers, &mount, &req, &page, None).await,
        Err(refused) => told(&state, &headers, &mount, &req, refused, &ctx.request_id).await,
    }
}

/// A posted form's parameters, after its anti-forgery token and the rate limit.
async fn posted_form(
    state: &AppState,
    event: &str,
    ctx: &RequestContext,
    headers: &HeaderMap,
    mount: &Mount,
    body: &[u8],
) -> Result<Params, Response> {
    let params = match form_body(headers, body).and_then(Params::parse) {
        Ok(p) => p,
        Err(e) => return Err(refused_here(state, event, ctx, e).await),
    };
    if let Err(e) = browser::check_form(state, headers, mount, params.get("csrf")).await {
        return Err(refused_here(state, event, ctx, e).await);
    }
    rate_limit(state, event, ctx, params.get("client_id")).await?;
    Ok(params)
}

/// The per-address (and per-client) rate limit of the sign-in pages and the providers' answers.
async fn rate_limit(state: &AppState, event: &str, ctx: &RequestContext, client: Option<&str>) -> Result<(), Response> {
    match state.limits.check(&ctx.source_ip, client) {
        Ok(()) => Ok(()),
        Err((what, retry)) => {
            let detail = format!("rate limit per {what} exceeded; retry in {retry} s");
            let refusal = Refusal::told(Reason::RateLimited, "Too many attempts: wait a moment and try again.", detail);
            Err(refused_here(state, event, ctx, refusal).await)
        }
    }
}

/// The end of an identity provider's answer (the SAML ACS, the OIDC callback): signed in, the
/// session kept in the browser and back to the client with the code; refused, the error page.
async fn federated_answer(
    state: &AppState,
    event: &str,
    ctx: &RequestContext,
    headers: &HeaderMap,
    mount: &Mount,
    answer: Result<SessionStarted, AuthorizeRefusal>,
) -> Response {
    match answer {
        Ok(SessionStarted { location, session }) => {
            match browser::keep_session(state, mount, &session, SESSION_SECONDS).await {
                Ok(cookie) => redirect(&location, &[cookie], &ctx.request_id),
                Err(e) => refused_here(state, event, ctx, e).await,
            }
        }
        Err(refused) => {
            let none = AuthorizeRequest { domain: mount.domain.clone(), ..Default::default() };
            told(state, headers, mount, &none, refused, &ctx.request_id).await
        }
    }
}

/// Signed in: the session kept in the browser, and back to the client with the code; or the
/// new-password page.
async fn after_sign_in(
    state: &AppState,
    headers: &HeaderMap,
    mount: &Mount,
    req: &AuthorizeRequest,
    signed: SignedIn,
    request_id: &str,
) -> Response {
    match signed {
        SignedIn::Redirect { location, session } => {
            match browser::keep_session(state, mount, &session, SESSION_SECONDS).await {
                Ok(cookie) => redirect(&location, &[cookie], request_id),
                Err(e) => pages::error(&e, request_id),
            }
        }
        SignedIn::NewPasswordRequired { challenge, username, page } => {
            new_password_page(state, headers, mount, req, &page, &challenge, &username, None).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn new_password_page(
    state: &AppState,
    headers: &HeaderMap,
    mount: &Mount,
    req: &AuthorizeRequest,
    page: &SignInPage,
    challenge: &str,
    username: &str,
    error: Option<(&Refusal, &str)>,
) -> Response {
    let (csrf, set) = match browser::form_token(state, headers, mount).await {
        Ok(t) => t,
        Err(e) => return pages::error(&e, error.map_or("", |(_, id)| id)),
    };
    let authorize = authorize_url(mount, req);
    let form = pages::Form { action: &mount.path("/new-password"), csrf: &csrf, authorize: &authorize };
    let status = error.map_or(StatusCode::OK, |(r, _)| hosted_words(r.reason).1);
    let body = pages::new_password(page, req, &form, challenge, username, error);
    let mut resp = pages::html(status, body, &form_targets(req));
    if let Some(c) = set {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// `POST /login`: the username and password.
async fn sign_in(State(state): State<AppState>, mount: Mount, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let ctx = context(ctx);
    let params = match posted_form(&state, "SignIn", &ctx, &headers, &mount, &body).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let req = authorize_request(&mount.domain, &params);
    let (username, password) = (params.get("username").unwrap_or_default(), params.get("password").unwrap_or_default());
    match state.engine.hosted_signin().sign_in(&req, username, password, &ctx).await {
        Ok(signed) => after_sign_in(&state, &headers, &mount, &req, signed, &ctx.request_id).await,
        Err(refused) => told(&state, &headers, &mount, &req, refused, &ctx.request_id).await,
    }
}

/// `POST /new-password`: the new password, answering the challenge of a temporary one.
async fn new_password(
    State(state): State<AppState>,
    mount: Mount,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = context(ctx);
    let params = match posted_form(&state, "SetNewPassword", &ctx, &headers, &mount, &body).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let req = authorize_request(&mount.domain, &params);
    let challenge = params.get("challenge").unwrap_or_default();
    let username = params.get("username").unwrap_or_default();
    let password = params.get("new_password").unwrap_or_default();
    match state.engine.hosted_signin().new_password(&req, challenge, username, password, &ctx).await {
        Ok(signed) => after_sign_in(&state, &headers, &mount, &req, signed, &ctx.request_id).await,
        // A password the policy refuses: the same page again, with why.
        Err(AuthorizeRefusal { refusal, page: Some(page), .. }) if refusal.reason == Reason::InvalidPassword => {
            let error = Some((&refusal, ctx.request_id.as_str()));
            new_password_page(&state, &headers, &mount, &req, &page, challenge, username, error).await
        }
        Err(refused) => told(&state, &headers, &mount, &req, refused, &ctx.request_id).await,
    }
}

/// `GET /logout?client_id=…&logout_uri=…`: the session ends, in the store and the browser.
async fn logout(
    State(state): State<AppState>,
    mount: Mount,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let ctx = context(ctx);
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return refused_here(&state, "Logout", &ctx, e).await,
    };
    let req = LogoutRequest {
        domain: mount.domain.clone(),
        client_id: params.owned("client_id"),
        logout_uri: params.owned("logout_uri"),
    };
    let session = browser::session(&state, &headers, &mount).await;
    match state.engine.hosted_signin().logout(&req, session.as_deref(), &ctx).await {
        Ok(target) => redirect(&target, &[browser::clear_session(&mount)], &ctx.request_id),
        Err(e) => pages::error(&e, &ctx.request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> Option<String> {
        let req = Request::builder()
            .uri("/oauth2/authorize")
            .header(header::HOST, h)
            .body(axum::body::Body::empty())
            .unwrap();
        domain_of_host(&req, "auth.localhost")
    }

    #[test]
    fn domains_are_read_from_the_host_name() {
        assert_eq!(host("my-app.auth.localhost:8080").as_deref(), Some("my-app"));
        assert_eq!(host("My-App.Auth.Localhost").as_deref(), Some("my-app"));
        assert_eq!(host("auth.localhost:8080"), None);
        assert_eq!(host("a.b.auth.localhost"), None);
        assert_eq!(host("127.0.0.1:8080"), None);
        assert_eq!(host("evilauth.localhost"), None);
    }

    #[test]
    fn a_location_no_header_can_carry_is_an_error_page_with_the_request_id() {
        let ok = redirect("https://app.example/cb?code=1", &[], "req-1");
        assert_eq!(ok.status(), StatusCode::FOUND);
        assert_eq!(ok.headers()[header::CACHE_CONTROL], "no-store");
        let bad = redirect("https://app.example/cb\nx", &[], "req-2");
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert!(bad.headers().get(header::LOCATION).is_none());
        assert!(bad.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    }
}
