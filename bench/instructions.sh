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
# Needs valgrind, jq and python3. Takes ~2 minutes on an idle machine.
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
# which both functions call once per event (or classify_record_with, its batch form). Two runs
# of different lengths, and the difference of their totals over the difference of their event
# counts: what the first events pay once (the key-name lexicon and gazetteer built on first
# use, the per-thread key cache filling) cancels out, so the figure is the steady state.
count() {
    local fn=$1 filter=$2 t
    for t in 1 6; do
        valgrind --tool=callgrind --callgrind-out-file="$OUT/$fn.$t.out" --collect-atstart=no \
            --toggle-collect="pipeline::$fn" "$B" --bench "$filter" --profile-time "$t" >/dev/null 2>&1
    done
    python3 - "$OUT/$fn.1.out" "$OUT/$fn.6.out" "$fn" <<'PY'
import re, sys
def read(path):
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
    return total, calls
(t1, c1), (t2, c2) = read(sys.argv[1]), read(sys.argv[2])
fn = sys.argv[3]
if c2 <= c1:
    sys.exit(f"pipeline::{fn}: the longer run counted no more events ({c1} and {c2}); machine too busy?")
print(f"{fn:12} {(t2 - t1) / (c2 - c1):>10,.0f} instructions per event ({c2 - c1} events)")
PY
}
count ingest_like 'ingest_like/batch50/events'
count firewall 'firewall/classify\+recommended_policy/events'
