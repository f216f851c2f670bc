//! Item 7, JOSE header and claim checks: `crit` naming anything (no extension is understood here,
//! and registered names may not be listed), duplicate header or claim names (a parser keeping
//! the last `email` maps one user to another), a token without `sub`, a multi-valued `aud`
//! whose `azp` is not our client (OIDC Core §3.1.3.7), and time claims at the edges of i64
//! (arithmetic saturates, never wraps or panics). The same parser reads this system's own
//! tokens, so the strictness holds for them too. The duplicate-detecting JSON reader has unit
//! tests in `crates/jose/src/lib.rs`.

use crate::common::*;
use serde_json::{json, Value};
use tokenbridge_core::jose::b64url;

/// A compact JWS over the raw header and payload texts (duplicates kept as written), signed with
/// the test provider's key.
fn sign_raw(idp: &TestIdp, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64url(header.as_bytes()), b64url(payload.as_bytes()));
    format!("{input}.{}", b64url(&idp.key.sign(input.as_bytes())))
}

/// The failed step (check, detail) of the audit record a response's request id finds.
async fn failed_check(s: &Server, r: &Resp) -> (String, String) {
    let records = s.audit_of(r.request_id()).await;
    let trail = records[0].record["additionalEventData"]["decisionTrail"].as_array().expect("trail").clone();
    let fail = trail.iter().find(|st| st["outcome"] == "fail").unwrap_or_else(|| panic!("no failed step: {trail:?}"));
    (fail["check"].as_str().unwrap().to_string(), fail["detail"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn crit_is_refused_whatever_it_names() {
    let (idp, s) = server_with_test_idp().await;
    let claims = idp.claims("alice@example.com", s.now());
    let cases = [
        (json!(["exp"]), "registered"),
        (json!(["alg"]), "registered"),
        (json!(["b64"]), "does not understand"),
        (json!(["urn:example:unknown"]), "does not understand"),
        (json!([]), "empty"),
        (json!("exp"), "list"),
    ];
    for (crit, why) in cases {
        let mut header = json!({ "alg": "RS256", "kid": TEST_KID, "typ": "JWT", "crit": crit });
        // The named extensions are present, as RFC 7515 §4.1.11 requires.
        header["exp"] = json!(s.now() + 600);
        header["b64"] = json!(true);
        header["urn:example:unknown"] = json!(1);
        let t = sign_with_header(&idp.key, &header, &claims);
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "crit", &[&t]);
        assert!(r.str("error_description").contains(why), "{crit}: {}", r.text);
        assert_eq!(failed_check(&s, &r).await.0, "crit");
    }
}

#[tokio::test]
async fn duplicate_claim_names_are_refused() {
    let (idp, s) = server_with_test_idp().await;
    let now = s.now();
    let header = format!(r#"{{"alg":"RS256","kid":"{TEST_KID}","typ":"JWT"}}"#);
    let (iss, exp) = (&idp.base, now + 600);
    let body = |dup: &str| {
        let claims = format!(r#""iss":"{iss}","sub":"test|alice","aud":"{TEST_AUDIENCE}","iat":{now},"exp":{exp}"#);
        format!(r#"{{{claims},"email":"alice@example.com","email_verified":true,{dup}}}"#)
    };
    // The last email would have mapped alice's token to bob.
    for dup in [r#""email":"bob@example.com""#, r#""em\u0061il":"bob@example.com""#, r#""sub":"test|bob""#] {
        let t = sign_raw(&idp, &header, &body(dup));
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "duplicate", &[&t]);
        assert!(r.str("error_description").contains("claim"), "{}", r.text);
        assert_eq!(failed_check(&s, &r).await.0, "format");
    }
    // Nested objects too.
    let t = sign_raw(&idp, &header, &body(r#""address":{"country":"JP","country":"US"}"#));
    assert_oauth_error(&s.exchange_at_test_provider(&t).await, 400, "invalid_grant", "duplicate", &[&t]);
    // Without the duplicate the same token is accepted (the test is about the duplicate only).
    s.exchange_at_test_provider(&sign_raw(&idp, &header, &body(r#""name":"Alice""#))).await.assert_ok();
}

#[tokio::test]
async fn duplicate_header_names_are_refused() {
    let (idp, s) = server_with_test_idp().await;
    let claims = idp.claims("alice@example.com", s.now()).to_string();
    for header in [
        format!(r#"{{"alg":"none","kid":"{TEST_KID}","alg":"RS256"}}"#),
        format!(r#"{{"alg":"RS256","kid":"attacker-k1","kid":"{TEST_KID}"}}"#),
        format!(r#"{{"alg":"RS256","kid":"{TEST_KID}","crit":["x"],"crit":[]}}"#),
    ] {
        let t = sign_raw(&idp, &header, &claims);
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "duplicate", &[&t]);
        assert!(r.str("error_description").contains("header"), "{}", r.text);
    }
}

#[tokio::test]
async fn token_without_sub_is_refused() {
    let (idp, s) = server_with_test_idp().await;
    for sub in [None, Some(json!("")), Some(json!(42)), Some(json!(["test|alice"]))] {
        let mut claims = idp.claims("alice@example.com", s.now());
        match &sub {
            None => claims.as_object_mut().unwrap().remove("sub"),
            Some(v) => claims.as_object_mut().unwrap().insert("sub".into(), v.clone()),
        };
        let t = idp.token(&claims);
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "sub", &[&t]);
        assert_eq!(failed_check(&s, &r).await.0, "subject", "{sub:?}");
    }
}

#[tokio::test]
async fn multi_valued_aud_needs_azp_naming_our_client() {
    let (idp, s) = server_with_test_idp().await;
    let with = |aud: Value, azp: Option<&str>| {
        let mut claims = idp.claims("alice@example.com", s.now());
        claims["aud"] = aud;
        if let Some(a) = azp {
            claims["azp"] = json!(a);
        }
        idp.token(&claims)
    };
    // Several audiences, azp another client: the token was issued to someone else.
    let t = with(json!([TEST_AUDIENCE, "other-client"]), Some("other-client"));
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "azp", &[&t]);
    assert_eq!(failed_check(&s, &r).await.0, "authorized party");
    // Several audiences and no azp.
    let t = with(json!([TEST_AUDIENCE, "other-client"]), None);
    let r = s.exchange_at_test_provider(&t).await;
    assert_oauth_error(&r, 400, "invalid_grant", "azp", &[&t]);
    // Several audiences, azp ours: accepted.
    s.exchange_at_test_provider(&with(json!(["other-client", TEST_AUDIENCE]), Some(TEST_AUDIENCE))).await.assert_ok();
    s.clock.advance(1);
    // One audience: azp is not required.
    s.exchange_at_test_provider(&with(json!(TEST_AUDIENCE), None)).await.assert_ok();
}

#[tokio::test]
async fn time_claims_at_the_edges_saturate() {
    let configure: Configure = Box::new(|cfg| {
        let test = cfg.providers.iter_mut().find(|p| p.name == TEST_PROVIDER).expect("provider test");
        test.max_token_age_seconds = Some(3600);
    });
    let idp = TestIdp::start().await;
    let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), configure: Some(configure), ..Default::default() })
        .await;
    let alice = || idp.claims("alice@example.com", s.now());

    // exp at the end of time (as an integer, and as a float beyond i64): valid, and one-time use
    // still holds for it (its replay marker does not wrap into the past).
    for exp in [json!(i64::MAX), json!(1e300)] {
        let mut c = alice();
        c["exp"] = exp;
        c["jti"] = json!(format!("far-{}", c["exp"]));
        let t = idp.token(&c);
        s.exchange_at_test_provider(&t).await.assert_ok();
        let r = s.exchange_at_test_provider(&t).await;
        assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&t]);
    }
    // exp at the start of time: expired, said without overflow.
    let mut c = alice();
    c["exp"] = json!(i64::MIN);
    let t = idp.token(&c);
    assert_oauth_error(&s.exchange_at_test_provider(&t).await, 400, "invalid_grant", "expired", &[&t]);
    // nbf at the start of time is simply in the past.
    let mut c = alice();
    c["nbf"] = json!(i64::MIN);
    s.exchange_at_test_provider(&idp.token(&c)).await.assert_ok();
    // iat at either end: too old for max_token_age, or issued in the future.
    let mut c = alice();
    c["iat"] = json!(i64::MIN);
    let t = idp.token(&c);
    assert_oauth_error(&s.exchange_at_test_provider(&t).await, 400, "invalid_grant", "accepts at most 3600 s", &[&t]);
    let mut c = alice();
    c["iat"] = json!(i64::MAX);
    let t = idp.token(&c);
    assert_oauth_error(&s.exchange_at_test_provider(&t).await, 400, "invalid_grant", "in the future", &[&t]);
    let mut c = alice();
    c["auth_time"] = json!(i64::MIN);
    let t = idp.token(&c);
    assert_oauth_error(&s.exchange_at_test_provider(&t).await, 400, "invalid_grant", "accepts at most 3600 s", &[&t]);
}

#[tokio::test]
async fn own_tokens_meet_the_same_parser() {
    let s = Server::custom(Opts::default()).await;
    let set = s.sign_in("alice").await;
    let access = decode(set["access_token"].as_str().unwrap());
    let signer = s.engine.keys().active();
    let header = format!(r#"{{"alg":"{}","kid":"{}","typ":"JWT"}}"#, signer.alg.as_str(), signer.kid);
    let payload = serde_json::to_string(&access.claims).unwrap();
    let sign = |header: &str, payload: &str| {
        let input = format!("{}.{}", b64url(header.as_bytes()), b64url(payload.as_bytes()));
        format!("{input}.{}", b64url(&signer.sign(input.as_bytes())))
    };
    // As signed by this server, it works.
    s.userinfo(&sign(&header, &payload)).await.assert_ok();
    // A second sub (another user's id) is a duplicate, refused.
    let bob = s.user_id("bob").await;
    let dup = format!(r#"{},"sub":"{bob}"}}"#, payload.trim_end_matches('}'));
    let t = sign(&header, &dup);
    let r = s.userinfo(&t).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("duplicate"), "{}", r.text);
    // crit in our own header.
    let crit = format!(r#"{{"alg":"{}","kid":"{}","crit":["exp"],"exp":1}}"#, signer.alg.as_str(), signer.kid);
    let r = s.userinfo(&sign(&crit, &payload)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("crit"), "{}", r.text);
}
