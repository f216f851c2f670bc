//! Audit or withhold: every answer that hands out a token or credentials leaves only with its
//! audit record; when the record cannot be written the answer is withheld and the caller told to
//! retry. A refusal is returned whether or not its record could be written, and every record of
//! a refusal names its failing check without holding what the caller presented.

use crate::support::*;
use serde_json::json;
use tokenbridge_core::appsync::{GraphqlCaller, GraphqlOperation, OperationKind};

/// What every door says of an answer withheld because its record could not be written.
const WITHHELD: &str = "the audit record could not be written, so the answer is withheld; retry";

#[tokio::test]
async fn an_exchange_whose_record_cannot_be_written_hands_out_no_tokens() {
    let b = Broker::open().await;
    b.sign_in("alice").await;
    b.store.fail_audit(true);
    let up = b.upstream_token("alice@example.com");
    let called = b.exchange(b.exchange_request(&up)).await;
    let request_id = called.request_id.clone();
    let e = called.err();
    assert_eq!(reason(&e), Reason::Unavailable);
    assert_eq!(message(&e), WITHHELD);
    b.store.fail_audit(false);
    assert!(b.records(&request_id).await.is_empty(), "no record, no answer");
    // Written again, the next sign-in answers.
    b.sign_in("alice").await;
}

#[tokio::test]
async fn a_withheld_rotation_is_a_lost_response_the_reuse_grace_covers() {
    let b = Broker::open().await;
    let first = b.sign_in("alice").await;
    let rt1 = first.refresh_token.clone().unwrap();
    b.store.fail_audit(true);
    let e = b.refresh(&rt1).await.err();
    assert_eq!(reason(&e), Reason::Unavailable);
    b.store.fail_audit(false);
    // The rotation was stored, its answer never left: the client's retry gets new tokens.
    b.clock.advance(2);
    let retried = b.refresh(&rt1).await.ok();
    b.userinfo(&retried.access_token).await.ok();
}

#[tokio::test]
async fn a_pool_sign_in_whose_record_cannot_be_written_is_withheld() {
    let b = Broker::open().await;
    let body = json!({ "AuthFlow": "CUSTOM_AUTH", "ClientId": POOL_CLIENT, "AuthParameters": { "USERNAME": "erin" } });
    let challenge = b.pool("InitiateAuth", body).await.ok();
    let up = b.upstream_token("erin@example.com");
    b.store.fail_audit(true);
    let body = json!({ "ClientId": POOL_CLIENT, "ChallengeName": "CUSTOM_CHALLENGE", "Session": challenge["Session"],
        "ChallengeResponses": { "USERNAME": "erin", "ANSWER": up } });
    let e = b.pool("RespondToAuthChallenge", body).await.err();
    assert_eq!((reason(&e), message(&e).as_str()), (Reason::Unavailable, WITHHELD));
}

#[tokio::test]
async fn credentials_whose_record_cannot_be_written_are_withheld() {
    let b = Broker::open().await;
    let trust = web_identity_trust("PoolUsers", &pool_issuer_host(), POOL_CLIENT);
    let role = b.role("app", &trust, &[]).await;
    let token = b.pool_sign_in("alice").await["IdToken"].as_str().unwrap().to_string();
    b.store.fail_audit(true);
    let e = b.assume(&role, "web", &token, None).await.err();
    assert_eq!((reason(&e), message(&e).as_str()), (Reason::Unavailable, WITHHELD));

    // The enhanced flow too: its own record and the STS record it writes.
    b.store.fail_audit(false);
    let pool = b
        .identity_admin(
            "CreateIdentityPool",
            json!({ "IdentityPoolName": "withheld", "AllowUnauthenticatedIdentities": false,
                    "CognitoIdentityProviders": [{ "ProviderName": pool_provider(), "ClientId": POOL_CLIENT }] }),
        )
        .await["IdentityPoolId"]
        .as_str()
        .unwrap()
        .to_string();
    let role = b.role("idpool", &identity_pool_trust("TrustIdentityPool", &pool, "authenticated"), &[]).await;
    b.identity_admin("SetIdentityPoolRoles", json!({ "IdentityPoolId": pool, "Roles": { "authenticated": role } }))
        .await;
    let logins = json!({ pool_provider(): token });
    let identity = b.identity("GetId", json!({ "IdentityPoolId": pool, "Logins": logins })).await.ok();
    b.store.fail_audit(true);
    let body = json!({ "IdentityId": identity["IdentityId"], "Logins": logins });
    let e = b.identity("GetCredentialsForIdentity", body).await.err();
    assert_eq!(reason(&e), Reason::Unavailable);
    assert!(message(&e).contains("audit record could not be written"), "{}", message(&e));
}

