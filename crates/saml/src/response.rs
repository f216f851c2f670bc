//! The Assertion Consumer Service's decision: a `SAMLResponse` (HTTP-POST, base64) is accepted
//! as one [`VerifiedAssertion`] only when every rule of the Web Browser SSO profile holds, in
//! this order: bounded size, no declarations, one Response with unique IDs and exactly one
//! assertion (plain or encrypted) directly inside it, Success status, the signatures (each one
//! covering the element it sits in, from a metadata key), Issuer, Destination, then the
//! assertion's own rules (Issuer, Audience, bearer confirmation with Recipient, times,
//! InResponseTo). Replay is the caller's one-time-use record of [`VerifiedAssertion::replay_key`]
//! until [`VerifiedAssertion::expires_at`]; [`OneTimeIds`] is that record in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use roxmltree::{Document, Node};

use crate::cert::{Certificate, RsaKey};
use crate::dsig::{verify_enveloped, Policy, Verified};
use crate::names::*;
use crate::xml::{self, children, required_child, simple_text, single_child};
use crate::{clip, encrypted, instant, Check, IdpMetadata, Rejection};

/// The bound on a decoded response (and on a decrypted assertion).
pub const DEFAULT_MAX_SIZE: usize = 256 * 1024;
/// Clock skew allowed on every time check, in seconds.
pub const DEFAULT_SKEW: i64 = 120;

/// What the response must match. `now` is passed in: nothing here reads a clock.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    pub idp_entity_id: &'a str,
    /// Every signing certificate of the IdP metadata (several during a rotation).
    pub idp_certificates: &'a [Certificate],
    /// RSA-SHA1 signatures and SHA-1 digests; off unless the provider is configured so.
    pub allow_sha1: bool,
    /// This SP's entity id, the audience (`urn:amazon:cognito:sp:<pool-id>`).
    pub sp_entity_id: &'a str,
    /// This ACS URL: the Response Destination and the bearer confirmation's Recipient.
    pub acs_url: &'a str,
    pub now: i64,
    pub skew: i64,
    /// The ID of the AuthnRequest pending for this browser, if any. The caller marks it
    /// answered when the response is accepted ([`VerifiedAssertion::in_response_to`]).
    pub in_response_to: Option<&'a str>,
    /// IdP-initiated sign-in (Cognito's IDPInit): a response without InResponseTo is accepted.
    pub allow_unsolicited: bool,
    /// The SP key for EncryptedAssertion (Cognito's EncryptedResponses); `None` refuses them.
    pub decryption_key: Option<&'a RsaKey>,
    pub max_size: usize,
}

impl<'a> Expectations<'a> {
    /// The defaults: SHA-1 off, skew [`DEFAULT_SKEW`], no pending request, unsolicited off,
    /// no decryption key, [`DEFAULT_MAX_SIZE`].
    pub fn new(idp: &'a IdpMetadata, sp_entity_id: &'a str, acs_url: &'a str, now: i64) -> Self {
        Self {
            idp_entity_id: &idp.entity_id,
            idp_certificates: &idp.signing_certificates,
            allow_sha1: false,
            sp_entity_id,
            acs_url,
            now,
            skew: DEFAULT_SKEW,
            in_response_to: None,
            allow_unsolicited: false,
            decryption_key: None,
            max_size: DEFAULT_MAX_SIZE,
        }
    }
}

/// Which element a verified signature covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedKind {
    Response,
    Assertion,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedElement {
    pub kind: SignedKind,
    pub id: String,
}

/// An accepted assertion: the values read from the very element whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub assertion_id: String,
    pub response_id: String,
    /// Until when a replay must still be refused: the earliest NotOnOrAfter plus the skew.
    pub expires_at: i64,
    pub issuer: String,
    /// The whole NameID text (comments inside it do not cut it short).
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    /// Attribute Name → its values, in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The AuthnRequest this answers (`None`: IdP-initiated).
    pub in_response_to: Option<String>,
    /// SHA-256 fingerprint of the metadata certificate that verified it.
    pub certificate_fingerprint: String,
    /// The signed elements (the response, the assertion, or both).
    pub signed: Vec<SignedElement>,
    pub encrypted: bool,
}

