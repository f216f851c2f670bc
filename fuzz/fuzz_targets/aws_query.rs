//! A request for the AWS query door (IAM and STS, form-encoded): the request target on the first
//! line, the body after it, read into parameters as the door reads them.
#![no_main]

use http::Uri;
use libfuzzer_sys::fuzz_target;
use tokenbridge_core::iam::QueryService;
use tokenbridge_server::query::params;

fuzz_target!(|data: &[u8]| {
    let (target, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(uri) = Uri::try_from(target) else { return };
    let p = params(&uri, body);
    if let Some(version) = p.get("Version") {
        let _ = QueryService::by_version(version);
    }
});
