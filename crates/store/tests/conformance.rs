//! The conformance suite against SQLite, plus what only a file-backed store can show.

use std::sync::Arc;
use tokenbridge_core::model::{RefreshStatus, RefreshTokenRecord, RotateOutcome, UpstreamLink};
use tokenbridge_core::store::{Store, StoreError};
use tokenbridge_store::{conformance, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("tb.db")).await.unwrap();
    conformance::run_all(Arc::new(store)).await;
}

/// The suite names its rows uniquely, so it can run twice against one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suite_is_repeatable_on_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("tb.db")).await.unwrap());
    conformance::run_all(store.clone()).await;
    conformance::run_all(store).await;
}

/// Two stores on one file behave as two processes would: they share state, and the atomic
/// operations stay atomic across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();

    a.put_setting("issuer", "https://a.example").await.unwrap();
    assert_eq!(b.get_setting("issuer").await.unwrap().as_deref(), Some("https://a.example"));
    assert_eq!(b.put_setting_if_absent("issuer", "https://b.example").await.unwrap(), "https://a.example");
    assert!(a.insert_replay_marker("jti-1", 200, 100).await.unwrap());
    assert!(!b.insert_replay_marker("jti-1", 200, 100).await.unwrap());

    // Rotation races between the two instances: still exactly one winner.
    let a: Arc<dyn Store> = Arc::new(a);
    let b: Arc<dyn Store> = Arc::new(b);
    let user = tokenbridge_core::model::User {
        id: "u1".into(),
        username: "shared".into(),
        email: None,
        email_verified: false,
        enabled: true,
        password_hash: None,
        groups: vec![],
        attributes: Default::default(),
        created_at: 1,
        updated_at: 1,
    };
    a.create_user(&user).await.unwrap();
    assert_eq!(b.get_user("u1").await.unwrap(), Some(user));
    let token = |hash: String| RefreshTokenRecord {
        token_hash: hash,
        family_id: "f1".into(),
        user_id: "u1".into(),
        client_id: "c1".into(),
        scope: "openid".into(),
        origin: "password".into(),
        auth_time: 1,
        origin_jti: "j".into(),
        issued_at: 1,
        expires_at: 10_000,
        status: RefreshStatus::Active,
        rotated_at: None,
        replaced_by: None,
        superseded: false,
    };
    a.insert_refresh_token(&token("t0".into())).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let new = token(format!("t{}", i + 1));
        tasks.push(tokio::spawn(async move { store.rotate_refresh_token("t0", &new, 100).await.unwrap() }));
    }
    let mut rotated = 0;
    for task in tasks {
        match task.await.unwrap() {
            RotateOutcome::Rotated(_) => rotated += 1,
            RotateOutcome::Reused(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rotated, 1);
}

/// Read-modify-writes racing from two stores on one file (as from two processes): no update is
/// lost, a creation race has one winner, and a limit decided on the stored value holds exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_updates_from_two_instances_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("racing.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    conformance::concurrent_document_updates(a.clone(), b.clone()).await;
    conformance::concurrent_document_creation(a.clone(), b.clone()).await;
    conformance::concurrent_claims(a.clone(), b.clone()).await;
    conformance::concurrent_bounded_counts(a.clone(), b.clone()).await;
    conformance::concurrent_user_updates(a.clone(), b.clone()).await;
    conformance::concurrent_sign_out(a, b).await;
}

/// Re-opening applies migrations idempotently and keeps the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reopening_keeps_data_and_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reopen.db");
    let first = SqliteStore::open(&path).await.unwrap();
    first.put_setting("k", "v").await.unwrap();
    first.close().await;
    drop(first);
    for _ in 0..2 {
        let again = SqliteStore::open(&path).await.unwrap();
        assert_eq!(again.get_setting("k").await.unwrap().as_deref(), Some("v"));
        again.close().await;
    }
    // Also while another instance still has the file open.
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    assert_eq!(b.get_setting("k").await.unwrap().as_deref(), Some("v"));
    a.ping().await.unwrap();
}

/// A database made before refresh rotations were recorded is upgraded in place: a token
/// rotated back then reads with no rotation time and never qualifies for the reuse grace; an
/// active one rotates as before, now recording its rotation.
#[tokio::test]
async fn upgrade_records_rotations_from_then_on() {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::SqlSafeStr;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
    let old = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let init = include_str!("../migrations/sqlite/0001_init.sql").into_sql_str();
    Migrator::with_migrations(vec![Migration::new(1, "init".into(), MigrationType::Simple, init, false)])
        .run(&old)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, username, email_verified, enabled, groups, attributes, created_at, updated_at) \
         VALUES ('u1', 'old', 0, 1, '[]', '{}', 1, 1)",
    )
    .execute(&old)
    .await
    .unwrap();
    for (hash, status) in [("t-rotated", "rotated"), ("t-active", "active")] {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, client_id, scope, origin, auth_time, \
             origin_jti, issued_at, expires_at, status) VALUES (?, 'f1', 'u1', 'c1', 'openid', 'password', 1, 'j', 1, \
             10000, ?)",
        )
        .bind(hash)
        .bind(status)
        .execute(&old)
        .await
        .unwrap();
    }
    old.close().await;

    let store = SqliteStore::open(&path).await.unwrap();
    conformance::rotations_recorded_after_upgrade(&store).await;
}

/// A database at migration 0002 (before user pools) gets 0003 when a store opens it: the new
/// tables work and the rows written before are kept.
#[tokio::test]
async fn upgrade_from_0002_adds_user_pools() {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::SqlSafeStr;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade-0002.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
    let old = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let init = include_str!("../migrations/sqlite/0001_init.sql").into_sql_str();
    let rotation = include_str!("../migrations/sqlite/0002_refresh_rotation.sql").into_sql_str();
    Migrator::with_migrations(vec![
        Migration::new(1, "init".into(), MigrationType::Simple, init, false),
        Migration::new(2, "refresh rotation".into(), MigrationType::Simple, rotation, false),
    ])
    .run(&old)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO users (id, username, email_verified, enabled, groups, attributes, created_at, updated_at) \
         VALUES ('u1', 'before-pools', 0, 1, '[]', '{}', 1, 1)",
    )
    .execute(&old)
    .await
    .unwrap();
    old.close().await;

    let store = SqliteStore::open(&path).await.unwrap();
    conformance::user_pools_after_upgrade(&store, "before-pools").await;
    store.close().await;
    let conn = sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path)).await.unwrap();
    let applied: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&conn)
        .await
        .unwrap();
    assert_eq!(applied, vec![(1, true), (2, true), (3, true), (4, true)]);
    conn.close().await;
}

/// SQLite enforces that links and refresh tokens belong to an existing user.
#[tokio::test]
async fn rows_must_reference_an_existing_user() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("fk.db")).await.unwrap();
    let link = UpstreamLink { provider: "google".into(), subject: "s".into(), user_id: "ghost".into(), created_at: 1 };
    assert!(matches!(store.put_link(&link).await, Err(StoreError::NotFound(_))));
}
