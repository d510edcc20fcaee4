//! The PostHog decoder through the protocol seam: see `vendorwall_fuzz::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vendorwall::vendor::Vendor;

fuzz_target!(|data: &[u8]| vendorwall_fuzz::decode(Vendor::PostHog, data));
