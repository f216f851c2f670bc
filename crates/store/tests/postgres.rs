//! The conformance suite against PostgreSQL, plus what only a shared server can show.
//!
//! Needs `TOKENBRIDGE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`); without
//! it, or when the server does not answer, every test fails. Each test works in a schema of its own
//! (`tb_test_<pid>_<time>_<n>`), created up front and dropped at the end even when the test
//! fails: the stores reach it through `options=-c search_path=<schema>` in their URL, so the
//! tables, the migrations table and everything else live there.

use sqlx::{Connection, PgConnection};
use std::sync::Arc;
use tokenbridge_core::model::{RefreshStatus, RefreshTokenRecord, RotateOutcome, UpstreamLink, User};
use tokenbridge_core::store::{Store, StoreError};
use tokenbridge_store::conformance::{self, TestSchema};
use tokenbridge_store::{PoolSettings, PostgresStore};
use tokio::sync::Barrier;

async fn open(url: &str) -> PostgresStore {
    PostgresStore::open(url, PoolSettings::default()).await.expect("open PostgresStore")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_conformance_suite() {
    let schema = TestSchema::create("postgres_passes_the_conformance_suite").await;
    let url = schema.url.clone();
    let store: Arc<dyn Store> = Arc::new(open(&url).await);
    conformance::run_all(store.clone()).await;
    // The suite names its rows uniquely, so it can run again on the same schema.
    conformance::run_all(store).await;
}

/// `tokenbridge_store::open` hands Postgres URLs to the Postgres store.
#[tokio::test]
async fn open_accepts_postgres_urls() {
    let schema = TestSchema::create("open_accepts_postgres_urls").await;
    let url = schema.url.clone();
    let store = tokenbridge_store::open(&url).await.expect("open");
    store.ping().await.unwrap();
    store.put_setting("k", "v").await.unwrap();
    let alt = url.replacen("postgres://", "postgresql://", 1);
    let again = tokenbridge_store::open(&alt).await.expect("open postgresql://");
    assert_eq!(again.get_setting("k").await.unwrap().as_deref(), Some("v"));
}

fn token(hash: String) -> RefreshTokenRecord {
    RefreshTokenRecord {
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
    }
}

/// Two stores on one schema behave as two instances would: they share state, and the atomic
/// operations stay atomic across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_schema() {
    let schema = TestSchema::create("two_instances_share_one_schema").await;
    let url = schema.url.clone();
    let (a, b) = tokio::join!(open(&url), open(&url));

    a.put_setting("issuer", "https://a.example").await.unwrap();
    assert_eq!(b.get_setting("issuer").await.unwrap().as_deref(), Some("https://a.example"));
    assert_eq!(b.put_setting_if_absent("issuer", "https://b.example").await.unwrap(), "https://a.example");
    assert!(a.insert_replay_marker("jti-1", 200, 100).await.unwrap());
    assert!(!b.insert_replay_marker("jti-1", 200, 100).await.unwrap());

    let a: Arc<dyn Store> = Arc::new(a);
    let b: Arc<dyn Store> = Arc::new(b);
    let user = User {
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

    // Rotation races between the two instances: exactly one winner.
    a.insert_refresh_token(&token("t0".into())).await.unwrap();
    let racers = conformance::RACERS;
    let barrier = Arc::new(Barrier::new(racers));
    let mut tasks = Vec::new();
    for i in 0..racers {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        let new = token(format!("t{}", i + 1));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (new.token_hash.clone(), store.rotate_refresh_token("t0", &new, 100).await.unwrap())
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (hash, RotateOutcome::Rotated(_)) => winners.push(hash),
            (_, RotateOutcome::Reused(_)) => {}
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    assert_eq!(a.get_refresh_token(&winners[0]).await.unwrap().unwrap().status, RefreshStatus::Active);
    assert_eq!(b.get_refresh_token("t0").await.unwrap().unwrap().status, RefreshStatus::Rotated);

    // One-time use races between the two instances: exactly one first use.
    let barrier = Arc::new(Barrier::new(racers));
    let mut tasks = Vec::new();
    for i in 0..racers {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.insert_replay_marker("jti-race", 500, 100).await.unwrap()
        }));
    }
    let mut firsts = 0;
    for task in tasks {
        firsts += usize::from(task.await.unwrap());
    }
    assert_eq!(firsts, 1, "exactly one first use");

    // Rotations racing with a revocation from the other instance: once the revocation
    // has returned, no token of the family is active, and none becomes active later.
    let mut rotations = Vec::new();
    let chain = |i: usize| if i == 0 { winners[0].clone() } else { format!("chain{i}") };
    for i in 1..=40 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (old, new) = (chain(i - 1), token(chain(i)));
        rotations.push(tokio::spawn(async move {
            // Each link may find its token not yet stored, already rotated or revoked.
            store.rotate_refresh_token(&old, &new, 100).await.unwrap()
        }));
    }
    tokio::task::yield_now().await;
    b.revoke_refresh_family("f1").await.unwrap();
    for r in rotations {
        r.await.unwrap();
    }
    assert!(!a.refresh_family_active("f1").await.unwrap());
    let hashes = (0..=racers).map(|i| format!("t{i}")).chain((0..=40).map(chain));
    for hash in hashes {
        if let Some(t) = a.get_refresh_token(&hash).await.unwrap() {
            assert_ne!(t.status, RefreshStatus::Active, "{hash} outlived the revocation");
        }
    }
}

