//! JWS verification, the per-request cost of every token presented: parse (canonical base64url,
//! JSON without repeated members) and signature check, per algorithm this issuer signs with.
//! `cargo bench -p tokenbridge-jose`.

use serde_json::json;
use tokenbridge_jose::{KeyAlgorithm, Signer, UnverifiedJwt, VerifyingKey};
use tokenbridge_microbench::Bench;

fn main() {
    let bench = Bench::from_args();
    let claims = json!({
        "sub": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "iss": "https://idp.example.com/us-east-1_AbCdEf123",
        "aud": "3n4b5urk1ft4fl3mg5e62d9ado",
        "token_use": "id",
        "email": "alice@example.com",
        "email_verified": true,
        "cognito:groups": ["admins", "users"],
        "iat": 1_793_862_245,
        "exp": 1_793_865_845,
    });
    for alg in [KeyAlgorithm::RS256, KeyAlgorithm::ES256, KeyAlgorithm::EdDSA] {
        let (signer, _) = Signer::generate(alg, "bench".into()).expect("key generation");
        let token = signer.sign_jwt(&claims, "JWT");
        let key = VerifyingKey::from_jwk(&signer.public_jwk()).expect("own JWK");
        let name = alg.as_str();
        bench.run(&format!("{name} parse"), || UnverifiedJwt::parse(&token).expect("own token"));
        bench.run(&format!("{name} parse + verify"), || {
            let jwt = UnverifiedJwt::parse(&token).expect("own token");
            key.verify(&jwt).expect("own signature")
        });
        bench.run(&format!("{name} sign"), || signer.sign_jwt(&claims, "JWT"));
    }
}
