//! One refusal per rule of the ACS (signature wrapping has its own file, wrapping.rs): each test
//! breaks one rule of an otherwise good response and asserts the rule named and its detail.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tokenbridge_saml::{
    verify_response, verify_response_xml, Check, DataEncryption, IdpMetadata, IdpSigner, OneTimeIds, RsaKey, Signing,
};

// --- signatures --------------------------------------------------------------------------

#[test]
fn changed_signed_content_is_refused() {
    let xml = replace_once(
        &response(&SIGNER, &spec()),
        ">alice@example.com</saml:NameID>",
        ">mallory@example.com</saml:NameID>",
    );
    let r = refused(verify(&xml), Check::Signature);
    assert_eq!(r.detail, "digest of the assertion #_a does not match its signature: the signed content was changed");
}

#[test]
fn changed_signature_value_is_refused() {
    let xml = response(&SIGNER, &spec());
    let at = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let flipped = if &xml[at..at + 1] == "A" { "B" } else { "A" };
    let xml = format!("{}{flipped}{}", &xml[..at], &xml[at + 1..]);
    let r = refused(verify(&xml), Check::Signature);
    assert!(r.detail.contains("does not verify with any of the 1 IdP metadata certificates"), "{r}");
}

#[test]
fn certificate_not_in_metadata_is_refused() {
    let r = refused(verify(&response(&STRANGER, &spec())), Check::Signature);
    let stranger = &STRANGER.certificate().fingerprint()[..16];
    assert!(
        r.detail.contains(&format!("signed with certificate sha256 {stranger}…, which is not in the IdP metadata")),
        "{r}"
    );
}

#[test]
fn a_rotated_in_second_certificate_is_accepted() {
    // Metadata during a rotation: the old certificate first, the new one (STRANGER's) second,
    // one KeyDescriptor without `use` (signing too) and an encryption key that is not trusted.
    let encryption_only = RsaKey::generate().unwrap().self_signed_certificate("enc", NOW, 30).unwrap();
    let xml = SIGNER.metadata_xml(SSO, None).replace(
        "<md:SingleSignOnService",
        &format!(
            "<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
             <md:KeyDescriptor use=\"encryption\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
             <md:SingleSignOnService",
            STRANGER.certificate().base64(),
            encryption_only.base64()
        ),
    );
    let metadata = IdpMetadata::parse(&xml).expect("metadata");
    assert_eq!(metadata.signing_certificates, [SIGNER.certificate().clone(), STRANGER.certificate().clone()]);
    let mut expect = expect();
    expect.idp_certificates = &metadata.signing_certificates;
    let accepted = verify_with(&response(&STRANGER, &spec()), &expect).expect("second certificate");
    assert_eq!(accepted.certificate_fingerprint, STRANGER.certificate().fingerprint());
    let accepted = verify_with(&response(&SIGNER, &spec()), &expect).expect("first certificate");
    assert_eq!(accepted.certificate_fingerprint, SIGNER.certificate().fingerprint());
    // Signed by the encryption key: not trusted for signatures.
    let encryption_signer = IdpSigner::new(IDP, RsaKey::generate().unwrap(), encryption_only);
    refused(verify_with(&response(&encryption_signer, &spec()), &expect), Check::Signature);
}

#[test]
fn sha1_signature_method_and_digest_are_refused_unless_allowed() {
    // (Real RSA-SHA1 signatures, refused and then accepted when allowed: oracle.rs.)
    let xml = response(&SIGNER, &spec());
    let method =
        xml.replace("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2000/09/xmldsig#rsa-sha1");
    let r = refused(verify(&method), Check::SignatureProfile);
    assert!(r.detail.contains("rsa-sha1 (SHA-1) is refused"), "{r}");
    let digest = xml.replace("http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2000/09/xmldsig#sha1");
    let r = refused(verify(&digest), Check::SignatureProfile);
    assert!(r.detail.contains("digest SHA-1 is refused"), "{r}");
    // Allowed, the algorithms pass and the (now wrong) signature itself is what fails.
    let mut expect = expect();
    expect.allow_sha1 = true;
    refused(verify_with(&method, &expect), Check::Signature);
}

