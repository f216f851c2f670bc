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
use tokenbridge_core::model::*;
use tokenbridge_core::store::{Change, DocumentUpdater, Store, StoreError, StoreResult, UserUpdater};

const READ_CONNECTIONS: u32 = 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const AUDIT_DEFAULT_LIMIT: u32 = 50;
const AUDIT_MAX_LIMIT: u32 = 1000;

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

/// One-time-use marker as one statement, so atomic: a live marker makes the upsert's WHERE
/// false (no row changed); an expired one is overwritten and counts as a first use.
pub(crate) async fn insert_replay<'c, E>(executor: E, token_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    let done = sqlx::query(
        "INSERT INTO replay_markers (token_hash, expires_at) VALUES (?, ?) \
         ON CONFLICT (token_hash) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE replay_markers.expires_at <= ?",
    )
    .bind(token_hash)
    .bind(expires_at)
    .bind(now)
    .execute(executor)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn insert_audit<'c, E>(executor: E, r: &AuditRecord) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    sqlx::query(
        "INSERT INTO audit_events (event_id, event_time, event_name, username, request_id, \
         error_code, record) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.event_id)
    .bind(r.event_time)
    .bind(&r.event_name)
    .bind(&r.username)
    .bind(&r.request_id)
    .bind(&r.error_code)
    .bind(to_json(&r.record)?)
    .execute(executor)
    .await
    .map_err(|e| map_err(e, || format!("audit event {}", r.event_id), "audit event"))?;
    Ok(())
}

