//! The authorization server of each user pool that has a domain (Cognito's hosted UI): the
//! authorization-code flow with PKCE behind the pool's own sign-in pages, a sign-in session per
//! browser (SSO across the pool's clients), `client_credentials`, UserInfo, logout and
//! revocation.
//!
//! A service over its own records (authorization codes and sign-in sessions, stored hashed, see
//! `records.rs`), asking the user pools for what is theirs: the domain's pool, the app client and
//! its OAuth settings, the password check with its lockout (the one `USER_PASSWORD_AUTH` runs),
//! the new-password challenge, and the pool tokens (the ones `USER_PASSWORD_AUTH` mints). Every
//! step is one audited operation with a typed reason for each refusal; the doors (the hosted
//! pages and the domain's OAuth endpoints) word them.

mod oidc;
mod pkce;
mod records;
mod request;
mod saml;
mod token;

pub use oidc::{IdpCallback, IDP_RESPONSE_PATH};
pub use pkce::{challenge_of as pkce_challenge_of, S256};
pub use records::{CODE_SECONDS, SESSION_SECONDS};
pub use saml::{Browser, SamlPost, ACS_PATH, METADATA_PATH, PENDING_SECONDS};

use crate::audit::RequestContext;
use crate::kernel::Kernel;
use crate::operation::{Call, Operation};
use crate::refusal::{Reason, Refusal};
use crate::tokens::ClientCredentials;
use crate::userpool::{HostedGrant, HostedProof, PoolClient, UserPool, UserPools};
use records::{CodeGrant, SignInStep};
use request::Checked;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The `eventSource` of the hosted sign-in's audit records.
pub const EVENT_SOURCE: &str = "signin.tokenbridge";

/// The hosted sign-in over its codes and sessions, asking the user pools.
pub struct HostedSignIn {
    kernel: Arc<Kernel>,
    user_pools: Arc<UserPools>,
    /// The pools' OIDC providers as the upstream validation knows them (their discovery and
    /// JWKS cached), by pool, name and version.
    oidc_providers: moka::sync::Cache<String, Arc<crate::upstream::UpstreamProvider>>,
}

/// An authorization request's parameters (RFC 6749 §4.1.1, OIDC, Cognito's), at a pool's domain.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct AuthorizeRequest {
    /// The pool's domain prefix, from the host name or the path.
    pub domain: String,
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub identity_provider: Option<String>,
    pub idp_identifier: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
}

impl AuthorizeRequest {
    /// What the record keeps: never the state, nonce or challenge values.
    fn recorded(&self) -> Value {
        json!({
            "domain": self.domain,
            "client_id": self.client_id,
            "response_type": self.response_type,
            "redirect_uri": self.redirect_uri.as_deref().map(crate::excerpt::excerpt),
            "scope": self.scope.as_deref().map(crate::excerpt::excerpt),
            "code_challenge_method": self.code_challenge_method,
            "has_code_challenge": self.code_challenge.is_some(),
            "has_state": self.state.is_some(),
            "has_nonce": self.nonce.is_some(),
            "identity_provider": self.identity_provider.as_deref().or(self.idp_identifier.as_deref()),
            "prompt": self.prompt,
        })
    }
}

/// Where a refusal may be told to the client (RFC 6749 §4.1.2.1): its registered
/// `redirect_uri`, with the request's `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRedirect {
    pub redirect_uri: String,
    pub state: Option<String>,
}

/// What the sign-in page shows for a checked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInPage {
    pub pool_name: String,
    pub client_id: String,
    pub client_name: String,
    /// Whether the username-and-password form is offered (`COGNITO` is a provider of the client).
    pub password: bool,
    /// The upstream providers offered as "Sign in with …".
    pub providers: Vec<String>,
    pub login_hint: Option<String>,
}

/// A refusal of an authorization step, with where the door may tell it.
#[derive(Debug, Clone)]
pub struct AuthorizeRefusal {
    pub refusal: Refusal,
    /// Set once the `redirect_uri` was known good: the error goes back to the client. Unset: an
    /// error page (the client or its `redirect_uri` cannot be trusted with it).
    pub redirect: Option<ClientRedirect>,
    /// Set when the credentials were refused: the page is shown again, with the message.
    pub page: Option<SignInPage>,
}

