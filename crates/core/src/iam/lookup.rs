//! What other domains may ask of IAM: identity pools look up the roles their mappings name.
//! They ask here instead of reading IAM's records, so the records stay IAM's own.

use super::{Iam, Role, KIND_ROLE};
use crate::store::StoreError;

impl Iam {
    /// The role named `name`, if there is one.
    pub(crate) async fn stored_role(&self, name: &str) -> Result<Option<Role>, StoreError> {
        let Some(d) = self.kernel.store.get_document(KIND_ROLE, name).await? else { return Ok(None) };
        serde_json::from_value(d.body)
            .map(Some)
            .map_err(|e| StoreError::Backend(format!("stored {} {:?} is malformed: {e}", d.kind, d.id)))
    }
}
