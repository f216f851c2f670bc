//! A presented token (compact JWS) read and checked as the exchange and the authorizer do, or,
//! for input starting with `{`, a JWKS read as an upstream provider publishes it.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tokenbridge_jose::{looks_like_jwe, looks_like_jwt, JwkSet, UnverifiedJwt, VerifyingKey, SUPPORTED_VERIFY_ALGS};

static KEYS: LazyLock<Vec<VerifyingKey>> = LazyLock::new(|| {
    let set: JwkSet = serde_json::from_str(tokenbridge_fuzz::SEED_JWKS).expect("jwks.json");
    set.keys.iter().map(|k| VerifyingKey::from_jwk(k).expect("seed key")).collect()
});

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        if let Ok(set) = serde_json::from_slice::<JwkSet>(data) {
            for jwk in &set.keys {
                if let Ok(key) = VerifyingKey::from_jwk(jwk) {
                    for alg in SUPPORTED_VERIFY_ALGS {
                        let _ = key.supports(alg);
                    }
                }
            }
        }
        return;
    }
    let Ok(token) = std::str::from_utf8(data) else { return };
    let _ = (looks_like_jwt(token), looks_like_jwe(token));
    let Ok(jwt) = UnverifiedJwt::parse(token) else { return };
    // One spelling: what was signed is the token as presented, up to its signature.
    assert!(token.starts_with(jwt.signing_input()));
    let _ = (jwt.audiences(), jwt.claim_str("iss"), jwt.claim_i64("exp"), jwt.header.ignored_key_sources());
    for key in KEYS.iter() {
        if key.supports(&jwt.header.alg) {
            let _ = key.verify(&jwt);
        }
    }
});
