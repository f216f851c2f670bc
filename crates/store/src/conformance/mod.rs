//! The contract of [`Store`], as executable checks every backend must pass.
//!
//! Each function exercises one behaviour and panics (through `assert!`) on a violation;
//! [`run_all`] runs them all. Every function names its rows with a fresh per-call tag, so the
//! suite can run again and again against one shared database; it only asserts about rows it
//! created, except where the contract is global (at most one active signing key). Run the suite
//! sequentially: [`signing_keys`] activates keys, which retires whatever key was active.

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokenbridge_core::model::*;
use tokenbridge_core::store::{Change, Store, StoreError};
use tokio::sync::Barrier;

mod audit;
mod documents;
mod one_time;
mod races;
mod refresh;
mod settings;
mod test_schema;
mod users;

pub use audit::*;
pub use documents::*;
pub use one_time::*;
pub use races::*;
pub use refresh::*;
pub use settings::*;
pub use test_schema::*;
pub use users::*;

/// Concurrent callers in the race tests.
pub const RACERS: usize = 200;
/// Concurrent callers in the auth-session races.
pub const SESSION_RACERS: usize = 50;

/// Runs every check of the suite, in order.
pub async fn run_all(store: Arc<dyn Store>) {
    ping(&*store).await;
    users(&*store).await;
    user_listing(&*store).await;
    delete_user_cascades(&*store).await;
    links(&*store).await;
    clients(&*store).await;
    signing_keys(&*store).await;
    concurrent_reseal(store.clone()).await;
    refresh_tokens(&*store).await;
    reuse_grace(&*store).await;
    user_sessions(&*store).await;
    concurrent_rotation(store.clone()).await;
    concurrent_grace_retries(store.clone()).await;
    replay_markers(&*store).await;
    concurrent_replay_markers(store.clone()).await;
    purge_expired(&*store).await;
    audit(&*store).await;
    audit_default_limit(&*store).await;
    audit_record_filters(&*store).await;
    audit_oldest_first(&*store).await;
    purge_audit(&*store).await;
    settings(&*store).await;
    concurrent_settings(store.clone()).await;
    concurrent_setting_reseal(store.clone()).await;
    documents(&*store).await;
    document_updates(&*store).await;
    several_document_updates(&*store).await;
    document_listing(&*store).await;
    delete_pool_documents(&*store).await;
    expiring_documents(&*store).await;
    typed_updates_keep_expiry(&*store).await;
    concurrent_document_updates(store.clone(), store.clone()).await;
    concurrent_document_creation(store.clone(), store.clone()).await;
    concurrent_claims(store.clone(), store.clone()).await;
    concurrent_bounded_counts(store.clone(), store.clone()).await;
    concurrent_user_updates(store.clone(), store.clone()).await;
    concurrent_sign_out(store.clone(), store.clone()).await;
    auth_sessions(&*store).await;
    concurrent_auth_session_failures(store.clone()).await;
    concurrent_auth_session_takes(store.clone()).await;
    purge_expired_auth_sessions(&*store).await;
}

// --- helpers ---

/// A unique, lowercase alphanumeric tag for the rows of one check, so byte order and any
/// database collation agree on how names sort.
fn tag() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("cf{nanos:x}p{:x}n{n}", std::process::id())
}

/// Wall-clock seconds: purges in a shared database must only remove rows that really expired.
fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}

fn user(tag: &str, name: &str, email: Option<String>) -> User {
    let now = now();
    User {
        id: format!("{tag}id{name}"),
        username: format!("{tag}{name}"),
        email,
        email_verified: false,
        enabled: true,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        groups: vec!["staff".into(), "ops".into()],
        attributes: BTreeMap::from([
            ("department".to_string(), "Zürich ☃".to_string()),
            ("empty".to_string(), String::new()),
        ]),
        created_at: now,
        updated_at: now,
    }
}

async fn create_user(store: &dyn Store, tag: &str, name: &str) -> User {
    let u = user(tag, name, None);
    store.create_user(&u).await.expect("create user");
    u
}

fn refresh(tag: &str, n: usize, family: &str, user_id: &str, expires_at: i64) -> RefreshTokenRecord {
    let now = now();
    RefreshTokenRecord {
        token_hash: format!("{tag}rt{n}"),
        family_id: family.to_string(),
        user_id: user_id.to_string(),
        client_id: format!("{tag}client"),
        scope: "openid profile".into(),
        origin: "upstream:salesforce".into(),
        auth_time: now - 30,
        origin_jti: format!("{tag}jti{n}"),
        issued_at: now,
        expires_at,
        status: RefreshStatus::Active,
        rotated_at: None,
        replaced_by: None,
        superseded: false,
    }
}

fn document(kind: &str, id: &str, pool_id: &str, body: serde_json::Value) -> Document {
    let now = now();
    Document {
        kind: kind.to_string(),
        id: id.to_string(),
        pool_id: pool_id.to_string(),
        body,
        created_at: now - 5,
        updated_at: now - 5,
        expires_at: None,
    }
}

fn auth_session(id_hash: &str, expires_at: i64) -> AuthSession {
    AuthSession {
        id_hash: id_hash.to_string(),
        body: json!({"ChallengeName": "CUSTOM_CHALLENGE", "USERNAME": "alice", "Providers": ["demo"]}),
        attempts: 0,
        expires_at,
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

/// The store answers.
pub async fn ping(store: &dyn Store) {
    store.ping().await.expect("ping");
}
