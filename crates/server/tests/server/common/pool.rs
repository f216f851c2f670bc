//! A guarded user pool: the security suite's attacks on sign-in.

use super::*;
use std::sync::Mutex;
use tokenbridge_core::config::{IdentityProviderConfig, IssuerForm, RateLimits, UserPoolClientConfig, UserPoolConfig};
use tokenbridge_core::directory::NewUser;

/// The pool and public app client (every auth flow allowed; CUSTOM_AUTH answered by the demo
/// upstream) of [`Server::with_pool`].
pub const GUARDED_POOL: &str = "us-east-1_Guarded1";
pub const GUARDED_CLIENT: &str = "guardedclient0000000000000";

/// Confirmation codes as a pool sends them, kept for the test to read.
#[derive(Default)]
pub struct CapturedCodes(Mutex<Vec<(String, String, String)>>);

impl tokenbridge_core::userpool::CodeSender for CapturedCodes {
    fn send(&self, _pool_id: &str, user: &tokenbridge_core::model::User, purpose: &str, code: &str) {
        self.0.lock().unwrap().push((user.username.clone(), purpose.into(), code.into()));
    }
}

impl CapturedCodes {
    /// The last code of `purpose` sent to `username`.
    pub fn last(&self, username: &str, purpose: &str) -> String {
        let codes = self.0.lock().unwrap();
        let found = codes.iter().rev().find(|(u, p, _)| u == username && p == purpose);
        found.map(|(_, _, c)| c.clone()).unwrap_or_else(|| panic!("no {purpose} code for {username}"))
    }
}

impl Server {
    /// A [`Server::custom`] server without rate limits (the attacks must reach the engine), with
    /// the pool [`GUARDED_POOL`], its client [`GUARDED_CLIENT`] and the confirmed pool members
    /// `members`: (username, local password; `None` for one who signs in only upstream). Codes
    /// the pool sends are captured in the returned [`CapturedCodes`].
    pub async fn with_pool(members: &[(&str, Option<&str>)]) -> (Self, Arc<CapturedCodes>) {
        let off = RateLimits { per_ip_per_second: 0, per_client_per_second: 0, burst: 0 };
        let s = Server::custom(Opts { rate_limits: Some(off), ..Default::default() }).await;
        let e = &s.engine;
        e.user_pools()
            .ensure_user_pool(GUARDED_POOL, "guarded", tokenbridge_core::userpool::IssuerForm::Local)
            .await
            .expect("pool");
        let upstream = [tokenbridge_demo::UPSTREAM_NAME.to_string()];
        e.user_pools()
            .ensure_pool_client(GUARDED_POOL, GUARDED_CLIENT, "guarded", None, &upstream)
            .await
            .expect("client");
        for (username, password) in members {
            let user = match e.directory().find(username).await {
                Ok(u) => u,
                Err(_) => e
                    .directory()
                    .create_user(NewUser {
                        username: username.to_string(),
                        email: Some(format!("{username}@example.com")),
                        email_verified: true,
                        password: password.map(str::to_string),
                        enabled: true,
                        ..Default::default()
                    })
                    .await
                    .expect("create user"),
            };
            e.user_pools().add_pool_member(GUARDED_POOL, &user, *password).await.expect("pool member");
        }
        let codes = Arc::new(CapturedCodes::default());
        e.user_pools().set_code_sender(codes.clone());
        (s, codes)
    }

    /// An unsigned Cognito user-pool request, ready to send.
    pub fn cognito_request(&self, action: &str, body: &Value) -> reqwest::RequestBuilder {
        self.aws_json_request("/", &format!("{USER_POOL_TARGET}{action}")).body(body.to_string())
    }
}

/// A pool signing in through one identity provider at a domain: its public app client allows
/// the code flow with `openid email` and that provider only, back to `callback`.
pub struct FederatedPool<'a> {
    pub pool: &'a str,
    pub name: &'a str,
    pub client: &'a str,
    pub callback: &'a str,
    pub domain: &'a str,
}

impl FederatedPool<'_> {
    pub fn config(&self, provider: IdentityProviderConfig) -> UserPoolConfig {
        UserPoolConfig {
            id: self.pool.into(),
            name: self.name.into(),
            issuer: IssuerForm::Local,
            clients: vec![UserPoolClientConfig {
                client_id: self.client.into(),
                name: format!("{} app", self.name),
                secret: None,
                providers: vec![provider.name.clone()],
                callback_urls: vec![self.callback.into()],
                logout_urls: vec![],
                allowed_oauth_flows: vec!["code".into()],
                allowed_oauth_scopes: vec!["openid".into(), "email".into()],
            }],
            domain: Some(self.domain.into()),
            identity_providers: vec![provider],
            resource_servers: Vec::new(),
        }
    }
}
