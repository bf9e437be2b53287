/*
 * http_app.c — grokspicy.http, the web app: the Lua states that run it (one
 * per worker thread, created here, never the caller's), the request handed to
 * app.handle as a table, and its answer turned into a response (a zip answer
 * goes to http_bundle.c).
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
#include <lauxlib.h>
#include <lualib.h>
#include "grokspicy.h"
#include "gs_internal.h"
#include "http_internal.h"
#include "http_parts.h"

/* ---- Lua states ------------------------------------------------------------ */

int lua_new_state(gs_http_server *s, struct lstate *ls, char *err, size_t errlen)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errlen, "http.serve: out of memory");
        return -1;
    }
    luaL_openlibs(L);
    gs_openlibs(L);
    ls->L = L;
    /* local app = require(app); app.init{output_dir=, db=, token=}; keep app.handle */
    lua_getglobal(L, "require");
    lua_pushstring(L, s->app);
    if (gs_pcall(L, 1, 1) != LUA_OK)
        goto fail;
    if (!lua_istable(L, -1)) {
        lua_pushfstring(L, "module '%s' did not return a table", s->app);
        goto fail;
    }
    if (lua_getfield(L, -1, "init") == LUA_TFUNCTION) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, s->output_dir);
        lua_setfield(L, -2, "output_dir");
        lua_pushstring(L, s->db_path);
        lua_setfield(L, -2, "db");
        if (s->token) {
            lua_pushstring(L, s->token);
            lua_setfield(L, -2, "token");
        }
        if (s->flow_script) {
            lua_pushstring(L, s->flow_script);
            lua_setfield(L, -2, "flow_script");
        }
        if (gs_pcall(L, 1, 0) != LUA_OK)
            goto fail;
    } else {
        lua_pop(L, 1);
    }
    if (lua_getfield(L, -1, "handle") != LUA_TFUNCTION) {
        lua_pushfstring(L, "module '%s' has no handle function", s->app);
        goto fail;
    }
    ls->handle_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);
    return 0;
fail:
    snprintf(err, errlen, "http.serve: %s: %s", s->app, lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    return -1;
}

static struct lstate *pool_take(gs_http_server *s)
{
    pthread_mutex_lock(&s->pool_mu);
    for (;;) {
        for (int i = 0; i < s->nstates; i++) {
            if (!s->states[i].busy && s->states[i].L) {
                s->states[i].busy = 1;
                pthread_mutex_unlock(&s->pool_mu);
                return &s->states[i];
            }
        }
        pthread_cond_wait(&s->pool_cv, &s->pool_mu);
    }
}

