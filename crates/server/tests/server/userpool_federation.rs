//! The user pool's identity providers, resource servers and provider links on the AWS JSON 1.1
//! door over real HTTP, each request SigV4-signed by the tests' own signer: botocore-shaped
//! answers (no null members, epoch timestamps, the given and derived ProviderDetails) and
//! Cognito's exception names for the refusals.

use crate::common::*;
use serde_json::{json, Value};

const TARGET: &str = "AWSCognitoIdentityProviderService.";

/// A signed Cognito action.
async fn signed(s: &Server, action: &str, input: Value) -> Resp {
    let target = format!("{TARGET}{action}");
    let body = input.to_string();
    let host = s.base.trim_start_matches("http://").to_string();
    let region = s.engine.config().aws.region.clone();
    let (key_id, secret) = (s.demo_cognito("admin_access_key_id"), s.demo_cognito("admin_secret_access_key"));
    let key = sigv4::SigningKey { access_key_id: &key_id, secret_access_key: &secret, session_token: None };
    let extra = [("x-amz-target", target.as_str())];
    let headers = sigv4::sign_post(
        &key,
        &host,
        "/",
        "application/x-amz-json-1.1",
        &extra,
        body.as_bytes(),
        (&region, "cognito-idp"),
        s.now(),
    );
    let mut req = s.http.post(s.url("/"));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    s.send(req.body(body)).await
}

/// A refusal in Cognito's words: status 400, the `__type`, a message saying `needle`.
#[track_caller]
fn assert_exception(r: &Resp, exception: &str, needle: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["__type"], exception, "{}", r.text);
    assert!(r.json["message"].as_str().is_some_and(|m| m.contains(needle)), "{}", r.text);
    assert_eq!(r.header("x-amzn-errortype"), Some(format!("{exception}:").as_str()));
}

fn metadata() -> String {
    tokenbridge_saml::IdpSigner::generate("https://idp.example.com/metadata", 1_700_000_000)
        .unwrap()
        .metadata_xml("https://idp.example.com/sso", None)
}

fn assert_no_nulls(v: &Value) {
    match v {
        Value::Null => panic!("a null member in the answer"),
        Value::Object(m) => m.values().for_each(assert_no_nulls),
        Value::Array(a) => a.iter().for_each(assert_no_nulls),
        _ => {}
    }
}

#[tokio::test]
async fn identity_providers_on_the_wire() {
    let s = Server::demo().await;
    let pool = s.demo_cognito("user_pool_id");
    let r = signed(
        &s,
        "CreateIdentityProvider",
        json!({ "UserPoolId": pool, "ProviderName": "Corp", "ProviderType": "SAML",
                "ProviderDetails": { "MetadataFile": metadata(), "EncryptedResponses": "true" },
                "AttributeMapping": { "email": "mail" }, "IdpIdentifiers": ["corp"] }),
    )
    .await;
    r.assert_ok();
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert!(r.header("x-amzn-requestid").is_some());
    let p = &r.json["IdentityProvider"];
    assert_no_nulls(&r.json);
    assert!(p["CreationDate"].is_f64() && p["LastModifiedDate"].is_f64());
    assert_eq!(p["ProviderDetails"]["SSORedirectBindingURI"], "https://idp.example.com/sso");
    assert!(p["ProviderDetails"].get("SLORedirectBindingURI").is_none());
    assert!(p["ProviderDetails"]["ActiveEncryptionCertificate"].is_string());

    let again = signed(
        &s,
        "CreateIdentityProvider",
        json!({ "UserPoolId": pool, "ProviderName": "Corp", "ProviderType": "SAML", "ProviderDetails": { "MetadataFile": metadata() } }),
    )
    .await;
    assert_exception(&again, "DuplicateProviderException", "already exists");
    let bad = signed(
        &s,
        "CreateIdentityProvider",
        json!({ "UserPoolId": pool, "ProviderName": "Bad", "ProviderType": "SAML", "ProviderDetails": { "MetadataFile": "nope" } }),
    )
    .await;
    assert_exception(&bad, "InvalidParameterException", "not XML");
    let list = signed(&s, "ListIdentityProviders", json!({ "UserPoolId": pool, "MaxResults": 60 })).await;
    list.assert_ok();
    assert_no_nulls(&list.json);
    // The demo pool's own providers (its hosted sign-in's DemoOIDC and DemoSAML) are listed too.
    let names: Vec<&str> =
        list.json["Providers"].as_array().unwrap().iter().map(|p| p["ProviderName"].as_str().unwrap()).collect();
    assert_eq!(names, ["Corp", "DemoOIDC", "DemoSAML"]);
    assert_eq!(
        list.json["Providers"][0],
        json!({ "ProviderName": "Corp", "ProviderType": "SAML",
        "CreationDate": p["CreationDate"], "LastModifiedDate": p["LastModifiedDate"] })
    );
    let missing = signed(&s, "DescribeIdentityProvider", json!({ "UserPoolId": pool, "ProviderName": "Nobody" })).await;
    assert_exception(&missing, "ResourceNotFoundException", "does not exist");
    let by_id =
        signed(&s, "GetIdentityProviderByIdentifier", json!({ "UserPoolId": pool, "IdpIdentifier": "corp" })).await;
    by_id.assert_ok();
    let del = signed(&s, "DeleteIdentityProvider", json!({ "UserPoolId": pool, "ProviderName": "Corp" })).await;
    del.assert_ok();
    assert_eq!(del.json, json!({}));
    // Unsigned, the admin action is refused.
    let unsigned = s.cognito("ListIdentityProviders", &json!({ "UserPoolId": pool })).await;
    assert_eq!(unsigned.status, 400);
    assert_eq!(unsigned.json["__type"], "MissingAuthenticationTokenException");
}

