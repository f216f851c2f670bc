//! Requests signed by botocore and captured off the wire (tests/fixtures/sigv4_botocore.py).

use super::*;

#[derive(Clone)]
struct Fixture {
    name: String,
    service: String,
    now: i64,
    session_token: Option<String>,
    presigned: bool,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    botocore_canonical_request: String,
}

impl Fixture {
    fn request(&self) -> SignedRequest<'_> {
        request(&self.method, &self.path, &self.query, &self.headers, &self.body)
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<Secret> + '_ {
        move |akid| {
            (akid == AKID).then(|| {
                let secret = Secret::new(SECRET);
                match &self.session_token {
                    Some(token) => secret.with_session_token(token.clone()),
                    None => secret,
                }
            })
        }
    }

    fn verifier(&self) -> Verifier {
        Verifier::new([self.service.as_str()])
    }

    fn verify_at(&self, now: i64) -> Result<Caller, SigV4Error> {
        self.verifier().verify(&self.request(), self.lookup(), now)
    }

    fn with_header(&self, name: &str, value: &str) -> Fixture {
        let mut f = self.clone();
        for (n, v) in f.headers.iter_mut() {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_string();
            }
        }
        f
    }

    fn expires(&self) -> i64 {
        decode_query(&self.query)
            .into_iter()
            .find(|(n, _)| n == b"X-Amz-Expires")
            .map(|(_, v)| String::from_utf8(v).unwrap().parse().unwrap())
            .unwrap()
    }
}

fn fixtures() -> Vec<Fixture> {
    let doc: Value = serde_json::from_str(include_str!("../../tests/fixtures/sigv4_botocore.json")).unwrap();
    assert_eq!(doc["access_key_id"], AKID);
    assert_eq!(doc["secret_access_key"], SECRET);
    let text = |v: &Value| v.as_str().unwrap().to_string();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Fixture {
            name: text(&c["name"]),
            service: text(&c["service"]),
            now: c["now"].as_i64().unwrap(),
            session_token: c["session_token"].as_str().map(str::to_string),
            presigned: c["presigned"].as_bool().unwrap(),
            method: text(&c["method"]),
            path: text(&c["path"]),
            query: text(&c["query"]),
            headers: c["headers"].as_array().unwrap().iter().map(|h| (text(&h[0]), text(&h[1]))).collect(),
            body: text(&c["body"]).into_bytes(),
            botocore_canonical_request: text(&c["botocore_canonical_request"]),
        })
        .collect()
}

fn fixture(name: &str) -> Fixture {
    fixtures().into_iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no fixture {name}"))
}

/// Cases whose payload botocore signed as UNSIGNED-PAYLOAD next to a body: refused by default.
const UNSIGNED_WITH_BODY: &str = "unsigned-payload-with-body";

#[test]
fn sigv4_botocore_requests_verify() {
    let all = fixtures();
    assert!(all.len() >= 12);
    for f in all.iter().filter(|f| f.name != UNSIGNED_WITH_BODY) {
        let pending = f.verifier().check(&f.request(), f.now).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        let matches_botocore =
            pending.payload_hashes.iter().any(|h| pending.canonical_request(h) == f.botocore_canonical_request);
        assert!(
            matches_botocore,
            "{}: canonical request differs from botocore's\nours:     {:?}\nbotocore: {:?}",
            f.name,
            pending.canonical_request(&pending.payload_hashes[0]),
            f.botocore_canonical_request
        );
        // Accepted across the whole window on either side.
        for now in [f.now - DEFAULT_MAX_SKEW_SECONDS, f.now, f.now + DEFAULT_MAX_SKEW_SECONDS] {
            let caller = f.verify_at(now).unwrap_or_else(|e| panic!("{} at {now}: {e}", f.name));
            assert_eq!(caller.access_key_id, AKID);
            assert_eq!(caller.region, "us-east-1");
            assert_eq!(caller.service, f.service);
            assert_eq!(caller.signed_at, f.now);
            assert_eq!(caller.presigned, f.presigned, "{}", f.name);
        }
    }
}

#[test]
fn sigv4_botocore_path_is_encoded_twice() {
    let f = fixture("lambda-get-function-path-and-query");
    assert!(f.path.contains("%3A") && f.path.contains("%20"));
    assert!(f.botocore_canonical_request.contains("function%253Amy%2520fn\n"));
    assert!(f.verify_at(f.now).is_ok());
}

