//! The pool's identity providers (SAML and OIDC), resource servers and provider links through
//! the user-pool actions: each action, each refusal by its failing check, and the races that
//! insert-if-absent settles, on SQLite and on PostgreSQL.

use crate::support::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::config::Config;
use tokenbridge_core::userpool::EVENT_SOURCE;
use tokenbridge_core::{Clock, Engine, Store, SystemClock};
use tokenbridge_saml::IdpSigner;

const SSO: &str = "https://idp.example.com/sso";
const SLO: &str = "https://idp.example.com/slo";

fn metadata() -> String {
    IdpSigner::generate("https://idp.example.com/metadata", 1_700_000_000).unwrap().metadata_xml(SSO, Some(SLO))
}

fn saml(name: &str, details: Value) -> Value {
    json!({ "UserPoolId": POOL, "ProviderName": name, "ProviderType": "SAML", "ProviderDetails": details })
}

fn oidc(name: &str, details: Value) -> Value {
    json!({ "UserPoolId": POOL, "ProviderName": name, "ProviderType": "OIDC", "ProviderDetails": details })
}

fn oidc_details() -> Value {
    json!({ "client_id": "rp", "client_secret": "rp-secret-value", "authorize_scopes": "openid email", "oidc_issuer": "https://issuer.example.com" })
}

#[tokio::test]
async fn a_saml_provider_from_a_metadata_file_is_described_as_cognito_does() {
    let b = Broker::open().await;
    let created = b
        .pool_admin(
            "CreateIdentityProvider",
            json!({ "UserPoolId": POOL, "ProviderName": "Corp", "ProviderType": "SAML",
                    "ProviderDetails": { "MetadataFile": metadata(), "IDPSignout": "true", "EncryptedResponses": "true", "RequestSigningAlgorithm": "rsa-sha256" },
                    "AttributeMapping": { "email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress" },
                    "IdpIdentifiers": ["corp.example.com"] }),
        )
        .await;
    let p = &created["IdentityProvider"];
    assert_eq!(p["ProviderType"], "SAML");
    assert_eq!(p["ProviderDetails"]["SSORedirectBindingURI"], SSO);
    assert_eq!(p["ProviderDetails"]["SLORedirectBindingURI"], SLO);
    assert_eq!(p["ProviderDetails"]["IDPSignout"], "true");
    let cert = p["ProviderDetails"]["ActiveEncryptionCertificate"].as_str().expect("encryption certificate");
    tokenbridge_saml::Certificate::from_base64(cert).expect("a certificate");
    // The pool keeps one SP key: described again, the same certificate.
    let again = b.pool_admin("DescribeIdentityProvider", json!({ "UserPoolId": POOL, "ProviderName": "Corp" })).await;
    assert_eq!(again["IdentityProvider"]["ProviderDetails"]["ActiveEncryptionCertificate"], cert);
    let by_id = b
        .pool_admin(
            "GetIdentityProviderByIdentifier",
            json!({ "UserPoolId": POOL, "IdpIdentifier": "corp.example.com" }),
        )
        .await;
    assert_eq!(by_id["IdentityProvider"]["ProviderName"], "Corp");
    let list = b.pool_admin("ListIdentityProviders", json!({ "UserPoolId": POOL, "MaxResults": 10 })).await;
    assert_eq!(list["Providers"][0]["ProviderName"], "Corp");
    assert_eq!(list["Providers"][0]["ProviderType"], "SAML");

    // Update: the flag off, the identifier replaced (the old one is free again).
    let updated = b
        .pool_admin(
            "UpdateIdentityProvider",
            json!({ "UserPoolId": POOL, "ProviderName": "Corp", "ProviderDetails": { "MetadataFile": metadata() }, "IdpIdentifiers": ["corp.example.org"] }),
        )
        .await;
    assert!(updated["IdentityProvider"]["ProviderDetails"].get("ActiveEncryptionCertificate").is_none());
    assert_eq!(updated["IdentityProvider"]["IdpIdentifiers"], json!(["corp.example.org"]));
    let gone = admin_call(
        &b,
        "GetIdentityProviderByIdentifier",
        json!({ "UserPoolId": POOL, "IdpIdentifier": "corp.example.com" }),
    )
    .await;
    assert_eq!(b.refused(gone, "idp identifier", "does not exist").await.reason, Reason::NotFound);

    b.pool_admin("DeleteIdentityProvider", json!({ "UserPoolId": POOL, "ProviderName": "Corp" })).await;
    let e = admin_call(&b, "DescribeIdentityProvider", json!({ "UserPoolId": POOL, "ProviderName": "Corp" })).await;
    assert_eq!(b.refused(e, "identity provider", "does not exist").await.reason, Reason::NotFound);
}

