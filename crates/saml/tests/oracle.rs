//! Against outside implementations (tests/fixtures/saml_vectors.py): libxml2's exclusive C14N
//! byte for byte, responses signed by signxml (RSA-SHA256 and ECDSA P-256, on the assertion, the
//! response or both) accepted, RSA-SHA1 and inclusive C14N made with lxml + cryptography refused
//! (SHA-1 accepted when allowed), and assertions encrypted by cryptography (AES-GCM, AES-CBC with
//! XML Encryption's random padding, RSA-OAEP with SHA-1 and SHA-256) decrypted.

use std::sync::LazyLock;

use serde::Deserialize;
use tokenbridge_saml::{exclusive_c14n, verify_response, Certificate, Check, Expectations, IdpMetadata, RsaKey};

#[derive(Deserialize)]
struct Vectors {
    now: i64,
    idp_entity_id: String,
    sp_entity_id: String,
    acs_url: String,
    in_response_to: String,
    idp_certificate: String,
    idp_ec_certificate: String,
    sp_private_key_pkcs8: String,
    responses: Vec<ResponseCase>,
    c14n: Vec<C14nCase>,
}

#[derive(Deserialize)]
struct ResponseCase {
    name: String,
    response: String,
    expect: String,
    #[serde(default)]
    accepted_with_sha1: bool,
    #[serde(default)]
    certificate: Option<String>,
    #[serde(default)]
    name_id: Option<String>,
}

#[derive(Deserialize)]
struct C14nCase {
    name: String,
    document: String,
    id: String,
    prefixes: Vec<String>,
    canonical: String,
}

static VECTORS: LazyLock<Vectors> =
    LazyLock::new(|| serde_json::from_str(include_str!("fixtures/saml_vectors.json")).expect("saml_vectors.json"));

fn idp(certificate_pem: &str) -> IdpMetadata {
    IdpMetadata {
        entity_id: VECTORS.idp_entity_id.clone(),
        signing_certificates: vec![Certificate::from_pem(certificate_pem).expect("vector certificate")],
        single_sign_on: Vec::new(),
        single_logout: Vec::new(),
        want_authn_requests_signed: false,
    }
}

#[test]
fn exclusive_c14n_matches_libxml2() {
    for case in &VECTORS.c14n {
        let doc = roxmltree::Document::parse(&case.document).expect("case document");
        let element = doc.descendants().find(|n| n.attribute("ID") == Some(case.id.as_str())).expect("case element");
        let prefixes: Vec<&str> = case.prefixes.iter().map(String::as_str).collect();
        assert_eq!(exclusive_c14n(element, &prefixes), case.canonical, "c14n case {}", case.name);
    }
}

#[test]
fn responses_signed_and_encrypted_elsewhere() {
    let v = &*VECTORS;
    let sp_key = RsaKey::from_pkcs8(v.sp_private_key_pkcs8.as_bytes()).expect("SP key");
    let rsa_idp = idp(&v.idp_certificate);
    let ec_idp = idp(&v.idp_ec_certificate);
    for case in &v.responses {
        let metadata = if case.certificate.as_deref() == Some("ec") { &ec_idp } else { &rsa_idp };
        let mut expect = Expectations::new(metadata, &v.sp_entity_id, &v.acs_url, v.now);
        expect.in_response_to = Some(&v.in_response_to);
        expect.decryption_key = Some(&sp_key);
        let outcome = verify_response(&case.response, &expect);
        match case.expect.as_str() {
            "accepted" => {
                let assertion = outcome.unwrap_or_else(|r| panic!("{}: refused: {r}", case.name));
                assert_eq!(assertion.name_id, case.name_id.as_deref().unwrap_or("alice@example.com"), "{}", case.name);
                assert_eq!(assertion.attributes["groups"], ["admins", "users"], "{}", case.name);
                assert_eq!(assertion.in_response_to.as_deref(), Some("_req1"));
                assert_eq!(assertion.session_index.as_deref(), Some("_session1"));
                assert_eq!(assertion.certificate_fingerprint, metadata.signing_certificates[0].fingerprint());
                assert_eq!(assertion.encrypted, case.name.starts_with("encrypted"), "{}", case.name);
            }
            "signature_profile" => {
                let rejection = outcome.expect_err(&case.name);
                assert_eq!(rejection.check, Check::SignatureProfile, "{}: {rejection}", case.name);
                if case.accepted_with_sha1 {
                    assert!(rejection.detail.contains("SHA-1"), "{}: {rejection}", case.name);
                    expect.allow_sha1 = true;
                    verify_response(&case.response, &expect)
                        .unwrap_or_else(|r| panic!("{} with SHA-1 allowed: {r}", case.name));
                }
            }
            other => panic!("unknown expectation {other}"),
        }
    }
}

#[test]
fn encrypted_vectors_need_the_right_key() {
    let v = &*VECTORS;
    let metadata = idp(&v.idp_certificate);
    let other_key = RsaKey::generate().expect("key");
    for case in v.responses.iter().filter(|c| c.name.starts_with("encrypted")) {
        let mut expect = Expectations::new(&metadata, &v.sp_entity_id, &v.acs_url, v.now);
        expect.in_response_to = Some(&v.in_response_to);
        let without = verify_response(&case.response, &expect).expect_err("no key");
        assert_eq!(without.check, Check::Decryption, "{}", case.name);
        expect.decryption_key = Some(&other_key);
        let wrong = verify_response(&case.response, &expect).expect_err("wrong key");
        assert_eq!(wrong.check, Check::Decryption, "{}", case.name);
        assert_eq!(wrong.detail, "the encrypted assertion does not decrypt with the SP's key");
    }
}
