//! The hosted sign-in (a pool's authorization server) without HTTP: the authorization-code flow
//! with PKCE through the sign-in form, the code redeemed once (a second redemption refused and
//! the first's tokens revoked), each binding of the code refused by its reason and check, the
//! sign-in session reused by another client of the pool, and the lockout of USER_PASSWORD_AUTH
//! holding at the hosted form too.

use crate::support::*;
use tokenbridge_core::hosted_signin::{
    pkce_challenge_of, AuthorizeRefusal, AuthorizeRequest, Authorized, HostedTokens, SignedIn, TokenRequest,
    EVENT_SOURCE,
};
use tokenbridge_core::issuer::verify_own;
use tokenbridge_core::tokens::ClientCredentials;

const DOMAIN: &str = "engine-tests";
/// A public app client with the code flow, and a second one (the SSO's other client).
const WEB_APP: &str = "hostedwebapp00000000000000";
const OTHER_APP: &str = "hostedotherapp000000000000";
const CALLBACK: &str = "https://app.example/callback";
const OTHER_CALLBACK: &str = "http://localhost:3000/signed-in";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const LOCKED: &str = "Password attempts exceeded";

fn app(client_id: &str, callback: &str) -> tokenbridge_core::config::UserPoolClientConfig {
    tokenbridge_core::config::UserPoolClientConfig {
        client_id: client_id.into(),
        name: format!("{client_id} (public)"),
        secret: None,
        providers: Vec::new(),
        callback_urls: vec![callback.into()],
        logout_urls: vec![format!("{callback}/bye")],
        allowed_oauth_flows: vec!["code".into()],
        allowed_oauth_scopes: vec!["openid".into(), "email".into(), "profile".into()],
    }
}

async fn broker() -> Broker {
    Broker::open_with(Setup {
        passwords: true,
        configure: Some(Box::new(|cfg| {
            let pool = &mut cfg.user_pools[0];
            pool.domain = Some(DOMAIN.into());
            pool.clients.push(app(WEB_APP, CALLBACK));
            pool.clients.push(app(OTHER_APP, OTHER_CALLBACK));
        })),
    })
    .await
}

/// An authorization request of `client` with PKCE S256 (of [`VERIFIER`]), a state and a nonce.
fn request(client: &str, callback: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        domain: DOMAIN.into(),
        response_type: Some("code".into()),
        client_id: Some(client.into()),
        redirect_uri: Some(callback.into()),
        state: Some("state-123".into()),
        scope: Some("openid email".into()),
        nonce: Some("nonce-456".into()),
        code_challenge: Some(pkce_challenge_of(VERIFIER)),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    }
}

fn token_request(client: &str, code: &str, callback: &str, verifier: Option<&str>) -> TokenRequest {
    TokenRequest {
        domain: DOMAIN.into(),
        grant_type: Some("authorization_code".into()),
        code: Some(code.into()),
        redirect_uri: Some(callback.into()),
        code_verifier: verifier.map(str::to_string),
        scope: None,
        refresh_token: None,
        client: ClientCredentials { client_id: Some(client.into()), client_secret: None },
    }
}

fn ctx() -> tokenbridge_core::audit::RequestContext {
    request_to(EVENT_SOURCE)
}

/// A query parameter of a redirect.
fn param(location: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(location).expect("absolute location");
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string())
}

/// The refusal as a [`Called`], for [`Broker::refused`].
fn called<T>(r: Result<T, AuthorizeRefusal>, request_id: String) -> (Called<T>, Option<AuthorizeRefusal>) {
    match r {
        Ok(v) => (Called { result: Ok(v), request_id }, None),
        Err(e) => (Called { result: Err(e.refusal.clone()), request_id }, Some(e)),
    }
}

