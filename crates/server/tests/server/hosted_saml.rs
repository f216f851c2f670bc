//! Sign-in through a pool's SAML identity provider over real HTTP, as a browser without a
//! script engine goes through it with a cookie jar, in both ways of addressing the domain: the
//! sign-in page's "Sign in with …", the redirect to the IdP with the AuthnRequest and the binding
//! cookie, the IdP's signed answer (`IdpSigner`) posted to `/saml2/idpresponse`, the redirect to
//! the callback with the code, and the tokens with `identities`. The refusals as error pages with
//! the request id that finds their trail; the SP metadata.

use crate::common::*;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokenbridge_core::config::{IdentityProviderConfig, RateLimits};
use tokenbridge_core::hosted_signin::pkce_challenge_of;
use tokenbridge_saml::{sp_entity_id, AssertionSpec, IdpSigner, ReceivedAuthnRequest};

const POOL: &str = "ap-northeast-1_HostedSaml";
const DOMAIN: &str = "saml-test";
const WEB: &str = "samlwire000000000000000000";
const CALLBACK: &str = "https://app.example/callback";
const VERIFIER: &str = "hosted-saml-test-verifier-0123456789-abcdefghijklm";
const SSO: &str = "https://idp.example.com/sso";
const PROVIDER: &str = "Corp";

async fn server(idp: &IdpSigner, dir: &std::path::Path) -> Server {
    let off = RateLimits { per_ip_per_second: 0, per_client_per_second: 0, burst: 0 };
    let metadata = dir.join("idp.xml");
    std::fs::write(&metadata, idp.metadata_xml(SSO, None)).unwrap();
    Server::custom(Opts {
        rate_limits: Some(off),
        configure: Some(Box::new(move |cfg| {
            let provider: IdentityProviderConfig = serde_json::from_value(serde_json::json!({
                "name": PROVIDER, "type": "saml", "metadata_file": metadata,
                "attribute_mapping": { "email": "email" },
            }))
            .unwrap();
            let pool = FederatedPool { pool: POOL, name: "SAML", client: WEB, callback: CALLBACK, domain: DOMAIN };
            cfg.user_pools.push(pool.config(provider));
        })),
        ..Default::default()
    })
    .await
}

/// A browser: its cookies, and the host it addresses the domain by (`None`: the path form).
struct Browser<'a> {
    s: &'a Server,
    host: Option<String>,
    jar: Mutex<BTreeMap<String, String>>,
}

impl<'a> Browser<'a> {
    fn new(s: &'a Server, by_host: bool) -> Self {
        let port = s.base.rsplit(':').next().unwrap();
        let host = by_host.then(|| format!("{DOMAIN}.auth.localhost:{port}"));
        Self { s, host, jar: Mutex::default() }
    }

    /// The domain's base URL as this browser reaches it.
    fn base(&self) -> String {
        match &self.host {
            Some(h) => format!("http://{h}"),
            None => self.s.url(&format!("/domains/{DOMAIN}")),
        }
    }

    fn path(&self, rest: &str) -> String {
        match &self.host {
            Some(_) => rest.to_string(),
            None => format!("/domains/{DOMAIN}{rest}"),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, form: Option<&[(&str, &str)]>) -> Resp {
        let mut r = self.s.http.request(method, self.s.url(path));
        if let Some(h) = &self.host {
            r = r.header("host", h);
        }
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

    async fn authorize(&self, extra: &[(&str, &str)]) -> Resp {
        let challenge = pkce_challenge_of(VERIFIER);
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", WEB),
            ("redirect_uri", CALLBACK),
            ("state", "xyz-state"),
            ("scope", "openid email"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        q.extend_from_slice(extra);
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&q).finish();
        self.send(reqwest::Method::GET, &format!("{}?{query}", self.path("/oauth2/authorize")), None).await
    }

    async fn post_answer(&self, response: &str, relay: &str) -> Resp {
        let form = [("SAMLResponse", response), ("RelayState", relay)];
        self.send(reqwest::Method::POST, &self.path("/saml2/idpresponse"), Some(&form)).await
    }
}

fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string())
}

