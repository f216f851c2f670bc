//! The `tokenbridge` binary as an operator drives it: `--help` of every command, the data
//! directory, `users` and `keys`. Each test in its own data directory.

use crate::common::*;
use serde_json::Value;

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
