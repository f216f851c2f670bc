//! A browser's sign-in at a provider, run by this server: where the browser goes, the code
//! redeemed at the token endpoint, and UserInfo for the claims the id token leaves out (the web
//! console's `[providers.login]`, and the pools' OIDC identity providers).

use super::{describe_http_error, host_of, unavailable, Rejection, UpstreamProvider};
use serde_json::Value;

/// What a provider's token endpoint answered: the HTTP status and the JSON body, if it was JSON.
#[derive(Debug, Clone)]
pub struct TokenEndpointAnswer {
    pub status: u16,
    pub body: Option<Value>,
}

impl UpstreamProvider {
    /// Posts `form` to the provider's `[providers.login]` token endpoint (redeeming an
    /// authorization code, RFC 6749 §4.1.3) with this provider's client and timeout; the client
    /// secret, when configured, goes in HTTP Basic. `Err` says why no answer came (host only).
    #[crate::entry_point]
    pub async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenEndpointAnswer, String> {
        let Some(login) = &self.config.login else {
            return Err(format!("provider {:?} has no [providers.login]", self.config.name));
        };
        let url = match self.endpoints().await.map_err(|r| r.detail)?.token {
            Some(u) => u,
            None => return Err(format!("provider {:?} has no token endpoint", self.config.name)),
        };
        let url = &url;
        let mut req = self.http.post(url).form(form).header(reqwest::header::ACCEPT, "application/json");
        if let Some(secret) = &login.client_secret {
            req = req.basic_auth(&login.client_id, Some(secret));
        }
        let resp = req
            .timeout(self.timeout())
            .send()
            .await
            .map_err(|e| describe_http_error(url, &e, self.config.timeout_ms))?;
        let status = resp.status().as_u16();
        Ok(TokenEndpointAnswer { status, body: resp.json().await.ok() })
    }
}

impl UpstreamProvider {
    /// Where the browser signs in at the provider (configured, or from its discovery document).
    #[crate::entry_point]
    pub async fn authorization_endpoint(&self) -> Result<String, Rejection> {
        self.endpoints().await?.authorization.ok_or_else(|| {
            unavailable("discovery", format!("provider {:?} has no authorization endpoint", self.config.name))
        })
    }

    /// The provider's UserInfo: the claims it answers for `access_token`, as a POST (form) or a
    /// GET, with the bearer token in the header either way.
    #[crate::entry_point]
    pub async fn userinfo_claims(&self, access_token: &str, post: bool) -> Result<Value, Rejection> {
        let Some(url) = self.endpoints().await?.userinfo else {
            return Err(unavailable("userinfo", format!("provider {:?} has no UserInfo endpoint", self.config.name)));
        };
        if !post {
            return self.userinfo(&url, access_token).await;
        }
        let resp = self
            .http
            .post(&url)
            .bearer_auth(access_token)
            .form(&[] as &[(&str, &str)])
            .timeout(self.timeout())
            .send()
            .await
            .map_err(|e| unavailable("userinfo", describe_http_error(&url, &e, self.config.timeout_ms)))?;
        match resp.status().as_u16() {
            200 => resp
                .json()
                .await
                .map_err(|_| unavailable("userinfo", format!("{} UserInfo did not answer JSON", host_of(&url)))),
            status => Err(unavailable("userinfo", format!("UserInfo at {} answered HTTP {status}", host_of(&url)))),
        }
    }
}
