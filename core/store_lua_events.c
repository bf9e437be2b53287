/*
 * store_lua_events.c — grokspicy.store, Lua binding: events, heartbeats, the
 * dead-run sweep, cancel requests, run ownership, transactions and clocks.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

#include "gs_owner.h"
#include "store_internal.h"

static int append_event_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    char err[GS_STORE_ERRLEN];
    lua_getfield(L, 2, "run_id");
    int64_t run_id = lua_isnil(L, -1) ? 0 : lua_tointeger(L, -1);
    lua_getfield(L, 2, "type");
    const char *type = lua_tostring(L, -1);
    lua_getfield(L, 2, "html");
    const char *html = lua_tostring(L, -1);
    lua_getfield(L, 2, "created_at");
    const char *created_at = lua_tostring(L, -1);
    const char *data = NULL;
    if (lua_getfield(L, 2, "data") != LUA_TNIL)
        data = push_json(L, -1, 0, "append_event", "data");
    int64_t id;
    if (append_event_at(db, run_id, type, data, html, created_at, &id, err, sizeof err))
        return raise_msg(L, db, db->depth, err);
    lua_pushinteger(L, id);
    return 1;
}

/* A stored timestamp: "2026-11-26T23:31:02.120Z" (what store.now gives). */
static int is_iso_time(const char *s, size_t len)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (len != sizeof shape - 1)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    return 1;
}

/* store.append_event(conn, {run_id=, type=, data=, html=, created_at=}) -> id;
 * created_at (default now) lets a caller render the event's fragment with the
 * very time the event will carry. */
int l_append_event(lua_State *L)
{
    check_open(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    int t = lua_getfield(L, 2, "type");
    if (t != LUA_TSTRING || lua_rawlen(L, -1) == 0)
        return luaL_error(L, "append_event: event.type must be a non-empty string, got %s", luaL_typename(L, -1));
    t = lua_getfield(L, 2, "run_id");
    if (t != LUA_TNIL && !lua_isinteger(L, -1))
        return luaL_error(L, "append_event: event.run_id must be an integer, got %s", luaL_typename(L, -1));
    t = lua_getfield(L, 2, "html");
    if (t != LUA_TNIL && t != LUA_TSTRING)
        return luaL_error(L, "append_event: event.html must be a string, got %s", luaL_typename(L, -1));
    t = lua_getfield(L, 2, "data");
    if (t != LUA_TNIL && t != LUA_TSTRING && t != LUA_TTABLE)
        return luaL_error(L, "append_event: event.data must be a table or a JSON string, got %s",
                          luaL_typename(L, -1));
    t = lua_getfield(L, 2, "created_at");
    size_t tlen = 0;
    const char *tval = t == LUA_TSTRING ? lua_tolstring(L, -1, &tlen) : NULL;
    if (t != LUA_TNIL && (!tval || !is_iso_time(tval, tlen)))
        return luaL_error(L, "append_event: event.created_at must be a time as store.now() gives it");
    lua_settop(L, 2);
    return guarded(L, append_event_body);
}

static int events_since_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    char err[GS_STORE_ERRLEN];
    lua_Integer run_id = lua_tointeger(L, 2);
    sqlite3_stmt *st = get_stmt(db, run_id > 0 ? ST_EVENTS_RUN : ST_EVENTS_ALL, "events_since", err, sizeof err);
    if (!st)
        return raise_msg(L, db, db->depth, err);
    if (run_id > 0)
        sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, lua_tointeger(L, 3));
    sqlite3_bind_int64(st, 3, lua_tointeger(L, 4));
    if (push_rows(L, st) != SQLITE_DONE) /* "data" is decoded by push_row */
        return raise_db(L, db, db->depth, "events_since");
    sqlite3_reset(st);
    return 1;
}

