//! The `tokenbridge` binary, driven as an operator would: each test in its own data directory.

use crate::common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const PW: &str = "correct horse battery\n";

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("tokenbridge-cli-test-").tempdir().unwrap()
}

/// `users show USER` as JSON.
fn show(dir: &Path, user: &str) -> Value {
    serde_json::from_str(&ok(tb_in(dir, &["users", "show", user]), None)).unwrap()
}

fn usernames(dir: &Path) -> Vec<String> {
    json_lines(&ok(tb_in(dir, &["users", "list"]), None))
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

/// The subcommands a `--help` page lists under `Commands:` (without clap's `help`).
fn listed_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// `--help` works for the binary and, walking the tree it lists, every subcommand.
#[test]
fn help_works_for_every_command() {
    let mut seen: Vec<String> = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = todo.pop() {
        let mut c = tb();
        c.args(&path).arg("--help");
        let out = ok(c, None);
        let shown = path.join(" ");
        let usage = format!("Usage: tokenbridge {shown}");
        assert!(out.contains(usage.trim_end()), "`{shown} --help` lacks {usage:?}:\n{out}");
        assert!(out.contains("--data-dir"), "`{shown} --help` lacks the global --data-dir:\n{out}");
        for sub in listed_subcommands(&out) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        seen.push(shown);
    }
    for expected in [
        "",
        "serve",
        "demo",
        "users",
        "users add",
        "users list",
        "users show",
        "users disable",
        "users enable",
        "users set-password",
        "users link",
        "users unlink",
        "users import",
        "keys",
        "keys list",
        "keys rotate",
        "audit",
        "audit lookup",
        "user-pools",
        "user-pools create",
        "user-pools list",
        "user-pools show",
        "user-pools delete",
        "user-pools clients",
        "user-pools clients add",
        "user-pools clients list",
        "user-pools clients remove",
        "user-pools users",
        "user-pools users add",
        "user-pools users list",
        "roles",
        "roles put",
        "roles list",
        "roles show",
        "roles delete",
        "roles delete-policy",
        "policy",
        "policy simulate",
    ] {
        assert!(seen.iter().any(|s| s == expected), "`{expected}` not reached; saw {seen:?}");
    }
    let mut c = tb();
    c.arg("--version");
    assert!(ok(c, None).starts_with("tokenbridge "));
    // A missing subcommand or an unknown flag is a usage error (clap's exit code 2), not a crash.
    let mut c = tb();
    c.arg("users");
    assert_eq!(run(c, None).status.code(), Some(2));
    let mut c = tb();
    c.args(["users", "list", "--bogus"]);
    let o = run(c, None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--bogus"), "{}", stderr(&o));
}

#[test]
fn users_lifecycle() {
    let t = tmp();
    let d = t.path();

    // add: password from stdin, groups, email (lower-cased), JSON out.
    let out = ok(
        tb_in(
            d,
            &[
                "users",
                "add",
                "alice",
                "--email",
                "Alice@Example.com",
                "--email-verified",
                "--password-stdin",
                "--group",
                "admins",
                "--group",
                "readers",
            ],
        ),
        Some(PW),
    );
    let alice: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["email_verified"], true);
    assert_eq!(alice["has_password"], true);
    assert_eq!(alice["enabled"], true);
    assert_eq!(alice["groups"], serde_json::json!(["admins", "readers"]));
    assert!(!out.contains("correct horse"), "the password must not be echoed");

    ok(tb_in(d, &["users", "add", "bob", "--disabled"]), None);

    // list: one JSON object per line, in username order.
    let list = json_lines(&ok(tb_in(d, &["users", "list"]), None));
    assert_eq!(list.len(), 2);
    assert_eq!((list[0]["username"].as_str(), list[1]["username"].as_str()), (Some("alice"), Some("bob")));
    assert_eq!(list[1]["has_password"], false);
    assert_eq!(list[1]["enabled"], false);
    let after = json_lines(&ok(tb_in(d, &["users", "list", "--after", "alice"]), None));
    assert_eq!(after.len(), 1);
    assert_eq!(json_lines(&ok(tb_in(d, &["users", "list", "--limit", "1"]), None)).len(), 1);

    // A duplicate is refused, naming the conflict.
    let err = fails(tb_in(d, &["users", "add", "alice"]), None);
    assert!(err.contains("alice") && err.contains("already exists"), "{err}");
    // Bad input is refused before anything is stored.
    let err = fails(tb_in(d, &["users", "add", "carol", "--password-stdin"]), Some("short\n"));
    assert!(err.contains("at least 8"), "{err}");
    let err = fails(tb_in(d, &["users", "add", "carol", "--password-stdin"]), Some(""));
    assert!(err.contains("no password on standard input"), "{err}");
    let err = fails(tb_in(d, &["users", "add", "carol", "--email", "not-an-address"]), None);
    assert!(err.contains("not-an-address"), "{err}");
    assert_eq!(usernames(d), ["alice", "bob"]);

    // show: by username or id, with links.
    let shown = show(d, "alice");
    assert_eq!(shown["links"], serde_json::json!([]));
    assert_eq!(show(d, alice["id"].as_str().unwrap())["username"], "alice");
    let err = fails(tb_in(d, &["users", "show", "nobody"]), None);
    assert!(err.contains("no user \"nobody\""), "{err}");

    // link / unlink.
    let linked: Value = serde_json::from_str(&ok(
        tb_in(d, &["users", "link", "alice", "--provider", "salesforce", "--subject", "005XX0000012345"]),
        None,
    ))
    .unwrap();
    assert_eq!(linked["user_id"], alice["id"]);
    assert_eq!(
        show(d, "alice")["links"],
        serde_json::json!([{"provider": "salesforce", "subject": "005XX0000012345"}])
    );
    let err = fails(tb_in(d, &["users", "link", "nobody", "--provider", "salesforce", "--subject", "x"]), None);
    assert!(err.contains("no user \"nobody\""), "{err}");
    ok(tb_in(d, &["users", "unlink", "--provider", "salesforce", "--subject", "005XX0000012345"]), None);
    assert_eq!(show(d, "alice")["links"], serde_json::json!([]));
    let err = fails(tb_in(d, &["users", "unlink", "--provider", "salesforce", "--subject", "005XX0000012345"]), None);
    assert!(err.contains("no link for provider \"salesforce\" subject \"005XX0000012345\""), "{err}");

    // disable / enable.
    let v: Value = serde_json::from_str(&ok(tb_in(d, &["users", "disable", "alice"]), None)).unwrap();
    assert_eq!(v["enabled"], false);
    assert_eq!(show(d, "alice")["enabled"], false);
    let v: Value = serde_json::from_str(&ok(tb_in(d, &["users", "enable", "alice"]), None)).unwrap();
    assert_eq!(v["enabled"], true);
    let err = fails(tb_in(d, &["users", "disable", "nobody"]), None);
    assert!(err.contains("nobody"), "{err}");

    // set-password from stdin.
    let before = show(d, "bob");
    assert_eq!(before["has_password"], false);
    let out = ok(tb_in(d, &["users", "set-password", "bob"]), Some("another good password\r\n"));
    assert!(out.contains("password set for bob"), "{out}");
    assert_eq!(show(d, "bob")["has_password"], true);
    let err = fails(tb_in(d, &["users", "set-password", "bob"]), Some("short\n"));
    assert!(err.contains("at least 8"), "{err}");
}

/// `TOKENBRIDGE_DATA_DIR` works like `--data-dir`, and the flag wins over it.
#[test]
fn data_dir_from_the_environment() {
    let (a, b) = (tmp(), tmp());
    let mut c = tb();
    c.env("TOKENBRIDGE_DATA_DIR", a.path()).args(["users", "add", "erin", "--password-stdin"]);
    ok(c, Some(PW));
    let mut c = tb();
    c.env("TOKENBRIDGE_DATA_DIR", a.path()).args(["users", "list"]);
    let list = json_lines(&ok(c, None));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["username"], "erin");
    assert!(a.path().join("tokenbridge.db").exists());

    ok(tb_in(b.path(), &["users", "add", "frank"]), None);
    let mut c = tb_in(b.path(), &["users", "list"]);
    c.env("TOKENBRIDGE_DATA_DIR", a.path());
    assert_eq!(json_lines(&ok(c, None))[0]["username"], "frank");
}

