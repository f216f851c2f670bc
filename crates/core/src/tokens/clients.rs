//! The OAuth clients: kept in the store (the configured ones written there by
//! `Engine::provision`), read through a short cache, and authenticated by their secret.

use super::TokenService;
use super::{deny, ClientCredentials};
use crate::config::canonical_grant;
use crate::jose::sha256_hex;
use crate::model::Client;
use crate::refusal::{Reason, Refusal};
use crate::secrets::{matches_sha256, random_secret};
use crate::trail::Trail;
use std::sync::Arc;

/// The longest client id the client cache keeps as a key.
const MAX_CACHED_CLIENT_ID: usize = 256;

/// Hashes a client secret for storage.
pub fn client_secret_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

pub fn client_from_config(c: &crate::config::ClientConfig) -> Client {
    Client {
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        secret_sha256: c.secret_sha256.clone().or_else(|| c.secret.as_deref().map(client_secret_hash)),
        grant_types: c.grant_types.iter().filter_map(|g| canonical_grant(g)).map(str::to_string).collect(),
        providers: c.providers.clone(),
        scopes: c.scopes.clone(),
        access_token_ttl: c.access_token_ttl,
        id_token_ttl: c.id_token_ttl,
        refresh_token_ttl: c.refresh_token_ttl,
        allowed_origins: c.allowed_origins.clone(),
    }
}

impl TokenService {
    pub(crate) async fn client_record(&self, id: &str) -> Result<Option<Arc<Client>>, Refusal> {
        self.client(id).await
    }

    async fn client(&self, id: &str) -> Result<Option<Arc<Client>>, Refusal> {
        // An id longer than any client's is not kept as a cache key (a burst of huge distinct ids
        // would otherwise stay in memory for the cache's lifetime).
        if id.len() > MAX_CACHED_CLIENT_ID {
            return self.kernel.store.get_client(id).await.map(|c| c.map(Arc::new)).map_err(Refusal::storage);
        }
        let store = self.kernel.store.clone();
        let key = id.to_string();
        self.clients
            .try_get_with(key.clone(), async move { store.get_client(&key).await.map(|c| c.map(Arc::new)) })
            .await
            .map_err(Refusal::storage)
    }

    /// Authenticates a client. A client with a secret must present it unless `secret_optional`.
    pub(super) async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
        secret_optional: bool,
        trail: &mut Trail,
    ) -> Result<Arc<Client>, Refusal> {
        let Some(id) = creds.client_id.as_deref() else {
            return Err(deny(
                trail,
                Reason::InvalidClient,
                "client",
                "no client_id given (use HTTP Basic or client_id)",
            ));
        };
        let Some(client) = self.client(id).await? else {
            return Err(deny(trail, Reason::InvalidClient, "client", format!("unknown client {id:?}")));
        };
        match (&client.secret_sha256, &creds.client_secret) {
            (Some(hash), Some(secret)) => {
                if !matches_sha256(secret, hash) {
                    return Err(deny(
                        trail,
                        Reason::InvalidClient,
                        "client",
                        format!("client secret for {id:?} does not match"),
                    ));
                }
                trail.pass("client", format!("{id} authenticated by secret"));
            }
            (Some(_), None) if !secret_optional => {
                return Err(deny(
                    trail,
                    Reason::InvalidClient,
                    "client",
                    format!("client {id:?} is confidential; its secret is required"),
                ));
            }
            (None, Some(_)) => {
                return Err(deny(
                    trail,
                    Reason::InvalidClient,
                    "client",
                    format!("client {id:?} is public and has no secret"),
                ));
            }
            _ => trail.pass("client", format!("{id} (public or named client)")),
        }
        Ok(client)
    }

    /// The registered clients (configured ones included, once provisioned).
    #[crate::entry_point]
    pub async fn list_clients(&self) -> crate::store::StoreResult<Vec<Client>> {
        self.kernel.store.list_clients().await
    }

    /// Registers or replaces a client; returns its plain secret when one was generated.
    #[crate::entry_point]
    pub async fn put_client(&self, mut client: Client, generate_secret: bool) -> anyhow::Result<Option<String>> {
        let secret = generate_secret.then(random_secret);
        if let Some(s) = &secret {
            client.secret_sha256 = Some(client_secret_hash(s));
        }
        self.kernel.store.put_client(&client).await?;
        self.clients.invalidate(&client.client_id).await;
        Ok(secret)
    }

    /// Removes a client; tokens already issued to it stay valid until they expire.
    #[crate::entry_point]
    pub async fn remove_client(&self, client_id: &str) -> anyhow::Result<bool> {
        let existed = self.kernel.store.delete_client(client_id).await?;
        self.clients.invalidate(client_id).await;
        Ok(existed)
    }
}
