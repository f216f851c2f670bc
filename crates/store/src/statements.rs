//! The statements SQLite and PostgreSQL run as the same SQL text, written once.
//!
//! Placeholders are `$1`, `$2`, ...: PostgreSQL's own, and a numbered parameter to SQLite. Each
//! function takes the executor to run on (SQLite's reader or writer pool, PostgreSQL's pool, or
//! a transaction's connection), so the backends keep what is theirs: how a write transaction
//! begins, SQLite's group commit, PostgreSQL's retries and row locks. Rows become records through
//! [`crate::records`]; errors are mapped as there.

use sqlx::{Database, Encode, Executor, IntoArguments, Transaction, Type};
use std::marker::PhantomData;
use tokenbridge_core::model::*;
use tokenbridge_core::store::{
    Change, DocumentKey, DocumentUpdater, DocumentsUpdater, StoreError, StoreResult, UserUpdater,
};

use crate::records::*;

/// Events `lookup_audit` returns without a limit, and the most it returns with one.
const AUDIT_DEFAULT_LIMIT: u32 = 50;
const AUDIT_MAX_LIMIT: u32 = 1000;

/// Whether a read inside a transaction locks the row it reads until the commit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RowLock {
    /// No row lock: the transaction already keeps every other writer out (SQLite's
    /// `BEGIN IMMEDIATE`).
    None,
    /// `FOR UPDATE`: concurrent writers of the row wait for the commit (PostgreSQL).
    ForUpdate,
}

impl RowLock {
    fn clause(self) -> &'static str {
        match self {
            RowLock::None => "",
            RowLock::ForUpdate => " FOR UPDATE",
        }
    }
}

/// A statement with its parameters bound.
type Statement<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments>;

/// The shared statements of backend `DB` (`Statements<Sqlite>`, `Statements<Postgres>`).
pub(crate) struct Statements<DB>(PhantomData<DB>);

