//! RFC 7009 revocation: a refresh token, or an access or id token, revokes its whole family.

use super::TokenService;
use super::{deny, short, ClientCredentials};
use crate::audit::RequestContext;
use crate::issuer;
use crate::jose::{looks_like_jwt, sha256_hex, token_label};
use crate::operation::Operation;
use crate::refusal::{Reason, Refusal};
use crate::trail::Trail;
use serde_json::json;

impl TokenService {
    /// RFC 7009: revoking a refresh token, or an access/id token, revokes its whole family.
    /// Unknown tokens are not an error (the RFC says answer 200).
    #[crate::entry_point]
    pub async fn revoke(&self, creds: &ClientCredentials, token: &str, ctx: &RequestContext) -> Result<(), Refusal> {
        let params = json!({ "clientId": creds.client_id, "token": token_label(token) });
        self.kernel
            .run(
                Operation::new("RevokeToken", ctx, params),
                async |call| self.revoke_inner(creds, token, &mut call.trail).await,
                |_| json!({}),
            )
            .await
    }

    async fn revoke_inner(&self, creds: &ClientCredentials, token: &str, trail: &mut Trail) -> Result<(), Refusal> {
        let client = self.authenticate_client(creds, false, trail).await?;
        if token.is_empty() {
            return Err(deny(trail, Reason::InvalidRequest, "request", "token is missing"));
        }
        let family = if looks_like_jwt(token) {
            match issuer::verify_own(&self.kernel.keys, &self.kernel.issuer, token, None, self.kernel.now()).await {
                Ok(t) => {
                    let owner = t.str("client_id").or(t.str("aud")).unwrap_or_default();
                    (owner == client.client_id).then(|| t.str("origin_jti").map(str::to_string)).flatten()
                }
                Err(_) => None,
            }
        } else {
            let r =
                self.kernel.store.get_refresh_token(&sha256_hex(token.as_bytes())).await.map_err(Refusal::storage)?;
            r.filter(|r| r.client_id == client.client_id).map(|r| r.family_id)
        };
        match family {
            Some(f) => {
                let n = self.kernel.store.revoke_refresh_family(&f).await.map_err(Refusal::storage)?;
                self.authorizer.family_revoked(&f);
                trail.pass("revoke", format!("family {} revoked ({n} active token(s))", short(&f)));
            }
            None => trail.skip("revoke", "token unknown or not this client's; nothing to revoke"),
        }
        Ok(())
    }
}
