//! UserInfo: `GET|POST /userinfo` and the identity URL, for this provider's opaque access
//! tokens, with the per-instance switch that makes it down or slow.

use super::wire::{bearer_error, bearer_token, no_store};
use super::{AccessClaims, DemoUser, Inner, UserinfoMode, PURPOSE_ACCESS, USERS_UPDATED_AT};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};
use std::sync::PoisonError;
use tokenbridge_core::jose::looks_like_jwt;

impl Inner {
    /// `GET|POST /userinfo` and the identity URL `/id/{org}/{user}` (which must name the token's
    /// own user).
    pub(super) async fn userinfo(&self, headers: &HeaderMap, identity: Option<(&str, &str)>) -> Response {
        let mode = *self.userinfo_mode.lock().unwrap_or_else(PoisonError::into_inner);
        match mode {
            UserinfoMode::Normal => {}
            UserinfoMode::Down => {
                let body = json!({
                    "error": "temporarily_unavailable",
                    "error_description": "demo upstream UserInfo is switched off",
                });
                return no_store((StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], Json(body)));
            }
            UserinfoMode::Slow(delay) => tokio::time::sleep(delay).await,
        }
        let Some(token) = bearer_token(headers) else {
            return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "a bearer access token is required");
        };
        let user = match self.verify_access_token(token) {
            Ok(user) => user,
            Err(reason) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", reason),
        };
        if let Some((org, user_id)) = identity {
            if org != user.org_prefix() || user_id != user.user_id() {
                return bearer_error(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "the identity URL names another user",
                );
            }
        }
        no_store(Json(self.userinfo_claims(user)))
    }

    fn verify_access_token(&self, token: &str) -> Result<&DemoUser, &'static str> {
        if looks_like_jwt(token) {
            return Err("an ID token is not an access token");
        }
        let invalid = "the access token is not valid";
        let (org, sealed) = token.split_once('!').ok_or(invalid)?;
        let claims: AccessClaims = self.unseal(PURPOSE_ACCESS, sealed).ok_or(invalid)?;
        if claims.org != org || self.client(&claims.client_id).is_none() {
            return Err(invalid);
        }
        if claims.exp <= self.now() {
            return Err("the access token has expired");
        }
        self.find_user(&claims.username).ok_or("the user no longer exists")
    }

    /// Salesforce's UserInfo shape (its `updated_at` is an RFC 3339 string, not a number).
    fn userinfo_claims(&self, user: &DemoUser) -> Value {
        let user_id = user.user_id();
        json!({
            "sub": user_id,
            "user_id": user_id,
            "organization_id": user.organization_id,
            "preferred_username": user.username,
            "nickname": user.username.split('@').next().unwrap_or_default(),
            "name": user.name,
            "email": user.email,
            "email_verified": user.email_verified,
            "active": true,
            "user_type": "STANDARD",
            "updated_at": tokenbridge_core::clock::rfc3339(USERS_UPDATED_AT),
        })
    }
}
