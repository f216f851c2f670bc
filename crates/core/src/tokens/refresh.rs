//! `grant_type=refresh_token`: rotation, reuse detection (a rotated-out token revokes its family)
//! and the grace for a retry whose answer was lost.

use super::issue::Session;
use super::TokenService;
use super::{deny, short, ClientCredentials, TokenSet};
use crate::audit::{Principal, RequestContext};
use crate::jose::{sha256_hex, token_label};
use crate::model::{RefreshStatus, RefreshTokenRecord, RotateOutcome, GRANT_REFRESH_TOKEN};
use crate::operation::Operation;
use crate::refusal::{Reason, Refusal};
use crate::secrets::random_secret;
use crate::trail::Trail;
use serde_json::{json, Map};

impl TokenService {
    /// `grant_type=refresh_token`: rotates the refresh token; a rotated-out token revokes its family
    /// (unless it is a retry within the reuse grace).
    #[crate::entry_point]
    pub async fn refresh(
        &self,
        creds: &ClientCredentials,
        refresh_token: &str,
        ctx: &RequestContext,
    ) -> Result<TokenSet, Refusal> {
        let params = json!({ "clientId": creds.client_id, "refreshToken": token_label(refresh_token) });
        self.kernel.run(
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
    ) -> Result<TokenSet, Refusal> {
        let now = self.kernel.now();
        let client = self.authenticate_client(creds, false, trail).await?;
        if !client.allows_grant(GRANT_REFRESH_TOKEN) {
            return Err(deny(
                trail,
                Reason::UnauthorizedClient,
                "grant",
                format!("client {:?} may not use refresh_token", client.client_id),
            ));
        }
        if token.is_empty() {
            return Err(deny(trail, Reason::InvalidRequest, "request", "refresh_token is missing"));
        }
        let hash = sha256_hex(token.as_bytes());
        let Some(current) = self.kernel.store.get_refresh_token(&hash).await.map_err(Refusal::storage)? else {
            return Err(deny(trail, Reason::InvalidGrant, "refresh token", "refresh token is not recognized"));
        };
        if current.client_id != client.client_id {
            return Err(deny(
                trail,
                Reason::InvalidGrant,
                "refresh token",
                format!("refresh token was issued to another client, not {:?}", client.client_id),
            ));
        }
        if current.origin.starts_with("userpool:") {
            return Err(deny(
                trail,
                Reason::InvalidGrant,
                "refresh token",
                "a user pool's refresh token is used with InitiateAuth REFRESH_TOKEN_AUTH",
            ));
        }
        let user = self.kernel.store.get_user(&current.user_id).await.map_err(Refusal::storage)?;
        let Some(user) = user.filter(|u| u.enabled) else {
            self.kernel.store.revoke_refresh_family(&current.family_id).await.map_err(Refusal::storage)?;
            self.authorizer.family_revoked(&current.family_id);
            return Err(deny(
                trail,
                Reason::InvalidGrant,
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
        match self.kernel.store.rotate_refresh_token(&hash, &next, now).await.map_err(Refusal::storage)? {
            RotateOutcome::Rotated(_) => {
                trail.pass("rotation", format!("family {} rotated", short(&current.family_id)))
            }
            RotateOutcome::Reused(r) => {
                if !self.retry_within_grace(&r, &next, now, trail).await? {
                    let n = self.kernel.store.revoke_refresh_family(&r.family_id).await.map_err(Refusal::storage)?;
                    self.authorizer.family_revoked(&r.family_id);
                    return Err(deny(
                        trail,
                        Reason::InvalidGrant,
                        "rotation",
                        format!(
                            "refresh token was already used; its family {} is revoked ({n} active token(s) revoked)",
                            short(&r.family_id)
                        ),
                    ));
                }
            }
            RotateOutcome::Revoked(_) => {
                return Err(deny(trail, Reason::InvalidGrant, "rotation", "refresh token has been revoked"))
            }
            RotateOutcome::Expired(r) => {
                return Err(deny(
                    trail,
                    Reason::InvalidGrant,
                    "rotation",
                    format!("refresh token expired {} s ago", now - r.expires_at),
                ))
            }
            RotateOutcome::NotFound => {
                return Err(deny(trail, Reason::InvalidGrant, "rotation", "refresh token is not recognized"))
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
    ) -> Result<bool, Refusal> {
        let grace = self.kernel.config.issuer.refresh_reuse_grace_seconds;
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
                    .kernel
                    .store
                    .retry_refresh_rotation(&presented.token_hash, next, now, now - grace)
                    .await
                    .map_err(Refusal::storage)?
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
}
