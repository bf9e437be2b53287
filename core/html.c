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
 *              values, as a Safe value (the rules are at json_value below);
 *   join(t, n) table.concat(t, "", 1, n), how a template joins its pieces.
 * Safe is the engine's metatable for vouched-for strings: new(Safe) returns
 * the six functions bound to it. Owns no state.
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

/* Writes the decimal digits of i to end on backwards (what %d prints, without
   printf's cost: pages are full of small integers); returns where they start. */
static char *int_digits(char *end, lua_Integer i)
{
    lua_Unsigned u = i < 0 ? 0u - (lua_Unsigned)i : (lua_Unsigned)i;
    do
        *--end = (char)('0' + u % 10);
    while (u /= 10);
    if (i < 0)
        *--end = '-';
    return end;
}

/* Pushes numstr of the number at idx. */
static void push_numstr(lua_State *L, int idx)
{
    lua_Integer i;
    if (lua_isinteger(L, idx)) {
        i = lua_tointeger(L, idx);
    } else {
        lua_Number v = lua_tonumber(L, idx);
        if (!(v > -9007199254740992.0 && v < 9007199254740992.0 && v == (lua_Number)(long long)v)) {
            lua_pushvalue(L, idx);
            lua_tolstring(L, -1, NULL); /* the copy becomes the string tostring gives */
            return;
        }
        i = (lua_Integer)v;
    }
    char num[24], *end = num + sizeof num, *p = int_digits(end, i);
    lua_pushlstring(L, p, (size_t)(end - p));
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

/* join(t, n) -> t[1] .. ... .. t[n]: table.concat(t, "", 1, n) with the length
   summed first, so a page's text is copied once instead of at every doubling. */
static int l_join(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_checkinteger(L, 2);
    size_t total = 0, len;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        if (!lua_isstring(L, -1))
            luaL_error(L, "invalid value (at index %I) in table for 'concat'", i);
        lua_tolstring(L, -1, &len); /* a number converts here, on the copy */
        if (len > (size_t)-1 - total)
            luaL_error(L, "resulting string too large");
        total += len;
        lua_pop(L, 1);
    }
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, total);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i); /* balanced: the buffer may sit below it */
        const char *s = lua_tolstring(L, -1, &len);
        memcpy(p, s, len);
        p += len;
        lua_pop(L, 1);
    }
    luaL_pushresultsize(&b, total);
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

struct json_out {
    lua_State *L;
    jw *b;
    int anchor; /* stack index of the table holding objects' values while they wait
                   to be written, and numeric keys' strings */
    int used;   /* its slots in use, by the objects being written */
};

/* Room for n more bytes at the end of the text, written in place. */
static char *json_room(struct json_out *o, size_t n)
{
    jw *b = o->b;
    if (b->len + n + 1 <= b->cap)
        return b->p + b->len;
    char *p = jw_reserve(b, n);
    if (!p)
        luaL_error(o->L, "json: out of memory");
    return p;
}

static void json_put(struct json_out *o, const char *s, size_t n)
{
    memcpy(json_room(o, n), s, n);
    o->b->len += n;
}

static void json_putc(struct json_out *o, char c)
{
    *json_room(o, 1) = c;
    o->b->len++;
}

/* What json_string writes for each byte: 0 the byte, 'u' \u00XX, 'E' \u2028 or
   \u2029 when U+2028/9 starts there (else the byte), another letter a
   backslash and that letter. */
static const char json_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 't', 'n', 'u', 'u', 'r', 'u', 'u',   /* 0x00 */
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',   /* 0x10 */
    0, 0, '"', 0, 0, 0, 'u', 'u', 0, 0, 0, 0, 0, 0, 0, 0,                           /* " & ' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'u', 0, 'u', 0,                             /* < > */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                                 /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,                              /* \ */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                                 /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'u',                               /* DEL */
    [0xe2] = 'E',
};

/* s quoted; control characters, " \ < > & ' and U+2028/9 escaped, so the text
   cannot end a <script> or an attribute value. */
static void json_string(struct json_out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n > ((size_t)-1 - 8) / 6)
        luaL_error(o->L, "json: out of memory");
    char *start = json_room(o, 6 * n + 2), *w = start; /* at most \u00XX per byte */
    *w++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e = json_esc[c];
        if (e == 0) {
            *w++ = (char)c;
        } else if (e == 'E') {
            if (i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
                memcpy(w, (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
                w += 6;
                i += 2;
            } else {
                *w++ = (char)c;
            }
        } else if (e == 'u') {
            memcpy(w, "\\u00", 4);
            w[4] = hex[c >> 4];
            w[5] = hex[c & 15];
            w += 6;
        } else {
            w[0] = '\\';
            w[1] = e;
            w += 2;
        }
    }
    *w++ = '"';
    o->b->len += (size_t)(w - start);
}

/* The number at idx: integers with %d; floats with %.14g when that reads back
   as the same number, else %.17g; NaN and infinities as null. */
