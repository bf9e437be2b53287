/*
 * html.c — grokspicy.html: the template engine's per-value output path in C
 * (lua/grokspicy/template.lua keeps the syntax, the compiler and the policy).
 * Every {{ }} of every page runs through out(); in Lua it was most of a page's
 * rendering time. Byte for byte what the Lua definitions kept in template.lua
 * as the reference give (tests/lua/template_native_spec.lua compares them):
 *   escape(s)  & < > " ' as &amp; &lt; &gt; &quot; &#39;; s itself when none;
 *   tostr(v)   strings as they are, numbers as numstr, nil as "", a Safe
 *              value's string, anything else tostring(v);
 *   numstr(v)  whole floats within 2^53 like integers ("3", not "3.0"),
 *              other numbers as tostring;
 *   out(v)     a Safe value's string unescaped, else escape(tostr(v));
 *   json(v)    the json filter: v as JSON safe inside <script> and attribute
 *              values, as a Safe value (the rules are at json_value below).
 * Safe is the engine's metatable for vouched-for strings: new(Safe) returns
 * the five functions bound to it. Owns no state.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "json.h"

#define SAFE_MT lua_upvalueindex(1)

static int is_safe(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    int same = lua_rawequal(L, -1, SAFE_MT);
    lua_pop(L, 1);
    return same;
}

/* Pushes the escaped copy of s, or leaves the stack alone and returns 0 when
   s has nothing to escape (the caller then returns s itself, not a copy). */
static int push_escaped(lua_State *L, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '&' || c == '<' || c == '>' || c == '"' || c == '\'')
            break;
        i++;
    }
    if (i == n)
        return 0;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, s, i);
    for (; i < n; i++) {
        switch (s[i]) {
        case '&': luaL_addlstring(&b, "&amp;", 5); break;
        case '<': luaL_addlstring(&b, "&lt;", 4); break;
        case '>': luaL_addlstring(&b, "&gt;", 4); break;
        case '"': luaL_addlstring(&b, "&quot;", 6); break;
        case '\'': luaL_addlstring(&b, "&#39;", 5); break;
        default: luaL_addchar(&b, s[i]);
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* Pushes numstr of the number at idx. */
static void push_numstr(lua_State *L, int idx)
{
    if (!lua_isinteger(L, idx)) {
        lua_Number v = lua_tonumber(L, idx);
        if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (lua_Number)(long long)v) {
            lua_pushfstring(L, "%I", (LUA_INTEGER)(long long)v);
            return;
        }
    }
    lua_pushvalue(L, idx);
    lua_tolstring(L, -1, NULL); /* the copy becomes the string tostring gives */
}

/* Pushes tostr of the value at idx (idx > 0). */
static void push_tostr(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: lua_pushvalue(L, idx); return;
    case LUA_TNUMBER: push_numstr(L, idx); return;
    case LUA_TNIL:
    case LUA_TNONE: lua_pushliteral(L, ""); return;
    case LUA_TTABLE:
        if (is_safe(L, idx)) {
            lua_rawgeti(L, idx, 1);
            return;
        }
        break;
    default: break;
    }
    luaL_tolstring(L, idx, NULL);
}

static int l_escape(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    if (!push_escaped(L, s, n))
        lua_settop(L, 1);
    return 1;
}

static int l_numstr(lua_State *L)
{
    luaL_checknumber(L, 1);
    push_numstr(L, 1);
    return 1;
}

static int l_tostr(lua_State *L)
{
    lua_settop(L, 1);
    push_tostr(L, 1);
    return 1;
}

static int l_out(lua_State *L)
{
    lua_settop(L, 1);
    int t = lua_type(L, 1);
    if (t == LUA_TNUMBER) { /* digits, signs, '.', 'e', "inf", "nan": nothing to escape */
        push_numstr(L, 1);
        return 1;
    }
    if (t == LUA_TTABLE && is_safe(L, 1)) {
        lua_rawgeti(L, 1, 1);
        return 1;
    }
    if (t != LUA_TSTRING)
        push_tostr(L, 1); /* may be a string of any content: __tostring, __name */
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    push_escaped(L, s, n); /* when nothing needed escaping, the string itself is on top */
    return 1;
}

