//! Metrics recorded before the first `/metrics` scrape. Kept alone in its own test binary: the
//! Prometheus recorder is process-wide, and any earlier scrape in the same process would hide
//! the behaviour under test.

mod common;

use common::*;

#[tokio::test]
async fn exchanges_before_the_first_scrape_are_counted() {
    let s = Server::custom(Opts::default()).await;
    s.sign_in("alice").await;
    let r = s.metrics().await;
    assert!(r.text.contains("tokenbridge_exchanges_total"), "exchange not counted:\n{}", r.text);
    assert!(r.text.contains("tokenbridge_jwks_cache_total"), "JWKS fetch not counted:\n{}", r.text);
}
