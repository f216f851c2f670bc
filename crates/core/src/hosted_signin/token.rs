//! The pool domain's token endpoint: `authorization_code` (the code single use, bound to its
//! client, `redirect_uri` and PKCE verifier, short-lived; a second redemption ends what the
//! first issued), `refresh_token` (the family's scope kept) and `client_credentials` (a confidential client's own access token with
//! resource-server scopes).

use super::records::Claim;
use super::*;
use crate::userpool::oauth::{FLOW_CLIENT_CREDENTIALS, FLOW_CODE};

impl HostedSignIn {
    pub(super) async fn token_inner(&self, req: &TokenRequest, call: &mut Call) -> Result<HostedTokens, Refusal> {
        let pool = self.domain_pool(&req.domain, call).await?;
        let client = match self.pool_app_client(&pool, req.client.client_id.as_deref(), call).await {
            Err(mut e) if e.reason == Reason::InvalidRequest => {
                // No client named at all: the client failed to authenticate (RFC 6749 §5.2).
                e.reason = Reason::InvalidClient;
                return Err(e);
            }
            other => other?,
        };
        self.user_pools.check_client_secret(&client, req.client.client_secret.as_deref(), call)?;
        match req.grant_type.as_deref() {
            Some("authorization_code") => {
                if !client.oauth.allows_flow(FLOW_CODE) {
                    return Err(call.refuse_plainly(
                        Reason::UnauthorizedClient,
                        "flow",
                        format!("client {} may not use the authorization code flow", client.client_id),
                    ));
                }
                self.redeem(&pool, &client, req, call).await
            }
            Some("client_credentials") => self.client_credentials(&pool, &client, req.scope.as_deref(), call).await,
            Some("refresh_token") => self.refresh(&pool, &client, req, call).await,
            Some(other) => Err(call.refuse_plainly(
                Reason::UnsupportedGrantType,
                "grant_type",
                format!(
                    "grant_type {} is not supported here (authorization_code, refresh_token, client_credentials)",
                    crate::excerpt::excerpt(other)
                ),
            )),
            None => Err(call.refuse_plainly(Reason::InvalidRequest, "grant_type", "grant_type is missing")),
        }
    }

