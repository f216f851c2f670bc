//! SQLite implementation of [`Store`]: the embedded default.
//!
//! SQLite allows one writer at a time, so every write goes through a pool holding a single
//! connection (writers queue fairly in the pool instead of spinning in SQLite's busy handler)
//! and reads use a separate pool that WAL lets run alongside the writer. Several processes may
//! open the same file: across processes writers wait for each other through `busy_timeout`,
//! and every multi-statement write runs under `BEGIN IMMEDIATE`, which takes the write lock up
//! front so a transaction never has to upgrade a stale read snapshot (which fails at once with
//! `SQLITE_BUSY` instead of waiting).

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlSafeStr, Sqlite};
use std::path::Path;
use std::time::Duration;

use crate::group_commit::GroupCommit;
use crate::records::*;
use crate::statements::{DocumentChange, RowLock, Statements};
use tokenbridge_core::model::*;
use tokenbridge_core::store::{
    DocumentKey, DocumentUpdater, DocumentsUpdater, Store, StoreError, StoreResult, UserUpdater,
};

const READ_CONNECTIONS: u32 = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Sql = Statements<Sqlite>;

/// A document put by an updater replaces the stored one (its `created_at` already kept).
const DOCUMENT_UPSERT: &str = "ON CONFLICT (kind, id) DO UPDATE SET pool_id = excluded.pool_id, \
                               body = excluded.body, updated_at = excluded.updated_at, expires_at = excluded.expires_at";

/// The embedded migrations. Built by hand rather than with `sqlx::migrate!`, which needs sqlx's
/// `macros` feature (a proc-macro stack plus a second bundled-SQLite build for the host); the
/// version/description/checksum are the same as the macro would produce from these files, so
/// switching to the macro later is transparent to existing databases.
fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0001_init.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "refresh rotation".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0002_refresh_rotation.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            "user pools".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0003_user_pools.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            "document expiry".into(),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0004_document_expiry.sql").into_sql_str(),
            false,
        ),
    ])
}

