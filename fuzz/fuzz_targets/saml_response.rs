//! A `SAMLResponse` as the Assertion Consumer Service checks it (base64, or XML when the input
//! starts with `<`), against the SAML vectors' IdP, SP key and clock, with SHA-1 and IdP-initiated
//! sign-in off and then on; and the same bytes read as IdP metadata. An accepted response must
//! have been signed by a metadata certificate; a refusal's detail stays short.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokenbridge_fuzz::SAML_VECTORS;
use tokenbridge_saml::{verify_response, verify_response_xml, Certificate, Expectations, IdpMetadata, RsaKey};

struct Setting {
    idp: IdpMetadata,
    sp_key: RsaKey,
    now: i64,
    sp: String,
    acs: String,
}

static SETTING: LazyLock<Setting> = LazyLock::new(|| {
    let v: Value = serde_json::from_str(SAML_VECTORS).expect("saml_vectors.json");
    let text = |k: &str| v[k].as_str().expect(k).to_string();
    let certificates = ["idp_certificate", "idp_ec_certificate"].map(|k| Certificate::from_pem(&text(k)).expect(k));
    Setting {
        idp: IdpMetadata {
            entity_id: text("idp_entity_id"),
            signing_certificates: certificates.to_vec(),
            single_sign_on: Vec::new(),
            single_logout: Vec::new(),
            want_authn_requests_signed: false,
        },
        sp_key: RsaKey::from_pkcs8(text("sp_private_key_pkcs8").as_bytes()).expect("SP key"),
        now: v["now"].as_i64().expect("now"),
        sp: text("sp_entity_id"),
        acs: text("acs_url"),
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let s = &*SETTING;
    for lenient in [false, true] {
        let mut expect = Expectations::new(&s.idp, &s.sp, &s.acs, s.now);
        expect.in_response_to = Some("_req1");
        expect.decryption_key = Some(&s.sp_key);
        expect.allow_sha1 = lenient;
        expect.allow_unsolicited = lenient;
        let outcome =
            if text.starts_with('<') { verify_response_xml(text, &expect) } else { verify_response(text, &expect) };
        match outcome {
            Ok(accepted) => {
                assert!(!accepted.signed.is_empty());
                assert!(s.idp.signing_certificates.iter().any(|c| c.fingerprint() == accepted.certificate_fingerprint));
                assert_eq!(accepted.issuer, s.idp.entity_id);
            }
            Err(rejection) => assert!(rejection.detail.len() < 1_000, "{rejection}"),
        }
    }
    let _ = IdpMetadata::parse(text);
});
