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
