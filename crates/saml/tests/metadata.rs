//! Metadata (the IdP's read, the SP's written) and SP-initiated sign-in over HTTP-Redirect.

mod support;

use support::*;
use tokenbridge_saml::{sp_entity_id, AuthnRequest, IdpMetadata, ReceivedAuthnRequest, RsaKey, SpMetadata};

#[test]
fn idp_metadata_is_read() {
    let metadata =
        IdpMetadata::parse(&SIGNER.metadata_xml(SSO, Some("https://idp.example.com/saml/slo"))).expect("metadata");
    assert_eq!(metadata.entity_id, IDP);
    assert_eq!(metadata.signing_certificates, [SIGNER.certificate().clone()]);
    assert_eq!(metadata.sso_redirect(), Some(SSO));
    assert_eq!(metadata.sso_post(), Some(SSO));
    assert_eq!(metadata.slo_redirect(), Some("https://idp.example.com/saml/slo"));
    assert!(!metadata.want_authn_requests_signed);
}

#[test]
fn an_entities_descriptor_with_one_idp_is_read_and_with_two_refused() {
    let one = SIGNER.metadata_xml(SSO, None).replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "");
    let sp_only = "<md:EntityDescriptor entityID=\"urn:sp\"><md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\"/></md:EntityDescriptor>";
    let wrap = |inner: &str| {
        format!(
            "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">{inner}</md:EntitiesDescriptor>"
        )
    };
    let metadata = IdpMetadata::parse(&wrap(&format!("{sp_only}{one}"))).expect("one IdP");
    assert_eq!(metadata.entity_id, IDP);
    let second = one.replace(IDP, "https://other.example.com");
    let error = IdpMetadata::parse(&wrap(&format!("{one}{second}"))).expect_err("two IdPs");
    assert!(error.0.contains("describes 2 IdPs"), "{error}");
}

#[test]
fn idp_metadata_errors_are_clear() {
    let good = SIGNER.metadata_xml(SSO, None);
    let cases = [
        (good.replace("use=\"signing\"", "use=\"encryption\""), "no signing certificate"),
        (good.replace("md:SingleSignOnService", "md:ArtifactResolutionService"), "no SingleSignOnService"),
        (good.replace("WantAuthnRequestsSigned=\"false\"", "WantAuthnRequestsSigned=\"maybe\""), "is not a boolean"),
        (
            good.replace("urn:oasis:names:tc:SAML:2.0:protocol", "urn:oasis:names:tc:SAML:1.1:protocol"),
            "no IDPSSODescriptor for SAML 2.0",
        ),
        (good.replace(&format!(" entityID=\"{IDP}\""), ""), "no entityID"),
        (good.replacen("<ds:X509Certificate>", "<ds:X509Certificate>AAAA", 1), "signing certificate is unreadable"),
        ("<html/>".to_string(), "not md:EntityDescriptor"),
        ("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>".to_string(), "no DTD or entity is read"),
    ];
    for (xml, expected) in cases {
        let error = IdpMetadata::parse(&xml).expect_err(expected);
        assert!(error.0.contains(expected), "{error} (expected {expected})");
    }
    let signed = good.replace("WantAuthnRequestsSigned=\"false\"", "WantAuthnRequestsSigned=\"true\"");
    assert!(IdpMetadata::parse(&signed).unwrap().want_authn_requests_signed);
}

