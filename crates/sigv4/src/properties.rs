//! Properties of verification and canonicalisation over generated requests: nothing a client
//! sends panics the verifier; a request signed over arbitrary paths, parameters and header
//! values verifies, and changing a parameter or the body does not; the encodings read back and
//! the canonical query names one parameter list (in any order) and no other.

use proptest::prelude::*;

use super::canonical::*;
use super::*;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_440_938_160; // 20150830T123600Z

fn lookup(akid: &str) -> Option<Secret> {
    (akid == AKID).then(|| Secret::new(SECRET))
}

/// Header names a verifier reads, and others.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Authorization",
            "X-Amz-Date",
            "Date",
            "Host",
            "X-Amz-Security-Token",
            "X-Amz-Content-Sha256",
            "Content-Type",
        ])
        .prop_map(str::to_string),
        "[A-Za-z-]{1,12}",
    ]
}

/// An Authorization value: well-formed pieces, some replaced by arbitrary text.
fn authorization() -> impl Strategy<Value = String> {
    let credential = prop_oneof![
        Just(format!("{AKID}/20150830/us-east-1/service/aws4_request")),
        "[A-Za-z0-9/_-]{0,60}",
        "\\PC{0,40}",
    ];
    let signed = prop_oneof![Just("host;x-amz-date".to_string()), "[a-z;-]{0,30}", "\\PC{0,20}"];
    let signature = prop_oneof!["[0-9a-f]{64}", "\\PC{0,70}"];
    let algorithm = prop_oneof![Just(ALGORITHM.to_string()), "\\PC{0,20}"];
    (algorithm, credential, signed, signature, any::<bool>()).prop_map(|(alg, c, s, sig, spaced)| {
        let sep = if spaced { ", " } else { "," };
        format!("{alg} Credential={c}{sep}SignedHeaders={s}{sep}Signature={sig}")
    })
}

/// A raw query string, with the presigned form's parameters more often than chance would give.
fn raw_query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Signature",
            "X-Amz-Security-Token",
        ])
        .prop_map(str::to_string),
        "[A-Za-z0-9%+._~-]{0,10}",
    ];
    let value = prop_oneof!["[A-Za-z0-9%+/=._~-]{0,30}", "\\PC{0,20}"];
    prop::collection::vec((name, value), 0..8)
        .prop_map(|pairs| pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&"))
}

/// A query parameter list: arbitrary bytes in names and values.
fn params() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    prop::collection::vec((prop::collection::vec(any::<u8>(), 0..8), prop::collection::vec(any::<u8>(), 0..8)), 0..6)
}

fn encoded(bytes: &[u8]) -> String {
    let mut out = String::new();
    uri_encode(bytes, false, &mut out);
    out
}

