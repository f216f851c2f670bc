//! Forward-auth (Traefik, nginx and Envoy styles): allowed requests with identity headers, each
//! denial reason, routes restricting networks, clients and hosts, and upstream-token routes.

use super::*;

// --- forward-auth: allow ---

#[tokio::test]
async fn forward_auth_allows_with_identity_headers() {
    let s = Server::demo().await;
    let alice = access_token(&s.sign_in("alice").await);
    let bob = access_token(&s.sign_in("bob").await);

    // Traefik / Caddy: X-Forwarded-Method and X-Forwarded-Uri.
    let r = forward(&s, Some(&alice), "GET", HELLO).await;
    assert_alice(&s, &r).await;
    assert!(r.header("x-request-id").is_some_and(|id| !id.is_empty()));
    assert!(r.header("www-authenticate").is_none());
    assert_alice(&s, &forward(&s, Some(&alice), "POST", &format!("{ORDERS}?draft=1")).await).await;
    // The forwarded method is what is decided on: bob may list orders, not place them.
    let r = forward(&s, Some(&bob), "GET", ORDERS).await;
    r.assert_ok();
    assert_eq!(r.header("x-auth-username"), Some("bob"));
    assert_eq!(r.header("x-auth-groups"), Some("readers"));
    assert_eq!(forward(&s, Some(&bob), "POST", ORDERS).await.status, 403);

    // nginx auth_request: X-Original-URI and X-Original-Method.
    let nginx = |token: &str, method: &str| {
        s.http
            .get(s.url("/forward-auth"))
            .header("X-Original-Method", method)
            .header("X-Original-URI", ORDERS)
            .bearer_auth(token)
    };
    assert_alice(&s, &s.send(nginx(&alice, "POST")).await).await;
    s.send(nginx(&bob, "GET")).await.assert_ok();
    assert_eq!(s.send(nginx(&bob, "POST")).await.status, 403, "X-Original-Method is read");

    // Envoy ext_authz: the original path after the prefix, with the request's own method.
    assert_alice(&s, &s.send(s.http.get(s.url("/forward-auth/demo/api/hello")).bearer_auth(&alice)).await).await;
    assert_alice(&s, &s.send(s.http.post(s.url("/forward-auth/demo/api/orders")).bearer_auth(&alice)).await).await;
    let r = s.send(s.http.post(s.url("/forward-auth/demo/api/orders")).bearer_auth(&bob)).await;
    assert_denied(&s, &r, 403, "group", "\"bob\" is in readers", &[&bob]).await;
    let r = s.send(s.http.get(s.url("/forward-auth/demo/api/orders?page=2")).bearer_auth(&bob)).await;
    r.assert_ok();
    assert_eq!(r.header("x-auth-username"), Some("bob"));
}

#[tokio::test]
async fn client_sent_original_request_headers_that_disagree_are_refused() {
    let s = Server::demo().await;
    // nginx passes the client's own headers to the subrequest: a client adding X-Forwarded-Uri
    // must not choose the path decided on (here: the public /healthz instead of the orders).
    let sneaky = s
        .http
        .get(s.url("/forward-auth"))
        .header("X-Original-Method", "POST")
        .header("X-Original-URI", ORDERS)
        .header("X-Forwarded-Uri", "/healthz");
    let r = s.send(sneaky).await;
    assert_denied(&s, &r, 403, "request", "x-forwarded-uri and x-original-uri disagree", &[]).await;
    // Envoy style: the appended path and a header disagree.
    let r = s.send(s.http.post(s.url("/forward-auth/demo/api/orders")).header("X-Forwarded-Uri", "/healthz")).await;
    assert_denied(&s, &r, 403, "request", "disagree about the original request", &[]).await;
    let r = s
        .send(
            s.http.get(s.url("/forward-auth")).header("X-Forwarded-Method", "GET").header("X-Original-Method", "POST"),
        )
        .await;
    assert_denied(&s, &r, 403, "request", "x-forwarded-method and x-original-method disagree", &[]).await;
    // The same value twice is not a conflict.
    let same =
        s.http.get(s.url("/forward-auth")).header("X-Original-URI", "/healthz").header("X-Forwarded-Uri", "/healthz");
    s.send(same).await.assert_ok();
}

