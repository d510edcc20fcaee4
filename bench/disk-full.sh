#!/usr/bin/env bash
# Disk-full drill: the store on a small filesystem, ingest until it is full, then space back.
#
#   bench/disk-full.sh            (root: it mounts a tmpfs)
#
# 1. A tmpfs of DRILL_FS_MB (24) MiB holds the store and a filler file of DRILL_FILLER_MB (4).
#    The store keeps DRILL_MIN_FREE_KB (8192) KiB of headroom ([store] min_free_bytes) and a
#    reserve file of DRILL_RESERVE_KB (2048) KiB ([store] reserve_bytes), scaled down from
#    the defaults (64 MiB, 16 MiB) to the small filesystem.
# 2. `vendorwall serve` with one Mixpanel source and one Mixpanel destination whose vendor is
#    down (nothing listens on its port), so the outbox only grows.
# 3. loadgen posts mixpanel-browser batches (`POST /track/?verbose=1`) at DRILL_RATE events/s
#    for DRILL_FILL_SECS: the disk fills. Its report counts the requests answered
#    `{"status":1}` (acknowledged) and the others by HTTP status.
# 4. The vendor comes back (`vendorwall emulate`) while the disk is still full, for
#    DRILL_BACK_SECS (15).
# 5. The filler is deleted: space returns. Waits (DRILL_DRAIN_SECS, 120) for the outbox to
#    drain with no ingest beside it.
# 6. loadgen runs again for DRILL_AFTER_SECS; waits for the outbox to drain again, then
#    compares what was acknowledged with what the vendor received (the emulator's
#    per-request log) and the gateway delivered (/metrics).
#
# DRILL_UNDER_LOAD=1: in step 5, loadgen keeps sending while space comes back (what retrying
# SDKs do), for DRILL_DRAIN_SECS.
# DRILL_OUTSIDE_FILL=1: before step 4, another file takes every byte left on the filesystem
# (the disk filled from outside vendorwall, headroom and all), and is deleted with the
# filler in step 5: delivery must record through the store's reserve file.
#
# Needs: cargo (or DRILL_BIN=DIR with vendorwall and loadgen), curl, jq, root for mount.
# Results in DRILL_OUT (default target/drill-disk-full/<timestamp>): summary.txt and logs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FS_MB=${DRILL_FS_MB:-24}
FILLER_MB=${DRILL_FILLER_MB:-4}
MIN_FREE_KB=${DRILL_MIN_FREE_KB:-8192}
RESERVE_KB=${DRILL_RESERVE_KB:-2048}
RATE=${DRILL_RATE:-1000}
FILL_SECS=${DRILL_FILL_SECS:-60}
AFTER_SECS=${DRILL_AFTER_SECS:-10}
DRAIN_SECS=${DRILL_DRAIN_SECS:-120}
BATCH=50
OUT=${DRILL_OUT:-$ROOT/target/drill-disk-full/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
WORK=$(mktemp -d)
FS=$WORK/fs
mkdir -p "$FS"
if ! mount -t tmpfs -o "size=${FS_MB}m,mode=0700" tmpfs "$FS"; then
    echo "cannot mount a tmpfs (root needed): drill not run" >&2
    exit 2
fi

if [ -n "${DRILL_BIN:-}" ]; then
    BIN=$DRILL_BIN
else
    cargo build --bin vendorwall --example loadgen >&2
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug
fi
VW=$BIN/vendorwall
LOADGEN=$BIN/examples/loadgen
[ -x "$LOADGEN" ] || LOADGEN=$BIN/loadgen

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    umount "$FS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=bench/drill-lib.sh
. "$ROOT/bench/drill-lib.sh"
space() { df -k --output=avail "$FS" | tail -1 | tr -d ' '; }

export VENDORWALL_LOG=info
export VENDORWALL_MASTER_KEY
VENDORWALL_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export DRILL_MP_SECRET="drill-mp-secret-$$"
EMU_PORT=$(free_port)
dd if=/dev/zero of="$FS/filler" bs=1M count="$FILLER_MB" status=none
if [ "${DRILL_UNDER_LOAD:-0}" = 1 ]; then
    dd if=/dev/zero of="$FS/filler2" bs=1M count=2 status=none
fi

write_gateway_config "$WORK/gw.toml" "$FS/store" "$EMU_PORT" "min_free_bytes = $((MIN_FREE_KB * 1024))
reserve_bytes = $((RESERVE_KB * 1024))"
start_gateway "$WORK/gw.toml"
say "serve pid $GW_PID at $GW_URL; store on a ${FS_MB} MiB tmpfs with a ${FILLER_MB} MiB filler; $(space) KiB free"

loadgen() { # name seconds
    "$LOADGEN" --url "$GW_URL" --key drill-app-token --vendor mixpanel --rate "$RATE" \
        --duration "$2" --concurrency 4 --batch "$BATCH" --timeout 10 --json \
        >"$OUT/$1-loadgen.json" 2>"$OUT/$1-loadgen.txt" || true
    jq -c '{requests_ok, requests_failed, failed_by_status, events_accepted}' "$OUT/$1-loadgen.json" |
        tee -a "$OUT/summary.txt" >&2
}

say "== fill: vendor down, ${RATE} events/s for ${FILL_SECS}s"
loadgen fill "$FILL_SECS"
say "after fill: $(space) KiB free; serve alive: $(kill -0 "$GW_PID" 2>/dev/null && echo yes || echo NO)"
ready() { curl -s -o /dev/null -w '%{http_code}' "$GW_URL/readyz"; }
say "healthz: $(curl -s -o /dev/null -w '%{http_code}' "$GW_URL/healthz"), readyz: $(ready); refused for space (store_full): $(metric_sum 'vendorwall_ingest_rejected_requests_total{reason="store_full"}'), store unavailable: $(metric_sum 'vendorwall_ingest_rejected_requests_total{reason="store_unavailable"}')"
# What one SDK request gets now, verbatim.
curl -s -D "$OUT/full-answer.headers" -o "$OUT/full-answer.body" \
    --data-urlencode "data=$(printf '[{"event":"drill","properties":{"token":"drill-app-token","distinct_id":"d1","$insert_id":"drill-probe-1"}}]' | base64 -w0)" \
    "$GW_URL/track/?verbose=1" || true
say "a /track request on the full disk: $(head -1 "$OUT/full-answer.headers" | tr -d '\r') $(cat "$OUT/full-answer.body")"
curl -s -D "$OUT/full-import.headers" -o "$OUT/full-import.body" -u "drill-app-token:" \
    -H 'Content-Type: application/json' \
    --data '[{"event":"drill","properties":{"distinct_id":"d1","time":1795000000,"$insert_id":"drill-probe-2"}}]' \
    "$GW_URL/import?strict=1" || true
say "an /import request on the full disk: $(head -1 "$OUT/full-import.headers" | tr -d '\r') $(cat "$OUT/full-import.body")"

if [ "${DRILL_OUTSIDE_FILL:-0}" = 1 ]; then
    dd if=/dev/zero of="$FS/outside" bs=64k status=none 2>/dev/null || true
    say "the rest of the disk filled from outside: $(space) KiB free; reserve file $(stat -c %s "$FS/store/space.reserve" 2>/dev/null || echo none) bytes"
fi
say "== vendor back, disk still full"
"$VW" emulate --vendor mixpanel --key drill-project-token --secret-env DRILL_MP_SECRET \
    --listen "127.0.0.1:$EMU_PORT" 2>"$OUT/emulator.log" &
PIDS+=($!)
sleep "${DRILL_BACK_SECS:-15}"
say "delivered while full: $(metric_sum vendorwall_delivery_delivered_records_total); depth $(metric_sum vendorwall_outbox_depth_records); $(space) KiB free; readyz $(ready); reserve file $(stat -c %s "$FS/store/space.reserve" 2>/dev/null || echo none)"

drain() { # seconds → waits for an empty outbox, at most that long
    local i
    for i in $(seq 1 "$1"); do
        [ "$(metric_sum vendorwall_outbox_depth_records)" = 0 ] && return 0
        sleep 1
    done
    return 1
}

if [ "${DRILL_UNDER_LOAD:-0}" = 1 ]; then
    say "== space back (filler deleted) while the SDKs keep sending: does delivery recover?"
    loadgen during "$DRAIN_SECS" &
    LOAD_PID=$!
    sleep 2
else
    say "== space back (filler deleted), no ingest: does delivery recover?"
fi
rm -f "$FS/filler" "$FS/outside"
t0=$(date +%s)
if drain "$DRAIN_SECS"; then
    say "outbox drained $(($(date +%s) - t0))s after space came back; $(space) KiB free"
else
    say "outbox NOT drained ${DRAIN_SECS}s after space came back: depth $(metric_sum vendorwall_outbox_depth_records), delivered $(metric_sum vendorwall_delivery_delivered_records_total); $(space) KiB free"
fi

if [ -n "${LOAD_PID:-}" ]; then
    wait "$LOAD_PID" || true
    say "after the load: depth $(metric_sum vendorwall_outbox_depth_records), delivered $(metric_sum vendorwall_delivery_delivered_records_total); $(space) KiB free"
    say "== no ingest for 30s: does delivery recover by itself?"
    drain 30 && say "drained" || say "outbox NOT drained: depth $(metric_sum vendorwall_outbox_depth_records); $(space) KiB free"
    say "== the second filler (2 MiB) deleted, no ingest"
    rm -f "$FS/filler2"
    t0=$(date +%s)
    drain "$DRAIN_SECS" && say "outbox drained $(($(date +%s) - t0))s later" ||
        say "outbox NOT drained: depth $(metric_sum vendorwall_outbox_depth_records); $(space) KiB free"
fi
say "== ingest again: ${RATE} events/s for ${AFTER_SECS}s"
loadgen after "$AFTER_SECS"
drain "$DRAIN_SECS" || true
acked=$(jq -s '[.[].events_accepted] | add' "$OUT"/*-loadgen.json)
# The probes: an acknowledged probe counts too.
grep -q '"status":1' "$OUT/full-answer.body" && acked=$((acked + 1))
grep -q '"num_records_imported":1' "$OUT/full-import.body" && acked=$((acked + 1))
delivered=$(metric_sum vendorwall_delivery_delivered_records_total)
received=$(sed -E 's/\x1b\[[0-9;]*m//g' "$OUT/emulator.log" | awk '/emulator request/ && /status=200/ { if (match($0, /records=[0-9]+/)) n += substr($0, RSTART + 8, RLENGTH - 8) } END { print n + 0 }')
say "outbox depth $(metric_sum vendorwall_outbox_depth_records); dead letters $(metric_sum vendorwall_delivery_dead_lettered_records_total); readyz $(ready)"
say "requests refused for space (store_full) $(metric_sum 'vendorwall_ingest_rejected_requests_total{reason="store_full"}'), store unavailable $(metric_sum 'vendorwall_ingest_rejected_requests_total{reason="store_unavailable"}')"
say "acknowledged $acked, delivered (gateway) $delivered, received (vendor) $received"
say "serve alive at the end: $(kill -0 "$GW_PID" 2>/dev/null && echo yes || echo NO)"
grep -iE 'full|disk|space|error' "$OUT/serve.log" | sed -E 's/^[^ ]+ //' | sort | uniq -c | sort -rn | head -20 >"$OUT/serve-errors.txt" || true
if [ "$received" -ge "$acked" ] && [ "$acked" -gt 0 ]; then
    say "RESULT: nothing acknowledged was lost"
else
    depth=$(metric_sum vendorwall_outbox_depth_records)
    say "RESULT: $((acked - received)) acknowledged records not delivered ($depth still queued in the outbox)"
    exit 1
fi
