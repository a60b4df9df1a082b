//! Any bytes as an uploaded greeting: import refuses or decodes within its limits (length,
//! rate, time), never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbx_media::import::{Limits, import};
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_bytes: 1 << 20, max_seconds: 30, max_rate: 96_000, max_time: Duration::from_secs(2) };
    if let Ok(samples) = import(data, limits) {
        assert!(samples.len() <= 8000 * 31, "within the length limit");
    }
});