#[test]
fn sigv4_botocore_tampering_is_refused() {
    for f in fixtures().iter().filter(|f| f.name != UNSIGNED_WITH_BODY) {
        let name = &f.name;

        let mut changed = f.clone();
        changed.body.extend_from_slice(b" ");
        let expected = match joined_header(&f.headers, "x-amz-content-sha256").as_deref() {
            Some(UNSIGNED_PAYLOAD) => SigV4Error::UnsignedPayloadRefused,
            Some(_) => SigV4Error::PayloadHashMismatch,
            None => SigV4Error::SignatureMismatch,
        };
        assert_eq!(changed.verify_at(f.now), Err(expected), "{name}: body");

        let host = f.headers.iter().find(|(n, _)| n == "Host").unwrap().1.clone();
        let changed = f.with_header("Host", &host.replace("127.0.0.1", "127.0.0.2"));
        assert_eq!(changed.verify_at(f.now), Err(SigV4Error::SignatureMismatch), "{name}: host");

        // Unsigned headers may change freely.
        let changed = f.with_header("User-Agent", "something-else/1.0");
        assert!(changed.verify_at(f.now).is_ok(), "{name}: user-agent");

        let late = if f.presigned { f.now + f.expires() + 1 } else { f.now + 360 };
        let err = f.verify_at(late).unwrap_err();
        if f.presigned {
            assert_eq!(
                err,
                SigV4Error::PresignedExpired { signed_at: f.now, expires: f.expires(), now: late },
                "{name}"
            );
        } else {
            assert_eq!(err, SigV4Error::SignatureExpired { signed_at: f.now, now: late, max_skew: 300 }, "{name}");
        }
        assert_eq!(err.aws_error_type(), "InvalidSignatureException");
        let early = f.verify_at(f.now - 360).unwrap_err();
        assert_eq!(early, SigV4Error::SignatureNotYetCurrent { signed_at: f.now, now: f.now - 360, max_skew: 300 });

        let wrong_secret = |_: &str| {
            let s = Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ");
            Some(match &f.session_token {
                Some(t) => s.with_session_token(t.clone()),
                None => s,
            })
        };
        let err = f.verifier().verify(&f.request(), wrong_secret, f.now).unwrap_err();
        assert_eq!(err, SigV4Error::SignatureMismatch, "{name}: secret");
        assert_eq!(err.aws_error_type(), "InvalidSignatureException");
        assert_eq!(err.message(), SIGNATURE_MISMATCH);

        let err = Verifier::new(["iam"]).verify(&f.request(), f.lookup(), f.now).unwrap_err();
        assert_eq!(err, SigV4Error::UnexpectedService { service: f.service.clone(), expected: "'iam'".into() });
        assert_eq!(err.message(), "Credential should be scoped to correct service: 'iam'. ");

        let err = f.verifier().verify(&f.request(), |_| None, f.now).unwrap_err();
        assert_eq!(err, SigV4Error::UnknownAccessKey(AKID.into()), "{name}");
        assert_eq!(err.kind(), ErrorKind::UnrecognizedClient);
        assert_eq!(err.aws_error_type(), "UnrecognizedClientException");
        assert_eq!(err.message(), "The security token included in the request is invalid.");
        assert_eq!(err.aws_query_error_code(), "InvalidClientTokenId");

        // Temporary credentials need their token; long-term ones must not get one.
        let flipped = |_: &str| {
            Some(match &f.session_token {
                Some(_) => Secret::new(SECRET),
                None => Secret::new(SECRET).with_session_token("token"),
            })
        };
        let expected = if f.session_token.is_some() {
            SigV4Error::UnexpectedSessionToken
        } else {
            SigV4Error::SessionTokenMissing
        };
        assert_eq!(f.verifier().verify(&f.request(), flipped, f.now), Err(expected), "{name}");
    }
}

