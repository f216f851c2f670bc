//! `tokenbridge lambda` as AWS Lambda runs it: a child process talking to a Runtime API emulator
//! (the 2018-06-01 contract: `invocation/next` hands out events with their request id; results go
//! to `invocation/{id}/response` or `/error`, start-up failures to `init/error`).

use crate::common::*;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("tokenbridge-lambda-test-").tempdir().unwrap()
}

/// What the function answered one invocation with.
#[derive(Debug, Clone)]
struct Answer {
    /// `response` or `error`.
    kind: &'static str,
    body: Value,
}

/// The Runtime API side of a Lambda execution environment.
#[derive(Default)]
struct RuntimeApi {
    /// Events not handed out yet: (request id, body as sent).
    queue: Mutex<VecDeque<(String, String)>>,
    handed_out: Mutex<Vec<String>>,
    answers: Mutex<HashMap<String, Answer>>,
    init_error: Mutex<Option<Value>>,
    /// `invocation/next` calls so far (answered or still waiting).
    polls: AtomicUsize,
}

impl RuntimeApi {
    /// Serves on 127.0.0.1:0; returns the state and `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    async fn start() -> (Arc<Self>, String) {
        let api = Arc::new(Self::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (api, addr)
    }

    fn push(&self, request_id: &str, body: impl Into<String>) {
        self.queue.lock().unwrap().push_back((request_id.to_string(), body.into()));
    }

    fn answer(&self, request_id: &str) -> Answer {
        self.answers.lock().unwrap().get(request_id).cloned().unwrap_or_else(|| panic!("no answer for {request_id}"))
    }
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    api.polls.fetch_add(1, Ordering::SeqCst);
    let event = api.queue.lock().unwrap().pop_front();
    let Some((id, body)) = event else {
        // A long poll with nothing to come: the function waits here until it is stopped.
        return std::future::pending().await;
    };
    api.handed_out.lock().unwrap().push(id.clone());
    let deadline =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + Duration::from_secs(30);
    (
        [
            ("Lambda-Runtime-Aws-Request-Id", id),
            ("Lambda-Runtime-Deadline-Ms", deadline.as_millis().to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:tokenbridge-authorizer".into(),
            ),
            ("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=0".into()),
            ("Content-Type", "application/json".into()),
        ],
        body,
    )
        .into_response()
}

fn record(api: &RuntimeApi, id: &str, kind: &'static str, body: &[u8]) -> Response {
    if !api.handed_out.lock().unwrap().iter().any(|h| h == id) {
        let e = json!({"errorMessage": format!("unknown request id {id}"), "errorType": "InvalidRequestID"});
        return (StatusCode::BAD_REQUEST, Json(e)).into_response();
    }
    let body = serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()));
    if api.answers.lock().unwrap().insert(id.to_string(), Answer { kind, body }).is_some() {
        let e = json!({"errorMessage": format!("{id} was answered twice"), "errorType": "InvalidStateTransition"});
        return (StatusCode::BAD_REQUEST, Json(e)).into_response();
    }
    (StatusCode::ACCEPTED, Json(json!({"status": "OK"}))).into_response()
}

async fn response(State(api): State<Arc<RuntimeApi>>, UrlPath(id): UrlPath<String>, body: Bytes) -> Response {
    record(&api, &id, "response", &body)
}

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    assert!(headers.contains_key("lambda-runtime-function-error-type"), "error without its error-type header");
    record(&api, &id, "error", &body)
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, body: Bytes) -> Response {
    *api.init_error.lock().unwrap() = Some(serde_json::from_slice(&body).unwrap_or(Value::Null));
    (StatusCode::ACCEPTED, Json(json!({"status": "OK"}))).into_response()
}

/// A `tokenbridge lambda` child: its stderr goes to a file (no pipe to fill); killed when dropped.
struct Function {
    child: Child,
    log: PathBuf,
}

