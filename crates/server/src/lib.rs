//! HTTP front doors of tokenbridge: thin protocol adapters over the engine.
//!
//! Each adapter parses its protocol into an engine call and renders the answer (or the denial)
//! in the same protocol. Nothing here decides whether a token is good.

pub mod admin;
pub mod apigw;
pub mod aws;
pub mod cloudtrail;
pub mod console;
pub mod context;
pub mod cors;
pub mod discovery;
pub mod errors;
pub mod exchange;
pub mod forward_auth;
pub mod hosted;
pub mod identity_pools;
pub mod oauth2;
pub mod ops;
pub mod query;
pub mod ratelimit;
pub mod serving;
pub mod tls;

use axum::Router;
use std::sync::Arc;
use tokenbridge_core::Engine;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub limits: Arc<ratelimit::Limits>,
    pub origins: Arc<cors::AllowedOrigins>,
    /// `server.trusted_proxies`, parsed (see [`context`]).
    pub proxies: Arc<[tokenbridge_core::authorizer::rules::Network]>,
    /// The sample APIs the console page offers to call (its `config.json`'s `demo`), set by
    /// whoever mounts them beside the doors (`tokenbridge demo`); none by default.
    pub sample_apis: Option<Arc<serde_json::Value>>,
}

impl AppState {
    #[tokenbridge_core::entry_point]
    pub async fn new(engine: Arc<Engine>) -> anyhow::Result<Self> {
        // Install the recorder before the first request, so nothing recorded earlier is lost.
        ops::metrics_handle();
        let limits = Arc::new(ratelimit::Limits::new(&engine.config().rate_limits));
        let origins = Arc::new(cors::AllowedOrigins::load(&engine).await?);
        let proxies = engine
            .config()
            .server
            .trusted_proxies
            .iter()
            .map(|p| tokenbridge_core::authorizer::rules::Network::parse(p).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { engine, limits, origins, proxies, sample_apis: None })
    }
}

/// The whole HTTP surface. `extra` is merged in: routes served beside the doors, such as the
/// demo's upstream provider and sample APIs (crates/demo).
pub fn router(state: AppState, extra: Option<Router>) -> Router {
    let browser_facing = Router::new()
        .merge(exchange::routes())
        .merge(oauth2::routes())
        .merge(discovery::routes())
        .layer(cors::layer(state.origins.clone()));
    let mut aws_doors = aws::routes(state.engine.config().aws.path_prefix.as_deref());
    let mut hosted_endpoints = hosted::endpoint_routes();
    if let Some(cors) = cors::aws_layer(&state.engine.config().aws.cors_allowed_origins) {
        aws_doors = aws_doors.layer(cors.clone());
        hosted_endpoints = hosted_endpoints.layer(cors);
    }
    let mut app = Router::new()
        .merge(browser_facing)
        .merge(ops::routes())
        .merge(forward_auth::routes())
        .merge(apigw::routes())
        .merge(admin::routes())
        .merge(console::routes())
        .merge(hosted::routes())
        .merge(hosted_endpoints)
        .merge(aws_doors)
        .with_state(state.clone());
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    let suffix = state.engine.config().server.auth_domain_suffix.clone();
    let app = app.layer(axum::middleware::from_fn_with_state(state, context::middleware));
    hosted::with_domain_hosts(app, suffix)
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish (for up to 30 s), with
/// the default connection bounds of `[server]`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with_grace(listener, app, shutdown, std::time::Duration::from_secs(30)).await
}

/// Like [`serve`], with the grace period in-flight requests get after `shutdown`.
pub async fn serve_with_grace(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> anyhow::Result<()> {
    serve_with(listener, app, shutdown, serving::Serving { grace, ..Default::default() }).await
}

/// Like [`serve`], with the connection bounds and grace of `serving` (see [`serving`]).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    serving: serving::Serving,
) -> anyhow::Result<()> {
    serving::run(listener, app, Box::pin(shutdown), serving).await
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