#[tokio::test]
async fn bad_saml_metadata_and_details_are_refused_naming_what_is_wrong() {
    let b = Broker::open().await;
    let good = metadata();
    let no_cert = {
        let start = good.find("<md:KeyDescriptor").expect("key descriptor");
        let end = good.find("</md:KeyDescriptor>").expect("key descriptor end") + "</md:KeyDescriptor>".len();
        format!("{}{}", &good[..start], &good[end..])
    };
    let no_redirect = good.replace("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", "urn:example:binding");
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({ "MetadataFile": "not xml at all" }), "saml metadata", "not XML"),
        (json!({ "MetadataFile": format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{good}") }), "saml metadata", "DOCTYPE"),
        (json!({ "MetadataFile": no_cert }), "saml metadata", "no signing certificate"),
        (json!({ "MetadataFile": no_redirect }), "saml metadata", "no SSO redirect location"),
        (json!({ "MetadataFile": good, "IDPInit": "yes" }), "provider details", "IDPInit must be"),
        (json!({ "MetadataFile": good, "RequestSigningAlgorithm": "rsa-sha1" }), "provider details", "rsa-sha256"),
        (json!({ "MetadataFile": good, "MetadataURL": "https://idp.example.com/md" }), "provider details", "not both"),
        (json!({}), "provider details", "MetadataFile or MetadataURL is required"),
        (json!({ "MetadataURL": "http://idp.example.com/md" }), "provider details", "https"),
        (json!({ "MetadataFile": good, "client_id": "x" }), "provider details", "does not take"),
    ];
    for (details, check, needle) in cases {
        let e = b.refused(admin_call(&b, "CreateIdentityProvider", saml("Corp", details)).await, check, needle).await;
        assert_eq!(e.reason, Reason::InvalidParameter);
    }
    let e = admin_call(
        &b,
        "CreateIdentityProvider",
        json!({ "UserPoolId": POOL, "ProviderName": "Corp", "ProviderType": "SAML", "ProviderDetails": { "MetadataFile": good }, "AttributeMapping": { "username": "sub" } }),
    )
    .await;
    b.refused(e, "attribute mapping", "not an attribute of the user pool").await;
}

#[tokio::test]
async fn a_metadata_url_is_fetched_through_the_outbound_client_and_its_metadata_kept() {
    let b = Broker::open().await;
    let body = metadata();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = body.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let path = String::from_utf8_lossy(&buf[..n]).split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, text) =
                if path == "/md" { ("200 OK", served.clone()) } else { ("404 Not Found", String::new()) };
            let resp =
                format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}", text.len());
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    let url = format!("http://{addr}/md");
    let p = b.pool_admin("CreateIdentityProvider", saml("Corp", json!({ "MetadataURL": url }))).await;
    assert_eq!(p["IdentityProvider"]["ProviderDetails"]["MetadataURL"], url);
    assert_eq!(p["IdentityProvider"]["ProviderDetails"]["SSORedirectBindingURI"], SSO);
    assert!(p["IdentityProvider"]["ProviderDetails"].get("MetadataFile").is_none());
    let kept = b.engine.user_pools().provider(POOL, "Corp").await.unwrap().expect("stored");
    assert_eq!(kept.saml.expect("metadata kept").metadata, body);
    let e = admin_call(
        &b,
        "CreateIdentityProvider",
        saml("Other", json!({ "MetadataURL": format!("http://{addr}/missing") })),
    )
    .await;
    b.refused(e, "saml metadata url", "HTTP 404").await;
}

