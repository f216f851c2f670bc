//! Token exchange through both doors (`POST /auth/exchange`, RFC 8693 at `POST /oauth2/token`)
//! against the real server with the built-in demo upstream: the happy paths with the shape of
//! the issued tokens, and every refusal that a real demo-upstream token (or a malformed request)
//! can provoke.

use crate::common::*;
use aws_lc_rs::hmac;
use serde_json::{json, Value};
use tokenbridge_core::jose::{b64url, b64url_decode};

/// Everything a successful token response must carry (RFC 6749 §5.1 + RFC 8693 §2.2.1).
#[track_caller]
fn assert_token_response(r: &Resp, expect_issued_token_type: bool) {
    r.assert_ok();
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let b = &r.json;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 3600);
    assert_eq!(b["scope"], "openid email profile orders:read orders:write");
    for k in ["access_token", "id_token", "refresh_token"] {
        assert!(b[k].as_str().is_some_and(|t| !t.is_empty()), "{k} missing in {}", r.text);
    }
    if expect_issued_token_type {
        assert_eq!(b["issued_token_type"], TT_ACCESS_TOKEN);
    }
}

/// Cognito-shaped claims of an issued id/access token pair for demo user alice, both verified
/// against the published JWKS.
async fn assert_cognito_shaped(s: &Server, body: &Value) {
    let jwks = s.jwks().await;
    let id = verify_with_jwks(body["id_token"].as_str().unwrap(), &jwks);
    let access = verify_with_jwks(body["access_token"].as_str().unwrap(), &jwks);
    let alice = s.user_id("alice").await;

    for t in [&id, &access] {
        assert_eq!(t.header.alg, "RS256");
        let kid = t.header.kid.as_deref().expect("kid");
        assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid));
    }

    let c = &id.claims;
    assert_eq!(c["sub"], alice.as_str());
    assert_eq!(c["iss"], s.base.as_str());
    assert_eq!(c["aud"], DEMO_CLIENT);
    assert_eq!(c["token_use"], "id");
    assert_eq!(c["email"], "alice@example.com");
    assert_eq!(c["email_verified"], true);
    assert_eq!(c["cognito:username"], "alice");
    assert_eq!(c["cognito:groups"], json!(["admins", "readers"]));
    let iat = c["iat"].as_i64().expect("iat");
    assert_eq!(iat, s.now());
    assert_eq!(c["exp"].as_i64().expect("exp"), iat + 3600);
    assert!(c["auth_time"].as_i64().is_some_and(|t| t <= iat));
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(c["origin_jti"].as_str().is_some_and(|j| !j.is_empty()));
    // Where the identity came from, as Cognito's federated users show it.
    assert_eq!(c["identities"][0]["providerName"], "demo");
    assert_eq!(c["identities"][0]["issuer"], format!("{}/demo-idp", s.base));

    let a = &access.claims;
    assert_eq!(a["sub"], alice.as_str());
    assert_eq!(a["iss"], s.base.as_str());
    assert_eq!(a["client_id"], DEMO_CLIENT);
    assert_eq!(a["token_use"], "access");
    assert_eq!(a["scope"], "openid email profile orders:read orders:write");
    assert_eq!(a["username"], "alice");
    assert!(a.get("aud").is_none(), "Cognito access tokens carry client_id, not aud");
    let iat = a["iat"].as_i64().expect("iat");
    assert_eq!(a["exp"].as_i64().expect("exp"), iat + 3600);
    assert!(a["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_ne!(a["jti"], c["jti"], "each token has its own jti");
    assert_eq!(a["origin_jti"], c["origin_jti"], "id and access token belong to one session");
}

#[tokio::test]
async fn happy_path_auth_exchange_bearer() {
    let s = Server::demo().await;
    let up = s.fresh_id_token("alice");
    let r = s.exchange_bearer(&up, &[]).await;
    assert_token_response(&r, true);
    assert_cognito_shaped(&s, &r.json).await;
    // The issued access token works where this system's tokens are accepted.
    let me = s.userinfo(r.str("access_token")).await;
    me.assert_ok();
    assert_eq!(me.json["username"], "alice");
}

#[tokio::test]
async fn happy_path_rfc8693_client_secret_basic() {
    let s = Server::demo().await;
    // A real upstream sign-in: Salesforce's username-password flow at the demo upstream.
    let up = s.upstream_login("alice").await;
    let id_token = up["id_token"].as_str().expect("upstream id_token");
    let r = s.token_exchange(id_token, TT_ID_TOKEN).await;
    assert_token_response(&r, true);
    assert_cognito_shaped(&s, &r.json).await;
}

#[tokio::test]
async fn happy_path_rfc8693_client_secret_post() {
    let s = Server::demo().await;
    let up = s.fresh_id_token("alice");
    let r = s
        .send(s.http.post(s.url("/oauth2/token")).form(&[
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("client_id", DEMO_CLIENT),
            ("client_secret", s.client_secret.as_str()),
            ("subject_token", up.as_str()),
            ("subject_token_type", TT_ID_TOKEN),
            ("requested_token_type", TT_ACCESS_TOKEN),
            ("audience", DEMO_CLIENT),
        ]))
        .await;
    assert_token_response(&r, true);
    assert_cognito_shaped(&s, &r.json).await;
}

#[tokio::test]
async fn discovery_document_and_jwks() {
    let s = Server::custom(Opts::default()).await;
    let r = s.get("/.well-known/openid-configuration").await;
    r.assert_ok();
    let d = &r.json;
    let b = s.base.as_str();
    assert_eq!(d["issuer"], b);
    assert_eq!(d["jwks_uri"], format!("{b}/.well-known/jwks.json"));
    assert_eq!(d["token_endpoint"], format!("{b}/oauth2/token"));
    assert_eq!(d["revocation_endpoint"], format!("{b}/oauth2/revoke"));
    assert_eq!(d["introspection_endpoint"], format!("{b}/oauth2/introspect"));
    assert_eq!(d["userinfo_endpoint"], format!("{b}/oauth2/userinfo"));
    assert_eq!(d["token_exchange_endpoint"], format!("{b}/auth/exchange"));
    let grants = d["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(GRANT_TOKEN_EXCHANGE)));
    assert!(grants.contains(&json!("refresh_token")));
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
    let auth = d["token_endpoint_auth_methods_supported"].as_array().unwrap();
    assert!(auth.contains(&json!("client_secret_basic")) && auth.contains(&json!("client_secret_post")));
    for claim in ["sub", "iss", "aud", "token_use", "cognito:username", "cognito:groups"] {
        assert!(d["claims_supported"].as_array().unwrap().contains(&json!(claim)), "{claim}");
    }
    // RFC 8414 twin.
    let r2 = s.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(r2.json, r.json);
    // The JWKS it points to is a public RSA key set with kids.
    let jwks = s.send(s.http.get(d["jwks_uri"].as_str().unwrap())).await;
    jwks.assert_ok();
    assert_eq!(jwks.header("content-type"), Some("application/json"));
    let keys = jwks.json["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        assert_eq!(k["kty"], "RSA");
        assert!(k["kid"].as_str().is_some_and(|k| !k.is_empty()));
        assert!(k.get("d").is_none() && k.get("p").is_none(), "no private members: {k}");
    }
}

// --- refusals provoked by demo-upstream tokens ---

#[tokio::test]
async fn rejects_bad_signature() {
    let s = Server::custom(Opts::default()).await;
    let good = s.fresh_id_token("alice");
    let bad = flip_signature_byte(&good);
    assert_ne!(bad, good);
    let r = s.exchange_bearer(&bad, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "signature does not verify", &[&bad]);
    // The untouched token still works: only the signature was at fault.
    s.exchange_bearer(&good, &[]).await.assert_ok();
}

#[tokio::test]
async fn rejects_alg_none() {
    let s = Server::custom(Opts::default()).await;
    let good = s.fresh_id_token("alice");
    let payload = good.split('.').nth(1).unwrap();
    let unsigned = format!("{}.{payload}.", b64json(&json!({ "alg": "none" })));
    let r = s.exchange_bearer(&unsigned, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "alg \"none\"", &[&unsigned]);
    // Spelled differently, and typed as a JWT at the RFC 8693 door.
    let unsigned2 = format!("{}.{payload}.", b64json(&json!({ "alg": "None", "typ": "JWT" })));
    let r = s.token_exchange(&unsigned2, TT_ID_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "alg \"none\"", &[&unsigned2]);
}

#[tokio::test]
async fn rejects_hs256_signed_with_the_providers_public_key() {
    let s = Server::custom(Opts::default()).await;
    let good = s.fresh_id_token("alice");
    let jwks = s.send(s.http.get(s.url("/demo-idp/jwks"))).await.json;
    let jwk = &jwks["keys"][0];
    let kid = decode(&good).header.kid.expect("demo kid");
    assert_eq!(jwk["kid"], kid.as_str());
    let payload = good.split('.').nth(1).unwrap();
    let n = b64url_decode(jwk["n"].as_str().unwrap()).unwrap();
    // Key confusion: HMAC keys an attacker can compute from the public key.
    for mac_key in [n, jwk.to_string().into_bytes(), jwks.to_string().into_bytes()] {
        let input = format!("{}.{payload}", b64json(&json!({ "alg": "HS256", "kid": kid, "typ": "JWT" })));
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &mac_key), input.as_bytes());
        let forged = format!("{input}.{}", b64url(tag.as_ref()));
        let r = s.exchange_bearer(&forged, &[]).await;
        assert_oauth_error(&r, 400, "invalid_grant", "algorithm HS256 is not allowed", &[&forged]);
    }
}

