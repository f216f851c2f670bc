//! CloudTrail `LookupEvents` on the AWS JSON 1.1 door over real HTTP, each request signed with
//! SigV4 by a signer written here from the specification (independent of the server's verifier),
//! and the audit retention purge the server's housekeeping runs.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use tokenbridge_core::config::AwsCredentialConfig;
use tokenbridge_core::model::AuditRecord;

const TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
const KEY_ID: &str = "AKIATESTCLOUDTRAIL01";
const SECRET: &str = "cloudtrail-test-secret-access-key/0123456789";
const REGION: &str = "ap-northeast-1";
const DAY: i64 = 86_400;

/// The headers that sign `POST /` with `body` for `service` at `now` (the shared test signer).
fn sigv4_headers(
    host: &str,
    target: &str,
    body: &str,
    now: i64,
    (key_id, secret): (&str, &str),
    service: &str,
) -> Vec<(String, String)> {
    let key = sigv4::SigningKey { access_key_id: key_id, secret_access_key: secret, session_token: None };
    let extra = [("x-amz-target", target)];
    sigv4::sign_post(&key, host, "/", "application/x-amz-json-1.1", &extra, body.as_bytes(), (REGION, service), now)
}

// --- the server and its CloudTrail client ---

async fn server(retention_days: u32) -> Server {
    Server::custom(Opts {
        configure: Some(Box::new(move |cfg| {
            cfg.aws
                .admin_credentials
                .push(AwsCredentialConfig { access_key_id: KEY_ID.into(), secret_access_key: SECRET.into() });
            cfg.audit.retention_days = retention_days;
        })),
        ..Default::default()
    })
    .await
}

struct CloudTrail<'a> {
    s: &'a Server,
}

impl CloudTrail<'_> {
    fn host(&self) -> String {
        self.s.base.trim_start_matches("http://").to_string()
    }

    /// A request signed as `credentials` for `service`, or unsigned.
    async fn raw(&self, action: &str, input: &Value, signing: Option<((&str, &str), &str)>) -> Resp {
        let target = format!("{TARGET}{action}");
        let body = input.to_string();
        let req = match signing {
            Some((credentials, service)) => {
                let mut req = self.s.http.post(self.s.url("/"));
                for (k, v) in sigv4_headers(&self.host(), &target, &body, self.s.now(), credentials, service) {
                    req = req.header(k, v);
                }
                req
            }
            None => self.s.aws_json_request("/", &target),
        };
        self.s.send(req.body(body)).await
    }

    async fn call(&self, action: &str, input: Value) -> Resp {
        self.raw(action, &input, Some(((KEY_ID, SECRET), "cloudtrail"))).await
    }

    /// `LookupEvents`, asserting success.
    async fn lookup(&self, input: Value) -> Value {
        let r = self.call("LookupEvents", input).await;
        r.assert_ok();
        assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
        assert!(r.header("x-amzn-requestid").is_some_and(|v| !v.is_empty()));
        r.json
    }

    /// Every page of a lookup, following NextToken; asserts no event comes twice.
    async fn all_pages(&self, input: Value, max_results: u64) -> (Vec<Value>, usize) {
        let mut events = Vec::new();
        let mut seen = HashSet::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut req = input.clone();
            req["MaxResults"] = json!(max_results);
            if let Some(t) = &token {
                req["NextToken"] = json!(t);
            }
            let page = self.lookup(req).await;
            pages += 1;
            let got = page["Events"].as_array().unwrap();
            assert!(got.len() as u64 <= max_results, "{page}");
            for e in got {
                assert!(seen.insert(e["EventId"].as_str().unwrap().to_string()), "{e} came twice");
            }
            events.extend(got.iter().cloned());
            match page.get("NextToken").and_then(Value::as_str) {
                Some(t) => {
                    assert!(!got.is_empty(), "a NextToken after an empty page: {page}");
                    token = Some(t.to_string());
                }
                None => break,
            }
            assert!(pages < 100, "pagination never ends");
        }
        (events, pages)
    }
}

