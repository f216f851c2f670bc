//! AWS JSON 1.1 calls over HTTP, shared by the user-pool bench (`cognito.rs`) and the
//! identity-pool bench (`identity.rs`) so that both send and classify them alike: `POST` to the
//! endpoint with `Content-Type: application/x-amz-json-1.1` and `X-Amz-Target`, SigV4-signed when
//! a signer is given (the untimed setup calls), and the plain `POST` under them (which
//! `identity.rs` also uses for GraphQL and STS).
//!
//! A call without a `200` JSON answer is an error `(kind, sample)`: kind `timeout`, `connect` or
//! `transport` (no answer), `<status>` or `<status> <__type>`, or `200 not JSON`; the sample is
//! the error's message, or an excerpt of the body.

use super::awsig::{host_header, sha256_hex, unix_now, SigV4Signer, Signed};
use super::{excerpt, transport_kind};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};
use serde_json::Value;
use std::ops::Deref;

pub const JSON_1_1: &str = "application/x-amz-json-1.1";

/// `POST url` with `headers` and `body`: the answer's status and body.
pub async fn post(
    client: &Client,
    url: &Url,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<(StatusCode, impl Deref<Target = [u8]>), (String, String)> {
    let no_answer = |e: reqwest::Error| (transport_kind(&e).to_string(), excerpt(&format!("{e:#}")));
    let resp = client.post(url.clone()).headers(headers).body(body).send().await.map_err(no_answer)?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(no_answer)?;
    Ok((status, bytes))
}

/// `<status> <__type>` of an AWS JSON error answer (or `<status>` alone), and its message.
pub fn error_of(status: StatusCode, body: &[u8]) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let kind = parsed
        .as_ref()
        // cognito-local names the error `code`.
        .and_then(|v| v.get("__type").or_else(|| v.get("code")))
        .and_then(Value::as_str)
        // AWS may send `namespace#Name`.
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string());
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("Message")))
        .and_then(Value::as_str)
        .map(excerpt)
        .unwrap_or_else(|| excerpt(&String::from_utf8_lossy(body)));
    match kind {
        Some(k) => (format!("{} {k}", status.as_u16()), message),
        None => (status.as_u16().to_string(), message),
    }
}

/// The signature of a JSON 1.1 call: host, content type and target signed.
fn sign(signer: &SigV4Signer, url: &Url, target: &str, body: &[u8], now: i64) -> Signed {
    let host = host_header(url);
    signer.sign(
        "POST",
        url.path(),
        "",
        &[("host", &host), ("content-type", JSON_1_1), ("x-amz-target", target)],
        &sha256_hex(body),
        now,
    )
}

/// One AWS JSON 1.1 call (`target` is the whole `X-Amz-Target`), signed when `signer` is given:
/// the JSON answer.
pub async fn call(
    client: &Client,
    url: &Url,
    target: &str,
    body: Vec<u8>,
    signer: Option<&SigV4Signer>,
) -> Result<Value, (String, String)> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_1_1));
    headers.insert(
        HeaderName::from_static("x-amz-target"),
        HeaderValue::from_str(target).map_err(|e| ("bad target".to_string(), e.to_string()))?,
    );
    if let Some(s) = signer {
        let signed = sign(s, url, target, &body, unix_now());
        headers.insert(HeaderName::from_static("x-amz-date"), HeaderValue::from_str(&signed.amz_date).expect("ascii"));
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&signed.authorization).expect("ascii"));
    }
    let (status, bytes) = post(client, url, headers, body).await?;
    if status != StatusCode::OK {
        return Err(error_of(status, &bytes));
    }
    serde_json::from_slice(&bytes).map_err(|_| ("200 not JSON".into(), excerpt(&String::from_utf8_lossy(&bytes))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenbridge_core::sigv4::{self, Secret, SignedRequest};

    /// The signature of an admin call (cognito-setup) is accepted by tokenbridge's own verifier.
    #[test]
    fn signature_verifies() {
        let url = Url::parse("http://127.0.0.1:9229/").unwrap();
        let signer = SigV4Signer::new("AKIDEXAMPLE", "s3cr3t", None, "ap-northeast-1", "cognito-idp");
        let target = "AWSCognitoIdentityProviderService.ListUserPools";
        let body = br#"{"MaxResults":10}"#;
        let now = 1_700_000_000;
        let signed = sign(&signer, &url, target, body, now);
        let headers: Vec<(String, String)> = vec![
            ("host".into(), host_header(&url)),
            ("content-type".into(), JSON_1_1.into()),
            ("x-amz-date".into(), signed.amz_date),
            ("x-amz-target".into(), target.into()),
            ("authorization".into(), signed.authorization),
        ];
        let request = SignedRequest { method: "POST", path: "/", query: "", headers: &headers, body };
        let lookup = |k: &str| (k == "AKIDEXAMPLE").then(|| Secret::new("s3cr3t"));
        let caller = sigv4::verify(&request, lookup, &["cognito-idp"], now).expect("valid signature");
        assert_eq!(caller.access_key_id, "AKIDEXAMPLE");
        let wrong = |k: &str| (k == "AKIDEXAMPLE").then(|| Secret::new("other"));
        assert!(sigv4::verify(&request, wrong, &["cognito-idp"], now).is_err());
    }

    #[test]
    fn aws_errors_are_classified() {
        let e = error_of(
            StatusCode::BAD_REQUEST,
            br#"{"__type":"com.amazonaws#NotAuthorizedException","message":"Incorrect username or password."}"#,
        );
        assert_eq!(e, ("400 NotAuthorizedException".into(), "Incorrect username or password.".into()));
        let e = error_of(StatusCode::BAD_REQUEST, br#"{"code":"UserNotFoundException","message":"User not found"}"#);
        assert_eq!(e.0, "400 UserNotFoundException");
        let e = error_of(StatusCode::INTERNAL_SERVER_ERROR, b"boom");
        assert_eq!(e, ("500".into(), "boom".into()));
    }
}
