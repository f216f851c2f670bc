//! Which role a caller gets: an identity pool's authenticated and unauthenticated roles, its role
//! mappings (rules on claims, the token's preferred role, Deny when nothing matches), and the
//! trust policy that decides, for the enhanced flow and for STS AssumeRoleWithWebIdentity.

use crate::support::*;
use serde_json::{json, Value};

const INVALID_CONFIGURATION: &str = "Invalid identity pool configuration. Check assigned IAM roles for this pool.";

fn read_policy() -> Value {
    policy(json!([{ "Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" }]))
}

/// An identity pool that takes the user pool's public client.
async fn identity_pool(b: &Broker, name: &str, allow_unauthenticated: bool) -> String {
    let v = b
        .identity_admin(
            "CreateIdentityPool",
            json!({
                "IdentityPoolName": name,
                "AllowUnauthenticatedIdentities": allow_unauthenticated,
                "CognitoIdentityProviders": [
                    { "ProviderName": pool_provider(), "ClientId": POOL_CLIENT, "ServerSideTokenCheck": true }
                ],
            }),
        )
        .await;
    v["IdentityPoolId"].as_str().expect("IdentityPoolId").to_string()
}

/// A role trusting identities of the identity pool `aud` whose `amr` has `amr`.
async fn pool_role(b: &Broker, name: &str, aud: &str, amr: &str) -> String {
    b.role(name, &identity_pool_trust("TrustIdentityPool", aud, amr), &[("Read", read_policy())]).await
}

async fn set_roles(b: &Broker, pool: &str, roles: Value, mappings: Value) {
    b.identity_admin(
        "SetIdentityPoolRoles",
        json!({ "IdentityPoolId": pool, "Roles": roles, "RoleMappings": mappings }),
    )
    .await;
}

fn logins(id_token: &str) -> Value {
    json!({ pool_provider(): id_token })
}

async fn id_token(b: &Broker, username: &str) -> String {
    b.pool_sign_in(username).await["IdToken"].as_str().expect("IdToken").to_string()
}

async fn identity_of(b: &Broker, pool: &str, token: &str) -> String {
    let r = b.identity("GetId", json!({ "IdentityPoolId": pool, "Logins": logins(token) })).await.ok();
    r["IdentityId"].as_str().expect("IdentityId").to_string()
}

async fn credentials(b: &Broker, identity: &str, logins: Value) -> Called<Value> {
    b.identity("GetCredentialsForIdentity", json!({ "IdentityId": identity, "Logins": logins })).await
}

/// The role the credentials of a GetCredentialsForIdentity answer are for.
async fn role_of(b: &Broker, called: Called<Value>) -> String {
    b.session_of(&called.ok()["Credentials"]).await.role_arn
}

#[tokio::test]
async fn the_enhanced_flow_issues_credentials_of_the_authenticated_role() {
    let b = Broker::open().await;
    let pool = identity_pool(&b, "enhanced", false).await;
    let role = pool_role(&b, "idpool-authenticated", &pool, "authenticated").await;
    set_roles(&b, &pool, json!({ "authenticated": role }), json!({})).await;
    let alice = id_token(&b, "alice").await;
    let identity = identity_of(&b, &pool, &alice).await;

    let called = credentials(&b, &identity, logins(&alice)).await;
    let request_id = called.request_id.clone();
    let answer = called.ok();
    assert_eq!(answer["IdentityId"], identity);
    let session = b.session_of(&answer["Credentials"]).await;
    assert_eq!(session.role_arn, role);
    assert_eq!(session.session_name, "CognitoIdentityCredentials");
    assert_eq!(session.identity_id.as_deref(), Some(identity.as_str()));
    assert_eq!(session.provider, "cognito-identity.amazonaws.com");
    assert_eq!(session.expires_at, b.now() + 3600);
    assert!(session.access_key_id.starts_with("ASIA"));

    // Two records: the call's own, and the AssumeRoleWithWebIdentity record AWS writes for it,
    // whose trail names the trust statement that admitted the identity.
    let records = b.records(&request_id).await;
    let sts = records.iter().find(|r| r.event_name == "AssumeRoleWithWebIdentity").expect("the STS record");
    assert_eq!(sts.record["eventSource"], "sts.amazonaws.com");
    assert!(sts.error_code.is_none());
    assert!(trail_lines(sts).iter().any(|l| l.starts_with("trust: pass") && l.contains("TrustIdentityPool")));
    assert!(records.iter().any(|r| r.event_name == "GetCredentialsForIdentity"));

    // An identity with logins gets no credentials without one of them, nor with another user's.
    let e = b.refused(credentials(&b, &identity, json!({})).await, "identity", "no login was presented").await;
    assert_eq!(message(&e), format!("Access to Identity '{identity}' is forbidden."));
    let bob = id_token(&b, "bob").await;
    let e = b.refused(credentials(&b, &identity, logins(&bob)).await, "identity", "").await;
    assert!(message(&e).starts_with("Logins don't match."), "{}", message(&e));
}

