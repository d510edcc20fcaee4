#!/usr/bin/env bash
# Delivery drain rate: records queued with the destination suspended, then resumed with no
# ingest; how fast one Mixpanel destination drains to the emulator.
#
#   bench/drain.sh BIN_DIR [SECONDS] [RATE]
#
# BIN_DIR holds vendorwall and loadgen (a release build). loadgen posts mixpanel-browser
# batches at RATE (10000) events/s for SECONDS (20) while the destination is suspended
# (`vendorwall destination suspend`); then the destination is resumed and the script waits
# for the outbox to empty. Prints the records queued, the drain time and rate, and the
# vendor requests' total time (vendorwall_delivery_attempt_duration_seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: bench/drain.sh BIN_DIR [SECONDS] [RATE]}
SECS=${2:-20}
RATE=${3:-10000}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/vw-drain-out.XXXXXX")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vw-drain.XXXXXX")
VW=$BIN/vendorwall
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=bench/drill-lib.sh
. bench/drill-lib.sh
export VENDORWALL_MASTER_KEY DRILL_MP_SECRET="drain-secret-$$"
VENDORWALL_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
EMU_PORT=$(free_port)
write_gateway_config "$WORK/gw.toml" "$WORK/store" "$EMU_PORT"
"$VW" emulate --vendor mixpanel --key drill-project-token --secret-env DRILL_MP_SECRET \
    --listen "127.0.0.1:$EMU_PORT" 2>"$OUT/emulator.log" &
PIDS+=($!)
start_gateway "$WORK/gw.toml"
"$VW" destination suspend mixpanel --config "$WORK/gw.toml" >/dev/null
sleep 2
"$BIN/loadgen" --url "$GW_URL" --key drill-app-token --vendor mixpanel --rate "$RATE" --duration "$SECS" \
    --concurrency 64 --batch 50 --timeout 10 --json >"$OUT/loadgen.json" 2>"$OUT/loadgen.txt"
sleep 2
queued=$(metric_sum vendorwall_outbox_depth_records)
t0=$(date +%s.%N)
"$VW" destination resume mixpanel --config "$WORK/gw.toml" >/dev/null
while [ "$(metric_sum vendorwall_outbox_depth_records)" != 0 ]; do sleep 0.5; done
t1=$(date +%s.%N)
attempts=$(curl -fsS "$ADMIN_URL/metrics" | awk '/^vendorwall_delivery_attempt_duration_seconds_sum/ { print $2 }')
awk -v q="$queued" -v a="$t0" -v b="$t1" -v s="$attempts" \
    'BEGIN { printf "queued %d; drained in %.1f s: %.0f records/s; vendor requests %.1f s in all\n", q, b - a, q / (b - a), s }' | tee "$OUT/summary.txt"
echo "results in $OUT"
