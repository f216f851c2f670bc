//! Roles, trust policies and temporary credentials for the role and policy tests.

use super::{Broker, Called, ACCOUNT, ISSUER, POOL, REGION};
use serde_json::{json, Value};
use tokenbridge_core::iam::SessionClaims;

/// The user pool as identity pools name it (`Logins` keys, `CognitoIdentityProviders`).
pub fn pool_provider() -> String {
    format!("cognito-idp.{REGION}.amazonaws.com/{POOL}")
}

/// The user pool as STS names its tokens' provider: the issuer without its scheme.
pub fn pool_issuer_host() -> String {
    format!("{}/{POOL}", ISSUER.trim_start_matches("https://"))
}

/// A policy document of `statements`.
pub fn policy(statements: Value) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// Trust of one statement `sid`: `AssumeRoleWithWebIdentity` by tokens of the OIDC provider
/// `provider` (its issuer without the scheme) issued to `aud`.
pub fn web_identity_trust(sid: &str, provider: &str, aud: &str) -> Value {
    policy(json!([{
        "Sid": sid,
        "Effect": "Allow",
        "Principal": { "Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}") },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": { "StringEquals": { format!("{provider}:aud"): aud } },
    }]))
}

/// Trust of one statement `sid`: identities of the identity pool `aud` whose `amr` has `amr`.
pub fn identity_pool_trust(sid: &str, aud: &str, amr: &str) -> Value {
    policy(json!([{
        "Sid": sid,
        "Effect": "Allow",
        "Principal": { "Federated": "cognito-identity.amazonaws.com" },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": { "cognito-identity.amazonaws.com:aud": aud },
            "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": amr },
        },
    }]))
}

impl Broker {
    /// Creates (or replaces) the role `name` with its trust policy and inline policies; its ARN.
    pub async fn role(&self, name: &str, trust: &Value, policies: &[(&str, Value)]) -> String {
        let policies: Vec<(String, String)> = policies.iter().map(|(n, p)| (n.to_string(), p.to_string())).collect();
        let role = self.engine.iam().put_role(name, &trust.to_string(), &policies).await.expect("put_role");
        role.arn(ACCOUNT)
    }

    /// STS `AssumeRoleWithWebIdentity` of `role_arn` with `token`, and an optional session policy.
    pub async fn assume(
        &self,
        role_arn: &str,
        session: &str,
        token: &str,
        session_policy: Option<&Value>,
    ) -> Called<Value> {
        let policy = session_policy.map(Value::to_string);
        let mut pairs = vec![("RoleArn", role_arn), ("RoleSessionName", session), ("WebIdentityToken", token)];
        if let Some(p) = &policy {
            pairs.push(("Policy", p.as_str()));
        }
        self.sts("AssumeRoleWithWebIdentity", &pairs).await
    }

    /// What temporary credentials stand for, as a signed request's verifier finds them.
    pub async fn session_of(&self, credentials: &Value) -> SessionClaims {
        let token = credentials["SessionToken"].as_str().unwrap_or_else(|| panic!("no SessionToken in {credentials}"));
        self.engine.iam().open_session_token(token).await.expect("our session token")
    }

    /// A role trusting the user pool's public client, assumed by alice's pool id token: the
    /// session the credentials stand for.
    pub async fn assumed_session(
        &self,
        role: &str,
        policies: &[(&str, Value)],
        session_policy: Option<&Value>,
    ) -> SessionClaims {
        let trust = web_identity_trust("PoolUsers", &pool_issuer_host(), super::POOL_CLIENT);
        let arn = self.role(role, &trust, policies).await;
        let token = self.pool_sign_in("alice").await["IdToken"].as_str().expect("IdToken").to_string();
        let answer = self.assume(&arn, "alice-session", &token, session_policy).await.ok();
        self.session_of(&answer["Credentials"]).await
    }
}
