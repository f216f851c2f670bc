//! `audit lookup`, `audit explain` and `audit export`: the records of a running server's
//! decisions, and of the CLI's own audited actions, found as CloudTrail finds them.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

#[tokio::test]
async fn audit_lookup_after_exchanges() {
    let t = tmp();
    let d = t.path();
    let demo = start_demo(d, &[]).await;
    let info = demo_json(d);

    // One success, two denials.
    let (status, ok_body) = exchange(&demo.base, &upstream_id_token(&info, "alice").await).await;
    assert_eq!(status, 200, "{ok_body}");
    let (status, unlinked) = exchange(&demo.base, &upstream_id_token(&info, "carol").await).await;
    assert_eq!((status, unlinked["error"].as_str()), (400, Some("invalid_grant")), "{unlinked}");
    let (status, unverified) = exchange(&demo.base, &upstream_id_token(&info, "dave").await).await;
    assert_eq!(status, 400, "{unverified}");
    let carol_request = unlinked["request_id"].as_str().unwrap();

    // --denied: JSON lines with errorCode, newest first.
    let denied = json_lines(&ok(tb_in(d, &["audit", "lookup", "--denied", "--limit", "5"]), None));
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied.iter().all(|r| r["errorCode"] == "invalid_grant" && r["errorMessage"].is_string()));
    assert_eq!(denied[1]["requestID"], carol_request);
    assert_eq!(denied[0]["requestID"], unverified["request_id"]);
    assert_eq!(json_lines(&ok(tb_in(d, &["audit", "lookup", "--denied", "--limit", "1"]), None)).len(), 1);

    // --request-id finds the one record with its decision trail.
    let one = json_lines(&ok(tb_in(d, &["audit", "lookup", "--request-id", carol_request]), None));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["errorMessage"], unlinked["error_description"]);
    let trail = one[0]["additionalEventData"]["decisionTrail"].as_array().unwrap();
    assert_eq!(trail.last().unwrap()["outcome"], "fail");

    // --event-name, --user.
    let all = json_lines(&ok(tb_in(d, &["audit", "lookup", "--event-name", "TokenExchange"]), None));
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|r| r["eventName"] == "TokenExchange"));
    assert!(json_lines(&ok(tb_in(d, &["audit", "lookup", "--event-name", "NoSuchEvent"]), None)).is_empty());
    // alice's exchange, and the demo's seeding linking her to her SAML and OIDC identities.
    let alice = json_lines(&ok(tb_in(d, &["audit", "lookup", "--user", "alice"]), None));
    assert_eq!(alice.len(), 3, "{alice:?}");
    assert!(alice.iter().all(|r| r["errorCode"].is_null() && r["userIdentity"]["userName"] == "alice"));
    let names: Vec<&str> = alice.iter().map(|r| r["eventName"].as_str().unwrap()).collect();
    assert_eq!(names, ["TokenExchange", "AdminLinkProviderForUser", "AdminLinkProviderForUser"], "newest first");

    // --since / --until: RFC 3339 or Unix seconds.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let since = |s: &str| json_lines(&ok(tb_in(d, &["audit", "lookup", "--denied", "--since", s]), None)).len();
    assert_eq!(since(&(now - 600).to_string()), 2);
    assert_eq!(since(&(now + 600).to_string()), 0);
    assert_eq!(since("2000-01-01T00:00:00Z"), 2);
    assert_eq!(since("2999-01-01T00:00:00Z"), 0);
    let until = json_lines(&ok(tb_in(d, &["audit", "lookup", "--until", "2000-01-01T00:00:00Z"]), None));
    assert!(until.is_empty());
    let err = fails(tb_in(d, &["audit", "lookup", "--since", "yesterday"]), None);
    assert!(err.contains("--since") && err.contains("yesterday"), "{err}");
}