#[tokio::test]
async fn public_route_needs_no_token_and_paths_are_normalized() {
    let s = Server::demo().await;
    let bob = access_token(&s.sign_in("bob").await);

    let r = forward(&s, None, "GET", "/healthz").await;
    r.assert_ok();
    assert_eq!(r.header("x-auth-username"), Some(""), "a public route has no caller");
    forward(&s, None, "GET", "/healthz?next=/demo/api/orders").await.assert_ok();

    // `..` is resolved before matching: this is POST /demo/api/orders, not the public /healthz.
    let r = forward(&s, None, "POST", "/healthz/../demo/api/orders").await;
    let e = assert_denied(&s, &r, 401, "token", "route \"demo place order\" needs a bearer token", &[]).await;
    assert_eq!(checks(&e), [("route", Outcome::Pass), ("token", Outcome::Fail)]);
    assert_eq!(detail(&e, "route"), "POST /demo/api/orders matches route \"demo place order\"");
    let r = forward(&s, Some(&bob), "POST", "/healthz/../demo/api/orders").await;
    assert_denied(&s, &r, 403, "group", "needs one of groups admins", &[&bob]).await;
    // Empty and `.` segments too.
    forward(&s, Some(&bob), "GET", "//demo/./api//orders/").await.assert_ok();

    // A path that cannot be read, or that servers read differently (escaped dots), is refused
    // as a bad request, not guessed at (more in security/forward_auth_paths.rs).
    for (path, why) in [
        ("/demo/api/%zz", "malformed percent-escape"),
        ("/demo/api/a%00b", "control character"),
        ("/healthz/%2e%2e/demo/api/orders", "escaped dot segment"),
    ] {
        let r = forward(&s, Some(&bob), "GET", path).await;
        assert_oauth_error(&r, 400, "invalid_request", why, &[&bob]);
        let e = explained(&s, &r).await;
        assert_eq!(checks(&e), [("request", Outcome::Fail)]);
        assert!(detail(&e, "request").contains(why));
    }
}

// --- forward-auth: each denial reason ---

#[tokio::test]
async fn missing_token_gets_a_bare_challenge() {
    let s = Server::demo().await;
    let r = forward(&s, None, "GET", HELLO).await;
    let e = assert_denied(&s, &r, 401, "token", "route \"demo hello\" needs a bearer token; the request has none", &[])
        .await;
    assert_eq!(checks(&e), [("route", Outcome::Pass), ("token", Outcome::Fail)]);
    assert_eq!(e.event_source, "authorizer.tokenbridge");
    assert_eq!(e.source_ip_address, "127.0.0.1");
    assert_eq!(e.user_name, None);
    let rec = &s.audit_of(r.request_id()).await[0].record;
    assert_eq!(rec["requestParameters"]["httpMethod"], "GET");
    assert_eq!(rec["requestParameters"]["path"], HELLO);
    assert_eq!(rec["requestParameters"]["route"], "demo hello");
    assert_eq!(rec["userIdentity"]["type"], "Unknown");
    // An empty Authorization value is no token either.
    let r = s
        .send(s.http.get(s.url("/forward-auth")).header("X-Forwarded-Uri", HELLO).header("Authorization", "Bearer   "))
        .await;
    assert_denied(&s, &r, 401, "token", "needs a bearer token", &[]).await;
}

