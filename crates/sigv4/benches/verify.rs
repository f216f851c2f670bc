//! SigV4 verification of requests botocore signed (the unit tests' captured fixtures): the
//! checks and canonical request that need no secret, then the whole verification with the
//! signing-key chain. `cargo bench -p tokenbridge-sigv4`.

use serde::Deserialize;
use tokenbridge_microbench::Bench;
use tokenbridge_sigv4::{Secret, SignedRequest, Verifier};

#[derive(Deserialize)]
struct Captures {
    secret_access_key: String,
    cases: Vec<Captured>,
}

/// A request as botocore put it on the wire, and the time it was signed at.
#[derive(Deserialize)]
struct Captured {
    name: String,
    service: String,
    now: i64,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn main() {
    let bench = Bench::from_args();
    let captures: Captures =
        serde_json::from_str(include_str!("../tests/fixtures/sigv4_botocore.json")).expect("captures");
    let secret = captures.secret_access_key.as_str();
    let chosen = ["cognito-admin-get-user", "sts-presigned-get-caller-identity"];
    for c in captures.cases.iter().filter(|c| chosen.contains(&c.name.as_str())) {
        let verifier = Verifier::new([c.service.as_str()]);
        let request = SignedRequest {
            method: &c.method,
            path: &c.path,
            query: &c.query,
            headers: &c.headers,
            body: c.body.as_bytes(),
        };
        let lookup = |_: &str| Some(Secret::new(secret));
        bench.run(&format!("{}: check (canonical request)", c.name), || {
            verifier.check(&request, c.now).expect("captured request")
        });
        bench.run(&format!("{}: verify", c.name), || verifier.verify(&request, lookup, c.now).expect("signature"));
    }
}