/// To the IdP and back: the AuthnRequest as the IdP reads it.
async fn to_the_idp(b: &Browser<'_>) -> ReceivedAuthnRequest {
    // The chooser offers the provider; its link is the authorize request naming it.
    let page = b.authorize(&[]).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains(&format!("Sign in with {PROVIDER}")), "{}", page.text);
    assert!(page.text.contains(&format!("identity_provider={PROVIDER}")), "{}", page.text);

    let to_idp = b.authorize(&[("identity_provider", PROVIDER)]).await;
    assert_eq!(to_idp.status, 302, "{}", to_idp.text);
    let location = to_idp.header("location").unwrap();
    let (sso, query) = location.split_once('?').unwrap();
    assert_eq!(sso, SSO);
    let cookie = to_idp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .find(|c| c.starts_with("tb_saml="))
        .expect("the binding cookie");
    // Plain HTTP: no SameSite attribute (None needs Secure), HttpOnly, the domain's path.
    assert!(cookie.contains("HttpOnly") && !cookie.contains("SameSite"), "{cookie}");
    let path = if b.host.is_some() { "Path=/;".to_string() } else { format!("Path=/domains/{DOMAIN};") };
    assert!(cookie.contains(&path), "{cookie}");
    let request = ReceivedAuthnRequest::from_redirect(query, None, false).expect("an AuthnRequest");
    assert_eq!(request.issuer, sp_entity_id(POOL));
    assert_eq!(request.acs_url, Some(format!("{}/saml2/idpresponse", b.base())));
    request
}

fn answer(idp: &IdpSigner, b: &Browser<'_>, request: &ReceivedAuthnRequest, name_id: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let acs = request.acs_url.clone().unwrap();
    assert_eq!(acs, format!("{}/saml2/idpresponse", b.base()));
    let mut spec = AssertionSpec::new(name_id, &sp_entity_id(POOL), &acs, now).attribute("email", &[name_id]);
    spec.in_response_to = Some(request.id.clone());
    idp.response_base64(&spec).unwrap()
}

