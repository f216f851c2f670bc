//! Sessions after the exchange: refresh-token rotation, reuse detection that revokes the whole
//! family, the reuse grace for a retry after a lost response, expiry, client binding, RFC 7009
//! revocation, introspection and UserInfo.

use crate::support::*;
use std::sync::Arc;
use tokenbridge_core::issuer::verify_own;

const DAY: i64 = 24 * 3600;

fn rt(set: &tokenbridge_core::engine::TokenSet) -> String {
    set.refresh_token.clone().expect("a refresh token")
}

/// The decision trail of the one record of a request.
async fn trail_of(b: &Broker, request_id: &str) -> Vec<String> {
    let records = b.records(request_id).await;
    assert_eq!(records.len(), 1, "one audit record per refresh");
    trail_lines(&records[0])
}

/// Signs alice in and rotates once, dropping the answer as if it never arrived: the sign-in's
/// refresh token (the one the client still holds) and the lost successor.
async fn rotate_and_lose_the_response(b: &Broker) -> (String, String) {
    let rt1 = rt(&b.sign_in("alice").await);
    b.clock.advance(10);
    let lost = rt(&b.refresh(&rt1).await.ok());
    (rt1, lost)
}

#[tokio::test]
async fn refresh_rotates_within_the_session() {
    let b = Broker::open().await;
    let first = b.sign_in("alice").await;
    let rt1 = rt(&first);
    b.clock.advance(10);
    let second = b.refresh(&rt1).await.ok();
    let rt2 = rt(&second);
    assert_ne!(rt2, rt1, "rotation gives a new refresh token");
    assert_eq!(second.issued_token_type, None, "not a token exchange answer");
    assert_eq!(second.expires_in, 3600);
    let keys = b.engine.keys();
    let old = verify_own(keys, ISSUER, &first.access_token, Some("access"), b.now()).await.unwrap();
    let new = verify_own(keys, ISSUER, &second.access_token, Some("access"), b.now()).await.unwrap();
    assert_eq!(new.str("origin_jti"), old.str("origin_jti"), "the same session family");
    assert_eq!(new.int("auth_time"), old.int("auth_time"), "auth_time is the sign-in's");
    assert_eq!(new.int("iat"), Some(b.now()));
    assert!(b.active(&second.access_token).await);
    assert!(b.active(&rt2).await);
    assert!(!b.active(&rt1).await, "the rotated-out token is no longer active");
}

#[tokio::test]
async fn reuse_after_the_grace_revokes_the_whole_family() {
    let b = Broker::open().await;
    let first = b.sign_in("alice").await;
    let rt1 = rt(&first);
    b.clock.advance(10);
    let second = b.refresh(&rt1).await.ok();
    let rt2 = rt(&second);

    b.clock.advance(b.engine.config().issuer.refresh_reuse_grace_seconds + 1);
    let e = b.refused(b.refresh(&rt1).await, "rotation", "refresh token was already used").await;
    assert!(message(&e).contains("is revoked (1 active token(s) revoked)"), "{}", message(&e));
    assert_eq!(reason(&e), Reason::InvalidGrant);
    // The newest token of the family, and every access token of it, are dead.
    b.refused(b.refresh(&rt2).await, "rotation", "refresh token has been revoked").await;
    b.refused(b.userinfo(&second.access_token).await, "revocation", "the token's session was revoked").await;
    b.refused(b.userinfo(&first.access_token).await, "revocation", "revoked").await;
    assert!(!b.active(&second.access_token).await);
    // Another session of the same user lives on.
    let other = b.sign_in("alice").await;
    b.userinfo(&other.access_token).await.ok();
    b.refresh(&rt(&other)).await.ok();
}

#[tokio::test]
async fn a_retry_within_the_grace_after_a_lost_response_gets_new_tokens() {
    let b = Broker::open().await;
    assert_eq!(b.engine.config().issuer.refresh_reuse_grace_seconds, 30, "on by default");
    let (rt1, lost) = rotate_and_lose_the_response(&b).await;
    b.clock.advance(3);
    let called = b.refresh(&rt1).await;
    let request_id = called.request_id.clone();
    let retried = called.ok();
    let rt3 = rt(&retried);
    assert!(rt3 != rt1 && rt3 != lost, "a new refresh token");
    b.userinfo(&retried.access_token).await.ok();
    let trail = trail_of(&b, &request_id).await;
    assert!(
        trail.contains(
            &"rotation: pass: reuse within grace: token rotated 3 s ago, its unused successor retired".into()
        ),
        "{trail:?}"
    );
    // The lost successor is dead; the new token is the family's only live one, and rotates on.
    assert!(!b.active(&lost).await);
    assert!(b.active(&rt3).await);
    b.clock.advance(60);
    b.refresh(&rt3).await.ok();
}

