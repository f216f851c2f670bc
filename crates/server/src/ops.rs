//! Operations: liveness, readiness, Prometheus metrics.
//!
//! Metrics are closed by default: on the main address `/metrics` answers only the bearer token of
//! `metrics.token`; `metrics.listen` serves them on a separate address (for a network only the
//! scraper reaches) without one.

use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tokenbridge_core::jose::sha256_hex;
use tokenbridge_core::secrets::matches_sha256;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide metrics recorder once (several servers in one test process share it).
pub fn metrics_handle() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only when another recorder is installed already; metrics then go there.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(prometheus))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.engine.store_ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")),
    }
}

/// `/metrics` on the main address: only with the configured token.
async fn prometheus(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.engine.config().metrics.token else {
        let why = "metrics are not served on this address: set metrics.token (scrape with Authorization: Bearer) \
                   or metrics.listen (a separate address)";
        return (StatusCode::NOT_FOUND, why).into_response();
    };
    let presented = crate::oauth2::bearer(&headers).unwrap_or_default();
    // Hashes first, so the comparison does not tell the token's length either.
    if !matches_sha256(presented, &sha256_hex(token.as_bytes())) {
        let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"tokenbridge-metrics\"")];
        return (StatusCode::UNAUTHORIZED, challenge, "metrics need Authorization: Bearer <metrics.token>")
            .into_response();
    }
    render().into_response()
}

fn render() -> impl IntoResponse {
    let handle = metrics_handle();
    handle.run_upkeep();
    ([("content-type", "text/plain; version=0.0.4")], handle.render())
}

/// Serves `GET /metrics`, and nothing else, to whoever reaches `listener` (`metrics.listen`).
#[tokenbridge_core::entry_point]
pub async fn serve_metrics(listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    metrics_handle();
    let app = Router::new().route("/metrics", get(|| async { render() }));
    axum::serve(listener, app).await?;
    Ok(())
}
