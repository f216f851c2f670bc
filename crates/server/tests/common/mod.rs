//! Shared harness for the integration tests: the real server on an ephemeral port, a real
//! SQLite file in a temporary directory, the built-in demo upstream provider, and (for crafted
//! upstream tokens) a small test-owned third-party provider that publishes its JWKS over HTTP.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod sigv4;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tempfile::TempDir;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::config::{ClientConfig, Config, LinkTarget, ProviderConfig, RateLimits};
use tokenbridge_core::directory::NewUser;
use tokenbridge_core::engine::Engine;
use tokenbridge_core::jose::{b64url, JwkSet, Signer, UnverifiedJwt, VerifyingKey};
use tokenbridge_core::model::{AuditQuery, AuditRecord, KeyAlgorithm, SigningKeyRecord};
use tokenbridge_core::secrets::uuid_v4;
use tokenbridge_core::{Clock, ManualClock, Store, SystemClock};
use tokenbridge_demo::idp::{DemoIdp, DemoIdpConfig, DemoUser};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

pub const DEMO_CLIENT: &str = tokenbridge_demo::DEMO_CLIENT_ID;
pub const UPSTREAM_CLIENT: &str = tokenbridge_demo::UPSTREAM_CLIENT_ID;
/// A second client of the custom server that accepts only the demo provider.
pub const DEMO_ONLY_CLIENT: &str = "demo-only";
pub const DEMO_ONLY_SECRET: &str = "demo-only-secret";
pub const TEST_PROVIDER: &str = "test";
pub const TEST_AUDIENCE: &str = "test-aud";
pub const TEST_KID: &str = "test-k1";
pub const ATTACKER_KID: &str = "attacker-k1";

pub const TT_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const TT_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The AWS JSON 1.1 content type, and the `x-amz-target` prefixes of the Cognito user-pool and
/// identity-pool APIs.
pub const AMZ_JSON: &str = "application/x-amz-json-1.1";
pub const USER_POOL_TARGET: &str = "AWSCognitoIdentityProviderService.";
pub const IDENTITY_POOL_TARGET: &str = "AWSCognitoIdentityService.";

/// The demo's people (as crates/demo seeds them): local username, email, upstream login, groups.
pub struct Person {
    pub username: &'static str,
    pub email: &'static str,
    pub upstream_username: &'static str,
    pub upstream_password: &'static str,
    /// Linked locally (carol is known only upstream).
    pub local: bool,
    pub upstream_email_verified: bool,
    pub groups: &'static [&'static str],
}

pub const PEOPLE: &[Person] = &[
    Person {
        username: "alice",
        email: "alice@example.com",
        upstream_username: "alice@demo-upstream.example",
        upstream_password: "alice-upstream-pw",
        local: true,
        upstream_email_verified: true,
        groups: &["admins", "readers"],
    },
    Person {
        username: "bob",
        email: "bob@example.com",
        upstream_username: "bob@demo-upstream.example",
        upstream_password: "bob-upstream-pw",
        local: true,
        upstream_email_verified: true,
        groups: &["readers"],
    },
    Person {
        username: "erin",
        email: "erin@example.com",
        upstream_username: "erin@demo-upstream.example",
        upstream_password: "erin-upstream-pw",
        local: true,
        upstream_email_verified: true,
        groups: &[],
    },
    Person {
        username: "carol",
        email: "carol@example.com",
        upstream_username: "carol@demo-upstream.example",
        upstream_password: "carol-upstream-pw",
        local: false,
        upstream_email_verified: true,
        groups: &[],
    },
    Person {
        username: "dave",
        email: "dave@example.com",
        upstream_username: "dave@demo-upstream.example",
        upstream_password: "dave-upstream-pw",
        local: true,
        upstream_email_verified: false,
        groups: &[],
    },
];

pub fn person(username: &str) -> &'static Person {
    PEOPLE.iter().find(|p| p.username == username).unwrap_or_else(|| panic!("no demo person {username}"))
}

pub fn system_now() -> i64 {
    SystemClock.now()
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("http client")
}

// --- responses ---

/// A response read in full: status, headers, raw text and the JSON body (Null if not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub async fn read(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("response body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, headers, text, json }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn request_id(&self) -> &str {
        self.header("x-request-id").expect("x-request-id header")
    }

    pub fn str(&self, key: &str) -> &str {
        self.json[key].as_str().unwrap_or_else(|| panic!("no string {key:?} in {}", self.text))
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.status, 200, "expected 200, got {}: {}", self.status, self.text);
        self
    }
}

