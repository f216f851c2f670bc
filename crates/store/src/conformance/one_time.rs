//! What is used once: replay markers, auth challenge sessions, and their purge.

use super::*;

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