#[tokio::test]
async fn rejects_expired_upstream_token() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    // The demo upstream's id tokens live 3600 s; the provider allows 60 s of leeway.
    s.clock.advance(3600 + 61);
    let r = s.exchange_bearer(&up, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "expired", &[&up]);
}

#[tokio::test]
async fn rejects_id_token_presented_as_access_token() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    let r = s.token_exchange(&up, TT_ACCESS_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "an id token was presented as an access token", &[&up]);
    // The same token with its true type is fine (nothing was consumed by the refusal).
    s.token_exchange(&up, TT_ID_TOKEN).await.assert_ok();
}

#[tokio::test]
async fn rejects_own_access_token_as_upstream_token() {
    let s = Server::custom(Opts::default()).await;
    let ours = s.sign_in("alice").await;
    for kind in ["access_token", "id_token"] {
        let t = ours[kind].as_str().unwrap();
        let r = s.exchange_bearer(t, &[]).await;
        assert_oauth_error(&r, 400, "invalid_grant", "own token is not an upstream token", &[t]);
        let r = s.token_exchange(t, TT_ACCESS_TOKEN).await;
        assert_oauth_error(&r, 400, "invalid_grant", "own token is not an upstream token", &[t]);
    }
}

#[tokio::test]
async fn rejects_unlinked_user() {
    let s = Server::custom(Opts::default()).await;
    let up = s.upstream_login("carol").await;
    let t = up["id_token"].as_str().unwrap();
    let r = s.exchange_bearer(t, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "no local user is linked", &[t]);
    assert!(r.str("error_description").contains("carol@example.com"));
}

