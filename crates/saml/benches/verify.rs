//! SAML assertion verifications per second on one core, the ACS's per-sign-in cost: base64,
//! parse, exclusive C14N, SHA-256 digest, RSA-SHA256 (RSA-2048) signature check and the profile's
//! rules, for an assertion signed, a response signed, both, and an encrypted assertion (RSA-OAEP
//! key transport and AES-256-GCM; the signature is on the assertion inside). Each line gives the
//! wall-clock rate and the rate the thread's own CPU time gives one core (the figure to quote on
//! a shared machine). `cargo bench -p tokenbridge-saml --bench verify`; bench/hosted.sh runs it.

use base64::Engine;
use tokenbridge_microbench::Bench;
use tokenbridge_saml::{
    verify_response, AssertionSpec, DataEncryption, Expectations, IdpMetadata, IdpSigner, RsaKey, Signing,
};

const NOW: i64 = 1_793_862_245;
const SP: &str = "urn:amazon:cognito:sp:us-east-1_AbCdEf123";
const ACS: &str = "https://auth.example.com/saml2/idpresponse";

fn main() {
    let bench = Bench::from_args();
    let idp = IdpSigner::generate("https://idp.example.com/saml/metadata", NOW).expect("IdP key");
    let metadata = IdpMetadata::parse(&idp.metadata_xml("https://idp.example.com/sso", None)).expect("metadata");
    let sp_key = RsaKey::generate().expect("SP key");
    let sp_certificate = sp_key.self_signed_certificate("SP", NOW, 365).expect("SP certificate");
    let spec = |signing: Signing, encrypt: bool| {
        let mut spec = AssertionSpec::new("alice@example.com", SP, ACS, NOW)
            .attribute("email", &["alice@example.com"])
            .attribute("groups", &["admins", "users", "engineering"])
            .attribute("department", &["Platform"]);
        spec.in_response_to = Some("_req1".into());
        spec.signing = signing;
        if encrypt {
            spec.encrypt_to = Some((sp_certificate.clone(), DataEncryption::Aes256Gcm));
        }
        spec
    };
    let mut expect = Expectations::new(&metadata, SP, ACS, NOW);
    expect.in_response_to = Some("_req1");
    expect.decryption_key = Some(&sp_key);
    let cases = [
        ("SAML verify, Assertion signed (RSA-SHA256)", spec(Signing { assertion: true, response: false }, false)),
        ("SAML verify, Response signed (RSA-SHA256)", spec(Signing { assertion: false, response: true }, false)),
        ("SAML verify, both signed (RSA-SHA256)", spec(Signing { assertion: true, response: true }, false)),
        ("SAML verify, encrypted Assertion signed", spec(Signing { assertion: true, response: false }, true)),
    ];
    for (name, spec) in cases {
        let response = idp.response_base64(&spec).expect("response");
        let xml = base64::engine::general_purpose::STANDARD.decode(&response).expect("base64");
        let rsa_sha256 = String::from_utf8_lossy(&xml).contains("xmldsig-more#rsa-sha256");
        assert!(spec.encrypt_to.is_some() || rsa_sha256, "{name}: not signed with RSA-SHA256");
        bench.run_as(name, "verifications", || verify_response(&response, &expect).expect("own response"));
    }
    let plain = spec(Signing { assertion: true, response: false }, false);
    bench.run_as("SAML sign (IdP side, Assertion)", "signatures", || idp.response_base64(&plain).expect("response"));
}
