//! What both SQL backends share: error mapping, JSON columns, and turning rows into records.
//! Column types are the same in both schemas, so one mapping serves SQLite and PostgreSQL.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use std::collections::BTreeMap;
use tokenbridge_core::model::*;
use tokenbridge_core::store::{StoreError, StoreResult};

/// A column type both backends decode.
pub(crate) trait Field: Sized {
    fn from_sqlite(row: &SqliteRow, column: &str) -> Result<Self, sqlx::Error>;
    fn from_pg(row: &PgRow, column: &str) -> Result<Self, sqlx::Error>;
}

macro_rules! fields {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn from_sqlite(row: &SqliteRow, column: &str) -> Result<Self, sqlx::Error> {
                row.try_get(column)
            }
            fn from_pg(row: &PgRow, column: &str) -> Result<Self, sqlx::Error> {
                row.try_get(column)
            }
        }
    )*};
}
fields!(String, Option<String>, i64, Option<i64>, bool, Vec<u8>);

/// A row of either backend.
pub(crate) trait Fields {
    fn field<T: Field>(&self, column: &str) -> StoreResult<T>;
}

impl Fields for SqliteRow {
    fn field<T: Field>(&self, column: &str) -> StoreResult<T> {
        T::from_sqlite(self, column).map_err(backend)
    }
}

impl Fields for PgRow {
    fn field<T: Field>(&self, column: &str) -> StoreResult<T> {
        T::from_pg(self, column).map_err(backend)
    }
}

/// A statement's outcome in either backend: how many rows it changed.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

// --- error mapping ---

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Unique violations become `Conflict(what)`, foreign-key violations `NotFound(missing)`.
pub(crate) fn map_err(e: sqlx::Error, what: impl FnOnce() -> String, missing: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => return StoreError::Conflict(what()),
            sqlx::error::ErrorKind::ForeignKeyViolation => return StoreError::NotFound(missing.to_string()),
            _ => {}
        }
    }
    backend(e)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding JSON: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str, column: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("decoding JSON column {column}: {e}")))
}

// --- row mapping ---

pub(crate) const USER_COLUMNS: &str = "id, username, email, email_verified, enabled, password_hash, \
                            groups, attributes, created_at, updated_at";

pub(crate) fn normalize_email(email: &str) -> String {
    email.to_lowercase()
}

pub(crate) fn user_from_row(row: &impl Fields) -> StoreResult<User> {
    let groups: String = row.field("groups")?;
    let attributes: String = row.field("attributes")?;
    Ok(User {
        id: row.field("id")?,
        username: row.field("username")?,
        email: row.field("email")?,
        email_verified: row.field("email_verified")?,
        enabled: row.field("enabled")?,
        password_hash: row.field("password_hash")?,
        groups: from_json(&groups, "users.groups")?,
        attributes: from_json::<BTreeMap<String, String>>(&attributes, "users.attributes")?,
        created_at: row.field("created_at")?,
        updated_at: row.field("updated_at")?,
    })
}

pub(crate) fn link_from_row(row: &impl Fields) -> StoreResult<UpstreamLink> {
    Ok(UpstreamLink {
        provider: row.field("provider")?,
        subject: row.field("subject")?,
        user_id: row.field("user_id")?,
        created_at: row.field("created_at")?,
    })
}

pub(crate) fn client_from_row(row: &impl Fields) -> StoreResult<Client> {
    let list = |column: &str| -> StoreResult<Vec<String>> {
        let text: String = row.field(column)?;
        from_json(&text, column)
    };
    Ok(Client {
        client_id: row.field("client_id")?,
        name: row.field("name")?,
        secret_sha256: row.field("secret_sha256")?,
        grant_types: list("grant_types")?,
        providers: list("providers")?,
        scopes: list("scopes")?,
        access_token_ttl: row.field("access_token_ttl")?,
        id_token_ttl: row.field("id_token_ttl")?,
        refresh_token_ttl: row.field("refresh_token_ttl")?,
        allowed_origins: list("allowed_origins")?,
    })
}

pub(crate) fn key_from_row(row: &impl Fields) -> StoreResult<SigningKeyRecord> {
    let alg: String = row.field("alg")?;
    Ok(SigningKeyRecord {
        kid: row.field("kid")?,
        alg: KeyAlgorithm::parse(&alg).ok_or_else(|| StoreError::Backend(format!("unknown key algorithm {alg:?}")))?,
        private_pkcs8: row.field("private_pkcs8")?,
        public_jwk: row.field("public_jwk")?,
        created_at: row.field("created_at")?,
        active: row.field("active")?,
        publish_until: row.field("publish_until")?,
    })
}

pub(crate) const REFRESH_COLUMNS: &str = "token_hash, family_id, user_id, client_id, scope, origin, \
                               auth_time, origin_jti, issued_at, expires_at, status, rotated_at, \
                               replaced_by, superseded";

