//! The server under test: the demo exactly as `tokenbridge demo` builds it, or a server from a
//! configuration built here, each on an ephemeral port over a SQLite file in a temporary
//! directory, on a manual clock.

use super::*;
use axum::Router;
use base64::Engine as _;
use std::sync::Mutex;
use tempfile::TempDir;
use tokenbridge_core::config::{ClientConfig, Config, LinkTarget, ProviderConfig, RateLimits, TlsConfig};
use tokenbridge_core::directory::NewUser;
use tokenbridge_core::engine::Engine;
use tokenbridge_core::model::SigningKeyRecord;
use tokenbridge_core::secrets::uuid_v4;
use tokenbridge_core::{ManualClock, Store};
use tokenbridge_demo::idp::{DemoIdp, DemoIdpConfig, DemoUser};
use tokenbridge_demo::tls::DemoCertificate;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(super) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// A client like [`http_client`] that trusts the certificates of `pem_file` and no others.
pub fn client_trusting_only(pem_file: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(pem_file).expect("certificate file");
    let certs = reqwest::Certificate::from_pem_bundle(&pem).expect("PEM certificates");
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .tls_certs_only(certs)
        .build()
        .expect("https client")
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

// --- the server under test ---

/// `demo.json` in a demo's data directory.
pub(super) fn read_demo_json(dir: &std::path::Path) -> Value {
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
    /// Serve over TLS with a certificate made as `demo --tls` makes it (see [`Server::tls`]).
    pub tls: bool,
}

/// A change to a custom server's configuration, applied before the engine starts.
pub type Configure = Box<dyn FnOnce(&mut Config) + Send>;

impl Default for Opts {
    fn default() -> Self {
        Self { rate_limits: None, demo_timeout_ms: 3000, test_idp: None, configure: None, tls: false }
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
    /// The certificate a TLS server serves, in `dir`; `http` trusts it and nothing else.
    pub tls: Option<DemoCertificate>,
}

impl Server {
    async fn bind() -> (tokio::net::TcpListener, String) {
        Self::bind_as("http").await
    }

    async fn bind_as(scheme: &str) -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("{scheme}://{}", listener.local_addr().expect("addr"));
        (listener, base)
    }

    /// Serves with the engine's `[server]` connection bounds (and `[server.tls]`) and a 30 s grace.
    fn spawn(
        listener: tokio::net::TcpListener,
        app: Router,
        engine: &Engine,
    ) -> (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>) {
        let (tx, rx) = oneshot::channel::<()>();
        let tls = engine.config().server.tls.as_ref().map(|t| tokenbridge_server::tls::Tls::load(t).expect("tls"));
        let serving = tokenbridge_server::serving::Serving {
            grace: std::time::Duration::from_secs(30),
            tls,
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
            tls: None,
        }
    }

    /// A server from a configuration built here: the demo's client and provider (with
    /// `opts.demo_timeout_ms`), the demo upstream mounted at `/demo-idp`, a second client
    /// `demo-only`, and optionally the provider `test` at a [`TestIdp`]. Users are created
    /// with `engine.directory().create_user` (without local passwords).
    pub async fn custom(opts: Opts) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = opts.tls.then(|| tokenbridge_demo::tls::ensure(dir.path()).expect("demo certificate"));
        let (listener, base) = Self::bind_as(if tls.is_some() { "https" } else { "http" }).await;
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
                ca_file: None,
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
        if let Some(cert) = &tls {
            cfg.server.tls = Some(TlsConfig { cert_file: cert.cert_file.clone(), key_file: cert.key_file.clone() });
            cfg.providers[0].ca_file = Some(cert.cert_file.clone());
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
                redirect_uris: vec![
                    format!("{base}/console/callback"),
                    format!("{base}/domains/{}/oauth2/idpresponse", super::OIDC_DOMAIN),
                ],
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
                other_clients: Vec::new(),
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
        let http = match &tls {
            Some(cert) => client_trusting_only(&cert.cert_file),
            None => http_client(),
        };
        Self {
            base,
            http,
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
            tls,
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
}
