//! 6. Token types and ended sessions into AWS credentials.
//!
//! AWS hands out credentials for id tokens: Cognito identity pools take a user pool's id token
//! (and an OIDC provider's), STS `AssumeRoleWithWebIdentity` a JWT whose `aud` its provider
//! lists. An access token has no `aud` (its `client_id` must not stand in for one), and an id
//! token whose sign-in session was ended (GlobalSignOut, a revoked refresh family) buys nothing.
//! Each refusal speaks the door's protocol (NotAuthorizedException, STS's InvalidIdentityToken),
//! names its check in the audit record, and echoes no token. This server's own issuer named
//! under an identity pool's OpenIdConnectProviderARNs takes the id tokens of the client ids its
//! IAM OIDC provider lists, never any client's (the IAM OIDC provider actions themselves:
//! `crates/server/tests/server/sts.rs`). All proofs of the credential doors
//! live in this module; `sessions.rs` proves that the same ended sessions (also those without a
//! refresh token) are refused by UserInfo, introspection, GetUser and the authorizer, and the
//! store conformance suite (`concurrent_sign_out`) that a sign-out racing rotations ends them.

use crate::common::refusals::{admin, identity_pool_ctx};
use crate::common::*;
use serde_json::{json, Value};

/// The demo, with the names its identity side is built from.
struct Demo {
    s: Server,
    /// The demo user pool's app client (its id tokens' `aud`).
    pool_client: String,
    /// The user pool's `Logins` key as AWS forms it.
    pool_provider: String,
    /// The user pool's tokens' `iss` without its scheme (an IAM OIDC provider's name).
    pool_issuer: String,
    /// This server's own issuer without its scheme (the broker's tokens, `/auth/exchange`).
    own_provider: String,
    account: String,
}

impl Demo {
    async fn start() -> Self {
        let s = Server::demo().await;
        let pool_id = s.demo_cognito("user_pool_id");
        let region = pool_id.split('_').next().unwrap().to_string();
        Self {
            pool_client: s.demo_cognito("client_id"),
            pool_provider: format!("cognito-idp.{region}.amazonaws.com/{pool_id}"),
            pool_issuer: s.demo_cognito("issuer").split_once("://").unwrap().1.to_string(),
            own_provider: s.base.trim_start_matches("http://").to_string(),
            account: s.engine.config().aws.account_id.clone(),
            s,
        }
    }

    /// An identity pool taking the demo user pool (`ServerSideTokenCheck` as given) and this
    /// server's own issuer, whose authenticated role trusts it.
    async fn identity_pool(&self, name: &str, server_side_token_check: bool) -> String {
        let ctx = identity_pool_ctx();
        let body = json!({
            "IdentityPoolName": name,
            "AllowUnauthenticatedIdentities": false,
            "CognitoIdentityProviders": [{ "ProviderName": self.pool_provider, "ClientId": self.pool_client,
                                           "ServerSideTokenCheck": server_side_token_check }],
            "OpenIdConnectProviderARNs": [format!("arn:aws:iam::{}:oidc-provider/{}", self.account, self.own_provider)],
        });
        let e = &self.s.engine;
        let created = e
            .identity_pools()
            .identity_pool_action("CreateIdentityPool", &body, Some(&admin()), &ctx)
            .await
            .expect("identity pool");
        let pool = created["IdentityPoolId"].as_str().unwrap().to_string();
        let role = self
            .role(&format!("{}-role", name.replace(' ', "-")), identity_pool_trust("Pool", &pool, "authenticated"))
            .await;
        let roles = json!({ "IdentityPoolId": pool, "Roles": { "authenticated": role } });
        e.identity_pools()
            .identity_pool_action("SetIdentityPoolRoles", &roles, Some(&admin()), &ctx)
            .await
            .expect("roles");
        pool
    }

