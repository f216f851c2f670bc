//! X.509 certificates as SAML metadata carries them, read only for their public key (the
//! metadata is the trust: no chain, no KeyInfo from a message), and RSA keys as PKCS#8.
//! The DER reading and writing here is the few fields that needs; the cryptography is aws-lc-rs.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::{error, Error};

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_SHA256_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The kind of public key a certificate holds, which decides the signature algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
}

/// A certificate from IdP (or SP) metadata: its DER, its public key, its SHA-256 fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    kind: KeyKind,
    /// The SubjectPublicKeyInfo's key bits: RSAPublicKey DER, or the EC point.
    public_key: Vec<u8>,
    /// The whole SubjectPublicKeyInfo (for RSA-OAEP encryption to this certificate).
    spki: Vec<u8>,
    fingerprint: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certificate(sha256 {}, {:?})", self.fingerprint, self.kind)
    }
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (spki, kind, public_key) = read_spki(der).ok_or_else(|| error("not an X.509 certificate (DER)"))?;
        let fingerprint = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der));
        Ok(Self { der: der.to_vec(), kind, public_key, spki, fingerprint })
    }

    /// The content of an `ds:X509Certificate` element: base64, whitespace allowed.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let der = decode_base64(text).ok_or_else(|| error("certificate is not base64"))?;
        Self::from_der(&der)
    }

    /// One `-----BEGIN CERTIFICATE-----` block (or bare base64).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        Self::from_base64(&pem_body(pem, "CERTIFICATE"))
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Base64 of the DER, as `ds:X509Certificate` carries it.
    pub fn base64(&self) -> String {
        STANDARD.encode(&self.der)
    }

    pub fn to_pem(&self) -> String {
        pem("CERTIFICATE", &self.der)
    }

    /// Lowercase hex of SHA-256 over the DER.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn kind(&self) -> KeyKind {
        self.kind
    }

    pub(crate) fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    pub(crate) fn spki(&self) -> &[u8] {
        &self.spki
    }
}

/// An RSA private key (PKCS#8): the IdP's signing key in tests and the demo, the SP's request
/// signing and assertion decryption key.
pub struct RsaKey {
    pkcs8: Vec<u8>,
    pair: RsaKeyPair,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaKey(..)")
    }
}

impl Clone for RsaKey {
    fn clone(&self) -> Self {
        Self::from_pkcs8_der(&self.pkcs8).expect("a key that parsed once")
    }
}

impl RsaKey {
    pub fn generate() -> Result<Self, Error> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| error("RSA key generation failed"))?;
        let pkcs8 = pair.as_der().map_err(|_| error("RSA key encoding failed"))?.as_ref().to_vec();
        Ok(Self { pkcs8, pair })
    }

    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| error(format!("not an RSA PKCS#8 key: {e}")))?;
        Ok(Self { pkcs8: der.to_vec(), pair })
    }

    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM, or PKCS#8 DER.
    pub fn from_pkcs8(pem_or_der: &[u8]) -> Result<Self, Error> {
        match std::str::from_utf8(pem_or_der) {
            Ok(text) if text.contains("-----BEGIN") => {
                let der = decode_base64(&pem_body(text, "PRIVATE KEY"))
                    .ok_or_else(|| error("PEM block is not base64 (a PKCS#8 PRIVATE KEY is expected)"))?;
                Self::from_pkcs8_der(&der)
            }
            _ => Self::from_pkcs8_der(pem_or_der),
        }
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn pkcs8_pem(&self) -> String {
        pem("PRIVATE KEY", &self.pkcs8)
    }

    /// PKCS#1 v1.5 signature with SHA-256 (nothing here signs with SHA-1).
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut out)
            .expect("RSA signing with a valid key");
        out
    }

    /// A self-signed certificate (sha256WithRSAEncryption) for this key, valid from `not_before`
    /// for `days`, named `CN=common_name`.
    pub fn self_signed_certificate(&self, common_name: &str, not_before: i64, days: i64) -> Result<Certificate, Error> {
        let spki = self.pair.public_key().as_der().map_err(|_| error("public key encoding failed"))?;
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).map_err(|_| error("no randomness"))?;
        serial[0] &= 0x7f;
        serial[0] |= 0x40;
        let name = der(
            0x30,
            &der(0x31, &der(0x30, &[der(0x06, OID_COMMON_NAME), der(0x0c, common_name.as_bytes())].concat())),
        );
        let algorithm = der(0x30, &[der(0x06, OID_SHA256_RSA), vec![0x05, 0x00]].concat());
        let validity = der(0x30, &[der_time(not_before)?, der_time(not_before + days * 86_400)?].concat());
        let tbs = der(
            0x30,
            &[
                der(0xa0, &der(0x02, &[2])),
                der(0x02, &serial),
                algorithm.clone(),
                name.clone(),
                validity,
                name,
                spki.as_ref().to_vec(),
            ]
            .concat(),
        );
        let signature = self.sign(&tbs);
        let bits = der(0x03, &[&[0u8][..], &signature].concat());
        Certificate::from_der(&der(0x30, &[tbs, algorithm, bits].concat()))
    }
}

/// A DER TLV.
fn der(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(value);
    out
}

/// UTCTime through 2049, GeneralizedTime after, as RFC 5280 says.
fn der_time(unix: i64) -> Result<Vec<u8>, Error> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).map_err(|_| error("time out of range"))?;
    let (y, mo, d, h, mi, s) = (t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second());
    Ok(if (1950..2050).contains(&y) {
        der(0x17, format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100).as_bytes())
    } else {
        der(0x18, format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes())
    })
}

/// Reads one TLV: (tag, value, rest). Definite lengths only, as DER requires.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The SubjectPublicKeyInfo of a certificate: (its DER, the key kind, the key bits).
fn read_spki(cert: &[u8]) -> Option<(Vec<u8>, KeyKind, Vec<u8>)> {
    let (0x30, body, []) = tlv(cert)? else { return None };
    let (0x30, tbs, _) = tlv(body)? else { return None };
    let mut rest = tbs;
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after; // version
    }
    for expected in [0x02, 0x30, 0x30, 0x30, 0x30] {
        // serial, signature algorithm, issuer, validity, subject
        let (tag, _, after) = tlv(rest)?;
        if tag != expected {
            return None;
        }
        rest = after;
    }
    let (0x30, spki_body, after) = tlv(rest)? else { return None };
    let spki = rest[..rest.len() - after.len()].to_vec();
    let (0x30, algorithm, bits) = tlv(spki_body)? else { return None };
    let (0x06, oid, params) = tlv(algorithm)? else { return None };
    let (0x03, bits, []) = tlv(bits)? else { return None };
    let (&0, key) = bits.split_first()? else { return None };
    let kind = if oid == OID_RSA {
        KeyKind::Rsa
    } else if oid == OID_EC {
        match tlv(params)? {
            (0x06, curve, _) if curve == OID_P256 => KeyKind::EcP256,
            (0x06, curve, _) if curve == OID_P384 => KeyKind::EcP384,
            _ => return None,
        }
    } else {
        return None;
    };
    Some((spki, kind, key.to_vec()))
}

pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

fn pem_body(pem: &str, label: &str) -> String {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    match (pem.find(&begin), pem.find(&end)) {
        (Some(b), Some(e)) if b < e => pem[b + begin.len()..e].to_string(),
        _ => pem.to_string(),
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> =
        body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("base64 is ASCII")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}
