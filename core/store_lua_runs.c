/*
 * store_lua_runs.c — grokspicy.store, Lua binding: opening a store, and runs
 * (insert, update, get, list, count with its memo).
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

#include "gs_internal.h"
#include "gs_owner.h"
#include "store_internal.h"

/* store.init_db(path) -> conn | nil, "path: why" */
int l_init_db(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer cache_kb = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        cache_kb = gs_opt_int(&(const gs_opts){L, "init_db", "opts.", NULL}, 2, "cache_kb", 0, 0, 1, 1048576);
    }
    ldb *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->db = NULL;
    luaL_setmetatable(L, DB_MT); /* born closed: a failed open leaves nothing to free */
    char err[GS_STORE_ERRLEN];
    u->db = gs_store_open(path, err, sizeof err);
    if (u->db && cache_kb && gs_store_cache_kb(u->db, (int)cache_kb, err, sizeof err)) {
        gs_store_close(u->db);
        u->db = NULL;
    }
    if (!u->db) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* store.close(conn), conn:close(), __close, __gc: idempotent -> true */
int l_close(lua_State *L)
{
    ldb *u = luaL_checkudata(L, 1, DB_MT);
    gs_store_close(u->db);
    u->db = NULL;
    lua_pushboolean(L, 1);
    return 1;
}

int l_tostring(lua_State *L)
{
    ldb *u = luaL_checkudata(L, 1, DB_MT);
    if (u->db)
        lua_pushfstring(L, "grokspicy.Db (%s)", u->db->path);
    else
        lua_pushliteral(L, "grokspicy.Db (closed)");
    return 1;
}

static int insert_run_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    const char *op = "insert_run";
    char err[GS_STORE_ERRLEN], now[32];
    sqlite3_stmt *st = get_stmt(db, ST_RUN_INSERT, op, err, sizeof err);
    if (!st)
        return raise_msg(L, db, depth, err);
    size_t len;
    const char *concept = lua_tolstring(L, 2, &len);
    gs_store_now_iso(now, sizeof now);
    sqlite3_bind_text64(st, 1, concept, len, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)getpid());
    bind_self_start(st, 4);
    if (step_write(db, st, op, err, sizeof err))
        return raise_msg(L, db, depth, err);
    lua_Integer id = sqlite3_last_insert_rowid(db->h);
    lua_pushinteger(L, id);
    return 1;
}

/* store.insert_run(conn, concept) -> run_id */
int l_insert_run(lua_State *L)
{
    check_open(L, 1);
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    return guarded(L, insert_run_body);
}

int valid_status(const char *s) { return gs_status_known(s); }

static int is_terminal(const char *s) { return gs_status_terminal(s); }

/* update_run's whitelist; updated_at is set by the store. */
static const struct field run_fields[] = {
    {"title", F_STR, 0, 0, NULL}, {"style", F_STR, 0, 0, NULL}, {"aspect_ratio", F_STR, 0, 0, NULL},
    {"color_palette", F_STR, 0, 0, NULL}, {"status", F_STR, 0, 0, NULL},
    {"script_path", F_STR, 0, 0, NULL}, {"final_video_path", F_STR, 0, 0, NULL},
    {"completed_at", F_STR, 0, 0, NULL}, {"error", F_STR, 0, 0, NULL}, {"cost_usd", F_NUM, 0, 0, NULL},
    {"provider", F_STR, 0, 0, NULL}, {"plan_json", F_JOBJ, 0, 0, NULL},
    {"owner_pid", F_INT, 0, 0, NULL}, {"heartbeat_at", F_STR, 0, 0, NULL},
    {"parent_id", F_INT, 0, 0, NULL},
};
#define NRUNF (int)(sizeof run_fields / sizeof run_fields[0])