#[tokio::test]
async fn an_oidc_provider_keeps_its_secret_sealed_and_describes_it_as_cognito_does() {
    let b = Broker::open().await;
    let mut body = oidc("Okta", oidc_details());
    body["AttributeMapping"] = json!({ "username": "sub", "email": "email" });
    let p = b.pool_admin("CreateIdentityProvider", body).await;
    let d = &p["IdentityProvider"]["ProviderDetails"];
    assert_eq!(d["client_secret"], "rp-secret-value");
    assert_eq!(d["attributes_request_method"], "GET");
    let stored = b.engine.user_pools().provider(POOL, "Okta").await.unwrap().expect("stored");
    // Without a master key it is kept as app-client secrets are then (see the races below for
    // the sealed form).
    assert_eq!(stored.details["client_secret"], "plain:rp-secret-value");
    // An update without the secret keeps it; one with it replaces it.
    let u = b
        .pool_admin(
            "UpdateIdentityProvider",
            json!({ "UserPoolId": POOL, "ProviderName": "Okta", "ProviderDetails": { "client_id": "rp", "authorize_scopes": "openid", "oidc_issuer": "https://issuer.example.com", "attributes_request_method": "POST" } }),
        )
        .await;
    assert_eq!(u["IdentityProvider"]["ProviderDetails"]["client_secret"], "rp-secret-value");
    assert_eq!(u["IdentityProvider"]["ProviderDetails"]["attributes_request_method"], "POST");
    // The secret never reaches the audit record.
    let called = admin_call(&b, "CreateIdentityProvider", oidc("Okta2", oidc_details())).await;
    let rec = b.record(&called).await;
    assert!(!rec.record.to_string().contains("rp-secret-value"));

    let refusals: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "authorize_scopes": "openid", "oidc_issuer": "https://i.example.com" }),
            "provider details",
            "client_id is required",
        ),
        (
            json!({ "client_id": "a", "authorize_scopes": "openid", "oidc_issuer": "http://i.example.com" }),
            "provider details",
            "https",
        ),
        (
            json!({ "client_id": "a", "authorize_scopes": "openid", "oidc_issuer": "https://i.example.com", "attributes_request_method": "PUT" }),
            "provider details",
            "GET or POST",
        ),
        (
            json!({ "client_id": "a", "authorize_scopes": "openid", "oidc_issuer": "https://i.example.com", "MetadataFile": "x" }),
            "provider details",
            "does not take",
        ),
    ];
    for (details, check, needle) in refusals {
        b.refused(admin_call(&b, "CreateIdentityProvider", oidc("Bad", details)).await, check, needle).await;
    }
    let mut unknown = oidc("Bad", oidc_details());
    unknown["AttributeMapping"] = json!({ "shoe_size": "size" });
    b.refused(admin_call(&b, "CreateIdentityProvider", unknown).await, "attribute mapping", "shoe_size").await;
}

#[tokio::test]
async fn provider_names_types_and_duplicates_follow_cognito() {
    let b = Broker::open().await;
    for name in ["Cognito", "COGNITO", "_x", "a b c", &"x".repeat(33), "x"] {
        let e = admin_call(&b, "CreateIdentityProvider", oidc(name, oidc_details())).await;
        assert_eq!(b.refused(e, "provider name", "ProviderName").await.reason, Reason::InvalidParameter, "{name:?}");
    }
    let mut google = oidc("Google", oidc_details());
    google["ProviderType"] = json!("Google");
    b.refused(admin_call(&b, "CreateIdentityProvider", google).await, "provider type", "not supported").await;

    let mut first = oidc("Okta", oidc_details());
    first["IdpIdentifiers"] = json!(["example.com"]);
    b.pool_admin("CreateIdentityProvider", first.clone()).await;
    let e =
        b.refused(admin_call(&b, "CreateIdentityProvider", first).await, "identity provider", "already exists").await;
    assert_eq!(e.reason, Reason::DuplicateProvider);
    let mut other = oidc("Auth0", oidc_details());
    other["IdpIdentifiers"] = json!(["example.com"]);
    let e = b.refused(admin_call(&b, "CreateIdentityProvider", other).await, "idp identifiers", "example.com").await;
    assert_eq!(e.reason, Reason::DuplicateProvider);
    // The refused provider left nothing behind.
    assert!(b.engine.user_pools().provider(POOL, "Auth0").await.unwrap().is_none());
    let e = admin_call(&b, "CreateIdentityProvider", json!({ "UserPoolId": "us-east-1_NoSuchPool", "ProviderName": "Okta", "ProviderType": "OIDC", "ProviderDetails": oidc_details() })).await;
    assert_eq!(b.refused(e, "user pool", "does not exist").await.reason, Reason::NotFound);
    let e = admin_call(&b, "UpdateIdentityProvider", json!({ "UserPoolId": POOL, "ProviderName": "Nobody" })).await;
    assert_eq!(b.refused(e, "identity provider", "does not exist").await.reason, Reason::NotFound);
    // Unsigned, an admin action is refused before anything is read.
    let e = b.pool("ListIdentityProviders", json!({ "UserPoolId": POOL })).await.err();
    assert_eq!(e.reason, Reason::MissingAuthentication);
}

#[tokio::test]
async fn app_clients_name_existing_providers_only() {
    let b = Broker::open().await;
    b.pool_admin("CreateIdentityProvider", oidc("Okta", oidc_details())).await;
    let c = b
        .pool_admin(
            "CreateUserPoolClient",
            json!({ "UserPoolId": POOL, "ClientName": "web", "SupportedIdentityProviders": ["COGNITO", "Okta", UPSTREAM] }),
        )
        .await;
    assert_eq!(c["UserPoolClient"]["SupportedIdentityProviders"], json!(["COGNITO", "Okta", UPSTREAM]));
    let e = admin_call(
        &b,
        "CreateUserPoolClient",
        json!({ "UserPoolId": POOL, "ClientName": "web", "SupportedIdentityProviders": ["Nobody"] }),
    )
    .await;
    let e = b.refused(e, "supported identity providers", "The provider Nobody does not exist").await;
    assert_eq!(e.reason, Reason::InvalidParameter);
}

