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
# What README "Embedding the core" tells a user of a non-default prefix, word for word:
# PKG_CONFIG_PATH to build, LD_LIBRARY_PATH to run (no rpath here).
# shellcheck disable=SC2046
if cc "$SRC/examples/embed.c" $(pkg-config --cflags --libs grokspicy) -o "$TMP/embed_dyn" 2>"$TMP/cc.err"; then
    if "$TMP/embed_dyn" "$TMP/dyn0.db" >"$TMP/dyn0.out" 2>&1; then
        bad "without LD_LIBRARY_PATH the loader should not find libgrokspicy (is $LIBDIR on the default path?)"
    elif grep -q "libgrokspicy.so" "$TMP/dyn0.out"; then
        ok "without LD_LIBRARY_PATH the loader names the missing libgrokspicy.so"
    else
        bad "embed without LD_LIBRARY_PATH: $(cat "$TMP/dyn0.out")"
    fi
    if LD_LIBRARY_PATH="$LIBDIR" "$TMP/embed_dyn" "$TMP/dyn.db" | grep -q "run 1 is pending"; then
        ok "LD_LIBRARY_PATH=libdir runs the embedder"
    else
        bad "LD_LIBRARY_PATH=libdir runs the embedder"
    fi
else
    bad "C program compiles without rpath"; cat "$TMP/cc.err"
fi
# pkg-config --static lists the private dependencies libgrokspicy.a needs; -l: picks
# the archive over the shared library beside it.
# shellcheck disable=SC2046
if cc "$SRC/examples/embed.c" $(pkg-config --static --cflags --libs grokspicy | sed 's|-lgrokspicy|-l:libgrokspicy.a|') \
      -o "$TMP/embed_static" 2>"$TMP/cc.err"; then
    if ldd "$TMP/embed_static" | grep -q libgrokspicy; then
        bad "static embedder still needs libgrokspicy.so"
    elif "$TMP/embed_static" "$TMP/static.db" | grep -q "run 1 is pending"; then
        ok "pkg-config --static links the static core, which runs Lua"
    else
        bad "static embedder runs"
    fi
else
    bad "pkg-config --static links"; cat "$TMP/cc.err"
fi

# The installed binary runs with no source tree around: its Lua library is inside it.
if (cd "$TMP" && "$TMP/prefix/bin/grok-spicy" -e "print(require('grokspicy.inspect') ~= nil)") | grep -q true; then
    ok "installed grok-spicy finds its Lua library"
else
    bad "installed grok-spicy finds its Lua library"
fi

# Plain lua5.4 on what cmake --install put in the prefix, with the paths README gives:
# LUA_PATH for the Lua half (share/lua/5.4), LUA_CPATH for grokspicy.so (libdir/lua/5.4),
# and the same set as package.path/package.cpath from inside a script.
LMOD="$TMP/prefix/share/lua/5.4"
CMOD="$LIBDIR/lua/5.4"
PLAIN="local store = require 'grokspicy.store'
local conn = store.init_db(DB)
local plan = require 'grokspicy.plan'
local ok = plan.validate(require('cjson').decode(io.open('$SRC/examples/plan.json'):read('a')))
print(conn:insert_run('plain lua'), ok and ok.title, require('grokspicy.template').native,
  package.searchpath('grokspicy.flowkit', package.path) ~= nil)"
want="1	The Lighthouse Cat	true	true"
out=$(cd "$TMP" && env -u GROK_SPICY_SOURCE_DIR LUA_PATH="$LMOD/?.lua;;" LUA_CPATH="$CMOD/?.so;;" \
      lua5.4 -e "local DB = '$TMP/plain1.db' $PLAIN" 2>&1) || true
if [ "$out" = "$want" ]; then ok "plain lua5.4 with LUA_PATH and LUA_CPATH"; else bad "plain lua5.4 (LUA_PATH): $out"; fi
out=$(cd "$TMP" && env -u GROK_SPICY_SOURCE_DIR -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 lua5.4 -e "
      package.path = '$LMOD/?.lua;' .. package.path
      package.cpath = '$CMOD/?.so;' .. package.cpath
      local DB = '$TMP/plain2.db' $PLAIN" 2>&1) || true
if [ "$out" = "$want" ]; then ok "plain lua5.4 with package.path and package.cpath"; else bad "plain lua5.4 (package.path): $out"; fi

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
