/*
 * lua_opts.c — the one reader of option tables for the C modules' Lua faces
 * (bus, http, provider, steps, store): a field of a table read as a string, a number, an
 * integer or a table, with the same messages everywhere:
 * "<fn>: <where><key><after> must be ...". Raises on a wrong value; owns no state.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "gs_internal.h"

#define NAME(o, key) (o)->fn, (o)->where ? (o)->where : "", (key), (o)->after ? (o)->after : ""

/* Raises "<fn>: <name> is required" when the value on top is nil and required. 1 when nil. */
static int absent(const gs_opts *o, const char *key, int required)
{
    if (!lua_isnil(o->L, -1))
        return 0;
    if (required)
        luaL_error(o->L, "%s: %s%s%s is required", NAME(o, key));
    return 1;
}

const char *gs_opt_str(const gs_opts *o, int t, const char *key, int required, const char *def, size_t *len)
{
    lua_State *L = o->L;
    int ty = lua_getfield(L, t, key);
    const char *s = def;
    if (len)
        *len = def ? strlen(def) : 0;
    if (!absent(o, key, required)) {
        if (ty != LUA_TSTRING)
            luaL_error(L, "%s: %s%s%s must be a string, got %s", NAME(o, key), lua_typename(L, ty));
        s = lua_tolstring(L, -1, len);
    }
    lua_pop(L, 1); /* a string stays alive in the table */
    return s;
}

double gs_opt_num(const gs_opts *o, int t, const char *key, int required, double def, double lo, double hi)
{
    lua_State *L = o->L;
    int ty = lua_getfield(L, t, key);
    double v = def;
    if (!absent(o, key, required)) {
        if (ty != LUA_TNUMBER)
            luaL_error(L, "%s: %s%s%s must be a number", NAME(o, key));
        v = lua_tonumber(L, -1);
        if (!(v >= lo && v <= hi)) {
            char range[128]; /* lua_pushfstring has no %g */
            snprintf(range, sizeof range, "%g..%g, got %g", lo, hi, v);
            luaL_error(L, "%s: %s%s%s must be in %s", NAME(o, key), range);
        }
    }
    lua_pop(L, 1);
    return v;
}

lua_Integer gs_opt_int(const gs_opts *o, int t, const char *key, int required, lua_Integer def, lua_Integer lo,
                       lua_Integer hi)
{
    lua_State *L = o->L;
    int ty = lua_getfield(L, t, key), exact = 0;
    lua_Integer v = def;
    if (!absent(o, key, required)) {
        v = lua_tointegerx(L, -1, &exact); /* 3.0 is 3, as luaL_checkinteger takes it; "3" is not */
        if (ty != LUA_TNUMBER || !exact)
            luaL_error(L, "%s: %s%s%s must be an integer", NAME(o, key));
        if (v < lo || v > hi) {
            if (hi == LUA_MAXINTEGER && lo == 0)
                luaL_error(L, "%s: %s%s%s must be a non-negative integer, got %I", NAME(o, key), v);
            if (hi == LUA_MAXINTEGER)
                luaL_error(L, "%s: %s%s%s must be %I or more, got %I", NAME(o, key), lo, v);
            luaL_error(L, "%s: %s%s%s must be in %I..%I, got %I", NAME(o, key), lo, hi, v);
        }
    }
    lua_pop(L, 1);
    return v;
}

int gs_opt_table(const gs_opts *o, int t, const char *key, int required)
{
    lua_State *L = o->L;
    int ty = lua_getfield(L, t, key);
    if (ty == LUA_TNIL && !required) {
        lua_pop(L, 1);
        return 0;
    }
    if (ty != LUA_TTABLE)
        luaL_error(L, "%s: %s%s%s must be a table, got %s", NAME(o, key), lua_typename(L, ty));
    return lua_gettop(L);
}
