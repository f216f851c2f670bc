//! Properties of the JWS framing over generated input: reading a presented token never panics,
//! whatever its bytes; a token has one spelling (what parses is exactly what re-encoding the
//! parsed parts gives); a signed token verifies and no one-character change of it does.

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{Map, Value};
use tokenbridge_jose::{b64url, b64url_decode, KeyAlgorithm, Signer, UnverifiedJwt, VerifyingKey};

/// One ES256 key for every case: generating keys per case would dominate the run.
static SIGNER: LazyLock<(Signer, VerifyingKey)> = LazyLock::new(|| {
    let (signer, _) = Signer::generate(KeyAlgorithm::ES256, "prop".into()).expect("key generation");
    let key = VerifyingKey::from_jwk(&signer.public_jwk()).expect("own JWK");
    (signer, key)
});

/// JSON values of bounded depth: scalars (with awkward strings and large numbers), lists, objects.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z:_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z_:]{1,10}", json_value(), 0..6).prop_map(|m| m.into_iter().collect())
}

/// Three segments of base64url-ish text, each maybe the encoding of arbitrary bytes or of JSON.
fn token_like() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        "[A-Za-z0-9_=+/-]{0,40}",
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| b64url(&b)),
        json_value().prop_map(|v| b64url(v.to_string().as_bytes())),
        "\\PC{0,30}".prop_map(|s| b64url(s.as_bytes())),
    ];
    (segment.clone(), segment.clone(), segment, 0..4usize).prop_map(|(h, p, s, extra_dots)| {
        let mut t = format!("{h}.{p}.{s}");
        t.push_str(&".".repeat(extra_dots % 3));
        t
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = UnverifiedJwt::parse(&text);
    }

    #[test]
    fn parsing_token_shaped_text_never_panics(token in token_like()) {
        if let Ok(jwt) = UnverifiedJwt::parse(&token) {
            // Whatever parses keeps its signed part exactly as presented.
            prop_assert!(token.starts_with(jwt.signing_input()));
            let _ = SIGNER.1.verify(&jwt);
        }
    }

    #[test]
    fn a_parsed_token_is_the_encoding_of_its_parts(claims in claims(), kid in "[a-z0-9-]{0,12}", sig in prop::collection::vec(any::<u8>(), 0..80)) {
        let header = serde_json::json!({"alg": "ES256", "kid": kid, "typ": "JWT"});
        let payload = Value::Object(claims.clone()).to_string();
        let token = format!("{}.{}.{}", b64url(header.to_string().as_bytes()), b64url(payload.as_bytes()), b64url(&sig));
        let jwt = UnverifiedJwt::parse(&token).expect("well-formed token");
        prop_assert_eq!(&jwt.claims, &claims);
        prop_assert_eq!(jwt.header.kid.as_deref(), Some(kid.as_str()));
        // Serialising the parsed claims again gives a token that parses to the same claims.
        let again = format!(
            "{}.{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(Value::Object(jwt.claims.clone()).to_string().as_bytes()),
            b64url(&sig),
        );
        prop_assert_eq!(&UnverifiedJwt::parse(&again).expect("re-encoded token").claims, &claims);
        prop_assert_eq!(format!("{}.{}", jwt.signing_input(), b64url(&sig)), token);
    }

    #[test]
    fn base64url_has_one_spelling(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let text = b64url(&bytes);
        prop_assert_eq!(b64url_decode(&text).expect("own encoding"), bytes);
        let padded = text + "=";
        prop_assert!(b64url_decode(&padded).is_err());
    }

    #[test]
    fn signed_claims_verify_and_no_one_character_change_does(claims in claims(), at in any::<prop::sample::Index>(), with in "[A-Za-z0-9_.-]") {
        let (signer, key) = &*SIGNER;
        let token = signer.sign_jwt(&Value::Object(claims.clone()), "JWT");
        let jwt = UnverifiedJwt::parse(&token).expect("own token");
        prop_assert_eq!(&jwt.claims, &claims);
        prop_assert!(key.verify(&jwt).is_ok());

        let i = at.index(token.len());
        let mut changed = token.clone();
        changed.replace_range(i..=i, &with);
        if changed != token {
            let accepted = UnverifiedJwt::parse(&changed).is_ok_and(|jwt| key.verify(&jwt).is_ok());
            prop_assert!(!accepted, "changed at {}: {}", i, changed);
        }
    }
}