#[tokio::test]
async fn resource_servers_are_created_described_listed_updated_and_deleted() {
    let b = Broker::open().await;
    let scopes = json!([{ "ScopeName": "orders.read", "ScopeDescription": "read orders" }]);
    let r = b
        .pool_admin(
            "CreateResourceServer",
            json!({ "UserPoolId": POOL, "Identifier": "https://api.example.com", "Name": "orders api", "Scopes": scopes }),
        )
        .await;
    assert_eq!(r["ResourceServer"]["Scopes"], scopes);
    let pools = b.engine.user_pools();
    assert_eq!(
        pools.resource_server_scopes(POOL, "https://api.example.com").await.unwrap(),
        Some(vec!["orders.read".to_string()])
    );
    assert_eq!(pools.resource_server_scopes(POOL, "https://other").await.unwrap(), None);
    let e = admin_call(
        &b,
        "CreateResourceServer",
        json!({ "UserPoolId": POOL, "Identifier": "https://api.example.com", "Name": "again" }),
    )
    .await;
    b.refused(e, "resource server", "already exists").await;
    let e = admin_call(
        &b,
        "CreateResourceServer",
        json!({ "UserPoolId": POOL, "Identifier": "api", "Name": "x", "Scopes": [{ "ScopeName": "a/b", "ScopeDescription": "d" }] }),
    )
    .await;
    b.refused(e, "resource server", "ScopeName").await;
    b.pool_admin(
        "UpdateResourceServer",
        json!({ "UserPoolId": POOL, "Identifier": "https://api.example.com", "Name": "orders", "Scopes": [{ "ScopeName": "orders.write", "ScopeDescription": "w" }] }),
    )
    .await;
    let d = b
        .pool_admin("DescribeResourceServer", json!({ "UserPoolId": POOL, "Identifier": "https://api.example.com" }))
        .await;
    assert_eq!(d["ResourceServer"]["Name"], "orders");
    assert_eq!(d["ResourceServer"]["Scopes"][0]["ScopeName"], "orders.write");
    let l = b.pool_admin("ListResourceServers", json!({ "UserPoolId": POOL, "MaxResults": 50 })).await;
    assert_eq!(l["ResourceServers"].as_array().unwrap().len(), 1);
    b.pool_admin("DeleteResourceServer", json!({ "UserPoolId": POOL, "Identifier": "https://api.example.com" })).await;
    let e = admin_call(
        &b,
        "DescribeResourceServer",
        json!({ "UserPoolId": POOL, "Identifier": "https://api.example.com" }),
    )
    .await;
    assert_eq!(b.refused(e, "resource server", "does not exist").await.reason, Reason::NotFound);
}

fn link(username: &str, subject: &str) -> Value {
    json!({ "UserPoolId": POOL,
            "DestinationUser": { "ProviderName": "Cognito", "ProviderAttributeValue": username },
            "SourceUser": { "ProviderName": "Okta", "ProviderAttributeName": "Cognito_Subject", "ProviderAttributeValue": subject } })
}

#[tokio::test]
async fn a_federated_identity_links_to_one_native_user() {
    let b = Broker::open().await;
    b.pool_admin("CreateIdentityProvider", oidc("Okta", oidc_details())).await;
    let pools = b.engine.user_pools();
    assert!(pools.linked_user(POOL, "Okta", "sub-1").await.unwrap().is_none());
    b.pool_admin("AdminLinkProviderForUser", link("alice", "sub-1")).await;
    assert_eq!(pools.linked_user(POOL, "Okta", "sub-1").await.unwrap().expect("linked").username, "alice");
    // The same link again is no change; the same source to another user is refused.
    b.pool_admin("AdminLinkProviderForUser", link("alice", "sub-1")).await;
    let e = b
        .refused(
            admin_call(&b, "AdminLinkProviderForUser", link("bob", "sub-1")).await,
            "source user",
            "already linked",
        )
        .await;
    assert_eq!(e.reason, Reason::InvalidParameter);
    let e = admin_call(&b, "AdminLinkProviderForUser", link("nobody", "sub-2")).await;
    assert_eq!(b.refused(e, "user", "User does not exist").await.reason, Reason::UserNotFound);
    let mut wrong = link("alice", "sub-2");
    wrong["DestinationUser"]["ProviderName"] = json!("Okta");
    b.refused(admin_call(&b, "AdminLinkProviderForUser", wrong).await, "destination user", "must be Cognito").await;
    let mut unknown = link("alice", "sub-2");
    unknown["SourceUser"]["ProviderName"] = json!("Nobody");
    let e = b
        .refused(admin_call(&b, "AdminLinkProviderForUser", unknown).await, "identity provider", "does not exist")
        .await;
    assert_eq!(e.reason, Reason::NotFound);

    b.pool_admin(
        "AdminDisableProviderForUser",
        json!({ "UserPoolId": POOL, "User": { "ProviderName": "Okta", "ProviderAttributeName": "Cognito_Subject", "ProviderAttributeValue": "sub-1" } }),
    )
    .await;
    assert!(pools.linked_user(POOL, "Okta", "sub-1").await.unwrap().is_none());
    // Unlinked, the source may link to another user.
    b.pool_admin("AdminLinkProviderForUser", link("bob", "sub-1")).await;
    assert_eq!(pools.linked_user(POOL, "Okta", "sub-1").await.unwrap().expect("linked").username, "bob");
}

