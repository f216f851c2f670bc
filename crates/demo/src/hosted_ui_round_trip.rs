//! The demo pool's hosted sign-in as `tokenbridge demo` seeds it (`crate::prepare`),
//! served on an ephemeral port: demo.json's `hosted_ui`, the discovery it names, the SAML provider
//! made from the demo IdP's own metadata and the OIDC provider at the demo IdP, the seeded users
//! linked one to one to both, the console's settings, a code + PKCE sign-in through the hosted
//! page with a seeded password, and one through DemoOIDC (the demo provider's login and consent,
//! back at `/oauth2/idpresponse`), each redeemed at the domain's token endpoint. A second start on
//! the same store keeps everything as it was and records nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::hosted_ui::{DEMO_DOMAIN, OIDC_CLIENT_ID, OIDC_PROVIDER, SAML_PROVIDER};
use crate::DEMO_POOL_ID;
use serde_json::{json, Value};
use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::iam::CallerIdentity;
use tokenbridge_core::model::AuditQuery;
use tokenbridge_core::Store;

/// RFC 7636 appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn read_info(dir: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("demo.json")).expect("demo.json")).expect("json")
}

/// The value of the hidden `name` input of a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let rest = page.split_once(&marker).unwrap_or_else(|| panic!("no {name} in the page")).1;
    rest.split('"').next().unwrap().replace("&amp;", "&")
}

fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The claims of a JWT, unverified (the server's tests verify signatures; here the claims).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&tokenbridge_core::jose::b64url_decode(payload).expect("base64url")).expect("claims")
}

/// Every audit record the store holds, counted.
async fn audit_count(store: &Arc<dyn Store>) -> usize {
    store.lookup_audit(&AuditQuery { limit: Some(100_000), ..Default::default() }).await.expect("audit").len()
}

/// A browser for the OIDC round trip: cookies by name, redirects followed by hand.
struct Browser {
    http: reqwest::Client,
    jar: BTreeMap<String, String>,
}

impl Browser {
    async fn send(
        &mut self,
        method: reqwest::Method,
        url: &str,
        form: Option<&[(String, String)]>,
    ) -> reqwest::Response {
        let mut r = self.http.request(method, url);
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            r = r.header("cookie", cookies.join("; "));
        }
        if let Some(form) = form {
            r = r.form(form);
        }
        let resp = r.send().await.expect("request");
        for c in resp.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.jar.insert(name.into(), value.into());
        }
        resp
    }
}

