//! User-pool documents: insert, update, listing, expiry and pool deletion.

use super::*;

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

/// The typed read-modify-write (`update_record`) keeps a document's expiry: a record updated
/// after it was kept for a while (a redeemed authorization code) is still purged when it comes.
pub async fn typed_updates_keep_expiry(store: &dyn Store) {
    let t = tag();
    let (kind, pool, now) = (format!("{t}code"), format!("{t}pool"), now());
    let mut d = document(&kind, &format!("{t}c"), &pool, json!({"n": 1}));
    // Due now, so purging at `now` (as the suite does elsewhere) shows it still counts.
    d.expires_at = Some(now);
    store.insert_document(&d).await.unwrap();
    let seen = store
        .update_record::<Value, _>(&kind, &d.id, &pool, now + 1, |body| match body {
            Some(_) => (Change::Put(json!({"n": 2})), true),
            None => (Change::Keep, false),
        })
        .await
        .unwrap();
    assert!(seen);
    let stored = store.get_document(&kind, &d.id).await.unwrap().unwrap();
    assert_eq!((stored.body, stored.expires_at, stored.updated_at), (json!({"n": 2}), d.expires_at, now + 1));
    // A record created by the update has no expiry, as one inserted without it.
    let fresh = format!("{t}fresh");
    store.update_record::<Value, _>(&kind, &fresh, &pool, now, |_| (Change::Put(json!({})), ())).await.unwrap();
    assert_eq!(store.get_document(&kind, &fresh).await.unwrap().unwrap().expires_at, None);
    // Its expiry still ends it.
    store.purge_expired(now).await.unwrap();
    assert_eq!(store.get_document(&kind, &d.id).await.unwrap(), None);
    assert!(store.delete_document(&kind, &fresh).await.unwrap());
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

/// After an upgrade from the 0002 schema: the user-pool tables exist and work, and the rows
/// written before the upgrade are still there (`username` names a user created then).
pub async fn user_pools_after_upgrade(store: &dyn Store, username: &str) {
    assert!(store.find_user_by_username(username).await.unwrap().is_some(), "{username} survived the upgrade");
    documents(store).await;
    document_updates(store).await;
    document_listing(store).await;
    expiring_documents(store).await;
    typed_updates_keep_expiry(store).await;
    auth_sessions(store).await;
    purge_expired_auth_sessions(store).await;
}

/// `update_documents_with`: the updater sees every document as stored (in the order of the keys,
/// `None` when absent) and decides each; the changes are written together, or, when the
/// updater fails or one change is refused, none is.
pub async fn several_document_updates(store: &dyn Store) {
    let t = tag();
    let (kind, pool) = (format!("{t}record"), format!("{t}pool"));
    let key = |n: &str| (kind.clone(), format!("{t}{n}"));
    let keys = vec![key("b"), key("a"), key("c")];
    // One timestamp for every expected document, so a second ticking over mid-test changes nothing.
    let stamp = document(&kind, "", &pool, json!({})).created_at;
    let doc = |n: &str, body: Value| Document {
        created_at: stamp,
        updated_at: stamp,
        ..document(&kind, &format!("{t}{n}"), &pool, body)
    };

    // All absent: seen as `None` in key order; puts create them, a delete of an absent one is a no-op.
    let mut seen = Vec::new();
    let after = store
        .update_documents_with(&keys, &mut |ds| {
            seen = ds.to_vec();
            Ok(vec![Change::Put(doc("b", json!({"n": 1}))), Change::Put(doc("a", json!({"n": 2}))), Change::Delete])
        })
        .await
        .unwrap();
    assert_eq!(seen, vec![None, None, None]);
    assert_eq!(after, vec![Some(doc("b", json!({"n": 1}))), Some(doc("a", json!({"n": 2}))), None]);
    assert_eq!(store.get_document(&kind, &format!("{t}a")).await.unwrap(), Some(doc("a", json!({"n": 2}))));

    // Present ones are seen as stored; a replacement keeps `created_at`; keep, put and delete mix.
    let mut replaced = doc("a", json!({"n": 3}));
    replaced.created_at -= 100;
    replaced.updated_at += 1;
    let mut seen = Vec::new();
    let after = store
        .update_documents_with(&keys, &mut |ds| {
            seen = ds.to_vec();
            Ok(vec![Change::Delete, Change::Put(replaced.clone()), Change::Keep])
        })
        .await
        .unwrap();
    assert_eq!(seen, vec![Some(doc("b", json!({"n": 1}))), Some(doc("a", json!({"n": 2}))), None]);
    let mut want = replaced.clone();
    want.created_at = doc("a", json!({})).created_at;
    assert_eq!(after, vec![None, Some(want.clone()), None]);
    assert_eq!(store.get_document(&kind, &format!("{t}b")).await.unwrap(), None);
    assert_eq!(store.get_document(&kind, &format!("{t}a")).await.unwrap(), Some(want.clone()));

    // An updater's error writes nothing, nor does a `Put` of another document, nor the wrong
    // number of changes, nor a key named twice.
    let failed =
        store.update_documents_with(&keys, &mut |_| Err(StoreError::Conflict("refused by the updater".into()))).await;
    assert!(matches!(failed, Err(StoreError::Conflict(m)) if m == "refused by the updater"));
    let stray = doc("elsewhere", json!({}));
    for changes in [
        vec![Change::Put(doc("b", json!({"n": 9}))), Change::Delete, Change::Put(stray.clone())],
        vec![Change::Put(doc("b", json!({"n": 9}))), Change::Delete],
    ] {
        assert!(store.update_documents_with(&keys, &mut |_| Ok(changes.clone())).await.is_err());
    }
    let twice = vec![key("b"), key("b")];
    assert!(store.update_documents_with(&twice, &mut |_| Ok(vec![Change::Delete, Change::Delete])).await.is_err());
    assert_eq!(store.get_document(&kind, &format!("{t}b")).await.unwrap(), None);
    assert_eq!(store.get_document(&kind, &stray.id).await.unwrap(), None);
    assert_eq!(store.get_document(&kind, &format!("{t}a")).await.unwrap(), Some(want));

    // Documents of several kinds go together.
    let claim = (format!("{t}claim"), format!("{t}x"));
    let claim_doc = document(&claim.0, &claim.1, &pool, json!({"holder": "a"}));
    let both = vec![key("a"), claim.clone()];
    let after = store
        .update_documents_with(&both, &mut |_| Ok(vec![Change::Delete, Change::Put(claim_doc.clone())]))
        .await
        .unwrap();
    assert_eq!(after, vec![None, Some(claim_doc.clone())]);
    assert!(store.delete_document(&claim.0, &claim.1).await.unwrap());
}