#[test]
fn canonicalizations_other_than_exclusive_without_comments_are_refused() {
    // Inclusive C14N pulls the ancestors' namespace context into the signed bytes, so a signed
    // assertion would verify differently in another response; WithComments would sign comments
    // that every reader then drops. Neither is needed by any IdP Cognito federates.
    let xml = response(&SIGNER, &spec());
    for other in
        ["http://www.w3.org/TR/2001/REC-xml-c14n-20010315", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"]
    {
        let changed = xml.replacen(
            "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
            &format!("<ds:CanonicalizationMethod Algorithm=\"{other}\""),
            1,
        );
        let r = refused(verify(&changed), Check::SignatureProfile);
        assert!(r.detail.contains("only exclusive C14N without comments"), "{r}");
    }
    // The same in the Reference's transforms.
    let changed = xml.replacen(
        "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\">",
        1,
    );
    refused(verify(&changed), Check::SignatureProfile);
}

#[test]
fn transforms_other_than_the_profile_are_refused() {
    let xml = response(&SIGNER, &spec());
    let xpath = xml.replacen(
        "</ds:Transforms>",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>not(ancestor-or-self::x)</ds:XPath></ds:Transform></ds:Transforms>",
        1,
    );
    let r = refused(verify(&xpath), Check::SignatureProfile);
    assert!(r.detail.contains("Transforms holds [Transform, Transform, Transform]"), "{r}");
    let no_enveloped =
        xml.replacen("<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>", "", 1);
    refused(verify(&no_enveloped), Check::SignatureProfile);
    let two_references = {
        let start = xml.find("<ds:Reference ").unwrap();
        let end = xml.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
        format!("{}{}{}", &xml[..end], &xml[start..end], &xml[end..])
    };
    let r = refused(verify(&two_references), Check::SignatureProfile);
    assert!(
        r.detail.contains("SignedInfo holds [CanonicalizationMethod, SignatureMethod, Reference, Reference]"),
        "{r}"
    );
}

#[test]
fn unsigned_everything_is_refused() {
    let mut spec = spec();
    spec.signing = Signing { assertion: false, response: false };
    let r = refused(verify(&response(&SIGNER, &spec)), Check::Unsigned);
    assert_eq!(r.detail, "neither the response #_r nor the assertion #_a is signed");
}

// --- the document ------------------------------------------------------------------------

#[test]
fn two_assertions_are_refused() {
    let xml = response(&SIGNER, &spec());
    let mut other = spec();
    other.assertion_id = "_a2".into();
    let second = SIGNER.sign_element(&SIGNER.assertion_xml(&other), "_a2");
    let xml = replace_once(&xml, "</samlp:Response>", &format!("{second}</samlp:Response>"));
    let r = refused(verify(&xml), Check::AssertionCount);
    assert_eq!(r.detail, "exactly one assertion is accepted; found 2 (#_a in Response, #_a2 in Response)");
}

#[test]
fn no_assertion_is_refused() {
    let xml = SIGNER.response_around(&spec(), "");
    refused(verify(&xml), Check::AssertionCount);
}

#[test]
fn a_status_other_than_success_is_refused() {
    let mut spec = spec();
    spec.status = "urn:oasis:names:tc:SAML:2.0:status:Responder".into();
    let r = refused(verify(&response(&SIGNER, &spec)), Check::Status);
    assert_eq!(r.detail, "the IdP answered urn:oasis:names:tc:SAML:2.0:status:Responder");
}

#[test]
fn malformed_inputs_are_refused() {
    refused(verify_response("not base64!", &expect()), Check::Malformed);
    refused(verify_response(&b64("\u{0}\u{ff}"), &expect()), Check::Malformed);
    refused(verify_response(&b64("<unclosed"), &expect()), Check::Malformed);
    let r = refused(verify(&SIGNER.assertion_xml(&spec())), Check::Malformed);
    assert!(r.detail.contains("not a samlp:Response"), "{r}");
    let r =
        refused(verify(&response(&SIGNER, &spec()).replace("Version=\"2.0\"", "Version=\"1.1\"")), Check::Malformed);
    assert!(r.detail.contains("is not 2.0"), "{r}");
}

#[test]
fn deep_nesting_is_refused_before_canonicalization() {
    let deep = format!("{}{}", "<e>".repeat(5_000), "</e>".repeat(5_000));
    let xml = replace_once(
        &response(&SIGNER, &spec()),
        "</samlp:Status>",
        &format!("</samlp:Status><samlp:Extensions>{deep}</samlp:Extensions>"),
    );
    let r = refused(verify(&xml), Check::Malformed);
    assert!(r.detail.contains("nested deeper than"), "{r}");
}

#[test]
fn oversized_input_is_refused() {
    let padding = "x".repeat(300 * 1024);
    let xml = replace_once(
        &response(&SIGNER, &spec()),
        "</samlp:Status>",
        &format!("</samlp:Status><samlp:Extensions>{padding}</samlp:Extensions>"),
    );
    let r = refused(verify(&xml), Check::Size);
    assert!(r.detail.contains("the bound is 262144"), "{r}");
    // Below the bound on the wire but not once decoded is impossible; a smaller bound shows the decoded check.
    let mut expect = expect();
    expect.max_size = 2_000;
    refused(verify_with(&response(&SIGNER, &spec()), &expect), Check::Size);
    refused(verify_response_xml(&response(&SIGNER, &spec()), &expect), Check::Size);
}

#[test]
fn external_entities_are_refused_before_parsing() {
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        response(&SIGNER, &spec()).replace(">alice@example.com</saml:NameID>", ">&x;</saml:NameID>")
    );
    let r = refused(verify(&xxe), Check::Dtd);
    assert_eq!(r.detail, "the document declares <!DOCTYPE: no DTD or entity is read (XXE and entity expansion)");
    // A parameter entity fetching an external DTD, and a bare external DTD.
    refused(verify("<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://127.0.0.1:9/x.dtd\"> %p;]><r/>"), Check::Dtd);
    refused(verify("<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/x.dtd\"><r/>"), Check::Dtd);
    // An entity declaration smuggled after the root start is no better.
    refused(verify("<r><!ENTITY x \"y\"></r>"), Check::Dtd);
}