impl Broker {
    /// Signs `username` in at the form for `req`; returns the redirect and the session.
    async fn hosted_sign_in(&self, req: &AuthorizeRequest, username: &str) -> (String, String) {
        let password = person(username).password.expect("a local password");
        match self.engine.hosted_signin().sign_in(req, username, password, &ctx()).await {
            Ok(SignedIn::Redirect { location, session }) => (location, session),
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    async fn redeem(&self, req: &TokenRequest) -> Called<HostedTokens> {
        let c = ctx();
        Called { result: self.engine.hosted_signin().token(req, &c).await, request_id: c.request_id }
    }
}

#[tokio::test]
async fn a_code_is_issued_at_sign_in_and_redeemed_once_for_the_pools_tokens() {
    let b = broker().await;
    let req = request(WEB_APP, CALLBACK);
    match b.engine.hosted_signin().authorize(&req, None, &ctx()).await.expect("authorize") {
        Authorized::SignIn(page) => assert!(page.password && page.client_id == WEB_APP, "{page:?}"),
        other => panic!("expected the sign-in page, got {other:?}"),
    }
    let (location, _) = b.hosted_sign_in(&req, "alice").await;
    assert!(location.starts_with(&format!("{CALLBACK}?code=")), "{location}");
    assert_eq!(param(&location, "state").as_deref(), Some("state-123"));
    let code = param(&location, "code").expect("code");

    let tokens = b.redeem(&token_request(WEB_APP, &code, CALLBACK, Some(VERIFIER))).await.ok();
    let pool_issuer = format!("{ISSUER}/{POOL}");
    let id = tokens.id_token.as_deref().expect("openid was granted: an id token");
    let id = verify_own(b.engine.keys(), &pool_issuer, id, Some("id"), b.now()).await.expect("pool id token");
    assert_eq!(
        (id.str("nonce"), id.str("aud"), id.str("cognito:username")),
        (Some("nonce-456"), Some(WEB_APP), Some("alice"))
    );
    let access =
        verify_own(b.engine.keys(), &pool_issuer, &tokens.access_token, Some("access"), b.now()).await.unwrap();
    assert_eq!(access.str("scope"), Some("openid email"));
    assert!(tokens.refresh_token.is_some());
    // The same code again: refused, and the first redemption's refresh family is revoked.
    let again = b.redeem(&token_request(WEB_APP, &code, CALLBACK, Some(VERIFIER))).await;
    let e = b.refused(again, "code", "refresh family is revoked").await;
    assert_eq!(reason(&e), Reason::CodeReplayed);
    let refresh = serde_json::json!({ "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": WEB_APP,
        "AuthParameters": { "REFRESH_TOKEN": tokens.refresh_token.unwrap() } });
    b.refused(b.pool("InitiateAuth", refresh).await, "refresh token", "revoked").await;
    // Every step is recorded under the hosted sign-in's source.
    let rec = b.records(&b.redeem(&token_request(WEB_APP, "no-such-code", CALLBACK, None)).await.request_id).await;
    assert_eq!(rec[0].record["eventSource"], EVENT_SOURCE);
}

#[tokio::test]
async fn each_binding_of_the_code_is_checked_with_its_reason() {
    let b = broker().await;
    let req = request(WEB_APP, CALLBACK);
    let (location, _) = b.hosted_sign_in(&req, "bob").await;
    let code = param(&location, "code").unwrap();
    let cases = [
        (
            token_request(WEB_APP, &code, CALLBACK, Some(&"x".repeat(43))),
            Reason::PkceMismatch,
            "pkce",
            "does not match",
        ),
        (token_request(WEB_APP, &code, CALLBACK, None), Reason::PkceMismatch, "pkce", "code_verifier is missing"),
        (
            token_request(WEB_APP, &code, OTHER_CALLBACK, Some(VERIFIER)),
            Reason::RedirectUriMismatch,
            "redirect_uri",
            "not the one",
        ),
        (token_request(OTHER_APP, &code, CALLBACK, Some(VERIFIER)), Reason::InvalidGrant, "client", "another client"),
    ];
    for (req, want, check, needle) in cases {
        let e = b.refused(b.redeem(&req).await, check, needle).await;
        assert_eq!(reason(&e), want, "{check}");
    }
    // None of those spent the code; once it has expired it is refused as expired.
    b.clock.advance(tokenbridge_core::hosted_signin::CODE_SECONDS + 1);
    let e =
        b.refused(b.redeem(&token_request(WEB_APP, &code, CALLBACK, Some(VERIFIER))).await, "code", "expired").await;
    assert_eq!(reason(&e), Reason::ExpiredCode);
}

#[tokio::test]
async fn authorization_requests_are_refused_by_their_failing_check() {
    let b = broker().await;
    let authorize = async |req: AuthorizeRequest| {
        let c = ctx();
        called(b.engine.hosted_signin().authorize(&req, None, &c).await, c.request_id)
    };
    // Plain PKCE, or none from a public client: refused, and told to the client.
    let plain = AuthorizeRequest { code_challenge_method: Some("plain".into()), ..request(WEB_APP, CALLBACK) };
    let (c, told) = authorize(plain).await;
    assert_eq!(reason(&b.refused(c, "pkce", "only S256").await), Reason::PkceMethodUnsupported);
    assert_eq!(told.unwrap().redirect.unwrap().state.as_deref(), Some("state-123"));
    let none = AuthorizeRequest { code_challenge: None, code_challenge_method: None, ..request(WEB_APP, CALLBACK) };
    let (c, _) = authorize(none).await;
    assert_eq!(reason(&b.refused(c, "pkce", "is required").await), Reason::PkceRequired);
    // A redirect_uri that is not registered is never redirected to.
    let (c, told) = authorize(request(WEB_APP, "https://evil.example/callback")).await;
    assert_eq!(
        reason(&b.refused(c, "redirect_uri", "not one of the callback URLs").await),
        Reason::UnregisteredRedirectUri
    );
    assert!(told.unwrap().redirect.is_none());
    let (c, _) = authorize(AuthorizeRequest { scope: Some("openid phone".into()), ..request(WEB_APP, CALLBACK) }).await;
    assert_eq!(reason(&b.refused(c, "scope", "phone").await), Reason::InvalidScope);
    let (c, _) =
        authorize(AuthorizeRequest { response_type: Some("token".into()), ..request(WEB_APP, CALLBACK) }).await;
    assert_eq!(reason(&b.refused(c, "response_type", "not supported").await), Reason::UnsupportedResponseType);
    let (c, told) = authorize(AuthorizeRequest { domain: "nobody".into(), ..request(WEB_APP, CALLBACK) }).await;
    b.refused(c, "domain", "no user pool").await;
    assert!(told.unwrap().redirect.is_none());
}

#[tokio::test]
async fn a_sign_in_session_signs_in_at_another_client_of_the_pool() {
    let b = broker().await;
    let (_, session) = b.hosted_sign_in(&request(WEB_APP, CALLBACK), "alice").await;
    let other = request(OTHER_APP, OTHER_CALLBACK);
    let location = match b.engine.hosted_signin().authorize(&other, Some(&session), &ctx()).await.unwrap() {
        Authorized::Redirect { location } => location,
        page => panic!("expected a code from the session, got {page:?}"),
    };
    let code = param(&location, "code").unwrap();
    let tokens = b.redeem(&token_request(OTHER_APP, &code, OTHER_CALLBACK, Some(VERIFIER))).await.ok();
    let id = verify_own(
        b.engine.keys(),
        &format!("{ISSUER}/{POOL}"),
        tokens.id_token.as_deref().unwrap(),
        Some("id"),
        b.now(),
    )
    .await
    .unwrap();
    assert_eq!((id.str("aud"), id.str("cognito:username")), (Some(OTHER_APP), Some("alice")));
    // prompt=login asks again; an unknown session is no session.
    let login = AuthorizeRequest { prompt: Some("login".into()), ..other.clone() };
    assert!(matches!(
        b.engine.hosted_signin().authorize(&login, Some(&session), &ctx()).await,
        Ok(Authorized::SignIn(_))
    ));
    assert!(matches!(
        b.engine.hosted_signin().authorize(&other, Some("forged"), &ctx()).await,
        Ok(Authorized::SignIn(_))
    ));
    // prompt=none: a code from the session, or login_required back to the client, never a page.
    let none = AuthorizeRequest { prompt: Some("none".into()), ..other.clone() };
    assert!(matches!(
        b.engine.hosted_signin().authorize(&none, Some(&session), &ctx()).await,
        Ok(Authorized::Redirect { .. })
    ));
    let c = ctx();
    let (refused, told) = called(b.engine.hosted_signin().authorize(&none, None, &c).await, c.request_id);
    assert_eq!(reason(&b.refused(refused, "session", "prompt=none").await), Reason::LoginRequired);
    assert_eq!(told.unwrap().redirect.unwrap().state.as_deref(), Some("state-123"), "back to the client");
    // A disabled user's session signs nobody in.
    b.engine.directory().set_enabled("alice", false).await.unwrap();
    assert!(matches!(
        b.engine.hosted_signin().authorize(&other, Some(&session), &ctx()).await,
        Ok(Authorized::SignIn(_))
    ));
}

#[tokio::test]
async fn the_hosted_form_counts_toward_the_lockout_of_user_password_auth() {
    let b = broker().await;
    let req = request(WEB_APP, CALLBACK);
    let form = async |password: &str| {
        let c = ctx();
        called(b.engine.hosted_signin().sign_in(&req, "bob", password, &c).await, c.request_id)
    };
    for _ in 0..5 {
        let (c, told) = form("wrong-password").await;
        b.refused(c, "password", "does not match").await;
        let told = told.unwrap();
        assert!(told.page.is_some() && told.redirect.is_none(), "a wrong password shows the form again");
    }
    let (c, _) = form("bob-local-pw").await;
    let e = b.refused(c, "lockout", "5 wrong passwords in a row").await;
    assert_eq!((reason(&e), message(&e).as_str()), (Reason::LockedOut, LOCKED));
    // The same lock at USER_PASSWORD_AUTH.
    b.refused(b.password_auth("bob", "bob-local-pw").await, "lockout", "in a row").await;
}

#[tokio::test]
async fn a_temporary_password_leads_to_the_new_password_step_then_to_the_code() {
    let b = broker().await;
    let user = serde_json::json!({ "UserPoolId": POOL, "Username": "frank", "TemporaryPassword": "Temp-pass-123",
        "MessageAction": "SUPPRESS", "UserAttributes": [{ "Name": "email", "Value": "frank@example.com" }] });
    b.pool_admin("AdminCreateUser", user).await;
    let req = request(WEB_APP, CALLBACK);
    let hosted = b.engine.hosted_signin();
    let (challenge, username) = match hosted.sign_in(&req, "frank", "Temp-pass-123", &ctx()).await.unwrap() {
        SignedIn::NewPasswordRequired { challenge, username, .. } => (challenge, username),
        other => panic!("expected the new-password step, got {other:?}"),
    };
    // The pool's policy holds: the page is shown again, with why.
    let c = ctx();
    let (called_short, told) =
        called(hosted.new_password(&req, &challenge, &username, "short", &c).await, c.request_id);
    assert_eq!(reason(&b.refused(called_short, "password policy", "").await), Reason::InvalidPassword);
    assert!(told.unwrap().page.is_some());
    let location = match hosted.new_password(&req, &challenge, &username, "Frank-own-pw-1", &ctx()).await.unwrap() {
        SignedIn::Redirect { location, .. } => location,
        other => panic!("expected a redirect, got {other:?}"),
    };
    let code = param(&location, "code").unwrap();
    b.redeem(&token_request(WEB_APP, &code, CALLBACK, Some(VERIFIER))).await.ok();
    // The new password is the user's now, at USER_PASSWORD_AUTH too.
    let body = serde_json::json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": WEB_APP,
        "AuthParameters": { "USERNAME": "frank", "PASSWORD": "Frank-own-pw-1" } });
    assert!(b.pool("InitiateAuth", body).await.ok()["AuthenticationResult"]["AccessToken"].is_string());
}

