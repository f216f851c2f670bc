//! Cognito identity pools over real HTTP (AWS JSON 1.1, `AWSCognitoIdentityService.*`) on the
//! demo: its user pool signs alice and bob in (USER_PASSWORD_AUTH), and the id tokens become
//! identities and temporary credentials. Admin setup goes through the engine's own dispatcher
//! (signed), as the HTTP door runs it once the SigV4 signature is verified; roles are made with
//! `Iam::put_role`. The basic flow ends at STS on the query protocol.

use crate::common::refusals::{admin, identity_pool_ctx, QueryError};
use crate::common::*;
use serde_json::{json, Value};

struct Ids<'a> {
    s: &'a Server,
    user_pool_id: String,
    client_id: String,
    account: String,
    region: String,
}

impl<'a> Ids<'a> {
    fn of(s: &'a Server) -> Self {
        Self {
            s,
            user_pool_id: s.demo_cognito("user_pool_id"),
            client_id: s.demo_cognito("client_id"),
            account: s.engine.config().aws.account_id.clone(),
            region: s.engine.config().aws.region.clone(),
        }
    }

    /// An unsigned call, as browsers and SDKs make the public ones.
    async fn call(&self, action: &str, body: Value) -> Resp {
        self.s.cognito_identity(action, &body).await
    }

    /// An admin action through the engine's dispatcher, as the door runs it once signed.
    async fn admin(&self, action: &str, body: Value) -> Value {
        self.admin_result(action, body).await.unwrap_or_else(|e| panic!("{action}: {}: {}", e.code, e.message))
    }

    async fn admin_result(&self, action: &str, body: Value) -> Result<Value, QueryError> {
        let ctx = identity_pool_ctx();
        self.s
            .engine
            .identity_pools()
            .identity_pool_action(action, &body, Some(&admin()), &ctx)
            .await
            .map_err(QueryError::identity)
    }

    async fn user_pool(&self, action: &str, body: Value) -> Value {
        self.s.user_pool_admin(action, &body).await
    }

    /// USER_PASSWORD_AUTH at the demo user pool: the authentication result.
    async fn sign_in(&self, username: &str, password: &str) -> Value {
        self.s.pool_auth(&self.client_id, username, password).await
    }

    async fn id_token(&self, username: &str, password: &str) -> String {
        self.sign_in(username, password).await["IdToken"].as_str().expect("IdToken").to_string()
    }

    async fn alice(&self) -> String {
        self.id_token("alice", "alice-local-pw").await
    }

    async fn bob(&self) -> String {
        self.id_token("bob", "bob-local-pw").await
    }

    /// The user pool's provider name as AWS forms it.
    fn provider(&self) -> String {
        format!("cognito-idp.{}.amazonaws.com/{}", self.user_pool_id.split('_').next().unwrap(), self.user_pool_id)
    }

    /// The user pool's tokens' `iss` without its scheme.
    fn local_provider(&self) -> String {
        format!("{}/{}", self.s.base.trim_start_matches("http://"), self.user_pool_id)
    }

    fn logins(&self, token: &str) -> Value {
        json!({ self.provider(): token })
    }

    /// A pool that takes the demo user pool's app client.
    async fn pool(&self, name: &str, allow_unauth: bool) -> String {
        let v = self
            .admin(
                "CreateIdentityPool",
                json!({
                    "IdentityPoolName": name,
                    "AllowUnauthenticatedIdentities": allow_unauth,
                    "CognitoIdentityProviders": [
                        { "ProviderName": self.provider(), "ClientId": self.client_id, "ServerSideTokenCheck": true }
                    ],
                }),
            )
            .await;
        v["IdentityPoolId"].as_str().expect("IdentityPoolId").to_string()
    }

    /// A role trusting the identity pool `aud` (authenticated identities), with one policy.
    async fn role(&self, name: &str, aud: &str) -> String {
        self.role_for(name, aud, "authenticated").await
    }

    /// A role trusting the identity pool `aud` for identities whose `amr` has `amr`.
    async fn role_for(&self, name: &str, aud: &str, amr: &str) -> String {
        let trust = identity_pool_trust("TrustIdentityPool", aud, amr);
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{ "Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" }]
        });
        let role = self
            .s
            .engine
            .iam()
            .put_role(name, &trust.to_string(), &[("Read".into(), policy.to_string())])
            .await
            .expect("role");
        role.arn(&self.account)
    }

    async fn set_roles(&self, pool_id: &str, authenticated: &str, mappings: Value) {
        self.admin(
            "SetIdentityPoolRoles",
            json!({ "IdentityPoolId": pool_id, "Roles": { "authenticated": authenticated }, "RoleMappings": mappings }),
        )
        .await;
    }

    async fn get_id(&self, pool_id: &str, logins: Value) -> Resp {
        self.call("GetId", json!({ "IdentityPoolId": pool_id, "Logins": logins })).await
    }

    async fn identity_of(&self, pool_id: &str, token: &str) -> String {
        let r = self.get_id(pool_id, self.logins(token)).await;
        r.assert_ok();
        r.str("IdentityId").to_string()
    }

    async fn credentials(&self, identity_id: &str, logins: Value) -> Resp {
        self.call("GetCredentialsForIdentity", json!({ "IdentityId": identity_id, "Logins": logins })).await
    }
}