#[tokio::test]
async fn the_lost_successor_presented_after_a_retry_is_a_replay() {
    let b = Broker::open().await;
    let (rt1, lost) = rotate_and_lose_the_response(&b).await;
    b.clock.advance(2);
    let retried = b.refresh(&rt1).await.ok();
    b.clock.advance(1);
    let called = b.refresh(&lost).await;
    let request_id = called.request_id.clone();
    let e = b.refused(called, "rotation", "already used").await;
    assert!(message(&e).contains("1 active token(s) revoked"), "{}", message(&e));
    let trail = trail_of(&b, &request_id).await;
    assert!(trail.iter().any(|l| l.starts_with("reuse grace: skip:") && l.contains("retired unused")), "{trail:?}");
    b.refused(b.refresh(&rt(&retried)).await, "rotation", "revoked").await;
    b.refused(b.userinfo(&retried.access_token).await, "revocation", "revoked").await;
}

#[tokio::test]
async fn one_retry_per_rotation_and_none_after_the_successor_was_used() {
    let b = Broker::open().await;
    let (rt1, _lost) = rotate_and_lose_the_response(&b).await;
    b.refresh(&rt1).await.ok();
    let e = b.refused(b.refresh(&rt1).await, "rotation", "already used").await;
    assert!(message(&e).contains("1 active token(s) revoked"), "{}", message(&e));

    let rt1 = rt(&b.sign_in("alice").await);
    let rt2 = rt(&b.refresh(&rt1).await.ok());
    let rt3 = rt(&b.refresh(&rt2).await.ok());
    let called = b.refresh(&rt1).await;
    let request_id = called.request_id.clone();
    b.refused(called, "rotation", "already used").await;
    let trail = trail_of(&b, &request_id).await;
    assert!(trail.iter().any(|l| l.starts_with("reuse grace:") && l.contains("already used")), "{trail:?}");
    b.refused(b.refresh(&rt3).await, "rotation", "revoked").await;
}

#[tokio::test]
async fn a_retry_after_the_grace_revokes_the_family() {
    let b = Broker::open().await;
    let (rt1, lost) = rotate_and_lose_the_response(&b).await;
    b.clock.advance(31);
    let called = b.refresh(&rt1).await;
    let request_id = called.request_id.clone();
    b.refused(called, "rotation", "refresh token was already used").await;
    let trail = trail_of(&b, &request_id).await;
    assert!(
        trail.contains(&"reuse grace: skip: token rotated 31 s ago, beyond the 30 s reuse grace".into()),
        "{trail:?}"
    );
    b.refused(b.refresh(&lost).await, "rotation", "revoked").await;
}

#[tokio::test]
async fn without_the_grace_a_retry_revokes_the_family() {
    let b = Broker::configured(|cfg| cfg.issuer.refresh_reuse_grace_seconds = 0).await;
    let (rt1, lost) = rotate_and_lose_the_response(&b).await;
    let called = b.refresh(&rt1).await;
    let request_id = called.request_id.clone();
    b.refused(called, "rotation", "refresh token was already used").await;
    let trail = trail_of(&b, &request_id).await;
    assert!(trail.contains(&"reuse grace: skip: the reuse grace is off".into()), "{trail:?}");
    b.refused(b.refresh(&lost).await, "rotation", "revoked").await;
}

/// With the grace off, the store's compare-and-swap alone decides: one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_have_one_winner() {
    let b = Arc::new(Broker::configured(|cfg| cfg.issuer.refresh_reuse_grace_seconds = 0).await);
    let token = Arc::new(rt(&b.sign_in("alice").await));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (b, token) = (b.clone(), token.clone());
        set.spawn(async move { b.refresh(&token).await.result });
    }
    let mut winners = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(_) => winners += 1,
            // Losing the compare-and-swap is a reuse: refused, never a storage error.
            Err(e) => assert_eq!((reason(&e), failed_check(&e).as_str()), (Reason::InvalidGrant, "rotation")),
        }
    }
    assert_eq!(winners, 1, "exactly one concurrent refresh rotates the token");
}

/// Simultaneous retries within the grace: one gets new tokens; the others are replays, which
/// revoke the family, the winner's new tokens included.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_within_the_grace_have_one_winner() {
    let b = Arc::new(Broker::open().await);
    let (rt1, _lost) = rotate_and_lose_the_response(&b).await;
    let rt1 = Arc::new(rt1);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (b, rt1) = (b.clone(), rt1.clone());
        set.spawn(async move { b.refresh(&rt1).await.result });
    }
    let mut winners = Vec::new();
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(set) => winners.push(rt(&set)),
            Err(e) => assert_eq!(reason(&e), Reason::InvalidGrant, "{e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one retry wins");
    b.refused(b.refresh(&winners[0]).await, "rotation", "revoked").await;
}