#[tokio::test]
async fn redemptions_at_once_spend_the_code_once_and_end_what_it_issued() {
    let b = std::sync::Arc::new(broker().await);
    let (location, _) = b.hosted_sign_in(&request(WEB_APP, CALLBACK), "alice").await;
    let code = param(&location, "code").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (b, code) = (b.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            b.redeem(&token_request(WEB_APP, &code, CALLBACK, Some(VERIFIER))).await.result
        }));
    }
    let mut answered = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(tokens) => answered.push(tokens),
            Err(e) => assert_eq!(e.reason, Reason::CodeReplayed, "{e:?}"),
        }
    }
    assert!(answered.len() <= 1, "a code answers once at most: {}", answered.len());
    // Whatever the one redemption issued was ended by the others.
    for tokens in answered {
        let refresh = serde_json::json!({ "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": WEB_APP,
            "AuthParameters": { "REFRESH_TOKEN": tokens.refresh_token.unwrap() } });
        b.refused(b.pool("InitiateAuth", refresh).await, "refresh token", "revoked").await;
    }
}

#[tokio::test]
async fn a_refresh_keeps_the_scope_the_sign_in_was_granted() {
    let b = broker().await;
    let (location, _) = b.hosted_sign_in(&request(WEB_APP, CALLBACK), "bob").await;
    let code = param(&location, "code").unwrap();
    let tokens = b.redeem(&token_request(WEB_APP, &code, CALLBACK, Some(VERIFIER))).await.ok();
    let refresh_token = tokens.refresh_token.unwrap();
    let pool_issuer = format!("{ISSUER}/{POOL}");
    let scope_of = async |token: &str| {
        let t = verify_own(b.engine.keys(), &pool_issuer, token, Some("access"), b.now()).await.unwrap();
        t.str("scope").unwrap_or_default().to_string()
    };
    // At the domain's token endpoint.
    let grant = TokenRequest {
        grant_type: Some("refresh_token".into()),
        code: None,
        refresh_token: Some(refresh_token.clone()),
        ..token_request(WEB_APP, "", CALLBACK, None)
    };
    let refreshed = b.redeem(&grant).await.ok();
    assert!(refreshed.refresh_token.is_none() && refreshed.id_token.is_some());
    assert_eq!(scope_of(&refreshed.access_token).await, "openid email");
    // And by REFRESH_TOKEN_AUTH: never Cognito's admin scope the sign-in was not granted.
    let body = serde_json::json!({ "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": WEB_APP,
        "AuthParameters": { "REFRESH_TOKEN": refresh_token } });
    let result = b.pool("InitiateAuth", body).await.ok();
    assert_eq!(scope_of(result["AuthenticationResult"]["AccessToken"].as_str().unwrap()).await, "openid email");
    // A refresh token of another client is a grant refused.
    let other =
        TokenRequest { client: ClientCredentials { client_id: Some(OTHER_APP.into()), client_secret: None }, ..grant };
    assert_eq!(
        reason(&b.refused(b.redeem(&other).await, "refresh token", "not a refresh token of this client").await),
        Reason::InvalidGrant
    );
}

