//! 9. CORS on the Cognito door.
//!
//! `OPTIONS /` answered 405 and neither `POST /` nor the pool JWKS carried
//! `Access-Control-Allow-Origin`, so amazon-cognito-identity-js and Amplify could not run in a
//! browser app on its own origin. The AWS JSON door (user pools, identity pools, STS, CloudTrail)
//! and the pool discovery and JWKS now answer as cognito-idp does: any origin (`*`, configurable
//! with `aws.cors_allowed_origins`), never with credentials, the request headers a preflight names
//! allowed (as cognito-idp echoes them) and `x-amzn-RequestId` exposed. Admin (SigV4) actions get the same answer: a preflight cannot
//! know the action, and the signature, not the origin, is what admits them.
//!
//! Also proven outside this binary: a page on a second loopback origin signs alice in with
//! amazon-cognito-identity-js in Chromium, and fails against a demo whose configuration does not
//! allow that origin (interop/console/test/60-cognito-cors.test.mjs).

use crate::common::*;
use serde_json::json;
use tokenbridge_core::config::Config;
use tokenbridge_core::Engine;

const APP: &str = "http://app.example:5173";
/// What the AWS SDK for JavaScript (v3) and amazon-cognito-identity-js send (the latter adds
/// `cache-control: no-store`, which a fixed list once missed: the browser test caught it).
const SDK_HEADERS: &str =
    "content-type,x-amz-target,x-amz-user-agent,amz-sdk-invocation-id,amz-sdk-request,cache-control";

async fn preflight(s: &Server, path: &str, origin: &str, method: &str, headers: &str) -> Resp {
    let req = s
        .http
        .request(reqwest::Method::OPTIONS, s.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers);
    s.send(req).await
}

#[track_caller]
fn assert_cors(r: &Resp, origin: &str) {
    assert_eq!(r.header("access-control-allow-origin"), Some(origin), "{}: {:?}", r.status, r.headers);
    assert!(r.header("access-control-allow-credentials").is_none(), "never with credentials");
}

#[track_caller]
fn assert_no_cors(r: &Resp) {
    assert!(r.header("access-control-allow-origin").is_none(), "{:?}", r.headers);
}

#[tokio::test]
async fn the_cognito_door_answers_cors_as_cognito_does() {
    let s = Server::demo().await;
    let (pool, client) = (s.demo_cognito("user_pool_id"), s.demo_cognito("client_id"));

    // The preflight amazon-cognito-identity-js and the SDK make before every call.
    let r = preflight(&s, "/", APP, "POST", SDK_HEADERS).await;
    assert_eq!(r.status, 200, "{:?}", r.headers);
    assert_cors(&r, "*");
    assert!(r.header("access-control-allow-methods").unwrap_or_default().contains("POST"));
    let allowed = r.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    for h in SDK_HEADERS.split(',') {
        assert!(allowed.split(',').any(|a| a.trim() == h), "{h} not in {allowed}");
    }
    // A signed call's headers too, as cognito-idp answers: whatever the preflight names.
    let signed = "authorization,content-type,x-amz-date,x-amz-security-token,x-amz-content-sha256,x-amz-target";
    let r = preflight(&s, "/", APP, "POST", signed).await;
    let allowed = r.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
    assert!(signed.split(',').all(|h| allowed.split(',').any(|a| a.trim() == h)), "{allowed}");

    // A sign-in, and a refused one (the SDK must read the error too), from that origin.
    let alice = &s.demo_json()["users"].as_array().unwrap().iter().find(|u| u["username"] == "alice").unwrap().clone();
    let sign_in = |password: &str| {
        let body = json!({ "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
            "AuthParameters": { "USERNAME": "alice", "PASSWORD": password } });
        s.aws_json_request("/", &format!("{USER_POOL_TARGET}InitiateAuth")).header("origin", APP).body(body.to_string())
    };
    for (password, status) in [(alice["password"].as_str().unwrap(), 200), ("wrong-password", 400)] {
        let r = s.send(sign_in(password)).await;
        assert_eq!(r.status, status, "{}", r.text);
        assert_cors(&r, "*");
        let exposed = r.header("access-control-expose-headers").unwrap_or_default().to_ascii_lowercase();
        assert!(exposed.contains("x-amzn-requestid") && exposed.contains("x-amzn-errortype"), "{exposed}");
    }
    // Identity pools share the door.
    let get_id = json!({ "IdentityPoolId": s.demo_json()["identity"]["identity_pool_id"] });
    let req = s.aws_json_request("/", &format!("{IDENTITY_POOL_TARGET}GetId")).header("origin", APP);
    assert_cors(&s.send(req.body(get_id.to_string())).await, "*");
    // An admin action is answered alike: its SigV4 signature, not the origin, admits it.
    let req = s.aws_json_request("/", &format!("{USER_POOL_TARGET}AdminGetUser")).header("origin", APP);
    let r = s.send(req.body(json!({ "UserPoolId": pool, "Username": "alice" }).to_string())).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_cors(&r, "*");

    // The pool's discovery document and JWKS, as aws-jwt-verify fetches them in a browser.
    for doc in ["jwks.json", "openid-configuration"] {
        let path = format!("/{pool}/.well-known/{doc}");
        let r = s.send(s.http.get(s.url(&path)).header("origin", APP)).await;
        r.assert_ok();
        assert_cors(&r, "*");
        let r = preflight(&s, &path, APP, "GET", "x-amz-user-agent").await;
        assert_eq!(r.status, 200);
        assert_cors(&r, "*");
    }
}

