#!/usr/bin/env bash
# End-to-end load benchmark: loadgen → vendorwall serve → (SQLite outbox) → vendorwall emulate.
#
# Usage: bench/load.sh [a] [b] [c]      (default: all three)
#   a  max throughput: closed loop, 64 connections, 30 s; then wait for every destination's
#      outbox to drain
#   b  latency at 10,000 events/s: open loop, 32 connections, 30 s
#   c  vendor down: every destination points at a closed port; 10,000 events/s for 60 s;
#      RSS and outbox depth over time, store size on disk at the end
#
# Vendors: loadgen posts what SOURCE_PROTOCOL's browser SDK sends (mixpanel-browser batches,
# Segment analytics.js batching `/v1/b`, posthog-js gzip batches `/e/`, Amplitude
# analytics-browser `/2/httpapi`; see examples/loadgen.rs) to one [[sources]] of that
# protocol. The gateway delivers to one [[destinations]] per DESTINATIONS entry, each to its
# own `vendorwall emulate --vendor <type> --key <key>` on a port of its own. Results give
# accepted events/s (loadgen) and delivered events/s per destination (the gateway's
# vendorwall_delivery_delivered_records_total{destination=...}; the top-level `delivered`
# figures are sums over destinations). Emulator CPU and RSS are summed over the emulators.
# CPU and wall-clock time are counted from loadgen's `loadgen: sending in 100 ms` line, so its
# preparation (posthog bodies are gzipped ahead: seconds) is left out; loadgen's CPU is its
# own count while sending (`cpu_s_sending` in its report; its preparation: `cpu_s_prepare`).
# BENCH_BIN binaries must include a loadgen that takes --vendor and a vendorwall whose
# emulate takes --vendor/--key.
#
# Examples:
#   bench/load.sh a b                                    # Mixpanel in, Mixpanel out (the default)
#   SOURCE_PROTOCOL=segment bench/load.sh a b            # Segment in, Segment out
#   SOURCE_PROTOCOL=posthog bench/load.sh a b            # PostHog in, PostHog out
#   SOURCE_PROTOCOL=amplitude bench/load.sh a b          # Amplitude in, Amplitude out
#   SOURCE_PROTOCOL=segment DESTINATIONS=mixpanel,amplitude bench/load.sh a   # fan-out, 1 in 2 out
#
# Environment:
#   SOURCE_PROTOCOL=V mixpanel|segment|posthog|amplitude: the source's protocol, and what
#                     loadgen sends (`--vendor V`); default mixpanel
#   DESTINATIONS=V,.. comma-separated destination types; default $SOURCE_PROTOCOL. Each is
#                     named after its type (a second one of a type `<type>-2`) and gets its key
#                     setting: mixpanel `project_token` (+ `api_secret`), segment `write_key`,
#                     posthog and amplitude `api_key`
#   BENCH_OUT=DIR     where results go (default target/bench-load/<timestamp>)
#   BENCH_STORE=DIR   parent of the temporary store directories (default target/; must be a
#                     real disk, not tmpfs, or the fsync cost is not measured)
#   A_DURATION, A_CONCURRENCY, B_RATE, B_DURATION, C_RATE, C_DURATION   scenario knobs
#   BENCH_POLICY=NAME every destination's `policy` (e.g. passthrough); default: none set, so
#                     the gateway's default policy applies
#   KEEP=1            keep the store directories afterwards
#   QUIET_WAIT=SECS   before each scenario, wait up to SECS (default 900) for the machine to be
#                     ≥ 90% idle over 3 s, so other work (a compile) does not skew the numbers;
#                     0 disables. Each scenario also records the CPU used by other processes.
#   BENCH_BIN=DIR     use DIR/vendorwall and DIR/loadgen instead of building
#   BENCH_NICE=N      run serve, the emulators and loadgen under `nice -n N` (N < 0 needs root):
#                     on a shared machine this keeps other work from taking their CPU
#   CARGO_TARGET_DIR  honoured as by cargo (binaries are copied into $BENCH_OUT/bin before use,
#                     so a concurrent build cannot swap them mid-run)
#
# Needs: cargo, curl, jq. Results: $BENCH_OUT/summary.txt (human) and results.jsonl (one JSON
# object per scenario), plus the loadgen output, RSS samples and /metrics snapshots.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
for tool in cargo curl jq; do
    command -v "$tool" >/dev/null || { echo "bench/load.sh: $tool is required" >&2; exit 2; }
done

SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(a b c)

is_vendor() { case $1 in mixpanel | segment | posthog | amplitude) return 0 ;; *) return 1 ;; esac }
SOURCE_PROTOCOL=${SOURCE_PROTOCOL:-mixpanel}
if ! is_vendor "$SOURCE_PROTOCOL"; then
    echo "bench/load.sh: SOURCE_PROTOCOL=$SOURCE_PROTOCOL is not one of mixpanel, segment, posthog, amplitude" >&2
    exit 2