static int update_run_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    const char *op = "update_run";
    char err[GS_STORE_ERRLEN], now[32];
    lua_Integer run_id = lua_tointeger(L, 2);
    int base = lua_gettop(L); /* conn, id, fields */
    /* Present fields pushed in whitelist order; SET clause built alongside. */
    luaL_Buffer b;
    luaL_buffinit(L, &b); /* buffer sits at base + 1 */
    int present[NRUNF], np = 0, auto_done = 0;
    luaL_addstring(&b, "UPDATE runs SET ");
    for (int i = 0; i < NRUNF; i++) {
        lua_getfield(L, 3, run_fields[i].name);
        int nil = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (nil)
            continue;
        present[np++] = i;
        lua_pushfstring(L, "%s = ?%d, ", run_fields[i].name, np);
        luaL_addvalue(&b);
    }
    lua_getfield(L, 3, "status");
    if (lua_type(L, -1) == LUA_TSTRING && is_terminal(lua_tostring(L, -1))) {
        lua_getfield(L, 3, "completed_at");
        auto_done = lua_isnil(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* completed_at (when the status is terminal and none was given) is now, bound
       once as ?N for both: "= updated_at" would read the row's old value. */
    lua_pushfstring(L, "updated_at = ?%d", np + 1);
    luaL_addvalue(&b);
    if (auto_done) {
        lua_pushfstring(L, ", completed_at = ?%d", np + 1);
        luaL_addvalue(&b);
    }
    lua_pushfstring(L, " WHERE id = ?%d", np + 2);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    int sqlidx = lua_gettop(L);
    for (int k = 0; k < np; k++)
        push_field(L, 3, &run_fields[present[k]], op, "fields");
    if (sqlite3_prepare_v2(db->h, lua_tostring(L, sqlidx), -1, &db->tmp, NULL) != SQLITE_OK)
        return raise_db(L, db, depth, op);
    for (int k = 0; k < np; k++)
        bind_field(L, db->tmp, k + 1, sqlidx + 1 + k, &run_fields[present[k]]);
    gs_store_now_iso(now, sizeof now);
    sqlite3_bind_text(db->tmp, np + 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(db->tmp, np + 2, run_id);
    if (step_write(db, db->tmp, op, err, sizeof err))
        return raise_msg(L, db, depth, err);
    int changed = sqlite3_changes(db->h);
    sqlite3_finalize(db->tmp);
    db->tmp = NULL;
    lua_settop(L, base);
    return push_run_found(L, changed, run_id);
}

/* store.update_run(conn, run_id, fields) -> true | nil, "run N not found", "notfound" */
int l_update_run(lua_State *L)
{
    check_open(L, 1);
    luaL_checkinteger(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    lua_pushnil(L);
    while (lua_next(L, 3)) { /* key, value */
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "update_run: field names must be strings, got %s", luaL_typename(L, -1));
        const char *k = lua_tostring(L, -1);
        int known = 0;
        for (int i = 0; i < NRUNF && !known; i++)
            known = strcmp(run_fields[i].name, k) == 0;
        if (!known)
            return luaL_error(L, "update_run: unknown field '%s'", k);
    }
    for (int i = 0; i < NRUNF; i++) {
        push_field(L, 3, &run_fields[i], "update_run", "fields");
        lua_settop(L, 3);
    }
    lua_getfield(L, 3, "status");
    if (!lua_isnil(L, -1) && !valid_status(lua_tostring(L, -1)))
        return luaL_error(L, "update_run: invalid status '%s' (expected %s)", lua_tostring(L, -1),
                          GS_STATUSES(GS_VOCAB_STR, ", "));
    lua_settop(L, 3);
    return guarded(L, update_run_body);
}

/* Runs st (bound with ?1 = id) and stores its rows as an array in the table on top. */
static void push_children(lua_State *L, gs_db *db, int depth, int id, lua_Integer run_id, const char *field)
{
    char err[GS_STORE_ERRLEN];
    sqlite3_stmt *st = get_stmt(db, id, "get_run", err, sizeof err);
    if (!st)
        raise_msg(L, db, depth, err);
    sqlite3_bind_int64(st, 1, run_id);
    if (push_rows(L, st) != SQLITE_DONE)
        raise_db(L, db, depth, "get_run");
    sqlite3_reset(st);
    lua_setfield(L, -2, field);
}

static int get_run_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    char err[GS_STORE_ERRLEN];
    lua_Integer run_id = lua_tointeger(L, 2);
    sqlite3_stmt *st = get_stmt(db, ST_RUN_GET, "get_run", err, sizeof err);
    if (!st)
        return raise_msg(L, db, depth, err);
    /* One read transaction: the run and its children come from one snapshot. */
    int opened = depth == 0;
    if (opened && tx_begin(db, 0, "get_run", err, sizeof err))
        return raise_msg(L, db, depth, err);
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        push_row(L, st);
        sqlite3_reset(st);
        push_children(L, db, depth, ST_GET_CHARS, run_id, "characters");
        push_children(L, db, depth, ST_GET_SCENES, run_id, "scenes");
        push_children(L, db, depth, ST_GET_CASSETS, run_id, "character_assets");
        push_children(L, db, depth, ST_GET_KASSETS, run_id, "keyframe_assets");
        push_children(L, db, depth, ST_GET_VASSETS, run_id, "video_assets");
        push_children(L, db, depth, ST_GET_FORKS, run_id, "forks");
        if (lua_toboolean(L, 3))
            push_children(L, db, depth, ST_GET_TIMELINE, run_id, "timeline");
        push_ledger(L, db, depth, run_id);
    } else if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        lua_pushnil(L);
    } else {
        return raise_db(L, db, depth, "get_run");
    }
    if (opened && tx_commit(db, "get_run", err, sizeof err))
        return raise_msg(L, db, depth, err);
    return 1;
}

