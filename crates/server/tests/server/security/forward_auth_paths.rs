//! 2. Forward-auth judges the path as sent.
//!
//! A forwarded header that is present but cannot be read (a raw byte in `X-Forwarded-Uri`, which
//! nginx passes as the client sent it) was dropped and the decision fell back to `/`: with
//! `default_action = "authenticated"` a user outside the required group reached a protected
//! route. Now such a request is a 400 naming the header, and its audit record keeps the path as
//! sent. The same class through other spellings: every way a backend could read a path as
//! another route (escaped `/` or dot segments, double escapes, `;` parameters, case, trailing
//! dots, control bytes) is either normalised to the route a backend serves or refused as
//! ambiguous, through forward-auth and the API Gateway authorizer alike.
//!
//! Also proven outside this binary: interop/nginx sends a raw byte through a real nginx
//! `auth_request` (test_nginx_auth_request.py).

use crate::common::*;
use reqwest::header::HeaderValue;
use serde_json::{json, Value};
use tokenbridge_core::audit::Explanation;
use tokenbridge_core::authorizer::rules::{DefaultAction, RouteConfig, TokenKind};
use tokenbridge_core::config::Config;
use tokenbridge_core::trail::Outcome;

/// Routes where a wrong reading matters: `/admin/**` needs the admins group, `/public/**` needs
/// nothing, `admin.example.com` needs admins, and any other path any valid access token.
async fn server() -> Server {
    Server::custom(Opts {
        configure: Some(Box::new(|cfg: &mut Config| {
            cfg.authorizer.default_action = DefaultAction::Authenticated;
            cfg.authorizer.routes = vec![
                RouteConfig {
                    name: Some("admin".into()),
                    path: "/admin/**".into(),
                    groups: vec!["admins".into()],
                    ..Default::default()
                },
                RouteConfig {
                    name: Some("public".into()),
                    path: "/public/**".into(),
                    token: TokenKind::None,
                    ..Default::default()
                },
                RouteConfig {
                    name: Some("admin host".into()),
                    path: "/**".into(),
                    hosts: vec!["admin.example.com".into()],
                    groups: vec!["admins".into()],
                    ..Default::default()
                },
            ];
        })),
        ..Default::default()
    })
    .await
}

fn access_token(body: &Value) -> String {
    body["access_token"].as_str().unwrap_or_else(|| panic!("no access_token in {body}")).to_string()
}

/// Forward-auth, Traefik style, with the URI given as raw bytes.
async fn forward_raw(s: &Server, token: &str, header: &str, value: &[u8]) -> Resp {
    let v = HeaderValue::from_bytes(value).expect("a header value the client can send");
    let req = s.http.get(s.url("/forward-auth")).bearer_auth(token).header("X-Forwarded-Method", "GET");
    s.send(req.header(header, v)).await
}

async fn forward(s: &Server, token: &str, uri: &str) -> Resp {
    forward_raw(s, token, "X-Forwarded-Uri", uri.as_bytes()).await
}

/// The request's one `Authorize` record, as `audit explain` tells it, and the path it recorded.
async fn explained(s: &Server, r: &Resp) -> (Explanation, Value) {
    let records = s.audit_of(r.request_id()).await;
    assert_eq!(records.len(), 1, "one audit record for {}: {records:?}", r.request_id());
    let path = records[0].record["requestParameters"]["path"].clone();
    (Explanation::from_record(&records[0]), path)
}

/// A 400 `invalid_request` whose failing check is `request` and whose reason says `needle`.
#[track_caller]
fn assert_unreadable(r: &Resp, needle: &str, token: &str) {
    assert_oauth_error(r, 400, "invalid_request", needle, &[token]);
}

async fn assert_request_check_failed(s: &Server, r: &Resp, needle: &str) -> Value {
    let (e, path) = explained(s, r).await;
    assert_eq!(e.event_name, "Authorize");
    assert_eq!(e.decision, "denied");
    let steps: Vec<(&str, Outcome)> = e.steps.iter().map(|s| (s.check.as_str(), s.outcome)).collect();
    assert_eq!(steps, [("request", Outcome::Fail)], "only the request check ran: {:?}", e.steps);
    assert!(e.steps[0].detail.contains(needle), "{:?} does not say {needle:?}", e.steps[0].detail);
    path
}

