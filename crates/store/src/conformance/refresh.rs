//! Refresh token families: rotation, the reuse grace, revocation and sign-out.

use super::*;

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

/// Rotation compare-and-swap outcomes and family revocation.
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
