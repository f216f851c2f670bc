//! Item 13, the JOSE attack catalogue: crafted upstream tokens against a provider whose keys
//! the test controls (a third-party issuer, `TestIdp`, publishing its JWKS over real HTTP,
//! configured as provider `test`), and crafted bearer tokens at this system's own token paths.
//! Each forged token must be refused with the check that caught it named, and the one
//! legitimately signed token must pass whatever its header claims about key sources. The JOSE
//! framing's own unit tests are in `crates/jose/src/lib.rs`.

use crate::common::*;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::{hmac, rsa};
use base64::Engine as _;
use serde_json::{json, Value};
use tokenbridge_core::jose::{b64url, b64url_decode};
use tokenbridge_core::model::AuditQuery;
use tokenbridge_core::upstream::REFETCH_INTERVAL;

fn alice(idp: &TestIdp, s: &Server) -> Value {
    idp.claims("alice@example.com", s.now())
}

/// The decision trail of the audit record a response's request id finds.
async fn trail_of(s: &Server, r: &Resp) -> Vec<Value> {
    let records = s.audit_of(r.request_id()).await;
    assert_eq!(records.len(), 1, "one audit record per request");
    records[0].record["additionalEventData"]["decisionTrail"].as_array().expect("trail").clone()
}

#[tokio::test]
async fn accepts_a_well_formed_third_party_token() {
    let (idp, s) = server_with_test_idp().await;
    let t = idp.token(&alice(&idp, &s));
    // Found by its issuer, no provider parameter needed.
    let r = s.exchange_bearer(&t, &[]).await;
    r.assert_ok();
    let id = decode(r.str("id_token"));
    assert_eq!(id.claims["identities"][0]["providerName"], TEST_PROVIDER);
    assert_eq!(id.claims["cognito:username"], "alice");
    assert!(idp.jwks_hits() >= 1, "the JWKS came from the provider over HTTP");
}

#[tokio::test]
async fn rejects_unknown_kid() {
    let (idp, s) = server_with_test_idp().await;
    let header = json!({ "alg": "RS256", "kid": "no-such-kid", "typ": "JWT" });
    let t = sign_with_header(&idp.key, &header, &alice(&idp, &s));
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "kid no-such-kid is not in provider \"test\"'s JWKS", &[&t]);
}

#[tokio::test]
async fn rejects_key_mismatch_second_key_claiming_first_kid() {
    let (idp, s) = server_with_test_idp().await;
    // Signed by the attacker's key but naming the provider's kid.
    let header = json!({ "alg": "RS256", "kid": TEST_KID, "typ": "JWT" });
    let t = sign_with_header(&idp.attacker, &header, &alice(&idp, &s));
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "signature does not verify", &[&t]);
    assert!(r.str("error_description").contains(TEST_KID));
}

#[tokio::test]
async fn rejects_bad_signature_on_third_party_token() {
    let (idp, s) = server_with_test_idp().await;
    let t = flip_signature_byte(&idp.token(&alice(&idp, &s)));
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "signature does not verify", &[&t]);
}

#[tokio::test]
async fn rejects_hs256_keyed_with_rsa_public_key_bytes() {
    let (idp, s) = server_with_test_idp().await;
    let claims = alice(&idp, &s);
    let jwk = idp.key.public_jwk();
    let kp = rsa::KeyPair::from_pkcs8(provider_key_pkcs8()).expect("key");
    let pkcs1_der = kp.public_key().as_ref().to_vec();
    let spki_der = kp.public_key().as_der().expect("SPKI").as_ref().to_vec();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&spki_der)
    );
    let candidates: Vec<(&str, Vec<u8>)> = vec![
        ("JWK n", b64url_decode(jwk.n.as_deref().unwrap()).unwrap()),
        ("PKCS#1 DER", pkcs1_der),
        ("SPKI DER", spki_der),
        ("PEM", pem.into_bytes()),
    ];
    for (what, key) in candidates {
        for kid in [Some(TEST_KID), None] {
            let mut header = json!({ "alg": "HS256", "typ": "JWT" });
            if let Some(k) = kid {
                header["kid"] = json!(k);
            }
            let input = format!("{}.{}", b64json(&header), b64json(&claims));
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), input.as_bytes());
            let t = format!("{input}.{}", b64url(tag.as_ref()));
            let r = s.exchange_at_test_provider(&t).await;
            assert_eq!(r.status, 400, "{what}: {}", r.text);
            assert_oauth_error(&r, 400, "invalid_grant", "algorithm HS256 is not allowed", &[&t]);
        }
    }
}

