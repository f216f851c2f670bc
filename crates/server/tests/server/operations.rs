//! Cross-cutting behaviour of the running server: one-time use under concurrency, the audit
//! trail, signing-key rotation, CORS, rate limits, health and metrics, graceful shutdown.

use crate::common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokenbridge_core::model::AuditQuery;
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_time_use_holds_under_concurrency() {
    let s = Arc::new(Server::demo().await);
    let token = Arc::new(s.fresh_id_token("alice"));
    let mut set = JoinSet::new();
    for i in 0..50 {
        let (s, token) = (s.clone(), token.clone());
        set.spawn(async move {
            // Both doors at once.
            if i % 2 == 0 {
                s.exchange_bearer(&token, &[]).await
            } else {
                s.token_exchange(&token, TT_ID_TOKEN).await
            }
        });
    }
    let mut ok = 0;
    let mut replays = 0;
    while let Some(r) = set.join_next().await {
        let r = r.expect("task");
        match r.status {
            200 => ok += 1,
            _ => {
                assert_oauth_error(&r, 400, "invalid_grant", "already used", &[&token]);
                replays += 1;
            }
        }
    }
    assert_eq!(ok, 1, "exactly one exchange of the same upstream token succeeds");
    assert_eq!(replays, 49);
    // The store agrees: one issued, 49 denied.
    let records = s
        .store
        .lookup_audit(&AuditQuery { event_name: Some("TokenExchange".into()), limit: Some(100), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(records.iter().filter(|r| r.error_code.is_none()).count(), 1);
    assert_eq!(records.iter().filter(|r| r.error_code.as_deref() == Some("invalid_grant")).count(), 49);
}

/// The first failing step of a record's decision trail.
fn first_failure(record: &Value) -> Value {
    record["additionalEventData"]["decisionTrail"]
        .as_array()
        .expect("decisionTrail")
        .iter()
        .find(|s| s["outcome"] == "fail")
        .cloned()
        .unwrap_or_else(|| panic!("no failing step in {record}"))
}

#[tokio::test]
async fn audit_record_explains_each_denial() {
    let s = Server::custom(Opts::default()).await;
    let carol = s.upstream_login("carol").await["id_token"].as_str().unwrap().to_string();
    let dave = s.upstream_login("dave").await["id_token"].as_str().unwrap().to_string();
    let forged = flip_signature_byte(&s.fresh_id_token("alice"));
    let cases: Vec<(Resp, &str, &str, &str)> = vec![
        (s.exchange_bearer(&carol, &[]).await, "TokenExchange", "link", "no local user is linked"),
        (s.token_exchange(&dave, TT_ID_TOKEN).await, "TokenExchange", "condition", "claim condition"),
        (s.exchange_bearer(&forged, &[]).await, "TokenExchange", "signature", "signature does not verify"),
        (s.send(s.http.post(s.url("/auth/exchange"))).await, "TokenExchange", "request", "Bearer"),
        (s.refresh("no-such-refresh-token").await, "RefreshToken", "refresh token", "not recognized"),
        (s.userinfo("not-a-token").await, "GetUserInfo", "format", "JWT"),
        (s.token_basic(&[("grant_type", "password")]).await, "Token", "request", "not supported"),
    ];
    for (r, event, check, needle) in cases {
        assert!(r.status >= 400, "{}", r.text);
        let rid = r.request_id();
        assert_eq!(r.json["request_id"], rid);
        let records = s.audit_of(rid).await;
        assert_eq!(records.len(), 1, "one record for request {rid}");
        let rec = &records[0];
        assert_eq!(rec.request_id, rid);
        assert_eq!(rec.event_name, event);
        let j = &rec.record;
        assert_eq!(j["eventName"], event);
        assert_eq!(j["requestID"], rid);
        assert_eq!(j["errorCode"], r.json["error"], "errorCode is the OAuth error");
        assert_eq!(j["errorMessage"], r.json["error_description"], "errorMessage is the description");
        assert!(j["errorMessage"].as_str().unwrap().contains(needle), "{j}");
        assert_eq!(j["sourceIPAddress"], "127.0.0.1");
        assert!(j["eventTime"].as_str().is_some_and(|t| t.ends_with('Z')));
        let step = first_failure(j);
        assert_eq!(step["check"], check, "first failing step of {event}: {j}");
        assert!(step["detail"].as_str().unwrap().contains(needle));
    }
    // A denial about a linked identity says whose it was.
    s.engine.directory().set_enabled("bob", false).await.unwrap();
    let r = s.exchange_bearer(&s.fresh_id_token("bob"), &[]).await;
    assert_eq!(r.status, 400);
    let rec = &s.audit_of(r.request_id()).await[0];
    assert_eq!(rec.username.as_deref(), Some("bob"));
    assert_eq!(rec.record["userIdentity"]["type"], "WebIdentityUser");
    assert_eq!(rec.record["userIdentity"]["userName"], "bob");
    assert_eq!(first_failure(&rec.record)["check"], "user enabled");
    // Successes are recorded too, with the passing steps.
    let r = s.exchange_bearer(&s.fresh_id_token("alice"), &[]).await;
    r.assert_ok();
    let rec = &s.audit_of(r.request_id()).await[0];
    assert!(rec.error_code.is_none());
    assert_eq!(rec.username.as_deref(), Some("alice"));
    assert_eq!(rec.record["userIdentity"]["type"], "WebIdentityUser");
    assert_eq!(rec.record["userIdentity"]["identityProvider"], format!("{}/demo-idp", s.base));
    let trail = rec.record["additionalEventData"]["decisionTrail"].as_array().unwrap();
    let checks: Vec<&str> = trail.iter().map(|s| s["check"].as_str().unwrap()).collect();
    for c in ["provider", "client", "algorithm", "signature", "issuer", "audience", "link", "one-time use", "issue"] {
        assert!(checks.contains(&c), "{c} missing from {checks:?}");
    }
    assert!(trail.iter().all(|s| s["outcome"] != "fail"));
}

#[tokio::test]
async fn audit_records_never_hold_tokens_or_secrets() {
    let s = Server::demo().await;
    let mut secrets: Vec<String> = vec![s.client_secret.clone(), s.upstream_client_secret.clone()];
    // Upstream tokens presented, successful and refused.
    let up = s.upstream_login("alice").await;
    let up_id = up["id_token"].as_str().unwrap().to_string();
    let up_opaque = up["access_token"].as_str().unwrap().to_string();
    let issued = s.exchange_bearer(&up_id, &[]).await;
    issued.assert_ok();
    let replay = s.exchange_bearer(&up_id, &[]).await;
    assert_eq!(replay.status, 400);
    let issued2 = s.token_exchange(&up_opaque, TT_ACCESS_TOKEN).await;
    issued2.assert_ok();
    let carol = s.upstream_login("carol").await["id_token"].as_str().unwrap().to_string();
    assert_eq!(s.exchange_bearer(&carol, &[]).await.status, 400);
    let forged = flip_signature_byte(&s.fresh_id_token("bob"));
    assert_eq!(s.exchange_bearer(&forged, &[]).await.status, 400);
    // Issued tokens used, refreshed, introspected, revoked.
    let rt = issued.str("refresh_token").to_string();
    let at = issued.str("access_token").to_string();
    let refreshed = s.refresh(&rt).await;
    refreshed.assert_ok();
    // Again at once: the retry within the reuse grace; a third time: a replay.
    let retried = s.refresh(&rt).await;
    retried.assert_ok();
    assert_eq!(s.refresh(&rt).await.status, 400);
    s.introspect(&at).await.assert_ok();
    assert_eq!(s.userinfo(&at).await.status, 401);
    s.post_form_basic("/oauth2/revoke", &[("token", issued2.str("refresh_token"))]).await.assert_ok();
    assert_eq!(s.userinfo(issued2.str("access_token")).await.status, 401);

    secrets.extend([up_id, up_opaque, carol, forged]);
    for r in [&issued, &issued2, &refreshed, &retried] {
        for k in ["access_token", "id_token", "refresh_token"] {
            secrets.push(r.str(k).to_string());
        }
    }
    let records = s.store.lookup_audit(&AuditQuery { limit: Some(1000), ..Default::default() }).await.expect("audit");
    assert!(records.len() >= 11, "every decision is recorded ({} records)", records.len());
    for rec in &records {
        let text = serde_json::to_string(rec).unwrap();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "audit record {} holds a token or secret", rec.event_id);
            // JWT signatures are unique per token: not even that part may appear.
            if let Some(sig) = secret.rsplit('.').next().filter(|s| s.len() > 40) {
                assert!(!text.contains(sig), "audit record {} holds a token signature", rec.event_id);
            }
        }
    }
}

