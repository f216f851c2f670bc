//! The only door to state. Implementations: SQLite (embedded default) and, later, PostgreSQL.
//!
//! Rules every implementation keeps, proven by the conformance suite in `tokenbridge-store`:
//! - Every piece of state lives here, never in process memory, so any number of instances can
//!   share one database (caches are allowed only for data whose staleness is bounded and safe).
//! - Operations that correctness depends on are single atomic Store calls, never a
//!   read-then-write in the engine: [`Store::insert_replay_marker`] is insert-if-absent,
//!   [`Store::rotate_refresh_token`] and [`Store::retry_refresh_rotation`] are compare-and-swaps,
//!   [`Store::activate_signing_key`] retires the old key and activates the new one in one
//!   transaction.
//! - A read-modify-write of a document or a user is one call, [`Store::update_document_with`]
//!   or [`Store::update_user_with`]: the store runs the caller's updater on the record as it
//!   stands inside its own transaction, so concurrent writers (in any number of instances) never
//!   overwrite each other's changes. There is no blind "replace" of either: a caller cannot
//!   forget the retry, because there is none to write. Records that must change together (a
//!   provider and its identifier claims) are one [`Store::update_documents_with`].
//! - Secrets arrive already hashed or sealed; the store never sees a raw token.

use crate::model::*;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("storage error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What an updater decides about the record it was shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<T> {
    /// Leave it as it is: nothing is written.
    Keep,
    /// Store this (inserting it when there was none).
    Put(T),
    /// Remove it.
    Delete,
}

/// Decides a document's next state from its current one (`None`: there is none). It runs inside
/// the store's transaction, so it must be quick and do no I/O; it may run more than once (after
/// a lost insert race), so whatever it reports must come from its last run. An error it returns
/// rolls the transaction back and is returned to the caller.
pub type DocumentUpdater<'a> = dyn FnMut(Option<&Document>) -> StoreResult<Change<Document>> + Send + 'a;

/// A document's key: its kind and id.
pub type DocumentKey = (String, String);

/// Decides the next state of several documents together from their current ones (in the order
/// their keys were given; `None` for an absent one): one [`Change`] for each, in that order. The
/// same rules as for a [`DocumentUpdater`].
pub type DocumentsUpdater<'a> = dyn FnMut(&[Option<Document>]) -> StoreResult<Vec<Change<Document>>> + Send + 'a;