/// A confidential app client with client_credentials and resource-server scopes (one of which no
/// resource server defines).
const MACHINE: &str = "hostedmachine0000000000000";
const MACHINE_SECRET: &str = "machine-secret-value-0123456789";

/// The broker with resource server `orders` (`read`, `write`): the web app may ask for
/// `orders/read` and `orders/gone` (which `orders` does not define), the machine client for all three.
async fn broker_with_resource_server() -> Broker {
    Broker::open_with(Setup {
        passwords: true,
        configure: Some(Box::new(|cfg| {
            use tokenbridge_core::config::{ResourceServerConfig, ResourceServerScopeConfig};
            let pool = &mut cfg.user_pools[0];
            pool.domain = Some(DOMAIN.into());
            let mut web = app(WEB_APP, CALLBACK);
            web.allowed_oauth_scopes.extend(["orders/read".into(), "orders/gone".into()]);
            pool.clients.push(web);
            pool.clients.push(tokenbridge_core::config::UserPoolClientConfig {
                client_id: MACHINE.into(),
                name: "machine".into(),
                secret: Some(MACHINE_SECRET.into()),
                providers: Vec::new(),
                callback_urls: Vec::new(),
                logout_urls: Vec::new(),
                allowed_oauth_flows: vec!["client_credentials".into()],
                allowed_oauth_scopes: vec!["orders/read".into(), "orders/write".into(), "orders/gone".into()],
            });
            let scope = |name: &str| ResourceServerScopeConfig { name: name.into(), description: name.into() };
            pool.resource_servers.push(ResourceServerConfig {
                identifier: "orders".into(),
                name: "orders".into(),
                scopes: vec![scope("read"), scope("write")],
            });
        })),
    })
    .await
}

