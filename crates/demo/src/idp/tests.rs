//! Drives the demo provider over real HTTP: the router nested under `/demo-idp` on an
//! ephemeral port, a SQLite store in a temporary directory, a manual clock.

use super::wire::{form_decode, resolve_scope};
use super::*;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;
use tempfile::TempDir;
use tokenbridge_core::jose::{looks_like_jwt, JwkSet, UnverifiedJwt, VerifyingKey};
use tokenbridge_core::ManualClock;
use tokenbridge_store::SqliteStore;

const CLIENT_ID: &str = "3MVG9demo_client";
const CLIENT_SECRET: &str = "demo-client-secret";
const REDIRECT_URI: &str = "http://127.0.0.1:5555/callback";
/// A second registered client, with its own secret and redirect URI.
const OTHER_CLIENT_ID: &str = "other-relying-party";
const OTHER_SECRET: &str = "other-client-secret";
const OTHER_REDIRECT_URI: &str = "http://127.0.0.1:5556/idpresponse";
const START: i64 = 1_750_000_000;

pub(super) fn users() -> Vec<DemoUser> {
    vec![
        DemoUser {
            username: "alice@acme.example".into(),
            password: "alice-pass".into(),
            email: "alice@acme.example".into(),
            email_verified: true,
            name: "Alice Admin".into(),
            organization_id: "00D000000000001AAA".into(),
        },
        DemoUser {
            username: "bob@acme.example".into(),
            password: "bob-pass".into(),
            email: "bob@acme.example".into(),
            email_verified: false,
            name: "Bob <Unverified>".into(),
            organization_id: "acme".into(),
        },
    ]
}

fn config(issuer: &str, redirect_uris: Vec<String>) -> DemoIdpConfig {
    DemoIdpConfig {
        issuer: issuer.to_string(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris,
        users: users(),
        other_clients: vec![DemoClient {
            client_id: OTHER_CLIENT_ID.into(),
            client_secret: OTHER_SECRET.into(),
            redirect_uris: vec![OTHER_REDIRECT_URI.into()],
        }],
        id_token_ttl: 3600,
        access_token_ttl: 3600,
    }
}

/// One RSA key for the whole test binary (generation is slow in debug builds); tests that
/// need generation itself use [`Harness::start_on`] with an empty store.
pub(super) fn shared_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let (_, pkcs8) = Signer::generate(KeyAlgorithm::RS256, String::new()).unwrap();
        STANDARD.encode(pkcs8)
    })
}

pub(super) async fn new_store() -> (TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
    (dir, Arc::new(store))
}

struct Harness {
    _dir: Option<TempDir>,
    clock: Arc<ManualClock>,
    idp: DemoIdp,
    base: String,
    http: reqwest::Client,
}

impl Harness {
    /// A provider on a fresh store seeded with the shared key.
    async fn start() -> Self {
        Self::start_with(vec![REDIRECT_URI.into()]).await
    }

    async fn start_with(redirect_uris: Vec<String>) -> Self {
        let (dir, store) = new_store().await;
        store.put_setting(SIGNING_KEY_SETTING, shared_key()).await.unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let mut harness = Self::start_on(store, clock, redirect_uris).await;
        harness._dir = Some(dir);
        harness
    }

    async fn start_on(store: Arc<dyn Store>, clock: Arc<ManualClock>, redirect_uris: Vec<String>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let idp =
            DemoIdp::open(config(&format!("{base}/demo-idp"), redirect_uris), store, clock.clone()).await.unwrap();
        let app = Router::new().nest("/demo-idp", idp.router());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { _dir: None, clock, idp, base, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/demo-idp{path}", self.base)
    }

    async fn get_json(&self, path: &str) -> Value {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.unwrap()
    }

    async fn jwks(&self) -> JwkSet {
        serde_json::from_value(self.get_json("/jwks").await).unwrap()
    }

    /// `POST /token` with Basic client authentication.
    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url("/token"))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn password_grant(&self, username: &str, password: &str) -> (u16, Value) {
        self.token(&[("grant_type", "password"), ("username", username), ("password", password)]).await
    }

