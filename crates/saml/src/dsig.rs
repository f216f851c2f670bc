//! Enveloped XML signatures under the SAML profile (SAML core §5.4), and nothing else: the
//! `ds:Signature` is a child of the element it signs; `SignedInfo` is exactly
//! CanonicalizationMethod (exclusive C14N), SignatureMethod, one Reference; the Reference URI is
//! `#` + the ID of that parent element; its transforms are exactly enveloped-signature then
//! exclusive C14N (an InclusiveNamespaces PrefixList allowed); digest SHA-256/384/512 (SHA-1
//! only when allowed); no `ds:Object`, no XPath, no other reference form. The verifying key is
//! one of the IdP metadata's certificates; a `KeyInfo` in the message only names which one.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use roxmltree::Node;
use subtle::ConstantTimeEq;

use crate::c14n::canonicalize;
use crate::cert::{decode_base64, Certificate, KeyKind, RsaKey};
use crate::names::*;
use crate::xml::{self, children, required_child};
use crate::{clip, Check, Rejection};

/// Which key verified which element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub id: String,
    pub fingerprint: String,
}

pub struct Policy<'a> {
    pub certificates: &'a [Certificate],
    pub allow_sha1: bool,
}

fn profile(detail: impl Into<String>) -> Rejection {
    Rejection::new(Check::SignatureProfile, detail)
}

fn algorithm_attribute<'a>(node: Node<'a, '_>) -> Result<&'a str, Rejection> {
    node.attribute("Algorithm")
        .ok_or_else(|| Rejection::new(Check::Malformed, format!("{} has no Algorithm", node.tag_name().name())))
}

/// The element children of `node`, which must be exactly `names` (in the DS namespace) in order.
fn exactly<'a, 'i>(node: Node<'a, 'i>, names: &[&str]) -> Result<Vec<Node<'a, 'i>>, Rejection> {
    let found: Vec<Node> = node.children().filter(|c| c.is_element()).collect();
    let ok = found.len() == names.len() && found.iter().zip(names).all(|(n, name)| xml::is(*n, DS, name));
    if !ok {
        let seen: Vec<&str> = found.iter().map(|n| n.tag_name().name()).collect();
        return Err(profile(format!(
            "{} holds [{}]; the SAML profile allows exactly [{}]",
            node.tag_name().name(),
            seen.join(", "),
            names.join(", ")
        )));
    }
    Ok(found)
}

/// The PrefixList of an `ec:InclusiveNamespaces` child of a C14N method or transform.
fn inclusive_prefixes<'a>(method: Node<'a, '_>) -> Result<Vec<&'a str>, Rejection> {
    let mut prefixes = Vec::new();
    for child in method.children().filter(|c| c.is_element()) {
        if !xml::is(child, EXC_C14N_NS, "InclusiveNamespaces") {
            return Err(profile(format!("unexpected {} in a canonicalization method", child.tag_name().name())));
        }
        prefixes.extend(child.attribute("PrefixList").unwrap_or_default().split_ascii_whitespace());
    }
    Ok(prefixes)
}

fn digest_algorithm(uri: &str, allow_sha1: bool) -> Result<&'static digest::Algorithm, Rejection> {
    Ok(match uri {
        SHA256 => &digest::SHA256,
        SHA384 => &digest::SHA384,
        SHA512 => &digest::SHA512,
        SHA1 if allow_sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        SHA1 => return Err(profile("digest SHA-1 is refused (SHA-1 is allowed only when configured)")),
        other => return Err(profile(format!("digest algorithm {} is not accepted", clip(other)))),
    })
}

fn signature_algorithm(
    uri: &str,
    kind: KeyKind,
    allow_sha1: bool,
) -> Result<Option<&'static dyn VerificationAlgorithm>, Rejection> {
    let alg: &'static dyn VerificationAlgorithm = match (uri, kind) {
        (RSA_SHA1, _) if !allow_sha1 => {
            return Err(profile(
                "signature algorithm rsa-sha1 (SHA-1) is refused; SHA-1 is allowed only when configured",
            ))
        }
        (RSA_SHA1, KeyKind::Rsa) => &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (RSA_SHA256, KeyKind::Rsa) => &sig::RSA_PKCS1_2048_8192_SHA256,
        (RSA_SHA384, KeyKind::Rsa) => &sig::RSA_PKCS1_2048_8192_SHA384,
        (RSA_SHA512, KeyKind::Rsa) => &sig::RSA_PKCS1_2048_8192_SHA512,
        (ECDSA_SHA256, KeyKind::EcP256) => &sig::ECDSA_P256_SHA256_FIXED,
        (ECDSA_SHA384, KeyKind::EcP384) => &sig::ECDSA_P384_SHA384_FIXED,
        // A known algorithm this certificate's key cannot have made.
        (RSA_SHA1 | RSA_SHA256 | RSA_SHA384 | RSA_SHA512 | ECDSA_SHA256 | ECDSA_SHA384 | ECDSA_SHA512, _) => {
            return Ok(None)
        }
        (other, _) => return Err(profile(format!("signature algorithm {} is not accepted", clip(other)))),
    };
    Ok(Some(alg))
}

