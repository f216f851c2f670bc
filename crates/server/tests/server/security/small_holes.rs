//! 11. Smaller holes.
//!
//! 11b–d (the block below): the OAuth endpoints took form bodies labelled `application/json` or
//! not labelled at all; `/metrics` answered everyone; the demo provider sent codes to any
//! loopback redirect URI. Also proven elsewhere: the demo provider's own unit tests
//! (crates/demo/src/idp/tests.rs) and `server.metrics_listen` in the binary
//! (crates/cli/tests/cli/config.rs, `metrics_on_their_own_address`).
//!
//! 11a (module `non_jwt_bearers` at the end): see its header.

use crate::common::*;

// 11b-d: content types, metrics, demo redirect URIs

const FORM: &str = "application/x-www-form-urlencoded";

/// A form body sent with the given `Content-Type` (none when `None`), HTTP Basic as the client.
async fn post_labelled(s: &Server, path: &str, content_type: Option<&str>, params: &[(&str, &str)]) -> Resp {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let mut req = s.http.post(s.url(path)).basic_auth(&s.client_id, Some(&s.client_secret)).body(body);
    if let Some(t) = content_type {
        req = req.header("content-type", t);
    }
    s.send(req).await
}

#[tokio::test]
async fn oauth_endpoints_take_only_form_bodies_labelled_as_such() {
    let s = Server::custom(Opts::default()).await;
    // A token exchange that succeeds when labelled as RFC 6749 requires...
    let exchange = |token: &str| {
        vec![
            ("grant_type", GRANT_TOKEN_EXCHANGE.to_string()),
            ("subject_token", token.to_string()),
            ("subject_token_type", TT_ID_TOKEN.to_string()),
        ]
    };
    let params = exchange(&s.fresh_id_token("alice"));
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for label in [Some("application/json"), None, Some("text/plain"), Some("application/x-www-form-urlencodedx")] {
        let r = post_labelled(&s, "/oauth2/token", label, &pairs).await;
        assert_oauth_error(&r, 400, "invalid_request", FORM, &[&params[1].1]);
        let shown = label.unwrap_or("no Content-Type");
        assert!(r.json["error_description"].as_str().unwrap().contains(shown), "{label:?}: {}", r.text);
        let records = s.audit_of(r.request_id()).await;
        assert_eq!(records.len(), 1, "the refusal is audited");
        assert_eq!(records[0].error_code.as_deref(), Some("invalid_request"));
    }
    // A charset other than UTF-8 would be read wrongly: refused, naming it.
    let r =
        post_labelled(&s, "/oauth2/token", Some("application/x-www-form-urlencoded; charset=ISO-8859-1"), &pairs).await;
    assert_oauth_error(&r, 400, "invalid_request", "charset", &[&params[1].1]);
    // ...and it still does (the refusals above did not use the token up).
    let r = post_labelled(&s, "/oauth2/token", Some("Application/X-WWW-Form-URLEncoded ; charset=UTF-8"), &pairs).await;
    r.assert_ok();

    // Revocation and introspection (RFC 7009, RFC 7662) alike.
    for path in ["/oauth2/revoke", "/oauth2/introspect"] {
        let r = post_labelled(&s, path, Some("application/json"), &[("token", "whatever")]).await;
        assert_oauth_error(&r, 400, "invalid_request", FORM, &[]);
        post_labelled(&s, path, Some(FORM), &[("token", "whatever")]).await.assert_ok();
    }

    // /auth/exchange: a body must be a labelled form; no body at all (the seed's call) is fine.
    let token = s.fresh_id_token("bob");
    let req = s.http.post(s.url("/auth/exchange")).bearer_auth(&token).header("content-type", "application/json");
    let r = s.send(req.body("scope=openid")).await;
    assert_oauth_error(&r, 400, "invalid_request", FORM, &[&token]);
    let req = s.http.post(s.url("/auth/exchange")).bearer_auth(&token);
    let r = s.send(req.body("scope=openid")).await;
    assert_oauth_error(&r, 400, "invalid_request", "no Content-Type", &[&token]);
    let r = s.send(s.http.post(s.url("/auth/exchange")).bearer_auth(s.fresh_id_token("bob"))).await;
    r.assert_ok();
    let r = s.exchange_bearer(&s.fresh_id_token("bob"), &[("scope", "openid")]).await;
    r.assert_ok();
}

#[tokio::test]
async fn metrics_need_their_token() {
    let s = Server::custom(Opts::default()).await;
    let token = s.engine.config().metrics.token.clone().expect("the test servers set a metrics token");
    for (auth, status) in [(None, 401), (Some("wrong-token".to_string()), 401), (Some(s.admin_token.clone()), 401)] {
        let mut req = s.http.get(s.url("/metrics"));
        if let Some(a) = &auth {
            req = req.bearer_auth(a);
        }
        let r = s.send(req).await;
        assert_eq!(r.status, status, "{auth:?}: {}", r.text);
        assert!(!r.text.contains("tokenbridge_http_requests_total"), "metrics leaked to {auth:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"tokenbridge-metrics\""));
    }
    let r = s.send(s.http.get(s.url("/metrics")).bearer_auth(&token)).await;
    r.assert_ok();
    assert!(r.text.contains("tokenbridge_http_requests_total"), "{}", r.text);

    // Without a token configured, the main listener does not serve metrics at all.
    let s =
        Server::custom(Opts { configure: Some(Box::new(|cfg| cfg.metrics.token = None)), ..Default::default() }).await;
    let r = s.get("/metrics").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.text.contains("metrics.token") && r.text.contains("metrics.listen"), "{}", r.text);
}

