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

/// Sealed, bound to nothing but the prefix: session tokens, cookies, and at-rest values written
/// by older versions (still opened, and resealed bound when an instance starts).
const SEALED_PREFIX: &[u8] = b"tbseal1:";
/// Sealed at rest and bound to what the value is (a signing key's kid, a setting's name): that
/// name is in the associated data, so a value moved under another name does not open.
const BOUND_PREFIX: &[u8] = b"tbseal2:";

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
            .or_else(|_| crate::jose::b64url_decode_lenient(text))
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

    /// Seals a value kept at rest as `name` (e.g. `signing key <kid>`): it opens only as `name`.
    pub fn seal_for(&self, name: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(bound_aad(name)), &mut buf)
            .expect("AES-GCM sealing does not fail");
        [BOUND_PREFIX, &nonce_bytes, &buf].concat()
    }

    /// Opens a value kept at rest as `name`: sealed for `name` by [`Self::seal_for`], or in the
    /// older unbound form (which [`is_bound`] tells apart, so it can be resealed).
    pub fn open_for(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let Some(rest) = sealed.strip_prefix(BOUND_PREFIX) else { return self.open(sealed) };
        if rest.len() < NONCE_LEN {
            return Err(format!("the sealed {name} is truncated"));
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce")?;
        let mut buf = ct.to_vec();
        let plain = self.0.open_in_place(nonce, Aad::from(bound_aad(name)), &mut buf).map_err(|_| {
            format!(
                "the sealed {name} does not open with this master key: it was sealed with another \
                 master key, or for another key id or setting and moved here"
            )
        })?;
        Ok(plain.to_vec())
    }
}

fn bound_aad(name: &str) -> Vec<u8> {
    [BOUND_PREFIX, name.as_bytes()].concat()
}

/// Whether `bytes` are sealed (bound or in the older unbound form).
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(SEALED_PREFIX) || bytes.starts_with(BOUND_PREFIX)
}

/// Whether `bytes` are sealed bound to a name ([`MasterKey::seal_for`]).
pub fn is_bound(bytes: &[u8]) -> bool {
    bytes.starts_with(BOUND_PREFIX)
}

/// What a sealed setting is bound to.
fn setting_name(setting: &str) -> String {
    format!("setting {setting}")
}

/// The setting of the console's key for pending sign-ins (named here, where every instance starts,
/// so it is resealed at start like the others).
pub const CONSOLE_KEY_SETTING: &str = "console.pending_key";

/// A 32-byte AES server key kept in the store under `setting` (see [`load_server_secret`]).
#[crate::entry_point]
pub async fn load_server_key(
    store: &dyn crate::store::Store,
    master: Option<&MasterKey>,
    setting: &str,
) -> anyhow::Result<MasterKey> {
    use base64::Engine as _;
    let bytes = load_server_secret(store, master, setting).await?;
    MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode(bytes)).map_err(|e| anyhow::anyhow!(e))
}

/// 32 secret bytes kept in the store under `setting` (AES keys, HMAC keys): made once (the first
/// instance's wins), shared by every instance; `plain:<base64>`, or with a master key
/// `sealed:<base64>` sealed bound to the setting's name. One found plain or sealed in the older
/// unbound form while a master key is configured is resealed in place (see [`reseal_server_secret`]).
#[crate::entry_point]
pub async fn load_server_secret(
    store: &dyn crate::store::Store,
    master: Option<&MasterKey>,
    setting: &str,
) -> anyhow::Result<[u8; 32]> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let fresh = STANDARD.encode(random_bytes::<32>());
    let stored_form = match master {
        Some(m) => sealed_setting(m, setting, &fresh),
        None => format!("plain:{fresh}"),
    };
    let stored = store.put_setting_if_absent(setting, &stored_form).await?;
    let (b64, bound) = open_setting(master, setting, &stored)?;
    if let (Some(m), false) = (master, bound) {
        reseal(store, m, setting, &stored, &b64).await?;
    }
    STANDARD
        .decode(b64.trim())?
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{setting} holds {} bytes, not 32", b.len()))
}

/// At start, with a master key: the server secret under `setting`, if there is one, sealed
/// bound to its name when it is found plain or in the older unbound form. Returns whether this
/// call resealed it.
#[crate::entry_point]
pub async fn reseal_server_secret(
    store: &dyn crate::store::Store,
    master: &MasterKey,
    setting: &str,
) -> anyhow::Result<bool> {
    let Some(stored) = store.get_setting(setting).await? else { return Ok(false) };
    let (b64, bound) = open_setting(Some(master), setting, &stored)?;
    if bound {
        return Ok(false);
    }
    reseal(store, master, setting, &stored, &b64).await
}

/// The secret (base64 text) a stored setting holds, and whether it is sealed bound to its name.
fn open_setting(master: Option<&MasterKey>, setting: &str, stored: &str) -> anyhow::Result<(String, bool)> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    if let Some(p) = stored.strip_prefix("plain:") {
        return Ok((p.to_string(), false));
    }
    let sealed = stored.strip_prefix("sealed:").ok_or_else(|| anyhow::anyhow!("unknown encoding of {setting}"))?;
    let m = master.ok_or_else(|| {
        anyhow::anyhow!("{setting} is sealed but no master key is configured (TOKENBRIDGE_MASTER_KEY)")
    })?;
    let bytes = STANDARD.decode(sealed)?;
    let plain = m.open_for(&setting_name(setting), &bytes).map_err(|e| anyhow::anyhow!(e))?;
    Ok((String::from_utf8(plain)?, is_bound(&bytes)))
}

fn sealed_setting(m: &MasterKey, setting: &str, b64: &str) -> String {
    use base64::Engine as _;
    format!(
        "sealed:{}",
        base64::engine::general_purpose::STANDARD.encode(m.seal_for(&setting_name(setting), b64.as_bytes()))
    )
}

/// Replaces `stored` by the same secret sealed bound to its name, by one compare-and-swap: of
/// instances doing it at once one writes, and the others find it done.
async fn reseal(
    store: &dyn crate::store::Store,
    m: &MasterKey,
    setting: &str,
    stored: &str,
    b64: &str,
) -> anyhow::Result<bool> {
    let done = store.replace_setting(setting, stored, &sealed_setting(m, setting, b64)).await?;
    if done {
        tracing::info!(setting, "server key resealed with the master key, bound to its setting");
    }
    Ok(done)
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
    fn a_bound_value_opens_only_under_its_name() {
        use base64::Engine as _;
        let k1 = MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).unwrap();
        let k2 = MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([8u8; 32])).unwrap();
        let sealed = k1.seal_for("signing key a", b"private key");
        assert!(is_sealed(&sealed) && is_bound(&sealed));
        assert_eq!(k1.open_for("signing key a", &sealed).unwrap(), b"private key");
        let moved = k1.open_for("signing key b", &sealed).unwrap_err();
        assert!(moved.contains("signing key b") && moved.contains("another key id"), "{moved}");
        assert!(k2.open_for("signing key a", &sealed).is_err());
        assert!(k1.open(&sealed).is_err(), "a bound value is not an unbound one");
        // The older unbound form still opens, and is told apart.
        let old = k1.seal(b"private key");
        assert!(is_sealed(&old) && !is_bound(&old));
        assert_eq!(k1.open_for("signing key a", &old).unwrap(), b"private key");
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
