//! Item 1, one-time use per token, not per spelling. An upstream token has one accepted spelling
//! (canonical base64url for JWTs: no padding, no characters outside the alphabet, no stray
//! bits; for opaque tokens no whitespace and only the RFC 6750 token characters), and its
//! replay marker is keyed on what the token is, not how it is written: `iss` + `jti`, else the
//! signed header and payload (an ECDSA signature has two spellings), and for opaque tokens the
//! token with its padding and base64 alphabet folded. The same holds for the CUSTOM_AUTH answer
//! (which runs the exchange's checks), the demo provider's authorization codes, and this
//! system's own tokens. Unit tests of the canonical decoding and the replay key live in
//! `crates/jose/src/lib.rs` and `crates/core/src/upstream.rs`.

use crate::common::*;
use serde_json::{json, Value};
use tokenbridge_core::jose::{b64url, b64url_decode, JwkSet, Signer, UnverifiedJwt, VerifyingKey};
use tokenbridge_core::model::KeyAlgorithm;

/// The decision trail of the one audit record a response's request id finds.
async fn trail_of(s: &Server, r: &Resp) -> Vec<Value> {
    let records = s.audit_of(r.request_id()).await;
    assert_eq!(records.len(), 1, "one audit record per request");
    records[0].record["additionalEventData"]["decisionTrail"].as_array().expect("trail").clone()
}

/// The step of `check` in a trail.
fn step<'a>(trail: &'a [Value], check: &str) -> &'a Value {
    trail.iter().find(|st| st["check"] == check).unwrap_or_else(|| panic!("no {check:?} step in {trail:?}"))
}

/// `token` with `=` inserted after its segment `i` (0 header, 1 payload, 2 signature).
fn padded_segment(token: &str, i: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[i].push('=');
    parts.join(".")
}

#[tokio::test]
async fn padded_upstream_jwt_is_refused_at_both_doors() {
    let s = Server::custom(Opts::default()).await;
    let t = s.mint_id_token("alice");
    s.exchange_bearer(&t, &[]).await.assert_ok();
    // Each spelling of the used token: refused for its encoding, before any other check.
    for spelling in [format!("{t}="), format!("{t}=="), padded_segment(&t, 0), padded_segment(&t, 1)] {
        let r = s.exchange_bearer(&spelling, &[]).await;
        assert_oauth_error(&r, 400, "invalid_grant", "not canonical base64url", &[&t]);
        let r = s.token_exchange(&spelling, TT_ID_TOKEN).await;
        assert_oauth_error(&r, 400, "invalid_grant", "not canonical base64url", &[&t]);
    }
    // A fresh token, padded, is refused too (not only as a replay), and the token itself still works.
    let fresh = s.fresh_id_token("alice");
    let r = s.exchange_bearer(&format!("{fresh}="), &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "signature is not canonical base64url", &[&fresh]);
    assert_eq!(step(&trail_of(&s, &r).await, "format")["outcome"], "fail");
    s.exchange_bearer(&fresh, &[]).await.assert_ok();
}

#[tokio::test]
async fn one_jti_is_one_token() {
    let idp = TestIdp::start().await;
    let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await;
    let mut claims = idp.claims("alice@example.com", s.now());
    claims["jti"] = json!("jti-1");
    let first = idp.token(&claims);
    s.exchange_bearer(&first, &[]).await.assert_ok();
    // The provider signed the same jti again (a later iat): the same token for one-time use.
    claims["iat"] = json!(s.now() + 1);
    let second = idp.token(&claims);
    assert_ne!(first, second);
    let r = s.exchange_bearer(&second, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&first, &second]);
    assert!(r.str("error_description").contains("iss + jti"), "{}", r.text);
    // Another jti of the same provider is another token.
    claims["jti"] = json!("jti-2");
    s.exchange_bearer(&idp.token(&claims), &[]).await.assert_ok();
}

/// The order of P-256.
const P256_N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA,
    0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// `n - s` for a 32-byte big-endian `s`: the other valid ECDSA signature of the same message.
fn negate_mod_n(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = P256_N[i] as i16 - s[i] as i16 - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    out
}

