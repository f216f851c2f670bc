//! 11. Smaller holes.

// 11a: outbound calls for non-JWT bearers
//
// Any bearer that is not a JWT used to cost one call to the provider's UserInfo endpoint: the
// same junk token a thousand times was a thousand outbound calls. A provider's refusal is now
// remembered (keyed on the token's replay key, so its spellings share the entry) and the calls
// a provider gets are bounded by a per-provider budget, refused as `temporarily_unavailable`.
// The bucket's arithmetic and the settings' defaults and bounds have unit tests in
// `crates/core/src/upstream.rs` and `crates/core/src/config.rs`.
mod non_jwt_bearers {
    use crate::common::*;
    use serde_json::json;

    async fn setup() -> (TestIdp, Server) {
        let idp = TestIdp::start().await;
        let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await;
        (idp, s)
    }

    async fn exchange(s: &Server, token: &str) -> Resp {
        s.exchange_bearer(token, &[("provider", TEST_PROVIDER)]).await
    }

    #[tokio::test]
    async fn a_refused_opaque_token_is_asked_about_once() {
        let (idp, s) = setup().await;
        let junk = "junk-opaque-token-1";
        let r = exchange(&s, junk).await;
        assert_oauth_error(&r, 400, "invalid_grant", "UserInfo rejected the token", &[junk]);
        assert_eq!(idp.userinfo_hits(), 1);
        for spelling in [junk, "junk-opaque-token-1=", junk, junk] {
            let r = exchange(&s, spelling).await;
            assert_oauth_error(&r, 400, "invalid_grant", "refused this token", &[junk]);
            assert!(r.str("error_description").contains("not asked again"), "{}", r.text);
        }
        assert_eq!(idp.userinfo_hits(), 1, "the provider's answer is remembered");
        // The memory is short: after it, the provider is asked again.
        s.clock.advance(61);
        let r = exchange(&s, junk).await;
        assert_oauth_error(&r, 400, "invalid_grant", "UserInfo rejected the token", &[junk]);
        assert_eq!(idp.userinfo_hits(), 2);
        // A token the provider vouches for is never cached as refused.
        idp.register_opaque(
            "good-opaque-1",
            json!({ "sub": "test|alice", "email": "alice@example.com", "email_verified": true }),
        );
        exchange(&s, "good-opaque-1").await.assert_ok();
    }

    #[tokio::test]
    async fn outbound_calls_per_provider_are_bounded() {
        let (idp, s) = setup().await;
        // The default budget: a burst of 40, then 20 a second. The clock stands still here.
        let mut unavailable = 0;
        for i in 0..50 {
            let junk = format!("distinct-junk-{i}");
            let r = exchange(&s, &junk).await;
            if r.status == 503 {
                assert_oauth_error(&r, 503, "temporarily_unavailable", "outbound budget", &[&junk]);
                assert!(r.str("error_description").contains("\"test\""), "{}", r.text);
                unavailable += 1;
            } else {
                assert_oauth_error(&r, 400, "invalid_grant", "UserInfo rejected the token", &[&junk]);
            }
        }
        assert_eq!(idp.userinfo_hits(), 40, "the burst, and no more");
        assert_eq!(unavailable, 10);
        // Spent for every token of that provider, good ones too, until the budget refills.
        idp.register_opaque(
            "good-opaque-2",
            json!({ "sub": "test|alice", "email": "alice@example.com", "email_verified": true }),
        );
        let r = exchange(&s, "good-opaque-2").await;
        assert_oauth_error(&r, 503, "temporarily_unavailable", "outbound budget", &["good-opaque-2"]);
        s.clock.advance(1);
        exchange(&s, "good-opaque-2").await.assert_ok();
        // JWTs never cost a UserInfo call, so they are not bounded by it.
        s.exchange_bearer(&idp.token(&idp.claims("bob@example.com", s.now())), &[]).await.assert_ok();
    }
}
