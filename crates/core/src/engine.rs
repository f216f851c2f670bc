//! The engine: every decision, once, whatever door the request came in by.
//!
//! `Engine` is the composition root. It opens the kernel on a store without writing to it
//! ([`Engine::open`]; the kernel holds what the domains share), builds one service per domain
//! over the kernel and gives the doors each through its accessor: the token service
//! ([`Engine::tokens`]), user pools ([`Engine::user_pools`]), identity pools
//! ([`Engine::identity_pools`]), IAM and STS ([`Engine::iam`]), the authorizer
//! ([`Engine::authorizer`]) and AppSync ([`Engine::appsync`]). It checks the configuration by
//! each domain's parser ([`Engine::validate_config`]) and writes what the configuration declares
//! into the store ([`Engine::provision`]), which a serving instance runs after opening it. No
//! domain imports this module.

use crate::appsync::AppSync;
use crate::audit::{AuditReader, RequestContext};
use crate::authorizer::Authorizer;
use crate::clock::Clock;
use crate::config::Config;
use crate::directory::{Directory, DirectoryError};
use crate::hosted_signin::HostedSignIn;
use crate::iam::Iam;
use crate::identity_pool::IdentityPools;
use crate::issuer::KeyRing;
use crate::kernel::Kernel;
use crate::model::{AuditQuery, AuditRecord, AuthSession, User};
use crate::refusal::Refusal;
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::tokens::TokenService;
use crate::userpool::UserPools;
use std::sync::Arc;

pub use crate::kernel::ADMIN_TOKEN_SETTING;
// The token service's types, where the doors have always found them.
pub use crate::tokens::{client_from_config, client_secret_hash, ClientCredentials, ExchangeRequest, TokenSet};

mod validation;

/// The kernel and the domain services over it. The doors reach a domain through its accessor
/// and what is engine-wide through methods that answer their questions (the store is never
/// handed out).
pub struct Engine {
    kernel: Arc<Kernel>,
    authorizer: Arc<Authorizer>,
    tokens: Arc<TokenService>,
    iam: Arc<Iam>,
    user_pools: Arc<UserPools>,
    identity_pools: Arc<IdentityPools>,
    appsync: Arc<AppSync>,
    hosted_signin: Arc<HostedSignIn>,
}

impl Engine {
    /// Opens the engine on a store, writing nothing to it: the configuration is checked, the
    /// kernel is opened (the upstream registry built, the signing keys read as they are) and the
    /// domain services are built on it, each given the services it asks. What the configuration
    /// declares reaches the store with [`Engine::provision`], which a serving instance runs next;
    /// a command that reads or manages state opens the engine only.
    #[crate::entry_point]
    pub async fn open(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        master: Option<MasterKey>,
    ) -> anyhow::Result<Arc<Self>> {
        Self::validate_config(&config)?;
        let kernel = Arc::new(Kernel::open(config, store, clock, master).await?);
        let authorizer = Arc::new(Authorizer::new(kernel.clone()).map_err(|(key, e)| anyhow::anyhow!("{key}: {e}"))?);
        let iam = Arc::new(Iam::new(kernel.clone()));
        let tokens = Arc::new(TokenService::new(kernel.clone(), authorizer.clone()));
        let user_pools = Arc::new(UserPools::new(kernel.clone(), tokens.clone(), authorizer.clone()));
        let identity_pools = Arc::new(IdentityPools::new(kernel.clone(), iam.clone(), user_pools.clone()));
        let appsync = Arc::new(AppSync::new(kernel.clone(), iam.clone(), user_pools.clone(), identity_pools.clone()));
        let hosted_signin = Arc::new(HostedSignIn::new(kernel.clone(), user_pools.clone()));
        Ok(Arc::new(Self { kernel, authorizer, tokens, iam, user_pools, identity_pools, appsync, hosted_signin }))
    }

    /// Writes into the store what a serving instance needs, as `serve` and `demo` do at start: the
    /// configured clients, the first signing key (keys sealed with the master key), the configured
    /// user pools and roles, and the server secrets sealed. Instances starting together on one
    /// store may all run it.
    #[crate::entry_point]
    pub async fn provision(&self) -> anyhow::Result<()> {
        for c in &self.kernel.config.clients {
            self.tokens.put_client(client_from_config(c), false).await?;
        }
        self.kernel.keys.prepare(None).await?;
        self.configured_user_pools().await?;
        self.configured_roles().await?;
        // Loaded now, so a key kept unsealed is resealed (with a master key) at start.
        self.iam.session_key().await.map_err(|e| anyhow::anyhow!("the STS session key: {}", e.message))?;
        if let Some(m) = self.kernel.master.as_deref() {
            // Secrets written unsealed (before the master key) or in the older unbound form are
            // sealed bound to their names now, not when they are first used.
            for setting in SERVER_SECRET_SETTINGS {
                crate::secrets::reseal_server_secret(self.kernel.store.as_ref(), m, setting).await?;
            }
            self.user_pools.reseal_client_secrets(m).await?;
        }
        if self.kernel.master.is_none() {
            tracing::warn!(
                "no master key configured (TOKENBRIDGE_MASTER_KEY or issuer.master_key_file): private signing \
                 keys, server keys and user-pool app-client secrets are stored unsealed"
            );
        }
        Ok(())
    }