#[test]
fn missing_or_mistyped_data_dir_is_a_clear_error() {
    for args in [
        &["users", "list"][..],
        &["users", "add", "x"],
        &["keys", "list"],
        &["audit", "lookup"],
        &["user-pools", "create", "--name", "x"],
        &["user-pools", "list"],
    ] {
        let mut c = tb();
        c.args(args);
        let err = fails(c, None);
        assert!(err.contains("--data-dir") && err.contains("TOKENBRIDGE_DATA_DIR"), "{args:?}: {err}");
    }
    // A directory without a database: reading commands refuse instead of creating an empty one.
    let t = tmp();
    let typo = t.path().join("tokenbrige");
    for args in [
        &["users", "list"][..],
        &["users", "show", "alice"],
        &["users", "disable", "alice"],
        &["keys", "list"],
        &["audit", "lookup"],
        &["user-pools", "list"],
        &["user-pools", "show", "us-east-1_abc"],
        &["user-pools", "users", "list", "us-east-1_abc"],
    ] {
        let err = fails(tb_in(&typo, args), None);
        assert!(err.contains("no database at") && err.contains("--data-dir"), "{args:?}: {err}");
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
}

#[test]
fn import_csv_and_json() {
    let t = tmp();
    let d = t.path();
    let csv = d.join("users.csv");
    std::fs::write(
        &csv,
        "username,email,email_verified,password,groups\n\
         gina,Gina@Example.com,true,gina password 1,admins;readers\n\
         hank,hank@example.com,false,,\n\
         \"ivan\",ivan@example.com,yes,ivan password 1, readers ; ops \n",
    )
    .unwrap();
    let out = ok(tb_in(d, &["users", "import", csv.to_str().unwrap()]), None);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), serde_json::json!({"imported": 3, "skipped": 0}));
    let gina = show(d, "gina");
    assert_eq!(gina["email"], "gina@example.com");
    assert_eq!(gina["email_verified"], true);
    assert_eq!(gina["has_password"], true);
    assert_eq!(gina["groups"], serde_json::json!(["admins", "readers"]));
    let hank = show(d, "hank");
    assert_eq!((hank["email_verified"].as_bool(), hank["has_password"].as_bool()), (Some(false), Some(false)));
    assert_eq!(hank["groups"], serde_json::json!([]));
    assert_eq!(show(d, "ivan")["groups"], serde_json::json!(["readers", "ops"]));

    // Again: refused on the first existing user, naming its row; --skip-existing skips them.
    let err = fails(tb_in(d, &["users", "import", csv.to_str().unwrap()]), None);
    assert!(err.contains("CSV line 2") && err.contains("already exists") && err.contains("--skip-existing"), "{err}");
    let out = ok(tb_in(d, &["users", "import", "--skip-existing", csv.to_str().unwrap()]), None);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), serde_json::json!({"imported": 0, "skipped": 3}));

    // JSON array, with --skip-existing mixing new and existing users.
    let json = d.join("users.json");
    std::fs::write(
        &json,
        r#"[{"username": "judy", "email": "judy@example.com", "email_verified": true, "groups": ["ops"]},
            {"username": "gina"},
            {"username": "kim", "password": "kim password 1", "enabled": false}]"#,
    )
    .unwrap();
    let out = ok(tb_in(d, &["users", "import", "--skip-existing", json.to_str().unwrap()]), None);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), serde_json::json!({"imported": 2, "skipped": 1}));
    assert_eq!(show(d, "judy")["groups"], serde_json::json!(["ops"]));
    assert_eq!(show(d, "kim")["enabled"], false);
    assert_eq!(usernames(d), ["gina", "hank", "ivan", "judy", "kim"]);

    // A bad row is named and nothing from the file is imported.
    let bad_rows: &[(&str, &str, &[&str])] = &[
        ("bad1.csv", "username,email\nlena,lena@example.com\nbad user,x@example.com\n", &["CSV line 3", "whitespace"]),
        ("bad2.csv", "username,email\nlena,lena@example.com\n,nobody@example.com\n", &["CSV line 3", "empty username"]),
        ("bad3.csv", "username,password\nlena,lena password\nmia,short\n", &["CSV line 3", "at least 8"]),
        ("bad4.csv", "username,email\nlena,lena@example.com\nmia,not-an-address\n", &["CSV line 3", "not-an-address"]),
        ("bad5.csv", "username,email_verified\nlena,true\nmia,maybe\n", &["CSV line 3", "email_verified", "maybe"]),
        ("bad6.csv", "username,email\nlena,lena@example.com\nlena,lena2@example.com\n", &["CSV line 3", "CSV line 2"]),
        ("bad7.csv", "username,emial\nlena,lena@example.com\n", &["unknown column \"emial\""]),
        ("bad8.csv", "email\nlena@example.com\n", &["username column"]),
        ("bad9.json", r#"[{"username": "lena"}, {"username": "mia", "emial": "x"}]"#, &["JSON entry 2", "emial"]),
        ("bad10.json", r#"[{"username": "lena"}, {"email": "x@example.com"}]"#, &["JSON entry 2", "username"]),
        ("bad11.json", r#"[{"username": "lena"}, {"username": "mia", "groups": "ops"}]"#, &["JSON entry 2"]),
        ("bad12.json", r#"{"username": "lena"}"#, &["JSON import must be an array"]),
    ];
    for (name, text, expected) in bad_rows {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        let err = fails(tb_in(d, &["users", "import", p.to_str().unwrap()]), None);
        for e in *expected {
            assert!(err.contains(e), "{name}: stderr should contain {e:?}: {err}");
        }
        assert!(!usernames(d).contains(&"lena".to_string()), "{name}: a row was imported: {err}");
    }
    let err = fails(tb_in(d, &["users", "import", d.join("missing.csv").to_str().unwrap()]), None);
    assert!(err.contains("missing.csv"), "{err}");
}

/// `users` commands touch users only: they must not create a signing key, which would be made
/// with this invocation's defaults (RS256, no master key) instead of the server's configuration.
#[test]
fn users_commands_leave_signing_keys_to_the_server() {
    let t = tmp();
    let d = t.path();
    ok(tb_in(d, &["users", "add", "nora"]), None);
    let o = run(tb_in(d, &["keys", "list"]), None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "", "users add created a signing key");
    assert!(stderr(&o).contains("no signing keys yet"), "{}", stderr(&o));
}

#[test]
fn keys_list_and_rotate() {
    let t = tmp();
    let d = t.path();
    // The first rotation on a new database creates the one and only key.
    let first: Value = serde_json::from_str(&ok(tb_in(d, &["keys", "rotate"]), None)).unwrap();
    let k0 = first["active_kid"].as_str().unwrap().to_string();
    let keys = json_lines(&ok(tb_in(d, &["keys", "list"]), None));
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!((keys[0]["kid"].as_str(), keys[0]["active"].as_bool()), (Some(k0.as_str()), Some(true)));
    assert_eq!(keys[0]["alg"], "RS256");
    assert!(keys[0]["publish_until"].is_null());

    // Rotate: a new active kid; the old one stays listed and published, with a purge deadline.
    let rotated: Value = serde_json::from_str(&ok(tb_in(d, &["keys", "rotate"]), None)).unwrap();
    let k1 = rotated["active_kid"].as_str().unwrap().to_string();
    assert_ne!(k1, k0);
    let published: Vec<&str> = rotated["published"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(published.contains(&k0.as_str()) && published.contains(&k1.as_str()), "{rotated}");
    let keys = json_lines(&ok(tb_in(d, &["keys", "list"]), None));
    assert_eq!(keys.len(), 2);
    let find = |kid: &str| keys.iter().find(|k| k["kid"] == kid).unwrap_or_else(|| panic!("{kid} not listed")).clone();
    let (old, new) = (find(&k0), find(&k1));
    assert_eq!((old["active"].as_bool(), new["active"].as_bool()), (Some(false), Some(true)));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let until = old["publish_until"].as_i64().expect("publish_until set on the retired key");
    assert!(until > now + 3600, "retired key must stay published past the longest token lifetime: {until}");
    assert!(new["publish_until"].is_null());

    // Another algorithm.
    let es: Value = serde_json::from_str(&ok(tb_in(d, &["keys", "rotate", "--algorithm", "ES256"]), None)).unwrap();
    let k2 = es["active_kid"].as_str().unwrap();
    let keys = json_lines(&ok(tb_in(d, &["keys", "list"]), None));
    assert_eq!(keys.len(), 3);
    let active: Vec<&Value> = keys.iter().filter(|k| k["active"] == true).collect();
    assert_eq!(active.len(), 1);
    assert_eq!((active[0]["kid"].as_str(), active[0]["alg"].as_str()), (Some(k2), Some("ES256")));

    let err = fails(tb_in(d, &["keys", "rotate", "--algorithm", "HS256"]), None);
    assert!(err.contains("--algorithm") && err.contains("HS256"), "{err}");
    assert_eq!(json_lines(&ok(tb_in(d, &["keys", "list"]), None)).len(), 3);

    // The first key of another database takes --algorithm too.
    let t2 = tmp();
    let ed: Value =
        serde_json::from_str(&ok(tb_in(t2.path(), &["keys", "rotate", "--algorithm", "EdDSA"]), None)).unwrap();
    let keys = json_lines(&ok(tb_in(t2.path(), &["keys", "list"]), None));
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0]["kid"].as_str(), keys[0]["alg"].as_str()), (ed["active_kid"].as_str(), Some("EdDSA")));
}

#[tokio::test]
async fn demo_writes_demo_json_and_a_second_demo_shares_it() {
    let t = tmp();
    let d = t.path();
    let first = start_demo(d, &[]).await;
    let info = demo_json(d);
    assert_eq!(info["base_url"], first.base.as_str());
    for p in [
        "/admin_token",
        "/client/client_id",
        "/client/client_secret",
        "/upstream/name",
        "/upstream/issuer",
        "/upstream/token_endpoint",
        "/upstream/client_id",
        "/upstream/client_secret",
    ] {
        assert!(info.pointer(p).and_then(Value::as_str).is_some_and(|s| !s.is_empty()), "demo.json lacks {p}: {info}");
    }
    assert_eq!(info["upstream"]["token_endpoint"], format!("{}/demo-idp/token", first.base));
    let users = info["users"].as_array().unwrap();
    for u in users {
        for f in ["username", "email", "upstream_username", "upstream_password", "expect"] {
            assert!(u[f].as_str().is_some_and(|s| !s.is_empty()), "user lacks {f}: {u}");
        }
        assert!(u.get("password").is_some(), "user lacks password (string or null): {u}");
    }
    for expect in ["linked", "unlinked", "unverified"] {
        assert!(users.iter().any(|u| u["expect"] == expect), "no {expect} user: {info}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("demo.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "demo.json holds secrets; mode {mode:o}");
    }
    // The walkthrough: curl commands with the real secrets, and the audit command.
    let out = first.stdout();
    assert!(out.contains(&format!("curl -s -X POST {}/auth/exchange", first.base)), "{out}");
    assert!(out.contains(info["upstream"]["client_secret"].as_str().unwrap()), "{out}");
    assert!(out.contains("audit lookup --data-dir"), "{out}");
    assert!(!first.stderr().contains('\u{1b}'), "colour codes in non-terminal logs: {}", first.stderr());

    // A second demo on the same data, another port, while the first still runs.
    let second = start_demo(d, &[]).await;
    assert_ne!(second.base, first.base);
    let info2 = demo_json(d);
    assert_eq!(info2["base_url"], second.base.as_str());
    let strip = |v: &Value| serde_json::to_string(v).unwrap().replace(v["base_url"].as_str().unwrap(), "BASE");
    assert_eq!(strip(&info2), strip(&info), "demo.json differs apart from base_url");

    // Both brokers honour the shared secrets: the demo client authenticates at the second one.
    let r = http()
        .post(format!("{}/oauth2/token", second.base))
        .basic_auth(info["client"]["client_id"].as_str().unwrap(), info["client"]["client_secret"].as_str())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "not-a-token")])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "client auth should pass and the token fail: {body}");
    drop(second);
    drop(first);
}

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
    let alice = json_lines(&ok(tb_in(d, &["audit", "lookup", "--user", "alice"]), None));
    assert_eq!(alice.len(), 1);
    assert!(alice[0]["errorCode"].is_null());
    assert_eq!(alice[0]["userIdentity"]["userName"], "alice");

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

