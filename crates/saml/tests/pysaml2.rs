//! Against pysaml2 with Debian's xmlsec1, an independent SAML 2.0 implementation
//! (interop/saml/peer.py): the responses it signs are accepted (and its refusals are ours too),
//! and it accepts our AuthnRequests and SP metadata.
//!
//! The fixtures part reads responses pysaml2 made once (interop/saml/fixtures, made by make.sh);
//! the live part runs the peer now, so it needs the venv `scripts/test` makes (`.venv/bin/python`
//! at the workspace root, or `TOKENBRIDGE_TEST_PYTHON`): without it, the live tests fail.

use std::path::PathBuf;

use tokenbridge_saml::testing::{peer, workspace_root};
use tokenbridge_saml::{
    sp_entity_id, verify_response, AuthnRequest, Certificate, Check, Expectations, IdpMetadata, RsaKey, SpMetadata,
};

const SP_ENTITY: &str = "urn:amazon:cognito:sp:us-east-1_demo";
const ACS: &str = "http://127.0.0.1:9000/saml2/idpresponse";
const IN_RESPONSE_TO: &str = "_tokenbridge-fixture-request-1";
/// 2026-12-07T17:58:00Z, within every fixture's validity (interop/saml/README.md).
const FIXTURES_NOW: i64 = 1_796_666_280;
const IDP_ENTITY: &str = "https://idp.tokenbridge.test/saml";

fn root() -> PathBuf {
    workspace_root()
}

fn fixture(name: &str) -> String {
    let path = root().join("interop/saml/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(name)).expect("fixture JSON")
}

fn metadata(name: &str) -> IdpMetadata {
    IdpMetadata::parse(&fixture(name)).expect("pysaml2's IdP metadata parses")
}

fn sp_key() -> RsaKey {
    RsaKey::from_pkcs8(fixture("sp.key").as_bytes()).expect("the fixtures' SP key")
}

fn expect<'a>(idp: &'a IdpMetadata) -> Expectations<'a> {
    let mut e = Expectations::new(idp, SP_ENTITY, ACS, FIXTURES_NOW);
    e.in_response_to = Some(IN_RESPONSE_TO);
    e
}

/// What we read equals what pysaml2 read of the same response.
fn same_reading(name: &str, got: &tokenbridge_saml::VerifiedAssertion) {
    let reading = fixture_json(&format!("{name}.json"));
    assert_eq!(got.assertion_id, reading["assertion_id"], "{name}: assertion id");
    assert_eq!(got.response_id, reading["response_id"], "{name}: response id");
    assert_eq!(got.issuer, reading["issuer"], "{name}: issuer");
    assert_eq!(got.name_id, reading["name_id"], "{name}: NameID");
    assert_eq!(got.name_id_format.as_deref(), reading["name_id_format"].as_str(), "{name}: NameID format");
    assert_eq!(got.in_response_to.as_deref(), reading["in_response_to"].as_str(), "{name}: InResponseTo");
    let attributes: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_value(reading["attributes"].clone()).expect("attributes");
    assert_eq!(got.attributes, attributes, "{name}: attributes");
}

#[test]
fn responses_pysaml2_signed_are_accepted_and_read_as_pysaml2_reads_them() {
    let idp = metadata("idp-metadata.xml");
    for name in ["assertion-signed", "response-signed", "both-signed"] {
        let got = verify_response(fixture(&format!("{name}.b64")).trim(), &expect(&idp))
            .unwrap_or_else(|r| panic!("{name}: refused: {r}"));
        same_reading(name, &got);
    }
}

#[test]
fn a_response_pysaml2_encrypted_with_aes_gcm_decrypts_with_the_sp_key() {
    let idp = metadata("idp-metadata.xml");
    let key = sp_key();
    let mut e = expect(&idp);
    e.decryption_key = Some(&key);
    let got = verify_response(fixture("encrypted-aes256-gcm.b64").trim(), &e).expect("decrypted and verified");
    assert!(got.encrypted);
    same_reading("encrypted-aes256-gcm", &got);
    // Without the SP key an encrypted assertion is refused, not skipped.
    let refused = verify_response(fixture("encrypted-aes256-gcm.b64").trim(), &expect(&idp)).unwrap_err();
    assert_eq!(refused.check, Check::Decryption, "{refused}");
}

