//! Wrong passwords in a row, per (pool, username): five lock the name for a second, each further
//! one doubles the lock up to 15 minutes (Cognito's figures). They are counted for every
//! username, existing or not, so the lockout does not tell which usernames exist.
//!
//! Each count is one atomic store update on the record as it stands, and the lock decision is
//! taken on the incremented value: wrong passwords sent at once (to any number of instances)
//! count exactly as the same attempts one after another, and one arriving while the name is
//! locked is refused as locked and not counted. A right password is judged the same way, on the
//! record as it stands after its (slow, unlocked) argon2 check: refused while locked, else the
//! failures are forgotten.

use super::*;
use crate::jose::sha256_hex;
use crate::store::{Change, StoreResult};

pub(super) const KIND_SIGN_IN_FAILURES: &str = "pool_sign_in_failures";
const LOCK_AFTER: u32 = 5;
const MAX_LOCK_SECONDS: i64 = 900;
/// Failures are forgotten this long after the last one (or after the lock it caused ended);
/// the record is purged then, which bounds what unknown usernames leave in the store.
const MEMORY_SECONDS: i64 = 24 * 3600;

/// The sign-in failures of one username in one pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInFailures {
    /// Wrong passwords in a row.
    pub failures: u32,
    /// No password is tried before this time.
    pub locked_until: i64,
    /// When the last wrong password was counted.
    pub last_failure: i64,
}

impl SignInFailures {
    pub fn locked(&self, now: i64) -> bool {
        self.locked_until > now
    }

    fn forgotten_at(&self) -> i64 {
        self.locked_until.max(self.last_failure).saturating_add(MEMORY_SECONDS)
    }

    /// One more wrong password, at `now`: from the fifth in a row the name locks, 1 s doubling.
    fn count(mut self, now: i64) -> Self {
        self.failures = self.failures.saturating_add(1);
        self.last_failure = now;
        if self.failures >= LOCK_AFTER {
            let doublings = (self.failures - LOCK_AFTER).min(10);
            self.locked_until = now + (1i64 << doublings).min(MAX_LOCK_SECONDS);
        }
        self
    }
}

/// The record's id: the username hashed, so any string a caller sends makes a bounded id.
pub(super) fn record_id(pool_id: &str, username: &str) -> String {
    format!("{pool_id}/{}", sha256_hex(username.as_bytes()))
}

/// What counting a wrong password came to.
enum Counted {
    Counted(SignInFailures),
    /// The name was locked already: not counted.
    Locked(SignInFailures),
}

impl UserPools {
    /// The failures of `username` in `pool_id` as they stand now (forgotten ones read as none).
    #[crate::entry_point]
    pub async fn sign_in_failures(&self, pool_id: &str, username: &str) -> StoreResult<SignInFailures> {
        let now = self.kernel.now();
        let doc = self.kernel.store.get_document(KIND_SIGN_IN_FAILURES, &record_id(pool_id, username)).await?;
        current(doc.as_ref(), now)
    }

    /// One atomic read-modify-write of the record: `decide` sees the failures as they stand and
    /// returns what to store (`None`: leave it; no failures: remove it) and what to report.
    async fn update_failures<R: Send>(
        &self,
        pool_id: &str,
        username: &str,
        mut decide: impl FnMut(SignInFailures, i64) -> (Option<SignInFailures>, R) + Send,
    ) -> StoreResult<R> {
        let now = self.kernel.now();
        let id = record_id(pool_id, username);
        let mut report = None;
        let mut updater = |stored: Option<&Document>| -> StoreResult<Change<Document>> {
            let (next, r) = decide(current(stored, now)?, now);
            report = Some(r);
            Ok(match (next, stored) {
                (None, _) | (Some(SignInFailures { failures: 0, .. }), None) => Change::Keep,
                (Some(SignInFailures { failures: 0, .. }), Some(_)) => Change::Delete,
                (Some(f), _) => {
                    let created = stored.map_or(now, |d| d.created_at);
                    let doc = Document::new(KIND_SIGN_IN_FAILURES, &id, pool_id, &f, created, now);
                    Change::Put(doc.expiring(f.forgotten_at()))
                }
            })
        };
        self.kernel.store.update_document_with(KIND_SIGN_IN_FAILURES, &id, &mut updater).await?;
        report.ok_or_else(|| crate::store::StoreError::Backend("the failure count never ran".into()))
    }

