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
use tokenbridge_core::model::*;
use tokenbridge_core::store::{Change, DocumentUpdater, Store, StoreError, StoreResult, UserUpdater};

const AUDIT_DEFAULT_LIMIT: u32 = 50;
const AUDIT_MAX_LIMIT: u32 = 1000;
/// A rotation retries when its compare-and-swap raced with the token's own insert.
const ROTATE_ATTEMPTS: usize = 3;
/// A document update retries when it raced another to create the document (and, improbably,
/// kept losing to deletions in between).
const UPDATE_ATTEMPTS: usize = 5;

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
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND id = $2 FOR UPDATE");
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
                return Ok(Some(current));
            }
            Change::Delete => {
                sqlx::query("DELETE FROM documents WHERE kind = $1 AND id = $2")
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
                    sqlx::query(
                        "UPDATE documents SET pool_id = $1, body = $2, updated_at = $3, expires_at = $4 \
                         WHERE kind = $5 AND id = $6",
                    )
                    .bind(&doc.pool_id)
                    .bind(to_json(&doc.body)?)
                    .bind(doc.updated_at)
                    .bind(doc.expires_at)
                    .bind(kind)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                } else {
                    // DO NOTHING waits for a concurrent creator to commit and then inserts
                    // nothing: this caller lost the race and retries on the committed row.
                    let inserted = sqlx::query(
                        "INSERT INTO documents (kind, id, pool_id, body, created_at, updated_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, id) DO NOTHING",
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
                    .map_err(backend)?
                    .rows_affected();
                    if inserted == 0 {
                        tx.rollback().await.map_err(backend)?;
                        return Ok(None);
                    }
                }
                Some(doc)
            }
        };
        tx.commit().await.map_err(backend)?;
        Ok(Some(after))
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
        // `status = 'active'` against the row as the previous winner committed it.
        let sql = format!(
            "UPDATE refresh_tokens SET status = 'rotated', rotated_at = $2, replaced_by = $3 \
             WHERE token_hash = $1 AND status = 'active' AND expires_at > $2 \
             RETURNING {REFRESH_COLUMNS}"
        );
        let swapped = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(old_hash)
            .bind(now)
            .bind(&new.token_hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if let Some(row) = swapped {
            let mut old = refresh_from_row(&row)?;
            // Report the record as the caller presented it, before the swap.
            old.status = RefreshStatus::Active;
            old.rotated_at = None;
            old.replaced_by = None;
            // On failure the transaction is dropped, which rolls the swap back.
            insert_refresh(&mut *tx, new).await?;
            tx.commit().await.map_err(backend)?;
            return Ok(Some(RotateOutcome::Rotated(old)));
        }
        tx.rollback().await.map_err(backend)?;

        // Lost the swap: explain why from the row as committed now. The UPDATE waited for any
        // concurrent winner, so this new statement sees what that winner committed.
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(old_hash).fetch_optional(&self.pool).await.map_err(backend)?;
        let Some(row) = row else {
            return Ok(Some(RotateOutcome::NotFound));
        };
        let old = refresh_from_row(&row)?;
        Ok(match old.status {
            RefreshStatus::Rotated => Some(RotateOutcome::Reused(old)),
            RefreshStatus::Revoked => Some(RotateOutcome::Revoked(old)),
            RefreshStatus::Active if old.expires_at <= now => Some(RotateOutcome::Expired(old)),
            RefreshStatus::Active => None,
        })
    }
}