    /// A role with `trust` and one harmless policy; its ARN.
    async fn role(&self, name: &str, trust: Value) -> String {
        let policy = json!({ "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" }] });
        let role = self.s.engine.iam().put_role(name, &trust.to_string(), &[("Read".into(), policy.to_string())]).await;
        role.expect("role").arn(&self.account)
    }

    /// A role trusting the tokens of the OIDC provider `provider` issued to `aud`.
    async fn web_role(&self, name: &str, provider: &str, aud: &str) -> String {
        self.role(name, web_identity_trust("Web", &self.account, provider, aud)).await
    }

    /// The user pool's answer to USER_PASSWORD_AUTH (id, access and refresh tokens).
    async fn pool_sign_in(&self, username: &str) -> Value {
        self.s.pool_auth(&self.pool_client, username, &format!("{username}-local-pw")).await
    }

    async fn get_id(&self, pool: &str, logins: Value) -> Resp {
        self.s.cognito_identity("GetId", &json!({ "IdentityPoolId": pool, "Logins": logins })).await
    }

    async fn credentials(&self, identity: &str, logins: Value) -> Resp {
        self.s.cognito_identity("GetCredentialsForIdentity", &json!({ "IdentityId": identity, "Logins": logins })).await
    }

    async fn open_id_token(&self, identity: &str, logins: Value) -> Resp {
        self.s.cognito_identity("GetOpenIdToken", &json!({ "IdentityId": identity, "Logins": logins })).await
    }

    /// `AssumeRoleWithWebIdentity`, unsigned over the query protocol as SDKs send it.
    async fn assume(&self, role_arn: &str, token: &str) -> Resp {
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", "security"),
            ("WebIdentityToken", token),
        ];
        self.s.send(self.s.http.post(self.s.url("/")).form(&form)).await
    }

    /// The failed check of the audit record `event` of the request `r` answered: (check, detail).
    async fn refusal(&self, r: &Resp, event: &str, token: &str) -> (String, String) {
        let records = self.s.audit_of(r.request_id()).await;
        let rec = &records.iter().find(|x| x.event_name == event).unwrap_or_else(|| panic!("no {event} record")).record;
        let text = rec.to_string();
        assert!(!text.contains(&token[token.len() - 40..]), "the audit record holds the token: {text}");
        let steps = rec["additionalEventData"]["decisionTrail"].as_array().cloned().unwrap_or_default();
        let fail = steps.iter().find(|s| s["outcome"] == "fail").unwrap_or_else(|| panic!("no failed check: {text}"));
        (fail["check"].as_str().unwrap().to_string(), fail["detail"].as_str().unwrap().to_string())
    }
}

/// The text of the first `<tag>` element of an XML answer.
fn xml<'t>(text: &'t str, tag: &str) -> Option<&'t str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    Some(&text[start..start + text[start..].find(&format!("</{tag}>"))?])
}

/// An identity-pool refusal: NotAuthorizedException with `message`, no token in the answer.
#[track_caller]
fn assert_not_authorized(r: &Resp, message: &str, token: &str) {
    assert_cognito_error(r, "NotAuthorizedException", message);
    assert!(!r.text.contains(&token[token.len() - 40..]), "the answer echoes the token: {}", r.text);
}

/// An STS refusal: 400 InvalidIdentityToken (XML) whose message names `needle`, no token in it.
#[track_caller]
fn assert_invalid_identity_token(r: &Resp, needle: &str, token: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(xml(&r.text, "Code"), Some("InvalidIdentityToken"), "{}", r.text);
    let message = xml(&r.text, "Message").unwrap_or_default();
    assert!(message.contains(needle), "the message {message:?} does not say {needle:?}");
    assert!(!r.text.contains(&token[token.len() - 40..]), "the answer echoes the token: {}", r.text);
}

#[tokio::test]
async fn access_tokens_buy_no_identity_pool_credentials() {
    let d = Demo::start().await;
    let pool = d.identity_pool("access tokens", true).await;
    let broker = d.s.sign_in("alice").await;
    let (id, access) = (broker["id_token"].as_str().unwrap(), broker["access_token"].as_str().unwrap());
    let own = |t: &str| json!({ d.own_provider.clone(): t });
    let r = d.get_id(&pool, own(id)).await;
    r.assert_ok();
    let identity = r.str("IdentityId").to_string();

    // The broker's access token, whose client_id used to stand in for aud: refused by each action.
    let why = "Invalid login token. Missing a required claim: aud";
    let r = d.get_id(&pool, own(access)).await;
    assert_not_authorized(&r, why, access);
    let (check, detail) = d.refusal(&r, "GetId", access).await;
    assert_eq!(check, "token type");
    assert!(detail.contains("access token") && detail.contains("id token"), "{detail}");
    let r = d.credentials(&identity, own(access)).await;
    assert_not_authorized(&r, why, access);
    assert_eq!(d.refusal(&r, "GetCredentialsForIdentity", access).await.0, "token type");
    let r = d.open_id_token(&identity, own(access)).await;
    assert_not_authorized(&r, why, access);
    assert_eq!(d.refusal(&r, "GetOpenIdToken", access).await.0, "token type");

    // The user pool's access token, under either Logins key.
    let tokens = d.pool_sign_in("alice").await;
    let access = tokens["AccessToken"].as_str().unwrap();
    for key in [&d.pool_provider, &d.pool_issuer] {
        let logins = json!({ key.clone(): access });
        let r = d.get_id(&pool, logins.clone()).await;
        assert_not_authorized(&r, why, access);
        assert_eq!(d.refusal(&r, "GetId", access).await.0, "token type");
        assert_not_authorized(&d.credentials(&identity, logins.clone()).await, why, access);
        assert_not_authorized(&d.open_id_token(&identity, logins).await, why, access);
    }

    // The id tokens still get credentials.
    let r = d.credentials(&identity, own(id)).await;
    r.assert_ok();
    let pool_id = tokens["IdToken"].as_str().unwrap();
    d.get_id(&pool, json!({ d.pool_provider.clone(): pool_id })).await.assert_ok();
}

