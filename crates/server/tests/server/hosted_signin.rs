//! The hosted sign-in over real HTTP, as a browser without a script engine goes through it with
//! a cookie jar: the authorize request, the sign-in page and its anti-forgery token, the posted
//! password, the redirect to the callback with the code and state, the code redeemed with the
//! PKCE verifier for tokens that verify against the pool's JWKS, UserInfo, a second client
//! signed in by the session cookie alone, and logout. Both ways of addressing a pool's domain;
//! the pages' Content-Security-Policy; forged and missing forms; an unregistered callback (an
//! error page, never a redirect); and the user-pool API's shapes for domains and OAuth settings.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokenbridge_core::config::{
    AwsCredentialConfig, IssuerForm, RateLimits, ResourceServerConfig, ResourceServerScopeConfig, UserPoolClientConfig,
    UserPoolConfig,
};
use tokenbridge_core::directory::NewUser;
use tokenbridge_core::hosted_signin::pkce_challenge_of;

const POOL: &str = "ap-northeast-1_HostedUi1";
const DOMAIN: &str = "hosted-test";
const WEB: &str = "hostedweb00000000000000000";
const OTHER: &str = "hostedother000000000000000";
const MACHINE: &str = "hostedmachine0000000000000";
const MACHINE_SECRET: &str = "machine-secret-0123456789";
const CALLBACK: &str = "https://app.example/callback";
const OTHER_CALLBACK: &str = "http://localhost:3000/cb";
const BYE: &str = "https://app.example/bye";
const VERIFIER: &str = "hosted-sign-in-test-verifier-0123456789-abcdefghij";
const USER: &str = "hanako";
const PASSWORD: &str = "hanako-local-pw";
const KEY_ID: &str = "AKIAHOSTEDSIGNIN0001";
const KEY_SECRET: &str = "hosted-sign-in-admin-secret-0123456789";
const REGION: &str = "ap-northeast-1";