fi
DESTINATIONS=${DESTINATIONS:-$SOURCE_PROTOCOL}
DEST_TYPES=()
DEST_NAMES=()
IFS=, read -r -a dest_list <<<"${DESTINATIONS// /}"
for t in "${dest_list[@]}"; do
    [ -z "$t" ] && continue
    if ! is_vendor "$t"; then
        echo "bench/load.sh: DESTINATIONS names $t, not one of mixpanel, segment, posthog, amplitude" >&2
        exit 2
    fi
    name=$t
    n=2
    while [[ " ${DEST_NAMES[*]} " == *" $name "* ]]; do
        name=$t-$n
        n=$((n + 1))
    done
    DEST_TYPES+=("$t")
    DEST_NAMES+=("$name")
done
if [ ${#DEST_TYPES[@]} -eq 0 ]; then
    echo "bench/load.sh: DESTINATIONS is empty" >&2
    exit 2
fi

A_DURATION=${A_DURATION:-30}
A_CONCURRENCY=${A_CONCURRENCY:-64}
B_RATE=${B_RATE:-10000}
B_DURATION=${B_DURATION:-30}
C_RATE=${C_RATE:-10000}
C_DURATION=${C_DURATION:-60}

OUT=${BENCH_OUT:-$ROOT/target/bench-load/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
STORE_PARENT=${BENCH_STORE:-$ROOT/target}
mkdir -p "$STORE_PARENT"
WORK=$(mktemp -d "$STORE_PARENT/vw-bench.XXXXXX")

mkdir -p "$OUT/bin"
if [ -n "${BENCH_BIN:-}" ]; then
    echo "== using prebuilt binaries from $BENCH_BIN" >&2
    cp "$BENCH_BIN/vendorwall" "$BENCH_BIN/loadgen" "$OUT/bin/"
else
    echo "== building (release)" >&2
    cargo build --release --example loadgen --bin vendorwall >&2
    TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
    cp "$TARGET/release/vendorwall" "$TARGET/release/examples/loadgen" "$OUT/bin/"
fi
VW=$OUT/bin/vendorwall
LOADGEN=$OUT/bin/loadgen
NICE=()
[ -n "${BENCH_NICE:-}" ] && NICE=(nice -n "$BENCH_NICE")

export VENDORWALL_LOG=warn
export BENCH_MP_SECRET="bench-mp-secret-$$"
# serve needs a master key; each run's stores are throwaway, so each run gets its own.
export VENDORWALL_MASTER_KEY
VENDORWALL_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
# The app-side key loadgen sends: the source's token (write key, API key).
APP_TOKEN=bench-app-token

# The key a destination of that type delivers with, which its emulator expects.
dest_key() { # type
    case $1 in
        mixpanel) echo bench-project-token ;;
        segment) echo bench-segment-write-key ;;
        posthog) echo phc_bench_project_key ;;
        amplitude) echo bench-amplitude-api-key ;;
    esac
}

# The destination's key setting (and Mixpanel's secret), as TOML lines.
dest_key_toml() { # type
    case $1 in
        mixpanel)
            echo "project_token = \"$(dest_key "$1")\""
            # shellcheck disable=SC2016 # the gateway expands it, from its environment
            echo 'api_secret = "${BENCH_MP_SECRET}"'
            ;;
        segment) echo "write_key = \"$(dest_key "$1")\"" ;;
        posthog | amplitude) echo "api_key = \"$(dest_key "$1")\"" ;;
    esac
}

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

stop() { # pid...
    for p in "$@"; do kill "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        ss -ltn "sport = :$p" | grep -q ":$p" || { echo "$p"; return; }
    done
}