/// Checks an RFC 6749 §5.2 error answer: status, `error`, an `error_description` naming the
/// failed check (`needle`, case-insensitive), `request_id` equal to the `x-request-id` header,
/// `Cache-Control: no-store`, and that none of the presented `secrets` appears in the body or
/// in any header.
#[track_caller]
pub fn assert_oauth_error(r: &Resp, status: u16, error: &str, needle: &str, secrets: &[&str]) {
    assert_eq!(r.status, status, "status; body: {}", r.text);
    assert_eq!(r.json["error"], error, "error code; body: {}", r.text);
    let desc = r.json["error_description"].as_str().unwrap_or_else(|| panic!("no error_description: {}", r.text));
    assert!(
        desc.to_lowercase().contains(&needle.to_lowercase()),
        "error_description {desc:?} does not name {needle:?}"
    );
    let rid = r.json["request_id"].as_str().unwrap_or_else(|| panic!("no request_id: {}", r.text));
    assert!(!rid.is_empty());
    assert_eq!(Some(rid), r.header("x-request-id"), "request_id in the body equals the x-request-id header");
    assert_eq!(r.header("cache-control"), Some("no-store"), "errors are not cached");
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!r.text.contains(s), "the error body contains a presented token: {}", r.text);
        // Also a long prefix of it: a truncated token is still a leak.
        let prefix = &s[..s.len().min(40)];
        assert!(!r.text.contains(prefix), "the error body contains part of a presented token: {}", r.text);
        for (name, v) in &r.headers {
            let v = v.to_str().unwrap_or("");
            assert!(!v.contains(prefix), "header {name} contains a presented token");
        }
    }
}

/// An AWS JSON 1.1 error of the Cognito user-pool and identity-pool doors: HTTP 400, `__type`,
/// the message, and `x-amzn-RequestId` equal to our request id.
#[track_caller]
pub fn assert_cognito_error(r: &Resp, exception: &str, message: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["__type"], exception, "{}", r.text);
    assert_eq!(r.json["message"], message, "{}", r.text);
    assert_eq!(r.header("x-amzn-requestid"), Some(r.request_id()));
}

// --- token inspection ---

/// Parses a JWT without verifying it.
pub fn decode(token: &str) -> UnverifiedJwt {
    UnverifiedJwt::parse(token).unwrap_or_else(|e| panic!("not a JWT: {e}"))
}

/// Verifies `token` against the JWKS the server publishes at `/.well-known/jwks.json`; returns
/// the parsed token. Panics when the kid is missing, unpublished, or the signature fails.
pub fn verify_with_jwks(token: &str, jwks: &Value) -> UnverifiedJwt {
    let jwt = decode(token);
    let kid = jwt.header.kid.clone().expect("issued tokens carry a kid");
    let set: JwkSet = serde_json::from_value(jwks.clone()).expect("a JWKS");
    let jwk = set.keys.iter().find(|k| k.kid.as_deref() == Some(kid.as_str())).unwrap_or_else(|| {
        panic!("kid {kid} is not published in {jwks}");
    });
    let key = VerifyingKey::from_jwk(jwk).expect("usable JWK");
    key.verify(&jwt).expect("signature verifies against the published JWKS");
    jwt
}

pub fn b64json(v: &Value) -> String {
    b64url(v.to_string().as_bytes())
}

/// A compact JWS with an arbitrary header, RS256-signed by `signer`.
pub fn sign_with_header(signer: &Signer, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64json(header), b64json(claims));
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

/// Replaces one character in the middle of the signature segment.
pub fn flip_signature_byte(token: &str) -> String {
    let sig_start = token.rfind('.').expect("JWT") + 1;
    let i = sig_start + (token.len() - sig_start) / 2;
    let mut bytes = token.as_bytes().to_vec();
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}

// --- key material: RSA generation is slow in debug builds, so each key is made once per
// test binary and reused ---

fn shared_pkcs8(slot: usize) -> &'static [u8] {
    static KEYS: [OnceLock<Vec<u8>>; 4] = [const { OnceLock::new() }; 4];
    KEYS[slot].get_or_init(|| Signer::generate(KeyAlgorithm::RS256, format!("gen-{slot}")).expect("RSA key").1)
}

/// The legitimate test provider's key (published in its JWKS).
pub fn provider_key_pkcs8() -> &'static [u8] {
    shared_pkcs8(0)
}

/// The attacker's key (never published by the provider).
pub fn attacker_key_pkcs8() -> &'static [u8] {
    shared_pkcs8(1)
}

/// Gives a fresh store the keys the server would otherwise generate at first start (as a
/// restart on an existing database finds them): this system's active signing key, under a
/// fresh kid, and the demo upstream's signing key in the Store setting `DemoIdp::open` reads.
async fn preseed_keys(store: &Arc<dyn Store>, now: i64) {
    let kid = format!("rs256-{}", &uuid_v4()[..8]);
    let pkcs8 = shared_pkcs8(2);
    let signer = Signer::from_pkcs8(KeyAlgorithm::RS256, kid.clone(), pkcs8).expect("key");
    store
        .insert_signing_key(&SigningKeyRecord {
            kid: kid.clone(),
            alg: KeyAlgorithm::RS256,
            private_pkcs8: pkcs8.to_vec(),
            public_jwk: serde_json::to_string(&signer.public_jwk()).expect("jwk"),
            created_at: now,
            active: false,
            publish_until: None,
        })
        .await
        .expect("insert signing key");
    store.activate_signing_key(&kid, now).await.expect("activate signing key");
    let demo_idp_key = base64::engine::general_purpose::STANDARD.encode(shared_pkcs8(3));
    store.put_setting("demo_idp.signing_key", &demo_idp_key).await.expect("demo idp key");
}