#[test]
fn sigv4_botocore_json_target_and_query_are_signed() {
    let f = fixture("cognito-admin-get-user");
    let changed = f.with_header("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminDeleteUser");
    assert_eq!(changed.verify_at(f.now), Err(SigV4Error::SignatureMismatch));
    let mut changed = f.clone();
    changed.body = br#"{"UserPoolId": "us-east-1_EXAMPLE", "Username": "mallory@example.com"}"#.to_vec();
    assert_eq!(changed.verify_at(f.now), Err(SigV4Error::SignatureMismatch));

    let f = fixture("sts-presigned-get-caller-identity");
    let mut changed = f.clone();
    changed.query = changed.query.replace("Action=GetCallerIdentity", "Action=AssumeRole");
    assert_eq!(changed.verify_at(f.now), Err(SigV4Error::SignatureMismatch));
    let mut changed = f.clone();
    changed.query = changed.query.replace("X-Amz-Expires=900", "X-Amz-Expires=3600");
    assert_eq!(changed.verify_at(f.now), Err(SigV4Error::SignatureMismatch));
    // Still valid six minutes later: a presigned URL lives for X-Amz-Expires, not the skew window.
    assert!(f.verify_at(f.now + 360).is_ok());
}

#[test]
fn sigv4_botocore_session_token_checks() {
    let f = fixture("cognito-admin-get-user-session-token");
    let changed = f.with_header("X-Amz-Security-Token", "IQoJb3JpZ2luX2VjEXAMPLEforged");
    let wrong = |_: &str| Some(Secret::new(SECRET).with_session_token("IQoJb3JpZ2luX2VjEXAMPLEforged"));
    // The lookup's token is compared, and the header is signed, so neither side can be swapped.
    assert_eq!(changed.verify_at(f.now), Err(SigV4Error::SessionTokenMismatch));
    assert_eq!(changed.verifier().verify(&changed.request(), wrong, f.now), Err(SigV4Error::SignatureMismatch));

    let f = fixture("sts-presigned-session-token");
    assert!(f.verify_at(f.now).is_ok());
    let mut changed = f.clone();
    changed.headers.push(("X-Amz-Security-Token".into(), "other".into()));
    assert_eq!(changed.verify_at(f.now), Err(SigV4Error::SessionTokenNotSigned));
}

#[test]
fn sigv4_botocore_payload_hash_header() {
    let f = fixture("content-sha256-header");
    assert!(f.verify_at(f.now).is_ok());
    let mut changed = f.clone();
    changed.body = br#"{"UserPoolId": "us-east-1_EXAMPLE", "Username": "dave"}"#.to_vec();
    assert_eq!(changed.verify_at(f.now), Err(SigV4Error::PayloadHashMismatch));
    let changed = f.with_header("X-Amz-Content-SHA256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    assert_eq!(
        changed.verify_at(f.now),
        Err(SigV4Error::UnsupportedPayloadHash("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into()))
    );

    // UNSIGNED-PAYLOAD with nothing to leave unsigned is fine; with a body it is opt-in.
    assert!(fixture("unsigned-payload-empty-body").verify_at(f.now).is_ok());
    assert!(fixture("presigned-unsigned-payload").verify_at(f.now).is_ok());
    let f = fixture(UNSIGNED_WITH_BODY);
    assert_eq!(f.verify_at(f.now), Err(SigV4Error::UnsignedPayloadRefused));
    let lenient = f.verifier().allow_unsigned_payload(true);
    assert!(lenient.verify(&f.request(), f.lookup(), f.now).is_ok());
    let mut changed = f.clone();
    changed.body = b"{}".to_vec();
    assert!(lenient.verify(&changed.request(), changed.lookup(), f.now).is_ok(), "the body is not signed");
}

#[test]
fn sigv4_expired_message_reads_like_aws() {
    let f = fixture("cognito-admin-get-user");
    let err = f.verify_at(f.now + 360).unwrap_err();
    assert_eq!(
        err.message(),
        "Signature expired: 20261123T101500Z is now earlier than 20261123T101600Z (20261123T102100Z - 5 min.)"
    );
    assert_eq!(err.check(), "sigv4.time_window");
    assert_eq!(err.aws_query_error_code(), "SignatureDoesNotMatch");
    let err = f.verify_at(f.now - 360).unwrap_err();
    assert_eq!(
        err.message(),
        "Signature not yet current: 20261123T101500Z is still later than 20261123T101400Z (20261123T100900Z + 5 min.)"
    );
    let err = f.verifier().max_skew_seconds(90).verify(&f.request(), f.lookup(), f.now + 100).unwrap_err();
    assert!(err.message().ends_with("(20261123T101640Z - 90 sec.)"), "{}", err.message());
}
