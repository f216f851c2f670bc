//! The authorizer over real HTTP: forward-auth (Traefik, nginx and Envoy styles), the API Gateway
//! authorizer format, the demo API and the admin audit API, all asking the one decision of the
//! real server. Every denial reason is provoked and found again in its audit record by the
//! request id the caller was given, with the check that failed first; the token cache is
//! watched through the trail of allowed decisions and moved with the server's manual clock.

mod common;

use common::*;
use serde_json::{json, Value};
use tokenbridge_core::audit::Explanation;
use tokenbridge_core::authorizer::rules::{DefaultAction, RouteConfig};
use tokenbridge_core::clock::rfc3339;
use tokenbridge_core::config::Config;
use tokenbridge_core::jose::Signer;
use tokenbridge_core::model::KeyAlgorithm;
use tokenbridge_core::trail::Outcome;

const HELLO: &str = "/demo/api/hello";
const ORDERS: &str = "/demo/api/orders";
const ALL_SCOPES: &str = "openid email profile orders:read orders:write";
const HELLO_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/demo/api/hello";
const ORDERS_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/demo/api/orders";

// --- helpers ---

fn access_token(body: &Value) -> String {
    body["access_token"].as_str().unwrap_or_else(|| panic!("no access_token in {body}")).to_string()
}

/// The refresh family (`origin_jti`) an access token belongs to.
fn family_of(access_token: &str) -> String {
    decode(access_token).claims["origin_jti"].as_str().expect("origin_jti").to_string()
}

/// Forward-auth as Traefik and Caddy ask: the original request in `X-Forwarded-Method` and
/// `X-Forwarded-Uri`.
async fn forward(s: &Server, token: Option<&str>, method: &str, uri: &str) -> Resp {
    let mut req =
        s.http.get(s.url("/forward-auth")).header("X-Forwarded-Method", method).header("X-Forwarded-Uri", uri);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    s.send(req).await
}

/// `POST /authorizer` with an API Gateway event.
async fn apigw(s: &Server, event: &Value) -> Resp {
    s.send(s.http.post(s.url("/authorizer")).json(event)).await
}

/// An RFC 8693 exchange at `/oauth2/token` of a fresh demo id token, narrowed to `scope`.
async fn exchange_with_scope(s: &Server, username: &str, scope: &str) -> Value {
    let up = s.fresh_id_token(username);
    let r = s
        .token_basic(&[
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("subject_token", up.as_str()),
            ("subject_token_type", TT_ID_TOKEN),
            ("scope", scope),
        ])
        .await;
    r.assert_ok();
    assert_eq!(r.json["scope"], scope, "{}", r.text);
    r.json
}

/// The one audit record a response's request id finds, as `audit explain` tells it.
async fn explained(s: &Server, r: &Resp) -> Explanation {
    let records = s.audit_of(r.request_id()).await;
    assert_eq!(records.len(), 1, "one audit record for request {}: {records:?}", r.request_id());
    Explanation::from_record(&records[0])
}

/// (check, outcome) of every step, for comparing whole trails.
fn checks(e: &Explanation) -> Vec<(&str, Outcome)> {
    e.steps.iter().map(|s| (s.check.as_str(), s.outcome)).collect()
}

/// The detail of the first step named `check`.
fn detail<'a>(e: &'a Explanation, check: &str) -> &'a str {
    &e.steps.iter().find(|s| s.check == check).unwrap_or_else(|| panic!("no step {check:?} in {:?}", e.steps)).detail
}

