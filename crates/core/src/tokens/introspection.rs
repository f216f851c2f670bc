//! What a token of this issuer says, and whether it still holds: RFC 7662 introspection, the
//! bearer check of the doors that take access tokens, and OIDC UserInfo.

use super::TokenService;
use super::{deny, ClientCredentials};
use crate::audit::{Principal, RequestContext};
use crate::issuer;
use crate::jose::{looks_like_jwt, sha256_hex, token_label};
use crate::model::RefreshStatus;
use crate::operation::{Call, Operation};
use crate::refusal::{Reason, Refusal};
use crate::trail::Trail;
use serde_json::{json, Value};

impl TokenService {
    /// Whether the refresh family behind an access token is still alive.
    async fn family_alive(&self, family_id: &str) -> Result<bool, Refusal> {
        self.kernel.store.refresh_family_active(family_id).await.map_err(Refusal::storage)
    }

    /// RFC 7662 introspection (client-authenticated). Inactive tokens answer `{"active":false}`.
    #[crate::entry_point]
    pub async fn introspect(
        &self,
        creds: &ClientCredentials,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<Value, Refusal> {
        let params = json!({ "clientId": creds.client_id, "token": token_label(token) });
        let op = Operation::new("IntrospectToken", ctx, params).read_only(true);
        let decide = async |call: &mut Call| -> Result<Value, Refusal> {
            let trail = &mut call.trail;
            self.authenticate_client(creds, false, trail).await?;
            let now = self.kernel.now();
            if looks_like_jwt(token) {
                match issuer::verify_own(&self.kernel.keys, &self.kernel.issuer, token, None, now).await {
                    Ok(t) => {
                        if let Some(f) = t.str("origin_jti") {
                            if !self.family_alive(f).await? {
                                trail.fail("revocation", "the token's refresh family is revoked");
                                return Ok(json!({ "active": false }));
                            }
                        }
                        let user = self
                            .kernel
                            .store
                            .get_user(t.str("sub").unwrap_or_default())
                            .await
                            .map_err(Refusal::storage)?;
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
                let r = self
                    .kernel
                    .store
                    .get_refresh_token(&sha256_hex(token.as_bytes()))
                    .await
                    .map_err(Refusal::storage)?;
                match r.filter(|r| r.status == RefreshStatus::Active && r.expires_at > now) {
                    Some(r) => {
                        trail.pass("token", "active refresh token");
                        Ok(
                            json!({ "active": true, "token_type": "refresh_token", "client_id": r.client_id, "sub": r.user_id, "scope": r.scope, "exp": r.expires_at, "iat": r.issued_at, "iss": self.kernel.issuer }),
                        )
                    }
                    None => {
                        trail.fail("token", "not an active token of this issuer");
                        Ok(json!({ "active": false }))
                    }
                }
            }
        };
        self.kernel.run(op, decide, |v| json!({ "active": v.get("active").cloned() })).await
    }

    /// Verifies one of our access tokens presented as a bearer token (signature, expiry,
    /// `token_use`, the family not revoked) and returns its claims.
    #[crate::entry_point]
    pub async fn verify_access_token(&self, token: &str, trail: &mut Trail) -> Result<issuer::OwnToken, Refusal> {
        let t = issuer::verify_own(&self.kernel.keys, &self.kernel.issuer, token, Some("access"), self.kernel.now())
            .await
            .map_err(|(check, detail)| deny(trail, Reason::InvalidToken, check, detail))?;
        if let Some(f) = t.str("origin_jti") {
            if !self.family_alive(f).await? {
                return Err(deny(trail, Reason::InvalidToken, "revocation", "the token's session was revoked"));
            }
        }
        trail.pass("token", format!("access token signed by {}", t.kid));
        Ok(t)
    }

    /// OIDC UserInfo for one of our access tokens.
    #[crate::entry_point]
    pub async fn userinfo(&self, bearer: &str, ctx: &RequestContext) -> Result<Value, Refusal> {
        // Successful UserInfo reads are frequent and carry no decision; only denials are recorded.
        let params = json!({ "accessToken": token_label(bearer) });
        let op = Operation::new("GetUserInfo", ctx, params).read_only(true).record_answers(false);
        let decide = async |call: &mut Call| -> Result<Value, Refusal> {
            let trail = &mut call.trail;
            let t = self.verify_access_token(bearer, trail).await?;
            let sub = t.str("sub").unwrap_or_default();
            let user = self.kernel.store.get_user(sub).await.map_err(Refusal::storage)?;
            let Some(user) = user.filter(|u| u.enabled) else {
                return Err(deny(
                    trail,
                    Reason::InvalidToken,
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
        self.kernel.run(op, decide, |_| Value::Null).await
    }
}
