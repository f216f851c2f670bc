//! The demo provider's SAML IdP over real HTTP: its metadata read by `tokenbridge_saml`, an SP's
//! AuthnRequest through the login form to the auto-post form, and the SAMLResponse it carries
//! verified by the SP side's [`verify_response`]; and every refusal (wrong password, an ACS off
//! the allow-list, oversized or garbled requests, the CSRF check, signatures when the SP's
//! certificate is configured).

use super::tests::{hidden_fields, new_store, shared_key, users};
use super::*;
use std::io::Read as _;
use std::sync::OnceLock;
use tempfile::TempDir;
use tokenbridge_core::ManualClock;
use tokenbridge_saml::{
    sp_entity_id, verify_response, AuthnRequest, Certificate, Check, Expectations, IdpMetadata, RsaKey,
    VerifiedAssertion,
};

const POOL: &str = "ap-northeast-1_SamlTest";
const USER: &str = "alice@acme.example";
const PASSWORD: &str = "alice-pass";

/// One IdP key for the whole binary (RSA generation is slow in debug builds).
fn idp_key() -> &'static (RsaKey, Certificate) {
    static KEY: OnceLock<(RsaKey, Certificate)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = RsaKey::generate().unwrap();
        let certificate = key.self_signed_certificate("demo SAML IdP (test)", now() - 60, 30).unwrap();
        (key, certificate)
    })
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Harness {
    _dir: TempDir,
    base: String,
    http: reqwest::Client,
    metadata: IdpMetadata,
    sp: String,
}

/// The login page of a flow: its cookie and form.
struct LoginPage {
    cookie: String,
    fields: Vec<(String, String)>,
}

/// The auto-post form: where it posts, its fields, and its policy.
struct AutoPost {
    action: String,
    fields: Vec<(String, String)>,
    policy: String,
    page: String,
}

