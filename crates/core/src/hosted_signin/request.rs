//! An authorization request (`GET /oauth2/authorize`, and again with each sign-in form) checked
//! in order: the pool's domain, the client, the `redirect_uri` (one of the client's callback URLs,
//! exactly; until it is known good no error goes back to the client), the flow, the response
//! type, the scopes, PKCE, `identity_provider`.

use super::pkce;
use super::*;
use crate::excerpt::excerpt;
use crate::userpool::oauth::{is_resource_scope, FLOW_CODE};
use crate::userpool::{IdentityProvider, ProviderType};
use std::collections::BTreeMap;

/// Longest `state` and `nonce` taken: they travel in URLs and tokens.
const MAX_ECHOED: usize = 2048;

/// An authorization request as checked: what a code will grant, and where it goes.
pub(super) struct Checked {
    pub pool: UserPool,
    pub client: PoolClient,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub page: SignInPage,
    /// The SAML or OIDC provider the request names (`identity_provider`, `idp_identifier`):
    /// sign-in happens there, not on the page.
    pub federate: Option<IdentityProvider>,
}

/// What the request leaves to the page, or the provider it names.
struct Choice {
    password: bool,
    providers: Vec<String>,
    federate: Option<IdentityProvider>,
}

impl HostedSignIn {
    /// The pool the domain names.
    pub(super) async fn domain_pool(&self, domain: &str, call: &mut Call) -> Result<UserPool, Refusal> {
        match self.user_pools.domain_pool(domain).await? {
            Some(p) => {
                call.trail.pass("domain", format!("{domain} is the domain of pool {}", p.id));
                Ok(p)
            }
            None => Err(call.refuse_plainly(
                Reason::NotFound,
                "domain",
                format!("no user pool has the domain {}", crate::excerpt::excerpt(domain)),
            )),
        }
    }

    /// An app client of `pool`, named by the request.
    pub(super) async fn pool_app_client(
        &self,
        pool: &UserPool,
        client_id: Option<&str>,
        call: &mut Call,
    ) -> Result<PoolClient, Refusal> {
        let Some(id) = client_id else {
            return Err(call.refuse_plainly(Reason::InvalidRequest, "client", "client_id is missing"));
        };
        let unknown = |call: &mut Call| {
            call.refuse_plainly(
                Reason::InvalidClient,
                "client",
                format!("no app client {} in pool {}", crate::excerpt::excerpt(id), pool.id),
            )
        };
        let client = match self.user_pools.pool_client(id, call).await {
            Ok(c) if c.pool_id == pool.id => c,
            Ok(_) => return Err(unknown(call)),
            Err(e) if e.reason == Reason::NotFound => return Err(unknown(call)),
            Err(e) => return Err(e),
        };
        Ok(client)
    }