#[test]
fn billion_laughs_is_refused_without_expansion() {
    let mut doc = String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..=9 {
        let previous = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
        doc.push_str(&format!("<!ENTITY lol{i} \"{}\">", format!("&{previous};").repeat(10)));
    }
    doc.push_str("]><samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&lol9;</samlp:Response>");
    let start = Instant::now();
    let r = refused(verify(&doc), Check::Dtd);
    assert!(start.elapsed() < Duration::from_millis(200), "took {:?}", start.elapsed());
    assert!(!r.detail.contains("lol"), "{r}");
}

/// Found by the `saml_response` fuzz target: the parser's message names the tags it met, and a
/// document may make a tag name as long as it likes; the detail stays bounded.
#[test]
fn a_parse_error_naming_a_huge_tag_keeps_a_short_detail() {
    let doc =
        format!("<md:EntityDescriptor xmlns:md=\"urn:x\"><md:A></md{}:A></md:EntityDescriptor>", "0V".repeat(5_000));
    let r = refused(verify(&doc), Check::Malformed);
    assert!(r.detail.starts_with("not well-formed XML: "), "{r}");
    assert!(r.detail.chars().count() <= tokenbridge_saml::Rejection::MAX_DETAIL + 1, "{} chars", r.detail.len());
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD.encode(&doc);
    let r = refused(verify_response(&base64, &expect()), Check::Malformed);
    assert!(r.detail.chars().count() <= tokenbridge_saml::Rejection::MAX_DETAIL + 1, "{} chars", r.detail.len());
}

