//! The IdP side, for the demo's Salesforce-like IdP and for tests: signed Responses (the
//! assertion signed, the response too if asked; RSA-SHA256), optionally encrypted to the SP, and metadata.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::authn_request::new_id;
use crate::cert::{Certificate, RsaKey};
use crate::dsig::sign_enveloped;
use crate::encrypted::{encrypt, DataEncryption};
use crate::metadata::idp_metadata_xml;
use crate::names::*;
use crate::xml::{escape_attribute, escape_text};
use crate::{instant, Error};

/// What gets signed (RSA-SHA256, exclusive C14N, an enveloped signature after the Issuer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signing {
    pub assertion: bool,
    pub response: bool,
}

/// One Response with one assertion, field by field.
#[derive(Debug, Clone)]
pub struct AssertionSpec {
    pub response_id: String,
    pub assertion_id: String,
    pub name_id: String,
    pub name_id_format: String,
    /// Attribute name → values, in order.
    pub attributes: Vec<(String, Vec<String>)>,
    pub in_response_to: Option<String>,
    /// The SP entity id.
    pub audience: String,
    /// The bearer confirmation's Recipient (the ACS URL).
    pub recipient: String,
    /// The Response Destination (the ACS URL).
    pub destination: String,
    pub issue_instant: i64,
    pub not_before: i64,
    pub not_on_or_after: i64,
    pub session_index: Option<String>,
    pub status: String,
    pub signing: Signing,
    /// Encrypt the (signed) assertion to this SP certificate.
    pub encrypt_to: Option<(Certificate, DataEncryption)>,
}

impl AssertionSpec {
    /// An assertion for `name_id` to the SP `audience` at `acs_url`, issued `now`, valid five
    /// minutes, signed (assertion only, RSA-SHA256), IdP-initiated (no InResponseTo).
    pub fn new(name_id: &str, audience: &str, acs_url: &str, now: i64) -> Self {
        Self {
            response_id: new_id(),
            assertion_id: new_id(),
            name_id: name_id.to_string(),
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".to_string(),
            attributes: Vec::new(),
            in_response_to: None,
            audience: audience.to_string(),
            recipient: acs_url.to_string(),
            destination: acs_url.to_string(),
            issue_instant: now,
            not_before: now - 5,
            not_on_or_after: now + 300,
            session_index: Some(new_id()),
            status: STATUS_SUCCESS.to_string(),
            signing: Signing { assertion: true, response: false },
            encrypt_to: None,
        }
    }

    pub fn attribute(mut self, name: &str, values: &[&str]) -> Self {
        self.attributes.push((name.to_string(), values.iter().map(|v| v.to_string()).collect()));
        self
    }
}

/// A SAML IdP: its entity id, signing key and certificate.
#[derive(Debug, Clone)]
pub struct IdpSigner {
    entity_id: String,
    key: RsaKey,
    certificate: Certificate,
}

impl IdpSigner {
    /// A fresh RSA-2048 key and a self-signed certificate valid ten years from `now`.
    pub fn generate(entity_id: &str, now: i64) -> Result<Self, Error> {
        let key = RsaKey::generate()?;
        let certificate = key.self_signed_certificate("tokenbridge demo SAML IdP", now - 86_400, 3650)?;
        Ok(Self::new(entity_id, key, certificate))
    }

    pub fn new(entity_id: &str, key: RsaKey, certificate: Certificate) -> Self {
        Self { entity_id: entity_id.to_string(), key, certificate }
    }

    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    pub fn key(&self) -> &RsaKey {
        &self.key
    }

    /// This IdP's metadata: its certificate, SSO at `sso_url` (Redirect and POST), SLO if given.
    pub fn metadata_xml(&self, sso_url: &str, slo_url: Option<&str>) -> String {
        idp_metadata_xml(&self.entity_id, &[&self.certificate], sso_url, slo_url, false)
    }

