//! Sessions after the exchange: refresh-token rotation and reuse detection, expiry on a moved
//! clock, RFC 7009 revocation, RFC 7662 introspection and OIDC UserInfo, all over HTTP.

use crate::common::*;
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

    // The rotated-out token comes back after the reuse grace: a replay. It fails and takes the
    // family down.
    s.clock.advance(s.engine.config().issuer.refresh_reuse_grace_seconds + 1);
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
    s.engine.directory().set_enabled("alice", false).await.unwrap();
    let r = s.userinfo(&later).await;
    assert_oauth_error(&r, 401, "invalid_token", "session was revoked", &[&later]);
    s.engine.directory().set_enabled("alice", true).await.unwrap();
    let r = s.userinfo(&later).await;
    assert_oauth_error(&r, 401, "invalid_token", "session was revoked", &[&later]);
    s.userinfo(s.sign_in("alice").await["access_token"].as_str().unwrap()).await.assert_ok();
}

/// With the reuse grace off, the compare-and-swap alone decides. (With it on, one of the losers
/// is a retry within the grace: see `concurrent_retries_within_grace_have_one_winner`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_have_one_winner() {
    let s = std::sync::Arc::new(with_reuse_grace(0).await);
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
    s.engine.directory().set_enabled("alice", false).await.unwrap();
    assert_eq!(s.userinfo(&at).await.status, 401);
    assert_active(&s.introspect(&at).await, false);
}

// --- the reuse grace: a retry after a lost response ---

async fn with_reuse_grace(seconds: i64) -> Server {
    Server::custom(Opts {
        configure: Some(Box::new(move |cfg| cfg.issuer.refresh_reuse_grace_seconds = seconds)),
        ..Default::default()
    })
    .await
}

/// The decision trail of a refresh: (check, outcome, detail) of each step.
async fn trail_of(s: &Server, r: &Resp) -> Vec<(String, String, String)> {
    let records = s.audit_of(r.request_id()).await;
    assert_eq!(records.len(), 1, "one audit record per refresh");
    let steps = records[0].record["additionalEventData"]["decisionTrail"].as_array().expect("trail").clone();
    steps
        .iter()
        .map(|st| {
            let field = |k: &str| st[k].as_str().unwrap_or_default().to_string();
            (field("check"), field("outcome"), field("detail"))
        })
        .collect()
}

/// Signs in and rotates once, dropping the answer as if it never arrived: returns the sign-in's
/// refresh token (the one the client still holds) and the lost successor.
async fn rotate_and_lose_the_response(s: &Server) -> (String, String) {
    let first = s.sign_in("alice").await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    s.clock.advance(10);
    let lost = s.refresh(&rt1).await;
    lost.assert_ok();
    (rt1, lost.str("refresh_token").to_string())
}

#[tokio::test]
async fn retry_within_grace_after_a_lost_response_gets_new_tokens() {
    let s = Server::custom(Opts::default()).await;
    assert_eq!(s.engine.config().issuer.refresh_reuse_grace_seconds, 30, "on by default");
    let (rt1, lost) = rotate_and_lose_the_response(&s).await;

    s.clock.advance(3);
    let r = s.refresh(&rt1).await;
    r.assert_ok();
    let rt3 = r.str("refresh_token").to_string();
    assert!(rt3 != rt1 && rt3 != lost, "a new refresh token");
    let at = r.str("access_token").to_string();
    s.userinfo(&at).await.assert_ok();
    assert_eq!(decode(&at).claims["iat"], s.now());
    let trail = trail_of(&s, &r).await;
    let rotation = trail.iter().find(|(check, ..)| check == "rotation").expect("rotation step");
    assert_eq!(
        (rotation.1.as_str(), rotation.2.as_str()),
        ("pass", "reuse within grace: token rotated 3 s ago, its unused successor retired")
    );
    let record = serde_json::to_string(&s.audit_of(r.request_id()).await[0].record).unwrap();
    for t in [&rt1, &lost, &rt3] {
        assert!(!record.contains(t.as_str()), "the audit record holds no token");
    }

    // The lost successor is dead; the new token is the family's only live one, and rotates on.
    assert_active(&s.introspect(&lost).await, false);
    assert_active(&s.introspect(&rt3).await, true);
    s.clock.advance(60);
    let r = s.refresh(&rt3).await;
    r.assert_ok();
    s.userinfo(r.str("access_token")).await.assert_ok();
}

