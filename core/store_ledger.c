/*
 * store_ledger.c — grokspicy.store: the money ledger, its C API
 * (gs_store_record_charge) and its Lua face (record_charge, the ledger of get_run).
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

/* ---------------------------------------------------------------- ledger */

/*
 * The money ledger: one row per billed request, keyed by (run_id, request_id),
 * written when the answer arrives; an estimated row (a list price) is settled
 * by a later update. runs.cost_usd is the ledger's sum, refreshed with every
 * write. The table is additive: it is created when missing at open, whatever
 * the schema version, so it needs no migration step of its own.
 */
static const char ledger_schema[] =
    "CREATE TABLE IF NOT EXISTS ledger ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " step TEXT NOT NULL, asset TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',"
    " request_id TEXT NOT NULL, ticks INTEGER NOT NULL, estimated INTEGER NOT NULL DEFAULT 0,"
    " outcome TEXT NOT NULL, detail TEXT, created_at TEXT NOT NULL, settled_at TEXT,"
    " UNIQUE (run_id, request_id))";

int ledger_ensure(gs_db *db, char *err, size_t n)
{
    int ok;
    if (query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", "ledger", &ok) > 0 && ok)
        return 0;
    if (exec(db, "BEGIN IMMEDIATE", "ledger", err, n))
        return -1;
    if (exec(db, ledger_schema, "ledger", err, n)) {
        exec(db, "ROLLBACK", "ledger", NULL, 0);
        return -1;
    }
    return exec(db, "COMMIT", "ledger", err, n);
}

/* Outcomes that are not failed attempts (gs_provider.h lists them all). */
#define LEDGER_FAILED "outcome NOT IN ('ok', 'pending')"

static int ledger_step(gs_db *db, const char *sql, int64_t run_id, const gs_store_charge *c, const char *now,
                       int *changed, const char *op, char *err, size_t n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, err, n, op);
    sqlite3_bind_int64(st, 1, run_id);
    bind_opt_text(st, 2, c->request_id);
    sqlite3_bind_int64(st, 3, c->ticks);
    sqlite3_bind_int(st, 4, c->estimated);
    bind_opt_text(st, 5, c->outcome);
    bind_opt_text(st, 6, c->detail && *c->detail ? c->detail : NULL);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 8) {
        bind_opt_text(st, 8, c->step);
        bind_opt_text(st, 9, c->asset);
        bind_opt_text(st, 10, c->endpoint);
        sqlite3_bind_text(st, 11, c->model ? c->model : "", -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        fail_db(db, err, n, op);
    else if (changed)
        *changed = sqlite3_changes(db->h);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int gs_store_record_charge(gs_db *db, int64_t run_id, const gs_store_charge *c, char *err, size_t n)
{
    const char *op = "record_charge";
    if (!c->request_id || !*c->request_id || !c->step || !c->asset || !c->endpoint || !c->outcome)
        return fail(err, n, "%s: a charge needs step, asset, endpoint, request_id and outcome", op);
    char now[32];
    gs_store_now_iso(now, sizeof now);
    int opened = op_begin(db, 1, op, err, n);
    if (opened < 0)
        return -1;
    int changed = 0, rc = 0;
    /* a final outcome settles the row; pending and abandoned leave it open */
    static const char settle[] = "CASE WHEN ?5 IN ('pending', 'abandoned') THEN NULL ELSE ?7 END";
    if (c->update)
        rc = ledger_step(db, "UPDATE ledger SET ticks = CASE WHEN ?3 >= 0 THEN ?3 ELSE ticks END,"
                         " estimated = CASE WHEN ?4 >= 0 THEN ?4 ELSE estimated END, outcome = ?5, detail = ?6,"
                         " settled_at = CASE WHEN ?5 IN ('pending', 'abandoned') THEN settled_at ELSE ?7 END"
                         " WHERE run_id = ?1 AND request_id = ?2",
                         run_id, c, now, &changed, op, err, n);
    if (rc == 0 && !changed) {
        /* a new charge, or an update whose row another process never wrote;
           one already recorded (a replay) stays as it is */
        char *sql = sqlite3_mprintf("INSERT INTO ledger (run_id, request_id, ticks, estimated, outcome, detail,"
                                    " created_at, settled_at, step, asset, endpoint, model)"
                                    " VALUES (?1, ?2, max(?3, 0), max(?4, 0), ?5, ?6, ?7, %s, ?8, ?9, ?10, ?11)"
                                    " ON CONFLICT (run_id, request_id) DO NOTHING", settle);
        rc = sql ? ledger_step(db, sql, run_id, c, now, NULL, op, err, n) : fail(err, n, "%s: out of memory", op);
        sqlite3_free(sql);
    }
    if (rc == 0)
        rc = write_once(db, "UPDATE runs SET cost_usd = (SELECT coalesce(sum(ticks), 0) FROM ledger WHERE run_id = ?1)"
                        " / 1e10 WHERE id = ?1", run_id, op, err, n) < 0 ? -1 : 0;
    return op_end(db, opened, rc == 0, op, err, n);
}

/* ---------------------------------------------------------------- ledger (Lua) */

/* Runs sql (?1 = run_id) into a new array at field of the table on top. */
static void push_ledger_query(lua_State *L, gs_db *db, int depth, lua_Integer run_id, const char *sql,
                              const char *field)
{
    if (sqlite3_prepare_v2(db->h, sql, -1, &db->tmp, NULL) != SQLITE_OK)
        raise_db(L, db, depth, "get_run");
    sqlite3_bind_int64(db->tmp, 1, run_id);
    if (push_rows(L, db->tmp) != SQLITE_DONE)
        raise_db(L, db, depth, "get_run");
    sqlite3_finalize(db->tmp);
    db->tmp = NULL;
    lua_setfield(L, -2, field);
}

#define LEDGER_SUM(key)                                                                                          \
    "SELECT " key ", sum(ticks) AS ticks, count(*) AS requests,"                                                 \
    " sum(CASE WHEN " LEDGER_FAILED " THEN ticks ELSE 0 END) AS failed_ticks,"                                   \
    " sum(CASE WHEN " LEDGER_FAILED " THEN 1 ELSE 0 END) AS failed_requests,"                                    \
    " sum(CASE WHEN estimated THEN ticks ELSE 0 END) AS estimated_ticks"                                         \
    " FROM ledger WHERE run_id = ?1 GROUP BY " key " ORDER BY min(id)"

/* get_run's run.ledger (every row, oldest first) and run.costs = {assets =
 * {{asset, ticks, requests, failed_ticks, failed_requests, estimated_ticks}},
 * steps = {... by step}}: what the run page and the API show. */
void push_ledger(lua_State *L, gs_db *db, int depth, lua_Integer run_id)
{
    push_ledger_query(L, db, depth, run_id,
                      "SELECT id, step, asset, endpoint, model, request_id, ticks, estimated, outcome, detail,"
                      " created_at, settled_at FROM ledger WHERE run_id = ?1 ORDER BY id",
                      "ledger");
    lua_createtable(L, 0, 2);
    push_ledger_query(L, db, depth, run_id, LEDGER_SUM("asset"), "assets");
    push_ledger_query(L, db, depth, run_id, LEDGER_SUM("step"), "steps");
    lua_setfield(L, -2, "costs");
}

static const char *charge_str(lua_State *L, int t, const char *key, int required)
{
    int ty = lua_getfield(L, t, key);
    const char *s = ty == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (ty != LUA_TSTRING && (required || ty != LUA_TNIL))
        luaL_error(L, "record_charge: charge.%s must be a string, got %s", key, luaL_typename(L, -1));
    if (required && !*s)
        luaL_error(L, "record_charge: charge.%s must not be empty", key);
    lua_pop(L, 1); /* the string stays alive in the charge table */
    return s;
}

/* Reads the charge at index 3 (raises on a bad field; allocates nothing). */
static void read_charge(lua_State *L, gs_store_charge *c)
{
    luaL_checktype(L, 3, LUA_TTABLE);
    memset(c, 0, sizeof *c);
    c->step = charge_str(L, 3, "step", 1);
    c->asset = charge_str(L, 3, "asset", 1);
    c->endpoint = charge_str(L, 3, "endpoint", 1);
    c->request_id = charge_str(L, 3, "request_id", 1);
    c->outcome = charge_str(L, 3, "outcome", 1);
    c->model = charge_str(L, 3, "model", 0);
    c->detail = charge_str(L, 3, "detail", 0);
    lua_getfield(L, 3, "ticks");
    if (!lua_isinteger(L, -1))
        luaL_error(L, "record_charge: charge.ticks must be an integer, got %s", luaL_typename(L, -1));
    c->ticks = lua_tointeger(L, -1);
    lua_getfield(L, 3, "update");
    c->update = lua_toboolean(L, -1);
    lua_getfield(L, 3, "estimated");
    c->estimated = lua_isnil(L, -1) ? (c->update ? -1 : 0) : lua_toboolean(L, -1);
    lua_pop(L, 3);
    if (!c->update && c->ticks < 0)
        luaL_error(L, "record_charge: charge.ticks must be >= 0");
}

static int record_charge_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    gs_store_charge c;
    char err[GS_STORE_ERRLEN];
    read_charge(L, &c);
    if (gs_store_record_charge(db, lua_tointeger(L, 2), &c, err, sizeof err))
        return raise_msg(L, db, db->depth, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* store.record_charge(conn, run_id, charge) -> true: one billed request into
 * the run's ledger (charge as ctx:charges() and provider:charges() give it,
 * plus step and asset); an update settles the row under request_id. */
int l_record_charge(lua_State *L)
{
    check_open(L, 1);
    luaL_checkinteger(L, 2);
    lua_settop(L, 3);
    gs_store_charge c;
    read_charge(L, &c); /* validate before any SQL */
    return guarded(L, record_charge_body);
}
