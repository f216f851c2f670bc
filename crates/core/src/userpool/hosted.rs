//! What the hosted sign-in (`crate::hosted_signin`) asks of a pool: the same password check,
//! lockout and new-password challenge as `USER_PASSWORD_AUTH`, the same pool tokens, and who a
//! session or an access token belongs to. The hosted sign-in owns its codes and sessions; the
//! pool owns its users, clients and refresh families.

use super::auth::Proven;
use super::*;
use crate::jose::sha256_hex;
use crate::model::Client;
use crate::secrets::constant_time_eq;
use crate::tokens::{SignInFacts, TokenSet};
use std::collections::HashMap;

/// What a password at the hosted pages proved.
pub(crate) enum HostedProof {
    SignedIn(User),
    /// The password was temporary: `session` answers the new-password step of `username`.
    NewPasswordRequired {
        session: String,
        username: String,
    },
}

/// What a sign-in grants, for the tokens that carry it.
pub(crate) struct HostedGrant<'a> {
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
}

impl UserPools {
    /// A password at the hosted pages: `USER_PASSWORD_AUTH`'s checks (a stand-in hash for
    /// unknown names, the lockout counted and judged atomically) and its answers, by the user's
    /// state. No `SECRET_HASH`: a browser holds no client secret.
    pub(crate) async fn hosted_password(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        username: &str,
        password: &str,
        call: &mut Call,
    ) -> Result<HostedProof, Refusal> {
        let (user, member) = self.password_login(pool, username, password, call).await?;
        match self.password_proven(pool, client, user, member, call).await? {
            Proven::SignedIn(user) => Ok(HostedProof::SignedIn(user)),
            Proven::NewPasswordRequired { session, username, .. } => {
                Ok(HostedProof::NewPasswordRequired { session, username })
            }
        }
    }

    /// The new-password step: `session` is the one [`Self::hosted_password`] gave; the pool's
    /// password policy holds; the user is confirmed with the new password.
    pub(crate) async fn hosted_new_password(
        &self,
        client: &PoolClient,
        session: &str,
        username: &str,
        new_password: &str,
        call: &mut Call,
    ) -> Result<User, Refusal> {
        let responses = HashMap::from([("NEW_PASSWORD".to_string(), new_password.to_string())]);
        let (_, user, _, _) =
            self.answer_challenge(client, "NEW_PASSWORD_REQUIRED", session, username, &responses, call).await?;
        Ok(user)
    }

    /// The pool's tokens for a hosted sign-in: minted as for `USER_PASSWORD_AUTH`, with the
    /// granted scopes, the request's nonce and when the user signed in.
    pub(crate) async fn hosted_tokens(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        user: &User,
        grant: HostedGrant<'_>,
        call: &mut Call,
    ) -> Result<TokenSet, Refusal> {
        if !user.enabled {
            return Err(call.refuse_plainly(Reason::NotAuthorized, "user enabled", "User is disabled."));
        }
        let oauth = self.oauth_client(client, call).await?;
        let origin = format!("userpool:{}:hosted", pool.id);
        let facts = SignInFacts { auth_time: grant.auth_time, nonce: grant.nonce, origin: &origin };
        let set =
            self.tokens.issue_pool_sign_in(&pool.issuer(&self.kernel.issuer), user, &oauth, grant.scope, facts).await?;
        call.trail
            .pass("issue", format!("tokens for {:?} from pool {} (scope {})", user.username, pool.id, grant.scope));
        Ok(set)
    }

    /// The `refresh_token` grant at the domain's token endpoint (the client authenticated
    /// already): new access and id tokens of the family, with its scope; the refresh token kept.
    pub(crate) async fn hosted_refresh(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        token: &str,
        call: &mut Call,
    ) -> Result<TokenSet, Refusal> {
        let (record, user) = self.live_refresh(client, token, call).await?;
        self.refreshed(pool, client, &record, &user, call).await
    }

    /// An access token of `client` itself (`client_credentials`), with `scope`.
    pub(crate) async fn client_access_token(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        scope: &str,
        call: &mut Call,
    ) -> Result<(String, i64), Refusal> {
        let oauth = self.oauth_client(client, call).await?;
        let token = self.tokens.issue_client_access_token(&pool.issuer(&self.kernel.issuer), &oauth, scope).await;
        call.trail.pass("issue", format!("access token of client {} (scope {scope})", client.client_id));
        Ok(token)
    }

    async fn oauth_client(&self, client: &PoolClient, call: &mut Call) -> Result<Arc<Client>, Refusal> {
        match self.tokens.client_record(&client.client_id).await? {
            Some(c) => Ok(c),
            None => Err(call.refuse(
                Reason::Unavailable,
                "client",
                "the app client's OAuth record is missing",
                "Internal error.",
            )),
        }
    }

    /// The user a sign-in session names, while they may still sign in to `pool_id`: existing,
    /// enabled, a confirmed (or federated) member of that pool.
    pub(crate) async fn signed_in_member(&self, pool_id: &str, user_id: &str) -> Result<Option<User>, Refusal> {
        let Some(user) = self.kernel.store.get_user(user_id).await?.filter(|u| u.enabled) else { return Ok(None) };
        let Some(d) = self.kernel.store.get_document(KIND_MEMBER, &user.id).await? else { return Ok(None) };
        if d.pool_id != pool_id {
            return Ok(None);
        }
        let member: Member = from_doc(d)?;
        Ok(matches!(member.status, UserStatus::Confirmed | UserStatus::ExternalProvider).then_some(user))
    }