/// `TOKENBRIDGE_TRUSTED_PROXIES` is honoured by `demo` and `serve`: behind a listed proxy the
/// client is the rightmost `X-Forwarded-For` entry, not the leftmost one it wrote itself; a value
/// that is no CIDR block stops `serve` naming the key.
#[tokio::test]
async fn trusted_proxies_from_the_environment() {
    const PROXIES: &str = "TOKENBRIDGE_TRUSTED_PROXIES";
    async fn source_of_a_forwarded_request(base: &str, dir: &Path) -> String {
        let r = http()
            .get(format!("{base}/forward-auth"))
            .header("X-Forwarded-Uri", "/nowhere")
            .header("X-Forwarded-For", "10.0.0.1, 198.51.100.7")
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let json: Value = serde_json::from_str(&ok(tb_in(dir, &["audit", "explain", &id, "--json"]), None)).unwrap();
        json["events"][0]["sourceIpAddress"].as_str().unwrap_or_else(|| panic!("{json}")).to_string()
    }

    let t = tmp();
    let demo = start_demo_with_env(t.path(), &[], &[(PROXIES, " 127.0.0.1/32, 10.0.0.0/8 ")]).await;
    assert_eq!(source_of_a_forwarded_request(&demo.base, t.path()).await, "198.51.100.7");
    drop(demo);

    let t = tmp();
    let config = t.path().join("tokenbridge.toml");
    let port = free_port();
    std::fs::write(&config, format!("[server]\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let data = ["--data-dir", t.path().to_str().unwrap()];
    let base = format!("http://127.0.0.1:{port}");
    let served = start_serve_with_env(&config, &base, &data, &[(PROXIES, "127.0.0.1")]).await;
    assert_eq!(source_of_a_forwarded_request(&base, t.path()).await, "198.51.100.7");
    drop(served);
    // Without it the header is the client's claim, and is ignored.
    let served = start_serve(&config, &base, &data).await;
    assert_eq!(source_of_a_forwarded_request(&base, t.path()).await, "127.0.0.1");
    drop(served);

    let mut c = tb();
    c.arg("serve").arg("--config").arg(&config).args(data).env(PROXIES, "127.0.0.1/32,proxy.internal");
    let err = fails(c, None);
    assert!(err.contains("server.trusted_proxies[1]: network \"proxy.internal\""), "{err}");
}

/// The CLI changes the data a running server uses: users at once, keys within the reload interval.
#[tokio::test]
async fn cli_changes_reach_a_running_server() {
    let t = tmp();
    let d = t.path();
    let demo = start_demo(d, &[]).await;
    let info = demo_json(d);

    // carol is known only upstream: refused, then added through the CLI, then accepted.
    let (status, body) = exchange(&demo.base, &upstream_id_token(&info, "carol").await).await;
    assert_eq!(status, 400, "{body}");
    ok(tb_in(d, &["users", "add", "carol", "--email", "carol@example.com", "--email-verified"]), None);
    next_second().await;
    let (status, body) = exchange(&demo.base, &upstream_id_token(&info, "carol").await).await;
    assert_eq!(status, 200, "carol added by the CLI: {body}");

    // alice disabled through the CLI: refused as disabled; enabled again: accepted.
    ok(tb_in(d, &["users", "disable", "alice"]), None);
    let (status, body) = exchange(&demo.base, &upstream_id_token(&info, "alice").await).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("disabled"), "{body}");
    ok(tb_in(d, &["users", "enable", "alice"]), None);
    next_second().await;
    let (status, body) = exchange(&demo.base, &upstream_id_token(&info, "alice").await).await;
    assert_eq!(status, 200, "alice enabled again: {body}");

    // A key rotated through the CLI: published by the server's JWKS within its reload interval
    // (issuer.key_refresh_seconds, 30 s in the demo), then used to sign.
    let jwks_kids = || async {
        let v: Value =
            http().get(format!("{}/.well-known/jwks.json", demo.base)).send().await.ok()?.json().await.ok()?;
        Some(v["keys"].as_array()?.iter().filter_map(|k| k["kid"].as_str().map(str::to_string)).collect::<Vec<_>>())
    };
    let before = jwks_kids().await.unwrap();
    assert_eq!(before.len(), 1, "{before:?}");
    let rotated: Value = serde_json::from_str(&ok(tb_in(d, &["keys", "rotate"]), None)).unwrap();
    let new_kid = rotated["active_kid"].as_str().unwrap().to_string();
    let published = poll(Duration::from_secs(40), || async {
        jwks_kids().await.filter(|kids| kids.contains(&new_kid)).map(|kids| kids.to_vec())
    })
    .await
    .unwrap_or_else(|| panic!("{new_kid} not in the JWKS after 40 s"));
    assert!(published.contains(&before[0]), "the old key must stay published: {published:?}");
    // Signing switches at the same reload; bob has not been exchanged yet in this test.
    let (status, body) = exchange(&demo.base, &upstream_id_token(&info, "bob").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_header(body["access_token"].as_str().unwrap())["kid"], new_kid.as_str());
    assert_eq!(jwt_header(body["id_token"].as_str().unwrap())["kid"], new_kid.as_str());
}

#[tokio::test]
async fn serve_exits_zero_on_sigterm() {
    let t = tmp();
    let port = free_port();
    let config = t.path().join("tokenbridge.toml");
    let data = t.path().join("data");
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\ndata_dir = {:?}\n", data.display().to_string()),
    )
    .unwrap();
    let mut server = start_serve(&config, &format!("http://127.0.0.1:{port}"), &[]).await;
    assert!(server.stderr().contains("Admin token (shown once"), "{}", server.stderr());
    // A client holding a keep-alive connection must not keep the server up.
    let client = http();
    let r = client.get(format!("{}/.well-known/jwks.json", server.base)).send().await.unwrap();
    assert!(r.status().is_success());

    let kill = std::process::Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap();
    assert!(kill.success());
    let exited = poll(Duration::from_secs(10), || {
        let status = server.child.try_wait().unwrap();
        async move { status }
    })
    .await
    .unwrap_or_else(|| panic!("serve still running 10 s after SIGTERM:\n{}", server.stderr()));
    assert!(exited.success(), "serve exited with {exited} after SIGTERM:\n{}", server.stderr());
    assert!(server.stderr().contains("shutdown signal received"), "{}", server.stderr());
    drop(client);
}