// --- IAM trust policies ---

/// A role's trust policy of one statement `sid`: `AssumeRoleWithWebIdentity` by tokens of the
/// OIDC provider `provider` (its issuer without the scheme) issued to the audience `aud`.
pub fn web_identity_trust(sid: &str, account: &str, provider: &str, aud: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid,
            "Effect": "Allow",
            "Principal": { "Federated": format!("arn:aws:iam::{account}:oidc-provider/{provider}") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": { "StringEquals": { format!("{provider}:aud"): aud } },
        }],
    })
}

/// A role's trust policy of one statement `sid`: `AssumeRoleWithWebIdentity` by identities of the
/// identity pool `aud` whose `amr` has `amr` (`authenticated`, `unauthenticated`, a provider).
pub fn identity_pool_trust(sid: &str, aud: &str, amr: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid,
            "Effect": "Allow",
            "Principal": { "Federated": "cognito-identity.amazonaws.com" },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { "cognito-identity.amazonaws.com:aud": aud },
                "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": amr },
            },
        }],
    })
}

// --- the server under test ---

/// `demo.json` in a demo's data directory.
fn read_demo_json(dir: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(dir.join("demo.json")).expect("demo.json");
    serde_json::from_str(&text).expect("demo.json is JSON")
}

/// Options for a server built from a custom configuration (see [`Server::custom`]).
pub struct Opts {
    pub rate_limits: Option<RateLimits>,
    /// `timeout_ms` of the demo provider.
    pub demo_timeout_ms: u64,
    /// Add the provider `test` at this test-owned issuer (a [`TestIdp`]).
    pub test_idp: Option<String>,
    /// Last word on the configuration (authorizer routes and cache, client scopes, ...).
    pub configure: Option<Configure>,
}

/// A change to a custom server's configuration, applied before the engine starts.
pub type Configure = Box<dyn FnOnce(&mut Config) + Send>;

impl Default for Opts {
    fn default() -> Self {
        Self { rate_limits: None, demo_timeout_ms: 3000, test_idp: None, configure: None }
    }
}

/// The admin token of a [`Server::custom`] server.
pub const CUSTOM_ADMIN_TOKEN: &str = "custom-admin-token";

/// The metrics token of a [`Server::custom`] server (`metrics.token`).
pub const CUSTOM_METRICS_TOKEN: &str = "custom-metrics-token";

pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub engine: Arc<Engine>,
    /// The engine's store, for setting up and inspecting state the doors do not show.
    pub store: Arc<dyn Store>,
    pub idp: DemoIdp,
    pub clock: Arc<ManualClock>,
    pub client_id: String,
    pub client_secret: String,
    pub upstream_client_secret: String,
    /// The admin API's bearer token.
    pub admin_token: String,
    shutdown_tx: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<anyhow::Result<()>>>>,
    pub dir: TempDir,
}