/// What an authorization request comes to.
#[derive(Debug, Clone)]
pub enum Authorized {
    /// No usable sign-in session: the sign-in page, for this request.
    SignIn(SignInPage),
    /// Signed in: the browser goes back to the client with a code (`location`).
    Redirect { location: String },
    /// Sign-in at the named provider: the browser goes to a SAML provider's SSO URL with an
    /// AuthnRequest, or to an OIDC provider's authorization endpoint (`location`), its answer
    /// bound to the browser's binding.
    Federate { location: String },
}

/// A sign-in that ended in a session: back to the client with a code; `session` is the new
/// sign-in session's secret (the door keeps it in the browser's cookie, for
/// `SESSION_SECONDS`). What an identity provider's answer comes to: a federated sign-in never
/// asks for a new password.
#[derive(Debug, Clone)]
pub struct SessionStarted {
    pub location: String,
    pub session: String,
}

impl From<SessionStarted> for SignedIn {
    fn from(s: SessionStarted) -> Self {
        SignedIn::Redirect { location: s.location, session: s.session }
    }
}

/// What a sign-in form comes to.
#[derive(Debug, Clone)]
pub enum SignedIn {
    /// Back to the client with a code; `session` is the new sign-in session's secret (the door
    /// keeps it in the browser's cookie, for `SESSION_SECONDS`).
    Redirect { location: String, session: String },
    /// The password was temporary: the new-password page, answered with `challenge`.
    NewPasswordRequired { challenge: String, username: String, page: SignInPage },
}

/// A token request at a pool's domain (`POST /oauth2/token`).
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub domain: String,
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub scope: Option<String>,
    pub refresh_token: Option<String>,
    pub client: ClientCredentials,
}

/// The token response (RFC 6749 §5.1), as Cognito's domain answers it.
#[derive(Debug, Clone, Serialize)]
pub struct HostedTokens {
    pub access_token: String,
    /// Only when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// A logout request (`GET /logout`).
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub domain: String,
    pub client_id: Option<String>,
    pub logout_uri: Option<String>,
}

/// Where a failing step stood: before the `redirect_uri` was known, or at the credentials.
struct Told {
    redirect: Option<ClientRedirect>,
    page: Option<SignInPage>,
}

impl HostedSignIn {
    pub(crate) fn new(kernel: Arc<Kernel>, user_pools: Arc<UserPools>) -> Self {
        let oidc_providers = moka::sync::Cache::builder()
            .max_capacity(1000)
            .time_to_idle(std::time::Duration::from_secs(crate::upstream::JWKS_MAX_AGE as u64))
            .build();
        Self { kernel, user_pools, oidc_providers }
    }

