//! A configuration file read and validated as `tokenbridge` reads it at start.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenbridge_core::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = Config::from_toml(text) {
        let _ = config.validate();
    }
});