#[tokio::test]
async fn ecdsa_signature_spelled_twice_is_one_token() {
    // An ES256 provider whose keys come from a static JWKS file.
    let (signer, _) = Signer::generate(KeyAlgorithm::ES256, "es-k1".into()).expect("ES256 key");
    let jwks_dir = tempfile::tempdir().expect("tempdir");
    let jwks_file = jwks_dir.path().join("jwks.json");
    let jwks = json!({ "keys": [signer.public_jwk()] });
    std::fs::write(&jwks_file, jwks.to_string()).expect("write JWKS");
    let configure: Configure = Box::new(move |cfg| {
        let mut p = cfg.providers[0].clone();
        p.name = "es".into();
        p.issuer = "https://es.example".into();
        p.discovery = false;
        p.jwks_file = Some(jwks_file);
        p.audiences = vec!["es-aud".into()];
        p.algorithms = vec!["ES256".into()];
        p.condition = None;
        p.one_time_use = true;
        cfg.providers.push(p);
        cfg.clients[0].providers.push("es".into());
    });
    let s = Server::custom(Opts { configure: Some(configure), ..Default::default() }).await;
    // No jti: the replay key is the signed header and payload.
    let claims = json!({ "iss": "https://es.example", "sub": "es|alice", "aud": "es-aud", "iat": s.now(),
        "exp": s.now() + 600, "email": "alice@example.com", "email_verified": true });
    let t = signer.sign_jwt(&claims, "JWT");
    let (input, sig) = t.rsplit_once('.').unwrap();
    let sig = b64url_decode(sig).unwrap();
    assert_eq!(sig.len(), 64);
    let mut other = sig[..32].to_vec();
    other.extend(negate_mod_n(&sig[32..]));
    let twin = format!("{input}.{}", b64url(&other));
    // The twin is a valid signature of the same token: the attack is real.
    let set: JwkSet = serde_json::from_value(jwks).unwrap();
    let key = VerifyingKey::from_jwk(&set.keys[0]).unwrap();
    key.verify(&UnverifiedJwt::parse(&twin).expect("twin parses")).expect("the (r, n - s) twin verifies");

    s.exchange_bearer(&t, &[]).await.assert_ok();
    let r = s.exchange_bearer(&twin, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&t, &twin]);
    assert!(r.str("error_description").contains("signed header and payload"), "{}", r.text);
}

#[tokio::test]
async fn opaque_token_spellings_share_one_replay_key() {
    let idp = TestIdp::start().await;
    let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await;
    let alice = json!({ "sub": "test|alice", "email": "alice@example.com", "email_verified": true });
    // A lenient provider: it takes a token with or without padding, in either base64 alphabet.
    for spelling in ["Zm9vYmFy-_op", "Zm9vYmFy-_op=", "Zm9vYmFy-_op==", "Zm9vYmFy+/op"] {
        idp.register_opaque(spelling, alice.clone());
    }
    let exchange = |t: &'static str| s.exchange_bearer(t, &[("provider", TEST_PROVIDER)]);
    exchange("Zm9vYmFy-_op").await.assert_ok();
    for spelling in ["Zm9vYmFy-_op=", "Zm9vYmFy-_op==", "Zm9vYmFy+/op"] {
        let r = exchange(spelling).await;
        assert_oauth_error(&r, 400, "invalid_grant", "already used", &["Zm9vYmFy"]);
    }
}

#[tokio::test]
async fn opaque_token_with_whitespace_or_foreign_characters_is_refused_unasked() {
    let idp = TestIdp::start().await;
    let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await;
    idp.register_opaque(
        "opaque-tok-1",
        json!({ "sub": "test|alice", "email": "alice@example.com", "email_verified": true }),
    );
    for spelling in
        [" opaque-tok-1", "opaque-tok-1 ", "opaque-tok-1\n", "opaque\ttok-1", "opaque-tok-1%", "opaque=tok-1"]
    {
        let r = s
            .token_basic(&[
                ("grant_type", GRANT_TOKEN_EXCHANGE),
                ("subject_token", spelling),
                ("subject_token_type", TT_ACCESS_TOKEN),
                ("provider", TEST_PROVIDER),
            ])
            .await;
        assert_oauth_error(&r, 400, "invalid_grant", "opaque token", &["opaque-tok-1"]);
        assert_eq!(step(&trail_of(&s, &r).await, "format")["outcome"], "fail", "{spelling:?}");
        assert!(!trail_of(&s, &r).await.iter().any(|st| st["check"] == "userinfo"), "{spelling:?}: asked upstream");
    }
}

#[tokio::test]
async fn demo_opaque_token_with_padding_is_refused() {
    let s = Server::custom(Opts::default()).await;
    let t = s.upstream_login("alice").await["access_token"].as_str().unwrap().to_string();
    s.token_exchange(&t, TT_ACCESS_TOKEN).await.assert_ok();
    for spelling in [format!("{t}="), format!("{t}==")] {
        let r = s.token_exchange(&spelling, TT_ACCESS_TOKEN).await;
        assert_eq!(r.status, 400, "{spelling}: {}", r.text);
        assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);
        assert!(!r.text.contains(&t[..40]));
    }
    // The demo provider itself takes one spelling of its tokens.
    let fresh = s.upstream_login("alice").await["access_token"].as_str().unwrap().to_string();
    let r = s.send(s.http.get(s.url("/demo-idp/userinfo")).bearer_auth(format!("{fresh}="))).await;
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test]
async fn custom_auth_answer_spelled_twice_is_refused() {
    let server = Server::demo().await;
    let s = &server;
    let client_id = s.demo_cognito("client_id");
    let client_id = client_id.as_str();
    let challenge = |username: &'static str| {
        let body =
            json!({ "AuthFlow": "CUSTOM_AUTH", "ClientId": client_id, "AuthParameters": { "USERNAME": username } });
        async move {
            let r = s.cognito("InitiateAuth", &body).await;
            r.assert_ok();
            r.str("Session").to_string()
        }
    };
    let answer = |session: String, answer: String| {
        let body = json!({ "ClientId": client_id, "ChallengeName": "CUSTOM_CHALLENGE", "Session": session,
            "ChallengeResponses": { "USERNAME": "erin", "ANSWER": answer } });
        async move { s.cognito("RespondToAuthChallenge", &body).await }
    };
    let t = s.mint_id_token("erin");
    answer(challenge("erin").await, t.clone()).await.assert_ok();
    for spelling in [format!("{t}="), format!("{t}==")] {
        let r = answer(challenge("erin").await, spelling).await;
        assert_cognito_error(&r, "NotAuthorizedException", "Incorrect username or password.");
        let trail = trail_of(s, &r).await;
        let failed = trail.iter().find(|st| st["outcome"] == "fail").expect("a failed step");
        assert_eq!(failed["check"], "format", "{trail:?}");
        assert!(failed["detail"].as_str().unwrap().contains("not canonical base64url"), "{trail:?}");
    }
    // The Session string has one spelling too.
    let session = challenge("erin").await;
    let r = answer(format!("{session}="), s.mint_id_token("erin")).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid session for the user.");
}

