//! Shared harness for the integration tests: the real server on an ephemeral port, a real
//! SQLite file in a temporary directory, the built-in demo upstream provider, and (for crafted
//! upstream tokens) a small test-owned third-party provider that publishes its JWKS over HTTP.
//! Here: the demo's people, responses and their assertions, token inspection, key material,
//! trust policies and the audit trail of a response; the server itself in `server.rs`, what
//! tests send it in `requests.rs`, the test-owned provider in `upstream.rs`, the guarded user
//! pool in `pool.rs`.
//!
//! Each test module uses a different part of this module.
#![allow(dead_code)]

mod pool;
pub mod refusals;
mod requests;
mod server;
pub mod sigv4;
mod upstream;

pub use pool::*;
pub use server::*;
pub use upstream::*;

use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use tokenbridge_core::jose::{b64url, JwkSet, Signer, UnverifiedJwt, VerifyingKey};
use tokenbridge_core::model::KeyAlgorithm;
use tokenbridge_core::{Clock, SystemClock};

pub const DEMO_CLIENT: &str = tokenbridge_demo::DEMO_CLIENT_ID;
/// The pool domain whose OIDC callback the demo provider accepts as a redirect URI.
pub const OIDC_DOMAIN: &str = "oidc-test";
pub const UPSTREAM_CLIENT: &str = tokenbridge_demo::UPSTREAM_CLIENT_ID;
/// A second client of the custom server that accepts only the demo provider.
pub const DEMO_ONLY_CLIENT: &str = "demo-only";
pub const DEMO_ONLY_SECRET: &str = "demo-only-secret";
pub const TEST_PROVIDER: &str = "test";
pub const TEST_AUDIENCE: &str = "test-aud";
pub const TEST_KID: &str = "test-k1";
pub const ATTACKER_KID: &str = "attacker-k1";

pub const TT_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const TT_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The AWS JSON 1.1 content type, and the `x-amz-target` prefixes of the Cognito user-pool and
/// identity-pool APIs.
pub const AMZ_JSON: &str = "application/x-amz-json-1.1";
pub const USER_POOL_TARGET: &str = "AWSCognitoIdentityProviderService.";
pub const IDENTITY_POOL_TARGET: &str = "AWSCognitoIdentityService.";

/// The demo's people (as crates/demo seeds them): local username, email, upstream login, groups.
pub struct Person {
    pub username: &'static str,
    pub email: &'static str,
    pub upstream_username: &'static str,
    pub upstream_password: &'static str,
    /// Linked locally (carol is known only upstream).
    pub local: bool,
    pub upstream_email_verified: bool,
    pub groups: &'static [&'static str],
}

pub const PEOPLE: &[Person] = &[
    Person {
        username: "alice",
        email: "alice@example.com",
        upstream_username: "alice@demo-upstream.example",
        upstream_password: "alice-upstream-pw",
        local: true,
        upstream_email_verified: true,
        groups: &["admins", "readers"],
    },
    Person {
        username: "bob",
        email: "bob@example.com",
        upstream_username: "bob@demo-upstream.example",
        upstream_password: "bob-upstream-pw",
        local: true,
        upstream_email_verified: true,
        groups: &["readers"],
    },
    Person {
        username: "erin",
        email: "erin@example.com",
        upstream_username: "erin@demo-upstream.example",
        upstream_password: "erin-upstream-pw",
        local: true,
        upstream_email_verified: true,
        groups: &[],
    },
    Person {
        username: "carol",
        email: "carol@example.com",
        upstream_username: "carol@demo-upstream.example",
        upstream_password: "carol-upstream-pw",
        local: false,
        upstream_email_verified: true,
        groups: &[],
    },
    Person {
        username: "dave",
        email: "dave@example.com",
        upstream_username: "dave@demo-upstream.example",
        upstream_password: "dave-upstream-pw",
        local: true,
        upstream_email_verified: false,
        groups: &[],
    },
];

