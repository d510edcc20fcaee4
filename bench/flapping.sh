#!/usr/bin/env bash
# Vendor-flapping drill: steady ingest while the vendor keeps going down and coming back.
#
#   DRILL_BIN=DIR bench/flapping.sh
#
# 1. `vendorwall emulate --flap UP:DOWN` (DRILL_FLAP, 60:30): the Mixpanel emulator answers
#    normally for UP seconds, then fails for DOWN seconds, cycling through its faults
#    (unreachable, 500, 429 with Retry-After, 503, 2 s answers).
# 2. `vendorwall serve` (one Mixpanel source, one Mixpanel destination at the emulator), the
#    store on disk.
# 3. loadgen posts mixpanel-browser batches at DRILL_RATE (10000) events/s for DRILL_SECS
#    (3600), open loop over DRILL_CONCURRENCY (64) connections; the gateway's RSS (VmRSS), outbox depth and delivered count are
#    sampled every DRILL_SAMPLE_SECS (10) into samples.csv.
# 4. Load stops; the emulator is restarted without faults; the script waits (DRILL_DRAIN_SECS,
#    600) for the outbox to drain and compares what was acknowledged (loadgen's
#    events_accepted) with what the gateway delivered (/metrics) and the vendor received (the
#    emulator's per-request log, retries included), then stops serve and runs `ledger verify`.
#
# Needs DRILL_BIN=DIR holding vendorwall and loadgen (a release build: debug builds do not
# sustain 10,000 events/s on two cores), curl, jq. Results in DRILL_OUT (default
# target/drill-flapping/<timestamp>): summary.txt, samples.csv and the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RATE=${DRILL_RATE:-10000}
SECS=${DRILL_SECS:-3600}
FLAP=${DRILL_FLAP:-60:30}
SAMPLE=${DRILL_SAMPLE_SECS:-10}
DRAIN_SECS=${DRILL_DRAIN_SECS:-600}
BATCH=50
# DRILL_NICE=-10 (root) keeps the drill's processes ahead of other work on a shared machine.
NICE=(nice -n "${DRILL_NICE:-0}")
OUT=${DRILL_OUT:-$ROOT/target/drill-flapping/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${DRILL_WORK:-${TMPDIR:-/tmp}}/vw-flap.XXXXXX")
BIN=${DRILL_BIN:?set DRILL_BIN to a directory with vendorwall and loadgen (release build)}
VW=$BIN/vendorwall
LOADGEN=$BIN/examples/loadgen
[ -x "$LOADGEN" ] || LOADGEN=$BIN/loadgen

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/drill-lib.sh
. "$ROOT/bench/drill-lib.sh"
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$GW_PID/status" 2>/dev/null || echo 0; }
received() { # records the emulator logs as accepted, over every emulator log
    cat "$OUT"/emulator*.log | sed -E 's/\x1b\[[0-9;]*m//g' |
        awk '/emulator request/ && /status=200/ { if (match($0, /records=[0-9]+/)) n += substr($0, RSTART + 8, RLENGTH - 8) } END { print n + 0 }'
}

export VENDORWALL_LOG=info
export VENDORWALL_MASTER_KEY
VENDORWALL_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export DRILL_MP_SECRET="drill-mp-secret-$$"
EMU_PORT=$(free_port)

write_gateway_config "$WORK/gw.toml" "$WORK/store" "$EMU_PORT"

"${NICE[@]}" "$VW" emulate --vendor mixpanel --key drill-project-token --secret-env DRILL_MP_SECRET \
    --listen "127.0.0.1:$EMU_PORT" --flap "$FLAP" 2>"$OUT/emulator.log" &
EMU_PID=$!
PIDS+=("$EMU_PID")

start_gateway "$WORK/gw.toml" "${NICE[@]}"
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); $(nproc) cores; $(uname -sr)"
say "nice ${DRILL_NICE:-0}; serve pid $GW_PID at $GW_URL; vendor flapping $FLAP (up:down seconds); ${RATE} events/s for ${SECS}s"

"${NICE[@]}" "$LOADGEN" --url "$GW_URL" --key drill-app-token --vendor mixpanel --rate "$RATE" \
    --duration "$SECS" --concurrency "${DRILL_CONCURRENCY:-64}" --batch "$BATCH" --timeout 10 --json \
    >"$OUT/loadgen.json" 2>"$OUT/loadgen.txt" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")

