//! Minting a token set: access and id tokens signed with the active key, and a new sign-in
//! session recorded (with its refresh token when the client may refresh) before it is handed out.

use super::{TokenService, TokenSet};
use crate::issuer::{self, Grant};
use crate::jose::sha256_hex;
use crate::model::{Client, RefreshStatus, RefreshTokenRecord, User, GRANT_REFRESH_TOKEN};
use crate::refusal::Refusal;
use crate::secrets::{random_secret, uuid_v4};
use crate::upstream::TT_ACCESS_TOKEN;
use serde_json::{json, Map, Value};

/// The record of a session without a refresh token stands in its family under this name, which
/// is no token's hash (those are hex): it can be revoked and ended, never presented.
fn session_only_hash(family_id: &str) -> String {
    format!("session:{family_id}")
}

/// Whether tokens start a new sign-in session or continue a refresh family.
pub(super) enum Session<'a> {
    New { auth_time: i64, origin: &'a str },
    Continue(&'a RefreshTokenRecord),
}

impl TokenService {
    /// Mints access + id tokens; a new session also starts a refresh family.
    pub(super) async fn issue(
        &self,
        user: &User,
        client: &Client,
        scope: &str,
        session: Session<'_>,
        extra: Map<String, Value>,
    ) -> Result<TokenSet, Refusal> {
        self.issue_as(&self.kernel.issuer, user, client, scope, session, extra).await
    }

    /// Tokens of a user pool (`iss` is the pool's, `scope` the one its flows grant): a new
    /// sign-in, or a refresh that keeps its refresh token (`REFRESH_TOKEN_AUTH` returns none).
    pub(crate) async fn issue_pool_tokens(
        &self,
        iss: &str,
        user: &User,
        client: &Client,
        scope: &str,
        continuing: Option<&RefreshTokenRecord>,
        origin: &str,
    ) -> Result<TokenSet, Refusal> {
        let mut extra = Map::new();
        extra.insert("event_id".into(), json!(uuid_v4()));
        let session = match continuing {
            Some(r) => Session::Continue(r),
            None => Session::New { auth_time: self.kernel.now(), origin },
        };
        self.issue_as(iss, user, client, scope, session, extra).await
    }

    /// Tokens of a hosted sign-in of a user pool: a new session that began at `facts.auth_time`
    /// (the sign-in it continues may be older than this request), the id token carrying the
    /// authorization request's `nonce` (OIDC Core §3.1.3.7).
    pub(crate) async fn issue_pool_sign_in(
        &self,
        iss: &str,
        user: &User,
        client: &Client,
        scope: &str,
        facts: SignInFacts<'_>,
    ) -> Result<TokenSet, Refusal> {
        let mut extra = Map::new();
        extra.insert("event_id".into(), json!(uuid_v4()));
        if let Some(n) = facts.nonce {
            extra.insert("nonce".into(), json!(n));
        }
        let session = Session::New { auth_time: facts.auth_time, origin: facts.origin };
        self.issue_as(iss, user, client, scope, session, extra).await
    }

    /// An access token of a client on its own behalf (`client_credentials`): no user, no id or
    /// refresh token; `sub` is the client, as Cognito's. Returns it with its lifetime.
    pub(crate) async fn issue_client_access_token(&self, iss: &str, client: &Client, scope: &str) -> (String, i64) {
        let now = self.kernel.now();
        self.kernel.keys.reload_if_stale().await;
        let claims = json!({
            "sub": client.client_id,
            "iss": iss,
            "client_id": client.client_id,
            "token_use": "access",
            "scope": scope,
            "auth_time": now,
            "iat": now,
            "exp": now + client.access_token_ttl,
            "jti": uuid_v4(),
            "version": 2,
        });
        (self.kernel.keys.sign(&claims), client.access_token_ttl)
    }

    async fn issue_as(
        &self,
        iss: &str,
        user: &User,
        client: &Client,
        scope: &str,
        session: Session<'_>,
        extra: Map<String, Value>,
    ) -> Result<TokenSet, Refusal> {
        let now = self.kernel.now();
        self.kernel.keys.reload_if_stale().await;
        let (family, auth_time, origin) = match session {
            Session::New { auth_time, origin } => (None, auth_time, origin),
            Session::Continue(f) => (Some(f), f.auth_time, f.origin.as_str()),
        };
        let family_id = family.map(|f| f.family_id.clone()).unwrap_or_else(uuid_v4);
        let grant = Grant { user, client, scope, auth_time, origin_jti: &family_id, extra_id_claims: extra };
        let mut access_claims = issuer::access_token_claims(iss, &grant, now);
        // Cognito puts one event id in both tokens of a sign-in.
        if let Some(e) = grant.extra_id_claims.get("event_id") {
            access_claims["event_id"] = e.clone();
        }
        let access = self.kernel.keys.sign(&access_claims);
        let id = self.kernel.keys.sign(&issuer::id_token_claims(iss, &grant, now));
        // A new session is recorded before its tokens are handed out, with or without a refresh
        // token: a sign-out or revocation ends the sessions the store knows, so one it did not
        // know would outlive them all. Its order against a sign-out is the store's, not a clock's.
        let refresh_token = if family.is_none() {
            let token = client.allows_grant(GRANT_REFRESH_TOKEN).then(random_secret);
            let (token_hash, expires_at) = match &token {
                Some(t) => (sha256_hex(t.as_bytes()), now + client.refresh_token_ttl),
                None => (session_only_hash(&family_id), now + client.access_token_ttl.max(client.id_token_ttl)),
            };
            let record = RefreshTokenRecord {
                token_hash,
                family_id: family_id.clone(),
                user_id: user.id.clone(),
                client_id: client.client_id.clone(),
                scope: scope.to_string(),
                origin: origin.to_string(),
                auth_time,
                origin_jti: family_id.clone(),
                issued_at: now,
                expires_at,
                status: RefreshStatus::Active,
                rotated_at: None,
                replaced_by: None,
                superseded: false,
            };
            self.kernel.store.insert_refresh_token(&record).await.map_err(Refusal::storage)?;
            token
        } else {
            None
        };
        Ok(TokenSet {
            access_token: access,
            id_token: id,
            refresh_token,
            expires_in: client.access_token_ttl,
            token_type: "Bearer",
            issued_token_type: Some(TT_ACCESS_TOKEN),
            scope: scope.to_string(),
            family_id,
        })
    }
}

/// What a hosted sign-in tells the token service about the session it starts.
pub(crate) struct SignInFacts<'a> {
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    /// How the user signed in (`userpool:<pool>:hosted`), kept with the refresh family.
    pub origin: &'a str,
}
