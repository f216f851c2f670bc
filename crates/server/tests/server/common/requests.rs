//! What a test sends the server under test: upstream sign-ins, each door's requests, and the
//! engine's dispatchers as the doors run them once a signature is verified.

use super::*;
use tokenbridge_core::model::{AuditQuery, AuditRecord};

impl Server {
    // --- the upstream side ---

    /// Signs in at the demo upstream with the username-password grant (as a script would):
    /// the Salesforce-shaped answer with an opaque `access_token` and an `id_token`.
    pub async fn upstream_login(&self, username: &str) -> Value {
        let p = person(username);
        let r = self
            .http
            .post(self.url("/demo-idp/token"))
            .basic_auth(UPSTREAM_CLIENT, Some(&self.upstream_client_secret))
            .form(&[("grant_type", "password"), ("username", p.upstream_username), ("password", p.upstream_password)])
            .send()
            .await
            .expect("upstream token request");
        let r = Resp::read(r).await;
        r.assert_ok();
        r.json
    }

    /// A demo-upstream id token for a demo person, minted at the current (manual) time; each
    /// carries its own `jti`, so every call gives a distinct token.
    pub fn mint_id_token(&self, username: &str) -> String {
        self.idp.mint_id_token(person(username).upstream_username).expect("demo upstream user")
    }

    /// Moves the clock one second on and mints (tests that also want a later `iat`).
    pub fn fresh_id_token(&self, username: &str) -> String {
        self.clock.advance(1);
        self.mint_id_token(username)
    }

