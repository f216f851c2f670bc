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

/// Concurrent callers in the race tests.
pub const RACERS: usize = 200;

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
    document_listing(&*store).await;
    delete_pool_documents(&*store).await;
    expiring_documents(&*store).await;
    concurrent_document_updates(store.clone(), store.clone()).await;
    concurrent_document_creation(store.clone(), store.clone()).await;
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

// --- checks ---

pub async fn ping(store: &dyn Store) {
    store.ping().await.expect("ping");
}

/// Create/get/find/update/delete, username uniqueness, case-insensitive email lookup.
pub async fn users(store: &dyn Store) {
    let t = tag();
    let email = format!("Alice.{t}@Example.COM");
    let mut alice = user(&t, "alice", Some(email.clone()));
    store.create_user(&alice).await.unwrap();
    assert_eq!(store.get_user(&alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.find_user_by_username(&alice.username).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.get_user(&format!("{t}nobody")).await.unwrap(), None);
    assert_eq!(store.find_user_by_username(&format!("{t}nobody")).await.unwrap(), None);
    // Usernames are exact: another case is another name.
    assert_eq!(store.find_user_by_username(&alice.username.to_uppercase()).await.unwrap(), None);

    // Taken username (new id) and taken id both conflict, and change nothing.
    let mut imposter = user(&t, "imposter", None);
    imposter.username = alice.username.clone();
    assert!(is_conflict(store.create_user(&imposter).await));
    assert_eq!(store.get_user(&imposter.id).await.unwrap(), None);
    let mut same_id = user(&t, "sameid", None);
    same_id.id = alice.id.clone();
    assert!(is_conflict(store.create_user(&same_id).await));
    assert_eq!(store.get_user(&alice.id).await.unwrap(), Some(alice.clone()));

    // Email lookup ignores case, and returns every user sharing the address.
    for probe in [email.clone(), email.to_lowercase(), email.to_uppercase()] {
        assert_eq!(store.find_users_by_email(&probe).await.unwrap(), vec![alice.clone()], "email probe {probe}");
    }
    let bob = user(&t, "bob", Some(email.to_uppercase()));
    store.create_user(&bob).await.unwrap();
    let mut ids: Vec<String> = store.find_users_by_email(&email).await.unwrap().into_iter().map(|u| u.id).collect();
    ids.sort();
    assert_eq!(ids, vec![alice.id.clone(), bob.id.clone()]);
    assert!(store.find_users_by_email(&format!("nobody.{t}@example.com")).await.unwrap().is_empty());

    // An update sees the record as stored and replaces the whole of it.
    let before = alice.clone();
    alice.username = format!("{t}alice2");
    alice.email = Some(format!("alice.new.{t}@example.com"));
    alice.email_verified = true;
    alice.enabled = false;
    alice.password_hash = None;
    alice.groups = vec![];
    alice.attributes.insert("title".into(), "Dr.".into());
    alice.updated_at += 10;
    let mut seen = None;
    let stored = store
        .update_user_with(&alice.id, &mut |current: &User| {
            seen = Some(current.clone());
            Ok(Some(alice.clone()))
        })
        .await
        .unwrap();
    assert_eq!(seen, Some(before));
    assert_eq!(stored, Some(alice.clone()));
    assert_eq!(store.get_user(&alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.find_user_by_username(&format!("{t}alice")).await.unwrap(), None);
    assert_eq!(store.find_users_by_email(&email).await.unwrap(), vec![bob.clone()]);
    assert_eq!(store.find_users_by_email(&format!("ALICE.NEW.{t}@EXAMPLE.COM")).await.unwrap(), vec![alice.clone()]);

    // `None` from the updater leaves the user as it is.
    let kept = store.update_user_with(&alice.id, &mut |_| Ok(None)).await.unwrap();
    assert_eq!(kept, Some(alice.clone()));
    // An updater's error is returned and changes nothing.
    let failed = store
        .update_user_with(&alice.id, &mut |u: &User| {
            let _ = u;
            Err(StoreError::Backend("refused by the updater".into()))
        })
        .await;
    assert!(matches!(failed, Err(StoreError::Backend(m)) if m == "refused by the updater"));
    assert_eq!(store.get_user(&alice.id).await.unwrap(), Some(alice.clone()));

    // Renaming onto a taken username conflicts; changing the id is refused; a missing user is
    // `None`, its updater never run.
    let mut clash = alice.clone();
    clash.username = bob.username.clone();
    assert!(is_conflict(store.update_user_with(&alice.id, &mut |_| Ok(Some(clash.clone()))).await));
    assert_eq!(store.get_user(&alice.id).await.unwrap(), Some(alice.clone()));
    let mut moved = alice.clone();
    moved.id = format!("{t}elsewhere");
    assert!(store.update_user_with(&alice.id, &mut |_| Ok(Some(moved.clone()))).await.is_err());
    assert_eq!(store.get_user(&moved.id).await.unwrap(), None);
    let ghost = user(&t, "ghost", None);
    let mut ran = false;
    let missing = store
        .update_user_with(&ghost.id, &mut |_| {
            ran = true;
            Ok(Some(ghost.clone()))
        })
        .await
        .unwrap();
    assert_eq!((missing, ran), (None, false));
    assert_eq!(store.get_user(&ghost.id).await.unwrap(), None);

    assert!(store.delete_user(&alice.id).await.unwrap());
    assert!(!store.delete_user(&alice.id).await.unwrap());
    assert_eq!(store.get_user(&alice.id).await.unwrap(), None);
    assert!(store.delete_user(&bob.id).await.unwrap());
}

/// `list_users` pages in username order, strictly after the cursor.
pub async fn user_listing(store: &dyn Store) {
    let t = tag();
    let prefix = format!("{t}list");
    // Created out of order: the listing must sort.
    for i in [3, 0, 4, 1, 2] {
        create_user(store, &t, &format!("list{i}")).await;
    }
    let names = |users: Vec<User>| -> Vec<String> { users.into_iter().map(|u| u.username).collect() };
    let ours = |i: usize| format!("{prefix}{i}");

    // Everything sorting between our prefix and our last name is ours.
    let page1 = names(store.list_users(Some(&prefix), 2).await.unwrap());
    assert_eq!(page1, vec![ours(0), ours(1)]);
    let page2 = names(store.list_users(Some(&page1[1]), 2).await.unwrap());
    assert_eq!(page2, vec![ours(2), ours(3)]);
    let page3 = names(store.list_users(Some(&page2[1]), 2).await.unwrap());
    assert_eq!(page3[0], ours(4));
    assert!(page3.len() <= 2);
    if let Some(next) = page3.get(1) {
        assert!(!next.starts_with(&prefix), "unexpected {next}");
    }

    // The cursor itself is excluded, whether or not such a user exists.
    let from_mid = names(store.list_users(Some(&ours(2)), 1).await.unwrap());
    assert_eq!(from_mid, vec![ours(3)]);
    let from_gap = names(store.list_users(Some(&format!("{prefix}2a")), 1).await.unwrap());
    assert_eq!(from_gap, vec![ours(3)]);

    let first = store.list_users(None, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(store.list_users(Some(&prefix), 0).await.unwrap().is_empty());

    for i in 0..5 {
        assert!(store.delete_user(&format!("{t}idlist{i}")).await.unwrap());
    }
}

/// Deleting a user deletes its links and refresh tokens.
pub async fn delete_user_cascades(store: &dyn Store) {
    let t = tag();
    let u = create_user(store, &t, "doomed").await;
    let keep = create_user(store, &t, "kept").await;
    let provider = format!("{t}idp");
    for (subject, owner) in [("s1", &u), ("s2", &u), ("s3", &keep)] {
        store
            .put_link(&UpstreamLink {
                provider: provider.clone(),
                subject: subject.into(),
                user_id: owner.id.clone(),
                created_at: now(),
            })
            .await
            .unwrap();
    }
    let fam = format!("{t}fam");
    let r1 = refresh(&t, 1, &fam, &u.id, now() + 3600);
    let r2 = refresh(&t, 2, &fam, &keep.id, now() + 3600);
    store.insert_refresh_token(&r1).await.unwrap();
    store.insert_refresh_token(&r2).await.unwrap();

    assert!(store.delete_user(&u.id).await.unwrap());
    assert_eq!(store.get_user(&u.id).await.unwrap(), None);
    assert!(store.links_for_user(&u.id).await.unwrap().is_empty());
    assert_eq!(store.find_link(&provider, "s1").await.unwrap(), None);
    assert_eq!(store.get_refresh_token(&r1.token_hash).await.unwrap(), None);
    // The other user's rows stay.
    assert_eq!(store.links_for_user(&keep.id).await.unwrap().len(), 1);
    assert_eq!(store.get_refresh_token(&r2.token_hash).await.unwrap(), Some(r2));
    assert!(!store.delete_user(&u.id).await.unwrap());
    assert!(store.delete_user(&keep.id).await.unwrap());
}

/// `(provider, subject)` links to one user at most.
pub async fn links(store: &dyn Store) {
    let t = tag();
    let u1 = create_user(store, &t, "linked1").await;
    let u2 = create_user(store, &t, "linked2").await;
    let google = format!("{t}google");
    let github = format!("{t}github");
    let l1 = UpstreamLink {
        provider: google.clone(),
        subject: "1234567890".into(),
        user_id: u1.id.clone(),
        created_at: now(),
    };
    store.put_link(&l1).await.unwrap();
    assert_eq!(store.find_link(&google, "1234567890").await.unwrap(), Some(l1.clone()));
    assert_eq!(store.find_link(&google, "other").await.unwrap(), None);
    assert_eq!(store.find_link(&github, "1234567890").await.unwrap(), None);

    // The same upstream identity cannot be linked again, to anyone.
    let mut stolen = l1.clone();
    stolen.user_id = u2.id.clone();
    assert!(is_conflict(store.put_link(&stolen).await));
    assert!(is_conflict(store.put_link(&l1).await));
    assert_eq!(store.find_link(&google, "1234567890").await.unwrap(), Some(l1.clone()));

    // Same subject at another provider is another identity.
    let l2 = UpstreamLink {
        provider: github.clone(),
        subject: "1234567890".into(),
        user_id: u1.id.clone(),
        created_at: now(),
    };
    store.put_link(&l2).await.unwrap();
    let mut mine = store.links_for_user(&u1.id).await.unwrap();
    mine.sort_by(|a, b| a.provider.cmp(&b.provider));
    assert_eq!(mine, vec![l2.clone(), l1.clone()]);
    assert!(store.links_for_user(&u2.id).await.unwrap().is_empty());

    assert!(store.delete_link(&google, "1234567890").await.unwrap());
    assert!(!store.delete_link(&google, "1234567890").await.unwrap());
    assert_eq!(store.find_link(&google, "1234567890").await.unwrap(), None);
    assert_eq!(store.links_for_user(&u1.id).await.unwrap(), vec![l2]);
    // Once unlinked, the identity can be linked to someone else.
    store.put_link(&stolen).await.unwrap();
    assert_eq!(store.links_for_user(&u2.id).await.unwrap(), vec![stolen]);

    store.delete_user(&u1.id).await.unwrap();
    store.delete_user(&u2.id).await.unwrap();
}

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

/// Rotation compare-and-swap outcomes and family revocation.
/// After upgrading a version-1 database that held user `u1` and the refresh tokens `t-rotated`
/// (rotated) and `t-active` (active) of family `f1`: the old rotation has no recorded time and
/// never qualifies for the reuse grace; the active token rotates as before, now recorded.
pub async fn rotations_recorded_after_upgrade(store: &dyn Store) {
    let fresh = |hash: &str| RefreshTokenRecord {
        token_hash: hash.into(),
        family_id: "f1".into(),
        user_id: "u1".into(),
        client_id: "c1".into(),
        scope: "openid".into(),
        origin: "password".into(),
        auth_time: 1,
        origin_jti: "j".into(),
        issued_at: 100,
        expires_at: 10_000,
        status: RefreshStatus::Active,
        rotated_at: None,
        replaced_by: None,
        superseded: false,
    };
    let rotated = store.get_refresh_token("t-rotated").await.unwrap().unwrap();
    assert_eq!(
        (rotated.status, rotated.rotated_at, rotated.replaced_by, rotated.superseded),
        (RefreshStatus::Rotated, None, None, false)
    );
    assert!(!store.retry_refresh_rotation("t-rotated", &fresh("t-new"), 100, 0).await.unwrap());
    assert_eq!(store.get_refresh_token("t-new").await.unwrap(), None);
    assert!(matches!(
        store.rotate_refresh_token("t-active", &fresh("t-next"), 100).await.unwrap(),
        RotateOutcome::Rotated(_)
    ));
    let active = store.get_refresh_token("t-active").await.unwrap().unwrap();
    assert_eq!((active.rotated_at, active.replaced_by.as_deref()), (Some(100), Some("t-next")));
}

/// Ending a user's sessions kills every family of that user, active or spent, and no other's.
pub async fn user_sessions(store: &dyn Store) {
    let t = tag();
    let now = now();
    let u = create_user(store, &t, "signedout").await;
    let other = create_user(store, &t, "bystander").await;
    let (fa, fb, fspent, fother) = (format!("{t}fa"), format!("{t}fb"), format!("{t}fspent"), format!("{t}fo"));
    store.insert_refresh_token(&refresh(&t, 0, &fa, &u.id, now + 3600)).await.unwrap();
    store.insert_refresh_token(&refresh(&t, 1, &fb, &u.id, now + 3600)).await.unwrap();
    let mut spent = refresh(&t, 2, &fspent, &u.id, now + 3600);
    spent.status = RefreshStatus::Rotated;
    store.insert_refresh_token(&spent).await.unwrap();
    store.insert_refresh_token(&refresh(&t, 3, &fother, &other.id, now + 3600)).await.unwrap();
    assert_eq!(store.revoke_user_sessions(&u.id).await.unwrap(), 2, "two families were active");
    for f in [&fa, &fb, &fspent] {
        assert!(!store.refresh_family_active(f).await.unwrap(), "{f} must be dead");
    }
    assert!(store.refresh_family_active(&fother).await.unwrap(), "another user's session is untouched");
    assert_eq!(store.revoke_user_sessions(&u.id).await.unwrap(), 0);
    assert_eq!(store.revoke_user_sessions(&format!("{t}nobody")).await.unwrap(), 0);
}

pub async fn refresh_tokens(store: &dyn Store) {
    let t = tag();
    let now = now();
    let u = create_user(store, &t, "refresher").await;
    let fam = format!("{t}fam");
    let t0 = refresh(&t, 0, &fam, &u.id, now + 3600);
    store.insert_refresh_token(&t0).await.unwrap();
    assert_eq!(store.get_refresh_token(&t0.token_hash).await.unwrap(), Some(t0.clone()));
    assert!(is_conflict(store.insert_refresh_token(&t0).await));
    assert_eq!(store.get_refresh_token(&format!("{t}unknown")).await.unwrap(), None);

    // Rotated: reports the old record as presented (active), stores the new one, and records
    // when the old one was rotated and what replaced it.
    let t1 = refresh(&t, 1, &fam, &u.id, now + 3600);
    assert_eq!(store.rotate_refresh_token(&t0.token_hash, &t1, now).await.unwrap(), RotateOutcome::Rotated(t0.clone()));
    let old = store.get_refresh_token(&t0.token_hash).await.unwrap().unwrap();
    assert_eq!(old.status, RefreshStatus::Rotated);
    assert_eq!(old.rotated_at, Some(now));
    assert_eq!(old.replaced_by.as_deref(), Some(t1.token_hash.as_str()));
    assert!(!old.superseded);
    assert_eq!(store.get_refresh_token(&t1.token_hash).await.unwrap(), Some(t1.clone()));

    // Reused: the old token again, as stored (with its rotation); nothing new is stored.
    let t2 = refresh(&t, 2, &fam, &u.id, now + 3600);
    match store.rotate_refresh_token(&t0.token_hash, &t2, now + 1).await.unwrap() {
        RotateOutcome::Reused(r) => assert_eq!(r, old),
        other => panic!("expected Reused, got {other:?}"),
    }
    assert_eq!(store.get_refresh_token(&t2.token_hash).await.unwrap(), None);

    // A new record that cannot be stored undoes the swap.
    let clash = refresh(&t, 0, &fam, &u.id, now + 3600);
    assert!(store.rotate_refresh_token(&t1.token_hash, &clash, now).await.is_err());
    assert_eq!(
        store.get_refresh_token(&t1.token_hash).await.unwrap(),
        Some(t1.clone()),
        "failed rotation must leave the presented token active"
    );

    // Revoking a family touches only that family and counts the tokens still active.
    let other_fam = format!("{t}otherfam");
    let o1 = refresh(&t, 10, &other_fam, &u.id, now + 3600);
    store.insert_refresh_token(&o1).await.unwrap();
    // A family with rotated-out tokens is alive until revoked; unknown families are alive.
    assert!(store.refresh_family_active(&fam).await.unwrap());
    assert!(store.refresh_family_active(&format!("{t}nofam")).await.unwrap());
    assert_eq!(store.revoke_refresh_family(&fam).await.unwrap(), 1);
    assert!(!store.refresh_family_active(&fam).await.unwrap());
    assert!(store.refresh_family_active(&other_fam).await.unwrap());
    for hash in [&t0.token_hash, &t1.token_hash] {
        let r = store.get_refresh_token(hash).await.unwrap().unwrap();
        assert_eq!(r.status, RefreshStatus::Revoked, "{hash}");
    }
    assert_eq!(store.get_refresh_token(&o1.token_hash).await.unwrap(), Some(o1.clone()));
    assert_eq!(store.revoke_refresh_family(&fam).await.unwrap(), 0);
    assert_eq!(store.revoke_refresh_family(&format!("{t}nofam")).await.unwrap(), 0);

    // Revocation marks rotated-out tokens too, so a family with no active token still dies.
    let spent_fam = format!("{t}spentfam");
    let mut spent = refresh(&t, 11, &spent_fam, &u.id, now + 3600);
    spent.status = RefreshStatus::Rotated;
    store.insert_refresh_token(&spent).await.unwrap();
    assert!(store.refresh_family_active(&spent_fam).await.unwrap());
    assert_eq!(store.revoke_refresh_family(&spent_fam).await.unwrap(), 0);
    assert!(!store.refresh_family_active(&spent_fam).await.unwrap());
    assert_eq!(store.get_refresh_token(&spent.token_hash).await.unwrap().unwrap().status, RefreshStatus::Revoked);

    // Revoked.
    let t3 = refresh(&t, 3, &fam, &u.id, now + 3600);
    match store.rotate_refresh_token(&t1.token_hash, &t3, now).await.unwrap() {
        RotateOutcome::Revoked(r) => {
            assert_eq!(r.token_hash, t1.token_hash);
            assert_eq!(r.status, RefreshStatus::Revoked);
        }
        other => panic!("expected Revoked, got {other:?}"),
    }
    assert_eq!(store.get_refresh_token(&t3.token_hash).await.unwrap(), None);

    // Expired: active but `expires_at <= now`; the token stays as it was.
    let efam = format!("{t}expfam");
    for (n, expires_at) in [(20, now - 1), (21, now)] {
        let e = refresh(&t, n, &efam, &u.id, expires_at);
        store.insert_refresh_token(&e).await.unwrap();
        let next = refresh(&t, n + 100, &efam, &u.id, now + 3600);
        assert_eq!(
            store.rotate_refresh_token(&e.token_hash, &next, now).await.unwrap(),
            RotateOutcome::Expired(e.clone())
        );
        assert_eq!(store.get_refresh_token(&e.token_hash).await.unwrap(), Some(e));
        assert_eq!(store.get_refresh_token(&next.token_hash).await.unwrap(), None);
    }

    // NotFound.
    let t4 = refresh(&t, 4, &fam, &u.id, now + 3600);
    assert_eq!(store.rotate_refresh_token(&format!("{t}never"), &t4, now).await.unwrap(), RotateOutcome::NotFound);
    assert_eq!(store.get_refresh_token(&t4.token_hash).await.unwrap(), None);

    store.delete_user(&u.id).await.unwrap();
}

/// The reuse grace's compare-and-swap: a retry with a rotated token retires its unused
/// successor and stores the new token, once; every other case changes nothing.
pub async fn reuse_grace(store: &dyn Store) {
    let t = tag();
    let now = now();
    let u = create_user(store, &t, "retrier").await;
    let fam = format!("{t}fam");
    let get = |hash: String| async move { store.get_refresh_token(&hash).await.unwrap() };
    let t0 = refresh(&t, 0, &fam, &u.id, now + 3600);
    let t1 = refresh(&t, 1, &fam, &u.id, now + 3600);
    store.insert_refresh_token(&t0).await.unwrap();
    store.rotate_refresh_token(&t0.token_hash, &t1, now).await.unwrap();

    // Only a rotated token qualifies, and only while its rotation is recent enough.
    let t2 = refresh(&t, 2, &fam, &u.id, now + 3600);
    assert!(!store.retry_refresh_rotation(&t1.token_hash, &t2, now + 3, now - 27).await.unwrap(), "active");
    assert!(!store.retry_refresh_rotation(&format!("{t}never"), &t2, now + 3, now - 27).await.unwrap());
    assert!(!store.retry_refresh_rotation(&t0.token_hash, &t2, now + 3, now + 1).await.unwrap(), "too old");
    assert_eq!(get(t2.token_hash.clone()).await, None);
    assert_eq!(get(t1.token_hash.clone()).await, Some(t1.clone()));

    // Within the grace: the successor is retired, superseded by the new token, which is stored.
    assert!(store.retry_refresh_rotation(&t0.token_hash, &t2, now + 3, now - 27).await.unwrap());
    let retired = get(t1.token_hash.clone()).await.unwrap();
    assert_eq!(retired.status, RefreshStatus::Rotated);
    assert_eq!(retired.rotated_at, Some(now + 3));
    assert_eq!(retired.replaced_by.as_deref(), Some(t2.token_hash.as_str()));
    assert!(retired.superseded);
    assert_eq!(get(t2.token_hash.clone()).await, Some(t2.clone()));
    let presented = get(t0.token_hash.clone()).await.unwrap();
    assert_eq!(
        (presented.status, presented.rotated_at, presented.replaced_by.as_deref(), presented.superseded),
        (RefreshStatus::Rotated, Some(now), Some(t1.token_hash.as_str()), false),
        "the presented token is left as it was"
    );

    // Once only: a second retry finds the successor gone; the superseded successor never
    // qualifies, though the token that replaced it is active.
    let t3 = refresh(&t, 3, &fam, &u.id, now + 3600);
    assert!(!store.retry_refresh_rotation(&t0.token_hash, &t3, now + 4, now - 26).await.unwrap());
    assert!(!store.retry_refresh_rotation(&t1.token_hash, &t3, now + 4, now - 26).await.unwrap());
    assert_eq!(get(t3.token_hash.clone()).await, None);
    assert_eq!(get(t2.token_hash.clone()).await, Some(t2.clone()), "the family's one active token");

    // The family goes on rotating normally from the new token.
    assert_eq!(store.rotate_refresh_token(&t2.token_hash, &t3, now + 5).await.unwrap(), RotateOutcome::Rotated(t2));

    // A successor that was used itself, or expired, or revoked, does not qualify.
    let cases = [("used", now + 3600), ("expired", now + 10), ("revoked", now + 3600)];
    for (n, (case, expires_at)) in cases.into_iter().enumerate() {
        let f = format!("{t}{case}");
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| refresh(&t, 10 * (n + 1) + i, &f, &u.id, expires_at));
        store.insert_refresh_token(&a).await.unwrap();
        store.rotate_refresh_token(&a.token_hash, &b, now).await.unwrap();
        let at = match case {
            "used" => {
                store.rotate_refresh_token(&b.token_hash, &c, now + 1).await.unwrap();
                now + 2
            }
            "expired" => now + 10,
            _ => {
                store.revoke_refresh_family(&f).await.unwrap();
                now + 2
            }
        };
        assert!(!store.retry_refresh_rotation(&a.token_hash, &d, at, now - 30).await.unwrap(), "{case}");
        assert_eq!(get(d.token_hash.clone()).await, None, "{case}");
        assert!(!get(b.token_hash.clone()).await.unwrap().superseded, "{case}");
    }

    store.delete_user(&u.id).await.unwrap();
}

/// Many retries of one rotated token at once, within the grace: exactly one retires the
/// successor; the family ends with exactly one active token.
pub async fn concurrent_grace_retries(store: Arc<dyn Store>) {
    let t = tag();
    let now = now();
    let u = create_user(&*store, &t, "retryracer").await;
    let fam = format!("{t}fam");
    let t0 = refresh(&t, 0, &fam, &u.id, now + 3600);
    let t1 = refresh(&t, 1, &fam, &u.id, now + 3600);
    store.insert_refresh_token(&t0).await.unwrap();
    store.rotate_refresh_token(&t0.token_hash, &t1, now).await.unwrap();

    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::with_capacity(RACERS);
    for i in 2..RACERS + 2 {
        let store = store.clone();
        let barrier = barrier.clone();
        let old = t0.token_hash.clone();
        let new = refresh(&t, i, &fam, &u.id, now + 3600);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let retried = store.retry_refresh_rotation(&old, &new, now + 1, now - 29).await;
            (new.token_hash, retried.expect("retry"))
        }));
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for task in tasks {
        let (hash, retried) = task.await.expect("task");
        if retried {
            winners.push(hash);
        } else {
            losers.push(hash);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one retry wins");
    let winner = store.get_refresh_token(&winners[0]).await.unwrap().unwrap();
    assert_eq!(winner.status, RefreshStatus::Active);
    let retired = store.get_refresh_token(&t1.token_hash).await.unwrap().unwrap();
    assert_eq!((retired.status, retired.superseded), (RefreshStatus::Rotated, true));
    assert_eq!(retired.replaced_by.as_ref(), Some(&winners[0]));
    for hash in losers {
        assert_eq!(store.get_refresh_token(&hash).await.unwrap(), None, "{hash}");
    }
    store.delete_user(&u.id).await.unwrap();
}

/// Many callers rotating one token at once: exactly one wins, the rest see a reuse.
pub async fn concurrent_rotation(store: Arc<dyn Store>) {
    let t = tag();
    let now = now();
    let u = create_user(&*store, &t, "racer").await;
    let fam = format!("{t}fam");
    let t0 = refresh(&t, 0, &fam, &u.id, now + 3600);
    store.insert_refresh_token(&t0).await.unwrap();

    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::with_capacity(RACERS);
    for i in 1..=RACERS {
        let store = store.clone();
        let barrier = barrier.clone();
        let old = t0.token_hash.clone();
        let new = refresh(&t, i, &fam, &u.id, now + 3600);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let outcome = store.rotate_refresh_token(&old, &new, now).await;
            (new.token_hash, outcome.expect("rotate"))
        }));
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for task in tasks {
        let (hash, outcome) = task.await.expect("task");
        match outcome {
            RotateOutcome::Rotated(old) => {
                assert_eq!(old, t0);
                winners.push(hash);
            }
            RotateOutcome::Reused(old) => {
                assert_eq!(old.token_hash, t0.token_hash);
                losers.push(hash);
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    let winner = store.get_refresh_token(&winners[0]).await.unwrap().unwrap();
    assert_eq!(winner.status, RefreshStatus::Active);
    for hash in losers {
        assert_eq!(store.get_refresh_token(&hash).await.unwrap(), None, "{hash}");
    }
    store.delete_user(&u.id).await.unwrap();
}

/// Insert-if-absent, where an expired marker counts as absent.
pub async fn replay_markers(store: &dyn Store) {
    let t = tag();
    let now = now();
    let h = format!("{t}jti");
    assert!(store.insert_replay_marker(&h, now + 60, now).await.unwrap());
    assert!(!store.insert_replay_marker(&h, now + 60, now).await.unwrap());
    assert!(!store.insert_replay_marker(&h, now + 90, now + 59).await.unwrap());
    // Expired (expires_at <= now): replaced, and the new expiry holds.
    assert!(store.insert_replay_marker(&h, now + 120, now + 60).await.unwrap());
    assert!(!store.insert_replay_marker(&h, now + 200, now + 60).await.unwrap());
    assert!(!store.insert_replay_marker(&h, now + 200, now + 119).await.unwrap());
    assert!(store.insert_replay_marker(&h, now + 200, now + 120).await.unwrap());
    // Other hashes are independent.
    assert!(store.insert_replay_marker(&format!("{t}other"), now + 60, now).await.unwrap());
}

/// Many callers using one token at once: exactly one first use, also when replacing an
/// expired marker.
pub async fn concurrent_replay_markers(store: Arc<dyn Store>) {
    let t = tag();
    let now = now();
    let h = format!("{t}jti");
    for (expires_at, at) in [(now + 60, now), (now + 200, now + 60)] {
        let barrier = Arc::new(Barrier::new(RACERS));
        let mut tasks = Vec::with_capacity(RACERS);
        for _ in 0..RACERS {
            let store = store.clone();
            let barrier = barrier.clone();
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.insert_replay_marker(&h, expires_at, at).await
            }));
        }
        let mut firsts = 0;
        for task in tasks {
            if task.await.expect("task").expect("insert marker") {
                firsts += 1;
            }
        }
        assert_eq!(firsts, 1, "exactly one first use at {at}");
    }
}