#[tokio::test]
async fn a_raw_byte_in_a_forwarded_header_is_refused_not_judged_as_root() {
    let s = server().await;
    let bob = access_token(&s.sign_in("bob").await);
    // The controls: bob is refused the admin route and allowed elsewhere.
    assert_eq!(forward(&s, &bob, "/admin/users").await.status, 403);
    forward(&s, &bob, "/reports").await.assert_ok();

    // The attack: a byte nginx passes as sent; the header was dropped and `/` decided on.
    let r = forward_raw(&s, &bob, "X-Forwarded-Uri", b"/admin/users\xff").await;
    assert_unreadable(&r, "X-Forwarded-Uri", &bob);
    assert_unreadable(&r, "not visible ASCII", &bob);
    let path = assert_request_check_failed(&s, &r, "X-Forwarded-Uri").await;
    assert_eq!(path, "/admin/users%FF", "the audit keeps the path as sent, the byte escaped");

    // nginx's own header name, a UTF-8 sequence sent raw, and the other forwarded headers.
    let r = forward_raw(&s, &bob, "X-Original-URI", "/admin/é".as_bytes()).await;
    assert_unreadable(&r, "X-Original-URI", &bob);
    assert_eq!(assert_request_check_failed(&s, &r, "X-Original-URI").await, "/admin/%C3%A9");
    let req = s.http.get(s.url("/forward-auth")).bearer_auth(&bob).header("X-Forwarded-Uri", "/admin/users");
    let r = s.send(req.header("X-Forwarded-Method", HeaderValue::from_bytes(b"GE\xd4").unwrap())).await;
    assert_unreadable(&r, "X-Forwarded-Method", &bob);
    assert_eq!(assert_request_check_failed(&s, &r, "X-Forwarded-Method").await, "/admin/users");
    let req = s.http.get(s.url("/forward-auth")).bearer_auth(&bob).header("X-Forwarded-Uri", "/reports");
    let r = s.send(req.header("X-Forwarded-Host", HeaderValue::from_bytes(b"admin.example.com\x80").unwrap())).await;
    assert_unreadable(&r, "X-Forwarded-Host", &bob);
}

#[tokio::test]
async fn every_spelling_of_a_protected_path_is_judged_as_that_path_or_refused() {
    let s = server().await;
    let bob = access_token(&s.sign_in("bob").await);
    // Spellings every server reads as /admin/…: normalised, then the admins group is asked for.
    for uri in [
        "//admin/users",
        "/./admin/users",
        "/public/../admin/users",
        "/admin//users/",
        "/public/x/../../admin/users",
        "/admin/users?next=/public/x",
        "/admin/users#/public/x",
        "/%61dmin/users",
        // Both readings of a `;` parameter before `..` end at /admin/users.
        "/public;x/../admin/users",
    ] {
        let r = forward(&s, &bob, uri).await;
        assert_oauth_error(&r, 403, "insufficient_scope", "needs one of groups admins", &[&bob]);
        let (e, path) = explained(&s, &r).await;
        assert!(e.steps[0].detail.contains("matches route \"admin\""), "{uri}: {:?}", e.steps);
        assert_eq!(path, uri.split(['?', '#']).next().unwrap(), "the audit keeps the path as sent");
    }
    // Spellings servers disagree about: refused, naming what is wrong.
    for (uri, needle) in [
        ("/admin%2F..", "escaped '/'"),
        ("/public/..%2Fadmin/users", "escaped '/'"),
        ("/public/..%2fadmin/users", "escaped '/'"),
        ("/public/%2e%2e/admin/users", "escaped dot segment"),
        ("/public/.%2E/admin/users", "escaped dot segment"),
        ("/public/%2e/admin", "escaped dot segment"),
        ("/admin%252F..", "escaped twice"),
        ("/public/%252e%252e/admin", "escaped twice"),
        ("/admin%5Cusers", "backslash"),
        ("/public\\..\\admin", "backslash"),
        ("/admin/%00", "control character"),
        ("/admin/users%0d%0aX-Auth-Groups:%20admins", "control character"),
        ("/admin/%C0%AF", "not UTF-8"),
        ("/admin/%zz", "malformed percent-escape"),
        ("admin/users", "does not start with '/'"),
        // A `;` parameter: Tomcat and Jetty read `/admin;x` as /admin, others as another name.
        ("/admin;jsessionid=1/users", "ambiguous"),
        ("/public/..;/admin/users", "ambiguous"),
        // Case: IIS and case-insensitive file systems read /ADMIN as /admin.
        ("/ADMIN/users", "ambiguous"),
        ("/Admin/users", "ambiguous"),
        ("/PUBLIC/x", "ambiguous"),
        // Trailing dots and spaces: Windows servers drop them.
        ("/admin./users", "ambiguous"),
        ("/admin%2e/users", "ambiguous"),
        ("/admin%20/users", "ambiguous"),
        ("/public/.../admin", "only dots"),
    ] {
        let r = forward(&s, &bob, uri).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.text);
        assert_unreadable(&r, needle, &bob);
        let path = assert_request_check_failed(&s, &r, needle).await;
        assert_eq!(path, uri.split(['?', '#']).next().unwrap(), "the audit keeps the path as sent");
    }
    // Whatever a server makes of these, it is the same route: allowed as before.
    forward(&s, &bob, "/reports;v=2").await.assert_ok();
    forward(&s, &bob, "/Reports./2024").await.assert_ok();
    forward(&s, &bob, "/admin-console").await.assert_ok();
    let r = s.send(s.http.get(s.url("/forward-auth")).header("X-Forwarded-Uri", "/public/a/../b")).await;
    r.assert_ok();
}

