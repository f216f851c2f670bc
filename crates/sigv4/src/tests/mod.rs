use super::canonical::*;
use super::*;
use serde_json::Value;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn request<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a [(String, String)],
    body: &'a [u8],
) -> SignedRequest<'a> {
    SignedRequest { method, path, query, headers, body }
}

fn lookup_plain(akid: &str) -> Option<Secret> {
    (akid == AKID).then(|| Secret::new(SECRET))
}

mod aws_suite;
mod botocore;
mod refusals;

use aws_suite::{SUITE_DATE, SUITE_HOST, SUITE_NOW, SUITE_TOKEN};
use refusals::{vanilla_headers, VANILLA_AUTH};

// ---------------------------------------------------------------------------------------------
// Canonicalisation pieces.

#[test]
fn sigv4_canonical_pieces() {
    for (raw, canonical) in [
        ("", "/"),
        ("/", "/"),
        ("/a/b/../c/./d", "/a/c/d"),
        ("/a//b/", "/a/b/"),
        ("/..", "/"),
        ("/%2E%2E/x", "/%252E%252E/x"),
        ("/a b+c", "/a%20b%2Bc"),
        ("/caf%C3%A9", "/caf%25C3%25A9"),
    ] {
        assert_eq!(canonical_uri(raw), canonical, "{raw:?}");
    }

    let q = |raw: &str| canonical_query(&decode_query(raw), Some("X-Amz-Signature"));
    assert_eq!(q("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(q("flag&x="), "flag=&x=");
    assert_eq!(q("k=a%2fb&k2=a b&k3=a+b&k4=%7E"), "k=a%2Fb&k2=a%20b&k3=a%2Bb&k4=~");
    assert_eq!(q("a=1&&X-Amz-Signature=abc&%zz=1"), "%25zz=1&a=1");
    // Sorted by the encoded name: "%" (0x25) sorts before letters.
    assert_eq!(q("a=1&%C3%A9=2"), "%C3%A9=2&a=1");

    let mut s = String::new();
    trim_all("  a \t b\r\n  c  ", &mut s);
    assert_eq!(s, "a b c");
    let headers = owned(&[("X-A", " 1 "), ("x-a", "2  3"), ("X-B", "")]);
    assert_eq!(joined_header(&headers, "x-a").as_deref(), Some("1,2 3"));
    assert_eq!(joined_header(&headers, "x-b").as_deref(), Some(""));
    assert_eq!(joined_header(&headers, "x-c"), None);

    assert_eq!(parse_amz_date("20150830T123600Z"), Some(SUITE_NOW));
    for bad in ["20150830T123600", "20151330T123600Z", "2015083OT123600Z", "20150830 123600Z", ""] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
    for (date, unix) in [
        ("Sun, 30 Aug 2015 12:36:00 GMT", SUITE_NOW),
        ("Mon, 30 Aug 2015 12:36:00 -0000", SUITE_NOW),
        ("30 Aug 2015 14:36:00 +0200", SUITE_NOW),
        ("Sun, 30 Aug 2015 07:36:00 -0500", SUITE_NOW),
    ] {
        assert_eq!(parse_http_date(date), Some(unix), "{date}");
    }
    for bad in ["Sunday, 30-Aug-15 12:36:00 GMT", "Sun, 30 Aug 2015 12:36 GMT", "Sun, 31 Sep 2015 12:36:00 GMT"] {
        assert_eq!(parse_http_date(bad), None, "{bad}");
    }
    assert_eq!(format_amz_date(SUITE_NOW), "20150830T123600Z");

    // The derived key of the AWS documentation's example (iam, us-east-1, 20150830).
    assert_eq!(
        hex::encode(signing_key(SECRET, "20150830", "us-east-1", "iam")),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
}

#[test]
fn sigv4_debug_output_hides_credentials() {
    let secret = Secret::new(SECRET).with_session_token(SUITE_TOKEN);
    let shown = format!("{secret:?}");
    assert!(!shown.contains("wJalr") && !shown.contains("AQoD"), "{shown}");
    let headers = vanilla_headers(VANILLA_AUTH);
    let req = request("GET", "/", "X-Amz-Signature=5fa00fa3", &headers, b"");
    let shown = format!("{req:?}");
    assert!(!shown.contains("5fa00fa3"), "{shown}");
    let pending = Verifier::new(["service"]).check(&request("GET", "/", "", &headers, b""), SUITE_NOW).unwrap();
    assert!(!format!("{pending:?}").contains("5fa00fa3"));
}

#[test]
fn sigv4_two_step_lookup() {
    let headers = vanilla_headers(VANILLA_AUTH);
    let req = request("GET", "/", "", &headers, b"");
    let pending = Verifier::new(["service"]).check(&req, SUITE_NOW).unwrap();
    assert_eq!((pending.access_key_id(), pending.region(), pending.service()), (AKID, "us-east-1", "service"));
    let caller = pending.finish(Some(&Secret::new(SECRET))).unwrap();
    assert_eq!(caller.signed_at, SUITE_NOW);
    let caller = verify(&req, lookup_plain, &["sts", "service"], SUITE_NOW).unwrap();
    assert_eq!(caller.service, "service");
}
