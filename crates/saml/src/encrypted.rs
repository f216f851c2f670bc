//! `saml:EncryptedAssertion` (XML Encryption 1.1, Element type): the content key transported
//! with RSA-OAEP to the SP's certificate, the assertion under AES-GCM or AES-CBC. RSA PKCS#1 v1.5
//! key transport is refused (Bleichenbacher), and every failure after the algorithms were read
//! gives one detail, so the refusals are no padding or format oracle. The decrypted assertion
//! must still be signed (or covered by the Response's signature): encryption is secrecy, not origin.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128, AES_256,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use roxmltree::Node;

use crate::cert::{decode_base64, Certificate, RsaKey};
use crate::names::*;
use crate::xml::{self, required_child, single_child};
use crate::{clip, error, Check, Error, Rejection};

/// The content encryption of an assertion the IdP side writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataEncryption {
    Aes128Gcm,
    Aes256Gcm,
    Aes128Cbc,
    Aes256Cbc,
}

impl DataEncryption {
    fn uri(self) -> &'static str {
        match self {
            DataEncryption::Aes128Gcm => AES128_GCM,
            DataEncryption::Aes256Gcm => AES256_GCM,
            DataEncryption::Aes128Cbc => AES128_CBC,
            DataEncryption::Aes256Cbc => AES256_CBC,
        }
    }

    fn from_uri(uri: &str) -> Option<Self> {
        [Self::Aes128Gcm, Self::Aes256Gcm, Self::Aes128Cbc, Self::Aes256Cbc].into_iter().find(|d| d.uri() == uri)
    }

    fn key_len(self) -> usize {
        match self {
            DataEncryption::Aes128Gcm | DataEncryption::Aes128Cbc => 16,
            DataEncryption::Aes256Gcm | DataEncryption::Aes256Cbc => 32,
        }
    }
}

fn unsupported(detail: impl Into<String>) -> Rejection {
    Rejection::new(Check::Decryption, detail)
}

/// The one detail of every failure that depends on the ciphertext.
fn undecryptable() -> Rejection {
    Rejection::new(Check::Decryption, "the encrypted assertion does not decrypt with the SP's key")
}

fn algorithm<'a>(method: Option<Node<'a, '_>>, what: &str) -> Result<&'a str, Rejection> {
    method
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or_else(|| Rejection::new(Check::Malformed, format!("{what} has no EncryptionMethod Algorithm")))
}

fn cipher_value(node: Node) -> Result<Vec<u8>, Rejection> {
    let data = required_child(node, XENC, "CipherData")?;
    let Some(value) = single_child(data, XENC, "CipherValue")? else {
        return Err(unsupported("CipherReference is not followed: the ciphertext must be in the message"));
    };
    decode_base64(&xml::text(value)).ok_or_else(|| Rejection::new(Check::Malformed, "CipherValue is not base64"))
}

/// The OAEP parameters an EncryptedKey's EncryptionMethod names.
fn oaep(method: Node) -> Result<&'static OaepAlgorithm, Rejection> {
    let uri = algorithm(Some(method), "EncryptedKey")?;
    let digest = single_child(method, DS, "DigestMethod")?.and_then(|d| d.attribute("Algorithm")).unwrap_or(SHA1);
    let mgf = single_child(method, XENC11, "MGF")?.and_then(|m| m.attribute("Algorithm")).unwrap_or(MGF1_SHA1);
    if single_child(method, XENC, "OAEPparams")?.is_some_and(|p| !xml::text(p).trim().is_empty()) {
        return Err(unsupported("RSA-OAEP with OAEPparams (a label) is not supported"));
    }
    match (uri, digest, mgf) {
        (RSA_OAEP_MGF1P | RSA_OAEP, SHA1, MGF1_SHA1) => Ok(&OAEP_SHA1_MGF1SHA1),
        (RSA_OAEP, SHA256, MGF1_SHA256) => Ok(&OAEP_SHA256_MGF1SHA256),
        (RSA_OAEP, SHA384, MGF1_SHA384) => Ok(&OAEP_SHA384_MGF1SHA384),
        (RSA_OAEP, SHA512, MGF1_SHA512) => Ok(&OAEP_SHA512_MGF1SHA512),
        (RSA_OAEP_MGF1P | RSA_OAEP, _, _) => Err(unsupported(format!(
            "RSA-OAEP with digest {} and mask {} is not supported (digest and MGF1 hash must match)",
            clip(digest),
            clip(mgf)
        ))),
        (other, _, _) => Err(unsupported(format!(
            "key transport {} is refused; RSA-OAEP is required (RSA PKCS#1 v1.5 is not accepted)",
            clip(other)
        ))),
    }
}