    /// Checks an authorization request; `back` is set as soon as the `redirect_uri` is known
    /// good, so that later refusals go back to the client (RFC 6749 §4.1.2.1).
    pub(super) async fn check_request(
        &self,
        req: &AuthorizeRequest,
        back: &mut Option<ClientRedirect>,
        call: &mut Call,
    ) -> Result<Checked, Refusal> {
        let pool = self.domain_pool(&req.domain, call).await?;
        let client = self.pool_app_client(&pool, req.client_id.as_deref(), call).await?;
        call.trail.pass("client", format!("{} ({})", client.client_id, client.name));
        let redirect_uri = match req.redirect_uri.as_deref() {
            Some(uri) if client.oauth.is_callback(uri) => uri.to_string(),
            Some(uri) => {
                return Err(call.refuse_plainly(
                    Reason::UnregisteredRedirectUri,
                    "redirect_uri",
                    format!(
                        "redirect_uri {} is not one of the callback URLs of client {}",
                        crate::excerpt::excerpt(uri),
                        client.client_id
                    ),
                ))
            }
            None => match (&client.oauth.default_redirect_uri, client.oauth.callback_urls.as_slice()) {
                (Some(d), _) => d.clone(),
                (None, [only]) => only.clone(),
                _ => {
                    return Err(call.refuse_plainly(
                        Reason::InvalidRequest,
                        "redirect_uri",
                        format!("redirect_uri is missing and client {} has no default", client.client_id),
                    ))
                }
            },
        };
        if req.state.as_ref().is_some_and(|s| s.len() > MAX_ECHOED) {
            return Err(call.refuse_plainly(Reason::InvalidRequest, "state", "state is longer than 2048 characters"));
        }
        *back = Some(ClientRedirect { redirect_uri: redirect_uri.clone(), state: req.state.clone() });
        call.trail.pass("redirect_uri", "one of the client's callback URLs");
        if !client.oauth.allows_flow(FLOW_CODE) {
            return Err(call.refuse_plainly(
                Reason::UnauthorizedClient,
                "flow",
                format!("client {} may not use the authorization code flow", client.client_id),
            ));
        }
        match req.response_type.as_deref() {
            Some("code") => call.trail.pass("response_type", "code"),
            None => {
                return Err(call.refuse_plainly(Reason::InvalidRequest, "response_type", "response_type is missing"))
            }
            Some(other) => {
                return Err(call.refuse_plainly(
                    Reason::UnsupportedResponseType,
                    "response_type",
                    format!("response_type {} is not supported: use code (with PKCE)", crate::excerpt::excerpt(other)),
                ))
            }
        }
        let scope = self.granted_scopes(&pool, &client, req.scope.as_deref(), false, call).await?;
        let code_challenge = self.check_pkce(&client, req, call)?;
        if req.nonce.as_ref().is_some_and(|n| n.len() > MAX_ECHOED) {
            return Err(call.refuse_plainly(Reason::InvalidRequest, "nonce", "nonce is longer than 2048 characters"));
        }
        let choice = self.chosen_providers(&pool, &client, req, call).await?;
        let page = SignInPage {
            pool_name: pool.name.clone(),
            client_id: client.client_id.clone(),
            client_name: client.name.clone(),
            password: choice.password,
            providers: choice.providers,
            login_hint: req.login_hint.clone().filter(|h| h.len() <= 128),
        };
        let federate = choice.federate;
        Ok(Checked { pool, client, redirect_uri, scope, nonce: req.nonce.clone(), code_challenge, page, federate })
    }

    /// The scopes asked for (all the client's when none are named): each allowed to the client
    /// (its AllowedOAuthScopes) and, for a resource server's `<identifier>/<scope>`, defined by
    /// that resource server of the pool; with `resource_only` (client_credentials) nothing else.
    /// Of the client's scopes granted by default, one whose resource server no longer defines it
    /// is left out.
    pub(super) async fn granted_scopes(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        asked: Option<&str>,
        resource_only: bool,
        call: &mut Call,
    ) -> Result<String, Refusal> {
        let mut defined: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
        let mut scopes: Vec<&str> = Vec::new();
        match asked.map(str::trim).filter(|s| !s.is_empty()) {
            None => {
                for s in &client.oauth.allowed_oauth_scopes {
                    if resource_only && !is_resource_scope(s) {
                        continue;
                    }
                    if !is_resource_scope(s) || self.defines(pool, s, &mut defined).await? {
                        scopes.push(s);
                    }
                }
            }
            Some(asked) => {
                for s in asked.split(' ').filter(|s| !s.is_empty()) {
                    let resource = is_resource_scope(s);
                    if !client.oauth.allows_scope(s) || (resource_only && !resource) {
                        let what = if resource_only { "a resource-server scope allowed" } else { "allowed" };
                        return Err(call.refuse_plainly(
                            Reason::InvalidScope,
                            "scope",
                            format!(
                                "scope {} is not {what} for client {}",
                                crate::excerpt::excerpt(s),
                                client.client_id
                            ),
                        ));
                    }
                    if resource && !self.defines(pool, s, &mut defined).await? {
                        return Err(call.refuse_plainly(
                            Reason::InvalidScope,
                            "scope",
                            format!(
                                "scope {} is not defined by a resource server of pool {}",
                                crate::excerpt::excerpt(s),
                                pool.id
                            ),
                        ));
                    }
                    if !scopes.contains(&s) {
                        scopes.push(s);
                    }
                }
            }
        }
        if resource_only && scopes.is_empty() {
            return Err(call.refuse_plainly(
                Reason::InvalidScope,
                "scope",
                format!("client {} has no resource-server scope of pool {} to grant", client.client_id, pool.id),
            ));
        }
        let scope = scopes.join(" ");
        call.trail.pass("scope", format!("granted {scope:?}"));
        Ok(scope)
    }