#[tokio::test]
async fn configured_identity_providers_and_resource_servers_are_provisioned() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("idp.xml");
    std::fs::write(&file, metadata()).unwrap();
    let path = file.display().to_string();
    let b = Broker::configured(move |c: &mut Config| {
        let extra: Config = Config::from_toml(&format!(
            r#"
[aws]
region = "{REGION}"
account_id = "{ACCOUNT}"
[[user_pools]]
id = "{POOL}"
[[user_pools.identity_providers]]
name = "Corp"
type = "saml"
metadata_file = {path:?}
idp_init = true
attribute_mapping = {{ email = "mail" }}
idp_identifiers = ["corp.example.com"]
[[user_pools.identity_providers]]
name = "Okta"
type = "oidc"
client_id = "rp"
client_secret = "s"
authorize_scopes = "openid"
oidc_issuer = "https://issuer.example.com"
[[user_pools.resource_servers]]
identifier = "orders"
name = "orders"
scopes = [{{ name = "read", description = "read orders" }}]
"#
        ))
        .unwrap();
        c.user_pools[0].identity_providers = extra.user_pools[0].identity_providers.clone();
        c.user_pools[0].resource_servers = extra.user_pools[0].resource_servers.clone();
        c.user_pools[0].clients[0].providers.push("Okta".into());
    })
    .await;
    let d = b.pool_admin("DescribeIdentityProvider", json!({ "UserPoolId": POOL, "ProviderName": "Corp" })).await;
    assert_eq!(d["IdentityProvider"]["ProviderDetails"]["IDPInit"], "true");
    assert_eq!(d["IdentityProvider"]["ProviderDetails"]["SSORedirectBindingURI"], SSO);
    assert_eq!(d["IdentityProvider"]["AttributeMapping"]["email"], "mail");
    b.pool_admin("DescribeIdentityProvider", json!({ "UserPoolId": POOL, "ProviderName": "Okta" })).await;
    assert_eq!(
        b.engine.user_pools().resource_server_scopes(POOL, "orders").await.unwrap(),
        Some(vec!["read".to_string()])
    );
    // Provisioning again keeps what is there.
    b.engine.provision().await.expect("provision again");

    let bad = Config::from_toml(&format!(
        "[aws]\nregion = \"{REGION}\"\naccount_id = \"{ACCOUNT}\"\n[[user_pools]]\nid = \"{POOL}\"\n[[user_pools.identity_providers]]\nname = \"Cognito\"\ntype = \"oidc\"\n"
    ))
    .unwrap();
    let e = Engine::validate_config(&bad).unwrap_err().to_string();
    assert!(e.contains("user_pools[0].identity_providers[0]") && e.contains("reserved"), "{e}");
}

