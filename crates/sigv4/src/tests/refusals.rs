//! Refusals before any signature is computed.

use super::*;

pub(super) fn vanilla_headers(authorization: &str) -> Vec<(String, String)> {
    owned(&[SUITE_HOST, SUITE_DATE, ("Authorization", authorization)])
}

fn check_err(headers: &[(String, String)], query: &str) -> SigV4Error {
    Verifier::new(["service"]).verify(&request("GET", "/", query, headers, b""), lookup_plain, SUITE_NOW).unwrap_err()
}

pub(super) const VANILLA_AUTH: &str =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                            SignedHeaders=host;x-amz-date, \
                            Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

#[test]
fn sigv4_authorization_form_errors() {
    let err = check_err(&owned(&[SUITE_HOST, SUITE_DATE]), "");
    assert_eq!(err, SigV4Error::MissingAuthentication);
    assert_eq!(
        (err.aws_error_type(), err.message().as_str()),
        ("MissingAuthenticationTokenException", "Missing Authentication Token")
    );

    let err = check_err(&vanilla_headers(VANILLA_AUTH), "X-Amz-Algorithm=AWS4-HMAC-SHA256");
    assert_eq!(err, SigV4Error::AmbiguousAuthentication);

    let mut twice = vanilla_headers(VANILLA_AUTH);
    twice.push(("authorization".into(), VANILLA_AUTH.into()));
    assert!(matches!(check_err(&twice, ""), SigV4Error::MalformedAuthorization(_)));

    let err = check_err(
        &vanilla_headers("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"),
        "",
    );
    assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
    assert_eq!(
        err.message(),
        "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."
    );

    let err = check_err(&vanilla_headers("AWS4-HMAC-SHA256 Credential AKIDEXAMPLE"), "");
    assert!(matches!(err, SigV4Error::MalformedAuthorization(_)), "{err:?}");

    let err = check_err(&vanilla_headers(&VANILLA_AUTH.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")), "");
    assert_eq!(err, SigV4Error::UnsupportedAlgorithm("AWS4-ECDSA-P256-SHA256".into()));
    assert_eq!(err.check(), "sigv4.algorithm");

    // A bearer token sent to a SigV4 endpoint is refused without being repeated back.
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    let err = check_err(&vanilla_headers(jwt), "");
    assert!(!err.to_string().contains("eyJ") && !err.message().contains("eyJ"), "{err}");
    assert_eq!(
        check_err(&vanilla_headers(&format!("Bearer {jwt}")), ""),
        SigV4Error::UnsupportedAlgorithm("Bearer".into())
    );

    let err = check_err(&vanilla_headers(&VANILLA_AUTH.replace("Signature=5fa0", "Signature=zzzz")), "");
    assert_eq!(err, SigV4Error::MalformedSignature);
}

#[test]
fn sigv4_errors_never_echo_the_signature() {
    let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let cases = [
        VANILLA_AUTH.replace("us-east-1/service", "us-east-1/other"),
        VANILLA_AUTH.replace("/aws4_request", "/aws5_request"),
        VANILLA_AUTH.replace("host;x-amz-date,", "host,"),
        VANILLA_AUTH.replace("20150830/", "20150831/"),
        VANILLA_AUTH.replace(sig, &sig.replace('5', "6")),
    ];
    for auth in cases {
        let err = check_err(&vanilla_headers(&auth), "");
        for text in [err.to_string(), err.message(), format!("{err:?}")] {
            assert!(!text.contains(&sig[..16]) && !text.contains(SECRET), "{text}");
        }
    }
}

#[test]
fn sigv4_credential_scope_and_date_errors() {
    let with = |from: &str, to: &str| check_err(&vanilla_headers(&VANILLA_AUTH.replace(from, to)), "");

    let err = with("us-east-1/service/aws4_request", "us-east-1/aws4_request");
    assert!(matches!(&err, SigV4Error::MalformedCredential(m) if m.contains("exactly 5 slash-delimited elements")));
    let err = with("/aws4_request", "/aws4_reqest");
    assert_eq!(
        err.message(),
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_reqest'. "
    );
    assert!(matches!(with("20150830/", "2015-08-30/"), SigV4Error::MalformedCredential(_)));
    assert!(matches!(with("/us-east-1/", "//"), SigV4Error::MalformedCredential(_)));
    assert!(matches!(with("=AKIDEXAMPLE/", "=/"), SigV4Error::MalformedCredential(_)));

    let err = with("20150830/", "20150831/");
    assert_eq!(
        err,
        SigV4Error::CredentialDateMismatch { scope_date: "20150831".into(), request_date: "20150830T123600Z".into() }
    );
    assert_eq!(
        err.message(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
         '20150831' != '20150830', from '20150830T123600Z'."
    );
    assert_eq!(err.check(), "sigv4.credential_date");

    let err = with("host;x-amz-date,", "host,");
    assert_eq!(err, SigV4Error::DateNotSigned("X-Amz-Date"));
    let err = with("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date");
    assert_eq!(err, SigV4Error::HostNotSigned);
    let err = with("SignedHeaders=host;x-amz-date", "SignedHeaders=host;my-header1;x-amz-date");
    assert_eq!(err, SigV4Error::SignedHeaderAbsent("my-header1".into()));

    let no_date = owned(&[SUITE_HOST, ("Authorization", VANILLA_AUTH)]);
    assert_eq!(check_err(&no_date, ""), SigV4Error::MissingDate);
    let bad_date = owned(&[SUITE_HOST, ("X-Amz-Date", "2015-08-30T12:36:00Z"), ("Authorization", VANILLA_AUTH)]);
    let err = check_err(&bad_date, "");
    assert_eq!(err, SigV4Error::MalformedDate("2015-08-30T12:36:00Z".into()));
    assert_eq!(err.message(), "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'.");
}

#[test]
fn sigv4_presigned_form_errors() {
    let base =
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request\
                &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                &X-Amz-Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let host = owned(&[SUITE_HOST]);
    assert_eq!(check_err(&host, base), SigV4Error::SignatureMismatch);

    let err = check_err(&host, &base.replace("&X-Amz-Expires=60", ""));
    assert!(err.message().starts_with("Query-string authentication version 4 requires"), "{}", err.message());
    let err = check_err(&host, &base.replace("X-Amz-Expires=60", "X-Amz-Expires=604801"));
    assert_eq!(err.message(), "X-Amz-Expires must be less than a week (in seconds) that is 604800.");
    assert!(matches!(
        check_err(&host, &base.replace("X-Amz-Expires=60", "X-Amz-Expires=-1")),
        SigV4Error::InvalidExpires(_)
    ));
    let err = check_err(&host, &base.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"));
    assert_eq!(err, SigV4Error::UnsupportedAlgorithm("AWS4-HMAC-SHA1".into()));
    let err = check_err(&host, &format!("{base}&X-Amz-Date=20150830T123600Z"));
    assert!(matches!(err, SigV4Error::MalformedAuthorization(m) if m.contains("more than once")));

    let verifier = Verifier::new(["service"]);
    let req = request("GET", "/", base, &host, b"");
    let err = verifier.verify(&req, lookup_plain, SUITE_NOW + 61).unwrap_err();
    assert_eq!(err, SigV4Error::PresignedExpired { signed_at: SUITE_NOW, expires: 60, now: SUITE_NOW + 61 });
    assert_eq!(err.check(), "sigv4.presigned_expiry");
    assert!(err.message().starts_with("Request has expired"));
}
