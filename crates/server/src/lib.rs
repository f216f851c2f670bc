//! HTTP front doors of tokenbridge: thin protocol adapters over the engine.
//!
//! Each adapter parses its protocol into an engine call and renders the answer (or the denial)
//! in the same protocol. Nothing here decides whether a token is good.

pub mod context;
pub mod cors;
pub mod demo;
pub mod demo_idp;
pub mod discovery;
pub mod errors;
pub mod exchange;
pub mod oauth2;
pub mod ops;
pub mod ratelimit;

use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tokenbridge_core::Engine;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub limits: Arc<ratelimit::Limits>,
    pub origins: Arc<cors::AllowedOrigins>,
}

impl AppState {
    pub async fn new(engine: Arc<Engine>) -> anyhow::Result<Self> {
        let limits = Arc::new(ratelimit::Limits::new(&engine.config.rate_limits));
        let origins = Arc::new(cors::AllowedOrigins::load(&engine).await?);
        Ok(Self { engine, limits, origins })
    }
}

/// The whole HTTP surface. `extra` is merged in (the demo upstream provider, in `demo`).
pub fn router(state: AppState, extra: Option<Router>) -> Router {
    let browser_facing = Router::new()
        .merge(exchange::routes())
        .merge(oauth2::routes())
        .merge(discovery::routes())
        .layer(cors::layer(state.origins.clone()));
    let mut app = Router::new().merge(browser_facing).merge(ops::routes()).with_state(state.clone());
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    app.layer(axum::middleware::from_fn_with_state(state, context::middleware))
}

/// Serves until SIGTERM/SIGINT (or `shutdown` resolves), letting in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
