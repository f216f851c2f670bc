//! 8. Secrets at rest.
//!
//! The SQLite database and its `-wal`/`-shm` files are readable by their owner only (an older,
//! world-readable file is tightened when opened); the demo keeps its admin token in `demo.json`
//! (0600) and only its hash in the database; a private key sealed with the master key is bound to
//! its `kid` (moved under another kid it does not open, and a key that does not match its public
//! key is refused even unsealed); keys stored unsealed or in the older unbound form are resealed
//! when an instance starts with a master key, once however many start together: signing keys,
//! the server keys kept in settings (STS session key, the user pools' stand-in key, the
//! console's key) and user-pool app-client secrets, each by one compare-and-swap or atomic
//! update (the store's side: `concurrent_reseal` and `concurrent_setting_reseal` in the store
//! conformance suite, on both backends).
//!
//! Proofs through the binary live in `crates/cli/tests/cli/secrets_at_rest.rs`: the data directory
//! made or tightened to 0700 by `--data-dir`, the WARN naming each unsealed key at start, and
//! `keys list` saying which keys are sealed.

use crate::common::*;
use base64::Engine as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokenbridge_core::config::Config;
use tokenbridge_core::jose::{sha256_hex, Signer};
use tokenbridge_core::model::{KeyAlgorithm, SigningKeyRecord};
use tokenbridge_core::secrets::{is_sealed, MasterKey};
use tokenbridge_core::{Engine, Store, SystemClock};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

fn sibling(db: &Path, suffix: &str) -> std::path::PathBuf {
    db.with_file_name(format!("{}{suffix}", db.file_name().unwrap().to_string_lossy()))
}

fn master(byte: u8) -> MasterKey {
    MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).expect("32-byte key")
}

async fn engine(store: &Arc<dyn Store>, key: Option<MasterKey>) -> anyhow::Result<Arc<Engine>> {
    let mut cfg = Config::default();
    cfg.server.public_url = Some("http://127.0.0.1:9".into());
    cfg.issuer.algorithm = "ES256".into();
    let engine = Engine::open(cfg, store.clone(), Arc::new(SystemClock), key).await?;
    engine.provision().await?;
    Ok(engine)
}

async fn sqlite(dir: &Path) -> Arc<dyn Store> {
    tokenbridge_store::open(&dir.join("tb.db").display().to_string()).await.expect("store")
}

#[tokio::test]
async fn database_files_are_readable_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tb.db");
    let store = tokenbridge_store::open(&db.display().to_string()).await.unwrap();
    // A write: the WAL and its index exist from here on.
    store.put_setting("probe", "x").await.unwrap();
    for f in [db.clone(), sibling(&db, "-wal"), sibling(&db, "-shm")] {
        assert_eq!(mode(&f), 0o600, "{} is {:o}", f.display(), mode(&f));
    }

    // A database an older version left world-readable is tightened when opened.
    let old = dir.path().join("old.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = tokenbridge_store::open(&old.display().to_string()).await.unwrap();
    store.put_setting("probe", "x").await.unwrap();
    for f in [old.clone(), sibling(&old, "-wal"), sibling(&old, "-shm")] {
        assert_eq!(mode(&f), 0o600, "{} is {:o}", f.display(), mode(&f));
    }
}

