#!/bin/sh
# The default offline demo end to end (3 scenes x 8 s, 720p, local preview
# renderer), wall time of N runs. Usage: bench/demo_bench.sh [binary] [N]
BIN=${1:-build/grok-spicy}
N=${2:-3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
i=1
while [ "$i" -le "$N" ]; do
    t0=$(date +%s%N)
    "$BIN" scripts/flow.lua "a red fox and a grey owl solve a mystery in an autumn forest" \
        --provider local --output-dir "$OUT" --seed "$i" -q >/dev/null || { echo "run $i failed"; exit 1; }
    t1=$(date +%s%N)
    echo "run $i: $(( (t1 - t0) / 1000000 )) ms"
    i=$((i + 1))
done
