//! TLS from the command line: `demo --tls` (its certificate made once and kept, its path and
//! fingerprint printed and in demo.json, every URL https), `serve` with `[server.tls]` or
//! `TOKENBRIDGE_TLS_*` (the issuer https:// by default), and each bad certificate or key file
//! stopping `serve` with an error naming the setting, the file and what is wrong.

use crate::common::*;
use base64::Engine as _;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tokenbridge_demo::tls::{ensure, DemoCertificate};

/// SHA-256 of the first certificate in a PEM file, as browsers show it, computed here from the
/// file's text (not by the code under test).
fn fingerprint_of(pem_file: &Path) -> String {
    let text = std::fs::read_to_string(pem_file).unwrap();
    let body: String = text
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
        .expect("a PEM certificate")
        .split_whitespace()
        .collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).expect("base64");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The value printed after `label` on a walkthrough line.
fn printed(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"))
        .trim()
        .to_string()
}

#[tokio::test]
async fn demo_tls_prints_its_certificate_and_fingerprint_and_keeps_them() {
    let t = tmp();
    let d = t.path();
    let demo = start_demo(d, &["--tls"]).await;
    assert!(demo.base.starts_with("https://127.0.0.1:"), "{}", demo.base);
    let cert_file = d.join("tls").join("cert.pem");
    let out = demo.stdout();
    assert_eq!(printed(&out, "certificate:"), cert_file.display().to_string(), "{out}");
    let fingerprint = printed(&out, "SHA-256:");
    assert_eq!(fingerprint, fingerprint_of(&cert_file), "the printed fingerprint is the file's");
    assert_eq!(fingerprint.split(':').count(), 32, "{fingerprint}");
    assert!(out.contains("made now"), "{out}");
    // The walkthrough's commands trust it.
    assert!(
        out.contains(&format!("curl --cacert {} -s -X POST {}/auth/exchange", cert_file.display(), demo.base)),
        "{out}"
    );

    // demo.json: https URLs, and the certificate.
    let info = demo_json(d);
    assert_eq!(info["base_url"], demo.base.as_str());
    for p in
        ["/upstream/issuer", "/upstream/token_endpoint", "/console/url", "/cognito/issuer", "/identity/graphql_url"]
    {
        let url = info.pointer(p).and_then(Value::as_str).unwrap_or_else(|| panic!("no {p}: {info}"));
        assert!(url.starts_with("https://"), "{p}: {url}");
    }
    assert_eq!(info["tls"]["cert_file"], cert_file.display().to_string());
    assert_eq!(info["tls"]["sha256_fingerprint"], fingerprint.as_str());

    // A client trusting only that certificate: discovery, then an exchange (the demo reaches its
    // own upstream's keys over the same TLS listener).
    let https = https_trusting(&cert_file);
    let doc: Value = https
        .get(format!("{}/.well-known/openid-configuration", demo.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], demo.base.as_str());
    let up = &info["upstream"];
    let token: Value = https
        .post(up["token_endpoint"].as_str().unwrap())
        .basic_auth(up["client_id"].as_str().unwrap(), up["client_secret"].as_str())
        .form(&[
            ("grant_type", "password"),
            ("username", "alice@demo-upstream.example"),
            ("password", "alice-upstream-pw"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = https
        .post(format!("{}/auth/exchange", demo.base))
        .bearer_auth(token["id_token"].as_str().expect("id_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(jwt_claims(tokens["access_token"].as_str().unwrap())["iss"], demo.base.as_str());
    // The demo pool's DemoOIDC is the demo provider on this listener: sign-in through it reaches
    // the provider's login page (its discovery fetched trusting the demo's certificate).
    let h = &info["hosted_ui"];
    let r = https
        .get(format!("{}/oauth2/authorize", h["domain_url"].as_str().unwrap()))
        .query(&[
            ("response_type", "code"),
            ("client_id", h["client_id"].as_str().unwrap()),
            ("redirect_uri", h["redirect_uri"].as_str().unwrap()),
            ("scope", "openid"),
            ("state", "s"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
            ("identity_provider", h["oidc_provider"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.url());
    assert!(r.url().as_str().starts_with(&format!("{}/demo-idp/", demo.base)), "{}", r.url());
    // Plain HTTP on the same port gets no answer.
    assert!(http().get(format!("{}/healthz", demo.base.replace("https://", "http://"))).send().await.is_err());
    drop(demo);

    // The next run keeps the certificate: same file, same fingerprint.
    let again = start_demo(d, &["--tls"]).await;
    let out = again.stdout();
    assert_eq!(printed(&out, "SHA-256:"), fingerprint, "{out}");
    assert!(out.contains("kept from an earlier run"), "{out}");
    drop(again);
}

#[tokio::test]
async fn demo_without_tls_stays_plain_http() {
    let t = tmp();
    let demo = start_demo(t.path(), &[]).await;
    assert!(demo.base.starts_with("http://"), "{}", demo.base);
    let out = demo.stdout();
    assert!(!out.contains("SHA-256:") && !out.contains("--cacert"), "{out}");
    assert!(demo_json(t.path()).get("tls").is_none());
    assert!(!t.path().join("tls").exists(), "no certificate is made without --tls");
}

/// `[server.tls]` with the demo's kind of certificate: `serve` answers over TLS, and with no
/// public URL configured the issuer is the https:// listen address; the environment variables
/// do the same.
#[tokio::test]
async fn serve_with_tls_defaults_the_issuer_to_https() {
    let t = tmp();
    let cert = ensure(t.path()).unwrap();
    let http = https_trusting(&cert.cert_file);
    let port = free_port();
    let config = t.path().join("tokenbridge.toml");
    std::fs::write(&config, tls_config(port, &cert.cert_file, &cert.key_file)).unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let data = ["--data-dir", t.path().to_str().unwrap()];
    let served = start_serve_with(&config, &base, &data, &[], &http).await;
    let doc: Value =
        http.get(format!("{base}/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], base.as_str());
    drop(served);

    let port = free_port();
    std::fs::write(&config, format!("[server]\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let cert_path = cert.cert_file.display().to_string();
    let key_path = cert.key_file.display().to_string();
    let env = [("TOKENBRIDGE_TLS_CERT_FILE", cert_path.as_str()), ("TOKENBRIDGE_TLS_KEY_FILE", key_path.as_str())];
    let served = start_serve_with(&config, &base, &data, &env, &http).await;
    let doc: Value =
        http.get(format!("{base}/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], base.as_str());
    drop(served);
}

fn tls_config(port: u16, cert: &Path, key: &Path) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[server.tls]\ncert_file = {:?}\nkey_file = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    )
}

/// `serve` with `[server.tls]` naming `cert` and `key`: exits 1, and stderr holds each of
/// `expected` and no line of the key file's PEM body.
#[track_caller]
fn serve_rejects_files(dir: &Path, cert: &Path, key: &Path, expected: &[&str]) {
    let config = dir.join("tls.toml");
    std::fs::write(&config, tls_config(free_port(), cert, key)).unwrap();
    let mut c = tb();
    c.arg("serve").arg("--config").arg(&config).arg("--data-dir").arg(dir);
    let err = fails(c, None);
    for e in expected {
        assert!(err.contains(e), "stderr should contain {e:?}:\n{err}");
    }
    if let Ok(text) = std::fs::read_to_string(key) {
        for line in text.lines().filter(|l| l.len() > 16 && !l.starts_with("-----")) {
            assert!(!err.contains(line), "the key's text is in the error:\n{err}");
        }
    }
    assert!(!dir.join("tokenbridge.db").exists(), "nothing was opened before the check");
}

/// Two certificates with their keys, in two directories under `root`.
fn two_certificates(root: &Path) -> (DemoCertificate, DemoCertificate) {
    (ensure(&root.join("a")).unwrap(), ensure(&root.join("b")).unwrap())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn each_bad_certificate_or_key_file_is_named_with_what_is_wrong() {
    let t = tmp();
    let d = t.path();
    let (a, b) = two_certificates(d);
    let cert_text = std::fs::read_to_string(&a.cert_file).unwrap();
    let key_text = std::fs::read_to_string(&a.key_file).unwrap();
    let missing = d.join("missing.pem");

    // A file that is not there.
    let shown = missing.display().to_string();
    serve_rejects_files(d, &missing, &a.key_file, &["error: server.tls.cert_file: cannot read ", &shown]);
    serve_rejects_files(d, &a.cert_file, &missing, &["error: server.tls.key_file: cannot read ", &shown]);

    // A certificate file without a certificate (the key in its place, or DER-like junk).
    let keys_only = write(d, "keys-only.pem", &key_text);
    let shown = keys_only.display().to_string();
    serve_rejects_files(d, &keys_only, &a.key_file, &["error: server.tls.cert_file: ", &shown, "holds no certificate"]);
    let junk = write(d, "junk.pem", "not PEM at all\n");
    serve_rejects_files(d, &junk, &a.key_file, &["error: server.tls.cert_file: ", "holds no certificate"]);

    // A key file without a key (the certificate in its place), and an encrypted key.
    let cert_only = write(d, "cert-only.pem", &cert_text);
    let shown = cert_only.display().to_string();
    serve_rejects_files(d, &a.cert_file, &cert_only, &["error: server.tls.key_file: ", &shown, "holds no private key"]);
    let encrypted = write(
        d,
        "encrypted.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    serve_rejects_files(d, &a.cert_file, &encrypted, &["error: server.tls.key_file: ", "encrypted private key"]);

    // A key that is not the certificate's.
    let (cert_shown, key_shown) = (a.cert_file.display().to_string(), b.key_file.display().to_string());
    serve_rejects_files(
        d,
        &a.cert_file,
        &b.key_file,
        &["error: server.tls.key_file: the key in ", &key_shown, "does not match the certificate in ", &cert_shown],
    );
}

#[test]
fn an_incomplete_tls_table_is_named() {
    let t = tmp();
    let d = t.path();
    let config = write(d, "tls.toml", "[server.tls]\ncert_file = \"/etc/tokenbridge/cert.pem\"\n");
    let mut c = tb();
    c.arg("serve").arg("--config").arg(&config).arg("--data-dir").arg(d);
    let err = fails(c, None);
    assert!(err.contains("missing field `key_file`"), "{err}");

    // From the environment, one of the two.
    let config = write(d, "plain.toml", "[server]\nlisten = \"127.0.0.1:0\"\n");
    let mut c = tb();
    c.arg("serve").arg("--config").arg(&config).arg("--data-dir").arg(d);
    c.env("TOKENBRIDGE_TLS_CERT_FILE", "/etc/tokenbridge/cert.pem");
    let err = fails(c, None);
    assert!(err.contains("error: server.tls.key_file: is required"), "{err}");
    assert!(err.contains("TOKENBRIDGE_TLS_KEY_FILE"), "{err}");
}
