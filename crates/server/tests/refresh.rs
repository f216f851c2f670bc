//! Sessions after the exchange: refresh-token rotation and reuse detection, expiry on a moved
//! clock, RFC 7009 revocation, RFC 7662 introspection and OIDC UserInfo, all over HTTP.

mod common;

use common::*;
use serde_json::json;

const DAY: i64 = 24 * 3600;

#[track_caller]
fn assert_active(r: &Resp, active: bool) {
    r.assert_ok();
    assert_eq!(r.json["active"], active, "{}", r.text);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let s = Server::demo().await;
    let first = s.sign_in("alice").await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let at1 = first["access_token"].as_str().unwrap().to_string();

    s.clock.advance(10);
    let r = s.refresh(&rt1).await;
    r.assert_ok();
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let rt2 = r.str("refresh_token").to_string();
    let at2 = r.str("access_token").to_string();
    assert_ne!(rt2, rt1, "rotation gives a new refresh token");
    assert_ne!(at2, at1);
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 3600);
    assert!(r.json.get("issued_token_type").is_none(), "not a token exchange answer: {}", r.text);
    let jwks = s.jwks().await;
    let new_access = verify_with_jwks(&at2, &jwks);
    let new_id = verify_with_jwks(r.str("id_token"), &jwks);
    let old_access = decode(&at1);
    assert_eq!(new_access.claims["origin_jti"], old_access.claims["origin_jti"], "same session family");
    assert_eq!(new_access.claims["auth_time"], old_access.claims["auth_time"], "auth_time is the sign-in's");
    assert_eq!(new_access.claims["iat"], s.now());
    assert_eq!(new_id.claims["token_use"], "id");
    assert_active(&s.introspect(&at2).await, true);
    assert_active(&s.introspect(&rt2).await, true);
    assert_active(&s.introspect(&rt1).await, false);

    // The rotated-out token comes back: a replay. It fails and takes the family down.
    let r = s.refresh(&rt1).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&rt1, &rt2]);
    assert!(r.str("error_description").contains("revoked"));
    // The newest token of the family stops working too.
    let r = s.refresh(&rt2).await;
    assert_oauth_error(&r, 400, "invalid_grant", "revoked", &[&rt2]);
    // Access tokens of the family are dead everywhere.
    assert_active(&s.introspect(&at2).await, false);
    assert_active(&s.introspect(&at1).await, false);
    assert_active(&s.introspect(&rt2).await, false);
    let r = s.userinfo(&at2).await;
    assert_oauth_error(&r, 401, "invalid_token", "revoked", &[&at2]);
    // Another session of the same user is not affected.
    let other = s.sign_in("alice").await;
    s.userinfo(other["access_token"].as_str().unwrap()).await.assert_ok();
    s.refresh(other["refresh_token"].as_str().unwrap()).await.assert_ok();
}

#[tokio::test]
async fn refresh_needs_no_upstream() {
    let idp = TestIdp::start().await;
    let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await;
    let opaque = "opaque-token-for-alice";
    idp.register_opaque(opaque, json!({ "sub": "t-alice", "email": "alice@example.com", "email_verified": true }));
    let up = idp.token(&idp.claims("alice@example.com", s.now()));
    let r = s.token_exchange(&up, TT_ID_TOKEN).await;
    r.assert_ok();
    let rt = r.str("refresh_token").to_string();

    // The upstream provider goes away entirely.
    idp.stop().await;
    assert!(s.http.get(format!("{}/jwks", idp.base)).send().await.is_err(), "the upstream is down");
    let r = s
        .token_basic(&[
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("subject_token", opaque),
            ("subject_token_type", TT_ACCESS_TOKEN),
            ("provider", TEST_PROVIDER),
        ])
        .await;
    assert_oauth_error(&r, 503, "temporarily_unavailable", "cannot connect", &[opaque]);

    // Refreshing is this system's own business: it still works.
    s.clock.advance(60);
    let r = s.refresh(&rt).await;
    r.assert_ok();
    let rt2 = r.str("refresh_token").to_string();
    s.userinfo(r.str("access_token")).await.assert_ok();
    s.refresh(&rt2).await.assert_ok();
}

#[tokio::test]
async fn refresh_token_expires() {
    let s = Server::custom(Opts::default()).await;
    let first = s.sign_in("alice").await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    // Day 29: still good (the demo client's refresh tokens live 30 days).
    s.clock.advance(29 * DAY);
    let r = s.refresh(&rt1).await;
    r.assert_ok();
    let rt2 = r.str("refresh_token").to_string();
    // Day 31: rotation did not extend the family's lifetime.
    s.clock.advance(2 * DAY);
    let r = s.refresh(&rt2).await;
    assert_oauth_error(&r, 400, "invalid_grant", "expired", &[&rt2]);
    assert_active(&s.introspect(&rt2).await, false);
}

