//! A claim condition or mapping (CEL, from the configuration) compiled, and evaluated over
//! upstream claims: the expression, a NUL byte, the claims as JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokenbridge_core::claim_expressions::Expression;
use tokenbridge_fuzz::split_at_nul;

fuzz_target!(|data: &[u8]| {
    let (source, claims) = split_at_nul(data);
    let Ok(source) = std::str::from_utf8(source) else { return };
    let Ok(expression) = Expression::compile(source) else { return };
    let claims: Value = serde_json::from_slice(claims).unwrap_or(Value::Null);
    let _ = expression.check(&claims);
    let _ = expression.map(&claims);
});
