//! A body for the AWS JSON 1.1 door (user pools, identity pools, CloudTrail) read as the door
//! reads it, and a ListUsers `Filter` in it parsed and applied as the user pool does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tokenbridge_core::userpool::filter;
use tokenbridge_server::aws::{json_object, without_nulls};

fuzz_target!(|data: &[u8]| {
    let Some(input) = json_object(data) else { return };
    if let Some(text) = input.get("Filter").and_then(Value::as_str) {
        if let Ok(Some(f)) = filter::parse(text) {
            let _ = f.matches(|name| (name == "email").then(|| "alice@example.com".to_string()));
        }
    }
    let _ = without_nulls(input);
});