#[tokio::test]
async fn signing_key_rotation_keeps_old_tokens_valid() {
    let s = Server::custom(Opts::default()).await;
    let before = s.sign_in("alice").await;
    let old_at = before["access_token"].as_str().unwrap().to_string();
    let old_kid = decode(&old_at).header.kid.unwrap();
    let jwks = s.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], old_kid.as_str());

    let new_kid = s.engine.keys().rotate(None).await.expect("rotate");
    assert_ne!(new_kid, old_kid);
    let jwks = s.jwks().await;
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&new_kid.as_str()), "new kid published: {kids:?}");
    assert!(kids.contains(&old_kid.as_str()), "old kid still published: {kids:?}");

    // Tokens signed before the rotation keep working and keep verifying.
    verify_with_jwks(&old_at, &jwks);
    s.userinfo(&old_at).await.assert_ok();
    assert_eq!(s.introspect(&old_at).await.json["active"], true);
    // New tokens carry the new kid, from a new exchange and from a refresh of an old session.
    let after = s.sign_in("alice").await;
    for t in ["access_token", "id_token"] {
        let jwt = verify_with_jwks(after[t].as_str().unwrap(), &jwks);
        assert_eq!(jwt.header.kid.as_deref(), Some(new_kid.as_str()));
    }
    let refreshed = s.refresh(before["refresh_token"].as_str().unwrap()).await;
    refreshed.assert_ok();
    assert_eq!(decode(refreshed.str("access_token")).header.kid.as_deref(), Some(new_kid.as_str()));
    s.userinfo(after["access_token"].as_str().unwrap()).await.assert_ok();
}

