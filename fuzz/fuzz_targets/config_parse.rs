//! `vendorwall::config::parse` never panics, and neither its errors nor the `Debug` form of
//! a valid configuration show a secret that came from the environment.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

/// What every `${NAME}` resolves to, unless its name starts with `UNSET` or `EMPTY`.
const SECRET: &str = "fz-Secret-9c1e7d42b0a6";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| {
        if name.starts_with("UNSET") {
            None
        } else if name.starts_with("EMPTY") {
            Some(String::new())
        } else {
            Some(SECRET.to_owned())
        }
    };
    let shown = match vendorwall::config::parse(text, Path::new("/nonexistent/vendorwall-fuzz"), &env) {
        Ok(config) => format!("{config:?}"),
        Err(errors) => format!("{errors}"),
    };
    // The input may hold the value itself; then an error quoting the input is no leak.
    if !text.contains(SECRET) {
        assert!(
            !shown.contains(SECRET),
            "a secret from the environment is shown: {shown}"
        );
    }
});