pub(crate) fn refresh_from_row(row: &impl Fields) -> StoreResult<RefreshTokenRecord> {
    let status: String = row.field("status")?;
    Ok(RefreshTokenRecord {
        token_hash: row.field("token_hash")?,
        family_id: row.field("family_id")?,
        user_id: row.field("user_id")?,
        client_id: row.field("client_id")?,
        scope: row.field("scope")?,
        origin: row.field("origin")?,
        auth_time: row.field("auth_time")?,
        origin_jti: row.field("origin_jti")?,
        issued_at: row.field("issued_at")?,
        expires_at: row.field("expires_at")?,
        status: RefreshStatus::parse(&status),
        rotated_at: row.field("rotated_at")?,
        replaced_by: row.field("replaced_by")?,
        superseded: row.field("superseded")?,
    })
}

pub(crate) fn audit_from_row(row: &impl Fields) -> StoreResult<AuditRecord> {
    let record: String = row.field("record")?;
    Ok(AuditRecord {
        event_id: row.field("event_id")?,
        event_time: row.field("event_time")?,
        event_name: row.field("event_name")?,
        username: row.field("username")?,
        request_id: row.field("request_id")?,
        error_code: row.field("error_code")?,
        record: from_json(&record, "audit_events.record")?,
    })
}

pub(crate) const DOCUMENT_COLUMNS: &str = "kind, id, pool_id, body, created_at, updated_at, expires_at";

pub(crate) fn document_from_row(row: &impl Fields) -> StoreResult<Document> {
    let body: String = row.field("body")?;
    Ok(Document {
        kind: row.field("kind")?,
        id: row.field("id")?,
        pool_id: row.field("pool_id")?,
        body: from_json(&body, "documents.body")?,
        created_at: row.field("created_at")?,
        updated_at: row.field("updated_at")?,
        expires_at: row.field("expires_at")?,
    })
}

/// Checks a document an updater asks to store: it must be the one the update is about.
pub(crate) fn same_document(kind: &str, id: &str, doc: &Document) -> StoreResult<()> {
    if doc.kind != kind || doc.id != id {
        return Err(StoreError::Backend(format!(
            "an update of {kind} {id:?} tried to store {} {:?} instead",
            doc.kind, doc.id
        )));
    }
    Ok(())
}

/// Checks a user an updater asks to store: it must keep the id.
pub(crate) fn same_user(id: &str, user: &User) -> StoreResult<()> {
    if user.id != id {
        return Err(StoreError::Backend(format!("an update of user {id:?} tried to store user {:?}", user.id)));
    }
    Ok(())
}

pub(crate) const AUTH_SESSION_COLUMNS: &str = "id_hash, body, attempts, expires_at";

pub(crate) fn auth_session_from_row(row: &impl Fields) -> StoreResult<AuthSession> {
    let body: String = row.field("body")?;
    let attempts: i64 = row.field("attempts")?;
    Ok(AuthSession {
        id_hash: row.field("id_hash")?,
        body: from_json(&body, "auth_sessions.body")?,
        attempts: attempts_from(attempts)?,
        expires_at: row.field("expires_at")?,
    })
}

/// An `attempts` column value as the model's count.
pub(crate) fn attempts_from(value: i64) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| StoreError::Backend(format!("auth session attempts out of range: {value}")))
}

/// The document listing for either backend: one kind, optionally one pool, ids strictly after
/// the cursor, in id order. Built per case so each shape uses its index ((kind, id) or
/// (kind, pool_id, id)).
pub(crate) fn document_query<DB: sqlx::Database>(
    kind: &str,
    pool_id: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> sqlx::QueryBuilder<DB>
where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut sql = sqlx::QueryBuilder::<DB>::new(format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = "));
    sql.push_bind(kind.to_string());
    if let Some(pool_id) = pool_id {
        sql.push(" AND pool_id = ").push_bind(pool_id.to_string());
    }
    if let Some(after) = after {
        sql.push(" AND id > ").push_bind(after.to_string());
    }
    sql.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
    sql
}

pub(crate) const CLIENT_COLUMNS: &str = "client_id, name, secret_sha256, grant_types, providers, scopes, \
                              access_token_ttl, id_token_ttl, refresh_token_ttl, allowed_origins";

pub(crate) const KEY_COLUMNS: &str = "kid, alg, private_pkcs8, public_jwk, created_at, active, publish_until";

/// Most audit records one statement of `purge_audit_before` deletes.
pub(crate) const AUDIT_PURGE_BATCH: u64 = 10_000;

/// How a backend reads inside the JSON text of `audit_events.record`, for the filters that have
/// no column of their own (event source, read-only, access key, resources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonDialect {
    Sqlite,
    Postgres,
}

