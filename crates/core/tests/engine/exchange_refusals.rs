//! Every refusal of a token exchange, each by its failing check, on the refusal and on its audit
//! record: the upstream token (signature, key, algorithm, issuer, audience, lifetime, type,
//! condition, link, user, one-time use) and the request (provider, client, scope, audience).

use crate::support::*;
use aws_lc_rs::hmac;
use serde_json::json;
use tokenbridge_core::jose::b64url;
use tokenbridge_core::upstream::SubjectTokenType;

/// The upstream token refused at `check` (with `needle`), through the RFC 8693 door's request.
async fn refused_token(b: &Broker, token: &str, check: &str, needle: &str) -> Reason {
    let e = b.refused(b.exchange(b.exchange_request(token)).await, check, needle).await;
    assert!(!message(&e).contains(token), "the refusal echoes the token");
    reason(&e)
}

#[tokio::test]
async fn a_tampered_signature_or_a_key_the_provider_never_published_is_refused() {
    let b = Broker::open().await;
    let good = b.upstream_token("alice@example.com");
    let bad = flip_signature_byte(&good);
    assert_eq!(refused_token(&b, &bad, "signature", "signature does not verify").await, Reason::InvalidGrant);
    // The attacker's key under the provider's kid, and under a kid the provider never published.
    let claims = b.upstream.claims("alice@example.com", b.now());
    let forged = attacker("up-k1").sign_jwt(&claims, "JWT");
    refused_token(&b, &forged, "signature", "signature does not verify").await;
    let unknown = attacker("attacker-k1").sign_jwt(&claims, "JWT");
    refused_token(&b, &unknown, "key", "attacker-k1 is not in provider \"upstream\"'s static JWKS").await;
    // Only the signature was at fault: the untouched token is accepted.
    b.exchange(b.exchange_request(&good)).await.ok();
}

#[tokio::test]
async fn only_the_providers_algorithms_are_accepted() {
    let b = Broker::open().await;
    let claims = b.upstream.claims("alice@example.com", b.now());
    let payload = b64json(&claims);
    for alg in ["none", "None"] {
        let unsigned = format!("{}.{payload}.", b64json(&json!({ "alg": alg, "typ": "JWT" })));
        refused_token(&b, &unsigned, "algorithm", "alg \"none\"").await;
    }
    // Key confusion: an HMAC keyed with the provider's public key.
    let jwk = serde_json::to_vec(&b.upstream.key.public_jwk()).unwrap();
    let input = format!("{}.{payload}", b64json(&json!({ "alg": "HS256", "kid": "up-k1", "typ": "JWT" })));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &jwk), input.as_bytes());
    let forged = format!("{input}.{}", b64url(tag.as_ref()));
    refused_token(&b, &forged, "algorithm", "algorithm HS256 is not allowed for provider \"upstream\"").await;
    // A real ES256 signature, at a provider that takes RS256 only.
    let es = b.partner.sign(&claims);
    refused_token(&b, &es, "algorithm", "algorithm ES256 is not allowed").await;
}

#[tokio::test]
async fn issuer_and_audience_must_be_the_providers() {
    let b = Broker::open().await;
    let mut claims = b.upstream.claims("alice@example.com", b.now());
    claims["iss"] = json!("https://elsewhere.test");
    let token = b.upstream.sign(&claims);
    // Unnamed, no provider has that issuer; named, the provider refuses its issuer.
    refused_token(&b, &token, "provider", "no configured provider has issuer \"https://elsewhere.test\"").await;
    let mut req = b.exchange_request(&token);
    req.provider = Some(UPSTREAM.into());
    b.refused(b.exchange(req).await, "issuer", "is not provider \"upstream\"'s issuer").await;

    let mut claims = b.upstream.claims("alice@example.com", b.now());
    claims["aud"] = json!("some-other-client");
    let token = b.upstream.sign(&claims);
    refused_token(&b, &token, "audience", "audience \"some-other-client\" is not accepted").await;
    // Several audiences need an azp that is ours.
    claims["aud"] = json!([UPSTREAM_AUDIENCE, "some-other-client"]);
    claims["azp"] = json!("some-other-client");
    refused_token(&b, &b.upstream.sign(&claims), "authorized party", "issued to another client").await;
}

#[tokio::test]
async fn lifetime_is_judged_by_the_engines_clock_with_the_providers_leeway() {
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    // Upstream tokens live 600 s here; the provider allows 60 s of leeway.
    b.clock.advance(600 + 61);
    refused_token(&b, &up, "expiry", "expired").await;

    let mut claims = b.upstream.claims("alice@example.com", b.now());
    claims["nbf"] = json!(b.now() + 120);
    refused_token(&b, &b.upstream.sign(&claims), "not before", "not valid for another 120 s").await;
    let mut claims = b.upstream.claims("alice@example.com", b.now());
    claims["iat"] = json!(b.now() + 120);
    refused_token(&b, &b.upstream.sign(&claims), "issued at", "120 s in the future").await;
    let mut claims = b.upstream.claims("alice@example.com", b.now());
    claims.as_object_mut().unwrap().remove("exp");
    refused_token(&b, &b.upstream.sign(&claims), "expiry", "no exp").await;
}

