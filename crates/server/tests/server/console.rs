//! The web console on the demo: the page, its embedded assets and its public settings; the
//! upstream sign-in the server runs for it (authorization code with PKCE at the demo provider,
//! driven through its login and consent forms); the one-time pickup of the outcome; and the
//! decision trail of a refused call, for admins and for the caller who made it. The sign-in's
//! steps are shared with `tls` (the same sign-in over TLS).

use crate::common::sigv4::{sign_get, sign_post, SigningKey};
use crate::common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use tokenbridge_demo::CONSOLE_CLIENT_ID;

const DEMO_POOL_ID: &str = "ap-northeast-1_TbDemoPool";

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

// --- the page ---

#[tokio::test]
async fn console_page_offers_the_three_login_methods() {
    let s = Server::demo().await;
    for path in ["/console", "/console/", "/console/index.html"] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(header(&r, "content-type").starts_with("text/html"), "{path}: {:?}", r.headers);
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        // Only its own scripts, only this server, never framed.
        let csp = header(&r, "content-security-policy");
        for directive in ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert!(r.text.contains(r#"value="password""#), "{path}");
        assert!(r.text.contains(r#"value="custom-auth""#), "{path}");
        assert!(r.text.contains(r#"value="exchange""#), "{path}");
        assert!(r.text.contains("USER_PASSWORD_AUTH"));
        assert!(r.text.contains("/console/app.js") && r.text.contains("/console/app.css"));
    }
}

#[tokio::test]
async fn console_assets_have_their_content_types() {
    let s = Server::demo().await;
    let js = s.get("/console/app.js").await;
    assert_eq!(js.status, 200);
    assert!(header(&js, "content-type").starts_with("text/javascript"), "{:?}", js.headers);
    assert_eq!(header(&js, "cache-control"), "no-cache");
    for needle in ["USER_PASSWORD_AUTH", "REFRESH_TOKEN_AUTH", "GlobalSignOut", "/console/config.json"] {
        assert!(js.text.contains(needle), "app.js lacks {needle}");
    }
    for module in ["srp.js", "sigv4.js", "audit.js"] {
        let r = s.get(&format!("/console/{module}")).await;
        assert_eq!(r.status, 200, "{module}");
        assert!(header(&r, "content-type").starts_with("text/javascript"), "{module}");
    }
    let css = s.get("/console/app.css").await;
    assert_eq!(css.status, 200);
    assert!(header(&css, "content-type").starts_with("text/css"), "{:?}", css.headers);
    assert_eq!(header(&css, "cache-control"), "no-cache");
    assert_eq!(s.get("/console/nothing.js").await.status, 404);
}

#[tokio::test]
async fn console_config_names_the_issuer_and_the_demo_pool() {
    let s = Server::demo().await;
    let r = s.get("/console/config.json").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(header(&r, "content-type").starts_with("application/json"));
    let iss = r.json["issuer"].as_str().expect("issuer");
    assert_eq!(iss, s.engine.issuer());
    assert_eq!(r.json["jwks_uri"], format!("{iss}/.well-known/jwks.json"));
    assert_eq!(r.json["token_endpoint"], format!("{iss}/oauth2/token"));
    assert_eq!(r.json["user_pool"]["id"], DEMO_POOL_ID);
    // Its JWKS is served where config.json says.
    let jwks_uri = r.json["user_pool"]["jwks_uri"].as_str().expect("pool jwks_uri");
    let path = jwks_uri.strip_prefix(iss).expect("pool jwks on this server");
    let jwks = s.get(path).await;
    assert_eq!(jwks.status, 200, "{}", jwks.text);
    assert!(jwks.json["keys"].as_array().is_some_and(|k| !k.is_empty()));
}

#[tokio::test]
async fn console_config_tells_the_page_what_to_use_and_no_secret() {
    let s = Server::demo().await;
    let info = s.demo_json();
    let c = s.get("/console/config.json").await.json;
    assert_eq!(c["oauth_client_id"], CONSOLE_CLIENT_ID);
    assert_eq!(c["exchange_endpoint"], "/auth/exchange");
    assert_eq!(c["revoke_endpoint"], "/oauth2/revoke");
    assert_eq!(c["region"], "ap-northeast-1");
    assert_eq!(c["user_pool"]["client_id"], info["cognito"]["client_id"]);
    assert_eq!(
        c["providers"],
        json!([{ "name": "demo", "issuer": format!("{}/demo-idp", s.base), "login": "/console/login/demo" }])
    );
    let pools = c["identity_pools"].as_array().expect("identity_pools");
    assert_eq!(pools.len(), 2, "{c}");
    assert_eq!(pools[0]["id"], info["identity"]["identity_pool_id"]);
    assert_eq!(pools[0]["name"], "demo identity pool");
    assert_eq!(pools[1]["id"], info["identity"]["misconfigured_identity_pool_id"]);
    assert_eq!(c["explain_to_caller"], true);
    assert_eq!(c["explain_signing_service"], "appsync");
    assert_eq!(c["demo"]["graphql_endpoint"], "/demo/graphql");
    assert_eq!(c["demo"]["graphql_api_id"], "tbdemoapi");
    assert_eq!(c["demo"]["rest"][2], "POST /demo/api/orders");
    let text = c.to_string();
    for secret in [&s.upstream_client_secret, &s.client_secret, &s.admin_token] {
        assert!(!text.contains(secret.as_str()), "config.json holds a secret");
    }
    // demo.json points at the console and its client.
    assert_eq!(info["console"]["oauth_client_id"], CONSOLE_CLIENT_ID);
    assert!(info["console"]["url"].as_str().unwrap().starts_with(&format!("{}/console", s.base)));
}

#[tokio::test]
async fn a_disabled_console_is_not_there() {
    let s =
        Server::custom(Opts { configure: Some(Box::new(|c| c.console.enabled = false)), ..Default::default() }).await;
    for path in
        ["/console", "/console/", "/console/app.js", "/console/config.json", "/console/login/demo?method=exchange"]
    {
        assert_eq!(s.get(path).await.status, 404, "{path}");
    }
    let r = s.send(s.http.post(s.url("/console/upstream"))).await;
    assert_eq!(r.status, 404);
    let r = s.send(s.http.get(s.url("/console/explain/x")).bearer_auth(&s.admin_token)).await;
    assert_eq!(r.status, 404);
}

#[test]
fn console_assets_reach_no_other_host() {
    let assets = [
        ("index.html", include_str!("../../console/index.html")),
        ("app.js", include_str!("../../console/app.js")),
        ("srp.js", include_str!("../../console/srp.js")),
        ("sigv4.js", include_str!("../../console/sigv4.js")),
        ("audit.js", include_str!("../../console/audit.js")),
        ("app.css", include_str!("../../console/app.css")),
    ];
    for (name, text) in assets {
        for scheme in ["http://", "https://", "src=\"//", "href=\"//", "url(//", "fetch(\"//"] {
            assert!(!text.contains(scheme), "{name} names an absolute address ({scheme})");
        }
    }
}

// --- the upstream sign-in ---

/// `name=value` of a `Set-Cookie` header of `r`, with the whole header.
pub(crate) fn set_cookie(r: &Resp, name: &str) -> (String, String) {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let value = v.strip_prefix(&format!("{name}="))?.split(';').next()?.to_string();
            Some((value, v.to_string()))
        })
        .unwrap_or_else(|| panic!("no Set-Cookie {name}: {:?}", r.headers))
}

pub(crate) fn query_of(url: &str) -> HashMap<String, String> {
    let u = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The hidden inputs of a demo provider page.
pub(crate) fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    };
    page.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").unwrap();
            let (value, _) = rest.split_once('"').unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

/// A sign-in started at `/console/login/demo`: where the browser is sent, and the login cookie.
pub(crate) struct Started {
    pub location: String,
    pub cookie: String,
    pub params: HashMap<String, String>,
}

pub(crate) async fn start(s: &Server, method: &str) -> Started {
    let r = s.get(&format!("/console/login/demo?method={method}")).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let location = r.header("location").expect("Location").to_string();
    let (cookie, _) = set_cookie(&r, "tb_console_login");
    Started { params: query_of(&location), location, cookie }
}

/// The browser at the demo provider: its sign-in form, then `decision` on the consent page;
/// returns where the provider sends the browser back.
pub(crate) async fn at_the_provider(s: &Server, started: &Started, username: &str, decision: &str) -> String {
    let p = person(username);
    let page = s.send(s.http.get(&started.location)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let mut form = hidden_fields(&page.text);
    form.push(("username".into(), p.upstream_username.into()));
    form.push(("password".into(), p.upstream_password.into()));
    let consent = s.send(s.http.post(s.url("/demo-idp/authorize/login")).form(&form)).await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    let session = hidden_fields(&consent.text).into_iter().find(|(n, _)| n == "session").expect("session").1;
    let r = s
        .send(
            s.http
                .post(s.url("/demo-idp/authorize/consent"))
                .form(&[("session", session.as_str()), ("decision", decision)]),
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.text);
    r.header("location").expect("Location").to_string()
}

/// The provider's redirect arriving at the callback, with (or without) the login cookie.
pub(crate) async fn back(s: &Server, url: &str, cookie: Option<&str>) -> Resp {
    let mut req = s.http.get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", format!("tb_console_login={c}"));
    }
    s.send(req).await
}

pub(crate) async fn pickup(s: &Server, handle: Option<&str>) -> Resp {
    let mut req = s.http.post(s.url("/console/upstream"));
    if let Some(h) = handle {
        req = req.header("cookie", format!("tb_console_upstream={h}"));
    }
    s.send(req).await
}

/// The callback's 303 and the outcome picked up after it.
async fn outcome_of(s: &Server, callback: &Resp) -> Value {
    assert_eq!(callback.status, 303, "{}", callback.text);
    let (handle, _) = set_cookie(callback, "tb_console_upstream");
    let r = pickup(s, Some(&handle)).await;
    r.assert_ok();
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json
}

#[tokio::test]
async fn login_sends_the_browser_to_the_provider_with_pkce_state_and_nonce() {
    let s = Server::demo().await;
    let r = s.get("/console/login/demo?method=exchange").await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let location = r.header("location").unwrap();
    assert!(location.starts_with(&format!("{}/demo-idp/authorize?", s.base)), "{location}");
    let q = query_of(location);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], UPSTREAM_CLIENT);
    assert_eq!(q["redirect_uri"], format!("{}/console/callback", s.base));
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["code_challenge_method"], "S256");
    for k in ["state", "nonce", "code_challenge"] {
        assert_eq!(q[k].len(), 43, "{k} is 256 bits, base64url");
    }
    let (value, cookie) = set_cookie(&r, "tb_console_login");
    for attribute in ["Path=/console;", "Max-Age=600;", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure");
    // Sealed: nothing of the request is readable in the cookie.
    for k in ["state", "nonce"] {
        assert!(!value.contains(&q[k]) && !value.contains(&q[k][..12]), "{k} shows in the cookie");
    }
    // Each start is its own.
    let again = start(&s, "custom-auth").await;
    assert_ne!(again.params["state"], q["state"]);
    assert_ne!(again.cookie, value);

    // A bad method, no method, an unknown provider.
    for path in ["/console/login/demo?method=password", "/console/login/demo"] {
        let r = s.get(path).await;
        assert_oauth_error(&r, 400, "invalid_request", "method must be custom-auth or exchange", &[]);
    }
    let r = s.get("/console/login/nope?method=exchange").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json["error"], "not_found");
    assert!(r.json["error_description"].as_str().unwrap().contains("\"nope\""));
    assert_eq!(r.json["request_id"], r.request_id());
}

