//! 6. Ended sessions, whether or not they hold a refresh token.
//!
//! A sign-out (GlobalSignOut, AdminUserGlobalSignOut), revoking a token (RFC 7009) and disabling
//! the user end the user's sign-in sessions. A session of an app client without the refresh grant
//! holds no refresh token; its access and id tokens used to outlive every one of these, at
//! UserInfo, introspection, the authorizer and GetUser (and AWS credentials, proven in
//! `aws_credentials.rs`). Every session is now recorded when it starts, so each of them ends it;
//! a session started after the sign-out, in the same second, is a new one and keeps working.
//! The store's side (a sign-out racing rotations of the user's refresh tokens, on both
//! backends) is proven by `concurrent_sign_out` in the store conformance suite.

use crate::common::*;
use serde_json::json;
use tokenbridge_core::engine::client_secret_hash;
use tokenbridge_core::model::Client;
use tokenbridge_demo::UPSTREAM_NAME;

/// A broker client of the demo provider without the refresh grant (as a browser app that signs
/// in again instead of refreshing).
const NO_REFRESH: &str = "no-refresh";
const NO_REFRESH_SECRET: &str = "no-refresh-secret";
const HELLO: &str = "/demo/api/hello";

async fn demo_with_client_without_refresh() -> Server {
    let s = Server::demo().await;
    let client = Client {
        client_id: NO_REFRESH.into(),
        name: "signs in again instead of refreshing".into(),
        secret_sha256: Some(client_secret_hash(NO_REFRESH_SECRET)),
        grant_types: vec!["urn:ietf:params:oauth:grant-type:token-exchange".into()],
        providers: vec![UPSTREAM_NAME.into()],
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
        access_token_ttl: 3600,
        id_token_ttl: 3600,
        refresh_token_ttl: 3600,
        allowed_origins: Vec::new(),
    };
    s.engine.tokens().put_client(client, false).await.expect("client");
    s
}

/// A session of `username` at the client without refresh tokens: (access token, id token).
async fn session_without_refresh(s: &Server, username: &str) -> (String, String) {
    let upstream = s.mint_id_token(username);
    let r = s.exchange_bearer(&upstream, &[("client_id", NO_REFRESH), ("client_secret", NO_REFRESH_SECRET)]).await;
    r.assert_ok();
    assert!(r.json.get("refresh_token").is_none_or(|v| v.is_null()), "no refresh token: {}", r.text);
    (r.str("access_token").to_string(), r.str("id_token").to_string())
}

async fn forward(s: &Server, token: &str) -> Resp {
    let req = s
        .http
        .get(s.url("/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", HELLO)
        .bearer_auth(token);
    s.send(req).await
}

async fn get_user(s: &Server, access: &str) -> Resp {
    s.cognito("GetUser", &json!({ "AccessToken": access })).await
}

/// Every door that takes the access token takes it.
async fn assert_session_works(s: &Server, access: &str) {
    s.userinfo(access).await.assert_ok();
    get_user(s, access).await.assert_ok();
    let r = forward(s, access).await;
    assert_eq!(r.status, 200, "forward-auth: {}", r.text);
    let r = s.introspect(access).await;
    r.assert_ok();
    assert_eq!(r.json["active"], true, "{}", r.text);
}

/// Every door refuses the access token, each saying the session has ended (the authorizer once
/// its cache bound has passed: the clock is moved past it here).
async fn assert_session_ended(s: &Server, access: &str) {
    let r = s.userinfo(access).await;
    assert_oauth_error(&r, 401, "invalid_token", "revoked", &[access]);
    let (_, check, _) = failing_check(s, &r).await;
    assert_eq!(check, "revocation");

    let r = get_user(s, access).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Access Token has been revoked");
    assert!(!r.text.contains(&access[access.len() - 40..]));
    let (_, check, _) = failing_check(s, &r).await;
    assert_eq!(check, "revocation");

    let r = s.introspect(access).await;
    r.assert_ok();
    assert_eq!(r.json, json!({ "active": false }));
    let trail = trail_of(s, &r).await;
    assert!(trail.iter().any(|t| t.starts_with("revocation: ")), "{trail:?}");

    s.clock.advance(30);
    let r = forward(s, access).await;
    assert_eq!(r.status, 401, "forward-auth: {}", r.text);
    assert!(!r.text.contains(&access[access.len() - 40..]));
    let (_, check, detail) = failing_check(s, &r).await;
    assert_eq!(
        (check.as_str(), detail.as_str()),
        ("revocation", "the token's sign-in session was revoked (refresh family ended)")
    );
}

#[tokio::test]
async fn global_sign_out_ends_sessions_without_refresh_tokens() {
    let s = demo_with_client_without_refresh().await;
    let pool_client = s.demo_cognito("client_id");
    let (access, _) = session_without_refresh(&s, "alice").await;
    assert_session_works(&s, &access).await;

    // Alice signs out of the user pool: every session of hers ends, this one too.
    let pool = s.pool_auth(&pool_client, "alice", "alice-local-pw").await;
    s.cognito("GlobalSignOut", &json!({ "AccessToken": pool["AccessToken"] })).await.assert_ok();
    // A session started after the sign-out, within the same second, is not ended by it.
    let (after, _) = session_without_refresh(&s, "alice").await;
    assert_session_ended(&s, &access).await;
    assert_session_works(&s, &after).await;
}

#[tokio::test]
async fn admin_sign_out_revocation_and_disabling_end_sessions_without_refresh_tokens() {
    let s = demo_with_client_without_refresh().await;
    let pool_id = s.demo_cognito("user_pool_id");

    let (access, _) = session_without_refresh(&s, "bob").await;
    s.user_pool_admin("AdminUserGlobalSignOut", &json!({ "UserPoolId": pool_id, "Username": "bob" })).await;
    assert_session_ended(&s, &access).await;

    // RFC 7009: revoking the access token ends its session (it has no refresh token to revoke).
    let (access, _) = session_without_refresh(&s, "bob").await;
    let (other, _) = session_without_refresh(&s, "bob").await;
    let r = s
        .send(
            s.http
                .post(s.url("/oauth2/revoke"))
                .basic_auth(NO_REFRESH, Some(NO_REFRESH_SECRET))
                .form(&[("token", access.as_str())]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_session_ended(&s, &access).await;
    assert_session_works(&s, &other).await;

    // Disabling bob ends his sessions: enabled again, the old session stays ended.
    s.engine.directory().set_enabled("bob", false).await.expect("disable");
    s.engine.directory().set_enabled("bob", true).await.expect("enable");
    assert_session_ended(&s, &other).await;
    let (fresh, _) = session_without_refresh(&s, "bob").await;
    assert_session_works(&s, &fresh).await;
}