impl VerifiedAssertion {
    /// The one-time-use key: SHA-256 over the issuer and the assertion ID.
    pub fn replay_key(&self) -> String {
        let material = format!("saml-assertion\0{}\0{}", self.issuer, self.assertion_id);
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.as_bytes()))
    }

    /// The refusal of a second use, for a caller whose one-time-use record said "seen".
    pub fn replayed(&self) -> Rejection {
        Rejection::new(Check::Replay, format!("assertion ID {} was already accepted", clip(&self.assertion_id)))
    }
}

/// An in-memory one-time-use record of assertion IDs, each kept until its expiry.
#[derive(Debug, Default)]
pub struct OneTimeIds {
    seen: Mutex<HashMap<String, i64>>,
}

impl OneTimeIds {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the assertion; a second use before its expiry is refused.
    pub fn first_use(&self, assertion: &VerifiedAssertion, now: i64) -> Result<(), Rejection> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, expires| *expires >= now);
        match seen.entry(assertion.replay_key()) {
            std::collections::hash_map::Entry::Occupied(_) => Err(assertion.replayed()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(assertion.expires_at);
                Ok(())
            }
        }
    }
}

/// Verifies the `SAMLResponse` form value of an HTTP-POST binding (base64, line breaks allowed).
pub fn verify_response(saml_response: &str, expect: &Expectations) -> Result<VerifiedAssertion, Rejection> {
    let limit = expect.max_size;
    if saml_response.len() > limit / 3 * 4 + limit / 16 + 1024 {
        return Err(Rejection::new(
            Check::Size,
            format!("SAMLResponse is {} bytes; the bound is {limit} decoded", saml_response.len()),
        ));
    }
    let compact: String = saml_response.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD.decode(compact).map_err(|_| Rejection::new(Check::Malformed, "SAMLResponse is not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| Rejection::new(Check::Malformed, "the response is not UTF-8"))?;
    verify_response_xml(&text, expect)
}

/// Verifies a response already decoded from the binding.
pub fn verify_response_xml(text: &str, expect: &Expectations) -> Result<VerifiedAssertion, Rejection> {
    if text.len() > expect.max_size {
        return Err(Rejection::new(
            Check::Size,
            format!("response is {} bytes; the bound is {}", text.len(), expect.max_size),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = xml::parse(text)?;
    let response = doc.root_element();
    if !xml::is(response, SAMLP, "Response") {
        return Err(Rejection::new(
            Check::Malformed,
            format!("the document is a {}, not a samlp:Response", clip(response.tag_name().name())),
        ));
    }
    check_version(response, "Response")?;
    let response_id = required_attribute(response, "ID", "Response")?.to_string();
    unique_ids(&doc)?;
    let assertion = the_one_assertion(&doc, response)?;
    check_signature_places(&doc, response, None)?;
    check_status(response)?;

    let policy = Policy { certificates: expect.idp_certificates, allow_sha1: expect.allow_sha1 };
    let response_signature = verify_enveloped(response, "response", &policy)?;
    check_response_issuer(response, expect)?;
    let destination = response.attribute("Destination").unwrap_or("");
    if destination != expect.acs_url {
        return Err(Rejection::new(
            Check::Destination,
            format!("Response Destination \"{}\" ≠ {}", clip(destination), expect.acs_url),
        ));
    }
    let facts = ResponseFacts {
        id: response_id,
        in_response_to: response.attribute("InResponseTo"),
        signature: response_signature,
    };

    if xml::is(assertion, SAML, "EncryptedAssertion") {
        let key = expect.decryption_key.ok_or_else(|| {
            Rejection::new(
                Check::Decryption,
                "the assertion is encrypted but no SP decryption key is configured (EncryptedResponses off)",
            )
        })?;
        let plain = encrypted::decrypt(assertion, key)?;
        if plain.len() > expect.max_size {
            return Err(Rejection::new(Check::Size, "the decrypted assertion is over the size bound"));
        }
        // The decrypted element may use prefixes declared outside it: the wrapper restates them.
        let mut wrapper = String::from("<decrypted");
        for ns in assertion.namespaces().filter(|ns| ns.name() != Some("xml")) {
            match ns.name() {
                Some(p) => wrapper.push_str(&format!(" xmlns:{p}=\"{}\"", xml::escape_attribute(ns.uri()))),
                None => wrapper.push_str(&format!(" xmlns=\"{}\"", xml::escape_attribute(ns.uri()))),
            }
        }
        let wrapped = format!("{wrapper}>{plain}</decrypted>");
        let inner = xml::parse(&wrapped).map_err(|r| match r.check {
            Check::Dtd => r,
            _ => Rejection::new(Check::Decryption, "the encrypted assertion does not decrypt with the SP's key"),
        })?;
        let root = inner.root_element();
        let elements: Vec<Node> = root.children().filter(|c| c.is_element()).collect();
        let stray_text = root.children().any(|c| c.is_text() && !c.text().unwrap_or_default().trim().is_empty());
        if elements.len() != 1 || !xml::is(elements[0], SAML, "Assertion") || stray_text {
            return Err(Rejection::new(Check::Malformed, "the decrypted content is not one saml:Assertion"));
        }
        unique_ids(&inner)?;
        let nested = inner.descendants().filter(|n| is_assertion(*n)).count();
        if nested != 1 {
            return Err(Rejection::new(
                Check::AssertionCount,
                format!("exactly one assertion is accepted; the encrypted one holds {nested}"),
            ));
        }
        let decrypted = elements[0];
        if decrypted.attribute("ID") == Some(facts.id.as_str()) {
            return Err(Rejection::new(Check::DuplicateId, "the decrypted assertion has the Response's ID"));
        }
        check_signature_places(&inner, decrypted, Some(decrypted))?;
        read_assertion(decrypted, &facts, expect, &policy, true)
    } else {
        read_assertion(assertion, &facts, expect, &policy, false)
    }
}

struct ResponseFacts<'a> {
    id: String,
    in_response_to: Option<&'a str>,
    signature: Option<Verified>,
}

fn required_attribute<'a>(node: Node<'a, '_>, name: &str, what: &str) -> Result<&'a str, Rejection> {
    node.attribute(name).ok_or_else(|| Rejection::new(Check::Malformed, format!("{what} has no {name}")))
}

fn check_version(node: Node, what: &str) -> Result<(), Rejection> {
    match node.attribute("Version") {
        Some("2.0") => Ok(()),
        other => Err(Rejection::new(Check::Malformed, format!("{what} Version {:?} is not 2.0", other.map(clip)))),
    }
}

fn is_assertion(node: Node) -> bool {
    xml::is(node, SAML, "Assertion") || xml::is(node, SAML, "EncryptedAssertion")
}

/// No two elements share an ID: a reference `#id` then names one element only.
fn unique_ids(doc: &Document) -> Result<(), Rejection> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attribute in node.attributes().filter(|a| a.namespace().is_none() && matches!(a.name(), "ID" | "Id" | "id"))
        {
            if let Some(first) = seen.insert(attribute.value(), node.tag_name().name()) {
                return Err(Rejection::new(
                    Check::DuplicateId,
                    format!(
                        "ID {} is on two elements ({first} and {})",
                        clip(attribute.value()),
                        node.tag_name().name()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Exactly one assertion (plain or encrypted) in the whole document, and it is a child of the
/// Response: an assertion hidden anywhere else (Extensions, a signature's Object, inside another
/// assertion) is how signature-wrapping smuggles a signed element beside the one used.
fn the_one_assertion<'a, 'i>(doc: &'a Document<'i>, response: Node<'a, 'i>) -> Result<Node<'a, 'i>, Rejection> {
    let found: Vec<Node> = doc.descendants().filter(|n| is_assertion(*n)).collect();
    let describe = |n: &Node| {
        let parent = n.parent_element().map_or("document", |p| p.tag_name().name());
        format!("#{} in {parent}", clip(n.attribute("ID").unwrap_or("(no ID)")))
    };
    match found.as_slice() {
        [one] if one.parent() == Some(response) => Ok(*one),
        [one] => Err(Rejection::new(
            Check::AssertionCount,
            format!("the assertion {} is not a child of the Response", describe(one)),
        )),
        [] => Err(Rejection::new(Check::AssertionCount, "the response holds no assertion")),
        many => Err(Rejection::new(
            Check::AssertionCount,
            format!(
                "exactly one assertion is accepted; found {} ({})",
                many.len(),
                many.iter().map(describe).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// Signatures may sit only in the Response and in the assertion: one anywhere else is no part of
/// this profile and would only serve to confuse which element is signed.
fn check_signature_places(
    doc: &Document,
    response_or_assertion: Node,
    decrypted: Option<Node>,
) -> Result<(), Rejection> {
    for signature in doc.descendants().filter(|n| xml::is(*n, DS, "Signature")) {
        let parent = signature.parent_element();
        let allowed = match decrypted {
            Some(assertion) => parent == Some(assertion),
            None => {
                parent == Some(response_or_assertion)
                    || parent
                        .is_some_and(|p| xml::is(p, SAML, "Assertion") && p.parent() == Some(response_or_assertion))
            }
        };
        if !allowed {
            let place = parent.map_or("the document", |p| p.tag_name().name());
            return Err(Rejection::new(Check::SignatureProfile, format!("a signature inside {place} is not accepted")));
        }
    }
    Ok(())
}

fn check_status(response: Node) -> Result<(), Rejection> {
    let status = required_child(response, SAMLP, "Status")?;
    let code = required_child(status, SAMLP, "StatusCode")?;
    let value = code.attribute("Value").unwrap_or("");
    if value == STATUS_SUCCESS {
        return Ok(());
    }
    let sub =
        child_attribute(code, SAMLP, "StatusCode", "Value").map(|s| format!(" / {}", clip(s))).unwrap_or_default();
    let message = single_child(status, SAMLP, "StatusMessage")?
        .map(|m| format!(" (\"{}\")", clip(&xml::text(m))))
        .unwrap_or_default();
    Err(Rejection::new(Check::Status, format!("the IdP answered {}{sub}{message}", clip(value))))
}

fn child_attribute<'a>(node: Node<'a, '_>, ns: &'a str, local: &'a str, attribute: &str) -> Option<&'a str> {
    xml::child(node, ns, local).and_then(|c| c.attribute(attribute))
}

fn check_issuer(issuer: Node, what: &str, expect: &Expectations) -> Result<String, Rejection> {
    let value = simple_text(issuer)?;
    if value != expect.idp_entity_id {
        return Err(Rejection::new(
            Check::Issuer,
            format!("{what} Issuer {} ≠ {}", clip(&value), expect.idp_entity_id),
        ));
    }
    if let Some(format) = issuer.attribute("Format").filter(|f| *f != NAMEID_ENTITY) {
        return Err(Rejection::new(Check::Issuer, format!("{what} Issuer Format {} is not entity", clip(format))));
    }
    Ok(value)
}

fn check_response_issuer(response: Node, expect: &Expectations) -> Result<(), Rejection> {
    // Optional on the Response (SAML core 3.2.2); when present it must name the IdP.
    if let Some(issuer) = single_child(response, SAML, "Issuer")? {
        check_issuer(issuer, "Response", expect)?;
    }
    Ok(())
}

fn time_attribute(node: Node, name: &str, what: &str) -> Result<Option<i64>, Rejection> {
    node.attribute(name).map(|v| instant::parse(v, what)).transpose()
}

fn not_before(at: i64, what: &str, expect: &Expectations) -> Result<(), Rejection> {
    if at > expect.now + expect.skew {
        return Err(Rejection::new(
            Check::Time,
            format!(
                "{what} {} is {} s after now ({}; skew {} s)",
                instant::format(at),
                at - expect.now,
                instant::format(expect.now),
                expect.skew
            ),
        ));
    }
    Ok(())
}

fn not_on_or_after(at: i64, what: &str, expect: &Expectations) -> Result<(), Rejection> {
    if expect.now - expect.skew >= at {
        return Err(Rejection::new(
            Check::Time,
            format!(
                "{what} {} passed {} s ago (now {}; skew {} s)",
                instant::format(at),
                expect.now - at,
                instant::format(expect.now),
                expect.skew
            ),
        ));
    }
    Ok(())
}

fn read_assertion(
    assertion: Node,
    response: &ResponseFacts,
    expect: &Expectations,
    policy: &Policy,
    encrypted: bool,
) -> Result<VerifiedAssertion, Rejection> {
    check_version(assertion, "Assertion")?;
    let assertion_id = required_attribute(assertion, "ID", "Assertion")?.to_string();
    let assertion_signature = verify_enveloped(assertion, "assertion", policy)?;
    let mut signed = Vec::new();
    let mut fingerprint = None;
    if let Some(v) = &response.signature {
        signed.push(SignedElement { kind: SignedKind::Response, id: v.id.clone() });
        fingerprint = Some(v.fingerprint.clone());
    }
    if let Some(v) = &assertion_signature {
        signed.push(SignedElement { kind: SignedKind::Assertion, id: v.id.clone() });
        fingerprint = Some(v.fingerprint.clone());
    }
    let Some(certificate_fingerprint) = fingerprint else {
        return Err(Rejection::new(
            Check::Unsigned,
            format!(
                "neither the response #{} nor the assertion #{} is signed",
                clip(&response.id),
                clip(&assertion_id)
            ),
        ));
    };

    let issuer = check_issuer(required_child(assertion, SAML, "Issuer")?, "assertion", expect)?;
    let issue_instant =
        instant::parse(required_attribute(assertion, "IssueInstant", "Assertion")?, "assertion IssueInstant")?;
    not_before(issue_instant, "assertion IssueInstant", expect)?;

    // Conditions: times and the audience.
    let conditions = single_child(assertion, SAML, "Conditions")?.ok_or_else(|| {
        Rejection::new(Check::Audience, "the assertion has no Conditions, so no AudienceRestriction for this SP")
    })?;
    if let Some(at) = time_attribute(conditions, "NotBefore", "Conditions NotBefore")? {
        not_before(at, "assertion Conditions NotBefore", expect)?;
    }
    let conditions_end = time_attribute(conditions, "NotOnOrAfter", "Conditions NotOnOrAfter")?;
    if let Some(at) = conditions_end {
        not_on_or_after(at, "assertion Conditions NotOnOrAfter", expect)?;
    }
    check_audience(conditions, expect)?;

    // Subject: NameID and a bearer confirmation for this ACS.
    let subject = required_child(assertion, SAML, "Subject")?;
    if xml::child(subject, SAML, "EncryptedID").is_some() {
        return Err(Rejection::new(Check::Malformed, "an EncryptedID subject is not supported"));
    }
    let name_id_node = required_child(subject, SAML, "NameID")?;
    let name_id = simple_text(name_id_node)?;
    if name_id.is_empty() {
        return Err(Rejection::new(Check::Malformed, "the assertion's NameID is empty"));
    }
    let name_id_format = name_id_node.attribute("Format").map(str::to_string);
    let (confirmation_end, confirmation_in_response_to) = check_bearer(subject, expect)?;

    // InResponseTo: the pending AuthnRequest of this browser, or IdP-initiated when allowed.
    let in_response_to = match (response.in_response_to, confirmation_in_response_to) {
        (Some(r), Some(c)) if r != c => {
            return Err(Rejection::new(
                Check::InResponseTo,
                format!("Response InResponseTo {} ≠ SubjectConfirmationData InResponseTo {}", clip(r), clip(c)),
            ))
        }
        (r, c) => r.or(c),
    };
    match (in_response_to, expect.in_response_to) {
        (Some(found), Some(pending)) if found == pending => {}
        (Some(found), _) => {
            return Err(Rejection::new(
                Check::InResponseTo,
                format!("InResponseTo {} unknown or already answered", clip(found)),
            ))
        }
        (None, _) if expect.allow_unsolicited => {}
        (None, _) => {
            return Err(Rejection::new(
                Check::Unsolicited,
                "unsolicited response (no InResponseTo) while IdP-initiated sign-in is off",
            ))
        }
    }

    let mut session_index = None;
    for statement in children(assertion, SAML, "AuthnStatement") {
        if let Some(end) = time_attribute(statement, "SessionNotOnOrAfter", "SessionNotOnOrAfter")? {
            not_on_or_after(end, "AuthnStatement SessionNotOnOrAfter", expect)?;
        }
        session_index = session_index.or(statement.attribute("SessionIndex").map(str::to_string));
    }
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in children(assertion, SAML, "AttributeStatement") {
        for attribute in children(statement, SAML, "Attribute") {
            let name = required_attribute(attribute, "Name", "Attribute")?;
            let values = attributes.entry(name.to_string()).or_default();
            values.extend(children(attribute, SAML, "AttributeValue").map(|v| xml::text(v).trim().to_string()));
        }
    }

    let expires_at = conditions_end.map_or(confirmation_end, |c| c.min(confirmation_end)) + expect.skew;
    Ok(VerifiedAssertion {
        assertion_id,
        response_id: response.id.clone(),
        expires_at,
        issuer,
        name_id,
        name_id_format,
        session_index,
        attributes,
        in_response_to: in_response_to.map(str::to_string),
        certificate_fingerprint,
        signed,
        encrypted,
    })
}

/// Every AudienceRestriction must name this SP (restrictions are ANDed, audiences within one ORed).
fn check_audience(conditions: Node, expect: &Expectations) -> Result<(), Rejection> {
    let restrictions: Vec<Node> = children(conditions, SAML, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(Rejection::new(
            Check::Audience,
            format!("the assertion has no AudienceRestriction (expected {})", expect.sp_entity_id),
        ));
    }
    for restriction in restrictions {
        let audiences = children(restriction, SAML, "Audience").map(simple_text).collect::<Result<Vec<_>, _>>()?;
        if !audiences.iter().any(|a| a == expect.sp_entity_id) {
            let found: Vec<String> = audiences.iter().map(|a| clip(a)).collect();
            return Err(Rejection::new(
                Check::Audience,
                format!("assertion Audience {} ≠ {}", found.join(", "), expect.sp_entity_id),
            ));
        }
    }
    Ok(())
}

/// The first bearer SubjectConfirmation whose data holds; when none does, why the first failed.
/// Returns its NotOnOrAfter and InResponseTo.
fn check_bearer<'a>(subject: Node<'a, '_>, expect: &Expectations) -> Result<(i64, Option<&'a str>), Rejection> {
    let confirmations: Vec<Node> = children(subject, SAML, "SubjectConfirmation").collect();
    let bearers: Vec<Node> =
        confirmations.iter().copied().filter(|c| c.attribute("Method") == Some(CM_BEARER)).collect();
    if bearers.is_empty() {
        let methods: Vec<String> =
            confirmations.iter().map(|c| clip(c.attribute("Method").unwrap_or("(none)"))).collect();
        return Err(Rejection::new(
            Check::SubjectConfirmation,
            format!(
                "no bearer SubjectConfirmation (methods found: {})",
                if methods.is_empty() { "none".into() } else { methods.join(", ") }
            ),
        ));
    }
    let mut first_failure = None;
    for bearer in bearers {
        match check_confirmation_data(bearer, expect) {
            Ok(found) => return Ok(found),
            Err(rejection) => {
                first_failure.get_or_insert(rejection);
            }
        }
    }
    Err(first_failure.expect("at least one bearer confirmation was checked"))
}

fn check_confirmation_data<'a>(
    bearer: Node<'a, '_>,
    expect: &Expectations,
) -> Result<(i64, Option<&'a str>), Rejection> {
    let data = single_child(bearer, SAML, "SubjectConfirmationData")?.ok_or_else(|| {
        Rejection::new(Check::SubjectConfirmation, "the bearer SubjectConfirmation has no SubjectConfirmationData")
    })?;
    let recipient = data.attribute("Recipient").unwrap_or("");
    if recipient != expect.acs_url {
        return Err(Rejection::new(
            Check::Recipient,
            format!("SubjectConfirmationData Recipient \"{}\" ≠ {}", clip(recipient), expect.acs_url),
        ));
    }
    if let Some(at) = time_attribute(data, "NotBefore", "SubjectConfirmationData NotBefore")? {
        not_before(at, "SubjectConfirmationData NotBefore", expect)?;
    }
    let end = time_attribute(data, "NotOnOrAfter", "SubjectConfirmationData NotOnOrAfter")?.ok_or_else(|| {
        Rejection::new(Check::SubjectConfirmation, "the bearer SubjectConfirmationData has no NotOnOrAfter")
    })?;
    not_on_or_after(end, "SubjectConfirmationData NotOnOrAfter", expect)?;
    Ok((end, data.attribute("InResponseTo")))
}
