//! SigV4 verification of requests botocore signed (the unit tests' captured fixtures): the
//! checks and canonical request that need no secret, then the whole verification with the
//! signing-key chain. `cargo bench -p tokenbridge-sigv4`.

use serde_json::Value;
use tokenbridge_microbench::Bench;
use tokenbridge_sigv4::{Secret, SignedRequest, Verifier};

struct Captured {
    name: String,
    service: String,
    now: i64,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn captured(name: &str) -> (Captured, String) {
    let doc: Value = serde_json::from_str(include_str!("../tests/fixtures/sigv4_botocore.json")).expect("fixture");
    let text = |v: &Value| v.as_str().expect("text").to_string();
    let case = doc["cases"].as_array().expect("cases").iter().find(|c| c["name"] == name).expect("named case");
    let request = Captured {
        name: text(&case["name"]),
        service: text(&case["service"]),
        now: case["now"].as_i64().expect("now"),
        method: text(&case["method"]),
        path: text(&case["path"]),
        query: text(&case["query"]),
        headers: case["headers"].as_array().expect("headers").iter().map(|h| (text(&h[0]), text(&h[1]))).collect(),
        body: text(&case["body"]).into_bytes(),
    };
    (request, text(&doc["secret_access_key"]))
}

fn main() {
    let bench = Bench::from_args();
    for name in ["cognito-admin-get-user", "sts-presigned-get-caller-identity"] {
        let (c, secret) = captured(name);
        let verifier = Verifier::new([c.service.as_str()]);
        let request =
            SignedRequest { method: &c.method, path: &c.path, query: &c.query, headers: &c.headers, body: &c.body };
        let lookup = |_: &str| Some(Secret::new(secret.as_str()));
        bench.run(&format!("{}: check (canonical request)", c.name), || {
            verifier.check(&request, c.now).expect("captured request")
        });
        bench.run(&format!("{}: verify", c.name), || verifier.verify(&request, lookup, c.now).expect("signature"));
    }
}