wait_port() { # port
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# Starts one emulator per destination, each on a fresh port; sets EMU_PIDS and EMU_URLS (in
# the order of DEST_NAMES).
start_emulators() { # scenario
    EMU_PIDS=()
    EMU_URLS=()
    local i port type secret
    for i in "${!DEST_TYPES[@]}"; do
        type=${DEST_TYPES[$i]}
        port=$(free_port)
        secret=()
        [ "$type" = mixpanel ] && secret=(--secret-env BENCH_MP_SECRET)
        "${NICE[@]}" "$VW" emulate --vendor "$type" --key "$(dest_key "$type")" "${secret[@]}" \
            --listen "127.0.0.1:$port" 2>"$OUT/$1-emulator-${DEST_NAMES[$i]}.log" &
        EMU_PIDS+=($!)
        PIDS+=($!)
        wait_port "$port"
        EMU_URLS+=("http://127.0.0.1:$port")
    done
}

# CPU seconds the emulators have used so far, together.
emulators_cpu_s() {
    local p total=0
    for p in "${EMU_PIDS[@]}"; do
        total=$(awk -v a="$total" -v b="$(cpu_s "$p")" 'BEGIN { printf "%.2f", a + b }')
    done
    echo "$total"
}

# Writes a config (one source of SOURCE_PROTOCOL; one destination per DESTINATIONS entry,
# the i-th at the i-th endpoint) and starts `serve`; sets GW_PID, GW_URL, ADMIN_URL (metrics), STORE.
start_gateway() { # name endpoint...
    local name=$1
    shift
    local endpoints=("$@")
    STORE="$WORK/$name-store"
    local cfg="$WORK/$name.toml" i
    cat >"$cfg" <<EOF
version = 1
[server]
listen = "127.0.0.1:0"
[store]
path = "$STORE"
[[sources]]
name = "web"
protocol = "$SOURCE_PROTOCOL"
tokens = ["$APP_TOKEN"]
EOF
    # Metrics are on the admin listener (binaries with `vendorwall audit`); older binaries
    # serve them on the public one and know no [admin] listen.
    if "$VW" audit --help >/dev/null 2>&1; then
        printf '[admin]\nlisten = "127.0.0.1:0"\n' >>"$cfg"
    fi
    for i in "${!DEST_TYPES[@]}"; do
        {
            echo "[[destinations]]"
            echo "name = \"${DEST_NAMES[$i]}\""
            echo "type = \"${DEST_TYPES[$i]}\""
            echo "endpoint = \"${endpoints[$i]}\""
            dest_key_toml "${DEST_TYPES[$i]}"
            echo 'sources = ["web"]'
            if [ -n "${BENCH_POLICY:-}" ]; then echo "policy = \"$BENCH_POLICY\""; fi
        } >>"$cfg"
    done
    local fifo="$WORK/$name.stdout"
    mkfifo "$fifo"
    "${NICE[@]}" "$VW" serve --config "$cfg" >"$fifo" 2>"$OUT/$name-serve.log" &
    GW_PID=$!
    PIDS+=("$GW_PID")
    exec 4<"$fifo"
    local line
    if ! IFS= read -r -t 30 line <&4; then
        echo "serve did not start; see $OUT/$name-serve.log" >&2
        exit 1
    fi
    GW_URL=${line#listening on }
    ADMIN_URL=$GW_URL
    if IFS= read -r -t 5 line <&4 && [ "${line#admin listening on }" != "$line" ]; then
        ADMIN_URL=${line#admin listening on }
    fi
    # Keep draining stdout so the server never blocks on it.
    cat <&4 >"$OUT/$name-serve.stdout" &
    PIDS+=($!)
    exec 4<&-
    echo "   serve pid $GW_PID at $GW_URL, store $STORE, destinations ${endpoints[*]}" >&2
}

# Samples VmRSS (KiB) of a pid every 0.5 s: "<unix time> <kib>".
start_rss_sampler() { # pid file
    (
        while [ -r "/proc/$1/status" ]; do
            echo "$(date +%s.%N) $(awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null)"
            sleep 0.5
        done
    ) >"$2" &
    RSS_PID=$!
    PIDS+=("$RSS_PID")
}

metric() { # file name-with-labels  → value (0 if absent)
    awk -v m="$2" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }' "$1"
}

scrape() { # file
    curl -fsS "$ADMIN_URL/metrics" >"$1"
}

peak_kib() { awk '$2 > m { m = $2 } END { print m + 0 }' "$1"; }

CLK_TCK=$(getconf CLK_TCK)
# Busy CPU seconds of the whole machine so far (all cores; everything but idle and iowait).
machine_busy_s() {
    awk -v t="$CLK_TCK" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / t }' /proc/stat
}
machine_idle_pct() { # over 3 s
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep 3
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    echo "$a $b" | awk '{ busy = $3 - $1; idle = $4 - $2; pct = busy + idle > 0 ? 100 * idle / (busy + idle) : 100; printf "%d", pct }'
}
wait_quiet() {
    local limit=${QUIET_WAIT:-900} waited=0 idle
    [ "$limit" -eq 0 ] && return 0
    while :; do
        idle=$(machine_idle_pct)
        [ "$idle" -ge 90 ] && break
        if [ "$waited" -ge "$limit" ]; then
            echo "   machine still busy (${idle}% idle) after ${waited} s; running anyway" >&2
            return 0
        fi
        [ "$waited" -eq 0 ] && echo "   waiting for the machine to go quiet (${idle}% idle)..." >&2
        waited=$((waited + 3))
    done
    [ "$waited" -gt 0 ] && echo "   quiet after ${waited} s" >&2
    return 0
}
# CPU seconds (user + system, all threads) a live process has used so far.
cpu_s() { # pid
    awk -v t="$CLK_TCK" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Sum of the series of a snapshot whose name and labels start with a prefix (0 if none).
metric_sum() { # file prefix
    awk -v p="$2" 'index($1, p) == 1 { n += $2 } END { printf "%.6f", n + 0 }' "$1"
}

# Records queued for all destinations together in a snapshot.
depth_total() { # file
    local name total=0
    for name in "${DEST_NAMES[@]}"; do
        total=$((total + $(metric "$1" "vendorwall_outbox_depth_records{destination=\"$name\"}")))
    done
    echo "$total"
}

# Per destination, between two snapshots: {"<name>": {type, delivered, delivered_per_s,
# depth_after, retries_total, dead_lettered_total}}.
destinations_delta_json() { # before after seconds
    local b=$1 a=$2 s=$3 i name label out="{}"
    for i in "${!DEST_NAMES[@]}"; do
        name=${DEST_NAMES[$i]}
        label="{destination=\"$name\"}"
        out=$(jq -c --arg n "$name" --arg t "${DEST_TYPES[$i]}" --argjson s "$s" \
            --argjson d "$(($(metric "$a" "vendorwall_delivery_delivered_records_total$label") - $(metric "$b" "vendorwall_delivery_delivered_records_total$label")))" \
            --argjson depth "$(metric "$a" "vendorwall_outbox_depth_records$label")" \
            --argjson retries "$(metric "$a" "vendorwall_delivery_retries_total$label")" \
            --argjson dead "$(metric "$a" "vendorwall_delivery_dead_lettered_records_total$label")" \
            '. + {($n): {type: $t, delivered: $d, delivered_per_s: (if $s > 0 then $d / $s else 0 end),
                         depth_after: $depth, retries_total: $retries, dead_lettered_total: $dead}}' <<<"$out")
    done
    echo "$out"
}

# Summary of the gateway's own counters between two /metrics snapshots, as JSON. Delivery
# figures are sums over the destinations; `per_destination` has each.
metrics_delta_json() { # before after seconds
    local b=$1 a=$2 s=$3
    local c0 c1 r0 r1 cs0 cs1 rq0 rq1 rs0 rs1
    local req="vendorwall_ingest_request_duration_seconds"
    local src="{protocol=\"$SOURCE_PROTOCOL\","
    c0=$(metric "$b" vendorwall_outbox_commits_total)
    c1=$(metric "$a" vendorwall_outbox_commits_total)
    r0=$(metric "$b" vendorwall_outbox_committed_records_total)
    r1=$(metric "$a" vendorwall_outbox_committed_records_total)
    cs0=$(metric "$b" vendorwall_outbox_commit_duration_seconds_sum)
    cs1=$(metric "$a" vendorwall_outbox_commit_duration_seconds_sum)
    # Every route of the source's protocol (the series are labelled protocol and route).
    rq0=$(metric_sum "$b" "${req}_count$src")
    rq1=$(metric_sum "$a" "${req}_count$src")
    rs0=$(metric_sum "$b" "${req}_sum$src")
    rs1=$(metric_sum "$a" "${req}_sum$src")
    jq -n --argjson per "$(destinations_delta_json "$b" "$a" "$s")" --argjson c "$((c1 - c0))" --argjson r "$((r1 - r0))" \
        --argjson cs "$(awk -v x="$cs0" -v y="$cs1" 'BEGIN { printf "%.6f", y - x }')" \
        --argjson rq "$(awk -v x="$rq0" -v y="$rq1" 'BEGIN { printf "%.0f", y - x }')" \
        --argjson rs "$(awk -v x="$rs0" -v y="$rs1" 'BEGIN { printf "%.6f", y - x }')" \
        --argjson s "$s" \
        --argjson rej "$(awk '/^vendorwall_ingest_rejected_requests_total/ { n += $2 } END { print n + 0 }' "$a")" \
        '([$per[] | .delivered] | add) as $d |
         {delivered: $d, delivered_per_s: (if $s > 0 then $d / $s else 0 end),
          per_destination: $per,
          commits: $c, committed_records: $r,
          records_per_commit: (if $c > 0 then $r / $c else 0 end),
          commits_per_s: (if $s > 0 then $c / $s else 0 end),
          commit_ms_avg: (if $c > 0 then 1000 * $cs / $c else 0 end),
          commit_busy_fraction: (if $s > 0 then $cs / $s else 0 end),
          server_request_ms_avg: (if $rq > 0 then 1000 * $rs / $rq else 0 end),
          server_track_ms_avg: (if $rq > 0 then 1000 * $rs / $rq else 0 end),
          depth_after: ([$per[] | .depth_after] | add), retries_total: ([$per[] | .retries_total] | add),
          dead_lettered_total: ([$per[] | .dead_lettered_total] | add), rejected_requests_total: $rej}'
}

# The commit-duration histogram of a snapshot, as "le=count" pairs.
commit_histogram() { # file
    grep '^vendorwall_outbox_commit_duration_seconds_bucket' "$1" |
        sed -E 's/.*le="([^"]+)"\} ([0-9]+)/\1=\2/' | paste -sd' '
}

# Starts loadgen (sending as SOURCE_PROTOCOL's SDK) in the background and returns when it is
# about to send: it prints `loadgen: sending in 100 ms` once its bodies are ready (posthog's
# are gzipped ahead, which can take seconds), so the CPU and wall-clock snapshots taken next
# cover the load, not the preparation. Its total CPU seconds go to
# $OUT/<name>-loadgen-cpu.txt (when /usr/bin/time exists); its CPU while sending is in its
# report (`cpu_s_sending`).
start_loadgen() { # name args...
    local name=$1
    shift
    echo "   loadgen --vendor $SOURCE_PROTOCOL $*" >&2
    local timer=()
    [ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%U %S" -o "$OUT/$name-loadgen-cpu.txt")
    "${timer[@]}" "${NICE[@]}" "$LOADGEN" --url "$GW_URL" --key "$APP_TOKEN" --vendor "$SOURCE_PROTOCOL" \
        --json "$@" >"$OUT/$name-loadgen.json" 2>"$OUT/$name-loadgen.txt" &
    LOADGEN_PID=$!
    PIDS+=("$LOADGEN_PID")
    until grep -q '^loadgen: sending' "$OUT/$name-loadgen.txt" 2>/dev/null; do
        kill -0 "$LOADGEN_PID" 2>/dev/null || break
        sleep 0.01
    done
}

# Waits for loadgen to finish; stops the benchmark if it failed.
finish_loadgen() { # name
    local rc=0
    wait "$LOADGEN_PID" || rc=$?
    cat "$OUT/$1-loadgen.txt" >&2
    if [ "$rc" -ne 0 ]; then
        echo "loadgen failed (exit status $rc); see $OUT/$1-loadgen.txt" >&2
        exit 1
    fi
}

# loadgen's CPU seconds while sending (its own count), else in all (/usr/bin/time).
loadgen_cpu_s() { # name
    local own
    own=$(jq -r '.cpu_s_sending // empty' "$OUT/$1-loadgen.json" 2>/dev/null)
    if [ -n "$own" ]; then
        printf '%.2f' "$own"
    else
        awk '{ printf "%.2f", $1 + $2 }' "$OUT/$1-loadgen-cpu.txt" 2>/dev/null || echo 0
    fi
}

# The peak RSS of each emulator as {"<destination>": MiB}, from their sample files.
emulators_peak_json() { # scenario
    local i out="{}"
    for i in "${!DEST_NAMES[@]}"; do
        out=$(jq -c --arg n "${DEST_NAMES[$i]}" --argjson kib "$(peak_kib "$OUT/$1-emulator-${DEST_NAMES[$i]}-rss.txt")" \
            '. + {($n): ($kib / 1024)}' <<<"$out")
    done
    echo "$out"
}

# Per-thread CPU ticks of a process: "<tid> <comm> <ticks>" lines.
threads_snapshot() { # pid
    local t
    for t in /proc/"$1"/task/*; do
        echo "${t##*/} $(tr ' ' '_' <"$t/comm" 2>/dev/null) $(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null)"
    done 2>/dev/null
}

# CPU used between two snapshots by thread name: {"<name>": {cpu_s, threads, busiest_thread_cores}}.
# A thread created in between counts from zero; one that exited in between is missed.
threads_json() { # before after wall_s
    awk -v t="$CLK_TCK" -v w="$3" '
        NR == FNR { before[$1] = $3; next }
        NF == 3 { d = ($3 - before[$1]) / t; cpu[$2] += d; n[$2]++; if (d > top[$2]) top[$2] = d }
        END {
            printf "{"; sep = ""
            for (k in cpu) { printf "%s\"%s\": {\"cpu_s\": %.2f, \"threads\": %d, \"busiest_thread_cores\": %.2f}", sep, k, cpu[k], n[k], top[k] / w; sep = ", " }
            print "}"
        }' "$1" "$2"
}

# CPU seconds used during the load by serve, the emulator, loadgen and everything else on
# the machine ("other": a compile running alongside shows up here), and cores busy in total.
cpu_json() { # serve_before serve_after emu_before emu_after loadgen wall machine_before machine_after
    jq -n --argjson s0 "$1" --argjson s1 "$2" --argjson e0 "$3" --argjson e1 "$4" --argjson l "$5" --argjson w "$6" \
        --argjson m0 "$7" --argjson m1 "$8" \
        '{serve: ($s1 - $s0), emulator: ($e1 - $e0), loadgen: $l,
          other: ([($m1 - $m0) - ($s1 - $s0) - ($e1 - $e0) - $l, 0] | max), wall: $w,
          cores_busy: (if $w > 0 then ($m1 - $m0) / $w else 0 end)}'
}

