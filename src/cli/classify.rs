//! `vendorwall classify`: findings for a JSON Lines file of Mixpanel records.

use std::path::Path;

/// Reads JSON Lines from `input` (or stdin) and writes one JSON line per finding.
pub fn run(_input: Option<&Path>, _out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    Ok(())
}