#[tokio::test]
async fn a_changed_algorithm_setting_is_reported_not_applied_silently() {
    let d = tempfile::tempdir().unwrap();
    let first = start_demo(d.path(), &["--algorithm", "RS256"]).await;
    drop(first);
    // Same data, another algorithm: the active RS256 key stays, and the log says so.
    let second = start_demo(d.path(), &["--algorithm", "ES256"]).await;
    let keys: Vec<Value> = json_lines(&ok(tb_in(d.path(), &["keys", "list"]), None));
    let active: Vec<&Value> = keys.iter().filter(|k| k["active"] == true).collect();
    assert_eq!(active.len(), 1, "{keys:?}");
    assert_eq!(active[0]["alg"], "RS256", "{keys:?}");
    let log = second.stderr();
    assert!(
        log.contains("the active signing key does not use issuer.algorithm") && log.contains("ES256"),
        "no warning in the log:\n{log}"
    );
}

/// `user-pools …` with `--data-dir DIR`.
fn pools_in(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = tb_in(dir, &["user-pools"]);
    c.args(args);
    c
}

/// Asserts `pool` is shaped as AWS makes pool ids: `<region>_<letters and digits>`.
#[track_caller]
fn assert_pool_id(pool: &str, region: &str) {
    let (r, rest) = pool.split_once('_').unwrap_or_else(|| panic!("no `_` in pool id {pool:?}"));
    assert_eq!(r, region, "{pool}");
    assert!(!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()), "{pool}");
}

/// The `Attributes` of a Cognito user object as a map.
fn attribute(user: &Value, name: &str) -> Option<String> {
    user["Attributes"]
        .as_array()?
        .iter()
        .find(|a| a["Name"] == name)
        .and_then(|a| a["Value"].as_str())
        .map(str::to_string)
}

