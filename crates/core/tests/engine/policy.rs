//! IAM policy decisions on live requests: each GraphQL field a role session asks for is
//! evaluated against the role's inline policies and the session policy (allow, implicit deny,
//! explicit deny, conditions on the request's context), and the record explains the decision.
//! The same evaluation answers `policy simulate` before anything is deployed.

use crate::support::*;
use serde_json::{json, Value};
use tokenbridge_core::appsync::{AuthorizationType, GraphqlAllowed, GraphqlCaller, GraphqlOperation, OperationKind};
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::iam::SessionClaims;

const API: &str = "engineapi";

fn api_arn(api: &str) -> String {
    format!("arn:aws:appsync:{REGION}:{ACCOUNT}:apis/{api}")
}

fn field_arn(type_name: &str, field: &str) -> String {
    format!("{}/types/{type_name}/fields/{field}", api_arn(API))
}

fn allow_graphql(resource: &str) -> Value {
    json!({ "Sid": "AllowGraphQL", "Effect": "Allow", "Action": "appsync:GraphQL", "Resource": resource })
}

fn every_field() -> Value {
    policy(json!([allow_graphql(&format!("{}/*", api_arn(API)))]))
}

fn operation(kind: OperationKind, fields: &[&str]) -> GraphqlOperation {
    GraphqlOperation {
        api_id: API.into(),
        kind,
        name: None,
        fields: fields.iter().map(|f| (kind.type_name().to_string(), f.to_string())).collect(),
    }
}

fn query(fields: &[&str]) -> GraphqlOperation {
    operation(OperationKind::Query, fields)
}

fn mutation(fields: &[&str]) -> GraphqlOperation {
    operation(OperationKind::Mutation, fields)
}

fn session(claims: &SessionClaims) -> GraphqlCaller {
    GraphqlCaller::Session(Box::new(claims.clone()))
}

async fn decide_at(
    b: &Broker,
    caller: &GraphqlCaller,
    op: &GraphqlOperation,
    ctx: RequestContext,
) -> Called<GraphqlAllowed> {
    let result = b.engine.appsync().authorize_graphql(caller, Ok(op), &ctx).await;
    Called { result, request_id: ctx.request_id }
}

async fn decide(b: &Broker, caller: &GraphqlCaller, op: &GraphqlOperation) -> Called<GraphqlAllowed> {
    decide_at(b, caller, op, request_to(tokenbridge_core::appsync::EVENT_SOURCE)).await
}

#[tokio::test]
async fn a_field_the_roles_policy_allows_is_allowed_and_recorded() {
    let b = Broker::open().await;
    let mut allow = allow_graphql(&format!("{}/*", api_arn(API)));
    // A condition on the request's context: the caller's address.
    allow["Condition"] = json!({ "IpAddress": { "aws:SourceIp": "192.0.2.0/24" } });
    let claims = b.assumed_session("GraphqlUser", &[("GraphQL", policy(json!([allow])))], None).await;

    let called = decide(&b, &session(&claims), &query(&["listItems"])).await;
    let rec = b.record(&called).await;
    let allowed = called.ok();
    assert_eq!(allowed.authorization_type, AuthorizationType::AwsIam);
    assert!(allowed.owner.ends_with(":alice-session"), "{}", allowed.owner);
    assert!(rec.error_code.is_none());
    assert_eq!(rec.event_name, "GraphQL");
    assert_eq!(rec.record["resources"][0]["ARN"], field_arn("Query", "listItems"));
    assert_eq!(rec.record["userIdentity"]["type"], "AssumedRole");
    assert_eq!(rec.record["additionalEventData"]["policyEvaluations"][0]["decision"], "Allow");
    let trail = trail_lines(&rec).join("\n");
    assert!(
        trail.contains("Query.listItems: pass: allowed by statement \"AllowGraphQL\" of policy \"GraphQL\""),
        "{trail}"
    );
    assert!(trail.contains("aws:sourceip=192.0.2.10"), "{trail}");

    // From another address the condition does not hold: nothing allows the field.
    let elsewhere =
        RequestContext { source_ip: "198.51.100.7".into(), ..request_to(tokenbridge_core::appsync::EVENT_SOURCE) };
    let e = b
        .refused(decide_at(&b, &session(&claims), &query(&["listItems"]), elsewhere).await, "policy \"GraphQL\"", "")
        .await;
    assert_eq!(reason(&e), Reason::AccessDenied);
}