#[tokio::test]
async fn a_configured_origin_list_is_honoured_and_an_empty_one_turns_cors_off() {
    let s = Server::custom(Opts {
        configure: Some(Box::new(|cfg: &mut Config| cfg.aws.cors_allowed_origins = vec![APP.into()])),
        ..Default::default()
    })
    .await;
    let r = preflight(&s, "/", APP, "POST", SDK_HEADERS).await;
    assert_eq!(r.status, 200);
    assert_cors(&r, APP);
    assert!(r.header("vary").unwrap_or_default().to_ascii_lowercase().contains("origin"));
    let req = s.aws_json_request("/", &format!("{USER_POOL_TARGET}InitiateAuth")).header("origin", APP);
    assert_cors(&s.send(req.body("{}")).await, APP);
    for other in ["http://evil.example", "http://app.example:5174", "null"] {
        assert_no_cors(&preflight(&s, "/", other, "POST", SDK_HEADERS).await);
        let req = s.aws_json_request("/", &format!("{USER_POOL_TARGET}InitiateAuth")).header("origin", other);
        assert_no_cors(&s.send(req.body("{}")).await);
    }

    let s = Server::custom(Opts {
        configure: Some(Box::new(|cfg: &mut Config| cfg.aws.cors_allowed_origins = Vec::new())),
        ..Default::default()
    })
    .await;
    assert_no_cors(&preflight(&s, "/", APP, "POST", SDK_HEADERS).await);
    let req = s.aws_json_request("/", &format!("{USER_POOL_TARGET}InitiateAuth")).header("origin", APP);
    assert_no_cors(&s.send(req.body("{}")).await);
}

#[test]
fn origins_are_checked_at_load() {
    let with = |list: &str| {
        Engine::validate_config(&Config::from_toml(&format!("[aws]\ncors_allowed_origins = {list}\n")).unwrap())
    };
    with("[\"*\"]").unwrap();
    with("[\"https://app.example.com\", \"http://127.0.0.1:5173\"]").unwrap();
    with("[]").unwrap();
    for bad in ["[\"https://app.example.com/\"]", "[\"app.example.com\"]", "[\"https://app.example.com/login\"]"] {
        let e = with(bad).unwrap_err();
        assert_eq!(e.key, "aws.cors_allowed_origins[0]", "{bad}: {e}");
    }
    assert_eq!(Config::default().aws.cors_allowed_origins, ["*"]);
}
