//! JOSE framing on top of aws-lc-rs primitives: compact JWS parse/serialize, JWKs, and
//! signing/verification keys parsed once and reused (re-parsing a key per token costs ~3x).
//!
//! What this module refuses by construction: `alg: none`, any algorithm outside the caller's
//! allow-list, HMAC algorithms (a public key is never a MAC secret), and keys named by the token
//! itself (`jku`, `x5u`, `jwk`, `x5c` are noted and ignored).

use crate::model::KeyAlgorithm;
use aws_lc_rs::{rand::SystemRandom, rsa, signature};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// RFC 7636 `S256`: the code challenge of a PKCE code verifier.
pub fn pkce_s256(verifier: &str) -> String {
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

pub fn b64url_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
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
    /// Errors say what is malformed, never the token.
    pub fn parse(token: &str) -> Result<Self, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("token is not a compact JWT (expected three dot-separated segments)".into());
        };
        let header_bytes = b64url_decode(h).map_err(|_| "JWT header is not base64url".to_string())?;
        let header: JwtHeader = serde_json::from_slice(&header_bytes)
            .map_err(|_| "JWT header is not a JSON object with alg".to_string())?;
        let payload = b64url_decode(p).map_err(|_| "JWT payload is not base64url".to_string())?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&payload).map_err(|_| "JWT payload is not a JSON object".to_string())?;
        let signature = b64url_decode(s).map_err(|_| "JWT signature is not base64url".to_string())?;
        Ok(Self { header, claims, signing_input: format!("{h}.{p}"), signature })
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
            b64url_decode(s).map_err(|_| format!("JWK member `{name}` is not base64url"))
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
        assert!(UnverifiedJwt::parse("abc").unwrap_err().contains("three"));
        assert!(UnverifiedJwt::parse("a.b.c").unwrap_err().contains("header"));
    }
}