record() { # json
    echo "$1" >>"$OUT/results.jsonl"
}

scenario_a() {
    echo "== a: max throughput (closed loop, ${A_CONCURRENCY} connections, ${A_DURATION} s)" >&2
    start_emulators a
    start_gateway a "${EMU_URLS[@]}"
    start_rss_sampler "$GW_PID" "$OUT/a-rss.txt"
    local samplers=("$RSS_PID") i
    for i in "${!EMU_PIDS[@]}"; do
        start_rss_sampler "${EMU_PIDS[$i]}" "$OUT/a-emulator-${DEST_NAMES[$i]}-rss.txt"
        samplers+=("$RSS_PID")
    done
    scrape "$OUT/a-metrics-before.txt"
    local s0 e0 s1 e1 w0 w1 m0 m1
    threads_snapshot "$GW_PID" >"$OUT/a-threads-before.txt"
    start_loadgen a --rate 0 --concurrency "$A_CONCURRENCY" --duration "$A_DURATION"
    s0=$(cpu_s "$GW_PID") e0=$(emulators_cpu_s) w0=$(date +%s.%N) m0=$(machine_busy_s)
    finish_loadgen a
    s1=$(cpu_s "$GW_PID") e1=$(emulators_cpu_s) w1=$(date +%s.%N) m1=$(machine_busy_s)
    threads_snapshot "$GW_PID" >"$OUT/a-threads-after.txt"
    scrape "$OUT/a-metrics-after.txt"
    local cpu
    cpu=$(cpu_json "$s0" "$s1" "$e0" "$e1" "$(loadgen_cpu_s a)" "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" "$m0" "$m1")
    local run_s
    run_s=$(jq '.duration_s' "$OUT/a-loadgen.json")
    # Drain: until every destination's outbox is empty (at most 10 minutes).
    local t0 t1 depth
    t0=$(date +%s.%N)
    while :; do
        scrape "$OUT/a-metrics-drain.txt"
        depth=$(depth_total "$OUT/a-metrics-drain.txt")
        t1=$(date +%s.%N)
        [ "$depth" -eq 0 ] && break
        if awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a > 600) }'; then
            echo "   outboxes did not drain within 600 s (depth $depth)" >&2
            break
        fi
        sleep 0.5
    done
    local drain_s drain_cpu
    drain_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    drain_cpu=$(cpu_json "$s1" "$(cpu_s "$GW_PID")" "$e1" "$(emulators_cpu_s)" 0 "$drain_s" "$m1" "$(machine_busy_s)")
    local during total
    during=$(metrics_delta_json "$OUT/a-metrics-before.txt" "$OUT/a-metrics-after.txt" "$run_s")
    total=$(metrics_delta_json "$OUT/a-metrics-before.txt" "$OUT/a-metrics-drain.txt" \
        "$(awk -v r="$run_s" -v d="$drain_s" 'BEGIN { print r + d }')")
    stop "$GW_PID" "${EMU_PIDS[@]}" "${samplers[@]}"
    local emu_peaks
    emu_peaks=$(emulators_peak_json a)
    record "$(jq -c -n --slurpfile lg "$OUT/a-loadgen.json" --argjson during "$during" --argjson total "$total" \
        --argjson cpu "$cpu" --argjson dcpu "$drain_cpu" --argjson drain "$drain_s" \
        --argjson threads "$(threads_json "$OUT/a-threads-before.txt" "$OUT/a-threads-after.txt" "$(jq '.wall' <<<"$cpu")")" --argjson peak "$(peak_kib "$OUT/a-rss.txt")" \
        --argjson emu_peaks "$emu_peaks" --arg hist "$(commit_histogram "$OUT/a-metrics-after.txt")" \
        --arg src "$SOURCE_PROTOCOL" --arg dests "$(IFS=,; echo "${DEST_NAMES[*]}")" \
        '{scenario: "a", source_protocol: $src, destinations: ($dests | split(",")),
          loadgen: $lg[0], gateway_during_run: $during, gateway_run_plus_drain: $total,
          cpu_s_during_run: $cpu, serve_threads_during_run: $threads, cpu_s_during_drain: $dcpu, drain_s: $drain, serve_peak_rss_mib: ($peak / 1024),
          emulator_peak_rss_mib: ([$emu_peaks[]] | add), emulator_peak_rss_mib_each: $emu_peaks,
          commit_histogram_le: $hist}')"
}

