//! Operations: liveness, readiness, Prometheus metrics.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

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
    match state.engine.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready".to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")),
    }
}

async fn prometheus() -> impl IntoResponse {
    let handle = metrics_handle();
    handle.run_upkeep();
    ([("content-type", "text/plain; version=0.0.4")], handle.render())
}
