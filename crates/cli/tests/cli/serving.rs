//! `demo` and `serve` as processes: what they write and share, the environment they honour,
//! the changes the CLI makes reaching a running server, and how they stop.

use crate::common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

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