scenario_b() {
    echo "== b: latency at ${B_RATE} events/s (open loop, 32 connections, ${B_DURATION} s)" >&2
    start_emulators b
    start_gateway b "${EMU_URLS[@]}"
    start_rss_sampler "$GW_PID" "$OUT/b-rss.txt"
    scrape "$OUT/b-metrics-before.txt"
    local s0 e0 s1 e1 w0 w1 m0 m1
    threads_snapshot "$GW_PID" >"$OUT/b-threads-before.txt"
    start_loadgen b --rate "$B_RATE" --concurrency 32 --duration "$B_DURATION"
    s0=$(cpu_s "$GW_PID") e0=$(emulators_cpu_s) w0=$(date +%s.%N) m0=$(machine_busy_s)
    finish_loadgen b
    s1=$(cpu_s "$GW_PID") e1=$(emulators_cpu_s) w1=$(date +%s.%N) m1=$(machine_busy_s)
    threads_snapshot "$GW_PID" >"$OUT/b-threads-after.txt"
    scrape "$OUT/b-metrics-after.txt"
    local cpu
    cpu=$(cpu_json "$s0" "$s1" "$e0" "$e1" "$(loadgen_cpu_s b)" "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" "$m0" "$m1")
    local during
    during=$(metrics_delta_json "$OUT/b-metrics-before.txt" "$OUT/b-metrics-after.txt" "$(jq '.duration_s' "$OUT/b-loadgen.json")")
    stop "$GW_PID" "${EMU_PIDS[@]}" "$RSS_PID"
    record "$(jq -c -n --slurpfile lg "$OUT/b-loadgen.json" --argjson during "$during" --argjson cpu "$cpu" \
        --argjson threads "$(threads_json "$OUT/b-threads-before.txt" "$OUT/b-threads-after.txt" "$(jq '.wall' <<<"$cpu")")" \
        --argjson peak "$(peak_kib "$OUT/b-rss.txt")" --arg hist "$(commit_histogram "$OUT/b-metrics-after.txt")" \
        --arg src "$SOURCE_PROTOCOL" --arg dests "$(IFS=,; echo "${DEST_NAMES[*]}")" \
        '{scenario: "b", source_protocol: $src, destinations: ($dests | split(",")), loadgen: $lg[0], gateway_during_run: $during, cpu_s_during_run: $cpu, serve_threads_during_run: $threads, serve_peak_rss_mib: ($peak / 1024),
          commit_histogram_le: $hist}')"
}