// --- issuer, audience, destination, recipient, confirmation -------------------------------

#[test]
fn a_wrong_issuer_is_refused() {
    let impostor = IdpSigner::new("https://evil.example.com", SIGNER.key().clone(), SIGNER.certificate().clone());
    let r = refused(verify(&response(&impostor, &spec())), Check::Issuer);
    assert_eq!(r.detail, format!("Response Issuer https://evil.example.com ≠ {IDP}"));
    // The Response's Issuer right, the signed assertion's wrong.
    let assertion = impostor.sign_element(&impostor.assertion_xml(&spec()), "_a");
    let r = refused(verify(&SIGNER.response_around(&spec(), &assertion)), Check::Issuer);
    assert_eq!(r.detail, format!("assertion Issuer https://evil.example.com ≠ {IDP}"));
}

#[test]
fn a_wrong_audience_is_refused() {
    let mut spec = spec();
    spec.audience = "urn:x".into();
    let r = refused(verify(&response(&SIGNER, &spec)), Check::Audience);
    assert_eq!(r.detail, format!("assertion Audience urn:x ≠ {SP}"));
    // Every AudienceRestriction must name this SP.
    let xml = signed_after_edit(&self::spec(), |a| {
        a.replace("</saml:Conditions>", "<saml:AudienceRestriction><saml:Audience>urn:other</saml:Audience></saml:AudienceRestriction></saml:Conditions>")
    });
    refused(verify(&xml), Check::Audience);
    let xml = signed_after_edit(&self::spec(), |a| {
        let start = a.find("<saml:AudienceRestriction>").unwrap();
        let end = a.find("</saml:AudienceRestriction>").unwrap() + "</saml:AudienceRestriction>".len();
        format!("{}{}", &a[..start], &a[end..])
    });
    refused(verify(&xml), Check::Audience);
}

#[test]
fn a_wrong_recipient_is_refused() {
    let mut spec = spec();
    spec.recipient = "https://evil.example.com/acs".into();
    let r = refused(verify(&response(&SIGNER, &spec)), Check::Recipient);
    assert_eq!(r.detail, format!("SubjectConfirmationData Recipient \"https://evil.example.com/acs\" ≠ {ACS}"));
}

#[test]
fn a_wrong_or_missing_destination_is_refused() {
    let mut spec = spec();
    spec.destination = "https://evil.example.com/acs".into();
    let r = refused(verify(&response(&SIGNER, &spec)), Check::Destination);
    assert_eq!(r.detail, format!("Response Destination \"https://evil.example.com/acs\" ≠ {ACS}"));
    let xml = response(&SIGNER, &self::spec()).replace(&format!(" Destination=\"{ACS}\""), "");
    refused(verify(&xml), Check::Destination);
}

