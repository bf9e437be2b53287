/*
 * http_lua.c — grokspicy.http, the Lua module: http.serve (its option table),
 * http.resolve and the "grokspicy.HttpServer" userdata.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <lauxlib.h>
#include <lualib.h>
#include "grokspicy.h"
#include "gs_internal.h"
#include "gs_util.h"
#include "http_internal.h"
#include "http_parts.h"

#define SERVER_MT "grokspicy.HttpServer"

/* ---- the Lua module ------------------------------------------------------------ */

typedef struct {
    gs_http_server *s;
} lserver;

static gs_http_server *check_server(lua_State *L, const char *op)
{
    lserver *u = luaL_checkudata(L, 1, SERVER_MT);
    if (!u->s)
        luaL_error(L, "%s: server is closed", op);
    return u->s;
}

/* http.serve{host=, port=, app=, output_dir=, db=, token=, flow_script=, threads=, log=, timeout=} -> server | nil, err */
static int l_serve(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    gs_http_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const gs_opts o = {L, "http.serve", "opts.", NULL};
    cfg.host = gs_opt_str(&o, 1, "host", 0, "127.0.0.1", NULL);
    cfg.port = (int)gs_opt_int(&o, 1, "port", 0, 8420, 0, 65535);
    cfg.app = gs_opt_str(&o, 1, "app", 0, "grokspicy.web", NULL);
    cfg.output_dir = gs_opt_str(&o, 1, "output_dir", 0, "output", NULL);
    cfg.db_path = gs_opt_str(&o, 1, "db", 0, NULL, NULL);
    cfg.token = gs_opt_str(&o, 1, "token", 0, NULL, NULL);
    cfg.flow_script = gs_opt_str(&o, 1, "flow_script", 0, NULL, NULL);
    cfg.threads = (int)gs_opt_int(&o, 1, "threads", 0, 2, 1, 64);
    cfg.timeout_s = (int)gs_opt_int(&o, 1, "timeout", 0, 30, 1, 3600);
    cfg.max_connections = (int)gs_opt_int(&o, 1, "max_connections", 0, 16384, 1, 1000000);
    lua_getfield(L, 1, "log");
    cfg.log = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lserver *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->s = NULL;
    luaL_setmetatable(L, SERVER_MT); /* born closed */
    char err[1024];
    u->s = gs_http_start(&cfg, err, sizeof err);
    if (!u->s) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* http.resolve(host) -> the numeric address the server would bind | nil, err */
static int l_resolve(lua_State *L)
{
    char addr[INET6_ADDRSTRLEN], err[1200];
    if (gs_http_resolve(luaL_checkstring(L, 1), addr, sizeof addr, err, sizeof err)) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushstring(L, addr);
    return 1;
}

/* server:port() -> the port it listens on (the one the system picked for port = 0) */
static int l_port(lua_State *L)
{
    lua_pushinteger(L, gs_http_port(check_server(L, "server:port")));
    return 1;
}

/* server:url() -> "http://host:port/", with "?token=T" when a token is set */
static int l_url(lua_State *L)
{
    lua_pushstring(L, gs_http_url(check_server(L, "server:url")));
    return 1;
}

/* server:stop(): ends every stream and stops serving. Idempotent; about 2 s at most. */
static int l_stop(lua_State *L)
{
    gs_http_stop(check_server(L, "server:stop"));
    return 0;
}

/* server:stopped() -> true once stopped (or closed) */
static int l_stopped(lua_State *L)
{
    lserver *u = luaL_checkudata(L, 1, SERVER_MT);
    lua_pushboolean(L, !u->s || gs_http_stopped(u->s));
    return 1;
}

static int l_noop(lua_State *L)
{
    (void)L;
    return 0;
}

/* server:wait([timeout]) -> true when stopped, false on timeout. Waits in 100 ms
 * slices and calls into Lua between them, so the host's Ctrl+C hook can raise. */
static int l_wait(lua_State *L)
{
    gs_http_server *s = check_server(L, "server:wait");
    double timeout = luaL_optnumber(L, 2, -1);
    double t0 = gs_monotonic();
    for (;;) {
        double slice = 0.1;
        if (timeout >= 0) {
            double left = timeout - (gs_monotonic() - t0);
            if (left <= 0) {
                lua_pushboolean(L, gs_http_stopped(s));
                return 1;
            }
            if (left < slice)
                slice = left;
        }
        if (gs_http_wait(s, slice)) {
            lua_pushboolean(L, 1);
            return 1;
        }
        lua_pushcfunction(L, l_noop); /* a call: a pending interrupt hook fires here */
        lua_call(L, 0, 0);
    }
}

/* server:stats() -> {requests, streams_open, streams_parked, events_sent, resyncs, tail_events} */
static int l_stats(lua_State *L)
{
    gs_http_stats st;
    gs_http_get_stats(check_server(L, "server:stats"), &st);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)st.requests);
    lua_setfield(L, -2, "requests");
    lua_pushinteger(L, (lua_Integer)st.streams_open);
    lua_setfield(L, -2, "streams_open");
    lua_pushinteger(L, (lua_Integer)st.streams_parked);
    lua_setfield(L, -2, "streams_parked");
    lua_pushinteger(L, (lua_Integer)st.events_sent);
    lua_setfield(L, -2, "events_sent");
    lua_pushinteger(L, (lua_Integer)st.resyncs);
    lua_setfield(L, -2, "resyncs");
    lua_pushinteger(L, (lua_Integer)st.tail_events);
    lua_setfield(L, -2, "tail_events");
    return 1;
}

/* server:close(), __close, __gc: stops the server and frees it. Idempotent. */
static int l_close(lua_State *L)
{
    lserver *u = luaL_checkudata(L, 1, SERVER_MT);
    gs_http_server *s = u->s;
    u->s = NULL;
    gs_http_free(s);
    return 0;
}

static int l_tostring(lua_State *L)
{
    lserver *u = luaL_checkudata(L, 1, SERVER_MT);
    if (u->s)
        lua_pushfstring(L, "grokspicy.http server (%s)", gs_http_url(u->s));
    else
        lua_pushliteral(L, "grokspicy.http server (closed)");
    return 1;
}

int luaopen_grokspicy_core_http(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"port", l_port},   {"url", l_url},     {"stop", l_stop},   {"wait", l_wait},
        {"stopped", l_stopped}, {"stats", l_stats}, {"close", l_close}, {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", l_close}, {"__close", l_close}, {"__tostring", l_tostring}, {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"serve", l_serve},
        {"resolve", l_resolve},
        {NULL, NULL},
    };
    luaL_newmetatable(L, SERVER_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    lua_pushinteger(L, GS_HTTP_MAX_URL); /* path and query as sent: longer gets 414 */
    lua_setfield(L, -2, "MAX_URL");
    return 1;
}