#[tokio::test]
async fn a_resource_no_statement_covers_is_denied_implicitly_and_the_record_explains_it() {
    let b = Broker::open().await;
    let wrong = format!("{}/*", api_arn("abc"));
    let claims =
        b.assumed_session("GraphqlMisconfigured", &[("GraphQL", policy(json!([allow_graphql(&wrong)])))], None).await;
    let called = decide(&b, &session(&claims), &query(&["listItems"])).await;
    let request_id = called.request_id.clone();
    let expected = format!(
        "statement \"AllowGraphQL\" matches action appsync:GraphQL but its Resource {wrong} does not match {}",
        field_arn("Query", "listItems")
    );
    let e = b.refused(called, "policy \"GraphQL\"", &expected).await;
    assert_eq!(failed_detail(&e), expected);
    assert_eq!(e.message, "Not Authorized to access listItems on type Query");
    let rec = &b.records(&request_id).await[0];
    assert_eq!(rec.record["additionalEventData"]["policyEvaluations"][0]["decision"], "ImplicitDeny");
    // The whole chain: the session, the role, and the trust statement that issued it.
    let trail = trail_lines(rec).join("\n");
    assert!(trail.contains(&format!("temporary credentials {}", claims.access_key_id)), "{trail}");
    assert!(trail.contains("policies GraphQL"), "{trail}");
    assert!(trail.contains("allowed by statement \"PoolUsers\" of policy \"trust policy\""), "{trail}");
}

#[tokio::test]
async fn an_explicit_deny_refuses_its_field_whatever_else_allows() {
    let b = Broker::open().await;
    let deny = json!({ "Sid": "NoDeletes", "Effect": "Deny", "Action": "appsync:GraphQL",
        "Resource": field_arn("Mutation", "deleteItem") });
    let all = allow_graphql(&format!("{}/*", api_arn(API)));
    let claims = b.assumed_session("GraphqlNoDeletes", &[("GraphQL", policy(json!([all, deny])))], None).await;
    decide(&b, &session(&claims), &mutation(&["addItem"])).await.ok();
    let called = decide(&b, &session(&claims), &mutation(&["addItem", "deleteItem"])).await;
    let request_id = called.request_id.clone();
    let e = b.refused(called, "policy \"GraphQL\"", "NoDeletes").await;
    assert_eq!(e.message, "Not Authorized to access deleteItem on type Mutation");
    let rec = &b.records(&request_id).await[0];
    let evaluations = &rec.record["additionalEventData"]["policyEvaluations"];
    assert_eq!(evaluations[0]["decision"], "Allow");
    assert_eq!(evaluations[1]["decision"], "ExplicitDeny");
}

#[tokio::test]
async fn a_session_policy_limits_what_the_role_allows() {
    let b = Broker::open().await;
    let only_queries = policy(json!([allow_graphql(&format!("{}/types/Query/fields/*", api_arn(API)))]));
    let claims = b.assumed_session("GraphqlUser", &[("GraphQL", every_field())], Some(&only_queries)).await;
    assert!(claims.session_policy.is_some());
    decide(&b, &session(&claims), &query(&["listItems"])).await.ok();
    let e = b.refused(decide(&b, &session(&claims), &mutation(&["addItem"])).await, "session policy", "").await;
    assert_eq!(e.message, "Not Authorized to access addItem on type Mutation");
}

