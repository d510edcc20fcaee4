#!/usr/bin/env bash
# Instructions per event of the per-event CPU work, counted by callgrind: deterministic, so
# two builds can be compared on a machine whose wall clock is noisy.
#
# Usage: bench/instructions.sh [BENCH_BINARY]
#   BENCH_BINARY  a build of benches/pipeline.rs (default: built with `cargo bench --no-run`)
#
# Prints, per event:
#   ingest_like  decode → canonical → record → classify → recommended policy → exposure →
#                row payload and meta bytes (the `ingest_like` function of the benchmark)
#   firewall     classify + recommended policy on records already parsed (`firewall`)
# Needs valgrind, jq and python3. Takes ~1 minute.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind jq python3; do
    command -v "$tool" >/dev/null || { echo "bench/instructions.sh: $tool is required" >&2; exit 2; }
done
B=${1:-}
if [ -z "$B" ]; then
    B=$(cargo bench --bench pipeline --no-run --message-format=json 2>/dev/null |
        jq -r 'select(.reason == "compiler-artifact" and .target.name == "pipeline") | .executable')
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# count FUNCTION FILTER: instructions inside FUNCTION (inclusive) per call of classify_record,
# which both functions call once per event (or classify_record_with, its batch form).
count() {
    local fn=$1 filter=$2
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$fn.out" --collect-atstart=no \
        --toggle-collect="pipeline::$fn" "$B" --bench "$filter" --profile-time 1 >/dev/null 2>&1
    python3 - "$OUT/$fn.out" "$fn" <<'PY'
import re, sys
path, fn = sys.argv[1], sys.argv[2]
total = calls = 0
names = {}
called = None
for line in open(path):
    if line.startswith("summary:") or line.startswith("totals:"):
        total = int(line.split()[1])
    # Names are compressed: "(id) name" the first time, in a fn= or cfn= line, "(id)" after.
    m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(3):
            names[m.group(2)] = m.group(3).strip()
        if m.group(1):
            called = names.get(m.group(2))
        continue
    m = re.match(r"calls=(\d+)", line)
    if m and called in ("vendorwall::classify::classify_record", "vendorwall::classify::classify_record_with"):
        calls += int(m.group(1))
if not calls:
    sys.exit(f"no events counted in pipeline::{fn}")
print(f"{fn:12} {total / calls:>10,.0f} instructions per event ({calls} events)")
PY
}
count ingest_like 'ingest_like/batch50/events'
count firewall 'firewall/classify\+recommended_policy/events'
