#!/bin/sh
# The host's command line, as lua5.4 users know it: arg, -e, -i, stdin, errors.
set -u
BIN=${1:?usage: test_cli.sh path/to/grok-spicy}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
expect() { # name, expected exit code, expected output pattern, command...
    name=$1 code=$2 pat=$3; shift 3
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" -eq "$code" ] && printf '%s\n' "$out" | grep -q -- "$pat"; then
        pass=$((pass + 1)); echo "ok $name"
    else
        fail=$((fail + 1)); echo "FAIL $name: exit $rc (want $code), output:"; printf '%s\n' "$out" | head -20
    fi
}

printf 'print("args", select("#", ...), ...)\nprint(arg[0], arg[1], arg[2], arg[-1] ~= nil)\n' >"$TMP/args.lua"
expect "script args as varargs" 0 "args	2	a	b c" "$BIN" "$TMP/args.lua" a "b c"
expect "arg table like lua5.4" 0 "args.lua	a	b c	true" "$BIN" "$TMP/args.lua" a "b c"
expect "-e runs code" 0 "^7$" "$BIN" -e "print(3 + 4)"
expect "-e before script" 0 "^x$" "$BIN" -e "X = 'x'" -e "print(X)"
expect "--version" 0 "grok-spicy [0-9]" "$BIN" --version
expect "--help" 0 "usage: grok-spicy" "$BIN" --help
expect "unknown option is usage error" 2 "unknown option '--bogus'" "$BIN" --bogus
expect "missing script" 1 "cannot open $TMP/missing.lua" "$BIN" "$TMP/missing.lua"
printf 'local x = = 1\n' >"$TMP/bad.lua"
expect "syntax error names file and line" 1 "bad.lua:1:" "$BIN" "$TMP/bad.lua"
printf 'local function f() error("deep") end\nf()\n' >"$TMP/err.lua"
expect "runtime error has traceback" 1 "stack traceback" "$BIN" "$TMP/err.lua"
expect "os.exit code kept" 3 "" "$BIN" -e "os.exit(3)"
expect "modules are preloaded" 0 "^table$" "$BIN" -e "print(type(require 'grokspicy.inspect'))"
expect "embedded Lua wins over package.path" 0 "embedded" "$BIN" -e \
    "package.path = '$TMP/?.lua;' .. package.path; local m = require 'grokspicy.inspect'; print(m.print and 'embedded')"
expect "stdin script" 0 "^from stdin$" sh -c "echo 'print(\"from stdin\")' | '$BIN' -"
mkdir -p "$TMP/src/lua/grokspicy"
printf 'return { dev = true }\n' >"$TMP/src/lua/grokspicy/devmod.lua"
expect "GROK_SPICY_SOURCE_DIR loads from disk" 0 "^true$" env GROK_SPICY_SOURCE_DIR="$TMP/src" \
    "$BIN" -e "print(require('grokspicy.devmod').dev)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
