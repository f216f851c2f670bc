//! What the fuzz targets share: the text form of a request for the SigV4 target, the split of
//! two-part inputs, the fixed public keys the JWS seeds were signed with, and the SAML vectors.

/// A request as the SigV4 target reads it (and `seed_corpora` writes it): the verifier's clock
/// (Unix seconds) on the first line, then `METHOD target` (the raw path and query, as on the
/// wire), one `name: value` line per header, an empty line, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRequest {
    pub now: i64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WireRequest {
    /// `None` for input that is not of this form; the target then has nothing to check.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let head_end = find(data, b"\n\n")?;
        let head = std::str::from_utf8(&data[..head_end]).ok()?;
        let mut lines = head.split('\n');
        let now = lines.next()?.trim().parse().ok()?;
        let (method, target) = lines.next()?.split_once(' ')?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines
            .map(|l| {
                let (name, value) = l.split_once(':').unwrap_or((l, ""));
                (name.to_string(), value.strip_prefix(' ').unwrap_or(value).to_string())
            })
            .collect();
        Some(Self {
            now,
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers,
            body: data[head_end + 2..].to_vec(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{}\n{} {}", self.now, self.method, self.path);
        if !self.query.is_empty() {
            out.push('?');
            out.push_str(&self.query);
        }
        for (name, value) in &self.headers {
            out.push_str(&format!("\n{name}: {value}"));
        }
        out.push_str("\n\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Splits a two-part input at its first NUL byte (the second part is empty without one).
pub fn split_at_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The JWKS of the keys `seed_corpora` signed the JWS seeds with (public keys only; the
/// private keys were never kept).
pub const SEED_JWKS: &str = include_str!("../jwks.json");

/// The botocore captures the SigV4 unit tests verify: their credentials are the seeds' too.
pub const SIGV4_CAPTURES: &str = include_str!("../../crates/sigv4/tests/fixtures/sigv4_botocore.json");

/// The SAML vectors (signxml, lxml and cryptography): the IdP certificates the SAML seeds are
/// signed with, the SP key the encrypted ones are encrypted to, and the clock they are valid at.
pub const SAML_VECTORS: &str = include_str!("../../crates/saml/tests/fixtures/saml_vectors.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_requests_read_back() {
        let r = WireRequest {
            now: 1_440_938_160,
            method: "POST".into(),
            path: "/a%20b".into(),
            query: "x=1&y".into(),
            headers: vec![("Host".into(), "example.com".into()), ("X-Empty".into(), "".into())],
            body: b"{\"k\": \"v\"}\n\n".to_vec(),
        };
        assert_eq!(WireRequest::parse(&r.to_bytes()), Some(r));
    }
}
