//! Clients, signing keys and settings: what configures the broker, kept in the store.

use super::*;

/// `put_client` inserts or replaces.
pub async fn clients(store: &dyn Store) {
    let t = tag();
    let mut c = Client {
        client_id: format!("{t}app"),
        name: "Field app".into(),
        secret_sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
        grant_types: vec![GRANT_TOKEN_EXCHANGE.into(), GRANT_REFRESH_TOKEN.into()],
        providers: vec!["salesforce".into(), "*".into()],
        scopes: vec!["openid".into(), "profile".into()],
        access_token_ttl: 900,
        id_token_ttl: 300,
        refresh_token_ttl: 86_400,
        allowed_origins: vec!["https://app.example.com".into()],
    };
    store.put_client(&c).await.unwrap();
    assert_eq!(store.get_client(&c.client_id).await.unwrap(), Some(c.clone()));
    assert_eq!(store.get_client(&format!("{t}none")).await.unwrap(), None);

    c.name = "Renamed".into();
    c.secret_sha256 = None;
    c.grant_types = vec![GRANT_PASSWORD.into()];
    c.providers = vec![];
    c.allowed_origins = vec![];
    c.access_token_ttl = 60;
    store.put_client(&c).await.unwrap();
    assert_eq!(store.get_client(&c.client_id).await.unwrap(), Some(c.clone()));

    let other = Client { client_id: format!("{t}other"), ..c.clone() };
    store.put_client(&other).await.unwrap();
    let listed: Vec<Client> =
        store.list_clients().await.unwrap().into_iter().filter(|x| x.client_id.starts_with(&t)).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&c));
    assert!(listed.contains(&other));

    assert!(store.delete_client(&other.client_id).await.unwrap());
    assert!(!store.delete_client(&other.client_id).await.unwrap());
    assert_eq!(store.get_client(&other.client_id).await.unwrap(), None);
}

