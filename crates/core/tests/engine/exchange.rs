//! Token exchange (RFC 8693 and `/auth/exchange`) answered: the tokens' shape, the client a
//! bearer exchange belongs to, the scope and audience asked for, and its audit record.

use crate::support::*;
use serde_json::json;
use tokenbridge_core::issuer::verify_own;

#[tokio::test]
async fn exchange_issues_tokens_of_the_local_user_signed_by_the_active_key() {
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    let called = b.exchange(b.exchange_request(&up)).await;
    let request_id = called.request_id.clone();
    let set = called.ok();
    assert_eq!(set.token_type, "Bearer");
    assert_eq!(set.expires_in, 3600);
    assert_eq!(set.scope, WEB_SCOPES);
    assert_eq!(set.issued_token_type, Some("urn:ietf:params:oauth:token-type:access_token"));
    assert!(set.refresh_token.as_deref().is_some_and(|t| !t.is_empty()));

    let now = b.now();
    let keys = b.engine.keys();
    let access = verify_own(keys, ISSUER, &set.access_token, Some("access"), now).await.expect("access token");
    let id = verify_own(keys, ISSUER, &set.id_token, Some("id"), now).await.expect("id token");
    let alice = b.engine.directory().find("alice").await.unwrap().id;
    assert_eq!(access.kid, "broker-k1");
    assert_eq!(access.str("sub"), Some(alice.as_str()));
    assert_eq!(access.str("client_id"), Some(WEB));
    assert_eq!(access.str("username"), Some("alice"));
    assert_eq!(access.str("scope"), Some(WEB_SCOPES));
    assert_eq!(access.int("iat"), Some(now));
    assert_eq!(access.int("exp"), Some(now + 3600));
    assert_eq!(id.str("aud"), Some(WEB));
    assert_eq!(id.str("email"), Some("alice@example.com"));
    assert_eq!(id.str("cognito:username"), Some("alice"));
    assert_eq!(id.claims["cognito:groups"], json!(["admins", "readers"]));
    assert_eq!(id.claims["identities"][0]["providerName"], UPSTREAM);
    assert_eq!(id.claims["identities"][0]["issuer"], UPSTREAM_ISSUER);
    assert_eq!(id.str("origin_jti"), access.str("origin_jti"), "one session");
    assert_ne!(id.str("jti"), access.str("jti"));

    // The access token is this system's: UserInfo takes it.
    let me = b.userinfo(&set.access_token).await.ok();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com");

    // One record, naming the user and the checks passed, holding no token.
    let records = b.records(&request_id).await;
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(rec.event_name, "TokenExchange");
    assert!(rec.error_code.is_none());
    assert_eq!(rec.username.as_deref(), Some("alice"));
    let trail = trail_lines(rec).join("\n");
    for check in
        ["provider: pass", "client: pass", "signature: pass", "link: pass", "one-time use: pass", "issue: pass"]
    {
        assert!(trail.contains(check), "{check} not in\n{trail}");
    }
    let text = rec.record.to_string();
    for t in [&up, &set.access_token, &set.id_token, set.refresh_token.as_ref().unwrap()] {
        assert!(!text.contains(t.as_str()), "the record holds a token");
    }
}

#[tokio::test]
async fn a_bearer_exchange_belongs_to_the_providers_default_client() {
    let b = Broker::open().await;
    let up = b.upstream_token("bob@example.com");
    let set = b.exchange(b.bearer_exchange_request(&up)).await.ok();
    let access = verify_own(b.engine.keys(), ISSUER, &set.access_token, Some("access"), b.now()).await.unwrap();
    assert_eq!(access.str("client_id"), Some(WEB));
    assert_eq!(access.str("username"), Some("bob"));

    // Naming a confidential client other than the default one needs its secret there too.
    let up = b.upstream_token("bob@example.com");
    let mut req = b.bearer_exchange_request(&up);
    req.client = creds(PARTNER_ONLY, None);
    b.refused(b.exchange(req).await, "client", "secret is required").await;
}

#[tokio::test]
async fn each_provider_is_validated_with_its_own_keys_and_algorithms() {
    let b = Broker::open().await;
    // The partner signs ES256; the exchange finds the provider by the token's issuer.
    let up = b.partner.token("erin@example.com", b.now());
    let set = b.exchange(b.exchange_request(&up)).await.ok();
    let id = verify_own(b.engine.keys(), ISSUER, &set.id_token, Some("id"), b.now()).await.unwrap();
    assert_eq!(id.claims["identities"][0]["providerName"], PARTNER);
    assert_eq!(id.str("cognito:username"), Some("erin"));
    // The client that accepts only the partner takes it too.
    let up = b.partner.token("erin@example.com", b.now());
    let mut req = b.exchange_request(&up);
    req.client = creds(PARTNER_ONLY, Some(PARTNER_ONLY_SECRET));
    b.exchange(req).await.ok();
}

#[tokio::test]
async fn scope_is_narrowed_as_asked_and_the_audience_is_this_client_or_issuer() {
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    let mut req = b.exchange_request(&up);
    req.scope = Some("openid email".into());
    req.audience = Some(WEB.into());
    let set = b.exchange(req).await.ok();
    assert_eq!(set.scope, "openid email");
    let access = verify_own(b.engine.keys(), ISSUER, &set.access_token, Some("access"), b.now()).await.unwrap();
    assert_eq!(access.str("scope"), Some("openid email"));

    let up = b.upstream_token("alice@example.com");
    let mut req = b.exchange_request(&up);
    req.audience = Some(ISSUER.into());
    b.exchange(req).await.ok();
}

#[tokio::test]
async fn sign_ins_of_the_same_second_are_distinct_tokens() {
    let b = Broker::open().await;
    let now = b.now();
    let first = b.upstream.token("alice@example.com", now);
    let second = b.upstream.token("alice@example.com", now);
    assert_ne!(first, second, "each carries its own jti");
    b.exchange(b.exchange_request(&first)).await.ok();
    b.exchange(b.exchange_request(&second)).await.ok();
}