#[tokio::test]
async fn rejects_header_key_sources_pointing_to_attacker_key() {
    let (idp, s) = server_with_test_idp().await;
    let claims = alice(&idp, &s);
    let attacker_jwks_url = format!("{}/attacker-jwks", idp.base);
    let attacker_jwk = serde_json::to_value(idp.attacker.public_jwk()).unwrap();
    let sources = [
        ("jku", json!(attacker_jwks_url)),
        ("x5u", json!(format!("{}/attacker-cert.pem", idp.base))),
        ("jwk", attacker_jwk),
    ];
    for (member, value) in &sources {
        // Signed by the attacker, naming the attacker's kid: the provider does not know it.
        let mut header = json!({ "alg": "RS256", "kid": ATTACKER_KID, "typ": "JWT" });
        header[member] = value.clone();
        let t = sign_with_header(&idp.attacker, &header, &claims);
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "is not in provider \"test\"'s JWKS", &[&t]);
        // Signed by the attacker, naming the provider's kid: the signature fails.
        let mut header = json!({ "alg": "RS256", "kid": TEST_KID, "typ": "JWT" });
        header[member] = value.clone();
        let t = sign_with_header(&idp.attacker, &header, &claims);
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "signature does not verify", &[&t]);
        let trail = trail_of(&s, &r).await;
        assert!(
            trail.iter().any(|st| st["check"] == "key source"
                && st["outcome"] == "skip"
                && st["detail"].as_str().unwrap().contains(member)),
            "the trail notes the ignored {member}: {trail:?}"
        );
        // Without a kid at all.
        let mut header = json!({ "alg": "RS256", "typ": "JWT" });
        header[member] = value.clone();
        let t = sign_with_header(&idp.attacker, &header, &claims);
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "signature does not verify", &[&t]);
    }
    assert_eq!(idp.attacker_jwks_hits(), 0, "the broker never fetched the key the token pointed to");
}

#[tokio::test]
async fn ignores_header_key_sources_on_a_valid_token() {
    let (idp, s) = server_with_test_idp().await;
    let mut header = json!({ "alg": "RS256", "kid": TEST_KID, "typ": "JWT" });
    header["jku"] = json!(format!("{}/attacker-jwks", idp.base));
    header["x5u"] = json!(format!("{}/attacker-cert.pem", idp.base));
    header["jwk"] = serde_json::to_value(idp.attacker.public_jwk()).unwrap();
    let t = sign_with_header(&idp.key, &header, &alice(&idp, &s));
    let r = s.exchange_at_test_provider(&t).await;
    r.assert_ok();
    assert_eq!(idp.attacker_jwks_hits(), 0);
    // The success record notes the ignored members.
    let trail = trail_of(&s, &r).await;
    let step = trail.iter().find(|st| st["check"] == "key source").expect("key source step");
    assert_eq!(step["outcome"], "skip");
    let detail = step["detail"].as_str().unwrap();
    assert!(detail.contains("jku") && detail.contains("x5u") && detail.contains("jwk"), "{detail}");
}

#[tokio::test]
async fn rejects_not_yet_valid_token() {
    let (idp, s) = server_with_test_idp().await;
    let mut claims = alice(&idp, &s);
    claims["nbf"] = json!(s.now() + 600);
    let t = idp.token(&claims);
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "nbf", &[&t]);
    assert!(r.str("error_description").contains("not valid for another"));
    // Issued in the future (iat) beyond the leeway is refused too.
    let mut claims = alice(&idp, &s);
    claims["iat"] = json!(s.now() + 600);
    let t = idp.token(&claims);
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "in the future", &[&t]);
    // Within the 60 s leeway the clock skew is forgiven.
    let mut claims = alice(&idp, &s);
    claims["nbf"] = json!(s.now() + 30);
    s.exchange_at_test_provider(&idp.token(&claims)).await.assert_ok();
}

#[tokio::test]
async fn rejects_expired_third_party_token() {
    let (idp, s) = server_with_test_idp().await;
    let mut claims = alice(&idp, &s);
    claims["iat"] = json!(s.now() - 7200);
    claims["exp"] = json!(s.now() - 3600);
    let t = idp.token(&claims);
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "expired 3600 s ago", &[&t]);
    // A token without exp is refused as well.
    let mut claims = alice(&idp, &s);
    claims.as_object_mut().unwrap().remove("exp");
    let t = idp.token(&claims);
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "no exp", &[&t]);
}

