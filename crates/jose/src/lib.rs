//! JOSE framing on top of aws-lc-rs primitives: compact JWS parse/serialize, JWKs, and
//! signing/verification keys parsed once and reused (re-parsing a key per token costs ~3x).
//!
//! What this crate refuses by construction: `alg: none`, any algorithm outside the caller's
//! allow-list, HMAC algorithms (a public key is never a MAC secret), and keys named by the token
//! itself (`jku`, `x5u`, `jwk`, `x5c` are noted and ignored).
//!
//! A compact JWS has one spelling here: each segment is canonical base64url (no padding, no
//! character outside the alphabet, no stray bits), so one token cannot be presented as many.
//! Header and claims are JSON objects without a repeated member name at any depth (a parser that
//! keeps the last `email` would let one token speak for two users), `crit` is refused (no
//! extension is understood here), and nested (`cty: JWT`) or encrypted (JWE) tokens are refused.

use aws_lc_rs::{rand::SystemRandom, rsa, signature};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cell::RefCell;

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// RFC 7636 `S256`: the code challenge of a PKCE code verifier.
pub fn pkce_s256(verifier: &str) -> String {
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// Canonical base64url only (RFC 7515 §2): no `=` padding, no character outside the alphabet,
/// and no set bits past the last byte. Whatever a token carries is decoded with this, so each
/// byte string has exactly one accepted spelling.
pub fn b64url_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

/// Base64url that tolerates trailing `=` padding, for key material an operator or a provider's
/// JWKS supplies (never for a presented token, where it would give one token many spellings).
pub fn b64url_decode_lenient(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('='))
}

/// SHA-256 hex digest: how tokens and secrets are identified at rest and in audit records.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

/// A short, non-reversible label for a token in logs and audit events.
pub fn token_label(token: &str) -> String {
    format!("sha256:{}", &sha256_hex(token.as_bytes())[..12])
}

/// Whether `token` has the compact JWS shape (three base64url segments).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("ey")
}

/// Whether `token` has the compact JWE shape (five segments, a JSON header): an encrypted
/// token, which is never accepted (the claims cannot be read, nor the signature checked).
pub fn looks_like_jwe(token: &str) -> bool {
    token.split('.').count() == 5 && token.starts_with("ey")
}

/// Why a token could not be read as a JWS: the check that failed (`format`, `crit`) and what
/// was wrong with it (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoseError {
    pub check: &'static str,
    pub detail: String,
}

impl JoseError {
    fn format(detail: impl Into<String>) -> Self {
        Self { check: "format", detail: detail.into() }
    }
}

impl std::fmt::Display for JoseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Header parameters registered by RFC 7515, 7516 and 7518, and the claims registered by RFC
/// 7519 §4.1: `crit` may list none of them (RFC 7515 §4.1.11).
const REGISTERED_NAMES: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc", "zip", "epk", "apu",
    "apv", "iv", "tag", "p2s", "p2c", "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
];

/// Parses a JSON object, refusing a member name given twice in any object it contains
/// (serde_json keeps the last one silently). `Err` names the repeated member, else says why the
/// text is not an object.
fn unique_members_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let repeated = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = UniqueMembers(&repeated).deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match (parsed, repeated.into_inner()) {
        (_, Some(name)) => Err(format!("names {name:?} twice")),
        (Ok(Value::Object(m)), None) => Ok(m),
        (Ok(_), None) | (Err(_), None) => Err("is not a JSON object".into()),
    }
}

/// A JSON value whose objects never repeat a member name; the first repeat is recorded.
struct UniqueMembers<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for UniqueMembers<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueMembers<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(UniqueMembers(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(UniqueMembers(self.0))?;
            if out.contains_key(&name) {
                self.0.borrow_mut().get_or_insert(name);
                return Err(serde::de::Error::custom("a member name is repeated"));
            }
            out.insert(name, value);
        }
        Ok(Value::Object(out))
    }
}

/// RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` lists an extension it does not
/// understand, and `crit` may not be empty nor list registered names. No extension is
/// understood here, so any `crit` is refused; the reason says which rule it broke.
fn refuse_crit(header: &Map<String, Value>) -> Result<(), JoseError> {
    let Some(crit) = header.get("crit") else {
        return Ok(());
    };
    let refuse = |detail: String| Err(JoseError { check: "crit", detail });
    let Some(names) = crit.as_array().filter(|a| a.iter().all(Value::is_string)) else {
        return refuse("JWT header member crit is not a list of names".into());
    };
    let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
    if names.is_empty() {
        return refuse("JWT header member crit is empty (RFC 7515 §4.1.11 forbids an empty list)".into());
    }
    if let Some(r) = names.iter().find(|n| REGISTERED_NAMES.contains(n)) {
        return refuse(format!("JWT header crit names the registered name {r:?}; crit may list only extensions"));
    }
    refuse(format!("JWT header crit names the extension {:?}, which this server does not understand", names[0]))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JwtHeader {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Header members that would name a key source; recorded only so the trail can say they
    /// were ignored.
    #[serde(flatten, skip_serializing)]
    pub other: Map<String, Value>,
}

impl JwtHeader {
    pub fn ignored_key_sources(&self) -> Vec<&'static str> {
        ["jku", "x5u", "jwk", "x5c"].into_iter().filter(|k| self.other.contains_key(*k)).collect()
    }
}

/// A compact JWS split into its parts; nothing in it is trusted until [`VerifyingKey::verify`].
#[derive(Debug, Clone)]
pub struct UnverifiedJwt {
    pub header: JwtHeader,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl UnverifiedJwt {
    /// Errors name the check and say what is malformed, never the token.
    pub fn parse(token: &str) -> Result<Self, JoseError> {
        if looks_like_jwe(token) {
            return Err(JoseError::format(
                "the token is encrypted (JWE, five segments); only signed JWTs (JWS) are accepted",
            ));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JoseError::format("token is not a compact JWT (expected three dot-separated segments)"));
        };
        let segment = |what: &str, text: &str| {
            b64url_decode(text).map_err(|_| {
                JoseError::format(format!(
                    "JWT {what} is not canonical base64url (no padding, only A-Z a-z 0-9 - _, no stray bits)"
                ))
            })
        };
        let header_bytes = segment("header", h)?;
        let header_map = unique_members_object(&header_bytes).map_err(|e| match e.strip_prefix("names ") {
            Some(twice) => JoseError::format(format!("JWT header has a duplicate member: it names {twice}")),
            None => JoseError::format(format!("JWT header {e}")),
        })?;
        refuse_crit(&header_map)?;
        if header_map.get("cty").and_then(Value::as_str).is_some_and(|c| c.eq_ignore_ascii_case("JWT")) {
            return Err(JoseError::format("the token is a nested JWT (cty \"JWT\"); nested tokens are not accepted"));
        }
        let header: JwtHeader = serde_json::from_value(Value::Object(header_map))
            .map_err(|_| JoseError::format("JWT header is not a JSON object with a string alg"))?;
        let payload = segment("payload", p)?;
        let claims = unique_members_object(&payload).map_err(|e| match e.strip_prefix("names ") {
            Some(twice) => JoseError::format(format!("JWT claims have a duplicate claim: they name {twice}")),
            None => JoseError::format(format!("JWT payload {e}")),
        })?;
        let signature = segment("signature", s)?;
        Ok(Self { header, claims, signing_input: format!("{h}.{p}"), signature })
    }

    /// The signed part, `header.payload`, exactly as presented (canonical by [`Self::parse`]).
    pub fn signing_input(&self) -> &str {
        &self.signing_input
    }

    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn claim_i64(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
    }

    /// `aud` as a list, whether the token carries a string or an array.
    pub fn audiences(&self) -> Vec<String> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    }
}

/// A JSON Web Key as published in a JWKS. Only public members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Algorithms this server will ever verify. HMAC and `none` are absent on purpose.
pub const SUPPORTED_VERIFY_ALGS: &[&str] =
    &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// A public key parsed once, bound to its JWK's key type.
pub struct VerifyingKey {
    pub kid: Option<String>,
    pub kty: String,
    /// The `alg` the JWK pins, if any.
    pub alg: Option<String>,
    rsa: Option<rsa::PublicKeyComponents<Vec<u8>>>,
    parsed: Vec<(String, signature::ParsedPublicKey)>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey").field("kid", &self.kid).field("kty", &self.kty).finish()
    }
}

fn rsa_params(alg: &str) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
        "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

