//! `vendorwall::json::parse` against serde_json: for valid UTF-8, the same value (or both
//! refuse), in the same key order; and `json::to_vec` writes serde_json's bytes for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = vendorwall::json::parse(text).ok();
    let theirs = serde_json::from_str::<Value>(text).ok();
    assert_eq!(ours, theirs, "parse disagrees with serde_json on {text:?}");
    if let (Some(ours), Some(theirs)) = (ours, theirs) {
        let written = vendorwall::json::to_vec(&ours, 0);
        assert_eq!(written, serde_json::to_vec(&theirs).unwrap_or_default());
    }
});
