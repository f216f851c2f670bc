//! A policy document read as the IAM API and the configuration read one (identity, session and
//! trust policies), its errors and explanation sentences written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenbridge_policy::{Policy, Request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for parsed in [Policy::parse_identity(text), Policy::parse_trust(text)] {
        match parsed {
            Ok(policy) => {
                assert_eq!(policy.source(), text);
                let request = Request::new("s3:GetObject", "arn:aws:s3:::bucket/key");
                let _ = policy.explain("fuzz", &request).render();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
