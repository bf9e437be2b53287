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

# Each line is typed once the REPL shows its prompt (the Nth "grok> " or the
# continuation prompt), as a person would: never on a guess of how long the
# previous line takes, which a loaded machine can outlast.
prompts() { # the number of times $1 appears in what the terminal showed
    grep -o -F -- "$1" "$TMP/tty.out" 2>/dev/null | wc -l
}
type_at() { # n, prompt, text: waits (60 s at most) for the nth prompt, then types text
    i=0
    while [ "$(prompts "$2")" -lt "$1" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
    printf '%b' "$3"
}
: >"$TMP/tty.out"
(
    type_at 1 'grok> ' '1+1\n'
    type_at 2 'grok> ' 'for i=1,2 do\n'
    type_at 1 '  ... ' 'print("line" .. i)\n'
    type_at 2 '  ... ' 'end\n'
    type_at 3 'grok> ' 'error("boom")\n'
    type_at 4 'grok> ' 'print("after error")\n'
    type_at 5 'grok> ' 'type(store), type(bus)\n'
    type_at 6 'grok> ' '{answer = 42}\n'
    # Ctrl+C drops an unfinished chunk: the next prompt is a fresh one and the
    # next line runs on its own (joined to the chunk, it would print nothing).
    type_at 7 'grok> ' 'for i=1,3 do\n'
    type_at 3 '  ... ' '\003'
    type_at 8 'grok> ' 'print("fresh " .. 6 * 7)\n'
    # Ctrl+C while Lua runs stops it with "interrupted!" and the REPL goes on.
    type_at 9 'grok> ' 'print("looping"); while true do end\n'
    # once it printed "looping" (the typed line shows the word once, the output once more)
    i=0; while [ "$(prompts looping)" -lt 2 ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
    printf '\003'
    type_at 10 'grok> ' 'print("alive")\n'
    type_at 11 'grok> ' '\004'
# `exec`: script runs the command through $SHELL, and a shell left waiting
# (dash, as when SHELL is unset) takes the Ctrl+C too and dies of it.
) | HOME=$TMP timeout 120 script -qefc "exec '$BIN'" /dev/null >"$TMP/tty.out" 2>&1
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
check "Ctrl+C drops the pending chunk" "^fresh 42$" "$TMP/out"
check "Ctrl+C stops running Lua" "interrupted!" "$TMP/out"
check "REPL survives Ctrl+C" "^alive$" "$TMP/out"
if [ "$rc" -eq 0 ]; then pass=$((pass + 1)); echo "ok exit on Ctrl+D"; else fail=$((fail + 1)); echo "FAIL exit status $rc"; fi
check "history saved" "for i=1,2 do" "$TMP/.grok_spicy_history"

# Without a terminal, -i reads the REPL from a pipe.
printf 'x = 6 * 7\nx\n' | "$BIN" -i >"$TMP/pipe.out" 2>&1
check "REPL from a pipe" "42" "$TMP/pipe.out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
