//! A PASSWORD_VERIFIER answer checked as USER_SRP_AUTH does: SRP_A, the secret block, the
//! timestamp and the claim signature, one per line.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tokenbridge_srp::{make_verifier, parse_cognito_timestamp, pool_name, start, verify, ServerSession};

const POOL_ID: &str = "us-east-1_AbCdEf123";

static SESSION: LazyLock<ServerSession> =
    LazyLock::new(|| start(&make_verifier(pool_name(POOL_ID), "alice", "correct horse battery staple")));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.splitn(4, '\n');
    let mut next = || lines.next().unwrap_or("");
    let (srp_a, secret_block, timestamp, signature) = (next(), next(), next(), next());
    let _ = parse_cognito_timestamp(timestamp);
    // No answer proves a password nobody here knows.
    let outcome = verify(&SESSION, pool_name(POOL_ID), "alice", srp_a, secret_block, timestamp, signature);
    assert!(outcome.is_err());
});
