//! The authorizer's token cache: hits in metrics and trail, trusted no longer than the token's
//! exp, and revocation, disabled users and liveness honoured within `cache_seconds`.

use super::*;

#[tokio::test]
async fn cache_hits_show_in_metrics_and_trail() {
    let s = Server::demo().await;
    let at = access_token(&s.sign_in("alice").await);
    let (hits, misses) = (decisions(&s, "allow", "hit").await, decisions(&s, "allow", "miss").await);
    for _ in 0..3 {
        assert_alice(&s, &forward(&s, Some(&at), "GET", HELLO).await).await;
    }
    assert!(decisions(&s, "allow", "hit").await >= hits + 2.0, "the second and third decisions are cache hits");
    assert!(decisions(&s, "allow", "miss").await >= misses + 1.0, "the first is a miss");
    let denied = decisions(&s, "deny", "miss").await;
    forward(&s, None, "GET", HELLO).await;
    assert!(decisions(&s, "deny", "miss").await > denied);

    // The trail says so too, where allowed decisions are audited.
    let s = audited_server(|_| {}).await;
    let at = access_token(&s.sign_in("alice").await);
    let exp = decode(&at).claims["exp"].as_i64().unwrap();
    assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;
    s.clock.advance(7);
    let e = assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, true).await;
    // Trusted until the cache bound (30 s by default), well before exp.
    let until = rfc3339(s.now() - 7 + 30);
    assert!(until < rfc3339(exp));
    assert_eq!(detail(&e, "token"), format!("access token verified 7 s ago (cached until {until})"));
    // The cached identity still meets each route's own demands.
    let narrow = access_token(&exchange_with_scope(&s, "alice", "openid").await);
    forward(&s, Some(&narrow), "GET", HELLO).await.assert_ok();
    let r = forward(&s, Some(&narrow), "POST", ORDERS).await;
    let e = assert_denied(&s, &r, 403, "scope", "needs scope orders:write; token has openid", &[&narrow]).await;
    assert!(detail(&e, "token").contains("cached until"), "{:?}", e.steps);
    // A cached access token is still not an upstream token.
    let r = forward(&s, Some(&at), "POST", "/auth/exchange").await;
    assert_denied(&s, &r, 401, "token kind", "this issuer's own token", &[&at]).await;
}

#[tokio::test]
async fn cached_token_is_trusted_no_longer_than_its_exp() {
    // A cache bound far beyond the token's life: exp alone must end the entry.
    let s = audited_server(|cfg| cfg.authorizer.cache_seconds = 100_000).await;
    let at = access_token(&s.sign_in("alice").await);
    let exp = decode(&at).claims["exp"].as_i64().unwrap();
    assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;
    s.clock.set(exp - 1);
    let e = assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, true).await;
    assert_eq!(detail(&e, "token"), format!("access token verified 3599 s ago (cached until {})", rfc3339(exp)));
    s.clock.set(exp + 3);
    let r = forward(&s, Some(&at), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "expiry", "token expired 3 s ago", &[&at]).await;
}

#[tokio::test]
async fn revocation_elsewhere_is_honoured_within_cache_seconds() {
    let s = audited_server(|cfg| cfg.authorizer.cache_seconds = 60).await;
    let at = access_token(&s.sign_in("alice").await);
    assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;

    // Another instance revokes the session: straight in the shared store, not through this engine.
    let revoked = s.store.revoke_refresh_family(&family_of(&at)).await.expect("revoke");
    assert_eq!(revoked, 1);
    let e = assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, true).await;
    assert!(detail(&e, "token").starts_with("access token verified 0 s ago"));
    s.clock.advance(59);
    let e = assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, true).await;
    assert!(detail(&e, "token").starts_with("access token verified 59 s ago"));
    s.clock.advance(1);
    let r = forward(&s, Some(&at), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "revocation", "the token's sign-in session was revoked", &[&at]).await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_within_cache_seconds() {
    let s = audited_server(|cfg| cfg.authorizer.cache_seconds = 30).await;
    let at = access_token(&s.sign_in("alice").await);
    assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;
    // As `tokenbridge users disable` does it from another process: straight through the directory.
    s.engine.directory().set_enabled("alice", false).await.expect("disable");
    assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, true).await;
    s.clock.advance(30);
    let r = forward(&s, Some(&at), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "revocation", "the token's sign-in session was revoked", &[&at]).await;
}

#[tokio::test]
async fn without_the_caches_every_decision_verifies_and_reads_the_store() {
    let s = audited_server(|cfg| {
        cfg.authorizer.cache_capacity = 0;
        cfg.authorizer.session_cache_capacity = 0;
    })
    .await;
    let at = access_token(&s.sign_in("alice").await);
    for _ in 0..2 {
        let e = assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;
        assert_eq!(detail(&e, "revocation"), "sign-in session still active");
    }
    s.store.revoke_refresh_family(&family_of(&at)).await.expect("revoke");
    let r = forward(&s, Some(&at), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "revocation", "the token's sign-in session was revoked", &[&at]).await;
}

#[tokio::test]
async fn with_the_token_cache_off_session_liveness_is_still_bounded_by_cache_seconds() {
    let s = audited_server(|cfg| {
        cfg.authorizer.cache_capacity = 0;
        cfg.authorizer.cache_seconds = 20;
    })
    .await;
    let at = access_token(&s.sign_in("alice").await);
    let e = assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;
    assert_eq!(detail(&e, "revocation"), "sign-in session still active");
    s.store.revoke_refresh_family(&family_of(&at)).await.expect("revoke");
    s.clock.advance(19);
    let e = assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;
    assert_eq!(detail(&e, "revocation"), "sign-in session active (checked 19 s ago)");
    s.clock.advance(1);
    let r = forward(&s, Some(&at), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "revocation", "the token's sign-in session was revoked", &[&at]).await;
}

#[tokio::test]
async fn revocation_check_can_be_turned_off() {
    let s = audited_server(|cfg| cfg.authorizer.check_revocation = false).await;
    let at = access_token(&s.sign_in("alice").await);
    s.store.revoke_refresh_family(&family_of(&at)).await.expect("revoke");
    let e = assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;
    let step = e.steps.iter().find(|st| st.check == "revocation").expect("revocation step");
    assert_eq!(step.outcome, Outcome::Skip);
    assert_eq!(step.detail, "not checked (authorizer.check_revocation = false)");
}
