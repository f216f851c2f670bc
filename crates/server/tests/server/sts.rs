//! STS `AssumeRoleWithWebIdentity` and the IAM role API over the query protocol, on the demo:
//! XML answers and errors as AWS writes them, the trust policy deciding, sealed temporary
//! credentials, and the CloudTrail record the seed's author went looking for. SigV4-signed calls
//! by real SDKs are exercised in the boto3 interop suite; admin setup here goes through the
//! engine's dispatcher (as the door runs it once the signature is verified).

use crate::common::refusals::{query_ctx, QueryError};
use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tokenbridge_core::iam::{CallerIdentity, QueryService};

/// The text of the first `<name>` element.
fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn iam(s: &Server, action: &str, pairs: &[(&str, &str)]) -> Result<Value, QueryError> {
    let mut p = params(pairs);
    p.insert("Action".into(), action.into());
    p.insert("Version".into(), "2010-05-08".into());
    let admin = CallerIdentity::Admin { access_key_id: "AKIATEST".into() };
    s.engine
        .iam()
        .query_action(QueryService::Iam, action, &p, Some(&admin), &query_ctx())
        .await
        .map_err(QueryError::iam)
}

async fn post_form(s: &Server, pairs: &[(&str, &str)]) -> Resp {
    s.send(s.http.post(s.url("/")).form(pairs)).await
}

/// The demo user pool as an OIDC provider: its name in IAM (the issuer without the scheme) and
/// its public client, the tokens' audience.
fn pool_provider(s: &Server) -> (String, String) {
    let issuer = s.demo_cognito("issuer");
    (issuer.split_once("://").unwrap().1.to_string(), s.demo_cognito("client_id"))
}

/// `CreateRole` of `name`, trusting tokens of `provider` for `audience` (statement `PoolUsers`).
async fn create_role(s: &Server, name: &str, provider: &str, audience: &str) -> Result<Value, QueryError> {
    let trust = web_identity_trust("PoolUsers", &s.engine.config().aws.account_id, provider, audience).to_string();
    iam(s, "CreateRole", &[("RoleName", name), ("AssumeRolePolicyDocument", &trust)]).await
}

fn role_arn(s: &Server, name: &str) -> String {
    format!("arn:aws:iam::{}:role/{name}", s.engine.config().aws.account_id)
}

/// STS `AssumeRoleWithWebIdentity` over HTTP (unsigned, as SDKs make it), with `extra` parameters.
async fn assume(s: &Server, role_arn: &str, session: &str, token: &str, extra: &[(&str, &str)]) -> Resp {
    let mut pairs = vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", session),
        ("WebIdentityToken", token),
    ];
    pairs.extend_from_slice(extra);
    post_form(s, &pairs).await
}

async fn pool_id_token(s: &Server, client_id: &str) -> String {
    s.pool_id_token(client_id, "alice", "alice-local-pw").await
}