/// A denial as the HTTP adapters answer it, and its audit record. Checks the status with its
/// `error` (401 `invalid_token`, 403 `insufficient_scope`), the RFC 6750 challenge (without an
/// `error` attribute when no token was presented, i.e. the failing check is `token`), the JSON
/// body with `request_id` equal to `x-request-id`, that no presented token leaks, and that the
/// request id finds one `Authorize` record whose first failing check is `check` (ending the
/// trail) with a detail containing `needle`, which is also the `error_description`.
async fn assert_denied(s: &Server, r: &Resp, status: u16, check: &str, needle: &str, secrets: &[&str]) -> Explanation {
    let error = match status {
        401 => "invalid_token",
        403 => "insufficient_scope",
        other => panic!("not a denial status: {other}"),
    };
    assert_oauth_error(r, status, error, needle, secrets);
    let www = r.header("www-authenticate").unwrap_or_else(|| panic!("no WWW-Authenticate on a {status}: {}", r.text));
    if check == "token" {
        assert_eq!(www, "Bearer realm=\"tokenbridge\"", "no token: the challenge names no error (RFC 6750 §3.1)");
    } else {
        let prefix = format!("Bearer realm=\"tokenbridge\", error=\"{error}\", error_description=\"");
        assert!(www.starts_with(&prefix), "challenge {www:?} does not start with {prefix:?}");
    }
    let e = explained(s, r).await;
    assert_eq!(e.event_name, "Authorize");
    assert_eq!(e.decision, "denied");
    assert_eq!(e.error_code.as_deref(), Some(error));
    assert_eq!(e.error_message.as_deref(), r.json["error_description"].as_str());
    let first = e.first_failure.unwrap_or_else(|| panic!("no failing step in {:?}", e.steps));
    assert_eq!(first, e.steps.len(), "the failing check ends the trail: {:?}", e.steps);
    let step = &e.steps[first - 1];
    assert_eq!(step.check, check, "first failing check; trail {:?}", e.steps);
    assert!(step.detail.contains(needle), "failing step {:?} does not say {needle:?}", step.detail);
    e
}

/// A forward-auth 200 for demo user alice with the demo client's full-scope token.
async fn assert_alice(s: &Server, r: &Resp) {
    r.assert_ok();
    let sub = s.user_id("alice").await;
    assert_eq!(r.header("x-auth-subject"), Some(sub.as_str()));
    assert_eq!(r.header("x-auth-username"), Some("alice"));
    assert_eq!(r.header("x-auth-groups"), Some("admins,readers"));
    assert_eq!(r.header("x-auth-client-id"), Some(DEMO_CLIENT));
    assert_eq!(r.header("x-auth-scopes"), Some(ALL_SCOPES));
}

