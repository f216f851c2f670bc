//! The authorizer over real HTTP: forward-auth (Traefik, nginx and Envoy styles), the API Gateway
//! authorizer format, the demo API and the admin audit API, all asking the one decision of the
//! real server. Every denial reason is provoked and found again in its audit record by the
//! request id the caller was given, with the check that failed first; the token cache is
//! watched through the trail of allowed decisions and moved with the server's manual clock.
//!
//! Forward-auth in `forward_auth.rs`, the token cache in `cache.rs`, the API Gateway format in
//! `apigw.rs`, the demo API and the admin audit API in `apis.rs`; the helpers they share here.

mod apigw;
mod apis;
mod cache;
mod forward_auth;

use crate::common::*;
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