pub fn person(username: &str) -> &'static Person {
    PEOPLE.iter().find(|p| p.username == username).unwrap_or_else(|| panic!("no demo person {username}"))
}

pub fn system_now() -> i64 {
    SystemClock.now()
}

// --- responses ---

/// A response read in full: status, headers, raw text and the JSON body (Null if not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub async fn read(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("response body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { status, headers, text, json }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn request_id(&self) -> &str {
        self.header("x-request-id").expect("x-request-id header")
    }

    pub fn str(&self, key: &str) -> &str {
        self.json[key].as_str().unwrap_or_else(|| panic!("no string {key:?} in {}", self.text))
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.status, 200, "expected 200, got {}: {}", self.status, self.text);
        self
    }
}

/// Checks an RFC 6749 §5.2 error answer: status, `error`, an `error_description` naming the
/// failed check (`needle`, case-insensitive), `request_id` equal to the `x-request-id` header,
/// `Cache-Control: no-store`, and that none of the presented `secrets` appears in the body or
/// in any header.
#[track_caller]
pub fn assert_oauth_error(r: &Resp, status: u16, error: &str, needle: &str, secrets: &[&str]) {
    assert_eq!(r.status, status, "status; body: {}", r.text);
    assert_eq!(r.json["error"], error, "error code; body: {}", r.text);
    let desc = r.json["error_description"].as_str().unwrap_or_else(|| panic!("no error_description: {}", r.text));
    assert!(
        desc.to_lowercase().contains(&needle.to_lowercase()),
        "error_description {desc:?} does not name {needle:?}"
    );
    let rid = r.json["request_id"].as_str().unwrap_or_else(|| panic!("no request_id: {}", r.text));
    assert!(!rid.is_empty());
    assert_eq!(Some(rid), r.header("x-request-id"), "request_id in the body equals the x-request-id header");
    assert_eq!(r.header("cache-control"), Some("no-store"), "errors are not cached");
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!r.text.contains(s), "the error body contains a presented token: {}", r.text);
        // Also a long prefix of it: a truncated token is still a leak.
        let prefix = &s[..s.len().min(40)];
        assert!(!r.text.contains(prefix), "the error body contains part of a presented token: {}", r.text);
        for (name, v) in &r.headers {
            let v = v.to_str().unwrap_or("");
            assert!(!v.contains(prefix), "header {name} contains a presented token");
        }
    }
}

/// An AWS JSON 1.1 error of the Cognito user-pool and identity-pool doors: HTTP 400, `__type`,
/// the message, and `x-amzn-RequestId` equal to our request id.
#[track_caller]
pub fn assert_cognito_error(r: &Resp, exception: &str, message: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["__type"], exception, "{}", r.text);
    assert_eq!(r.json["message"], message, "{}", r.text);
    assert_eq!(r.header("x-amzn-requestid"), Some(r.request_id()));
}

// --- token inspection ---

/// Parses a JWT without verifying it.
pub fn decode(token: &str) -> UnverifiedJwt {
    UnverifiedJwt::parse(token).unwrap_or_else(|e| panic!("not a JWT: {e}"))
}

/// Verifies `token` against the JWKS the server publishes at `/.well-known/jwks.json`; returns
/// the parsed token. Panics when the kid is missing, unpublished, or the signature fails.
pub fn verify_with_jwks(token: &str, jwks: &Value) -> UnverifiedJwt {
    let jwt = decode(token);
    let kid = jwt.header.kid.clone().expect("issued tokens carry a kid");
    let set: JwkSet = serde_json::from_value(jwks.clone()).expect("a JWKS");
    let jwk = set.keys.iter().find(|k| k.kid.as_deref() == Some(kid.as_str())).unwrap_or_else(|| {
        panic!("kid {kid} is not published in {jwks}");
    });
    let key = VerifyingKey::from_jwk(jwk).expect("usable JWK");
    key.verify(&jwt).expect("signature verifies against the published JWKS");
    jwt
}

pub fn b64json(v: &Value) -> String {
    b64url(v.to_string().as_bytes())
}