/// DeleteIdentityProvider takes what belonged to the provider with it: its identifier claims,
/// its provider links (a provider made again under the name does not find them) and its place in
/// app clients' SupportedIdentityProviders.
#[tokio::test]
async fn deleting_a_provider_removes_its_links_claims_and_app_client_entries() {
    let b = Broker::open().await;
    let mut body = oidc("Okta", oidc_details());
    body["IdpIdentifiers"] = json!(["okta.example.com"]);
    b.pool_admin("CreateIdentityProvider", body.clone()).await;
    b.pool_admin("CreateIdentityProvider", oidc("Other", oidc_details())).await;
    let c = b
        .pool_admin(
            "CreateUserPoolClient",
            json!({ "UserPoolId": POOL, "ClientName": "web", "SupportedIdentityProviders": ["COGNITO", "Okta", "Other"] }),
        )
        .await;
    let client_id = c["UserPoolClient"]["ClientId"].as_str().unwrap().to_string();
    b.pool_admin("AdminLinkProviderForUser", link("alice", "sub-1")).await;
    b.pool_admin("AdminLinkProviderForUser", link("bob", "sub-2")).await;
    let pools = b.engine.user_pools();
    assert!(pools.linked_user(POOL, "Okta", "sub-1").await.unwrap().is_some());

    b.pool_admin("DeleteIdentityProvider", json!({ "UserPoolId": POOL, "ProviderName": "Okta" })).await;
    let d = b.pool_admin("DescribeUserPoolClient", json!({ "UserPoolId": POOL, "ClientId": client_id })).await;
    assert_eq!(d["UserPoolClient"]["SupportedIdentityProviders"], json!(["COGNITO", "Other"]));
    let e = admin_call(
        &b,
        "GetIdentityProviderByIdentifier",
        json!({ "UserPoolId": POOL, "IdpIdentifier": "okta.example.com" }),
    )
    .await;
    assert_eq!(b.refused(e, "idp identifier", "does not exist").await.reason, Reason::NotFound);
    let links = b.store.list_documents("pool_provider_link", Some(POOL), None, 100).await.unwrap();
    assert!(links.is_empty(), "{links:?}");
    let claims = b.store.list_documents("pool_idp_identifier", Some(POOL), None, 100).await.unwrap();
    assert!(claims.is_empty(), "{claims:?}");

    // Made again under the same name, it starts with no links, and may claim its identifier.
    b.pool_admin("CreateIdentityProvider", body).await;
    assert!(pools.linked_user(POOL, "Okta", "sub-1").await.unwrap().is_none());
    assert!(pools.linked_user(POOL, "Okta", "sub-2").await.unwrap().is_none());
    let e = admin_call(&b, "DeleteIdentityProvider", json!({ "UserPoolId": POOL, "ProviderName": "Nobody" })).await;
    assert_eq!(b.refused(e, "identity provider", "does not exist").await.reason, Reason::NotFound);
}