/// A [`Store`] backed by one SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Exactly one connection: SQLite has a single writer anyway.
    writer: SqlitePool,
    /// Readers; WAL lets them proceed while the writer commits.
    reader: SqlitePool,
    /// The per-request hot writes (replay markers, refresh tokens, audit records), committed
    /// together in one transaction per batch.
    group: GroupCommit,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and applies pending migrations.
    #[tokenbridge_core::entry_point]
    pub async fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        let private = |e| anyhow::anyhow!("making SQLite database {} private: {e}", path.display());
        crate::files::private_database_files(path).map_err(private)?;
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal);

        // The writer goes first: it creates the file and switches it to WAL (a persistent
        // property of the file) before any reader connects.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .min_connections(1)
            .connect_with(base.clone().create_if_missing(true).journal_mode(SqliteJournalMode::Wal))
            .await
            .map_err(|e| anyhow::anyhow!("opening SQLite database {}: {e}", path.display()))?;

        migrator()
            .run(&writer)
            .await
            .map_err(|e| anyhow::anyhow!("migrating SQLite database {}: {e}", path.display()))?;

        // query_only guards against a write slipping onto a reader connection, where it would
        // bypass the writer queue.
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .test_before_acquire(false)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(|e| anyhow::anyhow!("opening SQLite database {}: {e}", path.display()))?;

        // The WAL files exist now; SQLite gave them the database's mode, and this makes sure.
        crate::files::private_database_files(path).map_err(private)?;
        let group = GroupCommit::spawn(writer.clone());
        Ok(SqliteStore { writer, reader, group })
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Starts a write transaction holding SQLite's write lock from its first statement.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(backend)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        Sql::ping(&self.reader).await
    }

    // --- users ---

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        Sql::create_user(&self.writer, user).await
    }

    async fn update_user_with(&self, id: &str, updater: &mut UserUpdater<'_>) -> StoreResult<Option<User>> {
        // The write lock is held from the read to the commit: no other writer, in this process
        // or another, can change the user in between.
        Sql::update_user_with(self.begin_write().await?, RowLock::None, id, updater).await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        Sql::get_user(&self.reader, id).await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        Sql::find_user_by_username(&self.reader, username).await
    }

    async fn find_users_by_email(&self, email: &str) -> StoreResult<Vec<User>> {
        Sql::find_users_by_email(&self.reader, email).await
    }

    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        Sql::list_users(&self.reader, after, limit).await
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        Sql::delete_user(self.begin_write().await?, id).await
    }

    // --- upstream links ---

    async fn put_link(&self, link: &UpstreamLink) -> StoreResult<()> {
        Sql::put_link(&self.writer, link).await
    }

    async fn delete_link(&self, provider: &str, subject: &str) -> StoreResult<bool> {
        Sql::delete_link(&self.writer, provider, subject).await
    }

    async fn find_link(&self, provider: &str, subject: &str) -> StoreResult<Option<UpstreamLink>> {
        Sql::find_link(&self.reader, provider, subject).await
    }

    async fn links_for_user(&self, user_id: &str) -> StoreResult<Vec<UpstreamLink>> {
        Sql::links_for_user(&self.reader, user_id).await
    }

    // --- clients ---

    async fn put_client(&self, c: &Client) -> StoreResult<()> {
        Sql::put_client(&self.writer, c).await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        Sql::delete_client(&self.writer, client_id).await
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        Sql::get_client(&self.reader, client_id).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        Sql::list_clients(&self.reader).await
    }

    // --- signing keys ---

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        Sql::insert_signing_key(&self.writer, key).await
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        Sql::list_signing_keys(&self.reader).await
    }

    async fn activate_signing_key(&self, kid: &str, retire_publish_until: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Retire first: the partial unique index allows one active key at any moment.
        sqlx::query("UPDATE signing_keys SET active = 0, publish_until = ? WHERE active = 1 AND kid <> ?")
            .bind(retire_publish_until)
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // A key activated again after being retired must not keep its purge deadline.
        let done = sqlx::query("UPDATE signing_keys SET active = 1, publish_until = NULL WHERE kid = ?")
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            // Dropping the transaction rolls the retirement back.
            return Err(StoreError::NotFound(format!("signing key {kid}")));
        }
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn replace_signing_key_private(&self, kid: &str, expected: &[u8], new: &[u8]) -> StoreResult<bool> {
        Sql::replace_signing_key_private(&self.writer, kid, expected, new).await
    }

    async fn purge_retired_keys(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM signing_keys \
             WHERE active = 0 AND publish_until IS NOT NULL AND publish_until < ?",
        )
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    // --- refresh tokens ---

    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()> {
        self.group.refresh_token(token.clone()).await
    }

    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshTokenRecord>> {
        Sql::get_refresh_token(&self.reader, token_hash).await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
    ) -> StoreResult<RotateOutcome> {
        let mut tx = self.begin_write().await?;
        if let Some(old) = Sql::swap_refresh(&mut tx, old_hash, new, now).await? {
            tx.commit().await.map_err(backend)?;
            return Ok(RotateOutcome::Rotated(old));
        }
        // Lost the swap: explain why from the row as it stands under our write lock.
        let old = Sql::get_refresh_token(&mut *tx, old_hash).await?;
        tx.rollback().await.map_err(backend)?;
        let Some(old) = old else {
            return Ok(RotateOutcome::NotFound);
        };
        Ok(match old.status {
            RefreshStatus::Rotated => RotateOutcome::Reused(old),
            RefreshStatus::Revoked => RotateOutcome::Revoked(old),
            RefreshStatus::Active => RotateOutcome::Expired(old),
        })
    }

    async fn retry_refresh_rotation(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
        rotated_since: i64,
    ) -> StoreResult<bool> {
        // One statement under the write lock checks the presented token and retires its
        // successor, so nothing can change in between.
        Sql::retry_refresh_rotation(self.begin_write().await?, old_hash, new, now, rotated_since).await
    }

    async fn revoke_refresh_family(&self, family_id: &str) -> StoreResult<u64> {
        // Under the write lock no rotation can add to the family meanwhile: one pass revokes all.
        let mut tx = self.begin_write().await?;
        let (active, _rotated) = Sql::revoke_family_tokens(&mut tx, family_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(active)
    }

    async fn refresh_family_active(&self, family_id: &str) -> StoreResult<bool> {
        Sql::refresh_family_active(&self.reader, family_id).await
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let families = Sql::active_families(&mut tx, user_id).await?;
        Sql::revoke_user_tokens(&mut tx, user_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(families)
    }

    // --- one-time use ---

    async fn insert_replay_marker(&self, token_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        self.group.replay_marker(token_hash.to_string(), expires_at, now).await
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        Sql::purge_expired(self.begin_write().await?, now).await
    }

    // --- audit ---

    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        self.group.audit(r.clone()).await
    }

    async fn lookup_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        Sql::lookup_audit(&self.reader, q, JsonDialect::Sqlite).await
    }

    async fn purge_audit_before(&self, time: i64) -> StoreResult<u64> {
        Sql::purge_audit_before(&self.writer, time).await
    }

    // --- settings ---

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        Sql::get_setting(&self.reader, key).await
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        Sql::put_setting(&self.writer, key, value).await
    }

    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        // The no-op update makes RETURNING yield the existing row when the key is taken, so
        // the answer comes from the same atomic statement as the insert.
        sqlx::query_scalar(
            "INSERT INTO settings (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = settings.value RETURNING value",
        )
        .bind(key)
        .bind(value)
        .fetch_one(&self.writer)
        .await
        .map_err(backend)
    }

    async fn replace_setting(&self, key: &str, expected: &str, new: &str) -> StoreResult<bool> {
        Sql::replace_setting(&self.writer, key, expected, new).await
    }

    // --- user pools: documents ---

    async fn insert_document(&self, doc: &Document) -> StoreResult<()> {
        Sql::insert_document(&self.writer, doc, "").await?;
        Ok(())
    }

    async fn update_document_with(
        &self,
        kind: &str,
        id: &str,
        updater: &mut DocumentUpdater<'_>,
    ) -> StoreResult<Option<Document>> {
        // Under the write lock from the read to the commit (see `update_user_with`); an early
        // return drops the transaction, which rolls it back.
        let mut tx = self.begin_write().await?;
        let after = match Sql::read_for_update(&mut tx, RowLock::None, kind, id, updater).await? {
            DocumentChange::Keep(current) => {
                tx.rollback().await.map_err(backend)?;
                return Ok(current);
            }
            DocumentChange::Delete => {
                Sql::delete_document(&mut *tx, kind, id).await?;
                None
            }
            DocumentChange::Put { doc, .. } => {
                Sql::insert_document(&mut *tx, &doc, DOCUMENT_UPSERT).await?;
                Some(doc)
            }
        };
        tx.commit().await.map_err(backend)?;
        Ok(after)
    }

    async fn update_documents_with(
        &self,
        keys: &[DocumentKey],
        updater: &mut DocumentsUpdater<'_>,
    ) -> StoreResult<Vec<Option<Document>>> {
        // One write transaction (BEGIN IMMEDIATE keeps every other writer out from the reads
        // to the commit); an early return rolls it back.
        let mut tx = self.begin_write().await?;
        let changes = Sql::read_many_for_update(&mut tx, RowLock::None, keys, updater).await?;
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
                DocumentChange::Put { doc, .. } => {
                    wrote = true;
                    Sql::insert_document(&mut *tx, &doc, DOCUMENT_UPSERT).await?;
                    Some(doc)
                }
            };
        }
        if wrote {
            tx.commit().await.map_err(backend)?;
        } else {
            tx.rollback().await.map_err(backend)?;
        }
        Ok(after)
    }

    async fn get_document(&self, kind: &str, id: &str) -> StoreResult<Option<Document>> {
        Sql::get_document(&self.reader, kind, id).await
    }

    async fn list_documents(
        &self,
        kind: &str,
        pool_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Document>> {
        Sql::list_documents(&self.reader, kind, pool_id, after, limit).await
    }

    async fn delete_document(&self, kind: &str, id: &str) -> StoreResult<bool> {
        Sql::delete_document(&self.writer, kind, id).await
    }

    async fn delete_pool_documents(&self, pool_id: &str) -> StoreResult<u64> {
        Sql::delete_pool_documents(&self.writer, pool_id).await
    }

    // --- auth challenge sessions ---

    async fn insert_auth_session(&self, session: &AuthSession) -> StoreResult<()> {
        Sql::insert_auth_session(&self.writer, session).await
    }

    async fn get_auth_session(&self, id_hash: &str) -> StoreResult<Option<AuthSession>> {
        Sql::get_auth_session(&self.reader, id_hash).await
    }

    async fn fail_auth_session(&self, id_hash: &str) -> StoreResult<Option<u32>> {
        // One statement: the single writer connection runs them one after another, and across processes SQLite's write lock does.
        Sql::fail_auth_session(&self.writer, id_hash).await
    }

    async fn take_auth_session(&self, id_hash: &str) -> StoreResult<bool> {
        // Deletes run one at a time under the write lock; only the first finds the row.
        Sql::take_auth_session(&self.writer, id_hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_normalization_is_unicode_aware() {
        assert_eq!(normalize_email("ÄLICE@Example.COM"), "älice@example.com");
    }
}
