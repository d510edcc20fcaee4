#!/bin/bash
# Runs a command once the machine has been idle for 10 s, then reports how much CPU every
# other process used during the run, so a shared machine's measurements can be told apart
# (docs/BENCHMARKS.md, the exposure ledger). Usage: bench/quietrun.sh LABEL COMMAND...
label=$1; shift
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
quiet=0
for i in $(seq 1 2000); do
  a=$(busy); sleep 2; b=$(busy)
  # jiffies at 100 Hz: 2 s x 2 cpus = 400; quiet if < 20 busy; wait for 5 quiet samples in a row
  if [ $((b-a)) -lt 20 ]; then quiet=$((quiet+1)); else quiet=0; fi
  if [ $quiet -ge 5 ]; then break; fi
done
start=$(busy); t0=$(date +%s.%N)
/usr/bin/time -f "OWNCPU %U %S" -o "${TMPDIR:-/tmp}/quietrun.$$.time" "$@" > "${TMPDIR:-/tmp}/quietrun.$$.out" 2>&1
end=$(busy); t1=$(date +%s.%N)
own=$(awk '/OWNCPU/{print ($2+$3)*100}' "${TMPDIR:-/tmp}/quietrun.$$.time")
other=$(awk -v e=$end -v s=$start -v o=$own 'BEGIN{printf "%.0f", (e-s)-o}')
wall=$(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", b-a}')
echo "=== $label $(date +%H:%M:%S) wall ${wall}s, other processes' CPU during the run: $((other))0 ms (loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
cat "${TMPDIR:-/tmp}/quietrun.$$.out"
rm -f "${TMPDIR:-/tmp}/quietrun.$$.out" "${TMPDIR:-/tmp}/quietrun.$$.time"
