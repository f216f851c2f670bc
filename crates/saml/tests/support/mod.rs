//! What the SAML test binaries share: one IdP (key made once), this SP, a fixed clock, and
//! helpers that build a signed response, let a test edit it, and verify it.
#![allow(dead_code)]

use std::sync::LazyLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tokenbridge_saml::{
    verify_response, AssertionSpec, Check, Expectations, IdpMetadata, IdpSigner, Rejection, VerifiedAssertion,
};

pub const NOW: i64 = 1_793_862_245;
pub const IDP: &str = "https://idp.example.com/saml/metadata";
pub const SP: &str = "urn:amazon:cognito:sp:us-east-1_AbCdEf123";
pub const ACS: &str = "https://auth.example.com/saml2/idpresponse";
pub const SSO: &str = "https://idp.example.com/saml/sso";
pub const PENDING: &str = "_req1";

pub static SIGNER: LazyLock<IdpSigner> = LazyLock::new(|| IdpSigner::generate(IDP, NOW).expect("IdP key"));
pub static METADATA: LazyLock<IdpMetadata> =
    LazyLock::new(|| IdpMetadata::parse(&SIGNER.metadata_xml(SSO, None)).expect("own metadata"));
/// Another key pair, not in the metadata.
pub static STRANGER: LazyLock<IdpSigner> = LazyLock::new(|| IdpSigner::generate(IDP, NOW).expect("IdP key"));

/// A solicited response to `PENDING` for alice, IDs `_r` (response) and `_a` (assertion).
pub fn spec() -> AssertionSpec {
    let mut spec = AssertionSpec::new("alice@example.com", SP, ACS, NOW)
        .attribute("email", &["alice@example.com"])
        .attribute("groups", &["admins", "users"]);
    spec.response_id = "_r".into();
    spec.assertion_id = "_a".into();
    spec.in_response_to = Some(PENDING.into());
    spec
}

pub fn expect() -> Expectations<'static> {
    let mut expect = Expectations::new(&METADATA, SP, ACS, NOW);
    expect.in_response_to = Some(PENDING);
    expect
}

pub fn b64(xml: &str) -> String {
    STANDARD.encode(xml)
}

/// The response of `spec` as `signer` makes it.
pub fn response(signer: &IdpSigner, spec: &AssertionSpec) -> String {
    signer.response_xml(spec).expect("response")
}

/// The assertion of `spec`, edited by `edit` before it is signed, then signed, in its response.
pub fn signed_after_edit(spec: &AssertionSpec, edit: impl Fn(String) -> String) -> String {
    let assertion = edit(SIGNER.assertion_xml(spec));
    let signed = SIGNER.sign_element(&assertion, &spec.assertion_id);
    SIGNER.response_around(spec, &signed)
}

pub fn verify(xml: &str) -> Result<VerifiedAssertion, Rejection> {
    verify_response(&b64(xml), &expect())
}

pub fn verify_with(xml: &str, expect: &Expectations) -> Result<VerifiedAssertion, Rejection> {
    verify_response(&b64(xml), expect)
}

/// Asserts the refusal names `check`, and returns it for its detail.
#[track_caller]
pub fn refused(outcome: Result<VerifiedAssertion, Rejection>, check: Check) -> Rejection {
    match outcome {
        Ok(a) => panic!("accepted (NameID {}), expected refusal by {check}", a.name_id),
        Err(r) => {
            assert_eq!(r.check, check, "refused by another rule: {r}");
            r
        }
    }
}

/// Replaces exactly one occurrence of `from`.
#[track_caller]
pub fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} occurs once");
    text.replacen(from, to, 1)
}

/// The `ds:Signature` element of `xml` that is a child of the element with `id`.
pub fn signature_of(xml: &str, id: &str) -> String {
    let doc = roxmltree::Document::parse(xml).expect("xml");
    let element = doc.descendants().find(|n| n.attribute("ID") == Some(id)).expect("element");
    let signature = element.children().find(|c| c.tag_name().name() == "Signature").expect("signature");
    xml[signature.range()].to_string()
}

/// `xml` without the element `range` covers.
pub fn element_text(xml: &str, local: &str, id: &str) -> String {
    let doc = roxmltree::Document::parse(xml).expect("xml");
    let element =
        doc.descendants().find(|n| n.tag_name().name() == local && n.attribute("ID") == Some(id)).expect("element");
    xml[element.range()].to_string()
}