    /// Redeems a code: the checks on its grant as stored, then one atomic claim; the tokens; then
    /// the family recorded, and ended if the code was presented again meanwhile.
    async fn redeem(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        req: &TokenRequest,
        call: &mut Call,
    ) -> Result<HostedTokens, Refusal> {
        let Some(code) = req.code.as_deref() else {
            return Err(call.refuse_plainly(Reason::InvalidRequest, "code", "code is missing"));
        };
        let Some(grant) = self.code_grant(code).await?.filter(|g| g.pool_id == pool.id) else {
            return Err(call.refuse_plainly(
                Reason::InvalidGrant,
                "code",
                "the code is unknown (never issued, or purged)",
            ));
        };
        if grant.client_id != client.client_id {
            return Err(call.refuse_plainly(
                Reason::InvalidGrant,
                "client",
                format!("the code was issued to another client, not {}", client.client_id),
            ));
        }
        if grant.redeemed.is_some() {
            return Err(self.presented_again(code, pool, call).await);
        }
        let now = self.kernel.now();
        if grant.expires_at <= now {
            return Err(call.refuse_plainly(
                Reason::ExpiredCode,
                "code",
                format!("the code expired {} s ago (codes live {} s)", now - grant.expires_at, records::CODE_SECONDS),
            ));
        }
        if req.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            let detail = match &req.redirect_uri {
                None => "redirect_uri is missing; the code was issued for one".to_string(),
                Some(u) => {
                    format!("redirect_uri {} is not the one the code was issued for", crate::excerpt::excerpt(u))
                }
            };
            return Err(call.refuse_plainly(Reason::RedirectUriMismatch, "redirect_uri", detail));
        }
        match (&grant.code_challenge, req.code_verifier.as_deref()) {
            (None, None) => call.trail.pass("pkce", "none (confidential client)"),
            (None, Some(_)) => {
                return Err(call.refuse_plainly(
                    Reason::PkceMismatch,
                    "pkce",
                    "code_verifier given, but the code was issued without a code_challenge",
                ))
            }
            (Some(_), None) => {
                return Err(call.refuse_plainly(Reason::PkceMismatch, "pkce", "code_verifier is missing"))
            }
            (Some(challenge), Some(verifier)) => {
                if !pkce::verifies(verifier, challenge) {
                    return Err(call.refuse_plainly(
                        Reason::PkceMismatch,
                        "pkce",
                        "code_verifier does not match the code_challenge (S256)",
                    ));
                }
                call.trail.pass("pkce", "code_verifier matches the S256 challenge");
            }
        }
        // The client's scopes and the pool's resource servers may have changed since the code was
        // issued: its scope is checked again, as an authorize now would check it. A code granted
        // no scope stays without one (asking for none would grant the client's scopes of now).
        let scope = match grant.scope.trim() {
            "" => String::new(),
            granted => self.granted_scopes(pool, client, Some(granted), false, call).await?,
        };
        match self.claim_code(code, &pool.id).await? {
            Claim::First => call.trail.pass("code", "redeemed once (claimed atomically)"),
            Claim::Again { .. } | Claim::Unknown => return Err(self.presented_again(code, pool, call).await),
        }
        if let Some(detail) = sign_in_chain(&grant) {
            call.trail.pass("sign-in", detail);
        }
        let Some(user) = self.user_pools.signed_in_member(&pool.id, &grant.user_id).await? else {
            return Err(call.refuse_plainly(
                Reason::InvalidGrant,
                "user",
                "the code's user is disabled, deleted or no longer in the pool",
            ));
        };
        call.about(&user);
        let hosted = HostedGrant { scope: &scope, nonce: grant.nonce.as_deref(), auth_time: grant.auth_time };
        let set = self.user_pools.hosted_tokens(pool, client, &user, hosted, call).await?;
        if self.record_family(code, &pool.id, &set.family_id).await? {
            let n = self.user_pools.end_family(&set.family_id).await?;
            return Err(call.refuse_plainly(
                Reason::CodeReplayed,
                "code",
                format!("the code was presented again while it was redeemed: the tokens issued ({n}) are revoked"),
            ));
        }
        let openid = scope.split(' ').any(|s| s == "openid");
        Ok(HostedTokens {
            access_token: set.access_token,
            id_token: openid.then_some(set.id_token),
            refresh_token: set.refresh_token,
            token_type: "Bearer",
            expires_in: set.expires_in,
        })
    }

    /// A second redemption: refused, and what the first issued is ended.
    async fn presented_again(&self, code: &str, pool: &UserPool, call: &mut Call) -> Refusal {
        let (at, family) = match self.claim_code(code, &pool.id).await {
            Ok(Claim::Again { at, family_id }) => (at, family_id),
            Ok(_) => (self.kernel.now(), None),
            Err(e) => return e,
        };
        let ended = match family {
            Some(f) => match self.user_pools.end_family(&f).await {
                Ok(n) => format!("its refresh family is revoked ({n} token(s))"),
                Err(e) => return e,
            },
            None => "the first redemption is still issuing and ends its own tokens".to_string(),
        };
        call.refuse(
            Reason::CodeReplayed,
            "code",
            format!("the code was redeemed {} s ago; {ended}", self.kernel.now() - at),
            "the authorization code was already used",
        )
    }

    /// `refresh_token`: new access and id tokens of the sign-in's family, its scope kept (never
    /// widened); the refresh token stays, as Cognito's does.
    async fn refresh(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        req: &TokenRequest,
        call: &mut Call,
    ) -> Result<HostedTokens, Refusal> {
        if !client.oauth.allows_flow(FLOW_CODE) {
            return Err(call.refuse_plainly(
                Reason::UnauthorizedClient,
                "flow",
                format!("client {} has no authorization code flow to refresh", client.client_id),
            ));
        }
        let Some(token) = req.refresh_token.as_deref() else {
            return Err(call.refuse_plainly(Reason::InvalidRequest, "refresh token", "refresh_token is missing"));
        };
        let set = self.user_pools.hosted_refresh(pool, client, token, call).await.map_err(|mut e| {
            // A refresh token refused is a grant refused (RFC 6749 §5.2).
            if e.reason == Reason::NotAuthorized {
                e.reason = Reason::InvalidGrant;
            }
            e
        })?;
        let openid = set.scope.split(' ').any(|s| s == "openid");
        Ok(HostedTokens {
            access_token: set.access_token,
            id_token: openid.then_some(set.id_token),
            refresh_token: None,
            token_type: "Bearer",
            expires_in: set.expires_in,
        })
    }

    /// `client_credentials`: the scopes asked for (all the client's when none), resource-server
    /// scopes the pool's resource servers define only; an access token of the client itself.
    async fn client_credentials(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        asked: Option<&str>,
        call: &mut Call,
    ) -> Result<HostedTokens, Refusal> {
        if !client.oauth.allows_flow(FLOW_CLIENT_CREDENTIALS) {
            return Err(call.refuse_plainly(
                Reason::UnauthorizedClient,
                "flow",
                format!("client {} may not use the client_credentials flow", client.client_id),
            ));
        }
        let scope = self.granted_scopes(pool, client, asked, true, call).await?;
        let (access_token, expires_in) = self.user_pools.client_access_token(pool, client, &scope, call).await?;
        Ok(HostedTokens { access_token, id_token: None, refresh_token: None, token_type: "Bearer", expires_in })
    }
}

/// Where a code came from, as its redemption's trail names it: the request ids that find the
/// trails of the sign-in (how the user proved who they are) and of the step that issued it.
fn sign_in_chain(grant: &records::CodeGrant) -> Option<String> {
    let step = |s: &records::SignInStep| format!("request {} ({})", s.request_id, s.event);
    match (&grant.signed_in_by, &grant.issued_by) {
        (Some(by), Some(issued)) if by == issued => {
            Some(format!("the user signed in at {}, which issued the code", step(by)))
        }
        (Some(by), Some(issued)) => Some(format!(
            "the user signed in at {}; the code was issued at {} from that sign-in session",
            step(by),
            step(issued)
        )),
        (Some(by), None) => Some(format!("the user signed in at {}", step(by))),
        (None, Some(issued)) => {
            Some(format!("the code was issued at {} from an earlier sign-in session", step(issued)))
        }
        (None, None) => None,
    }
}