/// Read-modify-writes racing from two instances on one schema: no update is lost, a creation
/// race has one winner, and a limit decided on the stored value holds exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_updates_from_two_instances_on_one_schema() {
    let schema = TestSchema::create("racing_updates_from_two_instances_on_one_schema").await;
    let url = schema.url.clone();
    let (a, b) = tokio::join!(open(&url), open(&url));
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) = (Arc::new(a), Arc::new(b));
    conformance::concurrent_document_updates(a.clone(), b.clone()).await;
    conformance::concurrent_document_creation(a.clone(), b.clone()).await;
    conformance::concurrent_claims(a.clone(), b.clone()).await;
    conformance::concurrent_bounded_counts(a.clone(), b.clone()).await;
    conformance::concurrent_user_updates(a.clone(), b.clone()).await;
    conformance::concurrent_sign_out(a, b).await;
}

/// Re-opening applies migrations idempotently and keeps the data, also when several instances
/// start at the same moment on an empty schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reopening_keeps_data_and_migrations() {
    let schema = TestSchema::create("reopening_keeps_data_and_migrations").await;
    let url = schema.url.clone();
    // Instances starting together on an empty schema take turns migrating.
    let opened = futures_join_all((0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PostgresStore::connect(&url).await })
    }))
    .await;
    for store in opened {
        store.expect("concurrent open").ping().await.unwrap();
    }

    let first = open(&url).await;
    first.put_setting("k", "v").await.unwrap();
    first.close().await;
    for _ in 0..2 {
        let again = open(&url).await;
        assert_eq!(again.get_setting("k").await.unwrap().as_deref(), Some("v"));
        again.close().await;
    }

    let mut conn = PgConnection::connect(&url).await.unwrap();
    let applied: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, vec![(1, true), (2, true), (3, true), (4, true)]);
    conn.close().await.unwrap();
}

/// A schema made before refresh rotations were recorded is upgraded in place: a token rotated
/// back then reads with no rotation time and never qualifies for the reuse grace; an active one
/// rotates as before, now recording its rotation.
#[tokio::test]
async fn upgrade_records_rotations_from_then_on() {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::SqlSafeStr;

    let schema = TestSchema::create("upgrade_records_rotations_from_then_on").await;
    let url = schema.url.clone();
    let old = sqlx::PgPool::connect(&url).await.unwrap();
    let init = include_str!("../migrations/postgres/0001_init.sql").into_sql_str();
    Migrator::with_migrations(vec![Migration::new(1, "init".into(), MigrationType::Simple, init, false)])
        .run(&old)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, username, email_verified, enabled, groups, attributes, created_at, updated_at) \
         VALUES ('u1', 'old', FALSE, TRUE, '[]', '{}', 1, 1)",
    )
    .execute(&old)
    .await
    .unwrap();
    for (hash, status) in [("t-rotated", "rotated"), ("t-active", "active")] {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, client_id, scope, origin, auth_time, \
             origin_jti, issued_at, expires_at, status) VALUES ($1, 'f1', 'u1', 'c1', 'openid', 'password', 1, 'j', 1, \
             10000, $2)",
        )
        .bind(hash)
        .bind(status)
        .execute(&old)
        .await
        .unwrap();
    }
    old.close().await;

    let store = open(&url).await;
    conformance::rotations_recorded_after_upgrade(&store).await;
}