/* store.events_since(conn, run_id|nil, after_id=0, limit=1000) -> array of events, in id order */
int l_events_since(lua_State *L)
{
    check_open(L, 1);
    lua_Integer run_id = luaL_opt(L, luaL_checkinteger, 2, 0);
    lua_Integer after = luaL_optinteger(L, 3, 0);
    lua_Integer limit = luaL_optinteger(L, 4, 1000);
    luaL_argcheck(L, limit >= 0, 4, "limit must be >= 0");
    if (limit > 10000)
        limit = 10000;
    lua_settop(L, 1);
    lua_pushinteger(L, run_id);
    lua_pushinteger(L, after);
    lua_pushinteger(L, limit);
    return guarded(L, events_since_body);
}

/* store.max_event_id(conn [, run_id]) -> the newest event id (of that run), 0 when none */
int l_max_event_id(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer run_id = luaL_opt(L, luaL_checkinteger, 2, 0);
    char err[GS_STORE_ERRLEN];
    int64_t v;
    if (gs_store_max_event_id(db, run_id, &v, err, sizeof err))
        return raise_msg(L, db, db->depth, err);
    lua_pushinteger(L, v);
    return 1;
}

/* store.data_version(conn) -> SQLite's PRAGMA data_version: changes whenever another connection
 * commits */
int l_data_version(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    char err[GS_STORE_ERRLEN];
    int64_t v;
    if (gs_store_data_version(db, &v, err, sizeof err))
        return raise_msg(L, db, db->depth, err);
    lua_pushinteger(L, v);
    return 1;
}

/* store.heartbeat(conn, run_id) -> true | nil, "run N not found", "notfound" */
int l_heartbeat(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer run_id = luaL_checkinteger(L, 2);
    char err[GS_STORE_ERRLEN];
    int rc = gs_store_heartbeat(db, run_id, err, sizeof err);
    if (rc < 0)
        return raise_msg(L, db, db->depth, err);
    return push_run_found(L, rc != 0, run_id);
}

/* store.mark_interrupted(conn [, stale_seconds=60]) -> number of runs marked */
int l_mark_interrupted(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    double stale = (double)luaL_optnumber(L, 2, STALE_DEFAULT);
    char err[GS_STORE_ERRLEN];
    int n = gs_store_mark_interrupted(db, stale, err, sizeof err);
    if (n < 0)
        return raise_msg(L, db, db->depth, err);
    lua_pushinteger(L, n);
    return 1;
}