impl Function {
    fn start(dir: &Path, runtime_api: &str, args: &[&str]) -> Self {
        let log = dir.join(format!("lambda-{}.log", free_port()));
        let mut c = tb();
        c.arg("lambda").args(args).env("AWS_LAMBDA_RUNTIME_API", runtime_api);
        c.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
        Self { child: c.spawn().expect("spawn tokenbridge lambda"), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded, without blocking the emulator) for the process to exit.
    async fn exit(&mut self, limit: Duration) -> ExitStatus {
        let child = &mut self.child;
        let status = poll(limit, || {
            let s = child.try_wait().unwrap();
            async move { s }
        })
        .await;
        status.unwrap_or_else(|| panic!("tokenbridge lambda still running after {limit:?}:\n{}", self.log()))
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo's API routes (`demo_config`'s, less those for upstream tokens, which need the demo
/// provider), the demo's issuer, and its data directory.
fn write_demo_routes_config(path: &Path, base: &str, data_dir: &Path) {
    let mut authorizer = tokenbridge_demo::demo_config(base, "unused", "unused", "RS256").authorizer;
    authorizer.routes.retain(|r| r.providers.is_empty());
    assert!(authorizer.routes.iter().any(|r| r.path == "/demo/api/orders"), "{:?}", authorizer.routes);
    let mut config = toml::Table::new();
    config.insert("server".into(), toml::Value::try_from(json!({ "public_url": base })).unwrap());
    config.insert("storage".into(), toml::Value::try_from(json!({ "data_dir": data_dir })).unwrap());
    config.insert("authorizer".into(), toml::Value::try_from(&authorizer).unwrap());
    std::fs::write(path, toml::to_string(&config).unwrap()).unwrap();
}

fn token_event(token: Option<&str>, method: &str, path: &str) -> String {
    let mut e = json!({
        "type": "TOKEN",
        "methodArn": format!("arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/{method}{path}"),
    });
    if let Some(t) = token {
        e["authorizationToken"] = json!(format!("Bearer {t}"));
    }
    e.to_string()
}

async fn access_token(base: &str, info: &Value, user: &str) -> String {
    let (status, body) = exchange(base, &upstream_id_token(info, user).await).await;
    assert_eq!(status, 200, "exchange for {user}: {body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_answers_authorizer_events_and_audits_them_by_lambda_request_id() {
    let t = tmp();
    let d = t.path();
    let demo = start_demo(d, &[]).await;
    let info = demo_json(d);
    let alice = access_token(&demo.base, &info, "alice").await;
    let bob = access_token(&demo.base, &info, "bob").await;
    let config = d.join("lambda.toml");
    write_demo_routes_config(&config, &demo.base, d);

    let (api, addr) = RuntimeApi::start().await;
    let (allowed, unauthorized, forbidden, malformed, not_json) = (
        "8476a536-e9f4-11e8-9739-2dfe598c3f01",
        "8476a536-e9f4-11e8-9739-2dfe598c3f02",
        "8476a536-e9f4-11e8-9739-2dfe598c3f03",
        "8476a536-e9f4-11e8-9739-2dfe598c3f04",
        "8476a536-e9f4-11e8-9739-2dfe598c3f05",
    );
    api.push(allowed, token_event(Some(&alice), "GET", "/demo/api/hello"));
    api.push(unauthorized, token_event(None, "GET", "/demo/api/hello"));
    api.push(forbidden, token_event(Some(&bob), "POST", "/demo/api/orders"));
    api.push(malformed, json!({"type": "TOKEN", "authorizationToken": "Bearer x"}).to_string());
    api.push(not_json, "this is not JSON");

    let config_arg = config.display().to_string();
    let dir_arg = d.display().to_string();
    let mut f = Function::start(d, &addr, &["--config", &config_arg, "--data-dir", &dir_arg, "--max-events", "5"]);
    let status = f.exit(Duration::from_secs(30)).await;
    let log = f.log();
    assert!(status.success(), "lambda exited with {status}:\n{log}");
    assert_eq!(api.polls.load(Ordering::SeqCst), 5, "--max-events 5 stops before a sixth poll:\n{log}");
    assert!(api.init_error.lock().unwrap().is_none());

    // Allow: the policy, with who the caller is.
    let a = api.answer(allowed);
    assert_eq!(a.kind, "response", "{a:?}");
    assert_eq!(a.body["policyDocument"]["Statement"][0]["Effect"], "Allow", "{a:?}");
    assert_eq!(
        a.body["policyDocument"]["Statement"][0]["Resource"],
        "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/demo/api/hello"
    );
    assert_eq!(a.body["context"]["username"], "alice", "{a:?}");
    assert_eq!(a.body["context"]["request_id"], allowed);

    // No token: exactly the error API Gateway turns into 401.
    let a = api.answer(unauthorized);
    assert_eq!(a.kind, "error", "{a:?}");
    assert_eq!(a.body, json!({"errorMessage": "Unauthorized", "errorType": "Unauthorized"}));

    // Valid token, not in group admins: a Deny policy (403) naming the reason.
    let a = api.answer(forbidden);
    assert_eq!(a.kind, "response", "{a:?}");
    assert_eq!(a.body["policyDocument"]["Statement"][0]["Effect"], "Deny", "{a:?}");
    assert_eq!(a.body["context"]["status"], 403, "{a:?}");
    assert_eq!(a.body["context"]["error"], "insufficient_scope", "{a:?}");
    assert_eq!(a.body["context"]["request_id"], forbidden);
    let reason = a.body["context"]["error_description"].as_str().unwrap();
    assert!(reason.contains("needs one of groups admins"), "{a:?}");

    // Not authorizer events: errors, not policies.
    for id in [malformed, not_json] {
        let a = api.answer(id);
        assert_eq!((a.kind, a.body["errorType"].as_str()), ("error", Some("InvalidEvent")), "{a:?}");
        assert!(a.body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()), "{a:?}");
    }

    // The Lambda request id finds the decision trail.
    let explained = ok(tb_in(d, &["audit", "explain", forbidden]), None);
    assert!(explained.contains(&format!("request {forbidden}: Authorize (authorizer.tokenbridge)")), "{explained}");
    assert!(explained.contains("DENIED (insufficient_scope)"), "{explained}");
    let explained = ok(tb_in(d, &["audit", "explain", unauthorized]), None);
    assert!(explained.contains("DENIED (invalid_token)"), "{explained}");

    // JSON log lines name each decision by request id, and never carry a token.
    let lines: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!lines.is_empty(), "no JSON log lines:\n{log}");
    let logged = |id: &str| lines.iter().find(|l| l["fields"]["request_id"] == id).cloned();
    let denied = logged(unauthorized).unwrap_or_else(|| panic!("no log line for {unauthorized}:\n{log}"));
    assert_eq!(denied["level"], "INFO", "{denied}");
    assert_eq!(denied["fields"]["status"], 401, "{denied}");
    assert!(logged(forbidden).is_some(), "no log line for {forbidden}:\n{log}");
    for token in [&alice, &bob] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token is in the log:\n{log}");
    }
    drop(demo);
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_reports_start_up_failures() {
    // Outside Lambda: a clear error, nothing else.
    let mut c = tb();
    c.arg("lambda").env_remove("AWS_LAMBDA_RUNTIME_API");
    let err = fails(c, None);
    assert!(err.contains("AWS_LAMBDA_RUNTIME_API is not set"), "{err}");

    // No state to open: reported to init/error, and a non-zero exit.
    let t = tmp();
    let (api, addr) = RuntimeApi::start().await;
    let mut f = Function::start(t.path(), &addr, &[]);
    let status = f.exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(1), "{}", f.log());
    let reported = api.init_error.lock().unwrap().clone().unwrap_or_else(|| panic!("no init/error:\n{}", f.log()));
    assert_eq!(reported["errorType"], "InitError", "{reported}");
    assert!(reported["errorMessage"].as_str().unwrap().contains("no state given"), "{reported}");
    assert_eq!(api.polls.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_stops_cleanly_on_sigterm_while_waiting_for_an_event() {
    let t = tmp();
    let d = t.path();
    ok(tb_in(d, &["keys", "rotate"]), None);
    let (api, addr) = RuntimeApi::start().await;
    let dir_arg = d.display().to_string();
    let mut f = Function::start(d, &addr, &["--data-dir", &dir_arg]);
    let polling = poll(Duration::from_secs(30), || {
        let n = api.polls.load(Ordering::SeqCst);
        async move { (n > 0).then_some(()) }
    })
    .await;
    assert!(polling.is_some(), "the function never asked for an event:\n{}", f.log());

    let kill = std::process::Command::new("kill").args(["-TERM", &f.child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = f.exit(Duration::from_secs(10)).await;
    assert!(status.success(), "exited with {status} after SIGTERM:\n{}", f.log());
    assert!(f.log().contains("shutdown signal received"), "{}", f.log());
}
