//! The AWS Signature Version 4 test suite (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html,
//! 2015-08-30 edition): credentials AKIDEXAMPLE, region us-east-1, service "service". Request,
//! SignedHeaders, expected canonical request and signature of each case, as published. Where copies
//! of the suite disagree (the form-urlencoded cases: charset "utf8", content-length not signed), the
//! values here are the ones botocore reproduces.

use super::*;

pub(super) const SUITE_NOW: i64 = 1_440_938_160; // 20150830T123600Z
pub(super) const SUITE_DATE: (&str, &str) = ("X-Amz-Date", "20150830T123600Z");
pub(super) const SUITE_HOST: (&str, &str) = ("Host", "example.amazonaws.com");

struct Vector {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    signed_headers: &'static str,
    creq: &'static str,
    signature: &'static str,
}

const SUITE: &[Vector] = &[
    Vector {
        name: "get-vanilla",
        method: "GET",
        path: "/",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "get-vanilla-query-order-key-case",
        method: "GET",
        path: "/",
        query: "Param2=value2&Param1=value1",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
               host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    },
    Vector {
        name: "get-vanilla-query-order-key",
        method: "GET",
        path: "/",
        query: "Param1=value2&Param1=Value1",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
               host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
    },
    Vector {
        name: "get-vanilla-query-order-value",
        method: "GET",
        path: "/",
        query: "Param1=value2&Param1=value1",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\nParam1=value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
               host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
    },
    Vector {
        name: "get-vanilla-empty-query-key",
        method: "GET",
        path: "/",
        query: "Param1=value1",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
               host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    },
    Vector {
        name: "get-vanilla-query-unreserved",
        method: "GET",
        path: "/",
        query: "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=\
                -._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=\
               -._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\nhost:example.amazonaws.com\n\
               x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    },
    Vector {
        name: "get-vanilla-utf8-query",
        method: "GET",
        path: "/",
        query: "\u{1234}=bar",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
               host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    },
    Vector {
        name: "get-header-key-duplicate",
        method: "GET",
        path: "/",
        query: "",
        headers: &[
            SUITE_HOST,
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
            SUITE_DATE,
        ],
        body: "",
        signed_headers: "host;my-header1;x-amz-date",
        creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\n\
               host;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    },
    Vector {
        name: "get-header-value-order",
        method: "GET",
        path: "/",
        query: "",
        headers: &[
            SUITE_HOST,
            ("My-Header1", "value4"),
            ("My-Header1", "value1"),
            ("My-Header1", "value3"),
            ("My-Header1", "value2"),
            SUITE_DATE,
        ],
        body: "",
        signed_headers: "host;my-header1;x-amz-date",
        creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\n\
               x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
    },
    Vector {
        name: "get-header-value-trim",
        method: "GET",
        path: "/",
        query: "",
        headers: &[SUITE_HOST, ("My-Header1", " value1"), ("My-Header2", " \"a   b   c\""), SUITE_DATE],
        body: "",
        signed_headers: "host;my-header1;my-header2;x-amz-date",
        creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n\
               x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    },
    Vector {
        name: "get-unreserved",
        method: "GET",
        path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\n\
               host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    },
    Vector {
        name: "get-utf8",
        method: "GET",
        path: "/\u{1234}",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    },
    Vector {
        name: "get-space",
        method: "GET",
        path: "/example space/",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
               host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    },
    Vector {
        name: "normalize-path/get-relative",
        method: "GET",
        path: "/example/..",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "normalize-path/get-relative-relative",
        method: "GET",
        path: "/example1/example2/../..",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "normalize-path/get-slash",
        method: "GET",
        path: "//",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "normalize-path/get-slash-dot-slash",
        method: "GET",
        path: "/./",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    Vector {
        name: "normalize-path/get-slash-pointless-dot",
        method: "GET",
        path: "/./example",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/example\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
    },
    Vector {
        name: "normalize-path/get-slashes",
        method: "GET",
        path: "//example//",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    },
    Vector {
        name: "post-vanilla",
        method: "POST",
        path: "/",
        query: "",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
               e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    Vector {
        name: "post-vanilla-query",
        method: "POST",
        path: "/",
        query: "Param1=value1",
        headers: &[SUITE_HOST, SUITE_DATE],
        body: "",
        signed_headers: "host;x-amz-date",
        creq: "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
               host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    },
    Vector {
        name: "post-header-key-sort",
        method: "POST",
        path: "/",
        query: "",
        headers: &[SUITE_HOST, ("My-Header1", "value1"), SUITE_DATE],
        body: "",
        signed_headers: "host;my-header1;x-amz-date",
        creq: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\n\
               host;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    },
    Vector {
        name: "post-header-value-case",
        method: "POST",
        path: "/",
        query: "",
        headers: &[SUITE_HOST, ("My-Header1", "VALUE1"), SUITE_DATE],
        body: "",
        signed_headers: "host;my-header1;x-amz-date",
        creq: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\n\
               host;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    },
    Vector {
        name: "post-x-www-form-urlencoded",
        method: "POST",
        path: "/",
        query: "",
        headers: &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            SUITE_HOST,
            SUITE_DATE,
            ("Content-Length", "13"),
        ],
        body: "Param1=value1",
        signed_headers: "content-type;host;x-amz-date",
        creq: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n\
               x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n\
               9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    },
    Vector {
        name: "post-x-www-form-urlencoded-parameters",
        method: "POST",
        path: "/",
        query: "",
        headers: &[
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf8"),
            SUITE_HOST,
            SUITE_DATE,
            ("Content-Length", "13"),
        ],
        body: "Param1=value1",
        signed_headers: "content-type;host;x-amz-date",
        creq: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf8\nhost:example.amazonaws.com\n\
               x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n\
               9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
    },
];

fn authorization(date: &str, service: &str, signed_headers: &str, signature: &str) -> (String, String) {
    (
        "Authorization".to_string(),
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/{date}/us-east-1/{service}/aws4_request, \
             SignedHeaders={signed_headers}, Signature={signature}"
        ),
    )
}

#[test]
fn sigv4_aws_suite_canonical_requests_and_signatures() {
    let verifier = Verifier::new(["service"]);
    for v in SUITE {
        let mut headers = owned(v.headers);
        headers.push(authorization("20150830", "service", v.signed_headers, v.signature));
        let req = request(v.method, v.path, v.query, &headers, v.body.as_bytes());
        let pending = verifier.check(&req, SUITE_NOW).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(pending.canonical_request(&pending.payload_hashes[0]), v.creq, "{}", v.name);
        let caller = verifier.verify(&req, lookup_plain, SUITE_NOW + 60).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(
            caller,
            Caller {
                access_key_id: AKID.into(),
                region: "us-east-1".into(),
                service: "service".into(),
                signed_at: SUITE_NOW,
                presigned: false,
            },
            "{}",
            v.name
        );

        // One bit off in the signature.
        let mut bad = v.signature.to_string();
        bad.replace_range(63.., if bad.ends_with('0') { "1" } else { "0" });
        let mut headers = owned(v.headers);
        headers.push(authorization("20150830", "service", v.signed_headers, &bad));
        let req = request(v.method, v.path, v.query, &headers, v.body.as_bytes());
        assert_eq!(verifier.verify(&req, lookup_plain, SUITE_NOW), Err(SigV4Error::SignatureMismatch), "{}", v.name);
    }
}

pub(super) const SUITE_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeo\
IYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8Y\
QcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

#[test]
fn sigv4_aws_suite_session_token() {
    let verifier = Verifier::new(["service"]);
    let with_token = |akid: &str| (akid == AKID).then(|| Secret::new(SECRET).with_session_token(SUITE_TOKEN));

    // post-sts-header-before: the token is a signed header.
    let mut headers = owned(&[SUITE_HOST, SUITE_DATE, ("X-Amz-Security-Token", SUITE_TOKEN)]);
    headers.push(authorization(
        "20150830",
        "service",
        "host;x-amz-date;x-amz-security-token",
        "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
    ));
    let req = request("POST", "/", "", &headers, b"");
    assert!(verifier.verify(&req, with_token, SUITE_NOW).is_ok());
    assert_eq!(verifier.verify(&req, lookup_plain, SUITE_NOW), Err(SigV4Error::UnexpectedSessionToken));
    let other = |_: &str| Some(Secret::new(SECRET).with_session_token("another-token"));
    assert_eq!(verifier.verify(&req, other, SUITE_NOW), Err(SigV4Error::SessionTokenMismatch));

    // post-sts-header-after: the token added after signing is refused, not ignored.
    let mut headers = owned(&[SUITE_HOST, SUITE_DATE, ("X-Amz-Security-Token", SUITE_TOKEN)]);
    headers.push(authorization(
        "20150830",
        "service",
        "host;x-amz-date",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ));
    let req = request("POST", "/", "", &headers, b"");
    let err = verifier.verify(&req, with_token, SUITE_NOW).unwrap_err();
    assert_eq!(err, SigV4Error::SessionTokenNotSigned);
    assert_eq!(err.kind(), ErrorKind::IncompleteSignature);
    assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
    // Without the token, the same signature is a plain post-vanilla and still required to carry it.
    let headers: Vec<_> = headers.into_iter().filter(|(n, _)| n != "X-Amz-Security-Token").collect();
    let req = request("POST", "/", "", &headers, b"");
    assert_eq!(verifier.verify(&req, with_token, SUITE_NOW), Err(SigV4Error::SessionTokenMissing));
    assert!(verifier.verify(&req, lookup_plain, SUITE_NOW).is_ok());
}

/// The 2011 edition of the suite, as botocore keeps it (tests/unit/auth/aws4_testsuite): a Date
/// header instead of X-Amz-Date, service "host", and paths already percent-encoded on the wire,
/// which the canonical URI encodes a second time.
#[test]
fn sigv4_botocore_2011_suite_double_encoded_paths() {
    let cases = [
        (
            "get-space",
            "/%20/foo",
            "/%2520/foo",
            "35975885599128f8963ce9be7219598b2b5a344321bae304529556c891e9e6ba",
            "2be9e587d1ee1f0fd02128724b86b4358ba3630d39f493b6e06610a19a50779e",
        ),
        (
            "get-utf8",
            "/%E1%88%B4",
            "/%25E1%2588%25B4",
            "47f4456c465167f4db3490a68903fe057412e6e030de38f71d9006467eb4922a",
            "57b1eb3df3b16a8479c0097b66c0b261cfd65b829419a3f2c3d05319722490b8",
        ),
    ];
    let now = 1_315_611_360; // 20110909T233600Z
    let verifier = Verifier::new(["host"]);
    for (name, path, canonical_path, sts_hash, signature) in cases {
        let mut headers = owned(&[("Date", "Mon, 09 Sep 2011 23:36:00 GMT"), ("Host", "host.foo.com")]);
        headers.push(authorization("20110909", "host", "date;host", signature));
        let req = request("GET", path, "", &headers, b"");
        let pending = verifier.check(&req, now).unwrap_or_else(|e| panic!("{name}: {e}"));
        let creq = pending.canonical_request(EMPTY_SHA256);
        assert_eq!(
            creq,
            format!(
                "GET\n{canonical_path}\n\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\ndate;host\n{EMPTY_SHA256}"
            ),
            "{name}"
        );
        assert_eq!(sha256_hex(creq.as_bytes()), sts_hash, "{name}");
        assert_eq!(
            pending.string_to_sign(EMPTY_SHA256),
            format!("AWS4-HMAC-SHA256\n20110909T233600Z\n20110909/us-east-1/host/aws4_request\n{sts_hash}")
        );
        let caller = verifier.verify(&req, lookup_plain, now).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(caller.signed_at, now);
    }
}