async fn round_trip(s: &Server, idp: &IdpSigner, by_host: bool) {
    let b = Browser::new(s, by_host);
    let request = to_the_idp(&b).await;
    let response = answer(idp, &b, &request, "ichiro@corp.example");
    let relay = request.relay_state.clone().expect("a RelayState");
    let back = b.post_answer(&response, &relay).await;
    assert_eq!(back.status, 302, "{}", back.text);
    let location = back.header("location").unwrap().to_string();
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
    let tokens = b.send(reqwest::Method::POST, &b.path("/oauth2/token"), Some(&form)).await;
    tokens.assert_ok();
    let jwks = s.send(s.http.get(s.url(&format!("/{POOL}/.well-known/jwks.json")))).await.json;
    let id = verify_with_jwks(tokens.str("id_token"), &jwks);
    assert_eq!(id.claims["cognito:username"], "Corp_ichiro@corp.example");
    assert_eq!(id.claims["email"], "ichiro@corp.example");
    assert_eq!(id.claims["identities"][0]["providerName"], PROVIDER);
    assert_eq!(id.claims["identities"][0]["providerType"], "SAML");
    assert_eq!(id.claims["identities"][0]["userId"], "ichiro@corp.example");

    // The redemption's trail names the sign-in, whose trail holds the round trip: the
    // AuthnRequest (its ID, where it went, unsigned), the attributes as received, the
    // certificate that verified the assertion, and the user it signed in as.
    let acs_request = back.header("x-request-id").expect("a request id").to_string();
    let redeemed = trail_text(s, tokens.header("x-request-id").expect("a request id")).await;
    let chain = format!("the user signed in at request {acs_request} (SamlResponse), which issued the code");
    assert!(redeemed.contains(&chain), "{redeemed}");
    let acs = trail_text(s, &acs_request).await;
    for says in [
        format!("AuthnRequest {} of this browser, to provider {PROVIDER}, sent to {SSO} (unsigned)", request.id),
        "1 attribute(s) as received: email = [\\\"ichiro@corp.example\\\"]".to_string(),
        format!("verified with the metadata certificate sha256:{}", idp.certificate().fingerprint()),
        "\\\"Corp_ichiro@corp.example\\\"".to_string(),
        "1 attribute(s) mapped (email)".to_string(),
    ] {
        assert!(acs.contains(&says), "{says} in {acs}");
    }
    assert!(!acs.contains("SAMLResponse") && !acs.contains(&response[..40]), "never the response itself: {acs}");

    // The same answer again: an error page naming the check and the request id of its trail.
    let again = b.post_answer(&response, &relay).await;
    assert_eq!(again.status, 403, "{}", again.text);
    assert!(again.text.contains("<code>in_response_to</code>"), "{}", again.text);
    let request_id = again.header("x-request-id").expect("a request id").to_string();
    assert!(again.text.contains(&request_id), "{}", again.text);
    let trail = s.audit_of(&request_id).await;
    let lines = format!("{:?}", trail[0].record["additionalEventData"]["decisionTrail"]);
    assert!(lines.contains(&format!("InResponseTo {} unknown or already answered", request.id)), "{lines}");
    assert_eq!(trail[0].error_code.as_deref(), Some("access_denied"));

    // With the session, the next authorize naming the provider signs in at once (SSO).
    let sso = b.authorize(&[("identity_provider", PROVIDER)]).await;
    assert_eq!(sso.status, 302, "{}", sso.text);
    let location = sso.header("location").unwrap().to_string();
    assert!(location.starts_with(&format!("{CALLBACK}?code=")));
    // Its code's redemption names both the authorize request and the sign-in of the session.
    let code = query_param(&location, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", WEB),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let tokens = b.send(reqwest::Method::POST, &b.path("/oauth2/token"), Some(&form)).await;
    tokens.assert_ok();
    let redeemed = trail_text(s, tokens.header("x-request-id").unwrap()).await;
    let authorize_request = sso.header("x-request-id").unwrap();
    let chain = format!(
        "the user signed in at request {acs_request} (SamlResponse); the code was issued at request \
         {authorize_request} (Authorize) from that sign-in session"
    );
    assert!(redeemed.contains(&chain), "{redeemed}");
}

/// The decision trail of a request, as text.
async fn trail_text(s: &Server, request_id: &str) -> String {
    let trail = s.audit_of(request_id).await;
    assert_eq!(trail.len(), 1, "one record of {request_id}");
    format!("{:?}", trail[0].record["additionalEventData"]["decisionTrail"])
}

#[tokio::test]
async fn a_browser_signs_in_through_the_saml_provider_by_path_and_by_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let idp = IdpSigner::generate("https://corp.example.com/idp", 1_700_000_000).unwrap();
    let s = server(&idp, dir.path()).await;
    round_trip(&s, &idp, false).await;
    round_trip(&s, &idp, true).await;
}

#[tokio::test]
async fn an_answer_brought_by_another_browser_is_refused_and_the_sp_metadata_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let idp = IdpSigner::generate("https://corp.example.com/idp", 1_700_000_000).unwrap();
    let s = server(&idp, dir.path()).await;
    let victim = Browser::new(&s, false);
    let request = to_the_idp(&victim).await;
    let response = answer(&idp, &victim, &request, "jiro@corp.example");
    // Forced on another browser (login CSRF): it holds no binding for the request.
    let attacker = Browser::new(&s, false);
    let refused = attacker.post_answer(&response, &request.id).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("<code>in_response_to</code>"), "{}", refused.text);
    // The browser that asked still can.
    assert_eq!(victim.post_answer(&response, &request.id).await.status, 302);

    let metadata = victim.send(reqwest::Method::GET, &victim.path("/saml2/metadata"), None).await;
    assert_eq!(metadata.status, 200, "{}", metadata.text);
    assert_eq!(metadata.header("content-type"), Some("application/samlmetadata+xml"));
    assert!(metadata.text.contains(&format!("entityID=\"{}\"", sp_entity_id(POOL))), "{}", metadata.text);
    assert!(metadata.text.contains(&format!("Location=\"{}/saml2/idpresponse\"", victim.base())), "{}", metadata.text);
    // No provider of the pool gets signed requests: the certificate is for encryption only.
    assert!(metadata.text.contains("AuthnRequestsSigned=\"false\""), "{}", metadata.text);
    assert!(metadata.text.contains("<md:KeyDescriptor use=\"encryption\">"), "{}", metadata.text);
}