/// The request's audit record of `event_name`.
async fn record_of(s: &Server, r: &Resp, event_name: &str) -> Value {
    let records = s.audit_of(r.request_id()).await;
    records
        .iter()
        .find(|x| x.event_name == event_name)
        .unwrap_or_else(|| {
            panic!(
                "no {event_name} record for {}: {:?}",
                r.request_id(),
                records.iter().map(|x| &x.event_name).collect::<Vec<_>>()
            )
        })
        .record
        .clone()
}

/// The first failing check of a record's decision trail: (check, detail).
fn first_failure(record: &Value) -> (String, String) {
    let steps = record["additionalEventData"]["decisionTrail"].as_array().cloned().unwrap_or_default();
    let fail = steps.iter().find(|s| s["outcome"] == "fail").cloned().unwrap_or_default();
    (fail["check"].as_str().unwrap_or_default().to_string(), fail["detail"].as_str().unwrap_or_default().to_string())
}

/// The role of the credentials a GetCredentialsForIdentity answer holds.
async fn role_of(s: &Server, r: &Resp) -> String {
    let token = r.json["Credentials"]["SessionToken"].as_str().unwrap_or_else(|| panic!("{}", r.text));
    s.engine.iam().open_session_token(token).await.unwrap().role_arn
}

fn xml<'t>(text: &'t str, tag: &str) -> Option<&'t str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(&text[start..end])
}

fn is_uuid_id(id: &str, region: &str) -> bool {
    let Some(rest) = id.strip_prefix(&format!("{region}:")) else { return false };
    rest.len() == 36 && rest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase() || b == b'-')
}

