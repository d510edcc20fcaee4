//! The one integration-test binary: modules per area, a shared harness in `support`.

#![allow(clippy::unwrap_used, reason = "a panic in a test is a failed test")]

mod support;

mod admin;
mod amplitude;
mod crash;
mod custom_detectors;
mod demo;
mod detection;
mod disk;
mod explain;
mod fanout;
mod faults;
mod firewall;
mod gateway;
mod hostile;
mod incident;
mod ledger;
mod notices;
#[cfg(feature = "postgres")]
mod postgres;
mod posthog;
mod sdk;
mod segment;