impl AutoPost {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }

    async fn start_with(sp_certificates: Vec<(String, Certificate)>) -> Self {
        let (dir, store) = new_store().await;
        store.put_setting(SIGNING_KEY_SETTING, shared_key()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = DemoIdpConfig {
            issuer: format!("{base}/demo-idp"),
            client_id: "client".into(),
            client_secret: "secret".into(),
            redirect_uris: Vec::new(),
            users: users(),
            other_clients: Vec::new(),
            id_token_ttl: 3600,
            access_token_ttl: 3600,
        };
        let (key, certificate) = idp_key().clone();
        let saml = DemoSamlConfig { key, certificate, sp_base_urls: vec![base.clone()], sp_certificates };
        let clock = Arc::new(ManualClock::new(now()));
        let idp = DemoIdp::open_with_saml(config, Some(saml), store, clock).await.unwrap();
        let app = Router::new().nest("/demo-idp", idp.router());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let text = http.get(format!("{base}/demo-idp/saml/metadata")).send().await.unwrap().text().await.unwrap();
        let metadata = IdpMetadata::parse(&text).unwrap();
        Self { _dir: dir, base, http, metadata, sp: sp_entity_id(POOL) }
    }

    fn acs(&self) -> String {
        format!("{}/saml2/idpresponse", self.base)
    }

    fn sso(&self) -> String {
        format!("{}/demo-idp/saml/sso", self.base)
    }

    fn request(&self, acs: &str) -> AuthnRequest {
        AuthnRequest::new(&self.sp, acs, &self.sso(), now())
    }

    /// GETs `url`: status and body.
    async fn get(&self, url: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let resp = self.http.get(url).send().await.unwrap();
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        (status, resp.text().await.unwrap(), headers)
    }

    /// The login page `url` answers (asserting it is one).
    async fn login_page(&self, url: &str) -> LoginPage {
        let (status, page, headers) = self.get(url).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Sign in to continue to"), "{page}");
        let set_cookie = headers.get("set-cookie").expect("a CSRF cookie").to_str().unwrap();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        LoginPage { cookie, fields: hidden_fields(&page) }
    }

    /// Posts the login form with `username`/`password`; the cookie when `with_cookie`.
    async fn post_login(&self, login: &LoginPage, username: &str, password: &str) -> reqwest::Response {
        let mut form = login.fields.clone();
        form.push(("username".into(), username.into()));
        form.push(("password".into(), password.into()));
        self.http
            .post(format!("{}/demo-idp/saml/login", self.base))
            .header("cookie", &login.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The whole browser part from `url` (the SSO redirect or the IdP-initiated URL).
    async fn sign_in(&self, url: &str) -> AutoPost {
        let login = self.login_page(url).await;
        auto_post(self.post_login(&login, USER, PASSWORD).await).await
    }

    fn expect<'a>(&'a self, acs: &'a str) -> Expectations<'a> {
        Expectations::new(&self.metadata, &self.sp, acs, now())
    }

    /// An error page (status 400 unless said), with no form to post anywhere.
    async fn refused(&self, url: &str, says: &str) {
        let (status, page, _) = self.get(url).await;
        assert_eq!(status, 400, "{url}: {page}");
        assert_error_page(&page, says);
    }
}

fn assert_error_page(page: &str, says: &str) {
    assert!(page.contains("Nothing was sent back to the application."), "{page}");
    assert!(page.contains(says), "the page should say {says:?}: {page}");
    assert!(!page.contains("<form") && !page.contains("SAMLResponse"), "{page}");
}

async fn auto_post(resp: reqwest::Response) -> AutoPost {
    assert_eq!(resp.status(), 200);
    let policy = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    let page = resp.text().await.unwrap();
    let action = page
        .split("<form method=\"post\" action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no auto-post form: {page}"))
        .to_string();
    AutoPost { action, fields: hidden_fields(&page), policy, page }
}

fn verified(post: &AutoPost, expect: &Expectations) -> VerifiedAssertion {
    let response = post.field("SAMLResponse").expect("a SAMLResponse");
    verify_response(response, expect).unwrap_or_else(|r| panic!("the SP refuses the response: {r}"))
}

#[tokio::test]
async fn the_metadata_names_the_entity_the_sso_endpoints_and_the_signing_certificate() {
    let h = Harness::start().await;
    let resp = h.http.get(format!("{}/demo-idp/saml/metadata", h.base)).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/samlmetadata+xml");
    assert_eq!(h.metadata.entity_id, format!("{}/demo-idp/saml", h.base));
    assert_eq!(h.metadata.sso_redirect(), Some(h.sso().as_str()));
    assert_eq!(h.metadata.sso_post(), Some(h.sso().as_str()));
    assert_eq!(h.metadata.signing_certificates.len(), 1);
    assert_eq!(h.metadata.signing_certificates[0].fingerprint(), idp_key().1.fingerprint());
    assert!(!h.metadata.want_authn_requests_signed);
}

#[tokio::test]
async fn sp_initiated_sign_in_posts_a_signed_response_the_sp_verifies() {
    let h = Harness::start().await;
    for acs in [h.acs(), format!("{}/domains/my-app-1/saml2/idpresponse", h.base)] {
        let request = h.request(&acs);
        let post = h.sign_in(&request.redirect_url(Some("relay/1 2&x"), None)).await;
        assert_eq!(post.action, acs, "posted to the request's ACS only");
        assert_eq!(post.field("RelayState"), Some("relay/1 2&x"));
        // The script runs under the policy's nonce, and nothing else does.
        let nonce = post.policy.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).unwrap();
        assert!(post.page.contains(&format!("<script nonce=\"{nonce}\">")), "{}", post.page);
        assert!(post.policy.starts_with("default-src 'none'; script-src 'nonce-"), "{}", post.policy);
        // No form-action: a browser holds the ACS's redirect on to the SP's application (another
        // origin, unknown here) to it too, and would stop the sign-in at the ACS.
        assert!(!post.policy.contains("form-action"), "{}", post.policy);
        assert!(post.page.contains("<noscript><button"), "a button without scripts");

        let mut expect = h.expect(&acs);
        expect.in_response_to = Some(&request.id);
        let got = verified(&post, &expect);
        assert_eq!(got.in_response_to.as_deref(), Some(request.id.as_str()));
        assert_eq!(got.issuer, h.metadata.entity_id);
        assert_eq!(got.name_id, USER, "NameID is the username, one to one");
        assert_eq!(got.name_id_format.as_deref(), Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"));
        assert!(got.session_index.is_some());
        assert_eq!(got.signed.len(), 2, "assertion and response signed: {:?}", got.signed);
        assert!(got.expires_at <= now() + 300 + 120 + 5, "a few minutes: {}", got.expires_at - now());
        let attr = |name: &str| got.attributes.get(name).cloned().unwrap_or_default();
        assert_eq!(attr("email"), ["alice@acme.example"]);
        assert_eq!(attr("username"), [USER]);
        assert_eq!(attr("name"), ["Alice Admin"]);
        assert_eq!(attr("given_name"), ["Alice"]);
        assert_eq!(attr("family_name"), ["Admin"]);
        assert_eq!(attr("email_verified"), ["true"]);
        let user_id = &attr("userId")[0];
        assert!(user_id.starts_with("005") && user_id.len() == 18, "{user_id}");

        // The same response for another SP, or a second sign-in's request: refused by the SP.
        let other = sp_entity_id("ap-northeast-1_Other");
        let mut wrong = Expectations::new(&h.metadata, &other, &acs, now());
        wrong.in_response_to = Some(&request.id);
        let refused = verify_response(post.field("SAMLResponse").unwrap(), &wrong).unwrap_err();
        assert_eq!(refused.check, Check::Audience, "{refused}");
    }
}

#[tokio::test]
async fn a_wrong_password_gets_the_login_page_again_and_no_response() {
    let h = Harness::start().await;
    let login = h.login_page(&h.request(&h.acs()).redirect_url(None, None)).await;
    for (username, password) in [(USER, "not-the-password"), ("nobody@acme.example", PASSWORD), (USER, "")] {
        let resp = h.post_login(&login, username, password).await;
        assert_eq!(resp.status(), 401);
        let page = resp.text().await.unwrap();
        assert!(page.contains("Wrong username or password"), "{page}");
        assert!(!page.contains("SAMLResponse"), "{page}");
    }
    // The form still works after a mistake.
    let post = auto_post(h.post_login(&login, USER, PASSWORD).await).await;
    assert!(post.field("SAMLResponse").is_some());
}

#[tokio::test]
async fn an_acs_off_the_allow_list_gets_an_error_page_and_is_never_posted_to() {
    let h = Harness::start().await;
    for acs in [
        "https://evil.example/saml2/idpresponse".to_string(),
        format!("{}/saml2/idpresponse/", h.base),
        format!("{}/saml2/idpresponse?x=1", h.base),
        format!("{}/domains/Upper/saml2/idpresponse", h.base),
        format!("{}/domains/a/b/saml2/idpresponse", h.base),
        format!("{}/domains/-x/saml2/idpresponse", h.base),
        format!("{}/other/saml2/idpresponse", h.base),
        format!("{}.evil.example/saml2/idpresponse", h.base),
    ] {
        h.refused(&h.request(&acs).redirect_url(None, None), "is not allowed").await;
        let init = format!("{}/demo-idp/saml/idp-init?sp={}&acs={}", h.base, h.sp, urlencode(&acs));
        h.refused(&init, "is not allowed").await;
    }
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A redirect query carrying `xml` deflated (or `raw` bytes as the deflated part).
fn redirect_with(sso: &str, deflated: &[u8]) -> String {
    format!("{sso}?SAMLRequest={}", urlencode(&STANDARD.encode(deflated)))
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::DeflateEncoder::new(bytes, flate2::Compression::best()).read_to_end(&mut out).unwrap();
    out
}

#[tokio::test]
async fn oversized_garbled_or_misdirected_saml_requests_get_an_error_page() {
    let h = Harness::start().await;
    let sso = h.sso();
    let good = h.request(&h.acs()).to_xml();
    // A deflate bomb: 1 MiB inflated from a few kilobytes.
    let padded = good.replace("</samlp:AuthnRequest>", &format!("<!--{}--></samlp:AuthnRequest>", "x".repeat(1 << 20)));
    h.refused(&redirect_with(&sso, &deflate(padded.as_bytes())), "over the size bound").await;
    // A query over the bound before anything is decoded.
    h.refused(&format!("{sso}?SAMLRequest={}", "A".repeat(40 * 1024)), "over the size bound").await;
    h.refused(&format!("{sso}?SAMLRequest=%%%not-base64"), "cannot be read").await;
    h.refused(&redirect_with(&sso, b"not deflate data at all"), "cannot be read").await;
    h.refused(&redirect_with(&sso, &deflate(b"<not-closed")), "cannot be read").await;
    h.refused(
        &redirect_with(&sso, &deflate(b"<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>")),
        "cannot be read",
    )
    .await;
    h.refused(&format!("{sso}?RelayState=x"), "no SAMLRequest").await;
    let dtd = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{good}");
    h.refused(&redirect_with(&sso, &deflate(dtd.as_bytes())), "cannot be read").await;

    let mut request = h.request(&h.acs());
    request.destination = "https://elsewhere.example/sso".into();
    h.refused(&redirect_with(&sso, &deflate(request.to_xml().as_bytes())), "Destination").await;
    let mut request = h.request(&h.acs());
    request.issue_instant -= 3600;
    h.refused(&request.redirect_url(None, None), "IssueInstant").await;
    let xml = h.request(&h.acs()).to_xml();
    let no_acs = xml.replace(&format!(" AssertionConsumerServiceURL=\"{}\"", h.acs()), "");
    h.refused(&redirect_with(&sso, &deflate(no_acs.as_bytes())), "names no AssertionConsumerServiceURL").await;
}

#[tokio::test]
async fn the_login_form_is_refused_without_its_csrf_cookie_token_or_a_valid_state() {
    let h = Harness::start().await;
    let login = h.login_page(&h.request(&h.acs()).redirect_url(None, None)).await;
    let post = |fields: Vec<(String, String)>, cookie: Option<String>| {
        let mut request = h.http.post(format!("{}/demo-idp/saml/login", h.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let mut form = fields;
        form.push(("username".into(), USER.into()));
        form.push(("password".into(), PASSWORD.into()));
        request.form(&form).send()
    };
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        login.fields.iter().map(|(n, v)| (n.clone(), if n == name { value.to_string() } else { v.clone() })).collect()
    };
    let cases = [
        (login.fields.clone(), None, 403, "CSRF"),
        (
            login.fields.clone(),
            Some("demo_idp_saml_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
            403,
            "CSRF",
        ),
        (with("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), Some(login.cookie.clone()), 403, "CSRF"),
        (with("saml_state", "e30.AAAA"), Some(login.cookie.clone()), 400, "expired or is not valid"),
    ];
    for (fields, cookie, status, says) in cases {
        let resp = post(fields, cookie).await.unwrap();
        assert_eq!(resp.status(), status);
        assert_error_page(&resp.text().await.unwrap(), says);
    }
    // A second flow in the same browser keeps the same token, so the first form stays valid.
    let resp =
        h.http.get(h.request(&h.acs()).redirect_url(None, None)).header("cookie", &login.cookie).send().await.unwrap();
    let again = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert_eq!(again, login.cookie);
    assert!(auto_post(h.post_login(&login, USER, PASSWORD).await).await.field("SAMLResponse").is_some());
}

#[tokio::test]
async fn idp_initiated_sign_in_posts_an_unsolicited_response() {
    let h = Harness::start().await;
    let acs = h.acs();
    let url = format!("{}/demo-idp/saml/idp-init?sp={}&acs={}&RelayState=start", h.base, h.sp, urlencode(&acs));
    let post = h.sign_in(&url).await;
    assert_eq!(post.action, acs);
    assert_eq!(post.field("RelayState"), Some("start"));
    let mut expect = h.expect(&acs);
    let refused = verify_response(post.field("SAMLResponse").unwrap(), &expect).unwrap_err();
    assert_eq!(refused.check, Check::Unsolicited, "IDPInit off: {refused}");
    expect.allow_unsolicited = true;
    let got = verified(&post, &expect);
    assert_eq!(got.in_response_to, None);
    assert_eq!(got.name_id, USER);
    // Both parameters are needed.
    h.refused(&format!("{}/demo-idp/saml/idp-init?acs={}", h.base, urlencode(&acs)), "sp").await;
    h.refused(&format!("{}/demo-idp/saml/idp-init?sp={}", h.base, h.sp), "acs").await;
}

#[tokio::test]
async fn the_post_binding_reads_the_same_request() {
    let h = Harness::start().await;
    let request = h.request(&h.acs());
    let form = [("SAMLRequest", STANDARD.encode(request.to_xml())), ("RelayState", "posted".to_string())];
    let resp = h.http.post(h.sso()).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let login = LoginPage { cookie, fields: hidden_fields(&resp.text().await.unwrap()) };
    let post = auto_post(h.post_login(&login, USER, PASSWORD).await).await;
    assert_eq!(post.field("RelayState"), Some("posted"));
    let mut expect = h.expect(&post.action);
    expect.in_response_to = Some(&request.id);
    assert_eq!(verified(&post, &expect).in_response_to.as_deref(), Some(request.id.as_str()));
    let resp = h.http.post(h.sso()).form(&[("SAMLRequest", "%%%")]).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_error_page(&resp.text().await.unwrap(), "not base64");
}

#[tokio::test]
async fn a_configured_sp_certificate_makes_signed_requests_required_and_checked() {
    let sp_key = RsaKey::generate().unwrap();
    let sp_cert = sp_key.self_signed_certificate("SP", now() - 60, 1).unwrap();
    let h = Harness::start_with(vec![(sp_entity_id(POOL), sp_cert)]).await;
    let request = h.request(&h.acs());
    h.login_page(&request.redirect_url(Some("r"), Some(&sp_key))).await;
    h.refused(&request.redirect_url(Some("r"), None), "is not signed").await;
    let (other, _) = idp_key();
    h.refused(&request.redirect_url(Some("r"), Some(other)), "does not verify").await;
    // An SP whose certificate is not configured: its signature cannot be checked, the request
    // counts as unsigned and is answered.
    let mut unknown = h.request(&h.acs());
    unknown.sp_entity_id = sp_entity_id("ap-northeast-1_Unknown");
    h.login_page(&unknown.redirect_url(None, Some(other))).await;
}