async fn preflight(s: &Server, path: &str, origin: &str) -> Resp {
    s.send(
        s.http
            .request(reqwest::Method::OPTIONS, s.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type"),
    )
    .await
}

#[tokio::test]
async fn cors_answers_only_allowed_origins() {
    let s = Server::demo().await;
    let allowed = [s.base.clone(), "http://localhost:3000".to_string()];
    for origin in &allowed {
        for path in ["/auth/exchange", "/oauth2/token"] {
            let r = preflight(&s, path, origin).await;
            assert!(r.status < 300, "preflight {path} from {origin}: {}", r.status);
            assert_eq!(r.header("access-control-allow-origin"), Some(origin.as_str()), "{path} {origin}");
            let methods = r.header("access-control-allow-methods").unwrap_or_default().to_uppercase();
            assert!(methods.contains("POST"), "{methods}");
            let headers = r.header("access-control-allow-headers").unwrap_or_default().to_lowercase();
            assert!(headers.contains("authorization"), "{headers}");
        }
        let r = s.send(s.http.get(s.url("/.well-known/jwks.json")).header("origin", origin.as_str())).await;
        r.assert_ok();
        assert_eq!(r.header("access-control-allow-origin"), Some(origin.as_str()));
        // An actual exchange from the browser app can read the request id.
        let token = s.fresh_id_token("alice");
        let r = s.send(s.http.post(s.url("/auth/exchange")).bearer_auth(token).header("origin", origin.as_str())).await;
        r.assert_ok();
        assert_eq!(r.header("access-control-allow-origin"), Some(origin.as_str()));
        assert!(r.header("access-control-expose-headers").unwrap_or_default().contains("x-request-id"));
    }
    for origin in ["http://evil.example", "http://localhost:3001", "null"] {
        let r = preflight(&s, "/auth/exchange", origin).await;
        assert!(r.header("access-control-allow-origin").is_none(), "{origin} must not be allowed");
        let r = s.send(s.http.get(s.url("/.well-known/jwks.json")).header("origin", origin)).await;
        r.assert_ok();
        assert!(r.header("access-control-allow-origin").is_none(), "{origin} must not be allowed");
    }
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let s = Server::custom(Opts {
        rate_limits: Some(tokenbridge_core::config::RateLimits {
            per_ip_per_second: 1,
            per_client_per_second: 0,
            burst: 2,
        }),
        ..Default::default()
    })
    .await;
    let token = s.fresh_id_token("alice");
    // Two requests fit in the burst (cheap ones, so all of this stays well inside one second).
    for _ in 0..2 {
        let r = s.send(s.http.post(s.url("/auth/exchange"))).await;
        assert_oauth_error(&r, 400, "invalid_request", "Bearer", &[]);
    }
    let third = s.exchange_bearer(&token, &[]).await;
    assert_oauth_error(&third, 429, "slow_down", "rate limit", &[&token]);
    let retry: u64 = third.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(third.header("content-type"), Some("application/json"));
    // The token endpoint shares the per-address budget.
    let r = s.refresh("whatever").await;
    assert_oauth_error(&r, 429, "slow_down", "rate limit", &["whatever"]);
    // The refusal is on record.
    let rec = &s.audit_of(third.request_id()).await[0];
    assert_eq!(rec.error_code.as_deref(), Some("slow_down"));
    // Other endpoints are not throttled.
    s.get("/healthz").await.assert_ok();
    s.get("/.well-known/jwks.json").await.assert_ok();
}

#[tokio::test]
async fn health_and_readiness() {
    let s = Server::custom(Opts::default()).await;
    let r = s.get("/healthz").await;
    r.assert_ok();
    assert_eq!(r.text, "ok");
    assert!(r.header("x-request-id").is_some());
    let r = s.get("/readyz").await;
    r.assert_ok();
    assert_eq!(r.text, "ready");
}

#[tokio::test]
async fn metrics_count_exchanges_and_jwks_cache() {
    let s = Server::custom(Opts::default()).await;
    // The first scrape installs the process-wide recorder (see metrics_startup.rs).
    s.metrics().await;
    s.sign_in("alice").await;
    s.sign_in("bob").await;
    let r = s.exchange_bearer(&flip_signature_byte(&s.fresh_id_token("erin")), &[]).await;
    assert_eq!(r.status, 400);
    let r = s.metrics().await;
    assert!(r.header("content-type").unwrap_or_default().starts_with("text/plain"));
    let m = &r.text;
    let has = |name: &str, labels: &[&str]| {
        m.lines().any(|l| l.starts_with(name) && labels.iter().all(|lab| l.contains(lab)))
    };
    assert!(has("tokenbridge_exchanges_total", &["outcome=\"issued\"", "door=\"exchange.tokenbridge\""]), "{m}");
    assert!(has("tokenbridge_exchanges_total", &["outcome=\"denied\""]), "{m}");
    assert!(has("tokenbridge_jwks_cache_total", &["provider=\"demo\"", "result=\"fetch\""]), "{m}");
    assert!(has("tokenbridge_jwks_cache_total", &["provider=\"demo\"", "result=\"hit\""]), "{m}");
    assert!(has("tokenbridge_http_requests_total", &["route=\"/auth/exchange\""]), "{m}");
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_requests_finish() {
    let idp = TestIdp::start().await;
    let s = Arc::new(Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await);
    let opaque = "opaque-held-token";
    idp.register_opaque(opaque, json!({ "sub": "t-alice", "email": "alice@example.com", "email_verified": true }));
    let (arrived, release) = idp.hold_userinfo();

    // A request on a slow path: the broker waits for the upstream's UserInfo.
    let in_flight = {
        let s = s.clone();
        tokio::spawn(async move {
            s.token_basic(&[
                ("grant_type", GRANT_TOKEN_EXCHANGE),
                ("subject_token", opaque),
                ("subject_token_type", TT_ACCESS_TOKEN),
                ("provider", TEST_PROVIDER),
            ])
            .await
        })
    };
    tokio::time::timeout(Duration::from_secs(10), arrived).await.expect("UserInfo reached").expect("gate");

    // Shutdown while the request is in flight.
    s.trigger_shutdown();
    let task = s.take_task();
    // New connections are refused once the listener is closed ...
    let addr = s.base.trim_start_matches("http://").to_string();
    tokio::time::timeout(Duration::from_secs(10), async {
        while tokio::net::TcpStream::connect(&addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the listener closes after the shutdown signal");
    // ... but the server keeps running for the request it is serving.
    assert!(!task.is_finished(), "the server waits for the in-flight request");
    assert!(!in_flight.is_finished());

    release.notify_one();
    let r = tokio::time::timeout(Duration::from_secs(10), in_flight).await.expect("answered").expect("task");
    r.assert_ok();
    assert!(r.json["access_token"].is_string());
    // Then the server stops.
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("server stopped").expect("join").expect("serve");
}