impl JsonDialect {
    /// The text at `path` (member names from the root) of the record, NULL when absent.
    fn text(self, path: &[&str]) -> String {
        match self {
            Self::Sqlite => format!("json_extract(record, '$.{}')", path.join(".")),
            Self::Postgres => format!("(record::jsonb #>> '{{{}}}')", path.join(",")),
        }
    }

    /// `'true'` or `'false'` for a JSON boolean at `path` (anything else for other values).
    fn boolean(self, path: &[&str]) -> String {
        match self {
            Self::Sqlite => format!("json_type(record, '$.{}')", path.join(".")),
            Self::Postgres => {
                let path = path.join(",");
                format!("(CASE jsonb_typeof(record::jsonb #> '{{{path}}}') WHEN 'boolean' THEN record::jsonb #>> '{{{path}}}' END)")
            }
        }
    }

    /// Opens `EXISTS (...)` over the entries of the record's `resources` array, each named `r`;
    /// [`Self::entry`] reads a member of one.
    fn resources_exist(self) -> &'static str {
        match self {
            Self::Sqlite => {
                " AND EXISTS (SELECT 1 FROM json_each(audit_events.record, '$.resources') AS r \
                 WHERE json_type(audit_events.record, '$.resources') = 'array'"
            }
            Self::Postgres => {
                " AND EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(record::jsonb -> 'resources') \
                 WHEN 'array' THEN record::jsonb -> 'resources' ELSE '[]'::jsonb END) AS r(value) WHERE 1 = 1"
            }
        }
    }

    /// A member of one entry `r`, NULL when the entry is no object. (SQLite reads it through the
    /// entry's path in the record: `r.value` of a string entry is not JSON text.)
    fn entry(self, member: &str) -> String {
        match self {
            Self::Sqlite => format!("json_extract(audit_events.record, r.fullkey || '.{member}')"),
            Self::Postgres => format!("(r.value ->> '{member}')"),
        }
    }
}

/// The audit lookup for either backend: every [`AuditQuery`] filter, newest first by `seq`
/// (oldest first with `oldest_first`).
pub(crate) fn audit_query<DB: sqlx::Database>(
    q: &AuditQuery,
    limit: u32,
    dialect: JsonDialect,
) -> sqlx::QueryBuilder<DB>
where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut sql = sqlx::QueryBuilder::<DB>::new(
        "SELECT event_id, event_time, event_name, username, request_id, error_code, record \
         FROM audit_events WHERE 1 = 1",
    );
    for (column, value) in [
        ("event_name", &q.event_name),
        ("username", &q.username),
        ("request_id", &q.request_id),
        ("event_id", &q.event_id),
    ] {
        if let Some(v) = value {
            sql.push(format!(" AND {column} = ")).push_bind(v.clone());
        }
    }
    if let Some(v) = q.start_time {
        sql.push(" AND event_time >= ").push_bind(v);
    }
    if let Some(v) = q.end_time {
        sql.push(" AND event_time <= ").push_bind(v);
    }
    match q.denied {
        Some(true) => {
            sql.push(" AND error_code IS NOT NULL");
        }
        Some(false) => {
            sql.push(" AND error_code IS NULL");
        }
        None => {}
    }
    if let Some(v) = &q.event_source {
        sql.push(format!(" AND {} = ", dialect.text(&["eventSource"]))).push_bind(v.clone());
    }
    if let Some(v) = q.read_only {
        sql.push(format!(" AND {} = ", dialect.boolean(&["readOnly"]))).push_bind(v.to_string());
    }
    if let Some(v) = &q.access_key_id {
        sql.push(format!(" AND {} = ", dialect.text(&["userIdentity", "accessKeyId"]))).push_bind(v.clone());
    }
    if q.resource_name.is_some() || q.resource_type.is_some() {
        sql.push(dialect.resources_exist());
        for (member, value) in [("ARN", &q.resource_name), ("type", &q.resource_type)] {
            if let Some(v) = value {
                sql.push(format!(" AND {} = ", dialect.entry(member))).push_bind(v.clone());
            }
        }
        sql.push(")");
    }
    // An unknown cursor yields NULL, which matches nothing: an empty page.
    if let Some(v) = &q.before_event_id {
        sql.push(" AND seq < (SELECT seq FROM audit_events WHERE event_id = ").push_bind(v.clone()).push(")");
    }
    if let Some(v) = &q.after_event_id {
        sql.push(" AND seq > (SELECT seq FROM audit_events WHERE event_id = ").push_bind(v.clone()).push(")");
    }
    sql.push(if q.oldest_first { " ORDER BY seq ASC LIMIT " } else { " ORDER BY seq DESC LIMIT " })
        .push_bind(i64::from(limit));
    sql
}