// --- against pysaml2 (interop/saml/peer.py): an independent IdP answers the hosted UI's request ---

/// Runs `peer.py ARGS` with the venv's python (`TOKENBRIDGE_TEST_PYTHON`, or `.venv/bin/python`
/// at the workspace root, as `scripts/test` makes it); returns stdout.
fn peer(args: &[&str]) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("TOKENBRIDGE_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(python.exists(), "{} is missing: the pysaml2 test needs the venv scripts/test makes", python.display());
    let out = std::process::Command::new(&python)
        .arg(root.join("interop/saml/peer.py"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(out.status.success(), "peer.py {}: {}", args[0], String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn pysaml2_answers_the_hosted_uis_authn_request_and_the_acs_accepts_it() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_string_lossy().into_owned();
    peer(&["keys", "--out", &dir]);
    let (key, cert) = (format!("{dir}/idp.key"), format!("{dir}/idp.crt"));
    let entity = "https://pysaml2.corp.example/idp";
    let idp_xml = peer(&["idp-metadata", "--entity-id", entity, "--sso-url", SSO, "--cert", &cert]);
    // The provider is configured with another IdP's metadata, then given pysaml2's through
    // UpdateIdentityProvider, as an administrator would.
    let metadata_dir = tempfile::tempdir().unwrap();
    let placeholder = IdpSigner::generate(entity, 1_700_000_000).unwrap();
    let s = server(&placeholder, metadata_dir.path()).await;
    s.engine
        .user_pools()
        .user_pool_action(
            "UpdateIdentityProvider",
            &serde_json::json!({ "UserPoolId": POOL, "ProviderName": PROVIDER, "ProviderDetails": { "MetadataFile": idp_xml } }),
            Some(&tokenbridge_core::iam::CallerIdentity::Admin { access_key_id: "test".into() }),
            &tokenbridge_core::audit::RequestContext::new("cognito-idp.amazonaws.com"),
        )
        .await
        .expect("the provider takes pysaml2's metadata");

    let b = Browser::new(&s, false);
    let to_idp = b.authorize(&[("identity_provider", PROVIDER)]).await;
    assert_eq!(to_idp.status, 302, "{}", to_idp.text);
    let url = to_idp.header("location").unwrap().to_string();
    // pysaml2's IdP reads our AuthnRequest against our SP metadata, as served.
    let sp_xml = b.send(reqwest::Method::GET, &b.path("/saml2/metadata"), None).await.text;
    let sp_path = format!("{dir}/sp.xml");
    std::fs::write(&sp_path, &sp_xml).unwrap();
    let read: serde_json::Value =
        serde_json::from_str(&peer(&["check-authn-request", "--redirect-url", &url, "--sp-metadata", &sp_path]))
            .unwrap();
    assert_eq!(read["issuer"], sp_entity_id(POOL));
    assert_eq!(read["acs_url"], format!("{}/saml2/idpresponse", b.base()));
    let (id, relay) = (read["id"].as_str().unwrap().to_string(), read["relay_state"].as_str().unwrap().to_string());

    let response = peer(&[
        "response",
        "--sp-metadata",
        &sp_path,
        "--idp-entity-id",
        entity,
        "--key",
        &key,
        "--cert",
        &cert,
        "--name-id",
        "kenji@corp.example",
        "--name-id-format",
        "email",
        "--in-response-to",
        &id,
        "--attr",
        "email=kenji@corp.example",
        "--sign-assertion",
    ]);
    let back = b.post_answer(response.trim(), &relay).await;
    assert_eq!(back.status, 302, "{}", back.text);
    assert!(back.header("location").unwrap().starts_with(&format!("{CALLBACK}?code=")));
    let user = s.engine.directory().find("Corp_kenji@corp.example").await.expect("the federated user");
    assert_eq!(user.email.as_deref(), Some("kenji@corp.example"));
}
