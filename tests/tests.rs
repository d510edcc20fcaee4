//! The one integration-test binary: modules per area, a shared harness in `support`.

mod support;

mod crash;
mod faults;
mod gateway;