/// Verifies the signature that is a child of `element` (`what` names it in details: "response",
/// "assertion"). `Ok(None)`: the element carries no signature.
pub fn verify_enveloped(element: Node, what: &str, policy: &Policy) -> Result<Option<Verified>, Rejection> {
    let mut signatures = children(element, DS, "Signature");
    let Some(signature) = signatures.next() else { return Ok(None) };
    if signatures.next().is_some() {
        return Err(profile(format!("the {what} carries more than one signature")));
    }
    let id = element
        .attribute("ID")
        .ok_or_else(|| Rejection::new(Check::Malformed, format!("the signed {what} has no ID")))?;

    let parts = signature.children().filter(|c| c.is_element()).collect::<Vec<_>>();
    if parts
        .iter()
        .any(|p| !(xml::is(*p, DS, "SignedInfo") || xml::is(*p, DS, "SignatureValue") || xml::is(*p, DS, "KeyInfo")))
    {
        return Err(profile("a signature may hold only SignedInfo, SignatureValue and KeyInfo (no Object)"));
    }
    let signed_info = required_child(signature, DS, "SignedInfo")?;
    let signature_value = required_child(signature, DS, "SignatureValue")?;
    let [c14n_method, signature_method, reference] =
        exactly(signed_info, &["CanonicalizationMethod", "SignatureMethod", "Reference"])?[..]
    else {
        unreachable!("exactly() returned three nodes")
    };

    let c14n = algorithm_attribute(c14n_method)?;
    if c14n != EXC_C14N {
        return Err(profile(format!(
            "canonicalization {} is refused; only exclusive C14N without comments",
            clip(c14n)
        )));
    }
    let signed_info_prefixes = inclusive_prefixes(c14n_method)?;
    let signature_uri = algorithm_attribute(signature_method)?;
    if signature_method.children().any(|c| c.is_element()) {
        return Err(profile("SignatureMethod parameters (HMACOutputLength) are refused"));
    }

    // The reference must name the element the signature sits in: the element that is used.
    let uri = reference.attribute("URI").unwrap_or("");
    let covers = uri.strip_prefix('#').filter(|r| !r.is_empty());
    match covers {
        Some(target) if target == id => {}
        Some(target) => {
            return Err(Rejection::new(
                Check::SignedElement,
                format!("signature covers #{}, {what} used is #{}", clip(target), clip(id)),
            ))
        }
        None => {
            return Err(Rejection::new(
                Check::SignedElement,
                format!("signature reference URI \"{}\" is not #{} ({what} used)", clip(uri), clip(id)),
            ))
        }
    }
    let [transforms, digest_method, digest_value] =
        exactly(reference, &["Transforms", "DigestMethod", "DigestValue"])?[..]
    else {
        unreachable!("exactly() returned three nodes")
    };
    let [enveloped, exc] = exactly(transforms, &["Transform", "Transform"])?[..] else {
        unreachable!("exactly() returned two nodes")
    };
    let (first, second) = (algorithm_attribute(enveloped)?, algorithm_attribute(exc)?);
    if first != ENVELOPED || second != EXC_C14N || enveloped.children().any(|c| c.is_element()) {
        return Err(profile(format!(
            "transforms [{}, {}] refused; the profile is [enveloped-signature, exclusive C14N]",
            clip(first),
            clip(second)
        )));
    }
    let reference_prefixes = inclusive_prefixes(exc)?;
    let digest_alg = digest_algorithm(algorithm_attribute(digest_method)?, policy.allow_sha1)?;

    // The signature over SignedInfo, with a key from the metadata.
    let signed_info_c14n = canonicalize(signed_info, None, &signed_info_prefixes);
    let value = decode_base64(&xml::text(signature_value))
        .ok_or_else(|| Rejection::new(Check::Malformed, "SignatureValue is not base64"))?;
    let mut any_kind_fits = false;
    let mut verified_by = None;
    for certificate in policy.certificates {
        let Some(alg) = signature_algorithm(signature_uri, certificate.kind(), policy.allow_sha1)? else { continue };
        any_kind_fits = true;
        if UnparsedPublicKey::new(alg, certificate.public_key()).verify(signed_info_c14n.as_bytes(), &value).is_ok() {
            verified_by = Some(certificate);
            break;
        }
    }
    let Some(certificate) = verified_by else {
        return Err(Rejection::new(Check::Signature, unverified_detail(signature, what, policy, any_kind_fits)));
    };

    // The digest of the element itself, without this signature.
    let canonical = canonicalize(element, Some(signature.id()), &reference_prefixes);
    let expected = decode_base64(&xml::text(digest_value))
        .ok_or_else(|| Rejection::new(Check::Malformed, "DigestValue is not base64"))?;
    let actual = digest::digest(digest_alg, canonical.as_bytes());
    if !bool::from(actual.as_ref().ct_eq(&expected)) {
        return Err(Rejection::new(
            Check::Signature,
            format!("digest of the {what} #{} does not match its signature: the signed content was changed", clip(id)),
        ));
    }
    Ok(Some(Verified { id: id.to_string(), fingerprint: certificate.fingerprint().to_string() }))
}