    /// Refuses when `username` is locked in `pool_id` now.
    pub(crate) async fn check_lock(&self, pool_id: &str, username: &str, call: &mut Call) -> Result<(), Refusal> {
        let f = self.sign_in_failures(pool_id, username).await?;
        if f.locked(self.kernel.now()) {
            return Err(self.locked(f, call));
        }
        Ok(())
    }

    fn locked(&self, f: SignInFailures, call: &mut Call) -> Refusal {
        call.refuse(
            Reason::LockedOut,
            "lockout",
            format!(
                "{} wrong passwords in a row; locked for {} more s",
                f.failures,
                f.locked_until - self.kernel.now()
            ),
            "Password attempts exceeded",
        )
    }

    /// Counts one wrong password of `username` and returns the refusal: the wrong password
    /// (`check`, `detail` say which check failed), or the lock when it came while locked.
    pub(crate) async fn wrong_password(
        &self,
        pool_id: &str,
        username: &str,
        check: &str,
        detail: String,
        call: &mut Call,
    ) -> Refusal {
        let counted = self
            .update_failures(pool_id, username, |f, now| {
                if f.locked(now) {
                    (None, Counted::Locked(f))
                } else {
                    let next = f.count(now);
                    (Some(next), Counted::Counted(next))
                }
            })
            .await;
        match counted {
            Ok(Counted::Counted(f)) => {
                let lock = if f.locked(self.kernel.now()) {
                    format!("; {} in a row, locked for {} s", f.failures, f.locked_until - self.kernel.now())
                } else {
                    format!("; {} in a row", f.failures)
                };
                call.refuse(Reason::NotAuthorized, check, format!("{detail}{lock}"), WRONG_PASSWORD)
            }
            Ok(Counted::Locked(f)) => self.locked(f, call),
            Err(e) => Refusal::storage(e),
        }
    }

    /// A right password of `username`: refused while the name is locked (a lock set while its
    /// argon2 check ran counts); otherwise its failures are forgotten.
    pub(crate) async fn right_password(&self, pool_id: &str, username: &str, call: &mut Call) -> Result<(), Refusal> {
        let locked = self
            .update_failures(pool_id, username, |f, now| {
                if f.locked(now) {
                    (None, Some(f))
                } else {
                    (Some(SignInFailures::default()), None)
                }
            })
            .await?;
        match locked {
            Some(f) => Err(self.locked(f, call)),
            None => Ok(()),
        }
    }

    /// Forgets the failures of `username` (a new password was set).
    pub(crate) async fn forget_failures(&self, pool_id: &str, username: &str) -> StoreResult<()> {
        forget(self.kernel.store.as_ref(), pool_id, username).await
    }
}

/// Forgets the failures of `username` in `pool_id`.
pub(crate) async fn forget(store: &dyn crate::Store, pool_id: &str, username: &str) -> StoreResult<()> {
    store.delete_document(KIND_SIGN_IN_FAILURES, &record_id(pool_id, username)).await?;
    Ok(())
}

/// The failures a stored record holds at `now` (none once forgotten).
fn current(stored: Option<&Document>, now: i64) -> StoreResult<SignInFailures> {
    let Some(d) = stored else { return Ok(SignInFailures::default()) };
    let f: SignInFailures = serde_json::from_value(d.body.clone())
        .map_err(|e| crate::store::StoreError::Backend(format!("stored sign-in failures are not readable: {e}")))?;
    Ok(if f.forgotten_at() <= now { SignInFailures::default() } else { f })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_in_a_row_lock_for_a_second_then_doubling_up_to_fifteen_minutes() {
        let mut f = SignInFailures::default();
        for _ in 0..4 {
            f = f.count(100);
            assert!(!f.locked(100));
        }
        f = f.count(100);
        assert_eq!((f.failures, f.locked_until), (5, 101));
        assert!(f.locked(100) && !f.locked(101));
        assert_eq!(f.count(101).locked_until, 103);
        let mut g = f;
        for _ in 0..20 {
            g = g.count(200);
        }
        assert_eq!(g.locked_until, 200 + MAX_LOCK_SECONDS);
        assert_eq!(g.forgotten_at(), 200 + MAX_LOCK_SECONDS + MEMORY_SECONDS);
    }
}
