//! Rate limits on the exchange and token endpoints: per source address and per client.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use tokenbridge_core::config::RateLimits;

pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<String>>,
    per_client: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn limiter(per_second: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
    Some(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

impl Limits {
    pub fn new(cfg: &RateLimits) -> Self {
        Self {
            per_ip: limiter(cfg.per_ip_per_second, cfg.burst),
            per_client: limiter(cfg.per_client_per_second, cfg.burst),
            clock: DefaultClock::default(),
        }
    }

    /// `Err((what, retry_after_seconds))` when a limit is exceeded.
    pub fn check(&self, source_ip: &str, client_id: Option<&str>) -> Result<(), (&'static str, u64)> {
        let wait = |l: &DefaultKeyedRateLimiter<String>, key: &str| {
            l.check_key(&bucket_key(key)).err().map(|nu| nu.wait_time_from(self.clock.now()).as_secs().max(1))
        };
        if let Some(l) = &self.per_ip {
            if let Some(s) = wait(l, source_ip) {
                return Err(("source address", s));
            }
        }
        if let (Some(l), Some(c)) = (&self.per_client, client_id) {
            if let Some(s) = wait(l, c) {
                return Err(("client", s));
            }
        }
        Ok(())
    }

    /// Drops idle keys so the maps stay bounded.
    pub fn shrink(&self) {
        for l in [&self.per_ip, &self.per_client].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// A bucket's key: the value itself, or the hash of one longer than any real client id or address
/// (a bucket per request value must not keep the whole value in memory).
fn bucket_key(value: &str) -> String {
    if value.len() <= 128 {
        value.to_string()
    } else {
        format!("sha256:{}", tokenbridge_core::jose::sha256_hex(value.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_per_ip_and_per_client() {
        let l = Limits::new(&RateLimits { per_ip_per_second: 1, per_client_per_second: 0, burst: 3 });
        for _ in 0..3 {
            assert!(l.check("1.2.3.4", None).is_ok());
        }
        let (what, retry) = l.check("1.2.3.4", None).unwrap_err();
        assert_eq!(what, "source address");
        assert!(retry >= 1);
        assert!(l.check("5.6.7.8", None).is_ok(), "another address has its own bucket");
        let l = Limits::new(&RateLimits { per_ip_per_second: 0, per_client_per_second: 1, burst: 1 });
        assert!(l.check("a", Some("web")).is_ok());
        assert_eq!(l.check("b", Some("web")).unwrap_err().0, "client");
        // A huge client id is one bucket, kept by its hash.
        let huge = "Z".repeat(1 << 20);
        assert!(l.check("c", Some(&huge)).is_ok());
        assert_eq!(l.check("d", Some(&huge)).unwrap_err().0, "client");
        assert_eq!(bucket_key(&huge).len(), 71);
    }
}
