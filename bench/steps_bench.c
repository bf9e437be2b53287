/*
 * steps_bench.c — runs bench/steps_bench.lua with a zero-latency fake provider
 * ("fake") and fake media hooks, so what it times is the orchestration alone:
 * Lua argument copying, the pool, futures, the event queue, result tables and
 * the flow's own Lua. Prints figures; never fails a suite.
 *
 *   steps_bench [bench/steps_bench.lua] [runs]
 */
#define _GNU_SOURCE
#include <lauxlib.h>
#include <lualib.h>

#include "fake_provider.h"
#include "grokspicy.h"
#include "gs_util.h"

static fake the_fake;

static int fake_ctor(gs_provider **out, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    *out = &the_fake.base;
    return 0;
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, gs_monotonic());
    return 1;
}

int main(int argc, char **argv)
{
    const char *script = argc > 1 ? argv[1] : "bench/steps_bench.lua";
    fake_init(&the_fake);
    the_fake.write_files = 0;
    the_fake.maxc = 4;
    static gs_steps_media media;
    media = fake_media(&the_fake);
    gs_steps_set_default_media(&media);
    gs_provider_register("fake", fake_ctor);
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    gs_openlibs(L);
    lua_pushcfunction(L, l_now);
    lua_setglobal(L, "bench_now");
    int rc = luaL_loadfile(L, script);
    if (rc == LUA_OK) {
        lua_pushstring(L, argc > 2 ? argv[2] : "200");
        rc = lua_pcall(L, 1, 0, 0);
    }
    if (rc != LUA_OK)
        fprintf(stderr, "steps_bench: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc == LUA_OK ? 0 : 1;
}