/// `audit explain` tells a forward-auth denial check by check, the first failing one marked, as
/// text and as JSON.
#[tokio::test]
async fn audit_explain_marks_the_first_failing_check() {
    let t = tmp();
    let d = t.path();
    let demo = start_demo(d, &[]).await;
    let info = demo_json(d);

    // Bob's token has every scope of the demo client, but bob is not in group admins.
    let (status, body) = exchange(&demo.base, &upstream_id_token(&info, "bob").await).await;
    assert_eq!(status, 200, "{body}");
    let r = http()
        .get(format!("{}/forward-auth", demo.base))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .header("X-Forwarded-Method", "POST")
        .header("X-Forwarded-Uri", "/demo/api/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let reason = "route \"demo place order\" needs one of groups admins; \"bob\" is in readers";

    let out = ok(tb_in(d, &["audit", "explain", &id]), None);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("request {id}: Authorize (authorizer.tokenbridge) at ")), "{out}");
    assert!(lines[0].ends_with(" from 127.0.0.1, user bob"), "{out}");
    assert_eq!(lines[1], format!("decision: DENIED (insufficient_scope): {reason}"), "{out}");
    let expected =
        [("pass", "route"), ("pass", "signature"), ("pass", "expiry"), ("pass", "revocation"), ("pass", "scope")];
    let expected = expected.iter().chain([&("FAIL", "group")]);
    assert_eq!(lines.len(), 2 + 6, "{out}");
    for (i, (line, (mark, check))) in lines[2..].iter().zip(expected).enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[..3], [format!("{}.", i + 1).as_str(), mark, check], "{out}");
        assert_eq!(line.ends_with("   <-- first failing check"), *mark == "FAIL", "{out}");
    }
    assert!(lines[7].contains(&format!("{reason}   <-- first failing check")), "{out}");

    let json: Value = serde_json::from_str(&ok(tb_in(d, &["audit", "explain", &id, "--json"]), None)).unwrap();
    assert_eq!(json["requestId"], id.as_str());
    let events = json["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{json}");
    let e = &events[0];
    assert_eq!(e["eventName"], "Authorize");
    assert_eq!(e["eventSource"], "authorizer.tokenbridge");
    assert_eq!(e["decision"], "denied");
    assert_eq!(e["errorCode"], "insufficient_scope");
    assert_eq!(e["errorMessage"], reason);
    assert_eq!(e["userName"], "bob");
    assert_eq!(e["firstFailure"], 6);
    assert_eq!(e["steps"][5], serde_json::json!({ "check": "group", "outcome": "fail", "detail": reason }));
    assert_eq!(e["steps"][4]["outcome"], "pass");

    let err = fails(tb_in(d, &["audit", "explain", "no-such-request"]), None);
    assert!(err.contains("no audit event has request id \"no-such-request\""), "{err}");
}

/// Audit records made without a server: `user-pools` runs the audited Cognito actions (a
/// CreateUserPool per pool, a read-only ListUserPools; event source `cli.tokenbridge`). Returns
/// the pool ids.
fn audited_pool_actions(d: &Path, names: &[&str]) -> Vec<String> {
    let ids = names.iter().map(|n| ok(pools_in(d, &["create", "--name", n]), None).trim().to_string()).collect();
    ok(pools_in(d, &["list"]), None);
    ids
}