    /// Creates the user pools, their domains and app clients the configuration names (existing
    /// ones are kept; the clients' OAuth settings are the configuration's, and so are its
    /// identity providers and resource servers, made as declared at every provision).
    async fn configured_user_pools(&self) -> anyhow::Result<()> {
        for p in &self.kernel.config.user_pools {
            let name = if p.name.is_empty() { p.id.as_str() } else { p.name.as_str() };
            self.user_pools.ensure_user_pool(&p.id, name, p.issuer).await?;
            if let Some(d) = &p.domain {
                self.user_pools.ensure_pool_domain(&p.id, d).await?;
            }
            // Before the clients, which may name them.
            for idp in &p.identity_providers {
                let spec = crate::userpool::provider_spec(idp)
                    .map_err(|e| anyhow::anyhow!("identity provider {}: {e}", idp.name))?;
                self.user_pools.ensure_identity_provider(&p.id, &spec).await?;
            }
            for r in &p.resource_servers {
                let scopes = crate::userpool::resource_server_scopes(r);
                self.user_pools.ensure_resource_server(&p.id, &r.identifier, &r.name, &scopes).await?;
            }
            for c in &p.clients {
                let name = if c.name.is_empty() { c.client_id.as_str() } else { c.name.as_str() };
                self.user_pools
                    .ensure_pool_client(&p.id, &c.client_id, name, c.secret.as_deref(), &c.providers)
                    .await?;
                let oauth = crate::userpool::client_oauth(c);
                if oauth != crate::userpool::ClientOAuth::default() {
                    self.user_pools.configure_client_oauth(&c.client_id, oauth).await?;
                }
            }
        }
        Ok(())
    }

    /// Creates or replaces the roles the configuration names, with exactly its policies: the
    /// configuration is authoritative over changes made since by the API or the CLI.
    async fn configured_roles(&self) -> anyhow::Result<()> {
        for r in &self.kernel.config.roles {
            let policies: Vec<(String, String)> = r.policies.iter().map(|(n, p)| (n.clone(), p.clone())).collect();
            self.iam.put_role(&r.name, &r.trust_policy, &policies).await?;
        }
        Ok(())
    }

    /// A server key kept (sealed with the master key when configured) in the store setting `setting`.
    #[crate::entry_point]
    pub async fn server_key(&self, setting: &str) -> anyhow::Result<crate::secrets::MasterKey> {
        crate::secrets::load_server_key(self.kernel.store.as_ref(), self.kernel.master.as_deref(), setting).await
    }

    pub fn now(&self) -> i64 {
        self.kernel.now()
    }

    /// The authorization decision for APIs (forward-auth, the API Gateway authorizer, the admin
    /// API, who may read the audit trail).
    pub fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    /// IAM and STS: roles, managed policies, OIDC providers, temporary credentials, and who
    /// signed a request.
    pub fn iam(&self) -> &Iam {
        &self.iam
    }

    /// The token service: token exchange, refresh, revocation, introspection, UserInfo, and the
    /// OAuth clients.
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// Cognito-compatible user pools: pools, app clients, groups, members, their auth flows and
    /// where their confirmation codes go.
    pub fn user_pools(&self) -> &UserPools {
        &self.user_pools
    }

    /// Cognito-compatible identity pools: pools, identities, and credentials for their logins.
    pub fn identity_pools(&self) -> &IdentityPools {
        &self.identity_pools
    }

    /// AppSync-style authorization of GraphQL fields (by IAM policy or a user pool's token).
    pub fn appsync(&self) -> &AppSync {
        &self.appsync
    }

    /// The authorization server of each user pool with a domain: its sign-in pages' decisions,
    /// codes, sessions and OAuth endpoints.
    pub fn hosted_signin(&self) -> &HostedSignIn {
        &self.hosted_signin
    }

    /// The configuration the engine was opened with: the doors read their settings in it.
    pub fn config(&self) -> &Config {
        &self.kernel.config
    }