/// `purge_expired` removes expired markers and refresh tokens, nothing live.
pub async fn purge_expired(store: &dyn Store) {
    let t = tag();
    let now = now();
    let u = create_user(store, &t, "purged").await;
    let fam = format!("{t}fam");
    let dead = refresh(&t, 1, &fam, &u.id, now - 10);
    let live = refresh(&t, 2, &fam, &u.id, now + 3600);
    store.insert_refresh_token(&dead).await.unwrap();
    store.insert_refresh_token(&live).await.unwrap();
    let dead_marker = format!("{t}deadjti");
    let live_marker = format!("{t}livejti");
    assert!(store.insert_replay_marker(&dead_marker, now - 10, now - 20).await.unwrap());
    assert!(store.insert_replay_marker(&live_marker, now + 60, now).await.unwrap());

    let removed = store.purge_expired(now).await.unwrap();
    assert!(removed >= 2, "removed {removed}");
    assert_eq!(store.get_refresh_token(&dead.token_hash).await.unwrap(), None);
    assert_eq!(store.get_refresh_token(&live.token_hash).await.unwrap(), Some(live));
    assert!(!store.insert_replay_marker(&live_marker, now + 60, now).await.unwrap());
    store.delete_user(&u.id).await.unwrap();
}

/// Append, every filter, newest-first order, and cursor pagination.
pub async fn audit(store: &dyn Store) {
    let t = tag();
    let now = now();
    let who = format!("{t}auditor");
    let sign_in = format!("{t}SignIn");
    let refresh_ev = format!("{t}Refresh");
    let mut appended = Vec::new();
    for i in 0..10i64 {
        let denied = i % 3 == 0;
        let event_id = format!("{t}ev{i}");
        let rec = AuditRecord {
            event_id: event_id.clone(),
            // Event 7 carries an earlier time than event 6: order follows appends, not clocks.
            event_time: if i == 7 { now + 5 } else { now + i },
            event_name: if i % 2 == 0 { sign_in.clone() } else { refresh_ev.clone() },
            username: Some(who.clone()),
            request_id: format!("{t}req{}", i / 2),
            error_code: denied.then(|| "AccessDenied".to_string()),
            record: json!({
                "eventVersion": "1.08",
                "eventID": event_id,
                "n": i,
                "requestParameters": {"scope": ["openid", "profile"], "nested": {"ok": !denied}},
            }),
        };
        store.append_audit(&rec).await.unwrap();
        appended.push(rec);
    }
    // An anonymous event, found by request id only.
    let anon = AuditRecord {
        event_id: format!("{t}anon"),
        event_time: now,
        event_name: sign_in.clone(),
        username: None,
        request_id: format!("{t}reqanon"),
        error_code: Some("InvalidClient".into()),
        record: json!({}),
    };
    store.append_audit(&anon).await.unwrap();
    assert!(is_conflict(store.append_audit(&appended[0]).await));

    let newest_first = |pick: &dyn Fn(&AuditRecord) -> bool| -> Vec<AuditRecord> {
        appended.iter().rev().filter(|r| pick(r)).cloned().collect()
    };
    let by_user = || AuditQuery { username: Some(who.clone()), ..Default::default() };

    let all = store.lookup_audit(&by_user()).await.unwrap();
    assert_eq!(all, newest_first(&|_| true));

    let q = AuditQuery { event_name: Some(refresh_ev.clone()), ..by_user() };
    assert_eq!(store.lookup_audit(&q).await.unwrap(), newest_first(&|r| r.event_name == refresh_ev));

    let q = AuditQuery { request_id: Some(format!("{t}req2")), ..Default::default() };
    assert_eq!(store.lookup_audit(&q).await.unwrap(), newest_first(&|r| r.request_id == format!("{t}req2")));
    let q = AuditQuery { request_id: Some(anon.request_id.clone()), ..Default::default() };
    assert_eq!(store.lookup_audit(&q).await.unwrap(), vec![anon.clone()]);

    // Time bounds are inclusive.
    let q = AuditQuery { start_time: Some(now + 2), end_time: Some(now + 5), ..by_user() };
    assert_eq!(store.lookup_audit(&q).await.unwrap(), newest_first(&|r| (now + 2..=now + 5).contains(&r.event_time)));
    let q = AuditQuery { start_time: Some(now + 8), ..by_user() };
    assert_eq!(store.lookup_audit(&q).await.unwrap(), newest_first(&|r| r.event_time >= now + 8));
    let q = AuditQuery { end_time: Some(now), ..by_user() };
    assert_eq!(store.lookup_audit(&q).await.unwrap(), newest_first(&|r| r.event_time <= now));

    for denied in [true, false] {
        let q = AuditQuery { denied: Some(denied), ..by_user() };
        assert_eq!(
            store.lookup_audit(&q).await.unwrap(),
            newest_first(&|r| r.error_code.is_some() == denied),
            "denied={denied}"
        );
    }

    // Filters combine.
    let q =
        AuditQuery { event_name: Some(sign_in.clone()), denied: Some(true), start_time: Some(now + 1), ..by_user() };
    assert_eq!(
        store.lookup_audit(&q).await.unwrap(),
        newest_first(&|r| r.event_name == sign_in && r.error_code.is_some() && r.event_time > now)
    );
    let q = AuditQuery { username: Some(format!("{t}nobody")), ..Default::default() };
    assert!(store.lookup_audit(&q).await.unwrap().is_empty());

    // Pagination: pages of 3 following the last event id of the previous page.
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = AuditQuery { limit: Some(3), before_event_id: cursor.clone(), ..by_user() };
        let page = store.lookup_audit(&q).await.unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        cursor = Some(page.last().unwrap().event_id.clone());
        pages.extend(page);
    }
    assert_eq!(pages, all);
    // The cursor combines with filters.
    let q = AuditQuery { denied: Some(false), before_event_id: Some(format!("{t}ev5")), ..by_user() };
    assert_eq!(
        store.lookup_audit(&q).await.unwrap(),
        newest_first(&|r| r.error_code.is_none() && r.event_id < format!("{t}ev5"))
    );
    // An unknown cursor matches nothing.
    let q = AuditQuery { before_event_id: Some(format!("{t}nosuchevent")), ..by_user() };
    assert!(store.lookup_audit(&q).await.unwrap().is_empty());
}