fn events(page: &Value) -> &Vec<Value> {
    page["Events"].as_array().unwrap_or_else(|| panic!("no Events in {page}"))
}

fn attr(key: &str, value: &str) -> Value {
    json!({ "LookupAttributes": [{ "AttributeKey": key, "AttributeValue": value }] })
}

fn assert_aws_error(r: &Resp, status: u16, exception: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json["__type"], exception, "{}", r.text);
    assert!(r.json["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    assert_eq!(r.header("x-amzn-errortype").map(|t| t.trim_end_matches(':')), Some(exception));
}

/// A record as the other doors write them, with the members only some events carry.
async fn append(s: &Server, event_name: &str, username: &str, extra: Value) -> AuditRecord {
    let event_id = tokenbridge_core::secrets::uuid_v4();
    let mut record = json!({
        "eventVersion": "1.08",
        "eventID": event_id,
        "eventName": event_name,
        "eventSource": "sts.amazonaws.com",
        "eventTime": tokenbridge_core::clock::rfc3339(s.now()),
        "readOnly": false,
        "userIdentity": { "type": "WebIdentityUser", "userName": username },
    });
    for (k, v) in extra.as_object().unwrap() {
        record[k] = v.clone();
    }
    let r = AuditRecord {
        event_id,
        event_time: s.now(),
        event_name: event_name.into(),
        username: Some(username.into()),
        request_id: tokenbridge_core::secrets::uuid_v4(),
        error_code: None,
        record,
    };
    s.store.append_audit(&r).await.unwrap();
    r
}

// --- tests ---

#[tokio::test]
async fn lookup_by_event_name_username_and_event_id() {
    let s = server(90).await;
    let ct = CloudTrail { s: &s };
    // Real events: alice exchanges, and a token that is no token is refused.
    s.sign_in("alice").await;
    let denied = s.exchange_bearer("not-a-token", &[]).await;
    assert_eq!(denied.status, 400, "{}", denied.text);

    let page = ct.lookup(attr("EventName", "TokenExchange")).await;
    let found = events(&page);
    assert_eq!(found.len(), 2, "{page}");
    assert!(page.get("NextToken").is_none(), "{page}");
    // Newest first: the refusal, then alice's exchange.
    let (refused, alice) = (&found[0], &found[1]);
    let record: Value = serde_json::from_str(refused["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(record["requestID"], denied.request_id());
    assert_eq!(record["errorCode"], "invalid_grant");
    assert_eq!(refused["EventId"], record["eventID"]);
    assert_eq!(refused["EventName"], "TokenExchange");
    assert_eq!(refused["EventSource"], "exchange.tokenbridge");
    assert_eq!(refused["ReadOnly"], "false");
    assert_eq!(refused["Resources"], json!([]));
    assert!(refused.get("Username").is_none(), "{refused}");
    assert!(refused.get("AccessKeyId").is_none(), "{refused}");
    let when = refused["EventTime"].as_i64().unwrap();
    assert!((s.now() - 5..=s.now()).contains(&when), "{refused}");
    assert_eq!(alice["Username"], "alice");

    let page = ct.lookup(attr("Username", "alice")).await;
    assert_eq!(events(&page).iter().map(|e| &e["EventId"]).collect::<Vec<_>>(), [&alice["EventId"]]);
    let page = ct.lookup(attr("EventId", alice["EventId"].as_str().unwrap())).await;
    assert_eq!(events(&page).len(), 1);
    assert_eq!(events(&page)[0], *alice);
    assert!(events(&ct.lookup(attr("EventName", "NoSuchEvent")).await).is_empty());
    assert!(events(&ct.lookup(attr("EventId", "no-such-event")).await).is_empty());
    let page = ct.lookup(attr("EventSource", "exchange.tokenbridge")).await;
    assert_eq!(events(&page).len(), 2);
}

#[tokio::test]
async fn lookup_by_resource_access_key_and_read_only() {
    let s = server(90).await;
    let ct = CloudTrail { s: &s };
    let role = "arn:aws:iam::123456789012:role/AppRole";
    let with_role = append(
        &s,
        "AssumeRoleWithWebIdentity",
        "web-user",
        json!({
            "resources": [{ "ARN": role, "accountId": "123456789012", "type": "AWS::IAM::Role" }],
            "userIdentity": { "type": "WebIdentityUser", "accessKeyId": "ASIATESTKEY", "userName": "web-user" },
        }),
    )
    .await;
    let read = append(&s, "GetCallerIdentity", "web-user", json!({ "readOnly": true })).await;

    let page = ct.lookup(attr("ResourceName", role)).await;
    let found = events(&page);
    assert_eq!(found.len(), 1, "{page}");
    let e = &found[0];
    assert_eq!(e["EventId"], with_role.event_id.as_str());
    assert_eq!(e["Resources"], json!([{ "ResourceType": "AWS::IAM::Role", "ResourceName": role }]));
    assert_eq!(e["AccessKeyId"], "ASIATESTKEY");
    assert_eq!(e["EventSource"], "sts.amazonaws.com");
    let back: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(back, with_role.record);

    let ids =
        |page: Value| events(&page).iter().map(|e| e["EventId"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(ct.lookup(attr("ResourceType", "AWS::IAM::Role")).await), [with_role.event_id.as_str()]);
    assert_eq!(ids(ct.lookup(attr("AccessKeyId", "ASIATESTKEY")).await), [with_role.event_id.as_str()]);
    assert_eq!(ids(ct.lookup(attr("ReadOnly", "true")).await), [read.event_id.as_str()]);
    let writes = ids(ct.lookup(attr("ReadOnly", "false")).await);
    assert!(writes.contains(&with_role.event_id) && !writes.contains(&read.event_id), "{writes:?}");
    let page = ct.lookup(attr("EventId", &read.event_id)).await;
    assert_eq!(events(&page)[0]["ReadOnly"], "true");
}

#[tokio::test]
async fn lookup_by_time_range() {
    let s = server(90).await;
    let ct = CloudTrail { s: &s };
    let t0 = s.now();
    let early = append(&s, "Ranged", "timed", json!({})).await;
    s.clock.advance(1000);
    let late = append(&s, "Ranged", "timed", json!({})).await;
    let ids =
        |page: Value| events(&page).iter().map(|e| e["EventId"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let ranged = |start: Value, end: Value| {
        let mut input = attr("EventName", "Ranged");
        if !start.is_null() {
            input["StartTime"] = start;
        }
        if !end.is_null() {
            input["EndTime"] = end;
        }
        input
    };
    let both = [late.event_id.clone(), early.event_id.clone()];
    assert_eq!(ids(ct.lookup(ranged(json!(t0), json!(t0 + 1000))).await), both);
    assert_eq!(ids(ct.lookup(ranged(json!(t0 + 500), Value::Null)).await), [late.event_id.as_str()]);
    assert_eq!(ids(ct.lookup(ranged(Value::Null, json!(t0 + 500))).await), [early.event_id.as_str()]);
    // Fractions, as boto3 sends datetimes: second t0 overlaps [t0 + 0.5, ...].
    assert_eq!(
        ids(ct.lookup(ranged(json!(t0 as f64 + 0.5), json!(t0 as f64 + 999.5))).await),
        [early.event_id.as_str()]
    );
    assert!(ids(ct.lookup(ranged(json!(t0 + 1), json!(t0 + 999))).await).is_empty());
    // Start after end.
    let r = ct.call("LookupEvents", ranged(json!(t0 + 10), json!(t0))).await;
    assert_aws_error(&r, 400, "InvalidTimeRangeException");
}

#[tokio::test]
async fn next_token_walks_every_page_once() {
    let s = server(90).await;
    let ct = CloudTrail { s: &s };
    let mut appended = Vec::new();
    for _ in 0..7 {
        appended.push(append(&s, "Paged", "pager", json!({})).await.event_id);
    }
    let newest_first: Vec<String> = appended.iter().rev().cloned().collect();
    for (page_size, pages) in [(1, 7), (2, 4), (3, 3), (7, 1), (50, 1)] {
        let (found, walked) = ct.all_pages(attr("EventName", "Paged"), page_size).await;
        let ids: Vec<String> = found.iter().map(|e| e["EventId"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids, newest_first, "MaxResults {page_size}");
        assert_eq!(walked, pages, "MaxResults {page_size}");
    }
    // Events appended while paging do not shift the pages already promised.
    let first =
        ct.lookup(json!({ "LookupAttributes": attr("EventName", "Paged")["LookupAttributes"], "MaxResults": 3 })).await;
    append(&s, "Paged", "pager", json!({})).await;
    let mut next = attr("EventName", "Paged");
    next["MaxResults"] = json!(3);
    next["NextToken"] = first["NextToken"].clone();
    let second = ct.lookup(next.clone()).await;
    assert_eq!(events(&second)[0]["EventId"], newest_first[3].as_str());

    // A token is only good with the parameters it was issued for, and must be ours.
    let mut other = attr("EventName", "Other");
    other["NextToken"] = first["NextToken"].clone();
    assert_aws_error(&ct.call("LookupEvents", other).await, 400, "InvalidNextTokenException");
    let mut forged = attr("EventName", "Paged");
    forged["NextToken"] = json!("bm90LWEtdG9rZW4");
    assert_aws_error(&ct.call("LookupEvents", forged).await, 400, "InvalidNextTokenException");
    // The page size may change between pages, as paginators do.
    next["MaxResults"] = json!(50);
    assert_eq!(events(&ct.lookup(next).await).len(), 4);
}

#[tokio::test]
async fn unsigned_and_badly_signed_calls_are_refused() {
    let s = server(90).await;
    let ct = CloudTrail { s: &s };
    let input = attr("EventName", "TokenExchange");

    let r = ct.raw("LookupEvents", &input, None).await;
    assert_aws_error(&r, 403, "MissingAuthenticationTokenException");
    // The refusal is audited under its request id.
    let rid = r.header("x-amzn-requestid").unwrap().to_string();
    let recs = s.audit_of(&rid).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].event_name, "LookupEvents");
    assert_eq!(recs[0].error_code.as_deref(), Some("MissingAuthenticationTokenException"));
    assert_eq!(recs[0].record["eventSource"], "cloudtrail.amazonaws.com");

    let r = ct.raw("LookupEvents", &input, Some(((KEY_ID, "the-wrong-secret"), "cloudtrail"))).await;
    assert_aws_error(&r, 403, "InvalidSignatureException");
    let r = ct.raw("LookupEvents", &input, Some(((KEY_ID, SECRET), "cognito-idp"))).await;
    assert_aws_error(&r, 403, "InvalidSignatureException");
    assert!(r.json["message"].as_str().unwrap().contains("cloudtrail"), "{}", r.text);
    let r = ct.raw("LookupEvents", &input, Some((("AKIAUNKNOWN000000000", SECRET), "cloudtrail"))).await;
    assert_aws_error(&r, 403, "UnrecognizedClientException");
    // A body changed after signing.
    let target = format!("{TARGET}LookupEvents");
    let mut req = s.http.post(s.url("/")).body(attr("EventName", "Other").to_string());
    for (k, v) in sigv4_headers(&ct.host(), &target, &input.to_string(), s.now(), (KEY_ID, SECRET), "cloudtrail") {
        req = req.header(k, v);
    }
    assert_aws_error(&s.send(req).await, 403, "InvalidSignatureException");
    // Signed, but not a CloudTrail action this door has.
    assert_aws_error(&ct.call("DescribeTrails", json!({})).await, 400, "UnknownOperationException");
}

#[tokio::test]
async fn bad_inputs_are_refused_with_cloudtrails_exceptions() {
    let s = server(90).await;
    let ct = CloudTrail { s: &s };
    for (input, exception) in [
        (attr("Region", "ap-northeast-1"), "InvalidLookupAttributesException"),
        (attr("EventName", ""), "InvalidLookupAttributesException"),
        (attr("ReadOnly", "maybe"), "InvalidLookupAttributesException"),
        (
            json!({ "LookupAttributes": [
                { "AttributeKey": "EventName", "AttributeValue": "A" },
                { "AttributeKey": "Username", "AttributeValue": "b" },
            ] }),
            "InvalidLookupAttributesException",
        ),
        (json!({ "MaxResults": 0 }), "InvalidMaxResultsException"),
        (json!({ "MaxResults": 51 }), "InvalidMaxResultsException"),
        (json!({ "StartTime": "not a time" }), "InvalidTimeRangeException"),
        (json!({ "NextToken": "garbage" }), "InvalidNextTokenException"),
        (json!({ "EventCategory": "management" }), "InvalidEventCategoryException"),
    ] {
        let r = ct.call("LookupEvents", input.clone()).await;
        assert_aws_error(&r, 400, exception);
        let rid = r.header("x-amzn-requestid").unwrap();
        assert_eq!(s.audit_of(rid).await[0].error_code.as_deref(), Some(exception), "{input}");
    }
    // Not a JSON object.
    let target = format!("{TARGET}LookupEvents");
    let mut req = s.http.post(s.url("/")).body("[1]");
    for (k, v) in sigv4_headers(&ct.host(), &target, "[1]", s.now(), (KEY_ID, SECRET), "cloudtrail") {
        req = req.header(k, v);
    }
    assert_aws_error(&s.send(req).await, 400, "SerializationException");
    // An empty body is an empty input; Insights events are never recorded here.
    let page = ct.lookup(json!({ "EventCategory": "insight" })).await;
    assert_eq!(page, json!({ "Events": [] }));
}

/// `[audit] retention_days`: the purge the server's housekeeping runs deletes the records older
/// than the retention and keeps the newer ones; 0 keeps everything.
#[tokio::test]
async fn retention_purges_records_older_than_retention_days() {
    let s = server(30).await;
    let ct = CloudTrail { s: &s };
    let old = append(&s, "Retained", "keeper", json!({})).await;
    s.clock.advance(20 * DAY);
    let newer = append(&s, "Retained", "keeper", json!({})).await;
    // 20 days on: nothing is past 30 days yet.
    assert_eq!(s.engine.purge_audit_past_retention().await.unwrap(), 0);
    s.clock.advance(10 * DAY + 1);
    let purged = s.engine.purge_audit_past_retention().await.unwrap();
    assert!(purged >= 1, "purged {purged}");
    let page = ct.lookup(attr("Username", "keeper")).await;
    let ids: Vec<&str> = events(&page).iter().map(|e| e["EventId"].as_str().unwrap()).collect();
    assert_eq!(ids, [newer.event_id.as_str()], "{} should be purged", old.event_id);
    // Everything the server recorded before the cutoff went too, whatever its kind.
    let all = s.store.lookup_audit(&Default::default()).await.unwrap();
    assert!(all.iter().all(|r| r.event_time >= s.now() - 30 * DAY), "{all:?}");

    // 0 days: kept forever.
    let forever = server(0).await;
    let kept = append(&forever, "Retained", "keeper", json!({})).await;
    forever.clock.advance(3650 * DAY);
    assert_eq!(forever.engine.purge_audit_past_retention().await.unwrap(), 0);
    let page = CloudTrail { s: &forever }.lookup(attr("EventId", &kept.event_id)).await;
    assert_eq!(events(&page).len(), 1);
}
