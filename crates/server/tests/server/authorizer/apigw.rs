//! The API Gateway Lambda authorizer format: an allow policy for each event shape, and denials
//! with their status, reason and an audited request id.

use super::*;

#[tokio::test]
async fn apigw_events_of_each_shape_get_an_allow_policy() {
    let s = Server::demo().await;
    let at = access_token(&s.sign_in("alice").await);
    let sub = s.user_id("alice").await;

    // TOKEN.
    let r =
        apigw(&s, &json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {at}"), "methodArn": HELLO_ARN }))
            .await;
    r.assert_ok();
    assert_eq!(r.json["principalId"], sub.as_str());
    assert_eq!(
        r.json["policyDocument"],
        json!({
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": HELLO_ARN }],
        })
    );
    let c = &r.json["context"];
    assert_eq!(c["sub"], sub.as_str());
    assert_eq!(c["username"], "alice");
    assert_eq!(c["groups"], "admins,readers");
    assert_eq!(c["client_id"], DEMO_CLIENT);
    assert_eq!(c["scopes"], ALL_SCOPES);
    assert_eq!(c["token_kind"], "access");
    assert_eq!(c["route"], "demo hello");
    assert_eq!(c["request_id"], r.request_id());
    // Context values are strings, numbers or booleans only (what API Gateway passes on).
    assert!(c.as_object().unwrap().values().all(|v| !v.is_object() && !v.is_array()), "{c}");

    // REQUEST, REST API (payload 1.0 shape); header names in any case.
    let r = apigw(
        &s,
        &json!({
            "type": "REQUEST",
            "methodArn": ORDERS_ARN,
            "resource": "/demo/api/orders",
            "path": "/demo/api/orders",
            "httpMethod": "POST",
            "headers": { "authorization": format!("Bearer {at}"), "Host": "abc123.execute-api.us-east-1.amazonaws.com" },
            "queryStringParameters": null,
            "requestContext": { "identity": { "sourceIp": "203.0.113.9" }, "stage": "prod" },
        }),
    )
    .await;
    r.assert_ok();
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Allow", "{}", r.text);
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Resource"], ORDERS_ARN);
    assert_eq!(r.json["context"]["route"], "demo place order");
    assert_eq!(r.json["principalId"], sub.as_str());

    // HTTP API payload 2.0, the token from identitySource.
    let route_arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/$default/GET/demo/api/hello";
    let r = apigw(
        &s,
        &json!({
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": route_arn,
            "identitySource": [format!("Bearer {at}")],
            "routeKey": "GET /demo/api/hello",
            "rawPath": "/demo/api/hello",
            "rawQueryString": "lang=en",
            "headers": { "host": "abc123.execute-api.us-east-1.amazonaws.com" },
            "requestContext": { "http": { "method": "GET", "path": "/demo/api/hello", "sourceIp": "198.51.100.7" } },
        }),
    )
    .await;
    r.assert_ok();
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Allow", "{}", r.text);
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Resource"], route_arn);
    assert_eq!(r.json["context"]["username"], "alice");
    assert_eq!(r.json["context"]["route"], "demo hello");

    // A public route: allowed without a token, for an anonymous principal.
    let health_arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/healthz";
    let r = apigw(&s, &json!({ "type": "TOKEN", "authorizationToken": "", "methodArn": health_arn })).await;
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Allow", "{}", r.text);
    assert_eq!(r.json["principalId"], "anonymous");
}

#[tokio::test]
async fn apigw_denials_carry_status_reason_and_an_audited_request_id() {
    let s = Server::demo().await;
    let bob = access_token(&s.sign_in("bob").await);

    let r = apigw(
        &s,
        &json!({
            "type": "REQUEST",
            "methodArn": ORDERS_ARN,
            "path": "/demo/api/orders",
            "httpMethod": "POST",
            "headers": { "Authorization": format!("Bearer {bob}") },
            "requestContext": { "identity": { "sourceIp": "203.0.113.9" } },
        }),
    )
    .await;
    r.assert_ok();
    assert_eq!(r.json["principalId"], "anonymous");
    assert_eq!(
        r.json["policyDocument"]["Statement"][0],
        json!({ "Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ORDERS_ARN })
    );
    let c = &r.json["context"];
    assert_eq!(c["status"], 403);
    assert_eq!(c["error"], "insufficient_scope");
    assert_eq!(c["error_description"], "route \"demo place order\" needs one of groups admins; \"bob\" is in readers");
    assert_eq!(c["request_id"], r.request_id());
    assert!(!r.text.contains(&bob));
    let e = explained(&s, &r).await;
    assert_eq!((e.event_name.as_str(), e.event_source.as_str()), ("Authorize", "authorizer.tokenbridge"));
    assert_eq!(e.source_ip_address, "203.0.113.9", "the gateway's view of the client");
    assert_eq!(e.user_name.as_deref(), Some("bob"));
    assert_eq!(e.first_failure, Some(e.steps.len()));
    assert_eq!(e.steps[e.steps.len() - 1].check, "group");

    // No token: 401 (a Lambda would answer "Unauthorized").
    let r = apigw(&s, &json!({ "type": "TOKEN", "methodArn": HELLO_ARN })).await;
    r.assert_ok();
    assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert_eq!(r.json["context"]["status"], 401);
    assert_eq!(r.json["context"]["error"], "invalid_token");
    assert_eq!(explained(&s, &r).await.steps.last().unwrap().check, "token");
    // A bad token: 401 as well.
    let r = apigw(&s, &json!({ "type": "TOKEN", "authorizationToken": "Bearer x.y.z", "methodArn": HELLO_ARN })).await;
    assert_eq!(
        (r.json["context"]["status"].as_u64(), r.json["context"]["error"].as_str()),
        (Some(401), Some("invalid_token"))
    );
    // No route: 403.
    let arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/DELETE/demo/api/hello";
    let r =
        apigw(&s, &json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {bob}"), "methodArn": arn })).await;
    assert_eq!(r.json["context"]["status"], 403);
    assert_eq!(r.json["context"]["error_description"], "no route covers DELETE /demo/api/hello (default action: deny)");

    // Not an authorizer event at all: HTTP 400 with a message and the request id.
    for body in [
        "not json".to_string(),
        json!({ "type": "OTHER" }).to_string(),
        json!({ "type": "TOKEN", "authorizationToken": "Bearer x" }).to_string(),
        json!({ "type": "TOKEN", "methodArn": "arn:aws:s3:::bucket" }).to_string(),
        json!({ "version": "2.0", "type": "REQUEST", "routeArn": HELLO_ARN }).to_string(),
    ] {
        let r = s
            .send(s.http.post(s.url("/authorizer")).header("content-type", "application/json").body(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.json["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
        assert_eq!(r.json["request_id"], r.request_id());
    }
    let r = s.send(s.http.post(s.url("/authorizer")).body("{")).await;
    assert!(r.json["message"].as_str().unwrap().starts_with("body is not JSON"), "{}", r.text);
    let r = apigw(&s, &json!({ "type": "OTHER" })).await;
    assert_eq!(r.json["message"], "event type \"OTHER\" is neither TOKEN nor REQUEST");
}
