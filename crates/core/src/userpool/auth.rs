//! The auth flows: `InitiateAuth` / `RespondToAuthChallenge` and their Admin twins.
//!
//! Password and SRP logins prove the password; `CUSTOM_AUTH` is answered with an upstream
//! provider's token and runs the token exchange's own checks (validation, conditions, link to
//! this very user, one-time use). Challenges live in short auth sessions: stored hashed,
//! expiring, allowing a bounded number of answers, consumed by the answer that succeeds.

use super::*;
use crate::jose::sha256_hex;
use crate::model::{AuthSession, RefreshStatus};
use crate::upstream::SubjectTokenType;
use std::collections::HashMap;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InitiateAuth {
    auth_flow: String,
    #[serde(default)]
    auth_parameters: HashMap<String, String>,
    client_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminInitiateAuth {
    pub user_pool_id: String,
    #[serde(flatten)]
    pub inner: InitiateAuth,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Respond {
    client_id: String,
    challenge_name: String,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    challenge_responses: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminRespond {
    pub user_pool_id: String,
    #[serde(flatten)]
    pub inner: Respond,
}

/// The flows, as `AuthFlow` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFlow {
    UserPassword,
    AdminUserPassword,
    UserSrp,
    Refresh,
    Custom,
}

impl AuthFlow {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "USER_PASSWORD_AUTH" => Self::UserPassword,
            "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => Self::AdminUserPassword,
            "USER_SRP_AUTH" => Self::UserSrp,
            "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => Self::Refresh,
            "CUSTOM_AUTH" => Self::Custom,
            _ => return None,
        })
    }
    /// The `ExplicitAuthFlows` entry that enables it.
    fn allow_name(self) -> &'static str {
        match self {
            Self::UserPassword => "ALLOW_USER_PASSWORD_AUTH",
            Self::AdminUserPassword => "ALLOW_ADMIN_USER_PASSWORD_AUTH",
            Self::UserSrp => "ALLOW_USER_SRP_AUTH",
            Self::Refresh => "ALLOW_REFRESH_TOKEN_AUTH",
            Self::Custom => "ALLOW_CUSTOM_AUTH",
        }
    }
}

const PASSWORD_VERIFIER: &str = "PASSWORD_VERIFIER";
const NEW_PASSWORD_REQUIRED: &str = "NEW_PASSWORD_REQUIRED";
const CUSTOM_CHALLENGE: &str = "CUSTOM_CHALLENGE";
const INVALID_SESSION: &str = "Invalid session for the user.";
const EXPIRED_SESSION: &str = "Invalid session for the user, session is expired.";
/// How far an SRP `TIMESTAMP` may be from the server clock.
const SRP_TIMESTAMP_SKEW: i64 = 300;

/// What a pending challenge remembers.
#[derive(Serialize, Deserialize)]
struct Pending {
    challenge: String,
    pool_id: String,
    client_id: String,
    username: String,
    /// `None` when the user does not exist: the challenge is answered as for anyone, then fails,
    /// so that the flow does not reveal which usernames exist.
    user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    srp: Option<SrpPending>,
}

/// A challenge answered: the user, their membership, and how they proved who they are (the
/// sign-in's origin). Every challenge's answer comes to this.
type Answered = Result<(User, Member, &'static str), Refusal>;

/// What a proven password leads to.
pub(super) enum Proven {
    SignedIn(User),
    /// The password was temporary: `session` answers `NEW_PASSWORD_REQUIRED` (`challenge` is
    /// the Cognito answer that says so).
    NewPasswordRequired {
        session: String,
        username: String,
        challenge: Value,
    },
}

#[derive(Serialize, Deserialize)]
struct SrpPending {
    srp_a: String,
    server: crate::srp::ServerSession,
}

fn param<'a>(p: &'a HashMap<String, String>, name: &str, call: &mut Call) -> Result<&'a str, Refusal> {
    p.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| {
        call.refuse_plainly(Reason::InvalidParameter, "request", format!("Missing required parameter {name}"))
    })
}

