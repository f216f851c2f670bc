//! `tokenbridge-bench sigv4`: SigV4 verifications per second on this machine, with
//! tokenbridge's own verifier (`tokenbridge_core::sigv4`), of a realistic signed request: the
//! AppSync-style `POST /demo/graphql` an SDK sends with temporary credentials, a JSON body of
//! about 200 bytes, five signed headers (`accept`, `content-type`, `host`, `x-amz-date`,
//! `x-amz-security-token` with a session token as long as tokenbridge's), and the unsigned ones
//! a client adds (`user-agent`, `content-length`, `authorization`).
//!
//! One verification is what the GraphQL door does once it has the secret: a new
//! `Verifier::new(["appsync"])`, `check` (parse the Authorization header, the scope, the date and
//! its window, the signed headers, the body's SHA-256, the canonical request up to the payload
//! hash) and `finish` with the secret and session token (constant-time token compare, the
//! signing-key chain of four HMACs, the canonical request's SHA-256, the string to sign's HMAC,
//! constant-time compare). Also measured: `check` alone, and the bench's own signer (the
//! client's cost per request). The session token's opening (decryption of the secret) is not
//! part of this: the GraphQL figure includes it.

use super::awsig::{sha256_hex, unix_now, SigV4Signer};
use super::in_process::measure;
use super::round;
use anyhow::{bail, Result};
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;
use tokenbridge_core::sigv4::{Secret, SignedRequest, Verifier};

/// Length of the bench's session token: about what tokenbridge issues for a role session.
pub const SESSION_TOKEN_CHARS: usize = 860;

struct Fixture {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    secret: Secret,
    now: i64,
}

fn fixture() -> Fixture {
    let body = json!({
        "query": "query ListItems($limit: Int) { listItems { id name owner createdAt } }",
        "variables": { "limit": 20 },
        "operationName": "ListItems",
        "extensions": { "client": "tokenbridge-bench", "requestId": "5f0c3b9e-3d4e-4c1a-9b7e-2f6a8d1c0e42" },
    })
    .to_string()
    .into_bytes();
    // A base64url-looking token of the usual length.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut token = String::from("TBS1.");
    let mut x: u32 = 0x9e37_79b9;
    while token.len() < SESSION_TOKEN_CHARS {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        token.push(char::from(alphabet[(x % 64) as usize]));
    }
    let secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let signer = SigV4Signer::new("ASIAQ3EGUDZVEXAMPLE1", secret_key, Some(token.clone()), "ap-northeast-1", "appsync");
    let now = unix_now();
    let host = "127.0.0.1:43817";
    let accept = "application/json, text/javascript";
    let content_type = "application/json; charset=UTF-8";
    let signed = signer.sign(
        "POST",
        "/demo/graphql",
        "",
        &[("host", host), ("accept", accept), ("content-type", content_type)],
        &sha256_hex(&body),
        now,
    );
    let headers: Vec<(String, String)> = [
        ("host", host.to_string()),
        ("user-agent", "aws-sdk-js/3.700.0 ua/2.1 os/linux lang/js md/nodejs#22.11.0 api/appsync#3.700.0".into()),
        ("accept", accept.into()),
        ("content-type", content_type.into()),
        ("content-length", body.len().to_string()),
        ("x-amz-date", signed.amz_date.clone()),
        ("x-amz-security-token", token.clone()),
        ("authorization", signed.authorization.clone()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect();
    Fixture { headers, body, secret: Secret::new(secret_key).with_session_token(token), now }
}

fn request(f: &Fixture) -> SignedRequest<'_> {
    SignedRequest { method: "POST", path: "/demo/graphql", query: "", headers: &f.headers, body: &f.body }
}

fn verify_once(f: &Fixture) -> bool {
    let req = request(f);
    match Verifier::new(["appsync"]).check(&req, f.now) {
        Ok(p) => p.finish(Some(&f.secret)).is_ok(),
        Err(_) => false,
    }
}

pub fn run(seconds: u64, threads: usize, json_out: bool) -> Result<()> {
    let length = Duration::from_secs(seconds.clamp(1, 10));
    let f = fixture();
    if !verify_once(&f) {
        bail!("the bench's signed request does not verify");
    }
    // A wrong secret must fail, or the loop would measure nothing.
    let wrong = Secret::new("not-the-secret").with_session_token(f.secret.session_token.clone().unwrap_or_default());
    let req = request(&f);
    if Verifier::new(["appsync"]).check(&req, f.now).map(|p| p.finish(Some(&wrong)).is_ok()).unwrap_or(true) {
        bail!("a wrong secret verified");
    }
    let signed_headers = f
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .and_then(|(_, v)| v.split("SignedHeaders=").nth(1))
        .and_then(|s| s.split(',').next())
        .unwrap_or_default()
        .to_string();
    if !json_out {
        println!(
            "sigv4: POST /demo/graphql, body {} bytes, {} headers ({} signed: {signed_headers}), session token {} chars; {} s per figure",
            f.body.len(),
            f.headers.len(),
            signed_headers.split(';').count(),
            SESSION_TOKEN_CHARS,
            length.as_secs()
        );
    }
    let token = f.secret.session_token.clone();
    let signer = SigV4Signer::new(
        "ASIAQ3EGUDZVEXAMPLE1",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        token,
        "ap-northeast-1",
        "appsync",
    );
    for t in 1..=threads.clamp(1, 64) {
        // 64 calls between looks at the clock: a call takes a few microseconds.
        let rows = [
            ("verify", measure(t, length, 64, || verify_once(black_box(&f)))?),
            (
                "check",
                measure(t, length, 64, || Verifier::new(["appsync"]).check(black_box(&request(&f)), f.now).is_ok())?,
            ),
            (
                "sign",
                measure(t, length, 64, || {
                    let s = signer.sign(
                        "POST",
                        "/demo/graphql",
                        "",
                        &[
                            ("host", "127.0.0.1:43817"),
                            ("accept", "application/json"),
                            ("content-type", "application/json"),
                        ],
                        &sha256_hex(black_box(&f.body)),
                        f.now,
                    );
                    !black_box(s.authorization).is_empty()
                })?,
            ),
        ];
        for (op, m) in rows {
            if json_out {
                let fields = json!({
                    "bench": "sigv4", "operation": op,
                    "us_per_call_per_thread": round(t as f64 * 1e6 / m.per_second, 3),
                    "body_bytes": f.body.len(), "signed_headers": signed_headers,
                    "session_token_chars": SESSION_TOKEN_CHARS,
                });
                println!("{}", m.json_line(t, fields));
            } else {
                println!(
                    "  {t} thread(s)  {op:7} {:>10.0}/s  ({:>9.0}/s per thread, {:>6.2} µs each; other processes {} cores)",
                    m.per_second,
                    m.per_second / t as f64,
                    t as f64 * 1e6 / m.per_second,
                    m.other_cores_text()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_verifies_and_signs_five_headers() {
        let f = fixture();
        assert!(verify_once(&f));
        assert!((150..=260).contains(&f.body.len()), "body {} bytes", f.body.len());
        let auth = &f.headers.iter().find(|(n, _)| n == "authorization").unwrap().1;
        assert!(auth.contains("SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token,"), "{auth}");
    }
}