    // --- requests ---

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        Resp::read(req.send().await.expect("request")).await
    }

    /// An unsigned AWS JSON 1.1 `POST path` for `target` (`Service.Action`), without its body
    /// (callers add the body, and any headers of a forged signature).
    pub fn aws_json_request(&self, path: &str, target: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).header("content-type", AMZ_JSON).header("x-amz-target", target)
    }

    /// One action of the Cognito user-pool API (`POST /`, AWS JSON 1.1), unsigned.
    pub async fn cognito(&self, action: &str, body: &Value) -> Resp {
        self.send(self.aws_json_request("/", &format!("{USER_POOL_TARGET}{action}")).body(body.to_string())).await
    }

    /// One action of the Cognito identity-pool API (`POST /`, AWS JSON 1.1), unsigned.
    pub async fn cognito_identity(&self, action: &str, body: &Value) -> Resp {
        self.send(self.aws_json_request("/", &format!("{IDENTITY_POOL_TARGET}{action}")).body(body.to_string())).await
    }

    /// A user-pool admin action through the engine's dispatcher, as the HTTP door runs it once
    /// the SigV4 signature is verified; panics on an error.
    pub async fn user_pool_admin(&self, action: &str, body: &Value) -> Value {
        self.engine
            .user_pools()
            .user_pool_action(action, body, Some(&refusals::admin()), &refusals::user_pool_ctx())
            .await
            .map_err(refusals::CognitoError::from)
            .unwrap_or_else(|e| panic!("{action}: {}: {}", e.exception, e.message))
    }

    /// An IAM action through the engine's dispatcher, as the query door runs it once admin
    /// credentials signed it.
    pub async fn iam_action(&self, action: &str, pairs: &[(&str, &str)]) -> Result<Value, refusals::QueryError> {
        use tokenbridge_core::iam::QueryService;
        let mut p: std::collections::BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        p.insert("Action".into(), action.into());
        p.insert("Version".into(), "2010-05-08".into());
        let (admin, ctx) = (refusals::admin(), refusals::query_ctx());
        self.engine
            .iam()
            .query_action(QueryService::Iam, action, &p, Some(&admin), &ctx)
            .await
            .map_err(refusals::QueryError::iam)
    }

    /// `InitiateAuth` with USER_PASSWORD_AUTH at the app client `client_id`: the answer as it is.
    pub async fn password_auth(&self, client_id: &str, username: &str, password: &str) -> Resp {
        let body = json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
            "AuthParameters": { "USERNAME": username, "PASSWORD": password } });
        self.cognito("InitiateAuth", &body).await
    }

    /// A pool member's `AuthenticationResult` by USER_PASSWORD_AUTH at the app client `client_id`;
    /// asserts success.
    pub async fn pool_auth(&self, client_id: &str, username: &str, password: &str) -> Value {
        let r = self.password_auth(client_id, username, password).await;
        r.assert_ok();
        r.json["AuthenticationResult"].clone()
    }

    /// A pool member's id token by USER_PASSWORD_AUTH at the app client `client_id`.
    pub async fn pool_id_token(&self, client_id: &str, username: &str, password: &str) -> String {
        self.pool_auth(client_id, username, password).await["IdToken"].as_str().expect("IdToken").to_string()
    }

    /// What the demo wrote to `demo.json` (a [`Self::demo`] server).
    pub fn demo_json(&self) -> Value {
        read_demo_json(self.dir.path())
    }

    /// A string of `demo.json`'s `cognito` object (`user_pool_id`, `client_id`, `issuer`, ...).
    pub fn demo_cognito(&self, key: &str) -> String {
        self.demo_json()["cognito"][key].as_str().unwrap_or_else(|| panic!("demo.json cognito.{key}")).to_string()
    }

    /// `POST /auth/exchange` with the upstream token as Bearer and `params` as a form.
    pub async fn exchange_bearer(&self, token: &str, params: &[(&str, &str)]) -> Resp {
        let mut req = self.http.post(self.url("/auth/exchange")).bearer_auth(token);
        if !params.is_empty() {
            req = req.form(params);
        }
        self.send(req).await
    }

    /// `POST /oauth2/token` authenticated with HTTP Basic as the configured client.
    pub async fn token_basic(&self, params: &[(&str, &str)]) -> Resp {
        self.send(
            self.http
                .post(self.url("/oauth2/token"))
                .basic_auth(&self.client_id, Some(&self.client_secret))
                .form(params),
        )
        .await
    }

    /// RFC 8693 exchange at `/oauth2/token`, client authenticated by Basic.
    pub async fn token_exchange(&self, subject_token: &str, subject_token_type: &str) -> Resp {
        self.token_basic(&[
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("subject_token", subject_token),
            ("subject_token_type", subject_token_type),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Resp {
        self.token_basic(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    /// A POST with a raw form body (for malformed requests).
    pub async fn post_raw_form(&self, path: &str, body: &str, basic: bool) -> Resp {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if basic {
            req = req.basic_auth(&self.client_id, Some(&self.client_secret));
        }
        self.send(req).await
    }

    pub async fn post_form_basic(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        self.send(self.http.post(self.url(path)).basic_auth(&self.client_id, Some(&self.client_secret)).form(params))
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn userinfo(&self, access_token: &str) -> Resp {
        self.send(self.http.get(self.url("/oauth2/userinfo")).bearer_auth(access_token)).await
    }

    pub async fn introspect(&self, token: &str) -> Resp {
        self.post_form_basic("/oauth2/introspect", &[("token", token)]).await
    }

    pub async fn jwks(&self) -> Value {
        let r = self.get("/.well-known/jwks.json").await;
        r.assert_ok();
        r.json
    }

    /// Exchanges a fresh demo id token of `username` at `/auth/exchange`; asserts success.
    pub async fn sign_in(&self, username: &str) -> Value {
        let token = self.fresh_id_token(username);
        let r = self.exchange_bearer(&token, &[]).await;
        r.assert_ok();
        r.json
    }

    /// Audit records of one request id.
    pub async fn audit_of(&self, request_id: &str) -> Vec<AuditRecord> {
        self.store
            .lookup_audit(&AuditQuery { request_id: Some(request_id.into()), ..Default::default() })
            .await
            .expect("audit lookup")
    }

    /// The local user id (`sub`) of a demo person.
    pub async fn user_id(&self, username: &str) -> String {
        self.engine.directory().find(username).await.expect("user").id
    }

    /// `GET /metrics` with the configured `metrics.token`; asserts 200.
    pub async fn metrics(&self) -> Resp {
        let token = self.engine.config().metrics.token.clone().expect("metrics.token is set");
        let r = self.send(self.http.get(self.url("/metrics")).bearer_auth(token)).await;
        r.assert_ok();
        r
    }
}