#[test]
fn pysaml2s_default_triple_des_encryption_is_refused_by_name() {
    // pysaml2 encrypts with 3DES-CBC unless told otherwise; 3DES is not among the content
    // algorithms we accept (AES-GCM, AES-CBC), and the refusal says so.
    let idp = metadata("idp-metadata.xml");
    let key = sp_key();
    let mut e = expect(&idp);
    e.decryption_key = Some(&key);
    let refused = verify_response(fixture("encrypted-tripledes.b64").trim(), &e).unwrap_err();
    assert_eq!(refused.check, Check::Decryption, "{refused}");
    assert!(refused.detail.contains("tripledes"), "the refusal names the algorithm: {refused}");
}

#[test]
fn sha1_signatures_from_pysaml2_are_refused_unless_allowed() {
    let idp = metadata("idp-metadata.xml");
    let refused = verify_response(fixture("sha1-signed.b64").trim(), &expect(&idp)).unwrap_err();
    assert_eq!(refused.check, Check::SignatureProfile, "{refused}");
    let mut e = expect(&idp);
    e.allow_sha1 = true;
    let got = verify_response(fixture("sha1-signed.b64").trim(), &e).expect("accepted when SHA-1 is allowed");
    same_reading("sha1-signed", &got);
}

#[test]
fn the_next_key_is_accepted_only_once_the_metadata_lists_it() {
    let refused = verify_response(fixture("next-key-signed.b64").trim(), &expect(&metadata("idp-metadata.xml")))
        .expect_err("the next key is not yet trusted");
    assert_eq!(refused.check, Check::Signature, "{refused}");
    let rotation = metadata("idp-metadata-rotation.xml");
    assert_eq!(rotation.signing_certificates.len(), 2);
    let got = verify_response(fixture("next-key-signed.b64").trim(), &expect(&rotation)).expect("accepted");
    let next = Certificate::from_pem(&fixture("idp-next.crt")).expect("next certificate");
    assert_eq!(got.certificate_fingerprint, next.fingerprint());
}

#[test]
fn unsigned_and_tampered_responses_from_pysaml2_are_refused() {
    let idp = metadata("idp-metadata.xml");
    let unsigned = verify_response(fixture("unsigned.b64").trim(), &expect(&idp)).unwrap_err();
    assert_eq!(unsigned.check, Check::Unsigned, "{unsigned}");
    let tampered = verify_response(fixture("tampered.b64").trim(), &expect(&idp)).unwrap_err();
    assert_eq!(tampered.check, Check::Signature, "{tampered}");
}

#[test]
fn a_fixture_past_its_time_is_refused() {
    let idp = metadata("idp-metadata.xml");
    let mut e = expect(&idp);
    e.now = FIXTURES_NOW + 3600;
    let refused = verify_response(fixture("assertion-signed.b64").trim(), &e).unwrap_err();
    assert!(matches!(refused.check, Check::Time | Check::SubjectConfirmation), "{refused}");
}

// ---------------------------------------------------------------------------------------------
// Live: the peer runs now.

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

struct Sp {
    dir: tempfile::TempDir,
    key: RsaKey,
    metadata: SpMetadata,
}