/// Pools, app clients and users through `user-pools`: created, listed, shown, removed; Cognito's
/// errors as `error: <Exception>: <message>`; every action audited as coming from the CLI.
#[test]
fn user_pools_lifecycle() {
    let t = tmp();
    let d = t.path();

    // create: the id alone, so scripts can capture it; --json gives the pool.
    let pool = ok(pools_in(d, &["create", "--name", "staff"]), None).trim().to_string();
    assert_pool_id(&pool, "us-east-1");
    let out = ok(pools_in(d, &["create", "--name", "partners", "--issuer", "aws", "--json"]), None);
    let partners: Value = serde_json::from_str(&out).unwrap();
    let partners_id = partners["Id"].as_str().unwrap().to_string();
    assert_pool_id(&partners_id, "us-east-1");
    assert_ne!(partners_id, pool);
    assert_eq!(partners["Name"], "partners");
    assert_eq!(partners["UserPoolTags"]["tokenbridge:issuer"], "aws");
    // Usage errors are clap's; bad values the engine's.
    assert_eq!(run(pools_in(d, &["create", "--name", "x", "--issuer", "azure"]), None).status.code(), Some(2));
    assert_eq!(run(pools_in(d, &["create"]), None).status.code(), Some(2));
    let err = fails(pools_in(d, &["create", "--name", "   "]), None);
    assert!(err.starts_with("error: InvalidParameterException: PoolName"), "{err}");

    // list and show.
    let pools = json_lines(&ok(pools_in(d, &["list"]), None));
    let mut listed: Vec<(&str, &str)> =
        pools.iter().map(|p| (p["Id"].as_str().unwrap(), p["Name"].as_str().unwrap())).collect();
    listed.sort_by_key(|(_, name)| *name);
    assert_eq!(listed, [(partners_id.as_str(), "partners"), (pool.as_str(), "staff")]);
    let shown: Value = serde_json::from_str(&ok(pools_in(d, &["show", &pool]), None)).unwrap();
    assert_eq!((shown["Id"].as_str(), shown["Name"].as_str()), (Some(pool.as_str()), Some("staff")));
    assert_eq!(shown["EstimatedNumberOfUsers"], 0);
    assert!(shown.get("UserPoolTags").is_some(), "{shown}");

    // clients add --secret: the id, then the secret, printed once; never listed.
    let out = ok(pools_in(d, &["clients", "add", &pool, "--name", "web", "--secret"]), None);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let (web, secret) = (lines[0], lines[1]);
    assert_eq!(web.len(), 26, "{web}");
    assert!(web.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{web}");
    assert!(secret.len() >= 32 && secret != web, "{secret}");
    let out = ok(
        pools_in(
            d,
            &[
                "clients",
                "add",
                &pool,
                "--name",
                "cli-app",
                "--flows",
                "ALLOW_USER_PASSWORD_AUTH,ALLOW_REFRESH_TOKEN_AUTH",
                "--json",
            ],
        ),
        None,
    );
    let app: Value = serde_json::from_str(&out).unwrap();
    let app_id = app["ClientId"].as_str().unwrap().to_string();
    assert_eq!(app["ExplicitAuthFlows"], serde_json::json!(["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]));
    assert_eq!(app["UserPoolId"], pool.as_str());
    assert!(app.get("ClientSecret").is_none(), "no secret asked for: {app}");
    let out = ok(pools_in(d, &["clients", "list", &pool]), None);
    assert!(!out.contains(secret), "clients list shows a secret: {out}");
    let clients = json_lines(&out);
    let mut names: Vec<(&str, &str)> =
        clients.iter().map(|c| (c["ClientName"].as_str().unwrap(), c["ClientId"].as_str().unwrap())).collect();
    names.sort();
    assert_eq!(names, [("cli-app", app_id.as_str()), ("web", web)]);
    assert!(json_lines(&ok(pools_in(d, &["clients", "list", &partners_id]), None)).is_empty());
    let err = fails(pools_in(d, &["clients", "add", &pool, "--name", "x", "--flows", "ALLOW_EVERYTHING"]), None);
    assert!(err.starts_with("error: InvalidParameterException: ") && err.contains("ALLOW_EVERYTHING"), "{err}");
    let err = fails(pools_in(d, &["clients", "add", &pool, "--name", "x", "--provider", "nowhere"]), None);
    assert!(err.starts_with("error: InvalidParameterException: ") && err.contains("nowhere"), "{err}");

    // users add: a permanent password from stdin (never echoed) makes a CONFIRMED user.
    let out = ok(
        pools_in(d, &["users", "add", &pool, "alice", "--email", "alice@example.com", "--password-stdin"]),
        Some(PW),
    );
    assert!(!out.contains("correct horse"), "the password must not be echoed: {out}");
    let alice: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((alice["Username"].as_str(), alice["UserStatus"].as_str()), (Some("alice"), Some("CONFIRMED")));
    assert_eq!(attribute(&alice, "email").as_deref(), Some("alice@example.com"));
    assert!(attribute(&alice, "sub").is_some(), "{alice}");
    // Without --password-stdin: a temporary password, printed once, to be changed at first sign-in.
    let out =
        ok(pools_in(d, &["users", "add", &pool, "bob", "--email", "bob@example.com", "--temporary-password"]), None);
    let bob: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(bob["UserStatus"], "FORCE_CHANGE_PASSWORD");
    assert!(bob["TemporaryPassword"].as_str().is_some_and(|p| p.len() >= 8), "{bob}");
    let carl: Value = serde_json::from_str(&ok(pools_in(d, &["users", "add", &pool, "carl"]), None)).unwrap();
    assert_eq!(carl["UserStatus"], "FORCE_CHANGE_PASSWORD");
    assert!(carl["TemporaryPassword"].is_string(), "{carl}");
    // Pool users are the broker's users.
    assert_eq!(show(d, "alice")["has_password"], true);
    // Refusals store nothing.
    let err = fails(pools_in(d, &["users", "add", &pool, "dora", "--password-stdin"]), Some("short\n"));
    assert!(err.starts_with("error: InvalidPasswordException: "), "{err}");
    let err = fails(pools_in(d, &["users", "add", &pool, "dora", "--password-stdin"]), Some(""));
    assert!(err.contains("no password on standard input"), "{err}");
    let err = fails(pools_in(d, &["users", "add", &pool, "alice", "--password-stdin"]), Some(PW));
    assert!(err.starts_with("error: UsernameExistsException: "), "{err}");
    let err = fails(pools_in(d, &["users", "add", &partners_id, "alice"]), None);
    assert!(err.starts_with("error: UsernameExistsException: "), "usernames are server-wide: {err}");
    let err = fails(pools_in(d, &["users", "add", &pool, "dora", "--email", "not-an-address"]), None);
    assert!(err.starts_with("error: InvalidParameterException: "), "{err}");
    let o = run(pools_in(d, &["users", "add", &pool, "dora", "--password-stdin", "--temporary-password"]), Some(PW));
    assert_eq!(o.status.code(), Some(2), "the two password options exclude each other");
    assert!(!usernames(d).contains(&"dora".to_string()));

    // users list, with Cognito's filter syntax.
    let all = json_lines(&ok(pools_in(d, &["users", "list", &pool]), None));
    let mut names: Vec<&str> = all.iter().map(|u| u["Username"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["alice", "bob", "carl"]);
    assert!(all.iter().all(|u| u.get("TemporaryPassword").is_none()), "temporary passwords are printed once");
    let a = json_lines(&ok(pools_in(d, &["users", "list", &pool, "--filter", r#"email ^= "a""#]), None));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["Username"], "alice");
    let forced = json_lines(&ok(
        pools_in(d, &["users", "list", &pool, "--filter", r#"cognito:user_status = "FORCE_CHANGE_PASSWORD""#]),
        None,
    ));
    let mut names: Vec<&str> = forced.iter().map(|u| u["Username"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["bob", "carl"]);
    assert!(json_lines(&ok(pools_in(d, &["users", "list", &partners_id]), None)).is_empty());
    let err = fails(pools_in(d, &["users", "list", &pool, "--filter", "email ~ a"]), None);
    assert!(err.starts_with("error: InvalidParameterException: "), "{err}");
    let shown: Value = serde_json::from_str(&ok(pools_in(d, &["show", &pool]), None)).unwrap();
    assert_eq!(shown["EstimatedNumberOfUsers"], 3);

    // Audited as the API's actions are, from the CLI, passwords hidden.
    let audit = ok(tb_in(d, &["audit", "lookup", "--limit", "200"]), None);
    assert!(!audit.contains("correct horse"), "a password reached the audit trail");
    let records = json_lines(&audit);
    for name in ["CreateUserPool", "CreateUserPoolClient", "AdminCreateUser", "AdminSetUserPassword", "ListUsers"] {
        let r = records
            .iter()
            .find(|r| r["eventName"] == name && r["errorCode"].is_null())
            .unwrap_or_else(|| panic!("no successful {name} in the audit trail"));
        assert_eq!(r["eventSource"], "cli.tokenbridge", "{r}");
    }
    let denied = records
        .iter()
        .find(|r| r["eventName"] == "AdminCreateUser" && r["errorCode"] == "UsernameExistsException")
        .expect("refusals are audited too");
    assert_eq!(denied["eventSource"], "cli.tokenbridge");

    // clients remove.
    assert_eq!(ok(pools_in(d, &["clients", "remove", &pool, web]), None).trim(), format!("removed {web}"));
    let left = json_lines(&ok(pools_in(d, &["clients", "list", &pool]), None));
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["ClientId"], app_id.as_str());
    let err = fails(pools_in(d, &["clients", "remove", &pool, web]), None);
    assert!(err.starts_with("error: ResourceNotFoundException: ") && err.contains(web), "{err}");
    let err = fails(pools_in(d, &["clients", "remove", &partners_id, &app_id]), None);
    assert!(err.starts_with("error: ResourceNotFoundException: "), "a client of another pool: {err}");

    // A pool id that does not exist: a clear error and exit code 1, whatever the command.
    let missing = "us-east-1_NoSuchPool1";
    for args in [
        &["show", missing][..],
        &["delete", missing],
        &["clients", "add", missing, "--name", "x"],
        &["clients", "list", missing],
        &["clients", "remove", missing, &app_id],
        &["users", "add", missing, "erin"],
        &["users", "list", missing],
        &["show", "not a pool id"],
    ] {
        let err = fails(pools_in(d, args), None);
        assert!(err.starts_with("error: ResourceNotFoundException: User pool "), "{args:?}: {err}");
        assert!(err.contains("does not exist"), "{args:?}: {err}");
    }
    assert_eq!(
        fails(pools_in(d, &["show", missing]), None).trim(),
        format!("error: ResourceNotFoundException: User pool {missing} does not exist.")
    );
    assert!(!usernames(d).contains(&"erin".to_string()));

    // delete: the pool goes with its clients and users.
    assert_eq!(ok(pools_in(d, &["delete", &pool]), None).trim(), format!("deleted {pool}"));
    let pools = json_lines(&ok(pools_in(d, &["list"]), None));
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0]["Id"], partners_id.as_str());
    assert!(usernames(d).is_empty(), "the pool's users are deleted with it");
    let err = fails(pools_in(d, &["delete", &pool]), None);
    assert!(err.starts_with("error: ResourceNotFoundException: "), "{err}");
    let err = fails(pools_in(d, &["users", "list", &pool]), None);
    assert!(err.starts_with("error: ResourceNotFoundException: "), "{err}");
}

/// `POST {base}/` with a Cognito action (public actions need no signature): (status, body).
async fn cognito(base: &str, action: &str, input: Value) -> (u16, Value) {
    let r = http()
        .post(format!("{base}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("AWSCognitoIdentityProviderService.{action}"))
        .body(input.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// What the CLI makes, a running server serves: password sign-in to a pool and client created
/// by `user-pools` (with SECRET_HASH for the client with a secret), tokens from the pool's issuer,
/// and the temporary password leading to NEW_PASSWORD_REQUIRED.
#[tokio::test]
async fn user_pools_made_by_the_cli_serve_sign_ins() {
    let t = tmp();
    let port = free_port();
    let config = t.path().join("tokenbridge.toml");
    let data = t.path().join("data");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\ndata_dir = {:?}\n\n[aws]\nregion = \"eu-west-3\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let server = start_serve(&config, &base, &[]).await;
    let cli = |args: &[&str]| {
        let mut c = tb();
        c.arg("--config").arg(&config).arg("user-pools").args(args);
        c
    };

    // The region of the configuration names the pool.
    let pool = ok(cli(&["create", "--name", "shop"]), None).trim().to_string();
    assert_pool_id(&pool, "eu-west-3");
    let out = ok(
        cli(&["clients", "add", &pool, "--name", "backend", "--secret", "--flows", "ALLOW_USER_PASSWORD_AUTH"]),
        None,
    );
    let lines: Vec<&str> = out.lines().collect();
    let (client, secret) = (lines[0].to_string(), lines[1].to_string());
    ok(cli(&["users", "add", &pool, "alice", "--email", "alice@example.com", "--password-stdin"]), Some(PW));
    let bob: Value = serde_json::from_str(&ok(cli(&["users", "add", &pool, "bob"]), None)).unwrap();
    let bob_password = bob["TemporaryPassword"].as_str().unwrap().to_string();

    let password = PW.trim_end();
    let auth = |user: &str, pw: &str, hash: Option<String>| {
        let mut params = serde_json::json!({ "USERNAME": user, "PASSWORD": pw });
        if let Some(h) = hash {
            params["SECRET_HASH"] = h.into();
        }
        serde_json::json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client, "AuthParameters": params })
    };
    let hash = |user: &str| Some(tokenbridge_core::userpool::secret_hash(&secret, user, &client));

    let (status, body) = cognito(&base, "InitiateAuth", auth("alice", password, hash("alice"))).await;
    assert_eq!(status, 200, "{body}\n{}", server.stderr());
    let id_token = body["AuthenticationResult"]["IdToken"].as_str().expect("IdToken");
    let claims = jwt_claims(id_token);
    assert_eq!(claims["iss"], format!("{base}/{pool}"));
    assert_eq!((claims["aud"].as_str(), claims["token_use"].as_str()), (Some(client.as_str()), Some("id")));
    assert_eq!(
        (claims["cognito:username"].as_str(), claims["email"].as_str()),
        (Some("alice"), Some("alice@example.com"))
    );

    // The client's secret is enforced, and the password checked.
    let (status, body) = cognito(&base, "InitiateAuth", auth("alice", password, None)).await;
    assert_eq!((status, body["__type"].as_str()), (400, Some("NotAuthorizedException")), "{body}");
    let (status, body) = cognito(&base, "InitiateAuth", auth("alice", "wrong password", hash("alice"))).await;
    assert_eq!((status, body["__type"].as_str()), (400, Some("NotAuthorizedException")), "{body}");

    // The temporary password signs in only to a new-password challenge.
    let (status, body) = cognito(&base, "InitiateAuth", auth("bob", &bob_password, hash("bob"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ChallengeName"], "NEW_PASSWORD_REQUIRED", "{body}");
    assert!(body.get("AuthenticationResult").is_none(), "{body}");

    // Removed through the CLI: the server stops accepting the client.
    ok(cli(&["clients", "remove", &pool, &client]), None);
    let (status, body) = cognito(&base, "InitiateAuth", auth("alice", password, hash("alice"))).await;
    assert_eq!(status, 400, "{body}");
    drop(server);
}

/// Audit records made without a server: `user-pools` runs the audited Cognito actions (a
/// CreateUserPool per pool, a read-only ListUserPools; event source `cli.tokenbridge`). Returns
/// the pool ids.
fn audited_pool_actions(d: &Path, names: &[&str]) -> Vec<String> {
    let ids = names.iter().map(|n| ok(pools_in(d, &["create", "--name", n]), None).trim().to_string()).collect();
    ok(pools_in(d, &["list"]), None);
    ids
}

fn lookup(d: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "lookup"];
    all.extend_from_slice(args);
    json_lines(&ok(tb_in(d, &all), None))
}

fn event_names(records: &[Value]) -> Vec<&str> {
    records.iter().map(|r| r["eventName"].as_str().unwrap()).collect()
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

fn roles_in(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = tb_in(dir, &["roles"]);
    c.args(args);
    c
}

/// Writes `text` to `dir/name` and returns the path as a string.
fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn trust_for(aud: &str) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
  "Principal": {{"Federated": "cognito-identity.amazonaws.com"}},
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": {{"StringEquals": {{"cognito-identity.amazonaws.com:aud": "{aud}"}}}}}}]}}"#
    )
}

/// The seed's policy: GraphQL calls on one API, `abc`.
const ALLOW_GRAPHQL: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "AllowGraphQL",
    "Effect": "Allow",
    "Action": "appsync:GraphQL",
    "Resource": "arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/*"
  }]
}"#;

/// A policy variable in a Resource: each user their own prefix.
const OWN_PREFIX: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "ReadOwnPrefix",
    "Effect": "Allow",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::docs/home/${aws:username}/*"
  }]
}"#;

/// `Effect` misspelt on line 3 of the document.
const MALFORMED: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "Oops", "Effect": "Permit", "Action": "s3:GetObject", "Resource": "*"}]
}"#;

/// The `MalformedPolicyDocument` error for [`MALFORMED`], with the position of `"Permit"`.
fn malformed_error() -> String {
    let column = MALFORMED.lines().nth(2).unwrap().find("\"Permit\"").unwrap() + 1;
    format!(
        "error: MalformedPolicyDocument: Statement[0].Effect: Effect is \"Allow\" or \"Deny\", not \"Permit\" \
         (line 3, column {column})"
    )
}

fn shown_role(d: &Path, name: &str) -> Value {
    serde_json::from_str(&ok(roles_in(d, &["show", name]), None)).unwrap()
}

fn role_policy_names(role: &Value) -> Vec<String> {
    role["RolePolicyList"].as_array().unwrap().iter().map(|p| p["PolicyName"].as_str().unwrap().to_string()).collect()
}

/// Roles through `roles`: put (create, then replace the trust policy and add policies), list,
/// show (documents decoded), delete-policy, delete (policies first); IAM's errors as
/// `error: <Code>: <message>`; a refused document changes nothing; every call audited.
#[test]
fn roles_lifecycle() {
    let t = tmp();
    let d = t.path();
    let trust = write_file(d, "trust.json", &trust_for("ap-northeast-1:11111111-1111-1111-1111-111111111111"));
    let trust2 = write_file(d, "trust2.json", &trust_for("ap-northeast-1:22222222-2222-2222-2222-222222222222"));
    let graphql = write_file(d, "graphql.json", ALLOW_GRAPHQL);
    let own = write_file(d, "own.json", OWN_PREFIX);
    let bad = write_file(d, "bad.json", MALFORMED);

    // Nothing to list before anything exists: a mistyped data directory is an error.
    let err = fails(roles_in(d, &["list"]), None);
    assert!(err.contains("no database"), "{err}");

    // put: creates the role with its policy; prints the ARN.
    let arn = ok(
        roles_in(d, &["put", "app", "--trust-policy", &trust, "--policy", &format!("AllowGraphQL={graphql}")]),
        None,
    );
    assert_eq!(arn.trim(), "arn:aws:iam::000000000000:role/app");
    let listed = json_lines(&ok(roles_in(d, &["list"]), None));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["RoleName"], "app");
    assert_eq!(listed[0]["Arn"], arn.trim());
    let trust_doc: Value =
        serde_json::from_str(&trust_for("ap-northeast-1:11111111-1111-1111-1111-111111111111")).unwrap();
    assert_eq!(listed[0]["AssumeRolePolicyDocument"], trust_doc, "decoded, not URL-encoded");
    assert!(listed[0].get("Description").is_none(), "absent members are left out: {}", listed[0]);
    let role = shown_role(d, "app");
    let role_id = role["RoleId"].as_str().unwrap().to_string();
    assert!(role_id.starts_with("AROA"), "{role}");
    assert_eq!(role["AssumeRolePolicyDocument"], trust_doc);
    assert_eq!(
        role["RolePolicyList"],
        serde_json::json!([{"PolicyName": "AllowGraphQL", "PolicyDocument": serde_json::from_str::<Value>(ALLOW_GRAPHQL).unwrap()}])
    );

    // put again: the trust policy replaced, a policy added, the others kept; same role.
    let again =
        ok(roles_in(d, &["put", "app", "--trust-policy", &trust2, "--policy", &format!("OwnPrefix={own}")]), None);
    assert_eq!(again, arn);
    let role = shown_role(d, "app");
    assert_eq!(role["RoleId"], role_id.as_str());
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
            ["cognito-identity.amazonaws.com:aud"],
        "ap-northeast-1:22222222-2222-2222-2222-222222222222"
    );
    assert_eq!(role_policy_names(&role), ["AllowGraphQL", "OwnPrefix"]);

    // A malformed document: its line and column, and nothing changes (not the trust policy
    // given with it, not the good policy given before it).
    let err = fails(
        roles_in(
            d,
            &[
                "put",
                "app",
                "--trust-policy",
                &trust,
                "--policy",
                &format!("Good={graphql}"),
                "--policy",
                &format!("Broken={bad}"),
            ],
        ),
        None,
    );
    assert_eq!(err.trim(), malformed_error());
    let unchanged = shown_role(d, "app");
    assert_eq!(unchanged, role, "a refused put changed the role");
    // A policy name IAM refuses, the same.
    let err = fails(
        roles_in(
            d,
            &[
                "put",
                "app",
                "--trust-policy",
                &trust,
                "--policy",
                &format!("Good={graphql}"),
                "--policy",
                &format!("no spaces={graphql}"),
            ],
        ),
        None,
    );
    assert!(err.starts_with("error: ValidationError: ") && err.contains("no spaces"), "{err}");
    assert_eq!(shown_role(d, "app"), role, "a refused put changed the role");
    // A malformed trust policy on an existing role.
    let err = fails(roles_in(d, &["put", "app", "--trust-policy", &graphql]), None);
    assert!(err.starts_with("error: MalformedPolicyDocument: ") && err.contains("(line "), "{err}");
    assert_eq!(shown_role(d, "app"), role);
    // A new role with a malformed policy is not left behind half-made.
    let err =
        fails(roles_in(d, &["put", "fresh", "--trust-policy", &trust, "--policy", &format!("Broken={bad}")]), None);
    assert_eq!(err.trim(), malformed_error());
    let err = fails(roles_in(d, &["show", "fresh"]), None);
    assert_eq!(err.trim(), "error: NoSuchEntity: The role with name fresh cannot be found.");
    // Nor one with a malformed trust policy, nor one IAM would not name so.
    let err = fails(roles_in(d, &["put", "fresh", "--trust-policy", &bad]), None);
    assert!(err.starts_with("error: MalformedPolicyDocument: Statement[0].Effect: "), "{err}");
    let err = fails(roles_in(d, &["put", "no spaces", "--trust-policy", &trust]), None);
    assert!(err.starts_with("error: ValidationError: "), "{err}");
    assert_eq!(json_lines(&ok(roles_in(d, &["list"]), None)).len(), 1);
    // Mistakes in the command itself.
    let err = fails(roles_in(d, &["put", "app", "--trust-policy", &trust, "--policy", &graphql]), None);
    assert!(err.contains("expected NAME=FILE"), "{err}");
    let err =
        fails(roles_in(d, &["put", "app", "--trust-policy", &d.join("missing.json").display().to_string()]), None);
    assert!(err.contains("cannot read") && err.contains("missing.json"), "{err}");
    let twice = format!("A={graphql}");
    let err =
        fails(roles_in(d, &["put", "app", "--trust-policy", &trust, "--policy", &twice, "--policy", &twice]), None);
    assert!(err.contains("given twice"), "{err}");
    assert_eq!(run(roles_in(d, &["put", "app"]), None).status.code(), Some(2), "--trust-policy is required");

    // delete-policy.
    assert_eq!(
        ok(roles_in(d, &["delete-policy", "app", "OwnPrefix"]), None).trim(),
        "deleted policy OwnPrefix of role app"
    );
    assert_eq!(role_policy_names(&shown_role(d, "app")), ["AllowGraphQL"]);
    let err = fails(roles_in(d, &["delete-policy", "app", "OwnPrefix"]), None);
    assert_eq!(err.trim(), "error: NoSuchEntity: The role policy with name OwnPrefix cannot be found.");

    // delete: the remaining policy goes first, then the role.
    assert_eq!(ok(roles_in(d, &["delete", "app"]), None).trim(), "deleted app");
    assert!(json_lines(&ok(roles_in(d, &["list"]), None)).is_empty());
    for args in [&["show", "app"][..], &["delete", "app"], &["delete-policy", "app", "AllowGraphQL"]] {
        let err = fails(roles_in(d, args), None);
        assert_eq!(err.trim(), "error: NoSuchEntity: The role with name app cannot be found.", "{args:?}");
    }

    // Audited as IAM's actions, from the CLI; refusals too.
    let records = lookup(d, &["--event-source", "iam.amazonaws.com", "--limit", "1000"]);
    assert!(records.iter().all(|r| r["userAgent"].as_str().is_some_and(|a| a.starts_with("tokenbridge-cli/"))));
    let succeeded = |name: &str| records.iter().any(|r| r["eventName"] == name && r["errorCode"].is_null());
    for name in [
        "CreateRole",
        "PutRolePolicy",
        "UpdateAssumeRolePolicy",
        "GetRole",
        "ListRoles",
        "GetRolePolicy",
        "ListRolePolicies",
        "DeleteRolePolicy",
        "DeleteRole",
    ] {
        assert!(succeeded(name), "no successful {name} in the audit trail");
    }
    assert!(
        records.iter().any(|r| r["eventName"] == "PutRolePolicy" && r["errorCode"] == "MalformedPolicyDocument"),
        "refusals are audited"
    );
}

/// Makes the role `web` with [`ALLOW_GRAPHQL`] and [`OWN_PREFIX`]; returns its ARN.
fn simulation_role(d: &Path) -> String {
    let trust = write_file(d, "trust.json", &trust_for("ap-northeast-1:11111111-1111-1111-1111-111111111111"));
    let graphql = write_file(d, "graphql.json", ALLOW_GRAPHQL);
    let own = write_file(d, "own.json", OWN_PREFIX);
    let args = [
        "put",
        "web",
        "--trust-policy",
        &trust,
        "--policy",
        &format!("AllowGraphQL={graphql}"),
        "--policy",
        &format!("OwnPrefix={own}"),
    ];
    ok(roles_in(d, &args), None).trim().to_string()
}

/// `policy simulate --role R --action A --resource ARN [--context K=V]... [--json]`.
fn simulate(d: &Path, role: &str, action: &str, resource: &str, extra: &[&str]) -> std::process::Output {
    let mut c = tb_in(d, &["policy", "simulate", "--role", role, "--action", action, "--resource", resource]);
    c.args(extra);
    run(c, None)
}

const API: &str = "arn:aws:appsync:ap-northeast-1:123456789012:apis";

/// `policy simulate`: the seed's question answered before deploying. Allowed for a field of the
/// API the statement names (exit 0, naming the statement); denied for another API (exit 1) with
/// the sentence that says its Resource does not match; policy variables from `--context`; JSON.
#[test]
fn policy_simulate_explains_allow_and_deny() {
    let t = tmp();
    let d = t.path();
    let arn = simulation_role(d);

    let o = simulate(d, &arn, "appsync:GraphQL", &format!("{API}/abc/types/Query/fields/listItems"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("allowed by statement \"AllowGraphQL\""), "{out}");
    assert!(out.contains(&format!("{arn} appsync:GraphQL on {API}/abc/types/Query/fields/listItems: ")), "{out}");
    // The role by name works as well as by ARN.
    let o = simulate(d, "web", "appsync:GraphQL", &format!("{API}/abc/types/Mutation/fields/addItem"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // The seed's mistake: the call goes to API xyz.
    let o = simulate(d, &arn, "appsync:GraphQL", &format!("{API}/xyz/types/Query/fields/listItems"), &[]);
    assert_eq!(o.status.code(), Some(1), "denied is exit code 1: {}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "statement \"AllowGraphQL\" matches action appsync:GraphQL but its Resource {API}/abc/* does not match \
             {API}/xyz/types/Query/fields/listItems"
        )),
        "{out}"
    );
    assert!(out.contains("denied implicitly"), "{out}");

    // ${aws:username} in a Resource, from --context.
    let own = |user: &str, extra: &[&str]| {
        simulate(d, &arn, "s3:GetObject", &format!("arn:aws:s3:::docs/home/{user}/notes.txt"), extra)
    };
    let o = own("alice", &["--context", "aws:username=alice"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("allowed by statement \"ReadOwnPrefix\""), "{}", stdout(&o));
    let o = own("bob", &["--context", "aws:username=alice"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("docs/home/${aws:username}/*"), "{}", stdout(&o));
    let o = own("alice", &[]);
    assert_eq!(o.status.code(), Some(1), "without the key the variable matches nothing: {}", stdout(&o));

    // --json: one document a script can read.
    let o = simulate(d, &arn, "appsync:GraphQL", &format!("{API}/xyz/types/Query/fields/listItems"), &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&o)));
    assert_eq!(v["allowed"], false);
    assert_eq!(v["role_arn"], arn.as_str());
    assert!(v["decision"].is_string(), "{v}");
    assert!(v["explanation"].as_str().unwrap().contains("its Resource"), "{v}");
    let o = own("alice", &["--context", "aws:username=alice", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["allowed"], true);

    // Errors: an unknown role, a context without `=`.
    let o = simulate(d, "nobody", "appsync:GraphQL", &format!("{API}/abc/x"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: NoSuchEntity: The role with name nobody cannot be found."),
        "{}",
        stderr(&o)
    );
    let o = simulate(d, &arn, "appsync:GraphQL", &format!("{API}/abc/x"), &["--context", "aws:username"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("expected KEY=VALUE"), "{}", stderr(&o));
}