/// `audit lookup --event-source/--read-only/--event-id/--lookup-attribute`: CloudTrail's lookup
/// attributes from the command line, combined with each other and the older flags.
#[test]
fn audit_lookup_filters_like_cloudtrail() {
    let t = tmp();
    let d = t.path();
    audited_pool_actions(d, &["one", "two"]);
    let all = lookup(d, &[]);
    assert_eq!(event_names(&all), ["ListUserPools", "CreateUserPool", "CreateUserPool"]);

    // The CLI is a door of its own.
    assert_eq!(lookup(d, &["--event-source", "cli.tokenbridge"]).len(), 3);
    assert!(lookup(d, &["--event-source", "cognito-idp.amazonaws.com"]).is_empty());
    assert_eq!(event_names(&lookup(d, &["--read-only", "true"])), ["ListUserPools"]);
    assert_eq!(event_names(&lookup(d, &["--read-only", "false"])), ["CreateUserPool", "CreateUserPool"]);
    let id = all[1]["eventID"].as_str().unwrap();
    assert_eq!(lookup(d, &["--event-id", id]), [all[1].clone()]);

    // --lookup-attribute, as NAME=VALUE or the AWS CLI's form; repeatable, all must hold.
    assert_eq!(lookup(d, &["--lookup-attribute", &format!("EventId={id}")]), [all[1].clone()]);
    let aws_form = format!("AttributeKey=EventId,AttributeValue={id}");
    assert_eq!(lookup(d, &["--lookup-attribute", &aws_form]), [all[1].clone()]);
    let both = lookup(
        d,
        &["--lookup-attribute", "EventName=CreateUserPool", "--lookup-attribute", "ReadOnly=false", "--limit", "1"],
    );
    assert_eq!(both, [all[1].clone()]);
    assert!(lookup(d, &["--lookup-attribute", "EventName=CreateUserPool", "--read-only", "true"]).is_empty());
    assert_eq!(lookup(d, &["--lookup-attribute", "EventSource=cli.tokenbridge"]).len(), 3);
    // The older flags are lookup attributes too: a second, different value is a contradiction.
    let err = fails(tb_in(d, &["audit", "lookup", "--event-name", "A", "--lookup-attribute", "EventName=B"]), None);
    assert!(err.contains("EventName is given twice"), "{err}");
    let err = fails(tb_in(d, &["audit", "lookup", "--lookup-attribute", "Region=us-east-1"]), None);
    assert!(err.contains("unknown lookup attribute \"Region\""), "{err}");
    let err = fails(tb_in(d, &["audit", "lookup", "--lookup-attribute", "EventName"]), None);
    assert!(err.contains("not NAME=VALUE"), "{err}");
    let err = fails(tb_in(d, &["audit", "lookup", "--lookup-attribute", "ReadOnly=yes"]), None);
    assert!(err.contains("\"true\" or \"false\""), "{err}");
    // --read-only takes true or false only (a usage error).
    assert_eq!(run(tb_in(d, &["audit", "lookup", "--read-only", "yes"]), None).status.code(), Some(2));

    // --start-time / --end-time are the AWS CLI's names for --since / --until.
    assert_eq!(lookup(d, &["--start-time", "2000-01-01T00:00:00Z"]).len(), 3);
    assert!(lookup(d, &["--end-time", "2000-01-01T00:00:00Z"]).is_empty());
}

/// `audit export`: every record as one JSON line, oldest first, to standard output or a file,
/// bounded by --since / --until.
#[test]
fn audit_export_writes_json_lines_oldest_first() {
    let t = tmp();
    let d = t.path();
    audited_pool_actions(d, &["alpha", "beta", "gamma"]);
    let newest_first = lookup(d, &["--limit", "1000"]);
    assert_eq!(newest_first.len(), 4);
    let oldest_first: Vec<Value> = newest_first.iter().rev().cloned().collect();

    let out = ok(tb_in(d, &["audit", "export"]), None);
    assert!(out.ends_with('\n') && out.lines().all(|l| !l.is_empty()), "{out}");
    assert_eq!(json_lines(&out), oldest_first);
    assert_eq!(event_names(&json_lines(&out)), ["CreateUserPool", "CreateUserPool", "CreateUserPool", "ListUserPools"]);
    // Each line is a whole CloudTrail record.
    for r in json_lines(&out) {
        for k in ["eventVersion", "eventTime", "eventSource", "eventName", "eventID", "requestID", "readOnly"] {
            assert!(r.get(k).is_some(), "{k} missing in {r}");
        }
    }

    // --output: the same lines in the file, nothing on stdout.
    let file = d.join("export").join("audit.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let o = run(tb_in(d, &["audit", "export", "--output", file.to_str().unwrap()]), None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert!(stderr(&o).contains("exported 4 audit events"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), out);

    // --since / --until (and their AWS CLI names).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let export = |args: &[&str]| {
        let mut all = vec!["audit", "export"];
        all.extend_from_slice(args);
        json_lines(&ok(tb_in(d, &all), None))
    };
    assert_eq!(export(&["--since", &(now - 600).to_string()]).len(), 4);
    assert!(export(&["--since", &(now + 600).to_string()]).is_empty());
    assert!(export(&["--until", "2000-01-01T00:00:00Z"]).is_empty());
    assert_eq!(export(&["--start-time", "2000-01-01T00:00:00Z", "--end-time", &(now + 600).to_string()]).len(), 4);
    let err = fails(tb_in(d, &["audit", "export", "--since", "last week"]), None);
    assert!(err.contains("--since") && err.contains("last week"), "{err}");
    let err = fails(tb_in(d, &["audit", "export", "--output", d.join("no/such/dir/x").to_str().unwrap()]), None);
    assert!(err.contains("cannot write"), "{err}");
    // The help lists the new command.
    let mut c = tb();
    c.args(["audit", "--help"]);
    assert!(ok(c, None).contains("export"));
}