#[tokio::test]
async fn access_tokens_do_not_assume_roles() {
    let d = Demo::start().await;
    // Roles trusting the user pool's and the broker's tokens for their app clients.
    let pool_role = d.web_role("pool-tokens", &d.pool_issuer, &d.pool_client).await;
    let own_role = d.web_role("broker-tokens", &d.own_provider, DEMO_CLIENT).await;

    let tokens = d.pool_sign_in("alice").await;
    let access = tokens["AccessToken"].as_str().unwrap();
    let r = d.assume(&pool_role, access).await;
    assert_invalid_identity_token(&r, "access token", access);
    let (check, detail) = d.refusal(&r, "AssumeRoleWithWebIdentity", access).await;
    assert_eq!(check, "token type");
    assert!(detail.contains("token_use \"access\""), "{detail}");

    let broker = d.s.sign_in("alice").await;
    let access = broker["access_token"].as_str().unwrap();
    let r = d.assume(&own_role, access).await;
    assert_invalid_identity_token(&r, "access token", access);
    assert_eq!(d.refusal(&r, "AssumeRoleWithWebIdentity", access).await.0, "token type");

    // Their id tokens assume the same roles.
    d.assume(&pool_role, tokens["IdToken"].as_str().unwrap()).await.assert_ok();
    d.assume(&own_role, broker["id_token"].as_str().unwrap()).await.assert_ok();
}

