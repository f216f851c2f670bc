//! What a username without an account (or without a local password) is answered with, so that
//! no public answer tells which usernames exist (Cognito's `PreventUserExistenceErrors`): an SRP
//! salt and verifier, and whether the name answers as a confirmed user, all derived from a server
//! key kept in the store. The same name in the same pool always gets the same answer, on every
//! instance and after restarts; without the key, the answers look like any real user's.

use super::*;
use aws_lc_rs::hmac;
use std::sync::Arc;

/// The store setting holding the key (sealed with the master key when one is configured).
pub(crate) const KEY_SETTING: &str = "userpool.stand_in_key";

/// The argon2id hash a password is checked against when there is no real one to check, so that
/// every password answer costs one argon2id verification.
pub(crate) static STAND_IN_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    crate::password::hash_blocking(&crate::secrets::random_secret()).expect("argon2 hashes a random password")
});

fn tag(key: &hmac::Key, purpose: &str, pool_id: &str, username: &str, block: u8) -> hmac::Tag {
    // Length-prefixed fields: no two (pool, username) pairs hash the same input.
    let mut msg = Vec::with_capacity(purpose.len() + pool_id.len() + username.len() + 32);
    for part in [purpose.as_bytes(), pool_id.as_bytes(), username.as_bytes()] {
        msg.extend_from_slice(&(part.len() as u64).to_be_bytes());
        msg.extend_from_slice(part);
    }
    msg.push(block);
    hmac::sign(key, &msg)
}

/// The salt and verifier of a name with no verifier of its own.
pub(crate) fn verifier(key: &hmac::Key, pool_id: &str, username: &str) -> crate::srp::PasswordVerifier {
    let salt = tag(key, "srp salt", pool_id, username, 0);
    // 384 bytes (|N|) of seed, so v is spread over the whole group.
    let seed: Vec<u8> =
        (0..12).flat_map(|i| tag(key, "srp verifier", pool_id, username, i).as_ref().to_vec()).collect();
    crate::srp::stand_in_verifier(&salt.as_ref()[..16], &seed)
}

/// Whether an unknown name answers the confirmation actions as a confirmed user does (half of
/// the names do, half answer as unconfirmed ones), so neither answer proves a name exists.
pub(crate) fn looks_confirmed(key: &hmac::Key, pool_id: &str, username: &str) -> bool {
    tag(key, "confirmed", pool_id, username, 0).as_ref()[0] & 1 == 1
}

impl UserPools {
    /// The key the stand-in answers derive from (made once, shared by every instance).
    pub(crate) async fn stand_in_key(&self) -> Result<Arc<hmac::Key>, Refusal> {
        self.stand_in_key
            .get_or_try_init(|| async {
                let bytes = crate::secrets::load_server_secret(
                    self.kernel.store.as_ref(),
                    self.kernel.master.as_deref(),
                    KEY_SETTING,
                )
                .await?;
                anyhow::Ok(Arc::new(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
            })
            .await
            .cloned()
            .map_err(Refusal::storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_stable_per_name_and_differ_between_names_and_keys() {
        let k1 = hmac::Key::new(hmac::HMAC_SHA256, &[1; 32]);
        let k2 = hmac::Key::new(hmac::HMAC_SHA256, &[2; 32]);
        let a = verifier(&k1, "us-east-1_A", "ghost");
        assert_eq!(a, verifier(&k1, "us-east-1_A", "ghost"));
        assert_eq!(a.salt.len(), 16);
        assert!(a.verifier.len() > 300, "v fills the group: {} bytes", a.verifier.len());
        for other in [
            verifier(&k1, "us-east-1_B", "ghost"),
            verifier(&k1, "us-east-1_A", "ghost2"),
            verifier(&k2, "us-east-1_A", "ghost"),
        ] {
            assert_ne!(a.salt, other.salt);
            assert_ne!(a.verifier, other.verifier);
        }
        // Fields cannot slide into each other.
        assert_ne!(verifier(&k1, "us-east-1_Ab", "c").salt, verifier(&k1, "us-east-1_A", "bc").salt);
        let confirmed = (0..64).filter(|i| looks_confirmed(&k1, "p", &format!("u{i}"))).count();
        assert!((16..=48).contains(&confirmed), "about half answer as confirmed: {confirmed}");
    }
}
