//! `tokenbridge lambda`: the API Gateway authorizer as an AWS Lambda function (custom runtime,
//! `provided.al2023`), speaking the Lambda Runtime API directly.
//!
//! Each invocation is one authorizer event, decided as `POST /authorizer` decides it. API Gateway
//! answers 401 only for the error `Unauthorized`, so a 401 denial is that error; every other
//! decision is the policy itself (Allow, or Deny for a 403).
//!
//! The engine must open the servers' storage (PostgreSQL via `storage.url` or
//! `TOKENBRIDGE_STORAGE_URL`) with their master key and `server.public_url`, or their tokens do
//! not verify here.

use crate::cli::{Global, LambdaArgs};
use crate::state::{init_logging, load_config, open_engine, require_existing_store};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::Engine;
use tokenbridge_server::apigw::{self, EventError};

const EVENT_SOURCE: &str = "authorizer.tokenbridge";
/// Bound on posting a result; the long poll for the next event has none (Lambda freezes the
/// process inside it between invocations).
const POST_TIMEOUT: Duration = Duration::from_secs(30);

#[tokenbridge_core::entry_point(?Send)]
pub async fn run(g: &Global, a: LambdaArgs) -> anyhow::Result<()> {
    // Checked before anything else: outside Lambda there is nobody to report to.
    let runtime = Runtime::from_env()?;
    // JSON lines by default: what CloudWatch Logs indexes.
    init_logging(g.log_format.as_deref().unwrap_or("json"));
    let engine = match open(g).await {
        Ok(e) => e,
        Err(e) => {
            let body = error_body("InitError", &format!("{e:#}"));
            if let Err(post) = runtime.post("init/error", &body, true).await {
                tracing::warn!(error = %format!("{post:#}"), "could not report the init error");
            }
            return Err(e);
        }
    };
    let storage = match &engine.config().storage.url {
        Some(u) if u.starts_with("postgres") => "postgres",
        _ => "sqlite",
    };
    tracing::info!(issuer = %engine.issuer(), storage, "tokenbridge lambda waiting for invocations");

    let shutdown = tokenbridge_server::shutdown_signal();
    tokio::pin!(shutdown);
    let mut handled: u64 = 0;
    while a.max_events.is_none_or(|max| handled < max) {
        let invocation = tokio::select! {
            // A signal that came during the last invocation wins over the next poll.
            biased;
            _ = &mut shutdown => break,
            next = runtime.next() => next?,
        };
        handle(&engine, &runtime, invocation).await?;
        handled += 1;
    }
    tracing::info!(invocations = handled, "tokenbridge lambda stopping");
    Ok(())
}

async fn open(g: &Global) -> anyhow::Result<Arc<Engine>> {
    let cfg = load_config(g)?;
    // A mistyped data dir would otherwise be a fresh, empty database that denies every token.
    require_existing_store(&cfg)?;
    open_engine(cfg).await
}

/// One event from `invocation/next`.
struct Invocation {
    request_id: String,
    event: Result<Value, String>,
}

/// What an invocation is answered with.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// `invocation/{id}/response`.
    Policy(Value),
    /// `invocation/{id}/error`.
    Error { error_type: &'static str, message: String },
}

fn outcome(result: Result<Value, EventError>) -> Outcome {
    match result {
        Ok(p) if p.pointer("/context/status").and_then(Value::as_u64) == Some(401) => {
            Outcome::Error { error_type: "Unauthorized", message: "Unauthorized".into() }
        }
        Ok(p) => Outcome::Policy(p),
        Err(EventError::Malformed(m)) => Outcome::Error { error_type: "InvalidEvent", message: m },
        Err(EventError::Unavailable(m)) => Outcome::Error { error_type: "Unavailable", message: m },
    }
}

fn error_body(error_type: &str, message: &str) -> Value {
    json!({ "errorMessage": message, "errorType": error_type })
}

async fn handle(engine: &Engine, runtime: &Runtime, invocation: Invocation) -> anyhow::Result<()> {
    let id = invocation.request_id;
    let mut ctx = RequestContext::new(EVENT_SOURCE);
    // The Lambda request id: CloudWatch shows it with the invocation, and `audit explain` finds it.
    ctx.request_id = id.clone();
    let result = match invocation.event {
        Ok(event) => apigw::decide(engine, &event, ctx).await,
        Err(m) => Err(EventError::Malformed(m)),
    };
    log_decision(&id, &result);
    match outcome(result) {
        Outcome::Policy(p) => runtime.post(&format!("invocation/{id}/response"), &p, false).await,
        Outcome::Error { error_type, message } => {
            runtime.post(&format!("invocation/{id}/error"), &error_body(error_type, &message), true).await
        }
    }
}

