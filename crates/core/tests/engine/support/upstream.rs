//! Upstream providers under the test's control. Each signs with its own key and publishes it as a
//! static JWKS file that the broker's configuration names (`jwks_file`), so no provider is
//! reached over the network and the engine's validation runs exactly as in production.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tokenbridge_core::jose::{b64url, Signer};
use tokenbridge_core::model::KeyAlgorithm;

/// The audience every upstream token is issued to: this broker's client id at the provider.
pub const UPSTREAM_AUDIENCE: &str = "broker-at-upstream";

/// An RSA key made once per test binary (RSA generation is slow in a debug build).
fn shared_rsa(slot: usize) -> &'static [u8] {
    static KEYS: [OnceLock<Vec<u8>>; 3] = [const { OnceLock::new() }; 3];
    KEYS[slot].get_or_init(|| Signer::generate(KeyAlgorithm::RS256, format!("gen-{slot}")).expect("RSA key").1)
}

/// The broker's own signing key, stored before the engine opens (as after a restart).
pub fn broker_key_pkcs8() -> &'static [u8] {
    shared_rsa(0)
}

/// A key the provider never published.
pub fn attacker(kid: &str) -> Signer {
    Signer::from_pkcs8(KeyAlgorithm::RS256, kid.into(), shared_rsa(2)).expect("attacker key")
}

/// One upstream identity provider.
pub struct Upstream {
    /// Its name in the broker's configuration.
    pub name: &'static str,
    pub issuer: String,
    pub key: Signer,
    pub jwks_file: PathBuf,
    next_jti: AtomicUsize,
}

impl Upstream {
    /// The provider `name` at `issuer`, signing with `key`; its JWKS is written into `dir`.
    pub fn publish(dir: &Path, name: &'static str, issuer: &str, key: Signer) -> Self {
        let jwks_file = dir.join(format!("{name}-jwks.json"));
        std::fs::write(&jwks_file, json!({ "keys": [key.public_jwk()] }).to_string()).expect("write JWKS");
        Self { name, issuer: issuer.into(), key, jwks_file, next_jti: AtomicUsize::new(0) }
    }

    /// The RS256 provider the broker's clients use (kid `up-k1`).
    pub fn rs256(dir: &Path, name: &'static str, issuer: &str) -> Self {
        let key = Signer::from_pkcs8(KeyAlgorithm::RS256, "up-k1".into(), shared_rsa(1)).expect("upstream key");
        Self::publish(dir, name, issuer, key)
    }

    /// A provider with a fresh ES256 key (cheap to make).
    pub fn es256(dir: &Path, name: &'static str, issuer: &str) -> Self {
        let (key, _) = Signer::generate(KeyAlgorithm::ES256, format!("{name}-k1")).expect("ES256 key");
        Self::publish(dir, name, issuer, key)
    }

    /// Valid id-token claims for `email` at `now`, each with its own `jti`.
    pub fn claims(&self, email: &str, now: i64) -> Value {
        let n = self.next_jti.fetch_add(1, Ordering::SeqCst);
        json!({
            "iss": self.issuer,
            "sub": format!("{}|{email}", self.name),
            "aud": UPSTREAM_AUDIENCE,
            "iat": now,
            "exp": now + 600,
            "jti": format!("{}-{n}", self.name),
            "email": email,
            "email_verified": true,
        })
    }

    /// `claims` signed with the provider's published key.
    pub fn sign(&self, claims: &Value) -> String {
        self.key.sign_jwt(claims, "JWT")
    }

    /// A fresh id token of `email`.
    pub fn token(&self, email: &str, now: i64) -> String {
        self.sign(&self.claims(email, now))
    }
}

pub fn b64json(v: &Value) -> String {
    b64url(v.to_string().as_bytes())
}

/// A compact JWS with an arbitrary header, signed by `signer`.
pub fn sign_with_header(signer: &Signer, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64json(header), b64json(claims));
    format!("{input}.{}", b64url(&signer.sign(input.as_bytes())))
}

/// Replaces one character in the middle of the signature segment.
pub fn flip_signature_byte(token: &str) -> String {
    let sig_start = token.rfind('.').expect("JWT") + 1;
    let i = sig_start + (token.len() - sig_start) / 2;
    let mut bytes = token.as_bytes().to_vec();
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}
