//! The web console: a static page that walks through the sign-in flows step by step.
//!
//! The assets are embedded in the binary (no build step, nothing fetched from elsewhere at run
//! time); `config.json` tells the page the public settings of this deployment. Two things the
//! page cannot do by itself are done here: the upstream provider's authorization-code sign-in,
//! which needs the client secret (`login`), and reading why a call was refused (`explain`).
//! With `[console] enabled = false` every `/console` path answers 404.

pub(crate) mod cookies;
mod explain;
mod login;
pub(crate) mod sealing;
mod settings;
mod steps;

use crate::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use explain::SIGNING_NAME as EXPLAIN_SIGNING_NAME;

/// The door console requests are audited under.
const EVENT_SOURCE: &str = "console.tokenbridge";

const INDEX_HTML: &str = include_str!("../../console/index.html");

/// The page's other files: name, content type, body.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("../../console/app.js")),
    ("hosted.js", JS, include_str!("../../console/hosted.js")),
    ("srp.js", JS, include_str!("../../console/srp.js")),
    ("sigv4.js", JS, include_str!("../../console/sigv4.js")),
    ("audit.js", JS, include_str!("../../console/audit.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("../../console/app.css")),
];
const JS: &str = "text/javascript; charset=utf-8";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/config.json", get(settings::config))
        .route("/console/login/{provider}", get(login::start))
        .route("/console/callback", get(login::callback))
        .route("/console/upstream", post(login::pickup))
        .route("/console/explain/{request_id}", get(explain::explain))
        .route("/console/{file}", get(asset))
}

/// Lets a request through only while the console is enabled; otherwise 404, as if nothing
/// were served here.
struct Enabled;

impl FromRequestParts<AppState> for Enabled {
    type Rejection = Response;

    async fn from_request_parts(_parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if state.engine.config().console.enabled {
            Ok(Enabled)
        } else {
            Err(missing())
        }
    }
}

fn missing() -> Response {
    (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-cache")], "not found").into_response()
}

/// The page runs only its own files and talks only to this server; the provider's pages are
/// reached by navigation, which `connect-src` does not govern.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

fn embedded(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

async fn index(_: Enabled) -> Response {
    embedded("text/html; charset=utf-8", INDEX_HTML)
}

async fn asset(_: Enabled, Path(file): Path<String>) -> Response {
    if file == "index.html" {
        return embedded("text/html; charset=utf-8", INDEX_HTML);
    }
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => embedded(content_type, body),
        None => missing(),
    }
}
