// TEMPORARY local shape until the incident-docs branch lands; never committed.
use super::report::Report;
pub fn report_markdown(r: &Report) -> String {
    format!("# {}\n", r.title)
}
pub fn regulator_notice(r: &Report) -> String {
    format!("# {}\n", r.title)
}
pub fn user_notice(r: &Report) -> String {
    format!("# {}\n", r.title)
}