#[tokio::test]
async fn rejects_disabled_user() {
    let s = Server::custom(Opts::default()).await;
    s.engine.directory().set_enabled("alice", false).await.expect("disable alice");
    let up = s.fresh_id_token("alice");
    let r = s.exchange_bearer(&up, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "disabled", &[&up]);
    // Enabled again, the same upstream token is accepted: the refusal did not consume it.
    s.engine.directory().set_enabled("alice", true).await.expect("enable alice");
    s.exchange_bearer(&up, &[]).await.assert_ok();
}

#[tokio::test]
async fn rejects_failed_claim_condition() {
    let s = Server::custom(Opts::default()).await;
    // dave's upstream email is not verified; the demo provider requires it.
    let up = s.upstream_login("dave").await;
    let t = up["id_token"].as_str().unwrap();
    assert_eq!(decode(t).claims["email_verified"], false);
    let r = s.exchange_bearer(t, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "claim condition", &[t]);
    assert!(r.str("error_description").contains("email_verified"));
}

#[tokio::test]
async fn rejects_replay() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    s.exchange_bearer(&up, &[]).await.assert_ok();
    let r = s.exchange_bearer(&up, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&up]);
    // Also through the other door: one-time use is the engine's, not the adapter's.
    let r = s.token_exchange(&up, TT_ID_TOKEN).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&up]);
}

// --- refusals of the request itself ---

#[tokio::test]
async fn rejects_unknown_provider_parameter() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    let r = s.exchange_bearer(&up, &[("provider", "nope")]).await;
    assert_oauth_error(&r, 400, "invalid_request", "no provider named \"nope\"", &[&up]);
    let r = s
        .token_basic(&[
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("subject_token", up.as_str()),
            ("subject_token_type", TT_ID_TOKEN),
            ("provider", "nope"),
        ])
        .await;
    assert_oauth_error(&r, 400, "invalid_request", "no provider named \"nope\"", &[&up]);
}

#[tokio::test]
async fn rejects_missing_bearer() {
    let s = Server::custom(Opts::default()).await;
    let r = s.send(s.http.post(s.url("/auth/exchange"))).await;
    assert_oauth_error(&r, 400, "invalid_request", "Bearer", &[]);
    // Basic is not Bearer.
    let r = s.send(s.http.post(s.url("/auth/exchange")).basic_auth(DEMO_CLIENT, Some("x"))).await;
    assert_oauth_error(&r, 400, "invalid_request", "Bearer", &[]);
    // The RFC 8693 door without subject_token.
    let r = s.token_basic(&[("grant_type", GRANT_TOKEN_EXCHANGE), ("subject_token_type", TT_ID_TOKEN)]).await;
    assert_oauth_error(&r, 400, "invalid_request", "subject_token is missing", &[]);
}