/// Without a limit, `lookup_audit` returns 50 events; limits above 1000 are capped.
pub async fn audit_default_limit(store: &dyn Store) {
    let t = tag();
    let now = now();
    let who = format!("{t}busy");
    for i in 0..55 {
        store
            .append_audit(&AuditRecord {
                event_id: format!("{t}ev{i:03}"),
                event_time: now,
                event_name: "Bulk".into(),
                username: Some(who.clone()),
                request_id: format!("{t}req{i}"),
                error_code: None,
                record: json!({"i": i}),
            })
            .await
            .unwrap();
    }
    let q = AuditQuery { username: Some(who.clone()), ..Default::default() };
    let page = store.lookup_audit(&q).await.unwrap();
    assert_eq!(page.len(), 50);
    assert_eq!(page[0].event_id, format!("{t}ev054"));
    assert_eq!(page[49].event_id, format!("{t}ev005"));
    for limit in [1000, 5000, u32::MAX] {
        let q = AuditQuery { username: Some(who.clone()), limit: Some(limit), ..Default::default() };
        assert_eq!(store.lookup_audit(&q).await.unwrap().len(), 55, "limit {limit}");
    }
    let q = AuditQuery { username: Some(who.clone()), limit: Some(7), ..Default::default() };
    assert_eq!(store.lookup_audit(&q).await.unwrap().len(), 7);
}