#[tokio::test]
async fn rules_and_the_tokens_preferred_role_choose_the_role() {
    let b = Broker::open().await;
    let pool = identity_pool(&b, "mapped", false).await;
    let default = pool_role(&b, "idpool-default", &pool, "authenticated").await;
    let admins = pool_role(&b, "idpool-admins", &pool, "authenticated").await;
    let rules = |resolution: &str| {
        json!({ format!("{}:{POOL_CLIENT}", pool_provider()): {
            "Type": "Rules", "AmbiguousRoleResolution": resolution,
            "RulesConfiguration": { "Rules": [
                { "Claim": "cognito:groups", "MatchType": "Contains", "Value": "admins", "RoleARN": admins }
            ] }
        }})
    };
    set_roles(&b, &pool, json!({ "authenticated": default }), rules("AuthenticatedRole")).await;
    // alice is in admins: the rule's role; bob is not: the authenticated role.
    let alice = id_token(&b, "alice").await;
    let alice_id = identity_of(&b, &pool, &alice).await;
    let called = credentials(&b, &alice_id, logins(&alice)).await;
    let records = b.records(&called.request_id).await;
    assert_eq!(role_of(&b, called).await, admins);
    let own = records.iter().find(|r| r.event_name == "GetCredentialsForIdentity").unwrap();
    assert!(trail_lines(own).iter().any(|l| l.contains("rule 1 (cognito:groups Contains")), "{:?}", trail_lines(own));
    let bob = id_token(&b, "bob").await;
    let bob_id = identity_of(&b, &pool, &bob).await;
    assert_eq!(role_of(&b, credentials(&b, &bob_id, logins(&bob)).await).await, default);

    // With Deny, no match is a refusal.
    set_roles(&b, &pool, json!({ "authenticated": default }), rules("Deny")).await;
    let e = b
        .refused(credentials(&b, &bob_id, logins(&bob)).await, "role mapping", "AmbiguousRoleResolution is Deny")
        .await;
    assert_eq!(
        (reason(&e), message(&e).as_str()),
        (Reason::NotAuthorized, "The ambiguous role mapping rules denied this request.")
    );
    assert_eq!(role_of(&b, credentials(&b, &alice_id, logins(&alice)).await).await, admins);

    // Token: the role of the user's group with the best precedence (`cognito:preferred_role`).
    let ops = pool_role(&b, "idpool-ops", &pool, "authenticated").await;
    b.pool_admin("CreateGroup", json!({ "UserPoolId": POOL, "GroupName": "ops", "Precedence": 1, "RoleArn": ops }))
        .await;
    b.pool_admin("AdminAddUserToGroup", json!({ "UserPoolId": POOL, "GroupName": "ops", "Username": "alice" })).await;
    let token_mapping = json!({ pool_provider(): { "Type": "Token", "AmbiguousRoleResolution": "AuthenticatedRole" } });
    set_roles(&b, &pool, json!({ "authenticated": default }), token_mapping).await;
    let alice = id_token(&b, "alice").await;
    assert_eq!(role_of(&b, credentials(&b, &alice_id, logins(&alice)).await).await, ops);
    // bob's token names no role: the authenticated role.
    assert_eq!(role_of(&b, credentials(&b, &bob_id, logins(&bob)).await).await, default);
}

#[tokio::test]
async fn a_role_that_does_not_trust_the_pool_or_does_not_exist_is_a_configuration_error() {
    let b = Broker::open().await;
    let pool = identity_pool(&b, "misconfigured", false).await;
    let elsewhere = "us-east-1:11111111-2222-4333-8444-555555555555";
    let role = pool_role(&b, "idpool-wrong-audience", elsewhere, "authenticated").await;
    set_roles(&b, &pool, json!({ "authenticated": role }), json!({})).await;
    let alice = id_token(&b, "alice").await;
    let identity = identity_of(&b, &pool, &alice).await;
    let called = credentials(&b, &identity, logins(&alice)).await;
    let request_id = called.request_id.clone();
    let e = b.refused(called, "trust", "does not admit this identity pool").await;
    assert_eq!((reason(&e), message(&e).as_str()), (Reason::InvalidPoolConfiguration, INVALID_CONFIGURATION));
    for needle in ["idpool-wrong-audience", "TrustIdentityPool", "cognito-identity.amazonaws.com:aud", elsewhere, &pool]
    {
        assert!(failed_detail(&e).contains(needle), "{needle:?} not in {}", failed_detail(&e));
    }
    // The STS record of the refusal, as AWS writes it.
    let records = b.records(&request_id).await;
    let sts = records.iter().find(|r| r.event_name == "AssumeRoleWithWebIdentity").expect("the STS record");
    assert_eq!(sts.error_code.as_deref(), Some(Reason::AccessDenied.name()));
    assert_eq!(recorded_failure(sts).0, "trust");

    set_roles(&b, &pool, json!({ "authenticated": b.role_arn("no-such-role") }), json!({})).await;
    let e = b.refused(credentials(&b, &identity, logins(&alice)).await, "role", "no-such-role does not exist").await;
    assert_eq!(message(&e), INVALID_CONFIGURATION);
}