#[tokio::test]
async fn host_spellings_are_the_same_host() {
    let s = server().await;
    let bob = access_token(&s.sign_in("bob").await);
    for host in ["admin.example.com", "ADMIN.example.com", "admin.example.com.", "admin.example.com.:8443"] {
        let req = s
            .http
            .get(s.url("/forward-auth"))
            .bearer_auth(&bob)
            .header("X-Forwarded-Uri", "/reports")
            .header("X-Forwarded-Host", host);
        let r = s.send(req).await;
        assert_oauth_error(&r, 403, "insufficient_scope", "needs one of groups admins", &[&bob]);
    }
}

#[tokio::test]
async fn the_api_gateway_authorizer_reads_paths_the_same_way() {
    let s = server().await;
    let bob = access_token(&s.sign_in("bob").await);
    let event = |raw_path: &str| {
        json!({
            "version": "2.0", "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/$default/GET/admin/users",
            "identitySource": [format!("Bearer {bob}")],
            "rawPath": raw_path,
            "requestContext": { "http": { "method": "GET", "path": raw_path, "sourceIp": "10.0.0.7" } },
        })
    };
    for (raw_path, status, error, needle) in [
        ("/admin/users", 403, "insufficient_scope", "needs one of groups admins"),
        ("//admin/./users", 403, "insufficient_scope", "needs one of groups admins"),
        ("/admin%2F..", 400, "invalid_request", "escaped '/'"),
        ("/public/%2e%2e/admin/users", 400, "invalid_request", "escaped dot segment"),
        ("/ADMIN/users", 400, "invalid_request", "ambiguous"),
        ("/admin;x/users", 400, "invalid_request", "ambiguous"),
    ] {
        let r = s.send(s.http.post(s.url("/authorizer")).json(&event(raw_path))).await;
        r.assert_ok();
        assert_eq!(r.json["policyDocument"]["Statement"][0]["Effect"], "Deny", "{raw_path}: {}", r.text);
        let ctx = &r.json["context"];
        assert_eq!(ctx["status"], status, "{raw_path}: {}", r.text);
        assert_eq!(ctx["error"], error, "{raw_path}");
        let desc = ctx["error_description"].as_str().unwrap();
        assert!(desc.contains(needle), "{raw_path}: {desc:?} does not say {needle:?}");
        assert!(!r.text.contains(&bob), "the token is not echoed");
    }
    // A REST API REQUEST event's path and a TOKEN event's methodArn go through the same reading.
    let rest = json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/reports",
        "httpMethod": "GET", "path": "/Admin/users",
        "headers": { "Authorization": format!("Bearer {bob}") },
    });
    let r = s.send(s.http.post(s.url("/authorizer")).json(&rest)).await;
    assert_eq!(r.json["context"]["status"], 400, "{}", r.text);
    let token = json!({
        "type": "TOKEN", "authorizationToken": format!("Bearer {bob}"),
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/public/../admin/users",
    });
    let r = s.send(s.http.post(s.url("/authorizer")).json(&token)).await;
    assert_eq!(r.json["context"]["status"], 403, "{}", r.text);
}
