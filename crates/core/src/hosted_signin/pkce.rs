//! PKCE (RFC 7636) as this server takes it: `S256` only (`plain` would hand the verifier to
//! whoever sees the authorization request), challenges and verifiers in their RFC shapes, and the
//! verifier checked against the challenge in constant time.

use crate::jose::b64url;
use crate::secrets::constant_time_eq;

pub const S256: &str = "S256";

/// A challenge as RFC 7636 §4.2 makes it for S256: the base64url of a SHA-256 (43 characters).
pub fn is_challenge(c: &str) -> bool {
    c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A verifier as RFC 7636 §4.1 allows it: 43 to 128 unreserved characters.
pub fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The S256 challenge of `verifier`.
pub fn challenge_of(verifier: &str) -> String {
    b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// Whether `verifier` is the one `challenge` was made from (constant time in the challenge).
pub fn verifies(verifier: &str, challenge: &str) -> bool {
    is_verifier(verifier) && constant_time_eq(challenge_of(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(challenge_of(verifier), challenge);
        assert!(verifies(verifier, challenge));
        assert!(is_challenge(challenge) && is_verifier(verifier));
        assert!(!verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX", challenge));
        // A verifier sent as its own challenge (plain) does not verify.
        assert!(!verifies(verifier, verifier));
        assert!(
            !is_verifier("short") && !is_verifier(&"a".repeat(129)) && !is_verifier(&format!("{}+", "a".repeat(43)))
        );
        assert!(!is_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="));
    }
}