#[tokio::test]
async fn rejects_wrong_issuer() {
    let (idp, s) = server_with_test_idp().await;
    let mut claims = alice(&idp, &s);
    claims["iss"] = json!("https://evil.example");
    let t = idp.token(&claims);
    // Naming the provider: its key verifies, but the issuer is not the provider's.
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "issuer \"https://evil.example\" is not provider", &[&t]);
    // Without the provider parameter no provider claims that issuer.
    let r = s.exchange_bearer(&t, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "no configured provider has issuer", &[&t]);
    // A token of this provider that claims the demo provider's issuer is checked against the
    // demo provider's keys, which never signed it.
    let mut claims = alice(&idp, &s);
    claims["iss"] = json!(format!("{}/demo-idp", s.base));
    claims["aud"] = json!(UPSTREAM_CLIENT);
    let t = idp.token(&claims);
    let r = s.exchange_bearer(&t, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "is not in provider \"demo\"'s JWKS", &[&t]);
}

#[tokio::test]
async fn rejects_wrong_audience() {
    let (idp, s) = server_with_test_idp().await;
    for aud in [json!("someone-else"), json!(["a", "b"]), json!([])] {
        let mut claims = alice(&idp, &s);
        claims["aud"] = aud;
        let t = idp.token(&claims);
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "audience", &[&t]);
        assert!(r.str("error_description").contains("is not accepted by provider \"test\""));
    }
    // One accepted audience among several is enough when `azp` names it (OIDC Core §3.1.3.7;
    // without azp, or with another client's, see jose_claims.rs).
    let mut claims = alice(&idp, &s);
    claims["aud"] = json!(["someone-else", TEST_AUDIENCE]);
    claims["azp"] = json!(TEST_AUDIENCE);
    s.exchange_at_test_provider(&idp.token(&claims)).await.assert_ok();
}

#[tokio::test]
async fn rejects_third_party_token_replay() {
    let (idp, s) = server_with_test_idp().await;
    let t = idp.token(&alice(&idp, &s));
    s.exchange_at_test_provider(&t).await.assert_ok();
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&t]);
    let records = s
        .store
        .lookup_audit(&AuditQuery { request_id: Some(r.request_id().into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(records[0].error_code.as_deref(), Some("invalid_grant"));
}

// --- the provider's JWKS, cached ---

#[tokio::test]
async fn jwks_is_cached_and_kept_while_the_provider_is_down() {
    let (idp, s) = server_with_test_idp().await;
    s.exchange_at_test_provider(&idp.token(&alice(&idp, &s))).await.assert_ok();
    let fetched = idp.jwks_hits();
    assert_eq!(fetched, 1, "first use fetches the JWKS");
    s.clock.advance(1);
    s.exchange_at_test_provider(&idp.token(&alice(&idp, &s))).await.assert_ok();
    assert_eq!(idp.jwks_hits(), 1, "then it is served from the cache");
    // An unknown kid refetches once; a second unknown kid right after does not.
    let header = json!({ "alg": "RS256", "kid": "rotated-away", "typ": "JWT" });
    s.clock.advance(REFETCH_INTERVAL);
    let t = sign_with_header(&idp.key, &header, &alice(&idp, &s));
    assert_eq!(s.exchange_at_test_provider(&t).await.status, 400);
    assert_eq!(idp.jwks_hits(), 2, "unknown kid: one refetch");
    s.clock.advance(1);
    let t = sign_with_header(&idp.key, &header, &alice(&idp, &s));
    assert_eq!(s.exchange_at_test_provider(&t).await.status, 400);
    assert_eq!(idp.jwks_hits(), 2, "refetches are rate-limited");
    // The provider's JWKS endpoint fails: the cached keys keep working.
    idp.set_jwks_down(true);
    s.clock.advance(REFETCH_INTERVAL);
    let t = sign_with_header(&idp.key, &header, &alice(&idp, &s));
    assert_eq!(s.exchange_at_test_provider(&t).await.status, 400);
    assert_eq!(idp.jwks_hits(), 3);
    let r = s.exchange_at_test_provider(&idp.token(&alice(&idp, &s))).await;
    r.assert_ok();
}

#[tokio::test]
async fn stale_jwks_refetch_is_rate_limited_while_the_provider_is_down() {
    let (idp, s) = server_with_test_idp().await;
    s.exchange_at_test_provider(&idp.token(&alice(&idp, &s))).await.assert_ok();
    assert_eq!(idp.jwks_hits(), 1);
    idp.set_jwks_down(true);
    s.clock.advance(3600 + 1);
    // Stale cache, provider down: one refetch attempt, then the cached key is used.
    s.exchange_at_test_provider(&idp.token(&alice(&idp, &s))).await.assert_ok();
    assert_eq!(idp.jwks_hits(), 2);
    for _ in 0..5 {
        s.clock.advance(1);
        s.exchange_at_test_provider(&idp.token(&alice(&idp, &s))).await.assert_ok();
    }
    assert_eq!(idp.jwks_hits(), 2, "no further refetch within REFETCH_INTERVAL");
}

// --- the token paths, as an attacker tries them ---

/// RFC 8693 at `/oauth2/token` naming the provider, so the form can carry any bytes.
async fn exchange_form(s: &Server, token: &str, token_type: &str) -> Resp {
    s.token_basic(&[
        ("grant_type", GRANT_TOKEN_EXCHANGE),
        ("subject_token", token),
        ("subject_token_type", token_type),
        ("provider", TEST_PROVIDER),
    ])
    .await
}

#[tokio::test]
async fn rejects_alg_case_variants() {
    let (idp, s) = server_with_test_idp().await;
    let claims = alice(&idp, &s);
    for alg in ["rs256", "Rs256", "RS256 ", "rS256"] {
        let header = json!({ "alg": alg, "kid": TEST_KID, "typ": "JWT" });
        let t = sign_with_header(&idp.key, &header, &claims);
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "is not allowed for provider \"test\"", &[&t]);
    }
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "kid": TEST_KID, "typ": "JWT" });
        let t = format!("{}.{}.", b64json(&header), b64json(&claims));
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "unsigned tokens (alg \"none\") are never accepted", &[&t]);
    }
}

