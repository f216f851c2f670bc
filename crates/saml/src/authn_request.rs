//! SP-initiated sign-in: the `samlp:AuthnRequest` and its HTTP-Redirect binding (SAML bindings
//! §3.4: raw DEFLATE, base64, URL-encoding, RelayState; when signed, `SigAlg` and `Signature`
//! over the query string exactly as sent). The IdP side reads one back ([`ReceivedAuthnRequest`]).

use std::io::Read;

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use flate2::read::{DeflateDecoder, DeflateEncoder};
use flate2::Compression;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::cert::{decode_base64, Certificate, KeyKind, RsaKey};
use crate::names::*;
use crate::xml::{self, escape_attribute, escape_text};
use crate::{clip, error, instant, Error};

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// A request is small; an inflated one larger than this is refused (deflate bombs).
const MAX_REQUEST: usize = 64 * 1024;

/// A new request ID: `_` and 160 random bits in hex (an XML ID cannot start with a digit).
pub(crate) fn new_id() -> String {
    let mut bytes = [0u8; 20];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    format!("_{}", hex::encode(bytes))
}

/// Form encoding (a space is `+`, hex upper case), as Java's URLEncoder, PHP's urlencode and
/// Python's urlencode write it: IdPs that check the signature over their own re-encoding of the
/// query (pysaml2 does) then see the octets that were signed.
fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string().replace("%20", "+")
}

/// An AuthnRequest the SP sends to the IdP's SingleSignOnService (HTTP-Redirect), asking for
/// the response at its ACS (HTTP-POST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub issue_instant: i64,
    /// The IdP's SingleSignOnService location.
    pub destination: String,
    pub acs_url: String,
    pub sp_entity_id: String,
    pub name_id_format: String,
}

impl AuthnRequest {
    /// A request with a fresh ID, issued `now`, asking for an unspecified NameID format.
    pub fn new(sp_entity_id: &str, acs_url: &str, destination: &str, now: i64) -> Self {
        Self {
            id: new_id(),
            issue_instant: now,
            destination: destination.to_string(),
            acs_url: acs_url.to_string(),
            sp_entity_id: sp_entity_id.to_string(),
            name_id_format: NAMEID_UNSPECIFIED.to_string(),
        }
    }

    pub fn to_xml(&self) -> String {
        format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{SAMLP}\" xmlns:saml=\"{SAML}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" \
             Destination=\"{}\" AssertionConsumerServiceURL=\"{}\" ProtocolBinding=\"{BINDING_POST}\">\
             <saml:Issuer>{}</saml:Issuer><samlp:NameIDPolicy Format=\"{}\" AllowCreate=\"true\"/></samlp:AuthnRequest>",
            escape_attribute(&self.id),
            instant::format(self.issue_instant),
            escape_attribute(&self.destination),
            escape_attribute(&self.acs_url),
            escape_text(&self.sp_entity_id),
            escape_attribute(&self.name_id_format),
        )
    }

    /// The URL the browser is redirected to. With `signing_key`, the query carries
    /// `SigAlg` (RSA-SHA256) and `Signature` over `SAMLRequest=…&RelayState=…&SigAlg=…` as encoded.
    pub fn redirect_url(&self, relay_state: Option<&str>, signing_key: Option<&RsaKey>) -> String {
        let mut deflated = Vec::new();
        DeflateEncoder::new(self.to_xml().as_bytes(), Compression::default())
            .read_to_end(&mut deflated)
            .expect("deflate into memory");
        let mut query = format!("SAMLRequest={}", encode(&STANDARD.encode(deflated)));
        if let Some(state) = relay_state {
            query.push_str(&format!("&RelayState={}", encode(state)));
        }
        if let Some(key) = signing_key {
            query.push_str(&format!("&SigAlg={}", encode(RSA_SHA256)));
            let signature = key.sign(query.as_bytes());
            query.push_str(&format!("&Signature={}", encode(&STANDARD.encode(signature))));
        }
        let separator = if self.destination.contains('?') { '&' } else { '?' };
        format!("{}{separator}{query}", self.destination)
    }
}

