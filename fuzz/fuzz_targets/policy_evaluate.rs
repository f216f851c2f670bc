//! A policy and a request (the policy's text, a NUL byte, the request as JSON) decided as STS
//! and AppSync decide: evaluation and explanation must agree, and deciding twice the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenbridge_fuzz::split_at_nul;
use tokenbridge_policy::{evaluate, explain, Policy, PolicyRef, Request};

fuzz_target!(|data: &[u8]| {
    let (policy, request) = split_at_nul(data);
    let Ok(policy) = std::str::from_utf8(policy) else { return };
    let Ok(request) = serde_json::from_slice::<Request>(request) else { return };
    let Ok(policy) = Policy::parse_identity(policy).or_else(|_| Policy::parse_trust(policy)) else { return };
    let identity = [PolicyRef::new("fuzz", &policy)];
    for session in [None, Some(PolicyRef::new("session", &policy))] {
        let decided = evaluate(&identity, session, &request);
        assert_eq!(evaluate(&identity, session, &request), decided);
        let explained = explain(&identity, session, &request);
        assert_eq!((explained.decision, explained.statement), (decided.decision, decided.statement));
        let _ = explained.render();
    }
});
