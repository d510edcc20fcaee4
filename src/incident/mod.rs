//! Incident response: "vendor X was breached between T1 and T2 — who is affected?"
//!
//! - [`report`]: the figures one incident revision exposed at a vendor ([`report::Report`]),
//!   stored with the revision so every export renders exactly those figures.
//! - [`time`]: UTC formatting and calendar arithmetic (hours, days, business days, months).
//! - [`deadlines`]: breach-notification deadline rules as configuration, with defaults
//!   (GDPR, California, NIS2, SEC), evaluated against an incident's dates.
//! - [`render`]: the export documents, pure functions of a `Report`: `report.md`,
//!   `regulator-notice.md` (a GDPR Art. 33 draft) and `user-notice.md` ("Notice of Data
//!   Breach"). They hold counts, category keys, field pointers, dates and configured
//!   organisation details only: never personal data.

pub mod deadlines;
pub mod render;
pub mod report;
pub mod time;
