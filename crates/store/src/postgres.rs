//! PostgreSQL implementation of [`Store`]: for running several instances against one shared
//! database server.
//!
//! Every connection runs at READ COMMITTED (set on each new pooled connection, whatever the
//! server's `default_transaction_isolation`), and the atomic operations of the contract are built on
//! what READ COMMITTED guarantees across any number of instances:
//! - single-statement upserts (`INSERT ... ON CONFLICT`) either insert or find the committed
//!   conflicting row, never both or neither;
//! - an `UPDATE ... WHERE <condition>` that waits for a concurrent writer of the same row
//!   re-checks the condition against the row as that writer committed it, so a
//!   compare-and-swap has exactly one winner;
//! - each statement of a transaction sees everything committed before the statement started.
//!
//! Migrations run at open on a dedicated connection under sqlx's Postgres migrator, which holds
//! `pg_advisory_lock` (keyed by database name) while migrating, so instances starting together
//! take turns; the connection is closed afterwards, which releases the lock even when a
//! migration failed. Each migration runs in its own transaction.

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, Postgres, SqlSafeStr};
use std::str::FromStr;
use std::time::Duration;

use crate::records::*;
use crate::statements::{DocumentChange, RowLock, Statements};
use tokenbridge_core::model::*;
use tokenbridge_core::store::{
    DocumentKey, DocumentUpdater, DocumentsUpdater, Store, StoreError, StoreResult, UserUpdater,
};

/// A rotation retries when its compare-and-swap raced with the token's own insert.
const ROTATE_ATTEMPTS: usize = 3;
/// A document update retries when it raced another to create the document (and, improbably,
/// kept losing to deletions in between).
const UPDATE_ATTEMPTS: usize = 5;

type Sql = Statements<Postgres>;

/// The embedded migrations, built by hand like the SQLite ones (no `sqlx::migrate!`, whose
/// `macros` feature is off on purpose). Version, description and checksum match what the
/// macro would produce from `migrations/postgres`.
fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0001_init.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "refresh rotation".into(),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0002_refresh_rotation.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            "user pools".into(),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0003_user_pools.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            "document expiry".into(),
            MigrationType::Simple,
            include_str!("../migrations/postgres/0004_document_expiry.sql").into_sql_str(),
            false,
        ),
    ])
}

/// Connection pool settings of a [`PostgresStore`].
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Upper bound on open connections of this instance (default 16).
    pub max_connections: u32,
    /// How long a store call waits for a free (or new) pooled connection (default 5 s).
    pub acquire_timeout: Duration,
    /// How long [`PostgresStore::open`] waits for its first connection (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A [`Store`] backed by a PostgreSQL database (the tables live in the first schema of the