/// A schema at migration 0002 (before user pools) gets 0003 when a store opens it: the new
/// tables work and the rows written before are kept.
#[tokio::test]
async fn upgrade_from_0002_adds_user_pools() {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::SqlSafeStr;

    let schema = TestSchema::create("upgrade_from_0002_adds_user_pools").await;
    let url = schema.url.clone();
    let old = sqlx::PgPool::connect(&url).await.unwrap();
    let init = include_str!("../migrations/postgres/0001_init.sql").into_sql_str();
    let rotation = include_str!("../migrations/postgres/0002_refresh_rotation.sql").into_sql_str();
    Migrator::with_migrations(vec![
        Migration::new(1, "init".into(), MigrationType::Simple, init, false),
        Migration::new(2, "refresh rotation".into(), MigrationType::Simple, rotation, false),
    ])
    .run(&old)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO users (id, username, email_verified, enabled, groups, attributes, created_at, updated_at) \
         VALUES ('u1', 'before-pools', FALSE, TRUE, '[]', '{}', 1, 1)",
    )
    .execute(&old)
    .await
    .unwrap();
    old.close().await;

    let store = open(&url).await;
    conformance::user_pools_after_upgrade(&store, "before-pools").await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let applied: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, vec![(1, true), (2, true), (3, true), (4, true)]);
    conn.close().await.unwrap();
}

async fn futures_join_all<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let handles: Vec<_> = handles.collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Links and refresh tokens must belong to an existing user.
#[tokio::test]
async fn rows_must_reference_an_existing_user() {
    let schema = TestSchema::create("rows_must_reference_an_existing_user").await;
    let url = schema.url.clone();
    let store = open(&url).await;
    let link = UpstreamLink { provider: "google".into(), subject: "s".into(), user_id: "ghost".into(), created_at: 1 };
    assert!(matches!(store.put_link(&link).await, Err(StoreError::NotFound(_))));
    let mut t = token("orphan".into());
    t.user_id = "ghost".into();
    assert!(matches!(store.insert_refresh_token(&t).await, Err(StoreError::NotFound(_))));
}

/// Ordering and matching do not depend on the database's collation.
#[tokio::test]
async fn usernames_sort_in_byte_order() {
    let schema = TestSchema::create("usernames_sort_in_byte_order").await;
    let url = schema.url.clone();
    let store = open(&url).await;
    // Byte order: uppercase before lowercase, "_" between them, and non-ASCII last.
    let names = ["Zed", "_under", "alpha", "beta", "émile"];
    for (i, name) in names.iter().rev().enumerate() {
        let user = User {
            id: format!("u{i}"),
            username: name.to_string(),
            email: Some(format!("{}@EXAMPLE.com", name.to_uppercase())),
            email_verified: false,
            enabled: true,
            password_hash: None,
            groups: vec![],
            attributes: Default::default(),
            created_at: 1,
            updated_at: 1,
        };
        store.create_user(&user).await.unwrap();
    }
    let listed: Vec<String> = store.list_users(None, 10).await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(listed, names);
    let after: Vec<String> = store.list_users(Some("_"), 2).await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(after, ["_under", "alpha"]);
    let found = store.find_users_by_email("émile@example.COM").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].username, "émile");
}

/// The races keep exactly one winner even when the server's default isolation is stricter than
/// the READ COMMITTED the store is written for (the store resets it on every connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_hold_under_a_serializable_server_default() {
    let schema = TestSchema::create("races_hold_under_a_serializable_server_default").await;
    let url = format!("{}%20-c%20default_transaction_isolation%3Dserializable", schema.url);
    let store: Arc<dyn Store> = Arc::new(open(&url).await);
    conformance::concurrent_rotation(store.clone()).await;
    conformance::concurrent_grace_retries(store.clone()).await;
    conformance::concurrent_replay_markers(store.clone()).await;
    conformance::concurrent_settings(store.clone()).await;
    conformance::concurrent_setting_reseal(store.clone()).await;
    conformance::concurrent_auth_session_failures(store.clone()).await;
    conformance::concurrent_auth_session_takes(store.clone()).await;
    conformance::concurrent_document_updates(store.clone(), store.clone()).await;
    conformance::concurrent_document_creation(store.clone(), store.clone()).await;
    conformance::concurrent_claims(store.clone(), store.clone()).await;
    conformance::concurrent_bounded_counts(store.clone(), store.clone()).await;
    conformance::concurrent_user_updates(store.clone(), store.clone()).await;
    conformance::concurrent_sign_out(store.clone(), store).await;
}
