//! A test-owned third-party upstream provider, under the test's control: its JWKS (and an
//! attacker's) over HTTP, and a UserInfo for registered opaque tokens that can be held.

use super::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

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