#[test]
fn a_confirmation_that_is_not_bearer_is_refused() {
    let xml = signed_after_edit(&spec(), |a| {
        a.replace("urn:oasis:names:tc:SAML:2.0:cm:bearer", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
    });
    let r = refused(verify(&xml), Check::SubjectConfirmation);
    assert_eq!(r.detail, "no bearer SubjectConfirmation (methods found: urn:oasis:names:tc:SAML:2.0:cm:holder-of-key)");
}

// --- times -------------------------------------------------------------------------------

fn at_offset(not_before: i64, not_on_or_after: i64) -> String {
    let mut spec = spec();
    spec.not_before = NOW + not_before;
    spec.not_on_or_after = NOW + not_on_or_after;
    response(&SIGNER, &spec)
}

#[test]
fn not_before_in_the_future_beyond_the_skew_is_refused_and_within_it_accepted() {
    let r = refused(verify(&at_offset(121, 600)), Check::Time);
    assert!(r.detail.starts_with("assertion Conditions NotBefore") && r.detail.contains("121 s after now"), "{r}");
    verify(&at_offset(120, 600)).expect("within the skew");
}

#[test]
fn not_on_or_after_past_beyond_the_skew_is_refused_and_within_it_accepted() {
    // The bearer confirmation lasts as long as the Conditions in these responses; the first
    // rule read is Conditions.
    let r = refused(verify(&at_offset(-600, -120)), Check::Time);
    assert!(r.detail.starts_with("assertion Conditions NotOnOrAfter") && r.detail.contains("passed 120 s ago"), "{r}");
    verify(&at_offset(-600, -119)).expect("within the skew");
}

#[test]
fn subject_confirmation_not_on_or_after_past_is_refused() {
    let xml = signed_after_edit(&spec(), |a| {
        let confirmation_end = instant(NOW + 300);
        let expired = instant(NOW - 200);
        a.replacen(
            &format!("NotOnOrAfter=\"{confirmation_end}\" Recipient"),
            &format!("NotOnOrAfter=\"{expired}\" Recipient"),
            1,
        )
    });
    let r = refused(verify(&xml), Check::Time);
    assert!(r.detail.starts_with("SubjectConfirmationData NotOnOrAfter"), "{r}");
    let without = signed_after_edit(&spec(), |a| {
        a.replacen(&format!("NotOnOrAfter=\"{}\" Recipient", instant(NOW + 300)), "Recipient", 1)
    });
    let r = refused(verify(&without), Check::SubjectConfirmation);
    assert_eq!(r.detail, "the bearer SubjectConfirmationData has no NotOnOrAfter");
}

fn instant(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

// --- InResponseTo, unsolicited, replay -----------------------------------------------------

#[test]
fn in_response_to_mismatch_is_refused() {
    let mut spec = spec();
    spec.in_response_to = Some("_r7".into());
    let r = refused(verify(&response(&SIGNER, &spec)), Check::InResponseTo);
    assert_eq!(r.detail, "InResponseTo _r7 unknown or already answered");
    // Nothing pending for this browser (answered already, or never sent).
    let mut expect = expect();
    expect.in_response_to = None;
    refused(verify_with(&response(&SIGNER, &self::spec()), &expect), Check::InResponseTo);
    // The Response and its confirmation disagree.
    let xml = signed_after_edit(&self::spec(), |a| a.replace("InResponseTo=\"_req1\"", "InResponseTo=\"_other\""));
    let r = refused(verify(&xml), Check::InResponseTo);
    assert_eq!(r.detail, "Response InResponseTo _req1 ≠ SubjectConfirmationData InResponseTo _other");
}

#[test]
fn unsolicited_is_refused_with_idp_init_off_and_accepted_with_it_on() {
    let mut spec = spec();
    spec.in_response_to = None;
    let xml = response(&SIGNER, &spec);
    let r = refused(verify(&xml), Check::Unsolicited);
    assert_eq!(r.detail, "unsolicited response (no InResponseTo) while IdP-initiated sign-in is off");
    let mut expect = expect();
    expect.allow_unsolicited = true;
    let accepted = verify_with(&xml, &expect).expect("IDPInit on");
    assert_eq!(accepted.in_response_to, None);
    expect.in_response_to = None;
    verify_with(&xml, &expect).expect("IDPInit on, nothing pending");
}

#[test]
fn a_replayed_assertion_is_refused_until_it_expires() {
    let ids = OneTimeIds::new();
    let accepted = verify(&response(&SIGNER, &spec())).expect("first");
    ids.first_use(&accepted, NOW).expect("first use");
    let again = verify(&response(&SIGNER, &spec())).expect("valid again, but seen");
    let r = ids.first_use(&again, NOW + 10).expect_err("replay");
    assert_eq!((r.check, r.detail.as_str()), (Check::Replay, "assertion ID _a was already accepted"));
    // Another assertion ID from the same IdP is not a replay.
    let mut other = spec();
    other.assertion_id = "_a2".into();
    ids.first_use(&verify(&response(&SIGNER, &other)).unwrap(), NOW + 10).expect("other ID");
    // Past its expiry the marker is dropped (the assertion itself is refused by then).
    ids.first_use(&again, accepted.expires_at + 1).expect("after expiry");
    assert_ne!(accepted.replay_key(), verify(&response(&SIGNER, &other)).unwrap().replay_key());
}

// --- NameID comments, encryption -----------------------------------------------------------

#[test]
fn a_comment_in_the_name_id_does_not_truncate_it() {
    // Signed with the comment inside: the signature covers the text without it, and the whole
    // text is read (CVE-2017-11427 read only the first text node, `user@example.com`).
    let mut spec = spec();
    spec.name_id = "user@example.com.evil.com".into();
    let with_comment =
        signed_after_edit(&spec, |a| a.replace(">user@example.com.evil.com<", ">user@example.com<!---->.evil.com<"));
    assert_eq!(verify(&with_comment).expect("accepted").name_id, "user@example.com.evil.com");
    // A comment added after signing changes nothing signed, and nothing read.
    let signed = response(&SIGNER, &spec);
    let injected = replace_once(&signed, ">user@example.com.evil.com<", ">user@example.com<!-- x -->.evil.com<");
    assert_eq!(verify(&injected).expect("accepted").name_id, "user@example.com.evil.com");
    // Elements inside the NameID are refused outright.
    let element =
        signed_after_edit(&spec, |a| a.replace(">user@example.com.evil.com<", ">user@example.com<b/>.evil.com<"));
    refused(verify(&element), Check::Malformed);
}

#[test]
fn an_encrypted_assertion_with_a_wrong_or_no_key_is_refused() {
    let sp_key = RsaKey::generate().unwrap();
    let sp_certificate = sp_key.self_signed_certificate("SP", NOW - 60, 365).unwrap();
    let mut spec = spec();
    spec.encrypt_to = Some((sp_certificate, DataEncryption::Aes256Gcm));
    let xml = response(&SIGNER, &spec);
    let r = refused(verify(&xml), Check::Decryption);
    assert!(r.detail.contains("no SP decryption key is configured"), "{r}");
    let wrong = RsaKey::generate().unwrap();
    let mut expect = expect();
    expect.decryption_key = Some(&wrong);
    let r = refused(verify_with(&xml, &expect), Check::Decryption);
    assert_eq!(r.detail, "the encrypted assertion does not decrypt with the SP's key");
    // A changed ciphertext byte: the same words, no oracle.
    expect.decryption_key = Some(&sp_key);
    let at = xml.rfind("<xenc:CipherValue>").unwrap() + "<xenc:CipherValue>".len() + 30;
    let flipped = if &xml[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &xml[..at], &xml[at + 1..]);
    let r = refused(verify_with(&tampered, &expect), Check::Decryption);
    assert_eq!(r.detail, "the encrypted assertion does not decrypt with the SP's key");
    // PKCS#1 v1.5 key transport is refused by name.
    let v15 =
        xml.replace("http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p", "http://www.w3.org/2001/04/xmlenc#rsa-1_5");
    let r = refused(verify_with(&v15, &expect), Check::Decryption);
    assert!(r.detail.contains("RSA PKCS#1 v1.5 is not accepted"), "{r}");
}

#[test]
fn an_encrypted_unsigned_assertion_in_an_unsigned_response_is_refused() {
    let sp_key = RsaKey::generate().unwrap();
    let mut spec = spec();
    spec.signing = Signing { assertion: false, response: false };
    spec.encrypt_to = Some((sp_key.self_signed_certificate("SP", NOW, 1).unwrap(), DataEncryption::Aes128Cbc));
    let mut expect = expect();
    expect.decryption_key = Some(&sp_key);
    refused(verify_with(&response(&SIGNER, &spec), &expect), Check::Unsigned);
}
