//! Incident response: "vendor X was breached between T1 and T2 — who is affected?"

pub mod deadlines;
pub mod report;