impl VerifyingKey {
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        let field = |v: &Option<String>, name: &str| -> Result<Vec<u8>, String> {
            let s = v.as_deref().ok_or_else(|| format!("JWK {} lacks `{name}`", jwk.kid.as_deref().unwrap_or("?")))?;
            b64url_decode_lenient(s).map_err(|_| format!("JWK member `{name}` is not base64url"))
        };
        let mut key =
            Self { kid: jwk.kid.clone(), kty: jwk.kty.clone(), alg: jwk.alg.clone(), rsa: None, parsed: Vec::new() };
        match jwk.kty.as_str() {
            "RSA" => {
                let comps = rsa::PublicKeyComponents { n: field(&jwk.n, "n")?, e: field(&jwk.e, "e")? };
                for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
                    let parsed = comps
                        .to_parsed_public_key(rsa_params(alg).expect("listed"))
                        .map_err(|e| format!("RSA JWK rejected: {e}"))?;
                    key.parsed.push((alg.to_string(), parsed));
                }
                key.rsa = Some(comps);
            }
            "EC" => {
                let (alg, verify_alg, len): (&str, &'static signature::EcdsaVerificationAlgorithm, usize) =
                    match jwk.crv.as_deref() {
                        Some("P-256") => ("ES256", &signature::ECDSA_P256_SHA256_FIXED, 32),
                        Some("P-384") => ("ES384", &signature::ECDSA_P384_SHA384_FIXED, 48),
                        other => return Err(format!("EC curve {other:?} is not supported")),
                    };
                let (x, y) = (field(&jwk.x, "x")?, field(&jwk.y, "y")?);
                if x.len() != len || y.len() != len {
                    return Err("EC JWK coordinates have the wrong length".into());
                }
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let parsed =
                    signature::ParsedPublicKey::new(verify_alg, &point).map_err(|e| format!("EC JWK rejected: {e}"))?;
                key.parsed.push((alg.to_string(), parsed));
            }
            "OKP" => {
                if jwk.crv.as_deref() != Some("Ed25519") {
                    return Err(format!("OKP curve {:?} is not supported", jwk.crv));
                }
                let parsed = signature::ParsedPublicKey::new(&signature::ED25519, field(&jwk.x, "x")?)
                    .map_err(|e| format!("Ed25519 JWK rejected: {e}"))?;
                key.parsed.push(("EdDSA".to_string(), parsed));
            }
            other => return Err(format!("key type {other:?} is not supported")),
        }
        Ok(key)
    }

    /// Whether this key can check signatures made with `alg` (and the JWK does not pin another).
    pub fn supports(&self, alg: &str) -> bool {
        self.alg.as_deref().is_none_or(|a| a == alg) && self.parsed.iter().any(|(a, _)| a == alg)
    }

    /// Checks the signature with the header's `alg`, which the caller has already allow-listed.
    pub fn verify(&self, jwt: &UnverifiedJwt) -> Result<(), String> {
        let alg = jwt.header.alg.as_str();
        let Some((_, parsed)) = self.parsed.iter().find(|(a, _)| a == alg) else {
            return Err(format!("key {} ({}) cannot verify {alg}", self.kid.as_deref().unwrap_or("?"), self.kty));
        };
        if let Some(pinned) = &self.alg {
            if pinned != alg {
                return Err(format!(
                    "key {} is pinned to {pinned}, token uses {alg}",
                    self.kid.as_deref().unwrap_or("?")
                ));
            }
        }
        parsed
            .verify_sig(jwt.signing_input.as_bytes(), &jwt.signature)
            .map_err(|_| "signature does not verify".to_string())
    }
}

/// An algorithm this issuer signs with (and its keys are generated for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            "EdDSA" | "Ed25519" => Some(Self::EdDSA),
            _ => None,
        }
    }
}

/// A private signing key of this issuer, parsed once.
pub struct Signer {
    pub kid: String,
    pub alg: KeyAlgorithm,
    key: PrivateKey,
    rng: SystemRandom,
}

enum PrivateKey {
    Rsa(rsa::KeyPair),
    Ec(signature::EcdsaKeyPair),
    Ed(signature::Ed25519KeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).field("alg", &self.alg).finish()
    }
}

