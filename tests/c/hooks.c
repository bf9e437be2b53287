/*
 * hooks.c — the Lua module grokspicy_test_hooks: what the tests and
 * benchmarks need from C that the product must not ship. Built only with the
 * tests (build/tests/grokspicy_test_hooks.so); loaded by the grok-spicy binary
 * through package.cpath, its gs_* calls resolve to the binary's own (it is
 * linked with exported symbols).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "gs_bus.h"
#include "gs_util.h"

int luaopen_grokspicy_test_hooks(lua_State *L);

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

struct later {
    gs_bus *bus;
    double delay, interval;
    lua_Integer n;
};

static void *later_main(void *p)
{
    struct later *a = p;
    sleep_s(a->delay);
    for (lua_Integer i = 0; i < a->n; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%lld", (long long)gs_monotonic_ns());
        if (gs_bus_publish(a->bus, "bench", 0, (int64_t)i + 1, buf, (size_t)len, NULL, 0) == GS_BUS_CLOSED)
            break;
        sleep_s(a->interval);
    }
    gs_bus_release(a->bus);
    free(a);
    return NULL;
}

/* hooks.publish_later(delay_s, n, interval_s) -> true | nil, err: a detached C
 * thread publishes n "bench" events on the default bus (id 1..n, data =
 * CLOCK_MONOTONIC ns at publish time, as a string): the cross-thread path. */
static int l_publish_later(lua_State *L)
{
    double delay = (double)luaL_checknumber(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    double interval = (double)luaL_optnumber(L, 3, 0);
    struct later *a = malloc(sizeof *a);
    if (!a)
        return luaL_error(L, "publish_later: out of memory");
    a->bus = gs_bus_retain(gs_bus_default());
    a->delay = delay;
    a->interval = interval;
    a->n = n;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&th, &attr, later_main, a);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        gs_bus_release(a->bus);
        free(a);
        luaL_pushfail(L);
        lua_pushfstring(L, "publish_later: %s", strerror(e));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

int luaopen_grokspicy_test_hooks(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"publish_later", l_publish_later},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