/// The lost successor surfacing after the retry means a second holder (it was never presented
/// by the client that retried): a replay, which revokes the family.
#[tokio::test]
async fn lost_successor_presented_after_a_grace_retry_revokes_the_family() {
    let s = Server::custom(Opts::default()).await;
    let (rt1, lost) = rotate_and_lose_the_response(&s).await;
    s.clock.advance(2);
    let retried = s.refresh(&rt1).await;
    retried.assert_ok();
    let rt3 = retried.str("refresh_token").to_string();
    let at3 = retried.str("access_token").to_string();

    s.clock.advance(1);
    let r = s.refresh(&lost).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&lost, &rt1, &rt3]);
    assert!(r.str("error_description").contains("1 active token(s) revoked"), "{}", r.text);
    let trail = trail_of(&s, &r).await;
    assert!(trail.iter().any(|(check, outcome, detail)| check == "reuse grace"
        && outcome == "skip"
        && detail.contains("retired unused")));
    let r = s.refresh(&rt3).await;
    assert_oauth_error(&r, 400, "invalid_grant", "revoked", &[&rt3]);
    let r = s.userinfo(&at3).await;
    assert_oauth_error(&r, 401, "invalid_token", "revoked", &[&at3]);
}

/// One retry per rotation: retrying again finds the successor retired, and a token whose
/// successor was used is no lost response at all. Both are replays.
#[tokio::test]
async fn second_retry_or_used_successor_revokes_the_family() {
    let s = Server::custom(Opts::default()).await;
    let (rt1, _lost) = rotate_and_lose_the_response(&s).await;
    s.refresh(&rt1).await.assert_ok();
    let r = s.refresh(&rt1).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&rt1]);
    assert!(r.str("error_description").contains("1 active token(s) revoked"), "{}", r.text);

    let first = s.sign_in("alice").await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let r = s.refresh(&rt1).await;
    r.assert_ok();
    let rt2 = r.str("refresh_token").to_string();
    let r = s.refresh(&rt2).await;
    r.assert_ok();
    let rt3 = r.str("refresh_token").to_string();
    let r = s.refresh(&rt1).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&rt1, &rt2, &rt3]);
    let trail = trail_of(&s, &r).await;
    assert!(trail.iter().any(|(check, _, detail)| check == "reuse grace" && detail.contains("already used")));
    let r = s.refresh(&rt3).await;
    assert_oauth_error(&r, 400, "invalid_grant", "revoked", &[&rt3]);
}

#[tokio::test]
async fn retry_after_the_grace_revokes_the_family() {
    let s = Server::custom(Opts::default()).await;
    let (rt1, lost) = rotate_and_lose_the_response(&s).await;
    s.clock.advance(31);
    let r = s.refresh(&rt1).await;
    assert_oauth_error(&r, 400, "invalid_grant", "refresh token was already used", &[&rt1, &lost]);
    let trail = trail_of(&s, &r).await;
    assert!(trail.contains(&(
        "reuse grace".into(),
        "skip".into(),
        "token rotated 31 s ago, beyond the 30 s reuse grace".into()
    )));
    let r = s.refresh(&lost).await;
    assert_oauth_error(&r, 400, "invalid_grant", "revoked", &[&lost]);
}

#[tokio::test]
async fn without_grace_a_retry_after_a_lost_response_revokes_the_family() {
    let s = with_reuse_grace(0).await;
    let (rt1, lost) = rotate_and_lose_the_response(&s).await;
    let r = s.refresh(&rt1).await;
    assert_oauth_error(&r, 400, "invalid_grant", "refresh token was already used", &[&rt1, &lost]);
    let r = s.refresh(&lost).await;
    assert_oauth_error(&r, 400, "invalid_grant", "revoked", &[&lost]);
}

/// Simultaneous retries within the grace: one gets new tokens; the others are replays (two
/// parties hold the token), which revoke the family, the winner's new tokens included.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_within_grace_have_one_winner() {
    let s = std::sync::Arc::new(Server::custom(Opts::default()).await);
    let (rt1, _lost) = rotate_and_lose_the_response(&s).await;
    let rt1 = std::sync::Arc::new(rt1);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (s, rt1) = (s.clone(), rt1.clone());
        set.spawn(async move { s.refresh(&rt1).await });
    }
    let mut winners = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        if r.status == 200 {
            winners.push(r.str("refresh_token").to_string());
        } else {
            assert_oauth_error(&r, 400, "invalid_grant", "", &[&rt1]);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one retry wins");
    let r = s.refresh(&winners[0]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "revoked", &[&winners[0]]);
}
