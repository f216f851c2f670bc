//! What other domains may ask of a user pool: identity pools check that a token's user is still
//! a member and which roles its groups carry. They ask here instead of reading the pool's
//! records, so the records stay the user pool's own.

use super::{PoolGroup, UserPools, KIND_GROUP, KIND_MEMBER};
use crate::store::StoreError;

impl UserPools {
    /// Whether user `user_id` is a member of user pool `pool_id`.
    pub(crate) async fn is_pool_member(&self, pool_id: &str, user_id: &str) -> Result<bool, StoreError> {
        Ok(self.kernel.store.get_document(KIND_MEMBER, user_id).await?.is_some_and(|m| m.pool_id == pool_id))
    }

    /// The role ARN of each of `groups` of pool `pool_id` that has one, with the group's
    /// precedence; groups that do not exist are skipped.
    pub(crate) async fn group_roles(
        &self,
        pool_id: &str,
        groups: &[String],
    ) -> Result<Vec<(Option<i64>, String)>, StoreError> {
        let mut roles = Vec::new();
        for g in groups {
            let Some(d) = self.kernel.store.get_document(KIND_GROUP, &format!("{pool_id}/{g}")).await? else {
                continue;
            };
            let group: PoolGroup = serde_json::from_value(d.body)
                .map_err(|e| StoreError::Backend(format!("stored {} {:?} is malformed: {e}", d.kind, d.id)))?;
            roles.extend(group.role_arn.map(|arn| (group.precedence, arn)));
        }
        Ok(roles)
    }
}
