//! A SigV4 signer written from the specification, independent of the server's verifier: the
//! tests sign with it, the server checks with its own code (real SDK signatures are exercised in
//! the interop suites).

use aws_lc_rs::{digest, hmac};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

/// Who signs: an access key, its secret, and the session token of temporary credentials.
pub struct SigningKey<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

/// The headers that sign `POST path` with `body`: `content-type`, `x-amz-date`, the `extra`
/// headers, the session token if any, and `authorization` (every one of them signed, with host).
#[allow(clippy::too_many_arguments)]
pub fn sign_post(
    key: &SigningKey<'_>,
    host: &str,
    path: &str,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    (region, service): (&str, &str),
    now: i64,
) -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    headers.extend(extra.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())));
    sign("POST", key, host, path, headers, body, (region, service), now)
}

/// The headers that sign `GET path` (no query, no body): `x-amz-date`, the session token if
/// any, and `authorization`.
pub fn sign_get(key: &SigningKey<'_>, host: &str, path: &str, scope: (&str, &str), now: i64) -> Vec<(String, String)> {
    sign("GET", key, host, path, Vec::new(), b"", scope, now)
}

#[allow(clippy::too_many_arguments)]
fn sign(
    method: &str,
    key: &SigningKey<'_>,
    host: &str,
    path: &str,
    mut headers: Vec<(String, String)>,
    body: &[u8],
    (region, service): (&str, &str),
    now: i64,
) -> Vec<(String, String)> {
    let t = time::OffsetDateTime::from_unix_timestamp(now).unwrap();
    let amz_date = t.format(&time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap();
    let date = &amz_date[..8];
    headers.push(("host".into(), host.into()));
    headers.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(token) = key.session_token {
        headers.push(("x-amz-security-token".into(), token.into()));
    }
    headers.sort();
    let signed_headers = headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    let canonical_request = format!("{method}\n{path}\n\n{canonical_headers}\n{signed_headers}\n{}", sha256_hex(body));
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()));
    let mut k = hmac_sha256(format!("AWS4{}", key.secret_access_key).as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        k = hmac_sha256(&k, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&k, string_to_sign.as_bytes()));
    headers.retain(|(k, _)| k != "host");
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            key.access_key_id
        ),
    ));
    headers
}