/// An AuthnRequest as an IdP receives it over HTTP-Redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAuthnRequest {
    pub id: String,
    pub issuer: String,
    pub acs_url: Option<String>,
    pub destination: Option<String>,
    pub issue_instant: i64,
    pub relay_state: Option<String>,
    /// Whether a signature was present and verified with the SP's certificate.
    pub signed: bool,
}

impl ReceivedAuthnRequest {
    /// Reads the query string of a redirect. With `sp_certificate`, a present signature must
    /// verify with it; `require_signature` refuses an unsigned request.
    pub fn from_redirect(
        query: &str,
        sp_certificate: Option<&Certificate>,
        require_signature: bool,
    ) -> Result<Self, Error> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let raw =
            |name: &str| query.split('&').find_map(|pair| pair.strip_prefix(name).and_then(|v| v.strip_prefix('=')));
        let decoded = |value: &str| {
            percent_decode_str(value)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| error("query value is not UTF-8"))
        };
        let request = raw("SAMLRequest").ok_or_else(|| error("no SAMLRequest in the query"))?;
        let relay_state = raw("RelayState").map(|v| decoded(&v.replace('+', " "))).transpose()?;

        let signed = match (raw("Signature"), raw("SigAlg")) {
            (Some(signature), Some(sig_alg)) => {
                let certificate =
                    sp_certificate.ok_or_else(|| error("a signed request but no SP certificate to check it"))?;
                if decoded(sig_alg)? != RSA_SHA256 || certificate.kind() != KeyKind::Rsa {
                    return Err(error(format!("SigAlg {} is not accepted (RSA-SHA256 is)", clip(&decoded(sig_alg)?))));
                }
                // The signed octets are the parameters as sent, in the binding's order.
                let mut octets = format!("SAMLRequest={request}");
                if let Some(state) = raw("RelayState") {
                    octets.push_str(&format!("&RelayState={state}"));
                }
                octets.push_str(&format!("&SigAlg={sig_alg}"));
                let signature = decode_base64(&decoded(signature)?).ok_or_else(|| error("Signature is not base64"))?;
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, certificate.public_key())
                    .verify(octets.as_bytes(), &signature)
                    .map_err(|_| error("the AuthnRequest signature does not verify with the SP certificate"))?;
                true
            }
            (None, None) if require_signature => return Err(error("the AuthnRequest is not signed")),
            (None, None) => false,
            _ => return Err(error("Signature and SigAlg come together")),
        };

        let deflated = decode_base64(&decoded(request)?).ok_or_else(|| error("SAMLRequest is not base64"))?;
        let mut inflated = Vec::new();
        DeflateDecoder::new(deflated.as_slice())
            .take(MAX_REQUEST as u64 + 1)
            .read_to_end(&mut inflated)
            .map_err(|_| error("SAMLRequest is not DEFLATE data"))?;
        if inflated.len() > MAX_REQUEST {
            return Err(error("the AuthnRequest is over the size bound"));
        }
        let text = String::from_utf8(inflated).map_err(|_| error("the AuthnRequest is not UTF-8"))?;
        let doc = xml::parse(&text).map_err(|r| error(r.detail))?;
        let root = doc.root_element();
        if !xml::is(root, SAMLP, "AuthnRequest") {
            return Err(error("SAMLRequest is not a samlp:AuthnRequest"));
        }
        let issuer =
            xml::child(root, SAML, "Issuer").map(xml::text).ok_or_else(|| error("the AuthnRequest has no Issuer"))?;
        Ok(Self {
            id: root.attribute("ID").ok_or_else(|| error("the AuthnRequest has no ID"))?.to_string(),
            issuer: issuer.trim().to_string(),
            acs_url: root.attribute("AssertionConsumerServiceURL").map(str::to_string),
            destination: root.attribute("Destination").map(str::to_string),
            issue_instant: instant::parse(root.attribute("IssueInstant").unwrap_or(""), "IssueInstant")
                .map_err(|r| error(r.detail))?,
            relay_state,
            signed,
        })
    }
}