#[tokio::test]
async fn bad_tokens_are_invalid_token_naming_the_check() {
    let s = Server::demo().await;
    let body = s.sign_in("alice").await;
    let at = access_token(&body);

    let garbage = "garbage-garbage-garbage-garbage";
    let r = forward(&s, Some(garbage), "GET", HELLO).await;
    let e = assert_denied(&s, &r, 401, "token kind", "the bearer token is not a JWT", &[garbage]).await;
    assert_eq!(checks(&e), [("route", Outcome::Pass), ("token kind", Outcome::Fail)]);
    // The record names the token by a digest only.
    let rec = &s.audit_of(r.request_id()).await[0].record;
    assert!(rec["requestParameters"]["token"].as_str().is_some_and(|t| t.starts_with("sha256:")), "{rec}");
    assert!(!rec.to_string().contains(garbage));

    let foreign = format!("{}.{}.c2ln", b64json(&json!({"alg": "none"})), b64json(&json!({"sub": "x"})));
    let r = forward(&s, Some(&foreign), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "token kind", "the bearer token is a JWT of another issuer", &[&foreign]).await;

    let tampered = flip_signature_byte(&at);
    let r = forward(&s, Some(&tampered), "GET", HELLO).await;
    let e = assert_denied(&s, &r, 401, "signature", "does not verify", &[&tampered]).await;
    assert_eq!(checks(&e), [("route", Outcome::Pass), ("signature", Outcome::Fail)]);

    // This issuer's claims, signed by a key it never published.
    let claims = Value::Object(decode(&at).claims.clone());
    let rogue = Signer::from_pkcs8(KeyAlgorithm::RS256, "rogue-kid".into(), attacker_key_pkcs8()).expect("key");
    let forged = sign_with_header(&rogue, &json!({"alg": "RS256", "kid": "rogue-kid", "typ": "JWT"}), &claims);
    let r = forward(&s, Some(&forged), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "kid", "token signed by kid rogue-kid which is not in the current JWKS", &[&forged])
        .await;
    let no_kid = sign_with_header(&rogue, &json!({"alg": "RS256", "typ": "JWT"}), &claims);
    let r = forward(&s, Some(&no_kid), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "kid", "token has no kid", &[&no_kid]).await;
    let hs = format!("{}.{}.c2ln", b64json(&json!({"alg": "HS256", "kid": "x"})), b64json(&claims));
    let r = forward(&s, Some(&hs), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "algorithm", "algorithm \"HS256\" is not one this issuer signs with", &[&hs]).await;

    // This issuer's id token is not an access token.
    let id_token = body["id_token"].as_str().unwrap();
    let r = forward(&s, Some(id_token), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "token_use", "token_use is \"id\", expected \"access\"", &[id_token]).await;

    // An upstream token where this issuer's access token is wanted.
    let up = s.fresh_id_token("alice");
    let r = forward(&s, Some(&up), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "token kind", "the bearer token is a token of upstream provider \"demo\"", &[&up]).await;
    // ... and this issuer's access token where an upstream token is wanted.
    let r = forward(&s, Some(&at), "POST", "/auth/exchange").await;
    assert_denied(
        &s,
        &r,
        401,
        "token kind",
        "route \"exchange (upstream token)\" takes upstream provider tokens; this is this issuer's own token",
        &[&at],
    )
    .await;

    // The good token still passes: none of the above poisoned anything.
    assert_alice(&s, &forward(&s, Some(&at), "GET", HELLO).await).await;
}

#[tokio::test]
async fn expired_token_is_denied_by_the_servers_clock() {
    let s = Server::demo().await;
    let at = access_token(&s.sign_in("alice").await);
    let exp = decode(&at).claims["exp"].as_i64().unwrap();
    // Verified (and cached) while valid.
    forward(&s, Some(&at), "GET", HELLO).await.assert_ok();
    s.clock.set(exp - 1);
    forward(&s, Some(&at), "GET", HELLO).await.assert_ok();
    s.clock.set(exp + 42);
    let r = forward(&s, Some(&at), "GET", HELLO).await;
    let e = assert_denied(&s, &r, 401, "expiry", "token expired 42 s ago", &[&at]).await;
    assert_eq!(checks(&e), [("route", Outcome::Pass), ("expiry", Outcome::Fail)]);
    // Who it was is not known: an expired token proves nothing.
    assert_eq!(e.user_name, None);
}

#[tokio::test]
async fn unknown_route_is_denied_by_default() {
    let s = Server::demo().await;
    let at = access_token(&s.sign_in("alice").await);
    for (method, path) in [("GET", "/demo/api/nothing"), ("DELETE", HELLO), ("PUT", ORDERS), ("GET", "/")] {
        let r = forward(&s, Some(&at), method, path).await;
        let needle = format!("no route covers {method} {path} (default action: deny)");
        let e = assert_denied(&s, &r, 403, "route", &needle, &[&at]).await;
        assert_eq!(checks(&e), [("route", Outcome::Fail)], "decided before the token is looked at");
    }
    // Also without a token: there is nothing a token could change.
    let r = forward(&s, None, "GET", "/demo/api/nothing").await;
    assert_denied(&s, &r, 403, "route", "no route covers GET /demo/api/nothing", &[]).await;
}

