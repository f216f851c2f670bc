//! CORS for browser apps. The OAuth doors answer only origins some client lists in
//! `allowed_origins`; the set is reloaded from the store periodically, so clients added by the
//! CLI take effect. The AWS JSON door, the pools' discovery and JWKS, and the pool domains'
//! `/oauth2/token`, `/oauth2/userInfo` and `/oauth2/revoke` answer as Cognito does
//! (`aws.cors_allowed_origins`, any origin by default): they hold no ambient authority (no
//! cookies; credentials are never allowed), so a page on any origin may call them as any other
//! client may.

use axum::http::{header, HeaderValue, Method};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokenbridge_core::Engine;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

#[derive(Default)]
pub struct AllowedOrigins {
    set: RwLock<HashSet<String>>,
}

impl AllowedOrigins {
    pub async fn load(engine: &Arc<Engine>) -> anyhow::Result<Self> {
        let me = Self::default();
        me.reload(engine).await?;
        Ok(me)
    }

    pub async fn reload(&self, engine: &Engine) -> anyhow::Result<()> {
        let clients = engine.tokens().list_clients().await?;
        let set =
            clients.into_iter().flat_map(|c| c.allowed_origins).map(|o| o.trim_end_matches('/').to_string()).collect();
        *self.set.write().expect("origins lock") = set;
        Ok(())
    }

    pub fn allows(&self, origin: &str) -> bool {
        let set = self.set.read().expect("origins lock");
        set.contains(origin) || set.contains("*")
    }

    /// Reloads every `every` until the engine is dropped.
    pub fn spawn_refresh(self: &Arc<Self>, engine: &Arc<Engine>, every: Duration) {
        let me = Arc::downgrade(self);
        let engine = Arc::downgrade(engine);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let (Some(me), Some(engine)) = (me.upgrade(), engine.upgrade()) else { break };
                if let Err(e) = me.reload(&engine).await {
                    tracing::warn!(error = %e, "CORS origin reload failed");
                }
            }
        });
    }
}

pub fn layer(origins: Arc<AllowedOrigins>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| origins.allows(o))
        }))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600))
}

/// The answer headers AWS exposes to browser code.
const AWS_EXPOSED_HEADERS: [&str; 5] =
    ["x-amzn-requestid", "x-amzn-errortype", "x-amzn-errormessage", "date", "x-request-id"];

/// CORS for the AWS doors, or `None` when `aws.cors_allowed_origins` is empty.
pub fn aws_layer(allowed: &[String]) -> Option<CorsLayer> {
    if allowed.is_empty() {
        return None;
    }
    let origin = if allowed.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(allowed.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST])
            // Whatever headers the preflight names, as cognito-idp answers: the SDKs send their
            // own (X-Amz-Target, X-Amz-User-Agent, amz-sdk-*, and Cache-Control from
            // amazon-cognito-identity-js), and with no credentials allowed a header grants nothing.
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers(AWS_EXPOSED_HEADERS.map(header::HeaderName::from_static))
            .max_age(Duration::from_secs(600)),
    )
}