/// One line per decision; the reasons never carry the token.
fn log_decision(request_id: &str, result: &Result<Value, EventError>) {
    match result {
        Ok(p) => {
            let s = |k: &str| p["context"][k].as_str().unwrap_or_default().to_string();
            match p["context"]["status"].as_u64() {
                None => tracing::info!(request_id, route = s("route"), username = s("username"), "allowed"),
                Some(status) => {
                    tracing::info!(request_id, status, error = s("error"), reason = s("error_description"), "denied")
                }
            }
        }
        Err(EventError::Malformed(m)) => tracing::warn!(request_id, reason = %m, "not an authorizer event"),
        Err(EventError::Unavailable(m)) => tracing::error!(request_id, reason = %m, "cannot decide"),
    }
}

/// The Lambda Runtime API (version 2018-06-01) at `AWS_LAMBDA_RUNTIME_API`.
struct Runtime {
    http: reqwest::Client,
    base: String,
}

impl Runtime {
    fn from_env() -> anyhow::Result<Self> {
        let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .context(
                "AWS_LAMBDA_RUNTIME_API is not set: `tokenbridge lambda` runs inside AWS Lambda, \
                 which sets it to the Runtime API's host:port",
            )?;
        // No client-wide timeout: `invocation/next` is a long poll.
        let http = reqwest::Client::builder().build().context("HTTP client")?;
        Ok(Self { http, base: format!("http://{api}/2018-06-01/runtime") })
    }

    async fn next(&self) -> anyhow::Result<Invocation> {
        let r = self
            .http
            .get(format!("{}/invocation/next", self.base))
            .send()
            .await
            .context("Runtime API: GET invocation/next")?;
        let status = r.status();
        if !status.is_success() {
            bail!("Runtime API: invocation/next answered {status}: {}", r.text().await.unwrap_or_default());
        }
        let request_id = r
            .headers()
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .context("Runtime API: invocation/next has no Lambda-Runtime-Aws-Request-Id")?
            .to_string();
        let body = r.bytes().await.context("Runtime API: reading the event")?;
        let event = serde_json::from_slice(&body).map_err(|e| format!("the event is not JSON: {e}"));
        Ok(Invocation { request_id, event })
    }

    /// Posts a result. A 4xx refuses only this answer (unknown id, too large): logged, and the
    /// loop goes on; a 5xx means the environment is broken and the runtime must exit.
    async fn post(&self, path: &str, body: &Value, is_error: bool) -> anyhow::Result<()> {
        let mut req = self.http.post(format!("{}/{path}", self.base)).timeout(POST_TIMEOUT).json(body);
        if is_error {
            req = req.header("Lambda-Runtime-Function-Error-Type", "Unhandled");
        }
        let r = req.send().await.with_context(|| format!("Runtime API: POST {path}"))?;
        let status = r.status();
        if status.is_success() {
            return Ok(());
        }
        let text = r.text().await.unwrap_or_default();
        if status.is_server_error() {
            bail!("Runtime API: POST {path} answered {status}: {text}");
        }
        tracing::error!(%status, body = %text, "Runtime API refused POST {path}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(effect: &str, context: Value) -> Value {
        json!({ "principalId": "p", "policyDocument": { "Statement": [{ "Effect": effect }] }, "context": context })
    }

    #[test]
    fn decisions_map_to_answers() {
        let allow = policy("Allow", json!({ "username": "alice" }));
        assert_eq!(outcome(Ok(allow.clone())), Outcome::Policy(allow));
        let forbidden = policy("Deny", json!({ "status": 403, "error": "insufficient_scope" }));
        assert_eq!(outcome(Ok(forbidden.clone())), Outcome::Policy(forbidden));
        let unauthorized = policy("Deny", json!({ "status": 401, "error": "invalid_token" }));
        assert_eq!(
            outcome(Ok(unauthorized)),
            Outcome::Error { error_type: "Unauthorized", message: "Unauthorized".into() }
        );
        assert_eq!(
            outcome(Err(EventError::Malformed("no methodArn".into()))),
            Outcome::Error { error_type: "InvalidEvent", message: "no methodArn".into() }
        );
        assert_eq!(
            outcome(Err(EventError::Unavailable("storage down".into()))),
            Outcome::Error { error_type: "Unavailable", message: "storage down".into() }
        );
    }
}