/// The filters read from the record itself: event id, event source, read-only, access key,
/// and resources (name and type matched on the same entry).
pub async fn audit_record_filters(store: &dyn Store) {
    let t = tag();
    let now = now();
    let who = format!("{t}filtered");
    let role = format!("arn:aws:iam::123456789012:role/{t}Role");
    let other_role = format!("arn:aws:iam::123456789012:role/{t}Other");
    let key = format!("ASIA{t}");
    let records: Vec<AuditRecord> = (0..6i64)
        .map(|i| {
            let event_id = format!("{t}ev{i}");
            let mut record = json!({
                "eventID": event_id,
                "eventSource": if i % 2 == 0 { "sts.amazonaws.com" } else { "cognito-idp.amazonaws.com" },
                "readOnly": i % 3 == 0,
                "userIdentity": { "type": "WebIdentityUser", "userName": who },
            });
            if i == 1 {
                record["userIdentity"]["accessKeyId"] = json!(key);
            }
            if i == 2 {
                record["resources"] = json!([
                    { "ARN": role, "accountId": "123456789012", "type": "AWS::IAM::Role" },
                    { "ARN": format!("{t}pool"), "type": "AWS::Cognito::UserPool" },
                ]);
            }
            if i == 3 {
                record["resources"] = json!([{ "ARN": other_role, "type": "AWS::IAM::Role" }]);
            }
            // Malformed or absent pieces match nothing and break nothing.
            if i == 4 {
                record["resources"] = json!({ "ARN": role });
                record["readOnly"] = json!("true");
            }
            if i == 5 {
                record["resources"] = Value::Null;
                record.as_object_mut().unwrap().remove("readOnly");
            }
            AuditRecord {
                event_id,
                event_time: now,
                event_name: format!("{t}Call"),
                username: Some(who.clone()),
                request_id: format!("{t}req{i}"),
                error_code: None,
                record,
            }
        })
        .collect();
    for r in &records {
        store.append_audit(r).await.unwrap();
    }
    let ids = |q: AuditQuery| async move {
        store.lookup_audit(&q).await.unwrap().into_iter().map(|r| r.event_id).collect::<Vec<_>>()
    };
    let ev = |is: &[i64]| is.iter().map(|i| format!("{t}ev{i}")).collect::<Vec<_>>();
    let by_user = || AuditQuery { username: Some(who.clone()), ..Default::default() };

    assert_eq!(ids(AuditQuery { event_id: Some(format!("{t}ev3")), ..Default::default() }).await, ev(&[3]));
    assert!(ids(AuditQuery { event_id: Some(format!("{t}nosuch")), ..Default::default() }).await.is_empty());
    let q = AuditQuery { event_source: Some("sts.amazonaws.com".into()), ..by_user() };
    assert_eq!(ids(q).await, ev(&[4, 2, 0]));
    // readOnly must be the JSON boolean: the string "true" (event 4) and no member (5) match neither.
    assert_eq!(ids(AuditQuery { read_only: Some(true), ..by_user() }).await, ev(&[3, 0]));
    assert_eq!(ids(AuditQuery { read_only: Some(false), ..by_user() }).await, ev(&[2, 1]));
    assert_eq!(ids(AuditQuery { access_key_id: Some(key.clone()), ..Default::default() }).await, ev(&[1]));
    assert!(ids(AuditQuery { access_key_id: Some(format!("{key}x")), ..by_user() }).await.is_empty());
    assert_eq!(ids(AuditQuery { resource_name: Some(role.clone()), ..by_user() }).await, ev(&[2]));
    let q = AuditQuery { resource_type: Some("AWS::IAM::Role".into()), ..by_user() };
    assert_eq!(ids(q).await, ev(&[3, 2]));
    let q = AuditQuery { resource_name: Some(role.clone()), resource_type: Some("AWS::IAM::Role".into()), ..by_user() };
    assert_eq!(ids(q).await, ev(&[2]));
    // Name and type must hold for the same entry.
    let q = AuditQuery {
        resource_name: Some(role.clone()),
        resource_type: Some("AWS::Cognito::UserPool".into()),
        ..by_user()
    };
    assert!(ids(q).await.is_empty());
    // They combine with the column filters and the cursor.
    let q = AuditQuery {
        event_source: Some("sts.amazonaws.com".into()),
        read_only: Some(false),
        before_event_id: Some(format!("{t}ev4")),
        ..by_user()
    };
    assert_eq!(ids(q).await, ev(&[2]));
}

