//! Temporary credentials: `ASIA…` access key, secret, and a session token that carries both,
//! sealed (AES-256-GCM) with a server key. SigV4 needs the secret back to recompute signatures;
//! only this server can open the token, and nothing about the credentials is stored or logged
//! in plain form.

use crate::secrets::{random_bytes, MasterKey};
use crate::store::Store;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const TOKEN_PREFIX: &str = "TBS1.";
pub(crate) const KEY_SETTING: &str = "aws.session_key";

/// Who a session is: everything a signed request's caller is known by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub role_arn: String,
    pub role_id: String,
    pub session_name: String,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`
    pub assumed_role_arn: String,
    /// The web identity's subject and provider (`iss` without scheme, or `cognito-identity.amazonaws.com`).
    pub subject: String,
    pub provider: String,
    #[serde(default)]
    pub source_identity: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The identity pool identity, when the credentials came through one.
    #[serde(default)]
    pub identity_id: Option<String>,
    /// A session policy that further limits the role's.
    #[serde(default)]
    pub session_policy: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// What a caller is handed.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires_at: i64,
}

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `ASIA` + 16 characters of AWS's key alphabet.
pub fn new_access_key_id() -> String {
    let bytes = random_bytes::<16>();
    let mut s = String::from("ASIA");
    for b in bytes {
        s.push(UPPER_ALNUM[(b & 31) as usize] as char);
    }
    s
}

fn new_secret_access_key() -> String {
    STANDARD.encode(random_bytes::<30>())
}

/// Seals and opens session tokens with the server's session key (kept in the store, itself
/// sealed with the master key when one is configured, so every instance shares it).
pub struct SessionKey(MasterKey);

impl SessionKey {
    #[crate::entry_point]
    pub async fn load(store: &dyn Store, master: Option<&MasterKey>) -> anyhow::Result<Self> {
        crate::secrets::load_server_key(store, master, KEY_SETTING).await.map(Self)
    }

    /// New credentials for `claims` (whose keys are filled in here).
    pub fn issue(&self, mut claims: SessionClaims) -> Credentials {
        claims.access_key_id = new_access_key_id();
        claims.secret_access_key = new_secret_access_key();
        let json = serde_json::to_vec(&claims).expect("serializable");
        let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0.seal(&json)));
        Credentials {
            access_key_id: claims.access_key_id,
            secret_access_key: claims.secret_access_key,
            session_token: token,
            expires_at: claims.expires_at,
        }
    }

    /// Opens a session token; names what is wrong (never echoing the token).
    pub fn open(&self, token: &str) -> Result<SessionClaims, &'static str> {
        let body = token.strip_prefix(TOKEN_PREFIX).ok_or("the session token is not one this server issued")?;
        let sealed = URL_SAFE_NO_PAD.decode(body).map_err(|_| "the session token is malformed")?;
        let json = self.0.open(&sealed).map_err(|_| "the session token does not open with this server's key")?;
        serde_json::from_slice(&json).map_err(|_| "the session token's contents are malformed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> SessionClaims {
        SessionClaims {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            role_id: "AROAEXAMPLE".into(),
            session_name: "s".into(),
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/r/s".into(),
            subject: "sub".into(),
            provider: "example.com".into(),
            source_identity: None,
            tags: BTreeMap::new(),
            identity_id: None,
            session_policy: None,
            issued_at: 1,
            expires_at: 2,
        }
    }

    #[test]
    fn tokens_carry_the_secret_sealed() {
        let key = SessionKey(MasterKey::from_base64(&STANDARD.encode([3u8; 32])).unwrap());
        let c = key.issue(claims());
        assert!(c.access_key_id.starts_with("ASIA") && c.access_key_id.len() == 20);
        assert!(!c.session_token.contains(&c.secret_access_key));
        let opened = key.open(&c.session_token).unwrap();
        assert_eq!(opened.secret_access_key, c.secret_access_key);
        assert_eq!(opened.access_key_id, c.access_key_id);
        let other = SessionKey(MasterKey::from_base64(&STANDARD.encode([4u8; 32])).unwrap());
        assert!(other.open(&c.session_token).is_err());
        let mut tampered = c.session_token.clone();
        tampered.push('A');
        assert!(key.open(&tampered).is_err());
        assert!(key.open("FwoGZXIvYXdzEJr").is_err());
    }
}
