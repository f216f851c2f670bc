//! The SAML 2.0 service-provider side, as Cognito user pools federate SAML IdPs: the IdP's
//! metadata read, the SP's metadata written, SP-initiated sign-in (an `AuthnRequest` over
//! HTTP-Redirect, signed when asked) and the Assertion Consumer Service's one decision,
//! [`verify_response`]: an HTTP-POST `SAMLResponse` becomes a [`VerifiedAssertion`] or a
//! [`Rejection`] naming the rule that failed.
//!
//! XML signatures are verified under one profile and nothing else (see README.md): a
//! `ds:Signature` that is a child of the element it signs, one `Reference` to that element's ID,
//! the transforms enveloped-signature then exclusive C14N, RSA or ECDSA with SHA-256 or stronger
//! (SHA-1 only when configured), keys only from the IdP metadata. The element whose signature
//! verified is the element whose values are read: nothing is looked up by ID after verifying.
//! No DTD is parsed and no entity or external reference is ever resolved; sizes are bounded.
//!
//! [`IdpSigner`] is the other side, for the demo's IdP and for tests: signed (and optionally
//! encrypted) Responses and IdP metadata.

mod authn_request;
mod c14n;
mod cert;
mod dsig;
mod encrypted;
mod idp;
mod instant;
mod metadata;
mod names;
mod response;
#[cfg(feature = "testing")]
pub mod testing;
mod xml;

pub use authn_request::{AuthnRequest, ReceivedAuthnRequest};
pub use c14n::exclusive_c14n;
pub use cert::{Certificate, RsaKey};
pub use encrypted::DataEncryption;
pub use idp::{AssertionSpec, IdpSigner, Signing};
pub use metadata::{sp_entity_id, Endpoint, IdpMetadata, SpMetadata};
pub use response::{
    verify_response, verify_response_xml, Expectations, OneTimeIds, SignedElement, SignedKind, VerifiedAssertion,
    DEFAULT_MAX_SIZE, DEFAULT_SKEW,
};

use std::fmt;

/// The rule a refused response broke: a short, stable name for audit trails and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The input is larger than the configured bound (before or after base64).
    Size,
    /// A DOCTYPE (DTD, entity declaration) is present; refused before parsing.
    Dtd,
    /// Not base64, not UTF-8, not well-formed XML, not a SAML Response, or a required part missing.
    Malformed,
    /// The IdP answered a status other than Success.
    Status,
    /// Two elements carry the same ID, so a reference could name either.
    DuplicateId,
    /// Not exactly one assertion (plain or encrypted) in the whole document.
    AssertionCount,
    /// The encrypted assertion could not be decrypted with the SP key.
    Decryption,
    /// Neither the response nor the assertion carries a signature that covers the assertion.
    Unsigned,
    /// A signature outside the profile: algorithm (SHA-1 unless allowed), canonicalization,
    /// transforms, or placement.
    SignatureProfile,
    /// The signature covers another element than the one used (signature wrapping).
    SignedElement,
    /// Digest or signature value wrong, or made with a key that is not in the IdP metadata.
    Signature,
    /// The Response or Assertion Issuer is not the IdP's entity id.
    Issuer,
    /// The Response Destination is not this ACS URL.
    Destination,
    /// The assertion's audience restriction does not name this SP.
    Audience,
    /// No bearer SubjectConfirmation, or its data (Recipient, NotOnOrAfter, InResponseTo) does not hold.
    SubjectConfirmation,
    /// The SubjectConfirmationData Recipient is not this ACS URL.
    Recipient,
    /// Conditions NotBefore / NotOnOrAfter (or another time) outside the allowed skew.
    Time,
    /// InResponseTo does not name the AuthnRequest pending for this browser.
    InResponseTo,
    /// An IdP-initiated (unsolicited) response while IdP-initiated sign-in is off.
    Unsolicited,
    /// The assertion ID was accepted before.
    Replay,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Size => "size",
            Check::Dtd => "dtd",
            Check::Malformed => "malformed",
            Check::Status => "status",
            Check::DuplicateId => "duplicate_id",
            Check::AssertionCount => "assertion_count",
            Check::Decryption => "decryption",
            Check::Unsigned => "unsigned",
            Check::SignatureProfile => "signature_profile",
            Check::SignedElement => "signed_element",
            Check::Signature => "signature",
            Check::Issuer => "issuer",
            Check::Destination => "destination",
            Check::Audience => "audience",
            Check::SubjectConfirmation => "subject_confirmation",
            Check::Recipient => "recipient",
            Check::Time => "time",
            Check::InResponseTo => "in_response_to",
            Check::Unsolicited => "unsolicited",
            Check::Replay => "replay",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused response: the rule and what was found against what was expected. The detail names
/// values (IDs, URIs, times, algorithm names, certificate fingerprints), never the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub check: Check,
    pub detail: String,
}

impl Rejection {
    /// The longest detail kept: details quote parts of the document (a parser's message names
    /// the tags it met), and a document may make those as long as it likes.
    pub const MAX_DETAIL: usize = 400;

    pub fn new(check: Check, detail: impl Into<String>) -> Self {
        let mut detail = detail.into();
        if detail.chars().count() > Self::MAX_DETAIL {
            detail = format!("{}…", detail.chars().take(Self::MAX_DETAIL).collect::<String>());
        }
        Self { check, detail }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

impl std::error::Error for Rejection {}

/// A configuration or input error outside response verification (metadata, keys, requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub(crate) fn error(message: impl Into<String>) -> Error {
    Error(message.into())
}

/// At most `max` characters of a value taken from the document, for a detail line.
pub(crate) fn clip(value: &str) -> String {
    const MAX: usize = 120;
    let value = value.trim();
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        format!("{}…", value.chars().take(MAX).collect::<String>())
    }
}
