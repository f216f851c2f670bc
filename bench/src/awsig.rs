//! A SigV4 signer for the bench's own requests (`Authorization` header form, any service), as
//! the AWS SDKs sign for every service but S3: the path encoded once more, the headers given
//! signed (names lower-case, values trimmed), the body's SHA-256 as the payload hash, and an
//! `X-Amz-Security-Token` signed with it when the credentials are temporary.
//!
//! Made for loops that sign every request afresh: the signing key is derived once per day and
//! kept, the body hash can be computed once and passed in, and nothing else is cached (the
//! `X-Amz-Date` changes every second, so each signature is new).

use aws_lc_rs::{digest, hmac};
use std::sync::Mutex;

/// Access key, secret and (temporary credentials) session token, scoped to a region and service.
pub struct SigV4Signer {
    pub access_key_id: String,
    secret_access_key: String,
    pub session_token: Option<String>,
    region: String,
    service: String,
    /// The signing key of the last day signed for: (`YYYYMMDD`, key).
    key: Mutex<Option<(String, hmac::Key)>>,
}

/// What a signature adds to a request: `x-amz-date`, `authorization`, and the session token
/// (already among the signed headers) when there is one.
pub struct Signed {
    pub amz_date: String,
    pub authorization: String,
}

impl SigV4Signer {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
            region: region.into(),
            service: service.into(),
            key: Mutex::new(None),
        }
    }

    fn signing_key(&self, date: &str) -> hmac::Key {
        let mut cached = self.key.lock().expect("signing key lock");
        if let Some((d, k)) = cached.as_ref() {
            if d == date {
                return k.clone();
            }
        }
        let mut key = hmac_sha256(format!("AWS4{}", self.secret_access_key).as_bytes(), date.as_bytes());
        for part in [self.region.as_str(), self.service.as_str(), "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        let k = hmac::Key::new(hmac::HMAC_SHA256, &key);
        *cached = Some((date.to_string(), k.clone()));
        k
    }

    /// Signs `method path?query` with `headers` (which must hold `host`; `x-amz-date` and, with
    /// a session token, `x-amz-security-token` are added to the signed set here) and a body whose
    /// SHA-256 is `body_sha256_hex`, at Unix time `now`. `query` is the canonical query string
    /// (names sorted, values encoded; empty for none).
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body_sha256_hex: &str,
        now: i64,
    ) -> Signed {
        let amz = amz_date(now);
        let date = &amz[..8];
        let mut all: Vec<(String, &str)> =
            headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.trim())).collect::<Vec<_>>();
        all.push(("x-amz-date".into(), amz.as_str()));
        if let Some(t) = &self.session_token {
            all.push(("x-amz-security-token".into(), t.as_str()));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut canonical = String::with_capacity(256 + all.iter().map(|(n, v)| n.len() + v.len() + 2).sum::<usize>());
        canonical.push_str(method);
        canonical.push('\n');
        // Every service but S3 signs the path encoded once more (`%` becomes `%25`).
        canonical.push_str(&path.replace('%', "%25"));
        canonical.push('\n');
        canonical.push_str(query);
        canonical.push('\n');
        for (n, v) in &all {
            canonical.push_str(n);
            canonical.push(':');
            canonical.push_str(v);
            canonical.push('\n');
        }
        canonical.push('\n');
        let signed_headers = all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
        canonical.push_str(&signed_headers);
        canonical.push('\n');
        canonical.push_str(body_sha256_hex);
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
        let signature = hex(hmac::sign(&self.signing_key(date), to_sign.as_bytes()).as_ref());
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key_id
        );
        Signed { amz_date: amz, authorization }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time (UTC).
pub fn amz_date(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The `Host` header reqwest sends for `url` (what a signature must cover).
pub fn host_header(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Unix time now, seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenbridge_core::sigv4::{Secret, SignedRequest, Verifier};

    #[test]
    fn dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(1_700_000_000), "20231114T221320Z");
        assert_eq!(amz_date(4_102_444_799), "20991231T235959Z");
    }

    /// tokenbridge's verifier accepts what this signs, with and without a session token, and
    /// across a day change (the cached key is replaced).
    #[test]
    fn verifies_with_tokenbridge() {
        let body = br#"{"query":"query { listItems { id } }"}"#;
        let hash = sha256_hex(body);
        for token in [None, Some("TBST1.session-token".to_string())] {
            let s = SigV4Signer::new("ASIAEXAMPLE", "s3cr3t", token.clone(), "ap-northeast-1", "appsync");
            for now in [1_700_000_000i64, 1_700_000_000 + 86_400] {
                let signed = s.sign(
                    "POST",
                    "/demo/graphql",
                    "",
                    &[("Host", "127.0.0.1:8080"), ("Content-Type", "application/json")],
                    &hash,
                    now,
                );
                let mut headers: Vec<(String, String)> = vec![
                    ("host".into(), "127.0.0.1:8080".into()),
                    ("content-type".into(), "application/json".into()),
                    ("user-agent".into(), "not signed".into()),
                    ("x-amz-date".into(), signed.amz_date.clone()),
                    ("authorization".into(), signed.authorization.clone()),
                ];
                if let Some(t) = &token {
                    headers.push(("x-amz-security-token".into(), t.clone()));
                }
                let request =
                    SignedRequest { method: "POST", path: "/demo/graphql", query: "", headers: &headers, body };
                let mut secret = Secret::new("s3cr3t");
                if let Some(t) = &token {
                    secret = secret.with_session_token(t.clone());
                }
                let pending = Verifier::new(["appsync"]).check(&request, now).expect("checks pass");
                assert_eq!(pending.access_key_id(), "ASIAEXAMPLE");
                pending.finish(Some(&secret)).expect("signature verifies");
                let wrong = Secret { secret_access_key: "other".into(), session_token: token.clone() };
                let pending = Verifier::new(["appsync"]).check(&request, now).unwrap();
                assert!(pending.finish(Some(&wrong)).is_err());
            }
        }
    }
}