fn client(id: &str, callback: &str, flows: &[&str], scopes: &[&str], secret: Option<&str>) -> UserPoolClientConfig {
    UserPoolClientConfig {
        client_id: id.into(),
        name: format!("{id} app"),
        secret: secret.map(str::to_string),
        providers: Vec::new(),
        callback_urls: if callback.is_empty() { Vec::new() } else { vec![callback.into()] },
        logout_urls: if callback.is_empty() { Vec::new() } else { vec![BYE.into()] },
        allowed_oauth_flows: flows.iter().map(|f| f.to_string()).collect(),
        allowed_oauth_scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

async fn server() -> Server {
    let off = RateLimits { per_ip_per_second: 0, per_client_per_second: 0, burst: 0 };
    let s = Server::custom(Opts {
        rate_limits: Some(off),
        configure: Some(Box::new(|cfg| {
            cfg.aws.region = REGION.into();
            cfg.aws
                .admin_credentials
                .push(AwsCredentialConfig { access_key_id: KEY_ID.into(), secret_access_key: KEY_SECRET.into() });
            let user_scopes = ["openid", "email", "profile", "api.example/read", "api.example/gone"];
            cfg.user_pools.push(UserPoolConfig {
                id: POOL.into(),
                name: "hosted tests".into(),
                issuer: IssuerForm::Local,
                clients: vec![
                    client(WEB, CALLBACK, &["code"], &user_scopes, None),
                    client(OTHER, OTHER_CALLBACK, &["code"], &user_scopes, None),
                    client(
                        MACHINE,
                        "",
                        &["client_credentials"],
                        &["api.example/read", "api.example/gone"],
                        Some(MACHINE_SECRET),
                    ),
                ],
                domain: Some(DOMAIN.into()),
                identity_providers: Vec::new(),
                // Defines `read` only: `api.example/gone` is allowed to clients but defined by none.
                resource_servers: vec![ResourceServerConfig {
                    identifier: "api.example".into(),
                    name: "api".into(),
                    scopes: vec![ResourceServerScopeConfig { name: "read".into(), description: "read".into() }],
                }],
            });
        })),
        ..Default::default()
    })
    .await;
    let user = s
        .engine
        .directory()
        .create_user(NewUser {
            username: USER.into(),
            email: Some("hanako@example.com".into()),
            email_verified: true,
            password: Some(PASSWORD.into()),
            enabled: true,
            ..Default::default()
        })
        .await
        .expect("user");
    s.engine.user_pools().add_pool_member(POOL, &user, Some(PASSWORD)).await.expect("member");
    s
}

/// A browser: its cookies, and the host it addresses the domain by (`None`: the path form).
struct Browser<'a> {
    s: &'a Server,
    host: Option<String>,
    jar: Mutex<BTreeMap<String, String>>,
}

impl<'a> Browser<'a> {
    fn by_path(s: &'a Server) -> Self {
        Self { s, host: None, jar: Mutex::default() }
    }

    fn by_host(s: &'a Server) -> Self {
        let port = s.base.rsplit(':').next().unwrap();
        Self { s, host: Some(format!("{DOMAIN}.auth.localhost:{port}")), jar: Mutex::default() }
    }

    /// Where the domain's `rest` is, as this browser addresses it.
    fn path(&self, rest: &str) -> String {
        match &self.host {
            Some(_) => rest.to_string(),
            None => format!("/domains/{DOMAIN}{rest}"),
        }
    }

    fn request(&self, method: reqwest::Method, path_and_query: &str) -> reqwest::RequestBuilder {
        let mut r = self.s.http.request(method, self.s.url(path_and_query));
        if let Some(h) = &self.host {
            r = r.header("host", h);
        }
        let cookies: Vec<String> = self.jar.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !cookies.is_empty() {
            r = r.header("cookie", cookies.join("; "));
        }
        r
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Resp {
        let resp = Resp::read(r.send().await.expect("request")).await;
        for c in resp.headers.get_all("set-cookie") {
            let text = c.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.jar.lock().unwrap().remove(name);
            } else {
                self.jar.lock().unwrap().insert(name.into(), value.into());
            }
        }
        resp
    }

    async fn get(&self, path_and_query: &str) -> Resp {
        self.send(self.request(reqwest::Method::GET, path_and_query)).await
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let r = self.request(reqwest::Method::POST, path).header("content-type", "application/x-www-form-urlencoded");
        self.send(r.body(body)).await
    }

    /// `GET /oauth2/authorize` for `client` with PKCE S256, state and nonce (`extra` replaces or
    /// adds parameters).
    async fn authorize(&self, client: &str, callback: &str, extra: &[(&str, &str)]) -> Resp {
        let challenge = pkce_challenge_of(VERIFIER);
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", callback),
            ("state", "xyz-state"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("scope", "openid email"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            match q.iter_mut().find(|(n, _)| n == k) {
                Some(p) => p.1 = v,
                None => q.push((k, v)),
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&q).finish();
        self.get(&format!("{}?{query}", self.path("/oauth2/authorize"))).await
    }
}

/// The hidden and named inputs of the page's form, by name.
fn form_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for tag in html.split("<input").skip(1) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        let attr = |name: &str| {
            tag.split(&format!(" {name}=\""))
                .nth(1)
                .map(|v| v[..v.find('"').unwrap()].replace("&amp;", "&").replace("&quot;", "\""))
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            out.push((n, v));
        }
    }
    out
}

/// The sign-in form posted with the page's hidden fields and these credentials.
async fn post_login(b: &Browser<'_>, page: &Resp, username: &str, password: &str) -> Resp {
    let mut form: Vec<(String, String)> =
        form_fields(&page.text).into_iter().filter(|(n, _)| n != "username").collect();
    form.push(("username".into(), username.into()));
    form.push(("password".into(), password.into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post_form(&b.path("/login"), &pairs).await
}

fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string())
}

async fn redeem(b: &Browser<'_>, client: &str, callback: &str, code: &str) -> Resp {
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client),
        ("code", code),
        ("redirect_uri", callback),
        ("code_verifier", VERIFIER),
    ];
    b.post_form(&b.path("/oauth2/token"), &form).await
}