#[tokio::test]
async fn missing_scope_and_missing_group_are_insufficient_scope() {
    let s = Server::demo().await;
    // A token narrowed by RFC 8693 `scope`.
    let narrow = access_token(&exchange_with_scope(&s, "alice", "openid").await);
    let r = forward(&s, Some(&narrow), "POST", ORDERS).await;
    let e = assert_denied(
        &s,
        &r,
        403,
        "scope",
        "route \"demo place order\" needs scope orders:write; token has openid",
        &[&narrow],
    )
    .await;
    assert_eq!(
        checks(&e),
        [
            ("route", Outcome::Pass),
            ("signature", Outcome::Pass),
            ("expiry", Outcome::Pass),
            ("revocation", Outcome::Pass),
            ("scope", Outcome::Fail)
        ]
    );
    assert_eq!(e.user_name.as_deref(), Some("alice"), "the verified caller is on the record");
    let www = r.header("www-authenticate").unwrap();
    assert!(www.contains("needs scope orders:write; token has openid"), "{www}");
    let r = forward(&s, Some(&narrow), "GET", ORDERS).await;
    assert_denied(&s, &r, 403, "scope", "needs scope orders:read; token has openid", &[&narrow]).await;
    // Any access token will do for hello.
    let r = forward(&s, Some(&narrow), "GET", HELLO).await;
    r.assert_ok();
    assert_eq!(r.header("x-auth-scopes"), Some("openid"));

    // Every scope, but not in the group.
    let bob = access_token(&s.sign_in("bob").await);
    let r = forward(&s, Some(&bob), "POST", ORDERS).await;
    let e = assert_denied(
        &s,
        &r,
        403,
        "group",
        "route \"demo place order\" needs one of groups admins; \"bob\" is in readers",
        &[&bob],
    )
    .await;
    assert_eq!(detail(&e, "scope"), "has orders:write");
    assert_eq!(e.user_name.as_deref(), Some("bob"));
    // Erin is in no group at all.
    let erin = access_token(&s.sign_in("erin").await);
    let r = forward(&s, Some(&erin), "POST", ORDERS).await;
    assert_denied(&s, &r, 403, "group", "\"erin\" is in none", &[&erin]).await;
}

#[tokio::test]
async fn revoked_session_is_denied_at_once_even_when_cached() {
    let s = audited_server(|_| {}).await;
    let body = s.sign_in("alice").await;
    let at = access_token(&body);
    let rt = body["refresh_token"].as_str().unwrap();

    assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;
    let e = assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, true).await;
    assert!(detail(&e, "token").starts_with("access token verified 0 s ago"), "{:?}", e.steps);

    let r = s.post_form_basic("/oauth2/revoke", &[("token", rt), ("token_type_hint", "refresh_token")]).await;
    r.assert_ok();
    // Same instant on the server's clock: only the revocation changed.
    let r = forward(&s, Some(&at), "GET", HELLO).await;
    let e = assert_denied(&s, &r, 401, "revocation", "the token's sign-in session was revoked", &[&at]).await;
    assert_eq!(
        checks(&e),
        [
            ("route", Outcome::Pass),
            ("signature", Outcome::Pass),
            ("expiry", Outcome::Pass),
            ("revocation", Outcome::Fail)
        ]
    );
    // Another session of the same user is untouched.
    let other = access_token(&s.sign_in("alice").await);
    assert_alice(&s, &forward(&s, Some(&other), "GET", HELLO).await).await;
}

#[tokio::test]
async fn refresh_token_replay_ends_cached_access_at_once() {
    let s = audited_server(|_| {}).await;
    let body = s.sign_in("alice").await;
    let at = access_token(&body);
    let rt = body["refresh_token"].as_str().unwrap();
    assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, false).await;
    assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, true).await;

    // Rotation keeps the session; replaying the rotated-out token once its successor was used
    // (so no retry within the reuse grace) ends it: theft is assumed.
    let next = s.refresh(rt).await;
    next.assert_ok();
    s.refresh(next.str("refresh_token")).await.assert_ok();
    assert_allowed_record(&s, &forward(&s, Some(&at), "GET", HELLO).await, true).await;
    let r = s.refresh(rt).await;
    assert_oauth_error(&r, 400, "invalid_grant", "already used", &[rt]);
    let r = forward(&s, Some(&at), "GET", HELLO).await;
    assert_denied(&s, &r, 401, "revocation", "the token's sign-in session was revoked", &[&at]).await;
}

// --- forward-auth: routes needing configuration the demo lacks ---

