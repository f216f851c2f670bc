//! Properties over generated input: no input makes the ACS, the metadata reader or the
//! AuthnRequest reader panic; a one-byte change of a signed response is refused or reads the very
//! same values (the bytes it may change are outside what was signed); and canonical XML is a
//! fixed point of canonicalization.

mod support;

use std::sync::LazyLock;

use proptest::prelude::*;
use support::*;
use tokenbridge_saml::{
    exclusive_c14n, verify_response, verify_response_xml, IdpMetadata, ReceivedAuthnRequest, Signing,
};

static SIGNED: LazyLock<Vec<String>> = LazyLock::new(|| {
    [Signing { assertion: true, response: false }, Signing { assertion: false, response: true }]
        .into_iter()
        .map(|signing| {
            let mut spec = spec();
            spec.signing = signing;
            response(&SIGNER, &spec)
        })
        .collect()
});

/// XML-ish text: tags, attributes, entities, declarations, comments, CDATA and SAML words.
fn xml_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<".to_string()),
        Just(">".to_string()),
        Just("</".to_string()),
        Just("/>".to_string()),
        Just("<!DOCTYPE".to_string()),
        Just("<!--".to_string()),
        Just("-->".to_string()),
        Just("<![CDATA[".to_string()),
        Just("]]>".to_string()),
        Just("&amp;".to_string()),
        Just("&#x1F600;".to_string()),
        Just(" xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"".to_string()),
        Just(" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"".to_string()),
        Just(" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"".to_string()),
        Just("samlp:Response".to_string()),
        Just("saml:Assertion".to_string()),
        Just("ds:Signature".to_string()),
        Just(" ID=\"_a\"".to_string()),
        "[a-zA-Z:_ =\"#]{0,12}",
        "\\PC{0,6}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = verify_response(&b64(&String::from_utf8_lossy(&bytes)), &expect());
        let _ = verify_response(&String::from_utf8_lossy(&bytes), &expect());
        let _ = IdpMetadata::parse(&String::from_utf8_lossy(&bytes));
        let _ = ReceivedAuthnRequest::from_redirect(&String::from_utf8_lossy(&bytes), None, false);
    }

    #[test]
    fn xml_like_text_never_panics(text in xml_like()) {
        let _ = verify_response_xml(&text, &expect());
        let _ = IdpMetadata::parse(&text);
        if let Ok(doc) = roxmltree::Document::parse(&text) {
            let once = exclusive_c14n(doc.root_element(), &[]);
            let again = roxmltree::Document::parse(&once).expect("canonical XML parses");
            prop_assert_eq!(exclusive_c14n(again.root_element(), &[]), once);
        }
    }

    #[test]
    fn a_changed_byte_is_refused_or_reads_the_same(which in 0..2usize, at in any::<prop::sample::Index>(), with in "[ -~]") {
        let signed = &SIGNED[which];
        let original = verify(signed).expect("signed response");
        let i = at.index(signed.len());
        let mut changed = signed.clone();
        changed.replace_range(i..=i, &with);
        if let Ok(accepted) = verify(&changed) {
            prop_assert_eq!(&accepted.name_id, &original.name_id);
            prop_assert_eq!(&accepted.attributes, &original.attributes);
            prop_assert_eq!(&accepted.assertion_id, &original.assertion_id);
            prop_assert_eq!(accepted.expires_at, original.expires_at);
        }
    }

    #[test]
    fn a_changed_byte_of_a_signed_response_never_panics(which in 0..2usize, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = SIGNED[which].clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = verify_response(&b64(&String::from_utf8_lossy(&bytes)), &expect());
    }
}