#[tokio::test]
async fn pools_are_created_described_listed_updated_and_deleted() {
    let s = Server::demo().await;
    let ids = Ids::of(&s);
    let id = ids.pool("app pool", false).await;
    assert!(is_uuid_id(&id, &ids.region), "{id}");
    let d = ids.admin("DescribeIdentityPool", json!({ "IdentityPoolId": id })).await;
    assert_eq!(d["IdentityPoolId"], id);
    assert_eq!(d["IdentityPoolName"], "app pool");
    assert_eq!(d["AllowUnauthenticatedIdentities"], false);
    assert_eq!(d["CognitoIdentityProviders"][0]["ProviderName"], ids.provider());
    assert_eq!(d["CognitoIdentityProviders"][0]["ClientId"], ids.client_id);
    assert_eq!(d["CognitoIdentityProviders"][0]["ServerSideTokenCheck"], true);

    // Listing pages through every pool.
    let other = ids.pool("second", true).await;
    let first = ids.admin("ListIdentityPools", json!({ "MaxResults": 1 })).await;
    assert_eq!(first["IdentityPools"].as_array().unwrap().len(), 1, "{first}");
    // Pages of one walk every pool once (the demo's own two pools among them).
    let mut pages = vec![first];
    while let Some(token) = pages.last().unwrap()["NextToken"].as_str().map(str::to_string) {
        pages.push(ids.admin("ListIdentityPools", json!({ "MaxResults": 1, "NextToken": token })).await);
    }
    let seen: Vec<String> = pages
        .iter()
        .flat_map(|p| {
            p["IdentityPools"].as_array().unwrap().iter().map(|x| x["IdentityPoolId"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(pages.iter().all(|p| p["IdentityPools"].as_array().unwrap().len() == 1));
    let unique: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no pool twice: {seen:?}");
    assert!(seen.contains(&id) && seen.contains(&other), "{seen:?}");
    let e = ids.admin_result("ListIdentityPools", json!({})).await.unwrap_err();
    assert_eq!(e.code, "InvalidParameterException", "{}", e.message);

    // Roles and role mappings, checked when set.
    let arn = format!("arn:aws:iam::{}:role/app-authenticated", ids.account);
    let admin_arn = format!("arn:aws:iam::{}:role/app-admins", ids.account);
    let mapping = json!({ format!("{}:{}", ids.provider(), ids.client_id): {
        "Type": "Rules", "AmbiguousRoleResolution": "AuthenticatedRole",
        "RulesConfiguration": { "Rules": [{ "Claim": "cognito:groups", "MatchType": "Contains", "Value": "admins", "RoleARN": admin_arn }] }
    }});
    ids.set_roles(&id, &arn, mapping.clone()).await;
    let roles = ids.admin("GetIdentityPoolRoles", json!({ "IdentityPoolId": id })).await;
    assert_eq!(roles["IdentityPoolId"], id);
    assert_eq!(roles["Roles"], json!({ "authenticated": arn }));
    assert_eq!(roles["RoleMappings"], mapping);
    let e = ids
        .admin_result(
            "SetIdentityPoolRoles",
            json!({ "IdentityPoolId": id, "Roles": { "authenticated": arn },
                    "RoleMappings": { "accounts.example.com": { "Type": "Token", "AmbiguousRoleResolution": "Deny" } } }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(
        e.message,
        "accounts.example.com is not a valid RoleMapping ProviderName or is not a configured provider."
    );
    let e = ids
        .admin_result(
            "SetIdentityPoolRoles",
            json!({ "IdentityPoolId": id, "Roles": { "authenticated": arn },
                    "RoleMappings": { ids.provider(): { "Type": "Rules", "AmbiguousRoleResolution": "Deny" } } }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException", "{}", e.message);
    let e = ids
        .admin_result("SetIdentityPoolRoles", json!({ "IdentityPoolId": id, "Roles": { "admin": arn } }))
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException", "{}", e.message);

    // Update keeps the id and the roles.
    let u = ids
        .admin(
            "UpdateIdentityPool",
            json!({ "IdentityPoolId": id, "IdentityPoolName": "renamed", "AllowUnauthenticatedIdentities": true,
                    "CognitoIdentityProviders": [{ "ProviderName": ids.provider(), "ClientId": ids.client_id }] }),
        )
        .await;
    assert_eq!(u["IdentityPoolName"], "renamed");
    assert_eq!(u["AllowUnauthenticatedIdentities"], true);
    assert_eq!(ids.admin("GetIdentityPoolRoles", json!({ "IdentityPoolId": id })).await["Roles"]["authenticated"], arn);

    // A malformed pool is refused with what is wrong.
    let e = ids
        .admin_result(
            "CreateIdentityPool",
            json!({ "IdentityPoolName": "x", "AllowUnauthenticatedIdentities": false,
                    "CognitoIdentityProviders": [{ "ProviderName": "not-a-pool", "ClientId": "c" }] }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
    assert!(e.message.contains("not-a-pool"), "{}", e.message);
    let e = ids.admin_result("CreateIdentityPool", json!({ "IdentityPoolName": "x" })).await.unwrap_err();
    assert!(e.message.contains("allowUnauthenticatedIdentities"), "{}", e.message);

    // Deleted, it is gone, with its identities.
    let identity = ids.call("GetId", json!({ "IdentityPoolId": other })).await;
    identity.assert_ok();
    ids.admin("DeleteIdentityPool", json!({ "IdentityPoolId": other })).await;
    let e = ids.admin_result("DescribeIdentityPool", json!({ "IdentityPoolId": other })).await.unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        ("ResourceNotFoundException", format!("IdentityPool '{other}' not found.").as_str())
    );
    let r = ids.credentials(identity.str("IdentityId"), json!({})).await;
    assert_cognito_error(
        &r,
        "ResourceNotFoundException",
        &format!("Identity '{}' not found.", identity.str("IdentityId")),
    );

    // Every call is audited under the identity-pool event source.
    let r = ids.call("DescribeIdentityPool", json!({ "IdentityPoolId": id })).await;
    assert_cognito_error(&r, "MissingAuthenticationTokenException", "Missing Authentication Token");
    let rec = record_of(&s, &r, "DescribeIdentityPool").await;
    assert_eq!(rec["eventSource"], "cognito-identity.amazonaws.com");
    assert_eq!(rec["errorCode"], "MissingAuthenticationTokenException");
}

#[tokio::test]
async fn admin_actions_need_a_signature_and_unknown_pools_are_not_found() {
    let s = Server::demo().await;
    let ids = Ids::of(&s);
    for (action, body) in [
        ("CreateIdentityPool", json!({ "IdentityPoolName": "x", "AllowUnauthenticatedIdentities": true })),
        ("ListIdentityPools", json!({ "MaxResults": 10 })),
        (
            "SetIdentityPoolRoles",
            json!({ "IdentityPoolId": "ap-northeast-1:00000000-0000-4000-8000-000000000000", "Roles": {} }),
        ),
    ] {
        let r = ids.call(action, body).await;
        assert_cognito_error(&r, "MissingAuthenticationTokenException", "Missing Authentication Token");
        assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    }
    // A signature by a key nobody issued.
    let forged = s
        .send(
            s.aws_json_request("/", &format!("{IDENTITY_POOL_TARGET}ListIdentityPools"))
                .header("x-amz-date", tokenbridge_core::clock::rfc3339(s.now()).replace(['-', ':'], ""))
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIANOBODY/20260101/ap-northeast-1/cognito-identity/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
                )
                .body(json!({ "MaxResults": 10 }).to_string()),
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.text);
    assert!(forged.json["__type"].as_str().is_some_and(|t| !t.is_empty()), "{}", forged.text);
    assert!(s.audit_of(forged.request_id()).await.iter().any(|r| r.error_code.is_some()));

    let unknown = "ap-northeast-1:00000000-0000-4000-8000-000000000000";
    let alice = ids.alice().await;
    let r = ids.get_id(unknown, ids.logins(&alice)).await;
    assert_cognito_error(&r, "ResourceNotFoundException", &format!("IdentityPool '{unknown}' not found."));
    let rec = record_of(&s, &r, "GetId").await;
    assert_eq!(rec["errorCode"], "ResourceNotFoundException");
    assert_eq!(rec["requestParameters"]["Logins"][ids.provider()], "HIDDEN_DUE_TO_SECURITY_REASONS");
    assert!(!rec.to_string().contains(&alice), "the audit record holds the login token");
    let r = ids.credentials(unknown, ids.logins(&alice)).await;
    assert_cognito_error(&r, "ResourceNotFoundException", &format!("Identity '{unknown}' not found."));
    let r = ids.call("GetOpenIdToken", json!({ "IdentityId": unknown })).await;
    assert_cognito_error(&r, "ResourceNotFoundException", &format!("Identity '{unknown}' not found."));
    let r = ids.call("NoSuchAction", json!({})).await;
    assert_cognito_error(&r, "UnknownOperationException", "Unknown operation");
    let r = ids.call("GetId", json!({})).await;
    assert_eq!(r.json["__type"], "InvalidParameterException", "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("identityPoolId"), "{}", r.text);
}

#[tokio::test]
async fn get_id_is_stable_per_login_and_distinct_per_user() {
    let s = Server::demo().await;
    let ids = Ids::of(&s);
    let pool = ids.pool("stable", false).await;
    let alice_id = ids.identity_of(&pool, &ids.alice().await).await;
    assert!(is_uuid_id(&alice_id, &ids.region), "{alice_id}");
    // The same user, a new token, and either form of the provider name: the same identity.
    assert_eq!(ids.identity_of(&pool, &ids.alice().await).await, alice_id);
    let local = ids.get_id(&pool, json!({ ids.local_provider(): ids.alice().await })).await;
    local.assert_ok();
    assert_eq!(local.str("IdentityId"), alice_id);
    let bob_id = ids.identity_of(&pool, &ids.bob().await).await;
    assert_ne!(bob_id, alice_id);
    // Another pool: other identities.
    let pool2 = ids.pool("stable 2", false).await;
    assert_ne!(ids.identity_of(&pool2, &ids.alice().await).await, alice_id);

    // An OpenID Connect provider's id tokens (the demo upstream), named by the issuer's host and path.
    let upstream = format!("{}/demo-idp", s.base.trim_start_matches("http://"));
    let oidc = ids
        .admin(
            "CreateIdentityPool",
            json!({ "IdentityPoolName": "oidc", "AllowUnauthenticatedIdentities": false,
                    "OpenIdConnectProviderARNs": [format!("arn:aws:iam::{}:oidc-provider/{upstream}", ids.account)] }),
        )
        .await["IdentityPoolId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ids.get_id(&oidc, json!({ upstream.clone(): s.fresh_id_token("alice") })).await;
    r.assert_ok();
    let upstream_alice = r.str("IdentityId").to_string();
    let r = ids.get_id(&oidc, json!({ upstream.clone(): s.fresh_id_token("alice") })).await;
    assert_eq!(r.str("IdentityId"), upstream_alice);
    let r = ids.get_id(&oidc, json!({ upstream.clone(): s.fresh_id_token("bob") })).await;
    assert_ne!(r.str("IdentityId"), upstream_alice);
    // The user pool is not among this pool's providers.
    let r = ids.get_id(&oidc, ids.logins(&ids.alice().await)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Token is not from a supported provider of this identity pool.");

    let d = ids.admin("DescribeIdentity", json!({ "IdentityId": alice_id })).await;
    assert_eq!(d["Logins"], json!([ids.provider()]));

    // The record names the user and the pool.
    let rec = record_of(&s, &local, "GetId").await;
    assert_eq!(rec["eventSource"], "cognito-identity.amazonaws.com");
    assert_eq!(rec["userIdentity"]["userName"], "alice");
    assert_eq!(rec["responseElements"]["identityId"], alice_id);
    assert_eq!(rec["resources"][0]["type"], "AWS::Cognito::IdentityPool");

    // Without logins: only where unauthenticated identities are allowed, and a new one each time.
    let r = ids.call("GetId", json!({ "IdentityPoolId": pool })).await;
    assert_cognito_error(
        &r,
        "NotAuthorizedException",
        "Unauthenticated access is not supported for this identity pool.",
    );
    let open = ids.pool("open", true).await;
    let a = ids.call("GetId", json!({ "IdentityPoolId": open })).await;
    a.assert_ok();
    let b = ids.call("GetId", json!({ "IdentityPoolId": open })).await;
    b.assert_ok();
    assert_ne!(a.str("IdentityId"), b.str("IdentityId"));
}

#[tokio::test]
async fn enhanced_flow_issues_credentials_and_records_assume_role_with_web_identity() {
    let s = Server::demo().await;
    let ids = Ids::of(&s);
    let pool = ids.pool("enhanced", false).await;
    let role_arn = ids.role("idpool-authenticated", &pool).await;
    ids.set_roles(&pool, &role_arn, json!({})).await;
    let alice = ids.alice().await;
    let identity = ids.identity_of(&pool, &alice).await;

    let r = ids.credentials(&identity, ids.logins(&alice)).await;
    r.assert_ok();
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert_eq!(r.json["IdentityId"], identity);
    let c = &r.json["Credentials"];
    let key_id = c["AccessKeyId"].as_str().unwrap();
    assert!(key_id.starts_with("ASIA") && key_id.len() == 20, "{key_id}");
    let secret = c["SecretKey"].as_str().unwrap();
    assert!(!secret.is_empty());
    let expiration = c["Expiration"].as_i64().expect("Expiration in epoch seconds");
    assert_eq!(expiration, s.now() + 3600);
    let session =
        s.engine.iam().open_session_token(c["SessionToken"].as_str().unwrap()).await.expect("our session token");
    assert_eq!(session.access_key_id, key_id);
    assert_eq!(session.secret_access_key, secret);
    assert_eq!(session.role_arn, role_arn);
    assert_eq!(session.session_name, "CognitoIdentityCredentials");
    assert_eq!(session.identity_id.as_deref(), Some(identity.as_str()));
    assert_eq!(session.subject, identity);
    assert_eq!(session.provider, "cognito-identity.amazonaws.com");
    assert_eq!(session.expires_at, expiration);

    // The call's own record, and the AssumeRoleWithWebIdentity record AWS writes for it.
    let own = record_of(&s, &r, "GetCredentialsForIdentity").await;
    assert_eq!(own["eventSource"], "cognito-identity.amazonaws.com");
    assert_eq!(own["responseElements"]["credentials"]["accessKeyId"], key_id);
    let sts = record_of(&s, &r, "AssumeRoleWithWebIdentity").await;
    assert_eq!(sts["eventSource"], "sts.amazonaws.com");
    assert_eq!(sts["eventName"], "AssumeRoleWithWebIdentity");
    assert_eq!(sts["eventType"], "AwsApiCall");
    assert_eq!(sts["readOnly"], true);
    assert_eq!(sts["recipientAccountId"], ids.account);
    assert_eq!(sts["awsRegion"], ids.region);
    let principal_id = format!("cognito-identity.amazonaws.com:{pool}:{identity}");
    assert_eq!(
        sts["userIdentity"],
        json!({
            "type": "WebIdentityUser",
            "principalId": principal_id,
            "userName": identity,
            "identityProvider": "cognito-identity.amazonaws.com",
        })
    );
    assert_eq!(
        sts["requestParameters"],
        json!({ "roleArn": role_arn, "roleSessionName": "CognitoIdentityCredentials" })
    );
    let resp = &sts["responseElements"];
    assert_eq!(
        resp["credentials"].as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["accessKeyId", "expiration"],
        "only the key id and expiry: {resp}"
    );
    assert_eq!(resp["credentials"]["accessKeyId"], key_id);
    assert_eq!(resp["credentials"]["expiration"], tokenbridge_core::clock::rfc3339(expiration));
    assert_eq!(resp["subjectFromWebIdentityToken"], identity);
    assert_eq!(
        resp["assumedRoleUser"]["arn"],
        format!("arn:aws:sts::{}:assumed-role/idpool-authenticated/CognitoIdentityCredentials", ids.account)
    );
    assert!(resp["assumedRoleUser"]["assumedRoleId"].as_str().unwrap().ends_with(":CognitoIdentityCredentials"));
    assert!(resp["assumedRoleUser"]["assumedRoleId"].as_str().unwrap().starts_with("AROA"));
    assert_eq!(resp["provider"], "cognito-identity.amazonaws.com");
    assert_eq!(resp["audience"], pool);
    assert_eq!(sts["resources"], json!([{ "accountId": ids.account, "type": "AWS::IAM::Role", "ARN": role_arn }]));
    assert!(sts["errorCode"].is_null());
    // The trail says which trust statement admitted the identity.
    let trail = sts["additionalEventData"]["decisionTrail"].to_string();
    assert!(trail.contains("TrustIdentityPool"), "{trail}");
    // Neither record holds a secret.
    for rec in [&own, &sts] {
        let text = rec.to_string();
        assert!(
            !text.contains(secret) && !text.contains(c["SessionToken"].as_str().unwrap()) && !text.contains(&alice)
        );
    }
    // It is found as CloudTrail would find it.
    let found = s
        .store
        .lookup_audit(&tokenbridge_core::model::AuditQuery {
            event_name: Some("AssumeRoleWithWebIdentity".into()),
            username: Some(identity.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);

    // The credentials sign STS GetCallerIdentity: the assumed role is theirs. (Checked through
    // the session claims: the signing itself is exercised by botocore in the interop suite.)
    assert_eq!(
        session.assumed_role_arn,
        format!("arn:aws:sts::{}:assumed-role/idpool-authenticated/CognitoIdentityCredentials", ids.account)
    );

    // An identity with logins is not given credentials without one of them.
    let r = ids.credentials(&identity, json!({})).await;
    assert_cognito_error(&r, "NotAuthorizedException", &format!("Access to Identity '{identity}' is forbidden."));
    // Nor for another user's login.
    let r = ids.credentials(&identity, ids.logins(&ids.bob().await)).await;
    assert_cognito_error(
        &r,
        "NotAuthorizedException",
        "Logins don't match. Please include at least one valid login for this identity or identity pool.",
    );
    // An unauthenticated pool without an unauthenticated role is misconfigured.
    let open = ids.pool("no unauth role", true).await;
    let anon = ids.call("GetId", json!({ "IdentityPoolId": open })).await;
    let r = ids.credentials(anon.str("IdentityId"), json!({})).await;
    assert_cognito_error(
        &r,
        "InvalidIdentityPoolConfigurationException",
        "Invalid identity pool configuration. Check assigned IAM roles for this pool.",
    );
    assert_eq!(first_failure(&record_of(&s, &r, "GetCredentialsForIdentity").await).0, "role");
    // With an unauthenticated role that trusts unauthenticated identities of the pool: credentials.
    let guest_arn = ids.role_for("idpool-guest", &open, "unauthenticated").await;
    ids.admin(
        "SetIdentityPoolRoles",
        json!({ "IdentityPoolId": open, "Roles": { "authenticated": role_arn, "unauthenticated": guest_arn } }),
    )
    .await;
    let r = ids.credentials(anon.str("IdentityId"), json!({})).await;
    r.assert_ok();
    let guest =
        s.engine.iam().open_session_token(r.json["Credentials"]["SessionToken"].as_str().unwrap()).await.unwrap();
    assert_eq!(guest.role_arn, guest_arn);
    assert_eq!(guest.identity_id.as_deref(), Some(anon.str("IdentityId")));
    // The authenticated role does not trust unauthenticated identities.
    ids.admin(
        "SetIdentityPoolRoles",
        json!({ "IdentityPoolId": open, "Roles": { "unauthenticated": ids.role("idpool-open-auth", &open).await } }),
    )
    .await;
    let r = ids.credentials(anon.str("IdentityId"), json!({})).await;
    assert_eq!(r.json["__type"], "InvalidIdentityPoolConfigurationException", "{}", r.text);
    assert!(first_failure(&record_of(&s, &r, "GetCredentialsForIdentity").await).1.contains("amr"));
}

#[tokio::test]
async fn a_role_that_trusts_another_pool_is_an_invalid_configuration() {
    let s = Server::demo().await;
    let ids = Ids::of(&s);
    let pool = ids.pool("misconfigured", false).await;
    let elsewhere = "ap-northeast-1:11111111-2222-4333-8444-555555555555";
    let role_arn = ids.role("idpool-wrong-audience", elsewhere).await;
    ids.set_roles(&pool, &role_arn, json!({})).await;
    let alice = ids.alice().await;
    let identity = ids.identity_of(&pool, &alice).await;
    let r = ids.credentials(&identity, ids.logins(&alice)).await;
    assert_cognito_error(
        &r,
        "InvalidIdentityPoolConfigurationException",
        "Invalid identity pool configuration. Check assigned IAM roles for this pool.",
    );
    let own = record_of(&s, &r, "GetCredentialsForIdentity").await;
    assert_eq!(own["errorCode"], "InvalidIdentityPoolConfigurationException");
    let (check, detail) = first_failure(&own);
    assert_eq!(check, "trust");
    // The trail names the trust statement, its failing condition and the value it saw.
    for needle in ["idpool-wrong-audience", "TrustIdentityPool", "cognito-identity.amazonaws.com:aud", elsewhere, &pool]
    {
        assert!(detail.contains(needle), "{needle:?} not in {detail}");
    }
    // The AssumeRoleWithWebIdentity record of the refusal, as AWS writes it.
    let sts = record_of(&s, &r, "AssumeRoleWithWebIdentity").await;
    assert_eq!(sts["errorCode"], "AccessDenied");
    assert_eq!(sts["userIdentity"]["type"], "WebIdentityUser");
    assert_eq!(sts["requestParameters"]["roleArn"], role_arn);
    assert!(sts["responseElements"].is_null());
    assert!(first_failure(&sts).1.contains("cognito-identity.amazonaws.com:aud"));

    // A role that does not exist is the same error, and the trail says so.
    ids.set_roles(&pool, &format!("arn:aws:iam::{}:role/no-such-role", ids.account), json!({})).await;
    let r = ids.credentials(&identity, ids.logins(&alice)).await;
    assert_eq!(r.json["__type"], "InvalidIdentityPoolConfigurationException", "{}", r.text);
    let (check, detail) = first_failure(&record_of(&s, &r, "GetCredentialsForIdentity").await);
    assert_eq!(check, "role");
    assert!(detail.contains("no-such-role"), "{detail}");
}

#[tokio::test]
async fn role_mappings_pick_the_role_by_rules_and_by_token() {
    let s = Server::demo().await;
    let ids = Ids::of(&s);
    let pool = ids.pool("mapped", false).await;
    let default_arn = ids.role("idpool-default", &pool).await;
    let admins_arn = ids.role("idpool-admins", &pool).await;
    let rules = |resolution: &str| {
        json!({ format!("{}:{}", ids.provider(), ids.client_id): {
            "Type": "Rules", "AmbiguousRoleResolution": resolution,
            "RulesConfiguration": { "Rules": [
                { "Claim": "cognito:groups", "MatchType": "Contains", "Value": "admins", "RoleARN": admins_arn }
            ] }
        }})
    };
    ids.set_roles(&pool, &default_arn, rules("AuthenticatedRole")).await;
    // alice is in admins: the rule's role; bob is not: the authenticated role.
    let alice = ids.alice().await;
    let alice_id = ids.identity_of(&pool, &alice).await;
    let r = ids.credentials(&alice_id, ids.logins(&alice)).await;
    assert_eq!(role_of(&s, &r).await, admins_arn);
    let trail =
        record_of(&s, &r, "GetCredentialsForIdentity").await["additionalEventData"]["decisionTrail"].to_string();
    assert!(trail.contains("rule 1 (cognito:groups Contains"), "{trail}");
    let bob = ids.bob().await;
    let bob_id = ids.identity_of(&pool, &bob).await;
    let r = ids.credentials(&bob_id, ids.logins(&bob)).await;
    assert_eq!(role_of(&s, &r).await, default_arn);

    // With Deny, no match is a refusal.
    ids.set_roles(&pool, &default_arn, rules("Deny")).await;
    let r = ids.credentials(&bob_id, ids.logins(&bob)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "The ambiguous role mapping rules denied this request.");
    assert_eq!(first_failure(&record_of(&s, &r, "GetCredentialsForIdentity").await).0, "role mapping");
    let r = ids.credentials(&alice_id, ids.logins(&alice)).await;
    assert_eq!(role_of(&s, &r).await, admins_arn);

    // Token: the role of the user's group with the best precedence (`cognito:preferred_role`).
    let ops_arn = ids.role("idpool-ops", &pool).await;
    ids.user_pool(
        "CreateGroup",
        json!({ "UserPoolId": ids.user_pool_id, "GroupName": "ops", "Precedence": 1, "RoleArn": ops_arn }),
    )
    .await;
    ids.user_pool(
        "AdminAddUserToGroup",
        json!({ "UserPoolId": ids.user_pool_id, "GroupName": "ops", "Username": "alice" }),
    )
    .await;
    ids.set_roles(
        &pool,
        &default_arn,
        json!({ ids.provider(): { "Type": "Token", "AmbiguousRoleResolution": "AuthenticatedRole" } }),
    )
    .await;
    let alice = ids.alice().await;
    let r = ids.credentials(&alice_id, ids.logins(&alice)).await;
    assert_eq!(role_of(&s, &r).await, ops_arn);
    // bob has no role in his token: the authenticated role.
    let r = ids.credentials(&bob_id, ids.logins(&bob)).await;
    assert_eq!(role_of(&s, &r).await, default_arn);
}

#[tokio::test]
async fn bad_logins_are_not_authorized() {
    let s = Server::demo().await;
    let ids = Ids::of(&s);
    let pool = ids.pool("strict", false).await;
    let alice = ids.alice().await;

    // The key must name the token's provider.
    let r = ids.get_id(&pool, json!({ "accounts.example.com": alice })).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid login token. Issuer doesn't match providerName");
    assert_eq!(first_failure(&record_of(&s, &r, "GetId").await).0, "login provider");
    // A token whose signature was tampered with.
    let r = ids.get_id(&pool, ids.logins(&flip_signature_byte(&alice))).await;
    assert_eq!(r.json["__type"], "NotAuthorizedException", "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().starts_with("Invalid login token. "), "{}", r.text);
    assert_eq!(first_failure(&record_of(&s, &r, "GetId").await).0, "signature");
    // Not a token at all.
    let r = ids.get_id(&pool, ids.logins("not-a-token")).await;
    assert_eq!(r.json["__type"], "NotAuthorizedException", "{}", r.text);
    // An access token is not an id token.
    let access = ids.sign_in("alice", "alice-local-pw").await["AccessToken"].as_str().unwrap().to_string();
    let r = ids.get_id(&pool, ids.logins(&access)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid login token. Missing a required claim: aud");
    // Expired.
    s.clock.advance(3601);
    let r = ids.get_id(&pool, ids.logins(&alice)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid login token. Token expired.");
    assert_eq!(first_failure(&record_of(&s, &r, "GetId").await).0, "expiry");

    // A user pool the identity pool does not take, or another of its app clients.
    let other = ids
        .admin(
            "CreateIdentityPool",
            json!({ "IdentityPoolName": "other client", "AllowUnauthenticatedIdentities": false,
                    "CognitoIdentityProviders": [{ "ProviderName": ids.provider(), "ClientId": "someotherclientid" }] }),
        )
        .await["IdentityPoolId"]
        .as_str()
        .unwrap()
        .to_string();
    let alice = ids.alice().await;
    let r = ids.get_id(&other, ids.logins(&alice)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Token is not from a supported provider of this identity pool.");
    assert!(first_failure(&record_of(&s, &r, "GetId").await).1.contains("someotherclientid"));
    let none = ids
        .admin(
            "CreateIdentityPool",
            json!({ "IdentityPoolName": "no providers", "AllowUnauthenticatedIdentities": false }),
        )
        .await["IdentityPoolId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ids.get_id(&none, ids.logins(&alice)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Token is not from a supported provider of this identity pool.");

    // After a global sign-out the id token is refused (the session check, with or without
    // ServerSideTokenCheck).
    let result = ids.sign_in("bob", "bob-local-pw").await;
    let bob = result["IdToken"].as_str().unwrap().to_string();
    ids.identity_of(&pool, &bob).await;
    let out = s.cognito("GlobalSignOut", &json!({ "AccessToken": result["AccessToken"] })).await;
    out.assert_ok();
    let r = ids.get_id(&pool, ids.logins(&bob)).await;
    assert_cognito_error(&r, "NotAuthorizedException", "Invalid login token. Token has been revoked.");
    assert_eq!(first_failure(&record_of(&s, &r, "GetId").await).0, "session");
}

#[tokio::test]
async fn basic_flow_open_id_token_then_sts_assume_role_with_web_identity() {
    let s = Server::demo().await;
    let ids = Ids::of(&s);
    let pool = ids.pool("basic", false).await;
    let role_arn = ids.role("idpool-basic", &pool).await;
    let alice = ids.alice().await;
    let identity = ids.identity_of(&pool, &alice).await;

    let r = ids.call("GetOpenIdToken", json!({ "IdentityId": identity, "Logins": ids.logins(&alice) })).await;
    r.assert_ok();
    assert_eq!(r.json["IdentityId"], identity);
    let token = r.str("Token").to_string();
    let jwks = s.get("/.well-known/jwks.json").await;
    let jwt = verify_with_jwks(&token, &jwks.json);
    assert_eq!(jwt.claim_str("iss"), Some("https://cognito-identity.amazonaws.com"));
    assert_eq!(jwt.claim_str("aud"), Some(pool.as_str()));
    assert_eq!(jwt.claim_str("sub"), Some(identity.as_str()));
    assert_eq!(jwt.claims["amr"], json!(["authenticated", ids.provider()]));
    assert_eq!(jwt.claim_i64("exp").unwrap() - jwt.claim_i64("iat").unwrap(), 600);
    let rec = record_of(&s, &r, "GetOpenIdToken").await;
    assert!(!rec.to_string().contains(&token), "the audit record holds the OpenID token");

    // STS takes it: the role trusts the identity pool's tokens.
    let sts = |token: String| {
        let form = [
            ("Action", "AssumeRoleWithWebIdentity".to_string()),
            ("Version", "2011-06-15".to_string()),
            ("RoleArn", role_arn.clone()),
            ("RoleSessionName", "basic-flow".to_string()),
            ("WebIdentityToken", token),
        ];
        s.send(s.http.post(s.url("/")).form(&form))
    };
    let r = sts(token.clone()).await;
    r.assert_ok();
    assert!(xml(&r.text, "AccessKeyId").unwrap().starts_with("ASIA"), "{}", r.text);
    assert_eq!(xml(&r.text, "SubjectFromWebIdentityToken"), Some(identity.as_str()), "{}", r.text);
    assert_eq!(xml(&r.text, "Provider"), Some("cognito-identity.amazonaws.com"), "{}", r.text);
    assert_eq!(xml(&r.text, "Audience"), Some(pool.as_str()), "{}", r.text);
    let session = s.engine.iam().open_session_token(xml(&r.text, "SessionToken").unwrap()).await.unwrap();
    assert_eq!(session.role_arn, role_arn);
    assert_eq!(session.subject, identity);

    // The token of another pool is refused by the trust policy.
    let other = ids.pool("basic other", false).await;
    let other_identity = ids.identity_of(&other, &alice).await;
    let r = ids.call("GetOpenIdToken", json!({ "IdentityId": other_identity, "Logins": ids.logins(&alice) })).await;
    r.assert_ok();
    let denied = sts(r.str("Token").to_string()).await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert_eq!(xml(&denied.text, "Code"), Some("AccessDenied"), "{}", denied.text);

    // Ten minutes later the token has expired.
    s.clock.advance(601);
    let r = sts(token).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(xml(&r.text, "Code"), Some("ExpiredTokenException"), "{}", r.text);
}
