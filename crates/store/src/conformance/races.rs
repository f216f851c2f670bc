//! Read-modify-writes racing from two instances (or one store twice): none is lost.

use super::*;

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

/// Several-document updates racing (from `a` and `b`), in the shape of records that claim a
/// shared name: each of [`RACERS`] racers creates its own record together with the claim of one
/// name, only if the claim is free. Exactly one wins; the claim names the winner's record, which
/// exists, and no loser's record was written.
pub async fn concurrent_claims(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let t = tag();
    let (kind, claim_kind) = (format!("{t}record"), format!("{t}claim"));
    let claim_id = format!("{t}shared");
    let won = race(&a, &b, RACERS, |i, store| {
        let (kind, claim_kind, claim_id) = (kind.clone(), claim_kind.clone(), claim_id.clone());
        async move {
            let record = format!("r{i:03}");
            let keys = vec![(kind.clone(), record.clone()), (claim_kind.clone(), claim_id.clone())];
            let mut won = false;
            store
                .update_documents_with(&keys, &mut |ds| {
                    won = ds[1].is_none();
                    if !won {
                        return Ok(vec![Change::Keep, Change::Keep]);
                    }
                    Ok(vec![
                        Change::Put(document(&kind, &record, "p", json!({"claims": claim_id}))),
                        Change::Put(document(&claim_kind, &claim_id, "p", json!({"record": record}))),
                    ])
                })
                .await
                .expect("update");
            won
        }
    })
    .await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "exactly one racer claimed the name");
    let winner = won.iter().position(|w| *w).expect("a winner");
    let claim = a.get_document(&claim_kind, &claim_id).await.unwrap().expect("the claim");
    assert_eq!(claim.body["record"], format!("r{winner:03}"));
    let records = b.list_documents(&kind, None, None, RACERS as u32 + 1).await.unwrap();
    assert_eq!(records.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), vec![format!("r{winner:03}")]);

    // Racers moving a count between two documents in both orders: none is lost and none
    // deadlocks, since both are locked in one order whatever order the keys are given in.
    let (left, right) = ((kind.clone(), format!("{t}left")), (kind.clone(), format!("{t}right")));
    race(&a, &b, RACERS, |i, store| {
        let keys = if i & 1 == 0 { vec![left.clone(), right.clone()] } else { vec![right.clone(), left.clone()] };
        async move {
            store
                .update_documents_with(&keys, &mut |ds| {
                    Ok(keys
                        .iter()
                        .zip(ds)
                        .map(|((k, id), d)| {
                            Change::Put(document(k, id, "p", json!({"count": count_of(d.as_ref()) + 1})))
                        })
                        .collect())
                })
                .await
                .expect("update");
        }
    })
    .await;
    for (k, id) in [&left, &right] {
        assert_eq!(count_of(a.get_document(k, id).await.unwrap().as_ref()), RACERS as u64);
        assert!(a.delete_document(k, id).await.unwrap());
    }
    assert!(a.delete_document(&claim_kind, &claim_id).await.unwrap());
    assert!(a.delete_document(&kind, &format!("r{winner:03}")).await.unwrap());
}