    /// This issuer's URL, the `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.kernel.issuer
    }

    /// The signing keys: the JWKS, the active key, rotation.
    pub fn keys(&self) -> &KeyRing {
        &self.kernel.keys
    }

    /// Local users, their passwords, groups and upstream links.
    pub fn directory(&self) -> &Directory {
        &self.kernel.directory
    }

    /// The configured upstream provider named `name`.
    pub fn upstream(&self, name: &str) -> Option<&Arc<crate::upstream::UpstreamProvider>> {
        self.kernel.upstreams.by_name(name)
    }

    /// Sets a local user's password (found by username or id). A pool member's SRP verifier
    /// must prove the same password, so it is remade with it.
    #[crate::entry_point]
    pub async fn set_user_password(&self, username: &str, password: String) -> Result<User, DirectoryError> {
        let u = self.kernel.directory.set_password(username, password.clone()).await?;
        crate::userpool::password_changed(self.kernel.store.as_ref(), &u, &password, self.kernel.now()).await?;
        Ok(u)
    }

    /// Whether the store answers: readiness.
    #[crate::entry_point]
    pub async fn store_ready(&self) -> crate::store::StoreResult<()> {
        self.kernel.store.ping().await
    }

    /// Keeps a short-lived sign-in row (the console keeps a sign-in's sealed outcome in one).
    #[crate::entry_point]
    pub async fn put_auth_session(&self, session: &AuthSession) -> crate::store::StoreResult<()> {
        self.kernel.store.insert_auth_session(session).await
    }

    /// The sign-in row `id_hash` names.
    #[crate::entry_point]
    pub async fn auth_session(&self, id_hash: &str) -> crate::store::StoreResult<Option<AuthSession>> {
        self.kernel.store.get_auth_session(id_hash).await
    }

    /// Removes the sign-in row `id_hash` names: true for the one caller that removed it.
    #[crate::entry_point]
    pub async fn take_auth_session(&self, id_hash: &str) -> crate::store::StoreResult<bool> {
        self.kernel.store.take_auth_session(id_hash).await
    }

    /// Housekeeping: deletes expired replay markers and refresh tokens; returns how many.
    #[crate::entry_point]
    pub async fn purge_expired(&self) -> crate::store::StoreResult<u64> {
        self.kernel.store.purge_expired(self.kernel.now()).await
    }

    /// The admin bearer token: configured, or generated once and stored hashed. Returns the
    /// plain token only when it was generated by this call (to be printed once).
    #[crate::entry_point]
    pub async fn ensure_admin_token(&self) -> anyhow::Result<Option<String>> {
        self.kernel.ensure_admin_token().await
    }

    /// The retention purge the server's periodic housekeeping runs: deletes the audit records
    /// older than `[audit] retention_days`; returns how many.
    #[crate::entry_point]
    pub async fn purge_audit_past_retention(&self) -> crate::store::StoreResult<u64> {
        match crate::audit::retention_cutoff(self.kernel.config.audit.retention_days, self.kernel.now()) {
            Some(cutoff) => self.kernel.store.purge_audit_before(cutoff).await,
            None => Ok(0),
        }
    }

    /// Audit records matching a query (CloudTrail's LookupEvents), for the CLI and the admin doors.
    #[crate::entry_point]
    pub async fn lookup_audit(&self, query: &AuditQuery) -> crate::store::StoreResult<Vec<AuditRecord>> {
        self.kernel.store.lookup_audit(query).await
    }

    /// Whether `presented` is the admin token.
    #[crate::entry_point]
    pub async fn check_admin_token(&self, presented: &str) -> bool {
        self.kernel.check_admin_token(presented).await
    }

    /// Records a refusal decided before any operation ran (malformed requests, rate limits,
    /// signatures), so that every error response's request id finds a record.
    #[crate::entry_point]
    pub async fn record_refusal(&self, event_name: &str, ctx: &RequestContext, refusal: &Refusal) {
        self.kernel.record_refusal(event_name, ctx, refusal).await
    }

    /// The records `query` selects that `reader` may see, read as the operation `event_name`
    /// (counted, and recorded when refused). Records of others are left out without a word: a
    /// reader is never told they exist.
    #[crate::entry_point]
    pub async fn read_audit(
        &self,
        event_name: &str,
        ctx: &RequestContext,
        query: &AuditQuery,
        reader: &AuditReader,
    ) -> Result<Vec<AuditRecord>, Refusal> {
        self.kernel.read_audit(event_name, ctx, query, reader).await
    }
}

/// The server secrets kept in the settings: the STS session key, the user pools' stand-in key and
/// the console's key.
const SERVER_SECRET_SETTINGS: [&str; 3] =
    [crate::iam::credentials::KEY_SETTING, crate::userpool::STAND_IN_KEY_SETTING, crate::secrets::CONSOLE_KEY_SETTING];