/// Signs `request` as an SDK would: the canonical request from the wire's path and query, the
/// signed headers' values, the body's hash; scope AKID/20150830/us-east-1/service.
fn sign(method: &str, path: &str, query: &str, headers: &[(String, String)], body: &[u8]) -> String {
    let signed: Vec<String> = {
        let mut names: Vec<String> = headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        names
    };
    let canonical_headers: String =
        signed.iter().map(|n| format!("{n}:{}\n", joined_header(headers, n).expect("present"))).collect();
    let creq = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{}",
        canonical_uri(path),
        canonical_query(&decode_query(query), None),
        signed.join(";"),
        sha256_hex(body)
    );
    let to_sign = format!(
        "{ALGORITHM}\n{}\n20150830/us-east-1/service/aws4_request\n{}",
        format_amz_date(NOW),
        sha256_hex(creq.as_bytes())
    );
    let key = signing_key(SECRET, "20150830", "us-east-1", "service");
    format!(
        "{ALGORITHM} Credential={AKID}/20150830/us-east-1/service/aws4_request, SignedHeaders={}, Signature={}",
        signed.join(";"),
        hex::encode(hmac_sha256(&key, to_sign.as_bytes()))
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn verification_never_panics(
        method in "[A-Z]{0,7}|\\PC{0,8}",
        path in "[A-Za-z0-9/%._~-]{0,30}|\\PC{0,30}",
        query in raw_query(),
        headers in prop::collection::vec((header_name(), "\\PC{0,40}"), 0..6),
        auth in prop::option::of(authorization()),
        body in prop::collection::vec(any::<u8>(), 0..32),
        now in prop_oneof![Just(NOW), any::<i64>()],
    ) {
        let mut headers = headers;
        if let Some(a) = auth {
            headers.push(("Authorization".into(), a));
            headers.push(("X-Amz-Date".into(), "20150830T123600Z".into()));
            headers.push(("Host".into(), "example.amazonaws.com".into()));
        }
        let request = SignedRequest { method: &method, path: &path, query: &query, headers: &headers, body: &body };
        let outcome = Verifier::new(["service"]).verify(&request, lookup, now);
        // Arbitrary input does not carry a valid signature; each refusal can be worded.
        if let Err(e) = outcome {
            let _ = (e.check(), e.aws_error_type(), e.aws_query_error_code(), e.message());
        }
    }

    #[test]
    fn signed_requests_verify_and_changed_ones_do_not(
        path in "/[A-Za-z0-9/%._~ -]{0,30}",
        query in prop::collection::vec(("[A-Za-z0-9._~-]{1,8}", "[A-Za-z0-9%._~+-]{0,12}"), 0..4),
        values in prop::collection::vec("[ -~]{0,20}", 0..3),
        body in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let query = query.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("&");
        let mut headers = vec![
            ("Host".to_string(), "example.amazonaws.com".to_string()),
            ("X-Amz-Date".to_string(), format_amz_date(NOW)),
        ];
        for (i, v) in values.into_iter().enumerate() {
            headers.push((format!("X-Test-{i}"), v));
        }
        let authorization = sign("POST", &path, &query, &headers, &body);
        headers.push(("Authorization".into(), authorization));
        let verifier = Verifier::new(["service"]);
        let request = SignedRequest { method: "POST", path: &path, query: &query, headers: &headers, body: &body };
        prop_assert!(verifier.verify(&request, lookup, NOW).is_ok());

        let more = format!("{query}&extra=1");
        let changed = SignedRequest { query: &more, ..request };
        prop_assert_eq!(verifier.verify(&changed, lookup, NOW), Err(SigV4Error::SignatureMismatch));
        let mut other_body = body.clone();
        other_body.push(b'!');
        let changed = SignedRequest { body: &other_body, ..request };
        prop_assert_eq!(verifier.verify(&changed, lookup, NOW), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn percent_encoding_reads_back(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(percent_decode(&encoded(&bytes)), bytes);
    }

    #[test]
    fn canonical_query_names_one_parameter_list(a in params(), b in params(), rotate in any::<prop::sample::Index>()) {
        let mut rotated = a.clone();
        if !rotated.is_empty() {
            let by = rotate.index(rotated.len());
            rotated.rotate_left(by);
        }
        prop_assert_eq!(canonical_query(&a, None), canonical_query(&rotated, None));
        let (mut sorted_a, mut sorted_b) = (a.clone(), b.clone());
        sorted_a.sort();
        sorted_b.sort();
        if sorted_a != sorted_b {
            prop_assert_ne!(canonical_query(&a, None), canonical_query(&b, None));
        }
    }

    #[test]
    fn canonical_paths_are_normal_and_encoded(path in "/[A-Za-z0-9/%.~ -]{0,40}|/\\PC{0,20}") {
        let normal = normalize_path(&path);
        prop_assert_eq!(normalize_path(&normal), normal.clone());
        prop_assert!(!normal.split('/').any(|s| s == "." || s == ".."));
        let uri = canonical_uri(&path);
        prop_assert!(uri.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)), "{}", uri);
    }

    #[test]
    fn header_values_are_trimmed_once(value in "[ \\ta-z]{0,30}|\\PC{0,30}") {
        let mut once = String::new();
        trim_all(&value, &mut once);
        let mut twice = String::new();
        trim_all(&once, &mut twice);
        prop_assert_eq!(&once, &twice);
        prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
    }

    #[test]
    fn dates_read_back(seconds in 0i64..253_402_300_800, text in "\\PC{0,40}") {
        prop_assert_eq!(parse_amz_date(&format_amz_date(seconds)), Some(seconds));
        let _ = (parse_amz_date(&text), parse_http_date(&text));
    }
}