/// Decides a user's next record from the current one: `None` leaves it as it is. The same rules
/// as for a [`DocumentUpdater`].
pub type UserUpdater<'a> = dyn FnMut(&User) -> StoreResult<Option<User>> + Send + 'a;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    // --- users ---
    /// Fails with `Conflict` when the username is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// Read-modify-write of one user as one atomic step: `updater` sees the record as stored and
    /// returns its replacement (same id), or `None` to leave it. Concurrent updates of one user,
    /// from any instance, run one after another, each seeing what the previous one stored.
    /// Returns the user as it stands afterwards; `Ok(None)` (the updater not run) when there is
    /// no such user; `Conflict` when the replacement takes another user's username.
    async fn update_user_with(&self, id: &str, updater: &mut UserUpdater<'_>) -> StoreResult<Option<User>>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// Case-insensitive; may return several users (the engine refuses ambiguous matches).
    async fn find_users_by_email(&self, email: &str) -> StoreResult<Vec<User>>;
    /// Ordered by username, starting after `after`.
    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>>;
    /// Deletes the user with its links and refresh tokens.
    async fn delete_user(&self, id: &str) -> StoreResult<bool>;

    // --- upstream links ---
    /// `Conflict` when `(provider, subject)` is linked to a user already.
    async fn put_link(&self, link: &UpstreamLink) -> StoreResult<()>;
    async fn delete_link(&self, provider: &str, subject: &str) -> StoreResult<bool>;
    async fn find_link(&self, provider: &str, subject: &str) -> StoreResult<Option<UpstreamLink>>;
    async fn links_for_user(&self, user_id: &str) -> StoreResult<Vec<UpstreamLink>>;

    // --- clients ---
    /// Insert or replace.
    async fn put_client(&self, client: &Client) -> StoreResult<()>;
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Returns whether the client existed.
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;

    // --- signing keys ---
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Atomically: the currently active key stops being active and is published until
    /// `retire_publish_until`; `kid` becomes the active key.
    async fn activate_signing_key(&self, kid: &str, retire_publish_until: i64) -> StoreResult<()>;
    /// Removes keys whose `publish_until` is before `now`; returns how many.
    async fn purge_retired_keys(&self, now: i64) -> StoreResult<u64>;
    /// Compare-and-swap of a key's stored private key (resealing at rest): replaces it with `new`
    /// only if it is still `expected`; returns whether it did. Of instances resealing the same
    /// key at once, one writes and the others see that it changed.
    async fn replace_signing_key_private(&self, kid: &str, expected: &[u8], new: &[u8]) -> StoreResult<bool>;

    // --- refresh tokens ---
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()>;
    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshTokenRecord>>;
    /// Compare-and-swap: if `old_hash` is active and unexpired at `now`, mark it rotated (at
    /// `now`, replaced by `new`) and insert `new` in the same transaction. Exactly one of many
    /// concurrent callers wins.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
    ) -> StoreResult<RotateOutcome>;
    /// The reuse grace, as one compare-and-swap: if `old_hash` is rotated (not superseded) at or
    /// after `rotated_since`, and the token that replaced it is still active and unexpired at
    /// `now`, retire that successor (rotated at `now`, replaced by `new`, superseded) and insert
    /// `new` in the same transaction. Returns whether it did; exactly one of many concurrent
    /// callers does, so the family never holds two active tokens.
    async fn retry_refresh_rotation(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
        rotated_since: i64,
    ) -> StoreResult<bool>;
    /// Marks every token of the family revoked; returns how many were still active.
    async fn revoke_refresh_family(&self, family_id: &str) -> StoreResult<u64>;
    /// Whether the family is still alive: it has no revoked token (a family whose tokens are
    /// all rotated-out or expired but never revoked counts as alive). Unknown families are alive:
    /// every session is recorded when it starts and kept until its tokens expire, so an unknown
    /// family is one whose tokens have expired (or were issued before sessions without refresh
    /// tokens were recorded).
    async fn refresh_family_active(&self, family_id: &str) -> StoreResult<bool>;
    /// Ends every sign-in session of the user (each family gets revoked tokens, so its access
    /// tokens stop passing the revocation check); returns how many families were still active.
    async fn revoke_user_sessions(&self, user_id: &str) -> StoreResult<u64>;

    // --- one-time use ---
    /// Insert-if-absent: `true` when this is the first use of `token_hash` (an expired marker
    /// with the same hash counts as absent and is replaced).
    async fn insert_replay_marker(&self, token_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool>;
    /// Deletes expired replay markers, expired refresh tokens, expired auth sessions and expired
    /// documents (`expires_at <= now`); returns rows removed.
    async fn purge_expired(&self, now: i64) -> StoreResult<u64>;

    // --- audit ---
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()>;
    /// Newest first (oldest first with `query.oldest_first`); at most `query.limit` (default 50,
    /// capped at 1000).
    async fn lookup_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Deletes the audit records whose `event_time` is before `time` (retention); returns how many.
    async fn purge_audit_before(&self, time: i64) -> StoreResult<u64>;

    // --- settings (small shared values: admin token hash, demo provider keys, ...) ---
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()>;
    /// Insert-if-absent; returns the value now stored (ours, or the one another instance wrote first).
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<String>;
    /// Compare-and-swap (resealing a server key at rest): replaces the setting with `new` only if
    /// it is still `expected`; returns whether it did. Of instances resealing one setting at
    /// once, one writes and the others see that it changed.
    async fn replace_setting(&self, key: &str, expected: &str, new: &str) -> StoreResult<bool>;

    // --- user pools: documents ---
    /// Inserts; `Conflict` when (kind, id) exists.
    async fn insert_document(&self, doc: &Document) -> StoreResult<()>;
    /// Read-modify-write of one document as one atomic step: `updater` sees the document as
    /// stored (`None` when there is none) and decides ([`Change`]); a `Put` must keep the kind and
    /// id, and replaces pool, body, `updated_at` and `expires_at` (an existing document keeps its
    /// `created_at`). Concurrent updates of one (kind, id), from any instance, run one after
    /// another, each seeing what the previous one stored, also when they race to create it.
    /// Returns the document as it stands afterwards.
    async fn update_document_with(
        &self,
        kind: &str,
        id: &str,
        updater: &mut DocumentUpdater<'_>,
    ) -> StoreResult<Option<Document>>;
    /// Read-modify-write of several documents as one atomic step (a record and the claims that
    /// go with it): `updater` sees them all as stored and decides each; every change is written
    /// in one transaction, or none is. Concurrent updates sharing any of the documents run one
    /// after another, each seeing what the previous one stored, also when they race to create
    /// one. `keys` must be distinct. Returns the documents as they stand afterwards, in the
    /// order of `keys`.
    async fn update_documents_with(
        &self,
        keys: &[DocumentKey],
        updater: &mut DocumentsUpdater<'_>,
    ) -> StoreResult<Vec<Option<Document>>>;
    async fn get_document(&self, kind: &str, id: &str) -> StoreResult<Option<Document>>;
    /// Ordered by id (byte order in every backend); ids strictly after `after`; at most `limit`; only the pool's when `pool_id` is given.
    async fn list_documents(
        &self,
        kind: &str,
        pool_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Document>>;
    async fn delete_document(&self, kind: &str, id: &str) -> StoreResult<bool>;
    /// Deletes every document whose pool_id is this pool (any kind); returns how many.
    async fn delete_pool_documents(&self, pool_id: &str) -> StoreResult<u64>;

    // --- auth challenge sessions ---
    /// `Conflict` when the id exists.
    async fn insert_auth_session(&self, session: &AuthSession) -> StoreResult<()>;
    /// Also returns an expired session (until purged), so the caller can tell "expired" from "unknown".
    async fn get_auth_session(&self, id_hash: &str) -> StoreResult<Option<AuthSession>>;
    /// Atomically counts one failed answer (attempts += 1) and returns the new count; `None` when absent.
    async fn fail_auth_session(&self, id_hash: &str) -> StoreResult<Option<u32>>;
    /// Atomically removes it: `true` only for the one caller that removed it (single use).
    async fn take_auth_session(&self, id_hash: &str) -> StoreResult<bool>;
}

/// Typed read-modify-writes over the two atomic updates, for the engine's records.
impl dyn Store {
    /// Read-modify-write of a document whose body is a `T`: `decide` sees the current body
    /// (`None` when absent) and returns the [`Change`] and what to report. A `Put` is stored
    /// under `pool_id`, stamped `now` (a new document is also created `now`), keeping the
    /// stored document's expiry (a record kept for a while stays purgeable). Returns what
    /// `decide` reported on its last run (it may run more than once; see [`DocumentUpdater`]).
    pub async fn update_record<T, R>(
        &self,
        kind: &str,
        id: &str,
        pool_id: &str,
        now: i64,
        mut decide: impl FnMut(Option<T>) -> (Change<T>, R) + Send,
    ) -> StoreResult<R>
    where
        T: Serialize + DeserializeOwned,
        R: Send,
    {
        let mut report = None;
        let mut updater = |current: Option<&Document>| -> StoreResult<Change<Document>> {
            let body = match current {
                Some(d) => Some(
                    serde_json::from_value::<T>(d.body.clone())
                        .map_err(|e| StoreError::Backend(format!("stored {kind} {id:?} is not readable: {e}")))?,
                ),
                None => None,
            };
            let (change, r) = decide(body);
            report = Some(r);
            Ok(match change {
                Change::Keep => Change::Keep,
                Change::Delete => Change::Delete,
                Change::Put(t) => {
                    let created = current.map_or(now, |d| d.created_at);
                    let mut doc = Document::new(kind, id, pool_id, &t, created, now);
                    doc.expires_at = current.and_then(|d| d.expires_at);
                    Change::Put(doc)
                }
            })
        };
        self.update_document_with(kind, id, &mut updater).await?;
        report.ok_or_else(|| StoreError::Backend(format!("the update of {kind} {id:?} never ran")))
    }

    /// Read-modify-write of one user: `change` edits the user as stored (stamped `now`) and says
    /// what to report. `None` when there is no such user.
    pub async fn update_user_record<R: Send>(
        &self,
        id: &str,
        now: i64,
        mut change: impl FnMut(&mut User) -> R + Send,
    ) -> StoreResult<Option<(User, R)>> {
        let mut report = None;
        let mut updater = |current: &User| -> StoreResult<Option<User>> {
            let mut user = current.clone();
            report = Some(change(&mut user));
            user.updated_at = now;
            Ok(Some(user))
        };
        let stored = self.update_user_with(id, &mut updater).await?;
        Ok(stored.zip(report))
    }
}
