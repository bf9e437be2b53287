/*
 * sorted_json.c — grokspicy.sorted_json: a JSON encoder with sorted object keys, the hot
 * path of the dashboard's JSON API (lua/grokspicy/web.lua keeps the policy:
 * which keys hold arrays, what an empty table is). Byte for byte what
 * encoding each scalar with cjson.encode gives: plain strings, finite
 * numbers (%.14g), booleans and nil are written here; anything else (strings
 * with characters cjson escapes, NaN, cjson.null, functions) goes through the
 * scalar encoder the caller passes. Tables are read raw (no __len, __pairs).
 * The output grows in json.c's writer (jw), the one JSON writer in C.
 * Owns no state; never touches the store or the server.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "grokspicy.h"
#include "gs_internal.h"
#include "json.h"

#define BUF_MT "grokspicy.SortedJsonBuffer"
#define MAX_DEPTH 1000

/* The output: a jw in a userdata born empty, its memory freed by __gc, so
   nothing leaks when the scalar encoder raises. */
static int jbuf_gc(lua_State *L)
{
    jw_reset(luaL_checkudata(L, 1, BUF_MT));
    return 0;
}

static void put(lua_State *L, jw *b, const char *s, size_t n)
{
    jw_append(b, s, n);
    if (b->oom)
        luaL_error(L, "json.encode: out of memory");
}

/* 1 when cjson.encode writes the string as is between quotes. */
static int plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 32 || c == '"' || c == '/' || c == '\\' || c == 127)
            return 0;
    }
    return 1;
}

struct enc {
    lua_State *L;
    jw *b;
    int array_keys; /* stack index of {key = true}: empty tables under these keys are [] */
    int scalar;     /* stack index of the fallback scalar encoder (cjson.encode) */
};

/* Encodes the value at the top of the stack (left there). */
static void encode(struct enc *e, int as_array, int depth);

static void encode_scalar(struct enc *e)
{
    lua_State *L = e->L;
    int t = lua_type(L, -1);
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        if (plain(s, n)) {
            put(L, e->b, "\"", 1);
            put(L, e->b, s, n);
            put(L, e->b, "\"", 1);
            return;
        }
    } else if (t == LUA_TNUMBER) {
        lua_Integer i;
        if (lua_isinteger(L, -1) && (i = lua_tointeger(L, -1)) < 100000000000000 && i > -100000000000000) {
            char num[24], *p = num + sizeof num; /* %.14g prints these digits exactly */
            lua_Unsigned u = i < 0 ? 0u - (lua_Unsigned)i : (lua_Unsigned)i;
            do
                *--p = (char)('0' + u % 10);
            while (u /= 10);
            if (i < 0)
                *--p = '-';
            put(L, e->b, p, (size_t)(num + sizeof num - p));
            return;
        }
        double d = lua_tonumber(L, -1);
        if (isfinite(d)) {
            char num[32];
            int n = snprintf(num, sizeof num, "%.14g", d);
            put(L, e->b, num, (size_t)n);
            return;
        }
    } else if (t == LUA_TBOOLEAN) {
        if (lua_toboolean(L, -1))
            put(L, e->b, "true", 4);
        else
            put(L, e->b, "false", 5);
        return;
    } else if (t == LUA_TNIL) {
        put(L, e->b, "null", 4);
        return;
    }
    lua_pushvalue(L, e->scalar);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (s)
        put(L, e->b, s, n);
    lua_pop(L, 1);
}

struct key {
    const char *s; /* tostring of the key, anchored in the keys table */
    int slot;      /* its index in the keys table */
};

static int cmp_keys(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    return strcmp(x->s, y->s);
}

#define SMALL_KEYS 48

static void encode(struct enc *e, int as_array, int depth)
{
    lua_State *L = e->L;
    if (lua_type(L, -1) != LUA_TTABLE) {
        encode_scalar(e);
        return;
    }
    if (depth > MAX_DEPTH)
        luaL_error(L, "json.encode: nesting deeper than %d", MAX_DEPTH);
    luaL_checkstack(L, 8, "json.encode");
    int t = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, t), count = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        count++;
        lua_pop(L, 1);
    }
    if ((n > 0 && count == n) || (as_array && count == 0)) {
        put(L, e->b, "[", 1);
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1)
                put(L, e->b, ",", 1);
            lua_rawgeti(L, t, i);
            encode(e, 0, depth + 1);
            lua_pop(L, 1);
        }
        put(L, e->b, "]", 1);
        return;
    }
    /* Keys as tostring gives them, sorted (the C locale: strcmp, as table.sort). */
    struct key small[SMALL_KEYS], *keys = small;
    lua_createtable(L, (int)count, 0); /* t+1: the key strings, anchored */
    if (count > SMALL_KEYS)
        keys = lua_newuserdatauv(L, (size_t)count * sizeof *keys, 0); /* t+2 */
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING)
            lua_pushvalue(L, -1);
        else
            luaL_tolstring(L, -1, NULL);
        keys[k].s = lua_tostring(L, -1);
        keys[k].slot = k + 1;
        lua_rawseti(L, t + 1, k + 1);
        k++;
    }
    qsort(keys, (size_t)k, sizeof *keys, cmp_keys);
    put(L, e->b, "{", 1);
    for (int i = 0; i < k; i++) {
        if (i > 0)
            put(L, e->b, ",", 1);
        int slot = keys[i].slot;
        lua_rawgeti(L, t + 1, slot); /* the key's string */
        encode_scalar(e);
        put(L, e->b, ":", 1);
        /* v[tostring(k)], else v[tonumber(tostring(k))], as the Lua encoder did */
        if (lua_rawget(L, t) == LUA_TNIL) {
            lua_pop(L, 1);
            if (lua_stringtonumber(L, keys[i].s) != 0)
                lua_rawget(L, t);
            else
                lua_pushnil(L);
        }
        int arr = 0;
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_rawgeti(L, t + 1, slot);
            arr = lua_rawget(L, e->array_keys) != LUA_TNIL && lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        encode(e, arr, depth + 1);
        lua_pop(L, 1);
    }
    put(L, e->b, "}", 1);
    lua_settop(L, t);
}

/* json.encode_sorted(v, as_array, array_keys, scalar_encode) -> string */
static int l_encode_sorted(lua_State *L)
{
    luaL_checkany(L, 1);
    int as_array = lua_toboolean(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TFUNCTION);
    lua_settop(L, 4);
    jw *b = lua_newuserdatauv(L, sizeof *b, 0); /* 5 */
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BUF_MT);
    struct enc e = {L, b, 3, 4};
    lua_pushvalue(L, 1);
    encode(&e, as_array, 0);
    lua_pushlstring(L, b->p ? b->p : "", b->len);
    jw_reset(b);
    return 1;
}

int luaopen_grokspicy_core_sorted_json(lua_State *L)
{
    static const luaL_Reg buf_meta[] = {{"__gc", jbuf_gc}, {"__close", jbuf_gc}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"encode_sorted", l_encode_sorted}, {NULL, NULL}};
    if (luaL_newmetatable(L, BUF_MT))
        luaL_setfuncs(L, buf_meta, 0);
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