/// The value of the hidden input `name` on a demo provider page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no hidden {name} in {page}")) + marker.len();
    let end = start + page[start..].find('"').expect("closing quote");
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn demo_provider_authorization_code_spelled_twice_is_refused() {
    let s = Server::custom(Opts::default()).await;
    let s = &s;
    let redirect_uri = s.url("/console/callback");
    let redirect_uri = redirect_uri.as_str();
    let query = [
        ("response_type", "code"),
        ("client_id", UPSTREAM_CLIENT),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email"),
    ];
    let page = s.send(s.http.get(s.url("/demo-idp/authorize")).query(&query)).await;
    page.assert_ok();
    let mut form: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let p = person("alice");
    form.push(("username".into(), p.upstream_username.into()));
    form.push(("password".into(), p.upstream_password.into()));
    let consent = s.send(s.http.post(s.url("/demo-idp/authorize/login")).form(&form)).await;
    consent.assert_ok();
    let session = hidden(&consent.text, "session");
    let back = s
        .send(
            s.http
                .post(s.url("/demo-idp/authorize/consent"))
                .form(&[("session", session.as_str()), ("decision", "allow")]),
        )
        .await;
    assert_eq!(back.status, 302, "{}", back.text);
    let location = url::Url::parse(back.header("location").expect("location")).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").expect("code").1.to_string();

    let redeem = |code: String| {
        let form = [
            ("grant_type", "authorization_code".to_string()),
            ("code", code),
            ("redirect_uri", redirect_uri.to_string()),
        ];
        async move {
            s.send(
                s.http
                    .post(s.url("/demo-idp/token"))
                    .basic_auth(UPSTREAM_CLIENT, Some(&s.upstream_client_secret))
                    .form(&form),
            )
            .await
        }
    };
    redeem(code.clone()).await.assert_ok();
    for spelling in [format!("{code}="), format!("{code}==")] {
        let r = redeem(spelling).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);
    }
}

#[tokio::test]
async fn own_tokens_have_one_spelling() {
    let s = Server::custom(Opts::default()).await;
    let set = s.sign_in("alice").await;
    let access = set["access_token"].as_str().unwrap();
    let refresh = set["refresh_token"].as_str().unwrap();
    // A padded access token is not this system's token.
    let r = s.userinfo(&format!("{access}=")).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("not canonical base64url"), "{}", r.text);
    s.userinfo(access).await.assert_ok();
    // Refresh tokens are looked up by the hash of their one spelling.
    let r = s.refresh(&format!("{refresh}=")).await;
    assert_oauth_error(&r, 400, "invalid_grant", "refresh token is not recognized", &[refresh]);
    s.refresh(refresh).await.assert_ok();
}

#[tokio::test]
async fn replay_key_is_in_the_audit_trail_never_the_token() {
    let s = Server::custom(Opts::default()).await;
    let t = s.mint_id_token("alice");
    let ok = s.exchange_bearer(&t, &[]).await;
    ok.assert_ok();
    let again = s.exchange_bearer(&t, &[]).await;
    assert_oauth_error(&again, 400, "invalid_grant", "already used", &[&t]);
    for r in [&ok, &again] {
        let records = s.audit_of(r.request_id()).await;
        let text = records[0].record.to_string();
        assert!(
            !text.contains(&t[..40]) && !text.contains(t.rsplit('.').next().unwrap()),
            "the token is in the audit record"
        );
        let detail = step(&trail_of(&s, r).await, "one-time use")["detail"].as_str().unwrap().to_string();
        assert!(detail.contains("replay key iss + jti sha256:"), "{detail}");
    }
    // The same replay key both times: the marker the second exchange found is the first one's.
    let key = |d: &str| d.split("sha256:").nth(1).unwrap().chars().take(16).collect::<String>();
    let first = step(&trail_of(&s, &ok).await, "one-time use")["detail"].as_str().unwrap().to_string();
    let second = step(&trail_of(&s, &again).await, "one-time use")["detail"].as_str().unwrap().to_string();
    assert_eq!(key(&first), key(&second));
}
