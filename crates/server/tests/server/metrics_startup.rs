//! Metrics recorded before the first `/metrics` scrape. The Prometheus recorder is process-wide,
//! and any earlier scrape in the same process would hide the behaviour under test: so the test
//! runs itself again in a process of its own (this test binary, filtered to this one test), and
//! only that process starts a server.

use crate::common::*;

/// Set in the process that runs the test alone.
const ALONE: &str = "TOKENBRIDGE_TEST_ALONE";
const NAME: &str = "metrics_startup::exchanges_before_the_first_scrape_are_counted";

#[tokio::test]
async fn exchanges_before_the_first_scrape_are_counted() {
    if std::env::var_os(ALONE).is_none() {
        let exe = std::env::current_exe().expect("this test binary");
        let out = std::process::Command::new(exe)
            .args([NAME, "--exact", "--test-threads=1"])
            .env(ALONE, "1")
            .output()
            .expect("run the test alone");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("test result: ok. 1 passed"),
            "the test alone:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let s = Server::custom(Opts::default()).await;
    s.sign_in("alice").await;
    let r = s.metrics().await;
    assert!(r.text.contains("tokenbridge_exchanges_total"), "exchange not counted:\n{}", r.text);
    assert!(r.text.contains("tokenbridge_jwks_cache_total"), "JWKS fetch not counted:\n{}", r.text);
}