#[tokio::test]
async fn the_token_must_be_what_it_is_presented_as_and_name_its_subject() {
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    let mut req = b.exchange_request(&up);
    req.subject_token_type = SubjectTokenType::AccessToken;
    b.refused(b.exchange(req).await, "token type", "an id token was presented as an access token").await;
    // Nothing was consumed by the refusal: with its true type it is accepted.
    b.exchange(b.exchange_request(&up)).await.ok();

    let mut claims = b.upstream.claims("alice@example.com", b.now());
    claims.as_object_mut().unwrap().remove("sub");
    refused_token(&b, &b.upstream.sign(&claims), "subject", "no sub").await;
}

#[tokio::test]
async fn the_claim_condition_the_link_and_the_local_user_decide() {
    let b = Broker::open().await;
    let mut claims = b.upstream.claims("alice@example.com", b.now());
    claims["email_verified"] = json!(false);
    refused_token(&b, &b.upstream.sign(&claims), "condition", "email_verified").await;

    refused_token(&b, &b.upstream_token(CAROL), "link", "no local user is linked to upstream email").await;

    b.engine.directory().set_enabled("alice", false).await.unwrap();
    let up = b.upstream_token("alice@example.com");
    refused_token(&b, &up, "user enabled", "is disabled").await;
    // Enabled again, the same token is accepted: the refusal did not consume it.
    b.engine.directory().set_enabled("alice", true).await.unwrap();
    b.exchange(b.exchange_request(&up)).await.ok();
}

#[tokio::test]
async fn an_upstream_token_is_exchanged_once() {
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    let exp = b.now() + 600;
    b.exchange(b.exchange_request(&up)).await.ok();
    refused_token(&b, &up, "one-time use", "already used").await;
    // At the other door too: one-time use is the engine's.
    let e = b.refused(b.exchange(b.bearer_exchange_request(&up)).await, "one-time use", "iss + jti").await;
    assert_eq!(reason(&e), Reason::InvalidGrant);
    // Past exp but inside the leeway the token is still valid, so its marker is still there.
    b.clock.set(exp + 30);
    refused_token(&b, &up, "one-time use", "already used").await;
}

#[tokio::test]
async fn this_systems_own_tokens_are_not_upstream_tokens() {
    let b = Broker::open().await;
    let ours = b.sign_in("alice").await;
    for t in [&ours.access_token, &ours.id_token] {
        refused_token(&b, t, "provider", "own token is not an upstream token").await;
    }
}

#[tokio::test]
async fn the_request_names_a_provider_that_exists() {
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    let mut req = b.exchange_request(&up);
    req.provider = Some("nope".into());
    let e = b.refused(b.exchange(req).await, "provider", "no provider named \"nope\"").await;
    assert_eq!(reason(&e), Reason::InvalidRequest);
    // An opaque token names no issuer, and two providers are configured.
    let mut req = b.exchange_request("an-opaque-token");
    req.subject_token_type = SubjectTokenType::AccessToken;
    b.refused(b.exchange(req).await, "provider", "several providers are configured").await;
    let mut req = b.exchange_request("");
    req.subject_token_type = SubjectTokenType::AccessToken;
    b.refused(b.exchange(req).await, "request", "subject_token is missing").await;
}

#[tokio::test]
async fn the_client_authenticates_and_accepts_the_provider() {
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    let cases = [
        (creds(WEB, Some("not-the-secret")), "does not match"),
        (creds(WEB, None), "secret is required"),
        (creds("nobody", Some("x")), "unknown client \"nobody\""),
        (Default::default(), "no client_id given"),
    ];
    for (client, needle) in cases {
        let mut req = b.exchange_request(&up);
        req.client = client;
        let e = b.refused(b.exchange(req).await, "client", needle).await;
        assert_eq!(reason(&e), Reason::InvalidClient);
        assert!(!message(&e).contains("not-the-secret"), "the refusal echoes the secret");
    }
    // A client that does not accept the token's provider.
    let mut req = b.exchange_request(&up);
    req.client = creds(PARTNER_ONLY, Some(PARTNER_ONLY_SECRET));
    let e = b.refused(b.exchange(req).await, "provider", "does not accept provider \"upstream\"").await;
    assert_eq!(reason(&e), Reason::UnauthorizedClient);
    // None of the refusals consumed the upstream token.
    b.exchange(b.exchange_request(&up)).await.ok();
}

#[tokio::test]
async fn scope_audience_and_token_type_asked_for_must_be_served() {
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    let mut req = b.exchange_request(&up);
    req.scope = Some("admin openid".into());
    let e = b.refused(b.exchange(req).await, "scope", "scope \"admin\" is not allowed").await;
    assert_eq!(reason(&e), Reason::InvalidScope);
    let mut req = b.exchange_request(&up);
    req.audience = Some("https://api.elsewhere.example".into());
    let e = b.refused(b.exchange(req).await, "audience", "is not served here").await;
    assert_eq!(reason(&e), Reason::InvalidTarget);
    let mut req = b.exchange_request(&up);
    req.requested_token_type = Some("urn:ietf:params:oauth:token-type:saml2".into());
    b.refused(b.exchange(req).await, "request", "requested_token_type").await;
    b.exchange(b.exchange_request(&up)).await.ok();
}
