//! 13. What an attacker looks for next: settings the server would accept and then not honour.
//!
//! A setting that narrows access and is silently dropped grants more than its author asked for:
//! a route guarding GET that a HEAD request walks around, managed session policies
//! (`PolicyArns`) and permissions boundaries that never narrow anything, password classes and
//! required MFA that are stored and never asked for. Each is now honoured or refused with its
//! reason. And a name carrying a control character cannot make an STS answer unreadable XML.

use crate::common::refusals::{admin, user_pool_ctx, CognitoError};
use crate::common::*;
use serde_json::{json, Value};
use tokenbridge_core::authorizer::rules::{DefaultAction, RouteConfig};
use tokenbridge_core::config::Config;

/// Forward-auth for `method uri` with `token`.
async fn forward(s: &Server, token: &str, method: &str, uri: &str) -> Resp {
    let req = s.http.get(s.url("/forward-auth")).bearer_auth(token);
    s.send(req.header("X-Forwarded-Method", method).header("X-Forwarded-Uri", uri)).await
}

#[tokio::test]
async fn a_route_guarding_get_guards_head() {
    let s = Server::custom(Opts {
        configure: Some(Box::new(|cfg: &mut Config| {
            cfg.authorizer.default_action = DefaultAction::Authenticated;
            cfg.authorizer.routes = vec![RouteConfig {
                name: Some("admin reads".into()),
                path: "/admin/**".into(),
                methods: vec!["GET".into()],
                groups: vec!["admins".into()],
                ..Default::default()
            }];
        })),
        ..Default::default()
    })
    .await;
    let bob = s.sign_in("bob").await["access_token"].as_str().unwrap().to_string();
    assert_eq!(forward(&s, &bob, "GET", "/admin/users").await.status, 403, "the control: bob is no admin");
    // HEAD runs the GET handler on every common server; it fell through to the default action.
    let r = forward(&s, &bob, "HEAD", "/admin/users").await;
    assert_eq!(r.status, 403, "HEAD is judged by the GET route: {}", r.text);
    let (_, check, detail) = failing_check(&s, &r).await;
    assert_eq!(check, "group", "{detail}");
    // A method the route does not list is still the default action's.
    forward(&s, &bob, "POST", "/admin/users").await.assert_ok();
}

/// `AssumeRoleWithWebIdentity` over the query protocol with `extra` parameters.
async fn assume(s: &Server, session_name: &str, extra: &[(&str, &str)]) -> Resp {
    let mut form = vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", "arn:aws:iam::123456789012:role/reader"),
        ("RoleSessionName", session_name),
        ("WebIdentityToken", "not-a-token"),
    ];
    form.extend_from_slice(extra);
    s.send(s.http.post(s.url("/")).form(&form)).await
}

/// The text of the first `<tag>` element of an XML answer.
fn xml<'t>(text: &'t str, tag: &str) -> &'t str {
    let open = format!("<{tag}>");
    let start = text.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {text}")) + open.len();
    &text[start..start + text[start..].find(&format!("</{tag}>")).unwrap()]
}

#[tokio::test]
async fn managed_session_policies_are_refused_not_ignored() {
    let s = Server::custom(Opts::default()).await;
    // The control: without PolicyArns the request goes on to the token check.
    let r = assume(&s, "reader", &[]).await;
    assert_eq!(xml(&r.text, "Code"), "InvalidIdentityToken", "{}", r.text);
    let arn = [("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/ReadOnlyAccess")];
    let r = assume(&s, "reader", &arn).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(xml(&r.text, "Code"), "ValidationError", "{}", r.text);
    assert!(xml(&r.text, "Message").contains("PolicyArns"), "{}", r.text);
    let (_, check, _) = failing_check(&s, &r).await;
    assert_eq!(check, "session policy");
}

