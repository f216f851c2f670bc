//! SAML assertion verifications per second, the ACS's per-sign-in cost: base64, parse, exclusive
//! C14N, digest, RSA-2048 signature check and the profile's rules, for an assertion signed, a
//! response signed, both, and an encrypted assertion (RSA-OAEP decryption dominates that one).
//! `cargo bench -p tokenbridge-saml`.

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
        ("SAML verify, assertion signed", spec(Signing { assertion: true, response: false }, false)),
        ("SAML verify, response signed", spec(Signing { assertion: false, response: true }, false)),
        ("SAML verify, both signed", spec(Signing { assertion: true, response: true }, false)),
        ("SAML verify, encrypted (AES-256-GCM, RSA-OAEP)", spec(Signing { assertion: true, response: false }, true)),
    ];
    for (name, spec) in cases {
        let response = idp.response_base64(&spec).expect("response");
        bench.run(name, || verify_response(&response, &expect).expect("own response"));
    }
    let plain = spec(Signing { assertion: true, response: false }, false);
    bench.run("SAML sign (IdP side, assertion)", || idp.response_base64(&plain).expect("response"));
}
