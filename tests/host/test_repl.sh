#!/bin/sh
# Drives the REPL through a pseudo-terminal (util-linux `script`), as a person
# at a terminal would: expressions, multi-line input, an error, preloaded modules.
set -u
BIN=${1:?usage: test_repl.sh path/to/grok-spicy}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
check() { # name, pattern, file
    if grep -q -- "$2" "$3"; then pass=$((pass + 1)); echo "ok $1"
    else fail=$((fail + 1)); echo "FAIL $1: no '$2' in output"; cat -v "$3" | head -40; fi
}

(
    printf '1+1\n'; sleep 0.3
    printf 'for i=1,2 do\n'; sleep 0.2
    printf 'print("line" .. i)\nend\n'; sleep 0.3
    printf 'error("boom")\n'; sleep 0.3
    printf 'print("after error")\n'; sleep 0.3
    printf 'type(store), type(bus)\n'; sleep 0.3
    printf '{answer = 42}\n'; sleep 0.3
    printf '\004'
) | HOME=$TMP timeout 20 script -qefc "$BIN" /dev/null >"$TMP/tty.out" 2>&1
rc=$?
sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g' "$TMP/tty.out" | tr -d '\r' >"$TMP/out"
check "banner" "grok-spicy" "$TMP/out"
check "expression value" "^2$" "$TMP/out"
check "multi-line continuation" "  \.\.\. " "$TMP/out"
check "multi-line result" "^line2$" "$TMP/out"
check "error with traceback" "stack traceback" "$TMP/out"
check "REPL survives an error" "^after error$" "$TMP/out"
check "modules preloaded" '"table"	"table"' "$TMP/out"
check "tables printed with contents" "answer = 42" "$TMP/out"
if [ "$rc" -eq 0 ]; then pass=$((pass + 1)); echo "ok exit on Ctrl+D"; else fail=$((fail + 1)); echo "FAIL exit status $rc"; fi
check "history saved" "for i=1,2 do" "$TMP/.grok_spicy_history"

# Without a terminal, -i reads the REPL from a pipe.
printf 'x = 6 * 7\nx\n' | "$BIN" -i >"$TMP/pipe.out" 2>&1
check "REPL from a pipe" "42" "$TMP/pipe.out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
