//! The engine: every decision, once, whatever door the request came in by.
//!
//! Each operation runs its checks in order, recording them on a [`Trail`]; it writes one audit
//! record per call (success or denial) and returns either its result or a [`Denial`] naming the
//! failed check. Adapters only parse and render.

use crate::audit::{Principal, RequestContext};
use crate::authorizer::Authorizer;
use crate::clock::Clock;
use crate::config::{canonical_grant, Config, LinkTarget};
use crate::directory::{Directory, NewUser};
use crate::issuer::{self, Grant, KeyRing};
use crate::jose::{looks_like_jwe, looks_like_jwt, sha256_hex, token_label, UnverifiedJwt};
use crate::model::*;
use crate::operation::{Call, Operation};
use crate::secrets::{matches_sha256, random_secret, uuid_v4, MasterKey};
use crate::store::Store;
use crate::trail::{Denial, DenialCode, Trail};
use crate::upstream::{
    Rejection, SubjectTokenType, UpstreamIdentity, UpstreamRegistry, TT_ACCESS_TOKEN, TT_ID_TOKEN, TT_JWT,
    TT_REFRESH_TOKEN,
};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

mod validation;

/// The longest client id the client cache keeps as a key.
const MAX_CACHED_CLIENT_ID: usize = 256;

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
}

/// The engine's state is its own: the domains reach it inside the crate, the doors through
/// methods that answer their questions (the store is never handed out).
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: Arc<Config>,
    pub(crate) issuer: String,
    pub(crate) keys: KeyRing,
    pub(crate) upstreams: UpstreamRegistry,
    pub(crate) directory: Directory,
    pub(crate) authorizer: Authorizer,
    pub(crate) clients: moka::future::Cache<String, Option<Arc<Client>>>,
    /// Seals recoverable secrets (app-client secrets) when configured.
    pub(crate) master: Option<Arc<MasterKey>>,
    pub(crate) code_sender: std::sync::RwLock<Arc<dyn crate::userpool::CodeSender>>,
    pub(crate) session_key: tokio::sync::OnceCell<Arc<crate::iam::SessionKey>>,
    /// Derives what unknown pool usernames are answered with (see `userpool::stand_in`).
    pub(crate) stand_in_key: tokio::sync::OnceCell<Arc<aws_lc_rs::hmac::Key>>,
}

/// Turns an upstream rejection into a denial carrying the trail so far.
fn denied(trail: &mut Trail, r: Rejection) -> Denial {
    std::mem::take(trail).deny(r.code, r.check, r.detail)
}

fn deny(trail: &mut Trail, code: DenialCode, check: &str, detail: impl Into<String>) -> Denial {
    std::mem::take(trail).deny(code, check, detail)
}

/// The store setting holding the admin token's SHA-256 (never the token).
pub const ADMIN_TOKEN_SETTING: &str = "admin.token_sha256";

/// Hashes a client secret for storage.
pub fn client_secret_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

