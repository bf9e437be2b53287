#!/bin/sh
# Soak: RUNS offline runs back to back against one `grok-spicy --web` server,
# with the dashboard open in Chromium (bench/soak_browser.mjs: the run list and
# the current run's page, following along) and SSE clients on /sse. Samples the
# server's VmRSS and open fds every 10 runs; prints the series and a verdict
# (flat: last-quarter mean within 10% of the first quarter's; fds not growing).
#   bench/soak.sh [RUNS=200] [BUILD=build]
#   SOAK_WRAP="valgrind --leak-check=full" bench/soak.sh 20   # the server under a tool
#   SOAK_BROWSER=0 ...   # SSE clients only (curl), no Chromium
# Runs are `--provider local --scenes 1` (one scene: ~4 s a run on 2 cores) so
# 200 fit in ~15-20 min. Prints figures; never fails.
set -u
cd "$(dirname "$0")/.."
RUNS=${1:-200}
BUILD=${2:-build}
BIN=$BUILD/grok-spicy
WRAP=${SOAK_WRAP:-}
SSE_CLIENTS=${SOAK_SSE:-3}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/gs-soak-XXXXXX")
echo "soak: $RUNS runs, output $OUT, server: ${WRAP:+$WRAP }$BIN --web"

$WRAP "$BIN" --web --port 0 --output-dir "$OUT" > "$OUT/server.log" 2>&1 &
SERVER=$!
URL=
for _ in $(seq 600); do
    URL=$(sed -n 's/^Dashboard: \(http:[^ ]*\).*/\1/p' "$OUT/server.log" | head -1)
    [ -n "$URL" ] && break
    sleep 0.1
done
if [ -z "$URL" ]; then echo "soak: the server did not start:"; cat "$OUT/server.log"; kill "$SERVER"; exit 0; fi
URL=${URL%/}
echo "soak: server pid $SERVER at $URL"

PIDS=
BROWSER=
if [ "${SOAK_BROWSER:-1}" = 1 ] && command -v node >/dev/null && [ -x /usr/bin/chromium ] \
   && [ -d tests/e2e/node_modules/playwright-core ]; then
    node bench/soak_browser.mjs "$URL" > "$OUT/browser.log" 2>&1 &
    BROWSER=$!
    for _ in $(seq 300); do grep -q "browser: ready" "$OUT/browser.log" && break; sleep 0.1; done
    echo "soak: Chromium follows the run list and the current run (pid $BROWSER)"
else
    echo "soak: no Chromium (SOAK_BROWSER=0, or node/chromium/playwright-core missing)"
fi
for i in $(seq "$SSE_CLIENTS"); do
    curl -sN "$URL/sse" > /dev/null 2>&1 &
    PIDS="$PIDS $!"
done

sample() { # run-number -> "run rss_kb fds"
    rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$SERVER/status")
    fds=$(ls "/proc/$SERVER/fd" | wc -l)
    echo "$1 $rss $fds" | tee -a "$OUT/samples"
}
echo "run rss_kb fds"
: > "$OUT/samples"
sample 0
failed=0
t0=$(date +%s)
for i in $(seq "$RUNS"); do
    "$BIN" scripts/flow.lua "soak run $i: a fox and an owl" --provider local --scenes 1 \
        --output-dir "$OUT" -q > "$OUT/run.log" 2>&1 || { failed=$((failed + 1)); tail -2 "$OUT/run.log"; }
    [ $((i % 10)) -eq 0 ] && sample "$i"
done
t1=$(date +%s)
echo "soak: $RUNS runs in $((t1 - t0)) s, $failed failed"

[ -n "$BROWSER" ] && { kill -TERM "$BROWSER"; wait "$BROWSER"; cat "$OUT/browser.log"; }
for p in $PIDS; do kill "$p" 2>/dev/null; done
# Verdict over the samples after run 0 (the baseline has no run yet).
awk 'NR > 1 { rss[++n] = $2; fd[n] = $3 }
END {
    if (n == 0) { print "no samples (fewer than 10 runs)"; exit }
    q = int(n / 4); if (q < 1) q = 1
    for (i = 1; i <= q; i++) { a += rss[i]; fa += fd[i] }
    for (i = n - q + 1; i <= n; i++) { b += rss[i]; fb += fd[i] }
    a /= q; b /= q; fa /= q; fb /= q
    growth = (b - a) / a * 100
    printf "RSS first-quarter mean %.0f KB, last-quarter mean %.0f KB (%+.1f%%): %s\n", a, b, growth,
        (growth <= 10 && growth >= -10) ? "flat" : "GROWING"
    printf "fds first-quarter mean %.1f, last-quarter mean %.1f, min %d max %d: %s\n", fa, fb, minf(), maxf(),
        (fb <= fa + 1) ? "not growing" : "GROWING"
}
function minf(  i, m) { m = fd[1]; for (i = 2; i <= n; i++) if (fd[i] < m) m = fd[i]; return m }
function maxf(  i, m) { m = fd[1]; for (i = 2; i <= n; i++) if (fd[i] > m) m = fd[i]; return m }' "$OUT/samples"

kill -INT "$SERVER"
wait "$SERVER"
echo "soak: server exit $?"
if [ -n "$WRAP" ]; then
    grep -E "definitely lost|indirectly lost|ERROR SUMMARY|LeakSanitizer|SUMMARY: " "$OUT/server.log"
fi
echo "soak: logs in $OUT"