impl Sp {
    /// This SP (pool us-east-1_live) with a signing key, its metadata written for the peer.
    fn new(sign_requests: bool) -> Sp {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = RsaKey::generate().expect("SP key");
        let certificate = key.self_signed_certificate("tokenbridge SP", now() - 60, 30).expect("SP certificate");
        let metadata = SpMetadata {
            entity_id: sp_entity_id("us-east-1_live"),
            acs_url: ACS.to_string(),
            signing_certificate: sign_requests.then(|| certificate.clone()),
            encryption_certificate: Some(certificate),
            want_assertions_signed: true,
        };
        std::fs::write(dir.path().join("sp.xml"), metadata.to_xml()).expect("write SP metadata");
        Sp { dir, key, metadata }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
}

#[test]
fn pysaml2_loads_our_sp_metadata() {
    let sp = Sp::new(true);
    let out = peer(&["check-sp-metadata", &sp.path("sp.xml")]).expect("pysaml2 accepts the SP metadata");
    let read: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(read["entity_id"], "urn:amazon:cognito:sp:us-east-1_live");
    assert_eq!(read["acs"][0]["location"], ACS);
    assert_eq!(read["acs"][0]["binding"], "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST");
    assert_eq!(read["signing_certs"], 1);
    assert_eq!(read["encryption_certs"], 1);
    assert_eq!(read["want_assertions_signed"], true);
}

#[test]
fn pysaml2_accepts_our_authn_requests_signed_and_unsigned_and_refuses_a_forged_signature() {
    let sso = "https://idp.tokenbridge.test/saml/sso";
    for signed in [false, true] {
        let sp = Sp::new(signed);
        let request = AuthnRequest::new(&sp.metadata.entity_id, ACS, sso, now());
        let url = request.redirect_url(Some("state/with space&more"), signed.then_some(&sp.key));
        let out = peer(&["check-authn-request", "--redirect-url", &url, "--sp-metadata", &sp.path("sp.xml")])
            .unwrap_or_else(|e| {
                panic!("pysaml2 refused our {} AuthnRequest: {e}", if signed { "signed" } else { "unsigned" })
            });
        let read: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(read["id"], request.id.as_str());
        assert_eq!(read["issuer"], sp.metadata.entity_id.as_str());
        assert_eq!(read["acs_url"], ACS);
        assert_eq!(read["destination"], sso);
        assert_eq!(read["relay_state"], "state/with space&more");
        assert_eq!(read["signed"], signed);
        if signed {
            // Another key's signature over the same query: pysaml2 must refuse it.
            let other = RsaKey::generate().expect("other key");
            let forged = request.redirect_url(Some("state/with space&more"), Some(&other));
            let refused =
                peer(&["check-authn-request", "--redirect-url", &forged, "--sp-metadata", &sp.path("sp.xml")])
                    .expect_err("a signature by a key not in the metadata is refused");
            assert!(refused.contains("IncorrectlySigned"), "{refused}");
        }
    }
}

#[test]
fn a_response_pysaml2_signs_now_is_accepted_and_its_replay_is_refused() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().to_string_lossy().into_owned();
    peer(&["keys", "--out", &dir]).expect("peer keys");
    let (key, cert) = (format!("{dir}/idp.key"), format!("{dir}/idp.crt"));
    let idp_xml = peer(&[
        "idp-metadata",
        "--entity-id",
        IDP_ENTITY,
        "--sso-url",
        "https://idp.tokenbridge.test/sso",
        "--cert",
        &cert,
    ])
    .expect("peer metadata");
    let idp = IdpMetadata::parse(&idp_xml).expect("the peer's metadata parses");

    let sp = Sp::new(false);
    let request = AuthnRequest::new(&sp.metadata.entity_id, ACS, "https://idp.tokenbridge.test/sso", now());
    let sp_xml = sp.path("sp.xml");
    for (flags, signed_what) in [(&["--sign-assertion"][..], "assertion"), (&["--sign-response"][..], "response")] {
        let mut args = vec![
            "response",
            "--sp-metadata",
            sp_xml.as_str(),
            "--idp-entity-id",
            IDP_ENTITY,
            "--key",
            &key,
            "--cert",
            &cert,
            "--name-id",
            "alice@example.com",
            "--name-id-format",
            "email",
            "--in-response-to",
            &request.id,
            "--attr",
            "email=alice@example.com",
            "--attr",
            "groups=admins",
            "--attr",
            "groups=staff",
        ];
        args.extend_from_slice(flags);
        let response = peer(&args).expect("peer response");
        let mut e = Expectations::new(&idp, &sp.metadata.entity_id, ACS, now());
        e.in_response_to = Some(&request.id);
        let got = verify_response(response.trim(), &e).unwrap_or_else(|r| panic!("{signed_what} signed: {r}"));
        assert_eq!(got.name_id, "alice@example.com");
        assert_eq!(got.attributes["groups"], ["admins", "staff"]);
        assert_eq!(got.in_response_to.as_deref(), Some(request.id.as_str()));

        // The same response for another pending request, or for another SP, is refused.
        e.in_response_to = Some("_another-request");
        assert_eq!(verify_response(response.trim(), &e).unwrap_err().check, Check::InResponseTo);
        let other_sp = sp_entity_id("us-east-1_other");
        let mut e = Expectations::new(&idp, &other_sp, ACS, now());
        e.in_response_to = Some(&request.id);
        assert_eq!(verify_response(response.trim(), &e).unwrap_err().check, Check::Audience);

        // A second use of the same assertion: the one-time-use record says so.
        let seen = tokenbridge_saml::OneTimeIds::new();
        seen.first_use(&got, now()).expect("first use");
        assert_eq!(seen.first_use(&got, now()).unwrap_err().check, Check::Replay);
    }
}
