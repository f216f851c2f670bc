//! XML signature wrapping (XSW): a genuinely signed element kept somewhere in the document so its
//! signature verifies, while an attacker's element is the one read. Each variant of Somorovsky et
//! al. ("On Breaking SAML", 2012) and its kin is refused, and by the rule that names it.

mod support;

use support::*;
use tokenbridge_saml::{Check, Signing};

/// A signed response (assertion signed) and an unsigned evil assertion `_evil` for mallory.
fn parts() -> (String, String, String) {
    let xml = response(&SIGNER, &spec());
    let signed_assertion = element_text(&xml, "Assertion", "_a");
    let mut evil = spec();
    evil.assertion_id = "_evil".into();
    evil.name_id = "mallory@example.com".into();
    (xml, signed_assertion, SIGNER.assertion_xml(&evil))
}

#[test]
fn signed_assertion_moved_into_extensions_with_the_evil_one_used() {
    let (xml, signed, evil) = parts();
    let wrapped = replace_once(&xml, &signed, &format!("<samlp:Extensions>{signed}</samlp:Extensions>{evil}"));
    let r = refused(verify(&wrapped), Check::AssertionCount);
    assert_eq!(r.detail, "exactly one assertion is accepted; found 2 (#_a in Extensions, #_evil in Response)");
}

#[test]
fn signed_assertion_moved_into_the_signatures_object() {
    // The evil assertion carries the copied signature, whose ds:Object hides the signed original.
    let (xml, signed, evil) = parts();
    let signature = signature_of(&xml, "_a");
    let with_object = signature.replace("</ds:Signature>", &format!("<ds:Object>{signed}</ds:Object></ds:Signature>"));
    let evil = evil.replacen("</saml:Issuer>", &format!("</saml:Issuer>{with_object}"), 1);
    let wrapped = replace_once(&xml, &signed, &evil);
    let r = refused(verify(&wrapped), Check::AssertionCount);
    assert_eq!(r.detail, "exactly one assertion is accepted; found 2 (#_evil in Response, #_a in Object)");
}

#[test]
fn a_copied_signature_whose_reference_names_another_element() {
    // The signature of `_a` pasted into the evil assertion, the original left out.
    let (xml, signed, evil) = parts();
    let evil = evil.replacen("</saml:Issuer>", &format!("</saml:Issuer>{}", signature_of(&xml, "_a")), 1);
    let r = refused(verify(&replace_once(&xml, &signed, &evil)), Check::SignedElement);
    assert_eq!(r.detail, "signature covers #_a, assertion used is #_evil");
}

#[test]
fn a_response_signature_whose_reference_names_the_assertion() {
    let mut spec = spec();
    spec.signing = Signing { assertion: false, response: true };
    let xml = replace_once(&response(&SIGNER, &spec), "URI=\"#_r\"", "URI=\"#_a\"");
    let r = refused(verify(&xml), Check::SignedElement);
    assert_eq!(r.detail, "signature covers #_a, response used is #_r");
    // Any other spelling of a reference is not this profile's either.
    for uri in ["", "#xpointer(id('_r'))", "#_r ", "http://idp.example.com/doc#_r"] {
        let xml = replace_once(&response(&SIGNER, &spec), "URI=\"#_r\"", &format!("URI=\"{uri}\""));
        refused(verify(&xml), Check::SignedElement);
    }
}

#[test]
fn duplicate_ids_are_refused() {
    // The evil assertion takes the signed one's ID, so `#_a` could name either.
    let (xml, signed, evil) = parts();
    let evil = evil.replace("ID=\"_evil\"", "ID=\"_a\"");
    let wrapped = replace_once(&xml, &signed, &format!("<samlp:Extensions>{signed}</samlp:Extensions>{evil}"));
    let r = refused(verify(&wrapped), Check::DuplicateId);
    assert_eq!(r.detail, "ID _a is on two elements (Assertion and Assertion)");
    // The Response and an assertion sharing an ID.
    let shared = replace_once(&response(&SIGNER, &spec()), "ID=\"_r\"", "ID=\"_a\"");
    refused(verify(&shared), Check::DuplicateId);
}

#[test]
fn a_signed_response_with_an_injected_extra_assertion() {
    let mut spec = spec();
    spec.signing = Signing { assertion: false, response: true };
    let (_, _, evil) = parts();
    let xml = replace_once(&response(&SIGNER, &spec), "</samlp:Response>", &format!("{evil}</samlp:Response>"));
    let r = refused(verify(&xml), Check::AssertionCount);
    assert!(r.detail.starts_with("exactly one assertion is accepted; found 2"), "{r}");
}

#[test]
fn an_evil_assertion_wrapping_the_signed_one() {
    let (xml, signed, evil) = parts();
    for place in ["</saml:Subject>", "</saml:Conditions>"] {
        let wrapping = evil.replacen(place, &format!("{signed}{place}"), 1);
        let r = refused(verify(&replace_once(&xml, &signed, &wrapping)), Check::AssertionCount);
        assert!(r.detail.contains("#_evil in Response") && r.detail.contains("#_a in"), "{r}");
    }
    // The signed assertion wrapping the evil one (its digest no longer matches anyway).
    let wrapped = signed.replacen("</saml:Subject>", &format!("{evil}</saml:Subject>"), 1);
    refused(verify(&replace_once(&xml, &signed, &wrapped)), Check::AssertionCount);
}

#[test]
fn an_unsigned_assertion_beside_a_signature_that_covers_something_else() {
    // A genuine signature over an Extensions element, moved into the Response: it verifies,
    // but it is not the Response's.
    let mut spec = spec();
    spec.signing = Signing { assertion: false, response: false };
    let unsigned = response(&SIGNER, &spec);
    let extensions = format!(
        "<samlp:Extensions xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_ext\"><saml:Issuer>{IDP}</saml:Issuer></samlp:Extensions>"
    );
    let signed_extensions = SIGNER.sign_element(&extensions, "_ext");
    let signature = signature_of(&signed_extensions, "_ext");
    let xml =
        replace_once(&unsigned, "</saml:Issuer><samlp:Status>", &format!("</saml:Issuer>{signature}<samlp:Status>"));
    let xml = replace_once(
        &xml,
        "</samlp:Status>",
        &format!("</samlp:Status>{}", element_text(&signed_extensions, "Extensions", "_ext").replace(&signature, "")),
    );
    let r = refused(verify(&xml), Check::SignedElement);
    assert_eq!(r.detail, "signature covers #_ext, response used is #_r");
    // Left inside the Extensions it signs, it is a signature out of place.
    let xml = replace_once(&unsigned, "</samlp:Status>", &format!("</samlp:Status>{signed_extensions}"));
    let r = refused(verify(&xml), Check::SignatureProfile);
    assert_eq!(r.detail, "a signature inside Extensions is not accepted");
}

#[test]
fn a_second_signature_in_the_assertion_is_refused() {
    let (xml, _, _) = parts();
    let signature = signature_of(&xml, "_a");
    let doubled = xml.replacen(&signature, &format!("{signature}{signature}"), 1);
    let r = refused(verify(&doubled), Check::SignatureProfile);
    assert_eq!(r.detail, "the assertion carries more than one signature");
}

#[test]
fn a_signature_object_without_an_assertion_is_refused() {
    let (xml, _, _) = parts();
    let xml =
        replace_once(&xml, "</ds:KeyInfo></ds:Signature>", "</ds:KeyInfo><ds:Object><x/></ds:Object></ds:Signature>");
    refused(verify(&xml), Check::SignatureProfile);
}