/* store.request_cancel(conn, run_id) -> true | nil, "run N is not running", "notrunning" */
int l_request_cancel(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer run_id = luaL_checkinteger(L, 2);
    char err[GS_STORE_ERRLEN];
    int rc = gs_store_request_cancel(db, run_id, err, sizeof err);
    if (rc < 0)
        return raise_msg(L, db, db->depth, err);
    if (rc == 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "run %I is not running", run_id);
        lua_pushliteral(L, "notrunning");
        return 3;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* store.cancel_requested(conn, run_id) -> boolean (cheap: one column of one row) */
int l_cancel_requested(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer run_id = luaL_checkinteger(L, 2);
    char err[GS_STORE_ERRLEN];
    int rc = gs_store_cancel_requested(db, run_id, err, sizeof err);
    if (rc < 0)
        return raise_msg(L, db, db->depth, err);
    lua_pushboolean(L, rc);
    return 1;
}

/* Pushes a refusal: nil, "run N cannot be claimed: <reason>" (or err when it
   says more), and the reason's name. */
static int push_refusal(lua_State *L, lua_Integer run_id, int why, const char *err)
{
    luaL_pushfail(L);
    if (err && *err)
        lua_pushstring(L, err);
    else
        lua_pushfstring(L, "run %I cannot be claimed: %s", run_id, gs_store_claim_reason(why));
    lua_pushstring(L, gs_store_claim_reason(why));
    return 3;
}

static gs_db *check_no_tx(lua_State *L, const char *op)
{
    gs_db *db = check_open(L, 1);
    if (db->depth)
        luaL_error(L, "%s: cannot run inside a transaction (the lock would outlive a rollback)", op);
    return db;
}

/* store.claim_run(conn, run_id [, lock_path]) -> true | nil, message, reason: this
 * process becomes the owner of a failed, interrupted or cancelled run whose
 * owner is gone (gs_store_claim_run). reason: "missing", "complete", "running",
 * "not_resumable", "gone" (its folder was deleted), "held". */
int l_claim_run(lua_State *L)
{
    gs_db *db = check_no_tx(L, "claim_run");
    lua_Integer run_id = luaL_checkinteger(L, 2);
    const char *lock = luaL_optstring(L, 3, NULL);
    char err[GS_STORE_ERRLEN] = "";
    int why = 0;
    int rc = gs_store_claim_run(db, run_id, lock, &why, err, sizeof err);
    if (rc < 0)
        return luaL_error(L, "%s", err);
    if (rc == 0)
        return push_refusal(L, run_id, why, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* store.busy_timeout(conn [, ms]) -> the wait before this call, in ms: how long
 * SQLite waits on another process's lock before a statement fails with
 * "database is locked" (10000 when opened). A caller bounding its own total
 * wait retries in short slices instead of whole 10 s waits. */
int l_busy_timeout(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    lua_Integer ms = -1; /* none: only read it */
    if (!lua_isnoneornil(L, 2)) {
        ms = luaL_checkinteger(L, 2);
        luaL_argcheck(L, ms >= 0 && ms <= INT_MAX, 2, "busy_timeout: ms must be 0..2^31-1");
    }
    int ok;
    int64_t before = query_int(db, "PRAGMA busy_timeout", NULL, &ok);
    if (!ok)
        return luaL_error(L, "busy_timeout: %s", sqlite3_errmsg(db->h));
    if (ms >= 0)
        sqlite3_busy_timeout(db->h, (int)ms);
    lua_pushinteger(L, before);
    return 1;
}

/* store.adopt_run(conn, run_id, fd) -> true | nil, message, reason: takes over
 * the claim a spawning process made for us, through the inherited descriptor fd
 * (gs_store_adopt_run); reason as claim_run's, or "not_handed". */
int l_adopt_run(lua_State *L)
{
    gs_db *db = check_no_tx(L, "adopt_run");
    lua_Integer run_id = luaL_checkinteger(L, 2);
    lua_Integer fd = luaL_checkinteger(L, 3);
    luaL_argcheck(L, fd >= 0 && fd <= INT_MAX, 3, "adopt_run: fd must be a descriptor number");
    char err[GS_STORE_ERRLEN] = "";
    int why = 0;
    int rc = gs_store_adopt_run(db, run_id, (int)fd, &why, err, sizeof err);
    if (rc < 0)
        return luaL_error(L, "%s", err);
    if (rc == 0)
        return push_refusal(L, run_id, why, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* store.own_run(conn, run_id, lock_path) -> true | nil, message, code ("notrunning",
 * or a failure's code as store.try gives it, "db" for another): the lock of a
 * run this process just started (gs_store_own_run). */
int l_own_run(lua_State *L)
{
    gs_db *db = check_no_tx(L, "own_run");
    lua_Integer run_id = luaL_checkinteger(L, 2);
    const char *lock = luaL_checkstring(L, 3);
    char err[GS_STORE_ERRLEN] = "";
    db->fail_rc = 0;
    int rc = gs_store_own_run(db, run_id, lock, err, sizeof err);
    if (rc == 1) {
        lua_pushboolean(L, 1);
        return 1;
    }
    luaL_pushfail(L);
    if (rc == 0)
        lua_pushfstring(L, "run %I is not running", run_id);
    else
        lua_pushstring(L, err);
    const char *code = rc == 0 ? "notrunning" : fail_code(db->fail_rc);
    lua_pushstring(L, code ? code : "db");
    return 3;
}

/* store.release_run(run_id) -> boolean: lets go of the run's lock (this
 * process's; a child that inherited it keeps it). */
int l_release_run(lua_State *L)
{
    lua_pushboolean(L, gs_owner_release(luaL_checkinteger(L, 1)));
    return 1;
}

/* store.owner_fd(run_id) -> descriptor of the run's lock this process holds | nil */
int l_owner_fd(lua_State *L)
{
    int fd = gs_owner_fd(luaL_checkinteger(L, 1));
    if (fd < 0)
        luaL_pushfail(L);
    else
        lua_pushinteger(L, fd);
    return 1;
}

/* store.owner_identity([pid]) -> "<start ticks>@<boot id>" | nil: what owner_start records. */
int l_owner_identity(lua_State *L)
{
    lua_Integer pid = luaL_optinteger(L, 1, (lua_Integer)getpid());
    char id[GS_OWNER_IDLEN];
    if (pid <= 0 || pid > INT_MAX || gs_owner_identity((pid_t)pid, id, sizeof id) != 0)
        luaL_pushfail(L);
    else
        lua_pushstring(L, id);
    return 1;
}

/* store.integrity_check(conn) -> "ok" | the problems SQLite lists, one per line */
int l_integrity_check(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return luaL_error(L, "integrity_check: %s", sqlite3_errmsg(db->h));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int rc, rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++)
            luaL_addchar(&b, '\n');
        const char *t = (const char *)sqlite3_column_text(st, 0);
        luaL_addstring(&b, t ? t : "");
    }
    if (rc != SQLITE_DONE) {
        lua_pushfstring(L, "integrity_check: %s", sqlite3_errmsg(db->h));
        sqlite3_finalize(st);
        return lua_error(L); /* the buffer is on the stack, nothing held */
    }
    sqlite3_finalize(st);
    luaL_pushresult(&b);
    return 1;
}

/* store.try(conn, fn, ...) -> true, fn's results | nil, message, code. fn(...)
 * runs protected; a failure of this connection's database that a caller can
 * expect comes back with its stable code: "busy" (locked by another
 * connection past busy_timeout), "full", "readonly", "io", "corrupt",
 * "cantopen", "nomem". fn rolled back what it opened (every store call and
 * transaction does). Any other error, and a Ctrl+C, is raised again as it is. */
int l_try(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    db->fail_rc = 0;
    int nargs = lua_gettop(L) - 2;
    if (lua_pcall(L, nargs, LUA_MULTRET, 0) == LUA_OK) { /* conn, results... */
        lua_pushboolean(L, 1);
        lua_replace(L, 1);
        return lua_gettop(L);
    }
    db = arg_db(L);
    const char *code = db ? fail_code(db->fail_rc) : NULL;
    if (!code || lua_type(L, -1) != LUA_TSTRING)
        return lua_error(L);
    luaL_pushfail(L);
    lua_insert(L, -2);
    lua_pushstring(L, code);
    return 3;
}

/* store.transaction(conn, fn) -> fn's results; nested calls are savepoints. */
int l_transaction(lua_State *L)
{
    gs_db *db = check_open(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    char err[GS_STORE_ERRLEN];
    if (tx_begin(db, 1, "transaction", err, sizeof err))
        return luaL_error(L, "%s", err);
    int level = db->depth;
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 1);
    int status = lua_pcall(L, 1, LUA_MULTRET, 0);
    db = arg_db(L);
    if (!db) { /* closed inside fn: SQLite rolled the transaction back */
        if (status != LUA_OK)
            return lua_error(L);
        return luaL_error(L, "transaction: the connection was closed inside the transaction");
    }
    if (status != LUA_OK) {
        abort_op(db, level - 1);
        return lua_error(L);
    }
    if (tx_commit(db, "transaction", err, sizeof err)) {
        abort_op(db, level - 1);
        return luaL_error(L, "%s", err);
    }
    return lua_gettop(L) - 2;
}

/* store.now() -> the time now as the store writes it (ISO 8601 UTC, milliseconds) */
int l_now(lua_State *L)
{
    char buf[32];
    gs_store_now_iso(buf, sizeof buf);
    lua_pushstring(L, buf);
    return 1;
}

/* store.monotonic() -> seconds on the monotonic clock, for elapsed times */
int l_monotonic(lua_State *L)
{
    lua_pushnumber(L, gs_store_monotonic());
    return 1;
}