/// The whole round trip, in one addressing form.
async fn round_trip(b: &Browser<'_>) {
    let s = b.s;
    let page = b.authorize(WEB, CALLBACK, &[]).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
    assert!(csp.contains("form-action 'self' https://app.example;") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(page.text.contains("<label for=\"password\">") && page.text.contains("autofocus"));
    assert!(!page.text.contains("<script"), "no script on the page");
    assert!(page.text.contains(&format!("action=\"{}\"", b.path("/login"))), "{}", page.text);

    let signed = post_login(b, &page, USER, PASSWORD).await;
    assert_eq!(signed.status, 302, "{}", signed.text);
    let location = signed.header("location").unwrap().to_string();
    assert!(location.starts_with(&format!("{CALLBACK}?code=")), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz-state"));
    let session_cookie =
        signed.headers.get_all("set-cookie").iter().map(|c| c.to_str().unwrap()).find(|c| c.starts_with("tb_signin="));
    let session_cookie = session_cookie.expect("a session cookie");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    let cookie_path = if b.host.is_some() { "Path=/;".to_string() } else { format!("Path=/domains/{DOMAIN};") };
    assert!(session_cookie.contains(&cookie_path), "{session_cookie}");

    let code = query_param(&location, "code").unwrap();
    let tokens = redeem(b, WEB, CALLBACK, &code).await;
    tokens.assert_ok();
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
    let jwks = s.send(s.http.get(s.url(&format!("/{POOL}/.well-known/jwks.json")))).await.json;
    let id = verify_with_jwks(tokens.str("id_token"), &jwks);
    assert_eq!(id.claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id.claims["iss"], s.url(&format!("/{POOL}")));
    assert_eq!(id.claims["aud"], WEB);
    let access = verify_with_jwks(tokens.str("access_token"), &jwks);
    assert_eq!(access.claims["scope"], "openid email");
    assert!(tokens.json["refresh_token"].is_string());
    let userinfo = async |token: &str| {
        b.send(b.request(reqwest::Method::GET, &b.path("/oauth2/userInfo")).bearer_auth(token)).await
    };
    let info = userinfo(tokens.str("access_token")).await;
    info.assert_ok();
    assert_eq!((info.str("username"), info.str("email")), (USER, "hanako@example.com"));
    // The code once only: a second redemption is refused, and ends what the first issued.
    let again = redeem(b, WEB, CALLBACK, &code).await;
    assert_oauth_error(&again, 400, "invalid_grant", "already used", &[&code]);
    assert_eq!(userinfo(tokens.str("access_token")).await.status, 401);

    // Another client of the pool: the session cookie alone signs in.
    let sso = b.authorize(OTHER, OTHER_CALLBACK, &[]).await;
    assert_eq!(sso.status, 302, "{}", sso.text);
    let other_code = query_param(sso.header("location").unwrap(), "code").expect("a code without a password");
    redeem(b, OTHER, OTHER_CALLBACK, &other_code).await.assert_ok();

    // Logout ends it: the cookie is cleared, and the next authorize shows the page again.
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", WEB), ("logout_uri", BYE)])
        .finish();
    let out = b.get(&format!("{}?{query}", b.path("/logout"))).await;
    assert_eq!((out.status, out.header("location")), (302, Some(BYE)), "{}", out.text);
    assert!(!b.jar.lock().unwrap().contains_key("tb_signin"));
    assert_eq!(b.authorize(OTHER, OTHER_CALLBACK, &[]).await.status, 200);
}

#[tokio::test]
async fn a_browser_signs_in_by_path_and_a_second_client_rides_the_session() {
    let s = server().await;
    round_trip(&Browser::by_path(&s)).await;
}

#[tokio::test]
async fn a_browser_signs_in_by_the_domains_host_name() {
    let s = server().await;
    round_trip(&Browser::by_host(&s)).await;
    // The broker's own endpoints stay where they were on its own host.
    let root = s.get("/.well-known/openid-configuration").await;
    assert_eq!(root.json["token_endpoint"], s.url("/oauth2/token"));
}

#[tokio::test]
async fn forms_without_this_browsers_token_are_refused() {
    let s = server().await;
    let b = Browser::by_path(&s);
    let page = b.authorize(WEB, CALLBACK, &[]).await;
    // No token at all.
    let mut fields: Vec<(String, String)> =
        form_fields(&page.text).into_iter().filter(|(n, _)| n != "csrf" && n != "username").collect();
    fields.push(("username".into(), USER.into()));
    fields.push(("password".into(), PASSWORD.into()));
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = b.post_form(&b.path("/login"), &pairs).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("<code>csrf</code>") && r.text.contains(r.request_id()), "{}", r.text);
    assert_eq!(failing_check(&s, &r).await.1, "csrf");
    // Another browser's token (a forged form posted from elsewhere carries the victim's cookie,
    // never a token made for it).
    let attacker = Browser::by_path(&s);
    let attacker_page = attacker.authorize(WEB, CALLBACK, &[]).await;
    let mut forged: Vec<(String, String)> =
        form_fields(&attacker_page.text).into_iter().filter(|(n, _)| n != "username").collect();
    forged.push(("username".into(), USER.into()));
    forged.push(("password".into(), PASSWORD.into()));
    let pairs: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = b.post_form(&b.path("/login"), &pairs).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(failing_check(&s, &r).await.2.contains("another browser"));
}

#[tokio::test]
async fn refusals_go_to_an_error_page_until_the_callback_is_known_good() {
    let s = server().await;
    let b = Browser::by_path(&s);
    // Not a registered callback: an error page, never a redirect there.
    let r = b.authorize(WEB, "https://evil.example/callback", &[]).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.header("location").is_none());
    assert!(r.text.contains("<code>redirect_uri</code>") && r.text.contains(r.request_id()), "{}", r.text);
    assert!(r.header("content-security-policy").is_some());
    // A known callback: the error goes back to the client, with the state (RFC 6749 §4.1.2.1).
    let r = b.authorize(WEB, CALLBACK, &[("code_challenge_method", "plain")]).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let location = r.header("location").unwrap();
    assert!(location.starts_with(CALLBACK), "{location}");
    assert_eq!(query_param(location, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query_param(location, "state").as_deref(), Some("xyz-state"));
    // prompt=none without a sign-in session: login_required back to the client, no page.
    let r = b.authorize(WEB, CALLBACK, &[("prompt", "none")]).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let location = r.header("location").unwrap();
    assert_eq!(query_param(location, "error").as_deref(), Some("login_required"), "{location}");
    assert_eq!(query_param(location, "state").as_deref(), Some("xyz-state"));
    // A wrong password: the page again, with the message and the request id.
    let page = b.authorize(WEB, CALLBACK, &[]).await;
    let wrong = post_login(&b, &page, USER, "not-the-password").await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(wrong.text.contains("Incorrect username or password.") && wrong.text.contains(wrong.request_id()));
    assert!(wrong.text.contains("name=\"password\""), "the form again");
    // An unknown domain.
    let r = s.get("/domains/no-such-domain/oauth2/authorize?client_id=x").await;
    assert_eq!(r.status, 404, "{}", r.text);
}

#[tokio::test]
async fn client_credentials_revocation_and_discovery_at_the_domain() {
    let s = server().await;
    let b = Browser::by_path(&s);
    let machine = s
        .send(
            s.http
                .post(s.url(&b.path("/oauth2/token")))
                .basic_auth(MACHINE, Some(MACHINE_SECRET))
                .form(&[("grant_type", "client_credentials"), ("scope", "api.example/read")]),
        )
        .await;
    machine.assert_ok();
    assert!(machine.json.get("id_token").is_none() && machine.json.get("refresh_token").is_none());
    let jwks = s.send(s.http.get(s.url(&format!("/{POOL}/.well-known/jwks.json")))).await.json;
    let at = verify_with_jwks(machine.str("access_token"), &jwks);
    assert_eq!((at.claims["sub"].as_str(), at.claims["scope"].as_str()), (Some(MACHINE), Some("api.example/read")));
    // A scope the client may ask for but no resource server defines: invalid_scope.
    let undefined = s
        .send(
            s.http
                .post(s.url(&b.path("/oauth2/token")))
                .basic_auth(MACHINE, Some(MACHINE_SECRET))
                .form(&[("grant_type", "client_credentials"), ("scope", "api.example/gone")]),
        )
        .await;
    assert_oauth_error(&undefined, 400, "invalid_scope", "not defined by a resource server", &[MACHINE_SECRET]);
    // At authorize the same refusal goes back to the callback; a defined one is granted.
    let r = b.authorize(WEB, CALLBACK, &[("scope", "openid api.example/gone")]).await;
    assert_eq!(r.status, 302, "{}", r.text);
    let location = r.header("location").unwrap();
    assert_eq!(query_param(location, "error").as_deref(), Some("invalid_scope"), "{location}");
    let r = b.authorize(WEB, CALLBACK, &[("scope", "openid api.example/read")]).await;
    assert_eq!(r.status, 200, "the sign-in page: {}", r.text);
    let wrong = s
        .send(
            s.http
                .post(s.url(&b.path("/oauth2/token")))
                .basic_auth(MACHINE, Some("wrong"))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
    assert_oauth_error(&wrong, 401, "invalid_client", "does not match", &["wrong"]);

    // Revocation of a hosted sign-in's refresh token.
    let page = b.authorize(WEB, CALLBACK, &[]).await;
    let code = query_param(post_login(&b, &page, USER, PASSWORD).await.header("location").unwrap(), "code").unwrap();
    let tokens = redeem(&b, WEB, CALLBACK, &code).await;
    let refresh = tokens.str("refresh_token").to_string();
    let revoked = b.post_form(&b.path("/oauth2/revoke"), &[("token", &refresh), ("client_id", WEB)]).await;
    revoked.assert_ok();
    let refreshed = s
        .cognito("InitiateAuth", &json!({ "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": WEB, "AuthParameters": { "REFRESH_TOKEN": refresh } }))
        .await;
    assert_cognito_error(&refreshed, "NotAuthorizedException", "Refresh Token has been revoked");

    let doc = s.get(&format!("/{POOL}/.well-known/openid-configuration")).await.json;
    let at = s.url(&format!("/domains/{DOMAIN}"));
    assert_eq!(doc["authorization_endpoint"], format!("{at}/oauth2/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{at}/oauth2/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{at}/oauth2/userInfo"));
    assert_eq!(doc["end_session_endpoint"], format!("{at}/logout"));
    assert_eq!(doc["revocation_endpoint"], format!("{at}/oauth2/revoke"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
}

/// A single-page app on another origin redeems its code and reads UserInfo itself: the domain's
/// endpoints answer CORS as the Cognito door does; the pages, reached by navigation, do not.
#[tokio::test]
async fn the_domains_endpoints_answer_a_page_on_another_origin() {
    let s = server().await;
    let b = Browser::by_path(&s);
    let app = "http://127.0.0.1:9";
    for (path, method, headers) in [
        ("/oauth2/token", "POST", "content-type"),
        ("/oauth2/userInfo", "GET", "authorization"),
        ("/oauth2/revoke", "POST", "content-type"),
    ] {
        let pre = b
            .send(
                b.request(reqwest::Method::OPTIONS, &b.path(path))
                    .header("origin", app)
                    .header("access-control-request-method", method)
                    .header("access-control-request-headers", headers),
            )
            .await;
        assert_eq!(pre.status, 200, "preflight of {path}");
        assert_eq!(pre.header("access-control-allow-origin"), Some("*"), "{path}");
        assert!(pre.header("access-control-allow-credentials").is_none(), "{path}: never with credentials");
    }
    let page = b.authorize(WEB, CALLBACK, &[]).await;
    let code = query_param(post_login(&b, &page, USER, PASSWORD).await.header("location").unwrap(), "code").unwrap();
    let verifier = VERIFIER;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", WEB),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ];
    let r = b.send(b.request(reqwest::Method::POST, &b.path("/oauth2/token")).header("origin", app).form(&form)).await;
    r.assert_ok();
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let info = b
        .send(
            b.request(reqwest::Method::GET, &b.path("/oauth2/userInfo"))
                .header("origin", app)
                .bearer_auth(r.str("access_token")),
        )
        .await;
    info.assert_ok();
    assert_eq!(info.header("access-control-allow-origin"), Some("*"));
    let page =
        b.send(b.request(reqwest::Method::GET, &b.path("/oauth2/authorize?client_id=x")).header("origin", app)).await;
    assert!(page.header("access-control-allow-origin").is_none(), "the pages answer no CORS");
}

#[tokio::test]
async fn a_temporary_password_is_replaced_on_the_new_password_page() {
    let s = server().await;
    let user = json!({ "UserPoolId": POOL, "Username": "jiro", "TemporaryPassword": "Temp-pass-123", "MessageAction": "SUPPRESS" });
    s.user_pool_admin("AdminCreateUser", &user).await;
    let b = Browser::by_host(&s);
    let page = b.authorize(WEB, CALLBACK, &[]).await;
    let step = post_login(&b, &page, "jiro", "Temp-pass-123").await;
    assert_eq!(step.status, 200, "{}", step.text);
    assert!(
        step.text.contains("Set a new password") && step.text.contains("action=\"/new-password\""),
        "{}",
        step.text
    );
    assert!(step.header("content-security-policy").is_some());
    let mut form = form_fields(&step.text);
    form.push(("new_password".into(), "Jiro-own-pw-1".into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = b.post_form("/new-password", &pairs).await;
    assert_eq!(done.status, 302, "{}", done.text);
    let location = done.header("location").unwrap();
    assert!(location.starts_with(&format!("{CALLBACK}?code=")), "{location}");
    redeem(&b, WEB, CALLBACK, &query_param(location, "code").unwrap()).await.assert_ok();
}

// --- the user-pool API: domains and the clients' OAuth settings, in botocore's shapes ---

/// Members of botocore's `UserPoolClientType` and `DomainDescriptionType` (cognito-idp
/// 2016-04-18): an answer names no other.
const CLIENT_MEMBERS: &[&str] = &[
    "UserPoolId",
    "ClientName",
    "ClientId",
    "ClientSecret",
    "LastModifiedDate",
    "CreationDate",
    "RefreshTokenValidity",
    "AccessTokenValidity",
    "IdTokenValidity",
    "TokenValidityUnits",
    "ReadAttributes",
    "WriteAttributes",
    "ExplicitAuthFlows",
    "SupportedIdentityProviders",
    "CallbackURLs",
    "LogoutURLs",
    "DefaultRedirectURI",
    "AllowedOAuthFlows",
    "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient",
    "AnalyticsConfiguration",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
    "AuthSessionValidity",
];
const DOMAIN_MEMBERS: &[&str] = &[
    "UserPoolId",
    "AWSAccountId",
    "Domain",
    "S3Bucket",
    "CloudFrontDistribution",
    "Version",
    "Status",
    "CustomDomainConfig",
];

async fn signed(s: &Server, action: &str, input: &Value) -> Resp {
    let host = s.base.trim_start_matches("http://").to_string();
    let key = sigv4::SigningKey { access_key_id: KEY_ID, secret_access_key: KEY_SECRET, session_token: None };
    let target = format!("{USER_POOL_TARGET}{action}");
    let body = input.to_string();
    let headers = sigv4::sign_post(
        &key,
        &host,
        "/",
        AMZ_JSON,
        &[("x-amz-target", &target)],
        body.as_bytes(),
        (REGION, "cognito-idp"),
        s.now(),
    );
    let mut r = s.http.post(s.url("/"));
    for (k, v) in headers {
        r = r.header(k, v);
    }
    s.send(r.body(body)).await
}

fn only_members(v: &Value, members: &[&str]) {
    for k in v.as_object().unwrap_or_else(|| panic!("an object: {v}")).keys() {
        assert!(members.contains(&k.as_str()), "{k} is not a member of the botocore shape: {v}");
    }
}

#[tokio::test]
async fn domains_and_oauth_settings_in_botocores_shapes() {
    let s = server().await;
    let pool = signed(&s, "CreateUserPool", &json!({ "PoolName": "shapes" })).await;
    let pool_id = pool.json["UserPool"]["Id"].as_str().unwrap().to_string();
    signed(&s, "CreateUserPoolDomain", &json!({ "Domain": "shapes-app", "UserPoolId": pool_id })).await.assert_ok();
    let taken = signed(&s, "CreateUserPoolDomain", &json!({ "Domain": DOMAIN, "UserPoolId": pool_id })).await;
    assert_cognito_error(&taken, "InvalidParameterException", "Domain already associated with another user pool.");
    let reserved = signed(&s, "CreateUserPoolDomain", &json!({ "Domain": "my-cognito", "UserPoolId": pool_id })).await;
    assert_cognito_error(&reserved, "InvalidParameterException", "Domain cannot contain reserved word: cognito");
    let d = signed(&s, "DescribeUserPoolDomain", &json!({ "Domain": "shapes-app" })).await;
    only_members(&d.json["DomainDescription"], DOMAIN_MEMBERS);
    assert_eq!(
        (d.json["DomainDescription"]["UserPoolId"].as_str(), d.json["DomainDescription"]["Status"].as_str()),
        (Some(pool_id.as_str()), Some("ACTIVE"))
    );
    let described = signed(&s, "DescribeUserPool", &json!({ "UserPoolId": pool_id })).await;
    assert_eq!(described.json["UserPool"]["Domain"], "shapes-app");

    let created = signed(&s, "CreateUserPoolClient", &json!({
        "UserPoolId": pool_id, "ClientName": "spa",
        "CallbackURLs": ["https://spa.example/cb"], "LogoutURLs": ["https://spa.example/"],
        "DefaultRedirectURI": "https://spa.example/cb",
        "AllowedOAuthFlows": ["code"], "AllowedOAuthScopes": ["openid", "email"], "AllowedOAuthFlowsUserPoolClient": true,
        "SupportedIdentityProviders": ["COGNITO"],
    }))
    .await;
    created.assert_ok();
    let c = &created.json["UserPoolClient"];
    only_members(c, CLIENT_MEMBERS);
    assert_eq!(c["CallbackURLs"], json!(["https://spa.example/cb"]));
    assert_eq!(
        (c["AllowedOAuthFlows"].clone(), c["AllowedOAuthFlowsUserPoolClient"].clone()),
        (json!(["code"]), json!(true))
    );
    let client_id = c["ClientId"].as_str().unwrap().to_string();
    let updated = signed(
        &s,
        "UpdateUserPoolClient",
        &json!({ "UserPoolId": pool_id, "ClientId": client_id, "CallbackURLs": ["https://spa.example/other"] }),
    )
    .await;
    updated.assert_ok();
    let u = &updated.json["UserPoolClient"];
    assert_eq!(
        (u["CallbackURLs"].clone(), u["ClientName"].clone()),
        (json!(["https://spa.example/other"]), json!("spa"))
    );
    assert!(u.get("AllowedOAuthFlows").is_none(), "an update resets what it does not name: {u}");

    let bad_scope = signed(
        &s,
        "CreateUserPoolClient",
        &json!({ "UserPoolId": pool_id, "ClientName": "x", "AllowedOAuthScopes": ["admin"] }),
    )
    .await;
    assert_cognito_error(&bad_scope, "ScopeDoesNotExistException", "Invalid scope requested: admin");
    let implicit = signed(&s, "CreateUserPoolClient", &json!({ "UserPoolId": pool_id, "ClientName": "x", "CallbackURLs": ["https://a.example/"], "AllowedOAuthFlows": ["implicit"], "AllowedOAuthScopes": ["openid"], "AllowedOAuthFlowsUserPoolClient": true })).await;
    assert_eq!(implicit.json["__type"], "InvalidOAuthFlowException", "{}", implicit.text);
    let plain_http = signed(
        &s,
        "CreateUserPoolClient",
        &json!({ "UserPoolId": pool_id, "ClientName": "x", "CallbackURLs": ["http://app.example/cb"] }),
    )
    .await;
    assert_eq!(plain_http.json["__type"], "InvalidParameterException", "{}", plain_http.text);

    signed(&s, "DeleteUserPoolDomain", &json!({ "Domain": "shapes-app", "UserPoolId": pool_id })).await.assert_ok();
    let gone = signed(&s, "DescribeUserPoolDomain", &json!({ "Domain": "shapes-app" })).await;
    assert_eq!(gone.json, json!({ "DomainDescription": {} }));
}