#[tokio::test]
async fn the_demo_serves_metrics_with_the_token_it_writes_to_demo_json() {
    let s = Server::demo().await;
    let token = s.demo_json()["metrics_token"].as_str().expect("demo.json metrics_token").to_string();
    assert_eq!(s.get("/metrics").await.status, 401);
    s.send(s.http.get(s.url("/metrics")).bearer_auth(&token)).await.assert_ok();
}

#[tokio::test]
async fn the_demo_provider_redirects_only_to_registered_uris_spelled_exactly() {
    let s = Server::demo().await;
    let port = s.base.rsplit(':').next().unwrap();
    let authorize = |redirect_uri: &str| {
        let q = [
            ("response_type", "code"),
            ("client_id", UPSTREAM_CLIENT),
            ("redirect_uri", redirect_uri),
            ("scope", "openid email"),
            ("state", "s1"),
        ];
        s.http.get(s.url("/demo-idp/authorize")).query(&q)
    };
    // The console's callback, as registered, gets the login page.
    let registered = format!("{}/console/callback", s.base);
    s.send(authorize(&registered)).await.assert_ok();
    // Every other spelling of a loopback address, port, path or case is refused, with no redirect.
    for uri in [
        "http://127.0.0.1:9/cb".to_string(),
        format!("http://localhost:{port}/console/callback"),
        format!("http://[::1]:{port}/console/callback"),
        format!("http://127.1:{port}/console/callback"),
        format!("http://127.0.0.2:{port}/console/callback"),
        format!("http://0x7f.0.0.1:{port}/console/callback"),
        format!("{registered}/"),
        format!("{registered}?next=/x"),
        format!("{}/console/Callback", s.base),
        format!("{}/console/x/../callback", s.base),
        format!("{}:443/console/callback", s.base.trim_end_matches(&format!(":{port}"))),
    ] {
        let r = s.send(authorize(&uri)).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.text);
        assert!(r.header("location").is_none(), "{uri}: redirected");
        assert!(r.text.contains("is not allowed for this client"), "{uri}: {}", r.text);
    }
}

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

    #[tokio::test]
    async fn a_refused_opaque_token_is_asked_about_once() {
        let (idp, s) = server_with_test_idp().await;
        let junk = "junk-opaque-token-1";
        let r = s.exchange_at_test_provider(junk).await;
        assert_oauth_error(&r, 400, "invalid_grant", "UserInfo rejected the token", &[junk]);
        assert_eq!(idp.userinfo_hits(), 1);
        for spelling in [junk, "junk-opaque-token-1=", junk, junk] {
            let r = s.exchange_at_test_provider(spelling).await;
            assert_oauth_error(&r, 400, "invalid_grant", "refused this token", &[junk]);
            assert!(r.str("error_description").contains("not asked again"), "{}", r.text);
        }
        assert_eq!(idp.userinfo_hits(), 1, "the provider's answer is remembered");
        // The memory is short: after it, the provider is asked again.
        s.clock.advance(61);
        let r = s.exchange_at_test_provider(junk).await;
        assert_oauth_error(&r, 400, "invalid_grant", "UserInfo rejected the token", &[junk]);
        assert_eq!(idp.userinfo_hits(), 2);
        // A token the provider vouches for is never cached as refused.
        idp.register_opaque(
            "good-opaque-1",
            json!({ "sub": "test|alice", "email": "alice@example.com", "email_verified": true }),
        );
        s.exchange_at_test_provider("good-opaque-1").await.assert_ok();
    }

    #[tokio::test]
    async fn outbound_calls_per_provider_are_bounded() {
        let (idp, s) = server_with_test_idp().await;
        // The default budget: a burst of 40, then 20 a second. The clock stands still here.
        let mut unavailable = 0;
        for i in 0..50 {
            let junk = format!("distinct-junk-{i}");
            let r = s.exchange_at_test_provider(&junk).await;
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
        let r = s.exchange_at_test_provider("good-opaque-2").await;
        assert_oauth_error(&r, 503, "temporarily_unavailable", "outbound budget", &["good-opaque-2"]);
        s.clock.advance(1);
        s.exchange_at_test_provider("good-opaque-2").await.assert_ok();
        // JWTs never cost a UserInfo call, so they are not bounded by it.
        s.exchange_bearer(&idp.token(&idp.claims("bob@example.com", s.now())), &[]).await.assert_ok();
    }
}
