//! 10. Trusted proxies.
//!
//! `trust_forwarded_for` took the leftmost `X-Forwarded-For` entry, which the client writes, so
//! rate limits, the authorizer's `networks` rule and audit source addresses could be spoofed.
//! `server.trusted_proxies` replaces it: a request from a listed proxy has the rightmost entry that
//! is not itself a trusted proxy as its client; from anyone else the header is ignored.
//!
//! Also proven elsewhere: the address walk's unit tests (crates/server/src/context.rs), the config
//! errors (crates/core/src/config.rs), and `TOKENBRIDGE_TRUSTED_PROXIES` honoured by `serve` and
//! `demo` (crates/cli/tests/cli/serving.rs, `trusted_proxies_from_the_environment`).

use crate::common::*;
use tokenbridge_core::audit::Explanation;
use tokenbridge_core::authorizer::rules::{RouteConfig, TokenKind};
use tokenbridge_core::config::{Config, RateLimits};

/// A server behind the test's "proxy" (the test client connects from 127.0.0.1), with a public
/// route open only to 10.0.0.0/8.
async fn behind_proxies(trusted: &[&str], rate_limits: Option<RateLimits>) -> Server {
    let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
    Server::custom(Opts {
        rate_limits,
        configure: Some(Box::new(move |cfg: &mut Config| {
            cfg.server.trusted_proxies = trusted;
            cfg.authorizer.routes.push(RouteConfig {
                name: Some("internal".into()),
                path: "/internal/**".into(),
                token: TokenKind::None,
                networks: vec!["10.0.0.0/8".into()],
                ..Default::default()
            });
        })),
        ..Default::default()
    })
    .await
}

/// Forward-auth for `path` with the given `X-Forwarded-For` lines; the answer and its audit record.
async fn forward(s: &Server, path: &str, xff: &[&str]) -> (Resp, Explanation) {
    let mut req = s.http.get(s.url("/forward-auth")).header("X-Forwarded-Uri", path);
    for line in xff {
        req = req.header("X-Forwarded-For", *line);
    }
    let r = s.send(req).await;
    let records = s.audit_of(r.request_id()).await;
    assert_eq!(records.len(), 1, "{}: {}", r.status, r.text);
    (r, Explanation::from_record(&records[0]))
}

#[tokio::test]
async fn the_client_is_the_rightmost_address_no_trusted_proxy_wrote() {
    let s = behind_proxies(&["127.0.0.1/32", "192.0.2.0/24"], None).await;
    // The client claims 10.0.0.1; the proxy appended the address it really came from.
    let (_, e) = forward(&s, "/nowhere", &["10.0.0.1, 198.51.100.7"]).await;
    assert_eq!(e.source_ip_address, "198.51.100.7", "the leftmost entry is the client's own claim");
    // Two proxies: the inner one (192.0.2.10) is trusted and skipped.
    let (_, e) = forward(&s, "/nowhere", &["10.0.0.1, 198.51.100.7, 192.0.2.10"]).await;
    assert_eq!(e.source_ip_address, "198.51.100.7");
    // Repeated header lines are one list, in order.
    let (_, e) = forward(&s, "/nowhere", &["10.0.0.1", "198.51.100.7"]).await;
    assert_eq!(e.source_ip_address, "198.51.100.7");
    // An entry that is no address stops the walk at the last trusted hop, never further left.
    let (_, e) = forward(&s, "/nowhere", &["10.0.0.1, unknown"]).await;
    assert_eq!(e.source_ip_address, "127.0.0.1");
    // No header: the proxy itself.
    let (_, e) = forward(&s, "/nowhere", &[]).await;
    assert_eq!(e.source_ip_address, "127.0.0.1");
}

#[tokio::test]
async fn the_networks_rule_cannot_be_met_by_a_forged_entry() {
    let s = behind_proxies(&["127.0.0.1/32"], None).await;
    let (r, e) = forward(&s, "/internal/report", &["10.0.0.1, 198.51.100.7"]).await;
    assert_oauth_error(&r, 403, "insufficient_scope", "request came from \"198.51.100.7\"", &[]);
    assert_eq!(e.steps.last().map(|s| s.check.as_str()), Some("network"));
    // A client inside 10.0.0.0/8, as the proxy saw it, is let in.
    let req = s.http.get(s.url("/forward-auth")).header("X-Forwarded-Uri", "/internal/report");
    s.send(req.header("X-Forwarded-For", "198.51.100.7, 10.0.0.1")).await.assert_ok();
}

#[tokio::test]
async fn from_an_untrusted_peer_the_header_is_ignored() {
    // The default (no trusted proxy) and a list that does not hold the peer.
    for trusted in [&[][..], &["10.0.0.0/8"][..]] {
        let s = behind_proxies(trusted, None).await;
        let (r, e) = forward(&s, "/internal/report", &["10.0.0.1"]).await;
        assert_eq!(r.status, 403, "{trusted:?}: {}", r.text);
        assert_eq!(e.source_ip_address, "127.0.0.1", "{trusted:?}");
    }
}

#[tokio::test]
async fn rate_limits_count_the_real_client_not_its_claims() {
    let limits = RateLimits { per_ip_per_second: 1, per_client_per_second: 0, burst: 3 };
    let s = behind_proxies(&["127.0.0.1/32"], Some(limits)).await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        // A new forged address each time, the same real client behind it.
        let xff = format!("203.0.113.{i}, 198.51.100.7");
        let req = s.http.post(s.url("/oauth2/token")).header("X-Forwarded-For", xff);
        let r = s.send(req.form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])).await;
        statuses.push(r.status);
        if r.status == 429 {
            assert_oauth_error(&r, 429, "slow_down", "rate limit for this source address exceeded", &[]);
            let e = Explanation::from_record(&s.audit_of(r.request_id()).await[0]);
            assert_eq!(e.source_ip_address, "198.51.100.7");
        }
    }
    assert!(statuses.contains(&429), "forged addresses dodged the per-address limit: {statuses:?}");
    // Another real client is not limited by the first one's requests.
    let req = s.http.post(s.url("/oauth2/token")).header("X-Forwarded-For", "198.51.100.8");
    let r = s.send(req.form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])).await;
    assert_ne!(r.status, 429, "{}", r.text);
}
