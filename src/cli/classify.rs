//! `vendorwall classify`: findings for a JSON Lines file of one vendor's records.
//!
//! Reads one JSON object per line, a record as that vendor's SDKs send it (Mixpanel: an
//! event `{"event", "properties"}`, a profile update with `$distinct_id`, or a group update
//! with `$group_key`; Segment: a message with its `type`; …) and writes one JSON line per
//! finding: `{"line", "pointer", "category", "start", "end", "detector", "confidence"}`,
//! `line` 1-based, `start`/`end` byte offsets in the string value or `null` for the whole
//! value. A line that is not a JSON object is reported on stderr by number, never by
//! content, and skipped.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;

use crate::classify::custom::CustomDetectors;
use crate::classify::{Shape, classify_record};
use crate::event::{Caps, Kind};
use crate::protocol::Vendor;

#[derive(Serialize)]
struct Line<'a> {
    line: usize,
    pointer: &'a str,
    category: &'a str,
    start: Option<usize>,
    end: Option<usize>,
    detector: &'a str,
    confidence: f32,
}

/// The shape of a record in `protocol`'s format: the kind its decoder reads from it (an
/// event when it cannot be decoded).
fn shape_of(protocol: Vendor, record: &Value) -> Shape {
    let proto = protocol.protocol();
    let caps = Caps::from(&crate::config::Limits::default());
    let kind = proto
        .decode_sample(record.clone(), &caps)
        .map_or(Kind::Track, |r| r.event.kind);
    proto.shape(kind)
}

/// Reads JSON Lines from `input` (or stdin) and writes one JSON line per finding; `custom`
/// holds the configuration's `[[classify.detectors]]` (empty without `--config`).
pub fn run(
    protocol: Vendor,
    input: Option<&Path>,
    custom: &CustomDetectors,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut reader: Box<dyn BufRead> = match input {
        Some(path) => Box::new(BufReader::new(
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut buf = Vec::new();
    let mut line = 0usize;
    let mut skipped = 0usize;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).context("cannot read input")? == 0 {
            break;
        }
        line += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = match serde_json::from_slice::<Value>(&buf) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                skipped += 1;
                eprintln!("line {line}: not a JSON object, skipped");
                continue;
            }
        };
        let shape = shape_of(protocol, &record);
        let mut findings = classify_record(&record, shape);
        custom.apply(&record, &mut findings);
        for f in findings {
            let row = Line {
                line,
                pointer: &f.pointer,
                category: f.category,
                start: f.span.map(|s| s.0),
                end: f.span.map(|s| s.1),
                detector: f.detector,
                confidence: f.confidence,
            };
            serde_json::to_writer(&mut *out, &row).context("cannot write output")?;
            out.write_all(b"\n").context("cannot write output")?;
        }
    }
    if skipped > 0 {
        eprintln!("{skipped} line(s) skipped");
    }
    Ok(())
}

/// What `classify --explain` explains.
pub enum Explain {
    /// One string value, under a key if given.
    Value { value: String, key: Option<String> },
    /// Every leaf of one record in `protocol`'s format.
    Record { json: String, protocol: Vendor },
}

/// Writes the explanation of a value or of every leaf of a record: per detector, whether it
/// fired and its reasons, as text or (with `json`) one JSON document. Values themselves
/// are never printed, only spans into them.
pub fn explain(what: Explain, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    use crate::classify::explain::{Explanation, explain_record, explain_value};
    let explanations: Vec<Explanation> = match what {
        Explain::Value { value, key } => vec![explain_value(&value, key.as_deref())],
        Explain::Record { json, protocol } => {
            let record = match serde_json::from_str::<Value>(&json) {
                Ok(v @ Value::Object(_)) => v,
                _ => anyhow::bail!("--record is not a JSON object"),
            };
            explain_record(&record, shape_of(protocol, &record))
        }
    };
    if json {
        let doc = if explanations.len() == 1 {
            serde_json::to_value(&explanations[0])?
        } else {
            serde_json::to_value(&explanations)?
        };
        serde_json::to_writer_pretty(&mut *out, &doc).context("cannot write output")?;
        out.write_all(b"\n").context("cannot write output")?;
        return Ok(());
    }
    for e in &explanations {
        let at = if e.pointer.is_empty() {
            "value".to_string()
        } else {
            e.pointer.clone()
        };
        match &e.key {
            Some(k) => writeln!(out, "{at} (key `{k}`, class {})", e.key_class)?,
            None => writeln!(out, "{at} (no key)")?,
        }
        if e.findings.is_empty() {
            writeln!(out, "  findings: none")?;
        }
        for f in &e.findings {
            let span = match (f.start, f.end) {
                (Some(s), Some(t)) => format!("bytes {s}..{t}"),
                _ => "whole value".to_string(),
            };
            writeln!(out, "  finding: {} by {} ({span})", f.category, f.detector)?;
        }
        // Key detectors for other key classes say only that; they share one line.
        let (idle_keys, verdicts): (Vec<_>, Vec<_>) = e
            .verdicts
            .iter()
            .partition(|v| !v.fired && v.reasons.len() == 1 && v.reasons[0].ends_with("not one this detector reads"));
        let width = verdicts.iter().map(|v| v.detector.len()).max().unwrap_or(0);
        // Fired first, then the detectors that looked and declined.
        for v in verdicts
            .iter()
            .filter(|v| v.fired)
            .chain(verdicts.iter().filter(|v| !v.fired))
        {
            let mark = if v.fired { "fired" } else { "no" };
            let why = if v.reasons.is_empty() {
                "found inside a decoded or nested part".to_string()
            } else {
                v.reasons.join("; ")
            };
            writeln!(out, "  {:width$}  {mark:5}  {why}", v.detector)?;
        }
        if let Some(first) = idle_keys.first() {
            let names: Vec<&str> = idle_keys.iter().map(|v| v.detector).collect();
            let reason = first.reasons[0].trim_end_matches(", not one this detector reads");
            writeln!(out, "  {}: {reason}, which none of them reads", names.join(", "))?;
        }
        if !e.no_candidate.is_empty() {
            writeln!(out, "  no candidate for: {}", e.no_candidate.join(", "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_line_per_finding_and_skips_non_objects() {
        let dir = std::env::temp_dir().join(format!("vendorwall-classify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.jsonl");
        std::fs::write(
            &path,
            "{\"event\":\"e\",\"properties\":{\"email\":\"jane@example.com\"}}\n[1,2]\nnot json\n\n{\"event\":\"e\",\"properties\":{}}\n",
        )
        .unwrap();
        let mut out = Vec::new();
        run(Vendor::Mixpanel, Some(&path), &CustomDetectors::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(!rows.is_empty());
        for row in &rows {
            assert_eq!(row["line"], 1);
            assert_eq!(row["pointer"], "/properties/email");
            assert_eq!(row["category"], "user.contact.email");
        }
        assert!(rows.iter().any(|r| r["start"].is_null()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shapes() {
        let mp = Vendor::Mixpanel.protocol();
        let shape = |v: Value| shape_of(Vendor::Mixpanel, &v);
        assert_eq!(
            shape(serde_json::json!({"event": "x", "properties": {}})),
            mp.shape(Kind::Track)
        );
        assert_eq!(
            shape(serde_json::json!({"$distinct_id": "u", "$set": {}})),
            mp.shape(Kind::Profile)
        );
        assert_eq!(
            shape(serde_json::json!({"$group_key": "c", "$group_id": "a", "$set": {}})),
            mp.shape(Kind::Group)
        );
    }
}
