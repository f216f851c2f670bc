//! The token service: RFC 8693 token exchange, refresh-token rotation, RFC 7009 revocation,
//! RFC 7662 introspection and OIDC UserInfo, the OAuth clients they authenticate, and the
//! minting of token sets (also for user pools).
//!
//! Each operation runs its checks in order, recording them on a [`Trail`]; it is run through
//! the kernel's runner, which writes one audit record per call (success or denial), and returns
//! either its result or a [`Refusal`] naming the failed check. Adapters only parse and render.

mod clients;
mod exchange;
mod introspection;
mod issue;
mod refresh;
mod revocation;

pub use clients::{client_from_config, client_secret_hash};
pub(crate) use issue::SignInFacts;

use crate::authorizer::Authorizer;
use crate::kernel::Kernel;
use crate::model::Client;
use crate::refusal::{Reason, Refusal};
use crate::trail::Trail;
use crate::upstream::{Rejection, SubjectTokenType};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// The token service over its own records (OAuth clients, refresh families, replay markers),
/// with a short cache of the clients; it tells the authorizer when a refresh family is revoked,
/// so a cached token of it stops being accepted at once.
pub struct TokenService {
    kernel: Arc<Kernel>,
    authorizer: Arc<Authorizer>,
    clients: moka::future::Cache<String, Option<Arc<Client>>>,
}

impl TokenService {
    pub(crate) fn new(kernel: Arc<Kernel>, authorizer: Arc<Authorizer>) -> Self {
        let clients = moka::future::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(5)).build();
        Self { kernel, authorizer, clients }
    }
}

/// Client credentials as the request carried them.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExchangeRequest {
    pub client: ClientCredentials,
    /// `/auth/exchange` may name no client: the provider's default client is used.
    pub client_optional: bool,
    pub subject_token: String,
    pub subject_token_type: SubjectTokenType,
    pub provider: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<String>,
    pub requested_token_type: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenSet {
    pub access_token: String,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    pub scope: String,
    /// The refresh family (the sign-in session) the tokens belong to: never sent.
    #[serde(skip)]
    pub family_id: String,
}

/// Turns an upstream rejection into a refusal carrying the trail so far.
fn denied(trail: &mut Trail, r: Rejection) -> Refusal {
    std::mem::take(trail).deny(r.reason, r.check, r.detail)
}

fn deny(trail: &mut Trail, reason: Reason, check: &str, detail: impl Into<String>) -> Refusal {
    std::mem::take(trail).deny(reason, check, detail)
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}
