//! App clients: their settings (token lifetimes, auth flows, identity providers, and the OAuth
//! settings the hosted sign-in obeys: callback and logout URLs, flows, scopes), created,
//! described, updated, listed and deleted; each is also an OAuth client of the token service.

use super::manage::{page_size, Page};
use super::oauth::ClientOAuth;
use super::*;
use crate::model::{Client, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE};
use crate::tokens::client_secret_hash;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Units {
    access_token: Option<String>,
    id_token: Option<String>,
    refresh_token: Option<String>,
}

/// What `CreateUserPoolClient` and `UpdateUserPoolClient` both set. As on AWS, an update sets
/// every member it does not name to its default.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ClientSettings {
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    refresh_token_validity: Option<i64>,
    #[serde(default)]
    access_token_validity: Option<i64>,
    #[serde(default)]
    id_token_validity: Option<i64>,
    #[serde(default)]
    token_validity_units: Option<Units>,
    #[serde(default)]
    explicit_auth_flows: Option<Vec<String>>,
    #[serde(default)]
    supported_identity_providers: Option<Vec<String>>,
    #[serde(default)]
    auth_session_validity: Option<i64>,
    #[serde(default, rename = "CallbackURLs")]
    callback_urls: Vec<String>,
    #[serde(default, rename = "LogoutURLs")]
    logout_urls: Vec<String>,
    #[serde(default, rename = "DefaultRedirectURI")]
    default_redirect_uri: Option<String>,
    #[serde(default, rename = "AllowedOAuthFlows")]
    allowed_oauth_flows: Vec<String>,
    #[serde(default, rename = "AllowedOAuthScopes")]
    allowed_oauth_scopes: Vec<String>,
    #[serde(default, rename = "AllowedOAuthFlowsUserPoolClient")]
    allowed_oauth_flows_user_pool_client: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateClient {
    user_pool_id: String,
    #[serde(default)]
    generate_secret: bool,
    #[serde(flatten)]
    settings: ClientSettings,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateClient {
    user_pool_id: String,
    client_id: String,
    #[serde(flatten)]
    settings: ClientSettings,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ClientRef {
    user_pool_id: String,
    client_id: String,
}

/// A client's settings once checked: what [`PoolClient`] holds beside its identity.
struct Settled {
    name: String,
    explicit_auth_flows: Vec<String>,
    supported_identity_providers: Vec<String>,
    access_token_validity: i64,
    id_token_validity: i64,
    refresh_token_validity: i64,
    units: TokenUnits,
    auth_session_validity: i64,
    oauth: ClientOAuth,
}

/// The flows AWS enables when a client names none.
const DEFAULT_FLOWS: &[&str] = &["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_CUSTOM_AUTH"];
const FLOWS: &[&str] = &[
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
];

/// Legacy flow names (still accepted by AWS) to the `ALLOW_` ones.
fn canonical_flow(f: &str) -> Option<&'static str> {
    Some(match f {
        "ADMIN_NO_SRP_AUTH" => "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "USER_PASSWORD_AUTH" => "ALLOW_USER_PASSWORD_AUTH",
        "CUSTOM_AUTH_FLOW_ONLY" => "ALLOW_CUSTOM_AUTH",
        other => FLOWS.iter().find(|x| **x == other)?,
    })
}

fn seconds(value: i64, unit: &str) -> i64 {
    value
        * match unit {
            "seconds" => 1,
            "minutes" => 60,
            "hours" => 3600,
            _ => 86_400,
        }
}

impl UserPools {
    pub(crate) fn client_json(&self, c: &PoolClient) -> Value {
        let secret = c.secret.as_deref().and_then(|s| open_secret(self.kernel.master.as_deref(), &c.client_id, s).ok());
        let o = &c.oauth;
        // AWS leaves out the OAuth members a client does not have.
        let listed = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        json!({
            "UserPoolId": c.pool_id,
            "ClientName": c.name,
            "ClientId": c.client_id,
            "ClientSecret": secret,
            "LastModifiedDate": ts(c.updated_at),
            "CreationDate": ts(c.created_at),
            "RefreshTokenValidity": c.refresh_token_validity,
            "AccessTokenValidity": c.access_token_validity,
            "IdTokenValidity": c.id_token_validity,
            "TokenValidityUnits": { "AccessToken": c.units.access_token, "IdToken": c.units.id_token, "RefreshToken": c.units.refresh_token },
            "ExplicitAuthFlows": c.explicit_auth_flows,
            "SupportedIdentityProviders": c.supported_identity_providers,
            "CallbackURLs": listed(&o.callback_urls),
            "LogoutURLs": listed(&o.logout_urls),
            "DefaultRedirectURI": o.default_redirect_uri,
            "AllowedOAuthFlows": listed(&o.allowed_oauth_flows),
            "AllowedOAuthScopes": listed(&o.allowed_oauth_scopes),
            "AllowedOAuthFlowsUserPoolClient": o.allowed_oauth_flows_user_pool_client,
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": true,
            "EnablePropagateAdditionalUserContextData": false,
            "AuthSessionValidity": c.auth_session_validity,
        })
    }

    /// Checks a client's settings as AWS does, giving each left out its default.
    fn settle(
        &self,
        req: ClientSettings,
        name: Option<&str>,
        has_secret: bool,
        call: &mut Call,
    ) -> Result<Settled, Refusal> {
        let name = req.client_name.as_deref().or(name).unwrap_or_default().trim().to_string();
        if name.is_empty() || name.len() > 128 {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "request",
                "ClientName must be 1 to 128 characters.",
            ));
        }
        let mut flows = Vec::new();
        for f in req.explicit_auth_flows.unwrap_or_else(|| DEFAULT_FLOWS.iter().map(|s| s.to_string()).collect()) {
            let Some(c) = canonical_flow(&f) else {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "request",
                    format!("Invalid ExplicitAuthFlows value {f:?}."),
                ));
            };
            if !flows.iter().any(|x| x == c) {
                flows.push(c.to_string());
            }
        }
        // Each is checked against the pool's identity providers by `check_supported_providers`.
        let providers = req.supported_identity_providers.unwrap_or_else(|| vec!["COGNITO".into()]);
        let u = req.token_validity_units.unwrap_or_default();
        let units = TokenUnits {
            access_token: u.access_token.unwrap_or_else(|| "minutes".into()),
            id_token: u.id_token.unwrap_or_else(|| "minutes".into()),
            refresh_token: u.refresh_token.unwrap_or_else(|| "days".into()),
        };
        for unit in [&units.access_token, &units.id_token, &units.refresh_token] {
            if !["seconds", "minutes", "hours", "days"].contains(&unit.as_str()) {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "request",
                    format!("Invalid TokenValidityUnits value {unit:?}."),
                ));
            }
        }
        let (access, id, refresh) = (
            req.access_token_validity.unwrap_or(if units.access_token == "minutes" { 60 } else { 1 }),
            req.id_token_validity.unwrap_or(if units.id_token == "minutes" { 60 } else { 1 }),
            req.refresh_token_validity.unwrap_or(if units.refresh_token == "days" { 30 } else { 1 }),
        );
        let (access_s, id_s, refresh_s) = (
            seconds(access, &units.access_token),
            seconds(id, &units.id_token),
            seconds(refresh, &units.refresh_token),
        );
        if !(300..=86_400).contains(&access_s)
            || !(300..=86_400).contains(&id_s)
            || !(3600..=315_360_000).contains(&refresh_s)
        {
            return Err(call.refuse_plainly(Reason::InvalidParameter, "request",
                "Token validity out of range: access and id tokens 5 minutes to 1 day, refresh tokens 1 hour to 10 years.",
            ));
        }
        let session = req.auth_session_validity.unwrap_or(3);
        if !(3..=15).contains(&session) {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "request",
                "AuthSessionValidity must be 3 to 15 minutes.",
            ));
        }
        let oauth = ClientOAuth {
            callback_urls: req.callback_urls,
            logout_urls: req.logout_urls,
            default_redirect_uri: req.default_redirect_uri,
            allowed_oauth_flows: req.allowed_oauth_flows,
            allowed_oauth_scopes: req.allowed_oauth_scopes,
            allowed_oauth_flows_user_pool_client: req.allowed_oauth_flows_user_pool_client,
        };
        if let Err((reason, message)) = oauth.check(has_secret) {
            return Err(call.refuse_plainly(reason, "oauth settings", message));
        }
        Ok(Settled {
            name,
            explicit_auth_flows: flows,
            supported_identity_providers: providers,
            access_token_validity: access,
            id_token_validity: id,
            refresh_token_validity: refresh,
            units,
            auth_session_validity: session,
            oauth,
        })
    }

    pub(crate) async fn create_pool_client(&self, req: CreateClient, call: &mut Call) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        let s = self.settle(req.settings, None, req.generate_secret, call)?;
        self.check_supported_providers(&pool.id, &s.supported_identity_providers, call).await?;
        let now = self.kernel.now();
        let secret = req.generate_secret.then(new_client_secret);
        let client_id = new_client_id();
        let client = PoolClient {
            pool_id: pool.id.clone(),
            name: s.name,
            secret: secret.as_deref().map(|s| seal_secret(self.kernel.master.as_deref(), &client_id, s)),
            client_id,
            explicit_auth_flows: s.explicit_auth_flows,
            supported_identity_providers: s.supported_identity_providers,
            access_token_validity: s.access_token_validity,
            id_token_validity: s.id_token_validity,
            refresh_token_validity: s.refresh_token_validity,
            units: s.units,
            auth_session_validity: s.auth_session_validity,
            oauth: s.oauth,
            created_at: now,
            updated_at: now,
        };
        self.register_pool_client(&client, secret.as_deref()).await?;
        call.trail.pass("create", format!("app client {} of pool {}", client.client_id, pool.id));
        Ok(json!({ "UserPoolClient": self.client_json(&client) }))
    }

    /// UpdateUserPoolClient: the settings are replaced (the ones not named take their defaults);
    /// the id, secret and creation time stay. One atomic update of the client as it stands.
    pub(crate) async fn update_pool_client(&self, req: UpdateClient, call: &mut Call) -> Result<Value, Refusal> {
        let current = self.client_of_pool(&req.user_pool_id, &req.client_id, call).await?;
        let pool = self.pool(&current.pool_id, call).await?;
        let s = self.settle(req.settings, Some(&current.name), current.secret.is_some(), call)?;
        self.check_supported_providers(&pool.id, &s.supported_identity_providers, call).await?;
        let now = self.kernel.now();
        let updated = self
            .kernel
            .store
            .update_record::<PoolClient, _>(KIND_CLIENT, &current.client_id, &current.pool_id, now, |c| match c {
                Some(mut c) => {
                    c.name = s.name.clone();
                    c.explicit_auth_flows = s.explicit_auth_flows.clone();
                    c.supported_identity_providers = s.supported_identity_providers.clone();
                    c.access_token_validity = s.access_token_validity;
                    c.id_token_validity = s.id_token_validity;
                    c.refresh_token_validity = s.refresh_token_validity;
                    c.units = s.units.clone();
                    c.auth_session_validity = s.auth_session_validity;
                    c.oauth = s.oauth.clone();
                    c.updated_at = now;
                    (Change::Put(c.clone()), Some(c))
                }
                None => (Change::Keep, None),
            })
            .await?;
        let Some(client) = updated else {
            return Err(call.refuse_plainly(
                Reason::NotFound,
                "client",
                format!("User pool client {} does not exist.", req.client_id),
            ));
        };
        // The token service's view follows (lifetimes, providers); its secret hash is kept.
        let secret = match &client.secret {
            Some(stored) => Some(
                open_secret(self.kernel.master.as_deref(), &client.client_id, stored)
                    .map_err(|e| call.refuse(Reason::Unavailable, "client", e, "The client secret cannot be read."))?,
            ),
            None => None,
        };
        self.register_oauth_client(&client, secret.as_deref()).await?;
        call.trail.pass("update", format!("app client {} of pool {}", client.client_id, pool.id));
        Ok(json!({ "UserPoolClient": self.client_json(&client) }))
    }

    /// Stores the Cognito view of the client and its OAuth view (the same client id at
    /// `/oauth2/token` and `/auth/exchange`, one set of token lifetimes).
    pub(crate) async fn register_pool_client(&self, c: &PoolClient, secret: Option<&str>) -> Result<(), Refusal> {
        self.kernel.store.insert_document(&pool_client_document(c)).await?;
        self.register_oauth_client(c, secret).await
    }

    /// The OAuth client record of an app client (the token service's view of it).
    async fn register_oauth_client(&self, c: &PoolClient, secret: Option<&str>) -> Result<(), Refusal> {
        let oauth = Client {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            secret_sha256: secret.map(client_secret_hash),
            grant_types: vec![GRANT_REFRESH_TOKEN.into(), GRANT_TOKEN_EXCHANGE.into()],
            providers: c.upstream_providers(),
            scopes: vec![COGNITO_ADMIN_SCOPE.into(), "openid".into(), "email".into(), "profile".into()],
            access_token_ttl: c.access_ttl(),
            id_token_ttl: c.id_ttl(),
            refresh_token_ttl: c.refresh_ttl(),
            allowed_origins: Vec::new(),
        };
        self.tokens.put_client(oauth, false).await.map_err(Refusal::storage)?;
        Ok(())
    }

    /// Creates an app client with a given id (configuration and the demo); an existing one is kept.
    #[crate::entry_point]
    pub async fn ensure_pool_client(
        &self,
        pool_id: &str,
        client_id: &str,
        name: &str,
        secret: Option<&str>,
        providers: &[String],
    ) -> anyhow::Result<PoolClient> {
        if let Some(d) = self.kernel.store.get_document(KIND_CLIENT, client_id).await? {
            return Ok(serde_json::from_value(d.body)?);
        }
        let now = self.kernel.now();
        let mut supported = vec!["COGNITO".to_string()];
        supported.extend(providers.iter().cloned());
        let client = PoolClient {
            client_id: client_id.into(),
            pool_id: pool_id.into(),
            name: name.into(),
            secret: secret.map(|s| seal_secret(self.kernel.master.as_deref(), client_id, s)),
            explicit_auth_flows: FLOWS.iter().map(|s| s.to_string()).collect(),
            supported_identity_providers: supported,
            access_token_validity: 60,
            id_token_validity: 60,
            refresh_token_validity: 30,
            units: TokenUnits::default(),
            auth_session_validity: 3,
            oauth: ClientOAuth::default(),
            created_at: now,
            updated_at: now,
        };
        match self.kernel.store.insert_document(&pool_client_document(&client)).await {
            // Made meanwhile (another instance starting with the same configuration).
            Err(StoreError::Conflict(_)) => return Ok(client),
            other => other?,
        }
        self.register_oauth_client(&client, secret).await?;
        Ok(client)
    }

    /// Sets an app client's OAuth settings as the configuration names them (authoritative over
    /// changes made since by the API, as for roles), checked as the API checks them.
    #[crate::entry_point]
    pub async fn configure_client_oauth(&self, client_id: &str, oauth: ClientOAuth) -> anyhow::Result<()> {
        let now = self.kernel.now();
        let Some(d) = self.kernel.store.get_document(KIND_CLIENT, client_id).await? else {
            anyhow::bail!("app client {client_id} does not exist");
        };
        let pool_id = d.pool_id.clone();
        let has_secret = d.body.get("secret").is_some_and(|s| !s.is_null());
        oauth.check(has_secret).map_err(|(_, m)| anyhow::anyhow!("app client {client_id}: {m}"))?;
        self.kernel
            .store
            .update_record::<PoolClient, _>(KIND_CLIENT, client_id, &pool_id, now, |c| match c {
                Some(mut c) if c.oauth != oauth => {
                    c.oauth = oauth.clone();
                    c.updated_at = now;
                    (Change::Put(c), ())
                }
                _ => (Change::Keep, ()),
            })
            .await?;
        Ok(())
    }

    pub(crate) async fn describe_pool_client(&self, req: ClientRef, call: &mut Call) -> Result<Value, Refusal> {
        let client = self.client_of_pool(&req.user_pool_id, &req.client_id, call).await?;
        Ok(json!({ "UserPoolClient": self.client_json(&client) }))
    }

    pub(super) async fn client_of_pool(
        &self,
        pool_id: &str,
        client_id: &str,
        call: &mut Call,
    ) -> Result<PoolClient, Refusal> {
        self.pool(pool_id, call).await?;
        let client = self.pool_client(client_id, call).await?;
        if client.pool_id != pool_id {
            return Err(call.refuse_plainly(
                Reason::NotFound,
                "client",
                format!("User pool client {client_id} does not exist."),
            ));
        }
        Ok(client)
    }

    pub(crate) async fn list_pool_clients(&self, req: Page, call: &mut Call) -> Result<Value, Refusal> {
        let pool_id = req.user_pool_id.clone().unwrap_or_default();
        let pool = self.pool(&pool_id, call).await?;
        let limit = page_size(call, req.max_results, 60, 60)?;
        let after = parse_page_token(call, req.next_token.as_deref())?;
        let docs = self.kernel.store.list_documents(KIND_CLIENT, Some(&pool.id), after.as_deref(), limit + 1).await?;
        let more = docs.len() > limit as usize;
        let clients: Vec<PoolClient> = docs.into_iter().take(limit as usize).map(from_doc).collect::<Result<_, _>>()?;
        let next = more.then(|| page_token(&clients.last().expect("page").client_id));
        let out: Vec<Value> = clients
            .iter()
            .map(|c| json!({ "ClientId": c.client_id, "UserPoolId": c.pool_id, "ClientName": c.name }))
            .collect();
        Ok(json!({ "UserPoolClients": out, "NextToken": next }))
    }

    pub(crate) async fn delete_pool_client(&self, req: ClientRef, call: &mut Call) -> Result<Value, Refusal> {
        let client = self.client_of_pool(&req.user_pool_id, &req.client_id, call).await?;
        self.kernel.store.delete_document(KIND_CLIENT, &client.client_id).await?;
        self.tokens.remove_client(&client.client_id).await.map_err(Refusal::storage)?;
        call.trail.pass("delete", format!("app client {}", client.client_id));
        Ok(json!({}))
    }
}

/// The units a client's token validities are given in, as AWS keeps them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenUnits {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
}

impl Default for TokenUnits {
    fn default() -> Self {
        Self { access_token: "minutes".into(), id_token: "minutes".into(), refresh_token: "days".into() }
    }
}

impl PoolClient {
    pub fn access_ttl(&self) -> i64 {
        seconds(self.access_token_validity, &self.units.access_token)
    }
    pub fn id_ttl(&self) -> i64 {
        seconds(self.id_token_validity, &self.units.id_token)
    }
    pub fn refresh_ttl(&self) -> i64 {
        seconds(self.refresh_token_validity, &self.units.refresh_token)
    }
}

pub(super) fn pool_client_document(c: &PoolClient) -> Document {
    Document::new(KIND_CLIENT, &c.client_id, &c.pool_id, c, c.created_at, c.updated_at)
}