impl UserPools {
    pub(crate) async fn initiate_auth(
        &self,
        req: InitiateAuth,
        admin_pool: Option<String>,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let Some(flow) = AuthFlow::parse(&req.auth_flow) else {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "flow",
                format!("AuthFlow {} is not supported.", req.auth_flow),
            ));
        };
        if admin_pool.is_none() && flow == AuthFlow::AdminUserPassword {
            return Err(call.refuse_plainly(Reason::InvalidParameter, "flow", "Initiate Auth method not supported."));
        }
        if admin_pool.is_some() && flow == AuthFlow::UserPassword {
            return Err(call.refuse_plainly(Reason::InvalidParameter, "flow", "Initiate Auth method not supported."));
        }
        let client = self.pool_client(&req.client_id, call).await?;
        if let Some(p) = &admin_pool {
            self.pool(p, call).await?;
            if p != &client.pool_id {
                return Err(call.refuse_plainly(
                    Reason::NotFound,
                    "client",
                    format!("User pool client {} does not exist.", client.client_id),
                ));
            }
        }
        if !client.allows(flow.allow_name()) {
            return Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "flow",
                format!("{} flow not enabled for this client", req.auth_flow),
            ));
        }
        call.trail.pass("flow", format!("{} allowed for client {}", req.auth_flow, client.client_id));
        let pool = self.pool(&client.pool_id, call).await?;
        let p = &req.auth_parameters;
        match flow {
            AuthFlow::UserPassword | AuthFlow::AdminUserPassword => {
                let username = param(p, "USERNAME", call)?;
                let password = param(p, "PASSWORD", call)?;
                self.check_secret_hash(&client, username, p.get("SECRET_HASH").map(String::as_str), call)?;
                let (user, member) = self.password_login(&pool, username, password, call).await?;
                self.after_password(&pool, &client, user, member, "password", call).await
            }
            AuthFlow::UserSrp => {
                let username = param(p, "USERNAME", call)?;
                let srp_a = param(p, "SRP_A", call)?.to_string();
                self.check_secret_hash(&client, username, p.get("SECRET_HASH").map(String::as_str), call)?;
                let found = self.member(&pool.id, username, call).await?;
                self.check_lock(&pool.id, username, call).await?;
                let username = found.as_ref().map(|(u, _)| u.username.clone()).unwrap_or_else(|| username.to_string());
                // An unknown user, or one without a password, gets the stand-in salt and verifier
                // of the name: as stable as a real user's, proven by no password.
                let verifier = match found.as_ref().and_then(|(_, m)| m.srp.clone()) {
                    Some(v) => v,
                    None => stand_in::verifier(&*self.stand_in_key().await?, &pool.id, &username),
                };
                let server = crate::srp::start(&verifier);
                let params = json!({
                    "SALT": server.salt_hex(),
                    "SRP_B": server.srp_b_hex(),
                    "USERNAME": username,
                    "USER_ID_FOR_SRP": username,
                });
                let pending = Pending {
                    challenge: PASSWORD_VERIFIER.into(),
                    pool_id: pool.id.clone(),
                    client_id: client.client_id.clone(),
                    username,
                    user_id: found.map(|(u, _)| u.id),
                    srp: Some(SrpPending { srp_a, server }),
                };
                let session = self.open_session(&client, &pending).await?;
                let mut params = params;
                // SECRET_BLOCK comes back signed as PASSWORD_CLAIM_SECRET_BLOCK: it carries the session.
                params["SECRET_BLOCK"] = json!(session);
                call.trail.pass("challenge", "PASSWORD_VERIFIER issued");
                Ok(json!({ "ChallengeName": PASSWORD_VERIFIER, "Session": session, "ChallengeParameters": params }))
            }
            AuthFlow::Custom => {
                let username = param(p, "USERNAME", call)?;
                self.check_secret_hash(&client, username, p.get("SECRET_HASH").map(String::as_str), call)?;
                let providers = client.upstream_providers();
                if providers.is_empty() {
                    return Err(call.refuse_plainly(
                        Reason::InvalidParameter,
                        "providers",
                        format!(
                            "CUSTOM_AUTH needs an upstream provider in the SupportedIdentityProviders of client {}",
                            client.client_id
                        ),
                    ));
                }
                let found = self.member(&pool.id, username, call).await?;
                let username = found.as_ref().map(|(u, _)| u.username.clone()).unwrap_or_else(|| username.to_string());
                let issuers: Vec<String> = providers
                    .iter()
                    .filter_map(|n| self.kernel.upstreams.by_name(n).map(|p| p.config.issuer.clone()))
                    .collect();
                let pending = Pending {
                    challenge: CUSTOM_CHALLENGE.into(),
                    pool_id: pool.id.clone(),
                    client_id: client.client_id.clone(),
                    username: username.clone(),
                    user_id: found.map(|(u, _)| u.id),
                    srp: None,
                };
                let session = self.open_session(&client, &pending).await?;
                call.trail.pass(
                    "challenge",
                    format!("CUSTOM_CHALLENGE issued: answer with a token of {}", providers.join(", ")),
                );
                Ok(json!({
                    "ChallengeName": CUSTOM_CHALLENGE,
                    "Session": session,
                    "ChallengeParameters": {
                        "USERNAME": username,
                        "providers": providers.join(","),
                        "issuers": issuers.join(","),
                    },
                }))
            }
            AuthFlow::Refresh => self.refresh_login(&pool, &client, p, call).await,
        }
    }

    pub(crate) async fn respond_to_auth_challenge(
        &self,
        req: Respond,
        admin_pool: Option<String>,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let client = self.pool_client(&req.client_id, call).await?;
        if let Some(p) = &admin_pool {
            if p != &client.pool_id {
                return Err(call.refuse_plainly(
                    Reason::NotFound,
                    "client",
                    format!("User pool client {} does not exist.", client.client_id),
                ));
            }
        }
        let r = &req.challenge_responses;
        let username = param(r, "USERNAME", call)?.to_string();
        self.check_secret_hash(&client, &username, r.get("SECRET_HASH").map(String::as_str), call)?;
        // SRP clients send the session back inside the signed secret block.
        let session_id = match (&req.session, r.get("PASSWORD_CLAIM_SECRET_BLOCK")) {
            (Some(s), _) if !s.is_empty() => s.clone(),
            (_, Some(b)) if req.challenge_name == PASSWORD_VERIFIER => b.clone(),
            _ => {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "session",
                    "Missing required parameter Session",
                ))
            }
        };
        let (pool, user, member, origin) =
            self.answer_challenge(&client, &req.challenge_name, &session_id, &username, r, call).await?;
        if req.challenge_name == PASSWORD_VERIFIER {
            return self.after_password(&pool, &client, user, member, origin, call).await;
        }
        self.sign_in(&pool, &client, &user, origin, call).await
    }

    /// Answers the challenge the session `session_id` holds with `r`, for `client` and
    /// `username`: the user who proved themselves, or the refusal (a wrong answer spends one of
    /// the session's answers; the answer that succeeds consumes it).
    pub(super) async fn answer_challenge(
        &self,
        client: &PoolClient,
        challenge_name: &str,
        session_id: &str,
        username: &str,
        r: &HashMap<String, String>,
        call: &mut Call,
    ) -> Result<(UserPool, User, Member, &'static str), Refusal> {
        let (row, pending) = self.load_session(session_id, call).await?;
        if pending.challenge != challenge_name || pending.client_id != client.client_id || pending.username != *username
        {
            return Err(call.refuse(
                Reason::NotAuthorized,
                "session",
                format!("session is for challenge {} of another client or user", pending.challenge),
                INVALID_SESSION,
            ));
        }
        let pool = self.pool(&pending.pool_id, call).await?;
        let answered = match challenge_name {
            PASSWORD_VERIFIER => self.answer_password_verifier(&pool, &pending, r, call).await,
            NEW_PASSWORD_REQUIRED => self.answer_new_password(&pool, &pending, r, call).await,
            CUSTOM_CHALLENGE => self.answer_custom(client, &pending, r, call).await,
            other => Err(call.refuse_plainly(
                Reason::InvalidParameter,
                "challenge",
                format!("Invalid ChallengeName {other}."),
            )),
        };
        let (user, member, origin) = match answered {
            Ok(x) => x,
            Err(e) => {
                // A wrong answer spends one of the session's answers.
                let used = self.kernel.store.fail_auth_session(&row.id_hash).await?.unwrap_or(u32::MAX);
                if used >= self.kernel.config.aws.max_challenge_answers {
                    self.kernel.store.take_auth_session(&row.id_hash).await?;
                }
                return Err(e);
            }
        };
        // The answer that succeeds consumes the session: one session, one sign-in.
        if !self.kernel.store.take_auth_session(&row.id_hash).await? {
            return Err(call.refuse(
                Reason::NotAuthorized,
                "session",
                "session already used by a concurrent answer",
                INVALID_SESSION,
            ));
        }
        Ok((pool, user, member, origin))
    }

    // --- passwords ---

    /// USER_PASSWORD_AUTH and ADMIN_USER_PASSWORD_AUTH: every name costs one argon2id check
    /// (against a stand-in hash when there is no real one) and counts toward its lockout, so
    /// neither the answer nor its time tells whether the name exists or has a password.
    pub(super) async fn password_login(
        &self,
        pool: &UserPool,
        username: &str,
        password: &str,
        call: &mut Call,
    ) -> Result<(User, Member), Refusal> {
        let found = self.member(&pool.id, username, call).await?;
        self.check_lock(&pool.id, username, call).await?;
        let hash = found.as_ref().and_then(|(u, _)| u.password_hash.clone());
        let phc = hash.clone().unwrap_or_else(|| stand_in::STAND_IN_HASH.clone());
        // Checked again once a hashing slot is free: a name locked meanwhile costs no hashing.
        let matches =
            crate::password::verify_after(password.to_string(), phc, self.check_lock(&pool.id, username, call)).await?;
        let (check, why) = match (&found, hash.is_some()) {
            (Some(found), true) if matches => {
                call.trail.pass("password", "argon2id hash matches");
                return Ok(found.clone());
            }
            (Some(_), true) => ("password", "argon2id hash does not match".to_string()),
            (Some(_), false) => (
                "password",
                "user has no password (upstream sign-in only); checked against a stand-in argon2id hash".into(),
            ),
            (None, _) => {
                ("user", format!("no user {username:?} in pool {}; checked against a stand-in argon2id hash", pool.id))
            }
        };
        Err(self.wrong_password(&pool.id, username, check, why, call).await)
    }

    /// After the password is proven: the user's state decides between tokens and a challenge.
    async fn after_password(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        user: User,
        member: Member,
        origin: &str,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        match self.password_proven(pool, client, user, member, call).await? {
            Proven::SignedIn(user) => self.sign_in(pool, client, &user, origin, call).await,
            Proven::NewPasswordRequired { challenge, .. } => Ok(challenge),
        }
    }

    /// What a proven password leads to, by the user's state: signed in, a new password to set
    /// (the `NEW_PASSWORD_REQUIRED` challenge), or a refusal (disabled, unconfirmed, reset,
    /// locked meanwhile).
    pub(super) async fn password_proven(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        user: User,
        member: Member,
        call: &mut Call,
    ) -> Result<Proven, Refusal> {
        if !user.enabled {
            return Err(call.refuse_plainly(Reason::NotAuthorized, "user enabled", "User is disabled."));
        }
        // Judged on the failures as they stand now: a lock set while the password was checked
        // holds.
        self.right_password(&pool.id, &user.username, call).await?;
        match member.status {
            UserStatus::Unconfirmed => {
                Err(call.refuse_plainly(Reason::UserNotConfirmed, "status", "User is not confirmed."))
            }
            UserStatus::ResetRequired => Err(call.refuse_plainly(
                Reason::PasswordResetRequired,
                "status",
                "Password reset required for the user",
            )),
            UserStatus::ForceChangePassword => {
                let pending = Pending {
                    challenge: NEW_PASSWORD_REQUIRED.into(),
                    pool_id: pool.id.clone(),
                    client_id: client.client_id.clone(),
                    username: user.username.clone(),
                    user_id: Some(user.id.clone()),
                    srp: None,
                };
                let session = self.open_session(client, &pending).await?;
                let mut attrs = Map::new();
                for a in users::attributes(&user) {
                    if let (Some(n), Some(v)) = (a["Name"].as_str(), a["Value"].as_str()) {
                        if n != "sub" {
                            attrs.insert(n.into(), json!(v));
                        }
                    }
                }
                call.trail.pass("challenge", "NEW_PASSWORD_REQUIRED: the temporary password must be changed");
                let challenge = json!({
                    "ChallengeName": NEW_PASSWORD_REQUIRED,
                    "Session": session,
                    "ChallengeParameters": {
                        "USER_ID_FOR_SRP": user.username,
                        "requiredAttributes": "[]",
                        "userAttributes": Value::Object(attrs).to_string(),
                    },
                });
                Ok(Proven::NewPasswordRequired { session, username: user.username, challenge })
            }
            UserStatus::Confirmed => Ok(Proven::SignedIn(user)),
            // It has no password here (the check above refuses it first); it signs in only
            // through its identity provider.
            UserStatus::ExternalProvider => {
                Err(call.refuse_plainly(Reason::NotAuthorized, "status", "Incorrect username or password."))
            }
        }
    }

    /// The user a pending sign-in is for, with their membership, while both exist (`None` too for
    /// a username that never existed): what every password answer is checked against.
    async fn pending_member(&self, pending: &Pending) -> Result<Option<(User, Member)>, Refusal> {
        let Some(id) = &pending.user_id else { return Ok(None) };
        match (self.kernel.store.get_user(id).await?, self.kernel.store.get_document(KIND_MEMBER, id).await?) {
            (Some(u), Some(d)) => Ok(Some((u, from_doc(d)?))),
            _ => Ok(None),
        }
    }

    async fn answer_password_verifier(
        &self,
        pool: &UserPool,
        pending: &Pending,
        r: &HashMap<String, String>,
        call: &mut Call,
    ) -> Answered {
        let block = param(r, "PASSWORD_CLAIM_SECRET_BLOCK", call)?;
        let signature = param(r, "PASSWORD_CLAIM_SIGNATURE", call)?;
        let timestamp = param(r, "TIMESTAMP", call)?;
        let srp = pending
            .srp
            .as_ref()
            .ok_or_else(|| call.refuse(Reason::NotAuthorized, "session", "no SRP state", INVALID_SESSION))?;
        // An unknown user's challenge holds a stand-in verifier: the proof is checked (and fails)
        // and counted as for anyone.
        let found = self.pending_member(pending).await?;
        if let Some((user, _)) = &found {
            call.about(user);
        }
        self.check_lock(&pool.id, &pending.username, call).await?;
        match crate::srp::parse_cognito_timestamp(timestamp) {
            Some(t) if (t - self.kernel.now()).abs() <= SRP_TIMESTAMP_SKEW => {}
            _ => {
                return Err(call.refuse_plainly(
                    Reason::NotAuthorized,
                    "timestamp",
                    "TIMESTAMP is malformed or more than 5 minutes from the server clock",
                ))
            }
        }
        let (server, pool_name, username, a, block_s, ts_s, sig) = (
            srp.server.clone(),
            crate::srp::pool_name(&pool.id).to_string(),
            pending.username.clone(),
            srp.srp_a.clone(),
            block.to_string(),
            timestamp.to_string(),
            signature.to_string(),
        );
        let proof = tokio::task::spawn_blocking(move || {
            crate::srp::verify(&server, &pool_name, &username, &a, &block_s, &ts_s, &sig)
        })
        .await
        .map_err(|e| Refusal::new(Reason::Unavailable, e.to_string()))?;
        match (proof, found) {
            (Ok(()), Some((user, member))) => {
                call.trail.pass("password", "SRP-6a password proof verified");
                Ok((user, member, "srp"))
            }
            (proof, found) => {
                let why = match proof {
                    Err(e) => format!("SRP proof refused: {e}"),
                    Ok(()) => "SRP proof of a stand-in verifier".to_string(),
                };
                let (check, why) = match found {
                    Some(_) => ("password", why),
                    None => ("user", format!("no user {:?} in pool {}; {why}", pending.username, pool.id)),
                };
                Err(self.wrong_password(&pool.id, &pending.username, check, why, call).await)
            }
        }
    }

    async fn answer_new_password(
        &self,
        pool: &UserPool,
        pending: &Pending,
        r: &HashMap<String, String>,
        call: &mut Call,
    ) -> Answered {
        let password = param(r, "NEW_PASSWORD", call)?;
        let Some((user, _)) = self.pending_member(pending).await? else {
            return Err(call.refuse(Reason::NotAuthorized, "user", "the user is gone", INVALID_SESSION));
        };
        call.about(&user);
        self.check_password_policy(pool, password, call)?;
        if !user.enabled {
            return Err(call.refuse_plainly(Reason::NotAuthorized, "user enabled", "User is disabled."));
        }
        let (user, member) = self.set_member_password(&user, &pool.id, password, Some(UserStatus::Confirmed)).await?;
        call.trail.pass("password", "new password set; user confirmed");
        Ok((user, member, "password"))
    }

    /// CUSTOM_AUTH's answer is an upstream token: the exchange's checks, then it must be this user.
    async fn answer_custom(
        &self,
        client: &PoolClient,
        pending: &Pending,
        r: &HashMap<String, String>,
        call: &mut Call,
    ) -> Answered {
        let answer = param(r, "ANSWER", call)?.to_string();
        let allowed = client.upstream_providers();
        // A malformed JWT (a padded spelling, say) is refused for its format.
        let iss = match crate::jose::looks_like_jwt(&answer) {
            true => crate::jose::UnverifiedJwt::parse(&answer)
                .map_err(|e| call.refuse(Reason::NotAuthorized, e.check, e.detail, WRONG_PASSWORD))?
                .claim_str("iss")
                .map(str::to_string),
            false => None,
        };
        let provider = match &iss {
            Some(iss) => self.kernel.upstreams.by_issuer(iss).filter(|p| allowed.iter().any(|a| a == p.name())),
            None if allowed.len() == 1 => self.kernel.upstreams.by_name(&allowed[0]),
            None => None,
        };
        let Some(provider) = provider else {
            let detail = match iss {
                Some(i) => format!("answer's issuer {i:?} is not a provider of client {}", client.client_id),
                None => "answer is not a token of an accepted provider".to_string(),
            };
            return Err(call.refuse(Reason::NotAuthorized, "provider", detail, WRONG_PASSWORD));
        };
        call.trail.pass("provider", provider.name().to_string());
        // An unknown user's answer is checked as any other's, against an id no user has, so it
        // fails where a real user's answer with someone else's token fails, after the same work.
        let user_id = pending.user_id.clone().unwrap_or_default();
        let mut principal = None;
        let (_, user) = self
            .tokens
            .upstream_user(
                provider,
                &answer,
                SubjectTokenType::Unspecified,
                Some(&user_id),
                &mut call.trail,
                &mut principal,
            )
            .await
            .map_err(|e| {
                let mut e = not_authorized(e);
                if e.reason == Reason::NotAuthorized {
                    e.message = WRONG_PASSWORD.into();
                }
                e
            })?;
        call.principal = principal;
        let member: Member = match self.kernel.store.get_document(KIND_MEMBER, &user.id).await? {
            Some(d) => from_doc(d)?,
            None => return Err(call.refuse(Reason::NotAuthorized, "user", "the user left the pool", WRONG_PASSWORD)),
        };
        if member.status == UserStatus::Unconfirmed {
            return Err(call.refuse_plainly(Reason::UserNotConfirmed, "status", "User is not confirmed."));
        }
        Ok((user, member, "upstream"))
    }

    // --- sessions ---

    fn session_seconds(&self, client: &PoolClient) -> i64 {
        self.kernel.config.aws.session_seconds.unwrap_or(client.auth_session_validity * 60)
    }

    async fn open_session(&self, client: &PoolClient, pending: &Pending) -> Result<String, Refusal> {
        // Standard base64: SRP clients decode the secret block that carries it.
        let session = STANDARD.encode(crate::secrets::random_bytes::<48>());
        let row = AuthSession {
            id_hash: sha256_hex(session.as_bytes()),
            body: serde_json::to_value(pending).expect("serializable"),
            attempts: 0,
            expires_at: self.kernel.now() + self.session_seconds(client),
        };
        self.kernel.store.insert_auth_session(&row).await?;
        Ok(session)
    }

    async fn load_session(&self, session: &str, call: &mut Call) -> Result<(AuthSession, Pending), Refusal> {
        let Some(row) = self.kernel.store.get_auth_session(&sha256_hex(session.as_bytes())).await? else {
            return Err(call.refuse(
                Reason::NotAuthorized,
                "session",
                "unknown, used or ended session",
                INVALID_SESSION,
            ));
        };
        if row.expires_at <= self.kernel.now() {
            return Err(call.refuse(
                Reason::NotAuthorized,
                "session",
                format!("session expired {} s ago", self.kernel.now() - row.expires_at),
                EXPIRED_SESSION,
            ));
        }
        if row.attempts >= self.kernel.config.aws.max_challenge_answers {
            return Err(call.refuse(
                Reason::NotAuthorized,
                "session",
                "no answers left on this session",
                INVALID_SESSION,
            ));
        }
        let pending: Pending = serde_json::from_value(row.body.clone()).map_err(|e| {
            call.refuse(Reason::NotAuthorized, "session", format!("malformed session: {e}"), INVALID_SESSION)
        })?;
        call.trail.pass(
            "session",
            format!(
                "{} session, answer {} of {}",
                pending.challenge,
                row.attempts + 1,
                self.kernel.config.aws.max_challenge_answers
            ),
        );
        Ok((row, pending))
    }

    // --- tokens ---

    async fn sign_in(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        user: &User,
        method: &str,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        if !user.enabled {
            return Err(call.refuse_plainly(Reason::NotAuthorized, "user enabled", "User is disabled."));
        }
        let oauth = self.oauth_client_of(client, call).await?;
        let origin = format!("userpool:{}:{method}", pool.id);
        let set = self
            .tokens
            .issue_pool_tokens(&pool.issuer(&self.kernel.issuer), user, &oauth, COGNITO_ADMIN_SCOPE, None, &origin)
            .await?;
        call.trail.pass("issue", format!("tokens for {:?} from pool {}", user.username, pool.id));
        Ok(authentication_result(&set))
    }

    async fn oauth_client_of(
        &self,
        client: &PoolClient,
        call: &mut Call,
    ) -> Result<std::sync::Arc<crate::model::Client>, Refusal> {
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

    /// REFRESH_TOKEN_AUTH: new access and id tokens; the refresh token stays as it is.
    async fn refresh_login(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        p: &HashMap<String, String>,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let token = param(p, "REFRESH_TOKEN", call)?;
        let (record, user) = self.live_refresh(client, token, call).await?;
        if client.secret.is_some() {
            // Clients hash the username, or the sub when users sign in by an alias.
            let presented = p.get("SECRET_HASH").map(String::as_str);
            let by_name = self.check_secret_hash(client, &user.username, presented, &mut Call::default());
            if by_name.is_err() {
                self.check_secret_hash(client, &user.id, presented, call)?;
            }
        }
        let set = self.refreshed(pool, client, &record, &user, call).await?;
        Ok(authentication_result(&set))
    }

    /// An active, unexpired refresh token of `client`, and its user.
    pub(super) async fn live_refresh(
        &self,
        client: &PoolClient,
        token: &str,
        call: &mut Call,
    ) -> Result<(crate::model::RefreshTokenRecord, User), Refusal> {
        let now = self.kernel.now();
        let record = self.kernel.store.get_refresh_token(&sha256_hex(token.as_bytes())).await?;
        let Some(record) = record.filter(|r| r.client_id == client.client_id) else {
            return Err(call.refuse(
                Reason::NotAuthorized,
                "refresh token",
                "not a refresh token of this client",
                "Invalid Refresh Token",
            ));
        };
        match record.status {
            RefreshStatus::Active if record.expires_at > now => {}
            RefreshStatus::Active => {
                return Err(call.refuse(
                    Reason::NotAuthorized,
                    "refresh token",
                    format!("expired {} s ago", now - record.expires_at),
                    "Refresh Token has expired",
                ))
            }
            _ => {
                return Err(call.refuse(
                    Reason::NotAuthorized,
                    "refresh token",
                    "revoked",
                    "Refresh Token has been revoked",
                ))
            }
        }
        let Some(user) = self.kernel.store.get_user(&record.user_id).await? else {
            return Err(call.refuse(Reason::NotAuthorized, "user", "the user is deleted", "Invalid Refresh Token"));
        };
        call.about(&user);
        Ok((record, user))
    }

    /// New access and id tokens of a refresh family, with the scope it was granted (a hosted
    /// sign-in's, or the flows' `aws.cognito.signin.user.admin`): a refresh never widens it.
    pub(super) async fn refreshed(
        &self,
        pool: &UserPool,
        client: &PoolClient,
        record: &crate::model::RefreshTokenRecord,
        user: &User,
        call: &mut Call,
    ) -> Result<crate::tokens::TokenSet, Refusal> {
        if !user.enabled {
            return Err(call.refuse_plainly(Reason::NotAuthorized, "user enabled", "User is disabled."));
        }
        let oauth = self.oauth_client_of(client, call).await?;
        let iss = pool.issuer(&self.kernel.issuer);
        let set =
            self.tokens.issue_pool_tokens(&iss, user, &oauth, &record.scope, Some(record), &record.origin).await?;
        call.trail.pass("issue", format!("refreshed tokens for {:?}; the refresh token is kept", user.username));
        Ok(set)
    }
}

/// A sign-in's answer; `RefreshToken` only when one was issued (never on a refresh).
fn authentication_result(set: &crate::tokens::TokenSet) -> Value {
    json!({
        "ChallengeParameters": {},
        "AuthenticationResult": {
            "AccessToken": set.access_token,
            "ExpiresIn": set.expires_in,
            "TokenType": "Bearer",
            "RefreshToken": set.refresh_token,
            "IdToken": set.id_token,
        },
    })
}