/// Why no metadata key verified: the KeyInfo certificate's fingerprint when it is not in the
/// metadata, else a plain "does not verify".
fn unverified_detail(signature: Node, what: &str, policy: &Policy, any_kind_fits: bool) -> String {
    let presented = signature
        .descendants()
        .find(|n| xml::is(*n, DS, "X509Certificate"))
        .and_then(|n| Certificate::from_base64(&xml::text(n)).ok());
    let known: Vec<&str> = policy.certificates.iter().map(|c| &c.fingerprint()[..16]).collect();
    match presented {
        Some(c) if !policy.certificates.iter().any(|k| k.fingerprint() == c.fingerprint()) => format!(
            "the {what} is signed with certificate sha256 {}…, which is not in the IdP metadata (sha256 {}…)",
            &c.fingerprint()[..16],
            known.join("…, ")
        ),
        _ if !any_kind_fits => format!("no IdP metadata certificate has a key for the {what}'s signature algorithm"),
        _ => {
            format!("the {what}'s signature does not verify with any of the {} IdP metadata certificates", known.len())
        }
    }
}

/// Signs the element with ID `id` in `xml` (an element whose Issuer child exists), inserting the
/// `ds:Signature` right after that Issuer as the schema orders it.
pub fn sign_enveloped(xml_text: &str, id: &str, key: &RsaKey, certificate: &Certificate) -> String {
    let doc = roxmltree::Document::parse(xml_text).expect("own XML parses");
    let element = doc.descendants().find(|n| n.attribute("ID") == Some(id)).expect("element to sign");
    let prefixes = ["xs"];
    let canonical = canonicalize(element, None, &prefixes);
    let digest_value = STANDARD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
    let signed_info = format!(
        "<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/>\
         <ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"/><ds:Reference URI=\"#{id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{EXC_C14N}\">\
         <ec:InclusiveNamespaces xmlns:ec=\"{EXC_C14N_NS}\" PrefixList=\"xs\"/></ds:Transform></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue>{digest_value}</ds:DigestValue>\
         </ds:Reference></ds:SignedInfo>"
    );
    let wrapped = format!("<ds:Signature xmlns:ds=\"{DS}\">{signed_info}</ds:Signature>");
    let signed_info_doc = roxmltree::Document::parse(&wrapped).expect("own SignedInfo parses");
    let signed_info_node = signed_info_doc.root_element().first_element_child().expect("SignedInfo");
    let to_sign = canonicalize(signed_info_node, None, &[]);
    let signature_value = STANDARD.encode(key.sign(to_sign.as_bytes()));
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{DS}\">{signed_info}<ds:SignatureValue>{signature_value}</ds:SignatureValue>\
         <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        certificate.base64()
    );
    let issuer = element.children().find(|c| xml::is(*c, SAML, "Issuer")).expect("the signed element has an Issuer");
    let at = issuer.range().end;
    format!("{}{signature}{}", &xml_text[..at], &xml_text[at..])
}
