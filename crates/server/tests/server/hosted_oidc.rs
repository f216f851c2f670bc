//! Sign-in through a pool's OIDC identity provider over real HTTP: the demo provider (a real
//! OIDC provider, mounted at `/demo-idp`) is the pool's provider `DemoOIDC`. The browser goes
//! from the authorize request to the provider's login and consent pages and back to
//! `/oauth2/idpresponse`; the code redeems for tokens with `identities`. The refusals as error
//! pages with the request id that finds their trail: a replayed or unknown state, another
//! browser, a nonce that is not the one sent, the provider's error; two callbacks at once.

use crate::common::*;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokenbridge_core::config::{IdentityProviderConfig, RateLimits};
use tokenbridge_core::hosted_signin::pkce_challenge_of;

const POOL: &str = "ap-northeast-1_HostedOidc";
const WEB: &str = "oidcwire000000000000000000";
const CALLBACK: &str = "https://app.example/callback";
const VERIFIER: &str = "hosted-oidc-test-verifier-0123456789-abcdefghijklm";
const PROVIDER: &str = "DemoOIDC";

async fn server() -> Server {
    let off = RateLimits { per_ip_per_second: 0, per_client_per_second: 0, burst: 0 };
    Server::custom(Opts {
        rate_limits: Some(off),
        configure: Some(Box::new(move |cfg| {
            let issuer = cfg.providers[0].issuer.clone();
            let provider: IdentityProviderConfig = serde_json::from_value(serde_json::json!({
                "name": PROVIDER, "type": "oidc", "oidc_issuer": issuer,
                "client_id": UPSTREAM_CLIENT, "client_secret": "custom-upstream-secret",
                "authorize_scopes": "openid email profile",
                "attribute_mapping": { "email": "email", "name": "name" },
            }))
            .unwrap();
            let pool = FederatedPool { pool: POOL, name: "OIDC", client: WEB, callback: CALLBACK, domain: OIDC_DOMAIN };
            cfg.user_pools.push(pool.config(provider));
        })),
        ..Default::default()
    })
    .await
}

/// A browser: its cookies.
struct Browser<'a> {
    s: &'a Server,
    jar: Mutex<BTreeMap<String, String>>,
}

impl<'a> Browser<'a> {
    fn new(s: &'a Server) -> Self {
        Self { s, jar: Mutex::default() }
    }

    fn domain(&self, rest: &str) -> String {
        self.s.url(&format!("/domains/{OIDC_DOMAIN}{rest}"))
    }

    async fn send(&self, method: reqwest::Method, url: &str, form: Option<&[(&str, &str)]>) -> Resp {
        let mut r = self.s.http.request(method, url);
        let cookies: Vec<String> = self.jar.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !cookies.is_empty() {
            r = r.header("cookie", cookies.join("; "));
        }
        if let Some(form) = form {
            let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
            r = r.header("content-type", "application/x-www-form-urlencoded").body(body);
        }
        let resp = Resp::read(r.send().await.expect("request")).await;
        for c in resp.headers.get_all("set-cookie") {
            let text = c.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.jar.lock().unwrap().insert(name.into(), value.into());
        }
        resp
    }

    /// The authorize request naming the provider: where the browser is sent.
    async fn to_the_provider(&self) -> String {
        let challenge = pkce_challenge_of(VERIFIER);
        let q = [
            ("response_type", "code"),
            ("client_id", WEB),
            ("redirect_uri", CALLBACK),
            ("state", "xyz-state"),
            ("scope", "openid email"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("identity_provider", PROVIDER),
        ];
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&q).finish();
        let r = self.send(reqwest::Method::GET, &format!("{}?{query}", self.domain("/oauth2/authorize")), None).await;
        assert_eq!(r.status, 302, "{}", r.text);
        assert!(self.jar.lock().unwrap().contains_key("tb_saml"), "the binding cookie");
        r.header("location").unwrap().to_string()
    }