#[tokio::test]
async fn id_tokens_of_ended_sessions_buy_no_credentials() {
    let d = Demo::start().await;
    // Without ServerSideTokenCheck: the session is checked all the same.
    let pool = d.identity_pool("no server-side check", false).await;
    let pool_role = d.web_role("pool-tokens", &d.pool_issuer, &d.pool_client).await;
    let own_role = d.web_role("broker-tokens", &d.own_provider, DEMO_CLIENT).await;
    let revoked = "Invalid login token. Token has been revoked.";

    // A user pool session ended by GlobalSignOut.
    let tokens = d.pool_sign_in("bob").await;
    let id = tokens["IdToken"].as_str().unwrap().to_string();
    let logins = json!({ d.pool_provider.clone(): id });
    let r = d.get_id(&pool, logins.clone()).await;
    r.assert_ok();
    let identity = r.str("IdentityId").to_string();
    d.credentials(&identity, logins.clone()).await.assert_ok();
    d.assume(&pool_role, &id).await.assert_ok();
    d.s.cognito("GlobalSignOut", &json!({ "AccessToken": tokens["AccessToken"] })).await.assert_ok();
    let r = d.get_id(&pool, logins.clone()).await;
    assert_not_authorized(&r, revoked, &id);
    let (check, detail) = d.refusal(&r, "GetId", &id).await;
    assert_eq!(check, "session");
    assert!(detail.contains("signed out or revoked"), "{detail}");
    let r = d.credentials(&identity, logins.clone()).await;
    assert_not_authorized(&r, revoked, &id);
    assert_eq!(d.refusal(&r, "GetCredentialsForIdentity", &id).await.0, "session");
    assert_not_authorized(&d.open_id_token(&identity, logins).await, revoked, &id);
    let r = d.assume(&pool_role, &id).await;
    assert_invalid_identity_token(&r, "signed out or revoked", &id);
    assert_eq!(d.refusal(&r, "AssumeRoleWithWebIdentity", &id).await.0, "session");

    // A broker session whose refresh family was revoked (RFC 7009).
    let broker = d.s.sign_in("alice").await;
    let id = broker["id_token"].as_str().unwrap().to_string();
    let own = json!({ d.own_provider.clone(): id });
    let r = d.get_id(&pool, own.clone()).await;
    r.assert_ok();
    let alice = r.str("IdentityId").to_string();
    d.assume(&own_role, &id).await.assert_ok();
    let refresh = broker["refresh_token"].as_str().unwrap();
    let r = d.s.post_form_basic("/oauth2/revoke", &[("token", refresh)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = d.credentials(&alice, own.clone()).await;
    assert_not_authorized(&r, revoked, &id);
    assert_eq!(d.refusal(&r, "GetCredentialsForIdentity", &id).await.0, "session");
    let r = d.assume(&own_role, &id).await;
    assert_invalid_identity_token(&r, "signed out or revoked", &id);

    // A new sign-in is a new session: its id tokens get credentials again.
    let tokens = d.pool_sign_in("bob").await;
    let fresh = tokens["IdToken"].as_str().unwrap();
    d.credentials(&identity, json!({ d.pool_provider.clone(): fresh })).await.assert_ok();
    d.assume(&pool_role, fresh).await.assert_ok();
    let broker = d.s.sign_in("alice").await;
    let fresh = broker["id_token"].as_str().unwrap();
    d.credentials(&alice, json!({ d.own_provider.clone(): fresh })).await.assert_ok();
    d.assume(&own_role, fresh).await.assert_ok();

    // A deleted user's sessions end with it (its refresh families go too).
    let bob = d.pool_sign_in("bob").await["IdToken"].as_str().unwrap().to_string();
    let pool_id = d.s.demo_cognito("user_pool_id");
    d.s.user_pool_admin("AdminDeleteUser", &json!({ "UserPoolId": pool_id, "Username": "bob" })).await;
    let r = d.credentials(&identity, json!({ d.pool_provider.clone(): bob })).await;
    assert_not_authorized(&r, revoked, &bob);
    let (check, detail) = d.refusal(&r, "GetCredentialsForIdentity", &bob).await;
    assert_eq!((check.as_str(), detail.contains("deleted or disabled")), ("session", true), "{detail}");
    let r = d.assume(&pool_role, &bob).await;
    assert_invalid_identity_token(&r, "deleted or disabled", &bob);
}

/// An upstream OIDC provider configured as an identity pool's login provider: the pool takes its
/// id tokens, never a token that says it is an access token (RFC 9068 `typ: at+jwt`, or
/// `token_use: access`), even one whose `aud` the provider lists. STS takes such a JWT, as AWS
/// does for an OIDC provider whose client ids list its `aud`: the role's trust policy decides.
#[tokio::test]
async fn an_upstream_access_token_is_no_identity_pool_login() {
    let idp = TestIdp::start().await;
    let s = Server::custom(Opts { test_idp: Some(idp.base.clone()), ..Default::default() }).await;
    let account = s.engine.config().aws.account_id.clone();
    let provider = idp.base.trim_start_matches("http://").to_string();
    let ctx = identity_pool_ctx();
    let body = json!({
        "IdentityPoolName": "upstream", "AllowUnauthenticatedIdentities": false,
        "OpenIdConnectProviderARNs": [format!("arn:aws:iam::{account}:oidc-provider/{provider}")],
    });
    let created = s
        .engine
        .identity_pools()
        .identity_pool_action("CreateIdentityPool", &body, Some(&admin()), &ctx)
        .await
        .expect("pool");
    let pool = created["IdentityPoolId"].as_str().unwrap().to_string();
    let get_id = |token: &str| {
        let body = json!({ "IdentityPoolId": pool, "Logins": { provider.clone(): token } });
        let s = &s;
        async move { s.cognito_identity("GetId", &body).await }
    };

    let claims = idp.claims("alice@example.com", s.now());
    get_id(&idp.token(&claims)).await.assert_ok();
    let at_jwt = sign_with_header(&idp.key, &json!({ "alg": "RS256", "typ": "at+jwt", "kid": TEST_KID }), &claims);
    let mut access_claims = claims.clone();
    access_claims["token_use"] = json!("access");
    let token_use = idp.token(&access_claims);
    for token in [&at_jwt, &token_use] {
        let r = get_id(token).await;
        assert_not_authorized(&r, "Invalid login token. Not a valid OpenId Connect identity token.", token);
        let rec = &s.audit_of(r.request_id()).await[0].record;
        let steps = rec["additionalEventData"]["decisionTrail"].as_array().unwrap();
        let fail = steps.iter().find(|s| s["outcome"] == "fail").unwrap();
        assert_eq!(fail["check"], "token type", "{rec}");
        assert_eq!(fail["detail"], "an access token was presented as an id token", "{rec}");
    }

    let trust = web_identity_trust("Partner", &account, &provider, TEST_AUDIENCE);
    let role = s.engine.iam().put_role("partner", &trust.to_string(), &[]).await.expect("role").arn(&account);
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role.as_str()),
        ("RoleSessionName", "partner"),
        ("WebIdentityToken", at_jwt.as_str()),
    ];
    s.send(s.http.post(s.url("/")).form(&form)).await.assert_ok();
    idp.stop().await;
}