scenario_c() {
    echo "== c: vendor down (every destination at http://127.0.0.1:9), ${C_RATE} events/s for ${C_DURATION} s" >&2
    EMU_PIDS=()
    local down=() i
    for i in "${!DEST_NAMES[@]}"; do down+=("http://127.0.0.1:9"); done
    start_gateway c "${down[@]}"
    start_rss_sampler "$GW_PID" "$OUT/c-rss.txt"
    scrape "$OUT/c-metrics-before.txt"
    # Depth, RSS and store size every 5 s while the load runs.
    (
        while [ -r "/proc/$GW_PID/status" ]; do
            curl -fsS "$ADMIN_URL/metrics" >"$WORK/c-tick.txt" 2>/dev/null || break
            echo "$(date +%s) depth=$(depth_total "$WORK/c-tick.txt") rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$GW_PID/status") store_bytes=$(du -sb "$STORE" | cut -f1)"
            sleep 5
        done
    ) >"$OUT/c-timeline.txt" &
    local tick_pid=$!
    PIDS+=("$tick_pid")
    local load_t0 load_t1 s0 s1 m0 m1
    threads_snapshot "$GW_PID" >"$OUT/c-threads-before.txt"
    start_loadgen c --rate "$C_RATE" --concurrency 32 --duration "$C_DURATION"
    s0=$(cpu_s "$GW_PID") load_t0=$(date +%s.%N) m0=$(machine_busy_s)
    finish_loadgen c
    s1=$(cpu_s "$GW_PID") load_t1=$(date +%s.%N) m1=$(machine_busy_s)
    threads_snapshot "$GW_PID" >"$OUT/c-threads-after.txt"
    local cpu
    cpu=$(cpu_json "$s0" "$s1" 0 0 "$(loadgen_cpu_s c)" "$(awk -v a="$load_t0" -v b="$load_t1" 'BEGIN { print b - a }')" "$m0" "$m1")
    scrape "$OUT/c-metrics-after.txt"
    local store_bytes
    store_bytes=$(du -sb "$STORE" | cut -f1)
    ls -l "$STORE" >"$OUT/c-store-files.txt"
    local during
    during=$(metrics_delta_json "$OUT/c-metrics-before.txt" "$OUT/c-metrics-after.txt" "$(jq '.duration_s' "$OUT/c-loadgen.json")")
    stop "$tick_pid" "$GW_PID" "$RSS_PID"
    # RSS before the load, 5 s into it, in the middle and at its end.
    local idle start mid end
    idle=$(awk 'NR == 1 { print $2 }' "$OUT/c-rss.txt")
    start=$(awk -v t="$load_t0" '$1 >= t + 5 { print $2; exit }' "$OUT/c-rss.txt")
    mid=$(awk -v a="$load_t0" -v b="$load_t1" '$1 >= (a + b) / 2 { print $2; exit }' "$OUT/c-rss.txt")
    end=$(awk -v t="$load_t1" '$1 <= t { v = $2 } END { print v }' "$OUT/c-rss.txt")
    record "$(jq -c -n --slurpfile lg "$OUT/c-loadgen.json" --argjson during "$during" --argjson cpu "$cpu" \
        --argjson threads "$(threads_json "$OUT/c-threads-before.txt" "$OUT/c-threads-after.txt" "$(jq '.wall' <<<"$cpu")")" \
        --argjson peak "$(peak_kib "$OUT/c-rss.txt")" --argjson i "${idle:-0}" --argjson s "${start:-0}" \
        --argjson m "${mid:-0}" --argjson e "${end:-0}" --argjson store "$store_bytes" \
        --arg src "$SOURCE_PROTOCOL" --arg dests "$(IFS=,; echo "${DEST_NAMES[*]}")" \
        '{scenario: "c", source_protocol: $src, destinations: ($dests | split(",")), loadgen: $lg[0], gateway_during_run: $during, cpu_s_during_run: $cpu, serve_threads_during_run: $threads, serve_peak_rss_mib: ($peak / 1024),
          rss_mib: {idle: ($i / 1024), start: ($s / 1024), middle: ($m / 1024), end: ($e / 1024)},
          store_mib_at_end: ($store / 1048576)}')"
}