/* ---- json ---- */

#define JSON_BUF_MT "grokspicy.HtmlJsonBuffer"
#define JSON_MAX_DEPTH 64
#define JSON_SMALL_KEYS 32

/* The output: a jw in a userdata born empty, its memory freed by __gc, so
   nothing leaks when encoding raises. */
static int json_buf_gc(lua_State *L)
{
    jw_reset(luaL_checkudata(L, 1, JSON_BUF_MT));
    return 0;
}

static void json_put(lua_State *L, jw *b, const char *s, size_t n)
{
    jw_append(b, s, n);
    if (b->oom)
        luaL_error(L, "json: out of memory");
}

/* s quoted; control characters, " \ < > & ' and U+2028/9 escaped, so the text
   cannot end a <script> or an attribute value. */
static void json_string(lua_State *L, jw *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    json_put(L, b, "\"", 1);
    size_t run = 0; /* bytes before s + i still to copy */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc;
        char u[7];
        size_t len = 2;
        if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
            esc = (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            len = 6;
            json_put(L, b, s + i - run, run);
            json_put(L, b, esc, len);
            run = 0;
            i += 2;
            continue;
        }
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c >= 0x20 && c != 0x7f && c != '<' && c != '>' && c != '&' && c != '\'') {
                run++;
                continue;
            }
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
            esc = u;
            len = 6;
        }
        json_put(L, b, s + i - run, run);
        json_put(L, b, esc, len);
        run = 0;
    }
    json_put(L, b, s + n - run, run);
    json_put(L, b, "\"", 1);
}

/* The number at idx: integers with %d; floats with %.14g when that reads back
   as the same number, else %.17g; NaN and infinities as null. */
static void json_number(lua_State *L, jw *b, int idx)
{
    char num[40];
    int n;
    if (lua_isinteger(L, idx)) {
        n = snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    } else {
        double d = (double)lua_tonumber(L, idx);
        if (!isfinite(d)) {
            json_put(L, b, "null", 4);
            return;
        }
        n = snprintf(num, sizeof num, "%.14g", d);
        if (strtod(num, NULL) != d)
            n = snprintf(num, sizeof num, "%.17g", d);
    }
    json_put(L, b, num, (size_t)n);
}

struct json_key {
    const char *s; /* tostr of the key, anchored in the keys table */
    size_t n;
    int num;       /* the key is a number */
    double v;      /* its value, when it is */
    int slot;      /* the key is at 2 * slot - 1 in the keys table, its string at 2 * slot */
};

/* Objects list keys by tostr as Lua's < orders strings (the C locale: bytes),
   ties (a number and its digits as a string, floats %.14g prints alike)
   numbers first, then by value, so the order is the same every time. */
static int json_key_cmp(const void *pa, const void *pb)
{
    const struct json_key *a = pa, *b = pb;
    int c = memcmp(a->s, b->s, a->n < b->n ? a->n : b->n);
    if (c != 0)
        return c;
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    if (a->num != b->num)
        return a->num ? -1 : 1;
    return a->num ? (a->v < b->v ? -1 : a->v > b->v) : 0;
}

static void json_value(lua_State *L, jw *b, int idx, int depth);

/* The table at idx (absolute): a list when its keys are exactly 1..#t (so an
   empty table is []), else an object. */