#[tokio::test]
async fn the_demo_keeps_its_admin_token_in_demo_json_only() {
    let s = Server::demo().await;
    let token = s.admin_token.clone();
    assert_eq!(mode(&s.dir.path().join("demo.json")), 0o600);
    let store = &s.store;
    assert_eq!(store.get_setting("admin.token_sha256").await.unwrap(), Some(sha256_hex(token.as_bytes())));
    // No file of the data directory but demo.json holds the token (the database, its WAL, ...).
    let leaks = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap() != "demo.json" && p.is_file())
            .filter(|p| std::fs::read(p).unwrap().windows(token.len()).any(|w| w == token.as_bytes()))
            .map(|p| p.display().to_string())
            .collect()
    };
    assert_eq!(leaks(s.dir.path()), Vec::<String>::new(), "the admin token is stored in plain text");

    // Started again on the same data, the demo finds its token in demo.json.
    let again = tokenbridge_store::open(&s.dir.path().join("tokenbridge.db").display().to_string()).await.unwrap();
    let demo = tokenbridge_demo::prepare_with_clock(&s.base, s.dir.path(), again, "RS256", s.clock.clone())
        .await
        .expect("demo again");
    assert_eq!(demo.info["admin_token"], token.as_str());
    assert!(demo.engine.check_admin_token(&token).await);

    // An older demo kept the token in the store: it is kept (it is still the admin token), moved
    // to demo.json, and gone from the store.
    let legacy = "an-older-demos-admin-token";
    store.put_setting("demo.admin_token", legacy).await.unwrap();
    store.put_setting("admin.token_sha256", &sha256_hex(legacy.as_bytes())).await.unwrap();
    std::fs::remove_file(s.dir.path().join("demo.json")).unwrap();
    let again = tokenbridge_store::open(&s.dir.path().join("tokenbridge.db").display().to_string()).await.unwrap();
    let demo = tokenbridge_demo::prepare_with_clock(&s.base, s.dir.path(), again, "RS256", s.clock.clone())
        .await
        .expect("demo again");
    assert_eq!(demo.info["admin_token"], legacy);
    assert!(demo.engine.check_admin_token(legacy).await);
    assert_ne!(store.get_setting("demo.admin_token").await.unwrap().as_deref(), Some(legacy));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_key_moved_to_another_kid_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    engine(&store, Some(master(7))).await.unwrap();
    let active = store.list_signing_keys().await.unwrap().remove(0);
    assert!(is_sealed(&active.private_pkcs8));

    // The same sealed bytes (and public key) under another kid, made the active key.
    let now = system_now();
    let moved = SigningKeyRecord { kid: "moved-1".into(), active: false, publish_until: None, ..active.clone() };
    store.insert_signing_key(&moved).await.unwrap();
    store.activate_signing_key("moved-1", now + 600).await.unwrap();
    let err = engine(&store, Some(master(7))).await.err().expect("a moved sealed key").to_string();
    assert!(err.contains("moved-1") && err.contains("does not open"), "{err}");
    assert!(err.contains("another key id"), "the error says why it may not open: {err}");

    // Server keys kept in settings are bound to their setting's name the same way.
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let e = engine(&store, Some(master(7))).await.unwrap();
    e.server_key("console.pending_key").await.unwrap();
    let sealed = store.get_setting("console.pending_key").await.unwrap().unwrap();
    store.put_setting("aws.session_key", &sealed).await.unwrap();
    let err = e.server_key("aws.session_key").await.expect_err("a moved server key").to_string();
    assert!(err.contains("aws.session_key") && err.contains("does not open"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_not_matching_its_public_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let e = engine(&store, None).await.unwrap();
    let first = e.keys().active().kid.clone();
    e.keys().rotate(None).await.unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    let (old, new) = (keys.iter().find(|k| k.kid == first).unwrap(), keys.iter().find(|k| k.kid != first).unwrap());
    // The retired key's private key under a new kid that publishes the active key's public key.
    let swapped =
        SigningKeyRecord { kid: "swapped-1".into(), public_jwk: new.public_jwk.clone(), active: false, ..old.clone() };
    store.insert_signing_key(&swapped).await.unwrap();
    store.activate_signing_key("swapped-1", system_now() + 600).await.unwrap();
    let err = engine(&store, None).await.err().expect("a mismatched key").to_string();
    assert!(err.contains("swapped-1") && err.contains("does not match its public key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_resealed_when_an_instance_starts_with_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let plain = engine(&store, None).await.unwrap();
    let kid = plain.keys().active().kid.clone();
    let issuer = "http://127.0.0.1:9";
    let token = plain.keys().sign(&serde_json::json!({ "sub": "before", "iss": issuer, "exp": system_now() + 600 }));
    let server_key = plain.server_key("console.pending_key").await.unwrap();
    for setting in ["aws.session_key", "console.pending_key"] {
        assert!(store.get_setting(setting).await.unwrap().unwrap().starts_with("plain:"), "{setting}");
    }
    // A retired key sealed by an older version: sealed, but bound to nothing.
    let (signer, pkcs8) = Signer::generate(KeyAlgorithm::ES256, "older-1".into()).unwrap();
    store
        .insert_signing_key(&SigningKeyRecord {
            kid: "older-1".into(),
            alg: KeyAlgorithm::ES256,
            private_pkcs8: master(7).seal(&pkcs8),
            public_jwk: serde_json::to_string(&signer.public_jwk()).unwrap(),
            created_at: system_now() - 10,
            active: false,
            publish_until: Some(system_now() + 3600),
        })
        .await
        .unwrap();
    plain.keys().reload().await.unwrap();
    let jwks = plain.keys().jwks_json();

    // Two instances start together with the master key: both start, and every key is sealed
    // in the bound form once.
    let (a, b) = tokio::join!(engine(&store, Some(master(7))), engine(&store, Some(master(7))));
    let (a, b) = (a.expect("instance a"), b.expect("instance b"));
    for k in store.list_signing_keys().await.unwrap() {
        assert!(k.private_pkcs8.starts_with(b"tbseal2:"), "{} is not sealed for its kid", k.kid);
    }
    // The server keys at start, the console's too (before the console first loads it).
    for setting in ["aws.session_key", "console.pending_key"] {
        assert!(store.get_setting(setting).await.unwrap().unwrap().starts_with("sealed:"), "{setting}");
    }
    // The same keys: the active kid, the JWKS, tokens signed before, the server keys.
    assert_eq!((a.keys().active().kid.clone(), b.keys().active().kid.clone()), (kid.clone(), kid));
    assert_eq!(a.keys().jwks_json(), jwks);
    tokenbridge_core::issuer::verify_own(a.keys(), issuer, &token, None, system_now()).await.expect("verifies");
    let sealed = server_key.seal(b"pending");
    assert_eq!(b.server_key("console.pending_key").await.unwrap().open(&sealed).unwrap(), b"pending");
    assert!(store.get_setting("console.pending_key").await.unwrap().unwrap().starts_with("sealed:"));
    // Without the master key the instance now refuses to start.
    let err = engine(&store, None).await.err().expect("sealed keys need the master key").to_string();
    assert!(err.contains("TOKENBRIDGE_MASTER_KEY"), "{err}");
}

/// `sealed:` + base64 of what `m` sealed in the older form, bound to nothing.
fn unbound(m: &MasterKey, plain: &[u8]) -> String {
    format!("sealed:{}", base64::engine::general_purpose::STANDARD.encode(m.seal(plain)))
}

/// Whether a stored `sealed:`/`plain:` value is sealed bound to its name.
fn bound(stored: &str) -> bool {
    let Some(b64) = stored.strip_prefix("sealed:") else { return false };
    tokenbridge_core::secrets::is_bound(&base64::engine::general_purpose::STANDARD.decode(b64).unwrap())
}

const SERVER_SECRETS: [&str; 3] = ["aws.session_key", "userpool.stand_in_key", "console.pending_key"];

/// Every server key kept in the settings (the STS session key, the user pools' stand-in key,
/// the console's key) is resealed, bound to its setting, when an instance starts with a master
/// key: found plain or in the older unbound form, not only when it is first used.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_secrets_are_resealed_when_an_instance_starts_with_a_master_key() {
    use tokenbridge_core::secrets::load_server_secret;
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    engine(&store, None).await.unwrap();
    let mut before = Vec::new();
    for setting in SERVER_SECRETS {
        before.push(load_server_secret(store.as_ref(), None, setting).await.unwrap());
        assert!(store.get_setting(setting).await.unwrap().unwrap().starts_with("plain:"), "{setting}");
    }
    // The stand-in key as an older version sealed it: bound to nothing.
    let b64 = base64::engine::general_purpose::STANDARD.encode(before[1]);
    store.put_setting("userpool.stand_in_key", &unbound(&master(7), b64.as_bytes())).await.unwrap();

    let (a, b) = tokio::join!(engine(&store, Some(master(7))), engine(&store, Some(master(7))));
    a.expect("instance a");
    b.expect("instance b");
    for (setting, bytes) in SERVER_SECRETS.iter().zip(before) {
        let stored = store.get_setting(setting).await.unwrap().unwrap();
        assert!(bound(&stored), "{setting} is not sealed for its name at start: {}", &stored[..8]);
        assert_eq!(load_server_secret(store.as_ref(), Some(&master(7)), setting).await.unwrap(), bytes, "{setting}");
    }
}

/// User-pool app-client secrets stored plain (no master key then) or sealed in the older unbound
/// form are resealed, bound to their client id, when an instance starts with a master key; each
/// by one atomic update of the client, and the secret is the same afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn app_client_secrets_are_resealed_when_an_instance_starts_with_a_master_key() {
    use crate::common::refusals::{admin, user_pool_ctx};
    use tokenbridge_core::userpool::IssuerForm;
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let plain = engine(&store, None).await.unwrap();
    let pool = "us-east-1_Resealed";
    plain.user_pools().ensure_user_pool(pool, "resealed", IssuerForm::Local).await.unwrap();
    let clients = [("plainclient00000000000000a", "secret-of-a"), ("olderclient00000000000000b", "secret-of-b")];
    for (id, secret) in clients {
        plain.user_pools().ensure_pool_client(pool, id, id, Some(secret), &[]).await.unwrap();
    }
    let stored = |id: &'static str| {
        let store = store.clone();
        async move {
            let d = store.get_document("pool_client", id).await.unwrap().unwrap();
            d.body["secret"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(stored(clients[0].0).await, "plain:secret-of-a");
    // The second as an older version sealed it: bound to nothing.
    let mut d = store.get_document("pool_client", clients[1].0).await.unwrap().unwrap();
    d.body["secret"] = unbound(&master(7), b"secret-of-b").into();
    store
        .update_document_with("pool_client", clients[1].0, &mut |_| Ok(tokenbridge_core::store::Change::Put(d.clone())))
        .await
        .unwrap();

    let (a, b) = tokio::join!(engine(&store, Some(master(7))), engine(&store, Some(master(7))));
    let (a, _b) = (a.expect("instance a"), b.expect("instance b"));
    for (id, secret) in clients {
        let s = stored(id).await;
        assert!(bound(&s), "the secret of {id} is not sealed for its client id at start");
        assert!(!s.contains(secret));
        let body = serde_json::json!({ "UserPoolId": pool, "ClientId": id });
        let described = a
            .user_pools()
            .user_pool_action("DescribeUserPoolClient", &body, Some(&admin()), &user_pool_ctx())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(described["UserPoolClient"]["ClientSecret"], secret, "the secret of {id} is unchanged");
    }
}
