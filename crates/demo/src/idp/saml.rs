//! The demo provider as a Salesforce-like SAML 2.0 identity provider, for the same users as its
//! OIDC side (the NameID is the username, one to one):
//!
//! - `GET saml/metadata`: the IdP metadata (entity id `<issuer>/saml`, the signing certificate,
//!   SingleSignOnService over HTTP-Redirect and HTTP-POST at `saml/sso`);
//! - `GET|POST saml/sso`: an SP's AuthnRequest. It is read with
//!   [`ReceivedAuthnRequest::from_redirect`] (the POST binding's is deflated again and read the
//!   same way); a signature is checked when the SP's certificate is configured, and then required;
//!   otherwise it cannot be checked and the request counts as unsigned, which is accepted. The
//!   request is remembered in the login form, sealed (HMAC) with the browser's CSRF token;
//! - `GET saml/idp-init?sp=<entity id>&acs=<ACS URL>[&RelayState=…]`: IdP-initiated sign-in;
//! - `POST saml/login`: the password check, then an auto-submitting form (HTTP-POST binding)
//!   carrying the signed `SAMLResponse` and `RelayState` to the AssertionConsumerServiceURL.
//!
//! Only ACS URLs on the allow-list are ever answered ([`DemoSamlConfig::sp_base_urls`]); any
//! other gets an error page and nothing is posted anywhere.

use std::io::Read as _;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokenbridge_core::secrets::{constant_time_eq, random_secret};
use tokenbridge_saml::{AssertionSpec, Certificate, IdpSigner, ReceivedAuthnRequest, RsaKey, Signing};

use super::wire::Params;
use super::{pages, DemoIdp, DemoUser, Inner};

/// The sealed login state lives this long (seconds).
const SAML_LOGIN_TTL: i64 = 600;
/// Assertions are valid this long (seconds), as Salesforce's few minutes.
const ASSERTION_TTL: i64 = 300;
/// An AuthnRequest's IssueInstant may be this far from now (seconds).
const REQUEST_SKEW: i64 = 300;
/// A redirect's query (or a POST body) larger than this is refused before decoding; the
/// inflated request is bounded again by the reader.
const MAX_REQUEST_QUERY: usize = 32 * 1024;
/// Entity ids and RelayState are short; longer ones are refused.
const MAX_VALUE: usize = 1024;
const PURPOSE_SAML_LOGIN: &str = "demo_idp/saml_login";
/// The login form's CSRF cookie (double submit: the form and its sealed state carry the same).
const CSRF_COOKIE: &str = "demo_idp_saml_csrf";

const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// The SAML side's keys and the SPs it answers.
#[derive(Debug, Clone)]
pub struct DemoSamlConfig {
    pub key: RsaKey,
    pub certificate: Certificate,
    /// Base URLs of the service providers answered: each allows the ACS URLs
    /// `<base>/saml2/idpresponse` and `<base>/domains/<domain>/saml2/idpresponse`.
    pub sp_base_urls: Vec<String>,
    /// SP entity id → its AuthnRequest signing certificate: requests from these SPs must be
    /// signed with it. SPs not listed are answered unsigned.
    pub sp_certificates: Vec<(String, Certificate)>,
}

/// The SAML side, built once at open.
pub(super) struct SamlIdp {
    signer: IdpSigner,
    sso_url: String,
    metadata_xml: String,
    sp_base_urls: Vec<String>,
    sp_certificates: Vec<(String, Certificate)>,
    /// Cookies are `Secure` when the provider is served over https.
    secure_cookie: bool,
}

impl SamlIdp {
    pub(super) fn new(issuer: &str, config: DemoSamlConfig) -> Self {
        let urls = SamlUrls::of(issuer);
        let signer = IdpSigner::new(&urls.entity_id, config.key, config.certificate);
        let metadata_xml = signer.metadata_xml(&urls.sso_url, None);
        let sp_base_urls = config.sp_base_urls.iter().map(|b| b.trim_end_matches('/').to_string()).collect();
        Self {
            signer,
            sso_url: urls.sso_url,
            metadata_xml,
            sp_base_urls,
            sp_certificates: config.sp_certificates,
            secure_cookie: issuer.starts_with("https://"),
        }
    }

    pub(super) fn certificate(&self) -> &Certificate {
        self.signer.certificate()
    }

    pub(super) fn metadata_xml(&self) -> &str {
        &self.metadata_xml
    }