#[tokio::test]
async fn rejects_empty_and_noncanonical_signatures() {
    let (idp, s) = server_with_test_idp().await;
    let claims = alice(&idp, &s);
    let header = json!({ "alg": "RS256", "kid": TEST_KID, "typ": "JWT" });
    let empty = format!("{}.{}.", b64json(&header), b64json(&claims));
    let r = s.exchange_at_test_provider(&empty).await;
    assert_oauth_error(&r, 400, "invalid_grant", "signature does not verify", &[&empty]);
    // The same signature bytes written another way: stray bits in the last character, or the
    // standard base64 alphabet.
    let t = idp.token(&claims);
    let (input, sig) = t.rsplit_once('.').unwrap();
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let stray = alphabet.chars().nth(alphabet.find(last).unwrap() | 1).unwrap();
    let with_stray_bits = format!("{input}.{}{stray}", &sig[..sig.len() - 1]);
    let r = s.exchange_at_test_provider(&with_stray_bits).await;
    assert_oauth_error(&r, 400, "invalid_grant", "signature is not canonical base64url", &[&t]);
    if sig.contains(['-', '_']) {
        let standard = format!("{input}.{}", sig.replace('-', "+").replace('_', "/"));
        let r = s.exchange_at_test_provider(&standard).await;
        assert_oauth_error(&r, 400, "invalid_grant", "signature is not canonical base64url", &[&t]);
    }
    s.exchange_at_test_provider(&t).await.assert_ok();
}

#[tokio::test]
async fn rejects_jwe_compact_tokens() {
    let (idp, s) = server_with_test_idp().await;
    let header = json!({ "alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": TEST_KID });
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64json(&header),
        b64url(&[7; 256]),
        b64url(&[1; 12]),
        b64url(b"ct"),
        b64url(&[2; 16])
    );
    // Whichever door, with or without naming the provider: refused for being encrypted.
    let r = s.exchange_bearer(&jwe, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "encrypted (JWE", &[&jwe]);
    let r = exchange_form(&s, &jwe, TT_ID_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "encrypted (JWE", &[&jwe]);
    let r = exchange_form(&s, &jwe, TT_ACCESS_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "encrypted (JWE", &[&jwe]);
    assert_eq!(idp.userinfo_hits(), 0, "an encrypted token is never sent to UserInfo");
}

