//! Verified-token cache: a repeated bearer token costs a hash lookup, not a signature check.
//!
//! An entry is trusted until the earlier of the token's `exp` and `cache_seconds` after it was
//! verified (by the engine's clock), so a revocation elsewhere is seen within that bound. A
//! revocation made through this engine marks the family at once.

use super::Identity;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Cached {
    pub identity: Arc<Identity>,
    /// When this verification stops being trusted (Unix seconds).
    pub trusted_until: i64,
    pub verified_at: i64,
}

pub struct TokenCache {
    entries: Option<Cache<[u8; 32], Cached>>,
    /// Families revoked through this engine, for as long as an entry could still name them.
    revoked: Cache<String, ()>,
    bound: i64,
}

/// The cache key: which kind of verification, and the token's digest (the token itself is not kept).
pub fn key(kind: u8, token: &str) -> [u8; 32] {
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    h.update(&[kind]);
    h.update(token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

impl TokenCache {
    pub fn new(capacity: u64, bound_seconds: i64) -> Self {
        let bound = bound_seconds.max(1);
        let ttl = Duration::from_secs(bound as u64);
        let entries = (capacity > 0).then(|| Cache::builder().max_capacity(capacity).time_to_live(ttl).build());
        Self { entries, revoked: Cache::builder().max_capacity(100_000).time_to_live(ttl).build(), bound }
    }

    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// A trusted entry, or `None` (absent, past its bound, or its family revoked here).
    pub fn get(&self, key: &[u8; 32], now: i64) -> Option<Cached> {
        let entries = self.entries.as_ref()?;
        let hit = entries.get(key)?;
        let revoked = hit.identity.family.as_ref().is_some_and(|f| self.revoked.contains_key(f));
        if hit.trusted_until <= now || revoked {
            entries.invalidate(key);
            return None;
        }
        Some(hit)
    }

    pub fn put(&self, key: [u8; 32], identity: Arc<Identity>, now: i64) {
        if let Some(entries) = &self.entries {
            let trusted_until = identity.expires_at.min(now + self.bound);
            if trusted_until > now {
                entries.insert(key, Cached { identity, trusted_until, verified_at: now });
            }
        }
    }

    /// A refresh family was revoked through this engine: its cached tokens stop counting now.
    pub fn family_revoked(&self, family: &str) {
        self.revoked.insert(family.to_string(), ());
    }
}