#[tokio::test]
async fn an_allowed_request_whose_record_cannot_be_written_is_refused() {
    let b = Broker::open().await;
    let tokens = b.pool_sign_in("bob").await;
    let caller = GraphqlCaller::UserPoolToken(tokens["AccessToken"].as_str().unwrap().to_string());
    let op = GraphqlOperation {
        api_id: "engineapi".into(),
        kind: OperationKind::Query,
        name: None,
        fields: vec![("Query".into(), "listItems".into())],
    };
    let ctx = request_to(tokenbridge_core::appsync::EVENT_SOURCE);
    b.engine.appsync().authorize_graphql(&caller, Ok(&op), &ctx).await.expect("allowed");
    b.store.fail_audit(true);
    let e = b.engine.appsync().authorize_graphql(&caller, Ok(&op), &ctx).await.expect_err("withheld");
    assert_eq!(reason(&e), Reason::Unavailable);
}

#[tokio::test]
async fn a_refusal_is_returned_even_when_its_record_cannot_be_written() {
    let b = Broker::open().await;
    b.store.fail_audit(true);
    let bad = flip_signature_byte(&b.upstream_token("alice@example.com"));
    let e = b.exchange(b.exchange_request(&bad)).await.err();
    assert_eq!((reason(&e), failed_check(&e).as_str()), (Reason::InvalidGrant, "signature"));
    // Answers that hand out nothing new and are not recorded (UserInfo) still answer.
    b.store.fail_audit(false);
    let set = b.sign_in("alice").await;
    b.store.fail_audit(true);
    b.userinfo(&set.access_token).await.ok();
}

#[tokio::test]
async fn a_refusals_record_names_the_check_and_holds_nothing_presented() {
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    let mut req = b.exchange_request(&up);
    req.client = creds(WEB, Some("a-wrong-secret-value"));
    let called = b.exchange(req).await;
    let rec = b.record(&called).await;
    b.refused(called, "client", "does not match").await;
    assert_eq!(rec.event_name, "TokenExchange");
    assert_eq!(rec.error_code.as_deref(), Some(Reason::InvalidClient.name()));
    assert_eq!(recorded_failure(&rec), ("client".into(), "client secret for \"web\" does not match".into()));
    assert_eq!(rec.record["errorMessage"], "client secret for \"web\" does not match");
    assert_eq!(rec.record["eventSource"], OAUTH2);
    assert_eq!(rec.record["sourceIPAddress"], "192.0.2.10");
    let text = rec.record.to_string();
    assert!(!text.contains(&up) && !text.contains("a-wrong-secret-value"), "{text}");
    // The token is recorded by its label only.
    assert!(rec.record["requestParameters"]["subjectToken"].as_str().is_some_and(|l| !l.is_empty()));

    // A refusal after the user is known names them.
    let called = b.exchange(b.exchange_request(&up)).await;
    b.record(&called).await;
    let called = b.exchange(b.exchange_request(&up)).await;
    let rec = b.record(&called).await;
    b.refused(called, "one-time use", "already used").await;
    assert_eq!(rec.username.as_deref(), Some("alice"));
}

/// Reading the trail is an operation too: a reader gets only what it may see, and is not told
/// that more exists.
#[tokio::test]
async fn a_reader_of_the_trail_sees_only_its_own_records() {
    use tokenbridge_core::audit::AuditReader;
    use tokenbridge_core::model::AuditQuery;
    let b = Broker::open().await;
    let up = b.upstream_token("alice@example.com");
    let alices = b.exchange(b.exchange_request(&up)).await;
    let alice_request = alices.request_id.clone();
    alices.ok();
    let up = b.upstream_token("bob@example.com");
    let bobs = b.exchange(b.exchange_request(&up)).await;
    let bob_request = bobs.request_id.clone();
    bobs.ok();
    let alice = b.engine.directory().find("alice").await.unwrap().id;
    let ctx = request_to("admin.tokenbridge");
    let read = |request_id: &str, reader: AuditReader| {
        let q = AuditQuery { request_id: Some(request_id.into()), ..Default::default() };
        let ctx = ctx.clone();
        let engine = b.engine.clone();
        async move { engine.read_audit("ConsoleExplain", &ctx, &q, &reader).await.unwrap() }
    };
    assert_eq!(read(&alice_request, AuditReader::User(alice.clone())).await.len(), 1);
    assert!(
        read(&bob_request, AuditReader::User(alice.clone())).await.is_empty(),
        "bob's record is not alice's to see"
    );
    assert_eq!(read(&bob_request, AuditReader::Admin).await.len(), 1);
    // A read that answered is not itself recorded.
    assert!(b.records(&ctx.request_id).await.is_empty());
}