/// Decrypts a `saml:EncryptedAssertion` to the assertion's XML text.
pub fn decrypt(encrypted_assertion: Node, key: &RsaKey) -> Result<String, Rejection> {
    let data = required_child(encrypted_assertion, XENC, "EncryptedData")?;
    if data.attribute("Type").is_some_and(|t| t != ENC_ELEMENT) {
        return Err(unsupported("EncryptedData must encrypt an element"));
    }
    let data_uri = algorithm(single_child(data, XENC, "EncryptionMethod")?, "EncryptedData")?;
    let content = DataEncryption::from_uri(data_uri)
        .ok_or_else(|| unsupported(format!("content encryption {} is not supported", clip(data_uri))))?;
    // The key is in the EncryptedData's KeyInfo or beside it in the EncryptedAssertion.
    let in_key_info =
        single_child(data, DS, "KeyInfo")?.into_iter().flat_map(|k| xml::children(k, XENC, "EncryptedKey"));
    let beside = xml::children(encrypted_assertion, XENC, "EncryptedKey");
    let encrypted_keys: Vec<Node> = in_key_info.chain(beside).collect();
    if encrypted_keys.is_empty() {
        return Err(Rejection::new(Check::Malformed, "the encrypted assertion carries no EncryptedKey"));
    }
    let private = OaepPrivateDecryptingKey::new(
        PrivateDecryptingKey::from_pkcs8(key.pkcs8_der())
            .map_err(|_| unsupported("the SP decryption key is not RSA"))?,
    )
    .map_err(|_| unsupported("the SP decryption key is not usable for RSA-OAEP"))?;
    let ciphertext = cipher_value(data)?;
    for encrypted_key in encrypted_keys {
        let method = required_child(encrypted_key, XENC, "EncryptionMethod")?;
        let oaep_alg = oaep(method)?;
        let wrapped = cipher_value(encrypted_key)?;
        let mut buffer = vec![0u8; private.min_output_size()];
        let Ok(content_key) = private.decrypt(oaep_alg, &wrapped, &mut buffer, None) else { continue };
        if content_key.len() != content.key_len() {
            continue;
        }
        let plaintext = decrypt_content(content, content_key, &ciphertext).ok_or_else(undecryptable)?;
        return String::from_utf8(plaintext).map_err(|_| undecryptable());
    }
    Err(undecryptable())
}

fn decrypt_content(content: DataEncryption, key: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    match content {
        DataEncryption::Aes128Gcm | DataEncryption::Aes256Gcm => {
            let alg = if content == DataEncryption::Aes128Gcm { &aead::AES_128_GCM } else { &aead::AES_256_GCM };
            let (iv, sealed) = ciphertext.split_at_checked(12)?;
            let key = LessSafeKey::new(UnboundKey::new(alg, key).ok()?);
            let mut in_out = sealed.to_vec();
            let nonce = Nonce::try_assume_unique_for_key(iv).ok()?;
            let plain = key.open_in_place(nonce, Aad::empty(), &mut in_out).ok()?;
            Some(plain.to_vec())
        }
        DataEncryption::Aes128Cbc | DataEncryption::Aes256Cbc => {
            let alg = if content == DataEncryption::Aes128Cbc { &AES_128 } else { &AES_256 };
            let (iv, body) = ciphertext.split_at_checked(16)?;
            if body.is_empty() || body.len() % 16 != 0 {
                return None;
            }
            let iv: [u8; 16] = iv.try_into().ok()?;
            let key = DecryptingKey::cbc(UnboundCipherKey::new(alg, key).ok()?).ok()?;
            let mut in_out = body.to_vec();
            let plain = key.decrypt(&mut in_out, DecryptionContext::Iv128(FixedLength::from(iv))).ok()?;
            // XML Encryption's padding: the last byte counts the padding bytes (ISO 10126).
            let pad = *plain.last()? as usize;
            if pad == 0 || pad > 16 || pad > plain.len() {
                return None;
            }
            let len = plain.len() - pad;
            Some(plain[..len].to_vec())
        }
    }
}

