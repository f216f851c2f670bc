//! The real SQLite store with one switch: audit records can be made to fail, as a full disk or a
//! lost database would fail them, to prove that no answer leaves without its record. Everything
//! else goes to the store unchanged.

use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokenbridge_core::model::*;
use tokenbridge_core::store::{DocumentKey, DocumentUpdater, DocumentsUpdater, StoreError, StoreResult, UserUpdater};
use tokenbridge_core::Store;

pub struct AuditSwitch {
    inner: Arc<dyn Store>,
    failing: AtomicBool,
}

impl AuditSwitch {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner, failing: AtomicBool::new(false) }
    }

    /// From now on every audit record fails to be written (`true`), or is written again.
    pub fn fail_audit(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl Store for AuditSwitch {
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("the audit table cannot be written (test switch)".into()));
        }
        self.inner.append_audit(record).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.inner.create_user(user).await
    }
    async fn update_user_with(&self, id: &str, updater: &mut UserUpdater<'_>) -> StoreResult<Option<User>> {
        self.inner.update_user_with(id, updater).await
    }
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        self.inner.get_user(id).await
    }
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_username(username).await
    }
    async fn find_users_by_email(&self, email: &str) -> StoreResult<Vec<User>> {
        self.inner.find_users_by_email(email).await
    }
    async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        self.inner.list_users(after, limit).await
    }
    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        self.inner.delete_user(id).await
    }
    async fn put_link(&self, link: &UpstreamLink) -> StoreResult<()> {
        self.inner.put_link(link).await
    }
    async fn delete_link(&self, provider: &str, subject: &str) -> StoreResult<bool> {
        self.inner.delete_link(provider, subject).await
    }
    async fn find_link(&self, provider: &str, subject: &str) -> StoreResult<Option<UpstreamLink>> {
        self.inner.find_link(provider, subject).await
    }
    async fn links_for_user(&self, user_id: &str) -> StoreResult<Vec<UpstreamLink>> {
        self.inner.links_for_user(user_id).await
    }
    async fn put_client(&self, client: &Client) -> StoreResult<()> {
        self.inner.put_client(client).await
    }
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        self.inner.get_client(client_id).await
    }
    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.inner.list_clients().await
    }
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        self.inner.delete_client(client_id).await
    }
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        self.inner.insert_signing_key(key).await
    }
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.inner.list_signing_keys().await
    }
    async fn activate_signing_key(&self, kid: &str, retire_publish_until: i64) -> StoreResult<()> {
        self.inner.activate_signing_key(kid, retire_publish_until).await
    }
    async fn purge_retired_keys(&self, now: i64) -> StoreResult<u64> {
        self.inner.purge_retired_keys(now).await
    }
    async fn replace_signing_key_private(&self, kid: &str, expected: &[u8], new: &[u8]) -> StoreResult<bool> {
        self.inner.replace_signing_key_private(kid, expected, new).await
    }
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()> {
        self.inner.insert_refresh_token(token).await
    }
    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshTokenRecord>> {
        self.inner.get_refresh_token(token_hash).await
    }
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
    ) -> StoreResult<RotateOutcome> {
        self.inner.rotate_refresh_token(old_hash, new, now).await
    }
    async fn retry_refresh_rotation(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
        rotated_since: i64,
    ) -> StoreResult<bool> {
        self.inner.retry_refresh_rotation(old_hash, new, now, rotated_since).await
    }
    async fn revoke_refresh_family(&self, family_id: &str) -> StoreResult<u64> {
        self.inner.revoke_refresh_family(family_id).await
    }
    async fn refresh_family_active(&self, family_id: &str) -> StoreResult<bool> {
        self.inner.refresh_family_active(family_id).await
    }
    async fn revoke_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        self.inner.revoke_user_sessions(user_id).await
    }
    async fn insert_replay_marker(&self, token_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        self.inner.insert_replay_marker(token_hash, expires_at, now).await
    }
    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        self.inner.purge_expired(now).await
    }
    async fn lookup_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        self.inner.lookup_audit(query).await
    }
    async fn purge_audit_before(&self, time: i64) -> StoreResult<u64> {
        self.inner.purge_audit_before(time).await
    }
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.inner.get_setting(key).await
    }
    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        self.inner.put_setting(key, value).await
    }
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
        self.inner.put_setting_if_absent(key, value).await
    }
    async fn replace_setting(&self, key: &str, expected: &str, new: &str) -> StoreResult<bool> {
        self.inner.replace_setting(key, expected, new).await
    }
    async fn insert_document(&self, doc: &Document) -> StoreResult<()> {
        self.inner.insert_document(doc).await
    }
    async fn update_document_with(
        &self,
        kind: &str,
        id: &str,
        updater: &mut DocumentUpdater<'_>,
    ) -> StoreResult<Option<Document>> {
        self.inner.update_document_with(kind, id, updater).await
    }
    async fn update_documents_with(
        &self,
        keys: &[DocumentKey],
        updater: &mut DocumentsUpdater<'_>,
    ) -> StoreResult<Vec<Option<Document>>> {
        self.inner.update_documents_with(keys, updater).await
    }
    async fn get_document(&self, kind: &str, id: &str) -> StoreResult<Option<Document>> {
        self.inner.get_document(kind, id).await
    }
    async fn list_documents(
        &self,
        kind: &str,
        pool_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Document>> {
        self.inner.list_documents(kind, pool_id, after, limit).await
    }
    async fn delete_document(&self, kind: &str, id: &str) -> StoreResult<bool> {
        self.inner.delete_document(kind, id).await
    }
    async fn delete_pool_documents(&self, pool_id: &str) -> StoreResult<u64> {
        self.inner.delete_pool_documents(pool_id).await
    }
    async fn insert_auth_session(&self, session: &AuthSession) -> StoreResult<()> {
        self.inner.insert_auth_session(session).await
    }
    async fn get_auth_session(&self, id_hash: &str) -> StoreResult<Option<AuthSession>> {
        self.inner.get_auth_session(id_hash).await
    }
    async fn fail_auth_session(&self, id_hash: &str) -> StoreResult<Option<u32>> {
        self.inner.fail_auth_session(id_hash).await
    }
    async fn take_auth_session(&self, id_hash: &str) -> StoreResult<bool> {
        self.inner.take_auth_session(id_hash).await
    }
}
