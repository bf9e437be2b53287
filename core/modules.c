/*
 * modules.c — registers the grokspicy.* modules and the Lua library that ships
 * inside the binary. Owns package.preload entries and one package.searchers slot;
 * never touches a module's own state.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "grokspicy.h"
#include "gs_internal.h"
#include "gs_util.h"

int luaopen_cjson(lua_State *L);

extern char **environ;

/* gs_modules.h is generated from GS_C_MODULES in CMakeLists.txt. Each C module is
 * preloaded as grokspicy.core.<name>, its raw primitives; the grokspicy.<name> that
 * scripts require is lua/grokspicy/<name>.lua, the face that adds defaults, checks and
 * conveniences over them (as mpv keeps defaults.lua over its C). */
#define GS_MODULE(name) int luaopen_grokspicy_core_##name(lua_State *L);
#include "gs_modules.h"
#undef GS_MODULE

static const luaL_Reg preloads[] = {
#define GS_MODULE(name) {"grokspicy.core." #name, luaopen_grokspicy_core_##name},
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
        char *buf = gs_read_file(path, len);
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

/* Loads rname's embedded bytecode as the chunk "@rname": LUA_OK with the
 * function pushed, or not (nothing pushed) when the source must be read: under
 * the source dir override, or for bytecode this Lua refuses (a library of
 * another build than the one the binary was compiled with). */
static int load_bytecode(lua_State *L, const char *rname, const char *chunkname)
{
    const char *dir = getenv("GROK_SPICY_SOURCE_DIR");
    if (dir && *dir)
        return LUA_ERRFILE;
    const struct gs_resource *r =
        bsearch(rname, gs_bytecode, gs_bytecode_count, sizeof gs_bytecode[0], cmp_resource);
    if (!r)
        return LUA_ERRFILE;
    int st = luaL_loadbufferx(L, (const char *)r->data, r->len, chunkname, "b");
    if (st != LUA_OK)
        lua_pop(L, 1);
    return st;
}

/*
 * package.searchers entry: "grokspicy.web" -> lua/grokspicy/web.lua, from the
 * source dir override or the embedded copy (its bytecode when it loads).
 * Lua files on package.path never shadow the embedded library, so an installed
 * binary runs the code it shipped.
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
    lua_pushfstring(L, "@%s", rname);
    if (load_bytecode(L, rname, lua_tostring(L, -1)) == LUA_OK) {
        lua_pushstring(L, rname); /* second value handed to the chunk, as the file searcher does */
        return 2;
    }
    lua_pop(L, 1); /* the chunk name */
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

/* sys.pid() -> this process's id */
static int l_sys_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* sys.monotonic() -> seconds from CLOCK_MONOTONIC, for elapsed times. */
static int l_sys_monotonic(lua_State *L)
{
    lua_pushnumber(L, gs_monotonic());
    return 1;
}

/* sys.mkdir_p(path) -> true | nil, reason, errno: mkdir -p (mode 0755), as io.open reports. */
static int l_sys_mkdir_p(lua_State *L)
{
    if (gs_mkdir_p(luaL_checkstring(L, 1)) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    int e = errno;
    luaL_pushfail(L);
    lua_pushstring(L, strerror(e));
    lua_pushinteger(L, e);
    return 3;
}

/* sys.sha256_file(path) -> 64 lowercase hex digits | nil, reason: the SHA-256 of the file's bytes. */
static int l_sys_sha256_file(lua_State *L)
{
    char hex[65];
    if (gs_sha256_file(luaL_checkstring(L, 1), hex) == 0) {
        lua_pushstring(L, hex);
        return 1;
    }
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", lua_tostring(L, 1), strerror(e));
    return 2;
}

/* sys.sha256(text) -> 64 lowercase hex digits: the SHA-256 of the string's bytes. */
static int l_sys_sha256(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char hex[65];
    if (gs_sha256_bytes(s, len, hex) != 0)
        return luaL_error(L, "sha256: %s (libcrypto)", strerror(errno));
    lua_pushstring(L, hex);
    return 1;
}

/* sys.link_or_copy(src, dst) -> true | nil, reason: puts file src at dst (a hard link, or a whole copy
 * through a temp name when linking is refused), replacing what was there. */
static int l_sys_link_or_copy(lua_State *L)
{
    const char *src = luaL_checkstring(L, 1), *dst = luaL_checkstring(L, 2);
    if (gs_link_or_copy(src, dst) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "%s -> %s: %s", src, dst, strerror(e));
    return 2;
}

/* sys.sleep(seconds): sleeps that long (fractions too), resuming after signals */
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

/* sys.cpu_count() -> processors online, at least 1 */
static int l_sys_cpu_count(lua_State *L)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

/* sys.exe_path() -> absolute path of the running binary | nil, err (/proc/self/exe). */
static int l_sys_exe_path(lua_State *L)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "exe_path: /proc/self/exe: %s", strerror(errno));
        return 2;
    }
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

static void *reap(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return NULL;
}

/* The environment of a child: environ with each NAME = value of the table at
   idx set (replacing NAME), as a NULL-ended array in a userdata. Pushes an
   anchor table (holding the new strings) and that userdata. */