#[tokio::test]
async fn expired_sessions_admin_credentials_and_changed_roles_are_refused() {
    let b = Broker::open().await;
    let claims = b.assumed_session("GraphqlUser", &[("GraphQL", every_field())], None).await;
    decide(&b, &session(&claims), &query(&["listItems"])).await.ok();

    let admin = GraphqlCaller::Admin { access_key_id: "AKIAENGINETESTS00001".into() };
    let e = b
        .refused(decide(&b, &admin, &query(&["listItems"])).await, "role", "admin credentials are not a role session")
        .await;
    assert_eq!(reason(&e), Reason::AccessDenied);

    b.clock.advance(3601);
    let e =
        b.refused(decide(&b, &session(&claims), &query(&["listItems"])).await, "session", "the session expired").await;
    assert_eq!(e.message, "The security token included in the request is expired");

    // The role deleted and made again is another role: the old sessions end with it.
    b.clock.advance(-3601);
    b.iam("DeleteRolePolicy", &[("RoleName", "GraphqlUser"), ("PolicyName", "GraphQL")]).await.ok();
    b.iam("DeleteRole", &[("RoleName", "GraphqlUser")]).await.ok();
    let trust = web_identity_trust("PoolUsers", &pool_issuer_host(), POOL_CLIENT);
    b.role("GraphqlUser", &trust, &[("GraphQL", every_field())]).await;
    b.refused(decide(&b, &session(&claims), &query(&["listItems"])).await, "role", "deleted and created again").await;

    let nobody = GraphqlCaller::Unauthenticated {
        check: "signature".into(),
        detail: "no Authorization header".into(),
        message: "Missing authorization".into(),
    };
    b.refused(decide(&b, &nobody, &query(&["listItems"])).await, "signature", "no Authorization header").await;
}

#[tokio::test]
async fn user_pool_tokens_may_call_every_field_until_signed_out() {
    let b = Broker::open().await;
    let tokens = b.pool_sign_in("bob").await;
    let access = tokens["AccessToken"].as_str().unwrap().to_string();
    let caller = GraphqlCaller::UserPoolToken(format!("Bearer {access}"));
    let allowed = decide(&b, &caller, &mutation(&["addItem", "deleteItem"])).await.ok();
    assert_eq!((allowed.authorization_type, allowed.owner.as_str()), (AuthorizationType::UserPools, "bob"));
    b.pool("GlobalSignOut", json!({ "AccessToken": access })).await.ok();
    b.refused(decide(&b, &caller, &query(&["listItems"])).await, "revocation", "the token's session was revoked").await;
    // This system's OAuth tokens are not a user pool's.
    let oauth = GraphqlCaller::UserPoolToken(b.sign_in("bob").await.access_token);
    b.refused(decide(&b, &oauth, &query(&["listItems"])).await, "issuer", "is not a user pool of this server").await;
}

#[tokio::test]
async fn simulation_gives_the_live_decision() {
    let b = Broker::open().await;
    let deny = json!({ "Sid": "NoDeletes", "Effect": "Deny", "Action": "appsync:GraphQL",
        "Resource": field_arn("Mutation", "deleteItem") });
    let all = allow_graphql(&format!("{}/*", api_arn(API)));
    b.role(
        "Simulated",
        &web_identity_trust("PoolUsers", &pool_issuer_host(), POOL_CLIENT),
        &[("GraphQL", policy(json!([all, deny])))],
    )
    .await;
    let e = &b.engine;
    let s = e
        .iam()
        .simulate_policy("Simulated", "appsync:GraphQL", &field_arn("Query", "listItems"), &[], None)
        .await
        .unwrap();
    assert!(s.allowed, "{}", s.explanation);
    let s = e
        .iam()
        .simulate_policy("Simulated", "appsync:GraphQL", &field_arn("Mutation", "deleteItem"), &[], None)
        .await
        .unwrap();
    assert!(!s.allowed);
    assert!(s.explanation.contains("NoDeletes"), "{}", s.explanation);
    assert_eq!(s.role_arn, b.role_arn("Simulated"));
    let s = e.iam().simulate_policy("Simulated", "s3:GetObject", "arn:aws:s3:::bucket/key", &[], None).await.unwrap();
    assert!(!s.allowed, "nothing allows another action");
}
