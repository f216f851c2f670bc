//! SAML 2.0 metadata: the IdP's read (entity id, signing certificates, SSO and SLO endpoints,
//! WantAuthnRequestsSigned) and the SP's written, with Cognito's entity id
//! `urn:amazon:cognito:sp:<pool-id>`. Metadata is configuration the administrator supplies (or
//! a URL they chose): its certificates are the trust, so its own signature is not required here.

use roxmltree::Node;

use crate::cert::Certificate;
use crate::names::*;
use crate::xml::{self, children, escape_attribute, escape_text};
use crate::{clip, error, Error};

/// Metadata documents are small; a bound keeps a wrong URL from costing much.
const MAX_METADATA: usize = 1024 * 1024;

/// The SP entity id Cognito uses for a user pool.
pub fn sp_entity_id(pool_id: &str) -> String {
    format!("urn:amazon:cognito:sp:{pool_id}")
}

/// A service endpoint: binding URI and location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub binding: String,
    pub location: String,
}

/// What an IdP's metadata says that the SP needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// Certificates of KeyDescriptors with use="signing" or no use, in document order.
    pub signing_certificates: Vec<Certificate>,
    pub single_sign_on: Vec<Endpoint>,
    pub single_logout: Vec<Endpoint>,
    pub want_authn_requests_signed: bool,
}

impl IdpMetadata {
    /// Reads an `md:EntityDescriptor` (or an `md:EntitiesDescriptor` holding exactly one
    /// IdP) with an IDPSSODescriptor for SAML 2.0.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() > MAX_METADATA {
            return Err(error(format!("IdP metadata is {} bytes; the bound is {MAX_METADATA}", text.len())));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let doc = xml::parse(text).map_err(|r| error(format!("IdP metadata: {}", r.detail)))?;
        let root = doc.root_element();
        let entity = if xml::is(root, MD, "EntityDescriptor") {
            root
        } else if xml::is(root, MD, "EntitiesDescriptor") {
            let idps: Vec<Node> = root
                .descendants()
                .filter(|n| xml::is(*n, MD, "EntityDescriptor") && xml::child(*n, MD, "IDPSSODescriptor").is_some())
                .collect();
            match idps.as_slice() {
                [one] => *one,
                [] => return Err(error("IdP metadata: the EntitiesDescriptor holds no IdP")),
                many => {
                    let ids: Vec<String> = many.iter().map(|n| clip(n.attribute("entityID").unwrap_or(""))).collect();
                    return Err(error(format!(
                        "IdP metadata describes {} IdPs ({}); give one",
                        many.len(),
                        ids.join(", ")
                    )));
                }
            }
        } else {
            return Err(error(format!(
                "IdP metadata: the root is {}, not md:EntityDescriptor",
                clip(root.tag_name().name())
            )));
        };
        let entity_id = entity
            .attribute("entityID")
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| error("IdP metadata: EntityDescriptor has no entityID"))?
            .to_string();
        let idp = children(entity, MD, "IDPSSODescriptor")
            .find(|d| {
                d.attribute("protocolSupportEnumeration").unwrap_or("").split_ascii_whitespace().any(|p| p == PROTOCOL)
            })
            .ok_or_else(|| error(format!("IdP metadata: {} has no IDPSSODescriptor for SAML 2.0", clip(&entity_id))))?;

        let mut signing_certificates = Vec::new();
        for descriptor in children(idp, MD, "KeyDescriptor") {
            if descriptor.attribute("use").is_some_and(|u| u != "signing") {
                continue;
            }
            for node in descriptor.descendants().filter(|n| xml::is(*n, DS, "X509Certificate")) {
                let certificate = Certificate::from_base64(&xml::text(node))
                    .map_err(|e| error(format!("IdP metadata: a signing certificate is unreadable: {e}")))?;
                if !signing_certificates.contains(&certificate) {
                    signing_certificates.push(certificate);
                }
            }
        }
        if signing_certificates.is_empty() {
            return Err(error("IdP metadata: no signing certificate (KeyDescriptor use=\"signing\" or without use)"));
        }
        let endpoints = |local: &'static str| -> Result<Vec<Endpoint>, Error> {
            children(idp, MD, local)
                .map(|n| {
                    let binding = n
                        .attribute("Binding")
                        .ok_or_else(|| error(format!("IdP metadata: {local} without Binding")))?;
                    let location = n
                        .attribute("Location")
                        .ok_or_else(|| error(format!("IdP metadata: {local} without Location")))?;
                    Ok(Endpoint { binding: binding.to_string(), location: location.trim().to_string() })
                })
                .collect()
        };
        let single_sign_on = endpoints("SingleSignOnService")?;
        if single_sign_on.is_empty() {
            return Err(error("IdP metadata: no SingleSignOnService"));
        }
        let want_authn_requests_signed = match idp.attribute("WantAuthnRequestsSigned") {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(error(format!(
                    "IdP metadata: WantAuthnRequestsSigned=\"{}\" is not a boolean",
                    clip(other)
                )))
            }
        };
        Ok(Self {
            entity_id,
            signing_certificates,
            single_sign_on,
            single_logout: endpoints("SingleLogoutService")?,
            want_authn_requests_signed,
        })
    }

    /// The SingleSignOnService location for the HTTP-Redirect binding.
    pub fn sso_redirect(&self) -> Option<&str> {
        self.endpoint(&self.single_sign_on, BINDING_REDIRECT)
    }

    /// The SingleSignOnService location for the HTTP-POST binding.
    pub fn sso_post(&self) -> Option<&str> {
        self.endpoint(&self.single_sign_on, BINDING_POST)
    }

    /// The SingleLogoutService location for the HTTP-Redirect binding.
    pub fn slo_redirect(&self) -> Option<&str> {
        self.endpoint(&self.single_logout, BINDING_REDIRECT)
    }

    fn endpoint<'a>(&self, list: &'a [Endpoint], binding: &str) -> Option<&'a str> {
        list.iter().find(|e| e.binding == binding).map(|e| e.location.as_str())
    }
}