impl Server {
    async fn bind() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        (listener, base)
    }

    /// Serves with the engine's `[server]` connection bounds and a 30 s grace.
    fn spawn(
        listener: tokio::net::TcpListener,
        app: Router,
        engine: &Engine,
    ) -> (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>) {
        let (tx, rx) = oneshot::channel::<()>();
        let serving = tokenbridge_server::serving::Serving {
            grace: std::time::Duration::from_secs(30),
            ..tokenbridge_server::serving::Serving::from_config(&engine.config().server)
        };
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = tokio::spawn(tokenbridge_server::serve_with(listener, app, shutdown, serving));
        (tx, task)
    }

    /// The demo exactly as `tokenbridge demo` builds it (`tokenbridge_demo::prepare_with_clock`), on a
    /// manual clock set to the current time, over a store that already holds the signing keys
    /// (as after a restart; see `preseed_keys`). Seeding hashes three local passwords with argon2id
    /// (about 1.3 s in a debug build), so tests that need only the demo's provider and users
    /// use [`Self::custom`], which serves the same `demo_config` and the same demo upstream.
    pub async fn demo() -> Self {
        let (listener, base) = Self::bind().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("tokenbridge.db");
        let store = tokenbridge_store::open(&db.display().to_string()).await.expect("store");
        let clock = Arc::new(ManualClock::new(system_now()));
        preseed_keys(&store, clock.now()).await;
        let demo = tokenbridge_demo::prepare_with_clock(&base, dir.path(), store.clone(), "RS256", clock.clone())
            .await
            .expect("demo");
        // What the demo writes for its users: every secret, in demo.json.
        let info = read_demo_json(dir.path());
        assert_eq!(info, demo.info);
        let client_id = info["client"]["client_id"].as_str().expect("client id").to_string();
        let client_secret = info["client"]["client_secret"].as_str().expect("client secret").to_string();
        let upstream_client_secret = info["upstream"]["client_secret"].as_str().expect("secret").to_string();
        let admin_token = info["admin_token"].as_str().expect("admin token").to_string();
        let (tx, task) = Self::spawn(listener, demo.app, &demo.engine);
        Self {
            base,
            http: http_client(),
            engine: demo.engine,
            store,
            idp: demo.idp,
            clock,
            client_id,
            client_secret,
            upstream_client_secret,
            admin_token,
            shutdown_tx: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
            dir,
        }
    }

    /// A server from a configuration built here: the demo's client and provider (with
    /// `opts.demo_timeout_ms`), the demo upstream mounted at `/demo-idp`, a second client
    /// `demo-only`, and optionally the provider `test` at a [`TestIdp`]. Users are created
    /// with `engine.directory().create_user` (without local passwords).
    pub async fn custom(opts: Opts) -> Self {
        let (listener, base) = Self::bind().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("tokenbridge.db");
        let store = tokenbridge_store::open(&db.display().to_string()).await.expect("store");
        let clock = Arc::new(ManualClock::new(system_now()));
        preseed_keys(&store, clock.now()).await;
        let client_secret = "custom-client-secret".to_string();
        let upstream_client_secret = "custom-upstream-secret".to_string();

        let mut cfg: Config = tokenbridge_demo::demo_config(&base, &client_secret, CUSTOM_ADMIN_TOKEN, "RS256");
        if let Some(r) = opts.rate_limits {
            cfg.rate_limits = r;
        }
        cfg.metrics.token = Some(CUSTOM_METRICS_TOKEN.into());
        cfg.providers[0].timeout_ms = opts.demo_timeout_ms;
        cfg.clients.push(ClientConfig {
            client_id: DEMO_ONLY_CLIENT.into(),
            name: "Accepts only the demo provider".into(),
            secret: Some(DEMO_ONLY_SECRET.into()),
            secret_sha256: None,
            grant_types: vec!["token_exchange".into(), "refresh_token".into()],
            providers: vec![tokenbridge_demo::UPSTREAM_NAME.into()],
            scopes: vec!["openid".into(), "email".into()],
            access_token_ttl: 600,
            id_token_ttl: 600,
            refresh_token_ttl: 3600,
            allowed_origins: Vec::new(),
        });
        if let Some(issuer) = &opts.test_idp {
            cfg.clients[0].providers.push(TEST_PROVIDER.into());
            cfg.providers.push(ProviderConfig {
                name: TEST_PROVIDER.into(),
                issuer: issuer.clone(),
                issuer_aliases: Vec::new(),
                discovery: false,
                jwks_uri: Some(format!("{issuer}/jwks")),
                jwks_file: None,
                userinfo_endpoint: Some(format!("{issuer}/userinfo")),
                introspection_endpoint: None,
                introspection_client_id: None,
                introspection_client_secret: None,
                audiences: vec![TEST_AUDIENCE.into()],
                algorithms: vec!["RS256".into()],
                leeway_seconds: 60,
                link_claim: "email".into(),
                link_to: LinkTarget::Email,
                condition: None,
                mappings: Default::default(),
                max_token_age_seconds: None,
                one_time_use: true,
                opaque_token_ttl_seconds: 3600,
                jit: false,
                default_client: Some(DEMO_CLIENT.into()),
                timeout_ms: 3000,
                login: None,
                opaque_checks: Default::default(),
            });
        }
        if let Some(configure) = opts.configure {
            configure(&mut cfg);
        }
        let engine = Engine::open(cfg, store.clone(), clock.clone(), None).await.expect("engine");
        engine.provision().await.expect("provision");
        engine.ensure_admin_token().await.expect("admin token");
        for p in PEOPLE.iter().filter(|p| p.local) {
            engine
                .directory()
                .create_user(NewUser {
                    username: p.username.into(),
                    email: Some(p.email.into()),
                    email_verified: true,
                    password: None,
                    groups: p.groups.iter().map(|g| g.to_string()).collect(),
                    attributes: Default::default(),
                    enabled: true,
                })
                .await
                .expect("create user");
        }
        let idp = DemoIdp::open(
            DemoIdpConfig {
                issuer: format!("{base}/demo-idp"),
                client_id: UPSTREAM_CLIENT.into(),
                client_secret: upstream_client_secret.clone(),
                redirect_uris: vec![format!("{base}/console/callback")],
                users: PEOPLE
                    .iter()
                    .map(|p| DemoUser {
                        username: p.upstream_username.into(),
                        password: p.upstream_password.into(),
                        email: p.email.into(),
                        email_verified: p.upstream_email_verified,
                        name: p.username.into(),
                        organization_id: "00D000000000DEMO".into(),
                    })
                    .collect(),
                id_token_ttl: 3600,
                access_token_ttl: 3600,
            },
            store.clone(),
            clock.clone(),
        )
        .await
        .expect("demo idp");
        let state = tokenbridge_server::AppState::new(engine.clone()).await.expect("state");
        let app = tokenbridge_server::router(state, Some(Router::new().nest("/demo-idp", idp.router())));
        let (tx, task) = Self::spawn(listener, app, &engine);
        Self {
            base,
            http: http_client(),
            engine,
            store,
            idp,
            clock,
            client_id: DEMO_CLIENT.into(),
            client_secret,
            upstream_client_secret,
            admin_token: CUSTOM_ADMIN_TOKEN.into(),
            shutdown_tx: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
            dir,
        }
    }

    /// The server's (manual) clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Resolves the shutdown future the server was started with.
    pub fn trigger_shutdown(&self) {
        if let Some(tx) = self.shutdown_tx.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }

    /// The serve task, to await its end after [`Self::trigger_shutdown`].
    pub fn take_task(&self) -> JoinHandle<anyhow::Result<()>> {
        self.task.lock().unwrap().take().expect("server task")
    }

    // --- the upstream side ---

    /// Signs in at the demo upstream with the username-password grant (as a script would):
    /// the Salesforce-shaped answer with an opaque `access_token` and an `id_token`.
    pub async fn upstream_login(&self, username: &str) -> Value {
        let p = person(username);
        let r = self
            .http
            .post(self.url("/demo-idp/token"))
            .basic_auth(UPSTREAM_CLIENT, Some(&self.upstream_client_secret))
            .form(&[("grant_type", "password"), ("username", p.upstream_username), ("password", p.upstream_password)])
            .send()
            .await
            .expect("upstream token request");
        let r = Resp::read(r).await;
        r.assert_ok();
        r.json
    }

    /// A demo-upstream id token for a demo person, minted at the current (manual) time; each
    /// carries its own `jti`, so every call gives a distinct token.
    pub fn mint_id_token(&self, username: &str) -> String {
        self.idp.mint_id_token(person(username).upstream_username).expect("demo upstream user")
    }

    /// Moves the clock one second on and mints (tests that also want a later `iat`).
    pub fn fresh_id_token(&self, username: &str) -> String {
        self.clock.advance(1);
        self.mint_id_token(username)
    }

    // --- requests ---

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        Resp::read(req.send().await.expect("request")).await
    }

    /// An unsigned AWS JSON 1.1 `POST path` for `target` (`Service.Action`), without its body
    /// (callers add the body, and any headers of a forged signature).
    pub fn aws_json_request(&self, path: &str, target: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).header("content-type", AMZ_JSON).header("x-amz-target", target)
    }

    /// One action of the Cognito user-pool API (`POST /`, AWS JSON 1.1), unsigned.
    pub async fn cognito(&self, action: &str, body: &Value) -> Resp {
        self.send(self.aws_json_request("/", &format!("{USER_POOL_TARGET}{action}")).body(body.to_string())).await
    }

    /// One action of the Cognito identity-pool API (`POST /`, AWS JSON 1.1), unsigned.
    pub async fn cognito_identity(&self, action: &str, body: &Value) -> Resp {
        self.send(self.aws_json_request("/", &format!("{IDENTITY_POOL_TARGET}{action}")).body(body.to_string())).await
    }

    /// A user-pool admin action through the engine's dispatcher, as the HTTP door runs it once
    /// the SigV4 signature is verified; panics on an error.
    pub async fn user_pool_admin(&self, action: &str, body: &Value) -> Value {
        self.engine
            .user_pool_action(action, body, true, &RequestContext::new("test"))
            .await
            .unwrap_or_else(|e| panic!("{action}: {}: {}", e.exception, e.message))
    }

    /// An IAM action through the engine's dispatcher, as the query door runs it once admin
    /// credentials signed it.
    pub async fn iam_action(
        &self,
        action: &str,
        pairs: &[(&str, &str)],
    ) -> Result<Value, tokenbridge_core::iam::QueryError> {
        use tokenbridge_core::iam::{CallerIdentity, QueryService};
        let mut p: std::collections::BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        p.insert("Action".into(), action.into());
        p.insert("Version".into(), "2010-05-08".into());
        let admin = CallerIdentity::Admin { access_key_id: "AKIATEST".into() };
        self.engine.query_action(QueryService::Iam, action, &p, Some(&admin), &RequestContext::new("test")).await
    }

    /// `InitiateAuth` with USER_PASSWORD_AUTH at the app client `client_id`: the answer as it is.
    pub async fn password_auth(&self, client_id: &str, username: &str, password: &str) -> Resp {
        let body = json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
            "AuthParameters": { "USERNAME": username, "PASSWORD": password } });
        self.cognito("InitiateAuth", &body).await
    }

    /// A pool member's `AuthenticationResult` by USER_PASSWORD_AUTH at the app client `client_id`;
    /// asserts success.
    pub async fn pool_auth(&self, client_id: &str, username: &str, password: &str) -> Value {
        let r = self.password_auth(client_id, username, password).await;
        r.assert_ok();
        r.json["AuthenticationResult"].clone()
    }

    /// A pool member's id token by USER_PASSWORD_AUTH at the app client `client_id`.
    pub async fn pool_id_token(&self, client_id: &str, username: &str, password: &str) -> String {
        self.pool_auth(client_id, username, password).await["IdToken"].as_str().expect("IdToken").to_string()
    }

    /// What the demo wrote to `demo.json` (a [`Self::demo`] server).
    pub fn demo_json(&self) -> Value {
        read_demo_json(self.dir.path())
    }

    /// A string of `demo.json`'s `cognito` object (`user_pool_id`, `client_id`, `issuer`, ...).
    pub fn demo_cognito(&self, key: &str) -> String {
        self.demo_json()["cognito"][key].as_str().unwrap_or_else(|| panic!("demo.json cognito.{key}")).to_string()
    }

    /// `POST /auth/exchange` with the upstream token as Bearer and `params` as a form.
    pub async fn exchange_bearer(&self, token: &str, params: &[(&str, &str)]) -> Resp {
        let mut req = self.http.post(self.url("/auth/exchange")).bearer_auth(token);
        if !params.is_empty() {
            req = req.form(params);
        }
        self.send(req).await
    }

    /// `POST /oauth2/token` authenticated with HTTP Basic as the configured client.
    pub async fn token_basic(&self, params: &[(&str, &str)]) -> Resp {
        self.send(
            self.http
                .post(self.url("/oauth2/token"))
                .basic_auth(&self.client_id, Some(&self.client_secret))
                .form(params),
        )
        .await
    }

    /// RFC 8693 exchange at `/oauth2/token`, client authenticated by Basic.
    pub async fn token_exchange(&self, subject_token: &str, subject_token_type: &str) -> Resp {
        self.token_basic(&[
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("subject_token", subject_token),
            ("subject_token_type", subject_token_type),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Resp {
        self.token_basic(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    /// A POST with a raw form body (for malformed requests).
    pub async fn post_raw_form(&self, path: &str, body: &str, basic: bool) -> Resp {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if basic {
            req = req.basic_auth(&self.client_id, Some(&self.client_secret));
        }
        self.send(req).await
    }

    pub async fn post_form_basic(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        self.send(self.http.post(self.url(path)).basic_auth(&self.client_id, Some(&self.client_secret)).form(params))
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn userinfo(&self, access_token: &str) -> Resp {
        self.send(self.http.get(self.url("/oauth2/userinfo")).bearer_auth(access_token)).await
    }

    pub async fn introspect(&self, token: &str) -> Resp {
        self.post_form_basic("/oauth2/introspect", &[("token", token)]).await
    }

    pub async fn jwks(&self) -> Value {
        let r = self.get("/.well-known/jwks.json").await;
        r.assert_ok();
        r.json
    }

    /// Exchanges a fresh demo id token of `username` at `/auth/exchange`; asserts success.
    pub async fn sign_in(&self, username: &str) -> Value {
        let token = self.fresh_id_token(username);
        let r = self.exchange_bearer(&token, &[]).await;
        r.assert_ok();
        r.json
    }

    /// Audit records of one request id.
    pub async fn audit_of(&self, request_id: &str) -> Vec<AuditRecord> {
        self.store
            .lookup_audit(&AuditQuery { request_id: Some(request_id.into()), ..Default::default() })
            .await
            .expect("audit lookup")
    }

    /// The local user id (`sub`) of a demo person.
    pub async fn user_id(&self, username: &str) -> String {
        self.engine.directory().find(username).await.expect("user").id
    }

    /// `GET /metrics` with the configured `metrics.token`; asserts 200.
    pub async fn metrics(&self) -> Resp {
        let token = self.engine.config().metrics.token.clone().expect("metrics.token is set");
        let r = self.send(self.http.get(self.url("/metrics")).bearer_auth(token)).await;
        r.assert_ok();
        r
    }
}

// --- a test-owned third-party upstream provider ---

/// What the test provider's UserInfo does.
#[derive(Default)]
struct Gate {
    /// Told when a UserInfo request has arrived.
    arrived: Option<oneshot::Sender<()>>,
    /// UserInfo answers only once this is notified.
    release: Option<Arc<Notify>>,
}

struct IdpState {
    jwks: Value,
    attacker_jwks: Value,
    jwks_hits: AtomicUsize,
    attacker_hits: AtomicUsize,
    /// When set, `/jwks` answers 503.
    jwks_down: AtomicBool,
    /// Opaque access token -> UserInfo answer.
    userinfo: Mutex<HashMap<String, Value>>,
    /// UserInfo requests received.
    userinfo_hits: AtomicUsize,
    gate: Mutex<Gate>,
}

/// A third-party OIDC provider under the test's control: publishes `/jwks` (the legitimate key,
/// kid [`TEST_KID`]), serves `/userinfo` for registered opaque tokens, and also hosts an
/// attacker's JWKS at `/attacker-jwks` (which the broker must never fetch).
pub struct TestIdp {
    pub base: String,
    pub key: Signer,
    pub attacker: Signer,
    state: Arc<IdpState>,
    shutdown_tx: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

async fn idp_jwks(State(s): State<Arc<IdpState>>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if s.jwks_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    Json(s.jwks.clone()).into_response()
}

async fn idp_attacker_jwks(State(s): State<Arc<IdpState>>) -> Json<Value> {
    s.attacker_hits.fetch_add(1, Ordering::SeqCst);
    Json(s.attacker_jwks.clone())
}

async fn idp_userinfo(State(s): State<Arc<IdpState>>, headers: HeaderMap) -> Response {
    s.userinfo_hits.fetch_add(1, Ordering::SeqCst);
    let (arrived, release) = {
        let mut g = s.gate.lock().unwrap();
        (g.arrived.take(), g.release.clone())
    };
    if let Some(tx) = arrived {
        let _ = tx.send(());
    }
    if let Some(release) = release {
        release.notified().await;
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    match s.userinfo.lock().unwrap().get(&token) {
        Some(v) => Json(v.clone()).into_response(),
        None => (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_token" }))).into_response(),
    }
}

impl TestIdp {
    pub async fn start() -> Self {
        let key = Signer::from_pkcs8(KeyAlgorithm::RS256, TEST_KID.into(), provider_key_pkcs8()).expect("key");
        let attacker = Signer::from_pkcs8(KeyAlgorithm::RS256, ATTACKER_KID.into(), attacker_key_pkcs8()).expect("key");
        let state = Arc::new(IdpState {
            jwks: json!({ "keys": [key.public_jwk()] }),
            attacker_jwks: json!({ "keys": [attacker.public_jwk()] }),
            jwks_hits: AtomicUsize::new(0),
            attacker_hits: AtomicUsize::new(0),
            jwks_down: AtomicBool::new(false),
            userinfo: Mutex::new(HashMap::new()),
            userinfo_hits: AtomicUsize::new(0),
            gate: Mutex::new(Gate::default()),
        });
        let app = Router::new()
            .route("/jwks", get(idp_jwks))
            .route("/attacker-jwks", get(idp_attacker_jwks))
            .route("/userinfo", get(idp_userinfo))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Self { base, key, attacker, state, shutdown_tx: Mutex::new(Some(tx)), task: Mutex::new(Some(task)) }
    }

    /// Stops the provider and waits until its port refuses connections.
    pub async fn stop(&self) {
        if let Some(tx) = self.shutdown_tx.lock().unwrap().take() {
            let _ = tx.send(());
        }
        let task = self.task.lock().unwrap().take();
        if let Some(t) = task {
            t.await.expect("test idp task");
        }
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Makes `/jwks` answer 503 (the rest of the provider keeps working).
    pub fn set_jwks_down(&self, down: bool) {
        self.state.jwks_down.store(down, Ordering::SeqCst);
    }

    pub fn attacker_jwks_hits(&self) -> usize {
        self.state.attacker_hits.load(Ordering::SeqCst)
    }

    /// How many UserInfo requests the provider has received.
    pub fn userinfo_hits(&self) -> usize {
        self.state.userinfo_hits.load(Ordering::SeqCst)
    }

    /// Registers an opaque access token its UserInfo vouches for.
    pub fn register_opaque(&self, token: &str, claims: Value) {
        self.state.userinfo.lock().unwrap().insert(token.into(), claims);
    }

    /// Holds the next UserInfo answer: the returned receiver fires when the request arrives;
    /// the answer is sent once the returned `Notify` is notified.
    pub fn hold_userinfo(&self) -> (oneshot::Receiver<()>, Arc<Notify>) {
        let (tx, rx) = oneshot::channel();
        let release = Arc::new(Notify::new());
        *self.state.gate.lock().unwrap() = Gate { arrived: Some(tx), release: Some(release.clone()) };
        (rx, release)
    }

    /// Valid id-token claims for `email` at time `now`.
    pub fn claims(&self, email: &str, now: i64) -> Value {
        json!({
            "iss": self.base,
            "sub": format!("test|{email}"),
            "aud": TEST_AUDIENCE,
            "iat": now,
            "exp": now + 600,
            "email": email,
            "email_verified": true,
        })
    }

    /// An RS256 token signed with the provider's published key (kid [`TEST_KID`]).
    pub fn token(&self, claims: &Value) -> String {
        self.key.sign_jwt(claims, "JWT")
    }
}

// --- a guarded user pool (the security suite's attacks on sign-in) ---

/// The pool and public app client (every auth flow allowed; CUSTOM_AUTH answered by the demo
/// upstream) of [`Server::with_pool`].
pub const GUARDED_POOL: &str = "us-east-1_Guarded1";
pub const GUARDED_CLIENT: &str = "guardedclient0000000000000";

/// Confirmation codes as a pool sends them, kept for the test to read.
#[derive(Default)]
pub struct CapturedCodes(Mutex<Vec<(String, String, String)>>);

impl tokenbridge_core::userpool::CodeSender for CapturedCodes {
    fn send(&self, _pool_id: &str, user: &tokenbridge_core::model::User, purpose: &str, code: &str) {
        self.0.lock().unwrap().push((user.username.clone(), purpose.into(), code.into()));
    }
}

impl CapturedCodes {
    /// The last code of `purpose` sent to `username`.
    pub fn last(&self, username: &str, purpose: &str) -> String {
        let codes = self.0.lock().unwrap();
        let found = codes.iter().rev().find(|(u, p, _)| u == username && p == purpose);
        found.map(|(_, _, c)| c.clone()).unwrap_or_else(|| panic!("no {purpose} code for {username}"))
    }
}

impl Server {
    /// A [`Server::custom`] server without rate limits (the attacks must reach the engine), with
    /// the pool [`GUARDED_POOL`], its client [`GUARDED_CLIENT`] and the confirmed pool members
    /// `members`: (username, local password; `None` for one who signs in only upstream). Codes
    /// the pool sends are captured in the returned [`CapturedCodes`].
    pub async fn with_pool(members: &[(&str, Option<&str>)]) -> (Self, Arc<CapturedCodes>) {
        let off = RateLimits { per_ip_per_second: 0, per_client_per_second: 0, burst: 0 };
        let s = Server::custom(Opts { rate_limits: Some(off), ..Default::default() }).await;
        let e = &s.engine;
        e.ensure_user_pool(GUARDED_POOL, "guarded", tokenbridge_core::userpool::IssuerForm::Local).await.expect("pool");
        let upstream = [tokenbridge_demo::UPSTREAM_NAME.to_string()];
        e.ensure_pool_client(GUARDED_POOL, GUARDED_CLIENT, "guarded", None, &upstream).await.expect("client");
        for (username, password) in members {
            let user = match e.directory().find(username).await {
                Ok(u) => u,
                Err(_) => e
                    .directory()
                    .create_user(NewUser {
                        username: username.to_string(),
                        email: Some(format!("{username}@example.com")),
                        email_verified: true,
                        password: password.map(str::to_string),
                        enabled: true,
                        ..Default::default()
                    })
                    .await
                    .expect("create user"),
            };
            e.add_pool_member(GUARDED_POOL, &user, *password).await.expect("pool member");
        }
        let codes = Arc::new(CapturedCodes::default());
        e.set_code_sender(codes.clone());
        (s, codes)
    }

    /// An unsigned Cognito user-pool request, ready to send.
    pub fn cognito_request(&self, action: &str, body: &Value) -> reqwest::RequestBuilder {
        self.aws_json_request("/", &format!("{USER_POOL_TARGET}{action}")).body(body.to_string())
    }
}

/// Sends every request at once and reads the answers, in request order.
pub async fn send_all(requests: Vec<reqwest::RequestBuilder>) -> Vec<Resp> {
    let start = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|req| {
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                Resp::read(req.send().await.expect("request")).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("request task"));
    }
    out
}

/// The first failing check of a request's audit record: (error code, check, detail).
pub async fn failing_check(s: &Server, r: &Resp) -> (String, String, String) {
    let records = s.audit_of(r.request_id()).await;
    let rec = records.first().unwrap_or_else(|| panic!("no audit record for {}", r.request_id()));
    let steps = rec.record["additionalEventData"]["decisionTrail"].as_array().cloned().unwrap_or_default();
    let fail = steps.iter().find(|s| s["outcome"] == "fail").cloned().unwrap_or_default();
    (
        rec.error_code.clone().unwrap_or_default(),
        fail["check"].as_str().unwrap_or_default().to_string(),
        fail["detail"].as_str().unwrap_or_default().to_string(),
    )
}

/// Every step of a request's audit trail as `check: detail`.
pub async fn trail_of(s: &Server, r: &Resp) -> Vec<String> {
    let records = s.audit_of(r.request_id()).await;
    let rec = records.first().unwrap_or_else(|| panic!("no audit record for {}", r.request_id()));
    let steps = rec.record["additionalEventData"]["decisionTrail"].as_array().cloned().unwrap_or_default();
    steps
        .iter()
        .map(|s| format!("{}: {}", s["check"].as_str().unwrap_or_default(), s["detail"].as_str().unwrap_or_default()))
        .collect()
}

/// A server configured with provider `test`, whose keys and JWKS the returned [`TestIdp`] holds.
pub async fn server_with_test_idp() -> (TestIdp, Server) {
    let idp = TestIdp::start().await;
    let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await;
    (idp, s)
}

impl Server {
    /// Exchanges `token` at `/auth/exchange`, naming provider `test`.
    pub async fn exchange_at_test_provider(&self, token: &str) -> Resp {
        self.exchange_bearer(token, &[("provider", TEST_PROVIDER)]).await
    }
}