#[tokio::test]
async fn upstream_sign_in_round_trip_hands_the_tokens_over_once() {
    let s = Server::demo().await;
    let started = start(&s, "exchange").await;
    let url = at_the_provider(&s, &started, "alice", "allow").await;
    let code = query_of(&url)["code"].clone();
    assert!(url.starts_with(&format!("{}/console/callback?", s.base)), "{url}");

    let cb = back(&s, &url, Some(&started.cookie)).await;
    assert_eq!(cb.status, 303, "{}", cb.text);
    assert_eq!(cb.header("location"), Some("/console?upstream=1&method=exchange"));
    assert_eq!(cb.header("cache-control"), Some("no-store"));
    assert_eq!(cb.header("referrer-policy"), Some("no-referrer"));
    let (_, cleared) = set_cookie(&cb, "tb_console_login");
    assert!(cleared.starts_with("tb_console_login=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let (handle, cookie) = set_cookie(&cb, "tb_console_upstream");
    for attribute in ["Path=/console/upstream;", "Max-Age=120;", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }

    let r = pickup(&s, Some(&handle)).await;
    r.assert_ok();
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let (_, cleared) = set_cookie(&r, "tb_console_upstream");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let o = &r.json;
    assert_eq!(
        (o["provider"].as_str(), o["method"].as_str(), o["ok"].as_bool()),
        (Some("demo"), Some("exchange"), Some(true))
    );
    assert!(o.get("error").is_none(), "{o}");
    assert_eq!(o["request_id"], cb.request_id());
    let id_token = o["tokens"]["id_token"].as_str().expect("id_token");
    let access_token = o["tokens"]["access_token"].as_str().expect("access_token");
    assert_eq!(o["tokens"]["token_type"], "Bearer");
    assert!(o["tokens"].get("refresh_token").is_none(), "the upstream refresh token stays on the server");
    // The id token is the one this sign-in asked for.
    let claims = decode(id_token);
    assert_eq!(claims.claim_str("nonce"), Some(started.params["nonce"].as_str()));
    assert_eq!(claims.claim_str("email"), Some("alice@example.com"));

    // Three steps, between the parties the page draws.
    let steps = o["steps"].as_array().expect("steps");
    let route: Vec<(&str, &str, bool)> = steps
        .iter()
        .map(|st| (st["from"].as_str().unwrap(), st["to"].as_str().unwrap(), st["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        route,
        [("browser", "upstream", true), ("upstream", "tokenbridge", true), ("tokenbridge", "upstream", true)]
    );
    for st in steps {
        assert!(st["title"].as_str().is_some_and(|t| !t.is_empty()));
    }
    let token_request = steps[2]["request"].as_str().unwrap();
    assert!(token_request.starts_with(&format!("POST {}/demo-idp/token", s.base)), "{token_request}");
    assert!(token_request.contains("Authorization: Basic (hidden)"), "{token_request}");
    assert!(token_request.contains("grant_type=authorization_code"));
    assert!(
        token_request.contains(&format!("code={}…({} chars)", &code[..6], code.chars().count())),
        "{token_request}"
    );
    assert!(steps[2]["response"].as_str().unwrap().starts_with("HTTP 200"));
    // No secret in any step: not the client secret, the code, the state, the nonce or a token.
    let shown = serde_json::to_string(steps).unwrap();
    for secret in [
        s.upstream_client_secret.as_str(),
        code.as_str(),
        &started.params["state"],
        &started.params["nonce"],
        &started.params["code_challenge"],
        id_token,
        access_token,
    ] {
        assert!(!shown.contains(&secret[..secret.len().min(20)]), "a step shows a secret: {shown}");
    }
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{UPSTREAM_CLIENT}:{}", s.upstream_client_secret),
    );
    assert!(!shown.contains(&basic), "a step shows the Basic credentials");

    // Once only.
    let again = pickup(&s, Some(&handle)).await;
    assert_eq!(again.status, 404, "{}", again.text);
    assert_eq!(again.json["error"], "not_found");
    assert_eq!(again.json["error_description"], "no upstream sign-in is waiting");
    assert_eq!(again.json["request_id"], again.request_id());
    assert_eq!(pickup(&s, None).await.status, 404);
    assert_eq!(pickup(&s, Some("not-a-handle")).await.status, 404);
    // The same redirect again: the login cookie has done its work... and the code is spent.
    let replay = outcome_of(&s, &back(&s, &url, Some(&started.cookie)).await).await;
    assert_eq!(replay["ok"], false);
    assert!(replay["error"].as_str().unwrap().contains("already used"), "{replay}");

    // The page presents the id token to the exchange with the console's public client.
    let r = s.exchange_bearer(id_token, &[("client_id", CONSOLE_CLIENT_ID)]).await;
    r.assert_ok();
    let own_id = decode(r.str("id_token"));
    assert_eq!(own_id.claim_str("aud"), Some(CONSOLE_CLIENT_ID));

    // The demo's identity pool takes this issuer's id token too.
    let pool = s.demo_json()["identity"]["identity_pool_id"].as_str().unwrap().to_string();
    let creds = identity_credentials(&s, &pool, s.base.trim_start_matches("http://"), r.str("id_token")).await;
    assert!(creds.json["Credentials"]["AccessKeyId"].as_str().is_some_and(|k| k.starts_with("ASIA")), "{}", creds.text);
}

#[tokio::test]
async fn custom_auth_sign_in_comes_back_for_custom_auth() {
    let s = Server::demo().await;
    let started = start(&s, "custom-auth").await;
    let url = at_the_provider(&s, &started, "bob", "allow").await;
    let cb = back(&s, &url, Some(&started.cookie)).await;
    assert_eq!(cb.header("location"), Some("/console?upstream=1&method=custom-auth"));
    let o = outcome_of(&s, &cb).await;
    assert_eq!((o["method"].as_str(), o["ok"].as_bool()), (Some("custom-auth"), Some(true)), "{o}");
    assert_eq!(decode(o["tokens"]["id_token"].as_str().unwrap()).claim_str("email"), Some("bob@example.com"));
}

#[tokio::test]
async fn failed_sign_ins_come_back_with_the_reason_and_the_steps() {
    let s = Server::demo().await;

    // A redirect with another state: refused before the code is looked at.
    let started = start(&s, "exchange").await;
    let url = at_the_provider(&s, &started, "alice", "allow").await;
    let forged = url.replace(&started.params["state"], "forged-state");
    let o = outcome_of(&s, &back(&s, &forged, Some(&started.cookie)).await).await;
    assert_eq!(o["ok"], false);
    assert!(o["error"].as_str().unwrap().contains("state does not match"), "{o}");
    assert!(o.get("tokens").is_none());
    let steps = o["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{o}");
    assert_eq!(steps[1]["ok"], false);
    // The refusal is audited under the request id the outcome carries.
    let rid = o["request_id"].as_str().unwrap();
    let r = s.send(s.http.get(s.url(&format!("/admin/audit/{rid}"))).bearer_auth(&s.admin_token)).await;
    r.assert_ok();
    assert_eq!(r.json["events"][0]["eventName"], "ConsoleCallback");
    assert_eq!(r.json["events"][0]["decision"], "denied");

    // The user says no at the provider.
    let started = start(&s, "custom-auth").await;
    let url = at_the_provider(&s, &started, "alice", "deny").await;
    assert_eq!(query_of(&url)["error"], "access_denied");
    let cb = back(&s, &url, Some(&started.cookie)).await;
    assert_eq!(cb.header("location"), Some("/console?upstream=1&method=custom-auth"));
    let o = outcome_of(&s, &cb).await;
    assert_eq!(o["ok"], false);
    let error = o["error"].as_str().unwrap();
    assert!(error.contains("access_denied") && error.contains("end-user denied authorization"), "{error}");

    // No login cookie: nothing was started in this browser.
    let started = start(&s, "exchange").await;
    let url = at_the_provider(&s, &started, "alice", "allow").await;
    let cb = back(&s, &url, None).await;
    assert_eq!(cb.header("location"), Some("/console?upstream=1"));
    let o = outcome_of(&s, &cb).await;
    assert_eq!((o["ok"].as_bool(), o["method"].as_null()), (Some(false), Some(())));
    assert!(o["error"].as_str().unwrap().contains("tb_console_login"), "{o}");
    assert!(!o.to_string().contains(&query_of(&url)["code"]), "the raw code is shown");
    // A tampered cookie is no cookie.
    let tampered = format!("A{}", &started.cookie[1..]);
    let o = outcome_of(&s, &back(&s, &url, Some(&tampered)).await).await;
    assert!(o["error"].as_str().unwrap().contains("tb_console_login"), "{o}");

    // Too late: the sign-in started more than ten minutes ago.
    let started = start(&s, "exchange").await;
    let url = at_the_provider(&s, &started, "alice", "allow").await;
    s.clock.advance(601);
    let o = outcome_of(&s, &back(&s, &url, Some(&started.cookie)).await).await;
    assert_eq!(o["ok"], false);
    assert!(o["error"].as_str().unwrap().contains("start again"), "{o}");

    // A code the provider does not know: its token endpoint refuses, and the step shows it.
    let started = start(&s, "exchange").await;
    let state = &started.params["state"];
    let bogus = format!("{}/console/callback?code=not-a-code-from-the-provider&state={state}", s.base);
    let o = outcome_of(&s, &back(&s, &bogus, Some(&started.cookie)).await).await;
    assert_eq!(o["ok"], false);
    assert!(o["error"].as_str().unwrap().contains("token endpoint refused the code (HTTP 400): invalid_grant"), "{o}");
    let last = o["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["from"].as_str(), last["ok"].as_bool()), (Some("tokenbridge"), Some(false)));
    assert!(last["response"].as_str().unwrap().starts_with("HTTP 400"), "{last}");
    assert!(!o.to_string().contains("not-a-code-from-the-provider"), "the raw code is shown: {o}");
    assert!(!o.to_string().contains(&s.upstream_client_secret), "the client secret is shown");
}

// --- why a call was refused ---

/// bob places an order: the demo API refuses (group admins). Returns the refusal's request id.
async fn refused_order(s: &Server, access_token: &str) -> String {
    let r = s.send(s.http.post(s.url("/demo/api/orders")).bearer_auth(access_token).json(&json!({}))).await;
    assert_eq!(r.status, 403, "{}", r.text);
    r.request_id().to_string()
}

async fn explain(s: &Server, request_id: &str, bearer: Option<&str>) -> Resp {
    let mut req = s.http.get(s.url(&format!("/console/explain/{request_id}")));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    s.send(req).await
}

#[tokio::test]
async fn explanations_go_to_admins_and_to_the_caller_only() {
    let s = Server::demo().await;
    let bob = s.sign_in("bob").await;
    let alice = s.sign_in("alice").await;
    let bob_at = bob["access_token"].as_str().unwrap();
    let alice_at = alice["access_token"].as_str().unwrap();
    let rid = refused_order(&s, bob_at).await;

    // An admin reads every event of the request.
    let r = explain(&s, &rid, Some(&s.admin_token)).await;
    r.assert_ok();
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json["requestId"], rid);
    let event = &r.json["events"][0];
    assert_eq!((event["eventName"].as_str(), event["decision"].as_str()), (Some("Authorize"), Some("denied")));
    assert_eq!(event["userName"], "bob");
    assert!(event["firstFailure"].as_u64().is_some(), "{event}");
    // The same as the admin API's.
    let admin = s.send(s.http.get(s.url(&format!("/admin/audit/{rid}"))).bearer_auth(&s.admin_token)).await;
    assert_eq!(admin.json, r.json);

    // The caller reads their own refusal.
    let own = explain(&s, &rid, Some(bob_at)).await;
    own.assert_ok();
    assert_eq!(own.json["events"], r.json["events"]);
    // Someone else learns nothing, not even that it exists.
    let other = explain(&s, &rid, Some(alice_at)).await;
    let unknown = explain(&s, "00000000-0000-4000-8000-000000000000", Some(alice_at)).await;
    assert_eq!((other.status, unknown.status), (404, 404), "{}", other.text);
    assert_eq!(other.json["error"], "not_found");
    assert_eq!(
        other.json["error_description"].as_str().unwrap().replace(&rid, "ID"),
        unknown.json["error_description"].as_str().unwrap().replace("00000000-0000-4000-8000-000000000000", "ID")
    );

    // Without credentials, or with something that is not one.
    let r = explain(&s, &rid, None).await;
    assert_oauth_error(&r, 401, "invalid_token", "bearer token", &[]);
    assert!(r.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer realm=")), "{:?}", r.headers);
    let upstream = s.mint_id_token("bob");
    let r = explain(&s, &rid, Some(&upstream)).await;
    assert_oauth_error(&r, 401, "invalid_token", "a token of upstream provider", &[&upstream]);
    assert!(r.header("www-authenticate").is_some_and(|v| v.contains("error=\"invalid_token\"")));
    // A revoked sign-in reads nothing.
    let r = s
        .send(
            s.http
                .post(s.url("/oauth2/revoke"))
                .basic_auth(&s.client_id, Some(&s.client_secret))
                .form(&[("token", bob["refresh_token"].as_str().unwrap())]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(explain(&s, &rid, Some(bob_at)).await.status, 401);
}

#[tokio::test]
async fn explanations_for_temporary_credentials_show_their_own_events() {
    let s = Server::demo().await;
    let info = s.demo_json();
    let host = s.base.trim_start_matches("http://").to_string();
    let region = "ap-northeast-1";
    // alice's user-pool id token gets credentials of the misconfigured pool's role ...
    let client_id = info["cognito"]["client_id"].as_str().unwrap();
    let id_token = s.pool_id_token(client_id, "alice", "alice-local-pw").await;
    let pool = info["identity"]["misconfigured_identity_pool_id"].as_str().unwrap();
    let provider = format!("cognito-idp.{region}.amazonaws.com/{DEMO_POOL_ID}");
    let creds = identity_credentials(&s, pool, &provider, &id_token).await;
    let c = &creds.json["Credentials"];
    let key = SigningKey {
        access_key_id: c["AccessKeyId"].as_str().unwrap(),
        secret_access_key: c["SecretKey"].as_str().unwrap(),
        session_token: c["SessionToken"].as_str(),
    };
    // ... whose policy names another API: the GraphQL call is refused.
    let body = json!({ "query": "{ listItems { id } }" }).to_string().into_bytes();
    let headers = sign_post(&key, &host, "/demo/graphql", "application/json", &[], &body, (region, "appsync"), s.now());
    let mut req = s.http.post(s.url("/demo/graphql")).body(body);
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = s.send(req).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let rid = r.header("x-amzn-requestid").unwrap().to_string();

    let signed_explain = |rid: &str, service: &str| {
        let path = format!("/console/explain/{rid}");
        let headers = sign_get(&key, &host, &path, (region, service), s.now());
        let mut req = s.http.get(s.url(&path));
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req
    };
    let r = s.send(signed_explain(&rid, "appsync")).await;
    r.assert_ok();
    let event = &r.json["events"][0];
    assert_eq!(
        (event["eventSource"].as_str(), event["decision"].as_str()),
        (Some("appsync.amazonaws.com"), Some("denied"))
    );
    // Another request, by someone else: not found.
    let bob = s.sign_in("bob").await;
    let others = refused_order(&s, bob["access_token"].as_str().unwrap()).await;
    let r = s.send(signed_explain(&others, "appsync")).await;
    assert_eq!(r.status, 404, "{}", r.text);
    // A signature for another service is no signature here.
    let r = s.send(signed_explain(&rid, "execute-api")).await;
    assert_oauth_error(&r, 401, "invalid_token", "signature check", &[]);
}

#[tokio::test]
async fn without_explain_to_caller_only_admins_read_explanations() {
    let s = Server::custom(Opts::default()).await;
    assert!(!s.engine.config().console.explain_to_caller);
    let tokens = s.sign_in("bob").await;
    let at = tokens["access_token"].as_str().unwrap();
    // A refused exchange (carol is not linked) has a request id.
    let r = s.exchange_bearer(&s.fresh_id_token("carol"), &[]).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let rid = r.request_id().to_string();
    let caller = explain(&s, &rid, Some(at)).await;
    assert_oauth_error(&caller, 403, "insufficient_scope", "tokenbridge:admin", &[at]);
    assert_eq!(explain(&s, &rid, None).await.status, 401);
    let admin = explain(&s, &rid, Some(&s.admin_token)).await;
    admin.assert_ok();
    assert_eq!(admin.json["events"][0]["eventName"], "TokenExchange");
}

/// GetId and GetCredentialsForIdentity with one login: the credentials answer.
async fn identity_credentials(s: &Server, pool_id: &str, provider: &str, token: &str) -> Resp {
    let logins = json!({ provider: token });
    let id = s.cognito_identity("GetId", &json!({ "IdentityPoolId": pool_id, "Logins": logins })).await;
    id.assert_ok();
    let r = s
        .cognito_identity("GetCredentialsForIdentity", &json!({ "IdentityId": id.str("IdentityId"), "Logins": logins }))
        .await;
    r.assert_ok();
    r
}

// --- the admin API's lookup ---

#[tokio::test]
async fn admin_audit_lookup_filters_by_request_time_and_decision() {
    let s = Server::demo().await;
    let bob = s.sign_in("bob").await;
    let rid = refused_order(&s, bob["access_token"].as_str().unwrap()).await;
    let lookup = |query: String| {
        let req = s.http.get(s.url(&format!("/admin/audit?{query}"))).bearer_auth(&s.admin_token);
        s.send(req)
    };
    let events = |r: &Resp| -> Vec<Value> { r.json["events"].as_array().cloned().unwrap_or_default() };

    let r = lookup(format!("request_id={rid}")).await;
    r.assert_ok();
    let [event] = &events(&r)[..] else { panic!("one event: {}", r.text) };
    assert_eq!(event["requestID"], rid);
    assert_eq!(event["eventName"], "Authorize");
    assert_eq!(events(&lookup(format!("request_id={rid}&denied=false")).await).len(), 0);
    assert_eq!(events(&lookup(format!("request_id={rid}&denied=true&user=bob&event_name=Authorize")).await).len(), 1);
    assert_eq!(events(&lookup(format!("request_id={rid}&user=alice")).await).len(), 0);
    // Time: epoch seconds or RFC 3339, both ends inclusive of now.
    let now = s.now();
    let r = lookup(format!("request_id={rid}&start_time={}&end_time={}", now - 60, now + 60)).await;
    assert_eq!(events(&r).len(), 1, "{}", r.text);
    let later = tokenbridge_core::clock::rfc3339(now + 3600);
    assert_eq!(events(&lookup(format!("request_id={rid}&start_time={later}")).await).len(), 0);
    let earlier = tokenbridge_core::clock::rfc3339(now - 3600);
    assert_eq!(events(&lookup(format!("request_id={rid}&end_time={earlier}")).await).len(), 0);
    // Allowed events only: the exchanges that signed bob in.
    let allowed = events(&lookup("denied=false&event_name=TokenExchange".into()).await);
    assert!(!allowed.is_empty() && allowed.iter().all(|e| e["errorCode"].is_null()));

    // A bad value names its parameter.
    for (query, named) in [
        ("start_time=yesterday", "start_time"),
        ("end_time=soon", "end_time"),
        ("denied=maybe", "denied"),
        ("limit=none", "limit"),
        ("colour=red", "colour"),
    ] {
        let r = lookup(query.into()).await;
        assert_oauth_error(&r, 400, "invalid_request", named, &[]);
    }
    // Still admins only.
    let r = s.send(s.http.get(s.url(&format!("/admin/audit?request_id={rid}")))).await;
    assert_eq!(r.status, 401);
}