/// The SP's metadata: what an IdP administrator imports.
#[derive(Debug, Clone)]
pub struct SpMetadata {
    pub entity_id: String,
    pub acs_url: String,
    /// The certificate AuthnRequests are signed with (RequestSigningAlgorithm set).
    pub signing_certificate: Option<Certificate>,
    /// The certificate assertions are encrypted to (EncryptedResponses on).
    pub encryption_certificate: Option<Certificate>,
    pub want_assertions_signed: bool,
}

impl SpMetadata {
    pub fn to_xml(&self) -> String {
        let key = |cert: &Option<Certificate>, usage: &str, extra: &str| {
            cert.as_ref().map_or(String::new(), |c| {
                format!(
                    "<md:KeyDescriptor use=\"{usage}\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}\
                     </ds:X509Certificate></ds:X509Data></ds:KeyInfo>{extra}</md:KeyDescriptor>",
                    c.base64()
                )
            })
        };
        let encryption_methods = format!(
            "<md:EncryptionMethod Algorithm=\"{AES256_GCM}\"/><md:EncryptionMethod Algorithm=\"{AES128_GCM}\"/>\
             <md:EncryptionMethod Algorithm=\"{AES256_CBC}\"/><md:EncryptionMethod Algorithm=\"{AES128_CBC}\"/>\
             <md:EncryptionMethod Algorithm=\"{RSA_OAEP_MGF1P}\"/>"
        );
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<md:EntityDescriptor xmlns:md=\"{MD}\" xmlns:ds=\"{DS}\" entityID=\"{}\">\
             <md:SPSSODescriptor AuthnRequestsSigned=\"{}\" WantAssertionsSigned=\"{}\" protocolSupportEnumeration=\"{PROTOCOL}\">\
             {}{}<md:NameIDFormat>{NAMEID_UNSPECIFIED}</md:NameIDFormat>\
             <md:AssertionConsumerService Binding=\"{BINDING_POST}\" Location=\"{}\" index=\"1\" isDefault=\"true\"/>\
             </md:SPSSODescriptor></md:EntityDescriptor>\n",
            escape_attribute(&self.entity_id),
            self.signing_certificate.is_some(),
            self.want_assertions_signed,
            key(&self.signing_certificate, "signing", ""),
            key(&self.encryption_certificate, "encryption", &encryption_methods),
            escape_attribute(&self.acs_url),
        )
    }
}

/// IdP metadata for an IdP signing with `certificates` (the demo's IdP, and tests).
pub(crate) fn idp_metadata_xml(
    entity_id: &str,
    certificates: &[&Certificate],
    sso_url: &str,
    slo_url: Option<&str>,
    want_signed: bool,
) -> String {
    let keys: String = certificates
        .iter()
        .map(|c| {
            format!(
                "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}\
                 </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
                c.base64()
            )
        })
        .collect();
    let slo = slo_url.map_or(String::new(), |url| {
        format!("<md:SingleLogoutService Binding=\"{BINDING_REDIRECT}\" Location=\"{}\"/>", escape_attribute(url))
    });
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<md:EntityDescriptor xmlns:md=\"{MD}\" xmlns:ds=\"{DS}\" entityID=\"{}\">\
         <md:IDPSSODescriptor WantAuthnRequestsSigned=\"{want_signed}\" protocolSupportEnumeration=\"{PROTOCOL}\">{keys}{slo}\
         <md:NameIDFormat>{}</md:NameIDFormat>\
         <md:SingleSignOnService Binding=\"{BINDING_REDIRECT}\" Location=\"{}\"/>\
         <md:SingleSignOnService Binding=\"{BINDING_POST}\" Location=\"{}\"/>\
         </md:IDPSSODescriptor></md:EntityDescriptor>\n",
        escape_attribute(entity_id),
        escape_text("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
        escape_attribute(sso_url),
        escape_attribute(sso_url),
    )
}
