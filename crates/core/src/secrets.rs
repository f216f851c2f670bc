//! Random identifiers and secrets, constant-time comparison, and sealing of private keys
//! at rest with the master key.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    SystemRandom::new().fill(&mut buf).expect("system randomness is available");
    buf
}

/// A 256-bit random secret, base64url: refresh tokens, client secrets, admin tokens.
pub fn random_secret() -> String {
    crate::jose::b64url(&random_bytes::<32>())
}

/// A random identifier in UUID v4 form (user ids, event ids, request ids, jti).
pub fn uuid_v4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Equal-length byte comparison whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether `presented` hashes to `stored_sha256_hex`, compared in constant time.
pub fn matches_sha256(presented: &str, stored_sha256_hex: &str) -> bool {
    constant_time_eq(crate::jose::sha256_hex(presented.as_bytes()).as_bytes(), stored_sha256_hex.as_bytes())
}

const SEALED_PREFIX: &[u8] = b"tbseal1:";

/// The master key that seals signing keys at rest (AES-256-GCM).
pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// From base64 (standard or url-safe) of exactly 32 bytes, as given by env or file.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        use base64::Engine as _;
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| crate::jose::b64url_decode(text))
            .map_err(|_| "master key is not base64".to_string())?;
        if bytes.len() != 32 {
            return Err(format!("master key must be 32 bytes, got {}", bytes.len()));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| "master key rejected".to_string())?;
        Ok(Self(LessSafeKey::new(key)))
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(SEALED_PREFIX), &mut buf)
            .expect("AES-GCM sealing does not fail");
        [SEALED_PREFIX, &nonce_bytes, &buf].concat()
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let rest = sealed.strip_prefix(SEALED_PREFIX).ok_or("value is not sealed")?;
        if rest.len() < NONCE_LEN {
            return Err("sealed value is truncated".into());
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce")?;
        let mut buf = ct.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(SEALED_PREFIX), &mut buf)
            .map_err(|_| "sealed value does not open with this master key".to_string())?;
        Ok(plain.to_vec())
    }
}

pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(SEALED_PREFIX)
}

/// A 32-byte server key kept in the store under `setting`: made once (the first instance's wins),
/// shared by every instance, sealed with the master key when one is configured.
pub async fn load_server_key(
    store: &dyn crate::store::Store,
    master: Option<&MasterKey>,
    setting: &str,
) -> anyhow::Result<MasterKey> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let fresh = STANDARD.encode(random_bytes::<32>());
    let stored_form = match master {
        Some(m) => format!("sealed:{}", STANDARD.encode(m.seal(fresh.as_bytes()))),
        None => format!("plain:{fresh}"),
    };
    let stored = store.put_setting_if_absent(setting, &stored_form).await?;
    let b64 = if let Some(p) = stored.strip_prefix("plain:") {
        p.to_string()
    } else {
        let sealed = stored.strip_prefix("sealed:").ok_or_else(|| anyhow::anyhow!("unknown encoding of {setting}"))?;
        let m = master.ok_or_else(|| anyhow::anyhow!("{setting} is sealed but no master key is configured"))?;
        String::from_utf8(m.open(&STANDARD.decode(sealed)?).map_err(|e| anyhow::anyhow!(e))?)?
    };
    MasterKey::from_base64(&b64).map_err(|e| anyhow::anyhow!(e))
}

/// 32 secret bytes kept in the store under `setting` (for keys other than AES ones, such as
/// HMAC keys): made once (the first instance's wins), shared by every instance, sealed with the
/// master key when one is configured. Stored as [`load_server_key`] stores its keys.
pub async fn load_server_secret(
    store: &dyn crate::store::Store,
    master: Option<&MasterKey>,
    setting: &str,
) -> anyhow::Result<[u8; 32]> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let fresh = STANDARD.encode(random_bytes::<32>());
    let stored_form = match master {
        Some(m) => format!("sealed:{}", STANDARD.encode(m.seal(fresh.as_bytes()))),
        None => format!("plain:{fresh}"),
    };
    let stored = store.put_setting_if_absent(setting, &stored_form).await?;
    let b64 = if let Some(p) = stored.strip_prefix("plain:") {
        p.to_string()
    } else {
        let sealed = stored.strip_prefix("sealed:").ok_or_else(|| anyhow::anyhow!("unknown encoding of {setting}"))?;
        let m = master.ok_or_else(|| anyhow::anyhow!("{setting} is sealed but no master key is configured"))?;
        String::from_utf8(m.open(&STANDARD.decode(sealed)?).map_err(|e| anyhow::anyhow!(e))?)?
    };
    STANDARD
        .decode(b64.trim())?
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{setting} holds {} bytes, not 32", b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_roundtrip_and_wrong_key() {
        use base64::Engine as _;
        let k1 = MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap();
        let k2 = MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([8u8; 32])).unwrap();
        let sealed = k1.seal(b"private key");
        assert!(is_sealed(&sealed));
        assert_eq!(k1.open(&sealed).unwrap(), b"private key");
        assert!(k2.open(&sealed).is_err());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn ids_and_comparisons() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_ne!(uuid_v4(), id);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        let h = crate::jose::sha256_hex(b"s3cret");
        assert!(matches_sha256("s3cret", &h));
        assert!(!matches_sha256("s3cres", &h));
    }
}