#[tokio::test]
async fn refresh_token_expires_after_31_days_unused() {
    let s = Server::demo().await;
    let first = s.sign_in("alice").await;
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    s.clock.advance(31 * DAY);
    let r = s.refresh(&rt).await;
    assert_oauth_error(&r, 400, "invalid_grant", "refresh token expired", &[&rt]);
}

#[tokio::test]
async fn revoked_refresh_token_ends_the_session() {
    let s = Server::custom(Opts::default()).await;
    let first = s.sign_in("alice").await;
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    let at = first["access_token"].as_str().unwrap().to_string();
    s.userinfo(&at).await.assert_ok();

    let r = s.post_form_basic("/oauth2/revoke", &[("token", rt.as_str()), ("token_type_hint", "refresh_token")]).await;
    r.assert_ok();
    // Revoking again, or revoking an unknown token, is still 200 (RFC 7009 §2.2).
    s.post_form_basic("/oauth2/revoke", &[("token", rt.as_str())]).await.assert_ok();
    s.post_form_basic("/oauth2/revoke", &[("token", "never-issued")]).await.assert_ok();

    let r = s.refresh(&rt).await;
    assert_oauth_error(&r, 400, "invalid_grant", "revoked", &[&rt]);
    let r = s.userinfo(&at).await;
    assert_oauth_error(&r, 401, "invalid_token", "revoked", &[&at]);
    let www = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(www.starts_with("Bearer "), "{www}");
    assert!(www.contains("error=\"invalid_token\""), "{www}");
    assert_active(&s.introspect(&at).await, false);
}

#[tokio::test]
async fn revoking_an_access_token_revokes_its_family() {
    let s = Server::custom(Opts::default()).await;
    let first = s.sign_in("alice").await;
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    let at = first["access_token"].as_str().unwrap().to_string();
    s.post_form_basic("/oauth2/revoke", &[("token", at.as_str())]).await.assert_ok();
    let r = s.refresh(&rt).await;
    assert_oauth_error(&r, 400, "invalid_grant", "revoked", &[&rt]);
}

#[tokio::test]
async fn revocation_requires_client_auth() {
    let s = Server::custom(Opts::default()).await;
    let first = s.sign_in("alice").await;
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    let r = s.send(s.http.post(s.url("/oauth2/revoke")).form(&[("token", rt.as_str())])).await;
    assert_oauth_error(&r, 401, "invalid_client", "client_id", &[&rt]);
    // Another client cannot revoke this client's tokens (answers 200, revokes nothing).
    let r = s
        .send(
            s.http
                .post(s.url("/oauth2/revoke"))
                .basic_auth(DEMO_ONLY_CLIENT, Some(DEMO_ONLY_SECRET))
                .form(&[("token", rt.as_str())]),
        )
        .await;
    r.assert_ok();
    s.refresh(&rt).await.assert_ok();
}

#[tokio::test]
async fn refresh_token_is_bound_to_its_client() {
    let s = Server::custom(Opts::default()).await;
    let first = s.sign_in("alice").await;
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    let r = s
        .send(
            s.http
                .post(s.url("/oauth2/token"))
                .basic_auth(DEMO_ONLY_CLIENT, Some(DEMO_ONLY_SECRET))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())]),
        )
        .await;
    assert_oauth_error(&r, 400, "invalid_grant", "issued to another client", &[&rt]);
    // Refreshing needs the client's secret.
    let r = s
        .send(s.http.post(s.url("/oauth2/token")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", DEMO_CLIENT),
        ]))
        .await;
    assert_oauth_error(&r, 401, "invalid_client", "secret is required", &[&rt]);
    let r = s.refresh("not-a-refresh-token").await;
    assert_oauth_error(&r, 400, "invalid_grant", "not recognized", &["not-a-refresh-token"]);
    // None of that hurt the token.
    s.refresh(&rt).await.assert_ok();
}

#[tokio::test]
async fn introspection_requires_client_auth() {
    let s = Server::custom(Opts::default()).await;
    let first = s.sign_in("alice").await;
    let at = first["access_token"].as_str().unwrap().to_string();
    let rt = first["refresh_token"].as_str().unwrap().to_string();

    let r = s.send(s.http.post(s.url("/oauth2/introspect")).form(&[("token", at.as_str())])).await;
    assert_oauth_error(&r, 401, "invalid_client", "no client_id", &[&at]);
    assert!(r.header("www-authenticate").is_some_and(|w| w.starts_with("Basic ")));
    let r = s
        .send(s.http.post(s.url("/oauth2/introspect")).form(&[("token", at.as_str()), ("client_id", DEMO_CLIENT)]))
        .await;
    assert_oauth_error(&r, 401, "invalid_client", "secret is required", &[&at]);
    let r = s
        .send(
            s.http
                .post(s.url("/oauth2/introspect"))
                .basic_auth(DEMO_CLIENT, Some("wrong"))
                .form(&[("token", at.as_str())]),
        )
        .await;
    assert_oauth_error(&r, 401, "invalid_client", "does not match", &[&at]);

    let r = s.introspect(&at).await;
    assert_active(&r, true);
    let j = &r.json;
    assert_eq!(j["token_type"], "access_token");
    assert_eq!(j["client_id"], DEMO_CLIENT);
    assert_eq!(j["username"], "alice");
    assert_eq!(j["sub"], s.user_id("alice").await.as_str());
    assert_eq!(j["iss"], s.base.as_str());
    assert_eq!(j["scope"], "openid email profile orders:read orders:write");
    assert_eq!(j["token_use"], "access");
    assert!(j["exp"].as_i64().unwrap() > s.now());

    let r = s.introspect(first["id_token"].as_str().unwrap()).await;
    assert_active(&r, true);
    assert_eq!(r.json["token_type"], "id_token");
    let r = s.introspect(&rt).await;
    assert_active(&r, true);
    assert_eq!(r.json["token_type"], "refresh_token");
    assert_active(&s.introspect("garbage").await, false);
    assert_active(&s.introspect(&flip_signature_byte(&at)).await, false);
    // An upstream token is not one of ours.
    assert_active(&s.introspect(&s.fresh_id_token("alice")).await, false);
    // Expired.
    s.clock.advance(3600);
    assert_active(&s.introspect(&at).await, false);
}

