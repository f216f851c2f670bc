//! Responses the ACS accepts: the assertion signed, the response signed only, both; encrypted
//! assertions; the values read (NameID, attributes, session, InResponseTo, the verifying
//! certificate, the signed elements) and the replay expiry.

mod support;

use support::*;
use tokenbridge_saml::{DataEncryption, RsaKey, SignedElement, SignedKind, Signing, DEFAULT_SKEW};

#[test]
fn assertion_signed() {
    let accepted = verify(&response(&SIGNER, &spec())).expect("accepted");
    assert_eq!(accepted.name_id, "alice@example.com");
    assert_eq!(accepted.name_id_format.as_deref(), Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"));
    assert_eq!(accepted.issuer, IDP);
    assert_eq!(accepted.assertion_id, "_a");
    assert_eq!(accepted.response_id, "_r");
    assert_eq!(accepted.in_response_to.as_deref(), Some(PENDING));
    assert_eq!(accepted.attributes["groups"], ["admins", "users"]);
    assert_eq!(accepted.attributes["email"], ["alice@example.com"]);
    assert!(accepted.session_index.is_some());
    assert_eq!(accepted.certificate_fingerprint, SIGNER.certificate().fingerprint());
    assert_eq!(accepted.signed, [SignedElement { kind: SignedKind::Assertion, id: "_a".into() }]);
    assert_eq!(accepted.expires_at, NOW + 300 + DEFAULT_SKEW);
    assert!(!accepted.encrypted);
}

#[test]
fn response_signed_only() {
    let mut spec = spec();
    spec.signing = Signing { assertion: false, response: true };
    let accepted = verify(&response(&SIGNER, &spec)).expect("accepted");
    assert_eq!(accepted.signed, [SignedElement { kind: SignedKind::Response, id: "_r".into() }]);
    assert_eq!(accepted.name_id, "alice@example.com");
}

#[test]
fn response_and_assertion_signed() {
    let mut spec = spec();
    spec.signing = Signing { assertion: true, response: true };
    let accepted = verify(&response(&SIGNER, &spec)).expect("accepted");
    assert_eq!(
        accepted.signed,
        [
            SignedElement { kind: SignedKind::Response, id: "_r".into() },
            SignedElement { kind: SignedKind::Assertion, id: "_a".into() }
        ]
    );
}

#[test]
fn encrypted_assertion_decrypts_with_each_content_algorithm() {
    let sp_key = RsaKey::generate().expect("SP key");
    let sp_certificate = sp_key.self_signed_certificate("SP", NOW - 60, 365).expect("SP certificate");
    for content in
        [DataEncryption::Aes128Gcm, DataEncryption::Aes256Gcm, DataEncryption::Aes128Cbc, DataEncryption::Aes256Cbc]
    {
        for signing in [Signing { assertion: true, response: false }, Signing { assertion: false, response: true }] {
            let mut spec = spec();
            spec.signing = signing;
            spec.encrypt_to = Some((sp_certificate.clone(), content));
            let xml = response(&SIGNER, &spec);
            assert!(xml.contains("EncryptedAssertion") && !xml.contains("alice@example.com"));
            let mut expect = expect();
            expect.decryption_key = Some(&sp_key);
            let accepted = verify_with(&xml, &expect).unwrap_or_else(|r| panic!("{content:?} {signing:?}: {r}"));
            assert!(accepted.encrypted);
            assert_eq!(accepted.name_id, "alice@example.com");
            assert_eq!(accepted.attributes["groups"], ["admins", "users"]);
        }
    }
}

#[test]
fn line_broken_base64_and_whitespace_in_values_are_read() {
    let xml = signed_after_edit(&spec(), |a| {
        a.replace("<saml:Audience>", "<saml:Audience>\n  ").replace("</saml:Audience>", "\n</saml:Audience>")
    });
    let wrapped: String =
        b64(&xml).as_bytes().chunks(76).map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap())).collect();
    let accepted = tokenbridge_saml::verify_response(&wrapped, &expect()).expect("accepted");
    assert_eq!(accepted.name_id, "alice@example.com");
}
