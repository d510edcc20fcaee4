# Shell helpers the drills share (sourced by bench/disk-full.sh and bench/flapping.sh).
# Expects OUT (results directory) and, for metric_sum, ADMIN_URL.

say() { echo "$*" | tee -a "$OUT/summary.txt" >&2; }

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        ss -ltn "sport = :$p" | grep -q ":$p" || { echo "$p"; return; }
    done
}

metric_sum() { # name-prefix → sum over its series
    curl -fsS "$ADMIN_URL/metrics" | awk -v m="$1" 'index($1, m) == 1 { n += $2 } END { printf "%d\n", n }'
}

# write_gateway_config FILE STORE_PATH VENDOR_PORT [EXTRA_STORE_LINES]: one Mixpanel source
# (token drill-app-token) to one Mixpanel destination at 127.0.0.1:VENDOR_PORT, whose API
# secret comes from DRILL_MP_SECRET; both listeners on ephemeral loopback ports.
write_gateway_config() {
    cat >"$1" <<TOML
version = 1
[server]
listen = "127.0.0.1:0"
[store]
path = "$2"
${4:-}
[admin]
listen = "127.0.0.1:0"
[[sources]]
name = "web"
protocol = "mixpanel"
tokens = ["drill-app-token"]
[[destinations]]
name = "mixpanel"
type = "mixpanel"
endpoint = "http://127.0.0.1:$3"
project_token = "drill-project-token"
api_secret = "\${DRILL_MP_SECRET}"
sources = ["web"]
TOML
}

# start_gateway CONFIG [COMMAND_PREFIX...]: runs `$VW serve` in the background (its log in
# $OUT/serve.log) and sets GW_PID, GW_URL and ADMIN_URL from its first two stdout lines.
# Needs VW, WORK, OUT and the PIDS array.
start_gateway() {
    local config=$1 line
    shift
    mkfifo "$WORK/gw.stdout"
    "$@" "$VW" serve --config "$config" >"$WORK/gw.stdout" 2>"$OUT/serve.log" &
    GW_PID=$!
    PIDS+=("$GW_PID")
    exec 4<"$WORK/gw.stdout"
    IFS= read -r -t 60 line <&4 || { echo "serve did not start; see $OUT/serve.log" >&2; exit 1; }
    GW_URL=${line#listening on }
    IFS= read -r -t 10 line <&4
    ADMIN_URL=${line#admin listening on }
    cat <&4 >"$OUT/serve.stdout" &
    PIDS+=($!)
}