/// A session of an app client without the refresh grant holds no refresh token: its id token
/// bought credentials after every sign-out, since nothing recorded the session. Now a sign-out
/// ends it like any other, and a session started after it, in the same second, works.
#[tokio::test]
async fn id_tokens_of_sessions_without_refresh_tokens_end_with_sign_out() {
    let d = Demo::start().await;
    let client = tokenbridge_core::model::Client {
        client_id: "no-refresh".into(),
        name: "signs in again instead of refreshing".into(),
        secret_sha256: Some(tokenbridge_core::engine::client_secret_hash("no-refresh-secret")),
        grant_types: vec!["urn:ietf:params:oauth:grant-type:token-exchange".into()],
        providers: vec![tokenbridge_demo::UPSTREAM_NAME.into()],
        scopes: vec!["openid".into(), "email".into()],
        access_token_ttl: 3600,
        id_token_ttl: 3600,
        refresh_token_ttl: 3600,
        allowed_origins: Vec::new(),
    };
    d.s.engine.tokens().put_client(client, false).await.expect("client");
    // Our issuer's IAM OIDC provider lists the client, so the identity pool takes its id tokens.
    let arn = format!("arn:aws:iam::{}:oidc-provider/{}", d.account, d.own_provider);
    let add = [("OpenIDConnectProviderArn", arn.as_str()), ("ClientID", "no-refresh")];
    d.s.iam_action("AddClientIDToOpenIDConnectProvider", &add).await.expect("client id listed");
    let sign_in = || async {
        let upstream = d.s.mint_id_token("alice");
        let r =
            d.s.exchange_bearer(&upstream, &[("client_id", "no-refresh"), ("client_secret", "no-refresh-secret")])
                .await;
        r.assert_ok();
        assert!(r.json.get("refresh_token").is_none_or(|v| v.is_null()), "{}", r.text);
        r.str("id_token").to_string()
    };
    let pool = d.identity_pool("no refresh", true).await;
    let role = d.web_role("no-refresh-tokens", &d.own_provider, "no-refresh").await;
    let id = sign_in().await;
    let own = |t: &str| json!({ d.own_provider.clone(): t });
    let r = d.get_id(&pool, own(&id)).await;
    r.assert_ok();
    let identity = r.str("IdentityId").to_string();
    d.credentials(&identity, own(&id)).await.assert_ok();
    d.assume(&role, &id).await.assert_ok();

    let tokens = d.pool_sign_in("alice").await;
    d.s.cognito("GlobalSignOut", &json!({ "AccessToken": tokens["AccessToken"] })).await.assert_ok();
    let after = sign_in().await;

    let revoked = "Invalid login token. Token has been revoked.";
    let r = d.credentials(&identity, own(&id)).await;
    assert_not_authorized(&r, revoked, &id);
    let (check, detail) = d.refusal(&r, "GetCredentialsForIdentity", &id).await;
    assert_eq!(check, "session");
    assert!(detail.contains("signed out or revoked"), "{detail}");
    assert_not_authorized(&d.open_id_token(&identity, own(&id)).await, revoked, &id);
    let r = d.assume(&role, &id).await;
    assert_invalid_identity_token(&r, "signed out or revoked", &id);
    assert_eq!(d.refusal(&r, "AssumeRoleWithWebIdentity", &id).await.0, "session");

    d.credentials(&identity, own(&after)).await.assert_ok();
    d.assume(&role, &after).await.assert_ok();
}

