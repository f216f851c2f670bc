//! The TLS listener (`[server.tls]`): real handshakes by real clients against a server serving a
//! certificate made as `demo --tls` makes it. A client trusting only that certificate reads
//! discovery and JWKS and signs in (the engine reaches the demo upstream on the same listener
//! through the provider's `ca_file`); TLS 1.3 and 1.2 with ALPN `http/1.1`; plain HTTP and
//! clients that do not trust the certificate get nothing; a silent handshake is closed; shutdown
//! is as graceful as on plain HTTP; the console's cookies are Secure over TLS and not without.

use crate::common::*;
use crate::console::{at_the_provider, back, pickup, query_of, set_cookie, Started};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenbridge_core::config::{Config, ProviderLogin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

async fn tls_server() -> Server {
    Server::custom(Opts { tls: true, ..Default::default() }).await
}

/// `host:port` of a server.
fn addr(s: &Server) -> String {
    s.base.trim_start_matches("https://").trim_start_matches("http://").to_string()
}

/// Whether the server has closed `conn` within `within` (end of file or a reset, after whatever
/// it sent first), and what it sent.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> (bool, Vec<u8>) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    let closed = tokio::time::timeout(within, async {
        loop {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .is_ok();
    (closed, got)
}

#[tokio::test]
async fn a_client_trusting_only_the_certificate_reads_discovery_and_jwks_and_signs_in() {
    let s = tls_server().await;
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    let doc = s.get("/.well-known/openid-configuration").await;
    doc.assert_ok();
    assert_eq!(doc.json["issuer"], s.base.as_str(), "the issuer is the https URL");
    assert_eq!(doc.json["jwks_uri"], format!("{}/.well-known/jwks.json", s.base));
    let jwks = s.jwks().await;
    assert!(jwks["keys"].as_array().is_some_and(|k| !k.is_empty()), "{jwks}");

    // The upstream's password grant over TLS, then the exchange: the engine fetches the demo
    // upstream's discovery and keys from this listener, trusting its certificate by ca_file.
    let up = s.upstream_login("alice").await;
    let r = s.exchange_bearer(up["id_token"].as_str().expect("id_token"), &[]).await;
    r.assert_ok();
    let access = r.str("access_token");
    let jwt = verify_with_jwks(access, &jwks);
    assert_eq!(jwt.claim_str("iss"), Some(s.base.as_str()));
    let info = s.userinfo(access).await;
    info.assert_ok();
    assert_eq!(info.json["email"], "alice@example.com");
}

/// A rustls client trusting only the server's certificate, offering one TLS version and ALPN
/// `h2` before `http/1.1`.
fn client_config(s: &Server, version: &'static rustls::SupportedProtocolVersion) -> rustls::ClientConfig {
    let cert = s.tls.as_ref().expect("a TLS server");
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    roots.add(rustls::pki_types::CertificateDer::from_pem_file(&cert.cert_file).expect("PEM")).expect("root");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .expect("version")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

#[tokio::test]
async fn tls_1_3_and_1_2_are_spoken_with_alpn_http_1_1_for_every_local_name() {
    let s = tls_server().await;
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        for name in ["localhost", "127.0.0.1"] {
            let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&s, version)));
            let tcp = TcpStream::connect(addr(&s)).await.expect("connect");
            let server_name = rustls::pki_types::ServerName::try_from(name).expect("name").to_owned();
            let mut tls = connector.connect(server_name, tcp).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            let (_, conn) = tls.get_ref();
            assert_eq!(conn.protocol_version(), Some(version.version), "{name}");
            assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]), "HTTP/1 only, so h2 is not chosen");
            tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
            let mut answer = Vec::new();
            let _ = tls.read_to_end(&mut answer).await;
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.starts_with("HTTP/1.1 200"), "{version:?} {name}: {answer}");
        }
    }
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let s = tls_server().await;
    let plain = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    let r = plain.get(format!("http://{}/healthz", addr(&s))).send().await;
    assert!(r.is_err(), "a plain HTTP request was answered: {r:?}");

    let mut conn = TcpStream::connect(addr(&s)).await.expect("connect");
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: tokenbridge\r\n\r\n").await.unwrap();
    let (closed, got) = closed_within(&mut conn, Duration::from_secs(10)).await;
    assert!(closed, "the connection is closed");
    assert!(!got.starts_with(b"HTTP/"), "answered in HTTP: {}", String::from_utf8_lossy(&got));
    // The listener goes on serving TLS.
    s.get("/healthz").await.assert_ok();
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_is_refused() {
    let s = tls_server().await;
    // The system's roots only.
    let system = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    let e = system.get(s.url("/healthz")).send().await.expect_err("an untrusted certificate was accepted");
    assert!(e.is_connect(), "{e:?}");
    // Another self-signed certificate for the same names, as another demo's.
    let other = tempfile::tempdir().unwrap();
    let other_cert = tokenbridge_demo::tls::ensure(other.path()).unwrap();
    let stranger = client_trusting_only(&other_cert.cert_file);
    let e = stranger.get(s.url("/healthz")).send().await.expect_err("another certificate's client was answered");
    assert!(e.is_connect(), "{e:?}");
    s.get("/healthz").await.assert_ok();
}