/// connection's `search_path`, `public` by default; pass `options=-c search_path=...` in the
/// URL to use another).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db?...`, libpq-style parameters such
    /// as `sslmode` and `options` are understood), applies pending migrations and returns the
    /// store. Errors never include the URL, which may carry a password.
    #[tokenbridge_core::entry_point]
    pub async fn open(url: &str, settings: PoolSettings) -> anyhow::Result<PostgresStore> {
        let mut options =
            PgConnectOptions::from_str(url).map_err(|e| anyhow::anyhow!("invalid PostgreSQL URL: {e}"))?;
        if options.get_application_name().is_none() {
            options = options.application_name("tokenbridge");
        }

        // Migrate through a pool of one connection (the migrator holds a session-level lock on
        // it); closing that pool ends the session, releasing the lock whatever happened.
        let migration_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.connect_timeout)
            .connect_with(options.clone());
        let migration_pool = tokio::time::timeout(settings.connect_timeout, migration_pool)
            .await
            .map_err(|_| anyhow::anyhow!("connecting to PostgreSQL timed out after {:?}", settings.connect_timeout))?
            .map_err(|e| anyhow::anyhow!("connecting to PostgreSQL: {e}"))?;
        let migrated = migrator().run(&migration_pool).await;
        migration_pool.close().await;
        migrated.map_err(|e| anyhow::anyhow!("migrating PostgreSQL database: {e}"))?;

        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // The atomic operations are written for READ COMMITTED; a stricter server default
            // would turn lost races into serialization failures instead of clean outcomes. Set
            // per session rather than as a startup option, which some poolers refuse.
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("SET default_transaction_isolation = 'read committed'").await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(PostgresStore { pool })
    }

    /// [`PostgresStore::open`] with the default [`PoolSettings`].
    #[tokenbridge_core::entry_point]
    pub async fn connect(url: &str) -> anyhow::Result<PostgresStore> {
        Self::open(url, PoolSettings::default()).await
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(backend)
    }

    /// One document update; `None` when the document was absent and another caller created it
    /// first (this one's insert found it), so the caller retries on the row as now committed.
    async fn try_update_document(
        &self,
        kind: &str,
        id: &str,
        updater: &mut DocumentUpdater<'_>,
    ) -> StoreResult<Option<Option<Document>>> {
        let mut tx = self.begin().await?;
        // The row lock serializes updaters of one document; an absent row locks nothing, so
        // racing creators are told apart by the insert below.
        let after = match Sql::read_for_update(&mut tx, RowLock::ForUpdate, kind, id, updater).await? {
            DocumentChange::Keep(current) => {
                tx.rollback().await.map_err(backend)?;
                return Ok(Some(current));
            }
            DocumentChange::Delete => {
                Sql::delete_document(&mut *tx, kind, id).await?;
                None
            }
            DocumentChange::Put { exists: true, doc } => {
                Self::update_document_row(&mut tx, &doc).await?;
                Some(doc)
            }
            DocumentChange::Put { exists: false, doc } => {
                // DO NOTHING waits for a concurrent creator to commit and then inserts
                // nothing: this caller lost the race and retries on the committed row.
                let inserted = Sql::insert_document(&mut *tx, &doc, "ON CONFLICT (kind, id) DO NOTHING").await?;
                if inserted == 0 {
                    tx.rollback().await.map_err(backend)?;
                    return Ok(None);
                }
                Some(doc)
            }
        };
        tx.commit().await.map_err(backend)?;
        Ok(Some(after))
    }

    /// One several-document update; `None` when one of the documents was absent and another
    /// caller created it first (this one's insert found it), so the caller retries on the rows
    /// as now committed.
    async fn try_update_documents(
        &self,
        keys: &[DocumentKey],
        updater: &mut DocumentsUpdater<'_>,
    ) -> StoreResult<Option<Vec<Option<Document>>>> {
        let mut tx = self.begin().await?;
        // Row locks taken in key order serialize updaters of overlapping sets; the writes go in
        // key order too, so two creators of the same absent rows meet at the first of them.
        let changes = Sql::read_many_for_update(&mut tx, RowLock::ForUpdate, keys, updater).await?;
        let mut after: Vec<Option<Document>> = vec![None; keys.len()];
        let mut wrote = false;
        for (i, change) in changes {
            let (kind, id) = &keys[i];
            after[i] = match change {
                DocumentChange::Keep(current) => current,
                DocumentChange::Delete => {
                    wrote = true;
                    Sql::delete_document(&mut *tx, kind, id).await?;
                    None
                }
                DocumentChange::Put { exists: true, doc } => {
                    wrote = true;
                    Self::update_document_row(&mut tx, &doc).await?;
                    Some(doc)
                }
                DocumentChange::Put { exists: false, doc } => {
                    wrote = true;
                    let inserted = Sql::insert_document(&mut *tx, &doc, "ON CONFLICT (kind, id) DO NOTHING").await?;
                    if inserted == 0 {
                        tx.rollback().await.map_err(backend)?;
                        return Ok(None);
                    }
                    Some(doc)
                }
            };
        }
        if wrote {
            tx.commit().await.map_err(backend)?;
        } else {
            tx.rollback().await.map_err(backend)?;
        }
        Ok(Some(after))
    }

    /// Replaces a locked document's row with `doc` (same kind and id).
    async fn update_document_row(tx: &mut sqlx::Transaction<'static, Postgres>, doc: &Document) -> StoreResult<()> {
        sqlx::query(
            "UPDATE documents SET pool_id = $1, body = $2, updated_at = $3, expires_at = $4 \
             WHERE kind = $5 AND id = $6",
        )
        .bind(&doc.pool_id)
        .bind(to_json(&doc.body)?)
        .bind(doc.updated_at)
        .bind(doc.expires_at)
        .bind(&doc.kind)
        .bind(&doc.id)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// One rotation attempt; `None` when the swap missed a token that, read a moment later, is
    /// active and unexpired (it was inserted between the two statements), so the caller retries.
    async fn try_rotate(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
    ) -> StoreResult<Option<RotateOutcome>> {
        let mut tx = self.begin().await?;
        // The compare-and-swap: concurrent callers queue on the row lock, and each re-checks
        // `status = 'active'` against the row as the previous winner committed it. On failure
        // the transaction is dropped, which rolls the swap back.
        if let Some(old) = Sql::swap_refresh(&mut tx, old_hash, new, now).await? {
            tx.commit().await.map_err(backend)?;
            return Ok(Some(RotateOutcome::Rotated(old)));
        }
        tx.rollback().await.map_err(backend)?;

        // Lost the swap: explain why from the row as committed now. The UPDATE waited for any
        // concurrent winner, so this new statement sees what that winner committed.
        let Some(old) = Sql::get_refresh_token(&self.pool, old_hash).await? else {
            return Ok(Some(RotateOutcome::NotFound));
        };
        Ok(match old.status {
            RefreshStatus::Rotated => Some(RotateOutcome::Reused(old)),
            RefreshStatus::Revoked => Some(RotateOutcome::Revoked(old)),
            RefreshStatus::Active if old.expires_at <= now => Some(RotateOutcome::Expired(old)),
            RefreshStatus::Active => None,
        })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        Sql::ping(&self.pool).await
    }

    // --- users ---

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        Sql::create_user(&self.pool, user).await
    }

    async fn update_user_with(&self, id: &str, updater: &mut UserUpdater<'_>) -> StoreResult<Option<User>> {
        // FOR UPDATE locks the row until the commit: a concurrent updater waits at its own read
        // and then reads what this one committed.
        Sql::update_user_with(self.begin().await?, RowLock::ForUpdate, id, updater).await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        Sql::get_user(&self.pool, id).await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        Sql::find_user_by_username(&self.pool, username).await
    }

    async fn find_users_by_email(&self, email: &str) -> StoreResult<Vec<User>> {
        Sql::find_users_by_email(&self.pool, email).await
    }

    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        Sql::list_users(&self.pool, after, limit).await
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        Sql::delete_user(self.begin().await?, id).await
    }

    // --- upstream links ---

    async fn put_link(&self, link: &UpstreamLink) -> StoreResult<()> {
        Sql::put_link(&self.pool, link).await
    }

    async fn delete_link(&self, provider: &str, subject: &str) -> StoreResult<bool> {
        Sql::delete_link(&self.pool, provider, subject).await
    }

    async fn find_link(&self, provider: &str, subject: &str) -> StoreResult<Option<UpstreamLink>> {
        Sql::find_link(&self.pool, provider, subject).await
    }

    async fn links_for_user(&self, user_id: &str) -> StoreResult<Vec<UpstreamLink>> {
        Sql::links_for_user(&self.pool, user_id).await
    }

    // --- clients ---

    async fn put_client(&self, c: &Client) -> StoreResult<()> {
        Sql::put_client(&self.pool, c).await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        Sql::delete_client(&self.pool, client_id).await
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        Sql::get_client(&self.pool, client_id).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        Sql::list_clients(&self.pool).await
    }

    // --- signing keys ---

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        Sql::insert_signing_key(&self.pool, key).await
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        Sql::list_signing_keys(&self.pool).await
    }

    async fn activate_signing_key(&self, kid: &str, retire_publish_until: i64) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Activations are rare; taking them in turn (readers are not blocked) means each one
        // sees the key the previous one activated, instead of two concurrent activations
        // colliding on the one-active-key index.
        sqlx::query("LOCK TABLE signing_keys IN EXCLUSIVE MODE").execute(&mut *tx).await.map_err(backend)?;
        // Retire first: the partial unique index allows one active key at any moment.
        sqlx::query("UPDATE signing_keys SET active = FALSE, publish_until = $1 WHERE active AND kid <> $2")
            .bind(retire_publish_until)
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // A key activated again after being retired must not keep its purge deadline.
        let done = sqlx::query("UPDATE signing_keys SET active = TRUE, publish_until = NULL WHERE kid = $1")
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(e, || format!("active signing key {kid}"), "signing key"))?;
        if done.rows_affected() == 0 {
            // Dropping the transaction rolls the retirement back.
            return Err(StoreError::NotFound(format!("signing key {kid}")));
        }
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn replace_signing_key_private(&self, kid: &str, expected: &[u8], new: &[u8]) -> StoreResult<bool> {
        Sql::replace_signing_key_private(&self.pool, kid, expected, new).await
    }

    async fn purge_retired_keys(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM signing_keys \
             WHERE NOT active AND publish_until IS NOT NULL AND publish_until < $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    // --- refresh tokens ---

    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()> {
        Sql::insert_refresh(&self.pool, token).await
    }

    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshTokenRecord>> {
        Sql::get_refresh_token(&self.pool, token_hash).await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
    ) -> StoreResult<RotateOutcome> {
        for _ in 0..ROTATE_ATTEMPTS {
            if let Some(outcome) = self.try_rotate(old_hash, new, now).await? {
                return Ok(outcome);
            }
        }
        Err(StoreError::Backend(format!("refresh token kept changing during {ROTATE_ATTEMPTS} rotation attempts")))
    }

    async fn retry_refresh_rotation(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
        rotated_since: i64,
    ) -> StoreResult<bool> {
        // The compare-and-swap is on the successor's row: concurrent retries queue on its lock,
        // and each re-checks `status = 'active'` against the row as the previous winner
        // committed it. The presented token's row changes only when its family is revoked,
        // which locks the successor too and repeats until no token is active, our insert included.
        Sql::retry_refresh_rotation(self.begin().await?, old_hash, new, now, rotated_since).await
    }

    async fn revoke_refresh_family(&self, family_id: &str) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        // A rotation racing with us may commit a new active token into the family after this
        // transaction's first statement took its snapshot: our UPDATE then waits for that
        // rotation (it holds the old token's row lock), and the next statement sees its
        // insert. So repeat until a pass finds nothing left to revoke; any rotation starting
        // later finds its token revoked (or waits on our lock and then finds it revoked).
        let mut active = 0;
        loop {
            let (newly_active, rotated) = Sql::revoke_family_tokens(&mut tx, family_id).await?;
            active += newly_active;
            if newly_active + rotated == 0 {
                break;
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(active)
    }

    async fn refresh_family_active(&self, family_id: &str) -> StoreResult<bool> {
        Sql::refresh_family_active(&self.pool, family_id).await
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        // As in `revoke_refresh_family`: a rotation racing with us may insert its successor
        // after our UPDATE took its snapshot (the UPDATE waits on the old token's row lock, then
        // revokes that row, but never sees the insert). Repeat until a pass finds nothing left,
        // so no token of a session that began before the sign-out stays active. The count is
        // informational.
        let mut tx = self.begin().await?;
        let families = Sql::active_families(&mut tx, user_id).await?;
        while Sql::revoke_user_tokens(&mut tx, user_id).await? > 0 {}
        tx.commit().await.map_err(backend)?;
        Ok(families)
    }

    // --- one-time use ---

    async fn insert_replay_marker(&self, token_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        // Concurrent callers wait for each other on the row and re-check the upsert's WHERE
        // against the committed row.
        Sql::insert_replay(&self.pool, token_hash, expires_at, now).await
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        Sql::purge_expired(self.begin().await?, now).await
    }

    // --- audit ---

    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        Sql::insert_audit(&self.pool, r).await
    }

    async fn lookup_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        Sql::lookup_audit(&self.pool, q, JsonDialect::Postgres).await
    }

    async fn purge_audit_before(&self, time: i64) -> StoreResult<u64> {
        Sql::purge_audit_before(&self.pool, time).await
    }

    // --- settings ---

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        Sql::get_setting(&self.pool, key).await
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        Sql::put_setting(&self.pool, key, value).await
    }

    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        // DO NOTHING waits for a concurrent insert of the same key to commit (or roll back);
        // when it loses, the follow-up SELECT (a new statement, so a new snapshot) sees the
        // committed winner. Settings are never deleted, so the row is still there.
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO NOTHING RETURNING value",
        )
        .bind(key)
        .bind(value)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if let Some(v) = inserted {
            return Ok(v);
        }
        self.get_setting(key).await?.ok_or_else(|| StoreError::Backend(format!("setting {key} vanished")))
    }

    async fn replace_setting(&self, key: &str, expected: &str, new: &str) -> StoreResult<bool> {
        Sql::replace_setting(&self.pool, key, expected, new).await
    }

    // --- user pools: documents ---

    async fn insert_document(&self, doc: &Document) -> StoreResult<()> {
        Sql::insert_document(&self.pool, doc, "").await?;
        Ok(())
    }

    async fn update_document_with(
        &self,
        kind: &str,
        id: &str,
        updater: &mut DocumentUpdater<'_>,
    ) -> StoreResult<Option<Document>> {
        for _ in 0..UPDATE_ATTEMPTS {
            if let Some(after) = self.try_update_document(kind, id, updater).await? {
                return Ok(after);
            }
        }
        Err(StoreError::Backend(format!(
            "the update of {kind} {id:?} lost {UPDATE_ATTEMPTS} races to create it in a row"
        )))
    }

    async fn update_documents_with(
        &self,
        keys: &[DocumentKey],
        updater: &mut DocumentsUpdater<'_>,
    ) -> StoreResult<Vec<Option<Document>>> {
        for _ in 0..UPDATE_ATTEMPTS {
            if let Some(after) = self.try_update_documents(keys, updater).await? {
                return Ok(after);
            }
        }
        Err(StoreError::Backend(format!(
            "an update of {} documents lost {UPDATE_ATTEMPTS} races to create one of them in a row",
            keys.len()
        )))
    }

    async fn get_document(&self, kind: &str, id: &str) -> StoreResult<Option<Document>> {
        Sql::get_document(&self.pool, kind, id).await
    }

    async fn list_documents(
        &self,
        kind: &str,
        pool_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Document>> {
        Sql::list_documents(&self.pool, kind, pool_id, after, limit).await
    }

    async fn delete_document(&self, kind: &str, id: &str) -> StoreResult<bool> {
        Sql::delete_document(&self.pool, kind, id).await
    }

    async fn delete_pool_documents(&self, pool_id: &str) -> StoreResult<u64> {
        Sql::delete_pool_documents(&self.pool, pool_id).await
    }

    // --- auth challenge sessions ---

    async fn insert_auth_session(&self, session: &AuthSession) -> StoreResult<()> {
        Sql::insert_auth_session(&self.pool, session).await
    }

    async fn get_auth_session(&self, id_hash: &str) -> StoreResult<Option<AuthSession>> {
        Sql::get_auth_session(&self.pool, id_hash).await
    }

    async fn fail_auth_session(&self, id_hash: &str) -> StoreResult<Option<u32>> {
        // One statement: concurrent callers queue on the row lock and each adds to the count the previous one committed.
        Sql::fail_auth_session(&self.pool, id_hash).await
    }

    async fn take_auth_session(&self, id_hash: &str) -> StoreResult<bool> {
        // A concurrent DELETE of the same row waits for ours to commit and then finds nothing.
        Sql::take_auth_session(&self.pool, id_hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_normalization_matches_sqlite() {
        assert_eq!(normalize_email("ÄLICE@Example.COM"), "älice@example.com");
    }

    #[test]
    fn pool_defaults() {
        let s = PoolSettings::default();
        assert_eq!(s.max_connections, 16);
        assert_eq!(s.acquire_timeout, Duration::from_secs(5));
    }
}