#[test]
fn sp_metadata_names_the_pool_and_its_certificates() {
    assert_eq!(sp_entity_id("us-east-1_AbCdEf123"), SP);
    let key = RsaKey::generate().unwrap();
    let certificate = key.self_signed_certificate("SP", NOW, 365).unwrap();
    let xml = SpMetadata {
        entity_id: SP.into(),
        acs_url: ACS.into(),
        signing_certificate: Some(certificate.clone()),
        encryption_certificate: Some(certificate.clone()),
        want_assertions_signed: true,
    }
    .to_xml();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed");
    let root = doc.root_element();
    assert_eq!(root.attribute("entityID"), Some(SP));
    let sp = root.first_element_child().unwrap();
    assert_eq!(sp.attribute("AuthnRequestsSigned"), Some("true"));
    assert_eq!(sp.attribute("WantAssertionsSigned"), Some("true"));
    let acs = doc.descendants().find(|n| n.has_tag_name("AssertionConsumerService")).unwrap();
    assert_eq!(acs.attribute("Location"), Some(ACS));
    assert_eq!(acs.attribute("Binding"), Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"));
    let uses: Vec<_> =
        doc.descendants().filter(|n| n.has_tag_name("KeyDescriptor")).map(|n| n.attribute("use").unwrap()).collect();
    assert_eq!(uses, ["signing", "encryption"]);
    assert_eq!(xml.matches(&certificate.base64()).count(), 2);
    let plain = SpMetadata {
        entity_id: SP.into(),
        acs_url: ACS.into(),
        signing_certificate: None,
        encryption_certificate: None,
        want_assertions_signed: false,
    }
    .to_xml();
    assert!(plain.contains("AuthnRequestsSigned=\"false\"") && !plain.contains("KeyDescriptor"));
}

#[test]
fn an_unsigned_authn_request_goes_over_http_redirect() {
    let request = AuthnRequest::new(SP, ACS, SSO, NOW);
    assert!(request.id.starts_with('_') && request.id.len() == 41);
    let url = request.redirect_url(Some("state with spaces & symbols"), None);
    let query = url.strip_prefix(&format!("{SSO}?")).expect("destination");
    assert!(query.starts_with("SAMLRequest=") && !query.contains("Signature"));
    let received = ReceivedAuthnRequest::from_redirect(query, None, false).expect("received");
    assert_eq!(received.id, request.id);
    assert_eq!(received.issuer, SP);
    assert_eq!(received.acs_url.as_deref(), Some(ACS));
    assert_eq!(received.destination.as_deref(), Some(SSO));
    assert_eq!(received.issue_instant, NOW);
    assert_eq!(received.relay_state.as_deref(), Some("state with spaces & symbols"));
    assert!(!received.signed);
    let xml = request.to_xml();
    assert!(xml.contains("ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\""));
    assert!(xml.contains(
        "<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\" AllowCreate=\"true\"/>"
    ));
    let error = ReceivedAuthnRequest::from_redirect(query, None, true).expect_err("signature required");
    assert_eq!(error.0, "the AuthnRequest is not signed");
}

#[test]
fn a_signed_authn_request_signs_the_query_as_the_binding_defines() {
    let key = RsaKey::generate().unwrap();
    let certificate = key.self_signed_certificate("SP", NOW, 365).unwrap();
    let request = AuthnRequest::new(SP, ACS, &format!("{SSO}?tenant=1"), NOW);
    let url = request.redirect_url(Some("rs"), Some(&key));
    let query = url.strip_prefix(&format!("{SSO}?tenant=1&")).expect("destination with its own query");
    assert!(query
        .contains("&RelayState=rs&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature="));
    let received = ReceivedAuthnRequest::from_redirect(query, Some(&certificate), true).expect("verified");
    assert!(received.signed);
    assert_eq!(received.relay_state.as_deref(), Some("rs"));
    // The signature covers RelayState, and only the SP's key made it.
    let tampered = query.replace("RelayState=rs", "RelayState=evil");
    assert!(ReceivedAuthnRequest::from_redirect(&tampered, Some(&certificate), true).is_err());
    let other = RsaKey::generate().unwrap().self_signed_certificate("other", NOW, 1).unwrap();
    assert!(ReceivedAuthnRequest::from_redirect(query, Some(&other), true).is_err());
}

#[test]
fn keys_and_certificates_round_trip_through_pem() {
    let key = RsaKey::generate().unwrap();
    let again = RsaKey::from_pkcs8(key.pkcs8_pem().as_bytes()).expect("PEM");
    assert_eq!(again.pkcs8_der(), key.pkcs8_der());
    assert_eq!(RsaKey::from_pkcs8(key.pkcs8_der()).unwrap().pkcs8_der(), key.pkcs8_der());
    let certificate = key.self_signed_certificate("x", NOW, 365 * 40).unwrap();
    assert_eq!(tokenbridge_saml::Certificate::from_pem(&certificate.to_pem()).unwrap(), certificate);
    assert!(RsaKey::from_pkcs8(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
    assert!(tokenbridge_saml::Certificate::from_der(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
}