#[tokio::test]
async fn resource_servers_and_links_on_the_wire() {
    let s = Server::demo().await;
    let pool = s.demo_cognito("user_pool_id");
    let r = signed(
        &s,
        "CreateResourceServer",
        json!({ "UserPoolId": pool, "Identifier": "orders", "Name": "orders", "Scopes": [{ "ScopeName": "read", "ScopeDescription": "read" }] }),
    )
    .await;
    r.assert_ok();
    assert_eq!(
        r.json,
        json!({ "ResourceServer": { "UserPoolId": pool, "Identifier": "orders", "Name": "orders", "Scopes": [{ "ScopeName": "read", "ScopeDescription": "read" }] } })
    );
    let l = signed(&s, "ListResourceServers", json!({ "UserPoolId": pool, "MaxResults": 10 })).await;
    l.assert_ok();
    assert_no_nulls(&l.json);
    assert_eq!(l.json["ResourceServers"].as_array().unwrap().len(), 1);

    signed(
        &s,
        "CreateIdentityProvider",
        json!({ "UserPoolId": pool, "ProviderName": "Okta", "ProviderType": "OIDC",
                "ProviderDetails": { "client_id": "rp", "client_secret": "x", "authorize_scopes": "openid", "oidc_issuer": "https://issuer.example.com" } }),
    )
    .await
    .assert_ok();
    let link = |user: &str| {
        json!({ "UserPoolId": pool, "DestinationUser": { "ProviderName": "Cognito", "ProviderAttributeValue": user },
                "SourceUser": { "ProviderName": "Okta", "ProviderAttributeName": "Cognito_Subject", "ProviderAttributeValue": "sub-9" } })
    };
    let ok = signed(&s, "AdminLinkProviderForUser", link("alice")).await;
    ok.assert_ok();
    assert_eq!(ok.json, json!({}));
    assert_exception(
        &signed(&s, "AdminLinkProviderForUser", link("bob")).await,
        "InvalidParameterException",
        "already linked",
    );
    assert_exception(
        &signed(&s, "AdminLinkProviderForUser", link("nobody")).await,
        "UserNotFoundException",
        "User does not exist",
    );
    let disable = signed(
        &s,
        "AdminDisableProviderForUser",
        json!({ "UserPoolId": pool, "User": { "ProviderName": "Okta", "ProviderAttributeName": "Cognito_Subject", "ProviderAttributeValue": "sub-9" } }),
    )
    .await;
    disable.assert_ok();
    assert_eq!(s.engine.user_pools().linked_user(&pool, "Okta", "sub-9").await.unwrap().map(|u| u.username), None);
}
