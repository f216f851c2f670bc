//! `tokenbridge-bench verify`: the machine's signature-verification bound, the ceiling a cold
//! authorizer decision cannot beat. Signs one access-token-sized JWT with a fresh key and
//! verifies it in a tight loop on 1..N threads for a bounded time: signature only, and
//! parse + signature (what a cold decision does before its claim checks).

use super::in_process::measure;
use anyhow::Result;
use serde_json::json;
use std::time::Duration;
use tokenbridge_core::jose::{Signer, UnverifiedJwt, VerifyingKey};
use tokenbridge_core::model::KeyAlgorithm;

pub fn run(algorithms: &[String], seconds: u64, threads: usize) -> Result<()> {
    let length = Duration::from_secs(seconds.clamp(1, 30));
    for name in algorithms {
        let alg = KeyAlgorithm::parse(name).ok_or_else(|| anyhow::anyhow!("{name:?} is not RS256, ES256 or EdDSA"))?;
        let (signer, _) = Signer::generate(alg, "bench".into())?;
        let claims = json!({
            "iss": "http://127.0.0.1:8080", "sub": "796b1f42-a7c1-4784-a387-6bd7d5a789c2", "client_id": "demo-web",
            "token_use": "access", "scope": "openid email profile orders:read orders:write", "exp": 4_000_000_000i64,
            "iat": 1_700_000_000, "jti": "0f8c6f1e-1b1e-4a59-9d43-1f7c2d3b4a5e", "username": "alice",
            "cognito:groups": ["admins", "readers"], "origin_jti": "5b0e3c1a-2d4f-4e6a-8b7c-9d0e1f2a3b4c",
        });
        let token = signer.sign_jwt(&claims, "JWT");
        let key = VerifyingKey::from_jwk(&signer.public_jwk()).map_err(anyhow::Error::msg)?;
        let jwt = UnverifiedJwt::parse(&token).map_err(anyhow::Error::msg)?;
        for t in 1..=threads.max(1) {
            // Calls per second on all threads, 64 calls between looks at the clock.
            let sig_only = measure(t, length, 64, || key.verify(&jwt).is_ok())?.per_second;
            let parsed = measure(t, length, 64, || UnverifiedJwt::parse(&token).is_ok_and(|j| key.verify(&j).is_ok()))?
                .per_second;
            println!(
                "{}",
                json!({ "algorithm": name, "threads": t, "seconds": length.as_secs(),
                    "verifications_per_second": sig_only.round(), "parse_and_verify_per_second": parsed.round(),
                    "token_bytes": token.len() })
            );
        }
    }
    Ok(())
}