fn machine_token(scope: Option<&str>) -> TokenRequest {
    TokenRequest {
        domain: DOMAIN.into(),
        grant_type: Some("client_credentials".into()),
        code: None,
        redirect_uri: None,
        code_verifier: None,
        scope: scope.map(str::to_string),
        refresh_token: None,
        client: ClientCredentials { client_id: Some(MACHINE.into()), client_secret: Some(MACHINE_SECRET.into()) },
    }
}

#[tokio::test]
async fn resource_server_scopes_are_granted_only_when_allowed_and_defined() {
    let b = broker_with_resource_server().await;
    let pool_issuer = format!("{ISSUER}/{POOL}");
    let scope_of = async |token: &str| {
        let t = verify_own(b.engine.keys(), &pool_issuer, token, Some("access"), b.now()).await.unwrap();
        t.str("scope").unwrap_or_default().to_string()
    };
    // Authorize: an allowed and defined custom scope is granted into the access token.
    let req = AuthorizeRequest { scope: Some("openid orders/read".into()), ..request(WEB_APP, CALLBACK) };
    let (location, _) = b.hosted_sign_in(&req, "alice").await;
    let code = param(&location, "code").expect("code");
    let tokens = b.redeem(&token_request(WEB_APP, &code, CALLBACK, Some(VERIFIER))).await.ok();
    assert_eq!(scope_of(&tokens.access_token).await, "openid orders/read");

    let authorize = async |scope: &str| {
        let c = ctx();
        let req = AuthorizeRequest { scope: Some(scope.into()), ..request(WEB_APP, CALLBACK) };
        called(b.engine.hosted_signin().authorize(&req, None, &c).await, c.request_id)
    };
    // Defined but not allowed to the client; allowed but not defined; an unknown resource server.
    for (scope, needle) in [
        ("openid orders/write", "orders/write is not allowed"),
        ("openid orders/gone", "orders/gone is not defined by a resource server"),
        ("nobody/read", "nobody/read is not allowed"),
    ] {
        let (c, told) = authorize(scope).await;
        assert_eq!(reason(&b.refused(c, "scope", needle).await), Reason::InvalidScope, "{scope}");
        assert_eq!(told.unwrap().redirect.unwrap().state.as_deref(), Some("state-123"));
    }
    // With no scope asked for, the client's scopes are granted but the undefined one.
    let req = AuthorizeRequest { scope: None, ..request(WEB_APP, CALLBACK) };
    let (location, _) = b.hosted_sign_in(&req, "bob").await;
    let code = param(&location, "code").expect("code");
    let tokens = b.redeem(&token_request(WEB_APP, &code, CALLBACK, Some(VERIFIER))).await.ok();
    assert_eq!(scope_of(&tokens.access_token).await, "openid email profile orders/read");

    // client_credentials: the same rules, resource-server scopes only.
    let t = b.redeem(&machine_token(Some("orders/read orders/write"))).await.ok();
    assert_eq!(scope_of(&t.access_token).await, "orders/read orders/write");
    let t = b.redeem(&machine_token(None)).await.ok();
    assert_eq!(scope_of(&t.access_token).await, "orders/read orders/write");
    for (scope, needle) in [
        ("orders/gone", "orders/gone is not defined by a resource server"),
        ("orders/read orders/delete", "orders/delete is not a resource-server scope allowed"),
        ("openid", "openid is not a resource-server scope allowed"),
    ] {
        let e = b.refused(b.redeem(&machine_token(Some(scope))).await, "scope", needle).await;
        assert_eq!(reason(&e), Reason::InvalidScope, "{scope}");
    }
    // Once the resource server stops defining a scope, it is no longer granted: not even to a
    // code issued before.
    let req = AuthorizeRequest { scope: Some("openid orders/read".into()), ..request(WEB_APP, CALLBACK) };
    let (location, _) = b.hosted_sign_in(&req, "alice").await;
    let earlier = param(&location, "code").expect("code");
    b.pool_admin(
        "UpdateResourceServer",
        serde_json::json!({ "UserPoolId": POOL, "Identifier": "orders", "Name": "orders",
            "Scopes": [{ "ScopeName": "write", "ScopeDescription": "write" }] }),
    )
    .await;
    let e = b.refused(b.redeem(&machine_token(Some("orders/read"))).await, "scope", "not defined").await;
    assert_eq!(reason(&e), Reason::InvalidScope);
    let redeemed = b.redeem(&token_request(WEB_APP, &earlier, CALLBACK, Some(VERIFIER))).await;
    let e = b.refused(redeemed, "scope", "orders/read is not defined by a resource server").await;
    assert_eq!(reason(&e), Reason::InvalidScope);
    let t = b.redeem(&machine_token(None)).await.ok();
    assert_eq!(scope_of(&t.access_token).await, "orders/write");
}
