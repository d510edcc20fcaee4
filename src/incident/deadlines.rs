// TEMPORARY local shape until the incident-docs branch lands; never committed.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRule {
    pub name: String,
    pub recipient: String,
    pub clock: String,
    pub hours: Option<u32>,
    pub days: Option<u32>,
    pub business_days: Option<u32>,
    pub min_people: Option<u64>,
    pub categories: Option<Vec<String>>,
    pub note: Option<String>,
}
impl DeadlineRule {
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
pub fn default_rules() -> Vec<DeadlineRule> {
    Vec::new()
}
pub fn evaluate(
    _rules: &[DeadlineRule],
    _facts: &super::report::Facts,
    _people: u64,
    _exposed: &[&str],
    _now_ms: i64,
) -> Vec<super::report::Deadline> {
    Vec::new()
}