    /// `grant_type=authorization_code` with Basic client authentication.
    async fn redeem(&self, code: &str, redirect_uri: &str, verifier: Option<&str>) -> (u16, Value) {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)];
        form.extend(verifier.map(|v| ("code_verifier", v)));
        self.token(&form).await
    }

    async fn userinfo(&self, token: &str) -> reqwest::Response {
        self.http.get(self.url("/userinfo")).bearer_auth(token).send().await.unwrap()
    }

    /// `GET /authorize`, returning status and body.
    async fn authorize(&self, query: &[(&str, &str)]) -> reqwest::Response {
        self.http.get(self.url("/authorize")).query(query).send().await.unwrap()
    }

    /// Walks the HTML forms up to the consent page and returns its signed session field.
    async fn login(&self, query: &[(&str, &str)], username: &str, password: &str) -> String {
        let resp = self.authorize(query).await;
        assert_eq!(resp.status(), 200);
        let page = resp.text().await.unwrap();
        let mut form = hidden_fields(&page);
        form.push(("username".into(), username.into()));
        form.push(("password".into(), password.into()));
        let resp = self.http.post(self.url("/authorize/login")).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let page = resp.text().await.unwrap();
        assert!(page.contains("wants to access your profile and email"), "{page}");
        hidden_value(&page, "session")
    }

    async fn consent(&self, session: &str, decision: &str) -> reqwest::Response {
        let form = [("session", session), ("decision", decision)];
        self.http.post(self.url("/authorize/consent")).form(&form).send().await.unwrap()
    }

    /// The whole browser part: login, allow, and the redirect's query parameters.
    async fn code_for(&self, query: &[(&str, &str)]) -> HashMap<String, String> {
        let session = self.login(query, "alice@acme.example", "alice-pass").await;
        let resp = self.consent(&session, "allow").await;
        assert_eq!(resp.status(), 302);
        redirect_params(&resp)
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The hidden inputs of a page, as `pages` writes them.
pub(super) fn hidden_fields(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").unwrap();
            let (value, _) = rest.split_once('"').unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

fn hidden_value(page: &str, name: &str) -> String {
    hidden_fields(page)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no hidden field {name} in {page}"))
}

fn location(resp: &reqwest::Response) -> Url {
    let location = resp.headers().get(header::LOCATION).expect("Location header");
    Url::parse(location.to_str().unwrap()).unwrap()
}

fn redirect_params(resp: &reqwest::Response) -> HashMap<String, String> {
    location(resp).query_pairs().into_owned().collect()
}

fn pkce_pair() -> (String, String) {
    let verifier = random_secret();
    let challenge = tokenbridge_core::jose::pkce_s256(&verifier);
    (verifier, challenge)
}

fn code_query<'a>(challenge: &'a str, redirect_uri: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile email"),
        ("state", "st&te<1>"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// Verifies `token` against `jwks` and returns its claims.
fn verify(jwks: &JwkSet, token: &str) -> UnverifiedJwt {
    let jwt = UnverifiedJwt::parse(token).unwrap();
    assert_eq!(jwt.header.alg, "RS256");
    assert_eq!(jwt.header.typ.as_deref(), Some("JWT"));
    let jwk = jwks.keys.iter().find(|k| k.kid == jwt.header.kid).expect("kid is published");
    VerifyingKey::from_jwk(jwk).unwrap().verify(&jwt).unwrap();
    jwt
}

#[tokio::test]
async fn discovery_names_every_endpoint() {
    let h = Harness::start().await;
    let doc = h.get_json("/.well-known/openid-configuration").await;
    let iss = h.idp.issuer().to_string();
    assert_eq!(iss, format!("{}/demo-idp", h.base));
    assert_eq!(doc["issuer"], iss);
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
    ] {
        assert_eq!(doc[key], format!("{iss}{path}"));
    }
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["grant_types_supported"], json!(["authorization_code", "password"]));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(doc["token_endpoint_auth_methods_supported"], json!(["client_secret_basic", "client_secret_post"]));
    assert!(doc["scopes_supported"].as_array().unwrap().contains(&json!("openid")));
    assert!(doc["claims_supported"].as_array().unwrap().contains(&json!("email_verified")));
    let jwks = h.get_json("/jwks").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert!(jwks["keys"][0].get("d").is_none(), "private members are never published");
}

#[tokio::test]
async fn another_registered_client_signs_in_with_its_own_secret_and_redirect_uri() {
    let h = Harness::start().await;
    let (verifier, challenge) = pkce_pair();
    let mut query = code_query(&challenge, OTHER_REDIRECT_URI);
    query[1] = ("client_id", OTHER_CLIENT_ID);
    let params = h.code_for(&query).await;
    let code = params["code"].as_str();
    let redeem = |id: &'static str, secret: &'static str, redirect: &'static str| {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier.as_str()),
        ];
        h.http.post(h.url("/token")).basic_auth(id, Some(secret)).form(&form).send()
    };
    // The configured client's credentials, or the other's id with a wrong secret, redeem nothing.
    let main = redeem(CLIENT_ID, CLIENT_SECRET, OTHER_REDIRECT_URI).await.unwrap();
    let body: Value = main.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "issued to another client: {body}");
    let wrong = redeem(OTHER_CLIENT_ID, CLIENT_SECRET, OTHER_REDIRECT_URI).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = redeem(OTHER_CLIENT_ID, OTHER_SECRET, OTHER_REDIRECT_URI).await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    let jwt = verify(&h.jwks().await, body["id_token"].as_str().unwrap());
    assert_eq!(jwt.audiences(), vec![OTHER_CLIENT_ID.to_string()], "its own audience");
    assert_eq!(jwt.claim_str("nonce"), Some("n-0S6_WzA2Mj"));
    assert_eq!(jwt.claim_str("sub"), h.idp.subject_of("alice@acme.example").as_deref());
    let info = h.userinfo(body["access_token"].as_str().unwrap()).await;
    assert_eq!(info.status(), 200, "its access token reads UserInfo");

    // Each client's redirect URIs are its own.
    let mut crossed = code_query(&challenge, REDIRECT_URI);
    crossed[1] = ("client_id", OTHER_CLIENT_ID);
    let page = h.authorize(&crossed).await;
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("is not allowed for this client"));
}