/// `oldest_first` returns events in append order; `after_event_id` pages through them.
pub async fn audit_oldest_first(store: &dyn Store) {
    let t = tag();
    let now = now();
    let who = format!("{t}historian");
    for i in 0..7i64 {
        store
            .append_audit(&AuditRecord {
                event_id: format!("{t}ev{i}"),
                // Append order, not event time, decides.
                event_time: now - i,
                event_name: "History".into(),
                username: Some(who.clone()),
                request_id: format!("{t}req{i}"),
                error_code: None,
                record: json!({ "i": i }),
            })
            .await
            .unwrap();
    }
    let by_user = || AuditQuery { username: Some(who.clone()), oldest_first: true, ..Default::default() };
    let all: Vec<String> = store.lookup_audit(&by_user()).await.unwrap().into_iter().map(|r| r.event_id).collect();
    assert_eq!(all, (0..7).map(|i| format!("{t}ev{i}")).collect::<Vec<_>>());
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = AuditQuery { limit: Some(3), after_event_id: cursor.clone(), ..by_user() };
        let page = store.lookup_audit(&q).await.unwrap();
        if page.is_empty() {
            break;
        }
        cursor = Some(page.last().unwrap().event_id.clone());
        pages.extend(page.into_iter().map(|r| r.event_id));
    }
    assert_eq!(pages, all);
    // `after_event_id` works newest first too; an unknown cursor matches nothing.
    let q = AuditQuery { after_event_id: Some(format!("{t}ev4")), oldest_first: false, ..by_user() };
    let newer: Vec<String> = store.lookup_audit(&q).await.unwrap().into_iter().map(|r| r.event_id).collect();
    assert_eq!(newer, [format!("{t}ev6"), format!("{t}ev5")]);
    let q = AuditQuery { after_event_id: Some(format!("{t}nosuch")), ..by_user() };
    assert!(store.lookup_audit(&q).await.unwrap().is_empty());
}