    /// `GET /oauth2/authorize`: the request checked; with a live sign-in session of the pool's
    /// (unless `prompt=login`), a code at once; else the sign-in page (with `prompt=none`, the
    /// error `login_required` back to the client instead).
    #[crate::entry_point]
    pub async fn authorize(
        &self,
        req: &AuthorizeRequest,
        session: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<Authorized, AuthorizeRefusal> {
        let browser = Browser { session: session.map(str::to_string), ..Default::default() };
        self.authorize_at(req, &browser, ctx).await
    }

    /// [`Self::authorize`], knowing the browser: without a live session, a request naming a
    /// provider (`identity_provider`, `idp_identifier`) goes to it (a SAML provider's SSO URL
    /// with an AuthnRequest, an OIDC provider's authorization endpoint) with a request whose
    /// answer only this browser (its binding) can bring back.
    #[crate::entry_point]
    pub async fn authorize_at(
        &self,
        req: &AuthorizeRequest,
        browser: &Browser,
        ctx: &RequestContext,
    ) -> Result<Authorized, AuthorizeRefusal> {
        let session = browser.session.as_deref();
        let op = Operation::new("Authorize", ctx, req.recorded()).source(EVENT_SOURCE);
        let mut told = Told { redirect: None, page: None };
        let decide = async |call: &mut Call| {
            let checked = self.check_request(req, &mut told.redirect, call).await?;
            let reuse = req.prompt.as_deref() != Some("login");
            let live = match session.filter(|_| reuse) {
                Some(secret) => self.session(secret).await?.filter(|s| s.pool_id == checked.pool.id),
                None => None,
            };
            let user = match &live {
                Some(s) => self.user_pools.signed_in_member(&checked.pool.id, &s.user_id).await?,
                None => None,
            };
            match (live, user) {
                (Some(s), Some(user)) => {
                    call.about(&user);
                    call.trail.pass(
                        "session",
                        format!("signed in {} s ago at this pool's pages", self.kernel.now() - s.auth_time),
                    );
                    let origin = (SignInStep::new(ctx, "Authorize"), s.signed_in_by.clone());
                    let location =
                        self.code_redirect(&checked, &user.id, s.auth_time, req.state.as_deref(), origin).await?;
                    Ok(Authorized::Redirect { location })
                }
                _ if req.prompt.as_deref() == Some("none") => Err(call.refuse_plainly(
                    Reason::LoginRequired,
                    "session",
                    "prompt=none and no live sign-in session of this pool",
                )),
                _ => {
                    let why = if !reuse { "prompt=login" } else { "no live sign-in session of this pool" };
                    if let Some(provider) = &checked.federate {
                        call.trail.pass("session", format!("{why}: sign-in at provider {}", provider.name));
                        let location = match provider.provider_type {
                            crate::userpool::ProviderType::Saml => {
                                self.saml_start(&checked, provider, req, browser, call).await?
                            }
                            crate::userpool::ProviderType::Oidc => {
                                self.oidc_start(&checked, provider, req, browser, call).await?
                            }
                        };
                        return Ok(Authorized::Federate { location });
                    }
                    call.trail.pass("session", format!("{why}: the sign-in page"));
                    Ok(Authorized::SignIn(checked.page))
                }
            }
        };
        let answer = |a: &Authorized| match a {
            Authorized::SignIn(_) => json!({ "outcome": "sign-in page" }),
            Authorized::Redirect { .. } => json!({ "outcome": "code issued (sign-in session)" }),
            Authorized::Federate { .. } => json!({ "outcome": "AuthnRequest sent (SAML)" }),
        };
        self.kernel.run(op, decide, answer).await.map_err(|refusal| told.refuse(refusal))
    }

    /// The sign-in form: the request checked again, then the password as `USER_PASSWORD_AUTH`
    /// checks it (lockout included); signed in, a session and a code.
    #[crate::entry_point]
    pub async fn sign_in(
        &self,
        req: &AuthorizeRequest,
        username: &str,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<SignedIn, AuthorizeRefusal> {
        let mut params = req.recorded();
        params["username"] = json!(crate::excerpt::excerpt(username));
        let op = Operation::new("SignIn", ctx, params).source(EVENT_SOURCE);
        let mut told = Told { redirect: None, page: None };
        let decide = async |call: &mut Call| {
            let checked = self.check_request(req, &mut told.redirect, call).await?;
            if !checked.page.password {
                return Err(call.refuse_plainly(
                    Reason::InvalidRequest,
                    "identity provider",
                    format!("client {} does not sign users in with a password", checked.client.client_id),
                ));
            }
            told.page = Some(checked.page.clone());
            if username.is_empty() || password.is_empty() {
                return Err(call.refuse_plainly(
                    Reason::NotAuthorized,
                    "credentials",
                    "Enter your username and password.",
                ));
            }
            match self.user_pools.hosted_password(&checked.pool, &checked.client, username, password, call).await? {
                HostedProof::SignedIn(user) => {
                    let by = SignInStep::new(ctx, "SignIn");
                    self.signed_in(&checked, &user, req.state.as_deref(), by, call).await.map(SignedIn::from)
                }
                HostedProof::NewPasswordRequired { session, username } => {
                    Ok(SignedIn::NewPasswordRequired { challenge: session, username, page: checked.page })
                }
            }
        };
        self.kernel.run(op, decide, signed_in_answer).await.map_err(|refusal| told.refuse(refusal))
    }

    /// The new-password form: the request checked again, the challenge answered with the new
    /// password (the pool's policy), then signed in as by [`Self::sign_in`].
    #[crate::entry_point]
    pub async fn new_password(
        &self,
        req: &AuthorizeRequest,
        challenge: &str,
        username: &str,
        new_password: &str,
        ctx: &RequestContext,
    ) -> Result<SignedIn, AuthorizeRefusal> {
        let mut params = req.recorded();
        params["username"] = json!(crate::excerpt::excerpt(username));
        let op = Operation::new("SetNewPassword", ctx, params).source(EVENT_SOURCE);
        let mut told = Told { redirect: None, page: None };
        let decide = async |call: &mut Call| {
            let checked = self.check_request(req, &mut told.redirect, call).await?;
            told.page = Some(checked.page.clone());
            let user =
                self.user_pools.hosted_new_password(&checked.client, challenge, username, new_password, call).await?;
            call.about(&user);
            let by = SignInStep::new(ctx, "SetNewPassword");
            self.signed_in(&checked, &user, req.state.as_deref(), by, call).await.map(SignedIn::from)
        };
        self.kernel.run(op, decide, signed_in_answer).await.map_err(|refusal| told.refuse(refusal))
    }

    /// A user signed in at the pages now, by the step `by`: their session, and a code for the
    /// request.
    async fn signed_in(
        &self,
        checked: &Checked,
        user: &crate::model::User,
        state: Option<&str>,
        by: SignInStep,
        call: &mut Call,
    ) -> Result<SessionStarted, Refusal> {
        let now = self.kernel.now();
        let session = self.start_session(&checked.pool.id, &user.id, now, &by).await?;
        call.trail.pass("session", format!("sign-in session started for {} s", records::SESSION_SECONDS));
        let location = self.code_redirect(checked, &user.id, now, state, (by.clone(), Some(by))).await?;
        Ok(SessionStarted { location, session })
    }

    /// Issues a code for `user` and the checked request; returns where the browser goes.
    /// `origin`: the step issuing it, and the step the user signed in by.
    async fn code_redirect(
        &self,
        checked: &Checked,
        user_id: &str,
        auth_time: i64,
        state: Option<&str>,
        origin: (SignInStep, Option<SignInStep>),
    ) -> Result<String, Refusal> {
        let grant = CodeGrant {
            pool_id: checked.pool.id.clone(),
            client_id: checked.client.client_id.clone(),
            redirect_uri: checked.redirect_uri.clone(),
            user_id: user_id.to_string(),
            scope: checked.scope.clone(),
            nonce: checked.nonce.clone(),
            code_challenge: checked.code_challenge.clone(),
            auth_time,
            expires_at: self.kernel.now() + records::CODE_SECONDS,
            redeemed: None,
            issued_by: Some(origin.0),
            signed_in_by: origin.1,
        };
        let code = self.issue_code(&grant).await?;
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        Ok(with_query(&checked.redirect_uri, &pairs))
    }

    /// `POST /oauth2/token` at the pool's domain.
    #[crate::entry_point]
    pub async fn token(&self, req: &TokenRequest, ctx: &RequestContext) -> Result<HostedTokens, Refusal> {
        let params = json!({
            "domain": req.domain,
            "grant_type": req.grant_type,
            "client_id": req.client.client_id,
            "redirect_uri": req.redirect_uri.as_deref().map(crate::excerpt::excerpt),
            "scope": req.scope.as_deref().map(crate::excerpt::excerpt),
            "has_code_verifier": req.code_verifier.is_some(),
        });
        let op = Operation::new("Token", ctx, params).source(EVENT_SOURCE);
        let answer = |t: &HostedTokens| json!({ "expires_in": t.expires_in, "id_token": t.id_token.is_some(), "refresh_token": t.refresh_token.is_some() });
        self.kernel.run(op, async |call: &mut Call| self.token_inner(req, call).await, answer).await
    }

    /// `GET|POST /oauth2/userInfo` at the pool's domain.
    #[crate::entry_point]
    pub async fn userinfo(&self, domain: &str, access_token: &str, ctx: &RequestContext) -> Result<Value, Refusal> {
        let op = Operation::new("GetUserInfo", ctx, json!({ "domain": domain })).source(EVENT_SOURCE).read_only(true);
        let decide = async |call: &mut Call| {
            let pool = self.domain_pool(domain, call).await?;
            self.user_pools.hosted_userinfo(&pool, access_token, call).await
        };
        self.kernel.run(op, decide, |_| json!({})).await
    }

    /// `POST /oauth2/revoke` at the pool's domain (RFC 7009).
    #[crate::entry_point]
    pub async fn revoke(
        &self,
        domain: &str,
        creds: &ClientCredentials,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<(), Refusal> {
        let op = Operation::new("RevokeToken", ctx, json!({ "domain": domain, "client_id": creds.client_id }))
            .source(EVENT_SOURCE);
        let decide = async |call: &mut Call| {
            let pool = self.domain_pool(domain, call).await?;
            let client = self.pool_app_client(&pool, creds.client_id.as_deref(), call).await?;
            self.user_pools.check_client_secret(&client, creds.client_secret.as_deref(), call)?;
            if token.is_empty() {
                return Err(call.refuse_plainly(Reason::InvalidRequest, "token", "token is missing"));
            }
            self.user_pools.hosted_revoke(&client, token, call).await
        };
        self.kernel.run(op, decide, |_| json!({})).await
    }

    /// `GET /logout`: the browser's sign-in session ends, and it goes to one of the client's
    /// logout URLs (any other is refused with an error page).
    #[crate::entry_point]
    pub async fn logout(
        &self,
        req: &LogoutRequest,
        session: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<String, Refusal> {
        let params = json!({
            "domain": req.domain,
            "client_id": req.client_id,
            "logout_uri": req.logout_uri.as_deref().map(crate::excerpt::excerpt),
        });
        let op = Operation::new("Logout", ctx, params).source(EVENT_SOURCE);
        let decide = async |call: &mut Call| {
            let pool = self.domain_pool(&req.domain, call).await?;
            let client = self.pool_app_client(&pool, req.client_id.as_deref(), call).await?;
            let target = self.logout_target(&client, req.logout_uri.as_deref(), call)?;
            let ended = match session {
                Some(secret) => {
                    if let Some(s) = self.session(secret).await?.filter(|s| s.pool_id == pool.id) {
                        if let Some(u) = self.kernel.store.get_user(&s.user_id).await? {
                            call.about(&u);
                        }
                    }
                    self.end_session(secret).await?
                }
                None => false,
            };
            call.trail.pass("session", if ended { "sign-in session ended" } else { "no sign-in session to end" });
            Ok(target)
        };
        self.kernel.run(op, decide, |_| json!({ "outcome": "signed out" })).await
    }

    fn logout_target(&self, client: &PoolClient, uri: Option<&str>, call: &mut Call) -> Result<String, Refusal> {
        match uri {
            Some(u) if client.oauth.is_logout_url(u) => {
                call.trail.pass("logout_uri", "one of the client's logout URLs");
                Ok(u.to_string())
            }
            Some(u) => Err(call.refuse_plainly(
                Reason::UnregisteredRedirectUri,
                "logout_uri",
                format!(
                    "logout_uri {} is not one of the logout URLs of client {}",
                    crate::excerpt::excerpt(u),
                    client.client_id
                ),
            )),
            None => Err(call.refuse_plainly(Reason::InvalidRequest, "logout_uri", "logout_uri is missing")),
        }
    }

    /// The pool a domain names, for the doors' discovery documents.
    #[crate::entry_point]
    pub async fn pool_of_domain(&self, domain: &str) -> Result<Option<UserPool>, Refusal> {
        self.user_pools.domain_pool(domain).await
    }
}

impl Told {
    fn refuse(self, refusal: Refusal) -> AuthorizeRefusal {
        // A refusal of the credentials shows the page again; the service's own trouble and the
        // request's go where the request stood.
        let credentials = matches!(
            refusal.reason,
            Reason::NotAuthorized
                | Reason::LockedOut
                | Reason::UserNotConfirmed
                | Reason::PasswordResetRequired
                | Reason::InvalidPassword
                | Reason::RateLimited
        );
        let page = self.page.filter(|_| credentials);
        let redirect = if page.is_some() { None } else { self.redirect };
        AuthorizeRefusal { refusal, redirect, page }
    }
}

/// The record's answer of a federated sign-in.
fn session_answer(_: &SessionStarted) -> Value {
    json!({ "outcome": "code issued, sign-in session started" })
}

fn signed_in_answer(s: &SignedIn) -> Value {
    match s {
        SignedIn::Redirect { .. } => json!({ "outcome": "code issued, sign-in session started" }),
        SignedIn::NewPasswordRequired { .. } => json!({ "outcome": "NEW_PASSWORD_REQUIRED" }),
    }
}

/// `uri` with `pairs` added to its query (RFC 6749 §4.1.2 keeps the URI's own query).
pub fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        // Callback URLs are checked absolute when registered; this is not reached.
        Err(_) => uri.to_string(),
    }
}