#[tokio::test]
async fn unauthenticated_identities_get_the_unauthenticated_role_only() {
    let b = Broker::open().await;
    let open = identity_pool(&b, "open", true).await;
    let anon = b.identity("GetId", json!({ "IdentityPoolId": open })).await.ok();
    let anon = anon["IdentityId"].as_str().unwrap().to_string();
    b.refused(credentials(&b, &anon, json!({})).await, "role", "no unauthenticated role").await;

    let guest = pool_role(&b, "idpool-guest", &open, "unauthenticated").await;
    let member = pool_role(&b, "idpool-member", &open, "authenticated").await;
    set_roles(&b, &open, json!({ "authenticated": member, "unauthenticated": guest }), json!({})).await;
    let session = b.session_of(&credentials(&b, &anon, json!({})).await.ok()["Credentials"]).await;
    assert_eq!(session.role_arn, guest);
    assert_eq!(session.identity_id.as_deref(), Some(anon.as_str()));

    // A role for authenticated identities does not admit an unauthenticated one.
    set_roles(&b, &open, json!({ "unauthenticated": member }), json!({})).await;
    b.refused(credentials(&b, &anon, json!({})).await, "trust", "amr").await;

    // A pool without unauthenticated identities gives none.
    let closed = identity_pool(&b, "closed", false).await;
    let e = b.refused(b.identity("GetId", json!({ "IdentityPoolId": closed })).await, "unauthenticated", "").await;
    assert_eq!(message(&e), "Unauthenticated access is not supported for this identity pool.");
}

#[tokio::test]
async fn sts_admits_a_pool_token_by_the_roles_trust_policy() {
    let b = Broker::open().await;
    let provider = pool_issuer_host();
    let app = b.role("app", &web_identity_trust("PoolUsers", &provider, POOL_CLIENT), &[]).await;
    let other = b.role("other-app", &web_identity_trust("PoolUsers", &provider, "another-client"), &[]).await;
    let token = id_token(&b, "alice").await;

    let called = b.assume(&app, "web", &token, None).await;
    let rec = b.record(&called).await;
    let answer = called.ok();
    assert_eq!(answer["Provider"], provider);
    assert_eq!(answer["Audience"], POOL_CLIENT);
    assert_eq!(answer["AssumedRoleUser"]["Arn"], format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/web"));
    let session = b.session_of(&answer["Credentials"]).await;
    assert_eq!((session.role_arn.as_str(), session.session_name.as_str()), (app.as_str(), "web"));
    assert_eq!(session.expires_at, b.now() + 3600);
    assert_eq!(rec.event_name, "AssumeRoleWithWebIdentity");
    assert!(trail_lines(&rec).iter().any(|l| l.starts_with("trust: pass") && l.contains("PoolUsers")));
    assert!(!rec.record.to_string().contains(&token), "the record holds the web identity token");

    // Another audience: AccessDenied, and the trail names the condition.
    let e = b.refused(b.assume(&other, "web", &token, None).await, "trust", "another-client").await;
    assert_eq!(
        (reason(&e), message(&e).as_str()),
        (Reason::AccessDenied, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    );
    // An unknown role is the same AccessDenied to the caller.
    let e = b.refused(b.assume(&b.role_arn("none"), "web", &token, None).await, "role", "no role").await;
    assert_eq!(reason(&e), Reason::AccessDenied);
    // Not a token, a tampered one, an expired one.
    let e = b.refused(b.assume(&app, "web", "not-a-jwt", None).await, "format", "not a JWT").await;
    assert_eq!(reason(&e), Reason::InvalidIdentityToken);
    b.refused(b.assume(&app, "web", &flip_signature_byte(&token), None).await, "signature", "").await;
    b.clock.advance(3601);
    let e = b.refused(b.assume(&app, "web", &token, None).await, "expiry", "expired").await;
    assert_eq!(reason(&e), Reason::ExpiredToken);
}

#[tokio::test]
async fn a_signed_out_users_pool_token_assumes_nothing() {
    let b = Broker::open().await;
    let app = b.role("app", &web_identity_trust("PoolUsers", &pool_issuer_host(), POOL_CLIENT), &[]).await;
    let tokens = b.pool_sign_in("bob").await;
    b.pool("GlobalSignOut", json!({ "AccessToken": tokens["AccessToken"] })).await.ok();
    let token = tokens["IdToken"].as_str().unwrap();
    b.refused(b.assume(&app, "web", token, None).await, "session", "signed out or revoked").await;
}
