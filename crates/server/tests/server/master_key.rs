//! Signing keys sealed with the master key: every instance holding the key signs and verifies
//! with the same keys; an instance without it, or with another key, refuses to start.

use base64::Engine as _;
use std::sync::Arc;
use tokenbridge_core::config::Config;
use tokenbridge_core::jose::{JwkSet, Signer, UnverifiedJwt, VerifyingKey};
use tokenbridge_core::secrets::{is_sealed, MasterKey};
use tokenbridge_core::{Engine, Store, SystemClock};

fn master(byte: u8) -> MasterKey {
    MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).expect("32-byte key")
}

fn config() -> Config {
    let mut cfg = Config::default();
    cfg.server.public_url = Some("http://127.0.0.1:9".into());
    cfg
}

async fn engine(store: &Arc<dyn Store>, key: Option<MasterKey>) -> anyhow::Result<Arc<Engine>> {
    let engine = Engine::open(config(), store.clone(), Arc::new(SystemClock), key).await?;
    engine.provision().await?;
    Ok(engine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_keys_are_shared_by_instances_with_the_master_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = tokenbridge_store::open(&dir.path().join("tb.db").display().to_string()).await.unwrap();

    let a = engine(&store, Some(master(7))).await.unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(is_sealed(&keys[0].private_pkcs8), "the private key is stored sealed");
    let at_rest = Signer::from_pkcs8(keys[0].alg, keys[0].kid.clone(), &keys[0].private_pkcs8);
    assert!(at_rest.is_err(), "what is stored is not a usable private key");

    // A second instance with the same master key signs with the same key; A verifies its tokens.
    let b = engine(&store, Some(master(7))).await.unwrap();
    assert_eq!(a.keys().jwks_json(), b.keys().jwks_json());
    let token = b.keys().sign(&serde_json::json!({"sub": "x"}));
    let jwt = UnverifiedJwt::parse(&token).unwrap();
    let jwks: JwkSet = serde_json::from_str(&a.keys().jwks_json()).unwrap();
    let jwk = jwks.keys.iter().find(|k| k.kid == jwt.header.kid).expect("B's kid is in A's JWKS");
    VerifyingKey::from_jwk(jwk).unwrap().verify(&jwt).expect("A verifies B's signature");

    // A rotation on B is sealed too, and A loads it.
    let kid = b.keys().rotate(None).await.unwrap();
    assert!(store.list_signing_keys().await.unwrap().iter().all(|k| is_sealed(&k.private_pkcs8)));
    a.keys().reload().await.unwrap();
    assert_eq!(a.keys().active().kid, kid);

    // Without the master key, or with another one, an instance refuses to start and says why.
    let err = engine(&store, None).await.err().expect("no master key").to_string();
    assert!(err.contains("sealed") && err.contains("TOKENBRIDGE_MASTER_KEY"), "{err}");
    let err = engine(&store, Some(master(8))).await.err().expect("wrong master key").to_string();
    assert!(err.contains("does not open"), "{err}");
}