static char **child_env(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    size_t n = 0, extra = 0;
    while (environ[n])
        n++;
    lua_newtable(L);
    int anchor = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "spawn_detached: opts.env must map names to strings");
        lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        lua_rawseti(L, anchor, (lua_Integer)++extra);
        lua_pop(L, 1);
    }
    char **env = lua_newuserdatauv(L, sizeof(char *) * (n + extra + 1), 0);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        lua_pushlstring(L, environ[i], eq ? (size_t)(eq - environ[i]) : strlen(environ[i]));
        int replaced = lua_rawget(L, idx) != LUA_TNIL;
        lua_pop(L, 1);
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 1; j <= extra; j++) {
        lua_rawgeti(L, anchor, (lua_Integer)j);
        env[k++] = (char *)lua_tostring(L, -1); /* anchored by the table */
        lua_pop(L, 1);
    }
    env[k] = NULL;
    return env;
}

/*
 * sys.spawn_detached(argv [, log [, opts]]) -> pid | nil, err. Starts argv[1]
 * (an absolute path or a name on PATH) with argv as its arguments in a new
 * session, so it outlives this process and a Ctrl+C in this terminal never
 * reaches it; stdin is /dev/null, stdout and stderr are appended to log (nil:
 * /dev/null). A detached thread reaps it, so it never stays a zombie of a
 * long-lived server (SIGCHLD is left alone: ignoring it would break every other
 * waitpid in the process). opts.fd: a descriptor the child gets as fd 3 (the
 * only one it inherits besides 0..2); opts.env: {NAME = value} set in its
 * environment.
 */
static int l_sys_spawn_detached(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *log = luaL_optstring(L, 2, NULL);
    lua_Integer n = luaL_len(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 256, 1, "spawn_detached: argv must have 1..256 strings");
    lua_settop(L, 3); /* opts (or nil) stays at 3 under what is pushed next */
    /* Validate and collect first (raises allocate nothing), then a userdata array. */
    const char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, 1, i) != LUA_TSTRING)
            return luaL_error(L, "spawn_detached: argv[%d] must be a string", (int)i);
        argv[i - 1] = lua_tostring(L, -1); /* anchored by the argv table */
        lua_pop(L, 1);
    }
    argv[n] = NULL;
    char **envp = environ;
    int pass = -1;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "fd") != LUA_TNIL) {
            lua_Integer fd = lua_tointeger(L, -1);
            if (!lua_isinteger(L, -1) || fd < 0 || fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0)
                return luaL_error(L, "spawn_detached: opts.fd must be an open descriptor");
            pass = (int)fd;
        }
        if (lua_getfield(L, 3, "env") != LUA_TNIL) {
            luaL_checktype(L, -1, LUA_TTABLE);
            envp = child_env(L, -1);
        }
    }
    /* The descriptor goes to the child as 3 through a copy numbered above 3, so
       dup2 (which clears close-on-exec) always has a different source. */
    int passed = pass >= 0 ? fcntl(pass, F_DUPFD_CLOEXEC, 10) : -1;
    if (pass >= 0 && passed < 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "spawn_detached: cannot pass descriptor %d: %s", pass, strerror(errno));
        return 2;
    }
    int out = open(log ? log : "/dev/null", log ? O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC : O_WRONLY | O_CLOEXEC,
                   0644);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0) {
        int e = errno;
        if (out >= 0)
            close(out);
        if (in >= 0)
            close(in);
        if (passed >= 0)
            close(passed);
        luaL_pushfail(L);
        lua_pushfstring(L, "spawn_detached: %s: %s", log ? log : "/dev/null", strerror(e));
        return 2;
    }
    pid_t pid;
    int e = gs_spawn(&pid, argv, envp, (const int[3]){in, out, out}, passed, GS_SPAWN_SESSION);
    close(in);
    close(out);
    if (passed >= 0)
        close(passed);
    if (e != 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "spawn_detached: cannot run '%s': %s", argv[0], strerror(e));
        return 2;
    }
    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&ta, 64 * 1024);
    if (pthread_create(&t, &ta, reap, (void *)(intptr_t)pid) != 0)
        fprintf(stderr, "grok-spicy: spawn_detached: no reaper thread; pid %d may stay a zombie\n", (int)pid);
    pthread_attr_destroy(&ta);
    lua_pushinteger(L, (lua_Integer)pid);
    return 1;
}

/* Small facts about the process and the terminal that plain Lua lacks. */
int luaopen_grokspicy_sys(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"isatty", l_sys_isatty},
        {"pid", l_sys_pid},
        {"monotonic", l_sys_monotonic},
        {"mkdir_p", l_sys_mkdir_p},
        {"sha256", l_sys_sha256},
        {"sha256_file", l_sys_sha256_file},
        {"link_or_copy", l_sys_link_or_copy},
        {"sleep", l_sys_sleep},
        {"cpu_count", l_sys_cpu_count},
        {"exe_path", l_sys_exe_path},
        {"spawn_detached", l_sys_spawn_detached},
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