impl<DB> Statements<DB>
where
    DB: Database<Row: Fields, QueryResult: RowsAffected>,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    /// The record of the row `statement` returns, if any.
    async fn optional<'c, T>(
        executor: impl Executor<'c, Database = DB>,
        statement: Statement<'_, DB>,
        record: fn(&DB::Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        statement.fetch_optional(executor).await.map_err(backend)?.as_ref().map(record).transpose()
    }

    /// The records of the rows `statement` returns.
    async fn all<'c, T>(
        executor: impl Executor<'c, Database = DB>,
        statement: Statement<'_, DB>,
        record: fn(&DB::Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        statement.fetch_all(executor).await.map_err(backend)?.iter().map(record).collect()
    }

    /// Runs `statement`; how many rows it changed.
    async fn changed<'c>(executor: impl Executor<'c, Database = DB>, statement: Statement<'_, DB>) -> StoreResult<u64> {
        Ok(statement.execute(executor).await.map_err(backend)?.rows_affected())
    }

    pub(crate) async fn ping<'c>(executor: impl Executor<'c, Database = DB>) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(executor).await.map_err(backend)?;
        Ok(())
    }

    // --- users ---

    pub(crate) async fn create_user<'c>(executor: impl Executor<'c, Database = DB>, user: &User) -> StoreResult<()> {
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
        .execute(executor)
        .await
        .map_err(|e| map_err(e, || format!("user {}", user.username), "user"))?;
        Ok(())
    }

    /// Reads the user (under `lock`), lets the updater decide, and writes its answer, all in
    /// `tx`; nothing is written when the user is absent or the updater keeps it.
    pub(crate) async fn update_user_with(
        mut tx: Transaction<'static, DB>,
        lock: RowLock,
        id: &str,
        updater: &mut UserUpdater<'_>,
    ) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1{}", lock.clause());
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

    /// The user whose `column` (`id` or `username`) is `value`.
    async fn user_by<'c>(
        executor: impl Executor<'c, Database = DB>,
        column: &str,
        value: &str,
    ) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
        Self::optional(executor, sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value), user_from_row).await
    }

    pub(crate) async fn get_user<'c>(
        executor: impl Executor<'c, Database = DB>,
        id: &str,
    ) -> StoreResult<Option<User>> {
        Self::user_by(executor, "id", id).await
    }

    pub(crate) async fn find_user_by_username<'c>(
        executor: impl Executor<'c, Database = DB>,
        username: &str,
    ) -> StoreResult<Option<User>> {
        Self::user_by(executor, "username", username).await
    }

    pub(crate) async fn find_users_by_email<'c>(
        executor: impl Executor<'c, Database = DB>,
        email: &str,
    ) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_norm = $1 ORDER BY username");
        Self::all(executor, sqlx::query(sqlx::AssertSqlSafe(sql)).bind(normalize_email(email)), user_from_row).await
    }

    pub(crate) async fn list_users<'c>(
        executor: impl Executor<'c, Database = DB>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        // The cast gives PostgreSQL the parameter's type. `username` sorts in byte order in both
        // (PostgreSQL's column is COLLATE "C"), whatever the database locale.
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE CAST($1 AS TEXT) IS NULL OR username > $1 \
             ORDER BY username LIMIT $2"
        );
        Self::all(executor, sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after).bind(i64::from(limit)), user_from_row)
            .await
    }

    pub(crate) async fn delete_user(mut tx: Transaction<'static, DB>, id: &str) -> StoreResult<bool> {
        // The foreign keys cascade too; the explicit deletes keep the contract independent of
        // the schema's ON DELETE clauses.
        Self::changed(&mut *tx, sqlx::query("DELETE FROM upstream_links WHERE user_id = $1").bind(id)).await?;
        Self::changed(&mut *tx, sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1").bind(id)).await?;
        let deleted = Self::changed(&mut *tx, sqlx::query("DELETE FROM users WHERE id = $1").bind(id)).await?;
        tx.commit().await.map_err(backend)?;
        Ok(deleted > 0)
    }

    // --- upstream links ---

    pub(crate) async fn put_link<'c>(
        executor: impl Executor<'c, Database = DB>,
        link: &UpstreamLink,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO upstream_links (provider, subject, user_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&link.provider)
            .bind(&link.subject)
            .bind(&link.user_id)
            .bind(link.created_at)
            .execute(executor)
            .await
            .map_err(|e| {
                map_err(e, || format!("link {}/{}", link.provider, link.subject), &format!("user {}", link.user_id))
            })?;
        Ok(())
    }

    pub(crate) async fn delete_link<'c>(
        executor: impl Executor<'c, Database = DB>,
        provider: &str,
        subject: &str,
    ) -> StoreResult<bool> {
        let changed = Self::changed(
            executor,
            sqlx::query("DELETE FROM upstream_links WHERE provider = $1 AND subject = $2").bind(provider).bind(subject),
        )
        .await?;
        Ok(changed > 0)
    }

    pub(crate) async fn find_link<'c>(
        executor: impl Executor<'c, Database = DB>,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<UpstreamLink>> {
        Self::optional(
            executor,
            sqlx::query(
                "SELECT provider, subject, user_id, created_at FROM upstream_links \
                 WHERE provider = $1 AND subject = $2",
            )
            .bind(provider)
            .bind(subject),
            link_from_row,
        )
        .await
    }

    pub(crate) async fn links_for_user<'c>(
        executor: impl Executor<'c, Database = DB>,
        user_id: &str,
    ) -> StoreResult<Vec<UpstreamLink>> {
        Self::all(
            executor,
            sqlx::query(
                "SELECT provider, subject, user_id, created_at FROM upstream_links \
                 WHERE user_id = $1 ORDER BY provider, subject",
            )
            .bind(user_id),
            link_from_row,
        )
        .await
    }

    // --- clients ---

    pub(crate) async fn put_client<'c>(executor: impl Executor<'c, Database = DB>, c: &Client) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO clients (client_id, name, secret_sha256, grant_types, providers, scopes, \
             access_token_ttl, id_token_ttl, refresh_token_ttl, allowed_origins) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, \
             secret_sha256 = excluded.secret_sha256, grant_types = excluded.grant_types, \
             providers = excluded.providers, scopes = excluded.scopes, \
             access_token_ttl = excluded.access_token_ttl, id_token_ttl = excluded.id_token_ttl, \
             refresh_token_ttl = excluded.refresh_token_ttl, allowed_origins = excluded.allowed_origins",
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
        .execute(executor)
        .await
        .map_err(backend)?;
        Ok(())
    }

    pub(crate) async fn delete_client<'c>(
        executor: impl Executor<'c, Database = DB>,
        client_id: &str,
    ) -> StoreResult<bool> {
        let changed =
            Self::changed(executor, sqlx::query("DELETE FROM clients WHERE client_id = $1").bind(client_id)).await?;
        Ok(changed > 0)
    }

    pub(crate) async fn get_client<'c>(
        executor: impl Executor<'c, Database = DB>,
        client_id: &str,
    ) -> StoreResult<Option<Client>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1");
        Self::optional(executor, sqlx::query(sqlx::AssertSqlSafe(sql)).bind(client_id), client_from_row).await
    }

    pub(crate) async fn list_clients<'c>(executor: impl Executor<'c, Database = DB>) -> StoreResult<Vec<Client>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY client_id");
        Self::all(executor, sqlx::query(sqlx::AssertSqlSafe(sql)), client_from_row).await
    }

    // --- signing keys ---

    pub(crate) async fn insert_signing_key<'c>(
        executor: impl Executor<'c, Database = DB>,
        key: &SigningKeyRecord,
    ) -> StoreResult<()> {
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
        .execute(executor)
        .await
        // Also hit when inserting an active key while another one is active.
        .map_err(|e| map_err(e, || format!("signing key {}", key.kid), "signing key"))?;
        Ok(())
    }

    pub(crate) async fn list_signing_keys<'c>(
        executor: impl Executor<'c, Database = DB>,
    ) -> StoreResult<Vec<SigningKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid");
        Self::all(executor, sqlx::query(sqlx::AssertSqlSafe(sql)), key_from_row).await
    }

    pub(crate) async fn replace_signing_key_private<'c>(
        executor: impl Executor<'c, Database = DB>,
        kid: &str,
        expected: &[u8],
        new: &[u8],
    ) -> StoreResult<bool> {
        let changed = Self::changed(
            executor,
            sqlx::query("UPDATE signing_keys SET private_pkcs8 = $1 WHERE kid = $2 AND private_pkcs8 = $3")
                .bind(new)
                .bind(kid)
                .bind(expected),
        )
        .await?;
        Ok(changed == 1)
    }

    // --- refresh tokens ---

    pub(crate) async fn insert_refresh<'c>(
        executor: impl Executor<'c, Database = DB>,
        t: &RefreshTokenRecord,
    ) -> StoreResult<()> {
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

    pub(crate) async fn get_refresh_token<'c>(
        executor: impl Executor<'c, Database = DB>,
        token_hash: &str,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
        Self::optional(executor, sqlx::query(sqlx::AssertSqlSafe(sql)).bind(token_hash), refresh_from_row).await
    }

    /// The rotation's compare-and-swap: when the token `old_hash` is active and unexpired, marks
    /// it rotated into `new`, inserts `new` and returns the old record as the caller presented
    /// it; `None` (nothing written) otherwise. The caller commits or rolls back.
    pub(crate) async fn swap_refresh(
        conn: &mut DB::Connection,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let sql = format!(
            "UPDATE refresh_tokens SET status = 'rotated', rotated_at = $2, replaced_by = $3 \
             WHERE token_hash = $1 AND status = 'active' AND expires_at > $2 \
             RETURNING {REFRESH_COLUMNS}"
        );
        let swapped = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(old_hash)
            .bind(now)
            .bind(&new.token_hash)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
        let Some(row) = swapped else {
            return Ok(None);
        };
        let mut old = refresh_from_row(&row)?;
        // Report the record as the caller presented it, before the swap.
        old.status = RefreshStatus::Active;
        old.rotated_at = None;
        old.replaced_by = None;
        Self::insert_refresh(conn, new).await?;
        Ok(Some(old))
    }

    /// The reuse grace's compare-and-swap, in `tx`: retires the unused successor of the rotated
    /// token `old_hash` (rotated since `rotated_since`) and stores `new` in its place.
    pub(crate) async fn retry_refresh_rotation(
        mut tx: Transaction<'static, DB>,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
        rotated_since: i64,
    ) -> StoreResult<bool> {
        let retired = Self::changed(
            &mut *tx,
            sqlx::query(
                "UPDATE refresh_tokens SET status = 'rotated', rotated_at = $1, replaced_by = $2, superseded = TRUE \
                 WHERE status = 'active' AND expires_at > $1 AND token_hash = \
                 (SELECT replaced_by FROM refresh_tokens WHERE token_hash = $3 AND status = 'rotated' \
                 AND NOT superseded AND rotated_at >= $4)",
            )
            .bind(now)
            .bind(&new.token_hash)
            .bind(old_hash)
            .bind(rotated_since),
        )
        .await?;
        if retired == 0 {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        // On failure the transaction is dropped, which rolls the retirement back.
        Self::insert_refresh(&mut *tx, new).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    /// Revokes the family's active and rotated tokens; returns how many of each it revoked.
    pub(crate) async fn revoke_family_tokens(conn: &mut DB::Connection, family_id: &str) -> StoreResult<(u64, u64)> {
        let active = Self::changed(
            &mut *conn,
            sqlx::query("UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = $1 AND status = 'active'")
                .bind(family_id),
        )
        .await?;
        let rotated = Self::changed(
            &mut *conn,
            sqlx::query("UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = $1 AND status = 'rotated'")
                .bind(family_id),
        )
        .await?;
        Ok((active, rotated))
    }

    pub(crate) async fn refresh_family_active<'c>(
        executor: impl Executor<'c, Database = DB>,
        family_id: &str,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT NOT EXISTS (SELECT 1 FROM refresh_tokens \
             WHERE family_id = $1 AND status = 'revoked') AS active",
        )
        .bind(family_id)
        .fetch_one(executor)
        .await
        .map_err(backend)?;
        row.field("active")
    }

    /// How many families of the user have an active token.
    pub(crate) async fn active_families(conn: &mut DB::Connection, user_id: &str) -> StoreResult<u64> {
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT family_id) AS families FROM refresh_tokens \
             WHERE user_id = $1 AND status = 'active'",
        )
        .bind(user_id)
        .fetch_one(conn)
        .await
        .map_err(backend)?;
        Ok(row.field::<i64>("families")? as u64)
    }

    /// Revokes every active or rotated token of the user; returns how many.
    pub(crate) async fn revoke_user_tokens(conn: &mut DB::Connection, user_id: &str) -> StoreResult<u64> {
        let sql = "UPDATE refresh_tokens SET status = 'revoked' WHERE user_id = $1 AND status IN ('active', 'rotated')";
        Self::changed(conn, sqlx::query(sql).bind(user_id)).await
    }

    // --- one-time use ---

    /// One-time-use marker as one statement, so atomic: a live marker makes the upsert's WHERE
    /// false (no row changed); an expired one is overwritten and counts as a first use.
    pub(crate) async fn insert_replay<'c>(
        executor: impl Executor<'c, Database = DB>,
        token_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let changed = Self::changed(
            executor,
            sqlx::query(
                "INSERT INTO replay_markers (token_hash, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (token_hash) DO UPDATE SET expires_at = excluded.expires_at \
                 WHERE replay_markers.expires_at <= $3",
            )
            .bind(token_hash)
            .bind(expires_at)
            .bind(now),
        )
        .await?;
        Ok(changed == 1)
    }

    /// Removes, in `tx`, what has expired by `now`: a marker, challenge session or document is
    /// dead at `expires_at <= now` (the instant it stops protecting), a refresh token once
    /// `expires_at < now`.
    pub(crate) async fn purge_expired(mut tx: Transaction<'static, DB>, now: i64) -> StoreResult<u64> {
        let mut removed = 0;
        for sql in [
            "DELETE FROM replay_markers WHERE expires_at <= $1",
            "DELETE FROM refresh_tokens WHERE expires_at < $1",
            "DELETE FROM auth_sessions WHERE expires_at <= $1",
            "DELETE FROM documents WHERE expires_at <= $1",
        ] {
            removed += Self::changed(&mut *tx, sqlx::query(sql).bind(now)).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(removed)
    }

    // --- audit ---

    pub(crate) async fn insert_audit<'c>(
        executor: impl Executor<'c, Database = DB>,
        r: &AuditRecord,
    ) -> StoreResult<()> {
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
        .execute(executor)
        .await
        .map_err(|e| map_err(e, || format!("audit event {}", r.event_id), "audit event"))?;
        Ok(())
    }

    pub(crate) async fn lookup_audit<'c>(
        executor: impl Executor<'c, Database = DB>,
        q: &AuditQuery,
        dialect: JsonDialect,
    ) -> StoreResult<Vec<AuditRecord>> {
        let limit = q.limit.unwrap_or(AUDIT_DEFAULT_LIMIT).min(AUDIT_MAX_LIMIT);
        let mut sql = audit_query::<DB>(q, limit, dialect);
        Self::all(executor, sql.build(), audit_from_row).await
    }

    pub(crate) async fn purge_audit_before<'c>(
        executor: impl Executor<'c, Database = DB> + Copy,
        time: i64,
    ) -> StoreResult<u64> {
        // In batches, so appends (and, in SQLite, every other write) wait for one batch at most.
        let mut removed = 0;
        loop {
            let n = Self::changed(
                executor,
                sqlx::query(
                    "DELETE FROM audit_events WHERE seq IN \
                     (SELECT seq FROM audit_events WHERE event_time < $1 LIMIT $2)",
                )
                .bind(time)
                .bind(AUDIT_PURGE_BATCH as i64),
            )
            .await?;
            removed += n;
            if n < AUDIT_PURGE_BATCH {
                return Ok(removed);
            }
        }
    }

    // --- settings ---

    pub(crate) async fn get_setting<'c>(
        executor: impl Executor<'c, Database = DB>,
        key: &str,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(executor)
            .await
            .map_err(backend)?;
        row.map(|row| row.field("value")).transpose()
    }

    pub(crate) async fn put_setting<'c>(
        executor: impl Executor<'c, Database = DB>,
        key: &str,
        value: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(executor)
        .await
        .map_err(backend)?;
        Ok(())
    }

    pub(crate) async fn replace_setting<'c>(
        executor: impl Executor<'c, Database = DB>,
        key: &str,
        expected: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let changed = Self::changed(
            executor,
            sqlx::query("UPDATE settings SET value = $1 WHERE key = $2 AND value = $3")
                .bind(new)
                .bind(key)
                .bind(expected),
        )
        .await?;
        Ok(changed == 1)
    }

    // --- user pools: documents ---

    /// Inserts `doc`; `on_conflict` (empty, or the backend's `ON CONFLICT (kind, id)` clause)
    /// decides what a taken (kind, id) does. How many rows it changed.
    pub(crate) async fn insert_document<'c>(
        executor: impl Executor<'c, Database = DB>,
        doc: &Document,
        on_conflict: &str,
    ) -> StoreResult<u64> {
        let sql = format!(
            "INSERT INTO documents (kind, id, pool_id, body, created_at, updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) {on_conflict}"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&doc.kind)
            .bind(&doc.id)
            .bind(&doc.pool_id)
            .bind(to_json(&doc.body)?)
            .bind(doc.created_at)
            .bind(doc.updated_at)
            .bind(doc.expires_at)
            .execute(executor)
            .await
            .map_err(|e| map_err(e, || format!("{} {}", doc.kind, doc.id), "document"))?;
        Ok(done.rows_affected())
    }

    /// The first step of a document update, in `tx`: reads the document (under `lock`), asks the
    /// updater and checks its answer. Writing it (or rolling back on `Keep`) is the backend's.
    pub(crate) async fn read_for_update(
        tx: &mut Transaction<'static, DB>,
        lock: RowLock,
        kind: &str,
        id: &str,
        updater: &mut DocumentUpdater<'_>,
    ) -> StoreResult<DocumentChange> {
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND id = $2{}", lock.clause());
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?;
        let current = row.as_ref().map(document_from_row).transpose()?;
        let change = updater(current.as_ref())?;
        decided(kind, id, current, change)
    }

    /// The first step of a several-document update, in `tx`: reads the documents (under `lock`,
    /// in key order, so that concurrent updates of overlapping sets lock in one order and never
    /// deadlock), asks the updater and checks its answers. Returns each key's change, in key
    /// order; writing them (or rolling back) is the backend's.
    pub(crate) async fn read_many_for_update(
        tx: &mut Transaction<'static, DB>,
        lock: RowLock,
        keys: &[DocumentKey],
        updater: &mut DocumentsUpdater<'_>,
    ) -> StoreResult<Vec<(usize, DocumentChange)>> {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        if order.windows(2).any(|w| keys[w[0]] == keys[w[1]]) {
            return Err(StoreError::Backend("a several-document update names one document twice".into()));
        }
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND id = $2{}", lock.clause());
        let mut current: Vec<Option<Document>> = vec![None; keys.len()];
        for &i in &order {
            let (kind, id) = &keys[i];
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(kind.as_str())
                .bind(id.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?;
            current[i] = row.as_ref().map(document_from_row).transpose()?;
        }
        let changes = updater(&current)?;
        if changes.len() != keys.len() {
            return Err(StoreError::Backend(format!(
                "the updater of {} documents decided {} changes",
                keys.len(),
                changes.len()
            )));
        }
        let mut decisions: Vec<Option<DocumentChange>> = Vec::with_capacity(keys.len());
        for ((kind, id), (stored, change)) in keys.iter().zip(current.into_iter().zip(changes)) {
            decisions.push(Some(decided(kind, id, stored, change)?));
        }
        Ok(order.into_iter().map(|i| (i, decisions[i].take().expect("each key decided once"))).collect())
    }

    pub(crate) async fn get_document<'c>(
        executor: impl Executor<'c, Database = DB>,
        kind: &str,
        id: &str,
    ) -> StoreResult<Option<Document>> {
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND id = $2");
        Self::optional(executor, sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kind).bind(id), document_from_row).await
    }

    pub(crate) async fn list_documents<'c>(
        executor: impl Executor<'c, Database = DB>,
        kind: &str,
        pool_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Document>> {
        let mut sql = document_query::<DB>(kind, pool_id, after, limit);
        Self::all(executor, sql.build(), document_from_row).await
    }

    pub(crate) async fn delete_document<'c>(
        executor: impl Executor<'c, Database = DB>,
        kind: &str,
        id: &str,
    ) -> StoreResult<bool> {
        let changed = Self::changed(
            executor,
            sqlx::query("DELETE FROM documents WHERE kind = $1 AND id = $2").bind(kind).bind(id),
        )
        .await?;
        Ok(changed > 0)
    }

    pub(crate) async fn delete_pool_documents<'c>(
        executor: impl Executor<'c, Database = DB>,
        pool_id: &str,
    ) -> StoreResult<u64> {
        Self::changed(executor, sqlx::query("DELETE FROM documents WHERE pool_id = $1").bind(pool_id)).await
    }

    // --- auth challenge sessions ---

    pub(crate) async fn insert_auth_session<'c>(
        executor: impl Executor<'c, Database = DB>,
        session: &AuthSession,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO auth_sessions (id_hash, body, attempts, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&session.id_hash)
            .bind(to_json(&session.body)?)
            .bind(i64::from(session.attempts))
            .bind(session.expires_at)
            .execute(executor)
            .await
            .map_err(|e| map_err(e, || "auth session".to_string(), "auth session"))?;
        Ok(())
    }

    pub(crate) async fn get_auth_session<'c>(
        executor: impl Executor<'c, Database = DB>,
        id_hash: &str,
    ) -> StoreResult<Option<AuthSession>> {
        let sql = format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE id_hash = $1");
        Self::optional(executor, sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id_hash), auth_session_from_row).await
    }

    /// Counts a failed answer in one statement (atomic in both backends); the new count, or
    /// `None` when the session is gone.
    pub(crate) async fn fail_auth_session<'c>(
        executor: impl Executor<'c, Database = DB>,
        id_hash: &str,
    ) -> StoreResult<Option<u32>> {
        let row = sqlx::query("UPDATE auth_sessions SET attempts = attempts + 1 WHERE id_hash = $1 RETURNING attempts")
            .bind(id_hash)
            .fetch_optional(executor)
            .await
            .map_err(backend)?;
        row.map(|row| attempts_from(row.field("attempts")?)).transpose()
    }

    /// Deletes the session; `true` for the one caller that found it.
    pub(crate) async fn take_auth_session<'c>(
        executor: impl Executor<'c, Database = DB>,
        id_hash: &str,
    ) -> StoreResult<bool> {
        let changed =
            Self::changed(executor, sqlx::query("DELETE FROM auth_sessions WHERE id_hash = $1").bind(id_hash)).await?;
        Ok(changed == 1)
    }
}

/// An updater's change to the document `(kind, id)`, checked (a `Put` keeps the kind and id)
/// and with the stored `created_at` kept.
fn decided(kind: &str, id: &str, current: Option<Document>, change: Change<Document>) -> StoreResult<DocumentChange> {
    Ok(match change {
        Change::Keep => DocumentChange::Keep(current),
        Change::Delete => DocumentChange::Delete,
        Change::Put(mut doc) => {
            same_document(kind, id, &doc)?;
            if let Some(c) = &current {
                doc.created_at = c.created_at;
            }
            DocumentChange::Put { exists: current.is_some(), doc }
        }
    })
}

/// What an updater decided about a document (see [`Statements::read_for_update`]).
pub(crate) enum DocumentChange {
    /// Write nothing; the document as it is.
    Keep(Option<Document>),
    Delete,
    /// Store `doc` (`created_at` already kept from the stored one); `exists` tells whether the
    /// document was there when read.
    Put {
        exists: bool,
        doc: Document,
    },
}
