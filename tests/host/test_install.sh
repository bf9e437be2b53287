#!/bin/sh
# Installs the build into a scratch prefix and proves both ways of embedding:
# a C program through pkg-config, and plain lua5.4 through the rockspec.
set -eu
SRC=${1:?usage: test_install.sh SOURCE_DIR BUILD_DIR}
BUILD=${2:?}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig:$TMP/prefix/lib/x86_64-linux-gnu/pkgconfig"
export PKG_CONFIG_PATH
LIBDIR=$(pkg-config --variable=libdir grokspicy)
# shellcheck disable=SC2046
if cc "$SRC/examples/embed.c" $(pkg-config --cflags --libs grokspicy) -Wl,-rpath,"$LIBDIR" \
      -o "$TMP/embed" 2>"$TMP/cc.err"; then
    ok "C program compiles against the installed header and library"
    if "$TMP/embed" "$TMP/embed.db" | grep -q "run 1 is pending"; then ok "embedded core runs Lua"; else bad "embedded core runs Lua"; fi
else
    bad "C program compiles"; cat "$TMP/cc.err"
fi
# The installed binary runs with no source tree around: its Lua library is inside it.
if (cd "$TMP" && "$TMP/prefix/bin/grok-spicy" -e "print(require('grokspicy.inspect') ~= nil)") | grep -q true; then
    ok "installed grok-spicy finds its Lua library"
else
    bad "installed grok-spicy finds its Lua library"
fi

if command -v luarocks >/dev/null 2>&1; then
    if (cd "$SRC" && luarocks --lua-version 5.4 --tree "$TMP/rocks" make rocks/grok-spicy-scm-1.rockspec) >"$TMP/rock.log" 2>&1; then
        ok "luarocks make"
        out=$(cd "$TMP" && eval "$(luarocks --lua-version 5.4 --tree "$TMP/rocks" path)" && lua5.4 -e "
            local store = require 'grokspicy.store'
            local bus = require 'grokspicy.bus'
            local conn = store.init_db('$TMP/rock.db')
            local template = require 'grokspicy.template'
            print(conn:insert_run('plain lua'), type(bus.publish), require('grokspicy.inspect') ~= nil,
              template.native, template.new():render_string('{{ v }}', { v = '<&>' }))" 2>&1) || true
        # template.native: the rock carries grokspicy.html, the C output path of the template engine
        if [ "$out" = "1	function	true	true	&lt;&amp;&gt;" ]; then ok "plain lua5.4 requires the modules"; else bad "plain lua5.4: $out"; fi
    else
        bad "luarocks make"; tail -20 "$TMP/rock.log"
    fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