impl Signer {
    /// Generates a new key; returns it with its PKCS#8 DER for storage.
    pub fn generate(alg: KeyAlgorithm, kid: String) -> anyhow::Result<(Self, Vec<u8>)> {
        use aws_lc_rs::encoding::AsDer;
        let pkcs8 = match alg {
            KeyAlgorithm::RS256 => {
                let kp = rsa::KeyPair::generate(rsa::KeySize::Rsa2048)
                    .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der =
                    kp.as_der().map_err(|_| anyhow::anyhow!("RSA key encoding failed"))?;
                der.as_ref().to_vec()
            }
            KeyAlgorithm::ES256 => signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| anyhow::anyhow!("EC key generation failed"))?
            .as_ref()
            .to_vec(),
            KeyAlgorithm::EdDSA => signature::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|_| anyhow::anyhow!("Ed25519 key generation failed"))?
                .as_ref()
                .to_vec(),
        };
        Ok((Self::from_pkcs8(alg, kid, &pkcs8)?, pkcs8))
    }

    pub fn from_pkcs8(alg: KeyAlgorithm, kid: String, pkcs8: &[u8]) -> anyhow::Result<Self> {
        let key = match alg {
            KeyAlgorithm::RS256 => {
                PrivateKey::Rsa(rsa::KeyPair::from_pkcs8(pkcs8).map_err(|e| anyhow::anyhow!("RSA key rejected: {e}"))?)
            }
            KeyAlgorithm::ES256 => PrivateKey::Ec(
                signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|e| anyhow::anyhow!("EC key rejected: {e}"))?,
            ),
            KeyAlgorithm::EdDSA => PrivateKey::Ed(
                signature::Ed25519KeyPair::from_pkcs8(pkcs8)
                    .map_err(|e| anyhow::anyhow!("Ed25519 key rejected: {e}"))?,
            ),
        };
        Ok(Self { kid, alg, key, rng: SystemRandom::new() })
    }

    pub fn public_jwk(&self) -> Jwk {
        use signature::KeyPair as _;
        let mut jwk = Jwk {
            kid: Some(self.kid.clone()),
            alg: Some(self.alg.as_str().to_string()),
            use_: Some("sig".into()),
            ..Default::default()
        };
        match &self.key {
            PrivateKey::Rsa(kp) => {
                let comps = rsa::PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                jwk.kty = "RSA".into();
                jwk.n = Some(b64url(&comps.n));
                jwk.e = Some(b64url(&comps.e));
            }
            PrivateKey::Ec(kp) => {
                let point = kp.public_key().as_ref();
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = Some(b64url(&point[1..33]));
                jwk.y = Some(b64url(&point[33..65]));
            }
            PrivateKey::Ed(kp) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64url(kp.public_key().as_ref()));
            }
        }
        jwk
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            PrivateKey::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .expect("RSA signing with a valid key does not fail");
                sig
            }
            PrivateKey::Ec(kp) => kp.sign(&self.rng, message).expect("ECDSA signing does not fail").as_ref().to_vec(),
            PrivateKey::Ed(kp) => kp.sign(message).as_ref().to_vec(),
        }
    }

    /// Serializes and signs `claims` as a compact JWS with this key's `kid`.
    pub fn sign_jwt(&self, claims: &impl Serialize, typ: &str) -> String {
        let header = serde_json::json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": typ });
        let mut out = b64url(header.to_string().as_bytes());
        out.push('.');
        out.push_str(&b64url(&serde_json::to_vec(claims).expect("claims serialize")));
        let sig = self.sign(out.as_bytes());
        out.push('.');
        out.push_str(&b64url(&sig));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(alg: KeyAlgorithm) {
        let (signer, pkcs8) = Signer::generate(alg, "k1".into()).unwrap();
        let reloaded = Signer::from_pkcs8(alg, "k1".into(), &pkcs8).unwrap();
        let token = reloaded.sign_jwt(&json!({"sub": "u1"}), "JWT");
        let jwt = UnverifiedJwt::parse(&token).unwrap();
        assert_eq!(jwt.header.alg, alg.as_str());
        assert_eq!(jwt.header.kid.as_deref(), Some("k1"));
        let key = VerifyingKey::from_jwk(&signer.public_jwk()).unwrap();
        assert!(key.supports(alg.as_str()));
        key.verify(&jwt).unwrap();
        // One flipped signature byte must fail.
        let mut bad = token.clone().into_bytes();
        let i = bad.len() - 5;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        let jwt = UnverifiedJwt::parse(std::str::from_utf8(&bad).unwrap()).unwrap();
        assert!(key.verify(&jwt).is_err());
    }

    #[test]
    fn rs256_es256_eddsa_sign_and_verify() {
        roundtrip(KeyAlgorithm::RS256);
        roundtrip(KeyAlgorithm::ES256);
        roundtrip(KeyAlgorithm::EdDSA);
    }

    #[test]
    fn header_key_sources_are_noted() {
        let h: JwtHeader = serde_json::from_value(json!({"alg":"RS256","jku":"https://evil","kid":"a"})).unwrap();
        assert_eq!(h.ignored_key_sources(), vec!["jku"]);
    }

    #[test]
    fn malformed_tokens_are_described() {
        assert!(UnverifiedJwt::parse("abc").unwrap_err().detail.contains("three"));
        assert!(UnverifiedJwt::parse("a.b.c").unwrap_err().detail.contains("header"));
        let jwe = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d";
        assert!(UnverifiedJwt::parse(jwe).unwrap_err().detail.contains("JWE"));
    }

    fn token_of(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64url(header.as_bytes()), b64url(payload.as_bytes()), b64url(b"sig"))
    }

    #[test]
    fn each_segment_has_one_spelling() {
        let t = token_of(r#"{"alg":"RS256"}"#, r#"{"sub":"a"}"#);
        UnverifiedJwt::parse(&t).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        for (i, what) in ["header", "payload", "signature"].into_iter().enumerate() {
            let mut padded: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            padded[i].push('=');
            let e = UnverifiedJwt::parse(&padded.join(".")).unwrap_err();
            assert_eq!(e.check, "format");
            assert!(e.detail.contains(&format!("{what} is not canonical base64url")), "{e}");
        }
        // Standard-alphabet characters and stray bits in the last character.
        let sig = b64url(&[0xfb, 0xff]); // "-_8"
        assert_eq!(sig, "-_8");
        let std_alphabet = format!("{}.{}.+/8", parts[0], parts[1]);
        assert!(UnverifiedJwt::parse(&std_alphabet).is_err());
        let stray_bits = format!("{}.{}.-_9", parts[0], parts[1]);
        assert!(UnverifiedJwt::parse(&stray_bits).is_err());
        assert!(b64url_decode_lenient("-_8=").is_ok());
    }

    #[test]
    fn repeated_member_names_are_refused_at_any_depth() {
        let cases = [
            (r#"{"alg":"RS256","alg":"none"}"#, r#"{"sub":"a"}"#, "header has a duplicate member: it names \"alg\""),
            (r#"{"alg":"RS256"}"#, r#"{"email":"a","email":"b"}"#, "duplicate claim: they name \"email\""),
            (r#"{"alg":"RS256"}"#, r#"{"email":"a","em\u0061il":"b"}"#, "name \"email\" twice"),
            (r#"{"alg":"RS256"}"#, r#"{"a":{"b":1,"b":2}}"#, "name \"b\" twice"),
            (r#"{"alg":"RS256"}"#, r#"{"a":[{"b":1,"b":2}]}"#, "name \"b\" twice"),
        ];
        for (h, p, want) in cases {
            let e = UnverifiedJwt::parse(&token_of(h, p)).unwrap_err();
            assert!(e.detail.contains(want), "{h} {p}: {e}");
        }
        // Same names in different objects are fine, and values keep their JSON types.
        let jwt = UnverifiedJwt::parse(&token_of(
            r#"{"alg":"RS256"}"#,
            r#"{"a":{"b":1},"c":{"b":-2.5},"d":[true,null,"x",18446744073709551615]}"#,
        ))
        .unwrap();
        assert_eq!(
            Value::Object(jwt.claims),
            json!({"a":{"b":1},"c":{"b":-2.5},"d":[true,null,"x",18446744073709551615u64]})
        );
        // Not an object, or trailing text.
        assert!(UnverifiedJwt::parse(&token_of(r#"{"alg":"RS256"}"#, "[1]"))
            .unwrap_err()
            .detail
            .contains("not a JSON object"));
        assert!(UnverifiedJwt::parse(&token_of(r#"{"alg":"RS256"}"#, "{} {}")).is_err());
    }

    #[test]
    fn crit_and_nesting_are_refused() {
        let with = |h: &str| UnverifiedJwt::parse(&token_of(h, r#"{"sub":"a"}"#)).unwrap_err();
        let e = with(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#);
        assert_eq!(e.check, "crit");
        assert!(e.detail.contains("registered name \"exp\""), "{e}");
        assert!(with(r#"{"alg":"RS256","crit":["b64"],"b64":false}"#).detail.contains("does not understand"));
        assert!(with(r#"{"alg":"RS256","crit":[]}"#).detail.contains("empty"));
        assert!(with(r#"{"alg":"RS256","crit":"x"}"#).detail.contains("not a list"));
        let e = with(r#"{"alg":"RS256","cty":"jwt"}"#);
        assert_eq!(e.check, "format");
        assert!(e.detail.contains("nested"), "{e}");
        assert!(with(r#"{"alg":1}"#).detail.contains("string alg"));
    }
}