/// Insert/list, atomic activation (exactly one active key), purge of retired keys.
pub async fn signing_keys(store: &dyn Store) {
    let t = tag();
    let now = now();
    let key = |name: &str, created_at: i64| SigningKeyRecord {
        kid: format!("{t}{name}"),
        alg: KeyAlgorithm::ES256,
        // Not UTF-8, with NULs: must round-trip as bytes.
        private_pkcs8: vec![0x30, 0x81, 0x87, 0x00, 0xff, 0x00, 0x01],
        public_jwk: format!(r#"{{"kty":"EC","crv":"P-256","kid":"{t}{name}"}}"#),
        created_at,
        active: false,
        publish_until: None,
    };
    let k1 = key("k1", now);
    let mut k2 = key("k2", now + 1);
    k2.alg = KeyAlgorithm::EdDSA;
    store.insert_signing_key(&k1).await.unwrap();
    store.insert_signing_key(&k2).await.unwrap();
    assert!(is_conflict(store.insert_signing_key(&k1).await));

    let find = |keys: &[SigningKeyRecord], kid: &str| keys.iter().find(|k| k.kid == kid).cloned();
    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(find(&keys, &k1.kid), Some(k1.clone()));
    assert_eq!(find(&keys, &k2.kid), Some(k2.clone()));

    let check_only_active = |keys: &[SigningKeyRecord], kid: &str| {
        let active: Vec<&str> = keys.iter().filter(|k| k.active).map(|k| k.kid.as_str()).collect();
        assert_eq!(active, vec![kid], "exactly one active key");
    };

    store.activate_signing_key(&k1.kid, now + 100).await.unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    check_only_active(&keys, &k1.kid);
    let active1 = find(&keys, &k1.kid).unwrap();
    assert_eq!(active1.publish_until, None);

    store.activate_signing_key(&k2.kid, now + 200).await.unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    check_only_active(&keys, &k2.kid);
    let retired = find(&keys, &k1.kid).unwrap();
    assert!(!retired.active);
    assert_eq!(retired.publish_until, Some(now + 200));
    assert_eq!(find(&keys, &k2.kid).unwrap().publish_until, None);

    // Activating a missing kid fails and leaves the active key in place.
    assert!(is_not_found(store.activate_signing_key(&format!("{t}missing"), now + 300).await));
    let keys = store.list_signing_keys().await.unwrap();
    check_only_active(&keys, &k2.kid);
    assert_eq!(find(&keys, &k2.kid).unwrap().publish_until, None);

    // Re-activating the active key keeps it active and publishable forever.
    store.activate_signing_key(&k2.kid, now + 400).await.unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    check_only_active(&keys, &k2.kid);
    assert_eq!(find(&keys, &k2.kid).unwrap().publish_until, None);
    assert_eq!(find(&keys, &k1.kid).unwrap().publish_until, Some(now + 200));

    // Purge removes retired keys whose publication ended before `now`, never the active one.
    store.purge_retired_keys(now + 200).await.unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    assert!(find(&keys, &k1.kid).is_some(), "publish_until == now is kept");
    let purged = store.purge_retired_keys(now + 201).await.unwrap();
    assert!(purged >= 1);
    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(find(&keys, &k1.kid), None);
    check_only_active(&keys, &k2.kid);
    store.purge_retired_keys(i64::MAX).await.unwrap();
    check_only_active(&store.list_signing_keys().await.unwrap(), &k2.kid);

    // Resealing replaces the private key only while it is what the caller saw.
    let sealed = vec![b's', 0x00, 0xff];
    assert!(store.replace_signing_key_private(&k2.kid, &k2.private_pkcs8, &sealed).await.unwrap());
    assert!(!store.replace_signing_key_private(&k2.kid, &k2.private_pkcs8, b"late").await.unwrap());
    assert!(!store.replace_signing_key_private(&format!("{t}missing"), &sealed, b"x").await.unwrap());
    let after = find(&store.list_signing_keys().await.unwrap(), &k2.kid).unwrap();
    assert_eq!(after, SigningKeyRecord { private_pkcs8: sealed, active: true, ..k2.clone() }, "only the key changed");
}

/// Instances resealing one key at once: exactly one replaces it, the others see it changed.
pub async fn concurrent_reseal(store: Arc<dyn Store>) {
    let t = tag();
    let key = SigningKeyRecord {
        kid: format!("{t}reseal"),
        alg: KeyAlgorithm::ES256,
        private_pkcs8: b"plain".to_vec(),
        public_jwk: "{}".into(),
        created_at: now(),
        active: false,
        publish_until: Some(now() + 60),
    };
    store.insert_signing_key(&key).await.unwrap();
    let racers = 50;
    let barrier = Arc::new(Barrier::new(racers));
    let mut tasks = Vec::with_capacity(racers);
    for i in 0..racers {
        let (store, barrier, kid) = (store.clone(), barrier.clone(), key.kid.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let new = format!("sealed{i}").into_bytes();
            store.replace_signing_key_private(&kid, b"plain", &new).await.map(|won| won.then_some(new))
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.expect("task").expect("replace_signing_key_private"));
    }
    assert_eq!(winners.len(), 1, "exactly one reseal wins");
    let stored = store.list_signing_keys().await.unwrap().into_iter().find(|k| k.kid == key.kid).unwrap();
    assert_eq!(stored.private_pkcs8, winners[0], "the winner's bytes are stored");
}

/// get/put and insert-if-absent.
pub async fn settings(store: &dyn Store) {
    let t = tag();
    let k = format!("{t}admin_token_hash");
    assert_eq!(store.get_setting(&k).await.unwrap(), None);
    store.put_setting(&k, "v1").await.unwrap();
    assert_eq!(store.get_setting(&k).await.unwrap().as_deref(), Some("v1"));
    store.put_setting(&k, "v2").await.unwrap();
    assert_eq!(store.get_setting(&k).await.unwrap().as_deref(), Some("v2"));
    assert_eq!(store.put_setting_if_absent(&k, "v3").await.unwrap(), "v2");
    assert_eq!(store.get_setting(&k).await.unwrap().as_deref(), Some("v2"));

    let k2 = format!("{t}demo_key");
    let big = "x".repeat(10_000);
    assert_eq!(store.put_setting_if_absent(&k2, &big).await.unwrap(), big);
    assert_eq!(store.put_setting_if_absent(&k2, "second").await.unwrap(), big);
    assert_eq!(store.get_setting(&k2).await.unwrap(), Some(big));
    store.put_setting(&k2, "").await.unwrap();
    assert_eq!(store.get_setting(&k2).await.unwrap().as_deref(), Some(""));

    // Compare-and-swap: only over the value expected, never creating one.
    assert!(!store.replace_setting(&k, "v1", "v4").await.unwrap(), "v1 is no longer stored");
    assert_eq!(store.get_setting(&k).await.unwrap().as_deref(), Some("v2"));
    assert!(store.replace_setting(&k, "v2", "v4").await.unwrap());
    assert_eq!(store.get_setting(&k).await.unwrap().as_deref(), Some("v4"));
    let absent = format!("{t}absent");
    assert!(!store.replace_setting(&absent, "", "v").await.unwrap());
    assert_eq!(store.get_setting(&absent).await.unwrap(), None);
}

/// Racing `put_setting_if_absent` calls all agree on one stored value.
pub async fn concurrent_settings(store: Arc<dyn Store>) {
    let t = tag();
    let k = format!("{t}race");
    let racers = 50;
    let barrier = Arc::new(Barrier::new(racers));
    let mut tasks = Vec::with_capacity(racers);
    for i in 0..racers {
        let store = store.clone();
        let barrier = barrier.clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.put_setting_if_absent(&k, &format!("v{i}")).await
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("task").expect("put_setting_if_absent"));
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "all callers see one value: {seen:?}");
    assert_eq!(store.get_setting(&k).await.unwrap(), Some(seen[0].clone()));
}

/// Instances resealing one setting at once: exactly one replaces it, the others see it changed.
pub async fn concurrent_setting_reseal(store: Arc<dyn Store>) {
    let t = tag();
    let k = format!("{t}server_key");
    store.put_setting(&k, "plain:key").await.unwrap();
    let racers = 50;
    let barrier = Arc::new(Barrier::new(racers));
    let mut tasks = Vec::with_capacity(racers);
    for i in 0..racers {
        let (store, barrier, k) = (store.clone(), barrier.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let new = format!("sealed:{i}");
            store.replace_setting(&k, "plain:key", &new).await.expect("replace_setting").then_some(new)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.expect("task"));
    }
    assert_eq!(winners.len(), 1, "exactly one reseal wins: {winners:?}");
    assert_eq!(store.get_setting(&k).await.unwrap(), Some(winners[0].clone()));
}
