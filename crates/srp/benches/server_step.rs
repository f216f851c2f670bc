//! The server's side of one USER_SRP_AUTH sign-in: B for the challenge (one modular
//! exponentiation) and the check of the client's proof (two), and the verifier made when a
//! password is set. `cargo bench -p tokenbridge-srp`.

use tokenbridge_microbench::Bench;
use tokenbridge_srp::{cognito_timestamp, make_verifier, pool_name, start, verify, SrpError};

const SECRET_BLOCK: &str = "c2VjcmV0IGJsb2NrIGZyb20gdGhlIHNlcnZlcg==";
/// A proof that matches no SRP_A: checking it costs the same work as checking one that does
/// (the comparison comes last).
const PROOF: &str = "UQQOeDLL3cBaeJRDVqXtADcNRmC/8vlQGtAL9fu8104=";

fn main() {
    let bench = Bench::from_args();
    let pool = pool_name("us-east-1_AbCdEf123");
    let verifier = make_verifier(pool, "alice", "correct horse battery staple");
    let session = start(&verifier);
    let timestamp = cognito_timestamp(1_793_862_245);
    // A full-length A (768 hex digits, as clients send), not a multiple of N.
    let srp_a = "bca5582c41e2608b".repeat(48);

    bench.run("make_verifier (password set)", || make_verifier(pool, "alice", "correct horse battery staple"));
    bench.run("start (SRP_B)", || start(&verifier));
    bench.run("verify (PASSWORD_VERIFIER answer)", || {
        let outcome = verify(&session, pool, "alice", &srp_a, SECRET_BLOCK, &timestamp, PROOF);
        assert_eq!(outcome, Err(SrpError::SignatureMismatch));
    });
}
