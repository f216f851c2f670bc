//! The audit log: append, lookup by every filter, pagination and purge.

use super::*;

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
