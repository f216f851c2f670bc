//! Opaque (Salesforce-style) upstream access tokens, which the broker can only check by asking
//! the provider's UserInfo endpoint: the working path, and the provider down or too slow.

use crate::common::*;
use std::time::{Duration, Instant};
use tokenbridge_demo::idp::UserinfoMode;

async fn opaque_token(s: &Server, user: &str) -> String {
    let up = s.upstream_login(user).await;
    let t = up["access_token"].as_str().expect("upstream access_token").to_string();
    assert!(t.starts_with("00D") && t.contains('!'), "Salesforce-shaped opaque token: {t}");
    t
}

#[tokio::test]
async fn opaque_access_token_is_checked_through_userinfo() {
    let s = Server::demo().await;
    let t = opaque_token(&s, "alice").await;
    let r = s.token_exchange(&t, TT_ACCESS_TOKEN).await;
    r.assert_ok();
    assert_eq!(r.json["issued_token_type"], TT_ACCESS_TOKEN);
    let id = verify_with_jwks(r.str("id_token"), &s.jwks().await);
    assert_eq!(id.claims["cognito:username"], "alice");
    assert_eq!(id.claims["sub"], s.user_id("alice").await.as_str());
    // One-time use holds for opaque tokens too.
    let r = s.token_exchange(&t, TT_ACCESS_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&t]);
    // The seed door takes it without a declared type.
    s.clock.advance(1);
    let t2 = opaque_token(&s, "alice").await;
    assert_ne!(t2, t);
    s.exchange_bearer(&t2, &[]).await.assert_ok();
    // The audit record says how the token was vouched for.
    let r = s.token_exchange(&t, TT_ACCESS_TOKEN).await;
    let rec = &s.audit_of(r.request_id()).await[0].record;
    let trail = rec["additionalEventData"]["decisionTrail"].as_array().unwrap();
    assert!(trail.iter().any(|st| st["check"] == "userinfo" && st["outcome"] == "pass"), "{trail:?}");
}

#[tokio::test]
async fn opaque_tokens_meet_the_same_rules() {
    let s = Server::custom(Opts::default()).await;
    let t = opaque_token(&s, "alice").await;
    // Declared as a JWT, it is not one.
    let r = s.token_exchange(&t, TT_ID_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "not a JWT", &[&t]);
    // Tampered: the upstream UserInfo refuses it.
    let tampered = format!("{t}x");
    let r = s.token_exchange(&tampered, TT_ACCESS_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "UserInfo rejected the token", &[&tampered]);
    // dave's UserInfo says email_verified=false: the claim condition fails.
    let d = opaque_token(&s, "dave").await;
    let r = s.token_exchange(&d, TT_ACCESS_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "claim condition", &[&d]);
    // carol is not linked.
    let c = opaque_token(&s, "carol").await;
    let r = s.token_exchange(&c, TT_ACCESS_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "no local user is linked", &[&c]);
}

#[tokio::test]
async fn userinfo_down_is_temporarily_unavailable() {
    let s = Server::demo().await;
    let t = opaque_token(&s, "alice").await;
    s.idp.set_userinfo_mode(UserinfoMode::Down);
    let r = s.token_exchange(&t, TT_ACCESS_TOKEN).await;
    assert_oauth_error(&r, 503, "temporarily_unavailable", "UserInfo", &[&t]);
    assert!(r.str("error_description").contains("503"), "{}", r.text);
    let r = s.exchange_bearer(&t, &[]).await;
    assert_oauth_error(&r, 503, "temporarily_unavailable", "UserInfo", &[&t]);
    // Back up: the same token is accepted, the outage did not consume it.
    s.idp.set_userinfo_mode(UserinfoMode::Normal);
    s.token_exchange(&t, TT_ACCESS_TOKEN).await.assert_ok();
}

#[tokio::test]
async fn userinfo_slower_than_the_provider_timeout() {
    // The demo provider with a 500 ms upstream timeout, so the test stays fast.
    let s = Server::custom(Opts { demo_timeout_ms: 500, ..Default::default() }).await;
    let t = opaque_token(&s, "alice").await;
    // Discovery is fetched before UserInfo is slowed down, so only UserInfo is timed.
    s.exchange_bearer(&s.fresh_id_token("bob"), &[]).await.assert_ok();
    s.idp.set_userinfo_mode(UserinfoMode::Slow(Duration::from_secs(5)));
    let started = Instant::now();
    let r = s.token_exchange(&t, TT_ACCESS_TOKEN).await;
    let took = started.elapsed();
    assert_oauth_error(&r, 503, "temporarily_unavailable", "did not answer within 500 ms", &[&t]);
    assert!(took >= Duration::from_millis(500), "answered after {took:?}, before the timeout");
    assert!(took < Duration::from_secs(4), "the broker waited {took:?} for the upstream, not 500 ms");
    s.idp.set_userinfo_mode(UserinfoMode::Normal);
    s.token_exchange(&t, TT_ACCESS_TOKEN).await.assert_ok();
}
