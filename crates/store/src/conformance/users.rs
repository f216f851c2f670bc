//! Users and their upstream links.

use super::*;

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
