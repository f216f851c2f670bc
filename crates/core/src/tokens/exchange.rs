//! RFC 8693 token exchange (and `POST /auth/exchange`): an upstream provider's token becomes this
//! system's tokens for the local user it is linked to.

use super::issue::Session;
use super::TokenService;
use super::{denied, deny, ExchangeRequest, TokenSet};
use crate::audit::{Principal, RequestContext};
use crate::config::LinkTarget;
use crate::directory::NewUser;
use crate::jose::{looks_like_jwe, looks_like_jwt, token_label, UnverifiedJwt};
use crate::model::{Client, User, GRANT_TOKEN_EXCHANGE};
use crate::operation::Operation;
use crate::refusal::{Reason, Refusal};
use crate::trail::Trail;
use crate::upstream::{SubjectTokenType, UpstreamIdentity, TT_ACCESS_TOKEN, TT_ID_TOKEN, TT_JWT, TT_REFRESH_TOKEN};
use serde_json::{json, Map, Value};

impl TokenService {
    /// RFC 8693 token exchange, and the seed's `POST /auth/exchange`.
    #[crate::entry_point]
    pub async fn exchange(&self, req: ExchangeRequest, ctx: &RequestContext) -> Result<TokenSet, Refusal> {
        let params = json!({
            "clientId": req.client.client_id,
            "provider": req.provider,
            "subjectTokenType": format!("{:?}", req.subject_token_type),
            "subjectToken": token_label(&req.subject_token),
            "audience": req.audience,
            "scope": req.scope,
        });
        let op = Operation::new("TokenExchange", ctx, params);
        let result = self.kernel
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
    ) -> Result<TokenSet, Refusal> {
        let now = self.kernel.now();
        if req.subject_token.is_empty() {
            return Err(deny(trail, Reason::InvalidRequest, "request", "subject_token is missing"));
        }
        if req.subject_token.len() > crate::upstream::MAX_TOKEN_BYTES {
            return Err(deny(
                trail,
                Reason::InvalidGrant,
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
                    Reason::InvalidRequest,
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
                Reason::InvalidGrant,
                "format",
                "the token is encrypted (JWE, five segments); only signed JWTs (JWS) are accepted",
            ));
        }
        let unverified_iss = match looks_like_jwt(&req.subject_token) {
            true => UnverifiedJwt::parse(&req.subject_token)
                .map_err(|e| deny(trail, Reason::InvalidGrant, e.check, e.detail))?
                .claim_str("iss")
                .map(str::to_string),
            false => None,
        };
        if unverified_iss.as_deref() == Some(self.kernel.issuer.as_str()) {
            return Err(deny(
                trail,
                Reason::InvalidGrant,
                "provider",
                "this system's own token is not an upstream token; use grant_type=refresh_token to renew",
            ));
        }
        let provider = match (&req.provider, &unverified_iss) {
            (Some(name), _) => self.kernel.upstreams.by_name(name).ok_or_else(|| {
                deny(trail, Reason::InvalidRequest, "provider", format!("no provider named {name:?}"))
            })?,
            (None, Some(iss)) => self.kernel.upstreams.by_issuer(iss).ok_or_else(|| {
                deny(trail, Reason::InvalidGrant, "provider", format!("no configured provider has issuer {iss:?}"))
            })?,
            (None, None) => match self.kernel.upstreams.all() {
                [only] => only,
                [] => {
                    return Err(deny(trail, Reason::InvalidRequest, "provider", "no upstream providers are configured"))
                }
                _ => {
                    return Err(deny(
                        trail,
                        Reason::InvalidRequest,
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
                Reason::UnauthorizedClient,
                "grant",
                format!("client {:?} may not use token exchange", client.client_id),
            ));
        }
        if !client.allows_provider(provider.name()) {
            return Err(deny(
                trail,
                Reason::UnauthorizedClient,
                "provider",
                format!("client {:?} does not accept provider {:?}", client.client_id, provider.name()),
            ));
        }
        if let Some(aud) = &req.audience {
            if aud != &client.client_id && aud != &self.kernel.issuer {
                return Err(deny(
                    trail,
                    Reason::InvalidTarget,
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
        trail.pass("issue", format!("tokens for {:?} signed with {}", user.username, self.kernel.keys.active().kid));
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
    ) -> Result<(UpstreamIdentity, User), Refusal> {
        let now = self.kernel.now();
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
                Reason::InvalidGrant,
                "user enabled",
                format!("local user {:?} is disabled", user.username),
            ));
        }
        trail.pass("user enabled", user.username.clone());
        if let Some(want) = expected_user {
            if user.id != want {
                return Err(deny(
                    trail,
                    Reason::InvalidGrant,
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
            let fresh =
                self.kernel.store.insert_replay_marker(&key.hash, until, now).await.map_err(Refusal::storage)?;
            if !fresh {
                return Err(deny(
                    trail,
                    Reason::InvalidGrant,
                    "one-time use",
                    format!("token already used (replay key {} was exchanged before)", key.label()),
                ));
            }
            trail.pass("one-time use", format!("first use; replay key {}", key.label()));
        }
        Ok((identity, user))
    }

    fn narrow_scope(&self, client: &Client, requested: Option<&str>, trail: &mut Trail) -> Result<String, Refusal> {
        let Some(req) = requested.filter(|s| !s.trim().is_empty()) else {
            return Ok(client.scopes.join(" "));
        };
        for s in req.split_whitespace() {
            if !client.scopes.iter().any(|c| c == s) {
                return Err(deny(
                    trail,
                    Reason::InvalidScope,
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
    ) -> Result<User, Refusal> {
        let value = match identity.value_of(claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(deny(
                    trail,
                    Reason::InvalidGrant,
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
                        Reason::InvalidGrant,
                        "link",
                        format!("upstream email {value:?} is not verified (email_verified is not true)"),
                    ));
                }
                let mut users = self.kernel.store.find_users_by_email(&value).await.map_err(Refusal::storage)?;
                if users.len() > 1 {
                    return Err(deny(
                        trail,
                        Reason::InvalidGrant,
                        "link",
                        format!("{} local users share email {value:?}; link one explicitly", users.len()),
                    ));
                }
                users.pop()
            }
            LinkTarget::Username => self.kernel.store.find_user_by_username(&value).await.map_err(Refusal::storage)?,
            LinkTarget::Sub => self.kernel.store.get_user(&value).await.map_err(Refusal::storage)?,
            LinkTarget::Link => {
                match self.kernel.store.find_link(&identity.provider, &value).await.map_err(Refusal::storage)? {
                    Some(l) => self.kernel.store.get_user(&l.user_id).await.map_err(Refusal::storage)?,
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
                    .kernel
                    .directory
                    .create_user(NewUser { username, email, email_verified: true, enabled: true, ..Default::default() })
                    .await
                    .map_err(|e| {
                        deny(
                            trail,
                            Reason::InvalidGrant,
                            "link",
                            format!("just-in-time user could not be created: {e}"),
                        )
                    })?;
                if link_to == LinkTarget::Link {
                    let _ = self.kernel.directory.link(&user.username, &identity.provider, &value).await;
                }
                trail.pass(
                    "link",
                    format!("created local user {:?} just in time for upstream {what} {value:?}", user.username),
                );
                Ok(user)
            }
            None => Err(deny(
                trail,
                Reason::InvalidGrant,
                "link",
                format!("no local user is linked to upstream {what} {value:?}"),
            )),
        }
    }
}
