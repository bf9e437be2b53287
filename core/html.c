/*
 * html.c — grokspicy.html: the template engine's per-value output path in C
 * (lua/grokspicy/template.lua keeps the syntax, the compiler and the policy).
 * Every {{ }} of every page runs through out(); in Lua it was most of a page's
 * rendering time. Byte for byte what the Lua definitions kept in template.lua
 * as the reference give (tests/lua/template_spec.lua compares them):
 *   escape(s)  & < > " ' as &amp; &lt; &gt; &quot; &#39;; s itself when none;
 *   tostr(v)   strings as they are, numbers as numstr, nil as "", a Safe
 *              value's string, anything else tostring(v);
 *   numstr(v)  whole floats within 2^53 like integers ("3", not "3.0"),
 *              other numbers as tostring;
 *   out(v)     a Safe value's string unescaped, else escape(tostr(v)).
 * Safe is the engine's metatable for vouched-for strings: new(Safe) returns
 * the four functions bound to it. Owns no state.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

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

/* new(Safe) -> { escape, tostr, numstr, out } bound to Safe. */
static int l_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    static const luaL_Reg fns[] = {
        {"escape", l_escape}, {"tostr", l_tostr}, {"numstr", l_numstr}, {"out", l_out}, {NULL, NULL}};
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, 1);
    luaL_setfuncs(L, fns, 1);
    return 1;
}

int luaopen_grokspicy_core_html(lua_State *L);
int luaopen_grokspicy_core_html(lua_State *L)
{
    static const luaL_Reg fns[] = {{"new", l_new}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