/// The sum of a Prometheus counter's series carrying all of `labels`.
fn counter(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            let all = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            (n == name && all).then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

async fn decisions(s: &Server, decision: &str, cache: &str) -> f64 {
    let r = s.metrics().await;
    counter(&r.text, "tokenbridge_authz_decisions_total", &[("decision", decision), ("cache", cache)])
}

/// A custom server whose authorizer audits allowed decisions too, changed further by `more`.
async fn audited_server(more: impl FnOnce(&mut Config) + Send + 'static) -> Server {
    Server::custom(Opts {
        configure: Some(Box::new(move |cfg: &mut Config| {
            cfg.authorizer.audit_allows = true;
            more(cfg);
        })),
        ..Default::default()
    })
    .await
}

/// An allowed decision's record: `cached` tells whether the token step says it came from the cache.
async fn assert_allowed_record(s: &Server, r: &Resp, cached: bool) -> Explanation {
    r.assert_ok();
    let e = explained(s, r).await;
    assert_eq!((e.event_name.as_str(), e.decision, e.first_failure), ("Authorize", "allowed", None));
    let from_cache = e.steps.iter().any(|st| st.check == "token" && st.detail.contains("cached until"));
    let verified = e.steps.iter().any(|st| st.check == "signature" && st.outcome == Outcome::Pass);
    assert_eq!((from_cache, verified), (cached, !cached), "cached = {cached}; trail {:?}", e.steps);
    e
}

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
    // as a bad request, not guessed at (more in tests/security/forward_auth_paths.rs).
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

// --- the cache ---

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

// --- API Gateway authorizer format ---

#[tokio::test]
async fn apigw_events_of_each_shape_get_an_allow_policy() {
    let s = Server::demo().await;
    let at = access_token(&s.sign_in("alice").await);
    let sub = s.user_id("alice").await;

    // TOKEN.
    let r =
        apigw(&s, &json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {at}"), "methodArn": HELLO_ARN }))
            .await;
    r.assert_ok();
    assert_eq!(r.json["principalId"], sub.as_str());
    assert_eq!(
        r.json["policyDocument"],
        json!({
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": HELLO_ARN }],
        })
    );
    let c = &r.json["context"];
    assert_eq!(c["sub"], sub.as_str());
    assert_eq!(c["username"], "alice");
    assert_eq!(c["groups"], "admins,readers");
    assert_eq!(c["client_id"], DEMO_CLIENT);
    assert_eq!(c["scopes"], ALL_SCOPES);
    assert_eq!(c["token_kind"], "access");
    assert_eq!(c["route"], "demo hello");
    assert_eq!(c["request_id"], r.request_id());
    // Context values are strings, numbers or booleans only (what API Gateway passes on).
    assert!(c.as_object().unwrap().values().all(|v| !v.is_object() && !v.is_array()), "{c}");

    // REQUEST, REST API (payload 1.0 shape); header names in any case.
    let r = apigw(
        &s,
        &json!({
            "type": "REQUEST",
            "methodArn": ORDERS_ARN,
            "resource": "/demo/api/orders",
            "path": "/demo/api/orders",
            "httpMethod": "POST",
            "headers": { "authorization": format!("Bearer {at}"), "Host": "abc123.execute-api.us-east-1.amazonaws.com" },
            "queryStringParameters": null,
            "requestContext": { "identity": { "sourceIp": "203.0.113.9" }, "stage": "prod" },
        }),
    )
    .await;
    r.assert_ok();
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Allow", "{}", r.text);
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Resource"], ORDERS_ARN);
    assert_eq!(r.json["context"]["route"], "demo place order");
    assert_eq!(r.json["principalId"], sub.as_str());

    // HTTP API payload 2.0, the token from identitySource.
    let route_arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/$default/GET/demo/api/hello";
    let r = apigw(
        &s,
        &json!({
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": route_arn,
            "identitySource": [format!("Bearer {at}")],
            "routeKey": "GET /demo/api/hello",
            "rawPath": "/demo/api/hello",
            "rawQueryString": "lang=en",
            "headers": { "host": "abc123.execute-api.us-east-1.amazonaws.com" },
            "requestContext": { "http": { "method": "GET", "path": "/demo/api/hello", "sourceIp": "198.51.100.7" } },
        }),
    )
    .await;
    r.assert_ok();
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Allow", "{}", r.text);
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Resource"], route_arn);
    assert_eq!(r.json["context"]["username"], "alice");
    assert_eq!(r.json["context"]["route"], "demo hello");

    // A public route: allowed without a token, for an anonymous principal.
    let health_arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/healthz";
    let r = apigw(&s, &json!({ "type": "TOKEN", "authorizationToken": "", "methodArn": health_arn })).await;
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Allow", "{}", r.text);
    assert_eq!(r.json["principalId"], "anonymous");
}

#[tokio::test]
async fn apigw_denials_carry_status_reason_and_an_audited_request_id() {
    let s = Server::demo().await;
    let bob = access_token(&s.sign_in("bob").await);

    let r = apigw(
        &s,
        &json!({
            "type": "REQUEST",
            "methodArn": ORDERS_ARN,
            "path": "/demo/api/orders",
            "httpMethod": "POST",
            "headers": { "Authorization": format!("Bearer {bob}") },
            "requestContext": { "identity": { "sourceIp": "203.0.113.9" } },
        }),
    )
    .await;
    r.assert_ok();
    assert_eq!(r.json["principalId"], "anonymous");
    assert_eq!(
        r.json["policyDocument"]["Statement"][0],
        json!({ "Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ORDERS_ARN })
    );
    let c = &r.json["context"];
    assert_eq!(c["status"], 403);
    assert_eq!(c["error"], "insufficient_scope");
    assert_eq!(c["error_description"], "route \"demo place order\" needs one of groups admins; \"bob\" is in readers");
    assert_eq!(c["request_id"], r.request_id());
    assert!(!r.text.contains(&bob));
    let e = explained(&s, &r).await;
    assert_eq!((e.event_name.as_str(), e.event_source.as_str()), ("Authorize", "authorizer.tokenbridge"));
    assert_eq!(e.source_ip_address, "203.0.113.9", "the gateway's view of the client");
    assert_eq!(e.user_name.as_deref(), Some("bob"));
    assert_eq!(e.first_failure, Some(e.steps.len()));
    assert_eq!(e.steps[e.steps.len() - 1].check, "group");

    // No token: 401 (a Lambda would answer "Unauthorized").
    let r = apigw(&s, &json!({ "type": "TOKEN", "methodArn": HELLO_ARN })).await;
    r.assert_ok();
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert_eq!(r.json["context"]["status"], 401);
    assert_eq!(r.json["context"]["error"], "invalid_token");
    assert_eq!(explained(&s, &r).await.steps.last().unwrap().check, "token");
    // A bad token: 401 as well.
    let r = apigw(&s, &json!({ "type": "TOKEN", "authorizationToken": "Bearer x.y.z", "methodArn": HELLO_ARN })).await;
    assert_eq!(
        (r.json["context"]["status"].as_u64(), r.json["context"]["error"].as_str()),
        (Some(401), Some("invalid_token"))
    );
    // No route: 403.
    let arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/DELETE/demo/api/hello";
    let r =
        apigw(&s, &json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {bob}"), "methodArn": arn })).await;
    assert_eq!(r.json["context"]["status"], 403);
    assert_eq!(r.json["context"]["error_description"], "no route covers DELETE /demo/api/hello (default action: deny)");

    // Not an authorizer event at all: HTTP 400 with a message and the request id.
    for body in [
        "not json".to_string(),
        json!({ "type": "OTHER" }).to_string(),
        json!({ "type": "TOKEN", "authorizationToken": "Bearer x" }).to_string(),
        json!({ "type": "TOKEN", "methodArn": "arn:aws:s3:::bucket" }).to_string(),
        json!({ "version": "2.0", "type": "REQUEST", "routeArn": HELLO_ARN }).to_string(),
    ] {
        let r = s
            .send(s.http.post(s.url("/authorizer")).header("content-type", "application/json").body(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.json["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
        assert_eq!(r.json["request_id"], r.request_id());
    }
    let r = s.send(s.http.post(s.url("/authorizer")).body("{")).await;
    assert!(r.json["message"].as_str().unwrap().starts_with("body is not JSON"), "{}", r.text);
    let r = apigw(&s, &json!({ "type": "OTHER" })).await;
    assert_eq!(r.json["message"], "event type \"OTHER\" is neither TOKEN nor REQUEST");
}

// --- the demo API ---

#[tokio::test]
async fn demo_api_answers_with_the_caller() {
    let s = Server::demo().await;
    // A token from RFC 8693 at /oauth2/token.
    let up = s.fresh_id_token("alice");
    let r = s.token_exchange(&up, TT_ID_TOKEN).await;
    r.assert_ok();
    let at = r.str("access_token").to_string();
    let rt = r.str("refresh_token").to_string();

    let r = s.send(s.http.get(s.url(HELLO)).bearer_auth(&at)).await;
    r.assert_ok();
    assert_eq!(r.json["message"], "Hello, alice!");
    assert_eq!(r.json["route"], "demo hello");
    assert_eq!(r.json["request_id"], r.request_id());
    let caller = &r.json["caller"];
    assert_eq!(caller["subject"], s.user_id("alice").await.as_str());
    assert_eq!(caller["username"], "alice");
    assert_eq!(caller["groups"], json!(["admins", "readers"]));
    assert_eq!(caller["client_id"], DEMO_CLIENT);
    assert_eq!(caller["token_kind"], "access");
    assert_eq!(caller["expires_at"], decode(&at).claims["exp"]);
    assert!(caller.get("family").is_none(), "the session id is not shown: {caller}");

    let r = s.send(s.http.post(s.url(ORDERS)).bearer_auth(&at)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["placed_by"], "alice");
    assert_eq!(r.json["route"], "demo place order");
    assert!(r.json["order_id"].as_str().is_some_and(|id| id.len() == 36), "{}", r.text);

    // A token from refreshing works the same.
    s.clock.advance(5);
    let r = s.refresh(&rt).await;
    r.assert_ok();
    let refreshed = r.str("access_token").to_string();
    assert_ne!(refreshed, at);
    let r = s.send(s.http.get(s.url(HELLO)).bearer_auth(&refreshed)).await;
    r.assert_ok();
    assert_eq!(r.json["message"], "Hello, alice!");
    assert_eq!(s.send(s.http.post(s.url(ORDERS)).bearer_auth(&refreshed)).await.status, 201);

    // Bob may not place orders; the demo API answers like forward-auth, audited under its own door.
    let bob = access_token(&s.sign_in("bob").await);
    let r = s.send(s.http.get(s.url(HELLO)).bearer_auth(&bob)).await;
    assert_eq!(r.json["message"], "Hello, bob!");
    let r = s.send(s.http.post(s.url(ORDERS)).bearer_auth(&bob)).await;
    let e = assert_denied(&s, &r, 403, "group", "\"bob\" is in readers", &[&bob]).await;
    assert_eq!(e.event_source, "demo-api.tokenbridge");
    let r = s.send(s.http.get(s.url(HELLO))).await;
    assert_denied(&s, &r, 401, "token", "route \"demo hello\" needs a bearer token", &[]).await;
    let r = s.send(s.http.get(s.url("/demo/api/elsewhere")).bearer_auth(&bob)).await;
    assert_denied(&s, &r, 403, "route", "no route covers GET /demo/api/elsewhere", &[&bob]).await;
}

// --- the admin API ---

#[tokio::test]
async fn admin_audit_api_explains_decisions_to_admins_only() {
    let s = Server::demo().await;
    let denied = forward(&s, None, "GET", HELLO).await;
    assert_eq!(denied.status, 401);
    let rid = denied.request_id().to_string();
    let path = format!("/admin/audit/{rid}");
    let get = |path: &str, token: Option<&str>| {
        let mut req = s.http.get(s.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        s.send(req)
    };

    // No token, a wrong token: 401, and those attempts are audited too.
    let r = get(&path, None).await;
    assert_oauth_error(&r, 401, "invalid_token", "the admin API needs a bearer token", &[]);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"tokenbridge\""));
    let rec = &s.audit_of(r.request_id()).await[0];
    assert_eq!(
        (rec.event_name.as_str(), rec.record["eventSource"].as_str()),
        ("AdminAccess", Some("admin.tokenbridge"))
    );
    let r = get(&path, Some("wrong-admin-token")).await;
    assert_oauth_error(&r, 401, "invalid_token", "bearer token is not the admin token", &["wrong-admin-token"]);
    assert!(r.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
    // An access token without the admin scope: 403.
    let alice = access_token(&s.sign_in("alice").await);
    let r = get(&path, Some(&alice)).await;
    assert_oauth_error(
        &r,
        403,
        "insufficient_scope",
        "the admin API needs scope tokenbridge:admin; token has openid",
        &[&alice],
    );
    // An upstream token is no admin credential.
    let up = s.fresh_id_token("alice");
    let r = get(&path, Some(&up)).await;
    assert_oauth_error(&r, 401, "invalid_token", "token of upstream provider", &[&up]);

    // The admin token: the explanation, as `audit explain --json`.
    let r = get(&path, Some(&s.admin_token)).await;
    r.assert_ok();
    assert_eq!(r.json["requestId"], rid.as_str());
    let ev = &r.json["events"][0];
    assert_eq!(r.json["events"].as_array().unwrap().len(), 1);
    assert_eq!(ev["requestId"], rid.as_str());
    assert_eq!(ev["eventName"], "Authorize");
    assert_eq!(ev["eventSource"], "authorizer.tokenbridge");
    assert_eq!(ev["decision"], "denied");
    assert_eq!(ev["errorCode"], "invalid_token");
    assert_eq!(ev["errorMessage"], denied.json["error_description"]);
    assert_eq!(ev["firstFailure"], 2);
    assert_eq!(
        ev["steps"],
        json!([
            { "check": "route", "outcome": "pass", "detail": "GET /demo/api/hello matches route \"demo hello\"" },
            { "check": "token", "outcome": "fail", "detail": "route \"demo hello\" needs a bearer token; the request has none" },
        ])
    );

    // Unknown request id: 404.
    let r = get("/admin/audit/no-such-request", Some(&s.admin_token)).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json["error"], "not_found");
    assert_eq!(r.json["request_id"], r.request_id());

    // Lookup: denials, newest first, bounded by limit (a second later, so they are the newest).
    s.clock.advance(1);
    for _ in 0..5 {
        assert_eq!(forward(&s, Some(&alice), "GET", "/nowhere").await.status, 403);
    }
    let r = get("/admin/audit?denied=true&limit=5", Some(&s.admin_token)).await;
    r.assert_ok();
    let events = r.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "{}", r.text);
    assert!(events.iter().all(|e| e["eventName"] == "Authorize" && e["errorCode"] == "insufficient_scope"));
    assert!(events.iter().all(|e| e["requestParameters"]["path"] == "/nowhere"));
    let r = get("/admin/audit?denied=true&event_name=Authorize&limit=100", Some(&s.admin_token)).await;
    let events = r.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 6, "five unknown routes and the first denial: {}", r.text);
    assert_eq!(events[5]["requestID"], rid.as_str());
    let r = get("/admin/audit?event_name=AdminAccess&denied=true", Some(&s.admin_token)).await;
    assert_eq!(r.json["events"].as_array().unwrap().len(), 4, "{}", r.text);
    let r = get("/admin/audit?denied=true", None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn admin_scope_on_an_access_token_admits() {
    let s = Server::custom(Opts {
        configure: Some(Box::new(|cfg: &mut Config| cfg.clients[0].scopes.push("tokenbridge:admin".into()))),
        ..Default::default()
    })
    .await;
    let denied = forward(&s, None, "GET", HELLO).await;
    let path = format!("/admin/audit/{}", denied.request_id());

    let admin = access_token(&exchange_with_scope(&s, "alice", "openid tokenbridge:admin").await);
    let r = s.send(s.http.get(s.url(&path)).bearer_auth(&admin)).await;
    r.assert_ok();
    assert_eq!(r.json["events"][0]["firstFailure"], 2);
    let plain = access_token(&exchange_with_scope(&s, "alice", "openid orders:read").await);
    let r = s.send(s.http.get(s.url(&path)).bearer_auth(&plain)).await;
    assert_oauth_error(
        &r,
        403,
        "insufficient_scope",
        "needs scope tokenbridge:admin; token has openid orders:read",
        &[&plain],
    );
    // A revoked admin session stops at once.
    s.post_form_basic("/oauth2/revoke", &[("token", admin.as_str())]).await.assert_ok();
    let r = s.send(s.http.get(s.url(&path)).bearer_auth(&admin)).await;
    assert_oauth_error(&r, 401, "invalid_token", "sign-in session was revoked", &[&admin]);
    // The configured admin token still works.
    s.send(s.http.get(s.url(&path)).bearer_auth(CUSTOM_ADMIN_TOKEN)).await.assert_ok();
}