static void pool_give(gs_http_server *s, struct lstate *ls)
{
    pthread_mutex_lock(&s->pool_mu);
    ls->busy = 0;
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

struct kv_ctx {
    lua_State *L;
    int lower, decode;
};

void gs_http_push_query_pair(lua_State *L, const char *key, const char *value)
{
    /* The scratch is a userdata on the stack: Lua frees it if a push below
     * raises (out of memory), and it stays valid until it is popped. */
    size_t kn = strlen(key), vn = strlen(value);
    char *kb = lua_newuserdatauv(L, kn + vn + 2, 0);
    char *vb = kb + kn + 1;
    long kl = gs_http_decode(key, kn, kb, 1);
    long vl = gs_http_decode(value, vn, vb, 1);
    if (kl < 0)
        lua_pushstring(L, key);
    else
        lua_pushlstring(L, kb, (size_t)kl);
    if (vl < 0)
        lua_pushstring(L, value);
    else
        lua_pushlstring(L, vb, (size_t)vl);
    lua_rawset(L, -4); /* the table, the scratch, key, value */
    lua_pop(L, 1);
}

static enum MHD_Result push_kv(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct kv_ctx *k = cls;
    lua_State *L = k->L;
    if (!key)
        return MHD_YES;
    if (!value)
        value = "";
    if (k->decode) { /* query: both halves percent-decoded; bad escapes stay raw */
        gs_http_push_query_pair(L, key, value);
        return MHD_YES;
    } else if (k->lower) {
        size_t n = strlen(key);
        luaL_Buffer b;
        char *p = luaL_buffinitsize(L, &b, n);
        for (size_t i = 0; i < n; i++)
            p[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
        luaL_pushresultsize(&b, n);
        lua_pushstring(L, value);
    } else {
        lua_pushstring(L, key);
        lua_pushstring(L, value);
    }
    lua_rawset(L, -3);
    return MHD_YES;
}

/* Builds req = {method, path, raw_path, query, headers, cookies, body} and calls app.handle. */
static int call_handler(lua_State *L)
{
    struct MHD_Connection *c = lua_touserdata(L, 1);
    struct req *rq = lua_touserdata(L, 2);
    const char *method = lua_tostring(L, 3), *path = lua_tostring(L, 4), *raw = lua_tostring(L, 5);
    lua_rawgeti(L, LUA_REGISTRYINDEX, (lua_Integer)lua_tointeger(L, 6));
    lua_createtable(L, 0, 7);
    lua_pushstring(L, method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, raw);
    lua_setfield(L, -2, "raw_path");
    struct kv_ctx k = {L, 0, 1};
    lua_newtable(L);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, push_kv, &k);
    lua_setfield(L, -2, "query");
    k.decode = 0;
    k.lower = 1;
    lua_newtable(L);
    MHD_get_connection_values(c, MHD_HEADER_KIND, push_kv, &k);
    lua_setfield(L, -2, "headers");
    k.lower = 0;
    lua_newtable(L);
    MHD_get_connection_values(c, MHD_COOKIE_KIND, push_kv, &k);
    lua_setfield(L, -2, "cookies");
    if (rq->body.p) {
        lua_pushlstring(L, rq->body.p, rq->body.len);
        lua_setfield(L, -2, "body");
    }
    lua_call(L, 1, 1);
    return 1;
}

static int add_header_ok(const char *k, const char *v)
{
    return !strpbrk(k, "\r\n:") && !strpbrk(v, "\r\n") && *k;
}

enum MHD_Result serve_lua(gs_http_server *s, struct MHD_Connection *c, struct req *rq, const char *method,
                          const char *path, const char *raw, const char *cookie)
{
    struct lstate *ls = pool_take(s);
    lua_State *L = ls->L;
    lua_settop(L, 0);
    lua_pushcfunction(L, call_handler);
    lua_pushlightuserdata(L, c);
    lua_pushlightuserdata(L, rq);
    lua_pushstring(L, method);
    lua_pushstring(L, path);
    lua_pushstring(L, raw);
    lua_pushinteger(L, ls->handle_ref);
    struct MHD_Response *r = NULL;
    unsigned status = 500, zip_status = 500;
    const char *fail = NULL;
    char zip_err[600];
    int zip_failed = 0;
    if (gs_pcall(L, 6, 1) != LUA_OK) {
        fail = lua_tostring(L, -1);
    } else if (!lua_istable(L, -1)) {
        fail = "handler did not return a table";
    } else {
        lua_getfield(L, 1, "status");
        lua_Integer st = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : lua_isnil(L, -1) ? 200 : 0;
        lua_getfield(L, 1, "body");
        size_t blen = 0;
        const char *body = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &blen) : NULL;
        if (st < 100 || st > 599)
            fail = "handler returned an invalid status";
        else if (!body && !lua_isnil(L, -1))
            fail = "handler returned a non-string body";
        else if (lua_getfield(L, 1, "zip") == LUA_TTABLE) { /* a run's files, streamed (http_bundle.c) */
            struct gs_bundle *b = gs_bundle_from_lua(s, L, -1, &zip_status, zip_err, sizeof zip_err);
            if (b)
                r = gs_bundle_response(b, zip_err, sizeof zip_err);
            if (r)
                status = (unsigned)st;
            else
                zip_failed = 1;
        } else {
            status = (unsigned)st;
            r = MHD_create_response_from_buffer(blen, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
        }
        if (r) {
            if (lua_getfield(L, 1, "headers") == LUA_TTABLE) {
                lua_pushnil(L);
                while (lua_next(L, -2)) {
                    if (lua_type(L, -2) == LUA_TSTRING && (lua_type(L, -1) == LUA_TSTRING || lua_isnumber(L, -1))) {
                        const char *hk = lua_tostring(L, -2);
                        const char *hv = lua_tostring(L, -1);
                        if (add_header_ok(hk, hv))
                            MHD_add_response_header(r, hk, hv);
                    }
                    lua_pop(L, 1);
                }
            }
        }
    }
    if (fail) {
        fprintf(stderr, "grok-spicy http: %s %s: %s\n", method, path, fail);
        if (r)
            MHD_destroy_response(r);
        lua_settop(L, 0);
        pool_give(s, ls);
        return send_error(rq, c, 500, path, "Internal Server Error: the handler failed (see the server log)",
                          NULL);
    }
    lua_settop(L, 0);
    pool_give(s, ls);
    if (zip_failed) {
        fprintf(stderr, "grok-spicy http: %s %s: %s\n", method, path, zip_err);
        return send_error(rq, c, zip_status, path, zip_err, NULL);
    }
    if (r && cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    return queue(rq, c, status, r);
}