#[tokio::test]
async fn a_client_silent_in_the_handshake_is_closed_after_the_header_read_timeout() {
    let s = Server::custom(Opts {
        tls: true,
        configure: Some(Box::new(|c| c.server.header_read_timeout_seconds = 1)),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr(&s)).await.expect("connect");
    // A record header announcing a ClientHello that never comes.
    let mut stalled = TcpStream::connect(addr(&s)).await.expect("connect");
    stalled.write_all(&[0x16, 0x03, 0x01, 0x01, 0x00]).await.unwrap();
    for conn in [&mut silent, &mut stalled] {
        let (closed, _) = closed_within(conn, Duration::from_secs(10)).await;
        assert!(closed, "a handshake that does not finish is not kept");
    }
    assert!(started.elapsed() >= Duration::from_millis(900), "closed before the timeout: {:?}", started.elapsed());
    s.get("/healthz").await.assert_ok();
}

#[tokio::test]
async fn shutdown_over_tls_lets_in_flight_requests_finish_and_waits_for_no_handshake() {
    let idp = TestIdp::start().await;
    let s = Arc::new(Server::custom(Opts { tls: true, test_idp: Some(idp.base.clone()), ..Default::default() }).await);
    let opaque = "opaque-held-token-over-tls";
    idp.register_opaque(opaque, json!({ "sub": "t-alice", "email": "alice@example.com", "email_verified": true }));
    let (arrived, release) = idp.hold_userinfo();
    let in_flight = {
        let s = s.clone();
        tokio::spawn(async move {
            s.token_basic(&[
                ("grant_type", GRANT_TOKEN_EXCHANGE),
                ("subject_token", opaque),
                ("subject_token_type", TT_ACCESS_TOKEN),
                ("provider", TEST_PROVIDER),
            ])
            .await
        })
    };
    tokio::time::timeout(Duration::from_secs(10), arrived).await.expect("UserInfo reached").expect("gate");
    // A connection still in its handshake (it would be kept for the 30 s header-read timeout).
    let mut silent = TcpStream::connect(addr(&s)).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;

    s.trigger_shutdown();
    let task = s.take_task();
    let (closed, _) = closed_within(&mut silent, Duration::from_secs(10)).await;
    assert!(closed, "shutdown ends a handshake under way");
    assert!(!task.is_finished(), "the server waits for the in-flight request");

    release.notify_one();
    let r = tokio::time::timeout(Duration::from_secs(10), in_flight).await.expect("answered").expect("task");
    r.assert_ok();
    assert!(r.json["access_token"].is_string());
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("server stopped").expect("join").expect("serve");
}

// --- cookies ---

/// The console's sign-in at the demo upstream (`[providers.login]`, as the demo configures it).
fn with_console_login(secret: &str) -> Configure {
    let secret = secret.to_string();
    Box::new(move |c: &mut Config| {
        let base = c.server.public_url.clone().expect("public URL");
        c.providers[0].login = Some(ProviderLogin {
            authorization_endpoint: format!("{base}/demo-idp/authorize"),
            token_endpoint: format!("{base}/demo-idp/token"),
            client_id: UPSTREAM_CLIENT.into(),
            client_secret: Some(secret),
            scope: "openid email profile".into(),
        });
    })
}

/// Every cookie the console sets on one upstream sign-in, start to pickup: the login cookie, its
/// clearing, the outcome cookie and its clearing.
async fn console_cookies(s: &Server) -> Vec<String> {
    let r = s.get("/console/login/demo?method=exchange").await;
    assert_eq!(r.status, 302, "{}", r.text);
    let (value, login) = set_cookie(&r, "tb_console_login");
    let location = r.header("location").expect("Location").to_string();
    let started = Started { params: query_of(&location), location, cookie: value };
    let url = at_the_provider(s, &started, "alice", "allow").await;
    let cb = back(s, &url, Some(&started.cookie)).await;
    assert_eq!(cb.status, 303, "{}", cb.text);
    let (_, cleared_login) = set_cookie(&cb, "tb_console_login");
    let (handle, outcome) = set_cookie(&cb, "tb_console_upstream");
    let picked = pickup(s, Some(&handle)).await;
    picked.assert_ok();
    assert_eq!(picked.json["ok"], true, "{}", picked.text);
    let (_, cleared_outcome) = set_cookie(&picked, "tb_console_upstream");
    vec![login, cleared_login, outcome, cleared_outcome]
}

#[tokio::test]
async fn console_cookies_are_secure_over_tls_and_not_without() {
    const SECRET: &str = "custom-upstream-secret";
    let plain = Server::custom(Opts { configure: Some(with_console_login(SECRET)), ..Default::default() }).await;
    assert_eq!(plain.upstream_client_secret, SECRET);
    for cookie in console_cookies(&plain).await {
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite="), "{cookie}");
        assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    }
    // Over TLS the whole sign-in runs (the code redeemed at the upstream over TLS) and every
    // cookie is Secure, HttpOnly and SameSite as before.
    let tls =
        Server::custom(Opts { tls: true, configure: Some(with_console_login(SECRET)), ..Default::default() }).await;
    for cookie in console_cookies(&tls).await {
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite="), "{cookie}");
        assert!(cookie.ends_with("; Secure"), "TLS: {cookie}");
    }
}

#[tokio::test]
async fn the_tls_listener_makes_cookies_secure_whatever_the_public_url_says() {
    let s = Server::custom(Opts {
        tls: true,
        configure: Some(Box::new(|c: &mut Config| {
            with_console_login("custom-upstream-secret")(c);
            c.server.public_url = Some("http://tokenbridge.test".into());
        })),
        ..Default::default()
    })
    .await;
    assert_eq!(s.engine.issuer(), "http://tokenbridge.test");
    let r = s.get("/console/login/demo?method=exchange").await;
    let (_, cookie) = set_cookie(&r, "tb_console_login");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}