/// This server's issuer as an identity pool's OIDC provider takes the id tokens of the app
/// clients its IAM OIDC provider lists, as AWS's IAM OIDC provider restricts audiences to its
/// ClientIDList; it used to take any client's. STS checks a registered list too, and an
/// identity pool refuses our issuer's tokens when no list is registered for it.
#[tokio::test]
async fn our_issuer_as_an_oidc_provider_takes_only_the_client_ids_it_lists() {
    let d = Demo::start().await;
    let other = tokenbridge_core::model::Client {
        client_id: "other-app".into(),
        name: "another app of the same provider".into(),
        secret_sha256: Some(tokenbridge_core::engine::client_secret_hash("other-app-secret")),
        grant_types: vec!["urn:ietf:params:oauth:grant-type:token-exchange".into(), "refresh_token".into()],
        providers: vec![tokenbridge_demo::UPSTREAM_NAME.into()],
        scopes: vec!["openid".into(), "email".into()],
        access_token_ttl: 3600,
        id_token_ttl: 3600,
        refresh_token_ttl: 3600,
        allowed_origins: Vec::new(),
    };
    d.s.engine.tokens().put_client(other, false).await.expect("client");
    let upstream = d.s.mint_id_token("alice");
    let r = d.s.exchange_bearer(&upstream, &[("client_id", "other-app"), ("client_secret", "other-app-secret")]).await;
    r.assert_ok();
    let other_id = r.str("id_token").to_string();
    let demo_id = d.s.sign_in("alice").await["id_token"].as_str().unwrap().to_string();
    let pool = d.identity_pool("own issuer", true).await;
    let own = |t: &str| json!({ d.own_provider.clone(): t });

    // The demo registers its issuer for its own app clients only.
    let audience = "Invalid login token. Incorrect token audience.";
    let r = d.get_id(&pool, own(&other_id)).await;
    assert_not_authorized(&r, audience, &other_id);
    let (check, detail) = d.refusal(&r, "GetId", &other_id).await;
    assert_eq!(check, "audience");
    assert!(detail.contains("\"other-app\"") && detail.contains(DEMO_CLIENT), "{detail}");
    let r = d.get_id(&pool, own(&demo_id)).await;
    r.assert_ok();
    let identity = r.str("IdentityId").to_string();
    assert_not_authorized(&d.credentials(&identity, own(&other_id)).await, audience, &other_id);
    d.credentials(&identity, own(&demo_id)).await.assert_ok();

    // STS: a role trusting the issuer for any audience still meets the provider's list.
    let trust = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
        "Principal": { "Federated": format!("arn:aws:iam::{}:oidc-provider/{}", d.account, d.own_provider) },
        "Action": "sts:AssumeRoleWithWebIdentity" }] });
    let role = d.role("any-audience", trust).await;
    let r = d.assume(&role, &other_id).await;
    assert_invalid_identity_token(&r, "audience", &other_id);
    assert_eq!(d.refusal(&r, "AssumeRoleWithWebIdentity", &other_id).await.0, "audience");
    d.assume(&role, &demo_id).await.assert_ok();

    // The list is IAM's: a client id added is taken, removed is refused again.
    let arn = format!("arn:aws:iam::{}:oidc-provider/{}", d.account, d.own_provider);
    let listed = d.s.iam_action("GetOpenIDConnectProvider", &[("OpenIDConnectProviderArn", &arn)]).await.expect("get");
    assert!(listed["ClientIDList"].as_array().unwrap().contains(&json!(DEMO_CLIENT)), "{listed}");
    let add = [("OpenIDConnectProviderArn", arn.as_str()), ("ClientID", "other-app")];
    d.s.iam_action("AddClientIDToOpenIDConnectProvider", &add).await.expect("add");
    d.get_id(&pool, own(&other_id)).await.assert_ok();
    d.assume(&role, &other_id).await.assert_ok();
    d.s.iam_action("RemoveClientIDFromOpenIDConnectProvider", &add).await.expect("remove");
    assert_not_authorized(&d.get_id(&pool, own(&other_id)).await, audience, &other_id);

    // Without an IAM OIDC provider for our issuer, an identity pool takes none of its tokens
    // (there is no list to meet); STS leaves the audience to the role's trust policy.
    d.s.iam_action("DeleteOpenIDConnectProvider", &[("OpenIDConnectProviderArn", &arn)]).await.expect("delete");
    let r = d.get_id(&pool, own(&demo_id)).await;
    assert_not_authorized(&r, audience, &demo_id);
    let (check, detail) = d.refusal(&r, "GetId", &demo_id).await;
    assert_eq!(check, "audience");
    assert!(detail.contains("no IAM OIDC provider"), "{detail}");
    d.assume(&role, &other_id).await.assert_ok();
}