/// `purge_audit_before` deletes records strictly before the time, whatever else they are, and
/// counts them. The suite's records here are dated in 1970 so that no other record (dated now)
/// is touched; only one purge runs at a time in the suite.
pub async fn purge_audit(store: &dyn Store) {
    const CUTOFF: i64 = 10_000;
    let t = tag();
    let who = format!("{t}retained");
    let times = [1, 5_000, CUTOFF - 1, CUTOFF, CUTOFF + 1];
    for (i, time) in times.iter().enumerate() {
        store
            .append_audit(&AuditRecord {
                event_id: format!("{t}ev{i}"),
                event_time: *time,
                event_name: "Old".into(),
                username: Some(who.clone()),
                request_id: format!("{t}req{i}"),
                error_code: (i % 2 == 0).then(|| "AccessDenied".to_string()),
                record: json!({ "i": i }),
            })
            .await
            .unwrap();
    }
    let removed = store.purge_audit_before(CUTOFF).await.unwrap();
    assert!(removed >= 3, "removed {removed}");
    let q = AuditQuery { username: Some(who.clone()), ..Default::default() };
    let left: Vec<i64> = store.lookup_audit(&q).await.unwrap().into_iter().map(|r| r.event_time).collect();
    assert_eq!(left, [CUTOFF + 1, CUTOFF]);
    // Nothing left before the cutoff: a second purge removes nothing of these.
    store.purge_audit_before(CUTOFF).await.unwrap();
    assert_eq!(store.lookup_audit(&q).await.unwrap().len(), 2);
    // Records dated now are untouched by a purge of the past.
    let recent = AuditQuery { start_time: Some(now() - 60), limit: Some(1), ..Default::default() };
    let before = store.lookup_audit(&recent).await.unwrap();
    store.purge_audit_before(CUTOFF + 2).await.unwrap();
    assert_eq!(store.lookup_audit(&recent).await.unwrap(), before);
    assert!(store.lookup_audit(&q).await.unwrap().is_empty());
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

/// Concurrent callers in the auth-session races.
pub const SESSION_RACERS: usize = 50;

/// Documents: insert/get/update/delete, `Conflict` on a taken (kind, id), `NotFound` when
/// updating an absent one; bodies come back exactly as stored.
pub async fn documents(store: &dyn Store) {
    let t = tag();
    let (kind, pool) = (format!("{t}client"), format!("{t}pool"));
    let body = json!({
        "ClientName": "Zürich ☃ \"quoted\" \\ back\nslash",
        "ExplicitAuthFlows": ["ALLOW_CUSTOM_AUTH", "ALLOW_USER_SRP_AUTH"],
        "RefreshTokenValidity": 30,
        "Ratio": 0.5,
        "Secret": null,
        "Nested": {"Empty": "", "List": [], "Flag": true},
        "Nul": "a\u{0}b",
    });
    let doc = document(&kind, &format!("{t}c1"), &pool, body);
    store.insert_document(&doc).await.unwrap();
    assert_eq!(store.get_document(&kind, &doc.id).await.unwrap(), Some(doc.clone()));
    assert_eq!(store.get_document(&kind, &format!("{t}nothing")).await.unwrap(), None);
    // The kind is part of the identity.
    assert_eq!(store.get_document(&format!("{t}group"), &doc.id).await.unwrap(), None);

    // A taken (kind, id) conflicts, whatever the pool, and changes nothing.
    let mut dup = document(&kind, &doc.id, &format!("{t}otherpool"), json!({"other": 1}));
    dup.created_at += 100;
    assert!(is_conflict(store.insert_document(&dup).await));
    assert_eq!(store.get_document(&kind, &doc.id).await.unwrap(), Some(doc.clone()));
    // The same id under another kind is another document.
    let group = document(&format!("{t}group"), &doc.id, &pool, json!({"GroupName": "admins"}));
    store.insert_document(&group).await.unwrap();
    assert_eq!(store.get_document(&group.kind, &group.id).await.unwrap(), Some(group.clone()));
    assert_eq!(store.get_document(&kind, &doc.id).await.unwrap(), Some(doc.clone()));

    // An update replaces body, pool, updated_at and expiry; created_at stays as inserted.
    let mut changed = doc.clone();
    changed.body = json!({"ClientName": "renamed"});
    changed.pool_id = format!("{t}pool2");
    changed.updated_at = doc.updated_at + 10;
    changed.created_at = doc.created_at + 999;
    changed.expires_at = Some(now() + 3600);
    let after = store.update_document_with(&kind, &doc.id, &mut |_| Ok(Change::Put(changed.clone()))).await.unwrap();
    let stored = store.get_document(&kind, &doc.id).await.unwrap().unwrap();
    assert_eq!(stored.body, changed.body);
    assert_eq!(stored.pool_id, changed.pool_id);
    assert_eq!(stored.updated_at, changed.updated_at);
    assert_eq!(stored.expires_at, changed.expires_at);
    assert_eq!(stored.created_at, doc.created_at);
    assert_eq!(after, Some(stored.clone()));
    assert_eq!(store.get_document(&group.kind, &group.id).await.unwrap(), Some(group.clone()));

    assert!(store.delete_document(&kind, &doc.id).await.unwrap());
    assert_eq!(store.get_document(&kind, &doc.id).await.unwrap(), None);
    assert!(!store.delete_document(&kind, &doc.id).await.unwrap());
    // Deleted, the id is free again.
    store.insert_document(&doc).await.unwrap();
    assert_eq!(store.get_document(&kind, &doc.id).await.unwrap(), Some(doc.clone()));
    assert!(store.delete_document(&kind, &doc.id).await.unwrap());
    assert!(store.delete_document(&group.kind, &group.id).await.unwrap());
}

/// `update_document_with`: the updater sees the document as stored (or `None`) and decides;
/// `Keep` writes nothing, `Put` inserts or replaces (keeping `created_at`), `Delete` removes;
/// an updater's error, or a `Put` of another document, is refused and changes nothing.
pub async fn document_updates(store: &dyn Store) {
    let t = tag();
    let (kind, pool) = (format!("{t}member"), format!("{t}pool"));
    let id = format!("{t}m1");

    // Absent: the updater sees `None`; `Keep` creates nothing, `Put` creates it.
    let mut seen = Vec::new();
    let kept = store
        .update_document_with(&kind, &id, &mut |d| {
            seen.push(d.cloned());
            Ok(Change::Keep)
        })
        .await
        .unwrap();
    assert_eq!((kept, seen), (None, vec![None]));
    assert_eq!(store.get_document(&kind, &id).await.unwrap(), None);
    let first = document(&kind, &id, &pool, json!({"n": 1}));
    let created = store.update_document_with(&kind, &id, &mut |_| Ok(Change::Put(first.clone()))).await.unwrap();
    assert_eq!(created, Some(first.clone()));
    assert_eq!(store.get_document(&kind, &id).await.unwrap(), Some(first.clone()));
    // A created document is an ordinary one: insert conflicts, listing finds it.
    assert!(is_conflict(store.insert_document(&first).await));
    assert_eq!(store.list_documents(&kind, Some(&pool), None, 10).await.unwrap(), vec![first.clone()]);

    // Present: the updater sees it as stored; `Keep` returns it unchanged.
    let mut seen = None;
    let kept = store
        .update_document_with(&kind, &id, &mut |d| {
            seen = d.cloned();
            Ok(Change::Keep)
        })
        .await
        .unwrap();
    assert_eq!((kept, seen), (Some(first.clone()), Some(first.clone())));

    // An error from the updater is returned, and nothing is written.
    let mut second = first.clone();
    second.body = json!({"n": 2});
    let mut ran = 0;
    let failed = store
        .update_document_with(&kind, &id, &mut |_| {
            ran += 1;
            Err(StoreError::Conflict("refused by the updater".into()))
        })
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict(m)) if m == "refused by the updater"));
    assert_eq!(ran, 1);
    assert_eq!(store.get_document(&kind, &id).await.unwrap(), Some(first.clone()));
    // A `Put` of another (kind, id) is refused.
    for other in
        [document(&kind, &format!("{t}m2"), &pool, json!({})), document(&format!("{t}x"), &id, &pool, json!({}))]
    {
        assert!(store.update_document_with(&kind, &id, &mut |_| Ok(Change::Put(other.clone()))).await.is_err());
        assert_eq!(store.get_document(&other.kind, &other.id).await.unwrap(), None);
    }
    assert_eq!(store.get_document(&kind, &id).await.unwrap(), Some(first.clone()));

    // `Delete` removes it; on an absent document it is a no-op.
    assert_eq!(store.update_document_with(&kind, &id, &mut |_| Ok(Change::Delete)).await.unwrap(), None);
    assert_eq!(store.get_document(&kind, &id).await.unwrap(), None);
    assert_eq!(store.update_document_with(&kind, &id, &mut |_| Ok(Change::Delete)).await.unwrap(), None);
}

/// Documents with an `expires_at` are removed by `purge_expired` once it has come
/// (`expires_at <= now`); documents without one never are.
pub async fn expiring_documents(store: &dyn Store) {
    let t = tag();
    let (kind, pool, now) = (format!("{t}failures"), format!("{t}pool"), now());
    let mut docs = Vec::new();
    for (name, expires_at) in
        [("dead", Some(now - 10)), ("boundary", Some(now)), ("live", Some(now + 60)), ("kept", None)]
    {
        let mut d = document(&kind, &format!("{t}{name}"), &pool, json!({"name": name}));
        d.expires_at = expires_at;
        store.insert_document(&d).await.unwrap();
        assert_eq!(store.get_document(&kind, &d.id).await.unwrap(), Some(d.clone()));
        docs.push(d);
    }
    let removed = store.purge_expired(now).await.unwrap();
    assert!(removed >= 2, "removed {removed}");
    let left: Vec<String> =
        store.list_documents(&kind, None, None, 10).await.unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(left, vec![docs[3].id.clone(), docs[2].id.clone()]);
    for d in &docs[2..] {
        assert!(store.delete_document(&kind, &d.id).await.unwrap());
    }
}

/// Runs `racers` calls of `race(i, store)` at once, alternating between `a` and `b` (the same
/// store, or two instances on one database), and returns their results in order.
async fn race<T, F, Fut>(a: &Arc<dyn Store>, b: &Arc<dyn Store>, racers: usize, race: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize, Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(racers));
    let mut tasks = Vec::with_capacity(racers);
    for i in 0..racers {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        let fut = race(i, store);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::with_capacity(racers);
    for task in tasks {
        out.push(task.await.expect("racer"));
    }
    out
}

/// The count a racing updater reads from a document body.
fn count_of(d: Option<&Document>) -> u64 {
    d.and_then(|d| d.body["count"].as_u64()).unwrap_or(0)
}

/// Read-modify-writes of one document racing (from `a` and `b`): none is lost. Each of
/// [`RACERS`] updaters adds one to a counter; every one saw a different value, and the last
/// value is the number of updaters.
pub async fn concurrent_document_updates(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let t = tag();
    let (kind, id) = (format!("{t}counter"), format!("{t}c"));
    a.insert_document(&document(&kind, &id, "p", json!({"count": 0}))).await.unwrap();
    let seen = race(&a, &b, RACERS, |_, store| {
        let (kind, id) = (kind.clone(), id.clone());
        async move {
            let mut seen = None;
            store
                .update_document_with(&kind, &id, &mut |d| {
                    let mut next = d.cloned().expect("the counter exists");
                    seen = Some(count_of(d));
                    next.body = json!({"count": count_of(d) + 1});
                    Ok(Change::Put(next))
                })
                .await
                .expect("update");
            seen.expect("the updater ran")
        }
    })
    .await;
    let mut seen = seen;
    seen.sort_unstable();
    assert_eq!(seen, (0..RACERS as u64).collect::<Vec<_>>(), "each updater saw the previous one's write");
    assert_eq!(count_of(a.get_document(&kind, &id).await.unwrap().as_ref()), RACERS as u64);
    assert_eq!(count_of(b.get_document(&kind, &id).await.unwrap().as_ref()), RACERS as u64);
    assert!(a.delete_document(&kind, &id).await.unwrap());
}

