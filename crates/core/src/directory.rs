//! Users, groups, passwords and upstream links: the one user model every door shares.

use crate::clock::Clock;
use crate::model::{UpstreamLink, User};
use crate::password;
use crate::secrets::uuid_v4;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewUser {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(#[from] anyhow::Error),
}

pub struct Directory {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

pub fn validate_username(u: &str) -> Result<(), String> {
    if u.is_empty() || u.len() > 128 {
        return Err("username must be 1 to 128 characters".into());
    }
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("username {u:?} must not contain whitespace"));
    }
    Ok(())
}

impl Directory {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    #[crate::entry_point]
    pub async fn create_user(&self, new: NewUser) -> Result<User, DirectoryError> {
        validate_username(&new.username).map_err(DirectoryError::Invalid)?;
        if let Some(e) = &new.email {
            if !e.contains('@') {
                return Err(DirectoryError::Invalid(format!("email {e:?} is not an address")));
            }
        }
        let password_hash = match new.password {
            Some(p) => {
                password::check_policy(&p).map_err(DirectoryError::Invalid)?;
                Some(password::hash(p).await?)
            }
            None => None,
        };
        let now = self.clock.now();
        let user = User {
            id: uuid_v4(),
            username: new.username,
            email: new.email.map(|e| e.to_lowercase()),
            email_verified: new.email_verified,
            enabled: new.enabled,
            password_hash,
            groups: new.groups,
            attributes: new.attributes,
            created_at: now,
            updated_at: now,
        };
        self.store.create_user(&user).await?;
        Ok(user)
    }

    /// Finds a user by username, or by id.
    #[crate::entry_point]
    pub async fn find(&self, username_or_id: &str) -> Result<User, DirectoryError> {
        if let Some(u) = self.store.find_user_by_username(username_or_id).await? {
            return Ok(u);
        }
        self.store
            .get_user(username_or_id)
            .await?
            .ok_or_else(|| DirectoryError::Invalid(format!("no user {username_or_id:?}")))
    }

    /// Edits a user (found by username or id) in one atomic store update, so that concurrent
    /// edits of other fields are kept.
    async fn update(&self, username: &str, change: impl FnMut(&mut User) + Send) -> Result<User, DirectoryError> {
        let id = self.find(username).await?.id;
        match self.store.update_user_record(&id, self.clock.now(), change).await? {
            Some((u, ())) => Ok(u),
            None => Err(DirectoryError::Invalid(format!("no user {username:?}"))),
        }
    }

    /// Disabling also ends the user's sign-in sessions: refresh tokens stop working at once, and
    /// access tokens fail the authorizer's revocation check (within its cache bound).
    #[crate::entry_point]
    pub async fn set_enabled(&self, username: &str, enabled: bool) -> Result<User, DirectoryError> {
        let u = self.update(username, |u| u.enabled = enabled).await?;
        if !enabled {
            self.store.revoke_user_sessions(&u.id).await?;
        }
        Ok(u)
    }

    /// Sets the password hash only: `Engine::set_user_password` also makes a pool member's SRP
    /// verifier prove the new password, so the doors go through it.
    pub(crate) async fn set_password(&self, username: &str, password: String) -> Result<User, DirectoryError> {
        password::check_policy(&password).map_err(DirectoryError::Invalid)?;
        let hash = password::hash(password).await?;
        self.update(username, |u| u.password_hash = Some(hash.clone())).await
    }

    #[crate::entry_point]
    pub async fn set_groups(&self, username: &str, groups: Vec<String>) -> Result<User, DirectoryError> {
        self.update(username, |u| u.groups = groups.clone()).await
    }

    #[crate::entry_point]
    pub async fn link(&self, username: &str, provider: &str, subject: &str) -> Result<UpstreamLink, DirectoryError> {
        let u = self.find(username).await?;
        let link = UpstreamLink {
            provider: provider.into(),
            subject: subject.into(),
            user_id: u.id,
            created_at: self.clock.now(),
        };
        self.store.put_link(&link).await?;
        Ok(link)
    }

    #[crate::entry_point]
    pub async fn unlink(&self, provider: &str, subject: &str) -> Result<bool, DirectoryError> {
        Ok(self.store.delete_link(provider, subject).await?)
    }

    /// Users in username order, starting after `after`.
    #[crate::entry_point]
    pub async fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>, DirectoryError> {
        Ok(self.store.list_users(after, limit).await?)
    }

    /// The upstream identities linked to a user.
    #[crate::entry_point]
    pub async fn links(&self, user_id: &str) -> Result<Vec<UpstreamLink>, DirectoryError> {
        Ok(self.store.links_for_user(user_id).await?)
    }
}