    /// Whether the pool's resource server `<identifier>` defines `<identifier>/<scope>` (the
    /// identifier may hold `/`; a scope name may not). `known` keeps what was read per identifier.
    async fn defines(
        &self,
        pool: &UserPool,
        scope: &str,
        known: &mut BTreeMap<String, Option<Vec<String>>>,
    ) -> Result<bool, Refusal> {
        let Some((identifier, name)) = scope.rsplit_once('/') else { return Ok(false) };
        if !known.contains_key(identifier) {
            let scopes = self.user_pools.resource_server_scopes(&pool.id, identifier).await?;
            known.insert(identifier.to_string(), scopes);
        }
        Ok(known[identifier].as_ref().is_some_and(|names| names.iter().any(|n| n == name)))
    }

    /// PKCE: S256 only; required of public clients (they hold no secret to bind the code to).
    fn check_pkce(
        &self,
        client: &PoolClient,
        req: &AuthorizeRequest,
        call: &mut Call,
    ) -> Result<Option<String>, Refusal> {
        let Some(challenge) = req.code_challenge.as_deref() else {
            if client.secret.is_none() {
                return Err(call.refuse_plainly(
                    Reason::PkceRequired,
                    "pkce",
                    format!("client {} is public: code_challenge (PKCE, S256) is required", client.client_id),
                ));
            }
            call.trail.pass("pkce", "none (confidential client)");
            return Ok(None);
        };
        match req.code_challenge_method.as_deref() {
            Some(pkce::S256) => {}
            Some(m) => {
                return Err(call.refuse_plainly(
                    Reason::PkceMethodUnsupported,
                    "pkce",
                    format!("code_challenge_method {} is not supported: only S256", crate::excerpt::excerpt(m)),
                ))
            }
            None => {
                return Err(call.refuse_plainly(
                    Reason::PkceMethodUnsupported,
                    "pkce",
                    "code_challenge_method is missing (it would mean plain, which is refused): use S256",
                ))
            }
        }
        if !pkce::is_challenge(challenge) {
            return Err(call.refuse_plainly(
                Reason::InvalidRequest,
                "pkce",
                "code_challenge is not an S256 challenge (43 base64url characters)",
            ));
        }
        call.trail.pass("pkce", "S256 challenge");
        Ok(Some(challenge.to_string()))
    }

    /// Whether the page offers the password form, and which providers: all of the client's, or
    /// the one `identity_provider` / `idp_identifier` names (no chooser then). A SAML provider
    /// named is where the sign-in happens.
    async fn chosen_providers(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        req: &AuthorizeRequest,
        call: &mut Call,
    ) -> Result<Choice, Refusal> {
        let password = client.supported_identity_providers.iter().any(|p| p == "COGNITO");
        let upstreams = client.upstream_providers();
        let named = match (req.identity_provider.as_deref(), req.idp_identifier.as_deref()) {
            (Some(name), _) => name.to_string(),
            (None, Some(id)) => match self.user_pools.provider_by_identifier(&pool.id, id).await? {
                Some(p) => {
                    call.trail
                        .pass("idp identifier", format!("{} is an identifier of provider {}", excerpt(id), p.name));
                    p.name
                }
                // Not an identifier: taken as a provider name, as before identifiers existed.
                None => id.to_string(),
            },
            (None, None) => return Ok(Choice { password, providers: upstreams, federate: None }),
        };
        let named = named.as_str();
        if named == "COGNITO" && password {
            call.trail.pass("identity provider", "COGNITO: the password form");
            return Ok(Choice { password: true, providers: Vec::new(), federate: None });
        }
        if upstreams.iter().any(|p| p == named) {
            if let Some(p) = self.user_pools.provider(&pool.id, named).await? {
                let kind = match p.provider_type {
                    ProviderType::Saml if p.saml.is_some() => Some("SAML"),
                    ProviderType::Oidc => Some("OIDC"),
                    ProviderType::Saml => None,
                };
                if let Some(kind) = kind {
                    call.trail.pass("identity provider", format!("{kind} provider {named}: sign-in at the provider"));
                    return Ok(Choice { password: false, providers: vec![named.to_string()], federate: Some(p) });
                }
            }
            return Err(call.refuse_plainly(
                Reason::InvalidRequest,
                "identity provider",
                format!("sign-in through provider {named} is not offered by this server"),
            ));
        }
        Err(call.refuse_plainly(
            Reason::InvalidRequest,
            "identity provider",
            format!("{} is not an identity provider of client {}", crate::excerpt::excerpt(named), client.client_id),
        ))
    }
}