pub(crate) async fn insert_refresh<'c, E>(executor: E, t: &RefreshTokenRecord) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, client_id, scope, origin, \
         auth_time, origin_jti, issued_at, expires_at, status, rotated_at, replaced_by, superseded) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&t.token_hash)
    .bind(&t.family_id)
    .bind(&t.user_id)
    .bind(&t.client_id)
    .bind(&t.scope)
    .bind(&t.origin)
    .bind(t.auth_time)
    .bind(&t.origin_jti)
    .bind(t.issued_at)
    .bind(t.expires_at)
    .bind(t.status.as_str())
    .bind(t.rotated_at)
    .bind(&t.replaced_by)
    .bind(t.superseded)
    .execute(executor)
    .await
    .map_err(|e| map_err(e, || "refresh token".to_string(), &format!("user {}", t.user_id)))?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(backend)?;
        Ok(())
    }

    // --- users ---

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, username, email, email_norm, email_verified, enabled, \
             password_hash, groups, attributes, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.email)
        .bind(user.email.as_deref().map(normalize_email))
        .bind(user.email_verified)
        .bind(user.enabled)
        .bind(&user.password_hash)
        .bind(to_json(&user.groups)?)
        .bind(to_json(&user.attributes)?)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.writer)
        .await
        .map_err(|e| map_err(e, || format!("user {}", user.username), "user"))?;
        Ok(())
    }

    async fn update_user_with(&self, id: &str, updater: &mut UserUpdater<'_>) -> StoreResult<Option<User>> {
        // The write lock is held from the read to the commit: no other writer, in this process
        // or another, can change the user in between.
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *tx).await.map_err(backend)?;
        let Some(current) = row.as_ref().map(user_from_row).transpose()? else {
            return Ok(None);
        };
        let Some(user) = updater(&current)? else {
            tx.rollback().await.map_err(backend)?;
            return Ok(Some(current));
        };
        same_user(id, &user)?;
        sqlx::query(
            "UPDATE users SET username = ?, email = ?, email_norm = ?, email_verified = ?, \
             enabled = ?, password_hash = ?, groups = ?, attributes = ?, created_at = ?, \
             updated_at = ? WHERE id = ?",
        )
        .bind(&user.username)
        .bind(&user.email)
        .bind(user.email.as_deref().map(normalize_email))
        .bind(user.email_verified)
        .bind(user.enabled)
        .bind(&user.password_hash)
        .bind(to_json(&user.groups)?)
        .bind(to_json(&user.attributes)?)
        .bind(user.created_at)
        .bind(user.updated_at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, || format!("user {}", user.username), "user"))?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(user))
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn find_users_by_email(&self, email: &str) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_norm = ? ORDER BY username");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(normalize_email(email))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE ?1 IS NULL OR username > ?1 \
             ORDER BY username LIMIT ?2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        // The foreign keys cascade too; the explicit deletes keep the contract independent of
        // the schema's ON DELETE clauses.
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM upstream_links WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM refresh_tokens WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM users WHERE id = ?").bind(id).execute(&mut *tx).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    // --- upstream links ---

    async fn put_link(&self, link: &UpstreamLink) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO upstream_links (provider, subject, user_id, created_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(&link.provider)
        .bind(&link.subject)
        .bind(&link.user_id)
        .bind(link.created_at)
        .execute(&self.writer)
        .await
        .map_err(|e| {
            map_err(e, || format!("link {}/{}", link.provider, link.subject), &format!("user {}", link.user_id))
        })?;
        Ok(())
    }

    async fn delete_link(&self, provider: &str, subject: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM upstream_links WHERE provider = ? AND subject = ?")
            .bind(provider)
            .bind(subject)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_link(&self, provider: &str, subject: &str) -> StoreResult<Option<UpstreamLink>> {
        sqlx::query(
            "SELECT provider, subject, user_id, created_at FROM upstream_links \
             WHERE provider = ? AND subject = ?",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .as_ref()
        .map(link_from_row)
        .transpose()
    }

    async fn links_for_user(&self, user_id: &str) -> StoreResult<Vec<UpstreamLink>> {
        sqlx::query(
            "SELECT provider, subject, user_id, created_at FROM upstream_links \
             WHERE user_id = ? ORDER BY provider, subject",
        )
        .bind(user_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(link_from_row)
        .collect()
    }

    // --- clients ---

    async fn put_client(&self, c: &Client) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO clients (client_id, name, secret_sha256, grant_types, providers, scopes, \
             access_token_ttl, id_token_ttl, refresh_token_ttl, allowed_origins) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, \
             secret_sha256 = excluded.secret_sha256, grant_types = excluded.grant_types, \
             providers = excluded.providers, scopes = excluded.scopes, \
             access_token_ttl = excluded.access_token_ttl, id_token_ttl = excluded.id_token_ttl, \
             refresh_token_ttl = excluded.refresh_token_ttl, \
             allowed_origins = excluded.allowed_origins",
        )
        .bind(&c.client_id)
        .bind(&c.name)
        .bind(&c.secret_sha256)
        .bind(to_json(&c.grant_types)?)
        .bind(to_json(&c.providers)?)
        .bind(to_json(&c.scopes)?)
        .bind(c.access_token_ttl)
        .bind(c.id_token_ttl)
        .bind(c.refresh_token_ttl)
        .bind(to_json(&c.allowed_origins)?)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM clients WHERE client_id = ?")
            .bind(client_id)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        sqlx::query("SELECT * FROM clients WHERE client_id = ?")
            .bind(client_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        sqlx::query("SELECT * FROM clients ORDER BY client_id")
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?
            .iter()
            .map(client_from_row)
            .collect()
    }

    // --- signing keys ---

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_pkcs8, public_jwk, created_at, active, \
             publish_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(&key.private_pkcs8)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .bind(key.active)
        .bind(key.publish_until)
        .execute(&self.writer)
        .await
        // Also hit when inserting an active key while another one is active.
        .map_err(|e| map_err(e, || format!("signing key {}", key.kid), "signing key"))?;
        Ok(())
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        sqlx::query("SELECT * FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?
            .iter()
            .map(key_from_row)
            .collect()
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
        let done = sqlx::query("UPDATE signing_keys SET private_pkcs8 = ? WHERE kid = ? AND private_pkcs8 = ?")
            .bind(new)
            .bind(kid)
            .bind(expected)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
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
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = ?");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(refresh_from_row)
            .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
    ) -> StoreResult<RotateOutcome> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE refresh_tokens SET status = 'rotated', rotated_at = ?1, replaced_by = ?2 \
             WHERE token_hash = ?3 AND status = 'active' AND expires_at > ?1 \
             RETURNING {REFRESH_COLUMNS}"
        );
        let swapped = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(&new.token_hash)
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if let Some(row) = swapped {
            let mut old = refresh_from_row(&row)?;
            // Report the record as the caller presented it, before the swap.
            old.status = RefreshStatus::Active;
            old.rotated_at = None;
            old.replaced_by = None;
            insert_refresh(&mut *tx, new).await?;
            tx.commit().await.map_err(backend)?;
            return Ok(RotateOutcome::Rotated(old));
        }

        // Lost the swap: explain why from the row as it stands under our write lock.
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = ?");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(old_hash).fetch_optional(&mut *tx).await.map_err(backend)?;
        tx.rollback().await.map_err(backend)?;
        let Some(row) = row else {
            return Ok(RotateOutcome::NotFound);
        };
        let old = refresh_from_row(&row)?;
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
        let mut tx = self.begin_write().await?;
        let retired = sqlx::query(
            "UPDATE refresh_tokens SET status = 'rotated', rotated_at = ?1, replaced_by = ?2, superseded = 1 \
             WHERE status = 'active' AND expires_at > ?1 AND token_hash = \
             (SELECT replaced_by FROM refresh_tokens WHERE token_hash = ?3 AND status = 'rotated' \
              AND NOT superseded AND rotated_at >= ?4)",
        )
        .bind(now)
        .bind(&new.token_hash)
        .bind(old_hash)
        .bind(rotated_since)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if retired == 0 {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        // On failure the transaction is dropped, which rolls the retirement back.
        insert_refresh(&mut *tx, new).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn revoke_refresh_family(&self, family_id: &str) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let active =
            sqlx::query("UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = ? AND status = 'active'")
                .bind(family_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
        sqlx::query(
            "UPDATE refresh_tokens SET status = 'revoked' \
             WHERE family_id = ? AND status = 'rotated'",
        )
        .bind(family_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(active)
    }

    async fn refresh_family_active(&self, family_id: &str) -> StoreResult<bool> {
        sqlx::query_scalar(
            "SELECT NOT EXISTS (SELECT 1 FROM refresh_tokens \
             WHERE family_id = ? AND status = 'revoked')",
        )
        .bind(family_id)
        .fetch_one(&self.reader)
        .await
        .map_err(backend)
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let families: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT family_id) FROM refresh_tokens WHERE user_id = ? AND status = 'active'",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "UPDATE refresh_tokens SET status = 'revoked' WHERE user_id = ? AND status IN ('active', 'rotated')",
        )
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(families as u64)
    }

    // --- one-time use ---

    async fn insert_replay_marker(&self, token_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        self.group.replay_marker(token_hash.to_string(), expires_at, now).await
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let markers = sqlx::query("DELETE FROM replay_markers WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        // A challenge session is dead at `expires_at <= now`, like a marker.
        let sessions = sqlx::query("DELETE FROM auth_sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        let documents = sqlx::query("DELETE FROM documents WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        tx.commit().await.map_err(backend)?;
        Ok(markers + tokens + sessions + documents)
    }

    // --- audit ---

    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        self.group.audit(r.clone()).await
    }

    async fn lookup_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let limit = q.limit.unwrap_or(AUDIT_DEFAULT_LIMIT).min(AUDIT_MAX_LIMIT);
        let mut sql = audit_query::<Sqlite>(q, limit, JsonDialect::Sqlite);
        sql.build().fetch_all(&self.reader).await.map_err(backend)?.iter().map(audit_from_row).collect()
    }

    async fn purge_audit_before(&self, time: i64) -> StoreResult<u64> {
        // In batches, so appends (and, in SQLite, every other write) wait for one batch at most.
        let mut removed = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM audit_events WHERE seq IN \
                 (SELECT seq FROM audit_events WHERE event_time < ? LIMIT ?)",
            )
            .bind(time)
            .bind(AUDIT_PURGE_BATCH as i64)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
            removed += n;
            if n < AUDIT_PURGE_BATCH {
                return Ok(removed);
            }
        }
    }

    // --- settings ---

    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
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
        let done = sqlx::query("UPDATE settings SET value = ? WHERE key = ? AND value = ?")
            .bind(new)
            .bind(key)
            .bind(expected)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    // --- user pools: documents ---

    async fn insert_document(&self, doc: &Document) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO documents (kind, id, pool_id, body, created_at, updated_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&doc.kind)
        .bind(&doc.id)
        .bind(&doc.pool_id)
        .bind(to_json(&doc.body)?)
        .bind(doc.created_at)
        .bind(doc.updated_at)
        .bind(doc.expires_at)
        .execute(&self.writer)
        .await
        .map_err(|e| map_err(e, || format!("{} {}", doc.kind, doc.id), "document"))?;
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
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = ? AND id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let current = row.as_ref().map(document_from_row).transpose()?;
        let after = match updater(current.as_ref())? {
            Change::Keep => {
                tx.rollback().await.map_err(backend)?;
                return Ok(current);
            }
            Change::Delete => {
                sqlx::query("DELETE FROM documents WHERE kind = ? AND id = ?")
                    .bind(kind)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                None
            }
            Change::Put(mut doc) => {
                same_document(kind, id, &doc)?;
                if let Some(c) = &current {
                    doc.created_at = c.created_at;
                }
                sqlx::query(
                    "INSERT INTO documents (kind, id, pool_id, body, created_at, updated_at, expires_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (kind, id) DO UPDATE SET pool_id = excluded.pool_id, body = excluded.body, \
                     updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                )
                .bind(kind)
                .bind(id)
                .bind(&doc.pool_id)
                .bind(to_json(&doc.body)?)
                .bind(doc.created_at)
                .bind(doc.updated_at)
                .bind(doc.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                Some(doc)
            }
        };
        tx.commit().await.map_err(backend)?;
        Ok(after)
    }

    async fn get_document(&self, kind: &str, id: &str) -> StoreResult<Option<Document>> {
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = ? AND id = ?");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(document_from_row)
            .transpose()
    }

    async fn list_documents(
        &self,
        kind: &str,
        pool_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Document>> {
        let mut sql = document_query::<Sqlite>(kind, pool_id, after, limit);
        sql.build().fetch_all(&self.reader).await.map_err(backend)?.iter().map(document_from_row).collect()
    }

    async fn delete_document(&self, kind: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM documents WHERE kind = ? AND id = ?")
            .bind(kind)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_pool_documents(&self, pool_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM documents WHERE pool_id = ?")
            .bind(pool_id)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    // --- auth challenge sessions ---

    async fn insert_auth_session(&self, session: &AuthSession) -> StoreResult<()> {
        sqlx::query("INSERT INTO auth_sessions (id_hash, body, attempts, expires_at) VALUES (?, ?, ?, ?)")
            .bind(&session.id_hash)
            .bind(to_json(&session.body)?)
            .bind(i64::from(session.attempts))
            .bind(session.expires_at)
            .execute(&self.writer)
            .await
            .map_err(|e| map_err(e, || "auth session".to_string(), "auth session"))?;
        Ok(())
    }

    async fn get_auth_session(&self, id_hash: &str) -> StoreResult<Option<AuthSession>> {
        let sql = format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE id_hash = ?");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(auth_session_from_row)
            .transpose()
    }

    async fn fail_auth_session(&self, id_hash: &str) -> StoreResult<Option<u32>> {
        // One statement: the single writer connection runs them one after another, and across processes SQLite's write lock does.
        let attempts: Option<i64> =
            sqlx::query_scalar("UPDATE auth_sessions SET attempts = attempts + 1 WHERE id_hash = ? RETURNING attempts")
                .bind(id_hash)
                .fetch_optional(&self.writer)
                .await
                .map_err(backend)?;
        attempts.map(attempts_from).transpose()
    }

    async fn take_auth_session(&self, id_hash: &str) -> StoreResult<bool> {
        // Deletes run one at a time under the write lock; only the first finds the row.
        let done = sqlx::query("DELETE FROM auth_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
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
