//! The token endpoint: client authentication, the authorization-code grant (PKCE, one-time
//! codes) and Salesforce's username-password grant, and the tokens they answer with.

use super::wire::{basic_credentials, has_scope, is_pkce_string, resolve_scope, OAuthError, Params};
use super::{AccessClaims, CodeClaims, DemoUser, Inner, Registered, PURPOSE_ACCESS, PURPOSE_CODE};
use aws_lc_rs::hmac;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tokenbridge_core::jose::{pkce_s256, sha256_hex};
use tokenbridge_core::secrets::constant_time_eq;

impl Inner {
    pub(super) async fn token(&self, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
        let params = Params::parse(body).map_err(OAuthError::invalid_request)?;
        let client = self.authenticate_client(headers, &params)?;
        match params.get("grant_type") {
            Some("authorization_code") => self.grant_authorization_code(client, &params).await,
            Some("password") => self.grant_password(client, &params),
            Some(other) => Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant type {other:?} is not supported"),
            )),
            None => Err(OAuthError::invalid_request("grant_type is required")),
        }
    }

    /// `client_secret_basic` or `client_secret_post`, never both; secrets compared in constant
    /// time. Returns the registered client.
    fn authenticate_client(&self, headers: &HeaderMap, params: &Params) -> Result<Registered<'_>, OAuthError> {
        let (client_id, secret) = match (basic_credentials(headers)?, params.get("client_secret")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request("use one client authentication method, not two"))
            }
            (Some((id, secret)), None) => {
                if params.get("client_id").is_some_and(|form_id| form_id != id) {
                    return Err(OAuthError::invalid_request("client_id differs from the Basic credentials"));
                }
                (id, secret)
            }
            (None, Some(secret)) => (params.require("client_id")?.to_string(), secret.to_string()),
            (None, None) => return Err(OAuthError::invalid_client("client authentication is required")),
        };
        // An unknown client costs the same comparison as a known one.
        let client = self.client(&client_id);
        let expected = client.map_or("\0no such client", |c| c.secret);
        let secret_ok = constant_time_eq(secret.as_bytes(), expected.as_bytes());
        match client.filter(|_| secret_ok) {
            Some(c) => Ok(c),
            None => Err(OAuthError::invalid_client("invalid client credentials")),
        }
    }

    async fn grant_authorization_code(&self, client: Registered<'_>, params: &Params) -> Result<Value, OAuthError> {
        let code = params.require("code")?;
        let redirect_uri = params.require("redirect_uri")?;
        let now = self.now();
        let claims = self
            .unseal::<CodeClaims>(PURPOSE_CODE, code)
            .filter(|c| c.exp > now)
            .ok_or_else(|| OAuthError::invalid_grant("authorization code is invalid or expired"))?;
        let request = &claims.request;
        if request.client_id != client.id {
            return Err(OAuthError::invalid_grant("authorization code was issued to another client"));
        }
        if request.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
        }
        verify_pkce(request.code_challenge.as_deref(), params.get("code_verifier"))?;
        let user =
            self.find_user(&claims.username).ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
        let first_use =
            self.store.insert_replay_marker(&sha256_hex(code.as_bytes()), claims.exp, now).await.map_err(|e| {
                tracing::error!(error = %e, "demo IdP could not record a code redemption");
                OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "try again later")
            })?;
        if !first_use {
            return Err(OAuthError::invalid_grant("authorization code was already used"));
        }
        Ok(self.token_answer(client, user, &request.scope, claims.auth_time, request.nonce.as_deref()))
    }

    /// Salesforce's username-password flow, for scripts.
    fn grant_password(&self, client: Registered<'_>, params: &Params) -> Result<Value, OAuthError> {
        let username = params.require("username")?;
        let password = params.require("password")?;
        let scope = resolve_scope(params.get("scope"))
            .map_err(|e| OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", e))?;
        let user = self
            .check_password(username, password)
            .ok_or_else(|| OAuthError::invalid_grant("authentication failure"))?;
        Ok(self.token_answer(client, user, &scope, self.now(), None))
    }

    /// A Salesforce-shaped token response; `id_token` when the scope has `openid`.
    fn token_answer(
        &self,
        client: Registered<'_>,
        user: &DemoUser,
        scope: &str,
        auth_time: i64,
        nonce: Option<&str>,
    ) -> Value {
        let now = self.now();
        let identity_url = self.identity_url(user);
        let issued_at = (now * 1000).to_string();
        let mut signature = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, client.secret.as_bytes()));
        signature.update(identity_url.as_bytes());
        signature.update(issued_at.as_bytes());
        let mut answer = json!({
            "access_token": self.access_token(client.id, user, scope, now),
            "signature": STANDARD.encode(signature.sign()),
            "scope": scope,
            "instance_url": self.instance_url,
            "id": identity_url,
            "token_type": "Bearer",
            "issued_at": issued_at,
        });
        if has_scope(scope, "openid") {
            answer["id_token"] = Value::String(self.id_token(user, client.id, now, auth_time, nonce));
        }
        answer
    }

    /// Opaque, Salesforce-looking: `00D…!` + HMAC-signed payload, verifiable by any instance.
    fn access_token(&self, client_id: &str, user: &DemoUser, scope: &str, now: i64) -> String {
        let org = user.org_prefix();
        let claims = AccessClaims {
            username: user.username.clone(),
            org: org.clone(),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            iat: now,
            exp: now + self.config.access_token_ttl,
            jti: tokenbridge_core::secrets::uuid_v4(),
        };
        format!("{org}!{}", self.seal(PURPOSE_ACCESS, &claims))
    }

    /// An id token for `user`, its audience the client `audience`.
    pub(super) fn id_token(
        &self,
        user: &DemoUser,
        audience: &str,
        now: i64,
        auth_time: i64,
        nonce: Option<&str>,
    ) -> String {
        let user_id = user.user_id();
        let mut claims = json!({
            "iss": self.config.issuer,
            "sub": user_id,
            "aud": audience,
            "exp": now + self.config.id_token_ttl,
            "iat": now,
            "auth_time": auth_time,
            "email": user.email,
            "email_verified": user.email_verified,
            "preferred_username": user.username,
            "name": user.name,
            "organization_id": user.organization_id,
            "user_id": user_id,
            // Two sign-ins in one second must not yield the same token (RS256 is deterministic).
            "jti": tokenbridge_core::secrets::uuid_v4(),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::String(nonce.to_string());
        }
        self.signer.sign_jwt(&claims, "JWT")
    }
}

/// PKCE S256: a challenge needs its verifier; a verifier without a challenge is refused too
/// (RFC 9700 §2.1.1, no downgrade).
fn verify_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant("code_verifier given but the request had no code_challenge")),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (Some(challenge), Some(verifier)) => {
            let computed = pkce_s256(verifier);
            if is_pkce_string(verifier) && constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"))
            }
        }
    }
}