#[tokio::test]
async fn rejects_duplicate_form_parameter() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    let body = format!(
        "grant_type=refresh_token&grant_type={}&subject_token={up}&subject_token_type={TT_ID_TOKEN}",
        GRANT_TOKEN_EXCHANGE
    );
    let r = s.post_raw_form("/oauth2/token", &body, true).await;
    assert_oauth_error(&r, 400, "invalid_request", "\"grant_type\" is given more than once", &[&up]);
    let body = format!("subject_token={up}&subject_token={up}&subject_token_type={TT_ID_TOKEN}");
    let r = s.post_raw_form("/oauth2/token", &body, true).await;
    assert_oauth_error(&r, 400, "invalid_request", "more than once", &[&up]);
    // /auth/exchange parses its form the same way.
    let r = s
        .send(
            s.http
                .post(s.url("/auth/exchange"))
                .bearer_auth(&up)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("provider=demo&provider=demo"),
        )
        .await;
    assert_oauth_error(&r, 400, "invalid_request", "more than once", &[&up]);
}

#[tokio::test]
async fn rejects_unsupported_grant_type() {
    let s = Server::custom(Opts::default()).await;
    for g in ["password", "client_credentials", "authorization_code"] {
        let r = s.token_basic(&[("grant_type", g)]).await;
        assert_oauth_error(&r, 400, "unsupported_grant_type", "not supported", &[]);
    }
    let r = s.token_basic(&[]).await;
    assert_oauth_error(&r, 400, "invalid_request", "grant_type is missing", &[]);
}

#[tokio::test]
async fn rejects_unsupported_subject_token_type() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    let saml = "urn:ietf:params:oauth:token-type:saml2";
    let r = s.token_exchange(&up, saml).await;
    assert_oauth_error(&r, 400, "unsupported_token_type", "not supported", &[&up]);
    let r = s.exchange_bearer(&up, &[("subject_token_type", saml)]).await;
    assert_oauth_error(&r, 400, "unsupported_token_type", "not supported", &[&up]);
}

#[tokio::test]
async fn rejects_invalid_client_secret() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    let form =
        [("grant_type", GRANT_TOKEN_EXCHANGE), ("subject_token", up.as_str()), ("subject_token_type", TT_ID_TOKEN)];
    let wrong = "not-the-secret";
    let r = s.send(s.http.post(s.url("/oauth2/token")).basic_auth(DEMO_CLIENT, Some(wrong)).form(&form)).await;
    assert_oauth_error(&r, 401, "invalid_client", "does not match", &[&up, wrong]);
    let www = r.header("www-authenticate").expect("WWW-Authenticate on 401");
    assert!(www.starts_with("Basic "), "{www}");
    assert!(www.contains("error=\"invalid_client\""), "{www}");
    // The same by form, and with no secret at all for a confidential client.
    let mut f = form.to_vec();
    f.extend([("client_id", DEMO_CLIENT), ("client_secret", wrong)]);
    let r = s.send(s.http.post(s.url("/oauth2/token")).form(&f)).await;
    assert_oauth_error(&r, 401, "invalid_client", "does not match", &[&up, wrong]);
    assert!(r.header("www-authenticate").is_some());
    let mut f = form.to_vec();
    f.push(("client_id", DEMO_CLIENT));
    let r = s.send(s.http.post(s.url("/oauth2/token")).form(&f)).await;
    assert_oauth_error(&r, 401, "invalid_client", "secret is required", &[&up]);
    // Unknown client.
    let r = s.send(s.http.post(s.url("/oauth2/token")).basic_auth("nobody", Some(wrong)).form(&form)).await;
    assert_oauth_error(&r, 401, "invalid_client", "unknown client", &[&up, wrong]);
    // /auth/exchange refuses a wrong secret too.
    let r = s.exchange_bearer(&up, &[("client_id", DEMO_CLIENT), ("client_secret", wrong)]).await;
    assert_oauth_error(&r, 401, "invalid_client", "does not match", &[&up, wrong]);
    // None of the refusals consumed the upstream token.
    s.token_exchange(&up, TT_ID_TOKEN).await.assert_ok();
}