#[tokio::test]
async fn a_control_character_in_a_name_leaves_the_sts_answer_well_formed() {
    let s = Server::custom(Opts::default()).await;
    let r = assume(&s, "a\u{1}b", &[]).await;
    assert_eq!(xml(&r.text, "Code"), "ValidationError", "{}", r.text);
    assert!(!r.text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')), "{:?}", r.text);
    assert!(xml(&r.text, "Message").contains("a\u{FFFD}b"), "{}", r.text);
}

#[tokio::test]
async fn permissions_boundaries_are_refused_not_ignored() {
    let s = Server::custom(Opts::default()).await;
    let trust = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
        "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }] })
    .to_string();
    let boundary = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    let refused = s
        .iam_action(
            "CreateRole",
            &[("RoleName", "bounded"), ("AssumeRolePolicyDocument", &trust), ("PermissionsBoundary", boundary)],
        )
        .await
        .expect_err("a boundary that would not bound anything");
    assert_eq!((refused.code, refused.status), ("ValidationError", 400));
    assert!(refused.message.contains("PermissionsBoundary"), "{}", refused.message);
    let missing = s.iam_action("GetRole", &[("RoleName", "bounded")]).await.expect_err("no role was made");
    assert_eq!(missing.code, "NoSuchEntity");
    s.iam_action("CreateRole", &[("RoleName", "bounded"), ("AssumeRolePolicyDocument", &trust)])
        .await
        .expect("control");
}

/// A user pool made with `policies` and `mfa` (as the signed door runs CreateUserPool), and an
/// app client of it: (pool id, client id).
async fn pool(s: &Server, policies: Value, mfa: &str) -> Result<(String, String), CognitoError> {
    let body = json!({ "PoolName": "strict", "Policies": policies, "MfaConfiguration": mfa });
    let created =
        s.engine.user_pools().user_pool_action("CreateUserPool", &body, Some(&admin()), &user_pool_ctx()).await?;
    let id = created["UserPool"]["Id"].as_str().unwrap().to_string();
    let client = json!({ "UserPoolId": id, "ClientName": "app", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"] });
    let client = s.user_pool_admin("CreateUserPoolClient", &client).await;
    Ok((id, client["UserPoolClient"]["ClientId"].as_str().unwrap().to_string()))
}

#[tokio::test]
async fn password_classes_a_pool_requires_are_asked_for() {
    let s = Server::custom(Opts::default()).await;
    let policy = json!({ "PasswordPolicy": { "MinimumLength": 8, "RequireUppercase": true,
        "RequireLowercase": true, "RequireNumbers": true, "RequireSymbols": true } });
    let (pool_id, client) = pool(&s, policy, "OFF").await.unwrap_or_else(|e| panic!("pool: {}", e.message));
    let described = s.user_pool_admin("DescribeUserPool", &json!({ "UserPoolId": pool_id })).await;
    let stated = &described["UserPool"]["Policies"]["PasswordPolicy"];
    for flag in ["RequireUppercase", "RequireLowercase", "RequireNumbers", "RequireSymbols"] {
        assert_eq!(stated[flag], true, "{flag} is described as it was set: {stated}");
    }
    for (password, missing) in [
        ("lower-case-1!", "uppercase"),
        ("UPPER-CASE-1!", "lowercase"),
        ("No-Digits-Here!", "numeric"),
        ("NoSymbols123", "symbol"),
    ] {
        let body = json!({ "ClientId": client, "Username": format!("u-{missing}"), "Password": password });
        let r = s.cognito("SignUp", &body).await;
        let message = format!("Password did not conform with policy: Password must have {missing} characters");
        assert_cognito_error(&r, "InvalidPasswordException", &message);
    }
    let body = json!({ "ClientId": client, "Username": "u-ok", "Password": "Every-class-1" });
    s.cognito("SignUp", &body).await.assert_ok();
}

#[tokio::test]
async fn a_required_second_factor_that_is_never_asked_for_is_refused() {
    let s = Server::custom(Opts::default()).await;
    for mfa in ["ON", "OPTIONAL"] {
        let e = pool(&s, json!({}), mfa).await.expect_err("MFA is not offered");
        assert_eq!(e.exception, "InvalidParameterException");
        assert!(e.message.contains("MfaConfiguration") && e.message.contains("OFF"), "{}", e.message);
        assert_eq!(e.trail.first_failure().expect("a failed check").check, "mfa");
    }
    pool(&s, json!({}), "OFF").await.unwrap_or_else(|e| panic!("the control: {}", e.message));
}