    /// Whether `acs` is on the allow-list, spelled exactly.
    fn acs_allowed(&self, acs: &str) -> bool {
        self.sp_base_urls.iter().any(|base| {
            let Some(rest) = acs.strip_prefix(base.as_str()) else { return false };
            rest == "/saml2/idpresponse"
                || rest
                    .strip_prefix("/domains/")
                    .and_then(|r| r.strip_suffix("/saml2/idpresponse"))
                    .is_some_and(is_domain_prefix)
        })
    }
}

/// A Cognito domain prefix: lower-case letters, digits and inner hyphens, at most 63.
fn is_domain_prefix(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Where the SAML side lives under a provider `issuer` (`<base>/demo-idp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlUrls {
    pub entity_id: String,
    pub metadata_url: String,
    pub sso_url: String,
    pub idp_init_url: String,
}

impl SamlUrls {
    pub fn of(issuer: &str) -> Self {
        let saml = format!("{}/saml", issuer.trim_end_matches('/'));
        Self {
            metadata_url: format!("{saml}/metadata"),
            sso_url: format!("{saml}/sso"),
            idp_init_url: format!("{saml}/idp-init"),
            entity_id: saml,
        }
    }
}

/// The sign-in in progress, sealed into the login form.
#[derive(Debug, Serialize, Deserialize)]
struct SamlLogin {
    /// The SP entity id: the audience.
    sp: String,
    acs: String,
    /// The AuthnRequest ID; `None` when IdP-initiated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    relay_state: Option<String>,
    /// Equals the browser's CSRF cookie.
    csrf: String,
    exp: i64,
}

// --- handlers ---

pub(super) async fn metadata(State(idp): State<DemoIdp>) -> Response {
    let Some(saml) = idp.inner.saml.as_ref() else { return StatusCode::NOT_FOUND.into_response() };
    let headers =
        [(header::CONTENT_TYPE, "application/samlmetadata+xml"), (header::CACHE_CONTROL, "public, max-age=300")];
    (headers, saml.metadata_xml.clone()).into_response()
}

pub(super) async fn sso_redirect(
    State(idp): State<DemoIdp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    idp.inner.saml_sso(&headers, &query.unwrap_or_default())
}

pub(super) async fn sso_post(State(idp): State<DemoIdp>, headers: HeaderMap, body: Bytes) -> Response {
    match redirect_query_of_post(&body) {
        Ok(query) => idp.inner.saml_sso(&headers, &query),
        Err(message) => pages::error(StatusCode::BAD_REQUEST, &message),
    }
}

pub(super) async fn idp_init(State(idp): State<DemoIdp>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    idp.inner.saml_idp_init(&headers, query.unwrap_or_default().as_bytes())
}

pub(super) async fn login(State(idp): State<DemoIdp>, headers: HeaderMap, body: Bytes) -> Response {
    idp.inner.saml_login(&headers, &body)
}

/// The HTTP-POST binding's form (`SAMLRequest` = base64 of the XML) as the HTTP-Redirect query
/// that carries the same request, so one reader reads both. An XML signature inside a POSTed
/// request is not checked: from an SP whose certificate is configured it is refused as unsigned.
fn redirect_query_of_post(body: &[u8]) -> Result<String, String> {
    if body.len() > MAX_REQUEST_QUERY {
        return Err("The SAML request is over the size bound.".into());
    }
    let params = Params::parse(body)?;
    let request = params.get("SAMLRequest").ok_or("The POST carries no SAMLRequest.")?;
    let xml: String = request.split_whitespace().collect();
    let xml = STANDARD.decode(xml).map_err(|_| "The SAMLRequest is not base64.".to_string())?;
    let mut deflated = Vec::new();
    flate2::read::DeflateEncoder::new(xml.as_slice(), flate2::Compression::fast())
        .read_to_end(&mut deflated)
        .map_err(|_| "The SAMLRequest cannot be read.".to_string())?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("SAMLRequest", &STANDARD.encode(deflated));
    if let Some(state) = params.get("RelayState") {
        query.append_pair("RelayState", state);
    }
    Ok(query.finish())
}

// --- the flows ---

impl Inner {
    fn saml(&self) -> &SamlIdp {
        self.saml.as_ref().expect("the SAML routes exist only with a SAML configuration")
    }

    /// An AuthnRequest received: checked, then the login form that remembers it.
    fn saml_sso(&self, headers: &HeaderMap, query: &str) -> Response {
        match self.read_authn_request(query) {
            Ok(request) => {
                let login = SamlLogin {
                    sp: request.issuer,
                    acs: request.acs_url.unwrap_or_default(),
                    request_id: Some(request.id),
                    relay_state: request.relay_state,
                    csrf: String::new(),
                    exp: 0,
                };
                self.saml_login_form(headers, login)
            }
            Err(message) => pages::error(StatusCode::BAD_REQUEST, &message),
        }
    }

    /// Reads and checks an AuthnRequest (HTTP-Redirect query); the error says which check failed.
    fn read_authn_request(&self, query: &str) -> Result<ReceivedAuthnRequest, String> {
        let saml = self.saml();
        if query.len() > MAX_REQUEST_QUERY {
            return Err("The SAML request is over the size bound.".into());
        }
        // First without the signature, to learn which SP sent it; then, if that SP's
        // certificate is configured, again requiring its signature.
        let unsigned: Vec<&str> =
            query.split('&').filter(|p| !p.starts_with("Signature=") && !p.starts_with("SigAlg=")).collect();
        let request = ReceivedAuthnRequest::from_redirect(&unsigned.join("&"), None, false)
            .map_err(|e| format!("The SAML request cannot be read: {e}."))?;
        let request = match saml.sp_certificates.iter().find(|(sp, _)| *sp == request.issuer) {
            Some((_, certificate)) => ReceivedAuthnRequest::from_redirect(query, Some(certificate), true)
                .map_err(|e| format!("The SAML request of {} is refused: {e}.", request.issuer))?,
            None => request,
        };
        if request.issuer.is_empty() || request.issuer.len() > MAX_VALUE {
            return Err("The AuthnRequest's Issuer is empty or too long.".into());
        }
        if request.relay_state.as_ref().is_some_and(|s| s.len() > MAX_VALUE) {
            return Err("The RelayState is too long.".into());
        }
        if let Some(destination) = request.destination.as_deref().filter(|d| *d != saml.sso_url) {
            return Err(format!(
                "The AuthnRequest's Destination {destination} is not this provider's {}.",
                saml.sso_url
            ));
        }
        if (request.issue_instant - self.now()).abs() > REQUEST_SKEW {
            return Err("The AuthnRequest's IssueInstant is more than five minutes from now.".into());
        }
        match request.acs_url.as_deref() {
            None => Err("The AuthnRequest names no AssertionConsumerServiceURL.".into()),
            Some(acs) if !saml.acs_allowed(acs) => {
                Err(format!("The AssertionConsumerServiceURL {acs} is not allowed for this provider."))
            }
            Some(_) => Ok(request),
        }
    }

    /// IdP-initiated: `sp` and an allowed `acs`, then the login form.
    fn saml_idp_init(&self, headers: &HeaderMap, query: &[u8]) -> Response {
        let checked = Params::parse(query).and_then(|params| {
            let sp = params.get("sp").filter(|sp| sp.len() <= MAX_VALUE).ok_or("sp (the SP entity id) is required.")?;
            let acs = params.get("acs").ok_or("acs (the AssertionConsumerServiceURL) is required.")?;
            if !self.saml().acs_allowed(acs) {
                return Err(format!("The AssertionConsumerServiceURL {acs} is not allowed for this provider."));
            }
            let relay_state = params.get("RelayState").filter(|s| s.len() <= MAX_VALUE).map(str::to_string);
            Ok(SamlLogin {
                sp: sp.to_string(),
                acs: acs.to_string(),
                request_id: None,
                relay_state,
                csrf: String::new(),
                exp: 0,
            })
        });
        match checked {
            Ok(login) => self.saml_login_form(headers, login),
            Err(message) => pages::error(StatusCode::BAD_REQUEST, &message),
        }
    }

    /// The login page for `login`, its CSRF token in a cookie, the form and the sealed state.
    fn saml_login_form(&self, headers: &HeaderMap, mut login: SamlLogin) -> Response {
        // One token per browser: a second tab keeps the first tab's form valid.
        let is_token = |t: &String| t.len() == 43 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        login.csrf = csrf_cookie(headers).filter(is_token).unwrap_or_else(random_secret);
        login.exp = self.now() + SAML_LOGIN_TTL;
        let page = self.saml_login_page(&login, None, "");
        let mut response = pages::html(StatusCode::OK, page);
        let cookie = format!(
            "{CSRF_COOKIE}={}; Path={}/saml; HttpOnly; SameSite=Lax{}",
            login.csrf,
            self.mount_path,
            if self.saml().secure_cookie { "; Secure" } else { "" }
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        response
    }

    fn saml_login_page(&self, login: &SamlLogin, error: Option<&str>, username: &str) -> String {
        let sealed = self.seal(PURPOSE_SAML_LOGIN, login);
        let hidden = [("saml_state", sealed.as_str()), ("csrf_token", login.csrf.as_str())];
        pages::login(&format!("{}/saml/login", self.mount_path), &hidden, &login.sp, error, username)
    }

    /// `POST saml/login`: the sealed state, the CSRF check, the password; then the signed
    /// response posted to the ACS.
    fn saml_login(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        let params = match Params::parse(body) {
            Ok(params) => params,
            Err(message) => return pages::error(StatusCode::BAD_REQUEST, &message),
        };
        let now = self.now();
        let Some(login) = params
            .get("saml_state")
            .and_then(|s| self.unseal::<SamlLogin>(PURPOSE_SAML_LOGIN, s))
            .filter(|l| l.exp > now)
        else {
            let message = "This sign-in has expired or is not valid. Start again from the application.";
            return pages::error(StatusCode::BAD_REQUEST, message);
        };
        let same = |value: Option<&str>| value.is_some_and(|v| constant_time_eq(v.as_bytes(), login.csrf.as_bytes()));
        if !same(csrf_cookie(headers).as_deref()) || !same(params.get("csrf_token")) {
            let message = "The sign-in form's CSRF check failed: its cookie is missing or does not match the form.";
            return pages::error(StatusCode::FORBIDDEN, message);
        }
        if !self.saml().acs_allowed(&login.acs) {
            return pages::error(StatusCode::BAD_REQUEST, "The AssertionConsumerServiceURL is no longer allowed.");
        }
        let username = params.get("username").unwrap_or_default();
        let password = params.get("password").unwrap_or_default();
        let Some(user) = self.check_password(username, password) else {
            let page = self.saml_login_page(&login, Some("Wrong username or password. Try again."), username);
            return pages::html(StatusCode::UNAUTHORIZED, page);
        };
        let spec = self.assertion_for(user, &login, now);
        match self.saml().signer.response_base64(&spec) {
            Ok(response) => {
                let mut fields = vec![("SAMLResponse", response.as_str())];
                fields.extend(login.relay_state.as_deref().map(|s| ("RelayState", s)));
                pages::auto_post(&login.acs, &login.sp, &fields)
            }
            Err(e) => {
                tracing::error!(error = %e, "demo SAML IdP: signing the response failed");
                pages::error(StatusCode::INTERNAL_SERVER_ERROR, "The response could not be signed.")
            }
        }
    }

    /// A Salesforce-like assertion for `user`: NameID the username, its attributes, both the
    /// assertion and the response signed.
    fn assertion_for(&self, user: &DemoUser, login: &SamlLogin, now: i64) -> AssertionSpec {
        let mut spec = AssertionSpec::new(&user.username, &login.sp, &login.acs, now);
        spec.name_id_format = if user.username.contains('@') { NAMEID_EMAIL } else { NAMEID_UNSPECIFIED }.to_string();
        spec.in_response_to = login.request_id.clone();
        spec.not_on_or_after = now + ASSERTION_TTL;
        spec.signing = Signing { assertion: true, response: true };
        let (given, family) = user.name.split_once(' ').unwrap_or((user.name.as_str(), ""));
        let email_verified = if user.email_verified { "true" } else { "false" };
        spec = spec
            .attribute("userId", &[&user.user_id()])
            .attribute("username", &[&user.username])
            .attribute("email", &[&user.email])
            .attribute("email_verified", &[email_verified])
            .attribute("name", &[&user.name])
            .attribute("given_name", &[given]);
        if !family.is_empty() {
            spec = spec.attribute("family_name", &[family]);
        }
        spec.attribute("organizationId", &[&user.org_prefix()]).attribute("is_portal_user", &["false"])
    }
}

/// The CSRF cookie's value, if the browser sent one.
fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(CSRF_COOKIE)?.strip_prefix('='))
        .map(str::to_string)
}