#[tokio::test]
async fn refresh_tokens_expire_with_their_family() {
    let b = Broker::open().await;
    let rt1 = rt(&b.sign_in("alice").await);
    // Day 29: still good (the web client's refresh tokens live 30 days).
    b.clock.advance(29 * DAY);
    let rt2 = rt(&b.refresh(&rt1).await.ok());
    // Day 31: rotation did not extend the family's lifetime.
    b.clock.advance(2 * DAY);
    b.refused(b.refresh(&rt2).await, "rotation", "refresh token expired").await;
    assert!(!b.active(&rt2).await);
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client() {
    let b = Broker::open().await;
    let token = rt(&b.sign_in("alice").await);
    let other = creds(PARTNER_ONLY, Some(PARTNER_ONLY_SECRET));
    b.refused(b.refresh_as(&other, &token).await, "refresh token", "issued to another client").await;
    b.refused(b.refresh_as(&creds(WEB, None), &token).await, "client", "secret is required").await;
    b.refused(b.refresh("not-a-refresh-token").await, "refresh token", "not recognized").await;
    b.refused(b.refresh("").await, "request", "refresh_token is missing").await;
    // None of that hurt the token.
    b.refresh(&token).await.ok();
}

#[tokio::test]
async fn revocation_ends_the_session_and_only_the_owners_counts() {
    let b = Broker::open().await;
    let set = b.sign_in("alice").await;
    let token = rt(&set);
    // Another client's revocation answers and revokes nothing (RFC 7009 §2.2).
    b.revoke(&creds(PARTNER_ONLY, Some(PARTNER_ONLY_SECRET)), &token).await.ok();
    b.refresh(&token).await.ok();
    b.refused(b.revoke(&creds(WEB, None), &token).await, "client", "secret is required").await;

    let set = b.sign_in("alice").await;
    let token = rt(&set);
    b.revoke(&web(), &token).await.ok();
    b.revoke(&web(), &token).await.ok();
    b.revoke(&web(), "never-issued").await.ok();
    b.refused(b.refresh(&token).await, "rotation", "revoked").await;
    b.refused(b.userinfo(&set.access_token).await, "revocation", "revoked").await;
    assert!(!b.active(&set.access_token).await);

    // Revoking an access token revokes its family.
    let set = b.sign_in("alice").await;
    b.revoke(&web(), &set.access_token).await.ok();
    b.refused(b.refresh(&rt(&set)).await, "rotation", "revoked").await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions() {
    let b = Broker::open().await;
    let set = b.sign_in("alice").await;
    b.engine.directory().set_enabled("alice", false).await.unwrap();
    b.refused(b.userinfo(&set.access_token).await, "revocation", "the token's session was revoked").await;
    assert!(!b.active(&set.access_token).await);
    b.refused(b.refresh(&rt(&set)).await, "user enabled", "disabled or deleted").await;
    // Enabled again, the old session stays ended; a new one works.
    b.engine.directory().set_enabled("alice", true).await.unwrap();
    b.refused(b.userinfo(&set.access_token).await, "revocation", "revoked").await;
    b.userinfo(&b.sign_in("alice").await.access_token).await.ok();
}

#[tokio::test]
async fn userinfo_and_introspection_take_only_this_systems_live_access_tokens() {
    let b = Broker::open().await;
    let set = b.sign_in("alice").await;
    let alice = b.engine.directory().find("alice").await.unwrap().id;
    let me = b.userinfo(&set.access_token).await.ok();
    assert_eq!(me["sub"], alice.as_str());
    assert_eq!(me["preferred_username"], "alice");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["cognito:groups"], serde_json::json!(["admins", "readers"]));

    b.refused(b.userinfo(&set.id_token).await, "token_use", "expected \"access\"").await;
    let up = b.upstream_token("alice@example.com");
    b.refused(b.userinfo(&up).await, "kid", "not in the current JWKS").await;
    b.refused(b.userinfo(&flip_signature_byte(&set.access_token)).await, "signature", "does not verify").await;

    let i = b.introspect(&set.access_token).await.ok();
    assert_eq!(i["active"], true);
    assert_eq!((i["token_type"].as_str(), i["username"].as_str()), (Some("access_token"), Some("alice")));
    assert_eq!(b.introspect(&set.id_token).await.ok()["token_type"], "id_token");
    assert_eq!(b.introspect(&rt(&set)).await.ok()["token_type"], "refresh_token");
    assert!(!b.active("garbage").await);
    assert!(!b.active(&up).await, "an upstream token is not one of ours");
    b.clock.advance(3600);
    b.refused(b.userinfo(&set.access_token).await, "expiry", "expired").await;
    assert!(!b.active(&set.access_token).await);
}
