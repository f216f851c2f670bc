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

/// The cache key: the token's digest (the token itself is not kept).
pub fn key(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref());
    out
}

impl TokenCache {
    pub fn new(capacity: u64, bound_seconds: i64) -> Self {
        let bound = bound_seconds.max(1);
        let ttl = Duration::from_secs(bound as u64);
        let entries = (capacity > 0).then(|| Cache::builder().max_capacity(capacity).time_to_live(ttl).build());
        Self { entries, revoked: Cache::builder().max_capacity(100_000).time_to_live(ttl).build(), bound }
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

/// Sign-in sessions (refresh families) seen alive: the revocation check reads the store at most
/// once per family per `cache_seconds`, even with the token cache off. Revocations through this
/// engine are seen at once (the same revoked set as the token cache).
pub struct SessionCache {
    alive: Option<Cache<String, i64>>,
    bound: i64,
}

impl SessionCache {
    pub fn new(capacity: u64, bound_seconds: i64) -> Self {
        let bound = bound_seconds.max(1);
        let ttl = Duration::from_secs(bound as u64);
        let alive = (capacity > 0).then(|| Cache::builder().max_capacity(capacity).time_to_live(ttl).build());
        Self { alive, bound }
    }

    /// When the family was last seen alive, if that is recent enough to trust.
    pub fn alive_since(&self, family: &str, now: i64, tokens: &TokenCache) -> Option<i64> {
        let alive = self.alive.as_ref()?;
        let checked = alive.get(family)?;
        if checked + self.bound <= now || tokens.revoked.contains_key(family) {
            alive.invalidate(family);
            return None;
        }
        Some(checked)
    }

    pub fn seen_alive(&self, family: &str, now: i64) {
        if let Some(alive) = &self.alive {
            alive.insert(family.to_string(), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(exp: i64, family: Option<&str>) -> Arc<Identity> {
        Arc::new(Identity {
            subject: "u1".into(),
            username: "alice".into(),
            groups: vec![],
            client_id: None,
            scopes: vec![],
            token_kind: "access".into(),
            expires_at: exp,
            family: family.map(str::to_string),
        })
    }

    #[test]
    fn entries_are_trusted_until_the_earlier_of_exp_and_the_bound() {
        let c = TokenCache::new(10, 30);
        c.put(key("a"), identity(1_000 + 3600, None), 1_000);
        assert!(c.get(&key("a"), 1_029).is_some());
        assert!(c.get(&key("a"), 1_030).is_none(), "past the bound");
        c.put(key("b"), identity(1_010, None), 1_000);
        assert_eq!(c.get(&key("b"), 1_000).unwrap().trusted_until, 1_010);
        assert!(c.get(&key("b"), 1_010).is_none(), "past exp");
        c.put(key("c"), identity(999, None), 1_000);
        assert!(c.get(&key("c"), 1_000).is_none(), "an expired token is never cached");
    }

    #[test]
    fn a_revoked_family_is_evicted_at_once_and_capacity_zero_is_off() {
        let c = TokenCache::new(10, 30);
        c.put(key("a"), identity(5_000, Some("fam")), 1_000);
        c.put(key("b"), identity(5_000, Some("other")), 1_000);
        c.family_revoked("fam");
        assert!(c.get(&key("a"), 1_001).is_none());
        assert!(c.get(&key("b"), 1_001).is_some());
        let off = TokenCache::new(0, 30);
        off.put(key("a"), identity(5_000, None), 1_000);
        assert!(off.get(&key("a"), 1_000).is_none());
    }
}

#[cfg(test)]
mod session_tests {
    use super::*;

    #[test]
    fn sessions_are_trusted_for_the_bound_unless_revoked_here() {
        let tokens = TokenCache::new(10, 30);
        let sessions = SessionCache::new(10, 30);
        sessions.seen_alive("fam", 1_000);
        assert_eq!(sessions.alive_since("fam", 1_029, &tokens), Some(1_000));
        assert_eq!(sessions.alive_since("fam", 1_030, &tokens), None);
        sessions.seen_alive("fam", 1_100);
        tokens.family_revoked("fam");
        assert_eq!(sessions.alive_since("fam", 1_101, &tokens), None);
        assert_eq!(SessionCache::new(0, 30).alive_since("fam", 1_000, &tokens), None);
    }
}