async fn insert_refresh<'c, E>(executor: E, t: &RefreshTokenRecord) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, client_id, scope, origin, \
         auth_time, origin_jti, issued_at, expires_at, status, rotated_at, replaced_by, superseded) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend)?;
        Ok(())
    }

    // --- users ---

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, username, email, email_norm, email_verified, enabled, \
             password_hash, groups, attributes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, || format!("user {}", user.username), "user"))?;
        Ok(())
    }

    async fn update_user_with(&self, id: &str, updater: &mut UserUpdater<'_>) -> StoreResult<Option<User>> {
        // FOR UPDATE locks the row until the commit: a concurrent updater waits at its own read
        // and then reads what this one committed.
        let mut tx = self.begin().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *tx).await.map_err(backend)?;
        let Some(current) = row.as_ref().map(user_from_row).transpose()? else {
            tx.rollback().await.map_err(backend)?;
            return Ok(None);
        };
        let Some(user) = updater(&current)? else {
            tx.rollback().await.map_err(backend)?;
            return Ok(Some(current));
        };
        same_user(id, &user)?;
        sqlx::query(
            "UPDATE users SET username = $1, email = $2, email_norm = $3, email_verified = $4, \
             enabled = $5, password_hash = $6, groups = $7, attributes = $8, created_at = $9, \
             updated_at = $10 WHERE id = $11",
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
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn find_users_by_email(&self, email: &str) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_norm = $1 ORDER BY username");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(normalize_email(email))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        // `username` is COLLATE "C": byte order, as in SQLite, whatever the database locale.
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE $1::text IS NULL OR username > $1 \
             ORDER BY username LIMIT $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        // The foreign keys cascade too; the explicit deletes keep the contract independent of
        // the schema's ON DELETE clauses.
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM upstream_links WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    // --- upstream links ---

    async fn put_link(&self, link: &UpstreamLink) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO upstream_links (provider, subject, user_id, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&link.provider)
        .bind(&link.subject)
        .bind(&link.user_id)
        .bind(link.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            map_err(e, || format!("link {}/{}", link.provider, link.subject), &format!("user {}", link.user_id))
        })?;
        Ok(())
    }

    async fn delete_link(&self, provider: &str, subject: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM upstream_links WHERE provider = $1 AND subject = $2")
            .bind(provider)
            .bind(subject)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_link(&self, provider: &str, subject: &str) -> StoreResult<Option<UpstreamLink>> {
        sqlx::query(
            "SELECT provider, subject, user_id, created_at FROM upstream_links \
             WHERE provider = $1 AND subject = $2",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(link_from_row)
        .transpose()
    }

    async fn links_for_user(&self, user_id: &str) -> StoreResult<Vec<UpstreamLink>> {
        sqlx::query(
            "SELECT provider, subject, user_id, created_at FROM upstream_links \
             WHERE user_id = $1 ORDER BY provider, subject",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, \
             secret_sha256 = EXCLUDED.secret_sha256, grant_types = EXCLUDED.grant_types, \
             providers = EXCLUDED.providers, scopes = EXCLUDED.scopes, \
             access_token_ttl = EXCLUDED.access_token_ttl, id_token_ttl = EXCLUDED.id_token_ttl, \
             refresh_token_ttl = EXCLUDED.refresh_token_ttl, allowed_origins = EXCLUDED.allowed_origins",
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
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY client_id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
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
             publish_until) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(&key.private_pkcs8)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .bind(key.active)
        .bind(key.publish_until)
        .execute(&self.pool)
        .await
        // Also hit when inserting an active key while another one is active.
        .map_err(|e| map_err(e, || format!("signing key {}", key.kid), "signing key"))?;
        Ok(())
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(key_from_row)
            .collect()
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
        let done = sqlx::query("UPDATE signing_keys SET private_pkcs8 = $1 WHERE kid = $2 AND private_pkcs8 = $3")
            .bind(new)
            .bind(kid)
            .bind(expected)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
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
        insert_refresh(&self.pool, token).await
    }

    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshTokenRecord>> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(&self.pool)
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
        let mut tx = self.begin().await?;
        // The compare-and-swap is on the successor's row: concurrent retries queue on its lock,
        // and each re-checks `status = 'active'` against the row as the previous winner
        // committed it. The presented token's row changes only when its family is revoked,
        // which locks the successor too and repeats until no token is active, our insert included.
        let retired = sqlx::query(
            "UPDATE refresh_tokens SET status = 'rotated', rotated_at = $1, replaced_by = $2, superseded = TRUE \
             WHERE status = 'active' AND expires_at > $1 AND token_hash = \
             (SELECT replaced_by FROM refresh_tokens WHERE token_hash = $3 AND status = 'rotated' \
              AND NOT superseded AND rotated_at >= $4)",
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
        let mut tx = self.begin().await?;
        // A rotation racing with us may commit a new active token into the family after this
        // transaction's first statement took its snapshot: our UPDATE then waits for that
        // rotation (it holds the old token's row lock), and the next statement sees its
        // insert. So repeat until a pass finds nothing left to revoke; any rotation starting
        // later finds its token revoked (or waits on our lock and then finds it revoked).
        let mut active = 0;
        loop {
            let newly_active =
                sqlx::query("UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = $1 AND status = 'active'")
                    .bind(family_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
            let rotated = sqlx::query(
                "UPDATE refresh_tokens SET status = 'revoked' \
                 WHERE family_id = $1 AND status = 'rotated'",
            )
            .bind(family_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
            active += newly_active;
            if newly_active + rotated == 0 {
                break;
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(active)
    }

    async fn refresh_family_active(&self, family_id: &str) -> StoreResult<bool> {
        sqlx::query_scalar(
            "SELECT NOT EXISTS (SELECT 1 FROM refresh_tokens \
             WHERE family_id = $1 AND status = 'revoked')",
        )
        .bind(family_id)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)
    }

    async fn revoke_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        // As in `revoke_refresh_family`: a rotation racing with us may insert its successor
        // after our UPDATE took its snapshot (the UPDATE waits on the old token's row lock, then
        // revokes that row, but never sees the insert). Repeat until a pass finds nothing left,
        // so no token of a session that began before the sign-out stays active. The count is
        // informational.
        let mut tx = self.begin().await?;
        let families: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT family_id) FROM refresh_tokens WHERE user_id = $1 AND status = 'active'",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        loop {
            let revoked = sqlx::query(
                "UPDATE refresh_tokens SET status = 'revoked' WHERE user_id = $1 AND status IN ('active', 'rotated')",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
            if revoked == 0 {
                break;
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(families as u64)
    }

    // --- one-time use ---

    async fn insert_replay_marker(&self, token_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        // One statement: a live marker makes the upsert's WHERE false (no row changed); an
        // expired one is overwritten and counts as a first use. Concurrent callers wait for
        // each other on the row and re-check the WHERE against the committed row.
        let done = sqlx::query(
            "INSERT INTO replay_markers (token_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (token_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE replay_markers.expires_at <= $3",
        )
        .bind(token_hash)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        // Same boundaries as SQLite: a marker is dead at `expires_at <= now` (the instant it
        // stops protecting), a refresh token once `expires_at < now`.
        let mut tx = self.begin().await?;
        let markers = sqlx::query("DELETE FROM replay_markers WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        // A challenge session is dead at `expires_at <= now`, like a marker.
        let sessions = sqlx::query("DELETE FROM auth_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        let documents = sqlx::query("DELETE FROM documents WHERE expires_at <= $1")
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
        sqlx::query(
            "INSERT INTO audit_events (event_id, event_time, event_name, username, request_id, \
             error_code, record) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.event_id)
        .bind(r.event_time)
        .bind(&r.event_name)
        .bind(&r.username)
        .bind(&r.request_id)
        .bind(&r.error_code)
        .bind(to_json(&r.record)?)
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, || format!("audit event {}", r.event_id), "audit event"))?;
        Ok(())
    }

    async fn lookup_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let limit = q.limit.unwrap_or(AUDIT_DEFAULT_LIMIT).min(AUDIT_MAX_LIMIT);
        let mut sql = audit_query::<Postgres>(q, limit, JsonDialect::Postgres);
        sql.build().fetch_all(&self.pool).await.map_err(backend)?.iter().map(audit_from_row).collect()
    }

    async fn purge_audit_before(&self, time: i64) -> StoreResult<u64> {
        // In batches, so appends (and, in SQLite, every other write) wait for one batch at most.
        let mut removed = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM audit_events WHERE seq IN \
                 (SELECT seq FROM audit_events WHERE event_time < $1 LIMIT $2)",
            )
            .bind(time)
            .bind(AUDIT_PURGE_BATCH as i64)
            .execute(&self.pool)
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
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
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
        let done = sqlx::query("UPDATE settings SET value = $1 WHERE key = $2 AND value = $3")
            .bind(new)
            .bind(key)
            .bind(expected)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    // --- user pools: documents ---

    async fn insert_document(&self, doc: &Document) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO documents (kind, id, pool_id, body, created_at, updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&doc.kind)
        .bind(&doc.id)
        .bind(&doc.pool_id)
        .bind(to_json(&doc.body)?)
        .bind(doc.created_at)
        .bind(doc.updated_at)
        .bind(doc.expires_at)
        .execute(&self.pool)
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
        for _ in 0..UPDATE_ATTEMPTS {
            if let Some(after) = self.try_update_document(kind, id, updater).await? {
                return Ok(after);
            }
        }
        Err(StoreError::Backend(format!(
            "the update of {kind} {id:?} lost {UPDATE_ATTEMPTS} races to create it in a row"
        )))
    }

    async fn get_document(&self, kind: &str, id: &str) -> StoreResult<Option<Document>> {
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.pool)
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
        let mut sql = document_query::<Postgres>(kind, pool_id, after, limit);
        sql.build().fetch_all(&self.pool).await.map_err(backend)?.iter().map(document_from_row).collect()
    }

    async fn delete_document(&self, kind: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM documents WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_pool_documents(&self, pool_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM documents WHERE pool_id = $1")
            .bind(pool_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    // --- auth challenge sessions ---

    async fn insert_auth_session(&self, session: &AuthSession) -> StoreResult<()> {
        sqlx::query("INSERT INTO auth_sessions (id_hash, body, attempts, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&session.id_hash)
            .bind(to_json(&session.body)?)
            .bind(i64::from(session.attempts))
            .bind(session.expires_at)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, || "auth session".to_string(), "auth session"))?;
        Ok(())
    }

    async fn get_auth_session(&self, id_hash: &str) -> StoreResult<Option<AuthSession>> {
        let sql = format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE id_hash = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(auth_session_from_row)
            .transpose()
    }

    async fn fail_auth_session(&self, id_hash: &str) -> StoreResult<Option<u32>> {
        // One statement: concurrent callers queue on the row lock and each adds to the count the previous one committed.
        let attempts: Option<i64> = sqlx::query_scalar(
            "UPDATE auth_sessions SET attempts = attempts + 1 WHERE id_hash = $1 RETURNING attempts",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        attempts.map(attempts_from).transpose()
    }

    async fn take_auth_session(&self, id_hash: &str) -> StoreResult<bool> {
        // A concurrent DELETE of the same row waits for ours to commit and then finds nothing.
        let done = sqlx::query("DELETE FROM auth_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
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