{
    echo "vendorwall load benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), source ${BENCH_REV:-$(git describe --always --dirty 2>/dev/null || echo unknown)}"
    echo "cpus: $(nproc) x $(lscpu | sed -n 's/^Model name: *//p')"
    echo "memory: $(free -g | awk '/^Mem:/ { print $2 " GiB" }')"
    echo "kernel: $(uname -r)"
    echo "store filesystem: $(df -T "$WORK" | awk 'NR == 2 { print $2 " on " $1 }')"
    echo "source protocol: $SOURCE_PROTOCOL; destinations: $(paste -sd' ' < <(for i in "${!DEST_NAMES[@]}"; do echo "${DEST_NAMES[$i]} (${DEST_TYPES[$i]})"; done))"
    echo "destination policy: ${BENCH_POLICY:-(default)}"
    echo "nice: ${BENCH_NICE:-0}"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2
if df -T "$WORK" | awk 'NR == 2 { exit !($2 == "tmpfs") }'; then
    echo "WARNING: the store is on tmpfs; fsync costs nothing there. Set BENCH_STORE to a disk path." >&2
fi

: >"$OUT/results.jsonl"
for s in "${SCENARIOS[@]}"; do
    case $s in
        a) wait_quiet && scenario_a ;;
        b) wait_quiet && scenario_b ;;
        c) wait_quiet && scenario_c ;;
        *) echo "unknown scenario $s (expected a, b or c)" >&2; exit 2 ;;
    esac