/// Encrypts an assertion's XML to `recipient` (RSA-OAEP, MGF1 with SHA-1, the SAML default),
/// as an `saml:EncryptedAssertion` element.
pub fn encrypt(assertion_xml: &str, recipient: &Certificate, content: DataEncryption) -> Result<String, Error> {
    let mut content_key = vec![0u8; content.key_len()];
    aws_lc_rs::rand::fill(&mut content_key).map_err(|_| error("no randomness"))?;
    let ciphertext = match content {
        DataEncryption::Aes128Gcm | DataEncryption::Aes256Gcm => {
            let alg = if content == DataEncryption::Aes128Gcm { &aead::AES_128_GCM } else { &aead::AES_256_GCM };
            let key = LessSafeKey::new(UnboundKey::new(alg, &content_key).map_err(|_| error("AES key"))?);
            let mut iv = [0u8; 12];
            aws_lc_rs::rand::fill(&mut iv).map_err(|_| error("no randomness"))?;
            let mut in_out = assertion_xml.as_bytes().to_vec();
            key.seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut in_out)
                .map_err(|_| error("AES-GCM encryption failed"))?;
            [&iv[..], &in_out].concat()
        }
        DataEncryption::Aes128Cbc | DataEncryption::Aes256Cbc => {
            let alg = if content == DataEncryption::Aes128Cbc { &AES_128 } else { &AES_256 };
            let key = EncryptingKey::cbc(UnboundCipherKey::new(alg, &content_key).map_err(|_| error("AES key"))?)
                .map_err(|_| error("AES-CBC key"))?;
            let mut iv = [0u8; 16];
            aws_lc_rs::rand::fill(&mut iv).map_err(|_| error("no randomness"))?;
            let mut in_out = assertion_xml.as_bytes().to_vec();
            let pad = 16 - in_out.len() % 16;
            in_out.extend(std::iter::repeat_n(pad as u8, pad));
            key.less_safe_encrypt(&mut in_out, EncryptionContext::Iv128(FixedLength::from(iv)))
                .map_err(|_| error("AES-CBC encryption failed"))?;
            [&iv[..], &in_out].concat()
        }
    };
    let public = OaepPublicEncryptingKey::new(
        PublicEncryptingKey::from_der(recipient.spki()).map_err(|_| error("the recipient certificate is not RSA"))?,
    )
    .map_err(|_| error("the recipient key is not usable for RSA-OAEP"))?;
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped = public
        .encrypt(&OAEP_SHA1_MGF1SHA1, &content_key, &mut wrapped, None)
        .map_err(|_| error("RSA-OAEP encryption failed"))?;
    Ok(format!(
        "<saml:EncryptedAssertion xmlns:saml=\"{SAML}\"><xenc:EncryptedData xmlns:xenc=\"{XENC}\" Type=\"{ENC_ELEMENT}\">\
         <xenc:EncryptionMethod Algorithm=\"{}\"/><ds:KeyInfo xmlns:ds=\"{DS}\"><xenc:EncryptedKey>\
         <xenc:EncryptionMethod Algorithm=\"{RSA_OAEP_MGF1P}\"><ds:DigestMethod Algorithm=\"{SHA1}\"/></xenc:EncryptionMethod>\
         <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>\
         <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>",
        content.uri(),
        STANDARD.encode(wrapped),
        STANDARD.encode(ciphertext)
    ))
}
