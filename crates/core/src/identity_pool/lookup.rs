//! What other domains may ask of identity pools: AppSync's explanations name the pool an
//! identity belongs to. They ask here instead of reading the pools' records.

use super::{IdentityPools, KIND_IDENTITY};
use serde_json::Value;

impl IdentityPools {
    /// `<pool id> (<pool name>)` of an identity pool identity, when it is known here (the pool
    /// id alone when the pool is gone).
    pub(crate) async fn identity_pool_of(&self, identity_id: &str) -> Option<String> {
        let d = self.kernel.store.get_document(KIND_IDENTITY, identity_id).await.ok()??;
        let pool_id = d.body.get("pool_id").and_then(Value::as_str)?.to_string();
        match self.identity_pool(&pool_id).await {
            Ok(Some(p)) => Some(format!("{pool_id} ({})", p.identity_pool_name)),
            _ => Some(pool_id),
        }
    }
}