/// A compact JWS with an arbitrary header, RS256-signed by `signer`.
pub fn sign_with_header(signer: &Signer, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64json(header), b64json(claims));
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

/// Replaces one character in the middle of the signature segment.
pub fn flip_signature_byte(token: &str) -> String {
    let sig_start = token.rfind('.').expect("JWT") + 1;
    let i = sig_start + (token.len() - sig_start) / 2;
    let mut bytes = token.as_bytes().to_vec();
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}

// --- key material: RSA generation is slow in debug builds, so each key is made once per
// test binary and reused ---

pub(super) fn shared_pkcs8(slot: usize) -> &'static [u8] {
    static KEYS: [OnceLock<Vec<u8>>; 4] = [const { OnceLock::new() }; 4];
    KEYS[slot].get_or_init(|| Signer::generate(KeyAlgorithm::RS256, format!("gen-{slot}")).expect("RSA key").1)
}

/// The legitimate test provider's key (published in its JWKS).
pub fn provider_key_pkcs8() -> &'static [u8] {
    shared_pkcs8(0)
}

/// The attacker's key (never published by the provider).
pub fn attacker_key_pkcs8() -> &'static [u8] {
    shared_pkcs8(1)
}

// --- IAM trust policies ---

/// A role's trust policy of one statement `sid`: `AssumeRoleWithWebIdentity` by tokens of the
/// OIDC provider `provider` (its issuer without the scheme) issued to the audience `aud`.
pub fn web_identity_trust(sid: &str, account: &str, provider: &str, aud: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid,
            "Effect": "Allow",
            "Principal": { "Federated": format!("arn:aws:iam::{account}:oidc-provider/{provider}") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": { "StringEquals": { format!("{provider}:aud"): aud } },
        }],
    })
}

/// A role's trust policy of one statement `sid`: `AssumeRoleWithWebIdentity` by identities of the
/// identity pool `aud` whose `amr` has `amr` (`authenticated`, `unauthenticated`, a provider).
pub fn identity_pool_trust(sid: &str, aud: &str, amr: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid,
            "Effect": "Allow",
            "Principal": { "Federated": "cognito-identity.amazonaws.com" },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": { "cognito-identity.amazonaws.com:aud": aud },
                "ForAnyValue:StringLike": { "cognito-identity.amazonaws.com:amr": amr },
            },
        }],
    })
}

/// Sends every request at once and reads the answers, in request order.
pub async fn send_all(requests: Vec<reqwest::RequestBuilder>) -> Vec<Resp> {
    let start = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|req| {
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                Resp::read(req.send().await.expect("request")).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("request task"));
    }
    out
}

/// The first failing check of a request's audit record: (error code, check, detail).
pub async fn failing_check(s: &Server, r: &Resp) -> (String, String, String) {
    let records = s.audit_of(r.request_id()).await;
    let rec = records.first().unwrap_or_else(|| panic!("no audit record for {}", r.request_id()));
    let steps = rec.record["additionalEventData"]["decisionTrail"].as_array().cloned().unwrap_or_default();
    let fail = steps.iter().find(|s| s["outcome"] == "fail").cloned().unwrap_or_default();
    (
        rec.error_code.clone().unwrap_or_default(),
        fail["check"].as_str().unwrap_or_default().to_string(),
        fail["detail"].as_str().unwrap_or_default().to_string(),
    )
}

/// Every step of a request's audit trail as `check: detail`.
pub async fn trail_of(s: &Server, r: &Resp) -> Vec<String> {
    let records = s.audit_of(r.request_id()).await;
    let rec = records.first().unwrap_or_else(|| panic!("no audit record for {}", r.request_id()));
    let steps = rec.record["additionalEventData"]["decisionTrail"].as_array().cloned().unwrap_or_default();
    steps
        .iter()
        .map(|s| format!("{}: {}", s["check"].as_str().unwrap_or_default(), s["detail"].as_str().unwrap_or_default()))
        .collect()
}
