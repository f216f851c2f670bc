//! Per-request context: a request id on every response, the caller's address and user agent,
//! and latency metrics.

use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use tokenbridge_core::audit::RequestContext;

#[derive(Clone)]
struct RequestMeta {
    request_id: String,
    source_ip: String,
    user_agent: String,
}

pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let request_id = tokenbridge_core::secrets::uuid_v4();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default();
    let forwarded = state
        .engine
        .config
        .server
        .trust_forwarded_for
        .then(|| {
            req.headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|s| s.trim().to_string())
        })
        .flatten();
    let user_agent =
        req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(256).collect();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "other".into());
    let method = req.method().to_string();
    req.extensions_mut().insert(RequestMeta {
        request_id: request_id.clone(),
        source_ip: forwarded.unwrap_or(peer),
        user_agent,
    });
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let status = resp.status().as_u16().to_string();
    metrics::histogram!("tokenbridge_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone()).record(started.elapsed().as_secs_f64());
    metrics::counter!("tokenbridge_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    resp
}

/// Extracts the [`RequestContext`] the engine records; `event_source` is set by the handler.
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let meta = parts.extensions.get::<RequestMeta>().cloned();
        let mut ctx = RequestContext::new("tokenbridge");
        if let Some(m) = meta {
            ctx.request_id = m.request_id;
            ctx.source_ip = m.source_ip;
            ctx.user_agent = m.user_agent;
        }
        Ok(Ctx(ctx))
    }
}

impl Ctx {
    pub fn door(mut self, event_source: &str) -> RequestContext {
        self.0.event_source = event_source.to_string();
        self.0
    }
}