#[tokio::test]
async fn password_grant_returns_salesforce_tokens_verified_by_jwks() {
    let h = Harness::start().await;
    let (status, body) = h.password_grant("Alice@Acme.example", "alice-pass").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], h.base);
    assert_eq!(body["scope"], DEFAULT_SCOPE);
    assert_eq!(body["issued_at"], (START * 1000).to_string());
    assert!(STANDARD.decode(body["signature"].as_str().unwrap()).is_ok());
    let access = body["access_token"].as_str().unwrap();
    assert!(access.starts_with("00D000000000001AAA!"), "{access}");
    assert!(!looks_like_jwt(access));

    let jwt = verify(&h.jwks().await, body["id_token"].as_str().unwrap());
    let sub = jwt.claim_str("sub").unwrap().to_string();
    assert!(sub.starts_with("005") && sub.len() == 18, "{sub}");
    assert_eq!(jwt.claim_str("iss"), Some(h.idp.issuer()));
    assert_eq!(jwt.audiences(), vec![CLIENT_ID.to_string()]);
    assert_eq!(jwt.claim_i64("iat"), Some(START));
    assert_eq!(jwt.claim_i64("auth_time"), Some(START));
    assert_eq!(jwt.claim_i64("exp"), Some(START + 3600));
    assert_eq!(jwt.claim_str("preferred_username"), Some("alice@acme.example"));
    assert_eq!(jwt.claim_str("email"), Some("alice@acme.example"));
    assert_eq!(jwt.claims["email_verified"], true);
    assert_eq!(jwt.claim_str("name"), Some("Alice Admin"));
    assert_eq!(jwt.claim_str("organization_id"), Some("00D000000000001AAA"));
    assert_eq!(jwt.claim_str("user_id"), Some(sub.as_str()));
    assert!(jwt.claims.get("nonce").is_none());
    assert_eq!(body["id"], format!("{}/id/00D000000000001AAA/{sub}", h.idp.issuer()));

    // The identity URL answers for the token's own user.
    let resp = h.http.get(body["id"].as_str().unwrap()).bearer_auth(access).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["user_id"], sub);

    // mint_id_token gives the same identity; the unverified user says so.
    let minted = verify(&h.jwks().await, &h.idp.mint_id_token("alice@acme.example").unwrap());
    assert_eq!(minted.claim_str("sub"), Some(sub.as_str()));
    let bob = verify(&h.jwks().await, &h.idp.mint_id_token("bob@acme.example").unwrap());
    assert_eq!(bob.claims["email_verified"], false);
    assert_ne!(bob.claim_str("sub"), Some(sub.as_str()));
    assert!(h.idp.mint_id_token("nobody@acme.example").is_none());

    // Without openid there is no id_token.
    let form =
        [("grant_type", "password"), ("username", "bob@acme.example"), ("password", "bob-pass"), ("scope", "api")];
    let (status, body) = h.token(&form).await;
    assert_eq!(status, 200);
    assert!(body.get("id_token").is_none());
    assert!(body["access_token"].as_str().unwrap().starts_with("00D"));
}

