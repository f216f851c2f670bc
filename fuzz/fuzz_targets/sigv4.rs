//! A request's SigV4 signature checked as the AWS doors do: the header and presigned forms,
//! the canonical request, the credential scope, the clock, the session token and the signature,
//! with the secret of the botocore captures the seeds come from.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokenbridge_fuzz::{WireRequest, SIGV4_CAPTURES};
use tokenbridge_sigv4::{Secret, SignedRequest, Verifier};

/// The captures' secret and the session token their temporary credentials carry.
static CREDENTIALS: LazyLock<(String, String)> = LazyLock::new(|| {
    let doc: Value = serde_json::from_str(SIGV4_CAPTURES).expect("captures");
    let token = doc["cases"].as_array().expect("cases").iter().find_map(|c| c["session_token"].as_str());
    (doc["secret_access_key"].as_str().expect("secret").to_string(), token.expect("a session token").to_string())
});

const SERVICES: [&str; 6] = ["cognito-idp", "cognito-identity", "sts", "iam", "lambda", "appsync"];

fuzz_target!(|data: &[u8]| {
    let Some(r) = WireRequest::parse(data) else { return };
    let request =
        SignedRequest { method: &r.method, path: &r.path, query: &r.query, headers: &r.headers, body: &r.body };
    let (secret, token) = &*CREDENTIALS;
    for verifier in [Verifier::new(SERVICES), Verifier::new(SERVICES).allow_unsigned_payload(true)] {
        match verifier.check(&request, r.now) {
            Ok(pending) => {
                let found = match pending.session_token() {
                    Some(_) => Secret::new(secret.as_str()).with_session_token(token.as_str()),
                    None => Secret::new(secret.as_str()),
                };
                let _ = pending.finish(Some(&found));
            }
            Err(e) => {
                let _ = (e.check(), e.aws_error_type(), e.aws_query_error_code(), e.message());
            }
        }
    }
});