    /// A confidential client's secret, as the token endpoint takes it (HTTP Basic or the form),
    /// compared in constant time; a public client must present none.
    pub(crate) fn check_client_secret(
        &self,
        client: &PoolClient,
        presented: Option<&str>,
        call: &mut Call,
    ) -> Result<(), Refusal> {
        match (&client.secret, presented) {
            (None, None) => {
                call.trail.pass("client", format!("{} (public, no secret)", client.client_id));
                Ok(())
            }
            (None, Some(_)) => Err(call.refuse_plainly(
                Reason::InvalidClient,
                "client",
                format!("client {} has no secret, yet one was presented", client.client_id),
            )),
            (Some(_), None) => Err(call.refuse_plainly(
                Reason::InvalidClient,
                "client",
                format!("client {} is confidential: its secret is required", client.client_id),
            )),
            (Some(stored), Some(p)) => {
                let secret = open_secret(self.kernel.master.as_deref(), &client.client_id, stored)
                    .map_err(|e| call.refuse(Reason::Unavailable, "client", e, "The client secret cannot be read."))?;
                if !constant_time_eq(p.as_bytes(), secret.as_bytes()) {
                    return Err(call.refuse_plainly(
                        Reason::InvalidClient,
                        "client",
                        format!("the secret of client {} does not match", client.client_id),
                    ));
                }
                call.trail.pass("client", format!("{} authenticated by its secret", client.client_id));
                Ok(())
            }
        }
    }

    /// Ends a sign-in session's refresh family (a code redeemed twice): its refresh token stops
    /// refreshing and its access tokens stop passing the revocation check, the authorizer's
    /// cache too.
    pub(crate) async fn end_family(&self, family_id: &str) -> Result<u64, Refusal> {
        let n = self.kernel.store.revoke_refresh_family(family_id).await?;
        self.authorizer.family_revoked(family_id);
        Ok(n)
    }

    /// RFC 7009 at the pool's domain: a refresh token of `client` ends its family; any other
    /// token is answered alike and nothing changes (RFC 7009 §2.2).
    pub(crate) async fn hosted_revoke(&self, client: &PoolClient, token: &str, call: &mut Call) -> Result<(), Refusal> {
        let record = self.kernel.store.get_refresh_token(&sha256_hex(token.as_bytes())).await?;
        match record.filter(|r| r.client_id == client.client_id) {
            Some(r) => {
                let n = self.end_family(&r.family_id).await?;
                call.trail.pass("revoke", format!("refresh family revoked ({n} token(s))"));
            }
            None => call.trail.pass("revoke", "not a refresh token of this client: nothing to revoke"),
        }
        Ok(())
    }

    /// OIDC UserInfo at the pool's domain: an access token of this pool with the `openid` scope
    /// (or Cognito's admin scope), its user's claims as the token's scopes allow.
    pub(crate) async fn hosted_userinfo(
        &self,
        pool: &UserPool,
        token: &str,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let t = self.tokens.verify_access_token(token, &mut call.trail).await?;
        let iss = pool.issuer(&self.kernel.issuer);
        if t.str("iss") != Some(iss.as_str()) {
            return Err(call.refuse(
                Reason::InvalidToken,
                "issuer",
                format!("the token's issuer is not pool {}", pool.id),
                "Access token is not of this user pool",
            ));
        }
        let scopes: Vec<&str> = t.str("scope").unwrap_or_default().split(' ').collect();
        let admin = scopes.contains(&COGNITO_ADMIN_SCOPE);
        if !scopes.contains(&"openid") && !admin {
            return Err(call.refuse_plainly(
                Reason::InsufficientScope,
                "scope",
                "the access token has neither the openid scope nor aws.cognito.signin.user.admin",
            ));
        }
        let sub = t.str("sub").unwrap_or_default().to_string();
        let Some(user) = self.signed_in_member(&pool.id, &sub).await? else {
            return Err(call.refuse(
                Reason::InvalidToken,
                "user",
                "the token's user is disabled, deleted or no longer in the pool",
                "Access token is no longer valid",
            ));
        };
        call.about(&user);
        let mut out = Map::new();
        out.insert("sub".into(), json!(user.id));
        out.insert("username".into(), json!(user.username));
        let has = |s: &str| admin || scopes.contains(&s);
        if has("email") {
            if let Some(e) = &user.email {
                out.insert("email".into(), json!(e));
                out.insert("email_verified".into(), json!(user.email_verified.to_string()));
            }
        }
        for (k, v) in &user.attributes {
            let shown = match k.as_str() {
                "phone_number" | "phone_number_verified" => has("phone"),
                _ => has("profile"),
            };
            if shown {
                out.insert(k.clone(), json!(v));
            }
        }
        call.trail.pass("userinfo", format!("claims of {:?}", user.username));
        Ok(Value::Object(out))
    }
}