/// The configuration is the source of truth for the providers and resource servers it declares:
/// provisioning again with changed entries changes them; unchanged ones are left untouched.
#[tokio::test]
async fn configured_providers_and_resource_servers_follow_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let store = tokenbridge_store::open(&dir.path().join("config.db").display().to_string()).await.unwrap();
    let config = |secret: &str, mapping: &str, ids: &str, scopes: &str| {
        format!(
            r#"
[server]
public_url = "{ISSUER}"
[aws]
region = "{REGION}"
account_id = "{ACCOUNT}"
[[user_pools]]
id = "{POOL}"
[[user_pools.identity_providers]]
name = "Okta"
type = "oidc"
client_id = "rp"
client_secret = "{secret}"
authorize_scopes = "openid"
oidc_issuer = "https://issuer.example.com"
attribute_mapping = {{ {mapping} }}
idp_identifiers = [{ids}]
[[user_pools.resource_servers]]
identifier = "orders"
name = "orders"
scopes = [{scopes}]
"#
        )
    };
    let provision = |text: String| {
        let store = store.clone();
        async move {
            let cfg = Config::from_toml(&text).unwrap();
            let engine = Engine::open(cfg, store, Arc::new(SystemClock) as Arc<dyn Clock>, Some(master()))
                .await
                .expect("engine");
            engine.provision().await.expect("provision");
            engine
        }
    };
    let read = r#"{ name = "read", description = "read orders" }"#;
    let first = provision(config("s1", r#"email = "mail""#, r#""a.example.com""#, read)).await;
    let before = first.user_pools().provider(POOL, "Okta").await.unwrap().unwrap();

    // The same configuration again changes nothing.
    let again = provision(config("s1", r#"email = "mail""#, r#""a.example.com""#, read)).await;
    let same = again.user_pools().provider(POOL, "Okta").await.unwrap().unwrap();
    assert_eq!((same.updated_at, &same.details), (before.updated_at, &before.details));

    // Changed entries are made as declared: secret, mapping, identifiers, scopes.
    let write = r#"{ name = "write", description = "write orders" }"#;
    let changed =
        provision(config("s2", r#"email = "email", name = "cn""#, r#""b.example.com""#, &format!("{read}, {write}")))
            .await;
    let pools = changed.user_pools();
    let ctx = RequestContext::new(EVENT_SOURCE);
    let d = pools
        .user_pool_action(
            "DescribeIdentityProvider",
            &json!({ "UserPoolId": POOL, "ProviderName": "Okta" }),
            Some(&admin()),
            &ctx,
        )
        .await
        .unwrap();
    let p = &d["IdentityProvider"];
    assert_eq!(p["ProviderDetails"]["client_secret"], "s2");
    assert_eq!(p["AttributeMapping"], json!({ "email": "email", "name": "cn" }));
    assert_eq!(p["IdpIdentifiers"], json!(["b.example.com"]));
    let by_old = pools
        .user_pool_action(
            "GetIdentityProviderByIdentifier",
            &json!({ "UserPoolId": POOL, "IdpIdentifier": "a.example.com" }),
            Some(&admin()),
            &ctx,
        )
        .await;
    assert_eq!(by_old.unwrap_err().reason, Reason::NotFound);
    assert_eq!(
        pools.resource_server_scopes(POOL, "orders").await.unwrap(),
        Some(vec!["read".to_string(), "write".to_string()])
    );
    let store: Arc<dyn Store> = store.clone();
    assert_no_stray_claims(&store).await;
}

// --- races: one winner, on SQLite and on PostgreSQL ---

const RACERS: usize = 8;

fn master() -> tokenbridge_core::secrets::MasterKey {
    use base64::Engine as _;
    tokenbridge_core::secrets::MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([9u8; 32]))
        .unwrap()
}

/// Two engines over one store, as two instances of the server.
async fn two_engines(store: Arc<dyn Store>) -> [Arc<Engine>; 2] {
    let text = format!(
        "[server]\npublic_url = \"{ISSUER}\"\n[aws]\nregion = \"{REGION}\"\naccount_id = \"{ACCOUNT}\"\n[[user_pools]]\nid = \"{POOL}\"\n"
    );
    let mut out = Vec::new();
    for _ in 0..2 {
        let cfg = Config::from_toml(&text).unwrap();
        let engine = Engine::open(cfg, store.clone(), Arc::new(SystemClock) as Arc<dyn Clock>, Some(master()))
            .await
            .expect("engine");
        engine.provision().await.expect("provision");
        out.push(engine);
    }
    [out[0].clone(), out[1].clone()]
}

async fn race(
    engines: &[Arc<Engine>; 2],
    action: &'static str,
    body: Value,
) -> Vec<Result<Value, tokenbridge_core::Refusal>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (engine, barrier, body) = (engines[i % 2].clone(), barrier.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let ctx = RequestContext::new(EVENT_SOURCE);
            barrier.wait().await;
            engine.user_pools().user_pool_action(action, &body, Some(&admin()), &ctx).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn racing_creates_and_links(store: Arc<dyn Store>) {
    let engines = two_engines(store.clone()).await;
    let results = race(&engines, "CreateIdentityProvider", oidc("Okta", oidc_details())).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "one create wins: {results:?}");
    assert!(
        results.iter().filter_map(|r| r.as_ref().err()).all(|e| e.reason == Reason::DuplicateProvider),
        "{results:?}"
    );
    // With a master key the secret is stored sealed, and described in clear.
    let stored = engines[1].user_pools().provider(POOL, "Okta").await.unwrap().expect("stored");
    assert!(stored.details["client_secret"].starts_with("sealed:"));
    assert!(!stored.details["client_secret"].contains("rp-secret-value"));
    let won = results.into_iter().find_map(Result::ok).unwrap();
    assert_eq!(won["IdentityProvider"]["ProviderDetails"]["client_secret"], "rp-secret-value");

    // One source identity, racing to link to two users: it ends linked to exactly one, and every
    // racer that was told "linked" was linked to that one.
    let pools = engines[0].user_pools();
    for name in ["racer-a", "racer-b"] {
        let user = engines[0]
            .directory()
            .create_user(tokenbridge_core::directory::NewUser {
                username: name.into(),
                email: Some(format!("{name}@example.com")),
                email_verified: true,
                password: None,
                groups: vec![],
                attributes: Default::default(),
                enabled: true,
            })
            .await
            .unwrap();
        pools.add_pool_member(POOL, &user, None).await.unwrap();
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (engine, barrier) = (engines[i % 2].clone(), barrier.clone());
        let who = if i % 2 == 0 { "racer-a" } else { "racer-b" };
        tasks.push(tokio::spawn(async move {
            let ctx = RequestContext::new(EVENT_SOURCE);
            barrier.wait().await;
            (
                who,
                engine
                    .user_pools()
                    .user_pool_action("AdminLinkProviderForUser", &link(who, "sub-race"), Some(&admin()), &ctx)
                    .await,
            )
        }));
    }
    let mut winners = std::collections::BTreeSet::new();
    for t in tasks {
        let (who, r) = t.await.unwrap();
        match r {
            Ok(_) => {
                winners.insert(who);
            }
            Err(e) => assert_eq!(e.reason, Reason::InvalidParameter),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let linked = pools.linked_user(POOL, "Okta", "sub-race").await.unwrap().expect("linked");
    assert!(winners.contains(linked.username.as_str()));

    racing_identifier_claims(&engines, &store).await;

    let results =
        race(&engines, "CreateResourceServer", json!({ "UserPoolId": POOL, "Identifier": "orders", "Name": "orders" }))
            .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
}

/// Every identifier claim in the store names a provider whose record lists it: none is left
/// behind by a lost race or a deletion.
async fn assert_no_stray_claims(store: &Arc<dyn Store>) {
    let claims = store.list_documents("pool_idp_identifier", Some(POOL), None, 1000).await.unwrap();
    for c in claims {
        let identifier = c.id.strip_prefix(&format!("{POOL}/")).expect("a claim of the pool").to_string();
        let holder = c.body["provider"].as_str().expect("a holder").to_string();
        let record = store.get_document("pool_idp", &format!("{POOL}/{holder}")).await.unwrap();
        let lists = record.is_some_and(|r| r.body["idp_identifiers"].as_array().unwrap().contains(&json!(identifier)));
        assert!(lists, "claim of {identifier} by {holder} is stray");
    }
}

/// Providers racing to claim one IdpIdentifier: exactly one claims it, the others are refused and
/// leave nothing behind; racing creates of one name with different identifiers leave only the
/// winner's claims; racing updates adding one identifier to two providers give it to one.
async fn racing_identifier_claims(engines: &[Arc<Engine>; 2], store: &Arc<dyn Store>) {
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (engine, barrier) = (engines[i % 2].clone(), barrier.clone());
        let mut body = oidc(&format!("Claim{i}"), oidc_details());
        body["IdpIdentifiers"] = json!(["shared.example.com", format!("own{i}.example.com")]);
        tasks.push(tokio::spawn(async move {
            let ctx = RequestContext::new(EVENT_SOURCE);
            barrier.wait().await;
            (i, engine.user_pools().user_pool_action("CreateIdentityProvider", &body, Some(&admin()), &ctx).await)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (i, Ok(_)) => winners.push(i),
            (_, Err(e)) => assert_eq!(e.reason, Reason::DuplicateProvider, "{e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let pools = engines[0].user_pools();
    let by_id = |id: &str| json!({ "UserPoolId": POOL, "IdpIdentifier": id });
    let ctx = RequestContext::new(EVENT_SOURCE);
    let found = pools
        .user_pool_action("GetIdentityProviderByIdentifier", &by_id("shared.example.com"), Some(&admin()), &ctx)
        .await
        .unwrap();
    assert_eq!(found["IdentityProvider"]["ProviderName"], format!("Claim{}", winners[0]));
    for i in (0..RACERS).filter(|i| *i != winners[0]) {
        assert!(pools.provider(POOL, &format!("Claim{i}")).await.unwrap().is_none());
        let own = format!("own{i}.example.com");
        let e = pools.user_pool_action("GetIdentityProviderByIdentifier", &by_id(&own), Some(&admin()), &ctx).await;
        assert_eq!(e.unwrap_err().reason, Reason::NotFound);
    }
    assert_no_stray_claims(store).await;

    // One name, different identifiers: one record, and only its identifiers are claimed.
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (engine, barrier) = (engines[i % 2].clone(), barrier.clone());
        let mut body = oidc("OneName", oidc_details());
        body["IdpIdentifiers"] = json!([format!("name{i}.example.com")]);
        tasks.push(tokio::spawn(async move {
            let ctx = RequestContext::new(EVENT_SOURCE);
            barrier.wait().await;
            engine.user_pools().user_pool_action("CreateIdentityProvider", &body, Some(&admin()), &ctx).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => assert_eq!(e.reason, Reason::DuplicateProvider),
        }
    }
    assert_eq!(won, 1);
    assert_no_stray_claims(store).await;

    // Two providers racing to add one identifier: it ends with exactly one of them.
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (engine, barrier) = (engines[i % 2].clone(), barrier.clone());
        let name = if i & 1 == 0 { format!("Claim{}", winners[0]) } else { "OneName".to_string() };
        let body = json!({ "UserPoolId": POOL, "ProviderName": name, "IdpIdentifiers": ["contested.example.com"] });
        tasks.push(tokio::spawn(async move {
            let ctx = RequestContext::new(EVENT_SOURCE);
            barrier.wait().await;
            let r = engine.user_pools().user_pool_action("UpdateIdentityProvider", &body, Some(&admin()), &ctx).await;
            (name, r)
        }));
    }
    let mut holders = std::collections::BTreeSet::new();
    for t in tasks {
        match t.await.unwrap() {
            (name, Ok(_)) => {
                holders.insert(name);
            }
            (_, Err(e)) => assert_eq!(e.reason, Reason::DuplicateProvider),
        }
    }
    assert_eq!(holders.len(), 1, "{holders:?}");
    let found = pools
        .user_pool_action("GetIdentityProviderByIdentifier", &by_id("contested.example.com"), Some(&admin()), &ctx)
        .await
        .unwrap();
    assert!(holders.contains(found["IdentityProvider"]["ProviderName"].as_str().unwrap()));
    assert_no_stray_claims(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_and_links_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = tokenbridge_store::open(&dir.path().join("race.db").display().to_string()).await.unwrap();
    racing_creates_and_links(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_and_links_on_postgresql() {
    let schema = tokenbridge_store::conformance::TestSchema::create("racing_creates_and_links_on_postgresql").await;
    let store = tokenbridge_store::open(&schema.url).await.unwrap();
    racing_creates_and_links(store).await;
}