done

jq -r '
  def delivered(g): "[" + (g.per_destination // {} | to_entries | map("\(.key) \(.value.delivered_per_s | floor)/s") | join(", ")) + "]";
  "\(.source_protocol // "mixpanel") → \((.destinations // ["mixpanel"]) | join(", "))" as $route |
  (.serve_threads_during_run // {} | to_entries | map("\(.key) \(.value.cpu_s) s/\(.value.threads) thr (busiest \(.value.busiest_thread_cores))") | join(", ")) as $thr |
  (.cpu_s_during_run | "CPU s during load: serve \(.serve * 10 | round / 10), emulator \(.emulator * 10 | round / 10), loadgen \(.loadgen * 10 | round / 10), other \(.other * 10 | round / 10) over \(.wall * 10 | round / 10) s wall (\(.cores_busy * 100 | round / 100) cores busy)") as $cpu0 | ($cpu0 + "; serve threads: " + $thr) as $cpu |
  (if .scenario == "a" then
    "a  \($route) max throughput: \(.loadgen.accepted_events_per_s | floor) accepted events/s over \(.loadgen.duration_s * 10 | floor / 10) s; " +
    "ack p50 \(.loadgen.latency_ms.p50) ms, p99 \(.loadgen.latency_ms.p99) ms, max \(.loadgen.latency_ms.max) ms; " +
    "failed \(.loadgen.requests_failed); serve peak RSS \(.serve_peak_rss_mib | floor) MiB; " +
    "delivered during run \(delivered(.gateway_during_run)), incl. drain \(delivered(.gateway_run_plus_drain)); " +
    "drain after run \(.drain_s) s; dead-lettered \(.gateway_run_plus_drain.dead_lettered_total); \(.gateway_during_run.records_per_commit | floor) records/commit, " +
    "\(.gateway_during_run.commits_per_s | floor) commits/s, avg commit \(.gateway_during_run.commit_ms_avg * 100 | floor / 100) ms; " + $cpu
  elif .scenario == "b" then
    "b  \($route) \(.loadgen.rate_offered) ev/s offered: \(.loadgen.accepted_events_per_s | floor) accepted/s; ack p50 \(.loadgen.latency_ms.p50) ms, " +
    "p90 \(.loadgen.latency_ms.p90) ms, p99 \(.loadgen.latency_ms.p99) ms, max \(.loadgen.latency_ms.max) ms; failed \(.loadgen.requests_failed), " +
    "unsent \(.loadgen.requests_unsent); delivered during run \(delivered(.gateway_during_run)), outbox depth after \(.gateway_during_run.depth_after); serve peak RSS \(.serve_peak_rss_mib | floor) MiB; \(.gateway_during_run.records_per_commit | floor) records/commit, " +
    "avg commit \(.gateway_during_run.commit_ms_avg * 100 | floor / 100) ms; " + $cpu
  else
    "c  \($route) vendor down, \(.loadgen.rate_offered) ev/s: \(.loadgen.accepted_events_per_s | floor) accepted/s; ack p50 \(.loadgen.latency_ms.p50) ms, " +
    "p99 \(.loadgen.latency_ms.p99) ms; RSS MiB idle \(.rss_mib.idle | floor) / start \(.rss_mib.start | floor) / middle \(.rss_mib.middle | floor) / end \(.rss_mib.end | floor) " +
    "(peak \(.serve_peak_rss_mib | floor)); outbox depth at end \(.gateway_during_run.depth_after); store \(.store_mib_at_end | floor) MiB on disk; " + $cpu
  end)' "$OUT/results.jsonl" | tee "$OUT/summary.txt"
echo "results in $OUT" >&2