static void json_number(struct json_out *o, int idx)
{
    lua_State *L = o->L;
    char num[40];
    int integer = lua_isinteger(L, idx);
    double d = integer ? 0 : (double)lua_tonumber(L, idx);
    /* whole floats below 1e14 (not -0): %.14g prints their digits, exactly */
    if (integer || (d == floor(d) && fabs(d) < 1e14 && !(d == 0 && signbit(d)))) {
        char *p = int_digits(num + sizeof num, integer ? lua_tointeger(L, idx) : (lua_Integer)d);
        json_put(o, p, (size_t)(num + sizeof num - p));
        return;
    }
    if (!isfinite(d)) {
        json_put(o, "null", 4);
        return;
    }
    int n = snprintf(num, sizeof num, "%.14g", d);
    if (strtod(num, NULL) != d)
        n = snprintf(num, sizeof num, "%.17g", d);
    json_put(o, num, (size_t)n);
}

struct json_key {
    const char *s; /* tostr of the key: a string key's own bytes (the table holds
                      it), a number's string in the anchor table */
    size_t n;
    int num;       /* the key is a number */
    double v;      /* its value, when it is */
    int slot;      /* the anchor table's slot holding the key's value */
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

static void json_value(struct json_out *o, int idx, int depth);

static void json_list(struct json_out *o, int idx, lua_Integer len, int depth)
{
    lua_State *L = o->L;
    json_putc(o, '[');
    for (lua_Integer i = 1; i <= len; i++) {
        if (i > 1)
            json_putc(o, ',');
        lua_rawgeti(L, idx, i);
        json_value(o, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    json_putc(o, ']');
}

/* The table at idx as an object of its count keys, sorted. */
static void json_object(struct json_out *o, int idx, lua_Integer count, int depth)
{
    lua_State *L = o->L;
    if (count > (INT_MAX - o->used) / 2)
        luaL_error(L, "json: too many keys");
    int top = lua_gettop(L), base = o->used;
    if (lua_isnil(L, o->anchor)) {
        lua_newtable(L);
        lua_replace(L, o->anchor);
    }
    struct json_key small[JSON_SMALL_KEYS], *keys = small;
    if (count > JSON_SMALL_KEYS)
        keys = lua_newuserdatauv(L, (size_t)count * sizeof *keys, 0); /* top + 1 */
    int k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* key, value */
        struct json_key *key = &keys[k];
        key->slot = base + 2 * k + 1;
        lua_rawseti(L, o->anchor, key->slot);
        key->num = lua_type(L, -1) == LUA_TNUMBER;
        if (key->num) {
            key->v = (double)lua_tonumber(L, -1);
            push_numstr(L, lua_gettop(L));
            key->s = lua_tolstring(L, -1, &key->n);
            lua_rawseti(L, o->anchor, key->slot + 1);
        } else {
            key->v = 0;
            key->s = lua_tolstring(L, -1, &key->n);
        }
        k++;
    }
    o->used = base + 2 * k; /* the values below are the nested objects' to keep */
    qsort(keys, (size_t)k, sizeof *keys, json_key_cmp);
    json_putc(o, '{');
    for (int i = 0; i < k; i++) {
        if (i > 0)
            json_putc(o, ',');
        json_string(o, keys[i].s, keys[i].n);
        json_putc(o, ':');
        lua_rawgeti(L, o->anchor, keys[i].slot);
        json_value(o, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    json_putc(o, '}');
    o->used = base;
    lua_settop(L, top);
}

/* The table at idx (absolute): a list when its keys are exactly 1..#t (so an
   empty table is []), else an object. */
static void json_table(struct json_out *o, int idx, int depth)
{
    lua_State *L = o->L;
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
    if (list && count == len)
        json_list(o, idx, len, depth);
    else
        json_object(o, idx, count, depth);
}

/* The value at idx (absolute), as template.lua's json_encode writes it. */
static void json_value(struct json_out *o, int idx, int depth)
{
    lua_State *L = o->L;
    size_t n;
    const char *s;
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: json_put(o, "null", 4); return;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            json_put(o, "true", 4);
        else
            json_put(o, "false", 5);
        return;
    case LUA_TNUMBER: json_number(o, idx); return;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &n);
        json_string(o, s, n);
        return;
    case LUA_TTABLE:
        if (!is_safe(L, idx)) {
            json_table(o, idx, depth);
            return;
        }
        lua_rawgeti(L, idx, 1);
        s = lua_tolstring(L, -1, &n); /* a Safe number reads as Lua's tostring of it */
        if (!s)
            luaL_error(L, "json: cannot encode a Safe value holding a %s", luaL_typename(L, -1));
        json_string(o, s, n);
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
    lua_pushnil(L); /* 3: the anchor table, made by the first object */
    struct json_out o = {L, b, 3, 0};
    json_value(&o, 1, 0);
    lua_createtable(L, 1, 0);
    lua_pushlstring(L, b->p ? b->p : "", b->len);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, SAFE_MT);
    lua_setmetatable(L, -2);
    jw_reset(b);
    return 1;
}

/* new(Safe) -> { escape, tostr, numstr, out, json, join } bound to Safe. */
static int l_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    static const luaL_Reg fns[] = {{"escape", l_escape}, {"tostr", l_tostr}, {"numstr", l_numstr},
        {"out", l_out}, {"json", l_json}, {"join", l_join}, {NULL, NULL}};
    lua_createtable(L, 0, 6);
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
