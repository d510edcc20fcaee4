//! Vendor wire protocols, one module per vendor, the same files in each: `decode` (inbound
//! requests from the vendor's SDKs), `encode` (outbound records and batches), `response`
//! (what SDKs expect back; what the vendor's answers mean).

pub mod mixpanel;
