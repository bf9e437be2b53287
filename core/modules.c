/*
 * modules.c — registers the grokspicy.* modules and the Lua library that ships
 * inside the binary. Owns package.preload entries and one package.searchers slot;
 * never touches a module's own state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "grokspicy.h"
#include "gs_internal.h"

int luaopen_cjson(lua_State *L);

/* gs_modules.h is generated from GS_C_MODULES in CMakeLists.txt. */
#define GS_MODULE(name) int luaopen_grokspicy_##name(lua_State *L);
#include "gs_modules.h"
#undef GS_MODULE

static const luaL_Reg preloads[] = {
#define GS_MODULE(name) {"grokspicy." #name, luaopen_grokspicy_##name},
#include "gs_modules.h"
#undef GS_MODULE
    {"grokspicy.resources", luaopen_grokspicy_resources},
    {"grokspicy.sys", luaopen_grokspicy_sys},
    {"cjson", luaopen_cjson},
    {NULL, NULL},
};

static int cmp_resource(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct gs_resource *)elem)->name);
}

const struct gs_resource *gs_resource_find(const char *name)
{
    return bsearch(name, gs_resources, gs_resource_count, sizeof gs_resources[0], cmp_resource);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Names come from Lua code; refuse anything that could leave the source tree. */
static int safe_name(const char *name)
{
    if (!*name || name[0] == '/' || strstr(name, ".."))
        return 0;
    return 1;
}

char *gs_resource_read(const char *name, size_t *len, const char **err)
{
    if (!safe_name(name)) {
        *err = "invalid resource name";
        return NULL;
    }
    const char *dir = getenv("GROK_SPICY_SOURCE_DIR");
    if (dir && *dir) {
        size_t need = strlen(dir) + strlen(name) + 2;
        char *path = malloc(need);
        if (!path) {
            *err = "out of memory";
            return NULL;
        }
        snprintf(path, need, "%s/%s", dir, name);
        char *buf = read_file(path, len);
        free(path);
        if (buf)
            return buf;
    }
    const struct gs_resource *r = gs_resource_find(name);
    if (!r) {
        *err = "no such resource";
        return NULL;
    }
    char *buf = malloc(r->len + 1);
    if (!buf) {
        *err = "out of memory";
        return NULL;
    }
    memcpy(buf, r->data, r->len);
    buf[r->len] = '\0';
    *len = r->len;
    return buf;
}

/* resources.read(name) -> string | nil, err */
static int l_resource_read(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    size_t len = 0;
    const char *err = NULL;
    char *buf = gs_resource_read(name, &len, &err);
    if (!buf) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", name, err);
        return 2;
    }
    lua_pushlstring(L, buf, len);
    free(buf);
    return 1;
}

/* resources.list(prefix) -> sorted array of embedded names under prefix */
static int l_resource_list(lua_State *L)
{
    size_t plen = 0;
    const char *prefix = luaL_optlstring(L, 1, "", &plen);
    lua_newtable(L);
    lua_Integer n = 0;
    for (size_t i = 0; i < gs_resource_count; i++) {
        if (strncmp(gs_resources[i].name, prefix, plen) == 0) {
            lua_pushstring(L, gs_resources[i].name);
            lua_rawseti(L, -2, ++n);
        }
    }
    return 1;
}

int luaopen_grokspicy_resources(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"read", l_resource_read},
        {"list", l_resource_list},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    const char *dir = getenv("GROK_SPICY_SOURCE_DIR");
    if (dir && *dir)
        lua_pushstring(L, dir);
    else
        lua_pushboolean(L, 0);
    lua_setfield(L, -2, "source_dir");
    return 1;
}

/*
 * package.searchers entry: "grokspicy.web" -> lua/grokspicy/web.lua, from the
 * source dir override or the embedded copy. Lua files on package.path never
 * shadow the embedded library, so an installed binary runs the code it shipped.
 */
static int searcher_embedded(lua_State *L)
{
    const char *modname = luaL_checkstring(L, 1);
    if (strncmp(modname, "grokspicy", 9) != 0 || (modname[9] != '.' && modname[9] != '\0'))
        return 0;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "lua/");
    for (const char *p = modname; *p; p++)
        luaL_addchar(&b, *p == '.' ? '/' : *p);
    luaL_addstring(&b, modname[9] == '\0' ? "/init.lua" : ".lua");
    luaL_pushresult(&b);
    const char *rname = lua_tostring(L, -1);
    size_t len = 0;
    const char *err = NULL;
    char *src = gs_resource_read(rname, &len, &err);
    if (!src) {
        lua_pushfstring(L, "no embedded resource '%s'", rname);
        return 1;
    }
    lua_pushfstring(L, "@%s", rname);
    int st = luaL_loadbufferx(L, src, len, lua_tostring(L, -1), "t");
    free(src);
    if (st != LUA_OK)
        return luaL_error(L, "error loading module '%s':\n\t%s", modname, lua_tostring(L, -1));
    lua_pushstring(L, rname); /* second value handed to the chunk, as the file searcher does */
    return 2;
}

static int add_searcher(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    /* Insert at slot 2, right after preload: shift the others up one. */
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    lua_rawgeti(L, -1, 2);
    int already = lua_tocfunction(L, -1) == searcher_embedded;
    lua_pop(L, 1);
    if (!already) {
        for (lua_Integer i = n; i >= 2; i--) {
            lua_rawgeti(L, -1, i);
            lua_rawseti(L, -2, i + 1);
        }
        lua_pushcfunction(L, searcher_embedded);
        lua_rawseti(L, -2, 2);
    }
    lua_pop(L, 2);
    return 0;
}

int gs_openlibs(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (const luaL_Reg *r = preloads; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_setfield(L, -2, r->name);
    }
    lua_pop(L, 1);
    add_searcher(L);
    return 0;
}

/* sys.isatty(fd) -> boolean: whether progress can redraw a line. */
static int l_sys_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 1)));
    return 1;
}

static int l_sys_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* sys.monotonic() -> seconds from CLOCK_MONOTONIC, for elapsed times. */
static int l_sys_monotonic(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int l_sys_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    if (s > 0) {
        struct timespec ts = {(time_t)s, (long)((s - (lua_Number)(time_t)s) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return 0;
}

static int l_sys_cpu_count(lua_State *L)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

/* Small facts about the process and the terminal that plain Lua lacks. */
int luaopen_grokspicy_sys(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"isatty", l_sys_isatty},
        {"pid", l_sys_pid},
        {"monotonic", l_sys_monotonic},
        {"sleep", l_sys_sleep},
        {"cpu_count", l_sys_cpu_count},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}

int luaopen_grokspicy(lua_State *L)
{
    gs_openlibs(L);
    lua_newtable(L);
    lua_pushliteral(L, GS_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int gs_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int st = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return st;
}