#[tokio::test]
async fn rejects_client_not_allowed_the_provider() {
    let idp = TestIdp::start().await;
    let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await;
    // `demo-only` accepts the demo provider only; a token of the `test` provider is refused.
    let up = idp.token(&idp.claims("alice@example.com", s.now()));
    let form =
        [("grant_type", GRANT_TOKEN_EXCHANGE), ("subject_token", up.as_str()), ("subject_token_type", TT_ID_TOKEN)];
    let r = s
        .send(s.http.post(s.url("/oauth2/token")).basic_auth(DEMO_ONLY_CLIENT, Some(DEMO_ONLY_SECRET)).form(&form))
        .await;
    assert_oauth_error(&r, 400, "unauthorized_client", "does not accept provider \"test\"", &[&up]);
    let r = s.exchange_bearer(&up, &[("client_id", DEMO_ONLY_CLIENT), ("client_secret", DEMO_ONLY_SECRET)]).await;
    assert_oauth_error(&r, 400, "unauthorized_client", "does not accept provider \"test\"", &[&up]);
    // The client that lists the provider gets tokens for the very same upstream token.
    s.token_exchange(&up, TT_ID_TOKEN).await.assert_ok();
}

#[tokio::test]
async fn rejects_replay_inside_the_expiry_leeway() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    let exp = decode(&up).claims["exp"].as_i64().unwrap();
    s.exchange_bearer(&up, &[]).await.assert_ok();
    // Past `exp` but inside the provider's 60 s leeway the token is still accepted as valid,
    // so its one-time-use marker must still be there too.
    s.clock.set(exp + 30);
    let r = s.exchange_bearer(&up, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&up]);
    s.clock.set(exp);
    let r = s.exchange_bearer(&up, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&up]);
}

#[tokio::test]
async fn narrows_scope_and_checks_audience() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    let r = s.exchange_bearer(&up, &[("scope", "admin openid")]).await;
    assert_oauth_error(&r, 400, "invalid_scope", "scope \"admin\" is not allowed", &[&up]);
    let r = s.exchange_bearer(&up, &[("audience", "https://api.elsewhere.example")]).await;
    assert_oauth_error(&r, 400, "invalid_target", "audience", &[&up]);
    let r = s.exchange_bearer(&up, &[("requested_token_type", "urn:ietf:params:oauth:token-type:saml2")]).await;
    assert_oauth_error(&r, 400, "invalid_request", "requested_token_type", &[&up]);
    let r = s
        .token_basic(&[
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("subject_token", up.as_str()),
            ("subject_token_type", TT_ID_TOKEN),
            ("actor_token", "someone"),
            ("actor_token_type", TT_ACCESS_TOKEN),
        ])
        .await;
    assert_oauth_error(&r, 400, "invalid_request", "actor_token", &[&up]);
    // A narrower scope is granted as asked, to the issuer or the client as audience.
    let r = s.exchange_bearer(&up, &[("scope", "openid email"), ("audience", DEMO_CLIENT)]).await;
    r.assert_ok();
    assert_eq!(r.json["scope"], "openid email");
    assert_eq!(decode(r.str("access_token")).claims["scope"], "openid email");
}

#[tokio::test]
async fn demo_upstream_sign_ins_in_the_same_second_are_distinct() {
    let s = Server::custom(Opts::default()).await;
    let first = s.upstream_login("alice").await;
    let second = s.upstream_login("alice").await;
    assert_ne!(first["id_token"], second["id_token"], "two sign-ins, two id tokens");
    s.exchange_bearer(first["id_token"].as_str().unwrap(), &[]).await.assert_ok();
    s.exchange_bearer(second["id_token"].as_str().unwrap(), &[]).await.assert_ok();
}

#[tokio::test]
async fn invalid_client_401_always_carries_www_authenticate() {
    let s = Server::custom(Opts::default()).await;
    let r = s
        .send(
            s.http
                .post(s.url("/oauth2/token"))
                .basic_auth("d\u{e9}mo-web", Some("secret"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")]),
        )
        .await;
    assert_oauth_error(&r, 401, "invalid_client", "unknown client", &[]);
    let www = r.header("www-authenticate").expect("RFC 6749 §5.2: a 401 carries WWW-Authenticate");
    assert!(www.starts_with("Basic "), "{www}");
}

#[tokio::test]
async fn auth_exchange_requires_the_secret_of_a_named_confidential_client() {
    let s = Server::custom(Opts::default()).await;
    let up = s.fresh_id_token("alice");
    let r = s.exchange_bearer(&up, &[("client_id", DEMO_ONLY_CLIENT)]).await;
    assert_oauth_error(&r, 401, "invalid_client", "secret is required", &[&up]);
}