#[tokio::test]
async fn roles_and_their_policies_are_checked_when_written() {
    let s = Server::demo().await;
    let (provider, client_id) = pool_provider(&s);
    let created = create_role(&s, "app", &provider, &client_id).await.unwrap();
    assert!(created["Role"]["RoleId"].as_str().unwrap().starts_with("AROA"));
    assert_eq!(created["Role"]["Arn"], role_arn(&s, "app"));
    let again = create_role(&s, "app", &provider, &client_id).await.unwrap_err();
    assert_eq!((again.code, again.status), ("EntityAlreadyExists", 409));

    let bad = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"appsync:GraphQL\", \"Resource\": \"*\",\n    \"Condition\": {\"StringEqualz\": {\"aws:username\": \"a\"}}}]\n}";
    let e = iam(&s, "PutRolePolicy", &[("RoleName", "app"), ("PolicyName", "p"), ("PolicyDocument", bad)])
        .await
        .unwrap_err();
    assert_eq!(e.code, "MalformedPolicyDocument");
    assert!(e.message.contains("StringEqualz") && e.message.contains("line 4"), "{}", e.message);

    let good = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowGraphQL","Effect":"Allow","Action":"appsync:GraphQL","Resource":"*"}]}"#;
    iam(&s, "PutRolePolicy", &[("RoleName", "app"), ("PolicyName", "p"), ("PolicyDocument", good)]).await.unwrap();
    let got = iam(&s, "GetRolePolicy", &[("RoleName", "app"), ("PolicyName", "p")]).await.unwrap();
    // IAM returns policy documents URL-encoded.
    assert!(got["PolicyDocument"].as_str().unwrap().starts_with("%7B%22Version%22"));
    let listed = iam(&s, "ListRoles", &[]).await.unwrap();
    assert!(listed["Roles"].as_array().unwrap().iter().any(|r| r["RoleName"] == "app"), "{listed}");
    let missing = iam(&s, "GetRole", &[("RoleName", "nope")]).await.unwrap_err();
    assert_eq!((missing.code, missing.status), ("NoSuchEntity", 404));

    // Over HTTP without a signature, IAM refuses in its XML error shape.
    let r = post_form(&s, &[("Action", "ListRoles"), ("Version", "2010-05-08")]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(tag(&r.text, "Code"), Some("MissingAuthenticationToken"), "{}", r.text);
    assert_eq!(tag(&r.text, "Type"), Some("Sender"));
    assert_eq!(tag(&r.text, "RequestId"), Some(r.request_id()));
}

#[tokio::test]
async fn a_pool_id_token_assumes_a_role_that_trusts_it() {
    let s = Server::demo().await;
    let (provider, client_id) = pool_provider(&s);
    create_role(&s, "app", &provider, &client_id).await.unwrap();
    let arn = role_arn(&s, "app");
    let token = pool_id_token(&s, &client_id).await;
    let r = assume(&s, &arn, "web", &token, &[("DurationSeconds", "900")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r
        .text
        .starts_with(r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#));
    let key_id = tag(&r.text, "AccessKeyId").unwrap();
    assert!(key_id.starts_with("ASIA") && key_id.len() == 20, "{key_id}");
    let session = tag(&r.text, "SessionToken").unwrap();
    let secret = tag(&r.text, "SecretAccessKey").unwrap();
    let claims = s.engine.iam().open_session_token(session).await.expect("our session token");
    assert_eq!((claims.access_key_id.as_str(), claims.secret_access_key.as_str()), (key_id, secret));
    assert_eq!(claims.expires_at, s.now() + 900);
    assert_eq!(tag(&r.text, "Provider"), Some(provider.as_str()));
    assert_eq!(tag(&r.text, "Audience"), Some(client_id.as_str()));
    let sub = decode(&token).claim_str("sub").unwrap().to_string();
    assert_eq!(tag(&r.text, "SubjectFromWebIdentityToken"), Some(sub.as_str()));
    assert_eq!(
        tag(&r.text, "Arn"),
        Some(format!("arn:aws:sts::{}:assumed-role/app/web", s.engine.config().aws.account_id).as_str())
    );

    // The CloudTrail record, field by field as in the seed's example.
    let records = s.audit_of(r.request_id()).await;
    let rec = &records[0].record;
    assert_eq!(rec["eventName"], "AssumeRoleWithWebIdentity");
    assert_eq!(rec["eventSource"], "sts.amazonaws.com");
    assert_eq!(rec["eventType"], "AwsApiCall");
    assert_eq!(rec["readOnly"], true);
    assert_eq!(rec["recipientAccountId"], s.engine.config().aws.account_id);
    assert_eq!(rec["awsRegion"], s.engine.config().aws.region);
    assert_eq!(rec["userIdentity"]["type"], "WebIdentityUser");
    assert_eq!(rec["userIdentity"]["identityProvider"], provider);
    assert_eq!(rec["userIdentity"]["principalId"], format!("{provider}:{client_id}:{sub}"));
    assert_eq!(rec["requestParameters"]["roleArn"], arn);
    assert_eq!(rec["requestParameters"]["roleSessionName"], "web");
    assert_eq!(rec["requestParameters"]["webIdentityToken"], "HIDDEN_DUE_TO_SECURITY_REASONS");
    let creds = rec["responseElements"]["credentials"].as_object().unwrap();
    assert_eq!(creds.keys().collect::<Vec<_>>(), ["accessKeyId", "expiration"]);
    assert_eq!(creds["accessKeyId"], key_id);
    assert_eq!(rec["responseElements"]["subjectFromWebIdentityToken"], sub);
    assert_eq!(rec["responseElements"]["assumedRoleUser"]["arn"], tag(&r.text, "Arn").unwrap());
    assert_eq!(rec["responseElements"]["provider"], provider);
    assert_eq!(rec["responseElements"]["audience"], client_id);
    assert_eq!(
        rec["resources"],
        json!([{ "accountId": s.engine.config().aws.account_id, "type": "AWS::IAM::Role", "ARN": arn }])
    );
    assert!(!rec.to_string().contains(secret) && !rec.to_string().contains(session));
    let trail = rec["additionalEventData"]["decisionTrail"].to_string();
    assert!(trail.contains("PoolUsers"), "the trail names the trust statement that admitted: {trail}");
}

#[tokio::test]
async fn refusals_name_their_reason_in_sts_words() {
    let s = Server::demo().await;
    let (provider, client_id) = pool_provider(&s);
    create_role(&s, "other-app", &provider, "another-client").await.unwrap();
    let arn = role_arn(&s, "other-app");
    let token = pool_id_token(&s, &client_id).await;

    // The trust policy admits another audience: AccessDenied, and the trail says which condition.
    let r = assume(&s, &arn, "web", &token, &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.starts_with(r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#));
    assert_eq!(tag(&r.text, "Code"), Some("AccessDenied"));
    assert_eq!(tag(&r.text, "Message"), Some("Not authorized to perform sts:AssumeRoleWithWebIdentity"));
    let rec = &s.audit_of(r.request_id()).await[0];
    assert_eq!(rec.error_code.as_deref(), Some("AccessDenied"));
    let steps = rec.record["additionalEventData"]["decisionTrail"].as_array().unwrap().clone();
    let fail = steps.iter().find(|s| s["outcome"] == "fail").unwrap();
    assert_eq!(fail["check"], "trust");
    assert!(fail["detail"].as_str().unwrap().contains("another-client"), "{fail}");

    // An unknown role is the same AccessDenied to the caller.
    let r = assume(&s, &role_arn(&s, "none"), "web", &token, &[]).await;
    assert_eq!(tag(&r.text, "Code"), Some("AccessDenied"));

    // Not a token, a tampered one, an expired one.
    let r = assume(&s, &arn, "web", "not-a-jwt", &[]).await;
    assert_eq!((r.status, tag(&r.text, "Code")), (400, Some("InvalidIdentityToken")));
    let r = assume(&s, &arn, "web", &flip_signature_byte(&token), &[]).await;
    assert_eq!(tag(&r.text, "Code"), Some("InvalidIdentityToken"));
    assert!(!r.text.contains(&token));
    let r = assume(&s, &arn, "web", &token, &[("DurationSeconds", "99999")]).await;
    assert_eq!(tag(&r.text, "Code"), Some("ValidationError"));
    s.clock.advance(3601);
    let r = assume(&s, &arn, "web", &token, &[]).await;
    assert_eq!(tag(&r.text, "Code"), Some("ExpiredTokenException"), "{}", r.text);

    // An unknown version or action.
    let r = post_form(&s, &[("Action", "AssumeRole"), ("Version", "1999-01-01")]).await;
    assert_eq!(tag(&r.text, "Code"), Some("InvalidAction"));
}

#[tokio::test]
async fn an_upstream_providers_token_assumes_a_role_that_trusts_that_provider() {
    let s = Server::demo().await;
    let upstream = format!("{}/demo-idp", s.base);
    let provider = upstream.split_once("://").unwrap().1.to_string();
    let audience = tokenbridge_demo::UPSTREAM_CLIENT_ID;
    create_role(&s, "partner", &provider, audience).await.unwrap();
    let arn = role_arn(&s, "partner");
    let token = s.mint_id_token("alice");
    let r = assume(&s, &arn, "partner-session", &token, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(tag(&r.text, "Provider"), Some(provider.as_str()));
    assert_eq!(tag(&r.text, "Audience"), Some(audience));
    // A token of a provider the trust policy does not name (the user pool's) is refused.
    let (_, client_id) = pool_provider(&s);
    let pool_token = pool_id_token(&s, &client_id).await;
    let r = assume(&s, &arn, "partner-session", &pool_token, &[]).await;
    assert_eq!(tag(&r.text, "Code"), Some("AccessDenied"), "{}", r.text);
}

#[tokio::test]
async fn managed_policies_attach_to_roles_and_count_in_their_evaluation() {
    let s = Server::demo().await;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOrders","Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:*/GET/orders"}]}"#;
    let created = iam(&s, "CreatePolicy", &[("PolicyName", "orders-read"), ("PolicyDocument", doc)]).await.unwrap();
    let arn = created["Policy"]["Arn"].as_str().unwrap().to_string();
    assert_eq!(arn, format!("arn:aws:iam::{}:policy/orders-read", s.engine.config().aws.account_id));
    let (provider, client_id) = pool_provider(&s);
    create_role(&s, "reader", &provider, &client_id).await.unwrap();
    let resource = "arn:aws:execute-api:ap-northeast-1:123456789012:api1/prod/GET/orders";
    let before = s.engine.iam().simulate_policy("reader", "execute-api:Invoke", resource, &[], None).await.unwrap();
    assert!(!before.allowed);
    iam(&s, "AttachRolePolicy", &[("RoleName", "reader"), ("PolicyArn", &arn)]).await.unwrap();
    let listed = iam(&s, "ListAttachedRolePolicies", &[("RoleName", "reader")]).await.unwrap();
    assert_eq!(listed["AttachedPolicies"][0]["PolicyArn"], arn);
    let after = s.engine.iam().simulate_policy("reader", "execute-api:Invoke", resource, &[], None).await.unwrap();
    assert!(after.allowed, "{}", after.explanation);
    assert!(after.explanation.contains("ReadOrders"), "{}", after.explanation);
    assert_eq!(iam(&s, "GetPolicy", &[("PolicyArn", &arn)]).await.unwrap()["Policy"]["AttachmentCount"], 1);
    let e = iam(&s, "DeletePolicy", &[("PolicyArn", &arn)]).await.unwrap_err();
    assert_eq!(e.code, "DeleteConflict");
    let e = iam(&s, "DeleteRole", &[("RoleName", "reader")]).await.unwrap_err();
    assert_eq!(e.code, "DeleteConflict");
    iam(&s, "DetachRolePolicy", &[("RoleName", "reader"), ("PolicyArn", &arn)]).await.unwrap();
    assert!(
        !s.engine.iam().simulate_policy("reader", "execute-api:Invoke", resource, &[], None).await.unwrap().allowed
    );
    iam(&s, "DeletePolicy", &[("PolicyArn", &arn)]).await.unwrap();
    let e = iam(&s, "GetPolicy", &[("PolicyArn", &arn)]).await.unwrap_err();
    assert_eq!((e.code, e.status), ("NoSuchEntity", 404));
    let bad = iam(&s, "CreatePolicy", &[("PolicyName", "bad"), ("PolicyDocument", "{}")]).await.unwrap_err();
    assert_eq!(bad.code, "MalformedPolicyDocument");
}

/// IAM OIDC providers: made, read, listed, their client ids edited and deleted as IAM does; one
/// registered for the user pool's issuer binds STS to its client ids.
#[tokio::test]
async fn oidc_providers_list_the_client_ids_sts_takes() {
    let s = Server::demo().await;
    let (provider, client_id) = pool_provider(&s);
    let url = s.demo_cognito("issuer");
    let account = s.engine.config().aws.account_id.clone();
    let arn = format!("arn:aws:iam::{account}:oidc-provider/{provider}");
    let made = iam(&s, "CreateOpenIDConnectProvider", &[("Url", &url), ("ClientIDList.member.1", "someone-else")])
        .await
        .expect("create");
    assert_eq!(made["OpenIDConnectProviderArn"], arn.as_str());
    let again = iam(&s, "CreateOpenIDConnectProvider", &[("Url", &url)]).await.unwrap_err();
    assert_eq!(
        (again.code, again.message.as_str()),
        ("EntityAlreadyExists", format!("Provider with url {url} already exists.").as_str())
    );
    let bad = iam(&s, "CreateOpenIDConnectProvider", &[("Url", "ftp://x")]).await.unwrap_err();
    assert_eq!(bad.code, "ValidationError");
    let listed = iam(&s, "ListOpenIDConnectProviders", &[]).await.unwrap();
    assert!(listed["OpenIDConnectProviderList"].as_array().unwrap().contains(&json!({ "Arn": arn })), "{listed}");

    // The pool's token is for its own client, which the provider does not list.
    create_role(&s, "app", &provider, &client_id).await.unwrap();
    let token = pool_id_token(&s, &client_id).await;
    let r = assume(&s, &role_arn(&s, "app"), "web", &token, &[]).await;
    assert_eq!((r.status, tag(&r.text, "Code")), (400, Some("InvalidIdentityToken")), "{}", r.text);
    assert!(tag(&r.text, "Message").unwrap().contains("audience"), "{}", r.text);

    let edit = [("OpenIDConnectProviderArn", arn.as_str()), ("ClientID", client_id.as_str())];
    for _ in 0..2 {
        iam(&s, "AddClientIDToOpenIDConnectProvider", &edit).await.expect("add (twice: no effect)");
    }
    let got = iam(&s, "GetOpenIDConnectProvider", &[("OpenIDConnectProviderArn", &arn)]).await.unwrap();
    assert_eq!(got["Url"], provider.as_str());
    assert_eq!(got["ClientIDList"], json!(["someone-else", client_id]));
    assert_eq!(assume(&s, &role_arn(&s, "app"), "web", &token, &[]).await.status, 200);
    for _ in 0..2 {
        iam(&s, "RemoveClientIDFromOpenIDConnectProvider", &edit).await.expect("remove (twice: no effect)");
    }
    assert_eq!(assume(&s, &role_arn(&s, "app"), "web", &token, &[]).await.status, 400);

    iam(&s, "DeleteOpenIDConnectProvider", &[("OpenIDConnectProviderArn", &arn)]).await.expect("delete");
    let gone = iam(&s, "GetOpenIDConnectProvider", &[("OpenIDConnectProviderArn", &arn)]).await.unwrap_err();
    assert_eq!((gone.code, gone.message), ("NoSuchEntity", format!("OpenIDConnect Provider not found for arn {arn}")));
    // Unregistered, the role's trust policy decides again (it names the client as aud).
    assert_eq!(assume(&s, &role_arn(&s, "app"), "web", &token, &[]).await.status, 200);
}
