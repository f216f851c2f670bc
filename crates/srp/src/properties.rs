//! Properties of the SRP server's inputs over generated values: every multiple of N is refused as
//! `SRP_A` however it is written, anything else of bounded length is not; no input panics or
//! passes without the password; the integer and timestamp encodings read back what they wrote.

use std::sync::LazyLock;

use proptest::prelude::*;

use super::*;

/// One challenge for every case: making one costs a modular exponentiation.
static SESSION: LazyLock<ServerSession> =
    LazyLock::new(|| start(&verifier_with_salt("AbCdEf123", "alice", "pw", &[7; SALT_LEN])));

fn session() -> &'static ServerSession {
    &SESSION
}

/// An integer from big-endian bytes.
fn int_of(bytes: &[u8]) -> BigUint {
    BigUint::from_bytes_be(bytes)
}

/// `n` as hex, upper or lower case, with `zeros` leading zeros.
fn spelled(n: &BigUint, zeros: usize, upper: bool) -> String {
    let digits = n.to_str_radix(16);
    let digits = if upper { digits.to_uppercase() } else { digits };
    format!("{}{digits}", "0".repeat(zeros))
}

const SECRET_BLOCK: &str = "c2VjcmV0IGJsb2NrIGZyb20gdGhlIHNlcnZlcg==";
const PROOF: &str = "UQQOeDLL3cBaeJRDVqXtADcNRmC/8vlQGtAL9fu8104=";
const TIMESTAMP: &str = "Tue Nov 3 07:04:05 UTC 2026";

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_multiple_of_n_is_an_illegal_a(k in prop::collection::vec(any::<u8>(), 0..100), zeros in 0..64usize, upper in any::<bool>()) {
        let a = &GROUP.n * int_of(&k);
        let text = spelled(&a, zeros, upper);
        prop_assume!(text.len() <= MAX_A_HEX_DIGITS);
        let outcome = verify(session(), "AbCdEf123", "alice", &text, SECRET_BLOCK, TIMESTAMP, PROOF);
        prop_assert_eq!(outcome, Err(SrpError::IllegalA));
    }

    #[test]
    fn any_text_is_refused_without_panicking(
        a in "[0-9a-fA-F]{0,8}|\\PC{0,40}",
        block in "[A-Za-z0-9+/=]{0,24}|\\PC{0,24}",
        timestamp in "\\PC{0,32}",
        proof in "[A-Za-z0-9+/=]{0,48}|\\PC{0,24}",
    ) {
        let outcome = verify(session(), "AbCdEf123", "alice", &a, &block, &timestamp, &proof);
        prop_assert!(outcome.is_err());
        let _ = parse_cognito_timestamp(&timestamp);
    }

    #[test]
    fn pad_is_minimal_and_reads_back(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
        let n = int_of(&bytes);
        let padded = pad(&n);
        prop_assert_eq!(int_of(&padded), n);
        prop_assert!(padded[0] & 0x80 == 0, "reads as negative");
        if padded.len() > 1 {
            prop_assert!(padded[0] != 0 || padded[1] & 0x80 != 0, "a zero byte it does not need");
        }
        prop_assert_eq!(parse_hex(&hex::encode(&padded)), Some(int_of(&bytes)));
    }

    #[test]
    fn timestamps_read_back(seconds in 0i64..253_402_300_800) {
        prop_assert_eq!(parse_cognito_timestamp(&cognito_timestamp(seconds)), Some(seconds));
    }
}

proptest! {
    // Each case runs the two modular exponentiations of a real check: fewer of them.
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_not_a_multiple_of_n_is_legal(k in prop::collection::vec(any::<u8>(), 0..100), r in prop::collection::vec(any::<u8>(), 1..400)) {
        let r = int_of(&r) % &GROUP.n;
        prop_assume!(r != BigUint::ZERO);
        let a = &GROUP.n * int_of(&k) + r;
        let text = spelled(&a, 0, false);
        prop_assume!(text.len() <= MAX_A_HEX_DIGITS);
        let outcome = verify(session(), "AbCdEf123", "alice", &text, SECRET_BLOCK, TIMESTAMP, PROOF);
        prop_assert_eq!(outcome, Err(SrpError::SignatureMismatch));
    }
}