    /// At the provider: its login page (`username`), then its consent (`decision`); returns
    /// where the provider sends the browser back. `tamper` edits the authorization request first.
    async fn at_the_provider(&self, location: &str, username: &str, decision: &str, tamper: &[(&str, &str)]) -> String {
        let (endpoint, _) = location.split_once('?').unwrap();
        assert_eq!(endpoint, format!("{}/demo-idp/authorize", self.s.base));
        let page = self.send(reqwest::Method::GET, location, None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let mut fields: BTreeMap<String, String> =
            url::Url::parse(location).unwrap().query_pairs().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(fields["scope"], "openid email profile");
        assert_eq!(fields["code_challenge_method"], "S256");
        assert_eq!(fields["redirect_uri"], self.domain("/oauth2/idpresponse"));
        for (k, v) in tamper {
            fields.insert(k.to_string(), v.to_string());
        }
        let person = PEOPLE.iter().find(|p| p.upstream_username == username).unwrap();
        fields.insert("username".into(), username.into());
        fields.insert("password".into(), person.upstream_password.into());
        let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let consent =
            self.send(reqwest::Method::POST, &format!("{}/demo-idp/authorize/login", self.s.base), Some(&form)).await;
        assert_eq!(consent.status, 200, "{}", consent.text);
        let session = hidden(&consent.text, "session");
        let form = [("session", session.as_str()), ("decision", decision)];
        let back =
            self.send(reqwest::Method::POST, &format!("{}/demo-idp/authorize/consent", self.s.base), Some(&form)).await;
        assert_eq!(back.status, 302, "{}", back.text);
        back.header("location").unwrap().to_string()
    }

    async fn callback(&self, url: &str) -> Resp {
        assert!(url.starts_with(&self.domain("/oauth2/idpresponse?")), "{url}");
        self.send(reqwest::Method::GET, url, None).await
    }
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].replace("&amp;", "&")
}

fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string())
}

/// The refused callback's page: 403, naming `check`, with the request id whose trail says `says`.
async fn refused(s: &Server, r: &Resp, check: &str, says: &str) {
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains(&format!("<code>{check}</code>")), "{}", r.text);
    let request_id = r.header("x-request-id").expect("a request id").to_string();
    assert!(r.text.contains(&request_id), "{}", r.text);
    let trail = s.audit_of(&request_id).await;
    let lines = format!("{:?}", trail[0].record["additionalEventData"]["decisionTrail"]);
    assert!(lines.contains(says), "{lines}");
    assert_eq!(trail[0].error_code.as_deref(), Some("access_denied"));
}