#[tokio::test]
async fn routes_restrict_networks_clients_and_hosts() {
    let s = Server::custom(Opts {
        configure: Some(Box::new(|cfg: &mut Config| {
            let route = |name: &str, path: &str| RouteConfig {
                name: Some(name.into()),
                path: path.into(),
                ..Default::default()
            };
            cfg.authorizer.routes.extend([
                RouteConfig { networks: vec!["10.0.0.0/8".into()], ..route("internal", "/internal/**") },
                RouteConfig { networks: vec!["127.0.0.0/8".into(), "::1/128".into()], ..route("local", "/local/**") },
                RouteConfig { clients: vec![DEMO_ONLY_CLIENT.into()], ..route("partner", "/partner/{id}") },
                RouteConfig { hosts: vec!["api.example.com".into()], ..route("api host", "/hosted") },
            ]);
        })),
        ..Default::default()
    })
    .await;
    let alice = access_token(&s.sign_in("alice").await);

    // Networks: checked before the token.
    let r = forward(&s, Some(&alice), "GET", "/internal/x").await;
    let e = assert_denied(
        &s,
        &r,
        403,
        "network",
        "route \"internal\" accepts sources in 10.0.0.0/8; request came from \"127.0.0.1\"",
        &[&alice],
    )
    .await;
    assert_eq!(checks(&e), [("route", Outcome::Pass), ("network", Outcome::Fail)]);
    let r = forward(&s, None, "GET", "/internal/x").await;
    assert_denied(&s, &r, 403, "network", "accepts sources in 10.0.0.0/8", &[]).await;
    let r = forward(&s, Some(&alice), "GET", "/local/x").await;
    assert_alice(&s, &r).await;
    // The API Gateway event's source address is the one decided on.
    let event = |ip: &str| {
        json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/internal/x",
            "httpMethod": "GET",
            "path": "/internal/x",
            "headers": { "Authorization": format!("Bearer {alice}") },
            "requestContext": { "identity": { "sourceIp": ip } },
        })
    };
    let r = apigw(&s, &event("10.20.30.40")).await;
    r.assert_ok();
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Allow", "{}", r.text);
    let r = apigw(&s, &event("192.0.2.1")).await;
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Deny", "{}", r.text);
    assert_eq!(r.json["context"]["status"], 403);
    let e = Explanation::from_record(&s.audit_of(r.json["context"]["request_id"].as_str().unwrap()).await[0]);
    assert_eq!((e.first_failure, e.source_ip_address.as_str()), (Some(2), "192.0.2.1"));
    assert_eq!(e.steps[1].check, "network");

    // Clients.
    let r = forward(&s, Some(&alice), "GET", "/partner/7").await;
    let e = assert_denied(
        &s,
        &r,
        403,
        "client",
        "route \"partner\" accepts clients demo-only; token is client \"demo-web\"'s",
        &[&alice],
    )
    .await;
    // Verified earlier in this test: the cached verification still faces the route's demands.
    assert_eq!(checks(&e), [("route", Outcome::Pass), ("token", Outcome::Pass), ("client", Outcome::Fail)]);
    let up = s.fresh_id_token("bob");
    let r = s
        .send(s.http.post(s.url("/oauth2/token")).basic_auth(DEMO_ONLY_CLIENT, Some(DEMO_ONLY_SECRET)).form(&[
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("subject_token", up.as_str()),
            ("subject_token_type", TT_ID_TOKEN),
        ]))
        .await;
    r.assert_ok();
    let partner = r.str("access_token").to_string();
    let r = forward(&s, Some(&partner), "GET", "/partner/7").await;
    r.assert_ok();
    assert_eq!(r.header("x-auth-client-id"), Some(DEMO_ONLY_CLIENT));
    assert_eq!(r.header("x-auth-username"), Some("bob"));
    assert_eq!(r.header("x-auth-scopes"), Some("openid email"));

    // Hosts: X-Forwarded-Host, port ignored; otherwise the Host header.
    let hosted = |host: Option<&str>| {
        let mut req = s.http.get(s.url("/forward-auth")).header("X-Forwarded-Uri", "/hosted").bearer_auth(&alice);
        if let Some(h) = host {
            req = req.header("X-Forwarded-Host", h);
        }
        s.send(req)
    };
    assert_alice(&s, &hosted(Some("api.example.com:443")).await).await;
    let r = hosted(Some("other.example.com")).await;
    assert_denied(&s, &r, 403, "route", "no route covers GET /hosted", &[&alice]).await;
    let r = hosted(None).await;
    assert_denied(&s, &r, 403, "route", "no route covers GET /hosted", &[&alice]).await;
}