#[tokio::test]
async fn rejects_nested_jws() {
    let (idp, s) = server_with_test_idp().await;
    let inner = idp.token(&alice(&idp, &s));
    let header = json!({ "alg": "RS256", "kid": TEST_KID, "cty": "JWT" });
    let input = format!("{}.{}", b64json(&header), b64url(inner.as_bytes()));
    let nested = format!("{input}.{}", b64url(&idp.key.sign(input.as_bytes())));
    let r = s.exchange_at_test_provider(&nested).await;
    assert_oauth_error(&r, 400, "invalid_grant", "nested JWT", &[&nested, &inner]);
    // The inner token itself is untouched by the attempt.
    s.exchange_at_test_provider(&inner).await.assert_ok();
}

#[tokio::test]
async fn rejects_whitespace_and_control_characters_in_tokens() {
    let (idp, s) = server_with_test_idp().await;
    let t = idp.token(&alice(&idp, &s));
    let (h, rest) = t.split_once('.').unwrap();
    let cases = [
        (format!("{t}\n"), "signature is not canonical base64url"),
        (format!("{t} "), "signature is not canonical base64url"),
        (format!("{h}.\n{rest}"), "payload is not canonical base64url"),
        (format!("{h}\t.{rest}"), "header is not canonical base64url"),
        (format!(" {t}"), "whitespace around it"),
        (format!("{t}\u{0}"), "signature is not canonical base64url"),
    ];
    for (spelling, why) in cases {
        let r = exchange_form(&s, &spelling, TT_ACCESS_TOKEN).await;
        assert_oauth_error(&r, 400, "invalid_grant", why, &[&t]);
    }
    assert_eq!(idp.userinfo_hits(), 0, "no spelling of a JWT is sent to UserInfo");
    s.exchange_at_test_provider(&t).await.assert_ok();
}

#[tokio::test]
async fn rejects_very_long_tokens_before_any_work() {
    let (idp, s) = server_with_test_idp().await;
    let mut claims = alice(&idp, &s);
    claims["padding"] = json!("x".repeat(20_000));
    let long_jwt = idp.token(&claims);
    let r = exchange_form(&s, &long_jwt, TT_ID_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "at most 16384 are accepted", &[&long_jwt]);
    let long_opaque = "o".repeat(20_000);
    let r = exchange_form(&s, &long_opaque, TT_ACCESS_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "at most 16384 are accepted", &[&long_opaque]);
    let r = s.exchange_bearer(&long_opaque, &[("provider", TEST_PROVIDER)]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "at most 16384 are accepted", &[&long_opaque]);
    assert_eq!(idp.userinfo_hits(), 0, "a long token is never sent upstream");
}

#[tokio::test]
async fn token_types_are_not_confused() {
    let (idp, s) = server_with_test_idp().await;
    // Upstream: an RFC 9068 access token presented as an id token, and an id token as an access token.
    let header = json!({ "alg": "RS256", "kid": TEST_KID, "typ": "at+jwt" });
    let at = sign_with_header(&idp.key, &header, &alice(&idp, &s));
    let r = exchange_form(&s, &at, TT_ID_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "an access token was presented as an id token", &[&at]);
    let mut id_claims = alice(&idp, &s);
    id_claims["nonce"] = json!("n-1");
    let id = idp.token(&id_claims);
    let r = exchange_form(&s, &id, TT_ACCESS_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "an id token was presented as an access token", &[&id]);
    // Ours: the id token is not a bearer for UserInfo nor for an API route, and neither of our
    // tokens is an upstream token.
    let set = s.sign_in("alice").await;
    let own_id = set["id_token"].as_str().unwrap();
    let own_access = set["access_token"].as_str().unwrap();
    let r = s.userinfo(own_id).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("token_use is \\\"id\\\", expected \\\"access\\\""), "{}", r.text);
    let r = s.send(s.http.get(s.url("/forward-auth/demo/api/hello")).bearer_auth(own_id)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    s.send(s.http.get(s.url("/forward-auth/demo/api/hello")).bearer_auth(own_access)).await.assert_ok();
    for own in [own_id, own_access] {
        let r = s.exchange_bearer(own, &[]).await;
        assert_oauth_error(&r, 400, "invalid_grant", "this system's own token is not an upstream token", &[own]);
    }
}