/* store.get_run(conn, id [, {timeline = true}]) -> run table with nested arrays | nil
 * (forks: the runs made from this one, {id, status}, oldest first);
 * timeline adds the run's events (id, type, created_at, data) in order, read
 * in the same snapshot as the rows. */
int l_get_run(lua_State *L)
{
    check_open(L, 1);
    luaL_checkinteger(L, 2);
    int timeline = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "timeline");
        timeline = lua_toboolean(L, -1);
    }
    lua_settop(L, 2);
    lua_pushboolean(L, timeline);
    return guarded(L, get_run_body);
}

/* Validates list_runs/count_runs options; leaves conn, opts(table) on the stack. */
static void check_list_opts(lua_State *L, const char *op, int with_paging)
{
    check_open(L, 1);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    else {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    lua_settop(L, 2);
    const gs_opts o = {L, op, "opts.", NULL};
    gs_opt_str(&o, 2, "status", 0, NULL, NULL);
    gs_opt_str(&o, 2, "q", 0, NULL, NULL);
    if (with_paging) {
        gs_opt_int(&o, 2, "limit", 0, 0, 0, LUA_MAXINTEGER);
        gs_opt_int(&o, 2, "offset", 0, 0, 0, LUA_MAXINTEGER);
    }
}

/* Picks the statement variant for the filters and binds status (?1) and q (?2).
   The status GS_FILTER_UNENDED is the filter of every run not ended (no ?1). */
static int bind_filters(lua_State *L, sqlite3_stmt **stp, gs_db *db, int base_id, int depth, const char *op)
{
    char err[GS_STORE_ERRLEN];
    int has_status = lua_getfield(L, 2, "status") == LUA_TSTRING;
    int has_q = lua_getfield(L, 2, "q") == LUA_TSTRING;
    int unended = has_status && strcmp(lua_tostring(L, 3), GS_VOCAB_STR(GS_FILTER_UNENDED)) == 0;
    int id = base_id + has_status + 2 * has_q;
    if (unended) {
        id = (base_id == ST_LIST0 ? ST_LIST_UNENDED0 : ST_COUNT_UNENDED0) + has_q;
        has_status = 0;
    }
    sqlite3_stmt *st = get_stmt(db, id, op, err, sizeof err);
    if (!st)
        raise_msg(L, db, depth, err);
    if (has_status)
        sqlite3_bind_text(st, 1, lua_tostring(L, 3), -1, SQLITE_STATIC);
    if (has_q)
        sqlite3_bind_text(st, 2, lua_tostring(L, 4), -1, SQLITE_STATIC);
    *stp = st;
    return 0;
}

static int list_runs_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    sqlite3_stmt *st;
    lua_getfield(L, 2, "limit");
    lua_Integer limit = luaL_optinteger(L, -1, 50);
    lua_getfield(L, 2, "offset");
    lua_Integer offset = luaL_optinteger(L, -1, 0);
    lua_pop(L, 2);
    if (limit > 500)
        limit = 500;
    bind_filters(L, &st, db, ST_LIST0, depth, "list_runs");
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_int64(st, 4, offset);
    if (push_rows(L, st) != SQLITE_DONE)
        return raise_db(L, db, depth, "list_runs");
    sqlite3_reset(st);
    return 1;
}