#[tokio::test]
async fn default_action_authenticated_admits_any_valid_access_token() {
    let s = audited_server(|cfg| cfg.authorizer.default_action = DefaultAction::Authenticated).await;
    let alice = access_token(&s.sign_in("alice").await);

    let r = forward(&s, Some(&alice), "DELETE", "/anything/else").await;
    assert_alice(&s, &r).await;
    let e = assert_allowed_record(&s, &r, false).await;
    assert_eq!(detail(&e, "route"), "no route covers DELETE /anything/else; default action: any valid access token");
    let rec = &s.audit_of(r.request_id()).await[0].record;
    assert_eq!(rec["requestParameters"]["route"], "default (any valid access token)");
    assert_eq!(rec["userIdentity"]["userName"], "alice");
    assert_eq!(rec["responseElements"]["decision"], "allow");

    // Still a valid token of this issuer, and still the configured routes first.
    let r = forward(&s, None, "GET", "/anything/else").await;
    assert_denied(&s, &r, 401, "token", "route \"default (any valid access token)\" needs a bearer token", &[]).await;
    let up = s.fresh_id_token("alice");
    let r = forward(&s, Some(&up), "GET", "/anything/else").await;
    assert_denied(&s, &r, 401, "token kind", "a token of upstream provider \"demo\"", &[&up]).await;
    let bob = access_token(&s.sign_in("bob").await);
    let r = forward(&s, Some(&bob), "POST", ORDERS).await;
    assert_denied(&s, &r, 403, "group", "needs one of groups admins", &[&bob]).await;
}

// --- upstream tokens ---

#[tokio::test]
async fn upstream_token_route_admits_without_consuming_the_token() {
    let s = Server::demo().await;
    let up = s.fresh_id_token("alice");
    let claims = decode(&up).claims.clone();

    let r = forward(&s, Some(&up), "POST", "/auth/exchange").await;
    r.assert_ok();
    assert_eq!(r.header("x-auth-username"), Some(person("alice").upstream_username));
    assert_eq!(r.header("x-auth-subject"), claims["sub"].as_str());
    assert_eq!(r.header("x-auth-client-id"), Some(UPSTREAM_CLIENT));
    assert_eq!(r.header("x-auth-groups"), Some(""));
    // Twice (the second from the cache): a gateway may ask again for a retried request.
    forward(&s, Some(&up), "POST", "/auth/exchange").await.assert_ok();
    let r = s.send(s.http.post(s.url("/forward-auth/auth/exchange")).bearer_auth(&up)).await;
    r.assert_ok();
    assert_eq!(r.header("x-auth-username"), Some(person("alice").upstream_username));

    // Authorizing did not burn the one-time token: the exchange behind the gateway still works,
    // once.
    let r = s.exchange_bearer(&up, &[]).await;
    r.assert_ok();
    assert_eq!(decode(r.str("access_token")).claims["username"], "alice");
    let r = s.exchange_bearer(&up, &[]).await;
    assert_oauth_error(&r, 400, "invalid_grant", "token already used", &[&up]);

    // Only POST is covered by that route.
    let r = forward(&s, Some(&up), "GET", "/auth/exchange").await;
    assert_denied(&s, &r, 403, "route", "no route covers GET /auth/exchange", &[&up]).await;
}

#[tokio::test]
async fn upstream_token_route_checks_the_provider() {
    let idp = TestIdp::start().await;
    let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await;

    // A valid token of the configured provider `test`, but the route accepts only `demo`.
    let t = idp.token(&idp.claims("alice@example.com", s.now()));
    let r = forward(&s, Some(&t), "POST", "/auth/exchange").await;
    let e = assert_denied(
        &s,
        &r,
        401,
        "provider",
        "route \"exchange (upstream token)\" accepts providers demo; the token is from \"test\"",
        &[&t],
    )
    .await;
    assert_eq!(checks(&e), [("route", Outcome::Pass), ("provider", Outcome::Fail)]);
    // An issuer no provider has.
    let stranger = sign_with_header(
        &idp.key,
        &json!({"alg": "RS256", "kid": TEST_KID}),
        &json!({"iss": "https://stranger.example", "sub": "x", "exp": s.now() + 60}),
    );
    let r = forward(&s, Some(&stranger), "POST", "/auth/exchange").await;
    assert_denied(
        &s,
        &r,
        401,
        "provider",
        "no configured provider has issuer \"https://stranger.example\"",
        &[&stranger],
    )
    .await;
    // A demo token that fails the provider's own checks: signature, then expiry.
    let up = s.fresh_id_token("alice");
    let bad = flip_signature_byte(&up);
    let r = forward(&s, Some(&bad), "POST", "/auth/exchange").await;
    let e = assert_denied(&s, &r, 401, "signature", "does not verify", &[&bad]).await;
    assert_eq!(detail(&e, "provider"), "demo");
    s.clock.advance(3600 + 61);
    let r = forward(&s, Some(&up), "POST", "/auth/exchange").await;
    assert_denied(&s, &r, 401, "expiry", "expired", &[&up]).await;
}