static void json_table(lua_State *L, jw *b, int idx, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        luaL_error(L, "json: nesting deeper than %d (a cycle?)", JSON_MAX_DEPTH);
    luaL_checkstack(L, 8, "json");
    lua_Integer len = (lua_Integer)lua_rawlen(L, idx), count = 0;
    int list = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int kt = lua_type(L, -1);
        if (kt != LUA_TSTRING && kt != LUA_TNUMBER)
            luaL_error(L, "json: cannot encode a %s key", lua_typename(L, kt));
        if (list) {
            lua_Integer k = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
            list = k >= 1 && k <= len;
        }
        count++;
    }
    if (list && count == len) {
        json_put(L, b, "[", 1);
        for (lua_Integer i = 1; i <= len; i++) {
            if (i > 1)
                json_put(L, b, ",", 1);
            lua_rawgeti(L, idx, i);
            json_value(L, b, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
        }
        json_put(L, b, "]", 1);
        return;
    }
    if (count > INT_MAX / 2)
        luaL_error(L, "json: too many keys");
    int top = lua_gettop(L);
    struct json_key small[JSON_SMALL_KEYS], *keys = small;
    lua_createtable(L, (int)(2 * count), 0); /* top + 1: each key and its string, anchored */
    int anchor = top + 1;
    if (count > JSON_SMALL_KEYS)
        keys = lua_newuserdatauv(L, (size_t)count * sizeof *keys, 0); /* top + 2 */
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int num = lua_type(L, -1) == LUA_TNUMBER;
        keys[k].num = num;
        keys[k].v = num ? (double)lua_tonumber(L, -1) : 0;
        keys[k].slot = k + 1;
        lua_pushvalue(L, -1);
        lua_rawseti(L, anchor, 2 * k + 1);
        if (num)
            push_numstr(L, lua_gettop(L));
        else
            lua_pushvalue(L, -1);
        keys[k].s = lua_tolstring(L, -1, &keys[k].n);
        lua_rawseti(L, anchor, 2 * k + 2);
        k++;
    }
    qsort(keys, (size_t)k, sizeof *keys, json_key_cmp);
    json_put(L, b, "{", 1);
    for (int i = 0; i < k; i++) {
        if (i > 0)
            json_put(L, b, ",", 1);
        json_string(L, b, keys[i].s, keys[i].n);
        json_put(L, b, ":", 1);
        lua_rawgeti(L, anchor, 2 * keys[i].slot - 1);
        lua_rawget(L, idx);
        json_value(L, b, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    json_put(L, b, "}", 1);
    lua_settop(L, top);
}

/* The value at idx (absolute), as template.lua's json_encode writes it. */
static void json_value(lua_State *L, jw *b, int idx, int depth)
{
    size_t n;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: json_put(L, b, "null", 4); return;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            json_put(L, b, "true", 4);
        else
            json_put(L, b, "false", 5);
        return;
    case LUA_TNUMBER: json_number(L, b, idx); return;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &n);
        json_string(L, b, s, n);
        return;
    case LUA_TTABLE:
        if (!is_safe(L, idx)) {
            json_table(L, b, idx, depth);
            return;
        }
        lua_rawgeti(L, idx, 1);
        s = lua_tolstring(L, -1, &n); /* a Safe number reads as Lua's tostring of it */
        if (!s)
            luaL_error(L, "json: cannot encode a Safe value holding a %s", luaL_typename(L, -1));
        json_string(L, b, s, n);
        lua_pop(L, 1);
        return;
    default:
        luaL_error(L, "json: cannot encode a %s value", luaL_typename(L, idx));
    }
}

/* json(v) -> Safe{ the JSON text of v } */
static int l_json(lua_State *L)
{
    lua_settop(L, 1);
    jw *b = lua_newuserdatauv(L, sizeof *b, 0); /* 2 */
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, JSON_BUF_MT);
    json_value(L, b, 1, 0);
    lua_createtable(L, 1, 0);
    lua_pushlstring(L, b->p ? b->p : "", b->len);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, SAFE_MT);
    lua_setmetatable(L, -2);
    jw_reset(b);
    return 1;
}

/* new(Safe) -> { escape, tostr, numstr, out, json } bound to Safe. */
static int l_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    static const luaL_Reg fns[] = {{"escape", l_escape}, {"tostr", l_tostr}, {"numstr", l_numstr},
        {"out", l_out}, {"json", l_json}, {NULL, NULL}};
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, 1);
    luaL_setfuncs(L, fns, 1);
    return 1;
}

int luaopen_grokspicy_core_html(lua_State *L);
int luaopen_grokspicy_core_html(lua_State *L)
{
    static const luaL_Reg fns[] = {{"new", l_new}, {NULL, NULL}};
    static const luaL_Reg buf_meta[] = {{"__gc", json_buf_gc}, {"__close", json_buf_gc}, {NULL, NULL}};
    if (luaL_newmetatable(L, JSON_BUF_MT))
        luaL_setfuncs(L, buf_meta, 0);
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
