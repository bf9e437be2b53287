#!/bin/sh
# Host start → script running: the time from exec to the first line of a
# script, median and p99 over N runs. Usage: bench/host_start.sh [binary] [N]
BIN=${1:-build/grok-spicy}
N=${2:-200}
T=$(mktemp)
trap 'rm -f "$T"' EXIT
i=0
while [ "$i" -lt "$N" ]; do
    t0=$(date +%s%N)
    "$BIN" -e 'io.write(string.format("%d\n", 0))' >/dev/null
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 )) >>"$T"
    i=$((i + 1))
done
sort -n "$T" | awk -v n="$N" '{ a[NR] = $1 } END {
    printf "host start to script end (%d runs, includes fork/exec of the shell loop): median %.2f ms, p99 %.2f ms\n",
        n, a[int((n + 1) / 2)] / 1000, a[int(n * 0.99)] / 1000 }'
# The same for a script that loads the store and the template engine.
t0=$(date +%s%N)
"$BIN" -e 'require "grokspicy.store"; require "grokspicy.view"' >/dev/null
t1=$(date +%s%N)
echo "start + require store and view (one run): $(( (t1 - t0) / 1000 )) us"