/* store.list_runs(conn, {limit=50, offset=0, status=, q=}) -> array, newest first; status
 * "running" (GS_FILTER_UNENDED) lists every run not ended. Each row has thumb: its
 * first keyframe's path, else its last clip's final frame (nil before either). */
int l_list_runs(lua_State *L)
{
    check_list_opts(L, "list_runs", 1);
    return guarded(L, list_runs_body);
}

/* The memo slot for filters (status, q) at (dv, changes), or NULL; *fits is 0
   when the filters are too long to remember. */
static struct count_memo *memo_find(gs_db *db, const char *status, const char *q, int64_t dv, int64_t changes,
                                    int *fits)
{
    size_t ns = status ? strlen(status) : 0, nq = q ? strlen(q) : 0;
    int filters = (status != NULL) + 2 * (q != NULL);
    *fits = ns < sizeof db->memo[0].status && nq < sizeof db->memo[0].q;
    if (!*fits)
        return NULL;
    for (int i = 0; i < COUNT_MEMOS; i++) {
        struct count_memo *m = &db->memo[i];
        if (m->used && m->filters == filters && m->data_version == dv && m->changes == changes && strcmp(m->status, status ? status : "") == 0 &&
            strcmp(m->q, q ? q : "") == 0)
            return m;
    }
    return NULL;
}

/* COUNT(*) over 100k runs reads the whole index on every call (about 0.4 ms,
   more when the pages are not in SQLite's cache); the dashboard's run list asks
   for it on every page view while the table rarely changes. Outside a
   transaction the result is remembered until the database changes. */
static int count_runs_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    sqlite3_stmt *st;
    char err[GS_STORE_ERRLEN];
    int64_t dv = 0;
    int fits = 0;
    int memo = sqlite3_get_autocommit(db->h) && gs_store_data_version(db, &dv, err, sizeof err) == 0;
    int64_t changes = sqlite3_total_changes64(db->h);
    const char *status = lua_getfield(L, 2, "status") == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    const char *q = lua_getfield(L, 2, "q") == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 2); /* the strings stay alive in opts */
    if (memo) {
        struct count_memo *m = memo_find(db, status, q, dv, changes, &fits);
        if (m) {
            lua_pushinteger(L, m->count);
            return 1;
        }
    }
    bind_filters(L, &st, db, ST_COUNT0, db->depth, "count_runs");
    if (sqlite3_step(st) != SQLITE_ROW)
        return raise_db(L, db, db->depth, "count_runs");
    int64_t count = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (memo && fits) {
        struct count_memo *m = &db->memo[db->memo_next++ % COUNT_MEMOS];
        m->used = 1;
        m->filters = (status != NULL) + 2 * (q != NULL);
        m->data_version = dv;
        m->changes = changes;
        m->count = count;
        snprintf(m->status, sizeof m->status, "%s", status ? status : "");
        snprintf(m->q, sizeof m->q, "%s", q ? q : "");
    }
    lua_pushinteger(L, count);
    return 1;
}

/* store.count_runs(conn, {status=, q=}) -> integer; status as list_runs takes it */
int l_count_runs(lua_State *L)
{
    check_list_opts(L, "count_runs", 0);
    return guarded(L, count_runs_body);
}