fn redirected_to(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), 302, "a redirect");
    r.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn the_demo_pool_signs_in_through_its_hosted_ui() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = tokenbridge_store::open(&dir.path().join("tokenbridge.db").display().to_string()).await.expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let demo = crate::prepare(&base, dir.path(), Arc::clone(&store), "RS256", None).await.expect("demo");
    let engine = demo.engine.clone();
    tokio::spawn(tokenbridge_server::serve(listener, demo.app, std::future::pending()));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // demo.json.
    let info = read_info(dir.path());
    let h = &info["hosted_ui"];
    let domain_url = format!("{base}/domains/{DEMO_DOMAIN}");
    assert_eq!(h["domain"], DEMO_DOMAIN);
    assert_eq!(h["domain_url"], domain_url);
    assert_eq!(h["redirect_uri"], format!("{base}/console/"));
    assert_eq!(h["saml_provider"], SAML_PROVIDER);
    assert_eq!(h["idp_metadata_url"], format!("{base}/demo-idp/saml/metadata"));
    assert_eq!(h["discovery_url"], format!("{base}/{DEMO_POOL_ID}/.well-known/openid-configuration"));
    assert_eq!(h["oidc_provider"], OIDC_PROVIDER);
    let client_id = h["client_id"].as_str().expect("client_id").to_string();

    // The discovery it names advertises the domain's endpoints.
    let doc: Value = http.get(h["discovery_url"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["authorization_endpoint"], format!("{domain_url}/oauth2/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{domain_url}/oauth2/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{domain_url}/oauth2/userInfo"));

    // The app client and the SAML provider, as the API describes them.
    let admin = CallerIdentity::Admin { access_key_id: "test".into() };
    let ctx = RequestContext::new("test");
    let act = |action: &'static str, body: Value| {
        let (engine, admin, ctx) = (engine.clone(), admin.clone(), ctx.clone());
        async move { engine.user_pools().user_pool_action(action, &body, Some(&admin), &ctx).await.expect(action) }
    };
    let client = act("DescribeUserPoolClient", json!({ "UserPoolId": DEMO_POOL_ID, "ClientId": client_id })).await;
    let c = &client["UserPoolClient"];
    assert!(c["ClientSecret"].is_null(), "a public client");
    assert_eq!(c["AllowedOAuthFlows"], json!(["code"]));
    assert_eq!(c["AllowedOAuthFlowsUserPoolClient"], true);
    assert_eq!(c["AllowedOAuthScopes"], json!(["openid", "email", "profile", "aws.cognito.signin.user.admin"]));
    assert_eq!(c["SupportedIdentityProviders"], json!(["COGNITO", SAML_PROVIDER, OIDC_PROVIDER]));
    assert_eq!(c["CallbackURLs"], json!([format!("{base}/console/")]));
    let idp =
        act("DescribeIdentityProvider", json!({ "UserPoolId": DEMO_POOL_ID, "ProviderName": SAML_PROVIDER })).await;
    assert_eq!(idp["IdentityProvider"]["ProviderType"], "SAML");
    let served = http.get(h["idp_metadata_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert_eq!(idp["IdentityProvider"]["ProviderDetails"]["MetadataFile"], served.as_str(), "the IdP's own metadata");
    let oidc =
        act("DescribeIdentityProvider", json!({ "UserPoolId": DEMO_POOL_ID, "ProviderName": OIDC_PROVIDER })).await;
    let o = &oidc["IdentityProvider"];
    assert_eq!(o["ProviderType"], "OIDC");
    assert_eq!(o["ProviderDetails"]["oidc_issuer"], format!("{base}/demo-idp"), "the demo provider");
    assert_eq!(o["ProviderDetails"]["client_id"], OIDC_CLIENT_ID);
    assert_eq!(o["ProviderDetails"]["authorize_scopes"], "openid email profile");

    // The seeded users are linked one to one by username; carol (not in the pool) and dave
    // (unverified upstream) are not.
    let pools = engine.user_pools();
    for (name_id, user) in [("alice@demo-upstream.example", Some("alice")), ("bob@demo-upstream.example", Some("bob"))]
        .into_iter()
        .chain([("erin@demo-upstream.example", Some("erin")), ("dave@demo-upstream.example", None)])
    {
        let linked = pools.linked_user(DEMO_POOL_ID, SAML_PROVIDER, name_id).await.expect("store");
        assert_eq!(linked.map(|u| u.username).as_deref(), user, "{name_id}");
        // At the OIDC provider the subject is the demo provider's `sub` for the same person.
        let sub = demo.idp.subject_of(name_id).expect("a demo provider user");
        let linked = pools.linked_user(DEMO_POOL_ID, OIDC_PROVIDER, &sub).await.expect("store");
        assert_eq!(linked.map(|u| u.username).as_deref(), user, "{name_id} at {OIDC_PROVIDER}");
    }

    // The console is told where to send the browser.
    let settings: Value = http.get(format!("{base}/console/config.json")).send().await.unwrap().json().await.unwrap();
    let hc = &settings["hosted_ui"];
    assert_eq!(hc["client_id"], client_id.as_str());
    assert_eq!(hc["authorize_endpoint"], format!("/domains/{DEMO_DOMAIN}/oauth2/authorize"));
    assert_eq!(hc["token_endpoint"], format!("/domains/{DEMO_DOMAIN}/oauth2/token"));
    assert_eq!(hc["redirect_uri"], format!("{base}/console/"));
    assert_eq!(hc["scope"], "openid email profile aws.cognito.signin.user.admin");
    assert_eq!(hc["identity_providers"], json!([SAML_PROVIDER, OIDC_PROVIDER]));

    // bob signs in on the hosted page; the code is redeemed with the verifier.
    let callback = format!("{base}/console/");
    let query = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", callback.as_str()),
        ("scope", "openid email"),
        ("state", "s1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let page = http.get(format!("{domain_url}/oauth2/authorize")).query(&query).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers().get("set-cookie").expect("the anti-forgery cookie").to_str().unwrap().to_string();
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("Sign in with {SAML_PROVIDER}")), "the SAML provider is offered");
    let mut form: Vec<(&str, String)> = query.iter().map(|(k, v)| (*k, v.to_string())).collect();
    form.extend([("csrf", hidden(&html, "csrf")), ("username", "bob".into()), ("password", "bob-local-pw".into())]);
    let signed = http
        .post(format!("{domain_url}/login"))
        .header("cookie", cookie.split(';').next().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 302);
    let location = url::Url::parse(signed.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.as_str().split('?').next(), Some(callback.as_str()));
    let code = location.query_pairs().find(|(k, _)| k == "code").expect("a code").1.into_owned();
    let tokens: Value = http
        .post(format!("{domain_url}/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", callback.as_str()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap_or_else(|| panic!("tokens: {tokens}"));
    let me: Value = http
        .get(format!("{domain_url}/oauth2/userInfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((me["username"].as_str(), me["email"].as_str()), (Some("bob"), Some("bob@example.com")));

    // alice signs in through DemoOIDC: the authorization request names it, the browser goes to
    // the demo provider's login and consent, and back at the domain's /oauth2/idpresponse.
    let mut browser = Browser { http: http.clone(), jar: BTreeMap::new() };
    let mut federated: Vec<(&str, String)> = query.iter().map(|(k, v)| (*k, v.to_string())).collect();
    federated.retain(|(k, _)| *k != "state");
    federated.extend([("state", "s2".to_string()), ("identity_provider", OIDC_PROVIDER.to_string())]);
    let authorize = url::Url::parse_with_params(&format!("{domain_url}/oauth2/authorize"), &federated).unwrap();
    let to = redirected_to(&browser.send(reqwest::Method::GET, authorize.as_str(), None).await);
    assert!(to.starts_with(&format!("{base}/demo-idp/authorize?")), "{to}");
    assert_eq!(query_param(&to, "client_id").as_deref(), Some(OIDC_CLIENT_ID));
    assert_eq!(query_param(&to, "scope").as_deref(), Some("openid email profile"));
    let idp_response = format!("{domain_url}/oauth2/idpresponse");
    assert_eq!(query_param(&to, "redirect_uri"), Some(idp_response.clone()));
    let login_page = browser.send(reqwest::Method::GET, &to, None).await;
    assert_eq!(login_page.status(), 200);
    let mut fields: Vec<(String, String)> =
        url::Url::parse(&to).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    fields.extend(
        [("username", "alice@demo-upstream.example"), ("password", "alice-upstream-pw")]
            .map(|(k, v)| (k.into(), v.into())),
    );
    let consent = browser.send(reqwest::Method::POST, &format!("{base}/demo-idp/authorize/login"), Some(&fields)).await;
    assert_eq!(consent.status(), 200);
    let session = hidden(&consent.text().await.unwrap(), "session");
    let allow = [("session".to_string(), session), ("decision".into(), "allow".into())];
    let back = redirected_to(
        &browser.send(reqwest::Method::POST, &format!("{base}/demo-idp/authorize/consent"), Some(&allow)).await,
    );
    assert!(back.starts_with(&format!("{idp_response}?code=")), "{back}");
    let signed_in = browser.send(reqwest::Method::GET, &back, None).await;
    let to_console = redirected_to(&signed_in);
    assert!(to_console.starts_with(&format!("{callback}?code=")), "{to_console}");
    assert_eq!(query_param(&to_console, "state").as_deref(), Some("s2"));
    let code = query_param(&to_console, "code").unwrap();
    let tokens: Value = http
        .post(format!("{domain_url}/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", callback.as_str()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = claims_of(tokens["id_token"].as_str().unwrap_or_else(|| panic!("tokens: {tokens}")));
    assert_eq!(id["cognito:username"], "alice", "the linked native user");
    let alice_sub = demo.idp.subject_of("alice@demo-upstream.example").unwrap();
    let identities = id["identities"].as_array().expect("identities");
    let oidc_identity = identities.iter().find(|i| i["providerName"] == OIDC_PROVIDER).expect("the DemoOIDC identity");
    assert_eq!(oidc_identity["providerType"], "OIDC");
    assert_eq!(oidc_identity["userId"], alice_sub.as_str());
    assert_eq!(oidc_identity["issuer"], format!("{base}/demo-idp"));

    // Started again on the same store and data directory: the same client and providers,
    // nothing refused, nothing recorded.
    let recorded = audit_count(&store).await;
    let again = crate::prepare(&base, dir.path(), store.clone(), "RS256", None).await.expect("second start");
    assert_eq!(again.info["hosted_ui"]["client_id"], client_id.as_str());
    assert_eq!(read_info(dir.path())["hosted_ui"], info["hosted_ui"]);
    assert_eq!(audit_count(&store).await, recorded, "a restart records nothing");
}