/// Updaters racing to create an absent document: exactly one creates it, every other one sees
/// and updates what the previous wrote.
pub async fn concurrent_document_creation(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let t = tag();
    let (kind, id) = (format!("{t}counter"), format!("{t}new"));
    let created = race(&a, &b, RACERS, |_, store| {
        let (kind, id) = (kind.clone(), id.clone());
        async move {
            let mut created = false;
            store
                .update_document_with(&kind, &id, &mut |d| {
                    created = d.is_none();
                    let body = json!({"count": count_of(d) + 1});
                    Ok(Change::Put(document(&kind, &id, "p", body)))
                })
                .await
                .expect("update");
            created
        }
    })
    .await;
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "exactly one updater created the document");
    assert_eq!(count_of(b.get_document(&kind, &id).await.unwrap().as_ref()), RACERS as u64);
    assert!(a.delete_document(&kind, &id).await.unwrap());
}

/// A limit decided on the value as stored (the shape of a lockout or a code's tries): of
/// [`RACERS`] updaters that each count one attempt while fewer than five are counted, exactly
/// five count and the others see the limit reached.
pub async fn concurrent_bounded_counts(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const LIMIT: u64 = 5;
    let t = tag();
    let (kind, id) = (format!("{t}attempts"), format!("{t}a"));
    let counted = race(&a, &b, RACERS, |_, store| {
        let (kind, id) = (kind.clone(), id.clone());
        async move {
            let mut counted = false;
            store
                .update_document_with(&kind, &id, &mut |d| {
                    counted = count_of(d) < LIMIT;
                    if !counted {
                        return Ok(Change::Keep);
                    }
                    Ok(Change::Put(document(&kind, &id, "p", json!({"count": count_of(d) + 1}))))
                })
                .await
                .expect("update");
            counted
        }
    })
    .await;
    assert_eq!(counted.iter().filter(|c| **c).count() as u64, LIMIT, "exactly the limit was counted");
    assert_eq!(count_of(a.get_document(&kind, &id).await.unwrap().as_ref()), LIMIT);
    assert!(a.delete_document(&kind, &id).await.unwrap());
}

/// Read-modify-writes of one user racing: each of [`SESSION_RACERS`] updaters adds its own
/// group, and every group is there at the end.
pub async fn concurrent_user_updates(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let t = tag();
    let u = create_user(&*a, &t, "racer").await;
    race(&a, &b, SESSION_RACERS, |i, store| {
        let id = u.id.clone();
        async move {
            store
                .update_user_with(&id, &mut |current: &User| {
                    let mut next = current.clone();
                    next.groups.push(format!("g{i}"));
                    Ok(Some(next))
                })
                .await
                .expect("update")
                .expect("the user exists");
        }
    })
    .await;
    let stored = b.get_user(&u.id).await.unwrap().unwrap();
    let mut want: Vec<String> = u.groups.clone();
    want.extend((0..SESSION_RACERS).map(|i| format!("g{i}")));
    let mut got = stored.groups.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "no update was lost");
    assert!(a.delete_user(&u.id).await.unwrap());
}

/// A sign-out racing rotations of the user's refresh tokens (from `a` and `b`): once it is over,
/// no family that existed before it is alive and no token of theirs is active or can be rotated,
/// also a successor whose rotation won its swap while the sign-out was under way. Several rounds
/// of [`SESSION_RACERS`] racers, one of which signs out, each other rotating a family of its own.
pub async fn concurrent_sign_out(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let now = now();
    for round in 0..4 {
        let t = tag();
        let u = create_user(&*a, &t, "signout").await;
        let family = |i: usize| format!("{t}sf{i}");
        let first = |i: usize| refresh(&t, 1000 + i, &family(i), &u.id, now + 3600);
        let second = |i: usize| refresh(&t, 2000 + i, &family(i), &u.id, now + 3600);
        let sign_out_racer = SESSION_RACERS / 2 + round;
        let signs_out = move |i: usize| i == sign_out_racer;
        for i in (0..SESSION_RACERS).filter(|i| !signs_out(*i)) {
            a.insert_refresh_token(&first(i)).await.unwrap();
        }
        race(&a, &b, SESSION_RACERS, |i, store| {
            let (old, new, user) = (first(i).token_hash, second(i), u.id.clone());
            let signs_out = signs_out(i);
            async move {
                if signs_out {
                    store.revoke_user_sessions(&user).await.expect("sign out");
                } else {
                    store.rotate_refresh_token(&old, &new, now).await.expect("rotate");
                }
            }
        })
        .await;
        for i in (0..SESSION_RACERS).filter(|i| !signs_out(*i)) {
            assert!(!b.refresh_family_active(&family(i)).await.unwrap(), "family {i} outlived the sign-out");
            for token in [first(i), second(i)] {
                if let Some(r) = b.get_refresh_token(&token.token_hash).await.unwrap() {
                    assert_ne!(r.status, RefreshStatus::Active, "a token of family {i} is active after the sign-out");
                }
                let next = refresh(&t, 3000 + i, &family(i), &u.id, now + 3600);
                let outcome = b.rotate_refresh_token(&token.token_hash, &next, now).await.unwrap();
                assert!(!matches!(outcome, RotateOutcome::Rotated(_)), "family {i} rotated after the sign-out");
            }
        }
        assert!(a.delete_user(&u.id).await.unwrap());
    }
}

/// `list_documents` pages one kind in id (byte) order, strictly after the cursor, optionally
/// only one pool's.
pub async fn document_listing(store: &dyn Store) {
    let t = tag();
    let kind = format!("{t}group");
    let (a, b) = (format!("{t}poola"), format!("{t}poolb"));
    // Byte order: uppercase, then "_", then lowercase, then non-ASCII.
    let suffixes = ["A", "_", "a0", "a1", "b", "é"];
    let id = |s: &str| format!("{t}{s}");
    // Created out of order, in two pools; another kind in the same pool must not show.
    for (s, pool) in [("é", &a), ("a1", &b), ("_", &a), ("b", &a), ("A", &a), ("a0", &b)] {
        store.insert_document(&document(&kind, &id(s), pool, json!({"n": s}))).await.unwrap();
    }
    store.insert_document(&document(&format!("{t}user"), &id("a0"), &a, json!({}))).await.unwrap();
    let ids = |docs: Vec<Document>| -> Vec<String> { docs.into_iter().map(|d| d.id).collect() };
    let ours = |list: &[&str]| -> Vec<String> { list.iter().map(|s| id(s)).collect() };

    // Every document of the kind (the kind is ours alone), all pools.
    assert_eq!(ids(store.list_documents(&kind, None, None, 100).await.unwrap()), ours(&suffixes));
    let page1 = ids(store.list_documents(&kind, None, None, 2).await.unwrap());
    assert_eq!(page1, ours(&["A", "_"]));
    let page2 = ids(store.list_documents(&kind, None, Some(&page1[1]), 2).await.unwrap());
    assert_eq!(page2, ours(&["a0", "a1"]));
    let page3 = ids(store.list_documents(&kind, None, Some(&page2[1]), 2).await.unwrap());
    assert_eq!(page3, ours(&["b", "é"]));
    assert!(store.list_documents(&kind, None, Some(&page3[1]), 2).await.unwrap().is_empty());

    // One pool's, paged.
    assert_eq!(ids(store.list_documents(&kind, Some(&a), None, 100).await.unwrap()), ours(&["A", "_", "b", "é"]));
    assert_eq!(ids(store.list_documents(&kind, Some(&b), None, 100).await.unwrap()), ours(&["a0", "a1"]));
    let page = ids(store.list_documents(&kind, Some(&a), Some(&id("_")), 1).await.unwrap());
    assert_eq!(page, ours(&["b"]));
    // The cursor need not exist, and it is excluded when it does.
    let gap = ids(store.list_documents(&kind, Some(&a), Some(&id("a")), 10).await.unwrap());
    assert_eq!(gap, ours(&["b", "é"]));
    assert!(store.list_documents(&kind, Some(&format!("{t}nopool")), None, 10).await.unwrap().is_empty());
    assert!(store.list_documents(&kind, None, None, 0).await.unwrap().is_empty());
    // Whole documents come back.
    let listed = store.list_documents(&kind, Some(&b), None, 1).await.unwrap();
    assert_eq!(listed, vec![store.get_document(&kind, &id("a0")).await.unwrap().unwrap()]);
    assert_eq!(listed[0].body, json!({"n": "a0"}));

    assert_eq!(store.delete_pool_documents(&a).await.unwrap(), 5);
    assert_eq!(store.delete_pool_documents(&b).await.unwrap(), 2);
}