echo "seconds,rss_kib,outbox_depth,delivered,emulator_fault" >"$OUT/samples.csv"
t0=$(date +%s)
while kill -0 "$LOAD_PID" 2>/dev/null; do
    sleep "$SAMPLE"
    kill -0 "$GW_PID" 2>/dev/null || { say "serve DIED at $(($(date +%s) - t0))s"; exit 1; }
    fault=$(sed -E 's/\x1b\[[0-9;]*m//g' "$OUT/emulator.log" | grep -E 'vendor (down|up)' | tail -1 |
        sed -E 's/.*vendor (down|up).*/\1/' || true)
    echo "$(($(date +%s) - t0)),$(rss_kib),$(metric_sum vendorwall_outbox_depth_records),$(metric_sum vendorwall_delivery_delivered_records_total),${fault:-up}" >>"$OUT/samples.csv"
done
wait "$LOAD_PID" || true
jq -c '{requests_ok, requests_failed, failed_by_status, events_accepted, accepted_events_per_s, requests_unsent, latency_ms}' "$OUT/loadgen.json" |
    tee -a "$OUT/summary.txt" >&2

say "== load stopped; the vendor stays up from now on"
kill "$EMU_PID" && wait "$EMU_PID" 2>/dev/null || true
"${NICE[@]}" "$VW" emulate --vendor mixpanel --key drill-project-token --secret-env DRILL_MP_SECRET \
    --listen "127.0.0.1:$EMU_PORT" 2>"$OUT/emulator-after.log" &
PIDS+=($!)
t1=$(date +%s)
drained=no
for _ in $(seq 1 "$DRAIN_SECS"); do
    if [ "$(metric_sum vendorwall_outbox_depth_records)" = 0 ]; then drained=yes; break; fi
    sleep 1
done
say "outbox drained: $drained ($(($(date +%s) - t1))s after the load stopped)"

acked=$(jq '.events_accepted' "$OUT/loadgen.json")
delivered=$(metric_sum vendorwall_delivery_delivered_records_total)
dead=$(metric_sum vendorwall_delivery_dead_lettered_records_total)
depth=$(metric_sum vendorwall_outbox_depth_records)
got=$(received)
say "acknowledged $acked, delivered (gateway) $delivered, received by the vendor $got (retries included), dead letters $dead, still queued $depth"
# RSS: first sample after 5 minutes (a quarter of a short run), then the largest and the last, and the growth over the
# second half of the run (least squares, KiB per hour).
awk -F, 'NR > 1 { t[n] = $1; r[n] = $2; n++ }
    END {
        warm = (t[n-1] >= 1200) ? 300 : t[n-1] / 4
        for (i = 0; i < n; i++) { if (t[i] >= warm && !w) { w = r[i]; wt = t[i] } if (r[i] > m) m = r[i] }
        h = t[n-1] / 2; k = 0; sx = sy = sxx = sxy = 0
        for (i = 0; i < n; i++) if (t[i] >= h) { k++; sx += t[i]; sy += r[i]; sxx += t[i]*t[i]; sxy += t[i]*r[i] }
        slope = (k > 1) ? (k*sxy - sx*sy) / (k*sxx - sx*sx) : 0
        printf "RSS (MiB): at %ds %.0f, largest %.0f, last %.0f; second half %+.1f MiB/hour\n", wt, w/1024, m/1024, r[n-1]/1024, slope*3600/1024
    }' "$OUT/samples.csv" | tee -a "$OUT/summary.txt" >&2
awk -F, 'NR > 1 && $3 > m { m = $3; t = $1 } END { printf "largest outbox depth %d records (at %ds)\n", m, t }' "$OUT/samples.csv" |
    tee -a "$OUT/summary.txt" >&2
say "serve alive at the end: $(kill -0 "$GW_PID" 2>/dev/null && echo yes || echo NO)"
kill "$GW_PID" && wait "$GW_PID" 2>/dev/null || true
"$VW" ledger verify --config "$WORK/gw.toml" >"$OUT/ledger-verify.txt" 2>&1 && v=ok || v=FAILED
say "ledger verify: $v"
grep -ciE 'panic' "$OUT/serve.log" | xargs -I{} echo "panics in serve.log: {}" | tee -a "$OUT/summary.txt" >&2
if [ "$drained" = yes ] && [ "$delivered" -ge "$acked" ] && [ "$got" -ge "$acked" ] && [ "$dead" = 0 ] && [ "$v" = ok ]; then
    say "RESULT: nothing acknowledged was lost"
else
    say "RESULT: FAILED (see above)"
    exit 1
fi