    /// The unsigned assertion of `spec`.
    pub fn assertion_xml(&self, spec: &AssertionSpec) -> String {
        let in_response_to = spec
            .in_response_to
            .as_ref()
            .map_or(String::new(), |r| format!(" InResponseTo=\"{}\"", escape_attribute(r)));
        let attributes: String = spec
            .attributes
            .iter()
            .map(|(name, values)| {
                let values: String = values
                    .iter()
                    .map(|v| {
                        format!("<saml:AttributeValue xsi:type=\"xs:string\">{}</saml:AttributeValue>", escape_text(v))
                    })
                    .collect();
                format!(
                    "<saml:Attribute Name=\"{}\" NameFormat=\"{ATTRNAME_BASIC}\">{values}</saml:Attribute>",
                    escape_attribute(name)
                )
            })
            .collect();
        let attribute_statement = if attributes.is_empty() {
            String::new()
        } else {
            format!("<saml:AttributeStatement>{attributes}</saml:AttributeStatement>")
        };
        let session_index =
            spec.session_index.as_ref().map_or(String::new(), |s| format!(" SessionIndex=\"{}\"", escape_attribute(s)));
        format!(
            "<saml:Assertion xmlns:saml=\"{SAML}\" xmlns:xs=\"{XS}\" xmlns:xsi=\"{XSI}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\">\
             <saml:Issuer>{}</saml:Issuer>\
             <saml:Subject><saml:NameID Format=\"{}\">{}</saml:NameID>\
             <saml:SubjectConfirmation Method=\"{CM_BEARER}\"><saml:SubjectConfirmationData{in_response_to} NotOnOrAfter=\"{}\" Recipient=\"{}\"/>\
             </saml:SubjectConfirmation></saml:Subject>\
             <saml:Conditions NotBefore=\"{}\" NotOnOrAfter=\"{}\"><saml:AudienceRestriction><saml:Audience>{}</saml:Audience>\
             </saml:AudienceRestriction></saml:Conditions>\
             <saml:AuthnStatement AuthnInstant=\"{}\"{session_index}><saml:AuthnContext><saml:AuthnContextClassRef>\
             urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>\
             </saml:AuthnStatement>{attribute_statement}</saml:Assertion>",
            escape_attribute(&spec.assertion_id),
            instant::format(spec.issue_instant),
            escape_text(&self.entity_id),
            escape_attribute(&spec.name_id_format),
            escape_text(&spec.name_id),
            instant::format(spec.not_on_or_after),
            escape_attribute(&spec.recipient),
            instant::format(spec.not_before),
            instant::format(spec.not_on_or_after),
            escape_text(&spec.audience),
            instant::format(spec.issue_instant),
        )
    }

    /// Signs the element with `id` in `xml` (it must have a `saml:Issuer` child).
    pub fn sign_element(&self, xml: &str, id: &str) -> String {
        sign_enveloped(xml, id, &self.key, &self.certificate)
    }

    /// The Response of `spec` around `assertion` (already signed or encrypted as wanted).
    pub fn response_around(&self, spec: &AssertionSpec, assertion: &str) -> String {
        let in_response_to = spec
            .in_response_to
            .as_ref()
            .map_or(String::new(), |r| format!(" InResponseTo=\"{}\"", escape_attribute(r)));
        let response = format!(
            "<samlp:Response xmlns:samlp=\"{SAMLP}\" xmlns:saml=\"{SAML}\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" \
             Destination=\"{}\"{in_response_to}><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"{}\"/>\
             </samlp:Status>{assertion}</samlp:Response>",
            escape_attribute(&spec.response_id),
            instant::format(spec.issue_instant),
            escape_attribute(&spec.destination),
            escape_text(&self.entity_id),
            escape_attribute(&spec.status),
        );
        if spec.signing.response {
            self.sign_element(&response, &spec.response_id)
        } else {
            response
        }
    }

    /// The Response XML of `spec`: the assertion signed and/or encrypted, the response signed if asked.
    pub fn response_xml(&self, spec: &AssertionSpec) -> Result<String, Error> {
        let mut assertion = self.assertion_xml(spec);
        if spec.signing.assertion {
            assertion = self.sign_element(&assertion, &spec.assertion_id);
        }
        if let Some((recipient, content)) = &spec.encrypt_to {
            assertion = encrypt(&assertion, recipient, *content)?;
        }
        Ok(self.response_around(spec, &assertion))
    }

    /// The `SAMLResponse` form value (base64) of `spec`, for the HTTP-POST binding.
    pub fn response_base64(&self, spec: &AssertionSpec) -> Result<String, Error> {
        Ok(STANDARD.encode(self.response_xml(spec)?))
    }
}