/// The demo provider's `sub` for a user.
fn subject_of(s: &Server, username: &str) -> String {
    let token = s.idp.mint_id_token(username).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&tokenbridge_core::jose::b64url_decode(payload).unwrap()).unwrap();
    claims["sub"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_browser_signs_in_through_the_oidc_provider_and_the_tokens_carry_identities() {
    let s = server().await;
    let b = Browser::new(&s);
    let carol = "carol@demo-upstream.example";
    let to = b.to_the_provider().await;
    let back = b.at_the_provider(&to, carol, "allow", &[]).await;
    let signed_in = b.callback(&back).await;
    assert_eq!(signed_in.status, 302, "{}", signed_in.text);
    let location = signed_in.header("location").unwrap().to_string();
    assert!(location.starts_with(&format!("{CALLBACK}?code=")), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz-state"));
    assert!(b.jar.lock().unwrap().contains_key("tb_signin"), "a sign-in session");

    let code = query_param(&location, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", WEB),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let tokens = b.send(reqwest::Method::POST, &b.domain("/oauth2/token"), Some(&form)).await;
    tokens.assert_ok();
    let jwks = s.send(s.http.get(s.url(&format!("/{POOL}/.well-known/jwks.json")))).await.json;
    let id = verify_with_jwks(tokens.str("id_token"), &jwks);
    let sub = subject_of(&s, carol);
    assert_eq!(id.claims["cognito:username"], format!("{PROVIDER}_{sub}"));
    assert_eq!(id.claims["email"], "carol@example.com");
    assert_eq!(id.claims["identities"][0]["providerName"], PROVIDER);
    assert_eq!(id.claims["identities"][0]["providerType"], "OIDC");
    assert_eq!(id.claims["identities"][0]["userId"], sub);
    assert_eq!(id.claims["identities"][0]["issuer"], format!("{}/demo-idp", s.base));

    // The trail of the callback names the key that verified the id token and the nonce.
    let request_id = signed_in.header("x-request-id").unwrap().to_string();
    let trail = s.audit_of(&request_id).await;
    let lines = format!("{:?}", trail[0].record["additionalEventData"]["decisionTrail"]);
    assert!(lines.contains("RS256 with key"), "{lines}");
    assert!(lines.contains("id token nonce = the one sent"), "{lines}");

    // The same callback again: the state was answered.
    refused(&s, &b.callback(&back).await, "state", "unknown or already answered").await;
    // A state never sent.
    let forged = back.replace("state=", "state=x");
    refused(&s, &b.callback(&forged).await, "state", "unknown or already answered (no such pending request)").await;
}

#[tokio::test]
async fn a_linked_identity_signs_in_as_the_native_user() {
    let s = server().await;
    let alice = "alice@demo-upstream.example";
    let sub = subject_of(&s, alice);
    let admin = tokenbridge_core::iam::CallerIdentity::Admin { access_key_id: "test".into() };
    let ctx = tokenbridge_core::audit::RequestContext::new("cognito-idp.amazonaws.com");
    let pools = s.engine.user_pools();
    pools
        .user_pool_action(
            "AdminCreateUser",
            &serde_json::json!({ "UserPoolId": POOL, "Username": "olga", "MessageAction": "SUPPRESS" }),
            Some(&admin),
            &ctx,
        )
        .await
        .expect("a native user");
    pools
        .user_pool_action(
            "AdminSetUserPassword",
            &serde_json::json!({ "UserPoolId": POOL, "Username": "olga", "Password": "Olga-native-pw-1", "Permanent": true }),
            Some(&admin),
            &ctx,
        )
        .await
        .expect("confirmed");
    pools
        .user_pool_action(
            "AdminLinkProviderForUser",
            &serde_json::json!({ "UserPoolId": POOL,
                "DestinationUser": { "ProviderName": "Cognito", "ProviderAttributeValue": "olga" },
                "SourceUser": { "ProviderName": PROVIDER, "ProviderAttributeName": "Cognito_Subject", "ProviderAttributeValue": sub } }),
            Some(&admin),
            &ctx,
        )
        .await
        .expect("linked");
    let b = Browser::new(&s);
    let to = b.to_the_provider().await;
    let back = b.at_the_provider(&to, alice, "allow", &[]).await;
    let signed_in = b.callback(&back).await;
    assert_eq!(signed_in.status, 302, "{}", signed_in.text);
    let code = query_param(signed_in.header("location").unwrap(), "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", WEB),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let tokens = b.send(reqwest::Method::POST, &b.domain("/oauth2/token"), Some(&form)).await;
    tokens.assert_ok();
    let jwks = s.send(s.http.get(s.url(&format!("/{POOL}/.well-known/jwks.json")))).await.json;
    let id = verify_with_jwks(tokens.str("id_token"), &jwks);
    assert_eq!(id.claims["cognito:username"], "olga");
    assert_eq!(id.claims["identities"][0]["providerType"], "OIDC");
}

#[tokio::test]
async fn refusals_another_browser_a_wrong_nonce_and_the_providers_error() {
    let s = server().await;
    let carol = "carol@demo-upstream.example";

    // Another browser brings the answer (login CSRF): refused, and the request is not spent.
    let victim = Browser::new(&s);
    let to = victim.to_the_provider().await;
    let back = victim.at_the_provider(&to, carol, "allow", &[]).await;
    let attacker = Browser::new(&s);
    refused(&s, &attacker.callback(&back).await, "state", "was made in another browser").await;
    assert_eq!(victim.callback(&back).await.status, 302);

    // The id token carries another nonce than the one sent.
    let b = Browser::new(&s);
    let to = b.to_the_provider().await;
    let back = b.at_the_provider(&to, carol, "allow", &[("nonce", "not-the-one-sent")]).await;
    refused(&s, &b.callback(&back).await, "nonce", "id token nonce ≠ the one sent").await;

    // The provider answers with an error (the user denied).
    let to = b.to_the_provider().await;
    let back = b.at_the_provider(&to, carol, "deny", &[]).await;
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
    refused(&s, &b.callback(&back).await, "provider answer", "answered error=access_denied").await;
}

#[tokio::test]
async fn one_callback_brought_twice_at_once_signs_in_once() {
    let s = server().await;
    let b = Browser::new(&s);
    let to = b.to_the_provider().await;
    let back = b.at_the_provider(&to, "carol@demo-upstream.example", "allow", &[]).await;
    let (one, two) = tokio::join!(b.callback(&back), b.callback(&back));
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(statuses, [302, 403], "{} / {}", one.text, two.text);
}