/// `delete_pool_documents` removes every kind of document of that pool, and nothing else.
pub async fn delete_pool_documents(store: &dyn Store) {
    let t = tag();
    let (doomed, kept) = (format!("{t}doomed"), format!("{t}kept"));
    let kinds = [format!("{t}pool"), format!("{t}client"), format!("{t}group"), format!("{t}member")];
    for pool in [&doomed, &kept] {
        for k in &kinds {
            for i in 0..3 {
                let d = document(k, &format!("{pool}{i}"), pool, json!({"i": i}));
                store.insert_document(&d).await.unwrap();
            }
        }
    }
    assert_eq!(store.delete_pool_documents(&doomed).await.unwrap(), 12);
    for k in &kinds {
        assert!(store.list_documents(k, Some(&doomed), None, 10).await.unwrap().is_empty());
        assert_eq!(store.get_document(k, &format!("{doomed}0")).await.unwrap(), None);
        assert_eq!(store.list_documents(k, Some(&kept), None, 10).await.unwrap().len(), 3);
        assert_eq!(store.list_documents(k, None, None, 10).await.unwrap().len(), 3);
    }
    assert_eq!(store.delete_pool_documents(&doomed).await.unwrap(), 0);
    assert_eq!(store.delete_pool_documents(&format!("{t}never")).await.unwrap(), 0);
    assert_eq!(store.delete_pool_documents(&kept).await.unwrap(), 12);
}

/// Auth sessions: insert/get, `Conflict` on a taken id, failed answers counted, single-use take.
pub async fn auth_sessions(store: &dyn Store) {
    let t = tag();
    let now = now();
    let s = auth_session(&format!("{t}session"), now + 180);
    store.insert_auth_session(&s).await.unwrap();
    assert_eq!(store.get_auth_session(&s.id_hash).await.unwrap(), Some(s.clone()));
    assert_eq!(store.get_auth_session(&format!("{t}nothing")).await.unwrap(), None);

    let mut dup = auth_session(&s.id_hash, now + 999);
    dup.attempts = 2;
    assert!(is_conflict(store.insert_auth_session(&dup).await));
    assert_eq!(store.get_auth_session(&s.id_hash).await.unwrap(), Some(s.clone()));

    // The count starts where the inserted session says.
    let mut counted = auth_session(&format!("{t}counted"), now + 180);
    counted.attempts = 1;
    store.insert_auth_session(&counted).await.unwrap();
    assert_eq!(store.fail_auth_session(&counted.id_hash).await.unwrap(), Some(2));

    assert_eq!(store.fail_auth_session(&s.id_hash).await.unwrap(), Some(1));
    assert_eq!(store.fail_auth_session(&s.id_hash).await.unwrap(), Some(2));
    let after = store.get_auth_session(&s.id_hash).await.unwrap().unwrap();
    assert_eq!(after, AuthSession { attempts: 2, ..s.clone() });
    assert_eq!(store.fail_auth_session(&format!("{t}nothing")).await.unwrap(), None);

    // An expired session is still returned (the caller tells "expired" from "unknown").
    let expired = auth_session(&format!("{t}expired"), now - 60);
    store.insert_auth_session(&expired).await.unwrap();
    assert_eq!(store.get_auth_session(&expired.id_hash).await.unwrap(), Some(expired.clone()));

    assert!(store.take_auth_session(&s.id_hash).await.unwrap());
    assert_eq!(store.get_auth_session(&s.id_hash).await.unwrap(), None);
    assert!(!store.take_auth_session(&s.id_hash).await.unwrap());
    assert_eq!(store.fail_auth_session(&s.id_hash).await.unwrap(), None);
    assert!(!store.take_auth_session(&format!("{t}nothing")).await.unwrap());
    // Other sessions are independent.
    assert_eq!(store.get_auth_session(&counted.id_hash).await.unwrap().map(|c| c.attempts), Some(2));
    assert!(store.take_auth_session(&counted.id_hash).await.unwrap());
    assert!(store.take_auth_session(&expired.id_hash).await.unwrap());
}

/// Failed answers racing on one session are each counted once: the counts returned are
/// 1..=N, each exactly once.
pub async fn concurrent_auth_session_failures(store: Arc<dyn Store>) {
    let t = tag();
    let s = auth_session(&format!("{t}session"), now() + 180);
    store.insert_auth_session(&s).await.unwrap();
    let barrier = Arc::new(Barrier::new(SESSION_RACERS));
    let mut tasks = Vec::with_capacity(SESSION_RACERS);
    for _ in 0..SESSION_RACERS {
        let store = store.clone();
        let barrier = barrier.clone();
        let h = s.id_hash.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.fail_auth_session(&h).await
        }));
    }
    let mut counts = Vec::with_capacity(SESSION_RACERS);
    for task in tasks {
        counts.push(task.await.expect("task").expect("fail_auth_session").expect("session exists"));
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=SESSION_RACERS as u32).collect::<Vec<_>>(), "each failure counted once");
    assert_eq!(store.get_auth_session(&s.id_hash).await.unwrap().unwrap().attempts, SESSION_RACERS as u32);
    assert!(store.take_auth_session(&s.id_hash).await.unwrap());
}

/// Answers racing to use one session: exactly one caller takes it.
pub async fn concurrent_auth_session_takes(store: Arc<dyn Store>) {
    let t = tag();
    let s = auth_session(&format!("{t}session"), now() + 180);
    store.insert_auth_session(&s).await.unwrap();
    let barrier = Arc::new(Barrier::new(SESSION_RACERS));
    let mut tasks = Vec::with_capacity(SESSION_RACERS);
    for _ in 0..SESSION_RACERS {
        let store = store.clone();
        let barrier = barrier.clone();
        let h = s.id_hash.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.take_auth_session(&h).await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.expect("task").expect("take_auth_session"));
    }
    assert_eq!(winners, 1, "exactly one caller takes the session");
    assert_eq!(store.get_auth_session(&s.id_hash).await.unwrap(), None);
}

/// `purge_expired` removes auth sessions with `expires_at <= now`, and counts them.
pub async fn purge_expired_auth_sessions(store: &dyn Store) {
    let t = tag();
    let now = now();
    let dead = auth_session(&format!("{t}dead"), now - 10);
    let boundary = auth_session(&format!("{t}boundary"), now);
    let live = auth_session(&format!("{t}live"), now + 1);
    for s in [&dead, &boundary, &live] {
        store.insert_auth_session(s).await.unwrap();
    }
    let removed = store.purge_expired(now).await.unwrap();
    assert!(removed >= 2, "removed {removed}");
    assert_eq!(store.get_auth_session(&dead.id_hash).await.unwrap(), None);
    assert_eq!(store.get_auth_session(&boundary.id_hash).await.unwrap(), None);
    assert_eq!(store.get_auth_session(&live.id_hash).await.unwrap(), Some(live.clone()));
    assert!(store.take_auth_session(&live.id_hash).await.unwrap());
}

/// After an upgrade from the 0002 schema: the user-pool tables exist and work, and the rows
/// written before the upgrade are still there (`username` names a user created then).
pub async fn user_pools_after_upgrade(store: &dyn Store, username: &str) {
    assert!(store.find_user_by_username(username).await.unwrap().is_some(), "{username} survived the upgrade");
    documents(store).await;
    document_updates(store).await;
    document_listing(store).await;
    expiring_documents(store).await;
    auth_sessions(store).await;
    purge_expired_auth_sessions(store).await;
}

// --- PostgreSQL test schemas (shared by every crate's PostgreSQL tests) ---

/// The test database's URL comes from `TOKENBRIDGE_TEST_POSTGRES_URL` (scripts/test sets it).
pub const POSTGRES_URL_VAR: &str = "TOKENBRIDGE_TEST_POSTGRES_URL";

/// The test database's URL. A test that needs PostgreSQL fails without it, never passes unrun:
/// leave such tests out explicitly instead (`cargo test -- --skip postgres`, see the README).
pub fn postgres_base_url(test: &str) -> String {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => panic!(
            "{test} needs PostgreSQL: set {POSTGRES_URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test; \
             scripts/test starts PostgreSQL and sets it)"
        ),
    }
}

fn schema_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("tb_test_{}_{nanos:x}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `base` with `search_path` pointed at `schema` for every connection opened through it.
fn scoped_url(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    // Percent-encoded `-c search_path=<schema>`.
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// A schema of its own for one test, dropped (with everything in it) when the value goes out of
/// scope, also when the test panics.
pub struct TestSchema {
    base: String,
    pub name: String,
    /// The URL stores of this test connect with.
    pub url: String,
}

impl TestSchema {
    /// Fails the test when no test database is configured or it does not answer.
    pub async fn create(test: &str) -> TestSchema {
        let base = postgres_base_url(test);
        let name = schema_name();
        let mut admin = PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("{test} needs PostgreSQL, and {POSTGRES_URL_VAR} does not answer: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        let url = scoped_url(&base, &name);
        TestSchema { base, name, url }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread with a
        // runtime of its own.
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let mut admin = PgConnection::connect(&base).await?;
                sqlx::query("SET lock_timeout = '30s'").execute(&mut admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test schema {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test schema {}: cleanup thread panicked", self.name),
        }
    }
}