#[tokio::test]
async fn token_endpoint_refuses_bad_credentials_and_requests() {
    let h = Harness::start().await;
    for (user, pass) in [("alice@acme.example", "wrong"), ("nobody@acme.example", "alice-pass")] {
        let (status, body) = h.password_grant(user, pass).await;
        assert_eq!(status, 400);
        assert_eq!(body, json!({"error": "invalid_grant", "error_description": "authentication failure"}));
    }
    let grant = [("grant_type", "password"), ("username", "alice@acme.example"), ("password", "alice-pass")];

    // client_secret_post works; a wrong secret, a wrong id or no authentication are invalid_client.
    let post = |id: &'static str, secret: &'static str| {
        let mut form = grant.to_vec();
        form.extend([("client_id", id), ("client_secret", secret)]);
        h.http.post(h.url("/token")).form(&form).send()
    };
    assert_eq!(post(CLIENT_ID, CLIENT_SECRET).await.unwrap().status(), 200);
    for resp in [
        post(CLIENT_ID, "not-the-secret").await.unwrap(),
        post("other-client", CLIENT_SECRET).await.unwrap(),
        h.http.post(h.url("/token")).form(&grant).send().await.unwrap(),
        h.http.post(h.url("/token")).basic_auth(CLIENT_ID, Some("nope")).form(&grant).send().await.unwrap(),
    ] {
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_client");
    }

    // Two authentication methods at once, a missing or unknown grant type, a repeated parameter.
    let mut both = grant.to_vec();
    both.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
    let (status, body) = h.token(&both).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let (status, body) = h.token(&[("username", "alice@acme.example")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let (status, body) = h.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (status, body) = h.token(&[("grant_type", "password"), ("grant_type", "password")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let (status, body) = h.token(&[("grant_type", "password"), ("username", "alice@acme.example")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let (status, body) = h.token(&[grant[0], grant[1], grant[2], ("scope", "openid admin")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
}

#[tokio::test]
async fn authorization_code_flow_with_pkce_through_html_forms() {
    let h = Harness::start().await;
    let (verifier, challenge) = pkce_pair();
    let query = code_query(&challenge, REDIRECT_URI);

    // The login page: self-contained, labelled inputs, original parameters in hidden fields.
    let resp = h.authorize(&query).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let page = resp.text().await.unwrap();
    assert!(page.contains("<title>Demo upstream (Salesforce-like)</title>"));
    for id in ["id=\"username\"", "id=\"password\"", "id=\"login\"", "for=\"username\"", "for=\"password\""] {
        assert!(page.contains(id), "{id} missing");
    }
    assert!(page.contains("action=\"/demo-idp/authorize/login\""));
    assert!(page.contains("value=\"st&amp;te&lt;1&gt;\""), "state is escaped");
    // Loads nothing; its only link is an empty inline icon (else browsers fetch /favicon.ico).
    let page_without_icon = page.replace("<link rel=\"icon\" href=\"data:,\">", "");
    for external in ["<script", "<link", "src=", "https://"] {
        assert!(!page_without_icon.contains(external), "page loads nothing: {external}");
    }
    let fields = hidden_fields(&page);
    assert!(fields.contains(&("state".into(), "st&te<1>".into())));
    assert!(fields.contains(&("code_challenge".into(), challenge.clone())));

    // A wrong password re-shows the form with an error and the username kept.
    let mut form = fields.clone();
    form.extend([("username".into(), "alice@acme.example".into()), ("password".into(), "nope".into())]);
    let resp = h.http.post(h.url("/authorize/login")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Wrong username or password"));
    assert!(page.contains("id=\"password\"") && page.contains("value=\"alice@acme.example\""));

    // Right password → consent page → allow → code.
    let session = h.login(&query, "alice@acme.example", "alice-pass").await;
    let resp = h.consent(&session, "allow").await;
    assert_eq!(resp.status(), 302);
    let target = location(&resp);
    assert_eq!(&target.as_str()[..REDIRECT_URI.len()], REDIRECT_URI);
    let params: HashMap<String, String> = target.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "st&te<1>");
    let code = params["code"].clone();

    // Redeem it (client_secret_post this time).
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", &verifier),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let resp = h.http.post(h.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scope"], "openid profile email");
    let jwt = verify(&h.jwks().await, body["id_token"].as_str().unwrap());
    assert_eq!(jwt.claim_str("nonce"), Some("n-0S6_WzA2Mj"));
    assert_eq!(jwt.claim_str("preferred_username"), Some("alice@acme.example"));
    assert_eq!(jwt.claim_i64("auth_time"), Some(START));
    let resp = h.userinfo(body["access_token"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["email"], "alice@acme.example");

    // The same code a second time is refused.
    let resp = h.http.post(h.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().contains("already used"));
}

#[tokio::test]
async fn code_is_refused_on_wrong_verifier_redirect_or_expiry() {
    let h = Harness::start().await;
    let (verifier, challenge) = pkce_pair();
    let query = code_query(&challenge, REDIRECT_URI);
    let code = h.code_for(&query).await["code"].clone();
    let other_verifier = pkce_pair().0;
    for (redirect_uri, verifier) in [
        (REDIRECT_URI, Some(other_verifier.as_str())),
        (REDIRECT_URI, None),
        ("http://127.0.0.1:5555/other", Some(verifier.as_str())),
    ] {
        let (status, body) = h.redeem(&code, redirect_uri, verifier).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
    // Failed attempts do not burn the code; the right one still works.
    let (status, _) = h.redeem(&code, REDIRECT_URI, Some(&verifier)).await;
    assert_eq!(status, 200);

    // A tampered code and an expired one.
    let fresh = h.code_for(&query).await["code"].clone();
    let (body, tag) = fresh.split_once('.').unwrap();
    let tampered = format!("{body}x.{tag}");
    let (status, _) = h.redeem(&tampered, REDIRECT_URI, Some(&verifier)).await;
    assert_eq!(status, 400);
    h.clock.advance(CODE_TTL + 1);
    let (status, body) = h.redeem(&fresh, REDIRECT_URI, Some(&verifier)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // Without PKCE in the request, a code_verifier at the token endpoint is refused (no downgrade).
    let plain: Vec<(&str, &str)> = query.iter().copied().filter(|(k, _)| !k.starts_with("code_")).collect();
    let code = h.code_for(&plain).await["code"].clone();
    let (status, _) = h.redeem(&code, REDIRECT_URI, Some(&verifier)).await;
    assert_eq!(status, 400);
    let (status, _) = h.redeem(&code, REDIRECT_URI, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn consent_denied_and_bad_login_state() {
    let h = Harness::start().await;
    let (_, challenge) = pkce_pair();
    let query = code_query(&challenge, REDIRECT_URI);
    let session = h.login(&query, "bob@acme.example", "bob-pass").await;

    let resp = h.consent(&session, "deny").await;
    assert_eq!(resp.status(), 302);
    let params = redirect_params(&resp);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st&te<1>");
    assert!(!params.contains_key("code"));

    // A tampered session, a session that has expired: an HTML page, never a redirect.
    let (body, tag) = session.split_once('.').unwrap();
    let tampered = format!("{}.{tag}", b64url(&[b64url_decode(body).unwrap(), b" ".to_vec()].concat()));
    for bad in [tampered.as_str(), "garbage", ""] {
        let resp = h.consent(bad, "allow").await;
        assert_eq!(resp.status(), 400);
        assert!(!resp.headers().contains_key(header::LOCATION));
    }
    // An access token's seal is not a login state.
    let (_, tokens) = h.password_grant("bob@acme.example", "bob-pass").await;
    let sealed = tokens["access_token"].as_str().unwrap().split_once('!').unwrap().1.to_string();
    assert_eq!(h.consent(&sealed, "allow").await.status(), 400);

    h.clock.advance(LOGIN_STATE_TTL + 1);
    let resp = h.consent(&session, "allow").await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn authorize_validates_client_and_redirect_before_redirecting() {
    let h = Harness::start().await;
    let (_, challenge) = pkce_pair();
    let with = |key: &'static str, value: &'static str| {
        let mut q: Vec<(&str, &str)> =
            code_query(&challenge, REDIRECT_URI).into_iter().filter(|(k, _)| *k != key).collect();
        if !value.is_empty() {
            q.push((key, value));
        }
        q
    };

    // Unknown client, missing or foreign redirect URIs: an escaped HTML error page, no Location.
    for (query, needle) in [
        (with("client_id", "<script>x</script>"), "&lt;script&gt;x&lt;/script&gt;"),
        (with("client_id", ""), "Unknown client_id"),
        (with("redirect_uri", ""), "no redirect_uri"),
        (with("redirect_uri", "https://evil.example/cb"), "not allowed"),
        (with("redirect_uri", "http://127.0.0.1.evil.example/cb"), "not allowed"),
        (with("redirect_uri", "http://127.0.0.1:5555/cb#frag"), "not allowed"),
        (with("redirect_uri", "http://user@127.0.0.1:5555/cb"), "not allowed"),
        (with("redirect_uri", "javascript:alert(1)"), "not allowed"),
    ] {
        let resp = h.authorize(&query).await;
        assert_eq!(resp.status(), 400, "{query:?}");
        assert!(!resp.headers().contains_key(header::LOCATION));
        let page = resp.text().await.unwrap();
        assert!(page.contains(needle), "{needle} not in {page}");
        assert!(!page.contains("<script>"));
    }

    // Once client and redirect URI are good, errors go back to the client.
    for (query, error) in [
        (with("response_type", "token"), "unsupported_response_type"),
        (with("response_type", ""), "invalid_request"),
        (with("code_challenge_method", "plain"), "invalid_request"),
        (with("code_challenge_method", ""), "invalid_request"),
        (with("code_challenge", "short"), "invalid_request"),
        (with("scope", "openid admin"), "invalid_scope"),
    ] {
        let resp = h.authorize(&query).await;
        assert_eq!(resp.status(), 302, "{query:?}");
        let params = redirect_params(&resp);
        assert_eq!(params["error"], error, "{query:?}");
        assert_eq!(params["state"], "st&te<1>");
    }

    // Only the registered URI: no other loopback address or port (no RFC 8252 port variance).
    for uri in ["http://localhost:5555/callback", "http://127.0.0.1:9999/callback", "http://[::1]:5555/callback"] {
        let resp = h.authorize(&code_query(&challenge, uri)).await;
        assert_eq!(resp.status(), 400, "{uri}");
    }
}

#[tokio::test]
async fn redirect_uris_are_matched_as_registered_strings() {
    let h = Harness::start_with(vec!["https://app.example.com/oauth".into()]).await;
    let (_, challenge) = pkce_pair();
    for (uri, ok) in [
        ("https://app.example.com/oauth", true),
        ("https://app.example.com/oauth/callback", false),
        ("https://app.example.com/oauth?x=1", false),
        ("https://app.example.com/oauthevil", false),
        ("https://app.example.com/oauth/../oauth", false),
        ("https://APP.example.com/oauth", false),
        ("https://app.example.com:443/oauth", false),
        ("https://app.example.com.evil.example/oauth", false),
        (REDIRECT_URI, false),
    ] {
        let status = h.authorize(&code_query(&challenge, uri)).await.status();
        assert_eq!(status == 200, ok, "{uri}: {status}");
    }
    // Nothing registered: nothing allowed. A registered URI must be written as it parses.
    let none = Harness::start_with(Vec::new()).await;
    assert_eq!(none.authorize(&code_query(&challenge, REDIRECT_URI)).await.status(), 400);
    let (_, store) = new_store().await;
    let clock = Arc::new(ManualClock::new(START));
    let odd = config("http://127.0.0.1:1/demo-idp", vec!["HTTP://127.0.0.1:5555/cb".into()]);
    let e = DemoIdp::open(odd, store, clock).await.unwrap_err();
    assert!(e.to_string().contains("written as parsed"), "{e}");
}

#[tokio::test]
async fn userinfo_accepts_access_tokens_only() {
    let h = Harness::start().await;
    let (_, body) = h.password_grant("bob@acme.example", "bob-pass").await;
    let access = body["access_token"].as_str().unwrap();

    let resp = h.userinfo(access).await;
    assert_eq!(resp.status(), 200);
    let info: Value = resp.json().await.unwrap();
    let jwt = UnverifiedJwt::parse(body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(info["sub"], jwt.claims["sub"]);
    assert_eq!(info["user_id"], jwt.claims["sub"]);
    assert_eq!(info["email"], "bob@acme.example");
    assert_eq!(info["email_verified"], false);
    assert_eq!(info["preferred_username"], "bob@acme.example");
    assert_eq!(info["name"], "Bob <Unverified>");
    assert_eq!(info["organization_id"], "acme");
    assert!(info["updated_at"].is_string());
    // POST works too.
    let resp = h.http.post(h.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // An id token, a forged signature, a swapped prefix, garbage, no token: 401 invalid_token.
    let (prefix, sealed) = access.split_once('!').unwrap();
    let forged = format!("{prefix}!{}A", sealed);
    let swapped = format!("00D000000000001AAA!{sealed}");
    for token in [body["id_token"].as_str().unwrap(), &forged, &swapped, "00Dxyz!abc.def", "nonsense"] {
        let resp = h.userinfo(token).await;
        assert_eq!(resp.status(), 401, "{token}");
        let challenge = resp.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_string();
        assert!(challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_token");
    }
    let resp = h.http.get(h.url("/userinfo")).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    // Another user's identity URL is refused.
    let (_, alice) = h.password_grant("alice@acme.example", "alice-pass").await;
    let resp = h.http.get(alice["id"].as_str().unwrap()).bearer_auth(access).send().await.unwrap();
    assert_eq!(resp.status(), 403);

    // Expiry follows the injected clock.
    h.clock.advance(3600);
    let resp = h.userinfo(access).await;
    assert_eq!(resp.status(), 401);
    assert!(resp.json::<Value>().await.unwrap()["error_description"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn userinfo_down_and_slow_modes() {
    let h = Harness::start().await;
    let (_, body) = h.password_grant("alice@acme.example", "alice-pass").await;
    let access = body["access_token"].as_str().unwrap();

    h.idp.set_userinfo_mode(UserinfoMode::Down);
    assert_eq!(h.idp.userinfo_mode(), UserinfoMode::Down);
    let resp = h.userinfo(access).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");

    h.idp.set_userinfo_mode(UserinfoMode::Slow(Duration::from_millis(400)));
    let started = Instant::now();
    assert_eq!(h.userinfo(access).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    let impatient = h.http.get(h.url("/userinfo")).bearer_auth(access).timeout(Duration::from_millis(100));
    assert!(impatient.send().await.unwrap_err().is_timeout());

    h.idp.set_userinfo_mode(UserinfoMode::Normal);
    assert_eq!(h.userinfo(access).await.status(), 200);
}

#[tokio::test]
async fn two_instances_on_one_store_share_keys() {
    let (_dir, store) = new_store().await;
    let clock = Arc::new(ManualClock::new(START));
    // Both generate a key concurrently; one wins and both use it.
    let (a, b) = tokio::join!(
        Harness::start_on(store.clone(), clock.clone(), vec![REDIRECT_URI.into()]),
        Harness::start_on(store.clone(), clock.clone(), vec![REDIRECT_URI.into()]),
    );
    let (jwks_a, jwks_b) = (a.jwks().await, b.jwks().await);
    assert_eq!(jwks_a.keys, jwks_b.keys);
    let kid = jwks_a.keys[0].kid.clone().unwrap();
    assert_eq!(store.get_setting(SIGNING_KID_SETTING).await.unwrap(), Some(kid));
    assert!(store.get_setting(SIGNING_KEY_SETTING).await.unwrap().is_some());

    // A token from one instance is good at the other: id token by JWKS, access token by UserInfo.
    let (_, body) = a.password_grant("alice@acme.example", "alice-pass").await;
    verify(&jwks_b, body["id_token"].as_str().unwrap());
    verify(&jwks_a, &b.idp.mint_id_token("bob@acme.example").unwrap());
    assert_eq!(b.userinfo(body["access_token"].as_str().unwrap()).await.status(), 200);

    // A code issued by one is redeemed once across both.
    let (verifier, challenge) = pkce_pair();
    let code = a.code_for(&code_query(&challenge, REDIRECT_URI)).await["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", &verifier),
    ];
    assert_eq!(b.token(&form).await.0, 200);
    assert_eq!(a.token(&form).await.1["error"], "invalid_grant");

    // The mode switch is per instance.
    a.idp.set_userinfo_mode(UserinfoMode::Down);
    assert_eq!(b.userinfo(body["access_token"].as_str().unwrap()).await.status(), 200);
}

#[test]
fn escaping_and_helpers() {
    assert_eq!(pages::escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    assert_eq!(form_decode("a%3Ab+c"), "a:b c");
    assert_eq!(form_decode("x&y=z"), "x&y=z");
    assert_eq!(resolve_scope(None).unwrap(), DEFAULT_SCOPE);
    assert_eq!(resolve_scope(Some("api  openid api")).unwrap(), "api openid");
    assert!(resolve_scope(Some("openid full")).is_err());
    let user = &users()[1];
    assert_eq!(user.user_id(), users()[1].user_id());
    assert!(user.org_prefix().starts_with("00D") && user.org_prefix().len() == 18);
    assert_eq!(users()[0].org_prefix(), "00D000000000001AAA");
}