impl Engine {
    /// Opens the engine on a store, writing nothing to it: the configuration is checked, the
    /// upstream registry and the authorizer's routes are built, the signing keys are read as they
    /// are. What the configuration declares reaches the store with [`Engine::provision`], which a
    /// serving instance runs next; a command that reads or manages state opens the engine only.
    pub async fn open(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        master: Option<MasterKey>,
    ) -> anyhow::Result<Arc<Self>> {
        Self::validate_config(&config)?;
        let upstreams = UpstreamRegistry::new(&config.providers)?;
        let authorizer = Authorizer::new(&config.authorizer).map_err(|(key, e)| anyhow::anyhow!("{key}: {e}"))?;
        let max_ttl =
            config.clients.iter().map(|c| c.access_token_ttl.max(c.id_token_ttl)).max().unwrap_or(3600).max(3600);
        let master = master.map(Arc::new);
        let keys = KeyRing::load(
            store.clone(),
            clock.clone(),
            master.clone(),
            config.algorithm(),
            config.issuer.key_refresh_seconds as i64,
            max_ttl + 300,
        )
        .await?;
        Ok(Arc::new(Self {
            issuer: config.public_url(),
            directory: Directory::new(store.clone(), clock.clone()),
            store,
            clock,
            config: Arc::new(config),
            keys,
            upstreams,
            authorizer,
            clients: moka::future::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(5)).build(),
            master,
            code_sender: std::sync::RwLock::new(Arc::new(crate::userpool::LogCodeSender { file: None })),
            session_key: tokio::sync::OnceCell::new(),
            stand_in_key: tokio::sync::OnceCell::new(),
        }))
    }

    /// Writes into the store what a serving instance needs, as `serve` and `demo` do at start: the
    /// configured clients, the first signing key (keys sealed with the master key), the configured
    /// user pools and roles, and the server secrets sealed. Instances starting together on one
    /// store may all run it.
    pub async fn provision(&self) -> anyhow::Result<()> {
        for c in &self.config.clients {
            self.store.put_client(&client_from_config(c)).await?;
            self.clients.invalidate(&c.client_id).await;
        }
        self.keys.prepare(None).await?;
        self.configured_user_pools().await?;
        self.configured_roles().await?;
        // Loaded now, so a key kept unsealed is resealed (with a master key) at start.
        self.session_key().await.map_err(|e| anyhow::anyhow!("the STS session key: {}", e.message))?;
        if let Some(m) = self.master.as_deref() {
            // Secrets written unsealed (before the master key) or in the older unbound form are
            // sealed bound to their names now, not when they are first used.
            for setting in SERVER_SECRET_SETTINGS {
                crate::secrets::reseal_server_secret(self.store.as_ref(), m, setting).await?;
            }
            self.reseal_client_secrets(m).await?;
        }
        if self.master.is_none() {
            tracing::warn!(
                "no master key configured (TOKENBRIDGE_MASTER_KEY or issuer.master_key_file): private signing \
                 keys, server keys and user-pool app-client secrets are stored unsealed"
            );
        }
        Ok(())
    }

    /// Creates the user pools and app clients the configuration names (existing ones are kept).
    async fn configured_user_pools(&self) -> anyhow::Result<()> {
        for p in &self.config.user_pools {
            let name = if p.name.is_empty() { p.id.as_str() } else { p.name.as_str() };
            self.ensure_user_pool(&p.id, name, p.issuer).await?;
            for c in &p.clients {
                let name = if c.name.is_empty() { c.client_id.as_str() } else { c.name.as_str() };
                self.ensure_pool_client(&p.id, &c.client_id, name, c.secret.as_deref(), &c.providers).await?;
            }
        }
        Ok(())
    }

    /// Creates or replaces the roles the configuration names, with exactly its policies: the
    /// configuration is authoritative over changes made since by the API or the CLI.
    async fn configured_roles(&self) -> anyhow::Result<()> {
        for r in &self.config.roles {
            let policies: Vec<(String, String)> = r.policies.iter().map(|(n, p)| (n.clone(), p.clone())).collect();
            self.put_role(&r.name, &r.trust_policy, &policies).await?;
        }
        Ok(())
    }

    /// A server key kept (sealed with the master key when configured) in the store setting `setting`.
    pub async fn server_key(&self, setting: &str) -> anyhow::Result<crate::secrets::MasterKey> {
        crate::secrets::load_server_key(self.store.as_ref(), self.master.as_deref(), setting).await
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The configuration the engine was opened with: the doors read their settings in it.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This issuer's URL, the `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The signing keys: the JWKS, the active key, rotation.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Local users, their passwords, groups and upstream links.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The configured upstream provider named `name`.
    pub fn upstream(&self, name: &str) -> Option<&Arc<crate::upstream::UpstreamProvider>> {
        self.upstreams.by_name(name)
    }

    /// Whether the store answers: readiness.
    pub async fn store_ready(&self) -> crate::store::StoreResult<()> {
        self.store.ping().await
    }

    /// Keeps a short-lived sign-in row (the console keeps a sign-in's sealed outcome in one).
    pub async fn put_auth_session(&self, session: &AuthSession) -> crate::store::StoreResult<()> {
        self.store.insert_auth_session(session).await
    }

    /// The sign-in row `id_hash` names.
    pub async fn auth_session(&self, id_hash: &str) -> crate::store::StoreResult<Option<AuthSession>> {
        self.store.get_auth_session(id_hash).await
    }

    /// Removes the sign-in row `id_hash` names: true for the one caller that removed it.
    pub async fn take_auth_session(&self, id_hash: &str) -> crate::store::StoreResult<bool> {
        self.store.take_auth_session(id_hash).await
    }

    /// Housekeeping: deletes expired replay markers and refresh tokens; returns how many.
    pub async fn purge_expired(&self) -> crate::store::StoreResult<u64> {
        self.store.purge_expired(self.now()).await
    }

    /// Where user-pool confirmation codes go (logged unless replaced).
    pub fn set_code_sender(&self, sender: Arc<dyn crate::userpool::CodeSender>) {
        *self.code_sender.write().expect("code sender lock") = sender;
    }

    pub(crate) fn code_sender(&self) -> Arc<dyn crate::userpool::CodeSender> {
        self.code_sender.read().expect("code sender lock").clone()
    }

    pub(crate) async fn client_record(&self, id: &str) -> Result<Option<Arc<Client>>, Denial> {
        self.client(id).await
    }

    async fn client(&self, id: &str) -> Result<Option<Arc<Client>>, Denial> {
        // An id longer than any client's is not kept as a cache key (a burst of huge distinct ids
        // would otherwise stay in memory for the cache's lifetime).
        if id.len() > MAX_CACHED_CLIENT_ID {
            return self.store.get_client(id).await.map(|c| c.map(Arc::new)).map_err(Denial::storage);
        }
        let store = self.store.clone();
        let key = id.to_string();
        self.clients
            .try_get_with(key.clone(), async move { store.get_client(&key).await.map(|c| c.map(Arc::new)) })
            .await
            .map_err(Denial::storage)
    }

    /// Authenticates a client. A client with a secret must present it unless `secret_optional`.
    async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
        secret_optional: bool,
        trail: &mut Trail,
    ) -> Result<Arc<Client>, Denial> {
        let Some(id) = creds.client_id.as_deref() else {
            return Err(deny(
                trail,
                DenialCode::InvalidClient,
                "client",
                "no client_id given (use HTTP Basic or client_id)",
            ));
        };
        let Some(client) = self.client(id).await? else {
            return Err(deny(trail, DenialCode::InvalidClient, "client", format!("unknown client {id:?}")));
        };
        match (&client.secret_sha256, &creds.client_secret) {
            (Some(hash), Some(secret)) => {
                if !matches_sha256(secret, hash) {
                    return Err(deny(
                        trail,
                        DenialCode::InvalidClient,
                        "client",
                        format!("client secret for {id:?} does not match"),
                    ));
                }
                trail.pass("client", format!("{id} authenticated by secret"));
            }
            (Some(_), None) if !secret_optional => {
                return Err(deny(
                    trail,
                    DenialCode::InvalidClient,
                    "client",
                    format!("client {id:?} is confidential; its secret is required"),
                ));
            }
            (None, Some(_)) => {
                return Err(deny(
                    trail,
                    DenialCode::InvalidClient,
                    "client",
                    format!("client {id:?} is public and has no secret"),
                ));
            }
            _ => trail.pass("client", format!("{id} (public or named client)")),
        }
        Ok(client)
    }

    /// RFC 8693 token exchange, and the seed's `POST /auth/exchange`.
    pub async fn exchange(&self, req: ExchangeRequest, ctx: &RequestContext) -> Result<TokenSet, Denial> {
        let params = json!({
            "clientId": req.client.client_id,
            "provider": req.provider,
            "subjectTokenType": format!("{:?}", req.subject_token_type),
            "subjectToken": token_label(&req.subject_token),
            "audience": req.audience,
            "scope": req.scope,
        });
        let op = Operation::new("TokenExchange", ctx, params);
        let result = self
            .run(
                op,
                async |call| self.exchange_inner(&req, &mut call.trail, &mut call.principal).await,
                |t| json!({ "accessToken": token_label(&t.access_token), "idToken": token_label(&t.id_token), "expiresIn": t.expires_in }),
            )
            .await;
        let outcome = if result.is_ok() { "issued" } else { "denied" };
        metrics::counter!("tokenbridge_exchanges_total", "outcome" => outcome, "door" => ctx.event_source.clone())
            .increment(1);
        result
    }

    async fn exchange_inner(
        &self,
        req: &ExchangeRequest,
        trail: &mut Trail,
        principal: &mut Option<Principal>,
    ) -> Result<TokenSet, Denial> {
        let now = self.now();
        if req.subject_token.is_empty() {
            return Err(deny(trail, DenialCode::InvalidRequest, "request", "subject_token is missing"));
        }
        if req.subject_token.len() > crate::upstream::MAX_TOKEN_BYTES {
            return Err(deny(
                trail,
                DenialCode::InvalidGrant,
                "format",
                format!(
                    "the token is {} bytes long; at most {} are accepted",
                    req.subject_token.len(),
                    crate::upstream::MAX_TOKEN_BYTES
                ),
            ));
        }
        if let Some(rt) = &req.requested_token_type {
            if ![TT_ACCESS_TOKEN, TT_ID_TOKEN, TT_JWT, TT_REFRESH_TOKEN].contains(&rt.as_str()) {
                return Err(deny(
                    trail,
                    DenialCode::InvalidRequest,
                    "request",
                    format!("requested_token_type {rt:?} is not supported"),
                ));
            }
        }

        // Which provider: named, by the JWT's issuer, or the only one there is. A malformed JWT is
        // refused for what is wrong with it, not for the provider it then fails to name.
        if looks_like_jwe(&req.subject_token) {
            return Err(deny(
                trail,
                DenialCode::InvalidGrant,
                "format",
                "the token is encrypted (JWE, five segments); only signed JWTs (JWS) are accepted",
            ));
        }
        let unverified_iss = match looks_like_jwt(&req.subject_token) {
            true => UnverifiedJwt::parse(&req.subject_token)
                .map_err(|e| deny(trail, DenialCode::InvalidGrant, e.check, e.detail))?
                .claim_str("iss")
                .map(str::to_string),
            false => None,
        };
        if unverified_iss.as_deref() == Some(self.issuer.as_str()) {
            return Err(deny(
                trail,
                DenialCode::InvalidGrant,
                "provider",
                "this system's own token is not an upstream token; use grant_type=refresh_token to renew",
            ));
        }
        let provider = match (&req.provider, &unverified_iss) {
            (Some(name), _) => self.upstreams.by_name(name).ok_or_else(|| {
                deny(trail, DenialCode::InvalidRequest, "provider", format!("no provider named {name:?}"))
            })?,
            (None, Some(iss)) => self.upstreams.by_issuer(iss).ok_or_else(|| {
                deny(trail, DenialCode::InvalidGrant, "provider", format!("no configured provider has issuer {iss:?}"))
            })?,
            (None, None) => match self.upstreams.all() {
                [only] => only,
                [] => {
                    return Err(deny(
                        trail,
                        DenialCode::InvalidRequest,
                        "provider",
                        "no upstream providers are configured",
                    ))
                }
                _ => {
                    return Err(deny(
                        trail,
                        DenialCode::InvalidRequest,
                        "provider",
                        "several providers are configured; name one with the provider parameter",
                    ))
                }
            },
        };
        trail.pass("provider", provider.name().to_string());

        // Which client the tokens belong to.
        let mut creds = req.client.clone();
        if creds.client_id.is_none() && req.client_optional {
            creds.client_id = provider.config.default_client.clone();
        }
        // At /auth/exchange the upstream token is the credential for the provider's default client
        // (a browser app cannot keep a secret); any other confidential client must authenticate.
        let secret_optional = req.client_optional && creds.client_id == provider.config.default_client;
        let client = self.authenticate_client(&creds, secret_optional, trail).await?;
        if !client.allows_grant(GRANT_TOKEN_EXCHANGE) {
            return Err(deny(
                trail,
                DenialCode::UnauthorizedClient,
                "grant",
                format!("client {:?} may not use token exchange", client.client_id),
            ));
        }
        if !client.allows_provider(provider.name()) {
            return Err(deny(
                trail,
                DenialCode::UnauthorizedClient,
                "provider",
                format!("client {:?} does not accept provider {:?}", client.client_id, provider.name()),
            ));
        }
        if let Some(aud) = &req.audience {
            if aud != &client.client_id && aud != &self.issuer {
                return Err(deny(
                    trail,
                    DenialCode::InvalidTarget,
                    "audience",
                    format!("audience {aud:?} is not served here (use the client id {:?})", client.client_id),
                ));
            }
        }
        let scope = self.narrow_scope(&client, req.scope.as_deref(), trail)?;

        let (identity, user) =
            self.upstream_user(provider, &req.subject_token, req.subject_token_type, None, trail, principal).await?;

        let mut extra = Map::new();
        extra.insert(
            "identities".into(),
            json!([{ "providerName": identity.provider, "providerType": "OIDC", "userId": identity.claims.get("sub"), "issuer": identity.issuer }]),
        );
        let origin = format!("upstream:{}", identity.provider);
        let set = self.issue(&user, &client, &scope, Session::New { auth_time: now, origin: &origin }, extra).await?;
        trail.pass("issue", format!("tokens for {:?} signed with {}", user.username, self.keys.active().kid));
        Ok(set)
    }

    /// An upstream token to the local user it stands for: provider validation (signature, claims,
    /// conditions), the link, the user enabled, optionally that it is `expected_user` (CUSTOM_AUTH
    /// answers a challenge for one username), and last, one-time use.
    pub(crate) async fn upstream_user(
        &self,
        provider: &crate::upstream::UpstreamProvider,
        token: &str,
        token_type: SubjectTokenType,
        expected_user: Option<&str>,
        trail: &mut Trail,
        principal: &mut Option<Principal>,
    ) -> Result<(UpstreamIdentity, User), Denial> {
        let now = self.now();
        let identity = provider.validate(token, token_type, now, trail).await.map_err(|r| denied(trail, r))?;
        let user = self
            .linked_user(provider.config.link_to, &provider.config.link_claim, provider.config.jit, &identity, trail)
            .await?;
        *principal = Some(Principal {
            user_id: user.id.clone(),
            username: user.username.clone(),
            identity_provider: Some(identity.issuer.clone()),
        });
        if !user.enabled {
            return Err(deny(
                trail,
                DenialCode::InvalidGrant,
                "user enabled",
                format!("local user {:?} is disabled", user.username),
            ));
        }
        trail.pass("user enabled", user.username.clone());
        if let Some(want) = expected_user {
            if user.id != want {
                return Err(deny(
                    trail,
                    DenialCode::InvalidGrant,
                    "user",
                    format!("the upstream token is local user {:?}'s, not the challenged user's", user.username),
                ));
            }
            trail.pass("user", format!("the upstream token is {:?}'s, as challenged", user.username));
        }
        // One-time use, decided atomically by the store, after every other check passed. The
        // marker is the token's replay key (what the token is), never its spelling.
        if provider.config.one_time_use {
            // The marker must outlive the whole window in which the token is accepted (exp + leeway).
            let until = identity.expires_at.saturating_add(provider.config.leeway_seconds).max(now.saturating_add(1));
            let key = &identity.replay_key;
            let fresh = self.store.insert_replay_marker(&key.hash, until, now).await.map_err(Denial::storage)?;
            if !fresh {
                return Err(deny(
                    trail,
                    DenialCode::InvalidGrant,
                    "one-time use",
                    format!("token already used (replay key {} was exchanged before)", key.label()),
                ));
            }
            trail.pass("one-time use", format!("first use; replay key {}", key.label()));
        }
        Ok((identity, user))
    }

    fn narrow_scope(&self, client: &Client, requested: Option<&str>, trail: &mut Trail) -> Result<String, Denial> {
        let Some(req) = requested.filter(|s| !s.trim().is_empty()) else {
            return Ok(client.scopes.join(" "));
        };
        for s in req.split_whitespace() {
            if !client.scopes.iter().any(|c| c == s) {
                return Err(deny(
                    trail,
                    DenialCode::InvalidScope,
                    "scope",
                    format!("scope {s:?} is not allowed for client {:?}", client.client_id),
                ));
            }
        }
        Ok(req.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    async fn linked_user(
        &self,
        link_to: LinkTarget,
        claim: &str,
        jit: bool,
        identity: &UpstreamIdentity,
        trail: &mut Trail,
    ) -> Result<User, Denial> {
        let value = match identity.value_of(claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(deny(
                    trail,
                    DenialCode::InvalidGrant,
                    "link",
                    format!("upstream token has no {claim:?} claim to link by"),
                ))
            }
        };
        let found = match link_to {
            LinkTarget::Email => {
                let verified = matches!(identity.value_of("email_verified"), Some(Value::Bool(true)))
                    || identity.value_of("email_verified").and_then(Value::as_str) == Some("true");
                if !verified {
                    return Err(deny(
                        trail,
                        DenialCode::InvalidGrant,
                        "link",
                        format!("upstream email {value:?} is not verified (email_verified is not true)"),
                    ));
                }
                let mut users = self.store.find_users_by_email(&value).await.map_err(Denial::storage)?;
                if users.len() > 1 {
                    return Err(deny(
                        trail,
                        DenialCode::InvalidGrant,
                        "link",
                        format!("{} local users share email {value:?}; link one explicitly", users.len()),
                    ));
                }
                users.pop()
            }
            LinkTarget::Username => self.store.find_user_by_username(&value).await.map_err(Denial::storage)?,
            LinkTarget::Sub => self.store.get_user(&value).await.map_err(Denial::storage)?,
            LinkTarget::Link => {
                match self.store.find_link(&identity.provider, &value).await.map_err(Denial::storage)? {
                    Some(l) => self.store.get_user(&l.user_id).await.map_err(Denial::storage)?,
                    None => None,
                }
            }
        };
        let what = match link_to {
            LinkTarget::Email => "email",
            LinkTarget::Username => "username",
            LinkTarget::Sub => "sub",
            LinkTarget::Link => "subject",
        };
        match found {
            Some(u) => {
                trail.pass("link", format!("upstream {what} {value:?} is local user {:?}", u.username));
                Ok(u)
            }
            None if jit => {
                let email = identity.value_of("email").and_then(Value::as_str).map(str::to_string);
                let username = identity
                    .value_of("username")
                    .or_else(|| identity.value_of("preferred_username"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| value.clone());
                let user = self
                    .directory
                    .create_user(NewUser { username, email, email_verified: true, enabled: true, ..Default::default() })
                    .await
                    .map_err(|e| {
                        deny(
                            trail,
                            DenialCode::InvalidGrant,
                            "link",
                            format!("just-in-time user could not be created: {e}"),
                        )
                    })?;
                if link_to == LinkTarget::Link {
                    let _ = self.directory.link(&user.username, &identity.provider, &value).await;
                }
                trail.pass(
                    "link",
                    format!("created local user {:?} just in time for upstream {what} {value:?}", user.username),
                );
                Ok(user)
            }
            None => Err(deny(
                trail,
                DenialCode::InvalidGrant,
                "link",
                format!("no local user is linked to upstream {what} {value:?}"),
            )),
        }
    }

    /// Mints access + id tokens; a new session also starts a refresh family.
    async fn issue(
        &self,
        user: &User,
        client: &Client,
        scope: &str,
        session: Session<'_>,
        extra: Map<String, Value>,
    ) -> Result<TokenSet, Denial> {
        self.issue_as(&self.issuer, user, client, scope, session, extra).await
    }

    /// Tokens of a user pool (`iss` is the pool's): a new sign-in, or a refresh that keeps its
    /// refresh token (`REFRESH_TOKEN_AUTH` returns none).
    pub(crate) async fn issue_pool_tokens(
        &self,
        iss: &str,
        user: &User,
        client: &Client,
        continuing: Option<&RefreshTokenRecord>,
        origin: &str,
    ) -> Result<TokenSet, Denial> {
        let mut extra = Map::new();
        extra.insert("event_id".into(), json!(uuid_v4()));
        let session = match continuing {
            Some(r) => Session::Continue(r),
            None => Session::New { auth_time: self.now(), origin },
        };
        self.issue_as(iss, user, client, crate::userpool::COGNITO_ADMIN_SCOPE, session, extra).await
    }

    async fn issue_as(
        &self,
        iss: &str,
        user: &User,
        client: &Client,
        scope: &str,
        session: Session<'_>,
        extra: Map<String, Value>,
    ) -> Result<TokenSet, Denial> {
        let now = self.now();
        self.keys.reload_if_stale().await;
        let (family, auth_time, origin) = match session {
            Session::New { auth_time, origin } => (None, auth_time, origin),
            Session::Continue(f) => (Some(f), f.auth_time, f.origin.as_str()),
        };
        let family_id = family.map(|f| f.family_id.clone()).unwrap_or_else(uuid_v4);
        let grant = Grant { user, client, scope, auth_time, origin_jti: &family_id, extra_id_claims: extra };
        let mut access_claims = issuer::access_token_claims(iss, &grant, now);
        // Cognito puts one event id in both tokens of a sign-in.
        if let Some(e) = grant.extra_id_claims.get("event_id") {
            access_claims["event_id"] = e.clone();
        }
        let access = self.keys.sign(&access_claims);
        let id = self.keys.sign(&issuer::id_token_claims(iss, &grant, now));
        // A new session is recorded before its tokens are handed out, with or without a refresh
        // token: a sign-out or revocation ends the sessions the store knows, so one it did not
        // know would outlive them all. Its order against a sign-out is the store's, not a clock's.
        let refresh_token = if family.is_none() {
            let token = client.allows_grant(GRANT_REFRESH_TOKEN).then(random_secret);
            let (token_hash, expires_at) = match &token {
                Some(t) => (sha256_hex(t.as_bytes()), now + client.refresh_token_ttl),
                None => (session_only_hash(&family_id), now + client.access_token_ttl.max(client.id_token_ttl)),
            };
            let record = RefreshTokenRecord {
                token_hash,
                family_id: family_id.clone(),
                user_id: user.id.clone(),
                client_id: client.client_id.clone(),
                scope: scope.to_string(),
                origin: origin.to_string(),
                auth_time,
                origin_jti: family_id.clone(),
                issued_at: now,
                expires_at,
                status: RefreshStatus::Active,
                rotated_at: None,
                replaced_by: None,
                superseded: false,
            };
            self.store.insert_refresh_token(&record).await.map_err(Denial::storage)?;
            token
        } else {
            None
        };
        Ok(TokenSet {
            access_token: access,
            id_token: id,
            refresh_token,
            expires_in: client.access_token_ttl,
            token_type: "Bearer",
            issued_token_type: Some(TT_ACCESS_TOKEN),
            scope: scope.to_string(),
        })
    }

    /// `grant_type=refresh_token`: rotates the refresh token; a rotated-out token revokes its family
    /// (unless it is a retry within the reuse grace).
    pub async fn refresh(
        &self,
        creds: &ClientCredentials,
        refresh_token: &str,
        ctx: &RequestContext,
    ) -> Result<TokenSet, Denial> {
        let params = json!({ "clientId": creds.client_id, "refreshToken": token_label(refresh_token) });
        self.run(
            Operation::new("RefreshToken", ctx, params),
            async |call| self.refresh_inner(creds, refresh_token, &mut call.trail, &mut call.principal).await,
            |t| json!({ "accessToken": token_label(&t.access_token), "refreshToken": t.refresh_token.as_deref().map(token_label) }),
        )
        .await
    }

    async fn refresh_inner(
        &self,
        creds: &ClientCredentials,
        token: &str,
        trail: &mut Trail,
        principal: &mut Option<Principal>,
    ) -> Result<TokenSet, Denial> {
        let now = self.now();
        let client = self.authenticate_client(creds, false, trail).await?;
        if !client.allows_grant(GRANT_REFRESH_TOKEN) {
            return Err(deny(
                trail,
                DenialCode::UnauthorizedClient,
                "grant",
                format!("client {:?} may not use refresh_token", client.client_id),
            ));
        }
        if token.is_empty() {
            return Err(deny(trail, DenialCode::InvalidRequest, "request", "refresh_token is missing"));
        }
        let hash = sha256_hex(token.as_bytes());
        let Some(current) = self.store.get_refresh_token(&hash).await.map_err(Denial::storage)? else {
            return Err(deny(trail, DenialCode::InvalidGrant, "refresh token", "refresh token is not recognized"));
        };
        if current.client_id != client.client_id {
            return Err(deny(
                trail,
                DenialCode::InvalidGrant,
                "refresh token",
                format!("refresh token was issued to another client, not {:?}", client.client_id),
            ));
        }
        if current.origin.starts_with("userpool:") {
            return Err(deny(
                trail,
                DenialCode::InvalidGrant,
                "refresh token",
                "a user pool's refresh token is used with InitiateAuth REFRESH_TOKEN_AUTH",
            ));
        }
        let user = self.store.get_user(&current.user_id).await.map_err(Denial::storage)?;
        let Some(user) = user.filter(|u| u.enabled) else {
            self.store.revoke_refresh_family(&current.family_id).await.map_err(Denial::storage)?;
            self.authorizer.family_revoked(&current.family_id);
            return Err(deny(
                trail,
                DenialCode::InvalidGrant,
                "user enabled",
                "the refresh token's user is disabled or deleted; its sessions are revoked",
            ));
        };
        *principal =
            Some(Principal { user_id: user.id.clone(), username: user.username.clone(), identity_provider: None });

        let new_token = random_secret();
        let next = RefreshTokenRecord {
            token_hash: sha256_hex(new_token.as_bytes()),
            issued_at: now,
            status: RefreshStatus::Active,
            // The presented token may be a rotated one (a retry): its rotation is not inherited.
            rotated_at: None,
            replaced_by: None,
            superseded: false,
            ..current.clone()
        };
        match self.store.rotate_refresh_token(&hash, &next, now).await.map_err(Denial::storage)? {
            RotateOutcome::Rotated(_) => {
                trail.pass("rotation", format!("family {} rotated", short(&current.family_id)))
            }
            RotateOutcome::Reused(r) => {
                if !self.retry_within_grace(&r, &next, now, trail).await? {
                    let n = self.store.revoke_refresh_family(&r.family_id).await.map_err(Denial::storage)?;
                    self.authorizer.family_revoked(&r.family_id);
                    return Err(deny(
                        trail,
                        DenialCode::InvalidGrant,
                        "rotation",
                        format!(
                            "refresh token was already used; its family {} is revoked ({n} active token(s) revoked)",
                            short(&r.family_id)
                        ),
                    ));
                }
            }
            RotateOutcome::Revoked(_) => {
                return Err(deny(trail, DenialCode::InvalidGrant, "rotation", "refresh token has been revoked"))
            }
            RotateOutcome::Expired(r) => {
                return Err(deny(
                    trail,
                    DenialCode::InvalidGrant,
                    "rotation",
                    format!("refresh token expired {} s ago", now - r.expires_at),
                ))
            }
            RotateOutcome::NotFound => {
                return Err(deny(trail, DenialCode::InvalidGrant, "rotation", "refresh token is not recognized"))
            }
        }
        let mut set = self.issue(&user, &client, &current.scope, Session::Continue(&current), Map::new()).await?;
        set.refresh_token = Some(new_token);
        set.issued_token_type = None;
        Ok(set)
    }

    /// A rotated-out token presented again is honoured once when its rotation's response was
    /// likely lost: rotated at most `issuer.refresh_reuse_grace_seconds` ago, and the token that
    /// replaced it never presented. The store retires that successor and stores `next` in one
    /// compare-and-swap, so the family keeps one active token and the lost successor dies.
    /// `false` (with the reason on the trail) means the reuse stands.
    async fn retry_within_grace(
        &self,
        presented: &RefreshTokenRecord,
        next: &RefreshTokenRecord,
        now: i64,
        trail: &mut Trail,
    ) -> Result<bool, Denial> {
        let grace = self.config.issuer.refresh_reuse_grace_seconds;
        let why_not = match (presented.rotated_at, &presented.replaced_by) {
            _ if grace <= 0 => "the reuse grace is off".to_string(),
            _ if presented.superseded => {
                "the token was retired unused by a retry of the token before it; presenting it is a replay".into()
            }
            (Some(at), Some(_)) if now - at > grace => {
                format!("token rotated {} s ago, beyond the {grace} s reuse grace", now - at)
            }
            (Some(at), Some(_)) => {
                // Instances' clocks may disagree by a little: a rotation "in the future" is recent.
                let age = (now - at).max(0);
                if self
                    .store
                    .retry_refresh_rotation(&presented.token_hash, next, now, now - grace)
                    .await
                    .map_err(Denial::storage)?
                {
                    trail.pass(
                        "rotation",
                        format!("reuse within grace: token rotated {age} s ago, its unused successor retired"),
                    );
                    return Ok(true);
                }
                format!("token rotated {age} s ago, but its successor was already used or is no longer active")
            }
            _ => "the token's rotation was not recorded".into(),
        };
        trail.skip("reuse grace", why_not);
        Ok(false)
    }

    /// RFC 7009: revoking a refresh token, or an access/id token, revokes its whole family.
    /// Unknown tokens are not an error (the RFC says answer 200).
    pub async fn revoke(&self, creds: &ClientCredentials, token: &str, ctx: &RequestContext) -> Result<(), Denial> {
        let params = json!({ "clientId": creds.client_id, "token": token_label(token) });
        self.run(
            Operation::new("RevokeToken", ctx, params),
            async |call| self.revoke_inner(creds, token, &mut call.trail).await,
            |_| json!({}),
        )
        .await
    }

    async fn revoke_inner(&self, creds: &ClientCredentials, token: &str, trail: &mut Trail) -> Result<(), Denial> {
        let client = self.authenticate_client(creds, false, trail).await?;
        if token.is_empty() {
            return Err(deny(trail, DenialCode::InvalidRequest, "request", "token is missing"));
        }
        let family = if looks_like_jwt(token) {
            match issuer::verify_own(&self.keys, &self.issuer, token, None, self.now()).await {
                Ok(t) => {
                    let owner = t.str("client_id").or(t.str("aud")).unwrap_or_default();
                    (owner == client.client_id).then(|| t.str("origin_jti").map(str::to_string)).flatten()
                }
                Err(_) => None,
            }
        } else {
            let r = self.store.get_refresh_token(&sha256_hex(token.as_bytes())).await.map_err(Denial::storage)?;
            r.filter(|r| r.client_id == client.client_id).map(|r| r.family_id)
        };
        match family {
            Some(f) => {
                let n = self.store.revoke_refresh_family(&f).await.map_err(Denial::storage)?;
                self.authorizer.family_revoked(&f);
                trail.pass("revoke", format!("family {} revoked ({n} active token(s))", short(&f)));
            }
            None => trail.skip("revoke", "token unknown or not this client's; nothing to revoke"),
        }
        Ok(())
    }

    /// Whether the refresh family behind an access token is still alive.
    async fn family_alive(&self, family_id: &str) -> Result<bool, Denial> {
        self.store.refresh_family_active(family_id).await.map_err(Denial::storage)
    }

    /// RFC 7662 introspection (client-authenticated). Inactive tokens answer `{"active":false}`.
    pub async fn introspect(
        &self,
        creds: &ClientCredentials,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<Value, Denial> {
        let params = json!({ "clientId": creds.client_id, "token": token_label(token) });
        let op = Operation::new("IntrospectToken", ctx, params).read_only(true);
        let decide = async |call: &mut Call| -> Result<Value, Denial> {
            let trail = &mut call.trail;
            self.authenticate_client(creds, false, trail).await?;
            let now = self.now();
            if looks_like_jwt(token) {
                match issuer::verify_own(&self.keys, &self.issuer, token, None, now).await {
                    Ok(t) => {
                        if let Some(f) = t.str("origin_jti") {
                            if !self.family_alive(f).await? {
                                trail.fail("revocation", "the token's refresh family is revoked");
                                return Ok(json!({ "active": false }));
                            }
                        }
                        let user =
                            self.store.get_user(t.str("sub").unwrap_or_default()).await.map_err(Denial::storage)?;
                        if !user.is_some_and(|u| u.enabled) {
                            trail.fail("user enabled", "the token's user is disabled or deleted");
                            return Ok(json!({ "active": false }));
                        }
                        trail.pass("token", format!("valid {} token", t.str("token_use").unwrap_or("?")));
                        let mut out = json!({
                            "active": true,
                            "token_type": if t.str("token_use") == Some("id") { "id_token" } else { "access_token" },
                            "client_id": t.str("client_id").or(t.str("aud")),
                            "username": t.str("username").or(t.str("cognito:username")),
                        });
                        let m = out.as_object_mut().expect("object");
                        for k in ["sub", "iss", "exp", "iat", "jti", "scope", "aud", "token_use"] {
                            if let Some(v) = t.claims.get(k) {
                                m.insert(k.into(), v.clone());
                            }
                        }
                        Ok(out)
                    }
                    Err((check, detail)) => {
                        trail.fail(check, detail);
                        Ok(json!({ "active": false }))
                    }
                }
            } else {
                let r = self.store.get_refresh_token(&sha256_hex(token.as_bytes())).await.map_err(Denial::storage)?;
                match r.filter(|r| r.status == RefreshStatus::Active && r.expires_at > now) {
                    Some(r) => {
                        trail.pass("token", "active refresh token");
                        Ok(
                            json!({ "active": true, "token_type": "refresh_token", "client_id": r.client_id, "sub": r.user_id, "scope": r.scope, "exp": r.expires_at, "iat": r.issued_at, "iss": self.issuer }),
                        )
                    }
                    None => {
                        trail.fail("token", "not an active token of this issuer");
                        Ok(json!({ "active": false }))
                    }
                }
            }
        };
        self.run(op, decide, |v| json!({ "active": v.get("active").cloned() })).await
    }

    /// Verifies one of our access tokens presented as a bearer token (signature, expiry,
    /// `token_use`, the family not revoked) and returns its claims.
    pub async fn verify_access_token(&self, token: &str, trail: &mut Trail) -> Result<issuer::OwnToken, Denial> {
        let t = issuer::verify_own(&self.keys, &self.issuer, token, Some("access"), self.now())
            .await
            .map_err(|(check, detail)| deny(trail, DenialCode::InvalidToken, check, detail))?;
        if let Some(f) = t.str("origin_jti") {
            if !self.family_alive(f).await? {
                return Err(deny(trail, DenialCode::InvalidToken, "revocation", "the token's session was revoked"));
            }
        }
        trail.pass("token", format!("access token signed by {}", t.kid));
        Ok(t)
    }

    /// OIDC UserInfo for one of our access tokens.
    pub async fn userinfo(&self, bearer: &str, ctx: &RequestContext) -> Result<Value, Denial> {
        // Successful UserInfo reads are frequent and carry no decision; only denials are recorded.
        let params = json!({ "accessToken": token_label(bearer) });
        let op = Operation::new("GetUserInfo", ctx, params).read_only(true).record_answers(false);
        let decide = async |call: &mut Call| -> Result<Value, Denial> {
            let trail = &mut call.trail;
            let t = self.verify_access_token(bearer, trail).await?;
            let sub = t.str("sub").unwrap_or_default();
            let user = self.store.get_user(sub).await.map_err(Denial::storage)?;
            let Some(user) = user.filter(|u| u.enabled) else {
                return Err(deny(
                    trail,
                    DenialCode::InvalidToken,
                    "user enabled",
                    "the token's user is disabled or deleted",
                ));
            };
            call.principal =
                Some(Principal { user_id: user.id.clone(), username: user.username.clone(), identity_provider: None });
            let mut out = json!({ "sub": user.id, "username": user.username, "preferred_username": user.username, "email_verified": user.email_verified });
            let m = out.as_object_mut().expect("object");
            if let Some(e) = &user.email {
                m.insert("email".into(), json!(e));
            }
            if !user.groups.is_empty() {
                m.insert("cognito:groups".into(), json!(user.groups));
            }
            Ok(out)
        };
        self.run(op, decide, |_| Value::Null).await
    }

    /// The admin bearer token: configured, or generated once and stored hashed. Returns the
    /// plain token only when it was generated by this call (to be printed once).
    pub async fn ensure_admin_token(&self) -> anyhow::Result<Option<String>> {
        if let Some(t) = &self.config.admin.token {
            self.store.put_setting(ADMIN_TOKEN_SETTING, &sha256_hex(t.as_bytes())).await?;
            return Ok(None);
        }
        let candidate = random_secret();
        let stored = self.store.put_setting_if_absent(ADMIN_TOKEN_SETTING, &sha256_hex(candidate.as_bytes())).await?;
        Ok((stored == sha256_hex(candidate.as_bytes())).then_some(candidate))
    }

    /// Audit records matching a query (CloudTrail's LookupEvents), for the CLI and the admin doors.
    pub async fn lookup_audit(&self, query: &AuditQuery) -> crate::store::StoreResult<Vec<AuditRecord>> {
        self.store.lookup_audit(query).await
    }

    pub async fn check_admin_token(&self, presented: &str) -> bool {
        match self.store.get_setting(ADMIN_TOKEN_SETTING).await {
            Ok(Some(h)) => matches_sha256(presented, &h),
            _ => false,
        }
    }

    /// The registered clients (configured ones included, once provisioned).
    pub async fn list_clients(&self) -> crate::store::StoreResult<Vec<Client>> {
        self.store.list_clients().await
    }

    /// Registers or replaces a client; returns its plain secret when one was generated.
    pub async fn put_client(&self, mut client: Client, generate_secret: bool) -> anyhow::Result<Option<String>> {
        let secret = generate_secret.then(random_secret);
        if let Some(s) = &secret {
            client.secret_sha256 = Some(client_secret_hash(s));
        }
        self.store.put_client(&client).await?;
        self.clients.invalidate(&client.client_id).await;
        Ok(secret)
    }
}

/// The server secrets kept in the settings: the STS session key, the user pools' stand-in key and
/// the console's key.
const SERVER_SECRET_SETTINGS: [&str; 3] =
    [crate::iam::credentials::KEY_SETTING, crate::userpool::STAND_IN_KEY_SETTING, crate::secrets::CONSOLE_KEY_SETTING];

/// The record of a session without a refresh token stands in its family under this name, which
/// is no token's hash (those are hex): it can be revoked and ended, never presented.
fn session_only_hash(family_id: &str) -> String {
    format!("session:{family_id}")
}

/// Whether tokens start a new sign-in session or continue a refresh family.
enum Session<'a> {
    New { auth_time: i64, origin: &'a str },
    Continue(&'a RefreshTokenRecord),
}

impl Engine {
    /// Removes a client; tokens already issued to it stay valid until they expire.
    pub async fn remove_client(&self, client_id: &str) -> anyhow::Result<bool> {
        let existed = self.store.delete_client(client_id).await?;
        self.clients.invalidate(client_id).await;
        Ok(existed)
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
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