#[tokio::test]
async fn userinfo_serves_the_local_profile() {
    let s = Server::custom(Opts::default()).await;
    let first = s.sign_in("alice").await;
    let at = first["access_token"].as_str().unwrap().to_string();
    let alice = s.user_id("alice").await;
    for r in [s.userinfo(&at).await, s.send(s.http.post(s.url("/oauth2/userinfo")).bearer_auth(&at)).await] {
        r.assert_ok();
        assert_eq!(r.json["sub"], alice.as_str());
        assert_eq!(r.json["username"], "alice");
        assert_eq!(r.json["preferred_username"], "alice");
        assert_eq!(r.json["email"], "alice@example.com");
        assert_eq!(r.json["email_verified"], true);
        assert_eq!(r.json["cognito:groups"], json!(["admins", "readers"]));
    }

    let r = s.get("/oauth2/userinfo").await;
    assert_oauth_error(&r, 401, "invalid_token", "Bearer", &[]);
    assert!(r.header("www-authenticate").is_some_and(|w| w.starts_with("Bearer ")));
    // An id token is not an access token.
    let id = first["id_token"].as_str().unwrap();
    let r = s.userinfo(id).await;
    assert_oauth_error(&r, 401, "invalid_token", "token_use", &[id]);
    // Nor is an upstream token.
    let up = s.fresh_id_token("alice");
    let r = s.userinfo(&up).await;
    assert_oauth_error(&r, 401, "invalid_token", "kid", &[&up]);
    let forged = flip_signature_byte(&at);
    let r = s.userinfo(&forged).await;
    assert_oauth_error(&r, 401, "invalid_token", "signature", &[&forged]);
    // An expired token.
    let later = s.sign_in("alice").await["access_token"].as_str().unwrap().to_string();
    s.clock.advance(3600);
    let r = s.userinfo(&at).await;
    assert_oauth_error(&r, 401, "invalid_token", "expired", &[&at]);
    s.clock.advance(-3600);
    // Disabling a user ends their sessions (as Cognito's AdminDisableUser revokes their tokens):
    // the token stops working at once and stays revoked when the user is enabled again.
    s.userinfo(&later).await.assert_ok();
    s.engine.directory.set_enabled("alice", false).await.unwrap();
    let r = s.userinfo(&later).await;
    assert_oauth_error(&r, 401, "invalid_token", "session was revoked", &[&later]);
    s.engine.directory.set_enabled("alice", true).await.unwrap();
    let r = s.userinfo(&later).await;
    assert_oauth_error(&r, 401, "invalid_token", "session was revoked", &[&later]);
    s.userinfo(s.sign_in("alice").await["access_token"].as_str().unwrap()).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_have_one_winner() {
    let s = std::sync::Arc::new(Server::custom(Opts::default()).await);
    let first = s.sign_in("alice").await;
    let rt = std::sync::Arc::new(first["refresh_token"].as_str().unwrap().to_string());
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (s, rt) = (s.clone(), rt.clone());
        set.spawn(async move { s.refresh(&rt).await });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        if r.status == 200 {
            ok += 1;
        } else {
            // Losing the compare-and-swap is a reuse: refused, never a server error.
            assert_eq!(r.status, 400, "{}", r.text);
            assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);
        }
    }
    assert_eq!(ok, 1, "exactly one concurrent refresh rotates the token");
}

#[tokio::test]
async fn introspection_reports_a_disabled_users_token_inactive() {
    let s = Server::custom(Opts::default()).await;
    let first = s.sign_in("alice").await;
    let at = first["access_token"].as_str().unwrap().to_string();
    s.engine.directory.set_enabled("alice", false).await.unwrap();
    assert_eq!(s.userinfo(&at).await.status, 401);
    assert_active(&s.introspect(&at).await, false);
}
