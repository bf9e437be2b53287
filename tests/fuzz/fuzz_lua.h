/*
 * fuzz_lua.h — a Lua state for fuzz targets that drive Lua code: the standard
 * libraries and gs_openlibs, a memory cap (an allocation past it fails as a Lua
 * memory error, not as an ASan abort) and an instruction budget per input (a
 * runaway input raises instead of hitting libFuzzer's timeout). libFuzzer only
 * sees the coverage of instrumented C, so a line hook feeds it Lua coverage too:
 * each (chunk, previous line, line) step bumps one of libFuzzer's extra counters.
 */
#ifndef FUZZ_LUA_H
#define FUZZ_LUA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <lauxlib.h>
#include <lualib.h>
#include "grokspicy.h"

#define FUZZ_MEM_CAP ((size_t)256 << 20)
#define FUZZ_HOOK_EVERY 10000
#define FUZZ_HOOK_BUDGET 2000 /* x FUZZ_HOOK_EVERY VM instructions per input */

#define FUZZ_LUA_COUNTERS (1 << 16)

static size_t fuzz_mem;
static int fuzz_ticks;
static uint32_t fuzz_prev_line;
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t fuzz_lua_cov[FUZZ_LUA_COUNTERS];

static void *fuzz_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (!ptr)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        fuzz_mem -= osize;
        return NULL;
    }
    if (nsize > osize && fuzz_mem + (nsize - osize) > FUZZ_MEM_CAP)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p)
        fuzz_mem += nsize - osize;
    return p;
}

static void fuzz_hook(lua_State *L, lua_Debug *ar)
{
    if (ar->event == LUA_HOOKLINE) {
        uint32_t h = 2166136261u; /* FNV-1a of the chunk name, then the line */
        if (lua_getinfo(L, "S", ar) && ar->source)
            for (const char *c = ar->source; *c && c < ar->source + 48; c++)
                h = (h ^ (unsigned char)*c) * 16777619u;
        h = (h ^ (uint32_t)ar->currentline) * 16777619u;
        fuzz_lua_cov[(h ^ (fuzz_prev_line >> 1)) % FUZZ_LUA_COUNTERS]++;
        fuzz_prev_line = h;
        return;
    }
    if (++fuzz_ticks > FUZZ_HOOK_BUDGET)
        luaL_error(L, "fuzz: instruction budget exhausted");
}

/* Resets the budget; call before each input. */
static void fuzz_lua_arm(void)
{
    fuzz_ticks = 0;
    fuzz_prev_line = 0;
}

static int fuzz_rearm(lua_State *L)
{
    (void)L;
    fuzz_lua_arm();
    return 0;
}

/* A state with the libraries open and `chunk` run: it must return one function. */
static lua_State *fuzz_lua_new(const char *chunk)
{
    lua_State *L = lua_newstate(fuzz_alloc, NULL);
    if (!L)
        abort();
    luaL_openlibs(L);
    gs_openlibs(L);
    lua_register(L, "fuzz_rearm", fuzz_rearm); /* a fresh budget for the property checks */
    if (luaL_loadstring(L, chunk) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK || !lua_isfunction(L, -1)) {
        fprintf(stderr, "fuzz: harness chunk failed: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_setglobal(L, "fuzz_one");
    lua_sethook(L, fuzz_hook, LUA_MASKLINE | LUA_MASKCOUNT, FUZZ_HOOK_EVERY);
    return L;
}

/*
 * Calls fuzz_one(input) in protected mode. Lua errors are expected and ignored;
 * a string returned by fuzz_one is a broken property: it is printed and aborts.
 */
static void fuzz_lua_run(lua_State *L, const uint8_t *data, size_t size)
{
    fuzz_lua_arm();
    lua_getglobal(L, "fuzz_one");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
        fprintf(stderr, "fuzz: property broken: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, 0);
    if (fuzz_mem > FUZZ_MEM_CAP / 2)
        lua_gc(L, LUA_GCCOLLECT);
}

#endif
